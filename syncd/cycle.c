/*
 * One sync cycle, for the daemon and for `cymat sync`: each remote that is
 * due is synced (fetch, verify, merge, push: ledger_sync_remote) and its
 * status saved, with exponential backoff and jitter after failures; a
 * master also takes in its inboxes and signs checkpoints.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "syncd.h"

unsigned int syncd_backoff(const struct syncd_config *cfg, unsigned int failures)
{
	uint64_t delay = cfg->backoff_base, half;
	uint32_t r = 0;

	while (failures-- > 1 && delay < cfg->backoff_cap)
		delay *= 2;
	if (delay > cfg->backoff_cap)
		delay = cfg->backoff_cap;
	/*
	 * Jitter over the upper half, so that nodes cut off together do not
	 * come back together; the delay never shrinks as failures grow.
	 */
	half = delay / 2;
	if (half && ledger_random((uint8_t *)&r, sizeof(r)) == 0)
		delay = delay - half + r % (half + 1);
	if (delay < cfg->backoff_base)
		delay = cfg->backoff_base;
	return (unsigned int)delay;
}

static void sync_options(ledger_sync_options *opts, const struct syncd_node *node)
{
	const struct syncd_config *cfg = node->cfg;

	opts->agency = cfg->agency;
	opts->node_key = node->key;
	opts->node_principal = cfg->principal;
	opts->limits.deadline_s = cfg->transfer_deadline;
	opts->limits.max_bytes = cfg->max_bytes;
	opts->limits.max_objects = cfg->max_objects;
}

/* Log why incoming work was refused: the first error findings. */
static void log_refused(const char *from, const ledger_report *report)
{
	const ledger_finding *f;
	size_t i, shown = 0;

	for (i = 0; i < ledger_report_count(report) && shown < 5; i++) {
		f = ledger_report_get(report, i);
		if (f->severity != LEDGER_SEVERITY_ERROR)
			continue;
		syncd_log(LOG_WARNING, "\"%s\": refused: %s %s %s %s%s%s: %s", from, f->rule,
		          f->code, *f->id ? f->id : "-", *f->path ? f->path : "-",
		          *f->commit ? " in commit " : "", f->commit, f->message);
		shown++;
	}
}

/* A library message about a remote begins 'remote "NAME": '; our log line already does. */
static const char *without_subject(const char *message, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(message, "remote \"", 8) == 0 && strncmp(message + 8, name, n) == 0 &&
	    strncmp(message + 8 + n, "\": ", 3) == 0)
		return message + 8 + n + 3;
	return message;
}

/*
 * Sync one remote now.  ledger_sync_remote records the outcome in the
 * remote's status (`st`, as it was before, is what we fall back on if that
 * cannot be read back); the next attempt, the backoff, is ours to set.
 */
static void sync_remote(struct syncd_cycle_stats *stats, ledger_sync_status *st,
                        struct syncd_node *node, const struct syncd_remote *r)
{
	ledger_sync_options opts = LEDGER_SYNC_OPTIONS_INIT;
	ledger_sync_result res;
	ledger_remote remote = { r->name, r->url, r->role };
	unsigned int before = st->failures, delay;
	char message[256];
	int64_t now;
	int error;

