/*
 * The pidfile "<git dir>/cymat/syncd.pid": one daemon per ledger.  Whoever
 * holds an exclusive flock on it is the daemon; the kernel drops the lock
 * when the daemon dies, so a stale file never blocks a restart.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "syncd.h"

int syncd_pidfile_path(char *out, size_t size, ledger_repo *repo)
{
	const char *dir;
	int error;

	error = ledger_repo_state_dir(&dir, repo);
	if (error < 0)
		return error;
	if ((size_t)snprintf(out, size, "%s/syncd.pid", dir) >= size)
		return ledger_error_set(LEDGER_EINVALID, "state directory \"%s\": path too long", dir);
	return 0;
}

static pid_t read_pid(int fd)
{
	char buf[32];
	ssize_t n;
	long pid;
	char *end;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return pid > 0 && (*end == '\n' || *end == '\0') ? (pid_t)pid : 0;
}

int syncd_pidfile_acquire(int *out_fd, pid_t *holder, const char *path)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct stat by_fd, by_path;
	char buf[32];
	int fd = -1, tries, n;

	*holder = 0;
	for (;;) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			return ledger_error_set(LEDGER_EIO, "pidfile \"%s\": %s", path, strerror(errno));
		/*
		 * `cymat sync` probes the lock with a brief shared flock; a few
		 * tries keep that probe from turning a start into a refusal.
		 */
		for (tries = 0; tries < 10; tries++) {
			if (flock(fd, LOCK_EX | LOCK_NB) == 0)
				break;
			if (errno != EWOULDBLOCK) {
				n = errno;
				close(fd);
				return ledger_error_set(LEDGER_EIO, "pidfile \"%s\": flock: %s", path,
				                        strerror(n));
			}
			nanosleep(&pause, NULL);
		}
		if (tries == 10) {
			*holder = read_pid(fd);
			close(fd);
			return ledger_error_set(LEDGER_ELOCKED, "pidfile \"%s\" is held by pid %ld", path,
			                        (long)*holder);
		}
		/* The previous holder may have removed the file we locked: lock the one in place. */
		if (fstat(fd, &by_fd) == 0 && stat(path, &by_path) == 0 &&
		    by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino)
			break;
		close(fd);
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		n = errno;
		close(fd);
		return ledger_error_set(LEDGER_EIO, "pidfile \"%s\": write: %s", path, strerror(n));
	}
	*out_fd = fd;
	return 0;
}

void syncd_pidfile_release(int fd, const char *path)
{
	if (fd < 0)
		return;
	/* Unlink while still holding the lock, so no one locks the file being removed. */
	unlink(path);
	close(fd);
}

int syncd_pidfile_holder(pid_t *out, const char *path)
{
	int fd, rc;

	*out = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return ledger_error_set(LEDGER_EIO, "pidfile \"%s\": %s", path, strerror(errno));
	}
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		/* Nobody holds it: a leftover of a daemon that died. */
		rc = 0;
	} else if (errno == EWOULDBLOCK) {
		*out = read_pid(fd);
		rc = *out ? 0 : ledger_error_set(LEDGER_ELOCKED, "pidfile \"%s\": a daemon is "
		                                  "starting; try again", path);
	} else {
		rc = ledger_error_set(LEDGER_EIO, "pidfile \"%s\": flock: %s", path, strerror(errno));
	}
	close(fd);
	return rc;
}
