// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tap-linux.c - the Linux part of the tap back end: open /dev/net/tun as a tap (with a vnet
 * header and multiqueue when asked), recognise an inherited tap fd, and set its send buffer,
 * vnet header length and offloads. No packet passes here; tap.c drives the fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backends/tap.h"
#include "vwire/error.h"

#define TAP_LINUX_DEV "/dev/net/tun"

int tap_linux_open(char *ifname, bool *vnet_hdr, bool vnet_hdr_required, bool multi_queue,
		   struct error *err)
{
	struct ifreq ifr;
	unsigned int features = 0;
	int fd, ret;

	fd = open(TAP_LINUX_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, -errno, "could not open %s: %s", TAP_LINUX_DEV,
				 strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	/* Old kernels lack TUNGETFEATURES: then they have no vnet header either. */
	if (ioctl(fd, TUNGETFEATURES, &features) < 0)
		features = 0;
	if (*vnet_hdr) {
		if (features & IFF_VNET_HDR)
			ifr.ifr_flags |= IFF_VNET_HDR;
		else
			*vnet_hdr = false;
	}
	if (vnet_hdr_required && !*vnet_hdr) {
		ret = error_set(err, -EINVAL,
				"vnet_hdr=on requested, but no kernel support for IFF_VNET_HDR "
				"available");
		goto err;
	}
	if (multi_queue) {
		if (!(features & IFF_MULTI_QUEUE)) {
			ret = error_set(err, -EINVAL,
					"multiqueue required, but no kernel support for "
					"IFF_MULTI_QUEUE available");
			goto err;
		}
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	}
	if (ifname[0])
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	else
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tap%%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		if (ifname[0])
			error_set(err, ret, "could not configure %s (%s): %s", TAP_LINUX_DEV,
				  ifname, strerror(-ret));
		else
			error_set(err, ret, "could not configure %s: %s", TAP_LINUX_DEV,
				  strerror(-ret));
		goto err;
	}
	snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		ret = error_set(err, -errno, "%s: cannot make it non-blocking: %s", ifname,
				strerror(errno));
		goto err;
	}
	return fd;
err:
	close(fd);
	return ret;
}

int tap_linux_check_fd(int fd, char *ifname, bool *vnet_hdr)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return -errno;
	if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TAP)
		return -EINVAL;
	snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	*vnet_hdr = !!(ifr.ifr_flags & IFF_VNET_HDR);
	return 0;
}

int tap_linux_set_sndbuf(int fd, uint64_t sndbuf)
{
	int v = sndbuf > INT_MAX ? INT_MAX : (int)sndbuf;

	if (ioctl(fd, TUNSETSNDBUF, &v) < 0)
		return -errno;
	return 0;
}

int tap_linux_set_vnet_hdr_len(int fd, int len)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	/* virtio 1.x headers are little-endian whatever the host. */
	int le = 1;

	if (ioctl(fd, TUNSETVNETLE, &le) < 0)
		return -errno;
#endif
	if (ioctl(fd, TUNSETVNETHDRSZ, &len) < 0)
		return -errno;
	return 0;
}

int tap_linux_set_offload(int fd, unsigned int flags)
{
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0)
		return -errno;
	return 0;
}
