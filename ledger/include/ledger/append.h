/*
 * Appending records: the one path by which new records enter a ledger.
 * Each record is built and signed with the caller's key, judged against the
 * ledger's state as the verifier would judge it once appended, an act of the
 * agreement (every DOMAIN.md record type but root, principal and revocation)
 * also by the agreement's rules (policy.h: ledger_policy_judge_batch, after
 * everything in the ledger), and then all of them are appended as one signed
 * commit, or none is.
 *
 * Appenders of one ledger are serialised by a lock file
 * (<gitdir>/cymat/append.lock, flock(2)) held from reading the signing key's
 * chain tip until the commit is on main: two processes signing with one key
 * would otherwise take the same seq, an equivocation.  The kernel drops the
 * lock when its holder dies, so a killed appender never blocks the next one.
 */
#ifndef LEDGER_APPEND_H
#define LEDGER_APPEND_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "ledger/crypto.h"
#include "ledger/record.h"
#include "ledger/store.h"
#include "ledger/trust.h"
#include "ledger/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One record to append: what the caller decides; author, seq, prev and kid come from the key. */
typedef struct {
	const char *type;
	json_t *body;         /* borrowed */
	json_t *refs;         /* borrowed; NULL: [] */
	const char *incident; /* NULL: absent */
	const char *class_;   /* NULL: "c1" */
	const char *time;     /* "YYYY-MM-DDTHH:MM:SSZ"; NULL: now (one "now" for the batch) */
	json_t *sealed;       /* borrowed; NULL: absent */
} ledger_new_record;

typedef struct {
	unsigned int version;
	/* "<agency>/<name>"; NULL: the principal the key is bound to at each record's time. */
	const char *author;
	/* The first record's seq and its prev (expert: rebuilding a chain); 0: next in the key's chain. */
	int64_t seq;
	const char *prev;
	/* Append even when the verifier or the rules refuse a record (expert, tests). */
	int no_judge;
	/* The commit subject's summary after "<type>: "; NULL: from the record(s). */
	const char *subject;
	/* How long to wait for another appender's lock, in milliseconds; 0: 120000. */
	unsigned int lock_wait_ms;
	/*
	 * (version 2) The caller's ledger_state_load of `repo` with default
	 * options (to seal, say), used when main is still at its tip once the
	 * lock is held; NULL, or main moved: the state is loaded again.
	 */
	const ledger_state *state;
} ledger_append_options;

#define LEDGER_APPEND_OPTIONS_VERSION 2
#define LEDGER_APPEND_OPTIONS_INIT { LEDGER_APPEND_OPTIONS_VERSION, NULL, 0, NULL, 0, NULL, 0, NULL }

/* What an append did, or why it wrote nothing. */
typedef struct {
	char commit[LEDGER_OID_HEX_LEN + 1]; /* the new tip of main ("" when nothing was written) */
	size_t count;             /* records built (the arrays below have count entries) */
	ledger_record **records;  /* the records, in the order given: ids, seqs, envelopes */
	/*
	 * The verifier's judgement of each record and, for an act, the rules'
	 * (NULL when not judged): empty when valid; a record with an error
	 * finding was refused, warnings (rule findings a human should look at)
	 * do not refuse it.
	 */
	ledger_report **reports;
	size_t refused;           /* records refused: nothing was written */
} ledger_append_result;

/*
 * Build, sign (with `key`) and judge each of `records` against the state of
 * `repo`'s main, then append them as one commit signed by `key`, whose
 * message follows FORMAT.md ("<type>: <summary>" or "batch: <n> records",
 * then a "Record: <id>" trailer per record) and whose author is the last
 * record's author with email "<kid>@cymat.invalid".  `opts` may be NULL.
 *
 * Returns 0 when the records are durably on main.  LEDGER_EINVALID with
 * out->refused > 0 when the judgement refused records (their findings are
 * in out->reports) or when the key is bound to no principal at a record's
 * time and no author was given (then out->refused is count and out->reports
 * NULL); nothing is written.  LEDGER_ELOCKED when another appender held the
 * lock past the wait; other codes from building, verifying and storing.
 * `out` is filled as far as the append went either way: clear it with
 * ledger_append_result_clear.  Never prints.
 */
int ledger_append(ledger_append_result *out, ledger_repo *repo, const ledger_key *key,
                  const ledger_new_record *records, size_t count,
                  const ledger_append_options *opts);

/* Free what an append result holds and zero it (NULL-safe, idempotent). */
void ledger_append_result_clear(ledger_append_result *result);

/*
 * The commit signer of ledger_commit_options for an Ed25519 key: SSHSIG
 * armour, namespace "git", sha512; `payload` is the (const) ledger_key.
 */
int ledger_key_commit_signer(char **out_armour, const char *buf, size_t len, void *payload);

/*
 * A one-line human summary of a record, as commit subjects and `cymat log`
 * show it: the body's "summary", "title" or "name", else its type and the
 * most telling member (malloc'd; NULL when out of memory).
 */
char *ledger_record_summary(const ledger_record *rec);

#ifdef __cplusplus
}
#endif

#endif
