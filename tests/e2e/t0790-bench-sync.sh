#!/bin/sh
# cymat-bench --sync at a tiny size, so that the benchmark of one sync cycle
# cannot rot: it builds a ledger, serves it with a real git daemon, syncs an
# agency's copy through the library, fetches with stock git, and checks that
# both got the master's main and that the cycle merged every new record.
# What it measures is not judged here (no timing assertions).
. "$(dirname "$0")/lib.sh"
BENCH=${TOP_BUILDDIR:-$PWD/..}/bench/cymat-bench
[ -x "$BENCH" ] || skip "cymat-bench not built at $BENCH"
[ -x "$(git --exec-path)/git-daemon" ] || skip "git daemon not installed"
command -v timeout >/dev/null 2>&1 || skip "timeout (coreutils) not installed"

say "cymat-bench --sync 40 on a ledger of 300 records"
TMPDIR=$T run timeout 600 "$BENCH" --records 300 --batch 100 --sync 40 --in-place --json
[ "$RC" -eq 0 ] || { show_output; fail "cymat-bench --sync exited with $RC"; }
grep -A1 '"measurement": "  new records merged"' "$T/out" | grep -q '"value": "40"' ||
	{ show_output; fail "the table does not say 40 records were merged"; }
grep -q '"measurement": "sync / (git fetch + floor), wall"' "$T/out" ||
	{ show_output; fail "no ratio in the table"; }
# The bench removes its work directory and stops its git daemon.
ls -d "$T"/cymat-bench.* >/dev/null 2>&1 && fail "the work directory was left behind"
pgrep -f "base-path=$T/cymat-bench" >/dev/null 2>&1 && fail "git daemon still running"

say "a bad count is refused"
run "$BENCH" --sync 0
[ "$RC" -ne 0 ] || fail "--sync 0 was accepted"
grep -q 'not a positive number' "$T/err" || { show_output; fail "no message for --sync 0"; }
exit 0
