/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * usernet.h - the native user-mode engine (-netdev user,engine=native): what its net client
 * (src/backends/user-native.c) asks of it. The engine mirrors each guest flow onto a host
 * socket (TCP, UDP, ICMP echo through ping sockets) and answers ARP, DHCP and ICMP for its own
 * addresses itself; frames to the guest leave through the output callback, vnet header first.
 */
#ifndef VWIRE_USERNET_USERNET_H
#define VWIRE_USERNET_USERNET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

struct loop;
struct usernet;

/* Most names in dnssearch= the engine hands out. */
#define USERNET_DNSSEARCH_MAX 16

/**
 * struct usernet_config - the virtual network (QEMU 7.2's defaults: 10.0.2.0/24, .2, .3, .15)
 * @net:	network address
 * @mask:	its netmask
 * @host:	the gateway and host's address in the network (10.0.2.2)
 * @dns:	the DNS server's address (10.0.2.3)
 * @dhcp_start:	first address handed out by DHCP (10.0.2.15)
 * @restricted:	restrict=on: the guest reaches only forwarded ports and the engine's services
 * @mtu:	the link's MTU (1500 by default)
 * @hostname:	DHCP option 12, or NULL
 * @domainname:	DHCP option 15, or NULL
 * @dnssearch:	DHCP option 119's names, NULL-terminated (may be NULL)
 * @max_flows:	bound on flows of all kinds (0: the default)
 * @ipv6:	serve IPv6 too (router advertisements, NDP, DHCPv6, flows)
 * @prefix6:	the IPv6 prefix (QEMU's fec0::)
 * @prefix6_len: its length (64)
 * @host6:	the host's IPv6 address (prefix::2)
 * @dns6:	the DNS server's IPv6 address (prefix::3)
 */
struct usernet_config {
	struct in_addr net;
	struct in_addr mask;
	struct in_addr host;
	struct in_addr dns;
	struct in_addr dhcp_start;
	bool restricted;
	unsigned int mtu;
	const char *hostname;
	const char *domainname;
	const char *const *dnssearch;
	unsigned int max_flows;
	bool ipv6;
	struct in6_addr prefix6;
	uint8_t prefix6_len;
	struct in6_addr host6;
	struct in6_addr dns6;
};

/**
 * typedef usernet_output_fn - send one frame to the guest
 * @opaque:	the net client's
 * @iov:	a struct virtio_net_hdr_v1 (12 bytes), then the Ethernet frame
 * @iovcnt:	pieces
 *
 * Return: > 0 when taken or dropped, 0 when it was taken but the guest's side is full (it
 *	   was queued): the engine reads no more for the guest until usernet_resume()
 */
typedef ssize_t usernet_output_fn(void *opaque, const struct iovec *iov, int iovcnt);

/**
 * typedef usernet_lend_fn - borrow the guest's receive buffers for one frame
 * @opaque:	the net client's
 * @iov:	filled with the buffers
 * @max_iov:	room in @iov
 * @max_len:	the longest frame the engine may write, vnet header first (it writes the
 *		header: the guest's side must take vnet headers)
 *
 * Return: iovecs lent (then usernet_commit_fn is called once), or 0
 */
typedef int usernet_lend_fn(void *opaque, struct iovec *iov, int max_iov, size_t max_len);

/**
 * typedef usernet_commit_fn - hand over the frame written into lent buffers
 * @opaque:	the net client's
 * @len:	bytes written, header included (0: none; the buffers go back)
 */
typedef void usernet_commit_fn(void *opaque, size_t len);

/**
 * typedef usernet_gso_fn - whether the guest's side takes GSO frames now (a vnet header that
 *			    asks for segmentation, done by the guest or a device that offloads)
 * @opaque:	the net client's
 *
 * Without, TCP data goes to the guest one segment per frame: the core would cut a GSO frame
 * for such a peer, and a ring that fills halfway loses the rest of the cut frame.
 *
 * Return: true when GSO frames are taken whole
 */
typedef bool usernet_gso_fn(void *opaque);

