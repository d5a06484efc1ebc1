/*
 * What incoming work (a fetch, a bundle, a push, an inbox) may add, checked
 * by walking its tree against main's before anything verifies it
 * (store_incoming.h).  A ledger's tree holds records/xx/yy/<id>.json files
 * and LEDGER: each level is checked as it is entered, so the walk stops at
 * the first entry of another shape and never goes deeper than a record.
 * Then, once verified, its commits: each but a merge names in its trailers
 * exactly the records it adds (store_incoming_commits).
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "ledger/record.h"
#include "ledger/store.h"
#include "ledger/verify.h"
#include "hex.h"
#include "idmap.h"
#include "state_internal.h"
#include "store_incoming.h"
#include "store_internal.h"
#include "store_order.h"

/* records/xx/yy/<file>: the components of a record file's path. */
#define INCOMING_RECORD_DEPTH 4

struct incoming_walk {
	ledger_repo *repo;
	idmap blobs;           /* blob id, zero-padded -> index in ids */
	uint8_t (*ids)[32];    /* the record id of the path that named each blob first */
	size_t count, capacity;
	ledger_report **refused;
	char path[LEDGER_RECORD_PATH_LEN + 1];
};

#define WHY_ONLY_RECORDS "what comes in may add records/<id[0:2]>/<id[2:4]>/<id>.json only"

/*
 * Refuse entry `e` of the directory at w->path (`len` bytes): named as
 * itself when it is no directory, else by the first file below it (at most
 * STORE_TREE_DEPTH_MAX levels down), as the verifier's findings name it.
 */
static int refuse(struct incoming_walk *w, size_t len, const git_tree_entry *e,
                  const char *code, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int refuse(struct incoming_walk *w, size_t len, const git_tree_entry *e,
                  const char *code, const char *rule, const char *fmt, ...)
{
	char path[512], why[256];
	git_tree *t = NULL, *sub = NULL;
	size_t n;
	va_list ap;
	int r;

	n = (size_t)snprintf(path, sizeof(path), "%.*s%s%.100s", (int)len, w->path,
	                     len ? "/" : "", git_tree_entry_name(e));
	for (unsigned int depth = store_path_depth(path);
	     git_tree_entry_type(e) == GIT_OBJECT_TREE && depth < STORE_TREE_DEPTH_MAX; depth++) {
		if (git_tree_lookup(&sub, w->repo->git, git_tree_entry_id(e)) < 0 ||
		    git_tree_entrycount(sub) == 0) {
			git_tree_free(sub);
			break;
		}
		git_tree_free(t);
		t = sub;
		e = git_tree_entry_byindex(t, 0);
		n += (size_t)snprintf(path + n, sizeof(path) - n, "/%.40s", git_tree_entry_name(e));
		if (n >= sizeof(path) - 48)
			break;
	}
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* Still a directory that deep: what the verifier reports (TOO_DEEP), not walked. */
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE &&
	    store_path_depth(path) >= STORE_TREE_DEPTH_MAX) {
		const char *what;

		store_change_describe(LEDGER_CHANGE_TOO_DEEP, &code, &what);
		rule = "FORMAT-4";
		snprintf(why, sizeof(why), "%s", what);
	}
	git_tree_free(t);
	git_error_clear();
	if ((r = report_new(w->refused)) < 0 ||
	    (r = report_add(*w->refused, LEDGER_SEVERITY_ERROR, code, rule, NULL, path, NULL, "%s",
	                    why)) < 0)
		return r;
	return ledger_error_set(LEDGER_EINVALID, "file \"%s\": %s %s: %s", path, rule, code, why);
}

static int bad_mode(struct incoming_walk *w, size_t len, const git_tree_entry *e)
{
	return refuse(w, len, e, "bad-mode", "FORMAT-4", "not a regular, non-executable file "
	              "(mode %06o): " WHY_ONLY_RECORDS, (unsigned int)git_tree_entry_filemode(e));
}

static int wrong_path(struct incoming_walk *w, size_t len, const git_tree_entry *e)
{
	return refuse(w, len, e, "wrong-path", "FORMAT-2", "not a record file: " WHY_ONLY_RECORDS);
}

