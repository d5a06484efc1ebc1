/*
 * The sync layer against real repositories and real keys: union merges
 * checked by the store's own history check and by stock git (fsck --strict,
 * verify-commit with an allowed-signers file), ref updates, and transfers
 * with a real git daemon, stock paths and hostile fake servers on
 * 127.0.0.1 (trickling, an endless pack, garbage).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testshell.h"
#include "testutil.h"

#define NODE "node@cymat.invalid"

/* A ledger in a fresh directory, signed by a fresh node key, with an allowed-signers file. */
struct fixture {
	char *base;
	char *path;
	char *signers;
	ledger_key *key;
	ledger_repo *repo;
	char genesis[41];
};

static int node_signer(char **out, const char *buf, size_t len, void *payload)
{
	return ledger_sshsig_sign(out, payload, "git", (const uint8_t *)buf, len);
}

static ledger_commit_options node_opts(struct fixture *f, const char *message)
{
	ledger_commit_options o = LEDGER_COMMIT_OPTIONS_INIT;

	o.message = message;
	o.name = "nisc/node";
	o.email = NODE;
	o.time = 1767225600;
	o.sign = node_signer;
	o.sign_payload = f->key;
	return o;
}

/* Append records seeds [first, first + n) with bodies "{"record":<seed><suffix>}". */
static int append_seeds(struct fixture *f, uint64_t first, size_t n, const char *suffix,
                        char tip[41])
{
	ledger_file *files = calloc(n, sizeof(*files));
	char (*paths)[96] = calloc(n, sizeof(*paths));
	ledger_commit_options o = node_opts(f, "batch: records\n");
	static int64_t later;
	int r;

	ck_assert_ptr_nonnull(files);
	ck_assert_ptr_nonnull(paths);
	for (size_t i = 0; i < n; i++) {
		char *body;

		testutil_record_path(paths[i], first + i);
		ck_assert_int_ge(asprintf(&body, "{\"record\":%llu%s}",
		                          (unsigned long long)(first + i), suffix), 0);
		files[i].path = paths[i];
		files[i].data = body;
		files[i].len = strlen(body);
	}
	o.time += ++later; /* the same files appended twice still make two commits */
	r = ledger_repo_append(tip, f->repo, files, n, &o);
	for (size_t i = 0; i < n; i++)
		free((char *)files[i].data);
	free(files);
	free(paths);
	return r;
}

static void fixture_init(struct fixture *f)
{
	char rec[96], *pub, *line;
	uint8_t raw[32];
	ledger_file files[2] = {
		{ "LEDGER", "{\"format\":\"cymat-ledger/1\"}", 27 },
		{ NULL, "{\"record\":0}", 12 },
	};
	ledger_commit_options o;
	FILE *sf;

	memset(f, 0, sizeof(*f));
	f->base = testutil_tmpdir();
	ck_assert_ptr_nonnull(f->base);
	ck_assert_int_ge(asprintf(&f->path, "%s/ledger.git", f->base), 0);
	ck_assert_int_ge(asprintf(&f->signers, "%s/allowed_signers", f->base), 0);
	ck_assert_int_eq(ledger_key_generate(&f->key, LEDGER_KEY_ED25519), 0);
	ledger_key_public(raw, f->key);
	ck_assert_int_eq(ledger_ed25519_openssh(&pub, raw, NULL), 0);
	ck_assert_int_ge(asprintf(&line, NODE " namespaces=\"git\" %s\n", pub), 0);
	sf = fopen(f->signers, "w");
	ck_assert_ptr_nonnull(sf);
	ck_assert_int_ge(fputs(line, sf), 0);
	ck_assert_int_eq(fclose(sf), 0);
	free(line);
	free(pub);
	testutil_record_path(rec, 0);
	files[1].path = rec;
	o = node_opts(f, "root: genesis\n");
	ck_assert_msg(ledger_repo_init(&f->repo, f->path, files, 2, &o) == 0, "init: %s", testshell_errmsg());
	ck_assert_int_eq(ledger_repo_head(f->genesis, f->repo), 0);
}

static void fixture_free(struct fixture *f)
{
	ledger_repo_free(f->repo);
	ledger_key_free(f->key);
	testshell_run("rm -rf '%s'", f->base);
	free(f->signers);
	free(f->path);
	free(f->base);
}

/* Append on a branch of `from`: main is moved there for the append and put back after. */
static void append_branch(struct fixture *f, const char *from, uint64_t first, size_t n,
                          const char *suffix, char tip[41])
{
	char main_tip[41];

	ck_assert_int_eq(ledger_repo_head(main_tip, f->repo), 0);
	ck_assert_int_eq(testshell_run("git --git-dir='%s' update-ref refs/heads/main %s", f->path, from), 0);
	ck_assert_msg(append_seeds(f, first, n, suffix, tip) == 0, "append: %s", testshell_errmsg());
	ck_assert_int_eq(testshell_run("git --git-dir='%s' update-ref refs/heads/main %s", f->path, main_tip),
	                 0);
}

static void check_git_accepts(struct fixture *f, const char *commit)
{
	ck_assert_msg(testshell_run("git --git-dir='%s' fsck --strict --no-dangling >/dev/null 2>&1",
	                  f->path) == 0, "git fsck --strict failed");
	ck_assert_msg(testshell_run("git --git-dir='%s' -c gpg.format=ssh -c gpg.ssh.allowedSignersFile='%s' "
	                  "verify-commit %s >/dev/null 2>&1", f->path, f->signers, commit) == 0,
	              "git verify-commit rejects %s", commit);
}

struct changes {
	size_t count;
	char first[256];
};

static int change_cb(const char *commit, ledger_change_kind kind, const char *path,
                     void *payload)
{
	struct changes *c = payload;

	(void)commit;
	(void)kind;
	if (c->count++ == 0)
		snprintf(c->first, sizeof(c->first), "%s", path);
	return 0;
}

static int count_cb(const char *path, const char *data, size_t len, void *payload)
{
	(void)path;
	(void)data;
	(void)len;
	++*(size_t *)payload;
	return 0;
}

static size_t count_added_in(ledger_repo *repo, const char *from, const char *to)
{
	size_t n = 0;

	ck_assert_int_eq(ledger_repo_foreach_added(repo, from, to, count_cb, &n), 0);
	return n;
}