/**
 * usernet_new() - start the engine on @loop
 * @loop:	the event loop that drives its sockets and timers
 * @cfg:	the network (copied; strings must outlive the engine)
 * @output:	how frames reach the guest
 * @opaque:	for @output
 * @errp:	set to a negative errno on failure
 *
 * Return: the engine, or NULL
 */
struct usernet *usernet_new(struct loop *loop, const struct usernet_config *cfg,
			    usernet_output_fn *output, void *opaque, int *errp);

/**
 * usernet_set_lend() - let TCP data for the guest be read straight into its buffers
 * @u:		the engine
 * @lend:	borrows them (NULL: always copy through output)
 * @commit:	hands them over
 */
void usernet_set_lend(struct usernet *u, usernet_lend_fn *lend, usernet_commit_fn *commit);

/**
 * usernet_set_gso() - ask @gso before TCP data is framed for the guest (unset: GSO frames
 *		       always)
 * @u:		the engine
 * @gso:	says whether the guest's side takes GSO frames
 */
void usernet_set_gso(struct usernet *u, usernet_gso_fn *gso);

/**
 * usernet_free() - close every flow and listening socket and free the engine; NULL is ignored
 * @u: the engine
 */
void usernet_free(struct usernet *u);

/**
 * usernet_input() - one frame from the guest (untrusted)
 * @u:		the engine
 * @iov:	the frame, a struct virtio_net_hdr_v1 first when @vnet_hdr
 * @iovcnt:	pieces
 * @vnet_hdr:	whether it starts with a vnet header
 */
void usernet_input(struct usernet *u, const struct iovec *iov, int iovcnt, bool vnet_hdr);

/**
 * usernet_resume() - the guest's side takes frames again after output returned 0: flows
 *		      waiting for it read from their sockets again
 * @u: the engine
 */
void usernet_resume(struct usernet *u);

/**
 * usernet_hostfwd_add() - forward a host port to the guest
 * @u:		the engine
 * @udp:	UDP (otherwise TCP)
 * @host:	where to listen (address INADDR_ANY: every address)
 * @guest:	where to connect in the guest (address 0: dhcp_start)
 *
 * Return: 0, -EADDRINUSE (the same rule exists) or the negative errno of socket/bind/listen
 */
int usernet_hostfwd_add(struct usernet *u, bool udp, const struct sockaddr_in *host,
			const struct sockaddr_in *guest);

/**
 * usernet_hostfwd_remove() - stop forwarding a host port (connections made stay)
 * @u:		the engine
 * @udp:	UDP (otherwise TCP)
 * @host:	the rule's host address and port
 *
 * Return: 0 or -ENOENT
 */
int usernet_hostfwd_remove(struct usernet *u, bool udp, const struct sockaddr_in *host);

/**
 * usernet_guestfwd_add() - let the guest's TCP connections to @server:@port reach @target
 *			    (guestfwd=, even with restrict=on)
 * @u:		the engine
 * @server:	an address of the virtual network other than the host's and the DNS server's
 * @port:	its port
 * @target:	where each connection goes: an IPv4, IPv6 or unix stream address
 * @target_len:	its length
 *
 * The engine answers ARP for @server.
 *
 * Return: 0, -EEXIST (@server:@port is forwarded already), -EINVAL (@server is not
 *	   usable) or -ENOMEM
 */
int usernet_guestfwd_add(struct usernet *u, struct in_addr server, uint16_t port,
			 const struct sockaddr *target, socklen_t target_len);

/**
 * usernet_print_flows() - "info usernet": one line per flow and forwarding rule
 * @u:		the engine
 * @out:	where to print
 */
void usernet_print_flows(struct usernet *u, FILE *out);

/**
 * typedef usernet_counter_fn - one counter of the engine
 * @opaque:	the caller's
 * @name:	e.g. "tcp-flows"
 * @value:	its value
 */
typedef void usernet_counter_fn(void *opaque, const char *name, uint64_t value);

/**
 * usernet_counters() - report the engine's counters (flows, drops by reason)
 * @u:		the engine
 * @add:	called once per counter
 * @opaque:	for @add
 */
void usernet_counters(struct usernet *u, usernet_counter_fn *add, void *opaque);

#endif
