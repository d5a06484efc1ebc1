/* Private: the length of one UTF-8 sequence, as strict as jansson's decoder. */
#ifndef LEDGER_UTF8_H
#define LEDGER_UTF8_H

#include <stddef.h>

/*
 * Length of the valid multi-byte UTF-8 sequence at s (n bytes left, s[0] >=
 * 0x80), or 0 if invalid: overlong forms, UTF-16 surrogates and code points
 * past U+10FFFF are invalid.
 */
static inline size_t utf8_sequence_len(const unsigned char *s, size_t n)
{
	unsigned int cp;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

#endif
