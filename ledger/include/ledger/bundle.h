/*
 * Bundles: a ledger carried by hand (FORMAT.md section 4), as a git bundle
 * version 2 that stock `git bundle verify` and `git clone` read.
 */
#ifndef LEDGER_BUNDLE_H
#define LEDGER_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include "ledger/store.h"
#include "ledger/verify.h"

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

typedef struct {
	unsigned int version;
	/*
	 * How the merge commit is made when main and the bundle have both
	 * moved on (message, name, email and the node key's signer); NULL:
	 * such an import is refused.
	 */
	const ledger_commit_options *merge;
	ledger_bundle_progress_cb progress;
	void *progress_payload;
} ledger_bundle_import_options;

#define LEDGER_BUNDLE_IMPORT_OPTIONS_VERSION 1
#define LEDGER_BUNDLE_IMPORT_OPTIONS_INIT { LEDGER_BUNDLE_IMPORT_OPTIONS_VERSION, NULL, NULL, NULL }

typedef struct {
	ledger_bundle_info bundle;           /* what the bundle holds (commits: 0, not counted) */
	char before[LEDGER_OID_HEX_LEN + 1]; /* main before the import */
	char after[LEDGER_OID_HEX_LEN + 1];  /* main after it (before, when nothing changed) */
	int up_to_date;                      /* main held the bundle already: nothing changed */
	size_t new_records;                  /* record files main gained */
	/* When verification refused the bundle: the error findings about what it adds. */
	ledger_report *refused;
} ledger_bundle_import_result;

/*
 * Bring the records of the bundle at `path` into main, verifying
 * everything before changing anything.  The header is checked strictly
 * (version 2, refs/heads/main present, every prerequisite in main's
 * history); the pack is indexed and its checksum checked in a quarantine
 * under <git dir>/cymat/, not in the object store; the union of main and
 * the bundle's main is verified there, and any error finding of a FORMAT
 * rule about a record or commit the bundle adds refuses the import
 * (LEDGER_EINVALID, out->refused set).  Only then are the objects moved
 * into the object store, durably, and main moved by compare-and-swap (the
 * union is made again when an append moved main meanwhile).  When main
 * already holds the bundle nothing changes (out->up_to_date).  A refused
 * bundle leaves the refs and the object store as they were.  The caller
 * clears `out` with ledger_bundle_import_result_clear, also on error.
 */
int ledger_bundle_import(ledger_bundle_import_result *out, ledger_repo *repo, const char *path,
                         const ledger_bundle_import_options *opts);

void ledger_bundle_import_result_clear(ledger_bundle_import_result *result);

#ifdef __cplusplus
}
#endif

#endif
