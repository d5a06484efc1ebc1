#!/bin/sh
# cymat principal add: bindings by who may make them; refused bindings write nothing.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
assert_eq "$(git -C ledger.git rev-list --count main)" 6 "commits of the standard ledger"
ok "$CYMAT" -C ledger.git verify
assert_out "6 valid, 0 invalid, 0 pending"

# The commit: subject, trailer, author and a signature git accepts.
key moj-member
ok "$CYMAT" -C ledger.git principal add --key "$K/moj-ciso" --pub "$K/moj-member.pub" \
	--role member --full-time --title "Engineer" --name-ja "伊藤" --name-en "Ito" moj/ito
id=$(last_id)
git -C ledger.git log -1 --format=%B main >msg
assert_eq "$(head -n 1 msg)" "principal: bind moj/ito" "commit subject"
grep -qx "Record: $id" msg || fail "no Record trailer"
assert_eq "$(git -C ledger.git log -1 --format=%an main)" moj/ciso "commit author"
allowed_signers allowed
git -C ledger.git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" \
	verify-commit main >/dev/null 2>&1 || fail "git verify-commit rejects the binding commit"
git -C ledger.git cat-file blob "main:$(record_path "$id")" >rec.json
for s in '"principal":"moj/ito"' '"roles":["member"]' '"title":"Engineer"' '"en":"Ito"' \
	"\"kid\":\"$(kid moj-ciso)\"" '"author":"moj/ciso"' '"seq":2'; do
	grep -qF "$s" rec.json || fail "binding record lacks $s"
done

# Refused: a CSIRT may not bind; a CISO may not bind another agency's staff;
# nothing is written and the findings are printed.
key stranger
tip=$(git -C ledger.git rev-parse main)
expect 1 "$CYMAT" -C ledger.git principal add --key "$K/moj-csirt" --pub "$K/stranger" \
	--role member moj/stranger
assert_err "not-authorised"
assert_err "refused"
expect 1 "$CYMAT" -C ledger.git principal add --key "$K/moj-ciso" --pub "$K/stranger" \
	--role member mof/stranger
assert_err "not-authorised"
# A key nobody bound signs nothing.
expect 1 "$CYMAT" -C ledger.git principal add --key "$K/stranger" --pub "$K/stranger" \
	--role member moj/stranger
assert_err "not bound"
assert_eq "$(git -C ledger.git rev-parse main)" "$tip" "tip after refused bindings"

# Bad input: unknown role (schema), missing public key file.
expect 1 "$CYMAT" -C ledger.git principal add --key "$K/director" --pub "$K/stranger" \
	--role wizard nisc/stranger
expect 3 "$CYMAT" -C ledger.git principal add --key "$K/director" --pub "$K/nope" \
	--role member nisc/stranger
assert_err "nope.pub"
assert_eq "$(git -C ledger.git rev-parse main)" "$tip" "tip after bad input"

ok "$CYMAT" -C ledger.git verify
assert_out "7 valid, 0 invalid, 0 pending"
git -C ledger.git fsck --strict >/dev/null 2>&1 || fail "git fsck --strict reports problems"
exit 0
