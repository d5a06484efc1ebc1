/*
 * Transfers with a remote git server (git://, http(s)://, a path or
 * file://), through libgit2, in a forked child process.  libgit2 1.5 has no
 * transfer timeout, and a server may trickle bytes or stream without end:
 * the parent waits for the child's report until the deadline and then
 * kills it (SIGKILL, then reaps it), and the child stops itself at the size
 * and object caps from libgit2's progress callbacks.  The child reports
 * its result through a pipe as one fixed-size message.
 *
 * A fetch only downloads objects: the child lists the remote's refs, takes
 * the commit `remote_ref` names and fetches the objects it needs; no ref
 * moves in the child.  The parent then checks the commit is there and moves
 * `local_ref` (never refs/heads/main).  Received packs are fsynced by the
 * indexer (GIT_OPT_ENABLE_FSYNC_GITDIR); a killed child's temporary pack
 * files are removed.
 *
 * A push goes by way of a temporary ref refs/cymat/push/<child pid>
 * (libgit2 pushes refs, not commits), which the child creates and the
 * parent removes.  Fast-forward only: libgit2 refuses a non-fast-forward
 * before sending, and the server's refusal (its status for the ref, and
 * what a hook printed, "remote: ..." in the sideband) is LEDGER_ECONFLICT
 * with that text.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <git2.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "ledger/sync.h"
#include "store_internal.h"

#define TRANSFER_DEADLINE_S 300
#define TRANSFER_MAX_BYTES (1024ULL * 1024 * 1024)
#define TRANSFER_MAX_OBJECTS 5000000ULL
#define TRANSFER_PUSH_REF_PREFIX "refs/cymat/push/"
#define TRANSFER_MSG_MAX 1024

/* The child's report: one write, read whole by the parent. */
struct report {
	int code;                          /* 0 or LEDGER_E* */
	char oid[LEDGER_OID_HEX_LEN + 1];  /* the fetched commit */
	char message[TRANSFER_MSG_MAX];
};

/* What the child's callbacks track. */
struct child {
	uint64_t max_bytes;
	uint64_t max_objects;
	int capped;
	char cap_what[128];
	char refused[TRANSFER_MSG_MAX];  /* the server's status for a pushed ref */
	char remote[TRANSFER_MSG_MAX];   /* the server's sideband text ("remote: ...") */
	size_t remote_len;
};

struct limits {
	unsigned int deadline_s;
	uint64_t max_bytes;
	uint64_t max_objects;
};

