#!/bin/sh
# The cymat-ledger sync demo: NISC's master ledger served by a real git
# daemon on 127.0.0.1 (with `cymat hook pre-receive` installed), three
# agencies (moj, mof, mic) each with its own ledger and node key.  The master
# goes offline while MOJ files a support request and a damage report; MOJ's
# syncs fail and say so; the master comes back; everyone converges; NISC's
# signed receipt of MOJ's records reaches MOJ; an auditor's plain `git clone`
# of the master verifies.
#
# Every step prints the command it runs and its real output, and checks what
# it shows: the demo exits non-zero when anything behaves otherwise.
#
# Environment: CYMAT, TOP_SRCDIR, DEMO_KEEP=DIR, as for tests/demo.sh.

set -u

: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
if [ -z "${CYMAT:-}" ]; then
	if [ -n "${TOP_BUILDDIR:-}" ] && [ -x "$TOP_BUILDDIR/cli/cymat" ]; then
		CYMAT=$TOP_BUILDDIR/cli/cymat
	elif [ -x "$TOP_SRCDIR/build/cli/cymat" ]; then
		CYMAT=$TOP_SRCDIR/build/cli/cymat
	else
		CYMAT=$(command -v cymat) || { echo "demo: cymat not found; build it first" >&2; exit 2; }
	fi
fi
[ -x "$CYMAT" ] || { echo "demo: \"$CYMAT\" is not executable" >&2; exit 2; }
command -v git >/dev/null 2>&1 || { echo "demo: git is not installed" >&2; exit 2; }
GIT_DAEMON=$(git --exec-path)/git-daemon
[ -x "$GIT_DAEMON" ] || { echo "demo: git daemon is not installed" >&2; exit 2; }

if [ -z "${CYMAT_SCHEMAS_DIR:-}" ] && [ -d "$TOP_SRCDIR/schemas" ]; then
	CYMAT_SCHEMAS_DIR=$TOP_SRCDIR/schemas
	export CYMAT_SCHEMAS_DIR
fi

GIT_CONFIG_NOSYSTEM=1
GIT_CONFIG_GLOBAL=/dev/null
GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.invalid
GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.invalid
export GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
unset CYMAT_KEY GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE || true

scratch=$(mktemp -d "${TMPDIR:-/tmp}/cymat-demo-sync.XXXXXX") || exit 2
DAEMON_PID=
stop_master() {
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
	fi
}
trap 'stop_master; rm -rf "$scratch"' EXIT
trap 'exit 2' HUP INT TERM

if [ -n "${DEMO_KEEP:-}" ]; then
	mkdir -p "$DEMO_KEEP" || exit 2
	if [ -n "$(ls -A "$DEMO_KEEP")" ]; then
		echo "demo: DEMO_KEEP directory \"$DEMO_KEEP\" is not empty" >&2
		exit 2
	fi
	W=$(cd "$DEMO_KEEP" && pwd)
else
	W=$scratch/work
	mkdir "$W" || exit 2
fi
cd "$W" || exit 2

cymat() {
	"$CYMAT" "$@"
}

failed() {
	echo "demo: FAILED: $*" >&2
	exit 1
}

step() {
	echo
	echo "== $* =="
}

sh_run() {
	want=$1
	printf '$ %s\n' "$2"
	eval "$2" >"$scratch/out" 2>"$scratch/err"
	rc=$?
	cat "$scratch/out" "$scratch/err"
	[ "$rc" -eq 0 ] || echo "[exit status $rc]"
	[ "$rc" -eq "$want" ] || failed "exit status $rc, expected $want, from: $2"
}

# quiet_run COMMAND-TEXT: as sh_run 0, printing the command but not its output.
quiet_run() {
	printf '$ %s\n' "$1"
	eval "$1" >"$scratch/out" 2>"$scratch/err" || { cat "$scratch/out" "$scratch/err"; failed "from: $1"; }
}

