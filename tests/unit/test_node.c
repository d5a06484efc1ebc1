/*
 * A node's side of sync, over real repositories and keys: the library
 * append and the sync status file.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

typedef struct {
	const char *principal;
	ledger_key *key;
	char kid[65];
} signer;

typedef struct {
	char *dir;
	char master_path[4200];
	ledger_repo *master;
	signer director, deputy, manager, node, moj_ciso, moj_csirt, moj_node, mof_ciso,
		mof_csirt, stranger;
	char root_id[65];
} fixture;

static fixture fx;

static void signer_init(signer *s, const char *principal)
{
	uint8_t pub[32];

	s->principal = principal;
	ck_assert_int_eq(ledger_key_generate(&s->key, LEDGER_KEY_ED25519), 0);
	ledger_key_public(pub, s->key);
	ledger_key_id(s->kid, pub);
}

static json_t *principal_entry(const signer *s, const char *role)
{
	uint8_t pub[32];
	char *b64 = NULL;
	json_t *p;

	ledger_key_public(pub, s->key);
	ck_assert_int_eq(ledger_base64_encode(&b64, pub, 32), 0);
	p = json_pack("{s:s, s:s, s:s, s:[s], s:{s:b, s:b}}", "principal", s->principal,
	              "ed25519", b64, "x25519", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	              "roles", role, "attributes", "full_time_civil_servant", 1,
	              "nisc_resident", strncmp(s->principal, "nisc/", 5) == 0);
	free(b64);
	return p;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_int_lt(n, (int)sizeof(cmd));
	ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd);
}

/*
 * Append one record by `s` through the library at `time` (NULL: now); its id
 * into id (may be NULL).
 */
static int append_at(ledger_repo *repo, const signer *s, const char *type, json_t *body,
                     const char *time, char id[65])
{
	ledger_append_options opts = LEDGER_APPEND_OPTIONS_INIT;
	ledger_append_result res = { 0 };
	ledger_new_record rec = { 0 };
	int error;

	rec.type = type;
	rec.body = body;
	rec.time = time;
	opts.author = s->principal;
	error = ledger_append(&res, repo, s->key, &rec, 1, &opts);
	if (error == 0 && id)
		memcpy(id, res.records[0]->id, 65);
	ledger_append_result_clear(&res);
	json_decref(body);
	return error;
}

/*
 * The fixture's records are dated in its past, one a second, so that the
 * rules order them before anything a test writes now.
 */
static int setup_clock;

static void bind_key(ledger_repo *repo, const signer *by, const signer *whom, const char *role)
{
	char when[21];

	ledger_time_format(when, 1767312000 + setup_clock++); /* 2026-01-02 */
	if (append_at(repo, by, "principal", principal_entry(whom, role), when, NULL) < 0)
		ck_abort_msg("binding %s: %s", whom->principal, ledger_error_last()->message);
}

static int sign_genesis(char **out, const char *buf, size_t len, void *payload)
{
	return ledger_sshsig_sign(out, payload, "git", (const uint8_t *)buf, len);
}

/*
 * The master ledger: root (director, deputy), nisc/manager, nisc/node (role
 * node), and for moj and mof a ciso, a csirt and (moj) a node.
 */
