/*
 * cymat-syncd: what the daemon and `cymat sync` share.  The configuration
 * file, logging, the pidfile that keeps one daemon per ledger, and one sync
 * cycle over the configured remotes.
 */
#ifndef SYNCD_H
#define SYNCD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

/* ---- logging (log.c) ---------------------------------------------------- */

/* Levels are syslog priorities: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG. */
void syncd_log_open(const char *ident, int use_syslog, int level);
void syncd_log_close(void);
void syncd_log_set_level(int level);
int syncd_log_level(void);
void syncd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The library's last error message, never NULL. */
const char *syncd_error_message(void);
/* The level for a name ("error", "warning", "notice", "info", "debug"); -1 when unknown. */
int syncd_log_level_parse(const char *name);
const char *syncd_log_level_name(int level);

/* ---- configuration (config.c) ------------------------------------------- */

enum syncd_mode {
	SYNCD_MODE_AGENCY = 1, /* sync with the remotes: fetch, verify, merge, push */
	SYNCD_MODE_MASTER = 2  /* NISC: take in the inboxes, sign receipts and checkpoints */
};

struct syncd_remote {
	char *name;               /* [a-z0-9_-]{1,32} */
	char *url;
	ledger_remote_role role;
};

struct syncd_config {
	char *path;               /* the file it was read from */
	char *key;                /* [node] key: the node's Ed25519 key file */
	char *principal;          /* [node] principal the node key is bound to */
	char *agency;
	char *ledger;             /* absolute, or relative to the config file's directory */
	enum syncd_mode mode;
	int log_level;            /* -1: not set */
	unsigned int poll_interval;       /* seconds */
	unsigned int backoff_base;
	unsigned int backoff_cap;
	unsigned int transfer_deadline;
	uint64_t max_bytes;
	uint64_t max_objects;
	unsigned int checkpoint_interval; /* master mode only */
	struct syncd_remote *remotes;
	size_t nremotes;
};

/* Problems found in a config file, one "FILE:LINE: message" each. */
struct syncd_diag {
	char **lines;
	size_t count;
};

void syncd_diag_clear(struct syncd_diag *diag);

/*
 * Read and check a config file.  Every problem goes into `diag` (which the
 * caller clears); returns 0, or LEDGER_EINVALID when there is any.
 */
int syncd_config_load(struct syncd_config **out, const char *path, struct syncd_diag *diag);
/* syncd_config_load, logging each problem (with none, why it failed) at LOG_ERR. */
int syncd_config_load_logged(struct syncd_config **out, const char *path);
void syncd_config_free(struct syncd_config *cfg);

/* The log level of a config (info when it sets none), moved by -v (+1) and -q (-1). */
int syncd_effective_log_level(const struct syncd_config *cfg, int verbosity);

/* What a config stands for: the node key and the open ledger. */
struct syncd_node {
	struct syncd_config *cfg; /* owned */
	ledger_key *key;
	ledger_repo *repo;
	char pidfile[4096];
	int64_t next_intake;      /* master: when the inboxes are next taken in */
	int64_t next_checkpoint;  /* master: when the next checkpoint is due; 0: ask the ledger */
};

/*
 * Load the key and open the ledger of `cfg` (taking ownership of it, also on
 * failure).  The message of a failure is ledger_error_last()'s.
 */
int syncd_node_open(struct syncd_node **out, struct syncd_config *cfg);
void syncd_node_free(struct syncd_node *node);

/* ---- pidfile (pidfile.c) ------------------------------------------------ */

/* "<git dir>/cymat/syncd.pid": one daemon per ledger. */
int syncd_pidfile_path(char *out, size_t size, ledger_repo *repo);

/*
 * Take the pidfile: an exclusive flock, held while the returned descriptor
 * is open, then this process's id written into it.  LEDGER_ELOCKED (and
 * *holder the holder's pid, 0 when unknown) when another process holds it.
 */
int syncd_pidfile_acquire(int *out_fd, pid_t *holder, const char *path);
/* Remove the pidfile and drop the lock. */
void syncd_pidfile_release(int fd, const char *path);

/* The pid of the daemon holding the pidfile; 0 when none does.  <0 on error. */
int syncd_pidfile_holder(pid_t *out, const char *path);

/* ---- one cycle (cycle.c) ------------------------------------------------ */

/* Return non-zero to stop the cycle between two steps (a signal asked us to). */
typedef int (*syncd_stop_cb)(void *payload);

struct syncd_cycle_stats {
	size_t attempted;  /* remotes tried */
	size_t failed;     /* of those, failed */
	size_t new_records;
	int master_failed; /* intake or checkpoint failed */
	int master;        /* the master's steps ran: the next three say what they did */
	ledger_intake_result intake;
	int checkpoint;    /* a checkpoint was signed */
};

/*
 * One cycle: in agency mode each remote that is due (`force`: every remote)
 * is synced and its status saved; in master mode the inboxes are taken in
 * and, when due, a checkpoint is signed.  `next_wake` is when the next
 * remote (or the next master step) is due.  Stops early between steps when
 * `stop` says so.
 */
int syncd_cycle(struct syncd_cycle_stats *stats, int64_t *next_wake, struct syncd_node *node,
                int force, syncd_stop_cb stop, void *payload);

/* Delay before the next attempt after `failures` failures in a row (>= 1), with jitter. */
unsigned int syncd_backoff(const struct syncd_config *cfg, unsigned int failures);

/*
 * How far ahead of the clock a checkpoint may be dated and still count: a
 * clock a little fast is forgiven, a record dated years ahead is not.
 */
#define SYNCD_CHECKPOINT_MAX_AHEAD 300

struct syncd_checkpoint {
	int64_t time; /* seconds since the epoch; 0: none */
	char id[LEDGER_HEX_ID_LEN + 1];
	int64_t future; /* the latest one dated beyond the bound, ignored; 0: none */
	char future_id[LEDGER_HEX_ID_LEN + 1];
};

/*
 * The newest checkpoint record in main that the verifier holds valid (so
 * signed by a NISC node) and that is dated at most
 * SYNCD_CHECKPOINT_MAX_AHEAD seconds after `now`.
 */
int syncd_newest_checkpoint(struct syncd_checkpoint *out, ledger_repo *repo, int64_t now);

#endif
