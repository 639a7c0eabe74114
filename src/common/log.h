/*
 * Logging: one line per message on stderr, prefixed with the program name
 * and, for VMM processes, the VM name. User-visible errors stay on one line
 * so they can be grepped.
 *
 * Under systemd (JOURNAL_STREAM names our stderr) every line goes to the
 * journal instead, through its native protocol, with its syslog priority
 * (log_err 3, log_warn 4, log_info 6, log_debug 7) and the structured
 * fields of the current log context: GODWIT_DOMAIN, GODWIT_UUID and
 * GODWIT_JOB where they apply. A process whose stderr is a log file can
 * send its lines to the journal as well (log_set_journal, or
 * GODWIT_LOG_JOURNAL=1 in its environment: godwitd sets it for its VMMs).
 */
#ifndef GODWIT_COMMON_LOG_H
#define GODWIT_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"

enum log_level {
	LOG_ERR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

void log_set_prefix(const char *prefix);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/*
 * Also append every message to fd (e.g. a daemon log file), each line
 * starting with the local time; -1 stops.
 */
void log_set_extra_fd(int fd);
/*
 * Start stderr lines with the local time too: for processes whose stderr
 * is a log file (godwitd's VMMs; GODWIT_LOG_TIMESTAMPS=1 turns it on).
 */
void log_set_timestamps(bool on);

/*
 * The journal: LOG_JOURNAL_AUTO (the default) sends to it when
 * JOURNAL_STREAM names our stderr (systemd connected it to the journal),
 * or GODWIT_LOG_JOURNAL=1 is set; then stderr gets nothing (the journal
 * has it already) unless it is not the journal's stream. GODWIT_JOURNAL_
 * SOCKET names another socket than /run/systemd/journal/socket (tests).
 * A line the journal does not take goes to stderr with a "<N>" priority
 * prefix, which journald's stream reader understands.
 */
enum log_journal {
	LOG_JOURNAL_AUTO,
	LOG_JOURNAL_OFF,
	LOG_JOURNAL_ALSO, /* journal, and stderr as before */
};
void log_set_journal(enum log_journal mode);
/* Is this process sending its lines to the journal? */
bool log_to_journal(void);

/*
 * The log context: structured fields for the journal (and nothing in
 * the text). The process default is set once, before threads start (a
 * VMM's domain). A thread's current one is set by log_ctx_set and lasts
 * until log_ctx_reset: the event loop resets it before each callback,
 * so a handler sets it for what it logs about one domain and forgets
 * it; a job's thread sets it once. Strings are copied; NULL is empty.
 */
struct log_ctx {
	char domain[64];
	char uuid[40];
	char job[48];
};
void log_ctx_default(const char *domain, const char *uuid);
void log_ctx_set(const char *domain, const char *uuid, const char *job);
void log_ctx_reset(void);

/*
 * The first error this process logged (its text after the program
 * prefix), "" if none: the one line that says why a VMM never started.
 */
const char *log_first_error(void);

/* A journal entry's fields for one message (pure; tests use it). */
size_t log_journal_format(char *buf, size_t size, int priority,
			  const char *ident, const char *message,
			  const struct log_ctx *ctx);

void log_msg(enum log_level level, const char *fmt, ...) __printf(2, 3);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_get_level() >= LOG_DEBUG)        \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
