/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tap.h - what the tap back end shows the other back ends: making a tap client from a tap fd
 * that someone else opened (the bridge helper), and the OS part (tap-linux.c) that opens and
 * configures /dev/net/tun for tap.c.
 */
#ifndef VWIRE_BACKENDS_TAP_H
#define VWIRE_BACKENDS_TAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct error;
struct loop;
struct net_client;

/* The largest number of queues of one tap netdev (as QEMU's MAX_TAP_QUEUES is 1024, but a
 * netdev's queues are looked up 64 at a time by netdev_del). */
#define TAP_MAX_QUEUES 64

/**
 * tap_client_new_from_fd() - drive an open tap fd as a net client
 * @loop:	event loop
 * @model:	"tap" or "bridge"
 * @name:	the netdev id
 * @fd:		the tap fd; owned by the client on success, closed on failure
 * @err:	what went wrong
 *
 * The fd is made non-blocking, its vnet header support is probed (and set to 12 bytes when
 * present), its send buffer set as QEMU does by default. The caller fills nc->info_str.
 *
 * Return: the client (queue 0, no peer), or NULL with @err set
 */
struct net_client *tap_client_new_from_fd(struct loop *loop, const char *model, const char *name,
					  int fd, struct error *err);

/**
 * tap_linux_open() - open /dev/net/tun and create or attach to a tap interface
 * @ifname:	in: the name wanted ("" or a pattern like "tap%d" lets the kernel choose);
 *		out: the name given; IFNAMSIZ bytes
 * @vnet_hdr:	in: try to enable IFF_VNET_HDR; out: whether it is enabled
 * @vnet_hdr_required: fail when the kernel cannot give a vnet header
 * @multi_queue: open one queue of a multiqueue tap (IFF_MULTI_QUEUE)
 * @err:	what went wrong
 *
 * Return: the non-blocking fd, or a negative errno with @err set
 */
int tap_linux_open(char *ifname, bool *vnet_hdr, bool vnet_hdr_required, bool multi_queue,
		   struct error *err);

/**
 * tap_linux_check_fd() - whether @fd is a tap (TUNGETIFF), its name and vnet header flag
 * @fd:		the fd
 * @ifname:	out: its interface name; IFNAMSIZ bytes
 * @vnet_hdr:	out: it was opened with IFF_VNET_HDR
 *
 * Return: 0, -ENOTTY (or another negative errno) when it is not a tun fd, -EINVAL when it is a
 *	   tun rather than a tap, -EBADFD when its interface is gone
 */
int tap_linux_check_fd(int fd, char *ifname, bool *vnet_hdr);

/**
 * tap_linux_set_sndbuf() - TUNSETSNDBUF; QEMU's default is INT_MAX (never block the sender)
 * @fd:		the tap fd
 * @sndbuf:	bytes (clamped to INT_MAX)
 *
 * Return: 0 or a negative errno
 */
int tap_linux_set_sndbuf(int fd, uint64_t sndbuf);

/**
 * tap_linux_set_vnet_hdr_len() - TUNSETVNETHDRSZ (and the header's byte order where needed)
 * @fd:		the tap fd
 * @len:	header length (12: struct virtio_net_hdr_v1)
 *
 * Return: 0 or a negative errno
 */
int tap_linux_set_vnet_hdr_len(int fd, int len);

/**
 * tap_linux_set_offload() - TUNSETOFFLOAD: which partial frames the kernel may hand over
 * @fd:		the tap fd
 * @flags:	TUN_F_* bits (0: only finished frames)
 *
 * Return: 0 or a negative errno (-EINVAL: a bit the kernel does not know)
 */
int tap_linux_set_offload(int fd, unsigned int flags);

/* Batched reads and writes on a tap fd through io_uring (tap-uring.c). */
struct tap_uring;

/**
 * tap_uring_new() - a ring that reads or writes up to @depth frames in one system call
 * @depth:	the most frames per tap_uring_rw()
 * @errp:	out: a negative errno on failure (-ENOSYS: built without liburing; -EPERM or
 *		-ENOSYS: the kernel or a seccomp filter refuses io_uring)
 *
 * Return: the ring, accepting only readv and writev, or NULL
 */
struct tap_uring *tap_uring_new(unsigned int depth, int *errp);

/* tap_uring_free() - close the ring (NULL is fine) */
void tap_uring_free(struct tap_uring *u);

/**
 * tap_uring_rw() - read or write @n frames on @fd in one system call, none waiting
 * @u:		the ring
 * @fd:		the tap fd
 * @write:	writev rather than readv
 * @iov:	the frames' iovecs back to back: frame i has @iovcnt[i] of them
 * @iovcnt:	iovecs per frame
 * @n:		frames, at most the ring's depth
 * @res:	out: per frame, the bytes read or written or a negative errno: -EAGAIN when
 *		there was nothing to read or no room to write; writes after a failed one are
 *		not tried (-ECANCELED), reads are independent
 *
 * Every frame is done, or failed, when this returns.
 *
 * Return: 0, or a negative errno when the ring itself failed (then free it and use plain
 *	   calls)
 */
int tap_uring_rw(struct tap_uring *u, int fd, bool write, const struct iovec *iov,
		 const int *iovcnt, unsigned int n, ssize_t *res);

#endif
