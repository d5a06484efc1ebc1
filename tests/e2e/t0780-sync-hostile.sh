#!/bin/sh
# Sync scenario 8 (issue 4): servers that attack.  One streams an endless
# pack after a plausible ref advertisement (over git:// and smart HTTP),
# one trickles its advertisement a byte a second.  `cymat sync` gives up at
# the size cap, the object cap and the deadline (exit 6, `cymat sync status`
# names the error), main is untouched; the next cycle against the real
# master succeeds.  Then the daemon: stuck on the endless server, it fails
# its cycle, takes a corrected config on SIGHUP and recovers.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/lib-sync.sh"
have_sync

sync_world
start_git_daemon "$T/srv"
start_hostile egit endless git
EGIT=git://127.0.0.1:$HOSTILE_PORT/master.git
start_hostile ehttp endless http
EHTTP=http://127.0.0.1:$HOSTILE_PORT/master.git
start_hostile trickle trickle git
TRICKLE=git://127.0.0.1:$HOSTILE_PORT/master.git
MOJ=$(ledger_of moj)
R1=$(write moj moj-csirt "written before the attack")
main_before=$(git -C "$MOJ" rev-parse main)

# attacked NAME URL WORD: one cycle against URL fails with exit 6, and the
# status names an error with WORD; main and the fetched ref did not move.
attacked() {
	node_config moj nisc "$2" master
	sync_node moj
	[ "$RC" -eq 6 ] || { show_output; fail "$1: cymat sync exited $RC, expected 6"; }
	sync_status moj
	grep -i "^  last error:    .*$3" "$T/out" >/dev/null || { show_output; fail "$1: sync status names no \"$3\" error"; }
	assert_eq "$(git -C "$MOJ" rev-parse main)" "$main_before" "$1: main after the attack"
	git -C "$MOJ" rev-parse -q --verify refs/cymat/remotes/nisc/main >/dev/null &&
		fail "$1: the fetched ref moved"
	git -C "$MOJ" fsck --strict >/dev/null 2>&1 || fail "$1: git fsck --strict failed"
	say "$1: gave up, $(grep '^  last error:' "$T/out" | sed 's/^ *//')"
}

say "endless pack over git://, a 2 MiB cap"
SYNC_MAX_BYTES=2M
attacked "endless git" "$EGIT" "limit\|cap\|bytes"
grep -q "pack started" "$T/hostile.egit.log" || fail "the endless server sent no pack"

say "endless pack over smart HTTP, a 2 MiB cap"
attacked "endless http" "$EHTTP" "limit\|cap\|bytes"
unset SYNC_MAX_BYTES

say "endless pack over git://, a cap of 300 objects"
SYNC_MAX_OBJECTS=300
attacked "endless git, objects" "$EGIT" "limit\|cap\|objects"
unset SYNC_MAX_OBJECTS

say "a trickle, a deadline of 5 s"
SYNC_DEADLINE=5
attacked "trickle" "$TRICKLE" "deadline\|time\|within"
unset SYNC_DEADLINE

say "the next cycle, against the real master, succeeds"
node_config moj nisc "$GIT_DAEMON_URL/master.git" master
sync_ok moj
sync_status moj
assert_out "failures:      0"
[ "$(git -C "$MASTER" rev-parse refs/inbox/moj)" = "$(git -C "$MOJ" rev-parse main)" ] ||
	fail "moj's main did not reach its inbox after the attack"

[ -x "$SYNCD" ] || { say "cymat-syncd not built: the daemon part is skipped"; exit 0; }
say "the daemon against the endless server, then corrected by SIGHUP"
R2=$(write moj moj-csirt "written while the daemon is under attack")
SYNC_MAX_BYTES=2M
node_config moj nisc "$EGIT" master
"$SYNCD" -c "$T/moj.conf" 2>>"$T/syncd.log" &
DPID=$!
track_pid "$DPID"
# The last success set the next attempt an hour ahead, and a restarted
# daemon keeps to it: ask for a cycle now, once the daemon holds its pidfile.
daemon_started() {
	kill -0 "$DPID" 2>/dev/null || { cat "$T/syncd.log" >&2; fail "cymat-syncd exited"; }
	[ "$(cat "$MOJ/cymat/syncd.pid" 2>/dev/null)" = "$DPID" ]
}
wait_until "cymat-syncd to start" daemon_started
asked() {
	"$CYMAT" sync --config "$T/moj.conf" >"$T/ask.out" 2>&1 &&
		grep -q "asked the running cymat-syncd" "$T/ask.out"
}
wait_until "cymat sync to ask the daemon" asked
failures_at_least() {
	kill -0 "$DPID" 2>/dev/null || { cat "$T/syncd.log" >&2; fail "cymat-syncd died"; }
	"$CYMAT" -C "$MOJ" sync status --json >"$T/st.json" 2>/dev/null || return 1
	python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
r = [r for r in s["remotes"] if r["name"] == "nisc"][0]
sys.exit(0 if (r.get("failures") or 0) >= int(sys.argv[2]) else 1)' "$T/st.json" "$1"
}
wait_until "the daemon to fail against the endless server" failures_at_least 1
unset SYNC_MAX_BYTES
node_config moj nisc "$GIT_DAEMON_URL/master.git" master
kill -HUP "$DPID" || fail "cannot send SIGHUP"
pushed() {
	[ "$(git -C "$MASTER" rev-parse -q --verify refs/inbox/moj)" = "$(git -C "$MOJ" rev-parse main)" ]
}
# The reload is applied; then a cycle now (the backoff would wait an hour).
wait_until "cymat sync to ask the daemon" asked
wait_until "the daemon to recover" pushed
kill -TERM "$DPID"
wait "$DPID"
sync_status moj
assert_out "failures:      0"

say "every node converges"
node_config nisc
node_config mof nisc "$GIT_DAEMON_URL/master.git" master
node_config mic nisc "$GIT_DAEMON_URL/master.git" master
converge 3 moj mof mic
assert_converged moj mof mic
exit 0
