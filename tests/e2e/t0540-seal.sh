#!/bin/sh
# Sealed content through the CLI: `cymat append --seal` and the acts'
# --seal seal a confidential object for the author, NISC's director, deputy
# and manager and the --to principals; `cymat show --unseal` opens it for
# each of them and for nobody else; `cymat verify` and the master's
# pre-receive hook accept sealed records, and since the signature covers
# the ciphertext, a record whose ct was changed is refused by both.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/hook-cases.sh"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"

hook_master
L=$MASTER
HOOK_URL=$MASTER

printf '{"detail":"攻撃者の痕跡 \\"x\\"","hosts":3}' >conf.json
printf '{"summary":"sealed note"}' >body.json
# The confidential part as one JCS line, what show --unseal --json prints.
"$CYMAT" canon conf.json >conf.jcs || fail "cymat canon failed"
echo >>conf.jcs

# Usage: --seal needs c2 or c3, --to needs --seal, --seal excludes --sealed.
before=$(git -C "$L" rev-parse refs/heads/main)
expect 2 "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --seal conf.json body.json
assert_err "--seal needs --class c2 or c3: a c1 record is public"
expect 2 "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c1 \
	--seal conf.json body.json
assert_err "a c1 record is public"
expect 2 "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c2 \
	--to mof/ciso body.json
assert_err "--to goes with --seal"
expect 2 "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c2 \
	--seal conf.json --sealed conf.json body.json
assert_err "exclude each other"
expect 3 "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c2 \
	--seal conf.json --to mof/nobody body.json
assert_err "recipient \"mof/nobody\": no key bound at the record's time"
printf '[1]' >array.json
expect 3 "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c2 \
	--seal array.json body.json
assert_err "not a JSON object"
# A sealed member given as is must have the structure of FORMAT 6.
printf '{"alg":"X25519-HKDF-SHA256-A256GCM","recipients":[],"iv":"AAECAwQFBgcICQoL","ct":"AAAA"}' >bad-sealed.json
expect 3 "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c2 \
	--sealed bad-sealed.json body.json
assert_err "\"recipients\" must be an array of 1 to 256 entries"
assert_eq "$(git -C "$L" rev-parse refs/heads/main)" "$before" "main after refused appends"

# A c2 note sealed by moj/csirt: the author and NISC's officers read it.
ok "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c2 --seal conf.json body.json
NOTE=$(last_id)
ok "$CYMAT" -C "$L" show --json "$NOTE"
python3 - "$T/out" "$(kid moj-csirt) $(kid director) $(kid deputy) $(kid manager)" <<'EOF' ||
import json, sys
rec = json.loads(open(sys.argv[1]).read())["record"]
s = rec["sealed"]
assert rec["class"] == "c2", rec["class"]
assert s["alg"] == "X25519-HKDF-SHA256-A256GCM", s
kids = [e["kid"] for e in s["recipients"]]
assert sorted(kids) == sorted(sys.argv[2].split()), kids
assert len({e["epk"] for e in s["recipients"]}) == len(kids), "an epk shared by two entries"
assert "攻撃者" not in json.dumps(rec, ensure_ascii=False), "plaintext in the record"
EOF
	fail "the sealed note's recipients are not the author, director, deputy and manager"
for who in moj-csirt director deputy manager; do
	ok "$CYMAT" -C "$L" show --unseal --json --key "$K/$who" "$NOTE"
	cmp -s "$T/out" conf.jcs || { show_output; fail "$who does not read the confidential part"; }
done
# The key may be named by its base, KEY.key or KEY.x25519.key; CYMAT_KEY is the default.
ok "$CYMAT" -C "$L" show --unseal --key "$K/director.x25519.key" "$NOTE"
assert_out '"hosts": 3'
ok env CYMAT_KEY="$K/deputy.key" "$CYMAT" -C "$L" show --unseal "$NOTE"
assert_out '"detail": "攻撃者の痕跡 \"x\""'
# Others cannot: they hold no entry.
for who in moj-ciso mof-ciso mof-csirt; do
	expect 3 "$CYMAT" -C "$L" show --unseal --key "$K/$who" "$NOTE"
	assert_err "is not sealed for key \"$K/$who\" (kid $(kid "$who")): it is sealed for 4 other keys"
	[ -s "$T/out" ] && fail "$who: something printed"
done
# The signing key with another principal's X25519 key: the entry does not open.
cp "$K/moj-csirt.key" "$K/mixed.key"
cp "$K/mof-csirt.x25519.key" "$K/mixed.x25519.key"
expect 1 "$CYMAT" -C "$L" show --unseal --key "$K/mixed" "$NOTE"
assert_err "does not open with this X25519 key"
# A record without a sealed part.
ok "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note body.json
PLAIN=$(last_id)
expect 3 "$CYMAT" -C "$L" show --unseal --key "$K/moj-csirt" "$PLAIN"
assert_err "record $PLAIN has no sealed part"

