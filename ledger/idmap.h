/*
 * A hash map from 32-byte ids (record ids, key ids: SHA-256 outputs, so
 * already uniform) to size_t values.  Open addressing, linear probing.
 */
#ifndef LEDGER_IDMAP_H
#define LEDGER_IDMAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
	uint8_t (*keys)[32];
	size_t *values;
	uint8_t *used;
	size_t capacity; /* a power of two */
	size_t count;
} idmap;

void idmap_init(idmap *map);
void idmap_release(idmap *map);
/* Make room for `count` ids in all, so that inserting them never rehashes; 0, or LEDGER_ENOMEM. */
int idmap_reserve(idmap *map, size_t count);
/* Insert or replace; 0, or LEDGER_ENOMEM. */
int idmap_put(idmap *map, const uint8_t key[32], size_t value);
/* 1 and *value when present, else 0. */
int idmap_get(const idmap *map, const uint8_t key[32], size_t *value);

/*
 * Start loading the slot idmap_get(key) reads first (as idmap.c finds it):
 * a run of lookups in a large map, each prefetched some keys ahead, does
 * not wait for memory one key at a time.  A hint: nothing changes.
 */
static inline void idmap_prefetch(const idmap *map, const uint8_t key[32])
{
	uint64_t h;
	size_t i;

	if (!map->capacity)
		return;
	memcpy(&h, key, sizeof(h));
	i = (size_t)h & (map->capacity - 1);
	__builtin_prefetch(&map->used[i]);
	__builtin_prefetch(map->keys[i]);
	__builtin_prefetch(&map->values[i]);
}

#endif
