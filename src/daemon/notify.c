// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * notify.c - readiness for a service manager: systemd's sd_notify protocol, spoken directly.
 *
 * When $NOTIFY_SOCKET names a unix datagram socket (a path, or '@' for an abstract name),
 * notify_open() connects to it before the sandbox and chroot would hide it, and unsets the
 * variable so that helpers vwire starts do not speak for it. notify_send() then writes one
 * datagram per state change: READY=1 once every socket exists, STOPPING=1 on the way out.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/notify.h"
#include "vwire/error.h"

static int notify_fd = -1;

int notify_open(struct error *err)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	socklen_t salen;
	int fd;

	if (!path || !path[0])
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
		error_set(err, -EINVAL, "NOTIFY_SOCKET=%s: not an absolute path or abstract name",
			  path);
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
			    (path[0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error_set(err, -errno, "NOTIFY_SOCKET: socket: %s", strerror(errno));
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
		int e = errno;

		close(fd);
		error_set(err, -e, "NOTIFY_SOCKET=%s: %s", path, strerror(e));
		return -e;
	}
	notify_fd = fd;
	unsetenv("NOTIFY_SOCKET");
	return 1;
}

int notify_send(const char *state)
{
	if (notify_fd < 0)
		return 0;
	if (send(notify_fd, state, strlen(state), MSG_NOSIGNAL) < 0)
		return -errno;
	return 1;
}

void notify_close(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
