// SPDX-License-Identifier: GPL-2.0
/*
 * User-space test of the mainline uacce ABI with the uacce_softzip parent
 * (a software hisi_qm v2 ZIP function), run inside the QEMU guest.
 *
 *   uacce_test abi <dev> <queues> [uid]   sysfs, open, QP_CTX, mmap, START_Q,
 *                                         v2 ZIP entries against zlib, poll(),
 *                                         faults, fork, kill -9, close busy
 *   uacce_test hold <dev> <ready> <go>    keep a started queue with requests
 *                                         in flight; once <go> exists (the
 *                                         parent module was unloaded) check
 *                                         the queue is defunct and harmless
 *
 * <dev> is the uacce device name (hisi_zip-N). With [uid] the test drops
 * to that user before it opens anything, as an ordinary user given the
 * device node would run. Each run ends with "checks: N failed: M".
 *
 * The ioctl numbers and structures come from the mainline UAPI headers
 * (misc/uacce/uacce.h and hisi_qm.h); ring and entry layouts follow
 * docs/abi.md ("hisi_qm v2 and v3 through uacce"); the ring driver is
 * wd_ring_v2.c's, shared with the figures (uacce_bench.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>
#include <zlib.h>
#include <misc/uacce/uacce.h>
#include <misc/uacce/hisi_qm.h>

#include "wd_ring_v2.h"

/* ---- sysfs ---- */

