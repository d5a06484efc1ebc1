/*
 * Storage: the ledger as a bare git repository, through libgit2.  Files go
 * in as blobs, trees are rebuilt only along the touched paths, and
 * refs/heads/main moves by compare-and-swap under the ledger lock.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "store_internal.h"
#include "store_order.h"

#define STORE_PATH_MAX 4096
/*
 * Pack data is mapped in windows of STORE_MWINDOW_SIZE, at most
 * STORE_MWINDOW_MAPPED_LIMIT at once (libgit2's defaults: 1 GiB and 8 GiB).
 * A walk in path order jumps all over the packs: a limit below their size
 * makes it remap windows constantly (a 64 MiB limit made reading 100,000
 * records seven times slower), so the limit is generous and only bounds
 * what a very large ledger maps.  Mapped pages are clean file pages.
 */
#define STORE_MWINDOW_SIZE (8 * 1024 * 1024)
#define STORE_MWINDOW_MAPPED_LIMIT (256 * 1024 * 1024)
/*
 * Parsed commits kept in memory (libgit2's default: 256 MiB), each up to
 * STORE_COMMIT_CACHE_LIMIT: libgit2 caches none over 4 KiB, yet a batch
 * append's commit names every record it adds (70 KB for 1,000), and a
 * verification looks its tip up a dozen times, each read inflated and
 * hashed again (a fifth of a cached run with nothing new).  Trees are not
 * cached: the history check and the file walks read each tree about once,
 * and libgit2 counts only a tree's raw size against the limit, so caching
 * the small ones held 120 MB at 100,000 records and cost time besides.
 */
#define STORE_CACHE_MAX (32 * 1024 * 1024)
#define STORE_COMMIT_CACHE_LIMIT (1024 * 1024)
/* Priority of the in-memory backend: above libgit2's loose (1) and pack (2) backends. */
#define STORE_MEMPACK_PRIORITY 1000

/* A file to add, with its blob id computed up front. */
struct store_entry {
	const ledger_file *file;
	git_oid id;
};

/* The objects an append writes, to go into its pack. */
struct store_ids {
	git_oid *ids;
	size_t count;
	size_t cap;
};

static pthread_once_t store_once = PTHREAD_ONCE_INIT;
static int store_once_error;

/*
 * libgit2 is initialised once and never shut down: the library may be used
 * from several threads and has no global teardown point.  Every object, ref
 * and pack written fsyncs itself and its directory (GIT_OPT_ENABLE_FSYNC_GITDIR
 * is read when a repository's ref database is created, so set it first).
 * Memory for reading is bounded: see STORE_MWINDOW_SIZE.
 */
static void store_global_init(void)
{
	if (git_libgit2_init() < 0 ||
	    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1) < 0 ||
	    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1) < 0 ||
	    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)STORE_MWINDOW_SIZE) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT,
	                     (size_t)STORE_MWINDOW_MAPPED_LIMIT) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)STORE_CACHE_MAX) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)0) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_COMMIT,
	                     (size_t)STORE_COMMIT_CACHE_LIMIT) < 0)
		store_once_error = 1;
}

static int store_global(void)
{
	if (pthread_once(&store_once, store_global_init) != 0 || store_once_error)
		return store_error_git(-1, "cannot initialise libgit2");
	return 0;
}

int store_error_git(int giterr, const char *fmt, ...)
{
	const git_error *e = git_error_last();
	char what[512];
	va_list ap;
	int code;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	switch (giterr) {
	case GIT_ENOTFOUND:
		code = LEDGER_ENOTFOUND;
		break;
	case GIT_EEXISTS:
		code = LEDGER_EEXISTS;
		break;
	case GIT_ELOCKED:
		code = LEDGER_ELOCKED;
		break;
	case GIT_EMODIFIED:
		code = LEDGER_ECONFLICT;
		break;
	case GIT_EAMBIGUOUS:
	case GIT_EINVALIDSPEC:
		code = LEDGER_EINVALID;
		break;
	default:
		code = LEDGER_EGIT;
	}
	return ledger_error_set(code, "%s: %s", what,
	                        e && e->message ? e->message : "unknown libgit2 error");
}

int store_fsync_path(const char *path)
{
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ledger_error_set(LEDGER_EIO, "cannot open \"%s\": %s", path, strerror(errno));
	if (fsync(fd) < 0)
		r = ledger_error_set(LEDGER_EIO, "cannot fsync \"%s\": %s", path, strerror(errno));
	close(fd);
	return r;
}

static void oid_hex(char out[LEDGER_OID_HEX_LEN + 1], const git_oid *id)
{
	git_oid_tostr(out, LEDGER_OID_HEX_LEN + 1, id);
}

/* Non-empty components, none "." or "..", no leading, trailing or doubled slash. */
static int path_valid(const char *path)
{
	const char *c = path;

	for (;;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (!slash)
			return strlen(path) < STORE_PATH_MAX;
		c = slash + 1;
	}
}

static int entry_cmp(const void *a, const void *b)
{
	const struct store_entry *x = a, *y = b;

	return strcmp(x->file->path, y->file->path);
}

/*
 * Validate the files, hash them as blobs and sort them by path; a path given
 * twice with the same bytes is kept once, with different bytes refused.
 */
static int entries_prepare(struct store_entry **out, size_t *out_count,
                           const ledger_file *files, size_t count)
{
	struct store_entry *ents = NULL;
	size_t i, n = 0;
	int r, error;

	*out = NULL;
	*out_count = 0;
	if (count == 0)
		return 0;
	if (!files)
		return ledger_error_set(LEDGER_EINVALID, "no files given");
	ents = calloc(count, sizeof(*ents));
	if (!ents)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	for (i = 0; i < count; i++) {
		const ledger_file *f = &files[i];

		if (!f->path || !path_valid(f->path)) {
			r = ledger_error_set(LEDGER_EINVALID, "file \"%s\": invalid path",
			                     f->path ? f->path : "(null)");
			goto done;
		}
		if (!f->data && f->len) {
			r = ledger_error_set(LEDGER_EINVALID, "file \"%s\": no data", f->path);
			goto done;
		}
		ents[i].file = f;
		if ((error = git_odb_hash(&ents[i].id, f->data ? f->data : "", f->len,
		                          GIT_OBJECT_BLOB)) < 0) {
			r = store_error_git(error, "file \"%s\": cannot hash", f->path);
			goto done;
		}
	}
	qsort(ents, count, sizeof(*ents), entry_cmp);
	for (i = 0; i < count; i++) {
		if (n > 0 && strcmp(ents[n - 1].file->path, ents[i].file->path) == 0) {
			if (!git_oid_equal(&ents[n - 1].id, &ents[i].id)) {
				r = ledger_error_set(LEDGER_EEXISTS,
				                     "file \"%s\": given twice with different content",
				                     ents[i].file->path);
				goto done;
			}
			continue;
		}
		ents[n++] = ents[i];
	}
	*out = ents;
	ents = NULL; /* transferred */
	*out_count = n;
	r = 0;
done:
	free(ents);
	return r;
}

static int ids_add(struct store_ids *l, const git_oid *id)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		git_oid *ids = realloc(l->ids, cap * sizeof(*ids));

		if (!ids)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		l->ids = ids;
		l->cap = cap;
	}
	git_oid_cpy(&l->ids[l->count++], id);
	return 0;
}

/*
 * Put the blobs straight into the in-memory backend, under the ids hashed in
 * entries_prepare: git_odb_write would first look each new blob up on disk,
 * and every miss makes libgit2 rescan objects/pack/.
 */
static int blobs_write(ledger_repo *repo, const struct store_entry *ents, size_t count,
                       struct store_ids *ids)
{
	git_odb_backend *mp = repo->mempack;

	for (size_t i = 0; i < count; i++) {
		const ledger_file *f = ents[i].file;
		int error, r;

		error = mp->write(mp, &ents[i].id, f->data ? f->data : "", f->len, GIT_OBJECT_BLOB);
		if (error < 0)
			return store_error_git(error, "file \"%s\": cannot write blob", f->path);
		if ((r = ids_add(ids, &ents[i].id)) < 0)
			return r;
	}
	return 0;
}

