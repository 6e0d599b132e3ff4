// SPDX-License-Identifier: GPL-2.0
/*
 * sdmdev: share-domain mediated devices.
 *
 * Each queue of an accelerator becomes a VFIO mediated device. A process
 * opens it through the usual VFIO container/group/device sequence, maps
 * the queue's MMIO page and rings, shares its buffers with
 * VFIO_IOMMU_MAP_DMA and then drives the rings without system calls.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/eventfd.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/mdev.h>
#include <linux/debugfs.h>
#include <linux/fault-inject.h>
#include "include/sdmdev.h"

static struct class *sdmdev_class;

/* one mdev type of a parent */
struct sdmdev_mtype {
	struct mdev_type mtype;
	struct sdmdev *sdmdev;
	unsigned int index;
};

/* the VFIO device of one mdev */
struct sdmdev_mdev {
	struct vfio_device vdev;
	struct sdmdev *sdmdev;
	struct sdmdev_queue *q;
	struct mutex lock;		/* open state, owner, irq wiring */
	struct mm_struct *owner;	/* the process that opened it */
	bool started;
	spinlock_t irq_lock;		/* trigger vs. the device's signal */
	struct eventfd_ctx *trigger;
	struct mutex wait_lock;		/* waiters and the notify mask */
	unsigned int waiters;		/* threads inside WAIT */
};

/*
 * A range user space is unmapping (VFIO_IOMMU_UNMAP_DMA). VFIO's type1 calls
 * the dma_unmap() of every device in the container, looks again for pins,
 * and after 10 rounds that still find some it stops the kernel with a BUG.
 * A queue that pins the range again after its own callback returned (while
 * VFIO waits in another queue's callback) makes another round necessary;
 * an unprivileged process could make that happen every round. So the
 * revocation is sticky: it lasts until the unmap ioctl is over. The
 * callback runs in the task doing that ioctl, and a task work lifts the
 * revocation when that task returns to user space, after VFIO removed the
 * range (a range mapped again later works again). Where there is no such
 * task (a kernel thread, an exiting task) the entry stays until the queue
 * is stopped. Every queue of the container is revoked at once this way:
 * VFIO calls each of them in the first round, and none of them can pin the
 * range again until the unmap is complete.
 */
struct sdmdev_revoke {
	struct callback_head work;
	struct list_head node;		/* on q->revoked while attached */
	struct sdmdev_queue *q;		/* NULL once detached from the queue */
	bool task_owned;		/* the task work (or dma_unmap) frees it */
	u64 lo, hi;			/* [lo, hi) */
};

/* the revoked lists of every queue and the entries' q/task_owned */
static DEFINE_SPINLOCK(sdmdev_revoke_lock);

static struct sdmdev_mdev *vdev_to_smd(struct vfio_device *vdev)
{
	return container_of(vdev, struct sdmdev_mdev, vdev);
}

/* ---- fault injection: /sys/kernel/debug/fail_sdmdev/ ---- */

#ifdef CONFIG_FAULT_INJECTION
static DECLARE_FAULT_ATTR(sdmdev_fail_attr);
static struct dentry *sdmdev_fail_dir;

bool sdmdev_should_fail(void)
{
	return should_fail(&sdmdev_fail_attr, 1);
}
EXPORT_SYMBOL_GPL(sdmdev_should_fail);

static void sdmdev_fail_init(void)
{
	sdmdev_fail_dir = fault_create_debugfs_attr("fail_sdmdev", NULL,
						    &sdmdev_fail_attr);
}

static void sdmdev_fail_exit(void)
{
	debugfs_remove_recursive(sdmdev_fail_dir);
	/* the reference fault_create_debugfs_attr() took for its reports */
	dput(sdmdev_fail_attr.dname);
	sdmdev_fail_attr.dname = NULL;
}
#else
static void sdmdev_fail_init(void)
{
}

static void sdmdev_fail_exit(void)
{
}
#endif

/* ---- sysfs: /sys/class/sdmdev/<parent>/{params,stats}/ ---- */