static int read_attr(const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/uacce/%s/%s", dev, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static long attr_num(const char *name)
{
	char buf[64];

	if (read_attr(name, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 0);
}

/* ---- data ---- */

static const uint8_t gz_hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
static const uint8_t zl_hdr[2] = { 0x78, 0x9c };

static int wbits(uint32_t req)
{
	return req == REQ_GZIP ? 31 : req == REQ_ZLIB ? 15 : -15;
}

static size_t hdr_len(uint32_t req)
{
	return req == REQ_GZIP ? 10 : req == REQ_ZLIB ? 2 : 0;
}

/* inflate a whole stream with zlib; returns the length or -1 */
static long ref_inflate(uint32_t req, const uint8_t *in, size_t n,
			uint8_t *out, size_t space)
{
	z_stream z = { 0 };
	long got;

	if (inflateInit2(&z, wbits(req)) != Z_OK)
		return -1;
	z.next_in = (uint8_t *)in;
	z.avail_in = n;
	z.next_out = out;
	z.avail_out = space;
	got = inflate(&z, Z_FINISH) == Z_STREAM_END ? (long)z.total_out : -1;
	inflateEnd(&z);
	return got;
}

static size_t ref_deflate(uint32_t req, const uint8_t *in, size_t n,
			  uint8_t *out, size_t space)
{
	z_stream z = { 0 };
	size_t got;

	if (deflateInit2(&z, 6, Z_DEFLATED, wbits(req), 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		die("deflateInit2");
	z.next_in = (uint8_t *)in;
	z.avail_in = n;
	z.next_out = out;
	z.avail_out = space;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		die("deflate");
	got = z.total_out;
	deflateEnd(&z);
	return got;
}

/* ---- the checks ---- */

static void check_sysfs(long queues)
{
	char buf[256];
	struct stat st;
	char path[256];

	CHECK(!read_attr("api", buf, sizeof(buf)) && !strcmp(buf, "hisi_qm_v2\n"),
	      "api '%s'", buf);
	CHECK(!read_attr("flags", buf, sizeof(buf)) && !strcmp(buf, "0\n"),
	      "flags '%s'", buf);
	CHECK(!read_attr("algorithms", buf, sizeof(buf)) &&
	      !strcmp(buf, "zlib\ngzip\ndeflate\n"), "algorithms '%s'", buf);
	CHECK(attr_num("region_mmio_size") == MMIO_SIZE, "region_mmio_size %ld",
	      attr_num("region_mmio_size"));
	CHECK(attr_num("region_dus_size") == DUS_SIZE, "region_dus_size %ld",
	      attr_num("region_dus_size"));
	CHECK(attr_num("available_instances") == queues,
	      "available_instances %ld, want %ld",
	      attr_num("available_instances"), queues);
	/* 6.1's uacce has no isolation attributes */
	snprintf(path, sizeof(path), "/sys/class/uacce/%s/isolate", dev);
	CHECK(stat(path, &st) && errno == ENOENT, "%s exists", path);
	CHECK(!read_attr("device/modalias", buf, sizeof(buf)) &&
	      !strcmp(buf, "platform:uacce_softzip\n"), "modalias '%s'", buf);
}

static void check_open(long queues)
{
	struct hisi_qp_ctx ctx = { .qc_type = 2 };
	struct hisi_qp_info info = { 0 };
	char path[64];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "/dev/%s", dev);
	fd = open(path, O_RDWR);
	if (fd < 0)
		die("open");
	CHECK(attr_num("available_instances") == queues - 1,
	      "available after open %ld", attr_num("available_instances"));
	CHECK(ioctl(fd, UACCE_CMD_QM_SET_QP_INFO, &info) == 0 &&
	      info.sqe_size == SQE_SIZE && info.sq_depth == DEPTH &&
	      info.cq_depth == DEPTH, "QP_INFO %u %u %u", info.sqe_size,
	      info.sq_depth, info.cq_depth);
	CHECK(ioctl(fd, UACCE_CMD_QM_SET_QP_CTX, &ctx) < 0 && errno == EINVAL,
	      "QP_CTX type 2 accepted");
	ctx.qc_type = 1;
	CHECK(ioctl(fd, UACCE_CMD_QM_SET_QP_CTX, &ctx) == 0 && ctx.id < queues,
	      "QP_CTX id %u", ctx.id);
	CHECK(ioctl(fd, UACCE_CMD_QM_SET_QP_CTX, (void *)8) < 0 && errno == EFAULT,
	      "QP_CTX on a bad pointer");
	CHECK(ioctl(fd, _IO('W', 7)) < 0 && errno == EINVAL, "unknown ioctl");
	/* region 2 does not exist; a DUS of the wrong size is refused */
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 2 * 4096L);
	CHECK(p == MAP_FAILED && errno == EINVAL, "mmap region 2");
	p = mmap(NULL, DUS_SIZE - 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 UACCE_QFRT_DUS * 4096L);
	CHECK(p == MAP_FAILED && errno == EINVAL, "short DUS mapped");
	p = mmap(NULL, MMIO_SIZE + 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 UACCE_QFRT_MMIO * 4096L);
	CHECK(p == MAP_FAILED && errno == EINVAL, "long MMIO mapped");
	p = mmap(NULL, MMIO_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 UACCE_QFRT_MMIO * 4096L);
	CHECK(p != MAP_FAILED, "MMIO mmap: %s", strerror(errno));
	/* each region maps once per open file */
	CHECK(mmap(NULL, MMIO_SIZE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
	      errno == EEXIST, "second MMIO mapping");
	CHECK(ioctl(fd, UACCE_CMD_START_Q) == 0, "START_Q: %s", strerror(errno));
	CHECK(ioctl(fd, UACCE_CMD_START_Q) < 0 && errno == EINVAL, "START_Q twice");
	CHECK(ioctl(fd, UACCE_CMD_PUT_Q) == 0, "PUT_Q");
	munmap(p, MMIO_SIZE);
	close(fd);
	CHECK(attr_num("available_instances") == queues,
	      "available after close %ld", attr_num("available_instances"));
}

static void check_compress(struct q *c, uint32_t req, const uint8_t *in,
			   size_t n)
{
	size_t space = n + n / 8 + 64, h = hdr_len(req);
	uint8_t *out = malloc(space + h), *back = malloc(n + 1);
	uint32_t *e;
	int s;

	/* as UADK: the driver writes the header, the device the rest */
	memcpy(out, req == REQ_GZIP ? gz_hdr : zl_hdr, h);
	s = run1(c, req, in, n, out + h, space);
	e = sqe(c, s);
	/* NEGACOMPRESS: a valid stream, not smaller than the input */
	CHECK(e[W_STATUS] == (e[W_PRODUCED] < n ? ST_OK : ST_NOT_SHRUNK),
	      "req %u status %#x, produced %u of %zu", req, e[W_STATUS],
	      e[W_PRODUCED], n);
	CHECK(e[W_CONSUMED] == n, "req %u consumed %u of %zu", req,
	      e[W_CONSUMED], n);
	CHECK(e[W_PRODUCED] > 0, "req %u produced nothing", req);
	CHECK(ref_inflate(req, out, h + e[W_PRODUCED], back, n + 1) == (long)n &&
	      !memcmp(back, in, n), "req %u: zlib does not get the input back",
	      req);
	if (req == REQ_GZIP)
		CHECK(e[W_CSUM] == crc32(0, in, n), "gzip crc %#x", e[W_CSUM]);
	if (req == REQ_ZLIB)
		CHECK(e[W_CSUM] == adler32(1, in, n), "zlib adler %#x",
		      e[W_CSUM]);
	CHECK(e[W_ISIZE] == n, "isize %u", e[W_ISIZE]);
	CHECK((req == REQ_DEFLATE ? e[W_TAG_V3] : e[W_TAG]) ==
	      (0x5a5a0000u | s), "tag not kept");
	free(out);
	free(back);
}

static void check_decompress(struct q *d, uint32_t req, const uint8_t *in,
			     size_t n)
{
	size_t space = n + n / 8 + 64, h = hdr_len(req);
	uint8_t *z = malloc(space), *out = malloc(n + 100);
	size_t zn = ref_deflate(req, in, n, z, space);
	uint32_t *e;
	int s;

	/* as UADK: the driver skips the header */
	s = run1(d, req, z + h, zn - h, out, n + 100);
	e = sqe(d, s);
	CHECK(e[W_STATUS] == (ST_END | LSTBLK), "req %u status %#x", req,
	      e[W_STATUS]);
	CHECK(e[W_PRODUCED] == n && !memcmp(out, in, n),
	      "req %u produced %u of %zu", req, e[W_PRODUCED], n);
	CHECK(e[W_CONSUMED] == zn - h, "req %u consumed %u of %zu", req,
	      e[W_CONSUMED], zn - h);
	if (req == REQ_GZIP)
		CHECK(e[W_CSUM] == crc32(0, in, n), "gzip crc %#x", e[W_CSUM]);
	if (req == REQ_ZLIB)
		CHECK(e[W_CSUM] == adler32(1, in, n), "zlib adler %#x",
		      e[W_CSUM]);

	/* a damaged check value, too little room, input cut short */
	if (req != REQ_DEFLATE) {
		z[zn - (req == REQ_GZIP ? 8 : 1)] ^= 0x40;
		s = run1(d, req, z + h, zn - h, out, n + 100);
		CHECK((status(d, s) & 0xff) == ST_CSUM_ERR,
		      "req %u bad check: %#x", req, status(d, s));
		z[zn - (req == REQ_GZIP ? 8 : 1)] ^= 0x40;
	}
	s = run1(d, req, z + h, zn - h, out, n / 2);
	CHECK((status(d, s) & 0xff) == ST_OUT_SMALL, "req %u small output: %#x",
	      req, status(d, s));
	s = run1(d, req, z + h, (zn - h) / 2, out, n + 100);
	CHECK(status(d, s) == ST_OK && sqe(d, s)[W_PRODUCED] > 0,
	      "req %u cut input: %#x", req, status(d, s));
	memset(z, 0xff, 64);
	s = run1(d, req, z, 64, out, n + 100);
	CHECK((status(d, s) & 0xff) != ST_OK && (status(d, s) & 0xff) != ST_END,
	      "req %u garbage decoded: %#x", req, status(d, s));
	free(z);
	free(out);
}

/* one stateful request: @dw7 its stream fields; returns the slot */
static int run_stream(struct q *q, uint32_t req, uint32_t dw7, const void *src,
		      uint32_t in_len, void *dst, uint32_t space)
{
	int want = prepare(q, req, src, in_len, dst, space, 0x5a5a0000 | q->tail);
	int got;

	sqe(q, want)[W_DW7] |= dw7;
	ring(q, DB_SQ, q->tail);
	got = reap(q);
	CHECK(got == want, "completed slot %d, submitted %d", got, want);
	return got < 0 ? want : got;
}

/*
 * Streams: a raw piece ending in a sync flush (two of them, then a final
 * one, make one deflate stream zlib reads), and a gzip body decompressed
 * over three stateful requests that stop for input and for output room.
 */
static void check_streams(struct q *c, struct q *d, const uint8_t *in, size_t n)
{
	size_t space = n + n / 8 + 64, zn = 0, half = n / 2, got = 0;
	uint8_t *z = malloc(3 * space), *out = malloc(n + 100);
	uint32_t *e;
	int s, i;

	for (i = 0; i < 3; i++) {
		size_t off = i == 0 ? 0 : i == 1 ? half / 2 : half;
		size_t len = i == 0 ? half / 2 : i == 1 ? half - half / 2 : n - half;

		s = run_stream(c, REQ_DEFLATE, DW7_STATEFUL | DW7_NEW |
			       (i == 2 ? DW7_FINISH : 0), in + off, len, z + zn,
			       space);
		e = sqe(c, s);
		CHECK(e[W_STATUS] == ST_OK && e[W_CONSUMED] == len,
		      "piece %d: status %#x consumed %u", i, e[W_STATUS],
		      e[W_CONSUMED]);
		zn += e[W_PRODUCED];
		if (i < 2)
			CHECK(zn >= 4 && !memcmp(z + zn - 4, "\0\0\xff\xff", 4),
			      "piece %d does not end in a sync flush", i);
	}
	CHECK(ref_inflate(REQ_DEFLATE, z, zn, out, n + 1) == (long)n &&
	      !memcmp(out, in, n), "the pieces do not make one stream");

	zn = ref_deflate(REQ_GZIP, in, n, z, space) - 10;
	/* new, input cut short: open, nothing final */
	s = run_stream(d, REQ_GZIP, DW7_STATEFUL | DW7_NEW, z + 10, zn / 2, out,
		       n + 100);
	e = sqe(d, s);
	CHECK(e[W_STATUS] == ST_OK && e[W_CONSUMED] == zn / 2,
	      "stream part 1: %#x consumed %u", e[W_STATUS], e[W_CONSUMED]);
	got = e[W_PRODUCED];
	/* continued, output room cut short */
	s = run_stream(d, REQ_GZIP, DW7_STATEFUL, z + 10 + zn / 2, zn - zn / 2,
		       out + got, 1000);
	e = sqe(d, s);
	CHECK((e[W_STATUS] & 0xff) == ST_OUT_SMALL && e[W_PRODUCED] == 1000,
	      "stream part 2: %#x produced %u", e[W_STATUS], e[W_PRODUCED]);
	got += e[W_PRODUCED];
	i = e[W_CONSUMED];
	/* continued to the end: the trailer checked */
	s = run_stream(d, REQ_GZIP, DW7_STATEFUL, z + 10 + zn / 2 + i,
		       zn - zn / 2 - i, out + got, n + 100 - got);
	e = sqe(d, s);
	CHECK(e[W_STATUS] == (ST_END | LSTBLK) && e[W_CSUM] == crc32(0, in, n),
	      "stream part 3: %#x", e[W_STATUS]);
	got += e[W_PRODUCED];
	CHECK(got == n && !memcmp(out, in, n), "stream output %zu of %zu", got, n);
	/* the stream is over: going on with it, or with another type, fails */
	s = run_stream(d, REQ_GZIP, DW7_STATEFUL, z + 10, zn, out, n + 100);
	CHECK(status(d, s) == ST_BAD_REQ, "continued after the end: %#x",
	      status(d, s));
	s = run_stream(d, REQ_GZIP, DW7_STATEFUL | DW7_NEW, z + 10, 100, out,
		       n + 100);
	s = run_stream(d, REQ_ZLIB, DW7_STATEFUL, z + 10, 100, out, n + 100);
	CHECK(status(d, s) == ST_BAD_REQ, "continued as another type: %#x",
	      status(d, s));
	free(z);
	free(out);
}

static void check_errors(struct q *c, const uint8_t *in, size_t n)
{
	uint8_t *out = malloc(n * 2 + 64), *rnd = malloc(4096);
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *hole;
	int s, i;

	/* too little room */
	s = run1(c, REQ_GZIP, in, n, out, 16);
	CHECK((status(c, s) & 0xff) == ST_OUT_SMALL &&
	      sqe(c, s)[W_PRODUCED] == 0, "tiny output: %#x", status(c, s));
	/* incompressible input: the output is still a valid stream */
	srand(7);
	for (i = 0; i < 4096; i++)
		rnd[i] = rand();
	memcpy(out, gz_hdr, 10);
	s = run1(c, REQ_GZIP, rnd, 4096, out + 10, 8192);
	CHECK((status(c, s) & 0xff) == ST_NOT_SHRUNK, "random input: %#x",
	      status(c, s));
	CHECK(ref_inflate(REQ_GZIP, out, 10 + sqe(c, s)[W_PRODUCED], out + 9000,
			  4097) == 4096 && !memcmp(out + 9000, rnd, 4096),
	      "negacompressed stream does not decode");
	/* entries the device does not take */
	s = run1(c, 4, in, n, out, n);
	CHECK(status(c, s) == ST_BAD_REQ, "request type 4: %#x", status(c, s));
	s = run1(c, REQ_GZIP | 1 << 8, in, n, out, n);
	CHECK(status(c, s) == ST_BAD_REQ, "SGL buffers: %#x", status(c, s));
	s = submit(c, REQ_ZLIB, in, 9u << 20, out, n, 0);
	CHECK(reap(c) == s && status(c, s) == ST_BAD_REQ, "9 MiB input: %#x",
	      status(c, s));
	/* a continued compression stream: no history is kept here */
	s = prepare(c, REQ_GZIP, in, n, out, n, 0);
	sqe(c, s)[W_DW7] = DW7_STATEFUL;
	ring(c, DB_SQ, c->tail);
	CHECK(reap(c) == s && status(c, s) == ST_BAD_REQ,
	      "continued compression: %#x", status(c, s));
	/* a sync-flush piece of a gzip stream: raw pieces only */
	s = prepare(c, REQ_GZIP, in, n, out, n, 0);
	sqe(c, s)[W_DW7] = DW7_STATEFUL | DW7_NEW;
	ring(c, DB_SQ, c->tail);
	CHECK(reap(c) == s && status(c, s) == ST_BAD_REQ, "gzip piece: %#x",
	      status(c, s));

	/* addresses the process has not mapped: the fault status */
	hole = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, 2 * pg);
	s = run1(c, REQ_GZIP, hole, n, out, n);
	CHECK(status(c, s) == ST_DMA_FAULT && sqe(c, s)[W_CONSUMED] == 0,
	      "unmapped source: %#x", status(c, s));
	s = run1(c, REQ_GZIP, in, n, hole, n);
	CHECK(status(c, s) == ST_DMA_FAULT, "unmapped destination: %#x",
	      status(c, s));
	s = run1(c, REQ_GZIP, (void *)0xffff888000000000ull, 4096, out, n);
	CHECK(status(c, s) == ST_DMA_FAULT, "kernel address: %#x",
	      status(c, s));
	s = run1(c, REQ_GZIP, in, 4096, (void *)0xffffffff81000000ull, n);
	CHECK(status(c, s) == ST_DMA_FAULT, "kernel destination: %#x",
	      status(c, s));
	/* read-only destination */
	hole = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s = run1(c, REQ_DEFLATE, in, 2000, hole, pg);
	CHECK(status(c, s) == ST_DMA_FAULT, "read-only destination: %#x",
	      status(c, s));
	munmap(hole, pg);
	/* and the queue goes on */
	check_compress(c, REQ_GZIP, in, n);
	free(out);
	free(rnd);
}

/*
 * Memory whose page faults nobody serves (userfaultfd, root only): the
 * request ends with the fault status, as an SVA device's would, and the
 * process is not asked to serve the fault.
 */
static void check_uffd(struct q *c)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *area, *out = malloc(8 * pg);
	struct uffd_msg msg;
	int uffd, s;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) {
		printf("userfaultfd not open to this user (%s): not checked\n",
		       strerror(errno));
		free(out);
		return;
	}
	if (ioctl(uffd, UFFDIO_API, &api))
		die("UFFDIO_API");
	area = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg.range.start = (uintptr_t)area;
	reg.range.len = 4 * pg;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER");
	s = run1(c, REQ_GZIP, area, 4 * pg, out, 8 * pg);
	CHECK(status(c, s) == ST_DMA_FAULT, "unserved source: %#x",
	      status(c, s));
	s = run1(c, REQ_GZIP, "abc", 3, area, 4 * pg);
	CHECK(status(c, s) == ST_DMA_FAULT, "unserved destination: %#x",
	      status(c, s));
	CHECK(read(uffd, &msg, sizeof(msg)) < 0 && errno == EAGAIN,
	      "the device's fault reached userfaultfd");
	close(uffd);
	munmap(area, 4 * pg);
	free(out);
}

