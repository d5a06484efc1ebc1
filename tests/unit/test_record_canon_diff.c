/*
 * Differential test of ledger_record_parse's reader of canonical files (the
 * one-pass parser of JCS's spelling alone) against the reference it stands
 * in for: ledger_json_parse with the record limits, the envelope's shape,
 * JCS of the tree byte-identical to the text, then the record checks.
 *
 * Record files made with ledger_record_create (Japanese text, every JCS
 * escape) and random JSON bodies are re-spelled (members swapped or
 * repeated, other escapes, other number spellings, whitespace) and mutated
 * byte by byte with a seeded PRNG.  On every text both must give the same
 * code and message, and an accepted record must hold the reference's tree,
 * canonical bytes and id.
 *
 * Which path decided is seen by counting calls of jansson's json_loadb,
 * interposed below: only the fallback parses with jansson.  A canonical
 * file whose member names are plain ASCII and whose integers have at most
 * 15 digits must be read by the fast path, and no other text may be.
 *
 * CANON_DIFF_SEED and CANON_DIFF_ROUNDS override the seed and the number
 * of rounds (three texts each) for a longer exploration.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsigner.h"
#include "testutil.h"

#define DEFAULT_SEED 0x63616e6f6e667a7aULL
#define DEFAULT_ROUNDS 6000
#define MAX_SIZE (1u << 20) /* the record file limit */

/* --- which path decided ----------------------------------------------------- */

static unsigned long loadb_calls;

json_t *json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error)
{
	static json_t *(*real)(const char *, size_t, size_t, json_error_t *);

	if (!real) {
		void *sym = dlsym(RTLD_NEXT, "json_loadb");

		ck_assert_ptr_nonnull(sym);
		memcpy(&real, &sym, sizeof(real)); /* an object pointer to a function pointer */
	}
	loadb_calls++;
	return real(buffer, buflen, flags, error);
}

/* --- PRNG and a growing buffer ------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rndn(size_t n)
{
	return (size_t)(rnd() % n);
}

struct sbuf {
	char *p;
	size_t len, cap;
};

static void put(struct sbuf *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* --- the reference and the comparison ----------------------------------------- */

static struct {
	unsigned long cases, fast, fast_refused, fallback_accepted, noncanonical, invalid_json,
		not_envelope, record_refused;
} stats;

/* The message of the last error, "" on success. */
static void last_error(int r, char *msg, size_t size)
{
	const ledger_error *e = ledger_error_last();

	snprintf(msg, size, "%s", r && e && e->message ? e->message : "");
}

/* What the fast path reads of a canonical text: plain ASCII names, integers of at most 15 digits. */
static int fast_class(json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach(v, key, item) {
			size_t n = json_object_iter_key_len(json_object_key_to_iter(key));

			for (i = 0; i < n; i++)
				if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] >= 0x80 ||
				    key[i] == '"' || key[i] == '\\')
					return 0;
			if (!fast_class(item))
				return 0;
		}
		return 1;
	case JSON_ARRAY:
		json_array_foreach(v, i, item)
			if (!fast_class(item))
				return 0;
		return 1;
	case JSON_INTEGER:
		return json_integer_value(v) <= 999999999999999LL &&
		       json_integer_value(v) >= -999999999999999LL;
	case JSON_REAL:
		return 0;
	default:
		return 1;
	}
}

/*
 * The verdict of the record checks on the reference tree: the same tree
 * with the body {"é":1}, which the fast path must leave to the fallback
 * (and no bigger, for the size limit).  The body's members are no business
 * of the checks.
 */
static int probe_record_checks(json_t *envelope, char *msg, size_t size)
{
	json_t *copy = json_deep_copy(envelope), *body;
	ledger_record *rec = NULL;
	unsigned long before;
	char *text = NULL;
	size_t n;
	int r;

	body = json_object_get(json_object_get(copy, "record"), "body");
	if (!json_is_object(body)) {
		/* no body to add to: the checks refuse such a record, for one reason or another */
		json_decref(copy);
		snprintf(msg, size, "%s", "");
		return LEDGER_EINVALID;
	}
	ck_assert_int_eq(json_object_set_new(json_object_get(copy, "record"), "body",
	                                     json_pack("{s:i}", "\xc3\xa9", 1)), 0);
	ck_assert_int_eq(ledger_jcs(&text, &n, copy), 0);
	before = loadb_calls;
	ledger_error_clear();
	r = ledger_record_parse(&rec, text, n);
	ck_assert_uint_eq(loadb_calls, before + 1);
	last_error(r, msg, size);
	ledger_record_free(rec);
	free(text);
	json_decref(copy);
	return r;
}

