/*
 * The guest's console: stdin/stdout (raw mode on a terminal, ^] ends the
 * VM), a file (output only), a pseudo-terminal (for `godwit console`),
 * or nowhere. The UART and the virtio-console both write to it; input
 * goes to a receive function that picks the device the guest uses.
 */
#ifndef GODWIT_MONITOR_CONSOLE_H
#define GODWIT_MONITOR_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "common/compiler.h"

struct evloop;
struct evloop_timer;

/* Offer input to the guest; returns how many bytes were taken. */
typedef size_t (*console_receive_fn)(void *opaque, const uint8_t *buf,
				     size_t len);

#define CONSOLE_ESCAPE 0x1d /* ^] */

struct console {
	console_receive_fn receive;
	void *receive_opaque;
	struct evloop *loop;
	int in_fd; /* -1: no input */
	int out_fd; /* -1: output discarded; owned if out_owned */
	char pty_path[64]; /* "" unless a pseudo-terminal */
	bool out_owned;
	bool tty_raw;
	struct termios saved;
	uint8_t pending[256]; /* input the guest's device had no room for */
	size_t npending;
	struct evloop_timer *retry;
	void (*on_escape)(void *opaque);
	void *opaque;
};

/* Open the output side: a DOMAIN_SERIAL_* kind (path for files). */
int console_open_output(struct console *c, int kind,
			const char *path) __must_check;
/* Start feeding input to receive (stdio and pty kinds). */
int console_start_input(struct console *c, struct evloop *loop,
			console_receive_fn receive, void *opaque) __must_check;
void console_close(struct console *c);
/*
 * The guest's last line of output that nobody read, for a VM that ended
 * (its exit reason): what is still queued in a pseudo-terminal no console
 * was attached to, or the end of a console file. Control bytes become
 * '?'; cut to len. -ENOENT if there is none (stdio: the user saw it).
 */
int console_last_line(struct console *c, int kind, const char *path, char *buf,
		      size_t len) __must_check;

#endif
