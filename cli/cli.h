/*
 * Helpers shared by the cymat commands: exit codes, error output, opening
 * the ledger, loading keys, JSON output, and the one path that builds,
 * judges and appends records.
 */
#ifndef CLI_H
#define CLI_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "ledger.h"

/* Exit codes (docs/cymat.1, EXIT STATUS). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REFUSED = 1,  /* verification found errors, or the rules refuse a record */
	CLI_EXIT_USAGE = 2,    /* bad command line */
	CLI_EXIT_INPUT = 3,    /* bad input: file, JSON, key */
	CLI_EXIT_BUSY = 4,     /* ledger busy or a concurrent change won */
	CLI_EXIT_INTERNAL = 5, /* internal or I/O failure */
	CLI_EXIT_REMOTE = 6    /* a remote unreachable, too slow or too large */
};

struct cli_command {
	const char *name;
	const char *summary; /* one line for `cymat --help` */
	const char *help;    /* full text for `cymat help NAME` and `cymat NAME --help` */
	int (*run)(int argc, char **argv);
};

/* Set by main: the ledger directory (-C) and the running command's name. */
extern const char *cli_ledger_dir;
extern const char *cli_command_name;

/* "cymat <cmd>: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Report the library's last error, prefixed by the printf-style context
 * when fmt is not NULL, and return the exit code its error code maps to.
 */
int cli_lib_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The exit code for a LEDGER_E* code. */
int cli_exit_code(int code);

/* Print a usage error and the command's usage line; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print the current command's help text to stdout. */
void cli_print_help(void);

/*
 * The default: branch of every command's getopt_long switch, for an option c
 * the command does not handle itself: 'h' (-h, --help) prints the help and
 * gives CLI_EXIT_OK; anything else is a usage error naming argv[optind - 1].
 */
int cli_getopt_default(int c, char **argv);

/* Look up a command by name (NULL when none). */
const struct cli_command *cli_find_command(const char *name);

/* Open the ledger at -C DIR (or the current directory). */
int cli_open_repo(ledger_repo **out);

/*
 * Load an Ed25519 signing key: `path`, else $CYMAT_KEY.  "BASE" is accepted
 * for "BASE.key".  Prints the error and returns an exit code on failure.
 */
int cli_load_key(ledger_key **out, const char *path);

/* The key id of a key's public half. */
void cli_key_kid(char kid[LEDGER_HEX_ID_LEN + 1], const ledger_key *key);

/*
 * Read a public key file: an "ssh-ed25519 ..." line or a raw standard
 * base64 line of 32 bytes.  Prints the error, returns an exit code.
 */
int cli_read_public(uint8_t out[32], const char *path);

/* Strip a suffix (".key", ".pub") from a path given as a key base name; malloc'd. */
char *cli_key_base(const char *path, const char *suffix);

/*
 * Build a principal entry (decisions.md) from a key base name: ed25519 from
 * BASE.pub, x25519 from BASE.x25519.pub.
 */
struct cli_principal_entry {
	const char *principal;
	const char *base;          /* reads BASE.pub and BASE.x25519.pub */
	const uint8_t *ed25519;    /* used instead of BASE.pub when not NULL */
	const char **roles;
	size_t nroles;
	int full_time;
	int nisc_resident;
	const char *title;         /* NULL: absent */
	const char *name_ja, *name_en; /* both or neither */
	const char *until;         /* NULL: absent */
};
int cli_principal_entry_build(json_t **out, const struct cli_principal_entry *entry);

/* Read a whole file ("-": stdin) into a malloc'd NUL-terminated buffer. */
int cli_read_file(char **out, size_t *out_len, const char *path);
/*
 * Parse the JSON object of a file ("-": stdin); the error, printed, names
 * it as `what` "PATH" (e.g. "body \"req.json\""): returns an exit code.
 */
int cli_read_object(json_t **out, const char *path, const char *what);

/* Print a JSON value: pretty (2-space indent, sorted keys) or one JCS line. */
void cli_print_json(const json_t *value, int pretty);

/* Print a finding as "<severity> <rule> <code> <id> <path>: <message>". */
void cli_print_finding(FILE *fp, const ledger_finding *f);

