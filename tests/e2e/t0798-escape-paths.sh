#!/bin/sh
# Review 3, finding 13: tree entry names are chosen by whoever wrote the
# trees (any byte but NUL and "/").  A file under records/ named with a
# newline, a journal priority and an ESC sequence is refused everywhere, and
# the name reaches stderr, the sync log and the pusher's terminal escaped
# ("\x0a", "\x1b"): no forged line, no terminal control.  (And `hook
# install` from a build tree installs a cymat that runs.)
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

nisc_node_ledger master.git
git -C master.git config cymat.root "$ROOT"
# Without --cymat: the hook runs this cymat; from a build tree, libtool's
# wrapper script, not .libs/cymat (which cannot find libcymat-ledger).
ok "$CYMAT" -C master.git hook install
grep -q '/\.libs/' master.git/hooks/pre-receive && fail "the hook runs libtool's .libs binary"
git clone -q --bare master.git evil.git || fail "git clone --bare failed"
git clone -q --bare master.git agency.git || fail "git clone --bare failed"
git -C agency.git config cymat.root "$ROOT"
common=$(git -C master.git rev-parse main)
L=master.git
ok note mof-csirt "mof: at NISC"

# records/zz/<name>, the name holding a newline, "<2>" and ESC [31m.
esc=$(printf '\033')
name="x
<2>forged ${esc}[31mred"
blob=$(printf 'not json' | git -C evil.git hash-object -w --stdin) || fail "hash-object failed"
zz=$(printf '100644 blob %s\t%s\0' "$blob" "$name" | git -C evil.git mktree -z) ||
	fail "mktree of records/zz failed"
records=$( { git -C evil.git ls-tree main:records; printf '040000 tree %s\tzz\n' "$zz"; } |
	git -C evil.git mktree) || fail "mktree of records failed"
root=$( { git -C evil.git ls-tree main | grep -v '	records$'; printf '040000 tree %s\trecords\n' "$records"; } |
	git -C evil.git mktree) || fail "mktree of the root failed"
bad=$(git -C evil.git commit-tree "$root" -p main -m "note: escape") || fail "commit-tree failed"
git -C evil.git update-ref refs/heads/main "$bad" || fail "update-ref failed"

# escaped FILE: FILE names the entry escaped, and no line of it was forged.
escaped() {
	grep -qF 'x\x0a<2>forged \x1b[31mred' "$1" || { cat "$1" >&2; fail "$1: the name is not escaped"; }
	if grep -q '^<2>forged' "$1" || grep -q "$esc" "$1"; then
		cat -A "$1" >&2
		fail "$1: a raw newline or ESC got through"
	fi
}

say "bundle import"
ok "$CYMAT" -C evil.git bundle create --since "$common" "$T/evil.bundle"
expect 1 "$CYMAT" -C master.git bundle import --key "$K/nisc-node" evil.bundle
escaped "$T/err"

say "cymat sync from a peer (its log)"
nisc_node_config agency.conf agency.git agency evil "file://$T/evil.git" peer
expect 6 "$CYMAT" sync --config agency.conf
escaped "$T/err"

say "verify of a clone holding it"
git clone -q --bare evil.git clone.git || fail "git clone --bare failed"
run "$CYMAT" -C clone.git verify --root "$ROOT"
[ "$RC" -eq 1 ] || { show_output; fail "verify exited $RC"; }
escaped "$T/out"

say "the hook, to the pusher's terminal"
if git -C evil.git push "$T/master.git" main:refs/inbox/moj >"$T/out" 2>"$T/err"; then
	show_output
	fail "the hook let the file in"
fi
escaped "$T/err"
exit 0
