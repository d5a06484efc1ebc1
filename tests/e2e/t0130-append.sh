#!/bin/sh
# cymat append: bodies from files and stdin, batches in one commit, refusals
# that write nothing, and bad input named clearly.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
CYMAT_KEY=$K/manager.key
export CYMAT_KEY

# An agency record from a file; everything but the body is computed.
printf '{"id":"moj","name":{"ja":"法務省","en":"Ministry of Justice"},"kind":"government"}' >moj.json
ok "$CYMAT" -C ledger.git append --type agency moj.json
moj=$(last_id)
git -C ledger.git cat-file blob "main:$(record_path "$moj")" >rec.json
for s in '"type":"agency"' '"author":"nisc/manager"' '"agency":"nisc"' '"seq":3' \
	"\"kid\":\"$(kid manager)\"" '"class":"c1"' '"refs":[]'; do
	grep -qF "$s" rec.json || fail "record lacks $s"
done
# prev is the key's previous record: the manager's binding of mof/ciso.
last=$(git -C ledger.git log -1 --format=%B --author=nisc/manager main~1 | sed -n 's/^Record: //p')
grep -qF "\"prev\":\"$last\"" rec.json || fail "prev is not the manager's previous record"

# From stdin, with refs and --json output.
ok sh -c "printf '{\"summary\":\"s\"}' | \"$CYMAT\" -C ledger.git append --type note --ref $moj --json -"
assert_out "\"type\":\"note\""
assert_out "\"seq\":4"
sid=$(sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' "$T/out")
git -C ledger.git cat-file blob "main:$(record_path "$sid")" | grep -qF "\"refs\":[\"$moj\"]" ||
	fail "refs not recorded"

# A batch: one commit, subject "batch: 3 records", trailers in order, chain in order.
cat >batch.jsonl <<'JSONL'
{"type":"agency","body":{"id":"mof","name":{"ja":"財務省","en":"Ministry of Finance"},"kind":"government"}}

{"type":"note","body":{"summary":"second"}}
{"type":"note","body":{"summary":"third"},"refs":[]}
JSONL
before=$(git -C ledger.git rev-list --count main)
ok "$CYMAT" -C ledger.git append --batch batch.jsonl
assert_eq "$(wc -l <"$T/out" | tr -d ' ')" 3 "ids printed for a batch of 3"
cp "$T/out" ids
assert_eq "$(git -C ledger.git rev-list --count main)" $((before + 1)) "commits for one batch"
git -C ledger.git log -1 --format=%B main >msg
assert_eq "$(head -n 1 msg)" "batch: 3 records" "batch subject"
sed -n 's/^Record: //p' msg >trailers
cmp -s trailers ids || fail "Record trailers are not the printed ids in order"
n=5
while read -r id; do
	git -C ledger.git cat-file blob "main:$(record_path "$id")" | grep -qF "\"seq\":$n" ||
		fail "record $id is not seq $n"
	n=$((n + 1))
done <ids

# Refusals write nothing: schema-invalid body, one bad record in a batch,
# a key bound to nobody.
tip=$(git -C ledger.git rev-parse main)
printf '{"id":"x","kind":"planet"}' >bad-agency.json
expect 1 "$CYMAT" -C ledger.git append --type agency bad-agency.json
assert_err "schema-invalid"
printf '{"type":"note","body":{"summary":"ok"}}\n{"type":"agency","body":{"kind":"planet"}}\n' >mixed.jsonl
expect 1 "$CYMAT" -C ledger.git append --batch mixed.jsonl
assert_err "1 of 2 records refused"
key nobody
expect 1 note nobody "hello"
assert_err "not bound"

# Bad input: exit 3 naming the file, line and position.
printf '{"summary": 1.5}' >float.json
expect 3 "$CYMAT" -C ledger.git append --type note float.json
assert_err "float.json"
printf '[1,2]' >array.json
expect 3 "$CYMAT" -C ledger.git append --type note array.json
assert_err "not a JSON object"
printf '{"type":"note","body":{}}\n{"type":"note","body":{}\n' >broken.jsonl
expect 3 "$CYMAT" -C ledger.git append --batch broken.jsonl
assert_err "line 2"
printf '{"type":"note","body":{},"colour":"red"}\n' >extra.jsonl
expect 3 "$CYMAT" -C ledger.git append --batch extra.jsonl
assert_err "colour"
expect 3 "$CYMAT" -C ledger.git append --type note missing.json
expect 3 "$CYMAT" -C ledger.git append --key "$K/nonexistent" --type note moj.json
expect 3 "$CYMAT" -C "$T/not-a-ledger" append --type note moj.json
expect 2 "$CYMAT" -C ledger.git append --batch batch.jsonl --type note
assert_eq "$(git -C ledger.git rev-parse main)" "$tip" "tip after refused and bad appends"

ok "$CYMAT" -C ledger.git verify
assert_out "0 invalid, 0 pending"
git -C ledger.git fsck --strict >/dev/null 2>&1 || fail "git fsck --strict reports problems"
exit 0
