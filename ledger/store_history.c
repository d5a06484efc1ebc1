/*
 * History checks (FORMAT.md section 4): every commit only adds files under
 * records/ (the root commit may add LEDGER too), and a merge commit's tree is
 * the union of its parents'.  Trees are compared by id, so identical
 * subtrees are skipped and a check costs in proportion to what changed.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "store_internal.h"
#include "store_order.h"

#define HISTORY_PATH_MAX 4096
#define HISTORY_MERGE_MAX 64
/*
 * A changed tree of at most this many entries is first tried as its
 * parent's version plus one file (one_added), in at most this many bytes.
 */
#define HISTORY_ONE_ADDED_MAX 16
#define HISTORY_ONE_ADDED_BYTES 4096
/*
 * A single commit that changes records/, when it holds at least this many
 * entries, is checked on two threads ("A single commit on two threads").
 */
#define HISTORY_SPLIT_MIN 64

/*
 * Trees read while checking one commit, by id.  The walk goes oldest first,
 * so a commit's parent is most often the commit checked just before: the
 * trees it read as its own are those this one reads as its parent's.  Big
 * trees (records/ and its 256 subtrees) are past libgit2's object cache
 * limit, so without this each is read, inflated and parsed twice.
 */
typedef struct {
	idmap ids; /* tree id, zero-padded -> index in trees */
	git_tree **trees;
	unsigned char *sorted; /* of each tree: names_order's answer, once asked */
	size_t count, capacity;
} tree_set;

/*
 * names_order's answers (tree_set's `sorted`: SORTED_UNKNOWN until asked):
 * names not strictly increasing; strictly increasing; and also no
 * directory's name begins the next name, so that a walk of the tree gives
 * its paths in byte order (a directory "a" and a file "a-b": "a-b" sorts
 * before "a/x").
 */
enum { SORTED_UNKNOWN, SORTED_NO, SORTED_NAMES, SORTED_PATHS };

/*
 * Trees of a commit that one_added found to be their parent's version plus
 * one entry, by the commit's tree id: what the caller's listing of the added
 * files needs to know of them without reading the parent's version.
 */
typedef struct {
	idmap ids; /* the commit's tree id, zero-padded -> index in notes */
	struct one_added_note {
		git_oid to;   /* the commit's version */
		git_oid from; /* the parent's version */
		size_t added; /* the entry it lacks */
	} *notes;
	size_t count, capacity;
} added_set;

struct history_split;

struct history {
	ledger_repo *repo;
	ledger_change_cb cb;
	void *payload;
	store_order *order; /* or NULL */
	unsigned long gen;  /* of the object database it reads */
	int stopped;        /* why a tree_lookup returned GIT_EUSER: 1 (reading stopped) or an error */
	tree_set current, previous; /* read for this commit, for the one before */
	int keep_all;               /* every tree read stays in current, for the caller */
	added_set added;            /* when keep_all: one_added's findings, for the caller */
	struct history_split *split; /* the commit's records/ is half checked by a helper */
	git_repository *helper_git;  /* the helper's, which read some trees of `current` */
	char commit[LEDGER_OID_HEX_LEN + 1];
	char path[HISTORY_PATH_MAX];
};

static void tree_set_release(tree_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		git_tree_free(set->trees[i]);
	free(set->trees);
	free(set->sorted);
	idmap_release(&set->ids);
	memset(set, 0, sizeof(*set));
}

static int tree_set_find(git_tree **out, const tree_set *set, const uint8_t key[32])
{
	size_t i;

	if (!idmap_get(&set->ids, key, &i))
		return 0;
	return git_object_dup((git_object **)out, (git_object *)set->trees[i]) == 0;
}

/* Keep a reference to `t` in the set; best effort, as the set only saves time. */
static void tree_set_keep(tree_set *set, const uint8_t key[32], git_tree *t)
{
	git_tree *ref = NULL;

	if (set->count == set->capacity) {
		size_t capacity = set->capacity ? set->capacity * 2 : 512;
		git_tree **bigger = realloc(set->trees, capacity * sizeof(*bigger));
		unsigned char *sorted;

		if (!bigger)
			return;
		set->trees = bigger;
		if (!(sorted = realloc(set->sorted, capacity)))
			return;
		set->sorted = sorted;
		set->capacity = capacity;
	}
	if (git_object_dup((git_object **)&ref, (git_object *)t) < 0)
		return;
	if (idmap_put(&set->ids, key, set->count) < 0) {
		git_tree_free(ref);
		return;
	}
	set->sorted[set->count] = SORTED_UNKNOWN;
	set->trees[set->count++] = ref;
}

static void added_set_release(added_set *set)
{
	free(set->notes);
	idmap_release(&set->ids);
	memset(set, 0, sizeof(*set));
}

/* Note that tree `to` is tree `from` plus its entry `added`; best effort, as the set only saves time. */
static void added_set_note(added_set *set, const git_oid *to, const git_oid *from, size_t added)
{
	uint8_t key[32] = { 0 };
	size_t i;

	memcpy(key, to->id, GIT_OID_RAWSZ);
	if (idmap_get(&set->ids, key, &i))
		return; /* the first note of a tree id stands: store_trees_one_added checks `from` */
	if (set->count == set->capacity) {
		size_t capacity = set->capacity ? set->capacity * 2 : 512;
		struct one_added_note *bigger = realloc(set->notes, capacity * sizeof(*bigger));

		if (!bigger)
			return;
		set->notes = bigger;
		set->capacity = capacity;
	}
	if (idmap_put(&set->ids, key, set->count) < 0)
		return;
	git_oid_cpy(&set->notes[set->count].to, to);
	git_oid_cpy(&set->notes[set->count].from, from);
	set->notes[set->count++].added = added;
}

struct store_trees {
	tree_set set;
	added_set added;
	git_repository *helper_git; /* read some of the trees: freed after them */
};

int store_trees_find(git_tree **out, const store_trees *trees, const git_oid *id)
{
	uint8_t key[32] = { 0 };

	*out = NULL;
	if (!trees)
		return 0;
	memcpy(key, id->id, GIT_OID_RAWSZ);
	return tree_set_find(out, &trees->set, key);
}

int store_trees_one_added(size_t *added, const store_trees *trees, const git_oid *to,
                          const git_oid *from)
{
	uint8_t key[32] = { 0 };
	size_t i;

	*added = SIZE_MAX;
	if (!trees)
		return 0;
	memcpy(key, to->id, GIT_OID_RAWSZ);
	if (!idmap_get(&trees->added.ids, key, &i) || !git_oid_equal(&trees->added.notes[i].from, from))
		return 0;
	*added = trees->added.notes[i].added;
	return 1;
}

