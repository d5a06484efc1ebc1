/* Private to the sync code (sync_status.c): exports nothing. */
#ifndef LEDGER_SYNC_INTERNAL_H
#define LEDGER_SYNC_INTERNAL_H

/* 0 when `name` is a remote name ([a-z0-9_-]{1,32}), else LEDGER_EINVALID with a message. */
int node_remote_name_check(const char *name);

#endif
