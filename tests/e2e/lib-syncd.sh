# Shared by the cymat-syncd scripts (t08NN-syncd-*.sh), sourced after lib.sh.
#
# Gives: $SYNCD (the built daemon), syncd_ledger and syncd_node_section (a
# ledger and the [node] of its daemon's config), free_port, start_syncd /
# stop_syncd (a daemon in the background, its stderr in $T/syncd.log) and
# status_field (a member of a remote's `cymat sync status --json`).  Every
# process started here is stopped on exit, by its pid.

if [ -z "${SYNCD:-}" ]; then
	if [ -n "${TOP_BUILDDIR:-}" ]; then
		SYNCD=$TOP_BUILDDIR/syncd/cymat-syncd
	else
		SYNCD=$(dirname "$CYMAT")/../syncd/cymat-syncd
	fi
fi
[ -x "$SYNCD" ] || skip "cymat-syncd not built at $SYNCD"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed (free ports, JSON)"

# Children to stop on exit: their pids, one a line.
: >"$T/children"
cleanup_children() {
	while read -r child; do
		kill "$child" 2>/dev/null
	done <"$T/children"
	while read -r child; do
		# wait only works for our own children; the kill above is what matters.
		wait "$child" 2>/dev/null
	done <"$T/children"
}
trap 'cleanup_children; rm -rf "$T"' EXIT

remember_child() {
	echo "$1" >>"$T/children"
}

# syncd_ledger: keys director, deputy and node, and the ledger $T/ledger.git
# of `cymat init`, named by $L; its daemon's pidfile $SYNCD_PIDFILE.
syncd_ledger() {
	key director
	key deputy
	key node
	"$CYMAT" init --director-key "$K/director" --director director \
		--deputy-key "$K/deputy" --deputy deputy ledger.git >/dev/null ||
		fail "cymat init failed"
	L=$T/ledger.git
	SYNCD_PIDFILE=$L/cymat/syncd.pid
}

# syncd_node_section FILE LOG_LEVEL: start FILE, a config of the node key
# as moj/syncd, syncing $L as an agency.
syncd_node_section() {
	cat >"$1" <<EOF
[node]
key = $K/node.key
principal = moj/syncd
agency = moj
ledger = $L
mode = agency
log_level = $2
EOF
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_syncd CONFIG [options...]: a daemon in the background; its pid in
# $SYNCD_PID once its pidfile names it.  Needs $SYNCD_PIDFILE.
start_syncd() {
	cfg=$1
	shift
	"$SYNCD" -c "$cfg" "$@" 2>>"$T/syncd.log" &
	SYNCD_PID=$!
	remember_child "$SYNCD_PID"
	wait_until "cymat-syncd to start" syncd_started
}

syncd_started() {
	kill -0 "$SYNCD_PID" 2>/dev/null || { cat "$T/syncd.log" >&2; fail "cymat-syncd died"; }
	[ "$(cat "$SYNCD_PIDFILE" 2>/dev/null)" = "$SYNCD_PID" ]
}

# stop_syncd: SIGTERM, then its exit status in $SYNCD_RC.
stop_syncd() {
	kill -TERM "$SYNCD_PID" || fail "cannot signal cymat-syncd"
	wait "$SYNCD_PID"
	SYNCD_RC=$?
}

# log_has TEXT: the daemon's log has TEXT.
log_has() {
	grep -qF -- "$1" "$T/syncd.log"
}

# status_field LEDGER REMOTE FIELD: a member of the remote's entry in
# `cymat sync status --json`, "" when null or absent.
status_field() {
	"$CYMAT" -C "$1" sync status --json >"$T/status.json" 2>"$T/status.err" ||
		{ cat "$T/status.err" >&2; fail "cymat sync status failed"; }
	python3 - "$T/status.json" "$2" "$3" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    status = json.load(f)
v = None
for r in status["remotes"]:
    if r["name"] == sys.argv[2]:
        v = r.get(sys.argv[3])
print("" if v is None else v)
EOF
}
