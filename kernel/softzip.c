// SPDX-License-Identifier: GPL-2.0
/*
 * softzip: a software ZIP engine behind sdmdev, for machines (and CI
 * guests) without the HiSilicon hardware.
 *
 * Each queue speaks the hisi_qm_v1 ring dialect of docs/abi.md: a kernel
 * thread per started queue polls the doorbell registers in the queue's
 * MMIO page, reads requests from the submission ring, pins the request's
 * buffers through VFIO (so only memory the process shared is reachable),
 * runs the kernel's zlib and posts completions with the phase bit. When
 * there is no work it sets the idle register and sleeps until kicked.
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/kthread.h>
#include <linux/sched/clock.h>
#include <linux/vmalloc.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/iommu.h>
#include <linux/zlib.h>
#include <linux/zutil.h>
#include <linux/crc32.h>
#include <linux/delay.h>
#include <asm/unaligned.h>
#include "include/sdmdev.h"
#include "softzip_stream.h"

#define SZ_NAME			"softzip"
#define SZ_API			"hisi_qm_v1"

#define SZ_DEPTH		1024
#define SZ_SQE_SIZE		128
#define SZ_CQE_SIZE		16
#define SZ_CQ_OFF		(SZ_DEPTH * SZ_SQE_SIZE)
#define SZ_RINGS_SIZE		PAGE_ALIGN(SZ_CQ_OFF + SZ_DEPTH * SZ_CQE_SIZE)
#define SZ_MMIO_SIZE		PAGE_SIZE

#define SZ_DB_EMPTY		(~0ULL)	/* nothing written to the CQ doorbell */
#define SZ_DB_CMD_SQ		0
#define SZ_DB_CMD_CQ		1

/* request words (docs/abi.md section 4) */
#define SZ_DW_CONSUMED		0
#define SZ_DW_PRODUCED		1
#define SZ_DW_STATUS		3
#define SZ_DW_IN_LEN		4
#define SZ_DW_TYPE		9
#define SZ_DW_FLAGS		10
#define SZ_DW_LEVEL		11
#define SZ_DW_OUT_SPACE		14
#define SZ_DW_CSUM		15
#define SZ_DW_SRC_LO		18
#define SZ_DW_SRC_HI		19
#define SZ_DW_DST_LO		20
#define SZ_DW_DST_HI		21

#define SZ_F_PARTIAL		BIT(0)
#define SZ_F_CSUM_SHIFT		1
#define SZ_F_CSUM_MASK		(3 << SZ_F_CSUM_SHIFT)
#define SZ_F_CONTINUE		BIT(3)
#define SZ_F_BLOCK_END		BIT(4)
#define SZ_F_ALL		(SZ_F_PARTIAL | SZ_F_CSUM_MASK | SZ_F_CONTINUE | \
				 SZ_F_BLOCK_END)

/* pinning whole ranges keeps the engine simple; bound what one request pins */
#define SZ_MAX_RANGE		(64UL << 20)

enum { SZ_TYPE_COMP, SZ_TYPE_DECOMP, SZ_NR_TYPES };

/* a user range pinned and mapped for the duration of one request */
struct sz_map {
	struct page **pages;
	int npages;
	dma_addr_t iova;	/* page aligned */
	void *base;
};

struct softzip;

struct sz_queue {
	struct sdmdev_queue sq;
	struct softzip *sz;
	unsigned int qid;
	bool in_use;
	bool decomp;

	void *mmio;		/* region 0 */
	void *rings;		/* region 1 */
	void *def_ws;
	void *inf_ws;
	z_stream zs;
	struct sz_decoder dec;

	struct task_struct *thread;
	wait_queue_head_t kick_wq;
	atomic_t kicked;
	int notify;		/* WAIT sleepers want wake-ups */

	/* ring state, owned by the thread */
	u16 sq_head;
	u16 cq_tail;
	u16 cq_head;		/* last head the driver rang */
	u8 phase;
	bool armed;

	/* held while one request runs: its pins live inside it */
	struct mutex req_lock;
	struct sz_map map[2];
	/* the running request's ranges, to stop it when one is revoked */
	u64 req_src, req_in, req_dst, req_space;
	int req_gen;		/* sq.revoke_gen when they were checked */
	u64 req_seq;		/* requests that took req_lock so far */
	bool in_vfio;		/* inside vfio_pin_pages() or vfio_unpin_pages() */
	u64 vfio_batches;	/* pin and unpin batches finished so far */
	/* in_vfio or vfio_batches changed, or a request ended */
	wait_queue_head_t req_wq;
};

