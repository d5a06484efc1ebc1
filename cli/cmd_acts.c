/*
 * The acts of the agreement as commands (request, dispatch, report,
 * opinion, close, consent): each builds its record body from options
 * (shapes in schemas/<type>.schema.json) and appends it through
 * cli_append_records, so that the record is judged like any other.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"
#include "cli.h"

enum field_kind {
	FIELD_STRING,  /* body[path] = "VALUE" */
	FIELD_INTEGER, /* body[path] = VALUE */
	FIELD_FLAG,    /* body[path] = true */
	FIELD_LIST,    /* VALUE appended to the array body[path] (repeatable) */
	FIELD_ACTING   /* body.acting = true, body.reason = VALUE (R4.2) */
};

/* One option that fills a body member; "a.b" is member b of object a. */
struct act_field {
	const char *option;
	const char *path;
	enum field_kind kind;
	int required;
	int is_ref;        /* a record id: also goes into refs */
	const char *value; /* default (FIELD_STRING; FIELD_FLAG: "false") */
};

enum { INCIDENT_NONE, INCIDENT_OPTIONAL, INCIDENT_REQUIRED };

struct act {
	const char *name;   /* command name */
	const char *type;   /* record type */
	int incident;       /* whether --incident is refused, allowed, required */
	const char *incident_from; /* a field whose value is also the incident, or NULL */
	const struct act_field *fields;
};

#define FIELDS_END { NULL, NULL, FIELD_STRING, 0, 0, NULL }

