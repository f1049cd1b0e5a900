// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_user.c - -netdev user: options decode with QEMU's defaults, every bad value is refused
 * naming the option and the value and leaves nothing behind; host forwarding rules come and
 * go at run time (also through HMP text); a guest frame reaches libslirp and its answer the
 * peer; a host connection to a forwarded port reaches the guest through the loop's rounds;
 * an idle stack does not spin the loop; the guestfwd relay carries megabytes both ways
 * through its rings and passes the end of file on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/user-guestfwd.h"
#include "backends/user.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ARP_REQUEST 1
#define ARP_REPLY 2
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17
#define TCP_SYN 0x02
#define DHCP_CLIENT_PORT 68
#define DHCP_SERVER_PORT 67
#define DHCP_MAGIC 0x63825363u
#define DHCP_OPT_TYPE 53
#define DHCP_OPT_END 255
#define DHCP_DISCOVER 1
#define DHCP_OFFER 2

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
/* libslirp answers for its addresses with 52:55 followed by the IPv4 address */
static const uint8_t host_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };

/* The guest side: keeps the last frame it was given. */
struct guest {
	struct net_client nc;
	unsigned int got;
	uint8_t last[2048];
	size_t last_len;
};

static ssize_t guest_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			     unsigned int flags)
{
	struct guest *g = (struct guest *)nc;

	g->got++;
	g->last_len = net_iov_to_buf(iov, iovcnt, 0, g->last, sizeof(g->last));
	return (ssize_t)net_iov_size(iov, iovcnt);
}

