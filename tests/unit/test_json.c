/* Strict JSON input: tests/vectors/json/{valid,invalid} plus limits, numbers and positions. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#define JSON_VECTORS TESTS_DIR "/vectors/json"

static const char *last_message(void)
{
	const ledger_error *e = ledger_error_last();

	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(e->message);
	return e->message;
}

/* Parse a string with the given limits; returns the code, frees the value. */
static int parse_str(const char *text, const ledger_json_limits *limits)
{
	json_t *v = NULL;
	int r;

	ledger_error_clear();
	r = ledger_json_parse(&v, text, strlen(text), limits);
	if (r == 0)
		ck_assert_ptr_nonnull(v);
	else
		ck_assert_ptr_null(v);
	json_decref(v);
	return r;
}

static void assert_refused(const char *text, const ledger_json_limits *limits, const char *needle)
{
	int r = parse_str(text, limits);

	ck_assert_msg(r == LEDGER_EINVALID, "accepted (r=%d): %s", r, text);
	ck_assert_msg(strstr(last_message(), needle), "message \"%s\" lacks \"%s\" for %s",
	              last_message(), needle, text);
}

static void assert_accepted(const char *text, const ledger_json_limits *limits)
{
	int r = parse_str(text, limits);

	ck_assert_msg(r == 0, "refused: %s: %s", text, r ? last_message() : "");
}

/* --- data-driven vectors ------------------------------------------------ */

