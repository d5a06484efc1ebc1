#!/bin/sh
# SIGTERM while a transfer hangs: the daemon finishes the step in progress
# (the transfer ends at its deadline and the failure is recorded), then
# exits 0.  The remote is a server on 127.0.0.1 that accepts connections
# and never answers.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-syncd.sh"

syncd_ledger

port=$(free_port)
cat >silent.py <<'EOF'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # accepted, never answered
EOF
python3 silent.py "$port" &
remember_child $!
wait_until "the silent server" python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()" "$port"

syncd_node_section syncd.conf debug
cat >>syncd.conf <<EOF
[sync]
poll_interval = 1h
backoff_base = 1h
backoff_cap = 1h
transfer_deadline = 3s
[remote "nisc"]
url = git://127.0.0.1:$port/ledger.git
role = master
EOF
start_syncd syncd.conf
wait_until "the first transfer to start" log_has 'remote "nisc": syncing with'
kill -TERM "$SYNCD_PID"
wait "$SYNCD_PID"
assert_eq "$?" 0 "exit status after SIGTERM mid-step"
[ ! -e "$SYNCD_PIDFILE" ] || fail "the pidfile is still there"
# The step finished: its failure is in the status, with the backoff set.
assert_eq "$(status_field "$L" nisc failures)" 1 "failures after the interrupted cycle"
[ -n "$(status_field "$L" nisc last_error)" ] || fail "no error recorded for the step"
[ -n "$(status_field "$L" nisc next_attempt)" ] || fail "no next attempt recorded"
log_has "failure 1, next attempt in" || fail "the step's end was not logged"
exit 0
