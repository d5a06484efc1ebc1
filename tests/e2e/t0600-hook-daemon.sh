#!/bin/sh
# The master's pre-receive hook behind `git daemon --enable=receive-pack`:
# plain `git push` of good and hand-crafted bad commits; every bad one is
# refused with its reason and changes no ref, the good ones land in
# refs/inbox/<agency>.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/hook-cases.sh"

hook_master
start_git_daemon "$T/srv"
hook_cases "$GIT_DAEMON_URL/master.git"
exit 0
