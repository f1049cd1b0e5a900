// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mac-table.c - a bounded MAC address table with ageing (see mac-table.h).
 *
 * Entries live in one array allocated at creation, each followed by its value; hash chains
 * and the free list link them by index. A lookup frees the expired entries of its chain;
 * learning into a full table first expires the whole table, and then learns nothing rather
 * than forget a live entry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mac-table.h"

/**
 * struct mac_table - the table
 * @buckets:	heads of the hash chains (-1: empty); @nbuckets of them, a power of two
 * @nbuckets:	their count
 * @mem:	@size entries of @stride bytes
 * @stride:	an entry and its value, rounded up for alignment
 * @value_size:	bytes of value
 * @size:	entries
 * @free_head:	first free entry (-1: full)
 * @used:	entries in use
 * @ageing_ns:	how long a learnt entry lives unseen
 */
struct mac_table {
	int *buckets;
	unsigned int nbuckets;
	uint8_t *mem;
	size_t stride;
	size_t value_size;
	unsigned int size;
	int free_head;
	unsigned int used;
	int64_t ageing_ns;
};

static struct mac_entry *mac_at(const struct mac_table *t, int idx)
{
	return (struct mac_entry *)(t->mem + (size_t)idx * t->stride);
}

static unsigned int mac_hash(const struct mac_table *t, const uint8_t *mac)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < MAC_LEN; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h & (t->nbuckets - 1);
}

static bool mac_expired(const struct mac_table *t, const struct mac_entry *e, int64_t now)
{
	return !e->is_static && now - e->seen_ns > t->ageing_ns;
}

struct mac_table *mac_table_new(unsigned int size, int64_t ageing_ns, size_t value_size)
{
	struct mac_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->size = size;
	t->ageing_ns = ageing_ns;
	t->value_size = value_size;
	t->stride = (sizeof(struct mac_entry) + value_size + 7) & ~(size_t)7;
	t->nbuckets = 16;
	while (t->nbuckets < size)
		t->nbuckets <<= 1;
	t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
	t->mem = calloc(size ? size : 1, t->stride);
	if (!t->buckets || !t->mem) {
		mac_table_free(t);
		return NULL;
	}
	for (unsigned int i = 0; i < t->nbuckets; i++)
		t->buckets[i] = -1;
	for (unsigned int i = 0; i < size; i++)
		mac_at(t, (int)i)->next = i + 1 < size ? (int)(i + 1) : -1;
	t->free_head = size ? 0 : -1;
	return t;
}

void mac_table_free(struct mac_table *t)
{
	if (!t)
		return;
	free(t->buckets);
	free(t->mem);
	free(t);
}

static void mac_free_entry(struct mac_table *t, int *link, int idx)
{
	struct mac_entry *e = mac_at(t, idx);

	*link = e->next;
	memset(e, 0, t->stride);
	e->next = t->free_head;
	t->free_head = idx;
	t->used--;
}

/* The link that points at @mac's entry (expired ones on the way are freed), or NULL. */
static int *mac_find_link(struct mac_table *t, const uint8_t *mac, int64_t now)
{
	int *link = &t->buckets[mac_hash(t, mac)];

	while (*link >= 0) {
		struct mac_entry *e = mac_at(t, *link);

		if (mac_expired(t, e, now)) {
			mac_free_entry(t, link, *link);
			continue;
		}
		if (!memcmp(e->mac, mac, MAC_LEN))
			return link;
		link = &e->next;
	}
	return NULL;
}

struct mac_entry *mac_table_lookup(struct mac_table *t, const uint8_t *mac, int64_t now)
{
	int *link = mac_find_link(t, mac, now);

	return link ? mac_at(t, *link) : NULL;
}

static struct mac_entry *mac_insert(struct mac_table *t, const uint8_t *mac, int64_t now)
{
	struct mac_entry *e;
	unsigned int b;
	int idx;

	if (t->free_head < 0)
		mac_table_expire(t, now);
	if (t->free_head < 0)
		return NULL;
	idx = t->free_head;
	e = mac_at(t, idx);
	t->free_head = e->next;
	memcpy(e->mac, mac, MAC_LEN);
	b = mac_hash(t, mac);
	e->next = t->buckets[b];
	t->buckets[b] = idx;
	t->used++;
	return e;
}

int mac_table_learn(struct mac_table *t, const uint8_t *mac, const void *value, int64_t now)
{
	struct mac_entry *e = mac_table_lookup(t, mac, now);
	int made = 0;

	if (e && e->is_static)
		return 0;
	if (!e) {
		e = mac_insert(t, mac, now);
		if (!e)
			return -ENOSPC;
		made = 1;
	}
	e->seen_ns = now;
	memcpy(mac_entry_value(e), value, t->value_size);
	return made;
}

int mac_table_add_static(struct mac_table *t, const uint8_t *mac, const void *value, int64_t now)
{
	struct mac_entry *e = mac_table_lookup(t, mac, now);

	if (!e)
		e = mac_insert(t, mac, now);
	if (!e)
		return -ENOSPC;
	e->is_static = true;
	e->seen_ns = now;
	memcpy(mac_entry_value(e), value, t->value_size);
	return 0;
}

int mac_table_del(struct mac_table *t, const uint8_t *mac)
{
	int *link = &t->buckets[mac_hash(t, mac)];

	for (; *link >= 0; link = &mac_at(t, *link)->next) {
		if (!memcmp(mac_at(t, *link)->mac, mac, MAC_LEN)) {
			mac_free_entry(t, link, *link);
			return 0;
		}
	}
	return -ENOENT;
}

void mac_table_forget(struct mac_table *t, bool (*match)(void *opaque, struct mac_entry *e),
		      void *opaque)
{
	for (unsigned int b = 0; b < t->nbuckets; b++) {
		int *link = &t->buckets[b];

		while (*link >= 0) {
			if (match(opaque, mac_at(t, *link)))
				mac_free_entry(t, link, *link);
			else
				link = &mac_at(t, *link)->next;
		}
	}
}

struct mac_expiry {
	const struct mac_table *t;
	int64_t now;
};

static bool mac_drop_expired(void *opaque, struct mac_entry *e)
{
	const struct mac_expiry *x = opaque;

	return mac_expired(x->t, e, x->now);
}

void mac_table_expire(struct mac_table *t, int64_t now)
{
	struct mac_expiry x = { t, now };

	mac_table_forget(t, mac_drop_expired, &x);
}

void mac_table_foreach(struct mac_table *t, int64_t now,
		       void (*fn)(void *opaque, struct mac_entry *e), void *opaque)
{
	mac_table_expire(t, now);
	for (unsigned int b = 0; b < t->nbuckets; b++)
		for (int idx = t->buckets[b]; idx >= 0; idx = mac_at(t, idx)->next)
			fn(opaque, mac_at(t, idx));
}

unsigned int mac_table_count(const struct mac_table *t)
{
	return t->used;
}

int64_t mac_table_ageing_ns(const struct mac_table *t)
{
	return t->ageing_ns;
}

int mac_parse(const char *str, uint8_t *mac)
{
	unsigned int b[MAC_LEN];
	char tail;

	if (sscanf(str, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != MAC_LEN)
		return -EINVAL;
	for (int i = 0; i < MAC_LEN; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}
