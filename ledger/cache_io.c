/*
 * The binary helpers of the cache files (cache_io.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_io.h"
#include "huge_pages.h"

void cache_put(FILE *f, int *ok, const void *data, size_t len)
{
	if (*ok && len && fwrite(data, 1, len, f) != len)
		*ok = 0;
}

void cache_put_u32(FILE *f, int *ok, uint32_t v)
{
	cache_put(f, ok, &v, sizeof(v));
}

void cache_put_i64(FILE *f, int *ok, int64_t v)
{
	cache_put(f, ok, &v, sizeof(v));
}

void cache_put_str(FILE *f, int *ok, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > UINT32_MAX) {
		*ok = 0;
		return;
	}
	cache_put_u32(f, ok, (uint32_t)n);
	cache_put(f, ok, s, n);
}

void cache_put_finding(FILE *f, int *ok, const ledger_finding *fi, int with_commit)
{
	cache_put_u32(f, ok, (uint32_t)fi->severity);
	cache_put_str(f, ok, fi->code);
	cache_put_str(f, ok, fi->rule);
	cache_put_str(f, ok, fi->id);
	cache_put_str(f, ok, fi->path);
	if (with_commit)
		cache_put_str(f, ok, fi->commit);
	cache_put_str(f, ok, fi->message);
}

char *cache_copy_str(cache_reader *rd, uint32_t n)
{
	const uint8_t *p = cache_take(rd, n);
	char *s;

	if (!p)
		return NULL;
	if (!(s = malloc((size_t)n + 1))) {
		rd->ok = 0;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

size_t cache_read_at(int fd, uint8_t *buf, size_t len, off_t offset)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, buf + got, len - got, offset + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? got : 0;
		got += (size_t)n;
	}
	return got;
}

size_t cache_read_all(int fd, uint8_t *buf, size_t len)
{
	/* A policy cache's buffer in 4 KiB pages was a tenth of an append's time. */
	huge_pages_advise(buf, len);
	return cache_read_at(fd, buf, len, 0);
}

typedef struct {
	int fd;
	uint8_t *buf;
	size_t len, got;
	off_t offset;
} read_part;

static void *read_part_run(void *arg)
{
	read_part *part = arg;

	part->got = cache_read_at(part->fd, part->buf, part->len, part->offset);
	return NULL;
}

size_t cache_read_all_split(int fd, uint8_t *buf, size_t len)
{
	size_t half = len / 2, got;
	read_part second = { fd, buf + half, len - half, 0, (off_t)half };
	pthread_t tid;

	if (len < CACHE_SPLIT_READ_MIN || pthread_create(&tid, NULL, read_part_run, &second) != 0)
		return cache_read_all(fd, buf, len);
	huge_pages_advise(buf, len);
	got = cache_read_at(fd, buf, half, 0);
	pthread_join(tid, NULL);
	/* A short first half is all there is (a file cut short since, or an error: 0). */
	return got < half ? got : got + second.got;
}
