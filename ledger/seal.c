/*
 * Sealed content (FORMAT.md section 6, docs/FORMAT.md "Sealed content"):
 * AES-256-GCM under a random content key, wrapped for each recipient with
 * AES-256 key wrap (RFC 3394) under HKDF-SHA256 of an X25519 agreement
 * with a fresh ephemeral key.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "ledger/json.h"
#include "ledger/seal.h"

#define SEAL_INFO "CYMAT-LEDGER-SEAL-V1"
#define CEK_LEN 32
#define KEK_LEN 32
#define WRAPPED_LEN (CEK_LEN + 8) /* RFC 3394 adds one 64-bit block */
#define IV_LEN 12
#define TAG_LEN 16
#define CT_MIN (TAG_LEN + 2) /* the smallest plaintext is "{}" */

static int openssl_error(const char *what)
{
	ERR_clear_error();
	return ledger_error_set(LEDGER_ECRYPTO, "%s", what);
}

static int valid_kid(const char *kid)
{
	uint8_t raw[32];

	return kid && strlen(kid) == LEDGER_HEX_ID_LEN && ledger_unhex(raw, 32, kid) == 0;
}

/*
 * The key-encryption key of one recipient entry: HKDF-SHA256 of the X25519
 * secret, no salt, info = SEAL_INFO 0x00 epk recipient-public-key, so that
 * a wrap is bound to its ephemeral key and to its recipient.
 */
static int derive_kek(uint8_t kek[KEK_LEN], const uint8_t shared[32], const uint8_t epk[32],
                      const uint8_t recipient[32])
{
	uint8_t info[sizeof(SEAL_INFO) + 64];
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[4];
	int r = LEDGER_ECRYPTO;

	memcpy(info, SEAL_INFO, sizeof(SEAL_INFO)); /* with its NUL: the 0x00 separator */
	memcpy(info + sizeof(SEAL_INFO), epk, 32);
	memcpy(info + sizeof(SEAL_INFO) + 32, recipient, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)shared, 32);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	params[3] = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (!ctx || EVP_KDF_derive(ctx, kek, KEK_LEN, params) != 1) {
		openssl_error("sealed: hkdf-sha256 failed");
		goto done;
	}
	r = 0;
done:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r;
}

/* RFC 3394 AES-256 key wrap (encrypt) or unwrap of a content key. */
static int key_wrap(uint8_t *out, const uint8_t kek[KEK_LEN], const uint8_t *in, size_t in_len,
                    size_t out_len, int encrypt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0, r = LEDGER_ECRYPTO;

	if (!ctx)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_wrap(), NULL, kek, NULL, encrypt) != 1 ||
	    EVP_CipherUpdate(ctx, out, &len, in, (int)in_len) != 1 ||
	    EVP_CipherFinal_ex(ctx, out + len, &fin) != 1 || (size_t)(len + fin) != out_len) {
		/* Unwrapping fails its integrity check under any other key-encryption key. */
		ERR_clear_error();
		OPENSSL_cleanse(out, out_len);
		goto done;
	}
	r = 0;
done:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

/* AES-256-GCM with the alg string as additional data; ct is ciphertext || tag. */
static int gcm(uint8_t *out, const uint8_t cek[CEK_LEN], const uint8_t iv[IV_LEN],
               const uint8_t *in, size_t in_len, int encrypt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t text_len = encrypt ? in_len : in_len - TAG_LEN;
	int len = 0, fin = 0, r = LEDGER_ECRYPTO;

	if (!ctx)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	if (text_len > INT32_MAX ||
	    EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, cek, iv, encrypt) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &len, (const uint8_t *)LEDGER_SEAL_ALG,
	                     (int)strlen(LEDGER_SEAL_ALG)) != 1 ||
	    EVP_CipherUpdate(ctx, out, &len, in, (int)text_len) != 1)
		goto fail;
	if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	                                    (void *)(in + text_len)) != 1)
		goto fail;
	if (EVP_CipherFinal_ex(ctx, out + len, &fin) != 1 || fin != 0)
		goto fail;
	if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + text_len) != 1)
		goto fail;
	r = 0;
	goto done;
fail:
	ERR_clear_error();
	OPENSSL_cleanse(out, text_len);
done:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

static int set_b64(json_t *obj, const char *name, const uint8_t *data, size_t len)
{
	char *b64 = NULL;
	int r;

	if ((r = ledger_base64_encode(&b64, data, len)) < 0)
		return r;
	r = json_object_set_new(obj, name, json_string(b64)) == 0 ? 0 :
		ledger_error_set(LEDGER_ENOMEM, "out of memory");
	free(b64);
	return r;
}

