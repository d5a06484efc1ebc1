#!/bin/sh
# The cymat-ledger demo (`make demo`): NISC creates a ledger, binds its staff
# and two ministries' CISOs and CSIRTs, and records an incident from request
# to damage report; an auditor verifies a plain `git clone`; a tampered copy
# is caught and the verifier names the bad record.
#
# Every step prints the command it runs and the command's real output.  The
# demo checks what it shows and exits non-zero when anything behaves
# otherwise, so it doubles as a smoke test.
#
# Environment: CYMAT (the cymat to run; default: the built one, else PATH),
# TOP_SRCDIR (for the schemas of an uninstalled build), DEMO_KEEP=DIR (leave
# the ledgers and keys in DIR, which must be absent or empty).

DEMO_NAME=demo
. "${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}/tests/demo-lib.sh"

echo "cymat-ledger demo: $("$CYMAT" --version 2>/dev/null | head -n 1)"
echo "cymat: $CYMAT"
echo "working in: $W"

step "1. Every person generates a signing key (Ed25519) and a sealing key (X25519)"
sh_run 0 "mkdir keys"
sh_run 0 "cymat key generate --dir keys director"
for n in deputy manager field-leader mhlw-ciso mhlw-csirt mof-ciso mof-csirt; do
	sh_run 0 "cymat key generate --dir keys $n"
	out_has "kid "
done
sh_run 0 "ls -l keys/director.*"

step "2. The director creates the NISC ledger: a bare git repository with a self-signed root record"
sh_run 0 "cymat init --ledger-name nisc --director-key keys/director --director director --deputy-key keys/deputy --deputy deputy nisc.git"
ROOT=$(first_line)
is_id "$ROOT"
echo "# ROOT=$ROOT  (the root id: handed to every node and auditor out of band)"
sh_run 0 "git -C nisc.git config cymat.root"
out_has "$ROOT"

step "3. The director binds the manager and a field leader; the manager binds the CISOs of MHLW and MOF"
sh_run 0 "cymat -C nisc.git principal add --key keys/director.key --pub keys/manager --role manager --full-time --nisc-resident --title Counsellor nisc/manager"
sh_run 0 "cymat -C nisc.git principal add --key keys/director.key --pub keys/field-leader --role field_leader --full-time --nisc-resident nisc/field-leader"
sh_run 0 "cymat -C nisc.git principal add --key keys/manager.key --pub keys/mhlw-ciso --role ciso --full-time --title CISO mhlw/ciso"
sh_run 0 "cymat -C nisc.git principal add --key keys/manager.key --pub keys/mof-ciso --role ciso --full-time --title CISO mof/ciso"

step "4. Each CISO binds the CSIRT of their own ministry"
sh_run 0 "cymat -C nisc.git principal add --key keys/mhlw-ciso.key --pub keys/mhlw-csirt --role csirt mhlw/csirt"
sh_run 0 "cymat -C nisc.git principal add --key keys/mof-ciso.key --pub keys/mof-csirt --role csirt mof/csirt"

step "5. Rules are checked before anything is written: the MOF CISO may not bind MHLW staff"
sh_run 0 "cymat key generate --dir keys intruder"
sh_run 1 "cymat -C nisc.git principal add --key keys/mof-ciso.key --pub keys/intruder --role csirt mhlw/intruder"

