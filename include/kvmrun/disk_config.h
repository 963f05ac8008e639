/* What --disk asks for (parsed with the rest of the command line). */
#ifndef KVMRUN_DISK_CONFIG_H
#define KVMRUN_DISK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "kvmrun/ratelimit.h"

/* Which block engine runs the requests (--disk ...,aio=). */
enum disk_aio {
	DISK_AIO_AUTO,		/* io_uring where the kernel offers it, else threads or sync */
	DISK_AIO_IO_URING,
	DISK_AIO_THREADS,
	DISK_AIO_SYNC,
};

/*
 * --disk PATH[,readonly][,cache=none|writeback][,aio=io_uring|threads|sync][,serial=ID][,num-queues=N]
 *   [,iops=N][,bps=N][,iops-burst=N][,bps-burst=N]
 * or --disk vhost-user=SOCKET[,num-queues=N] (the backend serves the image)
 */
struct disk_config {
	char path[4096];	/* the image, or the vhost-user socket */
	bool vhost_user;
	bool readonly;
	bool cache_none;	/* O_DIRECT */
	enum disk_aio aio;
	char serial[21];	/* VIRTIO_BLK_ID_BYTES + NUL */
	struct rate_limit_params limit;	/* iops=, bps=, iops-burst=, bps-burst= */
	unsigned num_queues;
};

#define MAX_DISKS 4

#endif
