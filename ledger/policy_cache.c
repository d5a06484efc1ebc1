/*
 * The policy cache, <git dir>/cymat/policy: what a run of the policy engine
 * judged, so that the next run judges only what came after it.
 *
 * A run keeps the prefix of its causal order that ends before the latest
 * second of the ledger (records of that second are judged again, whatever
 * arrives in it): each record's summary and verdict, the findings about
 * them, and the derived state after them.  A later run takes that prefix
 * as it is when the result of a full pass would begin with it:
 *
 * - the cache was written by this library with the same rules and options,
 *   for this root, at a commit the ledger's tip descends from;
 * - the trust the prefix was judged with is unchanged: the bindings, key
 *   revocations and trust records in force before the cut (a fingerprint);
 * - every record of the prefix is still one the engine takes, with the same
 *   verifier status, and every record the engine takes that is not in it
 *   is of the cut's second or later (or was after the prefix already), so
 *   that it sorts after every record of the prefix;
 * - a pending record of the prefix whose missing reference arrived (or that
 *   the verifier no longer leaves pending) moves out of the prefix with
 *   the records waiting for it, when what it names now comes after the
 *   prefix: it is judged again after it, where a full pass puts it.
 *   Otherwise the cache is not used.
 *
 * Pending records change no state, and taking records out of a causal
 * order together with everything that waits for them leaves the order of
 * the others as it was; so the result equals a full pass (test_policy
 * compares the two over random splits of a ledger).
 *
 * Layout (little-endian, as written by this host; a mismatch only costs a
 * full pass): magic, tip, root, the fingerprints of the rules and of the
 * trust, the cut time, a string table, the prefix records in causal order,
 * the ids of the records after the prefix, then the prefix's findings, the
 * derived state but incidents and consents (JSON), and those two item by
 * item after a digest of their bytes: a run parses only the items its
 * records ask for, so it costs what is new, not the size of the history.
 * Written to a temporary file, fsync'd and renamed into place; read whole
 * into memory (cache_read_all), which the policy keeps while items point
 * into it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "cache_io.h"
#include "policy_internal.h"

#define PCACHE_MAGIC "CYMATPC2"
#define PCACHE_FILE "policy"
/* How many ids ahead a run of id lookups prefetches (idmap_prefetch). */
#define PREFETCH_AHEAD 16

/* Record flags. */
#define PF_READ 1     /* not left pending by the verifier */
#define PF_INCIDENT 2 /* has an `incident` */

/* --- the file (written and read with cache_io.h) ------------------------------ */

