/*
 * cymat hook: the pre-receive hook of NISC's master, served by stock git
 * servers (git daemon, git http-backend), and its installation.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "cli.h"

const char cmd_hook_help[] =
	"usage: cymat hook pre-receive\n"
	"       cymat hook install [--cymat PATH] [--force]\n"
	"\n"
	"pre-receive: run by git as the pre-receive hook of the master ledger, inside\n"
	"receive-pack's quarantine (the pushed objects are read from\n"
	"GIT_OBJECT_DIRECTORY and GIT_ALTERNATE_OBJECT_DIRECTORIES).  Reads the\n"
	"\"OLD NEW REF\" lines git writes and refuses the whole push when any update:\n"
	"  - writes outside refs/inbox/<agency> (refs/heads/main included);\n"
	"  - deletes an inbox, sets it to other than a commit, or is not a\n"
	"    fast-forward of the inbox;\n"
	"  - creates an inbox when there are cymat.maxInboxes already (git config of\n"
	"    the master, default 256);\n"
	"  - with git config cymat.inboxBinding true and REMOTE_USER set (git\n"
	"    http-backend behind an authenticating web server), writes\n"
	"    refs/inbox/<agency> while cymat.inboxUser.<agency> does not name that\n"
	"    user (pushes without REMOTE_USER are not bound);\n"
	"  - brings, beyond what main holds, an error of a FORMAT rule: a malformed,\n"
	"    non-canonical, unsigned, forged or unknown-key record, a record file\n"
	"    changed or deleted, a file outside records/, a record file main holds\n"
	"    with other bytes;\n"
	"  - brings a commit main lacks that is unsigned, signed by a key no root or\n"
	"    principal binds or one revoked as compromised, or (unless a merge) whose\n"
	"    \"Record: <id>\" trailers do not name exactly the records it adds.\n"
	"DOMAIN rule findings do not refuse: records stay as evidence.  Each reason is\n"
	"a line on stderr (git shows it as \"remote: ...\") naming the ref, the rule,\n"
	"the record id and path or the commit.  The verification reads the cache but\n"
	"never writes it; the root is the master's own (cymat.root, else main's\n"
	"LEDGER file).\n"
	"\n"
	"install: make this command the pre-receive hook of the ledger (-C DIR):\n"
	"writes hooks/pre-receive, a script running `PATH hook pre-receive` (with\n"
	"CYMAT_SCHEMAS_DIR as set now) under `ulimit -t 900` (CPU seconds) and\n"
	"`ulimit -v 8388608` (KiB of address space), and sets receive.fsckObjects,\n"
	"receive.denyDeletes, receive.denyNonFastForwards and receive.maxInputSize\n"
	"(1g), so that git itself refuses broken objects, deletions, rewrites and\n"
	"oversized pushes too.\n"
	"\n"
	"Options:\n"
	"  --cymat PATH    the cymat the hook runs (default: this one)\n"
	"  --force         replace an existing pre-receive hook\n"
	"  -h, --help      show this help\n"
	"\n"
	"Exit status: 0 accepted (or installed); 1 refused; 2 usage or a malformed\n"
	"update line; 3 not a ledger, a malformed setting (cymat.root,\n"
	"cymat.maxInboxes) or a hook already there; 5 internal or I/O error.  Any\n"
	"status but 0 makes git refuse the push.\n"
	"\n"
	"Examples:\n"
	"  cymat -C /srv/cymat/master.git hook install\n"
	"  printf '#!/bin/sh\\nexec /usr/bin/cymat hook pre-receive\\n' \\\n"
	"      >/srv/cymat/master.git/hooks/pre-receive\n";

/* What one push may cost: its pack, and the hook's CPU time and address space. */
#define HOOK_MAX_INPUT "1g"
#define HOOK_CPU_SECONDS "900"
#define HOOK_MEMORY_KIB "8388608"

