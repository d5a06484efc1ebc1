/*
 * Union merges (FORMAT.md section 5): the record sets of two commits as one.
 * The merge tree is built by walking both trees together: a subtree with
 * the same id on both sides is taken as it is, one that only theirs has is
 * added by id, and only directories that differ are rebuilt, so the cost
 * follows what differs, not the size of the ledger.  The new trees and the
 * merge commit are written as one fsynced pack, as an append's are.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <git2/sys/mempack.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "ledger/sync.h"
#include "store_internal.h"
#include "store_union.h"

#define UNION_PATH_MAX 4096
/*
 * Merging 10,000 new records into 160,000 reads the trees of 20,000
 * directories, and verifying the union as many again, from every pack
 * (15 packs, 330 MB): under the 256 MiB bound libgit2 unmapped and mapped
 * a window for most reads, 2 of the 8 CPU-s of the merge and its
 * verification in the sync benchmark (8.1 -> 5.6 CPU-s at 1 GiB, peak RSS
 * 285 -> 343 MB of clean pack pages).  Mapped pages are the packs' own.
 */
#define STORE_UNION_MAPPED_LIMIT ((size_t)1 << 30)
/* Hex digits of theirs in a merge commit's message. */
#define UNION_SHORT_LEN 12

struct union_walk {
	ledger_repo *repo;
	git_oid *ids;   /* trees written, for the pack */
	size_t count;
	size_t cap;
	size_t added;   /* files theirs has and ours lacks */
	ledger_file_cb on_added; /* given the path of each such file, or NULL */
	void *payload;
	char path[UNION_PATH_MAX];
};

static int ids_add(struct union_walk *u, const git_oid *id)
{
	if (u->count == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 64;
		git_oid *ids = realloc(u->ids, cap * sizeof(*ids));

		if (!ids)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		u->ids = ids;
		u->cap = cap;
	}
	git_oid_cpy(&u->ids[u->count++], id);
	return 0;
}

/*
 * Append "/name" (or "name" at the top) to u->path at `len`; the new length,
 * or 0 if too long (u->path is left as it was).
 */
static size_t path_push(struct union_walk *u, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len + 1 + n + 1 > sizeof(u->path))
		return 0;
	if (len)
		u->path[len++] = '/';
	memcpy(u->path + len, name, n + 1);
	return len + n;
}

static int is_dir(const git_tree_entry *e)
{
	return git_tree_entry_type(e) == GIT_OBJECT_TREE &&
	       git_tree_entry_filemode(e) == GIT_FILEMODE_TREE;
}

static int tree_lookup(git_tree **out, struct union_walk *u, const git_tree_entry *e)
{
	int error = git_tree_lookup(out, u->repo->git, git_tree_entry_id(e));

	if (error < 0)
		return store_error_git(error, "cannot read tree \"%s\"", u->path);
	return 0;
}

/*
 * Count the files of an entry that only theirs has, at `depth` (its path's
 * components), and when `list`, hand their paths on (u->path, of length
 * `len`) as ledger_repo_foreach_added would list them: blobs but symbolic
 * links, in paths that fit.  A directory at STORE_TREE_DEPTH_MAX holds no
 * record and is not walked (the verifier refuses it as too deep): a hostile
 * tree thousands of levels deep would otherwise recurse once per level.
 */
static int count_files(struct union_walk *u, const git_tree_entry *e, size_t len,
                       unsigned int depth, int list)
{
	git_tree *t = NULL;
	size_t i, n, sub_len;
	int r;

	if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
		u->added++;
		if (list && u->on_added && git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
		    git_tree_entry_filemode(e) != GIT_FILEMODE_LINK)
			return u->on_added(u->path, NULL, 0, u->payload);
		return 0;
	}
	if (depth >= STORE_TREE_DEPTH_MAX)
		return 0;
	if ((r = tree_lookup(&t, u, e)) < 0)
		return r;
	n = git_tree_entrycount(t);
	for (i = 0; i < n && r == 0; i++) {
		const git_tree_entry *sub = git_tree_entry_byindex(t, i);

		sub_len = list ? path_push(u, len, git_tree_entry_name(sub)) : 0;
		r = count_files(u, sub, sub_len ? sub_len : len, depth + 1, sub_len != 0);
		u->path[len] = '\0';
	}
	git_tree_free(t);
	return r;
}

static int same_entry(const git_tree_entry *a, const git_tree_entry *b)
{
	return a && b && git_tree_entry_filemode(a) == git_tree_entry_filemode(b) &&
	       git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b));
}

/*
 * Start the builder of the union at u->path (the first `len` bytes) from
 * ours, with theirs' entries before `upto` that differ from ours: the union
 * took each of those as theirs has it.
 */
