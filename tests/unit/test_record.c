/*
 * Records and record files (FORMAT.md sections 1 and 2): create, parse, the
 * id, the signature, paths and times.  tests/vectors/envelope holds record
 * files made by an independent generator (Python + stock openssl).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"

#define ENVELOPE_VECTORS TESTS_DIR "/vectors/envelope"

/* Three record ids: SHA-256 of "a", "b" and "c" (sorted: c, b, a). */
#define ID_A "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define ID_B "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define ID_C "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"

/* --- helpers ------------------------------------------------------------- */

static void spit(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static const char *last_message(void)
{
	const ledger_error *e = ledger_error_last();

	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(e->message);
	return e->message;
}

/* s with the first occurrence of `from` replaced by `to`, malloc'd; `from` must occur. */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	char *out;

	ck_assert_msg(at != NULL, "\"%s\" not in \"%s\"", from, s);
	ck_assert_int_ge(asprintf(&out, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from)), 0);
	return out;
}

static ledger_key *new_key(void)
{
	ledger_key *key = NULL;

	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	return key;
}

static void key_pub_kid(uint8_t pub[32], char kid[LEDGER_HEX_ID_LEN + 1], const ledger_key *key)
{
	ledger_key_public(pub, key);
	ledger_key_id(kid, pub);
}

/* A record of the given seq (prev: ID_A above 1), class c1, time fixed. */
static ledger_record *make_record(const ledger_key *key, int64_t seq)
{
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	ledger_record *rec = NULL;
	json_t *body = json_pack("{s:s}", "summary", "test");
	int r;

	f.type = "request";
	f.author = "nisc/alice";
	f.seq = seq;
	f.prev = seq > 1 ? ID_A : NULL;
	f.time = "2026-04-01T09:00:00Z";
	f.body = body;
	r = ledger_record_create(&rec, &f, key);
	ck_assert_msg(r == 0, "create: %s", r ? last_message() : "");
	json_decref(body);
	return rec;
}

/* The record file bytes of rec, malloc'd. */
static char *file_of(const ledger_record *rec, size_t *len)
{
	char *buf = NULL;

	ck_assert_int_eq(ledger_record_envelope(&buf, len, rec), 0);
	ck_assert_ptr_nonnull(buf);
	return buf;
}

/* Parse a NUL-terminated file text; returns the code, frees the record. */
static int parse_text(const char *text)
{
	ledger_record *rec = (ledger_record *)&rec; /* must be reset to NULL */
	int r;

	ledger_error_clear();
	r = ledger_record_parse(&rec, text, strlen(text));
	if (r == 0)
		ck_assert_ptr_nonnull(rec);
	else
		ck_assert_ptr_null(rec);
	ledger_record_free(rec);
	return r;
}

static void assert_parse_refused(const char *text, int code, const char *needle)
{
	int r = parse_text(text);

	ck_assert_msg(r == code, "r=%d, want %d for %s (%s)", r, code, text,
	              r ? last_message() : "accepted");
	ck_assert_msg(strstr(last_message(), needle), "message \"%s\" lacks \"%s\" for %s",
	              last_message(), needle, text);
}

/* JCS({"record": r, "sig": sig}), malloc'd. */
static char *envelope_text(json_t *r, const char *sig)
{
	json_t *e = json_pack("{s:O, s:s}", "record", r, "sig", sig);
	char *out = NULL;

	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(ledger_jcs(&out, NULL, e), 0);
	json_decref(e);
	return out;
}

static char *sig_base64(const ledger_record *rec)
{
	char *b64 = NULL;

	ck_assert_int_eq(ledger_base64_encode(&b64, rec->sig, sizeof(rec->sig)), 0);
	return b64;
}

/* Run a shell command, return its exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	ck_assert_int_ne(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/* --- data-driven vectors ------------------------------------------------ */

static void test_pub(uint8_t pub[32])
{
	char *line = testutil_slurp(ENVELOPE_VECTORS "/test.pub", NULL);

	ck_assert_ptr_nonnull(line);
	line[strcspn(line, "\n")] = '\0';
	ck_assert_int_eq(ledger_ed25519_parse_openssh(pub, line), 0);
	free(line);
}

