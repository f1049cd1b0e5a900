// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_tap.c - -netdev tap and -netdev bridge: option errors (any user), then, as root with
 * /dev/net/tun, real taps: frames written through the client come out of the interface (seen
 * on an AF_PACKET socket) and frames sent into the interface reach the client's peer, with
 * or without vnet headers; backpressure stops reading until the peer drains; queues=N makes
 * N clients; fd= takes an open tap; a deleted interface stops only its own client; script=
 * and downscript= run with the interface's name; a burst goes out in order in one io_uring
 * call (or one writev per frame with uring=off); the ring's reads and linked writes (on a
 * pipe): a read that finds nothing and a write that finds no room say EAGAIN, and no write
 * after a failed one is done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/tap.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* IEEE 802 local experimental ethertype: nothing else on the test tap uses it. */
#define TEST_ETHERTYPE 0x88b5
#define TEST_FRAME_LEN 64

struct endpoint {
	struct net_client nc;
	bool accept;
	bool vnet;
	unsigned int budget;
	unsigned int got;
	unsigned int bursts;
	unsigned int max_burst;
	uint8_t tags[256];
	unsigned int flags;
	size_t len;
	uint8_t data[2048];
};

static bool ep_is_test_frame(const uint8_t *frame, size_t len)
{
	return len >= 14 && frame[12] == (TEST_ETHERTYPE >> 8) && frame[13] == (TEST_ETHERTYPE & 0xff);
}

static ssize_t ep_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			  unsigned int flags)
{
	struct endpoint *e = (struct endpoint *)nc;
	size_t off = (flags & NET_FLAG_VNET_HDR) ? NET_VNET_HDR_LEN : 0;
	uint8_t buf[2048];
	size_t len;

	if (!e->accept || !e->budget)
		return 0;
	if (e->budget != UINT_MAX)
		e->budget--;
	len = net_iov_to_buf(iov, iovcnt, 0, buf, sizeof(buf));
	/* The kernel's own traffic on the interface (IPv6 solicitations) is not ours. */
	if (len > off + 14 && ep_is_test_frame(buf + off, len - off)) {
		e->tags[e->got % sizeof(e->tags)] = (uint8_t)(buf[off + 14] - 14);
		e->got++;
		e->flags = flags;
		e->len = len;
		memcpy(e->data, buf, len);
	}
	return (ssize_t)net_iov_size(iov, iovcnt);
}

static bool ep_accepts_vnet_hdr(struct net_client *nc)
{
	return ((struct endpoint *)nc)->vnet;
}

static const struct net_client_ops ep_ops = {
	.type = "ep",
	.size = sizeof(struct endpoint),
	.receive_iov = ep_receive,
	.accepts_vnet_hdr = ep_accepts_vnet_hdr,
};

/* As ep_receive, a burst at a time; records how many bursts came and the largest. */
static unsigned int ep_receive_burst(struct net_client *nc, const struct net_pkt *pkts,
				     unsigned int n)
{
	struct endpoint *e = (struct endpoint *)nc;
	unsigned int i;

	e->bursts++;
	if (n > e->max_burst)
		e->max_burst = n;
	for (i = 0; i < n; i++)
		if (ep_receive(nc, pkts[i].iov, pkts[i].iovcnt, pkts[i].flags) == 0)
			break;
	return i;
}

static const struct net_client_ops ep_burst_ops = {
	.type = "ep",
	.size = sizeof(struct endpoint),
	.receive_iov = ep_receive,
	.receive_burst = ep_receive_burst,
	.accepts_vnet_hdr = ep_accepts_vnet_hdr,
};

static struct loop *loop;

static int setup(void **state)
{
	loop = loop_new();
	return loop ? 0 : -1;
}

static int teardown(void **state)
{
	net_client_free_all();
	loop_free(loop);
	return 0;
}

/* netdev_add() must fail with @code and a message containing @needle. */
static void expect_error(const char *text, int code, const char *needle)
{
	struct error err = { 0 };
	int ret = netdev_add(loop, text, &err);

	if (ret != code || !strstr(err.msg, needle))
		fail_msg("'%s': got %d '%s', wanted %d and '%s'", text, ret, err.msg, code, needle);
	assert_null(net_find("t0"));
}

