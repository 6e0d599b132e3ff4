// SPDX-License-Identifier: GPL-2.0
/*
 * A reproducer for a race in Linux's vfio core (not in sdmdev), run inside
 * the QEMU guest on demand:
 *
 *   GUEST_ONLY='/vfio_close_race $C 200000' bash tests/guest/run
 *
 *   vfio_close_race <mdev uuid> [rounds]
 *
 * Each round attaches the mdev's group to a new container, then forks, so
 * that one task holds the container's file alone and the other the group's,
 * and both close at the same moment. vfio_fops_release (the container's
 * release) reads the container's IOMMU driver and then its data without a
 * lock; vfio_group_detach_container (the group's release) frees the data and
 * clears both under the container's group_lock. If the first read sees the
 * driver and the second sees the cleared data, vfio_iommu_type1_notify takes
 * a lock at a NULL pointer: an oops (a panic in the guest), which the guest's
 * dmesg check reports. A run that ends cleanly proves nothing: the window is
 * a few instructions wide. Each round shifts one side by a different spin,
 * so that the two releases sweep past each other. See docs/reliability.md.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <linux/vfio.h>

static void spin(unsigned long n)
{
	for (volatile unsigned long i = 0; i < n; i++)
		;
}

int main(int argc, char **argv)
{
	char path[256], link[256], *slash;
	unsigned long rounds = argc > 2 ? strtoul(argv[2], NULL, 0) : 100000;
	unsigned long attached = 0;
	ssize_t n;

	if (argc < 2) {
		fprintf(stderr, "usage: %s <mdev uuid> [rounds]\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/iommu_group",
		 argv[1]);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		perror(path);
		return 2;
	}
	link[n] = 0;
	slash = strrchr(link, '/');
	snprintf(path, sizeof(path), "/dev/vfio/%d",
		 atoi(slash ? slash + 1 : link));

	for (unsigned long r = 0; r < rounds; r++) {
		int c = open("/dev/vfio/vfio", O_RDWR);
		int g = open(path, O_RDWR);
		int ready[2], go[2];
		char b = 0;
		pid_t pid;

		if (c < 0 || g < 0 || pipe(ready) || pipe(go)) {
			perror("open");
			return 1;
		}
		if (ioctl(g, VFIO_GROUP_SET_CONTAINER, &c) ||
		    ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
			perror("attach");
			return 1;
		}
		attached++;
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			/* the child keeps the container only */
			close(g);
			if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1)
				_exit(1);
			spin(r % 4096);
			close(c);
			_exit(0);
		}
		/* the parent keeps the group only */
		close(c);
		if (read(ready[0], &b, 1) != 1 || write(go[1], &b, 1) != 1)
			return 1;
		spin((r / 4096) % 64);
		close(g);
		waitpid(pid, NULL, 0);
		close(ready[0]);
		close(ready[1]);
		close(go[0]);
		close(go[1]);
		if (r % 20000 == 0)
			printf("vfio_close_race: %lu rounds\n", r);
	}
	printf("vfio_close_race: %lu rounds, %lu attached, no oops\n", rounds,
	       attached);
	return 0;
}
