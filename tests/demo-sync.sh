#!/bin/sh
# The cymat-ledger sync demo: NISC's master ledger served by a real git
# daemon on 127.0.0.1 (with `cymat hook pre-receive` installed), three
# agencies (moj, mof, mic) each with its own ledger and node key.  The master
# goes offline while MOJ works: it files damage reports on an incident NISC
# has dispatched CYMAT to, and its syncs fail and say so; the master comes
# back; everyone converges; NISC's signed receipt of MOJ's records reaches
# MOJ; an auditor's plain `git clone` of the master verifies, with cymat and
# with stock git's signature checks.
#
# Every step prints the command it runs and its real output, and checks what
# it shows: the demo exits non-zero when anything behaves otherwise.
#
# Environment: CYMAT, TOP_SRCDIR, DEMO_KEEP=DIR, as for tests/demo.sh.

DEMO_NAME=demo-sync
. "${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}/tests/demo-lib.sh"

GIT_DAEMON=$(git --exec-path)/git-daemon
[ -x "$GIT_DAEMON" ] || { echo "demo: git daemon is not installed" >&2; exit 2; }
# Commits made by the demo's own git commands have an author.
GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.invalid
GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.invalid
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

DAEMON_PID=
stop_master() {
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
	fi
}
on_exit stop_master

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
for n in director deputy manager field-leader nisc-node moj-ciso moj-csirt moj-node \
	mof-ciso mof-csirt mof-node mic-ciso mic-csirt mic-node; do
	quiet_run "cymat key generate --dir keys $n"
done

step "2. NISC creates the master ledger and binds its staff, the agencies' CISOs and CSIRTs and every node key"
sh_run 0 "cymat init --ledger-name nisc --director-key keys/director --director director --deputy-key keys/deputy --deputy deputy srv/master.git"
ROOT=$(first_line)
is_id "$ROOT"
echo "# ROOT=$ROOT"
M=srv/master.git
quiet_run "cymat -C $M principal add --key keys/director.key --pub keys/manager --role manager --full-time --nisc-resident nisc/manager"
quiet_run "cymat -C $M principal add --key keys/director.key --pub keys/field-leader --role field_leader --full-time --nisc-resident nisc/field-leader"
quiet_run "cymat -C $M principal add --key keys/manager.key --pub keys/nisc-node --role node --full-time --nisc-resident nisc/syncd"
for a in moj mof mic; do
	quiet_run "cymat -C $M principal add --key keys/manager.key --pub keys/$a-ciso --role ciso --full-time $a/ciso"
	quiet_run "cymat -C $M principal add --key keys/$a-ciso.key --pub keys/$a-csirt --role csirt $a/csirt"
	quiet_run "cymat -C $M principal add --key keys/$a-ciso.key --pub keys/$a-node --role node $a/syncd"
done
printf '{"principal": "nisc/field-leader", "role": "field_leader", "from": "%s"}\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" >appointment.json
quiet_run "cymat -C $M append --key keys/director.key --type appointment appointment.json"
{
	echo '{"type":"agency","body":{"id":"moj","kind":"government","name":{"ja":"法務省","en":"Ministry of Justice"}}}'
	echo '{"type":"agency","body":{"id":"mof","kind":"government","name":{"ja":"財務省","en":"Ministry of Finance"}}}'
	echo '{"type":"agency","body":{"id":"mic","kind":"government","name":{"ja":"総務省","en":"Ministry of Internal Affairs and Communications"}}}'
} >agencies.jsonl
quiet_run "cymat -C $M append --key keys/manager.key --batch agencies.jsonl"
echo "# the pre-receive hook: the master takes only verified additions to an inbox"
sh_run 0 "cymat -C $M hook install --cymat '$CYMAT'"
sh_run 0 "cymat -C $M verify"
out_has "0 invalid"

step "3. The master goes online: git daemon on 127.0.0.1, pushes allowed (the hook judges them)"
start_master
URL=git://127.0.0.1:$PORT/master.git
echo "# master at $URL"
sh_run 0 "git ls-remote $URL"

step "4. Each agency clones the master, pins its root and writes its sync config (cymat-syncd's)"
for a in moj mof mic; do
	quiet_run "git clone -q --bare $URL $a.git && git -C $a.git config cymat.root $ROOT"
	printf '[node]\nkey = %s\nprincipal = %s/syncd\nagency = %s\nledger = %s\nmode = agency\n[sync]\ntransfer_deadline = 60\n[remote "nisc"]\nurl = %s\nrole = master\n' \
		"$W/keys/$a-node.key" "$a" "$a" "$W/$a.git" "$URL" >"$a.conf"
done
printf '[node]\nkey = %s\nprincipal = nisc/syncd\nagency = nisc\nledger = %s\nmode = master\n' \
	"$W/keys/nisc-node.key" "$W/$M" >nisc.conf
sh_run 0 "cat moj.conf"
echo "# one cycle now (cymat-syncd runs the same cycle by itself, every poll_interval):"
for a in moj mof mic; do
	sh_run 0 "cymat sync --config $a.conf"
done

