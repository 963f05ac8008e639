/* What --fs and --share ask for (parsed with the rest of the command line). */
#ifndef KVMRUN_FS_CONFIG_H
#define KVMRUN_FS_CONFIG_H

#include <stdbool.h>

/*
 * --fs socket=PATH,tag=TAG[,queue-size=N][,num-queues=N]: virtio-fs on a
 * vhost-user backend already running; --share HOSTDIR,tag=TAG[,readonly]:
 * the same on a virtiofsd that kvmrun starts (socket filled in then).
 */
struct fs_config {
	char socket[108];		/* sizeof(sockaddr_un.sun_path) */
	char tag[37];			/* virtio-fs tags have at most 36 bytes */
	unsigned queue_size;		/* 0: the default */
	unsigned num_queues;		/* request queues, 0: one */
	char share_dir[4096];		/* --share: the host directory ("" for --fs) */
	bool readonly;			/* --share ...,readonly */
};

#define MAX_FS 4

#endif
