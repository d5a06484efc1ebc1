/*
 * Keys, signatures, key checks and encodings (ledger/crypto.h).  Stock
 * `openssl` and `ssh-keygen` serve as independent checkers of the files
 * and lines the library writes; those tests skip when the tool is missing.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "testutil.h"

/* ---- helpers ---------------------------------------------------------- */

static int have_tool(const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* Run a shell command and return its stdout (malloc'd, *len bytes) or NULL when it fails. */
static uint8_t *run_capture(const char *cmd, size_t *len)
{
	FILE *f = popen(cmd, "r");
	uint8_t *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (*len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n = fread(buf + *len, 1, 4096, f);
		if (n == 0)
			break;
		*len += n;
	}
	if (pclose(f) != 0) {
		free(buf);
		return NULL;
	}
	if (!buf)
		buf = calloc(1, 1);
	buf[*len] = '\0';
	return buf;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static void rm_rf(const char *dir)
{
	char *cmd;

	ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static void unhex_or_die(uint8_t *out, size_t len, const char *hex)
{
	ck_assert_msg(ledger_unhex(out, len, hex) == 0, "bad test hex %s", hex);
}

static const char *last_message(void)
{
	const ledger_error *e = ledger_error_last();

	return e ? e->message : "";
}

/* Write raw private key bytes of the given OpenSSL type as an unencrypted PKCS#8 PEM, mode 0600. */
static void write_raw_private_pem(const char *path, int type, const uint8_t priv[32])
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(type, NULL, priv, 32);
	FILE *f;

	ck_assert_ptr_nonnull(pkey);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0600), 0);
	EVP_PKEY_free(pkey);
}

/* The raw public key of a PKCS#8 private key file, as stock openssl extracts it. */
static void openssl_public_of(uint8_t pub[32], const char *keyf)
{
	uint8_t *der;
	size_t der_len;
	char *cmd;

	ck_assert_int_ge(asprintf(&cmd, "openssl pkey -in '%s' -pubout -outform DER", keyf), 0);
	der = run_capture(cmd, &der_len);
	ck_assert_ptr_nonnull(der);
	/* SubjectPublicKeyInfo DER of Ed25519: a 12-byte header, then the raw key. */
	ck_assert_uint_eq(der_len, 44);
	memcpy(pub, der + 12, 32);
	free(der);
	free(cmd);
}

/* ---- encodings -------------------------------------------------------- */

/* RFC 4648 section 10. */
static const struct {
	const char *raw, *b64;
} rfc4648[] = {
	{ "", "" },           { "f", "Zg==" },         { "fo", "Zm8=" },         { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

START_TEST(test_base64_rfc4648)
{
	size_t i;

	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		char *enc;
		uint8_t *dec;
		size_t dec_len;

		ck_assert_int_eq(ledger_base64_encode(&enc, (const uint8_t *)rfc4648[i].raw,
		                                      strlen(rfc4648[i].raw)), 0);
		ck_assert_str_eq(enc, rfc4648[i].b64);
		free(enc);
		ck_assert_int_eq(ledger_base64_decode(&dec, &dec_len, rfc4648[i].b64), 0);
		ck_assert_uint_eq(dec_len, strlen(rfc4648[i].raw));
		ck_assert_mem_eq(dec, rfc4648[i].raw, dec_len);
		free(dec);
	}
}
END_TEST

START_TEST(test_base64_refuses_non_canonical)
{
	static const char *bad[] = {
		"Zg", "Zg=", "Zm8", "Zg===", "Zm9v\n", " Zm9v", "Zm9v ", "Zm 9v", "Zm9v\r\n",
		"Zh==",     /* "f" with a non-zero trailing bit */
		"Zm9=",     /* "fo" with non-zero trailing bits */
		"Zg==Zm9v", /* padding before the end */
		"Z===", "====", "=Zm9", "Zm=v", "Zm9v!AAA", "Zm9-", "Zm9_", "Zm9v====",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *dec = (uint8_t *)"sentinel";
		size_t dec_len = 99;

		ck_assert_msg(ledger_base64_decode(&dec, &dec_len, bad[i]) == LEDGER_EINVALID,
		              "accepted \"%s\"", bad[i]);
		ck_assert_ptr_null(dec);
		ck_assert_str_ne(last_message(), "");
	}
}
END_TEST

START_TEST(test_base64_roundtrip)
{
	uint8_t data[100];
	size_t len;

	for (len = 0; len <= sizeof(data); len++) {
		char *enc;
		uint8_t *dec;
		size_t dec_len;

		ck_assert_int_eq(ledger_random(data, len), 0);
		ck_assert_int_eq(ledger_base64_encode(&enc, data, len), 0);
		ck_assert_uint_eq(strlen(enc), (len + 2) / 3 * 4);
		ck_assert_int_eq(ledger_base64_decode(&dec, &dec_len, enc), 0);
		ck_assert_uint_eq(dec_len, len);
		ck_assert_mem_eq(dec, data, len);
		free(dec);
		free(enc);
	}
}
END_TEST

START_TEST(test_hex)
{
	static const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char text[2 * sizeof(bytes) + 1];
	uint8_t back[sizeof(bytes)];
	uint8_t one[1];

	ledger_hex(text, bytes, sizeof(bytes));
	ck_assert_str_eq(text, "00017f80abff");
	ck_assert_int_eq(ledger_unhex(back, sizeof(back), text), 0);
	ck_assert_mem_eq(back, bytes, sizeof(bytes));

	ck_assert_int_eq(ledger_unhex(one, 1, "AB"), LEDGER_EINVALID); /* uppercase */
	ck_assert_int_eq(ledger_unhex(one, 1, "a"), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_unhex(one, 1, ""), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_unhex(one, 1, "abc"), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_unhex(one, 1, "zz"), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_unhex(one, 1, " a"), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_unhex(one, 1, "0f"), 0);
	ck_assert_uint_eq(one[0], 0x0f);
}
END_TEST

/* Every byte value both ways; a refusal names its first fault and leaves out as it was. */
START_TEST(test_hex_every_byte)
{
	uint8_t all[256], back[256], one[1] = { 0x5a };
	char text[2 * sizeof(all) + 1], two[3] = "00";

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	ledger_hex(text, all, sizeof(all));
	ck_assert_int_eq(ledger_unhex(back, sizeof(back), text), 0);
	ck_assert_mem_eq(back, all, sizeof(all));
	for (int c = 1; c < 256; c++) {
		int digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');

		two[1] = (char)c;
		ck_assert_int_eq(ledger_unhex(one, 1, two), digit ? 0 : LEDGER_EINVALID);
		if (!digit) {
			ck_assert_uint_eq(one[0], 0x5a);
			ck_assert_str_eq(ledger_error_last()->message,
			                 "hex: invalid digit at offset 1 (lowercase hex expected)");
		}
		one[0] = 0x5a;
	}
	ck_assert_int_eq(ledger_unhex(one, 1, "a"), LEDGER_EINVALID);
	ck_assert_str_eq(ledger_error_last()->message, "hex: \"a\" is shorter than 2 digits");
	ck_assert_int_eq(ledger_unhex(one, 1, "abc"), LEDGER_EINVALID);
	ck_assert_str_eq(ledger_error_last()->message, "hex: longer than 2 digits");
	ck_assert_uint_eq(one[0], 0x5a);
}
END_TEST

START_TEST(test_sha256_and_key_id)
{
	char hex[LEDGER_HEX_ID_LEN + 1], kid[LEDGER_HEX_ID_LEN + 1];
	uint8_t pub[32];

	/* FIPS 180-2 appendix B.1 and the empty string. */
	ledger_sha256_hex(hex, "abc", 3);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ledger_sha256_hex(hex, "", 0);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	unhex_or_die(pub, 32, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
	ledger_key_id(kid, pub);
	ledger_sha256_hex(hex, pub, 32);
	ck_assert_str_eq(kid, hex);
	ck_assert_uint_eq(strlen(kid), LEDGER_HEX_ID_LEN);
}
END_TEST

START_TEST(test_random)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 }, zero[32] = { 0 };

	ck_assert_int_eq(ledger_random(a, sizeof(a)), 0);
	ck_assert_int_eq(ledger_random(b, sizeof(b)), 0);
	ck_assert_mem_ne(a, b, sizeof(a));
	ck_assert_mem_ne(a, zero, sizeof(a));
	ck_assert_int_eq(ledger_random(a, 0), 0);
}
END_TEST

/* ---- signing and verification ----------------------------------------- */

START_TEST(test_sign_verify)
{
	static const uint8_t msg[] = "record bytes";
	uint8_t pub[32], other_pub[32], sig[64], bad[64];
	ledger_key *key, *other;
	size_t i;

	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ck_assert_int_eq(ledger_key_type_of(key), LEDGER_KEY_ED25519);
	ledger_key_public(pub, key);
	ck_assert_int_eq(ledger_ed25519_public_check(pub), 0);
	ck_assert_int_eq(ledger_key_sign(sig, key, msg, sizeof(msg)), 0);
	ck_assert_int_eq(ledger_ed25519_verify(pub, msg, sizeof(msg), sig, 64), 0);

	/* Another message, another length, another key. */
	ck_assert_int_eq(ledger_ed25519_verify(pub, msg, sizeof(msg) - 1, sig, 64), LEDGER_ECRYPTO);
	ck_assert_int_eq(ledger_ed25519_verify(pub, (const uint8_t *)"record bytez", sizeof(msg),
	                                       sig, 64), LEDGER_ECRYPTO);
	ck_assert_int_eq(ledger_key_generate(&other, LEDGER_KEY_ED25519), 0);
	ledger_key_public(other_pub, other);
	ck_assert_int_eq(ledger_ed25519_verify(other_pub, msg, sizeof(msg), sig, 64), LEDGER_ECRYPTO);

	/* Every single-bit change of the signature is refused. */
	for (i = 0; i < 64 * 8; i++) {
		memcpy(bad, sig, 64);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		ck_assert_msg(ledger_ed25519_verify(pub, msg, sizeof(msg), bad, 64) == LEDGER_ECRYPTO,
		              "bit %zu flipped and still valid", i);
	}
	ck_assert_int_eq(ledger_ed25519_verify(pub, msg, sizeof(msg), sig, 63), LEDGER_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(last_message(), "63 bytes"));

	/* The empty message. */
	ck_assert_int_eq(ledger_key_sign(sig, key, NULL, 0), 0);
	ck_assert_int_eq(ledger_ed25519_verify(pub, NULL, 0, sig, 64), 0);

	ledger_key_free(other);
	ledger_key_free(key);
	ledger_key_free(NULL);
}
END_TEST

/*
 * One ledger_pubkey serves many signatures (each thread keeps a context set
 * up for it): verdicts must not depend on what the key verified before, on
 * the other keys in use (more than the contexts a thread keeps) nor on the
 * thread.
 */
#define REUSE_KEYS 70

typedef struct {
	ledger_pubkey **pks;
	uint8_t (*sigs)[64];
	int wrong;
} reuse_run;

static void *reuse_verdicts(void *arg)
{
	reuse_run *run = arg;
	static const uint8_t msg[] = "record bytes";
	uint8_t bad[64];

	for (int round = 0; round < 3; round++)
		for (size_t k = 0; k < REUSE_KEYS; k++) {
			size_t other = (k + 1) % REUSE_KEYS;

			memcpy(bad, run->sigs[k], 64);
			bad[k % 32] ^= 1;
			run->wrong += ledger_pubkey_verify(run->pks[k], msg, sizeof(msg),
			                                   run->sigs[k], 64) != 0;
			run->wrong += ledger_pubkey_verify(run->pks[k], msg, sizeof(msg), bad, 64) == 0;
			run->wrong += ledger_pubkey_verify(run->pks[k], msg, sizeof(msg) - 1,
			                                   run->sigs[k], 64) == 0;
			run->wrong += ledger_pubkey_verify(run->pks[other], msg, sizeof(msg),
			                                   run->sigs[k], 64) == 0;
			run->wrong += ledger_pubkey_verify(run->pks[k], msg, sizeof(msg),
			                                   run->sigs[k], 64) != 0;
		}
	return NULL;
}

START_TEST(test_pubkey_verify_reused)
{
	static const uint8_t msg[] = "record bytes";
	ledger_pubkey *pks[REUSE_KEYS];
	uint8_t sigs[REUSE_KEYS][64], pub[32];
	reuse_run main_run = { pks, sigs, 0 }, thread_run = { pks, sigs, 0 };
	pthread_t tid;

	for (size_t k = 0; k < REUSE_KEYS; k++) {
		ledger_key *key;

		ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
		ledger_key_public(pub, key);
		ck_assert_int_eq(ledger_key_sign(sigs[k], key, msg, sizeof(msg)), 0);
		ck_assert_int_eq(ledger_pubkey_new(&pks[k], pub), 0);
		ledger_key_free(key);
	}
	ck_assert_int_eq(pthread_create(&tid, NULL, reuse_verdicts, &thread_run), 0);
	reuse_verdicts(&main_run);
	ck_assert_int_eq(pthread_join(tid, NULL), 0);
	ck_assert_int_eq(main_run.wrong, 0);
	ck_assert_int_eq(thread_run.wrong, 0);
	/* A key made after others were freed is its own, whatever its address. */
	for (size_t k = 0; k < REUSE_KEYS; k++)
		ledger_pubkey_free(pks[k]);
	for (size_t k = 0; k < REUSE_KEYS; k++) {
		ledger_key *key;

		ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
		ledger_key_public(pub, key);
		ck_assert_int_eq(ledger_pubkey_new(&pks[k], pub), 0);
		ck_assert_int_eq(ledger_pubkey_verify(pks[k], msg, sizeof(msg), sigs[k], 64),
		                 LEDGER_ECRYPTO);
		ck_assert_int_eq(ledger_key_sign(sigs[k], key, msg, sizeof(msg)), 0);
		ck_assert_int_eq(ledger_pubkey_verify(pks[k], msg, sizeof(msg), sigs[k], 64), 0);
		ledger_key_free(key);
	}
	for (size_t k = 0; k < REUSE_KEYS; k++)
		ledger_pubkey_free(pks[k]);
}
END_TEST

/* Our signature checked with OpenSSL directly, not through the library. */
START_TEST(test_signature_checked_by_openssl)
{
	static const uint8_t msg[] = "independently checked";
	uint8_t pub[32], sig[64];
	ledger_key *key;
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;

	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ledger_key_public(pub, key);
	ck_assert_int_eq(ledger_key_sign(sig, key, msg, sizeof(msg)), 0);
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	ctx = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk), 1);
	ck_assert_int_eq(EVP_DigestVerify(ctx, sig, 64, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	ledger_key_free(key);
}
END_TEST

/* RFC 8032 section 7.1, tests 1 and 2: signing from a loaded key gives the published signature. */
START_TEST(test_rfc8032_vectors)
{
	static const struct {
		const char *secret, *pub, *msg, *sig;
	} v[] = {
		{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
		  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
		{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
		  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
		  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	};
	char *dir = testutil_tmpdir();
	size_t i;

	ck_assert_ptr_nonnull(dir);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t secret[32], want_pub[32], pub[32], want_sig[64], sig[64], msg[1];
		size_t msg_len = strlen(v[i].msg) / 2;
		char name[32], *path;
		ledger_key *key;

		unhex_or_die(secret, 32, v[i].secret);
		unhex_or_die(want_pub, 32, v[i].pub);
		unhex_or_die(want_sig, 64, v[i].sig);
		unhex_or_die(msg, msg_len, v[i].msg);
		snprintf(name, sizeof(name), "rfc8032-%zu.key", i);
		path = path_in(dir, name);
		write_raw_private_pem(path, EVP_PKEY_ED25519, secret);

		ck_assert_int_eq(ledger_key_load(&key, path), 0);
		ledger_key_public(pub, key);
		ck_assert_mem_eq(pub, want_pub, 32);
		ck_assert_int_eq(ledger_key_sign(sig, key, msg, msg_len), 0);
		ck_assert_mem_eq(sig, want_sig, 64);
		ck_assert_int_eq(ledger_ed25519_verify(pub, msg, msg_len, sig, 64), 0);
		ledger_key_free(key);
		free(path);
	}
	rm_rf(dir);
	free(dir);
}
END_TEST

/* Add L to S: the same signature in a non-canonical spelling, which must be refused. */
START_TEST(test_verify_refuses_s_above_order)
{
	static const uint8_t L[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10
	};
	static const uint8_t msg[] = "malleable?";
	uint8_t pub[32], sig[64], mall[64];
	ledger_key *key;
	unsigned carry = 0;
	int i;

	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ledger_key_public(pub, key);
	ck_assert_int_eq(ledger_key_sign(sig, key, msg, sizeof(msg)), 0);
	memcpy(mall, sig, 64);
	for (i = 0; i < 32; i++) {
		unsigned s = mall[32 + i] + L[i] + carry;

		mall[32 + i] = (uint8_t)s;
		carry = s >> 8;
	}
	ck_assert_uint_eq(carry, 0);
	ck_assert_int_eq(ledger_ed25519_verify(pub, msg, sizeof(msg), mall, 64), LEDGER_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(last_message(), "group order"));
	/* S = L exactly */
	memcpy(mall + 32, L, 32);
	ck_assert_int_eq(ledger_ed25519_verify(pub, msg, sizeof(msg), mall, 64), LEDGER_ECRYPTO);
	ledger_key_free(key);
}
END_TEST

START_TEST(test_key_type_mismatch)
{
	ledger_key *ed, *x;
	uint8_t sig[64], shared[32], peer[32];
	ledger_key *none = (ledger_key *)&none;

	ck_assert_int_eq(ledger_key_generate(&ed, LEDGER_KEY_ED25519), 0);
	ck_assert_int_eq(ledger_key_generate(&x, LEDGER_KEY_X25519), 0);
	ck_assert_int_eq(ledger_key_type_of(x), LEDGER_KEY_X25519);
	ck_assert_int_eq(ledger_key_sign(sig, x, (const uint8_t *)"m", 1), LEDGER_EINVALID);
	ledger_key_public(peer, x);
	ck_assert_int_eq(ledger_x25519(shared, ed, peer), LEDGER_EINVALID);
	ck_assert_int_eq(ledger_key_generate(&none, (ledger_key_type)99), LEDGER_EINVALID);
	ck_assert_ptr_null(none);
	ledger_key_free(ed);
	ledger_key_free(x);
}
END_TEST

/* ---- X25519 ------------------------------------------------------------ */

START_TEST(test_x25519_agreement)
{
	uint8_t a_pub[32], b_pub[32], ab[32], ba[32], zero[32] = { 0 };
	ledger_key *a, *b;

	ck_assert_int_eq(ledger_key_generate(&a, LEDGER_KEY_X25519), 0);
	ck_assert_int_eq(ledger_key_generate(&b, LEDGER_KEY_X25519), 0);
	ledger_key_public(a_pub, a);
	ledger_key_public(b_pub, b);
	ck_assert_int_eq(ledger_x25519(ab, a, b_pub), 0);
	ck_assert_int_eq(ledger_x25519(ba, b, a_pub), 0);
	ck_assert_mem_eq(ab, ba, 32);
	ck_assert_mem_ne(ab, zero, 32);
	ledger_key_free(a);
	ledger_key_free(b);
}
END_TEST

/* RFC 7748 section 6.1, with Alice's key loaded from a PKCS#8 file. */
START_TEST(test_x25519_rfc7748)
{
	uint8_t a_priv[32], want_a_pub[32], a_pub[32], b_pub[32], want[32], shared[32];
	char *dir = testutil_tmpdir(), *path;
	ledger_key *a;

	ck_assert_ptr_nonnull(dir);
	unhex_or_die(a_priv, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	unhex_or_die(want_a_pub, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	unhex_or_die(b_pub, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	unhex_or_die(want, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	path = path_in(dir, "alice.x25519.key");
	write_raw_private_pem(path, EVP_PKEY_X25519, a_priv);
	ck_assert_int_eq(ledger_key_load(&a, path), 0);
	ck_assert_int_eq(ledger_key_type_of(a), LEDGER_KEY_X25519);
	ledger_key_public(a_pub, a);
	ck_assert_mem_eq(a_pub, want_a_pub, 32);
	ck_assert_int_eq(ledger_x25519(shared, a, b_pub), 0);
	ck_assert_mem_eq(shared, want, 32);
	ledger_key_free(a);
	free(path);
	rm_rf(dir);
	free(dir);
}
END_TEST

START_TEST(test_x25519_refuses_small_order_peer)
{
	/* u = 0, u = 1, u = p (0 again, unreduced), and a point of order 8 */
	static const char *peers[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	};
	uint8_t peer[32], shared[32];
	ledger_key *a;
	size_t i;

	ck_assert_int_eq(ledger_key_generate(&a, LEDGER_KEY_X25519), 0);
	for (i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		unhex_or_die(peer, 32, peers[i]);
		ck_assert_msg(ledger_x25519(shared, a, peer) == LEDGER_ECRYPTO,
		              "small-order peer %s accepted", peers[i]);
	}
	ledger_key_free(a);
}
END_TEST

/* ---- key files -------------------------------------------------------- */

static size_t count_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

START_TEST(test_save_load)
{
	char *dir = testutil_tmpdir(), *path, *xpath, *before, *after;
	uint8_t pub[32], pub2[32], sig[64];
	ledger_key *key, *loaded, *x, *xloaded;
	struct stat st;
	mode_t old_umask;

	ck_assert_ptr_nonnull(dir);
	path = path_in(dir, "alice.key");
	xpath = path_in(dir, "alice.x25519.key");
	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ck_assert_int_eq(ledger_key_generate(&x, LEDGER_KEY_X25519), 0);

	/* Mode 0600 whatever the umask. */
	old_umask = umask(0);
	ck_assert_int_eq(ledger_key_save(key, path), 0);
	ck_assert_int_eq(ledger_key_save(x, xpath), 0);
	umask(old_umask);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(xpath, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(count_dir_entries(dir), 2); /* no temporary file left behind */

	before = testutil_read_text(path);
	ck_assert_ptr_nonnull(strstr(before, "-----BEGIN PRIVATE KEY-----\n"));

	ck_assert_int_eq(ledger_key_load(&loaded, path), 0);
	ck_assert_int_eq(ledger_key_type_of(loaded), LEDGER_KEY_ED25519);
	ledger_key_public(pub, key);
	ledger_key_public(pub2, loaded);
	ck_assert_mem_eq(pub, pub2, 32);
	ck_assert_int_eq(ledger_key_sign(sig, loaded, (const uint8_t *)"x", 1), 0);
	ck_assert_int_eq(ledger_ed25519_verify(pub, (const uint8_t *)"x", 1, sig, 64), 0);

	ck_assert_int_eq(ledger_key_load(&xloaded, xpath), 0);
	ck_assert_int_eq(ledger_key_type_of(xloaded), LEDGER_KEY_X25519);
	ledger_key_public(pub, x);
	ledger_key_public(pub2, xloaded);
	ck_assert_mem_eq(pub, pub2, 32);

	/* Never replaces an existing file, and leaves it as it was. */
	ck_assert_int_eq(ledger_key_save(loaded, xpath), LEDGER_EEXISTS);
	ck_assert_ptr_nonnull(strstr(last_message(), xpath));
	ck_assert_int_eq(ledger_key_save(x, path), LEDGER_EEXISTS);
	after = testutil_read_text(path);
	ck_assert_str_eq(before, after);
	ck_assert_uint_eq(count_dir_entries(dir), 2);

	OPENSSL_cleanse(before, strlen(before));
	OPENSSL_cleanse(after, strlen(after));
	free(before);
	free(after);
	ledger_key_free(key);
	ledger_key_free(loaded);
	ledger_key_free(x);
	ledger_key_free(xloaded);
	free(path);
	free(xpath);
	rm_rf(dir);
	free(dir);
}
END_TEST

START_TEST(test_load_refuses)
{
	char *dir = testutil_tmpdir(), *path, *good;
	ledger_key *key, *loaded = (ledger_key *)&loaded;
	EVP_PKEY *pkey;
	FILE *f;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);

	/* Missing file. */
	path = path_in(dir, "missing.key");
	ck_assert_int_eq(ledger_key_load(&loaded, path), LEDGER_ENOTFOUND);
	ck_assert_ptr_null(loaded);
	ck_assert_ptr_nonnull(strstr(last_message(), path));
	free(path);

	/* Readable or writable by group or others. */
	good = path_in(dir, "good.key");
	ck_assert_int_eq(ledger_key_save(key, good), 0);
	ck_assert_int_eq(chmod(good, 0640), 0);
	ck_assert_int_eq(ledger_key_load(&loaded, good), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), good));
	ck_assert_ptr_nonnull(strstr(last_message(), "0640"));
	ck_assert_ptr_nonnull(strstr(last_message(), "too open"));
	ck_assert_int_eq(chmod(good, 0602), 0);
	ck_assert_int_eq(ledger_key_load(&loaded, good), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "0602"));
	ck_assert_int_eq(chmod(good, 0400), 0);
	ck_assert_int_eq(ledger_key_load(&loaded, good), 0);
	ledger_key_free(loaded);

	/* A symbolic link to a good key, and a FIFO (which must not block the open). */
	path = path_in(dir, "link.key");
	ck_assert_int_eq(symlink(good, path), 0);
	ck_assert_int_eq(ledger_key_load(&loaded, path), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "symbolic link"));
	free(path);
	path = path_in(dir, "fifo.key");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(ledger_key_load(&loaded, path), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "not a regular file"));
	free(path);
	/* Someone else's key, 0600 or not (only root can make one to test with). */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(good, 65534, 65534), 0);
		ck_assert_int_eq(ledger_key_load(&loaded, good), LEDGER_EINVALID);
		ck_assert_ptr_nonnull(strstr(last_message(), "not by this user"));
		ck_assert_int_eq(chown(good, 0, 0), 0);
	}

	/* An encrypted PKCS#8 key. */
	path = path_in(dir, "encrypted.key");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ck_assert_ptr_nonnull(pkey);
	ck_assert_int_eq(PEM_write_PKCS8PrivateKey(f, pkey, EVP_aes_256_cbc(), "secret", 6,
	                                           NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(pkey);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(ledger_key_load(&loaded, path), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "encrypted"));
	ck_assert_ptr_nonnull(strstr(last_message(), path));
	free(path);

	/* A key of another type. */
	path = path_in(dir, "p256.key");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(pkey);
	ck_assert_int_eq(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(pkey);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(ledger_key_load(&loaded, path), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "unsupported key type"));
	ck_assert_ptr_nonnull(strstr(last_message(), path));
	free(path);

	/* Not a key at all; an OpenSSH-format key; a public key; a directory. */
	path = path_in(dir, "garbage.key");
	write_text(path, "hello\n", 0600);
	ck_assert_int_eq(ledger_key_load(&loaded, path), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), path));
	free(path);
	path = path_in(dir, "openssh.key");
	write_text(path, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
	                 "-----END OPENSSH PRIVATE KEY-----\n", 0600);
	ck_assert_int_eq(ledger_key_load(&loaded, path), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "OpenSSH"));
	free(path);
	path = path_in(dir, "public.pem");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ck_assert_int_eq(PEM_write_PUBKEY(f, pkey), 1);
	fclose(f);
	EVP_PKEY_free(pkey);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(ledger_key_load(&loaded, path), LEDGER_EINVALID);
	free(path);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(ledger_key_load(&loaded, dir), LEDGER_EINVALID);
	ck_assert_ptr_null(loaded);

	ck_assert_int_eq(chmod(good, 0600), 0);
	free(good);
	ledger_key_free(key);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* The PEM file as stock openssl reads it: valid, and holding our public key. */
