// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sandbox.c - the daemon's sandbox options: -sandbox in QEMU's syntax, -runas USER,
 * USER:GROUP and UID:GID, -chroot, and which configurations may lose the file system.
 * Nothing here applies the sandbox: that is tests/e2e/sandbox.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/sandbox.h"

static void test_filter_defaults(void **state)
{
	struct sandbox_config sb;

	(void)state;
	sandbox_config_init(&sb);
	/* On by default; QEMU's defaults for each group. */
	assert_true(sb.filter.on);
	assert_false(sb.filter.obsolete);
	assert_true(sb.filter.elevate);
	assert_true(sb.filter.spawn);
	assert_true(sb.filter.resourcecontrol);
	assert_false(sb.runas);
	assert_null(sb.chroot_dir);
	assert_true(sandbox_is_option("-sandbox"));
	assert_true(sandbox_is_option("-runas"));
	assert_true(sandbox_is_option("-chroot"));
	assert_false(sandbox_is_option("-netdev"));
	sandbox_config_free(&sb);
}

static void test_filter_options(void **state)
{
	struct sandbox_config sb;
	struct error err = { 0 };

	(void)state;
	sandbox_config_init(&sb);
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox", "off", &err), 0);
	assert_false(sb.filter.on);
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox",
					      "on,obsolete=allow,elevateprivileges=deny,"
					      "spawn=deny,resourcecontrol=deny",
					      &err),
			 0);
	assert_true(sb.filter.on);
	assert_true(sb.filter.obsolete);
	assert_false(sb.filter.elevate);
	assert_false(sb.filter.spawn);
	assert_false(sb.filter.resourcecontrol);
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox", "enable=on,elevateprivileges=allow",
					      &err),
			 0);
	assert_true(sb.filter.elevate);
	/* children: no set*id here, no_new_privs (which vwire always sets). */
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox", "on,elevateprivileges=children",
					      &err),
			 0);
	assert_false(sb.filter.elevate);
	sandbox_config_free(&sb);
}

static void test_filter_errors(void **state)
{
	struct sandbox_config sb;
	struct error err = { 0 };

	(void)state;
	sandbox_config_init(&sb);
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox", "bogus=1", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "invalid parameter 'bogus'"));
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox", "on,spawn=maybe", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "spawn: 'maybe'"));
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox", "on,obsolete=children", &err),
			 -EINVAL);
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox", "spawn=deny", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "on or off"));
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox", "maybe", &err), -EINVAL);
	/* A refused option changes nothing. */
	assert_int_equal(sandbox_parse_option(&sb, "-sandbox", "off,spawn=deny,bogus=1", &err),
			 -EINVAL);
	assert_true(sb.filter.on);
	assert_true(sb.filter.spawn);
	sandbox_config_free(&sb);
}

static void test_runas(void **state)
{
	struct sandbox_config sb;
	struct error err = { 0 };

	(void)state;
	sandbox_config_init(&sb);
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "root", &err), 0);
	assert_true(sb.runas);
	assert_int_equal(sb.uid, 0);
	assert_int_equal(sb.gid, 0);
	assert_true(sb.ngroups >= 1);
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "1234:5678", &err), 0);
	assert_int_equal(sb.uid, 1234);
	assert_int_equal(sb.gid, 5678);
	assert_int_equal(sb.ngroups, 1);
	assert_int_equal(sb.groups[0], 5678);
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "root:42", &err), 0);
	assert_int_equal(sb.uid, 0);
	assert_int_equal(sb.gid, 42);
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "1234:root", &err), 0);
	assert_int_equal(sb.uid, 1234);
	assert_int_equal(sb.gid, 0);
	sandbox_config_free(&sb);
}

static void test_runas_errors(void **state)
{
	struct sandbox_config sb;
	struct error err = { 0 };

	(void)state;
	sandbox_config_init(&sb);
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "nosuchuser.vwire", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "\"nosuchuser.vwire\" does not exist"));
	/* A number alone is no user (QEMU wants <uid>:<gid>). */
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "1234", &err), -ENOENT);
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "-1:0", &err), -ENOENT);
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "4294967295:0", &err), -ENOENT);
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "", &err), -ENOENT);
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "root:nosuchgroup.vwire", &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "group \"nosuchgroup.vwire\""));
	assert_int_equal(sandbox_parse_option(&sb, "-runas", "1:", &err), -ENOENT);
	assert_false(sb.runas);
	sandbox_config_free(&sb);
}

static void test_chroot(void **state)
{
	struct sandbox_config sb;
	struct error err = { 0 };

	(void)state;
	sandbox_config_init(&sb);
	assert_int_equal(sandbox_parse_option(&sb, "-chroot", "/nonexistent.vwire", &err),
			 -ENOENT);
	assert_int_equal(sandbox_parse_option(&sb, "-chroot", "/dev/null", &err), -ENOTDIR);
	assert_null(sb.chroot_dir);
	assert_int_equal(sandbox_parse_option(&sb, "-chroot", "/", &err), 0);
	assert_string_equal(sb.chroot_dir, "/");
	sandbox_config_free(&sb);
}

/* Whether one item keeps the file system (and CAP_NET_ADMIN). */
static bool needs_files(const char *option, const char *text, bool *net_admin)
{
	struct sandbox_needs needs = { .log_fd = -1 };

	sandbox_needs_item(&needs, option, text);
	if (net_admin)
		*net_admin = needs.net_admin;
	return needs.files;
}

static void test_needs(void **state)
{
	bool net_admin = true;

	(void)state;
	assert_false(needs_files("-netdev", "hubport,id=h0,hubid=0", &net_admin));
	assert_false(net_admin);
	assert_false(needs_files("-netdev", "tap,id=t0,ifname=x,downscript=no", &net_admin));
	assert_false(net_admin);
	assert_true(needs_files("-netdev", "tap,id=t0,ifname=x,downscript=/etc/down", &net_admin));
	assert_true(net_admin);
	assert_false(needs_files("-netdev", "socket,id=s,udp=127.0.0.1:1,localaddr=:2", NULL));
	assert_false(needs_files("-netdev", "dump,id=d,file=/tmp/x.pcap", NULL));
	assert_false(needs_files("-object", "filter-dump,id=f,netdev=h0,file=/tmp/x.pcap", NULL));
	assert_false(needs_files("-object", "iothread,id=io1,poll-max-ns=0", NULL));
	assert_false(needs_files("-netdev",
				 "stream,id=s,addr.type=inet,addr.host=127.0.0.1,addr.port=1", NULL));
	assert_true(needs_files("-netdev",
				"stream,id=s,addr.type=inet,addr.host=h,addr.port=1,reconnect=1",
				NULL));
	assert_true(needs_files("-netdev", "stream,id=s,addr.type=unix,addr.path=/x", NULL));
	assert_true(needs_files("-netdev", "dgram,id=d,remote.type=unix,remote.path=/x", NULL));
	assert_true(needs_files("-netdev", "user,id=u", NULL));
	assert_true(needs_files("-netdev", "nosuchtype,id=x", NULL));
	assert_true(needs_files("-netdev", "id=x", NULL));
	assert_true(needs_files("-object", "nosuchobject,id=x", NULL));
	assert_true(needs_files("-device", "virtio-net,netdev=h0,socket=/tmp/x.sock", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_defaults), cmocka_unit_test(test_filter_options),
		cmocka_unit_test(test_filter_errors),	cmocka_unit_test(test_runas),
		cmocka_unit_test(test_runas_errors),	cmocka_unit_test(test_chroot),
		cmocka_unit_test(test_needs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
