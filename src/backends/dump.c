// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dump.c - packet capture to pcap files: the dump net client and the filter-dump object.
 *
 * A -netdev dump client sits on a hub port and writes every packet it receives to its file
 * (it sends nothing). A filter-dump is attached to every queue of a netdev and writes what
 * passes in the directions it watches, letting everything through. Both write one record per
 * packet with a single writev of the record header and the packet's own iovecs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/net.h"

/* Classic pcap: microsecond timestamps, written in host byte order (readers check the magic). */
#define DUMP_PCAP_MAGIC 0xa1b2c3d4u
#define DUMP_PCAP_VERSION_MAJOR 2
#define DUMP_PCAP_VERSION_MINOR 4
#define DUMP_LINKTYPE_ETHERNET 1

#define DUMP_DEFAULT_SNAPLEN 65536
/* Pieces of one record: its header and at most this many pieces of the packet. */
#define DUMP_MAX_IOV 1024
/* Most queues a filter-dump attaches to. */
#define DUMP_MAX_QUEUES 64

/**
 * struct dump_pcap_file_hdr - the pcap global header
 * @magic:		DUMP_PCAP_MAGIC
 * @version_major:	2
 * @version_minor:	4
 * @thiszone:		GMT offset of the timestamps (0)
 * @sigfigs:		timestamp accuracy (0)
 * @snaplen:		longest packet prefix stored
 * @linktype:		DUMP_LINKTYPE_ETHERNET
 */
struct dump_pcap_file_hdr {
	uint32_t magic;
	uint16_t version_major;
	uint16_t version_minor;
	int32_t thiszone;
	uint32_t sigfigs;
	uint32_t snaplen;
	uint32_t linktype;
};

/**
 * struct dump_pcap_rec_hdr - header of one pcap record
 * @ts_sec:	timestamp, seconds
 * @ts_usec:	timestamp, microseconds
 * @caplen:	bytes stored
 * @len:	length of the packet on the wire
 */
struct dump_pcap_rec_hdr {
	uint32_t ts_sec;
	uint32_t ts_usec;
	uint32_t caplen;
	uint32_t len;
};

/**
 * struct dump_writer - one open pcap file
 * @fd:		the file, or -1 once a write failed (dumping stopped)
 * @snaplen:	longest packet prefix stored
 * @offset:	bytes of complete records written so far
 * @path:	the file's name, for the log line
 */
struct dump_writer {
	int fd;
	uint32_t snaplen;
	off_t offset;
	char *path;
};

/**
 * dump_writer_open() - create (or truncate) @path and write the pcap global header
 * @w:		the writer to fill
 * @path:	file name
 * @snaplen:	longest packet prefix to store (1 .. INT_MAX)
 * @opt:	name of the option that gave @path, for the message
 * @err:	the error
 *
 * Return: 0 or a negative errno
 */
static int dump_writer_open(struct dump_writer *w, const char *path, uint32_t snaplen,
			    const char *opt, struct error *err)
{
	struct dump_pcap_file_hdr h = {
		.magic = DUMP_PCAP_MAGIC,
		.version_major = DUMP_PCAP_VERSION_MAJOR,
		.version_minor = DUMP_PCAP_VERSION_MINOR,
		.snaplen = snaplen,
		.linktype = DUMP_LINKTYPE_ETHERNET,
	};
	ssize_t n;
	int ret;

	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return error_set(err, -errno, "%s=%s: cannot open: %s", opt, path,
				 strerror(errno));
	do {
		n = write(w->fd, &h, sizeof(h));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(h)) {
		ret = n < 0 ? -errno : -ENOSPC;
		error_set(err, ret, "%s=%s: cannot write the pcap header: %s", opt, path,
			  strerror(-ret));
		goto err;
	}
	w->path = strdup(path);
	if (!w->path) {
		ret = error_set(err, -ENOMEM, "out of memory");
		goto err;
	}
	w->snaplen = snaplen;
	w->offset = (off_t)sizeof(h);
	return 0;
err:
	close(w->fd);
	w->fd = -1;
	return ret;
}

