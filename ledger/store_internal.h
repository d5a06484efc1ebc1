/*
 * Private: what the store's files (store.c, store_lock.c, store_history.c,
 * store_pack.c, store_pack_writer.c, store_union.c, store_refs.c,
 * store_transfer.c) share.  None of these symbols is exported.
 */
#ifndef LEDGER_STORE_INTERNAL_H
#define LEDGER_STORE_INTERNAL_H

#include <pthread.h>

#include <git2.h>

#include "ledger/store.h"
#include "idmap.h"

struct ledger_repo {
	git_repository *git;
	char *git_dir;   /* absolute, no trailing slash */
	char *state_dir; /* "<git_dir>/cymat" once created, else NULL */
	int lock_held;
	int lock_fd;     /* while lock_held: cymat/lock, flock()ed */
	long lock_pid;   /* the process that took it (a forked child only closes it) */
	int odb_from_env; /* objects from GIT_OBJECT_DIRECTORY and alternates: never reopened */
	/*
	 * In-memory backend of git's object database, above the others: an
	 * append writes its objects here, then all of them as one pack.
	 */
	git_odb_backend *mempack;
};

/* Loose objects past which an append packs them (auto-pack). */
#define STORE_PACK_LOOSE_LIMIT 1024
/* Packs past which the smaller ones are consolidated. */
#define STORE_PACK_COUNT_LIMIT 16
/*
 * Appends merge only packs up to this size: rewriting a large ledger's big
 * packs is left to ledger_repo_pack, so that no append stalls for minutes.
 */
#define STORE_PACK_AUTO_MAX_SIZE (8 * 1024 * 1024)

/*
 * No ledger tree is deeper than records/xx/yy/<file> (4 levels).  Walks of
 * trees that came from elsewhere descend into no directory at this depth (a
 * path of this many components), so that a hostile tree cannot make them
 * recurse without end: the history check reports such a directory
 * (LEDGER_CHANGE_TOO_DEEP) and the other walks leave it alone.
 */
#define STORE_TREE_DEPTH_MAX 8

/* The components of a tree path: "records/ab" is 2. */
static inline unsigned int store_path_depth(const char *path)
{
	unsigned int n = *path ? 1 : 0;

	for (; *path; path++)
		n += *path == '/';
	return n;
}

/*
 * The blob ids the history check notes under records/, oldest commit
 * first, handed to the thread that reads the files (store_order.h).  An
 * id comes again when a blob is added twice (at two paths, or on two
 * branches): the reader reads each listed file once, so the check keeps no
 * set of the ids it noted.
 * The check appends under `lock` and wakes the reader every
 * STORE_ORDER_BATCH ids, after each commit and at the end (`done`); the
 * reader sets `cancelled` when it stops early.
 *
 * With `with_paths` (a check of the whole history), each id's path is
 * noted too, and the check says whether its notes are the tip's files:
 * each commit of a history without merges, read from its root, is its
 * parent plus the files it notes unless the check finds something, so
 * that, no finding made, the files noted are exactly the tip's, each path
 * once.  Sorted by their bytes, they are in the order of a walk of the
 * tip's trees when every tree a commit wrote walks in byte order (its
 * names strictly increasing, no directory's name the start of the next
 * name; git writes a ledger's trees so).  Else (a merge, a finding, a tree
 * that does not) the check sets `unproven` as it meets it, and the reader
 * lists the tip's files instead.
 */
#define STORE_ORDER_BATCH 256

/* Paths noted with their ids are carved from blocks that never move. */
struct store_path_block;

typedef struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	git_oid *ids;           /* under lock */
	size_t count, cap;      /* under lock */
	size_t published;       /* ids [0, published) may be taken; under lock */
	int done, cancelled;    /* under lock */
	int result;             /* of the check, once done */
	int with_paths;         /* set before the check starts */
	const char **paths;     /* with_paths: of each id, in `blocks`; under lock */
	struct store_path_block *blocks;
	int unproven;           /* with_paths: the notes may not be the tip's files; under lock */
	/*
	 * Fresh object databases: packs are shared by path while any database
	 * holds them, so the check lets go of its database whenever the reader
	 * does (store.c, odb_reopen_shared), and neither opens a fresh one
	 * before both have let go.  Each opens its own: two git_repository
	 * objects must not share a git_odb (libgit2 1.5 reads it through the
	 * object cache of the repository that set it last, freed with it).
	 */
	unsigned long gen;      /* asked for by the reader; atomic */
	unsigned long released; /* the check has let go of its database; under lock */
	unsigned long opened;   /* the reader has opened its fresh one; under lock */
} store_order;

int store_order_init(store_order *order);
void store_order_release(store_order *order);
/* Let the reader take what is noted; `done`: the check has ended. */
void store_order_publish(store_order *order, int done);

/*
 * ledger_repo_check_history, also noting in `order` (when not NULL) every
 * file a commit adds under records/, oldest commit first.
 */
int store_check_history_ordered(ledger_repo *repo, const char *from, const char *to,
                                ledger_change_cb cb, void *payload, store_order *order);

