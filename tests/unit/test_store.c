/*
 * The store against real repositories, with stock git as the independent
 * checker (fsck --strict, clone, log, cat-file) and git plumbing to build
 * the histories the store itself would never write.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <git2.h>

#include "testshell.h"
#include "testutil.h"

#define KID "5f2c7a1e9b3d4c6f8a0b2d4e6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d2f4a"
#define ARMOUR "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n"

static void check_fsck(const char *dir)
{
	ck_assert_msg(testshell_run("git --git-dir='%s' fsck --strict --no-dangling >/dev/null 2>&1", dir) == 0,
	              "git fsck --strict failed on %s", dir);
}

static int lock_exists(ledger_repo *repo);

static ledger_commit_options opts_msg(const char *message)
{
	ledger_commit_options o = LEDGER_COMMIT_OPTIONS_INIT;

	o.message = message;
	o.name = "nisc/tester";
	o.email = KID "@cymat.invalid";
	o.time = 1767225600;
	return o;
}

static char *tmp_repo(char **base)
{
	char *path;

	*base = testutil_tmpdir();
	ck_assert_ptr_nonnull(*base);
	ck_assert_int_ge(asprintf(&path, "%s/ledger.git", *base), 0);
	return path;
}

static void cleanup(char *base)
{
	testshell_run("rm -rf '%s'", base);
	free(base);
}

/* A new ledger whose genesis holds LEDGER and one record (seed 0). */
static ledger_repo *genesis(const char *path)
{
	char rec[96];
	ledger_file files[2] = {
		{ "LEDGER", "{\"format\":\"cymat-ledger/1\"}", 27 },
		{ NULL, "{\"record\":0}", 12 },
	};
	ledger_commit_options o = opts_msg("root: genesis\n");
	ledger_repo *repo = NULL;

	testutil_record_path(rec, 0);
	files[1].path = rec;
	ck_assert_msg(ledger_repo_init(&repo, path, files, 2, &o) == 0, "init: %s", testshell_errmsg());
	return repo;
}

/* A record's body, with `pad` bytes of padding (which zlib shrinks to almost nothing) if not 0. */
static char *record_body_padded(uint64_t seed, size_t pad)
{
	char *s;

	if (pad)
		ck_assert_int_ge(asprintf(&s, "{\"record\":%llu,\"pad\":\"%0*d\"}",
		                          (unsigned long long)seed, (int)pad, 0), 0);
	else
		ck_assert_int_ge(asprintf(&s, "{\"record\":%llu}", (unsigned long long)seed), 0);
	return s;
}

static char *record_body(uint64_t seed)
{
	return record_body_padded(seed, 0);
}

/* Records first.. (bodies padded by `pad` bytes) as one commit. */
static int append_padded(ledger_repo *repo, uint64_t first, size_t n, size_t pad, char tip[41])
{
	ledger_file *files = calloc(n, sizeof(*files));
	char (*paths)[96] = calloc(n, sizeof(*paths));
	ledger_commit_options o = opts_msg("batch: records\n");
	int r;

	ck_assert_ptr_nonnull(files);
	ck_assert_ptr_nonnull(paths);
	for (size_t i = 0; i < n; i++) {
		testutil_record_path(paths[i], first + i);
		files[i].path = paths[i];
		files[i].data = record_body_padded(first + i, pad);
		files[i].len = strlen(files[i].data);
	}
	r = ledger_repo_append(tip, repo, files, n, &o);
	for (size_t i = 0; i < n; i++)
		free((char *)files[i].data);
	free(files);
	free(paths);
	return r;
}

static int append_seeds(ledger_repo *repo, uint64_t first, size_t n, char tip[41])
{
	return append_padded(repo, first, n, 0, tip);
}

struct collect {
	size_t count;
	char last[256];
	int ordered;
	int bodies_ok;
};

static int collect_cb(const char *path, const char *data, size_t len, void *payload)
{
	struct collect *c = payload;

	if (c->count && strcmp(c->last, path) >= 0)
		c->ordered = 0;
	snprintf(c->last, sizeof(c->last), "%s", path);
	if (len < 10 || strncmp(data, "{\"record\":", 10) != 0)
		c->bodies_ok = 0;
	c->count++;
	return 0;
}

static size_t count_records(ledger_repo *repo, const char *commit)
{
	struct collect c = { 0, "", 1, 1 };

	ck_assert_msg(ledger_repo_foreach_record(repo, commit, collect_cb, &c) == 0, "foreach: %s",
	              testshell_errmsg());
	ck_assert(c.ordered);
	ck_assert(c.bodies_ok);
	return c.count;
}

static size_t count_loose(const char *git_dir)
{
	char *s = testshell_out("find '%s/objects' -path '*/objects/[0-9a-f][0-9a-f]/*' -type f | wc -l",
	                  git_dir);
	size_t n = strtoul(s, NULL, 10);

	free(s);
	return n;
}

static size_t count_packs(const char *git_dir)
{
	char *s = testshell_out("ls '%s/objects/pack' | grep -c '\\.pack$' || true", git_dir);
	size_t n = strtoul(s, NULL, 10);

	free(s);
	return n;
}

START_TEST(test_init_append_read)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path), *again = NULL;
	char g[41], tip[41], rec[96], res[41];
	char *data = NULL, *value = NULL;
	const char *state;
	size_t len, n;
	struct collect c = { 0, "", 1, 1 };

	ck_assert_int_eq(ledger_repo_head(g, repo), 0);
	ck_assert_int_eq(strlen(g), 40);
	ck_assert_int_eq(ledger_repo_append(tip, repo, NULL, 0, &(ledger_commit_options)
	                 { 1, "x\n", "a/b", "e@x", 0, NULL, NULL }), 0);
	ck_assert_str_eq(tip, g);
	ck_assert_int_eq(append_seeds(repo, 1, 3, tip), 0);
	ck_assert_str_ne(tip, g);
	ck_assert_int_eq(ledger_repo_head(res, repo), 0);
	ck_assert_str_eq(res, tip);

	/* read: the tip, an older commit, a missing file */
	testutil_record_path(rec, 2);
	ck_assert_int_eq(ledger_repo_read(&data, &len, repo, NULL, rec), 0);
	ck_assert_str_eq(data, "{\"record\":2}");
	ck_assert_uint_eq(len, 12);
	free(data);
	ck_assert_int_eq(ledger_repo_read(&data, &len, repo, NULL, "LEDGER"), 0);
	ck_assert_str_eq(data, "{\"format\":\"cymat-ledger/1\"}");
	free(data);
	ck_assert_int_eq(ledger_repo_read(&data, &len, repo, g, rec), LEDGER_ENOTFOUND);
	ck_assert_ptr_null(data);

	/* foreach: 4 records in path order; added since genesis: 3 */
	ck_assert_uint_eq(count_records(repo, NULL), 4);
	ck_assert_uint_eq(count_records(repo, g), 1);
	ck_assert_int_eq(ledger_repo_foreach_added(repo, g, NULL, collect_cb, &c), 0);
	ck_assert_uint_eq(c.count, 3);
	ck_assert(c.ordered);
	c.count = 0;
	ck_assert_int_eq(ledger_repo_foreach_added(repo, NULL, tip, collect_cb, &c), 0);
	ck_assert_uint_eq(c.count, 4);

	/* resolve, count, ancestry */
	ck_assert_int_eq(ledger_repo_resolve(res, repo, "main"), 0);
	ck_assert_str_eq(res, tip);
	ck_assert_int_eq(ledger_repo_resolve(res, repo, "refs/heads/main~1"), 0);
	ck_assert_str_eq(res, g);
	ck_assert_int_eq(ledger_repo_resolve(res, repo, "nosuchref"), LEDGER_ENOTFOUND);
	ck_assert_int_eq(ledger_repo_count_commits(&n, repo, NULL, tip), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(ledger_repo_count_commits(&n, repo, g, tip), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ledger_repo_is_ancestor(repo, g, tip), 1);
	ck_assert_int_eq(ledger_repo_is_ancestor(repo, tip, g), 0);
	ck_assert_int_eq(ledger_repo_is_ancestor(repo, tip, tip), 1);

	/* config: local, read back by stock git */
	ck_assert_int_eq(ledger_repo_config_get(&value, repo, "cymat.root"), LEDGER_ENOTFOUND);
	ck_assert_int_eq(ledger_repo_config_set(repo, "cymat.root", "abc123"), 0);
	ck_assert_int_eq(ledger_repo_config_get(&value, repo, "cymat.root"), 0);
	ck_assert_str_eq(value, "abc123");
	free(value);
	value = testshell_out("git --git-dir='%s' config --local cymat.root", path);
	ck_assert_str_eq(value, "abc123");
	free(value);

	/* state dir */
	ck_assert_int_eq(ledger_repo_state_dir(&state, repo), 0);
	ck_assert_ptr_nonnull(strstr(state, "/cymat"));
	ck_assert_int_eq(access(state, W_OK), 0);

	/* a second handle sees the same; HEAD is main; bare */
	ck_assert_int_eq(ledger_repo_open(&again, path), 0);
	ck_assert_int_eq(ledger_repo_head(res, again), 0);
	ck_assert_str_eq(res, tip);
	ledger_repo_free(again);
	value = testshell_out("git --git-dir='%s' symbolic-ref HEAD", path);
	ck_assert_str_eq(value, "refs/heads/main");
	free(value);
	value = testshell_out("git --git-dir='%s' rev-parse --is-bare-repository", path);
	ck_assert_str_eq(value, "true");
	free(value);

	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

START_TEST(test_init_refuses_and_open_errors)
{
	char *base = testutil_tmpdir(), *path, *file;
	ledger_file f = { "LEDGER", "{}", 2 };
	ledger_commit_options o = opts_msg("root: genesis\n");
	ledger_repo *repo = NULL;
	FILE *fp;

	ck_assert_int_ge(asprintf(&path, "%s/full", base), 0);
	ck_assert_int_ge(asprintf(&file, "%s/full/x", base), 0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	fp = fopen(file, "w");
	ck_assert_ptr_nonnull(fp);
	fclose(fp);
	ck_assert_int_eq(ledger_repo_init(&repo, path, &f, 1, &o), LEDGER_EEXISTS);
	ck_assert_ptr_null(repo);
	ck_assert_int_eq(access(file, F_OK), 0); /* left alone */

	/* open: no repository there, message names the path */
	ck_assert_int_eq(ledger_repo_open(&repo, path), LEDGER_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "is not a cymat ledger"));
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), path));

	/* invalid paths are refused, an empty existing dir is accepted */
	ck_assert_int_eq(unlink(file), 0);
	f.path = "records/../x";
	ck_assert_int_eq(ledger_repo_init(&repo, path, &f, 1, &o), LEDGER_EINVALID);
	f.path = "/abs";
	ck_assert_int_eq(ledger_repo_init(&repo, path, &f, 1, &o), LEDGER_EINVALID);
	f.path = "LEDGER";
	ck_assert_msg(ledger_repo_init(&repo, path, &f, 1, &o) == 0, "init: %s", testshell_errmsg());
	ledger_repo_free(repo);
	check_fsck(path);
	free(path);
	free(file);
	cleanup(base);
}
END_TEST