static int is_hex2(const char *s)
{
	return strlen(s) == 2 && hex_lower_run(s, 2);
}

/* A record file at w->path: its blob may be named by no other path that comes in. */
static int blob_once(struct incoming_walk *w, const git_tree_entry *e, size_t len,
                     const char *name)
{
	char id[LEDGER_HEX_ID_LEN + 1], first[LEDGER_RECORD_PATH_LEN + 1];
	uint8_t key[32] = { 0 };
	size_t at;
	int r;

	memcpy(key, git_tree_entry_id(e)->id, GIT_OID_RAWSZ);
	if (idmap_get(&w->blobs, key, &at)) {
		ledger_hex(id, w->ids[at], 32);
		ledger_record_path(first, id);
		return refuse(w, len, e, "wrong-path", "FORMAT-2",
		              "the same bytes as \"%s\" (one record, one path)", first);
	}
	if (w->count == w->capacity) {
		size_t capacity = w->capacity ? w->capacity * 2 : 256;
		void *ids = realloc(w->ids, capacity * sizeof(*w->ids));

		if (!ids)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		w->ids = ids;
		w->capacity = capacity;
	}
	/* The name was checked (ledger_record_path_id): 64 lowercase hex digits and ".json". */
	memcpy(id, name, LEDGER_HEX_ID_LEN);
	id[LEDGER_HEX_ID_LEN] = '\0';
	ledger_unhex(w->ids[w->count], 32, id);
	if ((r = idmap_put(&w->blobs, key, w->count)) < 0)
		return r;
	w->count++;
	return 0;
}

/*
 * The entries of `to` (at w->path, `len` bytes, `depth` components) that
 * `from` (or NULL) does not hold as they are: records (depth 0), two hex
 * digits (1, 2), then record files (3).
 */
static int walk(struct incoming_walk *w, const git_tree *from, const git_tree *to, size_t len,
                unsigned int depth)
{
	size_t i, count = git_tree_entrycount(to);
	int r = 0;

	for (i = 0; i < count && r == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(to, i);
		const char *name = git_tree_entry_name(e);
		const git_tree_entry *f = from ? git_tree_entry_byname(from, name) : NULL;
		git_filemode_t mode = git_tree_entry_filemode(e);
		int is_tree = git_tree_entry_type(e) == GIT_OBJECT_TREE;
		git_tree *sub_to = NULL, *sub_from = NULL;
		size_t sub_len;
		int error = 0;

		if (f && git_oid_equal(git_tree_entry_id(e), git_tree_entry_id(f)) &&
		    mode == git_tree_entry_filemode(f))
			continue;
		if (depth == 0 && strcmp(name, "records") != 0) {
			/* LEDGER is the genesis commit's (FORMAT.md section 4): main has its own. */
			if (strcmp(name, "LEDGER") != 0 || f || is_tree)
				r = refuse(w, len, e, "foreign-file", "FORMAT-4", "a file outside "
				           "records/: " WHY_ONLY_RECORDS);
			else if (mode != GIT_FILEMODE_BLOB)
				r = bad_mode(w, len, e);
			continue;
		}
		if (!is_tree && mode != GIT_FILEMODE_BLOB) {
			r = bad_mode(w, len, e);
			continue;
		}
		if (depth + 1 == INCOMING_RECORD_DEPTH) {
			char id[LEDGER_HEX_ID_LEN + 1], path[LEDGER_RECORD_PATH_LEN + 1];
			size_t n = strlen(name);

			if (is_tree || len + 1 + n != LEDGER_RECORD_PATH_LEN) {
				r = wrong_path(w, len, e);
				continue;
			}
			memcpy(path, w->path, len);
			path[len] = '/';
			memcpy(path + len + 1, name, n + 1);
			if (ledger_record_path_id(id, path) < 0) {
				ledger_error_clear();
				r = wrong_path(w, len, e);
			} else {
				r = blob_once(w, e, len, name);
			}
			continue;
		}
		if (!is_tree || mode != GIT_FILEMODE_TREE || (depth > 0 && !is_hex2(name))) {
			r = is_tree && mode != GIT_FILEMODE_TREE ? bad_mode(w, len, e) :
			    wrong_path(w, len, e);
			continue;
		}
		/* "records", or two hex digits: the path stays within records/xx/yy. */
		sub_len = len + (len != 0) + strlen(name);
		if (len)
			w->path[len] = '/';
		memcpy(w->path + sub_len - strlen(name), name, strlen(name) + 1);
		error = git_tree_lookup(&sub_to, w->repo->git, git_tree_entry_id(e));
		if (error == 0 && f && git_tree_entry_filemode(f) == GIT_FILEMODE_TREE)
			error = git_tree_lookup(&sub_from, w->repo->git, git_tree_entry_id(f));
		if (error < 0)
			r = store_error_git(error, "\"%s\": cannot read tree", w->path);
		else
			r = walk(w, sub_from, sub_to, sub_len, depth + 1);
		git_tree_free(sub_from);
		git_tree_free(sub_to);
		w->path[len] = '\0';
	}
	return r;
}

