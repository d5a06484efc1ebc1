#!/bin/sh
# Review 3, findings 4 and 8: what a remote sends stays in a quarantine until
# the union is accepted.  A peer (served by git daemon on 127.0.0.1) whose
# main carries junk and a large blob is refused, twice: the ledger gains no
# pack, no object of the peer's and no merge commit, and no quarantine stays
# behind.  The master's intake of a refused inbox leaves no merge commit
# either.  An accepted peer's objects do reach the ledger; a quarantine left
# by a killed process is removed by the next cycle.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

mkdir -p srv
nisc_node_ledger master.git
git -C master.git config cymat.root "$ROOT"
git clone -q --bare master.git agency.git || fail "git clone --bare failed"
git -C agency.git config cymat.root "$ROOT"
git clone -q --bare master.git srv/evil.git || fail "git clone --bare failed"
common=$(git -C master.git rev-parse main)
start_git_daemon srv
URL=$GIT_DAEMON_URL/evil.git

# Main has moved on at the master and at the agency: every case needs a union.
L=master.git
ok note mof-csirt "mof: at NISC"
L=agency.git
ok note moj-csirt "moj: at the agency"

# packs REPO: the files of its object store, one a line (loose objects too).
packs() {
	(cd "$1/objects" && find . -type f ! -path './info/*' | sort)
}

# no_quarantine REPO: nothing left under cymat/ of a fetch's or an intake's.
no_quarantine() {
	left=$(ls -d "$1"/cymat/incoming-* 2>/dev/null)
	[ -z "$left" ] || fail "a quarantine stayed behind in $1: $left"
}

# A commit of evil.git's main adding junk at a record path and 2 MB of
# random bytes elsewhere under records/ (both refused).
printf 'not json' >junk.json
head -c 2000000 /dev/urandom >big.bin
fid=$(printf 'future' | sha256sum | cut -c1-64)
git -C srv/evil.git update-ref refs/heads/main "$common" || fail "update-ref failed"
commit_change srv/evil.git "note: junk" add "$(record_path "$fid")" junk.json \
	add records/zz/big.bin big.bin
bad=$(git -C srv/evil.git rev-parse main)
big=$(git hash-object big.bin)

nisc_node_config agency.conf agency.git agency evil "$URL" peer
before=$(git -C agency.git rev-parse main)
store=$(packs agency.git)
for round in 1 2; do
	say "a refused peer, round $round"
	expect 6 "$CYMAT" sync --config agency.conf
	assert_err "refused: file \""
	assert_eq "$(git -C agency.git rev-parse main)" "$before" "main of agency.git"
	assert_eq "$(packs agency.git)" "$store" "the object store of agency.git"
	git -C agency.git cat-file -e "$bad" 2>/dev/null && fail "the refused commit is in agency.git"
	git -C agency.git cat-file -e "$big" 2>/dev/null && fail "the refused blob is in agency.git"
	no_quarantine agency.git
done
ok "$CYMAT" -C agency.git verify
git -C agency.git fsck --no-dangling --no-progress >/dev/null 2>&1 || fail "git fsck agency.git failed"

say "the master's intake of a refused inbox writes no merge commit"
nisc_node_config master.conf master.git master
run "$CYMAT" sync --config master.conf # whatever a first run does (a checkpoint)
mstore=$(packs master.git)
git -C srv/evil.git push -q "$T/master.git" "main:refs/inbox/moj" -f >/dev/null 2>&1 ||
	fail "push to the inbox failed"
mstore_inbox=$(packs master.git)
run "$CYMAT" sync --config master.conf
assert_err "refused: file \""
assert_eq "$(packs master.git)" "$mstore_inbox" "the object store of master.git"
unreachable=$(git -C master.git fsck --unreachable --no-reflogs --no-progress 2>/dev/null |
	grep '^unreachable commit')
[ -z "$unreachable" ] || fail "the refused union left a commit behind: $unreachable"
no_quarantine master.git
git -C master.git update-ref -d refs/inbox/moj || fail "update-ref -d failed"

say "an accepted peer: its objects reach the ledger, the quarantine goes"
git -C srv/evil.git update-ref refs/heads/main "$common" || fail "update-ref failed"
L=srv/evil.git
good=$(note mof-csirt "mof: relayed by a good peer")
ok "$CYMAT" sync --config agency.conf
git -C agency.git ls-tree -r --name-only main | grep -q "$good" ||
	fail "the good peer's record did not reach agency.git"
assert_eq "$(git -C agency.git rev-parse refs/cymat/remotes/evil/main)" \
	"$(git -C srv/evil.git rev-parse main)" "the fetch ref"
no_quarantine agency.git
ok "$CYMAT" -C agency.git verify
git -C agency.git fsck --strict --no-dangling --no-progress >/dev/null 2>&1 ||
	fail "git fsck agency.git failed after the merge"

say "a quarantine a killed process left is removed by the next cycle"
sh -c 'exit 0' &
dead=$!
wait "$dead"
kill -0 "$dead" 2>/dev/null && skip "pid $dead was reused at once"
stale=agency.git/cymat/incoming-$dead-AbCdEf
mkdir -p "$stale/objects/pack"
cp big.bin "$stale/objects/pack/pack_git2_Stale1"
L=srv/evil.git
ok note mof-csirt "mof: once more" >/dev/null
ok "$CYMAT" sync --config agency.conf
[ -e "$stale" ] && fail "the stale quarantine $stale was not removed"
no_quarantine agency.git
exit 0
