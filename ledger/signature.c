/*
 * Ed25519 signature verification and public key checks.  OpenSSL does the
 * curve arithmetic; the checks here make the accepted set of keys and
 * signatures explicit, so that it does not depend on the OpenSSL version:
 * canonical S (RFC 8032 section 5.1.7), canonical point encodings, no
 * small-order keys (a small-order key admits signatures that verify for
 * many messages without any secret).
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "ledger/crypto.h"
#include "ledger/error.h"

/* The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t group_order[32] = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10
};

/*
 * The y coordinates (little-endian, sign bit clear) of the eight points of
 * order dividing 8, the torsion subgroup of edwards25519.  Worked out from
 * the curve -x^2 + y^2 = 1 + d x^2 y^2:
 *   order 1: (0, 1), the identity;  order 2: (0, -1);
 *   order 4: (+-sqrt(-1), 0);
 *   order 8: the points whose double has y = 0, i.e. x^2 = -y^2, which gives
 *            d y^4 + 2 y^2 - 1 = 0 and the two y values below (each with
 *            both signs of x).
 * Every one of them is refused whatever the sign bit; the non-canonical
 * spellings (y + p) are refused earlier by the y < p check.
 */
static const uint8_t small_order_y[][32] = {
	/* y = 1 (identity) */
	{ 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 },
	/* y = p - 1 (order 2) */
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	/* y = 0 (order 4) */
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 },
	/* order 8 */
	{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
	  0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
	/* order 8, the negation of the previous y */
	{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
	  0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
};

/* Is the little-endian number a < b (both 32 bytes)? */
static int le_less(const uint8_t a[32], const uint8_t b[32])
{
	int i;

	for (i = 31; i >= 0; i--)
		if (a[i] != b[i])
			return a[i] < b[i];
	return 0;
}

/* Is y (sign bit already clear) >= p = 2^255 - 19? */
static int y_is_non_canonical(const uint8_t y[32])
{
	int i;

	if (y[31] != 0x7f)
		return 0;
	for (i = 30; i >= 1; i--)
		if (y[i] != 0xff)
			return 0;
	return y[0] >= 0xed;
}

/* d = -121665 / 121666 mod p, the curve constant, little-endian. */
static const uint8_t curve_d[32] = {
	0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75, 0xab, 0xd8, 0x41, 0x41, 0x4d, 0x0a, 0x70, 0x00,
	0x98, 0xe8, 0x79, 0x77, 0x79, 0x40, 0xc7, 0x8c, 0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52
};

/*
 * Does y belong to a point of the curve, i.e. is x^2 = (y^2 - 1) / (d y^2 + 1)
 * a square mod p?  u / v is a square exactly when u v is (v is never 0, as
 * -1/d is not a square), which Euler's criterion decides without an
 * inversion: (u v)^((p-1)/2) is 1 or 0.  1 yes, 0 no, negative on an
 * OpenSSL failure.
 */
static int y_is_on_curve(const uint8_t y_le[32])
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p, *d, *y, *u, *v, *e;
	int r = -1;

	if (!ctx)
		return -1;
	BN_CTX_start(ctx);
	p = BN_CTX_get(ctx);
	d = BN_CTX_get(ctx);
	y = BN_CTX_get(ctx);
	u = BN_CTX_get(ctx);
	v = BN_CTX_get(ctx);
	e = BN_CTX_get(ctx);
	if (!e)
		goto done;
	/* p = 2^255 - 19, e = (p - 1) / 2 */
	if (!BN_set_bit(p, 255) || !BN_sub_word(p, 19) || !BN_rshift1(e, p) ||
	    !BN_lebin2bn(curve_d, 32, d) || !BN_lebin2bn(y_le, 32, y))
		goto done;
	/* u = y^2 - 1, v = d y^2 + 1 */
	if (!BN_mod_sqr(u, y, p, ctx) || !BN_mod_mul(v, d, u, p, ctx) ||
	    !BN_add_word(v, 1) || !BN_mod_sub(u, u, BN_value_one(), p, ctx) ||
	    !BN_mod_mul(u, u, v, p, ctx) || !BN_mod_exp(u, u, e, p, ctx))
		goto done;
	r = BN_is_one(u) || BN_is_zero(u);
done:
	ERR_clear_error();
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return r;
}

