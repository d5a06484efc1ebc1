#!/bin/sh
# Review 7: objects that inflate a thousandfold are refused by their header
# before anything reads them whole.  A commit with a 20 MiB message (a
# bundle of 21 KB) used to be accepted into main, at 200 MiB taking minutes
# and 800 MB to import; a tree of 500,000 entries naming one blob (a bundle
# of 1.2 MB) took a minute and 540 MB to refuse.  Now a bundle import and a
# sync from a peer refuse a commit over 8 MiB and a tree over 16 MiB, naming
# it and its size, and change nothing: main, the remote's ref, quarantines.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

command -v python3 >/dev/null 2>&1 || skip "python3 not installed"

refusal_ledgers
L=evil.git
ok note moj-csirt "moj: one"
good=$(git -C evil.git rev-parse main)
nisc_node_config agency.conf agency.git agency evil "file://$T/evil.git" peer

# refused WHAT: a bundle of evil.git's main and a sync with it are refused for WHAT.
refused() {
	evil_bundle bomb
	before=$(git -C master.git rev-parse main)
	expect 3 "$CYMAT" -C master.git bundle import --key "$K/nisc-node" bomb.bundle
	assert_err "bundle \"bomb.bundle\" refused: $1"
	unchanged master.git "$before"
	before=$(git -C agency.git rev-parse main)
	expect 6 "$CYMAT" sync --config agency.conf
	assert_err "remote \"evil\": fetch: \"file://$T/evil.git\": $1"
	unchanged agency.git "$before"
}

say "a commit of 20 MiB"
tree=$(git -C evil.git rev-parse 'main^{tree}')
{ printf 'tree %s\nparent %s\nauthor a <a@cymat.invalid> 0 +0000\n' "$tree" "$common"
  printf 'committer a <a@cymat.invalid> 0 +0000\n\nnote: bomb\n\n'
  head -c $((20 * 1024 * 1024)) /dev/zero | tr '\0' a; } >big.commit
bomb=$(git -C evil.git hash-object -t commit -w --stdin <big.commit) ||
	fail "hash-object failed"
git -C evil.git update-ref refs/heads/main "$bomb" || fail "update-ref failed"
refused "commit $bomb is $(stat -c %s big.commit) bytes, more than a ledger's commits hold (8 MiB at most)"

say "a tree of 500,000 entries"
git -C evil.git update-ref refs/heads/main "$common" || fail "update-ref failed"
blob=$(printf x | git -C evil.git hash-object -w --stdin) || fail "hash-object failed"
python3 - "$blob" >big.tree <<'PY' || fail "python3 failed"
import sys
oid = bytes.fromhex(sys.argv[1])
out = sys.stdout.buffer
for i in range(500000):
    out.write(b"100644 f%08d\0" % i + oid)
PY
big=$(git -C evil.git hash-object -t tree -w --stdin <big.tree) || fail "hash-object failed"
rec=$( { git -C evil.git ls-tree main:records; printf '040000 tree %s\tzz\n' "$big"; } |
	git -C evil.git mktree) || fail "mktree failed"
root=$( { git -C evil.git ls-tree main | grep -v '	records$'
	printf '040000 tree %s\trecords\n' "$rec"; } | git -C evil.git mktree) || fail "mktree failed"
c=$(echo "note: many" | git -C evil.git commit-tree "$root" -p main) || fail "commit-tree failed"
git -C evil.git update-ref refs/heads/main "$c" || fail "update-ref failed"
refused "tree $big is $(stat -c %s big.tree) bytes, more than a ledger's trees hold (16 MiB at most)"

say "the ledgers are whole, and a good main still comes in"
ok "$CYMAT" -C master.git verify
ok "$CYMAT" -C agency.git verify
git -C evil.git update-ref refs/heads/main "$good" || fail "update-ref failed"
ok "$CYMAT" sync --config agency.conf
assert_out "1 remote synced, 0 failed, 1 new record"
exit 0
