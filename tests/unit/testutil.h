/* Small helpers shared by the libcheck suites. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"

/* Vectors live in ../shared/vectors; a suite that needs them skips (exit 77) when absent. */
static inline int testutil_vectors_present(const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", VECTORS_DIR, sub);
	return access(path, R_OK) == 0;
}

#define TESTUTIL_REQUIRE_VECTORS(sub)                                              \
	do {                                                                       \
		if (!testutil_vectors_present(sub)) {                              \
			fprintf(stderr, "SKIP: test vectors %s/%s not found "     \
			        "(../shared/vectors is absent)\n", VECTORS_DIR, sub); \
			exit(77);                                                  \
		}                                                                  \
	} while (0)

/* Run one suite, return the exit status automake expects. */
static inline int testutil_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* A whole file, NUL-terminated, malloc'd; NULL when it cannot be opened.  *len may be NULL. */
static inline char *testutil_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (!f)
		return NULL;
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	ck_assert_int_ge(size, 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)size;
	return buf;
}

/* A file the test needs: its absence is a failure. */
static inline char *testutil_read_text(const char *path)
{
	char *text = testutil_slurp(path, NULL);

	ck_assert_msg(text != NULL, "cannot open %s", path);
	return text;
}

/* Whether s ends with suffix. */
static inline int testutil_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A record-like path "records/ab/cd/<64 hex>.json" derived from `seed`. */
static inline void testutil_record_path(char out[96], uint64_t seed)
{
	char hex[65];

	for (int i = 0; i < 4; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		snprintf(hex + i * 16, 17, "%016llx", (unsigned long long)z);
	}
	snprintf(out, 96, "records/%.2s/%.2s/%s.json", hex, hex + 2, hex);
}

/* A fresh temporary directory under $TMPDIR, malloc'd path. */
static inline char *testutil_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base)
		base = "/tmp";
	if (asprintf(&path, "%s/cymat-test-XXXXXX", base) < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

#endif
