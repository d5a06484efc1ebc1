#!/bin/sh
# The append path refuses, with the rule id, a record that breaks an
# error-level rule of DOMAIN.md, and writes nothing; --no-judge still appends.
. "$(dirname "$0")/lib.sh"

make_ledger "$T/l.git"
printf '%s\n' \
	'{"type":"agency","body":{"id":"moj","kind":"government","name":{"ja":"法務省","en":"Ministry of Justice"}}}' \
	>agencies.jsonl
ok "$CYMAT" -C "$L" append --key "$K/manager" --batch agencies.jsonl

# R10.4: on the normal route the request comes from the CISO; the CSIRT may not send it.
cat >request.json <<'EOF2'
{"basis":"10.1","route":"normal","addressed_to":"director","affected":"moj",
 "summary":"Outbound traffic to an unknown host","occurred_at":"2026-04-01T06:30:00Z"}
EOF2
before=$(git -C "$L" rev-parse refs/heads/main)
expect 1 "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type request request.json
assert_err "refused by the rules"
assert_err "error R10.4 "
assert_err "nothing written"
assert_eq "$(git -C "$L" rev-parse refs/heads/main)" "$before" "main after a refused append"
ok "$CYMAT" -C "$L" findings --errors
assert_out "0 findings"

# The same through a batch: one refused record refuses the whole commit.
printf '%s\n' "{\"type\":\"request\",\"body\":$(tr -d '\n' <request.json)}" >batch.jsonl
expect 1 "$CYMAT" -C "$L" append --key "$K/moj-csirt" --batch batch.jsonl
assert_err "error R10.4 "
assert_eq "$(git -C "$L" rev-parse refs/heads/main)" "$before" "main after a refused batch"

# An organisation nobody registered (R2.1) is refused too.
sed 's/"affected":"moj"/"affected":"mof"/' request.json >unregistered.json
expect 1 "$CYMAT" -C "$L" append --key "$K/moj-ciso" --type request unregistered.json
assert_err "error R2.1 "
assert_eq "$(git -C "$L" rev-parse refs/heads/main)" "$before" "main after an R2.1 refusal"

# The CISO may send it.
ok "$CYMAT" -C "$L" append --key "$K/moj-ciso" --type request request.json
REQ=$(last_id)
[ "$(git -C "$L" rev-parse refs/heads/main)" != "$before" ] || fail "main did not move"

# The expert escape: --no-judge writes it; the rules still name it.
before=$(git -C "$L" rev-parse refs/heads/main)
ok "$CYMAT" -C "$L" append --no-judge --key "$K/moj-csirt" --type request request.json
BAD=$(last_id)
[ "$(git -C "$L" rev-parse refs/heads/main)" != "$before" ] || fail "--no-judge wrote nothing"
ok "$CYMAT" -C "$L" findings --errors
assert_out "error R10.4 "
assert_out " $BAD "
assert_not_out " $REQ "
exit 0
