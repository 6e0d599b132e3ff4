// SPDX-License-Identifier: GPL-2.0
/*
 * The guest's ring driver for the hisi_qm v1 dialect (wd_ring.h): a queue
 * of sdmdev + softzip opened through VFIO and driven exactly as
 * docs/abi.md says.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "wd_ring.h"

int failures;
int checks;
int waits_ioctl, waits_eventfd;

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FATAL: ");
	vprintf(fmt, ap);
	printf(" (errno %d %s)\n", errno, strerror(errno));
	va_end(ap);
	exit(2);
}

/* ---- VFIO setup ---- */

int group_of(const char *uuid)
{
	char path[256], link[256];
	ssize_t n;
	char *slash;

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/iommu_group",
		 uuid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die("readlink %s", path);
	link[n] = 0;
	slash = strrchr(link, '/');
	return atoi(slash ? slash + 1 : link);
}

void q_init(struct queue *q)
{
	memset(q, 0, sizeof(*q));
	q->phase = 1;
	q->container = q->group = q->dev = q->efd = -1;
	q->mmio = MAP_FAILED;
	q->rings = MAP_FAILED;
}

void q_open_in(struct queue *q, const char *uuid, int container)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };
	char path[64];

	q_init(q);
	q->container = container < 0 ? open("/dev/vfio/vfio", O_RDWR) :
		       dup(container);
	if (q->container < 0)
		die("open container");
	CHECK(ioctl(q->container, VFIO_GET_API_VERSION) == VFIO_API_VERSION,
	      "api version");
	CHECK(ioctl(q->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1,
	      "type1v2 missing");
	snprintf(path, sizeof(path), "/dev/vfio/%d", group_of(uuid));
	q->group = open(path, O_RDWR);
	if (q->group < 0)
		die("open %s", path);
	if (ioctl(q->group, VFIO_GROUP_GET_STATUS, &gs))
		die("group status");
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		die("group %s not viable", path);
	if (ioctl(q->group, VFIO_GROUP_SET_CONTAINER, &q->container))
		die("set container");
	/* a shared container has its IOMMU set by the first group */
	if (container < 0 &&
	    ioctl(q->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("set iommu");
	q->dev = ioctl(q->group, VFIO_GROUP_GET_DEVICE_FD, uuid);
	if (q->dev < 0)
		die("get device fd");

	CHECK(!ioctl(q->dev, VFIO_DEVICE_GET_INFO, &di), "device info");
	CHECK(di.num_regions == 2 && di.num_irqs == 1, "regions %u irqs %u",
	      di.num_regions, di.num_irqs);

	ri.index = 0;
	if (ioctl(q->dev, VFIO_DEVICE_GET_REGION_INFO, &ri))
		die("region info 0");
	CHECK(ri.offset == MMIO_OFF && ri.size == MMIO_SIZE &&
	      (ri.flags & VFIO_REGION_INFO_FLAG_MMAP),
	      "region 0: off %llu size %llu flags %x",
	      (unsigned long long)ri.offset, (unsigned long long)ri.size,
	      ri.flags);
	q->mmio = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       q->dev, ri.offset);
	if (q->mmio == MAP_FAILED)
		die("mmap mmio");

	ri.index = 1;
	if (ioctl(q->dev, VFIO_DEVICE_GET_REGION_INFO, &ri))
		die("region info 1");
	CHECK(ri.offset == RINGS_OFF && ri.size == RINGS_SIZE &&
	      (ri.flags & VFIO_REGION_INFO_FLAG_MMAP),
	      "region 1: off %llu size %llu", (unsigned long long)ri.offset,
	      (unsigned long long)ri.size);
	q->rings = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED,
			q->dev, ri.offset);
	if (q->rings == MAP_FAILED)
		die("mmap rings");
	ri.index = 2;
	CHECK(ioctl(q->dev, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0 &&
	      errno == EINVAL, "region 2 must not exist");
	/* a private mapping would not share the ring with the device */
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, q->dev, 0) == MAP_FAILED,
	      "MAP_PRIVATE accepted");

	CHECK(*(volatile uint32_t *)(q->mmio + SDMDEV_SOFT_ID) ==
	      SDMDEV_SOFT_ID_MAGIC, "SOFT_ID %x",
	      *(volatile uint32_t *)(q->mmio + SDMDEV_SOFT_ID));

	ii.index = 0;
	CHECK(!ioctl(q->dev, VFIO_DEVICE_GET_IRQ_INFO, &ii) && ii.count == 1 &&
	      (ii.flags & VFIO_IRQ_INFO_EVENTFD), "irq info");
	/* the driver resets the rings before use (abi.md section 7) */
	memset(q->rings, 0, RINGS_SIZE);
}

