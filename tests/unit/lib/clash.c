/*
 * An application with its own read_full() and log_msg(), names godwit
 * uses inside its library: linked against libgodwit-client (static or
 * shared), each side must keep its own (test_installed.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <godwit/client.h>

int read_full(int fd, void *buf, size_t len);
void log_msg(const char *fmt, ...);

int read_full(int fd, void *buf, size_t len)
{
	(void)fd;
	memset(buf, 'a', len);
	return 7; /* not godwit's: it returns 0 or -errno */
}

void log_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

int main(void)
{
	char err[GODWIT_ERROR_MAX], buf[4];
	struct godwit_conn *c;
	int rc;

	/* The library's own code runs (socket paths, connect, errors)... */
	rc = godwit_open_vm("/nonexistent/clash.qmp", &c, err, sizeof(err));
	if (!godwit_error_is_absent(rc) || !strstr(err, "no VM")) {
		printf("library: %d %s\n", rc, err);
		return 1;
	}
	/* ...and ours are ours. */
	if (read_full(0, buf, sizeof(buf)) != 7 || buf[0] != 'a')
		return 1;
	log_msg("ok %d\n", 1);
	return 0;
}
