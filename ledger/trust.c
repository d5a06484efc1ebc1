/*
 * Trust (FORMAT.md section 3): the root chain, keys bound to principals over
 * time, revocations, per-key chains and equivocation, missing references;
 * and the verdict on every record.  Everything here is a function of the
 * record set alone: records are taken in (time, id) order, never in commit
 * order, so every node reaches the same verdicts.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "state_internal.h"

static const char *const role_names[] = { "director",  "deputy",     "manager", "field_leader",
	                                   "member",    "trainee",    "ciso",    "csirt",
	                                   "system_dept", "node",     "auditor" };
enum {
	ROLE_DIRECTOR = 1u << 0,
	ROLE_DEPUTY = 1u << 1,
	ROLE_MANAGER = 1u << 2,
	ROLE_CISO = 1u << 6,
	ROLE_NODE = 1u << 9
};

#define TIME_MAX INT64_MAX
#define NONE SIZE_MAX

static unsigned int role_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (strcmp(name, role_names[i]) == 0)
			return 1u << i;
	return 0;
}

int entry_is_trust_type(const char *type)
{
	return strcmp(type, "root") == 0 || strcmp(type, "principal") == 0 ||
	       strcmp(type, "revocation") == 0;
}

void entry_release(entry *e)
{
	if (!e->borrowed) {
		free(e->path);
		free(e->author);
		free(e->refs);
	}
	free(e->fail_message);
	free(e->canonical);
	ledger_record_free(e->trust);
	policy_feed_free(e->feed);
	memset(e, 0, sizeof(*e));
}

int entry_fill(entry *e, const ledger_record *rec)
{
	size_t i;

	ledger_unhex(e->id, 32, rec->id);
	e->has_id = 1;
	memcpy(e->sig_bytes, rec->sig, sizeof(e->sig_bytes));
	snprintf(e->type, sizeof(e->type), "%s", rec->type);
	free(e->author);
	e->author = strdup(rec->author);
	ledger_unhex(e->kid, 32, rec->kid);
	e->seq = rec->seq;
	e->has_prev = rec->prev != NULL;
	if (rec->prev)
		ledger_unhex(e->prev, 32, rec->prev);
	e->time = rec->time_unix;
	e->has_incident = rec->incident != NULL;
	if (rec->incident)
		ledger_unhex(e->incident, 32, rec->incident);
	free(e->refs);
	e->nrefs = json_array_size(rec->refs);
	e->refs = e->nrefs ? malloc(e->nrefs * sizeof(*e->refs)) : NULL;
	if (!e->author || (e->nrefs && !e->refs))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	for (i = 0; i < e->nrefs; i++)
		ledger_unhex(e->refs[i], 32, json_string_value(json_array_get(rec->refs, i)));
	return 0;
}

static void hex_of(char out[65], const uint8_t id[32])
{
	ledger_hex(out, id, 32);
}

/* --- findings about one entry ------------------------------------------ */

static int flag(ledger_state *st, size_t i, ledger_severity severity, const char *code,
                const char *rule, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int flag(ledger_state *st, size_t i, ledger_severity severity, const char *code,
                const char *rule, const char *fmt, ...)
{
	entry *e = &st->entries[i];
	char id[65] = "";
	va_list ap;
	int r;

	if (e->has_id)
		hex_of(id, e->id);
	if (severity == LEDGER_SEVERITY_ERROR)
		st->invalid[i] = 1;
	else if (severity == LEDGER_SEVERITY_PENDING)
		st->pending[i] = 1;
	va_start(ap, fmt);
	r = report_addv(st->report, severity, code, rule, id, e->path, NULL, fmt, ap);
	va_end(ap);
	return r;
}

/* --- keys known to the ledger ------------------------------------------ */

/* Record every Ed25519 key a root or principal body carries, whatever its validity. */
static int collect_entry_keys(ledger_state *st, json_t *p)
{
	const char *b64 = json_string_value(json_object_get(p, "ed25519"));
	uint8_t *raw = NULL, kid[32];
	size_t len, slot;
	int r = 0;

	if (!b64 || ledger_base64_decode(&raw, &len, b64) < 0 || len != 32)
		goto done;
	ledger_sha256(kid, raw, 32);
	if (idmap_get(&st->pubs, kid, &slot))
		goto done;
	if (st->npubs % 64 == 0) {
		void *bigger = realloc(st->pub_table, (st->npubs + 64) * sizeof(*st->pub_table));
		void *objects;

		if (bigger)
			st->pub_table = bigger;
		objects = realloc(st->pub_objects, (st->npubs + 64) * sizeof(*st->pub_objects));
		if (objects)
			st->pub_objects = objects;
		if (!bigger || !objects) {
			r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
			goto done;
		}
	}
	memcpy(st->pub_table[st->npubs], raw, 32);
	/* A key that fails its check stays known (for its kid) but verifies nothing. */
	if (ledger_pubkey_new(&st->pub_objects[st->npubs], raw) < 0)
		st->pub_objects[st->npubs] = NULL;
	r = idmap_put(&st->pubs, kid, st->npubs++);
done:
	free(raw);
	return r;
}

int trust_collect_keys(ledger_state *st)
{
	return trust_collect_keys_from(st, 0);
}

int trust_collect_keys_from(ledger_state *st, size_t first)
{
	int r = 0;

	for (size_t i = first; i < st->count && r == 0; i++) {
		entry *e = &st->entries[i];
		json_t *body;

		if (!e->trust)
			continue;
		body = e->trust->body;
		if (strcmp(e->type, "principal") == 0)
			r = collect_entry_keys(st, body);
		else if (strcmp(e->type, "root") == 0 &&
		         (r = collect_entry_keys(st, json_object_get(body, "director"))) == 0)
			r = collect_entry_keys(st, json_object_get(body, "deputy"));
	}
	return r;
}

int trust_public_key(const ledger_state *st, const uint8_t kid[32], uint8_t pub[32])
{
	size_t slot;

	if (!idmap_get(&st->pubs, kid, &slot))
		return 0;
	memcpy(pub, st->pub_table[slot], 32);
	return 1;
}

int trust_compromised_keys(idmap *out, const ledger_state *st)
{
	int r = 0;

	for (size_t i = 0; i < st->nrevocations && r == 0; i++) {
		const revocation *v = &st->revocations[i];
		const char *reason;

		/* An equivocation (no record) is reported as such, not here. */
		if (v->source == NONE)
			continue;
		reason = json_string_value(json_object_get(st->entries[v->source].trust->body,
		                                           "reason"));
		if (reason && strcmp(reason, "compromised") == 0)
			r = idmap_put(out, v->kid, v->source);
	}
	return r;
}

const ledger_pubkey *trust_pubkey(const ledger_state *st, const uint8_t kid[32])
{
	size_t slot;

	return idmap_get(&st->pubs, kid, &slot) ? st->pub_objects[slot] : NULL;
}

/* --- bindings and revocations ------------------------------------------ */

static int add_binding(ledger_state *st, json_t *p, const char *principal, int64_t from,
                       int64_t until, size_t source, const char *binder, unsigned int roles)
{
	const char *b64 = json_string_value(json_object_get(p, "ed25519"));
	uint8_t *raw = NULL;
	size_t len, first;
	binding *b;

	if (!b64 || ledger_base64_decode(&raw, &len, b64) < 0 || len != 32) {
		free(raw);
		return 1;
	}
	if (st->nbindings % 64 == 0) {
		void *bigger = realloc(st->bindings, (st->nbindings + 64) * sizeof(*st->bindings));

		if (!bigger) {
			free(raw);
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		}
		st->bindings = bigger;
	}
	b = &st->bindings[st->nbindings];
	memcpy(b->pub, raw, 32);
	ledger_sha256(b->kid, raw, 32);
	free(raw);
	b->principal = principal;
	b->x25519 = json_string_value(json_object_get(p, "x25519"));
	b->roles = roles;
	b->from = from;
	b->until = until;
	b->source = source;
	b->binder = binder;
	b->next = idmap_get(&st->first_binding, b->kid, &first) ? first : NONE;
	return idmap_put(&st->first_binding, b->kid, st->nbindings++);
}

static unsigned int roles_of(json_t *p)
{
	unsigned int roles = 0;
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(p, "roles"), i, v)
		if (json_is_string(v))
			roles |= role_bit(json_string_value(v));
	return roles;
}

