/*
 * What the policy engine (policy.c), the derived state (policy_state.c) and
 * the rules (rules_*.c) share.
 */
#ifndef LEDGER_POLICY_INTERNAL_H
#define LEDGER_POLICY_INTERNAL_H

/*
 * The revision of the causal order (policy.c), in the policy cache's rules
 * fingerprint.  2: records wait for their organisation's registration of
 * the same second.
 */
#define POLICY_ORDER_REVISION 2

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "ledger/policy.h"
#include "state_internal.h"
#include "idmap.h"

enum { PV_NEW = 0, PV_VALID = 1, PV_INVALID = 2, PV_PENDING = 3 };

/* Role bits, in the order of trust.c's role names (binding.roles uses the same bits). */
enum {
	PR_DIRECTOR = 1u << 0,
	PR_DEPUTY = 1u << 1,
	PR_MANAGER = 1u << 2,
	PR_FIELD_LEADER = 1u << 3,
	PR_MEMBER = 1u << 4,
	PR_TRAINEE = 1u << 5,
	PR_CISO = 1u << 6,
	PR_CSIRT = 1u << 7,
	PR_SYSTEM_DEPT = 1u << 8,
	PR_NODE = 1u << 9,
	PR_AUDITOR = 1u << 10
};

/* A record another one names, and where it names it ("refs", "prev", a body member). */
typedef struct {
	uint8_t id[32];
	const char *what;
} named;

/*
 * One record the engine judges.  R is held only until the record is judged:
 * what later records ask of it is in the summary.
 */
typedef struct {
	json_t *rec;             /* R, owned, while it is judged */
	json_t *body;            /* borrowed from rec */
	char *data;              /* the record file's bytes until judged (none when pending) */
	size_t len;
	named *named;            /* what R names, until resolved into deps */
	size_t nnamed;
	/* The summary: strings interned in the policy (policy_intern), shared by every record. */
	const char *type, *author, *agency, *class_;
	const char *incident;    /* the record's `incident`, or NULL */
	const char *opens;       /* the incident this record opens (its own id), or NULL; set
	                          * once the record array stops growing */
	char id[LEDGER_HEX_ID_LEN + 1];
	uint8_t read;            /* R was read (the verifier did not leave it pending) */
	uint8_t fed;             /* data is a summary of R (as policy_feed keeps it), not the file */
	uint8_t borrowed;        /* data is the verifier's (entry.feed), not the policy's */
	uint32_t entry;          /* when borrowed: the state entry whose feed data is */
	int64_t time;
	size_t *deps;            /* indexes of the records it names that the engine judges */
	size_t ndeps;
	named *missing;          /* what a pending record names that is not there or not valid */
	size_t nmissing;
	uint8_t prefix;          /* judged by an earlier run: taken from the policy cache */
	uint8_t cut;             /* judged before the cut: in the prefix the cache keeps */
	uint8_t verdict;         /* PV_* */
	uint8_t broken;          /* an error-level rule failed while judging */
	uint8_t rank;            /* place of its type in an incident's life, for ties in time */
} precord;

/*
 * What the verifier keeps of a record for the engine (policy_feed_record):
 * R without what no rule reads, and what policy_collect_file would have
 * found in the file.  One allocation.
 */
struct policy_feed {
	struct feed_block *block; /* the mapping it was carved from (policy_feed_free) */
	named *named;            /* what R names that the entry does not have (note_fed) */
	uint32_t nnamed;
	uint32_t nlead;          /* named[0..nlead): an agency's body `incident`s */
	char *text;              /* R as JSON, without the parts no rule reads; NUL-terminated */
	size_t len;
	uint8_t rank;            /* tie_rank */
};

/*
 * Incidents or consents the policy cache holds, each as its own JSON text
 * in the cache's mapping: parsed into the derived state only when a rule
 * asks for one (or a view wants them all), so that a run after the cache
 * costs what the new records touch, not the whole history.
 */
typedef struct {
	const uint8_t *id;      /* 32 bytes, in the mapping */
	const char *text;       /* the item's JSON, in the mapping */
	size_t len;
	const char *provider;   /* consents: for the scans by provider and purpose (R15.2) */
	const char *purpose;
	uint32_t provider_len, purpose_len;
	uint8_t taken;          /* parsed into the derived state */
} lazy_item;

typedef struct {
	lazy_item *items;
	size_t count;
	idmap ids;              /* id -> index into items */
} lazy_table;

/* A set of strings, each kept once (open addressing). */
typedef struct {
	char **slots;
	size_t capacity, count;
} strset;

