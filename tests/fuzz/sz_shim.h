/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough of the kernel's types, helpers and zlib/crc32 API, mapped to
 * libc and user-space zlib, to build kernel/softzip_stream.c in user space.
 */
#ifndef SZ_SHIM_H
#define SZ_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#define ZLIB_CONST
#include <zlib.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define fallthrough	__attribute__((__fallthrough__))

#define min_t(type, a, b) \
	((type)(a) < (type)(b) ? (type)(a) : (type)(b))

/* the harness counts reschedule points: each is a place the loop moved */
extern unsigned long sz_shim_resched;
static inline void cond_resched(void)
{
	sz_shim_resched++;
}

static inline u16 get_unaligned_le16(const void *p)
{
	const u8 *b = p;

	return (u16)(b[1] << 8 | b[0]);
}

static inline u32 get_unaligned_be32(const void *p)
{
	const u8 *b = p;

	return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}

static inline u32 get_unaligned_le32(const void *p)
{
	const u8 *b = p;

	return (u32)b[3] << 24 | (u32)b[2] << 16 | (u32)b[1] << 8 | b[0];
}

/* the kernel's crc32_le() is the raw CRC: no pre- or post-inversion */
static inline u32 crc32_le(u32 crc, const u8 *p, size_t len)
{
	return ~(u32)crc32(~crc, p, (uInt)len);
}

static inline u32 zlib_adler32(u32 adler, const u8 *p, unsigned int len)
{
	return (u32)adler32(adler, p, len);
}

#define zlib_inflate(zs, flush)	inflate((zs), (flush))
#define zlib_inflateReset(zs)	inflateReset(zs)

static inline void put_unaligned_le32(u32 v, void *p)
{
	u8 *b = p;

	b[0] = v;
	b[1] = v >> 8;
	b[2] = v >> 16;
	b[3] = v >> 24;
}

static inline void put_unaligned_be32(u32 v, void *p)
{
	u8 *b = p;

	b[0] = v >> 24;
	b[1] = v >> 16;
	b[2] = v >> 8;
	b[3] = v;
}

/* the engine's deflate call (sz_deflate), with zlib's own allocator in user space */
#define zlib_deflateInit2(zs, level, method, bits, mem, strategy) \
	deflateInit2((zs), (level), (method), (bits), (mem), (strategy))
#define zlib_deflate(zs, flush)	deflate((zs), (flush))
#define zlib_deflateEnd(zs)	deflateEnd(zs)

#endif /* SZ_SHIM_H */