struct softzip {
	struct sdmdev sdmdev;
	struct mutex lock;	/* queue allocation */
	unsigned int nr_queues;
	struct sz_queue *queues;
};

static unsigned int queues = 2;
module_param(queues, uint, 0444);
MODULE_PARM_DESC(queues, "number of queues (1..64)");

static unsigned int dma_flag = SDMDEV_DMA_MULTI_PROC_MAP;
module_param(dma_flag, uint, 0444);
MODULE_PARM_DESC(dma_flag,
		 "1: single-process mode (one queue in use), 2: one process per queue");

static const struct sdmdev_type sz_types[SZ_NR_TYPES] = {
	[SZ_TYPE_COMP] = { .name = "comp", .flags = SDMDEV_TYPE_COMPRESS },
	[SZ_TYPE_DECOMP] = { .name = "decomp", .flags = SDMDEV_TYPE_DECOMPRESS },
};

static struct sz_queue *to_szq(struct sdmdev_queue *sq)
{
	return container_of(sq, struct sz_queue, sq);
}

/* ---- registers and rings ---- */

static u64 *sz_reg64(struct sz_queue *q, unsigned int off)
{
	return (u64 *)((u8 *)q->mmio + off);
}

static u32 *sz_reg32(struct sz_queue *q, unsigned int off)
{
	return (u32 *)((u8 *)q->mmio + off);
}

static __le32 *sz_sqe(struct sz_queue *q, u16 idx)
{
	return (__le32 *)((u8 *)q->rings + idx * SZ_SQE_SIZE);
}

static u16 db_index(u64 v)
{
	return (v >> 32) & 0xffff;
}

static u16 db_cmd(u64 v)
{
	return (v >> 16) & 0xffff;
}

static u16 db_prio(u64 v)
{
	return (v >> 48) & 0xffff;
}

static u16 sz_sq_tail(struct sz_queue *q)
{
	/* acquire: the entries were written before the doorbell */
	u64 v = smp_load_acquire(sz_reg64(q, SDMDEV_SOFT_DB_SQ));

	if (db_cmd(v) != SZ_DB_CMD_SQ)
		return q->sq_head;
	return db_index(v) % SZ_DEPTH;
}

/* Interrupt wanted and completions the driver has not seen yet: fire. */
static void sz_irq_check(struct sz_queue *q)
{
	if (q->armed && q->cq_tail != q->cq_head) {
		q->armed = false;
		sdmdev_signal_irq(&q->sq);
	}
}

/*
 * Take a CQ doorbell if one was written. The doorbell carries the driver's
 * head, so an arm that races with a completion the driver did not see
 * still fires (the driver re-checks the CQ after arming).
 */
static void sz_consume_cq_db(struct sz_queue *q)
{
	u64 v = xchg(sz_reg64(q, SDMDEV_SOFT_DB_CQ), SZ_DB_EMPTY);

	if (v == SZ_DB_EMPTY || db_cmd(v) != SZ_DB_CMD_CQ)
		return;
	WRITE_ONCE(q->cq_head, db_index(v) % SZ_DEPTH);
	if (db_prio(v) == 1)
		q->armed = true;
	sz_irq_check(q);
}

static void sz_post_cqe(struct sz_queue *q, u16 sqe_idx)
{
	u8 *cqe = (u8 *)q->rings + SZ_CQ_OFF + q->cq_tail * SZ_CQE_SIZE;

	put_unaligned_le32(0, cqe);
	put_unaligned_le16(0, cqe + 4);		/* cmd_id */
	put_unaligned_le16(0, cqe + 6);
	put_unaligned_le16(sqe_idx, cqe + 8);	/* sq_head */
	put_unaligned_le16(0, cqe + 10);	/* sq_num */
	put_unaligned_le16(0, cqe + 12);
	/* release: results and entry before the phase bit */
	smp_store_release((__le16 *)(cqe + 14), cpu_to_le16(q->phase));

	if (++q->cq_tail == SZ_DEPTH) {
		q->cq_tail = 0;
		q->phase ^= 1;
	}
	/*
	 * Completion before the CQ doorbell and notify loads: pairs with the
	 * driver's arm-then-recheck and with sz_mask_notify().
	 */
	smp_mb();
	sz_consume_cq_db(q);
	sz_irq_check(q);
	if (READ_ONCE(q->notify))
		sdmdev_wake_up(&q->sq);
}

