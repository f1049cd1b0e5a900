/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * user.h - what the rest of vwire may ask of user-mode networking (-netdev user, user.c):
 * its MTU bounds for the option table, and the monitor's run-time commands (hostfwd_add,
 * hostfwd_remove, info usernet), which take QEMU's HMP syntax.
 */
#ifndef VWIRE_BACKENDS_USER_H
#define VWIRE_BACKENDS_USER_H

#include <stdio.h>

struct error;

/* MTU (and MRU) of the virtual network: QEMU's fixed value by default; up to the largest
 * frame libslirp builds for guests whose device negotiates a larger MTU. */
#define USER_MTU_DEFAULT 1500
#define USER_MTU_MIN 68
#define USER_MTU_MAX 65520
/* The least MTU an IPv6 link may have (RFC 8200, section 5). */
#define USER_MTU_MIN_IPV6 1280

/**
 * user_hostfwd_add() - add a host forwarding rule at run time (HMP hostfwd_add)
 * @netdev_id:	the user netdev (NULL: the first one created)
 * @rule:	[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport
 * @err:	what is wrong (QEMU's wording)
 *
 * Return: 0, -ENOENT (no such netdev), -EINVAL (not a user netdev, bad rule), or the
 *	   negative errno of the failed bind/listen
 */
int user_hostfwd_add(const char *netdev_id, const char *rule, struct error *err);

/**
 * user_hostfwd_remove() - remove a host forwarding rule (HMP hostfwd_remove)
 * @netdev_id:	the user netdev (NULL: the first one created)
 * @rule:	[tcp|udp]:[hostaddr]:hostport
 * @err:	what is wrong
 *
 * Return: 0, -ENOENT (no such netdev or no such rule) or -EINVAL (bad rule)
 */
int user_hostfwd_remove(const char *netdev_id, const char *rule, struct error *err);

/**
 * user_hmp_hostfwd_add() - HMP's "hostfwd_add [netdev_id] rule", printing what QEMU's
 *			    monitor prints: nothing on success, the reason of a failure
 * @args:	the words after the command's name
 * @out:	the monitor's output
 *
 * Return: 0 or the negative errno of the failure
 */
int user_hmp_hostfwd_add(const char *args, FILE *out);

/**
 * user_hmp_hostfwd_remove() - HMP's "hostfwd_remove [netdev_id] [tcp|udp]:[hostaddr]:hostport",
 *			       printing "host forwarding rule for RULE removed" (or "not found")
 * @args:	the words after the command's name
 * @out:	the monitor's output
 *
 * Return: 0 or the negative errno of the failure
 */
int user_hmp_hostfwd_remove(const char *args, FILE *out);

/**
 * user_hmp_info_usernet() - HMP's "info usernet": each user netdev's connections
 * @out: the monitor's output
 */
void user_hmp_info_usernet(FILE *out);

#endif