/* `text` with its control characters escaped (ledger_escape_controls), to free; NULL: no memory. */
char *cli_escaped(const char *text);
/*
 * printf to stdout with every control character of the output escaped
 * (ledger_escape_controls) but a final newline: for text views of what
 * records say, which any principal writes.
 */
void cli_print_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *cli_severity_name(ledger_severity severity);

/* Print every finding of a report; returns how many are errors. */
size_t cli_print_report(FILE *fp, const ledger_report *report, int json);

/* Records to append through cli_append_records. */
struct cli_new_record {
	const char *type;
	json_t *body;         /* borrowed */
	json_t *refs;         /* borrowed, NULL: [] */
	const char *incident; /* NULL: absent */
	const char *class_;   /* NULL: c1 */
	const char *time;     /* NULL: now */
	json_t *sealed;       /* borrowed, NULL: absent */
	/* Seal this confidential object (borrowed) into `sealed` (cli/seal.c); NULL: none. */
	json_t *confidential;
	const char *const *seal_to; /* more recipient principals (--to) */
	size_t nseal_to;
};

struct cli_append_options {
	const char *key_path;  /* NULL: $CYMAT_KEY */
	const char *author;    /* NULL: the principal the key is bound to */
	int64_t seq;           /* 0: next in the key's chain (expert) */
	const char *prev;      /* with seq (expert) */
	int no_judge;          /* append even when the rules refuse (expert) */
	int json;              /* print the ids as JSON */
	const char *subject;   /* commit subject summary; NULL: computed */
};

/*
 * Build, sign and judge each record against the ledger's state, then append
 * them all as one signed commit.  Nothing is written when any record is
 * refused.  Prints the new ids (one a line, or JSON) and returns an exit code.
 */
int cli_append_records(const struct cli_new_record *records, size_t count,
                       const struct cli_append_options *opts);

/*
 * Seal rec->confidential for a record of `author` at `time_text`: the
 * author's keys, NISC's director, deputy and managers, and rec->seal_to,
 * as bound in `state` then (cli/seal.c).  Refuses a class other than c2
 * and c3.  Prints the error and returns an exit code.
 */
int cli_seal_record(json_t **out, const struct cli_new_record *rec, const char *time_text,
                    const char *author, const ledger_state *state);

/* The rules' view of the ledger, for the views (cli/views.c). */
struct cli_policy_view {
	ledger_repo *repo;
	ledger_state *state;
	ledger_policy *policy;
};

/* Open, verify and judge the ledger; prints the error and returns an exit code. */
int cli_policy_load(struct cli_policy_view *view);
void cli_policy_view_free(struct cli_policy_view *view);

/* A string member of a JSON object, "-" when absent or not a string. */
const char *cli_json_str(const json_t *obj, const char *name);

/* Flush stdout; CLI_EXIT_OK, or the error printed and CLI_EXIT_INTERNAL. */
int cli_finish_output(void);

/* Command handlers. */
int cmd_init(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_principal(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_append(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_canon(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_incident(int argc, char **argv);
int cmd_roster(int argc, char **argv);
int cmd_findings(int argc, char **argv);
int cmd_hook(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
/* The acts of the agreement (cmd_acts.c: request, dispatch, ...): by cli_command_name. */
int cmd_act(int argc, char **argv);
int cmd_sync(int argc, char **argv);

extern const char cmd_init_help[], cmd_key_help[], cmd_principal_help[], cmd_revoke_help[],
	cmd_append_help[], cmd_show_help[], cmd_log_help[], cmd_verify_help[], cmd_canon_help[],
	cmd_status_help[], cmd_incident_help[], cmd_roster_help[], cmd_findings_help[],
	cmd_request_help[], cmd_dispatch_help[], cmd_report_help[], cmd_opinion_help[],
	cmd_close_help[], cmd_consent_help[], cmd_agency_help[], cmd_nominate_help[],
	cmd_appoint_help[], cmd_trainee_help[], cmd_withdraw_help[], cmd_training_help[],
	cmd_participate_help[], cmd_activity_help[], cmd_share_help[], cmd_council_report_help[];
extern const char cmd_hook_help[];
extern const char cmd_bundle_help[];
extern const char cmd_sync_help[];

#endif
