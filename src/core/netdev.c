// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * netdev.c - the one option table: every -netdev type, -object and -device that vwire can
 * create, with the typed struct its options decode into and the init function it calls.
 *
 * An option string is parsed (opts.c), checked against the type's field table (unknown
 * keys and bad values are errors naming them), decoded into the typed struct and handed to
 * the init function, which never sees a string to parse.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#if HAVE_SLIRP
#include "backends/user.h"
#endif
#include "core/iothread.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/net.h"
#include "vwire/opts.h"

typedef int creatable_init_fn(const void *opts, const char *id, struct loop *loop,
			      struct error *err);

/**
 * struct creatable - one kind of thing the command line creates
 * @name:	its type name, as in -netdev NAME
 * @desc:	its options (terminated by a NULL name)
 * @size:	size of its typed option struct
 * @defaults:	sets defaults in the zeroed struct (NULL: all zero)
 * @init:	creates it
 */
struct creatable {
	const char *name;
	const struct opt_desc *desc;
	size_t size;
	void (*defaults)(void *opts);
	creatable_init_fn *init;
};

#define OPT(st, key, kind_, field, help_)                                                    \
	{ .name = key, .kind = kind_, .offset = offsetof(st, field), .help = help_ }
#define OPT_SET(st, key, kind_, field, has, help_)                                           \
	{ .name = key, .kind = kind_, .offset = offsetof(st, field),                         \
	  .set_offset = offsetof(st, has), .help = help_ }
#define OPT_MAX(st, key, kind_, field, max_, help_)                                          \
	{ .name = key, .kind = kind_, .offset = offsetof(st, field), .max = max_, .help = help_ }

/* Generates a type-safe trampoline from the generic init signature to a typed one. */
#define CREATABLE_INIT(fn, type)                                                              \
	static int fn##_any(const void *opts, const char *id, struct loop *loop,             \
			    struct error *err)                                                \
	{                                                                                     \
		return fn((const type *)opts, id, loop, err);                                 \
	}

/* -netdev hubport */
static const struct opt_desc hubport_desc[] = {
	OPT_SET(struct netdev_hubport_opts, "hubid", OPT_UINT, hubid, has_hubid, "hub number"),
	OPT(struct netdev_hubport_opts, "netdev", OPT_STRING, netdev, "netdev to peer with"),
	OPT_SET(struct netdev_hubport_opts, "learning", OPT_BOOL, learning, has_learning,
		"the hub is a learning switch (on|off)"),
	OPT_MAX(struct netdev_hubport_opts, "mac-table-size", OPT_UINT, mac_table_size, 1 << 20,
		"switch: most MAC addresses learnt (default 4096)"),
	OPT_MAX(struct netdev_hubport_opts, "ageing", OPT_UINT, ageing, 86400,
		"switch: seconds before a MAC entry expires (default 300)"),
	{ 0 }
};
CREATABLE_INIT(net_init_hubport, struct netdev_hubport_opts)

/* -netdev tap */
static const struct opt_desc tap_desc[] = {
	OPT(struct netdev_tap_opts, "ifname", OPT_STRING, ifname,
	    "interface name (default: the kernel picks tapN)"),
	OPT(struct netdev_tap_opts, "fd", OPT_STRING, fd, "an inherited, open tap fd"),
	OPT(struct netdev_tap_opts, "fds", OPT_STRING, fds,
	    "inherited tap fds, one per queue (fd:fd:...)"),
	OPT(struct netdev_tap_opts, "script", OPT_STRING, script,
	    "run 'script ifname' once the tap exists (default: no)"),
	OPT(struct netdev_tap_opts, "downscript", OPT_STRING, downscript,
	    "run 'downscript ifname' when it goes (default: no)"),
	OPT(struct netdev_tap_opts, "br", OPT_STRING, br, "with helper=: bridge (default br0)"),
	OPT(struct netdev_tap_opts, "helper", OPT_STRING, helper,
	    "get the tap fd from this bridge helper"),
	OPT_SET(struct netdev_tap_opts, "sndbuf", OPT_SIZE, sndbuf, has_sndbuf,
		"send buffer limit (default: unlimited)"),
	OPT_SET(struct netdev_tap_opts, "vnet_hdr", OPT_BOOL, vnet_hdr, has_vnet_hdr,
		"virtio-net header (default: on when the kernel has it)"),
	OPT_SET(struct netdev_tap_opts, "vhost", OPT_BOOL, vhost, has_vhost,
		"only off: vwire moves the packets itself"),
	OPT_SET(struct netdev_tap_opts, "queues", OPT_UINT, queues, has_queues,
		"number of queues (default 1; more: IFF_MULTI_QUEUE)"),
	OPT(struct netdev_tap_opts, "poll-us", OPT_UINT, poll_us,
	    "accepted and ignored (a vhost-net setting)"),
	OPT_SET(struct netdev_tap_opts, "uring", OPT_BOOL, uring, has_uring,
		"read and write frames in batches through io_uring (default: on where the "
		"kernel allows it)"),
	{ 0 }
};
CREATABLE_INIT(net_init_tap, struct netdev_tap_opts)