size_t store_trees_count(const store_trees *trees)
{
	return trees ? trees->set.count : 0;
}

void store_trees_free(store_trees *trees)
{
	if (!trees)
		return;
	tree_set_release(&trees->set);
	added_set_release(&trees->added);
	git_repository_free(trees->helper_git);
	free(trees);
}

/*
 * The reader asked for fresh object databases (store_order): let go of
 * this one and, once the reader has opened its fresh one, open a fresh one
 * of its own.  1 when reading has stopped.
 */
static int history_reopen(struct history *h)
{
	store_order *order = h->order;
	unsigned long gen;
	int r, cancelled;

	if ((r = store_odb_drop(h->repo)) < 0)
		return r;
	pthread_mutex_lock(&order->lock);
	/*
	 * The reader may ask again before this thread wakes: then let go of
	 * that generation too (this thread holds no database now) and wait
	 * for it, rather than open one the reader is about to drop.
	 */
	do {
		gen = order->gen;
		order->released = gen;
		pthread_cond_broadcast(&order->changed);
		while (order->opened < gen && !order->cancelled)
			pthread_cond_wait(&order->changed, &order->lock);
	} while (!order->cancelled && order->gen != gen);
	cancelled = order->cancelled;
	pthread_mutex_unlock(&order->lock);
	h->gen = gen;
	return cancelled ? 1 : store_odb_open(h->repo);
}

static int history_fresh(struct history *h)
{
	if (!h->order || __atomic_load_n(&h->order->gen, __ATOMIC_ACQUIRE) == h->gen)
		return 0;
	return history_reopen(h);
}

/* git_tree_lookup through the trees of this commit and the one before. */
static int tree_lookup(git_tree **out, struct history *h, const git_oid *id)
{
	uint8_t key[32] = { 0 };
	int error;

	*out = NULL; /* also when it stops: callers free what they were given */
	memcpy(key, id->id, GIT_OID_RAWSZ);
	if (tree_set_find(out, &h->current, key) || tree_set_find(out, &h->previous, key))
		return 0;
	if ((h->stopped = history_fresh(h)) != 0)
		return GIT_EUSER;
	if ((error = git_tree_lookup(out, h->repo->git, id)) < 0)
		return error;
	tree_set_keep(&h->current, key, *out);
	return 0;
}

/* The check's notes may not be the tip's files (store_internal.h): the reader lists them. */
static void order_unprove(store_order *order)
{
	pthread_mutex_lock(&order->lock);
	order->unproven = 1;
	pthread_cond_broadcast(&order->changed);
	pthread_mutex_unlock(&order->lock);
}

static int report(struct history *h, ledger_change_kind kind)
{
	if (h->order && h->order->with_paths)
		order_unprove(h->order);
	return h->cb(h->commit, kind, h->path, h->payload);
}

/*
 * Append "/name" (or "name" at the top) to h->path at `len`; the new length,
 * or 0 when the path would be too long (h->path is left as it was, for the
 * caller to report the directory as TOO_DEEP: no ledger path is that long).
 */
static size_t path_push(struct history *h, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len + 1 + n + 1 > sizeof(h->path))
		return 0;
	if (len)
		h->path[len++] = '/';
	memcpy(h->path + len, name, n + 1);
	return len + n;
}

static int same_entry(const git_tree_entry *a, const git_tree_entry *b)
{
	return git_tree_entry_filemode(a) == git_tree_entry_filemode(b) &&
	       git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b));
}

static int is_tree(const git_tree_entry *e)
{
	return e && git_tree_entry_type(e) == GIT_OBJECT_TREE;
}

static void note_tree_order(struct history *h, const git_tree *t);

/* The directory at h->path is deeper than any ledger's: report it, never walk it. */
static int too_deep(const struct history *h)
{
	return store_path_depth(h->path) >= STORE_TREE_DEPTH_MAX;
}

static int tree_of_entry(git_tree **out, struct history *h, const git_tree_entry *e)
{
	int error = tree_lookup(out, h, git_tree_entry_id(e));

	if (error == GIT_EUSER)
		return h->stopped;
	if (error < 0)
		return store_error_git(error, "commit %s: cannot read tree \"%s\"", h->commit, h->path);
	return 0;
}

/*
 * Report `kind` (and MERGE_NOT_UNION too when `also_union`) for the entry at
 * h->path, and for every file below it when it is a tree.
 */
static int report_all(struct history *h, const git_tree_entry *e, size_t len,
                      ledger_change_kind kind, int also_union)
{
	git_tree *t = NULL;
	size_t i, count;
	int r;

	if (!is_tree(e) || too_deep(h)) {
		if ((r = report(h, kind)) != 0)
			return r;
		return also_union && kind != LEDGER_CHANGE_MERGE_NOT_UNION ?
		       report(h, LEDGER_CHANGE_MERGE_NOT_UNION) : 0;
	}
	if ((r = tree_of_entry(&t, h, e)) != 0)
		return r;
	count = git_tree_entrycount(t);
	for (i = 0; i < count && r == 0; i++) {
		const git_tree_entry *sub = git_tree_entry_byindex(t, i);
		size_t sub_len = path_push(h, len, git_tree_entry_name(sub));

		r = sub_len ? report_all(h, sub, sub_len, kind, also_union) :
		    report(h, LEDGER_CHANGE_TOO_DEEP);
		h->path[len] = '\0';
	}
	git_tree_free(t);
	return r;
}

/* Blocks of noted paths: a path is at most HISTORY_PATH_MAX bytes with its NUL. */
#define PATH_BLOCK_SIZE (64 * 1024)

struct store_path_block {
	struct store_path_block *next;
	size_t used;
	char bytes[PATH_BLOCK_SIZE];
};

int store_order_init(store_order *order)
{
	memset(order, 0, sizeof(*order));
	if (pthread_mutex_init(&order->lock, NULL) != 0)
		return ledger_error_set(LEDGER_ENOMEM, "cannot create a mutex");
	if (pthread_cond_init(&order->changed, NULL) != 0) {
		pthread_mutex_destroy(&order->lock);
		return ledger_error_set(LEDGER_ENOMEM, "cannot create a condition variable");
	}
	return 0;
}

void store_order_release(store_order *order)
{
	while (order->blocks) {
		struct store_path_block *next = order->blocks->next;

		free(order->blocks);
		order->blocks = next;
	}
	free(order->paths);
	free(order->ids);
	pthread_cond_destroy(&order->changed);
	pthread_mutex_destroy(&order->lock);
}