int ledger_ed25519_public_check(const uint8_t pub[LEDGER_ED25519_PUBLIC_LEN])
{
	uint8_t y[32];
	int negative = pub[31] >> 7, on_curve;
	size_t i;

	memcpy(y, pub, sizeof(y));
	y[31] &= 0x7f;
	if (y_is_non_canonical(y))
		return ledger_error_set(LEDGER_EINVALID,
		                        "ed25519 public key: not canonically encoded (y >= p)");
	/* x = 0 only for y = 1 and y = -1; "-0" is a second spelling of those points. */
	if (negative && (memcmp(y, small_order_y[0], 32) == 0 ||
	                 memcmp(y, small_order_y[1], 32) == 0))
		return ledger_error_set(LEDGER_EINVALID,
		                        "ed25519 public key: not canonically encoded (x = -0)");
	for (i = 0; i < sizeof(small_order_y) / sizeof(small_order_y[0]); i++)
		if (memcmp(y, small_order_y[i], 32) == 0)
			return ledger_error_set(LEDGER_EINVALID,
			                        "ed25519 public key: small-order point");
	on_curve = y_is_on_curve(y);
	if (on_curve < 0)
		return ledger_error_set(LEDGER_ECRYPTO,
		                        "ed25519 public key: cannot check the point (openssl failure)");
	if (!on_curve)
		return ledger_error_set(LEDGER_EINVALID,
		                        "ed25519 public key: not a point of the curve");
	return 0;
}

/* A checked public key with its OpenSSL object, made once and used for many signatures. */
struct ledger_pubkey {
	EVP_PKEY *pkey;
	uint64_t serial; /* unique for the process's lifetime: names the key in verifiers */
};

/*
 * Each thread keeps a verification context set up for each key it uses.
 * Setting one up (EVP_DigestVerifyInit: an algorithm fetch, a provider
 * context, the key's export) costs about a tenth of an Ed25519
 * verification; for Ed25519 EVP_DigestVerify is one-shot and does not
 * change the context, so one set-up serves every signature of the key.
 * Keys are named by serial, never by address, so a context can never
 * outlive its key's identity: a freed key's serial is never seen again.
 */
#define VERIFIER_SLOTS 64

typedef struct {
	uint64_t serial; /* 0: empty */
	EVP_MD_CTX *ctx;
} verifier;

static pthread_key_t verifiers_key;
static pthread_once_t verifiers_once = PTHREAD_ONCE_INIT;
static int verifiers_usable;
static uint64_t next_serial = 1;

static void verifiers_free(void *p)
{
	verifier *v = p;

	for (size_t i = 0; i < VERIFIER_SLOTS; i++)
		EVP_MD_CTX_free(v[i].ctx);
	free(v);
}

static void verifiers_init(void)
{
	verifiers_usable = pthread_key_create(&verifiers_key, verifiers_free) == 0;
}

/* This thread's context for pk, set up once; NULL when none can be kept (then: a fresh one). */
static EVP_MD_CTX *verifier_for(const ledger_pubkey *pk)
{
	verifier *v, *slot;

	if (pthread_once(&verifiers_once, verifiers_init) != 0 || !verifiers_usable)
		return NULL;
	if (!(v = pthread_getspecific(verifiers_key))) {
		if (!(v = calloc(VERIFIER_SLOTS, sizeof(*v))))
			return NULL;
		if (pthread_setspecific(verifiers_key, v) != 0) {
			free(v);
			return NULL;
		}
	}
	slot = &v[pk->serial % VERIFIER_SLOTS];
	if (slot->serial == pk->serial)
		return slot->ctx;
	EVP_MD_CTX_free(slot->ctx);
	slot->serial = 0;
	if (!(slot->ctx = EVP_MD_CTX_new()))
		return NULL;
	if (EVP_DigestVerifyInit(slot->ctx, NULL, NULL, NULL, pk->pkey) != 1) {
		EVP_MD_CTX_free(slot->ctx);
		slot->ctx = NULL;
		return NULL;
	}
	slot->serial = pk->serial;
	return slot->ctx;
}

