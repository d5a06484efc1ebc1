/* cymat bundle: carry a ledger by hand, as a git bundle. */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "cli.h"

const char cmd_bundle_help[] =
	"usage: cymat bundle create [--since REV] FILE\n"
	"\n"
	"Carry a ledger where no network reaches, as a git bundle (version 2).\n"
	"\n"
	"create writes the tip of main to FILE: the whole ledger, or with --since\n"
	"only what came after commit REV (the receiving ledger must hold REV).\n"
	"FILE is written beside itself and renamed into place once durable, so it\n"
	"is never half a bundle.  Stock git reads it: `git bundle verify FILE`,\n"
	"`git clone FILE DIR` (then `cymat -C DIR verify`).\n"
	"\n"
	"Options:\n"
	"  --since REV  leave out what commit REV (in main's history) holds\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 written; 2 usage; 3 bad input (REV unknown, not in main,\n"
	"or nothing after it); 5 internal or I/O error.\n"
	"\n"
	"Examples:\n"
	"  cymat -C /srv/cymat/ledger.git bundle create /media/usb/moj.bundle\n"
	"  cymat bundle create --since 4b825dc6 /media/usb/moj-week-48.bundle\n";

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
		case 'h':
			cli_print_help();
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("unknown option \"%s\"", argv[optind - 1]);
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
	printf("bundle \"%s\": %zu commits, %zu objects, %" PRIu64 " bytes; main %s", path,
	       info.commits, info.objects, info.bytes, info.tip);
	if (*info.since)
		printf(", needs %s", info.since);
	putchar('\n');
	rc = cli_finish_output();
done:
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
	return cli_usage_error("unknown subcommand \"%s\"", argv[1]);
}
