/*
 * The daemon's pure parts: backoff with jitter stays within its bounds and
 * never shrinks as failures grow; the config's numbers, defaults and
 * relative paths; the pidfile's lock.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "syncd.h"

static char tmpdir[] = "/tmp/test_syncd.XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(tmpdir, "/tmp/test_syncd.XXXXXX");
}

/* Write `text` as <tmpdir>/NAME and load it; diag holds the problems. */
static int load(struct syncd_config **cfg, struct syncd_diag *diag, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.conf", tmpdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return syncd_config_load(cfg, path, diag);
}

#define NODE "[node]\nkey = k\nprincipal = nisc/syncd\nagency = nisc\nledger = l.git\nmode = master\n"

START_TEST(backoff_bounds)
{
	struct syncd_config cfg;
	unsigned int n, i, d, lo, hi, prev_hi = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.backoff_base = 30;
	cfg.backoff_cap = 3600;
	for (n = 1; n <= 40; n++) {
		/* Without jitter: base, 2 base, 4 base, ... up to the cap. */
		hi = n > 8 ? 3600 : 30u << (n - 1);
		if (hi > 3600)
			hi = 3600;
		lo = hi / 2 < 30 ? 30 : hi - hi / 2;
		ck_assert_uint_ge(lo, prev_hi / 2);
		for (i = 0; i < 200; i++) {
			d = syncd_backoff(&cfg, n);
			ck_assert_uint_ge(d, lo);
			ck_assert_uint_le(d, hi);
		}
		prev_hi = hi;
	}
}
END_TEST

START_TEST(backoff_jitters)
{
	struct syncd_config cfg;
	unsigned int i, first, differs = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.backoff_base = 10;
	cfg.backoff_cap = 100000;
	first = syncd_backoff(&cfg, 10);
	for (i = 0; i < 50; i++)
		differs += syncd_backoff(&cfg, 10) != first;
	ck_assert_uint_gt(differs, 0);
}
END_TEST

START_TEST(backoff_base_equals_cap)
{
	struct syncd_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.backoff_base = 5;
	cfg.backoff_cap = 5;
	ck_assert_uint_eq(syncd_backoff(&cfg, 1), 5);
	ck_assert_uint_eq(syncd_backoff(&cfg, 1000), 5);
}
END_TEST

START_TEST(config_defaults_and_paths)
{
	struct syncd_config *cfg = NULL;
	struct syncd_diag diag = { NULL, 0 };
	char want[600];

	ck_assert_int_eq(load(&cfg, &diag, NODE), 0);
	ck_assert_uint_eq(diag.count, 0);
	ck_assert_int_eq(cfg->mode, SYNCD_MODE_MASTER);
	ck_assert_uint_eq(cfg->poll_interval, 300);
	ck_assert_uint_eq(cfg->backoff_base, 30);
	ck_assert_uint_eq(cfg->backoff_cap, 3600);
	ck_assert_uint_eq(cfg->transfer_deadline, 120);
	ck_assert_uint_eq(cfg->max_bytes, 1u << 30);
	ck_assert_uint_eq(cfg->max_objects, 5000000);
	ck_assert_uint_eq(cfg->checkpoint_interval, 3600);
	ck_assert_int_eq(cfg->log_level, -1);
	ck_assert_uint_eq(cfg->nremotes, 0);
	/* Relative to the config's directory, made absolute. */
	snprintf(want, sizeof(want), "%s/l.git", tmpdir);
	ck_assert_str_eq(cfg->ledger, want);
	snprintf(want, sizeof(want), "%s/k", tmpdir);
	ck_assert_str_eq(cfg->key, want);
	syncd_config_free(cfg);
}
END_TEST

