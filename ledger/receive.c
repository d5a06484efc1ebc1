/*
 * Judging a push to the master before git accepts it: the ref rules first
 * (cheap, and a refused ref is not verified at all), then a verification of
 * the pushed commit of which only what main lacks is held against it.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ledger/error.h"
#include "ledger/json.h"
#include "ledger/receive.h"
#include "ledger/record.h"
#include "ledger/sync.h"
#include "ledger/trust.h"
#include "idmap.h"
#include "state_internal.h"
#include "store_incoming.h"
#include "store_quarantine.h"

static int is_hex_id(const char *s)
{
	size_t n = s ? strspn(s, "0123456789abcdef") : 0;

	return n == LEDGER_OID_HEX_LEN && s[n] == '\0';
}

/* A record id: 64 lowercase hex digits. */
static int is_record_id(const char *s)
{
	size_t n = s ? strspn(s, "0123456789abcdef") : 0;

	return n == LEDGER_HEX_ID_LEN && s[n] == '\0';
}

static int is_zero_id(const char *s)
{
	return strspn(s, "0") == LEDGER_OID_HEX_LEN;
}

/* refs/inbox/<agency>, the agency as in records: ^[a-z][a-z0-9-]{1,31}$. */
static int inbox_ref_valid(const char *ref)
{
	const char *agency;
	size_t n;

	if (strncmp(ref, LEDGER_INBOX_PREFIX, strlen(LEDGER_INBOX_PREFIX)) != 0)
		return 0;
	agency = ref + strlen(LEDGER_INBOX_PREFIX);
	n = strspn(agency, "abcdefghijklmnopqrstuvwxyz0123456789-");
	return agency[0] >= 'a' && agency[0] <= 'z' && n >= 2 && n <= 32 && agency[n] == '\0';
}

/* 1 when `base` holds the file at `path` with the bytes it has in `tip`. */
static int file_in_base(ledger_repo *repo, const char *base, const char *tip, const char *path)
{
	char *a = NULL, *b = NULL;
	size_t alen, blen;
	int same;

	same = ledger_repo_read(&a, &alen, repo, base, path) == 0 &&
	       ledger_repo_read(&b, &blen, repo, tip, path) == 0 && alen == blen &&
	       memcmp(a, b, alen) == 0;
	free(a);
	free(b);
	ledger_error_clear();
	return same;
}

/* A record file that base holds with other bytes: the union would have two contents at one path. */
static int conflict_found(const char *path, const char *data, size_t len, void *payload)
{
	char id[LEDGER_HEX_ID_LEN + 1];

	(void)data;
	(void)len;
	if (ledger_record_path_id(id, path) < 0)
		id[0] = '\0';
	ledger_error_clear();
	return report_add(payload, LEDGER_SEVERITY_ERROR, "record-conflict", "FORMAT-5", id, path,
	                  NULL, "%s", "main holds this record file with other bytes");
}

/*
 * The commit findings that are warnings about history already held and
 * refuse a commit that comes in (docs/FORMAT.md, "Incoming commits").
 */
static int refuses_new_commit(const ledger_finding *f)
{
	return f->severity == LEDGER_SEVERITY_WARNING && f->commit[0] &&
	       (strcmp(f->code, "commit-unsigned") == 0 ||
	        strcmp(f->code, "commit-unknown-signer") == 0 ||
	        strcmp(f->code, "commit-compromised-signer") == 0);
}