/*
 * Write the tree `base` (NULL: empty) plus `ents`, whose paths all start with
 * the same `off` bytes (the directory this tree is at).  Only the subtrees on
 * the entries' paths are rebuilt; every other entry is copied by id.
 */
static int tree_build(git_oid *out, ledger_repo *repo, const git_tree *base,
                      const struct store_entry *ents, size_t count, size_t off,
                      struct store_ids *ids)
{
	git_treebuilder *bld = NULL;
	git_tree *sub = NULL;
	char *name = NULL;
	size_t i = 0;
	int r, error;

	if ((error = git_treebuilder_new(&bld, repo->git, base)) < 0) {
		r = store_error_git(error, "cannot start a tree");
		goto done;
	}
	while (i < count) {
		const char *path = ents[i].file->path;
		const char *rel = path + off;
		const char *slash = strchr(rel, '/');
		const git_tree_entry *have;
		git_oid sub_id;
		size_t len, j;

		if (!slash) {
			if (git_treebuilder_get(bld, rel)) {
				r = ledger_error_set(LEDGER_EEXISTS, "file \"%s\": path in use", path);
				goto done;
			}
			error = git_treebuilder_insert(NULL, bld, rel, &ents[i].id, GIT_FILEMODE_BLOB);
			if (error < 0) {
				r = store_error_git(error, "file \"%s\": cannot add to tree", path);
				goto done;
			}
			i++;
			continue;
		}
		/* Entries sharing the directory "rel[0..len]/" are adjacent in sorted order. */
		len = (size_t)(slash - rel);
		for (j = i + 1; j < count && strncmp(ents[j].file->path + off, rel, len + 1) == 0; j++)
			;
		name = strndup(rel, len);
		if (!name) {
			r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
			goto done;
		}
		have = git_treebuilder_get(bld, name);
		if (have) {
			if (git_tree_entry_type(have) != GIT_OBJECT_TREE) {
				r = ledger_error_set(LEDGER_EEXISTS, "file \"%s\": path in use", path);
				goto done;
			}
			if ((error = git_tree_lookup(&sub, repo->git, git_tree_entry_id(have))) < 0) {
				r = store_error_git(error, "file \"%s\": cannot read tree", path);
				goto done;
			}
		}
		if ((r = tree_build(&sub_id, repo, sub, ents + i, j - i, off + len + 1, ids)) < 0)
			goto done;
		git_tree_free(sub);
		sub = NULL;
		error = git_treebuilder_insert(NULL, bld, name, &sub_id, GIT_FILEMODE_TREE);
		if (error < 0) {
			r = store_error_git(error, "file \"%s\": cannot add to tree", path);
			goto done;
		}
		free(name);
		name = NULL;
		i = j;
	}
	if ((error = git_treebuilder_write(out, bld)) < 0) {
		r = store_error_git(error, "cannot write a tree");
		goto done;
	}
	r = ids_add(ids, out);
done:
	free(name);
	git_tree_free(sub);
	git_treebuilder_free(bld);
	return r;
}

int store_commit_write(git_oid *out, ledger_repo *repo, const git_tree *tree,
                       const git_commit **parents, size_t nparents, const char *message,
                       const ledger_commit_options *opts)
{
	git_signature *sig = NULL;
	git_buf buf = GIT_BUF_INIT;
	char *armour = NULL;
	int64_t when;
	int r, error;

	when = opts->time ? opts->time : (int64_t)time(NULL);
	if ((error = git_signature_new(&sig, opts->name, opts->email, (git_time_t)when, 0)) < 0) {
		r = store_error_git(error, "invalid commit identity \"%s <%s>\"", opts->name,
		                    opts->email);
		goto done;
	}
	error = git_commit_create_buffer(&buf, repo->git, sig, sig, NULL, message, tree,
	                                 nparents, parents);
	if (error < 0) {
		r = store_error_git(error, "cannot build the commit");
		goto done;
	}
	if (opts->sign) {
		size_t len;

		if ((r = opts->sign(&armour, buf.ptr, buf.size, opts->sign_payload)) != 0) {
			if (r > 0)
				r = LEDGER_ECRYPTO;
			ledger_error_prefix("cannot sign the commit");
			goto done;
		}
		if (!armour) {
			r = ledger_error_set(LEDGER_ECRYPTO, "cannot sign the commit: no signature");
			goto done;
		}
		/* libgit2 ends the header itself; a final newline would add a " " line. */
		len = strlen(armour);
		while (len > 0 && armour[len - 1] == '\n')
			armour[--len] = '\0';
	}
	error = git_commit_create_with_signature(out, repo->git, buf.ptr, armour,
	                                         armour ? "gpgsig" : NULL);
	if (error < 0) {
		r = store_error_git(error, "cannot write the commit");
		goto done;
	}
	r = 0;
done:
	free(armour);
	git_buf_dispose(&buf);
	git_signature_free(sig);
	return r;
}

int store_mempack_attach(ledger_repo *repo)
{
	git_odb *odb = NULL;
	git_odb_backend *mp = NULL;
	int error;

	if (repo->mempack)
		return 0;
	if ((error = git_repository_odb(&odb, repo->git)) < 0)
		return store_error_git(error, "cannot open the object database");
	if ((error = git_mempack_new(&mp)) == 0 &&
	    (error = git_odb_add_backend(odb, mp, STORE_MEMPACK_PRIORITY)) < 0)
		mp->free(mp);
	git_odb_free(odb);
	if (error < 0)
		return store_error_git(error, "cannot set up an in-memory object store");
	repo->mempack = mp;
	return 0;
}

/*
 * Write the files' blobs, the trees along their paths over `base` (NULL:
 * none) and the commit over `parent` (NULL: a root commit) as one new pack,
 * durable on return.  One pack and one index are written and fsynced per
 * commit, not a loose file per object.
 */
static int objects_write(git_oid *out, ledger_repo *repo, const git_tree *base,
                         const git_commit *parent, const struct store_entry *ents, size_t n,
                         const ledger_commit_options *opts)
{
	struct store_ids ids = { 0 };
	git_tree *tree = NULL;
	git_oid tree_id;
	int r, error;

	if ((r = store_mempack_attach(repo)) < 0)
		return r;
	if ((r = blobs_write(repo, ents, n, &ids)) < 0 ||
	    (r = tree_build(&tree_id, repo, base, ents, n, 0, &ids)) < 0)
		goto done;
	if ((error = git_tree_lookup(&tree, repo->git, &tree_id)) < 0) {
		r = store_error_git(error, "cannot read the new tree");
		goto done;
	}
	if ((r = store_commit_write(out, repo, tree, parent ? &parent : NULL, parent ? 1 : 0,
	                            opts->message, opts)) < 0 ||
	    (r = ids_add(&ids, out)) < 0 ||
	    (r = store_pack_write(repo, ids.ids, ids.count)) < 0)
		goto done;
	r = 0;
done:
	/* On disk now, or given up: either way nothing may stay behind in memory. */
	git_mempack_reset(repo->mempack);
	git_tree_free(tree);
	free(ids.ids);
	return r;
}

int store_commit_options_check(const ledger_commit_options *opts, int need_message)
{
	if (!opts || opts->version != LEDGER_COMMIT_OPTIONS_VERSION)
		return ledger_error_set(LEDGER_EINVALID, "commit options missing or of an unknown version");
	if ((need_message && !opts->message) || !opts->name || !opts->email)
		return ledger_error_set(LEDGER_EINVALID, "commit options need a message, name and email");
	return 0;
}