/*
 * The first finding of the history check refuses: the rest of it need not
 * be walked.  The finding is the verifier's (verify.c), so that the
 * refusal reads the same whichever found it.
 */
static int first_change(const char *commit, ledger_change_kind kind, const char *path,
                        void *payload)
{
	ledger_report **refused = payload;
	char id[LEDGER_HEX_ID_LEN + 1] = "";
	const char *code, *what;
	int r;

	store_change_describe(kind, &code, &what);
	if (path && ledger_record_path_id(id, path) < 0)
		id[0] = '\0';
	ledger_error_clear();
	if ((r = report_new(refused)) < 0 ||
	    (r = report_add(*refused, LEDGER_SEVERITY_ERROR, code, "FORMAT-4", id, path, commit,
	                    "%s", what)) < 0)
		return r;
	if (*id)
		return ledger_error_set(LEDGER_EINVALID, "record %s: FORMAT-4 %s: %s", id, code,
		                        what);
	return ledger_error_set(LEDGER_EINVALID, "commit %s: FORMAT-4 %s: %s", commit, code, what);
}

/* The record ids a commit names in its trailers, or adds: hex, sorted. */
struct id_list {
	char (*ids)[LEDGER_HEX_ID_LEN + 1];
	size_t count, capacity;
};

static int id_list_add(struct id_list *l, const char *id)
{
	if (l->count == l->capacity) {
		size_t capacity = l->capacity ? l->capacity * 2 : 16;
		void *ids = realloc(l->ids, capacity * sizeof(*l->ids));

		if (!ids)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		l->ids = ids;
		l->capacity = capacity;
	}
	memcpy(l->ids[l->count], id, LEDGER_HEX_ID_LEN);
	l->ids[l->count++][LEDGER_HEX_ID_LEN] = '\0';
	return 0;
}

