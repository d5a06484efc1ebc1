/*
 * RFC 8785 JSON Canonicalization Scheme over jansson trees.  Written here
 * rather than with json_dumps(): jansson neither sorts by UTF-16 code units
 * nor formats numbers the ECMAScript way, and a record id depends on every
 * byte of this output.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/error.h"
#include "ledger/json.h"
#include "utf8.h"

/* Bounds the recursion; jansson's parser stops at 2048, so only a built tree (or a cycle) gets here. */
#define JCS_MAX_DEPTH 4096

/* Objects with at most this many members are sorted without a heap allocation. */
#define JCS_SMALL_OBJECT 16

struct jcs_buf {
	char *data;
	size_t len;
	size_t cap;
};

struct jcs_member {
	const char *key;
	size_t key_len;
	json_t *value;
};

/* Make room for `more` bytes plus the final NUL. */
static int jcs_reserve(struct jcs_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	char *data;

	if (more >= SIZE_MAX / 2 - b->len)
		return ledger_error_set(LEDGER_ENOMEM, "canonical json too large");
	if (b->len + more < b->cap)
		return 0;
	while (cap <= b->len + more)
		cap *= 2;
	if (!(data = realloc(b->data, cap)))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory in canonical json");
	b->data = data;
	b->cap = cap;
	return 0;
}

static int jcs_put(struct jcs_buf *b, const char *s, size_t n)
{
	int r;

	if ((r = jcs_reserve(b, n)) < 0)
		return r;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	return 0;
}

static int jcs_putc(struct jcs_buf *b, char c)
{
	int r;

	if (b->len + 1 >= b->cap && (r = jcs_reserve(b, 1)) < 0)
		return r;
	b->data[b->len++] = c;
	return 0;
}

/*
 * ECMAScript Number::toString(d) (ECMA-262 7.1.12.1), as RFC 8785 section
 * 3.2.2.3 requires: the shortest digits that read back as d, laid out as an
 * integer, a decimal fraction or d.ddde±n depending on the exponent.
 */
