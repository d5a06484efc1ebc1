/*
 * Transfers with a remote git server (git://, http(s)://, a path or
 * file://), through libgit2, in a forked child process.  libgit2 1.5 has no
 * transfer timeout, and a server may trickle bytes or stream without end:
 * the parent waits for the child's report until the deadline and then
 * kills it (SIGKILL, then reaps it), and the child stops itself at the size
 * and object caps from libgit2's progress callbacks.  The child reports
 * its result through a pipe as one fixed-size message.
 *
 * A fetch only downloads objects, into a quarantine (store_quarantine.h):
 * the child lists the remote's refs, takes the commit `remote_ref` names
 * and fetches the objects it needs, negotiating with the ledger's refs but
 * writing into the quarantine's objects/ (its object database is the
 * quarantine's, which reads the ledger's through its alternates); no ref
 * moves in the child.  The parent then checks that no commit or tree
 * received is larger than a ledger's (store_quarantine_bounds) and that the
 * commit is there.  What a failed or killed child left (its temporary pack
 * files) is in that directory and goes with it: nothing of other
 * processes' is touched.
 * ledger_remote_fetch moves the objects into the ledger and `local_ref`
 * (never refs/heads/main); a sync moves them only once the union is
 * accepted (node_sync.c).  Received packs are fsynced by the indexer
 * (GIT_OPT_ENABLE_FSYNC_GITDIR).
 *
 * A push goes by way of a temporary ref refs/cymat/push/<child pid>
 * (libgit2 pushes refs, not commits), which the child creates and the
 * parent removes.  Fast-forward only: libgit2 refuses a non-fast-forward
 * before sending, and the server's refusal (its status for the ref, and
 * what a hook printed, "remote: ..." in the sideband) is LEDGER_ECONFLICT
 * with that text.  The commits where the push stops are added to the
 * server's advertisement as ".have" lines (have_fill), so that libgit2
 * does not send again what the server holds.
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
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <git2/sys/transport.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "ledger/sync.h"
#include "store_internal.h"
#include "store_quarantine.h"

#define TRANSFER_DEADLINE_S 300
#define TRANSFER_MAX_BYTES (1024ULL * 1024 * 1024)
#define TRANSFER_MAX_OBJECTS 5000000ULL
#define TRANSFER_PUSH_REF_PREFIX "refs/cymat/push/"
#define TRANSFER_MSG_MAX 1024
/* Moves of a fetch's ref lost to other fetches before giving up. */
#define FETCH_REF_ATTEMPTS 8

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
	git_repository *git;
	const git_oid *push;             /* the commit a push sends, NULL for a fetch */
	git_smart_subtransport_definition def; /* the transport's, for nothin_sub_new */
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

/*
 * Fetches ask for a full pack, not a thin one.  libgit2 1.5 completes a thin
 * pack by adding the missing delta bases one at a time, each after a pass
 * over every delta still pending (indexer.c, resolve_deltas and
 * fix_thin_pack): quadratic in the bases missing, which are the trees a
 * node already has.  Fetching 10,000 new records into a ledger of 100,000
 * (cymat-bench --sync) took 27 CPU seconds in the fetch child, stock git
 * fetch 5 for the same objects; without the thin pack 20,000 new records
 * took 1.4 CPU seconds instead of 59, in a pack of about the same size (23
 * MB against 2 x 12).  libgit2 asks for a thin pack whenever the server
 * offers one, so the server's offer ("thin-pack" among the capabilities of
 * its first ref line) is removed from the advertisement as libgit2 reads it,
 * through a subtransport that wraps libgit2's own git:// and http(s):// ones.
 * A push edits receive-pack's advertisement through the same (have_fill).
 */
#define NOTHIN_CAP "thin-pack"

struct nothin_sub {
	git_smart_subtransport parent;
	git_smart_subtransport *inner;
	struct child *c;
	struct nothin_stream *ls; /* the advertisement's stream, while it lives */
};

struct nothin_stream {
	git_smart_subtransport_stream parent;
	git_smart_subtransport_stream *inner;
	struct nothin_sub *sub;
	int passed;   /* the first ref line went by: everything else passes as is */
	char *buf;    /* what was read from the server, edited, not yet handed on */
	size_t len, off, cap;
};

