/*
 * Bundles through the library: the header written, refusals of create, and
 * imports refused on their header or their content leaving the ledger as
 * it was (with stock git as the checker of what create writes).
 */
#include "config.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testshell.h"
#include "testutil.h"

static char *base_dir(void)
{
	char *dir = strdup("/tmp/cymat-bundle-XXXXXX");

	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static void put(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* A ledger of unsigned commits adding fake record files: enough for the store's side. */
static ledger_repo *ledger_at(const char *path, int appends)
{
	static const char *files[] = {
		"records/00/11/0011000000000000000000000000000000000000000000000000000000000000.json",
		"records/22/33/2233000000000000000000000000000000000000000000000000000000000000.json",
		"records/44/55/4455000000000000000000000000000000000000000000000000000000000000.json",
	};
	ledger_commit_options o = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_file f[1] = { { "LEDGER", "{\"format\":\"cymat-ledger/1\"}", 27 } };
	char tip[LEDGER_OID_HEX_LEN + 1];
	ledger_repo *repo = NULL;

	o.message = "root: test\n";
	o.name = "nisc/tester";
	o.email = "tester@cymat.invalid";
	o.time = 1767225600;
	ck_assert_msg(ledger_repo_init(&repo, path, f, 1, &o) == 0, "init: %s", testshell_errmsg());
	for (int i = 0; i < appends; i++) {
		f[0].path = files[i];
		f[0].data = "{\"record\":1}";
		f[0].len = 12;
		o.message = "note: test\n";
		o.time++;
		ck_assert_msg(ledger_repo_append(tip, repo, f, 1, &o) == 0, "append: %s", testshell_errmsg());
	}
	return repo;
}

/* The names in a directory, sorted, one a line (".", ".." left out). */
static char *listing(const char *dir)
{
	char *out = NULL;
	size_t len = 0;
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	ck_assert_int_ge(n, 0);
	out = calloc(1, 1);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
			size_t k = strlen(names[i]->d_name);

			out = realloc(out, len + k + 2);
			memcpy(out + len, names[i]->d_name, k);
			out[len + k] = '\n';
			len += k + 1;
			out[len] = '\0';
		}
		free(names[i]);
	}
	free(names);
	return out;
}

static unsigned int progress_calls;

static void count_progress(const char *stage, uint64_t done, uint64_t total, void *payload)
{
	(void)done;
	(void)total;
	(void)payload;
	ck_assert_ptr_nonnull(stage);
	progress_calls++;
}

START_TEST(test_create_header)
{
	char *dir = base_dir(), *lp = path_in(dir, "l.git"), *bp = path_in(dir, "x.bundle");
	ledger_repo *repo = ledger_at(lp, 2);
	ledger_bundle_create_options opts = LEDGER_BUNDLE_CREATE_OPTIONS_INIT;
	ledger_bundle_info info;
	char tip[LEDGER_OID_HEX_LEN + 1], *expect, *data;
	size_t len;

	ck_assert_int_eq(ledger_repo_head(tip, repo), 0);
	opts.progress = count_progress;
	progress_calls = 0;
	ck_assert_msg(ledger_bundle_create(&info, repo, bp, &opts) == 0, "%s", testshell_errmsg());
	ck_assert_uint_gt(progress_calls, 0);
	ck_assert_str_eq(info.tip, tip);
	ck_assert_str_eq(info.since, "");
	ck_assert_uint_eq(info.commits, 3);
	data = testutil_slurp(bp, &len);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(len, info.bytes);
	ck_assert_int_ge(asprintf(&expect, "# v2 git bundle\n%s refs/heads/main\n%s HEAD\n\nPACK",
	                          tip, tip), 0);
	ck_assert_int_eq(memcmp(data, expect, strlen(expect)), 0);
	free(expect);
	free(data);
	/* Stock git reads it. */
	ck_assert_int_eq(testshell_run("git -C '%s' bundle verify '%s' >/dev/null 2>&1", lp, bp), 0);
	ck_assert_int_eq(testshell_run("git clone -q '%s' '%s/clone' >/dev/null 2>&1", bp, dir), 0);
	ck_assert_int_eq(testshell_run("test \"$(git -C '%s/clone' rev-parse main)\" = %s", dir, tip), 0);

	/* --since: the prerequisite line, then the refs. */
	opts.since = "main~2";
	ck_assert_msg(ledger_bundle_create(&info, repo, bp, &opts) == 0, "%s", testshell_errmsg());
	ck_assert_uint_eq(info.commits, 2);
	data = testutil_slurp(bp, NULL);
	ck_assert_int_ge(asprintf(&expect, "# v2 git bundle\n-%s root: test\n%s refs/heads/main\n",
	                          info.since, tip), 0);
	ck_assert_int_eq(memcmp(data, expect, strlen(expect)), 0);
	free(expect);
	free(data);

	ledger_repo_free(repo);
	testshell_run("rm -rf '%s'", dir);
	free(lp);
	free(bp);
	free(dir);
}
END_TEST