/* Both paths on text[0..n); returns the code.  The buffer is copied to exactly n bytes. */
static int check_text(const char *text_in, size_t n)
{
	ledger_json_limits limits = LEDGER_JSON_LIMITS_INIT;
	char ref_msg[1024], msg[1024], *canon = NULL, *text = malloc(n ? n : 1);
	json_t *ref = NULL, *record;
	ledger_record *rec = NULL;
	unsigned long before;
	int ref_r, r, fast, canonical = 0, want_fast = 0;
	size_t canon_len = 0;

	ck_assert_ptr_nonnull(text);
	memcpy(text, text_in, n);
	stats.cases++;

	/* the reference, up to the record checks */
	ledger_error_clear();
	ref_r = ledger_json_parse(&ref, text, n, &limits);
	if (ref_r == 0) {
		ck_assert_int_eq(ledger_jcs(&canon, &canon_len, ref), 0);
		canonical = canon_len == n && memcmp(canon, text, n) == 0;
		want_fast = canonical && fast_class(ref);
		if (!json_is_object(ref) || json_object_size(ref) != 2 ||
		    !json_is_object(json_object_get(ref, "record")) ||
		    !json_is_string(json_object_get(ref, "sig")))
			ref_r = ledger_error_set(LEDGER_EINVALID,
			                         "not a record envelope {\"record\": {...}, \"sig\": \"...\"}");
		else if (!canonical)
			ref_r = ledger_error_set(LEDGER_ENONCANONICAL, "not in canonical form (RFC 8785): "
			                         "the file must equal its own JCS serialisation");
	}
	last_error(ref_r, ref_msg, sizeof(ref_msg));

	before = loadb_calls;
	ledger_error_clear();
	r = ledger_record_parse(&rec, text, n);
	/* over the size limit ledger_json_parse refuses before jansson is asked */
	fast = loadb_calls == before && n <= MAX_SIZE;
	last_error(r, msg, sizeof(msg));
	ck_assert(r == 0 ? rec != NULL : rec == NULL);
	ck_assert_msg(fast == want_fast, "%s path for %.*s (reference: %d %s)",
	              fast ? "fast" : "fallback", (int)(n > 600 ? 600 : n), text, ref_r, ref_msg);

	if (ref_r < 0) {
		ck_assert_msg(r == ref_r && strcmp(msg, ref_msg) == 0,
		              "r=%d \"%s\", reference %d \"%s\" for %.*s", r, msg, ref_r, ref_msg,
		              (int)(n > 600 ? 600 : n), text);
		if (ref_r == LEDGER_ENONCANONICAL)
			stats.noncanonical++;
		else if (ref)
			stats.not_envelope++;
		else
			stats.invalid_json++;
		goto done;
	}

	/* canonical: the record checks decide, on the reference's tree */
	ref_r = probe_record_checks(ref, ref_msg, sizeof(ref_msg));
	ck_assert_msg(r == ref_r && (strcmp(msg, ref_msg) == 0 || !ref_msg[0]),
	              "r=%d \"%s\", record checks %d \"%s\" for %.*s", r, msg, ref_r, ref_msg,
	              (int)(n > 600 ? 600 : n), text);
	if (r < 0) {
		stats.record_refused++;
		stats.fast_refused += (unsigned long)fast;
		goto done;
	}
	record = json_object_get(ref, "record");
	ck_assert_msg(json_equal(rec->record, record), "another tree for %.*s",
	              (int)(n > 600 ? 600 : n), text);
	free(canon);
	ck_assert_int_eq(ledger_jcs(&canon, &canon_len, record), 0);
	ck_assert_uint_eq(rec->canonical_len, canon_len);
	ck_assert_mem_eq(rec->canonical, canon, canon_len);
	{
		char id[LEDGER_HEX_ID_LEN + 1];
		uint8_t *sig = NULL;
		size_t sig_len = 0;

		ledger_sha256_hex(id, canon, canon_len);
		ck_assert_str_eq(rec->id, id);
		ck_assert_int_eq(ledger_base64_decode(&sig, &sig_len,
		                                      json_string_value(json_object_get(ref, "sig"))), 0);
		ck_assert_uint_eq(sig_len, sizeof(rec->sig));
		ck_assert_mem_eq(rec->sig, sig, sig_len);
		free(sig);
	}
	if (fast)
		stats.fast++;
	else
		stats.fallback_accepted++;
done:
	ledger_record_free(rec);
	json_decref(ref);
	free(canon);
	free(text);
	return r;
}

/* --- record files ------------------------------------------------------------ */

/* Every character JCS escapes, the ones it leaves alone, Japanese text, astral and private-use planes. */
static json_t *escape_string(void)
{
	static const char rest[] = "\"\\/\x7f \xc3\xa9\xe2\x80\xa8\xee\x80\x80\xef\xbf\xbf"
	                           "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
	char s[0x20 + sizeof(rest)];
	size_t n = 0;

	for (int c = 0; c < 0x20; c++)
		s[n++] = (char)c;
	memcpy(s + n, rest, sizeof(rest) - 1);
	return json_stringn(s, n + sizeof(rest) - 1);
}

/*
 * The same files on every run, whatever key the signer drew: a fixed kid,
 * prev and signature (the parse does not verify it).
 */
