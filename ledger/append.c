/*
 * The one path by which records enter a ledger: build and sign each record,
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

#include "ledger/error.h"
#include "ledger/append.h"
#include "ledger/policy.h"
#include "ledger/sshsig.h"
#include "ledger/trust.h"
#include "state_internal.h"

#define APPEND_LOCK_WAIT_MS 120000
#define APPEND_LOCK_POLL_MS 50

int ledger_key_commit_signer(char **out_armour, const char *buf, size_t len, void *payload)
{
	return ledger_sshsig_sign(out_armour, (const ledger_key *)payload, "git",
	                          (const uint8_t *)buf, len);
}

static const char *body_string(const ledger_record *rec, const char *name)
{
	return json_string_value(json_object_get(rec->body, name));
}

char *ledger_record_summary(const ledger_record *rec)
{
	const char *s;
	char *out = NULL;
	json_t *roles, *v;
	size_t i;
	char rolebuf[256] = "";

	if (strcmp(rec->type, "principal") == 0) {
		roles = json_object_get(rec->body, "roles");
		json_array_foreach(roles, i, v) {
			if (i)
				strncat(rolebuf, ",", sizeof(rolebuf) - strlen(rolebuf) - 1);
			if (json_string_value(v))
				strncat(rolebuf, json_string_value(v),
				        sizeof(rolebuf) - strlen(rolebuf) - 1);
		}
		s = body_string(rec, "principal");
		if (asprintf(&out, "bind %s%s%s%s", s ? s : "?", *rolebuf ? " (" : "", rolebuf,
		             *rolebuf ? ")" : "") < 0)
			out = NULL;
	} else if (strcmp(rec->type, "revocation") == 0) {
		s = body_string(rec, "kid");
		if (asprintf(&out, "revoke key %.12s (%s)", s ? s : "?",
		             body_string(rec, "reason") ? body_string(rec, "reason") : "?") < 0)
			out = NULL;
	} else if (strcmp(rec->type, "root") == 0) {
		const char *director = json_string_value(json_object_get(
			json_object_get(rec->body, "director"), "principal"));

		s = body_string(rec, "ledger");
		if (asprintf(&out, "ledger %s, director %s", s ? s : "?",
		             director ? director : "?") < 0)
			out = NULL;
	} else if (strcmp(rec->type, "receipt") == 0) {
		s = body_string(rec, "inbox");
		size_t n = json_array_size(json_object_get(rec->body, "accepted"));

		if (asprintf(&out, "inbox %s, %zu record%s accepted", s ? s : "?", n,
		             n == 1 ? "" : "s") < 0)
			out = NULL;
	} else if (strcmp(rec->type, "checkpoint") == 0) {
		s = body_string(rec, "commit");
		if (asprintf(&out, "main at %.12s, %" JSON_INTEGER_FORMAT " records",
		             s ? s : "?",
		             json_integer_value(json_object_get(rec->body, "records"))) < 0)
			out = NULL;
	} else {
		static const char *const keys[] = { "summary", "title", "id", "kind", "purpose" };

		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if ((s = body_string(rec, keys[i])) != NULL)
				break;
		if (s) {
			out = strdup(s);
			/* One line: commit subjects and log lines must not break. */
			for (char *p = out; p && *p; p++)
				if (*p == '\n' || *p == '\r' || *p == '\t')
					*p = ' ';
		} else if (asprintf(&out, "record %.12s", rec->id) < 0) {
			out = NULL;
		}
	}
	return out;
}

/*
 * Serialise appenders of this ledger from reading the chain tip to moving
 * the ref: otherwise two processes signing with the same key would both
 * take the same seq, an equivocation.  flock(2) is dropped by the kernel
 * when a holder dies, so a killed appender never blocks the next one.
 */
static int append_lock(int *out_fd, ledger_repo *repo, unsigned int wait_ms)
{
	const char *state_dir;
	char *path = NULL;
	struct timespec pause = { 0, APPEND_LOCK_POLL_MS * 1000 * 1000 };
	unsigned int waited = 0;
	int fd = -1, error;

	error = ledger_repo_state_dir(&state_dir, repo);
	if (error < 0)
		return ledger_error_prefix("cannot open the ledger's state directory");
	if (asprintf(&path, "%s/append.lock", state_dir) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		error = ledger_error_set(LEDGER_EIO, "cannot open \"%s\": %s", path,
		                         strerror(errno));
		goto done;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			error = ledger_error_set(LEDGER_EIO, "cannot lock \"%s\": %s", path,
			                         strerror(errno));
			goto done;
		}
		if (waited >= wait_ms) {
			error = ledger_error_set(LEDGER_ELOCKED,
			                         "ledger busy: another appender holds \"%s\"", path);
			goto done;
		}
		nanosleep(&pause, NULL);
		waited += APPEND_LOCK_POLL_MS;
	}
	*out_fd = fd;
	fd = -1;
	error = 0;