static void test_option_errors(void **state)
{
	char text[128];
	int devnull;

	expect_error("tap,id=t0,vhost=on", -ENOTSUP, "vhost=on");
	expect_error("tap,id=t0,fd=notanumber", -EINVAL, "fd=notanumber");
	expect_error("tap,id=t0,fd=-3", -EINVAL, "fd=-3");
	expect_error("tap,id=t0,queues=0", -EINVAL, "queues=0");
	expect_error("tap,id=t0,queues=100000", -EINVAL, "queues=100000");
	expect_error("tap,id=t0,fds=100:101:102,queues=2", -EINVAL, "does not match the queues");
	expect_error("tap,id=t0,fd=3,ifname=x", -EINVAL, "invalid with fd=");
	expect_error("tap,id=t0,fd=3,vnet_hdr=on", -EINVAL, "invalid with fd=");
	expect_error("tap,id=t0,fds=3:4,script=/bin/true", -EINVAL, "invalid with fds=");
	expect_error("tap,id=t0,helper=/bin/true,queues=2", -EINVAL, "invalid with helper=");
	expect_error("tap,id=t0,br=br0", -EINVAL, "br=br0: needs helper=");
	expect_error("tap,id=t0,script=/nonexistent/ifup", -ENOENT, "script=/nonexistent/ifup");
	expect_error("tap,id=t0,downscript=/nonexistent/down", -ENOENT, "downscript=");
	expect_error("tap,id=t0,vhostfd=3", -EINVAL, "vhostfd");
	expect_error("tap,id=t0,vnet_hdr=maybe", -EINVAL, "vnet_hdr");
	expect_error("tap,id=t0,uring=maybe", -EINVAL, "uring");
	expect_error("tap,id=t0,fd=999", -EBADF, "fd=999: not an open file descriptor");

	devnull = open("/dev/null", O_RDWR);
	assert_true(devnull >= 0);
	snprintf(text, sizeof(text), "tap,id=t0,fd=%d", devnull);
	expect_error(text, -ENOTTY, "not a tap device");
	snprintf(text, sizeof(text), "tap,id=t0,fds=%d:%d", devnull, devnull);
	expect_error(text, -ENOTTY, "not a tap device");
	/* A failed fd= leaves the fd to its owner. */
	assert_true(fcntl(devnull, F_GETFD) >= 0);
	close(devnull);

	expect_error("bridge,id=t0,helper=/nonexistent/helper", -ENOENT,
		     "helper=/nonexistent/helper");
}

/* A fake helper that fails as qemu-bridge-helper does for a bridge not in its ACL. */
static void test_bridge_helper_failure(void **state)
{
	char dir[] = "/tmp/vwire-test-tap.XXXXXX";
	char path[64], text[160];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/helper", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\necho \"access denied by acl file\" >&2\nexit 1\n");
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);

	snprintf(text, sizeof(text), "bridge,id=t0,br=vwbr0,helper=%s", path);
	expect_error(text, -EIO, "failed with exit status 1: access denied by acl file");
	snprintf(text, sizeof(text), "tap,id=t0,helper=%s", path);
	expect_error(text, -EIO, "(br=br0) failed with exit status 1");

	/* Exits 0 without passing a fd. */
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\nexit 0\n");
	fclose(f);
	snprintf(text, sizeof(text), "bridge,id=t0,helper=%s", path);
	expect_error(text, -EIO, "exited without sending a fd");

	unlink(path);
	rmdir(dir);
}

/* Root part */

static bool have_tun(void)
{
	int fd;

	if (geteuid() != 0)
		return false;
	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

#define SKIP_UNLESS_TUN()                                                                      \
	do {                                                                                   \
		if (!have_tun()) {                                                             \
			print_message("skipped: needs root and /dev/net/tun\n");              \
			skip();                                                                \
		}                                                                              \
	} while (0)

static char ifname[IFNAMSIZ];

static void if_up(const char *name)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char path[96];
	FILE *f;

	assert_true(s >= 0);
	/* No IPv6 chatter from the kernel among the test's frames. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static int packet_socket(const char *name)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)if_nametoindex(name),
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));

	assert_true(s >= 0);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

static void make_frame(uint8_t *frame, uint8_t tag)
{
	memset(frame, 0, TEST_FRAME_LEN);
	memset(frame, 0xff, 6);					/* broadcast */
	memcpy(frame + 6, (uint8_t[]){ 0x52, 0x54, 0, 0x12, 0x34, 0x56 }, 6);
	frame[12] = TEST_ETHERTYPE >> 8;
	frame[13] = TEST_ETHERTYPE & 0xff;
	for (int i = 14; i < TEST_FRAME_LEN; i++)
		frame[i] = (uint8_t)(tag + i);
}

