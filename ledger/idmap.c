/* Hash map over 32-byte ids; see idmap.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ledger/error.h"
#include "idmap.h"

void idmap_init(idmap *map)
{
	memset(map, 0, sizeof(*map));
}

void idmap_release(idmap *map)
{
	free(map->keys);
	free(map->values);
	free(map->used);
	idmap_init(map);
}

/* The ids are SHA-256 outputs: their first bytes are already a good hash. */
static size_t slot_of(const uint8_t key[32], size_t capacity)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return (size_t)h & (capacity - 1);
}

/* Rehash into a table of `capacity` slots (a power of two, above the count). */
static int rehash(idmap *map, size_t capacity)
{
	idmap bigger;
	size_t i;

	bigger.capacity = capacity;
	bigger.count = 0;
	bigger.keys = malloc(bigger.capacity * sizeof(*bigger.keys));
	bigger.values = malloc(bigger.capacity * sizeof(*bigger.values));
	bigger.used = calloc(bigger.capacity, 1);
	if (!bigger.keys || !bigger.values || !bigger.used) {
		free(bigger.keys);
		free(bigger.values);
		free(bigger.used);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	for (i = 0; i < map->capacity; i++)
		if (map->used[i])
			idmap_put(&bigger, map->keys[i], map->values[i]);
	idmap_release(map);
	*map = bigger;
	return 0;
}

static int grow(idmap *map)
{
	return rehash(map, map->capacity ? map->capacity * 2 : 64);
}

int idmap_reserve(idmap *map, size_t count)
{
	size_t capacity = map->capacity ? map->capacity : 64;

	while (count * 4 > capacity * 3)
		capacity *= 2;
	return capacity > map->capacity ? rehash(map, capacity) : 0;
}

int idmap_put(idmap *map, const uint8_t key[32], size_t value)
{
	size_t i;
	int r;

	if ((map->count + 1) * 4 > map->capacity * 3 && (r = grow(map)) < 0)
		return r;
	for (i = slot_of(key, map->capacity);; i = (i + 1) & (map->capacity - 1)) {
		if (!map->used[i]) {
			map->used[i] = 1;
			memcpy(map->keys[i], key, 32);
			map->values[i] = value;
			map->count++;
			return 0;
		}
		if (memcmp(map->keys[i], key, 32) == 0) {
			map->values[i] = value;
			return 0;
		}
	}
}

int idmap_get(const idmap *map, const uint8_t key[32], size_t *value)
{
	size_t i;

	if (!map->capacity)
		return 0;
	for (i = slot_of(key, map->capacity); map->used[i]; i = (i + 1) & (map->capacity - 1))
		if (memcmp(map->keys[i], key, 32) == 0) {
			*value = map->values[i];
			return 1;
		}
	return 0;
}
