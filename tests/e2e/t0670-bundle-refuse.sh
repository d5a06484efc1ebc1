#!/bin/sh
# Bad bundles are refused with a clear error and leave the ledger exactly as
# it was (every byte of its refs and object store): not a bundle, version 3,
# no refs/heads/main, missing prerequisites, a truncated or tampered pack, a
# pack that lacks a file, a forged record, a deleted or modified record file.
# Then the good bundle still imports.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

# snapshot: every byte of the master's refs, object store and verification
# cache, and its quarantines.
snapshot() {
	(cd master.git && find refs objects packed-refs HEAD cymat/verified -type f 2>/dev/null |
		sort | xargs md5sum && ls cymat | grep '^import-')
}

# refused RC MESSAGE BUNDLE: the import exits RC, says MESSAGE, changes nothing.
refused() {
	expect "$1" "$CYMAT" -C master.git bundle import --key "$K/nisc-node" "$3"
	assert_err "$2"
	snapshot >now.snap
	cmp -s before.snap now.snap || { diff before.snap now.snap >&2; fail "\"$3\" changed the master"; }
}

nisc_node_ledger master.git
git -C master.git config cymat.root "$ROOT"
git clone -q --bare master.git agency.git || fail "git clone --bare failed"
common=$(git -C master.git rev-parse main)
L=master.git
ok note mof-csirt "mof: at NISC"
L=agency.git
ok note moj-csirt "moj: one"
victim=$(last_id)
ok note moj-csirt "moj: two"
ok "$CYMAT" -C agency.git bundle create --since "$common" "$T/good.bundle"
# A refused bundle leaves the cache too as it was: the next verify reads nothing.
ok "$CYMAT" -C master.git verify
[ -s master.git/cymat/verified ] || fail "verify wrote no cache"
snapshot >before.snap

# Not a bundle at all; an empty file; a header cut short.
echo '{"not":"a bundle"}' >text.bundle
refused 3 "\"text.bundle\" is not a git bundle" text.bundle
: >empty.bundle
refused 3 "is not a git bundle" empty.bundle
head -n 2 good.bundle >short.bundle
refused 3 "the header ends before its blank line" short.bundle
refused 3 "cannot open \"no-such.bundle\"" no-such.bundle

# Version 3, made by stock git.
git -C agency.git bundle create --version=3 "$T/v3.bundle" main >/dev/null 2>&1 ||
	fail "git bundle create --version=3 failed"
head -n 1 v3.bundle | grep -qx '# v3 git bundle' || fail "stock git wrote no v3 bundle"
refused 3 "is a version 3 git bundle" v3.bundle

# No refs/heads/main: the refs it has are named.
git -C agency.git branch other main || fail "git branch failed"
git -C agency.git bundle create "$T/nomain.bundle" other >/dev/null 2>&1 ||
	fail "git bundle create failed"
refused 3 "has no refs/heads/main (its 1 reference: refs/heads/other)" nomain.bundle

# Many references (review 3 #9: each one used to copy the list of all before
# it): counted, the first few named, the message stays one short line.
oid=$(git -C agency.git rev-parse main)
awk -v oid="$oid" 'BEGIN { print "# v2 git bundle"
	for (i = 0; i < 3000; i++) printf "%s refs/heads/%0200d\n", oid, i; print "" }' >many.bundle
refused 3 "has no refs/heads/main (its 3000 references: refs/heads/000" many.bundle
assert_err ", ...)"
[ "$(wc -c <err)" -lt 1000 ] || { show_output; fail "the message lists every reference"; }
# A header past 1 MiB (the review's 8 KiB names) is refused once it is.
awk -v oid="$oid" 'BEGIN { print "# v2 git bundle"
	for (i = 0; i < 1024; i++) printf "%s refs/heads/%08100d\n", oid, i
	printf "%s refs/heads/main\n\n", oid }' >huge.bundle
refused 3 "header larger than 1024 KiB at line 131 (129 references, 0 prerequisites so far)" huge.bundle
# Prerequisites: at most 256, and those lacking are named up to a bound.
awk 'BEGIN { print "# v2 git bundle"
	for (i = 0; i < 257; i++) printf "-%040x a commit\n", i + 1 }' >prereqs.bundle
refused 3 "more than 256 prerequisites" prereqs.bundle
awk -v oid="$oid" 'BEGIN { print "# v2 git bundle"
	for (i = 0; i < 100; i++) printf "-%040x commit %d\n", i + 1, i
	printf "%s refs/heads/main\n\n", oid }' >lacking.bundle
