#!/bin/sh
# cymat-syncd's config: every kind of mistake is refused with the file, the
# line and the key; --check-config loads the key and opens the ledger too;
# `cymat sync` refuses a bad config the same way.
. "$(dirname "$0")/lib.sh"
. "$TOP_SRCDIR/tests/e2e/lib-syncd.sh"

syncd_ledger

# good: a valid config in conf/ (relative paths are from the config's directory).
mkdir conf
cat >conf/good.conf <<EOF
# a comment
[node]
key = $K/node.key
principal = moj/syncd
	agency = moj     ; indented, with a comment
ledger = ../ledger.git
mode = agency
log_level = debug

[sync]
poll_interval = 5m
backoff_base = 10s
backoff_cap = 1h
transfer_deadline = 90
max_bytes = 64M
max_objects = 100000

[remote "nisc"]
url = git://127.0.0.1:9/ledger.git
role = master

[remote "mof-peer"]
url = file://$T/elsewhere.git
role = peer
EOF
ok "$SYNCD" --check-config -c conf/good.conf
assert_out "ok: mode agency, agency moj"
assert_out "$T/conf/../ledger.git"
assert_out "2 remotes"

# bad LINE MESSAGE: conf/bad.conf is refused with "conf/bad.conf:LINE: MESSAGE".
bad() {
	expect 1 "$SYNCD" --check-config -c conf/bad.conf
	assert_err "conf/bad.conf:$1: $2"
	# The client reads configs with the same code, and says the same.
	expect 3 "$CYMAT" sync --config conf/bad.conf
	assert_err "cymat sync: conf/bad.conf:$1: $2"
}

node_section() {
	printf '[node]\nkey = %s\nprincipal = moj/syncd\nagency = moj\nledger = %s\nmode = agency\n' \
		"$K/node.key" "$T/ledger.git"
}
remote_section() {
	printf '[remote "nisc"]\nurl = git://127.0.0.1:9/x\nrole = master\n'
}

say "unknown key, with its section"
{ node_section; echo "frobnicate = 1"; remote_section; } >conf/bad.conf
bad 7 'unknown key "frobnicate" in [node]'
say "unknown section, even an empty one"
{ node_section; remote_section; echo "[wat]"; } >conf/bad.conf
bad 10 'unknown section [wat]'
say "bad durations, sizes and counts"
{ node_section; printf '[sync]\npoll_interval = 5x\n'; remote_section; } >conf/bad.conf
bad 8 'poll_interval: "5x" is not a duration'
{ node_section; printf '[sync]\nbackoff_base = 0\n'; remote_section; } >conf/bad.conf
bad 8 'backoff_base: "0" is not a duration'
{ node_section; printf '[sync]\nmax_bytes = 99999999999999999999999\n'; remote_section; } >conf/bad.conf
bad 8 'max_bytes: "99999999999999999999999" is not a size'
{ node_section; printf '[sync]\nmax_objects = -3\n'; remote_section; } >conf/bad.conf
bad 8 'max_objects: "-3" is not a count'
{ node_section; printf '[sync]\ntransfer_deadline = 10 # seconds\n'; remote_section; } >conf/bad.conf
bad 8 'transfer_deadline: "10 # seconds" is not a duration'
say "missing required keys, at their section's line"
{ printf '# x\n[node]\nprincipal = moj/syncd\nagency = moj\nledger = l\nmode = agency\n'
  remote_section; } >conf/bad.conf
