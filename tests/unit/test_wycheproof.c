/*
 * Project Wycheproof's Ed25519 verification vectors through
 * ledger_ed25519_verify: every case must give its labelled result.  The
 * file is read with jansson directly, so that this suite does not depend
 * on the library's own JSON module.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"

#define WYCHEPROOF_ED25519 VECTORS_DIR "/wycheproof/ed25519_test.json"
#define WYCHEPROOF_ED25519_CASES 151

/* Decode a hex member into a malloc'd buffer (never NULL, even when empty). */
static uint8_t *hex_member(json_t *obj, const char *name, size_t *len)
{
	const char *hex = json_string_value(json_object_get(obj, name));
	uint8_t *buf;

	ck_assert_msg(hex != NULL, "member \"%s\" missing", name);
	ck_assert_msg(strlen(hex) % 2 == 0, "member \"%s\" has odd length", name);
	*len = strlen(hex) / 2;
	buf = malloc(*len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_msg(ledger_unhex(buf, *len, hex) == 0, "member \"%s\" is not hex", name);
	return buf;
}

START_TEST(test_wycheproof_ed25519)
{
	json_error_t jerr;
	json_t *root, *groups, *group, *tests, *tc;
	size_t gi, ti, run = 0, wrong = 0;

	root = json_load_file(WYCHEPROOF_ED25519, 0, &jerr);
	ck_assert_msg(root != NULL, "%s: %s", WYCHEPROOF_ED25519, jerr.text);
	ck_assert_int_eq(json_integer_value(json_object_get(root, "numberOfTests")),
	                 WYCHEPROOF_ED25519_CASES);
	groups = json_object_get(root, "testGroups");
	ck_assert(json_is_array(groups));

	json_array_foreach(groups, gi, group) {
		uint8_t *pub;
		size_t pub_len;

		pub = hex_member(json_object_get(group, "publicKey"), "pk", &pub_len);
		ck_assert_uint_eq(pub_len, LEDGER_ED25519_PUBLIC_LEN);
		tests = json_object_get(group, "tests");
		ck_assert(json_is_array(tests));

		json_array_foreach(tests, ti, tc) {
			const char *result = json_string_value(json_object_get(tc, "result"));
			json_int_t id = json_integer_value(json_object_get(tc, "tcId"));
			uint8_t *msg, *sig;
			size_t msg_len, sig_len;
			int want_valid, r;

			ck_assert_ptr_nonnull(result);
			/* This file has no "acceptable" cases; one would need a decision here. */
			ck_assert_msg(!strcmp(result, "valid") || !strcmp(result, "invalid"),
			              "tcId %lld: unexpected result \"%s\"", (long long)id, result);
			want_valid = !strcmp(result, "valid");
			msg = hex_member(tc, "msg", &msg_len);
			sig = hex_member(tc, "sig", &sig_len);

			r = ledger_ed25519_verify(pub, msg, msg_len, sig, sig_len);
			if ((r == 0) != want_valid) {
				const ledger_error *e = ledger_error_last();

				fprintf(stderr, "tcId %lld (%s): expected %s, got %d (%s)\n",
				        (long long)id,
				        json_string_value(json_object_get(tc, "comment")), result, r,
				        r && e ? e->message : "accepted");
				wrong++;
			} else if (!want_valid) {
				ck_assert_int_eq(r, LEDGER_ECRYPTO);
			}
			run++;
			free(msg);
			free(sig);
		}
		free(pub);
	}
	json_decref(root);
	ck_assert_uint_eq(run, WYCHEPROOF_ED25519_CASES);
	ck_assert_msg(wrong == 0, "%zu of %zu cases gave the wrong result", wrong, run);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;

	TESTUTIL_REQUIRE_VECTORS("wycheproof");
	s = suite_create("wycheproof");
	tc = tcase_create("ed25519");
	tcase_add_test(tc, test_wycheproof_ed25519);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
