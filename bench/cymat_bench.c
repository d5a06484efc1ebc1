/*
 * cymat-bench: build a realistic ledger with the library and measure what
 * the targets name (full and incremental verification against the raw
 * Ed25519 rate, peak memory; the policy pass and incremental judging
 * against verification), plus append rates and git fsck.  Prints a table;
 * a benchmark, not a test.
 *
 * The parent process stays small: every measured step runs in a forked
 * child that sends its numbers back through a pipe, so each step's peak
 * memory is its own (wait4's rusage).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "ledger/json.h"
#include "ledger/policy.h"
#include "ledger/record.h"
#include "ledger/schema.h"
#include "ledger/sshsig.h"
#include "ledger/store.h"
#include "ledger/trust.h"
#include "ledger/verify.h"

#include "bench.h"

#ifndef BENCH_CYMAT
#define BENCH_CYMAT "cymat"
#endif
#ifndef BENCH_SCHEMAS_DIR
#define BENCH_SCHEMAS_DIR NULL
#endif

static const char usage_text[] =
	"usage: cymat-bench [--records N] [--batch N] [--incremental N] [--appends N]\n"
	"                   [--keep DIR] [--gen-dir DIR | --in-place] [--profile] [--json]\n"
	"                   [--cymat PATH] [--reuse DIR] [--sync N]\n"
	"\n"
	"Build a ledger of N records (default 100000) with the library, appending\n"
	"them BATCH (default 1000) to a commit, then measure: batch and one-record\n"
	"(`cymat append`, APPENDS runs, default 200) append rates, full and\n"
	"incremental (INCREMENTAL new records, default 1000) verification, the\n"
	"policy pass (every rule over every record) and judging after the new\n"
	"records, the raw single-core Ed25519 verify rate, `git fsck --strict` and\n"
	"peak memory.\n"
	"Prints a table of measurement, value, target and verdict.\n"
	"\n"
	"  --keep DIR    work in DIR (must not exist) and keep the ledger there\n"
	"  --gen-dir DIR build the ledger in DIR (default /dev/shm), then copy it to\n"
	"                the work directory: every object appended is fsync'd, which\n"
	"                on a disk makes the bulk generation take far too long; the\n"
	"                durable append rates are measured on the copy\n"
	"  --in-place    build the ledger in the work directory itself\n"
	"  --profile     also time the phases of verification one by one (one core)\n"
	"  --json        print the results as JSON instead of a table\n"
	"  --cymat PATH  the cymat command to run (default: the built one)\n"
	"  --reuse DIR   measure the ledger an earlier --keep DIR run left instead of\n"
	"                building one (each run adds INCREMENTAL + APPENDS records)\n"
	"  --sync N      instead of the above, one sync cycle (make bench-sync): the\n"
	"                ledger is NISC's master under git daemon on 127.0.0.1 and,\n"
	"                copied, an agency's (cache filled, 10 records of its own);\n"
	"                the master gains N records; the agency syncs (fetch, verify,\n"
	"                merge, push to its inbox), stock `git fetch` takes the same\n"
	"                objects into a plain copy and OpenSSL verifies the N\n"
	"                signatures alone (the floor); target: the cycle within\n"
	"                1.5 x (git fetch + floor), wall time\n";

/* --- the measurements (each runs in a child) ------------------------------ */

typedef struct {
	double seconds;
	double cpu;      /* CPU seconds of the load, all threads */
	ledger_report_stats stats;
	size_t errors, warnings, pending;
	char diag[1024]; /* the first findings, when there are errors */
} verify_result;

static void verify_fill(verify_result *res, const ledger_state *st, double seconds, double cpu)
{
	const ledger_report *rep = ledger_state_report(st);
	size_t used = 0;

	res->seconds = seconds;
	res->cpu = cpu;
	res->stats = *ledger_report_stats_of(rep);
	res->errors = ledger_report_count_severity(rep, LEDGER_SEVERITY_ERROR);
	res->warnings = ledger_report_count_severity(rep, LEDGER_SEVERITY_WARNING);
	res->pending = ledger_report_count_severity(rep, LEDGER_SEVERITY_PENDING);
	for (size_t i = 0; i < ledger_report_count(rep) && i < 5; i++) {
		const ledger_finding *f = ledger_report_get(rep, i);
		int n = snprintf(res->diag + used, sizeof(res->diag) - used, "  %s %s %s: %s\n",
		                 f->code, f->rule, f->id, f->message);

		if (n < 0 || (size_t)n >= sizeof(res->diag) - used)
			break;
		used += (size_t)n;
	}
}

/* Step 3: full verification, no cache, every core. */
static int phase_full(const bench *b, void *out)
{
	ledger_repo *repo = NULL;
	ledger_state *st = NULL;
	double t0 = now(), seconds, cpu;

	if (ledger_repo_open(&repo, b->repo) < 0)
		fatal("open \"%s\": %s", b->repo, lib_error());
	timed_load(&st, repo, 0, 0, &cpu);
	seconds = now() - t0; /* opening the repository included, as `cymat verify` does it */
	verify_fill(out, st, seconds, cpu);
	ledger_state_free(st);
	ledger_repo_free(repo);
	return 0;
}

/*
 * What the run that fills the caches hands the incremental one: its
 * timings and each signer's chain tip, which the new records continue.
 */
typedef struct {
	double fill;       /* the first cached verification, which fills its cache */
	double judge_fill; /* CPU seconds of the policy pass that fills its cache */
	int64_t seq[NPEOPLE];
	char prev[NPEOPLE][LEDGER_HEX_ID_LEN + 1];
} caches_result;

/* phase_caches' result in the parent, which phase_incremental's child inherits. */
static caches_result caches;

