/* cymat roster: staff per organisation, with the §8 quotas in use. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "ledger.h"
#include "cli.h"

const char cmd_roster_help[] =
	"usage: cymat roster [--json]\n"
	"\n"
	"Show the rosters as of the latest record: for each registered organisation\n"
	"its kind, its candidates and trainees and the quota use (R8.x: at most 4\n"
	"candidates, 4 trainees, 4 in all, where the agreement sets a quota), then\n"
	"the CYMAT staff (manager, field leaders, members).  Records refused by the\n"
	"rules have no effect on the rosters.\n"
	"\n"
	"Options:\n"
	"  --json       one object {\"agencies\": [...], \"cymat\": {...}}\n"
	"  -h, --help   show this help\n"
	"\n"
	"Examples:\n"
	"  cymat -C /srv/cymat/ledger.git roster\n"
	"  cymat roster --json | python3 -m json.tool\n";

static void print_names(const char *label, const json_t *names)
{
	const json_t *v;
	size_t i;

	printf("  %-14s", label);
	if (json_array_size(names) == 0)
		printf(" -");
	json_array_foreach(names, i, v) {
		cli_print_text("%s %s", i ? "," : "", json_is_string(v) ? json_string_value(v) : "?");
	}
	putchar('\n');
}

/* "n/max", or "n" when §8 sets no maximum for this kind. */
static void print_quota(const json_t *quota, const char *used, const char *max)
{
	const json_t *m = json_object_get(quota, max);

	printf("%lld", (long long)json_integer_value(json_object_get(quota, used)));
	if (json_is_integer(m))
		printf("/%lld", (long long)json_integer_value(m));
}

static void print_roster(const json_t *roster)
{
	const json_t *ag, *quota, *cymat, *name;
	size_t i;

	json_array_foreach(json_object_get(roster, "agencies"), i, ag) {
		name = json_object_get(ag, "name");
		cli_print_text("%s (%s", cli_json_str(ag, "id"), cli_json_str(ag, "kind"));
		if (json_is_string(json_object_get(ag, "parent")))
			cli_print_text(", under %s", cli_json_str(ag, "parent"));
		printf(")");
		if (json_is_object(name))
			cli_print_text(" %s", cli_json_str(name, "en"));
		else if (json_is_string(name))
			cli_print_text(" %s", json_string_value(name));
		putchar('\n');
		quota = json_object_get(ag, "quota");
		printf("  quota          candidates ");
		print_quota(quota, "candidates", "candidates_max");
		printf(", trainees ");
		print_quota(quota, "trainees", "trainees_max");
		if (json_is_integer(json_object_get(quota, "total_max")))
			printf(", in all %lld/%lld",
			       (long long)(json_integer_value(json_object_get(quota, "candidates")) +
			                   json_integer_value(json_object_get(quota, "trainees"))),
			       (long long)json_integer_value(json_object_get(quota, "total_max")));
		putchar('\n');
		print_names("candidates", json_object_get(ag, "candidates"));
		print_names("trainees", json_object_get(ag, "trainees"));
	}
	if (json_array_size(json_object_get(roster, "agencies")) == 0)
		printf("no organisations registered\n");
	cymat = json_object_get(roster, "cymat");
	printf("cymat\n");
	print_names("manager", json_object_get(cymat, "manager"));
	print_names("field leaders", json_object_get(cymat, "field_leaders"));
	print_names("members", json_object_get(cymat, "members"));
}

int cmd_roster(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_policy_view view;
	json_t *roster = NULL;
	int c, json = 0, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
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
	roster = ledger_policy_roster(view.policy);
	if (!roster) {
		cli_error("out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	if (json)
		cli_print_json(roster, 1);
	else
		print_roster(roster);
	rc = cli_finish_output();
done:
	json_decref(roster);
	cli_policy_view_free(&view);
	return rc;
}
