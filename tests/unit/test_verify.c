/*
 * Verification of whole ledgers built with real keys in real repositories:
 * the valid case, each rejection the contract names, pending records,
 * incremental verification through the cache, and order independence.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testshell.h"
#include "testsigner.h"
#include "testutil.h"

typedef struct {
	char *dir;
	ledger_repo *repo;
	testsigner director, deputy, manager, ciso, csirt, stranger;
	char root_id[65];
} fixture;

static fixture fx;

/* Make the signer's next record in its chain. */
static ledger_record *make(testsigner *s, const char *type, const char *time, json_t *body,
                           json_t *refs)
{
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	ledger_record *rec = NULL;

	f.type = type;
	testsigner_next(&f, s);
	f.time = time;
	f.body = body;
	f.refs = refs;
	if (ledger_record_create(&rec, &f, s->key) < 0)
		ck_abort_msg("record_create: %s", ledger_error_last()->message);
	testsigner_advance(s, rec);
	json_decref(body);
	return rec;
}

/* How the next commits are signed: by the director (a known key), not at all, or wrongly. */
static enum { SIGN_KNOWN, SIGN_NONE, SIGN_STRANGER, SIGN_WRONG_DATA } commit_signing;

static int sign_commit(char **out, const char *buf, size_t len, void *payload)
{
	const char *other = "not the commit";

	(void)payload;
	if (commit_signing == SIGN_STRANGER)
		return ledger_sshsig_sign(out, fx.stranger.key, "git", (const uint8_t *)buf, len);
	if (commit_signing == SIGN_WRONG_DATA)
		return ledger_sshsig_sign(out, fx.director.key, "git", (const uint8_t *)other,
		                          strlen(other));
	return ledger_sshsig_sign(out, fx.director.key, "git", (const uint8_t *)buf, len);
}

static void append_bytes(const char *path, const char *data, size_t len)
{
	ledger_commit_options opts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_file file = { path, data, len };
	char commit[41];

	opts.message = "test: append\n";
	opts.name = "test";
	opts.email = "test@cymat.invalid";
	opts.sign = commit_signing == SIGN_NONE ? NULL : sign_commit;
	if (ledger_repo_append(commit, fx.repo, &file, 1, &opts) < 0)
		ck_abort_msg("append: %s", ledger_error_last()->message);
}

static void append(ledger_record *rec)
{
	char path[LEDGER_RECORD_PATH_LEN + 1], *data = NULL;
	size_t len;

	ck_assert_int_eq(ledger_record_envelope(&data, &len, rec), 0);
	ledger_record_path(path, rec->id);
	append_bytes(path, data, len);
	free(data);
}

/* Append a record the test does not look at again. */
static void append_free(ledger_record *rec)
{
	append(rec);
	ledger_record_free(rec);
}

static void setup(void)
{
	ledger_commit_options opts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_file files[2];
	ledger_record *root;
	char path[LEDGER_RECORD_PATH_LEN + 1], *data = NULL, ledger_text[128];
	size_t len;

	memset(&fx, 0, sizeof(fx));
	commit_signing = SIGN_KNOWN;
	setenv("CYMAT_SCHEMAS_DIR", SCHEMAS_DIR, 1);
	fx.dir = testutil_tmpdir();
	ck_assert_ptr_nonnull(fx.dir);
	testsigner_init(&fx.director, "nisc/director");
	testsigner_init(&fx.deputy, "nisc/deputy");
	testsigner_init(&fx.manager, "nisc/manager");
	testsigner_init(&fx.ciso, "moe/ciso");
	testsigner_init(&fx.csirt, "moe/csirt");
	testsigner_init(&fx.stranger, "moe/stranger");
	root = make(&fx.director, "root", "2026-01-01T00:00:00Z",
	            json_pack("{s:s, s:o, s:o}", "ledger", "test", "director",
	                      testsigner_entry(&fx.director, "director", 1), "deputy",
	                      testsigner_entry(&fx.deputy, "deputy", 1)),
	            NULL);
	memcpy(fx.root_id, root->id, 65);
	ck_assert_int_eq(ledger_record_envelope(&data, &len, root), 0);
	ledger_record_path(path, root->id);
	snprintf(ledger_text, sizeof(ledger_text),
	         "{\"format\":\"cymat-ledger/1\",\"root\":\"%s\"}", root->id);
	files[0] = (ledger_file){ "LEDGER", ledger_text, strlen(ledger_text) };
	files[1] = (ledger_file){ path, data, len };
	opts.message = "root: genesis\n";
	opts.name = "nisc/director";
	opts.email = "director@cymat.invalid";
	opts.sign = sign_commit;
	if (ledger_repo_init(&fx.repo, fx.dir, files, 2, &opts) < 0)
		ck_abort_msg("init: %s", ledger_error_last()->message);
	ck_assert_int_eq(ledger_repo_config_set(fx.repo, "cymat.root", root->id), 0);
	free(data);
	ledger_record_free(root);

	append_free(make(&fx.director, "principal", "2026-01-02T00:00:00Z",
	            testsigner_entry(&fx.manager, "manager", 1), NULL));
	append_free(make(&fx.manager, "principal", "2026-01-03T00:00:00Z",
	            testsigner_entry(&fx.ciso, "ciso", 1), NULL));
	append_free(make(&fx.ciso, "principal", "2026-01-04T00:00:00Z",
	            testsigner_entry(&fx.csirt, "csirt", 1), NULL));
}

static void teardown(void)
{
	char cmd[4200];

	ledger_repo_free(fx.repo);
	ledger_key_free(fx.director.key);
	ledger_key_free(fx.deputy.key);
	ledger_key_free(fx.manager.key);
	ledger_key_free(fx.ciso.key);
	ledger_key_free(fx.csirt.key);
	ledger_key_free(fx.stranger.key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	ck_assert_int_eq(system(cmd), 0);
	free(fx.dir);
}

/* A verification on `threads` threads (0: one per core). */
static ledger_state *load_on(int use_cache, unsigned int threads)
{
	ledger_verify_options opts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_state *st = NULL;

	opts.use_cache = use_cache;
	opts.threads = threads;
	if (ledger_state_load(&st, fx.repo, &opts) < 0)
		ck_abort_msg("verify: %s", ledger_error_last()->message);
	return st;
}

static ledger_state *load(int use_cache)
{
	return load_on(use_cache, 0);
}

/* The finding with this code about this record, or NULL. */
static const ledger_finding *finding(const ledger_state *st, const char *code, const char *id)
{
	const ledger_report *rep = ledger_state_report(st);

	for (size_t i = 0; i < ledger_report_count(rep); i++) {
		const ledger_finding *f = ledger_report_get(rep, i);

		if (strcmp(f->code, code) == 0 && (!id || strcmp(f->id, id) == 0))
			return f;
	}
	return NULL;
}

static size_t errors(const ledger_state *st)
{
	return ledger_report_count_severity(ledger_state_report(st), LEDGER_SEVERITY_ERROR);
}

static void dump(const ledger_state *st)
{
	const ledger_report *rep = ledger_state_report(st);

	for (size_t i = 0; i < ledger_report_count(rep); i++) {
		const ledger_finding *f = ledger_report_get(rep, i);

		fprintf(stderr, "  %s %s %s: %s\n", f->code, f->rule, f->id, f->message);
	}
}

static json_t *note(const char *text)
{
	return json_pack("{s:s}", "text", text);
}

START_TEST(valid_ledger_verifies)
{
	ledger_state *st;
	const ledger_report_stats *stats;

	append_free(make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z", note("hello"), NULL));
	st = load(0);
	if (errors(st))
		dump(st);
	ck_assert_uint_eq(errors(st), 0);
	stats = ledger_report_stats_of(ledger_state_report(st));
	ck_assert_uint_eq(stats->records, 5);
	ck_assert_uint_eq(stats->valid, 5);
	ck_assert_uint_eq(stats->checked, 5);
	ck_assert_str_eq(ledger_state_key_principal(st, fx.csirt.kid, 1800000000), "moe/csirt");
	ck_assert_int_eq(ledger_state_has_role(st, "moe/ciso", "ciso", 1800000000), 1);
	ck_assert_int_eq(ledger_state_has_role(st, "moe/ciso", "manager", 1800000000), 0);
	ledger_state_free(st);
}
END_TEST

START_TEST(tampered_file_is_rejected)
{
	ledger_record *rec = make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z",
	                          note("original"), NULL);
	char path[LEDGER_RECORD_PATH_LEN + 1], *data = NULL, *at;
	size_t len;
	ledger_state *st;

	ck_assert_int_eq(ledger_record_envelope(&data, &len, rec), 0);
	at = strstr(data, "original");
	ck_assert_ptr_nonnull(at);
	memcpy(at, "forgery!", 8);
	ledger_record_path(path, rec->id);
	append_bytes(path, data, len);
	st = load(0);
	/* Same path, other bytes: the id no longer matches the path. */
	ck_assert_ptr_nonnull(finding(st, "wrong-path", rec->id));
	free(data);
	ledger_record_free(rec);
	ledger_state_free(st);
}
END_TEST

START_TEST(forged_signature_is_rejected)
{
	ledger_record *rec = make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z",
	                          note("x"), NULL);
	char path[LEDGER_RECORD_PATH_LEN + 1], *data = NULL;
	size_t len;
	ledger_state *st;

	rec->sig[10] ^= 0x01;
	ck_assert_int_eq(ledger_record_envelope(&data, &len, rec), 0);
	ledger_record_path(path, rec->id);
	append_bytes(path, data, len);
	st = load(0);
	ck_assert_ptr_nonnull(finding(st, "bad-signature", rec->id));
	ck_assert_uint_eq(errors(st), 1);
	free(data);
	ledger_record_free(rec);
	ledger_state_free(st);
}
END_TEST

