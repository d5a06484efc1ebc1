#!/bin/sh
# The sync demo (`make demo-sync`, the README's quick start) runs to the end
# and tells its story: the master offline while MOJ reports, MOJ's sync
# failing with exit 6, the master back, a receipt naming MOJ's reports, the
# same records on every node, the auditor's clone verified by cymat and by
# stock git.  What it keeps (DEMO_KEEP) is checked here independently, and
# it leaves no process and no file behind.
. "$(dirname "$0")/lib.sh"

demo=$TOP_SRCDIR/tests/demo-sync.sh
[ -f "$demo" ] || skip "no $demo"
[ -x "$(git --exec-path)/git-daemon" ] || skip "git daemon not installed"

DEMO_KEEP=$T/keep
export DEMO_KEEP
expect 0 sh "$demo"
unset DEMO_KEEP
assert_out "== 6. The master goes offline"
assert_out "0 remotes synced, 1 failed, 0 new records"
assert_out "[exit status 6]"
assert_out "failures:      1 in a row"
assert_out "== 8. The master is back"
assert_out "# the receipt that names MOJ's damage reports:"
assert_out "records on the master, the same on moj, mof and mic; nothing written was lost"
assert_out "0 invalid"
assert_out "has a good signature (G)"
assert_out "demo: every step behaved as expected"
cp "$T/out" "$T/demo.out"

# The demo's ids, and the ledgers it kept.
root=$(sed -n 's/^Root id: //p' "$T/demo.out")
req=$(sed -n 's/^# REQ=//p' "$T/demo.out")
[ ${#root} -eq 64 ] || fail "the demo printed no root id"
[ ${#req} -eq 64 ] || fail "the demo printed no REQ id"
M=$T/keep/srv/master.git
for d in moj.git mof.git mic.git audit keys; do
	[ -e "$T/keep/$d" ] || fail "DEMO_KEEP lacks $d"
done

# Every node holds the master's records, and the receipt naming MOJ's reports.
ids() {
	git -C "$1" ls-tree -r --name-only main -- records | sed 's,.*/,,; s,\.json$,,' | sort
}
ids "$M" >"$T/ids.master"
[ "$(wc -l <"$T/ids.master")" -gt 20 ] || fail "too few records on the master"
grep -qx "$req" "$T/ids.master" || fail "the master lacks the request"
for n in moj mof mic; do
	ids "$T/keep/$n.git" >"$T/ids.$n"
	cmp -s "$T/ids.master" "$T/ids.$n" || fail "$n's records differ from the master's"
	ok "$CYMAT" -C "$T/keep/$n.git" verify --no-cache
	assert_out "0 invalid"
done
ok "$CYMAT" -C "$M" log --type receipt --json
assert_out '"summary":"inbox moj, 2 records accepted"'
ok "$CYMAT" -C "$T/keep/audit" verify --no-cache --root "$root"
assert_out "0 invalid"
git -C "$M" fsck --strict >/dev/null 2>&1 || fail "git fsck of the kept master"

# Nothing left running: the demo's git daemon served $T/keep/srv.
if ps -eo args= | grep -F -- "--base-path=$T/keep/srv" | grep -v grep >/dev/null; then
	fail "the demo left its git daemon running"
fi

# Without DEMO_KEEP nothing is left behind.
mkdir "$T/tmp"
TMPDIR=$T/tmp
export TMPDIR
expect 0 sh "$demo"
assert_out "now removed"
[ -z "$(ls -A "$T/tmp")" ] || fail "the demo left files in TMPDIR: $(ls -A "$T/tmp")"
exit 0
