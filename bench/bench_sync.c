/*
 * cymat-bench --sync N: one sync cycle (issue 4).  The generated ledger is
 * NISC's master, served by git daemon on 127.0.0.1; two copies of it are an
 * agency's ledger (verification cache filled, a few records of its own the
 * master has not seen) and a plain repository for stock git.  The master
 * then gains N records; the agency brings them in with one
 * ledger_sync_remote cycle (fetch, verify, union merge, push to its inbox
 * on the master), stock `git fetch` takes the same objects into the plain
 * copy, and OpenSSL verifies the N signatures alone: the floor.  Target:
 * the cycle within 1.5 x (git fetch + floor), wall time.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ledger/crypto.h"
#include "ledger/node.h"
#include "ledger/record.h"
#include "ledger/store.h"
#include "ledger/sync.h"
#include "ledger/trust.h"
#include "ledger/verify.h"

#include "bench.h"

/* Records of the agency's own that the master has not seen: the cycle merges and pushes them. */
#define AGENCY_OWN 10

typedef struct {
	double fill;      /* the cached verification that fills the agency's cache */
	size_t before;    /* records in the ledger then */
	double append;    /* making and appending the new records on the master */
	double floor;     /* EVP_DigestVerify of their signatures, one core, wall */
	double floor_cpu;
	size_t records;   /* new records on the master */
	size_t bytes;     /* their record files */
	char master[LEDGER_OID_HEX_LEN + 1]; /* the master's main after them */
} sync_prep_result;

typedef struct {
	double seconds, cpu;
	size_t new_records;
	char fetched[LEDGER_OID_HEX_LEN + 1];
	char merged[LEDGER_OID_HEX_LEN + 1];
	char pushed[LEDGER_OID_HEX_LEN + 1];
	int contains_master; /* the agency's main now contains the master's */
	char error[256];
} sync_cycle_result;

/* The URL of the master, set by the parent before the cycle's child is forked. */
static char *sync_url;
/* The git daemon, stopped at exit also when a step fails. */
static pid_t daemon_pid;

static void stop_daemon(void)
{
	if (daemon_pid <= 0 || getpid() != cleanup_owner)
		return; /* children leave it to the parent */
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	daemon_pid = 0;
}

/* Killed (make's ^C, a test's timeout): the daemon goes too; async-signal-safe calls only. */
static void on_signal(int sig)
{
	if (daemon_pid > 0 && getpid() == cleanup_owner)
		kill(daemon_pid, SIGTERM);
	signal(sig, SIG_DFL);
	raise(sig);
}

static char *work_path(const bench *b, const char *name)
{
	return xasprintf("%s/%s", b->work, name);
}

static void load_signers(gen *g, const bench *b)
{
	for (int i = 0; i < NPEOPLE; i++) {
		ledger_key *key = NULL;
		char *kp = key_path(b->work, i);

		if (ledger_key_load(&key, kp) < 0)
			fatal("%s", lib_error());
		signer_set_key(&g->s[i], key);
		free(kp);
	}
}

/* The agency's own records: activities by meti/ito, whom the generator never uses. */
static void agency_records(gen *g, ledger_repo *repo)
{
	ledger_record *recs[AGENCY_OWN];

	for (int i = 0; i < AGENCY_OWN; i++) {
		make(g, NULL, ITO, "activity",
		     json_pack("{s:s, s:s, s:[s]}", "kind", "12.2b", "summary",
		               "脅威情報を関係機関に提供した", "participants", people[ITO].principal),
		     NULL, NULL, "c1", NULL);
		recs[i] = next_record(g);
	}
	append_records(g, repo, recs, AGENCY_OWN, ITO);
}

/*
 * Copies of the ledger (the agency's with its own records and a filled
 * cache; a plain one), then N new records on the master and the floor:
 * OpenSSL verifying their signatures, nothing else.
 */
