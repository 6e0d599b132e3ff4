/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest's ring driver for the hisi_qm v1 dialect of sdmdev + softzip
 * (docs/abi.md sections 1 to 7), shared by sdmdev_test.c, sdmdev_bench.c
 * and abi_fuzz.c.
 *
 * The first part (layout, doorbells, request entries) is static inline and
 * keeps no state: abi_fuzz.c builds its hostile entries and doorbells on it
 * and does not link wd_ring.c. The second part is the driver the test and
 * the benchmark use (wd_ring.c): a queue opened through VFIO, shared
 * buffers, submit, reap and the three ways to wait, and the CHECK counters
 * every run reports.
 */
#ifndef WD_GUEST_WD_RING_H
#define WD_GUEST_WD_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../kernel/include/uapi/sdmdev.h"
#include "zip_entry.h"

/* ---- layout (abi.md section 1) ---- */

#define MMIO_OFF	0	/* region 0: registers, doorbells */
#define MMIO_SIZE	4096
#define RINGS_OFF	4096	/* region 1: the SQ, then the CQ */
/* 32 pages of SQ + 4 pages of CQ */
#define RINGS_SIZE	147456

/* request entry words of this dialect ((ours) in abi.md section 4) */
#define W_FLAGS		10
#define W_LEVEL		11
#define W_CSUM		15

#define REQ_NOP		0x7f
#define F_PARTIAL	1
#define F_CSUM(x)	((x) << 1)
#define F_CONTINUE	8
#define F_BLOCK_END	16

/* statuses of this dialect besides zip_entry.h's (abi.md section 5) */
#define ST_NEED_INPUT	0x11
#define ST_DEV_ERR	0x22
#define ST_MEMLOCK	0x23

/* ---- doorbells and request entries ---- */

/* a doorbell's value (abi.md section 2; sqn 0) */
static inline uint64_t db_value(uint64_t cmd, uint64_t idx, uint64_t prio)
{
	return cmd << 16 | idx << 32 | prio << 48;
}

/* store a doorbell value at MMIO offset @off (SDMDEV_SOFT_DB_SQ or _CQ) */
static inline void db_store(volatile uint8_t *mmio, unsigned int off,
			    uint64_t v)
{
	__atomic_store_n((uint64_t *)(mmio + off), v, __ATOMIC_SEQ_CST);
}

/* the device went to sleep: the driver kicks it after a SQ doorbell */
static inline bool dev_idle(volatile uint8_t *mmio)
{
	return __atomic_load_n((uint32_t *)(mmio + SDMDEV_SOFT_IDLE),
			       __ATOMIC_SEQ_CST) == 1;
}

/* a whole request entry: reserved words 0, results and tag as given */
static inline void sqe_fill(uint32_t *e, uint32_t type, uint32_t flags,
			    uint32_t level, uint64_t src, uint32_t in_len,
			    uint64_t dst, uint32_t space, uint32_t tag)
{
	memset(e, 0, SQE_SIZE);
	e[W_IN_LEN] = in_len;
	e[W_REQ_TYPE] = type;
	e[W_FLAGS] = flags;
	e[W_LEVEL] = level;
	e[W_TAG] = tag;
	e[W_SPACE] = space;
	sqe_set_addrs(e, src, dst);
}

/* ---- the driver (wd_ring.c) ---- */

extern int failures;
extern int checks;

/* atomic counts: the threaded tests check from several threads */
#define CHECK(cond, ...) do {						\
	__atomic_fetch_add(&checks, 1, __ATOMIC_RELAXED);		\
	if (!(cond)) {							\
		__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);	\
		printf("FAIL %s:%d: %s: ", __func__, __LINE__, #cond);	\
		printf(__VA_ARGS__);					\
		printf("\n");						\
	}								\
} while (0)

/* print "FATAL: ..." with errno and exit with status 2 */
__attribute__((noreturn, format(printf, 1, 2)))
void die(const char *fmt, ...);

struct queue {
	int container, group, dev, efd;
	volatile uint8_t *mmio;
	uint8_t *rings;
	uint16_t sq_tail, cq_head;
	uint8_t phase;
	unsigned int outstanding;
};

struct result {
	uint32_t status, consumed, produced, csum, tag;
};

enum wait_mode { W_POLL, W_IOCTL, W_EVENTFD };

/* the sleeps wait_one() took, per kind */
extern int waits_ioctl, waits_eventfd;

/* the IOMMU group number of mdev @uuid */
int group_of(const char *uuid);
/* Open the queue of mdev @uuid; in its own container if @container < 0. */
void q_open_in(struct queue *q, const char *uuid, int container);
void q_open(struct queue *q, const char *uuid);
/* a queue with nothing open or mapped, for code that opens step by step */
void q_init(struct queue *q);
/* close what is open (q_init()'s empty values are skipped) */
void q_close(struct queue *q);
/* map both regions of the device fd again (after getting it anew) */
int q_map(struct queue *q);
/* the driver's ring state after a reset: slot 0, phase 1, nothing out */
void q_restart(struct queue *q);

/* VFIO_DEVICE_SET_IRQS on the one interrupt: the ioctl's result */
int irq_set(struct queue *q, uint32_t flags, uint32_t count, int32_t fd);
/* a new eventfd wired to the interrupt; -1 on failure */
int try_set_eventfd(struct queue *q);
void set_eventfd(struct queue *q);

/* identity-map @p for DMA in @q's container: the ioctl's result */
int try_share(struct queue *q, void *p, size_t len);
void share(struct queue *q, void *p, size_t len);
void unshare_buf(struct queue *q, void *p, size_t len);
/* anonymous memory, not inherited by a fork */
void *buf_alloc(size_t len);

void db(struct queue *q, unsigned int off, uint64_t cmd, uint16_t idx,
	uint16_t prio);
/* write one request, ring the doorbell, kick a sleeping device; its slot */
int submit(struct queue *q, uint32_t type, uint32_t flags, uint32_t level,
	   const void *src, uint32_t in_len, void *dst, uint32_t space,
	   uint32_t tag);
/* Take one completion if there is one: its slot, or -1. */
int reap(struct queue *q, struct result *r);
/* a completion is there to reap (reap() would take it) */
bool cq_ready(struct queue *q);
void wait_one(struct queue *q, struct result *r, enum wait_mode m);
/* one request, waited for; checks that its tag came back */
struct result run1(struct queue *q, uint32_t type, uint32_t flags,
		   uint32_t level, const void *src, uint32_t in_len,
		   void *dst, uint32_t space, enum wait_mode m);

/* ---- test data and time ---- */

#define BIG (1 << 20)

/* words, newlines: text that compresses */
void make_text(uint8_t *p, size_t n, uint32_t seed);
void make_random(uint8_t *p, size_t n, uint32_t seed);
/* CLOCK_MONOTONIC in seconds */
double now(void);

/* four buffers of BIG: in, out, out2 shared, unshared never */
struct bufs {
	uint8_t *in, *out, *out2, *unshared;
};

void alloc_bufs(struct queue *q1, struct queue *q2, struct bufs *b);
void free_bufs(struct queue *q1, struct queue *q2, struct bufs *b);

#endif