/* Is the key revoked for a record at (time, seq)?  Returns the revocation or NULL. */
static const revocation *revoked(const ledger_state *st, const uint8_t kid[32], int64_t time,
                                 int64_t seq)
{
	for (size_t i = 0; i < st->nrevocations; i++) {
		const revocation *v = &st->revocations[i];

		if (memcmp(v->kid, kid, 32) != 0)
			continue;
		if (time >= v->effective || (v->last_good_seq >= 0 && seq > v->last_good_seq))
			return v;
	}
	return NULL;
}

/* The binding of kid to principal valid at time, or NULL. */
static const binding *bound(const ledger_state *st, const uint8_t kid[32], const char *principal,
                            int64_t time)
{
	size_t i;

	if (!idmap_get(&st->first_binding, kid, &i))
		return NULL;
	for (; i != NONE; i = st->bindings[i].next) {
		const binding *b = &st->bindings[i];

		if (strcmp(b->principal, principal) == 0 && b->from <= time && time < b->until)
			return b;
	}
	return NULL;
}

/* Roles `principal` holds at `time` through any of its bindings not revoked then. */
static unsigned int roles_at(const ledger_state *st, const char *principal, int64_t time)
{
	unsigned int roles = 0;

	for (size_t i = 0; i < st->nbindings; i++) {
		const binding *b = &st->bindings[i];

		if (strcmp(b->principal, principal) == 0 && b->from <= time && time < b->until &&
		    !revoked(st, b->kid, time, 0))
			roles |= b->roles;
	}
	return roles;
}

static int agency_of(char out[40], const char *principal)
{
	const char *slash = strchr(principal, '/');

	if (!slash || (size_t)(slash - principal) >= 40)
		return -1;
	memcpy(out, principal, (size_t)(slash - principal));
	out[slash - principal] = '\0';
	return 0;
}

/* May `author` (at time) bind `target` with `roles`?  NULL when yes, else why not. */
static const char *binding_authority(const ledger_state *st, const char *author, int64_t time,
                                     const char *target, unsigned int roles)
{
	char target_agency[40], author_agency[40];
	unsigned int author_roles = roles_at(st, author, time);

	if (agency_of(target_agency, target) < 0 || agency_of(author_agency, author) < 0)
		return "principal name is not <agency>/<name>";
	if (roles & (ROLE_DIRECTOR | ROLE_DEPUTY))
		return "director and deputy are bound only by a root record";
	if (strcmp(target_agency, "nisc") == 0 || (roles & ROLE_CISO)) {
		if (author_roles & (ROLE_DIRECTOR | ROLE_MANAGER))
			return NULL;
		return "NISC principals and CISOs are bound only by the director or a manager";
	}
	if ((author_roles & ROLE_CISO) && strcmp(author_agency, target_agency) == 0)
		return NULL;
	return "an organisation's principals are bound only by its own CISO";
}

/* --- the root chain ----------------------------------------------------- */

static int entry_usable(const ledger_state *st, size_t i)
{
	const entry *e = &st->entries[i];

	return !e->fail_code && e->sig == SIG_OK && !st->invalid[i];
}

static int find_entry(const ledger_state *st, const uint8_t id[32], size_t *out)
{
	return idmap_get(&st->by_id, id, out);
}

static int root_director_kid(uint8_t kid[32], const entry *e, const char **principal)
{
	json_t *dir = json_object_get(e->trust->body, "director");
	const char *b64 = json_string_value(json_object_get(dir, "ed25519"));
	uint8_t *raw = NULL;
	size_t len;

	*principal = json_string_value(json_object_get(dir, "principal"));
	if (!b64 || !*principal || ledger_base64_decode(&raw, &len, b64) < 0 || len != 32) {
		free(raw);
		return -1;
	}
	ledger_sha256(kid, raw, 32);
	free(raw);
	return 0;
}

