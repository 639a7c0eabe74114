/*
 * godwit console: attach the terminal to a domain's console (the pty its
 * VMM made), as xl console does. ^] detaches. Input goes to the guest
 * byte by byte (the terminal is put in raw mode); output comes back
 * until we detach or the domain ends. When stdin is not a terminal its
 * end does not detach: output is still copied until the domain ends.
 * The one console carries the serial port and the PV (virtio) console
 * both, so xl's -t serial|pv is accepted and attaches to it either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <godwit/domain.h>

#include "common/util.h"
#include "monitor/console.h" /* CONSOLE_ESCAPE, as `godwit run` */
#include "toolstack/cli/cli.h"
#include "toolstack/cli/route.h"

struct term {
	bool raw;
	struct termios saved;
};

static void term_raw(struct term *t)
{
	struct termios r;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t->saved))
		return;
	r = t->saved;
	cfmakeraw(&r);
	/* Guests end lines with \n alone: keep the terminal returning. */
	r.c_oflag |= OPOST | ONLCR;
	if (!tcsetattr(STDIN_FILENO, TCSANOW, &r))
		t->raw = true;
}

static void term_restore(struct term *t)
{
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
	t->raw = false;
}

/* Copy stdin to the pty up to ^]; false once we detach. */
static bool from_user(int pty, bool *eof)
{
	char buf[4096], *esc;
	ssize_t n;

	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n <= 0) {
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return true;
		*eof = true;
		return true;
	}
	esc = memchr(buf, CONSOLE_ESCAPE, n);
	if (write_full(pty, buf, esc ? (size_t)(esc - buf) : (size_t)n))
		return false;
	return !esc;
}

/* Copy guest output to stdout; false once the console is gone. */
static bool to_user(int pty)
{
	char buf[4096];
	ssize_t n;

	n = read(pty, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false; /* EIO: the VMM closed its end */
	return write_full(STDOUT_FILENO, buf, n) == 0;
}

static int relay(int pty)
{
	struct pollfd p[2] = { { .fd = pty, .events = POLLIN },
			       { .fd = STDIN_FILENO, .events = POLLIN } };
	bool eof = false, detached = false;
	int r;

	for (;;) {
		r = poll(p, eof ? 1 : 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (p[0].revents && !to_user(pty))
			break;
		if (!eof && p[1].revents && !from_user(pty, &eof)) {
			detached = true;
			break;
		}
	}
	return detached ? 0 : -EPIPE;
}

int cli_console_pty(const char *label, const char *path)
{
	struct term t = { false };
	int pty, rc;

	pty = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (pty < 0) {
		fprintf(stderr, "godwit: console %s: %s: %s\n", label, path,
			strerror(errno));
		return CLI_FAIL;
	}
	fprintf(stderr, "godwit: connected to %s's console (%s); ^] detaches\n",
		label, path);
	term_raw(&t);
	rc = relay(pty);
	term_restore(&t);
	close(pty);
	fprintf(stderr, "\ngodwit: %s\n",
		rc ? "the domain's console closed" : "detached");
	return CLI_OK;
}

/* The pty of dom, through the daemon or its VM socket. */
int cli_console(const char *dom)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	char type[32], pty[256];
	struct route r;
	int rc;

	if (route_open(&r, "console", dom, false))
		return CLI_FAIL;
	rc = route_wait(&r, "console",
			godwit_console(r.c, dom, ROUTE_TIMEOUT_MS,
				       godwit_result_fn, &res),
			&res);
	route_close(&r);
	if (!rc && godwit_decode_console(res.ret, type, sizeof(type), pty,
					 sizeof(pty), r.err, sizeof(r.err)))
		pty[0] = 0;
	godwit_result_release(&res);
	if (rc)
		return rc;
	if (strncmp(pty, "/dev/", 5)) {
		fprintf(stderr,
			"godwit: console %s: it has no pseudo-terminal console\n",
			dom);
		return CLI_FAIL;
	}
	return cli_console_pty(dom, pty);
}

int cmd_console(int argc, char **argv)
{
	int rc;

	/* xl console -t serial|pv DOMAIN: both are on this console. */
	if (argc == 4 && !strcmp(argv[1], "-t")) {
		if (strcmp(argv[2], "serial") && strcmp(argv[2], "pv")) {
			fprintf(stderr,
				"godwit: console: -t %s: expected serial or pv\n",
				argv[2]);
			return CLI_USAGE;
		}
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	rc = route_dom_argv(
		argc, argv,
		"Attach to DOMAIN's console, which carries its serial port and its\n"
		"PV (virtio) console; ^] detaches. -t serial|pv, as xl has it, is\n"
		"accepted: both are on this one console.\n");
	return rc >= 0 ? rc : cli_console(argv[1]);
}