START_TEST(unknown_and_unbound_keys_are_rejected)
{
	ledger_record *unknown, *unbound;
	testsigner csirt_as_ciso = fx.csirt;
	ledger_state *st;

	unknown = make(&fx.stranger, "principal_note", "2026-01-05T00:00:00Z", note("x"), NULL);
	csirt_as_ciso.principal = "moe/ciso";
	unbound = make(&csirt_as_ciso, "principal_note", "2026-01-05T00:00:00Z", note("x"), NULL);
	append(unknown);
	append(unbound);
	st = load(0);
	ck_assert_ptr_nonnull(finding(st, "unknown-key", unknown->id));
	ck_assert_ptr_nonnull(finding(st, "key-not-bound", unbound->id));
	ledger_record_free(unknown);
	ledger_record_free(unbound);
	ledger_state_free(st);
}
END_TEST

START_TEST(record_before_binding_is_rejected)
{
	ledger_record *early = make(&fx.csirt, "principal_note", "2026-01-03T12:00:00Z",
	                            note("too early"), NULL);
	ledger_state *st;

	append(early);
	st = load(0);
	ck_assert_ptr_nonnull(finding(st, "key-not-bound", early->id));
	ledger_record_free(early);
	ledger_state_free(st);
}
END_TEST

START_TEST(revoked_key_is_rejected_after_effective)
{
	ledger_record *before, *after;
	ledger_state *st;

	before = make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z", note("ok"), NULL);
	append(before);
	append_free(make(&fx.ciso, "revocation", "2026-01-06T00:00:00Z",
	            json_pack("{s:s, s:s, s:s}", "kid", fx.csirt.kid, "reason", "retired",
	                      "effective", "2026-01-06T00:00:00Z"),
	            NULL));
	after = make(&fx.csirt, "principal_note", "2026-01-07T00:00:00Z", note("late"), NULL);
	append(after);
	st = load(0);
	ck_assert_ptr_null(finding(st, "key-revoked", before->id));
	ck_assert_ptr_nonnull(finding(st, "key-revoked", after->id));
	ck_assert_uint_eq(errors(st), 1);
	ledger_record_free(before);
	ledger_record_free(after);
	ledger_state_free(st);
}
END_TEST

/*
 * Times have one-second resolution: a revocation covers the key's records of
 * its effective second, also one made before it; the second before is not.
 */
START_TEST(revocation_covers_its_effective_second)
{
	ledger_record *earlier, *same_second;
	ledger_state *st;

	earlier = make(&fx.csirt, "principal_note", "2026-01-05T23:59:59Z", note("ok"), NULL);
	same_second = make(&fx.csirt, "principal_note", "2026-01-06T00:00:00Z", note("tie"), NULL);
	append(earlier);
	append(same_second);
	append_free(make(&fx.ciso, "revocation", "2026-01-06T00:00:00Z",
	            json_pack("{s:s, s:s, s:s}", "kid", fx.csirt.kid, "reason", "retired",
	                      "effective", "2026-01-06T00:00:00Z"),
	            NULL));
	st = load(0);
	ck_assert_ptr_null(finding(st, "key-revoked", earlier->id));
	ck_assert_ptr_nonnull(finding(st, "key-revoked", same_second->id));
	ck_assert_uint_eq(errors(st), 1);
	ledger_record_free(earlier);
	ledger_record_free(same_second);
	ledger_state_free(st);
}
END_TEST

START_TEST(csirt_cannot_bind_or_revoke_others)
{
	ledger_record *bind, *revoke;
	ledger_state *st;

	bind = make(&fx.csirt, "principal", "2026-01-05T00:00:00Z",
	            testsigner_entry(&fx.stranger, "member", 1), NULL);
	revoke = make(&fx.csirt, "revocation", "2026-01-05T01:00:00Z",
	              json_pack("{s:s, s:s, s:s}", "kid", fx.ciso.kid, "reason", "compromised",
	                        "effective", "2026-01-01T00:00:00Z"),
	              NULL);
	append(bind);
	append(revoke);
	st = load(0);
	ck_assert_ptr_nonnull(finding(st, "not-authorised", bind->id));
	ck_assert_ptr_nonnull(finding(st, "not-authorised", revoke->id));
	/* The CISO's records stay valid: the bogus revocation had no effect. */
	ck_assert_uint_eq(errors(st), 2);
	ledger_record_free(bind);
	ledger_record_free(revoke);
	ledger_state_free(st);
}
END_TEST

/* Receipts and checkpoints speak for the master: only a NISC node signs them. */
START_TEST(only_a_nisc_node_signs_receipts_and_checkpoints)
{
	testsigner node, moe_node;
	ledger_record *good_cp, *good_rc, *bad[4];
	ledger_state *st;
	const char *commit = "0123456789abcdef0123456789abcdef01234567";
	size_t i;

	testsigner_init(&node, "nisc/node");
	testsigner_init(&moe_node, "moe/node");
	append_free(make(&fx.manager, "principal", "2026-01-05T00:00:00Z",
	                 testsigner_entry(&node, "node", 1), NULL));
	append_free(make(&fx.ciso, "principal", "2026-01-05T00:00:00Z",
	                 testsigner_entry(&moe_node, "node", 1), NULL));
	good_cp = make(&node, "checkpoint", "2026-01-06T00:00:00Z",
	               json_pack("{s:s, s:i}", "commit", commit, "records", 5), NULL);
	good_rc = make(&node, "receipt", "2026-01-06T00:00:01Z",
	               json_pack("{s:s, s:s, s:[], s:{s:i, s:i, s:i}}", "inbox", "moe", "commit",
	                         commit, "accepted", "findings", "errors", 0, "warnings", 0,
	                         "pending", 0),
	               NULL);
	/* An agency's CSIRT (review 3 #5, dated far ahead), an agency's node, a NISC manager. */
	bad[0] = make(&fx.csirt, "checkpoint", "2099-01-01T00:00:00Z",
	              json_pack("{s:s, s:i}", "commit", commit, "records", 5), NULL);
	bad[1] = make(&moe_node, "checkpoint", "2026-01-06T00:00:00Z",
	              json_pack("{s:s, s:i}", "commit", commit, "records", 5), NULL);
	bad[2] = make(&fx.manager, "checkpoint", "2026-01-06T00:00:00Z",
	              json_pack("{s:s, s:i}", "commit", commit, "records", 5), NULL);
	bad[3] = make(&fx.csirt, "receipt", "2026-01-06T00:00:00Z",
	              json_pack("{s:s, s:s, s:[], s:{s:i, s:i, s:i}}", "inbox", "moe", "commit",
	                        commit, "accepted", "findings", "errors", 0, "warnings", 0,
	                        "pending", 0),
	              NULL);
	append(good_cp);
	append(good_rc);
	for (i = 0; i < 4; i++)
		append(bad[i]);
	st = load(0);
	if (errors(st) != 4)
		dump(st);
	ck_assert_uint_eq(errors(st), 4);
	for (i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(finding(st, "not-authorised", bad[i]->id));
	ck_assert_ptr_null(finding(st, "not-authorised", good_cp->id));
	ck_assert_ptr_null(finding(st, "not-authorised", good_rc->id));
	for (i = 0; i < 4; i++)
		ledger_record_free(bad[i]);
	ledger_record_free(good_cp);
	ledger_record_free(good_rc);
	ledger_key_free(node.key);
	ledger_key_free(moe_node.key);
	ledger_state_free(st);
}
END_TEST

START_TEST(equivocation_is_reported_and_poisons_the_chain)
{
	testsigner fork = fx.csirt;
	ledger_record *a, *b, *later;
	ledger_state *st;

	a = make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z", note("a"), NULL);
	b = make(&fork, "principal_note", "2026-01-05T00:00:00Z", note("b"), NULL);
	later = make(&fx.csirt, "principal_note", "2026-01-06T00:00:00Z", note("c"), NULL);
	append(a);
	append(b);
	append(later);
	st = load(0);
	ck_assert_ptr_nonnull(finding(st, "equivocation", a->id));
	ck_assert_ptr_nonnull(finding(st, "equivocation", b->id));
	ck_assert_ptr_nonnull(finding(st, "key-compromised", later->id));
	ledger_record_free(a);
	ledger_record_free(b);
	ledger_record_free(later);
	ledger_state_free(st);
}
END_TEST

START_TEST(gaps_and_missing_refs_are_pending)
{
	testsigner ahead = fx.csirt;
	ledger_record *skipped, *gap, *dangling, *absent;
	json_t *refs;
	ledger_state *st;

	skipped = make(&ahead, "principal_note", "2026-01-05T00:00:00Z", note("never sent"), NULL);
	gap = make(&ahead, "principal_note", "2026-01-05T00:00:01Z", note("after gap"), NULL);
	absent = make(&fx.ciso, "principal_note", "2026-01-05T00:00:00Z", note("absent"), NULL);
	refs = json_pack("[s]", absent->id);
	dangling = make(&fx.ciso, "principal_note", "2026-01-05T00:00:02Z", note("dangling"), refs);
	json_decref(refs);
	append(gap);
	append(dangling);
	st = load(0);
	ck_assert_uint_eq(errors(st), 0);
	ck_assert_ptr_nonnull(finding(st, "chain-gap", gap->id));
	ck_assert_ptr_nonnull(finding(st, "missing-ref", dangling->id));
	ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->pending, 2);
	ledger_state_free(st);
	/* When the missing records arrive, both are judged valid. */
	append(skipped);
	append(absent);
	st = load(0);
	ck_assert_uint_eq(ledger_report_count(ledger_state_report(st)), 0);
	ledger_state_free(st);
	ledger_record_free(skipped);
	ledger_record_free(gap);
	ledger_record_free(absent);
	ledger_record_free(dangling);
}
END_TEST