static const struct net_client_ops guest_ops = {
	.type = "guest",
	.size = sizeof(struct guest),
	.receive_iov = guest_receive,
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

static void expect_error(const char *text, int code, const char *msg)
{
	struct error err = { 0 };
	int ret = netdev_add(loop, text, &err);

	if (ret != code || !strstr(err.msg, msg))
		fail_msg("'%s': got %d '%s', expected %d with '%s'", text, ret, err.msg, code, msg);
	assert_null(net_find("u"));
}

static void test_defaults(void **state)
{
	struct error err = { 0 };
	struct net_client *nc;

	assert_int_equal(netdev_add(loop, "user,id=u0", &err), 0);
	nc = net_find("u0");
	assert_non_null(nc);
	assert_string_equal(nc->model, "user");
	assert_string_equal(nc->info_str, "net=10.0.2.0,restrict=off");
	assert_int_equal(netdev_del("u0", &err), 0);
	assert_int_equal(netdev_add(loop,
				    "user,id=u1,net=192.168.76.0/24,host=192.168.76.1,"
				    "dns=192.168.76.53,dhcpstart=192.168.76.100,restrict=on,"
				    "hostname=vm,domainname=example.org,dnssearch=a.example,"
				    "dnssearch=b.example,ipv6-net=fd00:1::/64,ipv6-host=fd00:1::1,"
				    "ipv6-dns=fd00:1::53,tftp=/srv/tftp,bootfile=pxelinux.0,"
				    "mtu=65520",
				    &err),
			 0);
	assert_string_equal(net_find("u1")->info_str, "net=192.168.76.0,restrict=on");
	/* tftp-server-name= is not given here: libslirp 4.7 never frees its copy of it, which
	 * the leak checker of the sanitized run would report. */
	/* An address without a mask takes QEMU's classful one (here /8). */
	assert_int_equal(netdev_add(loop, "user,id=u2,net=10.1.2.3,ipv6=off,mtu=576", &err), 0);
	assert_string_equal(net_find("u2")->info_str, "net=10.0.0.0,restrict=off");
	assert_int_equal(netdev_add(loop, "user,id=u3,net=10.9.0.0/255.255.0.0,ipv4=on", &err), 0);
	assert_string_equal(net_find("u3")->info_str, "net=10.9.0.0,restrict=off");
}

static void test_errors(void **state)
{
	char big[300];

	expect_error("user,id=u,net=10.0.2.0/33", -EINVAL, "net=10.0.2.0/33: netmask length");
	expect_error("user,id=u,net=10.0.2.0/3", -EINVAL, "net=10.0.2.0/3: netmask length");
	expect_error("user,id=u,net=banana", -EINVAL, "net=banana: not an IPv4 address");
	expect_error("user,id=u,net=10.0.2.0/255.0.x.0", -EINVAL, "net=10.0.2.0/255.0.x.0: bad");
	expect_error("user,id=u,dhcpstart=192.168.1.15", -EINVAL,
		     "dhcpstart=192.168.1.15: not inside net 10.0.2.0/24");
	expect_error("user,id=u,dhcpstart=10.0.2.2", -EINVAL, "dhcpstart=10.0.2.2: must differ");
	expect_error("user,id=u,host=10.0.3.2", -EINVAL, "host=10.0.3.2: not inside net");
	expect_error("user,id=u,dns=10.0.2.2", -EINVAL, "dns=10.0.2.2: must differ");
	expect_error("user,id=u,dns=x", -EINVAL, "dns=x: not an IPv4 address");
	expect_error("user,id=u,smb=/srv/share", -ENOTSUP,
		     "smb=/srv/share: not supported: vwire does not start an SMB server; share "
		     "files with hostfwd or virtiofs");
	expect_error("user,id=u,mtu=65521", -EINVAL, "mtu=65521: at most 65520");
	expect_error("user,id=u,mtu=67,ipv6=off", -EINVAL, "mtu=67: at least 68");
	expect_error("user,id=u,mtu=1000", -EINVAL, "mtu=1000: IPv6 needs at least 1280");
	expect_error("user,id=u,mtu=big", -EINVAL, "mtu=big");
	expect_error("user,id=u,ipv4=off,net=10.0.2.0/24", -EINVAL, "ipv4=off");
	expect_error("user,id=u,ipv4=off,ipv6=off", -EINVAL, "ipv4=off,ipv6=off");
	expect_error("user,id=u,ipv6=off,ipv6-net=fd00::/64", -EINVAL, "ipv6=off");
	expect_error("user,id=u,ipv6-net=fec0::/127", -EINVAL, "ipv6-net=fec0::/127: prefix");
	expect_error("user,id=u,ipv6-net=nope", -EINVAL, "ipv6-net=nope: not an IPv6 prefix");
	expect_error("user,id=u,ipv6-host=fd00::2", -EINVAL, "ipv6-host=fd00::2: not inside");
	expect_error("user,id=u,restrict=maybe", -EINVAL, "restrict=maybe");
	expect_error("user,id=u,domainname=", -EINVAL, "domainname=: must have 1 to 255");
	expect_error("user,id=u,dnssearch=a..b", -EINVAL, "dnssearch=a..b: not a domain name");
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	{
		char text[400];

		snprintf(text, sizeof(text), "user,id=u,bootfile=%.130s", big);
		expect_error(text, -EINVAL, "bootfile=aaa");
		snprintf(text, sizeof(text), "user,id=u,hostname=%s", big);
		expect_error(text, -EINVAL, "hostname=aaa");
		snprintf(text, sizeof(text), "user,id=u,dnssearch=%.64s.example", big);
		expect_error(text, -EINVAL, "not a domain name");
	}
	expect_error("user,id=u,hostfwd=tcp", -EINVAL, "hostfwd=tcp: Invalid host forwarding "
						      "rule 'tcp' (No : separators)");
	expect_error("user,id=u,hostfwd=sctp::22-:22", -EINVAL, "(Bad protocol name)");
	expect_error("user,id=u,hostfwd=tcp:1.2.3.4.5:22-:22", -EINVAL, "(Bad host address)");
	expect_error("user,id=u,hostfwd=tcp::2222", -EINVAL, "(Bad host port separator)");
	expect_error("user,id=u,hostfwd=tcp::22x-:22", -EINVAL, "(Bad host port)");
	expect_error("user,id=u,hostfwd=tcp::65536-:22", -EINVAL, "(Bad host port)");
	expect_error("user,id=u,hostfwd=tcp::2222-10.0.2.15", -EINVAL, "(Missing guest address)");
	expect_error("user,id=u,hostfwd=tcp::2222-bad:22", -EINVAL, "(Bad guest address)");
	expect_error("user,id=u,hostfwd=tcp::2222-:0", -EINVAL, "(Bad guest port)");
	expect_error("user,id=u,hostfwd=udp::2222-:", -EINVAL, "(Bad guest port)");
	expect_error("user,id=u,guestfwd=udp:10.0.2.100:53-tcp:127.0.0.1:53", -EINVAL,
		     "guestfwd=udp:10.0.2.100:53-tcp:127.0.0.1:53: expected [tcp]");
	expect_error("user,id=u,guestfwd=tcp:10.0.2.100:0-tcp:127.0.0.1:1", -EINVAL,
		     "bad server port");
	expect_error("user,id=u,guestfwd=tcp:10.0.2.100:80-chardev0", -EINVAL,
		     "'chardev0': not supported");
	expect_error("user,id=u,guestfwd=tcp:10.9.9.9:80-cmd:true", -EINVAL,
		     "guestfwd=tcp:10.9.9.9:80-cmd:true: conflicting or invalid server address");
	expect_error("user,id=u,guestfwd=tcp:10.0.2.2:80-cmd:true", -EINVAL, "conflicting");
	expect_error("user,id=u,guestfwd=tcp::80-cmd:true,guestfwd=tcp:10.0.2.4:80-cmd:false",
		     -EEXIST, "10.0.2.4:80 is already forwarded");
	expect_error("user,id=u,guestfwd=tcp:10.0.2.100:80-tcp:nohostport", -EINVAL,
		     "expected tcp:HOST:PORT");
	expect_error("user,id=u,bogus=1", -EINVAL, "invalid parameter 'bogus'");
}

/* A free TCP port on 127.0.0.1 (free when this returns; good enough for a test). */
static int free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static int connect_port(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				   .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int ret;

	assert_true(fd >= 0);
	ret = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return ret;
}

/* The text an HMP command printed (the last call's) */
static char *hmp_out;

static int hmp(int (*cmd)(const char *args, FILE *out), const char *args)
{
	size_t len;
	FILE *f;
	int ret;

	free(hmp_out);
	f = open_memstream(&hmp_out, &len);
	assert_non_null(f);
	ret = cmd(args, f);
	fclose(f);
	return ret;
}

static int info_usernet(const char *args, FILE *out)
{
	user_hmp_info_usernet(out);
	return 0;
}

static void test_hostfwd_runtime(void **state)
{
	struct error err = { 0 };
	char rule[64], line[128];
	int port = free_port();

	assert_int_equal(user_hostfwd_add(NULL, "tcp::1-:22", &err), -ENOENT);
	assert_string_equal(err.msg, "user mode network stack not in use");
	assert_int_equal(netdev_add(loop, "user,id=u0", &err), 0);
	assert_int_equal(netdev_add(loop, "hubport,id=h0,hubid=0", &err), 0);
	assert_int_equal(user_hostfwd_add("h0", "tcp::1-:22", &err), -EINVAL);
	assert_int_equal(user_hostfwd_add("nope", "tcp::1-:22", &err), -ENOENT);

	snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%d-:22", port);
	assert_int_equal(user_hostfwd_add(NULL, rule, &err), 0);
	assert_int_equal(connect_port(port), 0);
	assert_int_equal(user_hostfwd_add("u0", rule, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "Could not set up host forwarding rule"));
	snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%d", port);
	assert_int_equal(user_hostfwd_remove("u0", rule, &err), 0);
	assert_int_equal(connect_port(port), -1);
	assert_int_equal(user_hostfwd_remove("u0", rule, &err), -ENOENT);
	assert_int_equal(user_hostfwd_remove("u0", "tcp:127.0.0.1", &err), -EINVAL);

	/* The same through HMP's text, with QEMU's replies. */
	snprintf(line, sizeof(line), "u0 tcp:127.0.0.1:%d-10.0.2.15:22", port);
	assert_int_equal(hmp(user_hmp_hostfwd_add, line), 0);
	assert_string_equal(hmp_out, "");
	assert_int_equal(connect_port(port), 0);
	snprintf(line, sizeof(line), "tcp:127.0.0.1:%d", port);
	assert_int_equal(hmp(user_hmp_hostfwd_remove, line), 0);
	snprintf(line, sizeof(line), "host forwarding rule for tcp:127.0.0.1:%d removed\n", port);
	assert_string_equal(hmp_out, line);
	snprintf(line, sizeof(line), "  u0   tcp:127.0.0.1:%d ", port);
	assert_int_equal(hmp(user_hmp_hostfwd_remove, line), -ENOENT);
	snprintf(line, sizeof(line), "host forwarding rule for tcp:127.0.0.1:%d not found\n", port);
	assert_string_equal(hmp_out, line);
	assert_int_equal(hmp(user_hmp_hostfwd_add, "nope tcp::1-:22"), -ENOENT);
	assert_string_equal(hmp_out, "unrecognized netdev id 'nope'\n");
	assert_int_equal(hmp(user_hmp_hostfwd_add, "u0 tcp::x-:22"), -EINVAL);
	assert_string_equal(hmp_out, "Invalid host forwarding rule 'tcp::x-:22' (Bad host port)\n");
	assert_int_equal(hmp(user_hmp_hostfwd_remove, "u0 tcp:1.2.3"), -EINVAL);
	assert_non_null(strstr(hmp_out, "invalid format"));
	assert_int_equal(hmp(user_hmp_hostfwd_add, ""), -EINVAL);
	assert_int_equal(hmp(user_hmp_hostfwd_add, "a b c"), -EINVAL);
	assert_string_equal(hmp_out, "expected [netdev_id] rule\n");
	assert_int_equal(hmp(info_usernet, ""), 0);
	assert_non_null(strstr(hmp_out, "Hub -1 (u0):"));
	free(hmp_out);
	hmp_out = NULL;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static struct guest *guest_on_user(const char *opts)
{
	struct error err = { 0 };
	struct guest *g;

	assert_int_equal(netdev_add(loop, opts, &err), 0);
	g = (struct guest *)net_client_new(&guest_ops, loop, net_find("u0"), NULL, "g0");
	assert_non_null(g);
	return g;
}

/* who-has 10.0.2.2 tell 10.0.2.15: libslirp learns the guest's MAC and answers. */
static void guest_arp(struct guest *g)
{
	uint8_t f[42] = { 0 };

	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, ETH_P_ARP);
	put16(f + 14, 1);
	put16(f + 16, ETH_P_IP);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, ARP_REQUEST);
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, (uint8_t[]){ 10, 0, 2, 15 }, 4);
	memcpy(f + 38, (uint8_t[]){ 10, 0, 2, 2 }, 4);
	assert_int_equal(net_send(&g->nc, f, sizeof(f)), sizeof(f));
}

