/*
 * cymat-ledger: the umbrella header of the ledger library.
 *
 * Conventions (after libgit2): functions return 0 on success or a negative
 * LEDGER_E* code; the message is read with ledger_error_last().  Output
 * parameters come first and what they return is owned by the caller; every
 * _free function accepts NULL.
 */
#ifndef LEDGER_H
#define LEDGER_H

#include "ledger/error.h"
#include "ledger/json.h"
#include "ledger/crypto.h"
#include "ledger/sshsig.h"
#include "ledger/record.h"
#include "ledger/store.h"
#include "ledger/trust.h"
#include "ledger/verify.h"
#include "ledger/schema.h"
#include "ledger/policy.h"
#include "ledger/sync.h"
#include "ledger/append.h"
#include "ledger/node.h"
#include "ledger/receive.h"
#include "ledger/bundle.h"
#include "ledger/seal.h"

#endif
