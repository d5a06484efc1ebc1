/*
 * Derived state of the CYMAT rules: organisations, appointments, candidates
 * and trainees (rosters with quotas), incidents with their lifecycle (the
 * timeline is the causal order's, policy.c), consents and what relied on them.  Only records that broke no
 * error-level rule change it (state_apply); the engine calls it in causal
 * order, so at any moment it holds what was in force at the record being
 * judged.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/error.h"
#include "policy_internal.h"

#define NEVER INT64_MAX

int state_init(ledger_policy *pol)
{
	const ledger_state *st = pol->state;

	pol->bindings = json_object();
	pol->agencies = json_object();
	pol->appointments = json_array();
	pol->appointed = json_object();
	pol->nominations = json_object();
	pol->registrations = json_object();
	pol->withdrawals = json_object();
	pol->incidents = json_object();
	pol->incident_order = json_array();
	pol->consents = json_object();
	pol->participations = json_array();
	pol->words = json_object();
	if (!pol->words || !pol->bindings || !pol->agencies || !pol->appointments || !pol->appointed || !pol->nominations ||
	    !pol->registrations || !pol->withdrawals || !pol->incidents || !pol->incident_order ||
	    !pol->consents || !pol->participations)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	/* Principal -> its bindings, so that role checks cost per principal, not per ledger. */
	for (size_t i = 0; i < st->nbindings; i++) {
		const char *p = st->bindings[i].principal;
		json_t *list = json_object_get(pol->bindings, p);

		if (!list) {
			list = json_array();
			if (json_object_set_new(pol->bindings, p, list) < 0)
				return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		}
		if (json_array_append_new(list, json_integer((json_int_t)i)) < 0)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	return 0;
}

/*
 * The members of the derived state the policy cache keeps in one JSON text
 * (`appointed` is rebuilt; incidents and consents are kept item by item,
 * policy_cache.c).
 */
static const struct {
	const char *name;
	size_t offset;
} members[] = {
	{ "agencies", offsetof(ledger_policy, agencies) },
	{ "appointments", offsetof(ledger_policy, appointments) },
	{ "nominations", offsetof(ledger_policy, nominations) },
	{ "registrations", offsetof(ledger_policy, registrations) },
	{ "withdrawals", offsetof(ledger_policy, withdrawals) },
	{ "incident_order", offsetof(ledger_policy, incident_order) },
	{ "participations", offsetof(ledger_policy, participations) },
};

static json_t **member(ledger_policy *pol, size_t k)
{
	return (json_t **)((char *)pol + members[k].offset);
}

json_t *policy_state_object(const ledger_policy *pol)
{
	json_t *obj = json_object();

	for (size_t k = 0; obj && k < sizeof(members) / sizeof(members[0]); k++)
		if (json_object_set(obj, members[k].name, *member((ledger_policy *)pol, k)) < 0) {
			json_decref(obj);
			obj = NULL;
		}
	return obj;
}

int policy_state_take(ledger_policy *pol, json_t *obj)
{
	json_t *a;
	size_t i;

	for (size_t k = 0; k < sizeof(members) / sizeof(members[0]); k++) {
		json_t *v = json_object_get(obj, members[k].name);

		if (!v)
			return ledger_error_set(LEDGER_EINVALID, "policy cache: no \"%s\"",
			                        members[k].name);
		json_decref(*member(pol, k));
		*member(pol, k) = json_incref(v);
	}
	/* Each principal's appointments are the objects of the list, shared as apply_appointment does. */
	json_array_foreach(pol->appointments, i, a) {
		const char *principal = pj_str(a, "principal");
		json_t *mine = json_object_get(pol->appointed, principal);

		if (!principal)
			return ledger_error_set(LEDGER_EINVALID, "policy cache: bad appointment");
		if (!mine && json_object_set_new(pol->appointed, principal, mine = json_array()) < 0)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		if (json_array_append(mine, a) < 0)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	return 0;
}

void lazy_table_release(lazy_table *t)
{
	free(t->items);
	idmap_release(&t->ids);
	memset(t, 0, sizeof(*t));
}

void state_release(ledger_policy *pol)
{
	json_decref(pol->bindings);
	json_decref(pol->agencies);
	json_decref(pol->appointments);
	json_decref(pol->appointed);
	json_decref(pol->nominations);
	json_decref(pol->registrations);
	json_decref(pol->withdrawals);
	json_decref(pol->incidents);
	json_decref(pol->incident_order);
	json_decref(pol->consents);
	json_decref(pol->participations);
	json_decref(pol->words);
}

/* --- principals and roles ------------------------------------------------------ */

static int key_revoked(const ledger_state *st, const uint8_t kid[32], int64_t t)
{
	for (size_t i = 0; i < st->nrevocations; i++) {
		const revocation *v = &st->revocations[i];

		if (memcmp(v->kid, kid, 32) == 0 && t >= v->effective)
			return 1;
	}
	return 0;
}

/* The binding of principal in force at t, or NULL. */
static const binding *binding_at(const ledger_policy *pol, const char *principal, int64_t t)
{
	const ledger_state *st = pol->state;
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(pol->bindings, principal), i, v) {
		const binding *b = &st->bindings[json_integer_value(v)];

		if (b->from <= t && t < b->until && !key_revoked(st, b->kid, t))
			return b;
	}
	return NULL;
}

