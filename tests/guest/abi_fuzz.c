// SPDX-License-Identifier: GPL-2.0
/*
 * ABI fuzzer for sdmdev + softzip, run inside the QEMU guest.
 *
 *   abi_fuzz [-s seed] [-t seconds] [-u uid] [-w workers] <uuid>...
 *
 * Random but bounded sequences against the mdevs named: open them through
 * VFIO (sometimes two groups in one container), mmap and munmap regions at
 * random offsets and lengths, write random request entries, doorbell values
 * and registers (garbage included), random ioctls with random arguments on
 * the device, group and container fds, VFIO MAP/UNMAP of random ranges
 * (including ones requests are using), pread/pwrite, closes, forks, and
 * SIGKILLs of the workers from the parent while requests are in flight (never
 * while a worker has a fork child: see op_fork).
 *
 * It has no oracle of its own: the kernel must survive, which the guest's
 * init checks afterwards (dmesg, pinned pages back to 0). Every worker's
 * seed derives from the one printed, so a run can be repeated (timing
 * aside). With -u the workers drop to that uid (the caller gives it the
 * groups' device nodes); pins then count against RLIMIT_MEMLOCK.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <linux/vfio.h>
#include <zlib.h>

#include "fault_mark.h"
#include "wd_ring.h"	/* the layout and accessors only: no wd_ring.c */

#define PAGE		4096UL

#define MAX_UUIDS	8
#define MAX_HANDLES	4
#define NR_BUFS		6
#define BUF_SIZE	(256UL << 10)	/* 1.5 MiB in all: below memlock */
#define MAX_WORKERS	8

struct handle {
	int container, group, dev, efd;
	int uuid;
	uint8_t *mmio;		/* MAP_FAILED when not mapped */
	uint8_t *rings;
	size_t mmio_len, rings_len;
	uint16_t tail;
};

static const char *uuids[MAX_UUIDS];
static int groups[MAX_UUIDS];
static int nr_uuids;
static struct handle h[MAX_HANDLES];
static uint8_t *bufs[NR_BUFS];
static uint8_t scratch[8192];
static uint64_t rs;
/*
 * Shared by all workers: what got through, and per worker the fork handshake
 * (see op_fork): busy while it has a fork child, stop once the parent means to
 * kill it.
 */
static struct counts {
	unsigned long ops, opened, mmaps, sqes, cqes, done, maps, unmaps, ioctls;
	unsigned long forks, beside;
	int busy[MAX_WORKERS], stop[MAX_WORKERS];
} *cnt;
/* this worker's index; -1 in the main process and in fork children */
static int me = -1;

#define COUNT(field) __atomic_fetch_add(&cnt->field, 1, __ATOMIC_RELAXED)

