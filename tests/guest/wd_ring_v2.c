// SPDX-License-Identifier: GPL-2.0
/*
 * The hisi_qm v2 ring driver through uacce (wd_ring_v2.h), shared by
 * uacce_test.c and uacce_bench.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <misc/uacce/uacce.h>
#include <misc/uacce/hisi_qm.h>

#include "wd_ring_v2.h"

const char *dev;
int nchecks, nfails;
unsigned long npolls;

void die(const char *what)
{
	printf("FATAL %s: %s\n", what, strerror(errno));
	printf("checks: %d failed: %d\n", nchecks, nfails + 1);
	exit(2);
}

int q_open(struct q *q, int type)
{
	struct hisi_qp_ctx ctx = { .qc_type = type };
	char path[64];

	memset(q, 0, sizeof(*q));
	q->phase = 1;
	snprintf(path, sizeof(path), "/dev/%s", dev);
	q->fd = open(path, O_RDWR | O_CLOEXEC);
	if (q->fd < 0)
		return -1;
	if (ioctl(q->fd, UACCE_CMD_QM_SET_QP_CTX, &ctx))
		return -1;
	q->id = ctx.id;
	q->mmio = mmap(NULL, MMIO_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       q->fd, UACCE_QFRT_MMIO * 4096L);
	if (q->mmio == MAP_FAILED)
		return -1;
	q->dus = mmap(NULL, DUS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      q->fd, UACCE_QFRT_DUS * 4096L);
	if (q->dus == MAP_FAILED)
		return -1;
	return ioctl(q->fd, UACCE_CMD_START_Q);
}

void q_close(struct q *q)
{
	munmap((void *)q->mmio, MMIO_SIZE);
	munmap(q->dus, DUS_SIZE);
	close(q->fd);
}

uint16_t prepare(struct q *q, uint32_t req, const void *src, uint32_t in_len,
		 void *dst, uint32_t space, uint32_t tag)
{
	uint16_t i = q->tail;
	uint32_t *e = sqe(q, i);

	memset(e, 0, SQE_SIZE);
	e[W_IN_LEN] = in_len;
	e[W_SPACE] = space;
	e[W_REQ_TYPE] = req;
	/* as UADK: entry type 0 with the tag in dw13 for zlib/gzip on v2 */
	if (req == REQ_DEFLATE) {
		e[W_DW7] = 3u << 28;
		e[W_TAG_V3] = tag;
	} else {
		e[W_TAG] = tag;
	}
	sqe_set_addrs(e, (uintptr_t)src, (uintptr_t)dst);
	q->tail = (q->tail + 1) % DEPTH;
	q->out++;
	return i;
}

uint16_t submit(struct q *q, uint32_t req, const void *src, uint32_t in_len,
		void *dst, uint32_t space, uint32_t tag)
{
	uint16_t i = prepare(q, req, src, in_len, dst, space, tag);

	ring(q, DB_SQ, q->tail);
	return i;
}

int reap(struct q *q)
{
	int waits = 0;

	for (;;) {
		volatile uint16_t *c = cqe(q, q->head);

		if ((__atomic_load_n(&c[7], __ATOMIC_ACQUIRE) & 1) == q->phase) {
			int slot = c[4];

			CHECK(c[5] == q->id, "cqe sq_num %u, queue %u", c[5], q->id);
			if (++q->head == DEPTH) {
				q->head = 0;
				q->phase ^= 1;
			}
			q->out--;
			ring(q, DB_CQ, q->head);
			/* the doorbell holds one value: ring the tail again */
			if (q->out)
				ring(q, DB_SQ, q->tail);
			return slot;
		}
		struct pollfd p = { .fd = q->fd, .events = POLLIN };

		/* a hang guard only: nothing is asserted about time */
		npolls++;
		if (poll(&p, 1, 1000) == 0 && ++waits == 120)
			return -1;
	}
}

int run1(struct q *q, uint32_t req, const void *src, uint32_t in_len,
	 void *dst, uint32_t space)
{
	int want = submit(q, req, src, in_len, dst, space, 0x5a5a0000 | q->tail);
	int got = reap(q);

	CHECK(got == want, "completed slot %d, submitted %d", got, want);
	return got < 0 ? want : got;
}

uint8_t *text(size_t n)
{
	uint8_t *p = malloc(n);
	size_t i = 0;
	unsigned int line = 0;

	while (i < n) {
		char l[80];
		int k = snprintf(l, sizeof(l), "%u uacce softzip line %u %s\n",
				 line * 7919u, line, line % 3 ? "hisi" : "zip");

		for (int j = 0; j < k && i < n; j++)
			p[i++] = l[j];
		line++;
	}
	return p;
}