START_TEST(test_vectors_valid)
{
	DIR *d = opendir(ENVELOPE_VECTORS "/valid");
	ledger_key *other = new_key();
	uint8_t pub[32], other_pub[32];
	char kid[LEDGER_HEX_ID_LEN + 1], other_kid[LEDGER_HEX_ID_LEN + 1];
	struct dirent *de;
	int count = 0;

	ck_assert_msg(d != NULL, "%s/valid: %s", ENVELOPE_VECTORS, strerror(errno));
	test_pub(pub);
	ledger_key_id(kid, pub);
	key_pub_kid(other_pub, other_kid, other);
	while ((de = readdir(d))) {
		char path[4096], id_path[4096], id[LEDGER_HEX_ID_LEN + 1], *buf, *want_id, *env = NULL,
		     *jcs = NULL;
		ledger_record *rec = NULL;
		size_t len, env_len, jcs_len;
		int r;

		if (!testutil_has_suffix(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/valid/%s", ENVELOPE_VECTORS, de->d_name);
		snprintf(id_path, sizeof(id_path), "%.*s.id", (int)(strlen(path) - 5), path);
		buf = testutil_slurp(path, &len);
		want_id = testutil_slurp(id_path, NULL);
		ck_assert_ptr_nonnull(buf);
		ck_assert_msg(want_id != NULL, "%s: no .id", path);
		want_id[strcspn(want_id, "\n")] = '\0';

		r = ledger_record_parse(&rec, buf, len);
		ck_assert_msg(r == 0, "%s: %s", path, r ? last_message() : "");
		/* The id the generator computed with its own JCS and SHA-256. */
		ck_assert_str_eq(rec->id, want_id);
		ledger_sha256_hex(id, rec->canonical, rec->canonical_len);
		ck_assert_str_eq(rec->id, id);
		ck_assert_int_eq(ledger_jcs(&jcs, &jcs_len, rec->record), 0);
		ck_assert_uint_eq(jcs_len, rec->canonical_len);
		ck_assert_mem_eq(jcs, rec->canonical, jcs_len);
		ck_assert_int_eq(ledger_record_envelope(&env, &env_len, rec), 0);
		ck_assert_uint_eq(env_len, len);
		ck_assert_mem_eq(env, buf, len);
		ck_assert_str_eq(rec->kid, kid);
		ck_assert_msg(ledger_record_verify_signature(rec, pub) == 0, "%s: %s", path,
		              last_message());
		ck_assert_int_eq(ledger_record_verify_signature(rec, other_pub), LEDGER_ECRYPTO);
		rec->sig[10] ^= 0x01;
		ck_assert_int_eq(ledger_record_verify_signature(rec, pub), LEDGER_ECRYPTO);

		ledger_record_free(rec);
		free(buf);
		free(want_id);
		free(env);
		free(jcs);
		count++;
	}
	closedir(d);
	ledger_key_free(other);
	ck_assert_int_ge(count, 5);
}
END_TEST

START_TEST(test_vectors_invalid)
{
	DIR *d = opendir(ENVELOPE_VECTORS "/invalid");
	struct dirent *de;
	int count = 0;

	ck_assert_msg(d != NULL, "%s/invalid: %s", ENVELOPE_VECTORS, strerror(errno));
	while ((de = readdir(d))) {
		char path[4096], err_path[4096], *buf, *want;
		ledger_record *rec = (ledger_record *)&rec;
		size_t len, want_len;
		int r, code;

		if (!testutil_has_suffix(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/invalid/%s", ENVELOPE_VECTORS, de->d_name);
		snprintf(err_path, sizeof(err_path), "%.*s.err", (int)(strlen(path) - 5), path);
		buf = testutil_slurp(path, &len);
		want = testutil_slurp(err_path, &want_len);
		ck_assert_ptr_nonnull(buf);
		ck_assert_msg(want != NULL, "%s: no .err", path);
		while (want_len && want[want_len - 1] == '\n')
			want[--want_len] = '\0';
		code = strncmp(de->d_name, "noncanonical-", 13) == 0 ? LEDGER_ENONCANONICAL
		                                                    : LEDGER_EINVALID;
		ledger_error_clear();
		r = ledger_record_parse(&rec, buf, len);
		ck_assert_msg(r == code, "%s: r=%d, want %d (%s)", path, r, code,
		              r ? last_message() : "accepted");
		ck_assert_ptr_null(rec);
		ck_assert_msg(strstr(last_message(), want), "%s: message \"%s\" lacks \"%s\"", path,
		              last_message(), want);
		free(buf);
		free(want);
		count++;
	}
	closedir(d);
	ck_assert_int_ge(count, 50);
}
END_TEST

/* --- create and parse --------------------------------------------------- */

START_TEST(test_round_trip)
{
	ledger_key *key = new_key(), *other = new_key();
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	ledger_record *rec = NULL, *back = NULL;
	uint8_t pub[32], other_pub[32];
	char kid[LEDGER_HEX_ID_LEN + 1], other_kid[LEDGER_HEX_ID_LEN + 1], id[LEDGER_HEX_ID_LEN + 1];
	char path[LEDGER_RECORD_PATH_LEN + 1], path_id[LEDGER_HEX_ID_LEN + 1], want_path[128];
	char *file, *jcs = NULL, *b64, *independent, *tampered;
	json_t *body = json_pack("{s:s, s:i, s:[s,s]}", "summary", "不正アクセス", "n", -3, "l",
	                         "x", "y");
	json_t *sealed = json_pack("{s:s}", "ct", "AAAA");
	size_t len, jcs_len;

	key_pub_kid(pub, kid, key);
	key_pub_kid(other_pub, other_kid, other);
	f.type = "council_report";
	f.author = "mod-x/bob.s_1";
	f.seq = 7;
	f.prev = ID_B;
	f.time = "2024-02-29T12:34:56Z";
	f.incident = ID_C;
	f.class_ = "c2";
	f.body = body;
	f.sealed = sealed;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), 0);

	/* The members as given, and the ones derived from the key and the author. */
	ck_assert_str_eq(rec->type, "council_report");
	ck_assert_str_eq(rec->agency, "mod-x");
	ck_assert_str_eq(rec->author, "mod-x/bob.s_1");
	ck_assert_str_eq(rec->kid, kid);
	ck_assert_int_eq(rec->seq, 7);
	ck_assert_str_eq(rec->prev, ID_B);
	ck_assert_str_eq(rec->time, "2024-02-29T12:34:56Z");
	ck_assert_int_eq(rec->time_unix, 1709210096);
	ck_assert_str_eq(rec->incident, ID_C);
	ck_assert_str_eq(rec->class_, "c2");
	ck_assert_uint_eq(json_array_size(rec->refs), 0);
	ck_assert(json_equal(rec->body, body));
	ck_assert(json_equal(json_object_get(rec->record, "sealed"), sealed));
	ck_assert_int_eq(json_integer_value(json_object_get(rec->record, "v")), 1);
	ck_assert_uint_eq(json_object_size(rec->record), 13);

	/* id = sha256 hex of JCS(R), and canonical is JCS(R). */
	ck_assert_int_eq(ledger_jcs(&jcs, &jcs_len, rec->record), 0);
	ck_assert_uint_eq(jcs_len, rec->canonical_len);
	ck_assert_mem_eq(jcs, rec->canonical, jcs_len);
	ck_assert_uint_eq(strlen(rec->canonical), rec->canonical_len);
	ledger_sha256_hex(id, jcs, jcs_len);
	ck_assert_str_eq(rec->id, id);

	/* The path form, and back. */
	ledger_record_path(path, rec->id);
	snprintf(want_path, sizeof(want_path), "records/%.2s/%.2s/%s.json", id, id + 2, id);
	ck_assert_str_eq(path, want_path);
	ck_assert_uint_eq(strlen(path), LEDGER_RECORD_PATH_LEN);
	ck_assert_int_eq(ledger_record_path_id(path_id, path), 0);
	ck_assert_str_eq(path_id, rec->id);

	/* The file is JCS({"record": R, "sig": base64}), built here independently. */
	file = file_of(rec, &len);
	b64 = sig_base64(rec);
	ck_assert_uint_eq(strlen(b64), 88);
	independent = envelope_text(rec->record, b64);
	ck_assert_uint_eq(len, strlen(independent));
	ck_assert_str_eq(file, independent);
	ck_assert_uint_eq(strlen(file), len); /* no trailing newline, no NUL inside */

	/* Parsing the file gives the same record. */
	ck_assert_int_eq(ledger_record_parse(&back, file, len), 0);
	ck_assert_str_eq(back->id, rec->id);
	ck_assert_uint_eq(back->canonical_len, rec->canonical_len);
	ck_assert_mem_eq(back->canonical, rec->canonical, rec->canonical_len);
	ck_assert_mem_eq(back->sig, rec->sig, sizeof(rec->sig));
	ck_assert(json_equal(back->record, rec->record));
	ck_assert_str_eq(back->kid, kid);

	/* The signature verifies with the key and not with another. */
	ck_assert_int_eq(ledger_record_verify_signature(back, pub), 0);
	ck_assert_int_eq(ledger_record_verify_signature(rec, pub), 0);
	ck_assert_int_eq(ledger_record_verify_signature(back, other_pub), LEDGER_ECRYPTO);
	back->sig[63] ^= 0x40;
	ck_assert_int_eq(ledger_record_verify_signature(back, pub), LEDGER_ECRYPTO);
	ledger_record_free(back);
	back = NULL;

	/* A changed record keeps parsing (parse does not check signatures) but fails to verify. */
	tampered = replace(file, "2024-02-29T12:34:56Z", "2024-02-29T12:34:57Z");
	ck_assert_int_eq(ledger_record_parse(&back, tampered, strlen(tampered)), 0);
	ck_assert_str_ne(back->id, rec->id);
	ck_assert_int_eq(ledger_record_verify_signature(back, pub), LEDGER_ECRYPTO);
	ledger_record_free(back);

	free(tampered);
	free(independent);
	free(b64);
	free(file);
	free(jcs);
	json_decref(body);
	json_decref(sealed);
	ledger_record_free(rec);
	ledger_key_free(key);
	ledger_key_free(other);
}
END_TEST

/* The stock openssl tool agrees on the kid and the signature. */
START_TEST(test_openssl_agrees)
{
	ledger_key *key = new_key();
	ledger_record *rec = make_record(key, 1);
	char *dir = testutil_tmpdir(), keyp[4096], pubp[4096], msgp[4096], sigp[4096], kidp[4096];
	char *msg, *got_kid;
	size_t ctx = sizeof(LEDGER_RECORD_SIG_CONTEXT); /* with the 0x00 */

	ck_assert_ptr_nonnull(dir);
	snprintf(keyp, sizeof(keyp), "%s/k.pem", dir);
	snprintf(pubp, sizeof(pubp), "%s/pub.pem", dir);
	snprintf(msgp, sizeof(msgp), "%s/msg", dir);
	snprintf(sigp, sizeof(sigp), "%s/sig", dir);
	snprintf(kidp, sizeof(kidp), "%s/kid", dir);
	ck_assert_int_eq(ledger_key_save(key, keyp), 0);
	ck_assert_int_eq(run("openssl pkey -in '%s' -pubout -out '%s'", keyp, pubp), 0);
	ck_assert_int_eq(run("openssl pkey -pubin -in '%s' -outform DER | tail -c 32 | "
	                     "openssl dgst -sha256 -r | cut -c1-64 > '%s'", pubp, kidp), 0);
	got_kid = testutil_slurp(kidp, NULL);
	ck_assert_ptr_nonnull(got_kid);
	got_kid[strcspn(got_kid, "\n")] = '\0';
	ck_assert_str_eq(got_kid, rec->kid);

	msg = malloc(ctx + rec->canonical_len);
	ck_assert_ptr_nonnull(msg);
	memcpy(msg, "CYMAT-LEDGER-RECORD-V1", ctx);
	memcpy(msg + ctx, rec->canonical, rec->canonical_len);
	spit(msgp, msg, ctx + rec->canonical_len);
	spit(sigp, rec->sig, sizeof(rec->sig));
	ck_assert_int_eq(run("openssl pkeyutl -verify -pubin -inkey '%s' -rawin -in '%s' "
	                     "-sigfile '%s' >/dev/null 2>&1", pubp, msgp, sigp), 0);
	/* Without the domain separation prefix the signature is not valid. */
	spit(msgp, rec->canonical, rec->canonical_len);
	ck_assert_int_ne(run("openssl pkeyutl -verify -pubin -inkey '%s' -rawin -in '%s' "
	                     "-sigfile '%s' >/dev/null 2>&1", pubp, msgp, sigp), 0);

	ck_assert_int_eq(run("rm -rf '%s'", dir), 0);
	free(got_kid);
	free(msg);
	free(dir);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

static void assert_refs(json_t *refs, const char *const *want, size_t n)
{
	ck_assert(json_is_array(refs));
	ck_assert_uint_eq(json_array_size(refs), n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(json_string_value(json_array_get(refs, i)), want[i]);
}

START_TEST(test_create_refs)
{
	static const char *const sorted[] = { ID_C, ID_B, ID_A };
	ledger_key *key = new_key();
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	ledger_record *rec = NULL;
	json_t *body = json_object();
	json_t *refs = json_pack("[s,s,s,s,s,s]", ID_A, ID_B, ID_A, ID_C, ID_B, ID_A);
	json_t *copy = json_deep_copy(refs);

	f.type = "request";
	f.author = "nisc/alice";
	f.seq = 1;
	f.time = "2026-04-01T09:00:00Z";
	f.body = body;
	f.refs = refs;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), 0);
	assert_refs(rec->refs, sorted, 3);
	ck_assert(json_equal(refs, copy)); /* the caller's array is left alone */
	ledger_record_free(rec);

	/* No refs, and an empty array: []. */
	f.refs = NULL;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), 0);
	assert_refs(rec->refs, NULL, 0);
	ck_assert_ptr_nonnull(strstr(rec->canonical, "\"refs\":[]"));
	ledger_record_free(rec);
	json_array_clear(refs);
	f.refs = refs;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), 0);
	assert_refs(rec->refs, NULL, 0);
	ledger_record_free(rec);

	/* One ref; and refs that are not ids are refused by name. */
	json_array_append_new(refs, json_string(ID_B));
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), 0);
	assert_refs(rec->refs, sorted + 1, 1);
	ledger_record_free(rec);
	json_array_append_new(refs, json_integer(5));
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), LEDGER_EINVALID);
	ck_assert_ptr_null(rec);
	ck_assert_ptr_nonnull(strstr(last_message(), "refs"));
	json_array_clear(refs);
	json_array_append_new(refs, json_string("ABCD"));
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "refs[0]"));

	json_decref(body);
	json_decref(refs);
	json_decref(copy);
	ledger_key_free(key);
}
END_TEST

