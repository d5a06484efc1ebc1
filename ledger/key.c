/*
 * Private keys (Ed25519 for signing, X25519 for sealing), hashing, random
 * bytes and the OpenSSH public key line.  Keys are stored as unencrypted
 * PKCS#8 PEM files of mode 0600, like OpenSSH's identity files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ledger/crypto.h"
#include "ledger/error.h"
#include "sshwire.h"

/* A PEM private key of either type is well under 1 KiB; refuse to slurp anything large. */
#define KEY_FILE_MAX 65536

struct ledger_key {
	ledger_key_type type;
	EVP_PKEY *pkey;
	uint8_t pub[32];
};

/* Set an LEDGER_ECRYPTO error naming what failed and OpenSSL's reason, and clear OpenSSL's queue. */
static int openssl_error(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	int r;

	if (reason)
		r = ledger_error_set(LEDGER_ECRYPTO, "%s: %s", what, reason);
	else
		r = ledger_error_set(LEDGER_ECRYPTO, "%s", what);
	ERR_clear_error();
	return r;
}

static const char *key_type_name(ledger_key_type type)
{
	return type == LEDGER_KEY_ED25519 ? "ED25519" : "X25519";
}

/* Wrap pkey (ownership taken, also on failure) in a new ledger_key. */
static int key_wrap(ledger_key **out, EVP_PKEY *pkey, ledger_key_type type)
{
	ledger_key *key;
	size_t len = sizeof(key->pub);

	key = calloc(1, sizeof(*key));
	if (!key) {
		EVP_PKEY_free(pkey);
		return ledger_error_set(LEDGER_ENOMEM, "key: out of memory");
	}
	key->type = type;
	key->pkey = pkey;
	if (EVP_PKEY_get_raw_public_key(pkey, key->pub, &len) != 1 || len != sizeof(key->pub)) {
		ledger_key_free(key);
		return openssl_error("key: cannot read the public key");
	}
	*out = key;
	return 0;
}

int ledger_key_generate(ledger_key **out, ledger_key_type type)
{
	EVP_PKEY *pkey;

	*out = NULL;
	if (type != LEDGER_KEY_ED25519 && type != LEDGER_KEY_X25519)
		return ledger_error_set(LEDGER_EINVALID, "key: unknown key type %d", (int)type);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, key_type_name(type));
	if (!pkey)
		return openssl_error("key: generation failed");
	return key_wrap(out, pkey, type);
}

/* Never prompt: an encrypted key is refused, not unlocked. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static int read_key_file(char **out, size_t *out_len, const char *path)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r = LEDGER_EIO;

	/* Not through a symbolic link; a FIFO at the path must not block the open. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return ledger_error_set(LEDGER_ENOTFOUND,
			                        "private key file \"%s\": no such file", path);
		if (errno == ELOOP)
			return ledger_error_set(LEDGER_EINVALID,
			                        "private key file \"%s\": a symbolic link", path);
		return ledger_error_set(LEDGER_EIO, "private key file \"%s\": %s",
		                        path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		ledger_error_set(LEDGER_EIO, "private key file \"%s\": %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		r = ledger_error_set(LEDGER_EINVALID,
		                     "private key file \"%s\": not a regular file", path);
		goto done;
	}
	if (st.st_uid != geteuid()) {
		r = ledger_error_set(LEDGER_EINVALID,
		                     "private key file \"%s\": owned by uid %lu, not by this user",
		                     path, (unsigned long)st.st_uid);
		goto done;
	}
	/* As OpenSSH does for identity files: a key others can read may have leaked. */
	if (st.st_mode & 077) {
		r = ledger_error_set(LEDGER_EINVALID,
		                     "private key file \"%s\": permissions %04o are too open "
		                     "(it must not be accessible by group or others; chmod 600 it)",
		                     path, (unsigned)(st.st_mode & 07777));
		goto done;
	}
	if (st.st_size > KEY_FILE_MAX) {
		r = ledger_error_set(LEDGER_EINVALID,
		                     "private key file \"%s\": too large for a key", path);
		goto done;
	}
	buf = OPENSSL_secure_malloc(KEY_FILE_MAX + 1);
	if (!buf) {
		r = ledger_error_set(LEDGER_ENOMEM, "private key file \"%s\": out of memory", path);
		goto done;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, KEY_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ledger_error_set(LEDGER_EIO, "private key file \"%s\": %s",
			                 path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEY_FILE_MAX) {
			r = ledger_error_set(LEDGER_EINVALID,
			                     "private key file \"%s\": too large for a key", path);
			goto done;
		}
	}
	*out = buf;
	buf = NULL; /* transferred */
	*out_len = len;
	r = 0;