static unsigned int role_bit(const char *role)
{
	if (strcmp(role, "manager") == 0)
		return PR_MANAGER;
	if (strcmp(role, "field_leader") == 0)
		return PR_FIELD_LEADER;
	return strcmp(role, "member") == 0 ? PR_MEMBER : 0;
}

static int appointment_active(const json_t *a, int64_t t)
{
	return json_integer_value(json_object_get(a, "from_t")) <= t &&
	       t < json_integer_value(json_object_get(a, "until_t"));
}

unsigned int state_roles_at(const ledger_policy *pol, const char *principal, int64_t t)
{
	const ledger_state *st = pol->state;
	unsigned int roles = 0;
	json_t *v;
	size_t i;

	if (!principal)
		return 0;
	json_array_foreach(json_object_get(pol->bindings, principal), i, v) {
		const binding *b = &st->bindings[json_integer_value(v)];

		if (b->from <= t && t < b->until && !key_revoked(st, b->kid, t))
			roles |= b->roles;
	}
	json_array_foreach(json_object_get(pol->appointed, principal), i, v)
		if (appointment_active(v, t))
			roles |= role_bit(pj_str(v, "role"));
	return roles;
}

const json_t *state_attributes_at(const ledger_policy *pol, const char *principal, int64_t t)
{
	const binding *b = binding_at(pol, principal, t);
	const ledger_record *src;

	if (!b || !(src = pol->state->entries[b->source].trust))
		return NULL;
	if (strcmp(src->type, "root") == 0) {
		json_t *p = json_object_get(src->body, "director");

		if (!p || strcmp(pj_str(p, "principal"), principal) != 0)
			p = json_object_get(src->body, "deputy");
		return json_object_get(p, "attributes");
	}
	return json_object_get(src->body, "attributes");
}

json_t *state_appointed(const ledger_policy *pol, const char *role, int64_t t)
{
	json_t *list = json_array(), *v;
	size_t i;

	json_array_foreach(pol->appointments, i, v) {
		const char *p = pj_str(v, "principal");
		int seen = 0;
		json_t *w;
		size_t j;

		if (!appointment_active(v, t) || strcmp(pj_str(v, "role"), role) != 0)
			continue;
		json_array_foreach(list, j, w)
			seen |= strcmp(json_string_value(w), p) == 0;
		if (!seen)
			json_array_append_new(list, json_string(p));
	}
	return list;
}

/* --- lookups ---------------------------------------------------------------------- */

json_t *state_agency(const ledger_policy *pol, const char *id)
{
	return id ? json_object_get(pol->agencies, id) : NULL;
}

