#!/bin/sh
# Sync scenario 5 (issue 4): cymat-syncd killed with SIGKILL mid-fetch,
# mid-merge and mid-push, then restarted: each time the ledger is intact
# (`git fsck --strict`, `cymat verify`), the restarted daemon finishes the
# work, and every node converges.  The master is behind a fault proxy: the
# fetch is killed while the proxy holds back the rest of its pack, the push
# while a latency widens its window (seen in the master's receive-pack
# quarantine), the "merge" once the fetched ref names the master's main:
# node_sync.c moves that ref only after main took the merge in, so this kill
# finds the merge done, and nothing seen from outside shows a merge under way
# to wait for.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/lib-sync.sh"
have_sync
[ -x "$SYNCD" ] || skip "cymat-syncd not built at $SYNCD"

sync_world
start_git_daemon "$T/srv"
start_proxy gd "$(hostport "$GIT_DAEMON_URL")"
node_config nisc
node_config moj nisc "git://127.0.0.1:$PROXY_PORT/master.git" master
MOJ=$(ledger_of moj)

start_daemon() {
	"$SYNCD" -c "$T/moj.conf" 2>>"$T/syncd.log" &
	DPID=$!
	track_pid "$DPID"
	wait_until "cymat-syncd to start" daemon_started
	# A cycle now, whatever the backoff or the poll interval say.
	wait_until "cymat-syncd to take a request" ask_daemon
}

ask_daemon() {
	"$CYMAT" sync --config "$T/moj.conf" >"$T/ask.out" 2>&1
	ad_rc=$?
	[ "$ad_rc" -eq 4 ] && return 1
	[ "$ad_rc" -eq 0 ] && grep -q "asked the running cymat-syncd" "$T/ask.out" ||
		{ cat "$T/ask.out" >&2; fail "cymat sync did not ask the daemon (exit $ad_rc)"; }
}

daemon_started() {
	kill -0 "$DPID" 2>/dev/null || { cat "$T/syncd.log" >&2; fail "cymat-syncd exited"; }
	[ "$(cat "$MOJ/cymat/syncd.pid" 2>/dev/null)" = "$DPID" ]
}

# kill9: SIGKILL to the daemon alone; whatever it left running is stopped at exit.
kill9() {
	for child in $(ps -o pid= --ppid "$DPID" 2>/dev/null); do
		track_pid "$child"
	done
	kill -9 "$DPID" || fail "cannot kill cymat-syncd"
	wait "$DPID" 2>/dev/null
	say "killed cymat-syncd (pid $DPID) $1"
}

# intact: moj's ledger survived the kill.
intact() {
	git -C "$MOJ" fsck --strict >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "git fsck --strict of moj failed after the kill $1"; }
	run "$CYMAT" -C "$MOJ" verify
	[ "$RC" -eq 0 ] || { show_output; fail "moj's ledger does not verify after the kill $1"; }
	git -C "$MASTER" fsck --strict >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "git fsck --strict of the master failed after the kill $1"; }
}

# caught_up: moj holds every record of the master, and the master's inbox holds moj's main.
caught_up() {
	records nisc >"$T/r.nisc"
	records moj >"$T/r.moj"
	[ -z "$(comm -23 "$T/r.nisc" "$T/r.moj")" ] &&
		[ "$(git -C "$MASTER" rev-parse -q --verify refs/inbox/moj)" = "$(git -C "$MOJ" rev-parse main)" ]
}

# restart: a new daemon (the first cycle runs at start) catches up, then stops.
restart() {
	start_daemon
	wait_until "the restarted daemon to catch up ($1)" caught_up
	kill -TERM "$DPID" || fail "cannot stop cymat-syncd"
	wait "$DPID"
	src=$?
	[ "$src" -eq 0 ] || { cat "$T/syncd.log" >&2; fail "cymat-syncd exited $src on SIGTERM"; }
	[ ! -e "$MOJ/cymat/syncd.pid" ] || [ ! -s "$MOJ/cymat/syncd.pid" ] || say "(pidfile left behind)"
	intact "$1"
	say "restarted daemon caught up after the kill $1"
}

fetch_stalled() {
	[ "$(proxy_count gd stall)" -gt 0 ]
}

# The link hangs 64 KiB into the pack (the advertisement is far smaller, the
# pack of 400 records far larger): the kill finds the fetch waiting for the rest.
say "mid-fetch: 400 new records on the master, a link that hangs mid-pack"
write_batch nisc manager 400 fetch
proxy_mode gd stall=65536
start_daemon
wait_until "the fetch to stall mid-pack" fetch_stalled
kill9 mid-fetch
[ "$(git -C "$MOJ" rev-parse -q --verify refs/cymat/remotes/nisc/main)" != "$(git -C "$MASTER" rev-parse main)" ] ||
	fail "the fetched ref moved, though the fetch was killed before its pack was whole"
intact mid-fetch
proxy_mode gd latency=20
restart mid-fetch

say "mid-merge: 1500 new records on the master, a fast link"
write_batch nisc manager 1500 merge
proxy_mode gd
TARGET=$(git -C "$MASTER" rev-parse main)
fetched() {
	[ "$(git -C "$MOJ" rev-parse -q --verify refs/cymat/remotes/nisc/main)" = "$TARGET" ]
}
start_daemon
wait_until "the fetch to complete" fetched
kill9 mid-merge
if records moj | grep -qx "$(tail -n 1 "$T/written")"; then
	say "(the merge completed before the kill)"
else
	say "the kill hit before main moved"
fi
intact mid-merge
restart mid-merge

say "mid-push: 400 new records at moj, a slow link"
write_batch moj moj-csirt 400 push
proxy_mode gd latency=300
pushing() {
	ls -d "$MASTER"/objects/tmp_objdir-incoming-* >/dev/null 2>&1
}
start_daemon
wait_until "the push to start" pushing
kill9 mid-push
wait_until "the master to drop the broken push" eval '! pushing'
[ "$(git -C "$MASTER" rev-parse -q --verify refs/inbox/moj)" != "$(git -C "$MOJ" rev-parse main)" ] ||
	say "(the push completed before the kill)"
intact mid-push
proxy_mode gd latency=20
restart mid-push

say "convergence of every node"
node_config mof nisc "$GIT_DAEMON_URL/master.git" master
node_config mic nisc "$GIT_DAEMON_URL/master.git" master
converge 3 moj mof mic
assert_converged moj mof mic
exit 0