static ssize_t iommu_type_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct sdmdev *sdmdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n", sdmdev->iommu_type);
}
static DEVICE_ATTR_RO(iommu_type);

static ssize_t dma_flag_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	struct sdmdev *sdmdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n", sdmdev->dma_flag);
}
static DEVICE_ATTR_RO(dma_flag);

static struct attribute *sdmdev_params_attrs[] = {
	&dev_attr_iommu_type.attr,
	&dev_attr_dma_flag.attr,
	NULL,
};

static const struct attribute_group sdmdev_params_group = {
	.name = SDMDEV_PARAMS_GRP_NAME,
	.attrs = sdmdev_params_attrs,
};

/* pages the parent's queues hold pinned now: a leak check for tests */
static ssize_t pinned_pages_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct sdmdev *sdmdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%ld\n", atomic_long_read(&sdmdev->pinned));
}
static DEVICE_ATTR_RO(pinned_pages);

static ssize_t mdevs_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct sdmdev *sdmdev = dev_get_drvdata(dev);
	unsigned int n;

	mutex_lock(&sdmdev->lock);
	n = sdmdev->nr_mdevs;
	mutex_unlock(&sdmdev->lock);
	return sysfs_emit(buf, "%u\n", n);
}
static DEVICE_ATTR_RO(mdevs);

/* how often VFIO asked us to drop pins (user unshared a pinned range) */
static ssize_t dma_unmap_calls_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct sdmdev *sdmdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%ld\n",
			  atomic_long_read(&sdmdev->dma_unmap_calls));
}
static DEVICE_ATTR_RO(dma_unmap_calls);

static struct attribute *sdmdev_stats_attrs[] = {
	&dev_attr_pinned_pages.attr,
	&dev_attr_dma_unmap_calls.attr,
	&dev_attr_mdevs.attr,
	NULL,
};

static const struct attribute_group sdmdev_stats_group = {
	.name = SDMDEV_STATS_GRP_NAME,
	.attrs = sdmdev_stats_attrs,
};

static const struct attribute_group *sdmdev_class_groups[] = {
	&sdmdev_params_group,
	&sdmdev_stats_group,
	NULL,
};

/*
 * The mdev core of 6.1 gives a type directory name, device_api,
 * available_instances and create, and no hook for more attributes. "flags"
 * is added with sysfs_create_file() on the type's kobject, whose sysfs_ops
 * expect this layout (struct mdev_type_attribute, private to mdev_sysfs.c).
 */
struct sdmdev_type_attribute {
	struct attribute attr;
	ssize_t (*show)(struct mdev_type *mtype,
			struct sdmdev_type_attribute *attr, char *buf);
	ssize_t (*store)(struct mdev_type *mtype,
			 struct sdmdev_type_attribute *attr, const char *buf,
			 size_t count);
};

static ssize_t flags_show(struct mdev_type *mtype,
			  struct sdmdev_type_attribute *attr, char *buf)
{
	struct sdmdev_mtype *st = container_of(mtype, struct sdmdev_mtype,
					       mtype);

	return sysfs_emit(buf, "%u\n", st->sdmdev->types[st->index].flags);
}

static struct sdmdev_type_attribute sdmdev_type_attr_flags = __ATTR_RO(flags);

/* ---- mdev driver ---- */

static unsigned int sdmdev_available(struct sdmdev *sdmdev, unsigned int type)
{
	unsigned int n = 0;

	if (sdmdev->ops->get_available_instances)
		n = sdmdev->ops->get_available_instances(sdmdev, type);
	/* one doorbell page shared by all queues: one user at a time */
	if (sdmdev->dma_flag & SDMDEV_DMA_SINGLE_PROC_MAP)
		n = (sdmdev->nr_mdevs || !n) ? 0 : 1;
	return n;
}

static unsigned int sdmdev_get_available(struct mdev_type *mtype)
{
	struct sdmdev_mtype *st = container_of(mtype, struct sdmdev_mtype,
					       mtype);
	unsigned int n;

	mutex_lock(&st->sdmdev->lock);
	n = sdmdev_available(st->sdmdev, st->index);
	mutex_unlock(&st->sdmdev->lock);
	return n;
}