void q_open(struct queue *q, const char *uuid)
{
	q_open_in(q, uuid, -1);
}

void q_close(struct queue *q)
{
	if ((void *)q->mmio != MAP_FAILED)
		munmap((void *)q->mmio, MMIO_SIZE);
	if (q->rings != MAP_FAILED)
		munmap(q->rings, RINGS_SIZE);
	if (q->efd >= 0)
		close(q->efd);
	if (q->dev >= 0)
		close(q->dev);
	if (q->group >= 0)
		close(q->group);
	if (q->container >= 0)
		close(q->container);
}

int q_map(struct queue *q)
{
	q->mmio = mmap(NULL, MMIO_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       q->dev, MMIO_OFF);
	q->rings = mmap(NULL, RINGS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			q->dev, RINGS_OFF);
	return q->mmio == MAP_FAILED || q->rings == MAP_FAILED ? -1 : 0;
}

void q_restart(struct queue *q)
{
	q->sq_tail = 0;
	q->cq_head = 0;
	q->phase = 1;
	q->outstanding = 0;
}

int irq_set(struct queue *q, uint32_t flags, uint32_t count, int32_t fd)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *s = (void *)buf;

	s->argsz = sizeof(buf);
	s->flags = flags | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->index = 0;
	s->start = 0;
	s->count = count;
	memcpy(s->data, &fd, sizeof(fd));
	return ioctl(q->dev, VFIO_DEVICE_SET_IRQS, s);
}

int try_set_eventfd(struct queue *q)
{
	q->efd = eventfd(0, EFD_CLOEXEC);
	if (q->efd < 0)
		return -1;
	return irq_set(q, VFIO_IRQ_SET_DATA_EVENTFD, 1, q->efd);
}

void set_eventfd(struct queue *q)
{
	if (try_set_eventfd(q))
		die("set irqs");
}

int try_share(struct queue *q, void *p, size_t len)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)p, .iova = (uintptr_t)p, .size = len,
	};

	return ioctl(q->container, VFIO_IOMMU_MAP_DMA, &m);
}

void share(struct queue *q, void *p, size_t len)
{
	if (try_share(q, p, len))
		die("map dma %p+%zu", p, len);
}

void unshare_buf(struct queue *q, void *p, size_t len)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u), .iova = (uintptr_t)p, .size = len,
	};

	if (ioctl(q->container, VFIO_IOMMU_UNMAP_DMA, &u))
		die("unmap dma");
}

void *buf_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap buffer");
	madvise(p, len, MADV_DONTFORK);
	return p;
}

/* ---- rings ---- */

void db(struct queue *q, unsigned int off, uint64_t cmd, uint16_t idx,
	uint16_t prio)
{
	db_store(q->mmio, off, db_value(cmd, idx, prio));
}

int submit(struct queue *q, uint32_t type, uint32_t flags, uint32_t level,
	   const void *src, uint32_t in_len, void *dst, uint32_t space,
	   uint32_t tag)
{
	int slot = q->sq_tail;

	if (q->outstanding >= DEPTH - 1)
		die("ring full");
	sqe_fill(zip_sqe(q->rings, slot), type, flags, level, (uintptr_t)src,
		 in_len, (uintptr_t)dst, space, tag);
	q->sq_tail = (q->sq_tail + 1) % DEPTH;
	q->outstanding++;
	/* release by the seq_cst store; then read idle (abi.md section 2) */
	db(q, SDMDEV_SOFT_DB_SQ, 0, q->sq_tail, 0);
	if (dev_idle(q->mmio))
		CHECK(ioctl(q->dev, VFIO_SDMDEV_CMD_KICK, 0) == 0, "kick");
	return slot;
}