/* -netdev bridge */
static const struct opt_desc bridge_desc[] = {
	OPT(struct netdev_bridge_opts, "br", OPT_STRING, br, "bridge (default br0)"),
	OPT(struct netdev_bridge_opts, "helper", OPT_STRING, helper,
	    "helper (default /usr/lib/qemu/qemu-bridge-helper)"),
	{ 0 }
};
CREATABLE_INIT(net_init_bridge, struct netdev_bridge_opts)

/* -netdev l2tpv3 (QEMU 7.2's options) */
static const struct opt_desc l2tpv3_desc[] = {
	OPT(struct netdev_l2tpv3_opts, "src", OPT_STRING, src, "source address"),
	OPT(struct netdev_l2tpv3_opts, "dst", OPT_STRING, dst, "destination address"),
	OPT(struct netdev_l2tpv3_opts, "srcport", OPT_STRING, srcport, "source UDP port"),
	OPT(struct netdev_l2tpv3_opts, "dstport", OPT_STRING, dstport, "destination UDP port"),
	OPT(struct netdev_l2tpv3_opts, "ipv6", OPT_BOOL, ipv6, "IPv6 (on|off, default off)"),
	OPT(struct netdev_l2tpv3_opts, "udp", OPT_BOOL, udp,
	    "UDP encapsulation (on|off; default off: IP protocol 115, which needs CAP_NET_RAW)"),
	OPT(struct netdev_l2tpv3_opts, "cookie64", OPT_BOOL, cookie64,
	    "64-bit cookies (default 32)"),
	OPT(struct netdev_l2tpv3_opts, "counter", OPT_BOOL, counter,
	    "a counter after the cookie (Linux's l2spec_type default)"),
	OPT(struct netdev_l2tpv3_opts, "pincounter", OPT_BOOL, pincounter,
	    "a counter that is always 0"),
	OPT_SET(struct netdev_l2tpv3_opts, "txcookie", OPT_UINT, txcookie, has_txcookie,
		"cookie sent"),
	OPT_SET(struct netdev_l2tpv3_opts, "rxcookie", OPT_UINT, rxcookie, has_rxcookie,
		"cookie expected"),
	OPT_SET(struct netdev_l2tpv3_opts, "txsession", OPT_UINT, txsession, has_txsession,
		"session id sent"),
	OPT_SET(struct netdev_l2tpv3_opts, "rxsession", OPT_UINT, rxsession, has_rxsession,
		"session id expected (default: txsession)"),
	OPT(struct netdev_l2tpv3_opts, "offset", OPT_UINT, offset,
	    "bytes of padding after the header (at most 256)"),
	{ 0 }
};
CREATABLE_INIT(net_init_l2tpv3, struct netdev_l2tpv3_opts)

#if HAVE_VDE
/* -netdev vde */
static const struct opt_desc vde_desc[] = {
	OPT(struct netdev_vde_opts, "sock", OPT_STRING, sock,
	    "socket path of the switch (default: libvdeplug's)"),
	OPT(struct netdev_vde_opts, "port", OPT_UINT, port, "switch port (default: any)"),
	OPT(struct netdev_vde_opts, "group", OPT_STRING, group, "group owning the port"),
	OPT_SET(struct netdev_vde_opts, "mode", OPT_UINT, mode, has_mode,
		"permissions of the port, octal (default 0700)"),
	{ 0 }
};
CREATABLE_INIT(net_init_vde, struct netdev_vde_opts)
#endif

