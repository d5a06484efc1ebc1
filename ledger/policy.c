/*
 * The policy engine: gathers the valid records, orders them causally (a
 * record after what it names, then by time, the place of its type in an
 * incident's life, and id), judges each with the
 * rules of DOMAIN.md as of its place in that order, and lets the records
 * that break no error-level rule take effect on the derived state.  The
 * result is a function of the record set alone.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ledger/error.h"
#include "ledger/policy.h"
#include "cache_io.h"
#include "huge_pages.h"
#include "policy_internal.h"
#include "store_internal.h"

/* --- the rules -------------------------------------------------------------- */

static const ledger_policy_rule rules[] = {
	{ "R2.1", "rule_r2_1_registered_agency", LEDGER_SEVERITY_ERROR,
	  "every organisation named by a record is registered by an agency record signed by the director or the manager" },
	{ "R2.2", "rule_r2_2_agency_ties", LEDGER_SEVERITY_ERROR,
	  "an iaa names its overseeing government agency; a stakeholder names the requesting agency and the incident it is tied to" },
	{ "R4.2", "rule_r4_2_deputy_acting", LEDGER_SEVERITY_ERROR,
	  "a record that needs the director may be signed by the deputy only with acting: true and a stated reason" },
	{ "R5.5", "rule_r5_5_civil_servant", LEDGER_SEVERITY_ERROR,
	  "manager, field leaders and members must be full-time national public servants" },
	{ "R6.1", "rule_r6_1_manager", LEDGER_SEVERITY_ERROR,
	  "the manager is appointed by the director, from NISC-resident counsellors" },
	{ "R6.2", "rule_r6_2_field_leaders", LEDGER_SEVERITY_ERROR,
	  "field leaders (about 2) are appointed by the director from NISC residents; more than 3 or fewer than 1 active is a warning" },
	{ "R6.3", "rule_r6_3_members", LEDGER_SEVERITY_ERROR,
	  "members are appointed by the director from nominated candidates or NISC residents; in an emergency the manager may bring a NISC resident into an activity" },
	{ "R7.1", "rule_r7_1_trainee_registration", LEDGER_SEVERITY_ERROR,
	  "a trainee registration is signed by the registering agency's CISO; the trainee belongs to that agency" },
	{ "R7.2", "rule_r7_2_training_application", LEDGER_SEVERITY_ERROR,
	  "a training application names trainees that agency registered and are still active" },
	{ "R8.1", "rule_r8_1_candidate_quota", LEDGER_SEVERITY_ERROR,
	  "a government agency has at most 4 active member candidates, and in principle at least 1 (0 is a warning unless R8.2 holds)" },
	{ "R8.2", "rule_r8_2_combined_quota", LEDGER_SEVERITY_ERROR,
	  "a government agency with no candidate must have at least 1 trainee; candidates + trainees at most 4 per government agency" },
	{ "R8.3", "rule_r8_3_observer_trainees", LEDGER_SEVERITY_ERROR,
	  "an observer agency has at most 4 active trainees" },
	{ "R9.1", "rule_r9_1_replacement", LEDGER_SEVERITY_WARNING,
	  "an agency whose withdrawn candidate or trainee has no replacement after a configurable number of days (default 30) gets a warning" },
	{ "R10.1", "rule_r10_1_own_incident", LEDGER_SEVERITY_ERROR,
	  "a government or observer agency may request support for an incident of its own" },
	{ "R10.2", "rule_r10_2_overseen_iaa", LEDGER_SEVERITY_ERROR,
	  "a government agency may request support for an IAA it oversees, on that IAA's ask" },
	{ "R10.3", "rule_r10_3_direct_stakeholder", LEDGER_SEVERITY_ERROR,
	  "an agency that made a 10(1)/(2) request may request support for a direct stakeholder of that incident, on the stakeholder's ask" },
	{ "R10.4", "rule_r10_4_request_route", LEDGER_SEVERITY_ERROR,
	  "normally the request comes from the agency's CISO to the director; in an emergency from its CSIRT, system_dept or members, to the manager or a field leader" },
	{ "R11.1", "rule_r11_1_dispatch_on_request", LEDGER_SEVERITY_ERROR,
	  "the director orders a dispatch for a requested incident that the director judges a supported incident" },
	{ "R11.2", "rule_r11_2_pre_request_dispatch", LEDGER_SEVERITY_ERROR,
	  "before any request, the director may order a dispatch to a government agency only with the consent of that agency's CSIRT" },
	{ "R12.1", "rule_r12_1_activity", LEDGER_SEVERITY_ERROR,
	  "an activity record for an incident follows a dispatch of that incident and is signed by a member, field leader or manager" },
	{ "R13.1", "rule_r13_1_damage_report", LEDGER_SEVERITY_ERROR,
	  "after a dispatch, the affected organisation reports damage status as it goes" },
	{ "R13.2", "rule_r13_2_gsoc_substitute", LEDGER_SEVERITY_ERROR,
	  "a report may stand in for the GSOC report only if the organisation has consented (purpose gsoc_substitute)" },
	{ "R13.3", "rule_r13_3_cabinet_emergency", LEDGER_SEVERITY_WARNING,
	  "in a national emergency the report is also made under the 2003-11-21 Cabinet decision (flag on the report)" },
	{ "R14.1", "rule_r14_1_closure", LEDGER_SEVERITY_ERROR,
	  "the director closes the support having heard the affected organisation's CISO; nothing but a report or an opinion follows a closure" },
	{ "R15.1", "rule_r15_1_share_consent", LEDGER_SEVERITY_ERROR,
	  "a share of c2/c3 information for any other use references a consent of its provider whose purpose and scope cover it; for 15c also a director approval" },
	{ "R15.2", "rule_r15_2_sealed_recipients", LEDGER_SEVERITY_ERROR,
	  "nobody outside the provider, NISC and consented recipients can read c2/c3 content (sealed bodies)" },
	{ "R16.1", "rule_r16_1_council_summary", LEDGER_SEVERITY_ERROR,
	  "a council summary is generated from the ledger: counts per period, kind, state; no c2/c3 content" },
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))

/* Per record, in the order of rules[]. */
static const rule_fn judges[NRULES] = {
	rule_r2_1_registered_agency,   rule_r2_2_agency_ties,          rule_r4_2_deputy_acting,
	rule_r5_5_civil_servant,       rule_r6_1_manager,              rule_r6_2_field_leaders,
	rule_r6_3_members,             rule_r7_1_trainee_registration, rule_r7_2_training_application,
	rule_r8_1_candidate_quota,     rule_r8_2_combined_quota,       rule_r8_3_observer_trainees,
	rule_r9_1_replacement,         rule_r10_1_own_incident,        rule_r10_2_overseen_iaa,
	rule_r10_3_direct_stakeholder, rule_r10_4_request_route,       rule_r11_1_dispatch_on_request,
	rule_r11_2_pre_request_dispatch, rule_r12_1_activity,          rule_r13_1_damage_report,
	rule_r13_2_gsoc_substitute,    rule_r13_3_cabinet_emergency,   rule_r14_1_closure,
	rule_r15_1_share_consent,      rule_r15_2_sealed_recipients,   rule_r16_1_council_summary,
};

/* Checks of the ledger as a whole, once every record is judged. */
static const rule_fn finals[] = {
	rule_r6_2_field_leaders_count,
	rule_r8_1_candidate_minimum,
	rule_r9_1_replacement_overdue,
};

const ledger_policy_rule *ledger_policy_rules(size_t *count)
{
	*count = NRULES;
	return rules;
}

/* --- helpers shared with the rules ------------------------------------------ */

