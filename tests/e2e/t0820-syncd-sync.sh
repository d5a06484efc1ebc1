#!/bin/sh
# Two daemons over a real git server: NISC's master (mode master) and an
# agency (mode agency) syncing with it through `git daemon
# --enable=receive-pack` on 127.0.0.1.  The agency's records reach the
# master's main with a receipt, the master's checkpoint reaches the agency;
# with the server down the agency keeps appending, its backoff grows and its
# status shows the error; with the server back both ledgers converge and
# nothing written is lost.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-syncd.sh"

[ -x "$(git --exec-path)/git-daemon" ] || skip "git daemon not installed"

make_ledger "$T/srv/master.git"
M=$L
key nisc-node
key moj-node
"$CYMAT" -C "$M" principal add --key "$K/manager" --pub "$K/nisc-node" --role node \
	nisc/syncd >/dev/null || fail "binding nisc/syncd failed"
"$CYMAT" -C "$M" principal add --key "$K/moj-ciso" --pub "$K/moj-node" --role node \
	moj/syncd >/dev/null || fail "binding moj/syncd failed"
# The agency's ledger starts as a clone of the master's, pinned to its root.
A=$T/moj.git
git clone -q --bare "$M" "$A" || fail "git clone --bare failed"
git -C "$A" config cymat.root "$ROOT"

port=$(free_port)
start_server() {
	git daemon --reuseaddr --listen=127.0.0.1 --port="$port" --base-path="$T/srv" \
		--export-all --enable=receive-pack "$T/srv" 2>>"$T/git-daemon.log" &
	GITD_PID=$!
	remember_child "$GITD_PID"
	wait_until "git daemon" git ls-remote "git://127.0.0.1:$port/master.git" >/dev/null 2>&1
}
stop_server() {
	kill "$GITD_PID"
	wait "$GITD_PID" 2>/dev/null
	# Its children (one per connection) end with their connections.
	wait_until "git daemon to stop" sh -c "! git ls-remote git://127.0.0.1:$port/master.git" \
		>/dev/null 2>&1
}

cat >master.conf <<EOF
[node]
key = $K/nisc-node.key
principal = nisc/syncd
agency = nisc
ledger = $M
mode = master
log_level = debug
[sync]
poll_interval = 1s
checkpoint_interval = 1h
EOF
cat >moj.conf <<EOF
[node]
key = $K/moj-node.key
principal = moj/syncd
agency = moj
ledger = $A
mode = agency
log_level = debug
[sync]
poll_interval = 1s
backoff_base = 1s
backoff_cap = 4s
transfer_deadline = 30s
[remote "nisc"]
url = git://127.0.0.1:$port/master.git
role = master
EOF
ok "$SYNCD" --check-config -c master.conf
ok "$SYNCD" --check-config -c moj.conf

# records LEDGER: its record files, sorted.
records() {
	git -C "$1" ls-tree -r --name-only main records/ | sort
}
has_record() {
	git -C "$1" cat-file -e "main:$(record_path "$2")" 2>/dev/null
}
same_records() {
	[ "$(records "$M")" = "$(records "$A")" ]
}
# type_in LEDGER TYPE: some record of that type is in the ledger's main.
type_in() {
	for f in $(records "$1"); do
		git -C "$1" cat-file blob "main:$f" | grep -q "\"type\":\"$2\"" && return 0
	done
	return 1
}
# receipt_for LEDGER ID: a receipt in the ledger's main accepts record ID.
receipt_for() {
	for f in $(records "$1"); do
		git -C "$1" cat-file blob "main:$f" >"$T/blob" || return 1
		grep -q '"type":"receipt"' "$T/blob" && grep -q "\"$2\"" "$T/blob" && return 0
	done
	return 1
}

say "master and agency daemons with the server up"
start_server
SYNCD_PIDFILE=$M/cymat/syncd.pid
start_syncd master.conf
MASTER_PID=$SYNCD_PID
mv "$T/syncd.log" "$T/master.log"
SYNCD_PIDFILE=$A/cymat/syncd.pid
start_syncd moj.conf
AGENCY_PID=$SYNCD_PID

say "an agency record reaches the master, with a receipt; the checkpoint comes back"
L=$A
first=$(note moj-csirt "filed while in sync") || fail "append in the agency failed"
wait_until "the record on the master" has_record "$M" "$first"
wait_until "its receipt on the master" receipt_for "$M" "$first"
wait_until "the checkpoint at the agency" type_in "$A" checkpoint
wait_until "convergence" same_records
ok "$CYMAT" -C "$A" sync status
assert_out "newest checkpoint: 20"

say "server down: the agency keeps appending, backs off, and says why"
stop_server
second=$(note moj-csirt "filed while NISC is unreachable") || fail "append while offline failed"
failures_at_least() {
	n=$(status_field "$A" nisc failures)
	[ -n "$n" ] && [ "$n" -ge "$1" ]
}
wait_until "three failures in a row" failures_at_least 3
ok "$CYMAT" -C "$A" sync status --json
python3 - "$T/out" <<'EOF' || { cat "$T/out"; fail "sync status --json while offline"; }
import json, sys
from datetime import datetime
s = json.load(open(sys.argv[1]))
r = {x["name"]: x for x in s["remotes"]}["nisc"]
t = lambda v: datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").timestamp()
assert r["state"] == "failing", r
assert r["failures"] >= 3 and r["last_error"], r
assert r["last_success"] is not None, r
# backoff_base 1s: from the third failure on the wait is at least 2s.
assert t(r["next_attempt"]) - t(r["last_error_time"]) >= 2, r
assert r["unpushed"] >= 1, r
assert s["checkpoint"] is not None and s["checkpoint"]["age"] >= 0, s
EOF
ok "$CYMAT" -C "$A" sync status
assert_out "remote nisc: failing"
assert_out "in a row, backing off"
has_record "$M" "$second" && fail "the master has a record it cannot have received"

say "server back: convergence, nothing lost"
start_server
wait_until "the offline record on the master" has_record "$M" "$second"
# The master merges an inbox, then appends its receipt in a commit of its own
# (docs/FORMAT.md): the same records on both sides before that receipt is not
# the end.  Once the agency has the receipt, neither ledger changes any more.
wait_until "its receipt on the master" receipt_for "$M" "$second"
wait_until "that receipt at the agency" receipt_for "$A" "$second"
wait_until "convergence" same_records
back_in_sync() {
	[ "$(status_field "$A" nisc failures)" = 0 ]
}
wait_until "the agency's status to recover" back_in_sync
for id in "$first" "$second"; do
	has_record "$A" "$id" || fail "the agency lost $id"
	has_record "$M" "$id" || fail "the master lacks $id"
done
grep -q "back after" "$T/syncd.log" || fail "the agency did not log its recovery"

say "both stop cleanly; both ledgers verify"
kill -TERM "$AGENCY_PID" "$MASTER_PID"
wait "$AGENCY_PID" || fail "the agency daemon exited $?"
wait "$MASTER_PID" || fail "the master daemon exited $?"
for ledger in "$M" "$A"; do
	git -C "$ledger" fsck --strict >/dev/null 2>&1 || fail "git fsck --strict on $ledger"
	ok "$CYMAT" -C "$ledger" verify
	assert_out "0 invalid"
done
same_records || fail "the ledgers differ after the daemons stopped"
exit 0
