#!/bin/sh
# Records signed by a key after its revocation are rejected; and a compromised
# key's records after last_good_seq, whatever time they claim.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
ok "$CYMAT" -C ledger.git revoke --key "$K/moj-ciso" --reason retired "$(kid moj-csirt)"
ok note moj-csirt "after retirement" --author moj/csirt --no-judge
retired=$(last_id)

# mof/csirt signs one record, then is reported compromised with last_good_seq 0,
# effective in the future: the record is invalid by seq, not by time.
ok note mof-csirt "signed by the thief"
stolen=$(last_id)
ok "$CYMAT" -C ledger.git revoke --key "$K/director" --reason compromised --last-good-seq 0 \
	--effective 2999-01-01T00:00:00Z "$(kid mof-csirt)"

run "$CYMAT" -C ledger.git verify
expect_finding key-revoked "$retired"
expect_finding key-revoked "$stolen"
assert_out "2 invalid"
exit 0
