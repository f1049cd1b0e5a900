/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * netdev.h - the typed options of every -netdev type, -object and -device, and the init
 * functions that the one option table in netdev.c calls with them.
 *
 * A command-line string is parsed once (opts.c) and decoded into one of these structs;
 * init functions never parse strings. Field names follow QEMU 7.2's option names.
 */
#ifndef VWIRE_CORE_NETDEV_H
#define VWIRE_CORE_NETDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "vwire/opts.h"

struct error;
struct loop;
struct net_client;

/* -netdev tap */
struct netdev_tap_opts {
	char *ifname;
	char *fd;
	char *fds;	  /* colon-separated */
	char *script;	  /* NULL or "no": none */
	char *downscript; /* NULL or "no": none */
	char *br;	  /* with helper: bridge to join */
	char *helper;
	uint64_t sndbuf;
	bool has_sndbuf;
	bool vnet_hdr;
	bool has_vnet_hdr;
	uint64_t queues;
	bool has_queues;
	bool vhost; /* accepted only as off: the data path is vwire's */
	bool has_vhost;
	uint64_t poll_us;
	bool uring; /* batched reads and writes through io_uring */
	bool has_uring;
};

/* -netdev bridge */
struct netdev_bridge_opts {
	char *br;
	char *helper;
};

/* -netdev vde */
struct netdev_vde_opts {
	char *sock;
	uint64_t port;
	char *group;
	uint64_t mode;
	bool has_mode;
};

/* -netdev l2tpv3 */
struct netdev_l2tpv3_opts {
	char *src;
	char *dst;
	char *srcport;
	char *dstport;
	uint64_t txsession;
	uint64_t rxsession;
	bool has_rxsession;
	bool ipv6;
	bool udp;
	bool cookie64;
	bool counter;
	bool pincounter;
	uint64_t txcookie;
	bool has_txcookie;
	uint64_t rxcookie;
	bool has_rxcookie;
	uint64_t offset;
	bool has_txsession;
};

/* -netdev vxlan and -netdev geneve */
struct netdev_overlay_opts {
	uint64_t vni;
	bool has_vni;
	char *local;
	struct opt_list remote;
	char *group;
	uint64_t port;
	bool learning;
	uint64_t ageing;
	uint64_t mac_table_size;
	uint64_t ttl;
	uint64_t tos;
};

/* -netdev socket */
struct netdev_socket_opts {
	char *fd;
	char *listen;
	char *connect;
	char *mcast;
	char *localaddr;
	char *udp;
};

/* an address in -netdev stream (addr.*) and dgram (local.*, remote.*) */
struct netdev_addr_opts {
	char *type; /* inet, unix, fd */
	char *host;
	char *port;
	char *path;
	char *str; /* fd */
	bool abstract;
	bool tight;
	bool has_tight;
	bool numeric;
	bool keep_alive;
	bool ipv4;
	bool has_ipv4;
	bool ipv6;
	bool has_ipv6;
	uint64_t to;
};

/* -netdev stream */
struct netdev_stream_opts {
	bool server;
	struct netdev_addr_opts addr;
	uint64_t reconnect; /* seconds; 0: do not reconnect */
};

/* -netdev dgram */
struct netdev_dgram_opts {
	struct netdev_addr_opts local;
	bool has_local;
	struct netdev_addr_opts remote;
	bool has_remote;
};

/* -netdev hubport */
struct netdev_hubport_opts {
	uint64_t hubid;
	bool has_hubid;
	char *netdev;
	bool learning; /* vwire: a learning switch instead of a hub (first port decides) */
	bool has_learning;
	uint64_t mac_table_size;
	uint64_t ageing;
};

/* -netdev dump */
struct netdev_dump_opts {
	char *file;
	uint64_t len;
};

/* -netdev user */
struct netdev_user_opts {
	bool ipv4;
	bool has_ipv4;
	bool ipv6;
	bool has_ipv6;
	char *net;
	char *host;
	char *dhcpstart;
	char *dns;
	char *ipv6_net;
	char *ipv6_host;
	char *ipv6_dns;
	bool restrict_;
	char *hostname;
	char *domainname;
	struct opt_list dnssearch;
	struct opt_list hostfwd;
	struct opt_list guestfwd;
	char *tftp;
	char *bootfile;
	char *tftp_server_name;
	char *smb;
	char *smbserver;
	uint64_t mtu;
	char *engine;
};

/* -object filter-dump */
struct object_filter_dump_opts {
	char *netdev;
	char *file;
	uint64_t maxlen;
	char *queue; /* all, rx, tx */
	char *status;
	char *position;
	char *insert;
};

/* -object iothread */
struct object_iothread_opts {
	uint64_t poll_max_ns;
};

