/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * server.h - the vhost-user back end's protocol side: one socket, one front end at a time.
 *
 * The server listens on (or connects to) a unix socket, reads the front end's messages,
 * keeps guest memory and each ring's configuration (struct vhost_user_vring), and tells the
 * device through struct vhost_user_dev_ops when a ring may run and when it must stop. The
 * device knows nothing of messages; the server knows nothing of what the device is.
 *
 * Ring life cycle, as the device sees it: queue_start() is called once a ring has a size,
 * addresses, a kick (SET_VRING_KICK, fd or polling), guest memory, and is enabled
 * (SET_VRING_ENABLE 1, or every ring when the front end did not negotiate
 * VHOST_USER_F_PROTOCOL_FEATURES). queue_stop() is called before anything the device relies
 * on changes (GET_VRING_BASE, disable, new addresses/kick/base/features/memory table,
 * memory region removal, RESET_DEVICE, disconnect); the server calls queue_start() again
 * afterwards if the ring may still run. Everything runs on the event loop's thread.
 */
#ifndef VWIRE_VHOST_USER_SERVER_H
#define VWIRE_VHOST_USER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost-user/message.h"
#include "virtio/guest-mem.h"
#include "virtio/inflight.h"

struct error;
struct loop;
struct vhost_user_server;

/* Most rings one device may have (16 queue pairs) */
#define VHOST_USER_MAX_VRINGS 32

/*
 * Largest inflight buffer (and largest offset into its fd) SET_INFLIGHT_FD may name: every
 * ring at the largest size in the larger (packed) layout, about 32 MiB. GET_INFLIGHT_FD
 * stays below it by the range checks on its ring count and size.
 */
#define VHOST_USER_INFLIGHT_MAX_SIZE                                                               \
	((uint64_t)VHOST_USER_MAX_VRINGS * inflight_region_size(VHOST_USER_MAX_QUEUE_SIZE, true))

