/*
 * The cache files' binary helpers (ledger/cache_io.c, private to the
 * library, so compiled into this suite): round trips, and every truncated
 * or over-long input fails the reader instead of reading past its end.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_io.h"
#include "testutil.h"

/* One of each: a u32, an i64, raw bytes, a string, the empty string and NULL. */
static uint8_t *sample(size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	int ok = 1;

	ck_assert_ptr_nonnull(f);
	cache_put_u32(f, &ok, 0xdeadbeefu);
	cache_put_i64(f, &ok, -1234567890123LL);
	cache_put(f, &ok, "raw!", 4);
	cache_put_str(f, &ok, "records/ab/cd.json");
	cache_put_str(f, &ok, "");
	cache_put_str(f, &ok, NULL);
	ck_assert_int_eq(ok, 1);
	ck_assert_int_eq(fclose(f), 0);
	return (uint8_t *)buf;
}

/* Read sample()'s sequence back from the first len bytes; the reader's ok at the end. */
static int read_sample(const uint8_t *buf, size_t len, int check)
{
	cache_reader rd = { buf, buf + len, 1 };
	uint8_t raw[4];
	uint32_t u = cache_get_u32(&rd);
	int64_t i = cache_get_i64(&rd);
	char *s, *empty, *null;

	cache_get(&rd, raw, 4);
	s = cache_get_str(&rd);
	empty = cache_get_str(&rd);
	null = cache_get_str(&rd);
	if (check) {
		ck_assert_uint_eq(u, 0xdeadbeefu);
		ck_assert(i == -1234567890123LL);
		ck_assert_mem_eq(raw, "raw!", 4);
		ck_assert_str_eq(s, "records/ab/cd.json");
		ck_assert_ptr_null(empty);
		ck_assert_ptr_null(null);
		ck_assert_ptr_eq(rd.p, rd.end);
	}
	free(s);
	free(empty);
	free(null);
	return rd.ok;
}

START_TEST(test_round_trip)
{
	size_t len = 0;
	uint8_t *buf = sample(&len);

	ck_assert_int_eq(read_sample(buf, len, 1), 1);
	free(buf);
}
END_TEST

/* Every proper prefix of the file fails the reader. */
START_TEST(test_truncated)
{
	size_t len = 0;
	uint8_t *buf = sample(&len);

	for (size_t cut = 0; cut < len; cut++) {
		/* A copy of exactly `cut` bytes, so that a read past it is an error valgrind and ASan see. */
		uint8_t *part = malloc(cut + 1);

		ck_assert_ptr_nonnull(part);
		memcpy(part, buf, cut);
		ck_assert_msg(read_sample(part, cut, 0) == 0, "a file cut to %zu bytes read whole", cut);
		free(part);
	}
	free(buf);
}
END_TEST

/* A string whose length runs past the end: NULL, the reader failed, and it stays failed. */
START_TEST(test_string_too_long)
{
	static const uint32_t lengths[] = { 10, 11, 100, UINT32_MAX };

	for (size_t k = 0; k < sizeof(lengths) / sizeof(lengths[0]); k++) {
		uint8_t buf[4 + 5 + 4];
		cache_reader rd = { buf, buf + sizeof(buf), 1 };
		uint32_t after;

		/* the length, then 9 bytes: the string would run past the end */
		memcpy(buf, &lengths[k], 4);
		memcpy(buf + 4, "abcde", 5);
		memset(buf + 9, 0x11, 4);
		ck_assert_ptr_null(cache_get_str(&rd));
		ck_assert_int_eq(rd.ok, 0);
		after = cache_get_u32(&rd);
		ck_assert_uint_eq(after, 0);
		ck_assert_int_eq(rd.ok, 0);
	}
}
END_TEST

/* An empty string is not a failure; a string that ends exactly at the end is whole. */
START_TEST(test_string_at_end)
{
	uint8_t buf[4 + 4 + 3];
	uint32_t zero = 0, three = 3;
	cache_reader rd = { buf, buf + sizeof(buf), 1 };
	char *s;

	memcpy(buf, &zero, 4);
	memcpy(buf + 4, &three, 4);
	memcpy(buf + 8, "xyz", 3);
	ck_assert_ptr_null(cache_get_str(&rd));
	ck_assert_int_eq(rd.ok, 1);
	s = cache_get_str(&rd);
	ck_assert_int_eq(rd.ok, 1);
	ck_assert_str_eq(s, "xyz");
	ck_assert_ptr_eq(rd.p, rd.end);
	free(s);
	ck_assert_ptr_null(cache_get_str(&rd));
	ck_assert_int_eq(rd.ok, 0);
}
END_TEST

/* take and get past the end: NULL, zeros, nothing consumed; later reads fail too. */
START_TEST(test_take_past_end)
{
	const uint8_t buf[6] = { 1, 2, 3, 4, 5, 6 };
	cache_reader rd = { buf, buf + sizeof(buf), 1 };
	uint8_t out[8];

	ck_assert_ptr_eq(cache_take(&rd, 2), buf);
	ck_assert_ptr_null(cache_take(&rd, 5));
	ck_assert_int_eq(rd.ok, 0);
	ck_assert_ptr_eq(rd.p, buf + 2);
	memset(out, 0xff, sizeof(out));
	cache_get(&rd, out, 1);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(cache_get_i64(&rd), 0);
	ck_assert_ptr_null(cache_take(&rd, 0));
}
END_TEST

/* A writer whose stream refuses writes fails and stays failed. */
START_TEST(test_writer_fails)
{
	char store[16] = "";
	FILE *f = fmemopen(store, sizeof(store), "r");
	int ok = 1;

	ck_assert_ptr_nonnull(f);
	cache_put_u32(f, &ok, 7);
	ck_assert_int_eq(ok, 0);
	cache_put_str(f, &ok, "x");
	ck_assert_int_eq(ok, 0);
	fclose(f);
}
END_TEST

/*
 * A file large enough to be read in two halves comes back whole, its
 * halves in place; a file shorter than the length asked for gives what it
 * holds, whether it ends in the second half or the first.
 */
START_TEST(test_read_split)
{
	size_t len = 3 * CACHE_SPLIT_READ_MIN + 5, asked[] = { len, len + 4096, 3 * len };
	char *dir = testutil_tmpdir(), *path = NULL;
	uint8_t *data = malloc(len);
	int fd;

	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(data);
	ck_assert_int_ge(asprintf(&path, "%s/file", dir), 0);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, data, len) == (ssize_t)len);
	for (size_t k = 0; k < sizeof(asked) / sizeof(asked[0]); k++) {
		uint8_t *buf = malloc(asked[k]);

		ck_assert_ptr_nonnull(buf);
		ck_assert_uint_eq(cache_read_all_split(fd, buf, asked[k]), len);
		ck_assert_mem_eq(buf, data, len);
		free(buf);
	}
	close(fd);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
	free(data);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_io");
	TCase *tc = tcase_create("cache_io");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_string_too_long);
	tcase_add_test(tc, test_string_at_end);
	tcase_add_test(tc, test_take_past_end);
	tcase_add_test(tc, test_writer_fails);
	tcase_add_test(tc, test_read_split);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