START_TEST(config_numbers)
{
	struct syncd_config *cfg = NULL;
	struct syncd_diag diag = { NULL, 0 };

	ck_assert_int_eq(load(&cfg, &diag, NODE "[sync]\npoll_interval = 90\nbackoff_base = 2m\n"
	                      "backoff_cap = 2d\ntransfer_deadline = 1h\nmax_bytes = 3K\n"
	                      "max_objects = 12\ncheckpoint_interval = 45s\n"
	                      "[remote \"a_b-1\"]\nurl = /srv/x.git\nrole = peer\n"), 0);
	ck_assert_uint_eq(cfg->poll_interval, 90);
	ck_assert_uint_eq(cfg->backoff_base, 120);
	ck_assert_uint_eq(cfg->backoff_cap, 2 * 86400);
	ck_assert_uint_eq(cfg->transfer_deadline, 3600);
	ck_assert_uint_eq(cfg->max_bytes, 3072);
	ck_assert_uint_eq(cfg->max_objects, 12);
	ck_assert_uint_eq(cfg->checkpoint_interval, 45);
	ck_assert_uint_eq(cfg->nremotes, 1);
	ck_assert_str_eq(cfg->remotes[0].name, "a_b-1");
	ck_assert_str_eq(cfg->remotes[0].url, "/srv/x.git");
	ck_assert_int_eq(cfg->remotes[0].role, LEDGER_REMOTE_PEER);
	syncd_config_free(cfg);
}
END_TEST

/* Each bad value, alone, is one problem, on its line (8). */
START_TEST(config_bad_numbers)
{
	static const char *bad[] = {
		"poll_interval = 0", "poll_interval = 1y", "poll_interval = -1",
		"poll_interval = 367d", "poll_interval = 1.5", "poll_interval = 5 m",
		"max_bytes = 1k", "max_bytes = 17179869184T", "max_objects = 1K",
		"max_objects = 18446744073709551616", "backoff_cap = 0x10",
	};
	struct syncd_config *cfg;
	struct syncd_diag diag;
	char text[512], want[600];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = NULL;
		memset(&diag, 0, sizeof(diag));
		snprintf(text, sizeof(text), NODE "[sync]\n%s\n", bad[i]);
		ck_assert_int_eq(load(&cfg, &diag, text), LEDGER_EINVALID);
		ck_assert_ptr_null(cfg);
		ck_assert_msg(diag.count == 1, "%s: %zu problems", bad[i], diag.count);
		snprintf(want, sizeof(want), "%s/c.conf:8: ", tmpdir);
		ck_assert_msg(strncmp(diag.lines[0], want, strlen(want)) == 0, "%s: %s", bad[i],
		              diag.lines[0]);
		syncd_diag_clear(&diag);
	}
}
END_TEST

START_TEST(config_crlf_and_bom)
{
	struct syncd_config *cfg = NULL;
	struct syncd_diag diag = { NULL, 0 };

	ck_assert_int_eq(load(&cfg, &diag, "\xEF\xBB\xBF[node]\r\nkey = k\r\nprincipal = nisc/a\r\n"
	                      "agency = nisc\r\nledger = l\r\nmode = master\r\n"), 0);
	ck_assert_str_eq(cfg->principal, "nisc/a");
	syncd_config_free(cfg);
}
END_TEST

START_TEST(pidfile_lock)
{
	char path[600];
	pid_t holder = 0, seen = 0, child;
	int fd = -1, fd2 = -1, st;

	snprintf(path, sizeof(path), "%s/syncd.pid", tmpdir);
	ck_assert_int_eq(syncd_pidfile_holder(&seen, path), 0);
	ck_assert_int_eq(seen, 0);
	ck_assert_int_eq(syncd_pidfile_acquire(&fd, &holder, path), 0);
	/* flock is per open file: a second open in this process conflicts too. */
	ck_assert_int_eq(syncd_pidfile_acquire(&fd2, &holder, path), LEDGER_ELOCKED);
	ck_assert_int_eq(holder, getpid());
	/* Another process sees us as the holder. */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(syncd_pidfile_holder(&seen, path) == 0 && seen == getppid() ? 0 : 1);
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	syncd_pidfile_release(fd, path);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(syncd_pidfile_holder(&seen, path), 0);
	ck_assert_int_eq(seen, 0);
}
END_TEST

static Suite *syncd_suite(void)
{
	Suite *s = suite_create("syncd");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, backoff_bounds);
	tcase_add_test(tc, backoff_jitters);
	tcase_add_test(tc, backoff_base_equals_cap);
	tcase_add_test(tc, config_defaults_and_paths);
	tcase_add_test(tc, config_numbers);
	tcase_add_test(tc, config_bad_numbers);
	tcase_add_test(tc, config_crlf_and_bom);
	tcase_add_test(tc, pidfile_lock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(syncd_suite());
}
