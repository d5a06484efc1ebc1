/* cymat incident show: one incident's state, timeline and findings. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

const char cmd_incident_help[] =
	"usage: cymat incident show [--json] ID\n"
	"\n"
	"Show one incident as the rules derive it: its state (requested,\n"
	"dispatched, reporting, closed, pending), basis and route, who requested\n"
	"on whose behalf, the affected organisation, then the timeline (every\n"
	"record of the incident in causal order, with what the rules made of it:\n"
	"valid, invalid or pending) and the findings about its records, as\n"
	"  SEVERITY RULE CODE ID PATH: MESSAGE\n"
	"ID is the incident's id (the opening request's, or an 11.2 dispatch's) or\n"
	"a unique prefix of at least 4 hex digits.\n"
	"\n"
	"Options:\n"
	"  --json       one object: the incident with \"timeline\" and \"findings\"\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 shown; 1 no such incident (or an ambiguous prefix).\n"
	"\n"
	"Examples:\n"
	"  cymat incident show 3f2a9c1b\n"
	"  cymat -C nisc.git incident show --json \"$REQ\"\n";

static void print_field(const char *label, const json_t *inc, const char *name)
{
	const json_t *v = json_object_get(inc, name);

	if (json_is_string(v))
		cli_print_text("%-18s %s\n", label, json_string_value(v));
	else if (json_is_integer(v))
		printf("%-18s %lld\n", label, (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		printf("%-18s %s\n", label, json_is_true(v) ? "yes" : "no");
}

static void print_incident(const json_t *inc)
{
	const json_t *ev, *f;
	size_t i;

	print_field("incident", inc, "id");
	print_field("state", inc, "state");
	print_field("basis", inc, "basis");
	print_field("route", inc, "route");
	print_field("requested by", inc, "requested_by");
	print_field("on behalf of", inc, "on_behalf_of");
	print_field("affected", inc, "affected");
	print_field("opened", inc, "opened");
	print_field("updated", inc, "updated");
	print_field("dispatches", inc, "dispatches");
	print_field("reports", inc, "reports");
	print_field("closure", inc, "closure");
	print_field("cabinet emergency", inc, "cabinet_emergency");

	printf("\ntimeline:\n");
	json_array_foreach(json_object_get(inc, "timeline"), i, ev) {
		cli_print_text("  %-20s  %-14s  %-12.12s  %-22s  %s\n", cli_json_str(ev, "time"),
		       cli_json_str(ev, "type"), cli_json_str(ev, "id"),
		       cli_json_str(ev, "author"), cli_json_str(ev, "status"));
	}
	printf("\nfindings: %zu\n", json_array_size(json_object_get(inc, "findings")));
	json_array_foreach(json_object_get(inc, "findings"), i, f) {
		cli_print_text("  %s %s %s %s %s: %s\n", cli_json_str(f, "severity"),
		       cli_json_str(f, "rule"), cli_json_str(f, "code"), cli_json_str(f, "id"),
		       cli_json_str(f, "path"), cli_json_str(f, "message"));
	}
}

int cmd_incident(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_policy_view view;
	json_t *inc = NULL;
	const char *id;
	int c, json = 0, rc;

	/* "+": stop at the subcommand; its options are parsed after it. */
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("expected a subcommand: show");
	if (strcmp(argv[optind], "show") != 0)
		return cli_usage_error("unknown subcommand \"%s\"", argv[optind]);
	argc -= optind;
	argv += optind;
	optind = 0; /* a new argv: let getopt_long start afresh */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("expected one incident ID");
	id = argv[optind];
	if ((rc = cli_policy_load(&view)) != CLI_EXIT_OK)
		goto done;
	inc = ledger_policy_incident(view.policy, id);
	if (!inc) {
		cli_error("no incident \"%s\" (or the prefix names several)", id);
		rc = CLI_EXIT_REFUSED;
		goto done;
	}
	if (json)
		cli_print_json(inc, 1);
	else
		print_incident(inc);
	rc = cli_finish_output();
done:
	json_decref(inc);
	cli_policy_view_free(&view);
	return rc;
}
