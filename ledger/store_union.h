/* Private: a union merge that also lists the files it adds (node.c). */
#ifndef LEDGER_STORE_UNION_H
#define LEDGER_STORE_UNION_H

#include "ledger/store.h"
#include "ledger/sync.h"

/*
 * ledger_repo_union, also handing `added` the path of each file the union
 * adds to `ours`, as ledger_repo_foreach_added(ours, union) would list them
 * (NULL data, length 0: the files are not read).  The merge walks the two
 * trees anyway: listing there spares a second walk of every directory where
 * they differ.  *listed is 1 when every such file went to `added` (none
 * when the union is `ours`); 0 when the union is `theirs` itself, a
 * fast-forward whose files were not walked, or `added` is NULL.
 */
int store_union_listed(char out[LEDGER_OID_HEX_LEN + 1], int *listed, ledger_repo *repo,
                       const char *ours, const char *theirs, const ledger_commit_options *opts,
                       ledger_file_cb added, void *payload);

/*
 * The bound on mapped pack data (store.c: 256 MiB) raised to
 * STORE_UNION_MAPPED_LIMIT for a merge and the verification of the union,
 * which read trees of every pack; the bound before into *saved, for
 * store_union_map_restore.
 */
void store_union_map_widen(size_t *saved);
void store_union_map_restore(size_t saved);

#endif