START_TEST(test_pem_read_by_openssl)
{
	char *dir, *path, *cmd;
	uint8_t pub[32], from_openssl[32];
	ledger_key *key;

	if (!have_tool("openssl")) {
		fprintf(stderr, "SKIP: openssl not found\n");
		return;
	}
	dir = testutil_tmpdir();
	ck_assert_ptr_nonnull(dir);
	path = path_in(dir, "k.key");
	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ck_assert_int_eq(ledger_key_save(key, path), 0);
	ledger_key_public(pub, key);

	ck_assert_int_ge(asprintf(&cmd, "openssl pkey -in '%s' -noout 2>&1", path), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	openssl_public_of(from_openssl, path);
	ck_assert_mem_eq(from_openssl, pub, 32);

	ledger_key_free(key);
	free(path);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* ---- public key checks ------------------------------------------------- */

START_TEST(test_public_check_accepts_real_keys)
{
	uint8_t pub[32];
	int i;

	for (i = 0; i < 200; i++) {
		ledger_key *key;

		ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
		ledger_key_public(pub, key);
		ck_assert_int_eq(ledger_ed25519_public_check(pub), 0);
		ledger_key_free(key);
	}
	unhex_or_die(pub, 32, "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
	ck_assert_int_eq(ledger_ed25519_public_check(pub), 0);
}
END_TEST

/*
 * The y coordinates of the eight torsion points (written here from the
 * published list of edwards25519's small-order points, separately from the
 * library's table); each is checked below to be of small order.
 */
static const char *small_order_y[] = {
	"0100000000000000000000000000000000000000000000000000000000000000",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0000000000000000000000000000000000000000000000000000000000000000",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
};

static BIGNUM *field_prime(void)
{
	BIGNUM *p = BN_new();

	ck_assert_ptr_nonnull(p);
	ck_assert(BN_set_bit(p, 255) && BN_sub_word(p, 19));
	return p;
}

/*
 * Map an Edwards y (y != 1) to the Montgomery u = (1 + y) / (1 - y) and let
 * OpenSSL's X25519 multiply it by a fresh clamped scalar, which is a multiple
 * of the cofactor 8: the derivation fails (all-zero result) exactly when the
 * point's order divides 8.  Returns 1 when OpenSSL found it small-order.
 */
static int openssl_says_small_order(const uint8_t y_le[32])
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p = field_prime(), *y = BN_new(), *num = BN_new(), *den = BN_new();
	EVP_PKEY *mine, *peer;
	EVP_PKEY_CTX *dctx;
	uint8_t u[32], shared[32];
	size_t len = 32;
	int small;

	ck_assert(ctx && y && num && den);
	ck_assert_ptr_nonnull(BN_lebin2bn(y_le, 32, y));
	ck_assert(BN_mod_add(num, BN_value_one(), y, p, ctx));
	ck_assert(BN_mod_sub(den, BN_value_one(), y, p, ctx));
	ck_assert_ptr_nonnull(BN_mod_inverse(den, den, p, ctx));
	ck_assert(BN_mod_mul(num, num, den, p, ctx));
	ck_assert_int_eq(BN_bn2lebinpad(num, u, 32), 32);

	mine = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, u, 32);
	dctx = EVP_PKEY_CTX_new(mine, NULL);
	ck_assert(mine && peer && dctx);
	ck_assert_int_eq(EVP_PKEY_derive_init(dctx), 1);
	ck_assert_int_eq(EVP_PKEY_derive_set_peer(dctx, peer), 1);
	small = EVP_PKEY_derive(dctx, shared, &len) != 1;
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(mine);
	BN_free(den);
	BN_free(num);
	BN_free(y);
	BN_free(p);
	BN_CTX_free(ctx);
	return small;
}

START_TEST(test_public_check_small_order)
{
	uint8_t pub[32];
	size_t i;
	int sign;

	for (i = 0; i < sizeof(small_order_y) / sizeof(small_order_y[0]); i++) {
		unhex_or_die(pub, 32, small_order_y[i]);
		/* Independent evidence that the entry is a torsion point (y = 1 is the identity). */
		if (i != 0)
			ck_assert_msg(openssl_says_small_order(pub),
			              "%s is not small-order according to openssl", small_order_y[i]);
		for (sign = 0; sign < 2; sign++) {
			pub[31] = (uint8_t)((pub[31] & 0x7f) | (sign << 7));
			ck_assert_msg(ledger_ed25519_public_check(pub) == LEDGER_EINVALID,
			              "small-order key %s (sign %d) accepted", small_order_y[i], sign);
		}
	}
	/* The control: a real key's y is not small-order for the same check. */
	{
		ledger_key *key;

		ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
		ledger_key_public(pub, key);
		pub[31] &= 0x7f;
		ck_assert(!openssl_says_small_order(pub));
		ledger_key_free(key);
	}
}
END_TEST

/* The identity key "verifies" R = identity, S = 0 for any message; OpenSSL alone accepts it. */
START_TEST(test_verify_refuses_small_order_forgery)
{
	uint8_t pub[32] = { 1 }, sig[64] = { 1 };
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int openssl_ok;

	ck_assert(pk && ctx);
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk), 1);
	openssl_ok = EVP_DigestVerify(ctx, sig, 64, (const uint8_t *)"anything", 8) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (!openssl_ok)
		fprintf(stderr, "note: this OpenSSL refuses the identity-key forgery itself\n");
	ck_assert_int_eq(ledger_ed25519_verify(pub, (const uint8_t *)"anything", 8, sig, 64),
	                 LEDGER_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(last_message(), "small-order"));
}
END_TEST

