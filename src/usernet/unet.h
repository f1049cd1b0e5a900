/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * unet.h - the native user-mode engine's state, shared by its protocol files: usernet.c (the
 * engine: frames in, dispatch, flow table, timers, output), tcp.c, udp.c and icmp.c (one
 * kind of flow each, mirrored onto host sockets). Nothing outside src/usernet/ includes it.
 */
#ifndef VWIRE_USERNET_UNET_H
#define VWIRE_USERNET_UNET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/log.h"
#include "usernet/dhcp.h"
#include "usernet/packet.h"
#include "usernet/usernet.h"

/* Flows of every kind at once when the configuration does not say. */
#define UNET_MAX_FLOWS_DEFAULT 4096
/* Buckets of the flow hash (a power of two). */
#define UNET_HASH_BUCKETS 4096
/* The periodic tick that runs retransmissions and timeouts while flows exist. */
#define UNET_TICK_NS 100000000LL

/* What an object in the inner epoll set is: the first byte of a flow and of a rule. */
enum unet_kind {
	UNET_K_TCP = 1,
	UNET_K_UDP,
	UNET_K_ICMP,
	UNET_K_FWD_TCP,
	UNET_K_FWD_UDP,
};

/* Bytes read from host sockets for the guest at once (several 64 KiB frames). */
#define UNET_PAYLOAD_BUF (4 * 65536)

/* Engine counters (names in usernet.c). */
enum unet_counter {
	UNET_C_TCP_OPENED,
	UNET_C_TCP_REFUSED,
	UNET_C_TCP_RESETS,
	UNET_C_TCP_RETRANSMITS,
	UNET_C_TCP_LENT,
	UNET_C_UDP_OPENED,
	UNET_C_ICMP_OPENED,
	UNET_C_FLOWS_FULL,
	UNET_C_RESTRICTED,
	UNET_C_NO_ROUTE,
	UNET_C_BAD_SEGMENT,
	UNET_C_MAX
};

/**
 * struct unet_flow - what every flow has: its key, as the guest sees it, and its links.
 *		      Addresses are IPv6, or IPv4 as ::ffff:a.b.c.d (the flow's family).
 * @kind:	UNET_K_TCP, UNET_K_UDP or UNET_K_ICMP (first: the inner epoll set's tag)
 * @dead:	removed: freed after the current event batch
 * @more:	the last read stopped at its budget: the tick reads on (edge-triggered, what
 *		is left would never wake the flow again)
 * @fd:		its host socket
 * @proto:	IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP
 * @gaddr:	the guest's address
 * @gport:	the guest's port (ICMP: the echo identifier)
 * @raddr:	the remote address, as the guest sees it (10.0.2.2 for the host's loopback)
 * @rport:	the remote port (ICMP: 0)
 * @hnext:	next flow in the same hash bucket
 * @prev:	previous flow in the engine's list
 * @next:	next flow in the engine's list
 */
struct unet_flow {
	uint8_t kind;
	bool dead;
	bool more;
	int fd;
	uint8_t proto;
	struct in6_addr gaddr;
	uint16_t gport;
	struct in6_addr raddr;
	uint16_t rport;
	struct unet_flow *hnext;
	struct unet_flow *prev;
	struct unet_flow *next;
};

struct unet_hostfwd;

/**
 * struct unet_guestfwd - a guestfwd= rule: the guest's connections to an address of the
 *			  virtual network go to a target on the host
 * @server:	the address in the virtual network
 * @port:	its port
 * @target:	where connections go (IPv4, IPv6 or unix)
 * @target_len:	its length
 * @next:	next rule
 */
struct unet_guestfwd {
	struct in_addr server;
	uint16_t port;
	struct sockaddr_storage target;
	socklen_t target_len;
	struct unet_guestfwd *next;
};

