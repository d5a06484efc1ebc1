/*
 * The per-remote sync status: <git dir>/cymat/sync/<remote>.json, one JSON
 * object (FORMAT.md, "Node-private state").  Written to a temporary file
 * that is synced and renamed over the old one, and the directory synced, so
 * a reader (or a crash) sees the old status or the new one, never a mix.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include "ledger/error.h"
#include "ledger/node.h"
#include "sync_internal.h"

#define STATUS_FORMAT_VERSION 1
/* A status file is small; anything larger is not one. */
#define STATUS_MAX_BYTES 65536

int node_remote_name_check(const char *name)
{
	size_t i, len = name ? strlen(name) : 0;

	if (len == 0 || len > LEDGER_REMOTE_NAME_MAX)
		goto bad;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			goto bad;
	}
	return 0;
bad:
	return ledger_error_set(LEDGER_EINVALID,
	                        "remote name \"%s\": not 1 to %d of [a-z0-9_-]",
	                        name ? name : "", LEDGER_REMOTE_NAME_MAX);
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int error = 0;

	if (fd < 0)
		return ledger_error_set(LEDGER_EIO, "cannot open \"%s\": %s", path, strerror(errno));
	if (fsync(fd) != 0)
		error = ledger_error_set(LEDGER_EIO, "cannot sync \"%s\": %s", path,
		                         strerror(errno));
	close(fd);
	return error;
}

/* "<state dir>/sync" (created, durably, on first use) into *dir when dir is not NULL. */
static int status_dir(char **out, ledger_repo *repo, int create)
{
	const char *state_dir;
	int error;

	error = ledger_repo_state_dir(&state_dir, repo);
	if (error < 0)
		return error;
	if (asprintf(out, "%s/sync", state_dir) < 0) {
		*out = NULL;
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	if (!create)
		return 0;
	if (mkdir(*out, 0700) == 0) {
		error = fsync_dir(state_dir);
	} else if (errno != EEXIST) {
		error = ledger_error_set(LEDGER_EIO, "cannot create \"%s\": %s", *out,
		                         strerror(errno));
	}
	if (error < 0) {
		free(*out);
		*out = NULL;
	}
	return error;
}

static int get_time(int64_t *out, json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

/* "" or 40 lowercase hex digits. */
static int oid_ok(const char *s)
{
	size_t len = s ? strnlen(s, LEDGER_OID_HEX_LEN + 1) : 0;

	return s && (len == 0 || len == LEDGER_OID_HEX_LEN) &&
	       strspn(s, "0123456789abcdef") == len;
}

static int get_oid(char out[LEDGER_OID_HEX_LEN + 1], json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	if (!oid_ok(s))
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

int ledger_sync_status_load(ledger_sync_status *out, ledger_repo *repo, const char *remote)
{
	json_error_t jerr;
	json_t *root = NULL, *failures;
	char *dir = NULL, *path = NULL;
	const char *name, *last_error;
	struct stat st;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = node_remote_name_check(remote)) < 0)
		return error;
	snprintf(out->remote, sizeof(out->remote), "%s", remote);
	if ((error = status_dir(&dir, repo, 0)) < 0)
		return error;
	if (asprintf(&path, "%s/%s.json", dir, remote) < 0) {
		path = NULL;
		error = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			error = ledger_error_set(LEDGER_ENOTFOUND, "remote \"%s\": no sync status yet",
			                         remote);
		else
			error = ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", path,
			                         strerror(errno));
		goto done;
	}
	if (st.st_size > STATUS_MAX_BYTES) {
		error = ledger_error_set(LEDGER_EINVALID, "sync status \"%s\": too large", path);
		goto done;
	}
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		error = ledger_error_set(LEDGER_EINVALID, "sync status \"%s\": %s", path, jerr.text);
		goto done;
	}
	name = json_string_value(json_object_get(root, "remote"));
	last_error = json_string_value(json_object_get(root, "last_error"));
	failures = json_object_get(root, "failures");
	if (!json_is_object(root) ||
	    json_integer_value(json_object_get(root, "version")) != STATUS_FORMAT_VERSION ||
	    !name || strcmp(name, remote) != 0 || !last_error ||
	    !json_is_integer(failures) || json_integer_value(failures) < 0 ||
	    json_integer_value(failures) > (json_int_t)UINT32_MAX ||
	    get_time(&out->last_attempt, root, "last_attempt") < 0 ||
	    get_time(&out->last_success, root, "last_success") < 0 ||
	    get_time(&out->last_error_time, root, "last_error_time") < 0 ||
	    get_time(&out->next_attempt, root, "next_attempt") < 0 ||
	    get_oid(out->fetched, root, "fetched") < 0 || get_oid(out->pushed, root, "pushed") < 0) {
		memset(out, 0, sizeof(*out));
		snprintf(out->remote, sizeof(out->remote), "%s", remote);
		error = ledger_error_set(LEDGER_EINVALID, "sync status \"%s\": not a status of remote "
		                         "\"%s\" (version %d)", path, remote, STATUS_FORMAT_VERSION);
		goto done;
	}
	out->failures = (unsigned int)json_integer_value(failures);
	/* A longer message was cut when it was saved; cut it the same way. */
	snprintf(out->last_error, sizeof(out->last_error), "%s", last_error);
	error = 0;
