/*
 * Shared helpers of the storage unit tests: a scratch directory, images
 * as files or loop devices, deterministic random data, and waiting for
 * a queue's completions. Each test file exports one cmocka group, run
 * by test_storage.c.
 */
#ifndef GODWIT_TESTS_UNIT_STORAGE_HELPERS_H
#define GODWIT_TESTS_UNIT_STORAGE_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/disk.h"

/* An image: a file, or a loop device over one. */
struct image {
	char file[256]; /* the backing file */
	char path[256]; /* what disk_open() gets: file or /dev/loopN */
	int loop_fd; /* holds an autoclear loop device; -1 for files */
};

enum backing { BACKING_FILE, BACKING_LOOP };

/* The scratch directory (created on first use, removed at exit). */
const char *st_dir(void);
/*
 * A size-byte image filled with data from seed, as a file in dir, or a
 * loop device over it (read-only if ro). -errno, e.g. when there are no
 * loop devices (callers skip loudly with st_skip_no_loop()).
 */
int st_image(struct image *im, const char *dir, enum backing b, uint64_t size,
	     unsigned int seed, bool ro);
/* Detach (loop) and delete. */
void st_image_free(struct image *im);
/* Print why and skip the current test. */
void st_skip_no_loop(int rc);

/* xorshift: deterministic data and choices. */
uint64_t st_rand(uint64_t *state);
void st_fill(uint8_t *p, size_t len, uint64_t *state);

/* Open path read-write (or ro) with engine, locked now; asserts. */
struct disk *st_open(const char *path, enum disk_engine engine, bool ro,
		     bool direct);
/* Call disk_queue_poll until *count reaches want (asserts within 30 s). */
void st_wait(struct disk_queue *q, const unsigned int *count,
	     unsigned int want);
/* One synchronous request through q; returns its result. */
int st_do(struct disk_queue *q, enum disk_op op, uint64_t offset, void *buf,
	  uint64_t len, unsigned int flags);

/* Run a shell command (printf-style); its exit status, -1 if killed. */
int st_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Is qemu-img installed? (Tests that need it skip loudly without.) */
bool st_have_qemu_img(void);

int storage_test_io(void);
int storage_test_open(void);
int storage_test_qcow2(void);
int storage_test_qcow2_interop(void);

#endif
