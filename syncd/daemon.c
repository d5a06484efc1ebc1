/*
 * The daemon's main loop.  Signal handlers only set flags; the signals stay
 * blocked except while the loop waits in ppoll() (and at the checks between
 * two steps of a cycle), so a step is never interrupted halfway:
 *   SIGTERM, SIGINT  finish the step in progress, then exit 0
 *   SIGHUP           reload the config, only if the new one validates
 *   SIGUSR1          run a cycle now, whatever the backoff says
 * systemd learns of readiness, reloads, the state and stopping through
 * sd_notify; a watchdog thread pings while the loop makes progress.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "syncd.h"
#include "daemon.h"

/* The loop wakes at least this often, so the schedule follows the wall clock. */
#define MAX_SLEEP 60
/* Besides the transfers' deadlines, what a step may take before the watchdog gives up on it. */
#define STEP_SLACK 300

static volatile sig_atomic_t got_term, got_hup, got_usr1;

static void on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		got_term = 1;
		break;
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGUSR1:
		got_usr1 = 1;
		break;
	default:
		break;
	}
}

struct daemon {
	struct syncd_node *node;
	const struct syncd_daemon_options *opts;
	sigset_t waitmask;      /* the mask while waiting: our signals let through */
	int pidfd;
	/* Watchdog: the thread pings while the loop is idle or a step is within its budget. */
	pthread_t wd_thread;
	int wd_running;
	uint64_t wd_usec;
	pthread_mutex_t wd_lock;
	pthread_cond_t wd_cond;
	int wd_stop;
	_Atomic int64_t step_started; /* monotonic seconds; 0 while idle */
	_Atomic int64_t step_budget;
};

static int64_t monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static void step_begin(struct daemon *d)
{
	atomic_store(&d->step_started, monotonic_now());
}

static void step_end(struct daemon *d)
{
	atomic_store(&d->step_started, 0);
}

static void *watchdog_main(void *arg)
{
	struct daemon *d = arg;
	struct timespec until;
	int64_t started;

	pthread_mutex_lock(&d->wd_lock);
	while (!d->wd_stop) {
		started = atomic_load(&d->step_started);
		if (!started || monotonic_now() - started <= atomic_load(&d->step_budget))
			sd_notify(0, "WATCHDOG=1");
		/* systemd's advice: ping at half the interval or more often. */
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)(d->wd_usec / 3 / 1000000);
		until.tv_nsec += (long)(d->wd_usec / 3 % 1000000) * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->wd_cond, &d->wd_lock, &until);
	}
	pthread_mutex_unlock(&d->wd_lock);
	return NULL;
}

static void set_step_budget(struct daemon *d)
{
	/* A step may fetch and push, each under the transfer deadline. */
	atomic_store(&d->step_budget, 2 * (int64_t)d->node->cfg->transfer_deadline + STEP_SLACK);
}

static int watchdog_start(struct daemon *d)
{
	pthread_condattr_t attr;

	if (sd_watchdog_enabled(0, &d->wd_usec) <= 0 || d->wd_usec == 0)
		return 0;
	set_step_budget(d);
	pthread_mutex_init(&d->wd_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wd_cond, &attr);
	pthread_condattr_destroy(&attr);
	/* Created while our signals are blocked: the thread inherits the mask and never takes them. */
	if (pthread_create(&d->wd_thread, NULL, watchdog_main, d) != 0) {
		syncd_log(LOG_ERR, "cannot start the watchdog thread");
		return -1;
	}
	d->wd_running = 1;
	syncd_log(LOG_DEBUG, "watchdog every %llu ms", (unsigned long long)(d->wd_usec / 3000));
	return 0;
}

static void watchdog_stop(struct daemon *d)
{
	if (!d->wd_running)
		return;
	pthread_mutex_lock(&d->wd_lock);
	d->wd_stop = 1;
	pthread_cond_signal(&d->wd_cond);
	pthread_mutex_unlock(&d->wd_lock);
	pthread_join(d->wd_thread, NULL);
	pthread_cond_destroy(&d->wd_cond);
	pthread_mutex_destroy(&d->wd_lock);
	d->wd_running = 0;
}

/* Let pending signals run their handlers, without waiting. */
static void take_signals(struct daemon *d)
{
	struct timespec zero = { 0, 0 };

	ppoll(NULL, 0, &zero, &d->waitmask);
}

/* Between two steps of a cycle: stop when asked to, else start the next step's clock. */
static int between_steps(void *payload)
{
	struct daemon *d = payload;

	take_signals(d);
	if (got_term)
		return 1;
	step_begin(d);
	return 0;
}

static int setup_signals(struct daemon *d)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct sigaction sa;
	sigset_t block;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaddset(&block, sigs[i]);
		if (sigaction(sigs[i], &sa, NULL) != 0)
			return -1;
	}
	/* A git server hanging up must not kill us through a write. */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return -1;
	if (sigprocmask(SIG_BLOCK, &block, &d->waitmask) != 0)
		return -1;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigdelset(&d->waitmask, sigs[i]);
	return 0;
}

