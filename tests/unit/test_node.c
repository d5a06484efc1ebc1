/*
 * A node's side of sync, over real repositories and keys: the library
 * append, the sync status file, the master's checkpoints and its intake of
 * agency inboxes (merge, refusal, receipts, idempotence), and syncs with
 * remotes over file paths and git daemon on 127.0.0.1.  Stock git builds
 * the clones and inboxes.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testsigner.h"
#include "testutil.h"

typedef struct {
	char *dir;
	char master_path[4200];
	ledger_repo *master;
	testsigner director, deputy, manager, node, moj_ciso, moj_csirt, moj_node, mof_ciso,
		mof_csirt, stranger;
	char root_id[65];
	char daemon_pidfile[4300]; /* set while a git daemon runs */
} fixture;

static fixture fx;

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
static int append_at(ledger_repo *repo, const testsigner *s, const char *type, json_t *body,
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

static void bind_key(ledger_repo *repo, const testsigner *by, const testsigner *whom,
                     const char *role)
{
	char when[21];

	ledger_time_format(when, 1767312000 + setup_clock++); /* 2026-01-02 */
	if (append_at(repo, by, "principal", testsigner_entry(whom, role, 1), when, NULL) < 0)
		ck_abort_msg("binding %s: %s", whom->principal, ledger_error_last()->message);
}

static void note(ledger_repo *repo, const testsigner *s, const char *text, char id[65])
{
	if (append_at(repo, s, "note", json_pack("{s:s}", "summary", text), NULL, id) < 0)
		ck_abort_msg("note by %s: %s", s->principal, ledger_error_last()->message);
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
	testsigner_init(&fx.director, "nisc/director");
	testsigner_init(&fx.deputy, "nisc/deputy");
	testsigner_init(&fx.manager, "nisc/manager");
	testsigner_init(&fx.node, "nisc/node");
	testsigner_init(&fx.moj_ciso, "moj/ciso");
	testsigner_init(&fx.moj_csirt, "moj/csirt");
	testsigner_init(&fx.moj_node, "moj/node");
	testsigner_init(&fx.mof_ciso, "mof/ciso");
	testsigner_init(&fx.mof_csirt, "mof/csirt");
	testsigner_init(&fx.stranger, "moj/stranger");

	body = json_pack("{s:s, s:o, s:o}", "ledger", "test", "director",
	                 testsigner_entry(&fx.director, "director", 1), "deputy",
	                 testsigner_entry(&fx.deputy, "deputy", 1));
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
	testsigner *all[] = { &fx.director, &fx.deputy, &fx.manager, &fx.node,
		              &fx.moj_ciso, &fx.moj_csirt, &fx.moj_node, &fx.mof_ciso,
		              &fx.mof_csirt, &fx.stranger };

	if (fx.daemon_pidfile[0])
		sh("kill $(cat '%s' 2>/dev/null) 2>/dev/null; true", fx.daemon_pidfile);
	ledger_repo_free(fx.master);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		ledger_key_free(all[i]->key);
	sh("rm -rf '%s'", fx.dir);
	free(fx.dir);
}

/* A bare clone of the master (an agency's ledger, or a peer's): opened, root pinned. */
static ledger_repo *clone_master(const char *name)
{
	ledger_repo *repo = NULL;
	char path[4400];

	snprintf(path, sizeof(path), "%s/%s.git", fx.dir, name);
	sh("git clone -q --bare '%s' '%s'", fx.master_path, path);
	ck_assert_int_eq(ledger_repo_open(&repo, path), 0);
	ck_assert_int_eq(ledger_repo_config_set(repo, "cymat.root", fx.root_id), 0);
	return repo;
}

/* What an agency's push does on the master: its main becomes refs/inbox/<agency>. */
static void to_inbox(ledger_repo *agency_repo, const char *agency)
{
	sh("git -C '%s' fetch -q '%s' +refs/heads/main:refs/inbox/%s", fx.master_path,
	   ledger_repo_git_dir(agency_repo), agency);
}

static ledger_sync_options node_options(const testsigner *node, const char *agency)
{
	ledger_sync_options opts = LEDGER_SYNC_OPTIONS_INIT;

	opts.agency = agency;
	opts.node_key = node->key;
	opts.node_principal = node->principal;
	return opts;
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

/* The ids of every record in main, sorted, as one string. */
static int add_id(const char *path, const char *data, size_t len, void *payload)
{
	char id[65], **s = payload, *grown;
	size_t have = *s ? strlen(*s) : 0;

	(void)data;
	(void)len;
	ck_assert_int_eq(ledger_record_path_id(id, path), 0);
	grown = realloc(*s, have + 66);
	ck_assert_ptr_nonnull(grown);
	memcpy(grown + have, id, 64);
	grown[have + 64] = '\n';
	grown[have + 65] = '\0';
	*s = grown;
	return 0;
}

static char *record_set(ledger_repo *repo)
{
	char *s = strdup("");

	ck_assert_int_eq(ledger_repo_foreach_record(repo, NULL, add_id, &s), 0);
	return s;
}

static int has_record(ledger_repo *repo, const char *id)
{
	char path[LEDGER_RECORD_PATH_LEN + 1], *data = NULL;
	size_t len;
	int error;

	ledger_record_path(path, id);
	error = ledger_repo_read(&data, &len, repo, NULL, path);
	free(data);
	return error == 0;
}

static ledger_record *read_record(ledger_repo *repo, const char *id)
{
	char path[LEDGER_RECORD_PATH_LEN + 1], *data = NULL;
	ledger_record *rec = NULL;
	size_t len;

	ledger_record_path(path, id);
	ck_assert_int_eq(ledger_repo_read(&data, &len, repo, NULL, path), 0);
	ck_assert_int_eq(ledger_record_parse(&rec, data, len), 0);
	free(data);
	return rec;
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

/* ---- master: checkpoint and intake ---- */

START_TEST(checkpoint_names_main_and_its_record_count)
{
	ledger_sync_options opts = node_options(&fx.node, "nisc");
	ledger_record *rec;
	char id[65], before[41], after[41], *set;
	size_t records = 0;
	const char *p;

	head(before, fx.master);
	set = record_set(fx.master);
	for (p = set; *p; p++)
		records += *p == '\n';
	free(set);
	ck_assert_int_eq(ledger_master_checkpoint(id, fx.master, &opts), 0);
	head(after, fx.master);
	ck_assert_str_ne(before, after);
	rec = read_record(fx.master, id);
	ck_assert_str_eq(rec->type, "checkpoint");
	ck_assert_str_eq(rec->author, "nisc/node");
	ck_assert_str_eq(rec->kid, fx.node.kid);
	ck_assert_str_eq(rec->class_, "c1");
	ck_assert_str_eq(json_string_value(json_object_get(rec->body, "commit")), before);
	ck_assert_int_eq(json_integer_value(json_object_get(rec->body, "records")),
	                 (json_int_t)records);
	ledger_record_free(rec);
	/* Verified as any record: schema (checkpoint.schema.json), key binding, signature. */
	assert_no_errors(fx.master);

	/* Without a node key: refused before anything is written. */
	opts.node_key = NULL;
	ck_assert_int_eq(ledger_master_checkpoint(id, fx.master, &opts), LEDGER_EINVALID);
	head(before, fx.master);
	ck_assert_str_eq(before, after);
}
END_TEST

struct events {
	int n;
	int error[8];
	char inbox[8][40], receipt[8][65], message[8][512];
	size_t accepted[8];
	size_t refused_findings[8];
};

static void on_event(const ledger_intake_event *ev, void *payload)
{
	struct events *e = payload;

	ck_assert_int_lt(e->n, 8);
	e->error[e->n] = ev->error;
	snprintf(e->inbox[e->n], sizeof(e->inbox[0]), "%s", ev->inbox);
	snprintf(e->receipt[e->n], sizeof(e->receipt[0]), "%s", ev->receipt);
	snprintf(e->message[e->n], sizeof(e->message[0]), "%s", ev->message ? ev->message : "");
	e->accepted[e->n] = ev->accepted;
	e->refused_findings[e->n] = ev->refused ? ledger_report_count(ev->refused) : 0;
	e->n++;
}

START_TEST(intake_merges_an_inbox_and_signs_a_receipt)
{
	ledger_sync_options opts = node_options(&fx.node, "nisc");
	ledger_intake_result res;
	struct events ev = { 0 };
	ledger_repo *moj = clone_master("moj");
	ledger_record *rec;
	char a1[65], a2[65], m1[65], inbox[41], before[41], after[41], again[41];
	char *want_ids[2];
	json_t *accepted, *findings;

	/* Diverge: the agency writes two notes, the master one. */
	note(moj, &fx.moj_csirt, "agency one", a1);
	note(moj, &fx.moj_csirt, "agency two", a2);
	note(fx.master, &fx.manager, "master one", m1);
	to_inbox(moj, "moj");
	ck_assert_int_eq(ledger_repo_ref(inbox, fx.master, "refs/inbox/moj"), 0);
	head(before, fx.master);

	ck_assert_int_eq(ledger_master_intake(&res, fx.master, &opts, on_event, &ev), 0);
	ck_assert_uint_eq(res.inboxes, 1);
	ck_assert_uint_eq(res.merged, 1);
	ck_assert_uint_eq(res.refused, 0);
	ck_assert_uint_eq(res.records, 2);
	ck_assert_int_eq(ev.n, 1);
	ck_assert_int_eq(ev.error[0], 0);
	ck_assert_str_eq(ev.inbox[0], "moj");
	ck_assert_uint_eq(ev.accepted[0], 2);
	head(after, fx.master);
	ck_assert_int_eq(ledger_repo_is_ancestor(fx.master, before, after), 1);
	ck_assert_int_eq(ledger_repo_is_ancestor(fx.master, inbox, after), 1);
	ck_assert(has_record(fx.master, a1) && has_record(fx.master, a2) &&
	          has_record(fx.master, m1));

	/* The receipt: signed by the node key, naming the inbox, commit and accepted ids. */
	rec = read_record(fx.master, ev.receipt[0]);
	ck_assert_str_eq(rec->type, "receipt");
	ck_assert_str_eq(rec->kid, fx.node.kid);
	ck_assert_str_eq(rec->author, "nisc/node");
	ck_assert_str_eq(json_string_value(json_object_get(rec->body, "inbox")), "moj");
	ck_assert_str_eq(json_string_value(json_object_get(rec->body, "commit")), inbox);
	accepted = json_object_get(rec->body, "accepted");
	ck_assert_uint_eq(json_array_size(accepted), 2);
	want_ids[0] = strcmp(a1, a2) < 0 ? a1 : a2;
	want_ids[1] = strcmp(a1, a2) < 0 ? a2 : a1;
	ck_assert_str_eq(json_string_value(json_array_get(accepted, 0)), want_ids[0]);
	ck_assert_str_eq(json_string_value(json_array_get(accepted, 1)), want_ids[1]);
	findings = json_object_get(rec->body, "findings");
	ck_assert_int_eq(json_integer_value(json_object_get(findings, "errors")), 0);
	ck_assert(json_is_integer(json_object_get(findings, "warnings")));
	ck_assert(json_is_integer(json_object_get(findings, "pending")));
	ledger_record_free(rec);
	/* receipt.schema.json, the binding of nisc/node and every commit signature hold. */
	assert_no_errors(fx.master);

	/* Idempotent: a second intake finds the inbox contained and does nothing. */
	memset(&ev, 0, sizeof(ev));
	ck_assert_int_eq(ledger_master_intake(&res, fx.master, &opts, on_event, &ev), 0);
	ck_assert_uint_eq(res.inboxes, 1);
	ck_assert_uint_eq(res.merged, 0);
	ck_assert_int_eq(ev.n, 0);
	head(again, fx.master);
	ck_assert_str_eq(again, after);
	ledger_repo_free(moj);
}
END_TEST

/* Receipts naming `commit` in the master's main. */
static int receipts_naming(const char *commit)
{
	char cmd[4600], line[256];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "git -C '%s' grep -l '\"commit\":\"%s\"' main -- records",
	         fx.master_path, commit);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while (fgets(line, sizeof(line), p))
		n++;
	pclose(p);
	return n;
}

/*
 * The master dies after moving main to an inbox and before its receipt:
 * the next intake issues that receipt, once, and a later one none.
 */
START_TEST(intake_issues_a_receipt_a_crash_left_due)
{
	ledger_sync_options opts = node_options(&fx.node, "nisc");
	ledger_commit_options copts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_intake_result res;
	struct events ev = { 0 };
	ledger_repo *moj = clone_master("moj");
	ledger_record *rec;
	char a1[65], m1[65], inbox[41], before[41], uni[41], after[41], again[41], due[128];
	char email[80];
	json_t *accepted;

	note(moj, &fx.moj_csirt, "agency one", a1);
	to_inbox(moj, "moj");
	ck_assert_int_eq(ledger_repo_ref(inbox, fx.master, "refs/inbox/moj"), 0);
	head(before, fx.master);

	/* What the intake writes up to its merge (main fast-forwards to the inbox), then dies. */
	snprintf(due, sizeof(due), "refs/cymat/receipt-due/moj/%s", inbox);
	ck_assert_int_eq(ledger_repo_update_ref(fx.master, due, NULL, before), 0);
	snprintf(email, sizeof(email), "%s@cymat.invalid", fx.node.kid);
	copts.name = fx.node.principal;
	copts.email = email;
	copts.sign = ledger_key_commit_signer;
	copts.sign_payload = fx.node.key;
	ck_assert_int_eq(ledger_repo_union(uni, fx.master, before, inbox, &copts), 0);
	ck_assert_int_eq(ledger_repo_update_ref(fx.master, LEDGER_MAIN_REF, before, uni), 0);
	/* The CLI appends meanwhile: not part of what the inbox brought. */
	note(fx.master, &fx.manager, "master one", m1);
	ck_assert_int_eq(receipts_naming(inbox), 0);

	ck_assert_int_eq(ledger_master_intake(&res, fx.master, &opts, on_event, &ev), 0);
	ck_assert_uint_eq(res.merged, 0);
	ck_assert_int_eq(ev.n, 1);
	ck_assert_int_eq(ev.error[0], 0);
	ck_assert_str_eq(ev.inbox[0], "moj");
	ck_assert_uint_eq(ev.accepted[0], 1);
	ck_assert_int_eq(receipts_naming(inbox), 1);
	rec = read_record(fx.master, ev.receipt[0]);
	ck_assert_str_eq(rec->type, "receipt");
	ck_assert_str_eq(json_string_value(json_object_get(rec->body, "commit")), inbox);
	accepted = json_object_get(rec->body, "accepted");
	ck_assert_uint_eq(json_array_size(accepted), 1);
	ck_assert_str_eq(json_string_value(json_array_get(accepted, 0)), a1);
	ledger_record_free(rec);
	ck_assert_int_eq(ledger_repo_ref(again, fx.master, due), LEDGER_ENOTFOUND);
	assert_no_errors(fx.master);

	/* Answered: the next intake issues nothing. */
	head(after, fx.master);
	memset(&ev, 0, sizeof(ev));
	ck_assert_int_eq(ledger_master_intake(&res, fx.master, &opts, on_event, &ev), 0);
	ck_assert_int_eq(ev.n, 0);
	head(again, fx.master);
	ck_assert_str_eq(again, after);
	ck_assert_int_eq(receipts_naming(inbox), 1);

	/* Died after the receipt, before deleting the due ref: no second receipt. */
	ck_assert_int_eq(ledger_repo_update_ref(fx.master, due, NULL, before), 0);
	ck_assert_int_eq(ledger_master_intake(&res, fx.master, &opts, on_event, &ev), 0);
	ck_assert_int_eq(ev.n, 0);
	head(again, fx.master);
	ck_assert_str_eq(again, after);
	ck_assert_int_eq(receipts_naming(inbox), 1);
	ck_assert_int_eq(ledger_repo_ref(again, fx.master, due), LEDGER_ENOTFOUND);
	ledger_repo_free(moj);
}
END_TEST

/* Append a record file as is, with its trailer, under a commit signed by `s` (no judge). */
static void append_raw(ledger_repo *repo, const testsigner *s, const char *path,
                       const char *data, size_t len)
{
	ledger_commit_options opts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_file file = { path, data, len };
	char commit[41], id[65], message[96];

	/* The commit is as an append makes it: only the record is forged. */
	ck_assert_int_eq(ledger_record_path_id(id, path), 0);
	snprintf(message, sizeof(message), "note: forged\n\nRecord: %s\n", id);
	opts.message = message;
	opts.name = s->principal;
	opts.email = "forger@cymat.invalid";
	opts.sign = ledger_key_commit_signer;
	opts.sign_payload = s->key;
	if (ledger_repo_append(commit, repo, &file, 1, &opts) < 0)
		ck_abort_msg("append: %s", ledger_error_last()->message);
}

START_TEST(intake_refuses_a_forged_record_and_leaves_main)
{
	ledger_sync_options opts = node_options(&fx.node, "nisc");
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	ledger_intake_result res;
	struct events ev = { 0 };
	ledger_repo *moj = clone_master("moj"), *mof = clone_master("mof");
	ledger_record *rec = NULL, *receipt;
	json_t *body = json_pack("{s:s}", "summary", "forged"), *findings;
	char path[LEDGER_RECORD_PATH_LEN + 1], *data = NULL, *sigpos, before[41], after[41];
	char good[65];
	size_t len;
	int64_t seq;
	char prev[65];
	ledger_state *st = load(moj);

	/* moj/csirt's next record in its chain, then its signature altered. */
	ledger_state_chain_tip(&seq, prev, st, fx.moj_csirt.kid);
	ledger_state_free(st);
	f.type = "note";
	f.author = "moj/csirt";
	f.seq = seq + 1;
	f.prev = *prev ? prev : NULL;
	f.body = body;
	ck_assert_int_eq(ledger_record_create(&rec, &f, fx.moj_csirt.key), 0);
	ck_assert_int_eq(ledger_record_envelope(&data, &len, rec), 0);
	sigpos = strstr(data, "\"sig\":\"");
	ck_assert_ptr_nonnull(sigpos);
	sigpos[7] = sigpos[7] == 'A' ? 'B' : 'A';
	ledger_record_path(path, rec->id);
	append_raw(moj, &fx.moj_csirt, path, data, len);
	to_inbox(moj, "moj");
	/* Another agency's good inbox is judged in the same pass. */
	note(mof, &fx.mof_csirt, "mof is fine", good);
	to_inbox(mof, "mof");
	head(before, fx.master);

	ck_assert_int_eq(ledger_master_intake(&res, fx.master, &opts, on_event, &ev), 0);
	ck_assert_uint_eq(res.inboxes, 2);
	ck_assert_uint_eq(res.refused, 1);
	ck_assert_uint_eq(res.merged, 1);
	ck_assert_int_eq(ev.n, 2);
	ck_assert_str_eq(ev.inbox[0], "mof");
	ck_assert_int_eq(ev.error[0], 0);
	ck_assert_str_eq(ev.inbox[1], "moj");
	ck_assert_int_eq(ev.error[1], LEDGER_EINVALID);
	ck_assert_str_eq(ev.receipt[1], "");
	ck_assert_uint_ge(ev.refused_findings[1], 1);
	ck_assert_msg(strstr(ev.message[1], rec->id) != NULL, "message lacks the id: %s",
	              ev.message[1]);
	ck_assert_msg(strstr(ev.message[1], "bad-signature") != NULL, "message: %s",
	              ev.message[1]);
	ck_assert(!has_record(fx.master, rec->id));
	/* mof's note breaks R2.1 (mof is not registered): merged all the same, and counted. */
	ck_assert(has_record(fx.master, good));
	receipt = read_record(fx.master, ev.receipt[0]);
	findings = json_object_get(receipt->body, "findings");
	ck_assert_int_eq(json_integer_value(json_object_get(findings, "errors")), 1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(receipt->body,
	                                                                  "accepted"), 0)), good);
	ledger_record_free(receipt);

	/* Judged again at the next intake, refused again, nothing written. */
	head(after, fx.master);
	memset(&ev, 0, sizeof(ev));
	ck_assert_int_eq(ledger_master_intake(&res, fx.master, &opts, on_event, &ev), 0);
	ck_assert_uint_eq(res.refused, 1);
	ck_assert_uint_eq(res.merged, 0);
	ck_assert_int_eq(ev.n, 1);
	head(before, fx.master);
	ck_assert_str_eq(before, after);
	assert_no_errors(fx.master);

	free(data);
	json_decref(body);
	ledger_record_free(rec);
	ledger_repo_free(moj);
	ledger_repo_free(mof);
}
END_TEST

