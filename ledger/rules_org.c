/*
 * DOMAIN.md section 2 (supported organisations) and section 4 (direction).
 */
#include "config.h"

#include <string.h>

#include "ledger/error.h"
#include "policy_internal.h"

/* Body members that name an organisation (DOMAIN.md record-type table). */
static const char *const org_members[] = { "agency", "affected", "recipient", "cost_borne_by",
	                                   "advice_to", "recipients" };

int policy_names_organisation(const char *author_agency, const json_t *body, const char *org)
{
	json_t *v, *item;
	size_t i, k;

	if (streq(author_agency, org) || streq(pj_str(json_object_get(body, "ask"), "agency"), org))
		return 1;
	for (k = 0; k < sizeof(org_members) / sizeof(org_members[0]); k++) {
		v = json_object_get(body, org_members[k]);
		if (streq(json_string_value(v), org))
			return 1;
		json_array_foreach(v, i, item)
			if (streq(json_string_value(item), org))
				return 1;
	}
	return 0;
}

static int check_registered(ledger_policy *pol, precord *r, const char *org, const char *where)
{
	if (!org || strcmp(org, "nisc") == 0 || state_agency(pol, org))
		return 0;
	return policy_finding(pol, r, "R2.1", LEDGER_SEVERITY_ERROR, "unregistered-agency",
	                      "organisation \"%s\" (%s) is not registered by an agency record", org,
	                      where);
}

/*
 * R2.1 every organisation named by a record is registered by an agency
 * record signed by the director or the manager.  NISC itself runs the
 * ledger and needs no registration.
 */
int rule_r2_1_registered_agency(ledger_policy *pol, precord *r)
{
	json_t *v, *item;
	size_t i, k;
	int ret;

	if (ptype(r, "agency")) {
		unsigned int roles = state_roles_at(pol, r->author, r->time);

		if (!(roles & (PR_DIRECTOR | PR_DEPUTY | PR_MANAGER)) &&
		    (ret = policy_finding(pol, r, "R2.1", LEDGER_SEVERITY_ERROR, "not-authorised",
		                          "agency record signed by \"%s\", not by the director or the manager",
		                          r->author)) < 0)
			return ret;
		return check_registered(pol, r, r->agency, "author's organisation");
	}
	if ((ret = check_registered(pol, r, r->agency, "author's organisation")) < 0)
		return ret;
	for (k = 0; k < sizeof(org_members) / sizeof(org_members[0]); k++) {
		v = json_object_get(r->body, org_members[k]);
		if (json_is_string(v) &&
		    (ret = check_registered(pol, r, json_string_value(v), org_members[k])) < 0)
			return ret;
		json_array_foreach(v, i, item)
			if ((ret = check_registered(pol, r, json_string_value(item), org_members[k])) < 0)
				return ret;
	}
	return check_registered(pol, r, pj_str(json_object_get(r->body, "ask"), "agency"), "ask");
}

/*
 * R2.2 an iaa names its overseeing government agency; a stakeholder names
 * the requesting agency and the incident it is tied to (an incident that
 * agency requested under 10(1)/(2)).
 */
int rule_r2_2_agency_ties(ledger_policy *pol, precord *r)
{
	const char *kind, *parent, *requester, *incident;
	json_t *a, *inc;

	if (!ptype(r, "agency"))
		return 0;
	kind = pj_str(r->body, "kind");
	if (streq(kind, "iaa")) {
		parent = pj_str(r->body, "parent");
		a = state_agency(pol, parent);
		if (!a || !streq(pj_str(a, "kind"), "government"))
			return policy_finding(pol, r, "R2.2", LEDGER_SEVERITY_ERROR, "iaa-parent",
			                      "iaa's overseeing agency \"%s\" is not a registered government agency",
			                      parent ? parent : "");
		return 0;
	}
	if (!streq(kind, "stakeholder"))
		return 0;
	requester = pj_str(r->body, "requesting_agency");
	incident = pj_str(r->body, "incident");
	a = state_agency(pol, requester);
	if (!a || !(streq(pj_str(a, "kind"), "government") || streq(pj_str(a, "kind"), "observer")))
		return policy_finding(pol, r, "R2.2", LEDGER_SEVERITY_ERROR, "stakeholder-ties",
		                      "stakeholder's requesting agency \"%s\" is not a registered government or observer agency",
		                      requester ? requester : "");
	inc = state_incident(pol, incident);
	if (!inc || !streq(pj_str(inc, "requested_by"), requester) ||
	    !(streq(pj_str(inc, "basis"), "10.1") || streq(pj_str(inc, "basis"), "10.2")))
		return policy_finding(pol, r, "R2.2", LEDGER_SEVERITY_ERROR, "stakeholder-ties",
		                      "incident \"%s\" is not one \"%s\" requested under 10(1)/(2)",
		                      incident ? incident : "", requester);
	return 0;
}

/* Records that need the director (DOMAIN.md record-type table). */
static int needs_director(const precord *r)
{
	static const char *const types[] = { "agency",  "appointment", "dispatch",
		                             "closure", "share",       "council_report" };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (ptype(r, types[i]))
			return 1;
	return 0;
}

/*
 * R4.2 a record that needs the director may be signed by the deputy only
 * with acting: true and a stated reason; acting is the deputy's alone.
 */
int rule_r4_2_deputy_acting(ledger_policy *pol, precord *r)
{
	unsigned int roles;
	int acting;

	if (!needs_director(r))
		return 0;
	roles = state_roles_at(pol, r->author, r->time);
	acting = pj_true(r->body, "acting");
	if (acting && (!(roles & PR_DEPUTY) || (roles & PR_DIRECTOR)))
		return policy_finding(pol, r, "R4.2", LEDGER_SEVERITY_ERROR, "acting-not-deputy",
		                      "acting for the director, but \"%s\" is not the deputy",
		                      r->author);
	if (!acting && (roles & PR_DEPUTY) && !(roles & PR_DIRECTOR) &&
	    !((roles & PR_MANAGER) && (ptype(r, "agency") || ptype(r, "share"))))
		return policy_finding(pol, r, "R4.2", LEDGER_SEVERITY_ERROR, "deputy-not-acting",
		                      "%s signed by the deputy \"%s\" without acting: true and a reason",
		                      r->type, r->author);
	if (acting && !pj_str(r->body, "reason"))
		return policy_finding(pol, r, "R4.2", LEDGER_SEVERITY_ERROR, "no-reason",
		                      "the deputy acts for the director without a stated reason");
	return 0;
}
