#!/bin/sh
# cymat --help, help COMMAND, COMMAND --help, --version, and usage errors (exit 2).
. "$(dirname "$0")/lib.sh"

ok "$CYMAT" --help
for c in init key principal revoke append show log verify canon; do
	assert_out "  $c "
done

for c in init key principal revoke append show log verify canon; do
	ok "$CYMAT" help "$c"
	assert_out "usage: cymat $c"
	cp "$T/out" "$T/help.$c"
	ok "$CYMAT" "$c" --help
	cmp -s "$T/out" "$T/help.$c" || fail "cymat $c --help differs from cymat help $c"
	assert_out "Examples:"
	# An unknown option is a usage error with the usage line on stderr.
	expect 2 "$CYMAT" "$c" --no-such-option
	assert_err "usage: cymat $c"
done

# Every command of the table: what it does, its options, an example, and the
# same text from `cymat help COMMAND`; an unknown option is a usage error.
ok "$CYMAT" --help
assert_out "6 a remote unreachable"
commands=$(sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p' "$T/out")
[ "$(echo "$commands" | wc -l)" -ge 30 ] || fail "cymat --help lists too few commands"
for c in $commands; do
	ok "$CYMAT" "$c" --help
	assert_out "usage: cymat "
	assert_out "Options:"
	assert_out "  -h, --help "
	assert_out "Example"
	# The paragraph after the usage lines says what the command does.
	what=$(awk 'NF == 0 { blank = 1; next } blank { print; exit }' "$T/out")
	case $what in
	"" | Options:*) fail "cymat $c --help does not say what it does" ;;
	esac
	cp "$T/out" "$T/help.$c"
	ok "$CYMAT" help "$c"
	cmp -s "$T/out" "$T/help.$c" || fail "cymat help $c differs from cymat $c --help"
	expect 2 "$CYMAT" "$c" --no-such-option
	assert_err "usage: cymat "
done

ok "$CYMAT" --version
assert_out "cymat "
expect 2 "$CYMAT"
expect 2 "$CYMAT" frobnicate
assert_err "unknown command \"frobnicate\""
expect 2 "$CYMAT" help frobnicate
expect 2 "$CYMAT" key
expect 2 "$CYMAT" key destroy x
expect 2 "$CYMAT" principal add --pub x nisc/x
assert_err "--role"
expect 2 "$CYMAT" append --type note
expect 2 "$CYMAT" revoke --reason lost 0000
# No key anywhere: a usage error naming both ways to give one.
echo "{}" >body.json
expect 2 "$CYMAT" append --type note body.json
assert_err "CYMAT_KEY"
exit 0
