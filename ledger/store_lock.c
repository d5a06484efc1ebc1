/*
 * The ledger lock: an flock(2) on <git dir>/cymat/lock, held from acquire
 * to release.  The kernel drops it when its holder dies, whatever PID
 * namespace the holder ran in, so a dead holder's lock is free at once and
 * a live one is never taken over (a liveness test by pid, kill(pid, 0), is
 * wrong across PID namespaces).  The file itself stays.  While held it says
 * "pid hostname ref\n": the holder, for the message of a waiter that gives
 * up, and the ref it updates; a release empties it.  So a ref's lock file
 * (libgit2's <ref>.lock) is removed only when the kernel says the previous
 * holder is gone and that holder died holding the lock for that very ref,
 * never by guess.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "store_internal.h"

#define LOCK_WAIT_MS 10000
#define LOCK_POLL_MS 20
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

/* The previous holder died holding the lock while updating a ref: its <ref>.lock is stale. */
static void ref_lock_recover(ledger_repo *repo, int fd)
{
	char buf[LOCK_HOST_MAX + 1100], host[LOCK_HOST_MAX], ref[1024], *path = NULL;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	int valid = 0;

	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "%ld %255s %1023s", &pid, host, ref) != 3 ||
	    strncmp(ref, "refs/", 5) != 0 || git_reference_name_is_valid(&valid, ref) < 0 ||
	    !valid)
		return;
	if (asprintf(&path, "%s/%s.lock", repo->git_dir, ref) >= 0)
		unlink(path);
	free(path);
}

/* LEDGER_ELOCKED naming the holder as its lock file says (it may be gone by now). */
static int lock_busy(ledger_repo *repo, int fd, const char *path)
{
	char buf[LOCK_HOST_MAX + 32], host[LOCK_HOST_MAX] = "";
	long pid = 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "%ld %255s", &pid, host) != 2)
		return ledger_error_set(LEDGER_ELOCKED, "ledger '%s' is locked (%s)", repo->git_dir,
		                        path);
	return ledger_error_set(LEDGER_ELOCKED, "ledger '%s' is locked by process %ld on \"%s\" (%s)",
	                        repo->git_dir, pid, host, path);
}

int store_lock_acquire(ledger_repo *repo, const char *ref)
{
	char host[LOCK_HOST_MAX], line[LOCK_HOST_MAX + 1100];
	char *path = NULL;
	int64_t deadline = now_ms() + LOCK_WAIT_MS;
	int fd = -1, len, r;

	if (repo->lock_held)
		return ledger_error_set(LEDGER_ELOCKED, "'%s': lock already held", repo->git_dir);
	if ((r = lock_path(&path, repo)) < 0)
		return r;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot open \"%s\": %s", path, strerror(errno));
		goto done;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			r = ledger_error_set(LEDGER_EIO, "cannot lock \"%s\": %s", path,
			                     strerror(errno));
			goto done;
		}
		if (now_ms() >= deadline) {
			r = lock_busy(repo, fd, path);
			goto done;
		}
		sleep_ms(LOCK_POLL_MS);
	}
	ref_lock_recover(repo, fd);
	/* For ref_lock_recover and a waiter's message: the flock is the lock. */
	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	len = snprintf(line, sizeof(line), "%ld %s %s\n", (long)getpid(), host, ref);
	if (len < 0 || (size_t)len >= sizeof(line)) {
		r = ledger_error_set(LEDGER_EINVALID, "ref name too long");
		goto done;
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)len, 0) != len) {
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", path, strerror(errno));
		goto done;
	}
	repo->lock_fd = fd;
	repo->lock_pid = (long)getpid();
	repo->lock_held = 1;
	fd = -1;
	r = 0;
done:
	if (fd >= 0)
		close(fd); /* releases the flock, if taken */
	free(path);
	return r;
}

void store_lock_release(ledger_repo *repo)
{
	if (!repo->lock_held)
		return;
	repo->lock_held = 0;
	/*
	 * A forked child shares the open file description: only the process
	 * that took the lock empties the file (its ref update is over) and
	 * unlocks it; the child only closes its descriptor.
	 */
	if (repo->lock_pid == (long)getpid()) {
		/* Should it fail, the ref it names has no <ref>.lock of ours left. */
		int unused = ftruncate(repo->lock_fd, 0);

		(void)unused;
		flock(repo->lock_fd, LOCK_UN);
	}
	close(repo->lock_fd);
	repo->lock_fd = -1;
}
