/*
 * DOMAIN.md sections 5-9: composition and appointment, trainees, quotas,
 * changes of candidates and trainees.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ledger/error.h"
#include "policy_internal.h"

#define DAY 86400

static int appointment_of(const precord *r, const char *role)
{
	return ptype(r, "appointment") && streq(pj_str(r->body, "role"), role);
}

/* Is `principal` a NISC resident at t (agency nisc and the attribute)? */
static int nisc_resident(const ledger_policy *pol, const char *principal, int64_t t)
{
	char agency[40];

	return policy_agency_of(agency, principal) == 0 && strcmp(agency, "nisc") == 0 &&
	       pj_true(state_attributes_at(pol, principal, t), "nisc_resident");
}

/* Is the author a CISO of `agency` at the record's time? */
static int agency_ciso(const ledger_policy *pol, const precord *r, const char *agency)
{
	char own[40];

	return policy_agency_of(own, r->author) == 0 && streq(own, agency) &&
	       (state_roles_at(pol, r->author, r->time) & PR_CISO);
}

static int belongs_to(const char *principal, const char *agency)
{
	char own[40];

	return policy_agency_of(own, principal) == 0 && streq(own, agency);
}

/* The appointment is signed by the director (the deputy's acting is R4.2's question). */
static int check_appointer(ledger_policy *pol, precord *r, const char *rule)
{
	if (policy_director_or_deputy(pol, r))
		return 0;
	return policy_finding(pol, r, rule, LEDGER_SEVERITY_ERROR, "not-appointed-by-director",
	                      "%s appointed by \"%s\", not by the director", pj_str(r->body, "role"),
	                      r->author);
}

static int check_resident(ledger_policy *pol, precord *r, const char *rule, const char *principal)
{
	if (nisc_resident(pol, principal, r->time))
		return 0;
	return policy_finding(pol, r, rule, LEDGER_SEVERITY_ERROR, "not-nisc-resident",
	                      "\"%s\" is not a NISC resident", principal);
}

/* R5.5 manager, field leaders and members must be full-time national public servants. */
int rule_r5_5_civil_servant(ledger_policy *pol, precord *r)
{
	const char *principal;
	const json_t *attrs;

	if (!ptype(r, "appointment"))
		return 0;
	principal = pj_str(r->body, "principal");
	attrs = state_attributes_at(pol, principal, r->time);
	if (!attrs)
		return policy_finding(pol, r, "R5.5", LEDGER_SEVERITY_ERROR, "principal-unknown",
		                      "\"%s\" is not a principal bound at the appointment", principal);
	if (!pj_true(attrs, "full_time_civil_servant"))
		return policy_finding(pol, r, "R5.5", LEDGER_SEVERITY_ERROR, "not-civil-servant",
		                      "\"%s\" is not a full-time national public servant", principal);
	return 0;
}

/* R6.1 the manager is appointed by the director, from NISC-resident counsellors. */
int rule_r6_1_manager(ledger_policy *pol, precord *r)
{
	int ret;

	if (!appointment_of(r, "manager"))
		return 0;
	if ((ret = check_appointer(pol, r, "R6.1")) < 0)
		return ret;
	return check_resident(pol, r, "R6.1", pj_str(r->body, "principal"));
}

/*
 * R6.2 field leaders (about 2) are appointed by the director from NISC
 * residents; an appointment that makes more than 3 active is a warning.
 */
