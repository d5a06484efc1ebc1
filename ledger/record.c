/*
 * Records and their files (FORMAT.md sections 1 and 2): the common members,
 * the id, the signature and the canonical envelope.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "ledger/json.h"
#include "ledger/record.h"
#include "hex.h"
#include "utf8.h"

/* The canonical envelope is `{"record":` JCS(R) `,"sig":"` base64 `"}`: members sort "record" < "sig". */
#define ENVELOPE_HEAD "{\"record\":"
#define ENVELOPE_SIG ",\"sig\":\""
#define ENVELOPE_TAIL "\"}"
#define SIG_BASE64_LEN 88 /* 64 bytes, padded */

/* strnlen, not strlen: a longer string is not read past its 65th byte. */
static int is_hex_id(const char *s)
{
	return s && strnlen(s, LEDGER_HEX_ID_LEN + 1) == LEDGER_HEX_ID_LEN &&
	       hex_lower_run(s, LEDGER_HEX_ID_LEN);
}

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ^[a-z][a-z0-9-]{1,31}$ */
static int is_agency_name(const char *s, size_t n)
{
	if (n < 2 || n > 32 || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* <agency>/<name>, name ^[a-z][a-z0-9._-]{0,63}$ */
static int is_principal_name(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t n;

	if (!slash || !is_agency_name(s, (size_t)(slash - s)))
		return 0;
	s = slash + 1;
	n = strlen(s);
	if (n < 1 || n > 64 || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* Record type names: ^[a-z][a-z_]{0,31}$ (the set itself is the schemas' business). */
static int is_type_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32 || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && s[i] != '_')
			return 0;
	return 1;
}

#define INVALID(...) ledger_error_set(LEDGER_EINVALID, __VA_ARGS__)

/* The members FORMAT.md section 1 names. */
enum record_member {
	M_AGENCY, M_AUTHOR, M_BODY, M_CLASS, M_INCIDENT, M_KID, M_PREV, M_REFS, M_SEQ, M_SEALED,
	M_TIME, M_TYPE, M_V, M_COUNT
};

/* Which member key names (as a C string), or -1: one or two comparisons, not thirteen. */
static int record_member_of(const char *key)
{
	switch (key[0]) {
	case 'a': return !strcmp(key, "agency") ? M_AGENCY : !strcmp(key, "author") ? M_AUTHOR : -1;
	case 'b': return !strcmp(key, "body") ? M_BODY : -1;
	case 'c': return !strcmp(key, "class") ? M_CLASS : -1;
	case 'i': return !strcmp(key, "incident") ? M_INCIDENT : -1;
	case 'k': return !strcmp(key, "kid") ? M_KID : -1;
	case 'p': return !strcmp(key, "prev") ? M_PREV : -1;
	case 'r': return !strcmp(key, "refs") ? M_REFS : -1;
	case 's': return !strcmp(key, "seq") ? M_SEQ : !strcmp(key, "sealed") ? M_SEALED : -1;
	case 't': return !strcmp(key, "type") ? M_TYPE : !strcmp(key, "time") ? M_TIME : -1;
	case 'v': return !strcmp(key, "v") ? M_V : -1;
	default: return -1;
	}
}

/* Check R's common members (FORMAT.md section 1) and fill the borrowed views of rec. */
static int record_check_common(ledger_record *rec)
{
	json_t *r = rec->record, *m[M_COUNT] = { NULL }, *v, *seq, *prev, *value;
	const char *key, *last = NULL;
	size_t agency_len, i;
	int member;

	if (!json_is_object(r))
		return INVALID("\"record\" is not an object");
	/*
	 * One pass over the members finds each, instead of a hash lookup of
	 * every name.  No name holds a U+0000: jansson refuses it in a key.
	 */
	json_object_foreach(r, key, value) {
		if ((member = record_member_of(key)) < 0)
			return INVALID("unknown record member \"%s\"", key);
		/* U+0000 would cut the C string the checks below see: no member pattern allows it. */
		if (json_is_string(value) &&
		    strlen(json_string_value(value)) != json_string_length(value))
			return INVALID("member \"%s\" contains U+0000", key);
		m[member] = value;
	}
	v = m[M_V];
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return INVALID("member \"v\" must be 1");
	rec->type = json_string_value(m[M_TYPE]);
	if (!rec->type || !is_type_name(rec->type))
		return INVALID("member \"type\" is missing or not a type name");
	rec->agency = json_string_value(m[M_AGENCY]);
	if (!rec->agency || !is_agency_name(rec->agency, strlen(rec->agency)))
		return INVALID("member \"agency\" is missing or not of the form ^[a-z][a-z0-9-]{1,31}$");
	rec->author = json_string_value(m[M_AUTHOR]);
	if (!rec->author || !is_principal_name(rec->author))
		return INVALID("member \"author\" is missing or not of the form <agency>/<name>");
	agency_len = strlen(rec->agency);
	if (strncmp(rec->author, rec->agency, agency_len) != 0 || rec->author[agency_len] != '/')
		return INVALID("author \"%s\" is not of agency \"%s\"", rec->author, rec->agency);
	rec->kid = json_string_value(m[M_KID]);
	if (!is_hex_id(rec->kid))
		return INVALID("member \"kid\" is missing or not 64 lowercase hex digits");
	seq = m[M_SEQ];
	if (!json_is_integer(seq) || json_integer_value(seq) < 1)
		return INVALID("member \"seq\" must be an integer >= 1");
	rec->seq = json_integer_value(seq);
	prev = m[M_PREV];
	if (!prev)
		return INVALID("member \"prev\" is missing");
	if (rec->seq == 1) {
		if (!json_is_null(prev))
			return INVALID("member \"prev\" must be null when \"seq\" is 1");
		rec->prev = NULL;
	} else {
		rec->prev = json_string_value(prev);
		if (!is_hex_id(rec->prev))
			return INVALID("member \"prev\" must be a record id when \"seq\" is above 1");
	}
	rec->time = json_string_value(m[M_TIME]);
	if (!rec->time)
		return INVALID("member \"time\" is missing");
	if (ledger_time_parse(&rec->time_unix, rec->time) < 0)
		return LEDGER_EINVALID;
	rec->refs = m[M_REFS];
	if (!json_is_array(rec->refs))
		return INVALID("member \"refs\" must be an array of record ids");
	json_array_foreach(rec->refs, i, value) {
		const char *ref = json_string_value(value);

		if (!is_hex_id(ref) || json_string_length(value) != LEDGER_HEX_ID_LEN)
			return INVALID("refs[%zu] is not a record id", i);
		if (last && strcmp(last, ref) >= 0)
			return INVALID("refs must be sorted and unique (refs[%zu])", i);
		last = ref;
	}
	value = m[M_INCIDENT];
	rec->incident = NULL;
	if (value) {
		rec->incident = json_string_value(value);
		if (!is_hex_id(rec->incident))
			return INVALID("member \"incident\" is not a record id");
	}
	rec->class_ = json_string_value(m[M_CLASS]);
	if (!rec->class_ || (strcmp(rec->class_, "c1") && strcmp(rec->class_, "c2") &&
	                     strcmp(rec->class_, "c3")))
		return INVALID("member \"class\" must be \"c1\", \"c2\" or \"c3\"");
	rec->body = m[M_BODY];
	if (!json_is_object(rec->body))
		return INVALID("member \"body\" must be an object");
	value = m[M_SEALED];
	if (value && !json_is_object(value))
		return INVALID("member \"sealed\" must be an object");
	return 0;
}

/* --- the canonical-form check in one pass ----------------------------------- */

/*
 * Most record files are canonical, so they are read by a parser that knows
 * only the canonical spelling (JCS, RFC 8785): no whitespace, members in
 * order, strings with exactly JCS's escapes, integers in their shortest
 * form.  It builds the same jansson tree as ledger_json_parse would, in one
 * pass, and proves the file equal to its own JCS form on the way.  Anything
 * else -- member names with escapes or non-ASCII bytes (whose UTF-16 order
 * needs more care), numbers other than short integers, nesting past the
 * limit, any JSON or UTF-8 error -- makes it give up, and the full check
 * (jansson, then JCS of the tree compared byte for byte) decides and words
 * the error.
 */
struct canon_reader {
	const char *p, *end;
	size_t depth, max_depth;
	char *scratch; /* a decoded string with escapes */
	size_t scratch_cap;
};

static int hex_lower(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A member name at rd->p: plain printable ASCII, no escape; *key points into the text. */
static int canon_key(struct canon_reader *rd, const char **key, size_t *key_len)
{
	const char *s = rd->p + 1, *end = rd->end;

	if (rd->p == end || *rd->p != '"')
		return 0;
	while (s < end && (unsigned char)*s >= 0x20 && (unsigned char)*s < 0x80 && *s != '"' &&
	       *s != '\\')
		s++;
	if (s == end || *s != '"')
		return 0;
	*key = rd->p + 1;
	*key_len = (size_t)(s - *key);
	rd->p = s + 1;
	return 1;
}

/* Decode the string body s[0..len), whose escapes canon_string checked, into out. */
static size_t canon_unescape(char *out, const char *s, size_t len)
{
	size_t i = 0, n = 0;

	while (i < len) {
		if (s[i] != '\\') {
			out[n++] = s[i++];
			continue;
		}
		switch (s[i + 1]) {
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u':
			out[n++] = (char)(hex_lower(s[i + 4]) * 16 + hex_lower(s[i + 5]));
			i += 6;
			continue;
		default: /* '"' and '\\' */
			out[n++] = s[i + 1];
			break;
		}
		i += 2;
	}
	return n;
}

#define BYTES_ALL(b) (0x0101010101010101ULL * (b))

/*
 * Whether any of the 8 bytes at s needs a look of its own: non-ASCII, a
 * control, '"' or '\\'.  Borrows may also flag a plain byte next to such
 * a byte, which costs only that look; no such byte goes unflagged.
 */
static int canon_word_needs_look(const unsigned char *s)
{
	uint64_t w, quote, backslash;

	memcpy(&w, s, sizeof(w));
	quote = w ^ BYTES_ALL('"');
	backslash = w ^ BYTES_ALL('\\');
	return ((w | (w - BYTES_ALL(0x20)) | ((quote - BYTES_ALL(1)) & ~quote) |
	         ((backslash - BYTES_ALL(1)) & ~backslash)) & BYTES_ALL(0x80)) != 0;
}

/* The string at rd->p ('"' included) in JCS's spelling: a new jansson string, or NULL. */
static json_t *canon_string(struct canon_reader *rd)
{
	const unsigned char *s = (const unsigned char *)rd->p + 1;
	const unsigned char *end = (const unsigned char *)rd->end, *start = s;
	size_t len, ulen;
	int escaped = 0, c;

	for (;;) {
		/* Most of a record's string bytes are plain ASCII: skip them 8 at a time. */
		while (end - s >= 8 && !canon_word_needs_look(s))
			s += 8;
		if (s == end || *s == '"')
			break;
		if (*s >= 0x80) {
			if (!(ulen = utf8_sequence_len(s, (size_t)(end - s))))
				return NULL;
			s += ulen;
			continue;
		}
		if (*s < 0x20)
			return NULL;
		if (*s != '\\') {
			s++;
			continue;
		}
		escaped = 1;
		if (end - s < 2)
			return NULL;
		switch (s[1]) {
		case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't':
			s += 2;
			continue;
		case 'u':
			/* \u00xx only for the controls without a short escape, hex in lowercase */
			if (end - s < 6 || s[2] != '0' || s[3] != '0' || (s[4] != '0' && s[4] != '1') ||
			    hex_lower((char)s[5]) < 0)
				return NULL;
			c = hex_lower((char)s[4]) * 16 + hex_lower((char)s[5]);
			if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
				return NULL;
			s += 6;
			continue;
		default:
			return NULL;
		}
	}
	if (s == end)
		return NULL;
	rd->p = (const char *)s + 1;
	len = (size_t)(s - start);
	if (!escaped)
		return json_stringn_nocheck((const char *)start, len);
	if (rd->scratch_cap < len) {
		char *bigger = realloc(rd->scratch, len);

		if (!bigger)
			return NULL;
		rd->scratch = bigger;
		rd->scratch_cap = len;
	}
	return json_stringn_nocheck(rd->scratch,
	                            canon_unescape(rd->scratch, (const char *)start, len));
}

/* A new reference to the value at rd->p in canonical form, or NULL. */
/* After a member or an element: 1 past a ',', 0 past `close`, -1 at anything else. */
static int canon_after_item(struct canon_reader *rd, char close)
{
	if (rd->p < rd->end && (*rd->p == ',' || *rd->p == close))
		return *rd->p++ == ',';
	return -1;
}

static json_t *canon_value(struct canon_reader *rd)
{
	const char *p = rd->p, *end = rd->end, *digits, *key, *last = NULL;
	size_t key_len, last_len = 0, n;
	json_t *v = NULL, *item;
	json_int_t num = 0;
	int negative, cmp, more;

	if (p == end)
		return NULL;
	switch (*p) {
	case '{':
		if (++rd->depth > rd->max_depth || !(v = json_object()))
			return NULL;
		rd->p++;
		if (rd->p < end && *rd->p == '}') {
			rd->p++;
			break;
		}
		for (;;) {
			if (!canon_key(rd, &key, &key_len))
				goto fail;
			/* strictly increasing names: in order, and no duplicates */
			if (last) {
				n = key_len < last_len ? key_len : last_len;
				cmp = memcmp(last, key, n);
				if (cmp > 0 || (cmp == 0 && last_len >= key_len))
					goto fail;
			}
			last = key;
			last_len = key_len;
			if (rd->p == end || *rd->p != ':')
				goto fail;
			rd->p++;
			if (!(item = canon_value(rd)) ||
			    json_object_setn_new_nocheck(v, key, key_len, item) < 0 ||
			    (more = canon_after_item(rd, '}')) < 0)
				goto fail;
			if (!more)
				break;
		}
		break;
	case '[':
		if (++rd->depth > rd->max_depth || !(v = json_array()))
			return NULL;
		rd->p++;
		if (rd->p < end && *rd->p == ']') {
			rd->p++;
			break;
		}
		for (;;) {
			if (!(item = canon_value(rd)) || json_array_append_new(v, item) < 0 ||
			    (more = canon_after_item(rd, ']')) < 0)
				goto fail;
			if (!more)
				break;
		}
		break;
	case '"':
		return canon_string(rd);
	case 't':
		if (end - p < 4 || memcmp(p, "true", 4) != 0)
			return NULL;
		rd->p += 4;
		return json_true();
	case 'f':
		if (end - p < 5 || memcmp(p, "false", 5) != 0)
			return NULL;
		rd->p += 5;
		return json_false();
	case 'n':
		if (end - p < 4 || memcmp(p, "null", 4) != 0)
			return NULL;
		rd->p += 4;
		return json_null();
	default:
		negative = *p == '-';
		if (negative)
			p++;
		digits = p;
		if (p == end || *p < '0' || *p > '9')
			return NULL;
		if (*p == '0') {
			if (negative)
				return NULL; /* -0 is written 0 */
			p++;
		} else {
			for (; p < end && *p >= '0' && *p <= '9' && p - digits < 16; p++)
				num = num * 10 + (*p - '0');
		}
		/* Fractions, exponents and 16 digits or more (near 2^53) go to the full check. */
		if ((p < end && (*p == '.' || *p == 'e' || *p == 'E' ||
		                 (*p >= '0' && *p <= '9'))) || p - digits > 15)
			return NULL;
		rd->p = p;
		return json_integer(negative ? -num : num);
	}
	rd->depth--;
	return v;
fail:
	json_decref(v);
	return NULL;
}

/* The canonical file's tree, or NULL when the full check must decide. */
static json_t *canon_parse(const char *buf, size_t len, size_t max_depth)
{
	struct canon_reader rd = { buf, buf + len, 0, max_depth, NULL, 0 };
	json_t *v = canon_value(&rd);

	free(rd.scratch);
	if (v && rd.p != rd.end) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

int ledger_record_parse(ledger_record **out, const char *buf, size_t len)
{
	ledger_json_limits limits = LEDGER_JSON_LIMITS_INIT;
	ledger_record *rec = NULL;
	json_t *envelope = NULL;
	char *canon = NULL;
	uint8_t *sig = NULL;
	size_t canon_len, sig_len, r_len;
	const char *sig_text;
	int canonical, r;

	*out = NULL;
	if (len <= limits.max_size && buf)
		envelope = canon_parse(buf, len, limits.max_depth);
	canonical = envelope != NULL;
	if (!canonical && (r = ledger_json_parse(&envelope, buf, len, &limits)) < 0)
		goto done;
	r = LEDGER_EINVALID;
	if (!json_is_object(envelope) || json_object_size(envelope) != 2 ||
	    !json_is_object(json_object_get(envelope, "record")) ||
	    !json_is_string(json_object_get(envelope, "sig"))) {
		ledger_error_set(r, "not a record envelope {\"record\": {...}, \"sig\": \"...\"}");
		goto done;
	}
	if (!canonical) {
		if ((r = ledger_jcs(&canon, &canon_len, envelope)) < 0)
			goto done;
		if (canon_len != len || memcmp(canon, buf, len) != 0) {
			r = ledger_error_set(LEDGER_ENONCANONICAL, "not in canonical form (RFC 8785): "
			                     "the file must equal its own JCS serialisation");
			goto done;
		}
	}
	sig_text = json_string_value(json_object_get(envelope, "sig"));
	/* The length first: a U+0000 after the base64 would hide from the decoder. */
	if (json_string_length(json_object_get(envelope, "sig")) != SIG_BASE64_LEN ||
	    ledger_base64_decode(&sig, &sig_len, sig_text) < 0 ||
	    sig_len != LEDGER_ED25519_SIG_LEN) {
		r = INVALID("\"sig\" is not the standard base64 of a 64-byte signature");
		goto done;
	}
	rec = calloc(1, sizeof(*rec));
	if (!rec) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	rec->record = json_incref(json_object_get(envelope, "record"));
	memcpy(rec->sig, sig, LEDGER_ED25519_SIG_LEN);
	if ((r = record_check_common(rec)) < 0)
		goto done;
	/* The canonical envelope holds JCS(R) verbatim between its head and the sig member. */
	r_len = len - strlen(ENVELOPE_HEAD) - strlen(ENVELOPE_SIG) - strlen(sig_text) -
	        strlen(ENVELOPE_TAIL);
	rec->canonical = malloc(r_len + 1);
	if (!rec->canonical) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(rec->canonical, buf + strlen(ENVELOPE_HEAD), r_len);
	rec->canonical[r_len] = '\0';
	rec->canonical_len = r_len;
	ledger_sha256_hex(rec->id, rec->canonical, r_len);
	*out = rec;
	rec = NULL; /* transferred */
	r = 0;
done:
	ledger_record_free(rec);
	json_decref(envelope);
	free(canon);
	free(sig);
	return r;
}

/* The bytes the signature covers: context, 0x00, JCS(R). */
static int signed_message(uint8_t **out, size_t *out_len, const char *canonical, size_t len)
{
	size_t prefix = sizeof(LEDGER_RECORD_SIG_CONTEXT); /* includes the 0x00 */
	uint8_t *msg = malloc(prefix + len);

	if (!msg)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	memcpy(msg, LEDGER_RECORD_SIG_CONTEXT, prefix);
	memcpy(msg + prefix, canonical, len);
	*out = msg;
	*out_len = prefix + len;
	return 0;
}

int ledger_record_verify_signature(const ledger_record *rec, const uint8_t pub[32])
{
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	int r;

	if ((r = signed_message(&msg, &msg_len, rec->canonical, rec->canonical_len)) < 0)
		return r;
	r = ledger_ed25519_verify(pub, msg, msg_len, rec->sig, sizeof(rec->sig));
	free(msg);
	return r;
}

static int envelope_bytes(char **out, size_t *out_len, const char *canonical, size_t len,
                          const uint8_t sig[LEDGER_ED25519_SIG_LEN])
{
	char *sig_text = NULL, *buf;
	size_t n;
	int r;

	if ((r = ledger_base64_encode(&sig_text, sig, LEDGER_ED25519_SIG_LEN)) < 0)
		return r;
	n = strlen(ENVELOPE_HEAD) + len + strlen(ENVELOPE_SIG) + strlen(sig_text) +
	    strlen(ENVELOPE_TAIL);
	buf = malloc(n + 1);
	if (!buf) {
		free(sig_text);
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	}
	snprintf(buf, n + 1, "%s%.*s%s%s%s", ENVELOPE_HEAD, (int)len, canonical, ENVELOPE_SIG,
	         sig_text, ENVELOPE_TAIL);
	free(sig_text);
	*out = buf;
	if (out_len)
		*out_len = n;
	return 0;
}

int ledger_record_envelope(char **out, size_t *out_len, const ledger_record *rec)
{
	return envelope_bytes(out, out_len, rec->canonical, rec->canonical_len, rec->sig);
}

static int compare_refs(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* refs sorted and de-duplicated, as FORMAT.md requires; a new reference. */
static json_t *sorted_refs(json_t *refs)
{
	size_t n = json_array_size(refs), i;
	const char **ids;
	json_t *sorted = json_array();

	if (!sorted || n == 0)
		return sorted;
	ids = calloc(n, sizeof(*ids));
	if (!ids) {
		json_decref(sorted);
		return NULL;
	}
	for (i = 0; i < n; i++)
		ids[i] = json_string_value(json_array_get(refs, i));
	for (i = 0; i < n; i++)
		if (!ids[i])
			break;
	if (i < n) { /* not strings: keep as given, the check after building refuses it */
		free(ids);
		json_decref(sorted);
		return json_deep_copy(refs);
	}
	qsort(ids, n, sizeof(*ids), compare_refs);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
			json_array_append_new(sorted, json_string(ids[i]));
	free(ids);
	return sorted;
}

int ledger_record_create(ledger_record **out, const ledger_record_fields *fields,
                         const ledger_key *key)
{
	uint8_t pub[LEDGER_ED25519_PUBLIC_LEN], sig[LEDGER_ED25519_SIG_LEN];
	char kid[LEDGER_HEX_ID_LEN + 1], now[21], *canon = NULL, *file = NULL;
	const char *slash;
	json_t *r = NULL;
	uint8_t *msg = NULL;
	size_t canon_len, msg_len = 0, file_len;
	int rc;

	*out = NULL;
	if (fields && fields->version != LEDGER_RECORD_FIELDS_VERSION)
		return ledger_error_set(LEDGER_EINVALID, "unsupported record fields version %u",
		                        fields->version);
	if (!fields || !fields->type || !fields->author || !fields->body ||
	    ledger_key_type_of(key) != LEDGER_KEY_ED25519)
		return ledger_error_set(LEDGER_EINVALID,
		                        "a record needs a type, an author, a body and an Ed25519 key");
	slash = strchr(fields->author, '/');
	if (!slash)
		return ledger_error_set(LEDGER_EINVALID, "author \"%s\" is not <agency>/<name>",
		                        fields->author);
	ledger_key_public(pub, key);
	ledger_key_id(kid, pub);
	if (!fields->time)
		ledger_time_format(now, (int64_t)time(NULL));
	r = json_pack("{s:i, s:s, s:s%, s:s, s:s, s:I, s:o, s:s, s:o, s:s, s:O}",
	              "v", 1, "type", fields->type, "agency", fields->author,
	              (size_t)(slash - fields->author), "author", fields->author, "kid", kid,
	              "seq", (json_int_t)fields->seq,
	              "prev", fields->prev ? json_string(fields->prev) : json_null(),
	              "time", fields->time ? fields->time : now,
	              "refs", sorted_refs(fields->refs),
	              "class", fields->class_ ? fields->class_ : "c1", "body", fields->body);
	if (!r) {
		rc = ledger_error_set(LEDGER_EINVALID, "cannot build the record (bad field values)");
		goto done;
	}
	if (fields->incident)
		json_object_set_new(r, "incident", json_string(fields->incident));
	if (fields->sealed)
		json_object_set(r, "sealed", fields->sealed);
	if ((rc = ledger_jcs(&canon, &canon_len, r)) < 0)
		goto done;
	if ((rc = signed_message(&msg, &msg_len, canon, canon_len)) < 0)
		goto done;
	if ((rc = ledger_key_sign(sig, key, msg, msg_len)) < 0)
		goto done;
	if ((rc = envelope_bytes(&file, &file_len, canon, canon_len, sig)) < 0)
		goto done;
	/* Parse what a verifier will read, so a record we make is one we accept. */
	rc = ledger_record_parse(out, file, file_len);
done:
	json_decref(r);
	free(canon);
	free(msg);
	free(file);
	return rc;
}

void ledger_record_path(char out[LEDGER_RECORD_PATH_LEN + 1], const char *id)
{
	/* A cached verification builds one path per record: no snprintf for the usual id. */
	if (strnlen(id, LEDGER_HEX_ID_LEN + 1) != LEDGER_HEX_ID_LEN) {
		snprintf(out, LEDGER_RECORD_PATH_LEN + 1, "records/%.2s/%.2s/%s.json", id, id + 2, id);
		return;
	}
	memcpy(out, "records/", 8);
	memcpy(out + 8, id, 2);
	out[10] = '/';
	memcpy(out + 11, id + 2, 2);
	out[13] = '/';
	memcpy(out + 14, id, LEDGER_HEX_ID_LEN);
	memcpy(out + 14 + LEDGER_HEX_ID_LEN, ".json", 6);
}

int ledger_record_path_id(char out[LEDGER_HEX_ID_LEN + 1], const char *path)
{
	char expect[LEDGER_RECORD_PATH_LEN + 1];
	const char *base = strrchr(path, '/');

	if (!base || strlen(base + 1) != LEDGER_HEX_ID_LEN + 5 ||
	    strcmp(base + 1 + LEDGER_HEX_ID_LEN, ".json") != 0)
		goto bad;
	memcpy(out, base + 1, LEDGER_HEX_ID_LEN);
	out[LEDGER_HEX_ID_LEN] = '\0';
	if (!is_hex_id(out))
		goto bad;
	ledger_record_path(expect, out);
	if (strcmp(expect, path) == 0)
		return 0;
bad:
	out[0] = '\0';
	return ledger_error_set(LEDGER_EINVALID,
	                        "path \"%s\" is not records/<id[0:2]>/<id[2:4]>/<id>.json", path);
}

void ledger_record_free(ledger_record *rec)
{
	if (!rec)
		return;
	json_decref(rec->record);
	free(rec->canonical);
	free(rec);
}
