# The world of the sync scenarios (t07NN-sync-*.sh): source it after lib.sh
# and servers.sh (only the proxy and hostile server work without it).
#
#   sync_world            NISC's master ($MASTER = $T/srv/master.git: the standard
#                         ledger, plus mic's CISO and CSIRT, the three agencies
#                         registered, a node key per node (nisc/syncd, moj/syncd,
#                         mof/syncd, mic/syncd), the pre-receive hook installed)
#                         and the agencies' ledgers $T/srv/{moj,mof,mic}.git, bare
#                         clones of it with the root pinned; served by nothing yet
#   node_config NODE [REMOTE URL ROLE]...
#                         $T/NODE.conf for `cymat sync` and cymat-syncd: NODE is
#                         nisc (mode master) or an agency; $SYNC_DEADLINE,
#                         $SYNC_MAX_BYTES, $SYNC_MAX_OBJECTS set the caps
#   sync_node NODE           one `cymat sync` cycle of NODE: status in $RC
#   converge ROUNDS NODE...  cycles of the agencies NODE..., then of the master,
#                         until every node holds the master's record set and every
#                         cycle of the round succeeded; fails after ROUNDS rounds
#   records NODE          the sorted record ids of NODE's main
#   write NODE KEY TEXT   a note by KEY appended to NODE's ledger; its id is
#                         printed and kept in $T/written (what must never be lost)
#   assert_converged NODE...  same record set everywhere, nothing written lost,
#                         every ledger verifies and passes `git fsck --strict`
#   start_proxy NAME HOST:PORT [MODE...]   tests/e2e/faultproxy.py in front of a
#                         server; its port in $PROXY_PORT, its log $T/proxy.NAME.log
#   proxy_mode NAME MODE...   change the proxy's faults (next connections)
#   start_hostile NAME trickle|endless git|http   tests/e2e/hostilegit.py; $HOSTILE_PORT
#   file_record, write_batch, sync_retry, sync_status, hostport: see below
# Every process is stopped on exit (servers.sh's track_pid, or our own
# when servers.sh was not sourced).

if ! command -v track_pid >/dev/null 2>&1; then
	SYNC_PIDS=
	track_pid() {
		SYNC_PIDS="$SYNC_PIDS $1"
	}
	trap 'for sp in $SYNC_PIDS; do kill "$sp" 2>/dev/null; done; rm -rf "$T"' EXIT
fi
command -v python3 >/dev/null 2>&1 || skip "python3 not installed (fault proxy, hostile server)"
if [ -z "${SYNCD:-}" ]; then
	if [ -n "${TOP_BUILDDIR:-}" ]; then
		SYNCD=$TOP_BUILDDIR/syncd/cymat-syncd
	else
		SYNCD=$(dirname "$CYMAT")/../syncd/cymat-syncd
	fi
fi
E2E_DIR=$TOP_SRCDIR/tests/e2e
AGENCIES="moj mof mic"
: >"$T/written"

start_proxy() {
	sp_name=$1
	sp_target=$2
	shift 2
	rm -f "$T/proxy.$sp_name.port"
	python3 "$E2E_DIR/faultproxy.py" --target "$sp_target" --seed "${PROXY_SEED:-7}" \
		--port-file "$T/proxy.$sp_name.port" --mode-file "$T/proxy.$sp_name.modes" \
		--log "$T/proxy.$sp_name.log" "$@" 2>>"$T/proxy.$sp_name.log" &
	track_pid $!
	wait_until "fault proxy $sp_name" test -s "$T/proxy.$sp_name.port"
	PROXY_PORT=$(cat "$T/proxy.$sp_name.port")
}

proxy_mode() {
	pm_name=$1
	shift
	echo "$*" >"$T/proxy.$pm_name.modes.tmp" && mv "$T/proxy.$pm_name.modes.tmp" "$T/proxy.$pm_name.modes" ||
		fail "cannot set the modes of proxy $pm_name"
}

# proxy_count NAME EVENT: how many connections of the proxy's log had EVENT (drop, cut, accept...)
proxy_count() {
	grep -c "^conn [0-9]* $2" "$T/proxy.$1.log"
}

start_hostile() {
	rm -f "$T/hostile.$1.port"
	python3 "$E2E_DIR/hostilegit.py" --mode "$2" --proto "$3" --port-file "$T/hostile.$1.port" \
		--log "$T/hostile.$1.log" 2>>"$T/hostile.$1.log" &
	track_pid $!
	wait_until "hostile server $1" test -s "$T/hostile.$1.port"
	HOSTILE_PORT=$(cat "$T/hostile.$1.port")
}