static uint64_t rnd(void)
{
	/* xorshift64* */
	rs ^= rs >> 12;
	rs ^= rs << 25;
	rs ^= rs >> 27;
	return rs * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int chance(unsigned int percent)
{
	return below(100) < percent;
}

/* a length: mostly small or page sized, sometimes huge or odd */
static uint64_t rnd_len(void)
{
	switch (below(8)) {
	case 0:
		return 0;
	case 1:
		return below(64);
	case 2:
		return PAGE * (1 + below(8));
	case 3:
		return BUF_SIZE;
	case 4:
		return 1ULL << below(40);
	case 5:
		return rnd();
	default:
		return below(BUF_SIZE + PAGE);
	}
}

/* an address: in a buffer, just outside one, in the rings, or anything */
static uint64_t rnd_addr(void)
{
	uint8_t *b = bufs[below(NR_BUFS)];
	struct handle *q = &h[below(MAX_HANDLES)];

	switch (below(8)) {
	case 0:
		return rnd();
	case 1:
		return 0;
	case 2:
		return (uintptr_t)b + BUF_SIZE - below(64);
	case 3:
		return q->rings != MAP_FAILED ? (uintptr_t)q->rings : rnd();
	case 4:
		return (uintptr_t)b + PAGE * below(BUF_SIZE / PAGE);
	default:
		return (uintptr_t)b + below(BUF_SIZE);
	}
}

static void handle_reset(struct handle *q)
{
	q->container = q->group = q->dev = q->efd = -1;
	q->mmio = q->rings = MAP_FAILED;
	q->tail = 0;
}

/* count what the device completed (first pass of the CQ only) */
static void count_completions(struct handle *q)
{
	for (unsigned int i = 0; i < DEPTH; i++) {
		uint8_t *c = zip_cqe(q->rings, i);
		uint32_t *e;

		if (!cqe_phase(c))
			break;
		COUNT(cqes);
		e = zip_sqe(q->rings, cqe_field(c, CQE_SQ_HEAD));
		if ((e[W_STATUS] & 0xff) == ST_OK && e[W_PRODUCED])
			COUNT(done);
	}
}

static void handle_close(struct handle *q)
{
	if (q->rings != MAP_FAILED && q->rings_len == RINGS_SIZE)
		count_completions(q);
	if (q->mmio != MAP_FAILED)
		munmap(q->mmio, q->mmio_len);
	if (q->rings != MAP_FAILED)
		munmap(q->rings, q->rings_len);
	/* close in a random order: the kernel sees every teardown order */
	int *fds[4] = { &q->dev, &q->group, &q->container, &q->efd };

	for (int i = 3; i > 0; i--) {
		int j = below(i + 1), *t = fds[i];

		fds[i] = fds[j];
		fds[j] = t;
	}
	for (int i = 0; i < 4; i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	handle_reset(q);
}

static int open_container(void)
{
	/* sometimes share a container with another handle: two groups in one */
	struct handle *o = &h[below(MAX_HANDLES)];

	if (o->container >= 0 && chance(50))
		return dup(o->container);
	return open("/dev/vfio/vfio", O_RDWR);
}

static void op_open(struct handle *q)
{
	char path[64];
	int type;

	handle_close(q);
	q->uuid = below(nr_uuids);
	q->container = open_container();
	snprintf(path, sizeof(path), "/dev/vfio/%d", groups[q->uuid]);
	q->group = open(path, O_RDWR);
	if (q->container < 0 || q->group < 0)
		return;
	if (ioctl(q->group, VFIO_GROUP_SET_CONTAINER, &q->container) &&
	    !chance(10))
		return;
	type = chance(90) ? VFIO_TYPE1v2_IOMMU : (int)below(16);
	ioctl(q->container, VFIO_SET_IOMMU, type);
	q->dev = ioctl(q->group, VFIO_GROUP_GET_DEVICE_FD, uuids[q->uuid]);
	if (q->dev < 0)
		return;
	COUNT(opened);
	if (chance(80)) {
		q->mmio_len = MMIO_SIZE;
		q->mmio = mmap(NULL, MMIO_SIZE, PROT_READ | PROT_WRITE,
			       MAP_SHARED, q->dev, MMIO_OFF);
		q->rings_len = RINGS_SIZE;
		q->rings = mmap(NULL, RINGS_SIZE, PROT_READ | PROT_WRITE,
				MAP_SHARED, q->dev, RINGS_OFF);
	}
	/* share every buffer, as a driver would; later ops punch holes */
	for (int i = 0; i < NR_BUFS && chance(70); i++) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)bufs[i], .iova = (uintptr_t)bufs[i],
			.size = BUF_SIZE,
		};

		if (!ioctl(q->container, VFIO_IOMMU_MAP_DMA, &m))
			COUNT(maps);
	}
	if (chance(50)) {
		struct {
			struct vfio_irq_set s;
			int32_t fd;
		} irq = { .s = { .argsz = sizeof(irq), .count = 1,
				 .flags = VFIO_IRQ_SET_DATA_EVENTFD |
					  VFIO_IRQ_SET_ACTION_TRIGGER } };

		q->efd = eventfd(0, EFD_NONBLOCK);
		irq.fd = q->efd;
		ioctl(q->dev, VFIO_DEVICE_SET_IRQS, &irq);
	}
}

