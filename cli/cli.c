/* Helpers shared by the commands: errors, exit codes, keys, files, JSON output. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "cli.h"

const char *cli_ledger_dir;
const char *cli_command_name = "";

/* Messages name paths and refs that may come from a remote or a bundle: escaped. */
static void verror(const char *fmt, va_list ap)
{
	char msg[2048], safe[4 * sizeof(msg)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "cymat%s%s: %s\n", *cli_command_name ? " " : "", cli_command_name,
	        ledger_escape_controls(safe, sizeof(safe), msg));
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
}

int cli_exit_code(int code)
{
	switch (code) {
	case LEDGER_OK:
		return CLI_EXIT_OK;
	case LEDGER_EINVALID:
	case LEDGER_ENOTFOUND:
	case LEDGER_ECRYPTO:
		return CLI_EXIT_INPUT;
	case LEDGER_ELOCKED:
	case LEDGER_ECONFLICT:
	case LEDGER_EEXISTS:
		return CLI_EXIT_BUSY;
	case LEDGER_ETIMEOUT:
	case LEDGER_ELIMIT:
	case LEDGER_ENETWORK:
		return CLI_EXIT_REMOTE;
	default:
		return CLI_EXIT_INTERNAL;
	}
}

int cli_lib_error(int code, const char *fmt, ...)
{
	const ledger_error *err = ledger_error_last();
	const char *msg = err && err->message && *err->message ? err->message : "unknown error";
	char context[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(context, sizeof(context), fmt, ap);
		va_end(ap);
	}
	if (*context)
		cli_error("%s: %s", context, msg);
	else
		cli_error("%s", msg);
	return cli_exit_code(code);
}

void cli_print_help(void)
{
	const struct cli_command *cmd = cli_find_command(cli_command_name);

	if (cmd)
		fputs(cmd->help, stdout);
}

int cli_usage_error(const char *fmt, ...)
{
	const struct cli_command *cmd = cli_find_command(cli_command_name);
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	if (cmd) {
		/* The help text starts with the usage lines, ended by a blank line. */
		const char *end = strstr(cmd->help, "\n\n");

		fwrite(cmd->help, 1, end ? (size_t)(end - cmd->help) + 1 : strlen(cmd->help), stderr);
		fprintf(stderr, "Run `cymat help %s` for more.\n", cmd->name);
	}
	return CLI_EXIT_USAGE;
}

int cli_getopt_default(int c, char **argv)
{
	if (c == 'h') {
		cli_print_help();
		return CLI_EXIT_OK;
	}
	return cli_usage_error("unknown option \"%s\"", argv[optind - 1]);
}

int cli_open_repo(ledger_repo **out)
{
	const char *dir = cli_ledger_dir ? cli_ledger_dir : ".";
	int error;

	error = ledger_repo_open(out, dir);
	if (error < 0) {
		cli_lib_error(error, "cannot open the ledger in \"%s\"", dir);
		/* A missing or foreign repository is the user's input, not an internal failure. */
		return error == LEDGER_EGIT || error == LEDGER_ENOTFOUND ?
			CLI_EXIT_INPUT : cli_exit_code(error);
	}
	return CLI_EXIT_OK;
}

char *cli_key_base(const char *path, const char *suffix)
{
	size_t len = strlen(path), slen = strlen(suffix);
	char *base = strdup(path);

	if (base && len > slen && strcmp(path + len - slen, suffix) == 0)
		base[len - slen] = '\0';
	return base;
}

int cli_load_key(ledger_key **out, const char *path)
{
	ledger_key *key = NULL;
	char *alt = NULL;
	int error, rc;

	if (!path || !*path)
		path = getenv("CYMAT_KEY");
	if (!path || !*path)
		return cli_usage_error("no signing key: give --key FILE or set CYMAT_KEY");
	/* Accept the base name that `cymat key generate` was given. */
	if (access(path, F_OK) != 0) {
		if (asprintf(&alt, "%s.key", path) < 0) {
			cli_error("out of memory");
			return CLI_EXIT_INTERNAL;
		}
		if (access(alt, F_OK) == 0)
			path = alt;
	}
	error = ledger_key_load(&key, path);
	if (error < 0) {
		rc = cli_lib_error(error, "cannot load key \"%s\"", path);
		/* A missing key file is bad input like an unreadable one. */
		if (rc == CLI_EXIT_INTERNAL)
			rc = CLI_EXIT_INPUT;
		goto done;
	}
	if (ledger_key_type_of(key) != LEDGER_KEY_ED25519) {
		cli_error("key \"%s\": not an Ed25519 signing key", path);
		rc = CLI_EXIT_INPUT;
		goto done;
	}
	*out = key;
	key = NULL;
	rc = CLI_EXIT_OK;
done:
	ledger_key_free(key);
	free(alt);
	return rc;
}