static const struct vfio_device_ops sdmdev_vfio_ops;

static int sdmdev_probe(struct mdev_device *mdev)
{
	struct sdmdev_mtype *st = container_of(mdev->type, struct sdmdev_mtype,
					       mtype);
	struct sdmdev *sdmdev = st->sdmdev;
	struct sdmdev_mdev *smd;
	struct sdmdev_queue *q;
	int ret;

	mutex_lock(&sdmdev->lock);
	if ((sdmdev->dma_flag & SDMDEV_DMA_SINGLE_PROC_MAP) &&
	    sdmdev->nr_mdevs) {
		mutex_unlock(&sdmdev->lock);
		return -EBUSY;
	}
	ret = sdmdev->ops->get_queue(sdmdev, st->index, &q);
	if (ret) {
		mutex_unlock(&sdmdev->lock);
		return ret;
	}
	q->sdmdev = sdmdev;
	q->type = st->index;
	init_waitqueue_head(&q->wait);
	atomic_long_set(&q->pinned, 0);
	INIT_LIST_HEAD(&q->revoked);
	atomic_set(&q->revoke_gen, 0);
	sdmdev->nr_mdevs++;
	mutex_unlock(&sdmdev->lock);

	if (sdmdev_should_fail())
		smd = ERR_PTR(-ENOMEM);
	else
		smd = vfio_alloc_device(sdmdev_mdev, vdev, &mdev->dev,
					&sdmdev_vfio_ops);
	if (IS_ERR(smd)) {
		ret = PTR_ERR(smd);
		goto err_put_queue;
	}
	smd->sdmdev = sdmdev;
	smd->q = q;
	mutex_init(&smd->lock);
	mutex_init(&smd->wait_lock);
	spin_lock_init(&smd->irq_lock);
	q->vdev = &smd->vdev;

	ret = sdmdev_should_fail() ? -ENOMEM :
	      vfio_register_emulated_iommu_dev(&smd->vdev);
	if (ret)
		goto err_put_vdev;
	dev_set_drvdata(&mdev->dev, smd);
	return 0;

err_put_vdev:
	q->vdev = NULL;
	vfio_put_device(&smd->vdev);
err_put_queue:
	mutex_lock(&sdmdev->lock);
	sdmdev->ops->put_queue(q);
	sdmdev->nr_mdevs--;
	mutex_unlock(&sdmdev->lock);
	return ret;
}

/*
 * The queue is stopped and pins nothing (or its device is gone): its
 * revocations have done their job. Entries a task work still points to are
 * freed by that task work.
 */
static void sdmdev_revoke_detach(struct sdmdev_queue *q)
{
	struct sdmdev_revoke *r, *n;
	LIST_HEAD(gone);

	spin_lock(&sdmdev_revoke_lock);
	list_for_each_entry_safe(r, n, &q->revoked, node) {
		list_del(&r->node);
		r->q = NULL;
		if (!r->task_owned)
			list_add(&r->node, &gone);
	}
	spin_unlock(&sdmdev_revoke_lock);
	list_for_each_entry_safe(r, n, &gone, node)
		kfree(r);
}

static void sdmdev_remove(struct mdev_device *mdev)
{
	struct sdmdev_mdev *smd = dev_get_drvdata(&mdev->dev);
	struct sdmdev *sdmdev = smd->sdmdev;
	struct sdmdev_queue *q = smd->q;

	/* waits until every user closed the device */
	vfio_unregister_group_dev(&smd->vdev);
	/* in no container now: no dma_unmap() can attach to the queue */
	sdmdev_revoke_detach(q);
	q->vdev = NULL;
	mutex_lock(&sdmdev->lock);
	sdmdev->ops->put_queue(q);
	sdmdev->nr_mdevs--;
	mutex_unlock(&sdmdev->lock);
	vfio_put_device(&smd->vdev);
}

/* ---- VFIO device ---- */

