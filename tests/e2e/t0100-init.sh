#!/bin/sh
# cymat init: a bare repository whose genesis commit holds LEDGER and the
# root record, signed by the director, checked with stock git.
. "$(dirname "$0")/lib.sh"

key director
key deputy
ok "$CYMAT" init --director-key "$K/director.key" --director director \
	--deputy-key "$K/deputy.pub" --deputy deputy --ledger-name test ledger.git
root=$(last_id)
echo "$root" | grep -Eq '^[0-9a-f]{64}$' || fail "init printed \"$root\", not a root id"

[ "$(git -C ledger.git rev-parse --is-bare-repository)" = true ] || fail "ledger is not bare"
assert_eq "$(git -C ledger.git symbolic-ref HEAD)" refs/heads/main "HEAD"
assert_eq "$(git -C ledger.git config cymat.root)" "$root" "pinned root"
assert_eq "$(git -C ledger.git rev-list --count main)" 1 "commits in a new ledger"
git -C ledger.git fsck --strict >/dev/null 2>&1 || fail "git fsck --strict reports problems"

path=$(record_path "$root")
git -C ledger.git ls-tree -r --name-only main >files
printf 'LEDGER\n%s\n' "$path" >want
cmp -s files want || fail "genesis tree is not LEDGER and the root record: $(cat files)"
printf '{"format":"cymat-ledger/1","root":"%s"}' "$root" >want
git -C ledger.git cat-file blob main:LEDGER >got
cmp -s got want || fail "LEDGER content differs: $(cat got)"

# The commit message, author and signature.
git -C ledger.git log -1 --format=%B main >msg
head -n 1 msg | grep -q '^root: ' || fail "commit subject: $(head -n 1 msg)"
grep -qx "Record: $root" msg || fail "no Record trailer for the root"
assert_eq "$(git -C ledger.git log -1 --format='%an %ae' main)" \
	"nisc/director $(kid director)@cymat.invalid" "commit author"
allowed_signers allowed
git -C ledger.git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" \
	verify-commit main >/dev/null 2>&1 || fail "git verify-commit rejects the genesis commit"

# The record: its id is the SHA-256 of JCS(R), recomputed with python3 when present.
git -C ledger.git cat-file blob "main:$path" >root.json
if command -v python3 >/dev/null 2>&1; then
	got=$(python3 -c 'import json,sys,hashlib
e=json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(e["record"],sort_keys=True,separators=(",",":"),ensure_ascii=False).encode()).hexdigest())' root.json)
	assert_eq "$got" "$root" "root id recomputed with python3"
fi
grep -q '"type":"root"' root.json || fail "root record has no type root"
grep -q '"principal":"nisc/deputy"' root.json || fail "root body lacks the deputy"
grep -q "\"x25519\":\"$(cat "$K/deputy.x25519.pub")\"" root.json || fail "deputy x25519 missing"

ok "$CYMAT" -C ledger.git verify
assert_out "verified 1 record ("
assert_out "1 valid, 0 invalid"

# A non-empty directory is refused and left alone.
expect 3 "$CYMAT" init --director-key "$K/director" --director director \
	--deputy-key "$K/deputy" --deputy deputy ledger.git
assert_eq "$(git -C ledger.git rev-list --count main)" 1 "commits after a refused init"
# Missing keys: exit 3 naming the file; nothing created.
expect 3 "$CYMAT" init --director-key "$K/nobody" --director director \
	--deputy-key "$K/deputy" --deputy deputy other.git
assert_err "nobody"
[ ! -e other.git ] || fail "a failed init left other.git behind"
expect 2 "$CYMAT" init --director director new.git
exit 0