static int judge_roots(ledger_state *st)
{
	uint8_t pinned[32], dkid[32];
	const char *dprincipal;
	size_t i, cur;
	int r;

	free(st->roots);
	st->roots = NULL;
	st->nroots = 0;
	st->roots = malloc((st->count + 1) * sizeof(*st->roots));
	if (!st->roots)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (ledger_unhex(pinned, 32, st->root_id) < 0 || !find_entry(st, pinned, &cur)) {
		report_add(st->report, LEDGER_SEVERITY_ERROR, "root-missing", "FORMAT-3", st->root_id,
		           NULL, NULL, "the pinned root record \"%s\" is not in the ledger",
		           st->root_id);
		cur = NONE;
	} else if (!entry_usable(st, cur) || strcmp(st->entries[cur].type, "root") != 0 ||
	           root_director_kid(dkid, &st->entries[cur], &dprincipal) < 0 ||
	           memcmp(dkid, st->entries[cur].kid, 32) != 0 ||
	           strcmp(dprincipal, st->entries[cur].author) != 0 ||
	           json_object_get(st->entries[cur].trust->body, "supersedes")) {
		if ((r = flag(st, cur, LEDGER_SEVERITY_ERROR, "root-invalid", "FORMAT-3", "%s",
		              "the pinned root is not a root record self-signed by its director")) < 0)
			return r;
		cur = NONE;
	}
	while (cur != NONE) {
		size_t next = NONE;
		char cur_hex[65];

		st->roots[st->nroots++] = cur;
		hex_of(cur_hex, st->entries[cur].id);
		root_director_kid(dkid, &st->entries[cur], &dprincipal);
		for (i = 0; i < st->count; i++) {
			entry *e = &st->entries[i];
			const char *sup;

			if (!e->trust || strcmp(e->type, "root") != 0 || !entry_usable(st, i))
				continue;
			sup = json_string_value(json_object_get(e->trust->body, "supersedes"));
			if (!sup || strcmp(sup, cur_hex) != 0)
				continue;
			if (memcmp(e->kid, dkid, 32) != 0 || strcmp(e->author, dprincipal) != 0 ||
			    e->time <= st->entries[cur].time) {
				if ((r = flag(st, i, LEDGER_SEVERITY_ERROR, "root-unauthorised",
				              "FORMAT-3", "%s",
				              "a new root must be signed by the current root's director "
				              "and dated after it")) < 0)
					return r;
				continue;
			}
			if (next == NONE || e->time < st->entries[next].time ||
			    (e->time == st->entries[next].time &&
			     memcmp(e->id, st->entries[next].id, 32) < 0)) {
				if (next != NONE &&
				    (r = flag(st, next, LEDGER_SEVERITY_ERROR, "root-fork", "FORMAT-3",
				              "%s", "another root supersedes the same root earlier")) < 0)
					return r;
				next = i;
			} else if ((r = flag(st, i, LEDGER_SEVERITY_ERROR, "root-fork", "FORMAT-3", "%s",
			                     "another root supersedes the same root earlier")) < 0) {
				return r;
			}
		}
		cur = next;
	}
	return 0;
}

static int bind_roots(ledger_state *st)
{
	int r;

	for (size_t k = 0; k < st->nroots; k++) {
		entry *e = &st->entries[st->roots[k]];
		int64_t until = k + 1 < st->nroots ? st->entries[st->roots[k + 1]].time : TIME_MAX;
		json_t *dir = json_object_get(e->trust->body, "director");
		json_t *dep = json_object_get(e->trust->body, "deputy");
		const char *dname = json_string_value(json_object_get(dir, "principal"));
		const char *pname = json_string_value(json_object_get(dep, "principal"));

		if (dname && (r = add_binding(st, dir, dname, e->time, until, st->roots[k], e->author,
		                              roles_of(dir) | ROLE_DIRECTOR)) < 0)
			return r;
		if (pname && (r = add_binding(st, dep, pname, e->time, until, st->roots[k], e->author,
		                              roles_of(dep) | ROLE_DEPUTY)) < 0)
			return r;
	}
	return 0;
}

/* --- principals and revocations, in (time, id) order -------------------- */

static const ledger_state *sort_state;

static int compare_time_id(const void *a, const void *b)
{
	const entry *x = &sort_state->entries[*(const size_t *)a];
	const entry *y = &sort_state->entries[*(const size_t *)b];

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return memcmp(x->id, y->id, 32);
}

/* Check that the signer's key is bound to the author, unrevoked, at the record's time. */
static const char *signer_problem(const ledger_state *st, const entry *e)
{
	if (!bound(st, e->kid, e->author, e->time))
		return "key-not-bound";
	if (revoked(st, e->kid, e->time, e->seq))
		return "key-revoked";
	return NULL;
}

static int principal_acceptable(const ledger_state *st, const entry *e, const char **why)
{
	json_t *body = e->trust->body;
	const char *target = json_string_value(json_object_get(body, "principal"));
	const char *b64 = json_string_value(json_object_get(body, "ed25519"));
	const char *x25519 = json_string_value(json_object_get(body, "x25519"));
	uint8_t *raw = NULL;
	size_t len;
	int ok;

	if (!target || !b64) {
		*why = "principal body lacks \"principal\" or \"ed25519\"";
		return 0;
	}
	if ((*why = binding_authority(st, e->author, e->time, target, roles_of(body))))
		return 0;
	if (ledger_base64_decode(&raw, &len, b64) < 0 || len != 32 ||
	    ledger_ed25519_public_check(raw) < 0) {
		*why = "the ed25519 key is malformed, non-canonical or of small order";
		free(raw);
		return 0;
	}
	free(raw);
	raw = NULL;
	ok = x25519 && ledger_base64_decode(&raw, &len, x25519) == 0 && len == 32;
	free(raw);
	if (!ok)
		*why = "the x25519 key is not the base64 of 32 bytes";
	return ok;
}