static int repo_wrap(ledger_repo **out, git_repository *git)
{
	ledger_repo *repo;
	char *abs;
	size_t len;

	repo = calloc(1, sizeof(*repo));
	abs = realpath(git_repository_path(git), NULL);
	if (!repo || !abs) {
		free(repo);
		free(abs);
		return ledger_error_set(LEDGER_ENOMEM, "cannot resolve the git directory \"%s\"",
		                        git_repository_path(git));
	}
	len = strlen(abs);
	while (len > 1 && abs[len - 1] == '/')
		abs[--len] = '\0';
	repo->git = git;
	repo->git_dir = abs;
	*out = repo;
	return 0;
}

/* 0 when `path` does not exist or is an empty directory. */
static int dir_check_empty(const char *path, int *existed)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	*existed = 0;
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return ledger_error_set(errno == ENOTDIR ? LEDGER_EEXISTS : LEDGER_EIO,
		                        "'%s': cannot create a ledger here: %s", path,
		                        strerror(errno));
	}
	*existed = 1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			r = ledger_error_set(LEDGER_EEXISTS, "'%s' exists and is not empty", path);
			break;
		}
	}
	closedir(d);
	return r;
}

static int fsync_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type != FTW_F && type != FTW_D && type != FTW_DP)
		return 0;
	return store_fsync_path(path) < 0 ? 1 : 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	if (ftw->level == 0)
		return 0;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? 1 : 0;
}

/* Make the new repository durable: every file and directory in it, and its name. */
static int init_sync(const char *git_dir)
{
	char *parent;
	char *slash;
	int r;

	if (nftw(git_dir, fsync_one, 16, FTW_PHYS | FTW_DEPTH) != 0)
		return ledger_error_prefix("'%s'", git_dir);
	parent = strdup(git_dir);
	if (!parent)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	r = store_fsync_path(slash ? parent : ".");
	free(parent);
	return r;
}

int ledger_repo_init(ledger_repo **out, const char *path, const ledger_file *files,
                     size_t count, const ledger_commit_options *opts)
{
	git_repository_init_options iopts;
	git_repository *git = NULL;
	ledger_repo *repo = NULL;
	struct store_entry *ents = NULL;
	git_reference *ref = NULL;
	git_oid commit_id;
	size_t n;
	int existed, made = 0, r, error;

	*out = NULL;
	if ((r = store_global()) < 0)
		return r;
	if (!path || !*path)
		return ledger_error_set(LEDGER_EINVALID, "no ledger path given");
	if ((r = store_commit_options_check(opts, 1)) < 0)
		return r;
	if ((r = entries_prepare(&ents, &n, files, count)) < 0)
		return r;
	if ((r = dir_check_empty(path, &existed)) < 0)
		goto done;
	if ((error = git_repository_init_options_init(&iopts, GIT_REPOSITORY_INIT_OPTIONS_VERSION)) < 0) {
		r = store_error_git(error, "cannot set up the repository options");
		goto done;
	}
	iopts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
	              GIT_REPOSITORY_INIT_NO_REINIT;
	iopts.initial_head = "main";
	if ((error = git_repository_init_ext(&git, path, &iopts)) < 0) {
		r = store_error_git(error, "'%s': cannot create the repository", path);
		goto done;
	}
	made = 1;
	if ((r = repo_wrap(&repo, git)) < 0)
		goto done;
	git = NULL; /* owned by repo */
	if ((r = objects_write(&commit_id, repo, NULL, NULL, ents, n, opts)) < 0)
		goto done;
	error = git_reference_create(&ref, repo->git, LEDGER_MAIN_REF, &commit_id, 0, "cymat: init");
	if (error < 0) {
		r = store_error_git(error, "cannot create %s", LEDGER_MAIN_REF);
		goto done;
	}
	if ((r = init_sync(repo->git_dir)) < 0)
		goto done;
	*out = repo;
	repo = NULL; /* transferred */
	r = 0;
done:
	git_reference_free(ref);
	ledger_repo_free(repo);
	git_repository_free(git);
	free(ents);
	if (r < 0 && made) {
		/* The directory was absent or empty before: leave it as it was. */
		nftw(path, remove_one, 16, FTW_PHYS | FTW_DEPTH);
		if (!existed)
			rmdir(path);
	}
	return r;
}

int ledger_repo_open(ledger_repo **out, const char *path)
{
	git_repository *git = NULL;
	int r, error;

	*out = NULL;
	if ((r = store_global()) < 0)
		return r;
	if (!path || !*path)
		return ledger_error_set(LEDGER_EINVALID, "no ledger path given");
	error = git_repository_open_ext(&git, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (error == GIT_ENOTFOUND)
		return ledger_error_set(LEDGER_ENOTFOUND,
		                        "'%s' is not a cymat ledger (no git repository)", path);
	if (error < 0)
		return store_error_git(error, "'%s': cannot open the ledger", path);
	if ((r = repo_wrap(out, git)) < 0)
		git_repository_free(git);
	return r;
}

int ledger_repo_open_env(ledger_repo **out)
{
	git_repository *git = NULL;
	int r, error;

	*out = NULL;
	if ((r = store_global()) < 0)
		return r;
	/* libgit2 reads GIT_DIR, GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES, ... */
	error = git_repository_open_ext(&git, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL);
	if (error == GIT_ENOTFOUND)
		return ledger_error_set(LEDGER_ENOTFOUND,
		                        "no git repository in the environment (GIT_DIR) or here");
	if (error < 0)
		return store_error_git(error, "cannot open the repository of the environment");
	if ((r = repo_wrap(out, git)) < 0)
		git_repository_free(git);
	else
		(*out)->odb_from_env = 1;
	return r;
}

void ledger_repo_free(ledger_repo *repo)
{
	if (!repo)
		return;
	if (repo->lock_held)
		store_lock_release(repo);
	git_repository_free(repo->git);
	free(repo->git_dir);
	free(repo->state_dir);
	free(repo);
}

const char *ledger_repo_git_dir(const ledger_repo *repo)
{
	return repo ? repo->git_dir : NULL;
}

int ledger_repo_state_dir(const char **out, ledger_repo *repo)
{
	char *dir;

	*out = NULL;
	if (!repo->state_dir) {
		if (asprintf(&dir, "%s/cymat", repo->git_dir) < 0)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			ledger_error_set(LEDGER_EIO, "cannot create \"%s\": %s", dir, strerror(errno));
			free(dir);
			return LEDGER_EIO;
		}
		repo->state_dir = dir;
	}
	*out = repo->state_dir;
	return 0;
}

