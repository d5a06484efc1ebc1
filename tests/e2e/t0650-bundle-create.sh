#!/bin/sh
# Bundles made by cymat are git bundles version 2 that stock git accepts:
# `git bundle verify` and `git clone` of a whole ledger (which then
# verifies), and a --since bundle fetched into a ledger holding its
# prerequisite.  Written atomically: a failure leaves the target as it was.
. "$(dirname "$0")/lib.sh"

# ids FILE: the record ids in a `cymat log --json` output, sorted.
ids() {
	grep -o '"id":"[0-9a-f]*"' "$1" | sort
}

make_ledger ledger.git
ok note moj-csirt "one"
old=$(git -C ledger.git rev-parse main)
ok note mof-csirt "two"
ok note moj-csirt "three"
tip=$(git -C ledger.git rev-parse main)

# A whole ledger.
ok "$CYMAT" -C ledger.git bundle create "$T/full.bundle"
assert_out "bundle \"$T/full.bundle\": 9 commits"
assert_out "main $tip"
assert_not_out "needs"
head -n 1 full.bundle | grep -qx '# v2 git bundle' || fail "not a v2 bundle header"
sed -n 2p full.bundle | grep -qx "$tip refs/heads/main" || fail "no refs/heads/main line"
LC_ALL=C sed '/^$/q' full.bundle | grep -a -q '^-' && fail "a whole ledger has no prerequisite"
git init -q --bare empty.git || fail "git init failed"
git -C empty.git bundle verify "$T/full.bundle" >/dev/null 2>&1 ||
	fail "git bundle verify rejects the whole bundle"
git bundle list-heads full.bundle | grep -qx "$tip refs/heads/main" ||
	fail "git bundle list-heads lacks refs/heads/main"

git clone -q full.bundle audit 2>err || { cat err >&2; fail "git clone of the bundle failed"; }
assert_eq "$(git -C audit rev-parse main)" "$tip" "clone's main"
git -C audit fsck --strict >/dev/null 2>&1 || fail "git fsck --strict on the clone"
ok "$CYMAT" -C audit verify --no-cache --root "$ROOT"
assert_out "9 valid, 0 invalid, 0 pending"
ok "$CYMAT" -C ledger.git log --json
ids "$T/out" >source.ids
ok "$CYMAT" -C audit log --json
ids "$T/out" >clone.ids
[ -s source.ids ] || fail "no record ids listed"
cmp -s source.ids clone.ids || fail "the clone's records differ from the source's"

# Only what came after --since: the prerequisite named with its subject.
ok "$CYMAT" -C ledger.git bundle create --since "$old" since.bundle
assert_out "2 commits"
assert_out "needs $old"
sed -n 2p since.bundle | grep -q "^-$old note: " || fail "no prerequisite line for $old"
sed -n 3p since.bundle | grep -qx "$tip refs/heads/main" || fail "no refs/heads/main line"
[ "$(stat -c %s since.bundle)" -lt "$(stat -c %s full.bundle)" ] ||
	fail "the --since bundle is not smaller than the whole ledger"
git -C ledger.git bundle verify "$T/since.bundle" >/dev/null 2>&1 ||
	fail "git bundle verify rejects the --since bundle in the source ledger"
git -C empty.git bundle verify "$T/since.bundle" >/dev/null 2>&1 &&
	fail "git bundle verify accepts the --since bundle without its prerequisite"
# A ledger holding the prerequisite fetches it with stock git and verifies.
git clone -q --bare ledger.git older.git || fail "git clone --bare failed"
git -C older.git update-ref refs/heads/main "$old" || fail "update-ref failed"
git -C older.git reflog expire --expire=now --all && git -C older.git gc -q --prune=now ||
	fail "git gc failed"
git -C older.git cat-file -e "$tip" 2>/dev/null && fail "the older ledger still has $tip"
git -C older.git bundle verify "$T/since.bundle" >/dev/null 2>&1 ||
	fail "git bundle verify rejects the --since bundle where its prerequisite is"
git -C older.git fetch -q "$T/since.bundle" main:refs/heads/main ||
	fail "git fetch from the --since bundle failed"
assert_eq "$(git -C older.git rev-parse main)" "$tip" "main after the fetch"
git -C older.git fsck --strict >/dev/null 2>&1 || fail "git fsck --strict after the fetch"
ok "$CYMAT" -C older.git verify --no-cache --root "$ROOT"
assert_out "9 valid, 0 invalid, 0 pending"

# Refusals leave the target as it was, and no temporary file behind.
mkdir target
echo "old contents" >target/keep.bundle
expect 3 "$CYMAT" -C ledger.git bundle create --since main target/keep.bundle
assert_err "nothing to bundle"
expect 3 "$CYMAT" -C ledger.git bundle create --since no-such-rev target/keep.bundle
assert_err "no-such-rev"
git -C older.git commit-tree -m "not in main" "$(git -C older.git rev-parse 'main^{tree}')" \
	>stranger || fail "commit-tree failed"
git -C ledger.git fetch -q "$T/older.git" "$(cat stranger):refs/cymat/stranger" ||
	fail "fetching a stranger commit failed"
expect 3 "$CYMAT" -C ledger.git bundle create --since "$(cat stranger)" target/keep.bundle
assert_err "is not in the history of refs/heads/main"
assert_eq "$(cat target/keep.bundle)" "old contents" "a refused bundle's target"
assert_eq "$(ls -A target)" "keep.bundle" "files left in the target directory"
# Success replaces it whole.
ok "$CYMAT" -C ledger.git bundle create target/keep.bundle
git -C empty.git bundle verify "$T/target/keep.bundle" >/dev/null 2>&1 ||
	fail "git bundle verify rejects the replaced bundle"
assert_eq "$(ls -A target)" "keep.bundle" "files left in the target directory"

expect 2 "$CYMAT" -C ledger.git bundle
expect 2 "$CYMAT" -C ledger.git bundle create
expect 2 "$CYMAT" -C ledger.git bundle frobnicate x
ok "$CYMAT" bundle --help
assert_out "usage: cymat bundle create"
ok "$CYMAT" help bundle
assert_out "git bundle verify"
exit 0
