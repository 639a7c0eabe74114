/*
 * Logging to stderr (and optionally a second fd), one line per message;
 * under systemd to the journal, with priorities and structured fields.
 *
 * The journal's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL) is
 * one datagram of KEY=VALUE lines to /run/systemd/journal/socket. It is
 * spoken here rather than through libsystemd's sd_journal_send because
 * this file is linked into every VMM process, whose footprint beyond
 * guest RAM is a measured goal (README, "Numbers"): libsystemd would map
 * several more libraries into each of them for a sendmsg.
 */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static char log_prefix[64] = "godwit";
static enum log_level log_level = LOG_INFO;
static int log_extra_fd = -1;
static bool log_timestamps;

static enum log_journal journal_mode = LOG_JOURNAL_AUTO;
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static bool journal_on; /* send lines to the journal */
static bool journal_only; /* ... and not to stderr (it is the journal) */
static int journal_fd = -1;
static struct sockaddr_un journal_addr;

static struct log_ctx ctx_default;
static __thread struct log_ctx ctx_thread;
static __thread bool ctx_thread_set;

static char first_error[LOG_LINE_MAX];
static bool first_error_set;

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

void log_set_journal(enum log_journal mode)
{
	journal_mode = mode;
}

/* JOURNAL_STREAM is "DEV:INO" of the stream systemd gave us. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st))
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

static void journal_setup(void)
{
	const char *path = getenv("GODWIT_JOURNAL_SOCKET");
	const char *also = getenv("GODWIT_LOG_JOURNAL");

	if (journal_mode == LOG_JOURNAL_OFF)
		return;
	journal_only = journal_mode == LOG_JOURNAL_AUTO && stderr_is_journal();
	journal_on = journal_only || journal_mode == LOG_JOURNAL_ALSO ||
		     (also && !strcmp(also, "1"));
	if (!journal_on)
		return;
	if (!path || !path[0])
		path = JOURNAL_SOCKET;
	journal_addr.sun_family = AF_UNIX;
	snprintf(journal_addr.sun_path, sizeof(journal_addr.sun_path), "%s",
		 path);
	journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

bool log_to_journal(void)
{
	pthread_once(&journal_once, journal_setup);
	return journal_on;
}

static void ctx_copy(struct log_ctx *c, const char *domain, const char *uuid,
		     const char *job)
{
	snprintf(c->domain, sizeof(c->domain), "%s", domain ? domain : "");
	snprintf(c->uuid, sizeof(c->uuid), "%s", uuid ? uuid : "");
	snprintf(c->job, sizeof(c->job), "%s", job ? job : "");
}

void log_ctx_default(const char *domain, const char *uuid)
{
	ctx_copy(&ctx_default, domain, uuid, NULL);
}

void log_ctx_set(const char *domain, const char *uuid, const char *job)
{
	ctx_copy(&ctx_thread, domain, uuid, job);
	ctx_thread_set = true;
}

void log_ctx_reset(void)
{
	ctx_thread_set = false;
}

static const struct log_ctx *ctx_current(void)
{
	return ctx_thread_set ? &ctx_thread : &ctx_default;
}

const char *log_first_error(void)
{
	return __atomic_load_n(&first_error_set, __ATOMIC_ACQUIRE) ?
		       first_error :
		       "";
}

/* The first error line wins; later ones are usually its consequences. */
static void note_first_error(const char *text)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&lock);
	if (!first_error_set) {
		snprintf(first_error, sizeof(first_error), "%s", text);
		first_error[strcspn(first_error, "\n")] = 0;
		__atomic_store_n(&first_error_set, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&lock);
}

/* KEY=VALUE\n, a newline in value made a blank; nothing if value is "". */
static size_t field(char *buf, size_t size, size_t n, const char *key,
		    const char *value)
{
	size_t i;

	if (!value[0] || n >= size)
		return n;
	n += snprintf(buf + n, size - n, "%s=", key);
	for (i = 0; value[i] && n + 2 < size; i++)
		buf[n++] = value[i] == '\n' ? ' ' : value[i];
	if (n + 1 < size)
		buf[n++] = '\n';
	return MIN(n, size - 1);
}

size_t log_journal_format(char *buf, size_t size, int priority,
			  const char *ident, const char *message,
			  const struct log_ctx *ctx)
{
	char prio[4];
	size_t n = 0;

	snprintf(prio, sizeof(prio), "%d", priority);
	n = field(buf, size, n, "PRIORITY", prio);
	n = field(buf, size, n, "SYSLOG_IDENTIFIER", ident);
	n = field(buf, size, n, "MESSAGE", message);
	if (ctx) {
		n = field(buf, size, n, "GODWIT_DOMAIN", ctx->domain);
		n = field(buf, size, n, "GODWIT_UUID", ctx->uuid);
		n = field(buf, size, n, "GODWIT_JOB", ctx->job);
	}
	return n;
}

static const int syslog_priority[] = { 3, 4, 6, 7 };

/* "godwit[web]": identifier godwit, message "web: TEXT". */
static bool journal_send(enum log_level level, const char *text)
{
	char ident[sizeof(log_prefix)], msg[LOG_LINE_MAX + 80];
	char buf[LOG_LINE_MAX + 512];
	const char *br = strchr(log_prefix, '[');
	size_t n;

	if (journal_fd < 0)
		return false;
	snprintf(ident, sizeof(ident), "%.*s",
		 br ? (int)(br - log_prefix) : (int)strlen(log_prefix),
		 log_prefix);
	if (br)
		snprintf(msg, sizeof(msg), "%.*s: %s",
			 (int)strcspn(br + 1, "]"), br + 1, text);
	else
		snprintf(msg, sizeof(msg), "%s", text);
	msg[strcspn(msg, "\n")] = 0;
	n = log_journal_format(buf, sizeof(buf), syslog_priority[level], ident,
			       msg, ctx_current());
	return sendto(journal_fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL,
		      (struct sockaddr *)&journal_addr,
		      sizeof(journal_addr)) == (ssize_t)n;
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

/* The line for stderr: under the journal, "<N>" if it must go there. */
static void log_stderr(enum log_level level, const char *stamp, int ns,
		       const char *line, int n, bool journal_took)
{
	char prio[8];

	if (journal_only && journal_took)
		return;
	if (journal_only) {
		snprintf(prio, sizeof(prio), "<%d>", syslog_priority[level]);
		log_write(STDERR_FILENO, prio, strlen(prio), line, n);
		return;
	}
	log_write(STDERR_FILENO, log_timestamps ? stamp : "",
		  log_timestamps ? ns : 0, line, n);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "error: ", "warning: ", "", "" };
	char line[LOG_LINE_MAX], stamp[40];
	bool took = false;
	int n, ns, start;
	va_list ap;

	if (level > log_level)
		return;
	ns = log_stamp(stamp, sizeof(stamp));
	n = snprintf(line, sizeof(line), "%s: ", log_prefix);
	start = n;
	n += snprintf(line + n, sizeof(line) - n, "%s", tags[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (level == LOG_ERR)
		note_first_error(line + n);
	n = strlen(line);
	if (log_to_journal())
		took = journal_send(level, line + start);
	if (n < (int)sizeof(line) - 1)
		line[n++] = '\n';
	else
		line[sizeof(line) - 2] = '\n', n = sizeof(line) - 1;
	log_stderr(level, stamp, ns, line, n, took);
	if (log_extra_fd >= 0)
		log_write(log_extra_fd, stamp, ns, line, n);
}
