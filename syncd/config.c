/*
 * The cymat-syncd configuration file: INI, parsed with libinih, checked
 * strictly.  An unknown section or key, a repeated one, a bad number or a
 * missing required value is an error naming the file, the line and the key
 * (docs/cymat-syncd.8, syncd/cymat-syncd.conf.example).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <ini.h>

#include "syncd.h"

/* Defaults (also in the man page and the example). */
#define DEFAULT_POLL_INTERVAL 300
#define DEFAULT_BACKOFF_BASE 30
#define DEFAULT_BACKOFF_CAP 3600
#define DEFAULT_TRANSFER_DEADLINE 120
#define DEFAULT_MAX_BYTES (UINT64_C(1) << 30)
#define DEFAULT_MAX_OBJECTS UINT64_C(5000000)
#define DEFAULT_CHECKPOINT_INTERVAL 3600
#define MAX_REMOTES 64
/* Durations above this many seconds (a year) are surely a mistake. */
#define MAX_DURATION (366u * 86400u)

enum section_kind { SEC_NONE, SEC_NODE, SEC_SYNC, SEC_REMOTE, SEC_BAD };

enum key_id {
	K_KEY, K_PRINCIPAL, K_AGENCY, K_LEDGER, K_MODE, K_LOG_LEVEL,
	K_POLL_INTERVAL, K_BACKOFF_BASE, K_BACKOFF_CAP, K_TRANSFER_DEADLINE, K_MAX_BYTES,
	K_MAX_OBJECTS, K_CHECKPOINT_INTERVAL,
	NKEYS
};

static const struct {
	enum section_kind section;
	const char *name;
} key_table[NKEYS] = {
	[K_KEY] = { SEC_NODE, "key" },
	[K_PRINCIPAL] = { SEC_NODE, "principal" },
	[K_AGENCY] = { SEC_NODE, "agency" },
	[K_LEDGER] = { SEC_NODE, "ledger" },
	[K_MODE] = { SEC_NODE, "mode" },
	[K_LOG_LEVEL] = { SEC_NODE, "log_level" },
	[K_POLL_INTERVAL] = { SEC_SYNC, "poll_interval" },
	[K_BACKOFF_BASE] = { SEC_SYNC, "backoff_base" },
	[K_BACKOFF_CAP] = { SEC_SYNC, "backoff_cap" },
	[K_TRANSFER_DEADLINE] = { SEC_SYNC, "transfer_deadline" },
	[K_MAX_BYTES] = { SEC_SYNC, "max_bytes" },
	[K_MAX_OBJECTS] = { SEC_SYNC, "max_objects" },
	[K_CHECKPOINT_INTERVAL] = { SEC_SYNC, "checkpoint_interval" },
};

struct remote_lines {
	unsigned int header, url, role;
};

struct parse {
	const char *path;
	FILE *fp;
	char *dir;                  /* the config file's directory, for relative paths */
	unsigned int line;          /* the line being parsed */
	unsigned int lines_done;
	enum section_kind section;
	size_t remote;              /* with SEC_REMOTE: index into cfg->remotes */
	unsigned int node_line, sync_line;
	unsigned int key_line[NKEYS];
	struct remote_lines remote_line[MAX_REMOTES];
	struct syncd_config *cfg;
	struct syncd_diag *diag;
	int oom;
};

void syncd_diag_clear(struct syncd_diag *diag)
{
	size_t i;

	if (!diag)
		return;
	for (i = 0; i < diag->count; i++)
		free(diag->lines[i]);
	free(diag->lines);
	diag->lines = NULL;
	diag->count = 0;
}

/* Record a problem at `line` (0: about the file as a whole). */
static void __attribute__((format(printf, 3, 4)))
problem(struct parse *p, unsigned int line, const char *fmt, ...)
{
	char msg[512], *entry, **grown;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = line ? asprintf(&entry, "%s:%u: %s", p->path, line, msg) :
	           asprintf(&entry, "%s: %s", p->path, msg);
	if (n < 0) {
		p->oom = 1;
		return;
	}
	grown = realloc(p->diag->lines, (p->diag->count + 1) * sizeof(*grown));
	if (!grown) {
		free(entry);
		p->oom = 1;
		return;
	}
	p->diag->lines = grown;
	p->diag->lines[p->diag->count++] = entry;
}

