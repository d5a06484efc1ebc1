# The pushes `cymat hook pre-receive` must refuse, and those it must accept,
# made with plain `git push` through a real server: source it after lib.sh
# and servers.sh, then
#   hook_master             the standard ledger as NISC's master in $T/srv/master.git,
#                           hook installed, verification cache written
#   hook_cases URL          every case against the master served at URL
# Each refused push must name the ref, the rule and the record or commit on
# stderr ("remote: ..."), and leave every ref of the master as it was.

hook_master() {
	mkdir -p "$T/srv"
	make_ledger "$T/srv/master.git"
	MASTER=$T/srv/master.git
	ok "$CYMAT" -C "$MASTER" hook install --cymat "$CYMAT"
	assert_out "$MASTER/hooks/pre-receive"
	[ -x "$MASTER/hooks/pre-receive" ] || fail "hook not executable"
	# Bounds on one push (review 3 #11).
	assert_eq "$(git -C "$MASTER" config receive.maxInputSize)" 1g "receive.maxInputSize"
	grep -q '^ulimit -t 900 ' "$MASTER/hooks/pre-receive" || fail "the hook has no CPU limit"
	# The hook reads the cache of main; it must never write it.
	ok "$CYMAT" -C "$MASTER" verify
	[ -f "$MASTER/cymat/verified" ] || fail "no verification cache on the master"
	cksum <"$MASTER/cymat/verified" >"$T/cache.sum"
}

master_refs() {
	git -C "$MASTER" for-each-ref --format='%(objectname) %(refname)' >"$1" ||
		fail "git for-each-ref failed on the master"
}

# fresh NAME: a bare clone of the master's main, through the server: $T/NAME.git
fresh() {
	rm -rf "$T/$1.git"
	git clone -q --bare "$HOOK_URL" "$T/$1.git" || fail "git clone $HOOK_URL failed"
}

# craft NAME KEY TEXT: a valid note signed by KEY made in the throwaway clone
# NAME (never pushed); $CRAFT_ID, $CRAFT_PATH, its bytes in $T/NAME.json.
craft() {
	fresh "$1"
	CRAFT_ID=$(printf '{"summary":"%s"}' "$3" |
		"$CYMAT" -C "$T/$1.git" append --key "$K/$2" --type note -) ||
		fail "append in $1 failed"
	CRAFT_PATH=$(record_path "$CRAFT_ID")
	git -C "$T/$1.git" cat-file blob "main:$CRAFT_PATH" >"$T/$1.json" ||
		fail "cannot read the crafted record"
}

# push_refused REPO REFSPECS REF RULE CODE [TEXT...]: the push of REFSPECS
# (several: separated by spaces) fails, names
# REF, RULE and CODE and every TEXT, and changes no ref of the master.
push_refused() {
	pr_repo=$1
	pr_spec=$2
	pr_ref=$3
	pr_rule=$4
	pr_code=$5
	shift 5
	master_refs "$T/refs.before"
	# shellcheck disable=SC2086
	run git -C "$pr_repo" push "$HOOK_URL" $pr_spec
	if [ "$RC" -eq 0 ]; then
		show_output
		fail "push of $pr_spec was accepted, expected refusal by $pr_rule $pr_code"
	fi
	assert_err "remote: cymat hook: $pr_ref: refused by $pr_rule $pr_code"
	for pr_text in "$@"; do
		assert_err "$pr_text"
	done
	assert_err "pre-receive hook declined"
	master_refs "$T/refs.after"
	cmp -s "$T/refs.before" "$T/refs.after" ||
		{ diff "$T/refs.before" "$T/refs.after" >&2; fail "refused push of $pr_spec changed refs"; }
	say "refused: $pr_spec ($pr_rule $pr_code)"
}

# push_accepted REPO REFSPEC REF: the push succeeds and the master's REF is REPO's main.
push_accepted() {
	run git -C "$1" push "$HOOK_URL" "$2"
	if [ "$RC" -ne 0 ]; then
		show_output
		fail "push of $2 refused"
	fi
	assert_err "remote: cymat hook: $3: accepted"
	pa_want=$(git -C "$1" rev-parse refs/heads/main) || fail "rev-parse failed"
	pa_got=$(git -C "$MASTER" rev-parse "$3") || fail "the master has no $3"
	assert_eq "$pa_got" "$pa_want" "the master's $3"
	git ls-remote "$HOOK_URL" "$3" | grep -q "^$pa_want" || fail "$3 not visible through the server"
	say "accepted: $2"
}

