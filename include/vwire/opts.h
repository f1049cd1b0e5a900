/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * opts.h - QEMU's option syntax: "type,key=value,key=value" (",," is a literal comma).
 *
 * A string is split once into key/value pairs (opts_parse), then decoded into a typed struct
 * by a table of field descriptions (opts_decode). Nothing else in vwire parses option strings.
 */
#ifndef VWIRE_OPTS_H
#define VWIRE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;

/**
 * struct opt_pair - one key=value
 * @key:	the key
 * @value:	the value ("on" for a bare key other than the implied one)
 * @used:	set by opts_decode when a descriptor consumed it
 */
struct opt_pair {
	char *key;
	char *value;
	bool used;
};

/**
 * struct opts - a parsed option string
 * @text:	the original string, for error messages
 * @pairs:	the pairs in order (repeated keys keep every occurrence)
 * @count:	how many
 */
struct opts {
	char *text;
	struct opt_pair *pairs;
	size_t count;
};

enum opt_kind {
	OPT_STRING,	 /* char *: a copy of the value */
	OPT_BOOL,	 /* bool: on/off/yes/no/true/false; field "has_X" not needed */
	OPT_UINT,	 /* uint64_t: decimal or 0x hex */
	OPT_SIZE,	 /* uint64_t: with an optional k/M/G/T suffix */
	OPT_STRING_LIST, /* struct opt_list: every occurrence of a repeatable key */
};

/**
 * struct opt_list - the values of a repeatable key
 * @items:	copies of the values
 * @count:	how many
 */
struct opt_list {
	char **items;
	size_t count;
};

/**
 * struct opt_desc - one field of a typed option struct
 * @name:	the key
 * @kind:	how to decode it
 * @offset:	offsetof the field
 * @set_offset:	offsetof a bool set to true when the key was given (0: none)
 * @max:	for OPT_UINT/OPT_SIZE, the largest value accepted (0: no limit)
 * @help:	one line for -netdev TYPE,help
 */
struct opt_desc {
	const char *name;
	enum opt_kind kind;
	size_t offset;
	size_t set_offset;
	uint64_t max;
	const char *help;
};

/**
 * opts_parse() - split @text into key=value pairs
 * @text:	the string, e.g. "tap,id=t0,ifname=vw0"
 * @implied_key: key of a first element without '=' (e.g. "type"), or NULL to reject it
 * @out:	filled on success; release with opts_free()
 * @err:	what is wrong, naming the offending part
 *
 * Return: 0 or -EINVAL
 */
int opts_parse(const char *text, const char *implied_key, struct opts *out, struct error *err);

/**
 * opts_get() - the last value of @key, marking every occurrence used
 * @o:		parsed options
 * @key:	the key
 *
 * Return: the value or NULL
 */
const char *opts_get(struct opts *o, const char *key);

/**
 * opts_peek() - the last value of @key in an option string, without using it
 * @text:	the string, as for opts_parse()
 * @implied_key: as for opts_parse()
 * @key:	the key
 *
 * For looking ahead at a command line's items before they are made (what cannot be parsed
 * has no value: the item's own parse reports it).
 *
 * Return: a copy of the value (free() it), or NULL
 */
char *opts_peek(const char *text, const char *implied_key, const char *key);

/**
 * opts_decode() - fill the typed struct @dst from @o using @desc (terminated by a NULL name)
 * @o:		parsed options (pairs consumed are marked used)
 * @desc:	field descriptions
 * @dst:	the typed struct, zeroed by the caller with defaults already set
 * @err:	names the option and the value that are wrong
 *
 * Return: 0 or -EINVAL
 */
int opts_decode(struct opts *o, const struct opt_desc *desc, void *dst, struct error *err);

/**
 * opts_check_unused() - fail on the first pair no descriptor consumed
 * @o:		parsed options
 * @what:	e.g. "-netdev tap", for the message
 * @err:	the error
 *
 * Return: 0 or -EINVAL
 */
int opts_check_unused(const struct opts *o, const char *what, struct error *err);

/**
 * opts_free_decoded() - free the strings and lists opts_decode() put into @dst
 * @desc:	the descriptions used to decode
 * @dst:	the typed struct
 */
void opts_free_decoded(const struct opt_desc *desc, void *dst);

/**
 * opts_free() - release a parsed option string
 * @o: the options
 */
void opts_free(struct opts *o);

/**
 * opts_parse_bool() - parse on/off/yes/no/true/false
 * @s:		the text
 * @out:	the value
 *
 * Return: 0 or -EINVAL
 */
int opts_parse_bool(const char *s, bool *out);

/**
 * opts_parse_size() - parse a number with an optional k/M/G/T suffix (powers of 1024)
 * @s:		the text
 * @out:	the value
 *
 * Return: 0 or -EINVAL
 */
int opts_parse_size(const char *s, uint64_t *out);

#endif