START_TEST(test_idempotent_and_eexists)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char t1[41], t2[41], rec[96];
	ledger_commit_options o = opts_msg("batch: records\n");
	ledger_file f;
	size_t n;

	ck_assert_int_eq(append_seeds(repo, 10, 5, t1), 0);
	/* the same files again: no commit */
	ck_assert_int_eq(append_seeds(repo, 10, 5, t2), 0);
	ck_assert_str_eq(t1, t2);
	/* partly new: one commit with only the new file */
	ck_assert_int_eq(append_seeds(repo, 12, 4, t2), 0);
	ck_assert_str_ne(t1, t2);
	ck_assert_int_eq(ledger_repo_count_commits(&n, repo, NULL, NULL), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(count_records(repo, NULL), 1 + 5 + 1);

	/* different bytes at an existing path */
	testutil_record_path(rec, 11);
	f.path = rec;
	f.data = "{\"record\":\"changed\"}";
	f.len = strlen(f.data);
	ck_assert_int_eq(ledger_repo_append(t1, repo, &f, 1, &o), LEDGER_EEXISTS);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), rec));
	/* the same path twice in one call with different bytes */
	{
		ledger_file two[2] = { { "records/zz/zz/a.json", "1", 1 },
		                       { "records/zz/zz/a.json", "2", 1 } };

		ck_assert_int_eq(ledger_repo_append(t1, repo, two, 2, &o), LEDGER_EEXISTS);
	}
	/* a file where a directory is */
	f.path = "records";
	ck_assert_int_eq(ledger_repo_append(t1, repo, &f, 1, &o), LEDGER_EEXISTS);
	ck_assert_int_eq(ledger_repo_head(t1, repo), 0);
	ck_assert_str_eq(t1, t2);
	/* the lock was released every time */
	ck_assert_int_eq(append_seeds(repo, 100, 1, t1), 0);
	check_fsck(path);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

static int fixed_signer(char **out, const char *buf, size_t len, void *payload)
{
	int *calls = payload;

	(*calls)++;
	if (len == 0 || strncmp(buf, "tree ", 5) != 0)
		return LEDGER_EINVALID;
	*out = strdup(ARMOUR);
	return *out ? 0 : LEDGER_ENOMEM;
}

START_TEST(test_fsck_clone_signed)
{
	char *base, *path = tmp_repo(&base), *clone, *s;
	ledger_repo *repo = genesis(path), *cr = NULL;
	ledger_commit_options o = opts_msg("principal: bind nisc/alice\n\nRecord: 1\n");
	char tip[41], res[41], rec[96];
	ledger_file f;
	int calls = 0;

	check_fsck(path);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(append_seeds(repo, 20 + i * 3, 3, tip), 0);
	testutil_record_path(rec, 99);
	f.path = rec;
	f.data = "{\"record\":99}";
	f.len = strlen(f.data);
	o.sign = fixed_signer;
	o.sign_payload = &calls;
	ck_assert_msg(ledger_repo_append(tip, repo, &f, 1, &o) == 0, "%s", testshell_errmsg());
	ck_assert_int_eq(calls, 1);
	check_fsck(path);

	/* stock git sees the gpgsig header, author and message */
	s = testshell_out("git --git-dir='%s' cat-file -p %s", path, tip);
	ck_assert_ptr_nonnull(strstr(s, "\ngpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lHAAAAAQ==\n"
	                                " -----END SSH SIGNATURE-----\n\nprincipal: bind"));
	ck_assert_ptr_nonnull(strstr(s, "author nisc/tester <" KID "@cymat.invalid> 1767225600 +0000"));
	free(s);

	/* clone: a normal work tree whose log shows all commits */
	ck_assert_int_ge(asprintf(&clone, "%s/clone", base), 0);
	ck_assert_int_eq(testshell_run("git clone -q '%s' '%s' 2>/dev/null", path, clone), 0);
	s = testshell_out("git -C '%s' log --format=%%H main | wc -l", clone);
	ck_assert_str_eq(s, "7");
	free(s);
	s = testshell_out("git -C '%s' log --format=%%s -1", clone);
	ck_assert_str_eq(s, "principal: bind nisc/alice");
	free(s);
	s = testshell_out("cat '%s/%s'", clone, rec);
	ck_assert_str_eq(s, "{\"record\":99}");
	free(s);
	/* the clone opens as a ledger, by work tree and by .git */
	ck_assert_msg(ledger_repo_open(&cr, clone) == 0, "%s", testshell_errmsg());
	ck_assert_int_eq(ledger_repo_head(res, cr), 0);
	ck_assert_str_eq(res, tip);
	ck_assert_ptr_nonnull(strstr(ledger_repo_git_dir(cr), "/clone/.git"));
	ck_assert_uint_eq(count_records(cr, NULL), 1 + 15 + 1);
	ledger_repo_free(cr);
	free(clone);
	ck_assert_int_ge(asprintf(&clone, "%s/clone/.git", base), 0);
	ck_assert_int_eq(ledger_repo_open(&cr, clone), 0);
	ledger_repo_free(cr);
	free(clone);

	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

struct mover {
	const char *git_dir;
	const char *to;
};

/* A signer that moves main behind the store's back, as a writer ignoring the lock would. */
static int moving_signer(char **out, const char *buf, size_t len, void *payload)
{
	const struct mover *m = payload;

	(void)buf;
	(void)len;
	if (testshell_run("git --git-dir='%s' update-ref refs/heads/main %s", m->git_dir, m->to) != 0)
		return LEDGER_EIO;
	*out = strdup(ARMOUR);
	return *out ? 0 : LEDGER_ENOMEM;
}

START_TEST(test_append_cas_conflict)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	ledger_commit_options o = opts_msg("batch: records\n");
	char g[41], tip[41], now[41], rec[96];
	struct mover m;
	ledger_file f;

	ck_assert_int_eq(ledger_repo_head(g, repo), 0);
	ck_assert_int_eq(append_seeds(repo, 1, 1, tip), 0);
	m.git_dir = path;
	m.to = g;
	o.sign = moving_signer;
	o.sign_payload = &m;
	testutil_record_path(rec, 2);
	f.path = rec;
	f.data = "{\"record\":2}";
	f.len = strlen(f.data);
	ck_assert_int_eq(ledger_repo_append(now, repo, &f, 1, &o), LEDGER_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), tip));
	/* the ref is where the other writer put it, and the lock is free again */
	ck_assert_int_eq(ledger_repo_head(now, repo), 0);
	ck_assert_str_eq(now, g);
	ck_assert(!lock_exists(repo));
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

struct changes {
	size_t count;
	int kinds[8];
	char paths[8][128];
	char commits[8][41];
};

static int change_cb(const char *commit, ledger_change_kind kind, const char *path, void *payload)
{
	struct changes *c = payload;

	if (c->count < 8) {
		c->kinds[c->count] = kind;
		snprintf(c->paths[c->count], sizeof(c->paths[0]), "%s", path);
		snprintf(c->commits[c->count], sizeof(c->commits[0]), "%s", commit);
	}
	c->count++;
	return 0;
}

static int has_change(const struct changes *c, ledger_change_kind kind, const char *path)
{
	for (size_t i = 0; i < c->count && i < 8; i++)
		if (c->kinds[i] == (int)kind && strcmp(c->paths[i], path) == 0)
			return 1;
	return 0;
}

/*
 * A commit on `parent` whose tree is `parent`'s changed by `edit` (shell run
 * with GIT_DIR and GIT_INDEX_FILE set, the parent's tree in the index).
 */
static char *plumb_commit(const char *git_dir, const char *parents, const char *base_tree,
                          const char *edit)
{
	return testshell_out("export GIT_DIR='%s' GIT_INDEX_FILE='%s/plumb.index'; "
	               "git read-tree %s && %s && t=$(git write-tree) && "
	               "git commit-tree $t %s -m plumbed", git_dir, git_dir, base_tree, edit,
	               parents);
}

/* plumb_commit with the edit formatted from `fmt`; the new commit's id (the caller frees it). */
static char *plumb_commitf(const char *git_dir, const char *parents, const char *base_tree,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static char *plumb_commitf(const char *git_dir, const char *parents, const char *base_tree,
                           const char *fmt, ...)
{
	char *edit, *commit;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&edit, fmt, ap), 0);
	va_end(ap);
	commit = plumb_commit(git_dir, parents, base_tree, edit);
	free(edit);
	return commit;
}

/* ledger_repo_check_history from `from` to `to` into a fresh `ch`; its result. */
static int history_of(struct changes *ch, ledger_repo *repo, const char *from, const char *to)
{
	memset(ch, 0, sizeof(*ch));
	return ledger_repo_check_history(repo, from, to, change_cb, ch);
}

/*
 * A small tree a commit changes is taken as its parent's version plus one
 * entry when the other entries hash to the parent's (one_added): what the
 * check reports must not depend on it.  records/ab/cd/ holds a.json, then
 * a commit adds one file (bad mode), a directory, or adds one and
 * modifies, deletes or replaces another.
 */
