/*
 * cymat sync: one sync cycle now (in this process, or by asking the running
 * cymat-syncd), and `cymat sync status`: where each remote stands.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "ledger.h"
#include "cli.h"
#include "syncd.h"

const char cmd_sync_help[] =
	"usage: cymat sync [--config FILE] [-v | -q]\n"
	"       cymat [-C DIR] sync status [--config FILE] [--json]\n"
	"\n"
	"Run one sync cycle now, with the remotes, key and ledger of a cymat-syncd\n"
	"config file: each remote is fetched, what is new verified and merged into\n"
	"main, and main pushed to the master's inbox (a master takes in its\n"
	"inboxes).  Backoff is ignored; the outcome is saved in each remote's status\n"
	"as the daemon would save it.  When a cymat-syncd runs on the ledger (it\n"
	"holds <git dir>/cymat/syncd.pid), it is asked to sync now (SIGUSR1) instead,\n"
	"and the command says so.\n"
	"\n"
	"`sync status` prints, per remote: the last success, the last error, the\n"
	"failures in a row and the backoff, the next attempt, the records ahead of\n"
	"and behind refs/cymat/remotes/NAME/main, the records of main not yet pushed\n"
	"(since refs/cymat/pushed/NAME), and the age of the newest valid checkpoint\n"
	"record in the ledger (one dated more than 5 minutes ahead is ignored).\n"
	"Without --config the remotes are those the ledger has a status or a remote\n"
	"ref for, and the ledger is -C DIR (or the current directory).\n"
	"\n"
	"Options:\n"
	"  --config FILE  the cymat-syncd config\n"
	"                 (default: " SYNCD_DEFAULT_CONFIG ")\n"
	"  -v, --verbose  log more (sync; repeatable)\n"
	"  -q, --quiet    log less (sync; repeatable)\n"
	"  --json         one JSON object (status)\n"
	"  -h, --help     show this help\n"
	"\n"
	"Exit status: 0 every remote synced, or the daemon was asked to; 3 bad config;\n"
	"4 the daemon is starting; 6 a remote failed (its status says why).\n"
	"\n"
	"Examples:\n"
	"  cymat sync --config /etc/cymat/cymat-syncd.conf\n"
	"  cymat -C /var/lib/cymat/ledger.git sync status\n"
	"  cymat sync status --config /etc/cymat/cymat-syncd.conf --json\n";

static int load_config(struct syncd_config **out, const char *path)
{
	struct syncd_diag diag = { NULL, 0 };
	size_t i;
	int error, rc = CLI_EXIT_OK;

	error = syncd_config_load(out, path, &diag);
	if (error < 0) {
		for (i = 0; i < diag.count; i++)
			cli_error("%s", diag.lines[i]);
		rc = diag.count ? CLI_EXIT_INPUT : cli_lib_error(error, NULL);
	}
	syncd_diag_clear(&diag);
	return rc;
}

static int run_cycle(const char *config_path, int verbosity)
{
	struct syncd_config *cfg = NULL;
	struct syncd_node *node = NULL;
	struct syncd_cycle_stats stats;
	int64_t wake;
	pid_t pid;
	int error, rc;

	if (cli_ledger_dir)
		return cli_usage_error("the ledger is the config's (ledger = ...): drop -C");
	if ((rc = load_config(&cfg, config_path)) != CLI_EXIT_OK)
		return rc;
	error = syncd_node_open(&node, cfg);
	if (error < 0) {
		/* A key or ledger the config names is input, like the config. */
		rc = cli_lib_error(error, "config \"%s\"", config_path);
		return rc == CLI_EXIT_INTERNAL ? CLI_EXIT_INPUT : rc;
	}
	error = syncd_pidfile_holder(&pid, node->pidfile);
	if (error < 0) {
		rc = cli_lib_error(error, NULL);
		goto done;
	}
	if (pid > 0) {
		if (kill(pid, SIGUSR1) != 0) {
			cli_error("cannot signal cymat-syncd (pid %ld): %s", (long)pid, strerror(errno));
			rc = CLI_EXIT_INTERNAL;
			goto done;
		}
		printf("asked the running cymat-syncd (pid %ld) to sync now; see its log, "
		       "or `cymat sync status`\n", (long)pid);
		rc = cli_finish_output();
		goto done;
	}
	syncd_log_open("cymat sync", 0, syncd_effective_log_level(node->cfg, verbosity));
	syncd_cycle(&stats, &wake, node, 1, NULL, NULL);
	printf("%zu remote%s synced, %zu failed, %zu new record%s\n",
	       stats.attempted - stats.failed, stats.attempted - stats.failed == 1 ? "" : "s",
	       stats.failed, stats.new_records, stats.new_records == 1 ? "" : "s");
	/* A master's cycle is mostly its intake: say what it took in. */
	if (stats.master)
		printf("intake: %zu inbox%s merged, %zu new record%s, %zu refused; %s\n",
		       stats.intake.merged, stats.intake.merged == 1 ? "" : "es",
		       stats.intake.records, stats.intake.records == 1 ? "" : "s",
		       stats.intake.refused,
		       stats.checkpoint ? "checkpoint signed" : "no checkpoint due");
	rc = cli_finish_output();
	if (rc == CLI_EXIT_OK && stats.failed)
		rc = CLI_EXIT_REMOTE;
	else if (rc == CLI_EXIT_OK && stats.master_failed)
		rc = CLI_EXIT_INTERNAL;