/* mmap of the device at a random offset, length, protection and kind */
static void op_mmap(struct handle *q)
{
	static const uint64_t offs[] = { MMIO_OFF, RINGS_OFF, 2 * PAGE,
					 RINGS_OFF + RINGS_SIZE };
	uint64_t off = chance(80) ? offs[below(4)] : rnd() & ~(PAGE - 1);
	size_t len = chance(70) ? (off ? RINGS_SIZE : MMIO_SIZE) :
		     (size_t)(1 + below(64)) * PAGE;
	int prot = chance(80) ? PROT_READ | PROT_WRITE : (int)below(8);
	int flags = chance(90) ? MAP_SHARED : MAP_PRIVATE;
	uint8_t *p;

	if (q->dev < 0)
		return;
	p = mmap(NULL, len, prot, flags, q->dev, (off_t)off);
	if (p == MAP_FAILED)
		return;
	COUNT(mmaps);
	/* keep it if it is the region the handle uses, else let it go */
	if (off == MMIO_OFF && len == MMIO_SIZE && q->mmio == MAP_FAILED &&
	    prot == (PROT_READ | PROT_WRITE)) {
		q->mmio = p;
		q->mmio_len = len;
	} else if (off == RINGS_OFF && len == RINGS_SIZE &&
		   q->rings == MAP_FAILED &&
		   prot == (PROT_READ | PROT_WRITE)) {
		q->rings = p;
		q->rings_len = len;
	} else {
		if (prot & PROT_READ)
			(void)*(volatile uint8_t *)p;
		munmap(p, len);
	}
}

static void op_munmap(struct handle *q)
{
	if (chance(50) && q->mmio != MAP_FAILED) {
		munmap(q->mmio, q->mmio_len);
		q->mmio = MAP_FAILED;
	} else if (q->rings != MAP_FAILED) {
		munmap(q->rings, q->rings_len);
		q->rings = MAP_FAILED;
	}
}

static void doorbell(struct handle *q, unsigned int off, uint64_t cmd,
		     uint64_t idx, uint64_t prio)
{
	uint64_t v = db_value(cmd, idx, prio);

	if (q->mmio == MAP_FAILED)
		return;
	if (chance(10))
		v = rnd();
	db_store(q->mmio, off, v);
}

/* one request entry: plausible most of the time, garbage sometimes */
static void op_sqe(struct handle *q)
{
	static const uint32_t types[] = { REQ_DEFLATE, REQ_ZLIB, REQ_GZIP,
					  REQ_NOP };
	uint32_t *e, in_len, type, flags, level, space;
	uint64_t src, dst;
	int n;

	if (q->rings == MAP_FAILED)
		return;
	e = zip_sqe(q->rings, q->tail);
	/* each field drawn in its own statement: a seed repeats a run */
	if (chance(10)) {
		for (n = 0; n < SQE_SIZE / 4; n++)
			e[n] = (uint32_t)rnd();
	} else if (chance(50)) {
		/* well formed and long: whole buffers, so pins last a while */
		int i = below(NR_BUFS);

		src = (uintptr_t)bufs[i];
		dst = (uintptr_t)bufs[(i + 1 + below(NR_BUFS - 1)) % NR_BUFS];
		in_len = (uint32_t)(i % 2 ? BUF_SIZE / 2 : BUF_SIZE);
		type = i % 2 ? REQ_ZLIB : (uint32_t)(1 + below(3));
		flags = F_CSUM((uint32_t)below(3));
		level = (uint32_t)below(10);
		sqe_fill(e, type, flags, level, src, in_len, dst, BUF_SIZE, 0);
	} else {
		src = rnd_addr();
		dst = rnd_addr();
		in_len = (uint32_t)(chance(80) ? below(BUF_SIZE) : rnd_len());
		type = chance(90) ? types[below(4)] : (uint32_t)rnd();
		flags = chance(90) ? (uint32_t)below(32) : (uint32_t)rnd();
		level = (uint32_t)below(chance(90) ? 10 : 16);
		space = (uint32_t)(chance(80) ? below(BUF_SIZE) : rnd_len());
		sqe_fill(e, type, flags, level, src, in_len, dst, space, 0);
	}
	q->tail++;
	COUNT(sqes);
	if (chance(70))
		doorbell(q, SDMDEV_SOFT_DB_SQ, 0,
			 chance(90) ? q->tail % DEPTH : below(65536), 0);
	/* a sleeping device is kicked (abi.md section 2), mostly */
	if (q->mmio != MAP_FAILED && q->dev >= 0 && chance(90) &&
	    dev_idle(q->mmio))
		ioctl(q->dev, VFIO_SDMDEV_CMD_KICK, 0);
}

