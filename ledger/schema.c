/*
 * JSON Schema 2020-12 validation over jansson trees.
 *
 * Implemented keywords: type, enum, const, properties, patternProperties,
 * additionalProperties, required, propertyNames, minProperties,
 * maxProperties, items, prefixItems, minItems, maxItems, uniqueItems,
 * minLength, maxLength, pattern, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, multipleOf, $ref, $defs, $id, $anchor, allOf, anyOf,
 * oneOf, not, if/then/else and boolean schemas.  Annotations ($schema,
 * $comment, title, description, examples, default, format) and keywords not
 * listed ($dynamicRef, unevaluated*, contains, dependent*) are ignored.
 *
 * $ref resolves against the base URI set by the nearest $id (RFC 3986
 * reference resolution), to any schema loaded in the same set: a whole
 * resource, a JSON pointer fragment or an $anchor.  Nothing is fetched.
 * Schemas are compiled when they load (keywords digested, $ref resolved to
 * pointers), so validation does no lookups and no URI work.
 *
 * "pattern" is ECMA-262; it is translated to a POSIX extended regular
 * expression and run in the C.UTF-8 locale (so "." and classes see code
 * points).  Supported: literals, ".", classes with ranges and \d \w \s
 * inside, \d \D \w \W \s \S, escapes \t \n \r \f \v \uXXXX \xXX and escaped
 * punctuation, groups, (?:...), alternation, anchors, quantifiers * + ? {n}
 * {n,} {n,m} (lazy forms are treated as greedy, which does not change whether
 * a pattern matches).  Refused when the schema loads: backreferences,
 * lookaround, \b \B, \p{...}, negated shorthands inside a class, empty
 * classes, ranges whose ends are not ASCII (glibc refuses multibyte ranges).  Known differences: \s is the locale's [:space:], "." also
 * matches line terminators.  The patterns of the project's own schemas have
 * hand-written matchers with the same answers, for speed.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/error.h"
#include "ledger/schema.h"
#include "hex.h"

/* Nested schema evaluations before giving up; also stops $ref cycles. */
#define SCHEMA_MAX_DEPTH 96
/* Nesting of a schema document walked at load time. */
#define SCHEMA_MAX_DOC_DEPTH 128
#define SCHEMA_PTR_MAX 512
#define SCHEMA_MSG_MAX 768
#define SCHEMA_SUFFIX ".schema.json"

struct schema_resource {
	char *uri;             /* absolute, no fragment; "<uri>#<name>" for an $anchor */
	const json_t *schema;
};

struct schema_pattern {
	char *source;          /* ECMA-262 text as written in the schema */
	bool (*fast)(const char *s, size_t len); /* hand-written matcher, or NULL */
	regex_t re;            /* compiled only when there is no fast matcher */
};

struct snode;

struct schema_doc {
	char *name;            /* file name, or NULL */
	char *uri;             /* base URI of the document */
	size_t name_len, uri_len;
	json_t *root;
	struct snode *node;    /* the compiled root */
};

struct ledger_schemas {
	struct schema_doc *docs;
	size_t ndocs;
	struct schema_resource *res;
	size_t nres;
	struct schema_pattern *pat;
	size_t npat;
	locale_t utf8;         /* (locale_t)0 when C.UTF-8 is unavailable */
	struct snode **nodes;  /* compiled schemas: open addressing on (json, base) */
	size_t nodes_cap, nnodes;
};

/* ------------------------------------------------------------------------ */
/* Growable strings */

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sbuf_addn(struct sbuf *b, const char *s, size_t n)
{
	char *np;
	size_t ncap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 64;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if (!(np = realloc(b->p, ncap))) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sbuf_add(struct sbuf *b, const char *s)
{
	sbuf_addn(b, s, strlen(s));
}

static void sbuf_addc(struct sbuf *b, char c)
{
	sbuf_addn(b, &c, 1);
}

/* The finished string (malloc'd), or NULL when memory ran out. */
static char *sbuf_take(struct sbuf *b)
{
	char *s;

	if (b->oom) {
		free(b->p);
		return NULL;
	}
	s = b->p ? b->p : strdup("");
	b->p = NULL;
	return s;
}

/* ------------------------------------------------------------------------ */
/* URI references (RFC 3986 section 5) */

static size_t uri_scheme_len(const char *s)
{
	size_t i = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; s[i]; i++) {
		if (s[i] == ':')
			return i;
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.'))
			return 0;
	}
	return 0;
}

/* RFC 3986 5.2.4 on the path part of `uri` (from `path` up to "?" or "#"). */
static char *uri_remove_dots(const char *uri, size_t path)
{
	struct sbuf out = { 0 };
	const char *in = uri + path, *stop = in + strcspn(in, "?#");

	sbuf_addn(&out, uri, path);
	while (in < stop) {
		size_t left = (size_t)(stop - in), seg;

		if (left >= 3 && !strncmp(in, "../", 3)) {
			in += 3;
		} else if (left >= 2 && !strncmp(in, "./", 2)) {
			in += 2;
		} else if (left >= 3 && !strncmp(in, "/./", 3)) {
			in += 2;
		} else if (left == 2 && !strncmp(in, "/.", 2)) {
			sbuf_addc(&out, '/');
			in = stop;
		} else if ((left >= 4 && !strncmp(in, "/../", 4)) || (left == 3 && !strncmp(in, "/..", 3))) {
			/* drop the last output segment and its "/" */
			while (out.len > path && out.p[out.len - 1] != '/')
				out.len--;
			if (out.len > path)
				out.len--;
			if (out.p)
				out.p[out.len] = '\0';
			if (left == 3) {
				sbuf_addc(&out, '/');
				in = stop;
			} else {
				in += 3;
			}
		} else if ((left == 1 && in[0] == '.') || (left == 2 && !strncmp(in, "..", 2))) {
			in = stop;
		} else {
			seg = in[0] == '/' ? 1 : 0;
			seg += strcspn(in + seg, "/");
			if (seg > left)
				seg = left;
			sbuf_addn(&out, in, seg);
			in += seg;
		}
	}
	sbuf_add(&out, stop);
	return sbuf_take(&out);
}

/* Resolve reference `ref` against absolute (or empty) `base`; malloc'd. */
static char *uri_resolve(const char *base, const char *ref)
{
	struct sbuf out = { 0 };
	size_t scheme = uri_scheme_len(base), auth_end, path_end;
	char *joined, *r;

	if (uri_scheme_len(ref))
		return uri_remove_dots(ref, uri_scheme_len(ref) + 1);
	/* base without its fragment */
	path_end = strcspn(base, "#");
	if (ref[0] == '#' || ref[0] == '\0') {
		sbuf_addn(&out, base, path_end);
		sbuf_add(&out, ref);
		return sbuf_take(&out);
	}
	if (ref[0] == '?') {
		sbuf_addn(&out, base, strcspn(base, "?#"));
		sbuf_add(&out, ref);
		return sbuf_take(&out);
	}
	auth_end = scheme ? scheme + 1 : 0;
	if (!strncmp(base + auth_end, "//", 2))
		auth_end += 2 + strcspn(base + auth_end + 2, "/?#");
	if (ref[0] == '/' && ref[1] == '/') {
		sbuf_addn(&out, base, scheme ? scheme + 1 : 0);
		sbuf_add(&out, ref);
		return sbuf_take(&out);
	}
	if (ref[0] == '/') {
		sbuf_addn(&out, base, auth_end);
	} else {
		/* merge: the base path up to its last "/" */
		size_t pend = auth_end + strcspn(base + auth_end, "?#"), last = auth_end;
		size_t i;

		for (i = auth_end; i < pend; i++)
			if (base[i] == '/')
				last = i + 1;
		sbuf_addn(&out, base, last);
		if (last == auth_end && auth_end > (scheme ? scheme + 1 : 0))
			sbuf_addc(&out, '/');
	}
	sbuf_add(&out, ref);
	if (!(joined = sbuf_take(&out)))
		return NULL;
	r = uri_remove_dots(joined, auth_end);
	free(joined);
	return r;
}

