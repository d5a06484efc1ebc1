/* Private to the sync code (node.c, node_sync.c, sync_status.c): exports nothing. */
#ifndef LEDGER_SYNC_INTERNAL_H
#define LEDGER_SYNC_INTERNAL_H

#include "ledger/node.h"
#include "ledger/trust.h"

#define INBOX_PREFIX "refs/inbox/"
/* Retries when main moves (the CLI appended) between a union and its ref update. */
#define MERGE_ATTEMPTS 16

/* 0 when `name` is a remote name ([a-z0-9_-]{1,32}), else LEDGER_EINVALID with a message. */
int node_remote_name_check(const char *name);

/* An agency id as FORMAT.md has it: [a-z][a-z0-9-]{1,31}. */
int node_agency_ok(const char *s);

/* The options carry a node key and its principal; LEDGER_EINVALID otherwise. */
int node_check_options(const ledger_sync_options *opts);

/* Ids of records, sorted (path order is id order). */
struct idset {
	char (*ids)[LEDGER_HEX_ID_LEN + 1];
	size_t count, capacity;
};

/* What merging one incoming commit did. */
struct merge_outcome {
	char before[LEDGER_OID_HEX_LEN + 1]; /* main the union was built on */
	char after[LEDGER_OID_HEX_LEN + 1];  /* main now */
	struct idset added;                  /* records new to main */
	ledger_report *refused;              /* FORMAT-* errors that refused it */
	int remote_fault;                    /* refused for what it holds (not a local error) */
	ledger_state *state;                 /* main's state after the merge, when loaded */
};

/*
 * Judge `incoming` by its union with main and move main to that union when
 * no FORMAT-* error is about anything new (node.h).  The union is made and
 * judged in the quarantine `qrepo` of `repo` (store_quarantine.h: where a
 * fetch put `incoming`), or in one of its own when NULL; only an accepted
 * union's objects move into the ledger, before main moves.  `what` names
 * the source in messages ("inbox \"moj\"").  cache_readonly: do not save
 * the verification cache (it is saved only once main is the union).
 * LEDGER_EINVALID when refused: on findings (out->refused; the message
 * names the first), or because the union failed (two files at one path);
 * out->remote_fault is then 1.  Other errors (LEDGER_EINVALID too, for a
 * setting of this node such as a bad cymat.root) leave it 0.
 * When `incoming` is already in main, nothing changes and out->added is
 * empty.
 */
int node_merge_incoming(struct merge_outcome *out, ledger_repo *repo, ledger_repo *qrepo,
                        const char *incoming, const char *what,
                        const ledger_sync_options *opts, int cache_readonly);

void node_merge_outcome_clear(struct merge_outcome *m);

#endif
