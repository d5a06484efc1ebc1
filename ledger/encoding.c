/*
 * Text encodings of binary values: standard base64 (RFC 4648 section 4) and
 * lowercase hex.  Decoders accept exactly one spelling of each value, so
 * that a signed document cannot be re-encoded into a second valid form.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "hex.h"

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Each ASCII character's value in the alphabet, -1 when it is not in it: one load, no branches. */
static const signed char base64_values[128] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
};

static int base64_value(unsigned char c)
{
	return c < 128 ? base64_values[c] : -1;
}

int ledger_base64_encode(char **out, const uint8_t *data, size_t len)
{
	size_t groups = len / 3 + (len % 3 != 0);
	size_t i, o = 0;
	char *text;

	*out = NULL;
	if (groups > (SIZE_MAX - 1) / 4)
		return ledger_error_set(LEDGER_ENOMEM, "base64: input too large");
	text = malloc(groups * 4 + 1);
	if (!text)
		return ledger_error_set(LEDGER_ENOMEM, "base64: out of memory");

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];

		text[o++] = base64_alphabet[v >> 18];
		text[o++] = base64_alphabet[(v >> 12) & 63];
		text[o++] = base64_alphabet[(v >> 6) & 63];
		text[o++] = base64_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)data[i] << 16;

		text[o++] = base64_alphabet[v >> 18];
		text[o++] = base64_alphabet[(v >> 12) & 63];
		text[o++] = '=';
		text[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;

		text[o++] = base64_alphabet[v >> 18];
		text[o++] = base64_alphabet[(v >> 12) & 63];
		text[o++] = base64_alphabet[(v >> 6) & 63];
		text[o++] = '=';
	}
	text[o] = '\0';
	*out = text;
	return 0;
}

int ledger_base64_decode(uint8_t **out, size_t *out_len, const char *text)
{
	size_t len = strlen(text);
	size_t i, o = 0;
	uint8_t *data = NULL;
	int r = LEDGER_EINVALID;

	*out = NULL;
	*out_len = 0;
	if (len % 4 != 0) {
		ledger_error_set(LEDGER_EINVALID,
		                 "base64: length %zu is not a multiple of 4", len);
		goto done;
	}
	/* One spare byte so that an empty input still gets a non-NULL buffer. */
	data = malloc(len / 4 * 3 + 1);
	if (!data) {
		r = ledger_error_set(LEDGER_ENOMEM, "base64: out of memory");
		goto done;
	}

	for (i = 0; i < len; i += 4) {
		const unsigned char *q = (const unsigned char *)text + i;
		int last = i + 4 == len;
		int pad = 0, k, v[4];
		uint32_t bits;

		/* Padding may only end the final quantum: "xx==" or "xxx=". */
		if (last && q[3] == '=')
			pad = q[2] == '=' ? 2 : 1;
		for (k = 0; k < 4 - pad; k++) {
			v[k] = base64_value(q[k]);
			if (v[k] < 0) {
				ledger_error_set(LEDGER_EINVALID,
				                 "base64: invalid character at offset %zu",
				                 i + (size_t)k);
				goto done;
			}
		}
		for (; k < 4; k++)
			v[k] = 0;
		bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		       (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* The bits below the last whole byte must be zero (RFC 4648 3.5). */
		if ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff))) {
			ledger_error_set(LEDGER_EINVALID,
			                 "base64: non-zero trailing bits at offset %zu", i);
			goto done;
		}
		data[o++] = (uint8_t)(bits >> 16);
		if (pad < 2)
			data[o++] = (uint8_t)(bits >> 8);
		if (pad < 1)
			data[o++] = (uint8_t)bits;
	}

	*out = data;
	data = NULL; /* transferred */
	*out_len = o;
	r = 0;
done:
	free(data);
	return r;
}

void ledger_hex(char *out, const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Why hex is not 2*len lowercase digits, at its first fault. */
static int unhex_error(size_t len, const char *hex)
{
	size_t i;

	for (i = 0; i < 2 * len; i++) {
		if (hex[i] == '\0')
			return ledger_error_set(LEDGER_EINVALID,
			                        "hex: \"%s\" is shorter than %zu digits",
			                        hex, 2 * len);
		if (!hex_digit(hex[i]))
			return ledger_error_set(LEDGER_EINVALID,
			                        "hex: invalid digit at offset %zu (lowercase hex expected)",
			                        i);
	}
	return ledger_error_set(LEDGER_EINVALID, "hex: longer than %zu digits", 2 * len);
}

int ledger_unhex(uint8_t *out, size_t len, const char *hex)
{
	size_t i;

	/* Every digit is checked before out is written: NUL, like any non-digit, stops the scan. */
	for (i = 0; i < 2 * len; i++)
		if (!hex_digit(hex[i]))
			return unhex_error(len, hex);
	if (hex[2 * len] != '\0')
		return unhex_error(len, hex);
	for (i = 0; i < len; i++)
		out[i] = (uint8_t)((hex_digit(hex[2 * i]) - 1) << 4 | (hex_digit(hex[2 * i + 1]) - 1));
	return 0;
}