static int revocation_acceptable(const ledger_state *st, const entry *e, revocation *out,
                                 const char **why)
{
	json_t *body = e->trust->body;
	const char *kid = json_string_value(json_object_get(body, "kid"));
	const char *reason = json_string_value(json_object_get(body, "reason"));
	const char *effective = json_string_value(json_object_get(body, "effective"));
	json_t *last = json_object_get(body, "last_good_seq");
	size_t i;
	int allowed;

	memset(out, 0, sizeof(*out));
	if (!kid || ledger_unhex(out->kid, 32, kid) < 0 || !reason ||
	    (strcmp(reason, "retired") && strcmp(reason, "compromised")) || !effective ||
	    ledger_time_parse(&out->effective, effective) < 0) {
		*why = "revocation body needs \"kid\", \"reason\" and \"effective\"";
		return 0;
	}
	out->last_good_seq = json_is_integer(last) && strcmp(reason, "compromised") == 0
	                             ? json_integer_value(last)
	                             : -1;
	allowed = memcmp(out->kid, e->kid, 32) == 0 ||
	          (roles_at(st, e->author, e->time) & (ROLE_DIRECTOR | ROLE_MANAGER));
	if (!allowed && idmap_get(&st->first_binding, out->kid, &i))
		for (; i != NONE && !allowed; i = st->bindings[i].next)
			allowed = strcmp(st->bindings[i].binder, e->author) == 0;
	if (!allowed)
		*why = "a key is revoked only by itself, by whoever bound it, or by the director or a manager";
	return allowed;
}

static int compare_kid_seq(const void *a, const void *b)
{
	const entry *x = &sort_state->entries[*(const size_t *)a];
	const entry *y = &sort_state->entries[*(const size_t *)b];
	int c = memcmp(x->kid, y->kid, 32);

	if (c)
		return c;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return memcmp(x->id, y->id, 32);
}

/*
 * The chain checks' (kid, seq, id) order, sorted on one integer per
 * record: the kid's rank among the distinct kids (a few signers sign most
 * records) above the seq, radix sorted, then ties (an equivocation) by id.
 * Comparing the entries themselves read two of them at random per
 * comparison, a fifth of a cached run.  Keys that do not fit (a seq past
 * 2^44 or below 0, more than 2^20 kids) take that slower way.
 */
#define SEQ_BITS 44

typedef struct {
	uint64_t key;
	size_t i;
} chain_key;

static int compare_kid_rank(const void *a, const void *b)
{
	return memcmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b, 32);
}

static int compare_chain_id(const void *a, const void *b)
{
	return memcmp(sort_state->entries[((const chain_key *)a)->i].id,
	              sort_state->entries[((const chain_key *)b)->i].id, 32);
}

/* Stable LSD radix sort on .key, a byte at a time; bytes every key shares are skipped. */
static void radix_sort(chain_key *keys, chain_key *tmp, size_t n)
{
	chain_key *from = keys, *to = tmp, *swap;

	for (unsigned int shift = 0; shift < 64 && n; shift += 8) {
		size_t count[256] = { 0 }, pos = 0, c;

		for (size_t k = 0; k < n; k++)
			count[(from[k].key >> shift) & 0xff]++;
		if (count[(from[0].key >> shift) & 0xff] == n)
			continue;
		for (size_t b = 0; b < 256; b++) {
			c = count[b];
			count[b] = pos;
			pos += c;
		}
		for (size_t k = 0; k < n; k++)
			to[count[(from[k].key >> shift) & 0xff]++] = from[k];
		swap = from;
		from = to;
		to = swap;
	}
	if (from != keys)
		memcpy(keys, from, n * sizeof(*keys));
}