static int cache_path(char **out, ledger_repo *repo)
{
	const char *dir;
	int r;

	if ((r = ledger_repo_state_dir(&dir, repo)) < 0)
		return r;
	if (asprintf(out, "%s/%s", dir, PCACHE_FILE) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	return 0;
}

/* --- fingerprints ------------------------------------------------------------- */

/*
 * What the rules are: this library's version, the revision of the order
 * records are judged in (a cache of an older order keeps verdicts a full
 * pass would not give), the rule table and the options.
 */
static int rules_fingerprint(uint8_t out[32], const ledger_policy *pol)
{
	const ledger_policy_rule *rules;
	char *buf = NULL;
	size_t len = 0, n;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	rules = ledger_policy_rules(&n);
	fprintf(f, "%s %s\norder %d\n%u\n", PACKAGE_NAME, PACKAGE_VERSION, POLICY_ORDER_REVISION,
	        pol->opts.replacement_days);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s %d %s\n", rules[i].id, rules[i].function, (int)rules[i].severity,
		        rules[i].description);
	if (fclose(f) != 0) {
		free(buf);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	ledger_sha256(out, buf, len);
	free(buf);
	return 0;
}

typedef struct {
	uint8_t id[32];
	int64_t value;
} keyed;

static int compare_keyed(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	int c = memcmp(x->id, y->id, 32);

	if (c)
		return c;
	return (x->value > y->value) - (x->value < y->value);
}

/*
 * The trust the rules saw before `cut`: bindings in force before it (in the
 * state's order, which decides between two in force at once), revocations
 * effective before it and the trust records of before it with their
 * validity (sorted: their order is not part of the result).
 */
static int trust_fingerprint(uint8_t out[32], const ledger_state *st, int64_t cut)
{
	char *buf = NULL;
	size_t len = 0, nk = 0;
	keyed *list = malloc((st->nrevocations + st->count + 1) * sizeof(*list));
	FILE *f = list ? open_memstream(&buf, &len) : NULL;
	int r = 0;

	if (!f) {
		free(list);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < st->nbindings; i++) {
		const binding *b = &st->bindings[i];
		int64_t until = b->until < cut ? b->until : cut;

		if (b->from >= cut)
			continue;
		fwrite(b->kid, 1, 32, f);
		fprintf(f, "%s %s %u %lld %lld ", b->principal ? b->principal : "",
		        b->binder ? b->binder : "", b->roles, (long long)b->from, (long long)until);
		if (b->source < st->count)
			fwrite(st->entries[b->source].id, 1, 32, f);
	}
	for (size_t i = 0; i < st->nrevocations; i++)
		if (st->revocations[i].effective < cut) {
			memcpy(list[nk].id, st->revocations[i].kid, 32);
			list[nk++].value = st->revocations[i].effective;
		}
	qsort(list, nk, sizeof(*list), compare_keyed);
	fwrite(list, sizeof(*list), nk, f);
	nk = 0;
	for (size_t i = 0; i < st->count; i++) {
		const entry *e = &st->entries[i];

		if (!e->has_id || e->fail_code || !entry_is_trust_type(e->type) || e->time >= cut)
			continue;
		memcpy(list[nk].id, e->id, 32);
		list[nk++].value = e->sig == SIG_OK && !st->invalid[i] && !st->pending[i];
	}
	qsort(list, nk, sizeof(*list), compare_keyed);
	fwrite(list, sizeof(*list), nk, f);
	if (fclose(f) != 0)
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
	else
		ledger_sha256(out, buf, len);
	free(buf);
	free(list);
	return r;
}

/* --- the cut ------------------------------------------------------------------ */

/* One incident or consent: its id, for a consent its provider and purpose, its JSON. */
static void put_item(FILE *f, int *ok, const uint8_t id[32], const lazy_item *cached,
                     const json_t *v, int consent)
{
	char *text = NULL;

	cache_put(f, ok, id, 32);
	if (consent && cached) {
		cache_put_u32(f, ok, cached->provider_len);
		cache_put(f, ok, cached->provider, cached->provider_len);
		cache_put_u32(f, ok, cached->purpose_len);
		cache_put(f, ok, cached->purpose, cached->purpose_len);
	} else if (consent) {
		cache_put_str(f, ok, pj_str(v, "provider"));
		cache_put_str(f, ok, pj_str(v, "purpose"));
	}
	if (cached) {
		cache_put_u32(f, ok, (uint32_t)cached->len);
		cache_put(f, ok, cached->text, cached->len);
		return;
	}
	if (!(text = json_dumps(v, JSON_COMPACT)))
		*ok = 0;
	cache_put_str(f, ok, text);
	free(text);
}

/* The parsed items of obj and those of t still unparsed (they are as the cache had them). */
static void put_table(FILE *f, int *ok, json_t *obj, const lazy_table *t, int consent)
{
	uint32_t count = (uint32_t)json_object_size(obj);
	const char *key;
	json_t *v;

	for (size_t i = 0; i < t->count; i++)
		count += !t->items[i].taken;
	cache_put_u32(f, ok, count);
	json_object_foreach(obj, key, v) {
		uint8_t raw[32];

		if (strlen(key) != LEDGER_HEX_ID_LEN || ledger_unhex(raw, 32, key) < 0)
			*ok = 0;
		put_item(f, ok, raw, NULL, v, consent);
	}
	for (size_t i = 0; i < t->count; i++)
		if (!t->items[i].taken)
			put_item(f, ok, t->items[i].id, &t->items[i], NULL, consent);
}

/* A stream that writes to `out` and hashes what it writes. */
typedef struct {
	FILE *out;
	EVP_MD_CTX *md;
} hashing_sink;

static ssize_t hashing_write(void *cookie, const char *buf, size_t len)
{
	hashing_sink *h = cookie;

	if (EVP_DigestUpdate(h->md, buf, len) != 1 || fwrite(buf, 1, len, h->out) != len)
		return 0;
	return (ssize_t)len;
}

/*
 * The incidents and consents, item by item, after the digest of their
 * bytes: a later run parses only the items its records ask for, so the
 * digest (checked as the cache is read) stands for the parse it skips.
 * They end the file: written through a hashing stream, the digest put in
 * its place afterwards, so that no copy of them is held in memory.
 */
static void put_tables(FILE *out, int *ok, const ledger_policy *pol)
{
	static const uint8_t placeholder[32];
	cookie_io_functions_t io = { .write = hashing_write };
	hashing_sink sink = { out, EVP_MD_CTX_new() };
	uint8_t digest[32];
	unsigned int dlen = 0;
	long at = ftell(out);
	FILE *f = NULL;

	cache_put(out, ok, placeholder, 32);
	if (!*ok || at < 0 || !sink.md || EVP_DigestInit_ex(sink.md, EVP_sha256(), NULL) != 1 ||
	    !(f = fopencookie(&sink, "w", io))) {
		*ok = 0;
		goto done;
	}
	put_table(f, ok, pol->incidents, &pol->lazy_incidents, 0);
	put_table(f, ok, pol->consents, &pol->lazy_consents, 1);
	if (fclose(f) != 0 || EVP_DigestFinal_ex(sink.md, digest, &dlen) != 1 || dlen != 32 ||
	    fflush(out) != 0 || pwrite(fileno(out), digest, 32, (off_t)at) != 32)
		*ok = 0;
	f = NULL;
done:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(sink.md);
}

/* The index of string s in the table (a new one at the end when it is not there yet). */
static uint32_t string_index(json_t *index, json_t *list, const char *s)
{
	json_t *v = json_object_get(index, s ? s : "");

	if (v)
		return (uint32_t)json_integer_value(v);
	json_object_set_new(index, s ? s : "", json_integer((json_int_t)json_array_size(list)));
	json_array_append_new(list, json_string(s ? s : ""));
	return (uint32_t)(json_array_size(list) - 1);
}

static void put_ids(FILE *f, int *ok, const named *n, size_t count)
{
	cache_put_u32(f, ok, (uint32_t)count);
	for (size_t k = 0; k < count; k++)
		cache_put(f, ok, n[k].id, 32);
}

/* The prefix records (order[0..cut_pos)) and the ids of the records after it. */
static int put_records(FILE *f, int *ok, const ledger_policy *pol)
{
	json_t *index = json_object(), *strings = json_array(), *v;
	uint32_t (*refs)[4] = calloc(pol->cut_pos + 1, sizeof(*refs));
	uint32_t ntail = 0;
	size_t i;

	if (!index || !strings || !refs) {
		json_decref(index);
		json_decref(strings);
		free(refs);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	for (size_t k = 0; k < pol->cut_pos; k++) {
		const precord *c = &pol->recs[pol->order[k]];

		refs[k][0] = string_index(index, strings, c->type);
		refs[k][1] = string_index(index, strings, c->author);
		refs[k][2] = string_index(index, strings, c->agency);
		refs[k][3] = string_index(index, strings, c->class_);
	}
	cache_put_u32(f, ok, (uint32_t)json_array_size(strings));
	json_array_foreach(strings, i, v)
		cache_put_str(f, ok, json_string_value(v));
	cache_put_u32(f, ok, (uint32_t)pol->cut_pos);
	for (size_t k = 0; k < pol->cut_pos; k++) {
		const precord *c = &pol->recs[pol->order[k]];
		uint8_t raw[32], flags = (uint8_t)((c->read ? PF_READ : 0) |
		                                   (c->incident ? PF_INCIDENT : 0));

		ledger_unhex(raw, 32, c->id);
		cache_put(f, ok, raw, 32);
		cache_put(f, ok, &c->time, 8);
		cache_put(f, ok, &c->verdict, 1);
		cache_put(f, ok, &flags, 1);
		cache_put(f, ok, refs[k], sizeof(refs[k]));
		if (c->incident) {
			ledger_unhex(raw, 32, c->incident);
			cache_put(f, ok, raw, 32);
		}
		if (c->verdict != PV_PENDING)
			continue;
		/* What it misses and what it waits for: a later run sees when they arrive. */
		put_ids(f, ok, c->missing, c->nmissing);
		cache_put_u32(f, ok, (uint32_t)c->ndeps);
		for (size_t d = 0; d < c->ndeps; d++) {
			ledger_unhex(raw, 32, pol->recs[c->deps[d]].id);
			cache_put(f, ok, raw, 32);
		}
	}
	for (size_t k = 0; k < pol->first_candidate; k++)
		ntail += !pol->recs[k].cut;
	cache_put_u32(f, ok, ntail);
	for (size_t k = 0; k < pol->first_candidate; k++) {
		uint8_t raw[32];

		if (pol->recs[k].cut)
			continue;
		ledger_unhex(raw, 32, pol->recs[k].id);
		cache_put(f, ok, raw, 32);
	}
	json_decref(index);
	json_decref(strings);
	free(refs);
	return 0;
}

/* The prefix's findings: so far, those of its judgement and those about what every record names. */
static void put_findings(FILE *f, int *ok, const ledger_policy *pol)
{
	uint32_t count = 0;

	for (size_t i = 0; i < pol->report->count; i++) {
		const precord *c = policy_record(pol, pol->report->items[i].id);

		count += c && c->cut;
	}
	cache_put_u32(f, ok, count);
	for (size_t i = 0; i < pol->report->count; i++) {
		const ledger_finding *fi = &pol->report->items[i];
		const precord *c = policy_record(pol, fi->id);

		if (!c || !c->cut)
			continue;
		cache_put_finding(f, ok, fi, 0);
	}
}

/* The whole cache of the cut into f. */
static int put_cut(FILE *f, const ledger_policy *pol)
{
	const ledger_state *st = pol->state;
	uint8_t rules_fp[32], trust_fp[32];
	json_t *state = NULL;
	char *text = NULL;
	int ok = 1, r;

	if ((r = rules_fingerprint(rules_fp, pol)) < 0 ||
	    (r = trust_fingerprint(trust_fp, st, pol->cut_time)) < 0)
		return r;
	cache_put(f, &ok, PCACHE_MAGIC, 8);
	cache_put(f, &ok, st->tip, LEDGER_OID_HEX_LEN);
	cache_put(f, &ok, st->root_id, LEDGER_HEX_ID_LEN);
	cache_put(f, &ok, rules_fp, 32);
	cache_put(f, &ok, trust_fp, 32);
	cache_put(f, &ok, &pol->cut_time, 8);
	if ((r = put_records(f, &ok, pol)) < 0)
		return r;
	put_findings(f, &ok, pol);
	if (!(state = policy_state_object(pol)) || !(text = json_dumps(state, JSON_COMPACT)))
		ok = 0;
	cache_put_str(f, &ok, text);
	free(text);
	json_decref(state);
	put_tables(f, &ok, pol);
	return ok ? 0 : ledger_error_set(LEDGER_EIO, "cannot write the policy cache");
}

/*
 * The cache is written as the cut is taken, into a temporary file that
 * policy_cache_save renames into place once the run is done: the derived
 * state as it is then is most of it, and a copy in memory until the end of
 * the run would be held at its peak.  A cache that cannot be written costs
 * the next run a full pass, nothing more: no error here.
 */
void policy_cache_cut(ledger_policy *pol, ledger_repo *repo, size_t pos)
{
	int fd = -1;

	pol->cut_taken = 1;
	pol->cut_pos = pos;
	for (size_t k = 0; k < pos; k++)
		pol->recs[pol->order[k]].cut = 1;
	/* A run that may not save (resolve_names) writes nothing. */
	if (pol->cache_unsafe)
		return;
	/* A name of its own: the file stays until the run ends, and runs may overlap in a process. */
	if (cache_path(&pol->cut_path, repo) < 0 ||
	    asprintf(&pol->cut_tmp, "%s.tmp.XXXXXX", pol->cut_path) < 0) {
		pol->cut_tmp = NULL;
		goto fail;
	}
	if ((fd = mkostemp(pol->cut_tmp, O_CLOEXEC)) < 0) {
		free(pol->cut_tmp);
		pol->cut_tmp = NULL; /* nothing to remove */
		goto fail;
	}
	if (!(pol->cut_file = fdopen(fd, "wb")))
		goto fail;
	fd = -1;
	if (put_cut(pol->cut_file, pol) == 0)
		return;
fail:
	if (fd >= 0)
		close(fd);
	policy_cache_discard(pol);
	ledger_error_clear();
}

void policy_cache_discard(ledger_policy *pol)
{
	if (pol->cut_file)
		fclose(pol->cut_file);
	if (pol->cut_tmp)
		unlink(pol->cut_tmp);
	free(pol->cut_tmp);
	free(pol->cut_path);
	pol->cut_file = NULL;
	pol->cut_tmp = NULL;
	pol->cut_path = NULL;
}

/* --- saving ------------------------------------------------------------------- */

int policy_cache_save(ledger_policy *pol)
{
	FILE *f = pol->cut_file;
	int r = 0;

	if (!f)
		return ledger_error_set(LEDGER_EIO, "no policy cache was written");
	pol->cut_file = NULL;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", pol->cut_tmp,
		                     strerror(errno));
	if (fclose(f) != 0 && r == 0)
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", pol->cut_tmp,
		                     strerror(errno));
	if (r == 0 && rename(pol->cut_tmp, pol->cut_path) != 0)
		r = ledger_error_set(LEDGER_EIO, "cannot rename \"%s\": %s", pol->cut_tmp,
		                     strerror(errno));
	if (r == 0) {
		free(pol->cut_tmp);
		pol->cut_tmp = NULL; /* in place: nothing to remove */
	}
	policy_cache_discard(pol);
	return r;
}