static size_t count_added(struct fixture *f, const char *from, const char *to)
{
	return count_added_in(f->repo, from, to);
}

static void check_history_clean(struct fixture *f, const char *tip)
{
	struct changes ch = { 0 };

	ck_assert_int_eq(ledger_repo_check_history(f->repo, NULL, tip, change_cb, &ch), 0);
	ck_assert_msg(ch.count == 0, "history check: %zu findings, first at \"%s\"", ch.count,
	              ch.first);
}

START_TEST(test_union_contained_and_fast_forward)
{
	struct fixture f;
	ledger_commit_options o;
	char a[41], u[41], loose[8];

	fixture_init(&f);
	o = node_opts(&f, NULL);
	ck_assert_int_eq(append_seeds(&f, 1, 3, "", a), 0);
	/* theirs contained in ours (or equal): ours, nothing written */
	ck_assert_msg(ledger_repo_union(u, f.repo, a, f.genesis, &o) == 0, "%s", testshell_errmsg());
	ck_assert_str_eq(u, a);
	ck_assert_int_eq(ledger_repo_union(u, f.repo, a, a, &o), 0);
	ck_assert_str_eq(u, a);
	/* ours an ancestor of theirs: fast-forward to theirs */
	ck_assert_int_eq(ledger_repo_union(u, f.repo, f.genesis, a, &o), 0);
	ck_assert_str_eq(u, a);
	/* revisions resolve; unknown commits are ENOTFOUND */
	ck_assert_int_eq(ledger_repo_union(u, f.repo, "main", f.genesis, &o), 0);
	ck_assert_str_eq(u, a);
	ck_assert_int_eq(ledger_repo_union(u, f.repo, a, "0123456789012345678901234567890123456789",
	                                   &o), LEDGER_ENOTFOUND);
	ck_assert_int_eq(ledger_repo_union(u, f.repo, a, NULL, &o), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_repo_union(u, f.repo, a, a, NULL), LEDGER_EINVALID);
	/* no merge commit was made: still genesis, the append and nothing loose */
	{
		char *s = testshell_out("git --git-dir='%s' count-objects | cut -d' ' -f1", f.path);

		snprintf(loose, sizeof(loose), "%s", s);
		free(s);
	}
	ck_assert_str_eq(loose, "0");
	fixture_free(&f);
}
END_TEST

START_TEST(test_union_merge)
{
	struct fixture f;
	ledger_commit_options o;
	char a[41], b[41], m[41], m2[41], c[41], s12[13], *s, *msg;

	fixture_init(&f);
	o = node_opts(&f, NULL);
	ck_assert_int_eq(append_seeds(&f, 1, 4, "", a), 0);      /* ours: records 1-4 */
	append_branch(&f, f.genesis, 100, 3, "", b);              /* theirs: 100-102 */
	ck_assert_msg(ledger_repo_union(m, f.repo, a, b, &o) == 0, "%s", testshell_errmsg());
	ck_assert_str_ne(m, a);
	ck_assert_str_ne(m, b);
	/* parents ours then theirs; the tree holds every record of both */
	s = testshell_out("git --git-dir='%s' rev-list --parents -1 %s", f.path, m);
	ck_assert_int_ge(asprintf(&msg, "%s %s %s", m, a, b), 0);
	ck_assert_str_eq(s, msg);
	free(s);
	free(msg);
	ck_assert_uint_eq(count_added(&f, NULL, m), 1 + 4 + 3);
	ck_assert_uint_eq(count_added(&f, a, m), 3);
	ck_assert_uint_eq(count_added(&f, b, m), 4);
	/* the message names how many records came and from where; no trailers */
	snprintf(s12, sizeof(s12), "%.12s", b);
	s = testshell_out("git --git-dir='%s' cat-file commit %s | sed '1,/^$/d'", f.path, m);
	ck_assert_int_ge(asprintf(&msg, "merge: 3 records from %s", s12), 0);
	ck_assert_str_eq(s, msg);
	free(s);
	free(msg);
	s = testshell_out("git --git-dir='%s' log -1 --format='%%an <%%ae> %%at' %s", f.path, m);
	ck_assert_str_eq(s, "nisc/node <" NODE "> 1767225600");
	free(s);
	/* the store's union rule, git fsck and git verify-commit accept it */
	check_history_clean(&f, m);
	check_git_accepts(&f, m);
	/* durable: in a pack, not loose; main did not move */
	s = testshell_out("git --git-dir='%s' count-objects | cut -d' ' -f1", f.path);
	ck_assert_str_eq(s, "0");
	free(s);
	s = testshell_out("git --git-dir='%s' rev-parse main", f.path);
	ck_assert_str_eq(s, a);
	free(s);
	/* the merge is now contained: merging either side again gives it back */
	ck_assert_int_eq(ledger_repo_union(m2, f.repo, m, b, &o), 0);
	ck_assert_str_eq(m2, m);
	ck_assert_int_eq(ledger_repo_union(m2, f.repo, b, m, &o), 0);
	ck_assert_str_eq(m2, m);

	/* theirs grows in the same directories ours has: nested merges of subtrees */
	append_branch(&f, b, 200, 40, "", c);
	ck_assert_msg(ledger_repo_union(m2, f.repo, m, c, &o) == 0, "%s", testshell_errmsg());
	ck_assert_uint_eq(count_added(&f, m, m2), 40);
	ck_assert_uint_eq(count_added(&f, NULL, m2), 1 + 4 + 3 + 40);
	check_history_clean(&f, m2);
	check_git_accepts(&f, m2);
	/* both sides holding the same records, with neither containing the other */
	{
		char d[41], e[41], m3[41];

		append_branch(&f, f.genesis, 1, 4, "", d); /* same files as a, another commit */
		ck_assert_str_ne(d, a);
		ck_assert_int_eq(ledger_repo_union(m3, f.repo, a, d, &o), 0);
		ck_assert_uint_eq(count_added(&f, a, m3), 0);
		s = testshell_out("git --git-dir='%s' log -1 --format=%%s %s", f.path, m3);
		ck_assert_int_ge(asprintf(&msg, "merge: 0 records from %.12s", d), 0);
		ck_assert_str_eq(s, msg);
		free(s);
		free(msg);
		check_history_clean(&f, m3);
		/*
		 * theirs holds all of ours and more: the union's tree is theirs'
		 * own, no tree is written (the push that follows sends none)
		 */
		{
			char g[41], m4[41], *t1, *t2, *before, *after;

			append_branch(&f, d, 400, 20, "", g);
			before = testshell_out("git --git-dir='%s' count-objects -v | "
			                       "sed -n 's/^in-pack: //p'", f.path);
			ck_assert_int_eq(ledger_repo_union(m4, f.repo, a, g, &o), 0);
			after = testshell_out("git --git-dir='%s' count-objects -v | "
			                      "sed -n 's/^in-pack: //p'", f.path);
			ck_assert_int_eq(atoi(after), atoi(before) + 1); /* the merge commit alone */
			free(before);
			free(after);
			ck_assert_uint_eq(count_added(&f, a, m4), 20);
			t1 = testshell_out("git --git-dir='%s' rev-parse %s^{tree}", f.path, m4);
			t2 = testshell_out("git --git-dir='%s' rev-parse %s^{tree}", f.path, g);
			ck_assert_str_eq(t1, t2);
			free(t1);
			free(t2);
			/* ours gains a record too: only its directories are new trees */
			append_branch(&f, a, 500, 1, "", e);
			ck_assert_int_eq(ledger_repo_union(m4, f.repo, e, g, &o), 0);
			ck_assert_uint_eq(count_added(&f, e, m4), 20);
			ck_assert_uint_eq(count_added(&f, g, m4), 1);
			check_history_clean(&f, m4);
			check_git_accepts(&f, m4);
		}
		/* an unsigned merge when no signer is given */
		o.sign = NULL;
		append_branch(&f, f.genesis, 300, 1, "", e);
		ck_assert_int_eq(ledger_repo_union(m3, f.repo, a, e, &o), 0);
		s = testshell_out("git --git-dir='%s' cat-file commit %s", f.path, m3);
		ck_assert_ptr_null(strstr(s, "gpgsig"));
		free(s);
	}
	fixture_free(&f);
}
END_TEST

