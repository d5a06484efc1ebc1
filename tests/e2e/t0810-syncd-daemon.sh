#!/bin/sh
# cymat-syncd as a service: readiness, status, watchdog and stopping seen
# through a real NOTIFY_SOCKET; one daemon per ledger; SIGUSR1 (and `cymat
# sync`) runs a cycle now; SIGHUP applies a valid config and keeps the old
# one otherwise; SIGTERM exits 0 and removes the pidfile.  The remotes are
# closed ports on 127.0.0.1, so every cycle fails and counts in the status.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-syncd.sh"

syncd_ledger

# Nothing listens on these: each attempt fails at once.
closed1=$(free_port)
closed2=$(free_port)

# config FILE [extra remote section lines...]: a config whose backoff is far
# longer than the test, so that only our requests make cycles.
config() {
	out=$1
	shift
	syncd_node_section "$out" "${LOG_LEVEL:-info}"
	cat >>"$out" <<EOF
[sync]
poll_interval = 1h
backoff_base = 1h
backoff_cap = 2h
transfer_deadline = 30
[remote "nisc"]
url = git://127.0.0.1:$closed1/ledger.git
role = master
EOF
	for line in "$@"; do
		echo "$line" >>"$out"
	done
}
config syncd.conf

# The systemd side: a datagram socket that records what the daemon says.
cat >notify.py <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as log:
    while True:
        log.write(s.recv(65536).decode() + "\n")
        log.flush()
EOF
: >notify.log
python3 notify.py "$T/notify.sock" "$T/notify.log" &
remember_child $!
wait_until "the notify socket" test -S "$T/notify.sock"
notified() {
	grep -q "^$1" "$T/notify.log"
}

say "start: READY=1, the pidfile names the daemon"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=300000 start_syncd syncd.conf
wait_until "READY=1" notified READY=1
wait_until "STATUS=" notified STATUS=
wait_until "WATCHDOG=1" notified WATCHDOG=1
log_has "started: mode agency" || fail "no start message"
# The first cycle ran on its own (no status yet: the remote was due).
failures_are() {
	[ "$(status_field "$L" nisc failures)" = "$1" ]
}
wait_until "the first cycle" failures_are 1
ok "$CYMAT" -C "$L" sync status
assert_out "remote nisc: failing"
assert_out "failures:      1 in a row"
ok "$CYMAT" sync status --config syncd.conf
assert_out "remote nisc (master, git://127.0.0.1:$closed1/ledger.git): failing"

say "a second daemon on the same ledger refuses to start"
expect 4 "$SYNCD" -c syncd.conf
assert_err "another cymat-syncd (pid $SYNCD_PID) is running"
assert_eq "$(cat "$SYNCD_PIDFILE")" "$SYNCD_PID" "pidfile after the refused start"
kill -0 "$SYNCD_PID" || fail "the first daemon died"

say "SIGUSR1, and cymat sync, run a cycle now despite the backoff"
kill -USR1 "$SYNCD_PID"
wait_until "the cycle SIGUSR1 asked for" failures_are 2
log_has "sync requested" || fail "no log of the request"
ok "$CYMAT" sync --config syncd.conf
assert_out "asked the running cymat-syncd (pid $SYNCD_PID) to sync now"
wait_until "the cycle cymat sync asked for" failures_are 3

say "SIGHUP with a bad config: logged, old config kept"
cp syncd.conf good.conf
printf '[node]\nbogus = 1\n' >syncd.conf
kill -HUP "$SYNCD_PID"
wait_until "the refusal" log_has "keeping the old one"
log_has "syncd.conf:2: unknown key \"bogus\" in [node]" || fail "the reload error lacks file:line"
kill -0 "$SYNCD_PID" || fail "the daemon died on a bad config"
wait_until "RELOADING=1" notified RELOADING=1
kill -USR1 "$SYNCD_PID"
wait_until "a cycle under the old config" failures_are 4

say "SIGHUP with a config for another ledger: refused"
sed "s|^ledger = .*|ledger = $T/other.git|" good.conf >syncd.conf
cp -r "$L" "$T/other.git"
kill -HUP "$SYNCD_PID"
wait_until "the refusal" log_has "a new ledger needs a restart"

say "SIGHUP with a good config: applied"
LOG_LEVEL=debug config syncd.conf '[remote "second"]' "url = git://127.0.0.1:$closed2/x.git" \
	'role = peer'
kill -HUP "$SYNCD_PID"
wait_until "the reload" log_has "configuration reloaded: mode agency, 2 remotes"
# The cycle after a reload tries the new remote, which is due at once.
second_failed() {
	[ -n "$(status_field "$L" second failures)" ]
}
wait_until "a cycle with the new remote" second_failed
# The new log level took effect too.
log_has "remote \"second\": syncing with git://127.0.0.1:$closed2/x.git" ||
	fail "no debug message after the reload"
ok "$CYMAT" -C "$L" sync status --json
python3 - "$T/out" "$closed2" <<'EOF' || fail "sync status --json is not what the status files say"
import json, sys
s = json.load(open(sys.argv[1]))
r = {x["name"]: x for x in s["remotes"]}
assert set(r) == {"nisc", "second"}, r
assert r["nisc"]["failures"] == 4 and r["nisc"]["state"] == "failing", r["nisc"]
assert r["second"]["failures"] >= 1 and r["second"]["last_error"], r["second"]
assert r["nisc"]["last_success"] is None and r["nisc"]["next_attempt"] > s["now"], r["nisc"]
assert s["checkpoint"] is None
EOF

say "SIGTERM: exit 0, pidfile removed, STOPPING=1"
stop_syncd
assert_eq "$SYNCD_RC" 0 "exit status after SIGTERM"
[ ! -e "$SYNCD_PIDFILE" ] || fail "the pidfile is still there"
wait_until "STOPPING=1" notified STOPPING=1
log_has "stopping" || fail "no stop message"

say "no daemon: cymat sync runs the cycle itself"
expect 6 "$CYMAT" sync --config syncd.conf
assert_out "0 remotes synced, 2 failed"
assert_err "cymat sync: warning: remote \"nisc\""
failures_are 5 || fail "cymat sync did not record its failure"

say "a pidfile left by a dead daemon does not block a start; SIGINT stops it"
echo 99999999 >"$SYNCD_PIDFILE"
start_syncd syncd.conf
kill -INT "$SYNCD_PID"
wait "$SYNCD_PID"
assert_eq "$?" 0 "exit status after SIGINT"
[ ! -e "$SYNCD_PIDFILE" ] || fail "the pidfile is still there after SIGINT"
exit 0