/* --- loading ------------------------------------------------------------------ */

/*
 * A prefix record: where the file's bytes hold it, and what cache_check
 * finds.  Small, as there is one per record of the history: its fields
 * are read from the bytes (rec_*) when needed, as policy_cache_save wrote
 * them: id, time, verdict, flags, the 4 string indexes, the incident when
 * PF_INCIDENT, and for a pending record what it misses and waits for.
 */
typedef struct {
	const uint8_t *rec;
	uint32_t entry; /* the state entry, once seen */
	uint8_t seen, moved;
} cached;

enum { REC_TIME = 32, REC_VERDICT = 40, REC_FLAGS = 41, REC_STRS = 42, REC_FIXED = 58 };

static int64_t rec_time(const cached *c)
{
	int64_t t;

	memcpy(&t, c->rec + REC_TIME, sizeof(t));
	return t;
}

static uint32_t rec_str(const cached *c, int k)
{
	uint32_t v;

	memcpy(&v, c->rec + REC_STRS + 4 * k, sizeof(v));
	return v;
}

static const uint8_t *rec_incident(const cached *c)
{
	return (c->rec[REC_FLAGS] & PF_INCIDENT) ? c->rec + REC_FIXED : NULL;
}

/* What a pending record misses and what it waits for (none for another); bounds checked as read. */
static void rec_waits(const cached *c, const uint8_t **missing, uint32_t *nmissing,
                      const uint8_t **deps, uint32_t *ndeps)
{
	const uint8_t *p = c->rec + REC_FIXED + (rec_incident(c) ? 32 : 0);

	*nmissing = *ndeps = 0;
	*missing = *deps = NULL;
	if (c->rec[REC_VERDICT] != PV_PENDING)
		return;
	memcpy(nmissing, p, 4);
	*missing = p + 4;
	p += 4 + (size_t)*nmissing * 32;
	memcpy(ndeps, p, 4);
	*deps = p + 4;
}