int rule_r6_2_field_leaders(ledger_policy *pol, precord *r)
{
	const char *principal = pj_str(r->body, "principal");
	int64_t from;
	json_t *active;
	size_t n, i;
	int ret, already = 0;

	if (!appointment_of(r, "field_leader"))
		return 0;
	if ((ret = check_appointer(pol, r, "R6.2")) < 0 ||
	    (ret = check_resident(pol, r, "R6.2", principal)) < 0)
		return ret;
	from = pj_time(r->body, "from", r->time);
	if (!(active = state_appointed(pol, "field_leader", from)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	for (i = 0; i < json_array_size(active); i++)
		already |= streq(json_string_value(json_array_get(active, i)), principal);
	n = json_array_size(active) + !already;
	json_decref(active);
	if (n > 3)
		return policy_finding(pol, r, "R6.2", LEDGER_SEVERITY_WARNING, "too-many-field-leaders",
		                      "%zu field leaders active, more than the 3 planned for", n);
	return 0;
}

/* R6.2, end of ledger: fewer than 1 active field leader, once CYMAT is staffed. */
int rule_r6_2_field_leaders_count(ledger_policy *pol, precord *r)
{
	json_t *active;
	size_t n;

	(void)r;
	if (!json_array_size(pol->appointments))
		return 0;
	if (!(active = state_appointed(pol, "field_leader", pol->now)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	n = json_array_size(active);
	json_decref(active);
	if (n < 1)
		return policy_finding(pol, NULL, "R6.2", LEDGER_SEVERITY_WARNING, "no-field-leader",
		                      "no field leader is active");
	return 0;
}

/*
 * R6.3 members are appointed by the director from nominated candidates
 * or NISC residents; in an emergency the manager may bring a NISC resident
 * into an activity (participation).
 */
int rule_r6_3_members(ledger_policy *pol, precord *r)
{
	const char *principal = pj_str(r->body, "principal"), *nomination;
	int ret;

	if (ptype(r, "participation")) {
		if (!(state_roles_at(pol, r->author, r->time) & PR_MANAGER) &&
		    (ret = policy_finding(pol, r, "R6.3", LEDGER_SEVERITY_ERROR, "not-manager",
		                          "participation signed by \"%s\", not by the manager",
		                          r->author)) < 0)
			return ret;
		if (!state_incident(pol, r->incident) &&
		    (ret = policy_finding(pol, r, "R6.3", LEDGER_SEVERITY_ERROR, "no-incident",
		                          "participation in \"%s\", which is not an incident",
		                          r->incident ? r->incident : "")) < 0)
			return ret;
		return check_resident(pol, r, "R6.3", principal);
	}
	if (!appointment_of(r, "member"))
		return 0;
	if ((ret = check_appointer(pol, r, "R6.3")) < 0)
		return ret;
	nomination = pj_str(r->body, "nomination");
	if (nomination) {
		json_t *n = json_object_get(pol->nominations, nomination);

		if (!n || json_object_get(n, "withdrawn") || !streq(pj_str(n, "person"), principal))
			return policy_finding(pol, r, "R6.3", LEDGER_SEVERITY_ERROR, "no-nomination",
			                      "\"%s\" is not an active nomination of \"%s\"", nomination,
			                      principal);
		return 0;
	}
	return check_resident(pol, r, "R6.3", principal);
}

/*
 * R7.1 a trainee registration is signed by the registering agency's CISO;
 * the trainee belongs to that agency, a government or observer agency.
 */
int rule_r7_1_trainee_registration(ledger_policy *pol, precord *r)
{
	const char *agency, *kind;
	int ret;

	if (!ptype(r, "registration"))
		return 0;
	agency = pj_str(r->body, "agency");
	kind = pj_str(state_agency(pol, agency), "kind");
	if (!agency_ciso(pol, r, agency) &&
	    (ret = policy_finding(pol, r, "R7.1", LEDGER_SEVERITY_ERROR, "not-agency-ciso",
	                          "registration for \"%s\" signed by \"%s\", not its CISO", agency,
	                          r->author)) < 0)
		return ret;
	if (!belongs_to(pj_str(r->body, "trainee"), agency) &&
	    (ret = policy_finding(pol, r, "R7.1", LEDGER_SEVERITY_ERROR, "trainee-not-of-agency",
	                          "trainee \"%s\" does not belong to \"%s\"",
	                          pj_str(r->body, "trainee"), agency)) < 0)
		return ret;
	if (kind && !streq(kind, "government") && !streq(kind, "observer"))
		return policy_finding(pol, r, "R7.1", LEDGER_SEVERITY_ERROR, "agency-kind",
		                      "\"%s\" is a %s agency; only government and observer agencies register trainees",
		                      agency, kind);
	return 0;
}

/* R7.2 a training application names trainees that agency registered and are still active. */
int rule_r7_2_training_application(ledger_policy *pol, precord *r)
{
	const char *agency;
	json_t *trainees, *v;
	size_t i;
	int ret;

	if (!ptype(r, "training_application"))
		return 0;
	agency = pj_str(r->body, "agency");
	if (!agency_ciso(pol, r, agency) &&
	    (ret = policy_finding(pol, r, "R7.2", LEDGER_SEVERITY_ERROR, "not-agency-ciso",
	                          "training application for \"%s\" signed by \"%s\", not its CISO",
	                          agency, r->author)) < 0)
		return ret;
	if (!streq(pj_str(r->body, "cost_borne_by"), agency) &&
	    (ret = policy_finding(pol, r, "R7.2", LEDGER_SEVERITY_ERROR, "cost-not-borne",
	                          "the cost is to be borne by \"%s\", not by the registering agency",
	                          pj_str(r->body, "cost_borne_by"))) < 0)
		return ret;
	trainees = json_object_get(state_agency(pol, agency), "trainees");
	json_array_foreach(json_object_get(r->body, "trainees"), i, v) {
		const char *name = json_string_value(v), *k;
		json_t *who;
		int found = 0;

		json_object_foreach(trainees, k, who)
			found |= streq(json_string_value(who), name);
		if (!found &&
		    (ret = policy_finding(pol, r, "R7.2", LEDGER_SEVERITY_ERROR, "not-registered",
		                          "\"%s\" is not an active trainee registered by \"%s\"", name,
		                          agency)) < 0)
			return ret;
	}
	return 0;
}

/*
 * R8.1 a government agency has at most 4 active member candidates; the
 * nomination is its CISO's, of its own staff.
 */
int rule_r8_1_candidate_quota(ledger_policy *pol, precord *r)
{
	const char *agency;
	size_t n;
	int ret;

	if (!ptype(r, "nomination"))
		return 0;
	agency = pj_str(r->body, "agency");
	if (!agency_ciso(pol, r, agency) &&
	    (ret = policy_finding(pol, r, "R8.1", LEDGER_SEVERITY_ERROR, "not-agency-ciso",
	                          "nomination for \"%s\" signed by \"%s\", not its CISO", agency,
	                          r->author)) < 0)
		return ret;
	if (!belongs_to(pj_str(r->body, "candidate"), agency) &&
	    (ret = policy_finding(pol, r, "R8.1", LEDGER_SEVERITY_ERROR, "candidate-not-of-agency",
	                          "candidate \"%s\" does not belong to \"%s\"",
	                          pj_str(r->body, "candidate"), agency)) < 0)
		return ret;
	if (state_agency(pol, agency) &&
	    !streq(pj_str(state_agency(pol, agency), "kind"), "government"))
		return policy_finding(pol, r, "R8.1", LEDGER_SEVERITY_ERROR, "not-government",
		                      "\"%s\" is not a government agency; only those nominate candidates",
		                      agency);
	n = state_candidates(pol, agency) + 1;
	if (n > 4)
		return policy_finding(pol, r, "R8.1", LEDGER_SEVERITY_ERROR, "candidate-quota",
		                      "\"%s\" would have %zu active member candidates, at most 4", agency,
		                      n);
	return 0;
}

/*
 * R8.1, end of ledger: a government agency without a candidate (and, R8.2,
 * without a trainee).  Not when its agency record is one being judged for
 * an append: a nomination names a registered agency (R2.1), so none can
 * come before the registration, and warning every `agency add` of what its
 * CISO cannot have done yet only buries the findings that matter.  The
 * ledger's own findings keep the warning until a candidate or a trainee.
 */
int rule_r8_1_candidate_minimum(ledger_policy *pol, precord *r)
{
	const char *id;
	json_t *a;
	int ret;

	(void)r;
	json_object_foreach(pol->agencies, id, a) {
		precord *source;

		if (!streq(pj_str(a, "kind"), "government") || state_candidates(pol, id) ||
		    state_trainees(pol, id))
			continue;
		source = policy_record(pol, pj_str(a, "record"));
		if (source && source >= &pol->recs[pol->first_candidate])
			continue;
		if ((ret = policy_finding(pol, source, "R8.1", LEDGER_SEVERITY_WARNING, "no-candidate",
		                          "government agency \"%s\" has no member candidate and no trainee (R8.2)",
		                          id)) < 0)
			return ret;
	}
	return 0;
}

/* R8.2 candidates + trainees at most 4 per government agency. */
int rule_r8_2_combined_quota(ledger_policy *pol, precord *r)
{
	const char *agency;
	size_t n;

	if (!ptype(r, "nomination") && !ptype(r, "registration"))
		return 0;
	agency = pj_str(r->body, "agency");
	if (!streq(pj_str(state_agency(pol, agency), "kind"), "government"))
		return 0;
	n = state_candidates(pol, agency) + state_trainees(pol, agency) + 1;
	if (n > 4)
		return policy_finding(pol, r, "R8.2", LEDGER_SEVERITY_ERROR, "combined-quota",
		                      "\"%s\" would have %zu candidates and trainees, at most 4", agency,
		                      n);
	return 0;
}

/* R8.3 an observer agency has at most 4 active trainees. */
int rule_r8_3_observer_trainees(ledger_policy *pol, precord *r)
{
	const char *agency;
	size_t n;

	if (!ptype(r, "registration"))
		return 0;
	agency = pj_str(r->body, "agency");
	if (!streq(pj_str(state_agency(pol, agency), "kind"), "observer"))
		return 0;
	n = state_trainees(pol, agency) + 1;
	if (n > 4)
		return policy_finding(pol, r, "R8.3", LEDGER_SEVERITY_ERROR, "observer-trainee-quota",
		                      "observer \"%s\" would have %zu active trainees, at most 4", agency,
		                      n);
	return 0;
}

/*
 * R9.1 withdrawing a candidate or trainee is a record of the agency that
 * nominated or registered; a replacement names the withdrawal it replaces.
 */
int rule_r9_1_replacement(ledger_policy *pol, precord *r)
{
	const char *target, *what, *replaces;
	json_t *t, *w;

	if (ptype(r, "withdrawal")) {
		what = pj_str(r->body, "what");
		target = pj_str(r->body, "withdraws");
		t = json_object_get(streq(what, "nomination") ? pol->nominations : pol->registrations,
		                    target);
		if (!t)
			return policy_finding(pol, r, "R9.1", LEDGER_SEVERITY_ERROR, "unknown-target",
			                      "\"%s\" is not a %s in force", target, what);
		if (json_object_get(t, "withdrawn"))
			return policy_finding(pol, r, "R9.1", LEDGER_SEVERITY_ERROR, "already-withdrawn",
			                      "%s \"%s\" is already withdrawn", what, target);
		if (!agency_ciso(pol, r, pj_str(t, "agency")))
			return policy_finding(pol, r, "R9.1", LEDGER_SEVERITY_ERROR, "not-agency-ciso",
			                      "withdrawal signed by \"%s\", not by the CISO of \"%s\"",
			                      r->author, pj_str(t, "agency"));
		return 0;
	}
	if (!ptype(r, "nomination") && !ptype(r, "registration"))
		return 0;
	if (!(replaces = pj_str(r->body, "replaces")))
		return 0;
	w = json_object_get(pol->withdrawals, replaces);
	if (!w || !streq(pj_str(w, "what"), r->type) ||
	    !streq(pj_str(w, "agency"), pj_str(r->body, "agency")))
		return policy_finding(pol, r, "R9.1", LEDGER_SEVERITY_ERROR, "bad-replacement",
		                      "\"%s\" is not a withdrawal of a %s of \"%s\"", replaces, r->type,
		                      pj_str(r->body, "agency"));
	if (json_object_get(w, "replaced_by"))
		return policy_finding(pol, r, "R9.1", LEDGER_SEVERITY_ERROR, "already-replaced",
		                      "withdrawal \"%s\" is already replaced by \"%s\"", replaces,
		                      pj_str(w, "replaced_by"));
	return 0;
}

/* R9.1, end of ledger: withdrawals left without a replacement for too long. */
int rule_r9_1_replacement_overdue(ledger_policy *pol, precord *r)
{
	int64_t limit = (int64_t)pol->opts.replacement_days * DAY;
	const char *id;
	json_t *w;
	int ret;

	(void)r;
	json_object_foreach(pol->withdrawals, id, w) {
		int64_t since = json_integer_value(json_object_get(w, "time"));

		if (json_object_get(w, "replaced_by") || pol->now - since <= limit)
			continue;
		if ((ret = policy_finding(pol, policy_record(pol, id), "R9.1", LEDGER_SEVERITY_WARNING,
		                          "no-replacement",
		                          "withdrawn %s of \"%s\" has no replacement after %u days",
		                          pj_str(w, "what"), pj_str(w, "agency"),
		                          pol->opts.replacement_days)) < 0)
			return ret;
	}
	return 0;
}
