/*
 * The one path by which commands add records: ledger_append builds, signs
 * and judges each record and appends them all as one signed commit, or
 * nothing; this prints what it did.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ledger.h"
#include "cli.h"

/* Does one of the report's errors come from a rule of the agreement (R2.1 ...)? */
static int by_rules(const ledger_report *report)
{
	for (size_t i = 0; i < ledger_report_count(report); i++) {
		const ledger_finding *f = ledger_report_get(report, i);

		if (f->severity == LEDGER_SEVERITY_ERROR && f->rule && f->rule[0] == 'R')
			return 1;
	}
	return 0;
}

/*
 * Check each given sealed part, and seal each confidential one for its
 * recipients at the record's time (now when none is given: one time for
 * the batch, in now_text).  sealed[i] holds the new sealed objects; the
 * ledger's state, when sealing loaded it, goes to *out_state for the
 * append to judge by.
 */
static int prepare_sealed(ledger_state **out_state, json_t **sealed, ledger_new_record *recs,
                          const struct cli_new_record *records, size_t count,
                          ledger_repo *repo, const ledger_key *key,
                          const struct cli_append_options *opts, char now_text[21])
{
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_state *state = NULL;
	char kid[LEDGER_HEX_ID_LEN + 1];
	const char *author;
	size_t i, nseal = 0;
	int64_t at;
	int error, rc = CLI_EXIT_OK;

	for (i = 0; i < count; i++) {
		if (records[i].confidential) {
			nseal++;
			continue;
		}
		if (!records[i].sealed || opts->no_judge)
			continue;
		if ((error = ledger_seal_check(records[i].sealed)) < 0) {
			cli_lib_error(error, "record %zu (type \"%s\")", i + 1, records[i].type);
			return CLI_EXIT_INPUT;
		}
	}
	if (nseal == 0)
		return CLI_EXIT_OK;
	error = ledger_state_load(&state, repo, &vopts);
	if (error < 0)
		return cli_lib_error(error, "cannot read the ledger's keys");
	*out_state = state;
	cli_key_kid(kid, key);
	ledger_time_format(now_text, (int64_t)time(NULL));
	for (i = 0; i < count; i++) {
		if (!records[i].confidential)
			continue;
		if (!recs[i].time)
			recs[i].time = now_text;
		author = opts->author;
		if (!author && ledger_time_parse(&at, recs[i].time) == 0)
			author = ledger_state_key_principal(state, kid, at);
		if (!author) {
			cli_error("key %s is bound to no principal at %s; bind it first "
			          "(cymat principal add) or give --author", kid, recs[i].time);
			rc = CLI_EXIT_REFUSED;
			break;
		}
		if ((rc = cli_seal_record(&sealed[i], &records[i], recs[i].time, author,
		                          state)) != CLI_EXIT_OK)
			break;
		recs[i].sealed = sealed[i];
	}
	return rc;
}

int cli_append_records(const struct cli_new_record *records, size_t count,
                       const struct cli_append_options *opts)
{
	ledger_append_options aopts = LEDGER_APPEND_OPTIONS_INIT;
	ledger_append_result result = { 0 };
	ledger_new_record *recs = NULL;
	ledger_repo *repo = NULL;
	ledger_key *key = NULL;
	ledger_state *state = NULL;
	json_t **sealed = NULL;
	char path[LEDGER_RECORD_PATH_LEN + 1], now_text[21];
	size_t i;
	int error, rc;

	if (count == 0) {
		cli_error("nothing to append");
		return CLI_EXIT_INPUT;
	}
	if ((rc = cli_load_key(&key, opts->key_path)) != CLI_EXIT_OK)
		goto done;
	if ((rc = cli_open_repo(&repo)) != CLI_EXIT_OK)
		goto done;
	recs = calloc(count, sizeof(*recs));
	sealed = calloc(count, sizeof(*sealed));
	if (!recs || !sealed) {
		cli_error("out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	for (i = 0; i < count; i++) {
		recs[i].type = records[i].type;
		recs[i].body = records[i].body;
		recs[i].refs = records[i].refs;
		recs[i].incident = records[i].incident;
		recs[i].class_ = records[i].class_;
		recs[i].time = records[i].time;
		recs[i].sealed = records[i].sealed;
	}
	if ((rc = prepare_sealed(&state, sealed, recs, records, count, repo, key, opts,
	                         now_text)) != CLI_EXIT_OK)
		goto done;
	aopts.author = opts->author;
	aopts.seq = opts->seq;
	aopts.prev = opts->prev;
	aopts.no_judge = opts->no_judge;
	aopts.subject = opts->subject;
	aopts.state = state;

	error = ledger_append(&result, repo, key, recs, count, &aopts);
	if (error < 0 && result.refused) {
		for (i = 0; result.reports && i < result.count; i++) {
			if (!result.reports[i] ||
			    ledger_report_count_severity(result.reports[i], LEDGER_SEVERITY_ERROR) == 0)
				continue;
			cli_error("record %s (type \"%s\") refused%s:", result.records[i]->id,
			          result.records[i]->type,
			          by_rules(result.reports[i]) ? " by the rules" : "");
			cli_print_report(stderr, result.reports[i], 0);
		}
		if (result.reports)
			cli_lib_error(error, NULL);
		else
			cli_error("%s; bind it first (cymat principal add) or give --author",
			          ledger_error_last() ? ledger_error_last()->message : "key not bound");
		rc = CLI_EXIT_REFUSED;
		goto done;
	}
	if (error < 0) {
		rc = cli_lib_error(error, NULL);
		goto done;
	}
	for (i = 0; result.reports && i < count; i++) {
		if (!result.reports[i] || !ledger_report_count(result.reports[i]))
			continue;
		cli_error("record %s (type \"%s\") appended, with findings:", result.records[i]->id,
		          result.records[i]->type);
		cli_print_report(stderr, result.reports[i], 0);
	}
	for (i = 0; i < count; i++) {
		if (opts->json) {
			json_t *obj;

			ledger_record_path(path, result.records[i]->id);
			obj = json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", result.records[i]->id,
			                "type", result.records[i]->type,
			                "seq", (json_int_t)result.records[i]->seq, "path", path,
			                "commit", result.commit);
			cli_print_json(obj, 0);
			json_decref(obj);
		} else {
			printf("%s\n", result.records[i]->id);
		}
	}
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	rc = CLI_EXIT_OK;
done:
	ledger_append_result_clear(&result);
	for (i = 0; sealed && i < count; i++)
		json_decref(sealed[i]);
	free(sealed);
	free(recs);
	ledger_state_free(state);
	ledger_repo_free(repo);
	ledger_key_free(key);
	return rc;
}
