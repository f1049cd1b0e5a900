// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sandbox-seccomp.c - -sandbox on: a seccomp allowlist (libseccomp) of the system calls the
 * running daemon makes: its event loop, vhost-user, taps, sockets, libslirp, QMP, dump files,
 * and the helper programs it starts when spawn=allow. Any other call traps into a SIGSYS
 * handler that writes one line naming it, then the process dies of SIGSYS.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

/* libseccomp's SCMP_A0() leaves the second datum to zero-initialization; clang warns of it. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "daemon/sandbox.h"

/* System call numbers the SIGSYS handler can name (x86_64 has ~460). */
#define SECCOMP_NAMES_MAX 1024

/*
 * What the daemon does between loop_run() and exit: the loop (epoll, timerfd, signalfd,
 * eventfd), packet I/O on taps and sockets, vhost-user (fds in recvmsg, mmap of guest memory,
 * memfd for the inflight buffer), QMP's socket, libslirp, dump files, glibc's malloc and
 * stdio, the files QMP netdev_add opens (/dev/net/tun) and the sockets it removes at exit.
 */
/* The lists are grouped by hand. */
/* clang-format off */
static const char *const seccomp_base[] = {
	/* I/O */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
	"preadv2", "pwritev2", "lseek", "close", "close_range", "dup", "dup2", "dup3",
	"pipe", "pipe2", "fcntl", "ioctl", "ftruncate", "fallocate", "fsync", "fdatasync",
	"sendfile", "splice",
	/* the event loop */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "select", "pselect6", "timerfd_create",
	"timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4", "eventfd", "eventfd2",
	/* memory: malloc, guest memory, the inflight buffer */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mlock", "munlock",
	"mincore", "memfd_create",
	/* sockets */
	"socket", "socketpair", "bind", "connect", "listen", "accept", "accept4", "shutdown",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "getsockname",
	"getpeername", "setsockopt", "getsockopt",
	/* files: opened at run time by QMP netdev_add (/dev/net/tun, dump files) and user mode
	 * (resolv.conf, tftp); sockets and the pid file removed at exit; fd checks; the private
	 * directories of sockets (unix-socket.c) and of guestfwd (mkdtemp, rmdir at exit) */
	"open", "openat", "openat2", "stat", "fstat", "lstat", "newfstatat", "statx",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "unlink", "unlinkat",
	"getdents", "getdents64", "getcwd", "umask", "fstatfs", "statfs", "flock",
	"mkdir", "mkdirat", "rmdir", "chmod", "fchmod", "fchmodat",
	/* signals */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
	"sigaltstack", "restart_syscall",
	/* time, ids, limits, randomness */
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
	"getresgid", "getgroups", "getrlimit", "prlimit64", "getrusage", "getrandom", "uname",
	"sysinfo", "capget", "sched_getaffinity", "sched_yield", "getpriority",
	/* glibc and threads */
	"futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
	"arch_prctl", "prctl", "membarrier",
	"exit", "exit_group",
};

/* spawn=allow: tap down scripts, bridge helpers, guestfwd cmd:, and what they run. */
static const char *const seccomp_spawn[] = {
	"fork", "vfork", "clone", "clone3", "execve", "execveat", "wait4", "waitid", "kill",
	"setsid", "setpgid", "getpgid", "getpgrp", "getsid", "chdir", "fchdir", "rename",
	"renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "utimensat",
	"pidfd_open", "alarm", "setitimer", "getitimer", "tgkill", "tkill",
};

/* elevateprivileges=allow: harmless once the capabilities are gone, as helpers need them. */
static const char *const seccomp_elevate[] = {
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
	"setfsuid", "setfsgid", "capset",
};

/* resourcecontrol=allow: QEMU's list. */
static const char *const seccomp_resourcecontrol[] = {
	"setpriority", "sched_setparam", "sched_getparam", "sched_setscheduler",
	"sched_getscheduler", "sched_setaffinity", "sched_get_priority_max",
	"sched_get_priority_min", "sched_setattr", "sched_getattr",
};

/* obsolete=allow: QEMU's list (those that exist on this architecture). */
static const char *const seccomp_obsolete[] = {
	"readdir", "_sysctl", "bdflush", "create_module", "get_kernel_syms", "query_module",
	"sgetmask", "ssetmask", "sysfs", "uselib", "ustat",
};

#if SANDBOX_SANITIZED
/*
 * ASan and UBSan report through the symbolizer (a child process), and LeakSanitizer stops
 * the process at exit from a clone that ptrace()s every thread listed in /proc/self/task.
 */
static const char *const seccomp_sanitizer[] = {
	"clone", "ptrace", "wait4", "waitid", "execve", "fork", "vfork", "kill", "tgkill",
	"tkill", "sched_setaffinity", "personality",
};
#endif

/* clang-format on */

/* Names of system calls by number, resolved before the filter, for the SIGSYS handler. */
static char *seccomp_names[SECCOMP_NAMES_MAX];
static int seccomp_log_fd = -1;

