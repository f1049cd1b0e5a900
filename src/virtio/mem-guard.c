// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mem-guard.c - the SIGBUS handler for mappings of front-end fds, and the table it searches.
 *
 * mem_guard_add() puts a mapping into a table of slots that grows by chunks and never shrinks
 * (the handler may read it at any instruction, so nothing it can reach is ever freed). On
 * SIGBUS the handler looks the address up, maps anonymous zero pages over that whole mapping,
 * marks the owner and writes its eventfd; the owner's loop callback then stops the device.
 * A SIGBUS elsewhere goes to the previous handler, or kills the process as it would have.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/mem-guard.h"
#include "vwire/loop.h"

/* Slots per chunk of the table. */
#define MEM_GUARD_CHUNK_SLOTS 256

/**
 * struct mem_guard_slot - one guarded mapping
 * @start:	its first byte; 0 while the slot is free (written last when taken, first when freed)
 * @len:	its length
 * @owner:	who is told of a fault
 * @what:	its name
 */
struct mem_guard_slot {
	uintptr_t start;
	size_t len;
	struct mem_guard *owner;
	const char *what;
};

/**
 * struct mem_guard_chunk - a block of slots
 * @slots:	the slots
 * @next:	the next chunk, or NULL
 */
struct mem_guard_chunk {
	struct mem_guard_slot slots[MEM_GUARD_CHUNK_SLOTS];
	struct mem_guard_chunk *next;
};

static struct mem_guard_chunk mem_guard_table;
/* Serializes the writers of the table (devices on several iothreads); the handler takes none. */
static pthread_mutex_t mem_guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction mem_guard_old_action;

/**
 * mem_guard_chain() - hand a SIGBUS that is not ours to whoever had it before
 * @sig:	SIGBUS
 * @si:		its information
 * @uc:		its context
 */
static void mem_guard_chain(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *old = &mem_guard_old_action;

	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
		old->sa_sigaction(sig, si, uc);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	/* Default action: die with SIGBUS once this handler returns (the signal is blocked now). */
	signal(sig, SIG_DFL);
	raise(sig);
}

/**
 * mem_guard_sigbus() - the SIGBUS handler
 * @sig:	SIGBUS
 * @si:		its information (si_addr: the faulting address)
 * @uc:		its context
 *
 * Only async-signal-safe work: a table walk, mmap() and write().
 */
static void mem_guard_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	struct mem_guard_chunk *c;
	int saved_errno = errno;
	uint64_t one = 1;
	unsigned int i;

	for (c = &mem_guard_table; c; c = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < MEM_GUARD_CHUNK_SLOTS; i++) {
			struct mem_guard_slot *s = &c->slots[i];
			uintptr_t start = __atomic_load_n(&s->start, __ATOMIC_ACQUIRE);

			if (!start || addr < start || addr - start >= s->len)
				continue;
			if (mmap((void *)start, s->len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				goto chain;
			s->owner->fault_what = s->what;
			s->owner->fault_addr = (void *)addr;
			s->owner->faulted = 1;
			(void)!write(s->owner->event_fd, &one, sizeof(one));
			errno = saved_errno;
			return;
		}
	}
chain:
	errno = saved_errno;
	mem_guard_chain(sig, si, uc);
}

/**
 * mem_guard_install() - install the SIGBUS handler unless it is in place already
 *
 * Whoever replaced it since (a test harness, a library) becomes the handler chained to.
 *
 * Return: 0 or a negative errno
 */
static int mem_guard_install(void)
{
	struct sigaction sa, cur;

	if (sigaction(SIGBUS, NULL, &cur) < 0)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == mem_guard_sigbus)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mem_guard_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &mem_guard_old_action) < 0)
		return -errno;
	return 0;
}

/**
 * mem_guard_event() - the owner's eventfd fired: tell the owner in its loop
 * @opaque: the owner
 */
static void mem_guard_event(void *opaque)
{
	struct mem_guard *g = opaque;
	uint64_t v;

	(void)!read(g->event_fd, &v, sizeof(v));
	if (!g->faulted)
		return;
	g->faulted = 0;
	g->cb(g->opaque, g->fault_what, g->fault_addr);
}

int mem_guard_init(struct mem_guard *g, struct loop *loop, mem_guard_fault_cb *cb, void *opaque)
{
	int ret;

	memset(g, 0, sizeof(*g));
	g->event_fd = -1;
	ret = mem_guard_install();
	if (ret < 0)
		return ret;
	g->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->event_fd < 0)
		return -errno;
	ret = loop_set_fd_handler(loop, g->event_fd, NULL, mem_guard_event, NULL, g);
	if (ret < 0) {
		close(g->event_fd);
		g->event_fd = -1;
		return ret;
	}
	g->loop = loop;
	g->cb = cb;
	g->opaque = opaque;
	return 0;
}

void mem_guard_destroy(struct mem_guard *g)
{
	struct mem_guard_chunk *c;
	unsigned int i;

	pthread_mutex_lock(&mem_guard_lock);
	for (c = &mem_guard_table; c; c = c->next)
		for (i = 0; i < MEM_GUARD_CHUNK_SLOTS; i++)
			if (c->slots[i].start && c->slots[i].owner == g)
				__atomic_store_n(&c->slots[i].start, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&mem_guard_lock);
	if (g->event_fd >= 0) {
		loop_set_fd_handler(g->loop, g->event_fd, NULL, NULL, NULL, NULL);
		close(g->event_fd);
	}
	g->event_fd = -1;
}

int mem_guard_add(struct mem_guard *g, void *addr, size_t len, const char *what)
{
	struct mem_guard_chunk *c, *last = NULL;
	struct mem_guard_slot *s;
	unsigned int i;

	if (!g)
		return 0;
	pthread_mutex_lock(&mem_guard_lock);
	for (c = &mem_guard_table; c; last = c, c = c->next)
		for (i = 0; i < MEM_GUARD_CHUNK_SLOTS; i++)
			if (!c->slots[i].start)
				goto found;
	c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&mem_guard_lock);
		return -ENOMEM;
	}
	__atomic_store_n(&last->next, c, __ATOMIC_RELEASE);
	i = 0;
found:
	s = &c->slots[i];
	s->len = len;
	s->owner = g;
	s->what = what;
	__atomic_store_n(&s->start, (uintptr_t)addr, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&mem_guard_lock);
	return 0;
}

void mem_guard_remove(struct mem_guard *g, void *addr)
{
	struct mem_guard_chunk *c;
	unsigned int i;

	if (!g)
		return;
	pthread_mutex_lock(&mem_guard_lock);
	for (c = &mem_guard_table; c; c = c->next)
		for (i = 0; i < MEM_GUARD_CHUNK_SLOTS; i++)
			if (c->slots[i].start == (uintptr_t)addr && c->slots[i].owner == g)
				__atomic_store_n(&c->slots[i].start, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&mem_guard_lock);
}
