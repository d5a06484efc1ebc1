/*
 * Private: the SSH wire encoding (RFC 4251 section 5) as far as the library
 * needs it: uint32, string, and the "ssh-ed25519" public key and signature
 * blobs (RFC 8709).  Used for OpenSSH public key lines and for SSHSIG.
 */
#ifndef LEDGER_SSHWIRE_H
#define LEDGER_SSHWIRE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SSHWIRE_ED25519 "ssh-ed25519"

/* A growing output buffer; after an allocation failure `failed` is set and appends are no-ops. */
struct sshwire_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int failed;
};

static inline void sshwire_put(struct sshwire_buf *b, const void *data, size_t len)
{
	if (b->failed)
		return;
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 64;
		uint8_t *grown;

		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2) {
				b->failed = 1;
				return;
			}
			cap *= 2;
		}
		grown = realloc(b->data, cap);
		if (!grown) {
			b->failed = 1;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
}

static inline void sshwire_put_u32(struct sshwire_buf *b, uint32_t v)
{
	uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	sshwire_put(b, be, sizeof(be));
}

static inline void sshwire_put_string(struct sshwire_buf *b, const void *data, size_t len)
{
	if (len > UINT32_MAX) {
		b->failed = 1;
		return;
	}
	sshwire_put_u32(b, (uint32_t)len);
	sshwire_put(b, data, len);
}

static inline void sshwire_put_cstring(struct sshwire_buf *b, const char *s)
{
	sshwire_put_string(b, s, strlen(s));
}

/* string("ssh-ed25519") || string(pub): the public key blob. */
static inline void sshwire_put_ed25519_public(struct sshwire_buf *b, const uint8_t pub[32])
{
	sshwire_put_cstring(b, SSHWIRE_ED25519);
	sshwire_put_string(b, pub, 32);
}

static inline void sshwire_buf_release(struct sshwire_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* A reader over a byte string; every get fails (returns -1) rather than read past the end. */
struct sshwire_reader {
	const uint8_t *p;
	size_t left;
};

static inline int sshwire_get_u32(struct sshwire_reader *r, uint32_t *v)
{
	if (r->left < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

static inline int sshwire_get_raw(struct sshwire_reader *r, const uint8_t **p, size_t len)
{
	if (r->left < len)
		return -1;
	*p = r->p;
	r->p += len;
	r->left -= len;
	return 0;
}

static inline int sshwire_get_string(struct sshwire_reader *r, const uint8_t **p, size_t *len)
{
	uint32_t n;

	if (sshwire_get_u32(r, &n) < 0 || sshwire_get_raw(r, p, n) < 0)
		return -1;
	*len = n;
	return 0;
}

/* Does the string just read equal the C string s? */
static inline int sshwire_equals(const uint8_t *p, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(p, s, len) == 0;
}

/*
 * Read an ed25519 blob, string("ssh-ed25519") || string(value of want_len
 * bytes), that fills the whole of r: 0, or -1 when it is anything else.
 */
static inline int sshwire_get_ed25519_blob(struct sshwire_reader *r, const uint8_t **value,
                                           size_t want_len)
{
	const uint8_t *type;
	size_t type_len, len;

	if (sshwire_get_string(r, &type, &type_len) < 0 ||
	    !sshwire_equals(type, type_len, SSHWIRE_ED25519) ||
	    sshwire_get_string(r, value, &len) < 0 || len != want_len || r->left != 0)
		return -1;
	return 0;
}

#endif
