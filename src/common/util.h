/*
 * fd I/O that handles short transfers and EINTR, number parsing, whole
 * files, and where godwit's sockets live.
 */
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

/*
 * Replace path with len bytes of buf, through path.tmp, fsync and a
 * rename: a reader sees the old file or the new one, never a part.
 */
int file_write_atomic(const char *path, const void *buf, size_t len,
		      unsigned int mode) __must_check;

/* The same, with the fsync only if durable (a rename is still atomic). */
int file_write_replace(const char *path, const void *buf, size_t len,
		       unsigned int mode, bool durable) __must_check;

/* mkdir -p with the given mode for created components. */
int mkdir_p(const char *path, unsigned int mode) __must_check;

/* Environment variable name, or dflt when it is unset or empty. */
const char *env_or(const char *name, const char *dflt);

/*
 * Where godwit's sockets live: $GODWIT_RUN_DIR, else GODWIT_RUN_DIR_DEFAULT.
 * The daemon's control socket is there, each VM's in its vm/ folder.
 */
#define GODWIT_RUN_DIR_DEFAULT "/run/godwit"
const char *util_run_dir(void);
/* The control socket of the VM called name under run_dir. */
int util_vm_socket(const char *run_dir, const char *name, char *buf,
		   size_t len) __must_check;

#endif
