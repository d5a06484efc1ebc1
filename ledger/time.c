/* Record times: "YYYY-MM-DDTHH:MM:SSZ", UTC, no leap seconds, no offsets. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ledger/error.h"
#include "ledger/record.h"

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int ledger_time_parse(int64_t *out, const char *text)
{
	int y, mo, d, h, mi, s;

	if (!text || strlen(text) != 20 || text[4] != '-' || text[7] != '-' ||
	    text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z' ||
	    digits(text, 4, &y) || digits(text + 5, 2, &mo) || digits(text + 8, 2, &d) ||
	    digits(text + 11, 2, &h) || digits(text + 14, 2, &mi) || digits(text + 17, 2, &s))
		return ledger_error_set(LEDGER_EINVALID,
		                        "time \"%s\" is not of the form YYYY-MM-DDTHH:MM:SSZ",
		                        text ? text : "");
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || s > 59)
		return ledger_error_set(LEDGER_EINVALID, "time \"%s\" is not a valid UTC date and time",
		                        text);
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	return 0;
}

void ledger_time_format(char out[21], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
