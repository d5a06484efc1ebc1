/*
 * git's SSH signature format (OpenSSH PROTOCOL.sshsig): the armoured SSHSIG
 * that git stores in a commit's gpgsig header when gpg.format=ssh.
 */
#ifndef LEDGER_SSHSIG_H
#define LEDGER_SSHSIG_H

#include <stddef.h>
#include <stdint.h>
#include "ledger/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Sign data (hash sha512) in `namespace` ("git" for commits) with an Ed25519
 * key.  *out is the malloc'd armour, "-----BEGIN SSH SIGNATURE-----\n" ...
 * "-----END SSH SIGNATURE-----\n", lines of 70 characters, as ssh-keygen -Y
 * sign writes it.
 */
int ledger_sshsig_sign(char **out, const ledger_key *key, const char *namespace,
                       const uint8_t *data, size_t len);

/*
 * Verify an armoured SSHSIG over data in `namespace`: 0 and the signer's raw
 * public key in signer_pub when valid; LEDGER_ECRYPTO or LEDGER_EINVALID
 * with a message when not.
 */
int ledger_sshsig_verify(uint8_t signer_pub[32], const char *armour,
                         const char *namespace, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
