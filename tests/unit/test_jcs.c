/* RFC 8785 canonical output: the upstream vectors, ECMAScript numbers, strings, sorting, round trips. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "testutil.h"

/* Canonical form of v, with its length; fails the test on error. */
static char *jcs_ok(const json_t *v, size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	int r = ledger_jcs(&out, &n, v);

	ck_assert_msg(r == 0, "ledger_jcs: %s", r ? ledger_error_last()->message : "");
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(out[n], '\0');
	if (len)
		*len = n;
	return out;
}

/* Canonical form of a value, compared with an expected NUL-free string; steals v. */
static void assert_jcs(json_t *v, const char *want)
{
	char *got;

	ck_assert_ptr_nonnull(v);
	got = jcs_ok(v, NULL);
	ck_assert_msg(strcmp(got, want) == 0, "got %s, want %s", got, want);
	free(got);
	json_decref(v);
}

static double from_bits(uint64_t bits)
{
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

/*
 * Expected strings from ECMAScript String(x) (node 20, generated once by
 * hand), bit patterns from RFC 8785 appendix B and boundaries of the layout.
 */
static const struct {
	uint64_t bits;
	const char *es;
} es_numbers[] = {
	{ 0x0000000000000000ULL, "0" },
	{ 0x8000000000000000ULL, "0" },
	{ 0x0000000000000001ULL, "5e-324" },
	{ 0x8000000000000001ULL, "-5e-324" },
	{ 0x7fefffffffffffffULL, "1.7976931348623157e+308" },
	{ 0xffefffffffffffffULL, "-1.7976931348623157e+308" },
	{ 0x4340000000000000ULL, "9007199254740992" },
	{ 0xc340000000000000ULL, "-9007199254740992" },
	{ 0x4430000000000000ULL, "295147905179352830000" },
	{ 0x44b52d02c7e14af5ULL, "9.999999999999997e+22" },
	{ 0x44b52d02c7e14af6ULL, "1e+23" },
	{ 0x44b52d02c7e14af7ULL, "1.0000000000000001e+23" },
	{ 0x444b1ae4d6e2ef4eULL, "999999999999999700000" },
	{ 0x444b1ae4d6e2ef4fULL, "999999999999999900000" },
	{ 0x444b1ae4d6e2ef50ULL, "1e+21" },
	{ 0x3eb0c6f7a0b5ed8cULL, "9.999999999999997e-7" },
	{ 0x3eb0c6f7a0b5ed8dULL, "0.000001" },
	{ 0x41b3de4355555553ULL, "333333333.3333332" },
	{ 0x41b3de4355555554ULL, "333333333.33333325" },
	{ 0x41b3de4355555555ULL, "333333333.3333333" },
	{ 0x41b3de4355555556ULL, "333333333.3333334" },
	{ 0x41b3de4355555557ULL, "333333333.33333343" },
	{ 0xbecbf647612f3696ULL, "-0.0000033333333333333333" },
	{ 0x43143ff3c1cb0959ULL, "1424953923781206.2" },
	{ 0x000fffffffffffffULL, "2.225073858507201e-308" },
	{ 0x0010000000000000ULL, "2.2250738585072014e-308" },
	{ 0x4340000000000001ULL, "9007199254740994" },
	{ 0x4340000000000002ULL, "9007199254740996" },
	{ 0x3d719799812dea11ULL, "1e-12" },
	{ 0x3da5fd7fe1796495ULL, "1e-11" },
	{ 0x3ddb7cdfd9d7bdbbULL, "1e-10" },
	{ 0x3e112e0be826d695ULL, "1e-9" },
	{ 0x3e45798ee2308c3aULL, "1e-8" },
	{ 0x3e7ad7f29abcaf48ULL, "1e-7" },
	{ 0x3ee4f8b588e368f1ULL, "0.00001" },
	{ 0x3f1a36e2eb1c432dULL, "0.0001" },
	{ 0x3f50624dd2f1a9fcULL, "0.001" },
	{ 0x3f847ae147ae147bULL, "0.01" },
	{ 0x3fb999999999999aULL, "0.1" },
	{ 0x3ff0000000000000ULL, "1" },
	{ 0x4024000000000000ULL, "10" },
	{ 0x4059000000000000ULL, "100" },
	{ 0x408f400000000000ULL, "1000" },
	{ 0x40c3880000000000ULL, "10000" },
	{ 0x40f86a0000000000ULL, "100000" },
	{ 0x412e848000000000ULL, "1000000" },
	{ 0x416312d000000000ULL, "10000000" },
	{ 0x4197d78400000000ULL, "100000000" },
	{ 0x41cdcd6500000000ULL, "1000000000" },
	{ 0x4202a05f20000000ULL, "10000000000" },
	{ 0x42374876e8000000ULL, "100000000000" },
	{ 0x426d1a94a2000000ULL, "1000000000000" },
	{ 0x42a2309ce5400000ULL, "10000000000000" },
	{ 0x42d6bcc41e900000ULL, "100000000000000" },
	{ 0x430c6bf526340000ULL, "1000000000000000" },
	{ 0x4341c37937e08000ULL, "10000000000000000" },
	{ 0x4376345785d8a000ULL, "100000000000000000" },
	{ 0x43abc16d674ec800ULL, "1000000000000000000" },
	{ 0x43e158e460913d00ULL, "10000000000000000000" },
	{ 0x4415af1d78b58c40ULL, "100000000000000000000" },
	{ 0x4480f0cf064dd592ULL, "1e+22" },
	{ 0x44ea784379d99db4ULL, "1e+24" },
	{ 0x45208b2a2c280291ULL, "1e+25" },
	{ 0x3fd3333333333334ULL, "0.30000000000000004" },
	{ 0x441ac53a7e04bcdaULL, "123456789012345680000" },
	{ 0x3fe0000000000000ULL, "0.5" },
	{ 0xbff8000000000000ULL, "-1.5" },
	{ 0x4012000000000000ULL, "4.5" },
	{ 0x3f60624dd2f1a9fcULL, "0.002" },
	{ 0x3a53ce9a36f23c10ULL, "1e-27" },
	{ 0x46293e5939a08ceaULL, "1e+30" },
	{ 0x43e0000000000000ULL, "9223372036854776000" },
	{ 0xc3e0000000000000ULL, "-9223372036854776000" },
	{ 0x43f0000000000000ULL, "18446744073709552000" },
	{ 0x3fd5555555555555ULL, "0.3333333333333333" },
	{ 0x3fe5555555555555ULL, "0.6666666666666666" },
	{ 0x400921fb54442d18ULL, "3.141592653589793" },
	{ 0xc005bf0a8b145769ULL, "-2.718281828459045" },
	{ 0x405edd2f1a9fbe77ULL, "123.456" },
	{ 0x3eb4b3fd5942cd96ULL, "0.000001234" },
	{ 0x3e80c6f7a0b5ed8dULL, "1.25e-7" },
	{ 0x4484ea15b273b38aULL, "1.2345678901234568e+22" },
	{ 0x404c000000000000ULL, "56" },
};

START_TEST(test_es_numbers)
{
	size_t i;

	for (i = 0; i < sizeof(es_numbers) / sizeof(es_numbers[0]); i++)
		assert_jcs(json_real(from_bits(es_numbers[i].bits)), es_numbers[i].es);
}
END_TEST

START_TEST(test_integers)
{
	assert_jcs(json_integer(0), "0");
	assert_jcs(json_integer(-1), "-1");
	assert_jcs(json_integer(LEDGER_JSON_MAX_SAFE_INT), "9007199254740991");
	assert_jcs(json_integer(-LEDGER_JSON_MAX_SAFE_INT), "-9007199254740991");
	assert_jcs(json_integer(LEDGER_JSON_MAX_SAFE_INT + 1), "9007199254740992");
	/* Past 2^53 a JSON number means the nearest double (ties to even). */
	assert_jcs(json_integer(LEDGER_JSON_MAX_SAFE_INT + 2), "9007199254740992");
	assert_jcs(json_integer(LEDGER_JSON_MAX_SAFE_INT + 3), "9007199254740994");
	assert_jcs(json_integer(INT64_MAX), "9223372036854776000");
	assert_jcs(json_integer(INT64_MIN), "-9223372036854776000");
	/* An integer and the equal double have one canonical form. */
	assert_jcs(json_real(56.0), "56");
	assert_jcs(json_real(-0.0), "0");
}
END_TEST

START_TEST(test_not_a_value)
{
	char *out = (char *)"x";
	size_t len = 7;

	/* jansson will not hold NaN or infinity; the absence of a value is refused. */
	ck_assert_ptr_null(json_real(NAN));
	ck_assert_ptr_null(json_real(INFINITY));
	ck_assert_int_eq(ledger_jcs(&out, &len, NULL), LEDGER_EINVALID);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_strings)
{
	char raw[128], *got;
	size_t i, len;
	json_t *v;

	assert_jcs(json_string("plain / text </script>"), "\"plain / text </script>\"");
	assert_jcs(json_string("q\"b\\"), "\"q\\\"b\\\\\"");
	assert_jcs(json_string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x82\x7f"),
	           "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x82\x7f\"");

	/* Every byte below 0x80, U+0000 included. */
	for (i = 0; i < 128; i++)
		raw[i] = (char)i;
	v = json_stringn(raw, sizeof(raw));
	ck_assert_ptr_nonnull(v);
	got = jcs_ok(v, &len);
	{
		static const char want[] =
			"\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
			"\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
			"\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
			"\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"
			" !\\\"#$%&'()*+,-./0123456789:;<=>?"
			"@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_"
			"`abcdefghijklmnopqrstuvwxyz{|}~\x7f\"";

		ck_assert_uint_eq(len, sizeof(want) - 1);
		ck_assert_int_eq(memcmp(got, want, len), 0);
	}
	free(got);
	json_decref(v);

	/* U+0000 inside a value: the length, not strlen, is what counts. */
	v = json_pack("{s:s%}", "k", "a\0b", (size_t)3);
	ck_assert_ptr_nonnull(v);
	got = jcs_ok(v, &len);
	ck_assert_uint_eq(len, 16);
	ck_assert_int_eq(memcmp(got, "{\"k\":\"a\\u0000b\"}", 16), 0);
	free(got);
	json_decref(v);
}
END_TEST

START_TEST(test_invalid_utf8)
{
	static const char *bad[] = {
		"\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\xe2\x82", "\x80", "\xf0\x9f\x98",
	};
	char *out;
	size_t i;
	json_t *v;

	/* jansson checks UTF-8 only in json_string(); a built tree can skip that. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = json_string_nocheck(bad[i]);
		out = (char *)"x";
		ck_assert_int_eq(ledger_jcs(&out, NULL, v), LEDGER_EINVALID);
		ck_assert_ptr_null(out);
		ck_assert_ptr_nonnull(strstr(ledger_error_last()->message, "invalid UTF-8"));
		json_decref(v);

		v = json_object();
		json_object_set_new_nocheck(v, bad[i], json_true());
		ck_assert_int_eq(ledger_jcs(&out, NULL, v), LEDGER_EINVALID);
		json_decref(v);
	}
}
END_TEST

/* --- member order ---------------------------------------------------------- */

/* UTF-8 to UTF-16 code units (input is valid); returns the count. */
static size_t to_utf16(uint16_t *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n = 0;

	while (i < len) {
		uint32_t cp;

		if (p[i] < 0x80) {
			cp = p[i];
			i += 1;
		} else if (p[i] < 0xe0) {
			cp = (uint32_t)(p[i] & 0x1f) << 6 | (p[i + 1] & 0x3f);
			i += 2;
		} else if (p[i] < 0xf0) {
			cp = (uint32_t)(p[i] & 0x0f) << 12 | (uint32_t)(p[i + 1] & 0x3f) << 6 |
			     (p[i + 2] & 0x3f);
			i += 3;
		} else {
			cp = (uint32_t)(p[i] & 0x07) << 18 | (uint32_t)(p[i + 1] & 0x3f) << 12 |
			     (uint32_t)(p[i + 2] & 0x3f) << 6 | (p[i + 3] & 0x3f);
			i += 4;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			out[n++] = (uint16_t)(0xd800 + (cp >> 10));
			out[n++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
		} else {
			out[n++] = (uint16_t)cp;
		}
	}
	return n;
}

/* The order RFC 8785 3.2.3 asks for, computed the plain way. */
static int utf16_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	uint16_t ua[256], ub[256];
	size_t na, nb, i;

	ck_assert_uint_le(alen, 256);
	ck_assert_uint_le(blen, 256);
	na = to_utf16(ua, a, alen);
	nb = to_utf16(ub, b, blen);
	for (i = 0; i < na && i < nb; i++) {
		if (ua[i] != ub[i])
			return ua[i] < ub[i] ? -1 : 1;
	}
	return na < nb ? -1 : na > nb;
}

START_TEST(test_sort_order)
{
	json_t *v = json_object();

	/* Inserted out of order; astral characters sort by their high surrogate. */
	json_object_set_new(v, "\xef\xbf\xbf", json_integer(9));         /* U+FFFF */
	json_object_set_new(v, "\xf0\x9f\x98\x82", json_integer(6));     /* U+1F602 */
	json_object_set_new(v, "aa", json_integer(3));
	json_object_set_new(v, "\xee\x80\x80", json_integer(7));         /* U+E000 */
	json_object_set_new(v, "\xc2\x80", json_integer(4));             /* U+0080 */
	json_object_set_new(v, "", json_integer(1));
	json_object_set_new(v, "\xf4\x8f\xbf\xbf", json_integer(8));     /* U+10FFFF */
	json_object_set_new(v, "a", json_integer(2));
	json_object_set_new(v, "\xe2\x82\xac", json_integer(5));         /* U+20AC */
	json_object_set_new(v, "\xef\xac\xb3", json_integer(8));         /* U+FB33 */
	json_object_set_new(v, "\xf0\x9f\x98\x81", json_integer(6));     /* U+1F601 */
	assert_jcs(v, "{\"\":1,\"a\":2,\"aa\":3,\"\xc2\x80\":4,\"\xe2\x82\xac\":5,"
	              "\"\xf0\x9f\x98\x81\":6,\"\xf0\x9f\x98\x82\":6,\"\xf4\x8f\xbf\xbf\":8,"
	              "\"\xee\x80\x80\":7,\"\xef\xac\xb3\":8,\"\xef\xbf\xbf\":9}");

	/* Large objects take the heap path. */
	v = json_object();
	for (int i = 99; i >= 0; i--) {
		char key[8];

		snprintf(key, sizeof(key), "k%02d", i);
		json_object_set_new(v, key, json_integer(i));
	}
	{
		char *got = jcs_ok(v, NULL);

		ck_assert_int_eq(strncmp(got, "{\"k00\":0,\"k01\":1,", 17), 0);
		ck_assert_ptr_nonnull(strstr(got, ",\"k98\":98,\"k99\":99}"));
		free(got);
	}
	json_decref(v);
}
END_TEST

/* --- generated trees ------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	/* xorshift64*: a fixed seed makes every run the same. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A short random string of ASCII, controls, and 2-, 3- and 4-byte characters. */
static size_t random_string(char *out, int allow_nul)
{
	size_t len = 0, n = rng() % 8, i;

	for (i = 0; i < n; i++) {
		uint32_t cp;

		switch (rng() % 6) {
		case 0: cp = (uint32_t)(rng() % 0x20); break;
		case 1: cp = 0x80 + (uint32_t)(rng() % 0x780); break;
		case 2: cp = 0x800 + (uint32_t)(rng() % 0xf800); break;
		case 3: cp = 0x10000 + (uint32_t)(rng() % 0x100000); break;
		default: cp = 0x20 + (uint32_t)(rng() % 0x60); break;
		}
		if (cp >= 0xd800 && cp <= 0xdfff)
			cp = 0xe000 + (cp & 0xfff);
		if (cp == 0 && !allow_nul)
			cp = 'z';
		len += put_utf8(out + len, cp);
	}
	return len;
}

static double random_double(void)
{
	double d;

	switch (rng() % 4) {
	case 0:
		/* Any finite bit pattern. */
		do
			d = from_bits(rng());
		while (!isfinite(d));
		return d;
	case 1:
		/* Short decimals, which have short forms. */
		return (double)(int64_t)(rng() % 2000001 - 1000000) / pow(10, (double)(rng() % 12));
	case 2:
		/* Around the layout boundaries 1e-7..1e-6 and 1e20..1e22. */
		return (1.0 + (double)(rng() % 1000) / 1000.0) * pow(10, rng() % 2 ? -7.0 : 20.0 + (double)(rng() % 2));
	default:
		return ldexp((double)(rng() % 1000), (int)(rng() % 200) - 100);
	}
}

static json_t *random_tree(int depth)
{
	char buf[64];
	size_t len, i, n;
	json_t *v;

	switch (depth > 4 ? rng() % 6 : rng() % 8) {
	case 0: return json_null();
	case 1: return json_boolean(rng() % 2);
	case 2: return json_integer((json_int_t)(rng() % (2 * (uint64_t)LEDGER_JSON_MAX_SAFE_INT + 1)) -
	                            LEDGER_JSON_MAX_SAFE_INT);
	case 3: return json_real(random_double());
	case 4: return json_integer((json_int_t)(rng() % 2000) - 1000);
	case 5:
		len = random_string(buf, 1);
		return json_stringn(buf, len);
	case 6:
		v = json_array();
		n = rng() % 5;
		for (i = 0; i < n; i++)
			json_array_append_new(v, random_tree(depth + 1));
		return v;
	default:
		v = json_object();
		n = rng() % 6;
		for (i = 0; i < n; i++) {
			len = random_string(buf, 0);
			buf[len] = '\0';
			json_object_set_new(v, buf, random_tree(depth + 1));
		}
		return v;
	}
}

static json_t *parse_any(const char *text, size_t len)
{
	ledger_json_limits any = LEDGER_JSON_LIMITS_INIT;
	json_t *v = NULL;
	int r;

	any.numbers = LEDGER_JSON_ANY_NUMBER;
	any.max_depth = 64;
	r = ledger_json_parse(&v, text, len, &any);
	ck_assert_msg(r == 0, "parse: %s: %.200s", r ? ledger_error_last()->message : "", text);
	return v;
}

/* Members of every object appear in UTF-16 order. */
static void assert_sorted(const json_t *v)
{
	const char *key, *prev = NULL;
	size_t key_len, prev_len = 0, i;
	json_t *m;

	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++)
			assert_sorted(json_array_get(v, i));
	} else if (json_is_object(v)) {
		json_object_keylen_foreach((json_t *)v, key, key_len, m) {
			if (prev)
				ck_assert_msg(utf16_cmp(prev, prev_len, key, key_len) < 0,
				              "\"%s\" before \"%s\"", prev, key);
			prev = key;
			prev_len = key_len;
			assert_sorted(m);
		}
	}
}

