// SPDX-License-Identifier: GPL-2.0
/*
 * softzip's engine, shared by softzip.ko and uacce_softzip.ko: the deflate
 * call and the decompression stream parser (see softzip_stream.h). No
 * kernel object is touched here, so tests/fuzz can build this file in user
 * space.
 */
#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/zutil.h>
#include <linux/crc32.h>
#include <asm/unaligned.h>
#endif
#include "softzip_stream.h"

/* ---- checksums ---- */

u32 sz_crc32(u32 crc, const u8 *p, size_t len)
{
	return ~crc32_le(~crc, p, len);
}

u32 sz_adler32(u32 adler, const u8 *p, size_t len)
{
	/* zlib_adler32 takes an unsigned int length: feed it in pieces */
	while (len) {
		unsigned int n = min_t(size_t, len, 1U << 30);

		adler = zlib_adler32(adler, p, n);
		p += n;
		len -= n;
	}
	return adler;
}

u8 sz_csum_kind(u8 type, u8 csum)
{
	if (csum != SZ_CSUM_FORMAT)
		return csum;
	if (type == SZ_T_GZIP)
		return SZ_CSUM_CRC32;
	if (type == SZ_T_ZLIB)
		return SZ_CSUM_ADLER32;
	return SZ_CSUM_FORMAT;	/* raw: none */
}

/* ---- compression ---- */

u8 sz_deflate(z_stream *zs, u8 type, u8 kind, unsigned int df, int level,
	      const u8 *src, u32 in_len, u8 *dst, u32 space, u32 *produced,
	      u32 *csum_out, bool (*stop)(void *arg), void *arg)
{
	u32 hdr = 0, trl = 0, crc = 0, adler = 1, body;
	int flush = (df & SZ_DF_PARTIAL) ? Z_SYNC_FLUSH : Z_FINISH;
	bool need_crc = type == SZ_T_GZIP || kind == SZ_CSUM_CRC32;
	bool need_adler = type == SZ_T_ZLIB || kind == SZ_CSUM_ADLER32;
	u32 left = in_len;
	int ret;

	if (type == SZ_T_ZLIB) {
		hdr = 2;
		trl = 4;
	} else if (type == SZ_T_GZIP) {
		hdr = 10;
		trl = 8;
	}
	if (df & SZ_DF_NO_HEADER)
		hdr = 0;
	if (space < hdr + trl)
		return SZ_ST_OUT_SMALL;

	if (hdr && type == SZ_T_ZLIB) {
		/* CMF: deflate, 32K window; FLG: level hint, check bits */
		static const u8 flg[4] = { 0x01, 0x5e, 0x9c, 0xda };
		int fl = level == 1 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;

		dst[0] = 0x78;
		dst[1] = flg[fl];
	} else if (hdr && type == SZ_T_GZIP) {
		dst[0] = 0x1f;
		dst[1] = 0x8b;
		dst[2] = 8;		/* deflate */
		dst[3] = 0;		/* no name, comment, extra */
		put_unaligned_le32(0, dst + 4);	/* no mtime */
		dst[8] = level == 9 ? 2 : level == 1 ? 4 : 0;
		dst[9] = 3;		/* Unix */
	}

	ret = zlib_deflateInit2(zs, level, Z_DEFLATED, -MAX_WBITS,
				MAX_MEM_LEVEL, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK)
		return SZ_ST_BAD_REQ;
	zs->next_in = src;
	zs->avail_in = 0;
	zs->next_out = dst + hdr;
	zs->avail_out = space - hdr - trl;
	/* feed the input in chunks and reschedule between them */
	for (;;) {
		u32 feed = min_t(u32, left, SZ_CHUNK);
		const u8 *p = src + (in_len - left);

		if (need_crc)
			crc = sz_crc32(crc, p, feed);
		if (need_adler)
			adler = sz_adler32(adler, p, feed);
		zs->avail_in += feed;
		left -= feed;
		if (!left)
			break;
		ret = zlib_deflate(zs, Z_NO_FLUSH);
		/* full before the end: the final flush cannot fit either */
		if (ret != Z_OK || !zs->avail_out) {
			zlib_deflateEnd(zs);
			return SZ_ST_OUT_SMALL;
		}
		cond_resched();
		if (stop && stop(arg)) {
			zlib_deflateEnd(zs);
			return SZ_ST_DMA_FAULT;
		}
	}
	ret = zlib_deflate(zs, flush);
	body = zs->total_out;
	/* avail_out == 0 means deflate may hold more output back */
	if (flush == Z_FINISH ? ret != Z_STREAM_END :
	    (ret != Z_OK || zs->avail_in || !zs->avail_out)) {
		zlib_deflateEnd(zs);
		return SZ_ST_OUT_SMALL;
	}
	zlib_deflateEnd(zs);

	if (type == SZ_T_ZLIB) {
		put_unaligned_be32(adler, dst + hdr + body);
	} else if (type == SZ_T_GZIP) {
		put_unaligned_le32(crc, dst + hdr + body);
		put_unaligned_le32(in_len, dst + hdr + body + 4);
	}
	*produced = hdr + body + trl;
	*csum_out = kind == SZ_CSUM_CRC32 ? crc :
		    kind == SZ_CSUM_ADLER32 ? adler : 0;
	return *produced >= in_len ? SZ_ST_NOT_SHRUNK : SZ_ST_OK;
}