static int valid_remote_name(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-'))
			return 0;
	return n >= 1 && n <= 32;
}

/* FORMAT.md section 1: an agency is ^[a-z][a-z0-9-]{1,31}$. */
static int valid_agency(const char *s, size_t len)
{
	size_t i;

	if (len < 2 || len > 32 || !islower((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return 0;
	return 1;
}

/* "<agency>/<name>", name ^[a-z][a-z0-9._-]{0,63}$. */
static int valid_principal(const char *s)
{
	const char *slash = strchr(s, '/'), *c;

	if (!slash || !valid_agency(s, (size_t)(slash - s)))
		return 0;
	c = slash + 1;
	if (!islower((unsigned char)*c) || strlen(c) > 64)
		return 0;
	for (; *c; c++)
		if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '.' ||
		      *c == '_' || *c == '-'))
			return 0;
	return 1;
}

/*
 * A section header, checked here rather than in the handler: inih tells the
 * handler nothing of empty sections.  `text` is the whole line, "[...]".
 */
static void section_header(struct parse *p, char *text)
{
	char *end = strrchr(text, ']'), *name, *q, *rest;
	struct syncd_remote *grown;
	size_t i;

	p->section = SEC_BAD;
	if (!end) {
		problem(p, p->line, "section header without \"]\"");
		return;
	}
	for (rest = end + 1; *rest && isspace((unsigned char)*rest); rest++)
		;
	if (*rest && *rest != ';' && *rest != '#') {
		problem(p, p->line, "text after the section header");
		return;
	}
	*end = '\0';
	name = text + 1;
	if (strcmp(name, "node") == 0 || strcmp(name, "sync") == 0) {
		unsigned int *seen = name[0] == 'n' ? &p->node_line : &p->sync_line;

		if (*seen) {
			problem(p, p->line, "section [%s] repeated (first at line %u)", name, *seen);
			return;
		}
		*seen = p->line;
		p->section = name[0] == 'n' ? SEC_NODE : SEC_SYNC;
		return;
	}
	/* [remote "NAME"], as git spells its remotes. */
	if (strncmp(name, "remote", 6) != 0 || !isspace((unsigned char)name[6])) {
		problem(p, p->line, "unknown section [%s]; expected [node], [sync] or [remote \"NAME\"]",
		        name);
		return;
	}
	for (name += 6; isspace((unsigned char)*name); name++)
		;
	q = name + strlen(name);
	if (*name != '"' || q - name < 2 || q[-1] != '"') {
		problem(p, p->line, "remote section wants a quoted name: [remote \"NAME\"]");
		return;
	}
	q[-1] = '\0';
	name++;
	if (!valid_remote_name(name)) {
		problem(p, p->line, "remote name \"%s\": 1 to 32 of a-z, 0-9, \"_\", \"-\"", name);
		return;
	}
	for (i = 0; i < p->cfg->nremotes; i++) {
		if (strcmp(p->cfg->remotes[i].name, name) == 0) {
			problem(p, p->line, "remote \"%s\" repeated (first at line %u)", name,
			        p->remote_line[i].header);
			return;
		}
	}
	if (p->cfg->nremotes == MAX_REMOTES) {
		problem(p, p->line, "more than %d remotes", MAX_REMOTES);
		return;
	}
	grown = realloc(p->cfg->remotes, (p->cfg->nremotes + 1) * sizeof(*grown));
	if (!grown) {
		p->oom = 1;
		return;
	}
	p->cfg->remotes = grown;
	memset(&grown[p->cfg->nremotes], 0, sizeof(*grown));
	if (!(grown[p->cfg->nremotes].name = strdup(name))) {
		p->oom = 1;
		return;
	}
	memset(&p->remote_line[p->cfg->nremotes], 0, sizeof(p->remote_line[0]));
	p->remote_line[p->cfg->nremotes].header = p->line;
	p->remote = p->cfg->nremotes++;
	p->section = SEC_REMOTE;
}

/*
 * inih's line reader.  Counting lines here is how the handler knows its
 * line (this libinih is built without INI_HANDLER_LINENO).  Leading blanks
 * are dropped, so indented keys are keys (inih would take them as
 * continuation lines); section headers and lines that are not "key = value"
 * are judged here, with their line.
 */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t len, skip;
	int c;

	if (!fgets(str, num, p->fp))
		return NULL;
	p->line = ++p->lines_done;
	len = strlen(str);
	if (len && str[len - 1] == '\n') {
		str[--len] = '\0';
	} else if (!feof(p->fp)) {
		problem(p, p->line, "line longer than %d characters", num - 2);
		while ((c = fgetc(p->fp)) != EOF && c != '\n')
			;
		str[0] = '\0';
		return str;
	}
	if (len && str[len - 1] == '\r')
		str[--len] = '\0';
	/* A UTF-8 byte order mark, as inih would skip it, but before we judge the line. */
	skip = p->line == 1 && strncmp(str, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	for (; str[skip] == ' ' || str[skip] == '\t'; skip++)
		;
	memmove(str, str + skip, len - skip + 1);
	if (str[0] == '\0' || str[0] == ';' || str[0] == '#')
		return str;
	if (str[0] == '[') {
		section_header(p, str);
		/* inih keeps its own idea of the section; ours is the one that counts. */
		str[0] = '\0';
		return str;
	}
	if (str[strcspn(str, "=:")] != '=')
		problem(p, p->line, "expected \"key = value\"");
	return str;
}

static int set_string(struct parse *p, char **dst, const char *value)
{
	char *copy = strdup(value);

	if (!copy) {
		p->oom = 1;
		return -1;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* A path, relative to the config file's directory unless absolute. */
static int set_path(struct parse *p, char **dst, const char *value)
{
	char *path;

	if (value[0] == '/')
		return set_string(p, dst, value);
	if (asprintf(&path, "%s/%s", p->dir, value) < 0) {
		p->oom = 1;
		return -1;
	}
	free(*dst);
	*dst = path;
	return 0;
}

/*
 * An unsigned decimal with an optional unit suffix from `units` (a
 * multiplier per letter); 0 and values above `max` are refused.
 */
struct unit {
	char letter;
	uint64_t factor;
};

static int parse_number(uint64_t *out, const char *value, const struct unit *units, uint64_t max)
{
	uint64_t n = 0, factor = 1;
	const char *c = value;

	if (!isdigit((unsigned char)*c))
		return -1;
	for (; isdigit((unsigned char)*c); c++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*c - '0');
	}
	if (*c) {
		for (; units && units->letter; units++)
			if (*c == units->letter)
				break;
		if (!units || !units->letter || c[1])
			return -1;
		factor = units->factor;
	}
	if (n == 0 || n > max / factor)
		return -1;
	*out = n * factor;
	return 0;
}

static const struct unit duration_units[] = {
	{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 0, 0 }
};

static const struct unit size_units[] = {
	{ 'K', UINT64_C(1) << 10 }, { 'M', UINT64_C(1) << 20 }, { 'G', UINT64_C(1) << 30 },
	{ 'T', UINT64_C(1) << 40 }, { 0, 0 }
};

static void set_duration(struct parse *p, unsigned int *dst, const char *name, const char *value)
{
	uint64_t n;

	if (parse_number(&n, value, duration_units, MAX_DURATION) < 0) {
		problem(p, p->line, "%s: \"%s\" is not a duration: seconds from 1 to %u, or a number "
		        "with s, m, h or d", name, value, MAX_DURATION);
		return;
	}
	*dst = (unsigned int)n;
}

static void node_key(struct parse *p, enum key_id id, const char *value)
{
	struct syncd_config *cfg = p->cfg;
	int level;

	switch (id) {
	case K_KEY:
		set_path(p, &cfg->key, value);
		break;
	case K_PRINCIPAL:
		if (!valid_principal(value))
			problem(p, p->line, "principal: \"%s\" is not of the form AGENCY/NAME", value);
		else
			set_string(p, &cfg->principal, value);
		break;
	case K_AGENCY:
		if (!valid_agency(value, strlen(value)))
			problem(p, p->line, "agency: \"%s\" is not an agency id ([a-z][a-z0-9-]{1,31})",
			        value);
		else
			set_string(p, &cfg->agency, value);
		break;
	case K_LEDGER:
		set_path(p, &cfg->ledger, value);
		break;
	case K_MODE:
		if (strcmp(value, "agency") == 0)
			cfg->mode = SYNCD_MODE_AGENCY;
		else if (strcmp(value, "master") == 0)
			cfg->mode = SYNCD_MODE_MASTER;
		else
			problem(p, p->line, "mode: \"%s\" is neither \"agency\" nor \"master\"", value);
		break;
	case K_LOG_LEVEL:
		level = syncd_log_level_parse(value);
		if (level < 0)
			problem(p, p->line, "log_level: \"%s\" is not one of error, warning, notice, "
			        "info, debug", value);
		else
			cfg->log_level = level;
		break;
	default:
		break;
	}
}

static void sync_key(struct parse *p, enum key_id id, const char *value)
{
	struct syncd_config *cfg = p->cfg;
	const char *name = key_table[id].name;
	uint64_t n;

	switch (id) {
	case K_POLL_INTERVAL:
		set_duration(p, &cfg->poll_interval, name, value);
		break;
	case K_BACKOFF_BASE:
		set_duration(p, &cfg->backoff_base, name, value);
		break;
	case K_BACKOFF_CAP:
		set_duration(p, &cfg->backoff_cap, name, value);
		break;
	case K_TRANSFER_DEADLINE:
		set_duration(p, &cfg->transfer_deadline, name, value);
		break;
	case K_CHECKPOINT_INTERVAL:
		set_duration(p, &cfg->checkpoint_interval, name, value);
		break;
	case K_MAX_BYTES:
		if (parse_number(&n, value, size_units, UINT64_MAX) < 0)
			problem(p, p->line, "max_bytes: \"%s\" is not a size: bytes from 1, or a "
			        "number with K, M, G or T", value);
		else
			cfg->max_bytes = n;
		break;
	case K_MAX_OBJECTS:
		if (parse_number(&n, value, NULL, UINT64_MAX) < 0)
			problem(p, p->line, "max_objects: \"%s\" is not a count from 1", value);
		else
			cfg->max_objects = n;
		break;
	default:
		break;
	}
}

static void remote_key(struct parse *p, const char *name, const char *value)
{
	struct syncd_remote *r = &p->cfg->remotes[p->remote];
	struct remote_lines *lines = &p->remote_line[p->remote];
	const char *c;

	if (strcmp(name, "url") == 0) {
		if (lines->url) {
			problem(p, p->line, "url repeated in remote \"%s\" (first at line %u)", r->name,
			        lines->url);
			return;
		}
		lines->url = p->line;
		for (c = value; *c; c++) {
			if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c)) {
				problem(p, p->line, "url: \"%s\" has blanks or control characters", value);
				return;
			}
		}
		set_string(p, &r->url, value);
	} else if (strcmp(name, "role") == 0) {
		if (lines->role) {
			problem(p, p->line, "role repeated in remote \"%s\" (first at line %u)", r->name,
			        lines->role);
			return;
		}
		lines->role = p->line;
		if (strcmp(value, "master") == 0)
			r->role = LEDGER_REMOTE_MASTER;
		else if (strcmp(value, "peer") == 0)
			r->role = LEDGER_REMOTE_PEER;
		else
			problem(p, p->line, "role: \"%s\" is neither \"master\" nor \"peer\"", value);
	} else {
		problem(p, p->line, "unknown key \"%s\" in [remote \"%s\"]; expected url or role", name,
		        r->name);
	}
}