struct ledger_policy {
	const ledger_state *state;
	ledger_policy_options opts;
	precord *recs;
	size_t nrecs, capacity;
	size_t first_candidate;  /* recs from here on are candidates (ledger_policy_judge) */
	size_t *rec_of;          /* state entry -> 1 + index into recs (policy_index_put) */
	idmap ids;               /* id of a record not in the state (a candidate) -> index into recs */
	size_t *order;           /* causal order, indexes into recs */
	size_t norder;
	size_t nprefix;          /* order[0..nprefix): records the policy cache had judged, which
	                          * are recs[0..nprefix) in that order (policy_cache_load) */
	size_t judged;           /* records judged by this run */
	/* The policy cache (policy_cache.c). */
	int use_cache;
	int64_t cut_time;        /* the latest time of a ledger record: the prefix ends before it */
	int cut_taken, cache_unsafe;
	size_t cut_pos;          /* order[0..cut_pos) is the prefix to save */
	size_t cut_findings;     /* report items while the prefix was judged */
	FILE *cut_file;          /* the cache as written at the cut, until saved (policy_cache.c) */
	char *cut_tmp, *cut_path; /* its temporary name, and the cache's */
	char **pool;             /* finding codes and rules read from the cache */
	size_t npool;
	ledger_report *report;
	int64_t latest;          /* the latest record time */
	int64_t now;             /* opts.now or latest */
	json_t *bindings;        /* principal -> [binding index] */
	/* Derived state. */
	json_t *agencies;        /* id -> agency object */
	json_t *appointments;    /* [appointment object] */
	json_t *appointed;       /* principal -> [its appointment objects] */
	json_t *nominations;     /* id -> {"id", "person", "agency", "time", "withdrawn"?} */
	json_t *registrations;   /* same shape as nominations */
	json_t *withdrawals;     /* id -> {"id", "what", "withdraws", "agency", "time", "replaced_by"?} */
	json_t *incidents;       /* id -> incident object */
	json_t *incident_order;  /* [incident id], in the order they opened */
	json_t *consents;        /* id -> consent object */
	json_t *participations;  /* [participation object] */
	json_t *words;           /* the strings the state repeats, one JSON string each (word()) */
	/* What of incidents and consents the policy cache still holds unparsed. */
	lazy_table lazy_incidents, lazy_consents;
	const uint8_t *cache_map; /* the cache file's bytes, while lazy items point into them */
	int lazy_failed;         /* a cached item did not parse: the run fails */
	strset strings;          /* the records' summary strings */
};

/* Small JSON accessors (borrowed values, NULL or 0 when absent). */
const char *pj_str(const json_t *obj, const char *key);
int pj_true(const json_t *obj, const char *key);
int64_t pj_time(const json_t *obj, const char *key, int64_t absent);

