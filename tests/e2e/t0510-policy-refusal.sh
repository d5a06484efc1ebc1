#!/bin/sh
# The append path refuses, with the rule id, a record that breaks an
# error-level rule of DOMAIN.md, and writes nothing; --no-judge still appends.
# A request made in the very second its agency was registered is judged
# after the registration, whatever the two records' ids.
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

# A batch is judged in order: the registration of mof, then its CISO's
# request... by the manager's key, so R10.4 refuses the request, not R2.1.
printf '%s\n' \
	'{"type":"agency","body":{"id":"mof","kind":"government","name":{"ja":"財務省","en":"Ministry of Finance"}}}' \
	"{\"type\":\"request\",\"body\":$(tr -d '\n' <unregistered.json)}" >mixed.jsonl
expect 1 "$CYMAT" -C "$L" append --key "$K/manager" --batch mixed.jsonl
assert_err "error R10.4 "
grep -q "error R2.1 " "$T/err" && fail "the batch's request was judged before its registration"
assert_eq "$(git -C "$L" rev-parse refs/heads/main)" "$before" "main after a refused batch"

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

# One second for a registration and a request, the request's id sorting
# before the registration's, so that an order by id would judge the request
# first.  Records are deterministic: find such a pair in a throwaway copy of
# the ledger, then make the same two records in the ledger.
key mext-ciso
ok "$CYMAT" -C "$L" principal add --key "$K/manager" --pub "$K/mext-ciso" --role ciso \
	--full-time mext/ciso
SECOND=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# Both records vary with the attempt: were only the request to vary, an
# agency id near 00.. would leave almost no request id below it.
same_second() { # LEDGER N: register mext and request for it; "AGENCY REQUEST" ids
	printf '{"id":"mext","kind":"government","name":{"ja":"文部科学省","en":"%s"}}' \
		"Ministry of Education (attempt $2)" >mext.json
	"$CYMAT" -C "$1" append --key "$K/manager" --time "$SECOND" --type agency mext.json ||
		return 1
	"$CYMAT" -C "$1" request --key "$K/mext-ciso" --time "$SECOND" --affected mext \
		--summary "Defaced portal, attempt $2" || return 1
}
n=0
while :; do
	n=$((n + 1))
	[ "$n" -le 64 ] || fail "no pair of records with the request's id first in 64 tries"
	rm -rf "$T/try.git"
	git clone -q --bare "$L" "$T/try.git" || fail "git clone failed"
	ids=$(same_second "$T/try.git" "$n") || fail "the same-second pair is refused (try $n)"
	set -- $ids
	[ "$2" \< "$1" ] && break
done
ok same_second "$L" "$n"
set -- $(cat "$T/out")
AGENCY=$1
SAME=$2
[ "$SAME" \< "$AGENCY" ] || fail "not the records of the throwaway copy"
ok "$CYMAT" -C "$L" show --json "$SAME"
assert_out "\"time\":\"$SECOND\""
# And the ledger's own view agrees: the request took effect.
ok "$CYMAT" -C "$L" incident show --json "$SAME"
python3 -c '
import json, sys
i = json.load(open(sys.argv[1]))
assert i["state"] == "requested" and i["findings"] == [], i
assert [e["status"] for e in i["timeline"]] == ["valid"], i
' "$T/out" || fail "the same-second request did not take effect"
ok "$CYMAT" -C "$L" findings --errors
assert_not_out " $SAME "
exit 0
