// SPDX-License-Identifier: GPL-2.0
/*
 * uacce_softzip: a software HiSilicon ZIP function (QM v2) behind the
 * mainline uacce module, for machines and CI guests without the hardware.
 *
 * It registers with uacce as drivers/crypto/hisilicon/qm.c registers a
 * hisi_zip function: api "hisi_qm_v2", the algorithms hisi_zip lists, a
 * two-page MMIO region with the SQ/CQ doorbell at 0x1000, and a DUS region
 * holding the submission ring (128-byte ZIP entries), the completion ring
 * (16-byte entries with the phase bit and sq_head) and the status page.
 * UACCE_CMD_QM_SET_QP_CTX picks compression (0) or decompression (1).
 *
 * A kernel thread per started queue samples the doorbell, runs the requests
 * with softzip's engine (softzip_stream.c) and posts completions, waking
 * poll() through uacce's wait queue. Requests carry the opener's virtual
 * addresses, as on SVA hardware: the queue holds the opener's mm and the
 * thread works inside it with the user-access helpers, so an address the
 * process has not mapped completes that request with a fault status and
 * nothing else is ever reachable.
 *
 * What differs from the hardware is in docs/abi.md ("hisi_qm v2 and v3
 * through uacce").
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/kthread.h>
#include <linux/sched/clock.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <linux/slab.h>
#include <linux/bitmap.h>
#include <linux/uaccess.h>
#include <linux/uacce.h>
#include <linux/zlib.h>
#include <uapi/misc/uacce/hisi_qm.h>
#include "softzip_stream.h"

#define UZ_DRV			"uacce_softzip"
#define UZ_NAME			"hisi_zip"	/* what hisi_zip registers as */
#define UZ_ALGS			"zlib\ngzip\ndeflate"	/* zip_main.c, QM v2 */

/* qm.c: QM_QP_DEPTH_CAP default (0x4000400): SQ and CQ depth 1024 */
#define UZ_DEPTH		1024
#define UZ_SQE_SIZE		128	/* zip_main.c HZIP_SQE_SIZE */
#define UZ_CQE_SIZE		16	/* qm_common.h struct qm_cqe */
#define UZ_CQ_OFF		(UZ_DEPTH * UZ_SQE_SIZE)
/* qm.c hisi_qm_memory_init(): rings, page aligned, then the status page */
#define UZ_DUS_SIZE		(PAGE_ALIGN(UZ_CQ_OFF + UZ_DEPTH * UZ_CQE_SIZE) + \
				 PAGE_SIZE)
/* hisi_acc_qm.h: QM_DOORBELL_PAGE_NR + QM_DOORBELL_SQ_CQ_BASE_V2 / PAGE_SIZE */
#define UZ_DB_OFF		0x1000
#define UZ_MMIO_SIZE		(PAGE_SIZE + UZ_DB_OFF)

/* the v2 doorbell (qm.c qm_db_v2()) */
#define UZ_DB_QN(v)		((u16)((v) & 0xfff))
#define UZ_DB_CMD(v)		((u8)(((v) >> 12) & 0xf))
#define UZ_DB_INDEX(v)		((u16)((v) >> 32))
#define UZ_DB_CMD_SQ		0
#define UZ_DB_NONE		(~0ULL)	/* command 0xf: nothing rung */

/* status page (qm.c qm_set_qp_disable()): u32s counted from the end */
#define UZ_STOP_TX_OFF		(UZ_DUS_SIZE - 4)
#define UZ_STOP_RX_OFF		(UZ_DUS_SIZE - 8)

/* hisi_zip_sqe words (zip.h; UADK drv/hisi_comp.c) */
#define UZ_W_CONSUMED		0
#define UZ_W_PRODUCED		1
#define UZ_W_STATUS		3
#define UZ_W_IN_LEN		4
#define UZ_W_DW7		7
#define UZ_W_DW9		9
#define UZ_W_OUT_SPACE		14
#define UZ_W_SRC_LO		18
#define UZ_W_SRC_HI		19
#define UZ_W_DST_LO		20
#define UZ_W_DST_HI		21
#define UZ_W_ISIZE		30
#define UZ_W_CSUM		31
#define UZ_DW7_FINISH		BIT(25)	/* flush_type: 1 finish, 0 sync flush */
#define UZ_DW7_STATEFUL		BIT(26)	/* stream_mode */
#define UZ_DW7_NEW		BIT(27)	/* stream_new: a stream's first request */
#define UZ_DW9_REQ(v)		((v) & 0xff)
#define UZ_DW9_BUF(v)		(((v) >> 8) & 0xf)
#define UZ_REQ_DEFLATE		1
#define UZ_REQ_ZLIB		2
#define UZ_REQ_GZIP		3
#define UZ_LSTBLK		BIT(8)	/* dw3: the stream's last block was seen */