/* Sort order[0, n) (entry indexes) by (kid, seq, id). */
static int sort_kid_seq(const ledger_state *st, size_t *order, size_t n)
{
	const uint8_t **kids = malloc((n + 1) * sizeof(*kids));
	chain_key *keys = malloc((2 * n + 1) * sizeof(*keys));
	size_t *rank = NULL, nkids = 0, slot, run;
	idmap slots;
	int fits = 1, r = 0;

	idmap_init(&slots);
	if (!keys || !kids) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	/* keys[k].key: first the slot of the kid in kids, then (below) its rank and the seq */
	for (size_t k = 0; k < n; k++) {
		const entry *e = &st->entries[order[k]];

		if (!idmap_get(&slots, e->kid, &slot)) {
			slot = nkids;
			kids[nkids++] = e->kid;
			if ((r = idmap_put(&slots, e->kid, slot)) < 0)
				goto done;
		}
		fits &= e->seq >= 0 && (uint64_t)e->seq < (1ULL << SEQ_BITS);
		keys[k].key = slot;
		keys[k].i = order[k];
	}
	if (!fits || nkids > (1ULL << (64 - SEQ_BITS))) {
		qsort(order, n, sizeof(*order), compare_kid_seq);
		goto done;
	}
	if (!(rank = malloc((nkids + 1) * sizeof(*rank)))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	qsort(kids, nkids, sizeof(*kids), compare_kid_rank);
	for (size_t k = 0; k < nkids; k++)
		if (idmap_get(&slots, kids[k], &slot))
			rank[slot] = k;
	for (size_t k = 0; k < n; k++)
		keys[k].key = (uint64_t)rank[keys[k].key] << SEQ_BITS |
		              (uint64_t)st->entries[keys[k].i].seq;
	radix_sort(keys, keys + n, n);
	for (size_t k = 0; k < n; k = run) {
		for (run = k + 1; run < n && keys[run].key == keys[k].key; run++)
			;
		if (run - k > 1)
			qsort(keys + k, run - k, sizeof(*keys), compare_chain_id);
	}
	for (size_t k = 0; k < n; k++)
		order[k] = keys[k].i;
done:
	idmap_release(&slots);
	free(rank);
	free(kids);
	free(keys);
	return r;
}

static int add_revocation(ledger_state *st, const revocation *v)
{
	if (st->nrevocations % 16 == 0) {
		void *bigger = realloc(st->revocations,
		                       (st->nrevocations + 16) * sizeof(*st->revocations));

		if (!bigger)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		st->revocations = bigger;
	}
	st->revocations[st->nrevocations++] = *v;
	return 0;
}

/*
 * One pass over the trust records in (time, id) order, building bindings and
 * revocations.  `known` revocations (from the previous pass) apply from the
 * start, so that a backdated revocation also undoes what the key signed
 * before the revocation record itself was dated.
 */
static int trust_pass(ledger_state *st, const size_t *order, size_t n,
                      const revocation *known, size_t nknown, const revocation *equivocations,
                      size_t nequivocations)
{
	uint8_t *done;
	int r, changed;

	st->nbindings = 0;
	idmap_release(&st->first_binding);
	st->nrevocations = 0;
	for (size_t k = 0; k < nknown; k++)
		if ((r = add_revocation(st, &known[k])) < 0)
			return r;
	for (size_t k = 0; k < nequivocations; k++)
		if ((r = add_revocation(st, &equivocations[k])) < 0)
			return r;
	if ((r = bind_roots(st)) < 0)
		return r;
	done = calloc(n + 1, 1);
	if (!done)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	/* Records of one second may bind each other's signers: rescan until nothing changes. */
	do {
		changed = 0;
		for (size_t k = 0; k < n; k++) {
			size_t i = order[k];
			entry *e = &st->entries[i];
			const char *why = NULL;
			revocation v;
			int known_already = 0;

			if (done[k] || signer_problem(st, e))
				continue;
			if (strcmp(e->type, "principal") == 0) {
				json_t *body = e->trust->body;
				const char *until_text = json_string_value(json_object_get(body, "until"));
				int64_t until = TIME_MAX;

				if (!principal_acceptable(st, e, &why))
					continue;
				if (until_text && ledger_time_parse(&until, until_text) < 0)
					until = e->time; /* an unreadable end binds nothing */
				r = add_binding(st, body,
				                json_string_value(json_object_get(body, "principal")),
				                e->time, until, i, e->author, roles_of(body));
			} else {
				if (!revocation_acceptable(st, e, &v, &why))
					continue;
				v.source = i;
				for (size_t k2 = 0; k2 < nknown; k2++)
					known_already |= known[k2].source == i;
				r = known_already ? 0 : add_revocation(st, &v);
			}
			if (r < 0)
				goto out;
			done[k] = 1;
			changed = 1;
		}
	} while (changed);
	r = 0;
out:
	free(done);
	return r;
}

static int same_revocations(const revocation *a, size_t na, const revocation *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (a[i].source != b[i].source)
			return 0;
	return 1;
}

/* --- the verdict on every record ----------------------------------------- */

/* Is the author a NISC node (the master's principal) at the record's time? */
static int master_signer(const ledger_state *st, const entry *e)
{
	char agency[40];

	return agency_of(agency, e->author) == 0 && strcmp(agency, "nisc") == 0 &&
	       (roles_at(st, e->author, e->time) & ROLE_NODE);
}

/* Is e of this type?  Its first letter rules out most: judge_entry asks up to five times. */
static inline int type_is(const entry *e, const char *type)
{
	return e->type[0] == type[0] && strcmp(e->type, type) == 0;
}

static int judge_entry(ledger_state *st, size_t i)
{
	entry *e = &st->entries[i];
	char hex[65];
	const char *problem;
	const revocation *v;
	size_t j;
	int r;

	if (e->fail_code)
		return flag(st, i, LEDGER_SEVERITY_ERROR, e->fail_code, e->fail_rule, "%s",
		            e->fail_message ? e->fail_message : "invalid record");
	if (!idmap_get(&st->pubs, e->kid, &j))
		return flag(st, i, LEDGER_SEVERITY_ERROR, "unknown-key", "FORMAT-2",
		            "signed by key %s, which no root or principal record binds",
		            (hex_of(hex, e->kid), hex));
	if (e->sig != SIG_OK)
		return flag(st, i, LEDGER_SEVERITY_ERROR, "bad-signature", "FORMAT-2", "%s",
		            "the signature does not verify under the record's key");
	if (type_is(e, "root")) {
		for (j = 0; j < st->nroots; j++)
			if (st->roots[j] == i)
				return 0;
		if (st->invalid[i])
			return 0; /* already reported by judge_roots */
		return flag(st, i, LEDGER_SEVERITY_ERROR, "root-unauthorised", "FORMAT-3", "%s",
		            "a root record that neither is the pinned root nor supersedes it");
	}
	problem = signer_problem(st, e);
	if (problem && strcmp(problem, "key-revoked") == 0) {
		v = revoked(st, e->kid, e->time, e->seq);
		if (v->source == NONE)
			return flag(st, i, LEDGER_SEVERITY_ERROR, "key-compromised", "FORMAT-3",
			            "the key equivocated (two records with one seq), so it is treated "
			            "as compromised from that seq on%s", "");
		return flag(st, i, LEDGER_SEVERITY_ERROR, "key-revoked", "FORMAT-3",
		            "the key was revoked by record %s before this record's time or seq",
		            (hex_of(hex, st->entries[v->source].id), hex));
	}
	if (problem)
		return flag(st, i, LEDGER_SEVERITY_ERROR, "key-not-bound", "FORMAT-3",
		            "the key is not bound to author \"%s\" at the record's time", e->author);
	if (type_is(e, "principal") || type_is(e, "revocation")) {
		const char *why = NULL;
		revocation scratch;

		if (type_is(e, "principal") ? !principal_acceptable(st, e, &why)
		                                      : !revocation_acceptable(st, e, &scratch, &why))
			if ((r = flag(st, i, LEDGER_SEVERITY_ERROR, "not-authorised", "FORMAT-3", "%s",
			              why)) < 0)
				return r;
	}
	/*
	 * Receipts and checkpoints speak for the master: nodes schedule and
	 * report by them, so nobody else may sign one (docs/FORMAT.md, "Sync").
	 */
	if ((type_is(e, "checkpoint") || type_is(e, "receipt")) &&
	    !master_signer(st, e))
		return flag(st, i, LEDGER_SEVERITY_ERROR, "not-authorised", "FORMAT-3",
		            "a %s is signed only by a NISC principal with role node, not by \"%s\"",
		            e->type, e->author);
	for (j = 0; j < e->nrefs; j++) {
		size_t at;

		if (!find_entry(st, e->refs[j], &at))
			return flag(st, i, LEDGER_SEVERITY_PENDING, "missing-ref", "FORMAT-1",
			            "refers to record %s, which has not arrived",
			            (hex_of(hex, e->refs[j]), hex));
	}
	if (e->has_incident && !find_entry(st, e->incident, &j))
		return flag(st, i, LEDGER_SEVERITY_PENDING, "missing-ref", "FORMAT-1",
		            "belongs to incident %s, whose record has not arrived",
		            (hex_of(hex, e->incident), hex));
	return 0;
}

/*
 * How many entries ahead chain_checks and find_equivocations start loading
 * the one they will read: in (kid, seq) order the entries come at random
 * from the whole array, and waiting for each from memory was most of the
 * chain checks (5.0 -> 1.9 ms at 102,000 records).
 */
#define CHAIN_PREFETCH 16

/* Chains per key: a gap is pending, a prev that names the wrong record is an error,
 * two records with one seq are an equivocation. */
static int chain_checks(ledger_state *st, size_t *order, size_t n)
{
	char hex[65];
	int r;

	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		entry *e = &st->entries[i];
		int found = 0, matched = 0;

		if (k + CHAIN_PREFETCH < n) {
			const entry *ahead = &st->entries[order[k + CHAIN_PREFETCH]];

			__builtin_prefetch(ahead->id);
			__builtin_prefetch(ahead->kid);
			__builtin_prefetch(ahead->prev);
		}
		if (k + 1 < n && memcmp(st->entries[order[k + 1]].kid, e->kid, 32) == 0 &&
		    st->entries[order[k + 1]].seq == e->seq) {
			/* report every member of the run */
			size_t end = k;

			while (end + 1 < n && memcmp(st->entries[order[end + 1]].kid, e->kid, 32) == 0 &&
			       st->entries[order[end + 1]].seq == e->seq)
				end++;
			for (size_t m = k; m <= end; m++)
				if ((r = flag(st, order[m], LEDGER_SEVERITY_ERROR, "equivocation",
				              "FORMAT-3",
				              "another record has the same key and seq %s",
				              (snprintf(hex, sizeof(hex), "%lld",
				                        (long long)e->seq), hex))) < 0)
					return r;
		}
		if (e->seq <= 1)
			continue;
		for (size_t m = k; m-- > 0;) {
			entry *p = &st->entries[order[m]];

			if (memcmp(p->kid, e->kid, 32) != 0 || p->seq < e->seq - 1)
				break;
			if (p->seq == e->seq - 1) {
				found = 1;
				matched |= memcmp(p->id, e->prev, 32) == 0;
			}
		}
		if (!found)
			r = flag(st, i, LEDGER_SEVERITY_PENDING, "chain-gap", "FORMAT-3",
			         "the key's record with seq %s has not arrived",
			         (snprintf(hex, sizeof(hex), "%lld", (long long)(e->seq - 1)), hex));
		else if (!matched)
			r = flag(st, i, LEDGER_SEVERITY_ERROR, "chain-broken", "FORMAT-3", "%s",
			         "\"prev\" does not name the key's record with the previous seq");
		else
			r = 0;
		if (r < 0)
			return r;
	}
	return 0;
}

