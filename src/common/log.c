/* Logging to stderr (and optionally a second fd), one line per message. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char log_prefix[64] = "godwit";
static enum log_level log_level = LOG_INFO;
static int log_extra_fd = -1;

void log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_set_extra_fd(int fd)
{
	log_extra_fd = fd;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "error: ", "warning: ", "", "" };
	char line[1024];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "%s: %s", log_prefix, tags[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write per line keeps lines whole when threads log together. */
	n = strlen(line);
	if (n < (int)sizeof(line) - 1)
		line[n++] = '\n';
	else
		line[sizeof(line) - 2] = '\n', n = sizeof(line) - 1;
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report this. */
	}
	if (log_extra_fd >= 0 && write(log_extra_fd, line, n) < 0) {
		/* Same. */
	}
}