/* dw3 status: UADK's codes where it names one, softzip's for the rest */
#define UZ_ST_OK		0x00
#define UZ_ST_NEGACOMPRESS	0x0d	/* output not smaller than input */
#define UZ_ST_DSTLEN_OUT	0x0e	/* dest_avail_out too small */
#define UZ_ST_CRC_ERR		0x10
#define UZ_ST_DECOMP_END	0x13
#define UZ_ST_DATA_ERR		SZ_ST_DATA_ERR
#define UZ_ST_FAULT		SZ_ST_DMA_FAULT
#define UZ_ST_BAD_REQ		SZ_ST_BAD_REQ
#define UZ_ST_DEV_ERR		SZ_ST_DEV_ERR

/* UADK HZ_MAX_SIZE: the most one entry moves each way */
#define UZ_MAX_LEN		(8U << 20)

/* the thread polls an idle ring this long, then naps up to UZ_NAP_MAX */
#define UZ_SPIN_NS		(100 * NSEC_PER_USEC)
#define UZ_NAP_MAX		(HZ / 100 ? HZ / 100 : 1)

struct uz_dev;

struct uz_queue {
	struct uz_dev *uz;
	struct uacce_queue *uq;
	u16 qp_id;
	u16 alg_type;		/* 0 compress, 1 decompress (QP_CTX) */

	void *mmio;		/* UACCE_QFRT_MMIO */
	void *dus;		/* UACCE_QFRT_DUS */
	struct mm_struct *mm;	/* the opener's, mmgrab()ed */

	z_stream def;		/* workspace: deflate */
	z_stream inf;		/* workspace: inflate, set up once */
	struct sz_decoder dec;

	struct task_struct *thread;
	wait_queue_head_t kick_wq;
	atomic_t kicked;

	/* ring state, owned by the thread */
	u16 sq_head;
	u16 sq_tail;		/* from the last SQ doorbell seen */
	u16 cq_tail;
	u8 phase;

	/* what poll() has reported, under uacce's q->mutex (qm.c's cq_head) */
	u16 poll_head;
	u8 poll_phase;
};

struct uz_dev {
	struct platform_device *pdev;
	struct uacce_device *uacce;
	struct mutex lock;	/* qp allocation */
	unsigned long *used;
	unsigned int in_use;
};

static unsigned int queues = 8;
module_param(queues, uint, 0444);
MODULE_PARM_DESC(queues, "number of queue pairs (1..64)");

/* stands in for a zero-length buffer; never read or written */
static u8 uz_empty;

static u32 *uz_sqe(struct uz_queue *q, u16 idx)
{
	return q->dus + (size_t)idx * UZ_SQE_SIZE;
}

static __le16 *uz_cqe(struct uz_queue *q, u16 idx)
{
	return q->dus + UZ_CQ_OFF + (size_t)(idx % UZ_DEPTH) * UZ_CQE_SIZE;
}

static u64 *uz_db(struct uz_queue *q)
{
	return q->mmio + UZ_DB_OFF;
}

/*
 * The doorbell is one 64-bit word for both commands: the thread samples it
 * and takes the tail of an SQ doorbell for this queue. Tails are absolute,
 * so a later SQ doorbell stands for any earlier one.
 */
static void uz_read_db(struct uz_queue *q)
{
	u64 v = READ_ONCE(*uz_db(q));

	if (UZ_DB_CMD(v) == UZ_DB_CMD_SQ && UZ_DB_QN(v) == q->qp_id &&
	    UZ_DB_INDEX(v) < UZ_DEPTH)
		q->sq_tail = UZ_DB_INDEX(v);
	/* the SQ entries before the tail were written before the doorbell */
	smp_rmb();
}