static void fix_key(char **file)
{
	const char *fixed = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	json_t *e = NULL, *r;
	uint8_t sig[LEDGER_ED25519_SIG_LEN];
	char *b64 = NULL;

	for (size_t i = 0; i < sizeof(sig); i++)
		sig[i] = (uint8_t)(i * 37 + 11);
	ck_assert_int_eq(ledger_base64_encode(&b64, sig, sizeof(sig)), 0);
	ck_assert_int_eq(ledger_json_parse(&e, *file, strlen(*file), NULL), 0);
	r = json_object_get(e, "record");
	ck_assert_int_eq(json_object_set_new(r, "kid", json_string(fixed)), 0);
	if (json_is_string(json_object_get(r, "prev")))
		ck_assert_int_eq(json_object_set_new(r, "prev", json_string(fixed)), 0);
	ck_assert_int_eq(json_object_set_new(e, "sig", json_string(b64)), 0);
	free(*file);
	ck_assert_int_eq(ledger_jcs(file, NULL, e), 0);
	json_decref(e);
	free(b64);
}

static char *make_file(testsigner *s, json_t *body, json_t *sealed, int c2)
{
	ledger_record_fields f = LEDGER_RECORD_FIELDS_INIT;
	json_t *refs = json_pack("[s,s]", "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6",
	                         "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
	ledger_record *rec = NULL;
	char *buf = NULL;
	int r;

	f.type = "request";
	testsigner_next(&f, s);
	f.time = "2026-04-01T09:00:00Z";
	f.body = body;
	f.sealed = sealed;
	f.refs = c2 ? refs : NULL;
	f.class_ = c2 ? "c2" : NULL;
	f.incident = c2 ? "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d" : NULL;
	r = ledger_record_create(&rec, &f, s->key);
	ck_assert_msg(r == 0, "create: %s", r ? ledger_error_last()->message : "");
	testsigner_advance(s, rec);
	ck_assert_int_eq(ledger_record_envelope(&buf, NULL, rec), 0);
	ledger_record_free(rec);
	fix_key(&buf);
	json_decref(refs);
	json_decref(body);
	json_decref(sealed);
	return buf;
}

#define NFILES 5

static void make_files(char *files[NFILES], testsigner *s)
{
	files[0] = make_file(s, json_pack("{s:s}", "summary", "test"), NULL, 0);
	files[1] = make_file(s, json_pack("{s:s, s:s, s:[s,s]}", "summary",
	                                  "\xe4\xb8\x8d\xe6\xad\xa3\xe3\x82\xa2\xe3\x82\xaf\xe3\x82\xbb"
	                                  "\xe3\x82\xb9\xe3\x82\x92\xe6\xa4\x9c\xe7\x9f\xa5\xe3\x81\x97"
	                                  "\xe3\x81\xbe\xe3\x81\x97\xe3\x81\x9f\xe3\x80\x82",
	                                  "system", "\xe4\xba\xba\xe4\xba\x8b\xe3\x82\xb7\xe3\x82\xb9"
	                                  "\xe3\x83\x86\xe3\x83\xa0", "tags", "\xe6\x9c\xaa\xe9\x81\x82",
	                                  "APT"), NULL, 1);
	files[2] = make_file(s, json_pack("{s:o, s:o, s:[i,i,i,I,I,I], s:{s:b, s:n, s:{}, s:[]}}",
	                                  "esc", escape_string(), "\x7f" "del", json_string("\x7f"),
	                                  "n", 0, -7, 1, (json_int_t)999999999999999,
	                                  (json_int_t)-999999999999999, (json_int_t)9007199254740991,
	                                  "o", "a_b", 1, "z", "e", "x"),
	                     NULL, 0);
	/* names JCS orders by UTF-16 code units: U+1F600 before U+E000, unlike their bytes */
	files[3] = make_file(s, json_pack("{s:i, s:i, s:i, s:s}", "\xee\x80\x80", 1,
	                                  "\xf0\x9f\x98\x80", 2, "\xc3\xa9", 3, "a\"\\\n", "nul\\u0000"),
	                     NULL, 1);
	files[4] = make_file(s, json_pack("{s:[[[{s:[]}]]]}", "deep", "k"),
	                     json_pack("{s:s, s:s}", "alg", "x25519", "ct", "AAAA"), 0);
}

/* --- random JSON ------------------------------------------------------------- */

static const char *const keys[] = {
	"a", "b", "z", "A", "Z", "_", "~", "", "aa", "a b", "1", "\x7f", "summary", "a\"", "a\\",
	"\n", "\x01", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xee\x80\x80", "\xef\xbf\xbf",
	"\xf0\x9f\x98\x80", "record", "sig",
};

static void put_utf8(struct sbuf *b, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		put(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f));
		put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		put(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f));
		put(b, u, 4);
	}
}

static json_t *gen_string(void)
{
	static const uint32_t special[] = { 0, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f, '"', '\\', '/',
		                            0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0x2028, 0x3042, 0x65e5,
		                            0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600,
		                            0x10ffff };
	struct sbuf b = { NULL, 0, 0 };
	size_t len = rndn(9);
	json_t *s;

	put(&b, "", 0);
	for (size_t i = 0; i < len; i++) {
		switch (rndn(4)) {
		case 0:
			put_utf8(&b, special[rndn(sizeof(special) / sizeof(special[0]))]);
			break;
		case 1:
			put_utf8(&b, (uint32_t)rndn(0x20));
			break;
		default:
			put_utf8(&b, (uint32_t)(0x20 + rndn(0x5f)));
			break;
		}
	}
	s = json_stringn(b.p, b.len);
	ck_assert_ptr_nonnull(s);
	free(b.p);
	return s;
}