done:
	OPENSSL_secure_clear_free(buf, KEY_FILE_MAX + 1);
	close(fd);
	return r;
}

int ledger_key_load(ledger_key **out, const char *path)
{
	char *pem = NULL;
	size_t pem_len = 0;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	ledger_key_type type;
	int r;

	*out = NULL;
	r = read_key_file(&pem, &pem_len, path);
	if (r < 0)
		return r;

	r = LEDGER_EINVALID;
	if (memmem(pem, pem_len, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37) ||
	    memmem(pem, pem_len, "Proc-Type: 4,ENCRYPTED", 22)) {
		ledger_error_set(LEDGER_EINVALID,
		                 "private key file \"%s\": the key is encrypted; only "
		                 "unencrypted PKCS#8 keys are supported", path);
		goto done;
	}
	if (memmem(pem, pem_len, "-----BEGIN OPENSSH PRIVATE KEY-----", 35)) {
		ledger_error_set(LEDGER_EINVALID,
		                 "private key file \"%s\": OpenSSH key format; a PKCS#8 "
		                 "PEM key (\"BEGIN PRIVATE KEY\") is expected", path);
		goto done;
	}
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	if (!bio) {
		r = openssl_error("key: out of memory");
		goto done;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (!pkey) {
		ERR_clear_error();
		ledger_error_set(LEDGER_EINVALID,
		                 "private key file \"%s\": not a PEM private key", path);
		goto done;
	}
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		type = LEDGER_KEY_ED25519;
	} else if (EVP_PKEY_is_a(pkey, "X25519")) {
		type = LEDGER_KEY_X25519;
	} else {
		ledger_error_set(LEDGER_EINVALID,
		                 "private key file \"%s\": unsupported key type \"%s\" "
		                 "(ED25519 or X25519 expected)",
		                 path, EVP_PKEY_get0_type_name(pkey));
		goto done;
	}
	r = key_wrap(out, pkey, type);
	pkey = NULL; /* transferred */
	if (r < 0)
		ledger_error_prefix("private key file \"%s\"", path);
done:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	OPENSSL_secure_clear_free(pem, KEY_FILE_MAX + 1);
	return r;
}

/* Write all of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Give tmp the name path, failing with EEXIST rather than replacing an existing file. */
static int rename_noreplace(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	/* The file system has no RENAME_NOREPLACE: link() also refuses to replace. */
	if (link(tmp, path) < 0)
		return -1;
	unlink(tmp);
	return 0;
}

/* fsync the directory holding path, so that the new name is durable. */
static int sync_parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, r;

	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return ledger_error_set(LEDGER_ENOMEM, "key: out of memory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = ledger_error_set(LEDGER_EIO, "directory \"%s\": fsync: %s", dir, strerror(errno));
	else
		r = 0;
	if (fd >= 0)
		close(fd);
	free(dir);
	return r;
}

