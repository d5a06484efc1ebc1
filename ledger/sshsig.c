/*
 * SSHSIG (OpenSSH PROTOCOL.sshsig), the signature git writes into a commit's
 * gpgsig header with gpg.format=ssh.  Only what the ledger uses: version 1,
 * ssh-ed25519 keys, hash sha512.
 *
 *   blob   = "SSHSIG" uint32(1) string(publickey) string(namespace)
 *            string(reserved) string(hash_algorithm) string(signature)
 *   signed = "SSHSIG" string(namespace) string(reserved)
 *            string(hash_algorithm) string(H(message))
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "ledger/sshsig.h"
#include "sshwire.h"

#define SSHSIG_MAGIC "SSHSIG"
#define SSHSIG_MAGIC_LEN 6
#define SSHSIG_VERSION 1
#define SSHSIG_HASH "sha512"
#define SSHSIG_BEGIN "-----BEGIN SSH SIGNATURE-----\n"
#define SSHSIG_END "-----END SSH SIGNATURE-----"
#define SSHSIG_LINE 70 /* base64 columns, as ssh-keygen writes them */

/* The bytes the Ed25519 signature covers. */
static int signed_data(struct sshwire_buf *out, const char *namespace,
                       const uint8_t *data, size_t len)
{
	uint8_t digest[64];

	if (EVP_Digest(data ? data : (const uint8_t *)"", len, digest, NULL,
	               EVP_sha512(), NULL) != 1)
		return ledger_error_set(LEDGER_ECRYPTO, "sshsig: sha512 failed");
	sshwire_put(out, SSHSIG_MAGIC, SSHSIG_MAGIC_LEN);
	sshwire_put_cstring(out, namespace);
	sshwire_put_string(out, "", 0); /* reserved */
	sshwire_put_cstring(out, SSHSIG_HASH);
	sshwire_put_string(out, digest, sizeof(digest));
	if (out->failed)
		return ledger_error_set(LEDGER_ENOMEM, "sshsig: out of memory");
	return 0;
}

int ledger_sshsig_sign(char **out, const ledger_key *key, const char *namespace,
                       const uint8_t *data, size_t len)
{
	struct sshwire_buf tbs = { 0 }, blob = { 0 }, pubblob = { 0 }, sigblob = { 0 };
	uint8_t pub[32], sig[LEDGER_ED25519_SIG_LEN];
	char *b64 = NULL, *armour = NULL, *w;
	size_t b64_len, i;
	int r;

	*out = NULL;
	if (!*namespace)
		return ledger_error_set(LEDGER_EINVALID, "sshsig: empty namespace");
	r = signed_data(&tbs, namespace, data, len);
	if (r < 0)
		goto done;
	r = ledger_key_sign(sig, key, tbs.data, tbs.len);
	if (r < 0) {
		ledger_error_prefix("sshsig");
		goto done;
	}
	ledger_key_public(pub, key);
	sshwire_put_ed25519_public(&pubblob, pub);
	sshwire_put_cstring(&sigblob, SSHWIRE_ED25519);
	sshwire_put_string(&sigblob, sig, sizeof(sig));

	sshwire_put(&blob, SSHSIG_MAGIC, SSHSIG_MAGIC_LEN);
	sshwire_put_u32(&blob, SSHSIG_VERSION);
	sshwire_put_string(&blob, pubblob.data, pubblob.len);
	sshwire_put_cstring(&blob, namespace);
	sshwire_put_string(&blob, "", 0); /* reserved */
	sshwire_put_cstring(&blob, SSHSIG_HASH);
	sshwire_put_string(&blob, sigblob.data, sigblob.len);
	if (pubblob.failed || sigblob.failed || blob.failed) {
		r = ledger_error_set(LEDGER_ENOMEM, "sshsig: out of memory");
		goto done;
	}

	r = ledger_base64_encode(&b64, blob.data, blob.len);
	if (r < 0)
		goto done;
	b64_len = strlen(b64);
	armour = malloc(sizeof(SSHSIG_BEGIN) + b64_len + b64_len / SSHSIG_LINE + 1 +
	                sizeof(SSHSIG_END) + 1);
	if (!armour) {
		r = ledger_error_set(LEDGER_ENOMEM, "sshsig: out of memory");
		goto done;
	}
	w = armour;
	memcpy(w, SSHSIG_BEGIN, strlen(SSHSIG_BEGIN));
	w += strlen(SSHSIG_BEGIN);
	for (i = 0; i < b64_len; i += SSHSIG_LINE) {
		size_t n = b64_len - i < SSHSIG_LINE ? b64_len - i : SSHSIG_LINE;

		memcpy(w, b64 + i, n);
		w += n;
		*w++ = '\n';
	}
	memcpy(w, SSHSIG_END "\n", strlen(SSHSIG_END) + 2);

	*out = armour;
	armour = NULL; /* transferred */
	r = 0;
done:
	free(armour);
	free(b64);
	sshwire_buf_release(&tbs);
	sshwire_buf_release(&blob);
	sshwire_buf_release(&pubblob);
	sshwire_buf_release(&sigblob);
	return r;
}

/*
 * Undo the armour: the base64 lines between the BEGIN and END markers,
 * joined.  Lines may end in "\r\n"; after the END marker only line ends.
 */