/* many entries in flight, and the rings wrapping (phase flips) */
static void check_pipeline(struct q *c, const uint8_t *in)
{
	uint8_t *out = malloc(256 * 128);
	int done = 0, bad = 0, order = 0, i;
	uint16_t expect = c->tail;

	while (done < 2 * DEPTH + 100) {
		/* keep up to 200 in flight */
		while (c->out < 200 && done + (int)c->out < 2 * DEPTH + 100) {
			i = c->tail % 256;
			submit(c, REQ_DEFLATE, in + i, 64, out + i * 128, 128, i);
		}
		int s = reap(c);

		if (s < 0) {
			CHECK(0, "pipeline stalled after %d", done);
			return;
		}
		if (s != expect)
			order++;
		expect = (s + 1) % DEPTH;
		if ((status(c, s) & 0xff) != ST_OK &&
		    (status(c, s) & 0xff) != ST_NOT_SHRUNK)
			bad++;
		done++;
	}
	CHECK(!bad, "%d of %d pipelined requests failed", bad, done);
	CHECK(!order, "%d completions out of order", order);
	free(out);
}

/* poll(): readable once a completion is posted, and not before */
static void check_poll(struct q *c, const uint8_t *in, size_t n)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	uint8_t *out = malloc(n);
	int r;

	/*
	 * As qm.c, poll() reports each completion once, whether or not the
	 * driver has taken it: the first poll may report the ones taken
	 * without polling, the next finds nothing new.
	 */
	poll(&p, 1, 0);
	CHECK(poll(&p, 1, 0) == 0, "poll readable on an idle queue");
	submit(c, REQ_GZIP, in, n, out, n, 0);
	/* the completion wakes the sleeper (a hang guard of 2 minutes) */
	r = poll(&p, 1, 120000);
	CHECK(r == 1 && (p.revents & POLLIN), "poll %d revents %#x", r,
	      p.revents);
	CHECK((cqe(c, c->head)[7] & 1) == c->phase, "woken without a completion");
	CHECK(reap(c) >= 0, "reap after poll");
	free(out);
}

