#!/bin/sh
# The act commands build their bodies from options and append through the
# same judged path as `cymat append`: request, dispatch, report, opinion,
# close and consent play an incident from request to closure.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"

make_ledger "$T/l.git"
key field-leader
"$CYMAT" -C "$L" principal add --key "$K/director" --pub "$K/field-leader" \
	--role field_leader --full-time --nisc-resident nisc/field-leader >/dev/null ||
	fail "binding nisc/field-leader failed"
printf '{"principal":"nisc/field-leader","role":"field_leader","from":"%s"}' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" >appt.json
ok "$CYMAT" -C "$L" append --key "$K/director" --type appointment appt.json
printf '%s\n' \
	'{"type":"agency","body":{"id":"moj","kind":"government","name":{"ja":"法務省","en":"Ministry of Justice"}}}' \
	>agencies.jsonl
ok "$CYMAT" -C "$L" append --key "$K/manager" --batch agencies.jsonl

# body_is ID BODY [INCIDENT REFS]: the record has this body, incident and refs.
body_is() {
	"$CYMAT" -C "$L" show --json "$1" >"$T/rec.json" || fail "cymat show $1 failed"
	python3 -c '
import json, sys
rec = json.load(open(sys.argv[1]))
rec = rec.get("record", rec)
want = json.loads(sys.argv[2])
assert rec["body"] == want, (rec["body"], want)
assert rec.get("incident", "") == sys.argv[3], rec
assert rec["refs"] == sorted(sys.argv[4].split()), rec["refs"]
' "$T/rec.json" "$2" "${3:-}" "${4:-}" || fail "record $1: not the expected body"
}

# Usage errors: required options are named.
expect 2 "$CYMAT" -C "$L" request --key "$K/moj-ciso" --affected moj
assert_err "--summary is required"
expect 2 "$CYMAT" -C "$L" report --key "$K/moj-csirt" --number 1 --status ongoing
assert_err "--incident is required"
expect 2 "$CYMAT" -C "$L" request --key "$K/moj-ciso" --incident abc --affected moj --summary x

# The rules refuse a normal-route request from the CSIRT (R10.4); nothing is written.
before=$(git -C "$L" rev-parse refs/heads/main)
expect 1 "$CYMAT" -C "$L" request --key "$K/moj-csirt" --affected moj --summary "Intrusion"
assert_err "error R10.4 "
assert_eq "$(git -C "$L" rev-parse refs/heads/main)" "$before" "main after a refused request"

# --dry-run prints the body and writes nothing.
ok "$CYMAT" -C "$L" request --dry-run --key "$K/moj-ciso" --affected moj --summary "Intrusion" \
	--system payments --system mail --occurred 2026-04-01T06:30:00Z
assert_out '"route": "normal"'
assert_eq "$(git -C "$L" rev-parse refs/heads/main)" "$before" "main after --dry-run"

ok "$CYMAT" -C "$L" request --key "$K/moj-ciso" --affected moj --summary "Intrusion" \
	--system payments --system mail --occurred 2026-04-01T06:30:00Z
REQ=$(last_id)
body_is "$REQ" '{"basis":"10.1","route":"normal","addressed_to":"director","affected":"moj","summary":"Intrusion","systems":["payments","mail"],"occurred_at":"2026-04-01T06:30:00Z"}'
git -C "$L" log -1 --format=%s refs/heads/main | grep -q '^request: ' || fail "commit subject is not request: ..."

ok "$CYMAT" -C "$L" dispatch --key "$K/director" --request "$REQ" --affected moj \
	--field-leader nisc/field-leader --summary "Establish the facts"
DISP=$(last_id)
body_is "$DISP" "{\"basis\":\"11.1\",\"request\":\"$REQ\",\"affected\":\"moj\",\"team\":{\"field_leaders\":[\"nisc/field-leader\"],\"members\":[]},\"summary\":\"Establish the facts\"}" \
	"$REQ" "$REQ"

# Each act names the one before it, so that the rules order them even
# within one second.
ok "$CYMAT" -C "$L" report --key "$K/moj-csirt" --class c2 --incident "$REQ" --ref "$DISP" \
	--number 1 --status contained --summary "Two servers isolated" --json
python3 -c '
import json, sys
o = json.loads(open(sys.argv[1]).readline())
assert o["type"] == "report" and len(o["id"]) == 64, o
' "$T/out" || fail "report --json is not the new record"
REP=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["id"])' "$T/out")
body_is "$REP" '{"number":1,"status":"contained","summary":"Two servers isolated","gsoc_substitute":false,"cabinet_emergency":false}' \
	"$REQ" "$DISP"

ok "$CYMAT" -C "$L" opinion --key "$K/moj-ciso" --incident "$REQ" --ref "$REP" \
	--view end_support --summary "We can go on alone"
OPN=$(last_id)
body_is "$OPN" '{"view":"end_support","summary":"We can go on alone"}' "$REQ" "$REP"

# A closure is the director's: the CISO's is refused by the rules.
expect 1 "$CYMAT" -C "$L" close --key "$K/moj-ciso" --incident "$REQ" --opinion "$OPN" \
	--decision "Support ends"
assert_err "refused"
ok "$CYMAT" -C "$L" close --key "$K/director" --incident "$REQ" --opinion "$OPN" \
	--decision "Support ends"
CLO=$(last_id)
body_is "$CLO" "{\"opinions\":[\"$OPN\"],\"decision\":\"Support ends\"}" "$REQ" "$OPN"

ok "$CYMAT" -C "$L" incident show --json "$REQ"
python3 -c '
import json, sys
i = json.load(open(sys.argv[1]))
assert i["state"] == "closed" and i["closure"] == sys.argv[2], i
assert [e["type"] for e in i["timeline"]] == ["request", "dispatch", "report", "opinion", "closure"], i
assert all(e["status"] == "valid" for e in i["timeline"]), i
' "$T/out" "$CLO" || fail "the incident is not closed by the act commands"

# A consent (R11.2 pre-request dispatch) from the CSIRT.
ok "$CYMAT" -C "$L" consent --key "$K/moj-csirt" --purpose pre_request_dispatch --note "Come early"
CON=$(last_id)
body_is "$CON" '{"purpose":"pre_request_dispatch","note":"Come early"}'

# Without --occurred, the request happened when it is recorded.
ok "$CYMAT" -C "$L" request --key "$K/moj-ciso" --affected moj --summary "Second"
"$CYMAT" -C "$L" show --json "$(last_id)" >"$T/rec.json" || fail "cymat show failed"
python3 -c '
import json, sys
rec = json.load(open(sys.argv[1]))["record"]
assert rec["body"]["occurred_at"] == rec["time"], rec
' "$T/rec.json" || fail "occurred_at is not the record time"

ok "$CYMAT" -C "$L" verify --no-cache
for c in request dispatch report opinion close consent; do
	ok "$CYMAT" "$c" --help
	assert_out "usage: cymat $c"
	assert_out "Example"
done
exit 0
