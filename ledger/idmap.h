/*
 * A hash map from 32-byte ids (record ids, key ids: SHA-256; git object ids:
 * SHA-1, zero-padded) to size_t values.  Open addressing, linear probing.
 * The ids are chosen by whoever sends the work, who can grind many of them
 * into one slot run of a public hash and make every lookup quadratic; so a
 * slot is a keyed hash of the first 16 bytes under a secret drawn at random
 * once per process (idmap_slot).
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
	unsigned shift;  /* 64 - log2(capacity): the slot is the hash's high bits */
	size_t count;
} idmap;

/* Random per process; set before any map has slots (idmap.c). */
extern uint64_t idmap_secret[5];

/*
 * The slot where the search for `key` starts, in a map with slots: vector
 * multiply-shift over four 32-bit words (Dietzfelbinger; Thorup, "High Speed
 * Hashing for Integers and Strings", 2015), strongly universal for tables
 * up to 2^33 slots, so two ids share a slot with probability about
 * 1/capacity whatever the sender chose, unless their first 16 bytes agree.
 */
static inline size_t idmap_slot(const idmap *map, const uint8_t key[32])
{
	uint32_t w[4];

	memcpy(w, key, sizeof(w));
	return (size_t)((idmap_secret[0] * w[0] + idmap_secret[1] * w[1] + idmap_secret[2] * w[2] +
	                 idmap_secret[3] * w[3] + idmap_secret[4]) >> map->shift);
}

void idmap_init(idmap *map);
void idmap_release(idmap *map);
/* Make room for `count` ids in all, so that inserting them never rehashes; 0, or LEDGER_ENOMEM. */
int idmap_reserve(idmap *map, size_t count);
/* Insert or replace; 0, or LEDGER_ENOMEM. */
int idmap_put(idmap *map, const uint8_t key[32], size_t value);
/* 1 and *value when present, else 0. */
int idmap_get(const idmap *map, const uint8_t key[32], size_t *value);

/*
 * Start loading the slot idmap_get(key) reads first:
 * a run of lookups in a large map, each prefetched some keys ahead, does
 * not wait for memory one key at a time.  A hint: nothing changes.
 */
static inline void idmap_prefetch(const idmap *map, const uint8_t key[32])
{
	size_t i;

	if (!map->capacity)
		return;
	i = idmap_slot(map, key);
	__builtin_prefetch(&map->used[i]);
	__builtin_prefetch(map->keys[i]);
	__builtin_prefetch(&map->values[i]);
}

#endif
