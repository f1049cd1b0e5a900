/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * user-config.h - -netdev user's options turned into libslirp's configuration, and QEMU's
 * forwarding-rule syntax (hostfwd=, guestfwd=, hostfwd_add/remove) decoded (user-config.c).
 */
#ifndef VWIRE_BACKENDS_USER_CONFIG_H
#define VWIRE_BACKENDS_USER_CONFIG_H

#include <libslirp.h>
#include <stdbool.h>

struct error;
struct netdev_user_opts;

/**
 * struct user_config - -netdev user's options in libslirp's terms
 * @cfg:	libslirp's configuration (its strings point into the options it came from)
 * @dnssearch:	the NULL-terminated list @cfg.vdnssearch points to
 */
struct user_config {
	SlirpConfig cfg;
	const char **dnssearch;
};

/**
 * user_config_parse() - check @o and fill @uc with QEMU's defaults for what it leaves out
 * @o:		the decoded options (forwarding rules are not looked at)
 * @uc:		filled; release with user_config_release() whatever the result
 * @err:	names the option and the value that are wrong
 *
 * Return: 0, -EINVAL, -ENOTSUP (smb=) or -ENOMEM
 */
int user_config_parse(const struct netdev_user_opts *o, struct user_config *uc,
		      struct error *err);

/**
 * user_config_release() - free what user_config_parse() allocated
 * @uc: the configuration
 */
void user_config_release(struct user_config *uc);

/**
 * user_config_parse_hostfwd() - [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport
 * @rule:	the rule
 * @udp:	set for udp
 * @host:	host address (INADDR_ANY when left out) and port (0: any)
 * @guest:	guest address (0 when left out: libslirp uses dhcpstart) and port
 *
 * Return: NULL, or QEMU's reason why @rule is bad
 */
const char *user_config_parse_hostfwd(const char *rule, bool *udp, struct sockaddr_in *host,
				      struct sockaddr_in *guest);

/**
 * user_config_parse_hostfwd_remove() - [tcp|udp]:[hostaddr]:hostport
 * @rule:	the rule
 * @udp:	set for udp
 * @host:	host address and port
 *
 * Return: NULL, or the reason why @rule is bad
 */
const char *user_config_parse_hostfwd_remove(const char *rule, bool *udp,
					     struct sockaddr_in *host);

/**
 * user_config_parse_guestfwd() - [tcp]:[server]:port-dev
 * @rule:	the rule
 * @server:	server address (0 when left out)
 * @port:	server port
 * @dev:	set to the text after the '-'
 *
 * Return: NULL, or the reason why @rule is bad
 */
const char *user_config_parse_guestfwd(const char *rule, struct in_addr *server, int *port,
				       const char **dev);

#endif