/* Wait for a frame with our ethertype arriving on the interface (not one it sent). */
static bool packet_wait(int s, uint8_t *buf, size_t len, size_t *got)
{
	for (int i = 0; i < 100; i++) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		struct pollfd p = { .fd = s, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = recvfrom(s, buf, len, 0, (struct sockaddr *)&from, &fl);
		if (n > 0 && from.sll_pkttype != PACKET_OUTGOING && ep_is_test_frame(buf, (size_t)n)) {
			*got = (size_t)n;
			return true;
		}
	}
	return false;
}

static void run_until(unsigned int *counter, unsigned int want)
{
	for (int i = 0; i < 100 && *counter < want; i++)
		loop_run_once(loop, 20);
}

static struct endpoint *tap_with_endpoint(const char *opts, bool vnet)
{
	struct error err = { 0 };
	struct endpoint *e;
	char text[160];

	snprintf(ifname, sizeof(ifname), "vwut%d", (int)getpid() % 100000);
	snprintf(text, sizeof(text), "tap,id=t0,ifname=%s%s", ifname, opts);
	if (netdev_add(loop, text, &err) < 0)
		fail_msg("%s: %s", text, err.msg);
	e = (struct endpoint *)net_client_new(&ep_ops, loop, net_find("t0"), NULL, "ep0");
	assert_non_null(e);
	e->accept = true;
	e->budget = UINT_MAX;
	e->vnet = vnet;
	if_up(ifname);
	return e;
}

/* Both directions through a tap, for each combination of tap and peer vnet header. */
static void check_both_ways(struct endpoint *e, bool tap_vnet)
{
	uint8_t frame[TEST_FRAME_LEN], got[2048];
	struct iovec iov = { frame, sizeof(frame) };
	int s = packet_socket(ifname);
	size_t n;

	/* Peer to interface: a plain frame; the tap puts a zero header before it if needed. */
	make_frame(frame, 1);
	assert_int_equal(net_send_iov(&e->nc, &iov, 1, 0, NULL), sizeof(frame));
	assert_true(packet_wait(s, got, sizeof(got), &n));
	assert_int_equal(n, sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));

	/* Interface to peer. */
	make_frame(frame, 2);
	assert_int_equal(send(s, frame, sizeof(frame), 0), sizeof(frame));
	run_until(&e->got, 1);
	assert_int_equal(e->got, 1);
	if (tap_vnet && e->vnet) {
		assert_int_equal(e->flags, NET_FLAG_VNET_HDR);
		assert_int_equal(e->len, NET_VNET_HDR_LEN + sizeof(frame));
		assert_memory_equal(e->data + NET_VNET_HDR_LEN, frame, sizeof(frame));
	} else {
		assert_int_equal(e->flags, 0);
		assert_int_equal(e->len, sizeof(frame));
		assert_memory_equal(e->data, frame, sizeof(frame));
	}
	close(s);
}

static void test_tap_plain(void **state)
{
	struct net_client *t;

	SKIP_UNLESS_TUN();
	check_both_ways(tap_with_endpoint(",vnet_hdr=off,poll-us=50,vhost=off", false), false);
	t = net_find("t0");
	assert_false(net_accepts_vnet_hdr(t));
	assert_non_null(strstr(t->info_str, "script=no,downscript=no"));
	assert_int_equal(strncmp(t->info_str, "ifname=vwut", 11), 0);
}

static void test_tap_vnet_to_plain_peer(void **state)
{
	SKIP_UNLESS_TUN();
	check_both_ways(tap_with_endpoint("", false), true);
	assert_true(net_accepts_vnet_hdr(net_find("t0")));
}

static void test_tap_vnet_to_vnet_peer(void **state)
{
	SKIP_UNLESS_TUN();
	check_both_ways(tap_with_endpoint(",vnet_hdr=on", true), true);
}

/*
 * A peer that cannot take a frame stops reading until it drains (QEMU's tap_send). The
 * frames read in the batch wait in the tap's buffers, not copied into the peer's queue, and
 * reach the peer in order when it takes them a few at a time.
 */