static int phase_sync_prepare(const bench *b, void *out)
{
	sync_prep_result *res = out;
	ledger_repo *repo = NULL, *agency = NULL;
	ledger_state *st = NULL;
	ledger_record **recs = xcalloc(b->batch, sizeof(*recs));
	char **msgs = xcalloc(b->sync, sizeof(*msgs));
	size_t *lens = xcalloc(b->sync, sizeof(*lens));
	uint8_t (*sigs)[LEDGER_ED25519_SIG_LEN] = xcalloc(b->sync, sizeof(*sigs));
	int *who = xcalloc(b->sync, sizeof(*who));
	EVP_PKEY *pubs[NPEOPLE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *agency_dir = work_path(b, "agency.git"), *plain = work_path(b, "plain.git");
	char *log = work_path(b, "copy.log");
	char *cp1[] = { "cp", "-a", (char *)b->repo, agency_dir, NULL };
	char *cp2[] = { "cp", "-a", (char *)b->repo, plain, NULL };
	/* An earlier run's, with --reuse: its copies, and its push to the master's inbox. */
	char *rm[] = { "rm", "-rf", agency_dir, plain, NULL };
	char *unpush[] = { "git", "-C", (char *)b->repo, "update-ref", "-d", "refs/inbox/nisc", NULL };
	struct rusage ru;
	size_t n = 0;
	gen g;
	double t0, c0;

	if (!ctx)
		fatal("out of memory");
	memset(&g, 0, sizeof(g));
	g.rng = 0x6a09e667f3bcc908ULL;
	g.when = b->next_time;
	g.incidents = 11; /* another mix of agencies than the start of the ledger */
	load_signers(&g, b);
	for (int i = 0; i < NPEOPLE; i++) {
		pubs[i] = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, g.s[i].pub, 32);
		if (!pubs[i])
			fatal("ed25519 public key failed");
	}

	/* The agency has verified what it holds: the copies take the master's filled cache. */
	if (ledger_repo_open(&repo, b->repo) < 0)
		fatal("open \"%s\": %s", b->repo, lib_error());
	res->fill = timed_load(&st, repo, 1, 0, NULL);
	res->before = ledger_report_stats_of(ledger_state_report(st))->records;
	for (int i = 0; i < NPEOPLE; i++)
		ledger_state_chain_tip(&g.s[i].seq, g.s[i].prev, st, g.s[i].kid);
	ledger_state_free(st);
	if (run_command(rm, log, &ru) != 0 || run_command(unpush, log, &ru) != 0 ||
	    run_command(cp1, log, &ru) != 0 ||
	    run_command(cp2, log, &ru) != 0)
		fatal("cannot copy the ledger (see \"%s\")", log);

	if (ledger_repo_open(&agency, agency_dir) < 0)
		fatal("open \"%s\": %s", agency_dir, lib_error());
	agency_records(&g, agency);
	timed_load(&st, agency, 1, 0, NULL);
	ledger_state_free(st);
	ledger_repo_free(agency);

	t0 = now();
	while (n < b->sync) {
		size_t k = b->sync - n < b->batch ? b->sync - n : b->batch;

		for (size_t i = 0; i < k; i++, n++) {
			ledger_record *r = next_record(&g);

			recs[i] = r;
			/* What the signature covers (FORMAT.md): the context, its 0x00, JCS(R). */
			lens[n] = sizeof(LEDGER_RECORD_SIG_CONTEXT) + r->canonical_len;
			msgs[n] = xcalloc(1, lens[n]);
			memcpy(msgs[n], LEDGER_RECORD_SIG_CONTEXT, sizeof(LEDGER_RECORD_SIG_CONTEXT));
			memcpy(msgs[n] + sizeof(LEDGER_RECORD_SIG_CONTEXT), r->canonical, r->canonical_len);
			memcpy(sigs[n], r->sig, sizeof(sigs[n]));
			who[n] = -1;
			for (int p = 0; p < NPEOPLE; p++)
				if (strcmp(g.s[p].kid, r->kid) == 0)
					who[n] = p;
			if (who[n] < 0)
				fatal("record %s: signer not found", r->id);
		}
		g.bytes = 0;
		append_records(&g, repo, recs, k, NODE);
		res->bytes += g.bytes;
	}
	res->append = now() - t0;
	res->records = n;
	if (ledger_repo_head(res->master, repo) < 0)
		fatal("head of \"%s\": %s", b->repo, lib_error());

	t0 = now();
	c0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	for (size_t i = 0; i < n; i++) {
		if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pubs[who[i]]) != 1 ||
		    EVP_DigestVerify(ctx, sigs[i], LEDGER_ED25519_SIG_LEN, (const uint8_t *)msgs[i],
		                     lens[i]) != 1)
			fatal("record %zu: its signature does not verify", i);
		EVP_MD_CTX_reset(ctx);
	}
	res->floor_cpu = cpu_now(CLOCK_THREAD_CPUTIME_ID) - c0;
	res->floor = now() - t0;

	for (size_t i = 0; i < n; i++)
		free(msgs[i]);
	for (int i = 0; i < NPEOPLE; i++)
		EVP_PKEY_free(pubs[i]);
	EVP_MD_CTX_free(ctx);
	ledger_repo_free(repo);
	gen_release(&g);
	free(msgs);
	free(lens);
	free(sigs);
	free(who);
	free(recs);
	free(agency_dir);
	free(plain);
	free(log);
	return 0;
}