static const struct act_field request_fields[] = {
	{ "basis", "basis", FIELD_STRING, 1, 0, "10.1" },
	{ "route", "route", FIELD_STRING, 1, 0, "normal" },
	{ "to", "addressed_to", FIELD_STRING, 1, 0, "director" },
	{ "addressee", "addressee", FIELD_STRING, 0, 0, NULL },
	{ "affected", "affected", FIELD_STRING, 1, 0, NULL },
	{ "summary", "summary", FIELD_STRING, 1, 0, NULL },
	{ "system", "systems", FIELD_LIST, 0, 0, NULL },
	{ "occurred", "occurred_at", FIELD_STRING, 1, 0, NULL },
	{ "ask-agency", "ask.agency", FIELD_STRING, 0, 0, NULL },
	{ "ask-time", "ask.time", FIELD_STRING, 0, 0, NULL },
	{ "ask-text", "ask.text", FIELD_STRING, 0, 0, NULL },
	{ "related", "related_incident", FIELD_STRING, 0, 1, NULL },
	{ "emergency-reason", "emergency_reason", FIELD_STRING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field dispatch_fields[] = {
	{ "basis", "basis", FIELD_STRING, 1, 0, NULL },
	{ "request", "request", FIELD_STRING, 0, 1, NULL },
	{ "consent", "consent", FIELD_STRING, 0, 1, NULL },
	{ "affected", "affected", FIELD_STRING, 1, 0, NULL },
	{ "field-leader", "team.field_leaders", FIELD_LIST, 1, 0, NULL },
	{ "member", "team.members", FIELD_LIST, 0, 0, NULL },
	{ "summary", "summary", FIELD_STRING, 0, 0, NULL },
	{ "acting", "acting", FIELD_ACTING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field report_fields[] = {
	{ "number", "number", FIELD_INTEGER, 1, 0, NULL },
	{ "status", "status", FIELD_STRING, 1, 0, NULL },
	{ "summary", "summary", FIELD_STRING, 0, 0, NULL },
	{ "gsoc-substitute", "gsoc_substitute", FIELD_FLAG, 1, 0, "false" },
	{ "cabinet-emergency", "cabinet_emergency", FIELD_FLAG, 1, 0, "false" },
	{ "consent", "consent", FIELD_STRING, 0, 1, NULL },
	FIELDS_END
};

static const struct act_field opinion_fields[] = {
	{ "view", "view", FIELD_STRING, 1, 0, NULL },
	{ "summary", "summary", FIELD_STRING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field close_fields[] = {
	{ "opinion", "opinions", FIELD_LIST, 1, 1, NULL },
	{ "decision", "decision", FIELD_STRING, 1, 0, NULL },
	{ "acting", "acting", FIELD_ACTING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field consent_fields[] = {
	{ "purpose", "purpose", FIELD_STRING, 1, 0, NULL },
	{ "scope-record", "scope.records", FIELD_LIST, 0, 1, NULL },
	{ "scope-incident", "scope.incidents", FIELD_LIST, 0, 1, NULL },
	{ "scope-class", "scope.classes", FIELD_LIST, 0, 0, NULL },
	{ "recipient", "recipients", FIELD_LIST, 0, 0, NULL },
	{ "use", "use", FIELD_STRING, 0, 0, NULL },
	{ "until", "until", FIELD_STRING, 0, 0, NULL },
	{ "withdraws", "withdraws", FIELD_STRING, 0, 1, NULL },
	{ "note", "note", FIELD_STRING, 0, 0, NULL },
	FIELDS_END
};

static const struct act acts[] = {
	{ "request", "request", INCIDENT_NONE, NULL, request_fields },
	{ "dispatch", "dispatch", INCIDENT_OPTIONAL, "request", dispatch_fields },
	{ "report", "report", INCIDENT_REQUIRED, NULL, report_fields },
	{ "opinion", "opinion", INCIDENT_REQUIRED, NULL, opinion_fields },
	{ "close", "closure", INCIDENT_REQUIRED, NULL, close_fields },
	{ "consent", "consent", INCIDENT_OPTIONAL, NULL, consent_fields },
};

#define ACT_COMMON_OPTIONS \
	"Common options:\n" \
	"  --key FILE        signing key (default $CYMAT_KEY)\n" \
	"  --author P        the author principal (default: the key's)\n" \
	"  --ref ID          a record this one refers to (repeatable; record ids\n" \
	"                    given to other options are added, else the incident)\n" \
	"  --class CLASS     c1 (default), c2 or c3\n" \
	"  --time TIME       the record's time (default now)\n" \
	"  --no-judge        append even when the rules refuse the record (expert)\n" \
	"  --dry-run         print the body and stop\n" \
	"  --json            print the new record as JSON\n" \
	"  -h, --help        show this help\n" \
	"\n" \
	"The record is judged like `cymat append`'s: refused (exit 1, with the rule\n" \
	"id) when it breaks the format or an error-level rule; nothing is written.\n"

const char cmd_request_help[] =
	"usage: cymat request [OPTIONS] --affected ORG --summary TEXT\n"
	"\n"
	"Request CYMAT's support (DOMAIN.md §10): opens an incident.\n"
	"\n"
	"Options:\n"
	"  --basis B               10.1 (default), 10.2 (IAA) or 10.3 (stakeholder)\n"
	"  --route R               normal (default; CISO to director) or emergency\n"
	"  --to ROLE               director (default), manager or field_leader\n"
	"  --addressee P           the person addressed\n"
	"  --affected ORG          the affected organisation (agency id)\n"
	"  --summary TEXT          what happened\n"
	"  --system NAME           an affected system (repeatable)\n"
	"  --occurred TIME         when it happened (default: the record's time)\n"
	"  --ask-agency ORG, --ask-time TIME, --ask-text TEXT\n"
	"                          10.2/10.3: the IAA's or stakeholder's own ask\n"
	"  --related ID            10.3: the incident the stakeholder is tied to\n"
	"  --emergency-reason TEXT why the emergency route is used\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Examples:\n"
	"  cymat request --key keys/mhlw-ciso --affected mhlw \\\n"
	"      --summary \"Outbound traffic to an unknown host\" --system payments\n"
	"  cymat request --key keys/mhlw-csirt --route emergency --to field_leader \\\n"
	"      --affected mhlw --summary \"Ransomware\" --emergency-reason \"CISO away\"\n";

const char cmd_dispatch_help[] =
	"usage: cymat dispatch [OPTIONS] (--request ID | --consent ID) --affected ORG\n"
	"                      --field-leader P...\n"
	"\n"
	"Dispatch CYMAT (DOMAIN.md §11): on a request (11.1; the request's incident)\n"
	"or before one, with the CSIRT's consent (11.2; opens its own incident).\n"
	"\n"
	"Options:\n"
	"  --request ID            11.1: the request (also the incident)\n"
	"  --consent ID            11.2: the pre_request_dispatch consent\n"
	"  --basis B               11.1 or 11.2 (default: from --request/--consent)\n"
	"  --incident ID           the incident (default: the request's)\n"
	"  --affected ORG          the organisation dispatched to\n"
	"  --field-leader P        an appointed field leader (repeatable, >= 1)\n"
	"  --member P              a team member (repeatable)\n"
	"  --summary TEXT          the mission\n"
	"  --acting REASON         the deputy acting for the director (R4.2)\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat dispatch --key keys/director --request \"$REQ\" --affected mhlw \\\n"
	"      --field-leader nisc/field-leader --summary \"Establish the facts\"\n";

const char cmd_report_help[] =
	"usage: cymat report [OPTIONS] --incident ID --number N --status S\n"
	"\n"
	"File a damage report (DOMAIN.md §13).\n"
	"\n"
	"Options:\n"
	"  --incident ID           the incident\n"
	"  --number N              the report's number within the incident, from 1\n"
	"  --status S              investigating, ongoing, contained or recovered\n"
	"  --summary TEXT          the damage and the response\n"
	"  --gsoc-substitute       stands in for the GSOC report (R13.2; --consent)\n"
	"  --consent ID            the gsoc_substitute consent\n"
	"  --cabinet-emergency     a cabinet-level emergency (R13.3)\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat report --key keys/mhlw-csirt --class c2 --incident \"$REQ\" \\\n"
	"      --number 1 --status investigating --summary \"Two servers isolated\"\n";

const char cmd_opinion_help[] =
	"usage: cymat opinion [OPTIONS] --incident ID --view VIEW\n"
	"\n"
	"The affected organisation's CISO gives an opinion on ending support (R14.1).\n"
	"\n"
	"Options:\n"
	"  --incident ID           the incident\n"
	"  --view VIEW             end_support or continue_support\n"
	"  --summary TEXT          why\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat opinion --key keys/mhlw-ciso --incident \"$REQ\" --view end_support\n";

const char cmd_close_help[] =
	"usage: cymat close [OPTIONS] --incident ID --opinion ID... --decision TEXT\n"
	"\n"
	"The director ends the support (closure, R14.1), having heard the opinions.\n"
	"\n"
	"Options:\n"
	"  --incident ID           the incident\n"
	"  --opinion ID            an opinion heard (repeatable, >= 1)\n"
	"  --decision TEXT         the decision\n"
	"  --acting REASON         the deputy acting for the director (R4.2)\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat close --key keys/director --incident \"$REQ\" --opinion \"$OP\" \\\n"
	"      --decision \"Contained; support ends\"\n";

const char cmd_consent_help[] =
	"usage: cymat consent [OPTIONS] --purpose PURPOSE\n"
	"\n"
	"Give (or withdraw) a consent (DOMAIN.md §11.2, §13.2, §15).\n"
	"\n"
	"Options:\n"
	"  --purpose P             pre_request_dispatch, gsoc_substitute, 15a, 15b, 15c\n"
	"  --incident ID           the incident it concerns\n"
	"  --scope-record ID, --scope-incident ID, --scope-class CLASS\n"
	"                          what it covers (repeatable; 15a-15c)\n"
	"  --recipient ORG         who may receive the information (repeatable; 15a)\n"
	"  --use TEXT              the use consented to (15b/15c)\n"
	"  --until TIME            when it ends\n"
	"  --withdraws ID          withdraw that consent\n"
	"  --note TEXT             a note\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat consent --key keys/mhlw-csirt --purpose pre_request_dispatch\n";

enum {
	OPT_KEY = 1000, OPT_AUTHOR, OPT_REF, OPT_CLASS, OPT_TIME, OPT_NO_JUDGE, OPT_DRY_RUN,
	OPT_JSON, OPT_INCIDENT, OPT_FIELD /* + index into the act's fields */
};

static const struct act *find_act(void)
{
	size_t i;

	for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		if (strcmp(acts[i].name, cli_command_name) == 0)
			return &acts[i];
	return NULL;
}

/* The object that holds member `path` ("a.b": body.a, created), and the member's name. */
static json_t *member_parent(json_t *body, const char *path, const char **name)
{
	const char *dot = strchr(path, '.');
	char outer[64];
	json_t *obj;

	if (!dot) {
		*name = path;
		return body;
	}
	snprintf(outer, sizeof(outer), "%.*s", (int)(dot - path), path);
	*name = dot + 1;
	obj = json_object_get(body, outer);
	if (!obj) {
		obj = json_object();
		if (!obj || json_object_set_new(body, outer, obj) < 0)
			return NULL;
	}
	return obj;
}

static int member_present(const json_t *body, const char *path)
{
	const char *dot = strchr(path, '.');
	char outer[64];

	if (!dot)
		return json_object_get(body, path) != NULL;
	snprintf(outer, sizeof(outer), "%.*s", (int)(dot - path), path);
	return json_object_get(json_object_get(body, outer), dot + 1) != NULL;
}

static int set_field(json_t *body, const struct act_field *f, const char *value)
{
	json_t *parent, *list;
	const char *name;
	long long n;
	char *end;

	parent = member_parent(body, f->path, &name);
	if (!parent)
		return CLI_EXIT_INTERNAL;
	switch (f->kind) {
	case FIELD_STRING:
		json_object_set_new(parent, name, json_string(value));
		break;
	case FIELD_INTEGER:
		n = strtoll(value, &end, 10);
		if (!*value || *end)
			return cli_usage_error("--%s wants an integer", f->option);
		json_object_set_new(parent, name, json_integer(n));
		break;
	case FIELD_FLAG:
		json_object_set_new(parent, name, json_true());
		break;
	case FIELD_LIST:
		list = json_object_get(parent, name);
		if (!list) {
			list = json_array();
			json_object_set_new(parent, name, list);
		}
		json_array_append_new(list, json_string(value));
		break;
	case FIELD_ACTING:
		json_object_set_new(parent, "acting", json_true());
		json_object_set_new(parent, "reason", json_string(value));
		break;
	}
	if (!json_object_get(parent, f->kind == FIELD_ACTING ? "reason" : name)) {
		cli_error("--%s: not valid UTF-8 or out of memory", f->option);
		return CLI_EXIT_INPUT;
	}
	return CLI_EXIT_OK;
}

static int cmp_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* refs: sorted and unique (FORMAT.md), as the record format wants them. */
static json_t *sorted_refs(const char **refs, size_t n)
{
	json_t *out = json_array();
	size_t i;

	if (!out)
		return NULL;
	qsort(refs, n, sizeof(*refs), cmp_strings);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(refs[i], refs[i - 1]) != 0)
			json_array_append_new(out, json_string(refs[i]));
	return out;
}

static int run_act(const struct act *act, int argc, char **argv)
{
	struct cli_append_options opts = { 0 };
	struct cli_new_record rec = { 0 };
	struct option *options = NULL;
	json_t *body = NULL, *refs = NULL;
	const char **ref_ids = NULL;
	const struct act_field *f;
	size_t nfields, nopts, nrefs = 0, i;
	char now_text[21];
	int c, dry_run = 0, rc = CLI_EXIT_INTERNAL;

	for (nfields = 0; act->fields[nfields].option; nfields++)
		;
	options = calloc(nfields + 11, sizeof(*options));
	/* Every option may name one record; enough room for all of them and the incident. */
	ref_ids = calloc((size_t)argc + 1, sizeof(*ref_ids));
	body = json_object();
	if (!options || !ref_ids || !body) {
		cli_error("out of memory");
		goto done;
	}
	nopts = 0;
	options[nopts++] = (struct option){ "key", required_argument, NULL, OPT_KEY };
	options[nopts++] = (struct option){ "author", required_argument, NULL, OPT_AUTHOR };
	options[nopts++] = (struct option){ "ref", required_argument, NULL, OPT_REF };
	options[nopts++] = (struct option){ "class", required_argument, NULL, OPT_CLASS };
	options[nopts++] = (struct option){ "time", required_argument, NULL, OPT_TIME };
	options[nopts++] = (struct option){ "no-judge", no_argument, NULL, OPT_NO_JUDGE };
	options[nopts++] = (struct option){ "dry-run", no_argument, NULL, OPT_DRY_RUN };
	options[nopts++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	options[nopts++] = (struct option){ "help", no_argument, NULL, 'h' };
	if (act->incident != INCIDENT_NONE)
		options[nopts++] = (struct option){ "incident", required_argument, NULL, OPT_INCIDENT };
	for (i = 0; i < nfields; i++)
		options[nopts++] = (struct option){ act->fields[i].option,
			act->fields[i].kind == FIELD_FLAG ? no_argument : required_argument,
			NULL, OPT_FIELD + (int)i };

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_KEY:
			opts.key_path = optarg;
			break;
		case OPT_AUTHOR:
			opts.author = optarg;
			break;
		case OPT_REF:
			ref_ids[nrefs++] = optarg;
			break;
		case OPT_CLASS:
			rec.class_ = optarg;
			break;
		case OPT_TIME:
			rec.time = optarg;
			break;
		case OPT_NO_JUDGE:
			opts.no_judge = 1;
			break;
		case OPT_DRY_RUN:
			dry_run = 1;
			break;
		case OPT_JSON:
			opts.json = 1;
			break;
		case OPT_INCIDENT:
			rec.incident = optarg;
			break;
		case 'h':
			cli_print_help();
			rc = CLI_EXIT_OK;
			goto done;
		default:
			if (c < OPT_FIELD || c >= OPT_FIELD + (int)nfields) {
				rc = cli_usage_error("unknown option \"%s\"", argv[optind - 1]);
				goto done;
			}
			f = &act->fields[c - OPT_FIELD];
			if ((rc = set_field(body, f, optarg)) != CLI_EXIT_OK)
				goto done;
			if (f->is_ref)
				ref_ids[nrefs++] = optarg;
			if (act->incident_from && strcmp(f->path, act->incident_from) == 0 &&
			    !rec.incident)
				rec.incident = optarg;
			rc = CLI_EXIT_INTERNAL;
			break;
		}
	}
	if (optind != argc) {
		rc = cli_usage_error("unexpected argument \"%s\"", argv[optind]);
		goto done;
	}
	if (act->incident == INCIDENT_REQUIRED && !rec.incident) {
		rc = cli_usage_error("--incident is required");
		goto done;
	}

	/* Defaults the acts imply. */
	if (strcmp(act->type, "request") == 0 && !json_object_get(body, "occurred_at")) {
		/* Unless told otherwise, it happened when it is recorded: one time for both. */
		if (!rec.time) {
			ledger_time_format(now_text, (int64_t)time(NULL));
			rec.time = now_text;
		}
		json_object_set_new(body, "occurred_at", json_string(rec.time));
	}
	if (strcmp(act->type, "dispatch") == 0) {
		if (!json_object_get(body, "basis")) {
			if (json_object_get(body, "consent") && !json_object_get(body, "request"))
				json_object_set_new(body, "basis", json_string("11.2"));
			else if (json_object_get(body, "request"))
				json_object_set_new(body, "basis", json_string("11.1"));
		}
		if (member_present(body, "team.field_leaders") && !member_present(body, "team.members"))
			json_object_set_new(json_object_get(body, "team"), "members", json_array());
	}
	for (i = 0; i < nfields; i++) {
		json_t *parent;
		const char *name;

		f = &act->fields[i];
		if (member_present(body, f->path) || !f->value)
			continue;
		if (!(parent = member_parent(body, f->path, &name))) {
			cli_error("out of memory");
			goto done;
		}
		if (f->kind == FIELD_FLAG)
			json_object_set_new(parent, name, json_false());
		else
			json_object_set_new(parent, name, json_string(f->value));
	}
	for (i = 0; i < nfields; i++) {
		f = &act->fields[i];
		if (f->required && !member_present(body, f->path)) {
			rc = cli_usage_error("--%s is required", f->option);
			goto done;
		}
	}
	/* A record of an incident refers at least to the incident. */
	if (nrefs == 0 && rec.incident)
		ref_ids[nrefs++] = rec.incident;
	refs = sorted_refs(ref_ids, nrefs);
	if (!refs) {
		cli_error("out of memory");
		goto done;
	}
	if (dry_run) {
		cli_print_json(body, 1);
		rc = cli_finish_output();
		goto done;
	}
	rec.type = act->type;
	rec.body = body;
	rec.refs = refs;
	rc = cli_append_records(&rec, 1, &opts);
done:
	json_decref(body);
	json_decref(refs);
	free(ref_ids);
	free(options);
	return rc;
}

int cmd_act(int argc, char **argv)
{
	const struct act *act = find_act();

	if (!act) {
		cli_error("no act named \"%s\"", cli_command_name);
		return CLI_EXIT_INTERNAL;
	}
	return run_act(act, argc, argv);
}
