/*
 * Packing: every append writes its objects (blobs, trees, commit) as one new
 * pack (store_pack_writer.c: no deltas, stored unless the git config sets a
 * zlib level); loose objects are left only by ledgers written before that,
 * and past STORE_PACK_LOOSE_LIMIT of them they go into one pack.  Past
 * STORE_PACK_COUNT_LIMIT packs the smaller ones are merged geometrically:
 * from the largest down, a pack stays while it is at least twice the size of
 * all smaller packs together, and the rest are merged into one.  So a large
 * ledger is not rewritten whole every few appends, and each object is
 * rewritten about log2(ledger size / append size) times over the ledger's
 * life.  Packs are merged object by object, reachable or not, so nothing a
 * concurrent writer has not referenced yet is lost.  Files are only deleted
 * once the pack holding their objects and its index are durable, so a
 * concurrent reader never finds an object missing: libgit2 rescans
 * objects/pack/ when a lookup misses.
 *
 * Packing only moves objects between files and never touches a ref, so it
 * runs outside the ledger lock, under cymat/pack.lock (an flock(2), released
 * by the kernel if its holder dies): appends go on while packs are merged,
 * and two processes never merge the same packs.  An append only adds a new
 * pack, which the merge, listing packs before it starts, leaves alone.
 *
 * A multi-pack-index (objects/pack/multi-pack-index, git's format) lists
 * every object of the packs it covers, sorted: libgit2 and git find an
 * object there with one binary search, where they would otherwise search
 * pack after pack.  Writing one reads every pack index and takes about 0.2
 * CPU seconds at 100,000 records, so an append does not write it: packing
 * does, after a merge and when STORE_MIDX_STALE_PACKS packs are newer than
 * it (packs it does not cover are still searched one by one).  Only
 * holders of cymat/pack.lock write it, and only a merge deletes packs: it
 * replaces the index with one that leaves the merged packs out before it
 * deletes them, so the index never names a missing pack (`git fsck` and
 * `git multi-pack-index verify` would refuse it; libgit2 would ignore it).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/midx.h>
#include <git2/sys/odb_backend.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "store_internal.h"

/* Packs newer than the multi-pack-index past which packing rewrites it. */
#define STORE_MIDX_STALE_PACKS 4
/* Seconds after which a multi-pack-index.lock is a dead writer's. */
#define STORE_MIDX_LOCK_STALE 60

struct oid_list {
	git_oid *ids;
	size_t count;
	size_t cap;
};

struct pack {
	char *name; /* "pack-<hex>" */
	off_t size;
};

struct pack_list {
	struct pack *packs;
	size_t count;
	size_t cap;
};

static int oid_list_add(struct oid_list *l, const git_oid *id)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		git_oid *ids = realloc(l->ids, cap * sizeof(*ids));

		if (!ids)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		l->ids = ids;
		l->cap = cap;
	}
	git_oid_cpy(&l->ids[l->count++], id);
	return 0;
}

static int pack_list_add(struct pack_list *l, const char *name, size_t len, off_t size)
{
	char *copy;

	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct pack *packs = realloc(l->packs, cap * sizeof(*packs));

		if (!packs)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		l->packs = packs;
		l->cap = cap;
	}
	if (!(copy = strndup(name, len)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	l->packs[l->count].name = copy;
	l->packs[l->count++].size = size;
	return 0;
}

static void pack_list_clear(struct pack_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->packs[i].name);
	free(l->packs);
	memset(l, 0, sizeof(*l));
}

static int pack_size_cmp(const void *a, const void *b)
{
	const struct pack *x = a, *y = b;

	return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * The loose objects, from objects/[0-9a-f][0-9a-f]/; stops early once there
 * are more than `limit` (0: no limit).
 */
static int loose_list(struct oid_list *out, const char *git_dir, size_t limit)
{
	char dir[PATH_MAX], hex[GIT_OID_HEXSZ + 1];
	struct dirent *de;
	git_oid id;
	DIR *d;
	int r = 0;

	for (unsigned int b = 0; b < 256 && r == 0; b++) {
		if (limit && out->count > limit)
			break;
		snprintf(dir, sizeof(dir), "%s/objects/%02x", git_dir, b);
		if (!(d = opendir(dir))) {
			if (errno == ENOENT)
				continue;
			return ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", dir,
			                        strerror(errno));
		}
		while (r == 0 && (de = readdir(d)) != NULL) {
			if (strlen(de->d_name) != GIT_OID_HEXSZ - 2 ||
			    !is_hex(de->d_name, GIT_OID_HEXSZ - 2))
				continue;
			snprintf(hex, sizeof(hex), "%02x%s", b, de->d_name);
			if (git_oid_fromstr(&id, hex) == 0)
				r = oid_list_add(out, &id);
		}
		closedir(d);
	}
	return r;
}