/* ---- agency and peer: one sync with a remote ---- */

static ledger_remote remote_of(const char *name, const char *url, ledger_remote_role role)
{
	ledger_remote r = { name, url, role };

	return r;
}

static void assert_same_records(ledger_repo *a, ledger_repo *b)
{
	char *sa = record_set(a), *sb = record_set(b);

	ck_assert_str_eq(sa, sb);
	free(sa);
	free(sb);
}

/*
 * An agency and the master diverge, then converge through two syncs and an
 * intake, over `url` (a path, or git:// served by git daemon).
 */
static void converge_with_master(const char *url)
{
	ledger_sync_options mopts = node_options(&fx.node, "nisc");
	ledger_sync_options aopts = node_options(&fx.moj_node, "moj");
	ledger_remote nisc = remote_of("nisc", url, LEDGER_REMOTE_MASTER);
	ledger_sync_result res = { 0 };
	ledger_intake_result ires;
	ledger_sync_status st;
	ledger_repo *moj = clone_master("moj");
	char a1[65], m1[65], master_head[41], moj_head[41], ref[41];

	note(moj, &fx.moj_csirt, "filed while the master was away", a1);
	note(fx.master, &fx.manager, "written at nisc", m1);
	head(master_head, fx.master);

	ck_assert_msg(ledger_sync_remote(&res, moj, &nisc, &aopts) == 0, "sync: %s",
	              ledger_error_last()->message);
	ck_assert_str_eq(res.fetched, master_head);
	ck_assert_uint_eq(res.new_records, 1);
	ck_assert_ptr_null(res.refused);
	head(moj_head, moj);
	ck_assert_str_eq(res.merged, moj_head);
	ck_assert_str_eq(res.pushed, moj_head);
	ck_assert(has_record(moj, m1) && has_record(moj, a1));
	ck_assert_int_eq(ledger_repo_ref(ref, fx.master, "refs/inbox/moj"), 0);
	ck_assert_str_eq(ref, moj_head);
	ck_assert_int_eq(ledger_repo_ref(ref, moj, "refs/cymat/pushed/nisc"), 0);
	ck_assert_str_eq(ref, moj_head);
	ck_assert_int_eq(ledger_repo_ref(ref, moj, "refs/cymat/remotes/nisc/main"), 0);
	ck_assert_str_eq(ref, master_head);
	/* The master's main is untouched until its intake. */
	head(ref, fx.master);
	ck_assert_str_eq(ref, master_head);
	ledger_sync_result_clear(&res);

	ck_assert_int_eq(ledger_sync_status_load(&st, moj, "nisc"), 0);
	ck_assert_uint_eq(st.failures, 0);
	ck_assert_int_gt(st.last_success, 0);
	ck_assert_int_ge(st.last_success, st.last_attempt);
	ck_assert_str_eq(st.fetched, master_head);
	ck_assert_str_eq(st.pushed, moj_head);

	ck_assert_int_eq(ledger_master_intake(&ires, fx.master, &mopts, NULL, NULL), 0);
	ck_assert_uint_eq(ires.merged, 1);
	ck_assert_uint_eq(ires.records, 1);
	ck_assert(has_record(fx.master, a1));

	/* The agency learns of the receipt; both hold the same records, and stay put. */
	ck_assert_msg(ledger_sync_remote(&res, moj, &nisc, &aopts) == 0, "sync: %s",
	              ledger_error_last()->message);
	ck_assert_uint_eq(res.new_records, 1); /* the receipt */
	ledger_sync_result_clear(&res);
	assert_same_records(fx.master, moj);
	ck_assert_int_eq(ledger_master_intake(&ires, fx.master, &mopts, NULL, NULL), 0);
	ck_assert_uint_eq(ires.merged, 0);
	head(master_head, fx.master);
	head(moj_head, moj);
	ck_assert_str_eq(master_head, moj_head);
	assert_no_errors(moj);
	assert_no_errors(fx.master);
	ledger_repo_free(moj);
}

