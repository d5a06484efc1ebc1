/*
 * Logging for cymat-syncd and `cymat sync`: to stderr (the default; under
 * systemd, stderr is the journal and a "<N>" prefix carries the level) or
 * to syslog, with a threshold level.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "syncd.h"

static const char *log_ident = "cymat-syncd";
static int log_syslog;
static int log_journal;
static int log_threshold = LOG_INFO;

static const struct {
	const char *name;
	int level;
} level_names[] = {
	{ "error", LOG_ERR },
	{ "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE },
	{ "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
};

const char *syncd_error_message(void)
{
	const ledger_error *err = ledger_error_last();

	return err && err->message && *err->message ? err->message : "unknown error";
}

int syncd_log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(level_names[i].name, name) == 0)
			return level_names[i].level;
	return -1;
}

const char *syncd_log_level_name(int level)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i].level == level)
			return level_names[i].name;
	return level < LOG_ERR ? "error" : "debug";
}

/* True when stderr is the journal's stream (systemd sets JOURNAL_STREAM to "dev:ino"). */
static int stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void syncd_log_open(const char *ident, int use_syslog, int level)
{
	log_ident = ident;
	log_syslog = use_syslog;
	log_threshold = level;
	log_journal = !use_syslog && stderr_is_journal();
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

void syncd_log_close(void)
{
	if (log_syslog)
		closelog();
	log_syslog = 0;
}

void syncd_log_set_level(int level)
{
	log_threshold = level;
}

int syncd_log_level(void)
{
	return log_threshold;
}

void syncd_log(int level, const char *fmt, ...)
{
	char text[2048], msg[4 * sizeof(text)];
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/*
	 * Paths, refs and messages logged come from remotes and bundles: a
	 * newline in one would forge a journal line (at any "<N>" priority).
	 */
	ledger_escape_controls(msg, sizeof(msg), text);
	if (log_syslog)
		syslog(level, "%s", msg);
	else if (log_journal)
		fprintf(stderr, "<%d>%s\n", level, msg);
	else if (level <= LOG_WARNING)
		fprintf(stderr, "%s: %s: %s\n", log_ident, syncd_log_level_name(level), msg);
	else
		fprintf(stderr, "%s: %s\n", log_ident, msg);
}
