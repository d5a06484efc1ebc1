/*
 * The signer fixture of the suites that build ledgers with real keys: a
 * principal with a fresh Ed25519 key and the position of its chain, and the
 * principal entry (a principal record's body, a root's director or deputy)
 * that binds it.
 */
#ifndef TESTSIGNER_H
#define TESTSIGNER_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ledger.h"

typedef struct {
	const char *principal;
	ledger_key *key;
	char kid[65];
	int64_t seq;   /* the seq of its last record, 0 before the first */
	char prev[65]; /* that record's id, "" before the first */
} testsigner;

/* A fresh key for `principal` (borrowed), its chain not started. */
static inline void testsigner_init(testsigner *s, const char *principal)
{
	uint8_t pub[32];

	s->principal = principal;
	ck_assert_int_eq(ledger_key_generate(&s->key, LEDGER_KEY_ED25519), 0);
	ledger_key_public(pub, s->key);
	ledger_key_id(s->kid, pub);
	s->seq = 0;
	s->prev[0] = '\0';
}

/* The entry binding s to one role; NISC principals are NISC residents. */
static inline json_t *testsigner_entry(const testsigner *s, const char *role, int full_time)
{
	uint8_t pub[32];
	char *b64 = NULL;
	json_t *p;

	ledger_key_public(pub, s->key);
	ck_assert_int_eq(ledger_base64_encode(&b64, pub, 32), 0);
	/* The sealing key is not used by these suites; any 32 bytes will do. */
	p = json_pack("{s:s, s:s, s:s, s:[s], s:{s:b, s:b}}", "principal", s->principal,
	              "ed25519", b64, "x25519", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	              "roles", role, "attributes", "full_time_civil_servant", full_time,
	              "nisc_resident", strncmp(s->principal, "nisc/", 5) == 0);
	free(b64);
	return p;
}

/* Author, seq and prev of the signer's next record in its chain. */
static inline void testsigner_next(ledger_record_fields *f, const testsigner *s)
{
	f->author = s->principal;
	f->seq = s->seq + 1;
	f->prev = s->prev[0] ? s->prev : NULL;
}

/* rec, made with testsigner_next, is now the last of the signer's chain. */
static inline void testsigner_advance(testsigner *s, const ledger_record *rec)
{
	s->seq++;
	memcpy(s->prev, rec->id, 65);
}

#endif