step "6. The director appoints the field leader (R6.2); the manager registers the two ministries (R2.1, one commit)"
cat >appointment.json <<EOF
{"principal": "nisc/field-leader", "role": "field_leader", "from": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
EOF
sh_run 0 "cat appointment.json"
sh_run 0 "cymat -C nisc.git append --key keys/director.key --type appointment appointment.json"
cat >agencies.jsonl <<'EOF'
{"type":"agency","body":{"id":"mhlw","kind":"government","name":{"ja":"厚生労働省","en":"Ministry of Health, Labour and Welfare"}}}
{"type":"agency","body":{"id":"mof","kind":"government","name":{"ja":"財務省","en":"Ministry of Finance"}}}
EOF
sh_run 0 "cat agencies.jsonl"
sh_run 0 "cymat -C nisc.git append --key keys/manager.key --batch agencies.jsonl"
[ "$(wc -l <"$scratch/out")" -eq 2 ] || failed "the batch did not print two ids"

step "7. The MHLW CISO requests support from the director (R10.1, normal route)"
cat >request.json <<'EOF'
{
  "basis": "10.1",
  "route": "normal",
  "addressed_to": "director",
  "affected": "mhlw",
  "summary": "Suspected intrusion into the benefits payment system: outbound traffic to an unknown host",
  "systems": ["benefits payment system"],
  "occurred_at": "2026-04-01T06:30:00Z"
}
EOF
sh_run 0 "cat request.json"
sh_run 0 "cymat -C nisc.git append --key keys/mhlw-ciso.key --type request request.json"
REQ=$(first_line)
is_id "$REQ"
echo "# REQ=$REQ  (the request opens the incident)"

step "8. The director dispatches CYMAT to MHLW (R11.1)"
cat >dispatch.json <<EOF
{
  "basis": "11.1",
  "request": "$REQ",
  "affected": "mhlw",
  "team": {"field_leaders": ["nisc/field-leader"], "members": []},
  "summary": "Establish the facts and advise on containment"
}
EOF
sh_run 0 "cat dispatch.json"
sh_run 0 'cymat -C nisc.git append --key keys/director.key --type dispatch --incident "$REQ" --ref "$REQ" dispatch.json'
is_id "$(first_line)"

step "9. The MHLW CSIRT files its first damage report (R13.1, class c2)"
cat >report.json <<'EOF'
{"number": 1, "status": "investigating", "summary": "Two servers isolated, logs preserved", "gsoc_substitute": false, "cabinet_emergency": false}
EOF
sh_run 0 "cat report.json"
sh_run 0 'cymat -C nisc.git append --key keys/mhlw-csirt.key --type report --class c2 --incident "$REQ" --ref "$REQ" report.json'
REPORT=$(first_line)
is_id "$REPORT"
echo "# REPORT=$REPORT"

step "10. The ledger so far, and its git history (one signed commit per append)"
sh_run 0 "cymat -C nisc.git log"
out_has "$(echo "$REPORT" | cut -c1-12)"
sh_run 0 "git -C nisc.git log --oneline"

step "11. NISC verifies its ledger"
sh_run 0 "cymat -C nisc.git verify --no-cache"
out_has "verified 13 records"
out_has "13 valid, 0 invalid, 0 pending"

step "12. An auditor clones the ledger with plain git and verifies the clone against the root id"
sh_run 0 "git clone -q nisc.git audit"
sh_run 0 'cymat -C audit verify --root "$ROOT"'
out_has "13 valid, 0 invalid, 0 pending"
echo "# Stock git checks every commit's signature against the published public keys:"
sh_run 0 "for n in director deputy manager field-leader mhlw-ciso mhlw-csirt mof-ciso mof-csirt; do printf '%s namespaces=\"git\" %s\\n' \$n \"\$(cut -d' ' -f1,2 keys/\$n.pub)\"; done >allowed_signers"
sh_run 0 "git -C audit -c gpg.ssh.allowedSignersFile=\"\$PWD/allowed_signers\" log --format='%h %G? %GS %s'"
[ "$(grep -cv '^[0-9a-f]* G ' "$scratch/out")" -eq 0 ] || failed "git does not call every signature good"
sh_run 0 "git -C audit fsck --strict"

step "13. Someone rewrites the damage report in a copy, with stock git plumbing"
REPORT_PATH=records/$(echo "$REPORT" | cut -c1-2)/$(echo "$REPORT" | cut -c3-4)/$REPORT.json
echo "# REPORT_PATH=$REPORT_PATH"
sh_run 0 "git clone -q nisc.git tampered"
sh_run 0 "sed -i 's/\"status\":\"investigating\"/\"status\":\"recovered\"/' tampered/\$REPORT_PATH"
sh_run 0 'git -C tampered diff --stat'
out_has "1 file changed"
sh_run 0 'git -C tampered update-index "$REPORT_PATH"'
sh_run 0 'tree=$(git -C tampered write-tree)'
sh_run 0 'commit=$(git -C tampered -c user.name=mallory -c user.email=mallory@example.invalid commit-tree -p HEAD -m "report: systems recovered" "$tree")'
sh_run 0 'git -C tampered update-ref refs/heads/main "$commit"'
echo "# git itself sees nothing wrong:"
sh_run 0 "git -C tampered fsck --strict"

step "14. The verifier names the bad record (exit status 1)"
sh_run 1 'cymat -C tampered verify --root "$ROOT"'
grep -q "^error .* $REPORT $REPORT_PATH: " "$scratch/out" || failed "the verifier does not name record $REPORT"
out_has "1 invalid"
echo "# ... and the NISC ledger itself is untouched:"
sh_run 0 "cymat -C nisc.git verify"
out_has "0 invalid"

step "Done"
if [ -n "${DEMO_KEEP:-}" ]; then
	echo "Kept in $W (DEMO_KEEP):"
	echo "  nisc.git/     the NISC ledger (bare git repository; cymat.root pinned in its config)"
	echo "  audit/        the auditor's plain git clone"
	echo "  tampered/     the clone with the rewritten damage report"
	echo "  keys/         every principal's keys (*.key private, *.pub public)"
	echo "  allowed_signers, *.json, *.jsonl   the auditor's signer list and the record bodies"
	echo "Root id: $ROOT"
	echo "Try: ${CYMAT_SCHEMAS_DIR:+CYMAT_SCHEMAS_DIR=$CYMAT_SCHEMAS_DIR }$CYMAT -C $W/audit verify --root $ROOT"
else
	echo "(the ledgers and keys were in a temporary directory, now removed; set DEMO_KEEP=DIR to keep them)"
fi
echo "demo: every step behaved as expected"
exit 0
