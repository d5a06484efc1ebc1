/*
 * Bundles: git bundles version 2 ("# v2 git bundle\n", prerequisite lines
 * "-<id> <subject>", reference lines "<id> <ref>", a blank line, a pack), so
 * that a ledger carried by hand is readable by stock git.  Creating one
 * packs main minus what the prerequisite holds with libgit2's packbuilder,
 * into a temporary file renamed into place once durable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "ledger/bundle.h"
#include "ledger/error.h"
#include "ledger/receive.h"
#include "ledger/record.h"
#include "ledger/store.h"
#include "ledger/sync.h"
#include "ledger/trust.h"
#include "state_internal.h"
#include "store_internal.h"
#include "store_incoming.h"
#include "store_quarantine.h"

#define BUNDLE_SIGNATURE "# v2 git bundle\n"
/* Bytes of pack written between two progress reports. */
#define BUNDLE_PROGRESS_BYTES (256 * 1024)

struct bundle_out {
	FILE *f;
	const char *tmp;
	uint64_t bytes;
	uint64_t reported;
	ledger_bundle_progress_cb progress;
	void *payload;
};

static int bundle_put(struct bundle_out *o, const void *data, size_t len)
{
	if (len && fwrite(data, 1, len, o->f) != len)
		return ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", o->tmp,
		                        strerror(errno));
	o->bytes += len;
	if (o->progress && o->bytes - o->reported >= BUNDLE_PROGRESS_BYTES) {
		o->reported = o->bytes;
		o->progress("writing", o->bytes, 0, o->payload);
	}
	return 0;
}

static int pack_chunk(void *buf, size_t size, void *payload)
{
	return bundle_put(payload, buf, size) < 0 ? GIT_EUSER : 0;
}

static int pack_progress(int stage, uint32_t current, uint32_t total, void *payload)
{
	struct bundle_out *o = payload;

	o->progress(stage == GIT_PACKBUILDER_ADDING_OBJECTS ? "counting objects" :
	            "compressing objects", current, total, o->payload);
	return 0;
}

/* The header: the prerequisite (if any), main and HEAD (so that `git clone` checks main out). */
static int header_write(struct bundle_out *o, const git_commit *tip, git_commit *since)
{
	char hex[LEDGER_OID_HEX_LEN + 1];
	const char *subject;
	int r;

	if ((r = bundle_put(o, BUNDLE_SIGNATURE, strlen(BUNDLE_SIGNATURE))) < 0)
		return r;
	if (since) {
		git_oid_tostr(hex, sizeof(hex), git_commit_id(since));
		subject = git_commit_summary(since);
		if ((r = bundle_put(o, "-", 1)) < 0 || (r = bundle_put(o, hex, strlen(hex))) < 0 ||
		    (subject && *subject &&
		     ((r = bundle_put(o, " ", 1)) < 0 ||
		      (r = bundle_put(o, subject, strlen(subject))) < 0)) ||
		    (r = bundle_put(o, "\n", 1)) < 0)
			return r;
	}
	git_oid_tostr(hex, sizeof(hex), git_commit_id(tip));
	if ((r = bundle_put(o, hex, strlen(hex))) < 0 ||
	    (r = bundle_put(o, " " LEDGER_MAIN_REF "\n", strlen(" " LEDGER_MAIN_REF "\n"))) < 0 ||
	    (r = bundle_put(o, hex, strlen(hex))) < 0 ||
	    (r = bundle_put(o, " HEAD\n\n", strlen(" HEAD\n\n"))) < 0)
		return r;
	return 0;
}