bad 2 '[node] lacks "key"'
{ node_section; printf '[remote "nisc"]\nurl = git://x/y\n'; } >conf/bad.conf
bad 7 '[remote "nisc"] lacks "role"'
{ node_section; printf '\n[remote "nisc"]\nrole = peer\n'; } >conf/bad.conf
bad 8 '[remote "nisc"] lacks "url"'
say "repeated keys and sections"
{ node_section; echo "mode = master"; remote_section; } >conf/bad.conf
bad 7 'mode repeated (first at line 6)'
{ node_section; remote_section; remote_section; } >conf/bad.conf
bad 10 'remote "nisc" repeated (first at line 7)'
{ node_section; remote_section; echo "[node]"; } >conf/bad.conf
bad 10 'section [node] repeated (first at line 1)'
say "bad values"
{ node_section; printf '[remote "nisc"]\nurl = git://x/y\nrole = boss\n'; } >conf/bad.conf
bad 9 'role: "boss" is neither "master" nor "peer"'
{ node_section | sed 's/^mode = agency/mode = relay/'; remote_section; } >conf/bad.conf
bad 6 'mode: "relay" is neither "agency" nor "master"'
{ node_section | sed 's/^mode = agency/mode = master/'; remote_section; } >conf/bad.conf
bad 6 'mode = master needs agency = nisc, not "moj"'
{ node_section | sed 's/^principal = .*/principal = mof\/syncd/'; remote_section; } >conf/bad.conf
bad 3 'principal: "mof/syncd" is not of agency "moj"'
{ node_section; printf '[remote "NISC"]\nurl = x\nrole = peer\n'; } >conf/bad.conf
bad 7 'remote name "NISC"'
{ node_section; echo "log_level = loud"; remote_section; } >conf/bad.conf
bad 7 'log_level: "loud" is not one of'
{ node_section; printf '[sync]\nbackoff_base = 2h\nbackoff_cap = 1h\n'; remote_section; } >conf/bad.conf
bad 9 'backoff_cap: 3600s is less than backoff_base 7200s'
{ node_section; printf '[sync]\ncheckpoint_interval = 1h\n'; remote_section; } >conf/bad.conf
bad 8 'checkpoint_interval: only for mode = master'
{ node_section; } >conf/bad.conf
bad 6 'mode = agency needs at least one [remote "NAME"]'
say "syntax"
{ echo "key = x"; node_section; remote_section; } >conf/bad.conf
bad 1 'key "key" before any section'
{ node_section; echo "just words"; remote_section; } >conf/bad.conf
bad 7 'expected "key = value"'
{ node_section; echo "url: git://x"; remote_section; } >conf/bad.conf
bad 7 'expected "key = value"'
{ node_section; echo "[remote nisc]"; } >conf/bad.conf
bad 7 'remote section wants a quoted name'
{ node_section; printf 'agency =\n'; remote_section; } >conf/bad.conf
bad 7 'agency repeated (first at line 4)'
{ node_section | sed 's/^agency = moj/agency =/'; remote_section; } >conf/bad.conf
bad 4 'agency: empty value'
{ node_section; printf 'key = /%0300d\n' 0; remote_section; } >conf/bad.conf
bad 7 'line longer than'

say "several problems: each is reported"
{ node_section; echo "a = 1"; echo "b = 2"; remote_section; } >conf/bad.conf
expect 1 "$SYNCD" --check-config -c conf/bad.conf
assert_err 'conf/bad.conf:7: unknown key "a"'
assert_err 'conf/bad.conf:8: unknown key "b"'

say "--check-config loads the key and opens the ledger"
sed "s|^key = .*|key = $T/no-such.key|" conf/good.conf >conf/nokey.conf
expect 1 "$SYNCD" --check-config -c conf/nokey.conf
assert_err "no-such.key"
sed "s|^ledger = .*|ledger = $T/no-such.git|" conf/good.conf >conf/noledger.conf
expect 1 "$SYNCD" --check-config -c conf/noledger.conf
assert_err "no-such.git"
# The X25519 key is not a signing key.
sed "s|^key = .*|key = $K/node.x25519.key|" conf/good.conf >conf/x25519.conf
expect 1 "$SYNCD" --check-config -c conf/x25519.conf
assert_err "not an Ed25519 signing key"
expect 1 "$SYNCD" --check-config -c conf/absent.conf
assert_err "conf/absent.conf: cannot read"

say "usage"
expect 2 "$SYNCD" --frobnicate
assert_err 'unknown option "--frobnicate"'
expect 2 "$SYNCD" -c conf/good.conf extra
ok "$SYNCD" --help
assert_out "--check-config"
ok "$SYNCD" --version
assert_out "cymat-syncd "
ok "$CYMAT" sync --help
assert_out "cymat sync status"
ok "$CYMAT" help sync
assert_out "usage: cymat sync"
expect 2 "$CYMAT" sync --frobnicate
expect 2 "$CYMAT" sync status --bogus
expect 2 "$CYMAT" sync status -v
expect 2 "$CYMAT" -C ledger.git sync --config conf/good.conf
assert_err "drop -C"
exit 0
