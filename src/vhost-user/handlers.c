// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * handlers.c - what the vhost-user server does with each request.
 *
 * vhost_user_handle_msg() looks a validated message up in one table (handler, protocol
 * feature it needs, whether it answers by itself), runs the handler, reconciles the rings
 * with the device and sends the REPLY_ACK answer the front end asked for. Handlers change
 * guest memory, ring state or the inflight buffer, and call into the device's ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost-user/server-priv.h"
#include "virtio/inflight.h"

/* virtio feature bit of packed rings (it decides the inflight layout) */
#define VHOST_USER_F_RING_PACKED 34

/* Handler table: no protocol feature needed */
#define VHOST_USER_PF_NONE 0xff

/**
 * typedef vhost_user_handler - handle one validated message
 * @s:		the server
 * @msg:	the message
 * @fds:	its fds; a handler that keeps one sets its slot to -1
 *
 * Return: 0, VHOST_USER_NACK (refused, connection kept), or a negative errno (connection
 *	   closed; the handler logged why)
 */
typedef int vhost_user_handler(struct vhost_user_server *s, struct vhost_user_msg *msg, int *fds);

/**
 * struct vhost_user_handler_desc - how a request is handled
 * @fn:		the handler (NULL: not supported)
 * @feature:	protocol feature the front end must have acked, or VHOST_USER_PF_NONE
 * @replies:	the handler always sends its own reply (no REPLY_ACK on top)
 */
struct vhost_user_handler_desc {
	vhost_user_handler *fn;
	uint8_t feature;
	bool replies;
};

/**
 * vhost_user_handle_vring() - the ring a message names, if it exists
 * @s:		the server
 * @msg:	the message
 * @idx:	the index it carries
 *
 * Return: the ring, or NULL (logged: the connection ends)
 */
static struct vhost_user_vring *
vhost_user_handle_vring(struct vhost_user_server *s, const struct vhost_user_msg *msg, uint64_t idx)
{
	if (idx >= s->cfg.num_vrings) {
		vhost_user_server_bad(s, msg, "ring index out of range");
		return NULL;
	}
	return &s->vrings[idx];
}

/* Handlers: features and ownership */

static uint64_t vhost_user_handle_offered_features(const struct vhost_user_server *s)
{
	return s->cfg.ops->get_features(s->cfg.opaque) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
}

static uint64_t vhost_user_handle_offered_protocol(const struct vhost_user_server *s)
{
	const struct vhost_user_dev_ops *ops = s->cfg.ops;
	uint64_t f = s->cfg.protocol_features & VHOST_USER_SERVER_PROTOCOL_FEATURES;

	if (!ops->get_config)
		f &= ~(1ULL << VHOST_USER_PROTOCOL_F_CONFIG);
	if (!ops->send_rarp)
		f &= ~(1ULL << VHOST_USER_PROTOCOL_F_RARP);
	if (!ops->set_mtu)
		f &= ~(1ULL << VHOST_USER_PROTOCOL_F_NET_MTU);
	return f;
}

static int vhost_user_handle_get_features(struct vhost_user_server *s, struct vhost_user_msg *msg,
					  int *fds)
{
	return vhost_user_server_reply_u64(s, msg->hdr.request,
					   vhost_user_handle_offered_features(s));
}