void cli_key_kid(char kid[LEDGER_HEX_ID_LEN + 1], const ledger_key *key)
{
	uint8_t pub[32];

	ledger_key_public(pub, key);
	ledger_key_id(kid, pub);
}

int cli_read_file(char **out, size_t *out_len, const char *path)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0, n;
	int rc = LEDGER_EIO;

	if (!fp)
		return ledger_error_set(errno == ENOENT ? LEDGER_ENOTFOUND : LEDGER_EIO,
		                        "\"%s\": %s", path, strerror(errno));
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				rc = ledger_error_set(LEDGER_ENOMEM, "out of memory reading \"%s\"", path);
				goto done;
			}
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		rc = ledger_error_set(LEDGER_EIO, "\"%s\": read error", path);
		goto done;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	if (out_len)
		*out_len = len;
	rc = 0;
done:
	if (fp != stdin)
		fclose(fp);
	free(buf);
	return rc;
}

int cli_read_object(json_t **out, const char *path, const char *what)
{
	char *buf = NULL;
	size_t len = 0;
	int error, rc = CLI_EXIT_OK;

	*out = NULL;
	error = cli_read_file(&buf, &len, path);
	if (error == 0)
		error = ledger_json_parse(out, buf, len, NULL);
	if (error < 0) {
		cli_lib_error(error, "%s \"%s\"", what, strcmp(path, "-") == 0 ? "<stdin>" : path);
		rc = error == LEDGER_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_INPUT;
	} else if (!json_is_object(*out)) {
		cli_error("%s \"%s\": not a JSON object", what, path);
		json_decref(*out);
		*out = NULL;
		rc = CLI_EXIT_INPUT;
	}
	free(buf);
	return rc;
}

/* Trim trailing whitespace in place. */
static void rstrip(char *s)
{
	size_t len = strlen(s);

	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' ||
	               s[len - 1] == '\t'))
		s[--len] = '\0';
}

static int read_raw32(uint8_t out[32], const char *path, int allow_openssh)
{
	char *text = NULL;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	int error, rc;

	error = cli_read_file(&text, NULL, path);
	if (error < 0) {
		rc = cli_lib_error(error, "cannot read public key");
		rc = rc == CLI_EXIT_INTERNAL ? CLI_EXIT_INPUT : rc;
		goto done;
	}
	rstrip(text);
	if (allow_openssh && strncmp(text, "ssh-", 4) == 0) {
		error = ledger_ed25519_parse_openssh(out, text);
		if (error < 0) {
			rc = cli_lib_error(error, "public key \"%s\"", path);
			goto done;
		}
		rc = CLI_EXIT_OK;
		goto done;
	}
	error = ledger_base64_decode(&raw, &raw_len, text);
	if (error < 0 || raw_len != 32) {
		cli_error("public key \"%s\": expected %sstandard base64 of 32 bytes", path,
		          allow_openssh ? "an \"ssh-ed25519\" line or " : "");
		rc = CLI_EXIT_INPUT;
		goto done;
	}
	memcpy(out, raw, 32);
	rc = CLI_EXIT_OK;
done:
	free(raw);
	free(text);
	return rc;
}

int cli_read_public(uint8_t out[32], const char *path)
{
	return read_raw32(out, path, 1);
}

static int set_b64(json_t *obj, const char *name, const uint8_t raw[32])
{
	char *b64 = NULL;
	int error;

	error = ledger_base64_encode(&b64, raw, 32);
	if (error < 0)
		return error;
	error = json_object_set_new(obj, name, json_string(b64)) ? LEDGER_ENOMEM : 0;
	free(b64);
	return error;
}