static void test_arp_dhcp(void **state)
{
	/* libslirp's answers frame by frame (the native engine's: test_usernet.c). */
	struct guest *g = guest_on_user("user,id=u0,engine=slirp");
	uint8_t f[ETH_HLEN + 20 + 8 + 240 + 4] = { 0 };
	uint8_t *ip = f + ETH_HLEN, *udp = ip + 20, *bootp = udp + 8;
	struct iovec iov[3];

	guest_arp(g);
	assert_int_equal(g->got, 1);
	assert_int_equal(get16(g->last + 12), ETH_P_ARP);
	assert_int_equal(get16(g->last + 20), ARP_REPLY);
	assert_memory_equal(g->last + 22, host_mac, 6);
	assert_memory_equal(g->last + 28, ((uint8_t[]){ 10, 0, 2, 2 }), 4);

	/* DHCPDISCOVER, handed over in three pieces: the stack sees one frame. */
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, ETH_P_IP);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(sizeof(f) - ETH_HLEN));
	ip[8] = 64;
	ip[9] = IP_PROTO_UDP;
	memset(ip + 16, 0xff, 4);
	put16(ip + 10, ip_checksum(ip, 20));
	put16(udp, DHCP_CLIENT_PORT);
	put16(udp + 2, DHCP_SERVER_PORT);
	put16(udp + 4, (uint16_t)(sizeof(f) - ETH_HLEN - 20));
	bootp[0] = 1; /* BOOTREQUEST */
	bootp[1] = 1;
	bootp[2] = 6;
	memcpy(bootp + 4, "\x12\x34\x56\x78", 4);
	memcpy(bootp + 28, guest_mac, 6);
	put16(bootp + 236, DHCP_MAGIC >> 16);
	put16(bootp + 238, DHCP_MAGIC & 0xffff);
	bootp[240] = DHCP_OPT_TYPE;
	bootp[241] = 1;
	bootp[242] = DHCP_DISCOVER;
	bootp[243] = DHCP_OPT_END;
	iov[0] = (struct iovec){ f, 10 };
	iov[1] = (struct iovec){ f + 10, 30 };
	iov[2] = (struct iovec){ f + 40, sizeof(f) - 40 };
	assert_int_equal(net_send_iov(&g->nc, iov, 3, 0, NULL), sizeof(f));
	assert_int_equal(g->got, 2);
	ip = g->last + ETH_HLEN;
	assert_int_equal(get16(g->last + 12), ETH_P_IP);
	assert_int_equal(ip[9], IP_PROTO_UDP);
	assert_memory_equal(ip + 12, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
	udp = ip + (ip[0] & 0xf) * 4;
	assert_int_equal(get16(udp + 2), DHCP_CLIENT_PORT);
	bootp = udp + 8;
	assert_int_equal(bootp[0], 2); /* BOOTREPLY */
	assert_memory_equal(bootp + 16, ((uint8_t[]){ 10, 0, 2, 15 }), 4); /* yiaddr */
	assert_int_equal(bootp[240], DHCP_OPT_TYPE);
	assert_int_equal(bootp[242], DHCP_OFFER);
}

