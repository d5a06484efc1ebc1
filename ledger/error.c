/* The per-thread last error (after libgit2's git_error_last). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ledger/error.h"

#define LEDGER_ERROR_MAX 1024

static _Thread_local char error_text[LEDGER_ERROR_MAX];
static _Thread_local ledger_error error_last;
static _Thread_local int error_is_set;

const ledger_error *ledger_error_last(void)
{
	return error_is_set ? &error_last : NULL;
}

int ledger_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error_text, sizeof(error_text), fmt, ap);
	va_end(ap);
	error_last.code = code;
	error_last.message = error_text;
	error_is_set = 1;
	return code;
}

int ledger_error_prefix(const char *fmt, ...)
{
	char old[LEDGER_ERROR_MAX];
	size_t used;
	va_list ap;

	if (!error_is_set)
		return LEDGER_ERROR;
	memcpy(old, error_text, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(error_text, sizeof(error_text), fmt, ap);
	va_end(ap);
	used = strlen(error_text);
	/* Truncation of an over-long message is acceptable; it stays NUL-terminated. */
	if (used + 2 < sizeof(error_text)) {
		size_t room = sizeof(error_text) - used - 3, n = strlen(old);

		memcpy(error_text + used, ": ", 2);
		used += 2;
		if (n > room)
			n = room;
		memcpy(error_text + used, old, n);
		error_text[used + n] = '\0';
	}
	return error_last.code;
}

void ledger_error_clear(void)
{
	error_is_set = 0;
	error_text[0] = '\0';
}

char *ledger_escape_controls(char *out, size_t size, const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t n = 0;

	if (!size)
		return out;
	for (; *p; p++) {
		int c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;

		if (*p < 0x20 || *p == 0x7f || c1) {
			if (n + (c1 ? 8 : 4) >= size)
				break;
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", *p);
			if (c1)
				n += (size_t)snprintf(out + n, size - n, "\\x%02x", *++p);
			continue;
		}
		if (n + 1 >= size)
			break;
		out[n++] = (char)*p;
	}
	out[n] = '\0';
	return out;
}