START_TEST(test_round_trip)
{
	int i;

	for (i = 0; i < 3000; i++) {
		json_t *tree = random_tree(0), *back;
		char *once, *twice;
		size_t once_len, twice_len;

		once = jcs_ok(tree, &once_len);
		/* jansson keeps members in insertion order, so the parse shows our order. */
		back = parse_any(once, once_len);
		assert_sorted(back);
		twice = jcs_ok(back, &twice_len);
		ck_assert_msg(once_len == twice_len && memcmp(once, twice, once_len) == 0,
		              "%s\n!=\n%s", once, twice);
		free(once);
		free(twice);
		json_decref(back);
		json_decref(tree);
	}
}
END_TEST

START_TEST(test_deep_tree)
{
	json_t *root = json_array(), *cur = root;
	char *out = NULL;
	int i;

	/* Only a built tree (or a cycle) nests this deep; refuse, do not overflow the stack. */
	for (i = 0; i < 5000; i++) {
		json_t *next = json_array();

		json_array_append_new(cur, next);
		cur = next;
	}
	ck_assert_int_eq(ledger_jcs(&out, NULL, root), LEDGER_EINVALID);
	ck_assert_ptr_null(out);
	json_decref(root);
}
END_TEST

/* --- node as an independent RFC 8785 implementation ------------------------ */