static json_t *gen_integer(void)
{
	static const json_int_t edge[] = { 0, 1, -1, 9, 10, 999999999999999LL, -999999999999999LL,
		                           1000000000000000LL, -1000000000000000LL,
		                           9007199254740991LL, -9007199254740991LL,
		                           9007199254740992LL, -9007199254740993LL, INT64_MAX };

	if (rndn(4) == 0) /* for -0 */
		return json_integer(0);
	if (rndn(2))
		return json_integer(edge[rndn(sizeof(edge) / sizeof(edge[0]))]);
	return json_integer((json_int_t)(rnd() % 2000000000000000ULL) - 1000000000000000LL);
}

static json_t *gen_value(int depth);

static json_t *gen_object(int depth)
{
	json_t *o = json_object();
	size_t n = rndn(5);

	for (size_t i = 0; i < n; i++) {
		json_t *v = gen_value(depth + 1);

		if (rndn(3))
			json_object_set_new(o, keys[rndn(sizeof(keys) / sizeof(keys[0]))], v);
		else {
			json_t *k = gen_string();

			json_object_setn_new(o, json_string_value(k), json_string_length(k), v);
			json_decref(k);
		}
	}
	return o;
}

static json_t *gen_value(int depth)
{
	json_t *a;
	size_t n;

	switch (rndn(depth > 4 ? 7 : 9)) {
	case 0: return rndn(2) ? json_true() : json_false();
	case 1: return rndn(2) ? json_null() : gen_integer();
	case 2: case 3: case 4: return gen_string();
	case 5: return rndn(15) ? gen_integer() : json_real((double)rndn(100) / 8.0);
	case 6: /* a chain of brackets around the record limit */
		if (rndn(20))
			return gen_integer();
		n = 20 + rndn(14);
		a = json_integer(1);
		while (n--) {
			json_t *outer = json_array();

			json_array_append_new(outer, a);
			a = outer;
		}
		return a;
	case 7:
		return gen_object(depth);
	default:
		a = json_array();
		n = rndn(4);
		while (n--)
			json_array_append_new(a, gen_value(depth + 1));
		return a;
	}
}

/* --- re-spelling and mutation ------------------------------------------------- */

/*
 * Whether to spell the next token of a kind otherwise: noise per thousand,
 * or when single_kind is not -1 only the decision numbered single of that
 * kind (so a lone change hits an integer as often as a space).
 */
enum { SPACE, MEMBERS, CHAR, INTEGER, KINDS };
static unsigned noise;
static int single_kind = -1;
static long single, decisions[KINDS];

static int noisy(int kind)
{
	if (single_kind >= 0)
		return kind == single_kind && decisions[kind]++ == single;
	decisions[kind]++;
	return noise && rndn(1000) < noise;
}

static void maybe_space(struct sbuf *b)
{
	static const char *const ws[] = { " ", "\t", "\n", "\r", "  " };

	if (noisy(SPACE))
		puts_(b, ws[rndn(5)]);
}

static void spell_string(struct sbuf *b, const char *str, size_t n)
{
	static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	char esc[16];
	size_t i = 0, len;
	uint32_t cp;

	puts_(b, "\"");
	while (i < n) {
		len = s[i] < 0x80 ? 1 : s[i] < 0xe0 ? 2 : s[i] < 0xf0 ? 3 : 4;
		cp = len == 1 ? s[i] : len == 2 ? s[i] & 0x1f : len == 3 ? s[i] & 0x0f : s[i] & 0x07;
		for (size_t k = 1; k < len; k++)
			cp = cp << 6 | (s[i + k] & 0x3f);
		if (noisy(CHAR)) {
			const char *hex = rndn(2) ? lower : upper;

			switch (rndn(6)) {
			case 0: /* any character as \uXXXX, astral ones as a surrogate pair */
				if (cp >= 0x10000) {
					uint32_t v = cp - 0x10000, hi = 0xd800 | v >> 10, lo = 0xdc00 | (v & 0x3ff);

					snprintf(esc, sizeof(esc), "\\u%c%c%c%c\\u%c%c%c%c", hex[hi >> 12],
					         hex[(hi >> 8) & 15], hex[(hi >> 4) & 15], hex[hi & 15],
					         hex[lo >> 12], hex[(lo >> 8) & 15], hex[(lo >> 4) & 15],
					         hex[lo & 15]);
				} else {
					snprintf(esc, sizeof(esc), "\\u%c%c%c%c", hex[cp >> 12],
					         hex[(cp >> 8) & 15], hex[(cp >> 4) & 15], hex[cp & 15]);
				}
				puts_(b, esc);
				break;
			case 1:
				puts_(b, cp == '/' ? "\\/" : cp == '\n' ? "\\u000a" : "\\u000A");
				break;
			case 2: /* a lone surrogate, escaped or as (invalid) UTF-8 */
				puts_(b, rndn(2) ? "\\ud800" : rndn(2) ? "\\udfff" : "\xed\xa0\x80");
				put(b, str + i, len);
				break;
			case 3: /* the character raw, even a control */
				put(b, str + i, len);
				break;
			case 4: /* an overlong form */
				puts_(b, rndn(2) ? "\xc0\xaf" : "\xe0\x80\xaf");
				break;
			default:
				puts_(b, rndn(2) ? "\\u0000" : "\\u007f");
				break;
			}
			i += len;
			continue;
		}
		switch (cp) {
		case '"': puts_(b, "\\\""); break;
		case '\\': puts_(b, "\\\\"); break;
		case '\b': puts_(b, "\\b"); break;
		case '\f': puts_(b, "\\f"); break;
		case '\n': puts_(b, "\\n"); break;
		case '\r': puts_(b, "\\r"); break;
		case '\t': puts_(b, "\\t"); break;
		default:
			if (cp < 0x20) {
				snprintf(esc, sizeof(esc), "\\u00%c%c", lower[cp >> 4], lower[cp & 15]);
				puts_(b, esc);
			} else {
				put(b, str + i, len);
			}
		}
		i += len;
	}
	puts_(b, "\"");
}