/* a burst of long requests on one buffer, one doorbell: keeps pins alive */
static void op_burst(struct handle *q)
{
	int i = below(NR_BUFS), n = 1 + below(chance(50) ? 16 : 256);
	uint64_t src = (uintptr_t)bufs[i];

	if (q->rings == MAP_FAILED || q->mmio == MAP_FAILED)
		return;
	while (n--) {
		uint64_t dst = (uintptr_t)bufs[(i + 1 + below(NR_BUFS - 1)) % NR_BUFS];
		uint32_t type = 1 + below(3);

		sqe_fill(zip_sqe(q->rings, q->tail), type, 0, 6, src, BUF_SIZE,
			 dst, BUF_SIZE, 0);
		q->tail++;
		COUNT(sqes);
	}
	doorbell(q, SDMDEV_SOFT_DB_SQ, 0, q->tail % DEPTH, 0);
	if (q->dev >= 0 && dev_idle(q->mmio))
		ioctl(q->dev, VFIO_SDMDEV_CMD_KICK, 0);
}

static void op_mmio(struct handle *q)
{
	unsigned int off;

	if (q->mmio == MAP_FAILED)
		return;
	switch (below(4)) {
	case 0:
		doorbell(q, SDMDEV_SOFT_DB_SQ, below(3), below(65536), below(4));
		break;
	case 1:
		doorbell(q, SDMDEV_SOFT_DB_CQ, below(3), below(65536), below(4));
		break;
	case 2:
		*(volatile uint32_t *)(q->mmio + SDMDEV_SOFT_IDLE) =
			(uint32_t)below(3);
		break;
	default:
		off = below(PAGE / 8) * 8;
		*(volatile uint64_t *)(q->mmio + off) = rnd();
		break;
	}
}

