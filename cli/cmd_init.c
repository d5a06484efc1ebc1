/* cymat init: a new ledger whose genesis commit holds the root record. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

const char cmd_init_help[] =
	"usage: cymat init --director-key BASE --director NAME\n"
	"                  --deputy-key BASE --deputy NAME\n"
	"                  [--ledger-name NAME] [--time TIME] [--json] [DIR]\n"
	"\n"
	"Create a new ledger: a bare git repository in DIR (default: -C DIR or the\n"
	"current directory; it must be empty or absent) whose genesis commit adds the\n"
	"LEDGER file and the root record.  The root record is self-signed by the\n"
	"director's key and names the director and the deputy director (principals\n"
	"nisc/NAME) with their Ed25519 and X25519 public keys.  The commit is signed\n"
	"by the director's key.  The root id is pinned in the repository's git\n"
	"config (cymat.root) and printed; give it to every node out of band.\n"
	"\n"
	"Options:\n"
	"  --director-key BASE   the director's key from `cymat key generate`: reads\n"
	"                        BASE.key and BASE.x25519.pub\n"
	"  --director NAME       the director's principal name (nisc/NAME)\n"
	"  --deputy-key BASE     the deputy's public keys: reads BASE.pub and\n"
	"                        BASE.x25519.pub (BASE.pub may also be given)\n"
	"  --deputy NAME         the deputy's principal name (nisc/NAME)\n"
	"  --ledger-name NAME    the ledger's name in the root body (default \"cymat\")\n"
	"  --time TIME           the root record's time (default now)\n"
	"  --json                print {\"root\",\"commit\",\"path\"} as JSON\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: 0 created; 1 the root record is refused by its schema; 3 DIR\n"
	"is not empty, or a key file is missing or unreadable.\n"
	"\n"
	"Examples:\n"
	"  cymat key generate director && cymat key generate deputy\n"
	"  cymat init --director-key director --director tanaka \\\n"
	"             --deputy-key deputy.pub --deputy suzuki /srv/cymat/ledger.git\n";

/* "nisc/NAME" from NAME or "nisc/NAME". */
static char *nisc_principal(const char *name)
{
	char *out = NULL;

	if (strncmp(name, "nisc/", 5) == 0)
		return strdup(name);
	if (asprintf(&out, "nisc/%s", name) < 0)
		return NULL;
	return out;
}

/*
 * Refuse a root its schema rejects before anything is written.  Without the
 * schema files the verifier only warns (schemas-unavailable), so do we.
 */
static int validate_schema(const ledger_record *rec)
{
	ledger_schemas *schemas = NULL;
	int error, rc = CLI_EXIT_OK;

	error = ledger_schemas_load(&schemas, NULL);
	if (error < 0) {
		cli_lib_error(error, "warning: root record not checked against its schema");
		return CLI_EXIT_OK;
	}
	error = ledger_schemas_validate(schemas, rec->type, rec->record);
	if (error < 0 && error != LEDGER_ENOTFOUND) {
		cli_lib_error(error, "root record refused by its schema");
		rc = error == LEDGER_EINVALID ? CLI_EXIT_REFUSED : cli_exit_code(error);
	}
	ledger_schemas_free(schemas);
	return rc;
}