/* JSON.stringify formats numbers and strings as RFC 8785 says; keys sort() by UTF-16 units. */
static const char node_canon[] =
	"const lines = require('fs').readFileSync(process.argv[2], 'utf8').split('\\n');\n"
	"function c(v) {\n"
	"  if (v === null || typeof v !== 'object') return JSON.stringify(v);\n"
	"  if (Array.isArray(v)) return '[' + v.map(c).join(',') + ']';\n"
	"  return '{' + Object.keys(v).sort().map(k => JSON.stringify(k) + ':' + c(v[k])).join(',') + '}';\n"
	"}\n"
	"const out = [];\n"
	"for (const l of lines) if (l.length) out.push(c(JSON.parse(l)));\n"
	"process.stdout.write(out.join('\\n') + '\\n');\n";

START_TEST(test_against_node)
{
	char *dir, *script, *input, *output, *cmd, *line = NULL, *want;
	size_t cap = 0, count = 0, i;
	FILE *f;
	ssize_t n;
	enum { DOCS = 4000 };
	char **docs = calloc(DOCS, sizeof(*docs));

	if (system("node --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "node not found: cross-check against node skipped\n");
		free(docs);
		return;
	}
	ck_assert_ptr_nonnull(docs);
	dir = testutil_tmpdir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ge(asprintf(&script, "%s/canon.js", dir), 0);
	ck_assert_int_ge(asprintf(&input, "%s/in.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&output, "%s/out.jsonl", dir), 0);
	f = fopen(script, "w");
	ck_assert_ptr_nonnull(f);
	fputs(node_canon, f);
	ck_assert_int_eq(fclose(f), 0);

	/* Non-canonical input: jansson's own output, members unsorted, \u escapes. */
	f = fopen(input, "w");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < DOCS; i++) {
		json_t *tree = json_array();
		char num[40];

		json_array_append_new(tree, random_tree(0));
		docs[i] = json_dumps(tree, JSON_ENSURE_ASCII | JSON_COMPACT);
		ck_assert_ptr_nonnull(docs[i]);
		json_decref(tree);
		/* And numbers in plain "%.17g" text, read the same way by both. */
		snprintf(num, sizeof(num), "%.17g", random_double());
		fprintf(f, "%s\n[%s]\n", docs[i], num);
		free(docs[i]);
		ck_assert_int_ge(asprintf(&docs[i], "[%s]", num), 0);
	}
	ck_assert_int_eq(fclose(f), 0);

	ck_assert_int_ge(asprintf(&cmd, "node '%s' '%s' > '%s'", script, input, output), 0);
	ck_assert_int_eq(system(cmd), 0);

	/* Compare line by line: ours from parsing the same input text. */
	{
		FILE *in = fopen(input, "r"), *out = fopen(output, "r");
		char *inl = NULL;
		size_t incap = 0;

		ck_assert_ptr_nonnull(in);
		ck_assert_ptr_nonnull(out);
		while ((n = getline(&inl, &incap, in)) > 0) {
			json_t *v;
			size_t got_len;
			char *got;

			inl[--n] = '\0';
			ck_assert_int_gt(getline(&line, &cap, out), 0);
			want = line;
			want[strcspn(want, "\n")] = '\0';
			v = parse_any(inl, (size_t)n);
			got = jcs_ok(v, &got_len);
			ck_assert_msg(strlen(want) == got_len && memcmp(got, want, got_len) == 0,
			              "input %s\nnode  %s\nours  %s", inl, want, got);
			free(got);
			json_decref(v);
			count++;
		}
		fclose(in);
		fclose(out);
		free(inl);
	}
	ck_assert_uint_eq(count, 2 * DOCS);

	unlink(script);
	unlink(input);
	unlink(output);
	rmdir(dir);
	for (i = 0; i < DOCS; i++)
		free(docs[i]);
	free(docs);
	free(line);
	free(cmd);
	free(script);
	free(input);
	free(output);
	free(dir);
}
END_TEST

/* --- upstream vectors -------------------------------------------------------- */

START_TEST(test_upstream_vectors)
{
	ledger_json_limits any = LEDGER_JSON_LIMITS_INIT;
	DIR *d = opendir(VECTORS_DIR "/jcs/input");
	struct dirent *de;
	int count = 0;

	any.numbers = LEDGER_JSON_ANY_NUMBER;
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		char in_path[4096], out_path[4096], *want, *got, *again;
		size_t want_len, got_len, again_len;
		json_t *v = NULL, *back;

		if (de->d_name[0] == '.')
			continue;
		snprintf(in_path, sizeof(in_path), "%s/jcs/input/%s", VECTORS_DIR, de->d_name);
		snprintf(out_path, sizeof(out_path), "%s/jcs/output/%s", VECTORS_DIR, de->d_name);
		ck_assert_msg(ledger_json_parse_file(&v, in_path, &any) == 0, "%s: %s", in_path,
		              ledger_error_last()->message);
		want = testutil_slurp(out_path, &want_len);
		ck_assert_msg(want != NULL, "%s: %s", out_path, strerror(errno));
		got = jcs_ok(v, &got_len);
		ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0,
		              "%s:\ngot  %s\nwant %s", de->d_name, got, want);
		/* JCS(parse(JCS(x))) == JCS(x) */
		back = parse_any(got, got_len);
		again = jcs_ok(back, &again_len);
		ck_assert(again_len == got_len && memcmp(again, got, got_len) == 0);
		free(again);
		json_decref(back);
		free(got);
		free(want);
		json_decref(v);
		count++;
	}
	closedir(d);
	ck_assert_int_ge(count, 6);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jcs");
	TCase *tc = tcase_create("jcs");

	tcase_add_test(tc, test_es_numbers);
	tcase_add_test(tc, test_integers);
	tcase_add_test(tc, test_not_a_value);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_sort_order);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_deep_tree);
	tcase_add_test(tc, test_against_node);
	tcase_add_test(tc, test_upstream_vectors);
	suite_add_tcase(s, tc);
	TESTUTIL_REQUIRE_VECTORS("jcs");
	return testutil_run(s);
}
