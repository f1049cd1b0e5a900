// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sandbox.c - the daemon gives up what it no longer needs once its command line is created:
 * -chroot DIR and -runas USER[:GROUP] (QEMU 7.2's options, applied in QEMU's order), an empty
 * mount namespace when nothing needs files at run time (as passt), every capability but
 * CAP_NET_ADMIN while QMP may still make taps, no_new_privs, and the -sandbox seccomp filter.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cap-ng.h>

#include "daemon/sandbox.h"
#include "vwire/opts.h"

/* Where the empty tmpfs is mounted (in the new namespace only) before pivot_root into it. */
#define SANDBOX_EMPTY_ROOT "/tmp"

/* Most supplementary groups -runas takes from the user's entry. */
#define SANDBOX_MAX_GROUPS 256

void sandbox_config_init(struct sandbox_config *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->filter.on = true;
	sb->filter.elevate = true;
	sb->filter.spawn = true;
	sb->filter.resourcecontrol = true;
}

void sandbox_config_free(struct sandbox_config *sb)
{
	free(sb->user);
	free(sb->groups);
	free(sb->chroot_dir);
	sb->user = NULL;
	sb->groups = NULL;
	sb->chroot_dir = NULL;
}

bool sandbox_is_option(const char *opt)
{
	return !strcmp(opt, "-sandbox") || !strcmp(opt, "-runas") || !strcmp(opt, "-chroot");
}

/* "allow"/"deny" (and "children" where @children is given) of a -sandbox key. */
static int sandbox_parse_allow(struct opts *o, const char *key, bool *allow, bool *children,
			       struct error *err)
{
	const char *v = opts_get(o, key);

	if (!v)
		return 0;
	if (!strcmp(v, "allow")) {
		*allow = true;
	} else if (!strcmp(v, "deny")) {
		*allow = false;
	} else if (children && !strcmp(v, "children")) {
		/* QEMU: no_new_privs and no set*id in this process; vwire always sets the first. */
		*allow = false;
		*children = true;
	} else {
		return error_set(err, -EINVAL, "invalid argument for %s: '%s' (allow or deny%s)",
				 key, v, children ? ", or children" : "");
	}
	return 0;
}

static int sandbox_parse_filter(struct sandbox_filter *f, const char *text, struct error *err)
{
	struct sandbox_filter n = *f;
	bool children = false;
	const char *v;
	struct opts o;
	int ret;

	ret = opts_parse(text, "enable", &o, err);
	if (ret < 0)
		return ret;
	v = opts_get(&o, "enable");
	ret = sandbox_parse_allow(&o, "obsolete", &n.obsolete, NULL, err);
	if (!ret)
		ret = sandbox_parse_allow(&o, "elevateprivileges", &n.elevate, &children, err);
	if (!ret)
		ret = sandbox_parse_allow(&o, "spawn", &n.spawn, NULL, err);
	if (!ret)
		ret = sandbox_parse_allow(&o, "resourcecontrol", &n.resourcecontrol, NULL, err);
	if (!ret)
		ret = opts_check_unused(&o, "-sandbox", err);
	if (!ret && (!v || opts_parse_bool(v, &n.on) < 0))
		ret = error_set(err, -EINVAL, "'%s' is not on or off (which comes first)",
				v ? v : "");
	if (!ret)
		*f = n;
	opts_free(&o);
	return ret;
}

/* A decimal id, as QEMU's "<uid>:<gid>"; -1 is no id. */
static int sandbox_parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || *out >= (unsigned long)UINT32_MAX)
		return -EINVAL;
	return 0;
}

/* A named user: its uid, primary group and supplementary groups, as initgroups() would. */
static int sandbox_runas_user(struct sandbox_config *sb, const struct passwd *pw, gid_t gid)
{
	int n = SANDBOX_MAX_GROUPS;
	gid_t *groups = calloc((size_t)n, sizeof(*groups));

	if (!groups)
		return -ENOMEM;
	if (getgrouplist(pw->pw_name, gid, groups, &n) < 0) {
		free(groups);
		return -E2BIG;
	}
	free(sb->groups);
	sb->groups = groups;
	sb->ngroups = (size_t)n;
	sb->uid = pw->pw_uid;
	sb->gid = gid;
	return 0;
}

/*
 * -runas USER, USER:GROUP or UID:GID (QEMU 7.2 takes USER or UID:GID): USER gets its
 * supplementary groups, a numeric pair gets GID alone, as in QEMU.
 */