/* A host connection to a forwarded port becomes a SYN to the guest: the accept happens in
 * a round driven by the loop (the listening socket is in the epoll set). */
static void test_hostfwd_reaches_guest(void **state)
{
	char opts[128];
	int port = free_port(), fd;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct guest *g;
	bool syn = false;

	snprintf(opts, sizeof(opts), "user,id=u0,hostfwd=tcp:127.0.0.1:%d-10.0.2.15:2222", port);
	g = guest_on_user(opts);
	guest_arp(g);
	loop_run_once(loop, 0);
	g->got = 0;
	sin.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	for (int i = 0; i < 20 && !syn; i++) {
		const uint8_t *ip = g->last + ETH_HLEN, *tcp;

		loop_run_once(loop, 100);
		if (!g->got || get16(g->last + 12) != ETH_P_IP || ip[9] != IP_PROTO_TCP)
			continue;
		tcp = ip + (ip[0] & 0xf) * 4;
		assert_memory_equal(g->last, guest_mac, 6);
		assert_memory_equal(ip + 16, ((uint8_t[]){ 10, 0, 2, 15 }), 4);
		assert_int_equal(get16(tcp + 2), 2222);
		syn = tcp[13] & TCP_SYN;
	}
	close(fd);
	assert_true(syn);
}

