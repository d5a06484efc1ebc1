/*
 * Jobs over a range of a verification's entries, run on the caller's
 * thread and a pool of threads that wait for the next job until the run
 * ends.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "job_pool.h"

static void *job_worker(void *arg)
{
	job *j = arg;
	size_t k;

	while ((k = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) < j->count) {
		j->work(j->state, j->first + k);
		__atomic_fetch_add(&j->completed, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

unsigned int job_thread_count(unsigned int wanted)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (!wanted)
		wanted = cores > 0 ? (unsigned int)cores : 1;
	return wanted < JOB_MAX_THREADS ? wanted : JOB_MAX_THREADS;
}

static void *pool_worker(void *arg)
{
	job_pool *p = arg;
	unsigned long seen = 0;
	job *j;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->posts == seen && !p->stop)
			pthread_cond_wait(&p->posted, &p->lock);
		if (p->stop)
			break;
		seen = p->posts;
		j = p->job;
		pthread_mutex_unlock(&p->lock);
		job_worker(j);
		pthread_mutex_lock(&p->lock);
		if (++p->done == p->started)
			pthread_cond_signal(&p->finished);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void job_pool_init(job_pool *p, unsigned int threads)
{
	memset(p, 0, sizeof(*p));
	p->threads = threads;
}

/* The pool's threads, once; a pool that cannot start them runs jobs on the caller's alone. */
static void pool_start(job_pool *p)
{
	if (!p->ready) {
		int locked = pthread_mutex_init(&p->lock, NULL) == 0;
		int posted = locked && pthread_cond_init(&p->posted, NULL) == 0;

		if (!posted || pthread_cond_init(&p->finished, NULL) != 0) {
			if (posted)
				pthread_cond_destroy(&p->posted);
			if (locked)
				pthread_mutex_destroy(&p->lock);
			p->threads = 1;
			return;
		}
		p->ready = 1;
	}
	pthread_mutex_lock(&p->lock);
	while (p->started + 1 < p->threads &&
	       pthread_create(&p->tids[p->started], NULL, pool_worker, p) == 0)
		p->started++;
	p->threads = p->started + 1; /* not again */
	pthread_mutex_unlock(&p->lock);
}

void job_pool_stop(job_pool *p)
{
	if (!p->ready)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->posted);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int t = 0; t < p->started; t++)
		pthread_join(p->tids[t], NULL);
	pthread_cond_destroy(&p->posted);
	pthread_cond_destroy(&p->finished);
	pthread_mutex_destroy(&p->lock);
	p->ready = 0;
	p->started = 0;
}

void job_run(job *j, job_pool *p)
{
	int shared = j->count > 256;
	size_t k;

	if (shared && p->started + 1 < p->threads)
		pool_start(p);
	shared = shared && p->started;
	if (shared) {
		pthread_mutex_lock(&p->lock);
		p->job = j;
		p->done = 0;
		p->posts++;
		pthread_cond_broadcast(&p->posted);
		pthread_mutex_unlock(&p->lock);
	}
	while ((k = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) < j->count) {
		j->work(j->state, j->first + k);
		if ((__atomic_add_fetch(&j->completed, 1, __ATOMIC_RELAXED) & 1023) == 0 &&
		    j->progress)
			j->progress(j->progress_base + __atomic_load_n(&j->completed, __ATOMIC_RELAXED),
			            j->progress_total, j->progress_payload);
	}
	if (shared) {
		/* Every thread has taken the job and let go of it: the next may reuse j. */
		pthread_mutex_lock(&p->lock);
		while (p->done < p->started)
			pthread_cond_wait(&p->finished, &p->lock);
		pthread_mutex_unlock(&p->lock);
	}
	if (j->progress)
		j->progress(j->progress_base + j->count, j->progress_total, j->progress_payload);
}
