#!/bin/sh
# The bundle path both ways between NISC's master and an agency: each
# ledger writes on its own, bundles carry the records across (whole, then
# --since), the importer merges with its node key, and both end with the
# same record set; importing a bundle twice changes nothing.
. "$(dirname "$0")/lib.sh"

# ids DIR: the sorted record ids of ledger DIR, from `cymat log --json`.
ids() {
	"$CYMAT" -C "$1" log --json >"$T/log.json" || fail "cymat log in $1 failed"
	grep -o '"id":"[0-9a-f]*"' "$T/log.json" | sort
}

# files DIR: the record files of main, from stock git.
files() {
	git -C "$1" ls-tree -r --name-only main records/ | sort
}

# snapshot DIR: every byte of the refs and the object store.
snapshot() {
	(cd "$1" && find refs objects packed-refs HEAD -type f 2>/dev/null | sort | xargs md5sum)
}

# same_records A B: both ledgers hold the same records, by cymat and by git.
same_records() {
	ids "$1" >a.ids
	ids "$2" >b.ids
	[ -s a.ids ] || fail "no records listed in $1"
	cmp -s a.ids b.ids || { diff a.ids b.ids >&2; fail "$1 and $2 list different records"; }
	files "$1" >a.files
	files "$2" >b.files
	cmp -s a.files b.files || fail "$1 and $2 have different record files"
}

make_ledger master.git
key nisc-node
key moj-node
"$CYMAT" -C master.git principal add --key "$K/director" --pub "$K/nisc-node" --role node \
	nisc/node >/dev/null || fail "binding nisc/node failed"
"$CYMAT" -C master.git principal add --key "$K/moj-ciso" --pub "$K/moj-node" --role node \
	moj/node >/dev/null || fail "binding moj/node failed"
git clone -q --bare master.git agency.git || fail "git clone --bare failed"
git -C master.git config cymat.root "$ROOT"
git -C agency.git config cymat.root "$ROOT"
common=$(git -C master.git rev-parse main)

# Both write while apart.
L=master.git
ok note mof-csirt "mof: filed at NISC"
L=agency.git
ok note moj-csirt "moj: request"
ok note moj-ciso "moj: report"

# Agency -> master: a whole ledger.
ok "$CYMAT" -C agency.git bundle create "$T/agency-1.bundle"
git -C master.git bundle verify "$T/agency-1.bundle" >/dev/null 2>&1 ||
	fail "git bundle verify rejects the agency's bundle"
before=$(git -C master.git rev-parse main)
# Both have moved on: a merge is needed, and without a key it is refused.
expect 3 "$CYMAT" -C master.git bundle import "$T/agency-1.bundle"
assert_err "merge commit is needed"
assert_eq "$(git -C master.git rev-parse main)" "$before" "master's main after a refused import"
ok "$CYMAT" -C master.git bundle import --key "$K/nisc-node" "$T/agency-1.bundle"
assert_out "2 new records"
merged=$(git -C master.git rev-parse main)
assert_eq "$(git -C master.git rev-parse main^1)" "$before" "the merge's first parent"
assert_eq "$(git -C master.git rev-parse main^2)" "$(git -C agency.git rev-parse main)" \
	"the merge's second parent"
ok "$CYMAT" -C master.git verify --no-cache
assert_out "0 invalid, 0 pending"
assert_not_out "commit-unsigned"
assert_not_out "commit-unknown-signer"
git -C master.git fsck --strict >/dev/null 2>&1 || fail "git fsck --strict on the master"
# The merge carries the node key's signature, which stock git verifies.
allowed_signers allowed
git -C master.git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" \
	verify-commit main >/dev/null 2>&1 || fail "git verify-commit rejects the merge"
git -C master.git cat-file commit main | grep -q "^author nisc/node " ||
	fail "the merge is not authored by nisc/node"

# Imported twice: nothing changes, not a byte.
snapshot master.git >before.snap
ok "$CYMAT" -C master.git bundle import --key "$K/nisc-node" "$T/agency-1.bundle"
assert_out "already up to date"
snapshot master.git >after.snap
cmp -s before.snap after.snap || fail "a second import changed the master"
assert_eq "$(git -C master.git rev-parse main)" "$merged" "master's main after the second import"

