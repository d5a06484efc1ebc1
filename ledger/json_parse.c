/*
 * Strict JSON input: jansson does the parsing (duplicate names, UTF-8,
 * surrogate escapes, trailing data); a second pass over the accepted text
 * enforces our own limits with the position of the offending token.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/error.h"
#include "ledger/json.h"

/* Where a token starts; line, column (in characters) and byte count from 1, as jansson's do. */
struct json_pos {
	int line;
	int column;
	size_t byte;
};

static const ledger_json_limits json_default_limits = LEDGER_JSON_LIMITS_INIT;

/* NULL means the defaults; refuse a struct from a different header version. */
static int json_limits(const ledger_json_limits **limits)
{
	if (!*limits)
		*limits = &json_default_limits;
	else if ((*limits)->version != LEDGER_JSON_LIMITS_VERSION)
		return ledger_error_set(LEDGER_EINVALID, "unsupported json limits version %u",
		                        (*limits)->version);
	return 0;
}

/* Refuse a number token, quoting (the start of) it. */
static int json_refuse(const struct json_pos *pos, const char *kind,
                       const char *tok, size_t toklen, const char *why)
{
	const size_t max_quote = 40;

	return ledger_error_set(LEDGER_EINVALID, "line %d, column %d, byte %zu: %s \"%.*s%s\"%s",
	                        pos->line, pos->column, pos->byte, kind,
	                        (int)(toklen > max_quote ? max_quote : toklen), tok,
	                        toklen > max_quote ? "..." : "", why);
}

/* |digits| > 2^53 - 1, for a run of decimal digits without leading zeros. */
static int json_digits_too_big(const char *digits, size_t len)
{
	static const char max[] = "9007199254740991";
	const size_t max_len = sizeof(max) - 1;

	if (len != max_len)
		return len > max_len;
	return memcmp(digits, max, max_len) > 0;
}

/*
 * The text is valid JSON (jansson accepted it), so a lexer that only knows
 * strings, brackets and number tokens is enough to check nesting depth and,
 * in integer mode, that every number is a safe integer.
 */
static int json_check_text(const char *buf, size_t len, const ledger_json_limits *limits)
{
	struct json_pos pos = { 1, 0, 0 };
	size_t depth = 0, i = 0;
	int in_string = 0;

	while (i < len) {
		unsigned char c = (unsigned char)buf[i];

		/* Columns count characters: skip UTF-8 continuation bytes. */
		if ((c & 0xc0) != 0x80)
			pos.column++;
		pos.byte = i + 1;

		if (in_string) {
			if (c == '"')
				in_string = 0;
			else if (c == '\\') {
				/* An escape: the next byte is ASCII, one more column. */
				pos.column++;
				i++;
			}
			i++;
			continue;
		}

		switch (c) {
		case '\n':
			pos.line++;
			pos.column = 0;
			break;
		case '"':
			in_string = 1;
			break;
		case '[':
		case '{':
			if (++depth > limits->max_depth) {
				return ledger_error_set(LEDGER_EINVALID,
				                        "line %d, column %d, byte %zu: nesting deeper than %zu",
				                        pos.line, pos.column, pos.byte, limits->max_depth);
			}
			break;
		case ']':
		case '}':
			depth--;
			break;
		default:
			if (c == '-' || (c >= '0' && c <= '9')) {
				size_t start = i, end = i;
				const char *digits;

				while (end < len && buf[end] && strchr("+-.0123456789eE", buf[end]))
					end++;
				if (limits->numbers == LEDGER_JSON_INTEGERS) {
					digits = buf + start + (c == '-');
					if (memchr(buf + start, '.', end - start) ||
					    memchr(buf + start, 'e', end - start) ||
					    memchr(buf + start, 'E', end - start))
						return json_refuse(&pos, "number", buf + start, end - start,
						                   ": only integers are allowed");
					if (json_digits_too_big(digits, (size_t)(buf + end - digits)))
						return json_refuse(&pos, "integer", buf + start, end - start,
						                   " out of range (|n| > 2^53-1)");
				}
				/* Number tokens are ASCII: one column per byte. */
				pos.column += (int)(end - start - 1);
				i = end;
				continue;
			}
			break;
		}
		i++;
	}
	return 0;
}

