/*
 * The pack writer: objects out of the object database into a new pack
 * (git's pack format v2, no deltas), streamed into libgit2's indexer, which
 * re-hashes every object, checks the trailer, writes the index and moves
 * both into objects/pack/ (with GIT_OPT_ENABLE_FSYNC_GITDIR it fsyncs the
 * pack, the index and the directory; a pack it did not commit it removes).
 *
 * Each object is deflated at the repository's zlib level, read like git
 * reads it: pack.compression, else core.compression, else - unlike git's
 * zlib default - 0, stored blocks.  A ledger's files barely compress
 * (base64-heavy signed JSON: 28 %, trees of binary object ids: 20 %), and a
 * full verification inflates every object it reads: stored, inflating is a
 * copy: a full verification of the bench ledger takes about 11 % less CPU,
 * for about 31 % more disk.  Without deltas, a whole-ledger merge takes
 * 3.5 CPU-s where libgit2's packbuilder, searching for deltas, took 28.
 * An operator who prefers small packs sets `git config pack.compression 9`.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <git2.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "ledger/error.h"
#include "store_internal.h"

/* Bytes handed to the indexer at a time. */
#define PACK_CHUNK (64 * 1024)
/* An entry's type-and-size header: 4 bits of size, then 7 per byte. */
#define PACK_ENTRY_HEADER_MAX 10

struct pack_stream {
	const char *pack_dir;
	git_indexer *indexer;
	git_indexer_progress progress;
	EVP_MD_CTX *sha1; /* the trailer: SHA-1 of every byte before it */
	z_stream zs;
	int zs_ready;
	size_t used;
	unsigned char buf[PACK_CHUNK];
};

/* The zlib level of new packs in *out: pack.compression, core.compression or 0. */
static int pack_level(int *out, ledger_repo *repo)
{
	static const char *const keys[] = { "pack.compression", "core.compression" };
	git_config *cfg = NULL;
	int32_t level = 0;
	int r = 0, error;
	size_t i;

	*out = 0;
	if ((error = git_repository_config_snapshot(&cfg, repo->git)) < 0)
		return store_error_git(error, "cannot read the git config of \"%s\"", repo->git_dir);
	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		if ((error = git_config_get_int32(&level, cfg, keys[i])) != GIT_ENOTFOUND)
			break;
	if (error == GIT_ENOTFOUND)
		goto done;
	if (error < 0) {
		r = store_error_git(error, "\"%s\": cannot read %s", repo->git_dir, keys[i]);
		goto done;
	}
	/* As git: -1 is zlib's default level. */
	if (level < Z_DEFAULT_COMPRESSION || level > Z_BEST_COMPRESSION) {
		r = ledger_error_set(LEDGER_EINVALID, "\"%s\": %s %d is not a zlib level (-1 to 9)",
		                     repo->git_dir, keys[i], (int)level);
		goto done;
	}
	*out = level;
done:
	git_config_free(cfg);
	return r;
}

/* Hash and hand the buffered bytes to the indexer. */
static int stream_flush(struct pack_stream *s)
{
	int error;

	if (s->used == 0)
		return 0;
	if (EVP_DigestUpdate(s->sha1, s->buf, s->used) != 1)
		return ledger_error_set(LEDGER_ECRYPTO, "cannot hash the pack for \"%s\"",
		                        s->pack_dir);
	if ((error = git_indexer_append(s->indexer, s->buf, s->used, &s->progress)) < 0)
		return store_error_git(error, "cannot write a pack into \"%s\"", s->pack_dir);
	s->used = 0;
	return 0;
}

