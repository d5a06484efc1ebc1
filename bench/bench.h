/*
 * What cymat-bench's parts share: small helpers, the people who sign, the
 * record generator that builds a realistic ledger, running measured steps
 * in forked children, and the table of results.
 */
#ifndef CYMAT_BENCH_H
#define CYMAT_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "ledger/crypto.h"
#include "ledger/record.h"
#include "ledger/store.h"
#include "ledger/trust.h"
#include "ledger/verify.h"

/* --- small helpers ----------------------------------------------------- */

void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
const char *lib_error(void);
double now(void);
double cpu_now(clockid_t clock);
void *xcalloc(size_t n, size_t size);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long cores(void);

/* Directories the parent removes at exit, also on failure (cleanup, atexit). */
extern pid_t cleanup_owner;
extern char *cleanup_dirs[2];
void cleanup(void);

/* --- who signs ----------------------------------------------------------- */

#define NAGENCIES 5
#define NPEOPLE 20

enum { DIRECTOR, DEPUTY, MANAGER, FL1, FL2, TANAKA, NODE, FIRST_CISO };
#define CISO(a) (FIRST_CISO + 2 * (a))
#define CSIRT(a) (FIRST_CISO + 2 * (a) + 1)
enum { SATO = FIRST_CISO + 2 * NAGENCIES, KATO, ITO };

struct person {
	const char *principal;
	const char *role;
	int binder;        /* index of who signs the principal record; -1: in the root */
	const char *title; /* NULL: none */
	const char *ja, *en;
};

extern const struct person people[NPEOPLE];

typedef struct {
	ledger_key *key;
	uint8_t pub[32];
	char kid[LEDGER_HEX_ID_LEN + 1];
	int64_t seq;
	char prev[LEDGER_HEX_ID_LEN + 1];
} signer;

/* "W/keys/nisc.director.key" */
char *key_path(const char *work, int who);
void signer_set_key(signer *s, ledger_key *key);

/* --- the record generator ----------------------------------------------- */

typedef struct {
	signer s[NPEOPLE];
	uint64_t rng;
	int64_t when;          /* time of the next record */
	unsigned int incidents;
	ledger_record **queue; /* made, not yet handed out */
	size_t qhead, qlen, qcap;
	double t_create;       /* building and signing records, envelopes */
	double t_append;       /* ledger_repo_append */
	size_t bytes;          /* record file bytes appended */
	size_t commits;
} gen;

void make(gen *g, char *id_out, int who, const char *type, json_t *body, json_t *refs,
          const char *incident, const char *class_, json_t *sealed_member);
ledger_record *next_record(gen *g);
void gen_release(gen *g);
void append_records(gen *g, ledger_repo *repo, ledger_record **recs, size_t n, int who);
void append_stream(gen *g, ledger_repo *repo, size_t count, size_t batch);

/* --- phases (each runs in a child) ---------------------------------------- */

typedef struct {
	const char *work;     /* workspace directory */
	const char *repo;     /* work/ledger.git */
	const char *gen_repo; /* where the ledger is built: repo, or one on tmpfs copied to repo */
	const char *cymat;
	size_t records, batch, incremental, appends;
	size_t sync;          /* --sync N: new records of the sync cycle; 0: the usual run */
	int profile, json;
	int64_t next_time;    /* from the generation, for the records appended later */
	size_t record_bytes;  /* average record file size, for the raw verify messages */
} bench;

typedef struct {
	double total, create, append;
	size_t records, bytes, commits;
	int64_t next_time;
} gen_result;

int phase_generate(const bench *b, void *out);
double timed_load(ledger_state **out, ledger_repo *repo, int use_cache, unsigned int threads,
                  double *cpu);

/* --- running children ---------------------------------------------------- */

void run_phase(const char *what, const bench *b, int (*fn)(const bench *, void *), void *out,
               size_t len, struct rusage *ru);
pid_t spawn_logged(char *const argv[], const char *log);
int run_command(char *const argv[], const char *log, struct rusage *ru);

/* --- the table ------------------------------------------------------------ */

typedef struct {
	char name[64];
	char value[64];
	char target[24];
	int verdict; /* -1: none, 0: fail, 1: pass */
} row;

typedef struct {
	row rows[40];
	size_t count;
} table;

void add_row(table *t, const char *name, const char *target, int verdict, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void print_table(const table *t, const char *title, const char *const head[4]);
json_t *table_json(const table *t);
double load_average(void);
double cpu_of(const struct rusage *ru);
double mib(const struct rusage *ru);
double disk_mib(const char *dir);
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t parse_count(const char *text, const char *opt);

/* --- one sync cycle (bench_sync.c) ---------------------------------------- */

/* --sync N: the whole run on the generated ledger; prints its table, returns the exit status. */
int bench_sync(const bench *b);

#endif
