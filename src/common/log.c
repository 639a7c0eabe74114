/* Logging to stderr (and optionally a second fd), one line per message. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static char log_prefix[64] = "godwit";
static enum log_level log_level = LOG_INFO;
static int log_extra_fd = -1;
static bool log_timestamps;

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

void log_set_timestamps(bool on)
{
	log_timestamps = on;
}

/* "2026-11-22T03:04:05.123 ": local time, milliseconds. */
static int log_stamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	return n + snprintf(buf + n, size - n, ".%03ld ", ts.tv_nsec / 1000000);
}

/* One writev per line keeps lines whole when threads log together. */
static void log_write(int fd, const char *stamp, int ns, const char *line,
		      int n)
{
	struct iovec iov[2] = { { (void *)stamp, ns }, { (void *)line, n } };

	if (writev(fd, iov, 2) < 0) {
		/* Nowhere left to report this. */
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "error: ", "warning: ", "", "" };
	char line[1024], stamp[40];
	int n, ns;
	va_list ap;

	if (level > log_level)
		return;
	ns = log_stamp(stamp, sizeof(stamp));
	n = snprintf(line, sizeof(line), "%s: %s", log_prefix, tags[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	n = strlen(line);
	if (n < (int)sizeof(line) - 1)
		line[n++] = '\n';
	else
		line[sizeof(line) - 2] = '\n', n = sizeof(line) - 1;
	log_write(STDERR_FILENO, log_timestamps ? stamp : "",
		  log_timestamps ? ns : 0, line, n);
	if (log_extra_fd >= 0)
		log_write(log_extra_fd, stamp, ns, line, n);
}