/* ---- decompression ---- */

static enum sz_hstate sz_gz_next(struct sz_decoder *d, enum sz_hstate from)
{
	/* the optional gzip header fields, in their order */
	switch (from) {
	case SZH_GZ_FIXED:
		if (d->gz_flags & 0x04)
			return SZH_GZ_XLEN;
		fallthrough;
	case SZH_GZ_EXTRA:
		if (d->gz_flags & 0x08)
			return SZH_GZ_NAME;
		fallthrough;
	case SZH_GZ_NAME:
		if (d->gz_flags & 0x10)
			return SZH_GZ_COMMENT;
		fallthrough;
	case SZH_GZ_COMMENT:
		if (d->gz_flags & 0x02)
			return SZH_GZ_HCRC;
		fallthrough;
	default:
		return SZH_DONE;
	}
}

/* Feed header bytes: 1 = header complete, 0 = need more, -1 = bad. */
static int sz_header(struct sz_decoder *d, const u8 *in, u32 avail, u32 *used)
{
	u32 i = 0;

	while (d->hs != SZH_DONE && i < avail) {
		u8 c = in[i++];

		/* FHCRC covers every gzip header byte before it */
		if ((d->gz_flags & 0x02) && d->hs != SZH_GZ_HCRC)
			d->hcrc = sz_crc32(d->hcrc, &c, 1);

		switch (d->hs) {
		case SZH_ZLIB:
			d->buf[d->cnt++] = c;
			if (d->cnt < 2)
				break;
			if ((d->buf[0] & 0x0f) != 8 || (d->buf[0] >> 4) > 7 ||
			    ((d->buf[0] << 8) | d->buf[1]) % 31 ||
			    (d->buf[1] & 0x20))	/* preset dictionary */
				goto bad;
			d->hs = SZH_DONE;
			break;
		case SZH_GZ_FIXED:
			d->buf[d->cnt++] = c;
			/* refused as early as zlib does: magic, then CM and FLG */
			if (d->cnt == 2 &&
			    (d->buf[0] != 0x1f || d->buf[1] != 0x8b))
				goto bad;
			if (d->cnt == 4 && (d->buf[2] != 8 || (d->buf[3] & 0xe0)))
				goto bad;
			if (d->cnt < 10)
				break;
			d->gz_flags = d->buf[3];
			if (d->gz_flags & 0x02)
				d->hcrc = sz_crc32(0, d->buf, 10);
			d->cnt = 0;
			d->hs = sz_gz_next(d, SZH_GZ_FIXED);
			break;
		case SZH_GZ_XLEN:
			d->buf[d->cnt++] = c;
			if (d->cnt < 2)
				break;
			d->xlen = d->buf[0] | d->buf[1] << 8;
			d->cnt = 0;
			d->hs = d->xlen ? SZH_GZ_EXTRA :
				sz_gz_next(d, SZH_GZ_EXTRA);
			break;
		case SZH_GZ_EXTRA:
			if (--d->xlen == 0)
				d->hs = sz_gz_next(d, SZH_GZ_EXTRA);
			break;
		case SZH_GZ_NAME:
		case SZH_GZ_COMMENT:
			if (!c)
				d->hs = sz_gz_next(d, d->hs);
			break;
		case SZH_GZ_HCRC:
			d->buf[d->cnt++] = c;
			if (d->cnt < 2)
				break;
			/* zlib checks it: so do we */
			if (get_unaligned_le16(d->buf) != (u16)d->hcrc)
				goto bad;
			d->hs = SZH_DONE;
			break;
		default:
			goto bad;
		}
	}
	*used = i;
	return d->hs == SZH_DONE;
bad:
	/* the caller reports this as consumed: up to the refused byte */
	*used = i;
	return -1;
}