START_TEST(test_public_check_non_canonical)
{
	uint8_t pub[32];
	int extra, sign;

	/* y = p + extra for extra = 0..18: every 255-bit value >= p, both signs */
	for (extra = 0; extra < 19; extra++) {
		for (sign = 0; sign < 2; sign++) {
			memset(pub, 0xff, 32);
			pub[0] = (uint8_t)(0xed + extra);
			pub[31] = (uint8_t)(0x7f | (sign << 7));
			ck_assert_msg(ledger_ed25519_public_check(pub) == LEDGER_EINVALID,
			              "y = p + %d (sign %d) accepted", extra, sign);
			ck_assert_ptr_nonnull(strstr(last_message(), "not canonically encoded"));
		}
	}
	/* x = -0: y = 1 and y = -1 with the sign bit set */
	unhex_or_die(pub, 32, "0100000000000000000000000000000000000000000000000000000000000080");
	ck_assert_int_eq(ledger_ed25519_public_check(pub), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "-0"));
	unhex_or_die(pub, 32, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
	ck_assert_int_eq(ledger_ed25519_public_check(pub), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "-0"));
	/* The largest canonical y, p - 1, is the order-2 point: refused as small-order instead. */
	unhex_or_die(pub, 32, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	ck_assert_int_eq(ledger_ed25519_public_check(pub), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "small-order"));
}
END_TEST