static void op_dma(struct handle *q)
{
	uint8_t *b = bufs[below(NR_BUFS)];

	if (q->container < 0)
		return;
	if (chance(55)) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = chance(85) ? VFIO_DMA_MAP_FLAG_READ |
					      VFIO_DMA_MAP_FLAG_WRITE :
					      (uint32_t)below(16),
		};
		uint64_t off = chance(50) ? 0 : PAGE * below(BUF_SIZE / PAGE);

		m.vaddr = (uintptr_t)b + off;
		if (!off && chance(80))
			m.size = BUF_SIZE;
		else if (chance(80))
			m.size = PAGE * (1 + below((BUF_SIZE - off) / PAGE));
		else
			m.size = rnd_len();
		/* the device's own memory: requests may then point at the rings */
		if (chance(5) && q->rings != MAP_FAILED) {
			m.vaddr = (uintptr_t)q->rings;
			m.size = q->rings_len & ~(PAGE - 1);
		} else if (chance(3) && q->mmio != MAP_FAILED) {
			m.vaddr = (uintptr_t)q->mmio;
			m.size = PAGE;
		}
		/* identity mostly (requests point there), else anywhere */
		m.iova = chance(80) ? m.vaddr : rnd_addr();
		if (chance(5))
			m.argsz = (uint32_t)below(64);
		if (!ioctl(q->container, VFIO_IOMMU_MAP_DMA, &m))
			COUNT(maps);
	} else {
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u),
		};

		if (chance(40)) {
			/* a whole buffer: requests are likely to be using it */
			u.iova = (uintptr_t)b;
			u.size = BUF_SIZE;
		} else {
			u.iova = chance(70) ?
				 (uintptr_t)b + PAGE * below(BUF_SIZE / PAGE) :
				 rnd_addr();
			u.size = chance(70) ? PAGE * (1 + below(BUF_SIZE / PAGE)) :
				 rnd_len();
		}
		if (chance(5))
			u.flags = VFIO_DMA_UNMAP_FLAG_ALL;
		else if (chance(5))
			u.flags = (uint32_t)rnd();
		if (u.flags & VFIO_DMA_UNMAP_FLAG_ALL)
			u.iova = u.size = 0;
		if (!ioctl(q->container, VFIO_IOMMU_UNMAP_DMA, &u))
			COUNT(unmaps);
	}
}

/* an ioctl argument: our scratch buffer (random bytes, argsz set), NULL,
 * a small integer or a kernel address */
static unsigned long rnd_arg(void)
{
	uint32_t argsz;

	switch (below(6)) {
	case 0:
		return 0;
	case 1:
		return below(4096);
	case 2:
		return 0xffff888000000000UL + (rnd() & 0xffffff);
	default:
		for (size_t i = 0; i < 64; i++)
			scratch[i] = (uint8_t)rnd();
		argsz = (uint32_t)(chance(70) ? 16 + below(64) : rnd());
		memcpy(scratch, &argsz, sizeof(argsz));
		return (uintptr_t)scratch;
	}
}

static void op_ioctl(struct handle *q)
{
	static const unsigned long dev_cmds[] = {
		VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO,
		VFIO_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_SET_IRQS,
		VFIO_DEVICE_RESET, VFIO_SDMDEV_CMD_WAIT,
		VFIO_SDMDEV_CMD_BIND_PASID, VFIO_SDMDEV_CMD_KICK,
		_IO('W', 0), _IO('W', 4), VFIO_DEVICE_FEATURE,
		VFIO_DEVICE_IOEVENTFD, VFIO_DEVICE_QUERY_GFX_PLANE,
	};
	static const unsigned long group_cmds[] = {
		VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER,
		VFIO_GROUP_UNSET_CONTAINER, VFIO_GROUP_GET_DEVICE_FD,
	};
	static const unsigned long cont_cmds[] = {
		VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU,
		VFIO_IOMMU_GET_INFO, VFIO_IOMMU_DIRTY_PAGES,
	};
	unsigned long cmd, arg;
	int fd, r;

	switch (below(3)) {
	case 0:
		fd = q->dev;
		cmd = dev_cmds[below(sizeof(dev_cmds) / sizeof(dev_cmds[0]))];
		break;
	case 1:
		fd = q->group;
		cmd = group_cmds[below(sizeof(group_cmds) /
				       sizeof(group_cmds[0]))];
		break;
	default:
		fd = q->container;
		cmd = cont_cmds[below(sizeof(cont_cmds) / sizeof(cont_cmds[0]))];
		break;
	}
	if (chance(10))
		cmd = chance(50) ? _IO(';', below(256)) : (uint32_t)rnd();
	if (fd < 0)
		return;
	arg = rnd_arg();
	if (cmd == VFIO_SDMDEV_CMD_WAIT) {
		/* the interval timer interrupts a wait without end */
		arg = chance(20) ? 0 : below(20);
	} else if (cmd == VFIO_GROUP_GET_DEVICE_FD && chance(70)) {
		arg = (uintptr_t)uuids[below(nr_uuids)];
	} else if (cmd == VFIO_GROUP_SET_CONTAINER && chance(70)) {
		int c = h[below(MAX_HANDLES)].container;

		memcpy(scratch, &c, sizeof(c));
		arg = (uintptr_t)scratch;
	}
	r = ioctl(fd, cmd, arg);
	if (r >= 0)
		COUNT(ioctls);
	/* a device fd handed out: keep it in the handle or close it */
	if (cmd == VFIO_GROUP_GET_DEVICE_FD && r >= 0) {
		if (q->dev < 0)
			q->dev = r;
		else
			close(r);
	}
}