START_TEST(sync_converges_over_a_path)
{
	converge_with_master(fx.master_path);
}
END_TEST

/*
 * A local error while judging the master's main (here a pinned root that
 * is no record id, a setting of this node) is not a refusal of the
 * master's main: no findings are blamed on it, and the sync stops before
 * pushing (review 3, #18: every LEDGER_EINVALID was taken for a refusal and
 * the push went ahead).
 */
START_TEST(a_local_error_is_no_refusal_and_stops_the_push)
{
	ledger_sync_options aopts = node_options(&fx.moj_node, "moj");
	ledger_remote nisc = remote_of("nisc", fx.master_path, LEDGER_REMOTE_MASTER);
	ledger_sync_result res = { 0 };
	ledger_sync_status st;
	ledger_repo *moj = clone_master("moj");
	char a1[65], m1[65], before[41], after[41], ref[41];

	note(moj, &fx.moj_csirt, "filed while the master was away", a1);
	note(fx.master, &fx.manager, "written at nisc", m1);
	ck_assert_int_eq(ledger_repo_config_set(moj, "cymat.root", "not-a-record-id"), 0);
	head(before, moj);
	ck_assert_int_eq(ledger_sync_remote(&res, moj, &nisc, &aopts), LEDGER_EINVALID);
	ck_assert_msg(strstr(ledger_error_last()->message, "cymat.root") != NULL, "message: %s",
	              ledger_error_last()->message);
	ck_assert_msg(strstr(ledger_error_last()->message, "refused") == NULL, "message: %s",
	              ledger_error_last()->message);
	ck_assert_ptr_null(res.refused);
	ck_assert_str_eq(res.pushed, "");
	ledger_sync_result_clear(&res);
	head(after, moj);
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(ledger_repo_ref(ref, fx.master, "refs/inbox/moj"), LEDGER_ENOTFOUND);
	ck_assert_int_eq(ledger_sync_status_load(&st, moj, "nisc"), 0);
	ck_assert_uint_eq(st.failures, 1);
	ck_assert_ptr_nonnull(strstr(st.last_error, "cymat.root"));

	/* Mended, the same sync merges and pushes. */
	ck_assert_int_eq(ledger_repo_config_set(moj, "cymat.root", fx.root_id), 0);
	ck_assert_msg(ledger_sync_remote(&res, moj, &nisc, &aopts) == 0, "sync: %s",
	              ledger_error_last()->message);
	ck_assert(has_record(moj, m1));
	ck_assert_int_eq(ledger_repo_ref(ref, fx.master, "refs/inbox/moj"), 0);
	ck_assert_str_eq(ref, res.pushed);
	ledger_sync_result_clear(&res);
	ledger_repo_free(moj);
}
END_TEST