START_TEST(test_check_history_small_trees)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char tip[41], *a, *c, *blob, *other, *p;
	struct changes ch;

	ck_assert_int_eq(append_seeds(repo, 1, 2, tip), 0);
	blob = testshell_out("printf one | git --git-dir='%s' hash-object -w --stdin", path);
	other = testshell_out("printf two | git --git-dir='%s' hash-object -w --stdin", path);
	ck_assert_int_ge(asprintf(&p, "-p %s", tip), 0);
	a = plumb_commitf(path, p, tip, "git update-index --add --cacheinfo "
	                  "100644,%s,records/ab/cd/a.json", blob);
	free(p);
	ck_assert_int_eq(history_of(&ch, repo, tip, a), 0);
	ck_assert_uint_eq(ch.count, 0);
	ck_assert_int_ge(asprintf(&p, "-p %s", a), 0);

	/* one file more, executable */
	c = plumb_commitf(path, p, a, "git update-index --add --cacheinfo 100755,%s,"
	                  "records/ab/cd/b.json", other);
	ck_assert_int_eq(history_of(&ch, repo, a, c), 0);
	ck_assert_uint_eq(ch.count, 1);
	ck_assert(has_change(&ch, LEDGER_CHANGE_BAD_MODE, "records/ab/cd/b.json"));
	ck_assert_int_eq(history_of(&ch, repo, NULL, c), 0);
	ck_assert_uint_eq(ch.count, 1);
	free(c);

	/* a directory more, with a file and a symlink in it */
	c = plumb_commitf(path, p, a, "git update-index --add --cacheinfo 100644,%s,"
	                  "records/ab/cd/d/x.json && git update-index --add "
	                  "--cacheinfo 120000,%s,records/ab/cd/d/y.json", other, other);
	ck_assert_int_eq(history_of(&ch, repo, a, c), 0);
	ck_assert_uint_eq(ch.count, 1);
	ck_assert(has_change(&ch, LEDGER_CHANGE_BAD_MODE, "records/ab/cd/d/y.json"));
	free(c);

	/* one more and one modified */
	c = plumb_commitf(path, p, a, "git update-index --cacheinfo 100644,%s,"
	                  "records/ab/cd/a.json && git update-index --add "
	                  "--cacheinfo 100644,%s,records/ab/cd/b.json", other, blob);
	ck_assert_int_eq(history_of(&ch, repo, a, c), 0);
	ck_assert_uint_eq(ch.count, 1);
	ck_assert(has_change(&ch, LEDGER_CHANGE_MODIFIED, "records/ab/cd/a.json"));
	free(c);

	/* one more and one deleted */
	c = plumb_commitf(path, p, a, "printf '0 %%040d\\t%%s\\n' 0 records/ab/cd/a.json | "
	                  "git update-index --index-info && git update-index --add "
	                  "--cacheinfo 100644,%s,records/ab/cd/b.json", blob);
	ck_assert_int_eq(history_of(&ch, repo, a, c), 0);
	ck_assert_uint_eq(ch.count, 1);
	ck_assert(has_change(&ch, LEDGER_CHANGE_DELETED, "records/ab/cd/a.json"));
	free(c);

	/* the file made executable: same bytes, another mode */
	c = plumb_commitf(path, p, a, "git update-index --cacheinfo 100755,%s,"
	                  "records/ab/cd/a.json", blob);
	ck_assert_int_eq(history_of(&ch, repo, a, c), 0);
	ck_assert_uint_eq(ch.count, 1);
	ck_assert(has_change(&ch, LEDGER_CHANGE_MODIFIED, "records/ab/cd/a.json"));
	free(c);

	free(p);
	free(a);
	free(blob);
	free(other);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

/*
 * A changed tree is compared with its parent's version by one merge of the
 * two entry lists when both have their names in byte order, else by a
 * search per entry: the findings and their order must be the same.
 * records/ab/cd/ holds a, c, e and g.json; one commit adds b and h.json
 * (executable), deletes c, modifies e and turns g.json into a directory
 * (names in byte order); another adds a directory "a" beside a.json (git
 * order puts "a.json" first, byte order "a": a search per entry) with an
 * executable file and deletes e.json, and its child deletes c.json (its
 * parent's tree, out of byte order, is compared again as the parent's).
 */
START_TEST(test_check_history_pairs_entries)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char tip[41], *a, *c, *d, *one, *two, *edit, *p, *order;
	struct changes ch;

	ck_assert_int_eq(append_seeds(repo, 1, 2, tip), 0);
	one = testshell_out("printf one | git --git-dir='%s' hash-object -w --stdin", path);
	two = testshell_out("printf two | git --git-dir='%s' hash-object -w --stdin", path);
	ck_assert_int_ge(asprintf(&edit, "for f in a c e g; do git update-index --add --cacheinfo "
	                          "100644,%s,records/ab/cd/$f.json || exit 1; done", one), 0);
	ck_assert_int_ge(asprintf(&p, "-p %s", tip), 0);
	a = plumb_commit(path, p, tip, edit);
	free(edit);
	free(p);
	ck_assert_int_eq(history_of(&ch, repo, tip, a), 0);
	ck_assert_uint_eq(ch.count, 0);
	ck_assert_int_ge(asprintf(&p, "-p %s", a), 0);

	ck_assert_int_ge(asprintf(&edit,
	                          "git update-index --add --cacheinfo 100755,%s,records/ab/cd/b.json && "
	                          "git update-index --add --cacheinfo 100755,%s,records/ab/cd/h.json && "
	                          "git update-index --cacheinfo 100644,%s,records/ab/cd/e.json && "
	                          "printf '0 %%040d\\t%%s\\n' 0 records/ab/cd/c.json 0 "
	                          "records/ab/cd/g.json | git update-index --index-info && "
	                          "git update-index --add --cacheinfo 100644,%s,"
	                          "records/ab/cd/g.json/z.json", two, two, two, two), 0);
	c = plumb_commit(path, p, a, edit);
	free(edit);
	ck_assert_int_eq(history_of(&ch, repo, a, c), 0);
	ck_assert_uint_eq(ch.count, 5);
	ck_assert_int_eq(ch.kinds[0], LEDGER_CHANGE_DELETED);
	ck_assert_str_eq(ch.paths[0], "records/ab/cd/c.json");
	ck_assert_int_eq(ch.kinds[1], LEDGER_CHANGE_BAD_MODE);
	ck_assert_str_eq(ch.paths[1], "records/ab/cd/b.json");
	ck_assert_int_eq(ch.kinds[2], LEDGER_CHANGE_MODIFIED);
	ck_assert_str_eq(ch.paths[2], "records/ab/cd/e.json");
	ck_assert_int_eq(ch.kinds[3], LEDGER_CHANGE_DELETED);
	ck_assert_str_eq(ch.paths[3], "records/ab/cd/g.json");
	ck_assert_int_eq(ch.kinds[4], LEDGER_CHANGE_BAD_MODE);
	ck_assert_str_eq(ch.paths[4], "records/ab/cd/h.json");
	/* the same from the start, where the parent's trees were read as a commit's own */
	ck_assert_int_eq(history_of(&ch, repo, NULL, c), 0);
	ck_assert_uint_eq(ch.count, 5);
	ck_assert_str_eq(ch.paths[0], "records/ab/cd/c.json");
	ck_assert_str_eq(ch.paths[4], "records/ab/cd/h.json");
	free(c);

	ck_assert_int_ge(asprintf(&edit,
	                          "git update-index --add --cacheinfo 100755,%s,records/ab/cd/a/z.json && "
	                          "printf '0 %%040d\\t%%s\\n' 0 records/ab/cd/e.json | "
	                          "git update-index --index-info", two), 0);
	c = plumb_commit(path, p, a, edit);
	free(edit);
	order = testshell_out("git --git-dir='%s' ls-tree %s:records/ab/cd | cut -f2 | tr '\\n' ' '",
	                      path, c);
	ck_assert_str_eq(order, "a.json a c.json g.json ");
	free(order);
	ck_assert_int_eq(history_of(&ch, repo, a, c), 0);
	ck_assert_uint_eq(ch.count, 2);
	ck_assert_int_eq(ch.kinds[0], LEDGER_CHANGE_DELETED);
	ck_assert_str_eq(ch.paths[0], "records/ab/cd/e.json");
	ck_assert_int_eq(ch.kinds[1], LEDGER_CHANGE_BAD_MODE);
	ck_assert_str_eq(ch.paths[1], "records/ab/cd/a/z.json");
	free(p);
	ck_assert_int_ge(asprintf(&p, "-p %s", c), 0);
	d = plumb_commit(path, p, c, "printf '0 %040d\\t%s\\n' 0 records/ab/cd/c.json | "
	                              "git update-index --index-info");
	ck_assert_int_eq(history_of(&ch, repo, NULL, d), 0);
	ck_assert_uint_eq(ch.count, 3);
	ck_assert_str_eq(ch.paths[0], "records/ab/cd/e.json");
	ck_assert_str_eq(ch.paths[1], "records/ab/cd/a/z.json");
	ck_assert_int_eq(ch.kinds[2], LEDGER_CHANGE_DELETED);
	ck_assert_str_eq(ch.paths[2], "records/ab/cd/c.json");
	ck_assert_str_eq(ch.commits[2], d);
	free(d);
	free(c);

	free(p);
	free(a);
	free(one);
	free(two);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