int report_refusals(ledger_report **out, ledger_repo *repo, const ledger_report *report,
                    const char *base, int conflicts)
{
	ledger_report *refusals = NULL, *trailers = NULL;
	const char *tip = report->stats.tip;
	idmap new_commits;
	int r;

	*out = NULL;
	idmap_init(&new_commits);
	if ((r = report_new(&refusals)) < 0 || (r = report_new(&trailers)) < 0)
		goto done;
	for (size_t i = 0; i < report->count; i++) {
		const ledger_finding *f = &report->items[i];
		int old;

		if (f->severity != LEDGER_SEVERITY_ERROR || strncmp(f->rule, "FORMAT-", 7) != 0)
			continue;
		if (f->commit[0]) {
			if ((old = ledger_repo_is_ancestor(repo, f->commit, base)) < 0) {
				r = old;
				goto done;
			}
		} else {
			old = f->path[0] && file_in_base(repo, base, tip, f->path);
		}
		if (old)
			continue;
		if ((r = report_add_copy(refusals, f, f->commit)) < 0)
			goto done;
	}
	/* The commits' own rules, after what is wrong with the records they carry. */
	if ((r = store_incoming_commits(trailers, &new_commits, repo, base, tip)) < 0)
		goto done;
	for (size_t i = 0; i < report->count; i++) {
		const ledger_finding *f = &report->items[i];
		uint8_t key[32] = { 0 };
		size_t unused;

		if (!refuses_new_commit(f) || strlen(f->commit) != LEDGER_OID_HEX_LEN ||
		    ledger_unhex(key, LEDGER_OID_HEX_LEN / 2, f->commit) < 0 ||
		    !idmap_get(&new_commits, key, &unused))
			continue;
		if ((r = report_add(refusals, LEDGER_SEVERITY_ERROR, f->code, f->rule, f->id,
		                    f->path, f->commit, "%s", f->message)) < 0)
			goto done;
	}
	for (size_t i = 0; i < trailers->count; i++)
		if ((r = report_add_copy(refusals, &trailers->items[i], trailers->items[i].commit)) < 0)
			goto done;
	if (conflicts &&
	    (r = ledger_repo_foreach_differing(repo, base, tip, conflict_found, refusals)) < 0)
		goto done;
	refusals->stats = report->stats;
	*out = refusals;
	refusals = NULL; /* transferred */
	r = 0;
done:
	idmap_release(&new_commits);
	ledger_report_free(trailers);
	ledger_report_free(refusals);
	return r;
}

int ledger_report_refusals(ledger_report **out, ledger_repo *repo, const ledger_report *report,
                           const char *base)
{
	return report_refusals(out, repo, report, base, 1);
}

int report_refusal_error(const ledger_report *refused, int count_rest, const char *fmt, ...)
{
	const ledger_finding *f = &refused->items[0];
	size_t rest = refused->count - 1;
	char more[64] = "", *what = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (r < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (count_rest && rest)
		snprintf(more, sizeof(more), " (and %zu more finding%s)", rest, rest == 1 ? "" : "s");
	if (*f->id)
		r = ledger_error_set(LEDGER_EINVALID, "%s refused: record %s: %s %s: %s%s", what,
		                     f->id, f->rule, f->code, f->message, more);
	else if (*f->commit)
		r = ledger_error_set(LEDGER_EINVALID, "%s refused: commit %s: %s %s: %s%s", what,
		                     f->commit, f->rule, f->code, f->message, more);
	else
		r = ledger_error_set(LEDGER_EINVALID, "%s refused: file \"%s\": %s %s: %s%s", what,
		                     f->path, f->rule, f->code, f->message, more);
	free(what);
	return r;
}

/* The master's own root: cymat.root, else the one main's LEDGER file names. */
static int master_root(char out[LEDGER_HEX_ID_LEN + 1], ledger_repo *repo)
{
	char *pinned = NULL, *text = NULL;
	json_t *ledger = NULL;
	const char *root;
	size_t len;
	int r;

	if (ledger_repo_config_get(&pinned, repo, "cymat.root") == 0) {
		r = is_record_id(pinned) ? 0 : LEDGER_EINVALID;
		if (r == 0)
			memcpy(out, pinned, LEDGER_HEX_ID_LEN + 1);
		else
			ledger_error_set(r, "config \"cymat.root\" is not a record id");
		free(pinned);
		return r;
	}
	if ((r = ledger_repo_read(&text, &len, repo, NULL, "LEDGER")) < 0)
		return ledger_error_prefix("no pinned root (git config cymat.root) and no LEDGER file");
	r = ledger_json_parse(&ledger, text, len, NULL);
	root = json_string_value(json_object_get(ledger, "root"));
	if (r < 0 || !is_record_id(root)) {
		r = ledger_error_set(LEDGER_EINVALID, "file \"LEDGER\" of %s does not name a root record",
		                     LEDGER_MAIN_REF);
	} else {
		memcpy(out, root, LEDGER_HEX_ID_LEN + 1);
		r = 0;
	}
	json_decref(ledger);
	free(text);
	return r;
}

static int count_ref(const char *ref, const char *commit, void *payload)
{
	(void)ref;
	(void)commit;
	(*(size_t *)payload)++;
	return 0;
}

/* A git config boolean: 1 true, 0 false or unset, LEDGER_EINVALID otherwise. */
static int config_bool(ledger_repo *repo, const char *key)
{
	char *v = NULL;
	int r;

	if ((r = ledger_repo_config_get(&v, repo, key)) == LEDGER_ENOTFOUND) {
		ledger_error_clear();
		return 0;
	}
	if (r < 0)
		return r;
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") ||
	    !strcmp(v, "1"))
		r = 1;
	else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
	         !strcmp(v, "0") || !*v)
		r = 0;
	else
		r = ledger_error_set(LEDGER_EINVALID, "config \"%s\": not a boolean", key);
	free(v);
	return r;
}

