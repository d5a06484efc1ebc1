/* cymat findings: every finding of the rules, with its rule id. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

const char cmd_findings_help[] =
	"usage: cymat findings [--rule ID] [--errors] [--json]\n"
	"\n"
	"List what the rules (DOMAIN.md) found in the ledger's valid records, one a\n"
	"line as\n"
	"  SEVERITY RULE CODE ID PATH: MESSAGE\n"
	"error: the record broke the rule and has no effect; warning: a conflict a\n"
	"human should look at (the record took effect); pending: a record waiting\n"
	"for what it names.  Format findings are `cymat verify`'s.\n"
	"\n"
	"Options:\n"
	"  --rule ID    only findings of rule ID (e.g. R10.4)\n"
	"  --errors     only error findings\n"
	"  --json       an array of finding objects (severity, rule, code, message,\n"
	"               id, path)\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 listed (whatever was found); 3 not a ledger.\n"
	"\n"
	"Examples:\n"
	"  cymat -C /srv/cymat/ledger.git findings\n"
	"  cymat findings --rule R10.4 --json\n";

int cmd_findings(int argc, char **argv)
{
	static const struct option options[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "errors", no_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_policy_view view;
	const ledger_report *report;
	const ledger_finding *f;
	const char *rule = NULL;
	json_t *list = NULL;
	size_t i, n, shown = 0;
	int c, errors_only = 0, json = 0, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'r':
			rule = optarg;
			break;
		case 'e':
			errors_only = 1;
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
	list = json_array();
	if (!list) {
		cli_error("out of memory");
		goto done;
	}
	report = ledger_policy_report(view.policy);
	n = ledger_report_count(report);
	for (i = 0; i < n; i++) {
		f = ledger_report_get(report, i);
		if (rule && (!f->rule || strcmp(f->rule, rule) != 0))
			continue;
		if (errors_only && f->severity != LEDGER_SEVERITY_ERROR)
			continue;
		shown++;
		if (json)
			json_array_append_new(list, ledger_finding_json(f));
		else
			cli_print_finding(stdout, f);
	}
	if (json)
		cli_print_json(list, 1);
	else
		printf("%zu finding%s\n", shown, shown == 1 ? "" : "s");
	rc = cli_finish_output();
done:
	json_decref(list);
	cli_policy_view_free(&view);
	return rc;
}
