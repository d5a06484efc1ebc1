/*
 * What verify.c, trust.c, report.c and verify_cache.c share: the per-record
 * entries, the ledger state and the report.
 */
#ifndef LEDGER_STATE_INTERNAL_H
#define LEDGER_STATE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ledger/record.h"
#include "ledger/schema.h"
#include "ledger/store.h"
#include "ledger/trust.h"
#include "ledger/verify.h"
#include "idmap.h"

typedef enum { SIG_UNCHECKED = 0, SIG_OK = 1, SIG_BAD = 2 } sig_state;

/* What the policy engine needs of a record, taken while it is verified (policy.c). */
typedef struct policy_feed policy_feed;

/* One record file and what is known of it. */
typedef struct {
	char *path;
	uint8_t id[32];
	int has_id;            /* the path named an id, or the content parsed */
	/* A failure of the content checks (pure functions of the bytes), else NULL. */
	const char *fail_code;
	const char *fail_rule;
	char *fail_message;
	/* Summary of R, valid when fail_code is NULL (and for schema failures). */
	char type[33];
	char *author;
	uint8_t kid[32];
	int64_t seq;
	uint8_t prev[32];
	int has_prev;
	int64_t time;
	uint8_t incident[32];
	int has_incident;
	uint8_t (*refs)[32];
	size_t nrefs;
	sig_state sig;
	uint8_t sig_bytes[64];
	char *canonical;       /* JCS(R) until the signature is checked */
	size_t canonical_len;
	ledger_record *trust;  /* parsed root, principal and revocation records */
	int cached;            /* came from the verification cache: 1 + its sig state then */
	int borrowed;          /* path, author and refs are the state's (cache_arena), not freed */
	size_t rank;           /* place in path order while the files are gathered */
	policy_feed *feed;     /* when the caller will judge the ledger (ledger_state.policy_feed) */
} entry;

typedef struct {
	uint8_t kid[32];
	uint8_t pub[32];
	const char *principal; /* borrowed from the source record */
	const char *x25519;    /* its sealing key, base64 (borrowed; NULL: none) */
	unsigned int roles;
	int64_t from, until;
	size_t source;         /* entry index of the principal or root record */
	const char *binder;    /* author of the source record */
	size_t next;           /* next binding of the same kid, or SIZE_MAX */
} binding;

typedef struct {
	uint8_t kid[32];
	int64_t effective;     /* INT64_MAX: by seq only */
	int64_t last_good_seq; /* -1: none */
	size_t source;         /* entry index, SIZE_MAX for an equivocation */
} revocation;

struct ledger_report {
	ledger_finding *items;
	size_t count, capacity;
	ledger_report_stats stats;
};

struct ledger_state {
	ledger_repo *repo;
	entry *entries;
	size_t count, capacity;
	idmap by_id;           /* record id -> entry (the one at its own path) */
	idmap pubs;            /* kid -> index into pub_table */
	uint8_t (*pub_table)[32];
	ledger_pubkey **pub_objects; /* per pub_table slot; NULL for a key that fails its check */
	size_t npubs;
	binding *bindings;
	size_t nbindings;
	idmap first_binding;   /* kid -> first binding index */
	revocation *revocations;
	size_t nrevocations;
	size_t *roots;         /* entry indexes of the root chain, oldest first */
	size_t nroots;
	uint8_t *invalid;      /* per entry: judged invalid */
	uint8_t *pending;      /* per entry: waiting */
	size_t *chain;         /* trust_judge's: the chain records in (kid, seq, id) order */
	size_t nchain;
	size_t nfailed;        /* entries that failed their content checks */
	ledger_report *report;
	ledger_schemas *schemas;   /* NULL when the schema files were not found */
	int policy_feed;       /* keep each record's policy summary (entry.feed) as it is checked */
	char root_id[LEDGER_HEX_ID_LEN + 1];
	char tip[LEDGER_OID_HEX_LEN + 1];
	/* verify_cache.c: the cache file as loaded, so that a save can append to it. */
	char cache_tip[LEDGER_OID_HEX_LEN + 1]; /* the commit it vouched for */
	size_t cache_count;    /* entries [0, cache_count) came from it */
	off_t cache_end;       /* its length up to the last whole segment */
	dev_t cache_dev;
	ino_t cache_ino;
	unsigned int cache_segments;
	struct cache_block *cache_arena; /* what cached entries borrow, in large blocks */
};

