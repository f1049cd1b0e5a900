// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * message.c - what each vhost-user request looks like on the wire, and the pure check that a
 * received message matches it.
 *
 * One table row per request gives its name, payload size rule and how many fds it carries;
 * vhost_user_msg_check() applies the row to a header, payload and fd count. It touches no
 * state, so the fuzzer drives it directly.
 */
#include <errno.h>
#include <string.h>

#include "vhost-user/message.h"

/**
 * enum vhost_user_size_rule - how a request's payload size is checked
 * @VHOST_USER_SIZE_FIXED:	exactly the row's size
 * @VHOST_USER_SIZE_MEM_TABLE:	header plus nregions regions
 * @VHOST_USER_SIZE_CONFIG:	config header plus its size field
 * @VHOST_USER_SIZE_ANY:	anything up to VHOST_USER_PAYLOAD_MAX (layouts vwire never
 *				negotiates; the server refuses them)
 */
enum vhost_user_size_rule {
	VHOST_USER_SIZE_FIXED,
	VHOST_USER_SIZE_MEM_TABLE,
	VHOST_USER_SIZE_CONFIG,
	VHOST_USER_SIZE_ANY,
};

/**
 * enum vhost_user_fd_rule - how many fds a request carries
 * @VHOST_USER_FDS_NONE:	none
 * @VHOST_USER_FDS_ONE:		exactly one
 * @VHOST_USER_FDS_OPTIONAL:	zero or one (REM_MEM_REG, for old front ends)
 * @VHOST_USER_FDS_VRING:	one unless VHOST_USER_VRING_NOFD_MASK is set, then none
 * @VHOST_USER_FDS_REGIONS:	one per memory region
 */
enum vhost_user_fd_rule {
	VHOST_USER_FDS_NONE,
	VHOST_USER_FDS_ONE,
	VHOST_USER_FDS_OPTIONAL,
	VHOST_USER_FDS_VRING,
	VHOST_USER_FDS_REGIONS,
};

/**
 * struct vhost_user_request_desc - one request's shape
 * @name:	the spec's name
 * @size_rule:	enum vhost_user_size_rule
 * @fd_rule:	enum vhost_user_fd_rule
 * @size:	payload size for VHOST_USER_SIZE_FIXED
 */
struct vhost_user_request_desc {
	const char *name;
	uint8_t size_rule;
	uint8_t fd_rule;
	uint16_t size;
};

/* clang-format off */
#define REQ(req, rule, sz, fds)								\
	[VHOST_USER_##req] = { .name = "VHOST_USER_" #req,				\
			       .size_rule = VHOST_USER_SIZE_##rule,			\
			       .fd_rule = VHOST_USER_FDS_##fds,				\
			       .size = (sz) }

