/*
 * Storage: the ledger as a git repository, through libgit2.  Every libgit2
 * call of the library lives behind this header.  The store knows files and
 * commits, not records: callers hand it paths and bytes.
 */
#ifndef LEDGER_STORE_H
#define LEDGER_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LEDGER_OID_HEX_LEN 40
#define LEDGER_MAIN_REF "refs/heads/main"

typedef struct ledger_repo ledger_repo;

/* One file to add: a path in the tree ("records/ab/cd/<id>.json", "LEDGER") and its bytes. */
typedef struct {
	const char *path;
	const char *data;
	size_t len;
} ledger_file;

/*
 * Produces the armoured signature for a commit: git calls this the gpgsig
 * header.  `buf` is the unsigned commit object as git hashes it.
 */
typedef int (*ledger_commit_signer)(char **out_armour, const char *buf, size_t len,
                                    void *payload);

typedef struct {
	unsigned int version;
	const char *message;      /* whole commit message, "<type>: summary\n\n...Record: <id>\n" */
	const char *name;         /* author and committer name, e.g. "nisc/director" */
	const char *email;        /* e.g. "<kid>@cymat-ledger" */
	int64_t time;             /* seconds since the epoch; 0 for now */
	ledger_commit_signer sign; /* NULL for an unsigned commit */
	void *sign_payload;
} ledger_commit_options;

#define LEDGER_COMMIT_OPTIONS_VERSION 1
#define LEDGER_COMMIT_OPTIONS_INIT { LEDGER_COMMIT_OPTIONS_VERSION, NULL, NULL, NULL, 0, NULL, NULL }

/*
 * Create a new bare repository at `path` whose refs/heads/main is a single
 * genesis commit adding `files`; HEAD points at main.  Refuses an existing
 * non-empty directory.  Durable (fsync) when it returns.
 */
int ledger_repo_init(ledger_repo **out, const char *path, const ledger_file *files,
                     size_t count, const ledger_commit_options *opts);

/* Open an existing repository: a bare ledger, or a work tree / .git of a clone. */
int ledger_repo_open(ledger_repo **out, const char *path);

/*
 * Open the repository git's environment names, as git does: GIT_DIR (else
 * the one around the current directory), GIT_OBJECT_DIRECTORY and
 * GIT_ALTERNATE_OBJECT_DIRECTORIES.  Inside a pre-receive hook these point
 * at receive-pack's quarantine, where the pushed objects wait.
 */
int ledger_repo_open_env(ledger_repo **out);

void ledger_repo_free(ledger_repo *repo);

/* The repository's git directory (absolute). */
const char *ledger_repo_git_dir(const ledger_repo *repo);

/*
 * Directory for this node's private state (verification cache, lock),
 * "<git dir>/cymat", created on first use.
 */
int ledger_repo_state_dir(const char **out, ledger_repo *repo);

/* Tip of refs/heads/main as 40 hex digits. */
int ledger_repo_head(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo);

/* Resolve a revision (commit id, abbreviation, ref name) to a commit id. */
int ledger_repo_resolve(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo, const char *rev);

/*
 * Append files as one commit on refs/heads/main, atomically and durably:
 * under the ledger lock (stale locks of dead processes are recovered), with
 * fsync on, the ref moved by compare-and-swap from the tip the commit was
 * built on.  Files already present with identical bytes are skipped; a file
 * present with different bytes is refused (LEDGER_EEXISTS).  When nothing is
 * left to add no commit is made and out is the current tip.  On return 0
 * the commit is durable: a crash after that loses nothing.  The commit's new
 * objects are written as one pack; small packs are merged once there are
 * enough of them, outside the ledger lock.
 */
int ledger_repo_append(char out[LEDGER_OID_HEX_LEN + 1], ledger_repo *repo,
                       const ledger_file *files, size_t count,
                       const ledger_commit_options *opts);

/*
 * Read the blob at `path` in `commit` (NULL: tip of main).  *out is malloc'd,
 * NUL-terminated.  A blob over the record limit (1 MiB) is LEDGER_EINVALID, unread.
 */