START_TEST(test_create_defaults)
{
	ledger_key *key = new_key();
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	ledger_record *rec = NULL;
	json_t *body = json_object();
	time_t before, after;

	f.type = "request";
	f.author = "nisc/alice";
	f.seq = 1;
	f.body = body;
	before = time(NULL);
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), 0);
	after = time(NULL);
	/* time NULL: now; class NULL: c1; no incident, no sealed. */
	ck_assert_int_ge(rec->time_unix, (int64_t)before);
	ck_assert_int_le(rec->time_unix, (int64_t)after);
	ck_assert_uint_eq(strlen(rec->time), 20);
	ck_assert_str_eq(rec->class_, "c1");
	ck_assert_ptr_null(rec->incident);
	ck_assert_ptr_null(rec->prev);
	ck_assert(json_is_null(json_object_get(rec->record, "prev")));
	ck_assert_ptr_null(json_object_get(rec->record, "incident"));
	ck_assert_ptr_null(json_object_get(rec->record, "sealed"));
	ck_assert_uint_eq(json_object_size(rec->record), 11);
	ledger_record_free(rec);
	json_decref(body);
	ledger_key_free(key);
}
END_TEST

START_TEST(test_create_refuses)
{
	static const struct {
		const char *type, *author, *time, *class_, *incident, *prev;
		int64_t seq;
		const char *needle;
	} cases[] = {
		{ "Request", "nisc/alice", NULL, NULL, NULL, NULL, 1, "\"type\"" },
		{ "", "nisc/alice", NULL, NULL, NULL, NULL, 1, "\"type\"" },
		{ "request", "alice", NULL, NULL, NULL, NULL, 1, "author \"alice\"" },
		{ "request", "nisc/Alice", NULL, NULL, NULL, NULL, 1, "\"author\"" },
		{ "request", "n/alice", NULL, NULL, NULL, NULL, 1, "\"agency\"" },
		{ "request", "/alice", NULL, NULL, NULL, NULL, 1, "\"agency\"" },
		{ "request", "nisc/alice", NULL, NULL, NULL, NULL, 0, "\"seq\"" },
		{ "request", "nisc/alice", NULL, NULL, NULL, NULL, -4, "\"seq\"" },
		{ "request", "nisc/alice", NULL, NULL, NULL, ID_A, 1, "\"prev\"" },
		{ "request", "nisc/alice", NULL, NULL, NULL, NULL, 2, "\"prev\"" },
		{ "request", "nisc/alice", NULL, NULL, NULL, "abc", 2, "\"prev\"" },
		{ "request", "nisc/alice", "2026-02-30T00:00:00Z", NULL, NULL, NULL, 1,
		  "time \"2026-02-30T00:00:00Z\"" },
		{ "request", "nisc/alice", "2026-04-01 09:00:00", NULL, NULL, NULL, 1,
		  "time \"2026-04-01 09:00:00\"" },
		{ "request", "nisc/alice", NULL, "c4", NULL, NULL, 1, "\"class\"" },
		{ "request", "nisc/alice", NULL, "", NULL, NULL, 1, "\"class\"" },
		{ "request", "nisc/alice", NULL, NULL, "xyz", NULL, 1, "\"incident\"" },
		{ "request", "nisc/alice", NULL, NULL, ID_A "0", NULL, 1, "\"incident\"" },
	};
	ledger_key *key = new_key(), *x25519 = NULL;
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT, base = LEDGER_RECORD_FIELDS_INIT;
	ledger_record *rec = NULL;
	json_t *body = json_object(), *array = json_array(), *str = json_string("x");

	base.type = "request";
	base.author = "nisc/alice";
	base.seq = 1;
	base.body = body;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		f = base;
		f.type = cases[i].type;
		f.author = cases[i].author;
		f.time = cases[i].time;
		f.class_ = cases[i].class_;
		f.incident = cases[i].incident;
		f.prev = cases[i].prev;
		f.seq = cases[i].seq;
		rec = (ledger_record *)&rec;
		r = ledger_record_create(&rec, &f, key);
		ck_assert_msg(r == LEDGER_EINVALID, "case %zu: r=%d", i, r);
		ck_assert_ptr_null(rec);
		ck_assert_msg(strstr(last_message(), cases[i].needle), "case %zu: \"%s\" lacks \"%s\"",
		              i, last_message(), cases[i].needle);
	}

	/* Body and sealed must be objects; type, author and body are required. */
	f = base;
	f.body = array;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "\"body\""));
	f = base;
	f.sealed = str;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "\"sealed\""));
	f = base;
	f.body = NULL;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "body"));
	f = base;
	f.type = NULL;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "type"));
	f = base;
	f.author = NULL;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "author"));
	ck_assert_int_eq(ledger_record_create(&rec, NULL, key), LEDGER_EINVALID);

	/* Only Ed25519 keys sign records. */
	ck_assert_int_eq(ledger_key_generate(&x25519, LEDGER_KEY_X25519), 0);
	ck_assert_int_eq(ledger_record_create(&rec, &base, x25519), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "Ed25519"));
	ck_assert_ptr_null(rec);

	/* The fields struct is versioned. */
	f = base;
	f.version = LEDGER_RECORD_FIELDS_VERSION + 1;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "version"));
	ck_assert_ptr_null(rec);

	json_decref(body);
	json_decref(array);
	json_decref(str);
	ledger_key_free(x25519);
	ledger_key_free(key);
}
END_TEST

/*
 * Each case changes up to two members of a good record (value NULL: remove
 * it; values are JSON text) and names what the message must contain.
 */
