#!/bin/sh
# Review 3, finding 2: a record file of 256 MiB of zeros (a blob that
# compresses to some 260 KB) is judged by its object header, never inflated:
# `cymat verify` reports it malformed in far less memory than the file's
# size, `cymat show` refuses to print it, bundle import refuses it.  (The
# import's peak stays near the file's size: libgit2's indexer inflates each
# object of the pack once to hash it; the verification adds nothing to it.)
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

[ -x /usr/bin/time ] || skip "no /usr/bin/time to measure memory"

# small_rss WHAT: the last run's peak memory (time.out) stayed below 200 MB.
small_rss() {
	rss=$(sed -n 's/^maxrss_kb=//p' time.out)
	[ -n "$rss" ] || fail "$1: /usr/bin/time measured nothing"
	[ "$rss" -lt 204800 ] || fail "$1: peak memory $rss KB for a 256 MiB file"
	say "$1: peak memory $rss KB"
}

nisc_node_ledger master.git
git -C master.git config cymat.root "$ROOT"
git clone -q --bare master.git agency.git || fail "git clone --bare failed"
common=$(git -C master.git rev-parse main)
fid=$(printf 'bomb' | sha256sum | cut -c1-64)
head -c $((256 * 1024 * 1024)) /dev/zero >bomb.json
commit_change agency.git "note: bomb" add "$(record_path "$fid")" bomb.json
rm -f bomb.json
git -C agency.git gc -q >/dev/null 2>&1 || fail "git gc failed"
ok "$CYMAT" -C agency.git bundle create --since "$common" "$T/bomb.bundle"

/usr/bin/time -o time.out -f "maxrss_kb=%M" "$CYMAT" -C agency.git verify --no-cache >out 2>err
RC=$?
[ "$RC" -eq 1 ] || { show_output; fail "verify exited $RC, expected 1"; }
grep -F "malformed" out err | grep -qF "$fid" || { show_output; fail "verify names no malformed $fid"; }
grep -qF "exceeds the limit" out err || { show_output; fail "verify names no size limit"; }
small_rss verify

before=$(git -C master.git rev-parse main)
/usr/bin/time -o time.out -f "maxrss_kb=%M" "$CYMAT" -C master.git bundle import \
	--key "$K/nisc-node" bomb.bundle >out 2>err
RC=$?
[ "$RC" -eq 1 ] || { show_output; fail "bundle import exited $RC, expected 1"; }
assert_err "FORMAT-2 malformed"
assert_eq "$(git -C master.git rev-parse main)" "$before" "main of the master"

run "$CYMAT" -C agency.git show "$fid"
[ "$RC" -ne 0 ] || fail "cymat show printed a 256 MiB file"
assert_err "larger than 1048576 bytes"
exit 0
