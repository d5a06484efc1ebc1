#!/bin/sh
# Four appenders at once, two of them with the same key: every record lands,
# no chain is forked (no equivocation), the repository stays sound.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
base=$(git -C ledger.git rev-list --count main)
N=6

appender() {
	i=0
	while [ $i -lt $N ]; do
		printf '{"summary":"%s %s"}' "$2" $i >"body.$2.$i"
		"$CYMAT" -C ledger.git append --key "$K/$1" --type note "body.$2.$i" >>"ids.$2" 2>>"err.$2" ||
			echo "$2 $i exit $?" >>failures
		i=$((i + 1))
	done
}

appender moj-csirt a &
appender moj-csirt b &
appender mof-csirt c &
appender manager d &
wait

[ ! -s failures ] || { cat failures err.* >&2; fail "appends failed"; }
cat ids.a ids.b ids.c ids.d >ids
assert_eq "$(wc -l <ids | tr -d ' ')" $((4 * N)) "ids printed"
assert_eq "$(sort -u ids | wc -l | tr -d ' ')" $((4 * N)) "distinct ids"
while read -r id; do
	git -C ledger.git cat-file -e "main:$(record_path "$id")" 2>/dev/null ||
		fail "record $id printed but not in the ledger"
done <ids
assert_eq "$(git -C ledger.git rev-list --count main)" $((base + 4 * N)) "one commit per append"

git -C ledger.git fsck --strict >/dev/null 2>&1 || fail "git fsck --strict reports problems"
ok "$CYMAT" -C ledger.git verify --no-cache
assert_out "0 invalid, 0 pending"
assert_not_out "equivocation"
# moj-csirt's two appenders share one chain: seqs 1..2N, each once.
ok "$CYMAT" -C ledger.git log --author moj/csirt --json
seqs=$(sed 's/.*"seq":\([0-9]*\).*/\1/' "$T/out" | sort -n | tr '\n' ' ')
assert_eq "$seqs" "$(seq 1 $((2 * N)) | tr '\n' ' ')" "moj/csirt's seqs"
exit 0
