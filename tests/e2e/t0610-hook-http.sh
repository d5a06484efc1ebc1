#!/bin/sh
# The master's pre-receive hook behind smart HTTP: `git http-backend` as a
# CGI of lighttpd, pushes enabled by http.receivepack.  The same pushes as
# through git daemon, with the same verdicts.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/servers.sh"
. "$TOP_SRCDIR/tests/e2e/hook-cases.sh"

hook_master
start_http_git "$T/srv"
hook_cases "$HTTP_GIT_URL/master.git"
exit 0