/* Findings as one comparable string. */
static char *findings_text(const ledger_state *st)
{
	const ledger_report *rep = ledger_state_report(st);
	char *text = strdup(""), *next;

	for (size_t i = 0; i < ledger_report_count(rep); i++) {
		const ledger_finding *f = ledger_report_get(rep, i);

		ck_assert_int_ge(asprintf(&next, "%s%s %s %s\n", text, f->code, f->id, f->message), 0);
		free(text);
		text = next;
	}
	return text;
}

START_TEST(incremental_verification_matches_full)
{
	ledger_state *st;
	char *full, *incremental;

	append_free(make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z", note("a"), NULL));
	st = load(1);
	ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->checked, 5);
	ledger_state_free(st);
	/* Nothing new: nothing re-checked. */
	st = load(1);
	ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->checked, 0);
	ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->valid, 5);
	ledger_state_free(st);
	/* Two new records, one of them bad: only they are checked, the verdicts match a full run. */
	append_free(make(&fx.csirt, "principal_note", "2026-01-06T00:00:00Z", note("b"), NULL));
	append_free(make(&fx.stranger, "principal_note", "2026-01-06T00:00:00Z", note("c"), NULL));
	st = load(1);
	ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->checked, 1);
	incremental = findings_text(st);
	ledger_state_free(st);
	st = load(0);
	full = findings_text(st);
	ck_assert_str_eq(incremental, full);
	ck_assert_ptr_nonnull(strstr(full, "unknown-key"));
	ledger_state_free(st);
	free(full);
	free(incremental);
}
END_TEST

/*
 * Many new records in one commit are checked in chunks while they are
 * read, some before the record that binds their key: the verdicts still
 * match a full run's, and every new signature is checked.
 */
START_TEST(incremental_run_of_one_large_commit_matches_full)
{
	enum { NOTES = 300 };
	ledger_commit_options opts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_file files[2 * NOTES + 1];
	char paths[2 * NOTES + 1][LEDGER_RECORD_PATH_LEN + 1], commit[41], text[32];
	char *full, *incremental;
	ledger_state *st;
	size_t n = 0;

	st = load(1); /* fills the cache */
	ledger_state_free(st);
	for (int i = 0; i < NOTES; i++) {
		ledger_record *rec;

		snprintf(text, sizeof(text), "csirt %d", i);
		rec = make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z", note(text), NULL);
		ck_assert_int_eq(ledger_record_envelope((char **)&files[n].data, &files[n].len, rec), 0);
		ledger_record_path(paths[n], rec->id);
		files[n].path = paths[n];
		n++;
		ledger_record_free(rec);
	}
	{
		ledger_record *rec = make(&fx.ciso, "principal", "2026-01-05T00:00:00Z",
		                          testsigner_entry(&fx.stranger, "csirt", 1), NULL);

		ck_assert_int_eq(ledger_record_envelope((char **)&files[n].data, &files[n].len, rec), 0);
		ledger_record_path(paths[n], rec->id);
		files[n].path = paths[n];
		n++;
		ledger_record_free(rec);
	}
	for (int i = 0; i < NOTES; i++) {
		ledger_record *rec;

		snprintf(text, sizeof(text), "stranger %d", i);
		rec = make(&fx.stranger, "principal_note", "2026-01-06T00:00:00Z", note(text), NULL);
		ck_assert_int_eq(ledger_record_envelope((char **)&files[n].data, &files[n].len, rec), 0);
		/* One of them altered after signing. */
		if (i == NOTES / 2)
			((char *)files[n].data)[strstr(files[n].data, "stranger ") - files[n].data] = 'S';
		ledger_record_path(paths[n], rec->id);
		files[n].path = paths[n];
		n++;
		ledger_record_free(rec);
	}
	opts.message = "test: batch\n";
	opts.name = "test";
	opts.email = "test@cymat.invalid";
	opts.sign = sign_commit;
	if (ledger_repo_append(commit, fx.repo, files, n, &opts) < 0)
		ck_abort_msg("append: %s", ledger_error_last()->message);
	st = load(1);
	/* Every signature but the altered record's, whose content fails first. */
	ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->checked, n - 1);
	ck_assert_uint_gt(ledger_report_stats_of(ledger_state_report(st))->invalid, 0);
	incremental = findings_text(st);
	ledger_state_free(st);
	st = load(0);
	full = findings_text(st);
	ck_assert_str_eq(incremental, full);
	/* The altered record is refused by its content; the key's next record waits for it. */
	ck_assert_ptr_nonnull(strstr(full, "wrong-path"));
	ck_assert_ptr_nonnull(strstr(full, "chain-gap"));
	ledger_state_free(st);
	free(full);
	free(incremental);
	for (size_t i = 0; i < n; i++)
		free((char *)files[i].data);
}
END_TEST

/* Size of the verification cache file, 0 when there is none. */
static off_t cache_size(void)
{
	char path[4200];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/cymat/verified", ledger_repo_git_dir(fx.repo));
	return stat(path, &sb) == 0 ? sb.st_size : 0;
}

