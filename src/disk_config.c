/* --disk: the option value parsed into the plain parameters virtio-blk takes. */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/config.h"
#include "kvmrun/virtio.h"

int disk_config_parse(const char *arg, struct disk_config *dc, char *err, size_t errlen)
{
	char buf[4096], *save = NULL, *opt;
	size_t len = strlen(arg);

	memset(dc, 0, sizeof(*dc));
	dc->num_queues = 1;
	if (!len || len >= sizeof(buf) || arg[0] == ',') {
		snprintf(err, errlen, "--disk '%s': expected PATH[,readonly][,cache=none|writeback][,aio=E]"
			 "[,serial=ID][,num-queues=N] or vhost-user=SOCKET[,num-queues=N]", arg);
		return -EINVAL;
	}
	memcpy(buf, arg, len + 1);
	opt = strtok_r(buf, ",", &save);
	if (!strncmp(opt, "vhost-user=", 11)) {
		/* sizeof(sockaddr_un.sun_path) */
		if (!opt[11] || strlen(opt + 11) >= 108) {
			snprintf(err, errlen, "--disk: vhost-user socket path must have 1 to 107 bytes");
			return -EINVAL;
		}
		dc->vhost_user = true;
		opt += 11;
	}
	snprintf(dc->path, sizeof(dc->path), "%s", opt);
	while ((opt = strtok_r(NULL, ",", &save))) {
		char *end;

		int lim = dc->vhost_user ? 0 : rate_limit_parse_option(opt, "iops", &dc->limit, "--disk", err, errlen);

		if (lim < 0)
			return lim;
		if (lim)
			continue;
		if (dc->vhost_user && strncmp(opt, "num-queues=", 11)) {
			snprintf(err, errlen, "--disk vhost-user=: '%s' is the backend's business "
				 "(only num-queues=N is taken)", opt);
			return -EINVAL;
		}

		if (!strcmp(opt, "readonly") || !strcmp(opt, "ro")) {
			dc->readonly = true;
		} else if (!strcmp(opt, "cache=none")) {
			dc->cache_none = true;
		} else if (!strcmp(opt, "cache=writeback")) {
			dc->cache_none = false;
		} else if (!strcmp(opt, "aio=io_uring")) {
			dc->aio = DISK_AIO_IO_URING;
		} else if (!strcmp(opt, "aio=threads")) {
			dc->aio = DISK_AIO_THREADS;
		} else if (!strcmp(opt, "aio=sync")) {
			dc->aio = DISK_AIO_SYNC;
		} else if (!strncmp(opt, "serial=", 7)) {
			if (strlen(opt + 7) > VIRTIO_BLK_ID_BYTES) {
				snprintf(err, errlen, "--disk: serial '%s' is longer than %d bytes",
					 opt + 7, VIRTIO_BLK_ID_BYTES);
				return -EINVAL;
			}
			snprintf(dc->serial, sizeof(dc->serial), "%s", opt + 7);
		} else if (!strncmp(opt, "num-queues=", 11)) {
			unsigned long n = strtoul(opt + 11, &end, 10);

			if (!opt[11] || *end || n < 1 || n > VIRTIO_MAX_QUEUES) {
				snprintf(err, errlen, "--disk: num-queues '%s': expected 1 to %d",
					 opt + 11, VIRTIO_MAX_QUEUES);
				return -EINVAL;
			}
			dc->num_queues = (unsigned)n;
		} else {
			snprintf(err, errlen, "--disk: unknown option '%s' (readonly, cache=none|"
				 "writeback, aio=io_uring|threads|sync, serial=ID, num-queues=N, iops=N, "
				 "bps=N, iops-burst=N, bps-burst=N)", opt);
			return -EINVAL;
		}
	}
	return 0;
}
