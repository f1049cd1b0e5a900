// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * opts.c - QEMU's option syntax, split once and decoded into typed structs.
 *
 * "tap,id=t0,ifname=vw0" becomes pairs (type=tap)(id=t0)(ifname=vw0); ",," stands for a
 * comma inside a value. opts_decode() then fills a struct from a table of field
 * descriptions, and every error names the option and the value.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vwire/error.h"
#include "vwire/opts.h"

static int opts_add(struct opts *o, const char *key, size_t keylen, const char *value)
{
	struct opt_pair *pairs = realloc(o->pairs, (o->count + 1) * sizeof(*pairs));

	if (!pairs)
		return -ENOMEM;
	o->pairs = pairs;
	pairs[o->count].key = strndup(key, keylen);
	pairs[o->count].value = strdup(value);
	pairs[o->count].used = false;
	if (!pairs[o->count].key || !pairs[o->count].value) {
		free(pairs[o->count].key);
		free(pairs[o->count].value);
		return -ENOMEM;
	}
	o->count++;
	return 0;
}

int opts_parse(const char *text, const char *implied_key, struct opts *out, struct error *err)
{
	size_t len = strlen(text);
	char *elem = malloc(len + 1);
	const char *p = text;
	bool first = true;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->text = strdup(text);
	if (!elem || !out->text) {
		ret = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!*text) {
		ret = error_set(err, -EINVAL, "empty option string");
		goto out;
	}
	while (*p) {
		size_t n = 0;
		char *eq;

		/* One element, up to a single comma; ",," is a literal comma. */
		while (*p) {
			if (*p == ',') {
				if (p[1] == ',') {
					elem[n++] = ',';
					p += 2;
					continue;
				}
				p++;
				break;
			}
			elem[n++] = *p++;
		}
		elem[n] = '\0';
		if (n == 0) {
			ret = error_set(err, -EINVAL, "'%s': empty element", text);
			goto out;
		}
		eq = strchr(elem, '=');
		if (eq) {
			if (eq == elem) {
				ret = error_set(err, -EINVAL, "'%s': '%s' has no key", text, elem);
				goto out;
			}
			ret = opts_add(out, elem, (size_t)(eq - elem), eq + 1);
		} else if (first && implied_key) {
			ret = opts_add(out, implied_key, strlen(implied_key), elem);
		} else {
			/* A bare key means "on", as QEMU's "server" or "wait". */
			ret = opts_add(out, elem, n, "on");
		}
		if (ret < 0) {
			error_set(err, ret, "out of memory");
			goto out;
		}
		first = false;
	}
out:
	free(elem);
	if (ret < 0)
		opts_free(out);
	return ret;
}

const char *opts_get(struct opts *o, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < o->count; i++) {
		if (!strcmp(o->pairs[i].key, key)) {
			o->pairs[i].used = true;
			v = o->pairs[i].value;
		}
	}
	return v;
}

char *opts_peek(const char *text, const char *implied_key, const char *key)
{
	struct error err = { 0 };
	struct opts o;
	const char *v;
	char *copy;

	if (opts_parse(text, implied_key, &o, &err) < 0)
		return NULL;
	v = opts_get(&o, key);
	copy = v ? strdup(v) : NULL;
	opts_free(&o);
	return copy;
}

int opts_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true", "y" };
	static const char *const no[] = { "off", "no", "false", "n" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int opts_parse_uint(const char *s, uint64_t *out, char **end)
{
	if (!*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, end, 0);
	if (errno)
		return -EINVAL;
	return 0;
}

int opts_parse_size(const char *s, uint64_t *out)
{
	uint64_t v, mul = 1;
	char *end;

	if (opts_parse_uint(s, &v, &end) < 0)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1ULL << 10;
		break;
	case 'm': case 'M':
		mul = 1ULL << 20;
		break;
	case 'g': case 'G':
		mul = 1ULL << 30;
		break;
	case 't': case 'T':
		mul = 1ULL << 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] && strcasecmp(end + 1, "b") && strcasecmp(end + 1, "ib"))
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int opts_decode_one(struct opt_pair *pair, const struct opt_desc *d, void *dst,
			   struct error *err)
{
	void *field = (uint8_t *)dst + d->offset;
	uint64_t v;
	char *end;

	switch (d->kind) {
	case OPT_STRING: {
		char **s = field;
		char *copy = strdup(pair->value);

		if (!copy)
			return error_set(err, -ENOMEM, "out of memory");
		free(*s);
		*s = copy;
		break;
	}
	case OPT_BOOL:
		if (opts_parse_bool(pair->value, field) < 0)
			return error_set(err, -EINVAL,
					 "%s=%s: expected on or off", pair->key, pair->value);
		break;
	case OPT_UINT:
		if (opts_parse_uint(pair->value, &v, &end) < 0 || *end)
			return error_set(err, -EINVAL, "%s=%s: expected a non-negative number",
					 pair->key, pair->value);
		if (d->max && v > d->max)
			return error_set(err, -EINVAL, "%s=%s: at most %" PRIu64 " allowed",
					 pair->key, pair->value, d->max);
		*(uint64_t *)field = v;
		break;
	case OPT_SIZE:
		if (opts_parse_size(pair->value, &v) < 0)
			return error_set(err, -EINVAL, "%s=%s: expected a size (e.g. 4096 or 64k)",
					 pair->key, pair->value);
		if (d->max && v > d->max)
			return error_set(err, -EINVAL, "%s=%s: at most %" PRIu64 " allowed",
					 pair->key, pair->value, d->max);
		*(uint64_t *)field = v;
		break;
	case OPT_STRING_LIST: {
		struct opt_list *l = field;
		char **items = realloc(l->items, (l->count + 1) * sizeof(*items));

		if (!items)
			return error_set(err, -ENOMEM, "out of memory");
		l->items = items;
		items[l->count] = strdup(pair->value);
		if (!items[l->count])
			return error_set(err, -ENOMEM, "out of memory");
		l->count++;
		break;
	}
	}
	if (d->set_offset)
		*(bool *)((uint8_t *)dst + d->set_offset) = true;
	return 0;
}

int opts_decode(struct opts *o, const struct opt_desc *desc, void *dst, struct error *err)
{
	for (size_t i = 0; i < o->count; i++) {
		struct opt_pair *pair = &o->pairs[i];

		for (const struct opt_desc *d = desc; d->name; d++) {
			int ret;

			if (strcmp(d->name, pair->key))
				continue;
			ret = opts_decode_one(pair, d, dst, err);
			if (ret < 0)
				return ret;
			pair->used = true;
			break;
		}
	}
	return 0;
}

int opts_check_unused(const struct opts *o, const char *what, struct error *err)
{
	for (size_t i = 0; i < o->count; i++)
		if (!o->pairs[i].used)
			return error_set(err, -EINVAL, "%s: invalid parameter '%s'", what,
					 o->pairs[i].key);
	return 0;
}

void opts_free_decoded(const struct opt_desc *desc, void *dst)
{
	for (const struct opt_desc *d = desc; d->name; d++) {
		void *field = (uint8_t *)dst + d->offset;

		if (d->kind == OPT_STRING) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (d->kind == OPT_STRING_LIST) {
			struct opt_list *l = field;

			for (size_t i = 0; i < l->count; i++)
				free(l->items[i]);
			free(l->items);
			l->items = NULL;
			l->count = 0;
		}
	}
}

void opts_free(struct opts *o)
{
	for (size_t i = 0; i < o->count; i++) {
		free(o->pairs[i].key);
		free(o->pairs[i].value);
	}
	free(o->pairs);
	free(o->text);
	memset(o, 0, sizeof(*o));
}
