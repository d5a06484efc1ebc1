/* cymat log: one line per record, oldest first. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

const char cmd_log_help[] =
	"usage: cymat log [--type TYPE] [--author PRINCIPAL] [--agency AGENCY]\n"
	"                 [--since TIME] [--until TIME] [--json]\n"
	"\n"
	"List the records of the ledger, one a line, ordered by their claimed time\n"
	"(then id): time, type, author, the first 12 digits of the id, a summary, and\n"
	"\"[invalid]\" or \"[pending]\" when the verifier says so.\n"
	"\n"
	"Options:\n"
	"  --type TYPE          only records of this type\n"
	"  --author PRINCIPAL   only records by this principal (AGENCY/NAME)\n"
	"  --agency AGENCY      only records of this agency\n"
	"  --since TIME         only records with time >= TIME (YYYY-MM-DDTHH:MM:SSZ)\n"
	"  --until TIME         only records with time < TIME\n"
	"  --json               one JSON object a line: id, time, type, agency, author,\n"
	"                       kid, seq, summary, status (valid, invalid, pending)\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 listed (invalid and pending records are marked, not\n"
	"refused); 1 a record file could not be parsed (skipped, with a warning);\n"
	"3 not a ledger.\n"
	"\n"
	"Examples:\n"
	"  cymat log --type principal\n"
	"  cymat log --agency moj --since 2026-04-01T00:00:00Z --json | jq .id\n";

struct log_ctx {
	const char *type, *author, *agency;
	int64_t since, until;
	int has_since, has_until;
	ledger_record **recs;
	size_t count, cap;
	size_t unreadable;
};

static int collect(const char *path, const char *data, size_t len, void *payload)
{
	struct log_ctx *ctx = payload;
	ledger_record *rec = NULL, **grown;

	if (ledger_record_parse(&rec, data, len) < 0) {
		cli_error("warning: skipping \"%s\": %s", path, ledger_error_last() ?
		          ledger_error_last()->message : "unreadable");
		ctx->unreadable++;
		return 0;
	}
	if ((ctx->type && strcmp(rec->type, ctx->type) != 0) ||
	    (ctx->author && strcmp(rec->author, ctx->author) != 0) ||
	    (ctx->agency && strcmp(rec->agency, ctx->agency) != 0) ||
	    (ctx->has_since && rec->time_unix < ctx->since) ||
	    (ctx->has_until && rec->time_unix >= ctx->until)) {
		ledger_record_free(rec);
		return 0;
	}
	if (ctx->count == ctx->cap) {
		ctx->cap = ctx->cap ? ctx->cap * 2 : 256;
		grown = realloc(ctx->recs, ctx->cap * sizeof(*grown));
		if (!grown) {
			ledger_record_free(rec);
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		}
		ctx->recs = grown;
	}
	ctx->recs[ctx->count++] = rec;
	return 0;
}

static int by_time(const void *a, const void *b)
{
	const ledger_record *ra = *(ledger_record *const *)a, *rb = *(ledger_record *const *)b;

	if (ra->time_unix != rb->time_unix)
		return ra->time_unix < rb->time_unix ? -1 : 1;
	return strcmp(ra->id, rb->id);
}

/* The worst severity the report gives a record: "invalid", "pending" or "valid". */
static const char *status_of(const ledger_report *report, const char *id)
{
	size_t i, n = report ? ledger_report_count(report) : 0;
	const ledger_finding *f;
	int pending = 0;

	if (!report)
		return "unverified";
	for (i = 0; i < n; i++) {
		f = ledger_report_get(report, i);
		if (strcmp(f->id, id) != 0)
			continue;
		if (f->severity == LEDGER_SEVERITY_ERROR)
			return "invalid";
		if (f->severity == LEDGER_SEVERITY_PENDING)
			pending = 1;
	}
	return pending ? "pending" : "valid";
}

static int parse_time_opt(int64_t *out, const char *text, const char *name)
{
	if (ledger_time_parse(out, text) < 0)
		return cli_usage_error("%s \"%s\": expected YYYY-MM-DDTHH:MM:SSZ", name, text);
	return CLI_EXIT_OK;
}

int cmd_log(int argc, char **argv)
{
	static const struct option options[] = {
		{ "type", required_argument, NULL, 'T' },
		{ "author", required_argument, NULL, 'a' },
		{ "agency", required_argument, NULL, 'A' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	struct log_ctx ctx = { 0 };
	ledger_repo *repo = NULL;
	ledger_state *state = NULL;
	const ledger_report *report = NULL;
	const ledger_record *rec;
	const char *status;
	char *summary;
	json_t *obj;
	size_t i;
	int c, json = 0, error, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'T':
			ctx.type = optarg;
			break;
		case 'a':
			ctx.author = optarg;
			break;
		case 'A':
			ctx.agency = optarg;
			break;
		case 's':
			if ((rc = parse_time_opt(&ctx.since, optarg, "--since")) != CLI_EXIT_OK)
				return rc;
			ctx.has_since = 1;
			break;
		case 'u':
			if ((rc = parse_time_opt(&ctx.until, optarg, "--until")) != CLI_EXIT_OK)
				return rc;
			ctx.has_until = 1;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("unexpected argument \"%s\"", argv[optind]);
	if ((rc = cli_open_repo(&repo)) != CLI_EXIT_OK)
		goto done;
	error = ledger_repo_foreach_record(repo, NULL, collect, &ctx);
	if (error < 0) {
		rc = cli_lib_error(error, "cannot list the records");
		goto done;
	}
	if (ctx.count)
		qsort(ctx.recs, ctx.count, sizeof(*ctx.recs), by_time);
	/* Mark what the verifier rejects; an unverifiable ledger still lists. */
	error = ledger_state_load(&state, repo, &vopts);
	if (error < 0)
		cli_lib_error(error, "warning: cannot verify the ledger");
	else
		report = ledger_state_report(state);

	for (i = 0; i < ctx.count; i++) {
		rec = ctx.recs[i];
		status = status_of(report, rec->id);
		summary = ledger_record_summary(rec);
		if (json) {
			obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s}",
			                "id", rec->id, "time", rec->time, "type", rec->type,
			                "agency", rec->agency, "author", rec->author, "kid", rec->kid,
			                "seq", (json_int_t)rec->seq, "summary", summary ? summary : "",
			                "status", status);
			if (obj)
				cli_print_json(obj, 0);
			json_decref(obj);
		} else {
			int marked = strcmp(status, "valid") != 0;

			/* Any principal writes records: no control character reaches the terminal. */
			cli_print_text("%s %-12s %-20s %.12s %s%s%s%s\n", rec->time, rec->type,
			               rec->author, rec->id, summary ? summary : "",
			               marked ? " [" : "", marked ? status : "", marked ? "]" : "");
		}
		free(summary);
	}
	rc = ctx.unreadable ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
done:
	for (i = 0; i < ctx.count; i++)
		ledger_record_free(ctx.recs[i]);
	free(ctx.recs);
	ledger_state_free(state);
	ledger_repo_free(repo);
	return rc;
}