int store_lookup_commit(git_commit **out, ledger_repo *repo, const char *rev)
{
	git_object *obj = NULL;
	git_oid id;
	int error;

	*out = NULL;
	if (!rev) {
		error = git_reference_name_to_id(&id, repo->git, LEDGER_MAIN_REF);
		if (error == GIT_ENOTFOUND)
			return ledger_error_set(LEDGER_ENOTFOUND, "'%s': no %s", repo->git_dir,
			                        LEDGER_MAIN_REF);
		if (error < 0)
			return store_error_git(error, "cannot read %s", LEDGER_MAIN_REF);
		if ((error = git_commit_lookup(out, repo->git, &id)) < 0)
			return store_error_git(error, "cannot read the tip of %s", LEDGER_MAIN_REF);
		return 0;
	}
	if ((error = git_revparse_single(&obj, repo->git, rev)) < 0) {
		if (error == GIT_ENOTFOUND)
			return ledger_error_set(LEDGER_ENOTFOUND, "revision \"%s\" not found", rev);
		return store_error_git(error, "revision \"%s\"", rev);
	}
	error = git_object_peel((git_object **)out, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (error < 0)
		return ledger_error_set(LEDGER_EINVALID, "revision \"%s\" is not a commit", rev);
	return 0;
}

int ledger_repo_head(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo)
{
	git_commit *c = NULL;
	int r;

	if ((r = store_lookup_commit(&c, repo, NULL)) < 0)
		return r;
	oid_hex(out, git_commit_id(c));
	git_commit_free(c);
	return 0;
}

int ledger_repo_resolve(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo, const char *rev)
{
	git_commit *c = NULL;
	int r;

	if (!rev)
		return ledger_error_set(LEDGER_EINVALID, "no revision given");
	if ((r = store_lookup_commit(&c, repo, rev)) < 0)
		return r;
	oid_hex(out, git_commit_id(c));
	git_commit_free(c);
	return 0;
}

/* Keep the files not already in `tree`; a path present with other bytes is refused. */
static int entries_filter(size_t *out_count, struct store_entry *ents, size_t count,
                          const git_tree *tree)
{
	size_t i, n = 0;

	for (i = 0; i < count; i++) {
		git_tree_entry *te = NULL;
		int error, same;

		error = git_tree_entry_bypath(&te, tree, ents[i].file->path);
		if (error == GIT_ENOTFOUND) {
			ents[n++] = ents[i];
			continue;
		}
		if (error < 0)
			return store_error_git(error, "file \"%s\"", ents[i].file->path);
		same = git_tree_entry_type(te) == GIT_OBJECT_BLOB &&
		       git_tree_entry_filemode(te) == GIT_FILEMODE_BLOB &&
		       git_oid_equal(git_tree_entry_id(te), &ents[i].id);
		git_tree_entry_free(te);
		if (!same)
			return ledger_error_set(LEDGER_EEXISTS,
			                        "file \"%s\": already in the ledger with different content",
			                        ents[i].file->path);
	}
	*out_count = n;
	return 0;
}

int ledger_repo_append(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo,
                       const ledger_file *files, size_t count,
                       const ledger_commit_options *opts)
{
	struct store_entry *ents = NULL;
	git_commit *tip = NULL;
	git_tree *tip_tree = NULL;
	git_reference *ref = NULL;
	git_oid tip_id, commit_id;
	size_t n;
	int locked = 0, r, error;

	if ((r = store_commit_options_check(opts, 1)) < 0)
		return r;
	if ((r = entries_prepare(&ents, &n, files, count)) < 0)
		return r;
	if ((r = store_lock_acquire(repo, LEDGER_MAIN_REF)) < 0)
		goto done;
	locked = 1;
	if ((r = store_lookup_commit(&tip, repo, NULL)) < 0)
		goto done;
	git_oid_cpy(&tip_id, git_commit_id(tip));
	if ((error = git_commit_tree(&tip_tree, tip)) < 0) {
		r = store_error_git(error, "cannot read the tree of %s", LEDGER_MAIN_REF);
		goto done;
	}
	if ((r = entries_filter(&n, ents, n, tip_tree)) < 0)
		goto done;
	if (n == 0) {
		oid_hex(out, &tip_id);
		r = 0;
		goto done;
	}
	if ((r = objects_write(&commit_id, repo, tip_tree, tip, ents, n, opts)) < 0)
		goto done;
	/*
	 * The new pack is durable.  Compare-and-swap; the ref file and
	 * refs/heads/ are fsynced by libgit2.
	 */
	error = git_reference_create_matching(&ref, repo->git, LEDGER_MAIN_REF, &commit_id, 1,
	                                      &tip_id, "cymat: append");
	if (error == GIT_EMODIFIED) {
		char hex[LEDGER_OID_HEX_LEN + 1];

		oid_hex(hex, &tip_id);
		r = ledger_error_set(LEDGER_ECONFLICT, "%s moved away from %s during the append",
		                     LEDGER_MAIN_REF, hex);
		goto done;
	}
	if (error < 0) {
		r = store_error_git(error, "cannot update %s", LEDGER_MAIN_REF);
		goto done;
	}
	oid_hex(out, &commit_id);
	/*
	 * The commit is durable.  Packing only speeds readers up, so its failure
	 * is not ours; other appenders need not wait for it.
	 */
	store_lock_release(repo);
	locked = 0;
	store_pack_auto(repo);
	ledger_error_clear();
	r = 0;
done:
	if (locked)
		store_lock_release(repo);
	git_reference_free(ref);
	git_tree_free(tip_tree);
	git_commit_free(tip);
	free(ents);
	return r;
}

int store_commit_tree(git_tree **out, ledger_repo *repo, const char *rev)
{
	git_commit *c = NULL;
	int r, error;

	if ((r = store_lookup_commit(&c, repo, rev)) < 0)
		return r;
	error = git_commit_tree(out, c);
	git_commit_free(c);
	if (error < 0)
		return store_error_git(error, "cannot read the tree of \"%s\"", rev ? rev : "main");
	return 0;
}

/*
 * Bytes past which a file of the ledger is not read: the record limit
 * (FORMAT section 2, LEDGER_JSON_LIMITS_INIT).  A blob's size is in its
 * object header, so a blob of gigabytes that compresses to kilobytes is
 * judged without inflating it.
 */
#define STORE_FILE_MAX (1u << 20)

/*
 * Stands in for the bytes of a file over STORE_FILE_MAX: one byte over, so
 * that no record parses.  Zeros in .bss: reading it maps no memory of its own.
 */
static const char oversize_standin[STORE_FILE_MAX + 1];

/*
 * Give the repository a fresh object database.  libgit2 keeps the pack
 * windows it maps while the database holding the packs is open, and every
 * page touched in them counts in the process's memory: a full verification
 * of 100,000 records held all 180 MB of the packs.  The walks below hand
 * the database back every STORE_READ_BATCH objects, so that only what the
 * last batch touched stays mapped (the file pages stay in the page cache).
 * Only between writes: the in-memory backend of an append is empty then,
 * and a new (empty) one is put above the new database.
 */
int store_odb_drop(ledger_repo *repo)
{
	git_odb *odb = NULL;
	int error;

	/*
	 * Packs are shared by path while any database holds them: the old
	 * database goes first (an empty one stands in), or the new one would
	 * take over its packs, windows and all.
	 */
	if ((error = git_odb_new(&odb)) == 0)
		error = git_repository_set_odb(repo->git, odb);
	git_odb_free(odb);
	if (error < 0)
		return store_error_git(error, "cannot open the object database");
	return 0;
}

int store_odb_open(ledger_repo *repo)
{
	git_buf dir = GIT_BUF_INIT;
	git_odb *odb = NULL;
	git_odb_backend *mp = NULL;
	int error;

	if ((error = git_repository_item_path(&dir, repo->git, GIT_REPOSITORY_ITEM_OBJECTS)) < 0 ||
	    (error = git_odb_open(&odb, dir.ptr)) < 0)
		goto done;
	if (repo->mempack && (error = git_mempack_new(&mp)) == 0 &&
	    (error = git_odb_add_backend(odb, mp, STORE_MEMPACK_PRIORITY)) < 0) {
		mp->free(mp); /* not the database's */
		mp = NULL;
	}
	if (error < 0 || (error = git_repository_set_odb(repo->git, odb)) < 0)
		goto done;
	if (mp)
		repo->mempack = mp; /* the old one went with the old database */
done:
	git_odb_free(odb);
	git_buf_dispose(&dir);
	if (error < 0)
		return store_error_git(error, "cannot open the object database");
	return 0;
}

static int odb_reopen(ledger_repo *repo)
{
	int r;

	/* Its database was built from the environment (a hook's quarantine): keep it. */
	if (repo->odb_from_env)
		return 0;
	if ((r = store_odb_drop(repo)) < 0)
		return r;
	return store_odb_open(repo);
}

int store_odb_fresh(ledger_repo *repo)
{
	return odb_reopen(repo);
}

/*
 * odb_reopen while the history check runs on another thread over the same
 * packs (store_check_and_read): the check lets go of its database too
 * before the fresh one opens, then opens a fresh one of its own
 * (history_reopen in store_history.c).
 */
static int odb_reopen_shared(ledger_repo *repo, store_order *order)
{
	unsigned long gen;
	int r;

	if (repo->odb_from_env)
		return 0;
	pthread_mutex_lock(&order->lock);
	gen = order->gen + 1;
	__atomic_store_n(&order->gen, gen, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&order->lock);
	r = store_odb_drop(repo);
	pthread_mutex_lock(&order->lock);
	while (r == 0 && order->released < gen && !order->done)
		pthread_cond_wait(&order->changed, &order->lock);
	pthread_mutex_unlock(&order->lock);
	if (r == 0)
		r = store_odb_open(repo);
	pthread_mutex_lock(&order->lock);
	order->opened = gen;
	pthread_cond_broadcast(&order->changed);
	pthread_mutex_unlock(&order->lock);
	return r;
}

/*
 * Objects a walk reads between two odb_reopen calls.  Each costs both
 * threads of a full verification their windows, indexes and delta bases,
 * read again: 8192 instead of 4096 read the bench ledger's 102,042 records
 * in ~0.5 CPU-s less (of ~6.5, under load), for ~6 MB more at the peak.
 */
#define STORE_READ_BATCH 8192
/*
 * The same for a walk of what changed between two commits (the policy
 * cache's files added since its tip, a merge's, a bundle's): its trees and
 * files lie all over the packs, a few pages each, so that 8192 of them
 * touched most pages of the bench ledger's 31 MB pack (36 MB more at the
 * peak of one `cymat append`, whose judging walks the ~1,000 files added
 * since the policy cache's tip).
 */
#define STORE_SCATTERED_BATCH 512

/* Reading many objects of a repository (files and trees) without holding every pack page. */
struct reader {
	ledger_repo *repo;
	git_odb *odb;  /* the repository's current one, or NULL */
	size_t count;  /* objects read since the last reopen */
	size_t batch;  /* objects between two reopens; 0: STORE_READ_BATCH */
	store_order *order; /* a history check running meanwhile, or NULL */
};

static void reader_release(struct reader *rd)
{
	git_odb_free(rd->odb);
	rd->odb = NULL;
}

/* Count one object read; every batch, a fresh object database. */
static int reader_tick(struct reader *rd)
{
	if (++rd->count < (rd->batch ? rd->batch : STORE_READ_BATCH))
		return 0;
	rd->count = 0;
	reader_release(rd);
	return rd->order ? odb_reopen_shared(rd->repo, rd->order) : odb_reopen(rd->repo);
}

/*
 * The bytes of blob `id` (file `path`): *data and *len, held by *obj (free
 * it with git_odb_object_free).  The size is looked up in the object header
 * first: a blob over STORE_FILE_MAX is not read, *obj is NULL and *data is
 * oversize_standin.
 */
static int reader_blob(git_odb_object **obj, const char **data, size_t *len, struct reader *rd,
                       const git_oid *id, const char *path)
{
	git_object_t type;
	size_t size = 0;
	int error;

	*obj = NULL;
	if (!rd->odb && (error = git_repository_odb(&rd->odb, rd->repo->git)) < 0)
		return store_error_git(error, "cannot open the object database");
	if ((error = git_odb_read_header(&size, &type, rd->odb, id)) < 0)
		return store_error_git(error, "file \"%s\": cannot read", path);
	if (type != GIT_OBJECT_BLOB)
		return ledger_error_set(LEDGER_EINVALID, "file \"%s\": not a blob", path);
	if (size > STORE_FILE_MAX) {
		*data = oversize_standin;
		*len = sizeof(oversize_standin);
		return 0;
	}
	if ((error = git_odb_read(obj, rd->odb, id)) < 0)
		return store_error_git(error, "file \"%s\": cannot read", path);
	*data = git_odb_object_data(*obj);
	*len = git_odb_object_size(*obj);
	return 0;
}

int ledger_repo_read(char **out, size_t *out_len, ledger_repo *repo, const char *commit,
                     const char *path)
{
	struct reader rd = { repo, NULL, 0, 0, NULL };
	git_tree *tree = NULL;
	git_tree_entry *te = NULL;
	git_odb_object *obj = NULL;
	const char *data;
	char *buf;
	size_t len;
	int r, error;

	*out = NULL;
	if (out_len)
		*out_len = 0;
	if (!path)
		return ledger_error_set(LEDGER_EINVALID, "no path given");
	if ((r = store_commit_tree(&tree, repo, commit)) < 0)
		return r;
	error = git_tree_entry_bypath(&te, tree, path);
	if (error == GIT_ENOTFOUND) {
		r = ledger_error_set(LEDGER_ENOTFOUND, "file \"%s\" not found in \"%s\"", path,
		                     commit ? commit : "main");
		goto done;
	}
	if (error < 0) {
		r = store_error_git(error, "file \"%s\"", path);
		goto done;
	}
	if (git_tree_entry_type(te) != GIT_OBJECT_BLOB) {
		r = ledger_error_set(LEDGER_ENOTFOUND, "\"%s\" is not a file", path);
		goto done;
	}
	if ((r = reader_blob(&obj, &data, &len, &rd, git_tree_entry_id(te), path)) < 0)
		goto done;
	if (!obj) {
		r = ledger_error_set(LEDGER_EINVALID, "file \"%s\": larger than %u bytes", path,
		                     STORE_FILE_MAX);
		goto done;
	}
	buf = malloc(len + 1);
	if (!buf) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(buf, data, len);
	buf[len] = '\0';
	*out = buf;
	if (out_len)
		*out_len = len;
	r = 0;
done:
	git_odb_object_free(obj);
	reader_release(&rd);
	git_tree_entry_free(te);
	git_tree_free(tree);
	return r;
}

/* A file to read later: where its path is in the list's buffer, its blob, its place. */
struct listed_file {
	size_t path_at;
	git_oid id;
	size_t rank; /* in path order */
};

struct file_list {
	struct listed_file *items;
	size_t count, cap;
	char *paths;
	size_t paths_len, paths_cap;
};

struct file_walk {
	ledger_repo *repo;
	struct reader rd;
	ledger_file_cb cb;
	void *payload;
	int differing; /* the files both trees hold with different bytes, not the added ones */
	struct file_list *list; /* when set, files are listed here instead of read */
	int paths_only; /* cb gets each path with no data: its blob is not read */
	const store_trees *trees; /* read already (a history check's), or NULL */
	char path[STORE_PATH_MAX];
};

static int list_add(struct file_list *l, const char *path, const git_oid *id)
{
	size_t n = strlen(path) + 1;

	if (l->count == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		struct listed_file *bigger = realloc(l->items, cap * sizeof(*bigger));

		if (!bigger)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		l->items = bigger;
		l->cap = cap;
	}
	if (l->paths_len + n > l->paths_cap) {
		size_t cap = l->paths_cap ? 2 * l->paths_cap : 64 * 1024;
		char *bigger;

		while (cap < l->paths_len + n)
			cap *= 2;
		if (!(bigger = realloc(l->paths, cap)))
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		l->paths = bigger;
		l->paths_cap = cap;
	}
	memcpy(l->paths + l->paths_len, path, n);
	l->items[l->count].path_at = l->paths_len;
	git_oid_cpy(&l->items[l->count].id, id);
	l->items[l->count].rank = l->count;
	l->paths_len += n;
	l->count++;
	return 0;
}

/* Append "/name" (or "name" at the start) to w->path at `len`; the new length, or 0 if too long. */
static size_t walk_push(struct file_walk *w, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len + 1 + n + 1 > sizeof(w->path))
		return 0;
	if (len)
		w->path[len++] = '/';
	memcpy(w->path + len, name, n + 1);
	return len + n;
}

