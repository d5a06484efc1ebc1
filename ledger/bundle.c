/*
 * Bundles: git bundles version 2 ("# v2 git bundle\n", prerequisite lines
 * "-<id> <subject>", reference lines "<id> <ref>", a blank line, a pack), so
 * that a ledger carried by hand is readable by stock git.  Creating one
 * packs main minus what the prerequisite holds with libgit2's packbuilder,
 * into a temporary file renamed into place once durable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "ledger/bundle.h"
#include "ledger/error.h"
#include "ledger/store.h"
#include "store_internal.h"

#define BUNDLE_SIGNATURE "# v2 git bundle\n"
/* Bytes of pack written between two progress reports. */
#define BUNDLE_PROGRESS_BYTES (256 * 1024)

struct bundle_out {
	FILE *f;
	const char *tmp;
	uint64_t bytes;
	uint64_t reported;
	ledger_bundle_progress_cb progress;
	void *payload;
};

static int bundle_put(struct bundle_out *o, const void *data, size_t len)
{
	if (len && fwrite(data, 1, len, o->f) != len)
		return ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", o->tmp,
		                        strerror(errno));
	o->bytes += len;
	if (o->progress && o->bytes - o->reported >= BUNDLE_PROGRESS_BYTES) {
		o->reported = o->bytes;
		o->progress("writing", o->bytes, 0, o->payload);
	}
	return 0;
}

static int pack_chunk(void *buf, size_t size, void *payload)
{
	return bundle_put(payload, buf, size) < 0 ? GIT_EUSER : 0;
}

static int pack_progress(int stage, uint32_t current, uint32_t total, void *payload)
{
	struct bundle_out *o = payload;

	o->progress(stage == GIT_PACKBUILDER_ADDING_OBJECTS ? "counting objects" :
	            "compressing objects", current, total, o->payload);
	return 0;
}

/* The header: the prerequisite (if any), main and HEAD (so that `git clone` checks main out). */
static int header_write(struct bundle_out *o, const git_commit *tip, git_commit *since)
{
	char hex[LEDGER_OID_HEX_LEN + 1];
	const char *subject;
	int r;

	if ((r = bundle_put(o, BUNDLE_SIGNATURE, strlen(BUNDLE_SIGNATURE))) < 0)
		return r;
	if (since) {
		git_oid_tostr(hex, sizeof(hex), git_commit_id(since));
		subject = git_commit_summary(since);
		if ((r = bundle_put(o, "-", 1)) < 0 || (r = bundle_put(o, hex, strlen(hex))) < 0 ||
		    (subject && *subject &&
		     ((r = bundle_put(o, " ", 1)) < 0 ||
		      (r = bundle_put(o, subject, strlen(subject))) < 0)) ||
		    (r = bundle_put(o, "\n", 1)) < 0)
			return r;
	}
	git_oid_tostr(hex, sizeof(hex), git_commit_id(tip));
	if ((r = bundle_put(o, hex, strlen(hex))) < 0 ||
	    (r = bundle_put(o, " " LEDGER_MAIN_REF "\n", strlen(" " LEDGER_MAIN_REF "\n"))) < 0 ||
	    (r = bundle_put(o, hex, strlen(hex))) < 0 ||
	    (r = bundle_put(o, " HEAD\n\n", strlen(" HEAD\n\n"))) < 0)
		return r;
	return 0;
}

/* Objects of main that `since` (NULL: nothing) lacks. */
static int pack_fill(git_packbuilder *pb, ledger_repo *repo, const git_commit *tip,
                     const git_commit *since)
{
	git_revwalk *walk = NULL;
	int error;

	if ((error = git_revwalk_new(&walk, repo->git)) < 0 ||
	    (error = git_revwalk_push(walk, git_commit_id(tip))) < 0 ||
	    (since && (error = git_revwalk_hide(walk, git_commit_id(since))) < 0) ||
	    (error = git_packbuilder_insert_walk(pb, walk)) < 0) {
		git_revwalk_free(walk);
		return store_error_git(error, "cannot list the objects to bundle");
	}
	git_revwalk_free(walk);
	return 0;
}

/* "<dir of path>/.<name of path>.XXXXXX", for mkstemp. */
static char *temp_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *tmp;

	if (slash) {
		if (asprintf(&tmp, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1) < 0)
			return NULL;
	} else if (asprintf(&tmp, ".%s.XXXXXX", path) < 0) {
		return NULL;
	}
	return tmp;
}