START_TEST(test_check_history_changes)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char g[41], tip[41], r1[96], r2[96], *c, *blob, *edit, *p;
	struct changes ch = { 0 };

	ck_assert_int_eq(ledger_repo_head(g, repo), 0);
	ck_assert_int_eq(append_seeds(repo, 1, 2, tip), 0);
	/* a clean history reports nothing */
	ck_assert_int_eq(ledger_repo_check_history(repo, NULL, NULL, change_cb, &ch), 0);
	ck_assert_uint_eq(ch.count, 0);

	testutil_record_path(r1, 1);
	testutil_record_path(r2, 2);
	blob = testshell_out("printf tampered | git --git-dir='%s' hash-object -w --stdin", path);

	/* modify r1 */
	ck_assert_int_ge(asprintf(&edit, "git update-index --cacheinfo 100644,%s,%s", blob, r1), 0);
	ck_assert_int_ge(asprintf(&p, "-p %s", tip), 0);
	c = plumb_commit(path, p, tip, edit);
	free(edit);
	free(p);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(ledger_repo_check_history(repo, tip, c, change_cb, &ch), 0);
	ck_assert_uint_eq(ch.count, 1);
	ck_assert_int_eq(ch.kinds[0], LEDGER_CHANGE_MODIFIED);
	ck_assert_str_eq(ch.paths[0], r1);
	ck_assert_str_eq(ch.commits[0], c);

	/* delete r2 on top: both commits reported from the clean tip, only the delete after c */
	ck_assert_int_ge(asprintf(&edit, "printf '0 %%040d\\t%%s\\n' 0 %s | "
	                          "git update-index --index-info", r2), 0);
	ck_assert_int_ge(asprintf(&p, "-p %s", c), 0);
	{
		char *d = plumb_commit(path, p, c, edit);

		memset(&ch, 0, sizeof(ch));
		ck_assert_int_eq(ledger_repo_check_history(repo, c, d, change_cb, &ch), 0);
		ck_assert_uint_eq(ch.count, 1);
		ck_assert(has_change(&ch, LEDGER_CHANGE_DELETED, r2));
		memset(&ch, 0, sizeof(ch));
		ck_assert_int_eq(ledger_repo_check_history(repo, NULL, d, change_cb, &ch), 0);
		ck_assert_uint_eq(ch.count, 2);
		ck_assert(has_change(&ch, LEDGER_CHANGE_MODIFIED, r1));
		ck_assert(has_change(&ch, LEDGER_CHANGE_DELETED, r2));
		free(d);
	}
	free(edit);
	free(p);
	free(c);

	/* foreign file, LEDGER changed, executable record, symlink */
	ck_assert_int_ge(asprintf(&edit,
	                          "git update-index --add --cacheinfo 100644,%s,notes.txt && "
	                          "git update-index --cacheinfo 100644,%s,LEDGER && "
	                          "git update-index --add --cacheinfo 100755,%s,records/ee/ee/x.json && "
	                          "git update-index --add --cacheinfo 120000,%s,records/ee/ee/y.json",
	                          blob, blob, blob, blob), 0);
	ck_assert_int_ge(asprintf(&p, "-p %s", tip), 0);
	c = plumb_commit(path, p, tip, edit);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(ledger_repo_check_history(repo, tip, c, change_cb, &ch), 0);
	ck_assert_uint_eq(ch.count, 4);
	ck_assert(has_change(&ch, LEDGER_CHANGE_FOREIGN, "notes.txt"));
	ck_assert(has_change(&ch, LEDGER_CHANGE_MODIFIED, "LEDGER"));
	ck_assert(has_change(&ch, LEDGER_CHANGE_BAD_MODE, "records/ee/ee/x.json"));
	ck_assert(has_change(&ch, LEDGER_CHANGE_BAD_MODE, "records/ee/ee/y.json"));
	free(edit);
	free(p);
	free(c);

	/*
	 * Directories deeper than any ledger's: reported once, at depth 8, and
	 * not walked (review 3 #3, #17); a file at depth 8 is walked as usual.
	 */
	ck_assert_int_ge(asprintf(&edit,
	                          "git update-index --add --cacheinfo 100644,%s,records/zz/1/2/3/4/5/6/7/8/x && "
	                          "git update-index --add --cacheinfo 100644,%s,records/zz/1/2/3/4/5/y",
	                          blob, blob), 0);
	ck_assert_int_ge(asprintf(&p, "-p %s", tip), 0);
	c = plumb_commit(path, p, tip, edit);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(ledger_repo_check_history(repo, tip, c, change_cb, &ch), 0);
	ck_assert_uint_eq(ch.count, 1);
	ck_assert(has_change(&ch, LEDGER_CHANGE_TOO_DEEP, "records/zz/1/2/3/4/5/6"));
	free(edit);
	free(p);
	free(c);

	/* a root commit adding more than LEDGER and records */
	ck_assert_int_ge(asprintf(&edit, "git update-index --add --cacheinfo 100644,%s,records2/a",
	                          blob), 0);
	c = plumb_commit(path, "", g, edit);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(ledger_repo_check_history(repo, NULL, c, change_cb, &ch), 0);
	ck_assert_uint_eq(ch.count, 1);
	ck_assert(has_change(&ch, LEDGER_CHANGE_FOREIGN, "records2/a"));
	free(edit);
	free(c);

	free(blob);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