static void test_tap_backpressure(void **state)
{
	struct endpoint *e;
	uint8_t frame[TEST_FRAME_LEN];
	int s;

	SKIP_UNLESS_TUN();
	e = tap_with_endpoint(",vnet_hdr=off", false);
	s = packet_socket(ifname);
	e->accept = false;
	for (uint8_t i = 0; i < 40; i++) {
		make_frame(frame, i);
		assert_int_equal(send(s, frame, sizeof(frame), 0), sizeof(frame));
	}
	for (int i = 0; i < 10; i++)
		loop_run_once(loop, 20);
	/* Only the tap's waiter is in the peer's queue. */
	assert_int_equal(net_queue_length(&e->nc), 1);
	assert_int_equal(e->got, 0);
	e->accept = true;
	e->budget = 10;
	net_flush_queued(&e->nc);
	for (int i = 0; i < 10; i++)
		loop_run_once(loop, 20);
	assert_int_equal(e->got, 10);
	e->budget = UINT_MAX;
	net_flush_queued(&e->nc);
	run_until(&e->got, 40);
	assert_int_equal(e->got, 40);
	for (unsigned int i = 0; i < 40; i++)
		assert_int_equal(e->tags[i], i);
	assert_int_equal(e->nc.stats.rx_dropped, 0);
	assert_int_equal(net_find("t0")->stats.tx_dropped, 0);
	close(s);
}

/* Frames read in one wakeup reach a peer with receive_burst as one burst; the rest follows. */
static void test_tap_burst(void **state)
{
	struct endpoint *e;
	uint8_t frame[TEST_FRAME_LEN];
	int s;

	SKIP_UNLESS_TUN();
	e = tap_with_endpoint(",vnet_hdr=on", false);
	e->nc.ops = &ep_burst_ops;
	s = packet_socket(ifname);
	e->budget = 25;
	/* The loop does not run meanwhile: all 40 wait in the tap for one wakeup. */
	for (uint8_t i = 0; i < 40; i++) {
		make_frame(frame, i);
		assert_int_equal(send(s, frame, sizeof(frame), 0), sizeof(frame));
	}
	run_until(&e->got, 25);
	for (int i = 0; i < 5; i++)
		loop_run_once(loop, 20);
	assert_int_equal(e->got, 25);
	assert_int_equal(e->max_burst, 40);
	e->budget = UINT_MAX;
	net_flush_queued(&e->nc);
	run_until(&e->got, 40);
	assert_int_equal(e->got, 40);
	/* The 15 it left came back as one burst. */
	assert_int_equal(e->bursts, 2);
	for (unsigned int i = 0; i < 40; i++)
		assert_int_equal(e->tags[i], i);
	assert_int_equal(e->nc.stats.rx_dropped, 0);
	close(s);
}

static void test_tap_multiqueue(void **state)
{
	struct net_client *q[4];

	SKIP_UNLESS_TUN();
	tap_with_endpoint(",queues=3", false);
	assert_int_equal(net_find_queues("t0", q, 4), 3);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(q[i]->queue_index, i);
		assert_int_equal(q[i]->queues, 3);
		assert_true(q[i]->is_netdev);
	}
	assert_int_equal(netdev_del("t0", NULL), 0);
	assert_null(net_find("t0"));
}

static void test_tap_fd(void **state)
{
	struct error err = { 0 };
	char name[IFNAMSIZ], text[64];
	bool vnet = true;
	int fd;

	SKIP_UNLESS_TUN();
	snprintf(name, sizeof(name), "vwuf%d", (int)getpid() % 100000);
	fd = tap_linux_open(name, &vnet, false, false, &err);
	assert_true(fd >= 0);
	snprintf(text, sizeof(text), "tap,id=t0,fd=%d,sndbuf=1M", fd);
	if (netdev_add(loop, text, &err) < 0)
		fail_msg("%s: %s", text, err.msg);
	snprintf(text, sizeof(text), "fd=%d", fd);
	assert_string_equal(net_find("t0")->info_str, text);
	assert_int_equal(net_accepts_vnet_hdr(net_find("t0")), vnet);
	assert_int_equal(netdev_del("t0", NULL), 0);
	/* The netdev owned the fd. */
	assert_true(fcntl(fd, F_GETFD) < 0);
}

/* One of the tap's own counters (query-netdevs). */
struct counter_probe {
	const char *name;
	uint64_t value;
	bool found;
};

