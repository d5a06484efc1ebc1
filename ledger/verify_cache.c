/*
 * The verification cache, <git dir>/cymat/verified: what the last
 * verification learnt of every record file, keyed by the commit it
 * verified, so that the next run only reads what is new.  Everything cached
 * is a pure function of a file's bytes (content checks, signature) or its
 * summary; trust is judged afresh every time.  Private state, not part of
 * the ledger (docs/FORMAT.md describes it).
 *
 * Layout (little-endian, as written by this host; a mismatch only costs a
 * full verification): a base, then segments.  The base: magic, tip, root,
 * whether schemas were checked, the findings about commits (history and
 * commit signatures: they are not found again, since old commits are not
 * walked again), the entry count, the chunk table (decode_base), then per
 * entry the fields below.  It is
 * written to a temporary file, fsync'd and renamed into place.  A file at
 * the path its id names (all but broken ones) does not repeat the path, and
 * the signature is kept only while it is unchecked.
 *
 * A run that verified new records over a loaded cache appends one segment
 * instead of rewriting the file (cache_append): its cost follows what is
 * new, not the ledger's size.  Past SEGMENTS_MAX segments the file is
 * rewritten whole.  Read into memory with read(), not mapped; the reading
 * and writing helpers are cache_io.c's, shared with the policy cache.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "cache_io.h"
#include "huge_pages.h"
#include "state_internal.h"

#define CACHE_MAGIC "CYMATVC7"
#define SEGMENT_MAGIC "CYMATSEG"
/* Segment header: magic, body length (u32), SHA-256 of the body. */
#define SEGMENT_HEADER (8 + 4 + 32)
/* Segments past which a save rewrites the whole file. */
#define SEGMENTS_MAX 32
/* The base notes where every CHUNK_ENTRIES-th entry starts, so that it is decoded on two threads. */
#define CHUNK_ENTRIES 8192
#define CACHE_FILE "verified"
/*
 * Room the entry array gets past the entries being loaded: the segments'
 * entries go into it, then the files new since the cache's tip.  Growing
 * the array after the load moved it whole (at 100,000 records, 17 ms of
 * one thread, on the critical path of a run that checks 1,000 new files:
 * a tenth of its time); room never touched costs address space only.
 */
#define ENTRY_ROOM(count) ((count) / 8 + 4096)

/* Entry flags. */
#define F_HAS_ID 1
#define F_HAS_PREV 2
#define F_HAS_INCIDENT 4
#define F_OWN_PATH 8 /* at the path its id names: the path is not stored */

/* Failure codes are static strings in entries; map them back on load. */
static const char *const fail_codes[] = { "malformed", "not-canonical", "wrong-path",
	                                  "schema-invalid" };

/* Each byte's two hex digits, as ledger_hex writes them. */
static const char hex_pairs[] =
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
	"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/*
 * The path of the record with this id, as ledger_record_path of its hex
 * names it (records/<hex[0:2]>/<hex[2:4]>/<hex>.json): a cached run builds
 * one per record, two digits at a time, in place.
 */
static void own_path(char out[LEDGER_RECORD_PATH_LEN + 1], const uint8_t id[32])
{
	char *hex = out + 14;

#pragma GCC unroll 32
	for (size_t i = 0; i < 32; i++)
		memcpy(hex + 2 * i, hex_pairs + 2 * id[i], 2);
	memcpy(out, "records/", 8);
	memcpy(out + 8, hex, 2);
	out[10] = '/';
	memcpy(out + 11, hex + 2, 2);
	out[13] = '/';
	memcpy(hex + LEDGER_HEX_ID_LEN, ".json", 6);
}