static int vhost_user_handle_set_features(struct vhost_user_server *s, struct vhost_user_msg *msg,
					  int *fds)
{
	uint64_t f = msg->payload.u64;
	bool protocol = f & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	unsigned int i;
	int ret = 0;

	if (f & ~vhost_user_handle_offered_features(s))
		return vhost_user_server_bad(s, msg, "features that were not offered");
	f &= ~(1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	/* Sent again for every queue pair: the same value changes nothing. */
	if (s->features_set && f == s->features && protocol == s->protocol_acked)
		return 0;

	vhost_user_server_stop_rings(s);
	s->features = f;
	s->features_set = true;
	s->protocol_acked = protocol;
	/* Without protocol features there is no SET_VRING_ENABLE: every ring is enabled. */
	if (!protocol)
		for (i = 0; i < s->cfg.num_vrings; i++)
			s->vrings[i].enabled = true;
	if (s->cfg.ops->set_features)
		ret = s->cfg.ops->set_features(s->cfg.opaque, f);
	return ret < 0 ? VHOST_USER_NACK : 0;
}

static int vhost_user_handle_get_protocol_features(struct vhost_user_server *s,
						   struct vhost_user_msg *msg, int *fds)
{
	return vhost_user_server_reply_u64(s, msg->hdr.request,
					   vhost_user_handle_offered_protocol(s));
}

static int vhost_user_handle_set_protocol_features(struct vhost_user_server *s,
						   struct vhost_user_msg *msg, int *fds)
{
	if (msg->payload.u64 & ~vhost_user_handle_offered_protocol(s))
		return vhost_user_server_bad(s, msg, "protocol features that were not offered");
	s->protocol_features = msg->payload.u64;
	return 0;
}

static int vhost_user_handle_set_owner(struct vhost_user_server *s, struct vhost_user_msg *msg,
				       int *fds)
{
	/* Sent once per queue pair on the same connection: nothing to do. */
	return 0;
}

static int vhost_user_handle_reset_owner(struct vhost_user_server *s, struct vhost_user_msg *msg,
					 int *fds)
{
	unsigned int i;

	/* Deprecated; the spec recommends disabling every ring and nothing more. */
	vhost_user_server_stop_rings(s);
	for (i = 0; i < s->cfg.num_vrings; i++)
		s->vrings[i].enabled = false;
	if (s->cfg.ops->reset)
		s->cfg.ops->reset(s->cfg.opaque);
	return 0;
}

static int vhost_user_handle_reset_device(struct vhost_user_server *s, struct vhost_user_msg *msg,
					  int *fds)
{
	unsigned int i;

	vhost_user_server_stop_rings(s);
	for (i = 0; i < s->cfg.num_vrings; i++)
		vhost_user_server_reset_ring(&s->vrings[i]);
	vhost_user_server_free_inflight(s);
	s->features = 0;
	s->features_set = false;
	s->protocol_acked = false;
	s->status = 0;
	if (s->cfg.ops->reset)
		s->cfg.ops->reset(s->cfg.opaque);
	return 0;
}

static int vhost_user_handle_get_queue_num(struct vhost_user_server *s, struct vhost_user_msg *msg,
					   int *fds)
{
	return vhost_user_server_reply_u64(s, msg->hdr.request, s->cfg.queue_num);
}

static int vhost_user_handle_set_status(struct vhost_user_server *s, struct vhost_user_msg *msg,
					int *fds)
{
	if (msg->payload.u64 > UINT8_MAX)
		return vhost_user_server_bad(s, msg, "status does not fit a byte");
	s->status = (uint8_t)msg->payload.u64;
	if (s->cfg.ops->set_status && s->cfg.ops->set_status(s->cfg.opaque, s->status) < 0)
		return VHOST_USER_NACK;
	return 0;
}

static int vhost_user_handle_get_status(struct vhost_user_server *s, struct vhost_user_msg *msg,
					int *fds)
{
	return vhost_user_server_reply_u64(s, msg->hdr.request, s->status);
}

/* Handlers: memory and dirty log */

static bool vhost_user_handle_has_region(const struct vhost_user_server *s,
					 const struct vhost_user_memory_region *r)
{
	unsigned int i;

	for (i = 0; i < s->mem.nregions; i++) {
		const struct guest_mem_region *g = &s->mem.regions[i];

		if (g->guest_phys_addr == r->guest_phys_addr && g->size == r->memory_size &&
		    g->user_addr == r->userspace_addr && g->mmap_offset == r->mmap_offset)
			return true;
	}
	return false;
}

static void vhost_user_handle_unmap_regions(struct vhost_user_server *s)
{
	/* Region by region, so the dirty log stays mapped. */
	while (s->mem.nregions)
		guest_mem_remove_region(&s->mem, s->mem.regions[0].guest_phys_addr,
					s->mem.regions[0].size);
}

static int vhost_user_handle_map_region(struct vhost_user_server *s,
					const struct vhost_user_msg *msg,
					const struct vhost_user_memory_region *r, int fd)
{
	int ret = guest_mem_add_region(&s->mem, fd, r->guest_phys_addr, r->memory_size,
				       r->userspace_addr, r->mmap_offset);

	if (ret == -ENOSPC)
		return vhost_user_server_bad(s, msg,
					     "more than GUEST_MEM_MAX_REGIONS (32) regions");
	if (ret == -EFBIG)
		return vhost_user_server_bad(s, msg,
					     "regions span more than "
					     "GUEST_MEM_MAX_TOTAL_SIZE (16 TiB)");
	if (ret < 0) {
		log_ratelimited_warn(&s->rl,
				     "vhost-user %s: region gpa 0x%llx size 0x%llx uva 0x%llx "
				     "offset 0x%llx: %s",
				     s->name, (unsigned long long)r->guest_phys_addr,
				     (unsigned long long)r->memory_size,
				     (unsigned long long)r->userspace_addr,
				     (unsigned long long)r->mmap_offset, strerror(-ret));
		return vhost_user_server_bad(s, msg, "memory region cannot be mapped");
	}
	return 0;
}

static int vhost_user_handle_set_mem_table(struct vhost_user_server *s, struct vhost_user_msg *msg,
					   int *fds)
{
	const struct vhost_user_memory *m = &msg->payload.memory;
	unsigned int i;
	int ret;

	if (m->nregions == s->mem.nregions) {
		/* Sent again for every queue pair: an unchanged table keeps its mappings. */
		for (i = 0; i < m->nregions; i++)
			if (!vhost_user_handle_has_region(s, &m->regions[i]))
				break;
		if (i == m->nregions)
			return 0;
	}

	vhost_user_server_stop_rings(s);
	vhost_user_handle_unmap_regions(s);
	for (i = 0; i < m->nregions; i++) {
		ret = vhost_user_handle_map_region(s, msg, &m->regions[i], fds[i]);
		if (ret < 0) {
			vhost_user_handle_unmap_regions(s);
			return ret;
		}
	}
	return 0;
}

static int vhost_user_handle_get_max_mem_slots(struct vhost_user_server *s,
					       struct vhost_user_msg *msg, int *fds)
{
	return vhost_user_server_reply_u64(s, msg->hdr.request, GUEST_MEM_MAX_REGIONS);
}

static int vhost_user_handle_add_mem_reg(struct vhost_user_server *s, struct vhost_user_msg *msg,
					 int *fds)
{
	const struct vhost_user_memory_region *r = &msg->payload.mem_reg.region;

	/* Each queue pair's front-end side adds the same regions: accept the repeat. */
	if (vhost_user_handle_has_region(s, r))
		return 0;
	return vhost_user_handle_map_region(s, msg, r, fds[0]);
}

static int vhost_user_handle_rem_mem_reg(struct vhost_user_server *s, struct vhost_user_msg *msg,
					 int *fds)
{
	const struct vhost_user_memory_region *r = &msg->payload.mem_reg.region;
	unsigned int i;

	for (i = 0; i < s->mem.nregions; i++) {
		const struct guest_mem_region *g = &s->mem.regions[i];

		if (g->guest_phys_addr == r->guest_phys_addr && g->size == r->memory_size &&
		    g->user_addr == r->userspace_addr)
			break;
	}
	/* Already gone (another queue pair removed it): the state is what was asked. */
	if (i == s->mem.nregions)
		return 0;
	vhost_user_server_stop_rings(s);
	guest_mem_remove_region(&s->mem, r->guest_phys_addr, r->memory_size);
	return 0;
}

/**
 * vhost_user_handle_check_event_fd() - check a kick, call, err or log fd and make it nonblocking
 * @fd:		the fd the front end sent
 * @write:	vwire writes it (call, err, log) rather than reads it (kick)
 *
 * An eventfd is what the spec asks for; a pipe or socket end open in the right direction works
 * too. Files, directories and block devices are refused: a read or write on them neither
 * blocks nor means anything. The fd is made nonblocking (the flag is shared with the front
 * end's copy, which front ends create nonblocking anyway), so that a full call fd or an empty
 * kick fd never stops the loop.
 *
 * Return: NULL, or why the fd is refused
 */
static const char *vhost_user_handle_check_event_fd(int fd, bool write)
{
	struct stat st;
	int fl, mode;

	if (fstat(fd, &st) < 0)
		return "fd cannot be inspected";
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode))
		return "fd is a file, not an eventfd";
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return "fd cannot be inspected";
	mode = fl & O_ACCMODE;
	if (write ? mode == O_RDONLY : mode == O_WRONLY)
		return write ? "fd is not writable" : "fd is not readable";
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return "fd cannot be made nonblocking";
	return NULL;
}