/* -netdev socket */
static const struct opt_desc socket_desc[] = {
	OPT(struct netdev_socket_opts, "fd", OPT_STRING, fd,
	    "an inherited socket, stream (TCP framing) or datagram"),
	OPT(struct netdev_socket_opts, "listen", OPT_STRING, listen,
	    "[host]:port to listen on for one TCP peer at a time"),
	OPT(struct netdev_socket_opts, "connect", OPT_STRING, connect,
	    "host:port of a TCP peer to connect to"),
	OPT(struct netdev_socket_opts, "mcast", OPT_STRING, mcast,
	    "group:port of a UDP multicast group to join"),
	OPT(struct netdev_socket_opts, "localaddr", OPT_STRING, localaddr,
	    "mcast=: address of the interface to use; udp=: local host:port"),
	OPT(struct netdev_socket_opts, "udp", OPT_STRING, udp,
	    "host:port of a UDP peer (with localaddr=host:port)"),
	{ 0 }
};
CREATABLE_INIT(net_init_socket, struct netdev_socket_opts)

/* -netdev stream: addr.* is one address (QEMU's SocketAddress) */
#define STREAM_OPT(key, kind, field, help) OPT(struct netdev_stream_opts, key, kind, field, help)
static const struct opt_desc stream_desc[] = {
	STREAM_OPT("server", OPT_BOOL, server, "listen (on) or connect (off, default)"),
	STREAM_OPT("addr.type", OPT_STRING, addr.type, "inet, unix or fd"),
	STREAM_OPT("addr.host", OPT_STRING, addr.host, "inet: host name or address"),
	STREAM_OPT("addr.port", OPT_STRING, addr.port, "inet: port number or service"),
	STREAM_OPT("addr.to", OPT_UINT, addr.to, "inet, server: try ports up to this one"),
	STREAM_OPT("addr.numeric", OPT_BOOL, addr.numeric, "inet: host and port are numeric"),
	STREAM_OPT("addr.keep-alive", OPT_BOOL, addr.keep_alive, "inet, client: SO_KEEPALIVE"),
	OPT_SET(struct netdev_stream_opts, "addr.ipv4", OPT_BOOL, addr.ipv4, addr.has_ipv4,
		"inet: use IPv4"),
	OPT_SET(struct netdev_stream_opts, "addr.ipv6", OPT_BOOL, addr.ipv6, addr.has_ipv6,
		"inet: use IPv6"),
	STREAM_OPT("addr.path", OPT_STRING, addr.path, "unix: socket path"),
	STREAM_OPT("addr.abstract", OPT_BOOL, addr.abstract, "unix: abstract socket name"),
	OPT_SET(struct netdev_stream_opts, "addr.tight", OPT_BOOL, addr.tight, addr.has_tight,
		"unix, abstract: address length is the name's (default on)"),
	STREAM_OPT("addr.str", OPT_STRING, addr.str, "fd: an inherited socket's number"),
	OPT_MAX(struct netdev_stream_opts, "reconnect", OPT_UINT, reconnect, UINT32_MAX,
		"client: seconds between connection attempts after a failure (0: none)"),
	{ 0 }
};
#undef STREAM_OPT
CREATABLE_INIT(net_init_stream, struct netdev_stream_opts)

/* -netdev dgram: local.* and remote.* are addresses (QEMU's SocketAddress) */
#define DGRAM_OPT(key, field, has, help)                                                     \
	OPT_SET(struct netdev_dgram_opts, key, OPT_STRING, field, has, help)
static const struct opt_desc dgram_desc[] = {
	DGRAM_OPT("local.type", local.type, has_local, "inet, unix or fd"),
	DGRAM_OPT("local.host", local.host, has_local, "inet: local IPv4 address"),
	DGRAM_OPT("local.port", local.port, has_local, "inet: local port"),
	DGRAM_OPT("local.path", local.path, has_local, "unix: local socket path"),
	DGRAM_OPT("local.str", local.str, has_local, "fd: an inherited socket's number"),
	DGRAM_OPT("remote.type", remote.type, has_remote, "inet or unix"),
	DGRAM_OPT("remote.host", remote.host, has_remote, "inet: peer (or multicast group)"),
	DGRAM_OPT("remote.port", remote.port, has_remote, "inet: its port"),
	DGRAM_OPT("remote.path", remote.path, has_remote, "unix: the peer's socket path"),
	{ 0 }
};
#undef DGRAM_OPT
CREATABLE_INIT(net_init_dgram, struct netdev_dgram_opts)