typedef struct {
	const uint8_t *map;
	size_t size;
	char tip[LEDGER_OID_HEX_LEN + 1]; /* the commit it was judged at */
	int64_t cut_time;
	char **strings;
	uint32_t nstrings, nprefix, ntail;
	cached *recs;
	const uint8_t *tail;  /* ntail ids */
	size_t *at;           /* state entry -> 1 + index into recs, or 1 + nprefix + index into tail */
	const uint8_t *rest;  /* findings and state */
	size_t rest_len;
} cache_file;

static void cache_file_release(cache_file *cf)
{
	for (uint32_t i = 0; cf->strings && i < cf->nstrings; i++)
		free(cf->strings[i]);
	free(cf->strings);
	free(cf->recs);
	free(cf->at);
	free((void *)cf->map);
}

static int read_ids(cache_reader *rd, const uint8_t **out, uint32_t *count)
{
	*count = cache_get_u32(rd);
	if (*count > (size_t)(rd->end - rd->p) / 32)
		rd->ok = 0;
	*out = cache_take(rd, (size_t)*count * 32);
	return rd->ok;
}

/* Read and parse the file; 0 when it is one for this ledger, its rules and its trust. */
static int cache_read(cache_file *cf, ledger_policy *pol, ledger_repo *repo)
{
	const ledger_state *st = pol->state;
	char *path = NULL, tip[LEDGER_OID_HEX_LEN + 1];
	uint8_t rules_fp[32], trust_fp[32], *buf = NULL;
	const uint8_t *p;
	struct stat sb;
	cache_reader rd;
	size_t at;
	int fd = -1, r = -1;

	if (cache_path(&path, repo) < 0)
		goto done;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size < 8 || (uint64_t)sb.st_size >= SIZE_MAX)
		goto done;
	/* Read, not mapped (cache_read_all says why): a file cut short only fails the reader. */
	if (!(buf = malloc((size_t)sb.st_size)) ||
	    (cf->size = cache_read_all(fd, buf, (size_t)sb.st_size)) < 8)
		goto done;
	cf->map = buf;
	buf = NULL; /* cf owns it */
	rd = (cache_reader){ cf->map, cf->map + cf->size, 1 };
	if (!(p = cache_take(&rd, 8)) || memcmp(p, PCACHE_MAGIC, 8) != 0 ||
	    !(p = cache_take(&rd, LEDGER_OID_HEX_LEN)))
		goto done;
	memcpy(tip, p, LEDGER_OID_HEX_LEN);
	tip[LEDGER_OID_HEX_LEN] = '\0';
	memcpy(cf->tip, tip, sizeof(cf->tip));
	if (!(p = cache_take(&rd, LEDGER_HEX_ID_LEN)) || memcmp(p, st->root_id, LEDGER_HEX_ID_LEN) != 0 ||
	    rules_fingerprint(rules_fp, pol) < 0 || !(p = cache_take(&rd, 32)) ||
	    memcmp(p, rules_fp, 32) != 0 || !(p = cache_take(&rd, 32)))
		goto done;
	memcpy(trust_fp, p, 32);
	cf->cut_time = cache_get_i64(&rd);
	/* The ledger's tip must descend from the commit the cache judged. */
	if (!rd.ok || (strcmp(tip, st->tip) != 0 && ledger_repo_is_ancestor(repo, tip, st->tip) != 1))
		goto done;
	if (trust_fingerprint(rules_fp, st, cf->cut_time) < 0 || memcmp(rules_fp, trust_fp, 32) != 0)
		goto done;
	cf->nstrings = cache_get_u32(&rd);
	if (!rd.ok || cf->nstrings > cf->size || !(cf->strings = calloc(cf->nstrings + 1, sizeof(char *))))
		goto done;
	for (uint32_t i = 0; i < cf->nstrings && rd.ok; i++)
		if (!(cf->strings[i] = cache_get_str(&rd)) && !(cf->strings[i] = strdup("")))
			rd.ok = 0;
	cf->nprefix = cache_get_u32(&rd);
	if (!rd.ok || cf->nprefix > cf->size / 50 || st->count >= UINT32_MAX ||
	    !(cf->recs = calloc((size_t)cf->nprefix + 1, sizeof(*cf->recs))) ||
	    !(cf->at = calloc(st->count + 1, sizeof(*cf->at))))
		goto done;
	for (uint32_t i = 0; i < cf->nprefix && rd.ok; i++) {
		cached *c = &cf->recs[i];
		const uint8_t *ids;
		uint32_t n;

		if (!(c->rec = cache_take(&rd, REC_FIXED)))
			break;
		if (c->rec[REC_FLAGS] & PF_INCIDENT)
			cache_take(&rd, 32);
		if (rd.ok && c->rec[REC_VERDICT] == PV_PENDING &&
		    (!read_ids(&rd, &ids, &n) || !read_ids(&rd, &ids, &n)))
			break;
		for (int k = 0; k < 4; k++)
			if (rec_str(c, k) >= cf->nstrings)
				rd.ok = 0;
		if (c->rec[REC_VERDICT] > PV_PENDING)
			rd.ok = 0;
	}
	if (!rd.ok || !read_ids(&rd, &cf->tail, &cf->ntail))
		goto done;
	/*
	 * Through the verifier's id index: a record no longer there is not
	 * seen (cache_check).  Each lookup is a miss in a large map: they are
	 * prefetched a few records ahead.
	 */
	for (uint32_t i = 0; i < cf->nprefix; i++) {
		if (i + PREFETCH_AHEAD < cf->nprefix)
			idmap_prefetch(&st->by_id, cf->recs[i + PREFETCH_AHEAD].rec);
		if (idmap_get(&st->by_id, cf->recs[i].rec, &at) && !cf->at[at])
			cf->at[at] = (size_t)i + 1;
	}
	for (uint32_t i = 0; i < cf->ntail; i++)
		if (idmap_get(&st->by_id, cf->tail + (size_t)i * 32, &at) && !cf->at[at])
			cf->at[at] = (size_t)cf->nprefix + i + 1;
	cf->rest = rd.p;
	cf->rest_len = (size_t)(rd.end - rd.p);
	r = 0;
