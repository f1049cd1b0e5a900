# shellcheck shell=bash
# dpdk.sh - helpers for the end-to-end tests that run DPDK's testpmd against vwire (source it
# after common.sh): 2 MB hugepages for the EAL, and testpmd's statistics read from its output.

# hugepages_setup MB PREFIX - reserve free 2 MB pages for a DPDK process of MB megabytes (and
# its EAL's own) and set HUGE_DIR to a hugetlbfs mount: /dev/hugepages if mounted, else a
# private one of the test. Cleanup takes back exactly the pages added here, which restores the
# previous count, and leaves alone any that another user added meanwhile; it also removes the
# EAL files of --file-prefix PREFIX. Skips when the kernel has no 2 MB pages to give.
HUGE_DIR=
hugepages_setup() {
	local HP_NEED=$(($1 / 2 + 16)) PREFIX=$2 free add
	local HP_SYS=/sys/kernel/mm/hugepages/hugepages-2048kB
	[[ -w $HP_SYS/nr_hugepages ]] || e2e_skip "no 2 MB hugepages in this kernel"
	free=$(cat "$HP_SYS/free_hugepages")
	if ((free < HP_NEED)); then
		add=$((HP_NEED - free))
		on_cleanup "echo \$((\$(cat $HP_SYS/nr_hugepages) - $add)) >$HP_SYS/nr_hugepages"
		echo $(($(cat "$HP_SYS/nr_hugepages") + add)) >"$HP_SYS/nr_hugepages"
		free=$(cat "$HP_SYS/free_hugepages")
		((free >= HP_NEED)) || e2e_skip "could reserve only $free of $HP_NEED 2 MB hugepages"
	fi
	if awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
		HUGE_DIR=/dev/hugepages
	else
		HUGE_DIR=$E2E_TMP/huge
		mkdir "$HUGE_DIR"
		mount -t hugetlbfs -o pagesize=2M nodev "$HUGE_DIR"
		on_cleanup "umount $HUGE_DIR"
	fi
	# The EAL's files of this run (left behind if testpmd is killed).
	on_cleanup "rm -rf $HUGE_DIR/${PREFIX}map_* /var/run/dpdk/$PREFIX"
}

# testpmd_stats LOG [PORTS] - one line per port (PORTS, default 2) from testpmd's output: "port rx tx rx_dropped
# tx_dropped errors blocks rx_bytes last_rx prev_rx last_rx_pps" (final forward statistics,
# then the periodic NIC statistics: their count, the last block's bytes and packets, the
# packets of the block before it and the last rate).
testpmd_stats() {
	# Counters pass through as text: awk's numbers would print large ones as 1.2e+09.
	awk -v ports="${2:-2}" '
	function n(v) { return v == "" ? "0" : v }
	/NIC statistics for port/ { p = $(NF - 1); nic = 1; fwd = 0; blocks[p]++ }
	/Forward statistics for port/ { p = $(NF - 1); fwd = 1; nic = 0 }
	/Accumulated forward statistics/ { fwd = 0; nic = 0 }
	nic && /RX-packets:/ { prev[p] = last[p]; last[p] = $2; bytes[p] = $6
				 if ($4 != 0) err[p] = "1" }
	nic && /RX-errors:/ { if ($2 != 0) err[p] = "1" }
	nic && /TX-packets:/ { if ($4 != 0) err[p] = "1" }
	nic && /Rx-pps:/ { pps[p] = $2 }
	fwd && /RX-packets:/ { rx[p] = $2; rxd[p] = $4 }
	fwd && /TX-packets:/ { tx[p] = $2; txd[p] = $4 }
	END {
		for (p = 0; p < ports; p++)
			print p, n(rx[p]), n(tx[p]), n(rxd[p]), n(txd[p]), n(err[p]), n(blocks[p]),
			      n(bytes[p]), n(last[p]), n(prev[p]), n(pps[p])
	}' "$1"
}