static int pkt_len(const char *p)
{
	int n = 0;

	for (int i = 0; i < 4; i++) {
		int c = p[i];

		if (c >= '0' && c <= '9')
			n = n * 16 + c - '0';
		else if (c >= 'a' && c <= 'f')
			n = n * 16 + c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			n = n * 16 + c - 'A' + 10;
		else
			return -1;
	}
	return n;
}

/*
 * Remove NOTHIN_CAP from the capabilities (after the NUL) of the pkt-line at
 * buf[at] of length n, in place; returns the line's new length.
 */
static size_t drop_thin_cap(char *buf, size_t at, size_t n)
{
	char *line = buf + at, *caps = memchr(line + 4, '\0', n - 4), *w, *r, *end = line + n;
	size_t tok, kept;

	if (!caps)
		return n;
	for (w = r = caps + 1; r < end;) {
		for (tok = 0; r + tok < end && r[tok] != ' ' && r[tok] != '\n'; tok++)
			;
		if (tok == strlen(NOTHIN_CAP) && memcmp(r, NOTHIN_CAP, tok) == 0) {
			r += tok;
			if (r < end && *r == ' ')
				r++;
			else if (w > caps + 1 && w[-1] == ' ')
				w--; /* the last capability: drop the space before it */
			continue;
		}
		memmove(w, r, tok);
		w += tok;
		r += tok;
		if (r < end)
			*w++ = *r++; /* the space or newline after it */
	}
	kept = (size_t)(w - line);
	for (int i = 3; i >= 0; i--, kept >>= 4)
		line[i] = "0123456789abcdef"[kept & 0xf];
	return (size_t)(w - line);
}

/* Room for `more` bytes after what the buffer holds; the advertisement is kept below 1 MiB. */
static int buf_room(struct nothin_stream *s, size_t more)
{
	size_t cap = s->cap ? s->cap : 65536;
	char *buf;

	while (cap - s->len < more)
		cap *= 2;
	if (cap == s->cap)
		return 0;
	if (cap > 1024 * 1024 || !(buf = realloc(s->buf, cap))) {
		git_error_set_oom();
		return -1;
	}
	s->buf = buf;
	s->cap = cap;
	return 0;
}

/* Read more of the advertisement: 1, or 0 when the server stopped (all is handed on), or -1. */
static int fill_more(struct nothin_stream *s)
{
	size_t got = 0;

	if (buf_room(s, 1) < 0 ||
	    s->inner->read(s->inner, s->buf + s->len, s->cap - s->len, &got) < 0)
		return -1;
	if (got == 0) {
		s->passed = 1;
		return 0;
	}
	s->len += got;
	return 1;
}

/* What adv_next found in the advertisement read so far. */
enum adv_item {
	ADV_REF,   /* a ref line, whole */
	ADV_END,   /* the flush after the ref lines */
	ADV_MORE,  /* the next line is not read whole yet */
	ADV_OTHER  /* not a v0 advertisement: not ours to edit */
};

/*
 * The next item of the advertisement in s->buf from *at on, past the
 * "# service=" line of smart HTTP and the flushes before the first ref line
 * (`refs`: ref lines the caller went past).  *at is left at the item; a ref
 * line's length into *len.
 */
static enum adv_item adv_next(const struct nothin_stream *s, size_t *at, size_t *len,
                              size_t refs)
{
	int n;

	while (*at + 4 <= s->len) {
		if ((n = pkt_len(s->buf + *at)) == 0 && refs == 0) {
			*at += 4; /* the flush after "# service=" */
			continue;
		}
		if (n == 0)
			return ADV_END;
		if (n < 4)
			return ADV_OTHER;
		if (*at + (size_t)n > s->len)
			return ADV_MORE;
		if ((size_t)n > 4 + strlen("# service=") &&
		    memcmp(s->buf + *at + 4, "# service=", strlen("# service=")) == 0) {
			*at += (size_t)n;
			continue;
		}
		*len = (size_t)n;
		return ADV_REF;
	}
	return ADV_MORE;
}

/* Read until the first ref line of the advertisement is whole, edit it, keep it to hand on. */
static int nothin_fill(struct nothin_stream *s)
{
	size_t at = 0, n, kept;
	int r;

	for (;;) {
		switch (adv_next(s, &at, &n, 0)) {
		case ADV_MORE:
			if ((r = fill_more(s)) <= 0)
				return r;
			break;
		case ADV_REF:
			kept = drop_thin_cap(s->buf, at, n);
			memmove(s->buf + at + kept, s->buf + at + n, s->len - at - n);
			s->len -= n - kept;
			/* fall through */
		default:
			s->passed = 1;
			return 0;
		}
	}
}