static int limits_get(struct limits *out, const ledger_transfer_limits *l)
{
	if (l && l->version != LEDGER_TRANSFER_LIMITS_VERSION)
		return ledger_error_set(LEDGER_EINVALID, "transfer limits of an unknown version");
	out->deadline_s = l && l->deadline_s ? l->deadline_s : TRANSFER_DEADLINE_S;
	out->max_bytes = l && l->max_bytes ? l->max_bytes : TRANSFER_MAX_BYTES;
	out->max_objects = l && l->max_objects ? l->max_objects : TRANSFER_MAX_OBJECTS;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report_set(struct report *rep, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report_set(struct report *rep, int code, const char *fmt, ...)
{
	va_list ap;

	rep->code = code;
	va_start(ap, fmt);
	vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
	va_end(ap);
}

static const char *git_message(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown libgit2 error";
}

/* Report a libgit2 failure of the child: a cap it hit, or the transfer broke. */
static void report_git(struct report *rep, const struct child *c, const char *what,
                       const char *url)
{
	if (c->capped)
		report_set(rep, LEDGER_ELIMIT, "%s \"%s\": %s", what, url, c->cap_what);
	else
		report_set(rep, LEDGER_ENETWORK, "%s \"%s\": %s", what, url, git_message());
}

static int cap_check(struct child *c, uint64_t bytes, uint64_t objects)
{
	if (bytes > c->max_bytes)
		snprintf(c->cap_what, sizeof(c->cap_what), "more than %llu bytes",
		         (unsigned long long)c->max_bytes);
	else if (objects > c->max_objects)
		snprintf(c->cap_what, sizeof(c->cap_what), "more than %llu objects",
		         (unsigned long long)c->max_objects);
	else
		return 0;
	c->capped = 1;
	return -1;
}

static int on_fetch_progress(const git_indexer_progress *stats, void *payload)
{
	uint64_t objects = stats->total_objects > stats->received_objects ?
	                   stats->total_objects : stats->received_objects;

	return cap_check(payload, (uint64_t)stats->received_bytes, objects);
}

static int on_push_progress(unsigned int current, unsigned int total, size_t bytes,
                            void *payload)
{
	return cap_check(payload, (uint64_t)bytes, total > current ? total : current);
}

static int on_pack_progress(int stage, uint32_t current, uint32_t total, void *payload)
{
	(void)stage;
	return cap_check(payload, 0, total > current ? total : current);
}

/* Keep the server's sideband text, for the message when it refuses a push. */
static int on_sideband(const char *str, int len, void *payload)
{
	struct child *c = payload;
	size_t n = len > 0 ? (size_t)len : 0;

	if (n > sizeof(c->remote) - 1 - c->remote_len)
		n = sizeof(c->remote) - 1 - c->remote_len;
	memcpy(c->remote + c->remote_len, str, n);
	c->remote_len += n;
	c->remote[c->remote_len] = '\0';
	return 0;
}

static int on_push_update(const char *refname, const char *status, void *payload)
{
	struct child *c = payload;

	if (status)
		snprintf(c->refused, sizeof(c->refused), "\"%s\": %s", refname, status);
	return 0;
}

/* The sideband text on one line: control characters and line breaks become spaces. */
static void remote_text(char *out, size_t size, const char *text)
{
	size_t n = 0;
	int space = 1;

	for (const char *p = text; *p && n + 1 < size; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch < 0x20 || ch == 0x7f) {
			if (!space)
				out[n++] = ' ';
			space = 1;
			continue;
		}
		out[n++] = (char)ch;
		space = 0;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static void callbacks_init(git_remote_callbacks *cb, struct child *c)
{
	cb->transfer_progress = on_fetch_progress;
	cb->push_transfer_progress = on_push_progress;
	cb->pack_progress = on_pack_progress;
	cb->sideband_progress = on_sideband;
	cb->push_update_reference = on_push_update;
	cb->payload = c;
}

/* The commit the remote's `ref` names, from its advertisement. */
static int remote_head(git_oid *out, git_remote *remote, const char *ref)
{
	const git_remote_head **heads;
	size_t n;

	if (git_remote_ls(&heads, &n, remote) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(heads[i]->name, ref) == 0) {
			git_oid_cpy(out, &heads[i]->oid);
			return 1;
		}
	}
	return 0;
}

static void child_fetch(struct report *rep, struct child *c, git_repository *git,
                        const char *url, const char *ref)
{
	git_fetch_options fo;
	git_remote *remote = NULL;
	char *spec = (char *)ref;
	git_strarray specs = { &spec, 1 };
	git_oid id;
	int r;

	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	callbacks_init(&fo.callbacks, c);
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.update_fetchhead = 0;
	if (git_remote_create_anonymous(&remote, git, url) < 0) {
		report_set(rep, LEDGER_EINVALID, "remote \"%s\": %s", url, git_message());
		goto done;
	}
	if (git_remote_connect(remote, GIT_DIRECTION_FETCH, &fo.callbacks, NULL, NULL) < 0) {
		report_git(rep, c, "cannot reach", url);
		goto done;
	}
	if ((r = remote_head(&id, remote, ref)) < 0) {
		report_git(rep, c, "cannot list the refs of", url);
		goto done;
	}
	if (r == 0) {
		report_set(rep, LEDGER_ENOTFOUND, "remote \"%s\" has no ref \"%s\"", url, ref);
		goto done;
	}
	if (git_remote_download(remote, &specs, &fo) < 0) {
		report_git(rep, c, "cannot fetch from", url);
		goto done;
	}
	git_oid_tostr(rep->oid, sizeof(rep->oid), &id);
	rep->code = 0;
done:
	git_remote_free(remote);
}

static void child_push(struct report *rep, struct child *c, git_repository *git,
                       const char *url, const char *commit, const char *ref)
{
	git_push_options po;
	git_remote *remote = NULL;
	git_reference *tmp = NULL;
	char tmp_name[64], *spec = NULL, text[TRANSFER_MSG_MAX];
	git_strarray specs;
	git_oid id;
	int error;

	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	callbacks_init(&po.callbacks, c);
	snprintf(tmp_name, sizeof(tmp_name), TRANSFER_PUSH_REF_PREFIX "%ld", (long)getpid());
	if (git_oid_fromstr(&id, commit) < 0 ||
	    git_reference_create(&tmp, git, tmp_name, &id, 1, "cymat: push") < 0) {
		report_set(rep, LEDGER_EGIT, "cannot create \"%s\": %s", tmp_name, git_message());
		goto done;
	}
	if (asprintf(&spec, "%s:%s", tmp_name, ref) < 0) {
		spec = NULL;
		report_set(rep, LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	specs.strings = &spec;
	specs.count = 1;
	if (git_remote_create_anonymous(&remote, git, url) < 0) {
		report_set(rep, LEDGER_EINVALID, "remote \"%s\": %s", url, git_message());
		goto done;
	}
	if (git_remote_connect(remote, GIT_DIRECTION_PUSH, &po.callbacks, NULL, NULL) < 0) {
		report_git(rep, c, "cannot reach", url);
		goto done;
	}
	error = git_remote_push(remote, &specs, &po);
	remote_text(text, sizeof(text), c->remote);
	if (error == GIT_ENONFASTFORWARD)
		report_set(rep, LEDGER_ECONFLICT, "push to \"%s\" refused: \"%s\": not a fast-forward",
		           url, ref);
	else if (c->capped)
		report_git(rep, c, "cannot push to", url);
	else if (c->refused[0])
		report_set(rep, LEDGER_ECONFLICT, "push to \"%s\" refused: %s%s%s", url, c->refused,
		           text[0] ? ": " : "", text);
	else if (error < 0)
		report_git(rep, c, "cannot push to", url);
	else
		rep->code = 0;
done:
	if (tmp)
		git_reference_delete(tmp);
	git_reference_free(tmp);
	git_remote_free(remote);
	free(spec);
}

/*
 * The child: its own libgit2 handle on the repository (nothing of the
 * parent's is used after the fork), one transfer, one report, _exit.
 */
static void child_run(int fd, const char *git_dir, const struct limits *lim, const char *url,
                      const char *commit, const char *ref)
{
	struct report rep;
	struct child c;
	git_repository *git = NULL;
	const char *p;
	size_t left;

#ifdef __linux__
	/* A child whose parent died has no one to report to. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	signal(SIGPIPE, SIG_IGN);
	memset(&rep, 0, sizeof(rep));
	memset(&c, 0, sizeof(c));
	c.max_bytes = lim->max_bytes;
	c.max_objects = lim->max_objects;
	/* Already set by the store for the parent; the received pack must be durable. */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
	if (git_repository_open_bare(&git, git_dir) < 0)
		report_set(&rep, LEDGER_EGIT, "'%s': cannot open: %s", git_dir, git_message());
	else if (commit)
		child_push(&rep, &c, git, url, commit, ref);
	else
		child_fetch(&rep, &c, git, url, ref);
	git_repository_free(git);
	for (p = (const char *)&rep, left = sizeof(rep); left > 0;) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		left -= (size_t)n;
	}
	_exit(0);
}

/* Remove what a killed child may have left in objects/pack/ since `since`. */
static void pack_tmp_remove(ledger_repo *repo, time_t since)
{
	char dir[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/objects/pack", repo->git_dir);
	if (!(d = opendir(dir)))
		return;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		int tmp = strncmp(n, "pack_git2_", 10) == 0 || strncmp(n, "tmp_", 4) == 0 ||
		          (len > 5 && strcmp(n + len - 5, ".lock") == 0);

		if (!tmp)
			continue;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_mtime >= since)
			unlinkat(dirfd(d), n, 0);
	}
	closedir(d);
}

/*
 * Run one transfer in a child and wait for its report until the deadline.
 * `commit` NULL: a fetch of `ref`; else a push of `commit` to `ref`.
 */
static int transfer_run(struct report *rep, pid_t *out_pid, ledger_repo *repo,
                        const struct limits *lim, const char *url, const char *commit,
                        const char *ref)
{
	int64_t deadline = now_ms() + (int64_t)lim->deadline_s * 1000;
	time_t started = time(NULL) - 1;
	size_t got = 0;
	int fds[2], status, timed_out = 0, r;
	pid_t pid;

	memset(rep, 0, sizeof(*rep));
	*out_pid = -1;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return ledger_error_set(LEDGER_EIO, "cannot create a pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return ledger_error_set(LEDGER_ERROR, "cannot fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		child_run(fds[1], repo->git_dir, lim, url, commit, ref);
	}
	*out_pid = pid;
	close(fds[1]);
	while (got < sizeof(*rep)) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0)
			continue; /* the deadline is checked above */
		n = read(fds[0], (char *)rep + got, sizeof(*rep) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	if (got < sizeof(*rep))
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got < sizeof(*rep)) {
		pack_tmp_remove(repo, started);
		if (timed_out)
			return ledger_error_set(LEDGER_ETIMEOUT, "\"%s\": no result within %u s",
			                        url, lim->deadline_s);
		return ledger_error_set(LEDGER_ENETWORK, "\"%s\": the transfer process died", url);
	}
	rep->oid[sizeof(rep->oid) - 1] = '\0';
	rep->message[sizeof(rep->message) - 1] = '\0';
	if (rep->code < 0) {
		pack_tmp_remove(repo, started);
		return ledger_error_set(rep->code, "%s", rep->message);
	}
	return 0;
}

static int url_check(const char *url)
{
	if (!url || !*url)
		return ledger_error_set(LEDGER_EINVALID, "no remote url given");
	return 0;
}

int ledger_remote_fetch(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo, const char *url,
                        const char *remote_ref, const char *local_ref,
                        const ledger_transfer_limits *limits)
{
	struct limits lim;
	struct report rep;
	char have[LEDGER_OID_HEX_LEN + 1], *pack_dir = NULL;
	pid_t pid;
	int r;

	if ((r = limits_get(&lim, limits)) < 0 || (r = url_check(url)) < 0)
		return r;
	if (!remote_ref || strncmp(remote_ref, "refs/", 5) != 0)
		return ledger_error_set(LEDGER_EINVALID, "invalid remote ref \"%s\"",
		                        remote_ref ? remote_ref : "(null)");
	if (!local_ref || strncmp(local_ref, "refs/cymat/", 11) != 0)
		return ledger_error_set(LEDGER_EINVALID, "local ref \"%s\" is not under refs/cymat/",
		                        local_ref ? local_ref : "(null)");
	if ((r = transfer_run(&rep, &pid, repo, &lim, url, NULL, remote_ref)) < 0)
		return r;
	/* The child's pack is fsynced by the indexer; the directory entry must be too. */
	if (asprintf(&pack_dir, "%s/objects/pack", repo->git_dir) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	r = store_fsync_path(pack_dir);
	free(pack_dir);
	if (r < 0)
		return r;
	/* The parent's view of objects/pack/ is refreshed on a miss: the commit must be there. */
	if ((r = ledger_repo_resolve(out, repo, rep.oid)) < 0)
		return ledger_error_prefix("\"%s\": fetched commit %s", url, rep.oid);
	for (;;) {
		r = ledger_repo_ref(have, repo, local_ref);
		if (r < 0 && r != LEDGER_ENOTFOUND)
			return r;
		if (r == 0 && strcmp(have, out) == 0)
			return 0;
		r = ledger_repo_update_ref(repo, local_ref, r == 0 ? have : NULL, out);
		if (r != LEDGER_ECONFLICT)
			return r;
		/* Another fetch moved it meanwhile: the newest fetch wins. */
	}
}

int ledger_remote_push(ledger_repo *repo, const char *url, const char *commit,
                       const char *remote_ref, const ledger_transfer_limits *limits)
{
	struct limits lim;
	struct report rep;
	char id[LEDGER_OID_HEX_LEN + 1], tmp[64];
	git_reference *ref = NULL;
	pid_t pid;
	int r;

	if ((r = limits_get(&lim, limits)) < 0 || (r = url_check(url)) < 0)
		return r;
	if (!remote_ref || strncmp(remote_ref, "refs/", 5) != 0)
		return ledger_error_set(LEDGER_EINVALID, "invalid remote ref \"%s\"",
		                        remote_ref ? remote_ref : "(null)");
	if (!commit)
		return ledger_error_set(LEDGER_EINVALID, "no commit to push given");
	if ((r = ledger_repo_resolve(id, repo, commit)) < 0)
		return r;
	r = transfer_run(&rep, &pid, repo, &lim, url, id, remote_ref);
	/* A killed child leaves its temporary ref behind. */
	if (pid > 0) {
		snprintf(tmp, sizeof(tmp), TRANSFER_PUSH_REF_PREFIX "%ld", (long)pid);
		if (git_reference_lookup(&ref, repo->git, tmp) == 0)
			git_reference_delete(ref);
		git_reference_free(ref);
	}
	return r;
}