START_TEST(test_create_refusals)
{
	char *dir = base_dir(), *lp = path_in(dir, "l.git"), *out = path_in(dir, "out");
	char *bp = path_in(out, "x.bundle"), *names;
	ledger_repo *repo = ledger_at(lp, 1);
	ledger_bundle_create_options opts = LEDGER_BUNDLE_CREATE_OPTIONS_INIT;
	ledger_bundle_info info;

	ck_assert_int_eq(testshell_run("mkdir '%s'", out), 0);
	opts.since = "main";
	ck_assert_int_eq(ledger_bundle_create(&info, repo, bp, &opts), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "nothing to bundle"));
	opts.since = "no-such-rev";
	ck_assert_int_eq(ledger_bundle_create(&info, repo, bp, &opts), LEDGER_ENOTFOUND);
	opts.since = NULL;
	opts.version = 99;
	ck_assert_int_eq(ledger_bundle_create(&info, repo, bp, &opts), LEDGER_EINVALID);
	names = listing(out);
	ck_assert_str_eq(names, "");
	free(names);

	ledger_repo_free(repo);
	testshell_run("rm -rf '%s'", dir);
	free(lp);
	free(out);
	free(bp);
	free(dir);
}
END_TEST

/* Import `data` as a bundle: the code returned; main and the packs unchanged, no quarantine left. */
static int import_unchanged(ledger_repo *repo, const char *dir, const char *data, size_t len)
{
	ledger_bundle_import_result res;
	char before[LEDGER_OID_HEX_LEN + 1], after[LEDGER_OID_HEX_LEN + 1];
	char *bp = path_in(dir, "in.bundle"), *packs = path_in(ledger_repo_git_dir(repo),
	                                                      "objects/pack");
	char *state = path_in(ledger_repo_git_dir(repo), "cymat");
	char *packs_before = listing(packs), *packs_after, *state_after;
	int r;

	put(bp, data, len);
	ck_assert_int_eq(ledger_repo_head(before, repo), 0);
	r = ledger_bundle_import(&res, repo, bp, NULL);
	ck_assert_int_eq(ledger_repo_head(after, repo), 0);
	ck_assert_str_eq(before, after);
	ck_assert_str_eq(res.after, before);
	packs_after = listing(packs);
	ck_assert_str_eq(packs_before, packs_after);
	state_after = listing(state);
	ck_assert_ptr_null(strstr(state_after, "import-"));
	ledger_bundle_import_result_clear(&res);
	free(packs_before);
	free(packs_after);
	free(state_after);
	free(packs);
	free(state);
	free(bp);
	return r;
}

