/*
 * Writing and reading the private cache files (verify_cache.c,
 * policy_cache.c): integers in host byte order, strings as a u32 length
 * then the bytes.  A writer or reader that fails stays failed (ok == 0):
 * its callers test ok once at the end.  A reader never reads past `end`:
 * a truncated file, or a length that runs past it, fails the reader.
 */
#ifndef LEDGER_CACHE_IO_H
#define LEDGER_CACHE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "ledger/verify.h"

void cache_put(FILE *f, int *ok, const void *data, size_t len);
void cache_put_u32(FILE *f, int *ok, uint32_t v);
void cache_put_i64(FILE *f, int *ok, int64_t v);
/* NULL is written as the empty string. */
void cache_put_str(FILE *f, int *ok, const char *s);
/* A finding: severity, code, rule, id, path, the commit when with_commit, message. */
void cache_put_finding(FILE *f, int *ok, const ledger_finding *fi, int with_commit);

typedef struct {
	const uint8_t *p, *end;
	int ok;
} cache_reader;

/*
 * The fixed-size reads are inline: the cache of a large ledger is read a
 * few fields at a time, and a call per field (with memcpy of a length not
 * known at compile time) was a tenth of a cached run's instructions.
 */

/* The next len bytes, in place; NULL (and the reader failed) when they are not all there. */
static inline const uint8_t *cache_take(cache_reader *rd, size_t len)
{
	const uint8_t *p = rd->p;

	if (!rd->ok || (size_t)(rd->end - rd->p) < len) {
		rd->ok = 0;
		return NULL;
	}
	rd->p += len;
	return p;
}

/* The next len bytes copied to out; zeros (and the reader failed) when they are not all there. */
static inline void cache_get(cache_reader *rd, void *out, size_t len)
{
	const uint8_t *p = cache_take(rd, len);

	if (p)
		memcpy(out, p, len);
	else
		memset(out, 0, len);
}

static inline uint32_t cache_get_u32(cache_reader *rd)
{
	uint32_t v;

	cache_get(rd, &v, sizeof(v));
	return v;
}

static inline int64_t cache_get_i64(cache_reader *rd)
{
	int64_t v;

	cache_get(rd, &v, sizeof(v));
	return v;
}

/* cache_get_str's copy of the next n bytes. */
char *cache_copy_str(cache_reader *rd, uint32_t n);

/*
 * A malloc'd NUL-terminated copy; NULL for the empty string, or on failure
 * (rd->ok then 0).  Most strings of a cache are empty: those cost no call.
 */
static inline char *cache_get_str(cache_reader *rd)
{
	uint32_t n = cache_get_u32(rd);

	return n ? cache_copy_str(rd, n) : NULL;
}

/*
 * Up to len bytes of fd from its start, with pread into huge pages: how
 * many there were (fewer when the file is shorter now), or 0 on an error.
 * The cache files are read, not mapped: a mapped file that another process
 * cuts short (a crash mid-rewrite on some file systems, a user) raises
 * SIGBUS on access; read, it is only short, which the readers' bounds
 * refuse.
 */
size_t cache_read_all(int fd, uint8_t *buf, size_t len);
/* Up to len bytes of fd from `offset` into buf, with pread: as cache_read_all, but no advice. */
size_t cache_read_at(int fd, uint8_t *buf, size_t len, off_t offset);

/*
 * cache_read_all, the second half read on a thread of its own while this
 * one reads the first: a verification cache of 100,000 records (23 MB)
 * took ~4 ms of copying and page faults, alone on one core before its
 * decoding starts on two.  Smaller files are read on this thread alone.
 */
#define CACHE_SPLIT_READ_MIN (1024 * 1024)
size_t cache_read_all_split(int fd, uint8_t *buf, size_t len);

#endif
