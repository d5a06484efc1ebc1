#!/bin/sh
# Review 7 #6: quarantines left by a dead process are removed by
# descriptor (openat/unlinkat, O_NOFOLLOW), not by path name: symbolic links
# inside a dead quarantine, and one in place of a quarantine, are removed,
# never followed, and what they name is left as it was.
. "$(dirname "$0")/lib.sh"

make_ledger "$T/ledger.git"
S=$T/ledger.git/cymat
ok "$CYMAT" -C "$L" bundle create "$T/all.bundle"
# A pid no process has: its quarantines are dead.
dead=4194000
while kill -0 "$dead" 2>/dev/null; do dead=$((dead + 1)); done

# quarantine: any command that makes (and removes) a quarantine, sweeping first.
quarantine() {
	ok "$CYMAT" -C "$L" bundle import "$T/all.bundle"
	assert_out "up to date"
}

say "a dead quarantine with symbolic links inside, and a link in place of one"
mkdir -p "$T/outside/dir" || fail "mkdir failed"
echo keep >"$T/outside/dir/file"
echo keep >"$T/outside/file"
old=$S/import-$dead-old001
mkdir -p "$old/objects" || fail "mkdir failed"
ln -s "$T/outside/dir" "$old/objects/pack"
ln -s "$T/outside/file" "$old/HEAD"
ln -s "$T/outside/dir" "$S/incoming-$dead-link01"
quarantine
[ -e "$old" ] && fail "a dead quarantine was left"
[ -L "$S/incoming-$dead-link01" ] && fail "a link in place of a quarantine was left"
assert_eq "$(cat "$T/outside/dir/file")" keep "a file a link named"
assert_eq "$(cat "$T/outside/file")" keep "a file a link named"
ls "$S" | grep -E '^(import|incoming)-' && fail "a quarantine is left"
ok "$CYMAT" -C "$L" verify
exit 0
