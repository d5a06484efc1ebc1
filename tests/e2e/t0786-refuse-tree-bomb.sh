#!/bin/sh
# Review 7 #2: many tree entries naming one blob cost a sender ~2.4 bytes of
# pack each and the verifier ~1 KB and ~120 us each (an entry and a finding
# per file).  What comes in (a bundle import, a sync from a peer, a push
# through the master's hook) is now walked before it is verified, and
# refused at the first path that is no record file, the first file that is
# no regular one and the first blob that two record paths name, and at the
# first history finding of its commits (files one adds and the next
# deletes), with the path and the rule; nothing of it is kept.  Each bomb
# here is a few thousand paths built with stock git.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-node.sh"

command -v python3 >/dev/null 2>&1 || skip "python3 not installed"

refusal_ledgers
hooked_master
L=evil.git
ok note moj-csirt "moj: one"
good=$(git -C evil.git rev-parse main)
nisc_node_config agency.conf agency.git agency evil "file://$T/evil.git" peer
ok "$CYMAT" -C master.git verify
ok "$CYMAT" -C agency.git verify
ok "$CYMAT" -C hooked.git verify

# bomb MESSAGE: a commit on evil.git's good main adding the lines of
# $T/entries ("MODE BLOB PATH", python's), as main.
bomb() {
	idx=$T/bomb.index
	rm -f "$idx"
	mkdir -p "$T/empty-worktree"
	GIT_INDEX_FILE=$idx GIT_WORK_TREE=$T/empty-worktree git -C evil.git read-tree "$good" ||
		fail "read-tree failed"
	awk '{ printf "%s %s\t%s\n", $1, $2, $3 }' "$T/entries" |
		GIT_INDEX_FILE=$idx GIT_WORK_TREE=$T/empty-worktree \
		git -C evil.git update-index --add --index-info || fail "update-index failed"
	tree=$(GIT_INDEX_FILE=$idx git -C evil.git write-tree) || fail "write-tree failed"
	c=$(git -C evil.git commit-tree "$tree" -p "$good" -m "$1") || fail "commit-tree failed"
	git -C evil.git update-ref refs/heads/main "$c" || fail "update-ref failed"
	rm -f "$idx"
}

# entries FORMAT COUNT MODE BLOB: COUNT lines, path FORMAT % i.
entries() {
	python3 - "$@" >"$T/entries" <<'PY' || fail "python3 failed"
import sys
fmt, count, mode, blob = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
for i in range(count):
    print(mode, blob, fmt % i)
PY
}

# refused PATH RULE CODE WHY [COMMIT]: evil.git's main is refused for the
# file at PATH, by RULE and CODE, for WHY (in COMMIT, "commit <id>", when
# given; then the message names the commit, the findings the path): by a
# bundle import, a sync from it as a peer and a push through the hook.
refused() {
	if [ $# -gt 4 ]; then
		head="$5: $2 $3: $4"
		hook="refused by $2 $3: \"$1\" in $5"
	else
		head="file \"$1\": $2 $3: $4"
		hook="refused by $2 $3: \"$1\""
	fi
	refused_everywhere bomb "bundle \"bomb.bundle\" refused: $head" \
		"remote \"evil\" refused: $(printf '%s' "$head" | cut -c1-100)" "$4" "$hook" "$4"
}

rec=$(git -C evil.git ls-tree -r main records | tail -n 1)
rblob=$(echo "$rec" | cut -d' ' -f3 | cut -f1)
blob=$(printf x | git -C evil.git hash-object -w --stdin) || fail "hash-object failed"
only='what comes in may add records/<id[0:2]>/<id[2:4]>/<id>.json only'

say "3,000 files in records/zz naming one blob"
entries 'records/zz/f%05d' 3000 100644 "$blob"
bomb "note: zz"
refused records/zz/f00000 FORMAT-2 wrong-path "not a record file: $only"

say "3,000 record paths naming one record's blob"
entries 'records/ab/cd/abcd%060x.json' 3000 100644 "$rblob"
bomb "note: same"
first=records/ab/cd/abcd$(printf '%060x' 0).json
second=records/ab/cd/abcd$(printf '%060x' 1).json
refused "$second" FORMAT-2 wrong-path "the same bytes as \"$first\" (one record, one path)"

say "3,000 files outside records/"
entries 'zz/f%05d' 3000 100644 "$blob"
bomb "note: outside"
refused zz/f00000 FORMAT-4 foreign-file "a file outside records/: $only"

say "3,000 symbolic links at record paths"
entries 'records/ab/cd/abcd%060x.json' 3000 120000 "$blob"
bomb "note: links"
refused "$first" FORMAT-4 bad-mode "not a regular, non-executable file (mode 120000): $only"

say "3,000 files outside records/ that the next commit deletes"
entries 'zz/f%05d' 3000 100644 "$blob"
bomb "note: outside"
added=$(git -C evil.git rev-parse main)
gone=$(git -C evil.git commit-tree "$good^{tree}" -p "$added" -m "note: gone") ||
	fail "commit-tree failed"
git -C evil.git update-ref refs/heads/main "$gone" || fail "update-ref failed"
refused zz/f00000 FORMAT-4 foreign-file "a commit adds a file outside records/" "commit $added"

say "the ledgers are whole, and a good main still comes in"
ok "$CYMAT" -C master.git verify
ok "$CYMAT" -C agency.git verify
ok "$CYMAT" -C hooked.git verify
git -C evil.git update-ref refs/heads/main "$good" || fail "update-ref failed"
accepted_everywhere "1 new record"
exit 0