static void uz_post_cqe(struct uz_queue *q, u16 sqe_idx)
{
	__le16 *cqe = uz_cqe(q, q->cq_tail);

	WRITE_ONCE(cqe[4], cpu_to_le16(sqe_idx));	/* sq_head */
	WRITE_ONCE(cqe[5], cpu_to_le16(q->qp_id));	/* sq_num */
	/* the entry's write-back and the CQE body before the phase bit */
	smp_wmb();
	WRITE_ONCE(cqe[7], cpu_to_le16(q->phase));	/* w7: phase, status 0 */
	if (++q->cq_tail == UZ_DEPTH) {
		q->cq_tail = 0;
		q->phase ^= 1;
	}
	wake_up_interruptible(&q->uq->wait);
}

/* ---- one request ---- */

static u8 uz_sz_type(u32 req)
{
	return req == UZ_REQ_ZLIB ? SZ_T_ZLIB :
	       req == UZ_REQ_GZIP ? SZ_T_GZIP : SZ_T_RAW;
}

static u8 uz_compress(struct uz_queue *q, u8 type, bool partial,
		      const u8 *src, u32 in_len, u8 *dst, u32 space,
		      u32 *consumed, u32 *produced, u32 *csum)
{
	u8 st = sz_deflate(&q->def, type, sz_csum_kind(type, SZ_CSUM_FORMAT),
			   SZ_DF_NO_HEADER | (partial ? SZ_DF_PARTIAL : 0), 6,
			   src, in_len, dst, space, produced, csum, NULL, NULL);

	switch (st) {
	case SZ_ST_OK:
	case SZ_ST_NOT_SHRUNK:
		*consumed = in_len;
		return st == SZ_ST_OK ? UZ_ST_OK : UZ_ST_NEGACOMPRESS;
	case SZ_ST_OUT_SMALL:
		st = UZ_ST_DSTLEN_OUT;
		break;
	default:
		st = UZ_ST_BAD_REQ;
	}
	*produced = 0;
	*csum = 0;
	return st;
}

/*
 * @mode: the entry's dw7 stream bits. A stateful request leaves the stream
 * open when it stops for input or output room; a stateful request that is
 * not new goes on with it (uz_do_request() checked that one is open). The
 * state stays here, not in the stream context buffer the entry names.
 */
static u8 uz_decompress(struct uz_queue *q, u8 type, u32 mode, const u8 *src,
			u32 in_len, u8 *dst, u32 space, u32 *consumed,
			u32 *produced, u32 *csum, bool *last)
{
	u8 st;

	if (!(mode & UZ_DW7_STATEFUL) || (mode & UZ_DW7_NEW)) {
		/* the driver has consumed the zlib/gzip header (UADK does) */
		if (type == SZ_T_RAW)
			sz_stream_start(&q->dec, &q->inf, type, SZ_CSUM_FORMAT);
		else
			sz_stream_start_body(&q->dec, &q->inf, type,
					     SZ_CSUM_FORMAT);
	}
	st = sz_stream_decode(&q->dec, &q->inf, src, in_len, dst, space,
			      consumed, produced, csum);
	if (!(mode & UZ_DW7_STATEFUL))
		q->dec.open = false;
	switch (st) {
	case SZ_ST_OK:
		*last = true;
		return UZ_ST_DECOMP_END;
	case SZ_ST_NEED_INPUT:
		return UZ_ST_OK;	/* no last block: the input ended early */
	case SZ_ST_OUT_SMALL:
		return UZ_ST_DSTLEN_OUT;
	case SZ_ST_CSUM_ERR:
		return UZ_ST_CRC_ERR;
	default:
		return UZ_ST_DATA_ERR;
	}
}

/*
 * Copy between the bounce buffer and the opener's memory as an SVA device's
 * page requests resolve: a page that is not present is faulted in with
 * fixup_user_fault() and no FAULT_FLAG_ALLOW_RETRY, as the IOMMU's fault
 * handler does, so a fault nobody serves (userfaultfd) fails at once
 * instead of waiting. Runs inside kthread_use_mm(). Returns 0 or -EFAULT.
 */