static int walk_blob(struct file_walk *w, const git_tree_entry *e)
{
	git_odb_object *obj = NULL;
	const char *data;
	size_t len;
	int r;

	if (w->list)
		return list_add(w->list, w->path, git_tree_entry_id(e));
	if (w->paths_only)
		return w->cb(w->path, NULL, 0, w->payload);
	if ((r = reader_blob(&obj, &data, &len, &w->rd, git_tree_entry_id(e), w->path)) < 0)
		return r;
	r = w->cb(w->path, data, len, w->payload);
	git_odb_object_free(obj);
	if (r == 0)
		r = reader_tick(&w->rd);
	return r;
}

/* git_tree_lookup, or the tree the history check read already. */
static int walk_tree(git_tree **out, struct file_walk *w, const git_oid *id)
{
	if (store_trees_find(out, w->trees, id))
		return 0;
	return git_tree_lookup(out, w->repo->git, id);
}

static int walk_added(struct file_walk *w, const git_tree *from, const git_tree *to, size_t len);

/*
 * Entry `e` of `to` against `from`'s entry of its name, `f` (or NULL), for
 * walk_added.  w->path holds the directory at `len`.
 */
static int walk_entry(struct file_walk *w, const git_tree_entry *e, const git_tree_entry *f,
                      size_t len)
{
	const char *name = git_tree_entry_name(e);
	git_object_t type = git_tree_entry_type(e);
	size_t sub_len;
	int r = 0;

	if (f && git_oid_equal(git_tree_entry_id(e), git_tree_entry_id(f)) &&
	    git_tree_entry_filemode(e) == git_tree_entry_filemode(f))
		return 0;
	if (w->differing && (!f || git_tree_entry_type(f) != type))
		return 0; /* nothing in common below */
	/*
	 * A path longer, or a directory deeper, than any ledger's holds
	 * no record: the history check reports it (TOO_DEEP); walking it
	 * would only let a hostile tree recurse without end.
	 */
	if (!(sub_len = walk_push(w, len, name)))
		return 0;
	if (type == GIT_OBJECT_TREE && store_path_depth(w->path) >= STORE_TREE_DEPTH_MAX) {
		w->path[len] = '\0';
		return 0;
	}
	if (type == GIT_OBJECT_TREE) {
		git_tree *sub_to = NULL, *sub_from = NULL;
		size_t added = SIZE_MAX;
		int error;

		error = walk_tree(&sub_to, w, git_tree_entry_id(e));
		/*
		 * The history check proved it the parent's version plus one
		 * entry: only that entry is new, and the parent's version (a
		 * read of a tree scattered in the packs) is not needed.
		 */
		if (error == 0 && f && git_tree_entry_type(f) == GIT_OBJECT_TREE &&
		    !store_trees_one_added(&added, w->trees, git_tree_entry_id(e),
		                           git_tree_entry_id(f)))
			error = walk_tree(&sub_from, w, git_tree_entry_id(f));
		/* Trees parsed are the walk's own: the database may change under them. */
		if (error < 0)
			r = store_error_git(error, "\"%s\": cannot read tree", w->path);
		else if ((r = reader_tick(&w->rd)) == 0)
			r = added != SIZE_MAX ?
			    walk_entry(w, git_tree_entry_byindex(sub_to, added), NULL, sub_len) :
			    walk_added(w, sub_from, sub_to, sub_len);
		git_tree_free(sub_from);
		git_tree_free(sub_to);
	} else if (type == GIT_OBJECT_BLOB && git_tree_entry_filemode(e) != GIT_FILEMODE_LINK &&
	           (w->differing ? !git_oid_equal(git_tree_entry_id(e), git_tree_entry_id(f))
	                         : !f || git_tree_entry_type(f) != GIT_OBJECT_BLOB)) {
		r = walk_blob(w, e);
	}
	w->path[len] = '\0';
	return r;
}

