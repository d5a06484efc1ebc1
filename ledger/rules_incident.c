/*
 * DOMAIN.md sections 10-14: support requests, dispatch, activities, damage
 * reports, end of support.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ledger/error.h"
#include "policy_internal.h"

static const char *kind_of(const ledger_policy *pol, const char *agency)
{
	return pj_str(state_agency(pol, agency), "kind");
}

static int request_basis(const precord *r, const char *basis)
{
	return ptype(r, "request") && streq(pj_str(r->body, "basis"), basis);
}

/* The ask of an IAA or stakeholder must be its own. */
static int check_ask(ledger_policy *pol, precord *r, const char *rule)
{
	const char *asker = pj_str(json_object_get(r->body, "ask"), "agency");

	if (streq(asker, pj_str(r->body, "affected")))
		return 0;
	return policy_finding(pol, r, rule, LEDGER_SEVERITY_ERROR, "not-own-ask",
	                      "the ask comes from \"%s\", not from the affected \"%s\"",
	                      asker ? asker : "", pj_str(r->body, "affected"));
}

/* R10.1 a government or observer agency may request support for an incident of its own. */
int rule_r10_1_own_incident(ledger_policy *pol, precord *r)
{
	const char *kind;

	if (!request_basis(r, "10.1"))
		return 0;
	if (!streq(pj_str(r->body, "affected"), r->agency))
		return policy_finding(pol, r, "R10.1", LEDGER_SEVERITY_ERROR, "not-own-incident",
		                      "\"%s\" requests support for \"%s\" under 10(1), which is for its own incidents",
		                      r->agency, pj_str(r->body, "affected"));
	kind = kind_of(pol, r->agency);
	if (kind && !streq(kind, "government") && !streq(kind, "observer"))
		return policy_finding(pol, r, "R10.1", LEDGER_SEVERITY_ERROR, "agency-kind",
		                      "\"%s\" is a %s agency; 10(1) requests come from government and observer agencies",
		                      r->agency, kind);
	return 0;
}

/* R10.2 a government agency may request support for an IAA it oversees, on that IAA's ask. */
int rule_r10_2_overseen_iaa(ledger_policy *pol, precord *r)
{
	const char *affected;
	json_t *iaa;

	if (!request_basis(r, "10.2"))
		return 0;
	affected = pj_str(r->body, "affected");
	iaa = state_agency(pol, affected);
	if (!streq(kind_of(pol, r->agency), "government") || !streq(pj_str(iaa, "kind"), "iaa") ||
	    !streq(pj_str(iaa, "parent"), r->agency))
		return policy_finding(pol, r, "R10.2", LEDGER_SEVERITY_ERROR, "not-overseen-iaa",
		                      "\"%s\" is not an IAA overseen by the government agency \"%s\"",
		                      affected, r->agency);
	return check_ask(pol, r, "R10.2");
}

/*
 * R10.3 an agency that made a 10(1)/(2) request may request support for a
 * direct stakeholder of that incident, on the stakeholder's ask.
 */
int rule_r10_3_direct_stakeholder(ledger_policy *pol, precord *r)
{
	const char *affected, *related;
	json_t *inc, *s;

	if (!request_basis(r, "10.3"))
		return 0;
	related = pj_str(r->body, "related_incident");
	inc = state_incident(pol, related);
	if (!inc || !streq(pj_str(inc, "requested_by"), r->agency) ||
	    !(streq(pj_str(inc, "basis"), "10.1") || streq(pj_str(inc, "basis"), "10.2")))
		return policy_finding(pol, r, "R10.3", LEDGER_SEVERITY_ERROR, "no-related-request",
		                      "\"%s\" is not an incident \"%s\" requested under 10(1)/(2)",
		                      related ? related : "", r->agency);
	affected = pj_str(r->body, "affected");
	s = state_agency(pol, affected);
	if (!streq(pj_str(s, "kind"), "stakeholder") ||
	    !streq(pj_str(s, "requesting_agency"), r->agency) ||
	    !streq(pj_str(s, "incident"), related))
		return policy_finding(pol, r, "R10.3", LEDGER_SEVERITY_ERROR, "not-stakeholder",
		                      "\"%s\" is not a direct stakeholder tied to \"%s\" and incident \"%s\"",
		                      affected, r->agency, related);
	return check_ask(pol, r, "R10.3");
}

static unsigned int addressed_role(const char *addressed_to)
{
	if (streq(addressed_to, "director"))
		return PR_DIRECTOR | PR_DEPUTY;
	if (streq(addressed_to, "manager"))
		return PR_MANAGER;
	return streq(addressed_to, "field_leader") ? PR_FIELD_LEADER : 0;
}

/*
 * R10.4 normally the request comes from the agency's CISO to the director;
 * in an emergency it may come from the agency's CSIRT (or system_dept) or
 * one of the agency's members, addressed to the manager or a field leader.
 */
