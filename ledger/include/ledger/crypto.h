/*
 * Keys and signatures: Ed25519 signing keys, X25519 sealing keys, key ids,
 * encodings.  Every OpenSSL call of the library lives behind this header.
 */
#ifndef LEDGER_CRYPTO_H
#define LEDGER_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LEDGER_ED25519_PUBLIC_LEN 32
#define LEDGER_ED25519_SIG_LEN 64
#define LEDGER_X25519_PUBLIC_LEN 32
#define LEDGER_SHA256_LEN 32
#define LEDGER_HEX_ID_LEN 64 /* key ids and record ids: lowercase hex SHA-256 */

typedef enum {
	LEDGER_KEY_ED25519 = 1, /* signing */
	LEDGER_KEY_X25519 = 2   /* sealing (key agreement) */
} ledger_key_type;

/* A private key with its public half.  Opaque; the secret is wiped on free. */
typedef struct ledger_key ledger_key;

int ledger_key_generate(ledger_key **out, ledger_key_type type);

/* Load a PKCS#8 PEM private key (unencrypted) of either type; errors name the file. */
int ledger_key_load(ledger_key **out, const char *path);

/*
 * Write the private key as PKCS#8 PEM, created with mode 0600, written to a
 * temporary file, fsync'd and renamed into place.  Refuses (LEDGER_EEXISTS)
 * to replace an existing file.
 */
int ledger_key_save(const ledger_key *key, const char *path);

void ledger_key_free(ledger_key *key);

ledger_key_type ledger_key_type_of(const ledger_key *key);

/* The raw 32-byte public key. */
void ledger_key_public(uint8_t out[32], const ledger_key *key);

/* Ed25519 (RFC 8032, pure) signature of msg; the key must be LEDGER_KEY_ED25519. */
int ledger_key_sign(uint8_t sig[LEDGER_ED25519_SIG_LEN], const ledger_key *key,
                    const uint8_t *msg, size_t len);

/*
 * Verify an Ed25519 signature: 0 when valid, LEDGER_ECRYPTO when not (with a
 * message).  Signatures with a non-canonical S are refused.
 */
int ledger_ed25519_verify(const uint8_t pub[LEDGER_ED25519_PUBLIC_LEN],
                          const uint8_t *msg, size_t len,
                          const uint8_t *sig, size_t sig_len);

/*
 * A checked Ed25519 public key, ready for many verifications: the key check
 * and OpenSSL's key object are made once.  Safe to share between threads.
 */
typedef struct ledger_pubkey ledger_pubkey;

/* Refuses (LEDGER_EINVALID) what ledger_ed25519_public_check refuses. */
int ledger_pubkey_new(ledger_pubkey **out, const uint8_t pub[LEDGER_ED25519_PUBLIC_LEN]);
/* As ledger_ed25519_verify, with the key already checked. */
int ledger_pubkey_verify(const ledger_pubkey *pk, const uint8_t *msg, size_t len,
                         const uint8_t *sig, size_t sig_len);
void ledger_pubkey_free(ledger_pubkey *pk);

/*
 * Refuse an Ed25519 public key that is not canonically encoded (y >= p) or
 * that is of small order: LEDGER_EINVALID with a message, else 0.
 */
int ledger_ed25519_public_check(const uint8_t pub[LEDGER_ED25519_PUBLIC_LEN]);

/* X25519 shared secret; refuses an all-zero result (small-order peer). */
int ledger_x25519(uint8_t shared[32], const ledger_key *key, const uint8_t peer[32]);

/* Key id: lowercase hex SHA-256 of the raw public key, NUL-terminated. */
void ledger_key_id(char out[LEDGER_HEX_ID_LEN + 1], const uint8_t pub[32]);

void ledger_sha256(uint8_t out[LEDGER_SHA256_LEN], const void *data, size_t len);
void ledger_sha256_hex(char out[LEDGER_HEX_ID_LEN + 1], const void *data, size_t len);

/* Fill buf with len bytes from OpenSSL's CSPRNG. */
int ledger_random(uint8_t *buf, size_t len);

/* Standard base64 with padding (RFC 4648 section 4), malloc'd, NUL-terminated. */
int ledger_base64_encode(char **out, const uint8_t *data, size_t len);
/*
 * Decode standard padded base64, refusing anything non-canonical: whitespace,
 * missing padding, non-zero trailing bits.  *out is malloc'd.
 */
int ledger_base64_decode(uint8_t **out, size_t *out_len, const char *text);

/* "ssh-ed25519 <base64 of the SSH wire blob> [comment]", malloc'd. */
int ledger_ed25519_openssh(char **out, const uint8_t pub[32], const char *comment);
/* Parse an "ssh-ed25519 AAAA... [comment]" line to the raw public key. */
int ledger_ed25519_parse_openssh(uint8_t out[32], const char *line);

/* Lowercase hex of data, NUL-terminated into out (2*len+1 bytes). */
void ledger_hex(char *out, const uint8_t *data, size_t len);
/* Parse exactly 2*len lowercase hex digits; LEDGER_EINVALID otherwise. */
int ledger_unhex(uint8_t *out, size_t len, const char *hex);

#ifdef __cplusplus
}
#endif

#endif
