#!/bin/sh
# Sync scenario 7 (issue 4): a degraded link.  Every agency reaches the
# master through a fault proxy that adds latency, drops connections at
# random and cuts some mid-pack (both ways); each agency writes enough for
# its packs to be cut.  Failed cycles exit 6 and leave the ledger intact;
# with a bounded number of retries every node converges, nothing is lost,
# and the proxies' logs show the faults happened.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/lib-sync.sh"
have_sync

sync_world
start_git_daemon "$T/srv"
start_http_git "$T/srv"
FAULTS="latency=5 drop=0.1 cut=40000 cutup=40000 cutp=0.25"
start_proxy gd "$(hostport "$GIT_DAEMON_URL")" $FAULTS
GD=git://127.0.0.1:$PROXY_PORT
start_proxy http "$(hostport "$HTTP_GIT_URL")" $FAULTS
HTTP=http://127.0.0.1:$PROXY_PORT/git
node_config nisc
node_config moj nisc "$GD/master.git" master
node_config mof nisc "$HTTP/master.git" master
node_config mic nisc "$GD/master.git" master

say "each agency and NISC write packs larger than the cuts"
write_batch moj moj-csirt 150 moj
write_batch mof mof-csirt 150 mof
write_batch mic mic-csirt 150 mic
write_batch nisc manager 150 nisc

# Rounds: each agency retries until a cycle succeeds (at most 25), then the
# master takes in; three rounds bring the last receipts everywhere.
SYNC_ATTEMPTS=0
round=0
while [ "$round" -lt 3 ]; do
	round=$((round + 1))
	for n in moj mof mic; do
		sync_retry "$n" 25
		git -C "$(ledger_of "$n")" fsck --strict >/dev/null 2>&1 || fail "git fsck of $n failed in round $round"
	done
	sync_ok nisc
done
say "3 rounds took $SYNC_ATTEMPTS agency cycles (9 without faults)"
assert_converged moj mof mic
drops=$(($(proxy_count gd drop) + $(proxy_count http drop)))
cuts=$(($(proxy_count gd cut) + $(proxy_count http cut)))
say "the proxies dropped $drops connections and cut $cuts"
[ "$drops" -gt 0 ] || fail "no connection was dropped: the link was not degraded"
[ "$cuts" -gt 0 ] || fail "no connection was cut: the link was not degraded"
[ "$SYNC_ATTEMPTS" -gt 9 ] || fail "no cycle failed: the faults did not reach the sync"
for n in moj mof mic; do
	sync_status "$n"
	assert_out "failures:      0"
done
exit 0