int ledger_key_save(const ledger_key *key, const char *path)
{
	BIO *mem = NULL;
	char *pem, *tmp = NULL;
	long pem_len;
	struct stat st;
	int fd = -1, r = LEDGER_EIO;

	if (lstat(path, &st) == 0)
		return ledger_error_set(LEDGER_EEXISTS,
		                        "private key file \"%s\" already exists; not overwriting it",
		                        path);

	/* A secure-heap BIO: the PEM text is cleansed when the BIO is freed. */
	mem = BIO_new(BIO_s_secmem());
	if (!mem || !PEM_write_bio_PrivateKey(mem, key->pkey, NULL, NULL, 0, NULL, NULL)) {
		r = openssl_error("key: cannot encode the private key");
		goto done;
	}
	pem_len = BIO_get_mem_data(mem, &pem);

	if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
		tmp = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "key: out of memory");
		goto done;
	}
	/* mkostemp creates the file with O_CREAT|O_EXCL and mode 0600. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ledger_error_set(LEDGER_EIO, "private key file \"%s\": cannot create \"%s\": %s",
		                 path, tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto done;
	}
	if (write_all(fd, pem, (size_t)pem_len) < 0 || fsync(fd) < 0) {
		ledger_error_set(LEDGER_EIO, "private key file \"%s\": write: %s",
		                 path, strerror(errno));
		goto done;
	}
	if (close(fd) < 0) {
		fd = -1;
		ledger_error_set(LEDGER_EIO, "private key file \"%s\": close: %s",
		                 path, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename_noreplace(tmp, path) < 0) {
		if (errno == EEXIST)
			r = ledger_error_set(LEDGER_EEXISTS,
			                     "private key file \"%s\" already exists; not overwriting it",
			                     path);
		else
			ledger_error_set(LEDGER_EIO, "private key file \"%s\": rename: %s",
			                 path, strerror(errno));
		goto done;
	}
	free(tmp);
	tmp = NULL; /* now the final name */
	r = sync_parent_dir(path);
done:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	BIO_free(mem);
	return r;
}

void ledger_key_free(ledger_key *key)
{
	if (!key)
		return;
	/* OpenSSL cleanses the private half when the EVP_PKEY is freed. */
	EVP_PKEY_free(key->pkey);
	OPENSSL_cleanse(key, sizeof(*key));
	free(key);
}

ledger_key_type ledger_key_type_of(const ledger_key *key)
{
	return key->type;
}

void ledger_key_public(uint8_t out[32], const ledger_key *key)
{
	memcpy(out, key->pub, sizeof(key->pub));
}

int ledger_key_sign(uint8_t sig[LEDGER_ED25519_SIG_LEN], const ledger_key *key,
                    const uint8_t *msg, size_t len)
{
	EVP_MD_CTX *ctx = NULL;
	size_t sig_len = LEDGER_ED25519_SIG_LEN;
	int r;

	if (key->type != LEDGER_KEY_ED25519)
		return ledger_error_set(LEDGER_EINVALID, "sign: not an Ed25519 key");
	ctx = EVP_MD_CTX_new();
	/* Ed25519 is "pure": no separate digest, the whole message goes in one call. */
	if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, msg ? msg : (const uint8_t *)"", len) != 1 ||
	    sig_len != LEDGER_ED25519_SIG_LEN)
		r = openssl_error("sign: Ed25519 signing failed");
	else
		r = 0;
	EVP_MD_CTX_free(ctx);
	return r;
}

int ledger_x25519(uint8_t shared[32], const ledger_key *key, const uint8_t peer[32])
{
	EVP_PKEY *peer_key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = 32;
	uint8_t acc = 0;
	int i, r = LEDGER_ECRYPTO;

	if (key->type != LEDGER_KEY_X25519)
		return ledger_error_set(LEDGER_EINVALID, "x25519: not an X25519 key");
	peer_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
	if (!peer_key || !ctx || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, peer_key) != 1) {
		openssl_error("x25519: cannot set up the key agreement");
		goto done;
	}
	/* OpenSSL fails the derivation itself when the result is all zero. */
	if (EVP_PKEY_derive(ctx, shared, &len) != 1 || len != 32) {
		openssl_error("x25519: key agreement failed (small-order peer key?)");
		goto done;
	}
	/* Checked again here so that the refusal does not depend on the OpenSSL version. */
	for (i = 0; i < 32; i++)
		acc |= shared[i];
	if (acc == 0) {
		ledger_error_set(LEDGER_ECRYPTO, "x25519: small-order peer key (all-zero shared secret)");
		goto done;
	}
	r = 0;
done:
	if (r < 0)
		OPENSSL_cleanse(shared, 32);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer_key);
	return r;
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/*
 * EVP_sha256() makes every EVP_Digest look its implementation up in the
 * provider again (over a third of hashing a record's 1 KB); fetched once,
 * it is not.  Held until the process ends.
 */