done:
	free(buf);
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

/* 1 when the state entry with this id is a record the engine takes; its index into *at. */
static int taken(const ledger_state *st, const uint8_t id[32], size_t *at)
{
	return idmap_get(&st->by_id, id, at) && policy_takes_entry(st, *at);
}

/* The entry with this id took part in verification as a valid record. */
static int entry_valid_now(const ledger_state *st, const uint8_t id[32])
{
	size_t i;

	return idmap_get(&st->by_id, id, &i) && !st->entries[i].fail_code &&
	       st->entries[i].sig == SIG_OK && !st->invalid[i] && !st->pending[i];
}

/* The place of the record with this id in the cache (prefix, then tail): 1 and *c, or 0. */
static int cache_index(const cache_file *cf, const ledger_state *st, const uint8_t id[32],
                       size_t *c)
{
	size_t at;

	if (!idmap_get(&st->by_id, id, &at) || !cf->at[at])
		return 0;
	*c = cf->at[at] - 1;
	return 1;
}

/* Is id, named by a prefix record, now a record after the prefix (new, later, or moved)? */
static int names_later(const cache_file *cf, const ledger_state *st, const uint8_t id[32])
{
	size_t c, at;

	if (cache_index(cf, st, id, &c) && c < cf->nprefix)
		return cf->recs[c].moved;
	return taken(st, id, &at);
}