START_TEST(test_vectors_valid)
{
	DIR *d = opendir(JSON_VECTORS "/valid");
	struct dirent *de;
	int count = 0;

	ck_assert_msg(d != NULL, "%s/valid: %s", JSON_VECTORS, strerror(errno));
	while ((de = readdir(d))) {
		char path[4096], jcs_path[4096];
		char *want, *got = NULL;
		size_t want_len, got_len;
		json_t *v = NULL;
		int r;

		if (!testutil_has_suffix(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/valid/%s", JSON_VECTORS, de->d_name);
		r = ledger_json_parse_file(&v, path, NULL);
		ck_assert_msg(r == 0, "%s: %s", path, r ? last_message() : "");
		/* A sibling .jcs holds the expected canonical form. */
		snprintf(jcs_path, sizeof(jcs_path), "%.*s.jcs",
		         (int)(strlen(path) - strlen(".json")), path);
		if ((want = testutil_slurp(jcs_path, &want_len))) {
			ck_assert_int_eq(ledger_jcs(&got, &got_len, v), 0);
			ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0,
			              "%s: got %s", jcs_path, got);
			free(got);
			free(want);
		}
		json_decref(v);
		count++;
	}
	closedir(d);
	ck_assert_int_ge(count, 10);
}
END_TEST

START_TEST(test_vectors_invalid)
{
	DIR *d = opendir(JSON_VECTORS "/invalid");
	struct dirent *de;
	int count = 0;

	ck_assert_msg(d != NULL, "%s/invalid: %s", JSON_VECTORS, strerror(errno));
	while ((de = readdir(d))) {
		char path[4096], err_path[4096], prefix[4200];
		json_t *v = NULL;
		char *want;
		size_t want_len;
		int r;

		if (!testutil_has_suffix(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/invalid/%s", JSON_VECTORS, de->d_name);
		ledger_error_clear();
		r = ledger_json_parse_file(&v, path, NULL);
		ck_assert_msg(r == LEDGER_EINVALID, "%s: accepted (r=%d)", path, r);
		ck_assert_ptr_null(v);
		/* Errors name the file and the place. */
		snprintf(prefix, sizeof(prefix), "file \"%s\": line ", path);
		ck_assert_msg(strncmp(last_message(), prefix, strlen(prefix)) == 0,
		              "%s: message \"%s\"", path, last_message());
		ck_assert_msg(strstr(last_message(), ", column ") && strstr(last_message(), ", byte "),
		              "%s: no position in \"%s\"", path, last_message());
		snprintf(err_path, sizeof(err_path), "%.*s.err",
		         (int)(strlen(path) - strlen(".json")), path);
		if ((want = testutil_slurp(err_path, &want_len))) {
			while (want_len && want[want_len - 1] == '\n')
				want[--want_len] = '\0';
			ck_assert_msg(strstr(last_message(), want), "%s: message \"%s\" lacks \"%s\"",
			              path, last_message(), want);
			free(want);
		}
		count++;
	}
	closedir(d);
	ck_assert_int_ge(count, 20);
}
END_TEST

/* --- numbers ------------------------------------------------------------ */

START_TEST(test_integer_mode)
{
	json_t *v = NULL;

	assert_accepted("[0, -0, 1, -1, 9007199254740991, -9007199254740991]", NULL);
	assert_accepted("{\"n\": 1000000000000000}", NULL);
	assert_refused("[9007199254740992]", NULL, "out of range (|n| > 2^53-1)");
	assert_refused("[-9007199254740992]", NULL, "out of range (|n| > 2^53-1)");
	assert_refused("[10000000000000000]", NULL, "out of range (|n| > 2^53-1)");
	/* Past int64: jansson's own overflow, reworded. */
	assert_refused("[99999999999999999999]", NULL, "out of range (|n| > 2^53-1)");
	assert_refused("[-99999999999999999999]", NULL, "out of range (|n| > 2^53-1)");
	/* jansson reads these as reals; records refuse them. */
	assert_refused("[1.0]", NULL, "number \"1.0\": only integers are allowed");
	assert_refused("[1e2]", NULL, "number \"1e2\": only integers are allowed");
	assert_refused("[1E+2]", NULL, "only integers are allowed");
	assert_refused("[-0.0]", NULL, "only integers are allowed");
	assert_refused("{\"a\": 0.5}", NULL, "only integers are allowed");
	assert_refused("[1e400]", NULL, "real number overflow");

	/* A string that looks like a number is a string. */
	assert_accepted("[\"1.5\", \"99999999999999999999\"]", NULL);

	ck_assert_int_eq(ledger_json_parse(&v, "9007199254740991", 16, NULL), 0);
	ck_assert(json_is_integer(v));
	ck_assert_int_eq(json_integer_value(v), LEDGER_JSON_MAX_SAFE_INT);
	json_decref(v);
}
END_TEST

START_TEST(test_any_number_mode)
{
	ledger_json_limits any = LEDGER_JSON_LIMITS_INIT;
	json_t *v = NULL;

	any.numbers = LEDGER_JSON_ANY_NUMBER;
	ck_assert_int_eq(ledger_json_parse(&v, "[1, 1.5, 1e2, 99999999999999999999, -0]", 39, &any), 0);
	ck_assert_uint_eq(json_array_size(v), 5);
	/* Every number is a double. */
	ck_assert(json_is_real(json_array_get(v, 0)));
	ck_assert(json_real_value(json_array_get(v, 0)) == 1.0);
	ck_assert(json_real_value(json_array_get(v, 1)) == 1.5);
	ck_assert(json_real_value(json_array_get(v, 2)) == 100.0);
	ck_assert(json_real_value(json_array_get(v, 3)) == 1e20);
	ck_assert(json_is_real(json_array_get(v, 4)));
	json_decref(v);
	assert_accepted("[9007199254740993]", &any);
	/* Not representable as a double. */
	assert_refused("[1e400]", &any, "real number overflow");
	assert_refused("[-1e400]", &any, "overflow");
}
END_TEST

/* --- limits -------------------------------------------------------------- */

static char *nested(size_t depth, char open, char close)
{
	char *s = malloc(2 * depth + 1);
	size_t i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < depth; i++) {
		s[i] = open;
		s[2 * depth - 1 - i] = close;
	}
	s[2 * depth] = '\0';
	return s;
}

START_TEST(test_depth)
{
	ledger_json_limits three = LEDGER_JSON_LIMITS_INIT;
	char *s;

	three.max_depth = 3;
	assert_accepted("[[[1]]]", &three);
	assert_accepted("{\"a\": {\"b\": [1, 2, 3]}, \"c\": [[1], {\"d\": 2}]}", &three);
	assert_refused("[[[[1]]]]", &three, "line 1, column 4, byte 4: nesting deeper than 3");
	assert_refused("{\"a\": {\"b\": [{\"c\": 3}]}}", &three, "nesting deeper than 3");
	/* Brackets inside strings, escaped quotes included, are not nesting. */
	assert_accepted("[\"[[[[{{{{\", \"\\\"[[[[\", {\"[[[[\": \"]]]]\"}]", &three);

	/* The default for records is 32. */
	s = nested(32, '[', ']');
	assert_accepted(s, NULL);
	free(s);
	s = nested(33, '[', ']');
	assert_refused(s, NULL, "nesting deeper than 32");
	free(s);
	/* Far deeper than jansson's own limit. */
	s = nested(100000, '[', ']');
	assert_refused(s, NULL, "depth");
	free(s);
}
END_TEST

START_TEST(test_size)
{
	ledger_json_limits small = LEDGER_JSON_LIMITS_INIT;

	small.max_size = 10;
	assert_accepted("[12345678]", &small);
	assert_refused("[123456789]", &small, "11 bytes exceeds the limit of 10 bytes");
	/* The size is checked first, even for broken input. */
	assert_refused("{{{{{{{{{{{{", &small, "exceeds the limit");
}
END_TEST

START_TEST(test_limits_version)
{
	ledger_json_limits bad = LEDGER_JSON_LIMITS_INIT;
	json_t *v = NULL;

	bad.version = 99;
	ck_assert_int_eq(ledger_json_parse(&v, "{}", 2, &bad), LEDGER_EINVALID);
	ck_assert_ptr_null(v);
	ck_assert_ptr_nonnull(strstr(last_message(), "version 99"));
}
END_TEST

/* --- positions ----------------------------------------------------------- */

START_TEST(test_positions)
{
	/* jansson's errors: where it stopped reading. */
	assert_refused("[1,\n  2,]", NULL, "line 2, column 5, byte 9: unexpected token near ']'");
	assert_refused("{\"a\": 1,\n\"a\": 2}", NULL, "line 2, column 3, byte 12: duplicate object key");
	/* Our errors: where the token starts; columns count characters. */
	assert_refused("{\n  \"a\": 1.5}", NULL, "line 2, column 8, byte 10: number \"1.5\": only integers");
	assert_refused("[\"\xc3\xa9\xc3\xa9\xc3\xa9\", 1.5]", NULL, "line 1, column 9, byte 12:");
	assert_refused("[\"\\n\\u00e9\", 2e1]", NULL, "line 1, column 14, byte 14:");
	assert_refused("[1,\r\n 2,\r\n 9007199254740992]", NULL, "line 3, column 2, byte 12:");
}
END_TEST

/* --- strings --------------------------------------------------------------- */

START_TEST(test_strings)
{
	json_t *v = NULL;

	/* \u0000 is allowed in values and kept with its length. */
	ck_assert_int_eq(ledger_json_parse(&v, "\"a\\u0000b\"", 10, NULL), 0);
	ck_assert_uint_eq(json_string_length(v), 3);
	ck_assert_int_eq(memcmp(json_string_value(v), "a\0b", 3), 0);
	json_decref(v);

	/* A surrogate pair is one astral character. */
	ck_assert_int_eq(ledger_json_parse(&v, "\"\\ud83d\\ude02\"", 14, NULL), 0);
	ck_assert_str_eq(json_string_value(v), "\xf0\x9f\x98\x82");
	json_decref(v);

	/* Raw NUL bytes are refused wherever they are. */
	ck_assert_int_eq(ledger_json_parse(&v, "\"a\0b\"", 5, NULL), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_json_parse(&v, "{}\0", 3, NULL), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_json_parse(&v, "\0{}", 3, NULL), LEDGER_EINVALID);
	ck_assert_ptr_null(v);

	assert_refused("\"\\ud800\"", NULL, "invalid Unicode");
	assert_refused("\"\\udfff\"", NULL, "invalid Unicode");
	assert_refused("[\"\\ud83d\\u0041\"]", NULL, "invalid Unicode");
	assert_refused("{\"a\\u0000\": 1}", NULL, "NUL byte in object key");
	assert_refused("\"\xed\xa0\x80\"", NULL, "unable to decode byte 0xed");
	assert_refused("\xef\xbb\xbf{}", NULL, "invalid token");
}
END_TEST

START_TEST(test_top_level)
{
	/* RFC 8259 allows any value at the top. */
	assert_accepted("1", NULL);
	assert_accepted("\"x\"", NULL);
	assert_accepted(" null ", NULL);
	assert_refused("", NULL, "unexpected token near end of file");
	assert_refused("1 2", NULL, "end of file expected");

	/* A NULL buffer of length 0 is empty input, not a crash. */
	{
		json_t *v = NULL;

		ck_assert_int_eq(ledger_json_parse(&v, NULL, 0, NULL), LEDGER_EINVALID);
		ck_assert_ptr_null(v);
	}
}
END_TEST

/* --- files ----------------------------------------------------------------- */

static char *write_tmp(const char *dir, const char *name, const char *data, size_t len)
{
	char *path;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

START_TEST(test_parse_file)
{
	ledger_json_limits small = LEDGER_JSON_LIMITS_INIT;
	char *dir = testutil_tmpdir(), *ok, *big, *bad, *missing;
	size_t big_len = (1u << 20) + 1;
	char *blob = malloc(big_len);
	json_t *v = NULL;

	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(blob);
	ok = write_tmp(dir, "ok.json", "{\"a\": [1, 2]}", 13);
	ck_assert_int_eq(ledger_json_parse_file(&v, ok, NULL), 0);
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(v, "a"), 1)), 2);
	json_decref(v);
	v = NULL;

	/* One byte over the 1 MiB default; the content is not even looked at. */
	memset(blob, ' ', big_len);
	blob[0] = '1';
	big = write_tmp(dir, "big.json", blob, big_len);
	ck_assert_int_eq(ledger_json_parse_file(&v, big, NULL), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), big));
	ck_assert_ptr_nonnull(strstr(last_message(), "exceeds the limit of 1048576 bytes"));
	/* At the limit exactly it parses. */
	small.max_size = 13;
	ck_assert_int_eq(ledger_json_parse_file(&v, ok, &small), 0);
	json_decref(v);
	v = NULL;
	small.max_size = 12;
	ck_assert_int_eq(ledger_json_parse_file(&v, ok, &small), LEDGER_EINVALID);

	bad = write_tmp(dir, "bad.json", "{\"a\": 1,}", 9);
	ck_assert_int_eq(ledger_json_parse_file(&v, bad, NULL), LEDGER_EINVALID);
	ck_assert_ptr_null(v);
	ck_assert_ptr_nonnull(strstr(last_message(), "bad.json\": line 1, column 9"));

	ck_assert_int_ge(asprintf(&missing, "%s/missing.json", dir), 0);
	ck_assert_int_eq(ledger_json_parse_file(&v, missing, NULL), LEDGER_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(last_message(), missing));

	/* Not a regular file: the size is unknown up front, reading stops past the limit. */
	if (access("/dev/zero", R_OK) == 0) {
		ck_assert_int_eq(ledger_json_parse_file(&v, "/dev/zero", &small), LEDGER_EINVALID);
		ck_assert_ptr_nonnull(strstr(last_message(), "more than 12 bytes"));
	}

	unlink(ok);
	unlink(big);
	unlink(bad);
	rmdir(dir);
	free(ok);
	free(big);
	free(bad);
	free(missing);
	free(blob);
	free(dir);
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_vectors_valid);
	tcase_add_test(tc, test_vectors_invalid);
	tcase_add_test(tc, test_integer_mode);
	tcase_add_test(tc, test_any_number_mode);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_limits_version);
	tcase_add_test(tc, test_positions);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_top_level);
	tcase_add_test(tc, test_parse_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(json_suite());
}
