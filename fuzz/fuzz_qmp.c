// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_qmp.c - libFuzzer harness for the QMP server: the input is the byte stream a client
 * sends, written to a real socket in chunks whose sizes the first byte picks (so requests
 * split across reads and reads holding several requests are both exercised), with the
 * server on a real event loop. Replies are drained; the socket is then shut for writing and
 * the server must close the connection.
 *
 * Inputs that could name a command creating something (any "add", or a \u escape that could
 * spell one) are skipped: netdev_add run as root would make real taps and files.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "daemon/qmp.h"
#include "vwire/error.h"
#include "vwire/loop.h"

#define FUZZ_ROUNDS 2000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop *fuzz_loop;
static struct qmp_server *fuzz_srv;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct error err = { 0 };

	log_set_level(LOG_LEVEL_ERROR);
	fuzz_loop = loop_new();
	if (!fuzz_loop)
		abort();
	fuzz_srv = qmp_server_new(fuzz_loop, NULL, &err);
	if (!fuzz_srv)
		abort();
	return 0;
}

/* Read whatever the server sent; return false once it closed the connection. */
static bool fuzz_drain(int fd)
{
	char buf[65536];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk, off = 0;
	int sv[2], rounds;

	if (size < 1 || memmem(data, size, "add", 3) || memmem(data, size, "\\u", 2))
		return 0;
	chunk = (size_t)data[0] + 1;
	data++;
	size--;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (qmp_server_add_client(fuzz_srv, sv[0]) < 0)
		abort();
	for (rounds = 0; off < size && rounds < FUZZ_ROUNDS; rounds++) {
		size_t len = size - off < chunk ? size - off : chunk;
		ssize_t n = send(sv[1], data + off, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break; /* the server dropped us (too much unread output) */
		loop_run_once(fuzz_loop, 0);
		if (!fuzz_drain(sv[1]))
			break;
	}
	shutdown(sv[1], SHUT_WR);
	/* At end of input the server must close the connection. */
	for (rounds = 0; rounds < FUZZ_ROUNDS; rounds++) {
		loop_run_once(fuzz_loop, 1);
		if (!fuzz_drain(sv[1]))
			break;
	}
	if (rounds == FUZZ_ROUNDS)
		abort();
	close(sv[1]);
	return 0;
}