out_has() {
	grep -qF -- "$1" "$scratch/out" || failed "the output lacks \"$1\""
}

first_line() {
	head -n 1 "$scratch/out"
}

# start_master: git daemon serving srv/ on $PORT (a free one is picked the first time).
start_master() {
	tries=0
	while :; do
		tries=$((tries + 1))
		[ "$tries" -le 20 ] || failed "git daemon does not start"
		if [ -z "${PORT:-}" ] || [ "${PORT_FIXED:-0}" -eq 0 ]; then
			PORT=$(( $(od -An -N2 -tu2 /dev/urandom) % 20000 + 30000 ))
		fi
		"$GIT_DAEMON" --reuseaddr --listen=127.0.0.1 --port="$PORT" --base-path="$W/srv" \
			--export-all --enable=receive-pack >>"$W/git-daemon.log" 2>&1 &
		DAEMON_PID=$!
		n=0
		while [ "$n" -lt 100 ]; do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			git ls-remote "git://127.0.0.1:$PORT/master.git" >/dev/null 2>&1 && { PORT_FIXED=1; return 0; }
			sleep 0.1
			n=$((n + 1))
		done
		stop_master
		sleep 0.2
	done
}

# records NODE-LEDGER: its record ids, sorted.
records() {
	git -C "$1" ls-tree -r --name-only main -- records | sed 's,.*/,,; s,\.json$,,' | sort
}

echo "cymat-ledger sync demo: $("$CYMAT" --version 2>/dev/null | head -n 1)"
echo "working in: $W"

step "1. Keys: NISC's staff, each agency's CISO and CSIRT, and one node key per ledger"
sh_run 0 "mkdir keys srv"
for n in director deputy manager nisc-node moj-ciso moj-csirt moj-node mof-ciso mof-csirt mof-node \
	mic-ciso mic-csirt mic-node; do
	quiet_run "cymat key generate --dir keys $n"
done

step "2. NISC creates the master ledger, binds its staff, the agencies' CISOs and CSIRTs and every node key"
sh_run 0 "cymat init --ledger-name nisc --director-key keys/director --director director --deputy-key keys/deputy --deputy deputy srv/master.git"
ROOT=$(first_line)
echo "# ROOT=$ROOT"
quiet_run "cymat -C srv/master.git principal add --key keys/director.key --pub keys/manager --role manager --full-time --nisc-resident nisc/manager"
quiet_run "cymat -C srv/master.git principal add --key keys/manager.key --pub keys/nisc-node --role node --full-time --nisc-resident nisc/syncd"
for a in moj mof mic; do
	quiet_run "cymat -C srv/master.git principal add --key keys/manager.key --pub keys/$a-ciso --role ciso --full-time $a/ciso"
	quiet_run "cymat -C srv/master.git principal add --key keys/$a-ciso.key --pub keys/$a-csirt --role csirt $a/csirt"
	quiet_run "cymat -C srv/master.git principal add --key keys/$a-ciso.key --pub keys/$a-node --role node $a/syncd"
done
cat >agencies.jsonl <<'EOF'
{"type":"agency","body":{"id":"moj","kind":"government","name":{"ja":"法務省","en":"Ministry of Justice"}}}
{"type":"agency","body":{"id":"mof","kind":"government","name":{"ja":"財務省","en":"Ministry of Finance"}}}
{"type":"agency","body":{"id":"mic","kind":"government","name":{"ja":"総務省","en":"Ministry of Internal Affairs and Communications"}}}
EOF
quiet_run "cymat -C srv/master.git append --key keys/manager.key --batch agencies.jsonl"
sh_run 0 "cymat -C srv/master.git hook install --cymat '$CYMAT'"
sh_run 0 "cymat -C srv/master.git verify"
out_has "0 invalid"

step "3. The master goes online: git daemon on 127.0.0.1, pushes allowed (the hook judges them)"
start_master
URL=git://127.0.0.1:$PORT/master.git
echo "# master at $URL"
sh_run 0 "git ls-remote $URL"