static int jcs_double(struct jcs_buf *b, double d)
{
	char sci[40], out[40], digits[20];
	int lo = 1, hi = 17, k = 0, n, exp10, i, r;
	size_t len = 0;
	const char *p;

	if (!isfinite(d))
		return ledger_error_set(LEDGER_EINVALID, "cannot canonicalise a NaN or infinite number");
	if (d == 0) /* also -0 */
		return jcs_putc(b, '0');
	if (d < 0) {
		if ((r = jcs_putc(b, '-')) < 0)
			return r;
		d = -d;
	}

	/*
	 * glibc's printf rounds correctly, so "%.*e" with p digits is the
	 * nearest p-digit decimal; if any p-digit decimal reads back as d,
	 * that one does.  Round-tripping is monotone in p: binary search.
	 */
	while (lo < hi) {
		int mid = (lo + hi) / 2;

		snprintf(sci, sizeof(sci), "%.*e", mid - 1, d);
		if (strtod(sci, NULL) == d)
			hi = mid;
		else
			lo = mid + 1;
	}
	snprintf(sci, sizeof(sci), "%.*e", lo - 1, d);

	/* sci is "D[.DDD]e±XX": collect the digits and the exponent. */
	for (p = sci; *p != 'e'; p++) {
		if (*p != '.')
			digits[k++] = *p;
	}
	/* Minimal, so no trailing zeros: dropping one would also round-trip. */
	exp10 = atoi(p + 1);
	n = exp10 + 1; /* the decimal point sits after n digits */

	if (k <= n && n <= 21) {
		memcpy(out, digits, k);
		len = k;
		for (i = k; i < n; i++)
			out[len++] = '0';
	} else if (0 < n && n <= 21) {
		memcpy(out, digits, n);
		out[n] = '.';
		memcpy(out + n + 1, digits + n, k - n);
		len = k + 1;
	} else if (-6 < n && n <= 0) {
		out[len++] = '0';
		out[len++] = '.';
		for (i = n; i < 0; i++)
			out[len++] = '0';
		memcpy(out + len, digits, k);
		len += k;
	} else {
		out[len++] = digits[0];
		if (k > 1) {
			out[len++] = '.';
			memcpy(out + len, digits + 1, k - 1);
			len += k - 1;
		}
		len += (size_t)snprintf(out + len, sizeof(out) - len, "e%c%d",
		                        n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	return jcs_put(b, out, len);
}

static int jcs_integer(struct jcs_buf *b, json_int_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	unsigned long long u;

	/* Beyond 2^53 a JSON number is the nearest double, as any RFC 8785 reader sees it. */
	if (v > LEDGER_JSON_MAX_SAFE_INT + 1 || v < -LEDGER_JSON_MAX_SAFE_INT - 1)
		return jcs_double(b, (double)v);
	u = v < 0 ? (unsigned long long)-v : (unsigned long long)v;
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	return jcs_put(b, tmp + i, sizeof(tmp) - i);
}

/* RFC 8785 3.2.2.2: escape only what JSON requires, the rest stays literal UTF-8. */
static int jcs_string(struct jcs_buf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run, ulen;
	int r;

	if ((r = jcs_reserve(b, n + 2)) < 0)
		return r;
	b->data[b->len++] = '"';
	while (i < n) {
		/* Copy runs of plain ASCII in one go. */
		for (run = i; run < n && s[run] >= 0x20 && s[run] < 0x80 &&
		     s[run] != '"' && s[run] != '\\'; run++)
			;
		if (run > i && (r = jcs_put(b, str + i, run - i)) < 0)
			return r;
		i = run;
		if (i == n)
			break;

		if (s[i] >= 0x80) {
			if (!(ulen = utf8_sequence_len(s + i, n - i)))
				return ledger_error_set(LEDGER_EINVALID,
				                        "string with invalid UTF-8 at byte %zu", i);
			if ((r = jcs_put(b, str + i, ulen)) < 0)
				return r;
			i += ulen;
			continue;
		}

		switch (s[i]) {
		case '"': r = jcs_put(b, "\\\"", 2); break;
		case '\\': r = jcs_put(b, "\\\\", 2); break;
		case '\b': r = jcs_put(b, "\\b", 2); break;
		case '\f': r = jcs_put(b, "\\f", 2); break;
		case '\n': r = jcs_put(b, "\\n", 2); break;
		case '\r': r = jcs_put(b, "\\r", 2); break;
		case '\t': r = jcs_put(b, "\\t", 2); break;
		default: {
			char esc[6] = { '\\', 'u', '0', '0', hex[s[i] >> 4], hex[s[i] & 0xf] };

			r = jcs_put(b, esc, sizeof(esc));
			break;
		}
		}
		if (r < 0)
			return r;
		i++;
	}
	return jcs_putc(b, '"');
}

/*
 * Lead bytes in UTF-16 code unit order.  UTF-8 bytes sort like code points;
 * UTF-16 differs only in putting U+E000..U+FFFF (lead bytes EE, EF) after
 * the astral planes, whose surrogates D800..DBFF come first.
 */
static int jcs_lead_rank(unsigned char c)
{
	return c == 0xee || c == 0xef ? c + 0x12 : c;
}

static int jcs_member_cmp(const void *pa, const void *pb)
{
	const struct jcs_member *ma = pa, *mb = pb;
	const unsigned char *a = (const unsigned char *)ma->key;
	const unsigned char *b = (const unsigned char *)mb->key;
	size_t n = ma->key_len < mb->key_len ? ma->key_len : mb->key_len;
	size_t i;

	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	if (i == n)
		return ma->key_len < mb->key_len ? -1 : ma->key_len > mb->key_len;
	/* Inside one character (same lead byte), byte order is code point order. */
	if ((a[i] & 0xc0) == 0x80 || (b[i] & 0xc0) == 0x80)
		return a[i] < b[i] ? -1 : 1;
	return jcs_lead_rank(a[i]) - jcs_lead_rank(b[i]);
}

static int jcs_value(struct jcs_buf *b, const json_t *v, int depth);

static int jcs_object(struct jcs_buf *b, const json_t *obj, int depth)
{
	struct jcs_member small[JCS_SMALL_OBJECT], *m = small;
	size_t n = json_object_size(obj), i = 0;
	void *it;
	int r;

	if (n > JCS_SMALL_OBJECT && !(m = calloc(n, sizeof(*m))))
		return ledger_error_set(LEDGER_ENOMEM, "out of memory in canonical json");
	/* jansson's iterators take a non-const object but do not modify it. */
	for (it = json_object_iter((json_t *)obj); it && i < n;
	     it = json_object_iter_next((json_t *)obj, it), i++) {
		m[i].key = json_object_iter_key(it);
		m[i].key_len = json_object_iter_key_len(it);
		m[i].value = json_object_iter_value(it);
	}
	n = i;
	qsort(m, n, sizeof(*m), jcs_member_cmp);

	if ((r = jcs_putc(b, '{')) < 0)
		goto done;
	for (i = 0; i < n; i++) {
		if ((i && (r = jcs_putc(b, ',')) < 0) ||
		    (r = jcs_string(b, m[i].key, m[i].key_len)) < 0 ||
		    (r = jcs_putc(b, ':')) < 0 ||
		    (r = jcs_value(b, m[i].value, depth + 1)) < 0)
			goto done;
	}
	r = jcs_putc(b, '}');
done:
	if (m != small)
		free(m);
	return r;
}

static int jcs_value(struct jcs_buf *b, const json_t *v, int depth)
{
	size_t i, n;
	int r;

	if (depth > JCS_MAX_DEPTH)
		return ledger_error_set(LEDGER_EINVALID, "json nested deeper than %d levels",
		                        JCS_MAX_DEPTH);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return jcs_object(b, v, depth);
	case JSON_ARRAY:
		if ((r = jcs_putc(b, '[')) < 0)
			return r;
		n = json_array_size(v);
		for (i = 0; i < n; i++) {
			if ((i && (r = jcs_putc(b, ',')) < 0) ||
			    (r = jcs_value(b, json_array_get(v, i), depth + 1)) < 0)
				return r;
		}
		return jcs_putc(b, ']');
	case JSON_STRING:
		return jcs_string(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return jcs_integer(b, json_integer_value(v));
	case JSON_REAL:
		return jcs_double(b, json_real_value(v));
	case JSON_TRUE:
		return jcs_put(b, "true", 4);
	case JSON_FALSE:
		return jcs_put(b, "false", 5);
	case JSON_NULL:
		return jcs_put(b, "null", 4);
	}
	return ledger_error_set(LEDGER_EINVALID, "unknown json value type");
}

int ledger_jcs(char **out, size_t *out_len, const json_t *value)
{
	struct jcs_buf b = { NULL, 0, 0 };
	int r;

	*out = NULL;
	if (out_len)
		*out_len = 0;
	if (!value)
		return ledger_error_set(LEDGER_EINVALID, "no json value to canonicalise");
	if ((r = jcs_value(&b, value, 1)) < 0 || (r = jcs_reserve(&b, 0)) < 0)
		goto done;
	b.data[b.len] = '\0';
	*out = b.data;
	if (out_len)
		*out_len = b.len;
	b.data = NULL; /* transferred */
	r = 0;
done:
	free(b.data);
	return r;
}
