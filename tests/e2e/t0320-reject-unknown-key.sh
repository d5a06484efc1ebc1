#!/bin/sh
# A record signed by a key no root or principal record carries is rejected.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
key stranger
# The judge refuses it; --no-judge (an expert option) writes it anyway.
expect 1 note stranger "hello" --author moj/csirt
ok note stranger "hello" --author moj/csirt --no-judge
id=$(last_id)
run "$CYMAT" -C ledger.git verify
expect_finding unknown-key "$id"
assert_out "$(record_path "$id")"
ok "$CYMAT" -C ledger.git log
assert_out "$(echo "$id" | cut -c1-12) hello [invalid]"
exit 0
