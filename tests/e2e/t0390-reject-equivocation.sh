#!/bin/sh
# Two different records with the same kid and seq: both reported as
# equivocation, later records of the key as key-compromised.  Built twice:
# with the expert --seq/--prev options, and as two offline clones whose
# records end up in one ledger.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
ok note moj-csirt "zeroth"
ok note moj-csirt "first"
a=$(last_id)
blob=$(git -C ledger.git cat-file blob "main:$(record_path "$a")")
seq=$(echo "$blob" | sed 's/.*"seq":\([0-9]*\).*/\1/')
prev=$(echo "$blob" | sed 's/.*"prev":"\([0-9a-f]*\)".*/\1/')
echo "$prev" | grep -Eq '^[0-9a-f]{64}$' || fail "cannot read prev of $a"
# The judge refuses a second record at the same seq ...
expect 1 note moj-csirt "second" --seq "$seq" --prev "$prev"
assert_err "equivocation"
# ... which only --no-judge writes.
ok note moj-csirt "second" --seq "$seq" --prev "$prev" --no-judge
b=$(last_id)
[ "$a" != "$b" ] || fail "same record twice"
ok note moj-csirt "third" --no-judge
c=$(last_id)
run "$CYMAT" -C ledger.git verify
expect_finding equivocation "$a"
expect_finding equivocation "$b"
expect_finding key-compromised "$c"

# Offline: two clones sign their next record with the same key; one ledger
# ends up holding both files.
rm -rf ledger.git keys
mkdir keys
make_ledger ledger.git
side_record mof-csirt "on laptop one"
x=$SIDE_ID
cp side.json x.json
ok note mof-csirt "on laptop two"
y=$(last_id)
commit_change ledger.git "note: merged by hand" add "$(record_path "$x")" x.json
run "$CYMAT" -C ledger.git verify
expect_finding equivocation "$x"
expect_finding equivocation "$y"
exit 0
