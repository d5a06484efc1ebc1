/*
 * Packing: every append leaves a few loose objects (blob, trees, commit);
 * past STORE_PACK_LOOSE_LIMIT of them they go into one pack, and past
 * STORE_PACK_COUNT_LIMIT packs everything is consolidated into one.  Files
 * are only deleted once the pack holding their objects and its index are
 * durable, so a concurrent reader never finds an object missing: libgit2
 * rescans objects/pack/ when a lookup misses.  Callers hold the ledger lock.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "ledger/error.h"
#include "ledger/store.h"
#include "store_internal.h"

struct oid_list {
	git_oid *ids;
	size_t count;
	size_t cap;
};

struct name_list {
	char **names;
	size_t count;
	size_t cap;
};

static int oid_list_add(struct oid_list *l, const git_oid *id)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		git_oid *ids = realloc(l->ids, cap * sizeof(*ids));

		if (!ids)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		l->ids = ids;
		l->cap = cap;
	}
	git_oid_cpy(&l->ids[l->count++], id);
	return 0;
}

static int name_list_add(struct name_list *l, const char *name, size_t len)
{
	char *copy;

	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char **names = realloc(l->names, cap * sizeof(*names));

		if (!names)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		l->names = names;
		l->cap = cap;
	}
	if (!(copy = strndup(name, len)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	l->names[l->count++] = copy;
	return 0;
}

static void name_list_clear(struct name_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->names[i]);
	free(l->names);
	memset(l, 0, sizeof(*l));
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * The loose objects, from objects/[0-9a-f][0-9a-f]/; stops early once there
 * are more than `limit` (0: no limit).
 */
static int loose_list(struct oid_list *out, const char *git_dir, size_t limit)
{
	char dir[PATH_MAX], hex[GIT_OID_HEXSZ + 1];
	struct dirent *de;
	git_oid id;
	DIR *d;
	int r = 0;

	for (unsigned int b = 0; b < 256 && r == 0; b++) {
		if (limit && out->count > limit)
			break;
		snprintf(dir, sizeof(dir), "%s/objects/%02x", git_dir, b);
		if (!(d = opendir(dir))) {
			if (errno == ENOENT)
				continue;
			return ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", dir,
			                        strerror(errno));
		}
		while (r == 0 && (de = readdir(d)) != NULL) {
			if (strlen(de->d_name) != GIT_OID_HEXSZ - 2 ||
			    !is_hex(de->d_name, GIT_OID_HEXSZ - 2))
				continue;
			snprintf(hex, sizeof(hex), "%02x%s", b, de->d_name);
			if (git_oid_fromstr(&id, hex) == 0)
				r = oid_list_add(out, &id);
		}
		closedir(d);
	}
	return r;
}

/* Names ("pack-<hex>") of the packs in objects/pack/. */
static int pack_names(struct name_list *out, const char *pack_dir)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!(d = opendir(pack_dir))) {
		if (errno == ENOENT)
			return 0;
		return ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", pack_dir,
		                        strerror(errno));
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 10 && strncmp(de->d_name, "pack-", 5) == 0 &&
		    strcmp(de->d_name + len - 5, ".pack") == 0)
			r = name_list_add(out, de->d_name, len - 5);
	}
	closedir(d);
	return r;
}

/* Write `ids` as one pack into `pack_dir` and make it durable; its name in *out_name. */
static int pack_write(char **out_name, ledger_repo *repo, const char *pack_dir,
                      const struct oid_list *ids)
{
	git_packbuilder *pb = NULL;
	const char *name;
	int r, error;

	*out_name = NULL;
	if ((error = git_packbuilder_new(&pb, repo->git)) < 0) {
		r = store_error_git(error, "cannot start a pack");
		goto done;
	}
	for (size_t i = 0; i < ids->count; i++) {
		if ((error = git_packbuilder_insert(pb, &ids->ids[i], NULL)) < 0) {
			r = store_error_git(error, "cannot pack an object");
			goto done;
		}
	}
	/* With GIT_OPT_ENABLE_FSYNC_GITDIR the indexer fsyncs the pack, its index and pack/. */
	if ((error = git_packbuilder_write(pb, pack_dir, 0, NULL, NULL)) < 0) {
		r = store_error_git(error, "cannot write a pack into \"%s\"", pack_dir);
		goto done;
	}
	if (!(name = git_packbuilder_name(pb)) || asprintf(out_name, "pack-%s", name) < 0) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	r = store_fsync_path(pack_dir);
done:
	if (r < 0) {
		free(*out_name);
		*out_name = NULL;
	}
	git_packbuilder_free(pb);
	return r;
}

