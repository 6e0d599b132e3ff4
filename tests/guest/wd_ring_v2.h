/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest's ring driver for the hisi_qm v2 dialect through the mainline
 * uacce module (docs/abi.md, "hisi_qm v2 and v3 through uacce"), shared by
 * uacce_test.c and uacce_bench.c: a queue opened on /dev/<dev>, entries
 * written and the SQ doorbell rung, completions reaped (sleeping in poll()),
 * and the CHECK counters every run reports as "checks: N failed: M".
 *
 * Its names are those of the v1 driver's where they mean the same thing
 * (wd_ring.h): a program includes one of the two, never both.
 */
#ifndef WD_GUEST_WD_RING_V2_H
#define WD_GUEST_WD_RING_V2_H

#include <stdint.h>
#include <stdio.h>

#include "zip_entry.h"

/* ---- layout ---- */

#define MMIO_SIZE	8192
#define DUS_SIZE	151552
#define DB_OFF		0x1000
#define DB_SQ		0
#define DB_CQ		1

/* hisi_zip_sqe words of v2 besides zip_entry.h's */
#define W_DW7		7
#define W_TAG_V3	26	/* the tag of entry type 3 (W_TAG: type 0) */
#define W_ISIZE		30
#define W_CSUM		31

#define LSTBLK		0x100
/* dw7 stream fields (UADK STREAM_FLUSH/MODE/POS shifts) */
#define DW7_FINISH	(1u << 25)
#define DW7_STATEFUL	(1u << 26)
#define DW7_NEW		(1u << 27)
/* statuses besides zip_entry.h's */
#define ST_END		0x13

/* ---- the checks every run counts ---- */

/* the uacce device name (hisi_zip-N) the run opens queues on */
extern const char *dev;
extern int nchecks, nfails;
/* poll() calls reap() made */
extern unsigned long npolls;

#define CHECK(cond, ...)						\
	do {								\
		nchecks++;						\
		if (!(cond)) {						\
			nfails++;					\
			printf("FAIL %s:%d: ", __func__, __LINE__);	\
			printf(__VA_ARGS__);				\
			printf("\n");					\
			fflush(stdout);					\
		}							\
	} while (0)

/* print "FATAL what: <errno>" and the summary with one more failure; exit 2 */
__attribute__((noreturn))
void die(const char *what);

/* ---- a queue ---- */

struct q {
	int fd;
	uint16_t id;
	volatile uint8_t *mmio;
	uint8_t *dus;
	uint16_t tail;		/* next free SQ slot */
	uint16_t head;		/* next CQ entry */
	int phase;
	unsigned int out;	/* submitted, not completed */
};

static inline uint32_t *sqe(struct q *q, uint16_t i)
{
	return zip_sqe(q->dus, i);
}

static inline volatile uint16_t *cqe(struct q *q, uint16_t i)
{
	return (volatile uint16_t *)zip_cqe(q->dus, i);
}

static inline void ring(struct q *q, int cmd, uint16_t idx)
{
	uint64_t v = q->id | (uint64_t)cmd << 12 | (uint64_t)idx << 32;

	__atomic_store_n((uint64_t *)(q->mmio + DB_OFF), v, __ATOMIC_RELEASE);
}

static inline uint32_t status(struct q *q, int slot)
{
	return sqe(q, slot)[W_STATUS];
}

/* open a queue of @type on /dev/<dev>, map it and start it; 0 or -1 */
int q_open(struct q *q, int type);
void q_close(struct q *q);
/* write one entry without ringing; returns its slot */
uint16_t prepare(struct q *q, uint32_t req, const void *src, uint32_t in_len,
		 void *dst, uint32_t space, uint32_t tag);
/* write one entry and ring the SQ doorbell; returns its slot */
uint16_t submit(struct q *q, uint32_t req, const void *src, uint32_t in_len,
		void *dst, uint32_t space, uint32_t tag);
/*
 * Take the next completion, sleeping in poll() when there is none. Returns
 * the slot it completed, or -1 after two minutes with nothing.
 */
int reap(struct q *q);
/* submit one request and wait for it */
int run1(struct q *q, uint32_t req, const void *src, uint32_t in_len,
	 void *dst, uint32_t space);

/* ---- data ---- */

/* @n bytes of numbered lines: text that compresses (malloc'd) */
uint8_t *text(size_t n);

#endif