/* cymat.maxInboxes: how many inboxes a push may bring the count to. */
static int max_inboxes(size_t *out, ledger_repo *repo)
{
	char *v = NULL, *end;
	unsigned long long n;
	int r;

	*out = LEDGER_RECEIVE_MAX_INBOXES;
	if ((r = ledger_repo_config_get(&v, repo, "cymat.maxInboxes")) == LEDGER_ENOTFOUND) {
		ledger_error_clear();
		return 0;
	}
	if (r < 0)
		return r;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || n == 0)
		r = ledger_error_set(LEDGER_EINVALID, "config \"cymat.maxInboxes\": not a positive "
		                     "number");
	else
		*out = n > SIZE_MAX ? SIZE_MAX : (size_t)n;
	free(v);
	return r;
}

/*
 * With cymat.inboxBinding on and a pusher known (`user`: REMOTE_USER of
 * git http-backend), refs/inbox/<agency> is written only by the user
 * cymat.inboxUser.<agency> names.
 */
static int judge_pusher(ledger_report *refusals, ledger_repo *repo, const char *ref,
                        const char *user)
{
	const char *agency = ref + strlen(LEDGER_INBOX_PREFIX);
	char key[sizeof("cymat.inboxUser.") + 32], *bound = NULL;
	int r;

	if (!user || !*user)
		return 0;
	if ((r = config_bool(repo, "cymat.inboxBinding")) <= 0)
		return r;
	snprintf(key, sizeof(key), "cymat.inboxUser.%s", agency);
	r = ledger_repo_config_get(&bound, repo, key);
	if (r < 0 && r != LEDGER_ENOTFOUND)
		return r;
	ledger_error_clear();
	if (r == 0 && strcmp(bound, user) == 0)
		r = 0;
	else
		r = report_add(refusals, LEDGER_SEVERITY_ERROR, "inbox-not-pusher", "FORMAT-4", NULL,
		               NULL, NULL, "inbox \"%s\" is not written by user \"%s\" (%s)", ref,
		               user, bound ? "cymat.inboxUser names another" :
		               "no cymat.inboxUser for it");
	free(bound);
	return r;
}

/* A new inbox past cymat.maxInboxes is refused: the intake judges every inbox each cycle. */
static int judge_inbox_count(ledger_report *refusals, ledger_repo *repo, const char *ref)
{
	char commit[LEDGER_OID_HEX_LEN + 1];
	size_t count = 0, max;
	int r;

	if ((r = ledger_repo_ref(commit, repo, ref)) == 0)
		return 0; /* not a new inbox */
	if (r != LEDGER_ENOTFOUND)
		return r;
	ledger_error_clear();
	if ((r = max_inboxes(&max, repo)) < 0 ||
	    (r = ledger_repo_foreach_ref(repo, LEDGER_INBOX_PREFIX, count_ref, &count)) < 0)
		return r;
	if (count < max)
		return 0;
	return report_add(refusals, LEDGER_SEVERITY_ERROR, "too-many-inboxes", "FORMAT-4", NULL,
	                  NULL, NULL, "inbox \"%s\" would be one more than the %zu the master "
	                  "takes (cymat.maxInboxes)", ref, max);
}

