// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_dump.c - pcap files written by a dump port on a hub and by filter-dump on a client
 * pair, read back byte by byte: global header, records, truncation at the snap length, vnet
 * headers left out, filter directions and placement, removal, and the errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define PCAP_HDR_LEN 24
#define PCAP_REC_LEN 16

struct fake {
	struct net_client nc;
	bool vnet;
	unsigned int got;
};

static ssize_t fake_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			    unsigned int flags)
{
	((struct fake *)nc)->got++;
	return (ssize_t)net_iov_size(iov, iovcnt);
}

static bool fake_accepts_vnet_hdr(struct net_client *nc)
{
	return ((struct fake *)nc)->vnet;
}

static const struct net_client_ops fake_ops = {
	.type = "fake",
	.size = sizeof(struct fake),
	.receive_iov = fake_receive,
	.accepts_vnet_hdr = fake_accepts_vnet_hdr,
};

static struct loop *loop;
static char dir[64];
static char path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vwire-test-dump.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.pcap", dir);
	loop = loop_new();
	assert_non_null(loop);
	return 0;
}

static int teardown(void **state)
{
	net_client_free_all();
	assert_null(net_first());
	loop_free(loop);
	unlink(path);
	rmdir(dir);
	return 0;
}

static struct fake *fake_new(const char *name, struct net_client *peer)
{
	struct fake *f = (struct fake *)net_client_new(&fake_ops, loop, peer, NULL, name);

	assert_non_null(f);
	return f;
}

