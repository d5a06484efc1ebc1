/* Commit signatures: the gpgsig header of each commit, for the verifier to check. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "ledger/error.h"
#include "store_internal.h"

static int prefixed(const char *line, const char *end, const char *prefix)
{
	size_t n = strlen(prefix);

	return (size_t)(end - line) >= n && !memcmp(line, prefix, n);
}

/*
 * Split commit object buf/len as git does (parse_buffer_signed_by_header):
 * the "gpgsig " header and the lines continuing it (each starting with a
 * space, which is dropped) are the signature, joined by newlines as
 * libgit2 hands it out; the rest of the object, less any other hash's
 * "gpgsig-..." header, is the signed data.  Only the headers are searched,
 * up to the empty line before the message.  Bounded by len: object data
 * need not end in a NUL (libgit2's in-memory backend hands it out without
 * one).  Returns 1 with *armour and *data (malloc'd) set, 0 for an unsigned
 * commit, <0 for a malformed one.
 */
static int sig_split(char **armour, char **data, size_t *data_len, const char *buf, size_t len,
                     const char *hex)
{
	enum { PLAIN, SIG, OTHER } in = PLAIN;
	const char *end = buf + len, *line, *eol;
	char *a = NULL, *d = NULL;
	size_t an = 0, dn = 0;
	int seen = 0, r;

	*armour = *data = NULL;
	*data_len = 0;
	if (!(a = malloc(len + 1)) || !(d = malloc(len + 1))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	for (line = buf; line < end; line = eol + 1) {
		if (*line == '\n' || !(eol = memchr(line, '\n', end - line))) {
			/* The message, or a last header line without its newline. */
			if (line[0] != '\n' && (prefixed(line, end, "gpgsig") || (in && line[0] == ' '))) {
				r = ledger_error_set(LEDGER_EINVALID,
				                     "commit %s: truncated gpgsig header", hex);
				goto done;
			}
			memcpy(d + dn, line, end - line);
			dn += end - line;
			break;
		}
		if (prefixed(line, end, "gpgsig ")) {
			if (seen) {
				/* git would take the two as one signature: refuse the ambiguity */
				r = ledger_error_set(LEDGER_EINVALID,
				                     "commit %s: more than one gpgsig header", hex);
				goto done;
			}
			in = SIG;
			seen = 1;
			line += strlen("gpgsig ");
		} else if (prefixed(line, end, "gpgsig")) {
			in = OTHER; /* another hash's signature: neither signs nor is signed */
			continue;
		} else if (in && line[0] == ' ') {
			if (in == OTHER)
				continue;
			a[an++] = '\n';
			line++;
		} else {
			in = PLAIN;
			memcpy(d + dn, line, eol + 1 - line);
			dn += eol + 1 - line;
			continue;
		}
		memcpy(a + an, line, eol - line);
		an += eol - line;
	}
	if (seen) {
		a[an] = '\0';
		*armour = a;
		*data = d;
		*data_len = dn;
		a = d = NULL;
	}
	r = seen;
done:
	free(a);
	free(d);
	return r;
}

int ledger_repo_foreach_commit_signature(ledger_repo *repo, const char *from, const char *to,
                                         ledger_commit_signature_cb cb, void *payload)
{
	git_commit *tip = NULL, *base = NULL;
	git_revwalk *walk = NULL;
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	char *armour = NULL, *data = NULL;
	size_t len;
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
		const char *buf;

		git_oid_tostr(hex, sizeof(hex), &id);
		git_odb_object_free(obj);
		obj = NULL;
		if ((g = git_odb_read(&obj, odb, &id)) < 0) {
			r = store_error_git(g, "cannot read commit %s", hex);
			goto done;
		}
		/*
		 * Not git_commit_extract_signature: libgit2 1.5's scans the object
		 * with strchr/strlen, and a commit an append wrote can still be in
		 * the odb's cache as its in-memory backend read it, unterminated.
		 */
		buf = git_odb_object_data(obj);
		if ((r = sig_split(&armour, &data, &len, buf, git_odb_object_size(obj), hex)) < 0)
			goto done;
		if (r == 0) /* unsigned: hand over the whole commit object */
			r = cb(hex, NULL, buf, git_odb_object_size(obj), payload);
		else
			r = cb(hex, armour, data, len, payload);
		free(armour);
		free(data);
		armour = data = NULL;
		if (r)
			goto done;
	}
	if (g != GIT_ITEROVER) {
		r = store_error_git(g, "cannot walk the history of \"%s\"", to ? to : "main");
		goto done;
	}
	r = 0;
done:
	free(armour);
	free(data);
	git_odb_object_free(obj);
	git_odb_free(odb);
	git_revwalk_free(walk);
	git_commit_free(base);
	git_commit_free(tip);
	return r;
}
