/* Hash map over 32-byte ids; see idmap.h. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ledger/error.h"
#include "huge_pages.h"
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

uint64_t idmap_secret[5];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;

/* splitmix64's finaliser: spreads a weak seed over all 64 bits. */
static uint64_t mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

static void secret_draw(void)
{
	struct timespec real, mono;
	ssize_t n;
	int stack_mark;

	do
		n = getrandom(idmap_secret, sizeof(idmap_secret), 0);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(idmap_secret))
		return;
	/*
	 * No getrandom (old kernel, seccomp): the clocks' nanoseconds and the
	 * address layout (ASLR) are no secret from a local user, but one who
	 * sends the work from elsewhere cannot guess them to aim at slots.
	 */
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	idmap_secret[0] = mix64((uint64_t)real.tv_sec * 1000000000u + (uint64_t)real.tv_nsec);
	idmap_secret[1] = mix64(idmap_secret[0] ^ ((uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec));
	idmap_secret[2] = mix64(idmap_secret[1] ^ (uint64_t)getpid());
	idmap_secret[3] = mix64(idmap_secret[2] ^ (uint64_t)(uintptr_t)&stack_mark);
	idmap_secret[4] = mix64(idmap_secret[3] ^ (uint64_t)(uintptr_t)&secret_once);
}

/* Rehash into a table of `capacity` slots (a power of two, above the count). */
static int rehash(idmap *map, size_t capacity)
{
	idmap bigger;
	size_t i;

	pthread_once(&secret_once, secret_draw);
	bigger.capacity = capacity;
	bigger.shift = 64 - (unsigned)__builtin_ctzll(capacity);
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
	/*
	 * The slots are written all over at once: at 100,000 ids, 2,500 page
	 * faults of 4 KiB, half of indexing a verification's entries.
	 */
	huge_pages_advise(bigger.keys, bigger.capacity * sizeof(*bigger.keys));
	huge_pages_advise(bigger.values, bigger.capacity * sizeof(*bigger.values));
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
	for (i = idmap_slot(map, key);; i = (i + 1) & (map->capacity - 1)) {
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
	for (i = idmap_slot(map, key); map->used[i]; i = (i + 1) & (map->capacity - 1))
		if (memcmp(map->keys[i], key, 32) == 0) {
			*value = map->values[i];
			return 1;
		}
	return 0;
}