/* Cut the cache file to `size` bytes, or flip the byte at `flip` (when not negative). */
static void cache_damage(off_t size, off_t flip)
{
	char path[4200];
	FILE *f;
	int c;

	snprintf(path, sizeof(path), "%s/cymat/verified", ledger_repo_git_dir(fx.repo));
	if (size >= 0)
		ck_assert_int_eq(truncate(path, size), 0);
	if (flip < 0)
		return;
	f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseeko(f, flip, SEEK_SET), 0);
	c = fgetc(f);
	ck_assert_int_eq(fseeko(f, flip, SEEK_SET), 0);
	fputc(c ^ 0x55, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Findings of a cached run equal a full run's; *checked: what the cached run checked. */
static void cached_matches_full(size_t *checked)
{
	ledger_state *st = load(1);
	char *cached = findings_text(st), *full;

	*checked = ledger_report_stats_of(ledger_state_report(st))->checked;
	ledger_state_free(st);
	st = load(0);
	full = findings_text(st);
	ck_assert_str_eq(cached, full);
	ledger_state_free(st);
	free(cached);
	free(full);
}

/* Where the cache file holds record `id` (its raw bytes), or -1. */
static long cache_offset_of(const char *cache, size_t len, const char *id)
{
	uint8_t raw[32];
	const char *at;

	ck_assert_int_eq(ledger_unhex(raw, sizeof(raw), id), 0);
	at = memmem(cache, len, raw, sizeof(raw));
	return at ? (long)(at - cache) : -1;
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * A full run reads the files in the order the commits added them and puts
 * them back in path order (records/xx/yy/<id>.json: id order), the order of
 * the cache file's entries.  One record per signer, so that none names
 * another as its prev (the cache holds a prev's bytes too).
 */
START_TEST(full_run_caches_entries_in_path_order)
{
	testsigner *signers[] = { &fx.director, &fx.deputy, &fx.manager,
	                          &fx.ciso,     &fx.csirt,  &fx.stranger };
	enum { NOTES = sizeof(signers) / sizeof(signers[0]) };
	char ids[NOTES][LEDGER_HEX_ID_LEN + 1], path[4200], *cache;
	size_t len;
	long last = -1;

	for (size_t i = 0; i < NOTES; i++) {
		ledger_record *rec = make(signers[i], "principal_note", "2026-01-05T00:00:00Z",
		                          note("in commit order"), NULL);

		snprintf(ids[i], sizeof(ids[i]), "%s", rec->id);
		append_free(rec); /* a commit each: in commit order, not in path order */
	}
	ledger_state_free(load(1));
	snprintf(path, sizeof(path), "%s/cymat/verified", ledger_repo_git_dir(fx.repo));
	cache = testutil_slurp(path, &len);
	ck_assert_ptr_nonnull(cache);
	qsort(ids, NOTES, sizeof(ids[0]), cmp_ids);
	for (size_t i = 0; i < NOTES; i++) {
		long at = cache_offset_of(cache, len, ids[i]);

		ck_assert_msg(at > last, "record %s is not cached in path order", ids[i]);
		last = at;
	}
	free(cache);
}
END_TEST

/*
 * New records are appended to the cache as segments; a torn or damaged
 * segment costs checking its records again, never a different answer.
 */
START_TEST(cache_segments_survive_tearing)
{
	ledger_state *st;
	off_t base, one, two;
	size_t checked;

	append_free(make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z", note("a"), NULL));
	ledger_state_free(load(1));
	base = cache_size();
	ck_assert_int_gt(base, 0);
	/* one new record: a segment after the whole file, not a new file */
	append_free(make(&fx.csirt, "principal_note", "2026-01-06T00:00:00Z", note("b"), NULL));
	cached_matches_full(&checked);
	ck_assert_uint_eq(checked, 1);
	one = cache_size();
	ck_assert_int_gt(one, base);
	ck_assert_int_lt(one - base, base);
	/* a record whose key is unknown yet, then its key: the change of its state is kept */
	append_free(make(&fx.stranger, "principal_note", "2026-01-07T00:00:00Z", note("c"), NULL));
	cached_matches_full(&checked);
	ck_assert_uint_eq(checked, 0);
	append_free(make(&fx.ciso, "principal", "2026-01-08T00:00:00Z",
	                 testsigner_entry(&fx.stranger, "csirt", 1), NULL));
	cached_matches_full(&checked);
	ck_assert_uint_eq(checked, 2);
	two = cache_size();
	ck_assert_int_gt(two, one);
	cached_matches_full(&checked);
	ck_assert_uint_eq(checked, 0);
	/* torn: the last segment loses its end; its records are checked again */
	cache_damage(two - 3, -1);
	cached_matches_full(&checked);
	ck_assert_uint_eq(checked, 2);
	/* damaged: a byte of the last segment flipped fails its checksum */
	cache_damage(-1, cache_size() - 10);
	append_free(make(&fx.csirt, "principal_note", "2026-01-09T00:00:00Z", note("d"), NULL));
	cached_matches_full(&checked);
	ck_assert_uint_eq(checked, 3);
	/* the base cut short: a full verification */
	cache_damage(base / 2, -1);
	st = load(1);
	ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->checked,
	                  ledger_report_stats_of(ledger_state_report(st))->records);
	ledger_state_free(st);
	cached_matches_full(&checked);
	ck_assert_uint_eq(checked, 0);
}
END_TEST

/*
 * The base's table of where its chunks of entries start (the halves two
 * threads decode) is checked: a wrong offset costs a full verification.
 */
START_TEST(cache_chunk_table_is_checked)
{
	/* magic, tip, root, schemas checked, commit findings, count, chunks: then the table */
	const off_t findings_at = 8 + 40 + 64 + 4, table_at = findings_at + 4 + 4 + 4;
	ledger_state *st;
	uint32_t findings = 1;
	char path[4200];
	size_t checked;
	FILE *f;

	ledger_state_free(load(1));
	snprintf(path, sizeof(path), "%s/cymat/verified", ledger_repo_git_dir(fx.repo));
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseeko(f, findings_at, SEEK_SET), 0);
	ck_assert_uint_eq(fread(&findings, sizeof(findings), 1, f), 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_eq(findings, 0); /* so that the table is where the test looks */
	cached_matches_full(&checked);
	ck_assert_uint_eq(checked, 0);
	/* the first chunk's offset, one off */
	cache_damage(-1, table_at);
	st = load(1);
	ck_assert_uint_gt(ledger_report_stats_of(ledger_state_report(st))->records, 0);
	ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->checked,
	                  ledger_report_stats_of(ledger_state_report(st))->records);
	ledger_state_free(st);
	cached_matches_full(&checked);
	ck_assert_uint_eq(checked, 0);
}
END_TEST

START_TEST(judge_refuses_before_writing)
{
	ledger_state *st = load(0);
	ledger_report *verdict = NULL;
	ledger_record *ok, *bad;
	testsigner csirt = fx.csirt;

	ok = make(&csirt, "principal_note", "2026-01-05T00:00:00Z", note("fine"), NULL);
	ck_assert_int_eq(ledger_state_judge(&verdict, st, ok), 0);
	ck_assert_uint_eq(ledger_report_count(verdict), 0);
	ledger_report_free(verdict);
	csirt = fx.csirt; /* the same seq again: judged alone, each is the key's first record */
	bad = make(&csirt, "principal", "2026-01-05T00:00:01Z",
	           testsigner_entry(&fx.stranger, "ciso", 1), NULL);
	ck_assert_int_eq(ledger_state_judge(&verdict, st, bad), 0);
	ck_assert_uint_eq(ledger_report_count_severity(verdict, LEDGER_SEVERITY_ERROR), 1);
	ck_assert_str_eq(ledger_report_get(verdict, 0)->code, "not-authorised");
	ledger_report_free(verdict);
	ledger_record_free(ok);
	ledger_record_free(bad);
	ledger_state_free(st);
}
END_TEST

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A report's findings about record `id`, one sorted line each. */
static char *findings_about(const ledger_report *rep, const char *id)
{
	char **lines = calloc(ledger_report_count(rep) + 1, sizeof(*lines));
	char *text = strdup(""), *next;
	size_t n = 0;

	ck_assert_ptr_nonnull(lines);
	for (size_t i = 0; i < ledger_report_count(rep); i++) {
		const ledger_finding *f = ledger_report_get(rep, i);

		if (strcmp(f->id, id) == 0)
			ck_assert_int_ge(asprintf(&lines[n++], "%d %s %s %s %s\n", (int)f->severity,
			                          f->code, f->rule, f->path, f->message), 0);
	}
	qsort(lines, n, sizeof(*lines), cmp_lines);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_ge(asprintf(&next, "%s%s", text, lines[i]), 0);
		free(text);
		free(lines[i]);
		text = next;
	}
	free(lines);
	return text;
}

/*
 * What the judge says of a record before it is written is what a full
 * verification says of it once it is: valid, unknown or unbound keys,
 * gaps, a broken chain, missing references, a revoked key, a checkpoint
 * by the wrong signer, an equivocation, trust records.
 */
START_TEST(judge_matches_verification_after_writing)
{
	testsigner manager_as_ciso = fx.manager, ahead, fork, wrong_prev;
	ledger_record *recs[16], *absent;
	ledger_state *st;
	ledger_report *verdict;
	json_t *refs;
	size_t n = 0;

	manager_as_ciso.principal = "moe/ciso";
	recs[n++] = make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z", note("fine"), NULL);
	recs[n++] = make(&fx.stranger, "principal_note", "2026-01-05T00:00:01Z", note("x"), NULL);
	recs[n++] = make(&manager_as_ciso, "principal_note", "2026-01-05T00:00:02Z", note("x"),
	                 NULL);
	ahead = fx.csirt;
	ahead.seq += 5;
	recs[n++] = make(&ahead, "principal_note", "2026-01-05T00:00:03Z", note("gap"), NULL);
	/* The chain goes on after the record with the wrong prev. */
	wrong_prev = fx.csirt;
	memcpy(wrong_prev.prev, fx.root_id, 65);
	recs[n++] = make(&wrong_prev, "principal_note", "2026-01-05T00:00:04Z", note("b"), NULL);
	testsigner_advance(&fx.csirt, recs[n - 1]);
	absent = make(&fx.ciso, "principal_note", "2026-01-05T00:00:05Z", note("absent"), NULL);
	refs = json_pack("[s]", absent->id);
	recs[n++] = make(&fx.ciso, "principal_note", "2026-01-05T00:00:06Z", note("refs"), refs);
	json_decref(refs);
	recs[n++] = make(&fx.csirt, "principal_note", "2026-01-03T00:00:00Z", note("early"), NULL);
	recs[n++] = make(&fx.csirt, "checkpoint", "2026-01-05T00:00:07Z",
	                 json_pack("{s:s, s:i}", "commit",
	                           "0123456789abcdef0123456789abcdef01234567", "records", 5),
	                 NULL);
	fork = fx.csirt;
	fork.seq--;
	recs[n++] = make(&fork, "principal_note", "2026-01-05T00:00:08Z", note("fork"), NULL);
	recs[n++] = make(&fx.ciso, "revocation", "2026-01-05T00:00:09Z",
	                 json_pack("{s:s, s:s, s:s}", "kid", fx.csirt.kid, "reason", "retired",
	                           "effective", "2026-01-05T00:00:10Z"),
	                 NULL);
	recs[n++] = make(&fx.csirt, "principal_note", "2026-01-05T00:00:11Z", note("late"), NULL);
	recs[n++] = make(&fx.ciso, "principal", "2026-01-05T00:00:12Z",
	                 testsigner_entry(&fx.stranger, "member", 1), NULL);
	for (size_t i = 0; i < n; i++) {
		char *before, *after;

		st = load(1);
		ck_assert_int_eq(ledger_state_judge(&verdict, st, recs[i]), 0);
		before = findings_about(verdict, recs[i]->id);
		ledger_report_free(verdict);
		ledger_state_free(st);
		append(recs[i]);
		st = load(0);
		after = findings_about(ledger_state_report(st), recs[i]->id);
		ck_assert_msg(strcmp(before, after) == 0, "record %zu judged\n%s, verified\n%s", i,
		              before, after);
		free(before);
		free(after);
		ledger_state_free(st);
	}
	for (size_t i = 0; i < n; i++)
		ledger_record_free(recs[i]);
	ledger_record_free(absent);
}
END_TEST

/*
 * Records appended together are judged as the verifier judges them once
 * all are written: a chain through the batch has no gap, a reference to
 * another record of the batch is found, a trust record of the batch binds
 * or revokes for the others; a genuine gap is still pending.
 */
START_TEST(judge_batch_matches_verification_after_writing)
{
	testsigner ahead;
	ledger_record *recs[4][4];
	ledger_report *verdicts[4];
	ledger_state *st;
	json_t *refs;
	size_t counts[4], b, i;

	/* a chain of three, the third naming the second */
	recs[0][0] = make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z", note("a"), NULL);
	recs[0][1] = make(&fx.csirt, "principal_note", "2026-01-05T00:00:01Z", note("b"), NULL);
	refs = json_pack("[s]", recs[0][1]->id);
	recs[0][2] = make(&fx.csirt, "principal_note", "2026-01-05T00:00:02Z", note("c"), refs);
	json_decref(refs);
	counts[0] = 3;
	/* a binding, then a record naming it (the whole-ledger way: a trust record) */
	recs[1][0] = make(&fx.ciso, "principal", "2026-01-05T00:00:03Z",
	                  testsigner_entry(&fx.stranger, "member", 1), NULL);
	refs = json_pack("[s]", recs[1][0]->id);
	recs[1][1] = make(&fx.ciso, "principal_note", "2026-01-05T00:00:04Z", note("d"), refs);
	json_decref(refs);
	counts[1] = 2;
	/* a gap before the batch: only its first record waits */
	ahead = fx.csirt;
	ahead.seq += 5;
	recs[2][0] = make(&ahead, "principal_note", "2026-01-05T00:00:05Z", note("e"), NULL);
	recs[2][1] = make(&ahead, "principal_note", "2026-01-05T00:00:06Z", note("f"), NULL);
	counts[2] = 2;
	/* a record, then its key's revocation backdated before it */
	recs[3][0] = make(&fx.csirt, "principal_note", "2026-01-05T00:00:08Z", note("g"), NULL);
	recs[3][1] = make(&fx.csirt, "revocation", "2026-01-05T00:00:09Z",
	                  json_pack("{s:s, s:s, s:s}", "kid", fx.csirt.kid, "reason", "retired",
	                            "effective", "2026-01-05T00:00:07Z"),
	                  NULL);
	counts[3] = 2;
	for (b = 0; b < 4; b++) {
		size_t findings = 0;
		char *before[4], *after;

		st = load(1);
		ck_assert_int_eq(ledger_state_judge_batch(verdicts, st,
		                                          (const ledger_record *const *)recs[b],
		                                          counts[b]),
		                 0);
		for (i = 0; i < counts[b]; i++) {
			before[i] = findings_about(verdicts[i], recs[b][i]->id);
			findings += ledger_report_count(verdicts[i]);
			ledger_report_free(verdicts[i]);
		}
		ledger_state_free(st);
		/* the chain and the binding are clean; the gap and the revocation are not */
		if (b < 2)
			ck_assert_uint_eq(findings, 0);
		else
			ck_assert_uint_gt(findings, 0);
		for (i = 0; i < counts[b]; i++)
			append(recs[b][i]);
		st = load(0);
		for (i = 0; i < counts[b]; i++) {
			after = findings_about(ledger_state_report(st), recs[b][i]->id);
			ck_assert_msg(strcmp(before[i], after) == 0,
			              "batch %zu record %zu judged\n%s, verified\n%s", b, i, before[i],
			              after);
			free(before[i]);
			free(after);
		}
		ledger_state_free(st);
	}
	for (b = 0; b < 4; b++)
		for (i = 0; i < counts[b]; i++)
			ledger_record_free(recs[b][i]);
}
END_TEST

START_TEST(commit_signatures_are_checked)
{
	ledger_state *st;
	const ledger_report *rep;
	size_t unsigned_commits = 0, bad = 0, strangers = 0;

	commit_signing = SIGN_NONE;
	append_free(make(&fx.csirt, "principal_note", "2026-01-05T00:00:00Z", note("a"), NULL));
	commit_signing = SIGN_STRANGER;
	append_free(make(&fx.csirt, "principal_note", "2026-01-05T00:00:01Z", note("b"), NULL));
	commit_signing = SIGN_WRONG_DATA;
	append_free(make(&fx.csirt, "principal_note", "2026-01-05T00:00:02Z", note("c"), NULL));
	st = load(1);
	rep = ledger_state_report(st);
	for (size_t i = 0; i < ledger_report_count(rep); i++) {
		const ledger_finding *f = ledger_report_get(rep, i);

		ck_assert_int_eq(strlen(f->commit), 40);
		unsigned_commits += strcmp(f->code, "commit-unsigned") == 0;
		strangers += strcmp(f->code, "commit-unknown-signer") == 0;
		bad += strcmp(f->code, "commit-bad-signature") == 0 &&
		       f->severity == LEDGER_SEVERITY_ERROR;
	}
	ck_assert_uint_eq(unsigned_commits, 1);
	ck_assert_uint_eq(strangers, 1);
	ck_assert_uint_eq(bad, 1);
	ck_assert_uint_eq(ledger_report_count(rep), 3);
	ledger_state_free(st);
	/* Old commits are not walked again, but what was found of them is still reported. */
	st = load(1);
	ck_assert_uint_eq(ledger_report_count(ledger_state_report(st)), 3);
	ck_assert_uint_eq(errors(st), 1);
	ledger_state_free(st);
}
END_TEST

/* Files enough that reading them overlaps the history check, which runs on a thread of its own. */
#define MANY_FILES 1500

/* One commit of `n` files that are no records (each a malformed finding), seeds from `first`. */
static void append_many(uint64_t first, size_t n)
{
	ledger_commit_options opts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_file *files = calloc(n, sizeof(*files));
	char (*paths)[96] = calloc(n, sizeof(*paths));
	char commit[41];

	ck_assert_ptr_nonnull(files);
	ck_assert_ptr_nonnull(paths);
	for (size_t i = 0; i < n; i++) {
		char *data;

		testutil_record_path(paths[i], first + i);
		ck_assert_int_ge(asprintf(&data, "{\"n\":%llu}", (unsigned long long)(first + i)), 0);
		files[i] = (ledger_file){ paths[i], data, strlen(data) };
	}
	opts.message = "test: many files\n";
	opts.name = "test";
	opts.email = "test@cymat.invalid";
	opts.sign = sign_commit;
	if (ledger_repo_append(commit, fx.repo, files, n, &opts) < 0)
		ck_abort_msg("append: %s", ledger_error_last()->message);
	for (size_t i = 0; i < n; i++)
		free((char *)files[i].data);
	free(files);
	free(paths);
}

/* How many findings have this code and path (and commit, when given). */
static size_t count_findings(const ledger_state *st, const char *code, const char *path,
                             const char *commit)
{
	const ledger_report *rep = ledger_state_report(st);
	size_t n = 0;

	for (size_t i = 0; i < ledger_report_count(rep); i++) {
		const ledger_finding *f = ledger_report_get(rep, i);

		n += strcmp(f->code, code) == 0 && strcmp(f->path, path) == 0 &&
		     (!commit || strcmp(f->commit, commit) == 0);
	}
	return n;
}

/* Findings that a file is no record: one per file of append_many still in the tree. */
static size_t count_malformed(const ledger_state *st)
{
	const ledger_report *rep = ledger_state_report(st);
	size_t n = 0;

	for (size_t i = 0; i < ledger_report_count(rep); i++)
		n += strcmp(ledger_report_get(rep, i)->rule, "FORMAT-2") == 0;
	return n;
}

START_TEST(history_findings_while_reading)
{
	const char *git_dir = ledger_repo_git_dir(fx.repo);
	char modified[96], deleted[96], *blob, *commit;
	size_t first_count = 0;

	for (int i = 0; i < 3; i++)
		append_many(1 + (uint64_t)i * MANY_FILES, MANY_FILES);
	/*
	 * A last commit changes a file of the first and deletes one of the
	 * second.  Packed: libgit2 1.5's git_commit_extract_signature reads past
	 * the end of a loose unsigned commit (ASan), a bug outside this test.
	 */
	testutil_record_path(modified, 1);
	testutil_record_path(deleted, MANY_FILES + 1);
	blob = testshell_out("printf tampered | git --git-dir='%s' hash-object -w --stdin", git_dir);
	commit = testshell_out("export GIT_DIR='%s' GIT_INDEX_FILE='%s/plumb.index'; "
	                       "git read-tree main && git update-index --cacheinfo 100644,%s,%s && "
	                       "printf '0 %%040d\\t%%s\\n' 0 %s | git update-index --index-info && "
	                       "t=$(git write-tree) && "
	                       "c=$(git commit-tree $t -p main -m plumbed) && "
	                       "git update-ref refs/heads/main $c && git repack -q -a -d && echo $c",
	                       git_dir, git_dir, blob, modified, deleted);
	/* The history's findings come in while files are read: every run, on any number of threads. */
	for (int run = 0; run < 4; run++) {
		ledger_verify_options opts = LEDGER_VERIFY_OPTIONS_INIT;
		const ledger_report_stats *stats;
		ledger_state *st = NULL;

		opts.use_cache = 0;
		opts.threads = run % 2 ? 1 : 0;
		if (ledger_state_load(&st, fx.repo, &opts) < 0)
			ck_abort_msg("verify: %s", ledger_error_last()->message);
		ck_assert_uint_eq(count_findings(st, "record-modified", modified, commit), 1);
		ck_assert_uint_eq(count_findings(st, "record-deleted", deleted, commit), 1);
		stats = ledger_report_stats_of(ledger_state_report(st));
		ck_assert_uint_eq(stats->records, 4 + 3 * MANY_FILES - 1);
		ck_assert_uint_eq(stats->commits, 1 + 3 + 3 + 1);
		if (run == 0)
			first_count = count_malformed(st);
		ck_assert_uint_eq(first_count, 3 * MANY_FILES - 1);
		ck_assert_uint_eq(count_malformed(st), first_count);
		ledger_state_free(st);
	}
	free(blob);
	free(commit);
}
END_TEST

/*
 * A run without the cache, over a commit that adds a file outside records/
 * and an executable one inside: both are found, with their commit, and the
 * executable file, which the history check does not note, is read all the
 * same, as a walk of the tip's trees lists it.
 */
START_TEST(foreign_and_executable_files_in_a_full_run)
{
	const char *git_dir = ledger_repo_git_dir(fx.repo);
	char executable[96], *commit;

	append_many(1, MANY_FILES);
	testutil_record_path(executable, 2 * MANY_FILES + 1);
	commit = testshell_out("export GIT_DIR='%s' GIT_INDEX_FILE='%s/plumb.index'; "
	                       "git read-tree main && b=$(printf junk | git hash-object -w --stdin) && "
	                       "git update-index --add --cacheinfo 100644,$b,junk.txt "
	                       "--cacheinfo 100755,$b,%s && "
	                       "t=$(git write-tree) && "
	                       "c=$(git commit-tree $t -p main -m plumbed) && "
	                       "git update-ref refs/heads/main $c && git repack -q -a -d && echo $c",
	                       git_dir, git_dir, executable);
	append_many(1 + MANY_FILES, MANY_FILES);
	for (int run = 0; run < 2; run++) {
		ledger_state *st = load_on(0, run ? 1 : 0);

		ck_assert_uint_eq(count_findings(st, "foreign-file", "junk.txt", commit), 1);
		ck_assert_uint_eq(count_findings(st, "bad-mode", executable, commit), 1);
		ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->records,
		                  4 + 2 * MANY_FILES + 1);
		ledger_state_free(st);
	}
	free(commit);
}
END_TEST