/* The cycle: what `cymat sync` does with a master, through the library. */
static int phase_sync_cycle(const bench *b, void *out)
{
	sync_cycle_result *res = out;
	ledger_sync_options opts = LEDGER_SYNC_OPTIONS_INIT;
	ledger_sync_result sr;
	ledger_remote remote = { "nisc", sync_url, LEDGER_REMOTE_MASTER };
	ledger_repo *repo = NULL;
	ledger_key *key = NULL;
	char *agency = work_path(b, "agency.git"), *kp = key_path(b->work, NODE);
	double t0, c0;
	int error;

	memset(&sr, 0, sizeof(sr));
	if (ledger_key_load(&key, kp) < 0)
		fatal("%s", lib_error());
	opts.agency = "nisc";
	opts.node_key = key;
	opts.node_principal = people[NODE].principal;
	t0 = now();
	c0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
	if (ledger_repo_open(&repo, agency) < 0)
		fatal("open \"%s\": %s", agency, lib_error());
	error = ledger_sync_remote(&sr, repo, &remote, &opts);
	res->seconds = now() - t0;
	res->cpu = cpu_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	if (error < 0)
		snprintf(res->error, sizeof(res->error), "%s", lib_error());
	res->new_records = sr.new_records;
	memcpy(res->fetched, sr.fetched, sizeof(res->fetched));
	memcpy(res->merged, sr.merged, sizeof(res->merged));
	memcpy(res->pushed, sr.pushed, sizeof(res->pushed));
	res->contains_master = *sr.fetched && *sr.merged &&
	                       ledger_repo_is_ancestor(repo, sr.fetched, sr.merged) == 1;
	ledger_sync_result_clear(&sr);
	ledger_repo_free(repo);
	ledger_key_free(key);
	free(agency);
	free(kp);
	return 0;
}

/* A port on 127.0.0.1 that nothing listens on now. */
static int free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	if (port < 0)
		fatal("no free port: %s", strerror(errno));
	return port;
}

