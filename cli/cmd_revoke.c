/* cymat revoke: end a key's validity. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "cli.h"

const char cmd_revoke_help[] =
	"usage: cymat revoke [--key FILE] --reason retired|compromised [--effective TIME]\n"
	"                    [--last-good-seq N] [--note TEXT] [--author PRINCIPAL]\n"
	"                    [--time TIME] [--json] KID|PUBFILE\n"
	"\n"
	"Append a revocation record for the key KID (64 hex digits), or for the key\n"
	"in PUBFILE (BASE.pub, or just BASE).  The key stops being valid at\n"
	"--effective (default: the record's time).  For reason \"compromised\" every\n"
	"record of the key after --last-good-seq is invalid as well, whatever time it\n"
	"claims.  A key may be revoked by itself, by the principal who bound it, or by\n"
	"the director or a manager.  The record is judged first and refused when the\n"
	"verifier would reject it.  Prints the record id.\n"
	"\n"
	"Options:\n"
	"  --key FILE           signing key (default $CYMAT_KEY)\n"
	"  --reason REASON      retired or compromised\n"
	"  --effective TIME     YYYY-MM-DDTHH:MM:SSZ the revocation takes effect\n"
	"  --last-good-seq N    compromised only: the key's last trusted seq\n"
	"  --note TEXT          free text\n"
	"  --author PRINCIPAL   author instead of the key's own principal\n"
	"  --time TIME          record time (default now)\n"
	"  --json               print the new record as JSON\n"
	"  -h, --help           show this help\n"
	"\n"
	"Examples:\n"
	"  cymat revoke --key director.key --reason retired sato.pub\n"
	"  cymat revoke --key director.key --reason compromised --last-good-seq 12 \\\n"
	"        --note 'laptop stolen' 3f1c...e9\n";

static int is_kid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == LEDGER_HEX_ID_LEN;
}

int cmd_revoke(int argc, char **argv)
{
	static const struct option options[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "reason", required_argument, NULL, 'r' },
		{ "effective", required_argument, NULL, 'e' },
		{ "last-good-seq", required_argument, NULL, 'l' },
		{ "note", required_argument, NULL, 'n' },
		{ "author", required_argument, NULL, 'a' },
		{ "time", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_append_options opts = { 0 };
	struct cli_new_record nr = { 0 };
	const char *reason = NULL, *effective = NULL, *note = NULL, *target;
	char kid[LEDGER_HEX_ID_LEN + 1], now_text[21], pub_path[4096];
	long long last_good = -1;
	uint8_t pub[32];
	json_t *body = NULL;
	char *end;
	int64_t t;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'k':
			opts.key_path = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'e':
			effective = optarg;
			break;
		case 'l':
			last_good = strtoll(optarg, &end, 10);
			if (!*optarg || *end || last_good < 0)
				return cli_usage_error("--last-good-seq wants an integer >= 0");
			break;
		case 'n':
			note = optarg;
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
	if (argc - optind != 1)
		return cli_usage_error("expected one KID");
	if (!reason || (strcmp(reason, "retired") != 0 && strcmp(reason, "compromised") != 0))
		return cli_usage_error("--reason must be retired or compromised");
	if (last_good >= 0 && strcmp(reason, "compromised") != 0)
		return cli_usage_error("--last-good-seq applies to reason compromised only");
	target = argv[optind];
	/* The base name given to `cymat key generate` names its BASE.pub. */
	if (!is_kid(target) && access(target, F_OK) != 0 &&
	    snprintf(pub_path, sizeof(pub_path), "%s.pub", target) < (int)sizeof(pub_path) &&
	    access(pub_path, F_OK) == 0)
		target = pub_path;
	if (is_kid(target)) {
		memcpy(kid, target, sizeof(kid));
	} else if (access(target, F_OK) == 0) {
		if ((rc = cli_read_public(pub, target)) != CLI_EXIT_OK)
			return rc;
		ledger_key_id(kid, pub);
	} else {
		return cli_usage_error("\"%s\" is neither a key id (64 lowercase hex) nor a public key file",
		                       target);
	}
	if (effective && ledger_time_parse(&t, effective) < 0)
		return cli_usage_error("--effective \"%s\": expected YYYY-MM-DDTHH:MM:SSZ", effective);
	if (!nr.time) {
		/* Fix "now" here so that effective and the record's time agree. */
		ledger_time_format(now_text, (int64_t)time(NULL));
		nr.time = now_text;
	}

	body = json_pack("{s:s, s:s, s:s}", "kid", kid, "reason", reason,
	                 "effective", effective ? effective : nr.time);
	if (!body) {
		cli_error("out of memory");
		return CLI_EXIT_INTERNAL;
	}
	if (last_good >= 0)
		json_object_set_new(body, "last_good_seq", json_integer(last_good));
	if (note)
		json_object_set_new(body, "note", json_string(note));
	nr.type = "revocation";
	nr.body = body;
	rc = cli_append_records(&nr, 1, &opts);
	json_decref(body);
	return rc;
}