static int uz_copy(struct uz_queue *q, u8 *kbuf, u64 uaddr, u32 len,
		   bool to_user)
{
	unsigned int stuck = 0;

	while (len) {
		unsigned long left;
		int ret;

		pagefault_disable();
		if (to_user)
			left = copy_to_user(u64_to_user_ptr(uaddr), kbuf, len);
		else
			left = copy_from_user(kbuf, u64_to_user_ptr(uaddr), len);
		pagefault_enable();
		if (left < len) {
			stuck = 0;
			kbuf += len - left;
			uaddr += len - left;
			len = left;
			continue;
		}
		/* no progress even after a successful fault-in: give up */
		if (++stuck > 4)
			return -EFAULT;
		if (uaddr > TASK_SIZE_MAX)
			return -EFAULT;
		mmap_read_lock(q->mm);
		ret = fixup_user_fault(q->mm, uaddr,
				       to_user ? FAULT_FLAG_WRITE : 0, NULL);
		mmap_read_unlock(q->mm);
		if (ret)
			return -EFAULT;
		cond_resched();
	}
	return 0;
}

/*
 * Copy the input in, run the engine, copy the output out, inside the
 * opener's address space. Returns the dw3 status.
 */
static u8 uz_run(struct uz_queue *q, bool decomp, u32 req, u32 mode, u64 src,
		 u32 in_len, u64 dst, u32 space, u32 *consumed, u32 *produced,
		 u32 *csum, bool *last)
{
	u8 type = uz_sz_type(req);
	u8 *in = NULL, *out = NULL;
	u8 st = UZ_ST_FAULT;

	if (in_len) {
		in = kvmalloc(in_len, GFP_KERNEL | __GFP_NOWARN);
		if (!in)
			return UZ_ST_DEV_ERR;
	}
	if (space) {
		out = kvmalloc(space, GFP_KERNEL | __GFP_NOWARN);
		if (!out) {
			kvfree(in);
			return UZ_ST_DEV_ERR;
		}
	}
	/* a process that has exited has no address space left to reach */
	if (!mmget_not_zero(q->mm))
		goto out_free;
	kthread_use_mm(q->mm);
	if (in_len && uz_copy(q, in, src, in_len, false))
		goto out_unuse;
	if (decomp)
		st = uz_decompress(q, type, mode, in ? in : &uz_empty, in_len,
				   out ? out : &uz_empty, space, consumed,
				   produced, csum, last);
	else
		st = uz_compress(q, type, (mode & UZ_DW7_STATEFUL) &&
				 !(mode & UZ_DW7_FINISH),
				 in ? in : &uz_empty, in_len,
				 out ? out : &uz_empty, space, consumed,
				 produced, csum);
	if (*produced && uz_copy(q, out, dst, *produced, true)) {
		*consumed = 0;
		*produced = 0;
		*last = false;
		st = UZ_ST_FAULT;
	}
out_unuse:
	kthread_unuse_mm(q->mm);
	mmput(q->mm);
out_free:
	kvfree(out);
	kvfree(in);
	return st;
}

static void uz_do_request(struct uz_queue *q, u16 idx)
{
	u32 *sqe = uz_sqe(q, idx);
	u32 dw7 = le32_to_cpu(READ_ONCE(sqe[UZ_W_DW7]));
	u32 dw9 = le32_to_cpu(READ_ONCE(sqe[UZ_W_DW9]));
	u32 in_len = le32_to_cpu(READ_ONCE(sqe[UZ_W_IN_LEN]));
	u32 space = le32_to_cpu(READ_ONCE(sqe[UZ_W_OUT_SPACE]));
	u64 src = le32_to_cpu(READ_ONCE(sqe[UZ_W_SRC_LO])) |
		  (u64)le32_to_cpu(READ_ONCE(sqe[UZ_W_SRC_HI])) << 32;
	u64 dst = le32_to_cpu(READ_ONCE(sqe[UZ_W_DST_LO])) |
		  (u64)le32_to_cpu(READ_ONCE(sqe[UZ_W_DST_HI])) << 32;
	u32 req = UZ_DW9_REQ(dw9);
	bool decomp = READ_ONCE(q->alg_type);
	u32 mode = dw7 & (UZ_DW7_FINISH | UZ_DW7_STATEFUL | UZ_DW7_NEW);
	bool stateful = mode & UZ_DW7_STATEFUL, is_new = mode & UZ_DW7_NEW;
	u32 consumed = 0, produced = 0, csum = 0;
	bool last = false;
	u8 st;

	/*
	 * What UADK itself would pass to the hardware, flat buffers only.
	 * Streams: a compression is whole, or a new stateful stream of one raw
	 * piece ending in a sync flush (no history is kept between pieces); a
	 * decompression goes on only with the open stream of its type.
	 */
	if ((req != UZ_REQ_DEFLATE && req != UZ_REQ_ZLIB &&
	     req != UZ_REQ_GZIP) || UZ_DW9_BUF(dw9) || in_len > UZ_MAX_LEN ||
	    (!decomp && stateful &&
	     (!is_new || (!(mode & UZ_DW7_FINISH) && req != UZ_REQ_DEFLATE))) ||
	    (decomp && stateful && !is_new &&
	     (!q->dec.open || q->dec.type != uz_sz_type(req)))) {
		st = UZ_ST_BAD_REQ;
		/* a request that should have gone on with a stream ends it */
		if (decomp && stateful && !is_new)
			q->dec.open = false;
	} else {
		st = uz_run(q, decomp, req, mode, src, in_len, dst,
			    min_t(u32, space, UZ_MAX_LEN), &consumed,
			    &produced, &csum, &last);
	}
	/* a stream that faulted or failed is over */
	if (decomp && (st == UZ_ST_FAULT || st == UZ_ST_DEV_ERR))
		q->dec.open = false;

	WRITE_ONCE(sqe[UZ_W_CONSUMED], cpu_to_le32(consumed));
	WRITE_ONCE(sqe[UZ_W_PRODUCED], cpu_to_le32(produced));
	WRITE_ONCE(sqe[UZ_W_STATUS], cpu_to_le32(st | (last ? UZ_LSTBLK : 0)));
	WRITE_ONCE(sqe[UZ_W_ISIZE],
		   cpu_to_le32(decomp ? produced : consumed));
	WRITE_ONCE(sqe[UZ_W_CSUM], cpu_to_le32(csum));
	uz_post_cqe(q, idx);
}

