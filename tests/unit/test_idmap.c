/*
 * The id map (ledger/idmap.c, private to the library, so compiled into this
 * suite): ids a sender ground to agree in their first 8 bytes, which a hash
 * of those bytes alone puts in one slot run, still spread out, so probing
 * stays short.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "idmap.h"
#include "testutil.h"

#define AIMED_COUNT 20000
/* Far above linear probing's longest run at this load with a random hash (~150), far below AIMED_COUNT. */
#define LONGEST_RUN_BOUND 1000

/* The i-th id: the same first 8 bytes, then i, then zeros (like a padded SHA-1). */
static void aimed_id(uint8_t id[32], uint32_t i)
{
	memset(id, 0, 32);
	memset(id, 0xa5, 8);
	memcpy(id + 8, &i, sizeof(i));
}

/* The longest run of occupied slots: what a lookup may have to walk. */
static size_t longest_run(const idmap *map)
{
	size_t start, longest = 0, run = 0;

	for (start = 0; map->used[start]; start++)
		;
	for (size_t n = 1; n <= map->capacity; n++) {
		size_t i = (start + n) & (map->capacity - 1);

		run = map->used[i] ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	return longest;
}

START_TEST(test_aimed_ids_spread)
{
	idmap map;
	uint8_t id[32];
	size_t value;

	idmap_init(&map);
	for (uint32_t i = 0; i < AIMED_COUNT; i++) {
		aimed_id(id, i);
		ck_assert_int_eq(idmap_put(&map, id, i), 0);
	}
	ck_assert_uint_eq(map.count, AIMED_COUNT);
	ck_assert_msg(longest_run(&map) <= LONGEST_RUN_BOUND, "a slot run of %zu ids (bound %d)",
	              longest_run(&map), LONGEST_RUN_BOUND);
	for (uint32_t i = 0; i < AIMED_COUNT; i++) {
		aimed_id(id, i);
		ck_assert_int_eq(idmap_get(&map, id, &value), 1);
		ck_assert_uint_eq(value, i);
	}
	aimed_id(id, AIMED_COUNT);
	ck_assert_int_eq(idmap_get(&map, id, &value), 0);
	idmap_release(&map);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("idmap");
	TCase *tc = tcase_create("idmap");

	tcase_add_test(tc, test_aimed_ids_spread);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
