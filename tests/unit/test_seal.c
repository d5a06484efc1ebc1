/*
 * Sealed content (ledger/seal.h): round trips for every recipient, refusals
 * of other keys, tampering, small-order points and malformed objects, and
 * known answers made independently with python3-cryptography (the
 * construction of docs/FORMAT.md, "Sealed content").
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#define NKEYS 3

static ledger_key *keys[NKEYS];
static char kids[NKEYS][LEDGER_HEX_ID_LEN + 1];
static ledger_seal_recipient recipients[NKEYS];

/* A made-up kid for key i (the library does not tie kids to X25519 keys: the ledger does). */
static void setup(void)
{
	for (int i = 0; i < NKEYS; i++) {
		uint8_t seed = (uint8_t)(i + 1);

		ck_assert_int_eq(ledger_key_generate(&keys[i], LEDGER_KEY_X25519), 0);
		ledger_sha256_hex(kids[i], &seed, 1);
		recipients[i].kid = kids[i];
		ledger_key_public(recipients[i].x25519, keys[i]);
	}
}

static void teardown(void)
{
	for (int i = 0; i < NKEYS; i++) {
		ledger_key_free(keys[i]);
		keys[i] = NULL;
	}
}

static const char *last_message(void)
{
	const ledger_error *e = ledger_error_last();

	return e && e->message ? e->message : "";
}

static json_t *confidential(void)
{
	json_t *obj = json_pack("{s:s, s:i, s:[s,s]}", "detail", "不正アクセスの痕跡 \"x\"",
	                        "hosts", 3, "ips", "192.0.2.1", "192.0.2.7");

	ck_assert_ptr_nonnull(obj);
	return obj;
}

static json_t *seal_for(size_t count)
{
	json_t *plain = confidential(), *sealed = NULL;

	ck_assert_int_eq(ledger_seal(&sealed, plain, recipients, count), 0);
	ck_assert_int_eq(ledger_seal_check(sealed), 0);
	json_decref(plain);
	return sealed;
}

/* Flip one bit of the base64 member `name` of obj, keeping it canonical base64. */
static void flip_b64(json_t *obj, const char *name, size_t byte)
{
	uint8_t *raw;
	size_t len;
	char *b64;

	ck_assert_int_eq(ledger_base64_decode(&raw, &len, json_string_value(json_object_get(obj, name))), 0);
	ck_assert_uint_lt(byte, len);
	raw[byte] ^= 0x01;
	ck_assert_int_eq(ledger_base64_encode(&b64, raw, len), 0);
	json_object_set_new(obj, name, json_string(b64));
	free(b64);
	free(raw);
}

static json_t *entry(json_t *sealed, size_t i)
{
	return json_array_get(json_object_get(sealed, "recipients"), i);
}

START_TEST(test_round_trip_every_recipient)
{
	json_t *sealed = seal_for(NKEYS), *plain = confidential(), *opened;

	ck_assert_str_eq(json_string_value(json_object_get(sealed, "alg")), LEDGER_SEAL_ALG);
	ck_assert_uint_eq(json_array_size(json_object_get(sealed, "recipients")), NKEYS);
	for (int i = 0; i < NKEYS; i++) {
		ck_assert_str_eq(json_string_value(json_object_get(entry(sealed, i), "kid")), kids[i]);
		opened = NULL;
		ck_assert_msg(ledger_unseal(&opened, sealed, kids[i], keys[i]) == 0,
		              "recipient %d: %s", i, last_message());
		ck_assert(json_equal(opened, plain));
		json_decref(opened);
	}
	json_decref(plain);
	json_decref(sealed);
}
END_TEST

START_TEST(test_fresh_randomness)
{
	json_t *a = seal_for(NKEYS), *b = seal_for(NKEYS);
	const char *epk0 = json_string_value(json_object_get(entry(a, 0), "epk"));

	/* A new content key and iv per seal, a new ephemeral key per recipient. */
	ck_assert_str_ne(json_string_value(json_object_get(a, "iv")),
	                 json_string_value(json_object_get(b, "iv")));
	ck_assert_str_ne(json_string_value(json_object_get(a, "ct")),
	                 json_string_value(json_object_get(b, "ct")));
	ck_assert_str_ne(epk0, json_string_value(json_object_get(entry(a, 1), "epk")));
	ck_assert_str_ne(epk0, json_string_value(json_object_get(entry(b, 0), "epk")));
	json_decref(a);
	json_decref(b);
}
END_TEST