/* -device virtio-net */
/* The longest adaptive poll window a device may ask for (poll-us=), in microseconds. */
#define DEVICE_POLL_US_MAX 100000
struct device_virtio_net_opts {
	char *netdev;
	char *socket;
	bool server;
	uint64_t queues;
	char *mac;
	uint64_t mtu;
	bool packed;
	bool mrg_rxbuf;
	bool csum;
	bool gso;
	bool event_idx;
	bool indirect_desc;
	bool in_order;
	bool poll;
	uint64_t poll_us;
	uint64_t reconnect;
	char *iothread; /* -object iothread id for the data path, or NULL: the main loop */
};

/* -device e1000 */
struct device_e1000_opts {
	char *netdev;
	char *mac;
	char *socket;	/* listen here for the hypervisor's proxy connection */
	char *fd;	/* or: an inherited, connected socket */
	char *qtest;	/* QEMU's qtest socket, to raise INTx under TCG */
	char *ioapic;	/* the IOAPIC's QOM path for qtest */
	uint64_t poll_us; /* adaptive polling of the proxy socket before the loop sleeps */
};

int net_init_tap(const struct netdev_tap_opts *o, const char *id, struct loop *loop,
		 struct error *err);
int net_init_bridge(const struct netdev_bridge_opts *o, const char *id, struct loop *loop,
		    struct error *err);
int net_init_l2tpv3(const struct netdev_l2tpv3_opts *o, const char *id, struct loop *loop,
		    struct error *err);
int net_init_vxlan(const struct netdev_overlay_opts *o, const char *id, struct loop *loop,
		   struct error *err);
int net_init_geneve(const struct netdev_overlay_opts *o, const char *id, struct loop *loop,
		    struct error *err);
int net_init_vde(const struct netdev_vde_opts *o, const char *id, struct loop *loop,
		 struct error *err);
int net_init_socket(const struct netdev_socket_opts *o, const char *id, struct loop *loop,
		    struct error *err);
int net_init_stream(const struct netdev_stream_opts *o, const char *id, struct loop *loop,
		    struct error *err);
int net_init_dgram(const struct netdev_dgram_opts *o, const char *id, struct loop *loop,
		   struct error *err);
int net_init_hubport(const struct netdev_hubport_opts *o, const char *id, struct loop *loop,
		     struct error *err);
int net_init_dump(const struct netdev_dump_opts *o, const char *id, struct loop *loop,
		  struct error *err);
int net_init_user(const struct netdev_user_opts *o, const char *id, struct loop *loop,
		  struct error *err);
int object_init_filter_dump(const struct object_filter_dump_opts *o, const char *id,
			    struct loop *loop, struct error *err);
int object_init_iothread(const struct object_iothread_opts *o, const char *id,
			 struct loop *loop, struct error *err);
int device_init_virtio_net(const struct device_virtio_net_opts *o, const char *id,
			   struct loop *loop, struct error *err);
int device_init_e1000(const struct device_e1000_opts *o, const char *id, struct loop *loop,
		      struct error *err);

/**
 * netdev_add() - create a back end from a -netdev option string
 * @loop:	event loop
 * @text:	e.g. "tap,id=t0,ifname=vw0"
 * @err:	the error, naming the option and value
 *
 * Return: 0 or a negative errno; on failure nothing is left half-made.
 */
int netdev_add(struct loop *loop, const char *text, struct error *err);

/**
 * netdev_del() - remove a back end (every queue of it) by id
 * @id:		its id
 * @err:	the error
 *
 * Return: 0 or -ENOENT
 */
int netdev_del(const char *id, struct error *err);

/**
 * object_add() - create an object (filter-dump, iothread) from a -object option string
 * @loop:	event loop
 * @text:	e.g. "filter-dump,id=f0,netdev=t0,file=x.pcap"
 * @err:	the error
 *
 * Return: 0 or a negative errno
 */
int object_add(struct loop *loop, const char *text, struct error *err);

/**
 * object_del() - remove an object by id
 * @id:		its id
 * @err:	the error
 *
 * Return: 0 or -ENOENT
 */
int object_del(const char *id, struct error *err);

/**
 * device_add() - create a front end (virtio-net) from a -device option string
 * @loop:	event loop
 * @text:	e.g. "virtio-net,netdev=n0,socket=/run/vwire.sock"
 * @err:	the error
 *
 * Return: 0 or a negative errno
 */
int device_add(struct loop *loop, const char *text, struct error *err);

/**
 * netdev_help_types() - print the types an option takes (-netdev help, -object help,
 * -device help)
 * @option:	"-netdev", "-object" or "-device"
 * @out:	stream
 *
 * Return: 0, or -ENOENT for another option
 */
int netdev_help_types(const char *option, void *out);

/**
 * netdev_help() - print the types, or one type's options, for -netdev help / TYPE,help
 * @type:	NULL for all types
 * @out:	stream
 *
 * Return: 0, or -ENOENT for an unknown type
 */
int netdev_help(const char *type, void *out);

#endif
