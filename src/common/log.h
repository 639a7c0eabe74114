/*
 * Logging: one line per message on stderr, prefixed with the program name
 * and, for VMM processes, the VM name. User-visible errors stay on one line
 * so they can be grepped.
 */
#ifndef GODWIT_COMMON_LOG_H
#define GODWIT_COMMON_LOG_H

#include <stdbool.h>

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