int reap(struct queue *q, struct result *r)
{
	uint8_t *c = zip_cqe(q->rings, q->cq_head);
	uint16_t slot;
	uint32_t *e;

	if (cqe_phase(c) != q->phase)
		return -1;
	slot = cqe_field(c, CQE_SQ_HEAD);
	e = zip_sqe(q->rings, slot);
	r->consumed = e[W_CONSUMED];
	r->produced = e[W_PRODUCED];
	r->status = e[W_STATUS] & 0xff;
	r->csum = e[W_CSUM];
	r->tag = e[W_TAG];
	if (++q->cq_head == DEPTH) {
		q->cq_head = 0;
		q->phase ^= 1;
	}
	q->outstanding--;
	db(q, SDMDEV_SOFT_DB_CQ, 1, q->cq_head, 0);
	return slot;
}

bool cq_ready(struct queue *q)
{
	return cqe_phase(zip_cqe(q->rings, q->cq_head)) == q->phase;
}

void wait_one(struct queue *q, struct result *r, enum wait_mode m)
{
	for (int spins = 0;; spins++) {
		if (reap(q, r) >= 0)
			return;
		if (m == W_IOCTL) {
			int ret = ioctl(q->dev, VFIO_SDMDEV_CMD_WAIT, 20000);

			if (ret && errno != EINTR)
				die("CMD_WAIT returned %d", ret);
			waits_ioctl++;
		} else if (m == W_EVENTFD) {
			struct pollfd p = { .fd = q->efd, .events = POLLIN };
			uint64_t n;

			/* arm, then re-check before sleeping */
			db(q, SDMDEV_SOFT_DB_CQ, 1, q->cq_head, 1);
			if (reap(q, r) >= 0)
				return;
			if (poll(&p, 1, 20000) != 1)
				die("eventfd poll timed out");
			if (read(q->efd, &n, 8) != 8 || !n)
				die("eventfd read");
			waits_eventfd++;
		} else if (spins > 200000000) {
			die("poll timeout");
		}
	}
}

struct result run1(struct queue *q, uint32_t type, uint32_t flags,
		   uint32_t level, const void *src, uint32_t in_len,
		   void *dst, uint32_t space, enum wait_mode m)
{
	static uint32_t tag = 0x1000;
	struct result r;

	submit(q, type, flags, level, src, in_len, dst, space, ++tag);
	wait_one(q, &r, m);
	CHECK(r.tag == tag, "tag %x != %x", r.tag, tag);
	return r;
}

/* ---- test data and time ---- */

void make_text(uint8_t *p, size_t n, uint32_t seed)
{
	static const char *words[] = { "warp ", "drive ", "queue ", "ring ",
		"doorbell ", "phase ", "deflate ", "mdev ", "\n", "vfio " };

	for (size_t i = 0; i < n;) {
		const char *w;

		seed = seed * 1103515245 + 12345;
		w = words[(seed >> 16) % 10];
		for (; *w && i < n; w++)
			p[i++] = *w;
	}
}

void make_random(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525 + 1013904223;
		p[i] = seed >> 24;
	}
}

double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

void alloc_bufs(struct queue *q1, struct queue *q2, struct bufs *b)
{
	b->in = buf_alloc(BIG);
	b->out = buf_alloc(BIG);
	b->out2 = buf_alloc(BIG);
	b->unshared = buf_alloc(BIG);
	memset(b->unshared, 1, BIG);
	share(q1, b->in, BIG);
	share(q1, b->out, BIG);
	share(q1, b->out2, BIG);
	if (q2) {
		share(q2, b->in, BIG);
		share(q2, b->out, BIG);
		share(q2, b->out2, BIG);
	}
}

void free_bufs(struct queue *q1, struct queue *q2, struct bufs *b)
{
	/* queues are idle: unshare before closing, as the driver does */
	unshare_buf(q1, b->in, BIG);
	unshare_buf(q1, b->out, BIG);
	unshare_buf(q1, b->out2, BIG);
	if (q2) {
		unshare_buf(q2, b->in, BIG);
		unshare_buf(q2, b->out, BIG);
		unshare_buf(q2, b->out2, BIG);
	}
}