START_TEST(peers_relay_records_and_refuse_forgeries)
{
	ledger_sync_options opts = node_options(&fx.moj_node, "moj");
	ledger_sync_result res = { 0 };
	ledger_sync_status st;
	ledger_repo *moj = clone_master("moj"), *mof = clone_master("mof");
	ledger_remote peer = remote_of("mof", ledger_repo_git_dir(mof), LEDGER_REMOTE_PEER);
	ledger_record *rec = read_record(fx.master, fx.root_id);
	char f1[65], before[41], after[41], path[LEDGER_RECORD_PATH_LEN + 1];
	char *data = NULL, *sigpos;
	size_t len;

	/* A peer's records reach us; nothing is pushed to a peer. */
	note(mof, &fx.mof_csirt, "relayed", f1);
	ck_assert_int_eq(ledger_sync_remote(&res, moj, &peer, &opts), 0);
	ck_assert_uint_eq(res.new_records, 1);
	ck_assert_str_eq(res.pushed, "");
	ck_assert(has_record(moj, f1));
	ck_assert_int_eq(ledger_repo_ref(before, mof, "refs/inbox/moj"), LEDGER_ENOTFOUND);
	ledger_sync_result_clear(&res);

	/* The peer now carries a record whose signature was altered: refused, main kept. */
	ledger_record_free(rec);
	rec = NULL;
	{
		ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
		ledger_state *s = load(mof);
		json_t *body = json_pack("{s:s}", "summary", "forged");
		int64_t seq;
		char prev[65];

		ledger_state_chain_tip(&seq, prev, s, fx.mof_csirt.kid);
		ledger_state_free(s);
		f.type = "note";
		f.author = "mof/csirt";
		f.seq = seq + 1;
		f.prev = *prev ? prev : NULL;
		f.body = body;
		ck_assert_int_eq(ledger_record_create(&rec, &f, fx.mof_csirt.key), 0);
		json_decref(body);
	}
	ck_assert_int_eq(ledger_record_envelope(&data, &len, rec), 0);
	sigpos = strstr(data, "\"sig\":\"");
	sigpos[7] = sigpos[7] == 'A' ? 'B' : 'A';
	ledger_record_path(path, rec->id);
	append_raw(mof, &fx.mof_csirt, path, data, len);
	head(before, moj);
	ck_assert_int_eq(ledger_sync_remote(&res, moj, &peer, &opts), LEDGER_EINVALID);
	ck_assert_msg(strstr(ledger_error_last()->message, rec->id) != NULL, "message: %s",
	              ledger_error_last()->message);
	ck_assert_ptr_nonnull(res.refused);
	ck_assert_str_eq(ledger_report_get(res.refused, 0)->id, rec->id);
	ck_assert_str_eq(ledger_report_get(res.refused, 0)->code, "bad-signature");
	head(after, moj);
	ck_assert_str_eq(after, before);
	ck_assert_str_eq(res.merged, before);
	ck_assert(!has_record(moj, rec->id));
	ledger_sync_result_clear(&res);
	ck_assert_int_eq(ledger_sync_status_load(&st, moj, "mof"), 0);
	ck_assert_uint_eq(st.failures, 1);
	ck_assert_ptr_nonnull(strstr(st.last_error, rec->id));
	ck_assert_int_gt(st.last_error_time, 0);
	/* Judged again (through the cache, read-only), refused again. */
	ck_assert_int_eq(ledger_sync_remote(&res, moj, &peer, &opts), LEDGER_EINVALID);
	ledger_sync_result_clear(&res);
	ck_assert_int_eq(ledger_sync_status_load(&st, moj, "mof"), 0);
	ck_assert_uint_eq(st.failures, 2);
	head(after, moj);
	ck_assert_str_eq(after, before);
	assert_no_errors(moj);

	/* An unreachable remote: a network error, counted in the status. */
	peer = remote_of("gone", "git://127.0.0.1:1/nothing.git", LEDGER_REMOTE_PEER);
	ck_assert_int_lt(ledger_sync_remote(&res, moj, &peer, &opts), 0);
	ledger_sync_result_clear(&res);
	ck_assert_int_eq(ledger_sync_status_load(&st, moj, "gone"), 0);
	ck_assert_uint_eq(st.failures, 1);
	ck_assert_str_ne(st.last_error, "");

	/* Bad remotes are refused before anything happens. */
	peer = remote_of("Bad Name", fx.master_path, LEDGER_REMOTE_PEER);
	ck_assert_int_eq(ledger_sync_remote(&res, moj, &peer, &opts), LEDGER_EINVALID);
	peer = remote_of("nisc", fx.master_path, LEDGER_REMOTE_MASTER);
	opts.agency = NULL;
	ck_assert_int_eq(ledger_sync_remote(&res, moj, &peer, &opts), LEDGER_EINVALID);

	free(data);
	ledger_record_free(rec);
	ledger_repo_free(moj);
	ledger_repo_free(mof);
}
END_TEST