static int sandbox_parse_runas(struct sandbox_config *sb, const char *text, struct error *err)
{
	char *copy = strdup(text), *group;
	unsigned long uid, gid;
	struct passwd *pw;
	struct group *gr;
	int ret = 0;

	if (!copy)
		return error_set(err, -ENOMEM, "out of memory");
	group = strchr(copy, ':');
	if (group)
		*group++ = '\0';
	pw = *copy ? getpwnam(copy) : NULL;
	if (!pw && (sandbox_parse_id(copy, &uid) < 0 || !group)) {
		ret = error_set(err, -ENOENT, "user \"%s\" does not exist (and is not <uid>:<gid>)",
				copy);
		goto out;
	}
	if (group) {
		gr = *group ? getgrnam(group) : NULL;
		if (gr) {
			gid = gr->gr_gid;
		} else if (sandbox_parse_id(group, &gid) < 0) {
			ret = error_set(err, -ENOENT, "group \"%s\" does not exist", group);
			goto out;
		}
	} else {
		gid = pw->pw_gid;
	}
	if (pw) {
		ret = sandbox_runas_user(sb, pw, (gid_t)gid);
		if (ret < 0) {
			error_set(err, ret, "cannot read the groups of \"%s\": %s", copy,
				  strerror(-ret));
			goto out;
		}
	} else {
		free(sb->groups);
		sb->groups = malloc(sizeof(*sb->groups));
		if (!sb->groups) {
			ret = error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		sb->groups[0] = (gid_t)gid;
		sb->ngroups = 1;
		sb->uid = (uid_t)uid;
		sb->gid = (gid_t)gid;
	}
	free(sb->user);
	sb->user = strdup(text);
	sb->runas = sb->user != NULL;
	if (!sb->runas)
		ret = error_set(err, -ENOMEM, "out of memory");
out:
	free(copy);
	return ret;
}

static int sandbox_parse_chroot(struct sandbox_config *sb, const char *dir, struct error *err)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return error_set(err, -errno, "%s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_set(err, -ENOTDIR, "not a directory");
	free(sb->chroot_dir);
	sb->chroot_dir = strdup(dir);
	return sb->chroot_dir ? 0 : error_set(err, -ENOMEM, "out of memory");
}

int sandbox_parse_option(struct sandbox_config *sb, const char *opt, const char *arg,
			 struct error *err)
{
	if (!strcmp(opt, "-sandbox"))
		return sandbox_parse_filter(&sb->filter, arg, err);
	if (!strcmp(opt, "-runas"))
		return sandbox_parse_runas(sb, arg, err);
	if (!strcmp(opt, "-chroot"))
		return sandbox_parse_chroot(sb, arg, err);
	return error_set(err, -EINVAL, "not a sandbox option");
}

/* Whether a "no"-or-nothing script option names a script. */
static bool sandbox_script_given(const char *s)
{
	return s && *s && strcmp(s, "no");
}

/* -netdev TYPE: whether it touches files after it was created. */
static bool sandbox_netdev_needs_files(struct opts *o, const char *type)
{
	const char *v;

	if (!strcmp(type, "hubport") || !strcmp(type, "socket") || !strcmp(type, "bridge"))
		return false;
	if (!strcmp(type, "tap"))
		return sandbox_script_given(opts_get(o, "downscript"));
	if (!strcmp(type, "dump"))
		return false; /* the file is opened once, when the netdev is made */
	if (!strcmp(type, "dgram")) {
		/* A unix remote is a path, given to every sendto. */
		v = opts_get(o, "remote.type");
		return v && strcmp(v, "inet");
	}
	if (!strcmp(type, "stream")) {
		/* A unix server removes its file; reconnect resolves the address again. */
		v = opts_get(o, "addr.type");
		return (v && strcmp(v, "inet")) || opts_get(o, "reconnect");
	}
	/* user (resolv.conf, tftp, guestfwd), and anything vwire does not know here. */
	return true;
}

void sandbox_needs_item(struct sandbox_needs *needs, const char *option, const char *text)
{
	const char *type;
	struct opts o;

	/* A vhost-user socket is removed at exit or reconnected to: a path. */
	if (strcmp(option, "-netdev") && strcmp(option, "-object")) {
		needs->files = true;
		return;
	}
	if (opts_parse(text, !strcmp(option, "-netdev") ? "type" : "qom-type", &o, NULL) < 0) {
		needs->files = true;
		return;
	}
	type = opts_get(&o, !strcmp(option, "-netdev") ? "type" : "qom-type");
	if (!type)
		needs->files = true;
	else if (!strcmp(option, "-object"))
		needs->files |= strcmp(type, "filter-dump") && strcmp(type, "iothread");
	else
		needs->files |= sandbox_netdev_needs_files(&o, type);
	/* A down script runs at exit as the daemon's child, to take the tap down. */
	if (type && !strcmp(type, "tap") && sandbox_script_given(opts_get(&o, "downscript")))
		needs->net_admin = true;
	opts_free(&o);
}

/* QEMU's os_setup_post(): chroot, then chdir to the new root. */
static int sandbox_chroot(const char *dir, struct error *err)
{
	if (chroot(dir) < 0)
		return error_set(err, -errno, "chroot failed: %s", strerror(errno));
	if (chdir("/") < 0)
		return error_set(err, -errno, "not able to chdir to /: %s", strerror(errno));
	return 0;
}

/*
 * As passt's isolate_prefork(): a private mount namespace whose root is an empty, read-only
 * tmpfs, the old root detached. Needs CAP_SYS_ADMIN; skipped without it.
 */
static int sandbox_empty_root(struct error *err)
{
	if (unshare(CLONE_NEWNS) < 0) {
		if (errno == EPERM)
			return 0;
		return error_set(err, -errno, "unshare(CLONE_NEWNS): %s", strerror(errno));
	}
	if (mount("", "/", "", MS_PRIVATE | MS_REC, NULL) < 0 ||
	    mount("", SANDBOX_EMPTY_ROOT, "tmpfs", MS_NODEV | MS_NOEXEC | MS_NOSUID | MS_RDONLY,
		  "nr_inodes=2,nr_blocks=0") < 0 ||
	    chdir(SANDBOX_EMPTY_ROOT) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		return error_set(err, -errno, "empty mount namespace: %s", strerror(errno));
	return 0;
}

/* Become @sb's user, keeping the permitted capabilities across the change (PR_SET_KEEPCAPS). */
static int sandbox_runas(const struct sandbox_config *sb, struct error *err)
{
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return error_set(err, -errno, "PR_SET_KEEPCAPS: %s", strerror(errno));
	if (setgroups(sb->ngroups, sb->groups) < 0)
		return error_set(err, -errno, "failed to set the supplementary groups: %s",
				 strerror(errno));
	if (setresgid(sb->gid, sb->gid, sb->gid) < 0)
		return error_set(err, -errno, "failed to setgid(%u): %s", (unsigned int)sb->gid,
				 strerror(errno));
	if (setresuid(sb->uid, sb->uid, sb->uid) < 0)
		return error_set(err, -errno, "failed to setuid(%u): %s", (unsigned int)sb->uid,
				 strerror(errno));
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	/* As QEMU: make sure root cannot be had back. */
	if (sb->uid != 0 && setuid(0) != -1)
		return error_set(err, -EPERM, "dropping privileges failed");
#if SANDBOX_SANITIZED
	/*
	 * LeakSanitizer ptrace()s the process from a clone at exit, which a changed uid made
	 * non-dumpable. Sanitized builds are for tests; release builds stay non-dumpable.
	 */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	return 0;
}

/*
 * Bounding set first (CAP_SETPCAP is needed for it), then the user, then the effective,
 * permitted and inheritable sets, and no ambient ones: CAP_NET_ADMIN alone in each when
 * @net_admin (and the process has it), nothing otherwise. A process started without capabilities
 * skips what it cannot do.
 */
static int sandbox_caps(const struct sandbox_config *sb, bool net_admin, struct error *err)
{
	bool privileged;
	int ret;

	capng_get_caps_process();
	privileged = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	if (privileged) {
		capng_clear(CAPNG_SELECT_BOUNDS);
		if (net_admin)
			capng_update(CAPNG_ADD, CAPNG_BOUNDING_SET, CAP_NET_ADMIN);
		ret = capng_apply(CAPNG_SELECT_BOUNDS);
		if (ret < 0)
			return error_set(err, -EPERM, "cannot drop the bounding set (%d)", ret);
	}
	if (sb->runas) {
		ret = sandbox_runas(sb, err);
		if (ret < 0)
			return ret;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/*
	 * Lowering capabilities needs none: this works unprivileged too. CAP_NET_ADMIN is kept
	 * only if the process has it: a user's vwire with a QMP socket has none to keep.
	 */
	capng_get_caps_process();
	net_admin = net_admin && capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN);
	capng_clear(CAPNG_SELECT_CAPS);
	if (net_admin)
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_NET_ADMIN);
	ret = capng_apply(CAPNG_SELECT_CAPS);
	if (ret < 0)
		return error_set(err, -EPERM, "cannot drop capabilities (%d)", ret);
	return 0;
}

int sandbox_apply(const struct sandbox_config *sb, const struct sandbox_needs *needs,
		  struct error *err, const char **option)
{
	int ret;

	*option = "-chroot";
	if (sb->chroot_dir) {
		ret = sandbox_chroot(sb->chroot_dir, err);
		if (ret < 0)
			return ret;
	}
	*option = "-sandbox";
	/* LeakSanitizer reads /proc/self/maps at exit: sanitized builds keep the file system. */
	if (!SANDBOX_SANITIZED && sb->filter.on && !needs->files && !sb->chroot_dir) {
		ret = sandbox_empty_root(err);
		if (ret < 0)
			return ret;
	}
	*option = sb->runas ? "-runas" : "-sandbox";
	ret = sandbox_caps(sb, needs->net_admin, err);
	if (ret < 0)
		return ret;
	*option = "-sandbox";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return error_set(err, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (!sb->filter.on)
		return 0;
	ret = sandbox_seccomp_install(&sb->filter, needs->log_fd, err);
	if (!ret && getenv(SANDBOX_TEST_VIOLATION_ENV))
		syscall(SYS_acct, NULL); /* not in any allowlist */
	return ret;
}