static void sdmdev_vfio_release(struct vfio_device *vdev)
{
	vfio_free_device(vdev);
}

static int sdmdev_open_device(struct vfio_device *vdev)
{
	struct sdmdev_mdev *smd = vdev_to_smd(vdev);
	struct sdmdev *sdmdev = smd->sdmdev;
	int ret = 0;

	if (!current->mm)
		return -EINVAL;
	if (sdmdev_should_fail())
		return -ENOMEM;

	mutex_lock(&smd->lock);
	smd->owner = current->mm;
	mmgrab(smd->owner);
	if (sdmdev->ops->start_queue)
		ret = sdmdev->ops->start_queue(smd->q);
	if (ret) {
		mmdrop(smd->owner);
		smd->owner = NULL;
	} else {
		smd->started = true;
	}
	mutex_unlock(&smd->lock);
	return ret;
}

static void sdmdev_set_trigger(struct sdmdev_mdev *smd,
			       struct eventfd_ctx *trigger)
{
	struct eventfd_ctx *old;

	/* irq-safe: a hardware parent signals from its interrupt handler */
	spin_lock_irq(&smd->irq_lock);
	old = smd->trigger;
	smd->trigger = trigger;
	spin_unlock_irq(&smd->irq_lock);
	if (old)
		eventfd_ctx_put(old);
}

/*
 * Last close, also on process death (the mm is already gone then): stop
 * and drain the queue first, so that no request touches user memory after
 * VFIO unmaps and unpins it (the container goes away after the device).
 */
static void sdmdev_close_device(struct vfio_device *vdev)
{
	struct sdmdev_mdev *smd = vdev_to_smd(vdev);
	struct sdmdev *sdmdev = smd->sdmdev;
	struct sdmdev_queue *q = smd->q;

	mutex_lock(&smd->lock);
	if (smd->started) {
		if (sdmdev->ops->mask_notify)
			sdmdev->ops->mask_notify(q, 0);
		if (sdmdev->ops->stop_queue)
			sdmdev->ops->stop_queue(q);
		smd->started = false;
	}
	/* a stopped queue must hold no pins: catch parent bugs loudly */
	WARN_ON(atomic_long_read(&q->pinned));
	sdmdev_revoke_detach(q);
	sdmdev_set_trigger(smd, NULL);
	if (smd->owner) {
		mmdrop(smd->owner);
		smd->owner = NULL;
	}
	mutex_unlock(&smd->lock);
}

static bool sdmdev_is_owner(struct sdmdev_mdev *smd)
{
	return READ_ONCE(smd->owner) == current->mm;
}

static u64 sdmdev_region_offset(struct sdmdev *sdmdev, unsigned int region)
{
	u64 off = 0;
	unsigned int i;

	for (i = 0; i < region; i++)
		off += PAGE_ALIGN(sdmdev->region_size[i]);
	return off;
}

static int sdmdev_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct sdmdev_mdev *smd = vdev_to_smd(vdev);
	struct sdmdev *sdmdev = smd->sdmdev;
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned int region;

	if (!sdmdev_is_owner(smd))
		return -EBUSY;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	for (region = 0; region < SDMDEV_NR_REGIONS; region++) {
		u64 off = sdmdev_region_offset(sdmdev, region);

		if ((u64)vma->vm_pgoff << PAGE_SHIFT == off)
			break;
	}
	if (region == SDMDEV_NR_REGIONS ||
	    len > PAGE_ALIGN(sdmdev->region_size[region]))
		return -EINVAL;

	/* a forked child must not reach the queue of its parent */
	vma->vm_flags |= VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP;
	return sdmdev->ops->mmap(smd->q, region, vma);
}

