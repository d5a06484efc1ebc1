/*
 * The CYMAT rules (DOMAIN.md): the policy engine and the state it derives.
 *
 * The engine takes every record the verifier found valid but the trust
 * records (root, principal, revocation: the verifier's), orders them
 * causally (a record after everything it names in `refs`, its `incident`
 * and the previous record of its key; otherwise by time, then, within one
 * second, by the place of its type in the agreement's course: agency,
 * appointment, withdrawal, nomination and registration, training
 * application, consent, request, dispatch, participation, activity, report,
 * share, opinion, consent withdrawal, closure, council report, any other
 * type; then by id), and judges each at its place in that order: roles,
 * appointments, quotas, consents and revocations are those in force then,
 * not today.  The result is a function of the record set alone, whatever
 * the commit or merge order.
 *
 * - A record whose references are not (yet) valid records is `pending`: not
 *   judged, no effect on derived state.
 * - A record that breaks an error-level rule stays in the ledger, is
 *   reported with the rule id (finding rule "R10.4", code a short slug) and
 *   has no effect on derived state.
 * - Warnings (a report after closure, two dispatches for one incident, a
 *   consent withdrawn after it was used, more field leaders than planned,
 *   ...) are conflicts a human should look at; the record still takes effect.
 *
 * Every JSON value returned is a new reference the caller owns; strings
 * and structs returned by pointer are borrowed from the policy.
 */
#ifndef LEDGER_POLICY_H
#define LEDGER_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "ledger/record.h"
#include "ledger/store.h"
#include "ledger/trust.h"
#include "ledger/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ledger_policy ledger_policy;

typedef struct {
	unsigned int version;
	/*
	 * "Now" for rules about elapsed time (R9.1), seconds since the epoch;
	 * 0: the latest record time in the ledger, so that the result stays a
	 * function of the record set.
	 */
	int64_t now;
	/* R9.1: days a withdrawn candidate or trainee may go without replacement; 0: 30. */
	unsigned int replacement_days;
	/*
	 * Version 2: read and update the policy cache, <git dir>/cymat/policy
	 * (1 by default, and for version 1 callers).  With it, a run judges
	 * only what came after the part of the ledger an earlier run judged
	 * (the records of its latest second, and pending records whose
	 * references arrived, are judged again); the result is the same as
	 * without it.
	 */
	int use_cache;
} ledger_policy_options;

#define LEDGER_POLICY_OPTIONS_VERSION 2
#define LEDGER_POLICY_OPTIONS_INIT { LEDGER_POLICY_OPTIONS_VERSION, 0, 30, 1 }

/* One rule of DOMAIN.md. */
typedef struct {
	const char *id;             /* "R10.4" */
	const char *function;       /* "rule_r10_4_request_route" */
	ledger_severity severity;   /* what breaking it costs the record (error: no effect) */
	const char *description;    /* one line, quoting DOMAIN.md */
} ledger_policy_rule;

/* The table of every rule, in DOMAIN.md order (static storage). */
const ledger_policy_rule *ledger_policy_rules(size_t *count);

/*
 * Judge every valid record of `state` (loaded from `repo`, whose record
 * bodies are read back from the store at the state's tip).  `opts` may be
 * NULL for the defaults.  The policy borrows `state`: free it first.
 */
int ledger_policy_evaluate(ledger_policy **out, const ledger_state *state, ledger_repo *repo,
                           const ledger_policy_options *opts);

/*
 * The rule findings, sorted like the verifier's (borrowed).  Severity
 * error: the record broke the rule and has no effect; warning: a conflict
 * for a human; pending: a record waiting for what it names.
 */
const ledger_report *ledger_policy_report(const ledger_policy *policy);

/*
 * What the engine made of one record: "valid" (took effect), "invalid"
 * (broke an error-level rule), "pending", or NULL when the record is not one
 * the engine judged (unknown id, a trust record, a record the verifier refused).
 */
