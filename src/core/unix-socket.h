/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * unix-socket.h - the one policy for every unix socket path vwire listens on: a live socket is
 * someone else's and refused, a stale one is replaced, any other file is left alone, and only
 * the socket this process bound (same device and inode) is removed at the end.
 */
#ifndef VWIRE_CORE_UNIX_SOCKET_H
#define VWIRE_CORE_UNIX_SOCKET_H

#include <stddef.h>
#include <sys/types.h>

struct msghdr;

struct error;

/**
 * struct unix_socket_owned - a socket file this process bound, to remove only while it is ours
 * @path:	its path (allocated), or NULL: nothing owned
 * @dev:	the device of the file right after bind()
 * @ino:	its inode
 */
struct unix_socket_owned {
	char *path;
	dev_t dev;
	ino_t ino;
};

/**
 * unix_socket_listen() - bind a unix socket on @path under the policy, and listen on it
 * @path:	the socket file's path (not an abstract name)
 * @type:	SOCK_STREAM (bound and listening) or SOCK_DGRAM (bound only)
 * @backlog:	listen() backlog for SOCK_STREAM
 * @owned:	filled with the identity of the bound file (free it with unix_socket_unlink_owned)
 * @err:	what is wrong: names @path ("... is in use by another process", "... exists and is
 *		not a socket", a path too long, a bind error)
 *
 * A path whose socket answers connect() (or whose listener's backlog is full, or that is bound
 * by a socket of another type) belongs to a running process and is refused. A socket file
 * nobody listens on (connect says ECONNREFUSED) is unlinked and bound again. A path that exists
 * and is not a socket (a regular file, a directory, a symlink) is refused: it is never unlinked.
 * Nothing is left behind on failure.
 *
 * Return: the socket (non-blocking, close-on-exec) or a negative errno (-EADDRINUSE for a live
 * socket, -EEXIST for a file of another kind)
 */
int unix_socket_listen(const char *path, int type, int backlog, struct unix_socket_owned *owned,
		       struct error *err);

/**
 * unix_socket_unlink_owned() - remove the socket file bound by unix_socket_listen(), if the path
 *				still names it; forget it either way
 * @owned:	what unix_socket_listen() recorded; a zeroed one is ignored
 *
 * A file another process put at the path since (its own socket after ours was removed, say)
 * has another inode and is left alone.
 */
void unix_socket_unlink_owned(struct unix_socket_owned *owned);

/* File names of the default sockets, in the directory unix_socket_default_path() picks. */
#define UNIX_SOCKET_DEFAULT_VHOST_USER "vwire.sock"
#define UNIX_SOCKET_DEFAULT_QMP "vwire.qmp"

/**
 * unix_socket_private_dir() - make sure @dir is a directory only the current user can use
 * @dir:	the path; created with mode 0700 if missing
 * @err:	what is wrong (a symlink, another owner, a mode open to others, not a directory)
 *
 * Used for the /tmp fallback of the default socket, where any user could have planted a file
 * or a symlink before us: the directory is checked with lstat() and never followed.
 *
 * Return: 0 or a negative errno
 */
int unix_socket_private_dir(const char *dir, struct error *err);

/**
 * unix_socket_default_path() - the path of a default socket (UNIX_SOCKET_DEFAULT_VHOST_USER,
 *				UNIX_SOCKET_DEFAULT_QMP)
 * @buf:	where to write it
 * @size:	its size
 * @file:	the socket's file name
 * @err:	what is wrong with the /tmp fallback, or a path too long
 *
 * $XDG_RUNTIME_DIR/FILE when XDG_RUNTIME_DIR names an absolute path (a per-user directory by
 * definition), else /tmp/vwire-UID/FILE in a private directory made and checked by
 * unix_socket_private_dir(). vwirectl looks for the QMP socket in the same places.
 *
 * Return: 0 or a negative errno
 */
int unix_socket_default_path(char *buf, size_t size, const char *file, struct error *err);

/**
 * unix_socket_take_fds() - keep the fds that came as SCM_RIGHTS with a recvmsg()
 * @mh:		the received message header
 * @fds:	where they go, after the *@nfds already there
 * @nfds:	in/out: how many @fds holds
 * @max:	room in @fds; fds beyond it are closed
 *
 * Return: 0, or -EMSGSIZE when fds were closed for want of room or the kernel truncated the
 *	   control data (more fds than the buffer had room for)
 */
int unix_socket_take_fds(struct msghdr *mh, int *fds, unsigned int *nfds, unsigned int max);

#endif