static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void ledger_sha256(uint8_t out[LEDGER_SHA256_LEN], const void *data, size_t len)
{
	/*
	 * Only a broken OpenSSL installation can fail SHA-256; the API has no
	 * error path and a wrong hash would be worse than stopping.
	 */
	if (pthread_once(&sha256_once, sha256_fetch) != 0 || !sha256_md ||
	    EVP_Digest(data, len, out, NULL, sha256_md, NULL) != 1)
		abort();
}

void ledger_sha256_hex(char out[LEDGER_HEX_ID_LEN + 1], const void *data, size_t len)
{
	uint8_t digest[LEDGER_SHA256_LEN];

	ledger_sha256(digest, data, len);
	ledger_hex(out, digest, sizeof(digest));
}

void ledger_key_id(char out[LEDGER_HEX_ID_LEN + 1], const uint8_t pub[32])
{
	ledger_sha256_hex(out, pub, 32);
}

int ledger_random(uint8_t *buf, size_t len)
{
	while (len > 0) {
		int chunk = len > INT_MAX ? INT_MAX : (int)len;

		if (RAND_bytes(buf, chunk) != 1)
			return openssl_error("random: RAND_bytes failed");
		buf += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int ledger_ed25519_openssh(char **out, const uint8_t pub[32], const char *comment)
{
	struct sshwire_buf blob = { 0 };
	char *b64 = NULL;
	int r;

	*out = NULL;
	if (comment && strpbrk(comment, "\r\n"))
		return ledger_error_set(LEDGER_EINVALID,
		                        "openssh public key: the comment must be a single line");
	sshwire_put_ed25519_public(&blob, pub);
	if (blob.failed) {
		r = ledger_error_set(LEDGER_ENOMEM, "openssh public key: out of memory");
		goto done;
	}
	r = ledger_base64_encode(&b64, blob.data, blob.len);
	if (r < 0)
		goto done;
	if (asprintf(out, "%s %s%s%s", SSHWIRE_ED25519, b64,
	             comment && *comment ? " " : "", comment ? comment : "") < 0) {
		*out = NULL;
		r = ledger_error_set(LEDGER_ENOMEM, "openssh public key: out of memory");
		goto done;
	}
	r = 0;
done:
	free(b64);
	sshwire_buf_release(&blob);
	return r;
}

int ledger_ed25519_parse_openssh(uint8_t out[32], const char *line)
{
	const size_t type_len = strlen(SSHWIRE_ED25519);
	struct sshwire_reader rd;
	const uint8_t *pub;
	const char *p, *end, *eol;
	char *field = NULL;
	uint8_t *blob = NULL;
	size_t blob_len;
	int r = LEDGER_EINVALID;

	if (strncmp(line, SSHWIRE_ED25519, type_len) != 0 ||
	    (line[type_len] != ' ' && line[type_len] != '\t'))
		return ledger_error_set(LEDGER_EINVALID,
		                        "openssh public key: not an \"ssh-ed25519\" key line");
	p = line + type_len + strspn(line + type_len, " \t");
	end = p + strcspn(p, " \t\r\n");
	/* A line read from a file may keep its newline; nothing may follow it. */
	eol = end + strcspn(end, "\r\n");
	if (*eol && strcmp(eol, "\n") != 0 && strcmp(eol, "\r\n") != 0) {
		ledger_error_set(LEDGER_EINVALID, "openssh public key: more than one line");
		goto done;
	}
	field = strndup(p, (size_t)(end - p));
	if (!field) {
		r = ledger_error_set(LEDGER_ENOMEM, "openssh public key: out of memory");
		goto done;
	}
	r = ledger_base64_decode(&blob, &blob_len, field);
	if (r < 0) {
		ledger_error_prefix("openssh public key");
		goto done;
	}
	rd.p = blob;
	rd.left = blob_len;
	if (sshwire_get_ed25519_blob(&rd, &pub, 32) < 0) {
		r = ledger_error_set(LEDGER_EINVALID,
		                     "openssh public key: the key blob is not an ssh-ed25519 key");
		goto done;
	}
	memcpy(out, pub, 32);
	r = 0;
done:
	free(blob);
	free(field);
	return r;
}
