/*
 * Sealing for the commands (`--seal FILE --to PRINCIPAL`): who a record's
 * sealed part is for, looked up in the ledger at the record's time, and
 * the sealed object itself (ledger/seal.h).
 *
 * Recipients (DOMAIN.md R15.2: the provider, NISC and consented
 * recipients): every key of the author bound at the record's time (so the
 * author reads it back from any of its devices); every key of the NISC
 * principals holding the role director, deputy or manager then (those who
 * handle what CYMAT obtains; the policy rule R15.2 accepts any principal of
 * agency nisc); every key of each --to principal.  Whether a --to principal
 * is covered by a consent is the rules' to judge (R15.2), when the record
 * is judged before it is written.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

static const char *const nisc_roles[] = { "director", "deputy", "manager" };

struct recipients {
	ledger_seal_recipient list[LEDGER_SEAL_MAX_RECIPIENTS];
	char kids[LEDGER_SEAL_MAX_RECIPIENTS][LEDGER_HEX_ID_LEN + 1];
	size_t count;
	const ledger_state *state;
	int64_t at;
	const char *principal; /* collect this principal's keys; NULL: NISC's */
	size_t found;          /* keys of `principal` seen */
	const char *missing;   /* a principal whose key carries no X25519 key */
	int full;
};

static int is_nisc_officer(const struct recipients *r, const char *principal)
{
	if (strncmp(principal, "nisc/", 5) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(nisc_roles) / sizeof(nisc_roles[0]); i++)
		if (ledger_state_has_role(r->state, principal, nisc_roles[i], r->at))
			return 1;
	return 0;
}

static int collect_key(const char *principal, const char *kid, const uint8_t *x25519,
                       void *payload)
{
	struct recipients *r = payload;
	size_t i;

	if (r->principal ? strcmp(principal, r->principal) != 0 : !is_nisc_officer(r, principal))
		return 0;
	r->found++;
	if (!x25519) {
		r->missing = principal;
		return 1;
	}
	for (i = 0; i < r->count; i++)
		if (strcmp(r->kids[i], kid) == 0)
			return 0;
	if (r->count == LEDGER_SEAL_MAX_RECIPIENTS) {
		r->full = 1;
		return 1;
	}
	memcpy(r->kids[r->count], kid, sizeof(r->kids[0]));
	r->list[r->count].kid = r->kids[r->count];
	memcpy(r->list[r->count].x25519, x25519, 32);
	r->count++;
	return 0;
}

/* Add the keys of `principal` (NULL: NISC's officers); prints the error. */
static int add_keys(struct recipients *r, const char *principal, const char *what)
{
	r->principal = principal;
	r->found = 0;
	r->missing = NULL;
	ledger_state_foreach_key(r->state, r->at, collect_key, r);
	if (r->full) {
		cli_error("more than %d recipients", LEDGER_SEAL_MAX_RECIPIENTS);
		return CLI_EXIT_INPUT;
	}
	if (r->missing) {
		cli_error("%s \"%s\": a key's binding carries no X25519 key to seal for",
		          what, r->missing);
		return CLI_EXIT_INPUT;
	}
	if (principal && r->found == 0) {
		cli_error("%s \"%s\": no key bound at the record's time", what, principal);
		return CLI_EXIT_INPUT;
	}
	return CLI_EXIT_OK;
}

int cli_seal_record(json_t **out, const struct cli_new_record *rec, const char *time_text,
                    const char *author, const ledger_state *state)
{
	struct recipients *r;
	int64_t at;
	int error, rc;

	*out = NULL;
	if (!rec->class_ || (strcmp(rec->class_, "c2") != 0 && strcmp(rec->class_, "c3") != 0)) {
		cli_error("--seal needs --class c2 or c3: a %s record is public",
		          rec->class_ ? rec->class_ : "c1");
		return CLI_EXIT_USAGE;
	}
	if (ledger_time_parse(&at, time_text) < 0)
		return cli_lib_error(LEDGER_EINVALID, "record time \"%s\"", time_text);
	r = calloc(1, sizeof(*r));
	if (!r) {
		cli_error("out of memory");
		return CLI_EXIT_INTERNAL;
	}
	r->state = state;
	r->at = at;
	if ((rc = add_keys(r, author, "author")) != CLI_EXIT_OK ||
	    (rc = add_keys(r, NULL, "NISC principal")) != CLI_EXIT_OK)
		goto done;
	for (size_t i = 0; i < rec->nseal_to; i++)
		if ((rc = add_keys(r, rec->seal_to[i], "recipient")) != CLI_EXIT_OK)
			goto done;
	error = ledger_seal(out, rec->confidential, r->list, r->count);
	rc = error < 0 ? cli_lib_error(error, "cannot seal") : CLI_EXIT_OK;
done:
	free(r);
	return rc;
}