/* A y with no x on the curve is refused; decided here with Euler's criterion. */
START_TEST(test_public_check_off_curve)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p = field_prime(), *d = BN_new(), *y = BN_new(), *t = BN_new(),
	       *u = BN_new(), *v = BN_new(), *e = BN_new();
	int on = 0, off = 0;
	unsigned k;

	ck_assert(ctx && d && y && t && u && v && e);
	/* d = -121665 / 121666, e = (p - 1) / 2 */
	ck_assert(BN_set_word(t, 121666));
	ck_assert_ptr_nonnull(BN_mod_inverse(d, t, p, ctx));
	ck_assert(BN_mul_word(d, 121665) && BN_mod_sub(d, p, d, p, ctx));
	ck_assert(BN_copy(e, p) && BN_sub_word(e, 1) && BN_rshift1(e, e));
	for (k = 2; k < 60; k++) {
		uint8_t pub[32];
		int square;

		ck_assert(BN_set_word(y, k));
		ck_assert(BN_mod_sqr(t, y, p, ctx));
		ck_assert(BN_mod_mul(v, d, t, p, ctx) && BN_add_word(v, 1));
		ck_assert(BN_sub_word(t, 1));
		ck_assert_ptr_nonnull(BN_mod_inverse(v, v, p, ctx));
		ck_assert(BN_mod_mul(u, t, v, p, ctx));
		ck_assert(BN_mod_exp(t, u, e, p, ctx));
		square = BN_is_one(t) || BN_is_zero(u);
		ck_assert_int_eq(BN_bn2lebinpad(y, pub, 32), 32);
		if (square) {
			on++;
			ck_assert_msg(ledger_ed25519_public_check(pub) == 0, "y = %u refused", k);
		} else {
			off++;
			ck_assert_msg(ledger_ed25519_public_check(pub) == LEDGER_EINVALID,
			              "off-curve y = %u accepted", k);
			ck_assert_ptr_nonnull(strstr(last_message(), "not a point"));
		}
	}
	ck_assert_int_gt(on, 0);
	ck_assert_int_gt(off, 0);
	BN_free(e);
	BN_free(v);
	BN_free(u);
	BN_free(t);
	BN_free(y);
	BN_free(d);
	BN_free(p);
	BN_CTX_free(ctx);
}
END_TEST