static int dearmour(char **out, const char *armour)
{
	const char *p, *end, *q;
	char *b64, *w;

	*out = NULL;
	if (strncmp(armour, SSHSIG_BEGIN, strlen(SSHSIG_BEGIN)) != 0)
		return ledger_error_set(LEDGER_EINVALID,
		                        "sshsig: missing \"-----BEGIN SSH SIGNATURE-----\" line");
	p = armour + strlen(SSHSIG_BEGIN);
	end = strstr(p, SSHSIG_END);
	if (!end || (end != p && end[-1] != '\n'))
		return ledger_error_set(LEDGER_EINVALID,
		                        "sshsig: missing \"-----END SSH SIGNATURE-----\" line");
	q = end + strlen(SSHSIG_END);
	if (q[strspn(q, "\r\n")] != '\0')
		return ledger_error_set(LEDGER_EINVALID,
		                        "sshsig: text after the END SSH SIGNATURE line");
	b64 = malloc((size_t)(end - p) + 1);
	if (!b64)
		return ledger_error_set(LEDGER_ENOMEM, "sshsig: out of memory");
	for (w = b64; p < end; p++)
		if (*p != '\n' && *p != '\r')
			*w++ = *p;
	*w = '\0';
	*out = b64;
	return 0;
}

int ledger_sshsig_verify(uint8_t signer_pub[32], const char *armour,
                         const char *namespace, const uint8_t *data, size_t len)
{
	struct sshwire_buf tbs = { 0 };
	struct sshwire_reader rd, sub;
	const uint8_t *magic, *pub, *ns, *hash, *sigblob, *sig, *pubblob;
	size_t ns_len, hash_len, sigblob_len, pubblob_len;
	const uint8_t *unused;
	size_t unused_len;
	uint32_t version;
	uint8_t *blob = NULL;
	size_t blob_len;
	char *b64 = NULL;
	int r;

	r = dearmour(&b64, armour);
	if (r < 0)
		goto done;
	r = ledger_base64_decode(&blob, &blob_len, b64);
	if (r < 0) {
		ledger_error_prefix("sshsig");
		goto done;
	}

	r = LEDGER_EINVALID;
	rd.p = blob;
	rd.left = blob_len;
	if (sshwire_get_raw(&rd, &magic, SSHSIG_MAGIC_LEN) < 0 ||
	    memcmp(magic, SSHSIG_MAGIC, SSHSIG_MAGIC_LEN) != 0) {
		ledger_error_set(r, "sshsig: not an SSHSIG blob");
		goto done;
	}
	if (sshwire_get_u32(&rd, &version) < 0 || version != SSHSIG_VERSION) {
		ledger_error_set(r, "sshsig: unsupported version");
		goto done;
	}
	if (sshwire_get_string(&rd, &pubblob, &pubblob_len) < 0 ||
	    sshwire_get_string(&rd, &ns, &ns_len) < 0 ||
	    sshwire_get_string(&rd, &unused, &unused_len) < 0 || /* reserved */
	    sshwire_get_string(&rd, &hash, &hash_len) < 0 ||
	    sshwire_get_string(&rd, &sigblob, &sigblob_len) < 0 || rd.left != 0) {
		ledger_error_set(r, "sshsig: truncated or malformed blob");
		goto done;
	}
	sub.p = pubblob;
	sub.left = pubblob_len;
	if (sshwire_get_ed25519_blob(&sub, &pub, 32) < 0) {
		ledger_error_set(r, "sshsig: the signing key is not an ssh-ed25519 key");
		goto done;
	}
	/* The namespace is compared by length too: an embedded NUL must not pass as "git". */
	if (!sshwire_equals(ns, ns_len, namespace)) {
		ledger_error_set(LEDGER_ECRYPTO, "sshsig: signature namespace \"%.*s\" is not \"%s\"",
		                 (int)(ns_len > 64 ? 64 : ns_len), (const char *)ns, namespace);
		r = LEDGER_ECRYPTO;
		goto done;
	}
	if (!sshwire_equals(hash, hash_len, SSHSIG_HASH)) {
		ledger_error_set(r, "sshsig: hash algorithm \"%.*s\" is not \"" SSHSIG_HASH "\"",
		                 (int)(hash_len > 64 ? 64 : hash_len), (const char *)hash);
		goto done;
	}
	sub.p = sigblob;
	sub.left = sigblob_len;
	if (sshwire_get_ed25519_blob(&sub, &sig, LEDGER_ED25519_SIG_LEN) < 0) {
		ledger_error_set(r, "sshsig: the signature is not an ssh-ed25519 signature");
		goto done;
	}

	/* As in OpenSSH, the reserved field is not covered: the signed data has it empty. */
	r = signed_data(&tbs, namespace, data, len);
	if (r < 0)
		goto done;
	r = ledger_ed25519_verify(pub, tbs.data, tbs.len, sig, LEDGER_ED25519_SIG_LEN);
	if (r < 0) {
		ledger_error_prefix("sshsig");
		goto done;
	}
	memcpy(signer_pub, pub, 32);
done:
	sshwire_buf_release(&tbs);
	free(blob);
	free(b64);
	return r;
}
