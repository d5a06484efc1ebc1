# Shared by the demos (tests/demo.sh, tests/demo-sync.sh): source it first,
# with DEMO_NAME set (the scratch directory's name).
#
# Finds cymat ($CYMAT, else the built one, else PATH) and the schemas of an
# uninstalled build, gives stock git a known environment, makes the working
# directory $W (DEMO_KEEP=DIR, which must be absent or empty, keeps it) and
# enters it.  Gives: cymat, failed, step, sh_run, quiet_run, out_has,
# first_line, is_id, and on_exit (a command run at exit, before the scratch
# directory is removed).

set -u

: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
if [ -z "${CYMAT:-}" ]; then
	if [ -n "${TOP_BUILDDIR:-}" ] && [ -x "$TOP_BUILDDIR/cli/cymat" ]; then
		CYMAT=$TOP_BUILDDIR/cli/cymat
	elif [ -x "$TOP_SRCDIR/build/cli/cymat" ]; then
		CYMAT=$TOP_SRCDIR/build/cli/cymat
	else
		CYMAT=$(command -v cymat) || { echo "demo: cymat not found; build it first" >&2; exit 2; }
	fi
fi
[ -x "$CYMAT" ] || { echo "demo: \"$CYMAT\" is not executable" >&2; exit 2; }
command -v git >/dev/null 2>&1 || { echo "demo: git is not installed" >&2; exit 2; }

# An uninstalled build reads the schemas from the source tree.
if [ -z "${CYMAT_SCHEMAS_DIR:-}" ] && [ -d "$TOP_SRCDIR/schemas" ]; then
	CYMAT_SCHEMAS_DIR=$TOP_SRCDIR/schemas
	export CYMAT_SCHEMAS_DIR
fi

# Stock git without the user's or the system's configuration (signing hooks,
# aliases), and no key of the user's by accident.
GIT_CONFIG_NOSYSTEM=1
GIT_CONFIG_GLOBAL=/dev/null
export GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL
unset CYMAT_KEY GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE || true

DEMO_ON_EXIT=:
scratch=$(mktemp -d "${TMPDIR:-/tmp}/cymat-$DEMO_NAME.XXXXXX") || exit 2
trap 'eval "$DEMO_ON_EXIT"; rm -rf "$scratch"' EXIT
trap 'exit 2' HUP INT TERM

# on_exit COMMAND-TEXT: also run COMMAND-TEXT when the demo exits.
on_exit() {
	DEMO_ON_EXIT="$1; $DEMO_ON_EXIT"
}

if [ -n "${DEMO_KEEP:-}" ]; then
	mkdir -p "$DEMO_KEEP" || exit 2
	if [ -n "$(ls -A "$DEMO_KEEP")" ]; then
		echo "demo: DEMO_KEEP directory \"$DEMO_KEEP\" is not empty" >&2
		exit 2
	fi
	W=$(cd "$DEMO_KEEP" && pwd)
else
	W=$scratch/work
	mkdir "$W" || exit 2
fi
cd "$W" || exit 2

cymat() {
	"$CYMAT" "$@"
}

failed() {
	echo "demo: FAILED: $*" >&2
	exit 1
}

step() {
	echo
	echo "== $* =="
}

# sh_run RC COMMAND-TEXT: print the command as typed, run it in this shell
# (so that it may set variables), print its output and insist on exit RC.
sh_run() {
	want=$1
	printf '$ %s\n' "$2"
	eval "$2" >"$scratch/out" 2>"$scratch/err"
	rc=$?
	cat "$scratch/out" "$scratch/err"
	[ "$rc" -eq 0 ] || echo "[exit status $rc]"
	[ "$rc" -eq "$want" ] || failed "exit status $rc, expected $want, from: $2"
}

# quiet_run COMMAND-TEXT: as sh_run 0, printing the command but its output
# only when it fails.
quiet_run() {
	printf '$ %s\n' "$1"
	eval "$1" >"$scratch/out" 2>"$scratch/err" || { cat "$scratch/out" "$scratch/err"; failed "from: $1"; }
}

# out_has TEXT: the last command's standard output has TEXT.
out_has() {
	grep -qF -- "$1" "$scratch/out" || failed "the output lacks \"$1\""
}

# first_line: the last command's first line of output (an id).
first_line() {
	head -n 1 "$scratch/out"
}

# is_id TEXT: TEXT is a record id, 64 lowercase hex digits.
is_id() {
	case $1 in
	*[!0-9a-f]*) failed "\"$1\" is not a record id" ;;
	esac
	[ ${#1} -eq 64 ] || failed "\"$1\" is not a record id"
}
