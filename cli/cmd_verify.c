/* cymat verify: check the whole ledger against the format and the rules. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "cli.h"

const char cmd_verify_help[] =
	"usage: cymat verify [--since REV] [--no-cache] [--root ID] [--threads N]\n"
	"                    [--json | --quiet]\n"
	"\n"
	"Verify the ledger at the tip of main: every record file (canonical form,\n"
	"path, signature, key bound to the author at the record's time, schema,\n"
	"chains, equivocation, revocations) and every commit (adds record files\n"
	"only, never changes or deletes one; merges are unions).  Prints each\n"
	"finding as\n"
	"  SEVERITY RULE CODE ID PATH: MESSAGE\n"
	"(ID is the record id, or the commit for history findings; \"-\" when none)\n"
	"and a summary line.  What a previous run verified is cached in the\n"
	"repository (cymat/verified) and not checked again.\n"
	"\n"
	"Options:\n"
	"  --since REV     trust the ledger up to commit REV; check what came after\n"
	"  --no-cache      ignore and do not update the verification cache\n"
	"  --root ID       the pinned root record id (default: git config cymat.root)\n"
	"  --threads N     verification threads (default: one per core)\n"
	"  --json          findings as JSON lines, then a summary object\n"
	"  -q, --quiet     print nothing; the exit status tells\n"
	"  -h, --help      show this help\n"
	"\n"
	"Exit status: 0 no errors (warnings and pending records allowed); 1 at least\n"
	"one error finding; 3 not a ledger; 5 internal or I/O error.\n"
	"\n"
	"Examples:\n"
	"  cymat -C /srv/cymat/ledger.git verify\n"
	"  git clone /srv/cymat/ledger.git audit && cymat -C audit verify --no-cache\n";

/*
 * The verified state, left to the process's exit: at 100,000 records it is
 * some 300,000 allocations (each record's path, author and references),
 * and freeing them one by one took 26-32 ms on one core after the
 * verification, the last serial stretch of `verify` before it exits.  Kept
 * reachable from here, so leak checkers see it as still in use (volatile:
 * a store the program never reads back would otherwise be optimised away).
 */
static ledger_state *volatile state_until_exit;

static void progress(size_t done, size_t total, void *payload)
{
	(void)payload;
	if (total == 0)
		fprintf(stderr, "\rreading records: %zu", done);
	else
		fprintf(stderr, "\rchecking signatures: %zu/%zu (%zu%%)   ", done, total,
		        done * 100 / total);
	if (total && done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option options[] = {
		{ "since", required_argument, NULL, 's' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "root", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	char since[LEDGER_OID_HEX_LEN + 1];
	const char *since_rev = NULL;
	ledger_repo *repo = NULL;
	ledger_state *state = NULL;
	const ledger_report *report;
	const ledger_report_stats *stats;
	size_t errors, warnings;
	json_t *summary;
	long threads;
	char *end;
	int c, json = 0, quiet = 0, error, rc;

	while ((c = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
		switch (c) {
		case 's':
			since_rev = optarg;
			break;
		case 'n':
			vopts.use_cache = 0;
			break;
		case 'r':
			vopts.root = optarg;
			break;
		case 't':
			threads = strtol(optarg, &end, 10);
			if (!*optarg || *end || threads < 0 || threads > 1024)
				return cli_usage_error("--threads wants an integer from 0 to 1024");
			vopts.threads = (unsigned int)threads;
			break;
		case 'j':
			json = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("unexpected argument \"%s\"", argv[optind]);
	if (json && quiet)
		return cli_usage_error("--json and --quiet exclude each other");
	if ((rc = cli_open_repo(&repo)) != CLI_EXIT_OK)
		goto done;
	if (since_rev) {
		error = ledger_repo_resolve(since, repo, since_rev);
		if (error < 0) {
			rc = cli_lib_error(error, "--since \"%s\"", since_rev);
			rc = rc == CLI_EXIT_INTERNAL ? CLI_EXIT_INPUT : rc;
			goto done;
		}
		vopts.since = since;
	}
	/* Progress only for a person watching: never in pipes, logs or JSON. */
	if (!json && !quiet && isatty(STDERR_FILENO))
		vopts.progress = progress;
	error = ledger_state_load(&state, repo, &vopts);
	if (error < 0) {
		rc = cli_lib_error(error, "cannot verify the ledger");
		goto done;
	}
	report = ledger_state_report(state);
	stats = ledger_report_stats_of(report);
	errors = ledger_report_count_severity(report, LEDGER_SEVERITY_ERROR);
	warnings = ledger_report_count_severity(report, LEDGER_SEVERITY_WARNING);
	if (json) {
		cli_print_report(stdout, report, 1);
		summary = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
		                    "summary", "verify",
		                    "records", (json_int_t)stats->records,
		                    "valid", (json_int_t)stats->valid,
		                    "invalid", (json_int_t)stats->invalid,
		                    "pending", (json_int_t)stats->pending,
		                    "checked", (json_int_t)stats->checked,
		                    "commits", (json_int_t)stats->commits,
		                    "errors", (json_int_t)errors,
		                    "warnings", (json_int_t)warnings,
		                    "tip", stats->tip, "root", stats->root);
		if (summary)
			cli_print_json(summary, 0);
		json_decref(summary);
	} else if (!quiet) {
		cli_print_report(stdout, report, 0);
		printf("verified %zu record%s (%zu new commit%s): %zu valid, %zu invalid, "
		       "%zu pending\n", stats->records, stats->records == 1 ? "" : "s",
		       stats->commits, stats->commits == 1 ? "" : "s", stats->valid,
		       stats->invalid, stats->pending);
	}
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	rc = errors ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
done:
	state_until_exit = state;
	ledger_repo_free(repo);
	return rc;
}