/* a fork child has neither the regions nor the parent's memory */
static void check_fork(struct q *c, const uint8_t *in, size_t n)
{
	int st, pfd[2];
	pid_t pid;
	uint8_t *late;

	if (pipe(pfd))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		struct q own;
		uint8_t *buf;
		int s, code = 0;

		/* the inherited file cannot map its regions again */
		if (mmap(NULL, MMIO_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 c->fd, 0) != MAP_FAILED || errno != EEXIST)
			code |= 1;
		if (mmap(NULL, DUS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 c->fd, 4096) != MAP_FAILED || errno != EEXIST)
			code |= 2;
		/* nor are they mapped here (VM_DONTCOPY) */
		if (msync((void *)c->dus, 4096, MS_ASYNC) == 0 ||
		    errno != ENOMEM)
			code |= 4;
		/* its own queue works, in its own address space */
		if (read(pfd[0], &late, sizeof(late)) != sizeof(late))
			code |= 8;
		if (q_open(&own, 0)) {
			code |= 16;
		} else {
			buf = malloc(n);
			s = submit(&own, REQ_GZIP, in, n, buf, n, 0);
			if (reap(&own) != s || status(&own, s) != ST_OK)
				code |= 32;
			/* the parent's page, absent here: a fault, not a read */
			s = submit(&own, REQ_GZIP, late, 4096, buf, n, 0);
			if (reap(&own) != s || status(&own, s) != ST_DMA_FAULT)
				code |= 64;
			q_close(&own);
		}
		_exit(code);
	}
	/* a buffer the child never had, away from where its own maps go */
	late = mmap((void *)0x600000000000ull, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (late == MAP_FAILED)
		die("mmap late");
	memset(late, 1, 4096);
	if (write(pfd[1], &late, sizeof(late)) != sizeof(late))
		die("write");
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child: status %#x",
	      st);
	close(pfd[0]);
	close(pfd[1]);
	munmap(late, 4096);
	/* the parent's queue is unharmed */
	check_compress(c, REQ_ZLIB, in, n);
}

