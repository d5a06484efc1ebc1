/*
 * Private: reading record files in the order the commits added them, so
 * that a record comes after the principal record that binds its key (an
 * append is judged against the ledger before it), and each append's own
 * pack is read in its order.  Verification notes the order while it walks
 * the history, then reads in it.
 */
#ifndef LEDGER_STORE_ORDER_H
#define LEDGER_STORE_ORDER_H

#include <stddef.h>

#include "ledger/store.h"
#include "idmap.h"

/* Blob id (zero-padded to 32 bytes) -> rank in the order the commits added it. */
typedef struct {
	idmap ranks;
	size_t next;
} store_order;

void store_order_init(store_order *order);
void store_order_release(store_order *order);

/*
 * ledger_repo_check_history, also noting in `order` every file a commit
 * adds under records/, oldest commit first.
 */
int store_check_history_ordered(ledger_repo *repo, const char *from, const char *to,
                                ledger_change_cb cb, void *payload, store_order *order);

/* A file, with `rank` its place in path order (ledger_repo_foreach_added's order). */
typedef int (*store_file_cb)(size_t rank, const char *path, const char *data, size_t len,
                             void *payload);

/*
 * The files ledger_repo_foreach_added gives, read in the order `order`
 * noted; files it did not note come last, in path order.
 */
int store_foreach_added_ordered(ledger_repo *repo, const char *from, const char *to,
                                const store_order *order, store_file_cb cb, void *payload);

/*
 * The paths ledger_repo_foreach_added gives, without reading the files:
 * `cb` gets NULL data and length 0.  For a caller that only lists them.
 */
int store_foreach_added_path(ledger_repo *repo, const char *from, const char *to,
                             ledger_file_cb cb, void *payload);

#endif