static void dump_writer_close(struct dump_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->path);
	w->path = NULL;
}

/*
 * Append one record. A failed or short write stops this writer for good, with one log line;
 * a short record is cut off so that the file stays readable up to the last whole packet.
 */
static void dump_writer_write(struct dump_writer *w, const char *who, const struct iovec *iov,
			      int iovcnt, unsigned int flags)
{
	struct iovec v[DUMP_MAX_IOV + 1];
	struct dump_pcap_rec_hdr rec;
	size_t skip = (flags & NET_FLAG_VNET_HDR) ? NET_VNET_HDR_LEN : 0;
	size_t size = net_iov_size(iov, iovcnt), want, left;
	struct timespec ts;
	ssize_t n;
	int cnt = 1;

	if (w->fd < 0 || size < skip)
		return;
	size -= skip;
	left = size < w->snaplen ? size : w->snaplen;
	for (int i = 0; i < iovcnt && left && cnt <= DUMP_MAX_IOV; i++) {
		size_t len = iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		len -= skip;
		if (len > left)
			len = left;
		v[cnt].iov_base = (uint8_t *)iov[i].iov_base + skip;
		v[cnt].iov_len = len;
		skip = 0;
		left -= len;
		cnt++;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	rec.ts_sec = (uint32_t)ts.tv_sec;
	rec.ts_usec = (uint32_t)(ts.tv_nsec / 1000);
	rec.len = (uint32_t)size;
	/* Whatever did not fit in v[] is left out of the capture, never out of bounds. */
	rec.caplen = (uint32_t)((size < w->snaplen ? size : w->snaplen) - left);
	v[0].iov_base = &rec;
	v[0].iov_len = sizeof(rec);
	want = sizeof(rec) + rec.caplen;
	do {
		n = writev(w->fd, v, cnt);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)want) {
		w->offset += (off_t)want;
		return;
	}
	log_warn("%s: writing %s failed (%s): dumping stopped", who, w->path,
		 n < 0 ? strerror(errno) : "short write");
	if (n > 0 && ftruncate(w->fd, w->offset) < 0)
		log_warn("%s: cannot cut the partial record off %s: %s", who, w->path,
			 strerror(errno));
	close(w->fd);
	w->fd = -1;
}

/* -netdev dump */

/**
 * struct dump_client - the dump net client
 * @nc:	its net client
 * @w:	its pcap file
 */
struct dump_client {
	struct net_client nc;
	struct dump_writer w;
};

static ssize_t dump_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
				unsigned int flags)
{
	struct dump_client *d = (struct dump_client *)nc;

	dump_writer_write(&d->w, nc->name, iov, iovcnt, flags);
	return (ssize_t)net_iov_size(iov, iovcnt);
}

/* Taking vnet headers keeps a hub passing GSO frames whole; the header is not dumped. */
static bool dump_accepts_vnet_hdr(struct net_client *nc)
{
	return true;
}

static void dump_cleanup(struct net_client *nc)
{
	dump_writer_close(&((struct dump_client *)nc)->w);
}

static const struct net_client_ops dump_ops = {
	.type = "dump",
	.size = sizeof(struct dump_client),
	.receive_iov = dump_receive_iov,
	.cleanup = dump_cleanup,
	.accepts_vnet_hdr = dump_accepts_vnet_hdr,
};

int net_init_dump(const struct netdev_dump_opts *o, const char *id, struct loop *loop,
		  struct error *err)
{
	struct dump_writer w = { .fd = -1 };
	struct dump_client *d;
	char defname[128];
	const char *file = o->file;
	int ret;