/*
 * A push: libgit2 1.5 sends every object reachable from the pushed commit
 * but not from the refs the server advertises, and to know what those hold
 * it marks every tree of theirs uninteresting (pack-objects.c,
 * mark_edges_uninteresting), not the trees of the commits it stops at
 * ("TODO: git marks the parents of the edges uninteresting").  A node's
 * records appended on an older main than the master's are then sent with
 * every directory of that older main that the master's main has changed
 * since: for 10 records on a main 10,000 records behind, 8,762 objects
 * (3.4 MB) instead of 45, which the server indexes and checks again.  So
 * the commits where the push stops, parents of the commits sent that the
 * advertised refs reach (the server has them and all they hold), are added
 * to the advertisement as ".have" lines, as a server advertises the refs of
 * its alternates, and libgit2 marks their trees uninteresting too.
 *
 * Marking a tree uninteresting reads every tree below it: the whole ledger
 * (65,000 trees at 160,000 records, 1.4 CPU-s) to send 45 objects.  What the
 * pack leaves out is only decided where a commit sent differs from a parent
 * the server holds, so the child marks that much itself: one more ".have",
 * a commit of its own that the server never sees (push_marks_write), lists as
 * file entries the objects each such commit shares with such a parent
 * where they first agree, and the tree of every commit the push stops at.
 * libgit2 marks a file entry without reading it, and hides that commit
 * first (the last ".have"), so the advertised trees are found marked at
 * their top and not read.  Nothing is sent that was not before.
 */
#define HAVE_MAX 64

struct oid_list {
	git_oid *ids;
	size_t count, cap;
};

static int oid_list_add(struct oid_list *l, const git_oid *id)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		git_oid *more = realloc(l->ids, cap * sizeof(*more));

		if (!more)
			return -1;
		l->ids = more;
		l->cap = cap;
	}
	git_oid_cpy(&l->ids[l->count++], id);
	return 0;
}

static int oid_cmp(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/*
 * The objects of tree `t` (of a commit sent) that `p` (of its parent the
 * server holds) has at the same path, where the two first agree: below a
 * directory that differs in both, its entries in turn.
 */
static int shared_add(struct oid_list *marks, git_repository *git, const git_tree *t,
                      const git_tree *p, unsigned int depth)
{
	size_t n = git_tree_entrycount(t);
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const git_tree_entry *f = git_tree_entry_byname(p, git_tree_entry_name(e));
		git_tree *st = NULL, *sp = NULL;

		if (!f)
			continue; /* new: sent */
		if (git_oid_equal(git_tree_entry_id(e), git_tree_entry_id(f))) {
			r = oid_list_add(marks, git_tree_entry_id(e));
		} else if (git_tree_entry_type(e) == GIT_OBJECT_TREE &&
		           git_tree_entry_type(f) == GIT_OBJECT_TREE &&
		           depth < STORE_TREE_DEPTH_MAX) {
			if ((r = git_tree_lookup(&st, git, git_tree_entry_id(e))) == 0 &&
			    (r = git_tree_lookup(&sp, git, git_tree_entry_id(f))) == 0)
				r = shared_add(marks, git, st, sp, depth + 1);
			git_tree_free(st);
			git_tree_free(sp);
		}
	}
	return r;
}

/* The tree of commit `id` into marks, and when `sent` is given, what it shares with it. */
static int commit_marks(struct oid_list *marks, git_repository *git, const git_oid *id,
                        const git_commit *sent)
{
	git_commit *commit = NULL;
	git_tree *t = NULL, *p = NULL;
	int r;

	if ((r = git_commit_lookup(&commit, git, id)) < 0)
		return r;
	r = oid_list_add(marks, git_commit_tree_id(commit));
	if (r == 0 && sent && !git_oid_equal(git_commit_tree_id(sent), git_commit_tree_id(commit))) {
		if ((r = git_commit_tree(&t, sent)) == 0 && (r = git_commit_tree(&p, commit)) == 0)
			r = shared_add(marks, git, t, p, 0);
	}
	git_tree_free(p);
	git_tree_free(t);
	git_commit_free(commit);
	return r;
}