/* ---- OpenSSH public key lines ------------------------------------------ */

START_TEST(test_openssh_format_parse)
{
	uint8_t pub[32], back[32];
	char *line, *with_nl;
	ledger_key *key;

	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ledger_key_public(pub, key);

	ck_assert_int_eq(ledger_ed25519_openssh(&line, pub, "alice@nisc"), 0);
	/* Every ed25519 blob starts string("ssh-ed25519") string(32 bytes) = this base64. */
	ck_assert_int_eq(strncmp(line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37), 0);
	ck_assert_str_eq(line + strlen(line) - strlen(" alice@nisc"), " alice@nisc");
	ck_assert_int_eq(ledger_ed25519_parse_openssh(back, line), 0);
	ck_assert_mem_eq(back, pub, 32);
	ck_assert_int_ge(asprintf(&with_nl, "%s\n", line), 0);
	memset(back, 0, 32);
	ck_assert_int_eq(ledger_ed25519_parse_openssh(back, with_nl), 0);
	ck_assert_mem_eq(back, pub, 32);
	free(with_nl);
	free(line);

	ck_assert_int_eq(ledger_ed25519_openssh(&line, pub, NULL), 0);
	ck_assert_uint_eq(strlen(line), strlen("ssh-ed25519 ") + 68);
	ck_assert_int_eq(ledger_ed25519_parse_openssh(back, line), 0);
	ck_assert_mem_eq(back, pub, 32);
	free(line);
	ck_assert_int_eq(ledger_ed25519_openssh(&line, pub, ""), 0);
	ck_assert_uint_eq(strlen(line), strlen("ssh-ed25519 ") + 68);
	free(line);
	ck_assert_int_eq(ledger_ed25519_openssh(&line, pub, "two\nlines"), LEDGER_EINVALID);
	ck_assert_ptr_null(line);
	ledger_key_free(key);
}
END_TEST

