/*
 * Bundles: a ledger carried by hand (FORMAT.md section 4), as a git bundle
 * version 2 that stock `git bundle verify` and `git clone` read.
 */
#ifndef LEDGER_BUNDLE_H
#define LEDGER_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include "ledger/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Progress of a bundle operation, on the caller's thread: `stage` names the
 * step ("counting objects", "compressing objects", "writing", ...), `total`
 * is 0 when not known.
 */
typedef void (*ledger_bundle_progress_cb)(const char *stage, uint64_t done, uint64_t total,
                                          void *payload);

/* What a bundle holds. */
typedef struct {
	char tip[LEDGER_OID_HEX_LEN + 1];   /* its refs/heads/main */
	char since[LEDGER_OID_HEX_LEN + 1]; /* its prerequisite, "" for a whole ledger */
	size_t commits;                     /* commits in it */
	size_t objects;                     /* objects in its pack */
	uint64_t bytes;                     /* size of the file */
} ledger_bundle_info;

typedef struct {
	unsigned int version;
	/* Leave out what this commit (an ancestor of main) holds; NULL: the whole ledger. */
	const char *since;
	ledger_bundle_progress_cb progress;
	void *progress_payload;
} ledger_bundle_create_options;

#define LEDGER_BUNDLE_CREATE_OPTIONS_VERSION 1
#define LEDGER_BUNDLE_CREATE_OPTIONS_INIT { LEDGER_BUNDLE_CREATE_OPTIONS_VERSION, NULL, NULL, NULL }

/*
 * Write the tip of main as a bundle at `path`: the header names
 * refs/heads/main and HEAD, and `since` as the prerequisite; the pack holds
 * every object of main that `since` lacks.  Atomic and durable: written to
 * a temporary file beside `path`, fsynced and renamed over it, so `path`
 * is either the whole bundle or what it was before.  LEDGER_EINVALID when
 * `since` is not in main's history or main has nothing after it.
 */
int ledger_bundle_create(ledger_bundle_info *out, ledger_repo *repo, const char *path,
                         const ledger_bundle_create_options *opts);

#ifdef __cplusplus
}
#endif

#endif
