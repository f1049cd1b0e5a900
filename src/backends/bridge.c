// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bridge.c - the bridge back end (-netdev bridge,br=,helper=): QEMU's privileged bridge
 * helper creates a tap, attaches it to the bridge and sends its fd back over a socketpair;
 * from then on the fd is an ordinary tap client (tap.c) and packets flow as for -netdev tap.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/bridge.h"
#include "backends/tap.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/net.h"

/* The helper's end of the socketpair, in the helper: the --fd= it is told. */
#define BRIDGE_HELPER_FD 3

/* How much of the helper's stderr goes into the error message. */
#define BRIDGE_STDERR_MAX 256

/* Child side: stderr to @errfd, the socket at BRIDGE_HELPER_FD, nothing else open; exec. */
static void bridge_exec_helper(char *const argv[], int sock, int errfd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(errfd, STDERR_FILENO) < 0)
		_exit(127);
	if (sock == BRIDGE_HELPER_FD) {
		if (fcntl(sock, F_SETFD, 0) < 0)
			_exit(127);
	} else if (dup2(sock, BRIDGE_HELPER_FD) < 0) {
		_exit(127);
	}
	close_range(BRIDGE_HELPER_FD + 1, ~0U, 0);
	execv(argv[0], argv);
	_exit(127);
}

/* The fd in an SCM_RIGHTS message on @sock, or -1 when the helper sent none. */
static int bridge_recv_fd(int sock)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cmsg;
	ssize_t n;
	int fd;

	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
	return fd;
}

/* Read @fd to its end, keeping the first @len - 1 bytes as one line in @buf. */
static void bridge_read_stderr(int fd, char *buf, size_t len)
{
	size_t have = 0;
	char scratch[512];
	ssize_t n;

	for (;;) {
		n = read(fd, scratch, sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && have + 1 < len; i++)
			buf[have++] = scratch[i] == '\n' ? ' ' : scratch[i];
	}
	while (have && buf[have - 1] == ' ')
		have--;
	buf[have] = '\0';
}

int bridge_run_helper(const char *helper, const char *br, struct error *err)
{
	char fd_arg[32], br_arg[64], cmd[1024], msg[BRIDGE_STDERR_MAX];
	char *argv[5];
	int sv[2], errpipe[2], status, fd, ret;
	pid_t pid;

	if (snprintf(br_arg, sizeof(br_arg), "--br=%s", br) >= (int)sizeof(br_arg))
		return error_set(err, -EINVAL, "br=%s: too long", br);
	snprintf(fd_arg, sizeof(fd_arg), "--fd=%d", BRIDGE_HELPER_FD);
	if (strchr(helper, ' ')) {
		/* As QEMU: a helper with arguments of its own goes through the shell. */
		if (snprintf(cmd, sizeof(cmd), "%s --use-vnet %s %s", helper, fd_arg, br_arg) >=
		    (int)sizeof(cmd))
			return error_set(err, -EINVAL, "helper=%s: too long", helper);
		argv[0] = "/bin/sh";
		argv[1] = "-c";
		argv[2] = cmd;
		argv[3] = NULL;
	} else {
		argv[0] = (char *)helper;
		argv[1] = "--use-vnet";
		argv[2] = fd_arg;
		argv[3] = br_arg;
		argv[4] = NULL;
	}
	if (argv[0] == helper && access(helper, X_OK) < 0)
		return error_set(err, -errno, "helper=%s: %s", helper, strerror(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return error_set(err, -errno, "socketpair: %s", strerror(errno));
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		ret = error_set(err, -errno, "pipe: %s", strerror(errno));
		goto err_sock;
	}
	pid = fork();
	if (pid < 0) {
		ret = error_set(err, -errno, "could not run bridge helper %s: %s", helper,
				strerror(errno));
		goto err_pipe;
	}
	if (pid == 0)
		bridge_exec_helper(argv, sv[1], errpipe[1]);
	close(sv[1]);
	close(errpipe[1]);
	fd = bridge_recv_fd(sv[0]);
	bridge_read_stderr(errpipe[0], msg, sizeof(msg));
	close(sv[0]);
	close(errpipe[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	if (fd >= 0 && status == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	if (status == -1)
		return error_set(err, -ECHILD, "bridge helper %s: lost track of it", helper);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return error_set(err, -EIO, "bridge helper %s (br=%s) exited without sending a fd%s%s",
				 helper, br, msg[0] ? ": " : "", msg);
	if (WIFEXITED(status))
		return error_set(err, -EIO, "bridge helper %s (br=%s) failed with exit status %d%s%s",
				 helper, br, WEXITSTATUS(status), msg[0] ? ": " : "", msg);
	return error_set(err, -EIO, "bridge helper %s (br=%s) killed by signal %d%s%s", helper, br,
			 WTERMSIG(status), msg[0] ? ": " : "", msg);
err_pipe:
	close(errpipe[0]);
	close(errpipe[1]);
err_sock:
	close(sv[0]);
	close(sv[1]);
	return ret;
}

int net_init_bridge(const struct netdev_bridge_opts *o, const char *id, struct loop *loop,
		    struct error *err)
{
	const char *helper = o->helper ? o->helper : BRIDGE_DEFAULT_HELPER;
	const char *br = o->br ? o->br : BRIDGE_DEFAULT_BR;
	struct net_client *nc;
	int fd;

	fd = bridge_run_helper(helper, br, err);
	if (fd < 0)
		return fd;
	nc = tap_client_new_from_fd(loop, "bridge", id, fd, err);
	if (!nc)
		return err ? err->code : -EINVAL;
	snprintf(nc->info_str, sizeof(nc->info_str), "helper=%s,br=%s", helper, br);
	return 0;
}