done:
	syncd_node_free(node);
	return rc;
}

/* ---- status -------------------------------------------------------------- */

struct remote_view {
	char name[33];
	const char *url;   /* NULL: not configured here */
	const char *role;
	int has_status;
	char status_error[256]; /* why the status file could not be read; "" when it could */
	ledger_sync_status st;
	int has_tracking, has_pushed;
	char tracking[LEDGER_OID_HEX_LEN + 1];
	char pushed[LEDGER_OID_HEX_LEN + 1];
	size_t ahead, behind, unpushed;
};

struct view {
	ledger_repo *repo;
	char main[LEDGER_OID_HEX_LEN + 1];
	int64_t now;
	struct syncd_checkpoint checkpoint;
	struct remote_view *remotes;
	size_t count;
};

static int add_remote(struct view *v, const char *name, const char *url, const char *role)
{
	struct remote_view *grown;
	size_t i;

	if (strlen(name) >= sizeof(v->remotes[0].name))
		return 0;
	for (i = 0; i < v->count; i++)
		if (strcmp(v->remotes[i].name, name) == 0)
			return 0;
	grown = realloc(v->remotes, (v->count + 1) * sizeof(*grown));
	if (!grown)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	v->remotes = grown;
	memset(&grown[v->count], 0, sizeof(*grown));
	snprintf(grown[v->count].name, sizeof(grown[v->count].name), "%s", name);
	grown[v->count].url = url;
	grown[v->count].role = role;
	v->count++;
	return 0;
}

/* refs/cymat/remotes/<name>/main: a remote the ledger has fetched from. */
static int ref_remote(const char *ref, const char *commit, void *payload)
{
	const char *name = ref + strlen("refs/cymat/remotes/");
	const char *slash = strchr(name, '/');
	char buf[33];

	(void)commit;
	if (!slash || strcmp(slash, "/main") != 0 || (size_t)(slash - name) >= sizeof(buf))
		return 0;
	memcpy(buf, name, (size_t)(slash - name));
	buf[slash - name] = '\0';
	return add_remote(payload, buf, NULL, NULL);
}

/* <git dir>/cymat/sync/<name>.json: a remote the ledger has a status for. */
static int status_remotes(struct view *v)
{
	const char *state;
	char dir[4096], name[64];
	struct dirent *de;
	size_t len;
	DIR *dp;
	int error;

	error = ledger_repo_state_dir(&state, v->repo);
	if (error < 0)
		return error;
	snprintf(dir, sizeof(dir), "%s/sync", state);
	dp = opendir(dir);
	if (!dp)
		return 0;
	error = 0;
	while (!error && (de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || len - 5 >= sizeof(name) || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		memcpy(name, de->d_name, len - 5);
		name[len - 5] = '\0';
		if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len - 5)
			error = add_remote(v, name, NULL, NULL);
	}
	closedir(dp);
	return error;
}

