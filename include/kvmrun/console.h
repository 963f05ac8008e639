/* The host terminal as the guest's console: raw mode and the Ctrl-A escape. */
#ifndef KVMRUN_CONSOLE_H
#define KVMRUN_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#define CONSOLE_ESCAPE	0x01	/* Ctrl-A */

struct console {
	int fd;
	bool raw;		/* terminal put in raw mode; restore on exit */
	bool escape_pending;	/* Ctrl-A seen, waiting for the command key */
	struct termios saved;
};

/* Puts fd in raw mode when it is this process's controlling terminal in the foreground. */
void console_init(struct console *c, int fd);
void console_restore(struct console *c);

/*
 * Applies the escape keys to n input bytes.  Bytes for the guest go to out
 * (room for n bytes); returns their count.  *quit is set on Ctrl-A x.
 */
size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out,
		      bool *quit);

#endif