/* Equivocations: two records of one key with one seq.  Both are reported; the key is
 * treated as compromised from the lowest such seq on. */
static int find_equivocations(ledger_state *st, const size_t *order, size_t n,
                              revocation **out, size_t *nout)
{
	revocation *list = NULL;
	size_t count = 0;

	for (size_t k = 0; k + 1 < n; k++) {
		const entry *a = &st->entries[order[k]], *b = &st->entries[order[k + 1]];

		if (k + CHAIN_PREFETCH < n)
			__builtin_prefetch(st->entries[order[k + CHAIN_PREFETCH]].kid);
		if (memcmp(a->kid, b->kid, 32) != 0 || a->seq != b->seq)
			continue;
		if (count && memcmp(list[count - 1].kid, a->kid, 32) == 0)
			continue; /* the lowest seq of a key decides */
		list = realloc(list, (count + 1) * sizeof(*list));
		if (!list)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		memcpy(list[count].kid, a->kid, 32);
		list[count].effective = TIME_MAX;
		list[count].last_good_seq = a->seq - 1;
		list[count].source = NONE;
		count++;
	}
	*out = list;
	*nout = count;
	return 0;
}

/* Entries from which trust_judge judges them on two threads. */
#define JUDGE_SPLIT 8192

/* judge_entry over the entries [first, end) of a view of the state. */
typedef struct {
	ledger_state *view;
	size_t first, end;
	int r;
	char message[256]; /* of an error, which is the thread's own */
} judge_range;

static void *judge_range_run(void *arg)
{
	judge_range *jr = arg;

	for (size_t i = jr->first; i < jr->end && jr->r == 0; i++)
		if (!jr->view->invalid[i])
			jr->r = judge_entry(jr->view, i);
	if (jr->r < 0)
		snprintf(jr->message, sizeof(jr->message), "%s", ledger_error_last()->message);
	return NULL;
}

/*
 * The verdict on every entry not judged invalid yet.  Each depends on the
 * trust built before alone (bindings, revocations, roots, keys, ids), and
 * judge_entry only writes the entry's own flags and findings: on a large
 * ledger the second half is judged on a thread of its own, into a view of
 * the state with a report of its own, appended after the first half's:
 * the findings come in the order one thread makes them.
 */
