/*
 * Moving ledgers between nodes: transfers with a remote git server under a
 * deadline and size caps, union merges, and the ref updates that make them
 * visible.  The transport is untrusted: nothing fetched reaches
 * refs/heads/main before it has been verified.
 */
#ifndef LEDGER_SYNC_H
#define LEDGER_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include "ledger/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on one transfer: a server that trickles or streams without end is cut off. */
typedef struct {
	unsigned int version;
	unsigned int deadline_s;  /* the whole transfer, connection included; 0: 300 */
	uint64_t max_bytes;       /* bytes received (fetch) or sent (push); 0: 1 GiB */
	uint64_t max_objects;     /* objects received or sent; 0: 5,000,000 */
} ledger_transfer_limits;

#define LEDGER_TRANSFER_LIMITS_VERSION 1
#define LEDGER_TRANSFER_LIMITS_INIT { LEDGER_TRANSFER_LIMITS_VERSION, 0, 0, 0 }

/*
 * Fetch `remote_ref` from the git server at `url` (git://, http(s)://, a
 * path or file://) and point the local ref `local_ref` (under refs/cymat/)
 * at it; `out` is the fetched commit.  refs/heads/main is never touched.
 * The transfer runs in a child process that is killed at the deadline;
 * crossing a cap stops it.  LEDGER_ENOTFOUND when the remote has no such
 * ref, LEDGER_ETIMEOUT at the deadline, LEDGER_ELIMIT at a cap,
 * LEDGER_ENETWORK when the server cannot be reached or the transfer broke.
 * The child writes into a quarantine directory of its own, which a failed
 * fetch removes; the objects received are moved into the ledger and
 * fsynced before the ref moves.
 */
int ledger_remote_fetch(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo, const char *url,
                        const char *remote_ref, const char *local_ref,
                        const ledger_transfer_limits *limits);

/*
 * Push local commit `commit` to `remote_ref` at `url`, fast-forward only.
 * LEDGER_ECONFLICT when the server refuses (not a fast-forward, or its hook
 * said no: the server's message is in the error), other codes as for fetch.
 */
int ledger_remote_push(ledger_repo *repo, const char *url, const char *commit,
                       const char *remote_ref, const ledger_transfer_limits *limits);

/*
 * The union of `ours` and `theirs` (FORMAT.md section 5) as a commit:
 * `ours` when `theirs` is already contained in it, `theirs` when `ours` is
 * one of its ancestors (fast-forward), otherwise a new merge commit with
 * parents ours then theirs, whose tree is the union of theirs, signed as
 * `opts` says (the node key).  opts->message is not used: a merge's
 * message is "merge: <n> records from <theirs>" (docs/FORMAT.md).  Two
 * different blobs at one path are LEDGER_ECONFLICT naming the path.  The
 * new objects are durable when it returns; no ref moves.
 */
int ledger_repo_union(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo, const char *ours,
                      const char *theirs, const ledger_commit_options *opts);

/*
 * Move `ref` from `expected` (NULL: the ref must not exist) to `target`,
 * under the ledger lock, by compare-and-swap, durably.  For
 * refs/heads/main, `target` must contain `expected` (the set of records only
 * grows).  LEDGER_ECONFLICT when the ref moved meanwhile.
 */
int ledger_repo_update_ref(ledger_repo *repo, const char *ref, const char *expected,
                           const char *target);

/*
 * Delete `ref` if it still points at `expected`, under the ledger lock (not
 * fsynced: callers delete what they can tell is stale again).
 * refs/heads/main is never deleted.  LEDGER_ENOTFOUND when it does
 * not exist, LEDGER_ECONFLICT when it moved.
 */
int ledger_repo_delete_ref(ledger_repo *repo, const char *ref, const char *expected);

/* The commit a ref points at; LEDGER_ENOTFOUND when it does not exist. */
int ledger_repo_ref(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo, const char *ref);

/* Called per ref matching a prefix ("refs/inbox/"); return non-zero to stop. */
typedef int (*ledger_ref_cb)(const char *ref, const char *commit, void *payload);

int ledger_repo_foreach_ref(ledger_repo *repo, const char *prefix, ledger_ref_cb cb,
                            void *payload);

#ifdef __cplusplus
}
#endif

#endif