/* The packs in objects/pack/ of at most `max_size` bytes (0: any), largest first. */
static int pack_list_read(struct pack_list *out, const char *pack_dir, off_t max_size)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int r = 0;

	if (!(d = opendir(pack_dir))) {
		if (errno == ENOENT)
			return 0;
		return ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", pack_dir,
		                        strerror(errno));
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len <= 10 || strncmp(de->d_name, "pack-", 5) != 0 ||
		    strcmp(de->d_name + len - 5, ".pack") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pack_dir, de->d_name);
		if (stat(path, &st) == 0 && (max_size == 0 || st.st_size <= max_size))
			r = pack_list_add(out, de->d_name, len - 5, st.st_size);
	}
	closedir(d);
	if (r == 0 && out->count > 1)
		qsort(out->packs, out->count, sizeof(*out->packs), pack_size_cmp);
	return r;
}

/* Write `ids` as one pack into `pack_dir` and make it durable; its name in *out_name. */
static int pack_write(char **out_name, ledger_repo *repo, const char *pack_dir,
                      const git_oid *ids, size_t count)
{
	int r;

	/* With GIT_OPT_ENABLE_FSYNC_GITDIR the indexer fsyncs the pack, its index and pack/. */
	if ((r = store_pack_stream(out_name, repo, pack_dir, ids, count)) < 0)
		return r;
	if ((r = store_fsync_path(pack_dir)) < 0) {
		free(*out_name);
		*out_name = NULL;
	}
	return r;
}

/* Remove the loose files of `ids` (now in a durable pack). */
static void loose_remove(const char *git_dir, const struct oid_list *ids)
{
	char path[PATH_MAX], hex[GIT_OID_HEXSZ + 1];

	for (size_t i = 0; i < ids->count; i++) {
		git_oid_tostr(hex, sizeof(hex), &ids->ids[i]);
		snprintf(path, sizeof(path), "%s/objects/%.2s/%s", git_dir, hex, hex + 2);
		unlink(path);
	}
}

static int collect_oid(const git_oid *id, void *payload)
{
	return oid_list_add(payload, id) < 0 ? GIT_EUSER : 0;
}

/* Add the objects of pack `name` to `ids`. */
static int pack_objects(struct oid_list *ids, const char *pack_dir, const char *name)
{
	git_odb_backend *b = NULL;
	char idx[PATH_MAX];
	int error;

	snprintf(idx, sizeof(idx), "%s/%s.idx", pack_dir, name);
	if ((error = git_odb_backend_one_pack(&b, idx)) == 0)
		error = b->foreach(b, collect_oid, ids);
	if (b)
		b->free(b);
	if (error == GIT_EUSER)
		return LEDGER_ENOMEM;
	if (error < 0)
		return store_error_git(error, "cannot read pack \"%s\"", idx);
	return 0;
}

/*
 * The first of the packs (largest first) to merge: the larger ones each
 * outweigh twice all smaller packs together.  At least two are merged.
 */
static size_t merge_first(const struct pack_list *packs)
{
	off_t rest = 0;
	size_t first;

	for (size_t i = 0; i < packs->count; i++)
		rest += packs->packs[i].size;
	for (first = 0; first + 2 < packs->count; first++) {
		rest -= packs->packs[first].size;
		if (packs->packs[first].size < 2 * rest)
			break;
	}
	return first;
}

/* Whether pack `name` ("pack-<hex>") is one of packs[first..]. */
static int pack_listed(const struct pack_list *packs, size_t first, const char *name, size_t len)
{
	for (size_t i = first; i < packs->count; i++)
		if (strlen(packs->packs[i].name) == len && strncmp(packs->packs[i].name, name, len) == 0)
			return 1;
	return 0;
}

/*
 * Write the multi-pack-index of the packs in `pack_dir` but packs[first..]
 * (NULL: every pack), atomically (libgit2 writes multi-pack-index.lock,
 * fsyncs it and renames it).  A pack counts once its index and its data
 * are both there: the indexer renames the index into place last.
 */