static void spell_integer(struct sbuf *b, json_int_t v)
{
	static const char *const before[] = { "", "", "", "", "", "0", "+", "-", "-" };
	static const char *const after[] = { ".0", "e0", "E+00", ".", "0", "", "", "", "" };
	size_t form = rndn(sizeof(before) / sizeof(before[0]));
	char num[48];

	if (!noisy(INTEGER))
		snprintf(num, sizeof(num), "%lld", (long long)v);
	else if (v == 0 && rndn(2))
		snprintf(num, sizeof(num), "-0");
	else
		snprintf(num, sizeof(num), "%s%lld%s", before[form], (long long)v, after[form]);
	puts_(b, num);
}

/* v in the order jansson keeps (the text's), canonical unless noisy says otherwise. */
static void spell(struct sbuf *b, json_t *v)
{
	size_t n, i, j;

	maybe_space(b);
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		void *it;
		void **iters;

		n = json_object_size(v);
		iters = calloc(n + 1, sizeof(*iters));
		ck_assert_ptr_nonnull(iters);
		for (i = 0, it = json_object_iter(v); it; it = json_object_iter_next(v, it))
			iters[i++] = it;
		if (n > 1 && noisy(MEMBERS)) { /* two members swapped */
			void *t;

			i = rndn(n), j = rndn(n);
			t = iters[i], iters[i] = iters[j], iters[j] = t;
		}
		puts_(b, "{");
		for (i = 0; i < n; i++) {
			int twice = noisy(MEMBERS);

			for (j = 0; j <= (size_t)twice; j++) {
				if (i || j)
					puts_(b, ",");
				maybe_space(b);
				spell_string(b, json_object_iter_key(iters[i]),
				             json_object_iter_key_len(iters[i]));
				maybe_space(b);
				puts_(b, ":");
				spell(b, json_object_iter_value(iters[i]));
			}
		}
		puts_(b, "}");
		free(iters);
		break;
	}
	case JSON_ARRAY:
		puts_(b, "[");
		for (i = 0; i < json_array_size(v); i++) {
			if (i)
				puts_(b, ",");
			spell(b, json_array_get(v, i));
		}
		puts_(b, "]");
		break;
	case JSON_STRING:
		spell_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		spell_integer(b, json_integer_value(v));
		break;
	case JSON_TRUE: puts_(b, "true"); break;
	case JSON_FALSE: puts_(b, "false"); break;
	case JSON_NULL: puts_(b, "null"); break;
	default:
		ck_abort_msg("a real in a parsed record");
	}
	maybe_space(b);
}

static const char *const tokens[] = {
	" ", "\t", "\n", "\r", "\x00", "\x01", "\x1f", "\x7f", "\x80", "\xbf", "\xc1\xbf", "\xc3",
	"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80",
	"\xf5\x80\x80\x80", "\xe3\x81", "\xe3\x81\x82", "\xf0\x9f\x98\x80", "\xee\x80\x80",
	"\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u00E9", "\\u00e9", "\\u001F",
	"\\u001f", "\\u000a", "\\u000A", "\\u0008", "\\u007f", "\\u0022", "\\u005c", "\\u0065",
	"\\/", "\\n", "\\b", "\\\"", "\\\\", "\\x", "\\", "\"", "\\u00", "\\u00g1", "-0", "0", "00",
	"01", "-", "1.0", "1e2", "1E2", "1.5", "9007199254740991", "9007199254740992",
	"-9007199254740991", "-9007199254740992", "999999999999999", "1000000000000000",
	"123456789012345678901", ",", ":", "{", "}", "[", "]", "\"a\":1,", "\"z\":1,", "\"\":0,",
	"\"~\":0,", "\"\\u0061\":1,", "\"\xc3\xa9\":1,", "\"\xee\x80\x80\":1,",
	"\"\xf0\x9f\x98\x80\":1,", "\"summary\":\"x\",", "true", "false", "null", "nul", "tru",
	"[]", "{}", "[[[[[[[[[[", "]]]]]]]]]]", "\xe6\x97\xa5",
};