/*
 * A prefix record the verifier left pending and now takes: it moves after
 * the prefix when it names a record there; 0 when it would be judged
 * inside the prefix (the cache cannot be used), <0 on error.
 */
static int woken_moves(const cache_file *cf, ledger_policy *pol, ledger_repo *repo, size_t at)
{
	const entry *e = &pol->state->entries[at];
	precord probe;
	char *data = NULL;
	size_t len = 0;
	int r;

	memset(&probe, 0, sizeof(probe));
	probe.type = e->type;
	if ((r = ledger_repo_read(&data, &len, repo, pol->state->tip, e->path)) < 0 ||
	    (r = policy_note_names(&probe, NULL, data, len)) < 0)
		goto done;
	r = 0;
	for (size_t k = 0; k < probe.nnamed && !r; k++)
		r = names_later(cf, pol->state, probe.named[k].id);
done:
	free(probe.named);
	free(data);
	return r;
}

/*
 * Which prefix records are still what the cache says and which move after
 * it; the entries to read into *fresh.  1 when the cache can be used.
 */
static int cache_check(cache_file *cf, ledger_policy *pol, ledger_repo *repo, size_t **fresh,
                       size_t *nfresh)
{
	const ledger_state *st = pol->state;
	size_t seen = 0, at, c;
	int r;

	if (!(*fresh = malloc((st->count + 1) * sizeof(**fresh))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	*nfresh = 0;
	for (size_t i = 0; i < st->count; i++) {
		const entry *e = &st->entries[i];

		/* Found by its id as the cache was read: the id index leads to it. */
		if (cf->at[i] ? !policy_takes_indexed(st, i) : !policy_takes_entry(st, i))
			continue;
		if (!cf->at[i]) {
			/* New: it must sort after every record of the prefix. */
			if (e->time < cf->cut_time)
				return 0;
			(*fresh)[(*nfresh)++] = i;
			continue;
		}
		if ((c = cf->at[i] - 1) >= cf->nprefix) {
			(*fresh)[(*nfresh)++] = i;
			continue;
		}
		cf->recs[c].seen = 1;
		cf->recs[c].entry = (uint32_t)i;
		seen++;
		/* A record the verifier now leaves pending changes the prefix. */
		if (st->pending[i] && (cf->recs[c].rec[REC_FLAGS] & PF_READ))
			return 0;
	}
	if (seen != cf->nprefix)
		return 0; /* a record of the prefix is gone or no longer valid */
	for (c = 0; c < cf->nprefix; c++) {
		cached *p = &cf->recs[c];
		const uint8_t *missing, *deps;
		uint32_t nmissing, ndeps;

		if (!(p->rec[REC_FLAGS] & PF_READ) && !st->pending[p->entry]) {
			/* The verifier no longer waits: judged again after the prefix, or no cache. */
			if ((r = woken_moves(cf, pol, repo, p->entry)) <= 0)
				return r;
			p->moved = 1;
		}
		if (p->rec[REC_VERDICT] != PV_PENDING || p->moved)
			continue;
		rec_waits(p, &missing, &nmissing, &deps, &ndeps);
		for (uint32_t k = 0; k < nmissing; k++) {
			const uint8_t *id = missing + (size_t)k * 32;

			if (taken(st, id, &at))
				p->moved = 1; /* what it missed arrived, after the prefix */
			else if (entry_valid_now(st, id))
				return 0; /* a trust record it names became valid: judged in place */
		}
		for (uint32_t k = 0; k < ndeps && !p->moved; k++)
			p->moved = names_later(cf, st, deps + (size_t)k * 32);
	}
	for (c = 0; c < cf->nprefix; c++)
		if (cf->recs[c].moved)
			(*fresh)[(*nfresh)++] = cf->recs[c].entry;
	return 1;
}

/* A finding code or rule read back: the rule table's string, or one the policy keeps. */
static const char *intern(ledger_policy *pol, char *s)
{
	const ledger_policy_rule *rules;
	size_t n;
	char **more;

	if (!s)
		return NULL;
	rules = ledger_policy_rules(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(rules[i].id, s) == 0) {
			free(s);
			return rules[i].id;
		}
	for (size_t i = 0; i < pol->npool; i++)
		if (strcmp(pol->pool[i], s) == 0) {
			free(s);
			return pol->pool[i];
		}
	if (!(more = realloc(pol->pool, (pol->npool + 1) * sizeof(*more)))) {
		free(s);
		return NULL;
	}
	pol->pool = more;
	return pol->pool[pol->npool++] = s;
}

/* Step over the findings; 1 when they are all there. */
static int skip_findings(cache_reader *rd)
{
	uint32_t n = cache_get_u32(rd);

	for (uint32_t i = 0; i < n && rd->ok; i++) {
		cache_get_u32(rd);
		for (int k = 0; k < 5 && rd->ok; k++)
			cache_take(rd, cache_get_u32(rd));
	}
	return rd->ok;
}

static int take_findings(ledger_policy *pol, const cache_file *cf, cache_reader *rd)
{
	uint32_t n = cache_get_u32(rd);
	int r = 0;

	for (uint32_t i = 0; i < n && rd->ok && r == 0; i++) {
		uint32_t severity = cache_get_u32(rd);
		const char *code = intern(pol, cache_get_str(rd)), *rule = intern(pol, cache_get_str(rd));
		char *id = cache_get_str(rd), *path = cache_get_str(rd), *message = cache_get_str(rd);
		uint8_t raw[32];
		size_t c;

		if (!rd->ok || !code || !rule || !id || severity > LEDGER_SEVERITY_PENDING ||
		    ledger_unhex(raw, 32, id) < 0 || !cache_index(cf, pol->state, raw, &c))
			r = ledger_error_set(LEDGER_EINVALID, "policy cache: bad finding");
		else if (c >= cf->nprefix || !cf->recs[c].moved)
			r = report_add(pol->report, (ledger_severity)severity, code, rule, id, path, NULL,
			               "%s", message ? message : "");
		free(id);
		free(path);
		free(message);
	}
	return rd->ok ? r : ledger_error_set(LEDGER_EINVALID, "policy cache: truncated");
}

/*
 * The incidents the prefix records name, each interned once and found
 * again by its raw id: most records name one, and most of those an
 * incident named before (hex and the policy's string set cost more).
 */
typedef struct {
	idmap ids; /* raw id -> index into names */
	const char **names;
	size_t count, capacity;
} incident_names;

static const char *incident_name(ledger_policy *pol, incident_names *in, const uint8_t id[32])
{
	char hex[LEDGER_HEX_ID_LEN + 1];
	const char *name;
	size_t k;

	if (idmap_get(&in->ids, id, &k))
		return in->names[k];
	if (in->count == in->capacity) {
		size_t capacity = in->capacity ? in->capacity * 2 : 256;
		const char **more = realloc(in->names, capacity * sizeof(*more));

		if (!more)
			return NULL;
		in->names = more;
		in->capacity = capacity;
	}
	ledger_hex(hex, id, 32);
	if (!(name = policy_intern(pol, hex, LEDGER_HEX_ID_LEN)) || idmap_put(&in->ids, id, in->count) < 0)
		return NULL;
	return in->names[in->count++] = name;
}

/* The prefix records (but those that move) into pol, in their order; strs: the string table, interned. */
static int take_records(ledger_policy *pol, const cache_file *cf, const char **strs,
                        incident_names *incidents)
{
	if (!(pol->order = malloc(((size_t)cf->nprefix + 1) * sizeof(*pol->order))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	for (uint32_t c = 0; c < cf->nprefix; c++) {
		const cached *p = &cf->recs[c];
		const uint8_t *incident = rec_incident(p), *missing, *deps;
		uint32_t nmissing, ndeps;
		precord *r;

		if (p->moved)
			continue;
		if (!(r = policy_add_record(pol)))
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		ledger_hex(r->id, p->rec, 32);
		r->type = strs[rec_str(p, 0)];
		r->author = strs[rec_str(p, 1)];
		r->agency = strs[rec_str(p, 2)];
		r->class_ = strs[rec_str(p, 3)];
		if (incident && !(r->incident = incident_name(pol, incidents, incident)))
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		r->time = rec_time(p);
		r->verdict = p->rec[REC_VERDICT];
		r->read = (p->rec[REC_FLAGS] & PF_READ) != 0;
		r->prefix = 1;
		if (r->time > pol->latest)
			pol->latest = r->time;
		rec_waits(p, &missing, &nmissing, &deps, &ndeps);
		if (r->verdict == PV_PENDING) {
			/* Kept for the next save: what it misses and what it waits for. */
			if (nmissing && !(r->missing = malloc(nmissing * sizeof(*r->missing))))
				return ledger_error_set(LEDGER_ENOMEM, "out of memory");
			for (uint32_t k = 0; k < nmissing; k++) {
				memcpy(r->missing[k].id, missing + (size_t)k * 32, 32);
				r->missing[k].what = "refs";
			}
			r->nmissing = nmissing;
			if (ndeps && !(r->deps = malloc(ndeps * sizeof(*r->deps))))
				return ledger_error_set(LEDGER_ENOMEM, "out of memory");
			for (uint32_t k = 0; k < ndeps; k++)
				if (policy_index_get(pol, deps + (size_t)k * 32, &r->deps[r->ndeps]))
					r->ndeps++;
		}
		/* policy_index_put, with the entry cache_check found by the same id. */
		pol->rec_of[p->entry] = pol->nrecs;
		pol->order[pol->nprefix++] = pol->nrecs - 1;
	}
	return 0;
}

/* The prefix records (but those that move) into pol, in their order. */
static int take_prefix(ledger_policy *pol, const cache_file *cf)
{
	const char **strs = calloc((size_t)cf->nstrings + 1, sizeof(*strs));
	incident_names incidents;
	int r = 0;

	if (!strs)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	memset(&incidents, 0, sizeof(incidents));
	idmap_init(&incidents.ids);
	for (uint32_t i = 0; i < cf->nstrings; i++)
		if (!(strs[i] = policy_intern(pol, cf->strings[i], strlen(cf->strings[i])))) {
			free(strs);
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		}
	r = take_records(pol, cf, strs, &incidents);
	idmap_release(&incidents.ids);
	free(incidents.names);
	free(strs);
	return r;
}

typedef struct {
	ledger_policy *pol;
	uint8_t *want; /* per state entry: to be gathered, not yet seen */
} fresh_gather;

/* A file added since the cached tip: gathered when it is one of those wanted. */
static int gather_added(const char *path, const char *data, size_t len, void *payload)
{
	fresh_gather *g = payload;
	const ledger_state *st = g->pol->state;
	char id[LEDGER_HEX_ID_LEN + 1];
	uint8_t raw[32];
	size_t i;

	if (ledger_record_path_id(id, path) < 0 || ledger_unhex(raw, 32, id) < 0 ||
	    !idmap_get(&st->by_id, raw, &i) || !g->want[i] || strcmp(st->entries[i].path, path) != 0)
		return 0;
	g->want[i] = 0;
	return policy_collect_file(path, data, len, g->pol);
}

/* One table of put_table's; 1 when it is whole, 0 when not, <0 on error. */
static int read_table(cache_reader *rd, lazy_table *t, int consent)
{
	uint32_t count = cache_get_u32(rd);

	if (!rd->ok || count > (size_t)(rd->end - rd->p) / 36)
		return 0;
	if (!(t->items = calloc((size_t)count + 1, sizeof(*t->items))) ||
	    idmap_reserve(&t->ids, (size_t)count + 1) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < count && rd->ok; i++) {
		lazy_item *it = &t->items[i];

		it->id = cache_take(rd, 32);
		if (consent) {
			it->provider_len = cache_get_u32(rd);
			it->provider = (const char *)cache_take(rd, it->provider_len);
			it->purpose_len = cache_get_u32(rd);
			it->purpose = (const char *)cache_take(rd, it->purpose_len);
		}
		it->len = cache_get_u32(rd);
		it->text = (const char *)cache_take(rd, it->len);
		if (rd->ok && idmap_put(&t->ids, it->id, i) < 0)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		t->count++;
	}
	return rd->ok;
}

/* The tables after the digest that must be theirs; 1 when whole, 0 when not, <0 on error. */
static int read_tables(cache_reader *rd, lazy_table *incidents, lazy_table *consents)
{
	const uint8_t *digest = cache_take(rd, 32);
	uint8_t mine[32];
	int r;

	if (!digest)
		return 0;
	ledger_sha256(mine, rd->p, (size_t)(rd->end - rd->p));
	if (memcmp(mine, digest, 32) != 0)
		return 0;
	if ((r = read_table(rd, incidents, 0)) <= 0 || (r = read_table(rd, consents, 1)) <= 0)
		return r;
	return rd->p == rd->end;
}

int policy_cache_load(ledger_policy *pol, ledger_repo *repo)
{
	cache_file cf;
	size_t *fresh = NULL, nfresh = 0, added_wanted = 0;
	lazy_table incidents, consents;
	fresh_gather gather = { NULL, NULL };
	json_t *state = NULL;
	json_error_t err;
	cache_reader rd;
	char *text = NULL;
	int r = 0;

	memset(&cf, 0, sizeof(cf));
	memset(&incidents, 0, sizeof(incidents));
	memset(&consents, 0, sizeof(consents));
	idmap_init(&incidents.ids);
	idmap_init(&consents.ids);
	if (cache_read(&cf, pol, repo) == 0 && (r = cache_check(&cf, pol, repo, &fresh, &nfresh)) > 0) {
		/* Everything is read and checked before pol changes. */
		rd = (cache_reader){ cf.rest, cf.rest + cf.rest_len, 1 };
		if (!skip_findings(&rd) || !(text = cache_get_str(&rd)) ||
		    !(state = json_loads(text, 0, &err)))
			r = 0;
		else
			r = read_tables(&rd, &incidents, &consents);
	}
	if (r <= 0) {
		/* No usable cache: a full pass. */
		if (r == 0)
			ledger_error_clear();
		goto done;
	}
	rd = (cache_reader){ cf.rest, cf.rest + cf.rest_len, 1 };
	if ((r = take_prefix(pol, &cf)) < 0 || (r = take_findings(pol, &cf, &rd)) < 0 ||
	    (r = policy_state_take(pol, state)) < 0)
		goto done;
	/* The items stay in the file's bytes until a rule asks for them: pol keeps them. */
	pol->lazy_incidents = incidents;
	pol->lazy_consents = consents;
	memset(&incidents, 0, sizeof(incidents));
	memset(&consents, 0, sizeof(consents));
	pol->cache_map = cf.map;
	cf.map = NULL;
	/*
	 * What comes after the prefix is gathered as a full pass gathers
	 * everything: from the summaries the verifier kept of the records it
	 * checked (those new since its cache), then the files added since the
	 * cached tip in one walk of the trees that changed (reading each by its
	 * path reads the large upper trees again, which libgit2 does not keep),
	 * the others by path.
	 */
	if (!(gather.want = calloc(pol->state->count + 1, 1))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	gather.pol = pol;
	for (size_t i = 0; i < nfresh; i++) {
		if (!pol->state->entries[fresh[i]].feed) {
			gather.want[fresh[i]] = 1;
			/* The walk finds only what the cache does not know: the others are older. */
			added_wanted += !cf.at[fresh[i]];
		} else if ((r = policy_collect_fed(pol, fresh[i])) < 0) {
			goto done;
		}
	}
	if (added_wanted && strcmp(cf.tip, pol->state->tip) != 0 &&
	    (r = ledger_repo_foreach_added(repo, cf.tip, pol->state->tip, gather_added, &gather)) < 0)
		goto done;
	for (size_t i = 0; i < nfresh; i++) {
		const entry *e = &pol->state->entries[fresh[i]];
		char *data = NULL;
		size_t len = 0;

		if (!gather.want[fresh[i]])
			continue;
		if ((r = ledger_repo_read(&data, &len, repo, pol->state->tip, e->path)) < 0)
			goto done;
		r = policy_collect_file(e->path, data, len, pol);
		free(data);
		if (r < 0)
			goto done;
	}
	r = 1;
done:
	json_decref(state);
	free(text);
	free(fresh);
	lazy_table_release(&incidents);
	lazy_table_release(&consents);
	cache_file_release(&cf);
	free(gather.want);
	return r;
}
