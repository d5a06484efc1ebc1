/*
 * Schema validation: the official JSON-Schema-Test-Suite (draft 2020-12) for
 * every implemented keyword, the project's schemas against the example
 * records in tests/vectors/records/{valid,invalid}/, and error messages.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SUITE_DIR VECTORS_DIR "/json-schema-test-suite/draft2020-12"

/* Suite files run in full, except for the cases in `skips` below. */
static const char *const keywords[] = {
	"type", "properties", "required", "additionalProperties", "patternProperties",
	"enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
	"exclusiveMinimum", "exclusiveMaximum", "multipleOf", "items", "prefixItems",
	"minItems", "maxItems", "uniqueItems", "defs", "ref", "allOf", "oneOf", "anyOf",
	"not", "if-then-else", "minProperties", "maxProperties", "propertyNames",
	"boolean_schema",
};

/*
 * Cases not run, by file and group description (test NULL: the whole group),
 * each with the reason.  Every entry must match something, so that the list
 * cannot go stale silently.
 */
static const struct skip {
	const char *file, *group, *test, *reason;
} skips[] = {
	{ "pattern", "pattern with Unicode property escape requires unicode mode", NULL,
	  "\\p{...} has no POSIX ERE equivalent; such patterns are refused when loading" },
	{ "patternProperties", "patternProperties with Unicode property escape", NULL,
	  "\\p{...} has no POSIX ERE equivalent; such patterns are refused when loading" },
	{ "defs", "validate definition against metaschema", NULL,
	  "needs the remote 2020-12 metaschema; nothing is fetched" },
	{ "ref", "remote ref, containing refs itself", NULL,
	  "needs the remote 2020-12 metaschema; nothing is fetched" },
	{ "ref", "ref creates new scope when adjacent to keywords", NULL,
	  "needs unevaluatedProperties, which is not implemented" },
	{ "not", "collect annotations inside a 'not', even if collection is disabled", NULL,
	  "needs unevaluatedProperties, which is not implemented" },
};

static size_t nskips_used[sizeof(skips) / sizeof(skips[0])];

static const struct skip *find_skip(const char *file, const char *group, const char *test)
{
	size_t i;

	for (i = 0; i < sizeof(skips) / sizeof(skips[0]); i++) {
		if (strcmp(skips[i].file, file) || strcmp(skips[i].group, group))
			continue;
		if (skips[i].test && strcmp(skips[i].test, test))
			continue;
		nskips_used[i]++;
		return &skips[i];
	}
	return NULL;
}