static int handle(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	size_t i;

	(void)section;
	switch (p->section) {
	case SEC_BAD:
		return 1; /* the header was reported; its keys would only add noise */
	case SEC_NONE:
		problem(p, p->line, "key \"%s\" before any section", name);
		return 1;
	case SEC_REMOTE:
		if (!*value) {
			problem(p, p->line, "%s: empty value", name);
			return 1;
		}
		remote_key(p, name, value);
		return 1;
	default:
		break;
	}
	for (i = 0; i < NKEYS; i++)
		if (key_table[i].section == p->section && strcmp(key_table[i].name, name) == 0)
			break;
	if (i == NKEYS) {
		problem(p, p->line, "unknown key \"%s\" in [%s]", name,
		        p->section == SEC_NODE ? "node" : "sync");
		return 1;
	}
	if (p->key_line[i]) {
		problem(p, p->line, "%s repeated (first at line %u)", name, p->key_line[i]);
		return 1;
	}
	p->key_line[i] = p->line;
	if (!*value) {
		problem(p, p->line, "%s: empty value", name);
		return 1;
	}
	if (p->section == SEC_NODE)
		node_key(p, (enum key_id)i, value);
	else
		sync_key(p, (enum key_id)i, value);
	return 1;
}

/* What can only be judged once the whole file is read. */
static void check_complete(struct parse *p)
{
	static const enum key_id required[] = { K_KEY, K_PRINCIPAL, K_AGENCY, K_LEDGER, K_MODE };
	struct syncd_config *cfg = p->cfg;
	const char *slash;
	size_t i;

	if (!p->node_line) {
		problem(p, 0, "no [node] section (key, principal, agency, ledger, mode)");
	} else {
		for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
			if (!p->key_line[required[i]])
				problem(p, p->node_line, "[node] lacks \"%s\"",
				        key_table[required[i]].name);
	}
	if (cfg->principal && cfg->agency) {
		slash = strchr(cfg->principal, '/');
		if (strncmp(cfg->principal, cfg->agency, (size_t)(slash - cfg->principal)) != 0 ||
		    strlen(cfg->agency) != (size_t)(slash - cfg->principal))
			problem(p, p->key_line[K_PRINCIPAL], "principal: \"%s\" is not of agency \"%s\"",
			        cfg->principal, cfg->agency);
	}
	/* Receipts and checkpoints are valid only when a NISC node signs them. */
	if (cfg->mode == SYNCD_MODE_MASTER && cfg->agency && strcmp(cfg->agency, "nisc") != 0)
		problem(p, p->key_line[K_MODE], "mode = master needs agency = nisc, not \"%s\"",
		        cfg->agency);
	if (cfg->backoff_cap < cfg->backoff_base)
		problem(p, p->key_line[K_BACKOFF_CAP] ? p->key_line[K_BACKOFF_CAP] :
		        p->key_line[K_BACKOFF_BASE], "backoff_cap: %us is less than backoff_base %us",
		        cfg->backoff_cap, cfg->backoff_base);
	if (cfg->mode == SYNCD_MODE_AGENCY && p->key_line[K_CHECKPOINT_INTERVAL])
		problem(p, p->key_line[K_CHECKPOINT_INTERVAL],
		        "checkpoint_interval: only for mode = master");
	if (cfg->mode == SYNCD_MODE_AGENCY && cfg->nremotes == 0 && p->node_line)
		problem(p, p->key_line[K_MODE], "mode = agency needs at least one [remote \"NAME\"]");
	for (i = 0; i < cfg->nremotes; i++) {
		if (!p->remote_line[i].url)
			problem(p, p->remote_line[i].header, "[remote \"%s\"] lacks \"url\"",
			        cfg->remotes[i].name);
		if (!p->remote_line[i].role)
			problem(p, p->remote_line[i].header, "[remote \"%s\"] lacks \"role\"",
			        cfg->remotes[i].name);
	}
}

