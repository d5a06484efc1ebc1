#!/bin/sh
# Review 7 #5 and #6: quarantines left by a dead process are swept by lock,
# not by pid, and removed by descriptor.  A quarantine is live while its
# maker holds an flock on its quarantine.lock: one whose pid looks dead (a
# process in another PID namespace) but whose lock is held stays; once the
# lock is free it goes, and so does one without a lock file.  Symbolic
# links inside a dead quarantine, and one in place of a quarantine, are
# removed, never followed: what they name is left as it was.
. "$(dirname "$0")/lib.sh"

command -v flock >/dev/null 2>&1 || skip "flock (util-linux) not installed"

make_ledger "$T/ledger.git"
S=$T/ledger.git/cymat
ok "$CYMAT" -C "$L" bundle create "$T/all.bundle"
holder=

cleanup() {
	[ -z "$holder" ] || kill "$holder" 2>/dev/null
}
trap cleanup EXIT INT TERM

# A pid no process has: kill(pid, 0) says ESRCH, as for one in another PID namespace.
dead=4194000
while kill -0 "$dead" 2>/dev/null; do dead=$((dead + 1)); done

# quarantine: any command that makes (and removes) a quarantine, sweeping first.
quarantine() {
	ok "$CYMAT" -C "$L" bundle import "$T/all.bundle"
	assert_out "up to date"
}

say "a quarantine whose lock is held stays, whatever its pid"
live=$S/incoming-$dead-live01
mkdir -p "$live/objects/pack" || fail "mkdir failed"
echo data >"$live/objects/pack/pack-x.pack"
: >"$live/quarantine.lock"
# The holder is the process that locked it: killing it frees the lock.
( exec 9<"$live/quarantine.lock" && flock 9 && exec sleep 300 ) &
holder=$!
# The lock is taken once the file is held: wait for it.
wait_until "flock(1) to take the lock" eval '! flock -n "$live/quarantine.lock" true'
quarantine
[ -f "$live/objects/pack/pack-x.pack" ] || fail "a live quarantine was swept"

say "once its lock is free, it is swept"
kill "$holder"
wait "$holder" 2>/dev/null
holder=
quarantine
[ -e "$live" ] && fail "a dead quarantine was left"

say "without a lock file, with symbolic links inside, and a link in place of one"
mkdir -p "$T/outside/dir" || fail "mkdir failed"
echo keep >"$T/outside/dir/file"
echo keep >"$T/outside/file"
old=$S/import-$$-old001
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