/* a child with big requests in flight: SIGKILL, or close */
static void check_busy_exit(const uint8_t *in, size_t n, long queues,
			    bool kill_it)
{
	int pfd[2], st, i;
	pid_t pid;
	char c;

	if (pipe(pfd))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		struct q q;
		uint8_t *out = malloc(n * 16);

		if (q_open(&q, 0))
			_exit(1);
		for (i = 0; i < 16; i++)
			submit(&q, REQ_GZIP, in, n, out + i * n, n, i);
		if (write(pfd[1], "r", 1) != 1)
			_exit(1);
		if (kill_it)
			pause();
		/* close with requests in flight */
		q_close(&q);
		_exit(0);
	}
	CHECK(read(pfd[0], &c, 1) == 1, "child never got ready");
	if (kill_it)
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	CHECK(kill_it ? WIFSIGNALED(st) : WIFEXITED(st) && !WEXITSTATUS(st),
	      "child status %#x", st);
	close(pfd[0]);
	close(pfd[1]);
	/*
	 * The queue goes with the process; when the device thread held the
	 * last user of its mm, the final close runs from a work queue a little
	 * later (a hang guard of two minutes, nothing asserted about time).
	 */
	for (i = 0; i < 1200 && attr_num("available_instances") != queues; i++)
		usleep(100000);
	CHECK(attr_num("available_instances") == queues,
	      "available after the busy child (%s): %ld", kill_it ? "kill" : "close",
	      attr_num("available_instances"));
}