	if (o->len == 0 || o->len > INT_MAX)
		return error_set(err, -EINVAL, "len=%llu: must be 1 to %d",
				 (unsigned long long)o->len, INT_MAX);
	if (!file) {
		snprintf(defname, sizeof(defname), "vwire-%s.pcap", id);
		file = defname;
	}
	ret = dump_writer_open(&w, file, (uint32_t)o->len, "file", err);
	if (ret < 0)
		return ret;
	d = (struct dump_client *)net_client_new(&dump_ops, loop, NULL, NULL, id);
	if (!d) {
		ret = error_set(err, -errno, "cannot create netdev %s: %s", id, strerror(errno));
		dump_writer_close(&w);
		return ret;
	}
	d->w = w;
	d->nc.is_netdev = true;
	snprintf(d->nc.info_str, sizeof(d->nc.info_str), "dump to %s (len=%u)", file,
		 (unsigned int)o->len);
	return 0;
}

/* -object filter-dump */

struct dump_filter_group;

/**
 * struct dump_filter - filter-dump on one queue of a netdev
 * @f:		its filter
 * @group:	the filters of the same object, sharing one file
 */
struct dump_filter {
	struct net_filter f;
	struct dump_filter_group *group;
};

/**
 * struct dump_filter_group - one filter-dump object: a file and a filter per queue
 * @w:		the pcap file
 * @enabled:	status=on
 * @members:	the filters still attached
 * @n:		how many
 * @dying:	its filters are being removed
 */
struct dump_filter_group {
	struct dump_writer w;
	bool enabled;
	struct dump_filter *members[DUMP_MAX_QUEUES];
	unsigned int n;
	bool dying;
};

static bool dump_filter_receive_iov(struct net_filter *f, enum net_filter_dir dir,
				    const struct iovec *iov, int iovcnt, unsigned int flags)
{
	struct dump_filter_group *g = ((struct dump_filter *)f)->group;

	if (g->enabled)
		dump_writer_write(&g->w, f->name, iov, iovcnt, flags);
	return true;
}

/*
 * Removing one queue's filter removes the whole object (object_del finds one of them, and a
 * netdev going away takes all its queues): the first one removed detaches the others, and
 * closes the file once they are gone.
 */
static void dump_filter_cleanup(struct net_filter *f)
{
	struct dump_filter *df = (struct dump_filter *)f;
	struct dump_filter_group *g = df->group;

	for (unsigned int i = 0; i < g->n; i++) {
		if (g->members[i] == df) {
			g->members[i] = g->members[--g->n];
			break;
		}
	}
	if (g->dying)
		return;
	g->dying = true;
	while (g->n)
		net_filter_detach_free(&g->members[g->n - 1]->f);
	dump_writer_close(&g->w);
	free(g);
}

static const struct net_filter_ops dump_filter_ops = {
	.type = "filter-dump",
	.receive_iov = dump_filter_receive_iov,
	.cleanup = dump_filter_cleanup,
};

/* Where a new filter goes in a client's list (QEMU's position= and insert=). */
enum dump_position {
	DUMP_POS_TAIL,
	DUMP_POS_HEAD,
	DUMP_POS_ID,
};

static struct net_filter **dump_filter_link(struct net_client *nc, enum dump_position pos,
					    const char *ref, bool before)
{
	struct net_filter **pp = &nc->filters;

	if (pos == DUMP_POS_HEAD)
		return pp;
	for (; *pp; pp = &(*pp)->next) {
		if (pos == DUMP_POS_ID && (*pp)->name && !strcmp((*pp)->name, ref))
			return before ? pp : &(*pp)->next;
	}
	return pos == DUMP_POS_TAIL ? pp : NULL;
}