const char *pj_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int pj_true(const json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

int64_t pj_time(const json_t *obj, const char *key, int64_t absent)
{
	const char *text = pj_str(obj, key);
	int64_t t;

	return text && ledger_time_parse(&t, text) == 0 ? t : absent;
}

int policy_agency_of(char out[40], const char *principal)
{
	const char *slash = principal ? strchr(principal, '/') : NULL;

	if (!slash || (size_t)(slash - principal) >= 40)
		return -1;
	memcpy(out, principal, (size_t)(slash - principal));
	out[slash - principal] = '\0';
	return 0;
}

int policy_finding(ledger_policy *pol, precord *r, const char *rule, ledger_severity severity,
                   const char *code, const char *fmt, ...)
{
	char path[LEDGER_RECORD_PATH_LEN + 1] = "";
	va_list ap;
	int ret;

	if (r) {
		ledger_record_path(path, r->id);
		if (severity == LEDGER_SEVERITY_ERROR)
			r->broken = 1;
	}
	va_start(ap, fmt);
	ret = report_addv(pol->report, severity, code, rule, r ? r->id : NULL, r ? path : NULL,
	                  NULL, fmt, ap);
	va_end(ap);
	return ret;
}

/*
 * Most records are state entries: their index goes in an array by entry,
 * through the verifier's id index, cheaper than a second 100k-id map.
 */
int policy_index_get(const ledger_policy *pol, const uint8_t id[32], size_t *i)
{
	size_t at;

	if (idmap_get(&pol->state->by_id, id, &at) && pol->rec_of[at]) {
		*i = pol->rec_of[at] - 1;
		return 1;
	}
	return idmap_get(&pol->ids, id, i);
}

int policy_index_put(ledger_policy *pol, const uint8_t id[32], size_t i)
{
	size_t at;

	if (idmap_get(&pol->state->by_id, id, &at)) {
		pol->rec_of[at] = i + 1;
		return 0;
	}
	return idmap_put(&pol->ids, id, i);
}

precord *policy_record(const ledger_policy *pol, const char *id)
{
	uint8_t raw[32];
	size_t i;

	if (!id || strlen(id) != LEDGER_HEX_ID_LEN || ledger_unhex(raw, 32, id) < 0 ||
	    !policy_index_get(pol, raw, &i))
		return NULL;
	return &pol->recs[i];
}

int policy_director_act(const ledger_policy *pol, const precord *r)
{
	unsigned int roles = state_roles_at(pol, r->author, r->time);

	if (roles & PR_DIRECTOR)
		return 1;
	return (roles & PR_DEPUTY) && pj_true(r->body, "acting") && pj_str(r->body, "reason");
}

int policy_director_or_deputy(const ledger_policy *pol, const precord *r)
{
	return (state_roles_at(pol, r->author, r->time) & (PR_DIRECTOR | PR_DEPUTY)) != 0;
}

/* --- gathering the records ---------------------------------------------------- */

precord *policy_add_record(ledger_policy *pol)
{
	precord *r;

	if (pol->nrecs == pol->capacity) {
		size_t capacity = pol->capacity ? pol->capacity * 2 : 16;
		precord *bigger = realloc(pol->recs, capacity * sizeof(*bigger));

		if (!bigger)
			return NULL;
		pol->recs = bigger;
		pol->capacity = capacity;
	}
	r = &pol->recs[pol->nrecs++];
	memset(r, 0, sizeof(*r));
	return r;
}

/* FNV-1a. */
static size_t str_hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
	return (size_t)h;
}

static int strset_grow(strset *set)
{
	size_t capacity = set->capacity ? set->capacity * 2 : 256;
	char **slots = calloc(capacity, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < set->capacity; i++) {
		char *v = set->slots[i];
		size_t k;

		if (!v)
			continue;
		for (k = str_hash(v, strlen(v)) & (capacity - 1); slots[k]; k = (k + 1) & (capacity - 1))
			;
		slots[k] = v;
	}
	free(set->slots);
	set->slots = slots;
	set->capacity = capacity;
	return 0;
}

const char *policy_intern(ledger_policy *pol, const char *s, size_t len)
{
	strset *set = &pol->strings;
	size_t k;
	char *copy;

	if ((set->count + 1) * 2 > set->capacity && strset_grow(set) < 0)
		return NULL;
	for (k = str_hash(s, len) & (set->capacity - 1); set->slots[k];
	     k = (k + 1) & (set->capacity - 1))
		if (strncmp(set->slots[k], s, len) == 0 && set->slots[k][len] == '\0')
			return set->slots[k];
	if (!(copy = malloc(len + 1)))
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	set->count++;
	return set->slots[k] = copy;
}

static const char *intern_str(ledger_policy *pol, const char *s)
{
	return policy_intern(pol, s, strlen(s));
}