#if HAVE_SLIRP
/* -netdev user */
static void user_defaults(void *opts)
{
	((struct netdev_user_opts *)opts)->mtu = USER_MTU_DEFAULT;
}

#define USER_OPT(key, kind, field, help) OPT(struct netdev_user_opts, key, kind, field, help)
static const struct opt_desc user_desc[] = {
	OPT_SET(struct netdev_user_opts, "ipv4", OPT_BOOL, ipv4, has_ipv4, "IPv4 (default on)"),
	OPT_SET(struct netdev_user_opts, "ipv6", OPT_BOOL, ipv6, has_ipv6, "IPv6 (default on)"),
	USER_OPT("net", OPT_STRING, net, "guest network addr[/mask] (default 10.0.2.0/24)"),
	USER_OPT("host", OPT_STRING, host, "the host's address in it (default x.x.x.2)"),
	USER_OPT("dhcpstart", OPT_STRING, dhcpstart, "first DHCP address (default x.x.x.15)"),
	USER_OPT("dns", OPT_STRING, dns, "DNS forwarder's address (default x.x.x.3)"),
	USER_OPT("ipv6-net", OPT_STRING, ipv6_net, "IPv6 prefix[/len] (default fec0::/64)"),
	USER_OPT("ipv6-host", OPT_STRING, ipv6_host, "the host's IPv6 address (default prefix::2)"),
	USER_OPT("ipv6-dns", OPT_STRING, ipv6_dns, "IPv6 DNS forwarder (default prefix::3)"),
	USER_OPT("restrict", OPT_BOOL, restrict_, "isolate the guest from the host (default off)"),
	USER_OPT("hostname", OPT_STRING, hostname, "client hostname handed out by DHCP"),
	USER_OPT("domainname", OPT_STRING, domainname, "domain name handed out by DHCP"),
	USER_OPT("dnssearch", OPT_STRING_LIST, dnssearch, "DNS search domain (repeatable)"),
	USER_OPT("hostfwd", OPT_STRING_LIST, hostfwd,
		 "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport (repeatable)"),
	USER_OPT("guestfwd", OPT_STRING_LIST, guestfwd,
		 "[tcp]:[server]:port-tcp:HOST:PORT|unix:PATH|cmd:COMMAND (repeatable)"),
	USER_OPT("tftp", OPT_STRING, tftp, "directory served by the TFTP server"),
	USER_OPT("bootfile", OPT_STRING, bootfile, "BOOTP boot file name"),
	USER_OPT("tftp-server-name", OPT_STRING, tftp_server_name, "DHCP option 66"),
	USER_OPT("smb", OPT_STRING, smb, "not supported (no SMB server)"),
	USER_OPT("smbserver", OPT_STRING, smbserver, "not supported (no SMB server)"),
	OPT_MAX(struct netdev_user_opts, "mtu", OPT_UINT, mtu, USER_MTU_MAX,
		"vwire: MTU and MRU of the network (default 1500, at most 65520)"),
	USER_OPT("engine", OPT_STRING, engine,
		 "vwire: native (vwire's own, the default) or slirp (libslirp)"),
	{ 0 }
};
#undef USER_OPT
CREATABLE_INIT(net_init_user, struct netdev_user_opts)
#endif

/* -netdev dump */
static void dump_defaults(void *opts)
{
	((struct netdev_dump_opts *)opts)->len = 65536;
}

static const struct opt_desc dump_desc[] = {
	OPT(struct netdev_dump_opts, "file", OPT_STRING, file,
	    "pcap file to write (default vwire-ID.pcap)"),
	OPT(struct netdev_dump_opts, "len", OPT_SIZE, len,
	    "longest packet prefix stored (default 64k)"),
	{ 0 }
};
CREATABLE_INIT(net_init_dump, struct netdev_dump_opts)

/* -object filter-dump */
static void filter_dump_defaults(void *opts)
{
	((struct object_filter_dump_opts *)opts)->maxlen = 65536;
}