/**
 * struct usernet - the engine
 * @loop:		the loop that drives it
 * @cfg:		the network
 * @output:		frames to the guest
 * @opaque:		for @output, @lend and @commit
 * @lend:		borrows the guest's receive buffers (optional)
 * @commit:		hands them over
 * @gso:		whether the guest's side takes GSO frames (optional: always)
 * @host_mac:		the engine's MAC: every frame to the guest comes from it
 * @guest_mac:		the guest's MAC, once heard
 * @guest_mac_known:	whether it was
 * @host_ll:		the engine's IPv6 link-local address
 * @host4:		the host address, as ::ffff:a.b.c.d
 * @ra_sent:		an unsolicited router advertisement went out
 * @dhcp:		the DHCP server's leases
 * @resolver:		the host's DNS server (first nameserver of /etc/resolv.conf, IPv4
 *			preferred); family 0 when there is none
 * @resolver_len:	its length
 * @buckets:		the flow hash
 * @flows:		every flow, newest first
 * @nflows:		how many
 * @max_flows:		bound
 * @fwds:		forwarding rules
 * @guestfwds:		guestfwd= rules
 * @dead:		flows removed during the current event batch, to free after it
 * @epfd:		the inner epoll set of every host socket
 * @tick:		timer of the periodic tick (armed while flows exist)
 * @tcp_wnd_list:	TCP connections whose offered window is small (tcp.c)
 * @tcp_wnd_timer:	looks at them until they have room
 * @blocked:		the guest's side took nothing: wait for usernet_resume()
 * @ip_id:		next IPv4 identification
 * @drops:		guest frames dropped by parse reason
 * @counters:		UNET_C_*
 * @rl:			rate limit of its log lines
 * @hdr:		the guest frame being handled, flat: its headers, or all of a small one
 * @scratch:		room to build a control frame or a small datagram to the guest
 * @payload:		room for data read from host sockets for the guest
 * @payload_size:	its size
 */
struct usernet {
	struct loop *loop;
	struct usernet_config cfg;
	usernet_output_fn *output;
	void *opaque;
	usernet_lend_fn *lend;
	usernet_commit_fn *commit;
	usernet_gso_fn *gso;
	uint8_t host_mac[UNET_ETH_ALEN];
	uint8_t guest_mac[UNET_ETH_ALEN];
	bool guest_mac_known;
	struct in6_addr host_ll;
	struct in6_addr host4;
	bool ra_sent;
	struct unet_dhcp dhcp;
	struct sockaddr_storage resolver;
	socklen_t resolver_len;
	struct unet_flow **buckets;
	struct unet_flow *flows;
	unsigned int nflows;
	unsigned int max_flows;
	struct unet_hostfwd *fwds;
	struct unet_guestfwd *guestfwds;
	struct unet_flow *dead;
	int epfd;
	struct loop_timer *tick;
	void *tcp_wnd_list;
	struct loop_timer *tcp_wnd_timer;
	bool blocked;
	uint16_t ip_id;
	uint64_t drops[UNET_DROP_MAX];
	uint64_t counters[UNET_C_MAX];
	struct log_ratelimit rl;
	uint8_t hdr[2048];
	uint8_t scratch[2048];
	uint8_t *payload;
	size_t payload_size;
};

/* Bytes of TCP payload one frame to the guest carries at most (a 64 KiB IPv6 payload, or
 * IPv4 packet: the smaller of the two). */
#define UNET_GSO_PAYLOAD_MAX (65535 - UNET_IPV4_HLEN - UNET_TCP_HLEN)
/* The Ethernet and IP headers of a frame to the guest, at most (IPv6). */
#define UNET_L3_HLEN_MAX (UNET_ETH_HLEN + UNET_IPV6_HLEN)

/* An address of the flow table: IPv4 flows carry ::ffff:a.b.c.d. */
static inline bool unet_is_v4(const struct in6_addr *a)
{
	return IN6_IS_ADDR_V4MAPPED(a);
}

static inline struct in_addr unet_v4(const struct in6_addr *a)
{
	struct in_addr v4;

	memcpy(&v4, &a->s6_addr[12], sizeof(v4));
	return v4;
}

static inline struct in6_addr unet_mapped(struct in_addr v4)
{
	struct in6_addr a = { .s6_addr = { [10] = 0xff, [11] = 0xff } };

	memcpy(&a.s6_addr[12], &v4, sizeof(v4));
	return a;
}

/* usernet.c */
struct unet_flow *unet_flow_find(struct usernet *u, uint8_t proto, const struct in6_addr *gaddr,
				 uint16_t gport, const struct in6_addr *raddr, uint16_t rport);
void unet_flow_init(struct unet_flow *f, enum unet_kind kind, uint8_t proto, int fd,
		    const struct in6_addr *gaddr, uint16_t gport, const struct in6_addr *raddr,
		    uint16_t rport);