/* One "OLD NEW REF" line of git's pre-receive input. */
struct hook_update {
	char old_id[LEDGER_OID_HEX_LEN + 1];
	char new_id[LEDGER_OID_HEX_LEN + 1];
	char *ref;
	int passed; /* nothing to refuse in this update */
};

static int parse_id(char out[LEDGER_OID_HEX_LEN + 1], const char *s)
{
	if (strspn(s, "0123456789abcdef") != LEDGER_OID_HEX_LEN)
		return -1;
	memcpy(out, s, LEDGER_OID_HEX_LEN);
	out[LEDGER_OID_HEX_LEN] = '\0';
	return 0;
}

static int parse_update(struct hook_update *u, char *line)
{
	size_t len = strlen(line);

	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len < 2 * LEDGER_OID_HEX_LEN + 3 || line[LEDGER_OID_HEX_LEN] != ' ' ||
	    line[2 * LEDGER_OID_HEX_LEN + 1] != ' ' || parse_id(u->old_id, line) < 0 ||
	    parse_id(u->new_id, line + LEDGER_OID_HEX_LEN + 1) < 0)
		return -1;
	u->ref = strdup(line + 2 * LEDGER_OID_HEX_LEN + 2);
	return u->ref && !strchr(u->ref, ' ') ? 0 : -1;
}

/*
 * "refs/inbox/moj: refused by FORMAT-2 bad-signature: record ID "PATH"
 * (pushed in NEW): MESSAGE"; a finding about a commit names that commit, one
 * about the ref alone only the message.
 */
static void print_refusal(const struct hook_update *u, const ledger_finding *f)
{
	/* The ref, path and message come from the push: escaped for the pusher's terminal. */
	char *ref = cli_escaped(u->ref), *message = cli_escaped(f->message);
	char path[4 * sizeof(f->path)];

	fprintf(stderr, "cymat hook: %s: refused by %s %s:", ref ? ref : "?", f->rule, f->code);
	if (f->id[0])
		fprintf(stderr, " record %s", f->id);
	if (f->path[0])
		fprintf(stderr, " \"%s\"", ledger_escape_controls(path, sizeof(path), f->path));
	if (f->commit[0])
		fprintf(stderr, " in commit %s", f->commit);
	else if (f->id[0] || f->path[0])
		fprintf(stderr, " (pushed in %s)", u->new_id);
	fprintf(stderr, "%s %s\n", f->id[0] || f->path[0] || f->commit[0] ? ":" : "",
	        message ? message : "(out of memory)");
	free(ref);
	free(message);
}