static const struct opt_desc filter_dump_desc[] = {
	OPT(struct object_filter_dump_opts, "netdev", OPT_STRING, netdev, "netdev to watch"),
	OPT(struct object_filter_dump_opts, "file", OPT_STRING, file, "pcap file to write"),
	OPT(struct object_filter_dump_opts, "maxlen", OPT_UINT, maxlen,
	    "longest packet prefix stored (default 65536)"),
	OPT(struct object_filter_dump_opts, "queue", OPT_STRING, queue,
	    "directions: all (default), rx (to the netdev) or tx (from it)"),
	OPT(struct object_filter_dump_opts, "status", OPT_STRING, status,
	    "on (default) or off"),
	OPT(struct object_filter_dump_opts, "position", OPT_STRING, position,
	    "head, tail (default) or id=<filter id>"),
	OPT(struct object_filter_dump_opts, "insert", OPT_STRING, insert,
	    "with position=id=: before or behind (default)"),
	{ 0 }
};
CREATABLE_INIT(object_init_filter_dump, struct object_filter_dump_opts)

/* -netdev vxlan and geneve: the same options, their own default port */
#define OVERLAY_OPT(key, kind, field, help) OPT(struct netdev_overlay_opts, key, kind, field, help)
static const struct opt_desc overlay_desc[] = {
	OPT_SET(struct netdev_overlay_opts, "vni", OPT_UINT, vni, has_vni,
		"virtual network identifier, 0 to 16777215 (required)"),
	OVERLAY_OPT("local", OPT_STRING, local,
		    "this host's IPv4 or IPv6 address, the underlay's source (required)"),
	OVERLAY_OPT("remote", OPT_STRING_LIST, remote,
		    "another host's address, of local's family (repeatable): broadcast and "
		    "unknown unicast go to each"),
	OVERLAY_OPT("group", OPT_STRING, group,
		    "a multicast group: joined, and broadcast and unknown unicast go to it"),
	OPT_MAX(struct netdev_overlay_opts, "port", OPT_UINT, port, 65535,
		"UDP port, listened on and sent to (default 4789 vxlan, 6081 geneve)"),
	OVERLAY_OPT("learning", OPT_BOOL, learning,
		    "learn source MAC -> remote host from what arrives (default on)"),
	OPT_MAX(struct netdev_overlay_opts, "ageing", OPT_UINT, ageing, 86400,
		"seconds a learnt entry lives unseen (default 300)"),
	OPT_MAX(struct netdev_overlay_opts, "mac-table-size", OPT_UINT, mac_table_size, 1 << 20,
		"most forwarding-table entries (default 4096)"),
	OPT_MAX(struct netdev_overlay_opts, "ttl", OPT_UINT, ttl, 255,
		"outer TTL or hop limit (default 64; 1 towards a group)"),
	OPT_MAX(struct netdev_overlay_opts, "tos", OPT_UINT, tos, 255,
		"outer TOS or traffic class (default 0)"),
	{ 0 }
};
#undef OVERLAY_OPT

static void overlay_defaults(void *opts, uint64_t port)
{
	struct netdev_overlay_opts *o = opts;

	o->port = port;
	o->learning = true;
	o->ageing = 300;
	o->mac_table_size = 4096;
}

static void vxlan_defaults(void *opts)
{
	overlay_defaults(opts, 4789);
}

static void geneve_defaults(void *opts)
{
	overlay_defaults(opts, 6081);
}
CREATABLE_INIT(net_init_vxlan, struct netdev_overlay_opts)
CREATABLE_INIT(net_init_geneve, struct netdev_overlay_opts)

static const struct creatable netdev_types[] = {
	{ "hubport", hubport_desc, sizeof(struct netdev_hubport_opts), NULL,
	  net_init_hubport_any },
	{ "tap", tap_desc, sizeof(struct netdev_tap_opts), NULL, net_init_tap_any },
	{ "bridge", bridge_desc, sizeof(struct netdev_bridge_opts), NULL, net_init_bridge_any },
	{ "dump", dump_desc, sizeof(struct netdev_dump_opts), dump_defaults, net_init_dump_any },
	{ "socket", socket_desc, sizeof(struct netdev_socket_opts), NULL, net_init_socket_any },
	{ "stream", stream_desc, sizeof(struct netdev_stream_opts), NULL, net_init_stream_any },
	{ "dgram", dgram_desc, sizeof(struct netdev_dgram_opts), NULL, net_init_dgram_any },
	{ "l2tpv3", l2tpv3_desc, sizeof(struct netdev_l2tpv3_opts), NULL, net_init_l2tpv3_any },
	{ "vxlan", overlay_desc, sizeof(struct netdev_overlay_opts), vxlan_defaults,
	  net_init_vxlan_any },
	{ "geneve", overlay_desc, sizeof(struct netdev_overlay_opts), geneve_defaults,
	  net_init_geneve_any },
#if HAVE_VDE
	{ "vde", vde_desc, sizeof(struct netdev_vde_opts), NULL, net_init_vde_any },
#endif
#if HAVE_SLIRP
	{ "user", user_desc, sizeof(struct netdev_user_opts), user_defaults, net_init_user_any },
#endif
};