static int stream_put(struct pack_stream *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	int r;

	while (len > 0) {
		size_t n = sizeof(s->buf) - s->used;

		if (n == 0) {
			if ((r = stream_flush(s)) < 0)
				return r;
			continue;
		}
		if (n > len)
			n = len;
		memcpy(s->buf + s->used, p, n);
		s->used += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* An entry's header: its type, then its inflated size, 4 bits and then 7 a byte. */
static size_t entry_header(unsigned char out[PACK_ENTRY_HEADER_MAX], git_object_t type,
                           uint64_t size)
{
	unsigned char c = (unsigned char)(((unsigned int)type << 4) | (size & 0x0f));
	size_t n = 0;

	for (size >>= 4; size; size >>= 7) {
		out[n++] = c | 0x80;
		c = size & 0x7f;
	}
	out[n++] = c;
	return n;
}

/* One zlib stream of `data`, straight into the buffer. */
static int stream_deflate(struct pack_stream *s, const void *data, size_t len)
{
	int zr, r;

	if (deflateReset(&s->zs) != Z_OK)
		return ledger_error_set(LEDGER_ERROR, "cannot deflate an object for \"%s\"",
		                        s->pack_dir);
	s->zs.next_in = data;
	do {
		if (s->zs.avail_in == 0) {
			uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;

			s->zs.avail_in = n;
			len -= n;
		}
		if (s->used == sizeof(s->buf) && (r = stream_flush(s)) < 0)
			return r;
		s->zs.next_out = s->buf + s->used;
		s->zs.avail_out = (uInt)(sizeof(s->buf) - s->used);
		zr = deflate(&s->zs, len ? Z_NO_FLUSH : Z_FINISH);
		s->used = sizeof(s->buf) - s->zs.avail_out;
	} while (zr == Z_OK);
	if (zr != Z_STREAM_END)
		return ledger_error_set(LEDGER_ERROR, "cannot deflate an object for \"%s\": %s",
		                        s->pack_dir, s->zs.msg ? s->zs.msg : "zlib error");
	return 0;
}

static int stream_object(struct pack_stream *s, git_odb *odb, const git_oid *id)
{
	unsigned char header[PACK_ENTRY_HEADER_MAX];
	char hex[GIT_OID_HEXSZ + 1];
	git_odb_object *obj = NULL;
	int r, error;

	if ((error = git_odb_read(&obj, odb, id)) < 0)
		return store_error_git(error, "cannot read object %s for a pack in \"%s\"",
		                       git_oid_tostr(hex, sizeof(hex), id), s->pack_dir);
	if ((r = stream_put(s, header, entry_header(header, git_odb_object_type(obj),
	                                             git_odb_object_size(obj)))) == 0)
		r = stream_deflate(s, git_odb_object_data(obj), git_odb_object_size(obj));
	git_odb_object_free(obj);
	return r;
}

struct id_at {
	git_oid id;
	size_t at;
};

static int id_at_cmp(const void *a, const void *b)
{
	const struct id_at *x = a, *y = b;
	int c = git_oid_cmp(&x->id, &y->id);

	return c ? c : (x->at > y->at) - (x->at < y->at);
}

/*
 * Which of `ids` are written (*out_skip[i] set for every repeat of an id
 * earlier in the list), and how many in *out_unique.  The order of the list
 * is kept: the pack holds objects as they came (an append's, or pack after
 * pack in a merge), so readers find them near each other.
 */
static int unique_ids(unsigned char **out_skip, size_t *out_unique, const git_oid *ids,
                      size_t count)
{
	struct id_at *sorted = NULL;
	unsigned char *skip;
	size_t unique = count;

	*out_skip = NULL;
	*out_unique = 0;
	if (!(skip = calloc(count ? count : 1, 1)) ||
	    (count && !(sorted = malloc(count * sizeof(*sorted))))) {
		free(skip);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		git_oid_cpy(&sorted[i].id, &ids[i]);
		sorted[i].at = i;
	}
	if (count > 1)
		qsort(sorted, count, sizeof(*sorted), id_at_cmp);
	for (size_t i = 1; i < count; i++) {
		if (git_oid_equal(&sorted[i].id, &sorted[i - 1].id)) {
			skip[sorted[i].at] = 1;
			unique--;
		}
	}
	free(sorted);
	*out_skip = skip;
	*out_unique = unique;
	return 0;
}

static void put_be32(unsigned char out[4], uint32_t v)
{
	out[0] = (unsigned char)(v >> 24);
	out[1] = (unsigned char)(v >> 16);
	out[2] = (unsigned char)(v >> 8);
	out[3] = (unsigned char)v;
}

int store_pack_stream(char **out_name, ledger_repo *repo, const char *pack_dir,
                      const git_oid *ids, size_t count)
{
	struct pack_stream *s = NULL;
	unsigned char header[12] = { 'P', 'A', 'C', 'K' }, trailer[EVP_MAX_MD_SIZE];
	unsigned char *skip = NULL;
	unsigned int trailer_len = 0;
	size_t unique = 0;
	git_odb *odb = NULL;
	const char *name;
	int level, r, error;

	*out_name = NULL;
	if ((r = pack_level(&level, repo)) < 0 ||
	    (r = unique_ids(&skip, &unique, ids, count)) < 0)
		goto done;
	if (unique > UINT32_MAX) {
		r = ledger_error_set(LEDGER_ELIMIT, "\"%s\": %zu objects do not fit in one pack",
		                     pack_dir, unique);
		goto done;
	}
	if (!(s = calloc(1, sizeof(*s))) || !(s->sha1 = EVP_MD_CTX_new())) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	s->pack_dir = pack_dir;
	if (EVP_DigestInit_ex(s->sha1, EVP_sha1(), NULL) != 1) {
		r = ledger_error_set(LEDGER_ECRYPTO, "cannot hash the pack for \"%s\"", pack_dir);
		goto done;
	}
	if (deflateInit(&s->zs, level) != Z_OK) {
		r = ledger_error_set(LEDGER_ENOMEM, "cannot start zlib for \"%s\"", pack_dir);
		goto done;
	}
	s->zs_ready = 1;
	if ((error = git_repository_odb(&odb, repo->git)) < 0 ||
	    (error = git_indexer_new(&s->indexer, pack_dir, 0, odb, NULL)) < 0) {
		r = store_error_git(error, "cannot start a pack in \"%s\"", pack_dir);
		goto done;
	}
	put_be32(header + 4, 2);
	put_be32(header + 8, (uint32_t)unique);
	if ((r = stream_put(s, header, sizeof(header))) < 0)
		goto done;
	for (size_t i = 0; i < count; i++)
		if (!skip[i] && (r = stream_object(s, odb, &ids[i])) < 0)
			goto done;
	if ((r = stream_flush(s)) < 0)
		goto done;
	if (EVP_DigestFinal_ex(s->sha1, trailer, &trailer_len) != 1) {
		r = ledger_error_set(LEDGER_ECRYPTO, "cannot hash the pack for \"%s\"", pack_dir);
		goto done;
	}
	if ((error = git_indexer_append(s->indexer, trailer, trailer_len, &s->progress)) < 0 ||
	    (error = git_indexer_commit(s->indexer, &s->progress)) < 0) {
		r = store_error_git(error, "cannot write a pack into \"%s\"", pack_dir);
		goto done;
	}
	if (!(name = git_indexer_name(s->indexer)) || asprintf(out_name, "pack-%s", name) < 0) {
		*out_name = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	r = 0;
done:
	if (s) {
		/* An indexer that did not commit removes its temporary pack. */
		git_indexer_free(s->indexer);
		if (s->zs_ready)
			deflateEnd(&s->zs);
		EVP_MD_CTX_free(s->sha1);
		free(s);
	}
	git_odb_free(odb);
	free(skip);
	return r;
}