static int hook_pre_receive(void)
{
	struct hook_update *updates = NULL;
	ledger_repo *repo = NULL;
	ledger_report *refusals = NULL;
	size_t n = 0, cap = 0, refused = 0, lineno = 0, len = 0;
	char *line = NULL;
	int rc, error;

	while (getline(&line, &len, stdin) > 0) {
		lineno++;
		if (n == cap) {
			size_t bigger = cap ? cap * 2 : 8;
			struct hook_update *grown = realloc(updates, bigger * sizeof(*grown));

			if (!grown) {
				cli_error("out of memory");
				rc = CLI_EXIT_INTERNAL;
				goto done;
			}
			updates = grown;
			cap = bigger;
		}
		memset(&updates[n], 0, sizeof(updates[n]));
		if (parse_update(&updates[n], line) < 0) {
			free(updates[n].ref);
			cli_error("line %zu of the input is not \"OLD NEW REF\"; refusing the push",
			          lineno);
			rc = CLI_EXIT_USAGE;
			goto done;
		}
		n++;
	}
	if (ferror(stdin)) {
		cli_error("cannot read the ref updates: %s; refusing the push", strerror(errno));
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	/* -C DIR, else git's environment (GIT_DIR and the quarantine) or the current directory. */
	if (cli_ledger_dir && chdir(cli_ledger_dir) < 0) {
		cli_error("cannot enter \"%s\": %s", cli_ledger_dir, strerror(errno));
		rc = CLI_EXIT_INPUT;
		goto done;
	}
	if ((error = ledger_repo_open_env(&repo)) < 0) {
		rc = cli_lib_error(error, "cannot open the master ledger; refusing the push");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct hook_update *u = &updates[i];

		error = ledger_receive_judge_as(&refusals, repo, u->ref, u->old_id, u->new_id,
		                                getenv("REMOTE_USER"));
		if (error < 0) {
			rc = cli_lib_error(error, "%s: cannot judge the push; refusing it", u->ref);
			goto done;
		}
		for (size_t k = 0; k < ledger_report_count(refusals); k++)
			print_refusal(u, ledger_report_get(refusals, k));
		updates[i].passed = ledger_report_count(refusals) == 0;
		refused += !updates[i].passed;
		ledger_report_free(refusals);
		refusals = NULL;
	}
	/* git takes all the updates of a push or none (pre-receive decides for all). */
	for (size_t i = 0; i < n; i++)
		if (updates[i].passed) {
			char *ref = cli_escaped(updates[i].ref);

			fprintf(stderr, "cymat hook: %s: %s %s\n", ref ? ref : "?",
			        refused ? "would be accepted alone:" : "accepted", updates[i].new_id);
			free(ref);
		}
	if (refused) {
		cli_error("push refused (%zu of %zu ref updates); nothing was written", refused, n);
		rc = CLI_EXIT_REFUSED;
		goto done;
	}
	rc = CLI_EXIT_OK;
done:
	for (size_t i = 0; i < n; i++)
		free(updates[i].ref);
	free(updates);
	free(line);
	ledger_report_free(refusals);
	ledger_repo_free(repo);
	return rc;
}

/* Append `s` to the script in single quotes; a path holding one is refused. */
static int put_quoted(FILE *fp, const char *s)
{
	if (strchr(s, '\'') || strchr(s, '\n'))
		return -1;
	fprintf(fp, "'%s'", s);
	return 0;
}

static int write_hook(const char *path, const char *cymat, int force)
{
	const char *schemas = getenv("CYMAT_SCHEMAS_DIR");
	char *tmp = NULL;
	FILE *fp = NULL;
	struct stat st;
	int fd = -1, rc = CLI_EXIT_INTERNAL, bad = 0;

	if (!force && lstat(path, &st) == 0) {
		cli_error("\"%s\" exists; --force replaces it", path);
		return CLI_EXIT_INPUT;
	}
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		cli_error("out of memory");
		return CLI_EXIT_INTERNAL;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (fd < 0 || !(fp = fdopen(fd, "w"))) {
		cli_error("cannot create \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1; /* owned by fp */
	fputs("#!/bin/sh\n"
	      "# Installed by `cymat hook install`: every push to this master ledger is\n"
	      "# judged by cymat before git accepts it (see cymat(1), hook).\n"
	      "# Any agency can push: bound what judging one push may cost.\n"
	      "ulimit -t " HOOK_CPU_SECONDS " 2>/dev/null\n", fp);
#if !defined(__SANITIZE_ADDRESS__)
	/* (An ASan build reserves terabytes of address space: no -v for it.) */
	fputs("ulimit -v " HOOK_MEMORY_KIB " 2>/dev/null\n", fp);
#endif
	if (schemas) {
		fputs("CYMAT_SCHEMAS_DIR=", fp);
		bad |= put_quoted(fp, schemas);
		fputs("\nexport CYMAT_SCHEMAS_DIR\n", fp);
	}
	fputs("exec ", fp);
	bad |= put_quoted(fp, cymat);
	fputs(" hook pre-receive\n", fp);
	if (bad) {
		cli_error("cannot quote a path with a quote or newline in it for the hook script");
		rc = CLI_EXIT_INPUT;
		goto done;
	}
	if (fflush(fp) != 0 || fsync(fileno(fp)) < 0 || fclose(fp) != 0) {
		fp = NULL;
		cli_error("cannot write \"%s\": %s", tmp, strerror(errno));
		goto done;
	}
	fp = NULL;
	if (rename(tmp, path) < 0) {
		cli_error("cannot install \"%s\": %s", path, strerror(errno));
		goto done;
	}
	rc = CLI_EXIT_OK;
done:
	if (fp)
		fclose(fp);
	if (fd >= 0)
		close(fd);
	if (rc != CLI_EXIT_OK && tmp)
		unlink(tmp);
	free(tmp);
	return rc;
}

/*
 * This program's path, for the hook to run.  In a build tree /proc/self/exe
 * is libtool's real binary, <dir>/.libs/cymat (or lt-cymat), which finds
 * libcymat-ledger only through the wrapper script <dir>/cymat: name that.
 */
static char *self_path(void)
{
	char *self = realpath("/proc/self/exe", NULL), *wrapper = NULL, *slash, *base;

	if (!self || !(slash = strrchr(self, '/')) || slash - self < 6 ||
	    strncmp(slash - 6, "/.libs", 6) != 0)
		return self;
	base = slash + 1;
	if (strncmp(base, "lt-", 3) == 0)
		base += 3;
	if (asprintf(&wrapper, "%.*s/%s", (int)(slash - 6 - self), self, base) < 0)
		return self;
	if (access(wrapper, X_OK) == 0) {
		free(self);
		return wrapper;
	}
	free(wrapper);
	return self;
}

static int hook_install(const char *cymat, int force)
{
	static const char *const settings[][2] = {
		{ "receive.fsckObjects", "true" },
		{ "receive.denyDeletes", "true" },
		{ "receive.denyNonFastForwards", "true" },
		/* A push's pack, as the sync's default transfer cap. */
		{ "receive.maxInputSize", HOOK_MAX_INPUT },
	};
	ledger_repo *repo = NULL;
	char *dir = NULL, *path = NULL, *self = NULL;
	int rc, error;

	if ((rc = cli_open_repo(&repo)) != CLI_EXIT_OK)
		goto done;
	if (!cymat) {
		self = self_path();
		if (!self) {
			cli_error("cannot find this program's path (give --cymat PATH): %s",
			          strerror(errno));
			rc = CLI_EXIT_INTERNAL;
			goto done;
		}
		cymat = self;
	} else if (cymat[0] != '/') {
		rc = cli_usage_error("--cymat wants an absolute path");
		goto done;
	}
	if (asprintf(&dir, "%s/hooks", ledger_repo_git_dir(repo)) < 0 ||
	    asprintf(&path, "%s/pre-receive", dir) < 0) {
		cli_error("out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		cli_error("cannot create \"%s\": %s", dir, strerror(errno));
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if ((error = ledger_repo_config_set(repo, settings[i][0], settings[i][1])) < 0) {
			rc = cli_lib_error(error, NULL);
			goto done;
		}
	}
	if ((rc = write_hook(path, cymat, force)) != CLI_EXIT_OK)
		goto done;
	printf("%s\n", path);
	rc = cli_finish_output();
done:
	free(self);
	free(path);
	free(dir);
	ledger_repo_free(repo);
	return rc;
}

int cmd_hook(int argc, char **argv)
{
	static const struct option options[] = {
		{ "cymat", required_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cymat = NULL;
	int c, force = 0;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			cymat = optarg;
			break;
		case 'f':
			force = 1;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("want one action: pre-receive or install");
	if (strcmp(argv[optind], "pre-receive") == 0) {
		if (cymat || force)
			return cli_usage_error("--cymat and --force go with install");
		return hook_pre_receive();
	}
	if (strcmp(argv[optind], "install") == 0)
		return hook_install(cymat, force);
	return cli_usage_error("unknown action \"%s\"", argv[optind]);
}
