/*
 * Verification of a whole ledger: records, trust, chains and history, with
 * findings that name the record, the path, the rule and what is wrong.
 */
#ifndef LEDGER_VERIFY_H
#define LEDGER_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "ledger/crypto.h"
#include "ledger/record.h"
#include "ledger/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	LEDGER_SEVERITY_ERROR = 0,   /* the record (or commit) is invalid */
	LEDGER_SEVERITY_WARNING = 1, /* valid, but a human should look */
	LEDGER_SEVERITY_PENDING = 2  /* cannot be judged yet: something it needs has not arrived */
} ledger_severity;

typedef struct {
	const char *code;   /* stable identifier, e.g. "bad-signature" (static string) */
	const char *rule;   /* "FORMAT-2", "FORMAT-3", "FORMAT-4", a DOMAIN.md rule id (static) */
	ledger_severity severity;
	char id[LEDGER_HEX_ID_LEN + 1];       /* record id, "" when not about a record */
	char path[LEDGER_RECORD_PATH_LEN + 8]; /* file path in the tree, "" when none */
	char commit[LEDGER_OID_HEX_LEN + 1];  /* commit, "" when not about one */
	char *message;      /* one line, lowercase, no full stop */
} ledger_finding;

typedef struct ledger_report ledger_report;

size_t ledger_report_count(const ledger_report *report);
const ledger_finding *ledger_report_get(const ledger_report *report, size_t i);
size_t ledger_report_count_severity(const ledger_report *report, ledger_severity severity);

typedef struct {
	size_t records;     /* record files in the tree */
	size_t valid;       /* records judged valid */
	size_t invalid;     /* records with an error finding */
	size_t pending;     /* records waiting for something */
	size_t checked;     /* records whose signature was checked in this run */
	size_t commits;     /* commits whose history was checked in this run */
	char tip[LEDGER_OID_HEX_LEN + 1];
	char root[LEDGER_HEX_ID_LEN + 1];
} ledger_report_stats;

const ledger_report_stats *ledger_report_stats_of(const ledger_report *report);

/* A finding as one JSON object (new reference). */
json_t *ledger_finding_json(const ledger_finding *finding);

void ledger_report_free(ledger_report *report);

/*
 * Progress of a verification, called on the caller's thread: first while the
 * record files are read and their content checked (total is 0: not known
 * yet; done counts files), then while signatures are checked (done of total).
 */
typedef void (*ledger_progress_cb)(size_t done, size_t total, void *payload);

typedef struct {
	unsigned int version;
	/*
	 * Commit the caller trusts as already verified: only records and
	 * commits after it are checked (the trust state still covers the whole
	 * ledger).  NULL: everything, or what the cache vouches for.
	 */
	const char *since;
	int use_cache;        /* read and update the verification cache */
	unsigned int threads; /* 0: one per online core */
	/* Pinned root record id; NULL: the repository's cymat.root, else the LEDGER file (a warning). */
	const char *root;
	ledger_progress_cb progress;
	void *progress_payload;
	/*
	 * Commit to verify instead of the tip of main: a fetched tip, or a
	 * union merge not yet on main.  The cache is read as for main (used
	 * when its commit is an ancestor) and rewritten for this commit.
	 */
	const char *tip;
	/* Read the cache but never rewrite it (a pre-receive hook judging a quarantined push). */
	int cache_readonly;
	/*
	 * Version 2: the caller will judge the state with ledger_policy_evaluate.
	 * Each record checked keeps what the rules need of it (a summary, not
	 * the record), so that the policy pass reads and parses no record file
	 * again.  Costs memory until the policy pass has judged the record (it
	 * frees each summary then: a second pass over the state reads the
	 * files) or the state is freed; ignored with `since`.
	 */
	int policy_feed;
} ledger_verify_options;

#define LEDGER_VERIFY_OPTIONS_VERSION 2
#define LEDGER_VERIFY_OPTIONS_INIT { LEDGER_VERIFY_OPTIONS_VERSION, NULL, 1, 0, NULL, NULL, NULL, NULL, 0, 0 }

#ifdef __cplusplus
}
#endif

#endif
