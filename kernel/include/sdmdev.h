/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sdmdev: the in-kernel API between the framework and parent drivers.
 *
 * A parent driver owns queues. sdmdev turns each queue into a VFIO mediated
 * device: it creates the mdev types, hands a queue to every mdev, maps the
 * queue's regions into the owning process, and implements the wait ioctl,
 * the interrupt and the DMA bookkeeping.
 */
#ifndef _SDMDEV_H
#define _SDMDEV_H

#include <linux/device.h>
#include <linux/mdev.h>
#include <linux/vfio.h>
#include <linux/wait.h>
#include <linux/atomic.h>
#include "uapi/sdmdev.h"

struct sdmdev;
struct sdmdev_queue;

/* mask_notify() event: wake the waiters when a completion is posted */
#define SDMDEV_EVENT_Q_UPDATE	BIT(0)

/**
 * struct sdmdev_ops - what a parent driver implements
 * @get_queue: take a free queue for an mdev of type @type (index into the
 *	parent's types); return -ENOSPC when none is left
 * @put_queue: give the queue back (the mdev is gone)
 * @start_queue: the device was opened: start serving the queue
 * @stop_queue: the device is being closed: stop, and finish every request
 *	already read before returning; afterwards the queue touches no memory
 * @mmap: map region @region of the queue into @vma
 * @is_q_updated: true when a completion is waiting for the driver
 * @mask_notify: enable (SDMDEV_EVENT_Q_UPDATE) or disable wake-ups
 * @ioctl: queue-specific ioctls (e.g. VFIO_SDMDEV_CMD_KICK)
 * @get_available_instances: free queues for @type
 * @dma_unmap: user space unshares [iova, iova + len): release every pin
 *	in that range before returning. sdmdev has already revoked the range
 *	(sdmdev_dma_revoked() is true for it) when this is called, and keeps
 *	it revoked until the unmap is complete: a parent that checks
 *	sdmdev_dma_revoked() under the same lock as it takes here, before
 *	every pin, never pins the range again while VFIO waits for it
 */
struct sdmdev_ops {
	int (*get_queue)(struct sdmdev *sdmdev, unsigned int type,
			 struct sdmdev_queue **q);
	void (*put_queue)(struct sdmdev_queue *q);
	int (*start_queue)(struct sdmdev_queue *q);
	void (*stop_queue)(struct sdmdev_queue *q);
	int (*mmap)(struct sdmdev_queue *q, unsigned int region,
		    struct vm_area_struct *vma);
	bool (*is_q_updated)(struct sdmdev_queue *q);
	void (*mask_notify)(struct sdmdev_queue *q, u32 events);
	long (*ioctl)(struct sdmdev_queue *q, unsigned int cmd,
		      unsigned long arg);
	unsigned int (*get_available_instances)(struct sdmdev *sdmdev,
						unsigned int type);
	void (*dma_unmap)(struct sdmdev_queue *q, u64 iova, u64 len);
};

/**
 * struct sdmdev_type - one mdev type of a parent
 * @name: sysfs suffix; the directory is "<parent driver>-<name>"
 * @flags: SDMDEV_TYPE_* bits, shown in the type's "flags" attribute
 */
struct sdmdev_type {
	const char *name;
	u32 flags;
};

/**
 * struct sdmdev_queue - one queue; embedded in the parent's queue struct
 * @sdmdev: owning parent (set by sdmdev)
 * @type: mdev type index the queue was taken for (set by sdmdev)
 * @vdev: the VFIO device while the mdev exists (set by sdmdev); use it
 *	only through sdmdev_pin_pages()/sdmdev_unpin_pages()
 * @wait: WAIT ioctl sleepers; the parent calls sdmdev_wake_up()
 * @pinned: pages this queue holds pinned right now
 * @revoked: ranges being unmapped (private to sdmdev)
 * @revoke_gen: bumped each time a range is revoked; a parent may compare it
 *	to skip sdmdev_dma_revoked() while nothing changed
 */
struct sdmdev_queue {
	struct sdmdev *sdmdev;
	unsigned int type;
	struct vfio_device *vdev;
	wait_queue_head_t wait;
	atomic_long_t pinned;
	struct list_head revoked;
	atomic_t revoke_gen;
};

/**
 * struct sdmdev - a parent device; the fields up to @priv are set by the
 * parent before sdmdev_register()
 */
struct sdmdev {
	struct device *dev;
	struct module *owner;
	const struct sdmdev_ops *ops;
	const char *api_ver;
	const struct sdmdev_type *types;
	unsigned int nr_types;
	u32 iommu_type;
	u32 dma_flag;
	u64 region_size[SDMDEV_NR_REGIONS];
	void *priv;

	/* private to sdmdev */
	struct device *cls_dev;
	struct mdev_parent mdev_parent;
	struct mdev_driver mdev_driver;
	struct sdmdev_mtype *mtypes;
	struct mdev_type **mtype_ptrs;
	char *drv_name;
	struct mutex lock;		/* protects nr_mdevs */
	unsigned int nr_mdevs;
	atomic_long_t pinned;
	atomic_long_t dma_unmap_calls;
};

int sdmdev_register(struct sdmdev *sdmdev);
void sdmdev_unregister(struct sdmdev *sdmdev);

/* Wake WAIT sleepers and signal the interrupt eventfd if it is wired. */
void sdmdev_wake_up(struct sdmdev_queue *q);
void sdmdev_signal_irq(struct sdmdev_queue *q);

/* Pin/unpin user pages by IOVA for device access; counted per queue. */
int sdmdev_pin_pages(struct sdmdev_queue *q, dma_addr_t iova, int npage,
		     int prot, struct page **pages);
void sdmdev_unpin_pages(struct sdmdev_queue *q, dma_addr_t iova, int npage);

/*
 * True when [iova, iova + len) overlaps a range user space is unmapping:
 * the request must complete with a DMA fault and pin nothing there.
 */
bool sdmdev_dma_revoked(struct sdmdev_queue *q, u64 iova, u64 len);

/*
 * Fault injection for the error paths of sdmdev and its parents: true when
 * the fault attribute fail_sdmdev (debugfs, Documentation/fault-injection)
 * says this call fails. A parent calls it where it allocates or sets up
 * something per queue or per request and handles true as that step's
 * failure. sdmdev_pin_pages() and the mdev probe and open paths call it
 * too. Always false without CONFIG_FAULT_INJECTION.
 */
#ifdef CONFIG_FAULT_INJECTION
bool sdmdev_should_fail(void);
#else
static inline bool sdmdev_should_fail(void)
{
	return false;
}
#endif

#endif /* _SDMDEV_H */
