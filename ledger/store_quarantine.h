/*
 * Private: quarantines for incoming objects (bundle.c, node.c,
 * node_sync.c, store_transfer.c).  A quarantine is a bare repository under
 * <git dir>/cymat/<prefix><pid>-XXXXXX whose objects/info/alternates names
 * the ledger's object store: opened as a ledger it sees both, and whatever
 * is written through it (a fetched pack, a bundle's, a union's merge
 * commit) lands in its own objects/.  Only work that is accepted moves into
 * the ledger (store_quarantine_migrate); the rest goes with the directory.
 * Nothing in a quarantine is referenced, so one left by a killed process
 * is removed by the next store_quarantine_make of any process.
 */
#ifndef LEDGER_STORE_QUARANTINE_H
#define LEDGER_STORE_QUARANTINE_H

#include "ledger/store.h"
#include "ledger/sync.h"

#define QUARANTINE_IMPORT "import-"     /* a bundle import's */
#define QUARANTINE_INCOMING "incoming-" /* a fetch's, or an intake's union */

/*
 * Make a quarantine of `repo` (first removing those whose process is
 * gone); *out is its path (malloc'd).  The ledger's verification cache is
 * linked into it, so that a verification there reads only what is new; it
 * must load it with cache_readonly, since a save there could append to
 * the ledger's own file through the link.
 */
int store_quarantine_make(char **out, ledger_repo *repo, const char *prefix);

/* The quarantine as a ledger, pinned to the ledger's root when it has one. */
int store_quarantine_open(ledger_repo **out, ledger_repo *repo, const char *qdir);

/*
 * Move the quarantine's objects into the ledger's object store, durably:
 * each pack before its index (git and libgit2 find a pack by its index),
 * loose objects into their fan-out directories.  Both were synced when
 * written.  Safe to call again: what was moved is no longer there.
 */
int store_quarantine_migrate(ledger_repo *repo, const char *qdir);

/*
 * Whether the objects that came into the quarantine `qrepo` (its packs)
 * fit a ledger: a commit of more than 8 MiB or a tree of more than 16 MiB
 * is error `code`, naming it, before anything reads it whole (a zip bomb of
 * a commit message or a directory inflates a thousandfold).
 */
int store_quarantine_bounds(ledger_repo *qrepo, int code);

/*
 * The same bound on what a push brought, inside git receive-pack's own
 * quarantine ($GIT_QUARANTINE_PATH, set for the pre-receive hook):
 * LEDGER_EINVALID naming the object; 0 when there is no quarantine.
 */
int store_receive_bounds(ledger_repo *repo);

/*
 * Before a fetch or an import (`what`, for the message: "fetch",
 * "import"): LEDGER_EIO, naming the path, the free space and the floor,
 * when the file system holding the ledger has less free space (for
 * unprivileged users) than the floor: the git config STORE_SPACE_FLOOR_KEY
 * of the ledger (bytes, or a number with k, m, g or t; 0: none), by
 * default twice the size of the ledger's packs and at least 256 MiB, so
 * that what comes in cannot leave the ledger no room to append and pack.
 */
#define STORE_SPACE_FLOOR_KEY "cymat.minFreeSpace"
int store_space_check(ledger_repo *repo, const char *what);

/* Remove the quarantine and everything in it (NULL-safe). */
void store_quarantine_remove(const char *qdir);

/*
 * Fetch `remote_ref` of `url` as ledger_remote_fetch does, but into the
 * quarantine `qrepo` of `repo` (the transfer child writes there and
 * nowhere else), and move no ref: *out is the fetched commit, which
 * `qrepo` holds.
 */
int store_fetch_quarantined(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo,
                            ledger_repo *qrepo, const char *url, const char *remote_ref,
                            const ledger_transfer_limits *limits);

/* Point `local_ref` (under refs/cymat/) at `commit`, which the ledger holds. */
int store_fetch_ref_set(ledger_repo *repo, const char *local_ref, const char *commit);

#endif