int unet_flow_add(struct usernet *u, struct unet_flow *f);
void unet_flow_remove(struct usernet *u, struct unet_flow *f);
size_t unet_vnet_hdr_put(uint8_t *buf, uint8_t flags, uint8_t gso_type, uint16_t hdr_len,
			 uint16_t gso_size, uint16_t csum_start, uint16_t csum_offset);
ssize_t unet_output(struct usernet *u, const struct iovec *iov, int iovcnt);
ssize_t unet_send_plain(struct usernet *u, const uint8_t *frame, size_t len);
ssize_t unet_send_datagram(struct usernet *u, const struct in6_addr *saddr,
			   const struct in6_addr *daddr, uint8_t proto, uint8_t *l4_hdr, size_t l4_hdr_len, size_t csum_off,
			   const uint8_t *data, size_t len);
int unet_watch(struct usernet *u, int fd, void *obj, uint32_t events);
int unet_iov_slice(const struct iovec *iov, int iovcnt, size_t off, size_t len,
		   struct iovec *out, int max);
size_t unet_put_l3(struct usernet *u, uint8_t *buf, const struct in6_addr *saddr,
		   const struct in6_addr *daddr, uint8_t proto, size_t l4_len);
uint64_t unet_pseudo_sum(const struct in6_addr *saddr, const struct in6_addr *daddr, uint8_t proto,
			 size_t l4_len);
int unet_map_remote(struct usernet *u, const struct in6_addr *raddr, uint16_t rport,
		    uint8_t proto, struct sockaddr_storage *to, socklen_t *to_len);
struct in6_addr unet_present_peer(struct usernet *u, const struct sockaddr_storage *peer,
				  uint16_t *port);
bool unet_is_engine_addr(struct usernet *u, const struct in6_addr *a);
void unet_need_guest_mac(struct usernet *u, const struct in6_addr *gaddr);
void unet_tick_arm(struct usernet *u);

/**
 * struct unet_hostfwd - a forwarding rule: a host socket listening for the guest
 * @kind:	UNET_K_FWD_TCP or UNET_K_FWD_UDP (first: the inner epoll set's tag)
 * @u:		the engine
 * @udp:	UDP rule (otherwise TCP)
 * @fd:		the listening (TCP) or bound (UDP) socket
 * @host:	where it listens
 * @guest:	where in the guest it leads
 * @next:	next rule
 */
struct unet_hostfwd {
	uint8_t kind;
	struct usernet *u;
	bool udp;
	int fd;
	struct sockaddr_in host;
	struct sockaddr_in guest;
	struct unet_hostfwd *next;
};

/* tcp.c */
void unet_tcp_input(struct usernet *u, const struct unet_frame *f, const struct iovec *iov,
		    int iovcnt, size_t frame_off);
void unet_tcp_accept(struct unet_hostfwd *fwd);
void unet_tcp_event(struct usernet *u, struct unet_flow *f, uint32_t events);
void unet_tcp_wnd_poll(void *opaque);
void unet_tcp_tick(struct usernet *u, struct unet_flow *f, int64_t now);
void unet_tcp_resume(struct usernet *u, struct unet_flow *f);
void unet_tcp_free(struct usernet *u, struct unet_flow *f);
const char *unet_tcp_state(const struct unet_flow *f);

/* udp.c */
void unet_udp_input(struct usernet *u, const struct unet_frame *f, const struct iovec *iov,
		    int iovcnt, size_t frame_off);
void unet_udp_hostfwd_readable(struct unet_hostfwd *fwd);
void unet_udp_event(struct usernet *u, struct unet_flow *f, uint32_t events);
void unet_udp_forget_fwd(struct usernet *u, struct unet_hostfwd *fwd);
void unet_udp_tick(struct usernet *u, struct unet_flow *f, int64_t now);
void unet_udp_free(struct usernet *u, struct unet_flow *f);


/* icmp.c */
void unet_icmp_input(struct usernet *u, const struct unet_frame *f, const struct iovec *iov,
		     int iovcnt, size_t frame_off);
void unet_icmp_event(struct usernet *u, struct unet_flow *f, uint32_t events);
void unet_icmp_tick(struct usernet *u, struct unet_flow *f, int64_t now);
void unet_icmp_free(struct usernet *u, struct unet_flow *f);

#endif