static int builder_start(git_treebuilder **bld, struct union_walk *u, size_t len,
                         const git_tree *ours, const git_tree *theirs, size_t upto)
{
	int error;

	if ((error = git_treebuilder_new(bld, u->repo->git, ours)) < 0)
		return store_error_git(error, "cannot start tree \"%.*s\"", (int)len, u->path);
	for (size_t i = 0; i < upto; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(theirs, i);
		const char *name = git_tree_entry_name(te);

		if (same_entry(git_tree_entry_byname(ours, name), te))
			continue;
		error = git_treebuilder_insert(NULL, *bld, name, git_tree_entry_id(te),
		                               git_tree_entry_filemode(te));
		if (error < 0)
			return store_error_git(error, "cannot add \"%s\" to the merge tree "
			                       "\"%.*s\"", name, (int)len, u->path);
	}
	return 0;
}

/*
 * The union of `ours` and `theirs` at u->path (of length `len`) into *out.
 * Entries of ours stay as they are; theirs' entries are added, and a
 * directory both have is merged in turn.  When theirs holds all of ours
 * (the usual case: a node fetching what the master gained since), the
 * union is theirs' tree itself: nothing is written, and the push that
 * follows has only the directories where both sides gained records to send.
 * A tree is built only once the union is known to differ from theirs'.
 */
static int tree_union(git_oid *out, struct union_walk *u, const git_tree *ours,
                      const git_tree *theirs, size_t len)
{
	git_treebuilder *bld = NULL;
	size_t i, n;
	int r = 0, error;

	if (git_oid_equal(git_tree_id(ours), git_tree_id(theirs))) {
		git_oid_cpy(out, git_tree_id(ours));
		return 0;
	}
	/* An entry of ours that theirs lacks: the union is a tree of its own. */
	n = git_tree_entrycount(ours);
	for (i = 0; i < n && !bld && r == 0; i++) {
		const char *name = git_tree_entry_name(git_tree_entry_byindex(ours, i));

		if (!git_tree_entry_byname(theirs, name))
			r = builder_start(&bld, u, len, ours, theirs, 0);
	}
	n = git_tree_entrycount(theirs);
	for (i = 0; i < n && r == 0; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(theirs, i);
		const char *name = git_tree_entry_name(te);
		const git_tree_entry *oe = git_tree_entry_byname(ours, name);
		size_t sub_len;
		git_oid id;

		if (same_entry(oe, te))
			continue;
		sub_len = path_push(u, len, name);
		if (!oe) {
			/* Counted, unless its path is too long to hold a record (the verifier refuses it). */
			git_oid_cpy(&id, git_tree_entry_id(te));
			r = sub_len ? count_files(u, te, sub_len, store_path_depth(u->path), 1) : 0;
		} else if (!sub_len) {
			r = ledger_error_set(LEDGER_EINVALID, "path too long (over %d bytes): "
			                     "\"%.100s%s/...\"", UNION_PATH_MAX, u->path,
			                     len > 100 ? "..." : "");
		} else if (is_dir(oe) && is_dir(te) &&
		           store_path_depth(u->path) >= STORE_TREE_DEPTH_MAX) {
			/* Ours holds it too: only a ledger that took it in before this bound. */
			r = ledger_error_set(LEDGER_EINVALID, "directory deeper than %d levels in both "
			                     "ledgers, not merged: \"%.100s%s\"", STORE_TREE_DEPTH_MAX,
			                     u->path, strlen(u->path) > 100 ? "..." : "");
		} else if (is_dir(oe) && is_dir(te)) {
			git_tree *so = NULL, *st = NULL;

			if ((r = tree_lookup(&so, u, oe)) == 0 && (r = tree_lookup(&st, u, te)) == 0)
				r = tree_union(&id, u, so, st, sub_len);
			git_tree_free(so);
			git_tree_free(st);
		} else {
			/* Two contents at one path: a collision or a tampered file (FORMAT-5). */
			r = ledger_error_set(LEDGER_ECONFLICT,
			                     "file \"%s\": different content in the two ledgers",
			                     u->path);
		}
		/* The first entry whose union is not theirs': from here on the union is built. */
		if (r == 0 && !bld && !git_oid_equal(&id, git_tree_entry_id(te)))
			r = builder_start(&bld, u, len, ours, theirs, i);
		if (r == 0 && bld) {
			error = git_treebuilder_insert(NULL, bld, name, &id,
			                               git_tree_entry_filemode(te));
			if (error < 0)
				r = store_error_git(error, "cannot add \"%s\" to the merge tree",
				                    u->path);
		}
		u->path[len] = '\0';
	}
	if (r == 0 && !bld) {
		git_oid_cpy(out, git_tree_id(theirs));
	} else if (r == 0) {
		if ((error = git_treebuilder_write(out, bld)) < 0)
			r = store_error_git(error, "cannot write tree \"%s\"", u->path);
		else
			r = ids_add(u, out);
	}
	git_treebuilder_free(bld);
	return r;
}

