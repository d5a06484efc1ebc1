/* Commit signatures: the gpgsig header of each commit, for the verifier to check. */
#include "config.h"

#include <string.h>

#include <git2.h>

#include "ledger/error.h"
#include "store_internal.h"

int ledger_repo_foreach_commit_signature(ledger_repo *repo, const char *from, const char *to,
                                         ledger_commit_signature_cb cb, void *payload)
{
	git_commit *tip = NULL, *base = NULL;
	git_revwalk *walk = NULL;
	git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	git_oid id;
	char hex[GIT_OID_HEXSZ + 1];
	int r, g;

	if ((r = store_lookup_commit(&tip, repo, to)) < 0 ||
	    (from && (r = store_lookup_commit(&base, repo, from)) < 0))
		goto done;
	if ((g = git_revwalk_new(&walk, repo->git)) < 0 ||
	    (g = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE)) < 0 ||
	    (g = git_revwalk_push(walk, git_commit_id(tip))) < 0 ||
	    (base && (g = git_revwalk_hide(walk, git_commit_id(base))) < 0) ||
	    (g = git_repository_odb(&odb, repo->git)) < 0) {
		r = store_error_git(g, "cannot walk the history of \"%s\"", to ? to : "main");
		goto done;
	}
	while ((g = git_revwalk_next(&id, walk)) == 0) {
		git_oid_tostr(hex, sizeof(hex), &id);
		g = git_commit_extract_signature(&sig, &data, repo->git, &id, NULL);
		if (g == GIT_ENOTFOUND) {
			/* Unsigned: hand over the whole commit object. */
			git_odb_object_free(obj);
			obj = NULL;
			if ((g = git_odb_read(&obj, odb, &id)) < 0) {
				r = store_error_git(g, "cannot read commit %s", hex);
				goto done;
			}
			r = cb(hex, NULL, git_odb_object_data(obj), git_odb_object_size(obj), payload);
		} else if (g < 0) {
			r = store_error_git(g, "cannot read the signature of commit %s", hex);
			goto done;
		} else {
			r = cb(hex, sig.ptr, data.ptr, data.size, payload);
		}
		git_buf_dispose(&sig);
		git_buf_dispose(&data);
		if (r)
			goto done;
	}
	if (g != GIT_ITEROVER) {
		r = store_error_git(g, "cannot walk the history of \"%s\"", to ? to : "main");
		goto done;
	}
	r = 0;
done:
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	git_odb_object_free(obj);
	git_odb_free(odb);
	git_revwalk_free(walk);
	git_commit_free(base);
	git_commit_free(tip);
	return r;
}