int rule_r10_4_request_route(ledger_policy *pol, precord *r)
{
	unsigned int roles;
	const char *route, *to, *addressee;
	int ret;

	if (!ptype(r, "request"))
		return 0;
	roles = state_roles_at(pol, r->author, r->time);
	route = pj_str(r->body, "route");
	to = pj_str(r->body, "addressed_to");
	if (streq(route, "normal")) {
		if (!(roles & PR_CISO) &&
		    (ret = policy_finding(pol, r, "R10.4", LEDGER_SEVERITY_ERROR, "not-ciso",
		                          "normal-route request signed by \"%s\", not the agency's CISO",
		                          r->author)) < 0)
			return ret;
		if (!streq(to, "director") &&
		    (ret = policy_finding(pol, r, "R10.4", LEDGER_SEVERITY_ERROR, "not-to-director",
		                          "normal-route request addressed to the %s, not the director",
		                          to ? to : "")) < 0)
			return ret;
	} else if (!(roles & (PR_CISO | PR_CSIRT | PR_SYSTEM_DEPT | PR_MEMBER)) &&
	           (ret = policy_finding(pol, r, "R10.4", LEDGER_SEVERITY_ERROR, "emergency-signer",
	                                 "emergency request signed by \"%s\", not the agency's CSIRT, system department or a member",
	                                 r->author)) < 0) {
		return ret;
	}
	addressee = pj_str(r->body, "addressee");
	if (addressee && !(state_roles_at(pol, addressee, r->time) & addressed_role(to)))
		return policy_finding(pol, r, "R10.4", LEDGER_SEVERITY_ERROR, "addressee-role",
		                      "addressee \"%s\" is not the %s", addressee, to ? to : "");
	return 0;
}

/* The dispatched team: appointed field leaders and members (or participants) at the time. */
static int check_team(ledger_policy *pol, precord *r, const char *rule)
{
	json_t *team = json_object_get(r->body, "team"), *v;
	size_t i;
	int ret;

	json_array_foreach(json_object_get(team, "field_leaders"), i, v)
		if (!(state_roles_at(pol, json_string_value(v), r->time) & PR_FIELD_LEADER) &&
		    (ret = policy_finding(pol, r, rule, LEDGER_SEVERITY_ERROR, "team-not-appointed",
		                          "\"%s\" is not an appointed field leader",
		                          json_string_value(v))) < 0)
			return ret;
	json_array_foreach(json_object_get(team, "members"), i, v)
		if (!(state_roles_at(pol, json_string_value(v), r->time) &
		      (PR_MEMBER | PR_FIELD_LEADER | PR_MANAGER)) &&
		    (ret = policy_finding(pol, r, rule, LEDGER_SEVERITY_ERROR, "team-not-appointed",
		                          "\"%s\" is not an appointed member",
		                          json_string_value(v))) < 0)
			return ret;
	return 0;
}

static int check_dispatcher(ledger_policy *pol, precord *r, const char *rule)
{
	if (policy_director_or_deputy(pol, r))
		return 0;
	return policy_finding(pol, r, rule, LEDGER_SEVERITY_ERROR, "not-director",
	                      "dispatch ordered by \"%s\", not by the director", r->author);
}

/*
 * R11.1 the director orders a dispatch for a requested incident; a second
 * dispatch for one incident is a conflict for a human.
 */
int rule_r11_1_dispatch_on_request(ledger_policy *pol, precord *r)
{
	const char *request;
	json_t *inc;
	int ret;

	if (!ptype(r, "dispatch") || !streq(pj_str(r->body, "basis"), "11.1"))
		return 0;
	if ((ret = check_dispatcher(pol, r, "R11.1")) < 0)
		return ret;
	request = pj_str(r->body, "request");
	inc = state_incident(pol, r->incident);
	if (!inc || !streq(request, r->incident) || streq(pj_str(inc, "basis"), "11.2"))
		return policy_finding(pol, r, "R11.1", LEDGER_SEVERITY_ERROR, "no-request",
		                      "\"%s\" is not a valid request opening this incident",
		                      request ? request : "");
	if (!streq(pj_str(inc, "affected"), pj_str(r->body, "affected")) &&
	    (ret = policy_finding(pol, r, "R11.1", LEDGER_SEVERITY_ERROR, "affected-mismatch",
	                          "dispatch to \"%s\", but the request is for \"%s\"",
	                          pj_str(r->body, "affected"), pj_str(inc, "affected"))) < 0)
		return ret;
	if (json_integer_value(json_object_get(inc, "dispatches")) > 0 &&
	    (ret = policy_finding(pol, r, "R11.1", LEDGER_SEVERITY_WARNING, "second-dispatch",
	                          "incident already has a dispatch")) < 0)
		return ret;
	return check_team(pol, r, "R11.1");
}