START_TEST(test_check_history_merges)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char g[41], a[41], rb[96], ra[96], *b, *blob, *edit, *p, *m;
	struct changes ch = { 0 };
	size_t n;

	ck_assert_int_eq(ledger_repo_head(g, repo), 0);
	ck_assert_int_eq(append_seeds(repo, 1, 1, a), 0); /* main: genesis + record 1 */
	testutil_record_path(ra, 1);
	testutil_record_path(rb, 2);
	blob = testshell_out("printf '{\"record\":2}' | git --git-dir='%s' hash-object -w --stdin", path);
	/* branch b: genesis + record 2 */
	ck_assert_int_ge(asprintf(&edit, "git update-index --add --cacheinfo 100644,%s,%s", blob, rb),
	                 0);
	ck_assert_int_ge(asprintf(&p, "-p %s", g), 0);
	b = plumb_commit(path, p, g, edit);
	free(p);

	/* good merge: a's tree plus record 2 */
	ck_assert_int_ge(asprintf(&p, "-p %s -p %s", a, b), 0);
	m = plumb_commit(path, p, a, edit);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(ledger_repo_check_history(repo, NULL, m, change_cb, &ch), 0);
	ck_assert_uint_eq(ch.count, 0);
	ck_assert_int_eq(ledger_repo_count_commits(&n, repo, NULL, m), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(ledger_repo_is_ancestor(repo, b, m), 1);
	ck_assert_int_eq(ledger_repo_is_ancestor(repo, a, b), 0);
	free(m);

	/* bad merge: drops record 2 (tree of a) */
	m = plumb_commit(path, p, a, "true");
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(ledger_repo_check_history(repo, NULL, m, change_cb, &ch), 0);
	ck_assert(ch.count >= 1);
	ck_assert(has_change(&ch, LEDGER_CHANGE_MERGE_NOT_UNION, rb));
	ck_assert(has_change(&ch, LEDGER_CHANGE_DELETED, rb));
	ck_assert(!has_change(&ch, LEDGER_CHANGE_MERGE_NOT_UNION, ra));
	free(m);

	/* bad merge: adds a file neither parent has */
	free(edit);
	ck_assert_int_ge(asprintf(&edit, "git update-index --add --cacheinfo 100644,%s,%s && "
	                          "git update-index --add --cacheinfo 100644,%s,records/ff/ff/new.json",
	                          blob, rb, blob), 0);
	m = plumb_commit(path, p, a, edit);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(ledger_repo_check_history(repo, a, m, change_cb, &ch), 0);
	ck_assert_uint_eq(ch.count, 1);
	ck_assert(has_change(&ch, LEDGER_CHANGE_MERGE_NOT_UNION, "records/ff/ff/new.json"));
	free(m);

	/* bad merge: record 2 with other bytes than branch b has */
	free(edit);
	{
		char *other = testshell_out("printf x | git --git-dir='%s' hash-object -w --stdin", path);

		ck_assert_int_ge(asprintf(&edit, "git update-index --add --cacheinfo 100644,%s,%s",
		                          other, rb), 0);
		free(other);
	}
	m = plumb_commit(path, p, a, edit);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(ledger_repo_check_history(repo, a, m, change_cb, &ch), 0);
	ck_assert(has_change(&ch, LEDGER_CHANGE_MODIFIED, rb));
	ck_assert(has_change(&ch, LEDGER_CHANGE_MERGE_NOT_UNION, rb));
	free(m);

	free(edit);
	free(p);
	free(b);
	free(blob);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

static int stop_cb(const char *commit, ledger_change_kind kind, const char *path, void *payload)
{
	(void)commit;
	(void)kind;
	(void)path;
	++*(int *)payload;
	return 42;
}

START_TEST(test_check_history_stop)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char tip[41], *c, *p;
	int calls = 0;

	ck_assert_int_eq(append_seeds(repo, 1, 1, tip), 0);
	ck_assert_int_ge(asprintf(&p, "-p %s", tip), 0);
	c = plumb_commit(path, p, tip, "printf '0 %040d\\tLEDGER\\n' 0 | git update-index --index-info");
	ck_assert_int_eq(ledger_repo_check_history(repo, NULL, c, stop_cb, &calls), 42);
	ck_assert_int_eq(calls, 1);
	free(c);
	free(p);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

/* Each commit's armour and signed data, written to <dir>/<commit>.sig and .data. */
static int sig_save_cb(const char *commit, const char *armour, const char *data, size_t len,
                       void *payload)
{
	const char *dir = payload;
	char *p;
	FILE *f;

	ck_assert_int_ge(asprintf(&p, "%s/%s.data", dir, commit), 0);
	ck_assert_ptr_nonnull(f = fopen(p, "wb"));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/%s.sig", dir, commit), 0);
	if (armour) {
		ck_assert_ptr_nonnull(f = fopen(p, "w"));
		ck_assert_int_ge(fprintf(f, "%s\n", armour), 0);
		ck_assert_int_eq(fclose(f), 0);
	} else {
		unlink(p);
	}
	free(p);
	return 0;
}

/* A commit object on top of `parent`, its last headers `headers`, written as is (no checks). */
static char *literal_commit(const char *git_dir, const char *parent, const char *headers)
{
	return testshell_out("export GIT_DIR='%s'; { printf 'tree %%s\\nparent %%s\\n' "
	                     "$(git rev-parse main^{tree}) %s; printf '%%s' \"$(git cat-file commit "
	                     "main | sed -n '/^author /p;/^committer /p')\"; printf '\\n%s'; } | "
	                     "git hash-object -t commit --literally -w --stdin",
	                     git_dir, parent, headers);
}

/*
 * The signature and signed data of commits stock git made and signed, split
 * by us: ssh-keygen (what git verify-commit runs) accepts each pair, and an
 * unsigned commit comes whole, as git cat-file shows it, a "gpgsig" line in
 * its message notwithstanding, and so does one signed for another hash.  A
 * truncated gpgsig header, or two, fail.
 */
START_TEST(test_commit_signature_split)
{
	char *base, *path = tmp_repo(&base), *ids, c[4][41], *bad;
	ledger_repo *repo = genesis(path);
	const char *literal[][2] = {
		{ "gpgsig-sha256 a\\n b\\n\\nm\\n", NULL }, /* another hash's: unsigned */
		{ "gpgsig -----BEGIN SSH SIGNATURE-----", "truncated gpgsig header" },
		{ "gpgsig -----BEGIN SSH SIGNATURE-----\\n U1NIU0lH", "truncated gpgsig header" },
		{ "gpgsig a\\n b\\ngpgsig c\\n\\nm\\n", "more than one gpgsig header" },
	};

	if (testshell_run("command -v ssh-keygen >/dev/null") != 0) {
		fprintf(stderr, "SKIP test_commit_signature_split: ssh-keygen not found\n");
		goto done;
	}
	ids = testshell_out(
		"export GIT_DIR='%s'; cd '%s' && ssh-keygen -q -t ed25519 -N '' -C t -f key && "
		"echo \"* namespaces=\\\"git\\\" $(cat key.pub)\" > allowed && "
		"S=\"git -c gpg.format=ssh -c user.signingkey=$PWD/key -c gpg.ssh.allowedSignersFile=$PWD/allowed\" && "
		"t=$(git rev-parse main^{tree}) && "
		"c1=$($S commit-tree -S $t -p main -m signed) && "
		"c2=$(git commit-tree $t -p $c1 -m unsigned) && "
		"printf 'signed\\n\\ngpgsig -----BEGIN SSH SIGNATURE-----\\n U1NIU0lH\\n -----END SSH SIGNATURE-----\\n' > msg && "
		"c3=$($S commit-tree -S $t -p $c2 -F msg) && "
		"printf 'unsigned\\n\\ngpgsig x\\n y\\n' > msg && "
		"c4=$(git commit-tree $t -p $c3 -F msg) && "
		"$S verify-commit $c1 $c3 2>/dev/null && ! $S verify-commit $c2 2>/dev/null && "
		"git update-ref refs/heads/main $c4 && echo $c1 $c2 $c3 $c4",
		path, base);
	ck_assert_int_eq(sscanf(ids, "%40s %40s %40s %40s", c[0], c[1], c[2], c[3]), 4);
	ck_assert_msg(ledger_repo_foreach_commit_signature(repo, NULL, NULL, sig_save_cb, base) == 0,
	              "%s", testshell_errmsg());
	for (int i = 0; i < 4; i++) {
		if (i % 2 == 0) {
			ck_assert_msg(testshell_run("cd '%s' && ssh-keygen -Y check-novalidate -n git "
			                            "-s %s.sig < %s.data >/dev/null 2>&1",
			                            base, c[i], c[i]) == 0,
			              "ssh-keygen rejects the split of commit %d", i + 1);
			/* the data: the headers less gpgsig's lines, then the whole message */
			ck_assert_int_eq(testshell_run("cd '%s' && git --git-dir='%s' cat-file commit %s > "
			                               "obj && sed '/^$/q' obj | grep -v '^gpgsig ' | "
			                               "grep -v '^ ' > want && sed '1,/^$/d' obj >> want && "
			                               "cmp -s want %s.data", base, path, c[i], c[i]), 0);
		} else {
			ck_assert_int_eq(testshell_run("test -e '%s/%s.sig'", base, c[i]), 1);
			ck_assert_int_eq(testshell_run("cd '%s' && git --git-dir='%s' cat-file commit %s | "
			                               "cmp -s - %s.data", base, path, c[i], c[i]), 0);
		}
	}
	for (size_t i = 0; i < sizeof(literal) / sizeof(literal[0]); i++) {
		bad = literal_commit(path, c[3], literal[i][0]);
		if (!literal[i][1]) {
			ck_assert_msg(ledger_repo_foreach_commit_signature(repo, c[3], bad, sig_save_cb,
			                                                   base) == 0,
			              "%s", testshell_errmsg());
			ck_assert_int_eq(testshell_run("test -e '%s/%s.sig'", base, bad), 1);
			ck_assert_int_eq(testshell_run("cd '%s' && git --git-dir='%s' cat-file commit %s | "
			                               "cmp -s - %s.data", base, path, bad, bad), 0);
		} else {
			ck_assert_int_eq(ledger_repo_foreach_commit_signature(repo, c[3], bad, sig_save_cb,
			                                                      base),
			                 LEDGER_EINVALID);
			ck_assert_ptr_nonnull(strstr(testshell_errmsg(), literal[i][1]));
			ck_assert_ptr_nonnull(strstr(testshell_errmsg(), bad));
		}
		free(bad);
	}
	free(ids);
done:
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

START_TEST(test_concurrent_appenders)
{
	char *base, *path = tmp_repo(&base), *s;
	ledger_repo *repo = genesis(path);
	pid_t kids[4];
	size_t n;
	int st;

	ledger_repo_free(repo);
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		ck_assert_int_ge(kids[k], 0);
		if (kids[k] == 0) {
			ledger_repo *r = NULL;
			char tip[41];
			int bad = 0;

			if (ledger_repo_open(&r, path) < 0)
				_exit(2);
			for (int i = 0; i < 25; i++)
				if (append_seeds(r, 1000 + (uint64_t)k * 100 + (uint64_t)i, 1, tip) < 0) {
					fprintf(stderr, "append: %s\n", testshell_errmsg());
					bad = 1;
				}
			ledger_repo_free(r);
			_exit(bad);
		}
	}
	for (int k = 0; k < 4; k++) {
		ck_assert_int_eq(waitpid(kids[k], &st, 0), kids[k]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	ck_assert_int_eq(ledger_repo_open(&repo, path), 0);
	ck_assert_uint_eq(count_records(repo, NULL), 101);
	for (uint64_t i = 0; i < 100; i++) {
		char rec[96], *data = NULL, *want = record_body(1000 + (i / 25) * 100 + i % 25);

		testutil_record_path(rec, 1000 + (i / 25) * 100 + i % 25);
		ck_assert_int_eq(ledger_repo_read(&data, NULL, repo, NULL, rec), 0);
		ck_assert_str_eq(data, want);
		free(data);
		free(want);
	}
	ck_assert_int_eq(ledger_repo_count_commits(&n, repo, NULL, NULL), 0);
	ck_assert_uint_eq(n, 101);
	s = testshell_out("git --git-dir='%s' rev-list --min-parents=2 main | wc -l", path);
	ck_assert_str_eq(s, "0");
	free(s);
	check_fsck(path);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

static void write_lock(ledger_repo *repo, const char *content)
{
	const char *state;
	char *lock;
	FILE *f;

	ck_assert_int_eq(ledger_repo_state_dir(&state, repo), 0);
	ck_assert_int_ge(asprintf(&lock, "%s/lock", state), 0);
	f = fopen(lock, "wx");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
	free(lock);
}

/* 1 when some process holds the ledger lock (its flock), else 0. */
static int lock_exists(ledger_repo *repo)
{
	const char *state;
	char *lock;
	int fd, r;

	ck_assert_int_eq(ledger_repo_state_dir(&state, repo), 0);
	ck_assert_int_ge(asprintf(&lock, "%s/lock", state), 0);
	fd = open(lock, O_RDONLY | O_CLOEXEC);
	free(lock);
	if (fd < 0)
		return 0;
	r = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return r;
}

static pid_t dead_pid(void)
{
	pid_t p = fork();
	int st;

	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(p, &st, 0), p);
	return p;
}

/*
 * Another process holding the ledger lock's flock, its lock file saying
 * `content`, until the returned pipe is closed; it dies with its flock.
 */
static pid_t hold_lock(ledger_repo *repo, const char *content, int *release)
{
	const char *state;
	char *lock, c;
	int go[2], ready[2];
	pid_t holder;

	ck_assert_int_eq(ledger_repo_state_dir(&state, repo), 0);
	ck_assert_int_ge(asprintf(&lock, "%s/lock", state), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	holder = fork();
	ck_assert_int_ge(holder, 0);
	if (holder == 0) {
		int fd = open(lock, O_RDWR | O_CREAT, 0644);

		close(go[1]);
		close(ready[0]);
		if (fd < 0 || flock(fd, LOCK_EX) < 0 || ftruncate(fd, 0) < 0 ||
		    write(fd, content, strlen(content)) != (ssize_t)strlen(content) ||
		    write(ready[1], "r", 1) != 1)
			_exit(1);
		/* holds the lock until the parent closes the pipe */
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	free(lock);
	*release = go[1];
	return holder;
}

START_TEST(test_stale_lock_recovered)
{
	char *base, *path = tmp_repo(&base), *line;
	ledger_repo *repo = genesis(path);
	char host[256], tip[41], *ref_lock;
	FILE *f;

	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	/* a lock file whose holder is gone (nobody holds its flock) */
	ck_assert_int_ge(asprintf(&line, "%ld %s\n", (long)dead_pid(), host), 0);
	write_lock(repo, line);
	ck_assert_msg(append_seeds(repo, 1, 1, tip) == 0, "%s", testshell_errmsg());

	/* a refs/heads/main.lock that no dead holder of ours left: not ours to remove */
	ck_assert_int_ge(asprintf(&ref_lock, "%s/refs/heads/main.lock", path), 0);
	f = fopen(ref_lock, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(append_seeds(repo, 2, 1, tip), LEDGER_ELOCKED);
	ck_assert_int_eq(access(ref_lock, F_OK), 0);

	/* the holder died inside the update of main: its main.lock is stale, and removed */
	free(line);
	ck_assert_int_ge(asprintf(&line, "%ld %s refs/heads/main\n", (long)dead_pid(), host), 0);
	{
		const char *state;
		char *lock;

		ck_assert_int_eq(ledger_repo_state_dir(&state, repo), 0);
		ck_assert_int_ge(asprintf(&lock, "%s/lock", state), 0);
		f = fopen(lock, "w");
		ck_assert_ptr_nonnull(f);
		fputs(line, f);
		fclose(f);
		free(lock);
	}
	ck_assert_msg(append_seeds(repo, 2, 1, tip) == 0, "%s", testshell_errmsg());
	ck_assert_int_ne(access(ref_lock, F_OK), 0);
	check_fsck(path);
	free(ref_lock);
	free(line);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

START_TEST(test_live_lock)
{
	char *base, *path = tmp_repo(&base), *line;
	ledger_repo *repo = genesis(path);
	char host[256], tip[41], before[41], *ref_lock;
	int release, st;
	pid_t holder;
	FILE *f;

	/*
	 * A live holder whose recorded pid is not one this process can see (as
	 * from another PID namespace: a dead pid of this host), in the middle
	 * of its update of main.
	 */
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	ck_assert_int_ge(asprintf(&line, "%ld %s refs/heads/main\n", (long)dead_pid(), host), 0);
	holder = hold_lock(repo, line, &release);
	ck_assert_int_ge(asprintf(&ref_lock, "%s/refs/heads/main.lock", path), 0);
	f = fopen(ref_lock, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(ledger_repo_head(before, repo), 0);
	ck_assert_int_eq(append_seeds(repo, 1, 1, tip), LEDGER_ELOCKED);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "locked"));
	ck_assert(lock_exists(repo));
	ck_assert_int_eq(access(ref_lock, F_OK), 0);
	ck_assert_int_eq(ledger_repo_head(tip, repo), 0);
	ck_assert_str_eq(tip, before);
	/* the holder dies: the kernel frees its lock, and its main.lock is removed */
	close(release);
	ck_assert_int_eq(waitpid(holder, &st, 0), holder);
	ck_assert_msg(append_seeds(repo, 1, 1, tip) == 0, "%s", testshell_errmsg());
	ck_assert_str_ne(tip, before);
	ck_assert_int_ne(access(ref_lock, F_OK), 0);
	free(ref_lock);
	free(line);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

START_TEST(test_lock_wait)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char tip[41];
	int release, st;
	pid_t holder, closer;

	holder = hold_lock(repo, "1 some-other-host.invalid\n", &release);
	closer = fork();
	ck_assert_int_ge(closer, 0);
	if (closer == 0) {
		/* the holder lets go after a moment */
		usleep(500000);
		close(release);
		_exit(0);
	}
	close(release);
	ck_assert_msg(append_seeds(repo, 1, 1, tip) == 0, "%s", testshell_errmsg());
	ck_assert_int_eq(waitpid(closer, &st, 0), closer);
	ck_assert_int_eq(waitpid(holder, &st, 0), holder);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

START_TEST(test_auto_pack)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path), *fresh = NULL;
	char tip[41], rec[96], *data = NULL;
	size_t loose, packs;

	/*
	 * Packing is under test here, not durability (the crash test covers
	 * that): without an fsync per object the 3000 files take seconds, not
	 * minutes.  The library turned fsync on in genesis(); this process only.
	 */
	ck_assert_int_eq(git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_msg(append_seeds(repo, 10000 + (uint64_t)i * 30, 30, tip) == 0, "%s",
		              testshell_errmsg());
	loose = count_loose(path);
	packs = count_packs(path);
	ck_assert_msg(loose <= 1024 + 128, "%zu loose objects", loose);
	ck_assert_uint_ge(packs, 1);
	ck_assert_uint_eq(count_records(repo, NULL), 3001);
	/* a fresh handle reads everything, packed and loose */
	ck_assert_int_eq(ledger_repo_open(&fresh, path), 0);
	ck_assert_uint_eq(count_records(fresh, NULL), 3001);
	testutil_record_path(rec, 10000 + 1234);
	ck_assert_int_eq(ledger_repo_read(&data, NULL, fresh, NULL, rec), 0);
	ck_assert_str_eq(data, "{\"record\":11234}");
	free(data);
	check_fsck(path);

	/* explicit pack: nothing loose left */
	ck_assert_int_eq(ledger_repo_pack(repo), 0);
	ck_assert_uint_eq(count_loose(path), 0);
	ck_assert_uint_eq(count_records(fresh, NULL), 3001);

	/* many packs are consolidated, and nothing is lost */
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(append_seeds(repo, 50000 + (uint64_t)i, 1, tip), 0);
		ck_assert_int_eq(ledger_repo_pack(repo), 0);
		ck_assert_uint_le(count_packs(path), 16);
	}
	ck_assert_uint_eq(count_records(fresh, NULL), 3021);
	ck_assert_uint_eq(count_records(repo, NULL), 3021);
	ck_assert_int_eq(ledger_repo_head(rec, fresh), 0);
	ck_assert_str_eq(rec, tip);
	check_fsck(path);
	ledger_repo_free(fresh);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

/* The object ids in pack `idx` (a path), sorted, one per line, by stock git. */
static char *pack_ids(const char *idx)
{
	return testshell_out("git show-index < '%s' | cut -d' ' -f2 | sort", idx);
}

/* The path of the .idx of the pack in `git_dir` not named in `before` (ls output). */
static char *new_pack_idx(const char *git_dir, const char *before)
{
	return testshell_out("cd '%s/objects/pack' && for f in *.idx; do "
	               "case '%s' in *\"$f\"*) ;; *) echo \"$PWD/$f\";; esac; done", git_dir,
	               before);
}

START_TEST(test_one_pack_per_append)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char g[41], tip[41], again[41];

	/* the genesis commit is a pack too */
	ck_assert_uint_eq(count_loose(path), 0);
	ck_assert_uint_eq(count_packs(path), 1);
	ck_assert_int_eq(ledger_repo_head(g, repo), 0);
	for (int i = 0; i < 3; i++) {
		char *before = testshell_out("ls '%s/objects/pack'", path);
		char *idx, *in_pack, *added;

		ck_assert_msg(append_seeds(repo, 100 + (uint64_t)i * 10, 5, tip) == 0, "%s",
		              testshell_errmsg());
		ck_assert_uint_eq(count_loose(path), 0);
		ck_assert_uint_eq(count_packs(path), 2 + (size_t)i);
		/* the new pack holds exactly the objects the commit added, by git's count */
		idx = new_pack_idx(path, before);
		ck_assert_ptr_null(strchr(idx, '\n'));
		in_pack = pack_ids(idx);
		added = testshell_out("git --git-dir='%s' rev-list --objects %s --not %s | cut -c1-40 | sort",
		                path, tip, i == 0 ? g : "HEAD~1");
		ck_assert_str_eq(in_pack, added);
		ck_assert_ptr_nonnull(strstr(in_pack, tip));
		free(added);
		free(in_pack);
		free(idx);
		free(before);
	}
	/* nothing new to add: no commit, no pack */
	ck_assert_int_eq(append_seeds(repo, 100, 5, again), 0);
	ck_assert_str_eq(again, tip);
	ck_assert_uint_eq(count_packs(path), 4);
	ck_assert_uint_eq(count_records(repo, NULL), 16);
	check_fsck(path);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

struct pack_sizes {
	size_t objects;
	size_t size;       /* of the objects */
	size_t in_pack;    /* of their entries in the pack */
	size_t not_stored; /* entries not their object's bytes as stored zlib blocks */
};

/*
 * Pack `idx` (a path) by stock git's verify-pack, which must accept it.  An
 * entry counts as stored when it takes its object's size plus no more than
 * zlib's framing: a 2-byte header, 5 bytes a stored block, a 4-byte checksum
 * (and the entry's own type-and-size header).
 */
static struct pack_sizes pack_sizes(const char *idx)
{
	struct pack_sizes ps;
	char *s;

	ck_assert_msg(testshell_run("git verify-pack '%s' >/dev/null 2>&1", idx) == 0,
	              "git verify-pack refused %s", idx);
	s = testshell_out("git verify-pack -v '%s' | awk '$2 ~ /^(commit|tree|blob|tag)$/ "
	                  "{ n++; s += $3; p += $4; if ($4 < $3 || $4 > $3 + 16 + int($3 / 1000)) bad++ } "
	                  "END { printf \"%%d %%d %%d %%d\", n, s, p, bad }'", idx);
	ck_assert_int_eq(sscanf(s, "%zu %zu %zu %zu", &ps.objects, &ps.size, &ps.in_pack,
	                        &ps.not_stored), 4);
	free(s);
	return ps;
}

/* Every pack of `git_dir` holds its objects stored. */
static void check_packs_stored(const char *git_dir)
{
	char *idxs = testshell_out("ls '%s'/objects/pack/*.idx", git_dir), *save = NULL;

	for (char *idx = strtok_r(idxs, "\n", &save); idx; idx = strtok_r(NULL, "\n", &save)) {
		struct pack_sizes ps = pack_sizes(idx);

		ck_assert_uint_gt(ps.objects, 0);
		ck_assert_msg(ps.not_stored == 0, "%zu of %zu entries of %s are not stored",
		              ps.not_stored, ps.objects, idx);
	}
	free(idxs);
}

/* The pack the next append of padded records writes, by stock git's verify-pack. */
static struct pack_sizes append_padded_pack(ledger_repo *repo, const char *path, uint64_t first)
{
	char *before = testshell_out("ls '%s/objects/pack'", path), *idx;
	struct pack_sizes ps;
	char tip[41];

	ck_assert_msg(append_padded(repo, first, 20, 2000, tip) == 0, "%s", testshell_errmsg());
	idx = new_pack_idx(path, before);
	ck_assert_ptr_null(strchr(idx, '\n'));
	ps = pack_sizes(idx);
	/* 20 records, their trees (records/, records/xx, records/xx/yy) and the commit */
	ck_assert_uint_gt(ps.objects, 20 + 1 + 1);
	free(idx);
	free(before);
	return ps;
}

/*
 * Packs are written stored unless the repository's git config asks for a
 * zlib level: pack.compression, else core.compression, as git reads them.
 * A level zlib does not know is refused before anything is written.  A
 * merge of packs writes them stored too, and loses no object.
 */
START_TEST(test_pack_compression)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	struct pack_sizes ps;
	char tip[41], head[41], *s;
	size_t packs;
	int i;

	/* no level set: stored, a little larger than the objects */
	ps = append_padded_pack(repo, path, 100);
	ck_assert_uint_eq(ps.not_stored, 0);
	ck_assert_uint_gt(ps.in_pack, ps.size);
	/* pack.compression 9: the padding is gone */
	ck_assert_int_eq(testshell_run("git --git-dir='%s' config pack.compression 9", path), 0);
	ps = append_padded_pack(repo, path, 200);
	ck_assert_uint_lt(ps.in_pack, ps.size / 4);
	/* core.compression when pack.compression is not set ... */
	ck_assert_int_eq(testshell_run("git --git-dir='%s' config --unset pack.compression && "
	                               "git --git-dir='%s' config core.compression 9", path, path), 0);
	ps = append_padded_pack(repo, path, 300);
	ck_assert_uint_lt(ps.in_pack, ps.size / 4);
	/* ... which pack.compression overrides */
	ck_assert_int_eq(testshell_run("git --git-dir='%s' config pack.compression 0", path), 0);
	ps = append_padded_pack(repo, path, 400);
	ck_assert_uint_eq(ps.not_stored, 0);
	/* not a zlib level: refused, named, nothing written (no pack, no temporary file) */
	ck_assert_int_eq(testshell_run("git --git-dir='%s' config pack.compression 10", path), 0);
	ck_assert_int_eq(ledger_repo_head(head, repo), 0);
	packs = count_packs(path);
	ck_assert_int_eq(append_padded(repo, 500, 20, 2000, tip), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "pack.compression 10"));
	ck_assert_uint_eq(count_packs(path), packs);
	s = testshell_out("ls -A '%s/objects/pack' | grep -v -E "
	                  "'^(pack-[0-9a-f]{40}\\.(pack|idx)|multi-pack-index)$' || true", path);
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_int_eq(ledger_repo_head(tip, repo), 0);
	ck_assert_str_eq(tip, head);
	/* past 16 packs they merge, from compressed packs into a stored one */
	ck_assert_int_eq(testshell_run("git --git-dir='%s' config --unset pack.compression && "
	                               "git --git-dir='%s' config --unset core.compression",
	                               path, path), 0);
	for (i = 0; i < 16; i++) {
		packs = count_packs(path);
		ck_assert_msg(append_padded(repo, 1000 + (uint64_t)i * 20, 20, 2000, tip) == 0, "%s",
		              testshell_errmsg());
		if (count_packs(path) < packs)
			break;
	}
	ck_assert_int_lt(i, 16);
	check_packs_stored(path);
	ck_assert_uint_eq(count_records(repo, NULL), 1 + 4 * 20 + (size_t)(i + 1) * 20);
	check_fsck(path);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

START_TEST(test_pack_consolidation)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path), *fresh = NULL;
	char tip[41], rec[10][96], *big_pack, *s;
	ledger_file f[10];
	uint64_t x = 88172645463325252ULL;
	char *noise;
	/* files under the record limit (1 MiB), the pack over what appends merge (8 MiB) */
	size_t n = 960 * 1024, total = 1 + 10;

	/* a pack larger than appends merge on their own: incompressible bytes */
	noise = malloc(10 * n);
	ck_assert_ptr_nonnull(noise);
	for (size_t i = 0; i < 10 * n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		noise[i] = (char)(x >> 32);
	}
	for (size_t i = 0; i < 10; i++) {
		memcpy(noise + i * n, "{\"record\":", 10);
		testutil_record_path(rec[i], 7 + i);
		f[i].path = rec[i];
		f[i].data = noise + i * n;
		f[i].len = n;
	}
	{
		ledger_commit_options o = opts_msg("batch: noise\n");

		ck_assert_msg(ledger_repo_append(tip, repo, f, 10, &o) == 0, "%s", testshell_errmsg());
	}
	big_pack = testshell_out("cd '%s/objects/pack' && ls -S *.pack | head -1", path);
	ck_assert_int_eq(ledger_repo_open(&fresh, path), 0);
	for (int i = 0; i < 40; i++) {
		ck_assert_msg(append_seeds(repo, 1000 + (uint64_t)i * 3, 1 + i % 3, tip) == 0, "%s",
		              testshell_errmsg());
		total += 1 + i % 3;
		/* the small packs are merged, the big one is left alone */
		ck_assert_uint_le(count_packs(path), 16 + 1);
		ck_assert_int_eq(testshell_run("test -f '%s/objects/pack/%s'", path, big_pack), 0);
		/* a handle opened before the merges still reads everything */
		if (i % 10 == 9)
			ck_assert_uint_eq(count_records(fresh, NULL), total);
	}
	ck_assert_uint_lt(count_packs(path), 2 + 40);
	ck_assert_uint_eq(count_loose(path), 0);
	ck_assert_int_eq(ledger_repo_head(rec[0], fresh), 0);
	ck_assert_str_eq(rec[0], tip);
	check_fsck(path);
	/* an explicit pack merges geometrically: never more than 16 packs left */
	ck_assert_int_eq(ledger_repo_pack(repo), 0);
	ck_assert_uint_le(count_packs(path), 16);
	s = testshell_out("git --git-dir='%s' count-objects -v | grep '^count:'", path);
	ck_assert_str_eq(s, "count: 0");
	free(s);
	ck_assert_uint_eq(count_records(fresh, NULL), total);
	check_fsck(path);
	/* what appends and merges wrote, the incompressible pack as well, is stored */
	check_packs_stored(path);
	free(big_pack);
	free(noise);
	ledger_repo_free(fresh);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

/*
 * A merge that fails half way, on an object whose bytes in its pack no
 * longer hash to its id, leaves nothing behind: no new pack, no temporary
 * file of the indexer, every pack it was merging still there; the error
 * names the object and the pack directory.
 */
START_TEST(test_pack_merge_failure)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char tip[41], *victim, *offset, *before, *after;

	/* genesis and 15 appends: 16 packs, one short of a merge */
	for (int i = 0; i < 15; i++)
		ck_assert_msg(append_padded(repo, 100 + (uint64_t)i * 20, 20, 2000, tip) == 0, "%s",
		              testshell_errmsg());
	ck_assert_uint_eq(count_packs(path), 16);
	/* a byte of the padding of a record, stored as is, is changed */
	victim = testshell_out("cd '%s/objects/pack' && ls -t *.pack | tail -n +2 | head -1", path);
	offset = testshell_out("cd '%s/objects/pack' && git verify-pack -v '%s' | "
	                       "awk '$2 == \"blob\" && $3 > 2000 { print $5; exit }'", path, victim);
	ck_assert_str_ne(offset, "");
	ck_assert_int_eq(testshell_run("cd '%s/objects/pack' && chmod u+w '%s' && "
	                               "printf X | dd of='%s' bs=1 seek=$((%s + 1000)) conv=notrunc "
	                               "2>/dev/null", path, victim, victim, offset), 0);
	/* the next append still commits; its merge (best effort) fails */
	ck_assert_msg(append_padded(repo, 1000, 20, 2000, tip) == 0, "%s", testshell_errmsg());
	ck_assert_uint_eq(count_packs(path), 17);
	before = testshell_out("ls -A '%s/objects/pack'", path);
	ck_assert_int_lt(ledger_repo_pack(repo), 0);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "cannot read object"));
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "/objects/pack\""));
	after = testshell_out("ls -A '%s/objects/pack'", path);
	ck_assert_str_eq(after, before);
	free(after);
	after = testshell_out("ls -A '%s/objects/pack' | grep -v -E "
	                      "'^(pack-[0-9a-f]{40}\\.(pack|idx)|multi-pack-index)$' || true", path);
	ck_assert_str_eq(after, "");
	free(after);
	free(before);
	free(offset);
	free(victim);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