/*
 * Write the commit that marks `marks` (sorted, without repeats) into an
 * object database in memory, which goes with the child; its id into *out.
 * Its tree names each object by its id, as a file.
 */
static int push_marks_write(git_oid *out, git_repository *git, const struct oid_list *marks)
{
	git_odb *odb = NULL;
	git_odb_backend *mem = NULL;
	char *buf = NULL, hex[GIT_OID_HEXSZ + 1], *commit = NULL;
	size_t len = 0, entry = sizeof("100644 ") - 1 + GIT_OID_HEXSZ + 1 + GIT_OID_RAWSZ;
	git_oid tree;
	int r = -1, n;

	if (git_repository_odb(&odb, git) < 0 || git_mempack_new(&mem) < 0)
		goto done;
	if (git_odb_add_backend(odb, mem, 1000) < 0) {
		mem->free(mem);
		goto done;
	}
	if (!(buf = malloc(marks->count * entry + 1)))
		goto done;
	for (size_t i = 0; i < marks->count; i++) {
		git_oid_tostr(hex, sizeof(hex), &marks->ids[i]);
		len += (size_t)sprintf(buf + len, "100644 %s", hex) + 1;
		memcpy(buf + len, marks->ids[i].id, GIT_OID_RAWSZ);
		len += GIT_OID_RAWSZ;
	}
	if (git_odb_write(&tree, odb, buf, len, GIT_OBJECT_TREE) < 0)
		goto done;
	n = asprintf(&commit, "tree %s\nauthor cymat <cymat@cymat.invalid> 0 +0000\n"
	             "committer cymat <cymat@cymat.invalid> 0 +0000\n\nobjects the server holds\n",
	             git_oid_tostr(hex, sizeof(hex), &tree));
	if (n < 0) {
		commit = NULL;
		goto done;
	}
	r = git_odb_write(out, odb, commit, (size_t)n, GIT_OBJECT_COMMIT);
done:
	free(commit);
	free(buf);
	git_odb_free(odb);
	return r < 0 ? -1 : 0;
}

/*
 * Up to HAVE_MAX commits where a push of c->push stops over `tips`, into
 * haves, and after them the commit that marks what the server holds
 * (push_marks_write), when it could be made.
 */
static size_t push_boundary(git_oid *haves, const struct child *c, const git_oid *tips,
                            size_t ntips)
{
	git_revwalk *walk = NULL;
	git_oid id, *sent = NULL;
	struct oid_list marks = { 0 };
	size_t nsent = 0, cap = 0, n = 0, edges = 0;
	int marking = 1;

	if (git_revwalk_new(&walk, c->git) < 0 || git_revwalk_push(walk, c->push) < 0)
		goto done;
	for (size_t i = 0; i < ntips; i++)
		git_revwalk_hide(walk, &tips[i]); /* not here or not a commit: nothing to stop at */
	while (git_revwalk_next(&id, walk) == 0) {
		if (nsent == cap) {
			git_oid *more = realloc(sent, (cap = cap ? 2 * cap : 64) * sizeof(*sent));

			if (!more)
				goto done;
			sent = more;
		}
		git_oid_cpy(&sent[nsent++], &id);
	}
	if (nsent > 1)
		qsort(sent, nsent, sizeof(*sent), oid_cmp);
	for (size_t i = 0; i < nsent && (n < HAVE_MAX || marking); i++) {
		git_commit *commit = NULL;

		if (git_commit_lookup(&commit, c->git, &sent[i]) < 0) {
			marking = 0;
			break;
		}
		for (unsigned int p = 0; p < git_commit_parentcount(commit); p++) {
			const git_oid *parent = git_commit_parent_id(commit, p);
			int known = bsearch(parent, sent, nsent, sizeof(*sent), oid_cmp) != NULL;

			if (known)
				continue;
			/* Every edge of the push, or no marks: they would leave out too little. */
			if (marking && (++edges > HAVE_MAX ||
			                commit_marks(&marks, c->git, parent, commit) < 0))
				marking = 0;
			for (size_t j = 0; j < ntips && !known; j++)
				known = git_oid_equal(parent, &tips[j]);
			for (size_t j = 0; j < n && !known; j++)
				known = git_oid_equal(parent, &haves[j]);
			if (!known && n < HAVE_MAX)
				git_oid_cpy(&haves[n++], parent);
		}
		git_commit_free(commit);
	}
	/* The advertised commits' trees, found marked and not read; one not here is not hidden. */
	for (size_t i = 0; marking && i < ntips; i++)
		if (commit_marks(&marks, c->git, &tips[i], NULL) < 0)
			git_error_clear();
	if (marking && marks.count) {
		size_t k = 0;

		qsort(marks.ids, marks.count, sizeof(*marks.ids), oid_cmp);
		for (size_t i = 0; i < marks.count; i++)
			if (k == 0 || !git_oid_equal(&marks.ids[k - 1], &marks.ids[i]))
				git_oid_cpy(&marks.ids[k++], &marks.ids[i]);
		marks.count = k;
		if (push_marks_write(&haves[n], c->git, &marks) == 0)
			n++;
	}
done:
	git_error_clear(); /* nothing found is nothing added: libgit2 finds it out again */
	free(marks.ids);
	free(sent);
	git_revwalk_free(walk);
	return n;
}