static int cache_path(char **out, ledger_state *st)
{
	const char *dir;
	int r;

	if ((r = ledger_repo_state_dir(&dir, st->repo)) < 0)
		return r;
	if (asprintf(out, "%s/%s", dir, CACHE_FILE) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	return 0;
}

/* The findings about commits (history, commit signatures): they are not found again. */
static void put_commit_findings(FILE *f, int *ok, const ledger_state *st)
{
	size_t commit_findings = 0;

	for (size_t i = 0; i < st->report->count; i++)
		commit_findings += st->report->items[i].commit[0] != '\0';
	cache_put_u32(f, ok, (uint32_t)commit_findings);
	for (size_t i = 0; i < st->report->count; i++) {
		const ledger_finding *fi = &st->report->items[i];

		if (!fi->commit[0])
			continue;
		cache_put_finding(f, ok, fi, 1);
	}
}

static void put_entry(FILE *f, int *ok, const entry *e)
{
	char own[LEDGER_RECORD_PATH_LEN + 1];
	uint8_t flags = (uint8_t)((e->has_id ? F_HAS_ID : 0) | (e->has_prev ? F_HAS_PREV : 0) |
	                          (e->has_incident ? F_HAS_INCIDENT : 0));
	uint8_t sig = (uint8_t)e->sig;

	if (e->has_id) {
		own_path(own, e->id);
		if (strcmp(own, e->path) == 0)
			flags |= F_OWN_PATH;
	}
	cache_put(f, ok, &flags, 1);
	cache_put(f, ok, &sig, 1);
	if (!(flags & F_OWN_PATH))
		cache_put_str(f, ok, e->path);
	cache_put(f, ok, e->id, 32);
	cache_put_str(f, ok, e->fail_code);
	cache_put_str(f, ok, e->fail_message);
	if (e->fail_code && strcmp(e->fail_code, "schema-invalid") != 0)
		return;
	cache_put_str(f, ok, e->type);
	cache_put_str(f, ok, e->author);
	cache_put(f, ok, e->kid, 32);
	cache_put_i64(f, ok, e->seq);
	cache_put(f, ok, e->prev, 32);
	cache_put_i64(f, ok, e->time);
	cache_put(f, ok, e->incident, 32);
	if (e->sig == SIG_UNCHECKED)
		cache_put(f, ok, e->sig_bytes, 64);
	cache_put_u32(f, ok, (uint32_t)e->nrefs);
	cache_put(f, ok, e->refs, e->nrefs * 32);
	/* Trust records are kept whole: their bodies feed the trust judgement. */
	if (e->trust) {
		char *file = NULL;
		size_t len = 0;

		if (ledger_record_envelope(&file, &len, e->trust) < 0)
			*ok = 0;
		cache_put_u32(f, ok, (uint32_t)len);
		cache_put(f, ok, file, len);
		free(file);
	} else {
		cache_put_u32(f, ok, 0);
	}
}

/* The whole cache, written to a temporary file, fsync'd and renamed into place. */
static int cache_rewrite(ledger_state *st)
{
	char *path = NULL, *tmp = NULL;
	uint64_t *offsets = NULL;
	size_t nchunks;
	off_t table = 0, at = 0;
	FILE *f = NULL;
	int fd = -1, ok = 1, r;

	if ((r = cache_path(&path, st)) < 0)
		return r;
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "wb"))) {
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	cache_put(f, &ok, CACHE_MAGIC, 8);
	cache_put(f, &ok, st->tip, LEDGER_OID_HEX_LEN);
	cache_put(f, &ok, st->root_id, LEDGER_HEX_ID_LEN);
	cache_put_u32(f, &ok, st->schemas != NULL);
	put_commit_findings(f, &ok, st);
	nchunks = (st->count + CHUNK_ENTRIES - 1) / CHUNK_ENTRIES;
	cache_put_u32(f, &ok, (uint32_t)st->count);
	cache_put_u32(f, &ok, (uint32_t)nchunks);
	/* The chunks' offsets, then the base's end: known once the entries are written. */
	if (!(offsets = calloc(nchunks + 1, sizeof(*offsets))) || (table = ftello(f)) < 0)
		ok = 0;
	cache_put(f, &ok, offsets, (nchunks + 1) * sizeof(*offsets));
	for (size_t i = 0; i < st->count && ok; i++) {
		if (i % CHUNK_ENTRIES == 0) {
			if ((at = ftello(f)) < 0)
				ok = 0;
			else
				offsets[i / CHUNK_ENTRIES] = (uint64_t)at;
		}
		put_entry(f, &ok, &st->entries[i]);
	}
	if (ok && (at = ftello(f)) >= 0)
		offsets[nchunks] = (uint64_t)at;
	if (!ok || at < 0 || fseeko(f, table, SEEK_SET) != 0)
		ok = 0;
	cache_put(f, &ok, offsets, (nchunks + 1) * sizeof(*offsets));
	if (!ok || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	if (rename(tmp, path) != 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot rename \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	r = 0;
done:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (r < 0 && tmp)
		unlink(tmp);
	free(offsets);
	free(tmp);
	free(path);
	return r;
}

/*
 * What this run learnt beyond the loaded cache, appended to the file as one
 * segment: the tip it was loaded at and the new tip, the commit findings
 * (all of them), the cached entries whose signature state changed, then the
 * new entries.  The segment is checksummed: one torn by a crash fails its
 * check and the load stops before it, which costs checking again what it
 * held, never a wrong answer.  The file is locked for the append and must
 * still be the one loaded (a rewrite renames a new file into place).
 */
static int cache_append(ledger_state *st)
{
	char *path = NULL, *body = NULL;
	size_t body_len = 0, updates = 0;
	uint8_t header[SEGMENT_HEADER];
	FILE *f = NULL;
	struct stat sb;
	uint32_t len32;
	int fd = -1, ok = 1, r = -1;

	if (cache_path(&path, st) < 0)
		return -1;
	if (!(f = open_memstream(&body, &body_len)))
		goto done;
	cache_put(f, &ok, st->cache_tip, LEDGER_OID_HEX_LEN);
	cache_put(f, &ok, st->tip, LEDGER_OID_HEX_LEN);
	put_commit_findings(f, &ok, st);
	for (size_t i = 0; i < st->cache_count; i++)
		updates += st->entries[i].sig != (sig_state)(st->entries[i].cached - 1);
	cache_put_u32(f, &ok, (uint32_t)updates);
	for (size_t i = 0; i < st->cache_count; i++) {
		uint8_t sig = (uint8_t)st->entries[i].sig;

		if (st->entries[i].sig == (sig_state)(st->entries[i].cached - 1))
			continue;
		cache_put_u32(f, &ok, (uint32_t)i);
		cache_put(f, &ok, &sig, 1);
	}
	cache_put_u32(f, &ok, (uint32_t)(st->count - st->cache_count));
	for (size_t i = st->cache_count; i < st->count; i++)
		put_entry(f, &ok, &st->entries[i]);
	if (fclose(f) != 0)
		ok = 0;
	f = NULL;
	if (!ok || body_len > UINT32_MAX)
		goto done;
	len32 = (uint32_t)body_len;
	memcpy(header, SEGMENT_MAGIC, 8);
	memcpy(header + 8, &len32, 4);
	ledger_sha256(header + 12, body, body_len);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX) != 0 || fstat(fd, &sb) != 0 ||
	    sb.st_dev != st->cache_dev || sb.st_ino != st->cache_ino || sb.st_size < st->cache_end)
		goto done;
	/* Whatever follows the segments loaded (a torn one, another run's) goes. */
	if (ftruncate(fd, st->cache_end) != 0 ||
	    pwrite(fd, header, sizeof(header), st->cache_end) != (ssize_t)sizeof(header) ||
	    pwrite(fd, body, body_len, st->cache_end + (off_t)sizeof(header)) != (ssize_t)body_len ||
	    fdatasync(fd) != 0)
		goto done;
	r = 0;
done:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd); /* and the lock with it */
	free(body);
	free(path);
	return r;
}

