#!/bin/sh
# A valid record stored under a path that names another id is rejected.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
side_record moj-csirt "misplaced"
wrong=records/00/00/0000000000000000000000000000000000000000000000000000000000000000.json
commit_change ledger.git "note: misplaced" add "$wrong" side.json
run "$CYMAT" -C ledger.git verify
expect_finding_path wrong-path "$wrong"
assert_out "$SIDE_ID"

# Right directory name, wrong shard: records/<id[2:4]>/<id[0:2]>/<id>.json
rm -rf ledger.git keys
mkdir keys
make_ledger ledger.git
side_record moj-csirt "misplaced again"
a=$(echo "$SIDE_ID" | cut -c1-2)
b=$(echo "$SIDE_ID" | cut -c3-4)
[ "$a" != "$b" ] || skip "id shards coincide"
wrong=records/$b/$a/$SIDE_ID.json
commit_change ledger.git "note: misplaced" add "$wrong" side.json
run "$CYMAT" -C ledger.git verify
grep -q "^error .*$SIDE_ID" "$T/out" || { show_output; fail "no error names $SIDE_ID"; }
[ "$RC" -eq 1 ] || fail "verify exited $RC"
exit 0