/* The packs objects/pack/multi-pack-index names (0 when there is none). */
static size_t midx_packs(const char *git_dir)
{
	char *s = testshell_out("f='%s/objects/pack/multi-pack-index'; test -f \"$f\" || exit 0; "
	                        "grep -a -o -E 'pack-[0-9a-f]{40}\\.idx' \"$f\" | wc -l", git_dir);
	size_t n = strtoul(s, NULL, 10);

	free(s);
	return n;
}

/* Stock git accepts the multi-pack-index, and every pack it names is there. */
static void check_midx(const char *git_dir)
{
	ck_assert_msg(testshell_run("git --git-dir='%s' multi-pack-index verify >/dev/null 2>&1",
	                            git_dir) == 0, "git multi-pack-index verify failed on %s", git_dir);
	ck_assert_msg(testshell_run("cd '%s/objects/pack' && "
	                            "grep -a -o -E 'pack-[0-9a-f]{40}\\.idx' multi-pack-index | "
	                            "while read -r f; do "
	                            "test -f \"$f\" && test -f \"${f%%.idx}.pack\" || exit 1; done",
	                            git_dir) == 0, "the multi-pack-index of %s names a missing pack",
	              git_dir);
}

/*
 * Packing keeps a multi-pack-index: written once four packs are newer than
 * it, replaced (without the merged packs) when packs merge, and over every
 * pack after an explicit pack.  Stock git accepts it at every step, and
 * every object reads, through handles opened before and after.
 */
