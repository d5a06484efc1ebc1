#!/bin/sh
# Review 3, finding 1: files under records/ that are no record (bytes that do
# not parse at a record path, a file at a path that is not a record path)
# refuse the work that adds them everywhere, not only in the hook: bundle
# import, `cymat sync` from a peer and the master's intake of an inbox.  In
# each case main does not move and verifies clean.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

refusal_ledgers
# Main has moved on at the agency too: every case needs a union.
L=agency.git
ok note moj-csirt "moj: at the agency"

# junk NAME PATH: a commit of evil.git's main adding a file at PATH that does not parse.
printf 'not json' >junk.json
fid=$(printf 'future' | sha256sum | cut -c1-64)
junk() {
	git -C evil.git update-ref refs/heads/main "$common" || fail "update-ref failed"
	commit_change evil.git "note: $1" add "$2" junk.json
}

# unmoved REPO BEFORE: REPO's main is BEFORE (or, for "-", may have gained a
# checkpoint), holds no junk, and verifies clean.
unmoved() {
	[ "$2" = - ] || assert_eq "$(git -C "$1" rev-parse main)" "$2" "main of $1"
	git -C "$1" ls-tree -r --name-only main | grep -E "zz|$fid" && fail "junk in the main of $1"
	ok "$CYMAT" -C "$1" verify
}

# cache_kept REPO SUM: REPO's verification cache still has md5 SUM (a refused
# union is verified over the cache, and must not have saved into it).
cache_kept() {
	assert_eq "$(md5sum <"$1/cymat/verified")" "$2" "verification cache of $1"
}

for path in "$(record_path "$fid")" records/zz/notes.txt; do
	junk junk "$path"
	say "junk at $path"

	# Bundle import at the master.
	rm -f evil.bundle
	ok "$CYMAT" -C evil.git bundle create --since "$common" "$T/evil.bundle"
	before=$(git -C master.git rev-parse main)
	ok "$CYMAT" -C master.git verify
	sum=$(md5sum <master.git/cymat/verified)
	expect 1 "$CYMAT" -C master.git bundle import --key "$K/nisc-node" evil.bundle
	assert_err "refused: file \"$path\": FORMAT-2"
	cache_kept master.git "$sum"
	unmoved master.git "$before"

	# Sync of the agency with evil.git as a peer.
	nisc_node_config agency.conf agency.git agency evil "file://$T/evil.git" peer
	before=$(git -C agency.git rev-parse main)
	ok "$CYMAT" -C agency.git verify
	sum=$(md5sum <agency.git/cymat/verified)
	expect 6 "$CYMAT" sync --config agency.conf
	assert_err "refused: file \"$path\": FORMAT-2"
	cache_kept agency.git "$sum"
	unmoved agency.git "$before"

	# The master's intake of an inbox that holds the junk (as if no hook ran).
	git -C evil.git push -q "$T/master.git" "main:refs/inbox/moj" -f >/dev/null 2>&1 ||
		fail "push to the inbox failed"
	nisc_node_config master.conf master.git master
	run "$CYMAT" sync --config master.conf
	assert_err "refused: file \"$path\": FORMAT-2"
	unmoved master.git -
done
exit 0
