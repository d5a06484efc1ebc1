#!/bin/sh
# cymat revoke: a revoked key can no longer append; compromised keys lose
# their records after last_good_seq.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
ok note moj-csirt "before"
before=$(last_id)
# Times have one-second resolution and a revocation covers records of its own second.
sleep 1

# Retired, by the CISO who bound it, naming the key by its public key file.
ok "$CYMAT" -C ledger.git revoke --key "$K/moj-ciso" --reason retired --note "left" \
	"$K/moj-csirt.pub"
rev=$(last_id)
git -C ledger.git log -1 --format=%s main | grep -q '^revocation: ' || fail "commit subject"
git -C ledger.git cat-file blob "main:$(record_path "$rev")" >rev.json
grep -qF "\"kid\":\"$(kid moj-csirt)\"" rev.json || fail "revocation names the wrong kid"
grep -qF '"reason":"retired"' rev.json || fail "revocation reason"

# The revoked key is refused from now on; nothing written.
tip=$(git -C ledger.git rev-parse main)
expect 1 note moj-csirt "after"
assert_eq "$(git -C ledger.git rev-parse main)" "$tip" "tip after a refused append"
ok "$CYMAT" -C ledger.git verify
assert_not_out "error "

# Only who may: another agency's CISO cannot revoke moj's key.
expect 1 "$CYMAT" -C ledger.git revoke --key "$K/mof-ciso" --reason retired "$(kid moj-ciso)"
assert_err "not-authorised"

# Compromised with last_good_seq: the key's later records become invalid.
ok note mof-csirt "one"
one=$(last_id)
ok note mof-csirt "two"
two=$(last_id)
sleep 1
ok "$CYMAT" -C ledger.git revoke --key "$K/director" --reason compromised --last-good-seq 1 \
	"$(kid mof-csirt)"
run "$CYMAT" -C ledger.git verify
expect_finding key-revoked "$two"
grep -q "$one" "$T/out" && fail "record $one before last_good_seq is reported"
grep -q "$before" "$T/out" && fail "record $before of another key is reported"

expect 2 "$CYMAT" -C ledger.git revoke --key "$K/director" --reason retired --last-good-seq 1 \
	"$(kid mof-ciso)"
expect 2 "$CYMAT" -C ledger.git revoke --key "$K/director" --reason retired nonsense
exit 0