/*
 * Small news (some new records over a cache that was loaded) is appended as
 * a segment; otherwise, or when that fails, the whole file is rewritten.
 */
int cache_save(const ledger_state *cst)
{
	ledger_state *st = (ledger_state *)cst;

	if (st->cache_count && st->cache_count <= st->count &&
	    st->entries[0].cached && st->entries[st->cache_count - 1].cached &&
	    st->cache_segments < SEGMENTS_MAX && cache_append(st) == 0)
		return 0;
	return cache_rewrite(st);
}

/*
 * What cached entries borrow (paths, authors, refs), in blocks: a malloc
 * and a free for each of them was a third of a cached run.  10 MB at
 * 100,000 records (the paths), in blocks large enough for huge pages.
 */
#define BLOCK_SIZE (8 * 1024 * 1024)

struct cache_block {
	struct cache_block *next;
	size_t used, size;
	max_align_t data[];
};

/* len bytes (8-aligned) of the arena's, which lives as long as the state; NULL when out of memory. */
static void *borrow(struct cache_block **arena, size_t len)
{
	struct cache_block *b = *arena;
	void *p;

	len = (len + 7) & ~(size_t)7;
	if (!b || b->size - b->used < len) {
		size_t size = len > BLOCK_SIZE ? len : BLOCK_SIZE;

		if (!(b = malloc(sizeof(*b) + size)))
			return NULL;
		huge_pages_advise(b->data, size);
		b->next = *arena;
		b->used = 0;
		b->size = size;
		*arena = b;
	}
	p = (char *)b->data + b->used;
	b->used += len;
	return p;
}