static int vhost_user_handle_set_log_base(struct vhost_user_server *s, struct vhost_user_msg *msg,
					  int *fds)
{
	const struct vhost_user_log *l = &msg->payload.log;
	int ret = guest_mem_set_log(&s->mem, fds[0], l->mmap_size, l->mmap_offset);

	if (ret < 0)
		return vhost_user_server_bad(s, msg, "dirty log cannot be mapped");
	/* The front end waits for this reply (LOG_SHMFD); QEMU ignores its payload. */
	return vhost_user_server_reply_u64(s, msg->hdr.request, 0);
}

static int vhost_user_handle_set_log_fd(struct vhost_user_server *s, struct vhost_user_msg *msg,
					int *fds)
{
	const char *why = vhost_user_handle_check_event_fd(fds[0], true);

	if (why)
		return vhost_user_server_bad(s, msg, why);
	vhost_user_server_close_fd(&s->log_fd);
	s->log_fd = fds[0];
	fds[0] = -1;
	return 0;
}

/* Handlers: rings */

static int vhost_user_handle_set_vring_num(struct vhost_user_server *s, struct vhost_user_msg *msg,
					   int *fds)
{
	const struct vhost_vring_state *st = &msg->payload.state;
	struct vhost_user_vring *vr = vhost_user_handle_vring(s, msg, st->index);

	if (!vr)
		return -EINVAL;
	if (!st->num || st->num > VHOST_USER_MAX_QUEUE_SIZE)
		return vhost_user_server_bad(s, msg, "ring size out of range");
	vhost_user_server_stop_ring(s, st->index);
	vr->num = st->num;
	return 0;
}

