#!/bin/sh
# Review 3, findings 3 and 17: a commit adding a directory thousands of
# levels deep under records/ (deeper than any path fits in 4 KiB) is refused
# as a FORMAT-4 `foreign-file` finding, with its commit, wherever incoming
# work is judged: bundle import and `cymat sync` from a peer (both through a
# union with a main that moved on, which counts what theirs adds), and the
# master's pre-receive hook.  Before, the walks recursed once per level and
# the verification failed with "path ... too long" (exit 3, "cannot judge").
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

command -v python3 >/dev/null 2>&1 || skip "python3 not installed (writes the deep tree)"
DEPTH=2100

nisc_node_ledger master.git
git -C master.git config cymat.root "$ROOT"
git clone -q --bare master.git agency.git || fail "git clone --bare failed"
git -C agency.git config cymat.root "$ROOT"
git clone -q --bare master.git evil.git || fail "git clone --bare failed"
ok "$CYMAT" -C master.git hook install --cymat "$CYMAT"
common=$(git -C master.git rev-parse main)
L=master.git
ok note mof-csirt "mof: at NISC"
L=agency.git
ok note moj-csirt "moj: at the agency"

# records/zz/a/a/.../a/x, DEPTH directories "a" deep, written as loose objects.
deep=$(python3 - "$T/evil.git/objects" "$DEPTH" <<'EOF'
import hashlib, os, sys, zlib
objects, depth = sys.argv[1], int(sys.argv[2])
def put(kind, data):
    raw = b"%s %d\0" % (kind, len(data)) + data
    oid = hashlib.sha1(raw).digest()
    hexid = oid.hex()
    d = os.path.join(objects, hexid[:2])
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hexid[2:])
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(zlib.compress(raw))
    return oid
oid = put(b"tree", b"100644 x\0" + put(b"blob", b"not a record"))
for _ in range(depth):
    oid = put(b"tree", b"40000 a\0" + oid)
print(oid.hex())
EOF
) || fail "writing the deep tree failed"
records=$( { git -C evil.git ls-tree main:records; printf '040000 tree %s\tzz\n' "$deep"; } |
	git -C evil.git mktree) || fail "mktree of records failed"
root=$( { git -C evil.git ls-tree main | grep -v '	records$'; printf '040000 tree %s\trecords\n' "$records"; } |
	git -C evil.git mktree) || fail "mktree of the root failed"
bad=$(git -C evil.git commit-tree "$root" -p main -m "note: deep") || fail "commit-tree failed"
git -C evil.git update-ref refs/heads/main "$bad" || fail "update-ref failed"
say "records/zz holds a tree $DEPTH levels deep, in commit $bad"

# refused_deep: the last run refused the work naming the deep tree and its commit.
refused_deep() {
	assert_err "FORMAT-4 foreign-file"
	assert_err "records/zz/a/a/a/a/a"
	assert_err "a directory deeper than a ledger has"
	grep -q "too long" "$T/err" && { show_output; fail "the message is still \"too long\""; }
	:
}

say "bundle import at the master (a union: the master's main moved on)"
ok "$CYMAT" -C evil.git bundle create --since "$common" "$T/evil.bundle"
before=$(git -C master.git rev-parse main)
expect 1 "$CYMAT" -C master.git bundle import --key "$K/nisc-node" evil.bundle
refused_deep
assert_eq "$(git -C master.git rev-parse main)" "$before" "the master's main"

say "cymat sync of the agency with the evil clone as a peer"
nisc_node_config agency.conf agency.git agency evil "file://$T/evil.git" peer
before=$(git -C agency.git rev-parse main)
expect 6 "$CYMAT" sync --config agency.conf
refused_deep
assert_eq "$(git -C agency.git rev-parse main)" "$before" "the agency's main"
ok "$CYMAT" -C agency.git verify

say "a push to the master's inbox: the hook refuses it, with the finding"
if git -C evil.git push "$T/master.git" main:refs/inbox/moj >"$T/out" 2>"$T/err"; then
	show_output
	fail "the hook let the deep tree in"
fi
refused_deep
git -C master.git rev-parse -q --verify refs/inbox/moj >/dev/null && fail "the inbox was created"
ok "$CYMAT" -C master.git verify
exit 0
