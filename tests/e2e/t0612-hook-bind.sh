#!/bin/sh
# Review 3 #12: the pre-receive hook, run directly as git http-backend would
# run it (REMOTE_USER set by the web server), binds an inbox to its pusher
# when the master opts in (cymat.inboxBinding, cymat.inboxUser.<agency>),
# and caps the number of inboxes (cymat.maxInboxes); a pinned root that is
# not a record id is refused as a setting.
. "$(dirname "$0")/lib.sh"

make_ledger "$T/master.git"
M=$T/master.git
git clone -q --bare "$M" "$T/agency.git" || fail "git clone --bare failed"
L=$T/agency.git
note moj-csirt "from moj" >/dev/null || fail "note in the agency failed"
new=$(git -C "$L" rev-parse main)
base=$(git -C "$M" rev-parse main)
zero=0000000000000000000000000000000000000000
# The pushed objects, as receive-pack's quarantine would hold them.
git -C "$M" fetch -q "$L" main:refs/cymat/e2e-pushed || fail "git fetch failed"

# hook USER OLD REF: the hook judging REF from OLD to the agency's commit, pushed by USER.
hook() {
	if [ -n "$1" ]; then
		printf '%s %s %s\n' "$2" "$new" "$3" |
			REMOTE_USER=$1 "$CYMAT" -C "$M" hook pre-receive >"$T/out" 2>"$T/err"
	else
		printf '%s %s %s\n' "$2" "$new" "$3" |
			"$CYMAT" -C "$M" hook pre-receive >"$T/out" 2>"$T/err"
	fi
	RC=$?
}
expect_hook() {
	want=$1
	shift
	hook "$@"
	[ "$RC" -eq "$want" ] || { show_output; fail "hook $*: exit $RC, not $want"; }
}

say "not bound unless the master opts in"
expect_hook 0 mof-user "$zero" refs/inbox/moj

say "bound: only cymat.inboxUser.<agency> writes that inbox"
git -C "$M" config cymat.inboxBinding true
git -C "$M" config cymat.inboxUser.moj moj-user
expect_hook 1 mof-user "$zero" refs/inbox/moj
assert_err "inbox-not-pusher"
assert_err "mof-user"
expect_hook 0 moj-user "$zero" refs/inbox/moj
# An agency no user is bound to: nobody writes its inbox.
expect_hook 1 moj-user "$zero" refs/inbox/mof
assert_err "inbox-not-pusher"
# No REMOTE_USER (git daemon, a local push): nothing to bind.
expect_hook 0 "" "$zero" refs/inbox/mof
git -C "$M" config cymat.inboxBinding false
expect_hook 0 mof-user "$zero" refs/inbox/moj

say "at most cymat.maxInboxes inboxes"
git -C "$M" update-ref refs/inbox/aa "$base" || fail "update-ref failed"
git -C "$M" update-ref refs/inbox/bb "$base" || fail "update-ref failed"
git -C "$M" config cymat.maxInboxes 2
expect_hook 1 "" "$zero" refs/inbox/moj
assert_err "too-many-inboxes"
# An existing inbox still moves.
expect_hook 0 "" "$base" refs/inbox/aa
git -C "$M" config cymat.maxInboxes 3
expect_hook 0 "" "$zero" refs/inbox/moj
git -C "$M" config cymat.maxInboxes lots
expect_hook 3 "" "$zero" refs/inbox/moj
assert_err "cymat.maxInboxes"
git -C "$M" config cymat.maxInboxes 3

say "a pinned root that is not hex is a setting error, not a verdict (review 3 #18)"
git -C "$M" config cymat.root "$(printf 'z%.0s' $(seq 64))"
expect_hook 3 "" "$zero" refs/inbox/moj
assert_err 'config "cymat.root" is not a record id'
exit 0