/*
 * Two branches add the same file, and a merge joins them: the tip holds it
 * once, and so does a run without the cache, though the history check
 * notes it on both branches.
 */
START_TEST(file_added_on_both_sides_of_a_merge_counts_once)
{
	const char *git_dir = ledger_repo_git_dir(fx.repo);
	char path[96], *commit;

	testutil_record_path(path, 1);
	commit = testshell_out("export GIT_DIR='%s' GIT_INDEX_FILE='%s/plumb.index'; "
	                       "git read-tree main && b=$(printf same | git hash-object -w --stdin) && "
	                       "git update-index --add --cacheinfo 100644,$b,%s && "
	                       "t=$(git write-tree) && "
	                       "x=$(git commit-tree $t -p main -m left) && "
	                       "y=$(git commit-tree $t -p main -m right) && "
	                       "m=$(git commit-tree $t -p $x -p $y -m merge) && "
	                       "git update-ref refs/heads/main $m && git repack -q -a -d && echo $m",
	                       git_dir, git_dir, path);
	for (int run = 0; run < 2; run++) {
		ledger_state *st = load_on(0, run ? 1 : 0);

		ck_assert_ptr_null(finding(st, "merge-not-union", NULL));
		ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->records, 4 + 1);
		ledger_state_free(st);
	}
	free(commit);
}
END_TEST