/* One recipient entry {kid, epk, key} wrapping cek for r. */
static int seal_entry(json_t **out, const uint8_t cek[CEK_LEN], const ledger_seal_recipient *r)
{
	ledger_key *eph = NULL;
	uint8_t epk[32], shared[32], kek[KEK_LEN], wrapped[WRAPPED_LEN];
	json_t *entry = NULL;
	int ret;

	if ((ret = ledger_key_generate(&eph, LEDGER_KEY_X25519)) < 0)
		goto done;
	ledger_key_public(epk, eph);
	if ((ret = ledger_x25519(shared, eph, r->x25519)) < 0) {
		ret = ledger_error_set(LEDGER_ECRYPTO, "sealed: recipient \"%s\": X25519 key "
		                       "refused (small order)", r->kid);
		goto done;
	}
	if ((ret = derive_kek(kek, shared, epk, r->x25519)) < 0)
		goto done;
	if ((ret = key_wrap(wrapped, kek, cek, CEK_LEN, WRAPPED_LEN, 1)) < 0) {
		ret = openssl_error("sealed: aes-256 key wrap failed");
		goto done;
	}
	entry = json_pack("{s:s}", "kid", r->kid);
	if (!entry) {
		ret = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((ret = set_b64(entry, "epk", epk, 32)) < 0 ||
	    (ret = set_b64(entry, "key", wrapped, WRAPPED_LEN)) < 0)
		goto done;
	*out = entry;
	entry = NULL;
	ret = 0;
done:
	OPENSSL_cleanse(shared, sizeof(shared));
	OPENSSL_cleanse(kek, sizeof(kek));
	json_decref(entry);
	ledger_key_free(eph);
	return ret;
}

int ledger_seal(json_t **out, const json_t *confidential,
                const ledger_seal_recipient *recipients, size_t count)
{
	uint8_t cek[CEK_LEN], iv[IV_LEN], *ct = NULL;
	char *plain = NULL;
	size_t plain_len = 0, i, j;
	json_t *sealed = NULL, *list = NULL, *entry = NULL;
	int r;

	*out = NULL;
	if (!json_is_object(confidential))
		return ledger_error_set(LEDGER_EINVALID, "sealed: the confidential part must be "
		                        "a JSON object");
	if (count == 0 || count > LEDGER_SEAL_MAX_RECIPIENTS)
		return ledger_error_set(LEDGER_EINVALID, "sealed: %zu recipients (1 to %d)",
		                        count, LEDGER_SEAL_MAX_RECIPIENTS);
	for (i = 0; i < count; i++) {
		if (!valid_kid(recipients[i].kid))
			return ledger_error_set(LEDGER_EINVALID, "sealed: recipient kid \"%s\" is not "
			                        "64 lowercase hex digits",
			                        recipients[i].kid ? recipients[i].kid : "");
		for (j = 0; j < i; j++)
			if (strcmp(recipients[i].kid, recipients[j].kid) == 0)
				return ledger_error_set(LEDGER_EINVALID, "sealed: recipient kid "
				                        "\"%s\" given twice", recipients[i].kid);
	}
	if ((r = ledger_jcs(&plain, &plain_len, confidential)) < 0)
		goto done;
	ct = malloc(plain_len + TAG_LEN);
	sealed = json_pack("{s:s}", "alg", LEDGER_SEAL_ALG);
	list = json_array();
	if (!ct || !sealed || !list) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = ledger_random(cek, sizeof(cek))) < 0 || (r = ledger_random(iv, sizeof(iv))) < 0)
		goto done;
	if ((r = gcm(ct, cek, iv, (const uint8_t *)plain, plain_len, 1)) < 0) {
		r = openssl_error("sealed: aes-256-gcm encryption failed");
		goto done;
	}
	for (i = 0; i < count; i++) {
		if ((r = seal_entry(&entry, cek, &recipients[i])) < 0)
			goto done;
		if (json_array_append_new(list, entry) < 0) {
			r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
			goto done;
		}
	}
	if (json_object_set(sealed, "recipients", list) < 0) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = set_b64(sealed, "iv", iv, IV_LEN)) < 0 ||
	    (r = set_b64(sealed, "ct", ct, plain_len + TAG_LEN)) < 0)
		goto done;
	*out = sealed;
	sealed = NULL;
	r = 0;
