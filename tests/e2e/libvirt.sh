#!/usr/bin/env bash
# libvirt.sh - a libvirt domain attaches to vwire with <interface type='vhostuser'> alone (no
# <qemu:commandline>, no <qemu:override>). libvirtd runs in the foreground as an unprivileged
# user (nobody) in session mode, with its config, cache and runtime dirs in this test's dir;
# vwire runs as that user too, its built-in default (user-mode networking behind the default
# vhost-user socket). The domain: TCG, shared memfd memory, -smp 1,maxcpus=2 as
# <vcpu current='1'>2</vcpu>, direct kernel boot of the e2e test guest (tests/e2e/guest).
# Promises checked: the guest gets 10.0.2.15 by DHCP from vwire, pings 10.0.2.2 and downloads
# a page from the host's loopback intact; virsh domiflist shows the vhostuser interface;
# vwirectl sees the front end connect (VHOST_USER_CONNECTED) and counts the traffic, then see
# it go when the domain is destroyed. Everything it starts and every file it makes is gone at
# the end. Skips when libvirt is not installed or libvirtd cannot run here.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_root
require_cmd libvirtd virsh setpriv qemu-system-x86_64 python3 sha256sum base64
require_vwire --fast
VWIRECTL=${VWIRECTL:-$(dirname "$VWIRE")/vwirectl}
[[ -x $VWIRECTL ]] || e2e_fail "no vwirectl next to $VWIRE (copied there by meson)"
"$VWIRE" -netdev help 2>&1 | e2e_grep -w user || e2e_skip "vwire built without user mode (libslirp)"
guest_build

LV_UID=$(id -u nobody 2>/dev/null) || e2e_skip "no user 'nobody' to run libvirtd as"
LV_GID=$(id -g nobody)
setpriv --reuid="$LV_UID" --regid="$LV_GID" --clear-groups test -r "$VWIRE" ||
	e2e_skip "$VWIRE is not readable by nobody (build the tree where other users can read it)"

# The unprivileged user's home: libvirt's XDG config, cache and runtime dirs, vwire's runtime dir
# (its default sockets), the guest kernel and initramfs, and the guest's console and FIFOs.
chmod 0711 "$E2E_TMP"
home=$E2E_TMP/home
run=$home/run
mkdir -p "$home/config/libvirt" "$home/cache" "$home/data" "$run"
chmod 0700 "$run"
cp "$GUEST_KERNEL" "$home/kernel"
cp "$GUEST_INITRD" "$home/initramfs.cpio"
# No virtlogd: QEMU's output goes straight to a file under the domain's log dir.
echo 'stdio_handler = "file"' >"$home/config/libvirt/qemu.conf"
guest_prepare g
gdir=$GUEST_DIR
chown -R "$LV_UID:$LV_GID" "$home" "$gdir"