done:
	if (fd >= 0)
		close(fd);
	free(path);
	return error;
}

/* "<type>: <summary>" for one type, "batch: <n> records" for several; a trailer per record. */
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
			summary = ledger_record_summary(recs[0]);
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

void ledger_append_result_clear(ledger_append_result *result)
{
	size_t i;

	if (!result)
		return;
	for (i = 0; i < result->count; i++) {
		if (result->records)
			ledger_record_free(result->records[i]);
		if (result->reports)
			ledger_report_free(result->reports[i]);
	}
	free(result->records);
	free(result->reports);
	memset(result, 0, sizeof(*result));
}

/*
 * The acts of the agreement (DOMAIN.md record types), the records its rules
 * are about.  Trust records (root, principal, revocation) are the
 * verifier's; other types (a "note") are no act of the agreement.
 */
static int is_act(const char *type)
{
	static const char *const acts[] = {
		"agency", "nomination", "appointment", "registration", "withdrawal",
		"training_application", "participation", "request", "consent", "dispatch",
		"activity", "report", "opinion", "closure", "share", "council_report"
	};

	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		if (strcmp(type, acts[i]) == 0)
			return 1;
	return 0;
}

/*
 * The agreement's rules on the records the verifier accepts, judged in
 * order after everything in the ledger: their findings about an act join
 * its report, and an error refuses it.  An act the verifier holds pending
 * (a gap in its chain, a reference that has not arrived) waits, unjudged,
 * as it will in the ledger: the rules' findings about it are not its own.
 */
static int judge_acts(ledger_append_result *out, const ledger_state *state, ledger_repo *repo)
{
	ledger_report *rules = NULL;
	size_t acts = 0;
	int error;

	/* No act, no finding of the rules to take: no policy pass (a tenth of a second and more). */
	for (size_t i = 0; i < out->count; i++)
		acts += is_act(out->records[i]->type);
	if (!acts)
		return 0;
	error = ledger_policy_judge_batch(&rules, state, repo,
	                                  (const ledger_record *const *)out->records, out->count,
	                                  NULL);
	if (error < 0) {
		ledger_error_prefix("cannot judge the records against the rules");
		return error;
	}
	for (size_t i = 0; i < out->count; i++) {
		ledger_report *mine = out->reports[i];
		size_t before = ledger_report_count_severity(mine, LEDGER_SEVERITY_ERROR);

		if (!is_act(out->records[i]->type) ||
		    ledger_report_count_severity(mine, LEDGER_SEVERITY_PENDING))
			continue;
		for (size_t k = 0; k < ledger_report_count(rules); k++) {
			const ledger_finding *f = ledger_report_get(rules, k);

			if (strcmp(f->id, out->records[i]->id) == 0 &&
			    (error = report_add_copy(mine, f, NULL)) < 0)
				goto done;
		}
		if (!before && ledger_report_count_severity(mine, LEDGER_SEVERITY_ERROR))
			out->refused++;
	}
	error = 0;
done:
	ledger_report_free(rules);
	return error;
}