START_TEST(test_non_recipient_cannot_open)
{
	json_t *sealed = seal_for(2), *opened = NULL;

	/* Key 2 holds no entry. */
	ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[2], keys[2]), LEDGER_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(last_message(), "is not a recipient"));
	ck_assert_ptr_nonnull(strstr(last_message(), kids[2]));
	/* Key 2 claiming key 0's entry. */
	ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[0], keys[2]), LEDGER_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(last_message(), "does not open"));
	/* Key 1 with key 0's entry: an entry is bound to its recipient. */
	ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[0], keys[1]), LEDGER_ECRYPTO);
	ck_assert_ptr_null(opened);
	json_decref(sealed);
}
END_TEST

START_TEST(test_signing_key_refused)
{
	json_t *sealed = seal_for(1), *opened = NULL;
	ledger_key *ed;

	ck_assert_int_eq(ledger_key_generate(&ed, LEDGER_KEY_ED25519), 0);
	ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[0], ed), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "not an X25519 key"));
	ledger_key_free(ed);
	json_decref(sealed);
}
END_TEST

/* What tampering with one value does to recipient 0. */
static void expect_tamper(const char *where, const char *name, size_t byte, const char *message)
{
	json_t *sealed = seal_for(2), *opened = NULL;
	json_t *obj = strcmp(where, "entry") == 0 ? entry(sealed, 0) : sealed;

	flip_b64(obj, name, byte);
	ck_assert_int_eq(ledger_seal_check(sealed), 0);
	ck_assert_msg(ledger_unseal(&opened, sealed, kids[0], keys[0]) == LEDGER_ECRYPTO,
	              "tampered %s accepted", name);
	ck_assert_ptr_null(opened);
	ck_assert_msg(strstr(last_message(), message), "%s: %s", name, last_message());
	/* Recipient 1's entry is intact: ct and iv break it too, epk and key do not. */
	if (obj == sealed)
		ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[1], keys[1]), LEDGER_ECRYPTO);
	else
		ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[1], keys[1]), 0);
	json_decref(opened);
	json_decref(sealed);
}

START_TEST(test_tampered_ct)
{
	expect_tamper("top", "ct", 0, "fails its authentication");
	expect_tamper("top", "ct", 20, "fails its authentication");
}
END_TEST

START_TEST(test_tampered_tag)
{
	json_t *sealed = seal_for(1);
	uint8_t *raw;
	size_t len;

	ck_assert_int_eq(ledger_base64_decode(&raw, &len,
	                 json_string_value(json_object_get(sealed, "ct"))), 0);
	json_decref(sealed);
	free(raw);
	expect_tamper("top", "ct", len - 1, "fails its authentication");
}
END_TEST

START_TEST(test_tampered_iv)
{
	expect_tamper("top", "iv", 11, "fails its authentication");
}
END_TEST

START_TEST(test_tampered_key)
{
	expect_tamper("entry", "key", 0, "does not open");
	expect_tamper("entry", "key", 39, "does not open");
}
END_TEST

START_TEST(test_tampered_epk)
{
	expect_tamper("entry", "epk", 5, "does not open");
}
END_TEST

START_TEST(test_swapped_entries)
{
	json_t *sealed = seal_for(2), *opened = NULL, *e0 = entry(sealed, 0), *e1 = entry(sealed, 1);
	json_t *key0 = json_copy(json_object_get(e0, "key"));

	/* Recipient 1's wrapped key under recipient 0's kid: bound to another agreement. */
	json_object_set(e0, "key", json_object_get(e1, "key"));
	json_object_set(e0, "epk", json_object_get(e1, "epk"));
	ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[0], keys[0]), LEDGER_ECRYPTO);
	/* Right epk, another entry's key. */
	json_decref(sealed);
	sealed = seal_for(2);
	json_object_set(entry(sealed, 0), "key", key0);
	ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[0], keys[0]), LEDGER_ECRYPTO);
	json_decref(key0);
	json_decref(sealed);
}
END_TEST

START_TEST(test_small_order_epk_refused)
{
	/* u = 0, u = 1, u = p (0 unreduced), a point of order 8 (as test_crypto). */
	static const char *points[] = {
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"7f///////////////////////////////////////38=",
		"4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=",
	};
	json_t *sealed = seal_for(1), *opened = NULL;

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		json_object_set_new(entry(sealed, 0), "epk", json_string(points[i]));
		ck_assert_int_eq(ledger_seal_check(sealed), 0);
		ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[0], keys[0]), LEDGER_ECRYPTO);
		ck_assert_msg(strstr(last_message(), "small-order"), "%s: %s", points[i],
		              last_message());
	}
	json_decref(sealed);
}
END_TEST

