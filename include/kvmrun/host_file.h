/*
 * Opening the host files a user names (kernel, initrd, disk images, serial
 * output) without ever blocking: a FIFO with no writer, or a device that
 * waits for carrier, must not hang kvmrun before its stop machinery runs.
 */
#ifndef KVMRUN_HOST_FILE_H
#define KVMRUN_HOST_FILE_H

#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>

/* File types a caller accepts. */
#define HOST_FILE_REG	(1u << 0)
#define HOST_FILE_BLK	(1u << 1)
#define HOST_FILE_CHR	(1u << 2)
#define HOST_FILE_FIFO	(1u << 3)

/*
 * open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode), then fstat
 * into *st: a type not in allowed is closed again and gives -EFTYPE_HOST
 * (st says what it was); else O_NONBLOCK is cleared unless flags had it.
 * Returns the fd, or -errno from open/fstat.
 */
#define EFTYPE_HOST	(-EMEDIUMTYPE)
int host_file_open(const char *path, int flags, mode_t mode, unsigned allowed, struct stat *st);

/* "a directory", "a FIFO", "a socket", ... for one-line errors. */
const char *host_file_type(mode_t mode);

#endif