static int path_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * A run without the cache reads the files as the history check notes them,
 * commit by commit, and puts them back in path order (store_order.h): the
 * order every later step and the cache see.  The cache stores the path of
 * a file that is no record, in entry order: each must come after the one
 * before it in path order.
 */
START_TEST(files_of_every_commit_in_path_order)
{
	char (*paths)[96] = calloc(2 * MANY_FILES, sizeof(*paths)), *cache_file, *cache;
	const char *at, *last = NULL;
	size_t len;

	ck_assert_ptr_nonnull(paths);
	append_many(1, MANY_FILES);
	append_many(1 + MANY_FILES, MANY_FILES);
	ledger_state_free(load(1));
	ck_assert_int_ge(asprintf(&cache_file, "%s/cymat/verified", ledger_repo_git_dir(fx.repo)), 0);
	cache = testutil_slurp(cache_file, &len);
	ck_assert_ptr_nonnull(cache);
	for (size_t i = 0; i < 2 * MANY_FILES; i++)
		testutil_record_path(paths[i], 1 + i);
	qsort(paths, 2 * MANY_FILES, sizeof(*paths), path_cmp);
	for (size_t i = 0; i < 2 * MANY_FILES; i++) {
		at = memmem(cache, len, paths[i], strlen(paths[i]));
		ck_assert_msg(at != NULL, "%s is not in the cache", paths[i]);
		ck_assert_msg(!last || at > last, "%s comes before %s", paths[i], paths[i - 1]);
		last = at;
	}
	free(cache);
	free(cache_file);
	free(paths);
}
END_TEST

