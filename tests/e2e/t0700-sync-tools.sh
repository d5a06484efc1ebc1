#!/bin/sh
# The test tools of the sync scenarios, checked with stock git against a real
# git daemon: the fault proxy forwards faithfully, and adds latency, drops,
# cuts mid-pack, a stall mid-pack, a blackhole and a server that is down
# when told to; the hostile server trickles its advertisement and streams a
# pack without end.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-sync.sh"
command -v timeout >/dev/null 2>&1 || skip "timeout (coreutils) not installed"
[ -x "$(git --exec-path)/git-daemon" ] || skip "git daemon not installed"

# A repository of about a megabyte, served by git daemon.
mkdir -p srv work
git init -q work || fail "git init failed"
i=0
while [ "$i" -lt 200 ]; do
	head -c 4096 /dev/urandom | od -An -tx1 >"work/f$i" || fail "cannot write work/f$i"
	i=$((i + 1))
done
git -C work add . && git -C work commit -qm data || fail "git commit failed"
git clone -q --bare work srv/data.git || fail "git clone --bare failed"
want=$(git -C srv/data.git rev-parse main)
# git daemon on a free port (another process may take it first: try again).
tries=0
until git ls-remote "git://127.0.0.1:${gd_port:-0}/data.git" >/dev/null 2>&1; do
	tries=$((tries + 1))
	[ "$tries" -le 5 ] || fail "git daemon did not start"
	gd_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$(git --exec-path)/git-daemon" --reuseaddr --listen=127.0.0.1 --port="$gd_port" \
		--base-path="$T/srv" --export-all >"$T/git-daemon.log" 2>&1 &
	track_pid $!
	n=0
	while [ "$n" -lt 100 ] && ! git ls-remote "git://127.0.0.1:$gd_port/data.git" >/dev/null 2>&1; do
		sleep 0.1
		n=$((n + 1))
	done
done
start_proxy p "127.0.0.1:$gd_port"
URL=git://127.0.0.1:$PROXY_PORT/data.git

# fetch_through DIR [SECONDS]: a fresh bare repository DIR fetches main through the proxy,
# killed after SECONDS (default 60); status in $RC.
fetch_through() {
	rm -rf "$1"
	git init -q --bare "$1" || fail "git init failed"
	run timeout "${2:-60}" git -C "$1" fetch -q "$URL" main:refs/heads/main
}

say "no fault: the same commit arrives, and the proxy saw it all"
fetch_through c0
[ "$RC" -eq 0 ] || { show_output; fail "fetch through the proxy failed"; }
assert_eq "$(git -C c0 rev-parse main)" "$want" "commit fetched through the proxy"
git -C c0 fsck --strict >/dev/null 2>&1 || fail "git fsck of the fetched copy failed"
grep -q "^conn 1 close up=[0-9]* down=[0-9][0-9][0-9][0-9][0-9][0-9]" "$T/proxy.p.log" ||
	{ cat "$T/proxy.p.log" >&2; fail "the proxy did not log the transfer"; }

say "latency: slower, still whole"
proxy_mode p latency=20
fetch_through c1
[ "$RC" -eq 0 ] || { show_output; fail "fetch with latency failed"; }
assert_eq "$(git -C c1 rev-parse main)" "$want" "commit fetched with latency"

say "cut mid-pack: the fetch breaks and nothing is half-written"
proxy_mode p cut=200000
fetch_through c2
[ "$RC" -ne 0 ] || fail "a fetch cut mid-pack succeeded"
[ "$(proxy_count p 'cut down at 200000')" -eq 1 ] || { cat "$T/proxy.p.log" >&2; fail "no cut logged"; }
git -C c2 rev-parse -q --verify main >/dev/null && fail "a cut fetch moved main"

say "cut of the client's side, as in a push"
proxy_mode p cutup=20
fetch_through c3
[ "$RC" -ne 0 ] || fail "a fetch whose request was cut succeeded"
[ "$(proxy_count p 'cut up at 20')" -eq 1 ] || { cat "$T/proxy.p.log" >&2; fail "no upward cut logged"; }

say "random drops and cuts with a fixed seed: some connections pass, some do not"
proxy_mode p drop=0.4 cut=300000 cutp=0.3
good=0
tries=0
while [ "$tries" -lt 8 ]; do
	tries=$((tries + 1))
	fetch_through c4
	[ "$RC" -eq 0 ] && good=$((good + 1))
done
say "$good of $tries fetches passed"
[ "$good" -gt 0 ] || fail "no fetch passed a 40% drop"
[ "$good" -lt "$tries" ] || fail "no fault was injected"
[ "$(proxy_count p drop)" -gt 0 ] || fail "no drop logged"

say "down: refused at once"
proxy_mode p down=1
fetch_through c5
[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || { show_output; fail "a fetch from a down server: exit $RC"; }
[ "$(proxy_count p down)" -eq 1 ] || fail "no down logged"

say "stall mid-pack: the client waits for the rest until it is killed"
proxy_mode p stall=200000
fetch_through c7 3
assert_eq "$RC" 124 "exit status of git fetch killed on a link stalled mid-pack"
[ "$(proxy_count p 'stall at 200000')" -eq 1 ] || { cat "$T/proxy.p.log" >&2; fail "no stall logged"; }
git -C c7 rev-parse -q --verify main >/dev/null && fail "a stalled fetch moved main"

say "blackhole: the client waits until it is killed"
proxy_mode p blackhole=1
run timeout 3 git ls-remote "$URL"
assert_eq "$RC" 124 "exit status of git ls-remote killed in a blackhole"
[ "$(proxy_count p blackhole)" -eq 1 ] || fail "no blackhole logged"

say "back to no fault"
proxy_mode p
fetch_through c6
[ "$RC" -eq 0 ] || { show_output; fail "fetch after the faults failed"; }

for proto in git http; do
	say "hostile server over $proto: an endless pack"
	start_hostile "e$proto" endless "$proto"
	case $proto in
	git) HURL=git://127.0.0.1:$HOSTILE_PORT/x.git ;;
	http) HURL=http://127.0.0.1:$HOSTILE_PORT/x.git ;;
	esac
	git init -q --bare "h$proto" || fail "git init failed"
	run timeout 8 git -C "h$proto" fetch "$HURL" main:refs/heads/main
	assert_eq "$RC" 124 "exit status of git fetch killed during an endless pack"
	grep -q "Receiving objects" "$T/err" || { show_output; fail "no objects streamed over $proto"; }
	wait_until "the hostile server's log" grep -q "closed after" "$T/hostile.e$proto.log"
	grep -q "pack started" "$T/hostile.e$proto.log" || fail "no pack over $proto"
	git -C "h$proto" rev-parse -q --verify main >/dev/null && fail "an endless pack moved main"

	say "hostile server over $proto: a trickle"
	start_hostile "t$proto" trickle "$proto"
	case $proto in
	git) HURL=git://127.0.0.1:$HOSTILE_PORT/x.git ;;
	http) HURL=http://127.0.0.1:$HOSTILE_PORT/x.git ;;
	esac
	run timeout 3 git ls-remote "$HURL"
	assert_eq "$RC" 124 "exit status of git ls-remote killed during a trickle"
done
exit 0