START_TEST(test_union_conflict)
{
	struct fixture f;
	ledger_commit_options o;
	char a[41], b[41], u[41], rec[96], *s;

	fixture_init(&f);
	o = node_opts(&f, NULL);
	ck_assert_int_eq(append_seeds(&f, 1, 3, "", a), 0);
	append_branch(&f, f.genesis, 2, 1, ",\"x\":1", b); /* record 2 with other bytes */
	ck_assert_int_eq(ledger_repo_union(u, f.repo, a, b, &o), LEDGER_ECONFLICT);
	testutil_record_path(rec, 2);
	ck_assert_msg(strstr(testshell_errmsg(), rec) != NULL, "message does not name %s: %s", rec, testshell_errmsg());
	/* nothing was left behind */
	s = testshell_out("git --git-dir='%s' count-objects | cut -d' ' -f1", f.path);
	ck_assert_str_eq(s, "0");
	free(s);
	fixture_free(&f);
}
END_TEST

struct refs_seen {
	size_t count;
	char names[8][128];
	char commits[8][41];
	int stop_at;
};

static int ref_cb(const char *ref, const char *commit, void *payload)
{
	struct refs_seen *rs = payload;

	ck_assert_uint_lt(rs->count, 8);
	snprintf(rs->names[rs->count], sizeof(rs->names[0]), "%s", ref);
	snprintf(rs->commits[rs->count], sizeof(rs->commits[0]), "%s", commit);
	rs->count++;
	return rs->stop_at && (int)rs->count == rs->stop_at ? 7 : 0;
}

