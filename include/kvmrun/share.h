/* --share: virtiofsd processes kvmrun starts and stops itself (src/share.c). */
#ifndef KVMRUN_SHARE_H
#define KVMRUN_SHARE_H

#include <sys/types.h>

#include "kvmrun/fs_config.h"

struct share {
	pid_t pid;		/* the daemon, -1: none */
	int log_fd;		/* its stdout and stderr (an unlinked file), -1: none */
	char dir[96];		/* private directory holding its socket */
	char socket[108];
};

void share_init(struct share *s);
/*
 * Starts virtiofsd for fc->share_dir (read-only view with fc->readonly) and
 * waits, bounded, until its socket is there (s->socket).  0, or -errno
 * after one line that says what failed.
 */
int share_start(const struct fs_config *fc, struct share *s);
/* Once kvmrun is connected: the socket file and its directory go. */
void share_forget_socket(struct share *s);
/* After the VM is gone: waits briefly for the daemon to leave, else kills it; reaps it. */
void share_stop(struct share *s);

#endif