/* Parse a cached item into obj (once). */
static int lazy_take(ledger_policy *pol, lazy_item *it, json_t *obj)
{
	char id[LEDGER_HEX_ID_LEN + 1];
	json_error_t err;
	json_t *v;

	if (it->taken)
		return 0;
	it->taken = 1;
	ledger_hex(id, it->id, 32);
	if (!(v = json_loadb(it->text, it->len, 0, &err)) || !json_is_object(v)) {
		/* The cache's digest held: only a bug gets here; the run reports it. */
		json_decref(v);
		pol->lazy_failed = 1;
		return ledger_error_set(LEDGER_EINVALID, "policy cache: item \"%s\": %s", id,
		                        err.text);
	}
	if (json_object_set_new(obj, id, v) < 0) {
		pol->lazy_failed = 1;
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	return 0;
}

/*
 * The item with this id from obj, or parsed from the cache.  The rules see
 * a const policy; what the cache held is part of the state they see, only
 * parsed late (pol is always a malloc'd, mutable object).
 */
static json_t *lazy_get(const ledger_policy *cpol, lazy_table *t, json_t *obj, const char *id)
{
	ledger_policy *pol = (ledger_policy *)cpol;
	json_t *v = json_object_get(obj, id);
	uint8_t raw[32];
	size_t i;

	if (v || !t->count || strlen(id) != LEDGER_HEX_ID_LEN || ledger_unhex(raw, 32, id) < 0 ||
	    !idmap_get(&t->ids, raw, &i) || t->items[i].taken)
		return v;
	if (lazy_take(pol, &t->items[i], obj) < 0)
		return NULL;
	return json_object_get(obj, id);
}

json_t *state_incident(const ledger_policy *pol, const char *id)
{
	return id ? lazy_get(pol, (lazy_table *)&pol->lazy_incidents, pol->incidents, id) : NULL;
}

json_t *state_consent(const ledger_policy *pol, const char *id)
{
	return id ? lazy_get(pol, (lazy_table *)&pol->lazy_consents, pol->consents, id) : NULL;
}

int state_take_all(ledger_policy *pol)
{
	int r = 0;

	for (size_t i = 0; i < pol->lazy_incidents.count && r == 0; i++)
		r = lazy_take(pol, &pol->lazy_incidents.items[i], pol->incidents);
	for (size_t i = 0; i < pol->lazy_consents.count && r == 0; i++)
		r = lazy_take(pol, &pol->lazy_consents.items[i], pol->consents);
	return r;
}

static int lazy_str_eq(const char *s, uint32_t len, const char *want)
{
	return want && strlen(want) == len && memcmp(s, want, len) == 0;
}

int state_take_consents_of(ledger_policy *pol, const char *provider, const char *purpose)
{
	int r = 0;

	for (size_t i = 0; i < pol->lazy_consents.count && r == 0; i++) {
		lazy_item *it = &pol->lazy_consents.items[i];

		if (!it->taken && lazy_str_eq(it->provider, it->provider_len, provider) &&
		    lazy_str_eq(it->purpose, it->purpose_len, purpose))
			r = lazy_take(pol, it, pol->consents);
	}
	return r;
}

int state_consent_in_force(const json_t *c, int64_t t)
{
	return json_integer_value(json_object_get(c, "time_t")) <= t &&
	       t < json_integer_value(json_object_get(c, "until_t")) &&
	       t < json_integer_value(json_object_get(c, "withdrawn_t"));
}

int state_consent_use(json_t *c, const precord *r, json_t *id)
{
	json_t *used = json_object_get(c, "used_by");

	if (!json_integer_value(json_object_get(c, "first_use_t")) ||
	    r->time < json_integer_value(json_object_get(c, "first_use_t")))
		json_object_set_new(c, "first_use_t", json_integer(r->time));
	return id ? json_array_append(used, id) : json_array_append_new(used, json_string(r->id));
}

size_t state_candidates(const ledger_policy *pol, const char *agency)
{
	return json_object_size(json_object_get(state_agency(pol, agency), "candidates"));
}

size_t state_trainees(const ledger_policy *pol, const char *agency)
{
	return json_object_size(json_object_get(state_agency(pol, agency), "trainees"));
}

/* --- applying records ----------------------------------------------------------- */

static void time_text(char out[21], int64_t t)
{
	ledger_time_format(out, t);
}

/*
 * The policy's one JSON string of s (borrowed), or NULL (s NULL or out of
 * memory): the few words incidents and consents repeat (states, bases,
 * routes, agencies, purposes, authors), each a string and a copy of its
 * bytes in every object otherwise.  No string of the state is changed in
 * place: a member is set to another value.
 */
static json_t *word(ledger_policy *pol, const char *s)
{
	json_t *v;

	if (!s)
		return NULL;
	if ((v = json_object_get(pol->words, s)))
		return v;
	if (json_object_set_new(pol->words, s, json_string(s)) < 0)
		return NULL;
	return json_object_get(pol->words, s);
}

static int apply_agency(ledger_policy *pol, precord *r)
{
	const char *id = pj_str(r->body, "id");
	json_t *old = state_agency(pol, id), *a;

	a = json_pack("{s:s, s:s, s:O, s:s, s:I}", "id", id, "kind", pj_str(r->body, "kind"),
	              "name", json_object_get(r->body, "name"), "record", r->id, "time",
	              (json_int_t)r->time);
	if (!a)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (pj_str(r->body, "parent"))
		json_object_set(a, "parent", json_object_get(r->body, "parent"));
	if (pj_str(r->body, "requesting_agency")) {
		json_object_set(a, "requesting_agency", json_object_get(r->body, "requesting_agency"));
		json_object_set(a, "incident", json_object_get(r->body, "incident"));
	}
	/* A new record for a registered organisation keeps its roster. */
	json_object_set_new(a, "candidates", old ? json_deep_copy(json_object_get(old, "candidates"))
	                                         : json_object());
	json_object_set_new(a, "trainees", old ? json_deep_copy(json_object_get(old, "trainees"))
	                                       : json_object());
	return json_object_set_new(pol->agencies, id, a);
}

static int apply_appointment(ledger_policy *pol, precord *r)
{
	const char *principal = pj_str(r->body, "principal");
	json_t *mine = json_object_get(pol->appointed, principal), *a;

	a = json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", r->id, "principal", principal, "role",
	              pj_str(r->body, "role"), "from_t",
	              (json_int_t)pj_time(r->body, "from", r->time), "until_t",
	              (json_int_t)pj_time(r->body, "until", NEVER));
	if (!a)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (pj_str(r->body, "nomination"))
		json_object_set(a, "nomination", json_object_get(r->body, "nomination"));
	if (!mine && json_object_set_new(pol->appointed, principal, mine = json_array()) < 0) {
		json_decref(a);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	if (json_array_append(mine, a) < 0) {
		json_decref(a);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	return json_array_append_new(pol->appointments, a);
}

/* A nomination or a registration: `person` is its candidate or trainee. */
static int apply_enrolment(ledger_policy *pol, precord *r, json_t *table, const char *person,
                           const char *list)
{
	const char *agency = pj_str(r->body, "agency"), *replaces = pj_str(r->body, "replaces");
	json_t *a = state_agency(pol, agency), *w;

	if (json_object_set_new(table, r->id,
	                        json_pack("{s:s, s:s, s:s, s:I}", "id", r->id, "person", person,
	                                  "agency", agency, "time", (json_int_t)r->time)) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (a)
		json_object_set_new(json_object_get(a, list), r->id, json_string(person));
	if (replaces && (w = json_object_get(pol->withdrawals, replaces)) &&
	    !json_object_get(w, "replaced_by"))
		json_object_set_new(w, "replaced_by", json_string(r->id));
	return 0;
}

static int apply_withdrawal(ledger_policy *pol, precord *r)
{
	const char *target = pj_str(r->body, "withdraws");
	int nomination = strcmp(pj_str(r->body, "what"), "nomination") == 0;
	json_t *t = json_object_get(nomination ? pol->nominations : pol->registrations, target);
	json_t *a, *v;
	size_t i;

	if (!t)
		return 0;
	json_object_set_new(t, "withdrawn", json_string(r->id));
	a = state_agency(pol, pj_str(t, "agency"));
	json_object_del(json_object_get(a, nomination ? "candidates" : "trainees"), target);
	/* A member appointed from a withdrawn candidate stops being one. */
	json_array_foreach(pol->appointments, i, v) {
		const char *nom = pj_str(v, "nomination");

		if (nom && strcmp(nom, target) == 0 &&
		    json_integer_value(json_object_get(v, "until_t")) > r->time)
			json_object_set_new(v, "until_t", json_integer(r->time));
	}
	return json_object_set_new(pol->withdrawals, r->id,
	                           json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", r->id, "what",
	                                     pj_str(r->body, "what"), "withdraws", target,
	                                     "agency", pj_str(t, "agency"), "time",
	                                     (json_int_t)r->time));
}

static int open_incident(ledger_policy *pol, precord *r, const char *state, const char *basis,
                         const char *route)
{
	char when[21];
	json_t *inc, *opened;

	time_text(when, r->time);
	opened = json_string(when);
	inc = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:I, s:I, s:o}", "id", r->id,
	                "state", word(pol, state), "basis", word(pol, basis), "route",
	                word(pol, route), "affected", word(pol, pj_str(r->body, "affected")),
	                "opened", opened, "updated", opened,
	                "dispatches", (json_int_t)(strcmp(r->type, "dispatch") == 0), "reports",
	                (json_int_t)0, "numbers", json_object());
	json_decref(opened);
	if (!inc)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (strcmp(r->type, "request") == 0) {
		json_object_set(inc, "requested_by", word(pol, r->agency));
		if (strcmp(basis, "10.1") != 0)
			json_object_set(inc, "on_behalf_of", json_object_get(r->body, "affected"));
	} else {
		json_object_set_new(inc, "requested_by", json_null());
	}
	if (json_object_set_new(pol->incidents, r->id, inc) < 0 ||
	    json_array_append_new(pol->incident_order, json_string(r->id)) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	return 0;
}

/* id: r's id as a JSON string to share, or NULL for a new one. */
static void use_consent(ledger_policy *pol, precord *r, json_t *id)
{
	json_t *c = state_consent(pol, pj_str(r->body, "consent"));

	if (c)
		state_consent_use(c, r, id);
}

static int apply_consent(ledger_policy *pol, precord *r)
{
	json_t *c, *old;

	if (pj_true(r->body, "withdrawn")) {
		old = state_consent(pol, pj_str(r->body, "withdraws"));
		if (old && json_integer_value(json_object_get(old, "withdrawn_t")) > r->time) {
			char when[21];

			time_text(when, r->time);
			json_object_set_new(old, "withdrawn_t", json_integer(r->time));
			json_object_set_new(old, "withdrawn", json_string(when));
			json_object_set_new(old, "withdrawal", json_string(r->id));
		}
		return 0;
	}
	c = json_pack("{s:s, s:O, s:O, s:O, s:O, s:I, s:I, s:I, s:o}", "id", r->id, "provider",
	              word(pol, r->agency), "purpose", word(pol, pj_str(r->body, "purpose")),
	              "author", word(pol, r->author),
	              "time", json_object_get(r->rec, "time"), "time_t", (json_int_t)r->time,
	              "until_t", (json_int_t)pj_time(r->body, "until", NEVER), "withdrawn_t",
	              (json_int_t)NEVER, "used_by", json_array());
	if (!c)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (json_object_get(r->body, "scope"))
		json_object_set(c, "scope", json_object_get(r->body, "scope"));
	if (json_object_get(r->body, "recipients"))
		json_object_set(c, "recipients", json_object_get(r->body, "recipients"));
	if (json_object_get(r->body, "until"))
		json_object_set(c, "until", json_object_get(r->body, "until"));
	return json_object_set_new(pol->consents, r->id, c);
}

static void incident_touch(json_t *inc, const precord *r)
{
	char when[21];

	time_text(when, r->time);
	if (strcmp(pj_str(inc, "updated"), when) < 0)
		json_object_set_new(inc, "updated", json_string(when));
}

int state_apply(ledger_policy *pol, precord *r)
{
	const char *t = r->type;
	json_t *inc = state_incident(pol, r->incident);

	if (inc)
		incident_touch(inc, r);
	if (strcmp(t, "agency") == 0)
		return apply_agency(pol, r);
	if (strcmp(t, "appointment") == 0)
		return apply_appointment(pol, r);
	if (strcmp(t, "nomination") == 0)
		return apply_enrolment(pol, r, pol->nominations, pj_str(r->body, "candidate"),
		                       "candidates");
	if (strcmp(t, "registration") == 0)
		return apply_enrolment(pol, r, pol->registrations, pj_str(r->body, "trainee"),
		                       "trainees");
	if (strcmp(t, "withdrawal") == 0)
		return apply_withdrawal(pol, r);
	if (strcmp(t, "consent") == 0)
		return apply_consent(pol, r);
	if (strcmp(t, "participation") == 0)
		return json_array_append_new(pol->participations,
		                             json_pack("{s:s, s:s, s:s}", "id", r->id, "principal",
		                                       pj_str(r->body, "principal"), "incident",
		                                       r->incident));
	if (strcmp(t, "request") == 0)
		return open_incident(pol, r, "requested", pj_str(r->body, "basis"),
		                     pj_str(r->body, "route"));
	if (strcmp(t, "dispatch") == 0) {
		if (strcmp(pj_str(r->body, "basis"), "11.2") == 0) {
			use_consent(pol, r, NULL);
			return open_incident(pol, r, "dispatched", "11.2", "pre_request");
		}
		if (inc) {
			json_object_set_new(inc, "dispatches",
			                    json_integer(json_integer_value(json_object_get(inc, "dispatches")) + 1));
			if (strcmp(pj_str(inc, "state"), "requested") == 0)
				json_object_set(inc, "state", word(pol, "dispatched"));
		}
		return 0;
	}
	if (strcmp(t, "report") == 0 && inc) {
		json_t *id = json_string(r->id); /* the number's, and the consent's use */
		char number[24];

		snprintf(number, sizeof(number), "%lld",
		         (long long)json_integer_value(json_object_get(r->body, "number")));
		json_object_set_new(inc, "reports",
		                    json_integer(json_integer_value(json_object_get(inc, "reports")) + 1));
		json_object_set(json_object_get(inc, "numbers"), number, id);
		if (pj_true(r->body, "cabinet_emergency"))
			json_object_set_new(inc, "cabinet_emergency", json_true());
		if (strcmp(pj_str(inc, "state"), "dispatched") == 0)
			json_object_set(inc, "state", word(pol, "reporting"));
		if (pj_true(r->body, "gsoc_substitute"))
			use_consent(pol, r, id);
		json_decref(id);
		return 0;
	}
	if (strcmp(t, "closure") == 0 && inc) {
		json_object_set(inc, "state", word(pol, "closed"));
		json_object_set_new(inc, "closure", json_string(r->id));
		return 0;
	}
	if (strcmp(t, "share") == 0 && pj_str(r->body, "consent"))
		use_consent(pol, r, NULL);
	return 0;
}

/* --- views ------------------------------------------------------------------------ */

static int compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted (borrowed strings, malloc'd array). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
	const char **keys = malloc((json_object_size(obj) + 1) * sizeof(*keys)), *k;
	json_t *v;

	*n = 0;
	if (!keys)
		return NULL;
	json_object_foreach((json_t *)obj, k, v)
		keys[(*n)++] = k;
	qsort(keys, *n, sizeof(*keys), compare_keys);
	return keys;
}

/* A new array of the strings of `list`, sorted (the source order is not part of the result). */
static json_t *sorted_strings(const json_t *list)
{
	size_t n = json_array_size(list);
	const char **items = malloc((n + 1) * sizeof(*items));
	json_t *out = json_array();

	if (!items || !out) {
		free(items);
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		items[i] = json_string_value(json_array_get(list, i));
	qsort(items, n, sizeof(*items), compare_keys);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, json_string(items[i]));
	free(items);
	return out;
}

/* The string values of an object, sorted. */
static json_t *sorted_values(const json_t *obj)
{
	json_t *list = json_array(), *v, *out;
	const char *k;

	json_object_foreach((json_t *)obj, k, v)
		json_array_append(list, v);
	out = sorted_strings(list);
	json_decref(list);
	return out;
}

/* Principals appointed to `role` at t, sorted. */
static json_t *appointed_sorted(const ledger_policy *pol, const char *role, int64_t t)
{
	json_t *list = state_appointed(pol, role, t), *out = sorted_strings(list);

	json_decref(list);
	return out;
}

json_t *ledger_policy_roster(const ledger_policy *policy)
{
	json_t *out = json_object(), *list = json_array(), *cymat;
	const char **keys;
	size_t n;

	keys = sorted_keys(policy->agencies, &n);
	if (!out || !list || !keys)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const json_t *a = json_object_get(policy->agencies, keys[i]);
		const char *kind = pj_str(a, "kind");
		size_t nc = json_object_size(json_object_get(a, "candidates"));
		size_t nt = json_object_size(json_object_get(a, "trainees"));
		json_t *v = json_pack("{s:s, s:s, s:O, s:o, s:o}", "id", keys[i], "kind", kind,
		                      "name", json_object_get(a, "name"), "candidates",
		                      sorted_values(json_object_get(a, "candidates")), "trainees",
		                      sorted_values(json_object_get(a, "trainees")));
		json_t *quota;

		if (!v)
			goto fail;
		if (json_object_get(a, "parent"))
			json_object_set(v, "parent", json_object_get(a, "parent"));
		if (strcmp(kind, "government") == 0)
			quota = json_pack("{s:I, s:i, s:I, s:i}", "candidates", (json_int_t)nc,
			                  "candidates_max", 4, "trainees", (json_int_t)nt, "total_max", 4);
		else if (strcmp(kind, "observer") == 0)
			quota = json_pack("{s:I, s:i}", "trainees", (json_int_t)nt, "trainees_max", 4);
		else
			quota = json_object();
		json_object_set_new(v, "quota", quota);
		json_array_append_new(list, v);
	}
	cymat = json_pack("{s:o, s:o, s:o}", "manager",
	                  appointed_sorted(policy, "manager", policy->now), "field_leaders",
	                  appointed_sorted(policy, "field_leader", policy->now), "members",
	                  appointed_sorted(policy, "member", policy->now));
	if (!cymat)
		goto fail;
	free(keys);
	json_object_set_new(out, "agencies", list);
	json_object_set_new(out, "cymat", cymat);
	return out;
fail:
	free(keys);
	json_decref(out);
	json_decref(list);
	return NULL;
}