START_TEST(test_update_ref)
{
	struct fixture f;
	ledger_commit_options o;
	struct refs_seen rs;
	char a[41], b[41], m[41], out[41], *s;

	fixture_init(&f);
	o = node_opts(&f, NULL);
	ck_assert_int_eq(append_seeds(&f, 1, 2, "", a), 0);
	append_branch(&f, f.genesis, 50, 2, "", b);

	/* create (expected NULL), then only by compare-and-swap */
	ck_assert_int_eq(ledger_repo_ref(out, f.repo, "refs/cymat/remotes/x/main"), LEDGER_ENOTFOUND);
	ck_assert_msg(ledger_repo_update_ref(f.repo, "refs/cymat/remotes/x/main", NULL, b) == 0,
	              "%s", testshell_errmsg());
	ck_assert_int_eq(ledger_repo_ref(out, f.repo, "refs/cymat/remotes/x/main"), 0);
	ck_assert_str_eq(out, b);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/cymat/remotes/x/main", NULL, a),
	                 LEDGER_ECONFLICT);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/cymat/remotes/x/main", a, a),
	                 LEDGER_ECONFLICT);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/cymat/remotes/y/main", a, a),
	                 LEDGER_ECONFLICT);
	/* any ref but main may move anywhere */
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/cymat/remotes/x/main", b, a), 0);
	s = testshell_out("git --git-dir='%s' rev-parse refs/cymat/remotes/x/main", f.path);
	ck_assert_str_eq(s, a);
	free(s);
	/* invalid names and targets */
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/bad..name", NULL, a), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "HEAD", NULL, a), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/cymat/z", "abc", a), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/cymat/z", NULL,
	                                        "0123456789012345678901234567890123456789"),
	                 LEDGER_ENOTFOUND);

	/* main: only to a commit that contains the expected one */
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, LEDGER_MAIN_REF, a, b), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, LEDGER_MAIN_REF, a, f.genesis),
	                 LEDGER_EINVALID);
	ck_assert_int_eq(ledger_repo_head(out, f.repo), 0);
	ck_assert_str_eq(out, a);
	ck_assert_msg(ledger_repo_union(m, f.repo, a, b, &o) == 0, "%s", testshell_errmsg());
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, LEDGER_MAIN_REF, b, m), LEDGER_ECONFLICT);
	ck_assert_msg(ledger_repo_update_ref(f.repo, LEDGER_MAIN_REF, a, m) == 0, "%s", testshell_errmsg());
	ck_assert_int_eq(ledger_repo_head(out, f.repo), 0);
	ck_assert_str_eq(out, m);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, LEDGER_MAIN_REF, m, m), 0);
	/* the lock was released each time */
	{
		const char *state;
		char *lock;
		int fd;

		ck_assert_int_eq(ledger_repo_state_dir(&state, f.repo), 0);
		ck_assert_int_ge(asprintf(&lock, "%s/lock", state), 0);
		fd = open(lock, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
		close(fd);
		free(lock);
	}

	/* listing by prefix, sorted, through packed refs too */
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/inbox/b", NULL, b), 0);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/inbox/a", NULL, a), 0);
	ck_assert_int_eq(testshell_run("git --git-dir='%s' pack-refs --all", f.path), 0);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/inbox/c/d", NULL, m), 0);
	memset(&rs, 0, sizeof(rs));
	ck_assert_int_eq(ledger_repo_foreach_ref(f.repo, "refs/inbox/", ref_cb, &rs), 0);
	ck_assert_uint_eq(rs.count, 3);
	ck_assert_str_eq(rs.names[0], "refs/inbox/a");
	ck_assert_str_eq(rs.commits[0], a);
	ck_assert_str_eq(rs.names[1], "refs/inbox/b");
	ck_assert_str_eq(rs.commits[1], b);
	ck_assert_str_eq(rs.names[2], "refs/inbox/c/d");
	ck_assert_str_eq(rs.commits[2], m);
	memset(&rs, 0, sizeof(rs));
	rs.stop_at = 2;
	ck_assert_int_eq(ledger_repo_foreach_ref(f.repo, "refs/inbox/", ref_cb, &rs), 7);
	ck_assert_uint_eq(rs.count, 2);
	memset(&rs, 0, sizeof(rs));
	ck_assert_int_eq(ledger_repo_foreach_ref(f.repo, "refs/nothing/", ref_cb, &rs), 0);
	ck_assert_uint_eq(rs.count, 0);
	/* a packed ref moves by CAS too */
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/inbox/a", b, m), LEDGER_ECONFLICT);
	ck_assert_int_eq(ledger_repo_update_ref(f.repo, "refs/inbox/a", a, m), 0);
	ck_assert_int_eq(ledger_repo_ref(out, f.repo, "refs/inbox/a"), 0);
	ck_assert_str_eq(out, m);
	ck_assert_msg(testshell_run("git --git-dir='%s' fsck --strict --no-dangling >/dev/null 2>&1",
	                  f.path) == 0, "git fsck --strict failed");
	fixture_free(&f);
}
END_TEST

/* ---- transfers: git daemon, stock paths and fake servers on 127.0.0.1 ---- */

/* A free TCP port on 127.0.0.1 (the kernel's choice; git daemon binds it with SO_REUSEADDR). */
static int listen_any(int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static int free_port(void)
{
	int port, fd = listen_any(&port);

	close(fd);
	return port;
}

static int port_open(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/*
 * Children of the test die with it (PR_SET_PDEATHSIG), each in its own
 * process group so that killing the group takes a daemon's own children too.
 */
static void child_guard(void)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(1);
}

static void child_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* git daemon serving `base` on a free port with receive-pack enabled. */
static pid_t daemon_start(const char *base, int *port)
{
	char port_arg[32], base_arg[4096];
	pid_t pid;

	*port = free_port();
	snprintf(port_arg, sizeof(port_arg), "--port=%d", *port);
	snprintf(base_arg, sizeof(base_arg), "--base-path=%s", base);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		child_guard();
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execlp("git", "git", "daemon", "--reuseaddr", "--listen=127.0.0.1", port_arg,
		       base_arg, "--export-all", "--enable=receive-pack", "--timeout=60",
		       "--init-timeout=60", base, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400 && !port_open(*port); i++)
		usleep(50 * 1000);
	if (!port_open(*port)) {
		child_kill(pid);
		ck_abort_msg("git daemon did not start on port %d", *port);
	}
	return pid;
}

enum fake_mode { FAKE_TRICKLE, FAKE_ENDLESS_PACK, FAKE_GARBAGE };

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		p += n;
		len -= (size_t)n;
	}
}

static void send_pkt(int fd, const char *data, size_t len)
{
	char hdr[5];

	snprintf(hdr, sizeof(hdr), "%04zx", len + 4);
	send_all(fd, hdr, 4);
	send_all(fd, data, len);
}

/* Read from the client until `marker` has been seen (or it hangs up). */
static void read_until(int fd, const char *marker)
{
	char buf[8192];
	size_t have = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);

		if (n <= 0)
			_exit(0);
		have += (size_t)n;
		buf[have] = '\0';
		if (memmem(buf, have, marker, strlen(marker)))
			return;
		if (have > sizeof(buf) / 2) {
			size_t keep = strlen(marker);

			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
}

#define FAKE_BLOB 60000

/*
 * One blob of FAKE_BLOB bytes as a pack entry: the type and size header,
 * then a zlib stream of one stored (uncompressed) block; `n` makes each
 * blob different.
 */
static size_t pack_blob(unsigned char *out, uint64_t n)
{
	unsigned char *p = out, *data;
	uint32_t a = 1, b = 0;
	size_t size = FAKE_BLOB;

	*p++ = (unsigned char)(0x80 | (3 << 4) | (size & 0x0f));
	size >>= 4;
	while (size) {
		*p = (unsigned char)(size & 0x7f);
		size >>= 7;
		if (size)
			*p |= 0x80;
		p++;
	}
	*p++ = 0x78;
	*p++ = 0x01;
	*p++ = 0x01; /* final block, stored */
	*p++ = FAKE_BLOB & 0xff;
	*p++ = FAKE_BLOB >> 8;
	*p++ = (unsigned char)(~FAKE_BLOB & 0xff);
	*p++ = (unsigned char)((~FAKE_BLOB >> 8) & 0xff);
	data = p;
	memset(data, 'x', FAKE_BLOB);
	snprintf((char *)data, 32, "blob %llu", (unsigned long long)n);
	for (size_t i = 0; i < FAKE_BLOB; i++) {
		a = (a + data[i]) % 65521;
		b = (b + a) % 65521;
	}
	p += FAKE_BLOB;
	*p++ = (unsigned char)(b >> 8);
	*p++ = (unsigned char)b;
	*p++ = (unsigned char)(a >> 8);
	*p++ = (unsigned char)a;
	return (size_t)(p - out);
}

