/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mem-guard.h - survive a front end that shrinks a file vwire has mapped from it.
 *
 * Guest memory, the dirty log and the inflight buffer are mmap()ed from fds the front end
 * sent; it can ftruncate() them later, and the next access past the new end raises SIGBUS.
 * Every such mapping is registered here with its owner. The SIGBUS handler finds the
 * mapping that holds the faulting address, replaces it with anonymous zero pages (the access
 * then completes harmlessly), and wakes the owner through an eventfd in its loop, where the
 * owner stops the device. Nothing is checked per access: the data path pays nothing.
 */
#ifndef VWIRE_VIRTIO_MEM_GUARD_H
#define VWIRE_VIRTIO_MEM_GUARD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

/**
 * typedef mem_guard_fault_cb - a mapping of the owner faulted (called from the owner's loop)
 * @opaque:	the owner's argument
 * @what:	which mapping ("guest memory", "dirty log", "inflight buffer")
 * @addr:	the faulting address (now backed by zero pages)
 */
typedef void mem_guard_fault_cb(void *opaque, const char *what, void *addr);

/**
 * struct mem_guard - one owner of guarded mappings (one vhost-user connection's device)
 * @loop:	the loop the owner runs in
 * @event_fd:	signalled by the SIGBUS handler
 * @faulted:	set by the handler; cleared when the owner is told
 * @fault_what:	name of the mapping that faulted (set by the handler)
 * @fault_addr:	the faulting address (set by the handler)
 * @cb:		told in the loop
 * @opaque:	its argument
 */
struct mem_guard {
	struct loop *loop;
	int event_fd;
	volatile sig_atomic_t faulted;
	const char *volatile fault_what;
	void *volatile fault_addr;
	mem_guard_fault_cb *cb;
	void *opaque;
};

/**
 * mem_guard_init() - set an owner up (installs the process's SIGBUS handler the first time)
 * @g:		the owner
 * @loop:	its loop
 * @cb:		called in @loop when one of its mappings faulted
 * @opaque:	argument of @cb
 *
 * Return: 0 or a negative errno
 */
int mem_guard_init(struct mem_guard *g, struct loop *loop, mem_guard_fault_cb *cb, void *opaque);

/**
 * mem_guard_destroy() - forget every mapping of @g and stop watching its eventfd
 * @g: the owner (mem_guard_init() succeeded, or zeroed with event_fd -1)
 */
void mem_guard_destroy(struct mem_guard *g);

/**
 * mem_guard_add() - guard a mapping of a front end's fd
 * @g:		its owner, or NULL (nothing is guarded: unit tests and fuzzers)
 * @addr:	start of the mapping
 * @len:	its length
 * @what:	a static name for the log ("guest memory", ...)
 *
 * Return: 0 or -ENOMEM
 */
int mem_guard_add(struct mem_guard *g, void *addr, size_t len, const char *what);

/**
 * mem_guard_remove() - stop guarding the mapping at @addr; call it before munmap()
 * @g:		its owner, or NULL
 * @addr:	start of the mapping, as given to mem_guard_add()
 */
void mem_guard_remove(struct mem_guard *g, void *addr);

#endif