START_TEST(test_multi_pack_index)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path), *fresh = NULL;
	char tip[41], head[41];
	size_t total = 1;

	ck_assert_int_eq(ledger_repo_open(&fresh, path), 0);
	/* genesis and two appends: three packs, no index over them yet */
	for (int i = 0; i < 2; i++, total += 2)
		ck_assert_msg(append_seeds(repo, 100 + (uint64_t)i * 10, 2, tip) == 0, "%s",
		              testshell_errmsg());
	ck_assert_uint_eq(count_packs(path), 3);
	ck_assert_uint_eq(midx_packs(path), 0);
	/* the fourth pack: one index over all four */
	ck_assert_int_eq(append_seeds(repo, 200, 2, tip), 0);
	total += 2;
	ck_assert_uint_eq(count_packs(path), 4);
	ck_assert_uint_eq(midx_packs(path), 4);
	check_midx(path);
	check_fsck(path);
	/* past 16 small packs they merge: the index never names a merged pack */
	for (int i = 0; i < 30; i++, total += 1) {
		ck_assert_msg(append_seeds(repo, 1000 + (uint64_t)i, 1, tip) == 0, "%s",
		              testshell_errmsg());
		ck_assert_uint_le(count_packs(path), 16 + 1);
		ck_assert_uint_ge(midx_packs(path), 1);
		ck_assert_uint_le(count_packs(path) - midx_packs(path), 3);
		check_midx(path);
	}
	ck_assert_uint_eq(count_records(fresh, NULL), total);
	ck_assert_uint_eq(count_records(repo, NULL), total);
	check_fsck(path);
	/*
	 * An explicit pack leaves an index over every pack, even after a
	 * writer died holding the index's lock file an hour ago.
	 */
	ck_assert_int_eq(append_seeds(repo, 5000, 1, tip), 0);
	total += 1;
	ck_assert_int_eq(testshell_run("f='%s/objects/pack/multi-pack-index.lock' && : > \"$f\" && "
	                               "touch -d '1 hour ago' \"$f\"", ledger_repo_git_dir(repo)), 0);
	ck_assert_int_eq(ledger_repo_pack(repo), 0);
	ck_assert_uint_eq(midx_packs(path), count_packs(path));
	check_midx(path);
	check_fsck(path);
	ck_assert_uint_eq(count_records(fresh, NULL), total);
	ledger_repo_free(fresh);
	fresh = NULL;
	ck_assert_int_eq(ledger_repo_open(&fresh, path), 0);
	ck_assert_uint_eq(count_records(fresh, NULL), total);
	ck_assert_int_eq(ledger_repo_head(head, fresh), 0);
	ck_assert_str_eq(head, tip);
	ledger_repo_free(fresh);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

/*
 * A pack merge (an append's, past 16 packs) while another writer holds the
 * multi-pack-index's lock (a fresh one: not taken for stale): no new index
 * can be written, so the old one is removed, durably, before the packs it
 * names (review 7 #7).  No index then names a missing pack; stock git and
 * every reader agree.
 */
