/* cymat principal add: bind a principal to a key pair. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

const char cmd_principal_help[] =
	"usage: cymat principal add [--key FILE] --pub BASE --role ROLE [--role ROLE...]\n"
	"                           [--full-time] [--nisc-resident] [--title TITLE]\n"
	"                           [--name-ja NAME --name-en NAME] [--until TIME]\n"
	"                           [--author PRINCIPAL] [--time TIME] [--json] PRINCIPAL\n"
	"\n"
	"Append a principal record binding PRINCIPAL (AGENCY/NAME) to the Ed25519 key\n"
	"in BASE.pub and the X25519 key in BASE.x25519.pub, with its roles and\n"
	"attributes.  The record is signed with --key (or $CYMAT_KEY); its author is\n"
	"the principal that key is bound to.  Who may bind whom: NISC principals and\n"
	"agency CISOs by the director or a manager; an agency's other principals by a\n"
	"CISO of that agency.  The record is judged against the ledger first and\n"
	"refused, with the findings, when the verifier would reject it.  Prints the\n"
	"record id.\n"
	"\n"
	"Options:\n"
	"  --key FILE          signing key (default $CYMAT_KEY)\n"
	"  --pub BASE          the principal's public keys: BASE.pub, BASE.x25519.pub\n"
	"  --role ROLE         director deputy manager field_leader member trainee ciso\n"
	"                      csirt system_dept node auditor (repeatable)\n"
	"  --full-time         a full-time national public servant (R5.5)\n"
	"  --nisc-resident     resident at NISC\n"
	"  --title TITLE       job title\n"
	"  --name-ja NAME, --name-en NAME   the person's name in Japanese and English\n"
	"  --until TIME        the binding ends at TIME\n"
	"  --author PRINCIPAL  author instead of the key's own principal\n"
	"  --time TIME         record time, YYYY-MM-DDTHH:MM:SSZ (default now)\n"
	"  --json              print {\"id\",\"type\",\"seq\",\"path\",\"commit\"}\n"
	"  -h, --help          show this help\n"
	"\n"
	"Examples:\n"
	"  cymat key generate sato\n"
	"  cymat principal add --key director.key --pub sato --role manager \\\n"
	"        --full-time --nisc-resident nisc/sato\n"
	"  CYMAT_KEY=moj-ciso.key cymat principal add --pub ito --role csirt moj/ito\n";

#define MAX_ROLES 16

int cmd_principal(int argc, char **argv)
{
	static const struct option options[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "pub", required_argument, NULL, 'p' },
		{ "role", required_argument, NULL, 'r' },
		{ "full-time", no_argument, NULL, 'F' },
		{ "nisc-resident", no_argument, NULL, 'N' },
		{ "title", required_argument, NULL, 'T' },
		{ "name-ja", required_argument, NULL, 'J' },
		{ "name-en", required_argument, NULL, 'E' },
		{ "until", required_argument, NULL, 'U' },
		{ "author", required_argument, NULL, 'a' },
		{ "time", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_append_options opts = { 0 };
	struct cli_principal_entry entry;
	struct cli_new_record nr = { 0 };
	const char *roles[MAX_ROLES], *pub = NULL;
	char *base = NULL, *subject = NULL;
	json_t *body = NULL;
	int c, rc;

	memset(&entry, 0, sizeof(entry));
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'k':
			opts.key_path = optarg;
			break;
		case 'p':
			pub = optarg;
			break;
		case 'r':
			if (entry.nroles == MAX_ROLES)
				return cli_usage_error("too many --role options");
			roles[entry.nroles++] = optarg;
			break;
		case 'F':
			entry.full_time = 1;
			break;
		case 'N':
			entry.nisc_resident = 1;
			break;
		case 'T':
			entry.title = optarg;
			break;
		case 'J':
			entry.name_ja = optarg;
			break;
		case 'E':
			entry.name_en = optarg;
			break;
		case 'U':
			entry.until = optarg;
			break;
		case 'a':
			opts.author = optarg;
			break;
		case 't':
			nr.time = optarg;
			break;
		case 'j':
			opts.json = 1;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("missing subcommand");
	if (strcmp(argv[optind], "add") != 0)
		return cli_usage_error("unknown subcommand \"%s\"", argv[optind]);
	if (argc - optind != 2)
		return cli_usage_error("expected one PRINCIPAL");
	if (!pub)
		return cli_usage_error("--pub BASE is required");
	if (entry.nroles == 0)
		return cli_usage_error("at least one --role is required");
	if (!entry.name_ja != !entry.name_en)
		return cli_usage_error("--name-ja and --name-en go together");
	entry.principal = argv[optind + 1];
	entry.roles = roles;

	base = cli_key_base(pub, ".pub");
	if (!base || asprintf(&subject, "bind %s", entry.principal) < 0) {
		cli_error("out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	entry.base = base;
	if ((rc = cli_principal_entry_build(&body, &entry)) != CLI_EXIT_OK)
		goto done;
	nr.type = "principal";
	nr.body = body;
	opts.subject = subject;
	rc = cli_append_records(&nr, 1, &opts);
done:
	json_decref(body);
	free(base);
	free(subject);
	return rc;
}
