#!/bin/bash
# build-initramfs.sh - builds the kernel + initramfs pair of the vwire e2e test guest.
#
# Design (the simplest one that stays robust under TCG):
#  - Kernel: Debian's linux-image-amd64 (its versioned dependency package), fetched with
#    `apt-get download` into the cache and unpacked with dpkg-deb -x into a scratch dir; the
#    host's /boot and /lib/modules are never touched.  The virtio modules (virtio_ring, virtio,
#    virtio_pci_*_dev, virtio_pci, failover, net_failover, virtio_net) are modules in Debian's
#    config; their closure is resolved from each .ko's "depends=" and loaded by /init with insmod
#    in dependency order (list in /etc/vwire-modules).
#  - Userland: busybox-static (all applets), plus the host's iperf3 and iputils ping with the
#    shared libraries ldd names, so both run in the guest as on the host.  Debian's static
#    busybox sh runs its applets before searching PATH, so /etc/vwire-profile (sourced before
#    every vwire.cmd and ttyS1 command) defines ping/ping6 as functions calling /usr/bin/ping;
#    a nested `sh -c` gets busybox's ping unless it names /usr/bin/ping.
#  - /init (tests/e2e/guest/init) is configured from vwire.* kernel parameters, reports on the
#    first serial port (ttyS0, the log file) with "VWIRE-..." marker lines, and
#    /bin/vwire-ctl serves commands on the second serial port (ttyS1): the host writes
#    "TAG BASE64(command)\n", the guest answers "VWIRE-CTL-BEGIN TAG", the command's output,
#    "VWIRE-CTL-END TAG rc=N".  tests/e2e/lib/guest.sh drives both sides.
#
# Kernel command-line knobs read by /init:
#   vwire.ip=ADDR/PREFIX     static IPv4 address of eth0
#   vwire.ip6=ADDR/PREFIX    static IPv6 address of eth0 (DAD disabled)
#   vwire.gw=ADDR            default IPv4 route via ADDR
#   vwire.dhcp=1             run udhcpc on eth0 (e.g. for -netdev user / a DHCP server)
#   vwire.mtu=N              MTU of eth0
#   vwire.cmd="CMD"          command run once the guest is ready (no double quotes inside)
#   vwire.cmd64=BASE64       same, base64 of any shell text (what guest.sh passes)
#   vwire.poweroff=1         power off (poweroff -f) after the command, or at once if none
#   vwire.ctl=0              do not start the control loop on ttyS1
# Console markers: VWIRE-GUEST-BOOT, VWIRE-NET: ..., VWIRE-ERROR: ..., VWIRE-GUEST-READY,
#   VWIRE-CMD-BEGIN, <output>, VWIRE-RESULT: rc=N, VWIRE-POWEROFF.
#
# Output: ${VWIRE_CACHE:-$HOME/.cache/vwire}/guest/{kernel,initramfs.cpio,stamp} (kernel is the
# ELF vmlinux, booted by QEMU's PVH entry, or the bzImage if it cannot be unpacked); the
# directory is printed on stdout.  Rebuilt only when the stamp (hash of these scripts, the
# kernel package and every binary and library copied in) changes; --force rebuilds anyway.
# Exit status: 0 built or up to date, 77 a needed tool or package is missing, 1 other failure.
set -euo pipefail

GUEST_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${VWIRE_CACHE:-${HOME:-/tmp}/.cache/vwire}
OUT=$CACHE_ROOT/guest
KERNEL_META=linux-image-amd64
# Modules the guest needs (dependencies are added automatically).
WANT_MODULES="virtio_pci virtio_net e1000 8021q"
# Binaries copied from the host with their libraries: path in host = path in guest.
HOST_BINS="/usr/bin/iperf3 /usr/bin/ping"

force=0
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-initramfs.sh: unknown argument $arg" >&2; exit 1 ;;
	esac
done

log() { echo "build-initramfs: $*" >&2; }
missing() { echo "build-initramfs: SKIP: $*" >&2; exit 77; }

# Resolve a command to a real path; iputils' ping lives in /bin on some installs.
host_bin() {
	local p=$1
	[[ -x $p ]] && { echo "$p"; return; }
	command -v "$(basename "$p")" || return 1
}

check_tools() {
	local t
	for t in apt-get apt-cache dpkg-deb ldd sha256sum flock find od; do
		command -v "$t" >/dev/null || missing "command $t not found"
	done
	if [[ ! -x /bin/busybox ]] || ! /bin/busybox --list | grep -x cpio >/dev/null; then
		missing "/bin/busybox (static) not found: apt-get install -y busybox-static"
	fi
	file_is_static /bin/busybox || missing "/bin/busybox is not static: apt-get install -y busybox-static"
	host_bin /usr/bin/iperf3 >/dev/null || missing "iperf3 not found: apt-get install -y iperf3"
	host_bin /usr/bin/ping >/dev/null || missing "ping not found: apt-get install -y iputils-ping"
}

