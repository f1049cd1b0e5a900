/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hub.h - hubs (a packet entering one port leaves by every other) and learning switches
 * (a packet leaves by the port its destination MAC was last seen on, or floods).
 */
#ifndef VWIRE_CORE_HUB_H
#define VWIRE_CORE_HUB_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct net_client;

/* Defaults of the learning switch. */
#define HUB_MAC_TABLE_DEFAULT 4096
#define HUB_AGEING_DEFAULT_S 300

/**
 * struct hub_config - how a hub behaves, fixed by its first port
 * @learning:		a learning switch rather than a plain hub
 * @mac_table_size:	switch: most MAC addresses remembered
 * @ageing_ns:		switch: how long an entry lives without being seen again
 */
struct hub_config {
	bool learning;
	unsigned int mac_table_size;
	int64_t ageing_ns;
};

/**
 * hub_port_new() - add a port to hub @hubid, creating the hub if needed
 * @loop:	event loop
 * @hubid:	hub number
 * @name:	the port's name (NULL: hub<hubid>port<N>)
 * @peer:	client to peer the port with, or NULL
 * @config:	the hub's behaviour when it is created here; when the hub exists, a config
 *		that differs is refused (NULL: accept the hub as it is, or a plain hub)
 *
 * Return: the port's client, or NULL with errno set (EEXIST, EBUSY, EINVAL, ENOMEM)
 */
struct net_client *hub_port_new(struct loop *loop, int hubid, const char *name,
				struct net_client *peer, const struct hub_config *config);

/**
 * hub_port_hub_is_switch() - whether the port's hub is a learning switch
 * @port: a hub port
 *
 * Return: true for a switch
 */
bool hub_port_hub_is_switch(const struct net_client *port);

/**
 * hub_mac_count() - MAC addresses a switch currently remembers
 * @hubid: hub number
 *
 * Return: count, or -1 if there is no such hub
 */
int hub_mac_count(int hubid);

/**
 * hub_next_id() - hub numbers, the newest hub first (QEMU's order in 'info network')
 * @after:	the previous id returned, or -1 to start
 *
 * Return: the next hub id, or -1 when there are no more
 */
int hub_next_id(int after);

#endif