static int vhost_user_handle_set_vring_addr(struct vhost_user_server *s, struct vhost_user_msg *msg,
					    int *fds)
{
	const struct vhost_vring_addr *a = &msg->payload.addr;
	struct vhost_user_vring *vr = vhost_user_handle_vring(s, msg, a->index);

	if (!vr)
		return -EINVAL;
	if (a->flags & ~(1u << VHOST_VRING_F_LOG))
		return vhost_user_server_bad(s, msg, "unknown ring flags");
	vhost_user_server_stop_ring(s, a->index);
	vr->desc_uva = a->desc_user_addr;
	vr->used_uva = a->used_user_addr;
	vr->avail_uva = a->avail_user_addr;
	vr->log_guest_addr = a->log_guest_addr;
	vr->flags = a->flags;
	vr->addr_set = true;
	return 0;
}

static int vhost_user_handle_set_vring_base(struct vhost_user_server *s, struct vhost_user_msg *msg,
					    int *fds)
{
	const struct vhost_vring_state *st = &msg->payload.state;
	struct vhost_user_vring *vr = vhost_user_handle_vring(s, msg, st->index);

	if (!vr)
		return -EINVAL;
	vhost_user_server_stop_ring(s, st->index);
	vr->base = st->num;
	return 0;
}

static int vhost_user_handle_get_vring_base(struct vhost_user_server *s, struct vhost_user_msg *msg,
					    int *fds)
{
	struct vhost_vring_state st = msg->payload.state;
	struct vhost_user_vring *vr = vhost_user_handle_vring(s, msg, st.index);

	if (!vr)
		return -EINVAL;
	vhost_user_server_stop_ring(s, st.index);
	/* The ring stays stopped until the next SET_VRING_KICK. */
	vr->kick_set = false;
	vhost_user_server_close_fd(&vr->kick_fd);
	vhost_user_server_close_fd(&vr->call_fd);
	st.num = vr->base;
	return vhost_user_server_reply(s, msg->hdr.request, &st, sizeof(st), -1);
}