/* Fill r's summary from R (held by r->rec). */
static int fill_record(ledger_policy *pol, precord *r)
{
	json_t *rec = r->rec;
	const char *type = pj_str(rec, "type"), *author = pj_str(rec, "author");
	const char *agency = pj_str(rec, "agency"), *class_ = pj_str(rec, "class");
	const char *incident = pj_str(rec, "incident");

	r->body = json_object_get(rec, "body");
	if (!type || !author || !agency || !class_ || !json_is_object(r->body) ||
	    strlen(type) > 32 || strlen(author) > 99 || strlen(agency) > 39 || strlen(class_) > 3 ||
	    (incident && strlen(incident) != LEDGER_HEX_ID_LEN))
		return ledger_error_set(LEDGER_EINVALID, "record \"%s\": malformed", r->id);
	if (!(r->type = intern_str(pol, type)) || !(r->author = intern_str(pol, author)) ||
	    !(r->agency = intern_str(pol, agency)) || !(r->class_ = intern_str(pol, class_)) ||
	    (incident && !(r->incident = intern_str(pol, incident))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	r->time = pj_time(rec, "time", 0);
	r->read = 1;
	return 0;
}

/* What points into the record array, once it stops growing. */
static void point_summary(precord *r)
{
	r->opens = r->read && !r->incident && (ptype(r, "request") || ptype(r, "dispatch")) ? r->id
	                                                                               : NULL;
}

/* Body members naming records, per type: ordered after them, pending without them. */
static const struct {
	const char *type;
	const char *members[3];
} body_refs[] = {
	{ "agency", { "incident" } },
	{ "appointment", { "nomination" } },
	{ "nomination", { "replaces" } },
	{ "registration", { "replaces" } },
	{ "withdrawal", { "withdraws" } },
	{ "request", { "related_incident" } },
	{ "consent", { "withdraws" } },
	{ "dispatch", { "request", "consent" } },
	{ "report", { "consent" } },
	{ "closure", { "opinions" } },
	{ "share", { "sources", "consent", "approval" } },
};

static int is_hex_id(const char *p, const char *end)
{
	if (end - p < LEDGER_HEX_ID_LEN + 1 || p[LEDGER_HEX_ID_LEN] != '"')
		return 0;
	for (int i = 0; i < LEDGER_HEX_ID_LEN; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* Note the id whose 64 hex digits start at `hex` (not terminated there). */
static int note_one(precord *r, const char *hex, const char *what)
{
	named *n = realloc(r->named, (r->nnamed + 1) * sizeof(*n));
	char id[LEDGER_HEX_ID_LEN + 1];

	if (!n)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	r->named = n;
	memcpy(id, hex, LEDGER_HEX_ID_LEN);
	id[LEDGER_HEX_ID_LEN] = '\0';
	if (ledger_unhex(n[r->nnamed].id, 32, id) == 0)
		n[r->nnamed++].what = what;
	return 0;
}

/* The ids of member `name` ("name":"<id>" or "name":["<id>",...]) anywhere in the file. */
static int note_member(precord *r, const char *data, size_t len, const char *name)
{
	const char *end = data + len, *p = data;
	char key[40];
	size_t klen = (size_t)snprintf(key, sizeof(key), "\"%s\":", name);
	int ret;

	while ((p = memmem(p, (size_t)(end - p), key, klen))) {
		p += klen;
		if (p < end && *p == '"') {
			if (is_hex_id(p + 1, end) && (ret = note_one(r, p + 1, name)) < 0)
				return ret;
			continue;
		}
		if (p >= end || *p != '[')
			continue;
		for (p++; p < end && *p == '"' && is_hex_id(p + 1, end); p += LEDGER_HEX_ID_LEN + 3) {
			if ((ret = note_one(r, p + 1, name)) < 0)
				return ret;
			if (p[LEDGER_HEX_ID_LEN + 2] != ',')
				break;
		}
	}
	return 0;
}

/* Note a raw id. */
static int note_raw(precord *r, const uint8_t id[32], const char *what)
{
	named *n = realloc(r->named, (r->nnamed + 1) * sizeof(*n));

	if (!n)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	r->named = n;
	memcpy(n[r->nnamed].id, id, 32);
	n[r->nnamed++].what = what;
	return 0;
}

/*
 * Note every record a record file names (prev, incident, refs and the body
 * members of its type), without parsing it.  The file is JCS, so a member
 * name followed by a colon outside a string is always a member: inside a
 * string every quote is escaped.  None of these names is used for anything
 * else at another depth ("incident" is the record's and a stakeholder
 * body's, both names of records).  With the verifier's entry e of the
 * file, prev, incident and refs are its (parsed from the same R), but an
 * agency's, whose body may name an incident too.
 */
/* The body members of r's type that name records, but an agency's `incident` (see below). */
static int note_body(precord *r, const char *data, size_t len)
{
	int ret;

	for (size_t k = 0; k < sizeof(body_refs) / sizeof(body_refs[0]); k++) {
		if (strcmp(body_refs[k].type, r->type) != 0)
			continue;
		for (size_t m = 0; m < 3 && body_refs[k].members[m]; m++)
			if (strcmp(body_refs[k].members[m], "incident") != 0 &&
			    (ret = note_member(r, data, len, body_refs[k].members[m])) < 0)
				return ret;
	}
	return 0;
}

int policy_note_names(precord *r, const entry *e, const char *data, size_t len)
{
	static const char *const common[] = { "prev", "incident", "refs" };
	int ret, agency = strcmp(r->type, "agency") == 0;

	if (e) {
		if (e->has_prev && (ret = note_raw(r, e->prev, "prev")) < 0)
			return ret;
		if (agency)
			ret = note_member(r, data, len, "incident");
		else
			ret = e->has_incident ? note_raw(r, e->incident, "incident") : 0;
		if (ret < 0)
			return ret;
		for (size_t k = 0; k < e->nrefs; k++)
			if ((ret = note_raw(r, e->refs[k], "refs")) < 0)
				return ret;
	} else {
		for (size_t k = 0; k < sizeof(common) / sizeof(common[0]); k++)
			if ((ret = note_member(r, data, len, common[k])) < 0)
				return ret;
	}
	return note_body(r, data, len);
}

/*
 * What policy_note_names finds with the verifier's entry e, from the names
 * its summary f keeps (those e has not: an agency's body `incident`s, then
 * the body members), in the same order; 0 or LEDGER_ENOMEM.
 */
static int note_fed(precord *r, const entry *e, const policy_feed *f)
{
	int agency = strcmp(r->type, "agency") == 0;
	size_t n = (size_t)e->has_prev + (agency ? 0 : (size_t)e->has_incident) + e->nrefs +
	           f->nnamed;
	named *out;

	if (!n)
		return 0;
	if (!(out = r->named = malloc(n * sizeof(*out))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (e->has_prev) {
		memcpy(out->id, e->prev, 32);
		(out++)->what = "prev";
	}
	if (agency) {
		memcpy(out, f->named, f->nlead * sizeof(*out));
		out += f->nlead;
	} else if (e->has_incident) {
		memcpy(out->id, e->incident, 32);
		(out++)->what = "incident";
	}
	for (size_t k = 0; k < e->nrefs; k++) {
		memcpy(out->id, e->refs[k], 32);
		(out++)->what = "refs";
	}
	memcpy(out, f->named + f->nlead, (f->nnamed - f->nlead) * sizeof(*out));
	r->nnamed = n;
	return 0;
}

/*
 * Records of one second that name nothing of each other are ordered by the
 * place of their type in the agreement's course: an organisation is
 * registered before anyone acts for it, staff are appointed before they are
 * sent, a dispatch comes before its activities and reports, a consent is
 * given before it is used and withdrawn after.  A record's time has whole
 * seconds, and scripts (or a busy desk) act within one; ordering such ties
 * by id instead would judge a request before the registration of its
 * agency at random.  `data` is the record file (JCS), read without parsing.
 */
static uint8_t tie_rank(const char *type, const char *data, size_t len)
{
	static const struct {
		const char *type;
		uint8_t rank;
	} ranks[] = {
		{ "agency", 0 },       { "appointment", 2 },     { "withdrawal", 3 },
		{ "nomination", 4 },   { "registration", 4 },    { "training_application", 5 },
		{ "consent", 6 },      { "request", 7 },         { "dispatch", 8 },
		{ "participation", 9 }, { "activity", 10 },      { "report", 11 },
		{ "share", 12 },       { "opinion", 13 },        { "closure", 15 },
		{ "council_report", 16 },
	};
	static const char iaa[] = "\"kind\":\"iaa\"", stakeholder[] = "\"kind\":\"stakeholder\"";
	static const char withdrawn[] = "\"withdrawn\":true";

	for (size_t i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++) {
		if (strcmp(ranks[i].type, type) != 0)
			continue;
		/* An IAA after the agency that oversees it; a withdrawal after the uses of a consent. */
		if (ranks[i].rank == 0 && (memmem(data, len, iaa, sizeof(iaa) - 1) ||
		                           memmem(data, len, stakeholder, sizeof(stakeholder) - 1)))
			return 1;
		if (ranks[i].rank == 6 && memmem(data, len, withdrawn, sizeof(withdrawn) - 1))
			return 14;
		return ranks[i].rank;
	}
	return 17;
}

/* Take R from a record file's bytes (or from the verifier's summary) into r->rec (a new reference). */
static int parse_record(precord *r, const char *data, size_t len)
{
	json_error_t err;
	json_t *env = json_loadb(data, len, 0, &err);

	if (r->fed) {
		r->rec = env;
		env = NULL;
	} else {
		r->rec = json_incref(json_object_get(env, "record"));
	}
	json_decref(env);
	if (!r->rec)
		return ledger_error_set(LEDGER_EINVALID, "record \"%s\": %s", r->id, err.text);
	/*
	 * A summary leaves out R's type, author and incident: r has them from
	 * the verifier's entry (collect_entry), which took them from the same R.
	 */
	if (r->fed && json_is_object(r->rec) &&
	    (json_object_set_new(r->rec, "type", json_string(r->type)) < 0 ||
	     (r->author[0] && json_object_set_new(r->rec, "author", json_string(r->author)) < 0) ||
	     (r->incident && json_object_set_new(r->rec, "incident", json_string(r->incident)) < 0)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	r->body = json_object_get(r->rec, "body");
	return 0;
}

/*
 * Every record file the verifier found valid (or left pending), but the
 * trust records: its summary, what it names, and its bytes, parsed again
 * when its turn comes (every record parsed at once costs far more memory
 * than the bytes).
 */
/* p starts with the lowercase hex of the n bytes at id (a NUL stops the match). */
static int hex_prefix(const char *p, const uint8_t *id, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t k = 0; k < n; k++)
		if (p[2 * k] != digits[id[k] >> 4] || p[2 * k + 1] != digits[id[k] & 15])
			return 0;
	return 1;
}

int policy_takes_entry(const ledger_state *st, size_t i)
{
	size_t j;

	return policy_takes_indexed(st, i) && idmap_get(&st->by_id, st->entries[i].id, &j) && j == i;
}

int policy_takes_indexed(const ledger_state *st, size_t i)
{
	const entry *e = &st->entries[i];
	const char *p = e->path;

	if (!e->has_id || e->fail_code || e->sig != SIG_OK || st->invalid[i] ||
	    entry_is_trust_type(e->type))
		return 0;
	/*
	 * At its own path, records/ab/cd/<id>.json (ledger_record_path): compared
	 * digit by digit, as every run asks this of every entry more than once.
	 */
	return strncmp(p, "records/", 8) == 0 && hex_prefix(p + 8, e->id, 1) && p[10] == '/' &&
	       hex_prefix(p + 11, e->id + 1, 1) && p[13] == '/' && hex_prefix(p + 14, e->id, 32) &&
	       strcmp(p + 14 + LEDGER_HEX_ID_LEN, ".json") == 0;
}

/*
 * The members of R a rule reads (and "body", "sealed": below), but type,
 * author and incident: the verifier's entry has them (parse_record).
 */
static const char *const feed_members[] = { "agency", "class", "time" };

/*
 * R without what no rule reads: the prose of a body's "summary" (but a
 * council report's, which R16.1 compares), the sealed ciphertext and each
 * recipient's wrapped key (R15.2 reads only their kids), the chain members
 * and R's type, author and incident (the verifier's entry has them).
 * Values are shared with R.
 */
static json_t *feed_summary(const json_t *record, const char *type)
{
	json_t *out = json_object(), *body = json_object_get(record, "body");
	json_t *sealed = json_object_get(record, "sealed"), *to, *v, *kids;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < sizeof(feed_members) / sizeof(feed_members[0]); i++)
		if ((v = json_object_get(record, feed_members[i])) &&
		    json_object_set(out, feed_members[i], v) < 0)
			goto fail;
	if (json_is_object(body) && json_object_get(body, "summary") &&
	    strcmp(type, "council_report") != 0) {
		if (!(body = json_copy(body)) || json_object_del(body, "summary") < 0 ||
		    json_object_set_new(out, "body", body) < 0)
			goto fail;
	} else if (body && json_object_set(out, "body", body) < 0) {
		goto fail;
	}
	to = json_object_get(sealed, "recipients");
	if (!json_is_object(sealed) || !json_is_array(to)) {
		/* Not the schema's shape: kept whole. */
		if (sealed && json_object_set(out, "sealed", sealed) < 0)
			goto fail;
		return out;
	}
	if (!(kids = json_array()) ||
	    json_object_set_new(out, "sealed", json_pack("{s:o}", "recipients", kids)) < 0)
		goto fail;
	json_array_foreach(to, i, v) {
		json_t *kid = json_object_get(v, "kid"), *k;

		if (!json_is_object(v))
			k = json_incref(v);
		else if ((k = json_object()) && kid && json_object_set(k, "kid", kid) < 0) {
			json_decref(k);
			k = NULL;
		}
		if (json_array_append_new(kids, k) < 0)
			goto fail;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

/*
 * The summaries are carved from blocks mapped for them alone.  A pass
 * frees each summary once its record is judged (consume_feed), so that the
 * derived state takes their room; but they are made on the verifier's
 * threads, in malloc arenas the pass's own allocations do not reuse, and
 * freed in another order than made, so that freed ones held pages all the
 * same (27 MB at 100,000 records).  A block is unmapped once the last
 * summary in it is freed.
 */
#define FEED_BLOCK_SIZE (256 * 1024)
#define FEED_ALIGN 16

struct feed_block {
	size_t live; /* summaries in it, and 1 while it is the one being filled (atomic) */
	size_t used, size;
};

static pthread_mutex_t feed_lock = PTHREAD_MUTEX_INITIALIZER;
static struct feed_block *feed_filling; /* under feed_lock */

static size_t feed_round(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static void feed_block_put(struct feed_block *b)
{
	if (__atomic_sub_fetch(&b->live, 1, __ATOMIC_ACQ_REL) == 0)
		munmap(b, b->size);
}

static struct feed_block *feed_block_new(size_t size)
{
	struct feed_block *b = mmap(NULL, size, PROT_READ | PROT_WRITE,
	                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED)
		return NULL;
	b->live = 1;
	b->used = feed_round(sizeof(*b), FEED_ALIGN);
	b->size = size;
	return b;
}

/* Room for a summary of len bytes, NULL when out of memory. */
static policy_feed *feed_alloc(size_t len)
{
	size_t need = feed_round(len, FEED_ALIGN);
	size_t head = feed_round(sizeof(struct feed_block), FEED_ALIGN);
	struct feed_block *b;
	policy_feed *f = NULL;

	if (need > FEED_BLOCK_SIZE - head) {
		/* A block of its own, never filled further. */
		if (!(b = feed_block_new(feed_round(head + need, (size_t)sysconf(_SC_PAGESIZE)))))
			return NULL;
		f = (policy_feed *)((char *)b + b->used);
		f->block = b;
		return f;
	}
	pthread_mutex_lock(&feed_lock);
	b = feed_filling;
	if (!b || b->size - b->used < need) {
		if (!(b = feed_block_new(FEED_BLOCK_SIZE)))
			goto done;
		if (feed_filling)
			feed_block_put(feed_filling);
		feed_filling = b;
	}
	f = (policy_feed *)((char *)b + b->used);
	b->used += need;
	__atomic_add_fetch(&b->live, 1, __ATOMIC_ACQ_REL);
	f->block = b;
done:
	pthread_mutex_unlock(&feed_lock);
	return f;
}

void policy_feed_free(policy_feed *f)
{
	if (f)
		feed_block_put(f->block);
}

void policy_feed_record(const ledger_state *st, entry *e, const ledger_record *rec)
{
	precord probe;
	policy_feed *f;
	json_t *summary;
	char buf[4096], *text = buf;
	size_t len = 0, nlead;

	if (!st->policy_feed || entry_is_trust_type(rec->type))
		return;
	memset(&probe, 0, sizeof(probe));
	probe.type = rec->type;
	if (!(summary = feed_summary(rec->record, rec->type)) ||
	    !(len = json_dumpb(summary, buf, sizeof(buf), JSON_COMPACT)))
		goto done;
	if (len > sizeof(buf) && (!(text = malloc(len)) ||
	                          json_dumpb(summary, text, len, JSON_COMPACT) != len))
		goto done;
	/*
	 * What the file names but what e has (prev, incident, refs: note_fed),
	 * and its tie rank, from JCS(R): the same bytes as in the file.
	 */
	if (strcmp(rec->type, "agency") == 0 &&
	    note_member(&probe, rec->canonical, rec->canonical_len, "incident") < 0)
		goto done;
	nlead = probe.nnamed;
	if (note_body(&probe, rec->canonical, rec->canonical_len) < 0)
		goto done;
	if (!(f = feed_alloc(sizeof(*f) + probe.nnamed * sizeof(*f->named) + len + 1)))
		goto done;
	f->named = (named *)(f + 1);
	f->nnamed = (uint32_t)probe.nnamed;
	f->nlead = (uint32_t)nlead;
	if (probe.nnamed)
		memcpy(f->named, probe.named, probe.nnamed * sizeof(*f->named));
	f->text = (char *)(f->named + probe.nnamed);
	memcpy(f->text, text, len);
	f->text[len] = '\0';
	f->len = len;
	f->rank = tie_rank(rec->type, rec->canonical, rec->canonical_len);
	policy_feed_free(e->feed);
	e->feed = f;
done:
	if (text != buf)
		free(text);
	free(probe.named);
	json_decref(summary);
	ledger_error_clear(); /* none kept: out of memory only leaves e->feed NULL */
}

/*
 * Keep the summary of R that the verifier keeps (policy_feed_record) instead
 * of the file until the record's turn: a third of its bytes, and every
 * record is held at once (100 MB of files at 100,000 records).  -1 when the
 * file does not parse: it is kept whole, to fail as it did when judged.
 */
static int summarise(precord *r, const char *data, size_t len)
{
	json_t *env = json_loadb(data, len, 0, NULL), *rec = json_object_get(env, "record");
	json_t *summary = NULL;
	const char *type = pj_str(rec, "type");
	char *text = NULL;

	if (json_is_object(rec) && type && (summary = feed_summary(rec, type)))
		text = json_dumps(summary, JSON_COMPACT);
	json_decref(summary);
	json_decref(env);
	if (!text)
		return -1;
	r->data = text;
	r->len = strlen(text);
	r->fed = 1;
	return 0;
}

/* Take entry i; data: its file, or NULL to take the verifier's summary (e->feed). */
static int collect_entry(ledger_policy *pol, size_t i, const char *data, size_t len)
{
	const ledger_state *st = pol->state;
	const entry *e = &st->entries[i];
	const policy_feed *f = data ? NULL : e->feed;
	char incident[LEDGER_HEX_ID_LEN + 1], agency[40];
	precord *r;
	int ret;

	if (e->time > pol->latest)
		pol->latest = e->time;
	if (!(r = policy_add_record(pol)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	ledger_hex(r->id, e->id, 32);
	r->time = e->time;
	if ((ret = policy_index_put(pol, e->id, pol->nrecs - 1)) < 0)
		return ret;
	/* The summary from the verifier's entry; R is parsed when its turn comes. */
	if (policy_agency_of(agency, e->author) < 0)
		agency[0] = '\0';
	if (e->has_incident)
		ledger_hex(incident, e->incident, 32);
	if (!(r->type = intern_str(pol, e->type)) ||
	    !(r->author = intern_str(pol, e->author ? e->author : "")) ||
	    !(r->agency = intern_str(pol, agency)) || !(r->class_ = intern_str(pol, "")) ||
	    (e->has_incident && !(r->incident = policy_intern(pol, incident, LEDGER_HEX_ID_LEN))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (st->pending[i]) {
		/* The verifier is waiting for something this record needs. */
		r->verdict = PV_PENDING;
		return 0;
	}
	r->read = 1;
	if (f) {
		if ((ret = note_fed(r, e, f)) < 0)
			return ret;
		r->rank = f->rank;
		r->data = f->text; /* the state's, until the record is judged (consume_feed) */
		r->len = f->len;
		r->fed = 1;
		r->borrowed = 1;
		r->entry = (uint32_t)i;
		return 0;
	}
	r->rank = tie_rank(r->type, data, len);
	if ((ret = policy_note_names(r, e, data, len)) < 0)
		return ret;
	if (summarise(r, data, len) == 0)
		return 0;
	if (!(r->data = malloc(len)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	memcpy(r->data, data, len);
	r->len = len;
	return 0;
}

int policy_collect_file(const char *path, const char *data, size_t len, void *payload)
{
	ledger_policy *pol = payload;
	const ledger_state *st = pol->state;
	char id[LEDGER_HEX_ID_LEN + 1];
	uint8_t raw[32];
	size_t i;

	if (ledger_record_path_id(id, path) < 0 || ledger_unhex(raw, 32, id) < 0 ||
	    !idmap_get(&st->by_id, raw, &i))
		return 0;
	if (strcmp(st->entries[i].path, path) != 0 || !policy_takes_entry(st, i))
		return 0;
	return collect_entry(pol, i, data, len);
}

int policy_collect_fed(ledger_policy *pol, size_t i)
{
	return collect_entry(pol, i, NULL, 0);
}

/*
 * Every record from the verifier's summaries, when it kept one of each
 * record the engine takes (a verification of the whole tree, nothing from
 * its cache): 1; else 0, nothing taken.  Entries are in path order, as
 * ledger_repo_foreach_record gives the files.
 */
static int collect_fed(ledger_policy *pol)
{
	const ledger_state *st = pol->state;
	int ret;

	/* precord.entry has 32 bits (a policy cache is for as many entries only). */
	if (!st->policy_feed || st->count >= UINT32_MAX)
		return 0;
	for (size_t i = 0; i < st->count; i++)
		if (!st->entries[i].feed && policy_takes_entry(st, i))
			return 0;
	for (size_t i = 0; i < st->count; i++)
		if (st->entries[i].feed && policy_takes_entry(st, i) &&
		    (ret = collect_entry(pol, i, NULL, 0)) < 0)
			return ret;
	return 1;
}

static int add_candidate(ledger_policy *pol, const ledger_record *cand)
{
	uint8_t raw[32];
	precord *r = policy_add_record(pol);
	int ret;

	if (!r)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	memcpy(r->id, cand->id, sizeof(r->id));
	if ((ret = ledger_record_envelope(&r->data, &r->len, cand)) < 0 ||
	    (ret = parse_record(r, r->data, r->len)) < 0 || (ret = fill_record(pol, r)) < 0 ||
	    (ret = policy_note_names(r, NULL, r->data, r->len)) < 0)
		return ret;
	r->rank = tie_rank(r->type, r->data, r->len);
	if (r->time > pol->latest)
		pol->latest = r->time;
	ledger_unhex(raw, 32, r->id);
	return policy_index_put(pol, raw, pol->nrecs - 1);
}

/* Judged: what later records need is in the summary. */
static void release_record(precord *r)
{
	json_decref(r->rec);
	r->rec = NULL;
	r->body = NULL;
	if (!r->borrowed)
		free(r->data);
	r->data = NULL;
}

/*
 * Judged: the summary the verifier kept of it is of no more use.  Freed
 * now, its room goes to the derived state the pass builds; a later pass
 * over the same state reads the record's file instead.
 */
static void consume_feed(ledger_policy *pol, precord *r)
{
	entry *e;

	if (!r->borrowed)
		return;
	e = &pol->state->entries[r->entry];
	r->data = NULL;
	r->borrowed = 0;
	policy_feed_free(e->feed);
	e->feed = NULL;
}

/* --- causal order ----------------------------------------------------------- */

/* A state entry that took part in verification as valid; its index into *at. */
static int entry_valid(const ledger_state *st, const uint8_t id[32], size_t *at)
{
	size_t i;

	if (!idmap_get(&st->by_id, id, &i))
		return -1;
	*at = i;
	return !st->entries[i].fail_code && st->entries[i].sig == SIG_OK && !st->invalid[i] &&
	       !st->pending[i];
}

/* Keep what a pending record misses: the cache sees when it arrives. */
static int note_missing(precord *r, const named *n)
{
	named *more = realloc(r->missing, (r->nmissing + 1) * sizeof(*more));

	if (!more)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	r->missing = more;
	r->missing[r->nmissing++] = *n;
	return 0;
}

/*
 * Resolve what r names: a record the engine judges becomes an edge; a valid
 * trust record needs nothing; anything else makes r pending.
 */
static int resolve_names(ledger_policy *pol, precord *r)
{
	int ret = 0;

	for (size_t k = 0; k < r->nnamed && ret == 0; k++) {
		const named *n = &r->named[k];
		char hex[LEDGER_HEX_ID_LEN + 1];
		size_t j, at = 0, *deps;
		int valid;

		if (policy_index_get(pol, n->id, &j)) {
			if (&pol->recs[j] == r)
				continue;
			if (!(deps = realloc(r->deps, (r->ndeps + 1) * sizeof(*deps))))
				return ledger_error_set(LEDGER_ENOMEM, "out of memory");
			r->deps = deps;
			r->deps[r->ndeps++] = j;
			continue;
		}
		if ((valid = entry_valid(pol->state, n->id, &at)) == 1) {
			/*
			 * A trust record newer than the cache's prefix could change
			 * validity without the prefix seeing it: do not save this run.
			 */
			if (pol->state->entries[at].time >= pol->cut_time)
				pol->cache_unsafe = 1;
			continue;
		}
		r->verdict = PV_PENDING;
		ledger_hex(hex, n->id, 32);
		if ((ret = note_missing(r, n)) < 0)
			return ret;
		if (valid < 0)
			ret = policy_finding(pol, r, "FORMAT-1", LEDGER_SEVERITY_PENDING, "missing-ref",
			                     "%s names record \"%s\", which is not in the ledger",
			                     n->what, hex);
		else
			ret = policy_finding(pol, r, "FORMAT-1", LEDGER_SEVERITY_PENDING,
			                     "ref-not-valid", "%s names record \"%s\", which is not valid",
			                     n->what, hex);
	}
	free(r->named);
	r->named = NULL;
	r->nnamed = 0;
	return ret;
}

/* --- registrations of the same second ---------------------------------------- */

typedef struct {
	int64_t time;
	size_t at;           /* in pol->recs */
	char *org;           /* the id it registers */
	uint8_t *ancestry;   /* what it waits for, directly or not (NULL: to look at) */
} registration;

/* R's body, from its parse, its summary or its file; *owned: a reference to release. */
static json_t *record_body(const precord *r, json_t **owned)
{
	json_t *rec;

	*owned = NULL;
	if (r->rec)
		return json_object_get(r->rec, "body");
	if (!r->data || !(*owned = json_loadb(r->data, r->len, 0, NULL)))
		return NULL;
	rec = r->fed ? *owned : json_object_get(*owned, "record");
	return json_object_get(rec, "body");
}

static int registration_cmp(const void *a, const void *b)
{
	const registration *x = a, *y = b;

	return x->time < y->time ? -1 : x->time > y->time;
}

/*
 * Mark in g->ancestry every record g's registration waits for, directly or
 * not, with the waits added so far: one that waits for g is never made a
 * record g waits for, so no cycle is made.
 */
static int mark_ancestry(const ledger_policy *pol, registration *g)
{
	size_t *stack, n = 0;

	if (!(g->ancestry = calloc(pol->nrecs, 1)) ||
	    !(stack = malloc((pol->nrecs + 1) * sizeof(*stack))))
		return LEDGER_ENOMEM;
	stack[n++] = g->at;
	while (n) {
		const precord *r = &pol->recs[stack[--n]];

		for (size_t k = 0; k < r->ndeps; k++)
			if (!g->ancestry[r->deps[k]]) {
				g->ancestry[r->deps[k]] = 1;
				stack[n++] = r->deps[k];
			}
	}
	free(stack);
	return 0;
}

/* r waits for recs[at]: 1, or 0 when it already did. */
static int add_dep(precord *r, size_t at)
{
	size_t *deps;

	for (size_t k = 0; k < r->ndeps; k++)
		if (r->deps[k] == at)
			return 0;
	if (!(deps = realloc(r->deps, (r->ndeps + 1) * sizeof(*deps))))
		return LEDGER_ENOMEM;
	r->deps = deps;
	r->deps[r->ndeps++] = at;
	return 1;
}

/*
 * A record that names an organisation registered by an agency record of
 * its own second waits for that record, as for what it names by id: "an
 * organisation is registered before anyone acts for it" holds within a
 * second.  The tie ranks alone do not make it so when the registration
 * itself waits for a later-ranked record of that second (the manager's
 * participation as its prev): a request naming the agency would be judged
 * first and refused, though `cymat append` took it after the registration.
 * Not when the registration names the record (it was made first), nor from
 * a candidate to a record of the ledger, whose order is the ledger's alone
 * (the cache keeps it).  Registrations are few: only the records of their
 * seconds are read here.
 */
static int order_after_registrations(ledger_policy *pol)
{
	registration *regs = NULL, *more;
	size_t nregs = 0, i;
	json_t *owned, *body;
	int ret = 0;

	for (i = pol->nprefix; i < pol->nrecs; i++) {
		const precord *r = &pol->recs[i];
		const char *org;

		if (r->prefix || r->verdict == PV_PENDING || !ptype(r, "agency"))
			continue;
		body = record_body(r, &owned);
		org = pj_str(body, "id");
		if (org && (more = realloc(regs, (nregs + 1) * sizeof(*regs)))) {
			regs = more;
			regs[nregs] = (registration){ r->time, i, strdup(org), NULL };
			if (regs[nregs].org)
				nregs++;
			else
				ret = LEDGER_ENOMEM;
		} else if (org) {
			ret = LEDGER_ENOMEM;
		}
		json_decref(owned);
		if (ret < 0)
			goto done;
	}
	if (!nregs)
		goto done;
	qsort(regs, nregs, sizeof(*regs), registration_cmp);
	for (i = pol->nprefix; i < pol->nrecs && ret >= 0; i++) {
		precord *r = &pol->recs[i];
		registration key = { r->time, 0, NULL, NULL }, *g;

		if (r->prefix || r->verdict == PV_PENDING ||
		    !(g = bsearch(&key, regs, nregs, sizeof(*regs), registration_cmp)))
			continue;
		while (g > regs && g[-1].time == r->time)
			g--;
		body = record_body(r, &owned);
		for (; g < regs + nregs && g->time == r->time && ret >= 0; g++) {
			if (g->at == i || (g->at >= pol->first_candidate && i < pol->first_candidate) ||
			    !policy_names_organisation(r->agency, body, g->org))
				continue;
			if (!g->ancestry && (ret = mark_ancestry(pol, g)) < 0)
				break;
			if (g->ancestry[i] || (ret = add_dep(r, g->at)) <= 0)
				continue;
			/* Who named r now names g too: looked at again when asked. */
			for (registration *h = regs; h < regs + nregs; h++)
				if (h->ancestry && h->ancestry[i]) {
					free(h->ancestry);
					h->ancestry = NULL;
				}
		}
		json_decref(owned);
	}
done:
	for (i = 0; i < nregs; i++) {
		free(regs[i].org);
		free(regs[i].ancestry);
	}
	free(regs);
	return ret < 0 ? ledger_error_set(ret, "out of memory") : 0;
}

/*
 * The order of records ready to be judged: candidates after everything in
 * the ledger (they are new: whoever made one saw the ledger as it is), in
 * the order given; the others by time, then tie_rank, then id.
 */
static int before(const ledger_policy *pol, size_t a, size_t b)
{
	const precord *x = &pol->recs[a], *y = &pol->recs[b];
	int xc = a >= pol->first_candidate, yc = b >= pol->first_candidate;

	if (xc || yc)
		return xc && yc ? a < b : yc;
	if (x->time != y->time)
		return x->time < y->time;
	if (x->rank != y->rank)
		return x->rank < y->rank;
	return strcmp(x->id, y->id) < 0;
}

static void heap_push(const ledger_policy *pol, size_t *heap, size_t *n, size_t v)
{
	size_t i = (*n)++;

	while (i > 0 && before(pol, v, heap[(i - 1) / 2])) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = v;
}

static size_t heap_pop(const ledger_policy *pol, size_t *heap, size_t *n)
{
	size_t top = heap[0], last = heap[--*n], i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && before(pol, heap[c + 1], heap[c]))
			c++;
		if (!before(pol, heap[c], last))
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (*n)
		heap[i] = last;
	return top;
}

/*
 * Kahn's algorithm with the ready records in a heap ordered by before():
 * every record after what it names, otherwise oldest first.  The records
 * of the cache's prefix keep their places at the start (order[0..nprefix)
 * already); what names them only waits for the others.  They are
 * recs[0..nprefix) and name only each other: the loops over the records
 * start after them (a cached run's prefix is nearly all of them).
 */
static int causal_order(ledger_policy *pol)
{
	size_t n = pol->nrecs, *indegree = NULL, *start = NULL, *edges = NULL, *heap = NULL;
	size_t nheap = 0, i, k, *order, first = pol->nprefix;
	int r = LEDGER_ENOMEM;

	indegree = calloc(n + 1, sizeof(*indegree));
	start = calloc(n + 2, sizeof(*start));
	heap = malloc((n + 1) * sizeof(*heap));
	order = realloc(pol->order, (n + 1) * sizeof(*pol->order));
	if (order)
		pol->order = order;
	if (!indegree || !start || !heap || !order)
		goto done;
	for (i = first; i < n; i++)
		for (k = 0; k < pol->recs[i].ndeps; k++)
			if (!pol->recs[pol->recs[i].deps[k]].prefix)
				start[pol->recs[i].deps[k] + 1]++;
	for (i = 0; i < n; i++)
		start[i + 1] += start[i];
	if (!(edges = malloc((start[n] + 1) * sizeof(*edges))))
		goto done;
	/* indegree doubles as the fill position of each record's dependents. */
	for (i = first; i < n; i++)
		for (k = 0; k < pol->recs[i].ndeps; k++) {
			size_t d = pol->recs[i].deps[k];

			if (!pol->recs[d].prefix)
				edges[start[d] + indegree[d]++] = i;
		}
	for (i = 0; i < n; i++)
		indegree[i] = 0;
	for (i = first; i < n; i++)
		for (k = 0; k < pol->recs[i].ndeps; k++)
			indegree[i] += !pol->recs[pol->recs[i].deps[k]].prefix;
	for (i = first; i < n; i++)
		if (!pol->recs[i].prefix && !indegree[i])
			heap_push(pol, heap, &nheap, i);
	pol->norder = pol->nprefix;
	while (nheap) {
		size_t v = heap_pop(pol, heap, &nheap);

		pol->order[pol->norder++] = v;
		for (k = start[v]; k < start[v + 1]; k++)
			if (--indegree[edges[k]] == 0)
				heap_push(pol, heap, &nheap, edges[k]);
	}
	r = 0;
done:
	free(indegree);
	free(start);
	free(edges);
	free(heap);
	return r < 0 ? ledger_error_set(r, "out of memory") : 0;
}

/* --- judging ------------------------------------------------------------------ */

static int judge(ledger_policy *pol, precord *r)
{
	int ret;

	if (!r->rec && ((ret = parse_record(r, r->data, r->len)) < 0 || (ret = fill_record(pol, r)) < 0))
		return ret;
	for (size_t k = 0; k < r->ndeps; k++) {
		const precord *d = &pol->recs[r->deps[k]];

		if (d->verdict == PV_PENDING) {
			r->verdict = PV_PENDING;
			return policy_finding(pol, r, "FORMAT-1", LEDGER_SEVERITY_PENDING,
			                      "waiting", "waits for record \"%s\", itself pending",
			                      d->id);
		}
	}
	for (size_t k = 0; k < NRULES; k++)
		if ((ret = judges[k](pol, r)) < 0)
			return ret;
	r->verdict = r->broken ? PV_INVALID : PV_VALID;
	pol->judged++;
	return r->verdict == PV_VALID ? state_apply(pol, r) : 0;
}

static int run(ledger_policy **out, const ledger_state *state, ledger_repo *repo,
               const ledger_policy_options *opts, const ledger_record *const *candidates,
               size_t ncandidates)
{
	ledger_policy_options defaults = LEDGER_POLICY_OPTIONS_INIT;
	ledger_policy *pol;
	size_t i;
	int r;

	*out = NULL;
	pol = calloc(1, sizeof(*pol));
	if (!pol)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	pol->state = state;
	pol->opts = defaults;
	if (opts) {
		pol->opts.now = opts->now;
		pol->opts.replacement_days = opts->replacement_days;
		/* Version 1 callers knew no cache: the default applies. */
		if (opts->version >= 2)
			pol->opts.use_cache = opts->use_cache;
	}
	if (!pol->opts.replacement_days)
		pol->opts.replacement_days = defaults.replacement_days;
	/* The cache is keyed by the verified tip: without one, there is nothing to key it by. */
	pol->use_cache = pol->opts.use_cache && state->tip[0];
	/*
	 * The pack pages verification read stay mapped, and count in the
	 * process's memory, while the repository keeps its object database:
	 * the derived state would grow on top of them (19 MB of the peak of
	 * `cymat findings` without caches at 100,000 records).
	 */
	if ((r = store_odb_fresh(repo)) < 0 || (r = report_new(&pol->report)) < 0 ||
	    (r = state_init(pol)) < 0)
		goto done;
	/* Room for every record at once: growing by doubling copies large arrays again and again. */
	pol->capacity = state->count + ncandidates + 1;
	if (!(pol->recs = malloc(pol->capacity * sizeof(*pol->recs))) ||
	    !(pol->rec_of = calloc(state->count + 1, sizeof(*pol->rec_of)))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	huge_pages_advise(pol->recs, pol->capacity * sizeof(*pol->recs));
	if (pol->use_cache && (r = policy_cache_load(pol, repo)) < 0)
		goto done;
	if (r == 0 && (r = collect_fed(pol)) == 0)
		r = ledger_repo_foreach_record(repo, state->tip[0] ? state->tip : NULL,
		                               policy_collect_file, pol);
	if (r < 0)
		goto done;
	pol->first_candidate = pol->nrecs;
	pol->cut_time = pol->latest;
	/*
	 * Rewriting the cache (its derived state is most of it) costs more than
	 * judging again a tail of up to 1/32 of the prefix it has: keep it until
	 * the tail is longer.
	 */
	if (pol->nprefix && pol->nrecs - pol->nprefix < pol->nprefix / 32)
		pol->use_cache = 0;
	/* Trust records are the verifier's to judge, as in a full pass. */
	for (i = 0; i < ncandidates; i++)
		if (!entry_is_trust_type(candidates[i]->type) &&
		    (r = add_candidate(pol, candidates[i])) < 0)
			goto done;
	pol->now = pol->opts.now ? pol->opts.now : pol->latest;
	for (i = 0; i < pol->nrecs; i++)
		point_summary(&pol->recs[i]);
	for (i = pol->nprefix; i < pol->nrecs; i++)
		if (!pol->recs[i].prefix && pol->recs[i].verdict != PV_PENDING &&
		    (r = resolve_names(pol, &pol->recs[i])) < 0)
			goto done;
	if ((r = order_after_registrations(pol)) < 0 || (r = causal_order(pol)) < 0)
		goto done;
	for (i = pol->nprefix; i < pol->norder; i++) {
		precord *rec = &pol->recs[pol->order[i]];

		/*
		 * The prefix a later run may take from the cache ends before the
		 * latest second of the ledger (its neighbours in that second are
		 * judged again) and before the candidates.
		 */
		if (pol->use_cache && !pol->cut_taken &&
		    (pol->order[i] >= pol->first_candidate || rec->time >= pol->cut_time))
			policy_cache_cut(pol, repo, i);
		if (rec->verdict != PV_PENDING && (r = judge(pol, rec)) < 0)
			goto done;
		consume_feed(pol, rec);
		release_record(rec);
	}
	if (pol->use_cache && !pol->cut_taken)
		policy_cache_cut(pol, repo, pol->norder);
	for (i = 0; i < sizeof(finals) / sizeof(finals[0]); i++)
		if ((r = finals[i](pol, NULL)) < 0)
			goto done;
	if (pol->lazy_failed) {
		r = LEDGER_EINVALID; /* the message is lazy_take's */
		goto done;
	}
	report_sort(pol->report);
	/* A cache that cannot be written costs the next run a full pass, nothing more. */
	if (pol->use_cache && !pol->cache_unsafe && policy_cache_save(pol) < 0)
		ledger_error_clear();
	*out = pol;
	pol = NULL; /* transferred */
	r = 0;
done:
	ledger_policy_free(pol);
	return r;
}

int ledger_policy_evaluate(ledger_policy **out, const ledger_state *state, ledger_repo *repo,
                           const ledger_policy_options *opts)
{
	return run(out, state, repo, opts, NULL, 0);
}

int ledger_policy_judge(ledger_report **out, const ledger_state *state, ledger_repo *repo,
                        const ledger_record *candidate, const ledger_policy_options *opts)
{
	return ledger_policy_judge_batch(out, state, repo, &candidate, 1, opts);
}

int ledger_policy_judge_batch(ledger_report **out, const ledger_state *state, ledger_repo *repo,
                              const ledger_record *const *candidates, size_t count,
                              const ledger_policy_options *opts)
{
	ledger_policy *pol = NULL;
	ledger_report *mine = NULL;
	int r;

	*out = NULL;
	if ((r = run(&pol, state, repo, opts, candidates, count)) < 0 ||
	    (r = report_new(&mine)) < 0)
		goto done;
	for (size_t i = 0; i < pol->report->count; i++) {
		const ledger_finding *f = &pol->report->items[i];
		const precord *c = policy_record(pol, f->id);

		if (!c || c < &pol->recs[pol->first_candidate])
			continue;
		if ((r = report_add_copy(mine, f, NULL)) < 0)
			goto done;
	}
	*out = mine;
	mine = NULL; /* transferred */
	r = 0;
done:
	ledger_report_free(mine);
	ledger_policy_free(pol);
	return r;
}

const ledger_report *ledger_policy_report(const ledger_policy *policy)
{
	return policy->report;
}

const char *ledger_policy_record_status(const ledger_policy *policy, const char *id)
{
	static const char *const names[] = { NULL, "valid", "invalid", "pending" };
	const precord *r = policy_record(policy, id);

	return r ? names[r->verdict] : NULL;
}

/* --- views ------------------------------------------------------------------- */

/* The incident a record belongs to: its `incident`, or the one it opens. */
static const char *incident_key(const precord *r)
{
	return r->incident ? r->incident : r->opens;
}

static json_t *incident_view(const json_t *inc, size_t findings)
{
	json_t *v = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:I}",
	                      "id", json_object_get(inc, "id"),
	                      "state", json_object_get(inc, "state"),
	                      "basis", json_object_get(inc, "basis"),
	                      "route", json_object_get(inc, "route"),
	                      "requested_by", json_object_get(inc, "requested_by"),
	                      "affected", json_object_get(inc, "affected"),
	                      "opened", json_object_get(inc, "opened"),
	                      "updated", json_object_get(inc, "updated"),
	                      "dispatches", json_object_get(inc, "dispatches"),
	                      "findings", (json_int_t)findings);

	if (!v)
		return NULL;
	json_object_set(v, "reports", json_object_get(inc, "reports"));
	if (json_object_get(inc, "on_behalf_of"))
		json_object_set(v, "on_behalf_of", json_object_get(inc, "on_behalf_of"));
	if (json_object_get(inc, "closure"))
		json_object_set(v, "closure", json_object_get(inc, "closure"));
	if (pj_true(inc, "cabinet_emergency"))
		json_object_set_new(v, "cabinet_emergency", json_true());
	return v;
}

/* Findings per incident id, counted once over the report. */
static json_t *findings_per_incident(const ledger_policy *pol)
{
	json_t *counts = json_object();

	for (size_t i = 0; counts && i < pol->report->count; i++) {
		const precord *r = policy_record(pol, pol->report->items[i].id);
		const char *key = r && r->read ? incident_key(r) : NULL;

		if (key)
			json_object_set_new(counts, key,
			                    json_integer(json_integer_value(json_object_get(counts, key)) + 1));
	}
	return counts;
}

json_t *ledger_policy_incidents(const ledger_policy *policy)
{
	json_t *list, *counts, *id;
	size_t i;

	/* Every incident, the cached ones too (the policy is a malloc'd, mutable object). */
	if (state_take_all((ledger_policy *)policy) < 0)
		return NULL;
	list = json_array();
	counts = findings_per_incident(policy);
	if (!list || !counts)
		goto fail;
	json_array_foreach(policy->incident_order, i, id) {
		const char *key = json_string_value(id);
		json_t *v = incident_view(json_object_get(policy->incidents, key),
		                          (size_t)json_integer_value(json_object_get(counts, key)));

		if (!v || json_array_append_new(list, v) < 0)
			goto fail;
	}
	/* Incidents whose opening record waits for what it names. */
	for (i = 0; i < policy->norder; i++) {
		const precord *r = &policy->recs[policy->order[i]];

		char opened[21];

		if (r->verdict != PV_PENDING || !r->opens)
			continue;
		ledger_time_format(opened, r->time);
		if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "id", r->id,
		                                          "state", "pending", "requested_by",
		                                          r->agency, "opened", opened)) < 0)
			goto fail;
	}
	json_decref(counts);
	return list;
fail:
	json_decref(list);
	json_decref(counts);
	return NULL;
}

/*
 * Every record of the incident that was judged (valid or invalid), in
 * causal order.  A record names its incident, so the incident was judged
 * before it: the ones that exist in the state had opened by then.
 */
static json_t *incident_timeline(const ledger_policy *pol, const char *key)
{
	static const char *const names[] = { "new", "valid", "invalid", "pending" };
	json_t *list = json_array();

	for (size_t i = 0; list && i < pol->norder; i++) {
		const precord *r = &pol->recs[pol->order[i]];
		const char *rk = r->read ? incident_key(r) : NULL;
		char when[21];

		if ((r->verdict != PV_VALID && r->verdict != PV_INVALID) || !rk || strcmp(rk, key) != 0)
			continue;
		ledger_time_format(when, r->time);
		if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", r->id,
		                                          "type", r->type, "time", when, "author",
		                                          r->author, "status", names[r->verdict])) < 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

json_t *ledger_policy_incident(const ledger_policy *policy, const char *id)
{
	const char *key = NULL, *k;
	size_t len = id ? strlen(id) : 0;
	json_t *inc, *v, *timeline, *findings, *value;

	if (len < 4 || len > LEDGER_HEX_ID_LEN || state_take_all((ledger_policy *)policy) < 0)
		return NULL;
	json_object_foreach(policy->incidents, k, value) {
		if (strncmp(k, id, len) != 0)
			continue;
		if (key)
			return NULL; /* ambiguous */
		key = k;
	}
	if (!key || !(inc = json_object_get(policy->incidents, key)))
		return NULL;
	findings = json_array();
	timeline = incident_timeline(policy, key);
	for (size_t i = 0; findings && i < policy->report->count; i++) {
		const ledger_finding *f = &policy->report->items[i];
		const precord *r = policy_record(policy, f->id);
		const char *rk = r && r->read ? incident_key(r) : NULL;

		if (rk && strcmp(rk, key) == 0)
			json_array_append_new(findings, ledger_finding_json(f));
	}
	v = incident_view(inc, json_array_size(findings));
	if (!v || !findings || !timeline) {
		json_decref(v);
		json_decref(findings);
		json_decref(timeline);
		return NULL;
	}
	json_object_set_new(v, "timeline", timeline);
	json_object_set_new(v, "findings", findings);
	return v;
}

json_t *ledger_policy_council_summary(const ledger_policy *policy, int64_t from, int64_t until)
{
	return policy_summary(policy, from, until);
}

json_t *ledger_policy_state_json(const ledger_policy *policy)
{
	return json_pack("{s:o, s:o, s:o}", "incidents", ledger_policy_incidents(policy),
	                 "roster", ledger_policy_roster(policy), "consents",
	                 ledger_policy_consents(policy));
}

size_t ledger_policy_judged(const ledger_policy *policy)
{
	return policy->judged;
}

void ledger_policy_free(ledger_policy *policy)
{
	if (!policy)
		return;
	for (size_t i = 0; i < policy->nrecs; i++) {
		release_record(&policy->recs[i]);
		free(policy->recs[i].named);
		free(policy->recs[i].deps);
		free(policy->recs[i].missing);
	}
	for (size_t i = 0; i < policy->npool; i++)
		free(policy->pool[i]);
	for (size_t i = 0; i < policy->strings.capacity; i++)
		free(policy->strings.slots[i]);
	free(policy->strings.slots);
	free(policy->pool);
	policy_cache_discard(policy);
	free(policy->recs);
	free(policy->order);
	idmap_release(&policy->ids);
	free(policy->rec_of);
	lazy_table_release(&policy->lazy_incidents);
	lazy_table_release(&policy->lazy_consents);
	free((void *)policy->cache_map);
	ledger_report_free(policy->report);
	state_release(policy);
	free(policy);
}