static void probe_counter(void *opaque, const char *name, uint64_t value)
{
	struct counter_probe *p = opaque;

	if (!strcmp(name, p->name)) {
		p->value = value;
		p->found = true;
	}
}

static uint64_t tap_counter(const char *name)
{
	struct net_client *t = net_find("t0");
	struct counter_probe p = { .name = name };

	assert_non_null(t->ops->counters);
	t->ops->counters(t, probe_counter, &p);
	assert_true(p.found);
	return p.value;
}

/*
 * A burst from the peer leaves the interface in order: with io_uring (where the kernel has it)
 * as one system call for all 40 frames, a zeroed vnet header put before each; with uring=off
 * as one writev each.
 */
static void check_burst_out(const char *opts, bool uring)
{
	uint8_t frames[40][TEST_FRAME_LEN], got[2048];
	struct iovec iov[40];
	struct net_pkt pkts[40];
	struct endpoint *e;
	uint64_t calls;
	size_t n;
	int s;

	e = tap_with_endpoint(opts, false);
	assert_int_equal(tap_counter("uring"), uring);
	s = packet_socket(ifname);
	for (unsigned int i = 0; i < 40; i++) {
		make_frame(frames[i], (uint8_t)i);
		iov[i] = (struct iovec){ frames[i], TEST_FRAME_LEN };
		pkts[i] = (struct net_pkt){ .iov = &iov[i], .iovcnt = 1, .len = TEST_FRAME_LEN };
	}
	calls = tap_counter("uring-calls");
	assert_int_equal(net_send_burst(&e->nc, pkts, 40, NULL), 40);
	assert_int_equal(tap_counter("uring-calls") - calls, uring ? 1 : 0);
	assert_int_equal(tap_counter("uring-tx-frames"), uring ? 40 : 0);
	for (unsigned int i = 0; i < 40; i++) {
		assert_true(packet_wait(s, got, sizeof(got), &n));
		assert_int_equal(n, TEST_FRAME_LEN);
		assert_memory_equal(got, frames[i], TEST_FRAME_LEN);
	}
	assert_int_equal(net_find("t0")->stats.rx_packets, 40);
	assert_int_equal(net_find("t0")->stats.rx_dropped, 0);
	close(s);
}

static void test_tap_burst_out(void **state)
{
	struct tap_uring *u;
	int ret;

	SKIP_UNLESS_TUN();
	check_burst_out(",uring=off", false);
	assert_int_equal(netdev_del("t0", NULL), 0);
	net_client_free_all();
	u = tap_uring_new(8, &ret);
	if (!u) {
		print_message("io_uring unavailable (%s): only uring=off checked\n", strerror(-ret));
		return;
	}
	tap_uring_free(u);
	check_burst_out("", true);
}

/*
 * The ring's promises on a pipe of one page: reads are independent and say EAGAIN when there
 * is nothing; linked writes stop at the first that finds no room (EAGAIN), and the ones after
 * it are not done (ECANCELED), so what was written is a prefix, in order.
 */
