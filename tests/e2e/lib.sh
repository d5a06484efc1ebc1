# Shared by the end-to-end scripts (tNNNN-area.sh): source it first.
#
# Gives: a temporary directory $T (the working directory, removed on exit),
# $CYMAT (the built tool), assertions that say what they expected,
# wait_until (a bounded wait on a condition, never a timing assertion), and
# make_ledger, which builds the standard ledger used by most scripts:
#   nisc/director, nisc/deputy (root), nisc/manager,
#   moj/ciso, moj/csirt, mof/ciso, mof/csirt,
# with keys in $K (BASE.key, BASE.pub, BASE.x25519.pub for each name).
# Stock git is the independent checker; exit 77 skips a script.

set -u

E2E_NAME=$(basename "$0" .sh)
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
# make check runs the scripts from <builddir>/tests; else an in-tree build.
if [ -z "${CYMAT:-}" ]; then
	if [ -x "$PWD/../cli/cymat" ]; then
		CYMAT=$PWD/../cli/cymat
	else
		CYMAT=$TOP_SRCDIR/cli/cymat
	fi
fi
case $CYMAT in
/*) ;;
*) CYMAT=$PWD/$CYMAT ;;
esac
: "${VECTORS_DIR:=$TOP_SRCDIR/../shared/vectors}"
export CYMAT TOP_SRCDIR VECTORS_DIR

skip() {
	echo "SKIP: $E2E_NAME: $*" >&2
	exit 77
}

fail() {
	echo "FAIL: $E2E_NAME: $*" >&2
	exit 1
}

say() {
	echo "# $*"
}

[ -x "$CYMAT" ] || skip "cymat not built at $CYMAT"
command -v git >/dev/null 2>&1 || skip "git not installed"

# Schemas from the source tree, so that the tests check them too.
if [ -z "${CYMAT_SCHEMAS_DIR:-}" ] && [ -d "$TOP_SRCDIR/schemas" ]; then
	CYMAT_SCHEMAS_DIR=$TOP_SRCDIR/schemas
	export CYMAT_SCHEMAS_DIR
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/cymat-e2e.XXXXXX") || fail "mktemp failed"
trap 'rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM
cd "$T" || fail "cannot enter $T"

# A known git environment: no user or system config, fixed identity for plumbing commits.
HOME=$T
GIT_CONFIG_NOSYSTEM=1
GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@example.invalid
GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@example.invalid
export HOME GIT_CONFIG_NOSYSTEM GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
unset CYMAT_KEY GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE || true
git config --global init.defaultBranch main
git config --global protocol.file.allow always

# run CMD...: run a command, keep its stdout in $T/out, stderr in $T/err, status in $RC.
run() {
	"$@" >"$T/out" 2>"$T/err"
	RC=$?
	return 0
}

show_output() {
	echo "--- stdout:" >&2
	cat "$T/out" >&2
	echo "--- stderr:" >&2
	cat "$T/err" >&2
}

# expect RC CMD...: run CMD and fail unless it exits with RC.
expect() {
	want=$1
	shift
	run "$@"
	if [ "$RC" -ne "$want" ]; then
		show_output
		fail "expected exit $want, got $RC from: $*"
	fi
}

# ok CMD...: same as expect 0.
ok() {
	expect 0 "$@"
}

# assert_out PATTERN / assert_err PATTERN: fixed string in the last run's stdout / stderr.
assert_out() {
	grep -qF -- "$1" "$T/out" || { show_output; fail "stdout lacks \"$1\""; }
}

assert_err() {
	grep -qF -- "$1" "$T/err" || { show_output; fail "stderr lacks \"$1\""; }
}

assert_not_out() {
	if grep -qF -- "$1" "$T/out"; then
		show_output
		fail "stdout unexpectedly has \"$1\""
	fi
}

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-values differ}: got \"$1\", expected \"$2\""
}

# wait_until DESCRIPTION COMMAND...: poll until COMMAND succeeds; fail after
# two minutes of the clock, however slow each COMMAND is (a bound for a
# loaded machine, never a measurement).
wait_until() {
	wu_what=$1
	shift
	wu_give_up=$(($(date +%s) + 120))
	until "$@"; do
		[ "$(date +%s)" -lt "$wu_give_up" ] || fail "gave up waiting for $wu_what"
		sleep 0.1
	done
}

# after_this_second: wait (at most 3 s) until the clock is in a later second.
# Record times have one-second resolution and the rules judge a record of the
# same second as a revocation's effective time as at or after it, so call this
# between two acts whose order a test relies on.  cymat dates records by
# time(2), which may lag the clock date(1) reads by up to a kernel tick: hence
# the short pause once the second has changed.
after_this_second() {
	ats_start=$(date +%s)
	ats_polls=0
	while [ "$(date +%s)" -le "$ats_start" ]; do
		ats_polls=$((ats_polls + 1))
		[ "$ats_polls" -le 60 ] || fail "after_this_second: the clock stayed at $ats_start for 3 s"
		sleep 0.05
	done
	sleep 0.05
}

# The id printed by the last run (first line of stdout).
last_id() {
	head -n 1 "$T/out"
}

# The path of a record file: records/ab/cd/<id>.json
record_path() {
	echo "records/$(echo "$1" | cut -c1-2)/$(echo "$1" | cut -c3-4)/$1.json"
}

K=$T/keys
mkdir -p "$K"

# key NAME: generate $K/NAME.key, .pub, .x25519.*; its kid in $K/NAME.kid
key() {
	"$CYMAT" key generate --dir "$K" "$1" >"$K/$1.kid" || fail "key generate $1 failed"
}

# make_ledger DIR: the standard ledger; sets $L (its path) and $ROOT (root id).
make_ledger() {
	L=$1
	for n in director deputy manager moj-ciso moj-csirt mof-ciso mof-csirt; do
		key "$n"
	done
	ROOT=$("$CYMAT" init --director-key "$K/director" --director director \
		--deputy-key "$K/deputy" --deputy deputy "$L") || fail "cymat init failed"
	"$CYMAT" -C "$L" principal add --key "$K/director" --pub "$K/manager" --role manager \
		--full-time --nisc-resident nisc/manager >/dev/null || fail "binding nisc/manager failed"
	for a in moj mof; do
		"$CYMAT" -C "$L" principal add --key "$K/manager" --pub "$K/$a-ciso" --role ciso \
			--full-time "$a/ciso" >/dev/null || fail "binding $a/ciso failed"
		"$CYMAT" -C "$L" principal add --key "$K/$a-ciso" --pub "$K/$a-csirt" --role csirt \
			"$a/csirt" >/dev/null || fail "binding $a/csirt failed"
	done
	export L ROOT
}

# kid NAME: key id of a standard-ledger key
kid() {
	sed -n 's/^kid *//p' "$K/$1.kid"
}

