/* Huge pages for large blocks filled at once (huge_pages.h). */
#include "config.h"

#include <stdint.h>
#include <sys/mman.h>

#include "huge_pages.h"

void huge_pages_advise(void *block, size_t len)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = 2 * 1024 * 1024;
	uintptr_t from = ((uintptr_t)block + huge - 1) & ~(huge - 1);
	uintptr_t to = ((uintptr_t)block + len) & ~(huge - 1);

	if (to > from)
		madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
	(void)block;
	(void)len;
#endif
}