/* report.c */
int report_new(ledger_report **out);
int report_add(ledger_report *report, ledger_severity severity, const char *code,
               const char *rule, const char *id, const char *path, const char *commit,
               const char *fmt, ...) __attribute__((format(printf, 8, 9)));
int report_addv(ledger_report *report, ledger_severity severity, const char *code,
                const char *rule, const char *id, const char *path, const char *commit,
                const char *fmt, va_list ap) __attribute__((format(printf, 8, 0)));
/* A copy of finding `f`, naming `commit` (which may be f->commit, or NULL) instead of its own. */
int report_add_copy(ledger_report *report, const ledger_finding *f, const char *commit);
/* Drop the findings after the first `count`. */
void report_truncate(ledger_report *report, size_t count);
void report_sort(ledger_report *report);

/*
 * receive.c: ledger_report_refusals; without `conflicts`, the tree of
 * base is not compared with the tip's, for a tip known to hold every file
 * of base as it is (a union merge on base: it refuses two contents at one
 * path itself).
 */
int report_refusals(ledger_report **out, ledger_repo *repo, const ledger_report *report,
                    const char *base, int conflicts);
/*
 * receive.c: LEDGER_EINVALID for work refused by `refused` (not empty),
 * "<what> refused: " and its first finding by the record, else the commit,
 * else the file it names; with `count_rest`, how many more findings follow.
 * `fmt` and its arguments give <what>, e.g. "remote \"origin\"".
 */
int report_refusal_error(const ledger_report *refused, int count_rest, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* trust.c: judge every entry (keys, chains, references); fills state->report. */
int trust_judge(ledger_state *state);
/*
 * trust.c: the findings trust_judge would make about `cands` (records to
 * be appended together) as more entries of `state` (trust_judge'd
 * already), in a new report: 1; or 0 when only judging the whole ledger
 * with them answers (a trust record, a key and seq or an id the ledger or
 * the batch has, a revoked key).  Only reads the state.
 */
int trust_judge_candidates(ledger_report **out, const ledger_state *state, const entry *cands,
                           size_t ncands);
/* Index the Ed25519 key of every root and principal body by kid (idempotent). */
int trust_collect_keys(ledger_state *state);
/* The same over entries [first, count) alone, when those before have had theirs collected. */
int trust_collect_keys_from(ledger_state *state, size_t first);
/* 1 and the key when some root or principal record carries key `kid`, else 0. */
int trust_public_key(const ledger_state *state, const uint8_t kid[32], uint8_t pub[32]);
/*
 * After trust_judge: into `out` (initialised), each key an accepted
 * revocation revokes as compromised, whatever its effective time or
 * last_good_seq, with that revocation's entry index.  0, or LEDGER_ENOMEM.
 */
int trust_compromised_keys(idmap *out, const ledger_state *state);
/* The checked key object for `kid`, or NULL when unknown or unusable. */
const ledger_pubkey *trust_pubkey(const ledger_state *state, const uint8_t kid[32]);
void entry_release(entry *e);
int entry_is_trust_type(const char *type);
/* Fill e's summary from a parsed record. */
int entry_fill(entry *e, const ledger_record *rec);

/*
 * policy.c, called by the content check of every record (on any thread)
 * when st->policy_feed: the summary the policy engine judges e by, so that
 * it reads and parses no record file again.  Out of memory leaves e->feed
 * NULL (the engine then reads the files).
 */
void policy_feed_record(const ledger_state *st, entry *e, const ledger_record *rec);
/* Free a summary of policy_feed_record's (NULL: nothing). */
void policy_feed_free(policy_feed *f);

/* verify.c: room for `capacity` entries in all; 0, or LEDGER_ENOMEM. */
int state_reserve_entries(ledger_state *state, size_t capacity);

/* verify_cache.c */
/*
 * Fails (non-zero) unless the cache was written for this root; whether its
 * records had their schemas checked into *schemas_checked (the caller
 * refuses a cache without, whenever they are available now).
 */
int cache_load(ledger_state *state, char tip[LEDGER_OID_HEX_LEN + 1], const char *root_id,
               int *schemas_checked);
int cache_save(const ledger_state *state);
/* Free what cached entries borrow (after them: entry_release leaves it). */
void cache_release(ledger_state *state);

#endif