# bind_key KEY-OF-BINDER NAME ROLE PRINCIPAL [options]: a key NAME bound on the master.
bind_key() {
	bd_by=$1
	bd_name=$2
	bd_role=$3
	bd_principal=$4
	shift 4
	key "$bd_name"
	"$CYMAT" -C "$MASTER" principal add --key "$K/$bd_by" --pub "$K/$bd_name" --role "$bd_role" \
		"$@" "$bd_principal" >/dev/null || fail "binding $bd_principal failed"
}

sync_world() {
	mkdir -p "$T/srv"
	make_ledger "$T/srv/master.git"
	MASTER=$L
	bind_key manager mic-ciso ciso mic/ciso --full-time
	bind_key mic-ciso mic-csirt csirt mic/csirt
	bind_key manager nisc-node node nisc/syncd --full-time --nisc-resident
	for a in $AGENCIES; do
		bind_key "$a-ciso" "$a-node" node "$a/syncd"
	done
	: >"$T/agencies.jsonl"
	for a in $AGENCIES; do
		printf '{"type":"agency","body":{"id":"%s","kind":"government","name":{"ja":"%s","en":"%s"}}}\n' \
			"$a" "$a" "$a" >>"$T/agencies.jsonl"
	done
	"$CYMAT" -C "$MASTER" append --key "$K/manager" --batch "$T/agencies.jsonl" >/dev/null ||
		fail "registering the agencies failed"
	ok "$CYMAT" -C "$MASTER" hook install --cymat "$CYMAT"
	ok "$CYMAT" -C "$MASTER" verify
	for a in $AGENCIES; do
		git clone -q --bare "$MASTER" "$T/srv/$a.git" || fail "git clone of the master for $a failed"
		git -C "$T/srv/$a.git" config cymat.root "$ROOT" || fail "git config failed"
	done
	export MASTER
}

# ledger_of NODE: the path of NODE's ledger.
ledger_of() {
	if [ "$1" = nisc ]; then
		echo "$MASTER"
	else
		echo "$T/srv/$1.git"
	fi
}