START_TEST(sync_converges_over_git_daemon)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	char url[4600];
	int fd, port, tries;

	if (system("git daemon -h >/dev/null 2>&1; test $? -ne 127") != 0) {
		fprintf(stderr, "SKIP: git daemon not available\n");
		return;
	}
	/* A free port: bind to port 0, read it back, close it for the daemon. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	/* Killed by teardown; `timeout` ends it even if teardown never runs. */
	snprintf(fx.daemon_pidfile, sizeof(fx.daemon_pidfile), "%s/daemon.pid", fx.dir);
	sh("timeout 600 git daemon --reuseaddr --listen=127.0.0.1 --port=%d --base-path='%s' "
	   "--export-all --enable=receive-pack --pid-file='%s' '%s' </dev/null >/dev/null 2>&1 &",
	   port, fx.dir, fx.daemon_pidfile, fx.dir);
	/* Wait until it answers (git ls-remote is the independent client). */
	for (tries = 0; tries < 100; tries++) {
		char cmd[4800];

		snprintf(cmd, sizeof(cmd), "git ls-remote git://127.0.0.1:%d/master.git "
		         ">/dev/null 2>&1", port);
		if (system(cmd) == 0)
			break;
		usleep(100 * 1000);
	}
	ck_assert_int_lt(tries, 100);
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/master.git", port);
	converge_with_master(url);
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
	tcase_add_test(tc, checkpoint_names_main_and_its_record_count);
	tcase_add_test(tc, intake_merges_an_inbox_and_signs_a_receipt);
	tcase_add_test(tc, intake_refuses_a_forged_record_and_leaves_main);
	tcase_add_test(tc, intake_issues_a_receipt_a_crash_left_due);
	tcase_add_test(tc, sync_converges_over_a_path);
	tcase_add_test(tc, peers_relay_records_and_refuse_forgeries);
	tcase_add_test(tc, a_local_error_is_no_refusal_and_stops_the_push);
	tcase_add_test(tc, sync_converges_over_git_daemon);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(node_suite());
}