done:
	json_decref(root);
	free(path);
	free(dir);
	return error;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The message as a JSON string: a message cut at 255 bytes may end inside a
 * UTF-8 sequence, which jansson refuses; drop that tail, and failing that
 * replace every non-ASCII byte.
 */
static json_t *message_string(char *buf)
{
	size_t len;
	json_t *s;

	if ((s = json_string(buf)) != NULL)
		return s;
	len = strlen(buf);
	while (len > 0 && ((unsigned char)buf[len - 1] & 0xc0) == 0x80)
		len--;
	if (len > 0 && ((unsigned char)buf[len - 1] & 0x80))
		len--;
	buf[len] = '\0';
	if ((s = json_string(buf)) != NULL)
		return s;
	for (len = 0; buf[len]; len++)
		if ((unsigned char)buf[len] & 0x80)
			buf[len] = '?';
	return json_string(buf);
}

int ledger_sync_status_save(ledger_repo *repo, const ledger_sync_status *status)
{
	json_t *root = NULL;
	char *dir = NULL, *path = NULL, *tmp = NULL, *text = NULL;
	char last_error[sizeof(status->last_error)];
	int fd = -1, error;

	if ((error = node_remote_name_check(status->remote)) < 0)
		return error;
	if (!oid_ok(status->fetched) || !oid_ok(status->pushed))
		return ledger_error_set(LEDGER_EINVALID, "sync status of remote \"%s\": fetched and "
		                        "pushed must be commit ids or empty", status->remote);
	/* A caller-filled struct's message may lack its NUL: never read past it. */
	memcpy(last_error, status->last_error, sizeof(last_error));
	last_error[sizeof(last_error) - 1] = '\0';
	root = json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:s}",
	                 "version", STATUS_FORMAT_VERSION, "remote", status->remote,
	                 "last_attempt", (json_int_t)status->last_attempt,
	                 "last_success", (json_int_t)status->last_success,
	                 "last_error_time", (json_int_t)status->last_error_time,
	                 "next_attempt", (json_int_t)status->next_attempt,
	                 "failures", (json_int_t)status->failures,
	                 "last_error", message_string(last_error), "fetched", status->fetched,
	                 "pushed", status->pushed);
	if (!root) {
		error = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if ((error = status_dir(&dir, repo, 1)) < 0)
		goto done;
	if (!text || asprintf(&path, "%s/%s.json", dir, status->remote) < 0 ||
	    asprintf(&tmp, "%s/.%s.json.%ld", dir, status->remote, (long)getpid()) < 0) {
		error = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		error = ledger_error_set(LEDGER_EIO, "cannot create \"%s\": %s", tmp,
		                         strerror(errno));
		goto done;
	}
	if (write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0 ||
	    fsync(fd) != 0) {
		error = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	if (close(fd) != 0) {
		fd = -1;
		error = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		error = ledger_error_set(LEDGER_EIO, "cannot rename \"%s\": %s", tmp,
		                         strerror(errno));
		goto done;
	}
	error = fsync_dir(dir);
done:
	if (fd >= 0)
		close(fd);
	if (error < 0 && tmp)
		unlink(tmp);
	json_decref(root);
	free(text);
	free(tmp);
	free(path);
	free(dir);
	return error;
}