static void op_rw(struct handle *q)
{
	uint64_t off = chance(70) ? below(PAGE + RINGS_SIZE + PAGE) : rnd();
	size_t len = chance(80) ? below(64) : below(sizeof(scratch));

	if (q->dev < 0)
		return;
	if (chance(50))
		(void)!pread(q->dev, scratch, len, (off_t)off);
	else
		(void)!pwrite(q->dev, scratch, len, (off_t)off);
}

/* user-space memory that a mapping (and maybe a request) points at goes */
static void op_buf(void)
{
	int i = below(NR_BUFS);
	uint8_t *p;

	munmap(bufs[i], BUF_SIZE);
	p = mmap(bufs[i], BUF_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		p = mmap(bufs[i], BUF_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		exit(3);
	bufs[i] = p;
	memset(p, (int)below(256), chance(50) ? BUF_SIZE : PAGE);
}

static void op(void);

/*
 * A child with the parent's fds: not the owner, mostly refused. It runs beside
 * the worker (the worker's timer cuts its wait short), so the two race on the
 * same container: how the unmap deadlock of docs/reliability.md was found.
 *
 * But no last close of a shared VFIO file may happen in both at once. Linux's
 * vfio core reads a container's IOMMU driver and data without a lock when the
 * container's file is released (vfio_fops_release, 6.1 and mainline), while
 * the release of its last group's file clears them under the lock: when the
 * last close of a container and the last close of its group happen in two
 * tasks at once, the first calls the IOMMU driver with NULL or freed data (an
 * oops in vfio_iommu_type1_notify). That is a bug of vfio's core, not of
 * sdmdev (docs/reliability.md), and only tasks that share VFIO files meet it.
 * (Detaching the group with VFIO_GROUP_UNSET_CONTAINER races the same way.)
 * So every VFIO file a fork child holds is also the worker's, and no release
 * of one can happen in both at once: while its child lives a worker closes none
 * of its handles (the child's closes are then never the last), a fork child
 * opens no VFIO file of its own (it only tries the parent's) and does not
 * fork, and the main process does not kill a worker that has a child: the
 * worker marks busy then checks stop, the main process marks stop then waits
 * for !busy, so one of them always sees the other.
 */
static pid_t child;
static int forked;	/* this process is a fork child */

/* reaps the fork child if it is gone (or waits for it with block) */
static void reap_child(int block)
{
	if (child && waitpid(child, NULL, block ? 0 : WNOHANG) == child) {
		child = 0;
		__atomic_store_n(&cnt->busy[me], 0, __ATOMIC_SEQ_CST);
	}
}

static void op_fork(void)
{
	pid_t pid;

	if (me < 0 || child)
		return;
	__atomic_store_n(&cnt->busy[me], 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&cnt->stop[me], __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&cnt->busy[me], 0, __ATOMIC_SEQ_CST);
		return;
	}
	pid = fork();
	if (pid == 0) {
		me = -1;
		forked = 1;
		/* timers are not inherited: bound the child's life itself */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGALRM, SIG_DFL);
		alarm(2);
		rs ^= 0x5bd1e995ULL * (uint64_t)getpid();
		/* the queue's mappings are not copied into a child (VM_DONTCOPY) */
		for (int i = 0; i < MAX_HANDLES; i++)
			h[i].mmio = h[i].rings = MAP_FAILED;
		for (int i = 0; i < 20; i++)
			op();
		_exit(0);
	}
	if (pid < 0) {
		__atomic_store_n(&cnt->busy[me], 0, __ATOMIC_SEQ_CST);
		return;
	}
	child = pid;
	COUNT(forks);
	if (chance(50)) {
		usleep(below(2000));
		kill(pid, SIGKILL);
	}
	/* mostly cut short by the timer: the child then runs beside the worker */
	reap_child(1);
	if (child)
		COUNT(beside);
}

