/*
 * Refs other than appends' own move of refs/heads/main: reading them,
 * listing them by prefix, and moving one by compare-and-swap under the
 * ledger lock.  refs/heads/main only ever moves to a commit containing the
 * one it pointed at, so the set of records only grows.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "ledger/sync.h"
#include "store_internal.h"

static int ref_name_check(const char *ref)
{
	int valid = 0;

	if (!ref || strncmp(ref, "refs/", 5) != 0 ||
	    git_reference_name_is_valid(&valid, ref) < 0 || !valid)
		return ledger_error_set(LEDGER_EINVALID, "invalid ref name \"%s\"",
		                        ref ? ref : "(null)");
	return 0;
}

/* The commit `ref` points at, through symbolic refs and tags. */
static int ref_commit(git_oid *out, ledger_repo *repo, const char *ref)
{
	git_reference *r = NULL;
	git_object *obj = NULL;
	int error;

	error = git_reference_lookup(&r, repo->git, ref);
	if (error == GIT_ENOTFOUND)
		return ledger_error_set(LEDGER_ENOTFOUND, "ref \"%s\" not found", ref);
	if (error < 0)
		return store_error_git(error, "cannot read ref \"%s\"", ref);
	error = git_reference_peel(&obj, r, GIT_OBJECT_COMMIT);
	git_reference_free(r);
	if (error < 0)
		return store_error_git(error, "ref \"%s\" does not name a commit", ref);
	git_oid_cpy(out, git_object_id(obj));
	git_object_free(obj);
	return 0;
}

int ledger_repo_ref(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo, const char *ref)
{
	git_oid id;
	int r;

	if ((r = ref_name_check(ref)) < 0 || (r = ref_commit(&id, repo, ref)) < 0)
		return r;
	git_oid_tostr(out, LEDGER_OID_HEX_LEN + 1, &id);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ledger_repo_foreach_ref(ledger_repo *repo, const char *prefix, ledger_ref_cb cb,
                            void *payload)
{
	git_reference_iterator *it = NULL;
	const char *name;
	char **names = NULL, hex[LEDGER_OID_HEX_LEN + 1];
	size_t count = 0, cap = 0, i, plen = prefix ? strlen(prefix) : 0;
	int r = 0, error;

	if (!cb)
		return ledger_error_set(LEDGER_EINVALID, "no callback given");
	if ((error = git_reference_iterator_new(&it, repo->git)) < 0)
		return store_error_git(error, "cannot list refs");
	/* Names first, then sorted: the callback sees refs in a stable order. */
	while ((error = git_reference_next_name(&name, it)) == 0) {
		if (strncmp(name, prefix ? prefix : "", plen) != 0)
			continue;
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **grown = realloc(names, ncap * sizeof(*names));

			if (!grown) {
				r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
				goto done;
			}
			names = grown;
			cap = ncap;
		}
		if (!(names[count] = strdup(name))) {
			r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
			goto done;
		}
		count++;
	}
	if (error != GIT_ITEROVER) {
		r = store_error_git(error, "cannot list refs");
		goto done;
	}
	if (count > 1)
		qsort(names, count, sizeof(*names), name_cmp);
	for (i = 0; i < count && r == 0; i++) {
		git_oid id;

		/* A ref that names no commit (a tag of a blob, a dangling ref) is not listed. */
		if (ref_commit(&id, repo, names[i]) < 0) {
			ledger_error_clear();
			continue;
		}
		git_oid_tostr(hex, sizeof(hex), &id);
		r = cb(names[i], hex, payload);
	}
done:
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	git_reference_iterator_free(it);
	return r;
}

/* fsync the directories from the ref's own up to the git directory: some may be new. */
static int ref_dirs_sync(ledger_repo *repo, const char *ref)
{
	char *path = NULL, *slash;
	size_t base;
	int r = 0;

	if (asprintf(&path, "%s/%s", repo->git_dir, ref) < 0)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	base = strlen(repo->git_dir);
	while (r == 0 && (slash = strrchr(path, '/')) && (size_t)(slash - path) >= base) {
		*slash = '\0';
		r = store_fsync_path(path);
	}
	free(path);
	return r;
}

