/* SPDX-License-Identifier: GPL-2.0 */
/*
 * softzip's engine: the deflate call, and the decompression stream (the
 * zlib/gzip header and trailer parser and the decode state machine that
 * carries one stream over several CONTINUE requests, docs/abi.md section 4).
 * softzip.ko and uacce_softzip.ko both link it.
 *
 * The same source builds in the module and in user space (tests/fuzz),
 * where a shim maps the kernel's zlib and crc32 API to user-space zlib.
 */
#ifndef SOFTZIP_STREAM_H
#define SOFTZIP_STREAM_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/zlib.h>
#else
#include "sz_shim.h"
#endif

/* request types (dw9) */
#define SZ_T_RAW		1
#define SZ_T_ZLIB		2
#define SZ_T_GZIP		3
#define SZ_T_NOP		0x7f

/* which checksum dw15 reports (dw10 bits 1..2) */
#define SZ_CSUM_FORMAT		0
#define SZ_CSUM_CRC32		1
#define SZ_CSUM_ADLER32		2

/* completion status (dw3) */
#define SZ_ST_OK		0x00
#define SZ_ST_NOT_SHRUNK	0x0d
#define SZ_ST_OUT_SMALL		0x0e
#define SZ_ST_CSUM_ERR		0x10
#define SZ_ST_NEED_INPUT	0x11
#define SZ_ST_DATA_ERR		0x12
#define SZ_ST_DMA_FAULT		0x20
#define SZ_ST_BAD_REQ		0x21
#define SZ_ST_DEV_ERR		0x22
#define SZ_ST_MEMLOCK		0x23

/* zlib works this much between cond_resched() calls (tests/fuzz: less) */
#ifndef SZ_CHUNK
#define SZ_CHUNK		(256U << 10)
#endif

/* where the decoder is inside a (possibly multi-request) stream */
enum sz_phase { SZP_HEADER, SZP_BODY, SZP_TRAILER, SZP_DONE };
enum sz_hstate {
	SZH_ZLIB, SZH_GZ_FIXED, SZH_GZ_XLEN, SZH_GZ_EXTRA, SZH_GZ_NAME,
	SZH_GZ_COMMENT, SZH_GZ_HCRC, SZH_DONE,
};

struct sz_decoder {
	bool open;		/* a stream is unfinished: CONTINUE allowed */
	u8 type;
	u8 csum;		/* which checksum dw15 reports */
	enum sz_phase phase;
	enum sz_hstate hs;
	u8 gz_flags;
	u8 buf[10];		/* header or trailer bytes collected so far */
	u32 cnt;
	u32 xlen;
	u32 hcrc;		/* CRC-32 of the gzip header so far (FHCRC) */
	u32 crc;
	u32 adler;
	u32 isize;
	/*
	 * zlib's data_type after the body's last inflate call of this request
	 * that moved, or that stopped at a block header (-1: none). A call that
	 * does neither is left out: on entry inflate turns "at a block header"
	 * (TYPE, data_type 128) into TYPEDO, which data_type does not show.
	 */
	int dt;
	/*
	 * Asked between chunks of a long body: true stops the request with
	 * SZ_ST_DMA_FAULT and ends the stream (its memory is being unshared).
	 * sz_stream_start() clears it; the caller sets it for each request.
	 */
	bool (*stop)(void *arg);
	void *stop_arg;
};

u32 sz_crc32(u32 crc, const u8 *p, size_t len);
u32 sz_adler32(u32 adler, const u8 *p, size_t len);
u8 sz_csum_kind(u8 type, u8 csum);

/* sz_deflate() flags */
#define SZ_DF_PARTIAL		(1U << 0)	/* end with a sync flush (raw only) */
#define SZ_DF_NO_HEADER		(1U << 1)	/* the driver writes the zlib/gzip header */

/*
 * Compress @in_len bytes at @src into up to @space bytes at @dst as one
 * stream of @type (the zlib/gzip header unless SZ_DF_NO_HEADER, the deflate
 * body, the trailer) at @level. @kind is the checksum *@csum_out reports
 * (SZ_CSUM_*). Between input chunks @stop(@arg), when given, may end the
 * call with SZ_ST_DMA_FAULT. Returns SZ_ST_OK, SZ_ST_NOT_SHRUNK (output not
 * smaller than the input), SZ_ST_OUT_SMALL or SZ_ST_BAD_REQ.
 */
u8 sz_deflate(z_stream *zs, u8 type, u8 kind, unsigned int df, int level,
	      const u8 *src, u32 in_len, u8 *dst, u32 space, u32 *produced,
	      u32 *csum_out, bool (*stop)(void *arg), void *arg);

/*
 * Start a new stream of @type on @d; @zs must have been set up with
 * zlib_inflateInit2(zs, -MAX_WBITS) (raw deflate: the parser owns the
 * zlib/gzip wrapper).
 */
void sz_stream_start(struct sz_decoder *d, z_stream *zs, u8 type, u8 csum);

/*
 * As sz_stream_start(), for a zlib or gzip stream whose header the driver
 * has already consumed (hisi_qm v2 ZIP): decoding starts at the deflate
 * body; the trailer is still checked.
 */
void sz_stream_start_body(struct sz_decoder *d, z_stream *zs, u8 type,
			  u8 csum);

/*
 * Feed @in_len bytes at @src and up to @space bytes of room at @dst to the
 * open stream. Returns a completion status (SZ_ST_OK when the stream ended
 * and its trailer matched, SZ_ST_NEED_INPUT, SZ_ST_OUT_SMALL,
 * SZ_ST_CSUM_ERR, SZ_ST_DATA_ERR) and what was consumed, produced and the
 * running checksum. @src and @dst are never NULL, even for length 0.
 * When @d->stop says so between two chunks, it returns SZ_ST_DMA_FAULT with
 * nothing consumed or produced, and the stream is over.
 */
u8 sz_stream_decode(struct sz_decoder *d, z_stream *zs, const u8 *src,
		    u32 in_len, u8 *dst, u32 space, u32 *consumed,
		    u32 *produced, u32 *csum_out);

#endif /* SOFTZIP_STREAM_H */
