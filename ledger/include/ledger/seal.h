/*
 * Sealed content (FORMAT.md section 6): the confidential part of a c2 or c3
 * record, encrypted for its recipients.
 *
 *   {"alg": "X25519-HKDF-SHA256-A256GCM",
 *    "recipients": [{"kid": <64 hex>, "epk": <b64 32>, "key": <b64 40>}, ...],
 *    "iv": <b64 12>, "ct": <b64: ciphertext || 16-byte tag>}
 *
 * A random 32-byte content key encrypts JCS(confidential object) with
 * AES-256-GCM (a random 12-byte iv, the ASCII alg string as additional
 * data).  For each recipient, a fresh ephemeral X25519 key `epk` agrees a
 * secret with the recipient's X25519 key; HKDF-SHA256 (no salt, info
 * "CYMAT-LEDGER-SEAL-V1" 0x00 epk recipient-public-key) turns it into a
 * key-encryption key that wraps the content key with AES-256 key wrap
 * (RFC 3394).  `kid` is the recipient's Ed25519 key id (FORMAT.md section
 * 1), so that a reader finds its entry.  docs/FORMAT.md gives the reasons.
 */
#ifndef LEDGER_SEAL_H
#define LEDGER_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "ledger/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LEDGER_SEAL_ALG "X25519-HKDF-SHA256-A256GCM"
#define LEDGER_SEAL_MAX_RECIPIENTS 256

/* One recipient of a sealed object. */
typedef struct {
	const char *kid;                           /* 64 lowercase hex: the Ed25519 key id */
	uint8_t x25519[LEDGER_X25519_PUBLIC_LEN];  /* the X25519 key its binding carries */
} ledger_seal_recipient;

/*
 * Seal `confidential` (a JSON object, borrowed) for `count` recipients, in
 * the order given: *out is a new sealed object.  LEDGER_EINVALID when the
 * object is not one, when there are no or more than
 * LEDGER_SEAL_MAX_RECIPIENTS recipients, a kid is malformed or given twice;
 * LEDGER_ECRYPTO when a recipient's X25519 key is of small order (its kid
 * named).
 */
int ledger_seal(json_t **out, const json_t *confidential,
                const ledger_seal_recipient *recipients, size_t count);

/*
 * Open `sealed` (borrowed) as the recipient `kid` holding the X25519
 * private key `key`: *out is the confidential object, a new reference.
 * LEDGER_EINVALID when `sealed` fails ledger_seal_check or the content is
 * not a JSON object in its JCS form; LEDGER_ENOTFOUND when no entry names
 * `kid`; LEDGER_ECRYPTO when the entry does not open with `key` (another
 * key, a tampered epk or key, a small-order epk) or the content fails its
 * authentication (a tampered iv or ct).
 */
int ledger_unseal(json_t **out, const json_t *sealed, const char *kid, const ledger_key *key);

/*
 * The structure of a sealed object: exactly the members alg (the one
 * algorithm above), recipients (1 to LEDGER_SEAL_MAX_RECIPIENTS objects of
 * exactly kid, epk and key, kids unique), iv and ct; kid 64 lowercase hex,
 * the binary values canonical standard base64 of 32 (epk), 40 (key), 12
 * (iv) and at least 18 (ct: a tag and "{}") bytes.  0, or LEDGER_EINVALID
 * with a message naming the member.
 */
int ledger_seal_check(const json_t *sealed);

#ifdef __cplusplus
}
#endif

#endif