static int midx_write(const char *pack_dir, const struct pack_list *leave_out, size_t first)
{
	git_midx_writer *w = NULL;
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	int r = 0, error;

	/*
	 * A lock file left by a writer that died (we hold pack.lock, so no
	 * writer of ours is alive) would stop every later write, and the index
	 * would be gone after the next merge.  One older than a minute is taken
	 * for such a leftover; a younger one may be stock git's at work.
	 */
	snprintf(path, sizeof(path), "%s/multi-pack-index.lock", pack_dir);
	if (stat(path, &st) == 0 && time(NULL) - st.st_mtim.tv_sec > STORE_MIDX_LOCK_STALE)
		unlink(path);
	if ((error = git_midx_writer_new(&w, pack_dir)) < 0) {
		r = store_error_git(error, "cannot write the multi-pack-index of \"%s\"", pack_dir);
		goto done;
	}
	if (!(d = opendir(pack_dir))) {
		r = ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", pack_dir, strerror(errno));
		goto done;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len <= 9 || strncmp(de->d_name, "pack-", 5) != 0 ||
		    strcmp(de->d_name + len - 4, ".idx") != 0 ||
		    (leave_out && pack_listed(leave_out, first, de->d_name, len - 4)))
			continue;
		snprintf(path, sizeof(path), "%s/%.*s.pack", pack_dir, (int)(len - 4), de->d_name);
		if (stat(path, &st) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pack_dir, de->d_name);
		if ((error = git_midx_writer_add(w, path)) < 0)
			r = store_error_git(error, "cannot add \"%s\" to the multi-pack-index", path);
	}
	if (r == 0 && (error = git_midx_writer_commit(w)) < 0)
		r = store_error_git(error, "cannot write the multi-pack-index of \"%s\"", pack_dir);
done:
	if (d)
		closedir(d);
	git_midx_writer_free(w);
	return r;
}

/*
 * Before packs[first..] are deleted: a multi-pack-index without them, or
 * none.  Only when the old one cannot be removed either is it an error
 * (the packs must then stay).
 */
static int midx_replace(const char *pack_dir, const struct pack_list *leave_out, size_t first)
{
	char path[PATH_MAX];

	if (midx_write(pack_dir, leave_out, first) == 0)
		return 0;
	ledger_error_clear();
	snprintf(path, sizeof(path), "%s/multi-pack-index", pack_dir);
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 :
		       ledger_error_set(LEDGER_EIO, "cannot remove \"%s\": %s", path, strerror(errno));
	/*
	 * Durably gone before the caller unlinks the packs it names: a file
	 * system that reorders directory operations could otherwise keep the
	 * index and lose the packs over a power cut (review 7 #7).
	 */
	return store_fsync_path(pack_dir);
}

/* The packs newer than the multi-pack-index (all of them when there is none). */
static size_t midx_stale(const char *pack_dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st, midx;
	size_t n = 0;
	int have_midx;
	DIR *d;

	snprintf(path, sizeof(path), "%s/multi-pack-index", pack_dir);
	have_midx = stat(path, &midx) == 0;
	if (!(d = opendir(pack_dir)))
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len <= 10 || strncmp(de->d_name, "pack-", 5) != 0 ||
		    strcmp(de->d_name + len - 5, ".pack") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pack_dir, de->d_name);
		if (stat(path, &st) < 0)
			continue;
		if (!have_midx || st.st_mtim.tv_sec > midx.st_mtim.tv_sec ||
		    (st.st_mtim.tv_sec == midx.st_mtim.tv_sec &&
		     st.st_mtim.tv_nsec >= midx.st_mtim.tv_nsec))
			n++;
	}
	closedir(d);
	return n;
}

/*
 * A new multi-pack-index when at least `stale` packs are newer than it.
 * Best effort: it only speeds readers up, and the old one names no missing
 * pack (only a merge deletes packs, and it replaces the index first).
 */
static void midx_refresh(const char *pack_dir, size_t stale)
{
	if (midx_stale(pack_dir) >= stale && midx_write(pack_dir, NULL, 0) < 0)
		ledger_error_clear();
}

/*
 * Merge packs[first..] and the loose objects into one pack; then the merged
 * packs and the loose files go.
 */
static int pack_merge(ledger_repo *repo, const char *pack_dir, const struct pack_list *packs,
                      size_t first, const struct oid_list *loose)
{
	struct oid_list all = { 0 };
	char *name = NULL;
	char path[PATH_MAX];
	size_t i;
	int r = 0;

	for (i = 0; i < loose->count && r == 0; i++)
		r = oid_list_add(&all, &loose->ids[i]);
	for (i = first; i < packs->count && r == 0; i++)
		r = pack_objects(&all, pack_dir, packs->packs[i].name);
	if (r < 0 || (r = pack_write(&name, repo, pack_dir, all.ids, all.count)) < 0 ||
	    (r = midx_replace(pack_dir, packs, first)) < 0)
		goto done;
	loose_remove(repo->git_dir, loose);
	for (i = first; i < packs->count; i++) {
		if (strcmp(packs->packs[i].name, name) == 0)
			continue;
		/* libgit2 and git find packs by their index: remove it first. */
		snprintf(path, sizeof(path), "%s/%s.idx", pack_dir, packs->packs[i].name);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.pack", pack_dir, packs->packs[i].name);
		unlink(path);
	}
	r = store_fsync_path(pack_dir);
done:
	free(name);
	free(all.ids);
	return r;
}

