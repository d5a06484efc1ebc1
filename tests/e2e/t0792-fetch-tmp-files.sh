#!/bin/sh
# Review 3, finding 8: a failed fetch removes only the temporary files its
# own transfer made (all in its quarantine), never another process's
# (libgit2 writes an append's pack as objects/pack/pack_git2_*).  A fetch
# from a port nobody listens on fails; a temporary pack and a lock file of
# "someone else", fresh, survive.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

nisc_node_ledger agency.git
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	skip "python3 cannot find a free port"
nisc_node_config agency.conf agency.git agency down "git://127.0.0.1:$port/master.git" master
pack=agency.git/objects/pack
mkdir -p "$pack"
echo "an append's pack, being written" >"$pack/pack_git2_Other1"
echo "a lock" >"$pack/tmp_other.lock"
touch -d "+1 hour" "$pack/pack_git2_Other1" "$pack/tmp_other.lock"
expect 6 "$CYMAT" sync --config agency.conf
[ -f "$pack/pack_git2_Other1" ] || fail "the failed fetch removed another process's temporary pack"
[ -f "$pack/tmp_other.lock" ] || fail "the failed fetch removed another process's lock file"
exit 0
