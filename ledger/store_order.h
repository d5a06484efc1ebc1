/*
 * Private: reading record files in the order the commits added them, so
 * that a record comes after the principal record that binds its key (an
 * append is judged against the ledger before it), and each append's own
 * pack is read in its order.  The history check notes the order on a
 * thread of its own while the files are read in it.
 */
#ifndef LEDGER_STORE_ORDER_H
#define LEDGER_STORE_ORDER_H

#include <stddef.h>

#include "ledger/store.h"

/* A file, with `rank` its place in path order (ledger_repo_foreach_added's order). */
typedef int (*store_file_cb)(size_t rank, const char *path, const char *data, size_t len,
                             void *payload);

/* What store_check_and_read calls. */
typedef struct {
	/* A finding of the history check: called on the check's own thread. */
	ledger_change_cb change;
	void *change_payload;
	/* Once, with the number of files to come, before the first of them. */
	int (*count)(size_t files, void *payload);
	/* Each file; `count` and `file` are called on the caller's thread. */
	store_file_cb file;
	void *payload;
	/*
	 * Both or neither: a check of the whole history (`from` NULL) may then
	 * give the files from its notes, sparing the walk of the tip's trees.
	 * Such files come before `count` (which then says how many are still
	 * to come), each with the place it came in as its rank, and once the
	 * check proved its notes the tip's files, `rerank` gives their places
	 * in path order: ranks[k] for the file that came with rank k.  When it
	 * cannot, `reset` is called: the caller forgets every file given so far,
	 * and they come again, listed as without these.
	 */
	int (*rerank)(const size_t *ranks, size_t files, void *payload);
	int (*reset)(void *payload);
} store_check_read_cbs;

/*
 * ledger_repo_check_history from `from` (NULL: from the start) to `to`,
 * on a thread of its own, while this thread reads the files
 * ledger_repo_foreach_added gives, in the order the commits added them
 * (files no commit of the range added, such as a merge's, last in path
 * order).  The history check's error comes first: reading stops when it
 * fails, and the check stops when reading does.
 */
int store_check_and_read(ledger_repo *repo, const char *from, const char *to,
                         const store_check_read_cbs *cbs);

/*
 * The paths ledger_repo_foreach_added gives, without reading the files:
 * `cb` gets NULL data and length 0.  For a caller that only lists them.
 */
int store_foreach_added_path(ledger_repo *repo, const char *from, const char *to,
                             ledger_file_cb cb, void *payload);

/*
 * The finding code and message of a change the history check reports, as
 * the verifier and the refusal of incoming work both word it.
 */
void store_change_describe(ledger_change_kind kind, const char **code, const char **what);

#endif