START_TEST(test_seal_refuses)
{
	ledger_seal_recipient bad[2];
	json_t *plain = confidential(), *array = json_array(), *sealed = NULL;

	ck_assert_int_eq(ledger_seal(&sealed, array, recipients, 1), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "JSON object"));
	ck_assert_int_eq(ledger_seal(&sealed, plain, recipients, 0), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "0 recipients"));

	bad[0] = recipients[0];
	bad[1] = recipients[0];
	ck_assert_int_eq(ledger_seal(&sealed, plain, bad, 2), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "given twice"));

	bad[1] = recipients[1];
	bad[1].kid = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB";
	ck_assert_int_eq(ledger_seal(&sealed, plain, bad, 2), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "lowercase hex"));

	/* A small-order recipient key: nobody could open the entry but anybody could. */
	bad[1] = recipients[1];
	memset(bad[1].x25519, 0, 32);
	ck_assert_int_eq(ledger_seal(&sealed, plain, bad, 2), LEDGER_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(last_message(), kids[1]));
	ck_assert_ptr_nonnull(strstr(last_message(), "small order"));
	ck_assert_ptr_null(sealed);

	json_decref(array);
	json_decref(plain);
}
END_TEST

/* Malformed sealed objects: what to change (JSON of the members to set, or removal). */
struct malformed_case {
	const char *where;  /* "top" or "entry" */
	const char *member;
	const char *value;  /* JSON; NULL: delete the member */
	const char *message;
};

static const struct malformed_case malformed[] = {
	{ "top", "alg", NULL, "member \"alg\" is missing" },
	{ "top", "alg", "\"X25519-HKDF-SHA256-A128GCM\"", "\"alg\" must be" },
	{ "top", "alg", "1", "\"alg\" must be" },
	{ "top", "extra", "1", "unknown member \"extra\"" },
	{ "top", "recipients", "[]", "1 to 256 entries" },
	{ "top", "recipients", "{}", "must be an array" },
	{ "top", "recipients", NULL, "member \"recipients\" is missing" },
	{ "top", "recipients", "[1]", "recipients[0]: not a JSON object" },
	{ "top", "iv", "\"AAECAwQFBgcICQoLDA0ODw==\"", "\"iv\" holds 16 bytes, not 12" },
	{ "top", "iv", "\"AAECAwQFBgcICQoL\\n\"", "\"iv\" is not canonical" },
	{ "top", "iv", NULL, "member \"iv\" is missing" },
	{ "top", "ct", "\"AAECAwQFBgcICQoLDA0ODxA=\"", "fewer than 18" },
	{ "top", "ct", "\"AAECAwQFBgcICQoLDA0ODxARE\"", "\"ct\" is not canonical" },
	{ "top", "ct", "5", "\"ct\" must be a string" },
	{ "entry", "kid", "\"AB\"", "recipients[0]: \"kid\" must be 64" },
	{ "entry", "kid", NULL, "recipients[0]: member \"kid\" is missing" },
	{ "entry", "epk", "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\"",
	  "\"epk\" holds 31 bytes, not 32" },
	{ "entry", "epk", "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"", "\"epk\" is not canonical" },
	{ "entry", "key", "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"",
	  "\"key\" holds 32 bytes, not 40" },
	{ "entry", "note", "\"x\"", "recipients[0]: unknown member \"note\"" },
};

START_TEST(test_malformed_refused)
{
	const struct malformed_case *c = &malformed[_i];
	json_t *sealed = seal_for(2), *obj, *value = NULL, *opened = NULL;

	obj = strcmp(c->where, "entry") == 0 ? entry(sealed, 0) : sealed;
	if (c->value) {
		value = json_loads(c->value, JSON_DECODE_ANY, NULL);
		ck_assert_ptr_nonnull(value);
		json_object_set_new(obj, c->member, value);
	} else {
		json_object_del(obj, c->member);
	}
	ck_assert_int_eq(ledger_seal_check(sealed), LEDGER_EINVALID);
	ck_assert_msg(strstr(last_message(), c->message), "%s=%s: got \"%s\"", c->member,
	              c->value ? c->value : "(deleted)", last_message());
	ck_assert_int_eq(ledger_unseal(&opened, sealed, kids[1], keys[1]), LEDGER_EINVALID);
	json_decref(sealed);
}
END_TEST