/* Append @s to @buf at @*len, within @size. */
static void seccomp_append(char *buf, size_t size, size_t *len, const char *s)
{
	while (*s && *len + 1 < size)
		buf[(*len)++] = *s++;
}

/* Async-signal-safe: no stdio, no malloc; the names were resolved beforehand. */
static void seccomp_sigsys(int sig, siginfo_t *info, void *ucontext)
{
	char buf[256], num[16];
	size_t len = 0, n = 0;
	int nr = info->si_syscall;
	unsigned int v = nr < 0 ? 0 : (unsigned int)nr;
	sigset_t set;
	ssize_t ignored;

	(void)ucontext;
	do {
		num[sizeof(num) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof(num) - 1);
	seccomp_append(buf, sizeof(buf), &len, "vwire: -sandbox: forbidden system call ");
	memcpy(buf + len, num + sizeof(num) - n, n);
	len += n;
	seccomp_append(buf, sizeof(buf), &len, " (");
	seccomp_append(buf, sizeof(buf), &len,
		       nr >= 0 && nr < SECCOMP_NAMES_MAX && seccomp_names[nr] ? seccomp_names[nr]
									      : "unknown");
	seccomp_append(buf, sizeof(buf), &len, "): terminating\n");
	ignored = write(STDERR_FILENO, buf, len);
	if (seccomp_log_fd >= 0 && seccomp_log_fd != STDERR_FILENO)
		ignored = write(seccomp_log_fd, buf, len);
	(void)ignored;
	/* Die of the signal, as the kernel's kill action would. */
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(128 + sig);
}

static int seccomp_allow(scmp_filter_ctx ctx, const char *const *names, size_t n, struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int ret;

		/* Not a system call of this architecture (open on arm64, _sysctl on new ones). */
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue;
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (ret < 0 && ret != -EEXIST)
			return error_set(err, ret, "cannot allow %s: %s", names[i], strerror(-ret));
	}
	return 0;
}

#define SECCOMP_ALLOW(ctx, list, err) seccomp_allow(ctx, list, sizeof(list) / sizeof(list[0]), err)

static void seccomp_resolve_names(void)
{
	for (int nr = 0; nr < SECCOMP_NAMES_MAX; nr++)
		if (!seccomp_names[nr])
			seccomp_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
}

int sandbox_seccomp_install(const struct sandbox_filter *f, int log_fd, struct error *err)
{
	struct sigaction sa = { .sa_sigaction = seccomp_sigsys, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx;
	int ret;

	seccomp_resolve_names();
	seccomp_log_fd = log_fd;
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return error_set(err, -errno, "cannot handle SIGSYS: %s", strerror(errno));
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return error_set(err, -ENOMEM, "seccomp_init failed");
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (ret < 0) {
		error_set(err, ret, "cannot apply the filter to every thread: %s", strerror(-ret));
		goto out;
	}
	ret = SECCOMP_ALLOW(ctx, seccomp_base, err);
	/* raise() and abort() signal their own process alone. */
	if (!ret && !f->spawn) {
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
		if (ret < 0)
			error_set(err, ret, "cannot allow tgkill: %s", strerror(-ret));
	}
	/*
	 * Threads (QMP object-add iothread): clone only with CLONE_THREAD, as QEMU's filter;
	 * clone3 passes its flags in memory the filter cannot read, so it fails with ENOSYS
	 * and glibc falls back to clone.
	 */
	if (!ret && !f->spawn) {
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
		if (!ret)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
		if (ret < 0)
			error_set(err, ret, "cannot allow threads: %s", strerror(-ret));
	}
	/*
	 * io_uring: the rings taps made before the filter (which take readv and writev alone)
	 * stay usable; no new ring, nor a change to one, is allowed. A tap made later finds
	 * io_uring refused and uses plain calls.
	 */
	if (!ret) {
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(io_uring_enter), 0);
		if (!ret)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_setup),
					       0);
		if (!ret)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
					       SCMP_SYS(io_uring_register), 0);
		if (ret < 0)
			error_set(err, ret, "cannot allow io_uring_enter: %s", strerror(-ret));
	}
	if (!ret && f->spawn)
		ret = SECCOMP_ALLOW(ctx, seccomp_spawn, err);
	if (!ret && f->elevate)
		ret = SECCOMP_ALLOW(ctx, seccomp_elevate, err);
	if (!ret && f->resourcecontrol)
		ret = SECCOMP_ALLOW(ctx, seccomp_resourcecontrol, err);
	if (!ret && f->obsolete)
		ret = SECCOMP_ALLOW(ctx, seccomp_obsolete, err);
#if SANDBOX_SANITIZED
	if (!ret)
		ret = SECCOMP_ALLOW(ctx, seccomp_sanitizer, err);
#endif
	if (ret < 0)
		goto out;
	ret = seccomp_load(ctx);
	if (ret < 0)
		error_set(err, ret, "cannot load the seccomp filter: %s", strerror(-ret));
out:
	seccomp_release(ctx);
	return ret;
}