/* ---- the queue thread ---- */

static int uz_thread(void *data)
{
	struct uz_queue *q = data;
	u64 spin_until = local_clock() + UZ_SPIN_NS;
	long nap = 1;

	/* stop_queue() sends SIGKILL to end a fault that blocks (a slow file) */
	allow_signal(SIGKILL);
	while (!kthread_should_stop()) {
		uz_read_db(q);
		if (q->sq_head != q->sq_tail) {
			/* stop only between requests: each one read completes */
			while (q->sq_head != q->sq_tail &&
			       !kthread_should_stop()) {
				uz_do_request(q, q->sq_head);
				q->sq_head = (q->sq_head + 1) % UZ_DEPTH;
				uz_read_db(q);
				cond_resched();
			}
			spin_until = local_clock() + UZ_SPIN_NS;
			nap = 1;
			continue;
		}
		if (local_clock() < spin_until) {
			cpu_relax();
			cond_resched();
			continue;
		}
		/*
		 * A doorbell store is not a trap: nap, and look again. poll()
		 * kicks the thread, so a waiting driver is not kept waiting.
		 */
		if (wait_event_idle_timeout(q->kick_wq,
					    atomic_xchg(&q->kicked, 0) ||
					    kthread_should_stop(), nap)) {
			nap = 1;
			spin_until = local_clock() + UZ_SPIN_NS;
		} else {
			nap = min_t(long, nap * 2, UZ_NAP_MAX);
		}
	}
	return 0;
}

static void uz_kick(struct uz_queue *q)
{
	atomic_set(&q->kicked, 1);
	wake_up(&q->kick_wq);
}

/* ---- uacce ops ---- */

static int uz_get_available_instances(struct uacce_device *uacce)
{
	struct uz_dev *uz = uacce->priv;
	int n;

	mutex_lock(&uz->lock);
	n = queues - uz->in_use;
	mutex_unlock(&uz->lock);
	return n;
}

static void uz_free_queue(struct uz_queue *q)
{
	vfree(q->mmio);
	vfree(q->dus);
	kvfree(q->def.workspace);
	kvfree(q->inf.workspace);
	kfree(q);
}

static int uz_get_queue(struct uacce_device *uacce, unsigned long arg,
			struct uacce_queue *uq)
{
	struct uz_dev *uz = uacce->priv;
	struct uz_queue *q;
	unsigned int id;