static int judge_all(ledger_state *st)
{
	judge_range first = { st, 0, st->count, 0, "" }, second = { NULL, 0, 0, 0, "" };
	ledger_state view;
	pthread_t tid;
	int started = 0, r = 0;

	if (st->count >= JUDGE_SPLIT) {
		view = *st;
		if (report_new(&view.report) == 0) {
			second.view = &view;
			second.first = first.end = st->count / 2;
			second.end = st->count;
			started = pthread_create(&tid, NULL, judge_range_run, &second) == 0;
			if (!started) {
				ledger_report_free(view.report);
				first.end = st->count;
			}
		}
	}
	judge_range_run(&first);
	if (started)
		pthread_join(tid, NULL);
	if (first.r < 0)
		r = first.r;
	else if (second.r < 0)
		r = ledger_error_set(second.r, "%s", second.message);
	for (size_t i = 0; started && r == 0 && i < view.report->count; i++)
		r = report_add_copy(st->report, &view.report->items[i], view.report->items[i].commit);
	if (started)
		ledger_report_free(view.report);
	return r;
}

int trust_judge(ledger_state *st)
{
	size_t *trust_order = NULL, *chain_order = NULL, ntrust = 0, nchain = 0, nknown = 0;
	revocation *known = NULL, *equivocations = NULL;
	size_t nequivocations = 0;
	int r, round;

	free(st->invalid);
	free(st->pending);
	st->invalid = calloc(st->count + 1, 1);
	st->pending = calloc(st->count + 1, 1);
	trust_order = malloc((st->count + 1) * sizeof(*trust_order));
	chain_order = malloc((st->count + 1) * sizeof(*chain_order));
	if (!st->invalid || !st->pending || !trust_order || !chain_order) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = trust_collect_keys(st)) < 0)
		goto done;
	for (size_t i = 0; i < st->count; i++) {
		entry *e = &st->entries[i];

		if (e->fail_code || e->sig != SIG_OK)
			continue;
		chain_order[nchain++] = i;
		if (e->trust && strcmp(e->type, "root") != 0)
			trust_order[ntrust++] = i;
	}
	sort_state = st;
	qsort(trust_order, ntrust, sizeof(*trust_order), compare_time_id);
	if ((r = sort_kid_seq(st, chain_order, nchain)) < 0)
		goto done;
	if ((r = find_equivocations(st, chain_order, nchain, &equivocations, &nequivocations)) < 0)
		goto done;
	if ((r = judge_roots(st)) < 0)
		goto done;
	/* Backdated revocations can undo earlier bindings: repeat until nothing changes. */
	for (round = 0; round < 8; round++) {
		revocation *accepted;
		size_t naccepted = 0;

		if ((r = trust_pass(st, trust_order, ntrust, known, nknown, equivocations,
		                    nequivocations)) < 0)
			goto done;
		accepted = malloc((st->nrevocations + 1) * sizeof(*accepted));
		if (!accepted) {
			r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
			goto done;
		}
		for (size_t k = 0; k < st->nrevocations; k++)
			if (st->revocations[k].source != NONE)
				accepted[naccepted++] = st->revocations[k];
		if (same_revocations(accepted, naccepted, known, nknown)) {
			free(accepted);
			break;
		}
		free(known);
		known = accepted;
		nknown = naccepted;
	}
	if ((r = chain_checks(st, chain_order, nchain)) < 0 || (r = judge_all(st)) < 0)
		goto done;
	/* Kept for trust_judge_candidate. */
	free(st->chain);
	st->chain = chain_order;
	st->nchain = nchain;
	chain_order = NULL;
	st->nfailed = 0;
	for (size_t i = 0; i < st->count; i++)
		st->nfailed += st->entries[i].fail_code != NULL;
	r = 0;
done:
	free(trust_order);
	free(chain_order);
	free(known);
	free(equivocations);
	return r;
}