int syncd_config_load(struct syncd_config **out, const char *path, struct syncd_diag *diag)
{
	struct syncd_config *cfg = NULL;
	struct parse *p = NULL;
	const char *slash;
	char *dir = NULL;
	int n, rc = LEDGER_ENOMEM;

	*out = NULL;
	if (!(cfg = calloc(1, sizeof(*cfg))) || !(p = calloc(1, sizeof(*p))))
		goto done;
	cfg->log_level = -1;
	cfg->poll_interval = DEFAULT_POLL_INTERVAL;
	cfg->backoff_base = DEFAULT_BACKOFF_BASE;
	cfg->backoff_cap = DEFAULT_BACKOFF_CAP;
	cfg->transfer_deadline = DEFAULT_TRANSFER_DEADLINE;
	cfg->max_bytes = DEFAULT_MAX_BYTES;
	cfg->max_objects = DEFAULT_MAX_OBJECTS;
	cfg->checkpoint_interval = DEFAULT_CHECKPOINT_INTERVAL;
	if (!(cfg->path = strdup(path)))
		goto done;
	slash = strrchr(path, '/');
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir)
		goto done;
	/* Absolute, so that messages name the real place and a chdir changes nothing. */
	p->dir = realpath(dir, NULL);
	if (!p->dir) {
		p->dir = dir;
		dir = NULL;
	}
	p->path = path;
	p->cfg = cfg;
	p->diag = diag;
	p->fp = fopen(path, "r");
	if (!p->fp) {
		problem(p, 0, "cannot read: %s", strerror(errno));
		rc = LEDGER_EINVALID;
		goto done;
	}
	n = ini_parse_stream(read_line, p, handle, p);
	if (ferror(p->fp))
		problem(p, 0, "read error");
	/* The reader and handler catch what inih would call an error; this is a backstop. */
	else if (n > 0 && diag->count == 0)
		problem(p, (unsigned int)n, "syntax error");
	check_complete(p);
	if (p->oom)
		goto done;
	if (diag->count) {
		rc = LEDGER_EINVALID;
		goto done;
	}
	*out = cfg;
	cfg = NULL;
	rc = 0;
