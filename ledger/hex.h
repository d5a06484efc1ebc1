/* Private: lowercase hex digits by table, for the ids every record carries. */
#ifndef LEDGER_HEX_H
#define LEDGER_HEX_H

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

#endif
