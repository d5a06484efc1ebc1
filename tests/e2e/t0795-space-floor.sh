#!/bin/sh
# A sync's fetch and a bundle import refuse to start when the file system
# holding the ledger has less free space than the ledger's floor (git config
# cymat.minFreeSpace; by default twice its packs and at least 256 MiB).  No
# disk is filled: the floor is set above what df says is free.  The refusal
# names the ledger's path, the free space and the floor, and changes nothing
# (refs, object store, quarantines); a bad floor is refused as such; a floor
# below the free space, or 0 (none), lets both go ahead.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

command -v df >/dev/null 2>&1 || skip "df not installed"

# snapshot REPO: every byte of its refs and object store, and its quarantines.
snapshot() {
	(cd "$1" && find refs objects packed-refs HEAD -type f 2>/dev/null | sort |
		xargs md5sum && ls cymat | grep -E '^(import|incoming)-')
}

nisc_node_ledger master.git
git -C master.git config cymat.root "$ROOT"
git clone -q --bare master.git agency.git || fail "git clone --bare failed"
git -C agency.git config cymat.root "$ROOT"
common=$(git -C master.git rev-parse main)
L=master.git
ok note mof-csirt "mof: at NISC"
L=agency.git
ok note moj-csirt "moj: at the agency"
ok "$CYMAT" -C agency.git bundle create --since "$common" "$T/agency.bundle"
nisc_node_config agency.conf agency.git agency nisc "file://$T/master.git" peer

# A floor 1 GiB above the free space of the file system holding $T.
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
case $free_kib in
'' | *[!0-9]*) skip "cannot read the free space from df" ;;
esac
above=$((free_kib + 1024 * 1024))k

for repo in agency.git master.git; do
	git -C $repo config cymat.minFreeSpace "$above" || fail "git config failed"
done

say "sync below the floor"
snapshot agency.git >before.snap
before=$(git -C agency.git rev-parse main)
expect 6 "$CYMAT" sync --config agency.conf
assert_err "remote \"nisc\": fetch refused: the file system of \"$T/agency.git\" has "
assert_err "GiB free, less than the "
assert_err " it keeps free (git config cymat.minFreeSpace)"
snapshot agency.git >now.snap
cmp -s before.snap now.snap || { diff before.snap now.snap >&2; fail "the refused sync changed the ledger"; }
ok "$CYMAT" -C agency.git sync status
assert_out "fetch refused: the file system of"

say "bundle import below the floor"
snapshot master.git >before.snap
expect 5 "$CYMAT" -C master.git bundle import --key "$K/nisc-node" agency.bundle
assert_err "import refused: the file system of \"$T/master.git\" has "
assert_err "(git config cymat.minFreeSpace)"
snapshot master.git >now.snap
cmp -s before.snap now.snap || { diff before.snap now.snap >&2; fail "the refused import changed the ledger"; }

say "a floor that is not a size"
git -C master.git config cymat.minFreeSpace 12x || fail "git config failed"
expect 3 "$CYMAT" -C master.git bundle import --key "$K/nisc-node" agency.bundle
assert_err "config \"cymat.minFreeSpace\" of \"$T/master.git\": \"12x\" is not a size"

say "a floor below the free space, and none"
git -C agency.git config cymat.minFreeSpace 1m || fail "git config failed"
ok "$CYMAT" sync --config agency.conf
assert_out "1 remote synced, 0 failed, 1 new record"
[ "$(git -C agency.git rev-parse main)" != "$before" ] || fail "the agency's main did not move"
git -C master.git config cymat.minFreeSpace 0 || fail "git config failed"
ok "$CYMAT" -C master.git bundle import --key "$K/nisc-node" agency.bundle
assert_out "1 new record"
ok "$CYMAT" -C master.git verify
assert_out "0 invalid, 0 pending"
exit 0