int ledger_pubkey_new(ledger_pubkey **out, const uint8_t pub[LEDGER_ED25519_PUBLIC_LEN])
{
	ledger_pubkey *pk;

	*out = NULL;
	if (ledger_ed25519_public_check(pub) < 0)
		return LEDGER_EINVALID;
	pk = calloc(1, sizeof(*pk));
	if (!pk)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	pk->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	                                       LEDGER_ED25519_PUBLIC_LEN);
	if (!pk->pkey) {
		ERR_clear_error();
		free(pk);
		return ledger_error_set(LEDGER_ECRYPTO, "ed25519: cannot load the public key");
	}
	pk->serial = __atomic_fetch_add(&next_serial, 1, __ATOMIC_RELAXED);
	*out = pk;
	return 0;
}

void ledger_pubkey_free(ledger_pubkey *pk)
{
	if (!pk)
		return;
	EVP_PKEY_free(pk->pkey);
	free(pk);
}

/* One verification on a freshly set-up context: 1 valid, 0 not, -1 no context. */
static int verify_fresh(const ledger_pubkey *pk, const uint8_t *msg, size_t len,
                        const uint8_t *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = -1;

	if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk->pkey) == 1)
		r = EVP_DigestVerify(ctx, sig, LEDGER_ED25519_SIG_LEN, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	return r;
}

int ledger_pubkey_verify(const ledger_pubkey *pk, const uint8_t *msg, size_t len,
                         const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx;
	int valid;

	if (sig_len != LEDGER_ED25519_SIG_LEN)
		return ledger_error_set(LEDGER_ECRYPTO,
		                        "ed25519: signature of %zu bytes (64 expected)", sig_len);
	/* S >= L would make the signature malleable (RFC 8032 section 8.4). */
	if (!le_less(sig + 32, group_order))
		return ledger_error_set(LEDGER_ECRYPTO,
		                        "ed25519: bad signature (S is not below the group order)");
	if (!msg)
		msg = (const uint8_t *)"";
	ctx = verifier_for(pk);
	valid = ctx && EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
	/*
	 * A refusal is confirmed on a fresh context, so that an OpenSSL that
	 * will not reuse a context costs time, never a wrong verdict.
	 */
	if (!valid)
		valid = verify_fresh(pk, msg, len, sig);
	ERR_clear_error();
	if (valid < 0)
		return ledger_error_set(LEDGER_ECRYPTO, "ed25519: cannot set up verification");
	if (!valid)
		return ledger_error_set(LEDGER_ECRYPTO, "ed25519: bad signature");
	return 0;
}

int ledger_ed25519_verify(const uint8_t pub[LEDGER_ED25519_PUBLIC_LEN],
                          const uint8_t *msg, size_t len,
                          const uint8_t *sig, size_t sig_len)
{
	ledger_pubkey *pk = NULL;
	int r;

	if (sig_len != LEDGER_ED25519_SIG_LEN)
		return ledger_error_set(LEDGER_ECRYPTO,
		                        "ed25519: signature of %zu bytes (64 expected)", sig_len);
	if (ledger_pubkey_new(&pk, pub) < 0) {
		char why[256];

		/* Copied first: the message buffer is the one ledger_error_set writes. */
		snprintf(why, sizeof(why), "%s", ledger_error_last()->message);
		return ledger_error_set(LEDGER_ECRYPTO, "ed25519: bad signature: %s", why);
	}
	r = ledger_pubkey_verify(pk, msg, len, sig, sig_len);
	ledger_pubkey_free(pk);
	return r;
}