int cmd_init(int argc, char **argv)
{
	static const struct option options[] = {
		{ "director-key", required_argument, NULL, 'K' },
		{ "director", required_argument, NULL, 'D' },
		{ "deputy-key", required_argument, NULL, 'k' },
		{ "deputy-key-pub", required_argument, NULL, 'k' },
		{ "deputy", required_argument, NULL, 'd' },
		{ "ledger-name", required_argument, NULL, 'n' },
		{ "time", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *director_key = NULL, *director = NULL, *deputy_key = NULL, *deputy = NULL;
	const char *ledger_name = "cymat", *when = NULL, *dir;
	const char *director_roles[] = { "director" }, *deputy_roles[] = { "deputy" };
	struct cli_principal_entry entry;
	char *director_base = NULL, *deputy_base = NULL, *director_p = NULL, *deputy_p = NULL;
	char *key_path = NULL, *ledger_text = NULL, *envelope = NULL, *message = NULL, *email = NULL;
	char kid[LEDGER_HEX_ID_LEN + 1], path[LEDGER_RECORD_PATH_LEN + 1];
	char commit[LEDGER_OID_HEX_LEN + 1];
	uint8_t pub[32];
	ledger_commit_options copts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_record_fields fields = LEDGER_RECORD_FIELDS_INIT;
	ledger_record *rec = NULL;
	ledger_key *key = NULL;
	ledger_repo *repo = NULL;
	ledger_file files[2];
	json_t *body = NULL, *p = NULL, *lf = NULL;
	size_t ledger_len, envelope_len;
	int c, json = 0, error, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'K':
			director_key = optarg;
			break;
		case 'D':
			director = optarg;
			break;
		case 'k':
			deputy_key = optarg;
			break;
		case 'd':
			deputy = optarg;
			break;
		case 'n':
			ledger_name = optarg;
			break;
		case 't':
			when = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (!director_key || !director || !deputy_key || !deputy)
		return cli_usage_error("--director-key, --director, --deputy-key and --deputy are required");
	if (argc - optind > 1)
		return cli_usage_error("too many arguments");
	dir = optind < argc ? argv[optind] : cli_ledger_dir ? cli_ledger_dir : ".";

	rc = CLI_EXIT_INTERNAL;
	director_base = cli_key_base(director_key, ".key");
	deputy_base = cli_key_base(deputy_key, ".pub");
	director_p = nisc_principal(director);
	deputy_p = nisc_principal(deputy);
	body = json_object();
	if (!director_base || !deputy_base || !director_p || !deputy_p || !body ||
	    asprintf(&key_path, "%s.key", director_base) < 0) {
		cli_error("out of memory");
		goto done;
	}
	if ((rc = cli_load_key(&key, key_path)) != CLI_EXIT_OK)
		goto done;
	ledger_key_public(pub, key);
	ledger_key_id(kid, pub);

	memset(&entry, 0, sizeof(entry));
	entry.principal = director_p;
	entry.base = director_base;
	entry.ed25519 = pub;
	entry.roles = director_roles;
	entry.nroles = 1;
	entry.full_time = 1;
	entry.nisc_resident = 1;
	if ((rc = cli_principal_entry_build(&p, &entry)) != CLI_EXIT_OK)
		goto done;
	json_object_set_new(body, "director", p);
	memset(&entry, 0, sizeof(entry));
	entry.principal = deputy_p;
	entry.base = deputy_base;
	entry.roles = deputy_roles;
	entry.nroles = 1;
	entry.full_time = 1;
	entry.nisc_resident = 1;
	if ((rc = cli_principal_entry_build(&p, &entry)) != CLI_EXIT_OK)
		goto done;
	json_object_set_new(body, "deputy", p);
	json_object_set_new(body, "ledger", json_string(ledger_name));

	fields.type = "root";
	fields.author = director_p;
	fields.seq = 1;
	fields.time = when;
	fields.body = body;
	error = ledger_record_create(&rec, &fields, key);
	if (error < 0) {
		rc = cli_lib_error(error, "cannot build the root record");
		goto done;
	}
	if ((rc = validate_schema(rec)) != CLI_EXIT_OK)
		goto done;

	rc = CLI_EXIT_INTERNAL;
	lf = json_pack("{s:s, s:s}", "format", "cymat-ledger/1", "root", rec->id);
	if (!lf || (error = ledger_jcs(&ledger_text, &ledger_len, lf)) < 0 ||
	    (error = ledger_record_envelope(&envelope, &envelope_len, rec)) < 0) {
		rc = cli_lib_error(LEDGER_ERROR, "cannot serialise the genesis files");
		goto done;
	}
	ledger_record_path(path, rec->id);
	files[0].path = "LEDGER";
	files[0].data = ledger_text;
	files[0].len = ledger_len;
	files[1].path = path;
	files[1].data = envelope;
	files[1].len = envelope_len;
	if (asprintf(&message, "root: create ledger %s\n\nRecord: %s\n", ledger_name, rec->id) < 0 ||
	    asprintf(&email, "%s@cymat.invalid", kid) < 0) {
		cli_error("out of memory");
		goto done;
	}
	copts.message = message;
	copts.name = director_p;
	copts.email = email;
	copts.time = rec->time_unix;
	copts.sign = ledger_key_commit_signer;
	copts.sign_payload = key;
	error = ledger_repo_init(&repo, dir, files, 2, &copts);
	if (error < 0) {
		rc = cli_lib_error(error, "cannot create the ledger in \"%s\"", dir);
		/* An existing directory is the user's mistake, not a busy ledger. */
		if (error == LEDGER_EEXISTS)
			rc = CLI_EXIT_INPUT;
		goto done;
	}
	error = ledger_repo_config_set(repo, "cymat.root", rec->id);
	if (error < 0) {
		rc = cli_lib_error(error, "cannot pin the root in \"%s\"", dir);
		goto done;
	}
	if (ledger_repo_head(commit, repo) < 0)
		commit[0] = '\0';
	if (json) {
		json_t *out = json_pack("{s:s, s:s, s:s}", "root", rec->id, "commit", commit,
		                        "path", path);

		cli_print_json(out, 0);
		json_decref(out);
	} else {
		printf("%s\n", rec->id);
	}
	rc = CLI_EXIT_OK;
done:
	ledger_repo_free(repo);
	ledger_record_free(rec);
	ledger_key_free(key);
	json_decref(body);
	json_decref(lf);
	free(director_base);
	free(deputy_base);
	free(director_p);
	free(deputy_p);
	free(key_path);
	free(ledger_text);
	free(envelope);
	free(message);
	free(email);
	return rc;
}
