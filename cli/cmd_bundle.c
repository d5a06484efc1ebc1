/* cymat bundle: carry a ledger by hand, as a git bundle. */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "cli.h"

const char cmd_bundle_help[] =
	"usage: cymat bundle create [--since REV] FILE\n"
	"       cymat bundle import [--key FILE] FILE\n"
	"\n"
	"Carry a ledger where no network reaches, as a git bundle (version 2).\n"
	"\n"
	"create writes the tip of main to FILE: the whole ledger, or with --since\n"
	"only what came after commit REV (the receiving ledger must hold REV).\n"
	"FILE is written beside itself and renamed into place once durable, so it\n"
	"is never half a bundle.  Stock git reads it: `git bundle verify FILE`,\n"
	"`git clone FILE DIR` (then `cymat -C DIR verify`).\n"
	"\n"
	"import brings the records of bundle FILE into main, verifying everything\n"
	"before changing anything: the header (version 2, refs/heads/main, every\n"
	"prerequisite in main's history), the pack (indexed in a quarantine under\n"
	"<git dir>/cymat/, its checksum and objects checked), then the union of\n"
	"main and the bundle, as `cymat verify` would.  Any error finding of a\n"
	"FORMAT rule about a record or commit the bundle adds refuses it, with the\n"
	"record id or commit and the rule, as does a commit it adds that is\n"
	"unsigned, signed by a key no root or principal binds or one revoked as\n"
	"compromised, or (unless a merge) whose \"Record: <id>\" trailers do not\n"
	"name exactly the records it adds;\n"
	"the ledger is then left exactly as it was.\n"
	"Otherwise its objects join the ledger's and main moves.  When both main\n"
	"and the bundle have moved on, a merge commit is made, signed with the\n"
	"node's key.  Importing a bundle twice changes nothing the second time.\n"
	"\n"
	"Options:\n"
	"  --since REV  (create) leave out what commit REV (in main's history) holds\n"
	"  --key FILE   (import) the key that signs a merge commit (default:\n"
	"               $CYMAT_KEY); needed only when main has moved on too\n"
	"  -h, --help   show this help\n"
	"\n"
	"Progress is shown when stderr is a terminal.\n"
	"Exit status: 0 written, imported or already up to date; 1 the bundle is\n"
	"refused by verification (findings on stderr); 2 usage; 3 bad input (REV\n"
	"unknown, not in main or nothing after it; not a bundle, damaged,\n"
	"prerequisites missing); 4 ledger busy; 5 internal or I/O error.\n"
	"\n"
	"Examples:\n"
	"  cymat -C /srv/cymat/ledger.git bundle create /media/usb/moj.bundle\n"
	"  cymat bundle create --since 4b825dc6 /media/usb/moj-week-48.bundle\n"
	"  cymat -C /srv/cymat/ledger.git bundle import --key node.key /media/usb/moj.bundle\n";