static int sdmdev_wait(struct sdmdev_mdev *smd, unsigned long ms)
{
	struct sdmdev *sdmdev = smd->sdmdev;
	struct sdmdev_queue *q = smd->q;
	long ret;

	if (!sdmdev->ops->is_q_updated || !sdmdev->ops->mask_notify)
		return -ENODEV;

	/*
	 * Notify is on while any thread waits. The count and the mask change
	 * together under wait_lock: a waiter leaving cannot turn notify off
	 * after another one arrived and turned it on.
	 */
	mutex_lock(&smd->wait_lock);
	if (!smd->waiters++)
		sdmdev->ops->mask_notify(q, SDMDEV_EVENT_Q_UPDATE);
	mutex_unlock(&smd->wait_lock);
	if (ms)
		ret = wait_event_interruptible_timeout(q->wait,
						       sdmdev->ops->is_q_updated(q),
						       msecs_to_jiffies(ms));
	else
		ret = wait_event_interruptible(q->wait,
					       sdmdev->ops->is_q_updated(q));
	mutex_lock(&smd->wait_lock);
	if (!--smd->waiters)
		sdmdev->ops->mask_notify(q, 0);
	mutex_unlock(&smd->wait_lock);

	if (ret < 0)
		return -EINTR;	/* a signal: not restarted, the caller loops */
	if (ms && ret == 0)
		return -ETIMEDOUT;
	return 0;
}

static int sdmdev_set_irqs(struct sdmdev_mdev *smd, unsigned long arg)
{
	struct vfio_irq_set hdr;
	size_t data_size = 0;
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	int ret;

	if (copy_from_user(&hdr, (void __user *)arg, minsz))
		return -EFAULT;
	ret = vfio_set_irqs_validate_and_prepare(&hdr, 1, 1, &data_size);
	if (ret)
		return ret;
	if ((hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) !=
	    VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;

	/* count 0 with DATA_NONE or DATA_EVENTFD: tear down */
	if (!hdr.count) {
		if (!(hdr.flags & (VFIO_IRQ_SET_DATA_NONE |
				   VFIO_IRQ_SET_DATA_EVENTFD)))
			return -EINVAL;
		sdmdev_set_trigger(smd, NULL);
		return 0;
	}

	switch (hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_EVENTFD: {
		s32 fd;
		struct eventfd_ctx *ctx;

		if (copy_from_user(&fd, (void __user *)(arg + minsz),
				   sizeof(fd)))
			return -EFAULT;
		if (fd == -1) {
			sdmdev_set_trigger(smd, NULL);
			return 0;
		}
		if (fd < 0)
			return -EINVAL;
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
		sdmdev_set_trigger(smd, ctx);
		return 0;
	}
	case VFIO_IRQ_SET_DATA_NONE:
		/* loopback: fire the interrupt now (VFIO convention) */
		sdmdev_signal_irq(smd->q);
		return 0;
	case VFIO_IRQ_SET_DATA_BOOL: {
		u8 b;

		if (copy_from_user(&b, (void __user *)(arg + minsz), 1))
			return -EFAULT;
		if (b)
			sdmdev_signal_irq(smd->q);
		return 0;
	}
	}
	return -EINVAL;
}

static long sdmdev_ioctl(struct vfio_device *vdev, unsigned int cmd,
			 unsigned long arg)
{
	struct sdmdev_mdev *smd = vdev_to_smd(vdev);
	struct sdmdev *sdmdev = smd->sdmdev;
	unsigned long minsz;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info info;

		minsz = offsetofend(struct vfio_device_info, num_irqs);
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		info.flags = VFIO_DEVICE_FLAGS_RESET;
		info.num_regions = SDMDEV_NR_REGIONS;
		info.num_irqs = 1;
		return copy_to_user((void __user *)arg, &info, minsz) ?
			-EFAULT : 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info info;

		minsz = offsetofend(struct vfio_region_info, offset);
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz || info.index >= SDMDEV_NR_REGIONS)
			return -EINVAL;
		info.flags = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE |
			     VFIO_REGION_INFO_FLAG_MMAP;
		info.cap_offset = 0;
		info.size = PAGE_ALIGN(sdmdev->region_size[info.index]);
		info.offset = sdmdev_region_offset(sdmdev, info.index);
		return copy_to_user((void __user *)arg, &info, minsz) ?
			-EFAULT : 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info info;

		minsz = offsetofend(struct vfio_irq_info, count);
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz || info.index != SDMDEV_IRQ_COMPLETION)
			return -EINVAL;
		info.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
		info.count = 1;
		return copy_to_user((void __user *)arg, &info, minsz) ?
			-EFAULT : 0;
	}
	case VFIO_DEVICE_SET_IRQS: {
		long ret;

		if (!sdmdev_is_owner(smd))
			return -EBUSY;
		mutex_lock(&smd->lock);
		ret = sdmdev_set_irqs(smd, arg);
		mutex_unlock(&smd->lock);
		return ret;
	}
	case VFIO_DEVICE_RESET: {
		long ret = 0;

		if (!sdmdev_is_owner(smd))
			return -EBUSY;
		mutex_lock(&smd->lock);
		if (smd->started && sdmdev->ops->stop_queue)
			sdmdev->ops->stop_queue(smd->q);
		smd->started = false;
		if (sdmdev->ops->start_queue)
			ret = sdmdev->ops->start_queue(smd->q);
		smd->started = !ret;
		/*
		 * A restarted queue starts with notify off: turn it back on
		 * for the threads still inside WAIT, and let them look again.
		 */
		mutex_lock(&smd->wait_lock);
		if (smd->started && smd->waiters && sdmdev->ops->mask_notify)
			sdmdev->ops->mask_notify(smd->q, SDMDEV_EVENT_Q_UPDATE);
		mutex_unlock(&smd->wait_lock);
		wake_up_all(&smd->q->wait);
		mutex_unlock(&smd->lock);
		return ret;
	}
	case VFIO_SDMDEV_CMD_WAIT:
		if (!sdmdev_is_owner(smd))
			return -EBUSY;
		return sdmdev_wait(smd, arg);
	default:
		if (!sdmdev_is_owner(smd))
			return -EBUSY;
		if (sdmdev->ops->ioctl)
			return sdmdev->ops->ioctl(smd->q, cmd, arg);
		return -ENOTTY;
	}
}