typedef struct {
	double noop;
	verify_result inc;
	double judge_cpu;  /* judging the ledger with the new records, with the policy cache */
	size_t judged;     /* records that judging judged (the others came from the cache) */
} incremental_result;

/*
 * CPU seconds of ledger_policy_evaluate over st (all threads), with or
 * without the policy cache; the policy into *out.
 */
static double timed_policy(ledger_policy **out, const ledger_state *st, ledger_repo *repo,
                           int use_cache)
{
	ledger_policy_options opts = LEDGER_POLICY_OPTIONS_INIT;
	double c0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);

	opts.use_cache = use_cache;
	if (ledger_policy_evaluate(out, st, repo, &opts) < 0)
		fatal("policy: %s", lib_error());
	return cpu_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

/* Every person's key into s[], kid and all. */
static void load_signers(signer s[NPEOPLE], const bench *b)
{
	for (int i = 0; i < NPEOPLE; i++) {
		ledger_key *key = NULL;
		char *kp = key_path(b->work, i);

		if (ledger_key_load(&key, kp) < 0)
			fatal("%s", lib_error());
		signer_set_key(&s[i], key);
		free(kp);
	}
}

/*
 * Step 4a: the caches as the first cached runs leave them (verification,
 * then a full policy pass that writes its cache), and the chain tips.
 */
static int phase_caches(const bench *b, void *out)
{
	caches_result *res = out;
	signer s[NPEOPLE];
	ledger_repo *repo = NULL;
	ledger_state *st = NULL;
	ledger_policy *pol = NULL;

	memset(s, 0, sizeof(s));
	load_signers(s, b);
	if (ledger_repo_open(&repo, b->repo) < 0)
		fatal("open \"%s\": %s", b->repo, lib_error());
	res->fill = timed_load(&st, repo, 1, 0, NULL);
	for (int i = 0; i < NPEOPLE; i++) {
		ledger_state_chain_tip(&res->seq[i], res->prev[i], st, s[i].kid);
		ledger_key_free(s[i].key);
	}
	res->judge_fill = timed_policy(&pol, st, repo, 1);
	ledger_policy_free(pol);
	ledger_state_free(st);
	ledger_repo_free(repo);
	return 0;
}

/* Step 4b: append the new records as one commit, continuing each signer's chain. */
static int phase_batch_append(const bench *b, void *out)
{
	double *seconds = out, t0;
	ledger_repo *repo = NULL;
	gen g;

	memset(&g, 0, sizeof(g));
	g.rng = 0x2545f4914f6cdd1dULL;
	g.when = b->next_time;
	g.incidents = 7; /* another mix of agencies than the start of the ledger */
	load_signers(g.s, b);
	for (int i = 0; i < NPEOPLE; i++) {
		g.s[i].seq = caches.seq[i];
		memcpy(g.s[i].prev, caches.prev[i], sizeof(g.s[i].prev));
	}
	if (ledger_repo_open(&repo, b->repo) < 0)
		fatal("open \"%s\": %s", b->repo, lib_error());
	t0 = now();
	append_stream(&g, repo, b->incremental, b->incremental);
	*seconds = now() - t0;
	ledger_repo_free(repo);
	gen_release(&g);
	return 0;
}

/*
 * Step 4c, in a process of its own as `cymat verify` after `cymat append`
 * is: verify again with the cache, judge with the policy cache, then a
 * cached verification with nothing new.
 */
static int phase_incremental(const bench *b, void *out)
{
	incremental_result *res = out;
	ledger_repo *repo = NULL;
	ledger_state *st = NULL;
	ledger_policy *pol = NULL;
	double seconds, cpu;

	if (ledger_repo_open(&repo, b->repo) < 0)
		fatal("open \"%s\": %s", b->repo, lib_error());
	seconds = timed_load(&st, repo, 1, 0, &cpu);
	verify_fill(&res->inc, st, seconds, cpu);
	res->judge_cpu = timed_policy(&pol, st, repo, 1);
	res->judged = ledger_policy_judged(pol);
	ledger_policy_free(pol);
	ledger_state_free(st);
	/* Nothing new: what every cached run pays whatever it finds (cache read and write, trust). */
	res->noop = timed_load(&st, repo, 1, 0, NULL);
	ledger_state_free(st);
	ledger_repo_free(repo);
	return 0;
}

typedef struct {
	double verify_cpu, policy_cpu, policy_wall;
	double fed_cpu;   /* the same verification keeping the records' policy summaries (least of 2) */
	double bare_cpu;  /* without them, least of verify_cpu's run and one more */
	double feed_cpu;  /* what the summaries add: charged to the policy pass */
	size_t judged, valid, errors, warnings, pending;
} policy_result;

/* CPU seconds of a full verification without cache, keeping the policy summaries or not. */
static double load_cpu(ledger_state **out, ledger_repo *repo, int feed)
{
	ledger_verify_options opts = LEDGER_VERIFY_OPTIONS_INIT;
	double c0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);

	opts.use_cache = 0;
	opts.policy_feed = feed;
	if (ledger_state_load(out, repo, &opts) < 0)
		fatal("verify: %s", lib_error());
	return cpu_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

/*
 * Step 3b: what the summaries verification keeps when asked
 * (ledger_verify_options.policy_feed) cost it: verification with them
 * minus verification without, each the least of two runs (the difference
 * of two ~16 CPU-s figures is noisy), never less than 0.  Three runs here,
 * interleaved: without, with, without; phase_policy's is the second with.
 */
static int phase_feed_cost(const bench *b, void *out)
{
	policy_result *res = out;
	ledger_repo *repo = NULL;
	ledger_state *st = NULL;
	double bare;

	if (ledger_repo_open(&repo, b->repo) < 0)
		fatal("open \"%s\": %s", b->repo, lib_error());
	timed_load(&st, repo, 0, 0, &res->verify_cpu);
	ledger_state_free(st);
	res->fed_cpu = load_cpu(&st, repo, 1);
	ledger_state_free(st);
	bare = load_cpu(&st, repo, 0);
	ledger_state_free(st);
	res->bare_cpu = bare < res->verify_cpu ? bare : res->verify_cpu;
	ledger_repo_free(repo);
	return 0;
}

