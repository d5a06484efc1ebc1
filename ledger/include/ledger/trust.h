/*
 * The ledger's state: every record with its verdict, the keys bound to
 * principals over time, the per-key chains.  Loading it verifies the ledger
 * (incrementally when the cache allows) and yields the report.
 */
#ifndef LEDGER_TRUST_H
#define LEDGER_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include "ledger/record.h"
#include "ledger/store.h"
#include "ledger/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ledger_state ledger_state;

/* Verify the ledger at the tip of main and return its state (report inside). */
int ledger_state_load(ledger_state **out, ledger_repo *repo, const ledger_verify_options *opts);

const ledger_report *ledger_state_report(const ledger_state *state);

/*
 * The last record in the chain of key `kid`: its seq and id.  *seq is 0 and
 * prev "" when the key has signed nothing yet.
 */
void ledger_state_chain_tip(int64_t *seq, char prev[LEDGER_HEX_ID_LEN + 1],
                            const ledger_state *state, const char *kid);

/*
 * The principal ("<agency>/<name>") key `kid` is bound to at `at` (seconds
 * since the epoch), or NULL when none.  Borrowed from the state.
 */
const char *ledger_state_key_principal(const ledger_state *state, const char *kid, int64_t at);

/*
 * Called per key by ledger_state_foreach_key: its principal, its kid (64
 * hex) and the X25519 sealing key its binding carries (raw, NULL when the
 * binding has none that decodes to 32 bytes).  Return non-zero to stop.
 */
typedef int (*ledger_state_key_cb)(const char *principal, const char *kid,
                                   const uint8_t *x25519, void *payload);

/*
 * Every key bound to a principal at `at` and not revoked then, each once,
 * with the binding ledger_state_key_principal would name; roots' keys
 * first, then in the order the bindings were judged.  Returns 0, or the
 * first non-zero value cb returned.
 */
int ledger_state_foreach_key(const ledger_state *state, int64_t at, ledger_state_key_cb cb,
                             void *payload);

/* Role check: does `principal` hold `role` at `at`? */
int ledger_state_has_role(const ledger_state *state, const char *principal, const char *role,
                          int64_t at);

/*
 * Judge a record that is not in the ledger yet as the verifier would once
 * appended: a new report (owned by the caller) with its findings, empty when
 * it would be valid.  Used by commands to refuse before they write.
 */
int ledger_state_judge(ledger_report **out, const ledger_state *state, const ledger_record *rec);

/*
 * The same for records to be appended together (one commit): each is
 * judged as the verifier would judge it once all of them are in the ledger
 * (a chain that runs through the batch has no gap, a reference to another
 * of them is found).  out[i] (a new report each, owned by the caller) gets
 * the findings about recs[i]; all NULL on error.
 */
int ledger_state_judge_batch(ledger_report **out, const ledger_state *state,
                             const ledger_record *const *recs, size_t count);

void ledger_state_free(ledger_state *state);

#ifdef __cplusplus
}
#endif

#endif
