#!/bin/sh
# Sync scenario 1 (issue 4): NISC's master goes down while MOJ files a
# request and a damage report; every sync fails with exit 6 and says why in
# `cymat sync status`; the master comes back and every node converges, and
# the master's receipt names MOJ's records.  The master is served by git
# daemon (moj, mic) and by git http-backend behind lighttpd (mof), hook
# installed, each behind a fault proxy that plays the outage.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/lib-sync.sh"
have_sync

sync_world
start_git_daemon "$T/srv"
start_http_git "$T/srv"
start_proxy gd "$(hostport "$GIT_DAEMON_URL")"
GD=git://127.0.0.1:$PROXY_PORT
start_proxy http "$(hostport "$HTTP_GIT_URL")"
HTTP=http://127.0.0.1:$PROXY_PORT/git
node_config nisc
node_config moj nisc "$GD/master.git" master
node_config mof nisc "$HTTP/master.git" master
node_config mic nisc "$GD/master.git" master

say "every node in sync to begin with"
converge 3 moj mof mic
assert_converged moj mof mic

say "the master goes down"
proxy_mode gd down=1
proxy_mode http down=1
cat >request.json <<'JSON'
{"basis": "10.1", "route": "normal", "addressed_to": "director", "affected": "moj",
 "summary": "Ransomware on the case management file servers", "systems": ["case management"],
 "occurred_at": "2026-11-26T01:00:00Z"}
JSON
REQ=$(file_record moj moj-ciso request request.json)
say "moj files request $REQ offline"
sync_node moj
assert_eq "$RC" 6 "exit status of a sync with the master down"
assert_err 'warning: remote "nisc": '
if grep -qF 'remote "nisc": remote "nisc"' "$T/err"; then
	show_output
	fail "the warning names the remote twice"
fi
sync_status moj
assert_out "remote nisc"
assert_out "failures:      1 in a row"
grep -q "^  last error:    .*: ." "$T/out" || { show_output; fail "sync status names no error"; }
assert_not_out "last error:    none"

cat >report.json <<'JSON'
{"number": 1, "status": "investigating", "summary": "Three servers isolated, backups intact",
 "gsoc_substitute": false, "cabinet_emergency": false}
JSON
# No dispatch can reach moj while the master is down: the report breaks
# R13.1 and is appended anyway (--no-judge), as evidence; DOMAIN findings
# never hold a record back from sync.
REP=$(file_record moj moj-csirt report report.json --class c2 --incident "$REQ" --ref "$REQ" \
	--no-judge)
say "moj reports $REP offline"
NOTE=$(write mof mof-csirt "mof works on while the master is down")
for n in moj mof mic; do
	sync_node "$n"
	assert_eq "$RC" 6 "exit status of $n's sync with the master down"
done
sync_status moj
assert_out "failures:      2 in a row"
[ "$(proxy_count gd down)" -ge 3 ] || fail "the git daemon proxy refused too few connections"
[ "$(proxy_count http down)" -ge 1 ] || fail "the HTTP proxy refused no connection"
records nisc >"$T/records.down"
for id in $REQ $REP $NOTE; do
	grep -qx "$id" "$T/records.down" && fail "record $id reached the master while it was down"
done
# What moj wrote is still only moj's, and still there.
records moj | grep -qx "$REP" || fail "moj lost its report"

say "the master is back"
proxy_mode gd
proxy_mode http
converge 3 moj mof mic
assert_converged moj mof mic
receipt_names "$REQ" || fail "no receipt of the master names the request $REQ"
receipt_names "$REP" || fail "no receipt of the master names the report $REP"
receipt_names "$NOTE" || fail "no receipt of the master names mof's note $NOTE"
sync_status moj
assert_out "failures:      0"
exit 0