static void arena_free(struct cache_block **arena)
{
	while (*arena) {
		struct cache_block *next = (*arena)->next;

		free(*arena);
		*arena = next;
	}
}

void cache_release(ledger_state *st)
{
	arena_free(&st->cache_arena);
}

/* cache_get_str's string, borrowed from the state: NULL for the empty string or a failure. */
static char *borrow_str(struct cache_block **arena, cache_reader *rd)
{
	uint32_t n = cache_get_u32(rd);
	const uint8_t *p = cache_take(rd, n);
	char *s;

	if (!p || n == 0)
		return NULL;
	if (!(s = borrow(arena, (size_t)n + 1))) {
		rd->ok = 0;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* The failure code of the next string (the empty one, as most are: NULL) as a static string. */
static const char *static_code(cache_reader *rd)
{
	uint32_t n = cache_get_u32(rd);
	const char *code = n ? (const char *)cache_take(rd, n) : NULL;

	for (size_t i = 0; code && i < sizeof(fail_codes) / sizeof(fail_codes[0]); i++)
		if (strlen(fail_codes[i]) == n && memcmp(code, fail_codes[i], n) == 0)
			return fail_codes[i];
	return NULL;
}

/*
 * Decode the next entry into e, borrowing from the arena.  The entry is
 * its caller's to release (entry_release) whatever this returns.
 */
static int load_entry(entry *e, struct cache_block **arena, cache_reader *rd)
{
	uint8_t flags, sig;
	const uint8_t *body;
	const char *type;
	uint32_t len;

	memset(e, 0, sizeof(*e));
	e->borrowed = 1;
	cache_get(rd, &flags, 1);
	cache_get(rd, &sig, 1);
	e->has_id = flags & F_HAS_ID;
	e->has_prev = (flags & F_HAS_PREV) != 0;
	e->has_incident = (flags & F_HAS_INCIDENT) != 0;
	e->sig = sig <= SIG_BAD ? (sig_state)sig : SIG_UNCHECKED;
	if (!(flags & F_OWN_PATH))
		e->path = borrow_str(arena, rd);
	cache_get(rd, e->id, 32);
	if (flags & F_OWN_PATH && (e->path = borrow(arena, LEDGER_RECORD_PATH_LEN + 1)))
		own_path(e->path, e->id);
	e->fail_code = static_code(rd);
	e->fail_rule = e->fail_code ? "FORMAT-2" : NULL;
	e->fail_message = cache_get_str(rd);
	e->cached = 1 + (int)e->sig;
	if (!e->path)
		rd->ok = 0;
	if (e->fail_code && strcmp(e->fail_code, "schema-invalid") != 0)
		return rd->ok ? 0 : -1;
	/* Cut as snprintf "%s" would, without its cost (or an allocation) per record. */
	len = cache_get_u32(rd);
	if ((type = (const char *)cache_take(rd, len))) {
		size_t n = strnlen(type, len < sizeof(e->type) - 1 ? len : sizeof(e->type) - 1);

		memcpy(e->type, type, n);
		e->type[n] = '\0';
	}
	e->author = borrow_str(arena, rd);
	cache_get(rd, e->kid, 32);
	e->seq = cache_get_i64(rd);
	cache_get(rd, e->prev, 32);
	e->time = cache_get_i64(rd);
	cache_get(rd, e->incident, 32);
	if (e->sig == SIG_UNCHECKED)
		cache_get(rd, e->sig_bytes, 64);
	e->nrefs = cache_get_u32(rd);
	if (rd->ok && e->nrefs) {
		if ((size_t)(rd->end - rd->p) / 32 < e->nrefs || !(e->refs = borrow(arena, e->nrefs * 32))) {
			e->nrefs = 0;
			rd->ok = 0;
		} else {
			cache_get(rd, e->refs, e->nrefs * 32);
		}
	}
	len = cache_get_u32(rd);
	if ((body = cache_take(rd, len)) && len &&
	    ledger_record_parse(&e->trust, (const char *)body, len) < 0)
		rd->ok = 0;
	if (!e->author)
		rd->ok = 0;
	return rd->ok ? 0 : -1;
}

/* Findings carry static code and rule strings: map the cached ones back, or refuse the cache. */
static const char *static_finding_text(const char *text)
{
	static const char *const known[] = { "record-modified", "record-deleted",
		                             "merge-not-union", "bad-mode", "foreign-file",
		                             "commit-unsigned", "commit-bad-signature",
		                             "commit-unknown-signer", "commit-compromised-signer",
		                             "FORMAT-4" };

	for (size_t i = 0; text && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(text, known[i]) == 0)
			return known[i];
	return NULL;
}

static int load_commit_findings(ledger_state *st, cache_reader *rd)
{
	uint32_t n = cache_get_u32(rd);
	int r = 0;

	for (uint32_t i = 0; i < n && rd->ok && r == 0; i++) {
		uint32_t severity = cache_get_u32(rd);
		char *code = cache_get_str(rd), *rule = cache_get_str(rd);
		char *id = cache_get_str(rd), *path = cache_get_str(rd);
		char *commit = cache_get_str(rd), *message = cache_get_str(rd);
		const char *scode = static_finding_text(code), *srule = static_finding_text(rule);

		if (!rd->ok || !scode || !srule || !commit || severity > LEDGER_SEVERITY_PENDING)
			r = -1;
		else
			r = report_add(st->report, (ledger_severity)severity, scode, srule, id, path,
			               commit, "%s", message ? message : "");
		free(code);
		free(rule);
		free(id);
		free(path);
		free(commit);
		free(message);
	}
	return rd->ok && r == 0 ? 0 : -1;
}

/*
 * Apply the segment at rd (its header checked) to the state at `tip`.  1:
 * applied; 0: not this cache's next segment (another run's, or torn), so
 * the load stops before it; -1: a segment whole but unreadable.
 */
static int load_segment(ledger_state *st, cache_reader *rd, char tip[LEDGER_OID_HEX_LEN + 1],
                        size_t first_finding)
{
	char magic[8], parent[LEDGER_OID_HEX_LEN], next[LEDGER_OID_HEX_LEN];
	uint8_t sum[32], want[32];
	uint32_t len, updates, count;
	cache_reader seg;

	cache_get(rd, magic, 8);
	len = cache_get_u32(rd);
	cache_get(rd, want, 32);
	if (!rd->ok || memcmp(magic, SEGMENT_MAGIC, 8) != 0 || (size_t)(rd->end - rd->p) < len)
		return 0;
	ledger_sha256(sum, rd->p, len);
	seg.p = rd->p;
	seg.end = rd->p + len;
	seg.ok = 1;
	cache_get(&seg, parent, LEDGER_OID_HEX_LEN);
	if (memcmp(sum, want, 32) != 0 || !seg.ok || memcmp(parent, tip, LEDGER_OID_HEX_LEN) != 0)
		return 0;
	cache_get(&seg, next, LEDGER_OID_HEX_LEN);
	/* The segment's commit findings are all of them. */
	report_truncate(st->report, first_finding);
	if (load_commit_findings(st, &seg) < 0)
		return -1;
	updates = cache_get_u32(&seg);
	for (uint32_t i = 0; i < updates && seg.ok; i++) {
		uint32_t at = cache_get_u32(&seg);
		uint8_t sig;

		cache_get(&seg, &sig, 1);
		if (!seg.ok || at >= st->count || sig > SIG_BAD)
			return -1;
		st->entries[at].sig = (sig_state)sig;
		st->entries[at].cached = 1 + (int)sig;
	}
	count = cache_get_u32(&seg);
	/*
	 * Into the room the base left when there is some: asking for more
	 * every time copied the whole entry array (40 MB at 100,000 records)
	 * once per segment, a fifth of an append's time.
	 */
	if (!seg.ok || (st->count + (size_t)count > st->capacity &&
	                state_reserve_entries(st, st->count + (size_t)count +
	                                              ENTRY_ROOM(st->count)) < 0))
		return -1;
	for (uint32_t i = 0; i < count; i++)
		if (load_entry(&st->entries[st->count++], &st->cache_arena, &seg) < 0)
			return -1;
	if (!seg.ok || seg.p != seg.end)
		return -1;
	memcpy(tip, next, LEDGER_OID_HEX_LEN);
	rd->p = seg.end;
	return 1;
}

/* Entries [first, end) of the base, decoded from rd (their bytes, exactly) on one thread. */
typedef struct {
	entry *entries;
	size_t first, end, done; /* entries [first, first + done) are to be released */
	struct cache_block *arena;
	cache_reader rd;
	int r;
} base_part;

static void *decode_part(void *arg)
{
	base_part *part = arg;

	for (size_t i = part->first; i < part->end && part->r == 0; i++) {
		part->r = load_entry(&part->entries[i], &part->arena, &part->rd);
		part->done++;
	}
	if (part->r == 0 && (!part->rd.ok || part->rd.p != part->rd.end))
		part->r = -1;
	return NULL;
}

/* The k-th offset of the base's table. */
static uint64_t chunk_offset(const uint8_t *table, size_t k)
{
	uint64_t off;

	memcpy(&off, table + k * sizeof(off), sizeof(off));
	return off;
}

/*
 * The base's `count` entries into st->entries[0, count), in two halves on
 * two threads from some size on: the table holds where each chunk of
 * CHUNK_ENTRIES entries starts and where the base ends, and each half
 * must end exactly where the next begins.  On success st->count = count
 * and *end is the base's end; on failure nothing is left allocated.
 */
static int decode_base(ledger_state *st, const uint8_t *buf, size_t size, const uint8_t *table,
                       size_t nchunks, size_t count, const uint8_t **end)
{
	base_part parts[2];
	size_t nparts = nchunks >= 4 ? 2 : 1, first_chunk = 0;
	pthread_t tid;
	int started = 0, r = 0;

	if (chunk_offset(table, 0) != (size_t)(table + (nchunks + 1) * 8 - buf) ||
	    chunk_offset(table, nchunks) > size)
		return -1;
	for (size_t k = 0; k < nchunks; k++)
		if (chunk_offset(table, k + 1) <= chunk_offset(table, k))
			return -1;
	memset(parts, 0, sizeof(parts));
	for (size_t p = 0; p < nparts; p++) {
		size_t last_chunk = p + 1 == nparts ? nchunks : nchunks / 2;

		parts[p].entries = st->entries;
		parts[p].first = first_chunk * CHUNK_ENTRIES;
		parts[p].end = p + 1 == nparts ? count : last_chunk * CHUNK_ENTRIES;
		parts[p].rd.p = buf + chunk_offset(table, first_chunk);
		parts[p].rd.end = buf + chunk_offset(table, last_chunk);
		parts[p].rd.ok = 1;
		first_chunk = last_chunk;
	}
	if (nparts == 2)
		started = pthread_create(&tid, NULL, decode_part, &parts[1]) == 0;
	decode_part(&parts[0]);
	if (started)
		pthread_join(tid, NULL);
	else if (nparts == 2)
		decode_part(&parts[1]);
	for (size_t p = 0; p < nparts; p++)
		r |= parts[p].r;
	for (size_t p = 0; p < nparts; p++) {
		if (r != 0) {
			for (size_t i = parts[p].first; i < parts[p].first + parts[p].done; i++)
				entry_release(&st->entries[i]);
			arena_free(&parts[p].arena);
			continue;
		}
		/* The state's arena takes the part's blocks. */
		while (parts[p].arena) {
			struct cache_block *b = parts[p].arena;

			parts[p].arena = b->next;
			b->next = st->cache_arena;
			st->cache_arena = b;
		}
	}
	if (r != 0)
		return -1;
	st->count = count;
	*end = buf + chunk_offset(table, nchunks);
	return 0;
}

int cache_load(ledger_state *st, char tip[LEDGER_OID_HEX_LEN + 1], const char *root_id,
               int *schemas_checked)
{
	char *path = NULL, magic[8], root[LEDGER_HEX_ID_LEN];
	uint8_t *buf = NULL;
	size_t first_finding = st->report->count, size;
	unsigned int segments = 0;
	struct stat sb;
	cache_reader rd;
	const uint8_t *table;
	uint32_t count, nchunks;
	int fd = -1, r = -1, s;

	if (cache_path(&path, st) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size < 8 || (uint64_t)sb.st_size >= SIZE_MAX)
		goto done;
	/* Read, not mapped (cache_read_all says why). */
	if (!(buf = malloc((size_t)sb.st_size)))
		goto done;
	if ((size = cache_read_all_split(fd, buf, (size_t)sb.st_size)) < 8)
		goto done;
	rd.p = buf;
	rd.end = buf + size;
	rd.ok = 1;
	cache_get(&rd, magic, 8);
	cache_get(&rd, tip, LEDGER_OID_HEX_LEN);
	tip[LEDGER_OID_HEX_LEN] = '\0';
	cache_get(&rd, root, LEDGER_HEX_ID_LEN);
	*schemas_checked = cache_get_u32(&rd) != 0;
	if (!rd.ok || memcmp(magic, CACHE_MAGIC, 8) != 0 ||
	    memcmp(root, root_id, LEDGER_HEX_ID_LEN) != 0)
		goto done;
	if (load_commit_findings(st, &rd) < 0)
		goto done;
	count = cache_get_u32(&rd);
	nchunks = cache_get_u32(&rd);
	/* Not more entries than the file can hold (2 flag bytes, an id, 2 string lengths each). */
	if (!rd.ok || st->count != 0 || nchunks != (count + CHUNK_ENTRIES - 1) / CHUNK_ENTRIES ||
	    !(table = cache_take(&rd, ((size_t)nchunks + 1) * 8)) ||
	    count > (size_t)(rd.end - rd.p) / (2 + 32 + 4 + 4) ||
	    state_reserve_entries(st, (size_t)count + ENTRY_ROOM((size_t)count)) < 0 ||
	    decode_base(st, buf, size, table, nchunks, count, &rd.p) < 0)
		goto done;
	for (;;) {
		const uint8_t *at = rd.p;

		if ((s = load_segment(st, &rd, tip, first_finding)) < 0)
			goto done;
		if (s == 0) {
			rd.p = at;
			break;
		}
		segments++;
	}
	memcpy(st->cache_tip, tip, LEDGER_OID_HEX_LEN + 1);
	st->cache_count = st->count;
	st->cache_end = (off_t)(rd.p - buf);
	st->cache_dev = sb.st_dev;
	st->cache_ino = sb.st_ino;
	st->cache_segments = segments;
	r = 0;
done:
	free(buf);
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}