int ledger_json_parse(json_t **out, const char *buf, size_t len,
                      const ledger_json_limits *limits)
{
	size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY;
	json_error_t jerr;
	json_t *value = NULL;
	int r;

	*out = NULL;
	if ((r = json_limits(&limits)) < 0)
		return r;
	if (len > limits->max_size)
		return ledger_error_set(LEDGER_EINVALID, "json input of %zu bytes exceeds the limit of %zu bytes",
		                        len, limits->max_size);
	if (!buf)
		buf = "";
	if (limits->numbers == LEDGER_JSON_ANY_NUMBER)
		flags |= JSON_DECODE_INT_AS_REAL;

	value = json_loadb(buf, len, flags, &jerr);
	if (!value) {
		/* jansson says "too big integer"; say what our limit is instead. */
		if (json_error_code(&jerr) == json_error_numeric_overflow &&
		    strncmp(jerr.text, "too big", 7) == 0)
			return ledger_error_set(LEDGER_EINVALID,
			                        "line %d, column %d, byte %d: integer out of range (|n| > 2^53-1)",
			                        jerr.line, jerr.column, jerr.position);
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory parsing json");
		return ledger_error_set(LEDGER_EINVALID, "line %d, column %d, byte %d: %s",
		                        jerr.line, jerr.column, jerr.position, jerr.text);
	}
	if ((r = json_check_text(buf, len, limits)) < 0)
		goto done;

	*out = value;
	value = NULL; /* transferred */
	r = 0;
done:
	json_decref(value);
	return r;
}

/* Read at most max + 1 bytes, so an oversized file is refused without reading it all. */
static int json_read_file(char **out, size_t *out_len, int fd, const char *path, size_t max)
{
	struct stat st;
	/* One byte over the limit tells an oversized file from one exactly at it. */
	size_t over = max < SIZE_MAX ? max + 1 : max;
	size_t len = 0, cap;
	char *buf = NULL;
	ssize_t n;
	int r;

	if (fstat(fd, &st) < 0)
		return ledger_error_set(LEDGER_EIO, "cannot stat \"%s\": %s", path, strerror(errno));
	if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max)
		return ledger_error_set(LEDGER_EINVALID, "file \"%s\": %lld bytes exceeds the limit of %zu bytes",
		                        path, (long long)st.st_size, max);

	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	if (cap > over)
		cap = over;
	if (!(buf = malloc(cap))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory reading \"%s\"", path);
		goto done;
	}
	for (;;) {
		if (len == cap) {
			char *grown;

			if (cap > max) {
				r = ledger_error_set(LEDGER_EINVALID, "file \"%s\": more than %zu bytes",
				                     path, max);
				goto done;
			}
			cap = cap > over / 2 ? over : cap * 2;
			if (!(grown = realloc(buf, cap))) {
				r = ledger_error_set(LEDGER_ENOMEM, "out of memory reading \"%s\"", path);
				goto done;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ledger_error_set(LEDGER_EIO, "cannot read \"%s\": %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*out_len = len;
	buf = NULL; /* transferred */
	r = 0;
done:
	free(buf);
	return r;
}

int ledger_json_parse_file(json_t **out, const char *path,
                           const ledger_json_limits *limits)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	*out = NULL;
	if ((r = json_limits(&limits)) < 0)
		return r;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return ledger_error_set(errno == ENOENT ? LEDGER_ENOTFOUND : LEDGER_EIO,
		                        "cannot open \"%s\": %s", path, strerror(errno));
	if ((r = json_read_file(&buf, &len, fd, path, limits->max_size)) < 0)
		goto done;
	if ((r = ledger_json_parse(out, buf, len, limits)) < 0)
		ledger_error_prefix("file \"%s\"", path);
done:
	close(fd);
	free(buf);
	return r;
}
