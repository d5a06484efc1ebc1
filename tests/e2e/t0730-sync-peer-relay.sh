#!/bin/sh
# Sync scenario 3 (issue 4): the master is unreachable and the agencies relay
# through each other.  mic pulls from moj (git daemon) and mof (smart HTTP);
# moj and mof pull from mic.  What moj writes reaches mof through mic, and
# the other way round, verified as anything from the master would be; once
# the master is back, everything converges.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/lib-sync.sh"
have_sync

sync_world
start_git_daemon "$T/srv"
start_http_git "$T/srv"
start_proxy gd "$(hostport "$GIT_DAEMON_URL")"
M=git://127.0.0.1:$PROXY_PORT/master.git
node_config nisc
node_config moj nisc "$M" master mic "$GIT_DAEMON_URL/mic.git" peer
node_config mof nisc "$M" master mic "$HTTP_GIT_URL/mic.git" peer
node_config mic nisc "$M" master moj "$GIT_DAEMON_URL/moj.git" peer mof "$HTTP_GIT_URL/mof.git" peer

say "every node in sync to begin with"
converge 3 moj mof mic
assert_converged moj mof mic

say "the master is unreachable (a blackhole: connections hang until the deadline)"
proxy_mode gd blackhole=1
# A short deadline, so that each cycle gives up on the master soon.
for n in moj mof mic; do
	sed -i 's/^transfer_deadline = .*/transfer_deadline = 5/' "$T/$n.conf"
done
R1=$(write moj moj-csirt "moj, written while the master is unreachable")
R2=$(write mof mof-csirt "mof, written while the master is unreachable")
R3=$(write mic mic-csirt "mic, written while the master is unreachable")

# has NODE ID
has() {
	records "$1" | grep -qx "$2"
}

say "mic pulls from both peers"
sync_node mic
assert_eq "$RC" 6 "exit status of mic's cycle (the master failed, the peers not)"
has mic "$R1" || fail "mic did not get moj's record from its peer"
has mic "$R2" || fail "mic did not get mof's record from its peer"
sync_status mic
assert_out "remote moj"
assert_out "remote mof"

say "moj and mof get each other's records through mic"
sync_node moj
assert_eq "$RC" 6 "exit status of moj's cycle"
sync_node mof
assert_eq "$RC" 6 "exit status of mof's cycle"
has moj "$R2" || fail "moj did not get mof's record relayed by mic"
has moj "$R3" || fail "moj did not get mic's record"
has mof "$R1" || fail "mof did not get moj's record relayed by mic"
for id in $R1 $R2 $R3; do
	has nisc "$id" && fail "record $id reached the unreachable master"
done
[ "$(proxy_count gd blackhole)" -ge 3 ] || fail "the blackhole saw too few connections"
for n in moj mof mic; do
	run "$CYMAT" -C "$(ledger_of "$n")" verify
	[ "$RC" -eq 0 ] || { show_output; fail "$n's ledger does not verify after the relay"; }
done

say "the master is back"
proxy_mode gd
converge 3 moj mof mic
assert_converged moj mof mic
exit 0
