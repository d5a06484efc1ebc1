#!/bin/sh
# Review 7 #10: the commits that come in (a bundle import, a sync from a
# peer, a push through the master's hook) are signed by a key a root or
# principal of the ledger with them binds, and each but a merge names in one
# "Record: <id>" trailer each record it adds and nothing else (FORMAT.md
# section 4).  A commit that is not is refused, naming the commit and the
# rule, even when the records it carries are genuine; nothing of it is kept.
# The same commits already held are warnings of `cymat verify` (unsigned,
# unknown signer) or not judged at all (trailers).  Commits here are made
# with stock git, signed with ssh-keygen's keys.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

command -v ssh-keygen >/dev/null 2>&1 || skip "ssh-keygen not installed"

refusal_ledgers
hooked_master
nisc_node_config agency.conf agency.git agency evil "file://$T/evil.git" peer

# Keys stock git signs with: a stranger's, and moj/node's, which only the
# work that comes in binds (moj/ciso's principal record in evil.git).
ssh-keygen -q -t ed25519 -N '' -C stranger -f "$K/stranger" || fail "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -C moj-node -f "$K/moj-node" || fail "ssh-keygen failed"
# A principal has a sealing key too: a cymat key's.
key moj-node-seal
cp "$K/moj-node-seal.x25519.pub" "$K/moj-node.x25519.pub" || fail "cp failed"
L=evil.git
ok "$CYMAT" -C evil.git principal add --key "$K/moj-ciso" --pub "$K/moj-node" --role node \
	moj/node
ok note moj-csirt "moj: one"
good=$(git -C evil.git rev-parse main)
ok note moj-csirt "moj: two"
two=$(git -C evil.git rev-parse main)
id=$(git -C evil.git log -1 --format=%B "$two" | sed -n 's/^Record: //p')
[ -n "$id" ] || fail "no Record: trailer in $two"
subject=$(git -C evil.git log -1 --format=%s "$two")

# recommit KEY MESSAGE: evil.git's main becomes the tree of "moj: two" (a
# genuine record) on $good, committed by stock git with MESSAGE, signed with
# $K/KEY ("-": unsigned).
recommit() {
	if [ "$1" = - ]; then
		c=$(git -C evil.git commit-tree "$two^{tree}" -p "$good" -m "$2")
	else
		c=$(git -C evil.git -c gpg.format=ssh -c user.signingkey="$K/$1" \
			commit-tree -S "$two^{tree}" -p "$good" -m "$2")
	fi
	[ -n "$c" ] || fail "commit-tree failed"
	git -C evil.git update-ref refs/heads/main "$c" || fail "update-ref failed"
}

# refused CODE WHY: evil.git's main is refused for its commit $c by FORMAT-4
# CODE, for WHY: by a bundle import, a sync from it as a peer and a push
# through the hook; nothing of it is kept.
refused() {
	refused_everywhere forged "bundle \"forged.bundle\" refused: commit $c: FORMAT-4 $1: $2" \
		"remote \"evil\" refused: commit $c: FORMAT-4 $1: " \
		"\"evil\": refused: FORMAT-4 $1 - - in commit $c: $2" \
		"refused by FORMAT-4 $1: in commit $c: $2" "$2"
}

trailers='(one "Record: <id>" trailer per record a commit adds, FORMAT.md section 4)'

say "an unsigned commit carrying a genuine record"
recommit - "$(printf '%s\n\nRecord: %s' "$subject" "$id")"
refused commit-unsigned "the commit is not signed"

say "a commit signed by a key no root or principal binds"
recommit stranger "$(printf '%s\n\nRecord: %s' "$subject" "$id")"
refused commit-unknown-signer "the commit is signed by a key no root or principal record binds"

say "a commit whose trailers leave out the record it adds"
recommit moj-node "$subject"
refused commit-record-trailers \
	"the commit adds record $id and names it in no \"Record:\" trailer $trailers"

say "a commit whose trailer names a record it does not add"
recommit moj-node "$(printf '%s\n\nRecord: %s\nRecord: %s' "$subject" "$id" "$ROOT")"
refused commit-record-trailers \
	"a \"Record:\" trailer names record $ROOT, which the commit does not add $trailers"

say "a commit that names its record twice"
recommit moj-node "$(printf '%s\n\nRecord: %s\nRecord: %s' "$subject" "$id" "$id")"
refused commit-record-trailers "two \"Record:\" trailers name record $id $trailers"

say "a commit that adds more records than its trailers name: not all listed"
c=$(git -C evil.git -c gpg.format=ssh -c user.signingkey="$K/moj-node" commit-tree -S \
	"$two^{tree}" -p "$good^" -m "$(printf '%s\n\nRecord: %s' "$subject" "$id")")
[ -n "$c" ] || fail "commit-tree failed"
git -C evil.git update-ref refs/heads/main "$c" || fail "update-ref failed"
refused commit-record-trailers \
	"the commit adds 2 or more records and names 1 in \"Record:\" trailers $trailers"

say "CRLF line ends: a trailer is read without its CR"
recommit moj-node "$(printf '%s\r\n\r\nRecord: %s\r\nRecord: %s\r\n' "$subject" "$id" "$ROOT")"
git -C evil.git cat-file commit main | grep -q "$(printf '\r$')" || fail "the message lost its CRs"
refused commit-record-trailers \
	"a \"Record:\" trailer names record $ROOT, which the commit does not add $trailers"