	memset(&res, 0, sizeof(res));
	sync_options(&opts, node);
	syncd_log(LOG_DEBUG, "remote \"%s\": syncing with %s", r->name, r->url);
	error = ledger_sync_remote(&res, node->repo, &remote, &opts);
	now = (int64_t)time(NULL);
	snprintf(message, sizeof(message), "%s", error < 0 ? syncd_error_message() : "");
	stats->attempted++;
	if (ledger_sync_status_load(st, node->repo, r->name) < 0) {
		syncd_log(LOG_WARNING, "remote \"%s\": status unreadable after the sync: %s", r->name,
		          syncd_error_message());
		st->last_attempt = now;
		if (error == 0) {
			st->failures = 0;
			st->last_success = now;
		} else {
			st->failures = before + 1;
			st->last_error_time = now;
			snprintf(st->last_error, sizeof(st->last_error), "%s", message);
		}
	}
	if (error == 0) {
		if (before)
			syncd_log(LOG_NOTICE, "remote \"%s\": back after %u failure%s", r->name, before,
			          before == 1 ? "" : "s");
		st->next_attempt = now + node->cfg->poll_interval;
		stats->new_records += res.new_records;
		syncd_log(res.new_records ? LOG_INFO : LOG_DEBUG,
		          "remote \"%s\": in sync, %zu new record%s%s%.12s", r->name, res.new_records,
		          res.new_records == 1 ? "" : "s", *res.pushed ? ", pushed " : "", res.pushed);
	} else {
		delay = syncd_backoff(node->cfg, st->failures ? st->failures : 1);
		st->next_attempt = now + delay;
		stats->failed++;
		syncd_log(LOG_WARNING, "remote \"%s\": %s; failure %u, next attempt in %us", r->name,
		          without_subject(message, r->name), st->failures, delay);
		if (res.refused)
			log_refused(r->name, res.refused);
	}
	ledger_sync_result_clear(&res);
	if (ledger_sync_status_save(node->repo, st) < 0)
		syncd_log(LOG_ERR, "remote \"%s\": cannot save its status: %s", r->name,
		          syncd_error_message());
}

/* What the intake made of one inbox, in the log. */
static void log_intake(const ledger_intake_event *ev, void *payload)
{
	(void)payload;
	if (ev->error == 0)
		syncd_log(ev->accepted ? LOG_INFO : LOG_DEBUG,
		          "inbox \"%s\": merged %.12s, %zu new record%s, receipt %.12s", ev->inbox,
		          ev->commit, ev->accepted, ev->accepted == 1 ? "" : "s", ev->receipt);
	else
		syncd_log(LOG_WARNING, "inbox \"%s\": %.12s %s: %s", ev->inbox, ev->commit,
		          ev->refused ? "refused" : "not merged", ev->message ? ev->message : "");
	if (ev->refused)
		log_refused(ev->inbox, ev->refused);
}

static void master_steps(struct syncd_cycle_stats *stats, int64_t *wake, struct syncd_node *node,
                         int force)
{
	const struct syncd_config *cfg = node->cfg;
	ledger_sync_options opts = LEDGER_SYNC_OPTIONS_INIT;
	struct syncd_checkpoint newest;
	char id[LEDGER_HEX_ID_LEN + 1], when[21];
	int64_t now = (int64_t)time(NULL);
	int error;

	sync_options(&opts, node);
	stats->master = 1;
	if (force || now >= node->next_intake) {
		error = ledger_master_intake(&stats->intake, node->repo, &opts, log_intake, NULL);
		if (error < 0) {
			stats->master_failed = 1;
			syncd_log(LOG_WARNING, "intake: %s", syncd_error_message());
		}
		node->next_intake = (int64_t)time(NULL) + cfg->poll_interval;
	}
	/* The first time round, the ledger says when the last checkpoint was. */
	if (node->next_checkpoint == 0) {
		error = syncd_newest_checkpoint(&newest, node->repo, now);
		if (error < 0) {
			syncd_log(LOG_WARNING, "cannot find the newest checkpoint: %s", syncd_error_message());
			newest.time = 0;
		} else if (newest.future) {
			ledger_time_format(when, newest.future);
			syncd_log(LOG_WARNING, "checkpoint %.12s dated %s, ahead of the clock: ignored",
			          newest.future_id, when);
		}
		node->next_checkpoint = newest.time ? newest.time + cfg->checkpoint_interval : now;
	}
	if (now >= node->next_checkpoint) {
		error = ledger_master_checkpoint(id, node->repo, &opts);
		if (error < 0) {
			stats->master_failed = 1;
			syncd_log(LOG_WARNING, "checkpoint: %s", syncd_error_message());
			node->next_checkpoint = (int64_t)time(NULL) + cfg->backoff_base;
		} else {
			syncd_log(LOG_INFO, "checkpoint %s signed", id);
			stats->checkpoint = 1;
			node->next_checkpoint = (int64_t)time(NULL) + cfg->checkpoint_interval;
		}
	}
	if (node->next_intake < *wake)
		*wake = node->next_intake;
	if (node->next_checkpoint < *wake)
		*wake = node->next_checkpoint;
}