/* Wake the reader: after every STORE_ORDER_BATCH ids, each commit and the end. */
void store_order_publish(store_order *order, int done)
{
	pthread_mutex_lock(&order->lock);
	order->published = order->count;
	order->done |= done;
	pthread_cond_broadcast(&order->changed);
	pthread_mutex_unlock(&order->lock);
}

/* The reader has stopped: the check stops at its next file or commit. */
static int order_cancelled(store_order *order)
{
	int cancelled;

	pthread_mutex_lock(&order->lock);
	cancelled = order->cancelled;
	pthread_mutex_unlock(&order->lock);
	return cancelled;
}

/* A copy of `path` in order->blocks, or NULL when out of memory; under the lock. */
static const char *path_keep(store_order *order, const char *path)
{
	struct store_path_block *b = order->blocks;
	size_t n = strlen(path) + 1;
	char *copy;

	if (!b || PATH_BLOCK_SIZE - b->used < n) {
		if (!(b = malloc(sizeof(*b))))
			return NULL;
		b->next = order->blocks;
		b->used = 0;
		order->blocks = b;
	}
	copy = memcpy(b->bytes + b->used, path, n);
	b->used += n;
	return copy;
}

/* Grow order->ids (and paths) for one more; under the lock. */
static int order_grow(store_order *order)
{
	size_t cap = order->cap ? 2 * order->cap : 4096;
	git_oid *ids = realloc(order->ids, cap * sizeof(*ids));
	const char **paths;

	if (!ids)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	order->ids = ids;
	if (order->with_paths) {
		if (!(paths = realloc(order->paths, cap * sizeof(*paths))))
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		order->paths = paths;
	}
	order->cap = cap;
	return 0;
}

static int note_added(store_order *order, const git_oid *id, const char *path)
{
	int r = 0;

	pthread_mutex_lock(&order->lock);
	if (order->cancelled)
		r = 1;
	else if (order->count == order->cap)
		r = order_grow(order);
	if (r == 0 && order->with_paths &&
	    !(order->paths[order->count] = path_keep(order, path)))
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (r == 0) {
		git_oid_cpy(&order->ids[order->count++], id);
		if (order->count - order->published >= STORE_ORDER_BATCH) {
			order->published = order->count;
			pthread_cond_broadcast(&order->changed);
		}
	}
	pthread_mutex_unlock(&order->lock);
	return r;
}

/* A file added by a non-merge commit: under records/, a regular non-executable file. */
static int check_added(struct history *h, const git_tree_entry *e, size_t len, int genesis)
{
	git_tree *t = NULL;
	size_t i, count;
	int r = 0;

	if (!is_tree(e)) {
		int top_ledger = genesis && strcmp(h->path, "LEDGER") == 0;

		if (strncmp(h->path, "records/", 8) != 0 && !top_ledger)
			return report(h, LEDGER_CHANGE_FOREIGN);
		if (git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
		    git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB)
			return report(h, LEDGER_CHANGE_BAD_MODE);
		return h->order ? note_added(h->order, git_tree_entry_id(e), h->path) : 0;
	}
	if (git_tree_entry_filemode(e) != GIT_FILEMODE_TREE)
		return report(h, LEDGER_CHANGE_BAD_MODE);
	if (too_deep(h))
		return report(h, LEDGER_CHANGE_TOO_DEEP);
	if ((r = tree_of_entry(&t, h, e)) != 0)
		return r;
	note_tree_order(h, t);
	count = git_tree_entrycount(t);
	for (i = 0; i < count && r == 0; i++) {
		const git_tree_entry *sub = git_tree_entry_byindex(t, i);
		size_t sub_len = path_push(h, len, git_tree_entry_name(sub));

		r = sub_len ? check_added(h, sub, sub_len, genesis) : report(h, LEDGER_CHANGE_TOO_DEEP);
		h->path[len] = '\0';
	}
	git_tree_free(t);
	return r;
}

/* "<mode in octal> " as printf's "%o " writes it: its length (a mode is 16 bits: at most 7). */
static size_t put_mode(char *out, unsigned int mode)
{
	char digits[12];
	size_t n = 0, i;

	do {
		digits[n++] = (char)('0' + (mode & 7));
		mode >>= 3;
	} while (mode);
	for (i = 0; i < n; i++)
		out[i] = digits[n - 1 - i];
	out[n] = ' ';
	return n + 1;
}

/*
 * Which entry of `to` its parent's version, tree `from_id`, lacks, when that
 * is all they differ in: `to`'s other entries, written as git writes a
 * tree, hash to `from_id` (libgit2's hash, which detects collision
 * attacks); those are then `from_id`'s exact bytes, known without reading
 * it.  A commit adds about one file to each small tree it changes
 * (records/xx/yy/ holds one or two at 100,000 records), so this spares
 * reading, inflating and hashing most parents' trees.  SIZE_MAX when no
 * entry fits, or when `to` is not in strict git order: then comparing with
 * `from_id` read back might find other differences, and it is read.
 */
static size_t one_added(const git_oid *from_id, const git_tree *to)
{
	char buf[HISTORY_ONE_ADDED_BYTES];
	size_t count = git_tree_entrycount(to), skip, i, len;
	git_oid id;

	if (count == 0 || count > HISTORY_ONE_ADDED_MAX)
		return SIZE_MAX;
	for (i = 1; i < count; i++)
		if (git_tree_entry_cmp(git_tree_entry_byindex(to, i - 1),
		                       git_tree_entry_byindex(to, i)) >= 0)
			return SIZE_MAX;
	for (skip = 0; skip < count; skip++) {
		for (i = 0, len = 0; i < count; i++) {
			const git_tree_entry *e = git_tree_entry_byindex(to, i);
			const char *name = git_tree_entry_name(e);
			size_t n = strlen(name);

			if (i == skip)
				continue;
			/* "<octal mode> <name>\0<raw id>", as git and libgit2 write it */
			if (len + 8 + n + 1 + GIT_OID_RAWSZ > sizeof(buf))
				return SIZE_MAX;
			len += put_mode(buf + len, (unsigned int)git_tree_entry_filemode_raw(e));
			memcpy(buf + len, name, n + 1);
			len += n + 1;
			memcpy(buf + len, git_tree_entry_id(e)->id, GIT_OID_RAWSZ);
			len += GIT_OID_RAWSZ;
		}
		if (git_odb_hash(&id, buf, len, GIT_OBJECT_TREE) == 0 && git_oid_equal(&id, from_id))
			return skip;
	}
	return SIZE_MAX;
}

