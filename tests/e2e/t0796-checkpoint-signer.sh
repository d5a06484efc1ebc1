#!/bin/sh
# Review 3, finding 5: a checkpoint (or receipt) by anyone but a NISC node is
# invalid, so an agency cannot write one, its hook refuses it and the
# master's intake refuses an inbox holding one; and a valid checkpoint dated
# far ahead does not stop the master's checkpoints: `cymat sync` on the
# master still signs one, and `sync status` shows the real one.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

nisc_node_ledger master.git
git -C master.git config cymat.root "$ROOT"
ok "$CYMAT" -C master.git hook install --cymat "$CYMAT"
git clone -q --bare master.git moj.git || fail "git clone --bare failed"
git -C moj.git config cymat.root "$ROOT"
nisc_node_config master.conf master.git master

# checkpoints REPO: how many checkpoint records REPO's main holds.
checkpoints() {
	git -C "$1" grep -l '"type":"checkpoint"' main -- records | wc -l
}

printf '{"commit":"%s","records":9}' "$(git -C moj.git rev-parse main)" >cp.json
printf '{"inbox":"moj","commit":"%s","accepted":[],"findings":{"errors":0,"warnings":0,"pending":0}}' \
	"$(git -C moj.git rev-parse main)" >rc.json

say "an agency's CSIRT cannot sign a checkpoint or a receipt"
expect 1 "$CYMAT" -C moj.git append --key "$K/moj-csirt" --type checkpoint \
	--time 2099-01-01T00:00:00Z cp.json
assert_err "not-authorised"
assert_err "signed only by a NISC principal with role node"
expect 1 "$CYMAT" -C moj.git append --key "$K/moj-csirt" --type receipt rc.json
assert_err "not-authorised"
expect 1 "$CYMAT" -C master.git append --key "$K/manager" --type checkpoint cp.json
assert_err "not-authorised"

say "a NISC node's checkpoint dated far ahead does not stop the master's checkpoints"
ok "$CYMAT" -C master.git append --key "$K/nisc-node" --type checkpoint \
	--time 2099-01-01T00:00:00Z cp.json
future=$(last_id)
n=$(checkpoints master.git)
ok "$CYMAT" sync -v --config master.conf
assert_out "intake: 0 inboxes merged, 0 new records, 0 refused; checkpoint signed"
assert_err "warning: checkpoint $(echo "$future" | cut -c1-12) dated 2099-01-01T00:00:00Z, ahead of the clock: ignored"
grep -qE "checkpoint [0-9a-f]{64} signed" "$T/err" || { show_output; fail "no checkpoint signed"; }
assert_eq "$(checkpoints master.git)" $((n + 1)) "checkpoints after a master's cycle"
ok "$CYMAT" -C master.git sync status
assert_out "newest checkpoint: $(date -u +%Y)-"
assert_not_out "newest checkpoint: 2099"
assert_out "ignored checkpoint: 2099-01-01T00:00:00Z, dated ahead of the clock (record $(echo "$future" | cut -c1-12))"
ok "$CYMAT" -C master.git sync status --json
if command -v python3 >/dev/null 2>&1; then
	python3 - "$T/out" <<'EOF' || fail "sync status --json"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["future_checkpoint"]["time"].startswith("2099"), s
assert not s["checkpoint"]["time"].startswith("2099"), s
EOF
fi

say "written anyway (--no-judge), it is an error, refused by the hook and by the intake"
ok "$CYMAT" -C moj.git append --no-judge --key "$K/moj-csirt" --type checkpoint \
	--time 2099-01-01T00:00:00Z cp.json
bad=$(last_id)
run "$CYMAT" -C moj.git verify
expect_finding not-authorised "$bad"
if git -C moj.git push -q "$T/master.git" main:refs/inbox/moj >push.out 2>&1; then
	cat push.out >&2
	fail "the hook let a CSIRT's checkpoint into the inbox"
fi
grep -q "not-authorised" push.out || { cat push.out >&2; fail "the hook did not say why"; }
# As if no hook ran: the intake judges the inbox by the same rule.
git -C master.git fetch -q "$T/moj.git" main:refs/inbox/moj || fail "fetch into the inbox failed"
run "$CYMAT" sync --config master.conf
assert_err "not-authorised"
assert_out "intake: 0 inboxes merged, 0 new records, 1 refused; no checkpoint due"
git -C master.git merge-base --is-ancestor "$(git -C moj.git rev-parse main)" main &&
	fail "the CSIRT's checkpoint reached the master's main"
git -C master.git update-ref -d refs/inbox/moj || fail "cannot delete the inbox"
ok "$CYMAT" -C master.git verify

say "a good inbox: the master says what it took in, and its receipt counts in the singular"
git clone -q --bare master.git good.git || fail "git clone --bare failed"
git -C good.git config cymat.root "$ROOT"
L=good.git
ok note moj-csirt "one good note"
git -C good.git push -q "$T/master.git" main:refs/inbox/moj 2>push.out ||
	{ cat push.out >&2; fail "the hook refused a good push"; }
ok "$CYMAT" sync --config master.conf
assert_out "intake: 1 inbox merged, 1 new record, 0 refused; no checkpoint due"
ok "$CYMAT" -C master.git log --type receipt
assert_out "inbox moj, 1 record accepted"
exit 0
