// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target for softzip's decompression stream (kernel/softzip_stream.c)
 * with user-space zlib as the oracle.
 *
 * Input: 6 control bytes, then the stream.
 *   byte 0: request type (SZ_T_RAW, SZ_T_ZLIB, SZ_T_GZIP: value % 3 + 1)
 *   byte 1: checksum asked for in dw15 (value % 3)
 *   bytes 2..5: seed of the generator that splits the stream over CONTINUE
 *   requests and picks each request's output space
 *
 * The stream goes through the parser the way softzip's queue thread sends
 * it: one sz_stream_start(), then requests of random input length and
 * output space, each continuing where the last one stopped (at the first
 * byte not consumed). Every buffer is allocated at its exact length so that
 * AddressSanitizer sees any access past it. The result must agree with
 * zlib inflating the whole stream at once: the same bytes out and the
 * stream ending at the same byte, or both refusing the stream, or both
 * waiting for more input. The checksum reported after each request must be
 * the one of all bytes produced so far.
 *
 * Built with libFuzzer (LLVMFuzzerTestOneInput) or, with -DSZ_DRIVER, as a
 * plain program that replays files and then runs random inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include "../../kernel/softzip_stream.h"

unsigned long sz_shim_resched;

#define CTRL_LEN	6
#define MAX_IN		(1U << 16)	/* longer inputs are cut */
#define MAX_OUT		(1U << 20)	/* streams inflating to more: skipped */
#define RANDOM_STEPS	256		/* then the rest in large requests */

enum outcome { END, TRUNCATED, REFUSED };

static const char *outcome_name[] = { "end", "truncated", "refused" };

static __attribute__((noreturn)) void fail(const char *what, unsigned long step)
{
	fprintf(stderr, "stream_fuzz: %s (request %lu)\n", what, step);
	abort();
}

static u64 rng_next(u64 *s)
{
	/* splitmix64 */
	u64 z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* a length up to @max, mostly small or everything, sometimes 0 */
static u32 pick_len(u64 *s, u32 max)
{
	u64 r = rng_next(s);

	switch (r & 7) {
	case 0:
		return 0;
	case 1:
		return max ? 1 : 0;
	case 2:
	case 3:
		return max ? (u32)((r >> 8) % (max < 16 ? max + 1 : 17)) : 0;
	case 4:
		return max;
	default:
		return max ? (u32)((r >> 8) % ((u64)max + 1)) : 0;
	}
}

/* zlib on the whole stream at once; 0 if it inflates to more than MAX_OUT */
static int oracle(u8 type, const u8 *in, u32 len, u8 *out, u32 *out_len,
		  u32 *in_used, enum outcome *res)
{
	int wbits = type == SZ_T_RAW ? -15 : type == SZ_T_ZLIB ? 15 : 31;
	z_stream zs;
	int ret;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, wbits) != Z_OK)
		fail("oracle inflateInit2", 0);
	zs.next_in = in;
	zs.avail_in = len;
	zs.next_out = out;
	zs.avail_out = MAX_OUT;
	ret = inflate(&zs, Z_FINISH);
	*out_len = MAX_OUT - zs.avail_out;
	*in_used = len - zs.avail_in;
	inflateEnd(&zs);
	/*
	 * zlib reads a preset dictionary's id before it says Z_NEED_DICT; the
	 * parser, which has no dictionaries, refuses at the header already
	 */
	if (type == SZ_T_ZLIB && len >= 2 && (in[0] & 0x0f) == 8 &&
	    in[0] >> 4 <= 7 && !((in[0] << 8 | in[1]) % 31) && (in[1] & 0x20)) {
		*res = REFUSED;
		return 1;
	}
	if (ret == Z_STREAM_END) {
		*res = END;
	} else if (ret == Z_BUF_ERROR && !zs.avail_out) {
		return 0;	/* too big to check */
	} else if (ret == Z_BUF_ERROR && !zs.avail_in) {
		*res = TRUNCATED;
	} else {
		/* Z_DATA_ERROR, or Z_NEED_DICT for a preset dictionary */
		*res = REFUSED;
	}
	return 1;
}