/*
 * check_change of `to` against its parent's version, which is `to` without
 * its entry `added` (one_added): nothing is gone or changed, one is added.
 */
static int check_one_added(struct history *h, const git_tree *to, size_t added, size_t len,
                           int genesis)
{
	const git_tree_entry *e = git_tree_entry_byindex(to, added);
	size_t sub_len = path_push(h, len, git_tree_entry_name(e));
	int r;

	if (!sub_len)
		return report(h, LEDGER_CHANGE_TOO_DEEP);
	r = check_added(h, e, sub_len, genesis);
	h->path[len] = '\0';
	return r;
}

/* A file or directory of the parent at h->path is gone from the commit's tree. */
static int check_gone(struct history *h, const git_tree_entry *f, size_t len)
{
	size_t sub_len = path_push(h, len, git_tree_entry_name(f));
	int r;

	r = sub_len ? report_all(h, f, sub_len, LEDGER_CHANGE_DELETED, 0) :
	    report(h, LEDGER_CHANGE_TOO_DEEP);
	h->path[len] = '\0';
	return r;
}

static int check_change(struct history *h, const git_tree *from, const git_tree *to,
                        size_t len, int genesis);

/* Entry `e` of the commit's tree at h->path against the parent's of that name, `f` (or NULL). */
static int check_entry(struct history *h, const git_tree_entry *e, const git_tree_entry *f,
                       size_t len, int genesis)
{
	size_t sub_len;
	int r;

	if (f && same_entry(e, f))
		return 0;
	if (!(sub_len = path_push(h, len, git_tree_entry_name(e))))
		return report(h, LEDGER_CHANGE_TOO_DEEP);
	if (!f) {
		r = check_added(h, e, sub_len, genesis);
	} else if (is_tree(e) && is_tree(f) &&
	           git_tree_entry_filemode(e) == GIT_FILEMODE_TREE && too_deep(h)) {
		r = report(h, LEDGER_CHANGE_TOO_DEEP);
	} else if (is_tree(e) && is_tree(f) && git_tree_entry_filemode(e) == GIT_FILEMODE_TREE) {
		git_tree *te = NULL, *tf = NULL;
		size_t added;

		if ((r = tree_of_entry(&te, h, e)) == 0)
			note_tree_order(h, te);
		if (r == 0 && (added = one_added(git_tree_entry_id(f), te)) != SIZE_MAX) {
			if (h->keep_all)
				added_set_note(&h->added, git_tree_entry_id(e), git_tree_entry_id(f),
				               added);
			r = check_one_added(h, te, added, sub_len, genesis);
		} else if (r == 0 && (r = tree_of_entry(&tf, h, f)) == 0)
			r = check_change(h, tf, te, sub_len, genesis);
		git_tree_free(te);
		git_tree_free(tf);
	} else if (is_tree(e) != is_tree(f)) {
		/* A file replaced by a directory or the reverse: the old one is gone. */
		r = report_all(h, f, sub_len, LEDGER_CHANGE_DELETED, 0);
		if (r == 0)
			r = check_added(h, e, sub_len, genesis);
	} else {
		r = report(h, LEDGER_CHANGE_MODIFIED);
	}
	h->path[len] = '\0';
	return r;
}

/*
 * Whether the names of `t` are in strictly increasing byte order, as in
 * every tree git writes for a ledger (one level holds only directories or
 * only files): SORTED_NAMES or SORTED_PATHS, else SORTED_NO.  Then
 * git_tree_entry_byname finds exactly the entry of a name (its homing
 * search keeps it in range), and two such trees can be matched by name in
 * one merge of both lists instead of a search per entry.
 */
static int names_order(const git_tree *t)
{
	size_t i, count = git_tree_entrycount(t);
	const git_tree_entry *prev = count ? git_tree_entry_byindex(t, 0) : NULL;
	int order = SORTED_PATHS;

	for (i = 1; i < count; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const unsigned char *a = (const unsigned char *)git_tree_entry_name(prev);
		const unsigned char *b = (const unsigned char *)git_tree_entry_name(e);

		/* strcmp, which also tells whether `a` begins `b` */
		while (*a && *a == *b)
			a++, b++;
		if (*a >= *b)
			return SORTED_NO;
		if (!*a && is_tree(prev))
			order = SORTED_NAMES;
		prev = e;
	}
	return order;
}

static int names_sorted(const git_tree *t)
{
	return names_order(t) != SORTED_NO;
}

/*
 * names_order(t), asked once per tree the commit and its parent read: a
 * tree a commit changed is its child's parent's version, compared again.
 */
static int tree_order(struct history *h, const git_tree *t)
{
	tree_set *sets[] = { &h->current, &h->previous };
	uint8_t key[32] = { 0 };
	size_t i, s;

	memcpy(key, git_tree_id(t)->id, GIT_OID_RAWSZ);
	for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		if (!idmap_get(&sets[s]->ids, key, &i))
			continue;
		if (sets[s]->sorted[i] == SORTED_UNKNOWN)
			sets[s]->sorted[i] = (unsigned char)names_order(t);
		return sets[s]->sorted[i];
	}
	return names_order(t);
}

static int tree_names_sorted(struct history *h, const git_tree *t)
{
	return tree_order(h, t) != SORTED_NO;
}

/*
 * With paths noted, `t` is a tree the commit wrote: the tip's trees are
 * such trees, and the notes come in the order of a walk of them only when
 * each gives its paths in byte order (store_internal.h).
 */
static void note_tree_order(struct history *h, const git_tree *t)
{
	if (h->order && h->order->with_paths && tree_order(h, t) != SORTED_PATHS)
		order_unprove(h->order);
}

/*
 * check_entry of the entries [first, end) of `to` against those of `from`
 * of the same names, both in names_sorted order: one merge of both lists.
 */
static int check_entries_sorted(struct history *h, const git_tree *from, const git_tree *to,
                                size_t first, size_t end, size_t len, int genesis)
{
	size_t i, j, nf = git_tree_entrycount(from);
	int r = 0, cmp;

	for (i = first, j = 0; i < end && r == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(to, i);
		const git_tree_entry *f = NULL;
		const char *name = git_tree_entry_name(e);

		cmp = -1;
		while (j < nf && (cmp = strcmp(git_tree_entry_name(git_tree_entry_byindex(from, j)),
		                               name)) < 0)
			j++;
		if (cmp == 0)
			f = git_tree_entry_byindex(from, j);
		r = check_entry(h, e, f, len, genesis);
	}
	return r;
}