const char *ledger_policy_record_status(const ledger_policy *policy, const char *id);

/*
 * How many records this run judged; the others were judged by an earlier
 * run and taken from the policy cache.
 */
size_t ledger_policy_judged(const ledger_policy *policy);

/*
 * Incidents at a glance, for `status`: an array, oldest first, of
 * {"id", "state" (requested|dispatched|reporting|closed), "basis",
 *  "route" (normal|emergency, "pre_request" for 11.2), "requested_by"
 *  (agency; null for 11.2), "on_behalf_of" (the IAA or stakeholder for
 *  10.2/10.3, absent for 10.1), "affected", "opened" (time), "updated"
 *  (time), "dispatches", "reports", "findings" (count), "closure" (the
 *  closure's id, once closed), "cabinet_emergency" (true once a report
 *  carried the R13.3 flag)}.
 * Pending incidents (an opening record waiting for its references) are
 * listed with state "pending".
 */
json_t *ledger_policy_incidents(const ledger_policy *policy);

/*
 * One incident, for `incident show`: the object of ledger_policy_incidents
 * plus "timeline" (every record of the incident in causal order:
 * {"id", "type", "time", "author", "status"}) and "findings" (the findings
 * about its records, as ledger_finding_json objects).  `id` is the full id
 * or a unique prefix of at least 4 hex digits; NULL when there is no such
 * incident (or the prefix is ambiguous).
 */
json_t *ledger_policy_incident(const ledger_policy *policy, const char *id);

/*
 * Rosters, for `roster`: {"agencies": [{"id", "kind", "name", "parent",
 * "candidates": [principal...], "trainees": [principal...],
 * "quota": {"candidates": n, "candidates_max": 4, "trainees": n,
 * "trainees_max": 4, "total_max": 4}}...], "cymat": {"manager": [...],
 * "field_leaders": [...], "members": [...]}} as of the latest record time.
 * The quota maxima appear for the kinds §8 sets them for.
 */
json_t *ledger_policy_roster(const ledger_policy *policy);

/*
 * Consents and what they cover: an array of {"id", "provider", "purpose",
 * "author", "time", "scope", "recipients", "until", "withdrawn" (time of the
 * withdrawal, absent when in force), "used_by" (ids of the records that
 * relied on it)}.
 */
json_t *ledger_policy_consents(const ledger_policy *policy);

/* All of the derived state in one object {"incidents", "roster", "consents"}. */
json_t *ledger_policy_state_json(const ledger_policy *policy);

/*
 * R16.1: the council summary for [from, until) as a council_report's body
 * "summary" must carry it: {"records": {type: n}, "incidents": {"opened": n,
 * "dispatched": n, "closed": n}}, counting records that took effect and
 * whose time falls in the period.  Counts only: no c2/c3 content.
 */
json_t *ledger_policy_council_summary(const ledger_policy *policy, int64_t from, int64_t until);

/*
 * The findings a record not yet in the ledger would get from the rules if
 * appended now (a new report, empty when it breaks none); commands use it
 * to refuse before they write.  The candidate is judged after every record
 * of the ledger, whatever its time: it is new.  A trust record gets no
 * findings here (the verifier judges it).  The candidate is taken as
 * verified: check it with ledger_state_judge as well.  With the policy cache
 * only what came after the part of the ledger it holds is judged again.
 */
int ledger_policy_judge(ledger_report **out, const ledger_state *state, ledger_repo *repo,
                        const ledger_record *candidate, const ledger_policy_options *opts);

/*
 * The same for records to be appended together (one commit), judged in the
 * order given after every record of the ledger, each seeing the effect of
 * those before it: the findings about any of them, in one report.
 */
int ledger_policy_judge_batch(ledger_report **out, const ledger_state *state, ledger_repo *repo,
                              const ledger_record *const *candidates, size_t count,
                              const ledger_policy_options *opts);

void ledger_policy_free(ledger_policy *policy);

#ifdef __cplusplus
}
#endif

#endif