/*
 * Files of `to` that `from` (NULL: none) lacks (w->differing: that both
 * hold with different bytes), in path order, skipping subtrees whose ids are
 * equal.  w->path holds the directory at `len`.
 */
static int walk_added(struct file_walk *w, const git_tree *from, const git_tree *to, size_t len)
{
	size_t i, count = git_tree_entrycount(to);
	int r = 0;

	for (i = 0; i < count && r == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(to, i);
		const git_tree_entry *f = from ? git_tree_entry_byname(from, git_tree_entry_name(e)) :
		                                 NULL;

		r = walk_entry(w, e, f, len);
	}
	return r;
}

/* The records/ subtree of `rev`, or NULL when it has none; from `trees` (may be NULL) if there. */
static int records_tree(git_tree **out, ledger_repo *repo, const char *rev,
                        const store_trees *trees)
{
	git_tree *root = NULL;
	const git_tree_entry *e;
	int r, error = 0;

	*out = NULL;
	if ((r = store_commit_tree(&root, repo, rev)) < 0)
		return r;
	e = git_tree_entry_byname(root, "records");
	if (e && git_tree_entry_type(e) == GIT_OBJECT_TREE &&
	    !store_trees_find(out, trees, git_tree_entry_id(e)))
		error = git_tree_lookup(out, repo->git, git_tree_entry_id(e));
	git_tree_free(root);
	if (error < 0)
		return store_error_git(error, "cannot read records/ of \"%s\"", rev ? rev : "main");
	return 0;
}

static int foreach_added(ledger_repo *repo, const char *from, const char *to, int from_empty,
                         int differing, int paths_only, ledger_file_cb cb, void *payload)
{
	git_tree *t_from = NULL, *t_to = NULL;
	struct file_walk *w = NULL;
	int r;

	if (!cb)
		return ledger_error_set(LEDGER_EINVALID, "no callback given");
	if ((r = records_tree(&t_to, repo, to, NULL)) < 0)
		goto done;
	if (!from_empty && (r = records_tree(&t_from, repo, from, NULL)) < 0)
		goto done;
	if (!t_to)
		goto done;
	w = calloc(1, sizeof(*w));
	if (!w) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	w->repo = repo;
	w->rd.repo = repo;
	w->cb = cb;
	w->payload = payload;
	w->differing = differing;
	w->paths_only = paths_only;
	if (!from_empty)
		w->rd.batch = STORE_SCATTERED_BATCH;
	r = walk_added(w, t_from, t_to, walk_push(w, 0, "records"));
	reader_release(&w->rd);
done:
	free(w);
	git_tree_free(t_from);
	git_tree_free(t_to);
	return r;
}

/*
 * Why a history check on a thread of its own opens its repository as `repo`
 * was (store_internal.h): a git_repository is not to be used by two threads
 * at once, and two must not share a git_odb either.  libgit2 1.5 reads a
 * database through the object cache of the repository that set it last
 * (git_repository_set_odb, git_repository_wrap_odb) and that repository
 * frees the cache when it goes, while the other may still be reading.  The
 * packs themselves are shared by path, under libgit2's lock.
 */
int store_history_git_open(git_repository **out, const ledger_repo *repo)
{
	int error;

	if (repo->odb_from_env)
		error = git_repository_open_ext(out, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL);
	else
		error = git_repository_open_ext(out, repo->git_dir, GIT_REPOSITORY_OPEN_NO_SEARCH,
		                                NULL);
	if (error < 0)
		return store_error_git(error, "\"%s\": cannot open the ledger for the history check",
		                       repo->git_dir);
	return 0;
}

/* The history check on its own thread, over a repository of its own. */
struct history_run {
	ledger_repo repo; /* the caller's, but for `git` */
	const char *from, *to;
	ledger_change_cb cb;
	void *payload;
	store_order *order;
	int error_code; /* and message, of the check's error, for the caller's thread */
	char error_message[1024];
};

static void *history_thread(void *arg)
{
	struct history_run *run = arg;
	store_order *order = run->order;
	int r = store_check_history_ordered(&run->repo, run->from, run->to, run->cb, run->payload,
	                                    order);

	/* Its database holds the packs, and their windows, while it lives: not a moment longer. */
	git_repository_free(run->repo.git);
	run->repo.git = NULL;
	if (r < 0) {
		const ledger_error *err = ledger_error_last();

		run->error_code = r;
		snprintf(run->error_message, sizeof(run->error_message), "%s",
		         err && err->message ? err->message : "cannot check the history");
	}
	pthread_mutex_lock(&order->lock);
	order->result = r;
	pthread_mutex_unlock(&order->lock);
	store_order_publish(order, 1);
	return NULL;
}

/*
 * The listed files with blob `id` not read yet, read in path order; the
 * files of a blob are chained by `next`, from `first` (SIZE_MAX: none).
 */
struct listed_index {
	idmap first;
	size_t *next;
	unsigned char *done;
};