static void test_uring_pipe(void **state)
{
	uint8_t out[4][1500], in[4][1500];
	struct iovec iov[4];
	int cnt[4] = { 1, 1, 1, 1 };
	ssize_t res[4];
	struct tap_uring *u;
	int p[2], ret;

	u = tap_uring_new(4, &ret);
	if (!u) {
		print_message("skipped: io_uring unavailable: %s\n", strerror(-ret));
		skip();
	}
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
	for (int i = 0; i < 4; i++) {
		memset(out[i], 'a' + i, sizeof(out[i]));
		iov[i] = (struct iovec){ in[i], sizeof(in[i]) };
	}
	/* Nothing to read: each read says so, none waits. */
	assert_int_equal(tap_uring_rw(u, p[0], false, iov, cnt, 4, res), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(res[i], -EAGAIN);
	/* Room for two frames of 1500 bytes in the page: the third fails, the fourth is not tried. */
	for (int i = 0; i < 4; i++)
		iov[i] = (struct iovec){ out[i], sizeof(out[i]) };
	assert_int_equal(tap_uring_rw(u, p[1], true, iov, cnt, 4, res), 0);
	assert_int_equal(res[0], 1500);
	assert_int_equal(res[1], 1500);
	assert_int_equal(res[2], -EAGAIN);
	assert_int_equal(res[3], -ECANCELED);
	/* What went in comes out in order; then reads find nothing again. */
	for (int i = 0; i < 4; i++)
		iov[i] = (struct iovec){ in[i], sizeof(in[i]) };
	assert_int_equal(tap_uring_rw(u, p[0], false, iov, cnt, 1, res), 0);
	assert_int_equal(res[0], 1500);
	assert_memory_equal(in[0], out[0], 1500);
	assert_int_equal(tap_uring_rw(u, p[0], false, iov + 1, cnt, 2, res), 0);
	assert_int_equal(res[0], 1500);
	assert_int_equal(res[1], -EAGAIN);
	assert_memory_equal(in[1], out[1], 1500);
	/* More than its depth is refused, and nothing is submitted. */
	assert_int_equal(tap_uring_rw(u, p[0], false, iov, (int[5]){ 1, 1, 1, 1, 1 }, 5, res),
			 -EINVAL);
	close(p[0]);
	close(p[1]);
	tap_uring_free(u);
}

/* The interface is deleted under the client: writes fail as drops, nothing spins. */
static void test_tap_gone(void **state)
{
	uint8_t frame[TEST_FRAME_LEN];
	struct iovec iov = { frame, sizeof(frame) };
	struct endpoint *e;
	char cmd[64];
	int rounds = 0;

	SKIP_UNLESS_TUN();
	if (system("command -v ip >/dev/null") != 0)
		skip();
	e = tap_with_endpoint("", false);
	snprintf(cmd, sizeof(cmd), "ip link del %s", ifname);
	assert_int_equal(system(cmd), 0);
	make_frame(frame, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(net_send_iov(&e->nc, &iov, 1, 0, NULL), sizeof(frame));
	assert_int_equal(net_find("t0")->stats.rx_dropped, 3);
	/* The fd is no longer polled: a round with nothing to do runs no callback. */
	for (int i = 0; i < 5; i++)
		rounds += loop_run_once(loop, 10);
	assert_int_equal(rounds, 0);
}

/* script= runs with the interface's name once it exists; downscript= when it goes. */
static void test_tap_scripts(void **state)
{
	char dir[] = "/tmp/vwire-test-tap.XXXXXX";
	char up[64], down[64], log[64], text[256], line[256], want[256];
	struct error err = { 0 };
	FILE *f;

	SKIP_UNLESS_TUN();
	assert_non_null(mkdtemp(dir));
	snprintf(up, sizeof(up), "%s/up", dir);
	snprintf(down, sizeof(down), "%s/down", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	for (int i = 0; i < 2; i++) {
		f = fopen(i ? down : up, "w");
		assert_non_null(f);
		fprintf(f, "#!/bin/sh\necho %s \"$1\" >>%s\n", i ? "down" : "up", log);
		fclose(f);
		assert_int_equal(chmod(i ? down : up, 0755), 0);
	}
	snprintf(ifname, sizeof(ifname), "vwus%d", (int)getpid() % 100000);
	snprintf(text, sizeof(text), "tap,id=t0,ifname=%s,script=%s,downscript=%s", ifname, up,
		 down);
	if (netdev_add(loop, text, &err) < 0)
		fail_msg("%s: %s", text, err.msg);
	snprintf(want, sizeof(want), "ifname=%s,script=%s,downscript=%s", ifname, up, down);
	assert_string_equal(net_find("t0")->info_str, want);
	assert_int_equal(netdev_del("t0", NULL), 0);
	f = fopen(log, "r");
	assert_non_null(f);
	snprintf(want, sizeof(want), "up %s\n", ifname);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, want);
	snprintf(want, sizeof(want), "down %s\n", ifname);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, want);
	fclose(f);
	unlink(up);
	unlink(down);
	unlink(log);
	rmdir(dir);

	/* A failing script is an error, and nothing is left behind. */
	snprintf(text, sizeof(text), "tap,id=t0,ifname=%s,script=/bin/false", ifname);
	assert_int_equal(netdev_add(loop, text, &err), -EIO);
	assert_non_null(strstr(err.msg, "network script /bin/false failed"));
	assert_null(net_find("t0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_option_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bridge_helper_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_vnet_to_plain_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_vnet_to_vnet_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_burst_out, setup, teardown),
		cmocka_unit_test(test_uring_pipe),
		cmocka_unit_test_setup_teardown(test_tap_multiqueue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_scripts, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