static int split_here(size_t *mid, const struct history *h, const git_tree *from,
                      const git_tree *to, size_t len);
static int split_join(struct history *h);

/*
 * check_change of two trees in names_sorted order: the same findings in
 * the same order (what is gone first, in the parent's order, then the
 * commit's entries in its order), pairing entries by one merge.
 */
static int check_change_sorted(struct history *h, const git_tree *from, const git_tree *to,
                               size_t len, int genesis)
{
	size_t i, j, nf = git_tree_entrycount(from), nt = git_tree_entrycount(to), mid;
	int r = 0, cmp;

	for (i = 0, j = 0; i < nf && r == 0; i++) {
		const git_tree_entry *f = git_tree_entry_byindex(from, i);
		const char *name = git_tree_entry_name(f);

		cmp = -1;
		while (j < nt && (cmp = strcmp(git_tree_entry_name(git_tree_entry_byindex(to, j)),
		                               name)) < 0)
			j++;
		if (cmp != 0)
			r = check_gone(h, f, len);
	}
	if (r == 0 && split_here(&mid, h, from, to, len))
		return (r = check_entries_sorted(h, from, to, 0, mid, len, genesis)) != 0 ? r :
		       split_join(h);
	return r == 0 ? check_entries_sorted(h, from, to, 0, nt, len, genesis) : r;
}

/* Compare a commit's tree `to` with its parent's `from` (NULL for the root commit). */
static int check_change(struct history *h, const git_tree *from, const git_tree *to,
                        size_t len, int genesis)
{
	size_t i, count;
	int r = 0;

	if (from && tree_names_sorted(h, from) && tree_names_sorted(h, to))
		return check_change_sorted(h, from, to, len, genesis);
	/* Files of the parent that are gone. */
	count = from ? git_tree_entrycount(from) : 0;
	for (i = 0; i < count && r == 0; i++) {
		const git_tree_entry *f = git_tree_entry_byindex(from, i);

		if (!git_tree_entry_byname(to, git_tree_entry_name(f)))
			r = check_gone(h, f, len);
	}
	count = git_tree_entrycount(to);
	for (i = 0; i < count && r == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(to, i);
		const git_tree_entry *f = from ? git_tree_entry_byname(from, git_tree_entry_name(e)) : NULL;

		r = check_entry(h, e, f, len, genesis);
	}
	return r;
}

/*
 * Every entry of `p` must be in `t`, identical: report what is missing
 * (DELETED) or different (MODIFIED), each also as MERGE_NOT_UNION.
 */
static int check_subset(struct history *h, const git_tree *p, const git_tree *t, size_t len)
{
	size_t i, count = git_tree_entrycount(p);
	int r = 0;

	for (i = 0; i < count && r == 0; i++) {
		const git_tree_entry *pe = git_tree_entry_byindex(p, i);
		const git_tree_entry *e = git_tree_entry_byname(t, git_tree_entry_name(pe));
		size_t sub_len;

		if (e && same_entry(e, pe))
			continue;
		if (!(sub_len = path_push(h, len, git_tree_entry_name(pe)))) {
			r = report(h, LEDGER_CHANGE_TOO_DEEP);
			continue;
		}
		if (!e) {
			r = report_all(h, pe, sub_len, LEDGER_CHANGE_DELETED, 1);
		} else if (is_tree(e) && is_tree(pe) && too_deep(h)) {
			r = report(h, LEDGER_CHANGE_TOO_DEEP);
		} else if (is_tree(e) && is_tree(pe)) {
			git_tree *te = NULL, *tp = NULL;

			if ((r = tree_of_entry(&te, h, e)) == 0 && (r = tree_of_entry(&tp, h, pe)) == 0)
				r = check_subset(h, tp, te, sub_len);
			git_tree_free(te);
			git_tree_free(tp);
		} else {
			r = report_all(h, pe, sub_len, LEDGER_CHANGE_MODIFIED, 1);
		}
		h->path[len] = '\0';
	}
	return r;
}

/*
 * `t` (a merge's tree at h->path) must be the union of `ps`.  A parent
 * whose tree here is identical to `t` covers it entirely, so the others
 * only need to be subsets; otherwise each entry of `t` must come from a
 * parent and each parent's entries must be in `t`.
 */
static int check_union(struct history *h, const git_tree *t, const git_tree **ps, size_t np,
                       size_t len)
{
	const git_tree *rest[HISTORY_MERGE_MAX];
	size_t i, j, k, count, nrest = 0;
	int covered = 0, r = 0;

	for (i = 0; i < np; i++) {
		if (git_oid_equal(git_tree_id(ps[i]), git_tree_id(t)))
			covered = 1;
		else
			rest[nrest++] = ps[i];
	}
	if (covered) {
		for (i = 0; i < nrest && r == 0; i++)
			r = check_subset(h, rest[i], t, len);
		return r;
	}
	count = git_tree_entrycount(t);
	for (i = 0; i < count && r == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const char *name = git_tree_entry_name(e);
		git_tree *subs[HISTORY_MERGE_MAX];
		size_t nsubs = 0, sub_len;
		int found = 0, same = 0, differs = 0;

		if (!(sub_len = path_push(h, len, name))) {
			r = report(h, LEDGER_CHANGE_TOO_DEEP);
			continue;
		}
		for (j = 0; j < nrest && r == 0; j++) {
			const git_tree_entry *pe = git_tree_entry_byname(rest[j], name);

			if (!pe)
				continue;
			found = 1;
			if (same_entry(e, pe))
				same = 1;
			else if (is_tree(e) && is_tree(pe))
				r = tree_of_entry(&subs[nsubs++], h, pe);
			else
				differs = 1;
		}
		if (r == 0 && !found) {
			r = report_all(h, e, sub_len, LEDGER_CHANGE_MERGE_NOT_UNION, 0);
		} else if (r == 0 && differs) {
			r = report_all(h, e, sub_len, LEDGER_CHANGE_MODIFIED, 1);
		} else if (r == 0 && nsubs > 0 && too_deep(h)) {
			r = report(h, LEDGER_CHANGE_TOO_DEEP);
		} else if (r == 0 && nsubs > 0) {
			git_tree *te = NULL;

			/* A parent identical here covers the entry; the others must be subsets. */
			if ((r = tree_of_entry(&te, h, e)) == 0 && same) {
				for (k = 0; k < nsubs && r == 0; k++)
					r = check_subset(h, subs[k], te, sub_len);
			} else if (r == 0) {
				r = check_union(h, te, (const git_tree **)subs, nsubs, sub_len);
			}
			git_tree_free(te);
		}
		for (k = 0; k < nsubs; k++)
			git_tree_free(subs[k]);
		h->path[len] = '\0';
	}
	/* What a parent has and the merge lacks. */
	for (j = 0; j < nrest && r == 0; j++) {
		count = git_tree_entrycount(rest[j]);
		for (i = 0; i < count && r == 0; i++) {
			const git_tree_entry *pe = git_tree_entry_byindex(rest[j], i);
			size_t sub_len;

			if (git_tree_entry_byname(t, git_tree_entry_name(pe)))
				continue;
			sub_len = path_push(h, len, git_tree_entry_name(pe));
			r = sub_len ? report_all(h, pe, sub_len, LEDGER_CHANGE_DELETED, 1) :
			    report(h, LEDGER_CHANGE_TOO_DEEP);
			h->path[len] = '\0';
		}
	}
	return r;
}