static int count_file(const char *path, const char *data, size_t len, void *payload)
{
	(void)path;
	(void)data;
	(void)len;
	(*(size_t *)payload)++;
	return 0;
}

/* Records in `to` that `from` (NULL: nothing) lacks. */
static int count_added(size_t *out, ledger_repo *repo, const char *from, const char *to)
{
	*out = 0;
	return ledger_repo_foreach_added(repo, from, to, count_file, out);
}

static int fill_remote(struct view *v, struct remote_view *r)
{
	char ref[128];
	int error;

	error = ledger_sync_status_load(&r->st, v->repo, r->name);
	r->has_status = error == 0;
	if (error < 0 && error != LEDGER_ENOTFOUND) {
		/* A damaged status file hides one remote's history, not the others'. */
		snprintf(r->status_error, sizeof(r->status_error), "%s", syncd_error_message());
		memset(&r->st, 0, sizeof(r->st));
	}
	snprintf(ref, sizeof(ref), "refs/cymat/remotes/%s/main", r->name);
	error = ledger_repo_ref(r->tracking, v->repo, ref);
	if (error < 0 && error != LEDGER_ENOTFOUND)
		return error;
	r->has_tracking = error == 0;
	if (r->has_tracking) {
		if ((error = count_added(&r->ahead, v->repo, r->tracking, v->main)) < 0 ||
		    (error = count_added(&r->behind, v->repo, v->main, r->tracking)) < 0)
			return error;
	}
	snprintf(ref, sizeof(ref), "refs/cymat/pushed/%s", r->name);
	error = ledger_repo_ref(r->pushed, v->repo, ref);
	if (error < 0 && error != LEDGER_ENOTFOUND)
		return error;
	r->has_pushed = error == 0;
	/* Peers are only pulled from: nothing is ever pushed to them. */
	if (r->role && strcmp(r->role, "peer") == 0)
		return 0;
	return count_added(&r->unpushed, v->repo, r->has_pushed ? r->pushed : NULL, v->main);
}

/* "3d 4h", "12m 5s": an age for people. */
static void format_age(char *out, size_t size, int64_t secs)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		snprintf(out, size, "%lldd %lldh", (long long)(secs / 86400),
		         (long long)(secs % 86400 / 3600));
	else if (secs >= 3600)
		snprintf(out, size, "%lldh %lldm", (long long)(secs / 3600),
		         (long long)(secs % 3600 / 60));
	else if (secs >= 60)
		snprintf(out, size, "%lldm %llds", (long long)(secs / 60), (long long)(secs % 60));
	else
		snprintf(out, size, "%llds", (long long)secs);
}

/* "2026-11-26T03:00:00Z (5m 2s ago)" or "never". */
static void format_when(char *out, size_t size, int64_t t, int64_t now)
{
	char iso[21], age[32];

	if (!t) {
		snprintf(out, size, "never");
		return;
	}
	ledger_time_format(iso, t);
	format_age(age, sizeof(age), t > now ? t - now : now - t);
	snprintf(out, size, "%s (%s %s)", iso, t > now ? "in" : age, t > now ? age : "ago");
}

/* One word for the state a remote is in. */
static const char *remote_state(const struct remote_view *r)
{
	if (*r->status_error)
		return "unknown";
	if (r->st.failures)
		return "failing";
	if (!r->st.last_success)
		return "never-synced";
	if (r->has_tracking && r->ahead == 0 && r->behind == 0 && r->unpushed == 0)
		return "in-sync";
	return "behind";
}

static json_t *json_time(int64_t t)
{
	char iso[21];

	if (!t)
		return json_null();
	ledger_time_format(iso, t);
	return json_string(iso);
}

static json_t *json_count(int known, size_t n)
{
	return known ? json_integer((json_int_t)n) : json_null();
}

