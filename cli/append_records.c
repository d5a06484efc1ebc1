/*
 * The one path by which commands add records: build and sign each record,
 * judge it against the ledger's state as the verifier would, and append
 * them all as one signed commit, or nothing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "cli.h"

/* How long to wait for another cymat appending to the same ledger. */
#define APPEND_LOCK_WAIT_MS 120000

/*
 * Serialise appenders of this ledger from reading the chain tip to moving
 * the ref: otherwise two processes signing with the same key would both
 * take the same seq, an equivocation.  flock(2) is dropped by the kernel
 * when a holder dies, so a killed appender never blocks the next one.
 */
static int append_lock(int *out_fd, ledger_repo *repo)
{
	const char *state_dir;
	char *path = NULL;
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	int fd = -1, waited = 0, error, rc;

	error = ledger_repo_state_dir(&state_dir, repo);
	if (error < 0)
		return cli_lib_error(error, "cannot open the ledger's state directory");
	if (asprintf(&path, "%s/append.lock", state_dir) < 0) {
		cli_error("out of memory");
		return CLI_EXIT_INTERNAL;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		cli_error("cannot open \"%s\": %s", path, strerror(errno));
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			cli_error("cannot lock \"%s\": %s", path, strerror(errno));
			rc = CLI_EXIT_INTERNAL;
			goto done;
		}
		if (waited >= APPEND_LOCK_WAIT_MS) {
			cli_error("ledger busy: another cymat holds \"%s\"", path);
			rc = CLI_EXIT_BUSY;
			goto done;
		}
		nanosleep(&pause, NULL);
		waited += 50;
	}
	*out_fd = fd;
	fd = -1;
	rc = CLI_EXIT_OK;
done:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* "<type>: <summary>" for one type, "batch: <n> records" for several. */
static char *commit_message(ledger_record *const *recs, size_t count, const char *subject)
{
	char *summary = NULL, *msg = NULL, *grown;
	size_t i, len;
	int same = 1;

	for (i = 1; i < count; i++)
		if (strcmp(recs[i]->type, recs[0]->type) != 0)
			same = 0;
	if (!same) {
		if (asprintf(&msg, "batch: %zu records\n\n", count) < 0)
			return NULL;
	} else {
		if (subject)
			summary = strdup(subject);
		else if (count == 1)
			summary = cli_record_summary(recs[0]);
		else if (asprintf(&summary, "%zu records", count) < 0)
			summary = NULL;
		if (!summary)
			return NULL;
		if (asprintf(&msg, "%s: %s\n\n", recs[0]->type, summary) < 0)
			msg = NULL;
		free(summary);
		if (!msg)
			return NULL;
	}
	for (i = 0; i < count; i++) {
		len = strlen(msg);
		grown = realloc(msg, len + sizeof("Record: \n") + LEDGER_HEX_ID_LEN);
		if (!grown) {
			free(msg);
			return NULL;
		}
		msg = grown;
		snprintf(msg + len, sizeof("Record: \n") + LEDGER_HEX_ID_LEN, "Record: %s\n",
		         recs[i]->id);
	}
	return msg;
}

