/*
 * DOMAIN.md section 15 (information handling, consents) and section 16
 * (council reporting); the checks shared by every consent record.
 */
#include "config.h"

#include <string.h>

#include "ledger/error.h"
#include "policy_internal.h"

static int array_has(const json_t *array, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach((json_t *)array, i, v)
		if (streq(json_string_value(v), s))
			return 1;
	return 0;
}

int policy_consent_checks(ledger_policy *pol, precord *r, const char *rule, unsigned int signer,
                          const char *signer_name)
{
	json_t *old;
	int ret;

	if (!(state_roles_at(pol, r->author, r->time) & signer) &&
	    (ret = policy_finding(pol, r, rule, LEDGER_SEVERITY_ERROR, "consent-signer",
	                          "%s consent given by \"%s\", not by the organisation's %s",
	                          pj_str(r->body, "purpose"), r->author, signer_name)) < 0)
		return ret;
	if (!pj_true(r->body, "withdrawn"))
		return 0;
	old = state_consent(pol, pj_str(r->body, "withdraws"));
	if (!old || !streq(pj_str(old, "provider"), r->agency) ||
	    !streq(pj_str(old, "purpose"), pj_str(r->body, "purpose")))
		return policy_finding(pol, r, rule, LEDGER_SEVERITY_ERROR, "bad-withdrawal",
		                      "\"%s\" is not a %s consent of \"%s\"",
		                      pj_str(r->body, "withdraws"), pj_str(r->body, "purpose"),
		                      r->agency);
	if (json_array_size(json_object_get(old, "used_by")))
		return policy_finding(pol, r, rule, LEDGER_SEVERITY_WARNING, "withdrawn-after-use",
		                      "consent \"%s\" is withdrawn after \"%s\" relied on it",
		                      pj_str(r->body, "withdraws"),
		                      json_string_value(json_array_get(json_object_get(old, "used_by"), 0)));
	return 0;
}

/* Does consent c's scope cover record r (its id, its incident or its class)? */
static int scope_covers(const json_t *c, const precord *r)
{
	const json_t *scope = json_object_get(c, "scope");
	const char *incident = r->incident ? r->incident : r->opens;

	return array_has(json_object_get(scope, "records"), r->id) ||
	       (incident && array_has(json_object_get(scope, "incidents"), incident)) ||
	       array_has(json_object_get(scope, "classes"), r->class_);
}

static int confidential(const precord *r)
{
	return streq(r->class_, "c2") || streq(r->class_, "c3");
}

/* A source's use for its own incident: the affected organisation or the provider receives it. */
static int check_incident_use(ledger_policy *pol, precord *r, const precord *src)
{
	const char *recipient = pj_str(r->body, "recipient");
	json_t *inc = state_incident(pol, src->incident ? src->incident : src->opens);

	if (inc && (streq(recipient, pj_str(inc, "affected")) || streq(recipient, src->agency)))
		return 0;
	return policy_finding(pol, r, "R15.1", LEDGER_SEVERITY_ERROR, "not-incident-use",
	                      "%s information of \"%s\" shared with \"%s\" outside its own incident without consent",
	                      src->class_, src->agency, recipient);
}

static int check_consented_use(ledger_policy *pol, precord *r, const precord *src,
                               const json_t *c)
{
	const char *purpose = pj_str(r->body, "purpose");

	if (!c || !streq(pj_str(c, "purpose"), purpose) || !streq(pj_str(c, "provider"), src->agency) ||
	    !state_consent_in_force(c, r->time))
		return policy_finding(pol, r, "R15.1", LEDGER_SEVERITY_ERROR, "no-consent",
		                      "no %s consent of \"%s\" in force for source \"%s\"", purpose,
		                      src->agency, src->id);
	if (!scope_covers(c, src))
		return policy_finding(pol, r, "R15.1", LEDGER_SEVERITY_ERROR, "consent-scope",
		                      "the consent's scope does not cover source \"%s\"", src->id);
	if (streq(purpose, "15a") &&
	    !array_has(json_object_get(c, "recipients"), pj_str(r->body, "recipient")))
		return policy_finding(pol, r, "R15.1", LEDGER_SEVERITY_ERROR, "not-consented-recipient",
		                      "\"%s\" is not among the consent's recipients",
		                      pj_str(r->body, "recipient"));
	return 0;
}

/* 15c: the director signs the share, or a record the director signed approves it. */
static int director_approved(const ledger_policy *pol, const precord *r)
{
	const precord *a;

	if (policy_director_act(pol, r))
		return 1;
	a = policy_record(pol, pj_str(r->body, "approval"));
	return a && a->verdict == PV_VALID && (state_roles_at(pol, a->author, a->time) & PR_DIRECTOR);
}

/*
 * R15.1 a share of c2/c3 information for any other use references a
 * consent of its provider whose purpose (15a, 15b, 15c) and scope cover it;
 * for 15c also a director approval.  Shares are NISC's: the manager or the
 * director.
 */
