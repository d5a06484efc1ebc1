/*
 * JSON Schema 2020-12 validation of records against the files in schemas/.
 */
#ifndef LEDGER_SCHEMA_H
#define LEDGER_SCHEMA_H

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A set of loaded schemas, resolved by their $id. */
typedef struct ledger_schemas ledger_schemas;

/*
 * Load every "*.schema.json" file of `dir` (NULL: the installed package data
 * directory, or $CYMAT_SCHEMAS_DIR when set).
 */
int ledger_schemas_load(ledger_schemas **out, const char *dir);

/*
 * Validate `instance` against the schema whose $id (or file name without
 * ".schema.json") is `name`.  0 when valid; LEDGER_ENOTFOUND when no such
 * schema; LEDGER_EINVALID with a message naming the JSON pointer of the
 * failing value and the keyword ("/body/roles/0: enum: ...").
 */
int ledger_schemas_validate(const ledger_schemas *schemas, const char *name,
                            const json_t *instance);

/* Is there a schema of that name? */
int ledger_schemas_has(const ledger_schemas *schemas, const char *name);

/* Validate an instance against a single schema document (for tests and tools). */
int ledger_schema_validate_document(const json_t *schema, const json_t *instance);

void ledger_schemas_free(ledger_schemas *schemas);

#ifdef __cplusplus
}
#endif

#endif