/*
 * Step 3c, in a process of its own as `cymat findings` without caches is:
 * full verification keeping the summaries, then every rule over every
 * valid record (issue 3).  The verification's CPU time goes to fed_cpu.
 */
static int phase_policy(const bench *b, void *out)
{
	policy_result *res = out;
	ledger_repo *repo = NULL;
	ledger_state *st = NULL;
	ledger_policy *pol = NULL;
	const ledger_report *rep;
	const ledger_report_stats *stats;
	double t0;

	if (ledger_repo_open(&repo, b->repo) < 0)
		fatal("open \"%s\": %s", b->repo, lib_error());
	res->fed_cpu = load_cpu(&st, repo, 1);
	t0 = now();
	res->policy_cpu = timed_policy(&pol, st, repo, 0);
	res->policy_wall = now() - t0;
	rep = ledger_policy_report(pol);
	stats = ledger_report_stats_of(ledger_state_report(st));
	res->judged = stats->valid;
	res->errors = ledger_report_count_severity(rep, LEDGER_SEVERITY_ERROR);
	res->warnings = ledger_report_count_severity(rep, LEDGER_SEVERITY_WARNING);
	res->pending = ledger_report_count_severity(rep, LEDGER_SEVERITY_PENDING);
	ledger_policy_free(pol);
	ledger_state_free(st);
	ledger_repo_free(repo);
	return 0;
}

typedef struct {
	double raw_rate, lib_rate; /* per wall second */
	double raw_cpu_rate;       /* per CPU second */
	size_t msg_len;
} raw_result;

/* Step 5: single-core Ed25519 verifications per second, OpenSSL alone and through the library. */
static int phase_raw(const bench *b, void *out)
{
	enum { RAW_SIGS = 20000, RAW_KEYS = 20 };
	raw_result *res = out;
	EVP_PKEY *keys[RAW_KEYS], *pubs[RAW_KEYS];
	uint8_t raw[RAW_KEYS][32], *msgs, (*sigs)[64];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t len = b->record_bytes ? b->record_bytes : 700, done, siglen;
	double t0, c0, elapsed;

	if (!ctx)
		fatal("out of memory");
	msgs = xcalloc(RAW_SIGS, len);
	sigs = xcalloc(RAW_SIGS, sizeof(*sigs));
	for (int k = 0; k < RAW_KEYS; k++) {
		size_t rawlen = 32;

		keys[k] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		if (!keys[k] || EVP_PKEY_get_raw_public_key(keys[k], raw[k], &rawlen) != 1)
			fatal("ed25519 key generation failed");
		pubs[k] = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw[k], 32);
		if (!pubs[k])
			fatal("ed25519 public key failed");
	}
	for (size_t i = 0; i < RAW_SIGS; i++) {
		uint8_t *m = msgs + i * len;

		for (size_t j = 0; j < len; j++)
			m[j] = (uint8_t)(' ' + (i * 31 + j * 7) % 90);
		siglen = 64;
		if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, keys[i % RAW_KEYS]) != 1 ||
		    EVP_DigestSign(ctx, sigs[i], &siglen, m, len) != 1)
			fatal("ed25519 signing failed");
		EVP_MD_CTX_reset(ctx);
	}

	done = 0;
	t0 = now();
	c0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	do {
		for (size_t i = 0; i < RAW_SIGS; i++, done++) {
			if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pubs[i % RAW_KEYS]) != 1 ||
			    EVP_DigestVerify(ctx, sigs[i], 64, msgs + i * len, len) != 1)
				fatal("ed25519 verification failed");
			EVP_MD_CTX_reset(ctx);
		}
	} while ((elapsed = now() - t0) < 1.0);
	res->raw_rate = (double)done / elapsed;
	res->raw_cpu_rate = (double)done / (cpu_now(CLOCK_THREAD_CPUTIME_ID) - c0);

	done = 0;
	t0 = now();
	do {
		for (size_t i = 0; i < RAW_SIGS; i++, done++)
			if (ledger_ed25519_verify(raw[i % RAW_KEYS], msgs + i * len, len, sigs[i], 64) < 0)
				fatal("ledger_ed25519_verify: %s", lib_error());
	} while ((elapsed = now() - t0) < 1.0);
	res->lib_rate = (double)done / elapsed;
	res->msg_len = len;

	for (int k = 0; k < RAW_KEYS; k++) {
		EVP_PKEY_free(keys[k]);
		EVP_PKEY_free(pubs[k]);
	}
	EVP_MD_CTX_free(ctx);
	free(msgs);
	free(sigs);
	return 0;
}

/* --- the phase breakdown (--profile) ------------------------------------ */

enum {
	P_READ, P_JSON, P_RECORD_PARSE, P_JCS, P_SHA, P_SCHEMA, P_PUBCHECK, P_SIG, P_HISTORY,
	P_COUNT, P_LOAD1, P_LOADN, P_NOOP, P_N
};

static const char *const phase_names[P_N] = {
	[P_READ] = "read blobs: ledger_repo_foreach_record",
	[P_JSON] = "  ledger_json_parse (+ decref) of the file alone",
	[P_RECORD_PARSE] = "ledger_record_parse (JSON, JCS check, base64, id)",
	[P_JCS] = "  ledger_jcs of R alone",
	[P_SHA] = "  ledger_sha256 of JCS(R) alone",
	[P_SCHEMA] = "schema validation: ledger_schemas_validate",
	[P_PUBCHECK] = "  ledger_ed25519_public_check alone",
	[P_SIG] = "signature: ledger_record_verify_signature",
	[P_HISTORY] = "history: ledger_repo_check_history",
	[P_COUNT] = "history: ledger_repo_count_commits",
	[P_LOAD1] = "ledger_state_load, 1 thread, no cache",
	[P_LOADN] = "ledger_state_load, all cores, no cache",
	[P_NOOP] = "ledger_state_load, cache, nothing new",
};