/*
 * Read receive-pack's advertisement whole (past the "# service=" line and
 * flush of smart HTTP), its refs' commits into tips, and put the ".have"
 * lines push_boundary finds before its flush at `at`.
 */
static int have_fill(struct nothin_stream *s)
{
	git_oid *tips = NULL, haves[HAVE_MAX + 1], id;
	size_t at = 0, n = 0, refs = 0, ntips = 0, cap = 0, nhaves;
	enum adv_item item;
	int r = 0;

	while ((item = adv_next(s, &at, &n, refs)) != ADV_END) {
		if (item == ADV_OTHER) {
			s->passed = 1;
			goto done;
		}
		if (item == ADV_MORE) {
			if ((r = fill_more(s)) <= 0)
				goto done;
			continue;
		}
		refs++;
		if (n >= 4 + GIT_OID_HEXSZ + 2 && s->buf[at + 4 + GIT_OID_HEXSZ] == ' ' &&
		    git_oid_fromstrn(&id, s->buf + at + 4, GIT_OID_HEXSZ) == 0 &&
		    !git_oid_is_zero(&id)) {
			if (ntips == cap) {
				git_oid *more = realloc(tips, (cap = cap ? 2 * cap : 16) * sizeof(*tips));

				if (!more) {
					git_error_set_oom();
					r = -1;
					goto done;
				}
				tips = more;
			}
			git_oid_cpy(&tips[ntips++], &id);
		}
		at += n;
	}
	nhaves = push_boundary(haves, s->sub->c, tips, ntips);
	if (buf_room(s, nhaves * (4 + GIT_OID_HEXSZ + sizeof(" .have\n") - 1)) < 0) {
		r = -1;
		goto done;
	}
	for (size_t i = 0; i < nhaves; i++) {
		char line[4 + GIT_OID_HEXSZ + sizeof(" .have\n")], hex[GIT_OID_HEXSZ + 1];
		int len = snprintf(line, sizeof(line), "%04zx%s .have\n", sizeof(line) - 1,
		                   git_oid_tostr(hex, sizeof(hex), &haves[i]));

		memmove(s->buf + at + (size_t)len, s->buf + at, s->len - at);
		memcpy(s->buf + at, line, (size_t)len);
		s->len += (size_t)len;
		at += (size_t)len;
	}
	s->passed = 1;
	r = 0;
done:
	free(tips);
	return r < 0 ? -1 : 0;
}

static int nothin_read(git_smart_subtransport_stream *stream, char *buffer, size_t size,
                       size_t *bytes_read)
{
	struct nothin_stream *s = (struct nothin_stream *)stream;
	size_t n;

	if (!s->passed && (s->sub->c->push ? have_fill(s) : nothin_fill(s)) < 0)
		return -1;
	if (s->off == s->len)
		return s->inner->read(s->inner, buffer, size, bytes_read);
	n = s->len - s->off < size ? s->len - s->off : size;
	memcpy(buffer, s->buf + s->off, n);
	s->off += n;
	*bytes_read = n;
	return 0;
}

static int nothin_write(git_smart_subtransport_stream *stream, const char *buffer, size_t len)
{
	struct nothin_stream *s = (struct nothin_stream *)stream;

	return s->inner->write(s->inner, buffer, len);
}