done:
	if (rc == LEDGER_ENOMEM)
		ledger_error_set(rc, "out of memory reading \"%s\"", path);
	else if (rc == LEDGER_EINVALID)
		ledger_error_set(rc, "config \"%s\": %zu problem%s", path, diag->count,
		                 diag->count == 1 ? "" : "s");
	if (p && p->fp)
		fclose(p->fp);
	if (p)
		free(p->dir);
	free(p);
	free(dir);
	syncd_config_free(cfg);
	return rc;
}

int syncd_config_load_logged(struct syncd_config **out, const char *path)
{
	struct syncd_diag diag = { NULL, 0 };
	int error = syncd_config_load(out, path, &diag);

	if (error < 0) {
		for (size_t i = 0; i < diag.count; i++)
			syncd_log(LOG_ERR, "%s", diag.lines[i]);
		if (!diag.count)
			syncd_log(LOG_ERR, "%s", syncd_error_message());
	}
	syncd_diag_clear(&diag);
	return error;
}

int syncd_effective_log_level(const struct syncd_config *cfg, int verbosity)
{
	int level = cfg->log_level >= 0 ? cfg->log_level : LOG_INFO;

	level += verbosity;
	if (level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	return level;
}

void syncd_config_free(struct syncd_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->nremotes; i++) {
		free(cfg->remotes[i].name);
		free(cfg->remotes[i].url);
	}
	free(cfg->remotes);
	free(cfg->path);
	free(cfg->key);
	free(cfg->principal);
	free(cfg->agency);
	free(cfg->ledger);
	free(cfg);
}