typedef struct {
	double t[P_N];    /* CPU seconds */
	double wall[P_N]; /* wall seconds, for the whole loads */
	size_t records;
	double other; /* load(1 thread) minus the phases it is made of */
} profile_result;

typedef struct {
	char **data;
	size_t *len;
	size_t count, cap;
} blobs;

static int collect_blob(const char *path, const char *data, size_t len, void *payload)
{
	blobs *bl = payload;

	(void)path;
	if (bl->count == bl->cap) {
		size_t cap = bl->cap ? 2 * bl->cap : 4096;
		char **d = realloc(bl->data, cap * sizeof(*d));
		size_t *l;

		if (!d)
			return -1;
		bl->data = d;
		l = realloc(bl->len, cap * sizeof(*l));
		if (!l)
			return -1;
		bl->len = l;
		bl->cap = cap;
	}
	bl->data[bl->count] = malloc(len + 1);
	if (!bl->data[bl->count])
		return -1;
	memcpy(bl->data[bl->count], data, len);
	bl->len[bl->count++] = len;
	return 0;
}

static int count_change(const char *commit, ledger_change_kind kind, const char *path,
                        void *payload)
{
	(void)commit;
	(void)kind;
	(void)path;
	(*(size_t *)payload)++;
	return 0;
}

#define PROFILE_CHUNK 1000

static int phase_profile(const bench *b, void *out)
{
	profile_result *res = out;
	ledger_repo *repo = NULL;
	ledger_schemas *schemas = NULL;
	ledger_state *st = NULL;
	signer s[NPEOPLE];
	ledger_record *recs[PROFILE_CHUNK];
	const uint8_t *pubs[PROFILE_CHUNK];
	blobs bl;
	size_t changes = 0, ncommits = 0;
	double t0, t1;

	memset(&bl, 0, sizeof(bl));
	memset(s, 0, sizeof(s));
	for (int i = 0; i < NPEOPLE; i++) {
		ledger_key *key = NULL;
		char *kp = key_path(b->work, i);

		if (ledger_key_load(&key, kp) < 0)
			fatal("%s", lib_error());
		signer_set_key(&s[i], key);
		free(kp);
	}
	if (ledger_repo_open(&repo, b->repo) < 0)
		fatal("open \"%s\": %s", b->repo, lib_error());
	if (ledger_schemas_load(&schemas, NULL) < 0)
		fatal("schemas: %s", lib_error());

	t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	if (ledger_repo_foreach_record(repo, NULL, collect_blob, &bl) != 0)
		fatal("reading the records: %s", lib_error());
	res->t[P_READ] = cpu_now(CLOCK_THREAD_CPUTIME_ID) - t0;
	res->records = bl.count;

	/*
	 * Each step over every file, timed in chunks of PROFILE_CHUNK records: a
	 * CPU clock read costs a system call, too much to take around each call.
	 */
	t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	for (size_t i = 0; i < bl.count; i++) {
		json_t *v = NULL;

		if (ledger_json_parse(&v, bl.data[i], bl.len[i], NULL) < 0)
			fatal("json: %s", lib_error());
		json_decref(v);
	}
	res->t[P_JSON] = cpu_now(CLOCK_THREAD_CPUTIME_ID) - t0;
	for (size_t first = 0; first < bl.count; first += PROFILE_CHUNK) {
		size_t n = bl.count - first < PROFILE_CHUNK ? bl.count - first : PROFILE_CHUNK;
		uint8_t digest[32];

		t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
		for (size_t i = 0; i < n; i++)
			if (ledger_record_parse(&recs[i], bl.data[first + i], bl.len[first + i]) < 0)
				fatal("record: %s", lib_error());
		res->t[P_RECORD_PARSE] += cpu_now(CLOCK_THREAD_CPUTIME_ID) - t0;

		t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
		for (size_t i = 0; i < n; i++) {
			char *canon = NULL;
			size_t clen;

			if (ledger_jcs(&canon, &clen, recs[i]->record) < 0)
				fatal("jcs: %s", lib_error());
			free(canon);
		}
		t1 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
		res->t[P_JCS] += t1 - t0;
		for (size_t i = 0; i < n; i++)
			ledger_sha256(digest, recs[i]->canonical, recs[i]->canonical_len);
		t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
		res->t[P_SHA] += t0 - t1;
		for (size_t i = 0; i < n; i++)
			if (ledger_schemas_has(schemas, recs[i]->type) &&
			    ledger_schemas_validate(schemas, recs[i]->type, recs[i]->record) < 0)
				fatal("record %s: schema: %s", recs[i]->id, lib_error());
		t1 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
		res->t[P_SCHEMA] += t1 - t0;

		for (size_t i = 0; i < n; i++) {
			pubs[i] = NULL;
			for (int k = 0; k < NPEOPLE; k++)
				if (strcmp(s[k].kid, recs[i]->kid) == 0)
					pubs[i] = s[k].pub;
			if (!pubs[i])
				fatal("record %s: signed by an unknown key", recs[i]->id);
		}
		t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
		for (size_t i = 0; i < n; i++)
			if (ledger_ed25519_public_check(pubs[i]) < 0)
				fatal("public key: %s", lib_error());
		t1 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
		res->t[P_PUBCHECK] += t1 - t0;
		for (size_t i = 0; i < n; i++)
			if (ledger_record_verify_signature(recs[i], pubs[i]) < 0)
				fatal("record %s: signature: %s", recs[i]->id, lib_error());
		res->t[P_SIG] += cpu_now(CLOCK_THREAD_CPUTIME_ID) - t1;
		for (size_t i = 0; i < n; i++) {
			ledger_record_free(recs[i]);
			free(bl.data[first + i]);
		}
	}
	free(bl.data);
	free(bl.len);

	t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	if (ledger_repo_check_history(repo, NULL, NULL, count_change, &changes) < 0)
		fatal("history: %s", lib_error());
	res->t[P_HISTORY] = cpu_now(CLOCK_THREAD_CPUTIME_ID) - t0;
	t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	if (ledger_repo_count_commits(&ncommits, repo, NULL, NULL) < 0)
		fatal("commits: %s", lib_error());
	res->t[P_COUNT] = cpu_now(CLOCK_THREAD_CPUTIME_ID) - t0;

	res->wall[P_LOAD1] = timed_load(&st, repo, 0, 1, &res->t[P_LOAD1]);
	ledger_state_free(st);
	res->wall[P_LOADN] = timed_load(&st, repo, 0, 0, &res->t[P_LOADN]);
	ledger_state_free(st);
	timed_load(&st, repo, 1, 0, NULL); /* make sure the cache is current */
	ledger_state_free(st);
	res->wall[P_NOOP] = timed_load(&st, repo, 1, 0, &res->t[P_NOOP]);
	ledger_state_free(st);
	res->other = res->t[P_LOAD1] - res->t[P_READ] - res->t[P_RECORD_PARSE] -
	             res->t[P_SCHEMA] - res->t[P_SIG] - res->t[P_HISTORY] - res->t[P_COUNT];

	for (int i = 0; i < NPEOPLE; i++)
		ledger_key_free(s[i].key);
	ledger_schemas_free(schemas);
	ledger_repo_free(repo);
	return 0;
}

