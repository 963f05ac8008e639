/* --fs and --share: the option values parsed into what virtio-fs takes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/config.h"
#include "kvmrun/virtio.h"

#define FS_USAGE "expected socket=PATH,tag=TAG[,queue-size=N][,num-queues=N]"
#define SHARE_USAGE "expected HOSTDIR,tag=TAG[,readonly]"

static int number(const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long n = strtoul(s, &end, 10);

	if (!*s || *end || n < 1 || n > max)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

static int set_tag(struct fs_config *fc, const char *opt, const char *tag, char *err,
		   size_t errlen)
{
	if (!*tag || strlen(tag) >= sizeof(fc->tag)) {
		snprintf(err, errlen, "%s: the tag must have 1 to %zu bytes", opt,
			 sizeof(fc->tag) - 1);
		return -EINVAL;
	}
	strcpy(fc->tag, tag);
	return 0;
}

int fs_config_parse(const char *arg, struct fs_config *fc, bool share, char *err, size_t errlen)
{
	const char *opt = share ? "--share" : "--fs";
	char buf[4200], *save = NULL, *o;
	size_t len = strlen(arg);
	bool first = true;

	memset(fc, 0, sizeof(*fc));
	if (!len || len >= sizeof(buf) || arg[0] == ',') {
		snprintf(err, errlen, "%s '%s': %s", opt, arg, share ? SHARE_USAGE : FS_USAGE);
		return -EINVAL;
	}
	memcpy(buf, arg, len + 1);
	for (o = strtok_r(buf, ",", &save); o; o = strtok_r(NULL, ",", &save), first = false) {
		if (share && first) {
			if (strlen(o) >= sizeof(fc->share_dir)) {
				snprintf(err, errlen, "--share: the directory name is too long");
				return -EINVAL;
			}
			strcpy(fc->share_dir, o);
		} else if (!strncmp(o, "tag=", 4)) {
			if (set_tag(fc, opt, o + 4, err, errlen))
				return -EINVAL;
		} else if (share && (!strcmp(o, "readonly") || !strcmp(o, "ro"))) {
			fc->readonly = true;
		} else if (!share && !strncmp(o, "socket=", 7)) {
			if (!o[7] || strlen(o + 7) >= sizeof(fc->socket)) {
				snprintf(err, errlen, "--fs: the socket path must have 1 to %zu bytes",
					 sizeof(fc->socket) - 1);
				return -EINVAL;
			}
			strcpy(fc->socket, o + 7);
		} else if (!share && !strncmp(o, "queue-size=", 11)) {
			if (number(o + 11, VIRTQ_MAX_SIZE, &fc->queue_size) ||
			    (fc->queue_size & (fc->queue_size - 1))) {
				snprintf(err, errlen, "--fs: queue-size '%s': expected a power of two "
					 "up to %d", o + 11, VIRTQ_MAX_SIZE);
				return -EINVAL;
			}
		} else if (!share && !strncmp(o, "num-queues=", 11)) {
			if (number(o + 11, VIRTIO_MAX_QUEUES - 1, &fc->num_queues)) {
				snprintf(err, errlen, "--fs: num-queues '%s': expected 1 to %d",
					 o + 11, VIRTIO_MAX_QUEUES - 1);
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "%s: unknown option '%s' (%s)", opt, o,
				 share ? SHARE_USAGE : FS_USAGE);
			return -EINVAL;
		}
	}
	if (!fc->tag[0] || (!share && !fc->socket[0])) {
		snprintf(err, errlen, "%s '%s': %s", opt, arg, share ? SHARE_USAGE : FS_USAGE);
		return -EINVAL;
	}
	return 0;
}