static void nothin_stream_free(git_smart_subtransport_stream *stream)
{
	struct nothin_stream *s = (struct nothin_stream *)stream;

	if (s->sub->ls == s)
		s->sub->ls = NULL;
	s->inner->free(s->inner);
	free(s->buf);
	free(s);
}

static int nothin_action(git_smart_subtransport_stream **out, git_smart_subtransport *sub,
                         const char *url, git_smart_service_t action)
{
	struct nothin_sub *t = (struct nothin_sub *)sub;
	git_smart_subtransport_stream *inner = NULL;
	struct nothin_stream *s;

	if (t->inner->action(&inner, t->inner, url, action) < 0)
		return -1;
	/* git:// goes on with the advertisement's stream: hand on the same wrapper. */
	if (t->ls && t->ls->inner == inner) {
		*out = &t->ls->parent;
		return 0;
	}
	if (action != (t->c->push ? GIT_SERVICE_RECEIVEPACK_LS : GIT_SERVICE_UPLOADPACK_LS)) {
		*out = inner;
		return 0;
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		inner->free(inner);
		git_error_set_oom();
		return -1;
	}
	s->parent.subtransport = sub;
	s->parent.read = nothin_read;
	s->parent.write = nothin_write;
	s->parent.free = nothin_stream_free;
	s->inner = inner;
	s->sub = t;
	t->ls = s;
	*out = &s->parent;
	return 0;
}

static int nothin_close(git_smart_subtransport *sub)
{
	struct nothin_sub *t = (struct nothin_sub *)sub;

	return t->inner->close(t->inner);
}

static void nothin_free(git_smart_subtransport *sub)
{
	struct nothin_sub *t = (struct nothin_sub *)sub;

	t->inner->free(t->inner);
	free(t);
}

static int nothin_sub_new(git_smart_subtransport **out, git_transport *owner, void *param)
{
	struct nothin_sub *t = calloc(1, sizeof(*t));
	int error;

	if (!t) {
		git_error_set_oom();
		return -1;
	}
	t->c = param;
	error = t->c->def.rpc ? git_smart_subtransport_http(&t->inner, owner, NULL)
	                      : git_smart_subtransport_git(&t->inner, owner, NULL);
	if (error < 0) {
		free(t);
		return error;
	}
	t->parent.action = nothin_action;
	t->parent.close = nothin_close;
	t->parent.free = nothin_free;
	*out = &t->parent;
	return 0;
}

/*
 * The remote callbacks' transport (their payload is the child): git:// and
 * http(s):// with the advertisement edited, for a fetch without thin packs,
 * for a push with the ".have" lines of have_fill.
 */
static int nothin_transport(git_transport **out, git_remote *owner, void *param)
{
	struct child *c = param;
	const char *url = git_remote_url(owner);
	int http = !strncmp(url, "http://", 7) || !strncmp(url, "https://", 8);

	if (!http && strncmp(url, "git://", 6) != 0)
		return git_transport_new(out, owner, url); /* a path or file:// */
	c->def.callback = nothin_sub_new;
	c->def.rpc = (unsigned int)http;
	c->def.param = c;
	return git_transport_smart(out, owner, &c->def); /* calls nothin_sub_new now */
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
	fo.callbacks.transport = nothin_transport;
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
	po.callbacks.transport = nothin_transport;
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
	c->git = git;
	c->push = &id;
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
 * Whether `target` (where a descriptor of /proc/self/fd points) is a pack
 * file of the repository at `git_dir`: objects/pack/<name>.pack.
 */
static int is_pack_path(const char *target, const char *git_dir)
{
	size_t dlen = strlen(git_dir), len = strlen(target);

	return strncmp(target, git_dir, dlen) == 0 &&
	       strncmp(target + dlen, "/objects/pack/", 14) == 0 &&
	       !strchr(target + dlen + 14, '/') && len > 5 && strcmp(target + len - 5, ".pack") == 0;
}

/*
 * Start the child clean of what the daemon had: its signal mask (the daemon
 * blocks SIGTERM and the like during a step) and handlers, and every
 * descriptor but stdin, stdout, stderr and the report pipe, which moves to
 * descriptor 3 (the pidfile and its flock, append.lock), save libgit2's
 * open pack files: libgit2 keeps them in a process-wide cache, keyed by
 * path, which the child inherits and uses for its own handle on the
 * repository; with their descriptors closed, every pack window the parent
 * had not mapped yet fails ("failed to mmap ... Bad file descriptor").
 * Without /proc/self/fd the descriptors are not known: all are kept.
 */
static void child_start(int *fd, pid_t parent, const char *git_dir)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD,
		                    SIGALRM };
	sigset_t none;
	struct dirent *de;
	DIR *d;

	sigemptyset(&none);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_SETMASK, &none, NULL);