static void check_restart(struct q *c, const uint8_t *in, size_t n)
{
	/* PUT_Q stops the queue; START_Q makes fresh rings */
	CHECK(ioctl(c->fd, UACCE_CMD_PUT_Q) == 0, "PUT_Q");
	CHECK(ioctl(c->fd, UACCE_CMD_START_Q) == 0, "START_Q after PUT_Q");
	c->tail = c->head = 0;
	c->phase = 1;
	c->out = 0;
	check_compress(c, REQ_DEFLATE, in, n);
}

static int cmd_abi(long queues)
{
	size_t n = 200000;
	uint8_t *in = text(n);
	struct q c, d;
	uint32_t r;

	check_sysfs(queues);
	check_open(queues);
	if (q_open(&c, 0) || q_open(&d, 1))
		die("q_open");
	CHECK(c.id != d.id, "two queues, one id %u", c.id);
	for (r = REQ_DEFLATE; r <= REQ_GZIP; r++) {
		check_compress(&c, r, in, n);
		check_decompress(&d, r, in, n);
	}
	/* empty input is a stream too */
	check_compress(&c, REQ_GZIP, in, 0);
	check_streams(&c, &d, in, n);
	check_errors(&c, in, n);
	check_uffd(&c);
	check_pipeline(&c, in);
	check_poll(&c, in, n);
	check_fork(&c, in, n);
	check_busy_exit(in, n, queues - 2, true);
	check_busy_exit(in, n, queues - 2, false);
	check_restart(&c, in, n);
	q_close(&c);
	q_close(&d);
	CHECK(attr_num("available_instances") == queues, "available at the end %ld",
	      attr_num("available_instances"));
	free(in);
	return 0;
}

