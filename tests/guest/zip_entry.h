/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What both ring dialects of the guest's C programs share: the ring depth,
 * the 128-byte ZIP request entry (struct hisi_zip_sqe) and the 16-byte
 * completion entry, as hisi_qm v1 through sdmdev (wd_ring.h; docs/abi.md
 * sections 3 to 5) and hisi_qm v2 through uacce (wd_ring_v2.h; sections
 * 9.5 to 9.7) lay them out. Only what means the same in both is here: each
 * dialect defines its other words itself (v1: flags, level, checksum in
 * dw15; v2: the stream words, the second tag, checksum in dw31).
 */
#ifndef WD_GUEST_ZIP_ENTRY_H
#define WD_GUEST_ZIP_ENTRY_H

#include <stdint.h>
#include <string.h>

#define DEPTH		1024	/* entries in the SQ and in the CQ */
#define SQE_SIZE	128
#define CQE_SIZE	16
#define CQ_OFF		(DEPTH * SQE_SIZE)	/* the CQ follows the SQ */

/* request entry words (u32) */
#define W_CONSUMED	0	/* out */
#define W_PRODUCED	1	/* out */
#define W_STATUS	3	/* out, bits 7:0 the status below */
#define W_IN_LEN	4
#define W_REQ_TYPE	9	/* bits 7:0 */
#define W_TAG		13	/* v2: the tag of entry type 0 */
#define W_SPACE		14	/* output space */
#define W_SRC		18	/* low, then high 32 bits in W_SRC + 1 */
#define W_DST		20	/* low, then high 32 bits in W_DST + 1 */

/* request types (dw9 bits 7:0) */
#define REQ_DEFLATE	1	/* raw deflate */
#define REQ_ZLIB	2
#define REQ_GZIP	3

/* statuses both dialects answer with: the hardware's, then softzip's */
#define ST_OK		0x00
#define ST_NOT_SHRUNK	0x0d	/* done, output not smaller than input */
#define ST_OUT_SMALL	0x0e
#define ST_CSUM_ERR	0x10
#define ST_DATA_ERR	0x12
#define ST_DMA_FAULT	0x20
#define ST_BAD_REQ	0x21

/* completion entry: byte offsets of its u16 fields */
#define CQE_SQ_HEAD	8	/* the request entry that completed */
#define CQE_SQ_NUM	10	/* the queue number (0 on v1 soft devices) */
#define CQE_W7		14	/* bit 0: phase; the device stores it last */

/* request entry @slot (taken modulo the depth) of the rings at @base */
static inline uint32_t *zip_sqe(uint8_t *base, unsigned int slot)
{
	return (uint32_t *)(base + (size_t)(slot % DEPTH) * SQE_SIZE);
}

/* completion entry @idx (taken modulo the depth) of the rings at @base */
static inline uint8_t *zip_cqe(uint8_t *base, unsigned int idx)
{
	return base + CQ_OFF + (size_t)(idx % DEPTH) * CQE_SIZE;
}

/* a completion entry's u16 field at byte offset @off (CQE_*) */
static inline uint16_t cqe_field(const uint8_t *c, unsigned int off)
{
	return *(const volatile uint16_t *)(c + off);
}

/* the phase bit of a completion entry, read with acquire ordering */
static inline unsigned int cqe_phase(const uint8_t *c)
{
	return __atomic_load_n((const uint16_t *)(c + CQE_W7),
			       __ATOMIC_ACQUIRE) & 1;
}

/* the source and destination addresses of a request entry */
static inline void sqe_set_addrs(uint32_t *e, uint64_t src, uint64_t dst)
{
	e[W_SRC] = (uint32_t)src;
	e[W_SRC + 1] = (uint32_t)(src >> 32);
	e[W_DST] = (uint32_t)dst;
	e[W_DST + 1] = (uint32_t)(dst >> 32);
}

#endif
