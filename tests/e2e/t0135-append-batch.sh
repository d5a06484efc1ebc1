#!/bin/sh
# cymat append --batch judges each record as if the batch's earlier records
# were in the ledger already: a chain that runs through the batch has no
# gap, a reference to an earlier record of the batch is found, a quota
# counts the batch's records; what append reports equals what `cymat
# verify` and `cymat findings` report once the batch is in.  A genuine gap
# is still reported, and a record a rule refuses refuses the whole batch.
. "$(dirname "$0")/lib.sh"

make_ledger "$T/l.git"
printf '%s\n' \
	'{"type":"agency","body":{"id":"moj","kind":"government","name":{"ja":"法務省","en":"Ministry of Justice"}}}' \
	>agencies.jsonl
ok "$CYMAT" -C "$L" append --key "$K/manager" --batch agencies.jsonl

# The findings lines ("SEVERITY RULE CODE ID PATH: MESSAGE") of a file, sorted.
findings_of() {
	grep -E '^(error|warning|pending) ' "$1" | sort
}

# The findings verify and findings print about the ids in file $1, sorted.
ledger_findings_about() {
	"$CYMAT" -C "$L" verify >"$T/verify.out" 2>&1
	"$CYMAT" -C "$L" findings >>"$T/verify.out" 2>&1 || fail "cymat findings failed"
	findings_of "$T/verify.out" | grep -F -f "$1" || true
}

# 1. 1000 records of one key: a chain through the whole batch, no finding.
i=0
while [ "$i" -lt 1000 ]; do
	i=$((i + 1))
	printf '{"type":"note","body":{"summary":"note %d of a long batch"}}\n' "$i"
done >long.jsonl
ok "$CYMAT" -C "$L" append --key "$K/moj-ciso" --batch long.jsonl
assert_eq "$(wc -l <"$T/out" | tr -d ' ')" 1000 "ids printed for a batch of 1000"
cp "$T/out" long.ids
[ -s "$T/err" ] && { show_output; fail "a batch of one key's chain got findings"; }
ok "$CYMAT" -C "$L" verify
assert_out "0 invalid, 0 pending"
assert_eq "$(ledger_findings_about long.ids)" "" "findings about the long batch"

# 2. Record 3 refers to record 2 of its own batch.  Records are deterministic
# (one fixed time): the id record 2 will have comes from a throwaway copy.
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf '{"type":"note","body":{"summary":"%s"},"time":"%s"}\n' first "$now" second "$now" >two.jsonl
git clone -q --bare "$L" "$T/try.git" || fail "git clone failed"
"$CYMAT" -C "$T/try.git" append --key "$K/moj-ciso" --batch two.jsonl >two.ids ||
	fail "the throwaway batch was refused"
second=$(sed -n 2p two.ids)
cp two.jsonl three.jsonl
printf '{"type":"note","body":{"summary":"third"},"refs":["%s"],"time":"%s"}\n' \
	"$second" "$now" >>three.jsonl
ok "$CYMAT" -C "$L" append --key "$K/moj-ciso" --batch three.jsonl
[ -s "$T/err" ] && { show_output; fail "a reference to the batch's own record 2 got findings"; }
assert_eq "$(sed -n 2p "$T/out")" "$second" "record 2 of the batch"
third=$(sed -n 3p "$T/out")
git -C "$L" cat-file blob "main:$(record_path "$third")" | grep -qF "\"refs\":[\"$second\"]" ||
	fail "record 3 does not refer to record 2"
ok "$CYMAT" -C "$L" verify
assert_out "0 invalid, 0 pending"

# 3. Quotas count the batch's records: four nominations fit R8.1, a fifth
# in the same batch is refused, and with it the whole batch.
nominations() { # FIRST LAST: nominations of moj/cFIRST .. moj/cLAST
	n=$1
	while [ "$n" -le "$2" ]; do
		printf '{"type":"nomination","body":{"candidate":"moj/c%d","agency":"moj"}}\n' "$n"
		n=$((n + 1))
	done
}
nominations 1 5 >five.jsonl
tip=$(git -C "$L" rev-parse main)
expect 1 "$CYMAT" -C "$L" append --key "$K/moj-ciso" --batch five.jsonl
assert_err "error R8.1 candidate-quota"
assert_err "1 of 5 records refused"
assert_eq "$(grep -c 'refused by the rules' "$T/err")" 1 "records refused of five nominations"
assert_eq "$(git -C "$L" rev-parse main)" "$tip" "main after a refused batch"
nominations 1 4 >four.jsonl
ok "$CYMAT" -C "$L" append --key "$K/moj-ciso" --batch four.jsonl
[ -s "$T/err" ] && { show_output; fail "four nominations in one batch got findings"; }
cp "$T/out" four.ids
assert_eq "$(ledger_findings_about four.ids)" "" "findings about the four nominations"

# 4. A genuine gap (the key's next seq skipped) is reported for the record
# after it, and only for it: the rest of the batch follows it, and the rules
# see them wait for it; append reports what verify and findings report once
# the batch is in.
next=$(git -C "$L" cat-file blob "main:$(record_path "$(tail -n 1 four.ids)")" |
	sed 's/.*"seq":\([0-9]*\).*/\1/')
missing=$(printf 'a missing record' | sha256sum | cut -c1-64)
nominations 6 8 >gap.jsonl
ok "$CYMAT" -C "$L" append --key "$K/moj-ciso" --seq $((next + 2)) --prev "$missing" \
	--batch gap.jsonl
cp "$T/out" gap.ids
findings_of "$T/err" >gap.append
grep -qF "pending FORMAT-3 chain-gap $(head -n 1 gap.ids) " gap.append ||
	{ cat gap.append >&2; fail "no chain-gap for the record after the gap"; }
assert_eq "$(grep -c chain-gap gap.append)" 1 "chain-gap findings for a gapped batch"
ledger_findings_about gap.ids >gap.ledger
cmp -s gap.append gap.ledger ||
	{ diff gap.append gap.ledger >&2; fail "append and the ledger disagree about the gap"; }
exit 0