# A command prefix, not a function: spawn's PID is then the command's own (both exec).
as_user=(setpriv --reuid="$LV_UID" --regid="$LV_GID" --clear-groups
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$home" XDG_CONFIG_HOME="$home/config"
	XDG_CACHE_HOME="$home/cache" XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$run")
virsh_() { "${as_user[@]}" virsh -q -c qemu:///session "$@"; }

spawn -o "$E2E_TMP/libvirtd.log" "${as_user[@]}" libvirtd
lv_pid=$SPAWN_PID
if ! wait_for_socket "$run/libvirt/libvirt-sock" 20 || ! virsh_ version >/dev/null 2>&1; then
	tail -20 "$E2E_TMP/libvirtd.log" >&2
	e2e_skip "libvirtd cannot run here (log above)"
fi

spawn -o "$E2E_TMP/vwire.out" "${as_user[@]}" "$VWIRE"
vw_pid=$SPAWN_PID
wait_for_socket "$run/vwire.sock" || { cat "$E2E_TMP/vwire.out"; e2e_fail "no vhost-user socket"; }
wait_for_socket "$run/vwire.qmp" || { cat "$E2E_TMP/vwire.out"; e2e_fail "no QMP socket"; }
spawn -o "$E2E_TMP/events.log" "$VWIRECTL" -s "$run/vwire.qmp" events

# A page on the host's loopback, which the guest reaches as 10.0.2.2.
mkdir -p "$E2E_TMP/www"
head -c 200000 /dev/urandom | base64 -w0 >"$E2E_TMP/www/page.txt"
port=$(free_port)
spawn python3 -m http.server --bind 127.0.0.1 --directory "$E2E_TMP/www" "$port"
wait_for_tcp_listen "$port" || e2e_fail "http server did not start"

dom=vwire-e2e-$E2E_SUFFIX
mac=52:54:00:76:77:01
# Under TCG, QEMU 7.2 crashes starting a vhost-user NIC whose MSI-X vectors are in use (see the
# README): libvirt has no vectors= for an interface, so the guest is told not to use MSI
# (pci=nomsi) and the NIC interrupts through INTx, as vectors=0 makes it.
cat >"$home/domain.xml" <<EOF
<domain type='qemu'>
  <name>$dom</name>
  <memory unit='MiB'>512</memory>
  <vcpu current='1'>2</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$home/kernel</kernel>
    <initrd>$home/initramfs.cpio</initrd>
    <cmdline>$GUEST_BASE_APPEND pci=nomsi vwire.dhcp=1</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <interface type='vhostuser'>
      <mac address='$mac'/>
      <source type='unix' path='$run/vwire.sock' mode='client'>
        <reconnect enabled='yes' timeout='1'/>
      </source>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='$gdir/serial.log'/>
      <target port='0'/>
    </serial>
    <serial type='pipe'>
      <source path='$gdir/ctl'/>
      <target port='1'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
chown "$LV_UID:$LV_GID" "$home/domain.xml"
virsh_ define "$home/domain.xml" >/dev/null || e2e_fail "virsh define failed"
virsh_ start "$dom" >/dev/null || { tail -20 "$E2E_TMP/libvirtd.log"; e2e_fail "virsh start failed"; }
qemu_pid=
find_qemu() { qemu_pid=$(cat "$run/libvirt/qemu/run/$dom.pid" 2>/dev/null) && [[ -n $qemu_pid ]]; }
wait_until 10 find_qemu || e2e_fail "no QEMU pid file for $dom"
# Killed by the EXIT trap too, should anything below fail.
record_pid "$qemu_pid"
guest_adopt g "$qemu_pid"
# lv_fail MSG - fail showing libvirt's log of the domain's QEMU (session mode: the cache dir).
lv_fail() {
	tail -n 20 "$home/cache/libvirt/qemu/log/$dom.log" >&2 2>/dev/null || true
	e2e_fail "$@"
}
e2e_log "domain $dom started (QEMU pid $qemu_pid), booting under TCG"

tr '\0' ' ' <"/proc/$qemu_pid/cmdline" | e2e_grep vhost-user ||
	e2e_fail "QEMU has no vhost-user netdev: $(tr '\0' ' ' <"/proc/$qemu_pid/cmdline")"
tr '\0' ' ' <"/proc/$qemu_pid/cmdline" | e2e_grep -- "-smp 1,maxcpus=2" ||
	e2e_fail "QEMU was not given -smp 1,maxcpus=2: $(tr '\0' ' ' <"/proc/$qemu_pid/cmdline")"
grep -q 'VHOST_USER_CONNECTED {"id": "vnet0"' "$E2E_TMP/events.log" ||
	wait_until 10 grep -q 'VHOST_USER_CONNECTED {"id": "vnet0"' "$E2E_TMP/events.log" ||
	e2e_fail "vwirectl events saw no front end connect: $(cat "$E2E_TMP/events.log")"

out=$(virsh_ domiflist "$dom") || e2e_fail "virsh domiflist failed"
grep -qE "vhostuser +.*virtio +$mac" <<<"$out" || e2e_fail "virsh domiflist: $out"
e2e_log "virsh domiflist: $(tr -s ' ' <<<"$out")"

guest_wait_ready g 240 || lv_fail "guest did not boot"
out=$(guest_run g 'ip -4 -o addr show dev eth0') || e2e_fail "guest: ip failed"
grep -q 'inet 10\.0\.2\.15/24' <<<"$out" || e2e_fail "no DHCP lease 10.0.2.15: $out"
e2e_log "DHCP lease 10.0.2.15 from vwire's user mode"
guest_run g -t 60 'ping -c 3 -W 5 10.0.2.2' >/dev/null || e2e_fail "ping 10.0.2.2 from the guest failed"
e2e_log "ping 10.0.2.2 ok"
guest_fetch_check g "http://10.0.2.2:$port/page.txt" "$E2E_TMP/www/page.txt" 90
e2e_log "page downloaded intact from the host's loopback"

stats=$("$VWIRECTL" -s "$run/vwire.qmp" query-netdevs --json) || e2e_fail "vwirectl query-netdevs"
python3 -c 'import json, sys
c = [c for c in json.loads(sys.argv[1]) if c["id"] == "vnet0"][0]
sys.exit(0 if c["rx-bytes"] > 200000 and c["tx-packets"] > 0 else 1)' "$stats" ||
	e2e_fail "vwire counted no traffic on vnet0: $stats"

virsh_ destroy "$dom" >/dev/null || e2e_fail "virsh destroy failed"
wait_until 20 pid_gone "$qemu_pid" || e2e_fail "QEMU still runs after virsh destroy"
forget_pid "$qemu_pid"
wait_until 10 grep -q 'VHOST_USER_DISCONNECTED {"id": "vnet0"' "$E2E_TMP/events.log" ||
	e2e_fail "vwirectl events saw no front end go: $(cat "$E2E_TMP/events.log")"
virsh_ undefine "$dom" >/dev/null || e2e_fail "virsh undefine failed"
stop_vwire_clean "$vw_pid" "$E2E_TMP/vwire.out"
kill_pid "$lv_pid" 10
# Nothing of the user's may outlive the test (libvirtd, QEMU, a helper it spawned).
left=$(pgrep -u "$LV_UID" -a -f "$home" || true)
[[ -z $left ]] || e2e_fail "left running: $left"
e2e_log "libvirt domain with <interface type='vhostuser'> attached to vwire; all cleaned up"