static const char *token(size_t *len)
{
	size_t i = rndn(sizeof(tokens) / sizeof(tokens[0]));

	*len = i == 4 ? 1 : strlen(tokens[i]); /* "\x00" is one byte */
	return tokens[i];
}

/* One byte-level edit of b. */
static void mutate(struct sbuf *b)
{
	size_t at = rndn(b->len + 1), len, cut;
	const char *t;
	struct sbuf out = { NULL, 0, 0 };

	switch (rndn(8)) {
	case 0: /* a bit flipped */
		if (b->len)
			b->p[rndn(b->len)] ^= (char)(1u << rndn(8));
		return;
	case 1: /* a byte replaced by one of a token's */
		if (b->len) {
			t = token(&len);
			b->p[rndn(b->len)] = len ? t[0] : 'x';
		}
		return;
	case 2: case 3: /* a token inserted */
		t = token(&len);
		cut = 0;
		break;
	case 4: /* a token for a few bytes */
		t = token(&len);
		cut = rndn(4);
		break;
	case 5: /* a few bytes deleted */
		t = "", len = 0;
		cut = 1 + rndn(8);
		break;
	case 6: { /* two adjacent runs swapped */
		size_t a = rndn(b->len + 1), c = rndn(b->len + 1), m;

		if (a > c)
			m = a, a = c, c = m;
		m = a + (c > a ? rndn(c - a + 1) : 0);
		put(&out, b->p, a);
		put(&out, b->p + m, c - m);
		put(&out, b->p + a, m - a);
		put(&out, b->p + c, b->len - c);
		free(b->p);
		*b = out;
		return;
	}
	default: /* trailing bytes, or the last ones gone */
		if (rndn(2) && b->len) {
			b->len -= 1 + rndn(b->len < 3 ? b->len : 3);
			b->p[b->len] = '\0';
		} else {
			t = token(&len);
			put(b, t, len);
		}
		return;
	}
	if (cut > b->len - at)
		cut = b->len - at;
	put(&out, b->p, at);
	put(&out, t, len);
	put(&out, b->p + at + cut, b->len - at - cut);
	free(b->p);
	*b = out;
}

/* --- the tests ---------------------------------------------------------------- */

static char *files[NFILES];
static testsigner signer;

static void setup(void)
{
	testsigner_init(&signer, "nisc/alice");
	make_files(files, &signer);
}

static void teardown(void)
{
	for (int i = 0; i < NFILES; i++)
		free(files[i]);
	ledger_key_free(signer.key);
}

/* s with the first `from` replaced by `to` (tlen bytes), in b. */
static void replaced(struct sbuf *b, const char *s, const char *from, const char *to, size_t tlen)
{
	const char *at = strstr(s, from);

	ck_assert_msg(at != NULL, "\"%s\" not in \"%s\"", from, s);
	b->len = 0;
	put(b, s, (size_t)(at - s));
	put(b, to, tlen);
	puts_(b, at + strlen(from));
}

/*
 * The tricky spellings one by one, in the body of a valid file whose body is
 * {"summary":"test"}: the verdict is both paths' and the one given here.
 */
