/* Private: huge pages for large blocks (huge_pages.c). */
#ifndef LEDGER_HUGE_PAGES_H
#define LEDGER_HUGE_PAGES_H

#include <stddef.h>

/*
 * Back the 2 MiB pages wholly inside a large block that is filled once (a
 * cache read whole, what is built from one) by huge pages: a few page
 * faults instead of one per 4 KiB, each dear under a hypervisor.  Advice:
 * nothing fails.
 */
void huge_pages_advise(void *block, size_t len);

#endif