/* Refusals about the ref itself, before anything is verified. */
static int judge_ref(ledger_report *refusals, ledger_repo *repo, const char *ref,
                     const char *old_id, const char *new_id, const char *user)
{
	char commit[LEDGER_OID_HEX_LEN + 1];
	int r;

	if (!inbox_ref_valid(ref))
		return report_add(refusals, LEDGER_SEVERITY_ERROR, "ref-not-inbox", "FORMAT-4", NULL,
		                  NULL, NULL, "pushes may write %s<agency> only, not \"%s\"",
		                  LEDGER_INBOX_PREFIX, ref);
	if ((r = judge_pusher(refusals, repo, ref, user)) < 0 || refusals->count)
		return r;
	if (is_zero_id(new_id))
		return report_add(refusals, LEDGER_SEVERITY_ERROR, "inbox-deleted", "FORMAT-4", NULL,
		                  NULL, old_id, "inbox \"%s\" may not be deleted", ref);
	if (ledger_repo_resolve(commit, repo, new_id) < 0 || strcmp(commit, new_id) != 0) {
		ledger_error_clear();
		return report_add(refusals, LEDGER_SEVERITY_ERROR, "not-a-commit", "FORMAT-4", NULL,
		                  NULL, new_id, "inbox \"%s\" may hold a commit only", ref);
	}
	if (is_zero_id(old_id))
		return judge_inbox_count(refusals, repo, ref);
	if ((r = ledger_repo_is_ancestor(repo, old_id, new_id)) < 0)
		return r;
	if (r == 0)
		return report_add(refusals, LEDGER_SEVERITY_ERROR, "not-fast-forward", "FORMAT-4",
		                  NULL, NULL, new_id,
		                  "inbox \"%s\" moves by fast-forward only, and this commit does not "
		                  "contain its %s", ref, old_id);
	return 0;
}

int ledger_receive_judge(ledger_report **out, ledger_repo *repo, const char *ref,
                         const char *old_id, const char *new_id)
{
	return ledger_receive_judge_as(out, repo, ref, old_id, new_id, NULL);
}

int ledger_receive_judge_as(ledger_report **out, ledger_repo *repo, const char *ref,
                            const char *old_id, const char *new_id, const char *user)
{
	ledger_verify_options opts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_report *refusals = NULL, *found = NULL;
	ledger_state *state = NULL;
	char main_tip[LEDGER_OID_HEX_LEN + 1], root[LEDGER_HEX_ID_LEN + 1];
	int r;

	*out = NULL;
	if (!ref || !is_hex_id(old_id) || !is_hex_id(new_id))
		return ledger_error_set(LEDGER_EINVALID, "a ref update needs a ref and two commit ids "
		                        "of 40 hex digits");
	/* Before anything reads a pushed commit or tree whole (review 7 #1). */
	if ((r = store_receive_bounds(repo)) < 0)
		return r;
	if ((r = report_new(&refusals)) < 0)
		return r;
	if ((r = judge_ref(refusals, repo, ref, old_id, new_id, user)) < 0)
		goto done;
	if (refusals->count == 0) {
		if ((r = ledger_repo_head(main_tip, repo)) < 0 || (r = master_root(root, repo)) < 0)
			goto done;
		/* Only record files, each blob once, before anything reads one (review 7 #2). */
		r = store_incoming_check(&found, repo, main_tip, new_id);
		if (r < 0 && !found)
			goto done;
		if (found) {
			ledger_error_clear(); /* refused by that finding, not failed */
		} else {
			opts.tip = new_id;
			opts.root = root;
			opts.use_cache = 1;
			opts.cache_readonly = 1; /* the push may yet be refused: nothing of it is kept */
			if ((r = ledger_state_load(&state, repo, &opts)) < 0 ||
			    (r = ledger_report_refusals(&found, repo, ledger_state_report(state),
			                                main_tip)) < 0)
				goto done;
		}
		ledger_report_free(refusals);
		refusals = found;
		found = NULL;
	}
	*out = refusals;
	refusals = NULL; /* transferred */
	r = 0;
done:
	ledger_state_free(state);
	ledger_report_free(found);
	ledger_report_free(refusals);
	return r;
}