# Master -> agency: only what came after the agency's main, a fast-forward (no key).
ok "$CYMAT" -C master.git bundle create --since "$(git -C agency.git rev-parse main)" \
	"$T/master-1.bundle"
assert_out "needs $(git -C agency.git rev-parse main)"
git -C agency.git bundle verify "$T/master-1.bundle" >/dev/null 2>&1 ||
	fail "git bundle verify rejects the master's bundle"
ok "$CYMAT" -C agency.git bundle import "$T/master-1.bundle"
assert_out "1 new record;"
assert_eq "$(git -C agency.git rev-parse main)" "$merged" "agency's main after the import"
same_records master.git agency.git
ok "$CYMAT" -C agency.git bundle import "$T/master-1.bundle"
assert_out "already up to date"

# Once more both ways with --since bundles, both sides having written again.
L=master.git
ok note mof-ciso "mof: second"
L=agency.git
ok note moj-csirt "moj: second"
ok "$CYMAT" -C agency.git bundle create --since "$merged" "$T/agency-2.bundle"
ok "$CYMAT" -C master.git bundle create --since "$merged" "$T/master-2.bundle"
ok env CYMAT_KEY="$K/moj-node" "$CYMAT" -C agency.git bundle import "$T/master-2.bundle"
assert_out "1 new record;"
git -C agency.git cat-file commit main | grep -q "^author moj/node " ||
	fail "the agency's merge is not authored by moj/node (\$CYMAT_KEY)"
ok "$CYMAT" -C master.git bundle import --key "$K/nisc-node" "$T/agency-2.bundle"
assert_out "1 new record;"
# Each side merged: the master takes the agency's merge by a last bundle.
ok "$CYMAT" -C agency.git bundle create --since "$(git -C master.git rev-parse main^2)" \
	"$T/agency-3.bundle"
ok "$CYMAT" -C master.git bundle import --key "$K/nisc-node" "$T/agency-3.bundle"
ok "$CYMAT" -C master.git bundle create --since "$(git -C agency.git rev-parse main)" \
	"$T/master-3.bundle"
ok "$CYMAT" -C agency.git bundle import "$T/master-3.bundle"
assert_eq "$(git -C agency.git rev-parse main)" "$(git -C master.git rev-parse main)" \
	"both mains after the last exchange"
same_records master.git agency.git
for l in master.git agency.git; do
	ok "$CYMAT" -C "$l" verify --no-cache
	assert_out "0 invalid, 0 pending"
	git -C "$l" fsck --strict >/dev/null 2>&1 || fail "git fsck --strict on $l"
	ls "$l/cymat" | grep -q '^import-' && fail "a quarantine is left in $l/cymat"
done
assert_eq "$(ids master.git | wc -l)" "13" "records in the end"
# A git clone of the common ledger (an auditor) agrees.
git clone -q master.git audit || fail "git clone failed"
ok "$CYMAT" -C audit verify --no-cache --root "$ROOT"
assert_out "13 valid, 0 invalid, 0 pending"

# A bundle made by stock git imports too (its pack is thin).
L=agency.git
ok note moj-csirt "moj: third"
git -C agency.git bundle create "$T/git.bundle" "$(git -C master.git rev-parse main)..main" \
	>/dev/null 2>&1 || fail "git bundle create failed"
ok "$CYMAT" -C master.git bundle import "$T/git.bundle"
assert_out "1 new record;"
same_records master.git agency.git

# Progress for a person watching: on a terminal only.
if command -v script >/dev/null 2>&1; then
	ok "$CYMAT" -C master.git bundle create progress.bundle
	[ -s "$T/err" ] && { show_output; fail "progress printed to a pipe"; }
	script -qec "\"$CYMAT\" -C master.git bundle create tty.bundle" /dev/null >tty.out ||
		fail "bundle create under script failed"
	grep -q "writing" tty.out || { cat tty.out >&2; fail "no progress on a terminal"; }
fi
exit 0
