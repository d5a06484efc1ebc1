/*
 * SSHSIG signatures (ledger/sshsig.h), checked against stock ssh-keygen in
 * both directions: ssh-keygen -Y verify accepts ours, we accept its own, and
 * for the same key both produce the very same armour (Ed25519 is
 * deterministic).  The ssh-keygen tests skip when it is missing.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "testutil.h"

#define BEGIN "-----BEGIN SSH SIGNATURE-----\n"
#define END "-----END SSH SIGNATURE-----\n"

static const char commit_payload[] =
	"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
	"author nisc/alice <0123@cymat.invalid> 1764115200 +0000\n"
	"committer nisc/alice <0123@cymat.invalid> 1764115200 +0000\n"
	"\n"
	"principal: bind nisc/bob\n";

/* ---- helpers ---------------------------------------------------------- */

static int have_ssh_keygen(void)
{
	if (system("command -v ssh-keygen >/dev/null 2>&1") == 0)
		return 1;
	fprintf(stderr, "SKIP: ssh-keygen not found\n");
	return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a shell command built printf-style; returns system()'s status. */
static int run(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
	va_end(ap);
	rc = system(cmd);
	free(cmd);
	return rc;
}

static void rm_rf(const char *dir)
{
	ck_assert_int_eq(run("rm -rf '%s'", dir), 0);
}

static const char *last_message(void)
{
	const ledger_error *e = ledger_error_last();

	return e ? e->message : "";
}

static int verify(const char *armour, const char *ns, const char *data, size_t len)
{
	uint8_t signer[32];

	return ledger_sshsig_verify(signer, armour, ns, (const uint8_t *)data, len);
}

/*
 * The Ed25519 seed of an unencrypted OpenSSH private key file
 * (PROTOCOL.key: "openssh-key-v1\0", cipher "none", kdf "none", one key;
 * the private section holds string(pub) string(seed || pub)).
 */
static void openssh_private_seed(uint8_t seed[32], uint8_t pub[32], const char *path)
{
	static const char magic[] = "openssh-key-v1";
	char *text = testutil_read_text(path), *b64, *w;
	const char *p;
	uint8_t *blob, *q;
	size_t blob_len;
	uint32_t n;

#define GET_U32(q) ((uint32_t)(q)[0] << 24 | (uint32_t)(q)[1] << 16 | (uint32_t)(q)[2] << 8 | (q)[3])
	p = strstr(text, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
	ck_assert_ptr_nonnull(p);
	p += strlen("-----BEGIN OPENSSH PRIVATE KEY-----\n");
	b64 = w = malloc(strlen(p) + 1);
	ck_assert_ptr_nonnull(b64);
	for (; *p && *p != '-'; p++)
		if (*p != '\n')
			*w++ = *p;
	*w = '\0';
	ck_assert_int_eq(ledger_base64_decode(&blob, &blob_len, b64), 0);
	ck_assert_uint_gt(blob_len, sizeof(magic) + 200);
	ck_assert_mem_eq(blob, magic, sizeof(magic));
	q = blob + sizeof(magic);
	/* cipher "none", kdf "none", empty kdf options, one key */
	ck_assert_mem_eq(q, "\0\0\0\4none\0\0\0\4none\0\0\0\0\0\0\0\1", 24);
	q += 24;
	n = GET_U32(q); /* public key blob */
	q += 4 + n;
	q += 4;         /* length of the private section */
	ck_assert_mem_eq(q, q + 4, 4); /* the two check integers */
	q += 8;
	ck_assert_mem_eq(q, "\0\0\0\13ssh-ed25519\0\0\0\40", 19);
	q += 19;
	memcpy(pub, q, 32);
	q += 32;
	ck_assert_mem_eq(q, "\0\0\0\100", 4);
	q += 4;
	memcpy(seed, q, 32);
	ck_assert_mem_eq(q + 32, pub, 32);
#undef GET_U32
	OPENSSL_cleanse(blob, blob_len);
	OPENSSL_cleanse(b64, strlen(b64));
	OPENSSL_cleanse(text, strlen(text));
	free(blob);
	free(b64);
	free(text);
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_sign_verify_roundtrip)
{
	uint8_t pub[32], signer[32] = { 0 };
	char *armour, *again, *line;
	size_t n_lines = 0, len;
	ledger_key *key;

	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ledger_key_public(pub, key);
	ck_assert_int_eq(ledger_sshsig_sign(&armour, key, "git", (const uint8_t *)commit_payload,
	                                    strlen(commit_payload)), 0);
	ck_assert_int_eq(ledger_sshsig_verify(signer, armour, "git",
	                                      (const uint8_t *)commit_payload,
	                                      strlen(commit_payload)), 0);
	ck_assert_mem_eq(signer, pub, 32);

	/* The armour: markers, lines of 70 columns but the last, a final newline. */
	len = strlen(armour);
	ck_assert_int_eq(strncmp(armour, BEGIN, strlen(BEGIN)), 0);
	ck_assert_str_eq(armour + len - strlen(END), END);
	for (line = armour + strlen(BEGIN); strncmp(line, END, strlen(END)) != 0;) {
		size_t w = strcspn(line, "\n");
		int last = strncmp(line + w + 1, END, strlen(END)) == 0;

		if (last)
			ck_assert(w >= 1 && w <= 70);
		else
			ck_assert_uint_eq(w, 70);
		line += w + 1;
		n_lines++;
	}
	ck_assert_uint_ge(n_lines, 2);
	/* The blob starts "SSHSIG" uint32(1). */
	ck_assert_int_eq(strncmp(armour + strlen(BEGIN), "U1NIU0lHAAAAAQ", 14), 0);

	/* Ed25519 is deterministic. */
	ck_assert_int_eq(ledger_sshsig_sign(&again, key, "git", (const uint8_t *)commit_payload,
	                                    strlen(commit_payload)), 0);
	ck_assert_str_eq(armour, again);
	free(again);
	free(armour);

	/* Empty data. */
	ck_assert_int_eq(ledger_sshsig_sign(&armour, key, "git", NULL, 0), 0);
	ck_assert_int_eq(verify(armour, "git", NULL, 0), 0);
	ck_assert_int_eq(verify(armour, "git", "x", 1), LEDGER_ECRYPTO);
	free(armour);
	ledger_key_free(key);
}
END_TEST

START_TEST(test_verify_refuses_tampering)
{
	char data[sizeof(commit_payload)];
	size_t len = strlen(commit_payload), i, body;
	char *armour, *bad;
	ledger_key *key, *x;

	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ck_assert_int_eq(ledger_sshsig_sign(&armour, key, "git", (const uint8_t *)commit_payload,
	                                    len), 0);
	ck_assert_int_eq(verify(armour, "git", commit_payload, len), 0);

	/* Other data. */
	memcpy(data, commit_payload, sizeof(data));
	data[len - 2] ^= 1;
	ck_assert_int_eq(verify(armour, "git", data, len), LEDGER_ECRYPTO);
	ck_assert_int_eq(verify(armour, "git", commit_payload, len - 1), LEDGER_ECRYPTO);

	/* Other namespaces, including a prefix of the real one. */
	ck_assert_int_eq(verify(armour, "file", commit_payload, len), LEDGER_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(last_message(), "namespace"));
	ck_assert_int_eq(verify(armour, "gi", commit_payload, len), LEDGER_ECRYPTO);
	ck_assert_int_eq(verify(armour, "gitx", commit_payload, len), LEDGER_ECRYPTO);

	/* Any changed base64 character in the last line (the signature bytes). */
	body = strlen(armour) - strlen(END) - 2;
	for (i = body - 20; i < body; i++) {
		bad = strdup(armour);
		ck_assert_ptr_nonnull(bad);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		ck_assert_msg(verify(bad, "git", commit_payload, len) < 0,
		              "armour changed at %zu still verifies", i);
		free(bad);
	}

	/* Broken armour. */
	ck_assert_int_eq(verify(armour + 1, "git", commit_payload, len), LEDGER_EINVALID);
	bad = strdup(armour);
	bad[strlen(bad) - strlen(END)] = '\0';
	ck_assert_int_eq(verify(bad, "git", commit_payload, len), LEDGER_EINVALID);
	free(bad);
	ck_assert_int_ge(asprintf(&bad, "%sjunk\n", armour), 0);
	ck_assert_int_eq(verify(bad, "git", commit_payload, len), LEDGER_EINVALID);
	free(bad);
	/* One base64 line left out. */
	bad = strdup(armour);
	memmove(bad + strlen(BEGIN), bad + strlen(BEGIN) + 71, strlen(bad + strlen(BEGIN) + 71) + 1);
	ck_assert_int_eq(verify(bad, "git", commit_payload, len), LEDGER_EINVALID);
	free(bad);
	/* Without the final newline, as a caller may strip it: still fine. */
	bad = strdup(armour);
	bad[strlen(bad) - 1] = '\0';
	ck_assert_int_eq(verify(bad, "git", commit_payload, len), 0);
	free(bad);

	/* Signing needs an Ed25519 key and a namespace. */
	ck_assert_int_eq(ledger_key_generate(&x, LEDGER_KEY_X25519), 0);
	ck_assert_int_eq(ledger_sshsig_sign(&bad, x, "git", (const uint8_t *)"d", 1), LEDGER_EINVALID);
	ck_assert_ptr_null(bad);
	ck_assert_int_eq(ledger_sshsig_sign(&bad, key, "", (const uint8_t *)"d", 1), LEDGER_EINVALID);
	ledger_key_free(x);
	free(armour);
	ledger_key_free(key);
}
END_TEST

/* Ours, checked by `ssh-keygen -Y verify` against an allowed_signers file. */
#define VERIFY_CMD \
	"ssh-keygen -Y verify -f '%s' -I nisc/alice -n %s -s '%s' < '%s' >/dev/null 2>&1"
START_TEST(test_ssh_keygen_verifies_ours)
{
	char *dir, *allowed, *datf, *sigf, *baddatf, *armour, *line, *signers;
	size_t len = strlen(commit_payload);
	uint8_t pub[32];
	ledger_key *key;

	if (!have_ssh_keygen())
		return;
	dir = testutil_tmpdir();
	ck_assert_ptr_nonnull(dir);
	allowed = path_in(dir, "allowed_signers");
	datf = path_in(dir, "payload");
	baddatf = path_in(dir, "payload.bad");
	sigf = path_in(dir, "payload.sig");

	ck_assert_int_eq(ledger_key_generate(&key, LEDGER_KEY_ED25519), 0);
	ledger_key_public(pub, key);
	ck_assert_int_eq(ledger_ed25519_openssh(&line, pub, NULL), 0);
	ck_assert_int_ge(asprintf(&signers, "nisc/alice %s\n", line), 0);
	write_file(allowed, signers, strlen(signers));
	write_file(datf, commit_payload, len);
	write_file(baddatf, commit_payload, len - 1);
	ck_assert_int_eq(ledger_sshsig_sign(&armour, key, "git", (const uint8_t *)commit_payload,
	                                    len), 0);
	write_file(sigf, armour, strlen(armour));

	ck_assert_int_eq(run(VERIFY_CMD, allowed, "git", sigf, datf), 0);
	/* The controls: ssh-keygen refuses other data and another namespace. */
	ck_assert_int_ne(run(VERIFY_CMD, allowed, "git", sigf, baddatf), 0);
	ck_assert_int_ne(run(VERIFY_CMD, allowed, "file", sigf, datf), 0);

	free(armour);
	free(signers);
	free(line);
	ledger_key_free(key);
	free(allowed);
	free(datf);
	free(baddatf);
	free(sigf);
	rm_rf(dir);
	free(dir);
}
END_TEST

/*
 * Made by `ssh-keygen -Y sign`, verified by us; and the same key, converted
 * to PKCS#8 and loaded through ledger_key_load, signs byte for byte the same.
 */
START_TEST(test_we_verify_ssh_keygen)
{
	char *dir, *keyf, *pubf, *datf, *sigf, *pemf, *theirs, *ours, *text;
	size_t len = strlen(commit_payload);
	uint8_t pub[32], signer[32], seed[32], file_pub[32];
	ledger_key *key;
	EVP_PKEY *pkey;
	FILE *f;

	if (!have_ssh_keygen())
		return;
	dir = testutil_tmpdir();
	ck_assert_ptr_nonnull(dir);
	keyf = path_in(dir, "id_ed25519");
	pubf = path_in(dir, "id_ed25519.pub");
	datf = path_in(dir, "payload");
	sigf = path_in(dir, "payload.sig");
	pemf = path_in(dir, "alice.key");

	ck_assert_int_eq(run("ssh-keygen -q -t ed25519 -N '' -C alice -f '%s'", keyf), 0);
	write_file(datf, commit_payload, len);
	ck_assert_int_eq(run("ssh-keygen -q -Y sign -n git -f '%s' '%s'", keyf, datf), 0);
	theirs = testutil_read_text(sigf);
	text = testutil_read_text(pubf);
	ck_assert_int_eq(ledger_ed25519_parse_openssh(pub, text), 0);
	free(text);

	ck_assert_int_eq(ledger_sshsig_verify(signer, theirs, "git", (const uint8_t *)commit_payload,
	                                      len), 0);
	ck_assert_mem_eq(signer, pub, 32);
	ck_assert_int_eq(ledger_sshsig_verify(signer, theirs, "git", (const uint8_t *)commit_payload,
	                                      len - 1), LEDGER_ECRYPTO);
	ck_assert_int_eq(ledger_sshsig_verify(signer, theirs, "file",
	                                      (const uint8_t *)commit_payload, len), LEDGER_ECRYPTO);

	/* The same key through PKCS#8: an identical signature. */
	openssh_private_seed(seed, file_pub, keyf);
	ck_assert_mem_eq(file_pub, pub, 32);
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	ck_assert_ptr_nonnull(pkey);
	f = fopen(pemf, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(pkey);
	OPENSSL_cleanse(seed, sizeof(seed));
	ck_assert_int_eq(chmod(pemf, 0600), 0);
	ck_assert_int_eq(ledger_key_load(&key, pemf), 0);
	ck_assert_int_eq(ledger_sshsig_sign(&ours, key, "git", (const uint8_t *)commit_payload,
	                                    len), 0);
	ck_assert_str_eq(ours, theirs);

	free(ours);
	free(theirs);
	ledger_key_free(key);
	free(keyf);
	free(pubf);
	free(datf);
	free(sigf);
	free(pemf);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* ssh-keygen -Y sign -O hashalg=sha256 is valid SSHSIG, but not what the ledger accepts. */
START_TEST(test_refuses_sha256)
{
	char *dir, *keyf, *datf, *sigf, *theirs;
	size_t len = strlen(commit_payload);

	if (!have_ssh_keygen())
		return;
	dir = testutil_tmpdir();
	ck_assert_ptr_nonnull(dir);
	keyf = path_in(dir, "id_ed25519");
	datf = path_in(dir, "payload");
	sigf = path_in(dir, "payload.sig");
	ck_assert_int_eq(run("ssh-keygen -q -t ed25519 -N '' -f '%s'", keyf), 0);
	write_file(datf, commit_payload, len);
	ck_assert_int_eq(run("ssh-keygen -q -Y sign -O hashalg=sha256 -n git -f '%s' '%s'",
	                     keyf, datf), 0);
	theirs = testutil_read_text(sigf);
	ck_assert_int_eq(verify(theirs, "git", commit_payload, len), LEDGER_EINVALID);
	ck_assert_ptr_nonnull(strstr(last_message(), "sha256"));
	free(theirs);
	free(keyf);
	free(datf);
	free(sigf);
	rm_rf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sshsig");
	TCase *tc = tcase_create("sshsig");

	tcase_add_test(tc, test_sign_verify_roundtrip);
	tcase_add_test(tc, test_verify_refuses_tampering);
	tcase_add_test(tc, test_ssh_keygen_verifies_ours);
	tcase_add_test(tc, test_we_verify_ssh_keygen);
	tcase_add_test(tc, test_refuses_sha256);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
