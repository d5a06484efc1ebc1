#!/bin/sh
# A node's fetch asks for a full pack, never a thin one: libgit2 1.5 indexes
# a thin pack in quadratic time (see store_transfer.c).  The server offers
# thin-pack (stock git asks for it, the control), cymat sync's fetch does not
# ask for it, over git:// (checked in git's packet trace on the server) and
# over smart HTTP (where the sync must still bring the records in).
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/lib-sync.sh"
have_sync

AGENCIES="moj mof"
sync_world
# upload-pack, run by the daemon, inherits the trace.
GIT_TRACE_PACKET=$T/packets
export GIT_TRACE_PACKET
start_git_daemon "$T/srv"
unset GIT_TRACE_PACKET
start_http_git "$T/srv"
node_config moj nisc "$GIT_DAEMON_URL/master.git" master
node_config mof nisc "$HTTP_GIT_URL/master.git" master

say "the control: stock git fetch asks for a thin pack"
# Protocol v0, as libgit2 1.5 speaks it: the server offers thin-pack among the
# capabilities of its first ref line, and the client asks for it in its first want.
git init -q --bare control.git || fail "git init failed"
ok git -C control.git -c protocol.version=0 fetch -q "$GIT_DAEMON_URL/master.git" \
	+refs/heads/main:refs/x
grep -q 'upload-pack> .*thin-pack' "$T/packets" || fail "the server offered no thin-pack"
grep 'upload-pack< want ' "$T/packets" | grep -q ' thin-pack' ||
	fail "stock git did not ask for thin-pack: the trace is not what this test expects"
: >"$T/packets"

say "cymat sync over git:// asks for a full pack"
for i in 1 2 3; do
	write nisc manager "note $i on the master" >/dev/null
done
sync_ok moj
grep -q 'upload-pack< want ' "$T/packets" || fail "no fetch in the packet trace"
if grep 'upload-pack< want ' "$T/packets" | grep -q 'thin-pack'; then
	grep 'upload-pack< want ' "$T/packets" >&2
	fail "cymat sync asked for a thin pack"
fi
grep 'upload-pack< want ' "$T/packets" | grep -q 'ofs-delta' ||
	fail "the want line lost its other capabilities"
for id in $(cat "$T/written"); do
	records moj | grep -qx "$id" || fail "record $id did not reach moj"
done
ok git -C "$(ledger_of moj)" fsck --strict --no-dangling

say "cymat sync over smart HTTP still brings the records in"
for i in 4 5; do
	write nisc manager "note $i on the master" >/dev/null
done
sync_ok mof
for id in $(cat "$T/written"); do
	records mof | grep -qx "$id" || fail "record $id did not reach mof"
done
ok git -C "$(ledger_of mof)" fsck --strict --no-dangling
exit 0