/* ---- DMA: pin and map a user range for one request ---- */

/*
 * Pages per vfio_pin_pages() or vfio_unpin_pages() call: the unit of
 * progress sz_dma_unmap() waits for, and how often a request being pinned
 * looks for a revocation. Small enough that one batch takes a fraction of
 * SZ_VFIO_WAIT even on a KASAN kernel under emulation.
 */
#define SZ_VFIO_BATCH		64

/* around one VFIO pin or unpin call, which takes the container's IOMMU lock */
static void sz_vfio_begin(struct sz_queue *q)
{
	WRITE_ONCE(q->in_vfio, true);
	wake_up(&q->req_wq);
}

static void sz_vfio_end(struct sz_queue *q)
{
	WRITE_ONCE(q->vfio_batches, q->vfio_batches + 1);
	WRITE_ONCE(q->in_vfio, false);
	wake_up(&q->req_wq);
}

static void sz_unmap(struct sz_queue *q, struct sz_map *m)
{
	int done, n;

	if (!m->pages)
		return;
	if (m->base)
		vunmap(m->base);
	for (done = 0; done < m->npages; done += n) {
		n = min_t(int, m->npages - done, SZ_VFIO_BATCH);
		sz_vfio_begin(q);
		sdmdev_unpin_pages(&q->sq, m->iova + (dma_addr_t)done * PAGE_SIZE,
				   n);
		sz_vfio_end(q);
	}
	kvfree(m->pages);
	memset(m, 0, sizeof(*m));
}

static bool sz_req_revoked(struct sz_queue *q);

/*
 * Under req_lock, for the running request: 0; -EFAULT when [iova, iova +
 * len) is not (fully) shared or one of the request's ranges was revoked
 * while it was being pinned (checked between batches: a revoked request
 * stops pinning and drops what it has); -EDQUOT when VFIO refused a pin
 * because the process's RLIMIT_MEMLOCK would be exceeded; -ENOMEM when the
 * kernel could not allocate.
 */
static int sz_map(struct sz_queue *q, struct sz_map *m, u64 iova, u64 len,
		  int prot, u8 **ptr)
{
	int npages, done = 0, ret;

	memset(m, 0, sizeof(*m));
	*ptr = NULL;
	if (!len)
		return 0;
	if (iova + len < iova)
		return -EFAULT;

	m->iova = iova & PAGE_MASK;
	npages = (PAGE_ALIGN(iova + len) - m->iova) >> PAGE_SHIFT;
	if (!sdmdev_should_fail())
		m->pages = kvcalloc(npages, sizeof(*m->pages), GFP_KERNEL);
	if (!m->pages)
		return -ENOMEM;
	while (done < npages) {
		int n = min_t(int, npages - done, SZ_VFIO_BATCH);

		if (done && sz_req_revoked(q)) {
			sz_unmap(q, m);
			return -EFAULT;
		}
		sz_vfio_begin(q);
		ret = sdmdev_pin_pages(&q->sq,
				       m->iova + (dma_addr_t)done * PAGE_SIZE,
				       n, prot, m->pages + done);
		sz_vfio_end(q);
		if (ret != n) {
			/* a partial batch: VFIO pinned none of it (6.1) */
			m->npages = done;
			sz_unmap(q, m);
			/* vfio_lock_acct() says -ENOMEM for the memlock limit */
			return ret == -ENOMEM ? -EDQUOT : -EFAULT;
		}
		done += n;
		m->npages = done;
	}
	if (!sdmdev_should_fail())
		m->base = vmap(m->pages, npages, VM_MAP, PAGE_KERNEL);
	if (!m->base) {
		sz_unmap(q, m);
		return -ENOMEM;
	}
	*ptr = (u8 *)m->base + offset_in_page(iova);
	return 0;
}

/*
 * Under req_lock: does the running request touch a range user space is
 * unmapping? Checked before pinning and between chunks, so that an unmap
 * waits for one chunk at most, not for a whole long request.
 */
static bool sz_req_revoked(struct sz_queue *q)
{
	int gen = atomic_read(&q->sq.revoke_gen);

	if (gen == q->req_gen)
		return false;
	if (sdmdev_dma_revoked(&q->sq, q->req_src, q->req_in) ||
	    sdmdev_dma_revoked(&q->sq, q->req_dst, q->req_space))
		return true;
	q->req_gen = gen;	/* other ranges: nothing to do */
	return false;
}