int cli_append_records(const struct cli_new_record *records, size_t count,
                       const struct cli_append_options *opts)
{
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_commit_options copts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_repo *repo = NULL;
	ledger_state *state = NULL;
	ledger_key *key = NULL;
	ledger_record **recs = NULL;
	ledger_file *files = NULL;
	char (*paths)[LEDGER_RECORD_PATH_LEN + 1] = NULL;
	char kid[LEDGER_HEX_ID_LEN + 1], prev[LEDGER_HEX_ID_LEN + 1];
	char now_text[21], commit[LEDGER_OID_HEX_LEN + 1];
	char *message = NULL, *email = NULL, *envelope;
	const char *author = NULL;
	int64_t seq, at;
	size_t i, refused = 0;
	int lock_fd = -1, error, rc;

	if (count == 0) {
		cli_error("nothing to append");
		return CLI_EXIT_INPUT;
	}
	if ((rc = cli_load_key(&key, opts->key_path)) != CLI_EXIT_OK)
		goto done;
	cli_key_kid(kid, key);
	if ((rc = cli_open_repo(&repo)) != CLI_EXIT_OK)
		goto done;
	if ((rc = append_lock(&lock_fd, repo)) != CLI_EXIT_OK)
		goto done;
	error = ledger_state_load(&state, repo, &vopts);
	if (error < 0) {
		rc = cli_lib_error(error, "cannot load the ledger");
		goto done;
	}

	rc = CLI_EXIT_INTERNAL;
	recs = calloc(count, sizeof(*recs));
	files = calloc(count, sizeof(*files));
	paths = calloc(count, sizeof(*paths));
	if (!recs || !files || !paths) {
		cli_error("out of memory");
		goto done;
	}
	if (opts->seq > 0) {
		seq = opts->seq - 1;
		snprintf(prev, sizeof(prev), "%s", opts->prev ? opts->prev : "");
	} else {
		ledger_state_chain_tip(&seq, prev, state, kid);
	}
	/* One "now" for the whole batch, so author lookup and record agree. */
	ledger_time_format(now_text, (int64_t)time(NULL));

	for (i = 0; i < count; i++) {
		ledger_record_fields fields = LEDGER_RECORD_FIELDS_INIT;
		ledger_report *report = NULL;
		const char *when = records[i].time ? records[i].time : now_text;

		if (ledger_time_parse(&at, when) < 0) {
			rc = cli_lib_error(LEDGER_EINVALID, "record %zu: bad --time \"%s\"", i + 1, when);
			goto done;
		}
		author = opts->author;
		if (!author)
			author = ledger_state_key_principal(state, kid, at);
		if (!author) {
			cli_error("key %s is not bound to any principal at %s; bind it first "
			          "(cymat principal add) or give --author", kid, when);
			rc = CLI_EXIT_REFUSED;
			goto done;
		}
		fields.type = records[i].type;
		fields.author = author;
		fields.seq = seq + 1;
		fields.prev = *prev ? prev : NULL;
		fields.time = when;
		fields.refs = records[i].refs;
		fields.incident = records[i].incident;
		fields.class_ = records[i].class_;
		fields.body = records[i].body;
		fields.sealed = records[i].sealed;
		error = ledger_record_create(&recs[i], &fields, key);
		if (error < 0) {
			rc = cli_lib_error(error, "record %zu (type \"%s\")", i + 1,
			                   records[i].type ? records[i].type : "?");
			goto done;
		}
		seq = recs[i]->seq;
		memcpy(prev, recs[i]->id, sizeof(prev));

		if (!opts->no_judge) {
			error = ledger_state_judge(&report, state, recs[i]);
			if (error < 0) {
				rc = cli_lib_error(error, "cannot judge record %s", recs[i]->id);
				goto done;
			}
			if (ledger_report_count_severity(report, LEDGER_SEVERITY_ERROR) > 0) {
				cli_error("record %s (type \"%s\") refused:", recs[i]->id, recs[i]->type);
				cli_print_report(stderr, report, 0);
				refused++;
			}
			ledger_report_free(report);
		}

		error = ledger_record_envelope(&envelope, &files[i].len, recs[i]);
		if (error < 0) {
			rc = cli_lib_error(error, "record %s", recs[i]->id);
			goto done;
		}
		files[i].data = envelope;
		ledger_record_path(paths[i], recs[i]->id);
		files[i].path = paths[i];
	}
	if (refused) {
		cli_error("nothing written: %zu of %zu records refused", refused, count);
		rc = CLI_EXIT_REFUSED;
		goto done;
	}

	message = commit_message(recs, count, opts->subject);
	if (!message || asprintf(&email, "%s@cymat.invalid", kid) < 0) {
		email = NULL;
		cli_error("out of memory");
		goto done;
	}
	copts.message = message;
	copts.name = recs[count - 1]->author;
	copts.email = email;
	copts.sign = cli_commit_signer;
	copts.sign_payload = key;
	error = ledger_repo_append(commit, repo, files, count, &copts);
	if (error < 0) {
		rc = cli_lib_error(error, "nothing written");
		goto done;
	}
	for (i = 0; i < count; i++) {
		if (opts->json) {
			json_t *obj = json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", recs[i]->id,
			                        "type", recs[i]->type, "seq", (json_int_t)recs[i]->seq,
			                        "path", paths[i], "commit", commit);

			cli_print_json(obj, 0);
			json_decref(obj);
		} else {
			printf("%s\n", recs[i]->id);
		}
	}
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		goto done;
	}
	rc = CLI_EXIT_OK;
done:
	if (lock_fd >= 0)
		close(lock_fd);
	for (i = 0; recs && i < count; i++)
		ledger_record_free(recs[i]);
	for (i = 0; files && i < count; i++)
		free((void *)files[i].data);
	free(recs);
	free(files);
	free(paths);
	free(message);
	free(email);
	ledger_state_free(state);
	ledger_repo_free(repo);
	ledger_key_free(key);
	return rc;
}