#ifdef __linux__
	/* A child whose parent died has no one to report to, even one that died before this. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
#endif
	if (*fd != 3) {
		if (dup2(*fd, 3) < 0)
			_exit(0);
		*fd = 3;
	}
	if (!(d = opendir("/proc/self/fd")))
		return;
	while ((de = readdir(d)) != NULL) {
		char target[PATH_MAX];
		int i = atoi(de->d_name);
		ssize_t n;

		if (i < 4 || i == dirfd(d))
			continue;
		n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (n >= 0)
			target[n] = '\0';
		if (n < 0 || !is_pack_path(target, git_dir))
			close(i);
	}
	closedir(d);
}

/*
 * The child: its own libgit2 handle on the repository (nothing of the
 * parent's is used after the fork), one transfer, one report, _exit.
 */
static void child_run(int fd, pid_t parent, const char *git_dir, const char *qdir,
                      const struct limits *lim, const char *url, const char *commit,
                      const char *ref)
{
	struct report rep;
	struct child c;
	git_repository *git = NULL;
	git_odb *odb = NULL;
	char objects[PATH_MAX];
	const char *p;
	size_t left;

	child_start(&fd, parent, git_dir);
	memset(&rep, 0, sizeof(rep));
	memset(&c, 0, sizeof(c));
	c.max_bytes = lim->max_bytes;
	c.max_objects = lim->max_objects;
	/* Already set by the store for the parent; the received pack must be durable. */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
	/*
	 * The store bounds mapped pack data for the parent (store.c).  A push
	 * walks every tree of the remote's tips, across all the packs: under
	 * that bound, with packs larger than it, libgit2 maps and unmaps a
	 * window for nearly every object (a push into a 100,000-record ledger
	 * took 2 to 3 times the CPU time).  The short-lived child maps with
	 * libgit2's own 64-bit default limit.
	 */
	if (sizeof(size_t) >= 8)
		git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)8 << 30);
	snprintf(objects, sizeof(objects), "%s/objects", qdir ? qdir : "");
	if (git_repository_open_bare(&git, git_dir) < 0)
		report_set(&rep, LEDGER_EGIT, "'%s': cannot open: %s", git_dir, git_message());
	else if (qdir && (git_odb_open(&odb, objects) < 0 || git_repository_set_odb(git, odb) < 0))
		report_set(&rep, LEDGER_EGIT, "'%s': cannot open: %s", qdir, git_message());
	else if (commit)
		child_push(&rep, &c, git, url, commit, ref);
	else
		child_fetch(&rep, &c, git, url, ref);
	git_odb_free(odb);
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

/*
 * Run one transfer in a child and wait for its report until the deadline.
 * `commit` NULL: a fetch of `ref` into the quarantine `qdir`; else a push
 * of `commit` to `ref`.
 */
static int transfer_run(struct report *rep, pid_t *out_pid, ledger_repo *repo, const char *qdir,
                        const struct limits *lim, const char *url, const char *commit,
                        const char *ref)
{
	int64_t deadline = now_ms() + (int64_t)lim->deadline_s * 1000;
	size_t got = 0;
	int fds[2], status, timed_out = 0, r;
	pid_t pid, parent = getpid();

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
		child_run(fds[1], parent, repo->git_dir, qdir, lim, url, commit, ref);
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
		if (timed_out)
			return ledger_error_set(LEDGER_ETIMEOUT, "\"%s\": no result within %u s",
			                        url, lim->deadline_s);
		return ledger_error_set(LEDGER_ENETWORK, "\"%s\": the transfer process died", url);
	}
	rep->oid[sizeof(rep->oid) - 1] = '\0';
	rep->message[sizeof(rep->message) - 1] = '\0';
	if (rep->code < 0)
		return ledger_error_set(rep->code, "%s", rep->message);
	return 0;
}

static int url_check(const char *url)
{
	if (!url || !*url)
		return ledger_error_set(LEDGER_EINVALID, "no remote url given");
	return 0;
}

