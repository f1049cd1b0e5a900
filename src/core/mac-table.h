/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mac-table.h - a bounded table of MAC address -> where it was seen, with ageing: the
 * learning switch's (value: a hub port) and the VXLAN/Geneve forwarding table's (value: a
 * remote host's address). All memory is allocated up front: learning allocates nothing.
 */
#ifndef VWIRE_CORE_MAC_TABLE_H
#define VWIRE_CORE_MAC_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAC_LEN 6

struct mac_table;

/**
 * struct mac_entry - one entry; its value (value_size bytes) follows it
 * @mac:	the address
 * @is_static:	added by hand: never ages, learning does not move it
 * @seen_ns:	when it was last learnt (loop_now_ns())
 * @next:	next entry of the hash chain (index), -1 at the end
 */
struct mac_entry {
	uint8_t mac[MAC_LEN];
	bool is_static;
	int64_t seen_ns;
	int next;
};

/**
 * mac_table_new() - an empty table
 * @size:	most entries (0: a table that learns nothing)
 * @ageing_ns:	how long a learnt entry lives unseen
 * @value_size:	bytes of value per entry
 *
 * Return: the table, or NULL (out of memory)
 */
struct mac_table *mac_table_new(unsigned int size, int64_t ageing_ns, size_t value_size);

/* mac_table_free() - free @t (NULL: nothing) */
void mac_table_free(struct mac_table *t);

/**
 * mac_entry_value() - an entry's value
 * @e:		the entry
 *
 * Return: its value_size bytes
 */
static inline void *mac_entry_value(struct mac_entry *e)
{
	return e + 1;
}

/**
 * mac_table_lookup() - the live entry of @mac; expired entries met on the way are freed
 * @t:		the table
 * @mac:	the address
 * @now:	loop_now_ns()
 *
 * Return: the entry or NULL
 */
struct mac_entry *mac_table_lookup(struct mac_table *t, const uint8_t *mac, int64_t now);

/**
 * mac_table_learn() - @mac was seen at @value: refresh or move its learnt entry, or make one
 *		       (a static entry stays as it is)
 * @t:		the table
 * @mac:	the address
 * @value:	value_size bytes
 * @now:	loop_now_ns()
 *
 * Return: 1 when a new entry was made, 0 when one was refreshed (or is static), -ENOSPC when
 *	   the table is full of live entries (nothing is forgotten; the address stays unknown)
 */
int mac_table_learn(struct mac_table *t, const uint8_t *mac, const void *value, int64_t now);

/**
 * mac_table_add_static() - add or replace @mac's entry with a static one at @value
 *
 * Return: 0 or -ENOSPC
 */
int mac_table_add_static(struct mac_table *t, const uint8_t *mac, const void *value, int64_t now);

/**
 * mac_table_del() - remove @mac's entry
 *
 * Return: 0 or -ENOENT
 */
int mac_table_del(struct mac_table *t, const uint8_t *mac);

/**
 * mac_table_forget() - remove every entry whose value @match says yes to (e.g. a removed port)
 * @t:		the table
 * @match:	asked once per entry
 * @opaque:	for @match
 */
void mac_table_forget(struct mac_table *t, bool (*match)(void *opaque, struct mac_entry *e),
		      void *opaque);

/**
 * mac_table_expire() - free every learnt entry older than the ageing time
 */
void mac_table_expire(struct mac_table *t, int64_t now);

/**
 * mac_table_foreach() - call @fn for every live entry
 */
void mac_table_foreach(struct mac_table *t, int64_t now,
		       void (*fn)(void *opaque, struct mac_entry *e), void *opaque);

/**
 * mac_parse() - a MAC address from its text, "52:54:00:12:34:56"
 * @str:	the text
 * @mac:	MAC_LEN bytes, set
 *
 * Return: 0 or -EINVAL
 */
int mac_parse(const char *str, uint8_t *mac);

/* mac_table_count() - entries in use */
unsigned int mac_table_count(const struct mac_table *t);

/* mac_table_ageing_ns() - the ageing time */
int64_t mac_table_ageing_ns(const struct mac_table *t);

#endif
