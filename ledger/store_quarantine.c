/*
 * Quarantines for incoming objects (store_quarantine.h): made, opened as a
 * ledger, migrated into the ledger's object store once what they hold is
 * accepted, and removed.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/odb_backend.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "store_internal.h"
#include "store_quarantine.h"

/*
 * The largest commit and tree a ledger's history holds, with room to
 * spare: a commit names each record it adds in a 73-byte trailer (8 MiB:
 * over 100,000 records in one commit), a tree under records/ has an entry
 * of 97 bytes per file (16 MiB: 170,000 records in one records/xx/yy/, at
 * 65,536 such directories over ten billion records).
 */
#define QUARANTINE_COMMIT_MAX (8U << 20)
#define QUARANTINE_TREE_MAX (16U << 20)

/* The default floor of free space: at least this, or twice the ledger's packs. */
#define SPACE_FLOOR_MIN (256ULL << 20)

/*
 * A quarantine is live while the process that made it holds an flock on
 * its QUARANTINE_LOCK (and its forked children, which share the open file):
 * the sweep removes only those whose lock it can take, whatever their pid
 * says (one in another PID namespace looks dead to kill(pid, 0)).  Makers
 * and the sweep take STATE_LOCK (exclusive) around making a quarantine and
 * its lock and around sweeping, so a quarantine without its lock file was
 * left by a process killed while making it.
 */
#define QUARANTINE_LOCK "quarantine.lock"
#define STATE_LOCK "quarantines.lock" /* in <git dir>/cymat/ */
/* No quarantine is deeper than objects/xx/<file>: a deeper tree is not walked further. */
#define REMOVE_DEPTH_MAX 8

/* The quarantines this process made, and the descriptors of their locks. */
static struct held_lock {
	char *dir;
	int fd;
} *held;
static size_t nheld;
static pthread_mutex_t held_mutex = PTHREAD_MUTEX_INITIALIZER;

static int held_add(const char *dir, int fd)
{
	struct held_lock *more;
	int r = 0;

	pthread_mutex_lock(&held_mutex);
	if (!(more = realloc(held, (nheld + 1) * sizeof(*held))) ||
	    !(more[nheld].dir = strdup(dir))) {
		if (more)
			held = more;
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
	} else {
		held = more;
		held[nheld++].fd = fd;
	}
	pthread_mutex_unlock(&held_mutex);
	return r;
}

/* The lock of `dir` if this process holds it (-1 if not), forgotten here. */
static int held_take(const char *dir)
{
	int fd = -1;

	pthread_mutex_lock(&held_mutex);
	for (size_t i = 0; i < nheld; i++) {
		if (strcmp(held[i].dir, dir) != 0)
			continue;
		fd = held[i].fd;
		free(held[i].dir);
		held[i] = held[--nheld];
		break;
	}
	pthread_mutex_unlock(&held_mutex);
	return fd;
}

/*
 * Remove `name` in directory `dirfd` and, when it is a directory, all it
 * holds, by descriptor: a symbolic link is removed, never followed, and a
 * directory swapped for one mid-walk is not entered (no path is resolved
 * twice, as nftw's would be).
 */
static void remove_at(int dirfd, const char *name, unsigned int depth)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		unlinkat(dirfd, name, 0);
		return;
	}
	if (depth >= REMOVE_DEPTH_MAX || !(d = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			remove_at(fd, de->d_name, depth + 1);
	}
	closedir(d);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

void store_quarantine_remove(const char *qdir)
{
	int fd;

	if (!qdir)
		return;
	fd = held_take(qdir);
	remove_at(AT_FDCWD, qdir, 0);
	/* Only once it is gone: until then, no sweep may take it for dead. */
	if (fd >= 0)
		close(fd);
}

/* The state directory's lock, exclusive: a descriptor, or -1. */
static int state_lock(const char *state_dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/" STATE_LOCK, state_dir);
	fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * Quarantines whose maker is gone: their lock file can be locked, or they
 * have none (under the state lock, which the caller holds).
 */
static void sweep(const char *state_dir)
{
	static const char *const prefixes[] = { QUARANTINE_IMPORT, QUARANTINE_INCOMING };
	struct dirent *de;
	DIR *d;
	int dfd;

	if ((dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if (!(d = fdopendir(dfd))) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		int match = 0, qfd, lfd;

		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
			match |= strncmp(de->d_name, prefixes[i], strlen(prefixes[i])) == 0;
		if (!match)
			continue;
		qfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (qfd < 0) {
			/* Not a directory (a symbolic link): no quarantine, removed, not followed. */
			if (errno == ELOOP || errno == ENOTDIR)
				unlinkat(dfd, de->d_name, 0);
			continue;
		}
		lfd = openat(qfd, QUARANTINE_LOCK, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		close(qfd);
		if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0) {
			close(lfd); /* live */
			continue;
		}
		if (lfd < 0 && errno != ENOENT)
			continue;
		remove_at(dfd, de->d_name, 0);
		if (lfd >= 0)
			close(lfd);
	}
	closedir(d);
}

static int file_put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "we")))
		return ledger_error_set(LEDGER_EIO, "cannot create \"%s\": %s", path, strerror(errno));
	ok = fputs(text, f) >= 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok)
		return ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", path, strerror(errno));
	return 0;
}