int rule_r15_1_share_consent(ledger_policy *pol, precord *r)
{
	const char *purpose = pj_str(r->body, "purpose");
	const json_t *c;
	json_t *v;
	size_t i;
	int ret;

	if (ptype(r, "consent") &&
	    (streq(purpose, "15a") || streq(purpose, "15b") || streq(purpose, "15c")))
		return policy_consent_checks(pol, r, "R15.1", PR_CISO, "CISO");
	if (!ptype(r, "share"))
		return 0;
	if (!(state_roles_at(pol, r->author, r->time) & (PR_MANAGER | PR_DIRECTOR | PR_DEPUTY)) &&
	    (ret = policy_finding(pol, r, "R15.1", LEDGER_SEVERITY_ERROR, "not-nisc",
	                          "share signed by \"%s\", not by the manager or the director",
	                          r->author)) < 0)
		return ret;
	c = state_consent(pol, pj_str(r->body, "consent"));
	json_array_foreach(json_object_get(r->body, "sources"), i, v) {
		const precord *src = policy_record(pol, json_string_value(v));

		if (!src || src->verdict != PV_VALID)
			return policy_finding(pol, r, "R15.1", LEDGER_SEVERITY_ERROR, "unknown-source",
			                      "source \"%s\" is not a valid record", json_string_value(v));
		if (!confidential(src))
			continue;
		ret = streq(purpose, "incident") ? check_incident_use(pol, r, src)
		                                 : check_consented_use(pol, r, src, c);
		if (ret < 0)
			return ret;
	}
	if (streq(purpose, "15c") && !director_approved(pol, r))
		return policy_finding(pol, r, "R15.1", LEDGER_SEVERITY_ERROR, "no-approval",
		                      "15c use without the director's approval");
	return 0;
}

/* May an organisation read r's sealed content? */
static int may_read(const ledger_policy *pol, const precord *r, const char *agency)
{
	const char *k;
	json_t *c;

	if (streq(agency, r->agency) || streq(agency, "nisc"))
		return 1;
	if (ptype(r, "share") && streq(agency, pj_str(r->body, "recipient")))
		return 1;
	/* The scan below sees only what is parsed: the cached 15a consents of r's agency too. */
	if (state_take_consents_of((ledger_policy *)pol, r->agency, "15a") < 0)
		return 0;
	json_object_foreach(pol->consents, k, c)
		if (streq(pj_str(c, "provider"), r->agency) && streq(pj_str(c, "purpose"), "15a") &&
		    state_consent_in_force(c, r->time) &&
		    array_has(json_object_get(c, "recipients"), agency) && scope_covers(c, r))
			return 1;
	return 0;
}

/*
 * R15.2 nobody outside the provider, NISC and consented recipients can
 * read c2/c3 content: every recipient key of a sealed part belongs to one.
 */
int rule_r15_2_sealed_recipients(ledger_policy *pol, precord *r)
{
	json_t *v;
	size_t i;
	int ret;

	if (!confidential(r))
		return 0;
	json_array_foreach(json_object_get(json_object_get(r->rec, "sealed"), "recipients"), i, v) {
		const char *kid = pj_str(v, "kid");
		const char *who = kid ? ledger_state_key_principal(pol->state, kid, r->time) : NULL;
		char agency[40];

		if (!who || policy_agency_of(agency, who) < 0)
			ret = policy_finding(pol, r, "R15.2", LEDGER_SEVERITY_ERROR, "unknown-recipient",
			                     "sealed for key \"%s\", bound to no principal", kid ? kid : "");
		else if (!may_read(pol, r, agency))
			ret = policy_finding(pol, r, "R15.2", LEDGER_SEVERITY_ERROR, "outside-recipient",
			                     "%s content sealed for \"%s\", outside the provider, NISC and consented recipients",
			                     r->class_, who);
		else
			ret = 0;
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * R16.1 the director's council report carries the summary generated from
 * the ledger for its period (counts per kind and state, nothing else).
 */
int rule_r16_1_council_summary(ledger_policy *pol, precord *r)
{
	json_t *period, *expected;
	int same, ret;

	if (!ptype(r, "council_report"))
		return 0;
	if (!policy_director_or_deputy(pol, r) &&
	    (ret = policy_finding(pol, r, "R16.1", LEDGER_SEVERITY_ERROR, "not-director",
	                          "council report signed by \"%s\", not by the director",
	                          r->author)) < 0)
		return ret;
	period = json_object_get(r->body, "period");
	expected = policy_summary(pol, pj_time(period, "from", 0), pj_time(period, "until", 0));
	if (!expected)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	same = json_equal(expected, json_object_get(r->body, "summary"));
	json_decref(expected);
	if (!same)
		return policy_finding(pol, r, "R16.1", LEDGER_SEVERITY_ERROR, "summary-mismatch",
		                      "the summary does not match the ledger's counts for the period");
	return 0;
}