/* The whole file, in a malloc'd buffer. */
static uint8_t *slurp(const char *p, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static uint32_t u32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t u16_at(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static void check_global_header(const uint8_t *f, size_t len, uint32_t snaplen)
{
	assert_true(len >= PCAP_HDR_LEN);
	assert_int_equal(u32_at(f), 0xa1b2c3d4u);
	assert_int_equal(u16_at(f + 4), 2);
	assert_int_equal(u16_at(f + 6), 4);
	assert_int_equal(u32_at(f + 8), 0);
	assert_int_equal(u32_at(f + 12), 0);
	assert_int_equal(u32_at(f + 16), snaplen);
	assert_int_equal(u32_at(f + 20), 1);
}

/*
 * The time in seconds by the clock the dump writes with. Not time(NULL): glibc's reads the
 * coarse clock, which can still show the last second when CLOCK_REALTIME has passed it, so a
 * record stamped just after a second boundary looked as if it came from the future.
 */
static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* Check the record at *off: its lengths, timestamp and bytes; advance *off past it. */
static void check_record(const uint8_t *f, size_t flen, size_t *off, const uint8_t *pkt,
			 uint32_t len, uint32_t caplen, time_t t0)
{
	const uint8_t *r = f + *off;

	assert_true(*off + PCAP_REC_LEN + caplen <= flen);
	assert_true(u32_at(r) >= (uint32_t)t0 && u32_at(r) <= (uint32_t)now_s());
	assert_true(u32_at(r + 4) < 1000000);
	assert_int_equal(u32_at(r + 8), caplen);
	assert_int_equal(u32_at(r + 12), len);
	assert_memory_equal(r + PCAP_REC_LEN, pkt, caplen);
	*off += PCAP_REC_LEN + caplen;
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void send_buf(struct net_client *from, const uint8_t *p, size_t len, unsigned int flags)
{
	/* Two pieces, so that the writer's own iovec walk is exercised. */
	struct iovec iov[2] = { { (void *)p, len / 3 }, { (void *)(p + len / 3), len - len / 3 } };

	assert_int_equal(net_send_iov(from, iov, 2, flags, NULL), (ssize_t)len);
}

static void test_dump_port_on_hub(void **state)
{
	char opt[256];
	struct error err = { 0 };
	uint8_t small[60], big[200], vnet[12 + 90];
	struct fake *src;
	time_t t0 = now_s();
	size_t flen, off = PCAP_HDR_LEN;
	uint8_t *f;

	snprintf(opt, sizeof(opt), "dump,id=d0,file=%s,len=100", path);
	assert_int_equal(netdev_add(loop, opt, &err), 0);
	assert_int_equal(netdev_add(loop, "hubport,id=hp0,hubid=0,netdev=d0", &err), 0);
	src = fake_new("src", NULL);
	src->vnet = true;
	assert_int_equal(netdev_add(loop, "hubport,id=hp1,hubid=0,netdev=src", &err), 0);
	assert_true(net_find("d0")->is_netdev);

	fill(small, sizeof(small), 1);
	fill(big, sizeof(big), 2);
	fill(vnet, sizeof(vnet), 3);
	memset(vnet, 0, 12); /* no offloads asked */
	send_buf(&src->nc, small, sizeof(small), 0);
	send_buf(&src->nc, big, sizeof(big), 0);
	/* The dump port takes vnet headers, so the hub passes this whole; the file must not. */
	assert_true(net_peer_accepts_vnet_hdr(&src->nc));
	send_buf(&src->nc, vnet, sizeof(vnet), NET_FLAG_VNET_HDR);
	assert_int_equal(src->got, 0); /* the dump sends nothing back */

	assert_int_equal(netdev_del("d0", &err), 0);
	f = slurp(path, &flen);
	check_global_header(f, flen, 100);
	check_record(f, flen, &off, small, 60, 60, t0);
	check_record(f, flen, &off, big, 200, 100, t0);
	check_record(f, flen, &off, vnet + 12, 90, 90, t0);
	assert_int_equal(off, flen);
	free(f);
}

static void test_dump_default_len(void **state)
{
	char opt[256];
	struct error err = { 0 };
	static uint8_t pkt[70000];
	size_t flen, off = PCAP_HDR_LEN;
	struct fake *src;
	uint8_t *f;

	snprintf(opt, sizeof(opt), "dump,id=d0,file=%s", path);
	assert_int_equal(netdev_add(loop, opt, &err), 0);
	src = fake_new("src", net_find("d0"));
	fill(pkt, sizeof(pkt), 9);
	send_buf(&src->nc, pkt, sizeof(pkt), 0);
	net_client_free(net_find("d0"));
	f = slurp(path, &flen);
	check_global_header(f, flen, 65536);
	check_record(f, flen, &off, pkt, sizeof(pkt), 65536, 0);
	assert_int_equal(off, flen);
	free(f);
}

static void test_filter_dump_both_ways(void **state)
{
	char opt[256];
	struct error err = { 0 };
	uint8_t out[80], in[64], vnet[12 + 70], late[60];
	struct fake *a, *b;
	time_t t0 = now_s();
	size_t flen, off = PCAP_HDR_LEN;
	uint8_t *f;

	a = fake_new("a", NULL);
	a->nc.is_netdev = true;
	b = fake_new("b", &a->nc);
	b->vnet = true;
	snprintf(opt, sizeof(opt), "filter-dump,id=f0,netdev=a,file=%s,maxlen=64", path);
	assert_int_equal(object_add(loop, opt, &err), 0);
	assert_non_null(net_filter_find("f0"));
	assert_ptr_equal(net_filter_find("f0")->nc, &a->nc);

	fill(out, sizeof(out), 4);
	fill(in, sizeof(in), 5);
	fill(vnet, sizeof(vnet), 6);
	memset(vnet, 0, 12);
	send_buf(&a->nc, out, sizeof(out), 0);		    /* tx of a */
	send_buf(&b->nc, in, sizeof(in), 0);		    /* rx of a */
	send_buf(&a->nc, vnet, sizeof(vnet), NET_FLAG_VNET_HDR); /* tx, header seen by filter */
	assert_int_equal(a->got, 1);
	assert_int_equal(b->got, 2); /* the filter lets everything pass */

	assert_int_equal(object_del("f0", &err), 0);
	assert_null(net_filter_find("f0"));
	assert_null(a->nc.filters);
	fill(late, sizeof(late), 7);
	send_buf(&a->nc, late, sizeof(late), 0);

	f = slurp(path, &flen);
	check_global_header(f, flen, 64);
	check_record(f, flen, &off, out, 80, 64, t0);
	check_record(f, flen, &off, in, 64, 64, t0);
	check_record(f, flen, &off, vnet + 12, 70, 64, t0);
	assert_int_equal(off, flen);
	free(f);
	assert_int_equal(object_del("f0", &err), -ENOENT);
}

static void test_filter_dump_queue_and_status(void **state)
{
	char opt[256];
	struct error err = { 0 };
	uint8_t out[60], in[61];
	struct fake *a, *b;
	size_t flen, off = PCAP_HDR_LEN;
	uint8_t *f;

	a = fake_new("a", NULL);
	a->nc.is_netdev = true;
	b = fake_new("b", &a->nc);
	snprintf(opt, sizeof(opt), "filter-dump,id=f0,netdev=a,file=%s,queue=rx", path);
	assert_int_equal(object_add(loop, opt, &err), 0);
	snprintf(opt, sizeof(opt), "filter-dump,id=f1,netdev=a,file=%s/off.pcap,status=off", dir);
	assert_int_equal(object_add(loop, opt, &err), 0);
	fill(out, sizeof(out), 8);
	fill(in, sizeof(in), 9);
	send_buf(&a->nc, out, sizeof(out), 0);
	send_buf(&b->nc, in, sizeof(in), 0);
	net_client_free(&a->nc); /* the filters go with their netdev */
	assert_null(net_filter_find("f0"));
	assert_null(net_filter_find("f1"));

	f = slurp(path, &flen);
	check_global_header(f, flen, 65536);
	check_record(f, flen, &off, in, sizeof(in), sizeof(in), 0);
	assert_int_equal(off, flen);
	free(f);
	snprintf(opt, sizeof(opt), "%s/off.pcap", dir);
	f = slurp(opt, &flen);
	assert_int_equal(flen, PCAP_HDR_LEN);
	free(f);
	unlink(opt);
}

static void test_filter_dump_multiqueue(void **state)
{
	char opt[256];
	struct error err = { 0 };
	uint8_t p0[60], p1[62];
	struct net_client *q1;
	struct fake *a, *b0, *b1;
	size_t flen, off = PCAP_HDR_LEN;
	uint8_t *f;

	a = fake_new("a", NULL);
	a->nc.is_netdev = true;
	q1 = net_client_new_queue(&a->nc, 1);
	assert_non_null(q1);
	b0 = fake_new("b0", &a->nc);
	b1 = fake_new("b1", NULL);
	assert_int_equal(net_peer(q1, &b1->nc), 0);
	snprintf(opt, sizeof(opt), "filter-dump,id=f0,netdev=a,file=%s", path);
	assert_int_equal(object_add(loop, opt, &err), 0);
	assert_non_null(a->nc.filters);
	assert_non_null(q1->filters);
	fill(p0, sizeof(p0), 10);
	fill(p1, sizeof(p1), 11);
	send_buf(&b0->nc, p0, sizeof(p0), 0);
	send_buf(q1, p1, sizeof(p1), 0);
	/* One object: removing it removes every queue's filter and closes the file once. */
	assert_int_equal(object_del("f0", &err), 0);
	assert_null(a->nc.filters);
	assert_null(q1->filters);
	f = slurp(path, &flen);
	check_record(f, flen, &off, p0, sizeof(p0), sizeof(p0), 0);
	check_record(f, flen, &off, p1, sizeof(p1), sizeof(p1), 0);
	assert_int_equal(off, flen);
	free(f);

	/* Again, and this time the netdev's queues go first, last queue first. */
	assert_int_equal(object_add(loop, opt, &err), 0);
	net_client_free(q1);
	assert_null(a->nc.filters);
	assert_null(net_filter_find("f0"));
}

static void test_filter_dump_position(void **state)
{
	char opt[256];
	struct error err = { 0 };
	struct fake *a;
	struct net_filter *nf;

	a = fake_new("a", NULL);
	a->nc.is_netdev = true;
	snprintf(opt, sizeof(opt), "filter-dump,id=f1,netdev=a,file=%s/1.pcap", dir);
	assert_int_equal(object_add(loop, opt, &err), 0);
	snprintf(opt, sizeof(opt), "filter-dump,id=f2,netdev=a,file=%s/2.pcap,position=head",
		 dir);
	assert_int_equal(object_add(loop, opt, &err), 0);
	snprintf(opt, sizeof(opt),
		 "filter-dump,id=f3,netdev=a,file=%s/3.pcap,position=id=f1,insert=before", dir);
	assert_int_equal(object_add(loop, opt, &err), 0);
	snprintf(opt, sizeof(opt), "filter-dump,id=f4,netdev=a,file=%s/4.pcap,position=id=f2",
		 dir);
	assert_int_equal(object_add(loop, opt, &err), 0);
	nf = a->nc.filters;
	assert_string_equal(nf->name, "f2");
	assert_string_equal(nf->next->name, "f4");
	assert_string_equal(nf->next->next->name, "f3");
	assert_string_equal(nf->next->next->next->name, "f1");
	assert_null(nf->next->next->next->next);
	snprintf(opt, sizeof(opt), "filter-dump,id=f5,netdev=a,file=%s/5.pcap,position=id=zz",
		 dir);
	assert_int_equal(object_add(loop, opt, &err), -EINVAL);
	assert_string_equal(err.msg, "position=id=zz: no filter 'zz' on netdev a");
	snprintf(opt, sizeof(opt), "filter-dump,id=f5,netdev=a,file=%s/5.pcap,position=x", dir);
	assert_int_equal(object_add(loop, opt, &err), -EINVAL);
	assert_string_equal(err.msg, "position=x: expected head, tail or id=<id>");
	snprintf(opt, sizeof(opt), "filter-dump,id=f5,netdev=a,file=%s/5.pcap,insert=after", dir);
	assert_int_equal(object_add(loop, opt, &err), -EINVAL);
	assert_string_equal(err.msg, "insert=after: expected before or behind");
	assert_int_equal(access(opt, F_OK), -1); /* nothing created on failure */
	snprintf(opt, sizeof(opt), "filter-dump,id=f1,netdev=a,file=%s/5.pcap", dir);
	assert_int_equal(object_add(loop, opt, &err), -EEXIST);
	for (int i = 1; i <= 4; i++) {
		snprintf(opt, sizeof(opt), "f%d", i);
		assert_int_equal(object_del(opt, &err), 0);
		snprintf(opt, sizeof(opt), "%s/%d.pcap", dir, i);
		assert_int_equal(unlink(opt), 0);
	}
	assert_null(a->nc.filters);
}

static void test_errors(void **state)
{
	struct error err = { 0 };
	struct fake *a, *nic;

	assert_int_equal(netdev_add(loop, "dump,id=d1,file=/nonexistent/x.pcap", &err), -ENOENT);
	assert_string_equal(err.msg,
			    "file=/nonexistent/x.pcap: cannot open: No such file or directory");
	assert_null(net_find("d1"));
	assert_int_equal(netdev_add(loop, "dump,id=d1,file=/tmp/x.pcap,len=0", &err), -EINVAL);
	assert_int_equal(netdev_add(loop, "dump,id=d1,file=/tmp/x.pcap,bogus=1", &err), -EINVAL);

	a = fake_new("a", NULL);
	a->nc.is_netdev = true;
	nic = fake_new("nic", NULL);
	assert_false(nic->nc.is_netdev);
	assert_int_equal(object_add(loop, "filter-dump,id=f0,netdev=a,file=/nonexistent/x.pcap",
				    &err),
			 -ENOENT);
	assert_string_equal(err.msg,
			    "file=/nonexistent/x.pcap: cannot open: No such file or directory");
	assert_null(net_filter_find("f0"));
	assert_null(a->nc.filters);
	assert_int_equal(object_add(loop, "filter-dump,id=f0,netdev=zz,file=/tmp/x", &err),
			 -ENOENT);
	assert_string_equal(err.msg, "netdev=zz: no such network backend");
	assert_int_equal(object_add(loop, "filter-dump,id=f0,netdev=nic,file=/tmp/x", &err),
			 -ENOENT);
	assert_int_equal(object_add(loop, "filter-dump,id=f0,netdev=a", &err), -EINVAL);
	assert_string_equal(err.msg, "Parameter 'file' is missing");
	assert_int_equal(object_add(loop, "filter-dump,id=f0,file=/tmp/x", &err), -EINVAL);
	assert_string_equal(err.msg, "Parameter 'netdev' is missing");
	assert_int_equal(object_add(loop, "filter-dump,id=f0,netdev=a,file=/tmp/x,queue=both",
				    &err),
			 -EINVAL);
	assert_string_equal(err.msg, "queue=both: expected all, rx or tx");
	assert_int_equal(object_add(loop, "filter-dump,id=f0,netdev=a,file=/tmp/x,status=1",
				    &err),
			 -EINVAL);
	assert_string_equal(err.msg, "status=1: expected on or off");
	assert_int_equal(object_add(loop, "filter-dump,id=f0,netdev=a,file=/tmp/x,maxlen=0",
				    &err),
			 -EINVAL);
	assert_null(a->nc.filters);
}

/* A write that fails stops the dump with one log line; the file keeps its whole records. */
static void test_write_error_stops_dump(void **state)
{
	char opt[256], logbuf[1024] = { 0 };
	struct error err = { 0 };
	struct rlimit old, lim;
	uint8_t small[60], big[1000];
	struct fake *src;
	size_t flen, off = PCAP_HDR_LEN;
	FILE *log = tmpfile();
	uint8_t *f;

	assert_non_null(log);
	log_set_file(log);
	signal(SIGXFSZ, SIG_IGN);
	snprintf(opt, sizeof(opt), "dump,id=d0,file=%s", path);
	assert_int_equal(netdev_add(loop, opt, &err), 0);
	src = fake_new("src", net_find("d0"));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 500;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	fill(small, sizeof(small), 12);
	fill(big, sizeof(big), 13);
	send_buf(&src->nc, small, sizeof(small), 0); /* fits */
	send_buf(&src->nc, big, sizeof(big), 0);     /* cut short at 500 bytes: fails */
	send_buf(&src->nc, small, sizeof(small), 0); /* dumping stopped */
	send_buf(&src->nc, big, sizeof(big), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	send_buf(&src->nc, small, sizeof(small), 0); /* still stopped */
	net_client_free(net_find("d0"));
	log_set_file(stderr);
	rewind(log);
	assert_true(fread(logbuf, 1, sizeof(logbuf) - 1, log) > 0);
	fclose(log);
	assert_non_null(strstr(logbuf, "dumping stopped"));
	assert_null(strchr(strchr(logbuf, '\n') + 1, '\n')); /* one line */

	f = slurp(path, &flen);
	check_global_header(f, flen, 65536);
	check_record(f, flen, &off, small, 60, 60, 0);
	assert_int_equal(off, flen);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dump_port_on_hub, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_default_len, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_dump_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_dump_queue_and_status, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_filter_dump_multiqueue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_dump_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error_stops_dump, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