static int vhost_user_handle_set_vring_fd(struct vhost_user_server *s, struct vhost_user_msg *msg,
					  int *fds)
{
	uint64_t u = msg->payload.u64;
	unsigned int idx = u & VHOST_USER_VRING_IDX_MASK;
	int fd = (u & VHOST_USER_VRING_NOFD_MASK) ? -1 : fds[0];
	struct vhost_user_vring *vr = vhost_user_handle_vring(s, msg, idx);
	const char *why;

	if (!vr)
		return -EINVAL;
	if (fd >= 0) {
		why = vhost_user_handle_check_event_fd(fd, msg->hdr.request !=
								   VHOST_USER_SET_VRING_KICK);
		if (why)
			return vhost_user_server_bad(s, msg, why);
	}
	if (fd >= 0)
		fds[0] = -1;
	switch (msg->hdr.request) {
	case VHOST_USER_SET_VRING_KICK:
		vhost_user_server_stop_ring(s, idx);
		vhost_user_server_close_fd(&vr->kick_fd);
		vr->kick_fd = fd;
		vr->kick_set = true;
		break;
	case VHOST_USER_SET_VRING_CALL:
		/* Swapped under a running ring: the device reads call_fd at each notification. */
		vhost_user_server_close_fd(&vr->call_fd);
		vr->call_fd = fd;
		break;
	default:
		vhost_user_server_close_fd(&vr->err_fd);
		vr->err_fd = fd;
		break;
	}
	return 0;
}

static int vhost_user_handle_set_vring_enable(struct vhost_user_server *s,
					      struct vhost_user_msg *msg, int *fds)
{
	const struct vhost_vring_state *st = &msg->payload.state;
	struct vhost_user_vring *vr = vhost_user_handle_vring(s, msg, st->index);

	if (!vr)
		return -EINVAL;
	if (st->num > 1)
		return vhost_user_server_bad(s, msg, "enable value is neither 0 nor 1");
	vr->enabled = st->num;
	return 0;
}

/* Handlers: net, config */

static int vhost_user_handle_send_rarp(struct vhost_user_server *s, struct vhost_user_msg *msg,
				       int *fds)
{
	s->cfg.ops->send_rarp(s->cfg.opaque, msg->payload.bytes);
	return 0;
}

static int vhost_user_handle_net_set_mtu(struct vhost_user_server *s, struct vhost_user_msg *msg,
					 int *fds)
{
	if (msg->payload.u64 > UINT16_MAX)
		return VHOST_USER_NACK;
	return s->cfg.ops->set_mtu(s->cfg.opaque, (uint16_t)msg->payload.u64) < 0 ? VHOST_USER_NACK
										  : 0;
}

static int vhost_user_handle_get_config(struct vhost_user_server *s, struct vhost_user_msg *msg,
					int *fds)
{
	struct vhost_user_config *c = &msg->payload.config;

	/* A zero-length reply is how the spec says "failed". */
	if (s->cfg.ops->get_config(s->cfg.opaque, c->offset, c->region, c->size) < 0)
		return vhost_user_server_reply(s, msg->hdr.request, NULL, 0, -1);
	return vhost_user_server_reply(s, msg->hdr.request, c, msg->hdr.size, -1);
}