/* Runs in the unmapping task on its way back to user space: lift. */
static void sdmdev_revoke_lift(struct callback_head *work)
{
	struct sdmdev_revoke *r = container_of(work, struct sdmdev_revoke,
					       work);

	spin_lock(&sdmdev_revoke_lock);
	if (r->q)
		list_del(&r->node);
	spin_unlock(&sdmdev_revoke_lock);
	kfree(r);
	/* the reference taken in sdmdev_dma_unmap(); a tail call, last */
	module_put(THIS_MODULE);
}

static void sdmdev_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
	struct sdmdev_mdev *smd = vdev_to_smd(vdev);
	struct sdmdev_queue *q = smd->q;
	struct sdmdev_revoke *r;
	bool task_work = false;

	atomic_long_inc(&smd->sdmdev->dma_unmap_calls);

	/* small and short-lived; an unmap must not fail halfway */
	r = kzalloc(sizeof(*r), GFP_KERNEL | __GFP_NOFAIL);
	r->lo = iova;
	r->hi = iova + length < iova ? U64_MAX : iova + length;
	r->task_owned = true;	/* until it is known who frees it */
	spin_lock(&sdmdev_revoke_lock);
	r->q = q;
	list_add(&r->node, &q->revoked);
	spin_unlock(&sdmdev_revoke_lock);
	/* after the entry: a parent that sees the new value finds it */
	atomic_inc(&q->revoke_gen);

	/* the parent drops its pins; new requests on the range now fault */
	if (smd->sdmdev->ops->dma_unmap)
		smd->sdmdev->ops->dma_unmap(q, iova, length);

	if (!(current->flags & (PF_KTHREAD | PF_EXITING))) {
		__module_get(THIS_MODULE);
		init_task_work(&r->work, sdmdev_revoke_lift);
		task_work = !task_work_add(current, &r->work, TWA_RESUME);
		if (!task_work)
			module_put(THIS_MODULE);
	}
	if (!task_work) {
		/* no way back to user space: stays until the queue stops */
		spin_lock(&sdmdev_revoke_lock);
		r->task_owned = false;
		if (!r->q) {
			spin_unlock(&sdmdev_revoke_lock);
			kfree(r);
			return;
		}
		spin_unlock(&sdmdev_revoke_lock);
	}
}

