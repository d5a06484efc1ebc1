#!/bin/sh
# A record carrying another record's (valid-looking) signature is rejected.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
side_record moj-csirt "forged"
path=$(record_path "$SIDE_ID")
# Another genuine signature by the same key, over different bytes.
ok note moj-csirt "genuine"
other=$(git -C ledger.git cat-file blob "main:$(record_path "$(last_id)")" |
	sed 's/.*"sig":"\([^"]*\)".*/\1/')
[ ${#other} -eq 88 ] || fail "could not extract a signature"
sed "s|\"sig\":\"[^\"]*\"|\"sig\":\"$other\"|" side.json >bad.json
cmp -s side.json bad.json && fail "signature not replaced"

commit_change ledger.git "note: forged" add "$path" bad.json
run "$CYMAT" -C ledger.git verify
expect_finding bad-signature "$SIDE_ID"
assert_out "$path"
# The same finding for scripts: one JSON object a line, then the summary.
expect 1 "$CYMAT" -C ledger.git verify --json
grep '"code":"bad-signature"' "$T/out" | grep -qF "\"id\":\"$SIDE_ID\"" ||
	{ show_output; fail "no JSON finding bad-signature for $SIDE_ID"; }
tail -n 1 "$T/out" | grep -q '"invalid":1' || fail "JSON summary does not count 1 invalid"
# show names it too, and exits 1.
expect 1 "$CYMAT" -C ledger.git show "$SIDE_ID"
assert_out "bad-signature"
exit 0