/* --- A single commit on two threads --------------------------------------
 *
 * An incremental verification checks one append: a commit that changes
 * most of records/'s 256 subtrees, each read in both versions, with the
 * other core idle (the files to check are not known yet).  So the second
 * half of records/'s entries is checked on a helper thread, through a
 * repository of its own (store_history_git_open), while this thread
 * checks the rest.  The helper's findings, the files it notes and the trees
 * it reads are handed over when this thread reaches that half: in the order
 * one thread makes them.
 */

struct split_finding {
	ledger_change_kind kind;
	char *path;
};

struct history_split {
	git_tree *from, *to; /* records/ of the parent and of the commit */
	size_t mid;          /* the helper checks to's entries [mid, end) */
	pthread_t tid;
	int running;         /* started, not joined yet */
	struct history helper;
	ledger_repo helper_repo; /* the caller's, but for `git` */
	store_order noted;       /* the files the helper notes */
	struct split_finding *findings;
	size_t nfindings, cap;
	int result;              /* of the helper's check */
	int error_code;          /* and message, of its error, for this thread */
	char error_message[1024];
};

/* The helper's findings: kept for this thread to report in their place. */
static int split_keep_finding(const char *commit, ledger_change_kind kind, const char *path,
                              void *payload)
{
	struct history_split *s = payload;
	char *copy = strdup(path ? path : "");

	(void)commit;
	if (!copy)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (s->nfindings == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct split_finding *bigger = realloc(s->findings, cap * sizeof(*bigger));

		if (!bigger) {
			free(copy);
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		}
		s->findings = bigger;
		s->cap = cap;
	}
	s->findings[s->nfindings].kind = kind;
	s->findings[s->nfindings++].path = copy;
	return 0;
}

static void *split_run(void *arg)
{
	struct history_split *s = arg;

	s->result = check_entries_sorted(&s->helper, s->from, s->to, s->mid,
	                                 git_tree_entrycount(s->to), strlen("records"), 0);
	if (s->result < 0) {
		const ledger_error *err = ledger_error_last();

		s->error_code = s->result;
		snprintf(s->error_message, sizeof(s->error_message), "%s",
		         err && err->message ? err->message : "the history check failed");
	}
	return NULL;
}

/*
 * Split the check of commit `c` when it has one parent and records/ has
 * HISTORY_SPLIT_MIN entries or more and changed, both versions in
 * names_sorted order (so that check_change_sorted pairs them).  Best
 * effort: when it does not apply, or the helper cannot start, the check
 * runs here whole; an object that cannot be read is left for check_commit
 * to report.
 */
static void split_start(struct history *h, const git_commit *c)
{
	git_tree *t = NULL, *pt = NULL, *to = NULL, *from = NULL;
	const git_tree_entry *e, *f;
	git_commit *p = NULL;
	struct history_split *s = NULL;

	if (git_commit_parentcount(c) != 1 || git_commit_parent(&p, c, 0) < 0 ||
	    tree_lookup(&t, h, git_commit_tree_id(c)) < 0 ||
	    tree_lookup(&pt, h, git_commit_tree_id(p)) < 0)
		goto done;
	e = git_tree_entry_byname(t, "records");
	f = git_tree_entry_byname(pt, "records");
	if (!names_sorted(t) || !names_sorted(pt) || !is_tree(e) || !is_tree(f) ||
	    git_tree_entry_filemode(e) != GIT_FILEMODE_TREE ||
	    git_tree_entry_filemode(f) != GIT_FILEMODE_TREE || same_entry(e, f) ||
	    tree_lookup(&to, h, git_tree_entry_id(e)) < 0 ||
	    tree_lookup(&from, h, git_tree_entry_id(f)) < 0 ||
	    git_tree_entrycount(to) < HISTORY_SPLIT_MIN || !names_sorted(to) || !names_sorted(from))
		goto done;
	if (!(s = calloc(1, sizeof(*s))) || store_order_init(&s->noted) < 0) {
		ledger_error_clear();
		free(s);
		s = NULL;
		goto done;
	}
	s->helper_repo = *h->repo;
	s->helper_repo.git = NULL;
	s->helper_repo.mempack = NULL; /* the caller's: empty between writes */
	if (store_history_git_open(&s->helper_repo.git, h->repo) < 0) {
		ledger_error_clear();
		goto fail;
	}
	s->helper.repo = &s->helper_repo;
	s->helper.cb = split_keep_finding;
	s->helper.payload = s;
	s->helper.order = &s->noted;
	s->helper.keep_all = 1;
	git_oid_tostr(s->helper.commit, sizeof(s->helper.commit), git_commit_id(c));
	memcpy(s->helper.path, "records", sizeof("records"));
	s->from = from;
	s->to = to;
	from = to = NULL; /* the split's */
	s->mid = git_tree_entrycount(s->to) / 2;
	if (pthread_create(&s->tid, NULL, split_run, s) != 0)
		goto fail;
	s->running = 1;
	h->split = s;
	s = NULL;
	goto done;
fail:
	git_repository_free(s->helper_repo.git);
	git_tree_free(s->from);
	git_tree_free(s->to);
	store_order_release(&s->noted);
	free(s);
done:
	git_tree_free(from);
	git_tree_free(to);
	git_tree_free(pt);
	git_tree_free(t);
	git_commit_free(p);
}

