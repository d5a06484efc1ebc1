/*
 * A node's side of sync (node.h): judging incoming work by the union
 * pattern and merging it into main, the master's intake of agency inboxes
 * with signed receipts, and checkpoints.  One sync with a remote is in
 * node_sync.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "ledger/error.h"
#include "ledger/append.h"
#include "ledger/node.h"
#include "ledger/policy.h"
#include "ledger/receive.h"
#include "ledger/trust.h"
#include "state_internal.h"
#include "store_incoming.h"
#include "store_order.h"
#include "store_quarantine.h"
#include "store_union.h"
#include "sync_internal.h"

/* Ids per receipt: keeps a receipt far below the 1 MiB record limit. */
#define RECEIPT_MAX_IDS 8192

static void idset_clear(struct idset *set)
{
	free(set->ids);
	memset(set, 0, sizeof(*set));
}

static int idset_add_cb(const char *path, const char *data, size_t len, void *payload)
{
	struct idset *set = payload;
	char id[LEDGER_HEX_ID_LEN + 1];

	(void)data;
	(void)len;
	/* Not a record path: the verifier reports it; it names no record. */
	if (ledger_record_path_id(id, path) < 0)
		return 0;
	if (set->count == set->capacity) {
		size_t capacity = set->capacity ? set->capacity * 2 : 64;
		void *ids = realloc(set->ids, capacity * sizeof(*set->ids));

		if (!ids)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		set->ids = ids;
		set->capacity = capacity;
	}
	memcpy(set->ids[set->count++], id, sizeof(id));
	return 0;
}