/* -object iothread */
static void iothread_defaults(void *opts)
{
	((struct object_iothread_opts *)opts)->poll_max_ns = IOTHREAD_POLL_MAX_NS_DEFAULT;
}

static const struct opt_desc iothread_desc[] = {
	OPT_MAX(struct object_iothread_opts, "poll-max-ns", OPT_UINT, poll_max_ns, INT64_MAX,
		"longest busy-poll of the thread's loop before it sleeps (default 32768; "
		"shown by query-iothreads)"),
	{ 0 }
};
CREATABLE_INIT(object_init_iothread, struct object_iothread_opts)

static const struct creatable object_types[] = {
	{ "filter-dump", filter_dump_desc, sizeof(struct object_filter_dump_opts),
	  filter_dump_defaults, object_init_filter_dump_any },
	{ "iothread", iothread_desc, sizeof(struct object_iothread_opts), iothread_defaults,
	  object_init_iothread_any },
};

/* -device virtio-net */
static void virtio_net_defaults(void *opts)
{
	struct device_virtio_net_opts *o = opts;

	o->server = true;
	o->queues = 1;
	o->packed = true;
	o->mrg_rxbuf = true;
	o->csum = true;
	o->gso = true;
	o->event_idx = true;
	o->indirect_desc = true;
	o->in_order = true;
}

static const struct opt_desc virtio_net_desc[] = {
	OPT(struct device_virtio_net_opts, "netdev", OPT_STRING, netdev, "netdev to peer with"),
	OPT(struct device_virtio_net_opts, "socket", OPT_STRING, socket,
	    "vhost-user socket path"),
	OPT(struct device_virtio_net_opts, "server", OPT_BOOL, server,
	    "listen on socket (on, default) or connect to it (off)"),
	OPT(struct device_virtio_net_opts, "reconnect", OPT_UINT, reconnect,
	    "with server=off: seconds between connection attempts"),
	OPT(struct device_virtio_net_opts, "queues", OPT_UINT, queues, "queue pairs (default 1)"),
	OPT(struct device_virtio_net_opts, "mac", OPT_STRING, mac, "MAC address"),
	OPT(struct device_virtio_net_opts, "mtu", OPT_UINT, mtu, "MTU offered to the guest"),
	OPT(struct device_virtio_net_opts, "packed", OPT_BOOL, packed,
	    "offer packed virtqueues (default on)"),
	OPT(struct device_virtio_net_opts, "mrg_rxbuf", OPT_BOOL, mrg_rxbuf,
	    "offer mergeable rx buffers (default on)"),
	OPT(struct device_virtio_net_opts, "csum", OPT_BOOL, csum,
	    "offer checksum offloads (default on)"),
	OPT(struct device_virtio_net_opts, "gso", OPT_BOOL, gso,
	    "offer TSO/ECN offloads (default on)"),
	OPT(struct device_virtio_net_opts, "event_idx", OPT_BOOL, event_idx,
	    "offer EVENT_IDX notification suppression (default on)"),
	OPT(struct device_virtio_net_opts, "indirect_desc", OPT_BOOL, indirect_desc,
	    "offer indirect descriptors (default on)"),
	OPT(struct device_virtio_net_opts, "in_order", OPT_BOOL, in_order,
	    "offer VIRTIO_F_IN_ORDER: buffers are used in the order they were made available "
	    "(default on)"),
	OPT(struct device_virtio_net_opts, "poll", OPT_BOOL, poll,
	    "busy-poll the rings (default off)"),
	OPT(struct device_virtio_net_opts, "iothread", OPT_STRING, iothread,
	    "-object iothread to run the data path on (with its netdev)"),
	OPT_MAX(struct device_virtio_net_opts, "poll-us", OPT_UINT, poll_us,
		DEVICE_POLL_US_MAX,
		"poll the rings up to this long before sleeping, adapting to the traffic "
		"(default 0: kicks only)"),
	{ 0 }
};