static const struct vfio_device_ops sdmdev_vfio_ops = {
	.name = "sdmdev",
	.release = sdmdev_vfio_release,
	.open_device = sdmdev_open_device,
	.close_device = sdmdev_close_device,
	.ioctl = sdmdev_ioctl,
	.mmap = sdmdev_mmap,
	.dma_unmap = sdmdev_dma_unmap,
};

/* ---- helpers for parents ---- */

void sdmdev_wake_up(struct sdmdev_queue *q)
{
	wake_up_all(&q->wait);
}
EXPORT_SYMBOL_GPL(sdmdev_wake_up);

void sdmdev_signal_irq(struct sdmdev_queue *q)
{
	struct sdmdev_mdev *smd;
	unsigned long flags;

	if (!q->vdev)
		return;
	smd = vdev_to_smd(q->vdev);
	spin_lock_irqsave(&smd->irq_lock, flags);
	if (smd->trigger)
		eventfd_signal(smd->trigger, 1);
	spin_unlock_irqrestore(&smd->irq_lock, flags);
}
EXPORT_SYMBOL_GPL(sdmdev_signal_irq);

int sdmdev_pin_pages(struct sdmdev_queue *q, dma_addr_t iova, int npage,
		     int prot, struct page **pages)
{
	int ret;

	/* as a page that cannot be faulted in: nothing of the batch pinned */
	if (sdmdev_should_fail())
		return -EFAULT;
	ret = vfio_pin_pages(q->vdev, iova, npage, prot, pages);
	if (ret > 0) {
		atomic_long_add(ret, &q->pinned);
		atomic_long_add(ret, &q->sdmdev->pinned);
	}
	return ret;
}
EXPORT_SYMBOL_GPL(sdmdev_pin_pages);

void sdmdev_unpin_pages(struct sdmdev_queue *q, dma_addr_t iova, int npage)
{
	vfio_unpin_pages(q->vdev, iova, npage);
	atomic_long_sub(npage, &q->pinned);
	atomic_long_sub(npage, &q->sdmdev->pinned);
}
EXPORT_SYMBOL_GPL(sdmdev_unpin_pages);

bool sdmdev_dma_revoked(struct sdmdev_queue *q, u64 iova, u64 len)
{
	struct sdmdev_revoke *r;
	bool hit = false;
	u64 end;

	if (!len)
		return false;
	end = iova + len < iova ? U64_MAX : iova + len;
	spin_lock(&sdmdev_revoke_lock);
	list_for_each_entry(r, &q->revoked, node) {
		if (iova < r->hi && r->lo < end) {
			hit = true;
			break;
		}
	}
	spin_unlock(&sdmdev_revoke_lock);
	return hit;
}
EXPORT_SYMBOL_GPL(sdmdev_dma_revoked);

/* ---- registration ---- */

