/* cymat status: the incidents at a glance, as the rules see them. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

const char cmd_status_help[] =
	"usage: cymat status [--all] [--json]\n"
	"\n"
	"List the open incidents (requested, dispatched, reporting, pending), oldest\n"
	"first, as the rules derive them from the valid records: one line each with\n"
	"  ID STATE ROUTE AFFECTED OPENED UPDATED D/R/F\n"
	"(ID shortened to 12 digits; D dispatches, R reports, F findings about the\n"
	"incident's records).  Records refused by the rules have no effect here.\n"
	"\n"
	"Options:\n"
	"  --all        list closed incidents too\n"
	"  --json       an array of incident objects (id, state, basis, route,\n"
	"               requested_by, on_behalf_of, affected, opened, updated,\n"
	"               dispatches, reports, findings, closure, cabinet_emergency)\n"
	"  -h, --help   show this help\n"
	"\n"
	"Examples:\n"
	"  cymat -C /srv/cymat/ledger.git status\n"
	"  cymat status --all --json | python3 -m json.tool\n";

static json_int_t int_member(const json_t *obj, const char *name)
{
	return json_integer_value(json_object_get(obj, name));
}

int cmd_status(int argc, char **argv)
{
	static const struct option options[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_policy_view view;
	json_t *incidents = NULL, *shown = NULL, *inc;
	size_t i;
	int c, all = 0, json = 0, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = 1;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("unexpected argument \"%s\"", argv[optind]);
	if ((rc = cli_policy_load(&view)) != CLI_EXIT_OK)
		goto done;
	rc = CLI_EXIT_INTERNAL;
	incidents = ledger_policy_incidents(view.policy);
	shown = json_array();
	if (!incidents || !shown) {
		cli_error("out of memory");
		goto done;
	}
	json_array_foreach(incidents, i, inc) {
		if (all || strcmp(cli_json_str(inc, "state"), "closed") != 0)
			json_array_append(shown, inc);
	}
	if (json) {
		cli_print_json(shown, 1);
	} else if (json_array_size(shown) == 0) {
		printf(all ? "no incidents\n" : "no open incidents\n");
	} else {
		printf("%-12s  %-10s  %-11s  %-10s  %-20s  %-20s  %s\n", "ID", "STATE", "ROUTE",
		       "AFFECTED", "OPENED", "UPDATED", "D/R/F");
		json_array_foreach(shown, i, inc) {
			cli_print_text("%-12.12s  %-10s  %-11s  %-10s  %-20s  %-20s  %lld/%lld/%lld%s\n",
			       cli_json_str(inc, "id"), cli_json_str(inc, "state"),
			       cli_json_str(inc, "route"), cli_json_str(inc, "affected"),
			       cli_json_str(inc, "opened"), cli_json_str(inc, "updated"),
			       (long long)int_member(inc, "dispatches"),
			       (long long)int_member(inc, "reports"),
			       (long long)int_member(inc, "findings"),
			       json_is_true(json_object_get(inc, "cabinet_emergency")) ?
			       "  CABINET-EMERGENCY" : "");
		}
	}
	rc = cli_finish_output();
done:
	json_decref(incidents);
	json_decref(shown);
	cli_policy_view_free(&view);
	return rc;
}