/*
 * The path order a run without the cache puts the files back in is a walk
 * of the tip's trees (store_order.h): a tree whose entries git would not
 * write in this order (records/zz/zz/ with b.json before a.json, made by
 * hand) is walked as it is, b.json first, as when the files were listed.
 */
START_TEST(tree_out_of_order_is_walked_as_it_is)
{
	const char *git_dir = ledger_repo_git_dir(fx.repo);
	const char *names[2] = { "b.json", "a.json" };
	char *leaf_file, *cache_file, *cache, *leaf, *commit, *a, *b;
	size_t len;
	FILE *f;

	ck_assert_int_ge(asprintf(&leaf_file, "%s/leaf.tree", git_dir), 0);
	f = fopen(leaf_file, "wb");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 2; i++) {
		char *hex = testshell_out("printf '{\"%c\":1}' | git --git-dir='%s' hash-object -w --stdin",
		                          names[i][0], git_dir);
		uint8_t raw[20];

		ck_assert_int_eq(ledger_unhex(raw, sizeof(raw), hex), 0);
		fprintf(f, "100644 %s", names[i]);
		fputc('\0', f);
		fwrite(raw, 1, sizeof(raw), f);
		free(hex);
	}
	ck_assert_int_eq(fclose(f), 0);
	leaf = testshell_out("git --git-dir='%s' hash-object -t tree --literally -w '%s'", git_dir,
	                     leaf_file);
	commit = testshell_out("export GIT_DIR='%s'; "
	                       "z=$(printf '040000 tree %%s\tzz\n' %s | git mktree) && "
	                       "r=$( (git ls-tree main:records; printf '040000 tree %%s\tzz\n' $z) "
	                       "| git mktree) && "
	                       "t=$( (git ls-tree main | grep -v '\trecords$'; "
	                       "printf '040000 tree %%s\trecords\n' $r) | git mktree) && "
	                       "c=$(git commit-tree $t -p main -m plumbed) && "
	                       "git update-ref refs/heads/main $c && git repack -q -a -d && echo $c",
	                       git_dir, leaf);
	ledger_state_free(load(1));
	ck_assert_int_ge(asprintf(&cache_file, "%s/cymat/verified", git_dir), 0);
	cache = testutil_slurp(cache_file, &len);
	ck_assert_ptr_nonnull(cache);
	a = memmem(cache, len, "records/zz/zz/a.json", strlen("records/zz/zz/a.json"));
	b = memmem(cache, len, "records/zz/zz/b.json", strlen("records/zz/zz/b.json"));
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_msg(b < a, "records/zz/zz/a.json comes before b.json");
	free(cache);
	free(cache_file);
	free(commit);
	free(leaf);
	free(leaf_file);
}
END_TEST

/*
 * A run without the cache reads the files as the history check notes them,
 * before it knows they are the tip's (store_order.h).  Here a last commit
 * deletes a principal record: the run must forget the files it read and
 * the key that record brought, and judge the tip's files alone, as a walk
 * of the tip's trees gives them: the note its key signs has an unknown key.
 * The check ends long before reading does, so that most runs have checked
 * the first chunk's signatures (and collected its keys) before they forget.
 */
START_TEST(deleted_principal_lends_no_key)
{
	const char *git_dir = ledger_repo_git_dir(fx.repo);
	ledger_record *binding, *signed_note;
	char path[LEDGER_RECORD_PATH_LEN + 1], *commit;

	binding = make(&fx.ciso, "principal", "2026-01-05T00:00:00Z",
	               testsigner_entry(&fx.stranger, "csirt", 1), NULL);
	signed_note = make(&fx.stranger, "principal_note", "2026-01-06T00:00:00Z", note("x"), NULL);
	append(binding);
	append(signed_note);
	for (int i = 0; i < 3; i++)
		append_many(1 + (uint64_t)i * MANY_FILES, MANY_FILES);
	ledger_record_path(path, binding->id);
	commit = testshell_out("export GIT_DIR='%s' GIT_INDEX_FILE='%s/plumb.index'; "
	                       "git read-tree main && "
	                       "printf '0 %%040d\\t%%s\\n' 0 %s | git update-index --index-info && "
	                       "t=$(git write-tree) && "
	                       "c=$(git commit-tree $t -p main -m plumbed) && "
	                       "git update-ref refs/heads/main $c && git repack -q -a -d && echo $c",
	                       git_dir, git_dir, path);
	for (int run = 0; run < 4; run++) {
		ledger_verify_options opts = LEDGER_VERIFY_OPTIONS_INIT;
		ledger_state *st = NULL;

		opts.use_cache = 0;
		opts.threads = run % 2 ? 1 : 0;
		if (ledger_state_load(&st, fx.repo, &opts) < 0)
			ck_abort_msg("verify: %s", ledger_error_last()->message);
		ck_assert_uint_eq(count_findings(st, "record-deleted", path, commit), 1);
		ck_assert_ptr_nonnull(finding(st, "unknown-key", signed_note->id));
		ck_assert_uint_eq(ledger_report_stats_of(ledger_state_report(st))->records,
		                  4 + 1 + 3 * MANY_FILES);
		ledger_state_free(st);
	}
	ledger_record_free(binding);
	ledger_record_free(signed_note);
	free(commit);
}
END_TEST

/*
 * An incremental run over one commit checks its history on the reading
 * thread, and the listing takes the trees it read (store.c): the commit
 * modifies a file of one earlier commit and deletes one of another, and
 * the run must find both, as a run with nothing new after it and one
 * without the cache do.
 */
START_TEST(history_of_one_commit)
{
	const char *git_dir = ledger_repo_git_dir(fx.repo);
	char modified[96], deleted[96], *blob, *commit;
	ledger_state *st[3];
	const ledger_report *a, *b;

	append_many(1, MANY_FILES);
	append_many(1 + MANY_FILES, MANY_FILES);
	ledger_state_free(load(1));
	testutil_record_path(modified, 1);
	testutil_record_path(deleted, MANY_FILES + 1);
	blob = testshell_out("printf tampered | git --git-dir='%s' hash-object -w --stdin", git_dir);
	commit = testshell_out("export GIT_DIR='%s' GIT_INDEX_FILE='%s/plumb.index'; "
	                       "git read-tree main && git update-index --cacheinfo 100644,%s,%s && "
	                       "printf '0 %%040d\\t%%s\\n' 0 %s | git update-index --index-info && "
	                       "t=$(git write-tree) && "
	                       "c=$(git commit-tree $t -p main -m plumbed) && "
	                       "git update-ref refs/heads/main $c && git repack -q -a -d && echo $c",
	                       git_dir, git_dir, blob, modified, deleted);
	/* One commit new, then none (or the same one again), then no cache at all. */
	st[0] = load(1);
	st[1] = load(1);
	st[2] = load(0);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(count_findings(st[i], "record-modified", modified, commit), 1);
		ck_assert_uint_eq(count_findings(st[i], "record-deleted", deleted, commit), 1);
	}
	a = ledger_state_report(st[0]);
	b = ledger_state_report(st[1]);
	ck_assert_uint_eq(ledger_report_stats_of(a)->records, ledger_report_stats_of(b)->records);
	ck_assert_uint_eq(ledger_report_count(a), ledger_report_count(b));
	for (size_t i = 0; i < ledger_report_count(a); i++) {
		const ledger_finding *x = ledger_report_get(a, i), *y = ledger_report_get(b, i);

		ck_assert_str_eq(x->code, y->code);
		ck_assert_str_eq(x->path ? x->path : "", y->path ? y->path : "");
	}
	for (int i = 0; i < 3; i++)
		ledger_state_free(st[i]);
	free(blob);
	free(commit);
}
END_TEST

/* The findings about commits, one a line: code, path, commit. */
static char *commit_findings_text(const ledger_state *st)
{
	const ledger_report *rep = ledger_state_report(st);
	char *text = strdup(""), *next;

	for (size_t i = 0; i < ledger_report_count(rep); i++) {
		const ledger_finding *f = ledger_report_get(rep, i);

		if (!f->commit[0])
			continue;
		ck_assert_int_ge(asprintf(&next, "%s%s %s %s\n", text, f->code, f->path, f->commit), 0);
		free(text);
		text = next;
	}
	return text;
}