step "4. Each agency clones the master and configures its sync daemon (the master takes in inboxes)"
for a in moj mof mic; do
	quiet_run "git clone -q --bare $URL $a.git && git -C $a.git config cymat.root $ROOT"
	cat >"$a.conf" <<EOF
[node]
key = $W/keys/$a-node.key
principal = $a/syncd
agency = $a
ledger = $W/$a.git
mode = agency
[sync]
transfer_deadline = 60
[remote "nisc"]
url = $URL
role = master
EOF
done
cat >nisc.conf <<EOF
[node]
key = $W/keys/nisc-node.key
principal = nisc/syncd
agency = nisc
ledger = $W/srv/master.git
mode = master
EOF
sh_run 0 "cat moj.conf"
for a in moj mof mic; do
	sh_run 0 "cymat sync --config $a.conf"
done

step "5. The master goes offline"
stop_master
sh_run 128 "git ls-remote $URL"

step "6. MOJ works offline: its CISO files a support request, its CSIRT a damage report"
cat >request.json <<'EOF'
{"basis": "10.1", "route": "normal", "addressed_to": "director", "affected": "moj",
 "summary": "Ransomware on the case management file servers", "systems": ["case management"],
 "occurred_at": "2026-11-26T01:00:00Z"}
EOF
sh_run 0 "cymat -C moj.git append --key keys/moj-ciso.key --type request request.json"
REQ=$(first_line)
cat >report.json <<'EOF'
{"number": 1, "status": "investigating", "summary": "Three servers isolated, backups intact",
 "gsoc_substitute": false, "cabinet_emergency": false}
EOF
sh_run 0 "cymat -C moj.git append --key keys/moj-csirt.key --type report --class c2 --incident $REQ --ref $REQ report.json"
REP=$(first_line)
echo "# MOJ's sync fails (exit status 6) and says why:"
sh_run 6 "cymat sync --config moj.conf"
sh_run 0 "cymat -C moj.git sync status"
out_has "failures:      1 in a row"

step "7. The master is back; MOJ pushes to its inbox; NISC takes it in and signs a receipt"
start_master
sh_run 0 "cymat sync --config moj.conf"
sh_run 0 "git -C srv/master.git for-each-ref refs/inbox"
sh_run 0 "cymat sync --config nisc.conf"
sh_run 0 "cymat -C srv/master.git log --type receipt"
RECEIPT=$(tail -n 1 "$scratch/out" | awk '{print $4}')
echo "# the receipt names MOJ's request and report:"
sh_run 0 "cymat -C srv/master.git show $RECEIPT"
out_has "$REQ"
out_has "$REP"

step "8. Every agency syncs: the same records everywhere, MOJ holds NISC's receipt"
for a in moj mof mic; do
	sh_run 0 "cymat sync --config $a.conf"
done
records srv/master.git >records.master
for a in moj mof mic; do
	records "$a.git" >"records.$a"
	cmp -s records.master "records.$a" || failed "$a's records differ from the master's"
done
echo "# $(wc -l <records.master) records on the master, and the same on moj, mof and mic"
sh_run 0 "cymat -C mof.git show $REP"
sh_run 0 "cymat -C moj.git log --type receipt"
sh_run 0 "cymat -C moj.git sync status"
out_has "failures:      0"

step "9. An auditor clones the master with plain git and verifies it"
sh_run 0 "git clone -q $URL audit"
sh_run 0 "cymat -C audit verify --root $ROOT"
out_has "0 invalid"
sh_run 0 "git -C audit fsck --strict"

step "Done"
stop_master
if [ -n "${DEMO_KEEP:-}" ]; then
	echo "Kept in $W (DEMO_KEEP): srv/master.git, moj.git, mof.git, mic.git, audit/, keys/, *.conf"
fi
echo "demo: every step behaved as expected"
exit 0
