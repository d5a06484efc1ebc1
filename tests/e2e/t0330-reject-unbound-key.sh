#!/bin/sh
# A record whose key is bound, but to another principal than its author, is rejected.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
expect 1 note moj-csirt "posing as mof" --author mof/csirt
assert_err "key-not-bound"
ok note moj-csirt "posing as mof" --author mof/csirt --no-judge
id=$(last_id)
run "$CYMAT" -C ledger.git verify
expect_finding key-not-bound "$id"
assert_out "$(record_path "$id")"
exit 0