# note KEY TEXT [cymat append options...]: append a "note" record, print its id.
note() {
	nk=$1
	nt=$2
	shift 2
	printf '{"summary":"%s"}' "$nt" | "$CYMAT" -C "$L" append --key "$K/$nk" --type note "$@" -
}

# allowed_signers FILE: every key in $K, for git verify-commit with gpg.format=ssh.
allowed_signers() {
	: >"$1"
	for pub in "$K"/*.pub; do
		case $pub in *.x25519.pub) continue ;; esac
		printf '%s namespaces="git" %s\n' "$(basename "$pub" .pub)" \
			"$(cut -d' ' -f1,2 "$pub")" >>"$1"
	done
}

# Plumbing on a bare repository, with a private index: build a commit on top
# of refs/heads/main that applies changes, and move main to it.
#   commit_change REPO MESSAGE add PATH FILE | del PATH [...]
commit_change() {
	repo=$1
	msg=$2
	shift 2
	idx=$T/index.$$
	rm -f "$idx"
	# update-index wants a work tree even for --cacheinfo; an empty one will do.
	mkdir -p "$T/empty-worktree"
	GIT_WORK_TREE=$T/empty-worktree
	export GIT_WORK_TREE
	GIT_INDEX_FILE=$idx git -C "$repo" read-tree refs/heads/main || fail "read-tree failed"
	while [ $# -gt 0 ]; do
		case $1 in
		add)
			case $3 in
			/*) src=$3 ;;
			*) src=$PWD/$3 ;;
			esac
			blob=$(git -C "$repo" hash-object -w "$src") || fail "hash-object failed"
			GIT_INDEX_FILE=$idx git -C "$repo" update-index --add \
				--cacheinfo "100644,$blob,$2" || fail "update-index failed"
			shift 3
			;;
		del)
			GIT_INDEX_FILE=$idx git -C "$repo" update-index --force-remove "$2" ||
				fail "update-index --force-remove failed"
			shift 2
			;;
		*)
			fail "commit_change: unknown operation $1"
			;;
		esac
	done
	tree=$(GIT_INDEX_FILE=$idx git -C "$repo" write-tree) || fail "write-tree failed"
	commit=$(git -C "$repo" commit-tree "$tree" -p refs/heads/main -m "$msg") ||
		fail "commit-tree failed"
	git -C "$repo" update-ref refs/heads/main "$commit" || fail "update-ref failed"
	unset GIT_WORK_TREE
	rm -f "$idx"
}

# expect_finding CODE ID: the last run (a verify) exited 1 and names ID with CODE.
expect_finding() {
	if [ "$RC" -ne 1 ]; then
		show_output
		fail "verify exited $RC, expected 1 (finding $1 for $2)"
	fi
	grep -E "^error [A-Z0-9.-]+ $1 $2 " "$T/out" >/dev/null ||
		{ show_output; fail "no error finding \"$1\" for record $2"; }
}

# side_record KEY TEXT: a valid note signed by KEY, appended in a bare clone
# of $L (never in $L itself); its id in $SIDE_ID, its file's bytes in $T/side.json.
side_record() {
	rm -rf "$T/side.git"
	git clone -q --bare "$L" "$T/side.git" || fail "git clone --bare failed"
	SIDE_ID=$(printf '{"summary":"%s"}' "$2" |
		"$CYMAT" -C "$T/side.git" append --key "$K/$1" --type note -) ||
		fail "append in the side clone failed"
	git -C "$T/side.git" cat-file blob "main:$(record_path "$SIDE_ID")" >"$T/side.json" ||
		fail "cannot read the side record"
}

# expect_finding_path CODE PATH: the last verify exited 1 with an error CODE about PATH.
expect_finding_path() {
	if [ "$RC" -ne 1 ]; then
		show_output
		fail "verify exited $RC, expected 1 (finding $1 for $2)"
	fi
	grep -E "^error [A-Z0-9.-]+ $1 ([0-9a-f]+|-) $2: " "$T/out" >/dev/null ||
		{ show_output; fail "no error finding \"$1\" for $2"; }
}
