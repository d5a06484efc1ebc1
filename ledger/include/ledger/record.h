/*
 * Records (FORMAT.md sections 1 and 2): the common members, the record id,
 * the signature, and the envelope file.
 */
#ifndef LEDGER_RECORD_H
#define LEDGER_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "ledger/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Domain separation prefix of the signed bytes: this string, then 0x00, then JCS(R). */
#define LEDGER_RECORD_SIG_CONTEXT "CYMAT-LEDGER-RECORD-V1"
/* "records/ab/cd/<64 hex>.json" */
#define LEDGER_RECORD_PATH_LEN (8 + 3 + 3 + LEDGER_HEX_ID_LEN + 5)

/*
 * A parsed record.  The string members point into `record` (borrowed, valid
 * while the record lives); `incident` is NULL when absent.
 */
typedef struct {
	json_t *record;             /* R, owned */
	char *canonical;            /* JCS(R), owned: the bytes the id hashes and the signature covers */
	size_t canonical_len;
	char id[LEDGER_HEX_ID_LEN + 1];
	uint8_t sig[LEDGER_ED25519_SIG_LEN];
	const char *type;
	const char *agency;
	const char *author;
	const char *kid;
	int64_t seq;
	const char *prev;           /* NULL when seq is 1 */
	const char *time;
	int64_t time_unix;          /* `time` as seconds since the epoch */
	const char *incident;
	const char *class_;
	json_t *refs;               /* borrowed array of id strings */
	json_t *body;               /* borrowed */
} ledger_record;

/* What a caller fills in to make a record; seq, prev and kid come from the signer. */
typedef struct {
	unsigned int version;
	const char *type;
	const char *author;   /* "<agency>/<name>" */
	int64_t seq;
	const char *prev;     /* NULL for seq 1 */
	const char *time;     /* NULL: now */
	json_t *refs;         /* borrowed; NULL: []; sorted and de-duplicated on build */
	const char *incident; /* NULL: absent */
	const char *class_;   /* NULL: "c1" */
	json_t *body;         /* borrowed */
	json_t *sealed;       /* borrowed; NULL: absent */
} ledger_record_fields;

#define LEDGER_RECORD_FIELDS_VERSION 1
#define LEDGER_RECORD_FIELDS_INIT { LEDGER_RECORD_FIELDS_VERSION, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL }

/*
 * Build R from fields, sign it with an Ed25519 key and return the parsed
 * record.  The common members are checked as a verifier would check them.
 */
int ledger_record_create(ledger_record **out, const ledger_record_fields *fields,
                         const ledger_key *key);

/*
 * Parse a record file's bytes: JSON (strict), envelope shape, byte-identical
 * to its own JCS form, common members of R well-formed (FORMAT.md section
 * 1); computes the id.  Does not check the signature or the path.
 */
int ledger_record_parse(ledger_record **out, const char *buf, size_t len);

/* JCS(E): the exact bytes of the record file, malloc'd. */
int ledger_record_envelope(char **out, size_t *out_len, const ledger_record *rec);

/* Check the signature against the given public key (the caller decides it is rec->kid's). */
int ledger_record_verify_signature(const ledger_record *rec,
                                   const uint8_t pub[LEDGER_ED25519_PUBLIC_LEN]);

/* "records/<id[0:2]>/<id[2:4]>/<id>.json" into out. */
void ledger_record_path(char out[LEDGER_RECORD_PATH_LEN + 1], const char *id);

/* The id in a record path, or LEDGER_EINVALID when the path is not of that form. */
int ledger_record_path_id(char out[LEDGER_HEX_ID_LEN + 1], const char *path);

/* Parse "YYYY-MM-DDTHH:MM:SSZ" (a real UTC date) to seconds since the epoch. */
int ledger_time_parse(int64_t *out, const char *text);
/* Format seconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ". */
void ledger_time_format(char out[21], int64_t t);

void ledger_record_free(ledger_record *rec);

#ifdef __cplusplus
}
#endif

#endif