static int id_compare(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void idset_sort(struct idset *set)
{
	if (set->count > 1)
		qsort(set->ids, set->count, sizeof(*set->ids), id_compare);
}

/* Records in `to` and not in `from`, sorted by id. */
static int idset_added(struct idset *set, ledger_repo *repo, const char *from, const char *to)
{
	int error;

	set->count = 0;
	/* Paths only: the verification of `to` reads and checks these files. */
	error = store_foreach_added_path(repo, from, to, idset_add_cb, set);
	if (error < 0)
		return error;
	idset_sort(set);
	return 0;
}

static int idset_has(const struct idset *set, const char *id)
{
	return set->count && *id &&
	       bsearch(id, set->ids, set->count, sizeof(*set->ids), id_compare) != NULL;
}

/*
 * The findings that refuse `tip` over `base` (ledger_report_refusals: the
 * hook's rule, so that a node, the master's intake and the hook agree).
 * `conflicts`: look for files of base the tip holds with other bytes; not
 * when the tip is a union merge on base, which keeps every file of base.
 * *out is NULL when nothing refuses.
 */
static int refusals_of(ledger_report **out, ledger_repo *repo, const ledger_report *report,
                       const char *base, int conflicts)
{
	int error = report_refusals(out, repo, report, base, conflicts);

	if (error == 0 && ledger_report_count(*out) == 0) {
		ledger_report_free(*out);
		*out = NULL;
	}
	return error;
}

/* Commit options for a merge commit by the node key (the union writes the message). */
struct node_signer {
	ledger_commit_options copts;
	char email[LEDGER_HEX_ID_LEN + sizeof("@cymat.invalid")];
};

static void node_signer_init(struct node_signer *ns, const ledger_sync_options *opts)
{
	ledger_commit_options init = LEDGER_COMMIT_OPTIONS_INIT;
	char kid[LEDGER_HEX_ID_LEN + 1];
	uint8_t pub[32];

	memset(ns, 0, sizeof(*ns));
	ledger_key_public(pub, opts->node_key);
	ledger_key_id(kid, pub);
	snprintf(ns->email, sizeof(ns->email), "%s@cymat.invalid", kid);
	ns->copts = init;
	ns->copts.name = opts->node_principal;
	ns->copts.email = ns->email;
	ns->copts.sign = ledger_key_commit_signer;
	ns->copts.sign_payload = (void *)opts->node_key;
}

/*
 * The finding of `refused` that names the merge commit `uni` this node
 * wrote, or NULL: it signed it with a key no principal of the union binds
 * or one revoked as compromised, a setting of this node, not a fault of
 * the work that came in.
 */
static const ledger_finding *own_merge_refusal(const ledger_report *refused, const char *uni)
{
	for (size_t i = 0; i < ledger_report_count(refused); i++)
		if (strcmp(ledger_report_get(refused, i)->commit, uni) == 0)
			return ledger_report_get(refused, i);
	return NULL;
}

void node_merge_outcome_clear(struct merge_outcome *m)
{
	idset_clear(&m->added);
	ledger_report_free(m->refused);
	ledger_state_free(m->state);
	memset(m, 0, sizeof(*m));
}

/*
 * The union is built and judged in a quarantine of the ledger (`qrepo`, or
 * one made here): a refused union's merge commit and trees, and whatever a
 * fetch brought, go with it.  Accepted, its objects move into the ledger
 * before main does.  Its verification reads the ledger's cache (linked into
 * the quarantine) and writes nothing there; the cache is saved into the
 * ledger once main is the union.
 */
int node_merge_incoming(struct merge_outcome *out, ledger_repo *repo, ledger_repo *qrepo,
                        const char *incoming, const char *what,
                        const ledger_sync_options *opts, int cache_readonly)
{
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	struct node_signer ns;
	char uni[LEDGER_OID_HEX_LEN + 1], *own = NULL;
	ledger_state *state = NULL;
	ledger_repo *q = qrepo;
	const ledger_finding *mine; /* a refusal of this node's own merge */
	size_t map_saved;
	int attempt, error, contained, listed;

	node_signer_init(&ns, opts);
	store_union_map_widen(&map_saved);
	if (!q && ((error = store_quarantine_make(&own, repo, QUARANTINE_INCOMING)) < 0 ||
	           (error = store_quarantine_open(&q, repo, own)) < 0))
		goto done;
	for (attempt = 0; attempt < MERGE_ATTEMPTS; attempt++) {
		ledger_state_free(state);
		state = NULL;
		if ((error = ledger_repo_head(out->before, repo)) < 0)
			goto done;
		memcpy(out->after, out->before, sizeof(out->after));
		contained = ledger_repo_is_ancestor(q, incoming, out->before);
		if (contained < 0) {
			error = contained;
			goto done;
		}
		if (contained) {
			out->added.count = 0;
			error = 0;
			goto done;
		}
		/*
		 * Only record files, each blob once, before the union or the
		 * verifier reads a file of it: many paths naming one blob cost
		 * the sender nothing and the verifier a finding each (review 7 #2).
		 */
		if ((error = store_incoming_check(&out->refused, q, out->before, incoming)) < 0) {
			if (out->refused) {
				error = report_refusal_error(out->refused, 0, "%s", what);
				out->remote_fault = 1;
			} else {
				ledger_error_prefix("%s", what);
			}
			goto done;
		}
		/* The union lists what it adds to main; a fast-forward's is listed apart. */
		out->added.count = 0;
		error = store_union_listed(uni, &listed, q, out->before, incoming, &ns.copts,
		                           idset_add_cb, &out->added);
		if (error == LEDGER_ECONFLICT) {
			/* Two records at one path: the incoming side cannot be merged. */
			const ledger_error *e = ledger_error_last();
			char why[512];

			snprintf(why, sizeof(why), "%s", e && e->message ? e->message : "conflict");
			error = ledger_error_set(LEDGER_EINVALID, "%s refused: %s", what, why);
			out->remote_fault = 1;
			goto done;
		}
		if (error < 0) {
			ledger_error_prefix("%s", what);
			goto done;
		}
		if (listed)
			idset_sort(&out->added);
		else if ((error = idset_added(&out->added, q, out->before, uni)) < 0)
			goto done;
		vopts.tip = uni;
		vopts.use_cache = 1;
		vopts.cache_readonly = 1;
		if ((error = ledger_state_load(&state, q, &vopts)) < 0) {
			ledger_error_prefix("%s: cannot verify the union %.12s", what, uni);
			goto done;
		}
		/* Listed by the union: a merge it wrote (it refuses conflicts), or main itself. */
		error = refusals_of(&out->refused, q, ledger_state_report(state), out->before,
		                    !listed);
		if (error < 0)
			goto done;
		if (out->refused && listed && (mine = own_merge_refusal(out->refused, uni))) {
			error = ledger_error_set(LEDGER_EINVALID, "%s: cannot merge: this node's key "
			                         "is %s (cymat principal add --role node)", what,
			                         strcmp(mine->code, "commit-compromised-signer") == 0
			                                 ? "revoked as compromised: bind a new one"
			                                 : "bound by no principal");
			ledger_report_free(out->refused);
			out->refused = NULL;
			goto done;
		}
		if (out->refused) {
			error = report_refusal_error(out->refused, 0, "%s", what);
			out->remote_fault = 1;
			goto done;
		}
		if ((error = store_quarantine_migrate(repo, ledger_repo_git_dir(q))) < 0)
			goto done;
		error = ledger_repo_update_ref(repo, LEDGER_MAIN_REF, out->before, uni);
		if (error == LEDGER_ECONFLICT)
			continue; /* main moved: judge the union with the new main */
		if (error < 0)
			goto done;
		memcpy(out->after, uni, sizeof(out->after));
		/* Best effort, as the verifier's own save: a missing cache only costs time. */
		if (!cache_readonly && strcmp(state->cache_tip, state->tip) != 0) {
			state->repo = repo;
			cache_save(state);
			ledger_error_clear();
		}
		break;
	}
	if (attempt == MERGE_ATTEMPTS)
		error = ledger_error_set(LEDGER_ECONFLICT, "%s: main kept moving; try again", what);
done:
	ledger_state_free(state);
	if (own) {
		ledger_repo_free(q);
		store_quarantine_remove(own);
		free(own);
	}
	store_union_map_restore(map_saved);
	return error;
}

int node_check_options(const ledger_sync_options *opts)
{
	if (!opts || opts->version != LEDGER_SYNC_OPTIONS_VERSION)
		return ledger_error_set(LEDGER_EINVALID, "sync options: unknown version");
	if (!opts->node_key || !opts->node_principal || !*opts->node_principal)
		return ledger_error_set(LEDGER_EINVALID, "sync options: a node key and its "
		                        "principal are needed");
	return 0;
}

int node_agency_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	return len >= 2 && len <= 32 && s[0] >= 'a' && s[0] <= 'z' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == len;
}