static void op(void)
{
	struct handle *q = &h[below(MAX_HANDLES)];

	COUNT(ops);
	reap_child(0);
	switch (below(40)) {
	case 0 ... 2:
		/* no new files in a fork child, no close beside it: op_fork */
		if ((q->dev < 0 || chance(10)) && !child && !forked)
			op_open(q);
		break;
	case 3:
		if (!child)
			handle_close(q);
		break;
	case 4 ... 5:
		op_mmap(q);
		break;
	case 6:
		op_munmap(q);
		break;
	case 7 ... 14:
		op_sqe(q);
		break;
	case 15 ... 16:
		op_burst(q);
		break;
	case 17 ... 21:
		op_mmio(q);
		break;
	case 22 ... 28:
		op_dma(q);
		break;
	case 29 ... 34:
		op_ioctl(q);
		break;
	case 35:
		op_rw(q);
		break;
	case 36:
		op_buf();
		break;
	case 37:
		if (chance(20))
			op_fork();
		break;
	default:
		usleep(below(500));
		break;
	}
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void worker(unsigned int index, uint64_t seed, uid_t uid)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct itimerval it = { { 0, 50000 }, { 0, 50000 } };
	int i;

	me = (int)index;
	rs = seed ? seed : 1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (uid && (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
		    setresuid(uid, uid, uid)))
		exit(4);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; i < MAX_HANDLES; i++)
		handle_reset(&h[i]);
	for (;;)
		op();
}

/* buffers: compressible bytes, every other one a zlib stream of them */
static void make_bufs(void)
{
	uint8_t *plain = malloc(BUF_SIZE);
	uLongf n;
	int i;

	if (!plain)
		exit(3);
	for (size_t j = 0; j < BUF_SIZE; j++)
		plain[j] = (uint8_t)(j % 251 < 40 ? rnd() : j / 97);
	for (i = 0; i < NR_BUFS; i++) {
		bufs[i] = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (bufs[i] == MAP_FAILED)
			exit(3);
		n = BUF_SIZE;
		if (i % 2 && compress2(bufs[i], &n, plain, BUF_SIZE / 2, 6) == Z_OK)
			continue;
		memcpy(bufs[i], plain, BUF_SIZE);
	}
	free(plain);
}

/*
 * Kills worker i (pid), never while it has a fork child: see op_fork. A fork
 * child lives 2 s at most (its alarm), so the wait is bounded; 5 s covers a
 * worker that died by other means while busy.
 */
static void kill_worker(unsigned int i, pid_t pid)
{
	__atomic_store_n(&cnt->stop[i], 1, __ATOMIC_SEQ_CST);
	for (int ms = 0; ms < 5000 &&
	     __atomic_load_n(&cnt->busy[i], __ATOMIC_SEQ_CST); ms++)
		usleep(1000);
	kill(pid, SIGKILL);
}

