#!/bin/sh
# A record file that is not byte-identical to its JCS form is rejected, even
# when its content (and so its id and signature) is right.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
side_record moj-csirt "pretty"
path=$(record_path "$SIDE_ID")
# A trailing newline: the record inside is untouched.
cp side.json bad.json
echo >>bad.json
commit_change ledger.git "note: non-canonical" add "$path" bad.json
run "$CYMAT" -C ledger.git verify
expect_finding_path not-canonical "$path"
assert_out "$SIDE_ID"

# Whitespace inside, on a fresh ledger.
rm -rf ledger.git keys
mkdir keys
make_ledger ledger.git
side_record moj-csirt "spaced"
path=$(record_path "$SIDE_ID")
sed 's/^{"record":{/{ "record": {/' side.json >bad.json
cmp -s side.json bad.json && fail "no whitespace inserted"
commit_change ledger.git "note: non-canonical" add "$path" bad.json
run "$CYMAT" -C ledger.git verify
expect_finding_path not-canonical "$path"
exit 0