static void setup(void)
{
	ledger_commit_options opts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	ledger_file files[2];
	ledger_record *root = NULL;
	char path[LEDGER_RECORD_PATH_LEN + 1], *data = NULL, ledger_text[128], when[21];
	json_t *body;
	size_t len;

	memset(&fx, 0, sizeof(fx));
	setup_clock = 0;
	setenv("CYMAT_SCHEMAS_DIR", SCHEMAS_DIR, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "test", 1);
	setenv("GIT_AUTHOR_EMAIL", "test@example.invalid", 1);
	setenv("GIT_COMMITTER_NAME", "test", 1);
	setenv("GIT_COMMITTER_EMAIL", "test@example.invalid", 1);
	fx.dir = testutil_tmpdir();
	ck_assert_ptr_nonnull(fx.dir);
	setenv("HOME", fx.dir, 1);
	snprintf(fx.master_path, sizeof(fx.master_path), "%s/master.git", fx.dir);
	signer_init(&fx.director, "nisc/director");
	signer_init(&fx.deputy, "nisc/deputy");
	signer_init(&fx.manager, "nisc/manager");
	signer_init(&fx.node, "nisc/node");
	signer_init(&fx.moj_ciso, "moj/ciso");
	signer_init(&fx.moj_csirt, "moj/csirt");
	signer_init(&fx.moj_node, "moj/node");
	signer_init(&fx.mof_ciso, "mof/ciso");
	signer_init(&fx.mof_csirt, "mof/csirt");
	signer_init(&fx.stranger, "moj/stranger");

	body = json_pack("{s:s, s:o, s:o}", "ledger", "test", "director",
	                 principal_entry(&fx.director, "director"), "deputy",
	                 principal_entry(&fx.deputy, "deputy"));
	f.type = "root";
	f.author = fx.director.principal;
	f.seq = 1;
	f.time = "2026-01-01T00:00:00Z";
	f.body = body;
	ck_assert_int_eq(ledger_record_create(&root, &f, fx.director.key), 0);
	json_decref(body);
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
	opts.sign = sign_genesis;
	opts.sign_payload = fx.director.key;
	if (ledger_repo_init(&fx.master, fx.master_path, files, 2, &opts) < 0)
		ck_abort_msg("init: %s", ledger_error_last()->message);
	ck_assert_int_eq(ledger_repo_config_set(fx.master, "cymat.root", root->id), 0);
	free(data);
	ledger_record_free(root);

	bind_key(fx.master, &fx.director, &fx.manager, "manager");
	bind_key(fx.master, &fx.manager, &fx.node, "node");
	bind_key(fx.master, &fx.manager, &fx.moj_ciso, "ciso");
	bind_key(fx.master, &fx.moj_ciso, &fx.moj_csirt, "csirt");
	bind_key(fx.master, &fx.moj_ciso, &fx.moj_node, "node");
	bind_key(fx.master, &fx.manager, &fx.mof_ciso, "ciso");
	bind_key(fx.master, &fx.mof_ciso, &fx.mof_csirt, "csirt");
	/* moj is registered (DOMAIN R2.1); mof is not, so its records break that rule. */
	ledger_time_format(when, 1767312000 + setup_clock++);
	if (append_at(fx.master, &fx.manager, "agency",
	              json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", "moj", "kind", "government",
	                        "name", "ja", "法務省", "en", "Ministry of Justice"), when,
	              NULL) < 0)
		ck_abort_msg("registering moj: %s", ledger_error_last()->message);
}

static void teardown(void)
{
	signer *all[] = { &fx.director, &fx.deputy, &fx.manager, &fx.node, &fx.moj_ciso,
		          &fx.moj_csirt, &fx.moj_node, &fx.mof_ciso, &fx.mof_csirt, &fx.stranger };

	ledger_repo_free(fx.master);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		ledger_key_free(all[i]->key);
	sh("rm -rf '%s'", fx.dir);
	free(fx.dir);
}

static ledger_state *load(ledger_repo *repo)
{
	ledger_verify_options opts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_state *st = NULL;

	opts.use_cache = 0;
	if (ledger_state_load(&st, repo, &opts) < 0)
		ck_abort_msg("verify: %s", ledger_error_last()->message);
	return st;
}

static void assert_no_errors(ledger_repo *repo)
{
	ledger_state *st = load(repo);
	const ledger_report *rep = ledger_state_report(st);

	for (size_t i = 0; i < ledger_report_count(rep); i++) {
		const ledger_finding *f = ledger_report_get(rep, i);

		ck_assert_msg(f->severity != LEDGER_SEVERITY_ERROR, "error %s %s %s: %s", f->rule,
		              f->code, f->id, f->message);
	}
	ledger_state_free(st);
}

