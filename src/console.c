#include <string.h>
#include <unistd.h>

#include "kvmrun/console.h"

void console_init(struct console *c, int fd)
{
	struct termios t;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	/* A background job must not touch the terminal (it would get SIGTTOU). */
	if (!isatty(fd) || tcgetpgrp(fd) != getpgrp())
		return;
	if (tcgetattr(fd, &c->saved) < 0)
		return;
	t = c->saved;
	cfmakeraw(&t);
	/* Keep output processing so that host log lines still start at column 0. */
	t.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(fd, TCSANOW, &t) == 0)
		c->raw = true;
}

void console_restore(struct console *c)
{
	if (c->raw)
		tcsetattr(c->fd, TCSANOW, &c->saved);
	c->raw = false;
}

size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out,
		      bool *quit)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t b = in[i];

		if (c->escape_pending) {
			c->escape_pending = false;
			if (b == 'x' || b == 'X') {
				*quit = true;
				return m;
			}
			/* Ctrl-A Ctrl-A sends one Ctrl-A; other keys go through as typed. */
			out[m++] = b;
			continue;
		}
		if (b == CONSOLE_ESCAPE) {
			c->escape_pending = true;
			continue;
		}
		out[m++] = b;
	}
	return m;
}