static int print_json(const struct view *v, const char *ledger)
{
	json_t *root, *remotes, *obj;
	const struct remote_view *r;
	size_t i;
	int peer;

	remotes = json_array();
	root = json_pack("{s:s, s:s, s:o, s:o}", "ledger", ledger, "main", v->main,
	                 "now", json_time(v->now), "remotes", remotes);
	if (!root)
		return cli_lib_error(ledger_error_set(LEDGER_ENOMEM, "out of memory"), NULL);
	if (v->checkpoint.time)
		json_object_set_new(root, "checkpoint",
		                    json_pack("{s:s, s:o, s:I}", "id", v->checkpoint.id,
		                              "time", json_time(v->checkpoint.time),
		                              "age", (json_int_t)(v->now - v->checkpoint.time)));
	else
		json_object_set_new(root, "checkpoint", json_null());
	if (v->checkpoint.future)
		json_object_set_new(root, "future_checkpoint",
		                    json_pack("{s:s, s:o}", "id", v->checkpoint.future_id,
		                              "time", json_time(v->checkpoint.future)));
	for (i = 0; i < v->count; i++) {
		r = &v->remotes[i];
		peer = r->role && strcmp(r->role, "peer") == 0;
		obj = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o, "
		                "s:o, s:o}",
		                "name", r->name,
		                "state", remote_state(r),
		                "url", r->url ? json_string(r->url) : json_null(),
		                "role", r->role ? json_string(r->role) : json_null(),
		                "last_attempt", json_time(r->st.last_attempt),
		                "last_success", json_time(r->st.last_success),
		                "last_error", *r->st.last_error ? json_string(r->st.last_error) :
		                                                 json_null(),
		                "last_error_time", json_time(r->st.last_error_time),
		                "failures", (json_int_t)r->st.failures,
		                "next_attempt", json_time(r->st.next_attempt),
		                "tracking", r->has_tracking ? json_string(r->tracking) : json_null(),
		                "ahead", json_count(r->has_tracking, r->ahead),
		                "behind", json_count(r->has_tracking, r->behind),
		                "pushed", r->has_pushed ? json_string(r->pushed) : json_null(),
		                "unpushed", json_count(!peer, r->unpushed));
		if (obj && *r->status_error)
			json_object_set_new(obj, "status_error", json_string(r->status_error));
		if (!obj || json_array_append_new(remotes, obj) < 0) {
			json_decref(root);
			return cli_lib_error(ledger_error_set(LEDGER_ENOMEM, "out of memory"), NULL);
		}
	}
	cli_print_json(root, 0);
	json_decref(root);
	return cli_finish_output();
}

static void print_text(const struct view *v, const char *ledger)
{
	const struct remote_view *r;
	char when[96], age[32];
	size_t i;

	printf("ledger %s, main %.12s\n", ledger, v->main);
	if (v->checkpoint.time) {
		format_age(age, sizeof(age), v->now - v->checkpoint.time);
		ledger_time_format(when, v->checkpoint.time);
		printf("newest checkpoint: %s, %s old (record %.12s)\n", when, age, v->checkpoint.id);
	} else {
		printf("newest checkpoint: none\n");
	}
	if (v->checkpoint.future) {
		ledger_time_format(when, v->checkpoint.future);
		printf("ignored checkpoint: %s, dated ahead of the clock (record %.12s)\n", when,
		       v->checkpoint.future_id);
	}
	if (v->count == 0)
		printf("no remotes\n");
	for (i = 0; i < v->count; i++) {
		r = &v->remotes[i];
		printf("\nremote %s", r->name);
		if (r->url)
			printf(" (%s, %s)", r->role, r->url);
		printf(": %s\n", remote_state(r));
		if (*r->status_error)
			printf("  status:        unreadable: %s\n", r->status_error);
		format_when(when, sizeof(when), r->st.last_success, v->now);
		printf("  last success:  %s\n", when);
		if (*r->st.last_error) {
			format_when(when, sizeof(when), r->st.last_error_time, v->now);
			printf("  last error:    %s: %s\n", when, r->st.last_error);
		} else {
			printf("  last error:    none\n");
		}
		if (r->st.failures) {
			format_age(age, sizeof(age), r->st.next_attempt - r->st.last_error_time);
			printf("  failures:      %u in a row, backing off %s\n", r->st.failures, age);
		} else {
			printf("  failures:      0\n");
		}
		format_when(when, sizeof(when), r->st.next_attempt, v->now);
		printf("  next attempt:  %s\n", r->has_status ? when : "at the next cycle");
		if (r->has_tracking)
			printf("  records:       %zu ahead, %zu behind refs/cymat/remotes/%s/main\n",
			       r->ahead, r->behind, r->name);
		else
			printf("  records:       nothing fetched yet\n");
		if (r->role && strcmp(r->role, "peer") == 0)
			printf("  unpushed:      - (a peer is only pulled from)\n");
		else if (r->has_pushed)
			printf("  unpushed:      %zu record%s since refs/cymat/pushed/%s\n", r->unpushed,
			       r->unpushed == 1 ? "" : "s", r->name);
		else
			printf("  unpushed:      %zu record%s (never pushed)\n", r->unpushed,
			       r->unpushed == 1 ? "" : "s");
	}
}