static int read_listed(struct file_walk *w, const struct file_list *list, size_t i,
                       const store_check_read_cbs *cbs)
{
	const struct listed_file *f = &list->items[i];
	const char *path = list->paths + f->path_at;
	git_odb_object *obj = NULL;
	const char *data;
	size_t len;
	int r;

	if ((r = reader_blob(&obj, &data, &len, &w->rd, &f->id, path)) < 0)
		return r;
	r = cbs->file(f->rank, path, data, len, cbs->payload);
	git_odb_object_free(obj);
	return r ? r : reader_tick(&w->rd);
}

static int read_noted(struct file_walk *w, const struct file_list *list,
                      struct listed_index *ix, const git_oid *id,
                      const store_check_read_cbs *cbs)
{
	uint8_t key[32] = { 0 };
	size_t i;
	int r = 0;

	memcpy(key, id->id, GIT_OID_RAWSZ);
	if (!idmap_get(&ix->first, key, &i))
		return 0;
	for (; i != SIZE_MAX && r == 0; i = ix->next[i]) {
		if (ix->done[i])
			continue;
		ix->done[i] = 1;
		r = read_listed(w, list, i, cbs);
	}
	return r;
}

/* Read the files as the check notes their blobs, then those it did not note. */
static int read_in_order(struct file_walk *w, const struct file_list *list, store_order *order,
                         const store_check_read_cbs *cbs)
{
	struct listed_index ix = { 0 };
	git_oid batch[STORE_ORDER_BATCH];
	size_t taken = 0, i;
	int r = 0, done = 0;

	idmap_init(&ix.first);
	ix.next = malloc((list->count + 1) * sizeof(*ix.next));
	ix.done = calloc(list->count + 1, 1);
	if (!ix.next || !ix.done || (r = idmap_reserve(&ix.first, list->count)) < 0) {
		r = r ? r : ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	/* Backwards, so that each chain is in path order. */
	for (i = list->count; i-- > 0;) {
		uint8_t key[32] = { 0 };
		size_t next;

		memcpy(key, list->items[i].id.id, GIT_OID_RAWSZ);
		ix.next[i] = idmap_get(&ix.first, key, &next) ? next : SIZE_MAX;
		if ((r = idmap_put(&ix.first, key, i)) < 0)
			goto done;
	}
	while (!done && r == 0) {
		size_t n;

		pthread_mutex_lock(&order->lock);
		while (taken == order->published && !order->done)
			pthread_cond_wait(&order->changed, &order->lock);
		n = order->published - taken;
		if (n > STORE_ORDER_BATCH)
			n = STORE_ORDER_BATCH;
		if (n)
			memcpy(batch, order->ids + taken, n * sizeof(*batch));
		taken += n;
		done = order->done && taken == order->published;
		if (done && order->result < 0)
			r = order->result;
		pthread_mutex_unlock(&order->lock);
		for (i = 0; i < n && r == 0; i++)
			r = read_noted(w, list, &ix, &batch[i], cbs);
	}
	for (i = 0; i < list->count && r == 0; i++)
		if (!ix.done[i])
			r = read_listed(w, list, i, cbs);
done:
	idmap_release(&ix.first);
	free(ix.next);
	free(ix.done);
	return r;
}

/* A noted path the listing gives: one under records/ (the genesis commit also notes LEDGER). */
static int noted_record(const char *path)
{
	return strncmp(path, "records/", strlen("records/")) == 0;
}

struct ranked_path {
	const char *path;
	size_t given; /* the place it came in */
};

static int ranked_path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ranked_path *)a)->path, ((const struct ranked_path *)b)->path);
}

/*
 * The places in path order of the files read_notes gave, all noted:
 * cbs->rerank.  Every tree holding them walks in byte order
 * (store_internal.h), so that byte order is the listing's.
 */
static int rerank_noted(const store_order *order, const store_check_read_cbs *cbs)
{
	struct ranked_path *sorted = NULL;
	size_t *ranks = NULL, n = 0, i;
	int r;

	sorted = malloc((order->count + 1) * sizeof(*sorted));
	ranks = malloc((order->count + 1) * sizeof(*ranks));
	if (!sorted || !ranks) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < order->count; i++)
		if (noted_record(order->paths[i])) {
			sorted[n].path = order->paths[i];
			sorted[n].given = n;
			n++;
		}
	qsort(sorted, n, sizeof(*sorted), ranked_path_cmp);
	for (i = 0; i < n; i++)
		ranks[sorted[i].given] = i;
	r = cbs->rerank(ranks, n, cbs->payload);
done:
	free(sorted);
	free(ranks);
	return r;
}

/*
 * The files of a check of the whole history as it notes them, paths and
 * all, each given with its place as its rank, then reranked (store_order.h).
 * *unproven is set, and reading stops, as soon as the check cannot prove
 * its notes the tip's files: the caller lists them.
 */
static int read_notes(int *unproven, struct file_walk *w, store_order *order,
                      const store_check_read_cbs *cbs)
{
	git_oid ids[STORE_ORDER_BATCH];
	const char *paths[STORE_ORDER_BATCH];
	size_t taken = 0, given = 0, i;
	int r = 0, done = 0, counted = 0;

	while (!done && r == 0) {
		size_t n;

		pthread_mutex_lock(&order->lock);
		while (taken == order->published && !order->done && !order->unproven)
			pthread_cond_wait(&order->changed, &order->lock);
		n = order->published - taken;
		if (n > STORE_ORDER_BATCH)
			n = STORE_ORDER_BATCH;
		if (n) {
			memcpy(ids, order->ids + taken, n * sizeof(*ids));
			memcpy(paths, order->paths + taken, n * sizeof(*paths));
		}
		*unproven = order->unproven;
		done = order->done;
		if (done && order->result < 0)
			r = order->result;
		pthread_mutex_unlock(&order->lock);
		if (*unproven || r < 0)
			return r;
		if (done && !counted) {
			/* The notes are final (the check has ended): how many files are to come. */
			size_t files = 0;

			for (i = taken; i < order->count; i++)
				files += noted_record(order->paths[i]);
			counted = 1;
			if (cbs->count && (r = cbs->count(files, cbs->payload)) != 0)
				return r;
		}
		for (i = 0; i < n && r == 0; i++) {
			git_odb_object *obj = NULL;
			const char *data;
			size_t len;

			if (!noted_record(paths[i]))
				continue;
			if ((r = reader_blob(&obj, &data, &len, &w->rd, &ids[i], paths[i])) < 0)
				break;
			r = cbs->file(given++, paths[i], data, len, cbs->payload);
			git_odb_object_free(obj);
			if (r == 0)
				r = reader_tick(&w->rd);
		}
		taken += n;
		/* The check has ended: on until every note is read. */
		done = done && taken == order->count;
	}
	return r == 0 ? rerank_noted(order, cbs) : r;
}

/* The history check on this thread, keeping its trees in *trees; its result in `order`. */
static int check_inline(store_trees **trees, ledger_repo *repo, const char *from,
                        const char *to, const store_check_read_cbs *cbs, store_order *order)
{
	int r = store_check_history_kept(repo, from, to, cbs->change, cbs->change_payload, order,
	                                 trees);

	pthread_mutex_lock(&order->lock);
	order->result = r;
	pthread_mutex_unlock(&order->lock);
	store_order_publish(order, 1);
	return r < 0 ? r : 0;
}