int cli_principal_entry_build(json_t **out, const struct cli_principal_entry *e)
{
	json_t *obj = json_object(), *roles = json_array(), *attrs = json_object(), *name;
	uint8_t ed[32], x[32];
	char *path = NULL;
	size_t i;
	int rc;

	if (!obj || !roles || !attrs) {
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	if (e->ed25519) {
		memcpy(ed, e->ed25519, 32);
	} else {
		if (asprintf(&path, "%s.pub", e->base) < 0) {
			rc = CLI_EXIT_INTERNAL;
			goto done;
		}
		if ((rc = read_raw32(ed, path, 1)) != CLI_EXIT_OK)
			goto done;
		free(path);
		path = NULL;
	}
	if (asprintf(&path, "%s.x25519.pub", e->base) < 0) {
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	if ((rc = read_raw32(x, path, 0)) != CLI_EXIT_OK)
		goto done;
	for (i = 0; i < e->nroles; i++)
		json_array_append_new(roles, json_string(e->roles[i]));
	json_object_set_new(attrs, "full_time_civil_servant", json_boolean(e->full_time));
	json_object_set_new(attrs, "nisc_resident", json_boolean(e->nisc_resident));
	if (e->title)
		json_object_set_new(attrs, "title", json_string(e->title));
	json_object_set_new(obj, "principal", json_string(e->principal));
	if (set_b64(obj, "ed25519", ed) < 0 || set_b64(obj, "x25519", x) < 0) {
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	json_object_set(obj, "roles", roles);
	json_object_set(obj, "attributes", attrs);
	if (e->name_ja || e->name_en) {
		name = json_object();
		json_object_set_new(name, "ja", json_string(e->name_ja ? e->name_ja : ""));
		json_object_set_new(name, "en", json_string(e->name_en ? e->name_en : ""));
		json_object_set_new(obj, "name", name);
	}
	if (e->until)
		json_object_set_new(obj, "until", json_string(e->until));
	*out = obj;
	obj = NULL;
	rc = CLI_EXIT_OK;
done:
	if (rc == CLI_EXIT_INTERNAL)
		cli_error("out of memory");
	free(path);
	json_decref(obj);
	json_decref(roles);
	json_decref(attrs);
	return rc;
}

void cli_print_json(const json_t *value, int pretty)
{
	char *text = NULL;
	size_t len = 0;

	if (pretty) {
		text = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (text)
			len = strlen(text);
	} else if (ledger_jcs(&text, &len, value) < 0) {
		text = NULL;
	}
	if (!text) {
		cli_error("cannot serialise JSON output");
		return;
	}
	fwrite(text, 1, len, stdout);
	fputc('\n', stdout);
	free(text);
}

const char *cli_severity_name(ledger_severity severity)
{
	switch (severity) {
	case LEDGER_SEVERITY_ERROR:
		return "error";
	case LEDGER_SEVERITY_WARNING:
		return "warning";
	case LEDGER_SEVERITY_PENDING:
		return "pending";
	}
	return "unknown";
}

char *cli_escaped(const char *text)
{
	size_t size = 4 * strlen(text) + 1;
	char *out = malloc(size);

	return out ? ledger_escape_controls(out, size, text) : NULL;
}

void cli_print_text(const char *fmt, ...)
{
	char *text = NULL, *safe;
	size_t len;
	int newline;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (!text) {
		fputs("(out of memory)\n", stdout);
		return;
	}
	len = strlen(text);
	newline = len && text[len - 1] == '\n';
	if (newline)
		text[len - 1] = '\0';
	safe = cli_escaped(text);
	fputs(safe ? safe : "(out of memory)", stdout);
	if (newline)
		putchar('\n');
	free(safe);
	free(text);
}

void cli_print_finding(FILE *fp, const ledger_finding *f)
{
	const char *subject = *f->id ? f->id : *f->commit ? f->commit : "-";
	char path[4 * sizeof(f->path)], *message = cli_escaped(f->message ? f->message : "");

	/* A path and its message come from the trees judged: escaped. */
	fprintf(fp, "%s %s %s %s %s: %s\n", cli_severity_name(f->severity),
	        f->rule ? f->rule : "-", f->code ? f->code : "-", subject,
	        *f->path ? ledger_escape_controls(path, sizeof(path), f->path) : "-",
	        message ? message : "(out of memory)");
	free(message);
}

size_t cli_print_report(FILE *fp, const ledger_report *report, int json)
{
	size_t i, n = ledger_report_count(report), errors = 0;
	const ledger_finding *f;
	json_t *obj;
	char *text;
	size_t len;

	for (i = 0; i < n; i++) {
		f = ledger_report_get(report, i);
		if (f->severity == LEDGER_SEVERITY_ERROR)
			errors++;
		if (!json) {
			cli_print_finding(fp, f);
			continue;
		}
		obj = ledger_finding_json(f);
		if (obj && ledger_jcs(&text, &len, obj) == 0) {
			fwrite(text, 1, len, fp);
			fputc('\n', fp);
			free(text);
		}
		json_decref(obj);
	}
	return errors;
}