static const struct vhost_user_request_desc vhost_user_requests[VHOST_USER_MAX] = {
	REQ(GET_FEATURES, FIXED, 0, NONE),
	REQ(SET_FEATURES, FIXED, sizeof(uint64_t), NONE),
	REQ(SET_OWNER, FIXED, 0, NONE),
	REQ(RESET_OWNER, FIXED, 0, NONE),
	REQ(SET_MEM_TABLE, MEM_TABLE, 0, REGIONS),
	REQ(SET_LOG_BASE, FIXED, sizeof(struct vhost_user_log), ONE),
	REQ(SET_LOG_FD, FIXED, 0, ONE),
	REQ(SET_VRING_NUM, FIXED, sizeof(struct vhost_vring_state), NONE),
	REQ(SET_VRING_ADDR, FIXED, sizeof(struct vhost_vring_addr), NONE),
	REQ(SET_VRING_BASE, FIXED, sizeof(struct vhost_vring_state), NONE),
	REQ(GET_VRING_BASE, FIXED, sizeof(struct vhost_vring_state), NONE),
	REQ(SET_VRING_KICK, FIXED, sizeof(uint64_t), VRING),
	REQ(SET_VRING_CALL, FIXED, sizeof(uint64_t), VRING),
	REQ(SET_VRING_ERR, FIXED, sizeof(uint64_t), VRING),
	REQ(GET_PROTOCOL_FEATURES, FIXED, 0, NONE),
	REQ(SET_PROTOCOL_FEATURES, FIXED, sizeof(uint64_t), NONE),
	REQ(GET_QUEUE_NUM, FIXED, 0, NONE),
	REQ(SET_VRING_ENABLE, FIXED, sizeof(struct vhost_vring_state), NONE),
	REQ(SEND_RARP, FIXED, sizeof(uint64_t), NONE),
	REQ(NET_SET_MTU, FIXED, sizeof(uint64_t), NONE),
	REQ(SET_BACKEND_REQ_FD, FIXED, 0, ONE),
	REQ(IOTLB_MSG, FIXED, sizeof(struct vhost_iotlb_msg), NONE),
	REQ(SET_VRING_ENDIAN, FIXED, sizeof(struct vhost_vring_state), NONE),
	REQ(GET_CONFIG, CONFIG, 0, NONE),
	REQ(SET_CONFIG, CONFIG, 0, NONE),
	REQ(CREATE_CRYPTO_SESSION, ANY, 0, NONE),
	REQ(CLOSE_CRYPTO_SESSION, FIXED, sizeof(uint64_t), NONE),
	REQ(POSTCOPY_ADVISE, FIXED, 0, NONE),
	REQ(POSTCOPY_LISTEN, FIXED, 0, NONE),
	REQ(POSTCOPY_END, FIXED, 0, NONE),
	REQ(GET_INFLIGHT_FD, FIXED, sizeof(struct vhost_user_inflight), NONE),
	REQ(SET_INFLIGHT_FD, FIXED, sizeof(struct vhost_user_inflight), ONE),
	REQ(GPU_SET_SOCKET, FIXED, 0, ONE),
	REQ(RESET_DEVICE, FIXED, 0, NONE),
	REQ(VRING_KICK, FIXED, sizeof(struct vhost_vring_state), NONE),
	REQ(GET_MAX_MEM_SLOTS, FIXED, 0, NONE),
	REQ(ADD_MEM_REG, FIXED, sizeof(struct vhost_user_memory_single), ONE),
	REQ(REM_MEM_REG, FIXED, sizeof(struct vhost_user_memory_single), OPTIONAL),
	REQ(SET_STATUS, FIXED, sizeof(uint64_t), NONE),
	REQ(GET_STATUS, FIXED, 0, NONE),
	REQ(GET_SHARED_OBJECT, FIXED, sizeof(struct vhost_user_shared), NONE),
	REQ(SET_DEVICE_STATE_FD, FIXED, sizeof(struct vhost_user_transfer_device_state), ONE),
	REQ(CHECK_DEVICE_STATE, FIXED, 0, NONE),
};
/* clang-format on */

const char *vhost_user_request_name(uint32_t request)
{
	if (request >= VHOST_USER_MAX || !vhost_user_requests[request].name)
		return "unknown";
	return vhost_user_requests[request].name;
}

/**
 * vhost_user_msg_check_size() - the payload size rule of @d
 * @d:		the request's row
 * @payload:	payload
 * @len:	its length
 * @nfds:	fds received
 * @reason:	out: why not
 *
 * Return: 0 or -EINVAL
 */