/* Decode %XX escapes in place. */
static void uri_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '%' && s[1] && s[2] && strchr("0123456789abcdefABCDEF", s[1]) &&
		    strchr("0123456789abcdefABCDEF", s[2])) {
			char hex[3] = { s[1], s[2], 0 };

			*w++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* ------------------------------------------------------------------------ */
/* ECMA-262 patterns to POSIX ERE */

static void ere_add_utf8(struct sbuf *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sbuf_addn(b, u, n);
}

static int hexval(const char *s, size_t n, unsigned long *out)
{
	size_t i;

	*out = 0;
	for (i = 0; i < n; i++) {
		int c = s[i];

		if (c >= '0' && c <= '9')
			*out = *out * 16 + (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*out = *out * 16 + (unsigned long)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*out = *out * 16 + (unsigned long)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/*
 * A character escape (\t \n \uXXXX \xXX ...) at s[0] == '\\': its code point
 * in *cp and the bytes consumed, 0 when it is not a character escape, -1 when
 * malformed.
 */
static int ecma_char_escape(const char *s, unsigned long *cp)
{
	unsigned long lo;

	switch (s[1]) {
	case 't': *cp = '\t'; return 2;
	case 'n': *cp = '\n'; return 2;
	case 'r': *cp = '\r'; return 2;
	case 'f': *cp = '\f'; return 2;
	case 'v': *cp = '\v'; return 2;
	case 'x':
		return hexval(s + 2, 2, cp) ? -1 : 4;
	case 'u':
		if (hexval(s + 2, 4, cp))
			return -1;
		if (*cp >= 0xd800 && *cp <= 0xdbff && s[6] == '\\' && s[7] == 'u' &&
		    !hexval(s + 8, 4, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
			*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
			return 12;
		}
		return (*cp >= 0xd800 && *cp <= 0xdfff) || *cp == 0 ? -1 : 6;
	default:
		return 0;
	}
}

/* Add one literal character outside a bracket expression. */
static void ere_literal(struct sbuf *b, unsigned long cp)
{
	if (cp == '^')
		sbuf_add(b, "\\^");
	else if (cp < 0x80 && strchr(".[]{}()*+?$|\\", (int)cp)) {
		/* a one-character bracket is literal in every POSIX implementation */
		sbuf_addc(b, '[');
		sbuf_addc(b, (char)cp);
		sbuf_addc(b, ']');
	} else
		ere_add_utf8(b, cp);
}

/* A class "[...]" starting at src[*i] == '['; advances *i past the "]". */
static int ere_class(struct sbuf *out, const char *src, size_t *i, const char **why)
{
	struct sbuf items = { 0 };
	size_t p = *i + 1;
	int negate = 0, rbracket = 0, hyphen = 0, caret = 0, nitems = 0, r = -1, range = 0;
	unsigned long cp, last = 0;
	int n;

	if (src[p] == '^') {
		negate = 1;
		p++;
	}
	if (src[p] == ']') {
		*why = "empty character class";
		goto done;
	}
	while (src[p] && src[p] != ']') {
		if (src[p] == '\\') {
			char e = src[p + 1];

			if (e == 'd' || e == 'w' || e == 's') {
				sbuf_add(&items, e == 'd' ? "0-9" : e == 'w' ? "A-Za-z0-9_" : "[:space:]");
				nitems++;
				p += 2;
				continue;
			}
			if ((n = ecma_char_escape(src + p, &cp)) < 0) {
				*why = "malformed escape";
				goto done;
			}
			if (n == 0) {
				if (!e || (e >= 'A' && e <= 'Z') || (e >= 'a' && e <= 'z') ||
				    (e >= '0' && e <= '9')) {
					*why = "unsupported escape in a character class";
					goto done;
				}
				cp = (unsigned char)e;
				n = 2;
			}
			p += (size_t)n;
		} else if (src[p] == '-' && nitems && src[p + 1] != ']') {
			range = 1;
			sbuf_addc(&items, '-');
			p++;
			continue;
		} else if ((unsigned char)src[p] >= 0x80) {
			/* copy a whole UTF-8 sequence */
			size_t len = 1;

			while ((src[p + len] & 0xc0) == 0x80)
				len++;
			if (range) {
				*why = "ranges of non-ASCII characters are not supported";
				goto done;
			}
			sbuf_addn(&items, src + p, len);
			nitems++;
			last = 0x80;
			p += len;
			continue;
		} else {
			cp = (unsigned char)src[p++];
		}
		/* glibc cannot compile a range between multibyte characters */
		if (range && (cp >= 0x80 || last >= 0x80)) {
			*why = "ranges of non-ASCII characters are not supported";
			goto done;
		}
		range = 0;
		last = cp;
		if (cp == ']')
			rbracket = 1;
		else if (cp == '-')
			hyphen = 1;
		else if (cp == '^')
			caret = 1;
		else {
			ere_add_utf8(&items, cp);
			nitems++;
		}
	}
	if (src[p] != ']') {
		*why = "unterminated character class";
		goto done;
	}
	*i = p + 1;
	/* POSIX brackets: "]" must come first, "-" last, "^" anywhere but first. */
	if (!items.len && !rbracket) {
		if (caret && !hyphen && !negate) {
			sbuf_add(out, "\\^");
		} else {
			sbuf_add(out, negate ? "[^" : "[");
			if (hyphen)
				sbuf_addc(out, '-');
			if (caret)
				sbuf_addc(out, '^');
			sbuf_addc(out, ']');
		}
	} else {
		sbuf_add(out, negate ? "[^" : "[");
		if (rbracket)
			sbuf_addc(out, ']');
		if (items.len)
			sbuf_add(out, items.p);
		if (caret)
			sbuf_addc(out, '^');
		if (hyphen)
			sbuf_addc(out, '-');
		sbuf_addc(out, ']');
	}
	r = 0;
done:
	free(items.p);
	return r;
}

/* Is src at "{n}", "{n,}" or "{n,m}"?  Returns its length or 0. */
static size_t ecma_braces(const char *s)
{
	size_t i = 1;

	if (!(s[i] >= '0' && s[i] <= '9'))
		return 0;
	while (s[i] >= '0' && s[i] <= '9')
		i++;
	if (s[i] == ',') {
		i++;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return s[i] == '}' ? i + 1 : 0;
}

static int ecma_to_ere(char **out, const char *src, const char **why)
{
	struct sbuf b = { 0 };
	size_t i = 0, n;
	unsigned long cp;
	int e;

	*out = NULL;
	while (src[i]) {
		char c = src[i];

		switch (c) {
		case '\\':
			switch (src[i + 1]) {
			case 'd': sbuf_add(&b, "[0-9]"); i += 2; continue;
			case 'D': sbuf_add(&b, "[^0-9]"); i += 2; continue;
			case 'w': sbuf_add(&b, "[A-Za-z0-9_]"); i += 2; continue;
			case 'W': sbuf_add(&b, "[^A-Za-z0-9_]"); i += 2; continue;
			case 's': sbuf_add(&b, "[[:space:]]"); i += 2; continue;
			case 'S': sbuf_add(&b, "[^[:space:]]"); i += 2; continue;
			default: break;
			}
			if ((e = ecma_char_escape(src + i, &cp)) < 0) {
				*why = "malformed escape";
				goto fail;
			}
			if (e == 0) {
				char x = src[i + 1];

				if (!x || (x >= 'A' && x <= 'Z') || (x >= 'a' && x <= 'z') ||
				    (x >= '0' && x <= '9')) {
					*why = "unsupported escape (backreference, \\b, \\p or similar)";
					goto fail;
				}
				cp = (unsigned char)x;
				e = 2;
			}
			ere_literal(&b, cp);
			i += (size_t)e;
			continue;
		case '[':
			if (ere_class(&b, src, &i, why))
				goto fail;
			continue;
		case '(':
			if (src[i + 1] == '?') {
				if (src[i + 2] != ':') {
					*why = "lookaround and named groups are not supported";
					goto fail;
				}
				sbuf_addc(&b, '(');
				i += 3;
				continue;
			}
			sbuf_addc(&b, '(');
			i++;
			continue;
		case '*':
		case '+':
		case '?':
			sbuf_addc(&b, c);
			i++;
			if (src[i] == '?')
				i++; /* lazy quantifier: same match/no-match answer */
			continue;
		case '{':
			if ((n = ecma_braces(src + i))) {
				sbuf_addn(&b, src + i, n);
				i += n;
				if (src[i] == '?')
					i++;
			} else {
				sbuf_add(&b, "[{]");
				i++;
			}
			continue;
		case '}':
			sbuf_add(&b, "[}]");
			i++;
			continue;
		case ']':
			sbuf_add(&b, "[]]");
			i++;
			continue;
		default:
			sbuf_addc(&b, c);
			i++;
			continue;
		}
	}
	if (!(*out = sbuf_take(&b))) {
		*why = "out of memory";
		return LEDGER_ENOMEM;
	}
	return 0;
fail:
	free(b.p);
	return LEDGER_EINVALID;
}

/* ------------------------------------------------------------------------ */
/*
 * Hand-written matchers for the patterns of the project's schemas, chosen by
 * the exact pattern text when it loads.  Each answers exactly as the regular
 * expression would: every class is ASCII, so a byte outside it (part of a
 * multibyte character or U+0000) fails in both.
 */

enum {
	CH_LOWER = 1 << 0, CH_UPPER = 1 << 1, CH_DIGIT = 1 << 2, CH_PLUS = 1 << 3,
	CH_SLASH = 1 << 4, CH_DOT = 1 << 5, CH_UNDER = 1 << 6, CH_DASH = 1 << 7,
};

#define CH_B64 (CH_LOWER | CH_UPPER | CH_DIGIT | CH_PLUS | CH_SLASH)
#define CH_NAME (CH_LOWER | CH_DIGIT | CH_DOT | CH_UNDER | CH_DASH)

/* The classes of a byte, as a constant expression: the table below is built from it. */
#define CHAR_CLASS(c) \
	((c) >= 'a' && (c) <= 'z' ? CH_LOWER : \
	 (c) >= 'A' && (c) <= 'Z' ? CH_UPPER : \
	 (c) >= '0' && (c) <= '9' ? CH_DIGIT : \
	 (c) == '+' ? CH_PLUS : (c) == '/' ? CH_SLASH : (c) == '.' ? CH_DOT : \
	 (c) == '_' ? CH_UNDER : (c) == '-' ? CH_DASH : 0)
#define CHAR_CLASS4(c) CHAR_CLASS(c), CHAR_CLASS((c) + 1), CHAR_CLASS((c) + 2), CHAR_CLASS((c) + 3)
#define CHAR_CLASS16(c) CHAR_CLASS4(c), CHAR_CLASS4((c) + 4), CHAR_CLASS4((c) + 8), CHAR_CLASS4((c) + 12)
#define CHAR_CLASS64(c) \
	CHAR_CLASS16(c), CHAR_CLASS16((c) + 16), CHAR_CLASS16((c) + 32), CHAR_CLASS16((c) + 48)

/* One lookup per byte: these matchers run on every id, name and time of every record. */
static const unsigned short char_classes[256] = {
	CHAR_CLASS64(0), CHAR_CLASS64(64), CHAR_CLASS64(128), CHAR_CLASS64(192)
};

/* Is every byte of s[0..len) in one of the classes of `mask`? */
static bool all_in(const char *s, size_t len, unsigned mask)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!(char_classes[(unsigned char)s[i]] & mask))
			return false;
	return true;
}

static bool in_range(char c, char lo, char hi)
{
	return c >= lo && c <= hi;
}

/* ^[a-z][a-z0-9._-]{0,63}$ */
static bool fast_name(const char *s, size_t len)
{
	return len >= 1 && len <= 64 && in_range(s[0], 'a', 'z') && all_in(s + 1, len - 1, CH_NAME);
}

/* ^[a-z0-9][a-z0-9_.-]{0,63}$ */
static bool fast_name_digit(const char *s, size_t len)
{
	return len >= 1 && len <= 64 && all_in(s, 1, CH_LOWER | CH_DIGIT) &&
	       all_in(s + 1, len - 1, CH_NAME);
}

/* ^[a-z][a-z0-9-]{1,31}$ */
static bool fast_agency(const char *s, size_t len)
{
	return len >= 2 && len <= 32 && in_range(s[0], 'a', 'z') &&
	       all_in(s + 1, len - 1, CH_LOWER | CH_DIGIT | CH_DASH);
}

/* ^[a-z][a-z0-9-]{1,31}/[a-z][a-z0-9._-]{0,63}$ ("/" occurs in neither part) */
static bool fast_principal(const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);
	size_t a;

	if (!slash)
		return false;
	a = (size_t)(slash - s);
	return fast_agency(s, a) && fast_name(slash + 1, len - a - 1);
}

/* ^[a-z][a-z_]{0,31}$ */
static bool fast_type(const char *s, size_t len)
{
	return len >= 1 && len <= 32 && in_range(s[0], 'a', 'z') &&
	       all_in(s + 1, len - 1, CH_LOWER | CH_UNDER);
}

/* ^[0-9a-f]{64}$ */
static bool fast_hex64(const char *s, size_t len)
{
	return len == 64 && hex_lower_run(s, len);
}

/* ^([0-9a-f]{40}|[0-9a-f]{64})$ */
static bool fast_hex40_64(const char *s, size_t len)
{
	return (len == 40 || len == 64) && hex_lower_run(s, len);
}

/* ^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$ */
static bool fast_base64(const char *s, size_t len)
{
	size_t pad = 0;

	if (len % 4)
		return false;
	if (len && s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	return all_in(s, len - pad, CH_B64);
}

/* ^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$ (32 bytes) */
static bool fast_base64_32(const char *s, size_t len)
{
	return len == 44 && all_in(s, 42, CH_B64) && s[42] && strchr("AEIMQUYcgkosw048", s[42]) &&
	       s[43] == '=';
}

/* ^[A-Za-z0-9+/]{85}[AQgw]==$ (64 bytes) */
static bool fast_base64_64(const char *s, size_t len)
{
	return len == 88 && all_in(s, 85, CH_B64) && s[85] && strchr("AQgw", s[85]) &&
	       s[86] == '=' && s[87] == '=';
}

/*
 * ^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):
 * [0-5][0-9]:[0-5][0-9]Z$
 */
static bool fast_time(const char *s, size_t len)
{
	return len == 20 && all_in(s, 4, CH_DIGIT) && s[4] == '-' &&
	       ((s[5] == '0' && in_range(s[6], '1', '9')) || (s[5] == '1' && in_range(s[6], '0', '2'))) &&
	       s[7] == '-' &&
	       ((s[8] == '0' && in_range(s[9], '1', '9')) ||
	        (in_range(s[8], '1', '2') && in_range(s[9], '0', '9')) ||
	        (s[8] == '3' && in_range(s[9], '0', '1'))) &&
	       s[10] == 'T' &&
	       ((in_range(s[11], '0', '1') && in_range(s[12], '0', '9')) ||
	        (s[11] == '2' && in_range(s[12], '0', '3'))) &&
	       s[13] == ':' && in_range(s[14], '0', '5') && in_range(s[15], '0', '9') &&
	       s[16] == ':' && in_range(s[17], '0', '5') && in_range(s[18], '0', '9') && s[19] == 'Z';
}

static const struct {
	const char *source;
	bool (*match)(const char *s, size_t len);
} fast_patterns[] = {
	{ "^[a-z][a-z0-9._-]{0,63}$", fast_name },
	{ "^[a-z0-9][a-z0-9_.-]{0,63}$", fast_name_digit },
	{ "^[a-z][a-z0-9-]{1,31}$", fast_agency },
	{ "^[a-z][a-z0-9-]{1,31}/[a-z][a-z0-9._-]{0,63}$", fast_principal },
	{ "^[a-z][a-z_]{0,31}$", fast_type },
	{ "^[0-9a-f]{64}$", fast_hex64 },
	{ "^([0-9a-f]{40}|[0-9a-f]{64})$", fast_hex40_64 },
	{ "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$", fast_base64 },
	{ "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$", fast_base64_32 },
	{ "^[A-Za-z0-9+/]{85}[AQgw]==$", fast_base64_64 },
	{ "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$",
	  fast_time },
};

/* ------------------------------------------------------------------------ */
/* The registry: documents, $id/$anchor resources, compiled patterns */

static void snode_free(struct snode *n);

static void schemas_clear(struct ledger_schemas *s)
{
	size_t i;

	for (i = 0; i < s->ndocs; i++) {
		free(s->docs[i].name);
		free(s->docs[i].uri);
		json_decref(s->docs[i].root);
	}
	for (i = 0; i < s->nres; i++)
		free(s->res[i].uri);
	for (i = 0; i < s->npat; i++) {
		free(s->pat[i].source);
		if (!s->pat[i].fast)
			regfree(&s->pat[i].re);
	}
	for (i = 0; i < s->nodes_cap; i++)
		snode_free(s->nodes[i]);
	free(s->docs);
	free(s->res);
	free(s->pat);
	free(s->nodes);
	if (s->utf8)
		freelocale(s->utf8);
}

void ledger_schemas_free(ledger_schemas *schemas)
{
	if (!schemas)
		return;
	schemas_clear(schemas);
	free(schemas);
}

static const struct schema_resource *find_resource(const struct ledger_schemas *s, const char *uri)
{
	size_t i;

	for (i = 0; i < s->nres; i++)
		if (!strcmp(s->res[i].uri, uri))
			return &s->res[i];
	return NULL;
}

/* The base URI a schema object with "$id" sets, or NULL when it was not indexed. */
static const char *resource_base(const struct ledger_schemas *s, const json_t *schema)
{
	size_t i;

	for (i = 0; i < s->nres; i++)
		if (s->res[i].schema == schema && !strchr(s->res[i].uri, '#'))
			return s->res[i].uri;
	return NULL;
}

static int add_resource(struct ledger_schemas *s, const char *uri, const json_t *schema)
{
	const struct schema_resource *old = find_resource(s, uri);
	struct schema_resource *nr;

	if (old) {
		if (old->schema == schema)
			return 0;
		return ledger_error_set(LEDGER_EINVALID, "schema \"%s\": defined twice", uri);
	}
	if (!(nr = realloc(s->res, (s->nres + 1) * sizeof(*nr))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	s->res = nr;
	if (!(nr[s->nres].uri = strdup(uri)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	nr[s->nres++].schema = schema;
	return 0;
}

static const struct schema_pattern *find_pattern(const struct ledger_schemas *s,
                                                 const char *source)
{
	size_t i;

	for (i = 0; i < s->npat; i++)
		if (!strcmp(s->pat[i].source, source))
			return &s->pat[i];
	return NULL;
}

static int add_pattern(struct ledger_schemas *s, const char *source)
{
	struct schema_pattern *np;
	const char *why = NULL;
	locale_t saved = (locale_t)0;
	char *ere = NULL;
	size_t i;
	int r, rc;

	if (find_pattern(s, source))
		return 0;
	if (!(np = realloc(s->pat, (s->npat + 1) * sizeof(*np))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	s->pat = np;
	np += s->npat;
	np->fast = NULL;
	for (i = 0; i < sizeof(fast_patterns) / sizeof(fast_patterns[0]); i++)
		if (!strcmp(fast_patterns[i].source, source))
			np->fast = fast_patterns[i].match;
	if (!np->fast) {
		if ((r = ecma_to_ere(&ere, source, &why)))
			return ledger_error_set(r, "pattern \"%s\": %s", source, why);
		if (s->utf8)
			saved = uselocale(s->utf8);
		rc = regcomp(&np->re, ere, REG_EXTENDED | REG_NOSUB);
		if (s->utf8)
			uselocale(saved);
		free(ere);
		if (rc != 0)
			return ledger_error_set(LEDGER_EINVALID,
			                        "pattern \"%s\": not a valid regular expression", source);
	}
	if (!(np->source = strdup(source))) {
		if (!np->fast)
			regfree(&np->re);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	s->npat++;
	return 0;
}

enum walk_pass { WALK_INDEX, WALK_CHECK_REFS };

static int resolve_ref(const struct ledger_schemas *s, const char *base, const char *ref,
                       const json_t **out, const char **out_base);

static int walk(struct ledger_schemas *s, enum walk_pass pass, const json_t *schema,
                const char *base, int depth);

static int walk_members(struct ledger_schemas *s, enum walk_pass pass, const json_t *obj,
                        const char *base, int depth)
{
	const char *key;
	json_t *v;
	int r;

	if (!json_is_object(obj))
		return 0;
	json_object_foreach((json_t *)obj, key, v)
		if ((r = walk(s, pass, v, base, depth)))
			return r;
	return 0;
}

static int walk(struct ledger_schemas *s, enum walk_pass pass, const json_t *schema,
                const char *base, int depth)
{
	static const char *const one[] = {
		"items", "additionalProperties", "not", "if", "then", "else", "propertyNames",
		"contains", "unevaluatedItems", "unevaluatedProperties", "additionalItems"
	};
	static const char *const many[] = { "allOf", "anyOf", "oneOf", "prefixItems" };
	static const char *const maps[] = { "properties", "$defs", "definitions", "dependentSchemas" };
	const json_t *v, *pp;
	char *own = NULL;
	const char *key;
	size_t i, j;
	int r = 0;

	if (!json_is_object(schema))
		return 0;
	if (depth > SCHEMA_MAX_DOC_DEPTH)
		return ledger_error_set(LEDGER_EINVALID, "schema \"%s\": nested too deeply", base);
	v = json_object_get(schema, "$id");
	if (json_is_string(v)) {
		if (!(own = uri_resolve(base, json_string_value(v))))
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		own[strcspn(own, "#")] = '\0';
		base = own;
		if (pass == WALK_INDEX && (r = add_resource(s, own, schema)))
			goto done;
	}
	if (pass == WALK_INDEX) {
		v = json_object_get(schema, "$anchor");
		if (json_is_string(v)) {
			char *a;

			if (asprintf(&a, "%s#%s", base, json_string_value(v)) < 0) {
				r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
				goto done;
			}
			r = add_resource(s, a, schema);
			free(a);
			if (r)
				goto done;
		}
		v = json_object_get(schema, "pattern");
		if (json_is_string(v) && (r = add_pattern(s, json_string_value(v))))
			goto done;
		pp = json_object_get(schema, "patternProperties");
		if (json_is_object(pp)) {
			json_object_foreach((json_t *)pp, key, v)
				if ((r = add_pattern(s, key)))
					goto done;
		}
	} else {
		const json_t *target;
		const char *tbase;

		v = json_object_get(schema, "$ref");
		if (json_is_string(v) &&
		    (r = resolve_ref(s, base, json_string_value(v), &target, &tbase))) {
			if (r > 0)
				r = ledger_error_set(LEDGER_EINVALID, "$ref \"%s\": cannot be resolved",
				                     json_string_value(v));
			goto done;
		}
	}
	for (i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		if ((r = walk(s, pass, json_object_get(schema, one[i]), base, depth + 1)))
			goto done;
	for (i = 0; i < sizeof(many) / sizeof(many[0]); i++) {
		v = json_object_get(schema, many[i]);
		for (j = 0; j < json_array_size(v); j++)
			if ((r = walk(s, pass, json_array_get(v, j), base, depth + 1)))
				goto done;
	}
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if ((r = walk_members(s, pass, json_object_get(schema, maps[i]), base, depth + 1)))
			goto done;
	r = walk_members(s, pass, json_object_get(schema, "patternProperties"), base, depth + 1);
done:
	free(own);
	return r;
}

/* Follow a JSON pointer fragment (already %-decoded) from `root`. */
static const json_t *pointer_get(const struct ledger_schemas *s, const json_t *root,
                                 const char *ptr, const char **base)
{
	const json_t *cur = root;
	char tok[SCHEMA_PTR_MAX];

	while (*ptr == '/') {
		size_t n = 0;
		const char *b;

		ptr++;
		while (*ptr && *ptr != '/') {
			if (n + 1 >= sizeof(tok))
				return NULL;
			if (ptr[0] == '~' && ptr[1] == '0') {
				tok[n++] = '~';
				ptr += 2;
			} else if (ptr[0] == '~' && ptr[1] == '1') {
				tok[n++] = '/';
				ptr += 2;
			} else {
				tok[n++] = *ptr++;
			}
		}
		tok[n] = '\0';
		if (json_is_object(cur)) {
			cur = json_object_get(cur, tok);
		} else if (json_is_array(cur)) {
			char *end;
			unsigned long idx;

			if (!n || (n > 1 && tok[0] == '0'))
				return NULL;
			errno = 0;
			idx = strtoul(tok, &end, 10);
			if (*end || errno)
				return NULL;
			cur = json_array_get(cur, idx);
		} else {
			return NULL;
		}
		if (!cur)
			return NULL;
		if (json_is_object(cur) && (b = resource_base(s, cur)))
			*base = b;
	}
	return *ptr ? NULL : cur;
}

/* 0 with the target schema and its base URI, 1 when unresolved, or LEDGER_ENOMEM. */
static int resolve_ref(const struct ledger_schemas *s, const char *base, const char *ref,
                       const json_t **out, const char **out_base)
{
	const struct schema_resource *res;
	char *uri, *frag;
	int r = 0;

	if (!(uri = uri_resolve(base, ref)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	frag = strchr(uri, '#');
	if (frag)
		*frag++ = '\0';
	if (frag && *frag && *frag != '/') {
		/* an $anchor */
		frag[-1] = '#';
		res = find_resource(s, uri);
		frag[-1] = '\0';
		if (!res)
			goto unresolved;
		*out = res->schema;
		/* the anchored schema's own $id, else the resource holding the anchor */
		if (!(*out_base = resource_base(s, res->schema)))
			*out_base = (res = find_resource(s, uri)) ? res->uri : base;
		goto done;
	}
	if (!(res = find_resource(s, uri)))
		goto unresolved;
	*out_base = res->uri;
	*out = res->schema;
	if (frag && *frag) {
		uri_unescape(frag);
		if (!(*out = pointer_get(s, res->schema, frag, out_base)))
			goto unresolved;
	}
	goto done;
unresolved:
	r = 1;
done:
	free(uri);
	return r;
}

/* Add a document; steals the reference `root`. */
static int add_doc(struct ledger_schemas *s, json_t *root, const char *name, const char *uri)
{
	struct schema_doc *nd;
	struct schema_doc *d;

	if (!(nd = realloc(s->docs, (s->ndocs + 1) * sizeof(*nd)))) {
		json_decref(root);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	s->docs = nd;
	d = &nd[s->ndocs];
	d->name = name ? strdup(name) : NULL;
	d->uri = NULL;
	d->root = root;
	d->node = NULL;
	s->ndocs++;
	if (json_is_object(root) && json_is_string(json_object_get(root, "$id")))
		d->uri = uri_resolve(uri, json_string_value(json_object_get(root, "$id")));
	else
		d->uri = strdup(uri);
	if (!d->uri || (name && !d->name))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	d->uri_len = strcspn(d->uri, "#");
	d->uri[d->uri_len] = '\0';
	d->name_len = name ? strlen(name) : 0;
	return 0;
}

static int schemas_compile(struct ledger_schemas *s);

/* Index every document, check that every $ref resolves, then compile. */
static int schemas_index(struct ledger_schemas *s)
{
	size_t i;
	int r;

	s->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	for (i = 0; i < s->ndocs; i++) {
		struct schema_doc *d = &s->docs[i];

		if (!json_is_object(d->root) && !json_is_boolean(d->root))
			return ledger_error_set(LEDGER_EINVALID, "schema \"%s\": not an object or boolean",
			                        d->name ? d->name : d->uri);
		if ((r = add_resource(s, d->uri, d->root)) ||
		    (r = walk(s, WALK_INDEX, d->root, d->uri, 0)))
			return d->name ? ledger_error_prefix("schema file \"%s\"", d->name) : r;
	}
	for (i = 0; i < s->ndocs; i++) {
		struct schema_doc *d = &s->docs[i];

		if ((r = walk(s, WALK_CHECK_REFS, d->root, d->uri, 0)))
			return d->name ? ledger_error_prefix("schema file \"%s\"", d->name) : r;
	}
	return schemas_compile(s);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ledger_schemas_load(ledger_schemas **out, const char *dir)
{
	struct ledger_schemas *s = NULL;
	char **names = NULL, **nn;
	size_t nnames = 0, i;
	struct dirent *de;
	DIR *d = NULL;
	int r;

	*out = NULL;
	if (!dir)
		dir = getenv("CYMAT_SCHEMAS_DIR");
	if (!dir || !*dir)
		dir = PKGDATADIR "/schemas";
	if (!(d = opendir(dir))) {
		r = ledger_error_set(errno == ENOENT ? LEDGER_ENOTFOUND : LEDGER_EIO,
		                     "schema directory \"%s\": %s", dir, strerror(errno));
		goto done;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len <= strlen(SCHEMA_SUFFIX) ||
		    strcmp(de->d_name + len - strlen(SCHEMA_SUFFIX), SCHEMA_SUFFIX))
			continue;
		if (!(nn = realloc(names, (nnames + 1) * sizeof(*nn))) ||
		    !(nn[nnames] = strdup(de->d_name))) {
			if (nn)
				names = nn;
			r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
			goto done;
		}
		names = nn;
		nnames++;
	}
	if (!nnames) {
		r = ledger_error_set(LEDGER_ENOTFOUND, "schema directory \"%s\": no *%s files", dir,
		                     SCHEMA_SUFFIX);
		goto done;
	}
	/* sorted, so that loading does not depend on directory order */
	qsort(names, nnames, sizeof(*names), name_cmp);
	if (!(s = calloc(1, sizeof(*s)))) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < nnames; i++) {
		json_error_t jerr;
		char *path;
		json_t *root;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
			goto done;
		}
		root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		free(path);
		if (!root) {
			r = ledger_error_set(LEDGER_EINVALID, "schema file \"%s\": line %d: %s", names[i],
			                     jerr.line, jerr.text);
			goto done;
		}
		if ((r = add_doc(s, root, names[i], names[i])))
			goto done;
	}
	if ((r = schemas_index(s)))
		goto done;
	*out = s;
	s = NULL; /* transferred */
	r = 0;
done:
	if (d)
		closedir(d);
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	ledger_schemas_free(s);
	return r;
}

/* Lengths first: a record's type is looked up among every document for every record. */
static const struct schema_doc *find_doc(const struct ledger_schemas *s, const char *name)
{
	size_t i, len = strlen(name), suffix = strlen(SCHEMA_SUFFIX);

	for (i = 0; i < s->ndocs; i++) {
		const struct schema_doc *d = &s->docs[i];

		if (d->uri_len == len && !memcmp(d->uri, name, len))
			return d;
		if (d->name && ((d->name_len == len && !memcmp(d->name, name, len)) ||
		                (d->name_len == len + suffix && !memcmp(d->name, name, len) &&
		                 !memcmp(d->name + len, SCHEMA_SUFFIX, suffix))))
			return d;
	}
	return NULL;
}

int ledger_schemas_has(const ledger_schemas *schemas, const char *name)
{
	return schemas && name && find_doc(schemas, name) != NULL;
}

/* ------------------------------------------------------------------------ */
/*
 * Compiled schemas.  Every schema the validator can reach is digested once
 * when the set loads: its keywords fetched, "type" turned into a set of bits,
 * subschemas and $ref targets turned into pointers to their nodes, patterns
 * into their matchers.  A node stands for a schema evaluated with a given
 * base URI, which is all that evaluating it depends on, so validation walks
 * nodes exactly as it would walk the JSON, without lookups or URI work.  The
 * nodes are read-only once loaded: threads may share them.
 */

enum snode_kind { SN_OBJECT, SN_TRUE, SN_FALSE, SN_BAD };

enum {
	T_OBJECT = 1 << 0, T_ARRAY = 1 << 1, T_STRING = 1 << 2, T_INTEGER = 1 << 3,
	T_NUMBER = 1 << 4, T_BOOLEAN = 1 << 5, T_NULL = 1 << 6,
};

enum { L_ALL, L_ANY, L_ONE, L_COUNT };

struct snode_prop {
	const char *key;       /* borrowed from the schema tree; NULL: free slot */
	size_t len;
	struct snode *node;
};

struct snode_pp {
	const char *source;
	const struct schema_pattern *pat; /* NULL when not compiled: never matches */
	struct snode *node;
};

/* A keyword holding an array of schemas. */
struct snode_list {
	const json_t *json;    /* the keyword's value, NULL when absent */
	struct snode **v;      /* when it is an array */
	size_t n;
};

struct snode {
	const json_t *json;
	const char *base;      /* base URI, after the schema's own $id */
	enum snode_kind kind;
	/* keyword values as written, NULL when absent */
	const json_t *type, *enum_, *const_, *min_length, *max_length, *pattern, *multiple_of;
	const json_t *num[4];  /* minimum, maximum, exclusiveMinimum, exclusiveMaximum */
	const json_t *required, *min_props, *max_props, *min_items, *max_items, *unique, *ref;
	unsigned types;        /* T_* that "type" allows */
	const struct schema_pattern *pat;
	bool object_bad;       /* properties, patternProperties or required malformed */
	struct snode_prop *props; /* hash table of "properties", nprops slots (a power of 2) */
	size_t nprops;
	struct snode_pp *pp;
	size_t npp;
	struct snode *additional, *names, *items, *ref_node; /* ref_node NULL: unresolved */
	struct snode *not_, *if_, *then_, *else_;
	struct snode_list prefix, logic[L_COUNT];
};

static const char *const number_limits[] = {
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"
};
static const char *const logic_keywords[] = { "allOf", "anyOf", "oneOf" };

static void snode_free(struct snode *n)
{
	size_t k;

	if (!n)
		return;
	free(n->props);
	free(n->pp);
	free(n->prefix.v);
	for (k = 0; k < L_COUNT; k++)
		free(n->logic[k].v);
	free(n);
}

/* FNV-1a */
static size_t hash_bytes(const char *s, size_t len)
{
	size_t h = (size_t)14695981039346656037ULL, i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * (size_t)1099511628211ULL;
	return h;
}

static size_t hash_ptr(const void *p)
{
	return (size_t)(((uintptr_t)p >> 4) * (uintptr_t)0x9e3779b97f4a7c15ULL);
}

static unsigned type_bit(const char *t)
{
	static const struct {
		const char *name;
		unsigned bit;
	} types[] = {
		{ "object", T_OBJECT }, { "array", T_ARRAY }, { "string", T_STRING },
		{ "integer", T_INTEGER }, { "number", T_NUMBER }, { "boolean", T_BOOLEAN },
		{ "null", T_NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(t, types[i].name))
			return types[i].bit;
	return 0;
}

struct compiler {
	struct ledger_schemas *s;
	struct snode **todo;   /* nodes created, not yet filled */
	size_t ntodo, cap;
};

static int nodes_grow(struct ledger_schemas *s)
{
	size_t cap = s->nodes_cap ? s->nodes_cap * 2 : 256, i, j;
	struct snode **t = calloc(cap, sizeof(*t));

	if (!t)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	for (i = 0; i < s->nodes_cap; i++) {
		if (!s->nodes[i])
			continue;
		for (j = hash_ptr(s->nodes[i]->json) & (cap - 1); t[j]; j = (j + 1) & (cap - 1))
			;
		t[j] = s->nodes[i];
	}
	free(s->nodes);
	s->nodes = t;
	s->nodes_cap = cap;
	return 0;
}

/* The node of `json` evaluated with base URI `base`, created when new. */
static int node_get(struct compiler *cc, const json_t *json, const char *base, struct snode **out)
{
	struct ledger_schemas *s = cc->s;
	struct snode *n, **nt;
	const char *b;
	size_t i, mask;
	int r;

	/* as evaluation does: a schema's own $id sets the base, when it was indexed */
	if (json_is_object(json) && json_object_get(json, "$id") && (b = resource_base(s, json)))
		base = b;
	if ((s->nnodes + 1) * 2 > s->nodes_cap && (r = nodes_grow(s)))
		return r;
	mask = s->nodes_cap - 1;
	for (i = hash_ptr(json) & mask; (n = s->nodes[i]); i = (i + 1) & mask) {
		if (n->json == json && !strcmp(n->base, base)) {
			*out = n;
			return 0;
		}
	}
	if (cc->ntodo == cc->cap) {
		size_t cap = cc->cap ? cc->cap * 2 : 64;

		if (!(nt = realloc(cc->todo, cap * sizeof(*nt))))
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		cc->todo = nt;
		cc->cap = cap;
	}
	if (!(n = calloc(1, sizeof(*n))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	n->json = json;
	n->base = base;
	n->kind = json_is_object(json) ? SN_OBJECT : json_is_true(json) ? SN_TRUE :
	          json_is_false(json) ? SN_FALSE : SN_BAD;
	s->nodes[i] = n;
	s->nnodes++;
	if (n->kind == SN_OBJECT)
		cc->todo[cc->ntodo++] = n;
	*out = n;
	return 0;
}

/* The subschema under keyword `kw` of n, or NULL when absent. */
static int node_sub(struct compiler *cc, struct snode *n, const char *kw, struct snode **out)
{
	const json_t *v = json_object_get(n->json, kw);

	*out = NULL;
	return v ? node_get(cc, v, n->base, out) : 0;
}

static int node_list(struct compiler *cc, struct snode *n, const char *kw, struct snode_list *l)
{
	size_t i;
	int r;

	l->json = json_object_get(n->json, kw);
	if (!json_is_array(l->json) || !json_array_size(l->json))
		return 0;
	if (!(l->v = calloc(json_array_size(l->json), sizeof(*l->v))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	for (i = 0; i < json_array_size(l->json); i++)
		if ((r = node_get(cc, json_array_get(l->json, i), n->base, &l->v[l->n++])))
			return r;
	return 0;
}

static int node_props(struct compiler *cc, struct snode *n, const json_t *props)
{
	const char *key;
	size_t len, i;
	json_t *v;
	int r;

	if (!json_object_size(props))
		return 0;
	for (n->nprops = 4; n->nprops < 2 * json_object_size(props); n->nprops *= 2)
		;
	if (!(n->props = calloc(n->nprops, sizeof(*n->props))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	json_object_keylen_foreach((json_t *)props, key, len, v) {
		for (i = hash_bytes(key, len) & (n->nprops - 1); n->props[i].key;
		     i = (i + 1) & (n->nprops - 1))
			;
		n->props[i].key = key;
		n->props[i].len = len;
		if ((r = node_get(cc, v, n->base, &n->props[i].node)))
			return r;
	}
	return 0;
}

static int node_fill(struct compiler *cc, struct snode *n)
{
	const json_t *o = n->json, *pp, *v;
	const char *key;
	const json_t *tgt;
	const char *tbase;
	size_t i;
	int r;

	n->type = json_object_get(o, "type");
	if (json_is_string(n->type))
		n->types = type_bit(json_string_value(n->type));
	for (i = 0; i < json_array_size(n->type); i++)
		if (json_is_string(json_array_get(n->type, i)))
			n->types |= type_bit(json_string_value(json_array_get(n->type, i)));
	n->enum_ = json_object_get(o, "enum");
	n->const_ = json_object_get(o, "const");
	n->min_length = json_object_get(o, "minLength");
	n->max_length = json_object_get(o, "maxLength");
	n->pattern = json_object_get(o, "pattern");
	if (json_is_string(n->pattern))
		n->pat = find_pattern(cc->s, json_string_value(n->pattern));
	for (i = 0; i < 4; i++)
		n->num[i] = json_object_get(o, number_limits[i]);
	n->multiple_of = json_object_get(o, "multipleOf");

	v = json_object_get(o, "properties");
	pp = json_object_get(o, "patternProperties");
	n->required = json_object_get(o, "required");
	n->object_bad = (v && !json_is_object(v)) || (pp && !json_is_object(pp)) ||
	                (n->required && !json_is_array(n->required));
	if ((r = node_props(cc, n, v)))
		return r;
	if (json_object_size(pp)) {
		json_t *sub;

		if (!(n->pp = calloc(json_object_size(pp), sizeof(*n->pp))))
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		json_object_foreach((json_t *)pp, key, sub) {
			struct snode_pp *e = &n->pp[n->npp++];

			e->source = key;
			e->pat = find_pattern(cc->s, key);
			if ((r = node_get(cc, sub, n->base, &e->node)))
				return r;
		}
	}
	n->min_props = json_object_get(o, "minProperties");
	n->max_props = json_object_get(o, "maxProperties");
	if ((r = node_sub(cc, n, "additionalProperties", &n->additional)) ||
	    (r = node_sub(cc, n, "propertyNames", &n->names)))
		return r;

	n->min_items = json_object_get(o, "minItems");
	n->max_items = json_object_get(o, "maxItems");
	n->unique = json_object_get(o, "uniqueItems");
	if ((r = node_list(cc, n, "prefixItems", &n->prefix)) ||
	    (r = node_sub(cc, n, "items", &n->items)))
		return r;

	n->ref = json_object_get(o, "$ref");
	if (json_is_string(n->ref)) {
		r = resolve_ref(cc->s, n->base, json_string_value(n->ref), &tgt, &tbase);
		if (r < 0)
			return r;
		/* unresolved (only where loading does not look): an error when evaluated */
		if (r == 0 && (r = node_get(cc, tgt, tbase, &n->ref_node)))
			return r;
	}
	for (i = 0; i < L_COUNT; i++)
		if ((r = node_list(cc, n, logic_keywords[i], &n->logic[i])))
			return r;
	if ((r = node_sub(cc, n, "not", &n->not_)) || (r = node_sub(cc, n, "if", &n->if_)) ||
	    (r = node_sub(cc, n, "then", &n->then_)) || (r = node_sub(cc, n, "else", &n->else_)))
		return r;
	return 0;
}

/* A node for every document, and for everything they reach. */
static int schemas_compile(struct ledger_schemas *s)
{
	struct compiler cc = { .s = s };
	size_t i;
	int r = 0;

	for (i = 0; i < s->ndocs && !r; i++)
		r = node_get(&cc, s->docs[i].root, s->docs[i].uri, &s->docs[i].node);
	while (!r && cc.ntodo)
		r = node_fill(&cc, cc.todo[--cc.ntodo]);
	free(cc.todo);
	return r;
}

static const struct snode *prop_find(const struct snode *n, const char *key)
{
	size_t len = strlen(key), i;

	for (i = hash_bytes(key, len) & (n->nprops - 1); n->props[i].key;
	     i = (i + 1) & (n->nprops - 1))
		if (n->props[i].len == len && !memcmp(n->props[i].key, key, len))
			return n->props[i].node;
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Validation */

enum { V_OK = 0, V_INVALID = 1, V_FATAL = -1 };

struct verr {
	size_t depth;          /* length of the instance pointer the error names */
	char text[SCHEMA_MSG_MAX];
};

struct vctx {
	const struct ledger_schemas *s;
	int depth;
	/*
	 * A first pass only decides: no messages and no instance pointer, as
	 * the branches of "if", "not" and "anyOf" fail on valid records too.
	 * Which error a pass reports never changes its outcome.
	 */
	bool quiet;
	size_t plen;
	char ptr[SCHEMA_PTR_MAX];
};

static int verr_set(struct vctx *c, struct verr *e, int kind, const char *kw, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int verr_set(struct vctx *c, struct verr *e, int kind, const char *kw, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->quiet) {
		e->depth = 0;
		e->text[0] = '\0';
		return kind;
	}
	n = snprintf(e->text, sizeof(e->text), "%s: %s: ", c->plen ? c->ptr : "(root)", kw);
	if (n > 0 && (size_t)n < sizeof(e->text)) {
		va_start(ap, fmt);
		vsnprintf(e->text + n, sizeof(e->text) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	e->depth = c->plen;
	return kind;
}

/* Append "/<token>" (escaped) to the instance pointer; returns the old length. */
static size_t path_push(struct vctx *c, const char *tok)
{
	size_t old = c->plen, n = c->plen;

	if (c->quiet)
		return old;
	if (n + 1 < sizeof(c->ptr))
		c->ptr[n++] = '/';
	for (; *tok && n + 2 < sizeof(c->ptr); tok++) {
		if (*tok == '~' || *tok == '/') {
			c->ptr[n++] = '~';
			c->ptr[n++] = *tok == '~' ? '0' : '1';
		} else {
			c->ptr[n++] = *tok;
		}
	}
	c->ptr[n] = '\0';
	c->plen = n;
	return old;
}

static size_t path_push_index(struct vctx *c, size_t i)
{
	char tok[32], *p = tok + sizeof(tok) - 1;

	if (c->quiet)
		return c->plen;
	/* decimal digits by hand: this runs for every item of every array */
	*p = '\0';
	do
		*--p = (char)('0' + i % 10);
	while ((i /= 10));
	return path_push(c, p);
}

static void path_pop(struct vctx *c, size_t old)
{
	c->plen = old;
	c->ptr[old] = '\0';
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static bool is_integral(const json_t *v)
{
	double d;

	if (json_is_integer(v))
		return true;
	if (!json_is_real(v))
		return false;
	d = json_real_value(v);
	return isfinite(d) && floor(d) == d;
}

/* The T_* types `v` belongs to ("integer" includes 1.0). */
static unsigned instance_types(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return T_OBJECT;
	case JSON_ARRAY: return T_ARRAY;
	case JSON_STRING: return T_STRING;
	case JSON_INTEGER: return T_INTEGER | T_NUMBER;
	case JSON_REAL: return T_NUMBER | (is_integral(v) ? T_INTEGER : 0);
	case JSON_TRUE:
	case JSON_FALSE: return T_BOOLEAN;
	default: return T_NULL;
	}
}

/* -1, 0, 1 like strcmp, for two numbers. */
static int num_cmp(const json_t *a, const json_t *b)
{
	double x, y;

	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t i = json_integer_value(a), j = json_integer_value(b);

		return i < j ? -1 : i > j;
	}
	x = json_number_value(a);
	y = json_number_value(b);
	return x < y ? -1 : x > y;
}

/* JSON equality as the spec defines it: 1 equals 1.0, members in any order. */
static bool json_same(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_number(a) && json_is_number(b))
		return num_cmp(a, b) == 0;
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       !memcmp(json_string_value(a), json_string_value(b), json_string_length(a));
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (i = 0; i < json_array_size(a); i++)
			if (!json_same(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, key, v) {
			const json_t *w = json_object_get(b, key);

			if (!w || !json_same(v, w))
				return false;
		}
		return true;
	default:
		return true; /* true, false, null */
	}
}

/*
 * Unicode code points in a UTF-8 string (jansson guarantees valid UTF-8):
 * the bytes that are not continuation bytes (10xxxxxx), eight at a time.
 */
static size_t utf8_length(const char *s, size_t len)
{
	const uint64_t high = 0x8080808080808080ULL;
	size_t i = 0, n = len;
	uint64_t w;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, sizeof(w));
		/* 1 in each byte whose bit 7 is set and bit 6 (shifted there) clear, summed */
		w = (w & ~(w << 1) & high) >> 7;
		n -= (size_t)((w * 0x0101010101010101ULL) >> 56);
	}
	for (; i < len; i++)
		n -= ((unsigned char)s[i] & 0xc0) == 0x80;
	return n;
}

static bool pattern_matches(const struct vctx *c, const struct schema_pattern *pat,
                            const char *str, size_t len)
{
	regmatch_t m[1];
	locale_t saved = (locale_t)0;
	int rc;

	if (pat->fast)
		return pat->fast(str, len);
	m[0].rm_so = 0;
	m[0].rm_eo = (regoff_t)len;
	if (c->s->utf8)
		saved = uselocale(c->s->utf8);
	/* REG_STARTEND: the string may hold U+0000 */
	rc = regexec(&pat->re, str, 1, m, REG_STARTEND);
	if (c->s->utf8)
		uselocale(saved);
	return rc == 0;
}

/* A non-negative integer keyword value; 1 when present, 0 when absent, -1 when malformed. */
static int get_count(const json_t *v, size_t *out)
{
	if (!v)
		return 0;
	if (!is_integral(v) || json_number_value(v) < 0)
		return -1;
	if (json_number_value(v) >= (double)SIZE_MAX)
		*out = SIZE_MAX;
	else
		*out = json_is_integer(v) ? (size_t)json_integer_value(v) : (size_t)json_real_value(v);
	return 1;
}

static int validate(struct vctx *c, const struct snode *n, const json_t *inst, struct verr *e);

static int check_count(struct vctx *c, const json_t *v, const char *kw, size_t have, bool is_min,
                       const char *what, struct verr *e)
{
	size_t lim;
	int g = get_count(v, &lim);

	if (g < 0)
		return verr_set(c, e, V_FATAL, kw, "schema value is not a non-negative integer");
	if (g == 0)
		return V_OK;
	if (is_min && have < lim)
		return verr_set(c, e, V_INVALID, kw, "%zu %s, at least %zu required", have, what, lim);
	if (!is_min && have > lim)
		return verr_set(c, e, V_INVALID, kw, "%zu %s, at most %zu allowed", have, what, lim);
	return V_OK;
}

static int check_type(struct vctx *c, const struct snode *n, const json_t *inst, struct verr *e)
{
	if (!n->type || (n->types & instance_types(inst)))
		return V_OK;
	if (json_is_string(n->type))
		return verr_set(c, e, V_INVALID, "type", "expected %s, got %s",
		                json_string_value(n->type), type_name(inst));
	if (!json_is_array(n->type))
		return verr_set(c, e, V_FATAL, "type", "schema value is not a string or array");
	return verr_set(c, e, V_INVALID, "type", "%s is not one of the allowed types",
	                type_name(inst));
}

/* json_same(v, inst) for a string inst, whose bytes the caller fetched once. */
static bool same_string(const json_t *v, const char *s, size_t len)
{
	return json_is_string(v) && json_string_length(v) == len &&
	       !memcmp(json_string_value(v), s, len);
}

/* json_same(v, inst), the string case (most enums and consts) without its calls a value. */
static bool same_value(const json_t *v, const json_t *inst, const char *s, size_t len)
{
	return s ? same_string(v, s, len) : json_same(v, inst);
}

static int check_enum_const(struct vctx *c, const struct snode *n, const json_t *inst,
                            struct verr *e)
{
	const json_t *v = n->enum_;
	const char *s = NULL;
	size_t i, len = 0, size;

	if (!v && !n->const_)
		return V_OK;
	if (json_is_string(inst)) {
		s = json_string_value(inst);
		len = json_string_length(inst);
	}
	if (v) {
		if (!json_is_array(v))
			return verr_set(c, e, V_FATAL, "enum", "schema value is not an array");
		size = json_array_size(v);
		for (i = 0; i < size; i++)
			if (same_value(json_array_get(v, i), inst, s, len))
				break;
		if (i == size)
			return verr_set(c, e, V_INVALID, "enum", "value not allowed");
	}
	v = n->const_;
	if (v && !same_value(v, inst, s, len)) {
		if (json_is_string(v))
			return verr_set(c, e, V_INVALID, "const", "expected \"%s\"", json_string_value(v));
		if (json_is_integer(v))
			return verr_set(c, e, V_INVALID, "const", "expected %" JSON_INTEGER_FORMAT,
			                json_integer_value(v));
		if (json_is_boolean(v))
			return verr_set(c, e, V_INVALID, "const", "expected %s",
			                json_is_true(v) ? "true" : "false");
		return verr_set(c, e, V_INVALID, "const", "value differs from the constant");
	}
	return V_OK;
}

static int check_string(struct vctx *c, const struct snode *n, const json_t *inst, struct verr *e)
{
	const json_t *p = n->pattern;
	int r;

	if (n->min_length || n->max_length) {
		size_t len = utf8_length(json_string_value(inst), json_string_length(inst));

		if ((r = check_count(c, n->min_length, "minLength", len, true, "characters", e)) ||
		    (r = check_count(c, n->max_length, "maxLength", len, false, "characters", e)))
			return r;
	}
	if (!p)
		return V_OK;
	if (!json_is_string(p))
		return verr_set(c, e, V_FATAL, "pattern", "schema value is not a string");
	if (!n->pat)
		return verr_set(c, e, V_FATAL, "pattern", "\"%s\" was not compiled",
		                json_string_value(p));
	if (!pattern_matches(c, n->pat, json_string_value(inst), json_string_length(inst)))
		return verr_set(c, e, V_INVALID, "pattern", "does not match \"%s\"",
		                json_string_value(p));
	return V_OK;
}

static int check_number(struct vctx *c, const struct snode *n, const json_t *inst, struct verr *e)
{
	static const struct {
		int bad1, bad2; /* num_cmp(inst, limit) results that fail */
		const char *what;
	} lim[] = {
		{ -1, -1, "less than" },
		{ 1, 1, "greater than" },
		{ -1, 0, "not greater than" },
		{ 1, 0, "not less than" },
	};
	const json_t *m = n->multiple_of;
	size_t i;

	for (i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		const json_t *v = n->num[i];
		int cmp;

		if (!v)
			continue;
		if (!json_is_number(v))
			return verr_set(c, e, V_FATAL, number_limits[i], "schema value is not a number");
		cmp = num_cmp(inst, v);
		if (cmp == lim[i].bad1 || cmp == lim[i].bad2)
			return verr_set(c, e, V_INVALID, number_limits[i], "value is %s %g", lim[i].what,
			                json_number_value(v));
	}
	if (m) {
		bool ok;

		if (!json_is_number(m) || json_number_value(m) <= 0)
			return verr_set(c, e, V_FATAL, "multipleOf", "schema value is not a positive number");
		if (json_is_integer(m) && json_is_integer(inst)) {
			ok = json_integer_value(inst) % json_integer_value(m) == 0;
		} else {
			double q = json_number_value(inst) / json_number_value(m);

			ok = isfinite(q) && floor(q) == q;
		}
		if (!ok)
			return verr_set(c, e, V_INVALID, "multipleOf", "value is not a multiple of %g",
			                json_number_value(m));
	}
	return V_OK;
}

static int check_object(struct vctx *c, const struct snode *n, const json_t *inst,
                        struct verr *e)
{
	const struct snode *sub;
	const char *key;
	json_t *v;
	void *it;
	size_t i, old;
	int r;

	if (n->object_bad)
		return verr_set(c, e, V_FATAL, "properties", "malformed schema keyword");
	for (i = 0; i < json_array_size(n->required); i++) {
		const json_t *name = json_array_get(n->required, i);

		if (!json_is_string(name))
			return verr_set(c, e, V_FATAL, "required", "schema value holds a non-string");
		if (!json_object_get(inst, json_string_value(name)))
			return verr_set(c, e, V_INVALID, "required", "missing member \"%s\"",
			                json_string_value(name));
	}
	if ((r = check_count(c, n->min_props, "minProperties", json_object_size(inst), true,
	                     "members", e)) ||
	    (r = check_count(c, n->max_props, "maxProperties", json_object_size(inst), false,
	                     "members", e)))
		return r;
	if (n->names) {
		json_object_foreach((json_t *)inst, key, v) {
			json_t *name = json_string(key);

			if (!name)
				return verr_set(c, e, V_FATAL, "propertyNames", "out of memory");
			old = path_push(c, key);
			r = validate(c, n->names, name, e);
			path_pop(c, old);
			json_decref(name);
			if (r)
				return r;
		}
	}
	/* json_object_foreach, without its two key-to-iterator calls a member: this runs a lot */
	for (it = json_object_iter((json_t *)inst); it; it = json_object_iter_next((json_t *)inst, it)) {
		bool known = false;

		key = json_object_iter_key(it);
		v = json_object_iter_value(it);
		old = path_push(c, key);
		if (n->nprops && (sub = prop_find(n, key))) {
			known = true;
			if ((r = validate(c, sub, v, e)))
				goto out;
		}
		for (i = 0; i < n->npp; i++) {
			if (!n->pp[i].pat || !pattern_matches(c, n->pp[i].pat, key, strlen(key)))
				continue;
			known = true;
			if ((r = validate(c, n->pp[i].node, v, e)))
				goto out;
		}
		if (!known && n->additional) {
			if (json_is_false(n->additional->json))
				r = verr_set(c, e, V_INVALID, "additionalProperties", "member not allowed");
			else
				r = validate(c, n->additional, v, e);
		}
out:
		path_pop(c, old);
		if (r)
			return r;
	}
	return V_OK;
}

static int check_array(struct vctx *c, const struct snode *n, const json_t *inst,
                       struct verr *e)
{
	size_t len = json_array_size(inst), i, j, old;
	int r;

	if ((r = check_count(c, n->min_items, "minItems", len, true, "items", e)) ||
	    (r = check_count(c, n->max_items, "maxItems", len, false, "items", e)))
		return r;
	if (json_is_true(n->unique)) {
		for (i = 0; i < len; i++)
			for (j = i + 1; j < len; j++)
				if (json_same(json_array_get(inst, i), json_array_get(inst, j)))
					return verr_set(c, e, V_INVALID, "uniqueItems",
					                "items %zu and %zu are equal", i, j);
	}
	if (n->prefix.json && !json_is_array(n->prefix.json))
		return verr_set(c, e, V_FATAL, "prefixItems", "schema value is not an array");
	for (i = 0; i < len; i++) {
		const struct snode *sub = i < n->prefix.n ? n->prefix.v[i] : n->items;

		if (!sub)
			continue;
		old = path_push_index(c, i);
		/* the JSON "false" is one value: a prefixItems false is also "items" false */
		if (n->items && sub->json == n->items->json && json_is_false(sub->json))
			r = verr_set(c, e, V_INVALID, "items", "no item allowed here");
		else
			r = validate(c, sub, json_array_get(inst, i), e);
		path_pop(c, old);
		if (r)
			return r;
	}
	return V_OK;
}

/* anyOf/oneOf found no match: report the deepest branch error, else the keyword. */
static int no_alternative(struct vctx *c, const char *kw, const struct verr *best, struct verr *e)
{
	if (best->depth > c->plen) {
		*e = *best;
		return V_INVALID;
	}
	return verr_set(c, e, V_INVALID, kw, "value matches none of the alternatives");
}

/* "not" matched; {"not": {"required": [x]}} (x forbidden) gets a message of its own. */
static int not_matched(struct vctx *c, const json_t *sub, struct verr *e)
{
	const json_t *req = json_object_get(sub, "required");

	if (json_object_size(sub) == 1 && json_array_size(req) == 1 &&
	    json_is_string(json_array_get(req, 0)))
		return verr_set(c, e, V_INVALID, "not", "member \"%s\" not allowed here",
		                json_string_value(json_array_get(req, 0)));
	return verr_set(c, e, V_INVALID, "not", "value matches a forbidden schema");
}

static int check_logic(struct vctx *c, const struct snode *n, const json_t *inst,
                       struct verr *e)
{
	const struct snode *sub;
	struct verr best, tmp;
	size_t k, i, first = 0;
	int r;

	for (k = 0; k < L_COUNT; k++) {
		const struct snode_list *l = &n->logic[k];
		size_t matched = 0;

		if (!l->json)
			continue;
		if (!l->n)
			return verr_set(c, e, V_FATAL, logic_keywords[k],
			                "schema value is not a non-empty array");
		best.depth = 0;
		best.text[0] = '\0';
		for (i = 0; i < l->n; i++) {
			r = validate(c, l->v[i], inst, k == L_ALL ? e : &tmp);
			if (r == V_FATAL) {
				if (k != L_ALL)
					*e = tmp;
				return r;
			}
			if (r == V_INVALID) {
				if (k == L_ALL)
					return r;
				if (!best.text[0] || tmp.depth > best.depth)
					best = tmp;
				continue;
			}
			if (k == L_ANY)
				break;
			if (k == L_ONE && matched++)
				return verr_set(c, e, V_INVALID, "oneOf",
				                "value matches alternatives %zu and %zu", first, i);
			first = i;
		}
		if (k == L_ANY && i == l->n)
			return no_alternative(c, "anyOf", &best, e);
		if (k == L_ONE && !matched)
			return no_alternative(c, "oneOf", &best, e);
	}
	if (n->not_) {
		r = validate(c, n->not_, inst, &tmp);
		if (r == V_FATAL) {
			*e = tmp;
			return r;
		}
		if (r == V_OK)
			return not_matched(c, n->not_->json, e);
	}
	if (n->if_) {
		r = validate(c, n->if_, inst, &tmp);
		if (r == V_FATAL) {
			*e = tmp;
			return r;
		}
		sub = r == V_OK ? n->then_ : n->else_;
		if (sub && (r = validate(c, sub, inst, e)))
			return r;
	}
	return V_OK;
}

static int validate(struct vctx *c, const struct snode *n, const json_t *inst, struct verr *e)
{
	int r;

	switch (n->kind) {
	case SN_TRUE:
		return V_OK;
	case SN_FALSE:
		return verr_set(c, e, V_INVALID, "false", "no value is allowed here");
	case SN_BAD:
		return verr_set(c, e, V_FATAL, "schema", "not an object or boolean");
	case SN_OBJECT:
		break;
	}
	if (c->depth >= SCHEMA_MAX_DEPTH)
		return verr_set(c, e, V_FATAL, "$ref", "schemas nested too deeply (a reference loop?)");
	c->depth++;
	if ((r = check_type(c, n, inst, e)) || (r = check_enum_const(c, n, inst, e)))
		goto done;
	if (json_is_string(inst))
		r = check_string(c, n, inst, e);
	else if (json_is_number(inst))
		r = check_number(c, n, inst, e);
	else if (json_is_object(inst))
		r = check_object(c, n, inst, e);
	else if (json_is_array(inst))
		r = check_array(c, n, inst, e);
	if (r)
		goto done;
	if (n->ref) {
		if (!json_is_string(n->ref)) {
			r = verr_set(c, e, V_FATAL, "$ref", "schema value is not a string");
			goto done;
		}
		if (!n->ref_node) {
			r = verr_set(c, e, V_FATAL, "$ref", "\"%s\" cannot be resolved",
			             json_string_value(n->ref));
			goto done;
		}
		if ((r = validate(c, n->ref_node, inst, e)))
			goto done;
	}
	r = check_logic(c, n, inst, e);
done:
	c->depth--;
	return r;
}

static int run(const struct ledger_schemas *s, const struct snode *schema, const json_t *instance)
{
	struct vctx c;
	struct verr e;
	int r;

	c.s = s;
	c.depth = 0;
	c.quiet = true;
	c.plen = 0;
	c.ptr[0] = '\0';
	if ((r = validate(&c, schema, instance, &e)) == V_OK)
		return 0;
	/* Invalid (rare): the same pass again, with its messages. */
	c.depth = 0;
	c.quiet = false;
	r = validate(&c, schema, instance, &e);
	return r == V_OK ? 0 : ledger_error_set(LEDGER_EINVALID, "%s", e.text);
}

int ledger_schemas_validate(const ledger_schemas *schemas, const char *name,
                            const json_t *instance)
{
	const struct schema_doc *d;

	if (!schemas || !name || !instance)
		return ledger_error_set(LEDGER_EINVALID, "schema validation: missing argument");
	if (!(d = find_doc(schemas, name)))
		return ledger_error_set(LEDGER_ENOTFOUND, "schema \"%s\": not found", name);
	return run(schemas, d->node, instance);
}

int ledger_schema_validate_document(const json_t *schema, const json_t *instance)
{
	struct ledger_schemas s = { 0 };
	int r;

	if (!schema || !instance)
		return ledger_error_set(LEDGER_EINVALID, "schema validation: missing argument");
	/* the registry holds a reference; the caller's tree is never modified */
	if ((r = add_doc(&s, json_incref((json_t *)schema), NULL, "")) ||
	    (r = schemas_index(&s)))
		goto done;
	r = run(&s, s.docs[0].node, instance);
done:
	schemas_clear(&s);
	return r;
}
