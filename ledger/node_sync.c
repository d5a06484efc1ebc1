/*
 * One sync with one remote (node.h, ledger_sync_remote): fetch its main
 * into a quarantine, judge and merge it there (only an accepted union's
 * objects reach the ledger), push to a master's inbox, keep the status
 * file.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger/error.h"
#include "ledger/node.h"
#include "ledger/sync.h"
#include "store_quarantine.h"
#include "sync_internal.h"

void ledger_sync_result_clear(ledger_sync_result *result)
{
	if (!result)
		return;
	ledger_report_free(result->refused);
	memset(result, 0, sizeof(*result));
}

/* Point `ref` at `target`, from wherever it is now. */
static int set_ref(ledger_repo *repo, const char *ref, const char *target)
{
	char old[LEDGER_OID_HEX_LEN + 1];
	int error, attempt;

	for (attempt = 0; attempt < MERGE_ATTEMPTS; attempt++) {
		error = ledger_repo_ref(old, repo, ref);
		if (error < 0 && error != LEDGER_ENOTFOUND)
			return error;
		if (error == 0 && strcmp(old, target) == 0)
			return 0;
		error = ledger_repo_update_ref(repo, ref, error == 0 ? old : NULL, target);
		if (error != LEDGER_ECONFLICT)
			return error;
	}
	return error;
}

int ledger_sync_remote(ledger_sync_result *out, ledger_repo *repo, const ledger_remote *remote,
                       const ledger_sync_options *opts)
{
	ledger_sync_status status;
	struct merge_outcome m = { 0 };
	char *local_ref = NULL, *inbox_ref = NULL, *pushed_ref = NULL, *what = NULL;
	char *refusal = NULL, *qdir = NULL;
	char head[LEDGER_OID_HEX_LEN + 1];
	ledger_repo *qrepo = NULL;
	int error, first_error = 0, judged_before, save_error;
	const ledger_error *e;

	memset(out, 0, sizeof(*out));
	if ((error = node_check_options(opts)) < 0)
		return error;
	if (!remote || (error = node_remote_name_check(remote->name)) < 0)
		return remote ? error : ledger_error_set(LEDGER_EINVALID, "no remote");
	if (!remote->url || !*remote->url)
		return ledger_error_set(LEDGER_EINVALID, "remote \"%s\": no url", remote->name);
	if (remote->role != LEDGER_REMOTE_MASTER && remote->role != LEDGER_REMOTE_PEER)
		return ledger_error_set(LEDGER_EINVALID, "remote \"%s\": unknown role",
		                        remote->name);
	if (remote->role == LEDGER_REMOTE_MASTER && !node_agency_ok(opts->agency))
		return ledger_error_set(LEDGER_EINVALID, "remote \"%s\": pushing to a master needs "
		                        "this node's agency id", remote->name);

	error = ledger_sync_status_load(&status, repo, remote->name);
	/* A damaged status is replaced; the ledger is what matters. */
	if (error < 0 && error != LEDGER_ENOTFOUND && error != LEDGER_EINVALID)
		return error;
	status.last_attempt = (int64_t)time(NULL);

	if (asprintf(&local_ref, "refs/cymat/remotes/%s/main", remote->name) < 0 ||
	    asprintf(&pushed_ref, "refs/cymat/pushed/%s", remote->name) < 0 ||
	    asprintf(&inbox_ref, INBOX_PREFIX "%s", opts->agency ? opts->agency : "") < 0 ||
	    asprintf(&what, "remote \"%s\"", remote->name) < 0) {
		error = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}

	if ((error = store_space_check(repo, "fetch")) < 0) {
		ledger_error_prefix("%s", what);
		goto done;
	}
	if ((error = store_quarantine_make(&qdir, repo, QUARANTINE_INCOMING)) < 0 ||
	    (error = store_quarantine_open(&qrepo, repo, qdir)) < 0)
		goto done;
	error = store_fetch_quarantined(out->fetched, repo, qrepo, remote->url, LEDGER_MAIN_REF,
	                                &opts->limits);
	if (error == LEDGER_ENOTFOUND) {
		out->fetched[0] = '\0'; /* an empty remote: nothing to merge */
	} else if (error < 0) {
		ledger_error_prefix("%s: fetch", what);
		goto done;
	} else {
		/*
		 * A fetched main judged at an earlier sync and still not merged
		 * (refused) is judged again without rewriting the cache.
		 */
		judged_before = strcmp(out->fetched, status.fetched) == 0;
		error = node_merge_incoming(&m, repo, qrepo, out->fetched, what, opts, judged_before);
		/*
		 * Refused for what it holds: our own records still go to the
		 * master.  Any other error, a local one included (a bad
		 * cymat.root), stops the sync before the push.
		 */
		if (error == LEDGER_EINVALID && m.remote_fault) {
			out->refused = m.refused;
			m.refused = NULL;
			first_error = error;
			refusal = strdup(ledger_error_last()->message);
		} else if (error < 0) {
			goto done;
		} else if ((error = store_fetch_ref_set(repo, local_ref, out->fetched)) < 0) {
			/* In the ledger now (merged, or main had it): the ref may name it. */
			goto done;
		}
		snprintf(status.fetched, sizeof(status.fetched), "%s", out->fetched);
		out->new_records = error < 0 ? 0 : m.added.count;
	}
	if ((error = ledger_repo_head(head, repo)) < 0)
		goto done;
	memcpy(out->merged, head, sizeof(out->merged));

	if (remote->role == LEDGER_REMOTE_MASTER) {
		/* Our records reach the master even when its main was refused. */
		error = ledger_remote_push(repo, remote->url, head, inbox_ref, &opts->limits);
		if (error < 0) {
			ledger_error_prefix("%s: push", what);
			goto done;
		}
		memcpy(out->pushed, head, sizeof(out->pushed));
		memcpy(status.pushed, head, sizeof(status.pushed));
		if ((error = set_ref(repo, pushed_ref, head)) < 0)
			goto done;
	}
	error = first_error;
	if (error < 0) /* the refusal's message, over whatever the push left */
		ledger_error_set(error, "%s", refusal ? refusal : "refused");
done:
	e = ledger_error_last();
	if (error < 0) {
		status.failures++;
		status.last_error_time = (int64_t)time(NULL);
		snprintf(status.last_error, sizeof(status.last_error), "%s",
		         e && e->message ? e->message : "unknown error");
	} else {
		status.failures = 0;
		status.last_success = (int64_t)time(NULL);
	}
	if (local_ref) {
		/* Keep the error message of the sync over any of saving. */
		char *message = e && e->message ? strdup(e->message) : NULL;

		save_error = ledger_sync_status_save(repo, &status);
		if (error < 0)
			ledger_error_set(error, "%s", message ? message : "unknown error");
		else
			error = save_error;
		free(message);
	}
	node_merge_outcome_clear(&m);
	ledger_repo_free(qrepo);
	store_quarantine_remove(qdir); /* what a refused or failed fetch brought goes with it */
	free(qdir);
	free(local_ref);
	free(pushed_ref);
	free(inbox_ref);
	free(what);
	free(refusal);
	return error;
}