static u32 expected_csum(u8 kind, const u8 *p, u32 len)
{
	if (kind == SZ_CSUM_CRC32)
		return (u32)crc32(0, p, len);
	if (kind == SZ_CSUM_ADLER32)
		return (u32)adler32(1, p, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static u8 want[MAX_OUT], got[MAX_OUT];
	static u8 empty;
	struct sz_decoder d;
	z_stream zs;
	const u8 *stream;
	u32 len, want_len, want_in, pos = 0, out = 0;
	u8 type, csum, kind;
	enum outcome expect, seen;
	unsigned long step;
	u64 seed;

	if (size < CTRL_LEN)
		return 0;
	type = data[0] % 3 + 1;
	csum = data[1] % 3;
	seed = (u64)data[2] | (u64)data[3] << 8 | (u64)data[4] << 16 |
	       (u64)data[5] << 24;
	stream = data + CTRL_LEN;
	len = size - CTRL_LEN > MAX_IN ? MAX_IN : (u32)(size - CTRL_LEN);
	if (!oracle(type, stream, len, want, &want_len, &want_in, &expect))
		return 0;
	kind = sz_csum_kind(type, csum);

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
		fail("inflateInit2", 0);
	/* a queue's decoder holds whatever the last stream left there */
	memset(&d, 0xa5, sizeof(d));
	sz_stream_start(&d, &zs, type, csum);

	for (step = 0;; step++) {
		u32 left = len - pos, in_len, space, consumed, produced, cs;
		u8 *src, *dst, st;

		if (step < RANDOM_STEPS) {
			in_len = pick_len(&seed, left);
			space = pick_len(&seed, MAX_OUT - out);
		} else {
			/* enough splitting: finish in a few large requests */
			in_len = left;
			space = MAX_OUT - out;
		}
		if (step > RANDOM_STEPS + 4)
			fail("no end after large requests", step);
		src = in_len ? malloc(in_len) : &empty;
		dst = space ? malloc(space) : &empty;
		if (!src || !dst)
			fail("out of memory", step);
		memcpy(src, stream + pos, in_len);
		consumed = produced = cs = 0xdeadbeef;
		st = sz_stream_decode(&d, &zs, src, in_len, dst, space,
				      &consumed, &produced, &cs);
		if (consumed > in_len || produced > space)
			fail("consumed or produced more than given", step);
		memcpy(got + out, dst, produced);
		if (in_len)
			free(src);
		if (space)
			free(dst);
		pos += consumed;
		out += produced;
		if (out > want_len || memcmp(got, want, out))
			fail("output differs from zlib's", step);
		if (cs != expected_csum(kind, got, out))
			fail("reported checksum is not the output's", step);

		switch (st) {
		case SZ_ST_OK:
			seen = END;
			break;
		case SZ_ST_DATA_ERR:
		case SZ_ST_CSUM_ERR:
			seen = REFUSED;
			break;
		case SZ_ST_NEED_INPUT:
			if (consumed != in_len)
				fail("NEED_INPUT with input left", step);
			if (!d.open)
				fail("NEED_INPUT closed the stream", step);
			if (pos < len)
				continue;
			seen = TRUNCATED;
			break;
		case SZ_ST_OUT_SMALL:
			if (produced != space)
				fail("OUT_SMALL with room left", step);
			if (!d.open)
				fail("OUT_SMALL closed the stream", step);
			continue;
		default:
			fail("unexpected status", step);
		}
		if (seen != TRUNCATED && d.open)
			fail("a finished stream stays open", step);
		if (seen != expect) {
			fprintf(stderr, "parser: %s (status %#x), zlib: %s\n",
				outcome_name[seen], st, outcome_name[expect]);
			fail("outcome differs from zlib's", step);
		}
		if (seen == END && (pos != want_in || out != want_len))
			fail("stream ends elsewhere than zlib's", step);
		break;
	}
	inflateEnd(&zs);
	return 0;
}

#ifdef SZ_DRIVER
/*
 * Without libFuzzer: stream_fuzz [-s seed] [-t seconds] [file...]
 * replays the files, then mutates them (or random bytes) until the time
 * is up.
 */
#include <time.h>
#include <unistd.h>

static u8 *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	u8 *buf = malloc(MAX_IN + CTRL_LEN);

	if (!f || !buf)
		fail("cannot read a corpus file", 0);
	*n = fread(buf, 1, MAX_IN + CTRL_LEN, f);
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	u64 seed = (u64)time(NULL), s;
	double seconds = 0;
	unsigned long runs = 0;
	size_t nfiles, i;
	u8 **files, buf[4096];
	size_t *sizes;
	time_t end;
	int opt;

	while ((opt = getopt(argc, argv, "s:t:")) != -1) {
		if (opt == 's')
			seed = strtoull(optarg, NULL, 0);
		else if (opt == 't')
			seconds = atof(optarg);
		else
			return 2;
	}
	nfiles = argc - optind;
	files = calloc(nfiles + 1, sizeof(*files));
	sizes = calloc(nfiles + 1, sizeof(*sizes));
	for (i = 0; i < nfiles; i++) {
		files[i] = slurp(argv[optind + i], &sizes[i]);
		LLVMFuzzerTestOneInput(files[i], sizes[i]);
		runs++;
	}
	printf("replayed %zu files; seed %llu\n", nfiles,
	       (unsigned long long)seed);
	s = seed;
	end = time(NULL) + (time_t)seconds;
	while (time(NULL) < end) {
		size_t n, k;

		for (k = 0; k < 256; k++) {
			if (nfiles && rng_next(&s) % 8) {
				/* flip a few bytes of a corpus file */
				size_t f = rng_next(&s) % nfiles;
				unsigned int flips = rng_next(&s) % 4, j;

				n = sizes[f] < sizeof(buf) ? sizes[f] : sizeof(buf);
				memcpy(buf, files[f], n);
				for (j = 0; j < flips && n; j++)
					buf[rng_next(&s) % n] = (u8)rng_next(&s);
				if (n > CTRL_LEN && rng_next(&s) % 4 == 0)
					n = CTRL_LEN + rng_next(&s) % (n - CTRL_LEN);
				for (j = 2; j < CTRL_LEN && n > j; j++)
					buf[j] = (u8)rng_next(&s);
			} else {
				n = rng_next(&s) % sizeof(buf);
				for (size_t j = 0; j < n; j++)
					buf[j] = (u8)rng_next(&s);
			}
			LLVMFuzzerTestOneInput(buf, n);
			runs++;
		}
	}
	printf("stream_fuzz: %lu runs, seed %llu: no disagreement\n", runs,
	       (unsigned long long)seed);
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	free(sizes);
	return 0;
}
#endif