/*
 * The trees a history check read, by id (store_check_history_kept), for
 * a walk over the same commits that would read them again.
 */
typedef struct store_trees store_trees;

/*
 * store_check_history_ordered, also handing over in *kept (when not NULL;
 * free it with store_trees_free) every tree it read.  Memory grows with
 * every commit's changed trees: for short ranges only.
 */
int store_check_history_kept(ledger_repo *repo, const char *from, const char *to,
                             ledger_change_cb cb, void *payload, store_order *order,
                             store_trees **kept);
/*
 * 1 when from..to (`from` a commit id in hex, or NULL: the whole history
 * of `to`) is known without a walk to hold at most one commit: `to` is
 * `from`, its only parent is `from`, or (no `from`) it has no parent.
 */
int store_range_single(ledger_repo *repo, const char *from, const char *to);
/*
 * A repository of its own on the objects of `repo`, opened as it was, for
 * a history check on a thread beside the caller's (store.c says why).
 */
int store_history_git_open(git_repository **out, const ledger_repo *repo);
/* 1 and a new reference in *out when tree `id` is in `trees` (may be NULL), else 0. */
int store_trees_find(git_tree **out, const store_trees *trees, const git_oid *id);
/*
 * 1 when the check found tree `to` to be tree `from` plus one entry (its
 * bytes hashed to `from` without it), that entry's index in *added; else
 * 0 (and SIZE_MAX): `from` must be read to know how they differ.
 */
int store_trees_one_added(size_t *added, const store_trees *trees, const git_oid *to,
                          const git_oid *from);
/* How many trees `trees` (may be NULL) holds. */
size_t store_trees_count(const store_trees *trees);
void store_trees_free(store_trees *trees);

/*
 * Set the ledger error from libgit2's last error: "<what>: <libgit2 message>",
 * with the code mapped from the libgit2 return value `giterr`.
 */
int store_error_git(int giterr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resolve `rev` (NULL: tip of main) to a commit. */
int store_lookup_commit(git_commit **out, ledger_repo *repo, const char *rev);
/* A revwalk over `to` (NULL: tip of main) minus `from` (NULL: nothing), sorted by `sort`. */
int store_walk_new(git_revwalk **out, ledger_repo *repo, const char *from, const char *to,
                   unsigned int sort);
/* The tree of commit `rev` (NULL: main). */
int store_commit_tree(git_tree **out, ledger_repo *repo, const char *rev);

/* fsync a directory (or file) by path. */
int store_fsync_path(const char *path);

/* Commit options usable for a commit; the message may be left out when the caller writes it. */
int store_commit_options_check(const ledger_commit_options *opts, int need_message);

/*
 * A fresh object database for the repository, nothing of its packs mapped
 * (odb_reopen in store.c): after a walk that read many objects outside the
 * readers of store.c.  Only while the in-memory backend is empty.
 */
int store_odb_fresh(ledger_repo *repo);
/* Its two halves: let go of the database (an empty one stands in), open a fresh one. */
int store_odb_drop(ledger_repo *repo);
int store_odb_open(ledger_repo *repo);

/* Put the in-memory backend above git's own, so that new objects are written there. */
int store_mempack_attach(ledger_repo *repo);

/*
 * Create the commit object for `tree` over `parents` (none: a root commit)
 * with `message`, author and committer and signature as `opts` say.
 */
int store_commit_write(git_oid *out, ledger_repo *repo, const git_tree *tree,
                       const git_commit **parents, size_t nparents, const char *message,
                       const ledger_commit_options *opts);

/*
 * The ledger lock: an flock on <git dir>/cymat/lock held until release, for
 * an update of `ref` (the file says "pid hostname ref\n" while held; a
 * holder that died leaves it, and the next one removes <ref>.lock).  Waits
 * a bounded time, then LEDGER_ELOCKED.
 */
int store_lock_acquire(ledger_repo *repo, const char *ref);
void store_lock_release(ledger_repo *repo);

/*
 * Write the objects `ids` (readable through repo->git) as one new pack and
 * make it durable: the pack, its index and objects/pack/ are fsynced.
 */
int store_pack_write(ledger_repo *repo, const git_oid *ids, size_t count);

/*
 * Stream the objects `ids` (readable through repo->git; a repeated id is
 * written once, the order kept) into a new pack in `pack_dir`, without
 * deltas, each deflated at the level of pack.compression, else
 * core.compression, else 0 (stored); its name "pack-<hex>" in *out_name.
 * No pack is left behind on failure.  store_pack_writer.c.
 */
int store_pack_stream(char **out_name, ledger_repo *repo, const char *pack_dir,
                      const git_oid *ids, size_t count);

/*
 * Pack if there are more than STORE_PACK_LOOSE_LIMIT loose objects or more
 * than STORE_PACK_COUNT_LIMIT packs of at most STORE_PACK_AUTO_MAX_SIZE;
 * only those packs are merged.  Called without the ledger lock: packing
 * has its own (cymat/pack.lock), and is skipped while another process
 * packs.
 */
int store_pack_auto(ledger_repo *repo);

#endif
