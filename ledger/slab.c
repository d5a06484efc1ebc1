/* Slabs: bytes handed out in turn from blocks kept for reuse (slab.h). */
#include "config.h"

#include <stdlib.h>

#include "slab.h"

/* Bytes of a block, unless one asks for more. */
#define SLAB_BLOCK (1u << 20)

char *slab_alloc(slab *s, size_t n)
{
	slab_block *b = s->current;

	while (b && b->size - b->used < n)
		b = b->next;
	if (!b) {
		size_t size = n > SLAB_BLOCK ? n : SLAB_BLOCK;

		if (!(b = malloc(sizeof(*b) + size)))
			return NULL;
		b->size = size;
		b->used = 0;
		/* After the current block: the blocks that follow it are still free to fill. */
		if (s->current) {
			b->next = s->current->next;
			s->current->next = b;
		} else {
			b->next = NULL;
			s->first = b;
		}
	}
	s->current = b;
	b->used += n;
	return b->data + b->used - n;
}

void slab_empty(slab *s)
{
	for (slab_block *b = s->first; b; b = b->next)
		b->used = 0;
	s->current = s->first;
}

void slab_release(slab *s)
{
	slab_block *b = s->first, *next;

	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	s->first = s->current = NULL;
}