static int port_answers(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * git-daemon itself, not `git daemon`: the git wrapper would run it as a
 * child, and the server's CPU time is read from the daemon's own process.
 */
static char *git_daemon_path(void)
{
	char dir[4096];
	FILE *f = popen("git --exec-path", "r");
	int ok = f && fgets(dir, sizeof(dir), f) != NULL;

	if (f && pclose(f) != 0)
		ok = 0;
	if (!ok || !*dir)
		fatal("git --exec-path failed");
	dir[strcspn(dir, "\n")] = '\0';
	return xasprintf("%s/git-daemon", dir);
}

/*
 * git daemon serving the work directory, pushes enabled, on a free port; its
 * pid, the URL of the master into *url.  Another process may take the port
 * between the probe and the daemon's bind: then again on another.
 */
static pid_t start_git_daemon(char **url, const bench *b)
{
	char *log = work_path(b, "git-daemon.log"), *base = xasprintf("--base-path=%s", b->work);
	char *prog = git_daemon_path();

	for (int attempt = 0; attempt < 5; attempt++) {
		int port = free_port(), up = 0;
		char *portarg = xasprintf("--port=%d", port);
		char *argv[] = { prog, "--reuseaddr", "--listen=127.0.0.1", portarg, base,
			         "--export-all", "--enable=receive-pack", NULL };
		char *ls[] = { "git", "ls-remote", NULL, "HEAD", NULL };
		struct rusage ru;
		pid_t pid;

		pid = spawn_logged(argv, log);
		*url = xasprintf("git://127.0.0.1:%d/ledger.git", port);
		ls[2] = *url;
		for (int i = 0; i < 300 && waitpid(pid, NULL, WNOHANG) == 0; i++) {
			/* Ours, and serving the master: not another program on the port. */
			if (port_answers(port) && run_command(ls, log, &ru) == 0) {
				up = 1;
				break;
			}
			usleep(100000);
		}
		free(portarg);
		if (up) {
			free(base);
			free(log);
			free(prog);
			return pid;
		}
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		free(*url);
		*url = NULL;
	}
	fatal("git daemon did not start (see \"%s\")", log);
}

/*
 * CPU seconds of the daemon's children it has reaped (cutime + cstime in
 * /proc/PID/stat): the server's side of each transfer (upload-pack,
 * receive-pack, pack-objects).
 */
static double server_cpu(pid_t daemon)
{
	char path[64], buf[1024], *p;
	unsigned long long cutime = 0, cstime = 0;
	long tick = sysconf(_SC_CLK_TCK);
	size_t len;
	FILE *f;

	/* The daemon reaps a connection's child when it wakes up for SIGCHLD: give it a moment. */
	usleep(300000);
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)daemon);
	f = fopen(path, "r");
	if (!f)
		return 0;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* After the command name in parentheses: fields 3 on; cutime and cstime are 16 and 17. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %llu %llu",
	                 &cutime, &cstime) != 2)
		return 0;
	return (double)(cutime + cstime) / (double)(tick > 0 ? tick : 100);
}

/* The commit a ref of a repository points at, through the library (the parent's only use). */
static void ref_of(char out[LEDGER_OID_HEX_LEN + 1], const char *path, const char *ref)
{
	ledger_repo *repo = NULL;

	if (ledger_repo_open(&repo, path) < 0 || ledger_repo_ref(out, repo, ref) < 0)
		fatal("ref \"%s\" of \"%s\": %s", ref, path, lib_error());
	ledger_repo_free(repo);
}

