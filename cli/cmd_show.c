/* cymat show: one record, its file bytes and what the verifier says of it. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

const char cmd_show_help[] =
	"usage: cymat show [--raw | --json] [--commit REV] ID\n"
	"       cymat show --unseal --key KEY [--json] [--commit REV] ID\n"
	"\n"
	"Show the record ID (its full id, or a unique prefix of at least 4 hex\n"
	"digits): the envelope as indented JSON, then the verifier's findings about\n"
	"it, one a line (\"valid\" when there are none).  --raw prints the record\n"
	"file's exact bytes instead (its SHA-256 is not the id: the id hashes the\n"
	"inner record only; see `cymat canon`).\n"
	"\n"
	"--unseal opens the record's sealed part (a c2 or c3 record's confidential\n"
	"part, docs/FORMAT.md \"Sealed content\") and prints the confidential object\n"
	"instead, with the X25519 key KEY.x25519.key that `cymat key generate` wrote\n"
	"beside the signing key KEY.key (whose key id names the recipient entry).\n"
	"\n"
	"Options:\n"
	"  --raw          the exact bytes of the record file, nothing else\n"
	"  --json         {\"id\",\"path\",\"record\",\"sig\",\"findings\":[...]} as one line\n"
	"  --commit REV   read the record as of REV instead of the tip of main\n"
	"  --unseal       print the record's confidential part, opened with --key\n"
	"  --key KEY      with --unseal: the key base name (KEY, KEY.key or\n"
	"                 KEY.x25519.key; default $CYMAT_KEY)\n"
	"  -h, --help     show this help\n"
	"\n"
	"Exit status: 0 shown; 1 shown, and the verifier reports an error for it;\n"
	"3 no such record, or the prefix is ambiguous.  With --unseal: 0 opened;\n"
	"1 the sealed part is malformed or does not open (tampered); 3 the record has\n"
	"no sealed part, or KEY is not one of its recipients.\n"
	"\n"
	"Examples:\n"
	"  cymat show 3f1c\n"
	"  cymat show --unseal --key keys/nisc-director 3f1c\n"
	"  cymat show --raw 3f1c... | cymat canon - | cmp - <(cymat show --raw 3f1c...)\n";

struct prefix_match {
	const char *prefix;
	size_t len;
	size_t found;
	char id[LEDGER_HEX_ID_LEN + 1];
};

static int match_prefix(const char *path, const char *data, size_t len, void *payload)
{
	struct prefix_match *m = payload;
	char id[LEDGER_HEX_ID_LEN + 1];

	(void)data;
	(void)len;
	if (ledger_record_path_id(id, path) < 0)
		return 0;
	if (strncmp(id, m->prefix, m->len) == 0) {
		if (m->found == 0 || strcmp(m->id, id) != 0)
			m->found++;
		memcpy(m->id, id, sizeof(m->id));
	}
	return 0;
}

/* Open the sealed part of record `id` (file data) with the keys at `key_path`. */
static int unseal(const char *id, const char *data, size_t len, const char *key_path,
                  int json)
{
	ledger_record *rec = NULL;
	ledger_key *ed = NULL, *x = NULL;
	json_t *sealed, *plain = NULL;
	char kid[LEDGER_HEX_ID_LEN + 1], *base = NULL, *x_path = NULL;
	int error, rc;

	if (!key_path || !*key_path)
		key_path = getenv("CYMAT_KEY");
	if (!key_path || !*key_path)
		return cli_usage_error("--unseal needs --key KEY (or CYMAT_KEY)");
	/* KEY, KEY.key and KEY.x25519.key all name the pair KEY.key, KEY.x25519.key. */
	base = cli_key_base(key_path, ".x25519.key");
	if (base && strcmp(base, key_path) == 0) {
		free(base);
		base = cli_key_base(key_path, ".key");
	}
	if (!base || asprintf(&x_path, "%s.x25519.key", base) < 0) {
		x_path = NULL;
		cli_error("out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	if ((rc = cli_load_key(&ed, base)) != CLI_EXIT_OK)
		goto done;
	cli_key_kid(kid, ed);
	error = ledger_key_load(&x, x_path);
	if (error < 0 || ledger_key_type_of(x) != LEDGER_KEY_X25519) {
		if (error < 0)
			cli_lib_error(error, "cannot load the X25519 key \"%s\"", x_path);
		else
			cli_error("key \"%s\": not an X25519 key", x_path);
		rc = error == LEDGER_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_INPUT;
		goto done;
	}
	error = ledger_record_parse(&rec, data, len);
	if (error < 0) {
		rc = cli_lib_error(error, "record %s", id);
		goto done;
	}
	sealed = json_object_get(rec->record, "sealed");
	if (!sealed) {
		cli_error("record %s has no sealed part", id);
		rc = CLI_EXIT_INPUT;
		goto done;
	}
	error = ledger_unseal(&plain, sealed, kid, x);
	if (error == LEDGER_ENOTFOUND) {
		cli_error("record %s is not sealed for key \"%s\" (kid %s): it is sealed for "
		          "%zu other keys", id, base, kid,
		          json_array_size(json_object_get(sealed, "recipients")));
		rc = CLI_EXIT_INPUT;
		goto done;
	}
	if (error < 0) {
		cli_lib_error(error, "record %s", id);
		rc = error == LEDGER_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_REFUSED;
		goto done;
	}
	cli_print_json(plain, !json);
	rc = cli_finish_output();
done:
	json_decref(plain);
	ledger_record_free(rec);
	ledger_key_free(x);
	ledger_key_free(ed);
	free(x_path);
	free(base);
	return rc;
}

static int valid_prefix(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i >= 4 && i <= LEDGER_HEX_ID_LEN;
}

int cmd_show(int argc, char **argv)
{
	static const struct option options[] = {
		{ "raw", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "commit", required_argument, NULL, 'c' },
		{ "unseal", no_argument, NULL, 'u' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	struct prefix_match m = { 0 };
	char path[LEDGER_RECORD_PATH_LEN + 1], commit[LEDGER_OID_HEX_LEN + 1];
	const char *rev = NULL, *key_path = NULL;
	ledger_repo *repo = NULL;
	ledger_state *state = NULL;
	ledger_record *rec = NULL;
	const ledger_report *report = NULL;
	const ledger_finding *f;
	json_t *out = NULL, *findings = NULL, *env = NULL;
	char *data = NULL;
	size_t len = 0, i, n, errors = 0, shown = 0;
	int c, raw = 0, json = 0, unseal_it = 0, error, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'r':
			raw = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'c':
			rev = optarg;
			break;
		case 'u':
			unseal_it = 1;
			break;
		case 'k':
			key_path = optarg;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("expected one record ID");
	if (raw && (json || unseal_it))
		return cli_usage_error("--raw excludes --json and --unseal");
	if (key_path && !unseal_it)
		return cli_usage_error("--key goes with --unseal");
	m.prefix = argv[optind];
	m.len = strlen(m.prefix);
	if (!valid_prefix(m.prefix))
		return cli_usage_error("\"%s\" is not a record id or a prefix of at least 4 "
		                       "lowercase hex digits", m.prefix);
	if ((rc = cli_open_repo(&repo)) != CLI_EXIT_OK)
		goto done;
	if (rev) {
		error = ledger_repo_resolve(commit, repo, rev);
		if (error < 0) {
			rc = cli_lib_error(error, "revision \"%s\"", rev);
			goto done;
		}
		rev = commit;
	}
	if (m.len == LEDGER_HEX_ID_LEN) {
		memcpy(m.id, m.prefix, sizeof(m.id));
	} else {
		error = ledger_repo_foreach_record(repo, rev, match_prefix, &m);
		if (error < 0) {
			rc = cli_lib_error(error, "cannot list the records");
			goto done;
		}
		if (m.found != 1) {
			if (m.found)
				cli_error("record prefix \"%s\" is ambiguous (%zu records)",
				          m.prefix, m.found);
			else
				cli_error("no record with id \"%s\"", m.prefix);
			rc = CLI_EXIT_INPUT;
			goto done;
		}
	}
	ledger_record_path(path, m.id);
	error = ledger_repo_read(&data, &len, repo, rev, path);
	if (error < 0) {
		if (error == LEDGER_ENOTFOUND)
			cli_error("no record with id \"%s\"", m.id);
		else
			cli_lib_error(error, "record %s", m.id);
		rc = cli_exit_code(error);
		goto done;
	}
	if (unseal_it) {
		rc = unseal(m.id, data, len, key_path, json);
		goto done;
	}
	if (raw) {
		fwrite(data, 1, len, stdout);
		rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
		goto done;
	}

	/* The findings about this record; a ledger that cannot be loaded still shows its file. */
	error = ledger_state_load(&state, repo, &vopts);
	if (error < 0)
		cli_lib_error(error, "warning: cannot verify the ledger");
	else
		report = ledger_state_report(state);
	findings = json_array();
	n = report ? ledger_report_count(report) : 0;
	for (i = 0; i < n; i++) {
		f = ledger_report_get(report, i);
		if (strcmp(f->id, m.id) != 0)
			continue;
		if (f->severity == LEDGER_SEVERITY_ERROR)
			errors++;
		json_array_append_new(findings, ledger_finding_json(f));
	}

	error = ledger_record_parse(&rec, data, len);
	if (error < 0) {
		/* Show what is there: the file may be exactly what is wrong. */
		cli_lib_error(error, "record file \"%s\"", path);
		env = json_loadb(data, len, 0, NULL);
		errors++;
	} else {
		char *sig = NULL;

		ledger_base64_encode(&sig, rec->sig, sizeof(rec->sig));
		env = json_pack("{s:O, s:s}", "record", rec->record, "sig", sig ? sig : "");
		free(sig);
	}

	if (json) {
		out = json_is_object(env) ? json_deep_copy(env) : json_object();
		if (out) {
			json_object_set_new(out, "id", json_string(m.id));
			json_object_set_new(out, "path", json_string(path));
			json_object_set(out, "findings", findings);
			cli_print_json(out, 0);
		}
	} else {
		if (env) {
			cli_print_json(env, 1);
		} else {
			fwrite(data, 1, len, stdout);
			fputc('\n', stdout);
		}
		for (i = 0; i < n; i++) {
			f = ledger_report_get(report, i);
			if (strcmp(f->id, m.id) != 0)
				continue;
			cli_print_finding(stdout, f);
			shown++;
		}
		if (!shown)
			puts(report ? (errors ? "invalid" : "valid") : "not verified");
	}
	rc = errors ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
done:
	json_decref(out);
	json_decref(findings);
	json_decref(env);
	ledger_record_free(rec);
	ledger_state_free(state);
	ledger_repo_free(repo);
	free(data);
	return rc;
}