int main(int argc, char **argv)
{
	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	unsigned int seconds = 60, nworkers = 3, spawned = 0, killed = 0;
	pid_t pids[MAX_WORKERS] = { 0 };
	uid_t uid = 0;
	time_t end, next_epoch = 0;
	unsigned int active = 1;
	int opt, status;

	mark_for_fault_injection();

	while ((opt = getopt(argc, argv, "s:t:u:w:")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			seconds = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'u':
			uid = (uid_t)strtoul(optarg, NULL, 0);
			break;
		case 'w':
			nworkers = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		default:
			return 2;
		}
	}
	if (nworkers < 1 || nworkers > MAX_WORKERS || optind >= argc)
		return 2;
	for (; optind < argc && nr_uuids < MAX_UUIDS; optind++) {
		char path[256], link[256];
		ssize_t n;
		char *slash;

		snprintf(path, sizeof(path),
			 "/sys/bus/mdev/devices/%s/iommu_group", argv[optind]);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0) {
			perror(path);
			return 2;
		}
		link[n] = 0;
		slash = strrchr(link, '/');
		groups[nr_uuids] = atoi(slash ? slash + 1 : link);
		uuids[nr_uuids++] = argv[optind];
	}
	printf("abi_fuzz: seed %llu, %u s, %u workers, uid %u, %d mdevs\n",
	       (unsigned long long)seed, seconds, nworkers, (unsigned int)uid,
	       nr_uuids);
	fflush(stdout);

	rs = seed ? seed : 1;
	cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cnt == MAP_FAILED)
		return 1;
	make_bufs();
	end = time(NULL) + seconds;
	while (time(NULL) < end) {
		/*
		 * Every few seconds a new number of workers: alone, one worker
		 * gets every group (and puts several in one container)
		 */
		if (time(NULL) >= next_epoch) {
			active = 1 + below(nworkers);
			next_epoch = time(NULL) + 2 + below(6);
		}
		for (unsigned int i = 0; i < nworkers; i++) {
			pid_t pid;

			if (i >= active && pids[i]) {
				kill_worker(i, pids[i]);
				waitpid(pids[i], &status, 0);
				pids[i] = 0;
			}
			if (pids[i] || i >= active)
				continue;
			/* worker n's seed: from the run's seed and n alone */
			cnt->busy[i] = 0;
			cnt->stop[i] = 0;
			pid = fork();
			if (pid == 0)
				worker(i, seed + 0x9e3779b97f4a7c15ULL * (spawned + 1),
				       uid);
			if (pid < 0) {
				perror("fork");
				return 1;
			}
			pids[i] = pid;
			spawned++;
		}
		usleep(50000 + below(1000000));
		/* kill one, requests in flight or not */
		unsigned int i = below(active);

		if (pids[i] && chance(70)) {
			kill_worker(i, pids[i]);
			killed++;
		}
		/* and collect whoever is gone */
		for (i = 0; i < nworkers; i++) {
			if (pids[i] && waitpid(pids[i], &status, WNOHANG) ==
				       pids[i]) {
				if (!WIFSIGNALED(status) ||
				    WTERMSIG(status) != SIGKILL)
					printf("abi_fuzz: worker %d ended with status %#x\n",
					       pids[i], status);
				pids[i] = 0;
			}
		}
	}
	for (unsigned int i = 0; i < nworkers; i++) {
		if (!pids[i])
			continue;
		kill_worker(i, pids[i]);
		waitpid(pids[i], &status, 0);
	}
	printf("abi_fuzz: done: seed %llu, %lu operations, %u workers spawned, %u kills\n",
	       (unsigned long long)seed, cnt->ops, spawned, killed);
	printf("abi_fuzz: succeeded: %lu device opens, %lu mmaps, %lu entries written, %lu DMA maps, %lu unmaps, %lu other ioctls\n",
	       cnt->opened, cnt->mmaps, cnt->sqes, cnt->maps, cnt->unmaps,
	       cnt->ioctls);
	printf("abi_fuzz: %lu fork children, %lu of them running beside their worker\n",
	       cnt->forks, cnt->beside);
	printf("abi_fuzz: completions seen at close (killed workers not counted): %lu, %lu of them OK with output\n",
	       cnt->cqes, cnt->done);
	return 0;
}