file_is_static() {
	! ldd "$1" >/dev/null 2>&1
}

# Versioned kernel package behind the meta package, e.g. linux-image-6.1.0-56-amd64.
kernel_pkg() {
	apt-cache depends "$KERNEL_META" 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# Make sure a kernel .deb is in $CACHE_ROOT/debs and print its path.
kernel_deb() {
	local pkg deb
	pkg=$(kernel_pkg)
	if [[ -z $pkg ]]; then
		log "apt has no $KERNEL_META; running apt-get update"
		apt-get update >/dev/null 2>&1 || true
		pkg=$(kernel_pkg)
	fi
	mkdir -p "$CACHE_ROOT/debs"
	if [[ -n $pkg ]]; then
		local ver
		ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2; exit }')
		deb=$(ls "$CACHE_ROOT/debs/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
		if [[ -z $deb ]]; then
			log "downloading $pkg $ver"
			if (cd "$CACHE_ROOT/debs" &&
				apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null); then
				deb=$(ls "$CACHE_ROOT/debs/${pkg}_"*.deb | sort -V | tail -n1)
			else
				# Stale apt lists name a version the archive dropped: an older kernel does.
				deb=$(ls "$CACHE_ROOT/debs"/linux-image-*.deb 2>/dev/null | sort -V |
					tail -n1 || true)
				[[ -n $deb ]] || missing "cannot download $pkg (apt-get download failed)"
				log "download failed; using the cached $(basename "$deb")"
			fi
		fi
	else
		# No apt metadata at all: fall back to a kernel fetched earlier.
		deb=$(ls "$CACHE_ROOT/debs"/linux-image-*.deb 2>/dev/null | sort -V | tail -n1 || true)
		[[ -n $deb ]] || missing "no $KERNEL_META in apt and none cached"
	fi
	echo "$deb"
}

# Shared libraries (and the ELF interpreter) a dynamic binary needs, one path a line.
binary_libs() {
	ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

# Inputs whose change forces a rebuild.
compute_stamp() {
	local deb=$1 b
	{
		echo "deb $(basename "$deb")"
		echo "modules $WANT_MODULES"
		# Contents only: the same script reached by another path is the same input.
		cat "$GUEST_SRC/build-initramfs.sh" "$GUEST_SRC/init" "$GUEST_SRC/vwire-ctl" \
			"$GUEST_SRC/udhcpc.script" | sha256sum
		sha256sum /bin/busybox
		for b in $HOST_BINS; do
			b=$(host_bin "$b")
			sha256sum "$b"
			binary_libs "$b" | xargs -r readlink -f | xargs -r sha256sum
		done
	} | sha256sum | cut -d' ' -f1
}

# Copy a host file to the same path under the staging root, following symlinks.
copy_host_file() {
	local src=$1 root=$2
	mkdir -p "$root$(dirname "$src")"
	cp -L "$src" "$root$src"
}

# Unpack the ELF vmlinux from a bzImage.  QEMU boots it through its PVH entry point, which skips
# the firmware's real-mode loader and the in-guest decompression: under TCG that saves ~3 s a boot.
# Fails (and the bzImage is used) when no known compressed stream yields an ELF file.
extract_vmlinux() {
	local bz=$1 out=$2 magic off dec
	for magic in xz zstd gzip; do
		case $magic in
		xz) off=$(LC_ALL=C grep -aboF $'\xfd7zXZ' "$bz" | head -n1 | cut -d: -f1); dec="xz -dc" ;;
		zstd) off=$(LC_ALL=C grep -aboF $'\x28\xb5\x2f\xfd' "$bz" | head -n1 | cut -d: -f1); dec="zstd -dc" ;;
		gzip) off=$(LC_ALL=C grep -aboF $'\x1f\x8b\x08' "$bz" | head -n1 | cut -d: -f1); dec="gzip -dc" ;;
		esac
		if [[ -z $off ]] || ! command -v "${dec%% *}" >/dev/null; then
			continue
		fi
		# The stream is followed by the rest of the image: ignore the decoder's complaint.
		tail -c +$((off + 1)) "$bz" | $dec >"$out" 2>/dev/null || true
		[[ $(head -c4 "$out" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] && return 0
	done
	rm -f "$out"
	return 1
}

# Find the .ko of a module (dashes and underscores are equal in module names).
module_file() {
	local kdir=$1 name=$2
	find "$kdir" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) -print -quit
}

module_depends() {
	local file=$1
	case $file in
	*.ko.xz) xz -dc "$file" ;;
	*.ko.zst) zstd -dc "$file" ;;
	*) cat "$file" ;;
	esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '
}

