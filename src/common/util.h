/* fd I/O that handles short transfers and EINTR, and number parsing. */
#ifndef GODWIT_COMMON_UTIL_H
#define GODWIT_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

/* Read exactly len bytes; -EPIPE on end of file before len bytes. */
int read_full(int fd, void *buf, size_t len) __must_check;
/* Write exactly len bytes. */
int write_full(int fd, const void *buf, size_t len) __must_check;

/* Strict unsigned parse of a whole string (decimal, or 0x hex). */
int parse_u64(const char *s, uint64_t *val_out) __must_check;
/*
 * Parse a memory size: a plain number is MiB (xl's convention), suffixes
 * k/K, m/M, g/G, t/T (optionally followed by B or iB) give the unit.
 */
int parse_size_bytes(const char *s, uint64_t *bytes_out) __must_check;

/* snprintf that reports truncation as -ENAMETOOLONG. */
int str_printf(char *buf, size_t size, const char *fmt, ...)
	__printf(3, 4) __must_check;

int fd_set_cloexec(int fd) __must_check;
int fd_set_nonblock(int fd, bool nonblock) __must_check;

/*
 * Read a whole regular file of at most max bytes into a new buffer
 * (free()). -EFBIG if it is larger, -EISDIR/-EINVAL if not a file.
 */
int file_read_all(const char *path, size_t max, void **buf_out,
		  size_t *len_out) __must_check;

/* mkdir -p with the given mode for created components. */
int mkdir_p(const char *path, unsigned int mode) __must_check;

#endif