/* The first of st->chain at or after (kid, seq). */
static size_t chain_find(const ledger_state *st, const uint8_t kid[32], int64_t seq)
{
	size_t lo = 0, hi = st->nchain;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const entry *e = &st->entries[st->chain[mid]];
		int c = memcmp(e->kid, kid, 32);

		if (c < 0 || (c == 0 && e->seq < seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The state's chain records of cand's key with seq - 1 or seq: [*first,
 * *end) of st->chain.  0; or 1 when one has cand's seq (an equivocation).
 */
static int chain_neighbours(size_t *first, size_t *end, const ledger_state *st,
                            const entry *cand)
{
	size_t k;

	*first = chain_find(st, cand->kid, cand->seq - 1);
	for (k = *first; k < st->nchain; k++) {
		const entry *e = &st->entries[st->chain[k]];

		if (memcmp(e->kid, cand->kid, 32) != 0 || e->seq > cand->seq)
			break;
		if (e->seq == cand->seq)
			return 1;
	}
	*end = k;
	return 0;
}

static int among(const entry *cands, size_t n, const uint8_t id[32])
{
	for (size_t k = 0; k < n; k++)
		if (memcmp(cands[k].id, id, 32) == 0)
			return 1;
	return 0;
}

static int compare_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * What trust_judge would find about more entries, candidates appended
 * together (a batch) that are no trust records: they bind, revoke and root
 * nothing, so the state's bindings, revocations and roots stand as they
 * are, and of the chains only the candidates' own places count (their
 * keys' records with seq - 1 before them, the other candidates among
 * them).  They are judged in a view of the state that shares all that and
 * holds only those entries and the candidates; a reference to another
 * candidate is found, as the ledger holding them all would find it.
 * Unless one equivocates (that revokes its key), repeats an id the ledger
 * or the batch holds (whose findings would be the candidate's too) or is
 * signed by a revoked key (the finding names the revocation by the state's
 * entries): then 0, and only a full judgement answers.
 */
int trust_judge_candidates(ledger_report **out, const ledger_state *st, const entry *cands,
                           size_t ncands)
{
	ledger_state view;
	size_t *order = NULL, *picked = NULL, npicked = 0, nrefs = 0, n, norder = 0;
	size_t first, end, k, m, at;
	uint8_t (*refs)[32] = NULL, (*ref)[32];
	int r;

	*out = NULL;
	memset(&view, 0, sizeof(view));
	for (m = 0; m < ncands; m++) {
		const entry *c = &cands[m];

		if (c->trust || entry_is_trust_type(c->type) || idmap_get(&st->by_id, c->id, &at) ||
		    revoked(st, c->kid, c->time, c->seq) || among(cands, m, c->id))
			return 0;
		for (k = 0; k < m; k++)
			if (c->sig == SIG_OK && cands[k].sig == SIG_OK &&
			    memcmp(cands[k].kid, c->kid, 32) == 0 && cands[k].seq == c->seq)
				return 0;
		if (c->sig == SIG_OK) {
			if (chain_neighbours(&first, &end, st, c))
				return 0;
			npicked += end - first;
		}
		nrefs += c->nrefs;
	}
	/* by_id leaves out the files that failed their checks; so few, they are looked through. */
	for (k = 0; st->nfailed && k < st->count; k++)
		if (st->entries[k].fail_code && st->entries[k].has_id &&
		    among(cands, ncands, st->entries[k].id))
			return 0;
	picked = malloc((npicked + 1) * sizeof(*picked));
	refs = malloc((nrefs + 1) * sizeof(*refs));
	if (!picked || !refs) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	npicked = 0;
	for (m = 0; m < ncands; m++) {
		if (cands[m].sig != SIG_OK)
			continue;
		chain_neighbours(&first, &end, st, &cands[m]);
		while (first < end)
			picked[npicked++] = first++;
	}
	/* Neighbours two candidates share are taken once. */
	qsort(picked, npicked, sizeof(*picked), compare_size);
	for (k = n = 0; k < npicked; k++)
		if (!n || picked[n - 1] != picked[k])
			picked[n++] = picked[k];

	view = *st;
	view.count = n + ncands;
	view.report = NULL;
	view.entries = malloc(view.count * sizeof(*view.entries));
	view.invalid = calloc(view.count, 1);
	view.pending = calloc(view.count, 1);
	order = malloc(view.count * sizeof(*order));
	if (!view.entries || !view.invalid || !view.pending || !order) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = report_new(&view.report)) < 0)
		goto done;
	for (k = 0; k < n; k++) {
		view.entries[k] = st->entries[st->chain[picked[k]]];
		order[norder++] = k;
	}
	ref = refs;
	for (m = 0; m < ncands; m++) {
		entry *c = &view.entries[n + m];

		*c = cands[m];
		/* What the view lacks of the ledger with the batch in it: the other candidates. */
		c->refs = ref;
		c->nrefs = 0;
		for (k = 0; k < cands[m].nrefs; k++)
			if (!among(cands, ncands, cands[m].refs[k]))
				memcpy(c->refs[c->nrefs++], cands[m].refs[k], 32);
		ref += c->nrefs;
		if (c->has_incident && among(cands, ncands, c->incident))
			c->has_incident = 0;
		if (c->sig == SIG_OK)
			order[norder++] = n + m;
	}
	sort_state = &view;
	if ((r = sort_kid_seq(&view, order, norder)) < 0 ||
	    (r = chain_checks(&view, order, norder)) < 0)
		goto done;
	for (m = 0; m < ncands; m++)
		if (!view.invalid[n + m] && (r = judge_entry(&view, n + m)) < 0)
			goto done;
	*out = view.report;
	view.report = NULL; /* transferred */
	r = 1;
done:
	/* The view's entries are copies of the state's and of cands: nothing of theirs is freed. */
	free(view.entries);
	ledger_report_free(view.report);
	free(view.invalid);
	free(view.pending);
	free(order);
	free(picked);
	free(refs);
	return r;
}

/* --- the state's public accessors ----------------------------------------- */

void ledger_state_chain_tip(int64_t *seq, char prev[LEDGER_HEX_ID_LEN + 1],
                            const ledger_state *state, const char *kid)
{
	uint8_t k[32];

	*seq = 0;
	prev[0] = '\0';
	if (ledger_unhex(k, 32, kid) < 0)
		return;
	for (size_t i = 0; i < state->count; i++) {
		const entry *e = &state->entries[i];

		if (e->fail_code || memcmp(e->kid, k, 32) != 0 || e->seq <= *seq)
			continue;
		*seq = e->seq;
		hex_of(prev, e->id);
	}
}

const char *ledger_state_key_principal(const ledger_state *state, const char *kid, int64_t at)
{
	uint8_t k[32];
	size_t i;

	if (ledger_unhex(k, 32, kid) < 0 || !idmap_get(&state->first_binding, k, &i))
		return NULL;
	for (; i != NONE; i = state->bindings[i].next) {
		const binding *b = &state->bindings[i];

		if (b->from <= at && at < b->until && !revoked(state, k, at, 0))
			return b->principal;
	}
	return NULL;
}

int ledger_state_foreach_key(const ledger_state *state, int64_t at, ledger_state_key_cb cb,
                             void *payload)
{
	char kid[LEDGER_HEX_ID_LEN + 1];
	uint8_t *x = NULL;
	size_t i, len;
	int r;

	for (size_t k = 0; k < state->nbindings; k++) {
		const binding *b = &state->bindings[k];

		if (!(b->from <= at && at < b->until) || revoked(state, b->kid, at, 0))
			continue;
		/* Each key once, through the binding ledger_state_key_principal picks. */
		if (!idmap_get(&state->first_binding, b->kid, &i))
			continue;
		while (i != NONE && !(state->bindings[i].from <= at && at < state->bindings[i].until))
			i = state->bindings[i].next;
		if (i != k)
			continue;
		hex_of(kid, b->kid);
		if (!b->x25519 || ledger_base64_decode(&x, &len, b->x25519) < 0 || len != 32) {
			free(x);
			x = NULL;
			ledger_error_clear();
		}
		r = cb(b->principal, kid, x, payload);
		free(x);
		x = NULL;
		if (r)
			return r;
	}
	return 0;
}

int ledger_state_has_role(const ledger_state *state, const char *principal, const char *role,
                          int64_t at)
{
	unsigned int bit = role_bit(role);

	return bit && (roles_at(state, principal, at) & bit) ? 1 : 0;
}

const ledger_report *ledger_state_report(const ledger_state *state)
{
	return state->report;
}