int sdmdev_register(struct sdmdev *sdmdev)
{
	unsigned int i;
	int ret;

	if (!sdmdev->dev || !sdmdev->ops || !sdmdev->ops->get_queue ||
	    !sdmdev->ops->put_queue || !sdmdev->ops->mmap || !sdmdev->nr_types)
		return -EINVAL;

	mutex_init(&sdmdev->lock);
	sdmdev->nr_mdevs = 0;
	atomic_long_set(&sdmdev->pinned, 0);
	atomic_long_set(&sdmdev->dma_unmap_calls, 0);

	sdmdev->mtypes = kcalloc(sdmdev->nr_types, sizeof(*sdmdev->mtypes),
				 GFP_KERNEL);
	sdmdev->mtype_ptrs = kcalloc(sdmdev->nr_types,
				     sizeof(*sdmdev->mtype_ptrs), GFP_KERNEL);
	sdmdev->drv_name = kasprintf(GFP_KERNEL, "sdmdev-%s",
				     dev_name(sdmdev->dev));
	if (!sdmdev->mtypes || !sdmdev->mtype_ptrs || !sdmdev->drv_name ||
	    sdmdev_should_fail()) {
		ret = -ENOMEM;
		goto err_free;
	}
	for (i = 0; i < sdmdev->nr_types; i++) {
		sdmdev->mtypes[i].mtype.sysfs_name = sdmdev->types[i].name;
		sdmdev->mtypes[i].sdmdev = sdmdev;
		sdmdev->mtypes[i].index = i;
		sdmdev->mtype_ptrs[i] = &sdmdev->mtypes[i].mtype;
	}

	/* one mdev driver per parent: device_api is a driver property */
	sdmdev->mdev_driver.device_api = sdmdev->api_ver;
	sdmdev->mdev_driver.probe = sdmdev_probe;
	sdmdev->mdev_driver.remove = sdmdev_remove;
	sdmdev->mdev_driver.get_available = sdmdev_get_available;
	sdmdev->mdev_driver.driver.name = sdmdev->drv_name;
	/* VFIO pins this module while a device fd is open */
	sdmdev->mdev_driver.driver.owner = sdmdev->owner;
	ret = mdev_register_driver(&sdmdev->mdev_driver);
	if (ret)
		goto err_free;

	sdmdev->cls_dev = device_create(sdmdev_class, sdmdev->dev, MKDEV(0, 0),
					sdmdev, "%s", dev_name(sdmdev->dev));
	if (IS_ERR(sdmdev->cls_dev)) {
		ret = PTR_ERR(sdmdev->cls_dev);
		goto err_driver;
	}

	ret = mdev_register_parent(&sdmdev->mdev_parent, sdmdev->dev,
				   &sdmdev->mdev_driver, sdmdev->mtype_ptrs,
				   sdmdev->nr_types);
	if (ret)
		goto err_cls;

	for (i = 0; i < sdmdev->nr_types; i++) {
		ret = sysfs_create_file(&sdmdev->mtypes[i].mtype.kobj,
					&sdmdev_type_attr_flags.attr);
		if (ret)
			goto err_files;
	}
	return 0;

err_files:
	while (i--)
		sysfs_remove_file(&sdmdev->mtypes[i].mtype.kobj,
				  &sdmdev_type_attr_flags.attr);
	mdev_unregister_parent(&sdmdev->mdev_parent);
err_cls:
	device_unregister(sdmdev->cls_dev);
err_driver:
	mdev_unregister_driver(&sdmdev->mdev_driver);
err_free:
	kfree(sdmdev->drv_name);
	kfree(sdmdev->mtype_ptrs);
	kfree(sdmdev->mtypes);
	return ret;
}
EXPORT_SYMBOL_GPL(sdmdev_register);

void sdmdev_unregister(struct sdmdev *sdmdev)
{
	unsigned int i;

	for (i = 0; i < sdmdev->nr_types; i++)
		sysfs_remove_file(&sdmdev->mtypes[i].mtype.kobj,
				  &sdmdev_type_attr_flags.attr);
	/* removes every mdev; each removal waits for its users */
	mdev_unregister_parent(&sdmdev->mdev_parent);
	device_unregister(sdmdev->cls_dev);
	mdev_unregister_driver(&sdmdev->mdev_driver);
	kfree(sdmdev->drv_name);
	kfree(sdmdev->mtype_ptrs);
	kfree(sdmdev->mtypes);
}
EXPORT_SYMBOL_GPL(sdmdev_unregister);

static int __init sdmdev_init(void)
{
	sdmdev_class = class_create(THIS_MODULE, SDMDEV_CLASS_NAME);
	if (IS_ERR(sdmdev_class))
		return PTR_ERR(sdmdev_class);
	sdmdev_class->dev_groups = sdmdev_class_groups;
	sdmdev_fail_init();
	return 0;
}

static void __exit sdmdev_exit(void)
{
	sdmdev_fail_exit();
	class_destroy(sdmdev_class);
}

module_init(sdmdev_init);
module_exit(sdmdev_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sdmdev: accelerator queues as VFIO mediated devices");
