/*
 * Private: a slab hands out bytes in turn from blocks that stay for reuse
 * once it is emptied (slab.c).
 */
#ifndef LEDGER_SLAB_H
#define LEDGER_SLAB_H

#include <stddef.h>

/*
 * Verification keeps the raw bytes of a chunk's files in one (verify.c):
 * one malloc and free per file had the checking threads free the reader's
 * memory, each free taking the lock of the reader's arena, and the two
 * checking threads waited on it and on each other.
 */
typedef struct slab_block {
	struct slab_block *next;
	size_t size, used;
	char data[];
} slab_block;

typedef struct {
	slab_block *first, *current; /* blocks before current are full */
} slab;

/* `n` bytes that stay until the slab is emptied, or NULL. */
char *slab_alloc(slab *s, size_t n);
/* Every byte handed out is free again; the blocks stay. */
void slab_empty(slab *s);
void slab_release(slab *s);

#endif
