/*
 * Private: running a function over a range of a verification's entries on
 * every core (job_pool.c).
 */
#ifndef LEDGER_JOB_POOL_H
#define LEDGER_JOB_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "state_internal.h"

typedef struct {
	ledger_state *state;
	size_t first, count; /* entries [first, first + count) */
	size_t next;         /* atomic work counter */
	size_t completed;    /* atomic */
	int (*work)(ledger_state *st, size_t i);
	ledger_progress_cb progress;
	void *progress_payload;
	size_t progress_base, progress_total;
} job;

/* A job pool keeps its threads in an array of this size. */
#define JOB_MAX_THREADS 64

/*
 * The threads that run jobs with the caller's thread, started for the
 * first job of more than 256 entries and kept until the run ends.  Made
 * afresh for each job, they were two per chunk of 4096 files: each new
 * thread started late and with an empty malloc cache, and one thread
 * often checked most of a chunk's content alone.  One thread posts jobs
 * at a time (the checker, or the caller once no checker runs).
 */
typedef struct {
	unsigned int threads; /* wanted, the caller's included */
	unsigned int started; /* threads in tids, waiting for jobs */
	unsigned int done;    /* of them, those done with the job posted last */
	unsigned long posts;  /* how many jobs were posted */
	job *job;             /* the job posted last */
	int stop;
	int ready;            /* lock and conditions initialised */
	pthread_mutex_t lock;
	pthread_cond_t posted, finished;
	pthread_t tids[JOB_MAX_THREADS];
} job_pool;

/* `wanted` threads (0: one per core online), at most JOB_MAX_THREADS. */
unsigned int job_thread_count(unsigned int wanted);

void job_pool_init(job_pool *p, unsigned int threads);
/* Stop and join the pool's threads, if it started any. */
void job_pool_stop(job_pool *p);

/*
 * Run j->work over the entries on the pool's threads (started with the
 * first job of more than 256 entries) and this one, which reports progress.
 */
void job_run(job *j, job_pool *p);

#endif
