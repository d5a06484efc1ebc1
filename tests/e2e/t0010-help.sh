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
