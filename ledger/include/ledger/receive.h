/*
 * Judging what arrives at NISC's master before it is accepted: the ref
 * rules of a push (FORMAT.md section 4: agencies write refs/inbox/<agency>,
 * fast-forward only) and which findings of a verification refuse new work.
 */
#ifndef LEDGER_RECEIVE_H
#define LEDGER_RECEIVE_H

#include "ledger/store.h"
#include "ledger/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LEDGER_INBOX_PREFIX "refs/inbox/"

/*
 * The findings of `report` (a verification of a commit meant to join the
 * ledger whose main is `base`) that refuse that commit: errors of a FORMAT
 * rule about what `base` lacks, that is about a commit not reachable from
 * base, a record file base does not hold with the same bytes, or about
 * neither (the commit as a whole); then, as errors, the warnings
 * commit-unsigned, commit-unknown-signer and commit-compromised-signer
 * about a commit not reachable from base, and commit-record-trailers
 * (FORMAT-4) for each such commit but a merge whose "Record: <id>"
 * trailers do not name exactly the records it adds; and every record file base holds with other bytes
 * (record-conflict, FORMAT-5: the union would have two contents at one
 * path).  DOMAIN rule findings, other warnings and pending records never
 * refuse: records stay as evidence.  *out is a new report (empty: nothing
 * refuses).
 */
int ledger_report_refusals(ledger_report **out, ledger_repo *repo, const ledger_report *report,
                           const char *base);

/*
 * Judge one ref update of a push to the master, as git hands it to a
 * pre-receive hook: `ref` from `old_id` to `new_id` (40 zeros: absent).
 * `repo` is opened with ledger_repo_open_env inside receive-pack's
 * quarantine.  *out lists every reason to refuse (empty: accept):
 *   - a write outside refs/inbox/<agency>, refs/heads/main included;
 *   - an inbox deleted, set to other than a commit, or moved other than by
 *     a fast-forward;
 *   - a new inbox past the cap (ledger_receive_judge_as);
 *   - ledger_report_refusals of the verification of new_id over main:
 *     malformed, non-canonical, unsigned, forged or unknown-key records,
 *     record files changed or deleted, foreign files; new commits unsigned,
 *     of an unknown signer, or with trailers that do not name what they add.
 * The verification reads the cache but never writes it, and trusts the
 * root pinned in cymat.root, else the one main's LEDGER file names (never
 * one the push brings).
 */
int ledger_receive_judge(ledger_report **out, ledger_repo *repo, const char *ref,
                         const char *old_id, const char *new_id);

/* Inboxes a master takes unless git config cymat.maxInboxes says otherwise. */
#define LEDGER_RECEIVE_MAX_INBOXES 256

/*
 * ledger_receive_judge for a pusher `user` (REMOTE_USER of git
 * http-backend; NULL or "": unknown, and not bound).  Also refused:
 *   - when git config cymat.inboxBinding is true and `user` is known, an
 *     update of refs/inbox/<agency> unless cymat.inboxUser.<agency> is
 *     `user` (inbox-not-pusher);
 *   - a new inbox when refs/inbox/ already holds cymat.maxInboxes
 *     (default LEDGER_RECEIVE_MAX_INBOXES) (too-many-inboxes).
 */
int ledger_receive_judge_as(ledger_report **out, ledger_repo *repo, const char *ref,
                            const char *old_id, const char *new_id, const char *user);

#ifdef __cplusplus
}
#endif

#endif