/*
 * Pack the loose objects, and merge packs of at most `max_size` bytes (0:
 * any) when there are too many of them.
 */
static int pack_run(ledger_repo *repo, off_t max_size)
{
	struct oid_list loose = { 0 };
	struct pack_list packs = { 0 };
	char *pack_dir = NULL, *name = NULL;
	int r;

	if (asprintf(&pack_dir, "%s/objects/pack", repo->git_dir) < 0) {
		pack_dir = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = pack_list_read(&packs, pack_dir, max_size)) < 0 ||
	    (r = loose_list(&loose, repo->git_dir, 0)) < 0)
		goto done;
	if (packs.count + (loose.count ? 1 : 0) > STORE_PACK_COUNT_LIMIT) {
		r = pack_merge(repo, pack_dir, &packs, merge_first(&packs), &loose);
		goto done;
	}
	if (loose.count == 0)
		goto done;
	if ((r = pack_write(&name, repo, pack_dir, loose.ids, loose.count)) < 0)
		goto done;
	loose_remove(repo->git_dir, &loose);
done:
	free(name);
	free(loose.ids);
	pack_list_clear(&packs);
	free(pack_dir);
	if (r < 0)
		ledger_error_prefix("'%s': cannot pack", repo->git_dir);
	return r;
}

/*
 * Take cymat/pack.lock: *out_fd is its descriptor, or -1 when `wait` is 0
 * and another process holds it.
 */
static int pack_lock(int *out_fd, ledger_repo *repo, int wait)
{
	const char *state;
	char *path = NULL;
	int fd, r;

	*out_fd = -1;
	if ((r = ledger_repo_state_dir(&state, repo)) < 0)
		return r;
	if (asprintf(&path, "%s/pack.lock", state) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot open \"%s\": %s", path, strerror(errno));
		goto done;
	}
	while ((r = flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		if (errno == EWOULDBLOCK)
			r = 0;
		else
			r = ledger_error_set(LEDGER_EIO, "cannot lock \"%s\": %s", path,
			                     strerror(errno));
		close(fd);
		goto done;
	}
	*out_fd = fd;
done:
	free(path);
	return r;
}

int store_pack_write(ledger_repo *repo, const git_oid *ids, size_t count)
{
	char *pack_dir = NULL, *name = NULL;
	int r;

	if (asprintf(&pack_dir, "%s/objects/pack", repo->git_dir) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	r = pack_write(&name, repo, pack_dir, ids, count);
	free(name);
	free(pack_dir);
	return r;
}

int store_pack_auto(ledger_repo *repo)
{
	struct oid_list loose = { 0 };
	struct pack_list small = { 0 };
	char *pack_dir = NULL;
	int fd = -1, r;

	if ((r = pack_lock(&fd, repo, 0)) < 0 || fd < 0)
		return r;
	if (asprintf(&pack_dir, "%s/objects/pack", repo->git_dir) < 0) {
		pack_dir = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = pack_list_read(&small, pack_dir, STORE_PACK_AUTO_MAX_SIZE)) < 0 ||
	    (r = loose_list(&loose, repo->git_dir, STORE_PACK_LOOSE_LIMIT)) < 0)
		goto done;
	if (small.count > STORE_PACK_COUNT_LIMIT || loose.count > STORE_PACK_LOOSE_LIMIT)
		r = pack_run(repo, STORE_PACK_AUTO_MAX_SIZE);
	if (r == 0)
		midx_refresh(pack_dir, STORE_MIDX_STALE_PACKS);
done:
	close(fd);
	free(loose.ids);
	pack_list_clear(&small);
	free(pack_dir);
	return r;
}

int ledger_repo_pack(ledger_repo *repo)
{
	char *pack_dir = NULL;
	int fd, r;

	if ((r = pack_lock(&fd, repo, 1)) < 0)
		return r;
	r = pack_run(repo, 0);
	if (r == 0 && asprintf(&pack_dir, "%s/objects/pack", repo->git_dir) < 0) {
		pack_dir = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	if (r == 0)
		midx_refresh(pack_dir, 1);
	free(pack_dir);
	close(fd);
	return r;
}