static void head(char out[41], ledger_repo *repo)
{
	ck_assert_int_eq(ledger_repo_head(out, repo), 0);
}

/* ---- ledger_append ---- */

START_TEST(append_writes_one_signed_commit_or_nothing)
{
	ledger_append_options opts = LEDGER_APPEND_OPTIONS_INIT;
	ledger_append_result res = { 0 };
	ledger_new_record recs[2] = { { 0 } };
	char before[41], after[41];
	FILE *p;
	char cmd[4400], line[256];
	int trailers = 0;

	head(before, fx.master);
	recs[0].type = "note";
	recs[0].body = json_pack("{s:s}", "summary", "first");
	recs[1].type = "note";
	recs[1].body = json_pack("{s:s}", "summary", "second");
	ck_assert_int_eq(ledger_append(&res, fx.master, fx.moj_csirt.key, recs, 2, &opts), 0);
	ck_assert_uint_eq(res.count, 2);
	ck_assert_uint_eq(res.refused, 0);
	ck_assert_int_eq(res.records[1]->seq, res.records[0]->seq + 1);
	ck_assert_str_eq(res.records[0]->author, "moj/csirt");
	head(after, fx.master);
	ck_assert_str_eq(after, res.commit);
	ck_assert_int_eq(ledger_repo_is_ancestor(fx.master, before, after), 1);
	/* FORMAT.md: "<type>: <summary>", blank line, a trailer per record in order. */
	snprintf(cmd, sizeof(cmd), "git -C '%s' log -1 --format=%%B main", fx.master_path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
	ck_assert_str_eq(line, "note: 2 records\n");
	while (fgets(line, sizeof(line), p))
		if (strncmp(line, "Record: ", 8) == 0) {
			ck_assert_int_eq(strncmp(line + 8, res.records[trailers]->id, 64), 0);
			trailers++;
		}
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_int_eq(trailers, 2);
	ledger_append_result_clear(&res);

	/* One schema-invalid record refuses the batch; main stays. */
	json_decref(recs[1].body);
	recs[1].type = "agency";
	recs[1].body = json_pack("{s:s}", "kind", "planet");
	ck_assert_int_eq(ledger_append(&res, fx.master, fx.moj_csirt.key, recs, 2, &opts),
	                 LEDGER_EINVALID);
	ck_assert_uint_eq(res.refused, 1);
	ck_assert_ptr_nonnull(res.reports[1]);
	ck_assert_uint_gt(ledger_report_count_severity(res.reports[1], LEDGER_SEVERITY_ERROR), 0);
	ck_assert_uint_eq(ledger_report_count_severity(res.reports[0], LEDGER_SEVERITY_ERROR), 0);
	ck_assert_str_eq(res.commit, "");
	head(before, fx.master);
	ck_assert_str_eq(before, after);
	ledger_append_result_clear(&res);
	ledger_append_result_clear(&res); /* idempotent */

	/* A key bound to nobody: every record refused, no reports. */
	ck_assert_int_eq(ledger_append(&res, fx.master, fx.stranger.key, recs, 1, NULL),
	                 LEDGER_EINVALID);
	ck_assert_uint_eq(res.refused, 1);
	ck_assert_ptr_null(res.reports);
	ck_assert_ptr_nonnull(strstr(ledger_error_last()->message, "not bound"));
	ledger_append_result_clear(&res);
	head(before, fx.master);
	ck_assert_str_eq(before, after);
	json_decref(recs[0].body);
	json_decref(recs[1].body);
	assert_no_errors(fx.master);
}
END_TEST

/* ---- the sync status file ---- */

START_TEST(status_round_trip)
{
	ledger_sync_status st, back;
	char path[4400];
	struct stat sb;

	ck_assert_int_eq(ledger_sync_status_load(&st, fx.master, "nisc"), LEDGER_ENOTFOUND);
	ck_assert_str_eq(st.remote, "nisc");
	ck_assert_int_eq(st.last_attempt, 0);

	memset(&st, 0, sizeof(st));
	strcpy(st.remote, "nisc");
	st.last_attempt = 1790000000;
	st.last_success = 1789990000;
	st.last_error_time = 1790000000;
	st.next_attempt = 1790000060;
	st.failures = 3;
	/* A message cut inside a UTF-8 sequence is still saved (without the torn tail). */
	memset(st.last_error, 'x', sizeof(st.last_error) - 1);
	memcpy(st.last_error + sizeof(st.last_error) - 3, "\xe6\x97", 2);
	st.last_error[sizeof(st.last_error) - 1] = '\0';
	memset(st.fetched, 'a', 40);
	memset(st.pushed, 'b', 40);
	ck_assert_int_eq(ledger_sync_status_save(fx.master, &st), 0);
	ck_assert_int_eq(ledger_sync_status_load(&back, fx.master, "nisc"), 0);
	ck_assert_str_eq(back.remote, "nisc");
	ck_assert_int_eq(back.last_attempt, st.last_attempt);
	ck_assert_int_eq(back.last_success, st.last_success);
	ck_assert_int_eq(back.last_error_time, st.last_error_time);
	ck_assert_int_eq(back.next_attempt, st.next_attempt);
	ck_assert_uint_eq(back.failures, 3);
	ck_assert_str_eq(back.fetched, st.fetched);
	ck_assert_str_eq(back.pushed, st.pushed);
	ck_assert_uint_eq(strlen(back.last_error), sizeof(st.last_error) - 3);
	ck_assert_int_eq(strspn(back.last_error, "x"), (int)sizeof(st.last_error) - 3);

	/* Overwrite with a plain message; owner-only file, no temporary left. */
	strcpy(st.last_error, "remote \"nisc\": fetch: connection refused");
	st.pushed[0] = '\0';
	ck_assert_int_eq(ledger_sync_status_save(fx.master, &st), 0);
	ck_assert_int_eq(ledger_sync_status_load(&back, fx.master, "nisc"), 0);
	ck_assert_str_eq(back.last_error, st.last_error);
	ck_assert_str_eq(back.pushed, "");
	snprintf(path, sizeof(path), "%s/cymat/sync/nisc.json", ledger_repo_git_dir(fx.master));
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 077, 0);
	sh("test $(ls -A '%s/cymat/sync' | wc -l) -eq 1", ledger_repo_git_dir(fx.master));
	/* Stock python reads it as JSON with the documented members. */
	sh("python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
	   "assert d[\"version\"]==1 and d[\"remote\"]==\"nisc\" and d[\"failures\"]==3' '%s' "
	   "|| ! command -v python3 >/dev/null", path);

	/* Bad names, a damaged file, bad ids. */
	ck_assert_int_eq(ledger_sync_status_load(&back, fx.master, "../x"), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_sync_status_load(&back, fx.master, "NISC"), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_sync_status_load(&back, fx.master,
	                                         "a23456789012345678901234567890123"),
	                 LEDGER_EINVALID);
	sh("printf '{\"version\":1,\"remote\":\"nisc\"' >'%s'", path);
	ck_assert_int_eq(ledger_sync_status_load(&back, fx.master, "nisc"), LEDGER_EINVALID);
	strcpy(st.fetched, "not-hex");
	ck_assert_int_eq(ledger_sync_status_save(fx.master, &st), LEDGER_EINVALID);
	/* A status file naming another remote is not this one's. */
	strcpy(st.remote, "peer");
	st.fetched[0] = '\0';
	ck_assert_int_eq(ledger_sync_status_save(fx.master, &st), 0);
	sh("cp '%s/cymat/sync/peer.json' '%s'", ledger_repo_git_dir(fx.master), path);
	ck_assert_int_eq(ledger_sync_status_load(&back, fx.master, "nisc"), LEDGER_EINVALID);
}
END_TEST

static Suite *node_suite(void)
{
	Suite *s = suite_create("node");
	TCase *tc = tcase_create("node");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, append_writes_one_signed_commit_or_nothing);
	tcase_add_test(tc, status_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(node_suite());
}