/* Serve one client after a valid-looking ref advertisement, as `mode` says. */
static void fake_serve(int fd, enum fake_mode mode)
{
	static unsigned char obj[FAKE_BLOB + 64], pkt[FAKE_BLOB + 128];
	const char *adv = "1111111111111111111111111111111111111111 refs/heads/main";
	char line[256];
	uint64_t n = 0;
	int len;

	if (mode == FAKE_TRICKLE) {
		/* a valid start, one byte a second, never finished */
		for (const char *p = "0050"; ; p = *p && p[1] ? p + 1 : "0") {
			send_all(fd, p, 1);
			sleep(1);
		}
	}
	read_until(fd, "git-upload-pack");
	len = snprintf(line, sizeof(line), "%s%c%s\n", adv, '\0', "side-band-64k ofs-delta");
	send_pkt(fd, line, (size_t)len);
	send_all(fd, "0000", 4);
	read_until(fd, "done");
	send_pkt(fd, "NAK\n", 4);
	if (mode == FAKE_GARBAGE) {
		memset(pkt, '\x07', sizeof(pkt));
		for (;;)
			send_all(fd, pkt, sizeof(pkt));
	}
	/* band 1: a pack announcing a million blobs, sent without end */
	memcpy(pkt, "\x01PACK\0\0\0\x02\0\x0f\x42\x40", 13);
	send_pkt(fd, (char *)pkt, 13);
	for (;;) {
		size_t olen = pack_blob(obj, n++);

		for (size_t off = 0; off < olen;) {
			size_t chunk = olen - off > 65000 ? 65000 : olen - off;

			pkt[0] = 1;
			memcpy(pkt + 1, obj + off, chunk);
			send_pkt(fd, (char *)pkt, chunk + 1);
			off += chunk;
		}
	}
}

/* A fake git:// server, a forked child on a free port of 127.0.0.1. */
static pid_t fake_start(enum fake_mode mode, int *port)
{
	int lfd = listen_any(port);
	pid_t pid;

	ck_assert_int_eq(listen(lfd, 8), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		child_guard();
		alarm(120); /* never outlives a stuck test */
		for (;;) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0)
				continue;
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				alarm(120);
				close(lfd);
				fake_serve(fd, mode);
				_exit(0);
			}
			close(fd);
		}
	}
	close(lfd);
	return pid;
}

/* The remote: a ledger served by git daemon; the local node: a bare clone of its genesis. */
struct net {
	struct fixture f;    /* the remote ledger, f.path = <base>/ledger.git */
	char *local_path;
	ledger_repo *local;
	pid_t daemon;
	int port;
	char *url;           /* git://127.0.0.1:<port>/ledger.git */
};

static void net_init(struct net *n)
{
	memset(n, 0, sizeof(*n));
	fixture_init(&n->f);
	ck_assert_int_ge(asprintf(&n->local_path, "%s/local.git", n->f.base), 0);
	ck_assert_int_eq(testshell_run("git clone -q --bare '%s' '%s' 2>/dev/null", n->f.path, n->local_path), 0);
	ck_assert_int_eq(ledger_repo_open(&n->local, n->local_path), 0);
	n->daemon = daemon_start(n->f.base, &n->port);
	ck_assert_int_ge(asprintf(&n->url, "git://127.0.0.1:%d/ledger.git", n->port), 0);
}

static void net_free(struct net *n)
{
	child_kill(n->daemon);
	ledger_repo_free(n->local);
	free(n->local_path);
	free(n->url);
	fixture_free(&n->f);
}

static void check_main(struct net *n, const char *expect)
{
	char *s = testshell_out("git --git-dir='%s' rev-parse refs/heads/main", n->local_path);

	ck_assert_str_eq(s, expect);
	free(s);
}

START_TEST(test_fetch)
{
	struct net n;
	ledger_transfer_limits lim = LEDGER_TRANSFER_LIMITS_INIT;
	char t[41], out[41], *url, *s;

	net_init(&n);
	lim.deadline_s = 60;
	ck_assert_int_eq(append_seeds(&n.f, 1, 5, "", t), 0);
	ck_assert_msg(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                  "refs/cymat/remotes/m/main", &lim) == 0, "%s", testshell_errmsg());
	ck_assert_str_eq(out, t);
	ck_assert_int_eq(ledger_repo_ref(out, n.local, "refs/cymat/remotes/m/main"), 0);
	ck_assert_str_eq(out, t);
	check_main(&n, n.f.genesis); /* main never moves */
	ck_assert_uint_eq(count_added_in(n.local, NULL, t), 6);
	ck_assert_msg(testshell_run("git --git-dir='%s' fsck --strict --no-dangling >/dev/null 2>&1",
	                  n.local_path) == 0, "git fsck --strict failed on the fetching side");
	/* again, with nothing new: the same commit, no error */
	ck_assert_msg(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                  "refs/cymat/remotes/m/main", &lim) == 0, "%s", testshell_errmsg());
	ck_assert_str_eq(out, t);
	/* more records: the ref follows */
	ck_assert_int_eq(append_seeds(&n.f, 10, 2, "", t), 0);
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                     "refs/cymat/remotes/m/main", NULL), 0);
	ck_assert_str_eq(out, t);
	/* a path and a file:// url */
	ck_assert_int_eq(append_seeds(&n.f, 20, 1, "", t), 0);
	ck_assert_msg(ledger_remote_fetch(out, n.local, n.f.path, LEDGER_MAIN_REF,
	                                  "refs/cymat/remotes/p/main", &lim) == 0, "%s", testshell_errmsg());
	ck_assert_str_eq(out, t);
	ck_assert_int_eq(append_seeds(&n.f, 30, 1, "", t), 0);
	ck_assert_int_ge(asprintf(&url, "file://%s", n.f.path), 0);
	ck_assert_msg(ledger_remote_fetch(out, n.local, url, LEDGER_MAIN_REF,
	                                  "refs/cymat/remotes/p/main", &lim) == 0, "%s", testshell_errmsg());
	ck_assert_str_eq(out, t);
	free(url);
	check_main(&n, n.f.genesis);
	/* no temporary files left in objects/pack */
	s = testshell_out("ls '%s/objects/pack' | grep -v '^pack-[0-9a-f]*\\.\\(pack\\|idx\\)$' | wc -l",
	            n.local_path);
	ck_assert_str_eq(s, "0");
	free(s);

	/*
	 * A fetch ref that is symbolic, or names a tag of an older commit, never
	 * compares equal: an error after a few attempts, not a spin (review 3 #10).
	 */
	ck_assert_int_eq(testshell_run("git --git-dir='%s' symbolic-ref refs/cymat/remotes/s/main "
	                               "refs/heads/main && git --git-dir='%s' tag -a -m old old %s && "
	                               "git --git-dir='%s' update-ref refs/cymat/remotes/t/main "
	                               "refs/tags/old", n.local_path, n.local_path, n.f.genesis,
	                               n.local_path), 0);
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                     "refs/cymat/remotes/s/main", &lim), LEDGER_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(testshell_errmsg(), "could not be moved"));
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                     "refs/cymat/remotes/t/main", &lim), LEDGER_ECONFLICT);
	check_main(&n, n.f.genesis);

	/* errors: a missing remote ref, a port nobody listens on, bad arguments */
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, "refs/heads/nope",
	                                     "refs/cymat/remotes/m/main", &lim), LEDGER_ENOTFOUND);
	ck_assert_int_ge(asprintf(&url, "git://127.0.0.1:%d/ledger.git", free_port()), 0);
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, url, LEDGER_MAIN_REF,
	                                     "refs/cymat/remotes/x/main", &lim), LEDGER_ENETWORK);
	free(url);
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF, LEDGER_MAIN_REF,
	                                     &lim), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_repo_ref(out, n.local, "refs/cymat/remotes/x/main"), LEDGER_ENOTFOUND);
	check_main(&n, n.f.genesis);
	net_free(&n);
}
END_TEST