/* ---- compression: the engine is in softzip_stream.c ---- */

static bool sz_stop_revoked(void *arg)
{
	return sz_req_revoked(arg);
}

static u8 sz_compress(struct sz_queue *q, u8 type, u32 flags, int level,
		      const u8 *src, u32 in_len, u8 *dst, u32 space,
		      u32 *produced, u32 *csum_out)
{
	u8 kind = sz_csum_kind(type, (flags & SZ_F_CSUM_MASK) >> SZ_F_CSUM_SHIFT);

	return sz_deflate(&q->zs, type, kind,
			  (flags & SZ_F_PARTIAL) ? SZ_DF_PARTIAL : 0, level,
			  src, in_len, dst, space, produced, csum_out,
			  sz_stop_revoked, q);
}

/* ---- decompression: the stream parser is in softzip_stream.c ---- */

static void sz_dec_start(struct sz_queue *q, u8 type, u8 csum)
{
	sz_stream_start(&q->dec, &q->zs, type, csum);
}

/* a long decompression stops between chunks as a compression does */
static bool sz_dec_stop(void *arg)
{
	return sz_req_revoked(arg);
}

static u8 sz_decompress(struct sz_queue *q, const u8 *src, u32 in_len,
			u8 *dst, u32 space, u32 *consumed, u32 *produced,
			u32 *csum_out)
{
	q->dec.stop = sz_dec_stop;
	q->dec.stop_arg = q;
	return sz_stream_decode(&q->dec, &q->zs, src, in_len, dst, space,
				consumed, produced, csum_out);
}

/* ---- one request ---- */

/* stands in for a zero-length buffer; never read or written */
static u8 sz_empty;

