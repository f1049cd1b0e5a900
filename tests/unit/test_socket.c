// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_socket.c - the socket, stream and dgram back ends: the length-prefixed framing driven
 * through the loop on a socketpair (frames split across reads, several per read, a length over
 * the limit, the end of the stream inside a frame, partial writes, flow control), servers and
 * clients talking to each other in one process (TCP, unix, UDP, unix datagrams, multicast,
 * reconnection, one peer at a time), and option errors that name the option and value.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define EP_MAX_FRAMES 4096

/* A client that records what it receives, and can refuse (to test flow control). */
struct endpoint {
	struct net_client nc;
	bool refuse;
	unsigned int budget;
	unsigned int got;
	unsigned int bursts;
	unsigned int max_burst;
	size_t len[EP_MAX_FRAMES];
	uint32_t first_word[EP_MAX_FRAMES];
	uint8_t last[NET_MAX_PACKET];
	size_t last_len;
};

static ssize_t ep_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			  unsigned int flags)
{
	struct endpoint *e = (struct endpoint *)nc;
	size_t len = net_iov_size(iov, iovcnt);
	uint32_t w = 0;

	if (e->refuse)
		return 0;
	net_iov_to_buf(iov, iovcnt, 0, &w, sizeof(w));
	if (e->got < EP_MAX_FRAMES) {
		e->len[e->got] = len;
		e->first_word[e->got] = w;
	}
	e->got++;
	e->last_len = net_iov_to_buf(iov, iovcnt, 0, e->last, sizeof(e->last));
	return (ssize_t)len;
}

static const struct net_client_ops ep_ops = {
	.type = "ep",
	.size = sizeof(struct endpoint),
	.receive_iov = ep_receive,
};

/* ep_receive a burst at a time, taking at most @budget more packets (0: no limit). */
static unsigned int ep_receive_burst(struct net_client *nc, const struct net_pkt *pkts,
				     unsigned int n)
{
	struct endpoint *e = (struct endpoint *)nc;
	unsigned int i;

	e->bursts++;
	if (n > e->max_burst)
		e->max_burst = n;
	for (i = 0; i < n; i++) {
		if (ep_receive(nc, pkts[i].iov, pkts[i].iovcnt, pkts[i].flags) == 0)
			break;
		if (e->budget && --e->budget == 0)
			e->refuse = true;
	}
	return i;
}

static const struct net_client_ops ep_burst_ops = {
	.type = "ep",
	.size = sizeof(struct endpoint),
	.receive_iov = ep_receive,
	.receive_burst = ep_receive_burst,
};

static struct loop *loop;
static char tmpdir[64];