/* Append receipts for an accepted inbox: one per RECEIPT_MAX_IDS accepted ids. */
struct receipt_job {
	const char *inbox;
	const char *commit;
	const struct idset *added;
	const ledger_report *reports[2]; /* the verifier's and the rules' */
};

static int append_receipts(char id[LEDGER_HEX_ID_LEN + 1], char tip[LEDGER_OID_HEX_LEN + 1],
                           ledger_repo *repo, const ledger_sync_options *opts,
                           const struct receipt_job *job)
{
	ledger_append_options aopts = LEDGER_APPEND_OPTIONS_INIT;
	ledger_append_result result = { 0 };
	ledger_new_record *recs = NULL;
	size_t nrecs = job->added->count ? (job->added->count + RECEIPT_MAX_IDS - 1) /
	                                   RECEIPT_MAX_IDS : 1;
	size_t r, i, j, k;
	char subject[96];
	int error = 0;

	recs = calloc(nrecs, sizeof(*recs));
	if (!recs)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	for (r = 0; r < nrecs; r++) {
		size_t first = r * RECEIPT_MAX_IDS, last = first + RECEIPT_MAX_IDS;
		json_int_t counts[3] = { 0, 0, 0 };
		json_t *accepted = json_array();

		if (last > job->added->count)
			last = job->added->count;
		for (i = first; accepted && i < last; i++)
			if (json_array_append_new(accepted, json_string(job->added->ids[i])) < 0) {
				json_decref(accepted);
				accepted = NULL;
			}
		/* Findings about the records this receipt names, by severity. */
		for (k = 0; k < 2; k++) {
			for (j = 0; j < ledger_report_count(job->reports[k]); j++) {
				const ledger_finding *f = ledger_report_get(job->reports[k], j);
				struct idset part = { job->added->ids + first, last - first, 0 };

				if ((unsigned int)f->severity < 3 && idset_has(&part, f->id))
					counts[f->severity]++;
			}
		}
		recs[r].type = "receipt";
		recs[r].body = accepted ? json_pack("{s:s, s:s, s:o, s:{s:I, s:I, s:I}}",
		                                    "inbox", job->inbox, "commit", job->commit,
		                                    "accepted", accepted,
		                                    "findings", "errors", counts[LEDGER_SEVERITY_ERROR],
		                                    "warnings", counts[LEDGER_SEVERITY_WARNING],
		                                    "pending", counts[LEDGER_SEVERITY_PENDING])
		                        : NULL;
		if (!recs[r].body) {
			error = ledger_error_set(LEDGER_ENOMEM, "out of memory");
			goto done;
		}
	}
	snprintf(subject, sizeof(subject), "inbox %s at %.12s, %zu record%s accepted", job->inbox,
	         job->commit, job->added->count, job->added->count == 1 ? "" : "s");
	aopts.author = opts->node_principal;
	aopts.subject = subject;
	error = ledger_append(&result, repo, opts->node_key, recs, nrecs, &aopts);
	if (error < 0) {
		ledger_error_prefix("receipt for inbox \"%s\"", job->inbox);
		goto done;
	}
	memcpy(id, result.records[0]->id, LEDGER_HEX_ID_LEN + 1);
	memcpy(tip, result.commit, LEDGER_OID_HEX_LEN + 1);
done:
	ledger_append_result_clear(&result);
	for (r = 0; recs && r < nrecs; r++)
		json_decref(recs[r].body);
	free(recs);
	return error;
}

