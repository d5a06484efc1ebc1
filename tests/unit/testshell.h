/*
 * Shell commands for the suites that check the library against stock git:
 * each runs under a fixed git identity and no system config, so that the
 * host's git setup cannot change what a test sees.
 */
#ifndef TESTSHELL_H
#define TESTSHELL_H

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ledger.h"

#define TESTSHELL_GIT_ENV                                                       \
	"GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t "        \
	"GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t"

static inline char *testshell_format(const char *fmt, va_list ap)
{
	char *cmd, *full;

	ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
	ck_assert_int_ge(asprintf(&full, "%s %s", TESTSHELL_GIT_ENV, cmd), 0);
	free(cmd);
	return full;
}

/* Run a shell command; its exit status (-1 when it did not exit). */
static inline int testshell_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int testshell_run(const char *fmt, ...)
{
	char *full;
	va_list ap;
	int st;

	va_start(ap, fmt);
	full = testshell_format(fmt, ap);
	va_end(ap);
	st = system(full);
	free(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run a shell command that must succeed; its stdout with trailing newlines cut. */
static inline char *testshell_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *testshell_out(const char *fmt, ...)
{
	char *full, *buf = NULL;
	size_t len = 0, n;
	char chunk[4096];
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	full = testshell_format(fmt, ap);
	va_end(ap);
	p = popen(full, "r");
	ck_assert_ptr_nonnull(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		buf = realloc(buf, len + n + 1);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf + len, chunk, n);
		len += n;
	}
	st = pclose(p);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "command failed: %s", full);
	if (!buf)
		buf = calloc(1, 1);
	buf[len] = '\0';
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	free(full);
	return buf;
}

/* The library's last error message, for assertion messages. */
static inline const char *testshell_errmsg(void)
{
	const ledger_error *e = ledger_error_last();

	return e ? e->message : "(none)";
}

#endif