/* With nothing to do, the loop wakes only for libslirp's timers (at most every 0.5 s). */
static void test_idle_does_not_spin(void **state)
{
	char opts[128];
	int rounds = 0;
	int64_t end;

	snprintf(opts, sizeof(opts), "user,id=u0,hostfwd=tcp:127.0.0.1:%d-:22", free_port());
	guest_on_user(opts);
	loop_run_once(loop, 0);
	end = loop_now_ns() + 1200000000LL;
	while (loop_now_ns() < end) {
		loop_run_once(loop, 100);
		rounds++;
	}
	/* 12 polls of 100 ms, plus at most a few timer wake-ups */
	assert_true(rounds <= 20);
}

/* The guestfwd relay: a unix client's bytes reach a TCP echo server and come back intact,
 * through rings far smaller than the transfer; the client's end of file reaches the server,
 * whose end of file comes back. The two peers are threads; the loop runs here. */
#define RELAY_BYTES (4 << 20)

struct relay_peer {
	int fd;
	size_t done;
	bool ok;
	int finished; /* set last, atomically: the loop thread polls it */
};

static void relay_finish(struct relay_peer *p)
{
	__atomic_store_n(&p->finished, 1, __ATOMIC_RELEASE);
}

static bool relay_finished(struct relay_peer *p)
{
	return __atomic_load_n(&p->finished, __ATOMIC_ACQUIRE);
}