/* Protocol features the server implements; a device offers a subset (cfg.protocol_features) */
#define VHOST_USER_SERVER_PROTOCOL_FEATURES                                                        \
	((1ULL << VHOST_USER_PROTOCOL_F_MQ) | (1ULL << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |          \
	 (1ULL << VHOST_USER_PROTOCOL_F_RARP) | (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |        \
	 (1ULL << VHOST_USER_PROTOCOL_F_NET_MTU) | (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) |        \
	 (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |                                          \
	 (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                                            \
	 (1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |                                     \
	 (1ULL << VHOST_USER_PROTOCOL_F_STATUS))

/**
 * struct vhost_user_vring - one ring as the front end configured it
 * @desc_uva:		descriptor table (split) or descriptor ring (packed), front-end address
 * @avail_uva:		available ring (split) or driver event suppression area (packed)
 * @used_uva:		used ring (split) or device event suppression area (packed)
 * @log_guest_addr:	guest-physical address of the used ring, for dirty logging
 * @flags:		1 << VHOST_VRING_F_LOG when used-ring writes must be logged
 * @num:		ring size (1..VHOST_USER_MAX_QUEUE_SIZE; the device checks the power of
 *			two a split ring needs)
 * @base:		where to resume: split: next available index to process (bits 0-15);
 *			packed: bits 0-14 next available index, bit 15 its wrap counter, bits
 *			16-30 next used index, bit 31 its wrap counter. Set by SET_VRING_BASE,
 *			and by the server from queue_stop()'s return value.
 * @kick_fd:		eventfd the front end kicks, or -1 (then poll the ring)
 * @call_fd:		eventfd to interrupt the guest, or -1 (the front end polls). It may be
 *			replaced while the ring runs: read it at each notification, never cache it.
 * @err_fd:		eventfd to report ring errors, or -1
 * @addr_set:		SET_VRING_ADDR received
 * @kick_set:		SET_VRING_KICK received since the ring was last stopped by GET_VRING_BASE
 * @enabled:		SET_VRING_ENABLE state
 * @started:		the device runs the ring (queue_start() succeeded, no queue_stop() yet)
 * @inflight:		this ring's region of the inflight buffer (struct
 *			inflight_split_region or _packed_region, virtio/inflight.h), or NULL
 * @inflight_size:	its length
 *
 * The device reads these; only the server writes them (except through queue_stop()'s return).
 */
struct vhost_user_vring {
	uint64_t desc_uva;
	uint64_t avail_uva;
	uint64_t used_uva;
	uint64_t log_guest_addr;
	uint32_t flags;
	uint32_t num;
	uint32_t base;
	int kick_fd;
	int call_fd;
	int err_fd;
	bool addr_set;
	bool kick_set;
	bool enabled;
	bool started;
	void *inflight;
	size_t inflight_size;
};

/**
 * struct vhost_user_dev_ops - what the server asks of the device
 * @get_features:	virtio feature bits the device offers (the server adds
 *			VHOST_USER_F_PROTOCOL_FEATURES itself). Required.
 * @set_features:	the front end acked these (a subset of the offer, without
 *			VHOST_USER_F_PROTOCOL_FEATURES); rings are stopped. Return 0 or a negative
 *			errno (nack). NULL: accepted.
 * @queue_start:	start processing ring @idx: translate its addresses through
 *			vhost_user_server_mem(), resume at @vr->base, watch @vr->kick_fd (or poll).
 *			Return 0, or a negative errno: the ring stays stopped. Required.
 * @queue_stop:		stop processing ring @idx: stop watching its kick fd and forget every
 *			pointer into guest memory. Return the ring's base in @vr->base's format
 *			(where to resume). Required.
 * @get_config:		copy @len bytes of config space from @offset into @buf. Return 0 or a
 *			negative errno. NULL: VHOST_USER_PROTOCOL_F_CONFIG is not offered.
 * @set_config:		write @len bytes at @offset (@flags: VHOST_SET_CONFIG_TYPE_*). Return 0
 *			or a negative errno. NULL: config writes are refused.
 * @send_rarp:		announce @mac (after migration). NULL: VHOST_USER_PROTOCOL_F_RARP is
 *			not offered.
 * @set_mtu:		the front end's MTU. Return 0 or a negative errno (invalid MTU). NULL:
 *			VHOST_USER_PROTOCOL_F_NET_MTU is not offered.
 * @set_status:		virtio device status byte written by the driver (0: reset). Return 0 or
 *			a negative errno. NULL: stored only.
 * @reset:		RESET_DEVICE / RESET_OWNER: every ring is already stopped and, for
 *			RESET_DEVICE, forgotten; drop device state. NULL: nothing to do.
 * @connected:		a front end connected. NULL: ignored.
 * @disconnected:	the front end is gone; rings were stopped, memory is unmapped. NULL:
 *			ignored.
 * @fault:		the front end made the device unusable (it shrank the file behind @what,
 *			a mapping vwire reads); the connection is dropped next. NULL: ignored.
 *
 * Every callback gets cfg.opaque first. Callbacks must not free the server.
 */
struct vhost_user_dev_ops {
	uint64_t (*get_features)(void *opaque);
	int (*set_features)(void *opaque, uint64_t features);
	int (*queue_start)(void *opaque, unsigned int idx, struct vhost_user_vring *vr);
	uint32_t (*queue_stop)(void *opaque, unsigned int idx, struct vhost_user_vring *vr);
	int (*get_config)(void *opaque, uint32_t offset, void *buf, uint32_t len);
	int (*set_config)(void *opaque, uint32_t offset, const void *buf, uint32_t len,
			  uint32_t flags);
	void (*send_rarp)(void *opaque, const uint8_t mac[6]);
	int (*set_mtu)(void *opaque, uint16_t mtu);
	int (*set_status)(void *opaque, uint8_t status);
	void (*reset)(void *opaque);
	void (*connected)(void *opaque);
	void (*disconnected)(void *opaque);
	void (*fault)(void *opaque, const char *what);
};

/**
 * struct vhost_user_server_cfg - how to build a server
 * @path:		unix socket path; NULL: no socket, connections come only through
 *			vhost_user_server_attach()
 * @listen:		true: bind and listen on @path (server mode); false: connect to it
 * @reconnect_s:	client mode: seconds between connection attempts (0: a failed first
 *			attempt is an error, and a lost connection is not retried)
 * @num_vrings:		rings the device has (1..VHOST_USER_MAX_VRINGS)
 * @queue_num:		answer to GET_QUEUE_NUM (for a net device: queue pairs)
 * @protocol_features:	protocol features the device wants offered (a subset of
 *			VHOST_USER_SERVER_PROTOCOL_FEATURES; features whose op is NULL are dropped)
 * @ops:		the device
 * @opaque:		passed to @ops
 * @name:		for log lines (e.g. the device id); may be NULL
 */
struct vhost_user_server_cfg {
	const char *path;
	bool listen;
	unsigned int reconnect_s;
	unsigned int num_vrings;
	uint64_t queue_num;
	uint64_t protocol_features;
	const struct vhost_user_dev_ops *ops;
	void *opaque;
	const char *name;
};

/**
 * vhost_user_server_new() - create a server and start listening or connecting
 * @loop:	the event loop
 * @cfg:	configuration (copied; @cfg->path too)
 * @err:	the error, naming the path
 *
 * Return: the server, or NULL with @err set
 */
struct vhost_user_server *vhost_user_server_new(struct loop *loop,
						const struct vhost_user_server_cfg *cfg,
						struct error *err);

/**
 * vhost_user_server_free() - stop every ring, drop the connection, close and (server mode)
 *			      unlink the socket, free; NULL is ignored
 * @s: the server
 *
 * Running rings get ops->queue_stop() (so call this while the device's queues still exist);
 * ops->disconnected() is not called.
 */
void vhost_user_server_free(struct vhost_user_server *s);

/**
 * vhost_user_server_attach() - take an already connected socket as the front end's connection
 * @s:	the server (not connected)
 * @fd:	the socket (taken: closed by the server when the connection ends)
 *
 * Return: 0, or -EBUSY (a front end is connected; @fd is not taken)
 */
int vhost_user_server_attach(struct vhost_user_server *s, int fd);

/**
 * vhost_user_server_disconnect() - drop the current front end (as if it had left)
 * @s: the server
 */
void vhost_user_server_disconnect(struct vhost_user_server *s);

/**
 * vhost_user_server_connected() - whether a front end is connected
 * @s: the server
 *
 * Return: true if connected
 */
bool vhost_user_server_connected(const struct vhost_user_server *s);

/**
 * vhost_user_server_vring() - a ring's state
 * @s:		the server
 * @idx:	ring index
 *
 * Return: the ring, or NULL if @idx >= cfg.num_vrings
 */
struct vhost_user_vring *vhost_user_server_vring(struct vhost_user_server *s, unsigned int idx);

/**
 * vhost_user_server_mem() - the guest's memory (valid between queue_start and queue_stop)
 * @s: the server
 *
 * Return: the memory
 */
const struct guest_mem *vhost_user_server_mem(const struct vhost_user_server *s);

/**
 * vhost_user_server_features() - virtio features the front end acked (without
 *				  VHOST_USER_F_PROTOCOL_FEATURES)
 * @s: the server
 *
 * Return: the features (0 before SET_FEATURES)
 */
uint64_t vhost_user_server_features(const struct vhost_user_server *s);

/**
 * vhost_user_server_protocol_features() - protocol features the front end acked
 * @s: the server
 *
 * Return: the features
 */
uint64_t vhost_user_server_protocol_features(const struct vhost_user_server *s);

/**
 * vhost_user_vring_call() - interrupt the guest for @vr (write its call eventfd)
 * @vr: the ring
 *
 * Return: 0, or a negative errno (no call fd: -ENOENT)
 */
int vhost_user_vring_call(const struct vhost_user_vring *vr);

#endif
