/* Error codes and the per-thread last error message. */
#ifndef LEDGER_ERROR_H
#define LEDGER_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ledger_error_code {
	LEDGER_OK = 0,
	LEDGER_ERROR = -1,     /* generic failure */
	LEDGER_EINVALID = -2,  /* bad input: malformed, non-canonical, out of range */
	LEDGER_ENOTFOUND = -3, /* no such record, file, key or ref */
	LEDGER_EEXISTS = -4,   /* refusing to overwrite */
	LEDGER_ELOCKED = -5,   /* another process holds the ledger lock */
	LEDGER_ECONFLICT = -6, /* a ref moved under us (compare-and-swap lost) */
	LEDGER_ECRYPTO = -7,   /* bad signature or key, or an OpenSSL failure */
	LEDGER_EIO = -8,       /* I/O failure: read, write, fsync, rename */
	LEDGER_ENOMEM = -9,
	LEDGER_EGIT = -10,     /* libgit2 failure */
	LEDGER_ENONCANONICAL = -11, /* well-formed JSON that is not its own RFC 8785 form */
	LEDGER_ETIMEOUT = -12, /* a transfer passed its deadline */
	LEDGER_ELIMIT = -13,   /* a transfer passed a size or object cap */
	LEDGER_ENETWORK = -14  /* a remote could not be reached, or the transfer broke */
};

typedef struct {
	int code;
	const char *message;
} ledger_error;

/*
 * The last error set on this thread, or NULL when none was.  The pointer is
 * valid until the next call into the library on the same thread.
 */
const ledger_error *ledger_error_last(void);

/* Set the last error (printf-style) and return code, for `return ledger_error_set(...)`. */
int ledger_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix the current message with "prefix: ", keeping the code; returns the code. */
int ledger_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void ledger_error_clear(void);

/*
 * Copy `text` into `out` (`size` bytes, always NUL-terminated, cut at a
 * whole escape) with every control character written as "\xNN": C0 bytes,
 * DEL, and C1 (U+0080..U+009F) as UTF-8.  For messages, paths and names that
 * may come from a remote, a bundle or a record before they reach a log line
 * or a terminal, where a newline would forge a line and ESC steer the
 * terminal.  Returns `out`.
 */
char *ledger_escape_controls(char *out, size_t size, const char *text);

#ifdef __cplusplus
}
#endif

#endif