static int fetch_args_check(const char *url, const char *remote_ref)
{
	int r;

	if ((r = url_check(url)) < 0)
		return r;
	if (!remote_ref || strncmp(remote_ref, "refs/", 5) != 0)
		return ledger_error_set(LEDGER_EINVALID, "invalid remote ref \"%s\"",
		                        remote_ref ? remote_ref : "(null)");
	return 0;
}

int store_fetch_quarantined(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo,
                            ledger_repo *qrepo, const char *url, const char *remote_ref,
                            const ledger_transfer_limits *limits)
{
	struct limits lim;
	struct report rep;
	pid_t pid;
	int r;

	if ((r = limits_get(&lim, limits)) < 0 || (r = fetch_args_check(url, remote_ref)) < 0 ||
	    (r = transfer_run(&rep, &pid, repo, qrepo->git_dir, &lim, url, NULL, remote_ref)) < 0)
		return r;
	/* A cap as the transfer's: nothing of the quarantine is read whole before it. */
	if ((r = store_quarantine_bounds(qrepo, LEDGER_ELIMIT)) < 0)
		return ledger_error_prefix("\"%s\"", url);
	/* The quarantine's view of its objects/pack/ is refreshed on a miss: the commit must be there. */
	if ((r = ledger_repo_resolve(out, qrepo, rep.oid)) < 0)
		return ledger_error_prefix("\"%s\": fetched commit %s", url, rep.oid);
	return 0;
}

int store_fetch_ref_set(ledger_repo *repo, const char *local_ref, const char *commit)
{
	char have[LEDGER_OID_HEX_LEN + 1];
	int r;

	/*
	 * Another fetch may move it meanwhile: the newest fetch wins.  Bounded:
	 * a ref that is symbolic or names a tag never compares equal to the
	 * commit it peels to, and must not make the daemon spin.
	 */
	for (int attempt = 0; attempt < FETCH_REF_ATTEMPTS; attempt++) {
		r = ledger_repo_ref(have, repo, local_ref);
		if (r < 0 && r != LEDGER_ENOTFOUND)
			return r;
		if (r == 0 && strcmp(have, commit) == 0)
			return 0;
		r = ledger_repo_update_ref(repo, local_ref, r == 0 ? have : NULL, commit);
		if (r != LEDGER_ECONFLICT)
			return r;
	}
	return ledger_error_set(LEDGER_ECONFLICT, "ref \"%s\" could not be moved to %s in %d "
	                        "attempts (is it symbolic, or a tag?  it should name a commit)",
	                        local_ref, commit, FETCH_REF_ATTEMPTS);
}

int ledger_remote_fetch(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo, const char *url,
                        const char *remote_ref, const char *local_ref,
                        const ledger_transfer_limits *limits)
{
	ledger_repo *qrepo = NULL;
	char *qdir = NULL;
	int r;

	if ((r = fetch_args_check(url, remote_ref)) < 0)
		return r;
	if (!local_ref || strncmp(local_ref, "refs/cymat/", 11) != 0)
		return ledger_error_set(LEDGER_EINVALID, "local ref \"%s\" is not under refs/cymat/",
		                        local_ref ? local_ref : "(null)");
	if ((r = store_space_check(repo, "fetch")) < 0 ||
	    (r = store_quarantine_make(&qdir, repo, QUARANTINE_INCOMING)) < 0 ||
	    (r = store_quarantine_open(&qrepo, repo, qdir)) < 0 ||
	    (r = store_fetch_quarantined(out, repo, qrepo, url, remote_ref, limits)) < 0 ||
	    (r = store_quarantine_migrate(repo, qdir)) < 0)
		goto done;
	r = store_fetch_ref_set(repo, local_ref, out);
done:
	ledger_repo_free(qrepo);
	store_quarantine_remove(qdir);
	free(qdir);
	return r;
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
	r = transfer_run(&rep, &pid, repo, NULL, &lim, url, id, remote_ref);
	/* A killed child leaves its temporary ref behind. */
	if (pid > 0) {
		snprintf(tmp, sizeof(tmp), TRANSFER_PUSH_REF_PREFIX "%ld", (long)pid);
		if (git_reference_lookup(&ref, repo->git, tmp) == 0)
			git_reference_delete(ref);
		git_reference_free(ref);
	}
	return r;
}