/*
 * The free-space floor (git config cymat.minFreeSpace): above the free
 * space, nothing is fetched and the message names the path, the free space
 * and the floor; a value that is no size is refused as such; k, m, g and t
 * are powers of 1024; 0 is no floor.
 */
START_TEST(test_fetch_space_floor)
{
	static const char *const bad[] = { "", "x", "-1", "1kb", "12 k", "1p",
		                            "99999999999999999999", "16777216t" };
	struct net n;
	ledger_transfer_limits lim = LEDGER_TRANSFER_LIMITS_INIT;
	char t[41], out[41], *s;
	const char *msg;

	net_init(&n);
	lim.deadline_s = 60;
	ck_assert_int_eq(append_seeds(&n.f, 1, 2, "", t), 0);
	/* 2^63 bytes: above any file system's free space */
	ck_assert_int_eq(ledger_repo_config_set(n.local, "cymat.minFreeSpace", "8388608t"), 0);
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                     "refs/cymat/remotes/m/main", &lim), LEDGER_EIO);
	msg = testshell_errmsg();
	ck_assert_msg(strstr(msg, "fetch refused: the file system of \"") &&
	              strstr(msg, n.local_path) && strstr(msg, " free, less than the 8388608.0 TiB "
	                                                   "it keeps free (git config "
	                                                   "cymat.minFreeSpace)"), "%s", msg);
	ck_assert_int_eq(ledger_repo_ref(out, n.local, "refs/cymat/remotes/m/main"), LEDGER_ENOTFOUND);
	s = testshell_out("ls '%s/cymat' 2>/dev/null | grep -c '^incoming-' || true", n.local_path);
	ck_assert_str_eq(s, "0");
	free(s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(ledger_repo_config_set(n.local, "cymat.minFreeSpace", bad[i]), 0);
		ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
		                                     "refs/cymat/remotes/m/main", &lim),
		                 LEDGER_EINVALID);
		ck_assert_msg(strstr(testshell_errmsg(), "is not a size"), "\"%s\": %s", bad[i],
		              testshell_errmsg());
	}
	ck_assert_int_eq(ledger_repo_config_set(n.local, "cymat.minFreeSpace", "1K"), 0);
	ck_assert_msg(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                  "refs/cymat/remotes/m/main", &lim) == 0, "%s", testshell_errmsg());
	ck_assert_str_eq(out, t);
	ck_assert_int_eq(append_seeds(&n.f, 10, 1, "", t), 0);
	ck_assert_int_eq(ledger_repo_config_set(n.local, "cymat.minFreeSpace", "0"), 0);
	ck_assert_msg(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                  "refs/cymat/remotes/m/main", &lim) == 0, "%s", testshell_errmsg());
	ck_assert_str_eq(out, t);
	check_main(&n, n.f.genesis);
	net_free(&n);
}
END_TEST