# Append a module and (first) its dependencies to the ordered list in $ORDERED.
ORDERED=()
add_module() {
	local kdir=$1 name=$2 dep file m
	for m in "${ORDERED[@]}"; do
		[[ ${m%%:*} == "$name" ]] && return 0
	done
	file=$(module_file "$kdir" "$name")
	[[ -n $file ]] || { log "module $name not found in kernel package"; return 1; }
	for dep in $(module_depends "$file"); do
		add_module "$kdir" "$dep"
	done
	ORDERED+=("$name:$file")
}

build() {
	local deb=$1 stamp=$2 tmp root kdir b lib entry name file applet
	tmp=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	log "unpacking $(basename "$deb")"
	dpkg-deb -x "$deb" "$tmp/pkg"
	kdir=$(ls -d "$tmp"/pkg/lib/modules/*/kernel | head -n1)

	root=$tmp/root
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lib/modules/vwire}
	chmod 1777 "$root/tmp"

	cp /bin/busybox "$root/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[[ $applet == busybox ]] && continue
		ln -s busybox "$root/bin/$applet"
	done

	# Debian's static busybox runs its own applets before searching PATH, so a host binary
	# that shares an applet's name (ping) is reached through a function in /etc/vwire-profile,
	# which /init and vwire-ctl source before every command.
	echo "# Sourced before each command: host tools win over busybox applets of the same name." \
		>"$root/etc/vwire-profile"
	for b in $HOST_BINS; do
		mkdir -p "$root$(dirname "$b")"
		cp -L "$(host_bin "$b")" "$root$b"
		for lib in $(binary_libs "$(host_bin "$b")"); do
			copy_host_file "$lib" "$root"
		done
		applet=$(basename "$b")
		if [[ -e $root/bin/$applet ]]; then
			rm "$root/bin/$applet"
			echo "$applet() { $b \"\$@\"; }" >>"$root/etc/vwire-profile"
		fi
	done
	[[ -e $root/usr/bin/ping && -L $root/bin/ping6 ]] &&
		rm "$root/bin/ping6" && echo 'ping6() { /usr/bin/ping -6 "$@"; }' >>"$root/etc/vwire-profile"

	for name in $WANT_MODULES; do
		add_module "$kdir" "$name"
	done
	: >"$root/etc/vwire-modules"
	for entry in "${ORDERED[@]}"; do
		name=${entry%%:*}
		file=${entry#*:}
		case $file in
		*.ko.xz) xz -dc "$file" >"$root/lib/modules/vwire/$name.ko" ;;
		*.ko.zst) zstd -dc "$file" >"$root/lib/modules/vwire/$name.ko" ;;
		*) cp "$file" "$root/lib/modules/vwire/$name.ko" ;;
		esac
		echo "$name.ko" >>"$root/etc/vwire-modules"
	done
	log "modules: $(tr '\n' ' ' <"$root/etc/vwire-modules")"

	install -m 0755 "$GUEST_SRC/init" "$root/init"
	install -m 0755 "$GUEST_SRC/vwire-ctl" "$root/bin/vwire-ctl"
	install -m 0755 "$GUEST_SRC/udhcpc.script" "$root/etc/udhcpc.script"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
	echo vwire-guest >"$root/etc/hostname"

	# Uncompressed: decompressing under TCG costs more than loading a few more MB.
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		/bin/busybox cpio -o -H newc -R 0:0 2>/dev/null) >"$tmp/initramfs.cpio"
	if ! extract_vmlinux "$tmp"/pkg/boot/vmlinuz-* "$tmp/kernel"; then
		log "cannot unpack vmlinux (xz-utils missing?): using the bzImage, boots ~3 s slower"
		cp "$tmp"/pkg/boot/vmlinuz-* "$tmp/kernel"
	fi

	mkdir -p "$OUT"
	rm -f "$OUT/stamp"
	mv "$tmp/kernel" "$OUT/kernel"
	mv "$tmp/initramfs.cpio" "$OUT/initramfs.cpio"
	echo "$stamp" >"$OUT/stamp"
	log "built $OUT (kernel $(du -h --apparent-size "$OUT/kernel" | cut -f1), initramfs $(du -h --apparent-size "$OUT/initramfs.cpio" | cut -f1))"
	rm -rf "$tmp"
	trap - EXIT
}

main() {
	local deb stamp
	check_tools
	mkdir -p "$CACHE_ROOT"
	# One builder at a time; the others wait and then find the result up to date.
	exec 9>"$CACHE_ROOT/.guest.lock"
	flock 9
	deb=$(kernel_deb)
	stamp=$(compute_stamp "$deb")
	if ((force == 0)) && [[ -f $OUT/stamp && $(cat "$OUT/stamp") == "$stamp" &&
		-f $OUT/kernel && -f $OUT/initramfs.cpio ]]; then
		log "up to date: $OUT"
	else
		build "$deb" "$stamp"
	fi
	echo "$OUT"
}

main