static int vhost_user_handle_set_config(struct vhost_user_server *s, struct vhost_user_msg *msg,
					int *fds)
{
	const struct vhost_user_config *c = &msg->payload.config;

	if (c->flags != VHOST_SET_CONFIG_TYPE_FRONTEND &&
	    c->flags != VHOST_SET_CONFIG_TYPE_MIGRATION)
		return vhost_user_server_bad(s, msg, "unknown config flags");
	if (!s->cfg.ops->set_config)
		return VHOST_USER_NACK;
	return s->cfg.ops->set_config(s->cfg.opaque, c->offset, c->region, c->size, c->flags) < 0
		   ? VHOST_USER_NACK
		   : 0;
}

/* Handlers: inflight buffer */

static bool vhost_user_handle_packed(const struct vhost_user_server *s)
{
	return s->features & (1ULL << VHOST_USER_F_RING_PACKED);
}

/**
 * vhost_user_handle_inflight_check() - validate an inflight description
 * @s:		the server
 * @msg:	GET_INFLIGHT_FD or SET_INFLIGHT_FD
 * @queue_bytes: out: one ring's region size
 *
 * Return: 0, or -EINVAL (logged)
 */
static int vhost_user_handle_inflight_check(struct vhost_user_server *s,
					    const struct vhost_user_msg *msg, size_t *queue_bytes)
{
	const struct vhost_user_inflight *in = &msg->payload.inflight;

	if (!in->num_queues || in->num_queues > s->cfg.num_vrings)
		return vhost_user_server_bad(s, msg, "inflight queue count out of range");
	if (!in->queue_size || in->queue_size > VHOST_USER_MAX_QUEUE_SIZE)
		return vhost_user_server_bad(s, msg, "inflight queue size out of range");
	*queue_bytes = inflight_region_size(in->queue_size, vhost_user_handle_packed(s));
	return 0;
}

/**
 * vhost_user_handle_set_inflight() - adopt an inflight mapping and point the rings into it
 * @s:		the server
 * @p:		the mapping
 * @size:	its length
 * @base:	first ring's region in it
 * @nq:		rings covered
 * @queue_bytes: one ring's region size
 *
 * Return: 0, or -ENOMEM (@p is then unmapped)
 */
static int vhost_user_handle_set_inflight(struct vhost_user_server *s, void *p, size_t size,
					  uint8_t *base, unsigned int nq, size_t queue_bytes)
{
	unsigned int i;

	if (mem_guard_add(&s->guard, p, size, "inflight buffer") < 0) {
		munmap(p, size);
		return -ENOMEM;
	}
	vhost_user_server_stop_rings(s);
	vhost_user_server_free_inflight(s);
	s->inflight_mmap = p;
	s->inflight_mmap_size = size;
	for (i = 0; i < nq; i++) {
		s->vrings[i].inflight = base + (size_t)i * queue_bytes;
		s->vrings[i].inflight_size = queue_bytes;
	}
	return 0;
}

static void vhost_user_handle_init_inflight(uint8_t *p, unsigned int nq, size_t queue_bytes,
					    uint16_t queue_size, bool packed)
{
	unsigned int i, j;

	for (i = 0; i < nq; i++, p += queue_bytes) {
		if (packed) {
			struct inflight_packed_region *q = (void *)p;

			q->version = INFLIGHT_VERSION;
			q->desc_num = queue_size;
			/* Ring wrap counters start at 1; every entry starts on the free list. */
			q->used_wrap_counter = 1;
			q->old_used_wrap_counter = 1;
			for (j = 0; j < queue_size; j++)
				q->desc[j].next = (uint16_t)(j + 1);
		} else {
			struct inflight_split_region *q = (void *)p;

			q->version = INFLIGHT_VERSION;
			q->desc_num = queue_size;
		}
	}
}

static int vhost_user_handle_get_inflight_fd(struct vhost_user_server *s,
					     struct vhost_user_msg *msg, int *fds)
{
	struct vhost_user_inflight in = msg->payload.inflight;
	size_t queue_bytes, size;
	int ret, fd;
	void *p;

	ret = vhost_user_handle_inflight_check(s, msg, &queue_bytes);
	if (ret < 0)
		return ret;
	size = queue_bytes * in.num_queues;

