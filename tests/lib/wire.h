/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wire.h - for tests that build and check packets by hand: big-endian field access and the
 * Internet checksum done by the book (RFC 1071), written apart from the code under test so
 * that a test checks vwire's checksums against an independent computation.
 */
#ifndef VWIRE_TESTS_WIRE_H
#define VWIRE_TESTS_WIRE_H

#include <stddef.h>
#include <stdint.h>

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/**
 * ref_sum() - RFC 1071 by the book: big-endian 16-bit words, an odd byte padded, not folded
 * @p:		the bytes
 * @len:	how many
 * @sum:	the sum so far
 *
 * Return: the new sum
 */
static inline uint32_t ref_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/**
 * ref_fold() - the checksum of a sum: carries folded in, complemented (host order)
 * @sum: the sum
 *
 * Return: the checksum
 */
static inline uint16_t ref_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#endif
