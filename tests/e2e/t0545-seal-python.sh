#!/bin/sh
# Sealed content against an independent implementation: seal-check.py
# (python3-cryptography, built from docs/FORMAT.md alone) opens what
# `cymat append --seal` wrote, read from the ledger with stock git, and
# `cymat show --unseal` opens what seal-check.py sealed.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || skip "python3 not installed"
"$PY" -c 'import cryptography.hazmat.primitives.keywrap' 2>/dev/null ||
	skip "python3-cryptography not installed (scripts/install-deps installs it)"
CHECK=$TOP_SRCDIR/tests/e2e/seal-check.py

make_ledger "$T/l.git"
printf '{"detail":"攻撃者の痕跡 \\"x\\"","hosts":3,"ips":["192.0.2.1"]}' >conf.json
printf '{"summary":"sealed note"}' >body.json
"$CYMAT" canon conf.json >conf.jcs || fail "cymat canon failed"

# cymat seals, python opens, as each recipient.
ok "$CYMAT" -C "$L" append --key "$K/mof-csirt" --type note --class c2 --seal conf.json \
	--to mof/ciso body.json
ID=$(last_id)
for who in mof-csirt mof-ciso director deputy manager; do
	ok "$PY" "$CHECK" open "$L" "$ID" "$K/$who.x25519.key" "$(kid "$who")"
	cmp -s "$T/out" conf.jcs || { show_output; fail "python opening as $who: not the plaintext"; }
done
# The wrong private key for an entry: python refuses too (RFC 3394's check).
expect 1 "$PY" "$CHECK" open "$L" "$ID" "$K/moj-ciso.x25519.key" "$(kid director)"
assert_err "InvalidUnwrap"

# python seals, cymat opens.
"$PY" "$CHECK" seal conf.json "$(kid moj-csirt)=$(cat "$K/moj-csirt.x25519.pub")" \
	"$(kid director)=$(cat "$K/director.x25519.pub")" >sealed.json ||
	fail "python could not seal"
ok "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c2 --sealed sealed.json \
	body.json
PYID=$(last_id)
for who in moj-csirt director; do
	ok "$CYMAT" -C "$L" show --unseal --json --key "$K/$who" "$PYID"
	{ cat conf.jcs; echo; } | cmp -s "$T/out" - ||
		{ show_output; fail "cymat opening python's seal as $who: not the plaintext"; }
done
expect 3 "$CYMAT" -C "$L" show --unseal --key "$K/deputy" "$PYID"
assert_err "is not sealed for key"
# And python reads its own record back through git, as the ledger stores it.
ok "$PY" "$CHECK" open "$L" "$PYID" "$K/director.x25519.key" "$(kid director)"
cmp -s "$T/out" conf.jcs || fail "python does not read back its own seal"

ok "$CYMAT" -C "$L" verify --no-cache
assert_out "0 invalid"
exit 0
