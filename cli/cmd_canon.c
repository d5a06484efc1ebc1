/* cymat canon: the RFC 8785 canonical form of any JSON document. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

const char cmd_canon_help[] =
	"usage: cymat canon [FILE|-]\n"
	"\n"
	"Print the RFC 8785 (JCS) canonical form of a JSON document: members sorted,\n"
	"minimal escapes, ECMAScript number formatting, no whitespace and no trailing\n"
	"newline, so the output can be hashed as is.  Reads standard input when FILE\n"
	"is \"-\" or absent.  Any JSON number is accepted here (records themselves\n"
	"allow integers only); duplicate member names and invalid UTF-8 are refused.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 ok; 3 the input is not valid JSON (the message gives the\n"
	"file, line, column and byte position).\n"
	"\n"
	"Examples:\n"
	"  cymat canon body.json | sha256sum\n"
	"  echo '{\"b\":1,\"a\":[1.0,2e3]}' | cymat canon -\n";

int cmd_canon(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	/* Documents, not records: generous limits, any number. */
	ledger_json_limits limits = { LEDGER_JSON_LIMITS_VERSION, 256u << 20, 512,
	                              LEDGER_JSON_ANY_NUMBER };
	const char *path = "-";
	char *buf = NULL, *out = NULL;
	size_t len = 0, out_len = 0;
	json_t *value = NULL;
	int c, error, rc;

	/* Its only option is -h: any option is the help or a usage error. */
	if ((c = getopt_long(argc, argv, "h", options, NULL)) != -1)
		return cli_getopt_default(c, argv);
	if (argc - optind > 1)
		return cli_usage_error("too many arguments");
	if (optind < argc)
		path = argv[optind];

	error = cli_read_file(&buf, &len, path);
	if (error < 0) {
		cli_lib_error(error, NULL);
		rc = error == LEDGER_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_INPUT;
		goto done;
	}
	error = ledger_json_parse(&value, buf, len, &limits);
	if (error < 0) {
		rc = cli_lib_error(error, "\"%s\"", strcmp(path, "-") == 0 ? "<stdin>" : path);
		rc = error == LEDGER_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_INPUT;
		goto done;
	}
	error = ledger_jcs(&out, &out_len, value);
	if (error < 0) {
		rc = cli_lib_error(error, "\"%s\"", strcmp(path, "-") == 0 ? "<stdin>" : path);
		rc = error == LEDGER_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_INPUT;
		goto done;
	}
	if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
		cli_error("cannot write the output");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	rc = CLI_EXIT_OK;
done:
	free(out);
	json_decref(value);
	free(buf);
	return rc;
}