int syncd_cycle(struct syncd_cycle_stats *stats, int64_t *next_wake, struct syncd_node *node,
                int force, syncd_stop_cb stop, void *payload)
{
	const struct syncd_config *cfg = node->cfg;
	ledger_sync_status st;
	int64_t wake = INT64_MAX;
	size_t i;
	int error;

	memset(stats, 0, sizeof(*stats));
	for (i = 0; i < cfg->nremotes; i++) {
		if (stop && stop(payload))
			break;
		error = ledger_sync_status_load(&st, node->repo, cfg->remotes[i].name);
		if (error < 0) {
			if (error != LEDGER_ENOTFOUND)
				syncd_log(LOG_WARNING, "remote \"%s\": status unreadable, starting afresh: %s",
				          cfg->remotes[i].name, syncd_error_message());
			memset(&st, 0, sizeof(st));
			snprintf(st.remote, sizeof(st.remote), "%s", cfg->remotes[i].name);
		}
		if (force || st.next_attempt <= (int64_t)time(NULL))
			sync_remote(stats, &st, node, &cfg->remotes[i]);
		if (st.next_attempt < wake)
			wake = st.next_attempt;
	}
	if (cfg->mode == SYNCD_MODE_MASTER && !(stop && stop(payload)))
		master_steps(stats, &wake, node, force);
	*next_wake = wake;
	return 0;
}

static int compare_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct checkpoint_scan {
	struct syncd_checkpoint *out;
	const char **bad; /* ids of records with an error or pending finding, sorted */
	size_t nbad;
	int64_t latest;   /* a checkpoint dated later is not believed */
};

static int scan_checkpoint(const char *path, const char *data, size_t len, void *payload)
{
	struct checkpoint_scan *scan = payload;
	struct syncd_checkpoint *out = scan->out;
	ledger_record *rec = NULL;
	const char *id;

	(void)path;
	/* Record files are canonical JSON: this string is in every checkpoint, and rarely elsewhere. */
	if (!memmem(data, len, "\"type\":\"checkpoint\"", 19))
		return 0;
	if (ledger_record_parse(&rec, data, len) < 0 || strcmp(rec->type, "checkpoint") != 0)
		goto done;
	id = rec->id;
	if (scan->nbad && bsearch(&id, scan->bad, scan->nbad, sizeof(*scan->bad), compare_ids))
		goto done;
	if (rec->time_unix > scan->latest) {
		if (rec->time_unix > out->future) {
			out->future = rec->time_unix;
			memcpy(out->future_id, rec->id, sizeof(out->future_id));
		}
	} else if (rec->time_unix > out->time) {
		out->time = rec->time_unix;
		memcpy(out->id, rec->id, sizeof(out->id));
	}
done:
	ledger_record_free(rec);
	return 0;
}

int syncd_newest_checkpoint(struct syncd_checkpoint *out, ledger_repo *repo, int64_t now)
{
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	struct checkpoint_scan scan = { out, NULL, 0, now + SYNCD_CHECKPOINT_MAX_AHEAD };
	ledger_state *state = NULL;
	const ledger_report *report;
	char tip[LEDGER_OID_HEX_LEN + 1];
	size_t i;
	int error;

	memset(out, 0, sizeof(*out));
	/*
	 * Only checkpoints the verifier holds valid count (signed by a NISC
	 * node: any other signer could stop the master's checkpoints with one
	 * record dated far ahead), and none dated beyond the bound.
	 */
	if ((error = ledger_repo_head(tip, repo)) < 0)
		return error;
	vopts.tip = tip;
	if ((error = ledger_state_load(&state, repo, &vopts)) < 0)
		return error;
	report = ledger_state_report(state);
	scan.bad = malloc((ledger_report_count(report) + 1) * sizeof(*scan.bad));
	if (!scan.bad) {
		error = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < ledger_report_count(report); i++) {
		const ledger_finding *f = ledger_report_get(report, i);

		if (*f->id && f->severity != LEDGER_SEVERITY_WARNING)
			scan.bad[scan.nbad++] = f->id;
	}
	if (scan.nbad > 1)
		qsort(scan.bad, scan.nbad, sizeof(*scan.bad), compare_ids);
	error = ledger_repo_foreach_record(repo, tip, scan_checkpoint, &scan);
done:
	free(scan.bad);
	ledger_state_free(state);
	return error;
}