	fd = memfd_create("vwire-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		goto fail;
	/* Sealed: the front end cannot shrink it under us (a fault on our side). */
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail_fd;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail_fd;
	vhost_user_handle_init_inflight(p, in.num_queues, queue_bytes, in.queue_size,
					vhost_user_handle_packed(s));
	if (vhost_user_handle_set_inflight(s, p, size, p, in.num_queues, queue_bytes) < 0)
		goto fail_fd;

	in.mmap_size = size;
	in.mmap_offset = 0;
	ret = vhost_user_server_reply(s, msg->hdr.request, &in, sizeof(in), fd);
	close(fd);
	return ret;

fail_fd:
	close(fd);
fail:
	log_ratelimited_warn(&s->rl, "vhost-user %s: no inflight buffer: %s", s->name,
			     strerror(errno));
	/* mmap_size 0 tells the front end there is no buffer. */
	in.mmap_size = 0;
	in.mmap_offset = 0;
	return vhost_user_server_reply(s, msg->hdr.request, &in, sizeof(in), -1);
}

static int vhost_user_handle_set_inflight_fd(struct vhost_user_server *s,
					     struct vhost_user_msg *msg, int *fds)
{
	const struct vhost_user_inflight *in = &msg->payload.inflight;
	uint64_t end, map_len, page = (uint64_t)sysconf(_SC_PAGESIZE);
	size_t queue_bytes;
	struct stat st;
	void *p;
	int ret;

