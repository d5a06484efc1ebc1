#!/bin/sh
# cymat key generate: four files with the right modes and formats, a kid that
# stock openssl agrees with, ssh-keygen reads the public key, never overwrites.
. "$(dirname "$0")/lib.sh"

ok "$CYMAT" key generate --dir "$K" alice
kid=$(sed -n 's/^kid *//p' "$T/out")
ed=$(sed -n 's/^ed25519 *//p' "$T/out")
x=$(sed -n 's/^x25519 *//p' "$T/out")
echo "$kid" | grep -Eq '^[0-9a-f]{64}$' || fail "kid \"$kid\" is not 64 hex digits"

for f in alice.key alice.x25519.key alice.pub alice.x25519.pub; do
	[ -f "$K/$f" ] || fail "$f not written"
done
for f in alice.key alice.x25519.key; do
	mode=$(stat -c %a "$K/$f")
	assert_eq "$mode" 600 "mode of $f"
done
grep -q '^-----BEGIN PRIVATE KEY-----$' "$K/alice.key" || fail "alice.key is not PKCS#8 PEM"
assert_eq "$(cat "$K/alice.x25519.pub")" "$x" "alice.x25519.pub"
assert_eq "$(cut -d' ' -f3 "$K/alice.pub")" alice "comment of alice.pub"

if command -v openssl >/dev/null 2>&1; then
	# The raw public key is the last 32 bytes of the SubjectPublicKeyInfo DER.
	want=$(openssl pkey -in "$K/alice.key" -pubout -outform DER | tail -c 32 | sha256sum | cut -d' ' -f1)
	assert_eq "$kid" "$want" "kid against openssl"
	raw=$(openssl pkey -in "$K/alice.key" -pubout -outform DER | tail -c 32 | base64)
	assert_eq "$ed" "$raw" "ed25519 against openssl"
	rawx=$(openssl pkey -in "$K/alice.x25519.key" -pubout -outform DER | tail -c 32 | base64)
	assert_eq "$x" "$rawx" "x25519 against openssl"
fi
if command -v ssh-keygen >/dev/null 2>&1; then
	ssh-keygen -l -f "$K/alice.pub" | grep -q ED25519 || fail "ssh-keygen cannot read alice.pub"
fi

# Never overwrite: exit 3, files unchanged.
before=$(cat "$K/alice.key" "$K/alice.pub" | sha256sum)
expect 3 "$CYMAT" key generate --dir "$K" alice
assert_err "refusing to overwrite"
assert_eq "$(cat "$K/alice.key" "$K/alice.pub" | sha256sum)" "$before" "alice's files after a refused generate"

# --json gives the same members.
ok "$CYMAT" key generate --dir "$K" --json bob
for m in '"kid":' '"ed25519":' '"x25519":' '"name":"bob"'; do
	assert_out "$m"
done
expect 2 "$CYMAT" key generate "../escape"

# A missing key directory is created, private.
ok "$CYMAT" key generate --dir "$K/fresh" carol
assert_eq "$(stat -c %a "$K/fresh")" "700" "mode of a created key directory"
[ -f "$K/fresh/carol.key" ] || fail "carol.key not written in the created directory"

# A bad option is named once, with the usage.
expect 2 "$CYMAT" key generate --frobnicate carol
assert_err 'unknown option "--frobnicate"'
exit 0