struct inbox_ref {
	char *ref;
	char commit[LEDGER_OID_HEX_LEN + 1];
};

struct inbox_list {
	struct inbox_ref *items;
	size_t count, capacity;
};

static int collect_inbox(const char *ref, const char *commit, void *payload)
{
	struct inbox_list *list = payload;

	if (list->count == list->capacity) {
		size_t capacity = list->capacity ? list->capacity * 2 : 16;
		void *items = realloc(list->items, capacity * sizeof(*list->items));

		if (!items)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		list->items = items;
		list->capacity = capacity;
	}
	list->items[list->count].ref = strdup(ref);
	if (!list->items[list->count].ref)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	snprintf(list->items[list->count].commit, sizeof(list->items[0].commit), "%s", commit);
	list->count++;
	return 0;
}

static int inbox_compare(const void *a, const void *b)
{
	return strcmp(((const struct inbox_ref *)a)->ref, ((const struct inbox_ref *)b)->ref);
}

/*
 * A receipt is due from before an inbox's merge until its receipt is
 * appended: refs/cymat/receipt-due/<agency>/<inbox commit> points at main
 * as it was before.  The records the inbox brought are those of its commit
 * not in that main, which cannot be told after the fact otherwise (main
 * may have fast-forwarded to the inbox).  A crash after the merge or a
 * refused receipt append leaves the ref, and the next intake issues the
 * receipt (receipt_heal).
 */
#define RECEIPT_DUE_PREFIX "refs/cymat/receipt-due/"

static void receipt_due_ref(char *out, size_t size, const char *agency, const char *commit)
{
	snprintf(out, size, RECEIPT_DUE_PREFIX "%s/%s", agency, commit);
}

/* Best effort: a due ref left behind is found stale and deleted by receipt_heal. */
static void receipt_due_drop(ledger_repo *repo, const char *ref, const char *base)
{
	if (ledger_repo_delete_ref(repo, ref, base) < 0)
		ledger_error_clear();
}