node_config() {
	nc_node=$1
	shift
	nc_mode=agency
	[ "$nc_node" = nisc ] && nc_mode=master
	cat >"$T/$nc_node.conf" <<EOF
[node]
key = $K/$nc_node-node.key
principal = $nc_node/syncd
agency = $nc_node
ledger = $(ledger_of "$nc_node")
mode = $nc_mode
log_level = ${SYNC_LOG_LEVEL:-info}
[sync]
poll_interval = ${SYNC_POLL:-1h}
backoff_base = ${SYNC_BACKOFF_BASE:-1h}
backoff_cap = 2h
transfer_deadline = ${SYNC_DEADLINE:-120}
max_bytes = ${SYNC_MAX_BYTES:-1G}
max_objects = ${SYNC_MAX_OBJECTS:-5000000}
EOF
	while [ $# -ge 3 ]; do
		printf '[remote "%s"]\nurl = %s\nrole = %s\n' "$1" "$2" "$3" >>"$T/$nc_node.conf"
		shift 3
	done
}

sync_node() {
	"$CYMAT" sync --config "$T/$1.conf" >"$T/out" 2>"$T/err"
	RC=$?
	cat "$T/out" "$T/err" >>"$T/sync.$1.log"
	return 0
}

# sync_ok NODE: a cycle that must succeed.
sync_ok() {
	sync_node "$1"
	[ "$RC" -eq 0 ] || { show_output; fail "cymat sync of $1 exited $RC"; }
}

records() {
	git -C "$(ledger_of "$1")" ls-tree -r --name-only refs/heads/main -- records |
		sed 's,.*/,,; s,\.json$,,' | sort
}

write() {
	wr_id=$(printf '{"summary":"%s"}' "$3" |
		"$CYMAT" -C "$(ledger_of "$1")" append --key "$K/$2" --type note -) ||
		fail "append by $2 to $1 failed"
	echo "$wr_id" >>"$T/written"
	echo "$wr_id"
}

# same_records NODE...: every NODE holds the master's record set.
same_records() {
	records nisc >"$T/records.nisc"
	for sr_node in "$@"; do
		records "$sr_node" >"$T/records.$sr_node"
		cmp -s "$T/records.nisc" "$T/records.$sr_node" || return 1
	done
	return 0
}

converge() {
	cv_max=$1
	shift
	cv_round=0
	while [ "$cv_round" -lt "$cv_max" ]; do
		cv_round=$((cv_round + 1))
		cv_good=1
		for cv_node in "$@"; do
			sync_node "$cv_node"
			[ "$RC" -eq 0 ] || cv_good=0
		done
		sync_node nisc
		[ "$RC" -eq 0 ] || cv_good=0
		if [ "$cv_good" -eq 1 ] && same_records "$@"; then
			# The last receipts reach the agencies in one more round.
			for cv_node in "$@"; do
				sync_node "$cv_node"
				[ "$RC" -eq 0 ] || cv_good=0
			done
			if [ "$cv_good" -eq 1 ] && same_records "$@"; then
				say "converged in $cv_round rounds"
				CONVERGE_ROUNDS=$cv_round
				return 0
			fi
		fi
	done
	for cv_node in "$@"; do
		diff "$T/records.nisc" "$T/records.$cv_node" >&2
		tail -n 20 "$T/sync.$cv_node.log" >&2
	done
	fail "no convergence of nisc $* after $cv_max rounds"
}

assert_converged() {
	same_records "$@" || { for ac in "$@"; do diff "$T/records.nisc" "$T/records.$ac" >&2; done
		fail "the nodes hold different record sets"; }
	for ac_node in nisc "$@"; do
		records "$ac_node" >"$T/records.$ac_node"
		while read -r ac_id; do
			grep -qx "$ac_id" "$T/records.$ac_node" || fail "record $ac_id written was lost on $ac_node"
		done <"$T/written"
		run "$CYMAT" -C "$(ledger_of "$ac_node")" verify
		[ "$RC" -eq 0 ] || { show_output; fail "verify of $ac_node exited $RC"; }
		assert_out "0 invalid"
		git -C "$(ledger_of "$ac_node")" fsck --strict >"$T/fsck.out" 2>&1 ||
			{ cat "$T/fsck.out" >&2; fail "git fsck --strict of $ac_node failed"; }
	done
	say "converged: $(wc -l <"$T/records.nisc") records on nisc $*, all $(wc -l <"$T/written") written kept"
}

# receipt_names ID: some receipt record of the master names record ID.
receipt_names() {
	git -C "$MASTER" grep -l '"type":"receipt"' refs/heads/main -- records |
		sed 's,^refs/heads/main:,,' >"$T/receipts"
	[ -s "$T/receipts" ] || return 1
	# shellcheck disable=SC2046
	git -C "$MASTER" grep -q "$1" refs/heads/main -- $(cat "$T/receipts")
}

# file_record NODE KEY TYPE BODY-FILE [append options...]: a record appended to
# NODE's ledger; its id is printed and kept in $T/written.
file_record() {
	fi_node=$1
	fi_key=$2
	fi_type=$3
	fi_body=$4
	shift 4
	fi_id=$("$CYMAT" -C "$(ledger_of "$fi_node")" append --key "$K/$fi_key" --type "$fi_type" \
		"$@" "$fi_body") || fail "append of a $fi_type by $fi_key to $fi_node failed"
	echo "$fi_id" >>"$T/written"
	echo "$fi_id"
}

# write_batch NODE KEY N TAG: N notes in one commit; their ids kept in $T/written.
write_batch() {
	: >"$T/batch.jsonl"
	wb_i=0
	while [ "$wb_i" -lt "$3" ]; do
		wb_i=$((wb_i + 1))
		printf '{"type":"note","body":{"summary":"%s note %d of %d, padded to a realistic size: %s"}}\n' \
			"$4" "$wb_i" "$3" "$(printf '%0300d' "$wb_i")" >>"$T/batch.jsonl"
	done
	"$CYMAT" -C "$(ledger_of "$1")" append --key "$K/$2" --batch "$T/batch.jsonl" >>"$T/written" ||
		fail "batch of $3 notes by $2 to $1 failed"
}

# sync_retry NODE MAX: cycles of NODE until one succeeds; fails after MAX.
# The number of cycles it took is added to $SYNC_ATTEMPTS.
sync_retry() {
	sr_try=0
	while [ "$sr_try" -lt "$2" ]; do
		sr_try=$((sr_try + 1))
		SYNC_ATTEMPTS=$((${SYNC_ATTEMPTS:-0} + 1))
		sync_node "$1"
		[ "$RC" -eq 0 ] && return 0
		[ "$RC" -eq 6 ] || { show_output; fail "cymat sync of $1 exited $RC, expected 0 or 6"; }
	done
	tail -n 20 "$T/sync.$1.log" >&2
	fail "no successful sync of $1 in $2 cycles"
}

# sync_status NODE: `cymat sync status` of NODE's ledger in $T/out.
sync_status() {
	run "$CYMAT" -C "$(ledger_of "$1")" sync status
	[ "$RC" -eq 0 ] || { show_output; fail "cymat sync status of $1 exited $RC"; }
}

# have_sync: skip unless `cymat sync` exists.
have_sync() {
	"$CYMAT" help sync >/dev/null 2>&1 || skip "cymat sync not built yet"
}

# hostport URL: the HOST:PORT of a git:// or http:// URL.
hostport() {
	hp=${1#*://}
	echo "${hp%%/*}"
}
