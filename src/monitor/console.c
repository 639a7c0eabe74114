/*
 * Console plumbing between the host terminal and the guest's console
 * device (the UART or the virtio-console). Input the device cannot take
 * yet (its buffer is full because the guest has not read it) waits in a
 * small buffer and is retried by a timer, while stdin is not read, so
 * typing never overruns the guest.
 */
#include "monitor/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/evloop.h"
#include "common/log.h"
#include "monitor/monitor.h"

#define RETRY_NS (5 * NSEC_PER_MSEC)

/*
 * A pseudo-terminal for `godwit console`. The master is non-blocking:
 * with no one attached, output the pty cannot buffer is dropped rather
 * than stalling the vCPU that writes it.
 */
static int console_open_pty(struct console *c)
{
	struct termios t;
	int fd, rc;

	fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || grantpt(fd) || unlockpt(fd) ||
	    ptsname_r(fd, c->pty_path, sizeof(c->pty_path))) {
		rc = -errno;
		log_err("cannot create a pseudo-terminal: %s", strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	c->out_fd = fd;
	c->out_owned = true;
	return 0;
}

int console_open_output(struct console *c, int kind, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->in_fd = -1;
	c->out_fd = -1;
	if (kind == DOMAIN_SERIAL_STDIO) {
		c->out_fd = STDOUT_FILENO;
	} else if (kind == DOMAIN_SERIAL_FILE) {
		c->out_fd = open(
			path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			int rc = -errno;

			log_err("serial file %s: %s", path, strerror(-rc));
			return rc;
		}
		c->out_owned = true;
	} else if (kind == DOMAIN_SERIAL_PTY) {
		return console_open_pty(c);
	}
	return 0;
}

static void console_raw(struct console *c)
{
	struct termios t;

	if (!isatty(c->in_fd) || tcgetattr(c->in_fd, &c->saved) < 0)
		return;
	t = c->saved;
	/* Raw input, but keep output processing so \n still returns. */
	t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
		       ICRNL | IXON);
	t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(c->in_fd, TCSANOW, &t) == 0)
		c->tty_raw = true;
}

static void console_feed(struct console *c)
{
	size_t n = c->receive(c->receive_opaque, c->pending, c->npending);

	memmove(c->pending, c->pending + n, c->npending - n);
	c->npending -= n;
	if (c->npending) {
		evloop_timer_arm(c->retry, RETRY_NS, 0);
		if (evloop_mod_fd(c->loop, c->in_fd, 0))
			log_debug("console: cannot pause input");
	} else if (evloop_mod_fd(c->loop, c->in_fd, EVLOOP_IN)) {
		log_debug("console: cannot resume input");
	}
}

static void console_retry(struct evloop *loop, struct evloop_timer *t,
			  void *opaque)
{
	console_feed(opaque);
}

static void console_input(struct evloop *loop, int fd, uint32_t events,
			  void *opaque)
{
	struct console *c = opaque;
	ssize_t r;

	r = read(fd, c->pending, sizeof(c->pending));
	if (r <= 0) {
		/* EIO: nobody holds the pty's other end right now. */
		if (r < 0 &&
		    (errno == EINTR || errno == EAGAIN || errno == EIO))
			return;
		/* End of input: the guest keeps running without it. */
		evloop_del_fd(loop, fd);
		c->in_fd = -1;
		return;
	}
	if (c->tty_raw && memchr(c->pending, CONSOLE_ESCAPE, r)) {
		if (c->on_escape)
			c->on_escape(c->opaque);
		return;
	}
	c->npending = r;
	console_feed(c);
}

int console_start_input(struct console *c, struct evloop *loop,
			console_receive_fn receive, void *opaque)
{
	bool pty = c->pty_path[0] != 0;
	int rc;

	c->receive = receive;
	c->receive_opaque = opaque;
	c->loop = loop;
	c->in_fd = pty ? c->out_fd : STDIN_FILENO;
	rc = evloop_timer_new(loop, console_retry, c, &c->retry);
	if (rc)
		return rc;
	rc = evloop_add_fd(loop, c->in_fd, EVLOOP_IN, console_input, c);
	if (rc) {
		/* stdin may be /dev/null or a file epoll cannot watch. */
		c->in_fd = -1;
		return 0;
	}
	if (!pty)
		console_raw(c);
	return 0;
}

void console_close(struct console *c)
{
	if (c->tty_raw)
		tcsetattr(c->in_fd, TCSANOW, &c->saved);
	c->tty_raw = false;
	if (c->in_fd >= 0 && c->loop)
		evloop_del_fd(c->loop, c->in_fd);
	c->in_fd = -1; /* stdin, or the pty: closed with out_fd */
	evloop_timer_free(c->retry);
	c->retry = NULL;
	if (c->out_owned && c->out_fd >= 0)
		close(c->out_fd);
	c->out_fd = -1;
}

/* The last non-empty line of text[0..n), cleaned, into buf. */
static int last_line(const char *text, size_t n, char *buf, size_t len)
{
	size_t end = n, start, i, o = 0;

	while (end && (text[end - 1] == '\n' || text[end - 1] == '\r'))
		end--;
	start = end;
	while (start && text[start - 1] != '\n')
		start--;
	if (start == end || !len)
		return -ENOENT;
	for (i = start; i < end && o + 1 < len; i++)
		buf[o++] = (unsigned char)text[i] < 0x20 ||
					   (unsigned char)text[i] == 0x7f ?
				   '?' :
				   text[i];
	buf[o] = 0;
	return 0;
}

/* The tail of what fd holds (a pty's queue, read; a file's end). */
static ssize_t read_tail(int fd, bool file, char *text, size_t size)
{
	off_t end;
	ssize_t r, n = 0;

	if (file) {
		end = lseek(fd, 0, SEEK_END);
		if (end < 0)
			return -1;
		return pread(fd, text, size,
			     end > (off_t)size ? end - size : 0);
	}
	/* A pty keeps at most a few KiB: keep the last size bytes read. */
	for (;;) {
		r = read(fd, text + n, size - n);
		if (r <= 0)
			break;
		n += r;
		if ((size_t)n == size) {
			memmove(text, text + size / 2, size - size / 2);
			n = size - size / 2;
		}
	}
	return n;
}

int console_last_line(struct console *c, int kind, const char *path, char *buf,
		      size_t len)
{
	char text[4096];
	bool file = kind == DOMAIN_SERIAL_FILE;
	ssize_t n;
	int fd;

	if (kind == DOMAIN_SERIAL_PTY && c->pty_path[0])
		path = c->pty_path;
	else if (!file)
		return -ENOENT;
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read_tail(fd, file, text, sizeof(text));
	close(fd);
	if (n <= 0)
		return -ENOENT;
	return last_line(text, n, buf, len);
}
