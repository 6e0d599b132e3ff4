// SPDX-License-Identifier: GPL-2.0
/*
 * Figures and load for sdmdev + softzip in the QEMU guest: no tests here
 * (those are in sdmdev_test.c), the same ring driver (wd_ring.c).
 *
 *   sdmdev_bench figures <comp-uuid> <decomp-uuid>
 *                                  NOPs per second, gzip and gunzip MB/s;
 *                                  exits 1 if a request failed
 *   sdmdev_bench hog <comp-uuid> <ready-file>
 *                                  keep big requests in flight until
 *                                  killed; <ready-file> appears once they
 *                                  run (init.sh's kill test)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_mark.h"
#include "wd_ring.h"

/* figures only, no limits: guest (TCG) speed says little about hardware */
static int cmd_figures(const char *cu, const char *du)
{
	struct queue c, d;
	struct result r;
	uint8_t *in = buf_alloc(BIG), *out = buf_alloc(BIG), *back = buf_alloc(BIG);
	uint32_t clen = 0;
	double t;
	int i, n = 0;

	q_open(&c, cu);
	q_open(&d, du);
	share(&c, in, BIG);
	share(&c, out, BIG);
	share(&d, out, BIG);
	share(&d, back, BIG);
	make_text(in, BIG, 8);

	t = now();
	for (i = 0; i < 20000; i++) {
		submit(&c, REQ_NOP, 0, 0, NULL, 0, NULL, 0, i);
		if (c.outstanding == 512)
			while (c.outstanding > 256) {
				wait_one(&c, &r, W_POLL);
				n++;
			}
	}
	while (c.outstanding) {
		wait_one(&c, &r, W_POLL);
		n++;
	}
	t = now() - t;
	printf("bench: %d NOPs in %.2f s: %.0f/s\n", n, t, n / t);

	t = now();
	for (i = 0; i < 8; i++) {
		r = run1(&c, REQ_GZIP, 0, 6, in, BIG, out, BIG, W_IOCTL);
		CHECK(r.status == ST_OK, "bench compress %x", r.status);
		clen = r.produced;
	}
	t = now() - t;
	printf("bench: gzip -6 of 1 MiB text x8: %.1f MB/s (ratio %.1f)\n",
	       8.0 * BIG / t / 1e6, (double)BIG / clen);
	t = now();
	for (i = 0; i < 8; i++) {
		r = run1(&d, REQ_GZIP, 0, 0, out, clen, back, BIG, W_IOCTL);
		CHECK(r.status == ST_OK && r.produced == BIG,
		      "bench decompress %x", r.status);
	}
	t = now() - t;
	printf("bench: gunzip to 1 MiB x8: %.1f MB/s\n", 8.0 * BIG / t / 1e6);
	CHECK(!memcmp(in, back, BIG), "bench round trip");
	q_close(&c);
	q_close(&d);
	return failures ? 1 : 0;
}

/* keep big requests in flight until SIGKILL arrives */
static __attribute__((noreturn)) void cmd_hog(const char *u, const char *ready)
{
	struct queue q;
	struct bufs b;
	struct result r;
	int i, fd;

	q_open(&q, u);
	alloc_bufs(&q, NULL, &b);
	make_text(b.in, BIG, 3);
	for (i = 0; i < 64; i++)
		submit(&q, REQ_GZIP, 0, 9, b.in, BIG, b.out, BIG, i);
	wait_one(&q, &r, W_IOCTL);
	fd = open(ready, O_CREAT | O_WRONLY, 0644);
	close(fd);
	for (;;) {
		if (reap(&q, &r) >= 0)
			submit(&q, REQ_GZIP, 0, 9, b.in, BIG, b.out, BIG, 0);
		usleep(1000);
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	mark_for_fault_injection();
	if (argc == 4 && !strcmp(argv[1], "figures"))
		return cmd_figures(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "hog"))
		cmd_hog(argv[2], argv[3]);
	fprintf(stderr, "usage: see the header of sdmdev_bench.c\n");
	return 2;
}
