#!/bin/sh
# Sync scenario 4 (issue 4): no network at all; ledgers travel as bundles,
# both ways.  MOJ carries its ledger to NISC (a whole-ledger bundle), NISC
# carries what MIC lacks to MIC (a bundle --since MIC's main); each bundle is
# accepted by stock git and imported twice, the second time changing
# nothing; both sides had moved on, so each import merges with the node key.
# Then the servers come up and every node converges.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/lib-sync.sh"
"$CYMAT" help bundle >/dev/null 2>&1 || skip "cymat bundle not built yet"
have_sync

sync_world
mkdir usb
# What NISC knows mic holds: the master's main when mic's ledger was cloned.
MIC_BASE=$(git -C "$MASTER" rev-parse main) || fail "no main in the master"

# has NODE ID
has() {
	records "$1" | grep -qx "$2"
}

# import NODE BUNDLE: imported twice; the second changes no ref.
import_twice() {
	it_repo=$(ledger_of "$1")
	ok "$CYMAT" -C "$it_repo" bundle import --key "$K/$1-node" "$2"
	git -C "$it_repo" for-each-ref >"$T/refs.once" || fail "git for-each-ref failed"
	ok "$CYMAT" -C "$it_repo" bundle import --key "$K/$1-node" "$2"
	git -C "$it_repo" for-each-ref >"$T/refs.twice" || fail "git for-each-ref failed"
	cmp -s "$T/refs.once" "$T/refs.twice" ||
		{ diff "$T/refs.once" "$T/refs.twice" >&2; fail "a second import of $2 into $1 changed refs"; }
	git -C "$it_repo" fsck --strict >/dev/null 2>&1 || fail "git fsck --strict of $1 failed after the import"
}

cat >request.json <<'JSON'
{"basis": "10.1", "route": "normal", "addressed_to": "director", "affected": "moj",
 "summary": "Every network is down; this request travels on a USB stick",
 "systems": ["everything"], "occurred_at": "2026-11-26T02:00:00Z"}
JSON
REQ=$(file_record moj moj-ciso request request.json)
N1=$(write nisc manager "NISC writes meanwhile")
M1=$(write mic mic-csirt "mic writes meanwhile")

say "moj -> nisc: a whole-ledger bundle"
ok "$CYMAT" -C "$(ledger_of moj)" bundle create "$T/usb/moj.bundle"
git -C "$MASTER" bundle verify "$T/usb/moj.bundle" >/dev/null 2>&1 ||
	fail "git bundle verify refuses moj's bundle"
git clone -q "$T/usb/moj.bundle" from-usb || fail "git clone of moj's bundle failed"
ok "$CYMAT" -C from-usb verify --root "$ROOT"
import_twice nisc "$T/usb/moj.bundle"
has nisc "$REQ" || fail "the master lacks moj's request after the import"
has nisc "$N1" || fail "the master lost its own record in the import"

say "nisc -> mic: only what mic lacks"
ok "$CYMAT" -C "$MASTER" bundle create --since "$MIC_BASE" "$T/usb/to-mic.bundle"
git -C "$(ledger_of mic)" bundle verify "$T/usb/to-mic.bundle" >/dev/null 2>&1 ||
	fail "git bundle verify (in mic) refuses the master's bundle"
import_twice mic "$T/usb/to-mic.bundle"
for id in $REQ $N1 $M1; do
	has mic "$id" || fail "mic lacks record $id after the import"
done
run "$CYMAT" -C "$(ledger_of mic)" verify
[ "$RC" -eq 0 ] || { show_output; fail "mic does not verify after the import"; }

say "a damaged bundle is refused and changes nothing"
cp "$T/usb/moj.bundle" bad.bundle
size=$(wc -c <bad.bundle)
printf 'XXXX' | dd of=bad.bundle bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
git -C "$(ledger_of mof)" for-each-ref >"$T/refs.before"
run "$CYMAT" -C "$(ledger_of mof)" bundle import --key "$K/mof-node" bad.bundle
[ "$RC" -ne 0 ] || fail "a damaged bundle was imported"
git -C "$(ledger_of mof)" for-each-ref >"$T/refs.after"
cmp -s "$T/refs.before" "$T/refs.after" || fail "a refused bundle changed refs"

say "the network comes back: convergence"
start_git_daemon "$T/srv"
start_http_git "$T/srv"
node_config nisc
node_config moj nisc "$GIT_DAEMON_URL/master.git" master
node_config mof nisc "$HTTP_GIT_URL/master.git" master
node_config mic nisc "$GIT_DAEMON_URL/master.git" master
converge 3 moj mof mic
assert_converged moj mof mic
exit 0