int ledger_append(ledger_append_result *out, ledger_repo *repo, const ledger_key *key,
                  const ledger_new_record *records, size_t count,
                  const ledger_append_options *opts)
{
	static const ledger_append_options defaults = LEDGER_APPEND_OPTIONS_INIT;
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	ledger_commit_options copts = LEDGER_COMMIT_OPTIONS_INIT;
	ledger_state *state = NULL;
	const ledger_state *judged;
	ledger_file *files = NULL;
	char (*paths)[LEDGER_RECORD_PATH_LEN + 1] = NULL;
	char kid[LEDGER_HEX_ID_LEN + 1], prev[LEDGER_HEX_ID_LEN + 1], now_text[21];
	char head[LEDGER_OID_HEX_LEN + 1];
	char *message = NULL, *email = NULL, *envelope;
	const char *author;
	uint8_t pub[32];
	int64_t seq, at;
	size_t i;
	int lock_fd = -1, error;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &defaults;
	if (count == 0)
		return ledger_error_set(LEDGER_EINVALID, "nothing to append");
	ledger_key_public(pub, key);
	ledger_key_id(kid, pub);

	out->records = calloc(count, sizeof(*out->records));
	out->reports = calloc(count, sizeof(*out->reports));
	files = calloc(count, sizeof(*files));
	paths = calloc(count, sizeof(*paths));
	if (!out->records || !out->reports || !files || !paths) {
		error = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	out->count = count;

	error = append_lock(&lock_fd, repo, opts->lock_wait_ms ? opts->lock_wait_ms
	                                                      : APPEND_LOCK_WAIT_MS);
	if (error < 0)
		goto done;
	/* The caller's state still describes main: loading it again would find what it holds. */
	if (opts->version >= 2 && opts->state && ledger_repo_head(head, repo) == 0 &&
	    strcmp(head, opts->state->tip) == 0) {
		judged = opts->state;
	} else {
		error = ledger_state_load(&state, repo, &vopts);
		if (error < 0) {
			ledger_error_prefix("cannot load the ledger");
			goto done;
		}
		judged = state;
	}
	if (opts->seq > 0) {
		seq = opts->seq - 1;
		snprintf(prev, sizeof(prev), "%s", opts->prev ? opts->prev : "");
	} else {
		ledger_state_chain_tip(&seq, prev, judged, kid);
	}
	/* One "now" for the whole batch, so author lookup and record agree. */
	ledger_time_format(now_text, (int64_t)time(NULL));

	for (i = 0; i < count; i++) {
		ledger_record_fields fields = LEDGER_RECORD_FIELDS_INIT;
		const char *when = records[i].time ? records[i].time : now_text;

		if (ledger_time_parse(&at, when) < 0) {
			error = ledger_error_set(LEDGER_EINVALID, "record %zu: bad time \"%s\"",
			                         i + 1, when);
			goto done;
		}
		author = opts->author;
		if (!author)
			author = ledger_state_key_principal(judged, kid, at);
		if (!author) {
			free(out->reports);
			out->reports = NULL;
			out->refused = count;
			error = ledger_error_set(LEDGER_EINVALID,
			                         "key %s is not bound to any principal at %s",
			                         kid, when);
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
		error = ledger_record_create(&out->records[i], &fields, key);
		if (error < 0) {
			ledger_error_prefix("record %zu (type \"%s\")", i + 1,
			                    records[i].type ? records[i].type : "?");
			goto done;
		}
		seq = out->records[i]->seq;
		memcpy(prev, out->records[i]->id, sizeof(prev));

		error = ledger_record_envelope(&envelope, &files[i].len, out->records[i]);
		if (error < 0) {
			ledger_error_prefix("record %s", out->records[i]->id);
			goto done;
		}
		files[i].data = envelope;
		ledger_record_path(paths[i], out->records[i]->id);
		files[i].path = paths[i];
	}
	/* Each record as the verifier will see it: with the others of the batch in the ledger. */
	if (!opts->no_judge) {
		error = ledger_state_judge_batch(out->reports, judged,
		                                 (const ledger_record *const *)out->records, count);
		if (error < 0) {
			ledger_error_prefix("cannot judge the records");
			goto done;
		}
		for (i = 0; i < count; i++)
			if (ledger_report_count_severity(out->reports[i], LEDGER_SEVERITY_ERROR) > 0)
				out->refused++;
	}
	if (!opts->no_judge && !out->refused && (error = judge_acts(out, judged, repo)) < 0)
		goto done;
	if (out->refused) {
		error = ledger_error_set(LEDGER_EINVALID, "nothing written: %zu of %zu records refused",
		                         out->refused, count);
		goto done;
	}

	message = commit_message(out->records, count, opts->subject);
	if (!message || asprintf(&email, "%s@cymat.invalid", kid) < 0) {
		email = NULL;
		error = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	copts.message = message;
	copts.name = out->records[count - 1]->author;
	copts.email = email;
	copts.sign = ledger_key_commit_signer;
	copts.sign_payload = (void *)key;
	error = ledger_repo_append(out->commit, repo, files, count, &copts);
	if (error < 0)
		ledger_error_prefix("nothing written");
done:
	if (lock_fd >= 0)
		close(lock_fd);
	for (i = 0; files && i < count; i++)
		free((void *)files[i].data);
	free(files);
	free(paths);
	free(message);
	free(email);
	ledger_state_free(state);
	return error;
}