/*
 * A bare repository whose own objects are only what is written through
 * it, and which reads the ledger's through its alternates.  It never needs
 * to survive a crash: nothing in it is referenced.
 */
int store_quarantine_make(char **out, ledger_repo *repo, const char *prefix)
{
	static const char *const dirs[] = { "objects", "objects/pack", "objects/info", "refs",
		                            "refs/heads", "cymat" };
	const char *state_dir;
	char *dir = NULL, *alternates = NULL;
	char path[PATH_MAX], cache[PATH_MAX];
	int r, state_fd = -1, lock_fd = -1;

	*out = NULL;
	if ((r = ledger_repo_state_dir(&state_dir, repo)) < 0)
		return r;
	if ((state_fd = state_lock(state_dir)) < 0)
		return ledger_error_set(LEDGER_EIO, "cannot lock \"%s/" STATE_LOCK "\": %s",
		                        state_dir, strerror(errno));
	sweep(state_dir);
	if (asprintf(&dir, "%s/%s%ld-XXXXXX", state_dir, prefix, (long)getpid()) < 0) {
		dir = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if (!mkdtemp(dir)) {
		r = ledger_error_set(LEDGER_EIO, "cannot create a quarantine in \"%s\": %s",
		                     state_dir, strerror(errno));
		free(dir);
		dir = NULL;
		goto done;
	}
	/* Held until store_quarantine_remove: the sweep of another process leaves it alone. */
	snprintf(path, sizeof(path), "%s/" QUARANTINE_LOCK, dir);
	lock_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot lock \"%s\": %s", path, strerror(errno));
		goto done;
	}
	if ((r = held_add(dir, lock_fd)) < 0)
		goto done;
	lock_fd = -1; /* held */
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dirs[i]);
		if (mkdir(path, 0700) < 0) {
			r = ledger_error_set(LEDGER_EIO, "cannot create \"%s\": %s", path,
			                     strerror(errno));
			goto done;
		}
	}
	if (asprintf(&alternates, "%s/objects\n", repo->git_dir) < 0) {
		alternates = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = file_put(dir, "HEAD", "ref: " LEDGER_MAIN_REF "\n")) < 0 ||
	    (r = file_put(dir, "config", "[core]\n\trepositoryformatversion = 0\n\tbare = true\n")) < 0 ||
	    (r = file_put(dir, "objects/info/alternates", alternates)) < 0)
		goto done;
	/* Best effort: without the ledger's cache, a verification there reads everything. */
	snprintf(path, sizeof(path), "%s/cymat/verified", repo->git_dir);
	snprintf(cache, sizeof(cache), "%s/cymat/verified", dir);
	link(path, cache);
	*out = dir;
	dir = NULL; /* transferred */
	r = 0;
done:
	if (dir) {
		store_quarantine_remove(dir);
		free(dir);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	if (state_fd >= 0)
		close(state_fd);
	free(alternates);
	return r;
}

int store_quarantine_open(ledger_repo **out, ledger_repo *repo, const char *qdir)
{
	char *root = NULL;
	int r;

	if ((r = ledger_repo_open(out, qdir)) < 0)
		return r;
	r = ledger_repo_config_get(&root, repo, "cymat.root");
	if (r == LEDGER_ENOTFOUND) {
		ledger_error_clear();
		return 0;
	}
	if (r == 0)
		r = ledger_repo_config_set(*out, "cymat.root", root);
	free(root);
	if (r < 0) {
		ledger_repo_free(*out);
		*out = NULL;
	}
	return r;
}