static void *echo_server(void *arg)
{
	struct relay_peer *p = arg;
	int c = accept(p->fd, NULL, NULL);
	char buf[65536];
	ssize_t n;

	while (c >= 0 && (n = read(c, buf, sizeof(buf))) > 0) {
		if (write(c, buf, (size_t)n) != n)
			break;
		p->done += (size_t)n;
	}
	p->ok = c >= 0 && n == 0;
	if (c >= 0)
		close(c);
	relay_finish(p);
	return NULL;
}

static void *relay_writer(void *arg)
{
	struct relay_peer *p = arg;
	uint8_t buf[65536];

	for (size_t off = 0; off < RELAY_BYTES;) {
		size_t n = sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((off + i) * 7 + 1);
		if (write(p->fd, buf, n) != (ssize_t)n)
			break;
		off += n;
		p->done = off;
	}
	p->ok = p->done == RELAY_BYTES && shutdown(p->fd, SHUT_WR) == 0;
	relay_finish(p);
	return NULL;
}

static void *relay_reader(void *arg)
{
	struct relay_peer *p = arg;
	uint8_t buf[65536];
	ssize_t n;

	p->ok = true;
	while ((n = read(p->fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != (uint8_t)((p->done + (size_t)i) * 7 + 1))
				p->ok = false;
		p->done += (size_t)n;
	}
	relay_finish(p);
	return NULL;
}

static void test_guestfwd_relay(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct relay_peer server = { 0 }, writer = { 0 }, reader = { 0 };
	pthread_t ts, tw, tr;
	struct error err = { 0 };
	struct user_guestfwd *g;
	socklen_t len = sizeof(sin);
	char target[64];
	int64_t end;

	server.fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(server.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(server.fd, 4), 0);
	assert_int_equal(getsockname(server.fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(target, sizeof(target), "127.0.0.1:%d", ntohs(sin.sin_port));
	assert_null(user_guestfwd_new(loop, "127.0.0.1", &err));
	assert_non_null(strstr(err.msg, "expected tcp:HOST:PORT"));
	g = user_guestfwd_new(loop, target, &err);
	assert_non_null(g);
	assert_int_equal(pthread_create(&ts, NULL, echo_server, &server), 0);

	writer.fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strncpy(sun.sun_path, user_guestfwd_path(g), sizeof(sun.sun_path) - 1);
	assert_int_equal(connect(writer.fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	reader.fd = writer.fd;
	assert_int_equal(pthread_create(&tw, NULL, relay_writer, &writer), 0);
	assert_int_equal(pthread_create(&tr, NULL, relay_reader, &reader), 0);
	end = loop_now_ns() + 30000000000LL;
	while (!(relay_finished(&writer) && relay_finished(&reader) && relay_finished(&server)))
		if (loop_run_once(loop, 10) < 0 || loop_now_ns() > end)
			fail_msg("the relay stalled");
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	pthread_join(ts, NULL);
	assert_true(writer.ok);
	assert_true(server.ok);
	assert_int_equal(server.done, RELAY_BYTES);
	assert_int_equal(reader.done, RELAY_BYTES);
	assert_true(reader.ok);
	close(writer.fd);
	close(server.fd);
	user_guestfwd_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd_runtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_dhcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd_reaches_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_does_not_spin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guestfwd_relay, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