int syncd_node_open(struct syncd_node **out, struct syncd_config *cfg)
{
	struct syncd_node *node;
	int error;

	*out = NULL;
	node = calloc(1, sizeof(*node));
	if (!node) {
		syncd_config_free(cfg);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	node->cfg = cfg;
	error = ledger_key_load(&node->key, cfg->key);
	if (error < 0) {
		ledger_error_prefix("key \"%s\"", cfg->key);
		goto fail;
	}
	if (ledger_key_type_of(node->key) != LEDGER_KEY_ED25519) {
		error = ledger_error_set(LEDGER_EINVALID, "key \"%s\": not an Ed25519 signing key",
		                         cfg->key);
		goto fail;
	}
	error = ledger_repo_open(&node->repo, cfg->ledger);
	if (error < 0) {
		ledger_error_prefix("ledger \"%s\"", cfg->ledger);
		goto fail;
	}
	error = syncd_pidfile_path(node->pidfile, sizeof(node->pidfile), node->repo);
	if (error < 0)
		goto fail;
	*out = node;
	return 0;
fail:
	syncd_node_free(node);
	return error;
}

void syncd_node_free(struct syncd_node *node)
{
	if (!node)
		return;
	ledger_repo_free(node->repo);
	ledger_key_free(node->key);
	syncd_config_free(node->cfg);
	free(node);
}
