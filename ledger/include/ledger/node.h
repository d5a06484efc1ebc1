/*
 * A node's side of sync: what an agency node does with each remote (fetch,
 * verify, merge, push), what NISC's master does with the inboxes agencies
 * push to it (verify, merge, sign a receipt), the master's checkpoints, and
 * the per-remote status file an operator reads.
 *
 * Incoming work is judged the same way everywhere: with F the incoming
 * commit and M the local main, U = the union of M and F (a merge commit
 * signed by the node key); U is verified; if the verifier reports an error
 * finding of a FORMAT-* rule about a record or commit that is new (in U, not
 * in M), F is refused and main is left alone; otherwise main moves from M to
 * U by compare-and-swap (when the CLI appended meanwhile, the union is
 * recomputed and judged again).  Findings of DOMAIN rules never refuse a
 * merge: such records stay in the ledger as evidence.
 *
 * None of these functions prints; they are safe to call while `cymat`
 * appends to the same ledger.
 */
#ifndef LEDGER_NODE_H
#define LEDGER_NODE_H

#include <stddef.h>
#include <stdint.h>
#include "ledger/crypto.h"
#include "ledger/record.h"
#include "ledger/store.h"
#include "ledger/sync.h"
#include "ledger/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	LEDGER_REMOTE_MASTER = 1, /* NISC's master: fetch its main, push ours to its refs/inbox/<agency> */
	LEDGER_REMOTE_PEER = 2    /* another node: fetch its main and merge only */
} ledger_remote_role;

/* Longest remote name; names match [a-z0-9_-]{1,32}. */
#define LEDGER_REMOTE_NAME_MAX 32

typedef struct {
	/*
	 * [a-z0-9_-]{1,32}: names the local ref of its fetched main,
	 * refs/cymat/remotes/<name>/main, the ref of what was last pushed to it,
	 * refs/cymat/pushed/<name>, and its status file.
	 */
	const char *name;
	const char *url;          /* git://, http(s)://, file:// or a path */
	ledger_remote_role role;
} ledger_remote;

typedef struct {
	unsigned int version;
	/* This node's agency ([a-z][a-z0-9-]{1,31}): the master's inbox is refs/inbox/<agency>. */
	const char *agency;
	/* The node key: signs merge commits, receipts and checkpoints. */
	const ledger_key *node_key;
	/* The principal ("<agency>/<name>", role node) node_key is bound to. */
	const char *node_principal;
	ledger_transfer_limits limits; /* each fetch and each push */
} ledger_sync_options;

#define LEDGER_SYNC_OPTIONS_VERSION 1
#define LEDGER_SYNC_OPTIONS_INIT \
	{ LEDGER_SYNC_OPTIONS_VERSION, NULL, NULL, NULL, LEDGER_TRANSFER_LIMITS_INIT }

/* What one sync with a remote did.  The hex strings are "" for what did not happen. */
typedef struct {
	char fetched[LEDGER_OID_HEX_LEN + 1]; /* the remote's main as fetched */
	char merged[LEDGER_OID_HEX_LEN + 1];  /* local main after the merge (unchanged: as before) */
	char pushed[LEDGER_OID_HEX_LEN + 1];  /* the commit pushed to the master's inbox */
	size_t new_records;                   /* records the merge brought into local main */
	/*
	 * When the fetched main was refused: the error findings (FORMAT-*
	 * rules) about its new records and commits, owned by the result; else NULL.
	 */
	ledger_report *refused;
} ledger_sync_result;

/*
 * One sync with one remote (agency or peer mode): fetch the remote's
 * refs/heads/main into a quarantine, judge and merge it into local main as
 * described above (only then do its objects reach the ledger and
 * refs/cymat/remotes/<name>/main move to it: a refused main leaves nothing); for a master, then push local main to
 * the master's refs/inbox/<agency> (fast-forward) and point
 * refs/cymat/pushed/<name> at what was pushed.  A remote without a main yet
 * is not an error (nothing to merge).  A refused fetch does not stop the
 * push: our own records still reach the master.
 *
 * The remote's status file is updated: last_attempt always; fetched and
 * pushed as they happen; on success last_success and failures reset to 0;
 * on failure failures + 1, last_error_time and last_error.  next_attempt is
 * kept as found: backoff is the caller's to schedule.
 *
 * Returns 0 when everything the role asks for was done.  LEDGER_EINVALID
 * when the fetched main was refused: the message names the first record or
 * commit and its finding, and out->refused holds them all (NULL when the
 * union itself failed: two files at one path); LEDGER_ECONFLICT when
 * the master refused the push (its message is in the error);
 * LEDGER_ETIMEOUT, LEDGER_ELIMIT or LEDGER_ENETWORK from the transfers;
 * other codes as usual.  `out` is filled as far as the sync went; clear it
 * with ledger_sync_result_clear.
 */
int ledger_sync_remote(ledger_sync_result *out, ledger_repo *repo, const ledger_remote *remote,
                       const ledger_sync_options *opts);