/* The directory holding `path`, to fsync after the rename. */
static char *dir_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int ledger_bundle_create(ledger_bundle_info *out, ledger_repo *repo, const char *path,
                         const ledger_bundle_create_options *opts)
{
	ledger_bundle_create_options defaults = LEDGER_BUNDLE_CREATE_OPTIONS_INIT;
	struct bundle_out o = { 0 };
	git_commit *tip = NULL, *since = NULL;
	git_packbuilder *pb = NULL;
	char *tmp = NULL, *dir = NULL;
	char tip_hex[LEDGER_OID_HEX_LEN + 1], since_hex[LEDGER_OID_HEX_LEN + 1] = "";
	size_t commits = 0;
	int fd = -1, made = 0, r, error;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &defaults;
	if (opts->version != LEDGER_BUNDLE_CREATE_OPTIONS_VERSION)
		return ledger_error_set(LEDGER_EINVALID, "bundle options of an unknown version");
	if (!path || !*path)
		return ledger_error_set(LEDGER_EINVALID, "no bundle file given");
	if ((r = store_lookup_commit(&tip, repo, NULL)) < 0)
		goto done;
	git_oid_tostr(tip_hex, sizeof(tip_hex), git_commit_id(tip));
	if (opts->since) {
		if ((r = store_lookup_commit(&since, repo, opts->since)) < 0)
			goto done;
		git_oid_tostr(since_hex, sizeof(since_hex), git_commit_id(since));
		if ((r = ledger_repo_is_ancestor(repo, since_hex, tip_hex)) < 0)
			goto done;
		if (r == 0) {
			r = ledger_error_set(LEDGER_EINVALID, "\"%s\" is not in the history of %s",
			                     opts->since, LEDGER_MAIN_REF);
			goto done;
		}
	}
	if ((r = ledger_repo_count_commits(&commits, repo, opts->since ? since_hex : NULL,
	                                   tip_hex)) < 0)
		goto done;
	if (commits == 0) {
		r = ledger_error_set(LEDGER_EINVALID, "nothing to bundle: %s has no commit after \"%s\"",
		                     LEDGER_MAIN_REF, opts->since);
		goto done;
	}

	o.progress = opts->progress;
	o.payload = opts->progress_payload;
	if ((error = git_packbuilder_new(&pb, repo->git)) < 0) {
		r = store_error_git(error, "cannot start a pack");
		goto done;
	}
	git_packbuilder_set_threads(pb, 0);
	if (o.progress &&
	    (error = git_packbuilder_set_callbacks(pb, pack_progress, &o)) < 0) {
		r = store_error_git(error, "cannot start a pack");
		goto done;
	}
	if ((r = pack_fill(pb, repo, tip, since)) < 0)
		goto done;

	if (!(tmp = temp_name(path)) || !(dir = dir_name(path))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	o.tmp = tmp;
	if ((fd = mkstemp(tmp)) < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot create a file beside \"%s\": %s", path,
		                     strerror(errno));
		goto done;
	}
	made = 1;
	/* A bundle is for carrying: as readable as the repository it came from. */
	if (fchmod(fd, 0644) < 0 || !(o.f = fdopen(fd, "w"))) {
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1; /* owned by o.f */
	if ((r = header_write(&o, tip, since)) < 0)
		goto done;
	error = git_packbuilder_foreach(pb, pack_chunk, &o);
	if (error == GIT_EUSER) {
		r = LEDGER_EIO;
		goto done;
	}
	if (error < 0) {
		r = store_error_git(error, "cannot write the pack into \"%s\"", tmp);
		goto done;
	}
	if (fflush(o.f) != 0 || fsync(fileno(o.f)) < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	error = fclose(o.f);
	o.f = NULL;
	if (error != 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	if (rename(tmp, path) < 0) {
		r = ledger_error_set(LEDGER_EIO, "cannot rename \"%s\" to \"%s\": %s", tmp, path,
		                     strerror(errno));
		goto done;
	}
	made = 0; /* renamed: nothing to remove */
	if ((r = store_fsync_path(dir)) < 0)
		goto done;
	if (o.progress)
		o.progress("writing", o.bytes, o.bytes, o.payload);
	memcpy(out->tip, tip_hex, sizeof(out->tip));
	memcpy(out->since, since_hex, sizeof(out->since));
	out->commits = commits;
	out->objects = git_packbuilder_object_count(pb);
	out->bytes = o.bytes;
	r = 0;
done:
	if (o.f)
		fclose(o.f);
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	free(tmp);
	free(dir);
	git_packbuilder_free(pb);
	git_commit_free(since);
	git_commit_free(tip);
	return r;
}