int ledger_repo_update_ref(ledger_repo *repo, const char *ref, const char *expected,
                           const char *target)
{
	git_reference *nref = NULL;
	git_commit *t = NULL;
	git_oid exp_id;
	char hex[LEDGER_OID_HEX_LEN + 1];
	int locked = 0, r, error;

	if ((r = ref_name_check(ref)) < 0)
		return r;
	if (!target)
		return ledger_error_set(LEDGER_EINVALID, "ref \"%s\": no target given", ref);
	if (expected && (strlen(expected) != LEDGER_OID_HEX_LEN ||
	                 git_oid_fromstr(&exp_id, expected) < 0))
		return ledger_error_set(LEDGER_EINVALID, "ref \"%s\": expected \"%s\" is not a commit id",
		                        ref, expected);
	if ((r = store_lookup_commit(&t, repo, target)) < 0)
		goto done;
	if (expected && strcmp(ref, LEDGER_MAIN_REF) == 0) {
		/* Records are never taken away: main only moves forward. */
		error = git_oid_equal(&exp_id, git_commit_id(t)) ? 1 :
		        git_graph_descendant_of(repo->git, git_commit_id(t), &exp_id);
		if (error < 0) {
			r = store_error_git(error, "cannot compare \"%s\" and \"%s\"", expected, target);
			goto done;
		}
		if (error == 0) {
			r = ledger_error_set(LEDGER_EINVALID, "%s: \"%s\" does not contain \"%s\"",
			                     LEDGER_MAIN_REF, target, expected);
			goto done;
		}
	}
	if ((r = store_lock_acquire(repo, ref)) < 0)
		goto done;
	locked = 1;
	if (expected)
		error = git_reference_create_matching(&nref, repo->git, ref, git_commit_id(t), 1,
		                                      &exp_id, "cymat: update");
	else
		error = git_reference_create(&nref, repo->git, ref, git_commit_id(t), 0,
		                             "cymat: update");
	if (error == GIT_EMODIFIED || error == GIT_EEXISTS ||
	    (error == GIT_ENOTFOUND && expected)) {
		r = ledger_error_set(LEDGER_ECONFLICT, "ref \"%s\" is no longer at %s", ref,
		                     expected ? expected : "nothing");
		goto done;
	}
	if (error < 0) {
		r = store_error_git(error, "cannot update ref \"%s\"", ref);
		goto done;
	}
	/* libgit2 fsynced the ref file and its directory; new parents too must persist. */
	if ((r = ref_dirs_sync(repo, ref)) < 0)
		goto done;
	r = 0;
done:
	if (locked)
		store_lock_release(repo);
	if (r < 0 && t) {
		git_oid_tostr(hex, sizeof(hex), git_commit_id(t));
		ledger_error_prefix("cannot move \"%s\" to %s", ref, hex);
	}
	git_reference_free(nref);
	git_commit_free(t);
	return r;
}

int ledger_repo_delete_ref(ledger_repo *repo, const char *ref, const char *expected)
{
	git_reference *r = NULL;
	git_oid exp_id;
	int locked = 0, rc, error;

	if ((rc = ref_name_check(ref)) < 0)
		return rc;
	if (strcmp(ref, LEDGER_MAIN_REF) == 0)
		return ledger_error_set(LEDGER_EINVALID, "ref \"%s\" is never deleted", ref);
	if (!expected || strlen(expected) != LEDGER_OID_HEX_LEN ||
	    git_oid_fromstr(&exp_id, expected) < 0)
		return ledger_error_set(LEDGER_EINVALID, "ref \"%s\": expected \"%s\" is not a commit id",
		                        ref, expected ? expected : "(null)");
	if ((rc = store_lock_acquire(repo, ref)) < 0)
		return rc;
	locked = 1;
	error = git_reference_lookup(&r, repo->git, ref);
	if (error == GIT_ENOTFOUND) {
		rc = ledger_error_set(LEDGER_ENOTFOUND, "ref \"%s\" not found", ref);
		goto done;
	}
	if (error < 0) {
		rc = store_error_git(error, "cannot read ref \"%s\"", ref);
		goto done;
	}
	if (git_reference_type(r) != GIT_REFERENCE_DIRECT ||
	    !git_oid_equal(git_reference_target(r), &exp_id)) {
		rc = ledger_error_set(LEDGER_ECONFLICT, "ref \"%s\" is no longer at %s", ref, expected);
		goto done;
	}
	if ((error = git_reference_delete(r)) < 0) {
		rc = store_error_git(error, "cannot delete ref \"%s\"", ref);
		goto done;
	}
	rc = 0;
done:
	if (locked)
		store_lock_release(repo);
	git_reference_free(r);
	return rc;
}
