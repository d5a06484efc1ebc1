/* Private: what incoming work may add, checked before it is verified (node.c, bundle.c, receive.c). */
#ifndef LEDGER_STORE_INCOMING_H
#define LEDGER_STORE_INCOMING_H

#include "ledger/verify.h"
#include "ledger/store.h"
#include "idmap.h"

/*
 * Walk the files `tip` holds and `base` does not hold as it is (both
 * commits of `repo`) and refuse, at the first, a path that is not
 * records/<id[0:2]>/<id[2:4]>/<id>.json (or a new top-level LEDGER), a
 * file that is not a regular non-executable one, and a blob that two such
 * paths name: LEDGER_EINVALID, the message "file \"<path>\": <rule>
 * <code>: <why>", and *refused a report of that one finding (else NULL).
 * Then the history of base..tip (ledger_repo_check_history) stops at its
 * first finding (the verifier's, naming the record or the commit): files
 * that a commit adds and a later one deletes are not in the tip's tree.  Every
 * file that passes costs the sender an object of its own, so the
 * verifier's work on what comes in is bounded by the transfer caps on
 * objects (review 7 #2: one tree entry naming one blob cost ~1 KB each).
 */
int store_incoming_check(ledger_report **refused, ledger_repo *repo, const char *base,
                         const char *tip);

/*
 * The commits of base..tip (base NULL: all of tip's): each id in `commits`
 * (git's 20 bytes, zero-padded to 32), and in `refusals` an error
 * (FORMAT-4 commit-record-trailers, naming the commit) for each one but a
 * merge whose "Record: <id>" trailers do not name each record it adds once
 * and nothing else.  For report_refusals, after the verification: each
 * commit costs a lookup and a walk of the trees it changed, stopped once
 * it adds more records than its trailers name.
 */
int store_incoming_commits(ledger_report *refusals, idmap *commits, ledger_repo *repo,
                           const char *base, const char *tip);

#endif