int ledger_repo_read(char **out, size_t *out_len, ledger_repo *repo, const char *commit,
                     const char *path);

/*
 * Called per file; return non-zero to stop (that value is returned).  A file
 * over the record limit (1 MiB) is not read, only its size is looked up:
 * `data` is then 1 MiB + 1 zero bytes, which no record parser accepts.
 */
typedef int (*ledger_file_cb)(const char *path, const char *data, size_t len, void *payload);

/*
 * Every file under records/ in the tree of `commit` (NULL: tip of main), in
 * path order, with its bytes.
 */
int ledger_repo_foreach_record(ledger_repo *repo, const char *commit, ledger_file_cb cb,
                               void *payload);

/*
 * Every file under records/ present in `to` but not in `from` (from NULL: the
 * empty tree), in path order, with its bytes.  Costs in proportion to what
 * changed: unchanged subtrees are skipped by tree id.
 */
int ledger_repo_foreach_added(ledger_repo *repo, const char *from, const char *to,
                              ledger_file_cb cb, void *payload);

/*
 * Every file under records/ that both `a` and `b` hold with different bytes
 * (a union of the two would have two contents at one path), in path order,
 * with its bytes in `b`.  Costs in proportion to what differs.
 */
int ledger_repo_foreach_differing(ledger_repo *repo, const char *a, const char *b,
                                  ledger_file_cb cb, void *payload);

typedef enum {
	LEDGER_CHANGE_MODIFIED = 1,     /* a file's bytes changed */
	LEDGER_CHANGE_DELETED = 2,      /* a file disappeared */
	LEDGER_CHANGE_FOREIGN = 3,      /* a file outside records/ (LEDGER outside genesis) */
	LEDGER_CHANGE_MERGE_NOT_UNION = 4, /* a merge tree that is not its parents' union */
	LEDGER_CHANGE_BAD_MODE = 5,     /* not a regular non-executable file, or a symlink/submodule */
	/* a directory deeper than any ledger's, or a path over 4 KiB: reported, not walked */
	LEDGER_CHANGE_TOO_DEEP = 6
} ledger_change_kind;

typedef int (*ledger_change_cb)(const char *commit, ledger_change_kind kind,
                                const char *path, void *payload);

/*
 * Check the history of commits reachable from `to` and not from `from`
 * (from NULL: all of it) against FORMAT.md section 4: each commit only adds
 * files under records/ (the root commit may also add LEDGER); a merge
 * commit's tree is the union of its parents'.  Each violation is reported to
 * cb; returns 0 when the walk completed, whatever it found.
 */
int ledger_repo_check_history(ledger_repo *repo, const char *from, const char *to,
                              ledger_change_cb cb, void *payload);

/*
 * Called per commit with its signature: `armour` is the gpgsig header's
 * content (NULL for an unsigned commit) and data/len the bytes it signs (the
 * commit object without that header).  Return non-zero to stop.
 */
typedef int (*ledger_commit_signature_cb)(const char *commit, const char *armour,
                                          const char *data, size_t len, void *payload);

/* Every commit reachable from `to` and not from `from` (NULL: all), oldest first. */
int ledger_repo_foreach_commit_signature(ledger_repo *repo, const char *from, const char *to,
                                         ledger_commit_signature_cb cb, void *payload);

/* Count of commits reachable from `to` and not from `from` (NULL: all). */
int ledger_repo_count_commits(size_t *out, ledger_repo *repo, const char *from, const char *to);

/* True (1) when `ancestor` is `descendant` or one of its ancestors, else 0; <0 on error. */
int ledger_repo_is_ancestor(ledger_repo *repo, const char *ancestor, const char *descendant);

/* Per-repository settings in the git config ("cymat.root", ...).  *out malloc'd. */
int ledger_repo_config_get(char **out, ledger_repo *repo, const char *key);
int ledger_repo_config_set(ledger_repo *repo, const char *key, const char *value);

/*
 * Merge packs (and any loose objects) now, as appends do on their own for
 * small packs, and write the multi-pack-index over every pack.
 */
int ledger_repo_pack(ledger_repo *repo);

#ifdef __cplusplus
}
#endif

#endif