static const struct opt_desc e1000_desc[] = {
	OPT(struct device_e1000_opts, "netdev", OPT_STRING, netdev, "netdev to peer with"),
	OPT(struct device_e1000_opts, "mac", OPT_STRING, mac, "MAC address"),
	OPT(struct device_e1000_opts, "socket", OPT_STRING, socket,
	    "unix socket to listen on for the hypervisor's x-pci-proxy-dev connection"),
	OPT(struct device_e1000_opts, "fd", OPT_STRING, fd,
	    "or: an inherited socket already connected to the hypervisor"),
	OPT(struct device_e1000_opts, "qtest", OPT_STRING, qtest,
	    "QEMU's qtest socket, to raise the interrupt under TCG"),
	OPT(struct device_e1000_opts, "ioapic", OPT_STRING, ioapic,
	    "the IOAPIC's QOM path for qtest (default /machine/i440fx/ioapic)"),
	OPT_MAX(struct device_e1000_opts, "poll-us", OPT_UINT, poll_us, DEVICE_POLL_US_MAX,
		"look for the vCPU's next register access up to this long before sleeping, "
		"adapting to the traffic (default 0: sleep at once)"),
	{ 0 }
};

static int device_init_e1000_any(const void *opts, const char *id, struct loop *loop,
				 struct error *err)
{
	return device_init_e1000(opts, id, loop, err);
}

/*
 * -device ...,iothread=ID: the device's data path runs on that iothread's loop (with the
 * netdev it is peered with: the daemon makes a command line's netdev there).
 */
static int device_iothread_loop(const char *iothread, struct loop **loop, struct error *err)
{
	struct iothread *io;

	if (!iothread)
		return 0;
	io = iothread_find(iothread);
	if (!io)
		return error_set(err, -ENOENT, "iothread=%s: no such iothread (create it with "
				 "-object iothread,id=%s)", iothread, iothread);
	*loop = iothread_loop(io);
	return 0;
}

static int device_init_virtio_net_any(const void *opts, const char *id, struct loop *loop,
				      struct error *err)
{
	const struct device_virtio_net_opts *o = opts;
	int ret = device_iothread_loop(o->iothread, &loop, err);

	if (ret < 0)
		return ret;
	return device_init_virtio_net(o, id, loop, err);
}

static const struct creatable device_types[] = {
	{ "virtio-net", virtio_net_desc, sizeof(struct device_virtio_net_opts),
	  virtio_net_defaults, device_init_virtio_net_any },
	{ "e1000", e1000_desc, sizeof(struct device_e1000_opts), NULL, device_init_e1000_any },
};

static const struct creatable *creatable_find(const struct creatable *table, size_t n,
					      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(table[i].name, name))
			return &table[i];
	return NULL;
}

static void creatable_list(const struct creatable *table, size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					table[i].name);
}

/*
 * Parse @text for one of @table's types and call its init. @what is "-netdev", "-object" or
 * "-device"; @check_id rejects an id that is already taken.
 */