/* Whether check_change_sorted of `from` and `to` at h->path is the split one: where it splits. */
static int split_here(size_t *mid, const struct history *h, const git_tree *from,
                      const git_tree *to, size_t len)
{
	const struct history_split *s = h->split;

	if (!s || !s->running || len != strlen("records") || strcmp(h->path, "records") != 0 ||
	    !git_oid_equal(git_tree_id(from), git_tree_id(s->from)) ||
	    !git_oid_equal(git_tree_id(to), git_tree_id(s->to)))
		return 0;
	*mid = s->mid;
	return 1;
}

/* Wait for the helper and free what it holds but its repository (h->helper_git). */
static void split_end(struct history *h)
{
	struct history_split *s = h->split;

	if (!s)
		return;
	if (s->running)
		pthread_join(s->tid, NULL);
	for (size_t i = 0; i < s->nfindings; i++)
		free(s->findings[i].path);
	free(s->findings);
	tree_set_release(&s->helper.current);
	added_set_release(&s->helper.added);
	store_order_release(&s->noted);
	git_tree_free(s->from);
	git_tree_free(s->to);
	/* Its trees may live on in h->current (one split per check): freed after them. */
	h->helper_git = s->helper_repo.git;
	free(s);
	h->split = NULL;
}

/*
 * Wait for the helper and take what it found, as if this thread had
 * checked its half now: its error, findings, noted files, trees read.
 */
static int split_join(struct history *h)
{
	struct history_split *s = h->split;
	int r = 0;

	pthread_join(s->tid, NULL);
	s->running = 0;
	if (s->result < 0)
		r = ledger_error_set(s->error_code, "%s", s->error_message);
	else
		r = s->result;
	for (size_t i = 0; i < s->nfindings && r == 0; i++)
		r = h->cb(h->commit, s->findings[i].kind, s->findings[i].path, h->payload);
	for (size_t i = 0; i < s->noted.count && r == 0 && h->order; i++)
		r = note_added(h->order, &s->noted.ids[i], NULL); /* a split notes no paths */
	for (size_t i = 0; i < s->helper.current.count && r == 0; i++) {
		uint8_t key[32] = { 0 };
		size_t at;

		memcpy(key, git_tree_id(s->helper.current.trees[i])->id, GIT_OID_RAWSZ);
		if (!idmap_get(&h->current.ids, key, &at))
			tree_set_keep(&h->current, key, s->helper.current.trees[i]);
	}
	for (size_t i = 0; i < s->helper.added.count && r == 0 && h->keep_all; i++)
		added_set_note(&h->added, &s->helper.added.notes[i].to,
		               &s->helper.added.notes[i].from, s->helper.added.notes[i].added);
	split_end(h);
	return r;
}

static int check_commit(struct history *h, const git_commit *c)
{
	const git_tree *ps[HISTORY_MERGE_MAX];
	git_tree *parent_trees[HISTORY_MERGE_MAX];
	git_tree *tree = NULL;
	unsigned int i, np = git_commit_parentcount(c), got = 0;
	int r, error;

	git_oid_tostr(h->commit, sizeof(h->commit), git_commit_id(c));
	h->path[0] = '\0';
	if (np > HISTORY_MERGE_MAX)
		return ledger_error_set(LEDGER_EINVALID, "commit %s: %u parents", h->commit, np);
	if ((error = tree_lookup(&tree, h, git_commit_tree_id(c))) == GIT_EUSER)
		return h->stopped;
	if (error < 0)
		return store_error_git(error, "commit %s: cannot read its tree", h->commit);
	note_tree_order(h, tree);
	/* A merge's files were noted on both its sides, some maybe twice. */
	if (np > 1 && h->order && h->order->with_paths)
		order_unprove(h->order);
	for (r = 0; got < np; got++) {
		git_commit *p = NULL;

		error = git_commit_parent(&p, c, got);
		if (error == 0) {
			error = tree_lookup(&parent_trees[got], h, git_commit_tree_id(p));
			git_commit_free(p);
		}
		if (error == GIT_EUSER) {
			r = h->stopped;
			goto done;
		}
		if (error < 0) {
			r = store_error_git(error, "commit %s: cannot read parent %u", h->commit, got + 1);
			goto done;
		}
		ps[got] = parent_trees[got];
	}
	if (np == 0)
		r = check_change(h, NULL, tree, 0, 1);
	else if (np == 1)
		r = check_change(h, ps[0], tree, 0, 0);
	else
		r = check_union(h, tree, ps, np, 0);
done:
	for (i = 0; i < got; i++)
		git_tree_free(parent_trees[i]);
	git_tree_free(tree);
	return r;
}

int store_walk_new(git_revwalk **out, ledger_repo *repo, const char *from, const char *to,
                   unsigned int sort)
{
	git_commit *c_to = NULL, *c_from = NULL;
	git_revwalk *walk = NULL;
	int r, error;

	*out = NULL;
	if ((r = store_lookup_commit(&c_to, repo, to)) < 0)
		goto done;
	if (from && (r = store_lookup_commit(&c_from, repo, from)) < 0)
		goto done;
	if ((error = git_revwalk_new(&walk, repo->git)) < 0 ||
	    (error = git_revwalk_sorting(walk, sort)) < 0 ||
	    (error = git_revwalk_push(walk, git_commit_id(c_to))) < 0 ||
	    (c_from && (error = git_revwalk_hide(walk, git_commit_id(c_from))) < 0)) {
		r = store_error_git(error, "cannot walk the history");
		goto done;
	}
	*out = walk;
	walk = NULL; /* transferred */
	r = 0;
done:
	git_revwalk_free(walk);
	git_commit_free(c_from);
	git_commit_free(c_to);
	return r;
}

int ledger_repo_check_history(ledger_repo *repo, const char *from, const char *to,
                              ledger_change_cb cb, void *payload)
{
	return store_check_history_ordered(repo, from, to, cb, payload, NULL);
}

/*
 * The commits of from..to, oldest first, in *out (free it).  Listed up
 * front: the walk holds its object database, which the check lets go of
 * now and then (history_reopen).
 */
static int commits_list(git_oid **out, size_t *out_count, ledger_repo *repo, const char *from,
                        const char *to)
{
	git_revwalk *walk = NULL;
	git_oid *ids = NULL, id;
	size_t count = 0, cap = 0;
	int r, error;

	*out = NULL;
	*out_count = 0;
	if ((r = store_walk_new(&walk, repo, from, to, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE)) < 0)
		return r;
	while ((error = git_revwalk_next(&id, walk)) == 0) {
		if (count == cap) {
			size_t bigger_cap = cap ? 2 * cap : 256;
			git_oid *bigger = realloc(ids, bigger_cap * sizeof(*bigger));

			if (!bigger) {
				r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
				goto done;
			}
			ids = bigger;
			cap = bigger_cap;
		}
		git_oid_cpy(&ids[count++], &id);
	}
	if (error != GIT_ITEROVER) {
		r = store_error_git(error, "cannot walk the history");
		goto done;
	}
	*out = ids;
	*out_count = count;
	ids = NULL; /* transferred */
	r = 0;
done:
	free(ids);
	git_revwalk_free(walk);
	return r;
}

