#!/bin/sh
# cymat canon: RFC 8785 on the JCS test vectors; clear errors on bad input.
. "$(dirname "$0")/lib.sh"

printf '{"b":[1.0,2e3,-0,1e21,"\\u00e9\\n"],"a":{"z":null,"\\u20ac":true,"\\r":1}}' >in.json
ok "$CYMAT" canon in.json
printf '{"a":{"\\r":1,"z":null,"\342\202\254":true},"b":[1,2000,0,1e+21,"\303\251\\n"]}' >want
cmp -s "$T/out" want || { show_output; fail "canon output differs from RFC 8785"; }
ok sh -c "\"$CYMAT\" canon - <in.json"
cmp -s "$T/out" want || fail "canon from stdin differs"

n=0
if [ -d "${VECTORS_DIR:-}/jcs/input" ]; then
	for in in "$VECTORS_DIR"/jcs/input/*.json; do
		name=$(basename "$in")
		out=$VECTORS_DIR/jcs/output/$name
		[ -f "$out" ] || continue
		ok "$CYMAT" canon "$in"
		cmp -s "$T/out" "$out" || fail "canon $name differs from the vector"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || fail "no JCS vectors ran"
	say "$n JCS vectors"
fi

# Bad input: exit 3, the message names the file and the position.
printf '{"a":1,\n "a":2}' >dup.json
expect 3 "$CYMAT" canon dup.json
assert_err "cymat canon: \"dup.json\""
assert_err "line 2"
printf '{"a":[1,2}' >bad.json
expect 3 "$CYMAT" canon bad.json
assert_err "\"bad.json\""
[ ! -s "$T/out" ] || fail "canon printed output for bad input"
printf '"\377"' >utf.json
expect 3 "$CYMAT" canon utf.json
expect 3 "$CYMAT" canon no-such-file.json
assert_err "no-such-file.json"
expect 2 "$CYMAT" canon a b
exit 0
