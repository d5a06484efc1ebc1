#!/bin/sh
# A record file whose content was changed after signing (its path still names
# the original id) is rejected: the id no longer matches, nor the signature.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
side_record moj-csirt "transfer 100 yen"
path=$(record_path "$SIDE_ID")
sed 's/transfer 100 yen/transfer 900 yen/' side.json >bad.json
cmp -s side.json bad.json && fail "sed did not tamper"
# Still canonical: only the problem under test.
ok "$CYMAT" canon bad.json
cmp -s "$T/out" bad.json || fail "tampered file is not canonical"

commit_change ledger.git "note: tampered" add "$path" bad.json
git -C ledger.git fsck --strict >/dev/null 2>&1 || fail "git fsck --strict (git itself sees no problem)"
run "$CYMAT" -C ledger.git verify
expect_finding_path "(wrong-path|bad-signature)" "$path"
assert_out "1 invalid"
# The untampered original verifies in the side clone.
ok "$CYMAT" -C side.git verify --root "$ROOT"
exit 0
