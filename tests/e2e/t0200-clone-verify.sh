#!/bin/sh
# Auditors: a plain `git clone` of a ledger verifies; stock git checks every
# commit's signature and the object store.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
ok note moj-csirt "one"
ok note mof-csirt "two"

git clone -q ledger.git audit || fail "git clone failed"
git -C audit fsck --strict >/dev/null 2>&1 || fail "git fsck --strict on the clone"
ok "$CYMAT" -C audit verify --no-cache --root "$ROOT"
assert_out "verified 8 records"
assert_out "8 valid, 0 invalid, 0 pending"
# Without a pinned root the clone trusts its LEDGER file, with a warning.
ok "$CYMAT" -C audit verify
assert_out "root-not-pinned"
# A wrong pin fails.
expect 1 "$CYMAT" -C audit verify --no-cache --root "$(kid director)"

ok "$CYMAT" -C audit verify --json --root "$ROOT"
tail -n 1 "$T/out" | grep -q '"records":8' || fail "JSON summary lacks the record count"
ok "$CYMAT" -C audit verify --quiet --root "$ROOT"
[ ! -s "$T/out" ] || fail "--quiet printed something"
# --since: trust up to a commit, check what came after.
ok "$CYMAT" -C audit verify --no-cache --root "$ROOT" --since main~2
assert_out "0 invalid"
expect 3 "$CYMAT" -C audit verify --since no-such-rev

# Every commit carries a signature stock git verifies against the allowed keys.
allowed_signers allowed
for c in $(git -C audit rev-list main); do
	git -C audit -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" \
		verify-commit "$c" >/dev/null 2>&1 || fail "git verify-commit rejects $c"
done
# ... and not against an unrelated key.
key other
grep "^other " allowed >/dev/null || allowed_signers allowed
grep "^other " allowed >only-other
git -C audit -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/only-other" \
	verify-commit main >/dev/null 2>&1 && fail "verify-commit accepted an unknown signer"

# Appending in the clone (a work tree) works and the origin can fetch it.
ok sh -c "printf '{\"summary\":\"from the clone\"}' | \"$CYMAT\" -C audit append --key \"$K/moj-csirt\" --type note -"
new=$(last_id)
git -C ledger.git fetch -q ../audit main:refs/heads/main || fail "fast-forward fetch failed"
ok "$CYMAT" -C ledger.git show "$new"
ok "$CYMAT" -C ledger.git verify
assert_out "9 valid, 0 invalid"
exit 0