done:
	OPENSSL_cleanse(cek, sizeof(cek));
	if (plain)
		OPENSSL_cleanse(plain, plain_len);
	free(plain);
	free(ct);
	json_decref(list);
	json_decref(sealed);
	return r;
}

/*
 * Decode the base64 member `name` of obj ("where" names obj in messages):
 * exactly `len` bytes into out, or with min_len set at least that many,
 * malloc'd into *dyn.
 */
static int b64_member(uint8_t *out, uint8_t **dyn, size_t *dyn_len, const json_t *obj,
                      const char *name, size_t len, const char *where)
{
	const char *text = json_string_value(json_object_get(obj, name));
	uint8_t *raw = NULL;
	size_t raw_len = 0;

	if (!text)
		return ledger_error_set(LEDGER_EINVALID, "sealed: %s\"%s\" must be a string",
		                        where, name);
	if (ledger_base64_decode(&raw, &raw_len, text) < 0)
		return ledger_error_set(LEDGER_EINVALID, "sealed: %s\"%s\" is not canonical "
		                        "standard base64", where, name);
	if (dyn) {
		if (raw_len < len) {
			free(raw);
			return ledger_error_set(LEDGER_EINVALID, "sealed: %s\"%s\" holds %zu bytes, "
			                        "fewer than %zu", where, name, raw_len, len);
		}
		*dyn = raw;
		*dyn_len = raw_len;
		return 0;
	}
	if (raw_len != len) {
		free(raw);
		return ledger_error_set(LEDGER_EINVALID, "sealed: %s\"%s\" holds %zu bytes, not %zu",
		                        where, name, raw_len, len);
	}
	memcpy(out, raw, len);
	free(raw);
	return 0;
}

/* Exactly the members `names` (count n), each present. */
static int exact_members(const json_t *obj, const char *const *names, size_t n, const char *where)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)obj, k, v) {
		for (i = 0; i < n; i++)
			if (strcmp(k, names[i]) == 0)
				break;
		if (i == n)
			return ledger_error_set(LEDGER_EINVALID, "sealed: %sunknown member \"%s\"",
			                        where, k);
	}
	for (i = 0; i < n; i++)
		if (!json_object_get(obj, names[i]))
			return ledger_error_set(LEDGER_EINVALID, "sealed: %smember \"%s\" is missing",
			                        where, names[i]);
	return 0;
}

int ledger_seal_check(const json_t *sealed)
{
	static const char *const top[] = { "alg", "recipients", "iv", "ct" };
	static const char *const member[] = { "kid", "epk", "key" };
	const json_t *list, *entry;
	uint8_t buf[WRAPPED_LEN], *ct = NULL;
	size_t i, j, n, ct_len;
	char where[40];
	int r;

	if (!json_is_object(sealed))
		return ledger_error_set(LEDGER_EINVALID, "sealed: not a JSON object");
	if ((r = exact_members(sealed, top, 4, "")) < 0)
		return r;
	if (!json_is_string(json_object_get(sealed, "alg")) ||
	    strcmp(json_string_value(json_object_get(sealed, "alg")), LEDGER_SEAL_ALG) != 0)
		return ledger_error_set(LEDGER_EINVALID, "sealed: \"alg\" must be \"%s\"",
		                        LEDGER_SEAL_ALG);
	list = json_object_get(sealed, "recipients");
	n = json_array_size(list);
	if (!json_is_array(list) || n == 0 || n > LEDGER_SEAL_MAX_RECIPIENTS)
		return ledger_error_set(LEDGER_EINVALID, "sealed: \"recipients\" must be an array "
		                        "of 1 to %d entries", LEDGER_SEAL_MAX_RECIPIENTS);
	for (i = 0; i < n; i++) {
		const char *kid;

		entry = json_array_get(list, i);
		snprintf(where, sizeof(where), "recipients[%zu]: ", i);
		if (!json_is_object(entry))
			return ledger_error_set(LEDGER_EINVALID, "sealed: %snot a JSON object", where);
		if ((r = exact_members(entry, member, 3, where)) < 0)
			return r;
		kid = json_string_value(json_object_get(entry, "kid"));
		if (!valid_kid(kid))
			return ledger_error_set(LEDGER_EINVALID, "sealed: %s\"kid\" must be 64 "
			                        "lowercase hex digits", where);
		for (j = 0; j < i; j++)
			if (strcmp(kid, json_string_value(json_object_get(json_array_get(list, j),
			                                                   "kid"))) == 0)
				return ledger_error_set(LEDGER_EINVALID, "sealed: %skid \"%s\" "
				                        "appears twice", where, kid);
		if ((r = b64_member(buf, NULL, NULL, entry, "epk", 32, where)) < 0 ||
		    (r = b64_member(buf, NULL, NULL, entry, "key", WRAPPED_LEN, where)) < 0)
			return r;
	}
	if ((r = b64_member(buf, NULL, NULL, sealed, "iv", IV_LEN, "")) < 0 ||
	    (r = b64_member(NULL, &ct, &ct_len, sealed, "ct", CT_MIN, "")) < 0)
		return r;
	free(ct);
	return 0;
}

