/*
 * godwit console: attach the terminal to a domain's console (the pty its
 * VMM made), as xl console does. ^] detaches. Input goes to the guest
 * byte by byte (the terminal is put in raw mode); output comes back
 * until we detach or the domain ends. When stdin is not a terminal its
 * end does not detach: output is still copied until the domain ends.
 * The one console carries the serial port and the PV (virtio) console
 * both, so xl's -t serial|pv is accepted and attaches to it either way,
 * and -n takes its number, 0; -e changes the escape character.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

/* Copy stdin to the pty up to the escape; false once we detach. */
static bool from_user(int pty, char escape, bool *eof)
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
	esc = memchr(buf, escape, n);
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

static int relay(int pty, char escape)
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
		if (!eof && p[1].revents && !from_user(pty, escape, &eof)) {
			detached = true;
			break;
		}
	}
	return detached ? 0 : -EPIPE;
}

/* "^]" for 0x1d, "^A" for 1; a printable character as itself. */
static void escape_name(char escape, char *out, size_t len)
{
	if ((unsigned char)escape < 0x20)
		snprintf(out, len, "^%c", escape + '@');
	else
		snprintf(out, len, "%c", escape);
}

int cli_console_pty(const char *label, const char *path, char escape)
{
	char name[4];

	struct term t = { false };
	int pty, rc;

	pty = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (pty < 0) {
		fprintf(stderr, "godwit: console %s: %s: %s\n", label, path,
			strerror(errno));
		return CLI_FAIL;
	}
	escape_name(escape, name, sizeof(name));
	fprintf(stderr, "godwit: connected to %s's console (%s); %s detaches\n",
		label, path, name);
	term_raw(&t);
	rc = relay(pty, escape);
	term_restore(&t);
	close(pty);
	fprintf(stderr, "\ngodwit: %s\n",
		rc ? "the domain's console closed" : "detached");
	return CLI_OK;
}

/* The pty of dom, through the daemon or its VM socket. */
int cli_console(const char *dom, char escape)
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
	return cli_console_pty(dom, pty, escape);
}

static void console_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit console [-t serial|pv] [-n NUM] [-e ESC] DOMAIN\n"
		"Attach to DOMAIN's console, which carries its serial port and its\n"
		"PV (virtio) console; ^] detaches.\n"
		"  -t serial|pv  as xl: both are on this one console\n"
		"  -n NUM        the console's number: it has one, 0\n"
		"  -e ESC        detach with ESC instead: ^X (control-X) or one character\n");
}

/* xl's escape character: "^]", "^a" (control characters) or one char. */
static int parse_escape(const char *s, char *out)
{
	if (s[0] == '^' && s[1] && !s[2] &&
	    ((s[1] >= '@' && s[1] <= '_') || (s[1] >= 'a' && s[1] <= 'z'))) {
		*out = (char)((s[1] & 0x1f));
		return 0;
	}
	if (s[0] && !s[1] && s[0] != '\n') {
		*out = s[0];
		return 0;
	}
	return -EINVAL;
}

int cmd_console(int argc, char **argv)
{
	char escape = CONSOLE_ESCAPE;
	int opt;

	optind = 1;
	while ((opt = getopt(argc, argv, "+t:n:e:h")) != -1) {
		switch (opt) {
		case 't':
			if (strcmp(optarg, "serial") && strcmp(optarg, "pv")) {
				fprintf(stderr,
					"godwit: console: -t %s: expected serial or pv\n",
					optarg);
				return CLI_USAGE;
			}
			break;
		case 'n':
			if (strcmp(optarg, "0")) {
				fprintf(stderr,
					"godwit: console: -n %s: a domain has one console, number 0\n",
					optarg);
				return CLI_FAIL;
			}
			break;
		case 'e':
			if (parse_escape(optarg, &escape)) {
				fprintf(stderr,
					"godwit: console: -e '%s': expected ^X (a control character) or one character\n",
					optarg);
				return CLI_USAGE;
			}
			break;
		case 'h':
			console_usage(stdout);
			return CLI_OK;
		default:
			console_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		console_usage(stderr);
		return CLI_USAGE;
	}
	return cli_console(argv[optind], escape);
}