static void profile_rows(table *t, const profile_result *p)
{
	double base = p->t[P_LOAD1] > 0 ? p->t[P_LOAD1] : 1;

	for (int i = 0; i < P_N; i++) {
		char share[24];

		snprintf(share, sizeof(share), "%.1f %%", 100.0 * p->t[i] / base);
		if (p->wall[i] > 0)
			add_row(t, phase_names[i], share, -1, "%.3f s (wall %.3f s)  %.1f us/rec",
			        p->t[i], p->wall[i], 1e6 * p->t[i] / (double)(p->records ? p->records : 1));
		else
			add_row(t, phase_names[i], share, -1, "%.3f s  %.1f us/rec", p->t[i],
			        1e6 * p->t[i] / (double)(p->records ? p->records : 1));
		if (i == P_COUNT) {
			snprintf(share, sizeof(share), "%.1f %%", 100.0 * p->other / base);
			add_row(t, "rest: trust, indexing... (load(1) - above)", share, -1,
			        "%.3f s  %.1f us/rec", p->other,
			        1e6 * p->other / (double)(p->records ? p->records : 1));
		}
	}
}

/* DIR/bench-state: the time for the next records and the average record size. */
static int state_read(const char *work, int64_t *next_time, size_t *record_bytes)
{
	char *path = xasprintf("%s/bench-state", work);
	FILE *f = fopen(path, "r");
	long long t;
	int ok;

	free(path);
	if (!f)
		return -1;
	ok = fscanf(f, "%lld %zu", &t, record_bytes) == 2;
	fclose(f);
	*next_time = t;
	return ok ? 0 : -1;
}