int store_check_history_ordered(ledger_repo *repo, const char *from, const char *to,
                                ledger_change_cb cb, void *payload, store_order *order)
{
	return store_check_history_kept(repo, from, to, cb, payload, order, NULL);
}

int store_check_history_kept(ledger_repo *repo, const char *from, const char *to,
                             ledger_change_cb cb, void *payload, store_order *order,
                             store_trees **kept)
{
	struct history *h = NULL;
	git_oid *ids = NULL;
	size_t count = 0;
	int r;

	if (kept)
		*kept = NULL;
	if (!cb)
		return ledger_error_set(LEDGER_EINVALID, "no callback given");
	if ((r = commits_list(&ids, &count, repo, from, to)) < 0)
		return r;
	h = calloc(1, sizeof(*h));
	if (!h) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	h->repo = repo;
	h->cb = cb;
	h->payload = payload;
	h->order = order;
	h->keep_all = kept != NULL;
	for (size_t i = 0; i < count; i++) {
		git_commit *c = NULL;
		int error;

		if ((r = history_fresh(h)) != 0)
			goto done;
		if ((error = git_commit_lookup(&c, repo->git, &ids[i])) < 0) {
			r = store_error_git(error, "cannot walk the history");
			goto done;
		}
		/* One commit, its trees kept for the caller: an incremental verification's. */
		if (kept && count == 1)
			split_start(h, c);
		r = check_commit(h, c);
		git_commit_free(c);
		/* A split its check never reached (cannot happen: the same trees) still counts. */
		if (r == 0 && h->split)
			r = split_join(h);
		if (r != 0)
			goto done;
		if (order) {
			store_order_publish(order, 0);
			if (order_cancelled(order)) {
				r = 1;
				goto done;
			}
		}
		if (h->keep_all)
			continue;
		tree_set_release(&h->previous);
		h->previous = h->current;
		memset(&h->current, 0, sizeof(h->current));
	}
	if (kept) {
		*kept = calloc(1, sizeof(**kept));
		if (*kept) {
			/* Best effort, as the sets are: without them the caller reads the trees. */
			(*kept)->set = h->current;
			(*kept)->added = h->added;
			(*kept)->helper_git = h->helper_git;
			memset(&h->current, 0, sizeof(h->current));
			memset(&h->added, 0, sizeof(h->added));
			h->helper_git = NULL;
		}
	}
	r = 0;
done:
	if (h) {
		split_end(h);
		tree_set_release(&h->current);
		tree_set_release(&h->previous);
		added_set_release(&h->added);
		git_repository_free(h->helper_git);
	}
	free(h);
	free(ids);
	return r;
}

int store_range_single(ledger_repo *repo, const char *from, const char *to)
{
	git_commit *c = NULL;
	git_oid from_id;
	int r, error;

	if (from && (error = git_oid_fromstr(&from_id, from)) < 0)
		return store_error_git(error, "revision \"%s\"", from);
	if ((r = store_lookup_commit(&c, repo, to)) < 0)
		return r;
	if (!from)
		r = git_commit_parentcount(c) == 0;
	else
		r = git_oid_equal(git_commit_id(c), &from_id) ||
		    (git_commit_parentcount(c) == 1 &&
		     git_oid_equal(git_commit_parent_id(c, 0), &from_id));
	git_commit_free(c);
	return r;
}

int ledger_repo_count_commits(size_t *out, ledger_repo *repo, const char *from, const char *to)
{
	git_revwalk *walk = NULL;
	git_oid id;
	size_t n = 0;
	int r, error;

	*out = 0;
	if ((r = store_walk_new(&walk, repo, from, to, GIT_SORT_NONE)) < 0)
		return r;
	while ((error = git_revwalk_next(&id, walk)) == 0)
		n++;
	git_revwalk_free(walk);
	if (error != GIT_ITEROVER)
		return store_error_git(error, "cannot walk the history");
	*out = n;
	return 0;
}

int ledger_repo_is_ancestor(ledger_repo *repo, const char *ancestor, const char *descendant)
{
	git_commit *a = NULL, *d = NULL;
	int r;

	if (!ancestor || !descendant)
		return ledger_error_set(LEDGER_EINVALID, "no revision given");
	if ((r = store_lookup_commit(&a, repo, ancestor)) < 0 ||
	    (r = store_lookup_commit(&d, repo, descendant)) < 0)
		goto done;
	if (git_oid_equal(git_commit_id(a), git_commit_id(d))) {
		r = 1;
		goto done;
	}
	/* One commit apart, as after an append: no walk (git_graph_descendant_of costs ~1 ms). */
	for (unsigned int i = 0; i < git_commit_parentcount(d); i++)
		if (git_oid_equal(git_commit_parent_id(d, i), git_commit_id(a))) {
			r = 1;
			goto done;
		}
	r = git_graph_descendant_of(repo->git, git_commit_id(d), git_commit_id(a));
	if (r < 0)
		r = store_error_git(r, "cannot compare \"%s\" and \"%s\"", ancestor, descendant);
done:
	git_commit_free(d);
	git_commit_free(a);
	return r;
}

void store_change_describe(ledger_change_kind kind, const char **code, const char **what)
{
	switch (kind) {
	case LEDGER_CHANGE_MODIFIED:
		*code = "record-modified";
		*what = "a later commit changes this file";
		break;
	case LEDGER_CHANGE_DELETED:
		*code = "record-deleted";
		*what = "a later commit deletes this file";
		break;
	case LEDGER_CHANGE_MERGE_NOT_UNION:
		*code = "merge-not-union";
		*what = "the merge commit's tree is not the union of its parents' trees";
		break;
	case LEDGER_CHANGE_BAD_MODE:
		*code = "bad-mode";
		*what = "not a regular, non-executable file";
		break;
	case LEDGER_CHANGE_TOO_DEEP:
		*code = "foreign-file";
		*what = "a directory deeper than a ledger has (records/xx/yy/), or a path over 4 KiB: "
		        "not walked";
		break;
	default:
		*code = "foreign-file";
		*what = "a commit adds a file outside records/";
		break;
	}
}