/* Write the merge commit of `ours` and `theirs` (neither contains the other). */
static int merge_write(git_oid *out, ledger_repo *repo, git_commit *ours, git_commit *theirs,
                       const ledger_commit_options *opts, ledger_file_cb added, void *payload)
{
	const git_commit *parents[2] = { ours, theirs };
	struct union_walk *u = NULL;
	git_tree *to = NULL, *tt = NULL, *tree = NULL;
	char hex[GIT_OID_HEXSZ + 1], *message = NULL;
	git_oid tree_id;
	int r, error;

	if ((r = store_mempack_attach(repo)) < 0)
		return r;
	if (!(u = calloc(1, sizeof(*u)))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	u->repo = repo;
	u->on_added = added;
	u->payload = payload;
	if ((error = git_commit_tree(&to, ours)) < 0 || (error = git_commit_tree(&tt, theirs)) < 0) {
		r = store_error_git(error, "cannot read the trees to merge");
		goto done;
	}
	if ((r = tree_union(&tree_id, u, to, tt, 0)) < 0)
		goto done;
	if ((error = git_tree_lookup(&tree, repo->git, &tree_id)) < 0) {
		r = store_error_git(error, "cannot read the merge tree");
		goto done;
	}
	git_oid_tostr(hex, sizeof(hex), git_commit_id(theirs));
	if (asprintf(&message, "merge: %zu records from %.*s\n\n", u->added, UNION_SHORT_LEN,
	             hex) < 0) {
		message = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = store_commit_write(out, repo, tree, parents, 2, message, opts)) < 0 ||
	    (r = ids_add(u, out)) < 0 ||
	    (r = store_pack_write(repo, u->ids, u->count)) < 0)
		goto done;
	r = 0;
done:
	/* On disk now, or given up: either way nothing may stay behind in memory. */
	git_mempack_reset(repo->mempack);
	/*
	 * The walk mapped windows of every pack it read trees from: the
	 * verification that follows would start near the limit of mapped pack
	 * data and unmap and map again nearly every read (libgit2's LRU).
	 */
	if (r == 0)
		r = store_odb_fresh(repo);
	free(message);
	git_tree_free(tree);
	git_tree_free(tt);
	git_tree_free(to);
	if (u)
		free(u->ids);
	free(u);
	return r;
}

int store_union_listed(char out[LEDGER_OID_HEX_LEN + 1], int *listed, ledger_repo *repo,
                       const char *ours, const char *theirs, const ledger_commit_options *opts,
                       ledger_file_cb added, void *payload)
{
	git_commit *co = NULL, *ct = NULL;
	git_oid id;
	int r, error;

	*listed = 0;
	if (!ours || !theirs)
		return ledger_error_set(LEDGER_EINVALID, "no commits to merge given");
	if ((r = store_commit_options_check(opts, 0)) < 0)
		return r;
	if ((r = store_lookup_commit(&co, repo, ours)) < 0 ||
	    (r = store_lookup_commit(&ct, repo, theirs)) < 0)
		goto done;
	if (git_oid_equal(git_commit_id(co), git_commit_id(ct))) {
		git_oid_cpy(&id, git_commit_id(co));
		*listed = 1; /* nothing added */
	} else if ((error = git_graph_descendant_of(repo->git, git_commit_id(co),
	                                            git_commit_id(ct))) == 1) {
		git_oid_cpy(&id, git_commit_id(co));
		*listed = 1;
	} else if (error == 0 && (error = git_graph_descendant_of(repo->git, git_commit_id(ct),
	                                                          git_commit_id(co))) == 1) {
		git_oid_cpy(&id, git_commit_id(ct));
	} else if (error == 0) {
		if ((r = merge_write(&id, repo, co, ct, opts, added, payload)) < 0)
			goto done;
		*listed = added != NULL;
	} else {
		r = store_error_git(error, "cannot compare \"%s\" and \"%s\"", ours, theirs);
		goto done;
	}
	git_oid_tostr(out, LEDGER_OID_HEX_LEN + 1, &id);
	r = 0;
done:
	if (r < 0)
		ledger_error_prefix("cannot merge \"%s\" into \"%s\"", theirs, ours);
	git_commit_free(ct);
	git_commit_free(co);
	return r;
}

void store_union_map_widen(size_t *saved)
{
	*saved = 0;
	if (sizeof(size_t) < 8 ||
	    git_libgit2_opts(GIT_OPT_GET_MWINDOW_MAPPED_LIMIT, saved) < 0 ||
	    *saved >= STORE_UNION_MAPPED_LIMIT) {
		*saved = 0;
		return;
	}
	if (git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, STORE_UNION_MAPPED_LIMIT) < 0)
		*saved = 0;
}

void store_union_map_restore(size_t saved)
{
	if (saved)
		git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, saved);
}

int ledger_repo_union(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo, const char *ours,
                      const char *theirs, const ledger_commit_options *opts)
{
	int listed;

	return store_union_listed(out, &listed, repo, ours, theirs, opts, NULL, NULL);
}
