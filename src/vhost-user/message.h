/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * message.h - vhost-user messages as QEMU's docs/interop/vhost-user.rst defines them: request
 * numbers, flags, protocol feature bits and payload layouts, and the check every received
 * message passes before anyone looks at its payload.
 *
 * Bytes come off the socket into a struct vhost_user_msg (header, then payload), the server
 * hands header, payload length and fd count to vhost_user_msg_check(), and only a message
 * that passes is dispatched. Numbers are in host byte order, as the protocol says.
 */
#ifndef VWIRE_VHOST_USER_MESSAGE_H
#define VWIRE_VHOST_USER_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header flags */
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_REPLY_MASK (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK (1u << 3)

/* Feature bit (in GET/SET_FEATURES) that says protocol features are negotiated */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
/* vhost feature bit: the back end logs its writes to guest memory */
#define VHOST_F_LOG_ALL 26

/* Protocol feature bits */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define VHOST_USER_PROTOCOL_F_RARP 2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_NET_MTU 4
#define VHOST_USER_PROTOCOL_F_MTU VHOST_USER_PROTOCOL_F_NET_MTU
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define VHOST_USER_PROTOCOL_F_CROSS_ENDIAN 6
#define VHOST_USER_PROTOCOL_F_CRYPTO_SESSION 7
#define VHOST_USER_PROTOCOL_F_PAGEFAULT 8
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD 10
#define VHOST_USER_PROTOCOL_F_HOST_NOTIFIER 11
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS 14
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHOST_USER_PROTOCOL_F_STATUS 16
#define VHOST_USER_PROTOCOL_F_XEN_MMAP 17
#define VHOST_USER_PROTOCOL_F_SHARED_OBJECT 18
#define VHOST_USER_PROTOCOL_F_DEVICE_STATE 19

/**
 * enum vhost_user_request - front-end requests (the header's request field)
 */
enum vhost_user_request {
	VHOST_USER_NONE = 0,
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_CREATE_CRYPTO_SESSION = 26,
	VHOST_USER_CLOSE_CRYPTO_SESSION = 27,
	VHOST_USER_POSTCOPY_ADVISE = 28,
	VHOST_USER_POSTCOPY_LISTEN = 29,
	VHOST_USER_POSTCOPY_END = 30,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_GPU_SET_SOCKET = 33,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_VRING_KICK = 35,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
	VHOST_USER_GET_SHARED_OBJECT = 41,
	VHOST_USER_SET_DEVICE_STATE_FD = 42,
	VHOST_USER_CHECK_DEVICE_STATE = 43,
	VHOST_USER_MAX,
};

/* SET_VRING_KICK/CALL/ERR payload: ring index, and "no fd attached" */
#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_VRING_NOFD_MASK (1u << 8)

/* Most fds one message carries (SET_MEM_TABLE: one per region) */
#define VHOST_MEMORY_BASELINE_NREGIONS 8
#define VHOST_USER_MAX_FDS VHOST_MEMORY_BASELINE_NREGIONS

/* Ring flag in SET_VRING_ADDR: log writes to the used ring */
#define VHOST_VRING_F_LOG 0

/* Largest virtio config space a GET/SET_CONFIG may carry */
#define VHOST_USER_MAX_CONFIG_SIZE 256

/* SET_CONFIG flags */
#define VHOST_SET_CONFIG_TYPE_FRONTEND 0
#define VHOST_SET_CONFIG_TYPE_MIGRATION 1

/* Largest ring a front end may set up (virtio's limit on queue size) */
#define VHOST_USER_MAX_QUEUE_SIZE 32768

/**
 * struct vhost_user_header - the fixed part of every message
 * @request:	enum vhost_user_request
 * @flags:	version and VHOST_USER_*_MASK bits
 * @size:	payload length that follows
 */
struct vhost_user_header {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

#define VHOST_USER_HDR_SIZE sizeof(struct vhost_user_header)

/**
 * struct vhost_vring_state - ring index and a number (SET_VRING_NUM/BASE, GET_VRING_BASE,
 *			      SET_VRING_ENABLE)
 * @index:	ring index
 * @num:	the number
 */
struct vhost_vring_state {
	uint32_t index;
	uint32_t num;
};

/**
 * struct vhost_vring_addr - where a ring lives (SET_VRING_ADDR), in front-end addresses
 * @index:		ring index
 * @flags:		1 << VHOST_VRING_F_LOG
 * @desc_user_addr:	descriptor table
 * @used_user_addr:	used ring
 * @avail_user_addr:	available ring
 * @log_guest_addr:	guest-physical address of the used ring, for the dirty log
 */
struct vhost_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

/**
 * struct vhost_user_memory_region - one region of guest memory
 * @guest_phys_addr:	guest-physical start
 * @memory_size:	length
 * @userspace_addr:	start in the front end's address space
 * @mmap_offset:	offset of the region in the fd sent with it
 */
struct vhost_user_memory_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

/**
 * struct vhost_user_memory - SET_MEM_TABLE payload (@nregions entries are sent)
 * @nregions:	regions that follow, one fd each
 * @padding:	zero
 * @regions:	the regions
 */
struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_memory_region regions[VHOST_MEMORY_BASELINE_NREGIONS];
};

/**
 * struct vhost_user_memory_single - ADD_MEM_REG / REM_MEM_REG payload
 * @padding:	zero
 * @region:	the region
 */
struct vhost_user_memory_single {
	uint64_t padding;
	struct vhost_user_memory_region region;
};

/**
 * struct vhost_user_log - SET_LOG_BASE payload
 * @mmap_size:		bitmap length in bytes
 * @mmap_offset:	offset of the bitmap in the fd
 */
struct vhost_user_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

/**
 * struct vhost_iotlb_msg - IOTLB_MSG payload (known, not supported)
 * @iova:	I/O virtual address
 * @size:	length
 * @uaddr:	front-end address
 * @perm:	access permissions
 * @type:	miss, update, invalidate, access fail
 */
struct vhost_iotlb_msg {
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;
	uint8_t type;
};

/**
 * struct vhost_user_config - GET_CONFIG / SET_CONFIG payload
 * @offset:	offset in the device's config space
 * @size:	bytes in @region
 * @flags:	VHOST_SET_CONFIG_TYPE_*
 * @region:	the bytes
 */
struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHOST_USER_MAX_CONFIG_SIZE];
};

