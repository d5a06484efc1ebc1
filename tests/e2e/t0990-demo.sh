#!/bin/sh
# The demo (`make demo`) runs to the end, shows what it promises and, with
# DEMO_KEEP, leaves ledgers that stock git and cymat can inspect afterwards.
. "$(dirname "$0")/lib.sh"

demo=$TOP_SRCDIR/tests/demo.sh
[ -f "$demo" ] || skip "no $demo"

DEMO_KEEP=$T/keep
export DEMO_KEEP
expect 0 sh "$demo"
unset DEMO_KEEP
assert_out "== 2. The director creates the NISC ledger"
assert_out "== 14. The verifier names the bad record"
assert_out "\$ git clone -q nisc.git audit"
assert_out "verified 13 records (12 new commits): 13 valid, 0 invalid, 0 pending"
assert_out "12 valid, 1 invalid, 0 pending"
assert_out "[exit status 1]"
assert_out "Kept in $T/keep (DEMO_KEEP):"
assert_out "demo: every step behaved as expected"

# The record the demo tampered with is the one the verifier named.
report=$(sed -n 's/^# REPORT=//p' "$T/out")
[ ${#report} -eq 64 ] || fail "the demo printed no REPORT id"
grep -E "^error FORMAT-[0-9] [a-z-]+ $report records/" "$T/out" >/dev/null ||
	fail "the demo's verifier output does not name record $report"
root=$(sed -n 's/^Root id: //p' "$T/out")

# What it kept: the ledger verifies; the tampered clone does not; git agrees the
# object stores are sound.
for d in nisc.git audit tampered keys; do
	[ -e "$T/keep/$d" ] || fail "DEMO_KEEP lacks $d"
done
[ -f "$T/keep/keys/mhlw-ciso.key" ] || fail "DEMO_KEEP lacks the keys"
git -C "$T/keep/nisc.git" fsck --strict >/dev/null 2>&1 || fail "git fsck on the kept ledger"
assert_eq "$(git -C "$T/keep/nisc.git" config cymat.root)" "$root" "pinned root"
ok "$CYMAT" -C "$T/keep/nisc.git" verify --no-cache
assert_out "13 valid, 0 invalid, 0 pending"
ok "$CYMAT" -C "$T/keep/audit" verify --no-cache --root "$root"
expect 1 "$CYMAT" -C "$T/keep/tampered" verify --no-cache --root "$root"
assert_out "$report"

# A second run refuses to mix its files into a kept directory.
DEMO_KEEP=$T/keep
export DEMO_KEEP
expect 2 sh "$demo"
unset DEMO_KEEP
assert_err "not empty"

# Without DEMO_KEEP nothing is left behind.
mkdir "$T/tmp"
TMPDIR=$T/tmp
export TMPDIR
expect 0 sh "$demo"
assert_out "now removed"
[ -z "$(ls -A "$T/tmp")" ] || fail "the demo left files in TMPDIR: $(ls -A "$T/tmp")"
exit 0
