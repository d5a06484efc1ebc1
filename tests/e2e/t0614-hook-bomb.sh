#!/bin/sh
# Review 7 #1 on NISC's master: a pushed commit or tree is bounded by its
# header, in git receive-pack's own quarantine, before the pre-receive hook
# reads it whole.  A commit with a 20 MiB message (a push of some 20 KB) is
# refused, named with its size, and changes no ref of the master; an
# ordinary push through the same hook is still accepted.
. "$(dirname "$0")/lib.sh"

make_ledger "$T/master.git"
M=$T/master.git
ok "$CYMAT" -C "$M" hook install --cymat "$CYMAT"
git clone -q --bare "$M" "$T/agency.git" || fail "git clone --bare failed"
L=$T/agency.git
base=$(git -C "$L" rev-parse main)

master_refs() {
	git -C "$M" for-each-ref --format='%(objectname) %(refname)' >"$1" ||
		fail "git for-each-ref failed on the master"
}

say "a commit of 20 MiB is refused by its header"
tree=$(git -C "$L" rev-parse 'main^{tree}')
{ printf 'tree %s\nparent %s\nauthor a <a@cymat.invalid> 0 +0000\n' "$tree" "$base"
  printf 'committer a <a@cymat.invalid> 0 +0000\n\nnote: bomb\n\n'
  head -c $((20 * 1024 * 1024)) /dev/zero | tr '\0' a; } >"$T/big.commit"
bomb=$(git -C "$L" hash-object -t commit -w --stdin <"$T/big.commit") ||
	fail "hash-object failed"
master_refs "$T/refs.before"
expect 1 git -C "$L" push -q "$M" "$bomb:refs/inbox/moj"
assert_err "commit $bomb is $(stat -c %s "$T/big.commit") bytes, more than a ledger's commits hold (8 MiB at most)"
assert_err "refusing"
master_refs "$T/refs.after"
cmp -s "$T/refs.before" "$T/refs.after" || fail "a refused push changed the master's refs"
git -C "$M" cat-file -e "$bomb" 2>/dev/null && fail "the refused commit is in the master"

say "an ordinary push through the same hook is accepted"
note moj-csirt "moj: after the bomb" >/dev/null || fail "note failed"
ok git -C "$L" push -q "$M" main:refs/inbox/moj
assert_eq "$(git -C "$M" rev-parse refs/inbox/moj)" "$(git -C "$L" rev-parse main)" "refs/inbox/moj"
say "ok"