static int creatable_add(const struct creatable *table, size_t n, const char *what,
			 const char *type_key, struct loop *loop, const char *text,
			 bool (*id_taken)(const char *id), struct error *err)
{
	const struct creatable *c;
	struct opts o;
	const char *type, *id;
	char idbuf[64];
	void *typed = NULL;
	int ret;

	ret = opts_parse(text, type_key, &o, err);
	if (ret < 0)
		return ret;
	type = opts_get(&o, type_key);
	if (!type) {
		ret = error_set(err, -EINVAL, "Parameter '%s' is missing", type_key);
		goto out;
	}
	c = creatable_find(table, n, type);
	if (!c) {
		char list[256];

		creatable_list(table, n, list, sizeof(list));
		ret = error_set(err, -EINVAL, "%s '%s' is not supported (supported: %s)",
				type_key, type, list);
		goto out;
	}
	id = opts_get(&o, "id");
	if (!id && strcmp(what, "-device")) {
		ret = error_set(err, -EINVAL, "Parameter 'id' is missing");
		goto out;
	}
	if (!id) {
		static unsigned int anon;

		snprintf(idbuf, sizeof(idbuf), "%s.%u", type, anon++);
		id = idbuf;
	}
	if (id_taken(id)) {
		ret = error_set(err, -EEXIST, "Duplicate ID '%s' for %s", id, what + 1);
		goto out;
	}
	typed = calloc(1, c->size);
	if (!typed) {
		ret = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (c->defaults)
		c->defaults(typed);
	ret = opts_decode(&o, c->desc, typed, err);
	if (ret < 0)
		goto out;
	{
		char where[128];

		snprintf(where, sizeof(where), "%s %s", what, type);
		ret = opts_check_unused(&o, where, err);
	}
	if (ret < 0)
		goto out;
	ret = c->init(typed, id, loop, err);
out:
	if (typed) {
		opts_free_decoded(c->desc, typed);
		free(typed);
	}
	opts_free(&o);
	return ret;
}

static bool netdev_id_taken(const char *id)
{
	return net_find(id) != NULL;
}

int netdev_add(struct loop *loop, const char *text, struct error *err)
{
	return creatable_add(netdev_types, sizeof(netdev_types) / sizeof(netdev_types[0]),
			     "-netdev", "type", loop, text, netdev_id_taken, err);
}

int netdev_del(const char *id, struct error *err)
{
	struct net_client *nc = net_find(id);

	if (!nc || !nc->is_netdev)
		return error_set(err, -ENOENT, "Device '%s' not found", id);
	/* Every queue of a multiqueue netdev shares the id. */
	while ((nc = net_find(id)) && nc->is_netdev) {
		struct net_client *queues[64];
		unsigned int n = net_find_queues(id, queues, 64);

		for (unsigned int i = n < 64 ? n : 64; i-- > 0;)
			net_client_free(queues[i]);
	}
	return 0;
}

static bool object_id_taken(const char *id)
{
	return net_filter_find(id) != NULL || iothread_find(id) != NULL;
}

int object_add(struct loop *loop, const char *text, struct error *err)
{
	return creatable_add(object_types, sizeof(object_types) / sizeof(object_types[0]),
			     "-object", "qom-type", loop, text, object_id_taken, err);
}

int object_del(const char *id, struct error *err)
{
	struct net_filter *f = net_filter_find(id);
	struct iothread *io = iothread_find(id);

	if (io) {
		/* As QEMU, an iothread in use stays: its devices and netdevs would have no thread. */
		for (struct net_client *nc = net_first(); nc; nc = nc->next)
			if (nc->loop == iothread_loop(io))
				return error_set(err, -EBUSY, "iothread '%s' is in use by %s", id,
						 nc->name);
		iothread_free(io);
		return 0;
	}
	if (!f)
		return error_set(err, -ENOENT, "object '%s' not found", id);
	net_filter_detach_free(f);
	return 0;
}

static bool device_id_taken(const char *id)
{
	return net_find(id) != NULL;
}

int device_add(struct loop *loop, const char *text, struct error *err)
{
	return creatable_add(device_types, sizeof(device_types) / sizeof(device_types[0]),
			     "-device", "driver", loop, text, device_id_taken, err);
}

static void netdev_list(FILE *f, const char *title, const struct creatable *types, size_t n)
{
	fprintf(f, "%s\n", title);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n", types[i].name);
}

int netdev_help_types(const char *option, void *out)
{
	FILE *f = out;

	if (!strcmp(option, "-netdev"))
		netdev_list(f, "Available netdev backend types:", netdev_types,
			    sizeof(netdev_types) / sizeof(netdev_types[0]));
	else if (!strcmp(option, "-object"))
		netdev_list(f, "List of user creatable objects:", object_types,
			    sizeof(object_types) / sizeof(object_types[0]));
	else if (!strcmp(option, "-device"))
		netdev_list(f, "Available devices:", device_types,
			    sizeof(device_types) / sizeof(device_types[0]));
	else
		return -ENOENT;
	return 0;
}

int netdev_help(const char *type, void *out)
{
	FILE *f = out;
	const struct creatable *c;

	if (!type)
		return netdev_help_types("-netdev", out);
	c = creatable_find(netdev_types, sizeof(netdev_types) / sizeof(netdev_types[0]), type);
	if (!c)
		c = creatable_find(object_types, sizeof(object_types) / sizeof(object_types[0]),
				   type);
	if (!c)
		c = creatable_find(device_types, sizeof(device_types) / sizeof(device_types[0]),
				   type);
	if (!c)
		return -ENOENT;
	fprintf(f, "%s options:\n", type);
	for (const struct opt_desc *d = c->desc; d->name; d++)
		fprintf(f, "  %-24s %s\n", d->name, d->help ? d->help : "");
	return 0;
}