	if (!current->mm)
		return -EINVAL;
	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q)
		return -ENOMEM;
	q->mmio = vmalloc_user(UZ_MMIO_SIZE);
	q->dus = vmalloc_user(UZ_DUS_SIZE);
	q->def.workspace = kvmalloc(zlib_deflate_workspacesize(MAX_WBITS,
								MAX_MEM_LEVEL),
				    GFP_KERNEL);
	q->inf.workspace = kvmalloc(zlib_inflate_workspacesize(), GFP_KERNEL);
	if (!q->mmio || !q->dus || !q->def.workspace || !q->inf.workspace ||
	    zlib_inflateInit2(&q->inf, -MAX_WBITS) != Z_OK) {
		uz_free_queue(q);
		return -ENOMEM;
	}

	mutex_lock(&uz->lock);
	id = find_first_zero_bit(uz->used, queues);
	if (id >= queues) {
		mutex_unlock(&uz->lock);
		uz_free_queue(q);
		return -EBUSY;
	}
	set_bit(id, uz->used);
	uz->in_use++;
	mutex_unlock(&uz->lock);

	q->uz = uz;
	q->uq = uq;
	q->qp_id = id;
	init_waitqueue_head(&q->kick_wq);
	WRITE_ONCE(*uz_db(q), UZ_DB_NONE);
	/* the address space requests are served in, as an SVA bond would */
	q->mm = current->mm;
	mmgrab(q->mm);
	uq->priv = q;
	return 0;
}

static void uz_stop_queue(struct uacce_queue *uq)
{
	struct uz_queue *q = uq->priv;

	if (!q->thread)
		return;
	/* ends a wait in a fault that blocks, such as a slow file's read */
	send_sig(SIGKILL, q->thread, 1);
	kthread_stop(q->thread);
	q->thread = NULL;
}

static void uz_put_queue(struct uacce_queue *uq)
{
	struct uz_queue *q = uq->priv;
	struct uz_dev *uz = q->uz;
	u32 *stop_tx = q->dus + UZ_STOP_TX_OFF;
	u32 *stop_rx = q->dus + UZ_STOP_RX_OFF;

	uz_stop_queue(uq);
	/* as qm.c tells a queue's user the function is gone */
	WRITE_ONCE(*stop_tx, 1);
	WRITE_ONCE(*stop_rx, 1);
	mmdrop(q->mm);
	mutex_lock(&uz->lock);
	clear_bit(q->qp_id, uz->used);
	uz->in_use--;
	mutex_unlock(&uz->lock);
	uq->priv = NULL;
	uz_free_queue(q);
}

static int uz_start_queue(struct uacce_queue *uq)
{
	struct uz_queue *q = uq->priv;
	struct task_struct *t;

	/* a fresh queue pair, as hisi_qm_start_qp() programs one */
	memset(q->dus + UZ_CQ_OFF, 0, UZ_DEPTH * UZ_CQE_SIZE);
	memset(q->dus + UZ_STOP_RX_OFF, 0, 8);
	WRITE_ONCE(*uz_db(q), UZ_DB_NONE);
	q->sq_head = 0;
	q->sq_tail = 0;
	q->cq_tail = 0;
	q->phase = 1;
	q->poll_head = 0;
	q->poll_phase = 1;
	atomic_set(&q->kicked, 0);
	t = kthread_run(uz_thread, q, UZ_DRV "/%u", q->qp_id);
	if (IS_ERR(t))
		return PTR_ERR(t);
	q->thread = t;
	return 0;
}

static int uz_is_q_updated(struct uacce_queue *uq)
{
	struct uz_queue *q = uq->priv;
	int updated = 0, n;
	u64 db;

	/* a driver about to sleep has rung: do not leave it to the nap */
	db = READ_ONCE(*uz_db(q));
	if (UZ_DB_CMD(db) == UZ_DB_CMD_SQ && UZ_DB_QN(db) == q->qp_id)
		uz_kick(q);

	/*
	 * As qm.c: report each completion to one poll() only. The CQ is
	 * writable by the process: at most one lap per call.
	 */
	for (n = 0; n < UZ_DEPTH &&
	     (le16_to_cpu(READ_ONCE(uz_cqe(q, q->poll_head)[7])) & 1) ==
	     q->poll_phase; n++) {
		if (++q->poll_head == UZ_DEPTH) {
			q->poll_head = 0;
			q->poll_phase ^= 1;
		}
		updated = 1;
	}
	return updated;
}

static int uz_mmap(struct uacce_queue *uq, struct vm_area_struct *vma,
		   struct uacce_qfile_region *qfr)
{
	struct uz_queue *q = uq->priv;
	size_t sz = vma->vm_end - vma->vm_start;