/* The first seed of append_many(1, MANY_FILES) whose file is under records/<c...>/ (c a hex digit). */
static uint64_t seed_under(char c)
{
	char path[96];

	for (uint64_t seed = 1; seed <= MANY_FILES; seed++) {
		testutil_record_path(path, seed);
		if (path[8] == c)
			return seed;
	}
	ck_abort_msg("no file under records/%c", c);
	return 0;
}

/*
 * One commit over the cache changes records/ in all its 256 subtrees'
 * worth: the check of the second half of them runs on a helper thread
 * (store_history.c).  What it finds there and here, a file modified,
 * one deleted and one added executable in each half, is what a run
 * without the cache finds; and an unreadable tree in the helper's half is
 * the run's error, the history check's (naming the commit), as when one
 * thread checks it all.
 */
START_TEST(history_of_one_commit_on_two_threads)
{
	const char *git_dir = ledger_repo_git_dir(fx.repo);
	char mod[2][96], del[2][96], *blob, *commit, *sub, *cached, *full;
	const char halves[2] = { '1', 'c' };
	ledger_verify_options opts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_state *st = NULL;
	const char *message;

	append_many(1, MANY_FILES);
	append_many(1 + MANY_FILES, MANY_FILES);
	ledger_state_free(load(1));
	for (int h = 0; h < 2; h++) {
		testutil_record_path(mod[h], seed_under(halves[h]));
		testutil_record_path(del[h], MANY_FILES + seed_under(halves[h]));
	}
	blob = testshell_out("printf tampered | git --git-dir='%s' hash-object -w --stdin", git_dir);
	commit = testshell_out("export GIT_DIR='%s' GIT_INDEX_FILE='%s/plumb.index'; "
	                       "git read-tree main && "
	                       "git update-index --cacheinfo 100644,%s,%s --cacheinfo 100644,%s,%s && "
	                       "printf '0 %%040d\t%%s\n' 0 %s 0 %s | git update-index --index-info && "
	                       "git update-index --add --cacheinfo 100755,%s,%.13s/x.json "
	                       "--cacheinfo 100755,%s,%.13s/x.json && "
	                       "t=$(git write-tree) && "
	                       "c=$(git commit-tree $t -p main -m plumbed) && "
	                       "git update-ref refs/heads/main $c && git repack -q -a -d && echo $c",
	                       git_dir, git_dir, blob, mod[0], blob, mod[1], del[0], del[1],
	                       blob, mod[0], blob, mod[1]);
	st = load(1);
	for (int h = 0; h < 2; h++) {
		char added[96];

		snprintf(added, sizeof(added), "%.13s/x.json", mod[h]);
		ck_assert_uint_eq(count_findings(st, "record-modified", mod[h], commit), 1);
		ck_assert_uint_eq(count_findings(st, "record-deleted", del[h], commit), 1);
		ck_assert_uint_eq(count_findings(st, "bad-mode", added, commit), 1);
	}
	cached = commit_findings_text(st);
	ledger_state_free(st);
	st = load(0);
	full = commit_findings_text(st);
	ck_assert_str_eq(cached, full);
	ledger_state_free(st);
	free(cached);
	free(full);

	/* Then a commit whose new directory in the helper's half cannot be read. */
	ledger_state_free(load(1));
	sub = testshell_out("export GIT_DIR='%s'; "
	                    "b=$(printf junk | git hash-object -w --stdin) && "
	                    "s=$(printf '100644 blob %%s\tf.json\n' $b | git mktree) && "
	                    "d=$( (git ls-tree main:records/ff; printf '040000 tree %%s\tzz\n' $s) "
	                    "| git mktree) && "
	                    "r=$( (git ls-tree main:records | grep -v '	ff$'; "
	                    "printf '040000 tree %%s\tff\n' $d) | sort -k4 | git mktree) && "
	                    "t=$( (git ls-tree main | grep -v '	records$'; "
	                    "printf '040000 tree %%s\trecords\n' $r) | git mktree) && "
	                    "c=$(git commit-tree $t -p main -m junk) && "
	                    "git update-ref refs/heads/main $c && echo $s",
	                    git_dir);
	ck_assert_int_eq(testshell_run("rm '%s/objects/%.2s/%s'", git_dir, sub, sub + 2), 0);
	ck_assert_int_lt(ledger_state_load(&st, fx.repo, &opts), 0);
	ck_assert_ptr_null(st);
	message = ledger_error_last()->message;
	ck_assert_msg(strncmp(message, "commit ", 7) == 0 &&
	              strstr(message, ": cannot read tree \"records/ff/zz\": "), "%s", message);
	free(sub);
	free(blob);
	free(commit);
}
END_TEST

/*
 * The history check fails (a tree of an old commit is gone) while the files
 * of later commits are still to be read: its error is what the run returns,
 * on one and on all threads, and reading stops without a leak or a hang.
 */
START_TEST(history_error_stops_reading)
{
	const char *git_dir = ledger_repo_git_dir(fx.repo);
	char *sub;

	append_many(1, MANY_FILES);
	/* A commit adds a directory outside records/ (its tree loose), the next takes it away. */
	sub = testshell_out("export GIT_DIR='%s'; "
	                    "b=$(printf junk | git hash-object -w --stdin) && "
	                    "s=$(printf '100644 blob %%s\\tf\\n' $b | git mktree) && "
	                    "t=$( (git ls-tree main; printf '040000 tree %%s\\tjunk\\n' $s) | git mktree) && "
	                    "c=$(git commit-tree $t -p main -m junk) && "
	                    "c=$(git commit-tree main^{tree} -p $c -m unjunk) && "
	                    "git update-ref refs/heads/main $c && echo $s",
	                    git_dir);
	for (int i = 1; i < 3; i++)
		append_many(1 + (uint64_t)i * MANY_FILES, MANY_FILES);
	ck_assert_int_eq(testshell_run("rm '%s/objects/%.2s/%s'", git_dir, sub, sub + 2), 0);
	for (int run = 0; run < 2; run++) {
		ledger_verify_options opts = LEDGER_VERIFY_OPTIONS_INIT;
		ledger_state *st = NULL;

		opts.use_cache = 0;
		opts.threads = run ? 1 : 0;
		ck_assert_int_lt(ledger_state_load(&st, fx.repo, &opts), 0);
		ck_assert_ptr_null(st);
		ck_assert_ptr_nonnull(strstr(ledger_error_last()->message, "cannot read tree \"junk\""));
	}
	free(sub);
}
END_TEST

static Suite *verify_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = tcase_create("ledger");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, valid_ledger_verifies);
	tcase_add_test(tc, tampered_file_is_rejected);
	tcase_add_test(tc, forged_signature_is_rejected);
	tcase_add_test(tc, unknown_and_unbound_keys_are_rejected);
	tcase_add_test(tc, record_before_binding_is_rejected);
	tcase_add_test(tc, revoked_key_is_rejected_after_effective);
	tcase_add_test(tc, revocation_covers_its_effective_second);
	tcase_add_test(tc, csirt_cannot_bind_or_revoke_others);
	tcase_add_test(tc, only_a_nisc_node_signs_receipts_and_checkpoints);
	tcase_add_test(tc, equivocation_is_reported_and_poisons_the_chain);
	tcase_add_test(tc, gaps_and_missing_refs_are_pending);
	tcase_add_test(tc, incremental_verification_matches_full);
	tcase_add_test(tc, incremental_run_of_one_large_commit_matches_full);
	tcase_add_test(tc, full_run_caches_entries_in_path_order);
	tcase_add_test(tc, cache_segments_survive_tearing);
	tcase_add_test(tc, cache_chunk_table_is_checked);
	tcase_add_test(tc, judge_refuses_before_writing);
	tcase_add_test(tc, judge_matches_verification_after_writing);
	tcase_add_test(tc, judge_batch_matches_verification_after_writing);
	tcase_add_test(tc, commit_signatures_are_checked);
	tcase_add_test(tc, history_findings_while_reading);
	tcase_add_test(tc, deleted_principal_lends_no_key);
	tcase_add_test(tc, foreign_and_executable_files_in_a_full_run);
	tcase_add_test(tc, file_added_on_both_sides_of_a_merge_counts_once);
	tcase_add_test(tc, files_of_every_commit_in_path_order);
	tcase_add_test(tc, tree_out_of_order_is_walked_as_it_is);
	tcase_add_test(tc, history_of_one_commit);
	tcase_add_test(tc, history_of_one_commit_on_two_threads);
	tcase_add_test(tc, history_error_stops_reading);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(verify_suite());
}
