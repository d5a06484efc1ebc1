# Real git servers on 127.0.0.1 for the end-to-end scripts: source it after lib.sh.
#
#   start_git_daemon DIR    `git daemon` serving the repositories under DIR, push
#                           enabled; sets GIT_DAEMON_URL (git://127.0.0.1:PORT)
#   start_http_git DIR      smart HTTP: `git http-backend` as a CGI of lighttpd,
#                           push enabled (http.receivepack); sets HTTP_GIT_URL
#                           (http://127.0.0.1:PORT/git)
#   track_pid PID           have another child process killed on exit too
#   stop_servers            stop them all (the EXIT trap does it anyway)
# A repository DIR/NAME.git is then at "$GIT_DAEMON_URL/NAME.git" and at
# "$HTTP_GIT_URL/NAME.git".  Each start picks a free port, retries when another
# process takes it first, and returns once the server answers git's protocol.
# A missing server program skips the script (exit 77).

SERVER_PIDS=
trap 'stop_servers; rm -rf "$T"' EXIT

track_pid() {
	SERVER_PIDS="$SERVER_PIDS $1"
}

stop_servers() {
	for sp in $SERVER_PIDS; do
		kill "$sp" 2>/dev/null
	done
	for sp in $SERVER_PIDS; do
		wait "$sp" 2>/dev/null
	done
	SERVER_PIDS=
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' || fail "python3 cannot find a free port"
}

# server_wait PID URL: until `git ls-remote URL` answers; 1 when PID died first.
# The bound (about 30 s) is for a wedged server, never a timing assertion.
server_wait() {
	sw_tries=0
	while [ "$sw_tries" -lt 300 ]; do
		kill -0 "$1" 2>/dev/null || return 1
		git ls-remote "$2" >/dev/null 2>&1 && return 0
		sleep 0.1
		sw_tries=$((sw_tries + 1))
	done
	fail "server at $2 (pid $1) did not answer"
}

# server_probe_repo DIR: an empty repository for server_wait to list.
server_probe_repo() {
	[ -d "$1/probe.git" ] || git init -q --bare "$1/probe.git" || fail "git init probe.git failed"
}

start_git_daemon() {
	gd_base=$(cd "$1" && pwd) || fail "no directory $1"
	[ -x "$(git --exec-path)/git-daemon" ] || skip "git daemon not installed"
	server_probe_repo "$gd_base"
	for gd_try in 1 2 3 4 5; do
		gd_port=$(free_port)
		"$(git --exec-path)/git-daemon" --reuseaddr --listen=127.0.0.1 --port="$gd_port" \
			--base-path="$gd_base" --export-all --enable=receive-pack --informative-errors \
			>"$T/git-daemon.$gd_port.log" 2>&1 &
		gd_pid=$!
		track_pid "$gd_pid"
		if server_wait "$gd_pid" "git://127.0.0.1:$gd_port/probe.git"; then
			GIT_DAEMON_URL=git://127.0.0.1:$gd_port
			export GIT_DAEMON_URL
			say "git daemon on port $gd_port (pid $gd_pid, try $gd_try)"
			return 0
		fi
	done
	cat "$T"/git-daemon.*.log >&2
	fail "git daemon did not start"
}

start_http_git() {
	hg_root=$(cd "$1" && pwd) || fail "no directory $1"
	command -v lighttpd >/dev/null 2>&1 || [ -x /usr/sbin/lighttpd ] ||
		skip "lighttpd not installed (scripts/install-deps installs it)"
	hg_lighttpd=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
	hg_backend=$(git --exec-path)/git-http-backend
	[ -x "$hg_backend" ] || skip "git http-backend not found at $hg_backend"
	server_probe_repo "$hg_root"
	for hg_try in 1 2 3 4 5; do
		hg_port=$(free_port)
		hg_dir=$T/lighttpd.$hg_port
		mkdir -p "$hg_dir/htdocs"
		# The CGI gets only this environment: git's, and what the hook needs.
		cat >"$hg_dir/lighttpd.conf" <<EOF
server.modules = ("mod_alias", "mod_setenv", "mod_cgi")
server.bind = "127.0.0.1"
server.port = $hg_port
server.document-root = "$hg_dir/htdocs"
server.errorlog = "$hg_dir/error.log"
alias.url = ("/git" => "$hg_backend")
\$HTTP["url"] =~ "^/git" {
	cgi.assign = ("" => "")
	setenv.set-environment = (
		"GIT_PROJECT_ROOT" => "$hg_root",
		"GIT_HTTP_EXPORT_ALL" => "1",
		"GIT_CONFIG_NOSYSTEM" => "1",
		"GIT_CONFIG_COUNT" => "1",
		"GIT_CONFIG_KEY_0" => "http.receivepack",
		"GIT_CONFIG_VALUE_0" => "true",
		"HOME" => "$HOME",
		"PATH" => "$PATH",
		"CYMAT_SCHEMAS_DIR" => "${CYMAT_SCHEMAS_DIR:-}"
	)
}
EOF
		"$hg_lighttpd" -D -f "$hg_dir/lighttpd.conf" >"$hg_dir/stderr.log" 2>&1 &
		hg_pid=$!
		track_pid "$hg_pid"
		if server_wait "$hg_pid" "http://127.0.0.1:$hg_port/git/probe.git"; then
			HTTP_GIT_URL=http://127.0.0.1:$hg_port/git
			export HTTP_GIT_URL
			say "lighttpd with git http-backend on port $hg_port (pid $hg_pid, try $hg_try)"
			return 0
		fi
	done
	cat "$T"/lighttpd.*/stderr.log "$T"/lighttpd.*/error.log >&2 2>/dev/null
	fail "lighttpd did not start"
}
