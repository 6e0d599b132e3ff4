// SPDX-License-Identifier: GPL-2.0
/*
 * Figures for the mainline uacce module with the uacce_softzip parent in
 * the QEMU guest: no tests here (those are in uacce_test.c), the same ring
 * driver (wd_ring_v2.c).
 *
 *   uacce_bench <dev>    requests per second, MB/s and poll() calls per
 *                        request of a few loads; each line starts "bench",
 *                        and the run ends with "checks: N failed: M"
 *                        (exit 1 if a request failed)
 *
 * <dev> is the uacce device name (hisi_zip-N).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wd_ring_v2.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* figures only: nothing here is asserted about time */
static void bench_one(struct q *c, const char *what, uint32_t req,
		      const uint8_t *in, size_t n, int count, unsigned int depth)
{
	uint8_t *out = malloc(n + n / 8 + 64);
	int sent = 0, done = 0, bad = 0;
	unsigned long polls = npolls;
	double t = now();

	while (done < count) {
		while (sent < count && c->out < depth) {
			submit(c, req, in, n, out, n + n / 8 + 64, sent);
			sent++;
		}
		int s = reap(c);

		if (s < 0 || ((status(c, s) & 0xff) != ST_OK &&
			      (status(c, s) & 0xff) != ST_NOT_SHRUNK))
			bad++;
		done++;
	}
	t = now() - t;
	CHECK(!bad, "%s: %d requests failed", what, bad);
	printf("bench %s: %d x %zu bytes, %u in flight: %.0f requests/s, %.1f MB/s in, %.2f poll() per request\n",
	       what, count, n, depth, count / t, count * (double)n / t / 1e6,
	       (double)(npolls - polls) / count);
	free(out);
}

static int cmd_bench(void)
{
	size_t n = 1 << 20;
	uint8_t *in = text(n);
	struct q c;

	if (q_open(&c, 0))
		die("q_open");
	bench_one(&c, "gzip 1 MiB", REQ_GZIP, in, n, 32, 8);
	bench_one(&c, "deflate 4 KiB", REQ_DEFLATE, in, 4096, 2000, 64);
	bench_one(&c, "deflate 4 KiB, one at a time", REQ_DEFLATE, in, 4096,
		  500, 1);
	q_close(&c);
	free(in);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: see the top of uacce_bench.c\n");
		return 2;
	}
	dev = argv[1];
	cmd_bench();
	printf("checks: %d failed: %d\n", nchecks, nfails);
	return nfails ? 1 : 0;
}