START_TEST(test_multi_pack_index_fallback)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char tip[41];
	size_t total = 1;

	/* genesis and 15 appends: 16 packs, an index over them; the next append merges */
	for (int i = 0; i < 15; i++, total += 1)
		ck_assert_msg(append_seeds(repo, 300 + (uint64_t)i, 1, tip) == 0, "%s",
		              testshell_errmsg());
	ck_assert_uint_eq(count_packs(path), 16);
	ck_assert_uint_ge(midx_packs(path), 4);
	ck_assert_int_eq(testshell_run("touch '%s/objects/pack/multi-pack-index.lock'", path), 0);
	ck_assert_msg(append_seeds(repo, 400, 1, tip) == 0, "%s", testshell_errmsg());
	total += 1;
	ck_assert_uint_lt(count_packs(path), 16);
	ck_assert_int_eq(testshell_run("test ! -e '%s/objects/pack/multi-pack-index'", path), 0);
	ck_assert_int_eq(testshell_run("rm '%s/objects/pack/multi-pack-index.lock'", path), 0);
	check_fsck(path);
	ck_assert_uint_eq(count_records(repo, NULL), total);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

/*
 * Walks hand libgit2's object database back every few thousand objects:
 * every file still reads whole across those points, and an append after a
 * walk still writes (its in-memory backend goes over the new database).
 */
START_TEST(test_read_batches)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	struct collect c = { 0, "", 1, 1 };
	char tip[41], from[41];

	ck_assert_msg(append_seeds(repo, 1, 5000, tip) == 0, "%s", testshell_errmsg());
	ck_assert_uint_eq(count_records(repo, NULL), 1 + 5000);
	ck_assert_msg(append_seeds(repo, 9001, 3, tip) == 0, "%s", testshell_errmsg());
	ck_assert_uint_eq(count_records(repo, NULL), 1 + 5003);
	ck_assert_uint_eq(count_records(repo, tip), 1 + 5003);
	/* A walk of what changed between two commits takes fresh databases more often. */
	memcpy(from, tip, sizeof(from));
	ck_assert_msg(append_seeds(repo, 20001, 1500, tip) == 0, "%s", testshell_errmsg());
	ck_assert_int_eq(ledger_repo_foreach_added(repo, from, tip, collect_cb, &c), 0);
	ck_assert_uint_eq(c.count, 1500);
	ck_assert(c.ordered && c.bodies_ok);
	check_fsck(path);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

struct oversize {
	size_t count, big;
	int standin_ok;
};

static int oversize_cb(const char *path, const char *data, size_t len, void *payload)
{
	struct oversize *o = payload;

	(void)path;
	o->count++;
	if (len > (1u << 20)) {
		o->big++;
		/* a stand-in one byte over the limit, never the file's bytes */
		if (len != (1u << 20) + 1 || data[0] != '\0' || data[len - 1] != '\0')
			o->standin_ok = 0;
	}
	return 0;
}

/* Review 3 #2: a file over the record limit is judged by its object header, not inflated. */
START_TEST(test_oversize_file)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	char tip[41], rec[96], *data = NULL;
	size_t n = 3 * 1024 * 1024, len = 0;
	struct oversize o = { 0, 0, 1 };
	ledger_commit_options opts = opts_msg("note: big\n");
	ledger_file f;

	testutil_record_path(rec, 42);
	f.path = rec;
	f.data = calloc(1, n);
	f.len = n;
	ck_assert_ptr_nonnull(f.data);
	memcpy((char *)f.data, "{\"record\":", 10);
	ck_assert_msg(ledger_repo_append(tip, repo, &f, 1, &opts) == 0, "%s", testshell_errmsg());
	ck_assert_int_eq(ledger_repo_read(&data, &len, repo, NULL, rec), LEDGER_EINVALID);
	ck_assert_ptr_null(data);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "larger than 1048576 bytes"));
	ck_assert_int_eq(ledger_repo_foreach_record(repo, NULL, oversize_cb, &o), 0);
	ck_assert_uint_eq(o.count, 2);
	ck_assert_uint_eq(o.big, 1);
	ck_assert(o.standin_ok);
	free((char *)f.data);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

START_TEST(test_pack_lock)
{
	char *base, *path = tmp_repo(&base), *lock;
	ledger_repo *repo = genesis(path);
	const char *state;
	char tip[41];
	int go[2], ready[2], st;
	pid_t holder;
	char c;

	ck_assert_int_eq(ledger_repo_state_dir(&state, repo), 0);
	ck_assert_int_ge(asprintf(&lock, "%s/pack.lock", state), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	holder = fork();
	ck_assert_int_ge(holder, 0);
	if (holder == 0) {
		/* another process merging packs, until the parent closes the pipe */
		int fd = open(lock, O_RDWR | O_CREAT, 0600);

		close(go[1]);
		if (fd < 0 || flock(fd, LOCK_EX) < 0 || write(ready[1], "x", 1) != 1 ||
		    read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	/* appends neither wait for the packer nor merge behind its back */
	for (int i = 0; i < 20; i++)
		ck_assert_msg(append_seeds(repo, 100 + (uint64_t)i, 1, tip) == 0, "%s", testshell_errmsg());
	ck_assert_uint_eq(count_packs(path), 21);
	close(go[1]);
	ck_assert_int_eq(waitpid(holder, &st, 0), holder);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the next append merges */
	ck_assert_msg(append_seeds(repo, 200, 1, tip) == 0, "%s", testshell_errmsg());
	ck_assert_uint_le(count_packs(path), 16);
	ck_assert_uint_eq(count_records(repo, NULL), 22);
	check_fsck(path);
	close(ready[0]);
	free(lock);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

/* Appends one record per commit forever, writing "<seed>\n" to `fd` after each success. */
static void crash_child(const char *path, uint64_t first, int fd)
{
	ledger_repo *repo = NULL;
	char tip[41], line[32];

	if (ledger_repo_open(&repo, path) < 0)
		_exit(2);
	for (uint64_t s = first;; s++) {
		int len;

		if (append_seeds(repo, s, 1 + s % 3, tip) < 0)
			_exit(3);
		len = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)s);
		if (write(fd, line, (size_t)len) != len)
			_exit(4);
	}
}

START_TEST(test_crash_safety)
{
	char *base, *path = tmp_repo(&base);
	ledger_repo *repo = genesis(path);
	uint64_t reported[4096];
	size_t nrep = 0;

	ledger_repo_free(repo);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int round = 0; round < 8; round++) {
		uint64_t first = 100000 + (uint64_t)round * 100000;
		char buf[65536];
		size_t len = 0;
		ssize_t n;
		int fds[2], st;
		pid_t kid;

		ck_assert_int_eq(pipe(fds), 0);
		kid = fork();
		ck_assert_int_ge(kid, 0);
		if (kid == 0) {
			close(fds[0]);
			crash_child(path, first, fds[1]);
		}
		close(fds[1]);
		usleep(100000 + (useconds_t)(rand() % 800000));
		kill(kid, SIGKILL);
		ck_assert_int_eq(waitpid(kid, &st, 0), kid);
		ck_assert_msg(WIFSIGNALED(st), "child exited on its own: %d", WEXITSTATUS(st));
		while ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)n;
		close(fds[0]);
		buf[len] = '\0';
		/* only complete lines count */
		for (char *l = buf, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1)
			if (nrep < 4096)
				reported[nrep++] = strtoull(l, NULL, 10);
	}
	ck_assert_uint_gt(nrep, 0);
	ck_assert_int_eq(ledger_repo_open(&repo, path), 0);
	/* every reported append is there with all its files */
	for (size_t i = 0; i < nrep; i++) {
		uint64_t s = reported[i];

		for (uint64_t j = 0; j < 1 + s % 3; j++) {
			char rec[96], *data = NULL, *want = record_body(s + j);

			testutil_record_path(rec, s + j);
			ck_assert_msg(ledger_repo_read(&data, NULL, repo, NULL, rec) == 0,
			              "append %llu lost: %s", (unsigned long long)s, testshell_errmsg());
			ck_assert_str_eq(data, want);
			free(data);
			free(want);
		}
	}
	check_fsck(path);
	/* and the ledger still takes appends (stale locks recovered) */
	{
		char tip[41];

		ck_assert_msg(append_seeds(repo, 1, 1, tip) == 0, "%s", testshell_errmsg());
	}
	check_fsck(path);
	ledger_repo_free(repo);
	free(path);
	cleanup(base);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("basic");
	TCase *hist = tcase_create("history");
	TCase *lock = tcase_create("lock");
	TCase *big = tcase_create("big");
	TCase *midx = tcase_create("midx");

	tcase_add_test(tc, test_init_append_read);
	tcase_add_test(tc, test_init_refuses_and_open_errors);
	tcase_add_test(tc, test_idempotent_and_eexists);
	tcase_add_test(tc, test_fsck_clone_signed);
	tcase_add_test(tc, test_append_cas_conflict);
	suite_add_tcase(s, tc);
	tcase_add_test(hist, test_check_history_changes);
	tcase_add_test(hist, test_check_history_small_trees);
	tcase_add_test(hist, test_check_history_pairs_entries);
	tcase_add_test(hist, test_check_history_merges);
	tcase_add_test(hist, test_check_history_stop);
	tcase_add_test(hist, test_commit_signature_split);
	suite_add_tcase(s, hist);
	tcase_set_timeout(lock, 120);
	tcase_add_test(lock, test_concurrent_appenders);
	tcase_add_test(lock, test_stale_lock_recovered);
	tcase_add_test(lock, test_live_lock);
	tcase_add_test(lock, test_lock_wait);
	suite_add_tcase(s, lock);
	tcase_set_timeout(big, 600);
	tcase_add_test(big, test_auto_pack);
	tcase_add_test(big, test_one_pack_per_append);
	tcase_add_test(big, test_pack_consolidation);
	tcase_add_test(big, test_pack_compression);
	tcase_add_test(big, test_pack_merge_failure);
	tcase_add_test(big, test_pack_lock);
	tcase_add_test(big, test_read_batches);
	tcase_add_test(big, test_oversize_file);
	tcase_add_test(big, test_crash_safety);
	suite_add_tcase(s, big);
	tcase_set_timeout(midx, 600);
	tcase_add_test(midx, test_multi_pack_index);
	tcase_add_test(midx, test_multi_pack_index_fallback);
	suite_add_tcase(s, midx);
	return s;
}

int main(void)
{
	return testutil_run(store_suite());
}
