#!/usr/bin/env bash
# install.sh - vwire as `meson install` leaves it, run from a scratch DESTDIR.
# Promises checked:
#   - meson install puts vwire, vwirectl, both man pages, the systemd template unit and the
#     example configurations under the prefix;
#   - the installed vwire prints its version on one line, runs an installed example
#     configuration, and tells a service manager (NOTIFY_SOCKET, as systemd's Type=notify)
#     READY=1 only once its vhost-user socket exists, then STOPPING=1 on SIGTERM (exit 0);
#     the installed vwirectl talks to it;
#   - systemd-analyze verify finds nothing to say about the unit;
#   - the man page agrees with the binary: every option each `-netdev/-device/-object
#     TYPE,help` lists, every option of `vwire -h` and every QMP command of query-commands
#     is in it, and groff renders both pages without a warning.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_cmd meson python3 groff
require_vwire
build=$(dirname "$VWIRE")
[[ -f $build/build.ninja ]] || e2e_skip "$build is not a meson build directory"

root=$E2E_TMP/root
meson install -C "$build" --destdir "$root" --quiet >"$E2E_TMP/install.log" 2>&1 ||
	{ cat "$E2E_TMP/install.log" >&2; e2e_fail "meson install failed"; }
prefix=$(meson introspect --buildoptions "$build" |
	python3 -c 'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
p=$root$prefix
for f in bin/vwire bin/vwirectl share/man/man1/vwire.1 share/man/man1/vwirectl.1 \
	lib/systemd/system/vwire@.service share/doc/vwire/examples/user.conf \
	share/doc/vwire/examples/tap-switch.conf; do
	[[ -e $p/$f ]] || e2e_fail "not installed: $prefix/$f"
done
[[ -x $p/bin/vwire && -x $p/bin/vwirectl ]] || e2e_fail "the programs are not executable"
e2e_log "installed under $prefix: programs, man pages, unit, examples"

# The installed programs.
"$p/bin/vwire" -version >"$E2E_TMP/version" || e2e_fail "installed vwire -version failed"
[[ $(wc -l <"$E2E_TMP/version") == 1 ]] && grep -q "^vwire version " "$E2E_TMP/version" ||
	e2e_fail "installed vwire -version: $(cat "$E2E_TMP/version")"
example=tap-switch.conf
"$p/bin/vwire" -netdev help | e2e_grep -x user && example=user.conf
sed "s#/run/vwire#$E2E_TMP#g; s#vwire0#$(e2e_ifname vwin)#" \
	"$p/share/doc/vwire/examples/$example" >"$E2E_TMP/example.conf"
sock=$(awk -F'"' '/socket =/ { print $2; exit }' "$E2E_TMP/example.conf")
[[ -n $sock ]] || e2e_fail "no socket in the example $example"

# A service manager's socket: report each datagram with whether the vhost-user socket
# existed when it came.
notify=$E2E_TMP/notify.sock
python3 - "$notify" "$sock" >"$E2E_TMP/notify.log" 2>&1 <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
for _ in range(2):
    msg = s.recv(4096).decode()
    print("%s socket=%s" % (msg.replace("\n", ";"), os.path.exists(sys.argv[2])), flush=True)
EOF
npid=$!
record_pid "$npid"
wait_for_socket "$notify" 10 || e2e_fail "the notify listener did not start"
qmp=$E2E_TMP/qmp.sock
NOTIFY_SOCKET=$notify spawn -o "$E2E_TMP/vwire.log" "$p/bin/vwire" -readconfig "$E2E_TMP/example.conf" \
	-qmp "unix:$qmp,server=on,wait=off"
vpid=$SPAWN_PID
wait_for_log_line "$E2E_TMP/notify.log" "READY=1" 20 ||
	{ cat "$E2E_TMP/vwire.log" >&2; e2e_fail "no READY=1 from vwire"; }
grep -q "^READY=1;MAINPID=$vpid socket=True$" "$E2E_TMP/notify.log" ||
	e2e_fail "READY=1 without MAINPID or before the socket existed: $(cat "$E2E_TMP/notify.log")"
"$p/bin/vwirectl" -s "$qmp" info network >"$E2E_TMP/info" ||
	e2e_fail "installed vwirectl: $(cat "$E2E_TMP/info")"
grep -q "^v0: \|^vm0: " "$E2E_TMP/info" || e2e_fail "vwirectl info network: $(cat "$E2E_TMP/info")"
kill -TERM "$vpid"
st=0
wait "$vpid" || st=$?
forget_pid "$vpid"
((st == 0)) || e2e_fail "installed vwire exited $st on SIGTERM"
wait "$npid" || e2e_fail "the notify listener: $(cat "$E2E_TMP/notify.log")"
forget_pid "$npid"
grep -q "^STOPPING=1 " "$E2E_TMP/notify.log" || e2e_fail "no STOPPING=1: $(cat "$E2E_TMP/notify.log")"
e2e_log "installed vwire ran $example: READY=1 after its socket existed, STOPPING=1 on SIGTERM"

# The unit, with ExecStart pointing at the installed binary (verify wants it to exist).
if command -v systemd-analyze >/dev/null; then
	sed "s#$prefix/bin/vwire#$p/bin/vwire#" "$p/lib/systemd/system/vwire@.service" \
		>"$E2E_TMP/vwire@vm0.service"
	grep -q "^Type=notify$" "$E2E_TMP/vwire@vm0.service" || e2e_fail "the unit is not Type=notify"
	systemd-analyze verify --man=no "$E2E_TMP/vwire@vm0.service" >"$E2E_TMP/verify" 2>&1 ||
		e2e_fail "systemd-analyze verify failed: $(cat "$E2E_TMP/verify")"
	[[ ! -s $E2E_TMP/verify ]] || e2e_fail "systemd-analyze verify: $(cat "$E2E_TMP/verify")"
	e2e_log "systemd-analyze verify: nothing to say about vwire@.service"
else
	e2e_log "no systemd-analyze: the unit is not verified"
fi

# The man page against the binary.
man1=$p/share/man/man1/vwire.1
for page in "$man1" "$p/share/man/man1/vwirectl.1"; do
	groff -man -Tutf8 -wall "$page" 2>"$E2E_TMP/groff" >/dev/null
	[[ ! -s $E2E_TMP/groff ]] || e2e_fail "groff on $(basename "$page"): $(cat "$E2E_TMP/groff")"
done
text=$E2E_TMP/vwire.txt
# The page as a reader sees it, one word a line, with roff's minus signs as plain hyphens.
groff -man -Tutf8 "$man1" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g; s/.\x08//g; s/\xe2\x88\x92/-/g' |
	tr -s ' \t,[]|' '\n' >"$text"
n=0
for opt in -netdev -device -object; do
	for type in $("$p/bin/vwire" "$opt" help | tail -n +2); do
		grep -qx -- "$type" "$text" || e2e_fail "man page: no $opt $type"
		for name in $("$p/bin/vwire" "$opt" "$type,help" | tail -n +2 | awk '{ print $1 }'); do
			grep -qx -- "$name" "$text" || e2e_fail "man page: $opt $type has no option $name"
			n=$((n + 1))
		done
	done
done
for name in $("$p/bin/vwire" -h | grep -oE '^  -[a-z-]+|, --?[a-z]+' | tr -d ' ,'); do
	grep -qx -- "$name" "$text" || e2e_fail "man page: no $name (vwire -h has it)"
done
spawn -o "$E2E_TMP/q.log" "$p/bin/vwire" -qmp "unix:$qmp,server=on,wait=off"
qpid=$SPAWN_PID
wait_for_socket "$qmp" 10 || e2e_fail "vwire with only a QMP socket did not start"
cmds=$("$p/bin/vwirectl" -s "$qmp" qmp query-commands |
	python3 -c 'import json, sys; print("\n".join(c["name"] for c in json.load(sys.stdin)))')
kill_pid "$qpid"
[[ -n $cmds ]] || e2e_fail "query-commands returned nothing"
for c in $cmds; do
	grep -qx -- "$c" "$text" || e2e_fail "man page: no QMP command $c"
done
e2e_log "man page: $n type options, vwire -h and $(wc -w <<<"$cmds") QMP commands all in it"
echo "PASS: $E2E_NAME"