START_TEST(test_push)
{
	struct net n;
	ledger_transfer_limits lim = LEDGER_TRANSFER_LIMITS_INIT;
	struct fixture local;
	char t[41], u[41], v[41], w[41], out[41], *s, *hook;
	FILE *hf;

	net_init(&n);
	lim.deadline_s = 60;
	ck_assert_int_eq(append_seeds(&n.f, 1, 2, "", t), 0);
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                     "refs/cymat/remotes/m/main", &lim), 0);
	ck_assert_int_eq(ledger_repo_update_ref(n.local, LEDGER_MAIN_REF, n.f.genesis, t), 0);
	/* the local node appends with the same key, through a fixture view of it */
	local = n.f;
	local.repo = n.local;
	ck_assert_int_eq(append_seeds(&local, 100, 3, "", u), 0);

	/* fast-forward pushes: a new inbox ref, then the remote's main */
	ck_assert_msg(ledger_remote_push(n.local, n.url, u, "refs/inbox/a", &lim) == 0, "%s",
	              testshell_errmsg());
	s = testshell_out("git --git-dir='%s' rev-parse refs/inbox/a", n.f.path);
	ck_assert_str_eq(s, u);
	free(s);
	ck_assert_msg(ledger_remote_push(n.local, n.url, u, LEDGER_MAIN_REF, &lim) == 0, "%s",
	              testshell_errmsg());
	s = testshell_out("git --git-dir='%s' rev-parse main", n.f.path);
	ck_assert_str_eq(s, u);
	free(s);
	/* pushing what is already there is fine */
	ck_assert_int_eq(ledger_remote_push(n.local, n.url, u, LEDGER_MAIN_REF, &lim), 0);
	/* no temporary ref stays behind */
	s = testshell_out("git --git-dir='%s' for-each-ref refs/cymat/push | wc -l", n.local_path);
	ck_assert_str_eq(s, "0");
	free(s);

	/* not a fast-forward: back to an ancestor, and a side the remote does not have */
	ck_assert_int_eq(ledger_remote_push(n.local, n.url, t, LEDGER_MAIN_REF, &lim),
	                 LEDGER_ECONFLICT);
	ck_assert_msg(strstr(testshell_errmsg(), "fast-forward") != NULL, "%s", testshell_errmsg());
	ck_assert_int_eq(append_seeds(&n.f, 200, 1, "", v), 0);   /* remote main: u + 200 */
	ck_assert_int_eq(append_seeds(&local, 300, 1, "", w), 0); /* local main: u + 300 */
	ck_assert_int_eq(ledger_remote_push(n.local, n.url, w, LEDGER_MAIN_REF, &lim),
	                 LEDGER_ECONFLICT);
	s = testshell_out("git --git-dir='%s' rev-parse main", n.f.path);
	ck_assert_str_eq(s, v);
	free(s);

	/* a pre-receive hook says no: its message comes back */
	ck_assert_int_ge(asprintf(&hook, "%s/hooks/pre-receive", n.f.path), 0);
	hf = fopen(hook, "w");
	ck_assert_ptr_nonnull(hf);
	fputs("#!/bin/sh\necho 'record 1234: refused by the test hook' >&2\nexit 1\n", hf);
	ck_assert_int_eq(fclose(hf), 0);
	ck_assert_int_eq(chmod(hook, 0755), 0);
	ck_assert_int_eq(ledger_remote_push(n.local, n.url, w, "refs/inbox/b", &lim),
	                 LEDGER_ECONFLICT);
	ck_assert_msg(strstr(testshell_errmsg(), "record 1234: refused by the test hook") != NULL, "%s",
	              testshell_errmsg());
	ck_assert_int_ne(testshell_run("git --git-dir='%s' rev-parse -q --verify refs/inbox/b >/dev/null",
	                     n.f.path), 0);
	free(hook);

	/* an unreachable server, an unknown commit */
	{
		char *url;

		ck_assert_int_ge(asprintf(&url, "git://127.0.0.1:%d/ledger.git", free_port()), 0);
		ck_assert_int_eq(ledger_remote_push(n.local, url, u, "refs/inbox/c", &lim),
		                 LEDGER_ENETWORK);
		free(url);
	}
	ck_assert_int_eq(ledger_remote_push(n.local, n.url,
	                                    "0123456789012345678901234567890123456789",
	                                    "refs/inbox/c", &lim), LEDGER_ENOTFOUND);
	s = testshell_out("git --git-dir='%s' for-each-ref refs/cymat/push | wc -l", n.local_path);
	ck_assert_str_eq(s, "0");
	free(s);
	check_main(&n, w);
	net_free(&n);
}
END_TEST

/*
 * A push whose objects lie in a pack larger than the store's 8 MiB pack
 * window, a pack the parent already read from: the child uses libgit2's
 * cache of open packs it inherited, so their descriptors must stay open.
 */
START_TEST(test_push_big_pack)
{
	struct net n;
	ledger_transfer_limits lim = LEDGER_TRANSFER_LIMITS_INIT;
	char out[41], *c, *s;

	net_init(&n);
	lim.deadline_s = 120;
	/* 24 MiB that do not compress, beside the genesis tree, then one pack of everything */
	c = testshell_out("cd '%s' && b=$(head -c 25165824 /dev/urandom | git hash-object -w --stdin) && "
	                  "t=$( (git ls-tree main; printf '100644 blob %%s\tnoise\n' \"$b\") | git mktree) && "
	                  "git commit-tree -p main -m noise \"$t\"", n.local_path);
	ck_assert_int_eq(strlen(c), 40);
	ck_assert_int_eq(testshell_run("git --git-dir='%s' update-ref refs/heads/noise %s && "
	                               "git --git-dir='%s' repack -a -d -q", n.local_path, c,
	                               n.local_path), 0);
	/* the parent reads from that pack, and maps its first window only */
	ck_assert_int_eq(ledger_repo_resolve(out, n.local, c), 0);
	ck_assert_msg(ledger_remote_push(n.local, n.url, c, "refs/inbox/big", &lim) == 0, "%s",
	              testshell_errmsg());
	s = testshell_out("git --git-dir='%s' rev-parse refs/inbox/big", n.f.path);
	ck_assert_str_eq(s, c);
	free(s);
	ck_assert_msg(testshell_run("git --git-dir='%s' fsck --no-dangling >/dev/null 2>&1", n.f.path) == 0,
	              "git fsck failed on the receiving side");
	free(c);
	net_free(&n);
}
END_TEST

/*
 * A node's records on an older main than the remote's (which it fetched):
 * the push sends the new commit, its records and the directories on their
 * paths, not the directories of the older main that the remote changed
 * since (libgit2 alone sent those: store_transfer.c, have_fill).
 */