int store_check_and_read(ledger_repo *repo, const char *from, const char *to,
                         const store_check_read_cbs *cbs)
{
	char from_hex[LEDGER_OID_HEX_LEN + 1], to_hex[LEDGER_OID_HEX_LEN + 1];
	git_tree *t_from = NULL, *t_to = NULL;
	struct file_walk *w = NULL;
	struct file_list list = { 0 };
	struct history_run *run = NULL;
	store_trees *trees = NULL;
	store_order order;
	pthread_t tid;
	size_t kept;
	int r, error, started = 0, have_order = 0, inline_check, from_notes, unproven = 0;

	if (!cbs || !cbs->change || !cbs->file)
		return ledger_error_set(LEDGER_EINVALID, "no callback given");
	/* In hex: the history thread resolves no refs. */
	if ((r = ledger_repo_resolve(to_hex, repo, to)) < 0 ||
	    (from && (r = ledger_repo_resolve(from_hex, repo, from)) < 0))
		return r;
	if ((r = store_order_init(&order)) < 0)
		return r;
	have_order = 1;
	w = calloc(1, sizeof(*w));
	if (!w) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	/*
	 * A range of one commit (or none) is checked on this thread before
	 * the files are listed, and the listing takes the trees the check
	 * read (the same: the commit's and its parent's) instead of reading
	 * them again.  An incremental verification of one append spends about
	 * as long on the check as on the listing, so a thread would save no
	 * time, only open a repository of its own; a longer range checks
	 * more trees than the listing reads, on its thread.
	 */
	inline_check = store_range_single(repo, from ? from_hex : NULL, to_hex);
	if (inline_check < 0) {
		r = inline_check;
		goto done;
	}
	/* The whole history: its check's notes may be the tip's files, unlisted (store_order.h). */
	from_notes = !from && !inline_check && cbs->rerank && cbs->reset;
	order.with_paths = from_notes;
	if (inline_check) {
		if ((r = check_inline(&trees, repo, from ? from_hex : NULL, to_hex, cbs, &order)) < 0)
			goto done;
	} else {
		if (!(run = calloc(1, sizeof(*run)))) {
			r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
			goto done;
		}
		run->repo = *repo;
		run->repo.git = NULL;
		run->repo.mempack = NULL; /* the caller's: empty between writes, and not the check's */
		if ((r = store_history_git_open(&run->repo.git, repo)) < 0)
			goto done;
		run->from = from ? from_hex : NULL;
		run->to = to_hex;
		run->cb = cbs->change;
		run->payload = cbs->change_payload;
		run->order = &order;
		if ((error = pthread_create(&tid, NULL, history_thread, run)) != 0) {
			r = ledger_error_set(LEDGER_ENOMEM, "cannot start a thread: %s",
			                     strerror(error));
			goto done;
		}
		started = 1;
	}
	w->repo = repo;
	w->rd.repo = repo;
	w->rd.order = &order;
	if (from_notes) {
		if ((r = read_notes(&unproven, w, &order, cbs)) != 0 || !unproven)
			goto done;
		/* Not the tip's files, or not in its order: forget them, list the tip. */
		if ((r = cbs->reset(cbs->payload)) != 0)
			goto done;
	}

	/* Meanwhile, the list of files (trees only); their blobs as the check notes them. */
	if ((r = records_tree(&t_to, repo, to_hex, trees)) < 0 ||
	    (from && (r = records_tree(&t_from, repo, from_hex, trees)) < 0))
		goto done;
	w->list = &list;
	w->trees = trees;
	if (t_to && (r = walk_added(w, t_from, t_to, walk_push(w, 0, "records"))) != 0)
		goto done;
	reader_release(&w->rd);
	/*
	 * A fresh database before the files are read lets go of the pack
	 * pages the trees touched.  After a check on this thread that read
	 * few, they are few, and reopening (unmapping the packs, then mapping
	 * their indexes again) was a tenth of an incremental verification:
	 * those trees count towards the reader's next reopen instead.
	 */
	kept = store_trees_count(trees);
	store_trees_free(trees);
	trees = NULL;
	if (inline_check && w->rd.count + kept < STORE_READ_BATCH)
		w->rd.count += kept;
	else if ((r = odb_reopen_shared(repo, &order)) < 0)
		goto done;
	if (cbs->count && (r = cbs->count(list.count, cbs->payload)) != 0)
		goto done;
	r = read_in_order(w, &list, &order, cbs);
done:
	if (started) {
		pthread_mutex_lock(&order.lock);
		order.cancelled = 1;
		pthread_cond_broadcast(&order.changed);
		pthread_mutex_unlock(&order.lock);
		pthread_join(tid, NULL);
	}
	/* The check's error comes first, as it did when the check ran before reading. */
	if (run && run->error_code < 0)
		r = ledger_error_set(run->error_code, "%s", run->error_message);
	else if (have_order && r == 0 && order.result < 0)
		r = order.result;
	else if (have_order && r == 0 && order.result > 0)
		/* It stopped though reading went on: its findings would be missing. */
		r = ledger_error_set(LEDGER_ERROR, "the history check stopped before its end");
	if (w)
		reader_release(&w->rd);
	if (run)
		git_repository_free(run->repo.git); /* the thread's, when it never started */
	store_trees_free(trees);
	if (have_order)
		store_order_release(&order);
	free(list.items);
	free(list.paths);
	free(run);
	free(w);
	git_tree_free(t_from);
	git_tree_free(t_to);
	return r;
}

int ledger_repo_foreach_record(ledger_repo *repo, const char *commit, ledger_file_cb cb,
                               void *payload)
{
	return foreach_added(repo, NULL, commit, 1, 0, 0, cb, payload);
}

int ledger_repo_foreach_added(ledger_repo *repo, const char *from, const char *to,
                              ledger_file_cb cb, void *payload)
{
	return foreach_added(repo, from, to, from == NULL, 0, 0, cb, payload);
}

int store_foreach_added_path(ledger_repo *repo, const char *from, const char *to,
                             ledger_file_cb cb, void *payload)
{
	return foreach_added(repo, from, to, from == NULL, 0, 1, cb, payload);
}

int ledger_repo_foreach_differing(ledger_repo *repo, const char *a, const char *b,
                                  ledger_file_cb cb, void *payload)
{
	return foreach_added(repo, a, b, 0, 1, 0, cb, payload);
}

static int config_local(git_config **out, ledger_repo *repo)
{
	git_config *cfg = NULL;
	int error;

	if ((error = git_repository_config(&cfg, repo->git)) < 0)
		return store_error_git(error, "'%s': cannot read the git config", repo->git_dir);
	error = git_config_open_level(out, cfg, GIT_CONFIG_LEVEL_LOCAL);
	git_config_free(cfg);
	if (error < 0)
		return store_error_git(error, "'%s': cannot read the git config", repo->git_dir);
	return 0;
}

int ledger_repo_config_get(char **out, ledger_repo *repo, const char *key)
{
	git_config *cfg = NULL;
	git_buf buf = GIT_BUF_INIT;
	int r, error;

	*out = NULL;
	if (!key)
		return ledger_error_set(LEDGER_EINVALID, "no config key given");
	if ((r = config_local(&cfg, repo)) < 0)
		return r;
	error = git_config_get_string_buf(&buf, cfg, key);
	if (error == GIT_ENOTFOUND) {
		r = ledger_error_set(LEDGER_ENOTFOUND, "config \"%s\" not set", key);
	} else if (error < 0) {
		r = store_error_git(error, "config \"%s\"", key);
	} else if (!(*out = strdup(buf.ptr))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
	} else {
		r = 0;
	}
	git_buf_dispose(&buf);
	git_config_free(cfg);
	return r;
}

int ledger_repo_config_set(ledger_repo *repo, const char *key, const char *value)
{
	git_config *cfg = NULL;
	char *path = NULL;
	int r, error;

	if (!key || !value)
		return ledger_error_set(LEDGER_EINVALID, "no config key or value given");
	if ((r = config_local(&cfg, repo)) < 0)
		return r;
	if ((error = git_config_set_string(cfg, key, value)) < 0) {
		r = store_error_git(error, "cannot set config \"%s\"", key);
		goto done;
	}
	/* Settings such as the pinned root must survive a crash too. */
	if (asprintf(&path, "%s/config", repo->git_dir) < 0) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = store_fsync_path(path)) < 0 || (r = store_fsync_path(repo->git_dir)) < 0)
		goto done;
	r = 0;
done:
	free(path);
	git_config_free(cfg);
	return r;
}
