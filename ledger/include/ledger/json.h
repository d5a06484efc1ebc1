/*
 * Strict JSON input and RFC 8785 (JCS) canonical output, over jansson trees.
 */
#ifndef LEDGER_JSON_H
#define LEDGER_JSON_H

#include <stddef.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest integer magnitude a record may carry: 2^53 - 1 (I-JSON, RFC 7493). */
#define LEDGER_JSON_MAX_SAFE_INT 9007199254740991LL

typedef enum {
	/* Records: integers only, |n| <= 2^53-1; any fraction or exponent is refused. */
	LEDGER_JSON_INTEGERS = 0,
	/* Any JSON number, held as an IEEE 754 double (for `cymat canon`). */
	LEDGER_JSON_ANY_NUMBER = 1
} ledger_json_numbers;

typedef struct {
	unsigned int version;
	size_t max_size;    /* bytes of input */
	size_t max_depth;   /* nesting of arrays and objects */
	ledger_json_numbers numbers;
} ledger_json_limits;

#define LEDGER_JSON_LIMITS_VERSION 1
/* Defaults for record files: 1 MiB, depth 32, integers only. */
#define LEDGER_JSON_LIMITS_INIT { LEDGER_JSON_LIMITS_VERSION, 1u << 20, 32, LEDGER_JSON_INTEGERS }

/*
 * Parse `len` bytes of UTF-8 JSON into a new reference at *out.  Duplicate
 * member names, invalid UTF-8, lone surrogates, trailing data and anything
 * over the limits are refused with LEDGER_EINVALID and a message giving the
 * line, column and byte position.  `limits` may be NULL for the defaults.
 */
int ledger_json_parse(json_t **out, const char *buf, size_t len,
                      const ledger_json_limits *limits);

/* Read and parse a whole file; errors name the file. */
int ledger_json_parse_file(json_t **out, const char *path,
                           const ledger_json_limits *limits);

/*
 * RFC 8785 canonical serialisation of `value` (borrowed): members sorted by
 * UTF-16 code units, minimal string escapes, ECMAScript number formatting.
 * *out is a NUL-terminated malloc'd buffer the caller frees; *out_len (may be
 * NULL) is its length without the NUL (strings may contain U+0000, so use
 * the length).  Fails with LEDGER_EINVALID on NaN or infinity.
 */
int ledger_jcs(char **out, size_t *out_len, const json_t *value);

#ifdef __cplusplus
}
#endif

#endif