static int id_compare(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * The records a commit adds, listed until there are more than `named` (its
 * trailers' count): past that, no list can match, and a hostile commit may
 * add thousands, each a sort's worth more.
 */
struct added_records {
	struct id_list *ids;
	size_t named;
};

#define ADDS_MORE 1 /* added_record's stop: more records than trailers */

static int added_record(const char *path, const char *data, size_t len, void *payload)
{
	struct added_records *added = payload;
	char id[LEDGER_HEX_ID_LEN + 1];
	int r;

	(void)data;
	(void)len;
	/* Not a record's path: store_incoming_check refused it (no commit may delete it). */
	if (ledger_record_path_id(id, path) < 0) {
		ledger_error_clear();
		return 0;
	}
	if ((r = id_list_add(added->ids, id)) < 0)
		return r;
	return added->ids->count > added->named ? ADDS_MORE : 0;
}

#define WHY_TRAILERS "(one \"Record: <id>\" trailer per record a commit adds, FORMAT.md section 4)"

/* The end of the line at `line`: its '\n' or the message's end. */
static const char *line_end(const char *line)
{
	const char *end = strchr(line, '\n');

	return end ? end : line + strlen(line);
}

/* The line after the one at `line`, or NULL after the last. */
static const char *next_line(const char *line)
{
	const char *end = line_end(line);

	return *end ? end + 1 : NULL;
}

/* A line of nothing but whitespace separates paragraphs, as for git. */
static int blank_line(const char *line, const char *end)
{
	for (; line < end; line++)
		if (!isspace((unsigned char)*line))
			return 0;
	return 1;
}

/*
 * Where a message's trailers begin: its last paragraph, but the first
 * (the subject, however many lines), or NULL when it has one paragraph.
 */
static const char *trailer_block(const char *message)
{
	const char *line = message, *block = NULL;
	int subject = 0, after_blank = 0;

	for (; line && *line; line = next_line(line)) {
		if (blank_line(line, line_end(line))) {
			after_blank = subject;
			continue;
		}
		if (after_blank)
			block = line;
		subject = 1;
		after_blank = 0;
	}
	return block;
}

/*
 * The ids of the "Record:" lines of the message's trailers in *trailers,
 * sorted: 1, or 0 and *why when one names no record id.  A line ending in
 * "\r\n" is read without its '\r'.
 */
static int message_trailers(struct id_list *trailers, const char **why, const char *message)
{
	static const char tag[] = "Record:";
	const char *line = trailer_block(message);
	int r;

	for (; line && *line; line = next_line(line)) {
		const char *end = line_end(line), *id;

		if (end > line && end[-1] == '\r')
			end--;
		if (strncmp(line, tag, sizeof(tag) - 1) != 0)
			continue;
		id = line + sizeof(tag) - 1;
		id += strspn(id, " ");
		if (end - id != LEDGER_HEX_ID_LEN || !hex_lower_run(id, LEDGER_HEX_ID_LEN)) {
			*why = "a \"Record:\" trailer names no record id";
			return 0;
		}
		if ((r = id_list_add(trailers, id)) < 0)
			return r;
	}
	if (trailers->count > 1)
		qsort(trailers->ids, trailers->count, sizeof(*trailers->ids), id_compare);
	return 1;
}

/*
 * A commit other than a merge names each record it adds (`added`, sorted)
 * in exactly one trailer (`trailers`, sorted), and names no other: 0, or
 * a finding of the first record where they part.
 */
static int trailers_match(ledger_report *refusals, const char *commit,
                          const struct id_list *trailers, const struct id_list *added)
{
	size_t i = 0, j = 0;

	while (i < trailers->count || j < added->count) {
		int c = i == trailers->count ? 1 : j == added->count ? -1 :
		        strcmp(trailers->ids[i], added->ids[j]);

		if (c == 0 && i + 1 < trailers->count &&
		    strcmp(trailers->ids[i], trailers->ids[i + 1]) == 0)
			return report_add(refusals, LEDGER_SEVERITY_ERROR, "commit-record-trailers",
			                  "FORMAT-4", NULL, NULL, commit, "two \"Record:\" trailers "
			                  "name record %s " WHY_TRAILERS, trailers->ids[i]);
		if (c < 0)
			return report_add(refusals, LEDGER_SEVERITY_ERROR, "commit-record-trailers",
			                  "FORMAT-4", NULL, NULL, commit, "a \"Record:\" trailer names "
			                  "record %s, which the commit does not add " WHY_TRAILERS,
			                  trailers->ids[i]);
		if (c > 0)
			return report_add(refusals, LEDGER_SEVERITY_ERROR, "commit-record-trailers",
			                  "FORMAT-4", NULL, NULL, commit, "the commit adds record %s "
			                  "and names it in no \"Record:\" trailer " WHY_TRAILERS,
			                  added->ids[j]);
		i++;
		j++;
	}
	return 0;
}

/* The trailers of commit `c` (`hex`), unless a merge, against the records it adds. */
static int check_trailers(ledger_report *refusals, ledger_repo *repo, git_commit *c,
                          const char *hex, struct id_list *trailers, struct id_list *added)
{
	char parent[GIT_OID_HEXSZ + 1];
	const char *why = NULL, *message = git_commit_message(c);
	struct added_records listed = { added, 0 };
	int r;

	/* A merge adds nothing its parents do not hold (merge-not-union): no trailers. */
	if (git_commit_parentcount(c) > 1)
		return 0;
	trailers->count = added->count = 0;
	if ((r = message_trailers(trailers, &why, message ? message : "")) < 0)
		return r;
	if (r == 0)
		return report_add(refusals, LEDGER_SEVERITY_ERROR, "commit-record-trailers",
		                  "FORMAT-4", NULL, NULL, hex, "%s " WHY_TRAILERS, why);
	listed.named = trailers->count;
	if (git_commit_parentcount(c) == 1)
		git_oid_tostr(parent, sizeof(parent), git_commit_parent_id(c, 0));
	if ((r = store_foreach_added_path(repo, git_commit_parentcount(c) ? parent : NULL, hex,
	                                  added_record, &listed)) < 0)
		return r;
	/*
	 * More records than trailers: the count says it.  With no trailer,
	 * trailers_match names the one record listed, as the first unnamed.
	 */
	if (r == ADDS_MORE && trailers->count)
		return report_add(refusals, LEDGER_SEVERITY_ERROR, "commit-record-trailers",
		                  "FORMAT-4", NULL, NULL, hex, "the commit adds %zu or more records "
		                  "and names %zu in \"Record:\" trailers " WHY_TRAILERS,
		                  added->count, trailers->count);
	if (added->count > 1)
		qsort(added->ids, added->count, sizeof(*added->ids), id_compare);
	return trailers_match(refusals, hex, trailers, added);
}

int store_incoming_commits(ledger_report *refusals, idmap *commits, ledger_repo *repo,
                           const char *base, const char *tip)
{
	struct id_list trailers = { 0 }, added = { 0 };
	git_commit *c = NULL;
	git_revwalk *walk = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid id;
	int g, r;

	if ((r = store_walk_new(&walk, repo, base, tip, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE)) < 0)
		goto done;
	while ((g = git_revwalk_next(&id, walk)) == 0) {
		uint8_t key[32] = { 0 };

		git_oid_tostr(hex, sizeof(hex), &id);
		memcpy(key, id.id, GIT_OID_RAWSZ);
		if ((r = idmap_put(commits, key, 0)) < 0)
			goto done;
		git_commit_free(c);
		if ((g = git_commit_lookup(&c, repo->git, &id)) < 0) {
			c = NULL;
			r = store_error_git(g, "cannot read commit %s", hex);
			goto done;
		}
		if ((r = check_trailers(refusals, repo, c, hex, &trailers, &added)) < 0)
			goto done;
	}
	r = g == GIT_ITEROVER ? 0 : store_error_git(g, "cannot walk the history of \"%s\"", tip);
done:
	git_commit_free(c);
	git_revwalk_free(walk);
	free(trailers.ids);
	free(added.ids);
	return r;
}

int store_incoming_check(ledger_report **refused, ledger_repo *repo, const char *base,
                         const char *tip)
{
	struct incoming_walk *w = NULL;
	git_tree *from = NULL, *to = NULL;
	int r;

	*refused = NULL;
	if ((r = store_commit_tree(&to, repo, tip)) < 0 ||
	    (base && (r = store_commit_tree(&from, repo, base)) < 0))
		goto done;
	if (!(w = calloc(1, sizeof(*w)))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	w->repo = repo;
	w->refused = refused;
	idmap_init(&w->blobs);
	r = walk(w, from, to, 0, 0);
	idmap_release(&w->blobs);
	free(w->ids);
	/*
	 * What commits before the tip add and a later one deletes is not in
	 * its tree: the verifier would report each such file of each commit.
	 */
	if (r == 0)
		r = ledger_repo_check_history(repo, base, tip, first_change, refused);
done:
	if (r < 0 && r != LEDGER_EINVALID) {
		ledger_report_free(*refused);
		*refused = NULL;
	}
	free(w);
	git_tree_free(from);
	git_tree_free(to);
	return r;
}