static void sz_do_request(struct sz_queue *q, u16 idx)
{
	__le32 *sqe = sz_sqe(q, idx);
	u32 type = le32_to_cpu(READ_ONCE(sqe[SZ_DW_TYPE])) & 0xff;
	u32 flags = le32_to_cpu(READ_ONCE(sqe[SZ_DW_FLAGS]));
	u32 level = le32_to_cpu(READ_ONCE(sqe[SZ_DW_LEVEL])) & 0xf;
	u32 in_len = le32_to_cpu(READ_ONCE(sqe[SZ_DW_IN_LEN]));
	u32 space = le32_to_cpu(READ_ONCE(sqe[SZ_DW_OUT_SPACE]));
	u64 src = le32_to_cpu(READ_ONCE(sqe[SZ_DW_SRC_LO])) |
		  (u64)le32_to_cpu(READ_ONCE(sqe[SZ_DW_SRC_HI])) << 32;
	u64 dst = le32_to_cpu(READ_ONCE(sqe[SZ_DW_DST_LO])) |
		  (u64)le32_to_cpu(READ_ONCE(sqe[SZ_DW_DST_HI])) << 32;
	u8 csum = (flags & SZ_F_CSUM_MASK) >> SZ_F_CSUM_SHIFT;
	u32 consumed = 0, produced = 0, cs = 0;
	u8 *sp, *dp;
	u8 st;
	int ret;

	if (type == SZ_T_NOP) {
		st = SZ_ST_OK;
		goto done;
	}
	if ((type != SZ_T_RAW && type != SZ_T_ZLIB && type != SZ_T_GZIP) ||
	    (flags & ~SZ_F_ALL) || csum == 3 || level > 9 ||
	    (q->decomp && (flags & SZ_F_PARTIAL)) ||
	    (!q->decomp && (flags & (SZ_F_CONTINUE | SZ_F_BLOCK_END))) ||
	    ((flags & (SZ_F_PARTIAL | SZ_F_BLOCK_END)) && type != SZ_T_RAW) ||
	    ((flags & SZ_F_CONTINUE) &&
	     (!q->dec.open || q->dec.type != type)) ||
	    in_len > SZ_MAX_RANGE || space > SZ_MAX_RANGE) {
		st = SZ_ST_BAD_REQ;
		goto done;
	}

	mutex_lock(&q->req_lock);
	/*
	 * A range being unmapped is not pinned again until the unmap is over
	 * (sdmdev keeps it revoked). sz_dma_unmap() publishes the revocation,
	 * then reads req_seq and waits while that request holds req_lock: a
	 * request counted after that read sees the revocation here.
	 */
	WRITE_ONCE(q->req_seq, q->req_seq + 1);
	/* req_seq before the revocation loads; pairs with sz_dma_unmap() */
	smp_mb();
	q->req_src = src;
	q->req_in = in_len;
	q->req_dst = dst;
	q->req_space = space;
	q->req_gen = atomic_read(&q->sq.revoke_gen) - 1;	/* check now */
	if (sz_req_revoked(q))
		ret = -EFAULT;
	else	/* fault check before any data moves, as an IOMMU would */
		ret = sz_map(q, &q->map[0], src, in_len, IOMMU_READ, &sp);
	if (!ret)
		ret = sz_map(q, &q->map[1], dst, space,
			     IOMMU_READ | IOMMU_WRITE, &dp);
	/* revoked while VFIO pinned (sz_dma_unmap() may not wait for that) */
	if (!ret && sz_req_revoked(q)) {
		sz_unmap(q, &q->map[1]);
		ret = -EFAULT;
	}
	if (ret) {
		sz_unmap(q, &q->map[0]);
		mutex_unlock(&q->req_lock);
		wake_up(&q->req_wq);
		/* a new stream was asked for: the old one is gone anyway */
		if (q->decomp && !(flags & SZ_F_CONTINUE))
			q->dec.open = false;
		if (ret == -EDQUOT)
			st = SZ_ST_MEMLOCK;
		else if (ret == -ENOMEM)
			st = SZ_ST_DEV_ERR;
		else
			st = SZ_ST_DMA_FAULT;
		goto done;
	}

	/* zlib treats a NULL buffer as an error even with length 0 */
	if (!sp)
		sp = &sz_empty;
	if (!dp)
		dp = &sz_empty;

	if (q->decomp) {
		if (!(flags & SZ_F_CONTINUE))
			sz_dec_start(q, type, csum);
		st = sz_decompress(q, sp, in_len, dp, space, &consumed,
				   &produced, &cs);
		/*
		 * BLOCK_END: input that ran out must stop where a block
		 * header starts, byte-aligned, after a block that is not the
		 * last: zlib's data_type is then 128 (mode TYPE, no bits
		 * held, last not seen). Anywhere else is a data error.
		 */
		if ((flags & SZ_F_BLOCK_END) && st == SZ_ST_NEED_INPUT &&
		    q->dec.dt != 128) {
			st = SZ_ST_DATA_ERR;
			q->dec.open = false;
		}
	} else {
		st = sz_compress(q, type, flags, level ? level : 6, sp, in_len,
				 dp, space, &produced, &cs);
		consumed = (st == SZ_ST_OK || st == SZ_ST_NOT_SHRUNK) ?
			   in_len : 0;
		if (consumed != in_len)
			produced = 0;
	}

	sz_unmap(q, &q->map[1]);
	sz_unmap(q, &q->map[0]);
	mutex_unlock(&q->req_lock);
	wake_up(&q->req_wq);
done:
	WRITE_ONCE(sqe[SZ_DW_CONSUMED], cpu_to_le32(consumed));
	WRITE_ONCE(sqe[SZ_DW_PRODUCED], cpu_to_le32(produced));
	WRITE_ONCE(sqe[SZ_DW_STATUS], cpu_to_le32(st));
	WRITE_ONCE(sqe[SZ_DW_CSUM], cpu_to_le32(cs));
	sz_post_cqe(q, idx);
}

/* ---- the queue thread ---- */

static bool sz_has_work(struct sz_queue *q)
{
	return sz_sq_tail(q) != q->sq_head ||
	       READ_ONCE(*sz_reg64(q, SDMDEV_SOFT_DB_CQ)) != SZ_DB_EMPTY;
}

/*
 * How long the thread keeps polling an empty ring before it sleeps. A driver
 * that keeps the queue busy then never has to kick it (a system call).
 */
#define SZ_IDLE_SPIN_NS	(100 * NSEC_PER_USEC)