static int setup(void **state)
{
	loop = loop_new();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vwire-test-socket.XXXXXX");
	return loop && mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	net_client_free_all();
	loop_free(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct endpoint *ep_attach(const char *netdev)
{
	struct net_client *nd = net_find(netdev);
	struct endpoint *e;

	assert_non_null(nd);
	e = (struct endpoint *)net_client_new(&ep_ops, loop, nd, NULL, NULL);
	assert_non_null(e);
	return e;
}

static void netdev_ok(const char *fmt, ...)
{
	struct error err = { 0 };
	char text[512];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ret = netdev_add(loop, text, &err);
	if (ret < 0)
		fail_msg("netdev_add(%s): %s", text, err.msg);
}

/* Run the loop until *@counter reaches @want or @ms pass; return whether it did. */
static bool run_until(const unsigned int *counter, unsigned int want, int ms)
{
	int64_t end = loop_now_ns() + (int64_t)ms * 1000000;

	while (*counter < want && loop_now_ns() < end)
		loop_run_once(loop, 10);
	return *counter >= want;
}

static void run_for(int ms)
{
	int64_t end = loop_now_ns() + (int64_t)ms * 1000000;

	while (loop_now_ns() < end)
		loop_run_once(loop, 10);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EAGAIN) {
			loop_run_once(loop, 10);
			continue;
		}
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* A socketpair whose one end is a stream netdev "s" with an endpoint; return the other end. */
static int stream_pair(struct endpoint **e)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	netdev_ok("stream,id=s,addr.type=fd,addr.str=%d", sv[1]);
	*e = ep_attach("s");
	return sv[0];
}

/* Whether the other end sees the end of the stream within @ms (the netdev closed it). */
static bool peer_closed(int fd, int ms)
{
	int64_t end = loop_now_ns() + (int64_t)ms * 1000000;
	uint8_t b[4096];

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (loop_now_ns() < end) {
		ssize_t n;

		loop_run_once(loop, 10);
		n = read(fd, b, sizeof(b));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}

static size_t frame(uint8_t *buf, uint32_t len, uint32_t tag)
{
	put_be32(buf, len);
	memset(buf + 4, 0xab, len);
	if (len >= 4)
		memcpy(buf + 4, &tag, 4);
	return 4 + len;
}

static void test_frames_split_across_reads(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	uint8_t buf[2000];
	size_t n = frame(buf, 1500, 0x11223344);

	/* The length one byte at a time, the body in two pieces, the loop running between. */
	for (int i = 0; i < 4; i++) {
		write_all(fd, buf + i, 1);
		run_for(5);
		assert_int_equal(e->got, 0);
	}
	write_all(fd, buf + 4, 700);
	run_for(5);
	assert_int_equal(e->got, 0);
	write_all(fd, buf + 704, n - 704);
	assert_true(run_until(&e->got, 1, 1000));
	assert_int_equal(e->len[0], 1500);
	assert_int_equal(e->first_word[0], 0x11223344);
	assert_memory_equal(e->last, buf + 4, 1500);
	close(fd);
}

static void test_several_frames_in_one_read(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	uint8_t buf[8192];
	size_t off = 0;

	off += frame(buf + off, 60, 1);
	off += frame(buf + off, 0, 0); /* empty: skipped, the connection stays */
	off += frame(buf + off, 1514, 2);
	off += frame(buf + off, 64, 3);
	write_all(fd, buf, off);
	assert_true(run_until(&e->got, 3, 1000));
	assert_int_equal(e->got, 3);
	assert_int_equal(e->len[0], 60);
	assert_int_equal(e->len[1], 1514);
	assert_int_equal(e->len[2], 64);
	assert_int_equal(e->first_word[0], 1);
	assert_int_equal(e->first_word[1], 2);
	assert_int_equal(e->first_word[2], 3);
	assert_false(peer_closed(fd, 50));
	close(fd);
}

static void test_largest_frame_passes(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	static uint8_t buf[4 + NET_MAX_PACKET];

	write_all(fd, buf, frame(buf, NET_MAX_PACKET, 7));
	assert_true(run_until(&e->got, 1, 1000));
	assert_int_equal(e->len[0], NET_MAX_PACKET);
	close(fd);
}

static void test_length_over_limit_closes(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	uint8_t buf[68];

	frame(buf, 60, 1);
	put_be32(buf + 64, NET_MAX_PACKET + 1);
	/* One good frame, then a length one over the limit. */
	write_all(fd, buf, sizeof(buf));
	assert_true(peer_closed(fd, 1000));
	assert_int_equal(e->got, 1);
	assert_non_null(strstr(net_find("s")->info_str, "disconnected"));
	close(fd);
}

static void test_huge_length_closes(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	uint8_t buf[4] = { 0xff, 0xff, 0xff, 0xff };

	write_all(fd, buf, 4);
	assert_true(peer_closed(fd, 1000));
	assert_int_equal(e->got, 0);
	close(fd);
}

static void test_truncated_frame_at_eof(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	uint8_t buf[200];

	frame(buf, 100, 9);
	write_all(fd, buf, 54); /* the length and 50 of 100 bytes */
	run_for(10);
	shutdown(fd, SHUT_WR);
	assert_true(peer_closed(fd, 1000));
	assert_int_equal(e->got, 0);
	close(fd);
}

static void test_random_bytes_close_without_harm(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	uint8_t buf[65536];

	srand(1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	/* Random lengths are almost all over the limit: whatever happens, it must be clean. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (write(fd, buf, sizeof(buf)) < 0)
		assert_int_equal(errno, EAGAIN);
	assert_true(peer_closed(fd, 1000));
	close(fd);
}

static void test_write_path_framing(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	uint8_t a[10] = "0123456789", b[50], out[64];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	ssize_t n;

	memset(b, 'x', sizeof(b));
	assert_int_equal(net_send_iov(&e->nc, iov, 2, 0, NULL), 60);
	n = read(fd, out, sizeof(out));
	assert_int_equal(n, 64);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 0);
	assert_int_equal(out[2], 0);
	assert_int_equal(out[3], 60);
	assert_memory_equal(out + 4, a, 10);
	assert_memory_equal(out + 14, b, 50);
	close(fd);
}

/* Read frames from @fd until @count are in, checking that each one's tag is its index. */
static void read_frames_in_order(int fd, unsigned int count, size_t len)
{
	static uint8_t buf[1 << 20];
	size_t have = 0;
	unsigned int seen = 0;
	int64_t end = loop_now_ns() + 10000000000LL;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (seen < count) {
		ssize_t n;

		assert_true(loop_now_ns() < end);
		loop_run_once(loop, 1);
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			continue;
		have += (size_t)n;
		while (have >= 4) {
			uint32_t l, tag;

			memcpy(&l, buf, 4);
			l = ntohl(l);
			assert_int_equal(l, len);
			if (have < 4 + l)
				break;
			memcpy(&tag, buf + 4, 4);
			assert_int_equal(tag, seen);
			for (size_t i = 8; i < 4 + l; i++)
				assert_int_equal(buf[i], (uint8_t)(seen + i));
			seen++;
			memmove(buf, buf + 4 + l, have - 4 - l);
			have -= 4 + l;
		}
	}
	assert_int_equal(have, 0);
}

static void test_partial_writes_keep_frames_whole(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	static uint8_t pkt[60000];
	unsigned int queued = 0, count = 200;
	int small = 4096;

	/* A small buffer on the netdev's side makes writes stop in the middle of frames. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (unsigned int i = 0; i < count; i++) {
		struct iovec iov[3] = { { pkt, 4 }, { pkt + 4, 1000 }, { pkt + 1004, 58996 } };

		memcpy(pkt, &i, 4);
		for (size_t k = 4; k < sizeof(pkt); k++)
			pkt[k] = (uint8_t)(i + k + 4);
		if (net_send_iov(&e->nc, iov, 3, 0, NULL) == 0)
			queued++;
	}
	/* All of them fit in the netdev's queue (256): none was dropped. */
	assert_int_equal(net_find("s")->stats.rx_dropped, 0);
	assert_true(queued > 0); /* the socket did fill up */
	read_frames_in_order(fd, count, sizeof(pkt));
	close(fd);
}

static void test_reading_stops_while_peer_refuses(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	static uint8_t buf[600 * 68];
	size_t off = 0;

	for (unsigned int i = 0; i < 600; i++)
		off += frame(buf + off, 64, i);
	e->refuse = true;
	write_all(fd, buf, off);
	run_for(50);
	/* One frame waits in the endpoint's queue; the rest stay unread, none is dropped. */
	assert_int_equal(e->got, 0);
	assert_int_equal(net_queue_length(&e->nc), 1);
	assert_int_equal(e->nc.stats.rx_dropped, 0);
	e->refuse = false;
	net_flush_queued(&e->nc);
	assert_true(run_until(&e->got, 600, 2000));
	for (unsigned int i = 0; i < 600; i++)
		assert_int_equal(e->first_word[i], i);
	assert_int_equal(e->nc.stats.rx_dropped, 0);
	close(fd);
}

static void test_frames_before_eof_survive_flow_control(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	uint8_t buf[256];
	size_t off = 0;

	/* Three frames and the end of the stream arrive at once while the peer holds back. */
	off += frame(buf + off, 60, 1);
	off += frame(buf + off, 61, 2);
	off += frame(buf + off, 62, 3);
	e->refuse = true;
	write_all(fd, buf, off);
	shutdown(fd, SHUT_WR);
	run_for(20);
	assert_int_equal(e->got, 0);
	e->refuse = false;
	net_flush_queued(&e->nc);
	/* Every whole frame is handed on before the end of the stream closes the connection. */
	assert_true(peer_closed(fd, 1000));
	assert_int_equal(e->got, 3);
	assert_int_equal(e->first_word[2], 3);
	close(fd);
}

static void test_not_connected_drops(void **state)
{
	struct endpoint *e;
	uint8_t pkt[60] = { 0 };
	char path[128];

	snprintf(path, sizeof(path), "%s/srv", tmpdir);
	netdev_ok("stream,id=s,server=on,addr.type=unix,addr.path=%s", path);
	e = ep_attach("s");
	assert_non_null(strstr(net_find("s")->info_str, "listening on unix:"));
	assert_int_equal(net_send(&e->nc, pkt, sizeof(pkt)), 60);
	assert_int_equal(net_queue_length(net_find("s")), 0);
}

/* Two stream netdevs talking: "srv" and "cli", each with an endpoint. */
static void exchange(struct endpoint *a, struct endpoint *b)
{
	uint8_t pkt[100];
	unsigned int want_b = b->got + 1, want_a = a->got + 1;

	memset(pkt, 0x5a, sizeof(pkt));
	net_send(&a->nc, pkt, sizeof(pkt));
	assert_true(run_until(&b->got, want_b, 2000));
	assert_int_equal(b->last_len, 100);
	net_send(&b->nc, pkt, 70);
	assert_true(run_until(&a->got, want_a, 2000));
	assert_int_equal(a->last_len, 70);
}

static void test_stream_unix_server_and_client(void **state)
{
	struct endpoint *a, *b;
	char path[128];

	snprintf(path, sizeof(path), "%s/s1", tmpdir);
	netdev_ok("stream,id=srv,server=on,addr.type=unix,addr.path=%s", path);
	netdev_ok("stream,id=cli,addr.type=unix,addr.path=%s", path);
	a = ep_attach("srv");
	b = ep_attach("cli");
	run_for(20);
	exchange(a, b);
	assert_non_null(strstr(net_find("cli")->info_str, "unix:"));
	/* The server removes its socket file when it goes. */
	assert_int_equal(netdev_del("srv", NULL), 0);
	assert_int_equal(access(path, F_OK), -1);
}

static unsigned int free_port(int type)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, type, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void test_stream_inet_and_socket_tcp(void **state)
{
	struct endpoint *a, *b, *c, *d;
	unsigned int p1 = free_port(SOCK_STREAM), p2 = free_port(SOCK_STREAM);
	char info[64];

	netdev_ok("stream,id=srv,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=%u", p1);
	netdev_ok("stream,id=cli,addr.type=inet,addr.host=127.0.0.1,addr.port=%u", p1);
	a = ep_attach("srv");
	b = ep_attach("cli");
	run_for(20);
	exchange(a, b);
	snprintf(info, sizeof(info), "tcp:127.0.0.1:%u", p1);
	assert_string_equal(net_find("cli")->info_str, info);

	netdev_ok("socket,id=l,listen=127.0.0.1:%u", p2);
	snprintf(info, sizeof(info), "socket: listening on 127.0.0.1:%u", p2);
	assert_string_equal(net_find("l")->info_str, info);
	netdev_ok("socket,id=c,connect=127.0.0.1:%u", p2);
	c = ep_attach("l");
	d = ep_attach("c");
	run_for(20);
	exchange(c, d);
	snprintf(info, sizeof(info), "socket: connect to 127.0.0.1:%u", p2);
	assert_string_equal(net_find("c")->info_str, info);
	assert_non_null(strstr(net_find("l")->info_str, "socket: connection from 127.0.0.1:"));
	assert_string_equal(net_find("l")->model, "socket");
}

static int raw_connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void test_server_one_peer_at_a_time(void **state)
{
	struct endpoint *a;
	char path[128];
	uint8_t f1[68], f2[68];
	int c1, c2;

	snprintf(path, sizeof(path), "%s/s2", tmpdir);
	netdev_ok("stream,id=srv,server=on,addr.type=unix,addr.path=%s", path);
	a = ep_attach("srv");
	c1 = raw_connect_unix(path);
	run_for(20);
	c2 = raw_connect_unix(path); /* waits in the backlog, as with QEMU */
	write_all(c2, f2, frame(f2, 64, 2));
	write_all(c1, f1, frame(f1, 64, 1));
	assert_true(run_until(&a->got, 1, 1000));
	run_for(50);
	assert_int_equal(a->got, 1);
	assert_int_equal(a->first_word[0], 1);
	/* The first goes: the second is served, and what it sent meanwhile arrives. */
	close(c1);
	assert_true(run_until(&a->got, 2, 2000));
	assert_int_equal(a->first_word[1], 2);
	close(c2);
}

static void test_garbage_peer_then_real_peer(void **state)
{
	struct endpoint *a, *b;
	char path[128];
	uint8_t junk[8] = { 0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4 };
	int g;

	snprintf(path, sizeof(path), "%s/s3", tmpdir);
	netdev_ok("stream,id=srv,server=on,addr.type=unix,addr.path=%s", path);
	a = ep_attach("srv");
	g = raw_connect_unix(path);
	write_all(g, junk, sizeof(junk));
	assert_true(peer_closed(g, 1000));
	close(g);
	assert_non_null(strstr(net_find("srv")->info_str, "listening on unix:"));
	netdev_ok("stream,id=cli,addr.type=unix,addr.path=%s", path);
	b = ep_attach("cli");
	run_for(20);
	exchange(a, b);
}

static void test_client_reconnects(void **state)
{
	struct endpoint *a, *b;
	char path[128];

	snprintf(path, sizeof(path), "%s/s4", tmpdir);
	/* Started before its server: with reconnect it keeps trying. */
	netdev_ok("stream,id=cli,addr.type=unix,addr.path=%s,reconnect=1", path);
	b = ep_attach("cli");
	assert_non_null(strstr(net_find("cli")->info_str, "connecting to unix:"));
	netdev_ok("stream,id=srv,server=on,addr.type=unix,addr.path=%s", path);
	a = ep_attach("srv");
	run_for(1300);
	exchange(a, b);
	/* The server goes and comes back: the client finds it again. */
	assert_int_equal(netdev_del("srv", NULL), 0);
	run_for(50);
	assert_non_null(strstr(net_find("cli")->info_str, "connecting to"));
	netdev_ok("stream,id=srv,server=on,addr.type=unix,addr.path=%s", path);
	a = ep_attach("srv");
	run_for(1300);
	exchange(a, b);
}

static void test_client_without_reconnect_fails_at_once(void **state)
{
	struct error err = { 0 };
	char text[256];

	snprintf(text, sizeof(text), "stream,id=cli,addr.type=unix,addr.path=%s/none", tmpdir);
	assert_true(netdev_add(loop, text, &err) < 0);
	assert_non_null(strstr(err.msg, "can't connect to unix:"));
	assert_null(net_find("cli"));
}

static void test_dgram_udp_pair(void **state)
{
	struct endpoint *a, *b;
	unsigned int p1 = free_port(SOCK_DGRAM), p2 = free_port(SOCK_DGRAM);

	netdev_ok("dgram,id=d1,local.type=inet,local.host=127.0.0.1,local.port=%u,"
		  "remote.type=inet,remote.host=127.0.0.1,remote.port=%u", p1, p2);
	netdev_ok("socket,id=d2,udp=127.0.0.1:%u,localaddr=127.0.0.1:%u", p1, p2);
	a = ep_attach("d1");
	b = ep_attach("d2");
	exchange(a, b);
	assert_string_equal(net_find("d2")->model, "socket");
}

/* Two dgram netdevs "d1" and "d2" on unix sockets, each with an endpoint. */
static void dgram_unix_pair(struct endpoint **a, struct endpoint **b)
{
	char p1[128], p2[128];

	snprintf(p1, sizeof(p1), "%s/d1", tmpdir);
	snprintf(p2, sizeof(p2), "%s/d2", tmpdir);
	netdev_ok("dgram,id=d1,local.type=unix,local.path=%s,remote.type=unix,remote.path=%s",
		  p1, p2);
	netdev_ok("dgram,id=d2,local.type=unix,local.path=%s,remote.type=unix,remote.path=%s",
		  p2, p1);
	*a = ep_attach("d1");
	*b = ep_attach("d2");
}

static void test_dgram_unix_pair(void **state)
{
	struct endpoint *a, *b;

	dgram_unix_pair(&a, &b);
	exchange(a, b);
	/* Many at once: the receiver's queue fills, the sender waits instead of dropping. */
	for (unsigned int i = 0; i < 500; i++) {
		uint8_t pkt[1000];

		while (!net_can_send(&a->nc))
			loop_run_once(loop, 1);
		memcpy(pkt, &i, 4);
		net_send(&a->nc, pkt, sizeof(pkt));
	}
	assert_true(run_until(&b->got, 501, 3000));
	assert_int_equal(b->first_word[500], 499);
}

/*
 * Bursts both ways over unix datagrams: a burst goes out in one sendmmsg, and what the
 * receiver's full socket did not take waits and follows in order; what one recvmmsg read
 * reaches the peer as one burst, and what the peer did not take stays in our buffers.
 */
static void test_dgram_bursts(void **state)
{
	static uint8_t data[64][8000];
	struct net_pkt pkts[64];
	struct iovec iov[64];
	struct endpoint *a, *b;

	dgram_unix_pair(&a, &b);
	b->nc.ops = &ep_burst_ops;
	exchange(a, b);
	b->got = 0;
	b->budget = 20;
	for (unsigned int i = 0; i < 64; i++) {
		memcpy(data[i], &i, 4);
		iov[i] = (struct iovec){ data[i], sizeof(data[i]) };
		pkts[i] = (struct net_pkt){ .iov = &iov[i], .iovcnt = 1, .len = sizeof(data[i]) };
	}
	/* More than the socket's send buffer holds: the rest waits at d1. */
	assert_int_equal(net_send_burst(&a->nc, pkts, 64, NULL), 64);
	assert_true(net_queue_length(net_find("d1")) > 0);
	assert_int_equal(a->nc.stats.tx_packets, 64 + 1);
	assert_true(run_until(&b->got, 20, 2000));
	run_for(50);
	assert_int_equal(b->got, 20);
	assert_true(b->max_burst > 1);
	b->refuse = false;
	net_flush_queued(&b->nc);
	assert_true(run_until(&b->got, 64, 3000));
	for (unsigned int i = 0; i < 64; i++)
		assert_int_equal(b->first_word[i], i);
	assert_int_equal(net_find("d1")->stats.rx_dropped, 0);
	assert_int_equal(b->nc.stats.rx_dropped, 0);
}

static void test_mcast_group(void **state)
{
	struct endpoint *a, *b;
	unsigned int port = free_port(SOCK_DGRAM);
	uint8_t pkt[80] = { 1 };

	netdev_ok("socket,id=m1,mcast=239.255.97.1:%u,localaddr=127.0.0.1", port);
	netdev_ok("dgram,id=m2,remote.type=inet,remote.host=239.255.97.1,remote.port=%u,"
		  "local.type=inet,local.host=127.0.0.1,local.port=0", port);
	a = ep_attach("m1");
	b = ep_attach("m2");
	net_send(&a->nc, pkt, sizeof(pkt));
	assert_true(run_until(&b->got, 1, 2000));
	/* As QEMU: the group loops our own frames back to us too. */
	assert_true(run_until(&a->got, 1, 2000));
	assert_int_equal(b->last_len, 80);
}

static void test_packet_in_many_pieces(void **state)
{
	struct endpoint *e;
	int fd = stream_pair(&e);
	struct iovec iov[100];
	uint8_t pkt[1000], out[1004];
	size_t got = 0;

	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7);
	for (int i = 0; i < 100; i++) {
		iov[i].iov_base = pkt + 10 * i;
		iov[i].iov_len = 10;
	}
	/* More pieces than one sendmsg takes here: the frame goes out whole all the same. */
	assert_int_equal(net_send_iov(&e->nc, iov, 100, 0, NULL), 1000);
	while (got < sizeof(out)) {
		ssize_t n = read(fd, out + got, sizeof(out) - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(out[2], 0x03);
	assert_int_equal(out[3], 0xe8);
	assert_memory_equal(out + 4, pkt, sizeof(pkt));
	close(fd);
}

static void test_client_connect_in_progress(void **state)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sin);
	uint8_t f[68], buf[68];
	int lfd, c1, acc = -1, n = 0;
	unsigned int port;
	struct endpoint *e;

	/* A listener whose accept queue is full drops SYNs: the client's connect is pending. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	c1 = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c1, (struct sockaddr *)&sin, sizeof(sin)), 0);
	netdev_ok("stream,id=cli,addr.type=inet,addr.host=127.0.0.1,addr.port=%u", port);
	e = ep_attach("cli");
	assert_non_null(strstr(net_find("cli")->info_str, "connecting to tcp:127.0.0.1:"));
	/* Room again: the retried SYN completes the connection, and frames flow. */
	close(accept(lfd, NULL, NULL));
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 800 && acc < 0; i++) {
		loop_run_once(loop, 10);
		acc = accept(lfd, NULL, NULL);
	}
	assert_true(acc >= 0);
	for (int i = 0; i < 100 && !strstr(net_find("cli")->info_str, "tcp:127.0.0.1:"); i++)
		loop_run_once(loop, 10);
	assert_string_equal(strstr(net_find("cli")->info_str, "tcp:"), net_find("cli")->info_str);
	write_all(acc, f, frame(f, 64, 5));
	assert_true(run_until(&e->got, 1, 1000));
	net_send(&e->nc, f, 64);
	fcntl(acc, F_SETFL, 0);
	while (n < 68) {
		ssize_t r = read(acc, buf + n, sizeof(buf) - (size_t)n);

		assert_true(r > 0);
		n += (int)r;
	}
	close(acc);
	close(c1);
	close(lfd);
}

static void test_port_range_and_ipv6(void **state)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sin);
	struct endpoint *a, *b;
	unsigned int port;
	char want[64];
	int busy;

	/* addr.to: the first port is taken, the server takes the next one. */
	busy = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(busy, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(busy, 1), 0);
	assert_int_equal(getsockname(busy, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	netdev_ok("stream,id=srv,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=%u,"
		  "addr.to=%u", port, port + 20);
	assert_non_null(strstr(net_find("srv")->info_str, "listening on tcp:127.0.0.1:"));
	snprintf(want, sizeof(want), "listening on tcp:127.0.0.1:%u", port);
	assert_string_not_equal(net_find("srv")->info_str, want);
	close(busy);
	assert_int_equal(netdev_del("srv", NULL), 0);

	port = free_port(SOCK_STREAM);
	netdev_ok("stream,id=srv,server=on,addr.type=inet,addr.host=::1,addr.port=%u,"
		  "addr.ipv6=on", port);
	netdev_ok("stream,id=cli,addr.type=inet,addr.host=::1,addr.port=%u,addr.numeric=on,"
		  "addr.keep-alive=on", port);
	a = ep_attach("srv");
	b = ep_attach("cli");
	run_for(20);
	exchange(a, b);
	snprintf(want, sizeof(want), "tcp:[::1]:%u", port);
	assert_string_equal(net_find("cli")->info_str, want);
}

static void test_abstract_unix_and_fd_listener(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct endpoint *a, *b;
	char name[64], path[sizeof(sun.sun_path) - 8];
	int lfd;

	snprintf(name, sizeof(name), "vwire-test-%d", (int)getpid());
	netdev_ok("stream,id=srv,server=on,addr.type=unix,addr.path=%s,addr.abstract=on", name);
	netdev_ok("stream,id=cli,addr.type=unix,addr.path=%s,addr.abstract=on", name);
	a = ep_attach("srv");
	b = ep_attach("cli");
	run_for(20);
	exchange(a, b);
	assert_non_null(strstr(net_find("cli")->info_str, "unix:@vwire-test-"));
	assert_int_equal(netdev_del("srv", NULL), 0);
	assert_int_equal(netdev_del("cli", NULL), 0);

	/* An inherited socket, bound but not listening yet, serves as server=on. */
	snprintf(path, sizeof(path), "%s/fdl", tmpdir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	netdev_ok("stream,id=srv,server=on,addr.type=fd,addr.str=%d", lfd);
	netdev_ok("stream,id=cli,addr.type=unix,addr.path=%s", path);
	a = ep_attach("srv");
	b = ep_attach("cli");
	run_for(20);
	exchange(a, b);
}

/* Each line: an option string, and what its error must mention. */
static const struct {
	const char *text;
	const char *expect;
} bad_options[] = {
	{ "socket,id=x", "exactly one of" },
	{ "socket,id=x,listen=bad", "listen=bad" },
	{ "socket,id=x,listen=127.0.0.1:99999", "listen=127.0.0.1:99999" },
	{ "socket,id=x,connect=127.0.0.1", "connect=127.0.0.1" },
	{ "socket,id=x,mcast=10.1.2.3:5000", "mcast=10.1.2.3:5000" },
	{ "socket,id=x,mcast=10.1.2.3:5000", "not a multicast address" },
	{ "socket,id=x,udp=127.0.0.1:5000", "localaddr=" },
	{ "socket,id=x,listen=:5000,localaddr=1.2.3.4", "localaddr=" },
	{ "socket,id=x,mcast=239.1.1.1:5000,localaddr=nope", "localaddr=nope" },
	{ "socket,id=x,fd=abc", "fd=abc" },
	{ "socket,id=x,fd=999", "fd=999" },
	{ "socket,id=x,listen=:1,bogus=1", "bogus" },
	{ "stream,id=x,addr.host=127.0.0.1", "addr.type" },
	{ "stream,id=x,addr.type=tcp", "addr.type=tcp" },
	{ "stream,id=x,addr.type=inet,addr.host=127.0.0.1", "addr.port" },
	{ "stream,id=x,addr.type=inet,addr.port=1", "addr.host" },
	{ "stream,id=x,addr.type=unix", "addr.path" },
	{ "stream,id=x,addr.type=unix,addr.path=/a,addr.port=1", "addr.port" },
	{ "stream,id=x,addr.type=fd", "addr.str" },
	{ "stream,id=x,addr.type=fd,addr.str=abc", "addr.str=abc" },
	{ "stream,id=x,server=on,reconnect=2,addr.type=unix,addr.path=/tmp/x", "reconnect=2" },
	{ "stream,id=x,server=maybe,addr.type=unix,addr.path=/a", "server=maybe" },
	{ "stream,id=x,addr.type=inet,addr.host=127.0.0.1,addr.port=1,addr.to=9", "addr.to" },
	{ "stream,id=x,addr.type=inet,addr.host=127.0.0.1,addr.port=x,addr.numeric=on",
	  "addr.port=x" },
	{ "stream,id=x,addr.type=inet,addr.host=h,addr.port=1,addr.ipv4=off,addr.ipv6=off",
	  "IPv4 and IPv6" },
	{ "dgram,id=x,remote.type=inet,remote.host=127.0.0.1,remote.port=5000", "local" },
	{ "dgram,id=x,local.type=inet,local.host=127.0.0.1,local.port=5000", "remote" },
	{ "dgram,id=x,local.type=unix,local.path=/a,remote.type=inet,remote.host=127.0.0.1,"
	  "remote.port=1", "must be the same" },
	{ "dgram,id=x,local.type=inet,local.port=1,remote.type=inet,remote.host=1.2.3.4,"
	  "remote.port=1", "local.host" },
	{ "dgram,id=x,local.type=inet,local.host=1.2.3.4.5,local.port=1,remote.type=inet,"
	  "remote.host=1.2.3.4,remote.port=1", "local.host=1.2.3.4.5" },
	{ "dgram,id=x,local.type=sctp", "local.type=sctp" },
	{ "dgram,id=x,local.type=fd,local.str=0,remote.type=unix,remote.path=/a", "remote" },
	{ "dgram,id=x,remote.type=inet,remote.host=239.1.1.1,remote.port=1,local.type=unix,"
	  "local.path=/a", "local.type=unix" },
};

static void test_option_errors(void **state)
{
	for (size_t i = 0; i < sizeof(bad_options) / sizeof(bad_options[0]); i++) {
		struct error err = { 0 };
		int ret = netdev_add(loop, bad_options[i].text, &err);

		if (ret >= 0)
			fail_msg("'%s' was accepted", bad_options[i].text);
		if (!strstr(err.msg, bad_options[i].expect))
			fail_msg("'%s': error '%s' does not mention '%s'", bad_options[i].text,
				 err.msg, bad_options[i].expect);
		assert_null(net_find("x"));
	}
}

static void test_inherited_fd_of_wrong_kind(void **state)
{
	struct error err = { 0 };
	char text[128];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	snprintf(text, sizeof(text), "stream,id=x,addr.type=fd,addr.str=%d", sv[0]);
	assert_true(netdev_add(loop, text, &err) < 0);
	assert_non_null(strstr(err.msg, "not a stream socket"));
	/* A datagram fd is fine for socket fd= (it is taken over). */
	snprintf(text, sizeof(text), "socket,id=y,fd=%d", sv[1]);
	assert_int_equal(netdev_add(loop, text, &err), 0);
	assert_non_null(strstr(net_find("y")->info_str, "socket: fd="));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frames_split_across_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_several_frames_in_one_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_largest_frame_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_length_over_limit_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_length_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_frame_at_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_bytes_close_without_harm, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_path_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_writes_keep_frames_whole, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reading_stops_while_peer_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_frames_before_eof_survive_flow_control, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_connected_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_unix_server_and_client, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stream_inet_and_socket_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_one_peer_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_peer_then_real_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_reconnects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_without_reconnect_fails_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_packet_in_many_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_connect_in_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_range_and_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abstract_unix_and_fd_listener, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dgram_udp_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dgram_unix_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dgram_bursts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mcast_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_option_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inherited_fd_of_wrong_kind, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