static sigjmp_buf jb;

static void on_bus(int sig)
{
	siglongjmp(jb, sig);
}

/* a started, busy queue while the parent module goes away */
static int cmd_hold(const char *ready, const char *go)
{
	size_t n = 1 << 20;
	uint8_t *in = text(n), *out = malloc(n * 8);
	struct pollfd p;
	struct q q;
	int i, fd, sig;

	if (q_open(&q, 0))
		die("q_open");
	for (i = 0; i < 8; i++)
		submit(&q, REQ_GZIP, in, n, out + i * n, n, i);
	fd = open(ready, O_CREAT | O_WRONLY, 0644);
	close(fd);
	while (access(go, F_OK))
		usleep(50000);
	/* defunct: no ioctl, no new mapping, no event */
	CHECK(ioctl(q.fd, UACCE_CMD_START_Q) < 0 && errno == ENXIO,
	      "ioctl after unload: %s", strerror(errno));
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, q.fd, 0) == MAP_FAILED,
	      "mmap after unload");
	p = (struct pollfd){ .fd = q.fd, .events = POLLIN };
	CHECK(poll(&p, 1, 0) == 0, "poll after unload");
	/* the old mappings are gone: a touch is SIGBUS, not stale memory */
	signal(SIGBUS, on_bus);
	signal(SIGSEGV, on_bus);
	sig = sigsetjmp(jb, 1);
	if (!sig)
		(void)*(volatile uint8_t *)q.dus;
	CHECK(sig == SIGBUS, "reading the DUS after unload: signal %d", sig);
	q_close(&q);
	return 0;
}

static void drop_to(const char *uid)
{
	uid_t u = atoi(uid);

	if (setgroups(0, NULL) || setgid(u) || setuid(u))
		die("setuid");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "abi")) {
		dev = argv[2];
		if (argc > 4)
			drop_to(argv[4]);
		cmd_abi(atol(argv[3]));
	} else if (argc == 5 && !strcmp(argv[1], "hold")) {
		dev = argv[2];
		cmd_hold(argv[3], argv[4]);
	} else {
		fprintf(stderr, "usage: see the top of uacce_test.c\n");
		return 2;
	}
	printf("checks: %d failed: %d\n", nchecks, nfails);
	return nfails ? 1 : 0;
}