	switch (qfr->type) {
	case UACCE_QFRT_MMIO:
		if (sz > UZ_MMIO_SIZE)
			return -EINVAL;
		return remap_vmalloc_range(vma, q->mmio, 0);
	case UACCE_QFRT_DUS:
		if (sz != UZ_DUS_SIZE)
			return -EINVAL;
		return remap_vmalloc_range(vma, q->dus, 0);
	default:
		return -EINVAL;
	}
}

static long uz_ioctl(struct uacce_queue *uq, unsigned int cmd,
		     unsigned long arg)
{
	struct uz_queue *q = uq->priv;
	struct hisi_qp_info info;
	struct hisi_qp_ctx ctx;

	if (cmd == UACCE_CMD_QM_SET_QP_CTX) {
		if (copy_from_user(&ctx, (void __user *)arg, sizeof(ctx)))
			return -EFAULT;
		if (ctx.qc_type != 0 && ctx.qc_type != 1)
			return -EINVAL;
		WRITE_ONCE(q->alg_type, ctx.qc_type);
		ctx.id = q->qp_id;
		if (copy_to_user((void __user *)arg, &ctx, sizeof(ctx)))
			return -EFAULT;
		return 0;
	}
	if (cmd == UACCE_CMD_QM_SET_QP_INFO) {
		if (copy_from_user(&info, (void __user *)arg, sizeof(info)))
			return -EFAULT;
		info.sqe_size = UZ_SQE_SIZE;
		info.sq_depth = UZ_DEPTH;
		info.cq_depth = UZ_DEPTH;
		if (copy_to_user((void __user *)arg, &info, sizeof(info)))
			return -EFAULT;
		return 0;
	}
	return -EINVAL;
}

static const struct uacce_ops uz_ops = {
	.get_available_instances = uz_get_available_instances,
	.get_queue = uz_get_queue,
	.put_queue = uz_put_queue,
	.start_queue = uz_start_queue,
	.stop_queue = uz_stop_queue,
	.is_q_updated = uz_is_q_updated,
	.mmap = uz_mmap,
	.ioctl = uz_ioctl,
};

/* ---- module ---- */

static struct uz_dev *uz_dev;

static int __init uacce_softzip_init(void)
{
	struct uacce_interface iface = {
		.name = UZ_NAME,
		/* no IOMMU: the thread reaches the opener's mm itself */
		.flags = 0,
		.ops = &uz_ops,
	};
	struct uz_dev *uz;
	int ret;

	if (!queues || queues > 64)
		return -EINVAL;
	uz = kzalloc(sizeof(*uz), GFP_KERNEL);
	if (!uz)
		return -ENOMEM;
	mutex_init(&uz->lock);
	uz->used = bitmap_zalloc(queues, GFP_KERNEL);
	if (!uz->used) {
		ret = -ENOMEM;
		goto err_free;
	}
	uz->pdev = platform_device_register_simple(UZ_DRV, -1, NULL, 0);
	if (IS_ERR(uz->pdev)) {
		ret = PTR_ERR(uz->pdev);
		goto err_bitmap;
	}
	uz->uacce = uacce_alloc(&uz->pdev->dev, &iface);
	if (IS_ERR(uz->uacce)) {
		ret = PTR_ERR(uz->uacce);
		goto err_pdev;
	}
	uz->uacce->priv = uz;
	uz->uacce->algs = UZ_ALGS;
	uz->uacce->api_ver = HISI_QM_API_VER2_BASE;
	uz->uacce->qf_pg_num[UACCE_QFRT_MMIO] = UZ_MMIO_SIZE >> PAGE_SHIFT;
	uz->uacce->qf_pg_num[UACCE_QFRT_DUS] = UZ_DUS_SIZE >> PAGE_SHIFT;
	ret = uacce_register(uz->uacce);
	if (ret)
		goto err_uacce;
	uz_dev = uz;
	return 0;

err_uacce:
	uacce_remove(uz->uacce);
err_pdev:
	platform_device_unregister(uz->pdev);
err_bitmap:
	bitmap_free(uz->used);
err_free:
	kfree(uz);
	return ret;
}

static void __exit uacce_softzip_exit(void)
{
	struct uz_dev *uz = uz_dev;

	/* stops and puts every open queue; their files stay, defunct */
	uacce_remove(uz->uacce);
	platform_device_unregister(uz->pdev);
	bitmap_free(uz->used);
	kfree(uz);
}

module_init(uacce_softzip_init);
module_exit(uacce_softzip_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Software hisi_qm v2 ZIP function behind uacce");