static void state_write(const char *work, int64_t next_time, size_t record_bytes)
{
	char *path = xasprintf("%s/bench-state", work);
	FILE *f = fopen(path, "w");

	if (!f || fprintf(f, "%lld %zu\n", (long long)next_time, record_bytes) < 0 || fclose(f))
		fatal("cannot write \"%s\"", path);
	free(path);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "incremental", required_argument, NULL, 'i' },
		{ "appends", required_argument, NULL, 'a' },
		{ "keep", required_argument, NULL, 'k' },
		{ "profile", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "cymat", required_argument, NULL, 'c' },
		{ "gen-dir", required_argument, NULL, 'g' },
		{ "in-place", no_argument, NULL, 'P' },
		{ "reuse", required_argument, NULL, 'r' },
		{ "sync", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bench b;
	table t, prof;
	gen_result gr;
	verify_result full;
	incremental_result inc;
	raw_result raw;
	profile_result pr;
	policy_result pol, feed;
	struct rusage ru_pol, ru_gen, ru_full, ru_caches, ru_batch, ru_inc, ru_raw, ru_prof, ru_cmd;
	struct rusage ru_fsck, ru_feed, self;
	const char *keep = NULL, *reuse = NULL, *gen_dir = "/dev/shm";
	char *gen_work = NULL;
	double load_start, load_end, t_copy = 0;
	struct stat sb;
	char *work, *log, *body_path, *key, when[21];
	double t0, t_cli, t_fsck, t_batch, full_rate, target_rate, pct_raw, pct_inc, ms;
	double cpu_rate, pct_cpu, pct_inc_cpu, cli_cpu = 0;
	int c, fsck_rc;
	FILE *f;

	memset(&b, 0, sizeof(b));
	memset(&t, 0, sizeof(t));
	memset(&prof, 0, sizeof(prof));
	b.records = 100000;
	b.batch = 1000;
	b.incremental = 1000;
	b.appends = 200;
	b.cymat = BENCH_CYMAT;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': b.records = parse_count(optarg, "--records"); break;
		case 'b': b.batch = parse_count(optarg, "--batch"); break;
		case 'i': b.incremental = parse_count(optarg, "--incremental"); break;
		case 'a': b.appends = parse_count(optarg, "--appends"); break;
		case 'k': keep = optarg; break;
		case 'p': b.profile = 1; break;
		case 'j': b.json = 1; break;
		case 'c': b.cymat = optarg; break;
		case 'g': gen_dir = optarg; break;
		case 'P': gen_dir = NULL; break;
		case 'r': reuse = optarg; break;
		case 'S': b.sync = parse_count(optarg, "--sync"); break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (BENCH_SCHEMAS_DIR)
		setenv("CYMAT_SCHEMAS_DIR", BENCH_SCHEMAS_DIR, 0);

	if (reuse) {
		work = realpath(reuse, NULL);
		gen_dir = NULL;
	} else if (keep) {
		if (mkdir(keep, 0700) < 0)
			fatal("cannot create \"%s\": %s", keep, strerror(errno));
		work = realpath(keep, NULL);
	} else {
		char tmpl[4096];
		const char *tmp = getenv("TMPDIR");

		snprintf(tmpl, sizeof(tmpl), "%s/cymat-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		work = mkdtemp(tmpl) ? realpath(tmpl, NULL) : NULL;
	}
	if (!work)
		fatal("cannot create the work directory: %s", strerror(errno));
	b.work = work;
	b.repo = xasprintf("%s/ledger.git", work);
	b.gen_repo = b.repo;
	cleanup_owner = getpid();
	atexit(cleanup);
	if (!keep && !reuse)
		cleanup_dirs[0] = work;
	if (gen_dir && stat(gen_dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		char *tmpl = xasprintf("%s/cymat-bench.XXXXXX", gen_dir);

		if (!mkdtemp(tmpl))
			fatal("cannot create a directory in \"%s\": %s", gen_dir, strerror(errno));
		gen_work = tmpl;
		cleanup_dirs[1] = gen_work;
		b.gen_repo = xasprintf("%s/ledger.git", gen_work);
	}
	load_start = load_average();

	/* 1. Generation, batch appends. */
	memset(&gr, 0, sizeof(gr));
	memset(&ru_gen, 0, sizeof(ru_gen));
	if (reuse) {
		if (state_read(work, &gr.next_time, &b.record_bytes) < 0)
			fatal("\"%s\" holds no ledger kept by cymat-bench --keep", work);
	} else {
		progress("generating %zu records in %s", b.records, b.gen_repo);
		run_phase("generation", &b, phase_generate, &gr, sizeof(gr), &ru_gen);
	}
	if (gen_work) {
		char *cp[] = { "cp", "-a", (char *)b.gen_repo, (char *)b.repo, NULL };
		char *rm[] = { "rm", "-rf", gen_work, NULL };
		struct rusage ru;

		progress("copying the ledger to %s", b.repo);
		t0 = now();
		if (run_command(cp, "/dev/null", &ru) != 0)
			fatal("cannot copy \"%s\" to \"%s\"", b.gen_repo, b.repo);
		t_copy = now() - t0;
		run_command(rm, "/dev/null", &ru);
		cleanup_dirs[1] = NULL;
	}
	b.next_time = gr.next_time;
	if (!reuse)
		b.record_bytes = gr.records ? gr.bytes / gr.records : 0;
	/* What a later --reuse run needs: a time after every record this run appends. */
	state_write(work, b.next_time + 2 * 86400 +
	            (int64_t)(b.appends * 60 + (b.incremental + b.sync + 20) * 41), b.record_bytes);
	if (b.sync) {
		int rc = bench_sync(&b);

		if (keep)
			progress("ledgers kept in %s", work);
		cleanup();
		cleanup_dirs[0] = NULL;
		if (b.gen_repo != b.repo)
			free((void *)b.gen_repo);
		free(gen_work);
		free((void *)b.repo);
		free(work);
		return rc;
	}

	/* 3. Full verification in a child of its own, for its peak memory. */
	progress("full verification");
	run_phase("full verification", &b, phase_full, &full, sizeof(full), &ru_full);
	if (full.errors || full.pending)
		fprintf(stderr, "cymat-bench: warning: the generated ledger has %zu errors and %zu "
		        "pending records:\n%s", full.errors, full.pending, full.diag);

	/* 3b. The policy pass. */
	progress("what the policy summaries cost verification");
	run_phase("policy summaries", &b, phase_feed_cost, &feed, sizeof(feed), &ru_feed);
	progress("policy pass");
	run_phase("policy pass", &b, phase_policy, &pol, sizeof(pol), &ru_pol);
	pol.verify_cpu = feed.verify_cpu;
	pol.bare_cpu = feed.bare_cpu;
	if (feed.fed_cpu < pol.fed_cpu)
		pol.fed_cpu = feed.fed_cpu;
	pol.feed_cpu = pol.fed_cpu > pol.bare_cpu ? pol.fed_cpu - pol.bare_cpu : 0;

	/*
	 * 4. Incremental verification: the caches filled, the new records
	 * appended, then verified and judged, each in a child of its own.
	 */
	progress("filling the verification and policy caches");
	run_phase("filling the caches", &b, phase_caches, &caches, sizeof(caches), &ru_caches);
	progress("appending %zu records in one commit", b.incremental);
	run_phase("batch append", &b, phase_batch_append, &t_batch, sizeof(t_batch), &ru_batch);
	progress("incremental verification of %zu new records", b.incremental);
	run_phase("incremental verification", &b, phase_incremental, &inc, sizeof(inc), &ru_inc);
	if (inc.inc.errors || inc.inc.pending)
		fprintf(stderr, "cymat-bench: warning: after the new records: %zu errors, %zu "
		        "pending:\n%s", inc.inc.errors, inc.inc.pending, inc.inc.diag);

	/* 2. One record per `cymat append` process. */
	progress("%zu runs of %s append", b.appends, b.cymat);
	body_path = xasprintf("%s/activity.json", work);
	log = xasprintf("%s/cymat-append.log", work);
	key = key_path(work, ITO);
	f = fopen(body_path, "w");
	if (!f || fputs("{\"kind\":\"12.2b\",\"summary\":\"脅威情報を関係機関に提供した\"}\n", f) < 0 ||
	    fclose(f) != 0)
		fatal("cannot write \"%s\"", body_path);
	memset(&ru_cmd, 0, sizeof(ru_cmd));
	t0 = now();
	for (size_t i = 0; i < b.appends; i++) {
		char *args[] = { (char *)b.cymat, "-C", (char *)b.repo, "append", "--key", key,
			         "--type", "activity", "--time", when, body_path, NULL };
		struct rusage ru;
		int rc;

		ledger_time_format(when, b.next_time + 86400 + (int64_t)i * 60);
		rc = run_command(args, log, &ru);
		if (rc != 0)
			fatal("%s append exited with %d (see \"%s\")", b.cymat, rc, log);
		cli_cpu += cpu_of(&ru);
		if (ru.ru_maxrss > ru_cmd.ru_maxrss)
			ru_cmd = ru;
	}
	t_cli = now() - t0;

	/* 6. Stock git's own check of the same repository. */
	progress("git fsck --strict");
	{
		char *args[] = { "git", "-C", (char *)b.repo, "fsck", "--strict", NULL };
		char *fsck_log = xasprintf("%s/fsck.log", work);

		t0 = now();
		fsck_rc = run_command(args, fsck_log, &ru_fsck);
		t_fsck = now() - t0;
		free(fsck_log);
	}

	/* 5. Raw Ed25519 rate. */
	progress("raw Ed25519 verify rate");
	run_phase("raw verify rate", &b, phase_raw, &raw, sizeof(raw), &ru_raw);

	if (b.profile) {
		progress("profile (one core)");
		run_phase("profile", &b, phase_profile, &pr, sizeof(pr), &ru_prof);
		profile_rows(&prof, &pr);
	}
	getrusage(RUSAGE_SELF, &self);
	load_end = load_average();

	full_rate = (double)full.stats.records / full.seconds;
	target_rate = 0.70 * (double)cores() * raw.raw_rate;
	pct_raw = 100.0 * full_rate / ((double)cores() * raw.raw_rate);
	pct_inc = 100.0 * inc.inc.seconds / full.seconds;
	cpu_rate = (double)full.stats.records / full.cpu;
	pct_cpu = 100.0 * cpu_rate / raw.raw_cpu_rate;
	pct_inc_cpu = 100.0 * inc.inc.cpu / full.cpu;
	ms = 1000.0 * t_cli / (double)b.appends;

	add_row(&t, "records in the ledger (full verification)", NULL, -1, "%zu",
	        full.stats.records);
	add_row(&t, "record file size, average", NULL, -1, "%zu bytes", b.record_bytes);
	add_row(&t, "cores online; load average start / end", NULL, -1, "%ld; %.2f / %.2f",
	        cores(), load_start, load_end);
	if (reuse) {
		add_row(&t, "ledger reused from", NULL, -1, "%s", work);
	} else {
		add_row(&t, "ledger built in", NULL, -1, "%s%s", gen_work ? gen_work : work,
		        gen_work ? " (then copied)" : "");
		add_row(&t, "generation: build + sign records", NULL, -1, "%.0f rec/s",
		        (double)gr.records / gr.create);
		add_row(&t, gen_work ? "batch append, 1000/commit, end to end (tmpfs)"
		                     : "batch append, 1000/commit, end to end",
		        NULL, -1, "%.0f rec/s (%.1f s)", (double)gr.records / gr.total, gr.total);
		add_row(&t, "  of which ledger_repo_append", NULL, -1, "%.0f rec/s (%.1f ms/commit)",
		        (double)gr.records / gr.append, 1000.0 * gr.append / (double)gr.commits);
	}
	if (gen_work)
		add_row(&t, "copy of the ledger to the work directory", NULL, -1, "%.1f s", t_copy);
	add_row(&t, "one record per `cymat append` run", NULL, -1, "%.1f rec/s (%.0f ms/run)",
	        (double)b.appends / t_cli, ms);
	add_row(&t, "  CPU per `cymat append` run", NULL, -1, "%.0f ms",
	        1000.0 * cli_cpu / (double)b.appends);
	add_row(&t, "full verification, no cache, all cores", NULL, -1, "%.2f s", full.seconds);
	add_row(&t, "full verification throughput", NULL, -1, "%.0f rec/s", full_rate);
	add_row(&t, "full verification CPU time, all threads", NULL, -1, "%.2f s (%.0f rec/CPU-s)",
	        full.cpu, cpu_rate);
	add_row(&t, "raw Ed25519 verify, 1 core (OpenSSL)", NULL, -1, "%.0f /s (%zu-byte msgs)",
	        raw.raw_rate, raw.msg_len);
	add_row(&t, "  same through ledger_ed25519_verify", NULL, -1, "%.0f /s", raw.lib_rate);
	{
		char target[24];

		snprintf(target, sizeof(target), ">= 70 %% (%.0f/s)", target_rate);
		add_row(&t, "full verify vs cores x raw rate", target, pct_raw >= 70.0, "%.1f %% (%ld cores)",
		        pct_raw, cores());
		/* Wall figures suffer from whatever else runs; per CPU-second they do not. */
		add_row(&t, "  same per CPU-second (load-independent)", ">= 70 %", pct_cpu >= 70.0,
		        "%.1f %% (%.0f vs %.0f /CPU-s)", pct_cpu, cpu_rate, raw.raw_cpu_rate);
	}
	add_row(&t, "first cached verification (fills cache)", NULL, -1, "%.2f s", caches.fill);
	add_row(&t, "batch append, 1 commit, in the work directory", NULL, -1,
	        "%.0f rec/s (%zu records, %.2f s)", (double)b.incremental / t_batch,
	        b.incremental, t_batch);
	add_row(&t, "incremental verification, new records", NULL, -1, "%.3f s (%zu checked)",
	        inc.inc.seconds, inc.inc.stats.checked);
	add_row(&t, "incremental as share of full", "<= 3 %", pct_inc <= 3.0, "%.1f %%", pct_inc);
	add_row(&t, "  same in CPU time (load-independent)", "<= 3 %", pct_inc_cpu <= 3.0,
	        "%.1f %% (%.3f of %.2f CPU-s)", pct_inc_cpu, inc.inc.cpu, full.cpu);
	{
		/* Summaries kept while verifying are the pass's work (phase_policy). */
		double pol_cpu = pol.policy_cpu + pol.feed_cpu;
		double pct_pol = 100.0 * pol_cpu / pol.verify_cpu;
		double pct_judge = 100.0 * (inc.inc.cpu + inc.judge_cpu) / (pol.verify_cpu + pol_cpu);

		add_row(&t, "policy pass, every rule (issue 3)", NULL, -1,
		        "%.2f CPU-s, %.2f s (%zu records judged)", pol_cpu, pol.policy_wall,
		        pol.judged);
		add_row(&t, "  of which summaries kept by verification", NULL, -1,
		        "%.2f CPU-s (verify with them %.2f - without %.2f)", pol.feed_cpu, pol.fed_cpu,
		        pol.bare_cpu);
		add_row(&t, "  findings of the rules", NULL, -1, "%zu errors, %zu warnings, %zu pending",
		        pol.errors, pol.warnings, pol.pending);
		add_row(&t, "policy pass added to full verification", "<= 25 %", pct_pol <= 25.0,
		        "%.1f %% (of %.2f CPU-s, same run)", pct_pol, pol.verify_cpu);
		add_row(&t, "incremental judging after new records", "<= 3 %", pct_judge <= 3.0,
		        "%.1f %% (%.3f + %.3f of %.2f CPU-s)", pct_judge, inc.inc.cpu, inc.judge_cpu,
		        pol.verify_cpu + pol_cpu);
		add_row(&t, "  records judged again (the rest: policy cache)", NULL, -1,
		        "%zu (the pass that filled the cache: %.2f CPU-s)", inc.judged,
		        caches.judge_fill);
	}
	add_row(&t, "cached verification, nothing new", NULL, -1, "%.3f s (%.1f %% of full)",
	        inc.noop, 100.0 * inc.noop / full.seconds);
	add_row(&t, "git fsck --strict", NULL, -1, "%.2f s (exit %d)", t_fsck, fsck_rc);
	{
		/* Packs are stored unless the git config sets a level: speed paid in disk. */
		char *objects = xasprintf("%s/objects", b.repo);

		add_row(&t, "repository size on disk (objects/)", NULL, -1, "%.1f MB",
		        disk_mib(objects));
		free(objects);
	}
	add_row(&t, "peak RSS, full verification (child)", "<= 200 MB", mib(&ru_full) <= 200.0,
	        "%.1f MB", mib(&ru_full));
	add_row(&t, "peak RSS, full verification + policy pass", NULL, -1, "%.1f MB", mib(&ru_pol));
	add_row(&t, "peak RSS, caches filled (cached verification, policy pass)", NULL, -1,
	        "%.1f MB", mib(&ru_caches));
	add_row(&t, "peak RSS, batch append of the new records", NULL, -1, "%.1f MB",
	        mib(&ru_batch));
	add_row(&t, "peak RSS, incremental verification + judging", NULL, -1, "%.1f MB",
	        mib(&ru_inc));
	if (!reuse)
		add_row(&t, "peak RSS, generation", NULL, -1, "%.1f MB", mib(&ru_gen));
	add_row(&t, "peak RSS, one `cymat append`", NULL, -1, "%.1f MB", mib(&ru_cmd));
	add_row(&t, "peak RSS, git fsck", NULL, -1, "%.1f MB", mib(&ru_fsck));
	add_row(&t, "peak RSS, this process (RUSAGE_SELF)", NULL, -1, "%.1f MB", mib(&self));
	add_row(&t, "findings after full verification", NULL, -1, "%zu errors, %zu pending, %zu warnings",
	        full.errors, full.pending, full.warnings);

	if (b.json) {
		json_t *o = json_pack("{s:o, s:I, s:i}", "results", table_json(&t), "records",
		                      (json_int_t)full.stats.records, "cores", (int)cores());
		char *text;

		if (b.profile)
			json_object_set_new(o, "profile", table_json(&prof));
		text = json_dumps(o, JSON_INDENT(2));
		if (text)
			puts(text);
		free(text);
		json_decref(o);
	} else {
		static const char *const head[4] = { "measurement", "value", "target", "result" };
		static const char *const phead[4] = { "phase (one core, CPU time)", "CPU time",
			                              "of load(1)", "" };

		print_table(&t, "cymat-bench results", head);
		if (b.profile)
			print_table(&prof, "verification phases, one at a time over every record file",
			            phead);
	}
	if (fsck_rc != 0)
		fprintf(stderr, "cymat-bench: git fsck exited with %d, see %s/fsck.log%s\n", fsck_rc,
		        work, keep ? "" : " (removed with the work directory)");

	if (keep)
		progress("ledger kept in %s", b.repo);
	cleanup();
	cleanup_dirs[0] = NULL;
	free(body_path);
	free(log);
	free(key);
	if (b.gen_repo != b.repo)
		free((void *)b.gen_repo);
	free(gen_work);
	free((void *)b.repo);
	free(work);
	return 0;
}