#define VHOST_USER_CONFIG_HDR_SIZE offsetof(struct vhost_user_config, region)

/**
 * struct vhost_user_vring_area - back-end host notifier area (known, not used)
 * @u64:	ring index and flags
 * @size:	length
 * @offset:	offset in the fd
 */
struct vhost_user_vring_area {
	uint64_t u64;
	uint64_t size;
	uint64_t offset;
};

/**
 * struct vhost_user_inflight - GET_INFLIGHT_FD / SET_INFLIGHT_FD payload
 * @mmap_size:		length of the shared inflight buffer
 * @mmap_offset:	offset of it in the fd
 * @num_queues:		rings it covers
 * @queue_size:		entries per ring
 */
struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

/**
 * struct vhost_user_shared - GET_SHARED_OBJECT payload (known, not supported)
 * @uuid:	the object's UUID
 */
struct vhost_user_shared {
	uint8_t uuid[16];
};

/**
 * struct vhost_user_transfer_device_state - SET_DEVICE_STATE_FD payload (known, not supported)
 * @direction:	0 save, 1 load
 * @phase:	migration phase
 */
struct vhost_user_transfer_device_state {
	uint32_t direction;
	uint32_t phase;
};

/**
 * union vhost_user_payload - every payload layout
 * @u64:	a number
 * @state:	ring state
 * @addr:	ring addresses
 * @memory:	memory table
 * @mem_reg:	one region
 * @log:	dirty log
 * @iotlb:	IOTLB entry
 * @config:	config space bytes
 * @area:	host notifier area
 * @inflight:	inflight buffer
 * @object:	shared object
 * @transfer_state: device state transfer
 * @bytes:	raw view (as long as the largest member)
 */
union vhost_user_payload {
	uint64_t u64;
	struct vhost_vring_state state;
	struct vhost_vring_addr addr;
	struct vhost_user_memory memory;
	struct vhost_user_memory_single mem_reg;
	struct vhost_user_log log;
	struct vhost_iotlb_msg iotlb;
	struct vhost_user_config config;
	struct vhost_user_vring_area area;
	struct vhost_user_inflight inflight;
	struct vhost_user_shared object;
	struct vhost_user_transfer_device_state transfer_state;
	uint8_t bytes[sizeof(struct vhost_user_config)];
};

/* Longest payload any request may carry */
#define VHOST_USER_PAYLOAD_MAX sizeof(union vhost_user_payload)

/**
 * struct vhost_user_msg - a message as received or sent: header, then payload
 * @hdr:	header
 * @payload:	payload (hdr.size bytes of it are meaningful)
 *
 * Not packed: on the wire the payload follows the 12-byte header directly, so header and
 * payload are read and written as two separate pieces.
 */
struct vhost_user_msg {
	struct vhost_user_header hdr;
	union vhost_user_payload payload;
};

/**
 * vhost_user_request_name() - the spec's name of a request, for log lines
 * @request:	the request number
 *
 * Return: a static string ("unknown" for numbers the spec does not define)
 */
const char *vhost_user_request_name(uint32_t request);

/**
 * vhost_user_msg_check() - validate a received message before it is dispatched
 * @hdr:	its header
 * @payload:	its payload (@hdr->size bytes; may be NULL when that is 0)
 * @len:	payload bytes actually received (must equal @hdr->size)
 * @nfds:	file descriptors received with it
 * @reason:	out: why it was refused (static string), when it was
 *
 * Checks the version, the reply bit, the exact payload size each request has (fixed sizes;
 * SET_MEM_TABLE against its region count; GET/SET_CONFIG against their size field), how many
 * fds the request may carry, and the reserved bits of SET_VRING_KICK/CALL/ERR. Requests the
 * spec does not define are refused. Whether a request was negotiated and whether its ring
 * index exists is for the server to check.
 *
 * Return: 0, or -EINVAL (malformed) / -EOPNOTSUPP (unknown request) with @reason set
 */
int vhost_user_msg_check(const struct vhost_user_header *hdr, const void *payload, size_t len,
			 unsigned int nfds, const char **reason);

#endif