START_TEST(test_suite_keyword)
{
	const char *kw = keywords[_i];
	char path[4096];
	json_error_t jerr;
	json_t *doc, *group, *tcase;
	size_t gi, ti, passed = 0, skipped = 0, failed = 0, i;

	snprintf(path, sizeof(path), "%s/%s.json", SUITE_DIR, kw);
	/* U+0000 occurs in some cases ("nul characters in strings") */
	doc = json_load_file(path, JSON_ALLOW_NUL, &jerr);
	ck_assert_msg(doc != NULL, "%s: %s", path, jerr.text);
	json_array_foreach(doc, gi, group) {
		const char *gdesc = json_string_value(json_object_get(group, "description"));
		const json_t *schema = json_object_get(group, "schema");

		json_array_foreach(json_object_get(group, "tests"), ti, tcase) {
			const char *tdesc = json_string_value(json_object_get(tcase, "description"));
			int want = json_is_true(json_object_get(tcase, "valid"));
			const ledger_error *le;
			int r;

			if (find_skip(kw, gdesc, tdesc)) {
				skipped++;
				continue;
			}
			ledger_error_clear();
			r = ledger_schema_validate_document(schema, json_object_get(tcase, "data"));
			le = ledger_error_last();
			if ((want && r == 0) || (!want && r == LEDGER_EINVALID)) {
				passed++;
				continue;
			}
			failed++;
			fprintf(stderr, "FAIL %s: \"%s\" / \"%s\": expected %s, got %d (%s)\n", kw,
			        gdesc, tdesc, want ? "valid" : "invalid", r,
			        le ? le->message : "no message");
		}
	}
	for (i = 0; i < sizeof(skips) / sizeof(skips[0]); i++)
		ck_assert_msg(strcmp(skips[i].file, kw) || nskips_used[i],
		              "skip entry \"%s\" matches no case", skips[i].group);
	printf("json-schema-test-suite %s: %zu passed, %zu skipped, %zu failed\n", kw, passed,
	       skipped, failed);
	json_decref(doc);
	ck_assert_uint_eq(failed, 0);
	ck_assert_uint_gt(passed + skipped, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The project's schemas and the example records */

static const char *const record_types[] = {
	"root", "principal", "revocation", "agency", "nomination", "appointment",
	"registration", "withdrawal", "training_application", "participation", "request",
	"consent", "dispatch", "activity", "report", "opinion", "closure", "share",
	"council_report", "receipt", "checkpoint",
};

#define NTYPES (sizeof(record_types) / sizeof(record_types[0]))

static ledger_schemas *load_project_schemas(void)
{
	ledger_schemas *s = NULL;
	int r = ledger_schemas_load(&s, SCHEMAS_DIR);

	ck_assert_msg(r == 0, "loading %s: %s", SCHEMAS_DIR,
	              ledger_error_last() ? ledger_error_last()->message : "?");
	return s;
}

START_TEST(test_schemas_present)
{
	ledger_schemas *s = load_project_schemas();
	json_t *empty;
	size_t i;

	for (i = 0; i < NTYPES; i++) {
		char id[256];

		snprintf(id, sizeof(id), "https://cymat-ledger.invalid/schemas/%s.schema.json",
		         record_types[i]);
		ck_assert_msg(ledger_schemas_has(s, record_types[i]), "no schema for \"%s\"",
		              record_types[i]);
		ck_assert_msg(ledger_schemas_has(s, id), "no schema with $id \"%s\"", id);
	}
	ck_assert(ledger_schemas_has(s, "common"));
	ck_assert(ledger_schemas_has(s, "record.schema.json"));
	ck_assert(ledger_schemas_has(s, "envelope"));
	ck_assert(!ledger_schemas_has(s, "no_such_type"));
	empty = json_object();
	ck_assert_int_eq(ledger_schemas_validate(s, "no_such_type", empty), LEDGER_ENOTFOUND);
	json_decref(empty);
	ledger_schemas_free(s);
}
END_TEST

/* The type an example file is for: the part of its name before the first "-". */
static int example_type(char *out, size_t n, const char *file)
{
	const char *dash = strchr(file, '-');
	size_t len = strlen(file);

	if (!dash || len < 5 || strcmp(file + len - 5, ".json") || (size_t)(dash - file) >= n)
		return -1;
	memcpy(out, file, (size_t)(dash - file));
	out[dash - file] = '\0';
	return 0;
}

static void check_examples(const char *kind, int want_valid, size_t *per_type)
{
	ledger_schemas *s = load_project_schemas();
	char dir[4096], path[8192], type[64];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/vectors/records/%s", TESTS_DIR, kind);
	d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((de = readdir(d))) {
		json_error_t jerr;
		json_t *rec;
		size_t i;
		int r;

		if (de->d_name[0] == '.')
			continue;
		ck_assert_msg(example_type(type, sizeof(type), de->d_name) == 0,
		              "%s: name is not <type>-<what>.json", de->d_name);
		for (i = 0; i < NTYPES && strcmp(record_types[i], type); i++)
			;
		ck_assert_msg(i < NTYPES, "%s: unknown type \"%s\"", de->d_name, type);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		rec = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		ck_assert_msg(rec != NULL, "%s: %s", path, jerr.text);
		r = ledger_schemas_validate(s, type, rec);
		if (want_valid)
			ck_assert_msg(r == 0, "%s/%s: should be valid: %s", kind, de->d_name,
			              ledger_error_last()->message);
		else
			ck_assert_msg(r == LEDGER_EINVALID, "%s/%s: should be invalid (got %d)", kind,
			              de->d_name, r);
		if (!want_valid)
			printf("%s/%s: %s\n", kind, de->d_name, ledger_error_last()->message);
		/* every record also passes or fails the generic record schema the same way */
		if (want_valid)
			ck_assert_msg(ledger_schemas_validate(s, "record", rec) == 0, "%s: %s",
			              de->d_name, ledger_error_last()->message);
		per_type[i]++;
		json_decref(rec);
	}
	closedir(d);
	ledger_schemas_free(s);
}

START_TEST(test_examples_valid)
{
	size_t per_type[NTYPES] = { 0 }, i;

	check_examples("valid", 1, per_type);
	for (i = 0; i < NTYPES; i++)
		ck_assert_msg(per_type[i] >= 1, "no valid example for \"%s\"", record_types[i]);
}
END_TEST

START_TEST(test_examples_invalid)
{
	size_t per_type[NTYPES] = { 0 }, i;

	check_examples("invalid", 0, per_type);
	for (i = 0; i < NTYPES; i++)
		ck_assert_msg(per_type[i] >= 2, "fewer than 2 invalid examples for \"%s\"",
		              record_types[i]);
}
END_TEST

/* A valid example record, wrapped as the envelope the record file holds. */
START_TEST(test_envelope)
{
	ledger_schemas *s = load_project_schemas();
	char path[4096];
	json_t *rec, *env;

	snprintf(path, sizeof(path), "%s/vectors/records/valid/request-normal.json", TESTS_DIR);
	rec = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(rec);
	env = json_pack("{s:O,s:s}", "record", rec,
	                "sig", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==");
	ck_assert_int_eq(ledger_schemas_validate(s, "envelope", env), 0);
	json_object_set_new(env, "sig", json_string("not base64!"));
	ck_assert_int_eq(ledger_schemas_validate(s, "envelope", env), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(ledger_error_last()->message, "/sig: pattern"));
	json_object_set_new(env, "sig",
	                    json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="));
	json_object_set_new(env, "extra", json_true());
	ck_assert_int_eq(ledger_schemas_validate(s, "envelope", env), LEDGER_EINVALID);
	json_decref(env);
	json_decref(rec);
	ledger_schemas_free(s);
}
END_TEST

START_TEST(test_load_from_environment)
{
	ledger_schemas *s = NULL;

	ck_assert_int_eq(setenv("CYMAT_SCHEMAS_DIR", SCHEMAS_DIR, 1), 0);
	ck_assert_int_eq(ledger_schemas_load(&s, NULL), 0);
	ck_assert(ledger_schemas_has(s, "dispatch"));
	ledger_schemas_free(s);
	ck_assert_int_eq(setenv("CYMAT_SCHEMAS_DIR", "/nonexistent/cymat-schemas", 1), 0);
	ck_assert_int_eq(ledger_schemas_load(&s, NULL), LEDGER_ENOTFOUND);
	ck_assert_ptr_null(s);
	unsetenv("CYMAT_SCHEMAS_DIR");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The validator itself: messages, limits, patterns */

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	ck_assert_msg(v != NULL, "bad test JSON: %s: %s", text, jerr.text);
	return v;
}

/* Validate and return the message ("" when valid). */
static const char *check(const char *schema, const char *instance)
{
	static char msg[1024];
	json_t *s = parse(schema), *i = parse(instance);
	int r = ledger_schema_validate_document(s, i);

	json_decref(s);
	json_decref(i);
	if (r == 0)
		return "";
	ck_assert_int_eq(r, LEDGER_EINVALID);
	snprintf(msg, sizeof(msg), "%s", ledger_error_last()->message);
	return msg;
}

START_TEST(test_messages)
{
	const char *roles = "{\"properties\":{\"body\":{\"properties\":{\"roles\":"
	                    "{\"items\":{\"enum\":[\"a\",\"b\"]}}}}}}";

	ck_assert_str_eq(check(roles, "{\"body\":{\"roles\":[\"a\",\"c\"]}}"),
	                 "/body/roles/1: enum: value not allowed");
	ck_assert_str_eq(check(roles, "{\"body\":{\"roles\":[\"a\",\"b\"]}}"), "");
	ck_assert_str_eq(check("{\"required\":[\"v\"]}", "{}"),
	                 "(root): required: missing member \"v\"");
	ck_assert_str_eq(check("{\"additionalProperties\":false}", "{\"a/b~\":1}"),
	                 "/a~1b~0: additionalProperties: member not allowed");
	ck_assert_str_eq(check("{\"type\":\"string\"}", "1"), "(root): type: expected string, got integer");
	ck_assert_str_eq(check("{\"const\":\"root\"}", "\"rot\""), "(root): const: expected \"root\"");
	ck_assert_str_eq(check("{\"uniqueItems\":true}", "[1,2,1.0]"),
	                 "(root): uniqueItems: items 0 and 2 are equal");
	/* anyOf reports the branch that got furthest into the value */
	ck_assert_str_eq(check("{\"anyOf\":[{\"type\":\"string\"},"
	                       "{\"properties\":{\"a\":{\"maximum\":3}}}]}", "{\"a\":4}"),
	                 "/a: maximum: value is greater than 3");
	ck_assert_str_eq(check("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "1"),
	                 "(root): oneOf: value matches alternatives 0 and 1");
}
END_TEST

START_TEST(test_code_points)
{
	/* lengths count code points, not bytes; "." matches a whole code point */
	ck_assert_str_eq(check("{\"maxLength\":2}", "\"\xe6\x97\xa5\xe6\x9c\xac\""), "");
	ck_assert_str_ne(check("{\"maxLength\":1}", "\"\xe6\x97\xa5\xe6\x9c\xac\""), "");
	/* longer strings are counted eight bytes at a time: 2 + 3 + 4-byte sequences, then ASCII */
	ck_assert_str_eq(check("{\"minLength\":12,\"maxLength\":12}",
	                       "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\xc3\xa9\xe6\x97\xa5"
	                       "\xf0\x9f\x98\x80" "abcdef\""), "");
	ck_assert_str_eq(check("{\"maxLength\":11}",
	                       "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\xc3\xa9\xe6\x97\xa5"
	                       "\xf0\x9f\x98\x80" "abcdef\""),
	                 "(root): maxLength: 12 characters, at most 11 allowed");
	ck_assert_str_eq(check("{\"minLength\":13}",
	                       "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\xc3\xa9\xe6\x97\xa5"
	                       "\xf0\x9f\x98\x80" "abcdef\""),
	                 "(root): minLength: 12 characters, at least 13 required");
	ck_assert_str_eq(check("{\"pattern\":\"^.{2}$\"}", "\"\xe6\x97\xa5\xe6\x9c\xac\""), "");
	ck_assert_str_eq(check("{\"pattern\":\"^[\\\\u3042\\\\u30a2]+$\"}",
	                       "\"\xe3\x81\x82\xe3\x82\xa2\""), "");
	ck_assert_str_ne(check("{\"pattern\":\"^[\\\\u3042\\\\u30a2]+$\"}", "\"a\""), "");
	/* glibc cannot do ranges of multibyte characters: refused, not mismatched */
	ck_assert_ptr_nonnull(strstr(check("{\"pattern\":\"^[\\\\u3040-\\\\u30ff]+$\"}", "\"a\""),
	                             "non-ASCII"));
}
END_TEST

START_TEST(test_pattern_translation)
{
	ck_assert_str_eq(check("{\"pattern\":\"^\\\\d{2}\\\\.\\\\w+$\"}", "\"12.a_b\""), "");
	ck_assert_str_ne(check("{\"pattern\":\"^\\\\d{2}\\\\.\\\\w+$\"}", "\"12xab\""), "");
	ck_assert_str_eq(check("{\"pattern\":\"^[a-z0-9._-]+$\"}", "\"a.b-c_d\""), "");
	ck_assert_str_ne(check("{\"pattern\":\"^[a-z0-9._-]+$\"}", "\"a/b\""), "");
	ck_assert_str_eq(check("{\"pattern\":\"^[\\\\]\\\\-^]$\"}", "\"]\""), "");
	ck_assert_str_eq(check("{\"pattern\":\"^[\\\\]\\\\-^]$\"}", "\"^\""), "");
	ck_assert_str_ne(check("{\"pattern\":\"^[\\\\]\\\\-^]$\"}", "\"a\""), "");
	ck_assert_str_eq(check("{\"pattern\":\"^(?:ab)+?$\"}", "\"abab\""), "");
	ck_assert_str_eq(check("{\"pattern\":\"^a{1,2}}$\"}", "\"aa}\""), "");
	ck_assert_str_eq(check("{\"pattern\":\"^[\\\\s\\\\d]+$\"}", "\" 1\\t2\""), "");
	/* escaped metacharacters and a backslash are literals */
	ck_assert_str_eq(check("{\"pattern\":\"^a\\\\\\\\b\\\\.\\\\*$\"}", "\"a\\\\b.*\""), "");
	ck_assert_str_ne(check("{\"pattern\":\"^a\\\\\\\\b\\\\.\\\\*$\"}", "\"a\\\\bx*\""), "");
	/* what POSIX ERE cannot express is refused when the schema loads */
	ck_assert_ptr_nonnull(strstr(check("{\"pattern\":\"(?=a)\"}", "\"a\""), "lookaround"));
	ck_assert_ptr_nonnull(strstr(check("{\"pattern\":\"(a)\\\\1\"}", "\"aa\""), "unsupported"));
	ck_assert_ptr_nonnull(strstr(check("{\"pattern\":\"\\\\bx\"}", "\"x\""), "unsupported"));
}
END_TEST

START_TEST(test_limits)
{
	/* a $ref loop that never advances into the value stops at the depth guard */
	ck_assert_ptr_nonnull(strstr(check("{\"$ref\":\"#\"}", "1"), "nested too deeply"));
	ck_assert_ptr_nonnull(strstr(check("{\"$ref\":\"#/$defs/missing\"}", "1"),
	                             "cannot be resolved"));
	/* a failing "not" of a fatal error must not turn into success */
	ck_assert_ptr_nonnull(strstr(check("{\"not\":{\"$ref\":\"#\"}}", "1"), "nested too deeply"));
	ck_assert_str_ne(check("{\"minLength\":\"x\"}", "\"a\""), "");
}
END_TEST

START_TEST(test_cross_document_refs)
{
	char *dir = testutil_tmpdir(), path[4096];
	ledger_schemas *s = NULL;
	json_t *v;
	FILE *f;

	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/a.schema.json", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("{\"$id\":\"https://x.invalid/s/a.schema.json\","
	      "\"properties\":{\"t\":{\"$ref\":\"b.schema.json#/$defs/time\"}}}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/b.schema.json", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("{\"$id\":\"https://x.invalid/s/b.schema.json\","
	      "\"$defs\":{\"time\":{\"type\":\"string\",\"pattern\":\"^\\\\d{4}$\"}}}", f);
	fclose(f);
	ck_assert_int_eq(ledger_schemas_load(&s, dir), 0);
	v = parse("{\"t\":\"2026\"}");
	ck_assert_int_eq(ledger_schemas_validate(s, "a", v), 0);
	ck_assert_int_eq(ledger_schemas_validate(s, "https://x.invalid/s/a.schema.json", v), 0);
	json_decref(v);
	v = parse("{\"t\":\"26\"}");
	ck_assert_int_eq(ledger_schemas_validate(s, "a.schema.json", v), LEDGER_EINVALID);
	ck_assert_str_eq(ledger_error_last()->message, "/t: pattern: does not match \"^\\d{4}$\"");
	json_decref(v);
	ledger_schemas_free(s);

	/* a dangling cross-file reference is found when loading */
	snprintf(path, sizeof(path), "%s/b.schema.json", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(ledger_schemas_load(&s, dir), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(ledger_error_last()->message, "cannot be resolved"));
	snprintf(path, sizeof(path), "%s/a.schema.json", dir);
	unlink(path);
	rmdir(dir);
	free(dir);
}
END_TEST

/*
 * The patterns of the project's schemas have hand-written matchers
 * (ledger/schema.c), chosen by the exact pattern text.  The same pattern
 * wrapped in a group, "(?:P)", means the same but has no hand-written
 * matcher, so it goes through the POSIX translation and regexec: both must
 * give the same answer on every string, here on strings near the pattern's
 * edges (mutated valid examples) and on random ones.
 */
static const struct fast_case {
	const char *pattern, *example;
} fast_cases[] = {
	{ "^[a-z][a-z0-9._-]{0,63}$", "a.b_c-d9" },
	{ "^[a-z0-9][a-z0-9_.-]{0,63}$", "9a.b_c-d" },
	{ "^[a-z][a-z0-9-]{1,31}$", "mof-2" },
	{ "^[a-z][a-z0-9-]{1,31}/[a-z][a-z0-9._-]{0,63}$", "mof/csirt.a_b-1" },
	{ "^[a-z][a-z_]{0,31}$", "council_report" },
	{ "^[0-9a-f]{64}$", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
	{ "^([0-9a-f]{40}|[0-9a-f]{64})$", "0123456789abcdef0123456789abcdef01234567" },
	{ "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$", "QUJD+/9z" },
	{ "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
	{ "^[A-Za-z0-9+/]{85}[AQgw]==$",
	  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==" },
	{ "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$",
	  "2026-12-31T23:59:59Z" },
};

/* Bytes the strings are made of: every class the patterns use, their edges, and non-ASCII. */
static const char *const fast_pieces[] = {
	"a", "f", "g", "z", "A", "Q", "Z", "0", "1", "2", "3", "4", "5", "9", "+", "/", "=",
	".", "_", "-", ":", "T", "Z", "`", "{", "@", "[", " ", "\xc3\xa9", "\xe6\x97\xa5",
};

#define NPIECES (sizeof(fast_pieces) / sizeof(fast_pieces[0]))

static uint64_t fast_rng = 0x853c49e6748fea9bULL;

static unsigned int fast_rand(unsigned int n)
{
	fast_rng ^= fast_rng >> 12;
	fast_rng ^= fast_rng << 25;
	fast_rng ^= fast_rng >> 27;
	return (unsigned int)((fast_rng * 2685821657736338717ULL) >> 33) % n;
}

/* A valid example with a few random edits (replace, insert, delete, duplicate a run). */
static void mutate(char *out, size_t cap, const char *example)
{
	size_t len = strlen(example);
	unsigned int edits = 1 + fast_rand(3);
	size_t want;

	memcpy(out, example, len + 1);
	while (edits--) {
		const char *piece = fast_pieces[fast_rand(NPIECES)];
		size_t plen = strlen(piece), at = len ? fast_rand((unsigned int)len + 1) : 0;

		switch (fast_rand(5)) {
		case 0: /* replace one byte's worth, keeping UTF-8 whole */
			if (at < len && ((unsigned char)out[at] & 0x80) == 0 && len - 1 + plen < cap) {
				memmove(out + at + plen, out + at + 1, len - at);
				memcpy(out + at, piece, plen);
				len += plen - 1;
			}
			break;
		case 1: /* insert, between characters */
			if (len + plen < cap && ((unsigned char)out[at] & 0xc0) != 0x80) {
				memmove(out + at + plen, out + at, len - at + 1);
				memcpy(out + at, piece, plen);
				len += plen;
			}
			break;
		case 2: /* delete an ASCII byte */
			if (at < len && ((unsigned char)out[at] & 0x80) == 0) {
				memmove(out + at, out + at + 1, len - at);
				len--;
			}
			break;
		case 3: /* stretch or cut to a random length, to cross length limits */
			want = fast_rand(100);
			if (want < len) {
				while (want && ((unsigned char)out[want] & 0xc0) == 0x80)
					want--;
				out[len = want] = '\0';
			} else if (len && ((unsigned char)out[len - 1] & 0x80) == 0 && want < cap) {
				memset(out + len, out[len - 1], want - len);
				out[len = want] = '\0';
			}
			break;
		default: /* repeat the tail */
			if (2 * len < cap && at < len && ((unsigned char)out[at] & 0xc0) != 0x80) {
				memmove(out + len, out + at, len - at);
				len += len - at;
				out[len] = '\0';
			}
			break;
		}
	}
}

static void random_string(char *out, size_t cap, size_t maxlen)
{
	size_t len = 0, want = fast_rand((unsigned int)maxlen + 1);

	while (len < want) {
		const char *piece = fast_pieces[fast_rand(NPIECES)];
		size_t plen = strlen(piece);

		if (len + plen >= cap)
			break;
		memcpy(out + len, piece, plen);
		len += plen;
	}
	out[len] = '\0';
}

static int matches(const ledger_schemas *s, const char *name, const char *str)
{
	json_t *inst = json_string(str);
	int r;

	ck_assert_ptr_nonnull(inst);
	r = ledger_schemas_validate(s, name, inst);
	json_decref(inst);
	return r == 0;
}

START_TEST(test_fast_patterns_agree)
{
	const struct fast_case *fc = &fast_cases[_i];
	char *dir = testutil_tmpdir(), path[4096], wrapped[256], str[512];
	ledger_schemas *s = NULL;
	size_t accepted = 0, refused = 0;
	json_t *doc;

	ck_assert_ptr_nonnull(dir);
	snprintf(wrapped, sizeof(wrapped), "(?:%s)", fc->pattern);
	snprintf(path, sizeof(path), "%s/fast.schema.json", dir);
	ck_assert_ptr_nonnull(doc = json_pack("{s:s}", "pattern", fc->pattern));
	ck_assert_int_eq(json_dump_file(doc, path, 0), 0);
	json_decref(doc);
	snprintf(path, sizeof(path), "%s/slow.schema.json", dir);
	ck_assert_ptr_nonnull(doc = json_pack("{s:s}", "pattern", wrapped));
	ck_assert_int_eq(json_dump_file(doc, path, 0), 0);
	json_decref(doc);
	ck_assert_int_eq(ledger_schemas_load(&s, dir), 0);

	ck_assert_msg(matches(s, "fast", fc->example) && matches(s, "slow", fc->example),
	              "example \"%s\" does not match %s", fc->example, fc->pattern);
	ck_assert_int_eq(matches(s, "fast", ""), matches(s, "slow", ""));
	for (int k = 0; k < 20000; k++) {
		int a, b;

		if (k % 3 == 2)
			random_string(str, sizeof(str), k % 2 ? 12 : 100);
		else
			mutate(str, sizeof(str), fc->example);
		a = matches(s, "fast", str);
		b = matches(s, "slow", str);
		ck_assert_msg(a == b, "pattern %s, string \"%s\": hand-written matcher says %d, "
		              "regexec says %d", fc->pattern, str, a, b);
		if (a)
			accepted++;
		else
			refused++;
	}
	/* Both answers occur, so the strings do probe the edges. */
	ck_assert_uint_gt(accepted, 0);
	ck_assert_uint_gt(refused, 0);
	ledger_schemas_free(s);
	snprintf(path, sizeof(path), "%s/fast.schema.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/slow.schema.json", dir);
	unlink(path);
	rmdir(dir);
	free(dir);
}
END_TEST

/* Every pattern above is one the project's schemas use, so the list cannot go stale. */
START_TEST(test_fast_patterns_in_schemas)
{
	DIR *d = opendir(SCHEMAS_DIR);
	struct dirent *de;
	char *all = NULL;
	size_t total = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name), len;
		char path[1024], *text;

		if (n < 12 || strcmp(de->d_name + n - 12, ".schema.json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", SCHEMAS_DIR, de->d_name);
		text = testutil_slurp(path, &len);
		ck_assert_ptr_nonnull(text);
		all = realloc(all, total + len + 1);
		ck_assert_ptr_nonnull(all);
		memcpy(all + total, text, len);
		total += len;
		all[total] = '\0';
		free(text);
	}
	closedir(d);
	ck_assert_ptr_nonnull(all);
	for (size_t i = 0; i < sizeof(fast_cases) / sizeof(fast_cases[0]); i++) {
		json_t *p = json_string(fast_cases[i].pattern);
		char *quoted = json_dumps(p, JSON_ENCODE_ANY);

		ck_assert_msg(strstr(all, quoted) != NULL, "pattern %s is in no schema", quoted);
		free(quoted);
		json_decref(p);
	}
	free(all);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("schema");
	TCase *tc;
	int vectors = testutil_vectors_present("json-schema-test-suite");
	int r;

	tc = tcase_create("validator");
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_code_points);
	tcase_add_test(tc, test_pattern_translation);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_cross_document_refs);
	tcase_add_loop_test(tc, test_fast_patterns_agree, 0,
	                    (int)(sizeof(fast_cases) / sizeof(fast_cases[0])));
	tcase_add_test(tc, test_fast_patterns_in_schemas);
	suite_add_tcase(s, tc);

	tc = tcase_create("project_schemas");
	tcase_add_test(tc, test_schemas_present);
	tcase_add_test(tc, test_examples_valid);
	tcase_add_test(tc, test_examples_invalid);
	tcase_add_test(tc, test_envelope);
	tcase_add_test(tc, test_load_from_environment);
	suite_add_tcase(s, tc);

	if (vectors) {
		tc = tcase_create("json_schema_test_suite");
		tcase_add_loop_test(tc, test_suite_keyword, 0,
		                    (int)(sizeof(keywords) / sizeof(keywords[0])));
		suite_add_tcase(s, tc);
	}
	r = testutil_run(s);
	/* The rest ran; without the official suite the result is a skip, not a pass. */
	if (r == EXIT_SUCCESS && !vectors)
		TESTUTIL_REQUIRE_VECTORS("json-schema-test-suite");
	return r;
}
