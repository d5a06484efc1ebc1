#!/bin/sh
# Sync scenario 2 (issue 4): MOJ and MOF write at the same time, each while
# its own syncs run against the master (MOJ through git daemon, MOF through
# smart HTTP) and while the master takes in its inboxes and NISC's manager
# writes on the master: every node converges and no record is lost.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/lib-sync.sh"
have_sync

sync_world
start_git_daemon "$T/srv"
start_http_git "$T/srv"
node_config nisc
node_config moj nisc "$GIT_DAEMON_URL/master.git" master
node_config mof nisc "$HTTP_GIT_URL/master.git" master
node_config mic nisc "$GIT_DAEMON_URL/master.git" master

# writer NODE KEY N: N notes, one `cymat append` each; ids in $T/written.NODE
writer() {
	w_i=0
	while [ "$w_i" -lt "$3" ]; do
		w_i=$((w_i + 1))
		printf '{"summary":"%s writes %d while syncing"}' "$1" "$w_i" |
			"$CYMAT" -C "$(ledger_of "$1")" append --key "$K/$2" --type note - \
			>>"$T/written.$1" 2>>"$T/writer.$1.err" || echo "append $w_i" >>"$T/failed"
	done
}

# syncer NODE N: N sync cycles; any exit status but 0 and 6 is a failure.
syncer() {
	s_i=0
	while [ "$s_i" -lt "$2" ]; do
		s_i=$((s_i + 1))
		"$CYMAT" sync --config "$T/$1.conf" >>"$T/sync.$1.log" 2>&1
		s_rc=$?
		[ "$s_rc" -eq 0 ] || [ "$s_rc" -eq 6 ] || echo "sync $1 $s_i: exit $s_rc" >>"$T/failed"
	done
}

say "every node in sync to begin with"
converge 3 moj mof mic

say "moj and mof write and sync at once; the master takes in and writes meanwhile"
: >"$T/failed"
writer moj moj-csirt 6 &
p1=$!
writer mof mof-csirt 6 &
p2=$!
writer nisc manager 3 &
p3=$!
syncer moj 4 &
p4=$!
syncer mof 4 &
p5=$!
syncer nisc 5 &
p6=$!
for p in $p1 $p2 $p3 $p4 $p5 $p6; do
	wait "$p"
done
if [ -s "$T/failed" ]; then
	cat "$T/failed" "$T"/writer.*.err >&2
	tail -n 30 "$T"/sync.*.log >&2
	fail "a concurrent append or sync failed"
fi
cat "$T/written.moj" "$T/written.mof" "$T/written.nisc" >>"$T/written"
[ "$(wc -l <"$T/written")" -eq 15 ] || fail "expected 15 ids written, got $(wc -l <"$T/written")"

say "then convergence"
converge 4 moj mof mic
assert_converged moj mof mic
for id in $(cat "$T/written.moj" "$T/written.mof"); do
	receipt_names "$id" || fail "no receipt of the master names record $id"
done
exit 0