static int dump_filter_parse(const struct object_filter_dump_opts *o, unsigned int *dirs,
			     enum dump_position *pos, const char **ref, bool *before, bool *enabled,
			     struct error *err)
{
	if (!o->netdev)
		return error_set(err, -EINVAL, "Parameter 'netdev' is missing");
	if (!o->file)
		return error_set(err, -EINVAL, "Parameter 'file' is missing");
	if (o->maxlen == 0 || o->maxlen > INT_MAX)
		return error_set(err, -EINVAL, "maxlen=%llu: must be 1 to %d",
				 (unsigned long long)o->maxlen, INT_MAX);
	if (!o->queue || !strcmp(o->queue, "all"))
		*dirs = NET_FILTER_RX | NET_FILTER_TX;
	else if (!strcmp(o->queue, "rx"))
		*dirs = NET_FILTER_RX;
	else if (!strcmp(o->queue, "tx"))
		*dirs = NET_FILTER_TX;
	else
		return error_set(err, -EINVAL, "queue=%s: expected all, rx or tx", o->queue);
	if (!o->status || !strcmp(o->status, "on"))
		*enabled = true;
	else if (!strcmp(o->status, "off"))
		*enabled = false;
	else
		return error_set(err, -EINVAL, "status=%s: expected on or off", o->status);
	*ref = NULL;
	if (!o->position || !strcmp(o->position, "tail")) {
		*pos = DUMP_POS_TAIL;
	} else if (!strcmp(o->position, "head")) {
		*pos = DUMP_POS_HEAD;
	} else if (!strncmp(o->position, "id=", 3) && o->position[3]) {
		*pos = DUMP_POS_ID;
		*ref = o->position + 3;
	} else {
		return error_set(err, -EINVAL, "position=%s: expected head, tail or id=<id>",
				 o->position);
	}
	if (!o->insert || !strcmp(o->insert, "behind"))
		*before = false;
	else if (!strcmp(o->insert, "before"))
		*before = true;
	else
		return error_set(err, -EINVAL, "insert=%s: expected before or behind", o->insert);
	return 0;
}

int object_init_filter_dump(const struct object_filter_dump_opts *o, const char *id,
			    struct loop *loop, struct error *err)
{
	struct net_client *queues[DUMP_MAX_QUEUES];
	struct net_filter **links[DUMP_MAX_QUEUES];
	struct dump_filter_group *g;
	enum dump_position pos = DUMP_POS_TAIL;
	const char *ref = NULL;
	unsigned int dirs = 0, n;
	bool before = false, enabled = true;
	int ret;

	ret = dump_filter_parse(o, &dirs, &pos, &ref, &before, &enabled, err);
	if (ret < 0)
		return ret;
	n = net_find_queues(o->netdev, queues, DUMP_MAX_QUEUES);
	if (n == 0 || !queues[0]->is_netdev)
		return error_set(err, -ENOENT, "netdev=%s: no such network backend", o->netdev);
	if (n > DUMP_MAX_QUEUES)
		return error_set(err, -EOPNOTSUPP, "netdev=%s: more than %d queues", o->netdev,
				 DUMP_MAX_QUEUES);
	for (unsigned int i = 0; i < n; i++) {
		links[i] = dump_filter_link(queues[i], pos, ref, before);
		if (!links[i])
			return error_set(err, -EINVAL,
					 "position=%s: no filter '%s' on netdev %s",
					 o->position, ref, o->netdev);
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return error_set(err, -ENOMEM, "out of memory");
	g->enabled = enabled;
	ret = dump_writer_open(&g->w, o->file, (uint32_t)o->maxlen, "file", err);
	if (ret < 0)
		goto err;
	for (unsigned int i = 0; i < n; i++) {
		struct dump_filter *df = calloc(1, sizeof(*df));

		if (df)
			df->f.name = strdup(id);
		if (!df || !df->f.name) {
			free(df);
			ret = error_set(err, -ENOMEM, "out of memory");
			goto err;
		}
		df->f.ops = &dump_filter_ops;
		df->f.dirs = dirs;
		df->group = g;
		g->members[g->n++] = df;
	}
	/* Every allocation succeeded: link them all, in the place position= asked for. */
	for (unsigned int i = 0; i < n; i++) {
		struct net_filter *f = &g->members[i]->f;

		if (pos == DUMP_POS_TAIL) {
			net_filter_attach(queues[i], f);
			continue;
		}
		f->nc = queues[i];
		f->next = *links[i];
		*links[i] = f;
	}
	return 0;
err:
	for (unsigned int i = 0; i < g->n; i++) {
		free(g->members[i]->f.name);
		free(g->members[i]);
	}
	dump_writer_close(&g->w);
	free(g);
	return ret;
}
