#!/bin/sh
# A commit that changes the bytes of an existing record file is rejected
# (FORMAT-4), even when the new bytes are a valid record file themselves.
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
ok note moj-csirt "original"
id=$(last_id)
path=$(record_path "$id")
git -C ledger.git cat-file blob "main:$path" >orig.json
sed 's/original/modified/' orig.json >bad.json
commit_change ledger.git "note: rewrite history" add "$path" bad.json
run "$CYMAT" -C ledger.git verify
expect_finding_path record-modified "$path"
# The rewrite is also caught in a fresh clone without any cache.
git clone -q ledger.git audit || fail "git clone failed"
run "$CYMAT" -C audit verify --no-cache --root "$ROOT"
expect_finding_path record-modified "$path"
exit 0