static int vhost_user_msg_check_size(const struct vhost_user_request_desc *d, const void *payload,
				     size_t len, unsigned int nfds, const char **reason)
{
	uint32_t nregions, size, offset;

	switch (d->size_rule) {
	case VHOST_USER_SIZE_FIXED:
		if (len != d->size) {
			*reason = "payload size is not the request's";
			return -EINVAL;
		}
		return 0;
	case VHOST_USER_SIZE_MEM_TABLE:
		if (len < offsetof(struct vhost_user_memory, regions)) {
			*reason = "memory table shorter than its header";
			return -EINVAL;
		}
		memcpy(&nregions, payload, sizeof(nregions));
		if (nregions < 1 || nregions > VHOST_MEMORY_BASELINE_NREGIONS) {
			*reason = "memory table region count out of range";
			return -EINVAL;
		}
		if (len != offsetof(struct vhost_user_memory, regions) +
			       nregions * sizeof(struct vhost_user_memory_region)) {
			*reason = "memory table size does not match its region count";
			return -EINVAL;
		}
		if (nfds != nregions) {
			*reason = "memory table needs one fd per region";
			return -EINVAL;
		}
		return 0;
	case VHOST_USER_SIZE_CONFIG:
		if (len < VHOST_USER_CONFIG_HDR_SIZE) {
			*reason = "config message shorter than its header";
			return -EINVAL;
		}
		memcpy(&offset,
		       (const uint8_t *)payload + offsetof(struct vhost_user_config, offset),
		       sizeof(offset));
		memcpy(&size, (const uint8_t *)payload + offsetof(struct vhost_user_config, size),
		       sizeof(size));
		if (size > VHOST_USER_MAX_CONFIG_SIZE ||
		    offset > VHOST_USER_MAX_CONFIG_SIZE - size) {
			*reason = "config range out of bounds";
			return -EINVAL;
		}
		if (len != VHOST_USER_CONFIG_HDR_SIZE + size) {
			*reason = "config message size does not match its size field";
			return -EINVAL;
		}
		return 0;
	default:
		return 0;
	}
}

/**
 * vhost_user_msg_check_fds() - the fd rule of @d
 * @d:		the request's row
 * @payload:	payload (already size-checked)
 * @nfds:	fds received
 * @reason:	out: why not
 *
 * Return: 0 or -EINVAL
 */
static int vhost_user_msg_check_fds(const struct vhost_user_request_desc *d, const void *payload,
				    unsigned int nfds, const char **reason)
{
	uint64_t u64;

	switch (d->fd_rule) {
	case VHOST_USER_FDS_NONE:
		if (nfds) {
			*reason = "fds sent with a request that takes none";
			return -EINVAL;
		}
		return 0;
	case VHOST_USER_FDS_ONE:
		if (nfds != 1) {
			*reason = "request needs exactly one fd";
			return -EINVAL;
		}
		return 0;
	case VHOST_USER_FDS_OPTIONAL:
		if (nfds > 1) {
			*reason = "more than one fd";
			return -EINVAL;
		}
		return 0;
	case VHOST_USER_FDS_VRING:
		memcpy(&u64, payload, sizeof(u64));
		if (u64 & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
			*reason = "reserved bits set in ring fd message";
			return -EINVAL;
		}
		if (nfds != ((u64 & VHOST_USER_VRING_NOFD_MASK) ? 0u : 1u)) {
			*reason = "fd count does not match the no-fd flag";
			return -EINVAL;
		}
		return 0;
	default:
		/* VHOST_USER_FDS_REGIONS: checked with the memory table's size */
		return 0;
	}
}

int vhost_user_msg_check(const struct vhost_user_header *hdr, const void *payload, size_t len,
			 unsigned int nfds, const char **reason)
{
	const struct vhost_user_request_desc *d;
	int ret;

	if ((hdr->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		*reason = "unsupported protocol version";
		return -EINVAL;
	}
	if (hdr->flags & VHOST_USER_REPLY_MASK) {
		*reason = "reply flag set on a request";
		return -EINVAL;
	}
	if (len != hdr->size || len > VHOST_USER_PAYLOAD_MAX || (len && !payload)) {
		*reason = "payload length does not match the header";
		return -EINVAL;
	}
	if (nfds > VHOST_USER_MAX_FDS) {
		*reason = "too many fds";
		return -EINVAL;
	}
	if (hdr->request >= VHOST_USER_MAX || !vhost_user_requests[hdr->request].name) {
		*reason = "unknown request";
		return -EOPNOTSUPP;
	}
	d = &vhost_user_requests[hdr->request];
	if (d->size_rule == VHOST_USER_SIZE_ANY && nfds) {
		*reason = "fds sent with a request that takes none";
		return -EINVAL;
	}
	ret = vhost_user_msg_check_size(d, payload, len, nfds, reason);
	if (ret < 0)
		return ret;
	return vhost_user_msg_check_fds(d, payload, nfds, reason);
}