static int run_status(const char *config_path, int json)
{
	struct syncd_config *cfg = NULL;
	struct view v;
	const char *ledger;
	size_t i;
	int error, rc;

	memset(&v, 0, sizeof(v));
	if (config_path) {
		if (cli_ledger_dir)
			return cli_usage_error("the ledger is the config's (ledger = ...): drop -C");
		if ((rc = load_config(&cfg, config_path)) != CLI_EXIT_OK)
			return rc;
		error = ledger_repo_open(&v.repo, cfg->ledger);
		if (error < 0) {
			rc = cli_lib_error(error, "cannot open the ledger \"%s\"", cfg->ledger);
			goto done;
		}
		for (i = 0; i < cfg->nremotes; i++) {
			error = add_remote(&v, cfg->remotes[i].name, cfg->remotes[i].url,
			                   cfg->remotes[i].role == LEDGER_REMOTE_PEER ? "peer" : "master");
			if (error < 0) {
				rc = cli_lib_error(error, NULL);
				goto done;
			}
		}
	} else if ((rc = cli_open_repo(&v.repo)) != CLI_EXIT_OK) {
		goto done;
	}
	ledger = ledger_repo_git_dir(v.repo);
	v.now = (int64_t)time(NULL);
	if ((error = ledger_repo_head(v.main, v.repo)) < 0 ||
	    (error = ledger_repo_foreach_ref(v.repo, "refs/cymat/remotes/", ref_remote, &v)) < 0 ||
	    (error = status_remotes(&v)) < 0 ||
	    (error = syncd_newest_checkpoint(&v.checkpoint, v.repo, v.now)) < 0) {
		rc = cli_lib_error(error, "cannot read the ledger");
		goto done;
	}
	for (i = 0; i < v.count; i++) {
		error = fill_remote(&v, &v.remotes[i]);
		if (error < 0) {
			rc = cli_lib_error(error, NULL);
			goto done;
		}
	}
	if (json) {
		rc = print_json(&v, ledger);
	} else {
		print_text(&v, ledger);
		rc = cli_finish_output();
	}
done:
	free(v.remotes);
	ledger_repo_free(v.repo);
	syncd_config_free(cfg);
	return rc;
}

int cmd_sync(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config_path = NULL;
	int c, json = 0, verbosity = 0, status;

	status = argc > 1 && strcmp(argv[1], "status") == 0;
	if (status) {
		argc--;
		argv++;
	}
	while ((c = getopt_long(argc, argv, "vqh", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'v':
			verbosity++;
			break;
		case 'q':
			verbosity--;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("unexpected argument \"%s\"", argv[optind]);
	if (status) {
		if (verbosity)
			return cli_usage_error("-v and -q are for a sync, not for status");
		return run_status(config_path, json);
	}
	if (json)
		return cli_usage_error("--json is for `sync status`");
	return run_cycle(config_path ? config_path : SYNCD_DEFAULT_CONFIG, verbosity);
}
