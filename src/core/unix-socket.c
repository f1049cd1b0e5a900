// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * unix-socket.c - binding unix socket paths safely, for the vhost-user server, QMP and the
 * stream and dgram back ends alike: never take over a live socket, never unlink anything but a
 * stale socket before binding or the socket this process made when done, and a default socket
 * path in $XDG_RUNTIME_DIR or a private, checked directory under /tmp.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/unix-socket.h"
#include "vwire/error.h"

/* Binds tried when the path keeps being re-created by someone else between our look and bind. */
#define UNIX_SOCKET_BIND_TRIES 3

/*
 * Whether a process serves the socket at @sun: 1 yes, 0 no (stale, or gone), or a negative
 * errno when connect() cannot tell. A full backlog (EAGAIN) and a socket of the other type
 * (EPROTOTYPE) both mean that someone has it bound.
 */
static int unix_socket_probe(const struct sockaddr_un *sun, int type)
{
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ret, e;

	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	e = errno;
	close(fd);
	if (ret == 0)
		return 1;
	switch (e) {
	case ECONNREFUSED:
	case ENOENT:
		return 0;
	case EAGAIN:
	case EPROTOTYPE:
		return 1;
	default:
		return -e;
	}
}

/* Refuse what is at @path unless it is absent or a stale socket, which is then removed. */
static int unix_socket_clear(const char *path, const struct sockaddr_un *sun, int type,
			     struct error *err)
{
	struct stat st, again;
	int ret;

	if (lstat(path, &st) < 0)
		return 0; /* absent (or unreachable: bind() says why) */
	if (!S_ISSOCK(st.st_mode))
		return error_set(err, -EEXIST,
				 "%s exists and is not a socket: refusing to replace it", path);
	ret = unix_socket_probe(sun, type);
	if (ret > 0)
		return error_set(err, -EADDRINUSE, "%s is in use by another process", path);
	if (ret < 0)
		return error_set(err, ret, "cannot tell whether %s is in use: %s", path,
				 strerror(-ret));
	/* Stale: remove it, if it is still the file just probed. */
	if (lstat(path, &again) < 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino)
		return 0;
	if (unlink(path) < 0 && errno != ENOENT)
		return error_set(err, -errno, "cannot remove the stale socket %s: %s", path,
				 strerror(errno));
	return 0;
}

int unix_socket_listen(const char *path, int type, int backlog, struct unix_socket_owned *owned,
		       struct error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	memset(owned, 0, sizeof(*owned));
	if (!*path)
		return error_set(err, -EINVAL, "an empty unix socket path");
	if (strlen(path) >= sizeof(sun.sun_path))
		return error_set(err, -ENAMETOOLONG, "%s: socket path too long (at most %zu bytes)",
				 path, sizeof(sun.sun_path) - 1);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, -errno, "%s: cannot create a socket: %s", path,
				 strerror(errno));
	for (int i = 0;; i++) {
		ret = unix_socket_clear(path, &sun, type, err);
		if (ret < 0)
			goto fail;
		if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		ret = -errno;
		/* EADDRINUSE: the path was made again since; look at it again. */
		if (ret != -EADDRINUSE || i + 1 == UNIX_SOCKET_BIND_TRIES) {
			error_set(err, ret, "cannot bind %s: %s", path, strerror(-ret));
			goto fail;
		}
	}
	if (lstat(path, &st) < 0) {
		ret = error_set(err, -errno, "%s vanished after bind: %s", path, strerror(errno));
		goto fail;
	}
	owned->path = strdup(path);
	owned->dev = st.st_dev;
	owned->ino = st.st_ino;
	if (!owned->path) {
		unlink(path);
		ret = error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (type == SOCK_STREAM && listen(fd, backlog) < 0) {
		ret = error_set(err, -errno, "cannot listen on %s: %s", path, strerror(errno));
		unix_socket_unlink_owned(owned);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

void unix_socket_unlink_owned(struct unix_socket_owned *owned)
{
	struct stat st;

	if (!owned->path)
		return;
	if (lstat(owned->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == owned->dev &&
	    st.st_ino == owned->ino)
		unlink(owned->path);
	free(owned->path);
	memset(owned, 0, sizeof(*owned));
}

int unix_socket_private_dir(const char *dir, struct error *err)
{
	uid_t uid = geteuid();
	struct stat st;

	if (mkdir(dir, 0700) == 0 && chmod(dir, 0700) < 0) /* 0700 whatever the umask */
		return error_set(err, -errno, "cannot set the mode of %s: %s", dir,
				 strerror(errno));
	if (lstat(dir, &st) < 0)
		return error_set(err, -errno, "cannot create %s: %s", dir, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return error_set(err, -ELOOP, "%s is a symbolic link: refusing to use it", dir);
	if (!S_ISDIR(st.st_mode))
		return error_set(err, -ENOTDIR, "%s is not a directory: refusing to use it", dir);
	if (st.st_uid != uid)
		return error_set(err, -EPERM,
				 "%s belongs to uid %u, not to uid %u: refusing to use it", dir,
				 (unsigned int)st.st_uid, (unsigned int)uid);
	if (st.st_mode & 077)
		return error_set(err, -EPERM, "%s is open to other users (mode %04o): refusing it",
				 dir, (unsigned int)(st.st_mode & 07777));
	return 0;
}

int unix_socket_default_path(char *buf, size_t size, const char *file, struct error *err)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char dir[64];
	int n, ret;

	if (xdg && xdg[0] == '/') {
		n = snprintf(buf, size, "%s/%s", xdg, file);
	} else {
		snprintf(dir, sizeof(dir), "/tmp/vwire-%u", (unsigned int)geteuid());
		ret = unix_socket_private_dir(dir, err);
		if (ret < 0)
			return ret;
		n = snprintf(buf, size, "%s/%s", dir, file);
	}
	if (n < 0 || (size_t)n >= size)
		return error_set(err, -ENAMETOOLONG, "the default socket path is too long");
	return 0;
}

int unix_socket_take_fds(struct msghdr *mh, int *fds, unsigned int *nfds, unsigned int max)
{
	bool too_many = mh->msg_flags & MSG_CTRUNC;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < max) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				too_many = true;
			}
		}
	}
	return too_many ? -EMSGSIZE : 0;
}
