/* Private: lowercase hex digits by table, for the ids every record carries. */
#ifndef LEDGER_HEX_H
#define LEDGER_HEX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Each lowercase hex digit's value plus one; 0 for every other byte (NUL too). */
static const unsigned char hex_digit_table[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
	['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
	['e'] = 15, ['f'] = 16,
};

/* The value of lowercase hex digit c plus one, or 0 when c is not one. */
static inline unsigned int hex_digit(char c)
{
	return hex_digit_table[(unsigned char)c];
}

/*
 * Are the n bytes at s all lowercase hex digits?  Eight at a time: a byte
 * below 0x80 is a digit when adding 0x50 sets its bit 7 and adding 0x46
 * does not (0x30-0x39), or likewise with 0x1f and 0x19 (0x61-0x66); no sum
 * carries into the next byte.  Reads exactly n bytes.
 */
static inline int hex_lower_run(const char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	size_t i = 0;
	uint64_t w, digit, af;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, sizeof(w));
		digit = (w + 0x50 * ones) & ~(w + 0x46 * ones);
		af = (w + 0x1f * ones) & ~(w + 0x19 * ones);
		if ((w & high) || ((digit | af) & high) != high)
			return 0;
	}
	for (; i < n; i++)
		if (!hex_digit(s[i]))
			return 0;
	return 1;
}

#endif