START_TEST(test_push_stops_at_base)
{
	struct net n;
	ledger_transfer_limits lim = LEDGER_TRANSFER_LIMITS_INIT;
	struct fixture local;
	char b[41], a[41], u[41], out[41], *s;

	net_init(&n);
	lim.deadline_s = 60;
	ck_assert_int_eq(append_seeds(&n.f, 1, 40, "", b), 0);
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                     "refs/cymat/remotes/m/main", &lim), 0);
	ck_assert_int_eq(ledger_repo_update_ref(n.local, LEDGER_MAIN_REF, n.f.genesis, b), 0);
	/* the remote gains 40 records in as many directories; the node fetches them */
	ck_assert_int_eq(append_seeds(&n.f, 1000, 40, "", a), 0);
	ck_assert_int_eq(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
	                                     "refs/cymat/remotes/m/main", &lim), 0);
	local = n.f;
	local.repo = n.local;
	ck_assert_int_eq(append_seeds(&local, 5000, 3, "", u), 0);
	/* the server keeps what it receives as a pack: its objects are counted */
	ck_assert_int_eq(testshell_run("git --git-dir='%s' config receive.unpackLimit 1 && "
	                               "ls '%s/objects/pack' > '%s/packs-before'", n.f.path,
	                               n.f.path, n.f.base), 0);
	ck_assert_msg(ledger_remote_push(n.local, n.url, u, "refs/inbox/a", &lim) == 0, "%s",
	              testshell_errmsg());
	s = testshell_out("git --git-dir='%s' rev-parse refs/inbox/a", n.f.path);
	ck_assert_str_eq(s, u);
	free(s);
	/* 1 commit, 3 records, the root, records/, at most 3 + 3 directories below */
	s = testshell_out("cd '%s/objects/pack' && for i in *.idx; do grep -qx \"$i\" '%s/packs-before' || "
	                  "git show-index < \"$i\"; done | wc -l", n.f.path, n.f.base);
	ck_assert_msg(atoi(s) >= 6 && atoi(s) <= 12, "%s objects pushed", s);
	free(s);
	/* one commit: the push child's own, which marks what the server holds, stays with it */
	s = testshell_out("cd '%s/objects/pack' && for i in *.idx; do grep -qx \"$i\" '%s/packs-before' || "
	                  "git show-index < \"$i\"; done | cut -d' ' -f2 | "
	                  "git --git-dir='%s' cat-file --batch-check='%%(objecttype)' | grep -c commit",
	                  n.f.path, n.f.base, n.f.path);
	ck_assert_str_eq(s, "1");
	free(s);
	ck_assert_msg(testshell_run("git --git-dir='%s' fsck --strict --no-dangling >/dev/null 2>&1",
	                  n.f.path) == 0, "git fsck --strict failed on the receiving side");
	net_free(&n);
}
END_TEST

static char fake_error[1024];

/*
 * Fetch from a fake server: the code it ends with, its message in
 * fake_error; main and the local ref must not change.
 */
static int fetch_fake(struct net *n, enum fake_mode mode, const ledger_transfer_limits *lim)
{
	char out[41], *url;
	pid_t server;
	int port, r;

	server = fake_start(mode, &port);
	ck_assert_int_ge(asprintf(&url, "git://127.0.0.1:%d/ledger.git", port), 0);
	r = ledger_remote_fetch(out, n->local, url, LEDGER_MAIN_REF, "refs/cymat/remotes/f/main",
	                        lim);
	snprintf(fake_error, sizeof(fake_error), "%s", testshell_errmsg());
	/* the server is still there: the fetch gave up on it, not the other way round */
	ck_assert_int_eq(kill(server, 0), 0);
	child_kill(server);
	free(url);
	check_main(n, n->f.genesis);
	ck_assert_int_eq(ledger_repo_ref(out, n->local, "refs/cymat/remotes/f/main"),
	                 LEDGER_ENOTFOUND);
	return r;
}

START_TEST(test_fetch_hostile)
{
	struct net n;
	ledger_transfer_limits lim = LEDGER_TRANSFER_LIMITS_INIT;
	char *s;
	int r;

	net_init(&n);
	/* trickling: cut off at the deadline */
	lim.deadline_s = 2;
	r = fetch_fake(&n, FAKE_TRICKLE, &lim);
	ck_assert_msg(r == LEDGER_ETIMEOUT, "%d: %s", r, fake_error);
	/* an endless pack: cut off at the byte cap, then at the object cap */
	lim.deadline_s = 100;
	lim.max_bytes = 1024 * 1024;
	r = fetch_fake(&n, FAKE_ENDLESS_PACK, &lim);
	ck_assert_msg(r == LEDGER_ELIMIT, "%d: %s", r, fake_error);
	ck_assert_msg(strstr(fake_error, "bytes") != NULL, "%s", fake_error);
	lim.max_bytes = 0;
	lim.max_objects = 1000;
	r = fetch_fake(&n, FAKE_ENDLESS_PACK, &lim);
	ck_assert_msg(r == LEDGER_ELIMIT, "%d: %s", r, fake_error);
	ck_assert_msg(strstr(fake_error, "objects") != NULL, "%s", fake_error);
	/* garbage after the advertisement: the transfer broke */
	lim.max_objects = 0;
	r = fetch_fake(&n, FAKE_GARBAGE, &lim);
	ck_assert_msg(r == LEDGER_ENETWORK, "%d: %s", r, fake_error);
	/* nothing half-received stays in objects/pack; a real fetch still works */
	s = testshell_out("ls '%s/objects/pack' | grep -v '^pack-[0-9a-f]*\\.\\(pack\\|idx\\)$' | wc -l",
	            n.local_path);
	ck_assert_str_eq(s, "0");
	free(s);
	{
		char t[41], out[41];

		ck_assert_int_eq(append_seeds(&n.f, 1, 1, "", t), 0);
		ck_assert_msg(ledger_remote_fetch(out, n.local, n.url, LEDGER_MAIN_REF,
		                                  "refs/cymat/remotes/m/main", NULL) == 0, "%s", testshell_errmsg());
		ck_assert_str_eq(out, t);
	}
	ck_assert_msg(testshell_run("git --git-dir='%s' fsck --strict --no-dangling >/dev/null 2>&1",
	                  n.local_path) == 0, "git fsck --strict failed on the fetching side");
	net_free(&n);
}
END_TEST

static Suite *sync_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("union");

	tcase_add_test(tc, test_union_contained_and_fast_forward);
	tcase_add_test(tc, test_union_merge);
	tcase_add_test(tc, test_union_conflict);
	tcase_add_test(tc, test_update_ref);
	suite_add_tcase(s, tc);
	tc = tcase_create("transfer");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_fetch);
	tcase_add_test(tc, test_fetch_space_floor);
	tcase_add_test(tc, test_push);
	tcase_add_test(tc, test_push_big_pack);
	tcase_add_test(tc, test_push_stops_at_base);
	tcase_add_test(tc, test_fetch_hostile);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(sync_suite());
}