/* Load main, judge it and append the receipts for `added`; `state` keeps main's state. */
static int receipt_issue(char receipt[LEDGER_HEX_ID_LEN + 1], char tip[LEDGER_OID_HEX_LEN + 1],
                         ledger_state **state, ledger_repo *repo,
                         const ledger_sync_options *opts, const char *agency,
                         const char *commit, const struct idset *added)
{
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_policy *policy = NULL;
	struct receipt_job job;
	int error;

	if (!*state && (error = ledger_state_load(state, repo, &vopts)) < 0)
		return ledger_error_prefix("inbox \"%s\": cannot load the merged ledger", agency);
	error = ledger_policy_evaluate(&policy, *state, repo, NULL);
	if (error < 0)
		return ledger_error_prefix("inbox \"%s\": cannot judge the merged ledger", agency);
	job.inbox = agency;
	job.commit = commit;
	job.added = added;
	job.reports[0] = ledger_state_report(*state);
	job.reports[1] = ledger_policy_report(policy);
	error = append_receipts(receipt, tip, repo, opts, &job);
	ledger_policy_free(policy);
	return error;
}

/* Judge, merge and receipt one inbox; fills the event. */
static int intake_one(ledger_intake_event *ev, char merged[LEDGER_OID_HEX_LEN + 1],
                      char receipt[LEDGER_HEX_ID_LEN + 1], struct merge_outcome *m,
                      ledger_repo *repo, const ledger_sync_options *opts, const char *agency,
                      const char *commit)
{
	char what[64], due[sizeof(RECEIPT_DUE_PREFIX) + 32 + LEDGER_OID_HEX_LEN + 2];
	char base[LEDGER_OID_HEX_LEN + 1], old[LEDGER_OID_HEX_LEN + 1];
	int error;

	snprintf(what, sizeof(what), "inbox \"%s\"", agency);
	receipt_due_ref(due, sizeof(due), agency, commit);
	if ((error = ledger_repo_head(base, repo)) < 0)
		return error;
	error = ledger_repo_update_ref(repo, due, NULL, base);
	if (error == LEDGER_ECONFLICT && ledger_repo_ref(old, repo, due) == 0)
		error = ledger_repo_update_ref(repo, due, old, base);
	if (error < 0)
		return ledger_error_prefix("%s", what);
	/*
	 * Judge without rewriting the cache: an inbox refused now is judged
	 * again at every intake, and must not cost a full verification of main
	 * each time.  The state loaded for the receipt updates the cache.
	 */
	error = node_merge_incoming(m, repo, NULL, commit, what, opts, 1);
	if (error < 0) {
		ev->refused = m->refused;
		receipt_due_drop(repo, due, base);
		return error;
	}
	ev->accepted = m->added.count;
	if (strcmp(m->before, m->after) == 0) {
		receipt_due_drop(repo, due, base);
		return 0; /* contained meanwhile: nothing merged */
	}
	memcpy(merged, m->after, LEDGER_OID_HEX_LEN + 1);
	ev->merged = merged;
	/*
	 * Only commits, no records new to main (typically a node's merge of
	 * what it fetched from here): a receipt of nothing would only make the
	 * node fetch, merge and push once more.
	 */
	if (m->added.count == 0) {
		receipt_due_drop(repo, due, base);
		return 0;
	}
	/* main moved before the merge (the CLI appended): name the main merged into. */
	if (strcmp(base, m->before) != 0) {
		if (ledger_repo_update_ref(repo, due, base, m->before) == 0)
			memcpy(base, m->before, sizeof(base));
		ledger_error_clear();
	}
	error = receipt_issue(receipt, merged, &m->state, repo, opts, agency, commit, &m->added);
	if (error < 0)
		return error; /* the due ref stays: the next intake issues the receipt */
	receipt_due_drop(repo, due, base);
	ev->receipt = receipt;
	return 0;
}

/* 1 when a receipt in `state` (at main) names `commit`. */
static int receipt_names(int *out, ledger_repo *repo, const ledger_state *state,
                         const char *commit)
{
	ledger_record *rec = NULL;
	char *data = NULL;
	size_t i, len;
	int error = 0;

	*out = 0;
	for (i = 0; i < state->count && !*out; i++) {
		const entry *e = &state->entries[i];
		const char *named;

		if (strcmp(e->type, "receipt") != 0 || e->fail_code || state->invalid[i])
			continue;
		if ((error = ledger_repo_read(&data, &len, repo, state->tip, e->path)) < 0)
			return error;
		error = ledger_record_parse(&rec, data, len);
		free(data);
		data = NULL;
		if (error < 0)
			return error;
		named = json_string_value(json_object_get(rec->body, "commit"));
		*out = named && strcmp(named, commit) == 0;
		ledger_record_free(rec);
		rec = NULL;
	}
	return 0;
}

