#!/bin/sh
# cymat show and cymat log: records by id or prefix, exact bytes, filters, JSON.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
ok note moj-csirt "hello from moj"
id=$(last_id)
path=$(record_path "$id")

ok "$CYMAT" -C ledger.git show "$id"
assert_out '"summary": "hello from moj"'
assert_out '"sig": '
assert_out "valid"
prefix=$(echo "$id" | cut -c1-10)
ok "$CYMAT" -C ledger.git show "$prefix"
assert_out '"summary": "hello from moj"'

# --raw is the file, byte for byte, as git stores it; it is its own JCS form.
ok "$CYMAT" -C ledger.git show --raw "$id"
git -C ledger.git cat-file blob "main:$path" >blob
cmp -s "$T/out" blob || fail "show --raw differs from the blob"
ok "$CYMAT" canon blob
cmp -s "$T/out" blob || fail "the record file is not in canonical form"

ok "$CYMAT" -C ledger.git show --json "$id"
assert_out "\"id\":\"$id\""
assert_out "\"path\":\"$path\""
assert_out '"findings":[]'

expect 3 "$CYMAT" -C ledger.git show 0000000000
assert_err "no record"
expect 2 "$CYMAT" -C ledger.git show xyz
expect 2 "$CYMAT" -C ledger.git show --raw --json "$id"

# log: every record, oldest first, filters.
ok "$CYMAT" -C ledger.git log
assert_eq "$(wc -l <"$T/out" | tr -d ' ')" 7 "log lines"
assert_out " root "
LC_ALL=C sort -c -s -k1,1 "$T/out" || fail "log is not in time order"
assert_out "$(echo "$id" | cut -c1-12) hello from moj"
assert_out "bind moj/csirt (csirt)"
ok "$CYMAT" -C ledger.git log --type principal
assert_eq "$(wc -l <"$T/out" | tr -d ' ')" 5 "principal records"
ok "$CYMAT" -C ledger.git log --agency moj
assert_eq "$(wc -l <"$T/out" | tr -d ' ')" 2 "records of agency moj"
ok "$CYMAT" -C ledger.git log --author moj/csirt --json
assert_out "\"id\":\"$id\""
assert_out '"status":"valid"'
ok "$CYMAT" -C ledger.git log --since 2999-01-01T00:00:00Z
[ ! -s "$T/out" ] || fail "log --since the future lists records"
ok "$CYMAT" -C ledger.git log --until 2000-01-01T00:00:00Z
[ ! -s "$T/out" ] || fail "log --until the past lists records"
expect 2 "$CYMAT" -C ledger.git log --since yesterday
exit 0