int bench_sync(const bench *b)
{
	sync_prep_result prep;
	sync_cycle_result cyc;
	struct rusage ru_prep, ru_cyc, ru_git;
	table t;
	char *plain = work_path(b, "plain.git"), *log = work_path(b, "git-fetch.log");
	char git_got[LEDGER_OID_HEX_LEN + 1];
	double t0, t_git, srv0, srv_git, srv_cyc, base, base_cpu, ratio, ratio_cpu;
	double load_start = load_average();
	int rc;
	pid_t daemon;

	memset(&t, 0, sizeof(t));
	progress("copies of the ledger (cache filled), then %zu new records on the master", b->sync);
	run_phase("sync preparation", b, phase_sync_prepare, &prep, sizeof(prep), &ru_prep);
	daemon = daemon_pid = start_git_daemon(&sync_url, b);
	atexit(stop_daemon);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	progress("git fetch of the same objects, stock git");
	{
		char *argv[] = { "git", "-C", plain, "fetch", "-q", sync_url,
			         "+refs/heads/main:refs/remotes/nisc/main", NULL };

		srv0 = server_cpu(daemon);
		t0 = now();
		rc = run_command(argv, log, &ru_git);
		t_git = now() - t0;
		srv_git = server_cpu(daemon) - srv0;
		if (rc != 0)
			fatal("git fetch exited with %d (see \"%s\")", rc, log);
	}
	progress("one sync cycle: fetch, verify, merge, push");
	srv0 = server_cpu(daemon);
	run_phase("sync cycle", b, phase_sync_cycle, &cyc, sizeof(cyc), &ru_cyc);
	srv_cyc = server_cpu(daemon) - srv0;
	stop_daemon();
	if (*cyc.error)
		fatal("the sync cycle failed: %s", cyc.error);
	ref_of(git_got, plain, "refs/remotes/nisc/main");
	if (strcmp(git_got, prep.master) != 0 || strcmp(cyc.fetched, prep.master) != 0)
		fatal("git fetch got %s, the cycle %s; the master's main is %s", git_got, cyc.fetched,
		      prep.master);
	if (!cyc.contains_master || cyc.new_records != prep.records || !*cyc.pushed)
		fatal("the sync cycle merged %zu records, not %zu, or did not push", cyc.new_records,
		      prep.records);

	base = t_git + prep.floor;
	base_cpu = cpu_of(&ru_git) + srv_git + prep.floor_cpu;
	ratio = cyc.seconds / base;
	ratio_cpu = (cpu_of(&ru_cyc) + srv_cyc) / base_cpu;
	add_row(&t, "records in the agency's ledger before", NULL, -1, "%zu (+%d of its own)",
	        prep.before, AGENCY_OWN);
	add_row(&t, "new records on the master", NULL, -1, "%zu (%.1f MB of record files)",
	        prep.records, (double)prep.bytes / 1e6);
	add_row(&t, "cores online; load average start / end", NULL, -1, "%ld; %.2f / %.2f",
	        cores(), load_start, load_average());
	add_row(&t, "cache fill: cached verification, all", NULL, -1, "%.2f s", prep.fill);
	add_row(&t, "git fetch of the same objects (git daemon)", NULL, -1,
	        "%.2f s (CPU-s: %.2f + server %.2f)", t_git, cpu_of(&ru_git), srv_git);
	add_row(&t, "signature floor: OpenSSL, 1 core", NULL, -1, "%.2f s (%.2f CPU-s, %.0f /s)",
	        prep.floor, prep.floor_cpu, (double)prep.records / prep.floor);
	add_row(&t, "sync cycle: fetch, verify, merge, push", NULL, -1,
	        "%.2f s (CPU-s: %.2f + server %.2f)", cyc.seconds, cpu_of(&ru_cyc), srv_cyc);
	add_row(&t, "  new records merged", NULL, -1, "%zu", cyc.new_records);
	{
		char target[24];

		snprintf(target, sizeof(target), "<= 1.5 (%.2f s)", 1.5 * base);
		add_row(&t, "sync / (git fetch + floor), wall", target, ratio <= 1.5, "%.2f", ratio);
		/* Wall figures suffer from whatever else runs; CPU seconds much less. */
		add_row(&t, "  same in CPU-s, server included", "<= 1.5", ratio_cpu <= 1.5,
		        "%.2f (%.2f of %.2f CPU-s)", ratio_cpu, cpu_of(&ru_cyc) + srv_cyc, base_cpu);
	}
	add_row(&t, "peak RSS, sync cycle (child)", NULL, -1, "%.1f MB", mib(&ru_cyc));
	add_row(&t, "peak RSS, git fetch", NULL, -1, "%.1f MB", mib(&ru_git));
	if (b->json) {
		json_t *o = json_pack("{s:o, s:I, s:I, s:i}", "results", table_json(&t), "records",
		                      (json_int_t)prep.before, "sync", (json_int_t)prep.records,
		                      "cores", (int)cores());
		char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;

		if (text)
			puts(text);
		free(text);
		json_decref(o);
	} else {
		static const char *const head[4] = { "measurement", "value", "target", "result" };

		print_table(&t, "cymat-bench: one sync cycle", head);
	}
	free(plain);
	free(log);
	free(sync_url);
	sync_url = NULL;
	return 0;
}