static int sz_thread(void *data)
{
	struct sz_queue *q = data;
	u32 *idle = sz_reg32(q, SDMDEV_SOFT_IDLE);
	u64 spin_until = local_clock() + SZ_IDLE_SPIN_NS;

	while (!kthread_should_stop()) {
		u16 tail;

		sz_consume_cq_db(q);
		tail = sz_sq_tail(q);
		if (tail != q->sq_head) {
			/* stop only between requests: each read one completes */
			while (q->sq_head != tail && !kthread_should_stop()) {
				sz_do_request(q, q->sq_head);
				q->sq_head = (q->sq_head + 1) % SZ_DEPTH;
			}
			cond_resched();
			spin_until = local_clock() + SZ_IDLE_SPIN_NS;
			continue;
		}
		if (local_clock() < spin_until) {
			cpu_relax();
			cond_resched();
			continue;
		}

		/*
		 * Store idle, then re-check the doorbells: pairs with the
		 * driver's doorbell store then idle load, so either we see
		 * the new tail or the driver sees idle and kicks.
		 */
		WRITE_ONCE(*idle, 1);
		smp_mb(); /* idle store before the doorbell loads */
		if (sz_has_work(q)) {
			WRITE_ONCE(*idle, 0);
			continue;
		}
		wait_event_idle(q->kick_wq, atomic_xchg(&q->kicked, 0) ||
				kthread_should_stop());
		WRITE_ONCE(*idle, 0);
		spin_until = local_clock() + SZ_IDLE_SPIN_NS;
	}
	return 0;
}

static void sz_kick(struct sz_queue *q)
{
	atomic_set(&q->kicked, 1);
	wake_up(&q->kick_wq);
}

/* ---- sdmdev ops ---- */

static void sz_free_queue_mem(struct sz_queue *q)
{
	vfree(q->mmio);
	vfree(q->rings);
	vfree(q->def_ws);
	vfree(q->inf_ws);
	q->mmio = NULL;
	q->rings = NULL;
	q->def_ws = NULL;
	q->inf_ws = NULL;
}

static int sz_get_queue(struct sdmdev *sdmdev, unsigned int type,
			struct sdmdev_queue **out)
{
	struct softzip *sz = sdmdev->priv;
	struct sz_queue *q = NULL;
	unsigned int i;

	if (type >= SZ_NR_TYPES)
		return -EINVAL;
	mutex_lock(&sz->lock);
	for (i = 0; i < sz->nr_queues; i++) {
		if (!sz->queues[i].in_use) {
			q = &sz->queues[i];
			q->in_use = true;
			break;
		}
	}
	mutex_unlock(&sz->lock);
	if (!q)
		return -ENOSPC;

	q->decomp = type == SZ_TYPE_DECOMP;
	q->mmio = vmalloc_user(SZ_MMIO_SIZE);
	/* an injected failure after the first allocation: a partial set */
	if (!sdmdev_should_fail())
		q->rings = vmalloc_user(SZ_RINGS_SIZE);
	if (q->decomp)
		q->inf_ws = vmalloc(zlib_inflate_workspacesize());
	else
		q->def_ws = vmalloc(zlib_deflate_workspacesize(MAX_WBITS,
							       MAX_MEM_LEVEL));
	if (!q->mmio || !q->rings || (!q->inf_ws && !q->def_ws)) {
		sz_free_queue_mem(q);
		mutex_lock(&sz->lock);
		q->in_use = false;
		mutex_unlock(&sz->lock);
		return -ENOMEM;
	}
	*out = &q->sq;
	return 0;
}

static void sz_put_queue(struct sdmdev_queue *sq)
{
	struct sz_queue *q = to_szq(sq);

	sz_free_queue_mem(q);
	mutex_lock(&q->sz->lock);
	q->in_use = false;
	mutex_unlock(&q->sz->lock);
}

static int sz_start_queue(struct sdmdev_queue *sq)
{
	struct sz_queue *q = to_szq(sq);
	struct task_struct *t;

	memset(q->rings, 0, SZ_RINGS_SIZE);
	memset(q->mmio, 0, SZ_MMIO_SIZE);
	*sz_reg64(q, SDMDEV_SOFT_DB_CQ) = SZ_DB_EMPTY;
	*sz_reg32(q, SDMDEV_SOFT_ID) = SDMDEV_SOFT_ID_MAGIC;
	q->sq_head = 0;
	q->cq_tail = 0;
	q->cq_head = 0;
	q->phase = 1;
	q->armed = false;
	q->notify = 0;
	atomic_set(&q->kicked, 0);
	memset(&q->dec, 0, sizeof(q->dec));

	memset(&q->zs, 0, sizeof(q->zs));
	if (q->decomp) {
		q->zs.workspace = q->inf_ws;
		if (zlib_inflateInit2(&q->zs, -MAX_WBITS) != Z_OK)
			return -EINVAL;
	} else {
		q->zs.workspace = q->def_ws;
	}

	if (sdmdev_should_fail())
		t = ERR_PTR(-ENOMEM);
	else
		t = kthread_run(sz_thread, q, "softzip/%u", q->qid);
	if (IS_ERR(t))
		return PTR_ERR(t);
	q->thread = t;
	return 0;
}

