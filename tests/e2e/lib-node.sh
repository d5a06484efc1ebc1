# Shared by the scripts that run `cymat sync` as NISC's node over a ledger of
# make_ledger's, and the bundle and hook scripts that need that node (t0670,
# t0791-t0793, t0796-t0798), sourced after lib.sh.
#
# Gives: nisc_node_ledger (a ledger with nisc/node bound) and
# nisc_node_config (the cymat-syncd config `cymat sync --config` reads).

# nisc_node_ledger DIR: make_ledger DIR, with nisc/node (key $K/nisc-node,
# role node) bound by the director.
nisc_node_ledger() {
	make_ledger "$1"
	key nisc-node
	"$CYMAT" -C "$1" principal add --key "$K/director" --pub "$K/nisc-node" --role node \
		nisc/node >/dev/null || fail "binding nisc/node failed"
}

# nisc_node_config FILE LEDGER MODE [REMOTE URL ROLE]: nisc/node's config
# for the ledger $T/LEDGER in MODE (agency or master), with one remote when
# named.
nisc_node_config() {
	cat >"$1" <<EOC
[node]
key = $K/nisc-node.key
principal = nisc/node
agency = nisc
ledger = $T/$2
mode = $3
EOC
	[ $# -lt 6 ] || printf '[remote "%s"]\nurl = %s\nrole = %s\n' "$4" "$5" "$6" >>"$1"
}

# refusal_ledgers: NISC's master.git, an agency's clone agency.git (both pinned to $ROOT)
# and evil.git, a clone to build refused work in; $common is their main, which the master
# then moves on from (so that taking evil's work is a union there, a fast-forward at the
# agency).
refusal_ledgers() {
	nisc_node_ledger master.git
	git -C master.git config cymat.root "$ROOT"
	git clone -q --bare master.git agency.git || fail "git clone --bare failed"
	git -C agency.git config cymat.root "$ROOT"
	git clone -q --bare master.git evil.git || fail "git clone --bare failed"
	common=$(git -C master.git rev-parse main)
	L=master.git
	ok note mof-csirt "mof: at NISC"
}

# hooked_master: hooked.git, a clone of master.git pinned to $ROOT with cymat's
# pre-receive hook installed, to push refused work to.
hooked_master() {
	git clone -q --bare master.git hooked.git || fail "git clone --bare failed"
	git -C hooked.git config cymat.root "$ROOT"
	ok "$CYMAT" -C hooked.git hook install --cymat "$CYMAT"
}

# unchanged REPO MAIN: after refused incoming work, REPO's main is still MAIN and no
# quarantine (import-*, incoming-*) and no ref to the refused remote "evil" is left.
unchanged() {
	assert_eq "$(git -C "$1" rev-parse main)" "$2" "main of $1"
	ls "$1/cymat" 2>/dev/null | grep -E '^(import|incoming)-' && fail "a quarantine is left in $1"
	git -C "$1" rev-parse -q --verify refs/cymat/remotes/evil/main >/dev/null &&
		fail "$1 has a ref to the refused main"
	return 0
}

# evil_bundle NAME: $T/NAME.bundle, a git bundle of evil.git's main past $common.
evil_bundle() {
	rm -f "$T/$1.bundle"
	git -C evil.git bundle create "$T/$1.bundle" main "^$common" >/dev/null 2>&1 ||
		fail "git bundle create failed"
}

# refused_everywhere NAME BUNDLE_ERR SYNC_ERR SYNC_WHY HOOK_ERR HOOK_WHY: evil.git's main
# (what it holds past $common) is refused by a bundle import into master.git (of NAME.bundle,
# saying BUNDLE_ERR), a sync of agency.git from it as a peer (SYNC_ERR and SYNC_WHY) and a
# push through the hook of hooked.git (HOOK_ERR and HOOK_WHY); nothing of it is kept.
refused_everywhere() {
	evil_bundle "$1"
	before=$(git -C master.git rev-parse main)
	expect 1 "$CYMAT" -C master.git bundle import --key "$K/nisc-node" "$1.bundle"
	assert_err "$2"
	unchanged master.git "$before"

	before=$(git -C agency.git rev-parse main)
	expect 6 "$CYMAT" sync --config agency.conf
	assert_err "$3"
	assert_err "$4"
	unchanged agency.git "$before"

	before=$(git -C hooked.git for-each-ref)
	expect 1 git -C evil.git push -q "$T/hooked.git" main:refs/inbox/moj
	assert_err "$5"
	assert_err "$6"
	assert_eq "$(git -C hooked.git for-each-ref)" "$before" "refs of the hooked master"
}

# accepted_everywhere NEW: evil.git's main comes in where refused_everywhere refuses it:
# a sync of agency.git from it as a peer (saying NEW, e.g. "1 new record"), a bundle
# import into master.git and a push through the hook of hooked.git.
accepted_everywhere() {
	ok "$CYMAT" sync --config agency.conf
	assert_out "1 remote synced, 0 failed, $1"
	evil_bundle good
	ok "$CYMAT" -C master.git bundle import --key "$K/nisc-node" good.bundle
	ok git -C evil.git push -q "$T/hooked.git" main:refs/inbox/moj
}