START_TEST(test_openssh_parse_refuses)
{
	static const char *bad[] = {
		"",
		"ssh-ed25519",
		"ssh-ed25519 ",
		"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGl5f5Z9Zm9vYmFyYmF6cXV4cXV1eHh5enp5enl4d3Z1",
		"ssh-ed25519x AAAAC3NzaC1lZDI1NTE5AAAAIGl5f5Z9Zm9vYmFyYmF6cXV4cXV1eHh5enp5enl4d3Z1",
		/* 31-byte key */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHwABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4=",
		/* blob type "ssh-ed25518" */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE4AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f",
		/* a good blob and one trailing byte */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAA==",
		/* unpadded base64 */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAA",
		/* a second line */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f c\nssh-ed25519 x",
	};
	uint8_t pub[32];
	size_t i;

	/* The control line (the same encoding with the right type and length) parses. */
	ck_assert_int_eq(ledger_ed25519_parse_openssh(pub,
	        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f c"), 0);
	ck_assert_uint_eq(pub[0], 0);
	ck_assert_uint_eq(pub[31], 31);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(ledger_ed25519_parse_openssh(pub, bad[i]) < 0, "accepted \"%s\"", bad[i]);
}
END_TEST

/*
 * ssh-keygen's fingerprint of an ed25519 key: "SHA256:" and the unpadded
 * base64 of SHA-256 over string("ssh-ed25519") string(pub), computed here
 * with OpenSSL alone.
 */
static void expected_fingerprint(char out[80], const uint8_t pub[32])
{
	uint8_t blob[4 + 11 + 4 + 32] = { 0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9',
	                                  0, 0, 0, 32 };
	uint8_t digest[32];
	char b64[64];
	int n;

	memcpy(blob + 19, pub, 32);
	ck_assert_int_eq(EVP_Digest(blob, sizeof(blob), digest, NULL, EVP_sha256(), NULL), 1);
	n = EVP_EncodeBlock((unsigned char *)b64, digest, 32);
	ck_assert_int_eq(n, 44);
	b64[43] = '\0'; /* drop the one '=' */
	snprintf(out, 80, "SHA256:%s ", b64);
}

/*
 * ssh-keygen reads our .pub line and fingerprints the key openssl finds in
 * our PEM; and we parse ssh-keygen's own .pub line to the key it fingerprints.
 * (This ssh-keygen reads neither PKCS#8 Ed25519 keys nor exports them.)
 */
START_TEST(test_openssh_with_ssh_keygen)
{
	char *dir, *keyf, *pubf, *line, *cmd, *text, fp[80];
	uint8_t pub[32], parsed[32], *out;
	size_t out_len;
	ledger_key *key;

	if (!have_tool("ssh-keygen") || !have_tool("openssl")) {
		fprintf(stderr, "SKIP: ssh-keygen or openssl not found\n");
		return;
	}
	dir = testutil_tmpdir();
	ck_assert_ptr_nonnull(dir);
	keyf = path_in(dir, "alice.key");
	pubf = path_in(dir, "alice.pub");
	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ck_assert_int_eq(ledger_key_save(key, keyf), 0);
	ledger_key_public(pub, key);
	ck_assert_int_eq(ledger_ed25519_openssh(&line, pub, "alice"), 0);
	ck_assert_ptr_nonnull(text = malloc(strlen(line) + 2));
	sprintf(text, "%s\n", line);
	write_text(pubf, text, 0644);
	free(text);
	free(line);

	openssl_public_of(pub, keyf);
	expected_fingerprint(fp, pub);
	ck_assert_int_ge(asprintf(&cmd, "ssh-keygen -l -f '%s'", pubf), 0);
	out = run_capture(cmd, &out_len);
	ck_assert_msg(out != NULL, "ssh-keygen -l refused our public key line");
	ck_assert_msg(strstr((char *)out, fp) != NULL, "ssh-keygen says %s, expected %s", out, fp);
	ck_assert_ptr_nonnull(strstr((char *)out, " alice (ED25519)"));
	free(out);
	free(cmd);

	free(keyf);
	free(pubf);
	keyf = path_in(dir, "bob");
	pubf = path_in(dir, "bob.pub");
	ck_assert_int_ge(asprintf(&cmd, "ssh-keygen -q -t ed25519 -N '' -C bob -f '%s'", keyf), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	text = testutil_read_text(pubf);
	ck_assert_int_eq(ledger_ed25519_parse_openssh(parsed, text), 0);
	free(text);
	expected_fingerprint(fp, parsed);
	ck_assert_int_ge(asprintf(&cmd, "ssh-keygen -l -f '%s'", pubf), 0);
	out = run_capture(cmd, &out_len);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(strstr((char *)out, fp) != NULL, "ssh-keygen says %s, expected %s", out, fp);
	free(out);
	free(cmd);

	ledger_key_free(key);
	free(keyf);
	free(pubf);
	rm_rf(dir);
	free(dir);
}
END_TEST

static Suite *crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc;

	tc = tcase_create("encoding");
	tcase_add_test(tc, test_base64_rfc4648);
	tcase_add_test(tc, test_base64_refuses_non_canonical);
	tcase_add_test(tc, test_base64_roundtrip);
	tcase_add_test(tc, test_hex);
	tcase_add_test(tc, test_hex_every_byte);
	tcase_add_test(tc, test_sha256_and_key_id);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);

	tc = tcase_create("ed25519");
	tcase_add_test(tc, test_sign_verify);
	tcase_add_test(tc, test_signature_checked_by_openssl);
	tcase_add_test(tc, test_pubkey_verify_reused);
	tcase_add_test(tc, test_rfc8032_vectors);
	tcase_add_test(tc, test_verify_refuses_s_above_order);
	tcase_add_test(tc, test_key_type_mismatch);
	suite_add_tcase(s, tc);

	tc = tcase_create("x25519");
	tcase_add_test(tc, test_x25519_agreement);
	tcase_add_test(tc, test_x25519_rfc7748);
	tcase_add_test(tc, test_x25519_refuses_small_order_peer);
	suite_add_tcase(s, tc);

	tc = tcase_create("key files");
	tcase_add_test(tc, test_save_load);
	tcase_add_test(tc, test_load_refuses);
	tcase_add_test(tc, test_pem_read_by_openssl);
	suite_add_tcase(s, tc);

	tc = tcase_create("public key checks");
	tcase_add_test(tc, test_public_check_accepts_real_keys);
	tcase_add_test(tc, test_public_check_small_order);
	tcase_add_test(tc, test_verify_refuses_small_order_forgery);
	tcase_add_test(tc, test_public_check_non_canonical);
	tcase_add_test(tc, test_public_check_off_curve);
	suite_add_tcase(s, tc);

	tc = tcase_create("openssh");
	tcase_add_test(tc, test_openssh_format_parse);
	tcase_add_test(tc, test_openssh_parse_refuses);
	tcase_add_test(tc, test_openssh_with_ssh_keygen);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return testutil_run(crypto_suite());
}
