/*
 * Verifying a ledger: gather the record files that are new since what the
 * cache vouches for, check their content and signatures on every core,
 * check the history, then judge trust over the whole record set.
 */
#include "config.h"

#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "ledger/json.h"
#include "ledger/sshsig.h"
#include "cache_io.h"
#include "huge_pages.h"
#include "job_pool.h"
#include "slab.h"
#include "state_internal.h"
#include "store_order.h"

/* Files read by a run after which its freed memory is handed back (malloc_trim). */
#define VERIFY_TRIM_AFTER 10000

/* --- content checks (pure functions of a file's bytes) -------------------- */

static void entry_fail(entry *e, const char *code, const char *rule)
{
	const ledger_error *err = ledger_error_last();

	e->fail_code = code;
	e->fail_rule = rule;
	free(e->fail_message);
	e->fail_message = strdup(err && err->message ? err->message : code);
}

/*
 * e->canonical holds the raw file on entry, in the gatherer's slab (not
 * freed here); on return it holds JCS(R) (or nothing).
 */
static int check_content(ledger_state *st, size_t i)
{
	entry *e = &st->entries[i];
	char path_id[LEDGER_HEX_ID_LEN + 1];
	ledger_record *rec = NULL;
	int r;

	r = ledger_record_parse(&rec, e->canonical, e->canonical_len);
	e->canonical = NULL;
	e->canonical_len = 0;
	if (r < 0) {
		entry_fail(e, r == LEDGER_ENONCANONICAL ? "not-canonical" : "malformed", "FORMAT-2");
		return 0;
	}
	if (entry_fill(e, rec) < 0) {
		entry_fail(e, "malformed", "FORMAT-2");
		goto done;
	}
	if (ledger_record_path_id(path_id, e->path) < 0 || strcmp(path_id, rec->id) != 0) {
		ledger_error_set(LEDGER_EINVALID, "the file's content has record id %s, not the "
		                 "one its path names", rec->id);
		/* Findings name the record by the id its path claims, as a reader of the tree sees it. */
		e->has_id = path_id[0] != '\0';
		if (e->has_id)
			ledger_unhex(e->id, 32, path_id);
		entry_fail(e, "wrong-path", "FORMAT-2");
		goto done;
	}
	if (st->schemas && ledger_schemas_has(st->schemas, rec->type) &&
	    ledger_schemas_validate(st->schemas, rec->type, rec->record) < 0) {
		entry_fail(e, "schema-invalid", "FORMAT-2");
		goto done;
	}
	policy_feed_record(st, e, rec);
	/* Keep JCS(R) for the signature check; keep trust records whole. */
	if (entry_is_trust_type(rec->type)) {
		e->canonical = malloc(rec->canonical_len + 1);
		if (!e->canonical) {
			ledger_error_set(LEDGER_ENOMEM, "out of memory");
			entry_fail(e, "malformed", "FORMAT-2");
			goto done;
		}
		memcpy(e->canonical, rec->canonical, rec->canonical_len + 1);
		e->canonical_len = rec->canonical_len;
		e->trust = rec;
		rec = NULL;
	} else {
		e->canonical = rec->canonical;
		e->canonical_len = rec->canonical_len;
		rec->canonical = NULL;
	}
done:
	ledger_record_free(rec);
	return 0;
}

static int check_signature(ledger_state *st, size_t i)
{
	entry *e = &st->entries[i];
	const ledger_pubkey *pk;
	uint8_t pub[32];
	size_t prefix = sizeof(LEDGER_RECORD_SIG_CONTEXT);
	uint8_t *msg;

	if (e->fail_code || e->sig != SIG_UNCHECKED || !e->canonical ||
	    !trust_public_key(st, e->kid, pub))
		return 0;
	if (!(pk = trust_pubkey(st, e->kid))) {
		e->sig = SIG_BAD; /* a malformed or small-order key verifies nothing */
		free(e->canonical);
		e->canonical = NULL;
		return 0;
	}
	msg = malloc(prefix + e->canonical_len);
	if (!msg)
		return 0; /* stays unchecked: reported as a bad signature, never accepted */
	memcpy(msg, LEDGER_RECORD_SIG_CONTEXT, prefix);
	memcpy(msg + prefix, e->canonical, e->canonical_len);
	e->sig = ledger_pubkey_verify(pk, msg, prefix + e->canonical_len, e->sig_bytes,
	                              LEDGER_ED25519_SIG_LEN) == 0
	                 ? SIG_OK
	                 : SIG_BAD;
	free(msg);
	free(e->canonical); /* checked: JCS(R) is not needed any more */
	e->canonical = NULL;
	return 0;
}

/* --- gathering files and history -------------------------------------- */

