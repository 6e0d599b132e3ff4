/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the guest's C programs (sdmdev_test.c, sdmdev_bench.c,
 * abi_fuzz.c).
 *
 * Under the debug kernel's fault injection (tests/guest/debug-stage.sh):
 * with MAKE_IT_FAIL=1 in the environment the program marks itself once it
 * runs, so that the injected failures hit what it asks of the kernel
 * rather than its own loading by exec. Its threads and children inherit
 * the mark. Needs CAP_SYS_RESOURCE: call it before dropping privileges.
 * Exits with status 2 when the mark cannot be set.
 */
#ifndef WD_GUEST_FAULT_MARK_H
#define WD_GUEST_FAULT_MARK_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void mark_for_fault_injection(void)
{
	const char *v = getenv("MAKE_IT_FAIL");
	int fd;

	if (!v || strcmp(v, "1"))
		return;
	fd = open("/proc/self/make-it-fail", O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1) {
		perror("/proc/self/make-it-fail");
		exit(2);
	}
	close(fd);
}

#endif