	ret = vhost_user_handle_inflight_check(s, msg, &queue_bytes);
	if (ret < 0)
		return ret;
	if (in->mmap_size > VHOST_USER_INFLIGHT_MAX_SIZE ||
	    in->mmap_offset > VHOST_USER_INFLIGHT_MAX_SIZE)
		return vhost_user_server_bad(s, msg,
					     "inflight buffer larger than "
					     "VHOST_USER_INFLIGHT_MAX_SIZE");
	if (in->mmap_size < (uint64_t)queue_bytes * in->num_queues ||
	    in->mmap_offset > UINT64_MAX - in->mmap_size)
		return vhost_user_server_bad(s, msg, "inflight buffer too small or wraps");
	end = in->mmap_offset + in->mmap_size;
	if (fstat(fds[0], &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < end)
		return vhost_user_server_bad(s, msg, "inflight fd smaller than the buffer");
	map_len = (end + page - 1) & ~(page - 1);
	p = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (p == MAP_FAILED)
		return vhost_user_server_bad(s, msg, "inflight buffer cannot be mapped");
	/* Its contents are the guest's history, untrusted: the device bounds-checks them. */
	if (vhost_user_handle_set_inflight(s, p, (size_t)map_len, (uint8_t *)p + in->mmap_offset,
					   in->num_queues, queue_bytes) < 0)
		return vhost_user_server_bad(s, msg, "out of memory for the inflight buffer");
	return 0;
}

/* clang-format off */
#define H(req, fn_, pf, rep) \
	[VHOST_USER_##req] = { .fn = (fn_), .feature = (pf), .replies = (rep) }
#define PF(x) VHOST_USER_PROTOCOL_F_##x

static const struct vhost_user_handler_desc vhost_user_handlers[VHOST_USER_MAX] = {
	H(GET_FEATURES, vhost_user_handle_get_features, VHOST_USER_PF_NONE, true),
	H(SET_FEATURES, vhost_user_handle_set_features, VHOST_USER_PF_NONE, false),
	H(SET_OWNER, vhost_user_handle_set_owner, VHOST_USER_PF_NONE, false),
	H(RESET_OWNER, vhost_user_handle_reset_owner, VHOST_USER_PF_NONE, false),
	H(SET_MEM_TABLE, vhost_user_handle_set_mem_table, VHOST_USER_PF_NONE, false),
	H(SET_LOG_BASE, vhost_user_handle_set_log_base, PF(LOG_SHMFD), true),
	H(SET_LOG_FD, vhost_user_handle_set_log_fd, VHOST_USER_PF_NONE, false),
	H(SET_VRING_NUM, vhost_user_handle_set_vring_num, VHOST_USER_PF_NONE, false),
	H(SET_VRING_ADDR, vhost_user_handle_set_vring_addr, VHOST_USER_PF_NONE, false),
	H(SET_VRING_BASE, vhost_user_handle_set_vring_base, VHOST_USER_PF_NONE, false),
	H(GET_VRING_BASE, vhost_user_handle_get_vring_base, VHOST_USER_PF_NONE, true),
	H(SET_VRING_KICK, vhost_user_handle_set_vring_fd, VHOST_USER_PF_NONE, false),
	H(SET_VRING_CALL, vhost_user_handle_set_vring_fd, VHOST_USER_PF_NONE, false),
	H(SET_VRING_ERR, vhost_user_handle_set_vring_fd, VHOST_USER_PF_NONE, false),
	H(GET_PROTOCOL_FEATURES, vhost_user_handle_get_protocol_features, VHOST_USER_PF_NONE, true),
	H(SET_PROTOCOL_FEATURES, vhost_user_handle_set_protocol_features, VHOST_USER_PF_NONE, false),
	H(GET_QUEUE_NUM, vhost_user_handle_get_queue_num, VHOST_USER_PF_NONE, true),
	H(SET_VRING_ENABLE, vhost_user_handle_set_vring_enable, VHOST_USER_PF_NONE, false),
	H(SEND_RARP, vhost_user_handle_send_rarp, PF(RARP), false),
	H(NET_SET_MTU, vhost_user_handle_net_set_mtu, PF(NET_MTU), false),
	H(GET_CONFIG, vhost_user_handle_get_config, PF(CONFIG), true),
	H(SET_CONFIG, vhost_user_handle_set_config, PF(CONFIG), false),
	H(GET_INFLIGHT_FD, vhost_user_handle_get_inflight_fd, PF(INFLIGHT_SHMFD), true),
	H(SET_INFLIGHT_FD, vhost_user_handle_set_inflight_fd, PF(INFLIGHT_SHMFD), false),
	H(RESET_DEVICE, vhost_user_handle_reset_device, PF(RESET_DEVICE), false),
	H(GET_MAX_MEM_SLOTS, vhost_user_handle_get_max_mem_slots, PF(CONFIGURE_MEM_SLOTS), true),
	H(ADD_MEM_REG, vhost_user_handle_add_mem_reg, PF(CONFIGURE_MEM_SLOTS), false),
	H(REM_MEM_REG, vhost_user_handle_rem_mem_reg, PF(CONFIGURE_MEM_SLOTS), false),
	H(SET_STATUS, vhost_user_handle_set_status, PF(STATUS), false),
	H(GET_STATUS, vhost_user_handle_get_status, PF(STATUS), true),
};
/* clang-format on */

int vhost_user_handle_msg(struct vhost_user_server *s, struct vhost_user_msg *msg, int *fds)
{
	const struct vhost_user_handler_desc *h;
	int ret;

	if (msg->hdr.request >= VHOST_USER_MAX)
		return vhost_user_server_bad(s, msg, "unknown request");
	h = &vhost_user_handlers[msg->hdr.request];
	if (!h->fn)
		return vhost_user_server_bad(s, msg, "request not supported");
	if (h->feature != VHOST_USER_PF_NONE && !(s->protocol_features & (1ULL << h->feature)))
		return vhost_user_server_bad(s, msg, "protocol feature not negotiated");

	ret = h->fn(s, msg, fds);
	if (ret < 0)
		return ret;
	if (ret == VHOST_USER_NACK)
		log_ratelimited_warn(&s->rl, "vhost-user %s: %s refused", s->name,
				     vhost_user_request_name(msg->hdr.request));
	vhost_user_server_update_rings(s);

	if (!h->replies && (msg->hdr.flags & VHOST_USER_NEED_REPLY_MASK) &&
	    (s->protocol_features & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK)))
		return vhost_user_server_reply_u64(s, msg->hdr.request, ret ? 1 : 0);
	return 0;
}