int state_reserve_entries(ledger_state *st, size_t capacity)
{
	entry *bigger;

	if (capacity <= st->capacity)
		return 0;
	if (!(bigger = realloc(st->entries, capacity * sizeof(*bigger))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	st->entries = bigger;
	st->capacity = capacity;
	/*
	 * 40 MB at 100,000 records, touched once per entry: in huge pages
	 * its page faults no longer weigh on a cached run (0.7 -> 0.4 CPU-s).
	 */
	huge_pages_advise(bigger, capacity * sizeof(*bigger));
	return 0;
}

/*
 * Files are gathered in chunks, each checked on every core as soon as it
 * is full, so that at most two chunks of raw file bytes are held at a time.
 * The checks of a chunk run on a thread of their own while the next chunk
 * is read (reading the blobs is a quarter of the work, and one thread's).
 * New files come in the order the commits added them, after the principal
 * records that bind their keys: each chunk's signatures are checked at once
 * and JCS(R) is kept only for a record whose key is not known yet.
 *
 * Sharing: the reader fills entries [st->count, gathered) while the checker
 * works on entries below st->count, which it alone reads and writes (with
 * the keys, g->checked, g->error and the job).  st->count and the array's
 * size only change while the checker has no chunk (gather_wait waits for
 * it to be done), so each side's writes are seen by the other through
 * g->lock, taken to hand a chunk over, to take it and to say it is
 * checked.  The checker thread lives from the first chunk handed over to
 * gather_end, and takes a chunk handed over as soon as it is done with the
 * one before, which the reader waits for before it reads on into that
 * chunk's slab: the reader, woken later, no longer holds the checker up.
 */
#define GATHER_CHUNK 4096
/*
 * An incremental run reads far fewer files than a chunk: it hands what it
 * gathered to the checker thread as soon as that is idle and this many
 * wait, so that their content and signatures are checked on the other
 * core while it reads the rest.  Few: reading outruns checking (~10 ms
 * against ~80 ms of CPU for 1,000 files), and a first chunk of 256 was
 * still checked on one thread (job_run) well after the reader ended,
 * which then waited with a core idle; after a small first chunk, the
 * checker's next one is all that waits, on every core.
 */
#define GATHER_EARLY 64

typedef struct {
	ledger_state *state;
	job *job;
	job_pool *pool;
	size_t gathered;  /* the reader's count of entries, st->count once published */
	size_t checked;   /* entries [0, checked) have had their content checked */
	size_t sign_from; /* the store's files start here; their signatures are checked per chunk */
	size_t signed_early;
	size_t keys_upto; /* entries [0, keys_upto) have had their keys collected */
	int error;        /* of collecting keys */
	int checked_all;  /* atomic: the checker thread has done every chunk handed over */
	int early;        /* hand chunks of GATHER_EARLY to an idle checker */
	int sized;        /* the store said how many files are to come: the array holds them */
	/* The checker thread and, under lock, what it is told. */
	int checker_started, ready;
	size_t handed; /* entries [0, handed) are handed over: published when taken */
	int pending;   /* a chunk is handed over and not taken yet */
	int chunk;     /* the checker has taken a chunk and not checked it yet */
	int stop;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	pthread_t checker;
	/* The raw bytes of the chunk being checked and of the one being read. */
	slab raw[2];
	int filling; /* raw[filling] takes the files read */
} gatherer;

static void gather_run(gatherer *g, size_t first, int (*work)(ledger_state *, size_t))
{
	job *j = g->job;

	j->next = 0;
	j->completed = 0;
	j->first = first;
	j->count = g->state->count - first;
	j->work = work;
	j->progress_base = first;
	job_run(j, g->pool);
}

/* Check the entries gathered since the last check: content, then the signatures it can. */
static void gather_check(gatherer *g)
{
	ledger_state *st = g->state;
	ledger_progress_cb progress = g->job->progress;
	size_t first = g->checked > g->sign_from ? g->checked : g->sign_from, before = 0;
	int r;

	gather_run(g, g->checked, check_content);
	g->checked = st->count;
	if (first >= st->count || g->error)
		return;
	/* Keys are a function of the trust records' bytes: those seen so far are final. */
	if ((r = trust_collect_keys_from(st, g->keys_upto)) < 0) {
		g->error = r;
		return;
	}
	g->keys_upto = st->count;
	for (size_t i = first; i < st->count; i++)
		before += st->entries[i].sig == SIG_UNCHECKED;
	g->job->progress = NULL; /* the whole signature pass reports later */
	gather_run(g, first, check_signature);
	g->job->progress = progress;
	for (size_t i = first; i < st->count; i++)
		before -= st->entries[i].sig == SIG_UNCHECKED;
	g->signed_early += before;
}

static void *gather_checker(void *arg)
{
	gatherer *g = arg;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		while (!g->pending && !g->stop)
			pthread_cond_wait(&g->changed, &g->lock);
		if (!g->pending)
			break;
		g->state->count = g->handed;
		g->pending = 0;
		g->chunk = 1;
		pthread_cond_broadcast(&g->changed);
		pthread_mutex_unlock(&g->lock);
		gather_check(g);
		pthread_mutex_lock(&g->lock);
		g->chunk = 0;
		if (!g->pending)
			__atomic_store_n(&g->checked_all, 1, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&g->changed);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* The checker thread, once: 0, or -1 when chunks are to be checked on the reader's. */
static int gather_start_checker(gatherer *g)
{
	if (g->checker_started)
		return 0;
	if (!g->ready) {
		if (pthread_mutex_init(&g->lock, NULL) != 0)
			return -1;
		if (pthread_cond_init(&g->changed, NULL) != 0) {
			pthread_mutex_destroy(&g->lock);
			return -1;
		}
		g->ready = 1;
	}
	if (pthread_create(&g->checker, NULL, gather_checker, g) != 0)
		return -1;
	g->checker_started = 1;
	return 0;
}

/* Wait for the checker to be done with every chunk handed over: the array may move. */
static void gather_join(gatherer *g)
{
	if (g->checker_started) {
		pthread_mutex_lock(&g->lock);
		while (g->pending || g->chunk)
			pthread_cond_wait(&g->changed, &g->lock);
		pthread_mutex_unlock(&g->lock);
	}
}

/* Wait for the checker, then publish what the reader gathered; g->error is then current. */
static void gather_wait(gatherer *g)
{
	gather_join(g);
	g->state->count = g->gathered;
}

/*
 * Check what is gathered: on the checker thread while the reader goes on,
 * or here.  0, or the error of a chunk checked before.
 */
static int gather_flush(gatherer *g, int in_background)
{
	int error;

	if (!in_background || gather_start_checker(g) < 0) {
		gather_wait(g);
		g->filling = !g->filling;
		slab_empty(&g->raw[g->filling]);
		gather_check(g);
		return g->error;
	}
	pthread_mutex_lock(&g->lock);
	g->handed = g->gathered;
	g->pending = 1;
	__atomic_store_n(&g->checked_all, 0, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&g->changed);
	while (g->pending)
		pthread_cond_wait(&g->changed, &g->lock);
	error = g->error; /* of the chunks before: the checker has taken this one */
	pthread_mutex_unlock(&g->lock);
	/* The chunk before is checked: its raw bytes are dropped, its slab takes the next. */
	g->filling = !g->filling;
	slab_empty(&g->raw[g->filling]);
	return error;
}

static int gather_ranked(size_t rank, const char *path, const char *data, size_t len,
                         void *payload)
{
	gatherer *g = payload;
	ledger_state *st = g->state;
	ledger_json_limits limits = LEDGER_JSON_LIMITS_INIT;
	/*
	 * A file over the record limit is refused by its size alone: its bytes
	 * are not kept, and canonical_len keeps the true size, which
	 * ledger_json_parse refuses before it reads a byte.
	 */
	size_t keep = len > limits.max_size ? 0 : len, waiting;
	entry *e;
	int r;

	if (g->gathered == st->capacity) {
		/*
		 * The array moves: nobody may be using it.  What is gathered is
		 * not published: that would start the chunk afresh, and sizes
		 * that double from 1024 would put the first chunk's check off
		 * from the 4096th file to the 8192nd.
		 */
		gather_join(g);
		if ((r = state_reserve_entries(st, st->capacity ? st->capacity * 2 : 1024)) < 0)
			return r;
	}
	e = &st->entries[g->gathered];
	memset(e, 0, sizeof(*e));
	e->rank = rank;
	e->path = strdup(path);
	e->canonical = slab_alloc(&g->raw[g->filling], keep + 1);
	if (!e->path || !e->canonical) {
		free(e->path);
		e->path = e->canonical = NULL;
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	memcpy(e->canonical, data, keep);
	e->canonical[keep] = '\0';
	e->canonical_len = len;
	g->gathered++;
	waiting = g->gathered - st->count;
	if (waiting < GATHER_CHUNK &&
	    !(g->early && waiting >= GATHER_EARLY &&
	      (!g->checker_started || __atomic_load_n(&g->checked_all, __ATOMIC_ACQUIRE))))
		return 0;
	/*
	 * Room for the next chunk now, once no checker runs: the array grows
	 * when files come before their count (store_order.h), and growing in
	 * the middle of a chunk waited for the checker there (0.3-0.5 s each
	 * time at 100,000 records), the reader idle.
	 */
	if (!g->sized && st->capacity < g->gathered + GATHER_CHUNK) {
		gather_wait(g);
		if (g->error)
			return g->error;
		if ((r = state_reserve_entries(st, st->capacity * 2 > g->gathered + GATHER_CHUNK ?
		                                   st->capacity * 2 : g->gathered + GATHER_CHUNK)) < 0)
			return r;
	}
	return gather_flush(g, 1);
}

static int gather_file(const char *path, const char *data, size_t len, void *payload)
{
	gatherer *g = payload;

	return gather_ranked(g->gathered, path, data, len, payload);
}

/* The entries not checked yet let go of their raw bytes, which their slab holds. */
static void gather_drop_raw(gatherer *g)
{
	for (size_t i = g->checked; i < g->state->count; i++)
		g->state->entries[i].canonical = NULL;
	slab_empty(&g->raw[0]);
	slab_empty(&g->raw[1]);
}

/* The end of gathering, on every path: no checker runs and no raw bytes stay. */
static void gather_end(gatherer *g)
{
	gather_wait(g);
	if (g->checker_started) {
		pthread_mutex_lock(&g->lock);
		g->stop = 1;
		pthread_cond_broadcast(&g->changed);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->checker, NULL);
		g->checker_started = 0;
	}
	if (g->ready) {
		pthread_cond_destroy(&g->changed);
		pthread_mutex_destroy(&g->lock);
		g->ready = 0;
	}
	gather_drop_raw(g);
	slab_release(&g->raw[0]);
	slab_release(&g->raw[1]);
}

/* Forget the keys collected (trust_collect_keys_from). */
static void keys_release(ledger_state *st)
{
	idmap_release(&st->pubs);
	for (size_t i = 0; i < st->npubs; i++)
		ledger_pubkey_free(st->pub_objects[i]);
	free(st->pub_objects);
	free(st->pub_table);
	st->pub_objects = NULL;
	st->pub_table = NULL;
	st->npubs = 0;
}

/* The store's files in path order at last (store_check_read_cbs.rerank). */
static int gather_rerank(const size_t *ranks, size_t files, void *payload)
{
	gatherer *g = payload;
	ledger_state *st = g->state;

	gather_wait(g);
	for (size_t i = g->sign_from; i < st->count; i++) {
		entry *e = &st->entries[i];

		if (e->rank >= files)
			return ledger_error_set(LEDGER_ERROR, "file \"%s\": no place in path order",
			                        e->path);
		e->rank = ranks[e->rank];
	}
	return 0;
}

/*
 * The store's files are to come again (store_check_read_cbs.reset): forget
 * those given, and every key collected, which the next chunk collects
 * again from the entries kept.
 */
static int gather_reset(void *payload)
{
	gatherer *g = payload;
	ledger_state *st = g->state;

	gather_wait(g);
	gather_drop_raw(g);
	for (size_t i = g->sign_from; i < st->count; i++)
		entry_release(&st->entries[i]);
	st->count = g->gathered = g->checked = g->sign_from;
	g->signed_early = 0;
	g->keys_upto = 0;
	keys_release(st);
	return g->error;
}

static int rank_cmp(const void *a, const void *b)
{
	const entry *x = a, *y = b;

	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* A finding of the history check, which runs on a thread of its own: into its own report. */
static int history_finding(const char *commit, ledger_change_kind kind, const char *path,
                           void *payload)
{
	ledger_report *report = payload;
	char id[LEDGER_HEX_ID_LEN + 1] = "";
	const char *code, *what;

	store_change_describe(kind, &code, &what);
	if (path && ledger_record_path_id(id, path) < 0)
		id[0] = '\0';
	ledger_error_clear();
	return report_add(report, LEDGER_SEVERITY_ERROR, code, "FORMAT-4", id, path, commit, "%s",
	                  what);
}

/* Room for the `files` to come, sized once: doubling held both arrays at the peak (75 MB). */
static int gather_count(size_t files, void *payload)
{
	gatherer *g = payload;

	gather_wait(g);
	g->sized = 1;
	return state_reserve_entries(g->state, g->state->count + files);
}

/* The history check's findings, after the others found before it, as when it ran first. */
static int report_append(ledger_report *to, const ledger_report *from)
{
	int r = 0;

	for (size_t i = 0; i < from->count && r == 0; i++)
		r = report_add_copy(to, &from->items[i], from->items[i].commit);
	return r;
}

/*
 * Commits are signed in git's SSH format by a key the ledger knows (FORMAT.md
 * section 4).  Records carry their own signatures, so an unsigned commit or
 * one signed by a stranger is a warning; a signature that does not verify is
 * an error: the commit was altered.
 *
 * The signatures are checked on a thread of their own while the last files
 * are checked and indexed (reading the commits, whose messages name every
 * record, is most of it); whether the ledger knows a signer is decided once
 * its keys are all known.  The thread alone uses the repository meanwhile.
 */
enum { COMMIT_UNSIGNED, COMMIT_BAD, COMMIT_SIGNED };

typedef struct {
	char commit[LEDGER_OID_HEX_LEN + 1];
	int kind;
	uint8_t kid[32]; /* COMMIT_SIGNED: the signer's key id */
	char *why;       /* COMMIT_BAD: why the signature does not verify */
} commit_signature;

typedef struct {
	ledger_repo *repo;
	const char *from, *to;
	commit_signature *items; /* oldest first */
	size_t count, capacity;
	int error_code; /* and message, of the walk's error, for the caller's thread */
	char error_message[1024];
	pthread_t tid;
	int started;
} commit_check;

static int note_commit_signature(const char *commit, const char *armour, const char *data,
                                 size_t len, void *payload)
{
	commit_check *cc = payload;
	commit_signature *c;
	uint8_t signer[32];

	if (cc->count == cc->capacity) {
		size_t capacity = cc->capacity ? 2 * cc->capacity : 64;
		commit_signature *bigger = realloc(cc->items, capacity * sizeof(*bigger));

		if (!bigger)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		cc->items = bigger;
		cc->capacity = capacity;
	}
	c = &cc->items[cc->count];
	memset(c, 0, sizeof(*c));
	snprintf(c->commit, sizeof(c->commit), "%s", commit);
	if (!armour) {
		c->kind = COMMIT_UNSIGNED;
	} else if (ledger_sshsig_verify(signer, armour, "git", (const uint8_t *)data, len) < 0) {
		c->kind = COMMIT_BAD;
		if (!(c->why = strdup(ledger_error_last()->message)))
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	} else {
		c->kind = COMMIT_SIGNED;
		ledger_sha256(c->kid, signer, sizeof(signer));
	}
	cc->count++;
	return 0;
}

static void *commit_check_thread(void *arg)
{
	commit_check *cc = arg;
	int r = ledger_repo_foreach_commit_signature(cc->repo, cc->from, cc->to,
	                                             note_commit_signature, cc);

	if (r < 0) {
		const ledger_error *err = ledger_error_last();

		cc->error_code = r;
		snprintf(cc->error_message, sizeof(cc->error_message), "%s",
		         err && err->message ? err->message : "cannot check the commit signatures");
	}
	return NULL;
}

static int commit_check_start(commit_check *cc)
{
	int error;

	if ((error = pthread_create(&cc->tid, NULL, commit_check_thread, cc)) != 0)
		return ledger_error_set(LEDGER_ENOMEM, "cannot start a thread: %s", strerror(error));
	cc->started = 1;
	return 0;
}

static void commit_check_join(commit_check *cc)
{
	if (cc->started) {
		pthread_join(cc->tid, NULL);
		cc->started = 0;
	}
}

/* Wait for the check: 0, or its error. */
static int commit_check_wait(commit_check *cc)
{
	commit_check_join(cc);
	return cc->error_code < 0 ? ledger_error_set(cc->error_code, "%s", cc->error_message) : 0;
}

/* Joins a check still running (an error before its end), and keeps the error message. */
static void commit_check_release(commit_check *cc)
{
	commit_check_join(cc);
	for (size_t i = 0; i < cc->count; i++)
		free(cc->items[i].why);
	free(cc->items);
	cc->items = NULL;
	cc->count = cc->capacity = 0;
}

/* The findings of the commits' signatures, once the ledger's keys are known. */
static int report_commit_signatures(ledger_state *st, const commit_check *cc)
{
	uint8_t pub[32];
	int r = 0;

	for (size_t i = 0; i < cc->count && r == 0; i++) {
		const commit_signature *c = &cc->items[i];

		if (c->kind == COMMIT_UNSIGNED)
			r = report_add(st->report, LEDGER_SEVERITY_WARNING, "commit-unsigned",
			               "FORMAT-4", NULL, NULL, c->commit, "%s",
			               "the commit is not signed");
		else if (c->kind == COMMIT_BAD)
			r = report_add(st->report, LEDGER_SEVERITY_ERROR, "commit-bad-signature",
			               "FORMAT-4", NULL, NULL, c->commit, "the commit's signature: %s",
			               c->why);
		else if (!trust_public_key(st, c->kid, pub))
			r = report_add(st->report, LEDGER_SEVERITY_WARNING, "commit-unknown-signer",
			               "FORMAT-4", NULL, NULL, c->commit, "%s",
			               "the commit is signed by a key no root or principal record "
			               "binds");
	}
	return r;
}

/*
 * The commits signed by a key revoked as compromised, once the revocations
 * are judged: warnings of history held, refusals of work coming in
 * (receive.c; docs/FORMAT.md, "Incoming commits").
 */
static int report_compromised_signers(ledger_state *st, const commit_check *cc)
{
	char key[65], revoker[65];
	idmap compromised;
	int r;

	idmap_init(&compromised);
	r = trust_compromised_keys(&compromised, st);
	for (size_t i = 0; i < cc->count && r == 0; i++) {
		const commit_signature *c = &cc->items[i];
		size_t by;

		if (c->kind != COMMIT_SIGNED || !idmap_get(&compromised, c->kid, &by))
			continue;
		ledger_hex(key, c->kid, 32);
		ledger_hex(revoker, st->entries[by].id, 32);
		r = report_add(st->report, LEDGER_SEVERITY_WARNING, "commit-compromised-signer",
		               "FORMAT-4", NULL, NULL, c->commit, "the commit is signed by key %s, "
		               "which record %s revokes as compromised", key, revoker);
	}
	idmap_release(&compromised);
	return r;
}

/* The root to trust: the caller's, else the pinned one, else the LEDGER file's (a warning). */
static int choose_root(ledger_state *st, const ledger_verify_options *opts)
{
	char *pinned = NULL, *ledger_text = NULL;
	json_t *ledger = NULL;
	const char *root;
	size_t len;
	int r;

	if (opts->root) {
		snprintf(st->root_id, sizeof(st->root_id), "%s", opts->root);
		return 0;
	}
	if (ledger_repo_config_get(&pinned, st->repo, "cymat.root") == 0 && pinned) {
		/* A setting of this node, not a finding about the ledger (receive.c agrees). */
		r = strlen(pinned) == LEDGER_HEX_ID_LEN &&
		    strspn(pinned, "0123456789abcdef") == LEDGER_HEX_ID_LEN ? 0 :
		    ledger_error_set(LEDGER_EINVALID, "config \"cymat.root\" is not a record id");
		if (r == 0)
			snprintf(st->root_id, sizeof(st->root_id), "%s", pinned);
		free(pinned);
		return r;
	}
	ledger_error_clear();
	if ((r = ledger_repo_read(&ledger_text, &len, st->repo, st->tip, "LEDGER")) < 0)
		return ledger_error_prefix("no pinned root (git config cymat.root) and no LEDGER file");
	r = ledger_json_parse(&ledger, ledger_text, len, NULL);
	free(ledger_text);
	root = json_string_value(json_object_get(ledger, "root"));
	if (r < 0 || !root || strlen(root) != LEDGER_HEX_ID_LEN) {
		json_decref(ledger);
		return ledger_error_set(LEDGER_EINVALID, "file \"LEDGER\" does not name a root record");
	}
	snprintf(st->root_id, sizeof(st->root_id), "%s", root);
	json_decref(ledger);
	return report_add(st->report, LEDGER_SEVERITY_WARNING, "root-not-pinned", "FORMAT-3",
	                  st->root_id, "LEDGER", NULL, "%s",
	                  "trusting the root named by the LEDGER file: pin it with "
	                  "`git config cymat.root <id>` or `cymat verify --root <id>`");
}

/* The record schemas, loaded on a thread of their own while the cache is read. */
typedef struct {
	ledger_schemas *schemas;
	int r;
	char message[256]; /* why they are unavailable */
	int started;
	pthread_t tid;
} schema_loader;

static void *schemas_run(void *arg)
{
	schema_loader *sl = arg;

	if ((sl->r = ledger_schemas_load(&sl->schemas, NULL)) < 0) {
		sl->schemas = NULL;
		snprintf(sl->message, sizeof(sl->message), "%s",
		         ledger_error_last() ? ledger_error_last()->message : "not found");
	}
	return NULL;
}

static void schemas_start(schema_loader *sl)
{
	memset(sl, 0, sizeof(*sl));
	sl->started = pthread_create(&sl->tid, NULL, schemas_run, sl) == 0;
}

/* The schemas, or NULL and the reason in sl->message. */
static ledger_schemas *schemas_wait(schema_loader *sl)
{
	ledger_schemas *schemas;

	if (sl->started)
		pthread_join(sl->tid, NULL);
	else
		schemas_run(sl);
	sl->started = 0;
	schemas = sl->schemas;
	sl->schemas = NULL;
	return schemas;
}

/* Entries loaded from the cache whose key was unknown then are re-read when it is known now. */
static int reread_unchecked(ledger_state *st, size_t upto)
{
	uint8_t pub[32];
	ledger_record *rec = NULL;
	char *data = NULL;
	size_t len;
	int r;

	for (size_t i = 0; i < upto; i++) {
		entry *e = &st->entries[i];

		if (e->fail_code || e->sig != SIG_UNCHECKED || e->canonical ||
		    !trust_public_key(st, e->kid, pub))
			continue;
		if ((r = ledger_repo_read(&data, &len, st->repo, st->tip, e->path)) < 0)
			return r;
		r = ledger_record_parse(&rec, data, len);
		free(data);
		if (r < 0)
			return r;
		e->canonical = rec->canonical;
		e->canonical_len = rec->canonical_len;
		rec->canonical = NULL;
		ledger_record_free(rec);
	}
	return 0;
}

/* How many entries ahead along a cycle entries_to_path_order starts loading the one it moves. */
#define PLACE_AHEAD 8

/*
 * Back to path order.  A file's rank is its place in the list of files
 * gathered, so the ranks are a permutation of [0, n): each entry is moved
 * once, straight to its place, by following the permutation's cycles in a
 * small array of where each place's entry is, loading the entries a few
 * moves ahead (qsort compared and moved the 400-byte entries, mostly
 * waiting for memory: 16-18 ms on one core at 101,039 records, now 5-6).
 * Ranks that are not such a permutation (out of range, or one twice) are
 * sorted instead.
 */
static int entries_to_path_order(entry *entries, size_t n)
{
	size_t *from = malloc((n + 1) * sizeof(*from)); /* from[place]: where its entry is */

	if (!from)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	for (size_t k = 0; k < n; k++)
		from[k] = SIZE_MAX;
	for (size_t k = 0; k < n; k++) {
		size_t rank = entries[k].rank;

		if (rank >= n || from[rank] != SIZE_MAX) {
			free(from);
			qsort(entries, n, sizeof(*entries), rank_cmp);
			return 0;
		}
		from[rank] = k;
	}
	for (size_t i = 0; i < n; i++) {
		entry held;
		size_t place = i, ahead = i;

		if (from[i] == i)
			continue;
		/* Place i is the hole: each move fills one from the next, until i's own entry. */
		held = entries[i];
		for (int d = 0; d < PLACE_AHEAD; d++)
			ahead = from[ahead];
		while (from[place] != i) {
			size_t source = from[place];

			for (size_t off = 0; off < sizeof(entry); off += 64)
				__builtin_prefetch((const char *)&entries[ahead] + off);
			ahead = from[ahead];
			entries[place] = entries[source];
			from[place] = place;
			place = source;
		}
		entries[place] = held;
		from[place] = place;
	}
	free(from);
	return 0;
}

static void free_canonical(ledger_state *st)
{
	for (size_t i = 0; i < st->count; i++) {
		free(st->entries[i].canonical);
		st->entries[i].canonical = NULL;
	}
}

/* Index entries [from, to) by id, after those before: the first entry of an id keeps it. */
static int index_range(ledger_state *st, size_t from, size_t to)
{
	int r;

	for (size_t i = from; i < to; i++) {
		entry *e = &st->entries[i];
		size_t other;

		if (!e->has_id || e->fail_code)
			continue;
		if (idmap_get(&st->by_id, e->id, &other))
			continue;
		if ((r = idmap_put(&st->by_id, e->id, i)) < 0)
			return r;
	}
	return 0;
}

/* A fresh index by id of `count` entries to come, none in it yet. */
static int index_start(ledger_state *st, size_t count)
{
	idmap_release(&st->by_id);
	return idmap_reserve(&st->by_id, count);
}

static int index_entries(ledger_state *st)
{
	int r = index_start(st, st->count);

	return r < 0 ? r : index_range(st, 0, st->count);
}

static void count_stats(ledger_state *st)
{
	ledger_report_stats *s = &st->report->stats;

	s->records = st->count;
	s->valid = s->invalid = s->pending = 0;
	for (size_t i = 0; i < st->count; i++) {
		if (st->invalid[i])
			s->invalid++;
		else if (st->pending[i])
			s->pending++;
		else
			s->valid++;
	}
	snprintf(s->tip, sizeof(s->tip), "%s", st->tip);
	snprintf(s->root, sizeof(s->root), "%s", st->root_id);
}

int ledger_state_load(ledger_state **out, ledger_repo *repo, const ledger_verify_options *opts)
{
	ledger_verify_options defaults = LEDGER_VERIFY_OPTIONS_INIT;
	char cached_tip[LEDGER_OID_HEX_LEN + 1] = "", since[LEDGER_OID_HEX_LEN + 1] = "";
	const char *from = NULL;
	ledger_state *st;
	size_t first_unchecked, first_new, unchecked_before = 0, unchecked_after = 0;
	size_t unchecked_first = 0, unchecked_end = 0; /* the span of entries still unchecked */
	job_pool pool;
	int moved;
	gatherer gather;
	store_check_read_cbs cbs;
	ledger_report *history = NULL;
	commit_check commits;
	size_t findings_before_cache;
	schema_loader schemas;
	int cache_ok = 0, schemas_checked = 0;
	job j;
	int r;

	*out = NULL;
	memset(&commits, 0, sizeof(commits));
	memset(&gather, 0, sizeof(gather));
	if (!opts)
		opts = &defaults;
	job_pool_init(&pool, job_thread_count(opts->threads));
	st = calloc(1, sizeof(*st));
	if (!st)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	st->repo = repo;
	st->policy_feed = opts->version >= 2 && opts->policy_feed && !opts->since;
	json_object_seed(0); /* before any thread builds a jansson object */
	schemas_start(&schemas);
	if ((r = report_new(&st->report)) < 0)
		goto done;
	if (opts->tip)
		r = ledger_repo_resolve(st->tip, repo, opts->tip);
	else
		r = ledger_repo_head(st->tip, repo);
	if (r < 0)
		goto done;
	if ((r = choose_root(st, opts)) < 0)
		goto done;
	if (opts->since && (r = ledger_repo_resolve(since, repo, opts->since)) < 0)
		goto done;
	findings_before_cache = st->report->count;
	cache_ok = opts->use_cache && cache_load(st, cached_tip, st->root_id, &schemas_checked) == 0;
	st->schemas = schemas_wait(&schemas);
	/* Records cached without their schemas checked must be checked again now. */
	if (cache_ok && (!st->schemas || schemas_checked) &&
	    (strcmp(cached_tip, st->tip) == 0 ||
	     ledger_repo_is_ancestor(repo, cached_tip, st->tip) == 1)) {
		from = cached_tip;
		/*
		 * Only what is new since the cache is checked: its summaries cost
		 * little, and a policy pass over its cache takes them instead of
		 * walking the trees that changed again to read the files.
		 */
		st->policy_feed = !opts->since;
	} else {
		for (size_t i = 0; i < st->count; i++)
			entry_release(&st->entries[i]);
		cache_release(st);
		st->count = 0;
		report_truncate(st->report, findings_before_cache);
		cached_tip[0] = '\0';
		ledger_error_clear();
	}
	/* After the cache's findings (report_sort puts it in its place). */
	if (!st->schemas &&
	    (r = report_add(st->report, LEDGER_SEVERITY_WARNING, "schemas-unavailable", "FORMAT-2",
	                    NULL, NULL, NULL, "record schemas not checked: %s",
	                    schemas.message)) < 0)
		goto done;
	/* Records present at --since are taken as verified: read, but their signatures unchecked. */
	memset(&j, 0, sizeof(j));
	j.state = st;
	j.progress = opts->progress;
	j.progress_payload = opts->progress_payload;
	j.progress_total = 0; /* unknown until every file is gathered */
	gather.state = st;
	gather.job = &j;
	gather.pool = &pool;
	gather.gathered = gather.checked = first_unchecked = st->count;
	gather.sign_from = SIZE_MAX;
	if (!from && since[0] &&
	    (r = ledger_repo_foreach_record(repo, since, gather_file, &gather)) < 0) {
		gather_end(&gather);
		goto done;
	}
	gather_flush(&gather, 0);
	first_new = gather.sign_from = st->count;
	if (!from && since[0])
		from = since;
	/* Nothing new (the tip is what the cache or --since vouches for): no commit to walk. */
	moved = !from || strcmp(from, st->tip) != 0;
	/*
	 * History (everything after what the cache or --since vouches for) on a
	 * thread of its own, while the files the new commits added are read in
	 * the order it notes (merges add none of their own).
	 */
	if ((r = report_new(&history)) < 0)
		goto done;
	cbs.change = history_finding;
	cbs.change_payload = history;
	cbs.count = gather_count;
	cbs.file = gather_ranked;
	cbs.payload = &gather;
	cbs.rerank = gather_rerank;
	cbs.reset = gather_reset;
	gather.early = from != NULL;
	if (moved && (r = store_check_and_read(repo, from, st->tip, &cbs)) < 0) {
		gather_end(&gather);
		goto done;
	}
	commits.repo = repo;
	commits.from = from ? from : (since[0] ? since : NULL);
	commits.to = st->tip;
	/* Nothing new: no commit to check or count. */
	if (moved && (r = commit_check_start(&commits)) < 0) {
		gather_end(&gather);
		goto done;
	}
	/*
	 * The entries from the cache or --since are final (their content
	 * failures too): indexed now, while the checker thread may still be
	 * on its chunk (a run from the cache reads its ~1,000 new files before
	 * the first 64 are checked), which this thread would wait for idle.
	 */
	if ((r = index_start(st, gather.gathered)) < 0 || (r = index_range(st, 0, first_new)) < 0) {
		gather_wait(&gather);
		goto done;
	}
	gather_flush(&gather, 0);
	gather_end(&gather);
	if ((r = gather.error) < 0 || (r = report_append(st->report, history)) < 0)
		goto done;
	/* Back to path order, the order everything after and the cache see. */
	if ((r = entries_to_path_order(st->entries + first_new, st->count - first_new)) < 0 ||
	    (r = index_range(st, first_new, st->count)) < 0 || (r = trust_collect_keys(st)) < 0)
		goto done;
	for (size_t i = first_unchecked; i < first_new; i++)
		if (!st->entries[i].fail_code)
			st->entries[i].sig = SIG_OK;
	if ((r = commit_check_wait(&commits)) < 0 || (r = report_commit_signatures(st, &commits)) < 0)
		goto done;
	st->report->stats.commits = commits.count;
	if ((r = reread_unchecked(st, first_unchecked)) < 0)
		goto done;
	for (size_t i = 0; i < st->count; i++) {
		if (st->entries[i].sig != SIG_UNCHECKED)
			continue;
		if (unchecked_before++ == 0)
			unchecked_first = i;
		unchecked_end = i + 1;
	}
	/*
	 * Over the span of entries still unchecked alone: a run from the cache
	 * has few or none, and a pass over every entry cost each core ~1 ms of
	 * a shared counter, its cache line going back and forth, at 100,000.
	 */
	j.next = 0;
	j.completed = 0;
	j.first = unchecked_first;
	j.count = unchecked_end - unchecked_first;
	j.work = check_signature;
	j.progress_base = st->count - j.count;
	j.progress_total = st->count;
	job_run(&j, &pool);
	for (size_t i = 0; i < st->count; i++)
		unchecked_after += st->entries[i].sig == SIG_UNCHECKED;
	st->report->stats.checked = gather.signed_early + unchecked_before - unchecked_after;
	free_canonical(st);
	if ((r = trust_judge(st)) < 0 || (r = report_compromised_signers(st, &commits)) < 0)
		goto done;
	count_stats(st);
	report_sort(st->report);
	/* Best effort: a missing cache only costs time.  Unchanged, it is not rewritten. */
	if (opts->use_cache && !opts->cache_readonly && !opts->since && !opts->root &&
	    strcmp(cached_tip, st->tip) != 0)
		cache_save(st);
	ledger_error_clear();
#ifdef HAVE_MALLOC_TRIM
	/*
	 * What the checking threads freed (files, parsed records) stays in
	 * their arenas, resident, where the caller's thread never reuses it: at
	 * 100,000 records, tens of MB that a policy pass would add its own to.
	 * Only after reading many files: the trim walks the whole heap (~0.1 s
	 * at 100,000 records), which a cached run of a few new ones would pay
	 * for nothing.
	 */
	if (st->count - first_new >= VERIFY_TRIM_AFTER)
		malloc_trim(0);
#endif
	*out = st;
	st = NULL; /* transferred */
	r = 0;
done:
	/* What an error between gathering --since and the history left: its entries are checked. */
	if (gather.checker_started)
		gather_end(&gather);
	slab_release(&gather.raw[0]);
	slab_release(&gather.raw[1]);
	job_pool_stop(&pool);
	commit_check_release(&commits);
	if (schemas.started)
		ledger_schemas_free(schemas_wait(&schemas));
	ledger_report_free(history);
	ledger_state_free(st);
	return r;
}

/*
 * trust_judge's findings (about every record) in a copy of the state's entry
 * list with the candidates added: what records the quick way cannot judge
 * (trust_judge_candidates) cost, a judgement of the whole ledger.
 */
static int judge_in_copy(ledger_report **out, const ledger_state *state,
                         const ledger_record *const *recs, size_t n,
                         char (*paths)[LEDGER_RECORD_PATH_LEN + 1])
{
	ledger_state copy;
	entry *cands;
	ledger_report *all = NULL;
	uint8_t pub[32];
	size_t i;
	int r;

	*out = NULL;
	memset(&copy, 0, sizeof(copy));
	copy.repo = state->repo;
	snprintf(copy.root_id, sizeof(copy.root_id), "%s", state->root_id);
	snprintf(copy.tip, sizeof(copy.tip), "%s", state->tip);
	copy.entries = malloc((state->count + n) * sizeof(*copy.entries));
	if (!copy.entries)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	memcpy(copy.entries, state->entries, state->count * sizeof(*copy.entries));
	copy.count = state->count + n;
	cands = &copy.entries[state->count];
	memset(cands, 0, n * sizeof(*cands));
	for (i = 0; i < n; i++) {
		cands[i].path = paths[i];
		if ((r = entry_fill(&cands[i], recs[i])) < 0)
			goto done;
		if (entry_is_trust_type(recs[i]->type))
			cands[i].trust = (ledger_record *)recs[i];
	}
	if ((r = report_new(&all)) < 0)
		goto done;
	copy.report = all;
	if ((r = index_entries(&copy)) < 0 || (r = trust_collect_keys(&copy)) < 0)
		goto done;
	for (i = 0; i < n; i++)
		cands[i].sig = trust_public_key(&copy, cands[i].kid, pub) &&
		               ledger_record_verify_signature(recs[i], pub) == 0
		                       ? SIG_OK
		                       : SIG_BAD;
	if ((r = trust_judge(&copy)) < 0)
		goto done;
	*out = all;
	all = NULL; /* transferred */
	r = 0;
done:
	/* The copy borrows every entry but the candidates' own allocations. */
	for (i = 0; i < n; i++) {
		free(cands[i].author);
		free(cands[i].refs);
	}
	free(copy.entries);
	idmap_release(&copy.by_id);
	idmap_release(&copy.pubs);
	idmap_release(&copy.first_binding);
	for (i = 0; i < copy.npubs; i++)
		ledger_pubkey_free(copy.pub_objects[i]);
	free(copy.pub_objects);
	free(copy.pub_table);
	free(copy.bindings);
	free(copy.revocations);
	free(copy.roots);
	free(copy.invalid);
	free(copy.pending);
	free(copy.chain);
	ledger_report_free(all);
	return r;
}

int ledger_state_judge_batch(ledger_report **out, const ledger_state *state,
                             const ledger_record *const *recs, size_t count)
{
	entry *cands = NULL;
	ledger_report *all = NULL;
	char (*paths)[LEDGER_RECORD_PATH_LEN + 1] = NULL;
	uint8_t pub[32];
	size_t i, k;
	int trust = 0, r;

	for (i = 0; i < count; i++)
		out[i] = NULL;
	cands = calloc(count + 1, sizeof(*cands));
	paths = calloc(count + 1, sizeof(*paths));
	if (!cands || !paths) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < count; i++) {
		ledger_record_path(paths[i], recs[i]->id);
		cands[i].path = paths[i];
		if ((r = entry_fill(&cands[i], recs[i])) < 0)
			goto done;
		trust |= entry_is_trust_type(recs[i]->type);
		/* No candidate adds a key unless one is a trust record: the state's are the copy's. */
		cands[i].sig = trust_public_key(state, cands[i].kid, pub) &&
		               ledger_record_verify_signature(recs[i], pub) == 0
		                       ? SIG_OK
		                       : SIG_BAD;
	}
	if (!trust && count && (r = trust_judge_candidates(&all, state, cands, count)) < 0)
		goto done;
	if (!all && (r = judge_in_copy(&all, state, recs, count, paths)) < 0)
		goto done;
	for (i = 0; i < count; i++) {
		if ((r = report_new(&out[i])) < 0)
			goto done;
		if (state->schemas && ledger_schemas_has(state->schemas, recs[i]->type) &&
		    ledger_schemas_validate(state->schemas, recs[i]->type, recs[i]->record) < 0 &&
		    (r = report_add(out[i], LEDGER_SEVERITY_ERROR, "schema-invalid", "FORMAT-2",
		                    recs[i]->id, paths[i], NULL, "%s",
		                    ledger_error_last()->message)) < 0)
			goto done;
		for (k = 0; k < all->count; k++) {
			ledger_finding *f = &all->items[k];

			if (strcmp(f->id, recs[i]->id) == 0 && (r = report_add_copy(out[i], f, NULL)) < 0)
				goto done;
		}
	}
	r = 0;
done:
	for (i = 0; cands && i < count; i++) {
		free(cands[i].author);
		free(cands[i].refs);
	}
	free(cands);
	free(paths);
	ledger_report_free(all);
	if (r < 0)
		for (i = 0; i < count; i++) {
			ledger_report_free(out[i]);
			out[i] = NULL;
		}
	return r;
}

int ledger_state_judge(ledger_report **out, const ledger_state *state, const ledger_record *rec)
{
	return ledger_state_judge_batch(out, state, &rec, 1);
}

void ledger_state_free(ledger_state *state)
{
	if (!state)
		return;
	for (size_t i = 0; i < state->count; i++)
		entry_release(&state->entries[i]);
	free(state->entries);
	cache_release(state);
	idmap_release(&state->by_id);
	keys_release(state);
	idmap_release(&state->first_binding);
	free(state->bindings);
	free(state->revocations);
	free(state->roots);
	free(state->invalid);
	free(state->pending);
	free(state->chain);
	ledger_report_free(state->report);
	ledger_schemas_free(state->schemas);
	free(state);
}