/* Rename the files of directory `from` into `to` (created if need be), then sync `to`. */
static int dir_move(const char *from, const char *to, const char *suffix)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int moved = 0, r = 0;

	if (!(d = opendir(from)))
		return ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", from, strerror(errno));
	while (r == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name), slen = suffix ? strlen(suffix) : 0;

		if (de->d_name[0] == '.' ||
		    (suffix && (len <= slen || strcmp(de->d_name + len - slen, suffix) != 0)))
			continue;
		if (!moved && mkdir(to, 0755) < 0 && errno != EEXIST) {
			r = ledger_error_set(LEDGER_EIO, "cannot create \"%s\": %s", to,
			                     strerror(errno));
			break;
		}
		snprintf(src, sizeof(src), "%s/%s", from, de->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name);
		if (rename(src, dst) < 0)
			r = ledger_error_set(LEDGER_EIO, "cannot move \"%s\" to \"%s\": %s", src, dst,
			                     strerror(errno));
		moved = 1;
	}
	closedir(d);
	if (r == 0 && moved)
		r = store_fsync_path(to);
	return r;
}

int store_quarantine_migrate(ledger_repo *repo, const char *qdir)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int r;

	snprintf(from, sizeof(from), "%s/objects/pack", qdir);
	snprintf(to, sizeof(to), "%s/objects/pack", repo->git_dir);
	if ((r = dir_move(from, to, ".pack")) < 0 || (r = dir_move(from, to, ".idx")) < 0)
		return r;
	snprintf(from, sizeof(from), "%s/objects", qdir);
	if (!(d = opendir(from)))
		return ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", from, strerror(errno));
	while (r == 0 && (de = readdir(d)) != NULL) {
		char sub[PATH_MAX + sizeof(de->d_name) + 1];

		if (strlen(de->d_name) != 2 || !isxdigit((unsigned char)de->d_name[0]) ||
		    !isxdigit((unsigned char)de->d_name[1]))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", from, de->d_name);
		snprintf(to, sizeof(to), "%s/objects/%s", repo->git_dir, de->d_name);
		r = dir_move(sub, to, NULL);
	}
	closedir(d);
	if (r == 0) {
		snprintf(to, sizeof(to), "%s/objects", repo->git_dir);
		r = store_fsync_path(to);
	}
	return r;
}

/* `text` ("<n>" or "<n>k", "m", "g", "t": powers of 1024) into *out. */
static int size_parse(uint64_t *out, const char *text)
{
	static const char units[] = "kmgt";
	unsigned long long n;
	const char *u;
	char *end;
	int shift = 0;

	errno = 0;
	if (*text < '0' || *text > '9')
		return -1;
	n = strtoull(text, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		if (end[1] || !(u = strchr(units, tolower((unsigned char)*end))))
			return -1;
		shift = 10 * (int)(u - units + 1);
		if (n > (UINT64_MAX >> shift))
			return -1;
	}
	*out = (uint64_t)n << shift;
	return 0;
}

/* Bytes as "1.5 GiB", "300.0 MiB", "12.0 KiB" or "100 bytes". */
static const char *size_text(char *buf, size_t cap, uint64_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = -1;

	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, cap, "%llu bytes", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.1f %s", v, units[u]);
	return buf;
}

