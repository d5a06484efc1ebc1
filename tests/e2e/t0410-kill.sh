#!/bin/sh
# kill -9 at random moments during a loop of appends: the ledger stays valid,
# every append that printed its id is in it, and appending goes on afterwards.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
printf '{"summary":"survivor"}' >body.json
: >ids

(
	while [ ! -e stop ]; do
		"$CYMAT" -C ledger.git append --key "$K/moj-csirt" --type note body.json >>ids 2>>errs &
		echo $! >cur.pid
		wait $!
	done
) &
loop=$!

kills=0
for pause in 0.3 0.05 0.2 0.11 0.4 0.07 0.25 0.15 0.33 0.02; do
	sleep "$pause"
	pid=$(cat cur.pid 2>/dev/null) || continue
	# Only our own appender (started above), by its id.
	kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
done
touch stop
wait "$loop"
say "$kills appenders killed, $(grep -c . ids) appends printed their id"

grep -Ev '^[0-9a-f]{64}$' ids >junk || true
[ ! -s junk ] || fail "torn output lines: $(cat junk)"
while read -r id; do
	git -C ledger.git cat-file -e "main:$(record_path "$id")" 2>/dev/null ||
		fail "append printed $id but it is not in the ledger"
done <ids

git -C ledger.git fsck --strict >/dev/null 2>&1 || fail "git fsck --strict reports problems"
ok "$CYMAT" -C ledger.git verify --no-cache
assert_out "0 invalid, 0 pending"
# No stale lock: the next append goes through.
ok "$CYMAT" -C ledger.git append --key "$K/moj-csirt" --type note body.json
ok "$CYMAT" -C ledger.git verify
assert_out "0 invalid, 0 pending"
exit 0