/*
 * Issue the receipts still due (RECEIPT_DUE_PREFIX): for an inbox commit
 * contained in main that brought records and that no receipt names.  A due
 * ref whose commit main does not contain (the merge never happened) or
 * that a receipt already answers is deleted.
 */
static int receipt_heal(ledger_repo *repo, const ledger_sync_options *opts, ledger_intake_cb cb,
                        void *payload)
{
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	struct inbox_list list = { 0 };
	struct idset added = { 0 };
	size_t i;
	int error, first_error = 0;

	if ((error = ledger_repo_foreach_ref(repo, RECEIPT_DUE_PREFIX, collect_inbox, &list)) < 0)
		goto done;
	for (i = 0; i < list.count; i++) {
		char agency[33], commit[LEDGER_OID_HEX_LEN + 1], head[LEDGER_OID_HEX_LEN + 1];
		char merged[LEDGER_OID_HEX_LEN + 1], receipt[LEDGER_HEX_ID_LEN + 1];
		const char *name = list.items[i].ref + strlen(RECEIPT_DUE_PREFIX);
		const char *slash = strchr(name, '/');
		const char *base = list.items[i].commit;
		ledger_state *state = NULL;
		ledger_intake_event ev = { 0 };
		int contained, named = 0;

		if (!slash || (size_t)(slash - name) >= sizeof(agency) ||
		    strlen(slash + 1) != LEDGER_OID_HEX_LEN) {
			receipt_due_drop(repo, list.items[i].ref, base);
			continue;
		}
		memcpy(agency, name, (size_t)(slash - name));
		agency[slash - name] = '\0';
		memcpy(commit, slash + 1, sizeof(commit));
		if ((error = ledger_repo_head(head, repo)) < 0)
			goto done;
		/* Not contained (the merge never happened), or not a commit here: nothing owed. */
		contained = ledger_repo_is_ancestor(repo, commit, head);
		if (contained < 0)
			ledger_error_clear();
		if (contained <= 0 || !node_agency_ok(agency)) {
			receipt_due_drop(repo, list.items[i].ref, base);
			continue;
		}
		error = idset_added(&added, repo, base, commit);
		if (error == 0 && added.count)
			error = ledger_state_load(&state, repo, &vopts);
		if (error == 0 && added.count)
			error = receipt_names(&named, repo, state, commit);
		if (error == 0 && added.count && !named)
			error = receipt_issue(receipt, merged, &state, repo, opts, agency, commit,
			                      &added);
		ledger_state_free(state);
		if (error < 0) {
			/* Due again at the next intake; the other inboxes go on. */
			if (first_error == 0) {
				first_error = error;
				ledger_error_prefix("inbox \"%s\": receipt for %.12s", agency, commit);
			}
			continue;
		}
		receipt_due_drop(repo, list.items[i].ref, base);
		if (!added.count || named || !cb)
			continue;
		ev.inbox = agency;
		ev.commit = commit;
		ev.merged = merged;
		ev.receipt = receipt;
		ev.accepted = added.count;
		cb(&ev, payload);
	}
	error = first_error;
done:
	for (i = 0; i < list.count; i++)
		free(list.items[i].ref);
	free(list.items);
	idset_clear(&added);
	return error;
}