START_TEST(test_import_header_refusals)
{
	char *dir = base_dir(), *lp = path_in(dir, "l.git"), *text, *line;
	ledger_repo *repo = ledger_at(lp, 1);
	char tip[LEDGER_OID_HEX_LEN + 1];

	ck_assert_int_eq(ledger_repo_head(tip, repo), 0);
	ck_assert_int_eq(import_unchanged(repo, dir, "hello\n", 6), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "is not a git bundle"));
	ck_assert_int_eq(import_unchanged(repo, dir, "", 0), LEDGER_EINVALID);
	ck_assert_int_eq(import_unchanged(repo, dir, "# v3 git bundle\n@object-format=sha1\n\n", 37),
	                 LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "version 3"));
	ck_assert_int_ge(asprintf(&text, "# v2 git bundle\n%s refs/heads/other\n%s HEAD\n\nPACK", tip,
	                          tip), 0);
	ck_assert_int_eq(import_unchanged(repo, dir, text, strlen(text)), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(),
	                             "no refs/heads/main (its 2 references: refs/heads/other, HEAD)"));
	free(text);
	ck_assert_int_ge(asprintf(&text, "# v2 git bundle\n%s refs/heads/main\n%s refs/heads/main\n\n",
	                          tip, tip), 0);
	ck_assert_int_eq(import_unchanged(repo, dir, text, strlen(text)), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "named twice"));
	free(text);
	ck_assert_int_ge(asprintf(&text, "# v2 git bundle\n-%s lost\n%s refs/heads/main\n\nPACK",
	                          "0123456789abcdef0123456789abcdef01234567", tip), 0);
	ck_assert_int_eq(import_unchanged(repo, dir, text, strlen(text)), LEDGER_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "0123456789abcdef0123456789abcdef01234567 (\"lost\")"));
	free(text);
	ck_assert_int_ge(asprintf(&text, "# v2 git bundle\n%s refs/heads/main\n\n", tip), 0);
	ck_assert_int_eq(import_unchanged(repo, dir, text, strlen(text)), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "no pack"));
	free(text);
	/* Upper-case hex, a line too long, a header without its end. */
	ck_assert_int_ge(asprintf(&text, "# v2 git bundle\n%s refs/heads/main\n\n",
	                          "ABCDEF0123456789ABCDEF0123456789ABCDEF01"), 0);
	ck_assert_int_eq(import_unchanged(repo, dir, text, strlen(text)), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "header line 2"));
	free(text);
	line = malloc(9001);
	memset(line, 'a', 9000);
	line[9000] = '\0';
	ck_assert_int_ge(asprintf(&text, "# v2 git bundle\n%s %s\n\n", tip, line), 0);
	ck_assert_int_eq(import_unchanged(repo, dir, text, strlen(text)), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "too long"));
	free(text);
	free(line);
	ck_assert_int_ge(asprintf(&text, "# v2 git bundle\n%s refs/heads/main\n", tip), 0);
	ck_assert_int_eq(import_unchanged(repo, dir, text, strlen(text)), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "truncated"));
	free(text);

	ledger_repo_free(repo);
	testshell_run("rm -rf '%s'", dir);
	free(lp);
	free(dir);
}
END_TEST

START_TEST(test_import_own_and_refused)
{
	char *dir = base_dir(), *ap = path_in(dir, "a.git"), *bp = path_in(dir, "b.git");
	char *bundle = path_in(dir, "a.bundle"), *data;
	ledger_repo *a = ledger_at(ap, 3), *b = ledger_at(bp, 1);
	ledger_bundle_create_options copts = LEDGER_BUNDLE_CREATE_OPTIONS_INIT;
	ledger_bundle_import_result res;
	ledger_bundle_info info;
	char tip[LEDGER_OID_HEX_LEN + 1];
	size_t len;

	ck_assert_int_eq(ledger_repo_head(tip, a), 0);
	ck_assert_msg(ledger_bundle_create(&info, a, bundle, &copts) == 0, "%s", testshell_errmsg());
	/* Into the ledger it came from: up to date, nothing changes. */
	data = testutil_slurp(bundle, &len);
	ck_assert_int_eq(import_unchanged(a, dir, data, len), 0);
	ck_assert_int_eq(ledger_bundle_import(&res, a, bundle, NULL), 0);
	ck_assert_int_eq(res.up_to_date, 1);
	ck_assert_str_eq(res.after, tip);
	ck_assert_str_eq(res.bundle.tip, tip);
	ck_assert_uint_gt(res.bundle.objects, 0);
	ledger_bundle_import_result_clear(&res);
	/*
	 * Into a ledger that shares its genesis: the fake records are no
	 * records at all, so verification refuses them.
	 */
	ck_assert_int_lt(import_unchanged(b, dir, data, len), 0);
	/* A pack with one byte changed. */
	data[len - 30] ^= 0x55;
	ck_assert_int_eq(import_unchanged(b, dir, data, len), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "its pack is damaged"));
	free(data);

	ledger_repo_free(a);
	ledger_repo_free(b);
	testshell_run("rm -rf '%s'", dir);
	free(ap);
	free(bp);
	free(bundle);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bundle");
	TCase *tc = tcase_create("bundle");

	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("CYMAT_SCHEMAS_DIR", SCHEMAS_DIR, 1);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_create_header);
	tcase_add_test(tc, test_create_refusals);
	tcase_add_test(tc, test_import_header_refusals);
	tcase_add_test(tc, test_import_own_and_refused);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