say "a line of whitespace ends a paragraph: the trailers are the last one's"
recommit moj-node "$(printf '%s\n\nRecord: %s\n \t\nSigned-off-by: moj' "$subject" "$id")"
refused commit-record-trailers \
	"the commit adds record $id and names it in no \"Record:\" trailer $trailers"

say "an unsigned commit reached through a signed merge's second parent"
c=$(git -C evil.git commit-tree "$two^{tree}" -p "$good" \
	-m "$(printf '%s\n\nRecord: %s' "$subject" "$id")")
merge=$(git -C evil.git -c gpg.format=ssh -c user.signingkey="$K/moj-node" \
	commit-tree -S "$two^{tree}" -p "$good" -p "$c" -m "merge: moj")
git -C evil.git update-ref refs/heads/main "$merge" || fail "update-ref failed"
refused commit-unsigned "the commit is not signed"

say "a node whose key no principal binds cannot merge: its own fault, not the peer's"
git -C evil.git update-ref refs/heads/main "$two" || fail "update-ref failed"
key lonely-node
sed "s|^key = .*|key = $K/lonely-node.key|" agency.conf >lonely.conf || fail "sed failed"
L=agency.git
ok note mof-csirt "mof: a record of the agency's own"
before=$(git -C agency.git rev-parse main)
expect 6 "$CYMAT" sync --config lonely.conf
assert_err "remote \"evil\": cannot merge: this node's key is bound by no principal"
unchanged agency.git "$before"
L=evil.git

say "held, the same unsigned commit is a warning of cymat verify"
recommit - "$(printf '%s\n\nRecord: %s' "$subject" "$id")"
ok "$CYMAT" -C evil.git verify
expect 0 "$CYMAT" -C evil.git verify --json
assert_out '"code":"commit-unsigned"'

say "a stock-git commit signed by moj/node, bound by the same work, comes in"
# Trailers are the last paragraph's lines, as git reads them: not the body's.  CRLF line
# ends and a line of whitespace between the paragraphs read as LF and a blank line.
recommit moj-node "$(printf '%s\r\n\r\nRecord: of the root, %s\r\n \r\nRecord: %s\r\n' \
	"$subject" "$ROOT" "$id")"
accepted_everywhere "3 new records"
ok "$CYMAT" -C master.git verify
ok "$CYMAT" -C agency.git verify
ok "$CYMAT" -C hooked.git verify

say "a commit signed by a key revoked as compromised, carrying a genuine record"
# The revocation is dated after the commit: a commit's time is its maker's to set.
node_kid=$(awk '{ print $2 }' "$K/moj-node.pub" | base64 -d | tail -c 32 | sha256sum |
	cut -c1-64)
ok "$CYMAT" -C evil.git revoke --key "$K/moj-ciso" --reason compromised "$node_kid"
revocation=$(last_id)
ok note moj-csirt "moj: three"
three=$(git -C evil.git rev-parse main)
id=$(git -C evil.git log -1 --format=%B "$three" | sed -n 's/^Record: //p')
c=$(git -C evil.git -c gpg.format=ssh -c user.signingkey="$K/moj-node" commit-tree -S \
	-p "$three^" -m "$(printf 'note: moj: three\n\nRecord: %s' "$id")" "$three^{tree}")
[ -n "$c" ] || fail "commit-tree failed"
git -C evil.git update-ref refs/heads/main "$c" || fail "update-ref failed"
# The ref of the main accepted above goes, so that `unchanged` sees none is written now.
git -C agency.git update-ref -d refs/cymat/remotes/evil/main || fail "update-ref -d failed"
refused commit-compromised-signer \
	"the commit is signed by key $node_kid, which record $revocation revokes as compromised"

say "held, commits signed by the compromised key are warnings of cymat verify"
expect 0 "$CYMAT" -C evil.git verify --no-cache --json
assert_out '"code":"commit-compromised-signer"'
assert_out "\"commit\":\"$c\""
# Kept in the cache with the other commit findings: a cached run walks no commit.
ok "$CYMAT" -C evil.git verify
expect 0 "$CYMAT" -C evil.git verify --json
assert_out "\"commit\":\"$c\""
assert_out '"commits":0,'

say "a node whose key is revoked as compromised cannot merge: its own fault, not the peer's"
git -C evil.git update-ref refs/heads/main "$three" || fail "update-ref failed"
key spent-node
L=agency.git
ok "$CYMAT" -C agency.git principal add --key "$K/director" --pub "$K/spent-node" --role node \
	nisc/spent
ok "$CYMAT" -C agency.git revoke --key "$K/director" --reason compromised "$(kid spent-node)"
sed -e "s|^key = .*|key = $K/spent-node.key|" -e "s|^principal = .*|principal = nisc/spent|" \
	agency.conf >spent.conf || fail "sed failed"
before=$(git -C agency.git rev-parse main)
expect 6 "$CYMAT" sync --config spent.conf
assert_err "remote \"evil\": cannot merge: this node's key is revoked as compromised"
unchanged agency.git "$before"
exit 0