/* The bytes of the ledger's packs (the .pack files in objects/pack). */
static uint64_t packs_size(const char *git_dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	uint64_t total = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/objects/pack", git_dir);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len <= 5 || strcmp(de->d_name + len - 5, ".pack") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/objects/pack/%s", git_dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

int store_space_check(ledger_repo *repo, const char *what)
{
	char *conf = NULL, free_text[32], need_text[32];
	struct statvfs vfs;
	uint64_t need = 0, avail;
	int r;

	r = ledger_repo_config_get(&conf, repo, STORE_SPACE_FLOOR_KEY);
	if (r == 0 && size_parse(&need, conf) < 0) {
		r = ledger_error_set(LEDGER_EINVALID,
		                     "config \"%s\" of \"%s\": \"%s\" is not a size (bytes, or a "
		                     "number with k, m, g or t)", STORE_SPACE_FLOOR_KEY, repo->git_dir,
		                     conf);
		goto done;
	}
	if (r == LEDGER_ENOTFOUND) {
		ledger_error_clear();
		need = 2 * packs_size(repo->git_dir);
		if (need < SPACE_FLOOR_MIN)
			need = SPACE_FLOOR_MIN;
	} else if (r < 0) {
		goto done;
	}
	r = 0;
	if (need == 0)
		goto done; /* 0: no floor */
	if (statvfs(repo->git_dir, &vfs) < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot read the free space of \"%s\": %s",
		                     repo->git_dir, strerror(errno));
		goto done;
	}
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (avail < need)
		r = ledger_error_set(LEDGER_EIO,
		                     "%s refused: the file system of \"%s\" has %s free, less than "
		                     "the %s it keeps free (%s)", what, repo->git_dir,
		                     size_text(free_text, sizeof(free_text), avail),
		                     size_text(need_text, sizeof(need_text), need),
		                     conf ? "git config " STORE_SPACE_FLOOR_KEY :
		                            "twice its packs, at least 256 MiB; git config "
		                            STORE_SPACE_FLOOR_KEY " sets another");
done:
	free(conf);
	return r;
}

struct bounds {
	git_odb *odb; /* the quarantine's, alternates included */
	char bad[GIT_OID_HEXSZ + 1];
	const char *type;
	size_t size, max;
	int error;
};

static int bounds_one(const git_oid *id, void *payload)
{
	struct bounds *b = payload;
	git_object_t type;
	size_t size, max;
	int error;

	if ((error = git_odb_read_header(&size, &type, b->odb, id)) < 0) {
		b->error = error;
		return GIT_EUSER;
	}
	max = type == GIT_OBJECT_COMMIT ? QUARANTINE_COMMIT_MAX :
	      type == GIT_OBJECT_TREE   ? QUARANTINE_TREE_MAX : 0;
	if (max && size > max) {
		git_oid_tostr(b->bad, sizeof(b->bad), id);
		b->type = git_object_type2string(type);
		b->size = size;
		b->max = max;
		return GIT_EUSER;
	}
	return 0;
}

/*
 * The objects written into the directory `objects` (packs and loose
 * objects, never its alternates) checked by their headers, read through
 * `repo`'s object database.
 */
static int bounds_in(ledger_repo *repo, const char *objects, int code)
{
	struct bounds b = { 0 };
	git_odb *own = NULL;
	git_odb_backend *packs = NULL, *loose = NULL;
	int r = 0, error;

	if ((error = git_odb_new(&own)) < 0 || (error = git_odb_backend_pack(&packs, objects)) < 0 ||
	    (error = git_odb_add_backend(own, packs, 2)) < 0 ||
	    ((packs = NULL), (error = git_odb_backend_loose(&loose, objects, -1, 0, 0, 0))) < 0 ||
	    (error = git_odb_add_backend(own, loose, 1)) < 0 ||
	    ((loose = NULL), (error = git_repository_odb(&b.odb, repo->git))) < 0) {
		r = store_error_git(error, "cannot read the objects of \"%s\"", objects);
		goto done;
	}
	error = git_odb_foreach(own, bounds_one, &b);
	if (b.type)
		r = ledger_error_set(code, "%s %s is %zu bytes, more than a ledger's %ss hold "
		                     "(%zu MiB at most): nothing of it is taken", b.type, b.bad,
		                     b.size, b.type, b.max >> 20);
	else if (error < 0)
		r = store_error_git(b.error < 0 ? b.error : error,
		                    "cannot read the objects of \"%s\"", objects);
done:
	if (packs)
		packs->free(packs);
	if (loose)
		loose->free(loose);
	git_odb_free(b.odb);
	git_odb_free(own);
	return r;
}

int store_quarantine_bounds(ledger_repo *qrepo, int code)
{
	char objects[PATH_MAX];

	snprintf(objects, sizeof(objects), "%s/objects", qrepo->git_dir);
	return bounds_in(qrepo, objects, code);
}

int store_receive_bounds(ledger_repo *repo)
{
	const char *objects = getenv("GIT_QUARANTINE_PATH");

	/* Without receive-pack's quarantine (git before 2.11) the objects are the ledger's. */
	if (!objects || !*objects)
		return 0;
	return bounds_in(repo, objects, LEDGER_EINVALID);
}