/* Returns after the thread finished the request it was working on. */
static void sz_stop_queue(struct sdmdev_queue *sq)
{
	struct sz_queue *q = to_szq(sq);

	if (!q->thread)
		return;
	kthread_stop(q->thread);
	q->thread = NULL;
	if (q->decomp)
		zlib_inflateEnd(&q->zs);
}

static int sz_mmap(struct sdmdev_queue *sq, unsigned int region,
		   struct vm_area_struct *vma)
{
	struct sz_queue *q = to_szq(sq);
	void *mem = region == SDMDEV_REGION_MMIO ? q->mmio : q->rings;

	return remap_vmalloc_range(vma, mem, 0);
}

static bool sz_is_q_updated(struct sdmdev_queue *sq)
{
	struct sz_queue *q = to_szq(sq);
	u64 v = READ_ONCE(*sz_reg64(q, SDMDEV_SOFT_DB_CQ));
	u16 head = READ_ONCE(q->cq_head);

	/* a CQ doorbell the thread has not taken yet is the newer head */
	if (v != SZ_DB_EMPTY && db_cmd(v) == SZ_DB_CMD_CQ)
		head = db_index(v) % SZ_DEPTH;
	return READ_ONCE(q->cq_tail) != head;
}

static void sz_mask_notify(struct sdmdev_queue *sq, u32 events)
{
	struct sz_queue *q = to_szq(sq);

	WRITE_ONCE(q->notify, !!(events & SDMDEV_EVENT_Q_UPDATE));
	/*
	 * Pairs with the barrier between a completion and the notify load
	 * in sz_post_cqe(): the waiter then either sees the completion in
	 * its wait condition or the thread sees notify and wakes it.
	 */
	smp_mb();
	/* a waiter may have skipped the kick: let the device look again */
	if (events)
		sz_kick(q);
}

static long sz_ioctl(struct sdmdev_queue *sq, unsigned int cmd,
		     unsigned long arg)
{
	if (cmd != VFIO_SDMDEV_CMD_KICK)
		return -ENOTTY;
	sz_kick(to_szq(sq));
	return 0;
}

static unsigned int sz_available(struct sdmdev *sdmdev, unsigned int type)
{
	struct softzip *sz = sdmdev->priv;
	unsigned int i, n = 0;

	mutex_lock(&sz->lock);
	for (i = 0; i < sz->nr_queues; i++)
		n += !sz->queues[i].in_use;
	mutex_unlock(&sz->lock);
	return n;
}

/* the request that was running at @seq (if any) has ended */
static bool sz_req_done(struct sz_queue *q, u64 seq)
{
	return !mutex_is_locked(&q->req_lock) || READ_ONCE(q->req_seq) != seq;
}

/*
 * How long a dma_unmap() waits for a request inside VFIO's pin or unpin to
 * finish one batch (SZ_VFIO_BATCH pages) before it gives VFIO a round back.
 */
#define SZ_VFIO_WAIT	(2 * HZ)

/*
 * User space unshares a range; sdmdev revoked it already. Pins live only
 * while a request runs, under req_lock: wait for that request to finish or
 * to stop at its next chunk and drop its pins; every later request sees
 * the revocation before it pins, and again after.
 *
 * A request inside VFIO's pin or unpin is waited for as long as it makes
 * progress: each batch it finishes restarts the wait, so pinning or
 * unpinning the largest request fits in one of VFIO's rounds whatever the
 * machine's speed (type1 BUGs after 10 rounds that still find pins). It may
 * also be waiting for the container's IOMMU lock, which type1 (6.1) lets
 * another UNMAP_DMA, or a device of the container being opened or closed,
 * hold while it waits for the device list lock held around this callback:
 * then no batch ends, and after SZ_VFIO_WAIT without one this returns.
 * VFIO drops the list lock and looks for pins again, the request gets the
 * IOMMU lock, sees the revocation and stops pinning or unpins, and the
 * next round waits for that. Each such stall costs one of VFIO's retries.
 */