json_t *ledger_policy_consents(const ledger_policy *policy)
{
	json_t *list;
	const char **keys;
	size_t n;

	/* Every consent, the cached ones too (the policy is a malloc'd, mutable object). */
	if (state_take_all((ledger_policy *)policy) < 0)
		return NULL;
	list = json_array();
	keys = sorted_keys(policy->consents, &n);
	if (!list || !keys) {
		free(keys);
		json_decref(list);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *c = json_object_get(policy->consents, keys[i]);
		json_t *v = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O}", "id", keys[i], "provider",
		                      json_object_get(c, "provider"), "purpose",
		                      json_object_get(c, "purpose"), "author",
		                      json_object_get(c, "author"), "time", json_object_get(c, "time"),
		                      "used_by", json_object_get(c, "used_by"));
		static const char *const optional[] = { "scope", "recipients", "until", "withdrawn" };

		for (size_t k = 0; v && k < sizeof(optional) / sizeof(optional[0]); k++)
			if (json_object_get(c, optional[k]))
				json_object_set(v, optional[k], json_object_get(c, optional[k]));
		json_array_append_new(list, v);
	}
	free(keys);
	return list;
}

json_t *policy_summary(const ledger_policy *pol, int64_t from, int64_t until)
{
	json_t *records = json_object(), *out;
	json_int_t opened = 0, dispatched = 0, closed = 0;

	if (!records)
		return NULL;
	for (size_t i = 0; i < pol->norder; i++) {
		const precord *r = &pol->recs[pol->order[i]];

		if (r->verdict != PV_VALID || r->time < from || r->time >= until)
			continue;
		json_object_set_new(records, r->type,
		                    json_integer(json_integer_value(json_object_get(records, r->type)) + 1));
		opened += r->opens != NULL;
		dispatched += strcmp(r->type, "dispatch") == 0;
		closed += strcmp(r->type, "closure") == 0;
	}
	out = json_pack("{s:o, s:{s:I, s:I, s:I}}", "records", records, "incidents", "opened",
	                opened, "dispatched", dispatched, "closed", closed);
	return out;
}