# --to adds a principal's keys: every key it holds at the record's time.
ok "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c3 --seal - \
	--to mof/ciso --to mof/ciso body.json <conf.json
TO=$(last_id)
ok "$CYMAT" -C "$L" show --unseal --json --key "$K/mof-ciso" "$TO"
cmp -s "$T/out" conf.jcs || { show_output; fail "mof/ciso does not read what it was sealed for"; }
expect 3 "$CYMAT" -C "$L" show --unseal --key "$K/mof-csirt" "$TO"
assert_err "it is sealed for 5 other keys"

# The acts: --seal and --seal-to; the rules refuse an outside recipient (R15.2).
printf '%s\n' \
	'{"type":"agency","body":{"id":"moj","kind":"government","name":{"ja":"法務省","en":"Ministry of Justice"}}}' \
	>agencies.jsonl
ok "$CYMAT" -C "$L" append --key "$K/manager" --batch agencies.jsonl
before=$(git -C "$L" rev-parse refs/heads/main)
expect 1 "$CYMAT" -C "$L" request --key "$K/moj-ciso" --class c2 --seal conf.json \
	--seal-to mof/ciso --affected moj --summary "Intrusion"
assert_err "R15.2"
assert_err "outside the provider, NISC and consented recipients"
assert_eq "$(git -C "$L" rev-parse refs/heads/main)" "$before" "main after a refused request"
expect 2 "$CYMAT" -C "$L" request --key "$K/moj-ciso" --seal-to moj/csirt --affected moj \
	--summary "Intrusion"
assert_err "--seal-to goes with --seal"
ok "$CYMAT" -C "$L" request --key "$K/moj-ciso" --class c2 --seal conf.json \
	--seal-to moj/csirt --affected moj --summary "Intrusion"
REQ=$(last_id)
for who in moj-ciso moj-csirt director manager; do
	ok "$CYMAT" -C "$L" show --unseal --json --key "$K/$who" "$REQ"
	cmp -s "$T/out" conf.jcs || { show_output; fail "$who does not read the sealed request"; }
done

# A revoked key is no longer sealed for: the manager's key, retired now.
# The revocation takes effect at its own time and invalidates the manager's
# records of that second too: date it after the agency record above.
after_this_second
ok "$CYMAT" -C "$L" revoke --key "$K/director" --reason retired "$K/manager"
ok "$CYMAT" -C "$L" append --key "$K/moj-csirt" --type note --class c2 --seal conf.json body.json
AFTER=$(last_id)
expect 3 "$CYMAT" -C "$L" show --unseal --key "$K/manager" "$AFTER"
assert_err "it is sealed for 3 other keys"
ok "$CYMAT" -C "$L" show --unseal --key "$K/deputy" "$AFTER"

# The verifier accepts the sealed records.
ok "$CYMAT" -C "$L" verify --no-cache
assert_out "0 invalid"

# The master's hook accepts a sealed record pushed to an inbox.
fresh moj
ok "$CYMAT" -C "$T/moj.git" append --key "$K/moj-csirt" --type note --class c2 \
	--seal conf.json body.json
PUSHED=$(last_id)
push_accepted "$T/moj.git" main:refs/inbox/moj refs/inbox/moj
git -C "$L" cat-file -e "refs/inbox/moj:$(record_path "$PUSHED")" ||
	fail "the pushed sealed record is not in the inbox"

# One base64 character of ct changed: the record's id changes, so the file
# goes to the path of its new id, with the old signature, which does not
# cover this ciphertext.
git -C "$L" cat-file blob "main:$(record_path "$NOTE")" >note.json ||
	fail "cannot read the sealed note"
python3 - note.json >tampered.json <<'EOF' || fail "cannot tamper with ct"
import json, sys
env = json.loads(open(sys.argv[1]).read())
ct = env["record"]["sealed"]["ct"]
env["record"]["sealed"]["ct"] = ("B" if ct[0] != "B" else "C") + ct[1:]
json.dump(env, sys.stdout, ensure_ascii=False)
EOF
"$CYMAT" canon tampered.json >tampered.jcs || fail "cymat canon failed"
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["record"], sys.stdout, ensure_ascii=False)' \
	tampered.json >tampered-record.json || fail "cannot extract the record"
BAD=$("$CYMAT" canon tampered-record.json | sha256sum | cut -c1-64)
[ ${#BAD} -eq 64 ] && [ "$BAD" != "$NOTE" ] || fail "no new id for the tampered record"

fresh push
commit_change "$T/push.git" "note: tampered ct" add "$(record_path "$BAD")" tampered.jcs
expect 1 "$CYMAT" -C "$T/push.git" verify --no-cache
expect_finding bad-signature "$BAD"
expect 1 "$CYMAT" -C "$T/push.git" show --unseal --key "$K/director" "$BAD"
assert_err "fails its authentication"
push_refused "$T/push.git" main:refs/inbox/moj-s refs/inbox/moj-s FORMAT-2 bad-signature \
	"record $BAD"
exit 0