/*
 * R11.2 before any request, the director may order a dispatch to a
 * government agency only with the consent of that agency's CSIRT (purpose
 * pre_request_dispatch, in force).
 */
int rule_r11_2_pre_request_dispatch(ledger_policy *pol, precord *r)
{
	const char *affected;
	json_t *c;
	int ret;

	if (ptype(r, "consent") && streq(pj_str(r->body, "purpose"), "pre_request_dispatch"))
		return policy_consent_checks(pol, r, "R11.2", PR_CSIRT, "CSIRT");
	if (!ptype(r, "dispatch") || !streq(pj_str(r->body, "basis"), "11.2"))
		return 0;
	if ((ret = check_dispatcher(pol, r, "R11.2")) < 0)
		return ret;
	affected = pj_str(r->body, "affected");
	if (!streq(kind_of(pol, affected), "government") &&
	    (ret = policy_finding(pol, r, "R11.2", LEDGER_SEVERITY_ERROR, "not-government",
	                          "pre-request dispatch to \"%s\", not a government agency",
	                          affected)) < 0)
		return ret;
	c = state_consent(pol, pj_str(r->body, "consent"));
	if (!c || !streq(pj_str(c, "purpose"), "pre_request_dispatch") ||
	    !streq(pj_str(c, "provider"), affected) || !state_consent_in_force(c, r->time))
		return policy_finding(pol, r, "R11.2", LEDGER_SEVERITY_ERROR, "no-consent",
		                      "\"%s\" is not a pre_request_dispatch consent of \"%s\" in force",
		                      pj_str(r->body, "consent"), affected);
	return check_team(pol, r, "R11.2");
}

/* Someone CYMAT may send into an activity: member, field leader, manager, or a participant. */
static int cymat_staff(const ledger_policy *pol, const precord *r)
{
	json_t *v;
	size_t i;

	if (state_roles_at(pol, r->author, r->time) & (PR_MEMBER | PR_FIELD_LEADER | PR_MANAGER))
		return 1;
	json_array_foreach(pol->participations, i, v)
		if (streq(pj_str(v, "principal"), r->author) &&
		    streq(pj_str(v, "incident"), r->incident))
			return 1;
	return 0;
}

/*
 * R12.1 an activity record for an incident follows a dispatch of that
 * incident and is signed by a member, field leader or manager.
 */
int rule_r12_1_activity(ledger_policy *pol, precord *r)
{
	json_t *inc;
	int ret;

	if (!ptype(r, "activity"))
		return 0;
	if (!cymat_staff(pol, r) &&
	    (ret = policy_finding(pol, r, "R12.1", LEDGER_SEVERITY_ERROR, "not-cymat",
	                          "activity signed by \"%s\", not a member, field leader or manager",
	                          r->author)) < 0)
		return ret;
	if (!r->incident)
		return 0;
	inc = state_incident(pol, r->incident);
	if (!inc || json_integer_value(json_object_get(inc, "dispatches")) < 1)
		return policy_finding(pol, r, "R12.1", LEDGER_SEVERITY_ERROR, "no-dispatch",
		                      "activity for incident \"%s\", which has no dispatch", r->incident);
	return 0;
}

/*
 * R13.1 after a dispatch, the affected organisation (its CISO, CSIRT or
 * system department) reports damage status; a repeated number is a warning.
 */
int rule_r13_1_damage_report(ledger_policy *pol, precord *r)
{
	json_t *inc;
	char number[24];
	int ret;

	if (!ptype(r, "report"))
		return 0;
	inc = state_incident(pol, r->incident);
	if (!inc || json_integer_value(json_object_get(inc, "dispatches")) < 1)
		return policy_finding(pol, r, "R13.1", LEDGER_SEVERITY_ERROR, "no-dispatch",
		                      "report for incident \"%s\", which has no dispatch",
		                      r->incident ? r->incident : "");
	if ((!streq(r->agency, pj_str(inc, "affected")) ||
	     !(state_roles_at(pol, r->author, r->time) & (PR_CISO | PR_CSIRT | PR_SYSTEM_DEPT))) &&
	    (ret = policy_finding(pol, r, "R13.1", LEDGER_SEVERITY_ERROR, "not-affected-org",
	                          "report signed by \"%s\", not the CISO, CSIRT or system department of \"%s\"",
	                          r->author, pj_str(inc, "affected"))) < 0)
		return ret;
	snprintf(number, sizeof(number), "%lld",
	         (long long)json_integer_value(json_object_get(r->body, "number")));
	if (json_object_get(json_object_get(inc, "numbers"), number))
		return policy_finding(pol, r, "R13.1", LEDGER_SEVERITY_WARNING, "duplicate-number",
		                      "report number %s of this incident already exists", number);
	return 0;
}