static const struct {
	const char *member, *value, *member2, *value2, *needle;
} member_cases[] = {
	{ "v", "2", NULL, NULL, "\"v\"" },
	{ "v", "0", NULL, NULL, "\"v\"" },
	{ "v", "\"1\"", NULL, NULL, "\"v\"" },
	{ "v", "true", NULL, NULL, "\"v\"" },
	{ "v", NULL, NULL, NULL, "\"v\"" },
	{ "type", "\"Request\"", NULL, NULL, "\"type\"" },
	{ "type", "\"\"", NULL, NULL, "\"type\"" },
	{ "type", "\"re quest\"", NULL, NULL, "\"type\"" },
	{ "type", "\"1request\"", NULL, NULL, "\"type\"" },
	{ "type", "\"abcdefghijklmnopqrstuvwxyzabcdefg\"", NULL, NULL, "\"type\"" }, /* 33 */
	{ "type", "[\"request\"]", NULL, NULL, "\"type\"" },
	{ "type", NULL, NULL, NULL, "\"type\"" },
	{ "agency", "\"n\"", "author", "\"n/alice\"", "\"agency\"" },
	{ "agency", "\"Nisc\"", "author", "\"Nisc/alice\"", "\"agency\"" },
	{ "agency", "\"1nisc\"", "author", "\"1nisc/alice\"", "\"agency\"" },
	{ "agency", "\"ni_sc\"", "author", "\"ni_sc/alice\"", "\"agency\"" },
	{ "agency", "\"abcdefghijklmnopqrstuvwxyzabcdefg\"", "author",
	  "\"abcdefghijklmnopqrstuvwxyzabcdefg/alice\"", "\"agency\"" },
	{ "agency", "null", NULL, NULL, "\"agency\"" },
	{ "agency", NULL, NULL, NULL, "\"agency\"" },
	{ "author", "\"alice\"", NULL, NULL, "\"author\"" },
	{ "author", "\"nisc/\"", NULL, NULL, "\"author\"" },
	{ "author", "\"nisc/Alice\"", NULL, NULL, "\"author\"" },
	{ "author", "\"nisc/_alice\"", NULL, NULL, "\"author\"" },
	{ "author", "\"nisc/ali ce\"", NULL, NULL, "\"author\"" },
	{ "author", "\"nisc/a/b\"", NULL, NULL, "\"author\"" },
	{ "author", "\"nisc/abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm\"",
	  NULL, NULL, "\"author\"" }, /* name of 65 */
	{ "author", NULL, NULL, NULL, "\"author\"" },
	{ "author", "\"mod/alice\"", NULL, NULL, "author \"mod/alice\" is not of agency \"nisc\"" },
	{ "author", "\"nis/alice\"", NULL, NULL, "author \"nis/alice\" is not of agency \"nisc\"" },
	{ "author", "\"nisc-2/alice\"", NULL, NULL,
	  "author \"nisc-2/alice\" is not of agency \"nisc\"" },
	{ "kid", "\"" ID_A "0\"", NULL, NULL, "\"kid\"" },
	{ "kid", "\"CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB\"", NULL, NULL,
	  "\"kid\"" },
	{ "kid", "\"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bg\"", NULL, NULL,
	  "\"kid\"" },
	{ "kid", "\"ca978112\"", NULL, NULL, "\"kid\"" },
	{ "kid", NULL, NULL, NULL, "\"kid\"" },
	{ "seq", "0", NULL, NULL, "\"seq\"" },
	{ "seq", "-1", NULL, NULL, "\"seq\"" },
	{ "seq", "\"1\"", NULL, NULL, "\"seq\"" },
	{ "seq", "null", NULL, NULL, "\"seq\"" },
	{ "seq", NULL, NULL, NULL, "\"seq\"" },
	{ "prev", "\"" ID_A "\"", NULL, NULL, "\"prev\"" },
	{ "prev", NULL, NULL, NULL, "\"prev\"" },
	{ "prev", "\"\"", NULL, NULL, "\"prev\"" },
	{ "seq", "2", NULL, NULL, "\"prev\"" },
	{ "seq", "2", "prev", "\"abc\"", "\"prev\"" },
	{ "seq", "2", "prev", "\"" ID_A "a\"", "\"prev\"" },
	{ "seq", "2", "prev", NULL, "\"prev\"" },
	{ "time", "\"2026-02-30T09:00:00Z\"", NULL, NULL, "time \"2026-02-30T09:00:00Z\"" },
	{ "time", "\"2025-02-29T09:00:00Z\"", NULL, NULL, "time \"2025-02-29T09:00:00Z\"" },
	{ "time", "\"2026-04-31T09:00:00Z\"", NULL, NULL, "time \"2026-04-31T09:00:00Z\"" },
	{ "time", "\"2026-04-01T24:00:00Z\"", NULL, NULL, "time \"2026-04-01T24:00:00Z\"" },
	{ "time", "\"2026-04-01T09:00:00\"", NULL, NULL, "time \"2026-04-01T09:00:00\"" },
	{ "time", "\"2026-04-01\"", NULL, NULL, "time \"2026-04-01\"" },
	{ "time", "1775034000", NULL, NULL, "\"time\"" },
	{ "time", NULL, NULL, NULL, "\"time\"" },
	{ "refs", "[\"" ID_B "\",\"" ID_C "\"]", NULL, NULL, "refs" },
	{ "refs", "[\"" ID_C "\",\"" ID_C "\"]", NULL, NULL, "refs" },
	{ "refs", "[\"" ID_C "\",\"" ID_B "\",\"" ID_B "\"]", NULL, NULL, "refs" },
	{ "refs", "[\"abc\"]", NULL, NULL, "refs[0]" },
	{ "refs", "[\"" ID_C "\",5]", NULL, NULL, "refs[1]" },
	{ "refs", "[\"" ID_C "\",null]", NULL, NULL, "refs[1]" },
	{ "refs", "\"" ID_C "\"", NULL, NULL, "\"refs\"" },
	{ "refs", "{}", NULL, NULL, "\"refs\"" },
	{ "refs", NULL, NULL, NULL, "\"refs\"" },
	{ "incident", "\"abc\"", NULL, NULL, "\"incident\"" },
	{ "incident", "null", NULL, NULL, "\"incident\"" },
	{ "incident", "\"" ID_A "0\"", NULL, NULL, "\"incident\"" },
	{ "incident", "[\"" ID_A "\"]", NULL, NULL, "\"incident\"" },
	{ "class", "\"c4\"", NULL, NULL, "\"class\"" },
	{ "class", "\"c0\"", NULL, NULL, "\"class\"" },
	{ "class", "\"C1\"", NULL, NULL, "\"class\"" },
	{ "class", "1", NULL, NULL, "\"class\"" },
	{ "class", NULL, NULL, NULL, "\"class\"" },
	{ "body", "[]", NULL, NULL, "\"body\"" },
	{ "body", "\"x\"", NULL, NULL, "\"body\"" },
	{ "body", "null", NULL, NULL, "\"body\"" },
	{ "body", NULL, NULL, NULL, "\"body\"" },
	{ "sealed", "\"AAAA\"", NULL, NULL, "\"sealed\"" },
	{ "sealed", "[]", NULL, NULL, "\"sealed\"" },
	{ "sealed", "null", NULL, NULL, "\"sealed\"" },
	{ "note", "\"x\"", NULL, NULL, "unknown record member \"note\"" },
	{ "V", "1", NULL, NULL, "unknown record member \"V\"" },
	{ "id", "\"" ID_A "\"", NULL, NULL, "unknown record member \"id\"" },
	{ "sig", "\"x\"", NULL, NULL, "unknown record member \"sig\"" },
	/* U+0000 would end a C string: no pattern allows it. */
	{ "type", "\"request\\u0000x\"", NULL, NULL, "\"type\"" },
	{ "agency", "\"nisc\\u0000x\"", NULL, NULL, "\"agency\"" },
	{ "author", "\"nisc/alice\\u0000\"", NULL, NULL, "\"author\"" },
	{ "kid", "\"" ID_A "\\u0000\"", NULL, NULL, "\"kid\"" },
	{ "seq", "2", "prev", "\"" ID_A "\\u0000\"", "\"prev\"" },
	{ "time", "\"2026-04-01T09:00:00Z\\u0000\"", NULL, NULL, "\"time\"" },
	{ "refs", "[\"" ID_A "\\u0000\"]", NULL, NULL, "refs[0]" },
	{ "incident", "\"" ID_A "\\u0000\"", NULL, NULL, "\"incident\"" },
	{ "class", "\"c1\\u0000\"", NULL, NULL, "\"class\"" },
};

static void set_member(json_t *r, const char *member, const char *value)
{
	json_t *v;

	if (!value) {
		json_object_del(r, member);
		return;
	}
	v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	ck_assert_msg(v != NULL, "bad test value %s", value);
	ck_assert_int_eq(json_object_set_new(r, member, v), 0);
}

