/*
 * The acts of the agreement as commands (agency add, nominate, appoint,
 * trainee register, withdraw, training apply, participate, request,
 * consent, dispatch, activity, report, opinion, close, share,
 * council-report): each builds its record body from options (shapes in
 * schemas/<type>.schema.json) and appends it through cli_append_records,
 * so that the record is judged like any other, by the format and the rules.
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

/*
 * One option that fills a body member; "a.b" is member b of object a.  A
 * default is a string, or one of:
 *   DEFAULT_TIME        the record's time (now unless --time)
 *   "@agency:PATH"      the organisation of the principal at PATH (a
 *                       string, or the first of a list): "moj" of "moj/ciso"
 *   "@copy:PATH"        the string at PATH
 * Defaults are filled in the order of the fields.
 */
struct act_field {
	const char *option;
	const char *path;
	enum field_kind kind;
	int required;
	int is_ref;        /* a record id: also goes into refs */
	const char *value; /* default (FIELD_STRING; FIELD_FLAG: "false") */
};

#define DEFAULT_TIME "@time"

enum { INCIDENT_NONE, INCIDENT_OPTIONAL, INCIDENT_REQUIRED };

struct act {
	const char *name;   /* command name */
	const char *sub;    /* its subcommand ("agency add"), or NULL */
	const char *type;   /* record type */
	int incident;       /* whether --incident is refused, allowed, required */
	const char *incident_from; /* a field whose value is also the incident, or NULL */
	const struct act_field *fields;
	/* Fill what the options cannot give (the council summary); an exit code. */
	int (*complete)(json_t *body);
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
	{ "occurred", "occurred_at", FIELD_STRING, 1, 0, DEFAULT_TIME },
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

static const struct act_field agency_fields[] = {
	{ "id", "id", FIELD_STRING, 1, 0, NULL },
	{ "kind", "kind", FIELD_STRING, 1, 0, NULL },
	{ "name-ja", "name.ja", FIELD_STRING, 1, 0, NULL },
	{ "name-en", "name.en", FIELD_STRING, 1, 0, NULL },
	{ "parent", "parent", FIELD_STRING, 0, 0, NULL },
	{ "requesting-agency", "requesting_agency", FIELD_STRING, 0, 0, NULL },
	{ "incident", "incident", FIELD_STRING, 0, 1, NULL },
	{ "note", "note", FIELD_STRING, 0, 0, NULL },
	{ "acting", "acting", FIELD_ACTING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field nomination_fields[] = {
	{ "candidate", "candidate", FIELD_STRING, 1, 0, NULL },
	{ "agency", "agency", FIELD_STRING, 1, 0, "@agency:candidate" },
	{ "replaces", "replaces", FIELD_STRING, 0, 1, NULL },
	{ "name-ja", "name.ja", FIELD_STRING, 0, 0, NULL },
	{ "name-en", "name.en", FIELD_STRING, 0, 0, NULL },
	{ "note", "note", FIELD_STRING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field appointment_fields[] = {
	{ "principal", "principal", FIELD_STRING, 1, 0, NULL },
	{ "role", "role", FIELD_STRING, 1, 0, NULL },
	{ "from", "from", FIELD_STRING, 1, 0, DEFAULT_TIME },
	{ "until", "until", FIELD_STRING, 0, 0, NULL },
	{ "nomination", "nomination", FIELD_STRING, 0, 1, NULL },
	{ "note", "note", FIELD_STRING, 0, 0, NULL },
	{ "acting", "acting", FIELD_ACTING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field registration_fields[] = {
	{ "trainee", "trainee", FIELD_STRING, 1, 0, NULL },
	{ "agency", "agency", FIELD_STRING, 1, 0, "@agency:trainee" },
	{ "replaces", "replaces", FIELD_STRING, 0, 1, NULL },
	{ "name-ja", "name.ja", FIELD_STRING, 0, 0, NULL },
	{ "name-en", "name.en", FIELD_STRING, 0, 0, NULL },
	{ "note", "note", FIELD_STRING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field withdrawal_fields[] = {
	{ "withdraws", "withdraws", FIELD_STRING, 1, 1, NULL },
	{ "what", "what", FIELD_STRING, 1, 0, NULL },
	{ "reason", "reason", FIELD_STRING, 1, 0, NULL },
	FIELDS_END
};

static const struct act_field training_fields[] = {
	{ "trainee", "trainees", FIELD_LIST, 1, 0, NULL },
	{ "agency", "agency", FIELD_STRING, 1, 0, "@agency:trainees" },
	{ "kind", "training.kind", FIELD_STRING, 1, 0, "training" },
	{ "title", "training.title", FIELD_STRING, 1, 0, NULL },
	{ "from", "training.from", FIELD_STRING, 0, 0, NULL },
	{ "until", "training.until", FIELD_STRING, 0, 0, NULL },
	{ "cost-borne-by", "cost_borne_by", FIELD_STRING, 1, 0, "@copy:agency" },
	{ "note", "note", FIELD_STRING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field participation_fields[] = {
	{ "principal", "principal", FIELD_STRING, 1, 0, NULL },
	{ "emergency-reason", "emergency_reason", FIELD_STRING, 1, 0, NULL },
	{ "from", "from", FIELD_STRING, 0, 0, NULL },
	{ "until", "until", FIELD_STRING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field activity_fields[] = {
	{ "kind", "kind", FIELD_STRING, 1, 0, NULL },
	{ "summary", "summary", FIELD_STRING, 1, 0, NULL },
	{ "advice-to", "advice_to", FIELD_LIST, 0, 0, NULL },
	{ "participant", "participants", FIELD_LIST, 0, 0, NULL },
	{ "from", "from", FIELD_STRING, 0, 0, NULL },
	{ "until", "until", FIELD_STRING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field share_fields[] = {
	{ "source", "sources", FIELD_LIST, 1, 1, NULL },
	{ "recipient", "recipient", FIELD_STRING, 1, 0, NULL },
	{ "purpose", "purpose", FIELD_STRING, 1, 0, NULL },
	{ "consent", "consent", FIELD_STRING, 0, 1, NULL },
	{ "approval", "approval", FIELD_STRING, 0, 1, NULL },
	{ "use", "use", FIELD_STRING, 0, 0, NULL },
	{ "acting", "acting", FIELD_ACTING, 0, 0, NULL },
	FIELDS_END
};

static const struct act_field council_fields[] = {
	{ "from", "period.from", FIELD_STRING, 1, 0, NULL },
	{ "until", "period.until", FIELD_STRING, 1, 0, NULL },
	{ "published", "published", FIELD_FLAG, 0, 0, NULL },
	{ "acting", "acting", FIELD_ACTING, 0, 0, NULL },
	FIELDS_END
};

static int council_summary(json_t *body);

/* In the order of the agreement (DOMAIN.md sections 2-16). */
static const struct act acts[] = {
	{ "agency", "add", "agency", INCIDENT_NONE, NULL, agency_fields, NULL },
	{ "nominate", NULL, "nomination", INCIDENT_NONE, NULL, nomination_fields, NULL },
	{ "appoint", NULL, "appointment", INCIDENT_NONE, NULL, appointment_fields, NULL },
	{ "trainee", "register", "registration", INCIDENT_NONE, NULL, registration_fields, NULL },
	{ "withdraw", NULL, "withdrawal", INCIDENT_NONE, NULL, withdrawal_fields, NULL },
	{ "training", "apply", "training_application", INCIDENT_NONE, NULL, training_fields, NULL },
	{ "participate", NULL, "participation", INCIDENT_REQUIRED, NULL, participation_fields,
	  NULL },
	{ "request", NULL, "request", INCIDENT_NONE, NULL, request_fields, NULL },
	{ "consent", NULL, "consent", INCIDENT_OPTIONAL, NULL, consent_fields, NULL },
	{ "dispatch", NULL, "dispatch", INCIDENT_OPTIONAL, "request", dispatch_fields, NULL },
	{ "activity", NULL, "activity", INCIDENT_OPTIONAL, NULL, activity_fields, NULL },
	{ "report", NULL, "report", INCIDENT_REQUIRED, NULL, report_fields, NULL },
	{ "opinion", NULL, "opinion", INCIDENT_REQUIRED, NULL, opinion_fields, NULL },
	{ "close", NULL, "closure", INCIDENT_REQUIRED, NULL, close_fields, NULL },
	{ "share", NULL, "share", INCIDENT_OPTIONAL, NULL, share_fields, NULL },
	{ "council-report", NULL, "council_report", INCIDENT_NONE, NULL, council_fields,
	  council_summary },
};

#define ACT_COMMON_OPTIONS \
	"Common options:\n" \
	"  --key FILE        signing key (default $CYMAT_KEY)\n" \
	"  --author P        the author principal (default: the key's)\n" \
	"  --ref ID          a record this one refers to (repeatable; record ids\n" \
	"                    given to other options are added, else the incident)\n" \
	"  --class CLASS     c1 (default), c2 or c3\n" \
	"  --time TIME       the record's time (default now)\n" \
	"  --seal FILE       seal the confidential JSON object in FILE for the\n" \
	"                    author, NISC's director, deputy and managers (needs\n" \
	"                    --class c2 or c3; see `cymat append --help`)\n" \
	"  --seal-to P       also seal for principal P's keys (repeatable)\n" \
	"  --no-judge        append even when the rules refuse the record (expert)\n" \
	"  --dry-run         print the body and stop\n" \
	"  --json            print the new record as JSON\n" \
	"  -h, --help        show this help\n" \
	"\n" \
	"The record is judged like `cymat append`'s, after everything in the ledger:\n" \
	"refused (exit 1, with the rule id, e.g. \"error R8.1 candidate-quota ...\")\n" \
	"when it breaks the format or an error-level rule of the agreement; nothing\n" \
	"is written then.  Warnings are printed and the record is written.\n"

const char cmd_agency_help[] =
	"usage: cymat agency add [OPTIONS] --id ORG --kind KIND --name-ja NAME\n"
	"                        --name-en NAME\n"
	"\n"
	"Register a supported organisation (DOMAIN.md §2): every organisation a\n"
	"record names must be registered first (R2.1), by the director or the\n"
	"manager.\n"
	"\n"
	"Options:\n"
	"  --id ORG                its id, as records name it (^[a-z][a-z0-9-]{1,31}$)\n"
	"  --kind KIND             government, observer, iaa (独立行政法人) or\n"
	"                          stakeholder (直接関係者)\n"
	"  --name-ja NAME, --name-en NAME\n"
	"                          its Japanese and English names\n"
	"  --parent ORG            iaa: the overseeing government agency (R2.2)\n"
	"  --requesting-agency ORG stakeholder: the agency whose request it is tied to\n"
	"  --incident ID           stakeholder: that incident (R2.2)\n"
	"  --note TEXT             a note\n"
	"  --acting REASON         the deputy acting for the director (R4.2)\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Examples:\n"
	"  cymat agency add --key keys/manager --id mhlw --kind government \\\n"
	"      --name-ja 厚生労働省 --name-en \"Ministry of Health, Labour and Welfare\"\n"
	"  cymat agency add --key keys/manager --id cloudco --kind stakeholder \\\n"
	"      --name-ja クラウド社 --name-en CloudCo --requesting-agency mhlw \\\n"
	"      --incident \"$REQ\"\n";

const char cmd_nominate_help[] =
	"usage: cymat nominate [OPTIONS] --candidate PRINCIPAL\n"
	"\n"
	"A government agency's CISO nominates a member candidate (DOMAIN.md §6, §8):\n"
	"at most 4 active candidates (R8.1), candidates and trainees at most 4\n"
	"together (R8.2).\n"
	"\n"
	"Options:\n"
	"  --candidate P           the candidate, one of the agency's principals\n"
	"  --agency ORG            the nominating agency (default: the candidate's)\n"
	"  --replaces ID           the withdrawal this nomination replaces (R9.1)\n"
	"  --name-ja NAME, --name-en NAME\n"
	"                          the person's names\n"
	"  --note TEXT             a note\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat nominate --key keys/mhlw-ciso --candidate mhlw/sato\n";

const char cmd_appoint_help[] =
	"usage: cymat appoint [OPTIONS] --principal P --role ROLE\n"
	"\n"
	"The director appoints the manager, a field leader or a member (DOMAIN.md\n"
	"§5-6): full-time national public servants (R5.5); the manager and field\n"
	"leaders from NISC residents (R6.1, R6.2); members from nominated candidates\n"
	"or NISC residents (R6.3).\n"
	"\n"
	"Options:\n"
	"  --principal P           who is appointed\n"
	"  --role ROLE             manager, field_leader or member\n"
	"  --from TIME             start (default: the record's time)\n"
	"  --until TIME            end, if fixed\n"
	"  --nomination ID         a member's nomination (R6.3)\n"
	"  --note TEXT             a note\n"
	"  --acting REASON         the deputy acting for the director (R4.2)\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Examples:\n"
	"  cymat appoint --key keys/director --principal nisc/tanaka --role field_leader\n"
	"  cymat appoint --key keys/director --principal mhlw/sato --role member \\\n"
	"      --nomination \"$NOM\"\n";

const char cmd_trainee_help[] =
	"usage: cymat trainee register [OPTIONS] --trainee PRINCIPAL\n"
	"\n"
	"A government or observer agency's CISO registers one of its full-time staff\n"
	"as a trainee (DOMAIN.md §7, R7.1): for a government agency candidates and\n"
	"trainees at most 4 together (R8.2); for an observer at most 4 trainees (R8.3).\n"
	"\n"
	"Options:\n"
	"  --trainee P             the trainee, one of the agency's principals\n"
	"  --agency ORG            the registering agency (default: the trainee's)\n"
	"  --replaces ID           the withdrawal this registration replaces (R9.1)\n"
	"  --name-ja NAME, --name-en NAME\n"
	"                          the person's names\n"
	"  --note TEXT             a note\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat trainee register --key keys/mhlw-ciso --trainee mhlw/suzuki\n";

const char cmd_withdraw_help[] =
	"usage: cymat withdraw [OPTIONS] --withdraws ID --what WHAT --reason TEXT\n"
	"\n"
	"The agency that nominated a candidate or registered a trainee withdraws\n"
	"them (DOMAIN.md §9); a replacement should follow within 30 days (R9.1:\n"
	"`cymat nominate --replaces` or `cymat trainee register --replaces`).\n"
	"\n"
	"Options:\n"
	"  --withdraws ID          the nomination or registration\n"
	"  --what WHAT             nomination or registration\n"
	"  --reason TEXT           why\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat withdraw --key keys/mhlw-ciso --withdraws \"$NOM\" --what nomination \\\n"
	"      --reason \"Transferred to another ministry\"\n";

const char cmd_training_help[] =
	"usage: cymat training apply [OPTIONS] --trainee P... --title TEXT\n"
	"\n"
	"An agency's CISO applies for its registered, active trainees to join CYMAT\n"
	"training or an exercise, the cost borne by the agency (DOMAIN.md §7, R7.2).\n"
	"\n"
	"Options:\n"
	"  --trainee P             a trainee (repeatable, >= 1)\n"
	"  --agency ORG            the applying agency (default: the first trainee's)\n"
	"  --kind KIND             training (default) or exercise\n"
	"  --title TEXT            the training or exercise\n"
	"  --from TIME, --until TIME\n"
	"                          when it takes place\n"
	"  --cost-borne-by ORG     who pays (default: the agency)\n"
	"  --note TEXT             a note\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat training apply --key keys/mhlw-ciso --trainee mhlw/suzuki \\\n"
	"      --kind exercise --title \"Joint incident response exercise\"\n";

const char cmd_participate_help[] =
	"usage: cymat participate [OPTIONS] --incident ID --principal P\n"
	"                         --emergency-reason TEXT\n"
	"\n"
	"In an emergency the manager brings a NISC resident into an incident's\n"
	"activities (DOMAIN.md R6.3); the resident may then record activities for it.\n"
	"\n"
	"Options:\n"
	"  --incident ID           the incident\n"
	"  --principal P           the NISC resident\n"
	"  --emergency-reason TEXT why\n"
	"  --from TIME, --until TIME\n"
	"                          for how long\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat participate --key keys/manager --incident \"$REQ\" \\\n"
	"      --principal nisc/yamada --emergency-reason \"Malware analyst needed\"\n";

const char cmd_activity_help[] =
	"usage: cymat activity [OPTIONS] --kind KIND --summary TEXT\n"
	"\n"
	"Record an activity of CYMAT (DOMAIN.md §12), signed by a member, a field\n"
	"leader, the manager or a participant.  Kinds 12.1a (facts), 12.1b (advice)\n"
	"and 12.1c (special order) belong to a dispatched incident (R12.1); normal-\n"
	"time kinds 12.2a-12.2e (contact network, threat information, training,\n"
	"sharing skills, special orders) to none.\n"
	"\n"
	"Options:\n"
	"  --kind KIND             12.1a, 12.1b, 12.1c, 12.2a ... 12.2e\n"
	"  --incident ID           the incident (12.1x)\n"
	"  --summary TEXT          what was done\n"
	"  --advice-to ORG         12.1b: another organisation also advised (repeatable)\n"
	"  --participant P         who took part (repeatable)\n"
	"  --from TIME, --until TIME\n"
	"                          when\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat activity --key keys/field-leader --incident \"$REQ\" --kind 12.1a \\\n"
	"      --summary \"Collected logs of the two servers\"\n";

const char cmd_share_help[] =
	"usage: cymat share [OPTIONS] --source ID... --recipient ORG --purpose P\n"
	"\n"
	"NISC (the manager or the director) shares information of records with an\n"
	"organisation (DOMAIN.md §15).  c2/c3 information outside its own incident\n"
	"needs its provider's consent covering it (R15.1), and for 15c the\n"
	"director's approval.\n"
	"\n"
	"Options:\n"
	"  --source ID             a record whose information is shared (repeatable)\n"
	"  --recipient ORG         who receives it\n"
	"  --purpose P             incident (its own incident), 15a (other\n"
	"                          organisations), 15b (normal-time work), 15c (other)\n"
	"  --consent ID            the provider's consent (15a-15c)\n"
	"  --approval ID           15c: the director's approving record\n"
	"  --use TEXT              the use\n"
	"  --acting REASON         the deputy acting for the director (R4.2)\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat share --key keys/manager --source \"$REP\" --recipient mof \\\n"
	"      --purpose 15a --consent \"$CON\" --use \"Similar intrusion at mof\"\n";

const char cmd_council_report_help[] =
	"usage: cymat council-report [OPTIONS] --from TIME --until TIME\n"
	"\n"
	"The director's periodic report to the council (DOMAIN.md §16): its summary\n"
	"is generated from the ledger (R16.1): records that took effect in\n"
	"[from, until) counted per type, incidents opened, dispatched and closed;\n"
	"counts only, no c2/c3 content.\n"
	"\n"
	"Options:\n"
	"  --from TIME, --until TIME\n"
	"                          the period\n"
	"  --published             the summary was published\n"
	"  --acting REASON         the deputy acting for the director (R4.2)\n"
	ACT_COMMON_OPTIONS
	"\n"
	"Example:\n"
	"  cymat council-report --key keys/director --from 2026-04-01T00:00:00Z \\\n"
	"      --until 2026-07-01T00:00:00Z --published\n";

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
	OPT_SEAL, OPT_SEAL_TO,
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

static json_t *member_get(const json_t *body, const char *path)
{
	const char *dot = strchr(path, '.');
	char outer[64];

	if (!dot)
		return json_object_get(body, path);
	snprintf(outer, sizeof(outer), "%.*s", (int)(dot - path), path);
	return json_object_get(json_object_get(body, outer), dot + 1);
}

static int member_present(const json_t *body, const char *path)
{
	return member_get(body, path) != NULL;
}

/*
 * The default of field f (see struct act_field), or NULL when it has none
 * here; `time` is the record's time, set to now when it has none yet.
 */
static const char *field_default(char buf[64], const json_t *body, const struct act_field *f,
                                 const char **time_text, char now_text[21])
{
	const json_t *v;
	const char *s, *slash;

	if (!f->value || f->kind == FIELD_FLAG)
		return f->value;
	if (strcmp(f->value, DEFAULT_TIME) == 0) {
		/* Unless told otherwise, it happened when it is recorded: one time for both. */
		if (!*time_text) {
			ledger_time_format(now_text, (int64_t)time(NULL));
			*time_text = now_text;
		}
		return *time_text;
	}
	if (strncmp(f->value, "@copy:", 6) == 0)
		return json_string_value(member_get(body, f->value + 6));
	if (strncmp(f->value, "@agency:", 8) != 0)
		return f->value;
	v = member_get(body, f->value + 8);
	s = json_string_value(json_is_array(v) ? json_array_get(v, 0) : v);
	if (!s || !(slash = strchr(s, '/')) || slash - s >= 64)
		return NULL;
	snprintf(buf, 64, "%.*s", (int)(slash - s), s);
	return buf;
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
	json_t *body = NULL, *refs = NULL, *confidential = NULL;
	const char **ref_ids = NULL, **seal_to = NULL, *seal_path = NULL;
	const struct act_field *f;
	size_t nfields, nopts, nrefs = 0, nseal_to = 0, i;
	char now_text[21];
	int c, dry_run = 0, rc = CLI_EXIT_INTERNAL;

	for (nfields = 0; act->fields[nfields].option; nfields++)
		;
	options = calloc(nfields + 13, sizeof(*options));
	/* Every option may name one record; enough room for all of them and the incident. */
	ref_ids = calloc((size_t)argc + 1, sizeof(*ref_ids));
	seal_to = calloc((size_t)argc + 1, sizeof(*seal_to));
	body = json_object();
	if (!options || !ref_ids || !seal_to || !body) {
		cli_error("out of memory");
		goto done;
	}
	nopts = 0;
	options[nopts++] = (struct option){ "key", required_argument, NULL, OPT_KEY };
	options[nopts++] = (struct option){ "author", required_argument, NULL, OPT_AUTHOR };
	options[nopts++] = (struct option){ "ref", required_argument, NULL, OPT_REF };
	options[nopts++] = (struct option){ "class", required_argument, NULL, OPT_CLASS };
	options[nopts++] = (struct option){ "time", required_argument, NULL, OPT_TIME };
	options[nopts++] = (struct option){ "seal", required_argument, NULL, OPT_SEAL };
	options[nopts++] = (struct option){ "seal-to", required_argument, NULL, OPT_SEAL_TO };
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
		case OPT_SEAL:
			seal_path = optarg;
			break;
		case OPT_SEAL_TO:
			seal_to[nseal_to++] = optarg;
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
		default:
			if (c < OPT_FIELD || c >= OPT_FIELD + (int)nfields) {
				rc = cli_getopt_default(c, argv);
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
	if (nseal_to && !seal_path) {
		rc = cli_usage_error("--seal-to goes with --seal");
		goto done;
	}
	if (act->incident == INCIDENT_REQUIRED && !rec.incident) {
		rc = cli_usage_error("--incident is required");
		goto done;
	}

	/* Defaults the acts imply. */
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
		const char *name, *value;
		char buf[64];

		f = &act->fields[i];
		if (member_present(body, f->path) ||
		    !(value = field_default(buf, body, f, &rec.time, now_text)))
			continue;
		if (!(parent = member_parent(body, f->path, &name))) {
			cli_error("out of memory");
			goto done;
		}
		if (f->kind == FIELD_FLAG)
			json_object_set_new(parent, name, json_false());
		else
			json_object_set_new(parent, name, json_string(value));
	}
	for (i = 0; i < nfields; i++) {
		f = &act->fields[i];
		if (f->required && !member_present(body, f->path)) {
			rc = cli_usage_error("--%s is required", f->option);
			goto done;
		}
	}
	if (act->complete && (rc = act->complete(body)) != CLI_EXIT_OK)
		goto done;
	rc = CLI_EXIT_INTERNAL;
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
	if (seal_path &&
	    (rc = cli_read_object(&confidential, seal_path, "confidential part")) != CLI_EXIT_OK)
		goto done;
	rec.type = act->type;
	rec.body = body;
	rec.refs = refs;
	rec.confidential = confidential;
	rec.seal_to = seal_to;
	rec.nseal_to = nseal_to;
	rc = cli_append_records(&rec, 1, &opts);
done:
	json_decref(body);
	json_decref(refs);
	json_decref(confidential);
	free(seal_to);
	free(ref_ids);
	free(options);
	return rc;
}

/* R16.1: the summary of the period, as the ledger's rules count it now. */
static int council_summary(json_t *body)
{
	struct cli_policy_view view = { 0 };
	const json_t *period = json_object_get(body, "period");
	const char *from = cli_json_str(period, "from"), *until = cli_json_str(period, "until");
	int64_t t0, t1;
	json_t *summary;
	int rc;

	if (ledger_time_parse(&t0, from) < 0)
		return cli_usage_error("--from wants a time YYYY-MM-DDTHH:MM:SSZ, not \"%s\"", from);
	if (ledger_time_parse(&t1, until) < 0)
		return cli_usage_error("--until wants a time YYYY-MM-DDTHH:MM:SSZ, not \"%s\"", until);
	if ((rc = cli_policy_load(&view)) != CLI_EXIT_OK)
		return rc;
	summary = ledger_policy_council_summary(view.policy, t0, t1);
	cli_policy_view_free(&view);
	if (!summary || json_object_set_new(body, "summary", summary) < 0) {
		cli_error("out of memory");
		return CLI_EXIT_INTERNAL;
	}
	return CLI_EXIT_OK;
}

int cmd_act(int argc, char **argv)
{
	const struct act *act = find_act();

	if (!act) {
		cli_error("no act named \"%s\"", cli_command_name);
		return CLI_EXIT_INTERNAL;
	}
	if (!act->sub)
		return run_act(act, argc, argv);
	/* "cymat agency add ...": the subcommand, then the act's options. */
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		cli_print_help();
		return CLI_EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], act->sub) != 0)
		return cli_usage_error("the subcommand is \"%s\": cymat %s %s [OPTIONS]", act->sub,
		                       act->name, act->sub);
	return run_act(act, argc - 1, argv + 1);
}
