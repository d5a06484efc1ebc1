#!/bin/sh
# A commit that deletes a record file is rejected (FORMAT-4).
. "$(dirname "$0")/lib.sh"

make_ledger ledger.git
ok note moj-csirt "to be deleted"
id=$(last_id)
path=$(record_path "$id")
ok note moj-csirt "stays"
commit_change ledger.git "note: delete one" del "$path"
git -C ledger.git cat-file -e "main:$path" 2>/dev/null && fail "the file is still there"
run "$CYMAT" -C ledger.git verify
expect_finding_path record-deleted "$path"
git clone -q ledger.git audit || fail "git clone failed"
run "$CYMAT" -C audit verify --no-cache --root "$ROOT"
expect_finding_path record-deleted "$path"
exit 0