/* Remove the loose files of `ids` (now in a durable pack). */
static void loose_remove(const char *git_dir, const struct oid_list *ids)
{
	char path[PATH_MAX], hex[GIT_OID_HEXSZ + 1];

	for (size_t i = 0; i < ids->count; i++) {
		git_oid_tostr(hex, sizeof(hex), &ids->ids[i]);
		snprintf(path, sizeof(path), "%s/objects/%.2s/%s", git_dir, hex, hex + 2);
		unlink(path);
	}
}

static int collect_oid(const git_oid *id, void *payload)
{
	return oid_list_add(payload, id) < 0 ? GIT_EUSER : 0;
}

/*
 * Consolidate: every object of the repository (loose and packed, reachable
 * or not, so that nothing a concurrent writer has not referenced yet is
 * lost) into one new pack; then the old packs and the loose files go.
 */
static int pack_all(ledger_repo *repo, const char *pack_dir, const struct name_list *old,
                    const struct oid_list *loose)
{
	struct oid_list all = { 0 };
	git_odb *odb = NULL;
	char *name = NULL;
	char path[PATH_MAX];
	int r, error;

	if ((error = git_repository_odb(&odb, repo->git)) < 0 ||
	    (error = git_odb_refresh(odb)) < 0) {
		r = store_error_git(error, "cannot read the object database");
		goto done;
	}
	error = git_odb_foreach(odb, collect_oid, &all);
	if (error == GIT_EUSER) {
		r = LEDGER_ENOMEM;
		goto done;
	}
	if (error < 0) {
		r = store_error_git(error, "cannot list the objects");
		goto done;
	}
	if ((r = pack_write(&name, repo, pack_dir, &all)) < 0)
		goto done;
	loose_remove(repo->git_dir, loose);
	for (size_t i = 0; i < old->count; i++) {
		if (strcmp(old->names[i], name) == 0)
			continue;
		/* libgit2 and git find packs by their index: remove it first. */
		snprintf(path, sizeof(path), "%s/%s.idx", pack_dir, old->names[i]);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.pack", pack_dir, old->names[i]);
		unlink(path);
	}
	r = store_fsync_path(pack_dir);
done:
	free(name);
	free(all.ids);
	git_odb_free(odb);
	return r;
}

int store_pack_locked(ledger_repo *repo)
{
	struct oid_list loose = { 0 };
	struct name_list packs = { 0 };
	char *pack_dir = NULL, *name = NULL;
	int r;

	if (asprintf(&pack_dir, "%s/objects/pack", repo->git_dir) < 0) {
		pack_dir = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = pack_names(&packs, pack_dir)) < 0 || (r = loose_list(&loose, repo->git_dir, 0)) < 0)
		goto done;
	if (packs.count + (loose.count ? 1 : 0) > STORE_PACK_COUNT_LIMIT) {
		r = pack_all(repo, pack_dir, &packs, &loose);
		goto done;
	}
	if (loose.count == 0)
		goto done;
	if ((r = pack_write(&name, repo, pack_dir, &loose)) < 0)
		goto done;
	loose_remove(repo->git_dir, &loose);
done:
	free(name);
	free(loose.ids);
	name_list_clear(&packs);
	free(pack_dir);
	if (r < 0)
		ledger_error_prefix("'%s': cannot pack", repo->git_dir);
	return r;
}

int store_pack_auto(ledger_repo *repo)
{
	struct oid_list loose = { 0 };
	int r;

	r = loose_list(&loose, repo->git_dir, STORE_PACK_LOOSE_LIMIT);
	if (r == 0 && loose.count > STORE_PACK_LOOSE_LIMIT)
		r = store_pack_locked(repo);
	free(loose.ids);
	return r;
}

int ledger_repo_pack(ledger_repo *repo)
{
	int r;

	if ((r = store_lock_acquire(repo)) < 0)
		return r;
	r = store_pack_locked(repo);
	store_lock_release(repo);
	return r;
}
