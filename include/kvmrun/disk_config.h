/* What --disk asks for (parsed with the rest of the command line). */
#ifndef KVMRUN_DISK_CONFIG_H
#define KVMRUN_DISK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * --disk PATH[,readonly][,cache=none|writeback][,serial=ID][,num-queues=N]
 * or --disk vhost-user=SOCKET[,num-queues=N] (the backend serves the image)
 */
struct disk_config {
	char path[4096];	/* the image, or the vhost-user socket */
	bool vhost_user;
	bool readonly;
	bool cache_none;	/* O_DIRECT */
	char serial[21];	/* VIRTIO_BLK_ID_BYTES + NUL */
	unsigned num_queues;
};

#define MAX_DISKS 4

#endif
