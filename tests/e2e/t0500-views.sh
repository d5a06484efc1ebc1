#!/bin/sh
# The views (status, incident show, roster, findings) show what the rules
# derive from a small incident: request, dispatch, report, opinion, closure.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"

make_ledger "$T/l.git"
key field-leader
"$CYMAT" -C "$L" principal add --key "$K/director" --pub "$K/field-leader" \
	--role field_leader --full-time --nisc-resident nisc/field-leader >/dev/null ||
	fail "binding nisc/field-leader failed"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf '{"principal":"nisc/field-leader","role":"field_leader","from":"%s"}' "$now" >appt.json
ok "$CYMAT" -C "$L" append --key "$K/director" --type appointment appt.json
printf '%s\n' \
	'{"type":"agency","body":{"id":"moj","kind":"government","name":{"ja":"法務省","en":"Ministry of Justice"}}}' \
	'{"type":"agency","body":{"id":"mof","kind":"government","name":{"ja":"財務省","en":"Ministry of Finance"}}}' \
	>agencies.jsonl
ok "$CYMAT" -C "$L" append --key "$K/manager" --batch agencies.jsonl

# Nothing open yet.
ok "$CYMAT" -C "$L" status
assert_out "no open incidents"

cat >request.json <<'EOF2'
{"basis":"10.1","route":"normal","addressed_to":"director","affected":"moj",
 "summary":"Outbound traffic to an unknown host","occurred_at":"2026-04-01T06:30:00Z"}
EOF2
ok "$CYMAT" -C "$L" append --key "$K/moj-ciso" --type request request.json
REQ=$(last_id)
short=$(echo "$REQ" | cut -c1-12)

ok "$CYMAT" -C "$L" status
assert_out "$short"
assert_out "requested"
assert_out "normal"
ok "$CYMAT" -C "$L" status --json
python3 -c '
import json, sys
inc = json.load(open(sys.argv[1]))
assert len(inc) == 1, inc
i = inc[0]
assert i["id"] == sys.argv[2], i
assert i["state"] == "requested", i
assert i["route"] == "normal" and i["basis"] == "10.1", i
assert i["affected"] == "moj" and i["requested_by"] == "moj", i
' "$T/out" "$REQ" || fail "status --json is not the requested incident"

printf '{"basis":"11.1","request":"%s","affected":"moj","team":{"field_leaders":["nisc/field-leader"],"members":[]}}' \
	"$REQ" >dispatch.json
ok "$CYMAT" -C "$L" append --key "$K/director" --type dispatch --incident "$REQ" --ref "$REQ" dispatch.json
DISP=$(last_id)
printf '{"number":1,"status":"contained","summary":"Two servers isolated","gsoc_substitute":false,"cabinet_emergency":false}' >report.json
ok "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type report --class c2 --incident "$REQ" --ref "$DISP" report.json
REP=$(last_id)
printf '{"view":"end_support","summary":"Contained; we can go on alone"}' >opinion.json
ok "$CYMAT" -C "$L" append --key "$K/moj-ciso" --type opinion --incident "$REQ" --ref "$REP" opinion.json
OPN=$(last_id)

ok "$CYMAT" -C "$L" status
assert_out "$short"
assert_out "reporting"
assert_out "1/1/0"

printf '{"opinions":["%s"],"decision":"Support ends: contained"}' "$OPN" >closure.json
ok "$CYMAT" -C "$L" append --key "$K/director" --type closure --incident "$REQ" --ref "$OPN" closure.json
CLO=$(last_id)

# Closed: gone from status, listed with --all.
ok "$CYMAT" -C "$L" status
assert_out "no open incidents"
ok "$CYMAT" -C "$L" status --all
assert_out "$short"
assert_out "closed"

ok "$CYMAT" -C "$L" incident show "$(echo "$REQ" | cut -c1-8)"
assert_out "incident           $REQ"
assert_out "state              closed"
assert_out "closure            $CLO"
for id in "$REQ" "$DISP" "$REP" "$OPN" "$CLO"; do
	assert_out "$(echo "$id" | cut -c1-12)"
done
assert_out "findings: 0"
ok "$CYMAT" -C "$L" incident show --json "$REQ"
python3 -c '
import json, sys
i = json.load(open(sys.argv[1]))
ids = sys.argv[2:]
assert i["id"] == ids[0] and i["state"] == "closed", i
assert i["closure"] == ids[4], i
assert i["dispatches"] == 1 and i["reports"] == 1, i
tl = i["timeline"]
assert [e["id"] for e in tl] == ids, tl
assert [e["type"] for e in tl] == ["request", "dispatch", "report", "opinion", "closure"], tl
assert all(e["status"] == "valid" for e in tl), tl
assert i["findings"] == [], i["findings"]
' "$T/out" "$REQ" "$DISP" "$REP" "$OPN" "$CLO" || fail "incident show --json disagrees"
expect 1 "$CYMAT" -C "$L" incident show 0000000000
assert_err "no incident"
expect 2 "$CYMAT" -C "$L" incident list

ok "$CYMAT" -C "$L" roster
assert_out "moj (government) Ministry of Justice"
assert_out "nisc/field-leader"
ok "$CYMAT" -C "$L" roster --json
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
ids = sorted(a["id"] for a in r["agencies"])
assert ids == ["mof", "moj"], ids
moj = [a for a in r["agencies"] if a["id"] == "moj"][0]
assert moj["quota"]["candidates"] == 0 and moj["quota"]["trainees"] == 0, moj
assert "nisc/field-leader" in r["cymat"]["field_leaders"], r["cymat"]
' "$T/out" || fail "roster --json disagrees"

# A record that breaks a rule, appended with --no-judge, shows up in findings:
# a normal-route request signed by a CSIRT (R10.4).
ok "$CYMAT" -C "$L" findings --errors
assert_out "0 findings"
ok "$CYMAT" -C "$L" findings
assert_out "warning R8.1 "
sed 's/"affected":"moj"/"affected":"mof"/' request.json >bad.json
ok "$CYMAT" -C "$L" append --no-judge --key "$K/mof-csirt" --type request bad.json
BAD=$(last_id)
ok "$CYMAT" -C "$L" findings --errors
assert_out "error R10.4 "
assert_out " $BAD "
assert_out "1 finding"
ok "$CYMAT" -C "$L" findings --json --rule R10.4
python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))
assert len(f) == 1, f
assert f[0]["rule"] == "R10.4" and f[0]["severity"] == "error" and f[0]["id"] == sys.argv[2], f
' "$T/out" "$BAD" || fail "findings --json disagrees"
ok "$CYMAT" -C "$L" findings --rule R99.9 --json
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/out")" 0 "R99.9 findings"

for c in status incident roster findings; do
	ok "$CYMAT" "$c" --help
	assert_out "usage: cymat $c"
	assert_out "Examples:"
done
exit 0