/* SIGHUP: read the config again; swap it in only when it is whole and its key and ledger open. */
static void reload(struct daemon *d)
{
	const char *path = d->opts->config_path;
	struct syncd_config *cfg = NULL;
	struct syncd_node *node = NULL;
	int error;

	sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
	syncd_log(LOG_NOTICE, "reloading \"%s\"", path);
	error = syncd_config_load_logged(&cfg, path);
	if (error < 0) {
		syncd_log(LOG_ERR, "new configuration refused; keeping the old one");
		goto done;
	}
	if (strcmp(cfg->ledger, d->node->cfg->ledger) != 0) {
		syncd_log(LOG_ERR, "ledger: \"%s\" is not \"%s\"; a new ledger needs a restart; "
		          "keeping the old configuration", cfg->ledger, d->node->cfg->ledger);
		syncd_config_free(cfg);
		goto done;
	}
	error = syncd_node_open(&node, cfg);
	if (error < 0) {
		syncd_log(LOG_ERR, "%s; new configuration refused; keeping the old one",
		          syncd_error_message());
		goto done;
	}
	syncd_node_free(d->node);
	d->node = node;
	syncd_log_set_level(syncd_effective_log_level(node->cfg, d->opts->verbosity));
	set_step_budget(d);
	syncd_log(LOG_NOTICE, "configuration reloaded: mode %s, %zu remote%s",
	          node->cfg->mode == SYNCD_MODE_MASTER ? "master" : "agency", node->cfg->nremotes,
	          node->cfg->nremotes == 1 ? "" : "s");
done:
	sd_notify(0, "READY=1");
}

static void notify_status(const struct daemon *d, const struct syncd_cycle_stats *stats,
                          int64_t wake)
{
	int64_t wait = wake - (int64_t)time(NULL);
	const struct syncd_config *cfg = d->node->cfg;

	if (wait < 0)
		wait = 0;
	if (cfg->mode == SYNCD_MODE_MASTER)
		sd_notifyf(0, "STATUS=master: %zu remote%s, %s; next step in %llds",
		           cfg->nremotes, cfg->nremotes == 1 ? "" : "s",
		           stats->master_failed || stats->failed ? "failing" : "ok", (long long)wait);
	else
		sd_notifyf(0, "STATUS=agency: %zu remote%s, %zu failed last cycle; next attempt in %llds",
		           cfg->nremotes, cfg->nremotes == 1 ? "" : "s", stats->failed,
		           (long long)wait);
}

static int loop(struct daemon *d)
{
	struct syncd_cycle_stats stats;
	struct timespec timeout;
	int64_t wake, wait;
	int force = 0;

	for (;;) {
		if (got_term)
			break;
		if (got_hup) {
			got_hup = 0;
			reload(d);
		}
		if (got_usr1) {
			got_usr1 = 0;
			force = 1;
			syncd_log(LOG_NOTICE, "sync requested");
		}
		sd_notify(0, "STATUS=syncing");
		step_begin(d);
		syncd_cycle(&stats, &wake, d->node, force, between_steps, d);
		step_end(d);
		force = 0;
		if (got_term)
			break;
		notify_status(d, &stats, wake);
		wait = wake - (int64_t)time(NULL);
		if (wait < 0)
			wait = 0;
		if (wait > MAX_SLEEP)
			wait = MAX_SLEEP;
		timeout.tv_sec = (time_t)wait;
		timeout.tv_nsec = 0;
		/* The only place our signals are delivered, apart from take_signals. */
		if (ppoll(NULL, 0, &timeout, &d->waitmask) < 0 && errno != EINTR) {
			syncd_log(LOG_ERR, "ppoll: %s", strerror(errno));
			return SYNCD_EXIT_INTERNAL;
		}
	}
	return SYNCD_EXIT_OK;
}

int syncd_daemon_run(struct syncd_node *node, const struct syncd_daemon_options *opts)
{
	struct daemon d;
	pid_t holder = 0;
	int error, rc;

	memset(&d, 0, sizeof(d));
	d.node = node;
	d.opts = opts;
	d.pidfd = -1;
	atomic_init(&d.step_started, 0);
	atomic_init(&d.step_budget, 0);
	if (setup_signals(&d) != 0) {
		syncd_log(LOG_ERR, "cannot set up signal handling: %s", strerror(errno));
		rc = SYNCD_EXIT_INTERNAL;
		goto done;
	}
	error = syncd_pidfile_acquire(&d.pidfd, &holder, node->pidfile);
	if (error == LEDGER_ELOCKED) {
		syncd_log(LOG_ERR, "another cymat-syncd (pid %ld) is running on ledger \"%s\" "
		          "(pidfile \"%s\"); not starting a second one", (long)holder,
		          node->cfg->ledger, node->pidfile);
		rc = SYNCD_EXIT_RUNNING;
		goto done;
	}
	if (error < 0) {
		syncd_log(LOG_ERR, "%s", syncd_error_message());
		rc = SYNCD_EXIT_INTERNAL;
		goto done;
	}
	if (watchdog_start(&d) != 0) {
		rc = SYNCD_EXIT_INTERNAL;
		goto done;
	}
	syncd_log(LOG_NOTICE, "started: mode %s, ledger \"%s\", %zu remote%s, pid %ld",
	          node->cfg->mode == SYNCD_MODE_MASTER ? "master" : "agency", node->cfg->ledger,
	          node->cfg->nremotes, node->cfg->nremotes == 1 ? "" : "s", (long)getpid());
	sd_notifyf(0, "READY=1\nSTATUS=started\nMAINPID=%ld", (long)getpid());
	rc = loop(&d);
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	syncd_log(LOG_NOTICE, "stopping");
done:
	watchdog_stop(&d);
	syncd_pidfile_release(d.pidfd, d.node->pidfile);
	syncd_node_free(d.node);
	return rc;
}
