/* cymat: the command-line tool of the CYMAT ledger.  Global options and the command table. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

static const struct cli_command commands[] = {
	{ "init", "create a ledger with its root record", cmd_init_help, cmd_init },
	{ "key", "generate a key pair (key generate NAME)", cmd_key_help, cmd_key },
	{ "principal", "bind a principal to a key (principal add)", cmd_principal_help, cmd_principal },
	{ "revoke", "revoke a key", cmd_revoke_help, cmd_revoke },
	{ "append", "append records of any type from JSON bodies", cmd_append_help, cmd_append },
	{ "show", "show a record and its findings", cmd_show_help, cmd_show },
	{ "log", "list records", cmd_log_help, cmd_log },
	{ "verify", "verify the whole ledger", cmd_verify_help, cmd_verify },
	{ "agency", "register a supported organisation (agency add)", cmd_agency_help, cmd_act },
	{ "nominate", "nominate a member candidate", cmd_nominate_help, cmd_act },
	{ "appoint", "appoint the manager, a field leader or a member", cmd_appoint_help, cmd_act },
	{ "trainee", "register a trainee (trainee register)", cmd_trainee_help, cmd_act },
	{ "withdraw", "withdraw a candidate or a trainee", cmd_withdraw_help, cmd_act },
	{ "training", "apply for training or an exercise (training apply)", cmd_training_help,
	  cmd_act },
	{ "participate", "bring a NISC resident into an incident", cmd_participate_help, cmd_act },
	{ "request", "request CYMAT's support (opens an incident)", cmd_request_help, cmd_act },
	{ "dispatch", "dispatch CYMAT to an organisation", cmd_dispatch_help, cmd_act },
	{ "activity", "record an activity of CYMAT", cmd_activity_help, cmd_act },
	{ "report", "file a damage report", cmd_report_help, cmd_act },
	{ "opinion", "a CISO's opinion on ending support", cmd_opinion_help, cmd_act },
	{ "close", "end the support of an incident", cmd_close_help, cmd_act },
	{ "consent", "give or withdraw a consent", cmd_consent_help, cmd_act },
	{ "share", "share information with an organisation", cmd_share_help, cmd_act },
	{ "council-report", "the director's report to the council", cmd_council_report_help,
	  cmd_act },
	{ "status", "open incidents at a glance", cmd_status_help, cmd_status },
	{ "incident", "one incident: timeline, state, findings", cmd_incident_help, cmd_incident },
	{ "roster", "staff per organisation, with quota use", cmd_roster_help, cmd_roster },
	{ "findings", "every finding of the rules, with rule ids", cmd_findings_help, cmd_findings },
	{ "sync", "sync with the remotes now; sync status", cmd_sync_help, cmd_sync },
	{ "canon", "print the RFC 8785 canonical form of JSON", cmd_canon_help, cmd_canon },
	{ "hook", "pre-receive hook of the master ledger (hook install)", cmd_hook_help, cmd_hook },
	{ "bundle", "carry a ledger by hand as a git bundle (create, import)", cmd_bundle_help, cmd_bundle },
};

static void print_main_help(FILE *fp)
{
	size_t i;

	fputs("usage: cymat [-C DIR] COMMAND [OPTIONS] [ARGS]\n"
	      "       cymat help COMMAND\n"
	      "\n"
	      "The CYMAT ledger: signed JSON records in a git repository.\n"
	      "\n"
	      "Global options:\n"
	      "  -C DIR       use the ledger in DIR instead of the current directory\n"
	      "  -h, --help   show this help\n"
	      "  --version    show the version\n"
	      "\n"
	      "Commands:\n", fp);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fputs("\nRun `cymat help COMMAND` for a command's options and examples.\n"
	      "Exit status: 0 ok, 1 errors found or record refused, 2 usage, 3 bad input,\n"
	      "4 ledger busy, 5 internal or I/O error, 6 a remote unreachable, too slow\n"
	      "or too large.\n", fp);
}

const struct cli_command *cli_find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int run_help(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc < 2) {
		print_main_help(stdout);
		return CLI_EXIT_OK;
	}
	cmd = cli_find_command(argv[1]);
	if (!cmd) {
		fprintf(stderr, "cymat help: unknown command \"%s\"\n", argv[1]);
		return CLI_EXIT_USAGE;
	}
	cli_command_name = cmd->name;
	cli_print_help();
	return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_command *cmd;
	int c;

	/* "+": stop at the command name; its options are its own. */
	while ((c = getopt_long(argc, argv, "+C:h", options, NULL)) != -1) {
		switch (c) {
		case 'C':
			cli_ledger_dir = optarg;
			break;
		case 'h':
			print_main_help(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("cymat %s\n", PACKAGE_VERSION);
			return CLI_EXIT_OK;
		default:
			print_main_help(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		print_main_help(stderr);
		return CLI_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "help") == 0)
		return run_help(argc, argv);
	cmd = cli_find_command(argv[0]);
	if (!cmd) {
		fprintf(stderr, "cymat: unknown command \"%s\"; see `cymat --help`\n", argv[0]);
		return CLI_EXIT_USAGE;
	}
	cli_command_name = cmd->name;
	optind = 0; /* let the command's getopt_long start afresh */
	opterr = 0; /* the commands name a bad option themselves */
	return cmd->run(argc, argv);
}