hook_cases() {
	HOOK_URL=$1
	main_before=$(git -C "$MASTER" rev-parse refs/heads/main) || fail "no main on the master"

	# A good agency push creates its inbox, and a later one fast-forwards it.
	fresh moj
	printf '{"summary":"first report"}' |
		"$CYMAT" -C "$T/moj.git" append --key "$K/moj-csirt" --type note - >/dev/null ||
		fail "append in moj failed"
	push_accepted "$T/moj.git" main:refs/inbox/moj refs/inbox/moj
	printf '{"summary":"second report"}' |
		"$CYMAT" -C "$T/moj.git" append --key "$K/moj-csirt" --type note - >/dev/null ||
		fail "append in moj failed"
	# A record waiting for one that has not arrived is no reason to refuse.
	printf '{"summary":"refers to the unknown"}' |
		"$CYMAT" -C "$T/moj.git" append --key "$K/moj-csirt" --type note --no-judge \
		--ref 0000000000000000000000000000000000000000000000000000000000000001 - >/dev/null ||
		fail "append in moj failed"
	push_accepted "$T/moj.git" main:refs/inbox/moj refs/inbox/moj

	# Writing outside refs/inbox/<agency>: main, a branch, a tag, a bad agency name.
	push_refused "$T/moj.git" main:refs/heads/main refs/heads/main FORMAT-4 ref-not-inbox \
		"pushes may write refs/inbox/<agency> only"
	push_refused "$T/moj.git" main:refs/heads/other refs/heads/other FORMAT-4 ref-not-inbox
	push_refused "$T/moj.git" main:refs/tags/v1 refs/tags/v1 FORMAT-4 ref-not-inbox
	push_refused "$T/moj.git" main:refs/inbox/MoJ refs/inbox/MoJ FORMAT-4 ref-not-inbox
	push_refused "$T/moj.git" main:refs/inbox/moj/x refs/inbox/moj/x FORMAT-4 ref-not-inbox

	# Deleting an inbox, rewriting one (forced, so that the server is asked).
	push_refused "$T/moj.git" :refs/inbox/moj refs/inbox/moj FORMAT-4 inbox-deleted
	craft rewrite moj-csirt "another history"
	push_refused "$T/rewrite.git" +main:refs/inbox/moj refs/inbox/moj FORMAT-4 not-fast-forward \
		"$(git -C "$T/rewrite.git" rev-parse main)"

	# Tampered bytes: the content no longer has the id its path names.
	craft side moj-csirt "transfer 100 yen"
	sed 's/transfer 100 yen/transfer 900 yen/' "$T/side.json" >"$T/bad.json"
	cmp -s "$T/side.json" "$T/bad.json" && fail "sed did not tamper"
	fresh push
	commit_change "$T/push.git" "note: tampered" add "$CRAFT_PATH" "$T/bad.json"
	push_refused "$T/push.git" main:refs/inbox/moj-t refs/inbox/moj-t FORMAT-2 wrong-path \
		"\"$CRAFT_PATH\""

	# A genuine signature of another record: forged.
	craft other moj-csirt "genuine"
	other_sig=$(sed 's/.*"sig":"\([^"]*\)".*/\1/' "$T/other.json")
	[ ${#other_sig} -eq 88 ] || fail "could not extract a signature"
	craft side moj-csirt "forged"
	sed "s|\"sig\":\"[^\"]*\"|\"sig\":\"$other_sig\"|" "$T/side.json" >"$T/bad.json"
	fresh push
	commit_change "$T/push.git" "note: forged" add "$CRAFT_PATH" "$T/bad.json"
	push_refused "$T/push.git" main:refs/inbox/moj-f refs/inbox/moj-f FORMAT-2 bad-signature \
		"record $CRAFT_ID \"$CRAFT_PATH\""

	# Not canonical: a trailing newline, the record inside untouched.
	craft side moj-csirt "pretty"
	cp "$T/side.json" "$T/bad.json"
	echo >>"$T/bad.json"
	fresh push
	commit_change "$T/push.git" "note: non-canonical" add "$CRAFT_PATH" "$T/bad.json"
	push_refused "$T/push.git" main:refs/inbox/moj-c refs/inbox/moj-c FORMAT-2 not-canonical \
		"\"$CRAFT_PATH\""

	# Unsigned: the envelope without its signature.
	craft side moj-csirt "unsigned"
	sed 's/,"sig":"[^"]*"//' "$T/side.json" >"$T/bad.json"
	cmp -s "$T/side.json" "$T/bad.json" && fail "signature not removed"
	fresh push
	commit_change "$T/push.git" "note: unsigned" add "$CRAFT_PATH" "$T/bad.json"
	push_refused "$T/push.git" main:refs/inbox/moj-u refs/inbox/moj-u FORMAT-2 malformed \
		"\"$CRAFT_PATH\""

	# Malformed: not JSON at all, at a record path.
	printf 'not json' >"$T/bad.json"
	fresh push
	commit_change "$T/push.git" "note: garbage" add "$CRAFT_PATH" "$T/bad.json"
	push_refused "$T/push.git" main:refs/inbox/moj-m refs/inbox/moj-m FORMAT-2 malformed \
		"\"$CRAFT_PATH\""

	# Signed by a key the ledger does not know, pushed as cymat wrote it.
	[ -f "$K/stranger.key" ] || key stranger
	fresh push
	stranger_id=$(printf '{"summary":"hello"}' |
		"$CYMAT" -C "$T/push.git" append --key "$K/stranger" --author moj/csirt --no-judge \
		--type note -) || fail "append by the stranger failed"
	push_refused "$T/push.git" main:refs/inbox/moj-k refs/inbox/moj-k FORMAT-2 unknown-key \
		"record $stranger_id \"$(record_path "$stranger_id")\""

	# A commit modifying, one deleting a record file of main; a foreign file.
	fresh push
	old_id=$(git -C "$T/push.git" log --format=%B -n 1 main | sed -n 's/^Record: //p' | head -n 1)
	[ -n "$old_id" ] || fail "no record named by main's last commit"
	old_path=$(record_path "$old_id")
	git -C "$T/push.git" cat-file blob "main:$old_path" | sed 's/"seq":/"seq" :/' >"$T/bad.json"
	commit_change "$T/push.git" "note: rewrite" add "$old_path" "$T/bad.json"
	push_refused "$T/push.git" main:refs/inbox/moj-r refs/inbox/moj-r FORMAT-4 record-modified \
		"\"$old_path\" in commit $(git -C "$T/push.git" rev-parse main)"
	fresh push
	commit_change "$T/push.git" "note: delete" del "$old_path"
	push_refused "$T/push.git" main:refs/inbox/moj-d refs/inbox/moj-d FORMAT-4 record-deleted \
		"\"$old_path\" in commit $(git -C "$T/push.git" rev-parse main)"
	fresh push
	echo "hello" >"$T/readme"
	commit_change "$T/push.git" "note: readme" add README "$T/readme"
	push_refused "$T/push.git" main:refs/inbox/moj-x refs/inbox/moj-x FORMAT-4 foreign-file \
		"\"README\""

	# One bad update refuses the whole push: the good one is not written either.
	fresh mof
	printf '{"summary":"mof report"}' |
		"$CYMAT" -C "$T/mof.git" append --key "$K/mof-csirt" --type note - >/dev/null ||
		fail "append in mof failed"
	push_refused "$T/mof.git" "main:refs/inbox/mof main:refs/heads/main" refs/heads/main \
		FORMAT-4 ref-not-inbox "remote: cymat hook: refs/inbox/mof: would be accepted alone"
	git -C "$MASTER" rev-parse --verify -q refs/inbox/mof >/dev/null &&
		fail "refs/inbox/mof created by a refused push"
	push_accepted "$T/mof.git" main:refs/inbox/mof refs/inbox/mof

	# main was never touched, the cache never written; what was accepted verifies.
	assert_eq "$(git -C "$MASTER" rev-parse refs/heads/main)" "$main_before" "the master's main"
	cksum <"$MASTER/cymat/verified" | cmp -s - "$T/cache.sum" ||
		fail "the hook wrote the verification cache"
	ok "$CYMAT" -C "$MASTER" verify --no-cache
	git -C "$MASTER" fsck --strict >/dev/null 2>&1 || fail "git fsck --strict failed on the master"

	# Main's record file with other bytes: the same record with another valid
	# signature (a random nonce), in a history without main's copy; a union
	# would hold two contents at one path.
	fresh push
	craft side moj-csirt "signed twice"
	python3 "$TOP_SRCDIR/tests/e2e/ed25519-resign.py" "$K/moj-csirt.key" "$T/side.json" \
		>"$T/bad.json" || fail "re-signing failed"
	cmp -s "$T/side.json" "$T/bad.json" && fail "the same signature twice"
	# main moves as the master's intake would move it.
	commit_change "$MASTER" "note: signed twice" add "$CRAFT_PATH" "$T/side.json"
	commit_change "$T/push.git" "note: signed twice" add "$CRAFT_PATH" "$T/bad.json"
	push_refused "$T/push.git" main:refs/inbox/moj-z refs/inbox/moj-z FORMAT-5 record-conflict \
		"record $CRAFT_ID \"$CRAFT_PATH\" (pushed in"
}
