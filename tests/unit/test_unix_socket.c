// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_unix_socket.c - the unix socket policy (core/unix-socket.c) on real files in a fresh
 * directory: a live socket refused, a stale one replaced, a regular file or a symlink never
 * replaced, only the socket we bound removed, and the checks of the private /tmp directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/unix-socket.h"
#include "vwire/error.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vwire-test-unix-socket.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/s.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A plain socket of @type bound at @path (and listening, for a stream one). */
static int bind_plain(const char *path, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 1), 0);
	return fd;
}

static ino_t inode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_ino;
}

static bool connects(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

static void test_fresh_path(void **state)
{
	struct fixture *f = *state;
	struct unix_socket_owned owned;
	struct error err = { 0 };
	int fd;

	fd = unix_socket_listen(f->path, SOCK_STREAM, 1, &owned, &err);
	assert_true(fd >= 0);
	assert_string_equal(owned.path, f->path);
	assert_int_equal(owned.ino, inode_of(f->path));
	assert_true(connects(f->path));
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	unix_socket_unlink_owned(&owned);
	assert_null(owned.path);
	assert_int_equal(access(f->path, F_OK), -1);
	unix_socket_unlink_owned(&owned); /* zeroed: nothing */
}

static void test_live_refused(void **state)
{
	struct fixture *f = *state;
	struct unix_socket_owned owned = { 0 };
	struct error err = { 0 };
	int other = bind_plain(f->path, SOCK_STREAM);
	ino_t ino = inode_of(f->path);

	assert_int_equal(unix_socket_listen(f->path, SOCK_STREAM, 1, &owned, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, f->path));
	assert_non_null(strstr(err.msg, "is in use by another process"));
	assert_null(owned.path);
	/* The first socket is untouched and still answers. */
	assert_int_equal(inode_of(f->path), ino);
	assert_true(connects(f->path));
	close(other);
}

static void test_live_other_type_refused(void **state)
{
	struct fixture *f = *state;
	struct unix_socket_owned owned = { 0 };
	struct error err = { 0 };
	int other = bind_plain(f->path, SOCK_DGRAM);

	/* A datagram socket bound there: a stream socket's probe gets EPROTOTYPE. */
	assert_int_equal(unix_socket_listen(f->path, SOCK_STREAM, 1, &owned, &err), -EADDRINUSE);
	assert_true(inode_of(f->path) > 0);
	close(other);
}

static void test_live_dgram_refused(void **state)
{
	struct fixture *f = *state;
	struct unix_socket_owned owned = { 0 };
	struct error err = { 0 };
	int other = bind_plain(f->path, SOCK_DGRAM);

	assert_int_equal(unix_socket_listen(f->path, SOCK_DGRAM, 0, &owned, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "is in use by another process"));
	close(other);
}

static void test_stale_replaced(void **state)
{
	struct fixture *f = *state;
	struct unix_socket_owned owned;
	struct error err = { 0 };
	int fd;

	close(bind_plain(f->path, SOCK_STREAM)); /* the file stays, connect says ECONNREFUSED */
	assert_false(connects(f->path));
	fd = unix_socket_listen(f->path, SOCK_STREAM, 1, &owned, &err);
	assert_true(fd >= 0);
	assert_int_equal(owned.ino, inode_of(f->path));
	assert_true(connects(f->path));
	close(fd);
	unix_socket_unlink_owned(&owned);
	assert_int_equal(access(f->path, F_OK), -1);
}

static void test_stale_dgram_replaced(void **state)
{
	struct fixture *f = *state;
	struct unix_socket_owned owned;
	struct error err = { 0 };
	int fd;

	close(bind_plain(f->path, SOCK_DGRAM));
	fd = unix_socket_listen(f->path, SOCK_DGRAM, 0, &owned, &err);
	assert_true(fd >= 0);
	close(fd);
	unix_socket_unlink_owned(&owned);
	assert_int_equal(access(f->path, F_OK), -1);
}

static void test_regular_file_refused(void **state)
{
	struct fixture *f = *state;
	struct unix_socket_owned owned = { 0 };
	struct error err = { 0 };
	int fd = open(f->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
	assert_int_equal(unix_socket_listen(f->path, SOCK_STREAM, 1, &owned, &err), -EEXIST);
	assert_non_null(strstr(err.msg, f->path));
	assert_non_null(strstr(err.msg, "not a socket"));
	assert_int_equal(access(f->path, R_OK), 0);
	/* And the same for a directory. */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_int_equal(unix_socket_listen(f->path, SOCK_DGRAM, 0, &owned, &err), -EEXIST);
	assert_int_equal(rmdir(f->path), 0);
}

static void test_symlink_refused(void **state)
{
	struct fixture *f = *state;
	struct unix_socket_owned owned = { 0 };
	struct error err = { 0 };
	char target[160];
	int fd;

	/* A symlink to a stale socket: neither followed nor removed. */
	snprintf(target, sizeof(target), "%s/target.sock", f->dir);
	close(bind_plain(target, SOCK_STREAM));
	assert_int_equal(symlink(target, f->path), 0);
	fd = unix_socket_listen(f->path, SOCK_STREAM, 1, &owned, &err);
	assert_int_equal(fd, -EEXIST);
	assert_int_equal(access(target, F_OK), 0);
	/* A dangling one too. */
	assert_int_equal(unlink(target), 0);
	assert_int_equal(unix_socket_listen(f->path, SOCK_STREAM, 1, &owned, &err), -EEXIST);
	assert_int_equal(access(target, F_OK), -1);
}

static void test_unlink_only_own_inode(void **state)
{
	struct fixture *f = *state;
	struct unix_socket_owned owned;
	struct error err = { 0 };
	char other_path[160];
	int fd, other;

	/*
	 * Someone puts their own socket at the path after our bind (made while ours exists, so
	 * that the file system cannot hand it our inode number, then renamed over ours).
	 */
	snprintf(other_path, sizeof(other_path), "%s/other.sock", f->dir);
	fd = unix_socket_listen(f->path, SOCK_STREAM, 1, &owned, &err);
	assert_true(fd >= 0);
	other = bind_plain(other_path, SOCK_STREAM);
	assert_int_equal(rename(other_path, f->path), 0);
	unix_socket_unlink_owned(&owned);
	assert_null(owned.path);
	assert_true(connects(f->path));
	close(other);
	close(fd);
	/* Or a regular file. */
	assert_int_equal(unlink(f->path), 0);
	fd = unix_socket_listen(f->path, SOCK_STREAM, 1, &owned, &err);
	assert_true(fd >= 0);
	close(open(other_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	assert_int_equal(rename(other_path, f->path), 0);
	unix_socket_unlink_owned(&owned);
	assert_int_equal(access(f->path, F_OK), 0);
	close(fd);
}

static void test_path_too_long(void **state)
{
	struct unix_socket_owned owned = { 0 };
	struct error err = { 0 };
	char path[200];

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(unix_socket_listen(path, SOCK_STREAM, 1, &owned, &err), -ENAMETOOLONG);
	assert_int_equal(unix_socket_listen("", SOCK_STREAM, 1, &owned, &err), -EINVAL);
}

static void test_private_dir(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	char dir[160], link[160];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/priv", f->dir);
	/* Made with 0700 whatever the umask. */
	umask(022);
	assert_int_equal(unix_socket_private_dir(dir, &err), 0);
	assert_int_equal(lstat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* Again: it exists and is fine. */
	assert_int_equal(unix_socket_private_dir(dir, &err), 0);
	/* Open to others: refused, left as it is. */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(unix_socket_private_dir(dir, &err), -EPERM);
	assert_non_null(strstr(err.msg, dir));
	assert_int_equal(chmod(dir, 0700), 0);
	/* A symlink to a fine directory: refused, not followed. */
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(symlink(dir, link), 0);
	assert_int_equal(unix_socket_private_dir(link, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "symbolic link"));
	/* A dangling symlink: refused, nothing made at its target. */
	assert_int_equal(unlink(link), 0);
	snprintf(dir, sizeof(dir), "%s/nowhere", f->dir);
	assert_int_equal(symlink(dir, link), 0);
	assert_int_equal(unix_socket_private_dir(link, &err), -ELOOP);
	assert_int_equal(access(dir, F_OK), -1);
	/* A file. */
	assert_int_equal(unix_socket_private_dir("/dev/null", &err), -ENOTDIR);
}

static void test_private_dir_other_owner(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	char dir[160];

	if (geteuid() != 0) {
		/* /tmp belongs to root. */
		assert_int_equal(unix_socket_private_dir("/tmp", &err), -EPERM);
		assert_non_null(strstr(err.msg, "belongs to uid 0"));
		return;
	}
	/* As root: a 0700 directory planted by another user. */
	snprintf(dir, sizeof(dir), "%s/planted", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chown(dir, 65534, 65534), 0);
	assert_int_equal(unix_socket_private_dir(dir, &err), -EPERM);
	assert_non_null(strstr(err.msg, "belongs to uid 65534"));
}

static void test_default_path(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	char buf[256], want[160];
	char *saved = getenv("XDG_RUNTIME_DIR") ? strdup(getenv("XDG_RUNTIME_DIR")) : NULL;

	assert_int_equal(setenv("XDG_RUNTIME_DIR", f->dir, 1), 0);
	assert_int_equal(unix_socket_default_path(buf, sizeof(buf), UNIX_SOCKET_DEFAULT_VHOST_USER, &err), 0);
	snprintf(want, sizeof(want), "%s/vwire.sock", f->dir);
	assert_string_equal(buf, want);
	assert_int_equal(unix_socket_default_path(buf, sizeof(buf), UNIX_SOCKET_DEFAULT_QMP, &err),
			 0);
	snprintf(want, sizeof(want), "%s/vwire.qmp", f->dir);
	assert_string_equal(buf, want);
	assert_int_equal(unix_socket_default_path(buf, 8, UNIX_SOCKET_DEFAULT_VHOST_USER, &err), -ENAMETOOLONG);
	if (saved)
		setenv("XDG_RUNTIME_DIR", saved, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_other_type_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_dgram_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_dgram_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regular_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_only_own_inode, setup, teardown),
		cmocka_unit_test(test_path_too_long),
		cmocka_unit_test_setup_teardown(test_private_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_dir_other_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
