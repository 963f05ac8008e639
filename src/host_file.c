/* Non-blocking, type-checked opens of user-named host files (see host_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "kvmrun/host_file.h"

static unsigned type_bit(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return HOST_FILE_REG;
	case S_IFBLK:
		return HOST_FILE_BLK;
	case S_IFCHR:
		return HOST_FILE_CHR;
	case S_IFIFO:
		return HOST_FILE_FIFO;
	}
	return 0;
}

int host_file_open(const char *path, int flags, mode_t mode, unsigned allowed, struct stat *st)
{
	int fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
	int e;

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	if (!(type_bit(st->st_mode) & allowed)) {
		close(fd);
		return EFTYPE_HOST;
	}
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

const char *host_file_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFBLK:
		return "a block device";
	case S_IFCHR:
		return "a character device";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFLNK:
		return "a symbolic link";
	}
	return "of an unknown type";
}