/*
 * R13.2 a report may stand in for the GSOC report only if the organisation
 * has consented (purpose gsoc_substitute, given by its CISO, in force).
 */
int rule_r13_2_gsoc_substitute(ledger_policy *pol, precord *r)
{
	json_t *c;

	if (ptype(r, "consent") && streq(pj_str(r->body, "purpose"), "gsoc_substitute"))
		return policy_consent_checks(pol, r, "R13.2", PR_CISO, "CISO");
	if (!ptype(r, "report") || !pj_true(r->body, "gsoc_substitute"))
		return 0;
	c = state_consent(pol, pj_str(r->body, "consent"));
	if (!c || !streq(pj_str(c, "purpose"), "gsoc_substitute") ||
	    !streq(pj_str(c, "provider"), r->agency) || !state_consent_in_force(c, r->time))
		return policy_finding(pol, r, "R13.2", LEDGER_SEVERITY_ERROR, "no-consent",
		                      "\"%s\" is not a gsoc_substitute consent of \"%s\" in force",
		                      pj_str(r->body, "consent") ? pj_str(r->body, "consent") : "",
		                      r->agency);
	return 0;
}

/*
 * R13.3 in a national emergency the report is also made under the
 * 2003-11-21 Cabinet decision: once an incident's report carries the flag,
 * a later report without it is a warning.
 */
int rule_r13_3_cabinet_emergency(ledger_policy *pol, precord *r)
{
	json_t *inc;

	if (!ptype(r, "report") || pj_true(r->body, "cabinet_emergency"))
		return 0;
	inc = state_incident(pol, r->incident);
	if (inc && pj_true(inc, "cabinet_emergency"))
		return policy_finding(pol, r, "R13.3", LEDGER_SEVERITY_WARNING, "cabinet-flag-dropped",
		                      "earlier reports of this incident were made under the Cabinet decision; this one is not");
	return 0;
}

/* Is the author the CISO of the incident's affected organisation? */
static int affected_ciso(const ledger_policy *pol, const precord *r, const json_t *inc)
{
	char own[40];

	return policy_agency_of(own, r->author) == 0 && streq(own, pj_str(inc, "affected")) &&
	       (state_roles_at(pol, r->author, r->time) & PR_CISO);
}

/*
 * R14.1 the director closes the support having heard the affected
 * organisation's CISO (an opinion referenced by the closure).  Nothing but
 * a report or an opinion follows a closure; a report after closure is a
 * conflict for a human.
 */
int rule_r14_1_closure(ledger_policy *pol, precord *r)
{
	json_t *inc = state_incident(pol, r->incident), *v;
	size_t i;
	int ret;

	if (inc && streq(pj_str(inc, "state"), "closed")) {
		if (ptype(r, "report"))
			return policy_finding(pol, r, "R14.1", LEDGER_SEVERITY_WARNING,
			                      "report-after-closure", "report after the incident was closed");
		if (!ptype(r, "opinion"))
			return policy_finding(pol, r, "R14.1", LEDGER_SEVERITY_ERROR, "after-closure",
			                      "%s after the incident was closed by \"%s\"", r->type,
			                      pj_str(inc, "closure"));
	}
	if (ptype(r, "opinion")) {
		if (!inc)
			return policy_finding(pol, r, "R14.1", LEDGER_SEVERITY_ERROR, "no-incident",
			                      "opinion on \"%s\", which is not an incident",
			                      r->incident ? r->incident : "");
		if (!affected_ciso(pol, r, inc))
			return policy_finding(pol, r, "R14.1", LEDGER_SEVERITY_ERROR, "not-affected-ciso",
			                      "opinion signed by \"%s\", not the CISO of \"%s\"", r->author,
			                      pj_str(inc, "affected"));
		return 0;
	}
	if (!ptype(r, "closure"))
		return 0;
	if (!policy_director_or_deputy(pol, r) &&
	    (ret = policy_finding(pol, r, "R14.1", LEDGER_SEVERITY_ERROR, "not-director",
	                          "closure signed by \"%s\", not by the director", r->author)) < 0)
		return ret;
	if (!inc || json_integer_value(json_object_get(inc, "dispatches")) < 1)
		return policy_finding(pol, r, "R14.1", LEDGER_SEVERITY_ERROR, "not-dispatched",
		                      "closure of \"%s\", which has no dispatch",
		                      r->incident ? r->incident : "");
	json_array_foreach(json_object_get(r->body, "opinions"), i, v) {
		const precord *o = policy_record(pol, json_string_value(v));

		if (!o || o->verdict != PV_VALID || !ptype(o, "opinion") ||
		    !streq(o->incident, r->incident))
			return policy_finding(pol, r, "R14.1", LEDGER_SEVERITY_ERROR, "bad-opinion",
			                      "\"%s\" is not a valid opinion on this incident",
			                      json_string_value(v));
	}
	return 0;
}