int ledger_master_intake(ledger_intake_result *out, ledger_repo *repo,
                         const ledger_sync_options *opts, ledger_intake_cb cb, void *payload)
{
	struct inbox_list list = { 0 };
	ledger_intake_result totals = { 0 };
	char head[LEDGER_OID_HEX_LEN + 1], first_message[512] = "";
	size_t i;
	int error, first_error = 0;

	if (out)
		memset(out, 0, sizeof(*out));
	if ((error = node_check_options(opts)) < 0)
		return error;
	/* Receipts a crash or a refused append left owing, before anything new. */
	if ((error = receipt_heal(repo, opts, cb, payload)) < 0) {
		const ledger_error *e = ledger_error_last();

		first_error = error;
		snprintf(first_message, sizeof(first_message), "%s",
		         e && e->message ? e->message : "unknown error");
	}
	error = ledger_repo_foreach_ref(repo, INBOX_PREFIX, collect_inbox, &list);
	if (error < 0)
		goto done;
	if (list.count > 1)
		qsort(list.items, list.count, sizeof(*list.items), inbox_compare);
	totals.inboxes = list.count;
	for (i = 0; i < list.count; i++) {
		ledger_intake_event ev = { 0 };
		struct merge_outcome m = { 0 };
		char merged[LEDGER_OID_HEX_LEN + 1] = "", receipt[LEDGER_HEX_ID_LEN + 1] = "";
		const char *agency = list.items[i].ref + strlen(INBOX_PREFIX);
		int contained;

		if ((error = ledger_repo_head(head, repo)) < 0)
			goto done;
		contained = ledger_repo_is_ancestor(repo, list.items[i].commit, head);
		if (contained < 0) {
			error = contained;
			goto done;
		}
		if (contained)
			continue;
		ev.inbox = agency;
		ev.commit = list.items[i].commit;
		ev.merged = "";
		ev.receipt = "";
		if (!node_agency_ok(agency))
			error = ledger_error_set(LEDGER_EINVALID, "inbox \"%s\": not an agency id",
			                         list.items[i].ref);
		else
			error = intake_one(&ev, merged, receipt, &m, repo, opts, agency,
			                   list.items[i].commit);
		if (error < 0) {
			const ledger_error *e = ledger_error_last();

			ev.error = error;
			ev.message = e && e->message ? e->message : "unknown error";
			totals.refused++;
			/* Not the inbox's fault (a setting of this node): the intake failed. */
			if (!m.remote_fault && node_agency_ok(agency) && first_error == 0) {
				first_error = error;
				snprintf(first_message, sizeof(first_message), "%s", ev.message);
			}
		} else if (*merged) {
			totals.merged++;
			totals.records += ev.accepted;
		}
		if (cb && (error < 0 || *merged))
			cb(&ev, payload);
		node_merge_outcome_clear(&m);
	}
	error = first_error;
	if (error < 0)
		ledger_error_set(error, "intake: %zu of %zu inbox%s not merged; %s", totals.refused,
		                 totals.inboxes, totals.inboxes == 1 ? "" : "es", first_message);
done:
	for (i = 0; i < list.count; i++)
		free(list.items[i].ref);
	free(list.items);
	if (out)
		*out = totals;
	return error;
}

int ledger_master_checkpoint(char id[LEDGER_HEX_ID_LEN + 1], ledger_repo *repo,
                             const ledger_sync_options *opts)
{
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_append_options aopts = LEDGER_APPEND_OPTIONS_INIT;
	ledger_append_result result = { 0 };
	ledger_new_record rec = { 0 };
	ledger_state *state = NULL;
	const ledger_report_stats *stats;
	char tip[LEDGER_OID_HEX_LEN + 1];
	int error;

	if ((error = node_check_options(opts)) < 0)
		return error;
	if ((error = ledger_repo_head(tip, repo)) < 0)
		return error;
	vopts.tip = tip;
	if ((error = ledger_state_load(&state, repo, &vopts)) < 0) {
		ledger_error_prefix("checkpoint: cannot load the ledger");
		goto done;
	}
	stats = ledger_report_stats_of(ledger_state_report(state));
	rec.type = "checkpoint";
	rec.body = json_pack("{s:s, s:I}", "commit", tip, "records", (json_int_t)stats->records);
	if (!rec.body) {
		error = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	aopts.author = opts->node_principal;
	error = ledger_append(&result, repo, opts->node_key, &rec, 1, &aopts);
	if (error < 0) {
		ledger_error_prefix("checkpoint");
		goto done;
	}
	memcpy(id, result.records[0]->id, LEDGER_HEX_ID_LEN + 1);
done:
	ledger_append_result_clear(&result);
	json_decref(rec.body);
	ledger_state_free(state);
	return error;
}