/* A finding about record r (NULL: about the ledger); an error marks r broken. */
int policy_finding(ledger_policy *pol, precord *r, const char *rule, ledger_severity severity,
                   const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The policy's one copy of the len bytes at s (a string), or NULL when out of memory. */
const char *policy_intern(ledger_policy *pol, const char *s, size_t len);

/* The index into recs of the record with this raw id: 1 and *i, or 0. */
int policy_index_get(const ledger_policy *pol, const uint8_t id[32], size_t *i);
/* Note recs[i] under its raw id; 0 or LEDGER_ENOMEM. */
int policy_index_put(ledger_policy *pol, const uint8_t id[32], size_t i);

/* The record with this hex id among those the engine judges, or NULL. */
precord *policy_record(const ledger_policy *pol, const char *id);
/* The agency part of "<agency>/<name>" into out; -1 when not of that form. */
int policy_agency_of(char out[40], const char *principal);

/* policy_state.c: what was in force at time t, as of the record being judged. */
unsigned int state_roles_at(const ledger_policy *pol, const char *principal, int64_t t);
/* The principal's attributes object from the binding in force at t, or NULL. */
const json_t *state_attributes_at(const ledger_policy *pol, const char *principal, int64_t t);
/* Principals holding an appointment of `role` at t (a new array). */
json_t *state_appointed(const ledger_policy *pol, const char *role, int64_t t);
json_t *state_agency(const ledger_policy *pol, const char *id);
json_t *state_incident(const ledger_policy *pol, const char *id);
json_t *state_consent(const ledger_policy *pol, const char *id);
/* Parse every incident and consent the cache still holds (views and the cache's cut need all). */
int state_take_all(ledger_policy *pol);
/* Parse the cached consents of this provider and purpose (scans over pol->consents need them). */
int state_take_consents_of(ledger_policy *pol, const char *provider, const char *purpose);
/* Is consent c in force at t (not withdrawn before, not past its until)? */
int state_consent_in_force(const json_t *c, int64_t t);
/* Record that `r` relied on consent c; id: r's id as a JSON string to share, or NULL. */
int state_consent_use(json_t *c, const precord *r, json_t *id);
/* Active candidates / trainees of an agency. */
size_t state_candidates(const ledger_policy *pol, const char *agency);
size_t state_trainees(const ledger_policy *pol, const char *agency);
/* Make a judged record take effect. */
int state_apply(ledger_policy *pol, precord *r);
int state_init(ledger_policy *pol);
void state_release(ledger_policy *pol);

/* Does a record of that author's agency and body name org where R2.1 looks (rules_org.c)? */
int policy_names_organisation(const char *author_agency, const json_t *body, const char *org);

/* Director's authority (R4.2): the director, or the deputy acting with a reason. */
int policy_director_act(const ledger_policy *pol, const precord *r);
/* Signed by the director or the deputy (whether the deputy may act is R4.2's question). */
int policy_director_or_deputy(const ledger_policy *pol, const precord *r);

static inline int ptype(const precord *r, const char *type)
{
	return strcmp(r->type, type) == 0;
}

static inline int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/*
 * rules_info.c: the checks every consent record of a rule's purpose gets:
 * given by the provider's `signer` role, and a withdrawal that names a
 * consent of the same provider and purpose (a warning when it was used).
 */
int policy_consent_checks(ledger_policy *pol, precord *r, const char *rule, unsigned int signer,
                          const char *signer_name);

/* rules_*.c: one function per DOMAIN.md rule; a NULL record: the end-of-ledger check. */
typedef int (*rule_fn)(ledger_policy *pol, precord *r);

int rule_r2_1_registered_agency(ledger_policy *pol, precord *r);
int rule_r2_2_agency_ties(ledger_policy *pol, precord *r);
int rule_r4_2_deputy_acting(ledger_policy *pol, precord *r);
int rule_r5_5_civil_servant(ledger_policy *pol, precord *r);
int rule_r6_1_manager(ledger_policy *pol, precord *r);
int rule_r6_2_field_leaders(ledger_policy *pol, precord *r);
int rule_r6_2_field_leaders_count(ledger_policy *pol, precord *r);
int rule_r6_3_members(ledger_policy *pol, precord *r);
int rule_r7_1_trainee_registration(ledger_policy *pol, precord *r);
int rule_r7_2_training_application(ledger_policy *pol, precord *r);
int rule_r8_1_candidate_quota(ledger_policy *pol, precord *r);
int rule_r8_1_candidate_minimum(ledger_policy *pol, precord *r);
int rule_r8_2_combined_quota(ledger_policy *pol, precord *r);
int rule_r8_3_observer_trainees(ledger_policy *pol, precord *r);
int rule_r9_1_replacement(ledger_policy *pol, precord *r);
int rule_r9_1_replacement_overdue(ledger_policy *pol, precord *r);
int rule_r10_1_own_incident(ledger_policy *pol, precord *r);
int rule_r10_2_overseen_iaa(ledger_policy *pol, precord *r);
int rule_r10_3_direct_stakeholder(ledger_policy *pol, precord *r);
int rule_r10_4_request_route(ledger_policy *pol, precord *r);
int rule_r11_1_dispatch_on_request(ledger_policy *pol, precord *r);
int rule_r11_2_pre_request_dispatch(ledger_policy *pol, precord *r);
int rule_r12_1_activity(ledger_policy *pol, precord *r);
int rule_r13_1_damage_report(ledger_policy *pol, precord *r);
int rule_r13_2_gsoc_substitute(ledger_policy *pol, precord *r);
int rule_r13_3_cabinet_emergency(ledger_policy *pol, precord *r);
int rule_r14_1_closure(ledger_policy *pol, precord *r);
int rule_r15_1_share_consent(ledger_policy *pol, precord *r);
int rule_r15_2_sealed_recipients(ledger_policy *pol, precord *r);
int rule_r16_1_council_summary(ledger_policy *pol, precord *r);

/* policy.c: the council summary as of the records judged so far. */
json_t *policy_summary(const ledger_policy *pol, int64_t from, int64_t until);

/* policy.c, for the cache: gathering records and noting what they name. */
precord *policy_add_record(ledger_policy *pol);
int policy_collect_file(const char *path, const char *data, size_t len, void *payload);
/* Take state entry i (one the engine takes) from the summary the verifier kept of it (e->feed). */
int policy_collect_fed(ledger_policy *pol, size_t i);
/* What a record file names; e: its verifier entry, whose prev, incident and refs are taken, or NULL. */
int policy_note_names(precord *r, const entry *e, const char *data, size_t len);
/* A state entry the engine takes (a valid or pending record, not a trust one): 1, else 0. */
int policy_takes_entry(const ledger_state *st, size_t i);
/* The same, for an entry the verifier's id index is known to lead to (by_id gives i for its id). */
int policy_takes_indexed(const ledger_state *st, size_t i);

/*
 * policy_cache.c: the policy cache, <git dir>/cymat/policy.  Load: 1 when
 * the judged prefix of an earlier run was taken into pol (records, order,
 * derived state, findings) and the records after it were gathered; 0 when
 * there is no usable cache (pol untouched, gather everything); <0 on error.
 */
int policy_cache_load(ledger_policy *pol, ledger_repo *repo);
/*
 * Write the cache of the prefix order[0..pos) (the derived state as it is
 * before order[pos] is judged) to a temporary file; save renames it into
 * place once the run is done, discard removes it.
 */
void policy_cache_cut(ledger_policy *pol, ledger_repo *repo, size_t pos);
int policy_cache_save(ledger_policy *pol);
void policy_cache_discard(ledger_policy *pol);
/* policy_state.c: the derived state in one object (new), and taken back from one. */
json_t *policy_state_object(const ledger_policy *pol);
/* The lazy tables' releases (policy_state.c); the mapping is policy_cache.c's. */
void lazy_table_release(lazy_table *t);
int policy_state_take(ledger_policy *pol, json_t *obj);

#endif