static void sz_dma_unmap(struct sdmdev_queue *sq, u64 iova, u64 len)
{
	struct sz_queue *q = to_szq(sq);
	u64 seq;

	/* the revocation before req_seq; pairs with sz_do_request() */
	smp_mb();
	seq = READ_ONCE(q->req_seq);
	while (!sz_req_done(q, seq)) {
		if (READ_ONCE(q->in_vfio)) {
			u64 batches = READ_ONCE(q->vfio_batches);

			if (!wait_event_timeout(q->req_wq,
						READ_ONCE(q->vfio_batches) !=
						batches ||
						!READ_ONCE(q->in_vfio) ||
						sz_req_done(q, seq),
						SZ_VFIO_WAIT))
				return;
		} else {
			wait_event(q->req_wq, READ_ONCE(q->in_vfio) ||
				   sz_req_done(q, seq));
		}
	}
}

static const struct sdmdev_ops sz_ops = {
	.get_queue = sz_get_queue,
	.put_queue = sz_put_queue,
	.start_queue = sz_start_queue,
	.stop_queue = sz_stop_queue,
	.mmap = sz_mmap,
	.is_q_updated = sz_is_q_updated,
	.mask_notify = sz_mask_notify,
	.ioctl = sz_ioctl,
	.get_available_instances = sz_available,
	.dma_unmap = sz_dma_unmap,
};

/* ---- platform glue ---- */

static int sz_probe(struct platform_device *pdev)
{
	struct softzip *sz;
	unsigned int i;
	int ret;

	if (!queues || queues > 64)
		return -EINVAL;
	if (dma_flag != SDMDEV_DMA_SINGLE_PROC_MAP &&
	    dma_flag != SDMDEV_DMA_MULTI_PROC_MAP)
		return -EINVAL;

	sz = devm_kzalloc(&pdev->dev, sizeof(*sz), GFP_KERNEL);
	if (!sz)
		return -ENOMEM;
	sz->queues = devm_kcalloc(&pdev->dev, queues, sizeof(*sz->queues),
				  GFP_KERNEL);
	if (!sz->queues)
		return -ENOMEM;
	mutex_init(&sz->lock);
	sz->nr_queues = queues;
	for (i = 0; i < queues; i++) {
		struct sz_queue *q = &sz->queues[i];

		q->sz = sz;
		q->qid = i;
		init_waitqueue_head(&q->kick_wq);
		init_waitqueue_head(&q->req_wq);
		mutex_init(&q->req_lock);
	}

	sz->sdmdev.dev = &pdev->dev;
	sz->sdmdev.owner = THIS_MODULE;
	sz->sdmdev.ops = &sz_ops;
	sz->sdmdev.api_ver = SZ_API;
	sz->sdmdev.types = sz_types;
	sz->sdmdev.nr_types = SZ_NR_TYPES;
	sz->sdmdev.iommu_type = VFIO_TYPE1v2_IOMMU;	/* pinning needs v2 */
	sz->sdmdev.dma_flag = dma_flag;
	sz->sdmdev.region_size[SDMDEV_REGION_MMIO] = SZ_MMIO_SIZE;
	sz->sdmdev.region_size[SDMDEV_REGION_RINGS] = SZ_RINGS_SIZE;
	sz->sdmdev.priv = sz;

	ret = sdmdev_register(&sz->sdmdev);
	if (ret)
		return ret;
	platform_set_drvdata(pdev, sz);
	dev_info(&pdev->dev, "%u queues, dma_flag %u\n", queues, dma_flag);
	return 0;
}

static int sz_remove(struct platform_device *pdev)
{
	struct softzip *sz = platform_get_drvdata(pdev);

	sdmdev_unregister(&sz->sdmdev);
	return 0;
}

static struct platform_driver sz_driver = {
	.driver = { .name = SZ_NAME },
	.probe = sz_probe,
	.remove = sz_remove,
};

static struct platform_device *sz_pdev;

static int __init softzip_init(void)
{
	int ret;

	ret = platform_driver_register(&sz_driver);
	if (ret)
		return ret;
	sz_pdev = platform_device_register_simple(SZ_NAME, -1, NULL, 0);
	if (IS_ERR(sz_pdev)) {
		platform_driver_unregister(&sz_driver);
		return PTR_ERR(sz_pdev);
	}
	/* the parameters are checked in probe: fail the load, not later */
	if (!platform_get_drvdata(sz_pdev)) {
		platform_device_unregister(sz_pdev);
		platform_driver_unregister(&sz_driver);
		return -EINVAL;
	}
	return 0;
}

static void __exit softzip_exit(void)
{
	platform_device_unregister(sz_pdev);
	platform_driver_unregister(&sz_driver);
}

module_init(softzip_init);
module_exit(softzip_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("softzip: software ZIP queues for sdmdev (hisi_qm_v1)");
