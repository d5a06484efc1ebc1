#!/bin/sh
# Record text is written by any principal: the text views (status, incident
# show, roster, log, show) print its control characters escaped ("\x1b",
# "\x07" or JSON's "\u001b"), never raw: no ESC[2J clearing the reader's
# terminal, no forged line.
. "$(dirname "$0")/lib.sh"

make_ledger "$T/l.git"
esc=$(printf '\033')
bel=$(printf '\007')
# JSON escapes: the record holds the raw bytes ESC, BEL and a newline.
printf '%s\n' \
	'{"type":"agency","body":{"id":"moj","kind":"government","name":{"ja":"法務省","en":"Justice\u001b[2J\u0007\nforged line"}}}' \
	>agencies.jsonl
ok "$CYMAT" -C "$L" append --key "$K/manager" --batch agencies.jsonl
AG=$(last_id)
cat >request.json <<'EOF2'
{"basis":"10.1","route":"normal","addressed_to":"director","affected":"moj",
 "summary":"Outbound\u001b[2J\u0007 traffic","occurred_at":"2026-04-01T06:30:00Z"}
EOF2
ok "$CYMAT" -C "$L" append --key "$K/moj-ciso" --type request request.json
REQ=$(last_id)

# raw FILE: no ESC, BEL or forged line got through.
raw() {
	if grep -q "$esc" "$1" || grep -q "$bel" "$1" || grep -q '^forged line' "$1"; then
		cat -A "$1" >&2
		fail "$1: a raw control character got through"
	fi
}

say "roster"
ok "$CYMAT" -C "$L" roster
raw "$T/out"
grep -qF 'Justice\x1b[2J\x07\x0aforged line' "$T/out" || { cat "$T/out" >&2; fail "roster: not escaped"; }

say "log"
ok "$CYMAT" -C "$L" log
raw "$T/out"
grep -qF 'Outbound\x1b[2J\x07 traffic' "$T/out" || { cat "$T/out" >&2; fail "log: not escaped"; }

say "status, incident show"
ok "$CYMAT" -C "$L" status
raw "$T/out"
assert_out "$(echo "$REQ" | cut -c1-12)"
ok "$CYMAT" -C "$L" incident show "$REQ"
raw "$T/out"

say "show"
ok "$CYMAT" -C "$L" show "$AG"
raw "$T/out"
grep -qiF '\u001b[2J\u0007\nforged line' "$T/out" || { cat "$T/out" >&2; fail "show: not escaped"; }
ok "$CYMAT" -C "$L" show "$REQ"
raw "$T/out"
exit 0