START_TEST(test_explicit)
{
	static const struct {
		const char *from, *to;
		int code;
	} cases[] = {
		{ "\"test\"", "\"t\\/st\"", LEDGER_ENONCANONICAL },
		{ "\"test\"", "\"t\\u00E9st\"", LEDGER_ENONCANONICAL },
		{ "\"test\"", "\"t\\u00e9st\"", LEDGER_ENONCANONICAL },
		{ "\"test\"", "\"t\\u001Fst\"", LEDGER_ENONCANONICAL },
		{ "\"test\"", "\"t\\u001fst\"", 0 },
		{ "\"test\"", "\"t\\u000ast\"", LEDGER_ENONCANONICAL },
		{ "\"test\"", "\"t\\u0065st\"", LEDGER_ENONCANONICAL },
		{ "\"test\"", "\"t\\u007fst\"", LEDGER_ENONCANONICAL },
		{ "\"test\"", "\"t\x7fst\"", 0 },
		{ "\"test\"", "\"t\\u0000st\"", 0 },
		{ "\"test\"", "\"t\x01st\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\x1fst\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\\ud800st\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\\udc00\\ud800st\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\\ud83d\\ude00st\"", LEDGER_ENONCANONICAL },
		{ "\"test\"", "\"t\xf0\x9f\x98\x80st\"", 0 },
		{ "\"test\"", "\"t\xed\xa0\x80st\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\xc0\xafst\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\xe0\x80\xafst\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\xf4\x90\x80\x80st\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\xc3st\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\\u00st\"", LEDGER_EINVALID },
		{ "\"test\"", "\"t\\ast\"", LEDGER_EINVALID },
		{ "\"test\"", "\"\xe4\xb8\x8d\xe6\xad\xa3\"", 0 },
		{ "\"test\"", "9007199254740991", 0 },
		{ "\"test\"", "-9007199254740991", 0 },
		{ "\"test\"", "999999999999999", 0 },
		{ "\"test\"", "9007199254740992", LEDGER_EINVALID },
		{ "\"test\"", "-0", LEDGER_ENONCANONICAL },
		{ "\"test\"", "0", 0 },
		{ "\"test\"", "01", LEDGER_EINVALID },
		{ "\"test\"", "1.0", LEDGER_EINVALID },
		{ "\"test\"", "1e2", LEDGER_EINVALID },
		{ "\"test\"", "-", LEDGER_EINVALID },
		{ "\"test\"", "tru", LEDGER_EINVALID },
		{ "\"summary\"", "\"summary\":1,\"summary\"", LEDGER_EINVALID },
		{ "\"summary\"", "\"a\":1,\"summary\"", 0 },
		{ "\"summary\"", "\"z\":1,\"summary\"", LEDGER_ENONCANONICAL },
		{ "\"summary\"", "\"\":1,\"summary\"", 0 },
		{ "\"summary\"", "\"\\u0061\":1,\"summary\"", LEDGER_ENONCANONICAL },
		{ "\"summary\"", "\"a\\\"\":1,\"summary\"", 0 },
		{ "\"summary\"", "\"a\x7f\":1,\"summary\"", 0 },
		{ "\"summary\"", "\"a\x01\":1,\"summary\"", LEDGER_EINVALID },
		/* UTF-16 order: U+1F600 (d83d) before U+E000, though its bytes sort after */
		{ "\"summary\"", "\"\xf0\x9f\x98\x80\":1,\"\xee\x80\x80\":2,\"summary\"", LEDGER_ENONCANONICAL },
		{ "\"summary\":\"test\"", "\"summary\":\"test\",\"\xf0\x9f\x98\x80\":1,\"\xee\x80\x80\":2", 0 },
		{ "\"summary\":\"test\"", "\"summary\":\"test\",\"\xee\x80\x80\":2,\"\xf0\x9f\x98\x80\":1", LEDGER_ENONCANONICAL },
		{ "\"summary\":\"test\"", "\"summary\" :\"test\"", LEDGER_ENONCANONICAL },
		{ "\"summary\":\"test\"", "\"summary\":\"test\",", LEDGER_EINVALID },
		{ "\"summary\":\"test\"", "\"summary\":\"test\"}", LEDGER_EINVALID },
	};
	struct sbuf b = { NULL, 0, 0 };
	int r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		replaced(&b, files[0], cases[i].from, cases[i].to, strlen(cases[i].to));
		r = check_text(b.p, b.len);
		ck_assert_msg(r == cases[i].code, "case %zu: r=%d, want %d", i, r, cases[i].code);
	}
	/* trailing bytes, and NUL bytes inside the buffer with the length beyond them */
	{
		static const char *const tails[] = { " ", "\n", "x", "{}", "\0" };

		for (size_t i = 0; i < 5; i++) {
			b.len = 0;
			puts_(&b, files[0]);
			put(&b, tails[i], i == 4 ? 1 : strlen(tails[i]));
			/* jansson allows whitespace after the value, JCS does not write it */
			ck_assert_int_eq(check_text(b.p, b.len),
			                 i < 2 ? LEDGER_ENONCANONICAL : LEDGER_EINVALID);
		}
		replaced(&b, files[0], "\"test\"", "\"te\0st\"", 7);
		ck_assert_int_eq(check_text(b.p, b.len), LEDGER_EINVALID);
		replaced(&b, files[0], "\"summary\"", "\"sum\0mary\"", 10);
		ck_assert_int_eq(check_text(b.p, b.len), LEDGER_EINVALID);
		ck_assert_int_eq(check_text(files[0], strlen(files[0]) - 1), LEDGER_EINVALID);
		ck_assert_int_eq(check_text("", 0), LEDGER_EINVALID);
	}
	/* nesting: the envelope, R and the body are 3 levels, 29 brackets more make 32 */
	for (int k = 28; k <= 31; k++) {
		char nest[128];

		snprintf(nest, sizeof(nest), "%.*s1%.*s", k, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		         k, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
		replaced(&b, files[0], "\"test\"", nest, strlen(nest));
		ck_assert_int_eq(check_text(b.p, b.len), k <= 29 ? 0 : LEDGER_EINVALID);
	}
	/* a file of exactly the size limit, and one byte more */
	for (size_t extra = 0; extra < 2; extra++) {
		/* "test" (6 bytes) becomes '"' pad '"' */
		size_t pad = MAX_SIZE + extra - strlen(files[0]) + 6 - 2;
		char *big = malloc(pad + 3);

		ck_assert_ptr_nonnull(big);
		big[0] = '"';
		memset(big + 1, 'x', pad);
		memcpy(big + 1 + pad, "\"", 2);
		replaced(&b, files[0], "\"test\"", big, pad + 2);
		ck_assert_uint_eq(b.len, MAX_SIZE + extra);
		ck_assert_int_eq(check_text(b.p, b.len), extra ? LEDGER_EINVALID : 0);
		free(big);
	}
	/* the record checks on the fast path: an unknown member, U+0000 in a member */
	replaced(&b, files[0], "\"kid\"", "\"extra\":1,\"kid\"", 15);
	ck_assert_int_eq(check_text(b.p, b.len), LEDGER_EINVALID);
	replaced(&b, files[0], "\"nisc/alice\"", "\"nisc/alice\\u0000\"", 18);
	ck_assert_int_eq(check_text(b.p, b.len), LEDGER_EINVALID);
	/* every made file is accepted, by the fast path unless a name is not plain ASCII */
	for (int i = 0; i < NFILES; i++) {
		unsigned long fast = stats.fast;

		ck_assert_int_eq(check_text(files[i], strlen(files[i])), 0);
		/* files[2] has a 16-digit integer, files[3] names beyond ASCII */
		ck_assert_uint_eq(stats.fast, fast + (i != 2 && i != 3));
	}
	free(b.p);
}
END_TEST