/* Free what a result holds and zero it (NULL-safe). */
void ledger_sync_result_clear(ledger_sync_result *result);

/*
 * Master mode (NISC).  What the intake made of one inbox, for the callback:
 * valid during the call only.
 */
typedef struct {
	const char *inbox;   /* the agency: refs/inbox/<inbox> */
	const char *commit;  /* the inbox's commit that was judged */
	/*
	 * 0: accepted and merged.  LEDGER_EINVALID: refused, on its findings
	 * (`refused`) or because it cannot be merged (two files at one path);
	 * other codes: it could not be judged (I/O, ...).  Main is unchanged by
	 * a refused inbox; an inbox that failed after its merge (appending the
	 * receipt) has `merged` set and gets its receipt at a later intake.
	 */
	int error;
	const char *message;        /* when error: one line naming the record or commit and why */
	const ledger_report *refused; /* when refused on findings: the FORMAT-* errors; else NULL */
	const char *merged;         /* main after the merge (and the receipt); "" when not merged */
	const char *receipt;        /* the receipt record's id; "" when none was appended */
	size_t accepted;            /* records the inbox brought into main */
} ledger_intake_event;

typedef void (*ledger_intake_cb)(const ledger_intake_event *event, void *payload);

/* Totals of one intake pass. */
typedef struct {
	size_t inboxes;  /* inboxes found under refs/inbox/ */
	size_t merged;   /* inboxes merged */
	size_t refused;  /* inboxes refused or failed */
	size_t records;  /* records brought into main */
} ledger_intake_result;

/*
 * For each refs/inbox/<agency> not contained in main, in ref-name order:
 * judge and merge it as described above, then append a signed `receipt`
 * record (schemas/receipt.schema.json) by the node key naming the inbox,
 * the commit judged, the ids of the records it brought into main and the
 * counts, by severity, of the findings about those records (the verifier's
 * and the DOMAIN rules'); past 8192 records, one receipt per 8192 in the
 * same commit.  An inbox that brings commits but no new records (a node's
 * merge of what it fetched from here) is merged without a receipt.  An
 * inbox already contained in main is skipped and gets no new receipt, so a
 * second intake with nothing new does nothing.  A refused inbox gets no
 * receipt and is judged again at the next intake.  Receipts are idempotent:
 * from before a merge until its receipt is appended,
 * refs/cymat/receipt-due/<agency>/<inbox commit> names main before the
 * merge; each intake first issues the receipt of every such inbox commit
 * that main contains, that brought records and that no receipt names (a
 * crash after the merge, a refused receipt append), with an event like a
 * merge's, and deletes the refs that are answered or stale.  `cb` (may be NULL) hears of every inbox judged; `out` may be NULL.
 *
 * Returns 0 when every inbox was judged, whatever the verdicts; a negative
 * code when the pass could not run, or the first error that was not a
 * verdict (a failed inbox does not stop the others).
 */
int ledger_master_intake(ledger_intake_result *out, ledger_repo *repo,
                         const ledger_sync_options *opts, ledger_intake_cb cb, void *payload);

/*
 * Append a signed `checkpoint` record (schemas/checkpoint.schema.json) by
 * the node key: the tip of main and how many records it holds.  `id` gets
 * the record's id.  (The checkpoint itself lands in the commit after the
 * one it names.)
 */
int ledger_master_checkpoint(char id[LEDGER_HEX_ID_LEN + 1], ledger_repo *repo,
                             const ledger_sync_options *opts);

/*
 * What a node knows about its syncs with one remote, kept in
 * <gitdir>/cymat/sync/<remote>.json (FORMAT.md).  Times are seconds since
 * the epoch, 0 for never; hex strings "" for none.
 */
typedef struct {
	char remote[LEDGER_REMOTE_NAME_MAX + 1];
	int64_t last_attempt;
	int64_t last_success;
	int64_t last_error_time;
	int64_t next_attempt;   /* when the caller's backoff allows the next try */
	unsigned int failures;  /* consecutive failed attempts */
	char last_error[256];   /* the last failure's message (kept after a success); "" for none */
	char fetched[LEDGER_OID_HEX_LEN + 1]; /* the remote's main as last fetched */
	char pushed[LEDGER_OID_HEX_LEN + 1];  /* what was last pushed to it */
} ledger_sync_status;

/*
 * Read the status of `remote`.  LEDGER_ENOTFOUND when there is none yet
 * (out is then zeroed with its name set); LEDGER_EINVALID for a bad name
 * or a damaged file.
 */
int ledger_sync_status_load(ledger_sync_status *out, ledger_repo *repo, const char *remote);

/*
 * Write the status of status->remote atomically: a temporary file, fsync,
 * rename over the old one, fsync of the directory.  A reader sees the old
 * status or the new, never a mix.
 */
int ledger_sync_status_save(ledger_repo *repo, const ledger_sync_status *status);

#ifdef __cplusplus
}
#endif

#endif
