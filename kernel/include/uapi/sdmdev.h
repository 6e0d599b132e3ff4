/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * sdmdev: accelerator queues as VFIO mediated devices (user-space ABI).
 *
 * User space includes this header or mirrors it. The ring and request
 * formats are described in docs/abi.md.
 */
#ifndef _UAPI_SDMDEV_H
#define _UAPI_SDMDEV_H

#include <linux/ioctl.h>

#define SDMDEV_CLASS_NAME		"sdmdev"
/* attribute group of /sys/class/sdmdev/<parent>/ */
#define SDMDEV_PARAMS_GRP_NAME		"params"
#define SDMDEV_STATS_GRP_NAME		"stats"

/* bits of params/dma_flag */
#define SDMDEV_DMA_SINGLE_PROC_MAP	1
#define SDMDEV_DMA_MULTI_PROC_MAP	2
#define SDMDEV_DMA_SVM			4
#define SDMDEV_DMA_SVM_NO_FAULT		8
#define SDMDEV_DMA_PHY			16

/* bits of mdev_supported_types/<type>/flags */
#define SDMDEV_TYPE_COMPRESS		1
#define SDMDEV_TYPE_DECOMPRESS		2

/* VFIO regions of an sdmdev device: offsets are also the mmap offsets */
#define SDMDEV_REGION_MMIO		0
#define SDMDEV_REGION_RINGS		1
#define SDMDEV_NR_REGIONS		2

/* the one interrupt: a completion was posted while armed */
#define SDMDEV_IRQ_COMPLETION		0

/* device fd ioctls; the argument is passed by value */
#define VFIO_SDMDEV_CMD_WAIT		_IO('W', 1)	/* ms, 0 = forever */
#define VFIO_SDMDEV_CMD_BIND_PASID	_IO('W', 2)	/* SVA only, unused */
#define VFIO_SDMDEV_CMD_KICK		_IO('W', 3)	/* wake a soft device */

/* software-device registers in region 0 (docs/abi.md section 2) */
#define SDMDEV_SOFT_DB_SQ		0x340
#define SDMDEV_SOFT_DB_CQ		0x348
#define SDMDEV_SOFT_ID			0x380
#define SDMDEV_SOFT_ID_MAGIC		0x57445256	/* "WDRV" */
#define SDMDEV_SOFT_IDLE		0x388

#endif /* _UAPI_SDMDEV_H */