step "5. MOJ's CISO requests support; NISC takes it in and the director dispatches CYMAT"
sh_run 0 "cymat -C moj.git request --key keys/moj-ciso.key --affected moj --summary 'Ransomware on the case management file servers' --system 'case management'"
REQ=$(first_line)
is_id "$REQ"
echo "# REQ=$REQ"
sh_run 0 "cymat sync --config moj.conf"
sh_run 0 "cymat sync --config nisc.conf"
sh_run 0 "cymat -C $M dispatch --key keys/director.key --request $REQ --affected moj --field-leader nisc/field-leader --summary 'Contain and preserve evidence'"
DISPATCH=$(first_line)
is_id "$DISPATCH"
sh_run 0 "cymat sync --config moj.conf"
sh_run 0 "cymat -C moj.git incident show $REQ"
out_has "dispatch"

step "6. The master goes offline"
stop_master
sh_run 128 "git ls-remote $URL"

step "7. MOJ works on offline: its CSIRT files two damage reports; MOF writes a note"
sh_run 0 "cymat -C moj.git report --key keys/moj-csirt.key --class c2 --incident $REQ --number 1 --status investigating --summary 'Three servers isolated, backups intact'"
REP1=$(first_line)
is_id "$REP1"
sh_run 0 "cymat -C moj.git report --key keys/moj-csirt.key --class c2 --incident $REQ --number 2 --status contained --summary 'Encryption stopped; restoring from backups'"
REP2=$(first_line)
is_id "$REP2"
printf '{"summary":"MOF checked its own file servers: clean"}\n' >note.json
sh_run 0 "cymat -C mof.git append --key keys/mof-csirt.key --type note note.json"
NOTE=$(first_line)
is_id "$NOTE"
echo "# MOJ's sync fails (exit status 6) and says why:"
sh_run 6 "cymat sync --config moj.conf"
sh_run 0 "cymat -C moj.git sync status"
out_has "failures:      1 in a row"

step "8. The master is back; the agencies push to their inboxes; NISC takes them in and signs receipts"
start_master
sh_run 0 "cymat sync --config moj.conf"
sh_run 0 "cymat sync --config mof.conf"
sh_run 0 "git -C $M for-each-ref refs/inbox"
sh_run 0 "cymat sync --config nisc.conf"
sh_run 0 "cymat -C $M log --type receipt"
RECEIPT=
for r in $(cymat -C "$M" log --type receipt --json | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p'); do
	cymat -C "$M" show "$r" | grep -q "$REP1" && RECEIPT=$r
done
[ -n "$RECEIPT" ] || failed "no receipt names MOJ's report $REP1"
echo "# the receipt that names MOJ's damage reports:"
sh_run 0 "cymat -C $M show $RECEIPT"
out_has "$REP1"
out_has "$REP2"

step "9. Every agency syncs: the same records everywhere; MOJ holds NISC's receipt"
for a in moj mof mic; do
	sh_run 0 "cymat sync --config $a.conf"
done
records $M >records.master
for a in moj mof mic; do
	records "$a.git" >"records.$a"
	cmp -s records.master "records.$a" || failed "$a's records differ from the master's"
done
for id in $REQ $DISPATCH $REP1 $REP2 $NOTE $RECEIPT; do
	grep -qx "$id" records.master || failed "record $id is not on the master"
done
echo "# $(wc -l <records.master) records on the master, the same on moj, mof and mic; nothing written was lost"
sh_run 0 "cymat -C mic.git incident show $REQ"
sh_run 0 "cymat -C moj.git show $RECEIPT"
sh_run 0 "cymat -C moj.git sync status"
out_has "failures:      0"

step "10. An auditor clones the master with plain git and verifies it, with cymat and with stock git"
sh_run 0 "git clone -q $URL audit"
sh_run 0 "cymat -C audit verify --root $ROOT"
out_has "0 invalid"
echo "# stock git checks every commit's signature (people's and nodes') against the public keys:"
sh_run 0 "ls keys/*.pub | grep -v x25519 | while read p; do printf '%s namespaces=\"git\" %s\\n' \$(basename \$p .pub) \"\$(cut -d' ' -f1,2 \$p)\"; done >allowed_signers"
sh_run 0 "git -C audit -c gpg.ssh.allowedSignersFile=\"\$PWD/allowed_signers\" log --format='%h %G? %GS %s' -n 8"
[ "$(git -C audit -c gpg.ssh.allowedSignersFile="$PWD/allowed_signers" log --format='%G?' | grep -cv '^G$')" -eq 0 ] ||
	failed "git does not call every commit's signature good"
echo "# and every one of the master's $(git -C audit rev-list --count main) commits has a good signature (G)"
sh_run 0 "git -C audit fsck --strict"

step "Done"
stop_master
if [ -n "${DEMO_KEEP:-}" ]; then
	echo "Kept in $W (DEMO_KEEP): srv/master.git, moj.git, mof.git, mic.git, audit/, keys/, *.conf"
	echo "Root id: $ROOT"
else
	echo "(the ledgers and keys were in a temporary directory, now removed; set DEMO_KEEP=DIR to keep them)"
fi
echo "demo: every step behaved as expected"
exit 0