refused 3 "needs commits this ledger's main lacks: 0000000000000000000000000000000000000001 (\"commit 0\"), " lacking.bundle
assert_err ", ..."
[ "$(wc -c <err)" -lt 1000 ] || { show_output; fail "the message lists every prerequisite"; }

# A header line that is neither a prerequisite nor a ref.
{ head -n 1 good.bundle; echo "@object-format=sha1"; tail -n +2 good.bundle; } >cap.bundle
refused 3 "header line 2 is neither a prerequisite nor a reference" cap.bundle

# Prerequisites this ledger lacks are named.
lacking=$(git -C agency.git rev-parse main~1)
ok "$CYMAT" -C agency.git bundle create --since "$lacking" "$T/prereq.bundle"
refused 3 "needs a commit this ledger's main lacks: $lacking (\"note: " prereq.bundle

# A pack cut short, and a pack with one byte changed.
size=$(stat -c %s good.bundle)
head -c $((size - 40)) good.bundle >truncated.bundle
refused 3 "its pack is damaged" truncated.bundle
cp good.bundle tampered.bundle
printf 'X' | dd of=tampered.bundle bs=1 seek=$((size - 60)) conv=notrunc 2>/dev/null ||
	fail "dd failed"
cmp -s good.bundle tampered.bundle && fail "the pack was not tampered with"
refused 3 "its pack is damaged" tampered.bundle
# A whole pack that lacks one of the files its commits add.
hole=$(record_path "$victim")
{ sed '/^$/q' good.bundle
  git -C agency.git rev-list --objects main "^$common" | grep -v " $hole\$" | cut -d' ' -f1 |
	git -C agency.git pack-objects -q --stdout; } >holed.bundle
refused 3 "file \"$hole\": cannot read: object not found" holed.bundle
# Nothing after the header.
sed '/^$/q' good.bundle >nopack.bundle
refused 3 "no pack after the header" nopack.bundle

# A record whose content changed after it was signed (a forged record): FORMAT-2.
git clone -q --bare agency.git forged.git || fail "git clone --bare failed"
L=forged.git
ok note moj-csirt "pay 100 yen"
forged=$(last_id)
fpath=$(record_path "$forged")
git -C forged.git cat-file blob "main:$fpath" | sed 's/pay 100 yen/pay 900 yen/' >bad.json
git -C forged.git update-ref refs/heads/main main~1 || fail "update-ref failed"
commit_change forged.git "note: forged" add "$fpath" bad.json
"$CYMAT" -C forged.git bundle create --since "$common" "$T/forged.bundle" >/dev/null ||
	fail "bundle create of the forged ledger failed"
refused 1 "refused: record $forged: FORMAT-2" forged.bundle
# The first finding is named; the others (the commit's: unsigned, no trailer) are counted.
assert_err "not the one its path names (and 2 more findings)"
assert_err "error FORMAT-2"

# A commit that deletes a record file: FORMAT-4, naming the record.
git clone -q --bare agency.git deleted.git || fail "git clone --bare failed"
commit_change deleted.git "note: delete one" del "$(record_path "$victim")"
"$CYMAT" -C deleted.git bundle create --since "$common" "$T/deleted.bundle" >/dev/null ||
	fail "bundle create of the deleting ledger failed"
refused 1 "refused: record $victim: FORMAT-4 record-deleted" deleted.bundle
grep -q "more finding" err && { show_output; fail "one finding counted as more"; }

# A commit that changes a record file the master already holds: FORMAT-4.
git clone -q --bare master.git modified.git || fail "git clone --bare failed"
mine=$(git -C master.git ls-tree -r --name-only main records/ | head -n 1)
git -C modified.git cat-file blob "main:$mine" | sed 's/"v":1/"v":1 /' >changed.json
commit_change modified.git "note: modify one" add "$mine" changed.json
"$CYMAT" -C modified.git bundle create --since "$(git -C master.git rev-parse main)" \
	"$T/modified.bundle" >/dev/null || fail "bundle create of the modifying ledger failed"
refused 1 "FORMAT-4 record-modified" modified.bundle

# After all that, the good bundle imports, and only once.
ok "$CYMAT" -C master.git bundle import --key "$K/nisc-node" "$T/good.bundle"
assert_out "2 new records"
ok "$CYMAT" -C master.git verify
assert_out "0 invalid, 0 pending"
# The import saved what it verified into the cache: nothing is new to verify.
assert_out "(0 new commits)"
ok "$CYMAT" -C master.git bundle import --key "$K/nisc-node" "$T/good.bundle"
assert_out "already up to date"
git -C master.git fsck --strict >/dev/null 2>&1 || fail "git fsck --strict on the master"
exit 0
