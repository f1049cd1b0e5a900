/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sandbox.h - what the daemon gives up once everything on its command line exists: -chroot,
 * -runas, capabilities (libcap-ng), no_new_privs, an empty mount namespace when nothing needs
 * files at run time, and -sandbox, a seccomp allowlist (sandbox-seccomp.c).
 */
#ifndef VWIRE_DAEMON_SANDBOX_H
#define VWIRE_DAEMON_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vwire/error.h"

/* Built with AddressSanitizer (gcc's macro, or clang's feature test). */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZED 1
#endif
#endif
#ifndef SANDBOX_SANITIZED
#define SANDBOX_SANITIZED 0
#endif

/*
 * Set in the environment, the daemon makes a forbidden system call right after the filter is
 * loaded: how tests/e2e/sandbox.sh sees the filter kill and name it. It can do no more than
 * kill the process that reads it.
 */
#define SANDBOX_TEST_VIOLATION_ENV "VWIRE_TEST_SANDBOX_VIOLATION"

/**
 * struct sandbox_filter - -sandbox on|off[,obsolete=][,elevateprivileges=][,spawn=]
 *			   [,resourcecontrol=], as QEMU's option; an allowlist here
 * @on:			install the seccomp filter (the default)
 * @obsolete:		obsolete=allow: also allow the obsolete system calls QEMU lists
 * @elevate:		elevateprivileges=allow (the default, as QEMU's): also allow
 *			set*uid/set*gid/setgroups/capset, harmless once the capabilities are gone
 * @spawn:		spawn=allow (the default): fork, clone, execve for helper programs
 * @resourcecontrol:	resourcecontrol=allow (the default): scheduling and priority calls
 */
struct sandbox_filter {
	bool on;
	bool obsolete;
	bool elevate;
	bool spawn;
	bool resourcecontrol;
};

/**
 * struct sandbox_config - the sandbox options of the command line
 * @filter:	-sandbox
 * @runas:	-runas was given
 * @user:	its text, for messages
 * @uid:	the user to become
 * @gid:	its group
 * @groups:	supplementary groups (of a named user, resolved while /etc is at hand)
 * @ngroups:	how many
 * @chroot_dir:	-chroot, or NULL
 */
struct sandbox_config {
	struct sandbox_filter filter;
	bool runas;
	char *user;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t ngroups;
	char *chroot_dir;
};

/**
 * struct sandbox_needs - what the running daemon still needs, from its configuration
 * @net_admin:	CAP_NET_ADMIN: a QMP socket may still create taps and bridges, or a tap's
 *		down script runs at exit
 * @files:	something opens, connects to, runs or removes a path at run time (a QMP
 *		socket, a pid file, a vhost-user socket, a unix address, a script, user mode's
 *		resolv.conf/tftp/guestfwd): no empty mount namespace then
 * @log_fd:	where the SIGSYS handler writes besides stderr (the -D file), or -1
 */
struct sandbox_needs {
	bool net_admin;
	bool files;
	int log_fd;
};

/**
 * sandbox_config_init() - the defaults: -sandbox on,obsolete=deny,
 *			   elevateprivileges=allow,spawn=allow,resourcecontrol=allow; no -runas,
 *			   no -chroot
 * @sb:		the configuration to fill
 */
void sandbox_config_init(struct sandbox_config *sb);

/**
 * sandbox_config_free() - free what sandbox_parse_option() allocated
 * @sb:		the configuration
 */
void sandbox_config_free(struct sandbox_config *sb);

/**
 * sandbox_is_option() - whether @opt is one of -sandbox, -runas, -chroot
 * @opt:	the option, with one leading '-'
 *
 * Return: true when sandbox_parse_option() takes it.
 */
bool sandbox_is_option(const char *opt);

/**
 * sandbox_parse_option() - read one of -sandbox, -runas, -chroot into @sb
 * @sb:		the configuration
 * @opt:	the option ("-sandbox", "-runas", "-chroot")
 * @arg:	its argument
 * @err:	why it was refused (the message names no option: the caller prefixes it)
 *
 * -runas resolves the user and groups now, while the host's /etc is reachable.
 *
 * Return: 0, or a negative errno.
 */
int sandbox_parse_option(struct sandbox_config *sb, const char *opt, const char *arg,
			 struct error *err);

/**
 * sandbox_needs_item() - note in @needs what one -netdev/-object/-device asks at run time
 * @needs:	what the daemon needs, updated
 * @option:	"-netdev", "-object" or "-device"
 * @text:	its option string
 *
 * Conservative: any type not known to work without files sets @needs->files.
 */
void sandbox_needs_item(struct sandbox_needs *needs, const char *option, const char *text);

/**
 * sandbox_apply() - give up what the daemon no longer needs, in QEMU's order (chroot, then
 *		     the user), then capabilities, no_new_privs and the seccomp filter
 * @sb:		the configuration
 * @needs:	what the configuration still needs
 * @err:	why it failed; the caller names the option
 * @option:	set to the option that failed ("-chroot", "-runas", "-sandbox")
 *
 * Return: 0, or a negative errno; the process must not go on after a failure.
 */
int sandbox_apply(const struct sandbox_config *sb, const struct sandbox_needs *needs,
		  struct error *err, const char **option);

/**
 * sandbox_seccomp_install() - load the allowlist of @f; anything else kills the process
 *			       after one log line naming the system call
 * @f:		-sandbox's settings
 * @log_fd:	a second place for that line (the -D file), or -1
 * @err:	why it failed
 *
 * Return: 0, or a negative errno.
 */
int sandbox_seccomp_install(const struct sandbox_filter *f, int log_fd, struct error *err);

#endif