/* Random rounds: a source text, its re-spelling, and that with byte edits. */
START_TEST(test_random)
{
	const char *env_seed = getenv("CANON_DIFF_SEED"), *env_rounds = getenv("CANON_DIFF_ROUNDS");
	unsigned long rounds = env_rounds ? strtoul(env_rounds, NULL, 0) : DEFAULT_ROUNDS;
	ledger_json_limits limits = LEDGER_JSON_LIMITS_INIT;
	struct sbuf b = { NULL, 0, 0 }, src = { NULL, 0, 0 };
	json_t *envelope, *tree;
	char *text = NULL;
	size_t n;

	rng_state = env_seed ? strtoull(env_seed, NULL, 0) : DEFAULT_SEED;
	memset(&stats, 0, sizeof(stats));
	for (unsigned long round = 0; round < rounds; round++) {
		const char *file = files[rndn(NFILES)];

		/* the source: a made file, or one of them with a random body or member */
		src.len = 0;
		if (rndn(5) < 2) {
			puts_(&src, file);
		} else {
			ck_assert_int_eq(ledger_json_parse(&envelope, file, strlen(file), NULL), 0);
			if (rndn(8))
				json_object_set_new(json_object_get(envelope, "record"), "body",
				                    gen_object(1));
			else if (rndn(2))
				json_object_set_new(json_object_get(envelope, "record"),
				                    keys[rndn(sizeof(keys) / sizeof(keys[0]))], gen_value(2));
			else
				json_object_set_new(envelope, keys[rndn(sizeof(keys) / sizeof(keys[0]))],
				                    gen_value(1));
			ck_assert_int_eq(ledger_jcs(&text, &n, envelope), 0);
			put(&src, text, n);
			free(text);
			json_decref(envelope);
		}
		check_text(src.p, src.len);

		/* re-spelled: with no noise the canonical text again, else one or more changes */
		b.len = 0;
		put(&b, "", 0);
		if (ledger_json_parse(&tree, src.p, src.len, &limits) == 0) {
			static const unsigned levels[] = { 0, 2, 10, 40, 200 };

			noise = levels[rndn(5)];
			memset(decisions, 0, sizeof(decisions));
			spell(&b, tree);
			single_kind = (int)rndn(KINDS);
			if (noise && rndn(2) && decisions[single_kind]) {
				single = (long)rndn((size_t)decisions[single_kind]);
				memset(decisions, 0, sizeof(decisions));
				b.len = 0;
				spell(&b, tree);
			}
			single_kind = -1;
			if (!noise) {
				char *canon = NULL;

				ck_assert_int_eq(ledger_jcs(&canon, &n, tree), 0);
				ck_assert_uint_eq(b.len, n);
				ck_assert_mem_eq(b.p, canon, n);
				free(canon);
			}
			json_decref(tree);
			check_text(b.p, b.len);
		} else {
			put(&b, src.p, src.len);
		}

		/* edited bytes */
		for (size_t k = 1 + rndn(3); k; k--)
			mutate(&b);
		check_text(b.p, b.len);
	}
	printf("test_record_canon_diff: %lu texts: %lu accepted by the fast path, %lu by the "
	       "fallback; %lu refused by the record checks (%lu after the fast path), %lu "
	       "non-canonical, %lu invalid json, %lu not an envelope\n",
	       stats.cases, stats.fast, stats.fallback_accepted, stats.record_refused,
	       stats.fast_refused, stats.noncanonical, stats.invalid_json, stats.not_envelope);
	/* the rounds reach every verdict, the fast path's included */
	ck_assert_uint_gt(stats.fast, rounds / 4);
	ck_assert_uint_gt(stats.fallback_accepted, rounds / 50);
	ck_assert_uint_gt(stats.fast_refused, 0);
	ck_assert_uint_gt(stats.noncanonical, rounds / 10);
	ck_assert_uint_gt(stats.invalid_json, rounds / 10);
	ck_assert_uint_gt(stats.not_envelope, 0);
	free(b.p);
	free(src.p);
}
END_TEST

static Suite *canon_diff_suite(void)
{
	Suite *s = suite_create("record_canon_diff");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_explicit);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(canon_diff_suite());
}