void sz_stream_start(struct sz_decoder *d, z_stream *zs, u8 type, u8 csum)
{
	memset(d, 0, sizeof(*d));
	d->open = true;
	d->type = type;
	d->csum = sz_csum_kind(type, csum);
	d->adler = 1;
	if (type == SZ_T_RAW) {
		d->phase = SZP_BODY;
	} else {
		d->phase = SZP_HEADER;
		d->hs = type == SZ_T_ZLIB ? SZH_ZLIB : SZH_GZ_FIXED;
	}
	zlib_inflateReset(zs);
}

void sz_stream_start_body(struct sz_decoder *d, z_stream *zs, u8 type,
			  u8 csum)
{
	sz_stream_start(d, zs, type, csum);
	d->phase = SZP_BODY;
	d->hs = SZH_DONE;
}

u8 sz_stream_decode(struct sz_decoder *d, z_stream *zs, const u8 *src,
		    u32 in_len, u8 *dst, u32 space, u32 *consumed,
		    u32 *produced, u32 *csum_out)
{
	bool need_crc = d->type == SZ_T_GZIP || d->csum == SZ_CSUM_CRC32;
	bool need_adler = d->type == SZ_T_ZLIB || d->csum == SZ_CSUM_ADLER32;
	u32 in = 0, out = 0;
	u8 st = SZ_ST_NEED_INPUT;

	d->dt = -1;
	for (;;) {
		if (d->phase == SZP_DONE) {
			st = SZ_ST_OK;
			break;
		}
		if (d->phase == SZP_HEADER) {
			u32 used;
			int r = sz_header(d, src + in, in_len - in, &used);

			in += used;
			if (r < 0) {
				st = SZ_ST_DATA_ERR;
				break;
			}
			if (!r)
				break;		/* NEED_INPUT */
			d->phase = SZP_BODY;
		} else if (d->phase == SZP_BODY) {
			u32 before_in, before_out, got;
			int ret;

			zs->next_in = src + in;
			before_in = min_t(u32, in_len - in, SZ_CHUNK);
			before_out = min_t(u32, space - out, 4 * SZ_CHUNK);
			zs->avail_in = before_in;
			zs->next_out = dst + out;
			zs->avail_out = before_out;
			ret = zlib_inflate(zs, Z_SYNC_FLUSH);
			got = before_out - zs->avail_out;
			if (got || before_in != zs->avail_in ||
			    (zs->data_type & 128))
				d->dt = zs->data_type;
			if (need_crc)
				d->crc = sz_crc32(d->crc, dst + out, got);
			if (need_adler)
				d->adler = sz_adler32(d->adler, dst + out, got);
			d->isize += got;
			out += got;
			in += before_in - zs->avail_in;
			if (ret == Z_STREAM_END) {
				d->cnt = 0;
				d->phase = d->type == SZ_T_RAW ? SZP_DONE :
					   SZP_TRAILER;
				continue;
			}
			if (ret != Z_OK && ret != Z_BUF_ERROR) {
				st = SZ_ST_DATA_ERR;
				break;
			}
			/* keep going while inflate moves: the end may follow */
			if (got || before_in != zs->avail_in) {
				cond_resched();
				if (d->stop && d->stop(d->stop_arg)) {
					st = SZ_ST_DMA_FAULT;
					break;
				}
				continue;
			}
			if (out == space)
				st = SZ_ST_OUT_SMALL;
			else if (in == in_len)
				st = SZ_ST_NEED_INPUT;
			else
				st = SZ_ST_DATA_ERR;	/* stuck with room */
			break;
		} else if (d->phase == SZP_TRAILER) {
			u32 want = d->type == SZ_T_ZLIB ? 4 : 8;
			bool bad = false;

			while (d->cnt < want && in < in_len)
				d->buf[d->cnt++] = src[in++];
			/* as zlib does: a wrong check value fails before ISIZE */
			if (d->cnt >= 4)
				bad = d->type == SZ_T_ZLIB ?
				      get_unaligned_be32(d->buf) != d->adler :
				      get_unaligned_le32(d->buf) != d->crc;
			if (!bad && d->cnt == 8)
				bad = get_unaligned_le32(d->buf + 4) != d->isize;
			if (!bad && d->cnt < want)
				break;		/* NEED_INPUT */
			st = bad ? SZ_ST_CSUM_ERR : SZ_ST_OK;
			d->phase = SZP_DONE;
			break;
		}
	}

	if (d->phase == SZP_DONE || st == SZ_ST_DATA_ERR ||
	    st == SZ_ST_DMA_FAULT)
		d->open = false;
	if (st == SZ_ST_DMA_FAULT)
		in = out = 0;
	*consumed = in;
	*produced = out;
	*csum_out = d->csum == SZ_CSUM_CRC32 ? d->crc :
		    d->csum == SZ_CSUM_ADLER32 ? d->adler : 0;
	return st;
}