START_TEST(test_malformed_shapes)
{
	json_t *sealed = seal_for(2), *list, *array = json_array();

	ck_assert_int_eq(ledger_seal_check(array), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "not a JSON object"));
	ck_assert_int_eq(ledger_seal_check(NULL), LEDGER_EINVALID);

	/* Two entries for one kid. */
	list = json_object_get(sealed, "recipients");
	json_object_set(entry(sealed, 1), "kid", json_object_get(entry(sealed, 0), "kid"));
	ck_assert_int_eq(ledger_seal_check(sealed), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "recipients[1]: kid"));
	ck_assert_ptr_nonnull(strstr(last_message(), "appears twice"));

	/* Over the recipient limit. */
	json_object_set_new(entry(sealed, 1), "kid", json_string(kids[1]));
	while (json_array_size(list) <= LEDGER_SEAL_MAX_RECIPIENTS)
		json_array_append_new(list, json_deep_copy(entry(sealed, 0)));
	ck_assert_int_eq(ledger_seal_check(sealed), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "1 to 256"));
	json_decref(array);
	json_decref(sealed);
}
END_TEST

/*
 * Known answers from python3-cryptography (38), built from docs/FORMAT.md
 * alone: the recipient's private key is bytes 1..32, the ephemeral key
 * bytes 33..64, the content key bytes 100..131, the iv bytes 200..211.
 */
static const char kat_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VuBCIEIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n"
	"-----END PRIVATE KEY-----\n";
#define KAT_KID "abababababababababababababababababababababababababababababababab"
#define KAT_HEAD "{\"alg\":\"X25519-HKDF-SHA256-A256GCM\",\"recipients\":[{\"kid\":\"" KAT_KID \
	"\",\"epk\":\"WGmv9FBUlzLLqu1eXfmzCm2jHLDldCutWtShp2jxpns=\",\"key\":" \
	"\"pzvcKdhxzKP/8eE5YJEMBzoSghxCGPjYwSYInIYeeWTKSMVr7eDW/g==\"}],\"iv\":\"yMnKy8zNzs/Q0dLT\","
/* {"detail":"不正","n":1} */
static const char kat_sealed[] =
	KAT_HEAD "\"ct\":\"F2D+4Cs3DB6Hg3RCvXPExyNqCIDHkVSp+uSRRnMBoPAdO8TuTl3nyLQ=\"}";
/* {"n":1,"detail":"x"}: not in JCS order */
static const char kat_not_canonical[] =
	KAT_HEAD "\"ct\":\"F2D0p2VnSVDB3CLHbJIAUKIwBt9R0cLRlJQzt5IC2AGPs74m\"}";

static ledger_key *load_kat_key(void)
{
	char *dir = testutil_tmpdir(), path[4096];
	ledger_key *key = NULL;
	FILE *f;

	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/kat.x25519.key", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(kat_key_pem, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0600), 0); /* ledger_key_load refuses what others may read */
	ck_assert_msg(ledger_key_load(&key, path) == 0, "%s", last_message());
	unlink(path);
	rmdir(dir);
	free(dir);
	return key;
}

START_TEST(test_known_answer)
{
	ledger_key *key = load_kat_key();
	json_t *sealed = json_loads(kat_sealed, 0, NULL), *opened = NULL;

	ck_assert_ptr_nonnull(sealed);
	ck_assert_msg(ledger_unseal(&opened, sealed, KAT_KID, key) == 0, "%s", last_message());
	ck_assert_str_eq(json_string_value(json_object_get(opened, "detail")), "不正");
	ck_assert_int_eq(json_integer_value(json_object_get(opened, "n")), 1);
	ck_assert_uint_eq(json_object_size(opened), 2);
	json_decref(opened);
	json_decref(sealed);

	sealed = json_loads(kat_not_canonical, 0, NULL);
	ck_assert_int_eq(ledger_unseal(&opened, sealed, KAT_KID, key), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "not in its JCS form"));
	json_decref(sealed);
	ledger_key_free(key);
}
END_TEST

static Suite *seal_suite(void)
{
	Suite *s = suite_create("seal");
	TCase *tc = tcase_create("seal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip_every_recipient);
	tcase_add_test(tc, test_fresh_randomness);
	tcase_add_test(tc, test_non_recipient_cannot_open);
	tcase_add_test(tc, test_signing_key_refused);
	tcase_add_test(tc, test_tampered_ct);
	tcase_add_test(tc, test_tampered_tag);
	tcase_add_test(tc, test_tampered_iv);
	tcase_add_test(tc, test_tampered_key);
	tcase_add_test(tc, test_tampered_epk);
	tcase_add_test(tc, test_swapped_entries);
	tcase_add_test(tc, test_small_order_epk_refused);
	tcase_add_test(tc, test_seal_refuses);
	tcase_add_loop_test(tc, test_malformed_refused, 0,
	                    (int)(sizeof(malformed) / sizeof(malformed[0])));
	tcase_add_test(tc, test_malformed_shapes);
	tcase_add_test(tc, test_known_answer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(seal_suite());
}