/* Objects of main that `since` (NULL: nothing) lacks. */
static int pack_fill(git_packbuilder *pb, ledger_repo *repo, const git_commit *tip,
                     const git_commit *since)
{
	git_revwalk *walk = NULL;
	int error;

	if ((error = git_revwalk_new(&walk, repo->git)) < 0 ||
	    (error = git_revwalk_push(walk, git_commit_id(tip))) < 0 ||
	    (since && (error = git_revwalk_hide(walk, git_commit_id(since))) < 0) ||
	    (error = git_packbuilder_insert_walk(pb, walk)) < 0) {
		git_revwalk_free(walk);
		return store_error_git(error, "cannot list the objects to bundle");
	}
	git_revwalk_free(walk);
	return 0;
}

/* "<dir of path>/.<name of path>.XXXXXX", for mkstemp. */
static char *temp_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *tmp;

	if (slash) {
		if (asprintf(&tmp, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1) < 0)
			return NULL;
	} else if (asprintf(&tmp, ".%s.XXXXXX", path) < 0) {
		return NULL;
	}
	return tmp;
}

/* The directory holding `path`, to fsync after the rename. */
static char *dir_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int ledger_bundle_create(ledger_bundle_info *out, ledger_repo *repo, const char *path,
                         const ledger_bundle_create_options *opts)
{
	ledger_bundle_create_options defaults = LEDGER_BUNDLE_CREATE_OPTIONS_INIT;
	struct bundle_out o = { 0 };
	git_commit *tip = NULL, *since = NULL;
	git_packbuilder *pb = NULL;
	char *tmp = NULL, *dir = NULL;
	char tip_hex[LEDGER_OID_HEX_LEN + 1], since_hex[LEDGER_OID_HEX_LEN + 1] = "";
	size_t commits = 0;
	int fd = -1, made = 0, r, error;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &defaults;
	if (opts->version != LEDGER_BUNDLE_CREATE_OPTIONS_VERSION)
		return ledger_error_set(LEDGER_EINVALID, "bundle options of an unknown version");
	if (!path || !*path)
		return ledger_error_set(LEDGER_EINVALID, "no bundle file given");
	if ((r = store_lookup_commit(&tip, repo, NULL)) < 0)
		goto done;
	git_oid_tostr(tip_hex, sizeof(tip_hex), git_commit_id(tip));
	if (opts->since) {
		if ((r = store_lookup_commit(&since, repo, opts->since)) < 0)
			goto done;
		git_oid_tostr(since_hex, sizeof(since_hex), git_commit_id(since));
		if ((r = ledger_repo_is_ancestor(repo, since_hex, tip_hex)) < 0)
			goto done;
		if (r == 0) {
			r = ledger_error_set(LEDGER_EINVALID, "\"%s\" is not in the history of %s",
			                     opts->since, LEDGER_MAIN_REF);
			goto done;
		}
	}
	if ((r = ledger_repo_count_commits(&commits, repo, opts->since ? since_hex : NULL,
	                                   tip_hex)) < 0)
		goto done;
	if (commits == 0) {
		r = ledger_error_set(LEDGER_EINVALID, "nothing to bundle: %s has no commit after \"%s\"",
		                     LEDGER_MAIN_REF, opts->since);
		goto done;
	}

	o.progress = opts->progress;
	o.payload = opts->progress_payload;
	if ((error = git_packbuilder_new(&pb, repo->git)) < 0) {
		r = store_error_git(error, "cannot start a pack");
		goto done;
	}
	git_packbuilder_set_threads(pb, 0);
	if (o.progress &&
	    (error = git_packbuilder_set_callbacks(pb, pack_progress, &o)) < 0) {
		r = store_error_git(error, "cannot start a pack");
		goto done;
	}
	if ((r = pack_fill(pb, repo, tip, since)) < 0)
		goto done;

	if (!(tmp = temp_name(path)) || !(dir = dir_name(path))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	o.tmp = tmp;
	if ((fd = mkstemp(tmp)) < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot create a file beside \"%s\": %s", path,
		                     strerror(errno));
		goto done;
	}
	made = 1;
	/* A bundle is for carrying: as readable as the repository it came from. */
	if (fchmod(fd, 0644) < 0 || !(o.f = fdopen(fd, "w"))) {
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1; /* owned by o.f */
	if ((r = header_write(&o, tip, since)) < 0)
		goto done;
	error = git_packbuilder_foreach(pb, pack_chunk, &o);
	if (error == GIT_EUSER) {
		r = LEDGER_EIO;
		goto done;
	}
	if (error < 0) {
		r = store_error_git(error, "cannot write the pack into \"%s\"", tmp);
		goto done;
	}
	if (fflush(o.f) != 0 || fsync(fileno(o.f)) < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	error = fclose(o.f);
	o.f = NULL;
	if (error != 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	if (rename(tmp, path) < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot rename \"%s\" to \"%s\": %s", tmp, path,
		                     strerror(errno));
		goto done;
	}
	made = 0; /* renamed: nothing to remove */
	if ((r = store_fsync_path(dir)) < 0)
		goto done;
	if (o.progress)
		o.progress("writing", o.bytes, o.bytes, o.payload);
	memcpy(out->tip, tip_hex, sizeof(out->tip));
	memcpy(out->since, since_hex, sizeof(out->since));
	out->commits = commits;
	out->objects = git_packbuilder_object_count(pb);
	out->bytes = o.bytes;
	r = 0;
done:
	if (o.f)
		fclose(o.f);
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	free(tmp);
	free(dir);
	git_packbuilder_free(pb);
	git_commit_free(since);
	git_commit_free(tip);
	return r;
}

/*
 * Importing.  The header is read line by line and checked strictly; the
 * pack that follows is streamed into libgit2's indexer, which writes it and
 * its index into a quarantine: <git dir>/cymat/import-<pid>-XXXXXX, a bare
 * repository of its own whose objects/info/alternates names the ledger's
 * object store.  Opened as a ledger, the quarantine sees both, and whatever
 * the union writes (a merge commit) lands there too.  The union is verified
 * in the quarantine (with a link to the ledger's verification cache, so
 * only what is new is read, and read-only, so that a refused bundle leaves
 * the cache as it was); only when nothing the bundle adds breaks a
 * FORMAT rule are the quarantine's objects renamed into the object store
 * and main moved.  A refused bundle leaves nothing but the quarantine,
 * which is removed.
 */

/*
 * Header bounds: a ledger's bundle has one prerequisite at most and two
 * references, stock git's a few more; nothing needs more than these.
 */
#define BUNDLE_LINE_MAX 8192
#define BUNDLE_HEADER_MAX (1024 * 1024)
#define BUNDLE_REFS_MAX 4096
#define BUNDLE_PREREQS_MAX 256
/* Bytes of names a message lists before it says "...". */
#define BUNDLE_NAMES_MAX 240
#define BUNDLE_CHUNK (64 * 1024)
/* Unions made again after an append moved main under the import. */
#define BUNDLE_IMPORT_TRIES 8

struct bundle_prereq {
	char hex[LEDGER_OID_HEX_LEN + 1];
	char *subject;
};

/*
 * Names for a message, ", "-separated: the first ones, then "..." once
 * BUNDLE_NAMES_MAX bytes are used, so that listing n names costs O(n).
 */
struct name_list {
	char text[BUNDLE_NAMES_MAX + 8];
	size_t len, count;
	int full;
};

static void name_list_add(struct name_list *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void name_list_add(struct name_list *l, const char *fmt, ...)
{
	char item[BUNDLE_NAMES_MAX + 1];
	const char *sep = l->count++ ? ", " : "";
	va_list ap;
	int n;

	if (l->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(item, sizeof(item), fmt, ap);
	va_end(ap);
	if (n >= 0 && l->len + strlen(sep) + (size_t)n <= BUNDLE_NAMES_MAX) {
		l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s%s", sep,
		                           item);
	} else {
		snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s...", sep);
		l->full = 1;
	}
}

struct bundle_header {
	struct bundle_prereq *prereqs;
	size_t nprereqs;
	char main[LEDGER_OID_HEX_LEN + 1]; /* "" until refs/heads/main is read */
	struct name_list refs;             /* the ref names, for messages */
};

static void header_clear(struct bundle_header *h)
{
	for (size_t i = 0; i < h->nprereqs; i++)
		free(h->prereqs[i].subject);
	free(h->prereqs);
	memset(h, 0, sizeof(*h));
}

/*
 * One header line without its newline into buf: 1, or 0 at the end of the
 * file (nothing read), or -1 for a line too long, holding a NUL or cut off
 * by the end of the file.
 */
static int line_read(char *buf, size_t cap, size_t *out_len, FILE *f)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0' || n + 1 >= cap)
			return -1;
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	*out_len = n;
	if (c == EOF)
		return n == 0 ? 0 : -1;
	return 1;
}

static int hex_oid(const char *s)
{
	for (size_t i = 0; i < LEDGER_OID_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* A reference name as git writes it in a bundle: printable, no space. */
static int ref_name_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

static int header_add_prereq(struct bundle_header *h, const char *hex, const char *subject)
{
	struct bundle_prereq *p;

	if (h->nprereqs == BUNDLE_PREREQS_MAX)
		return ledger_error_set(LEDGER_EINVALID, "more than %d prerequisites",
		                        BUNDLE_PREREQS_MAX);
	p = realloc(h->prereqs, (h->nprereqs + 1) * sizeof(*p));
	if (!p)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	h->prereqs = p;
	p = &h->prereqs[h->nprereqs];
	memcpy(p->hex, hex, LEDGER_OID_HEX_LEN);
	p->hex[LEDGER_OID_HEX_LEN] = '\0';
	if (!(p->subject = strdup(subject)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	h->nprereqs++;
	return 0;
}

static int header_add_ref(struct bundle_header *h, const char *hex, const char *name)
{
	if (h->refs.count == BUNDLE_REFS_MAX)
		return ledger_error_set(LEDGER_EINVALID, "more than %d references", BUNDLE_REFS_MAX);
	if (strcmp(name, LEDGER_MAIN_REF) == 0) {
		if (*h->main)
			return ledger_error_set(LEDGER_EINVALID, "%s named twice", LEDGER_MAIN_REF);
		memcpy(h->main, hex, LEDGER_OID_HEX_LEN);
		h->main[LEDGER_OID_HEX_LEN] = '\0';
	}
	name_list_add(&h->refs, "%s", name);
	return 0;
}

/* Read the header up to the blank line; `f` is then at the pack. */
static int header_read(struct bundle_header *h, FILE *f, const char *path)
{
	char *line = NULL;
	size_t len, total;
	unsigned int lineno;
	int r;

	if (!(line = malloc(BUNDLE_LINE_MAX)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	r = line_read(line, BUNDLE_LINE_MAX, &len, f);
	if (r <= 0 || strcmp(line, "# v2 git bundle") != 0) {
		if (r > 0 && strncmp(line, "# v3 git bundle", 15) == 0)
			r = ledger_error_set(LEDGER_EINVALID,
			                     "\"%s\" is a version 3 git bundle; only version 2 is read "
			                     "(git bundle create --version=2)", path);
		else if (r > 0 && strncmp(line, "# v", 3) == 0 && strstr(line, " git bundle"))
			r = ledger_error_set(LEDGER_EINVALID,
			                     "\"%s\" is a git bundle of an unknown version (\"%.40s\")",
			                     path, line);
		else if (ferror(f))
			r = ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", path,
			                     strerror(errno));
		else
			r = ledger_error_set(LEDGER_EINVALID, "\"%s\" is not a git bundle", path);
		goto done;
	}
	total = len + 1;
	for (lineno = 2;; lineno++) {
		if (total > BUNDLE_HEADER_MAX) {
			r = ledger_error_set(LEDGER_EINVALID,
			                     "bundle \"%s\": header larger than %d KiB at line %u "
			                     "(%zu references, %zu prerequisites so far)", path,
			                     BUNDLE_HEADER_MAX / 1024, lineno, h->refs.count,
			                     h->nprereqs);
			goto done;
		}
		r = line_read(line, BUNDLE_LINE_MAX, &len, f);
		if (r <= 0) {
			if (ferror(f))
				r = ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", path,
				                     strerror(errno));
			else if (r == 0 || feof(f))
				r = ledger_error_set(LEDGER_EINVALID,
				                     "bundle \"%s\": the header ends before its blank line "
				                     "(truncated)", path);
			else
				r = ledger_error_set(LEDGER_EINVALID,
				                     "bundle \"%s\": header line %u is too long or holds "
				                     "a NUL", path, lineno);
			goto done;
		}
		if (len == 0)
			break;
		total += len + 1;
		if (line[0] == '-' && len >= 1 + LEDGER_OID_HEX_LEN && hex_oid(line + 1) &&
		    (line[1 + LEDGER_OID_HEX_LEN] == '\0' || line[1 + LEDGER_OID_HEX_LEN] == ' ')) {
			r = header_add_prereq(h, line + 1,
			                      line[1 + LEDGER_OID_HEX_LEN] ?
			                      line + 2 + LEDGER_OID_HEX_LEN : "");
		} else if (len > LEDGER_OID_HEX_LEN + 1 && hex_oid(line) &&
		           line[LEDGER_OID_HEX_LEN] == ' ' &&
		           ref_name_ok(line + LEDGER_OID_HEX_LEN + 1)) {
			r = header_add_ref(h, line, line + LEDGER_OID_HEX_LEN + 1);
		} else {
			r = ledger_error_set(LEDGER_EINVALID,
			                     "header line %u is neither a prerequisite nor a reference: "
			                     "\"%.60s\"", lineno, line);
		}
		if (r < 0) {
			ledger_error_prefix("bundle \"%s\"", path);
			goto done;
		}
	}
	if (!*h->main) {
		if (h->refs.count)
			r = ledger_error_set(LEDGER_EINVALID, "bundle \"%s\" has no %s (its %zu "
			                     "reference%s: %s)", path, LEDGER_MAIN_REF, h->refs.count,
			                     h->refs.count == 1 ? "" : "s", h->refs.text);
		else
			r = ledger_error_set(LEDGER_EINVALID, "bundle \"%s\" has no %s (it has no "
			                     "references)", path, LEDGER_MAIN_REF);
		goto done;
	}
	r = 0;
done:
	free(line);
	return r;
}

/* Every prerequisite must be in main's history: name those that are not. */
static int prereqs_check(ledger_repo *repo, const struct bundle_header *h, const char *main_hex,
                         const char *path)
{
	struct name_list missing;

	memset(&missing, 0, sizeof(missing));
	for (size_t i = 0; i < h->nprereqs; i++) {
		const struct bundle_prereq *p = &h->prereqs[i];

		if (ledger_repo_is_ancestor(repo, p->hex, main_hex) == 1)
			continue;
		name_list_add(&missing, "%s%s%.60s%s", p->hex, *p->subject ? " (\"" : "",
		              p->subject, *p->subject ? "\")" : "");
	}
	if (missing.count)
		return ledger_error_set(LEDGER_ENOTFOUND,
		                        "bundle \"%s\" needs %s this ledger's main lacks: %s", path,
		                        missing.count == 1 ? "a commit" : "commits", missing.text);
	return 0;
}

struct index_progress {
	ledger_bundle_progress_cb cb;
	void *payload;
	unsigned int last;
};

static int index_progress_cb(const git_indexer_progress *stats, void *payload)
{
	struct index_progress *p = payload;

	if (stats->received_objects != p->last || stats->received_objects == stats->total_objects) {
		p->last = stats->received_objects;
		p->cb("receiving objects", stats->received_objects, stats->total_objects,
		      p->payload);
	}
	return 0;
}

/* The libgit2 message, as the reason a bundle is refused. */
static int pack_refused(const char *path, const char *what)
{
	const git_error *e = git_error_last();

	return ledger_error_set(LEDGER_EINVALID, "bundle \"%s\": %s: %s", path, what,
	                        e && e->message ? e->message : "unknown libgit2 error");
}

/*
 * Stream the rest of `f` (the pack) into the indexer, writing it and its
 * index into the quarantine.  Thin packs are completed from the ledger's
 * objects; the indexer checks every object's hash, the pack's checksum and
 * that everything the pack's commits and trees name is there.
 */
static int pack_index(size_t *out_objects, ledger_repo *repo, FILE *f, const char *qdir,
                      const char *path, const ledger_bundle_import_options *opts)
{
	git_indexer_options io;
	struct index_progress prog = { opts->progress, opts->progress_payload, 0 };
	git_indexer_progress stats;
	git_indexer *idx = NULL;
	git_odb *odb = NULL;
	char pack_dir[PATH_MAX];
	char *buf = NULL;
	uint64_t total = 0;
	size_t n;
	int r, error;

	*out_objects = 0;
	snprintf(pack_dir, sizeof(pack_dir), "%s/objects/pack", qdir);
	/*
	 * The indexer's own connectivity check (io.verify) stays off: libgit2
	 * 1.5 leaks every object of the pack that the repository already holds
	 * when it is on, and the verification of the quarantined ledger that
	 * follows reads every new commit, tree and file, so a pack that lacks
	 * one is refused there.
	 */
	git_indexer_options_init(&io, GIT_INDEXER_OPTIONS_VERSION);
	if (opts->progress) {
		io.progress_cb = index_progress_cb;
		io.progress_cb_payload = &prog;
	}
	if ((error = git_repository_odb(&odb, repo->git)) < 0) {
		r = store_error_git(error, "cannot open the object database");
		goto done;
	}
	if ((error = git_indexer_new(&idx, pack_dir, 0, odb, &io)) < 0) {
		r = store_error_git(error, "cannot start indexing the pack");
		goto done;
	}
	if (!(buf = malloc(BUNDLE_CHUNK))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	while ((n = fread(buf, 1, BUNDLE_CHUNK, f)) > 0) {
		total += n;
		if ((error = git_indexer_append(idx, buf, n, &stats)) < 0) {
			r = pack_refused(path, "its pack is damaged");
			goto done;
		}
	}
	if (ferror(f)) {
		r = ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", path, strerror(errno));
		goto done;
	}
	if (total == 0) {
		r = ledger_error_set(LEDGER_EINVALID, "bundle \"%s\": no pack after the header", path);
		goto done;
	}
	if ((error = git_indexer_commit(idx, &stats)) < 0) {
		r = pack_refused(path, "its pack is damaged or incomplete");
		goto done;
	}
	*out_objects = stats.total_objects;
	r = 0;
done:
	free(buf);
	git_indexer_free(idx);
	git_odb_free(odb);
	return r;
}

static int count_record(const char *path, const char *data, size_t len, void *payload)
{
	char id[LEDGER_HEX_ID_LEN + 1];

	(void)data;
	(void)len;
	/* Not a record path: a finding refuses it, it counts as no record. */
	if (ledger_record_path_id(id, path) == 0)
		(*(size_t *)payload)++;
	ledger_error_clear();
	return 0;
}

/*
 * The findings that refuse `tip` over `main_hex`, by the hook's rule
 * (ledger_report_refusals), and the number of records it adds.  *out is
 * NULL when nothing refuses.
 */
static int findings_new(ledger_report **out, size_t *out_records, ledger_repo *qrepo,
                        const ledger_state *state, const char *main_hex, const char *tip)
{
	int r;

	*out = NULL;
	*out_records = 0;
	if ((r = ledger_repo_foreach_added(qrepo, main_hex, tip, count_record, out_records)) < 0 ||
	    (r = ledger_report_refusals(out, qrepo, ledger_state_report(state), main_hex)) < 0)
		return r;
	if (ledger_report_count(*out) == 0) {
		ledger_report_free(*out);
		*out = NULL;
	}
	return 0;
}

struct verify_progress {
	ledger_bundle_progress_cb cb;
	void *payload;
};

static void verify_progress_cb(size_t done, size_t total, void *payload)
{
	struct verify_progress *p = payload;

	p->cb(total ? "checking signatures" : "reading records", done, total, p->payload);
}

int ledger_bundle_import(ledger_bundle_import_result *out, ledger_repo *repo, const char *path,
                         const ledger_bundle_import_options *opts)
{
	ledger_bundle_import_options defaults = LEDGER_BUNDLE_IMPORT_OPTIONS_INIT;
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	struct bundle_header h = { 0 };
	struct verify_progress vprog;
	ledger_repo *qrepo = NULL;
	ledger_state *state = NULL;
	char main_hex[LEDGER_OID_HEX_LEN + 1], tip[LEDGER_OID_HEX_LEN + 1];
	char *qdir = NULL, *conflict = NULL;
	struct stat st;
	FILE *f = NULL;
	int tries, r;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &defaults;
	if (opts->version != LEDGER_BUNDLE_IMPORT_OPTIONS_VERSION)
		return ledger_error_set(LEDGER_EINVALID, "bundle options of an unknown version");
	if (!path || !*path)
		return ledger_error_set(LEDGER_EINVALID, "no bundle file given");
	if (!(f = fopen(path, "rbe"))) {
		return ledger_error_set(errno == ENOENT ? LEDGER_ENOTFOUND : LEDGER_EIO,
		                        "cannot open \"%s\": %s", path, strerror(errno));
	}
	if (fstat(fileno(f), &st) == 0)
		out->bundle.bytes = (uint64_t)st.st_size;
	if ((r = ledger_repo_head(main_hex, repo)) < 0)
		goto done;
	memcpy(out->before, main_hex, sizeof(out->before));
	memcpy(out->after, main_hex, sizeof(out->after));
	if ((r = header_read(&h, f, path)) < 0)
		goto done;
	memcpy(out->bundle.tip, h.main, sizeof(out->bundle.tip));
	if (h.nprereqs)
		memcpy(out->bundle.since, h.prereqs[0].hex, sizeof(out->bundle.since));
	if ((r = prereqs_check(repo, &h, main_hex, path)) < 0 ||
	    (r = store_space_check(repo, "import")) < 0 ||
	    (r = store_quarantine_make(&qdir, repo, QUARANTINE_IMPORT)) < 0 ||
	    (r = pack_index(&out->bundle.objects, repo, f, qdir, path, opts)) < 0 ||
	    (r = store_quarantine_open(&qrepo, repo, qdir)) < 0)
		goto done;
	if ((r = store_quarantine_bounds(qrepo, LEDGER_EINVALID)) < 0) {
		ledger_error_prefix("bundle \"%s\" refused", path);
		goto done;
	}
	fclose(f);
	f = NULL;
	r = ledger_repo_resolve(tip, qrepo, h.main);
	if (r == 0 && strcmp(tip, h.main) != 0)
		r = ledger_error_set(LEDGER_EINVALID, "it is not a commit");
	if (r < 0) {
		ledger_error_prefix("bundle \"%s\": its %s %s", path, LEDGER_MAIN_REF, h.main);
		if (r != LEDGER_ENOMEM && r != LEDGER_EIO)
			r = LEDGER_EINVALID;
		goto done;
	}
	/*
	 * The quarantine's cache is a link to the ledger's: a save there would
	 * append the union's segment to the ledger's file even when the bundle
	 * is refused.  The state is saved into the ledger once main moved.
	 */
	vopts.use_cache = 1;
	vopts.cache_readonly = 1;
	if (opts->progress) {
		vprog.cb = opts->progress;
		vprog.payload = opts->progress_payload;
		vopts.progress = verify_progress_cb;
		vopts.progress_payload = &vprog;
	}
	for (tries = 0;; tries++) {
		char target[LEDGER_OID_HEX_LEN + 1];

		free(conflict);
		conflict = NULL;

		if ((r = ledger_repo_is_ancestor(qrepo, h.main, main_hex)) < 0)
			goto done;
		if (r == 1) {
			out->up_to_date = 1;
			r = 0;
			goto done;
		}
		/* Only record files, each blob once, before anything reads one (review 7 #2). */
		if ((r = store_incoming_check(&out->refused, qrepo, main_hex, h.main)) < 0) {
			if (out->refused)
				r = report_refusal_error(out->refused, 1, "bundle \"%s\"", path);
			goto done;
		}
		if ((r = ledger_repo_is_ancestor(qrepo, main_hex, h.main)) < 0)
			goto done;
		if (r == 1) {
			memcpy(target, h.main, sizeof(target));
		} else if (!opts->merge) {
			r = ledger_error_set(LEDGER_EINVALID,
			                     "main and bundle \"%s\" have both moved on: a merge commit "
			                     "is needed, and no key was given to sign it", path);
			goto done;
		} else if ((r = ledger_repo_union(target, qrepo, main_hex, h.main, opts->merge)) < 0) {
			if (r != LEDGER_ECONFLICT)
				goto done;
			/*
			 * Two contents at one path: the bundle's own history shows
			 * which of its commits changed a file, so verify that.
			 */
			if (!(conflict = strdup(ledger_error_last()->message))) {
				r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
				goto done;
			}
			memcpy(target, h.main, sizeof(target));
		}
		vopts.tip = target;
		ledger_state_free(state);
		state = NULL;
		if ((r = ledger_state_load(&state, qrepo, &vopts)) < 0 ||
		    (r = findings_new(&out->refused, &out->new_records, qrepo, state, main_hex,
		                      target)) < 0)
			goto done;
		if (out->refused) {
			r = report_refusal_error(out->refused, 1, "bundle \"%s\"", path);
			goto done;
		}
		if (conflict) {
			r = ledger_error_set(LEDGER_EINVALID, "bundle \"%s\" refused: %s", path,
			                     conflict);
			goto done;
		}
		if ((r = store_quarantine_migrate(repo, qdir)) < 0)
			goto done;
		r = ledger_repo_update_ref(repo, LEDGER_MAIN_REF, main_hex, target);
		if (r == 0) {
			memcpy(out->after, target, sizeof(out->after));
			/* Best effort, as the verifier's own save: a missing cache only costs time. */
			if (strcmp(state->cache_tip, state->tip) != 0) {
				state->repo = repo;
				cache_save(state);
				ledger_error_clear();
			}
			break;
		}
		if (r != LEDGER_ECONFLICT || tries + 1 == BUNDLE_IMPORT_TRIES)
			goto done;
		/* An append moved main: unite with the new main; the objects are in place now. */
		ledger_repo_free(qrepo);
		qrepo = NULL;
		if ((r = ledger_repo_head(main_hex, repo)) < 0 ||
		    (r = store_quarantine_open(&qrepo, repo, qdir)) < 0)
			goto done;
	}
	r = 0;
done:
	free(conflict);
	ledger_state_free(state);
	ledger_repo_free(qrepo);
	store_quarantine_remove(qdir);
	free(qdir);
	if (f)
		fclose(f);
	header_clear(&h);
	if (r < 0)
		memcpy(out->after, out->before, sizeof(out->after));
	return r;
}

void ledger_bundle_import_result_clear(ledger_bundle_import_result *result)
{
	if (!result)
		return;
	ledger_report_free(result->refused);
	memset(result, 0, sizeof(*result));
}