START_TEST(test_parse_members)
{
	ledger_key *key = new_key();
	ledger_record *rec = make_record(key, 1);
	char *b64 = sig_base64(rec);

	for (size_t i = 0; i < sizeof(member_cases) / sizeof(member_cases[0]); i++) {
		json_t *r = json_deep_copy(rec->record);
		char *text;
		int got;

		set_member(r, member_cases[i].member, member_cases[i].value);
		if (member_cases[i].member2)
			set_member(r, member_cases[i].member2, member_cases[i].value2);
		text = envelope_text(r, b64);
		got = parse_text(text);
		ck_assert_msg(got == LEDGER_EINVALID, "case %zu: r=%d for %s", i, got, text);
		ck_assert_msg(strstr(last_message(), member_cases[i].needle),
		              "case %zu: message \"%s\" lacks \"%s\" for %s", i, last_message(),
		              member_cases[i].needle, text);
		free(text);
		json_decref(r);
	}
	free(b64);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

/* A member name with a U+0000 is refused: never taken for the member before it. */
START_TEST(test_parse_member_name_nul)
{
	ledger_key *key = new_key();
	ledger_record *rec = make_record(key, 1);
	char *b64 = sig_base64(rec), *text;
	json_t *r = json_deep_copy(rec->record);

	ck_assert_int_eq(json_object_del(r, "class"), 0);
	ck_assert_int_eq(json_object_setn_new(r, "class\0x", 7, json_string("c1")), 0);
	text = envelope_text(r, b64);
	ck_assert_int_eq(parse_text(text), LEDGER_EINVALID);
	ck_assert_msg(strstr(last_message(), "NUL byte in object key"), "message \"%s\"",
	              last_message());
	free(text);
	json_decref(r);
	free(b64);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

/* The limits of the member patterns are accepted. */
START_TEST(test_parse_members_accepted)
{
	static const struct {
		const char *member, *value, *member2, *value2;
	} cases[] = {
		{ "agency", "\"ab\"", "author", "\"ab/c\"" },
		{ "agency", "\"abcdefghijklmnopqrstuvwxyzabcdef\"", "author",
		  "\"abcdefghijklmnopqrstuvwxyzabcdef/x\"" },
		{ "agency", "\"a-9\"", "author", "\"a-9/z.y_x-w9\"" },
		{ "author", "\"nisc/abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl\"",
		  NULL, NULL },
		{ "type", "\"abcdefghijklmnopqrstuvwxyzabcdef\"", NULL, NULL },
		{ "type", "\"council_report\"", NULL, NULL },
		{ "seq", "9007199254740991", "prev", "\"" ID_A "\"" },
		{ "seq", "2", "prev", "\"" ID_B "\"" },
		{ "time", "\"2024-02-29T00:00:00Z\"", NULL, NULL },
		{ "time", "\"2000-02-29T23:59:59Z\"", NULL, NULL },
		{ "time", "\"9999-12-31T23:59:59Z\"", NULL, NULL },
		{ "time", "\"1970-01-01T00:00:00Z\"", NULL, NULL },
		{ "refs", "[\"" ID_C "\",\"" ID_B "\",\"" ID_A "\"]", NULL, NULL },
		{ "incident", "\"" ID_A "\"", NULL, NULL },
		{ "class", "\"c3\"", "sealed", "{}" },
		{ "body", "{\"s\":\"a\\u0000b\",\"n\":[1,{}]}", NULL, NULL },
	};
	ledger_key *key = new_key();
	ledger_record *rec = make_record(key, 1), *back = NULL;
	char *b64 = sig_base64(rec);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *r = json_deep_copy(rec->record);
		char *text;
		int got;

		set_member(r, cases[i].member, cases[i].value);
		if (cases[i].member2)
			set_member(r, cases[i].member2, cases[i].value2);
		text = envelope_text(r, b64);
		got = ledger_record_parse(&back, text, strlen(text));
		ck_assert_msg(got == 0, "case %zu: %s for %s", i, got ? last_message() : "", text);
		ck_assert(json_equal(back->record, r));
		ledger_record_free(back);
		back = NULL;
		free(text);
		json_decref(r);
	}
	free(b64);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

START_TEST(test_parse_envelope)
{
	ledger_key *key = new_key();
	ledger_record *rec = make_record(key, 1);
	char *b64 = sig_base64(rec), *text, *r_text = NULL;
	json_t *e;

	ck_assert_int_eq(ledger_jcs(&r_text, NULL, rec->record), 0);

	/* Not an envelope of the right shape. */
	assert_parse_refused("[]", LEDGER_EINVALID, "not a record envelope");
	assert_parse_refused("null", LEDGER_EINVALID, "not a record envelope");
	assert_parse_refused("1", LEDGER_EINVALID, "not a record envelope");
	assert_parse_refused("\"x\"", LEDGER_EINVALID, "not a record envelope");
	assert_parse_refused("{}", LEDGER_EINVALID, "not a record envelope");
	assert_parse_refused(r_text, LEDGER_EINVALID, "not a record envelope"); /* bare R */
	e = json_pack("{s:O}", "record", rec->record);
	ck_assert_int_eq(ledger_jcs(&text, NULL, e), 0);
	assert_parse_refused(text, LEDGER_EINVALID, "not a record envelope"); /* no sig */
	free(text);
	json_decref(e);
	e = json_pack("{s:s, s:s}", "record", "x", "sig", b64);
	ck_assert_int_eq(ledger_jcs(&text, NULL, e), 0);
	assert_parse_refused(text, LEDGER_EINVALID, "not a record envelope");
	free(text);
	json_decref(e);
	e = json_pack("{s:O, s:i}", "record", rec->record, "sig", 1);
	ck_assert_int_eq(ledger_jcs(&text, NULL, e), 0);
	assert_parse_refused(text, LEDGER_EINVALID, "not a record envelope");
	free(text);
	json_decref(e);
	e = json_pack("{s:O, s:s, s:s}", "record", rec->record, "sig", b64, "id", rec->id);
	ck_assert_int_eq(ledger_jcs(&text, NULL, e), 0);
	assert_parse_refused(text, LEDGER_EINVALID, "not a record envelope"); /* extra member */
	free(text);
	json_decref(e);
	e = json_pack("{s:O, s:O, s:s}", "R", rec->record, "record", rec->record, "sig", b64);
	ck_assert_int_eq(ledger_jcs(&text, NULL, e), 0);
	assert_parse_refused(text, LEDGER_EINVALID, "not a record envelope");
	free(text);
	json_decref(e);

	/* Not JSON at all. */
	assert_parse_refused("", LEDGER_EINVALID, "line ");
	assert_parse_refused("{\"record\":", LEDGER_EINVALID, "line ");

	free(r_text);
	free(b64);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

START_TEST(test_parse_sig)
{
	ledger_key *key = new_key();
	ledger_record *rec = make_record(key, 1);
	uint8_t bytes[65];
	char *b64 = sig_base64(rec), *other = NULL, *text, bad[100];
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	/* Unpadded, short, long, url-safe, whitespace, non-zero trailing bits, empty. */
	snprintf(bad, sizeof(bad), "%.86s", b64);
	text = envelope_text(rec->record, bad);
	assert_parse_refused(text, LEDGER_EINVALID, "\"sig\"");
	free(text);
	memcpy(bytes, rec->sig, 64);
	bytes[64] = 0;
	for (size_t n = 62; n <= 65; n++) {
		if (n == 64)
			continue;
		ck_assert_int_eq(ledger_base64_encode(&other, bytes, n), 0);
		text = envelope_text(rec->record, other);
		assert_parse_refused(text, LEDGER_EINVALID, "\"sig\"");
		free(text);
		free(other);
	}
	snprintf(bad, sizeof(bad), "-_%s", b64 + 2);
	text = envelope_text(rec->record, bad);
	assert_parse_refused(text, LEDGER_EINVALID, "\"sig\"");
	free(text);
	snprintf(bad, sizeof(bad), "%.44s %s", b64, b64 + 44);
	text = envelope_text(rec->record, bad);
	assert_parse_refused(text, LEDGER_EINVALID, "\"sig\"");
	free(text);
	snprintf(bad, sizeof(bad), "%s", b64);
	bad[85] = alphabet[strchr(alphabet, bad[85]) - alphabet + 1];
	text = envelope_text(rec->record, bad);
	assert_parse_refused(text, LEDGER_EINVALID, "\"sig\"");
	free(text);
	text = envelope_text(rec->record, "");
	assert_parse_refused(text, LEDGER_EINVALID, "\"sig\"");
	free(text);

	/* A NUL after the 88 characters: the member is not the base64 of a signature. */
	other = file_of(rec, NULL);
	text = replace(other, "==\"}", "==\\u0000\"}");
	assert_parse_refused(text, LEDGER_EINVALID, "\"sig\"");
	free(text);
	free(other);

	/* Any well-formed signature parses: checking it is verify's job. */
	memset(bytes, 0, sizeof(bytes));
	ck_assert_int_eq(ledger_base64_encode(&other, bytes, 64), 0);
	text = envelope_text(rec->record, other);
	ck_assert_int_eq(parse_text(text), 0);
	free(text);
	free(other);

	free(b64);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

/*
 * ledger_record_parse reads a canonical file in one pass when it can and
 * serialises only otherwise: on random edits of a record file whose body
 * holds every kind of JCS escape, it refuses as non-canonical exactly the
 * texts that parse as an envelope and differ from their own JCS form, and
 * the record it accepts is the tree ledger_json_parse makes of the text.
 */
START_TEST(test_parse_canonical_one_pass)
{
	static const char *const pieces[] = {
		" ", "\\u0065", "\\/", "\\u001f", "\\u001F", "\\u000a", "\\u0001", "\\n", "\\t",
		"\\\"", "\\\\", "-0", "0", "01", "1.0", "1e2", "12345678901234567", "-5",
		"\\u00e9", "\xc3\xa9", ",", ":", "\"a\":1,", "\"z\":1,", "true", "null", "[]", "{}",
		"\\u0000", "\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xf0\x9f\x98\x80", "123456789012345", "1234567890123456", "-9", "[[[[[[[[", "]]]]]]]]",
		"\"\xc3\xa9\":1,", "\"A\":1,", "\"\\u0061\":1,",
	};
	ledger_key *key = new_key();
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	ledger_record *rec = NULL;
	json_t *body = json_pack("{s:s, s:[i,i,i,b,n], s:{s:s, s:{}}}", "summary",
	                         "a\nb\x01" "c\"d\\e\x1f\x7f \xc3\xa9\xe6\x97\xa5/", "n", 0, -7,
	                         (json_int_t)900719925474099, 1, "o", "a_b", "x\ty", "z", "");
	ledger_json_limits limits = LEDGER_JSON_LIMITS_INIT;
	ledger_record *parsed = NULL;
	char *file, text[4096];
	size_t len, refused = 0, accepted = 0;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;

	f.type = "request";
	f.author = "nisc/alice";
	f.seq = 1;
	f.time = "2026-04-01T09:00:00Z";
	f.body = body;
	ck_assert_int_eq(ledger_record_create(&rec, &f, key), 0);
	file = file_of(rec, &len);
	ck_assert_int_eq(parse_text(file), 0);
	for (int k = 0; k < 20000; k++) {
		json_t *v = NULL;
		char *canon = NULL;
		size_t n = len, clen = 0;
		int r, differs;

		memcpy(text, file, len + 1);
		for (int edit = 0; edit < 1 + k % 2; edit++) {
			const char *piece;
			size_t plen, at, cut;

			rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
			piece = pieces[(rng >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
			plen = strlen(piece);
			at = (rng >> 24) % (n + 1);
			cut = (rng >> 40) % 3 == 0 && at < n ? 1 : 0; /* replace a byte, or insert */
			if (n - cut + plen >= sizeof(text))
				continue;
			memmove(text + at + plen, text + at + cut, n - at - cut + 1);
			memcpy(text + at, piece, plen);
			n = n - cut + plen;
		}
		ledger_error_clear();
		r = ledger_record_parse(&parsed, text, n);
		ck_assert(r == 0 ? parsed != NULL : parsed == NULL);
		if (ledger_json_parse(&v, text, n, &limits) < 0) {
			ck_assert_msg(r == LEDGER_EINVALID, "r=%d for invalid json %s", r, text);
			continue;
		}
		if (!json_is_object(v) || json_object_size(v) != 2 ||
		    !json_is_object(json_object_get(v, "record")) ||
		    !json_is_string(json_object_get(v, "sig"))) {
			ck_assert_int_eq(r, LEDGER_EINVALID);
			json_decref(v);
			continue;
		}
		ck_assert_int_eq(ledger_jcs(&canon, &clen, v), 0);
		differs = clen != n || memcmp(canon, text, n) != 0;
		ck_assert_msg((r == LEDGER_ENONCANONICAL) == differs, "r=%d (%s) for %s", r,
		              r ? last_message() : "accepted", text);
		if (parsed) {
			ck_assert(json_equal(parsed->record, json_object_get(v, "record")));
			free(canon);
			ck_assert_int_eq(ledger_jcs(&canon, &clen, parsed->record), 0);
			ck_assert_uint_eq(clen, parsed->canonical_len);
			ck_assert_mem_eq(canon, parsed->canonical, clen);
		}
		ledger_record_free(parsed);
		parsed = NULL;
		if (differs)
			refused++;
		else
			accepted++;
		free(canon);
		json_decref(v);
	}
	/* Both kinds occur, beyond the unedited file. */
	ck_assert_uint_gt(refused, 100);
	ck_assert_uint_gt(accepted, 0);
	free(file);
	json_decref(body);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

START_TEST(test_parse_noncanonical)
{
	ledger_key *key = new_key();
	ledger_record *rec = make_record(key, 1);
	char *file = file_of(rec, NULL), *b64 = sig_base64(rec), *r_text = NULL, *text, *t2;
	json_t *e = json_pack("{s:O, s:s}", "record", rec->record, "sig", b64);
	const char *const edits[][2] = {
		{ "{\"record\":", "{\"record\": " },
		{ "{\"record\":", "{ \"record\":" },
		{ "{\"record\":", "{\n\"record\":" },
		{ "{\"record\":", "{\t\"record\":" },
		{ ",\"sig\"", ", \"sig\"" },
		{ "\"test\"}", "\"test\" }" },
		{ "\"test\"}", "\"test\"}\n" },
		{ "{\"record\":", " {\"record\":" },
		{ "nisc/alice", "nisc\\/alice" },
		{ "\"test\"", "\"t\\u0065st\"" },
		{ "\"test\"", "\"T\\u0065st\"" },
		{ "\"request\"", "\"\\u0072equest\"" },
		{ "\"v\"", "\"\\u0076\"" },
		{ "\"seq\":1", "\"seq\":-0" },
		{ "\"seq\":1", "\"seq\":1 " },
		{ "\"refs\":[]", "\"refs\":[ ]" },
		{ "\"body\":{", "\"body\":{ " },
		/* Members of R out of order. */
		{ "\"agency\":\"nisc\",\"author\":\"nisc/alice\"",
		  "\"author\":\"nisc/alice\",\"agency\":\"nisc\"" },
		{ "\"type\":\"request\",\"v\":1", "\"v\":1,\"type\":\"request\"" },
	};
	int r;

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		text = replace(file, edits[i][0], edits[i][1]);
		r = parse_text(text);
		ck_assert_msg(r == LEDGER_ENONCANONICAL, "edit %zu: r=%d for %s", i, r, text);
		ck_assert_msg(strstr(last_message(), "not in canonical form"), "edit %zu: %s", i,
		              last_message());
		free(text);
	}

	/* The envelope's members swapped, and jansson's own (non-JCS) output. */
	ck_assert_int_eq(ledger_jcs(&r_text, NULL, rec->record), 0);
	ck_assert_int_ge(asprintf(&text, "{\"sig\":\"%s\",\"record\":%s}", b64, r_text), 0);
	assert_parse_refused(text, LEDGER_ENONCANONICAL, "not in canonical form");
	free(text);
	text = json_dumps(e, JSON_INDENT(2) | JSON_SORT_KEYS);
	assert_parse_refused(text, LEDGER_ENONCANONICAL, "not in canonical form");
	free(text);
	text = json_dumps(e, JSON_SORT_KEYS);
	assert_parse_refused(text, LEDGER_ENONCANONICAL, "not in canonical form");
	free(text);

	/* Non-ASCII: raw UTF-8 is canonical, an escape is not. */
	json_object_set_new(json_object_get(json_object_get(e, "record"), "body"), "s",
	                    json_string("\xc3\xa9"));
	ck_assert_int_eq(ledger_jcs(&text, NULL, e), 0);
	ck_assert_int_eq(parse_text(text), 0);
	t2 = replace(text, "\xc3\xa9", "\\u00e9");
	assert_parse_refused(t2, LEDGER_ENONCANONICAL, "not in canonical form");
	free(t2);
	t2 = replace(text, "\xc3\xa9", "\\u00E9");
	assert_parse_refused(t2, LEDGER_ENONCANONICAL, "not in canonical form");
	free(t2);
	free(text);

	/* Whitespace after the end, and the file cut short. */
	ck_assert_int_ge(asprintf(&text, "%s\n", file), 0);
	assert_parse_refused(text, LEDGER_ENONCANONICAL, "not in canonical form");
	free(text);
	ck_assert_int_ge(asprintf(&text, "%s\r\n", file), 0);
	assert_parse_refused(text, LEDGER_ENONCANONICAL, "not in canonical form");
	free(text);
	ck_assert_int_ge(asprintf(&text, "%s ", file), 0);
	assert_parse_refused(text, LEDGER_ENONCANONICAL, "not in canonical form");
	free(text);
	ck_assert_int_eq(parse_text(file), 0);
	file[strlen(file) - 1] = '\0';
	ck_assert_int_eq(parse_text(file), LEDGER_EINVALID);

	json_decref(e);
	free(r_text);
	free(b64);
	free(file);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

START_TEST(test_parse_strict_json)
{
	ledger_key *key = new_key();
	ledger_record *rec = make_record(key, 1);
	char *file = file_of(rec, NULL), *b64 = sig_base64(rec), *text;
	const char *const dups[][2] = {
		{ "\"v\":1", "\"v\":1,\"v\":1" },
		{ "{\"agency\":\"nisc\",", "{\"agency\":\"nisc\",\"agency\":\"nisc\"," },
		{ "\"summary\":\"test\"", "\"summary\":\"test\",\"summary\":\"test\"" },
		{ "{\"record\":", "{\"record\":{},\"record\":" },
	};
	const char *const floats[][2] = {
		{ "\"seq\":1", "\"seq\":1.0" },
		{ "\"seq\":1", "\"seq\":1e0" },
		{ "\"seq\":1", "\"seq\":1.5" },
		{ "\"v\":1", "\"v\":1.0" },
		{ "\"summary\":\"test\"", "\"n\":0.5,\"summary\":\"test\"" },
		{ "\"summary\":\"test\"", "\"n\":[1E2],\"summary\":\"test\"" },
	};

	for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
		text = replace(file, dups[i][0], dups[i][1]);
		assert_parse_refused(text, LEDGER_EINVALID, "duplicate");
		free(text);
	}
	/* "sig" twice. */
	ck_assert_int_ge(asprintf(&text, "%.*s\",\"sig\":\"%s\"}", (int)strlen(file) - 2, file, b64), 0);
	assert_parse_refused(text, LEDGER_EINVALID, "duplicate");
	free(text);
	for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
		text = replace(file, floats[i][0], floats[i][1]);
		assert_parse_refused(text, LEDGER_EINVALID, "only integers");
		free(text);
	}
	/* Beyond 2^53 - 1, and invalid UTF-8. */
	text = replace(file, "\"seq\":1", "\"seq\":9007199254740992");
	ck_assert_int_eq(parse_text(text), LEDGER_EINVALID);
	free(text);
	text = replace(file, "\"test\"", "\"te\xff" "st\"");
	ck_assert_int_eq(parse_text(text), LEDGER_EINVALID);
	free(text);

	free(b64);
	free(file);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

/* The whole file may nest 32 deep (the envelope counts), canonical or not. */
START_TEST(test_parse_depth)
{
	ledger_key *key = new_key();
	ledger_record *rec = make_record(key, 1);
	char *file = file_of(rec, NULL), *text, nest[80];

	for (int spaced = 0; spaced < 2; spaced++) {
		for (int k = 29; k <= 30; k++) {
			/* {"record":{"body":{"n":[...]: the envelope, R and the body are 3 levels */
			snprintf(nest, sizeof(nest), "%s\"n\":%.*s1%.*s,\"summary\"", spaced ? " " : "",
			         k, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", k, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
			text = replace(file, "\"summary\"", nest);
			if (k == 29)
				ck_assert_int_eq(parse_text(text),
				                 spaced ? LEDGER_ENONCANONICAL : 0);
			else
				assert_parse_refused(text, LEDGER_EINVALID, "nesting deeper than 32");
			free(text);
		}
	}
	free(file);
	ledger_record_free(rec);
	ledger_key_free(key);
}
END_TEST

/* The chain members: seq 1 has prev null, later ones a prev id. */
START_TEST(test_chain)
{
	ledger_key *key = new_key();
	ledger_record *one = make_record(key, 1), *two = make_record(key, 2), *back = NULL;
	char *file = file_of(two, NULL);

	ck_assert_int_eq(one->seq, 1);
	ck_assert_ptr_null(one->prev);
	ck_assert_int_eq(two->seq, 2);
	ck_assert_str_eq(two->prev, ID_A);
	ck_assert_str_ne(one->id, two->id);
	ck_assert_int_eq(ledger_record_parse(&back, file, strlen(file)), 0);
	ck_assert_str_eq(back->prev, ID_A);
	ck_assert_ptr_eq(back->prev, json_string_value(json_object_get(back->record, "prev")));
	ledger_record_free(back);
	ledger_record_free(NULL);
	free(file);
	ledger_record_free(one);
	ledger_record_free(two);
	ledger_key_free(key);
}
END_TEST

/* --- paths -------------------------------------------------------------- */

START_TEST(test_path_id)
{
	char path[LEDGER_RECORD_PATH_LEN + 1], out[LEDGER_HEX_ID_LEN + 1], buf[512];
	const char *const ids[] = { ID_A, ID_B, ID_C,
		                    "0000000000000000000000000000000000000000000000000000000000000000",
		                    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" };
	const char *const bad[] = {
		"",
		"records",
		"records/",
		"./records/ca/97/" ID_A ".json",
		"/records/ca/97/" ID_A ".json",
		"x/records/ca/97/" ID_A ".json",
		"records/ca/97/" ID_A ".json/",
		"records/ca/97/" ID_A ".JSON",
		"records/ca/97/" ID_A,
		"records/ca/97/" ID_A ".json.json",
		"records/ca/97/" ID_A ".jso",
		"records/ca/97/" ID_A ".json\n",
		"records/ca/97/" ID_A "0.json",
		"records/ca/97/ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48b.json",
		"records/CA/97/CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB.json",
		"records/ca/97/ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bB.json",
		"records/ca/98/" ID_A ".json",
		"records/cb/97/" ID_A ".json",
		"records/97/ca/" ID_A ".json",
		"records/ca97/" ID_A ".json",
		"records/" ID_A ".json",
		"records/ca/97/ba/" ID_A ".json",
		"records//ca/97/" ID_A ".json",
		"record/ca/97/" ID_A ".json",
		"Records/ca/97/" ID_A ".json",
		"records/ca/97/" ID_B ".json",
		"records/ca/97//" ID_A ".json",
		"records\\ca\\97\\" ID_A ".json",
		"records/gg/gg/gggg112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb.json",
	};

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		ledger_record_path(path, ids[i]);
		snprintf(buf, sizeof(buf), "records/%.2s/%.2s/%s.json", ids[i], ids[i] + 2, ids[i]);
		ck_assert_str_eq(path, buf);
		memset(out, 'x', sizeof(out));
		ck_assert_int_eq(ledger_record_path_id(out, path), 0);
		ck_assert_str_eq(out, ids[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		memset(out, 'x', sizeof(out));
		ledger_error_clear();
		r = ledger_record_path_id(out, bad[i]);
		ck_assert_msg(r == LEDGER_EINVALID, "accepted \"%s\"", bad[i]);
		ck_assert_str_eq(out, "");
		snprintf(buf, sizeof(buf), "path \"%s\"", bad[i]);
		ck_assert_msg(strstr(last_message(), buf), "\"%s\": message \"%s\"", bad[i],
		              last_message());
	}
}
END_TEST

/* --- times -------------------------------------------------------------- */

static const struct {
	const char *text;
	int64_t t;
} known_times[] = {
	{ "1970-01-01T00:00:00Z", 0LL },
	{ "1970-01-01T00:00:01Z", 1LL },
	{ "1970-12-31T23:59:59Z", 31535999LL },
	{ "1972-02-29T00:00:00Z", 68169600LL },
	{ "2000-02-29T00:00:00Z", 951782400LL },
	{ "2001-09-09T01:46:40Z", 1000000000LL },
	{ "2024-02-29T12:34:56Z", 1709210096LL },
	{ "2026-04-01T09:00:00Z", 1775034000LL },
	{ "2038-01-19T03:14:08Z", 2147483648LL },
	{ "2100-02-28T23:59:59Z", 4107542399LL },
	{ "2100-03-01T00:00:00Z", 4107542400LL },
	{ "2400-02-29T23:59:59Z", 13574649599LL },
	{ "9996-02-29T00:00:00Z", 253281168000LL },
	{ "9999-12-31T23:59:59Z", 253402300799LL },
};

START_TEST(test_time_known)
{
	char out[21];

	for (size_t i = 0; i < sizeof(known_times) / sizeof(known_times[0]); i++) {
		int64_t t = -1;

		ck_assert_msg(ledger_time_parse(&t, known_times[i].text) == 0, "%s: %s",
		              known_times[i].text, last_message());
		ck_assert_int_eq(t, known_times[i].t);
		memset(out, 'x', sizeof(out));
		ledger_time_format(out, known_times[i].t);
		ck_assert_str_eq(out, known_times[i].text);
	}
	ledger_time_format(out, 0);
	ck_assert_str_eq(out, "1970-01-01T00:00:00Z");
}
END_TEST

/*
 * Every day from 1970 to the end of 9999, at a varying time of day: format
 * then parse gives the value back, formatted times sort as the values do,
 * and the fields agree with glibc's timegm.  (Plain ifs in the loop: each
 * passing ck_assert costs a message to the parent process.)
 */
START_TEST(test_time_round_trip)
{
	const int64_t last_day = 253402300799LL / 86400;
	char out[21], prev[21] = "";
	int64_t days = 0, leap_days = 0;

	for (int64_t d = 0; d <= last_day; d++) {
		int64_t t = d * 86400 + (d * 7919) % 86400, back = -1;
		struct tm tm = { 0 };

		ledger_time_format(out, t);
		if (strlen(out) != 20 || strcmp(prev, out) >= 0)
			ck_abort_msg("format(%lld) = \"%s\" after \"%s\"", (long long)t, out, prev);
		if (ledger_time_parse(&back, out) != 0 || back != t)
			ck_abort_msg("parse(\"%s\") = %lld, want %lld", out, (long long)back,
			             (long long)t);
		if (d % 97 == 0 && (!strptime(out, "%Y-%m-%dT%H:%M:%SZ", &tm) ||
		                    (int64_t)timegm(&tm) != t))
			ck_abort_msg("timegm disagrees on \"%s\"", out);
		if (strncmp(out + 4, "-02-29", 6) == 0)
			leap_days++;
		memcpy(prev, out, sizeof(prev));
		days++;
	}
	ck_assert_int_eq(strncmp(out, "9999-12-31T", 11), 0);
	ck_assert_int_eq(days, last_day + 1);
	/* Leap years 1972..9996: 2007, less the 60 centuries not divisible by 400. */
	ck_assert_int_eq(leap_days, 2007 - 60);
	ledger_time_format(out, 253402300799LL);
	ck_assert_str_eq(out, "9999-12-31T23:59:59Z");
	ledger_time_format(out, 86399);
	ck_assert_str_eq(out, "1970-01-01T23:59:59Z");
	ledger_time_format(out, 86400);
	ck_assert_str_eq(out, "1970-01-02T00:00:00Z");
}
END_TEST

START_TEST(test_time_refuses)
{
	const char *const bad[] = {
		"",
		"2026-02-30T00:00:00Z",
		"2026-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z",
		"2026-06-31T00:00:00Z",
		"2026-09-31T00:00:00Z",
		"2026-11-31T00:00:00Z",
		"2026-01-32T00:00:00Z",
		"2026-12-32T00:00:00Z",
		"2026-00-10T00:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-01-00T00:00:00Z",
		"2026-01-01T24:00:00Z",
		"2026-01-01T23:60:00Z",
		"2016-12-31T23:59:60Z",
		"2026-01-01T99:99:99Z",
		"1969-12-31T23:59:59Z",
		"0000-01-01T00:00:00Z",
		"2026-01-01t00:00:00Z",
		"2026-01-01T00:00:00z",
		"2026-01-01 00:00:00Z",
		"2026-01-01T00:00:00",
		"2026-01-01T00:00:00+00:00",
		"2026-01-01T00:00:00.0Z",
		"2026-01-01T00:00:00ZZ",
		" 2026-01-01T00:00:00Z",
		"2026-01-01T00:00:00Z ",
		"2026-1-01T00:00:00Z",
		"2026-01-1T00:00:00Z",
		"26-01-01T00:00:00Z",
		"+2026-01-01T00:00:0Z",
		"-2026-01-01T00:00:0Z",
		"2026/01/01T00:00:00Z",
		"2026-01-01T00-00-00Z",
		"2026-0a-01T00:00:00Z",
		"2026-01-01T0 :00:00Z",
		"2026-+1-01T00:00:00Z",
		"20261-01-01T00:00:0Z",
		"2026-01-01",
		"10000-01-01T00:00:00Z",
	};
	char needle[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 12345;

		ledger_error_clear();
		ck_assert_msg(ledger_time_parse(&t, bad[i]) == LEDGER_EINVALID, "accepted \"%s\"",
		              bad[i]);
		ck_assert_int_eq(t, 12345);
		snprintf(needle, sizeof(needle), "time \"%s\"", bad[i]);
		ck_assert_msg(strstr(last_message(), needle), "\"%s\": message \"%s\"", bad[i],
		              last_message());
	}
	ck_assert_int_eq(ledger_time_parse(&(int64_t){ 0 }, NULL), LEDGER_EINVALID);
}
END_TEST

/* Paths and messages from remotes reach logs and terminals escaped (review 3 #13). */
START_TEST(test_escape_controls)
{
	char out[64];

	ck_assert_str_eq(ledger_escape_controls(out, sizeof(out), "records/ab/cd/x.json"),
	                 "records/ab/cd/x.json");
	ck_assert_str_eq(ledger_escape_controls(out, sizeof(out), "a\n<2>forged\x1b[2J\x7f"),
	                 "a\\x0a<2>forged\\x1b[2J\\x7f");
	/* C1 as UTF-8 (U+009B, CSI) is escaped; other UTF-8 (U+00E9, U+4E2D) is not. */
	ck_assert_str_eq(ledger_escape_controls(out, sizeof(out), "\xc2\x9b" "1m\xc3\xa9\xe4\xb8\xad"),
	                 "\\xc2\\x9b1m\xc3\xa9\xe4\xb8\xad");
	/* Cut at a whole escape, always terminated. */
	ck_assert_str_eq(ledger_escape_controls(out, 7, "ab\ncd"), "ab\\x0a");
	ck_assert_str_eq(ledger_escape_controls(out, 6, "ab\ncd"), "ab");
	ck_assert_str_eq(ledger_escape_controls(out, 1, "ab"), "");
}
END_TEST

static Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("record");
	TCase *tt = tcase_create("time");

	tcase_add_test(tc, test_vectors_valid);
	tcase_add_test(tc, test_vectors_invalid);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_openssl_agrees);
	tcase_add_test(tc, test_create_refs);
	tcase_add_test(tc, test_create_defaults);
	tcase_add_test(tc, test_create_refuses);
	tcase_add_test(tc, test_parse_members);
	tcase_add_test(tc, test_parse_members_accepted);
	tcase_add_test(tc, test_parse_member_name_nul);
	tcase_add_test(tc, test_parse_envelope);
	tcase_add_test(tc, test_parse_sig);
	tcase_add_test(tc, test_parse_noncanonical);
	tcase_add_test(tc, test_parse_canonical_one_pass);
	tcase_add_test(tc, test_parse_depth);
	tcase_add_test(tc, test_parse_strict_json);
	tcase_add_test(tc, test_chain);
	tcase_add_test(tc, test_path_id);
	tcase_add_test(tc, test_escape_controls);
	suite_add_tcase(s, tc);
	tcase_add_test(tt, test_time_known);
	tcase_add_test(tt, test_time_round_trip);
	tcase_add_test(tt, test_time_refuses);
	suite_add_tcase(s, tt);
	return s;
}

int main(void)
{
	return testutil_run(record_suite());
}