int ledger_unseal(json_t **out, const json_t *sealed, const char *kid, const ledger_key *key)
{
	uint8_t epk[32], pub[32], wrapped[WRAPPED_LEN], iv[IV_LEN];
	uint8_t shared[32], kek[KEK_LEN], cek[CEK_LEN], *ct = NULL, *plain = NULL;
	const json_t *entry = NULL, *v;
	json_t *obj = NULL;
	char *canonical = NULL;
	size_t ct_len = 0, plain_len = 0, canonical_len = 0, i;
	int r;

	*out = NULL;
	if ((r = ledger_seal_check(sealed)) < 0)
		return r;
	if (ledger_key_type_of(key) != LEDGER_KEY_X25519)
		return ledger_error_set(LEDGER_EINVALID, "unseal: not an X25519 key");
	json_array_foreach(json_object_get(sealed, "recipients"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "kid")), kid ? kid : "") == 0)
			entry = v;
	if (!entry)
		return ledger_error_set(LEDGER_ENOTFOUND, "sealed: key \"%s\" is not a recipient",
		                        kid ? kid : "");
	/* Checked by ledger_seal_check above: these decode to the right lengths. */
	if ((r = b64_member(epk, NULL, NULL, entry, "epk", 32, "")) < 0 ||
	    (r = b64_member(wrapped, NULL, NULL, entry, "key", WRAPPED_LEN, "")) < 0 ||
	    (r = b64_member(iv, NULL, NULL, sealed, "iv", IV_LEN, "")) < 0 ||
	    (r = b64_member(NULL, &ct, &ct_len, sealed, "ct", CT_MIN, "")) < 0)
		goto done;
	ledger_key_public(pub, key);
	if (ledger_x25519(shared, key, epk) < 0) {
		r = ledger_error_set(LEDGER_ECRYPTO, "sealed: the entry for key \"%s\" has a "
		                     "small-order \"epk\"", kid);
		goto done;
	}
	if ((r = derive_kek(kek, shared, epk, pub)) < 0)
		goto done;
	if (key_wrap(cek, kek, wrapped, WRAPPED_LEN, CEK_LEN, 0) < 0) {
		r = ledger_error_set(LEDGER_ECRYPTO, "sealed: the entry for key \"%s\" does not "
		                     "open with this X25519 key (another key, or a tampered "
		                     "\"epk\" or \"key\")", kid);
		goto done;
	}
	plain = malloc(ct_len - TAG_LEN + 1);
	if (!plain) {
		r = ledger_error_set(LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	plain_len = ct_len - TAG_LEN;
	if (gcm(plain, cek, iv, ct, ct_len, 0) < 0) {
		r = ledger_error_set(LEDGER_ECRYPTO, "sealed: the content fails its authentication "
		                     "(a tampered \"ct\" or \"iv\")");
		goto done;
	}
	if (ledger_json_parse(&obj, (const char *)plain, plain_len, NULL) < 0 ||
	    !json_is_object(obj)) {
		r = ledger_error_set(LEDGER_EINVALID, "sealed: the content is not a JSON object");
		goto done;
	}
	if ((r = ledger_jcs(&canonical, &canonical_len, obj)) < 0)
		goto done;
	if (canonical_len != plain_len || memcmp(canonical, plain, plain_len) != 0) {
		r = ledger_error_set(LEDGER_EINVALID, "sealed: the content is not in its JCS form");
		goto done;
	}
	*out = obj;
	obj = NULL;
	r = 0;
done:
	OPENSSL_cleanse(shared, sizeof(shared));
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(cek, sizeof(cek));
	if (plain)
		OPENSSL_cleanse(plain, plain_len);
	if (canonical)
		OPENSSL_cleanse(canonical, canonical_len);
	free(plain);
	free(canonical);
	free(ct);
	json_decref(obj);
	return r;
}
