// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_vhost_user_msg.c - libFuzzer harness for vhost_user_msg_check(), the gate every
 * received vhost-user message passes before its payload is read.
 *
 * Input: [0] bits 0-3: fd count, bit 4: make the header's size match the payload;
 * [1..12] the header; the rest is the payload, passed unaligned. A message the check accepts
 * must satisfy the invariants the handlers rely on; a violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vhost-user/message.h"

#define FUZZ_MATCH_SIZE 0x10

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_accepted(const struct vhost_user_header *hdr, const uint8_t *payload,
				size_t len, unsigned int nfds)
{
	uint32_t n, off, sz;
	uint64_t u;

	if (len != hdr->size || len > VHOST_USER_PAYLOAD_MAX || nfds > VHOST_USER_MAX_FDS)
		abort();
	if ((hdr->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (hdr->flags & VHOST_USER_REPLY_MASK))
		abort();
	switch (hdr->request) {
	case VHOST_USER_SET_MEM_TABLE:
		memcpy(&n, payload, sizeof(n));
		if (n < 1 || n > VHOST_MEMORY_BASELINE_NREGIONS || nfds != n ||
		    len != 8 + n * sizeof(struct vhost_user_memory_region))
			abort();
		break;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		memcpy(&off, payload, sizeof(off));
		memcpy(&sz, payload + 4, sizeof(sz));
		if (sz > VHOST_USER_MAX_CONFIG_SIZE ||
		    (uint64_t)off + sz > VHOST_USER_MAX_CONFIG_SIZE ||
		    len != VHOST_USER_CONFIG_HDR_SIZE + sz || nfds)
			abort();
		break;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		memcpy(&u, payload, sizeof(u));
		if (len != 8 || nfds != ((u & VHOST_USER_VRING_NOFD_MASK) ? 0u : 1u) ||
		    (u & ~(uint64_t)0x1ff))
			abort();
		break;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		if (len != sizeof(struct vhost_vring_state) || nfds)
			abort();
		break;
	case VHOST_USER_SET_VRING_ADDR:
		if (len != sizeof(struct vhost_vring_addr) || nfds)
			abort();
		break;
	case VHOST_USER_ADD_MEM_REG:
		if (len != sizeof(struct vhost_user_memory_single) || nfds != 1)
			abort();
		break;
	case VHOST_USER_SET_INFLIGHT_FD:
	case VHOST_USER_SET_LOG_BASE:
		if (nfds != 1)
			abort();
		break;
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_STATUS:
		if (len || nfds)
			abort();
		break;
	default:
		if (hdr->request == VHOST_USER_NONE || hdr->request >= VHOST_USER_MAX)
			abort();
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhost_user_header hdr;
	const char *reason = NULL;
	unsigned int nfds;
	size_t len;
	int ret;

	if (size < 1 + sizeof(hdr))
		return 0;
	nfds = data[0] & 0x0f;
	memcpy(&hdr, data + 1, sizeof(hdr));
	len = size - 1 - sizeof(hdr);
	if ((data[0] & FUZZ_MATCH_SIZE) && len <= UINT32_MAX)
		hdr.size = (uint32_t)len;

	ret = vhost_user_msg_check(&hdr, len ? data + 1 + sizeof(hdr) : NULL, len, nfds, &reason);
	if (ret == 0)
		fuzz_check_accepted(&hdr, data + 1 + sizeof(hdr), len, nfds);
	else if (!reason || !*reason)
		abort();
	if (!vhost_user_request_name(hdr.request))
		abort();
	return 0;
}
