/*
 * The ledger lock: <git dir>/cymat/lock, created with O_EXCL and holding
 * "pid hostname\n".  A lock left by a dead process on this host is recovered;
 * recoverers take turns through an flock(2) on cymat/lock.recover (released
 * by the kernel if a recoverer dies), re-check the lock under it and only
 * then remove it, so two of them cannot both remove it and one cannot remove
 * a lock that a third process has just created.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "store_internal.h"

#define LOCK_WAIT_MS 10000
#define LOCK_POLL_MS 20
/* A lock file still empty after this long lost its creator between open and write. */
#define LOCK_EMPTY_GRACE_S 10
#define LOCK_HOST_MAX 256

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Boot time from /proc/stat, or 0 when unknown. */
static time_t boot_time(void)
{
	char line[256];
	long long btime = 0;
	FILE *f = fopen("/proc/stat", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	return (time_t)btime;
}

static void host_name(char out[LOCK_HOST_MAX])
{
	if (gethostname(out, LOCK_HOST_MAX) < 0 || !out[0])
		strcpy(out, "localhost");
	out[LOCK_HOST_MAX - 1] = '\0';
}

/* Read the lock at `path`: the holder's pid (0 if unreadable) and host, and the file's mtime. */
static int lock_read(const char *path, long *pid, char host[LOCK_HOST_MAX], time_t *mtime)
{
	char buf[LOCK_HOST_MAX + 32];
	struct stat st;
	ssize_t n;
	int fd;

	*pid = 0;
	host[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? LEDGER_ENOTFOUND :
		       ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		close(fd);
		return ledger_error_set(LEDGER_EIO, "cannot stat \"%s\": %s", path, strerror(errno));
	}
	*mtime = st.st_mtime;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", path, strerror(errno));
	buf[n] = '\0';
	if (sscanf(buf, "%ld %255s", pid, host) != 2) {
		*pid = 0;
		host[0] = '\0';
	}
	return 0;
}

/* 1 when the lock at `path` is stale, 0 when live or unknowable, LEDGER_ENOTFOUND when gone. */
static int lock_is_stale(const char *path, const char *self_host)
{
	char host[LOCK_HOST_MAX];
	time_t mtime;
	long pid;
	int r;

	if ((r = lock_read(path, &pid, host, &mtime)) < 0)
		return r;
	if (pid <= 0)
		return time(NULL) - mtime > LOCK_EMPTY_GRACE_S;
	if (strcmp(host, self_host) != 0)
		return 0; /* another host's process: nothing to check it by */
	if (pid > INT_MAX || (kill((pid_t)pid, 0) < 0 && errno == ESRCH))
		return 1;
	/* A live pid from before the last boot is a reused pid, not the holder. */
	return mtime < boot_time();
}

/* Remove the lock if it is stale; 1 when it is gone, 0 when it is live. */
static int lock_recover(ledger_repo *repo, const char *path, const char *self_host)
{
	char *guard = NULL, *ref_lock = NULL;
	int fd = -1, r;

	if (asprintf(&guard, "%s.recover", path) < 0 ||
	    asprintf(&ref_lock, "%s/%s.lock", repo->git_dir, LEDGER_MAIN_REF) < 0) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	fd = open(guard, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot open \"%s\": %s", guard, strerror(errno));
		goto done;
	}
	while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot lock \"%s\": %s", guard, strerror(errno));
		goto done;
	}
	r = lock_is_stale(path, self_host);
	if (r == LEDGER_ENOTFOUND) {
		r = 1;
	} else if (r == 1) {
		if (unlink(path) < 0 && errno != ENOENT) {
			r = ledger_error_set(LEDGER_EIO, "cannot remove stale lock \"%s\": %s", path,
			                     strerror(errno));
			goto done;
		}
		/*
		 * The dead holder may have died inside a ref update.  Only ledger
		 * lock holders update refs/heads/main, so its lock file is stale too.
		 */
		unlink(ref_lock);
	}
done:
	if (fd >= 0)
		close(fd); /* releases the flock */
	free(ref_lock);
	free(guard);
	return r;
}

static int lock_path(char **out, ledger_repo *repo)
{
	const char *state;
	int r;

	if ((r = ledger_repo_state_dir(&state, repo)) < 0)
		return r;
	if (asprintf(out, "%s/lock", state) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	return 0;
}

int store_lock_acquire(ledger_repo *repo)
{
	char host[LOCK_HOST_MAX], line[LOCK_HOST_MAX + 32];
	char *path = NULL;
	int64_t deadline = now_ms() + LOCK_WAIT_MS;
	int fd, len, r;

	if (repo->lock_held)
		return ledger_error_set(LEDGER_ELOCKED, "'%s': lock already held", repo->git_dir);
	if ((r = lock_path(&path, repo)) < 0)
		return r;
	host_name(host);
	len = snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), host);
	for (;;) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (write(fd, line, (size_t)len) != len) {
				r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", path,
				                     strerror(errno));
				unlink(path);
				close(fd);
				goto done;
			}
			close(fd);
			repo->lock_held = 1;
			r = 0;
			goto done;
		}
		if (errno != EEXIST) {
			r = ledger_error_set(LEDGER_EIO, "cannot create \"%s\": %s", path,
			                     strerror(errno));
			goto done;
		}
		if ((r = lock_recover(repo, path, host)) < 0)
			goto done;
		if (r == 1)
			continue;
		if (now_ms() >= deadline) {
			char holder[LOCK_HOST_MAX];
			time_t mtime;
			long pid;

			if (lock_read(path, &pid, holder, &mtime) < 0)
				continue; /* released just now */
			r = ledger_error_set(LEDGER_ELOCKED,
			                     "ledger '%s' is locked by process %ld on \"%s\" (%s)",
			                     repo->git_dir, pid, holder, path);
			goto done;
		}
		sleep_ms(LOCK_POLL_MS);
	}
done:
	free(path);
	return r;
}

void store_lock_release(ledger_repo *repo)
{
	char host[LOCK_HOST_MAX];
	char *path = NULL;
	time_t mtime;
	long pid;

	if (!repo->lock_held)
		return;
	repo->lock_held = 0;
	if (lock_path(&path, repo) < 0)
		return;
	/* A forked child inherits lock_held; only the process that wrote the lock removes it. */
	if (lock_read(path, &pid, host, &mtime) == 0 && pid == (long)getpid())
		unlink(path);
	free(path);
}