/* Progress for a person watching (stderr is a terminal), on one line. */
static void progress(const char *stage, uint64_t done, uint64_t total, void *payload)
{
	(void)payload;
	if (total)
		fprintf(stderr, "\r%s: %" PRIu64 "/%" PRIu64 " (%" PRIu64 "%%)   ", stage, done,
		        total, done * 100 / total);
	else
		fprintf(stderr, "\r%s: %" PRIu64 " KiB   ", stage, done / 1024);
	if (total && done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

static int bundle_create(int argc, char **argv)
{
	static const struct option options[] = {
		{ "since", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	ledger_bundle_create_options opts = LEDGER_BUNDLE_CREATE_OPTIONS_INIT;
	ledger_bundle_info info;
	ledger_repo *repo = NULL;
	const char *path;
	int c, error, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			opts.since = optarg;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("expected one FILE");
	path = argv[optind];
	if ((rc = cli_open_repo(&repo)) != CLI_EXIT_OK)
		return rc;
	if (isatty(STDERR_FILENO))
		opts.progress = progress;
	error = ledger_bundle_create(&info, repo, path, &opts);
	if (error < 0) {
		rc = cli_lib_error(error, "bundle \"%s\"", path);
		goto done;
	}
	printf("bundle \"%s\": %zu commit%s, %zu object%s, %" PRIu64 " byte%s; main %s", path,
	       info.commits, info.commits == 1 ? "" : "s", info.objects,
	       info.objects == 1 ? "" : "s", info.bytes, info.bytes == 1 ? "" : "s", info.tip);
	if (*info.since)
		printf(", needs %s", info.since);
	putchar('\n');
	rc = cli_finish_output();
done:
	ledger_repo_free(repo);
	return rc;
}

/*
 * The merge commit's options when a key is given: the principal the key
 * is bound to now names the commit, as an append does.
 */
static int merge_options(ledger_commit_options *copts, ledger_key **key, char **email,
                         ledger_repo *repo, const char *key_path)
{
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_state *state = NULL;
	char kid[LEDGER_HEX_ID_LEN + 1];
	const char *principal;
	int error, rc;

	if ((rc = cli_load_key(key, key_path)) != CLI_EXIT_OK)
		return rc;
	cli_key_kid(kid, *key);
	error = ledger_state_load(&state, repo, &vopts);
	if (error < 0)
		return cli_lib_error(error, "cannot verify the ledger");
	principal = ledger_state_key_principal(state, kid, (int64_t)time(NULL));
	if (!principal) {
		cli_error("key %s is not bound to any principal; bind it first "
		          "(cymat principal add --role node)", kid);
		rc = CLI_EXIT_REFUSED;
		goto done;
	}
	if (asprintf(email, "%s@cymat.invalid", kid) < 0 || !(copts->name = strdup(principal))) {
		cli_error("out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	copts->email = *email;
	copts->sign = ledger_key_commit_signer;
	copts->sign_payload = *key;
	rc = CLI_EXIT_OK;
done:
	ledger_state_free(state);
	return rc;
}

static int bundle_import(int argc, char **argv)
{
	static const struct option options[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	ledger_bundle_import_options opts = LEDGER_BUNDLE_IMPORT_OPTIONS_INIT;
	ledger_commit_options copts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_bundle_import_result result = { 0 };
	const char *path, *key_path = NULL;
	ledger_repo *repo = NULL;
	ledger_key *key = NULL;
	char *email = NULL;
	int c, error, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("expected one FILE");
	path = argv[optind];
	if ((rc = cli_open_repo(&repo)) != CLI_EXIT_OK)
		return rc;
	if (key_path || getenv("CYMAT_KEY")) {
		rc = merge_options(&copts, &key, &email, repo, key_path);
		if (rc != CLI_EXIT_OK)
			goto done;
		opts.merge = &copts;
	}
	if (isatty(STDERR_FILENO))
		opts.progress = progress;
	error = ledger_bundle_import(&result, repo, path, &opts);
	if (error < 0) {
		rc = cli_lib_error(error, NULL);
		if (result.refused) {
			cli_print_report(stderr, result.refused, 0);
			rc = CLI_EXIT_REFUSED;
		}
		goto done;
	}
	if (result.up_to_date)
		printf("bundle \"%s\": already up to date; main %s\n", path, result.after);
	else
		printf("bundle \"%s\": %zu new record%s; main %s..%s\n", path, result.new_records,
		       result.new_records == 1 ? "" : "s", result.before, result.after);
	rc = cli_finish_output();
done:
	ledger_bundle_import_result_clear(&result);
	free((char *)copts.name);
	free(email);
	ledger_key_free(key);
	ledger_repo_free(repo);
	return rc;
}

int cmd_bundle(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("missing subcommand");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		cli_print_help();
		return CLI_EXIT_OK;
	}
	/* The subcommand's options follow it: parse from there. */
	optind = 0;
	if (strcmp(argv[1], "create") == 0)
		return bundle_create(argc - 1, argv + 1);
	if (strcmp(argv[1], "import") == 0)
		return bundle_import(argc - 1, argv + 1);
	return cli_usage_error("unknown subcommand \"%s\"", argv[1]);
}
