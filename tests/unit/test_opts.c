// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_opts.c - QEMU option syntax: splitting, escaping, typed decoding and the errors that
 * name the option and value.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vwire/error.h"
#include "vwire/opts.h"

struct sample {
	char *name;
	bool flag;
	bool has_flag;
	uint64_t count;
	uint64_t size;
	struct opt_list fwd;
};

static const struct opt_desc sample_desc[] = {
	{ .name = "name", .kind = OPT_STRING, .offset = offsetof(struct sample, name) },
	{ .name = "flag", .kind = OPT_BOOL, .offset = offsetof(struct sample, flag),
	  .set_offset = offsetof(struct sample, has_flag) },
	{ .name = "count", .kind = OPT_UINT, .offset = offsetof(struct sample, count), .max = 8 },
	{ .name = "size", .kind = OPT_SIZE, .offset = offsetof(struct sample, size) },
	{ .name = "fwd", .kind = OPT_STRING_LIST, .offset = offsetof(struct sample, fwd) },
	{ 0 }
};

static void test_split_and_escape(void **state)
{
	struct opts o;
	struct error err = { 0 };

	assert_int_equal(opts_parse("tap,id=t0,script=/a,,b,vnet_hdr", "type", &o, &err), 0);
	assert_int_equal(o.count, 4);
	assert_string_equal(opts_get(&o, "type"), "tap");
	assert_string_equal(opts_get(&o, "id"), "t0");
	assert_string_equal(opts_get(&o, "script"), "/a,b");
	assert_string_equal(opts_get(&o, "vnet_hdr"), "on");
	assert_null(opts_get(&o, "missing"));
	opts_free(&o);
}

static void test_parse_errors(void **state)
{
	struct opts o;
	struct error err = { 0 };

	assert_int_equal(opts_parse("", "type", &o, &err), -EINVAL);
	assert_string_equal(err.msg, "empty option string");
	/* ",," is a literal comma, even at the end. */
	assert_int_equal(opts_parse("tap,,", "type", &o, &err), 0);
	assert_string_equal(opts_get(&o, "type"), "tap,");
	opts_free(&o);
	assert_int_equal(opts_parse("tap,id=a,=c", "type", &o, &err), -EINVAL);
	assert_string_equal(err.msg, "'tap,id=a,=c': '=c' has no key");
	assert_int_equal(opts_parse(",a", "type", &o, &err), -EINVAL);
	assert_string_equal(err.msg, "',a': empty element");
	assert_int_equal(opts_parse("tap,id=a,,b", NULL, &o, &err), 0);
	assert_string_equal(opts_get(&o, "tap"), "on");
	assert_string_equal(opts_get(&o, "id"), "a,b");
	opts_free(&o);
}

static void test_decode_typed(void **state)
{
	struct opts o;
	struct error err = { 0 };
	struct sample s = { 0 };

	assert_int_equal(opts_parse("x,name=eth0,flag=off,count=0x8,size=64k,fwd=a,fwd=b",
				    "type", &o, &err), 0);
	assert_int_equal(opts_decode(&o, sample_desc, &s, &err), 0);
	opts_get(&o, "type");
	assert_int_equal(opts_check_unused(&o, "-netdev x", &err), 0);
	assert_string_equal(s.name, "eth0");
	assert_false(s.flag);
	assert_true(s.has_flag);
	assert_int_equal(s.count, 8);
	assert_int_equal(s.size, 65536);
	assert_int_equal(s.fwd.count, 2);
	assert_string_equal(s.fwd.items[1], "b");
	opts_free_decoded(sample_desc, &s);
	assert_null(s.name);
	opts_free(&o);
}

static void expect_decode_error(const char *text, const char *msg)
{
	struct opts o;
	struct error err = { 0 };
	struct sample s = { 0 };
	int ret;

	assert_int_equal(opts_parse(text, "type", &o, &err), 0);
	opts_get(&o, "type");
	ret = opts_decode(&o, sample_desc, &s, &err);
	if (ret == 0)
		ret = opts_check_unused(&o, "-netdev x", &err);
	assert_int_equal(ret, -EINVAL);
	assert_string_equal(err.msg, msg);
	opts_free_decoded(sample_desc, &s);
	opts_free(&o);
}

static void test_decode_errors_name_option_and_value(void **state)
{
	expect_decode_error("x,flag=maybe", "flag=maybe: expected on or off");
	expect_decode_error("x,count=-1", "count=-1: expected a non-negative number");
	expect_decode_error("x,count=9", "count=9: at most 8 allowed");
	expect_decode_error("x,count=3z", "count=3z: expected a non-negative number");
	expect_decode_error("x,size=12q", "size=12q: expected a size (e.g. 4096 or 64k)");
	expect_decode_error("x,size=99999999999999999999",
			    "size=99999999999999999999: expected a size (e.g. 4096 or 64k)");
	expect_decode_error("x,bogus=1", "-netdev x: invalid parameter 'bogus'");
}

static void test_sizes_and_bools(void **state)
{
	uint64_t v;
	bool b;

	assert_int_equal(opts_parse_size("1M", &v), 0);
	assert_int_equal(v, 1 << 20);
	assert_int_equal(opts_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(opts_parse_size("17179869184T", &v), -EINVAL);
	assert_int_equal(opts_parse_size("", &v), -EINVAL);
	assert_int_equal(opts_parse_bool("yes", &b), 0);
	assert_true(b);
	assert_int_equal(opts_parse_bool("OFF", &b), 0);
	assert_false(b);
	assert_int_equal(opts_parse_bool("2", &b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_and_escape),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_decode_typed),
		cmocka_unit_test(test_decode_errors_name_option_and_value),
		cmocka_unit_test(test_sizes_and_bools),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
