/*
 * When to compress page batches (--compress auto): a pure function of
 * what the sender measured. Compression pays when the link, not the CPU,
 * is the bottleneck: the connection carries send_bps of wire bytes, the
 * compressor eats comp_bps of page bytes per second of its own time and
 * shrinks them to ratio_pct percent. Compressing, the pages move at
 * min(comp_bps, send_bps / ratio) (the kernel sends one batch while the
 * next is compressed); raw, at send_bps. Unit-tested without KVM
 * (tests/unit/migration/test_compress.c).
 */
#ifndef GODWIT_MIGRATION_COMPRESS_POLICY_H
#define GODWIT_MIGRATION_COMPRESS_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* Measured figures; 0 means not measured yet. */
struct compress_rates {
	uint64_t send_bps; /* wire bytes per second while sending raw */
	uint64_t comp_bps; /* page bytes per second of compressor time */
	uint32_t ratio_pct; /* compressed size in percent of the pages */
};

/* Compress only for a gain of at least this many percent. */
#define COMPRESS_MIN_GAIN_PCT 10

/*
 * Should the next batches be compressed? Without a send rate: no (send
 * raw to measure it); with a send rate but no compressor figures: yes
 * (compress to measure them).
 */
bool compress_worth_it(const struct compress_rates *r);

/* Page bytes per second expected when compressing (0: unknown). */
uint64_t compress_expected_bps(const struct compress_rates *r);

/*
 * Probing: after this many windows in one mode, the driver spends one
 * window in the other, so that figures of both stay fresh (memory
 * contents and the link change during a migration). A probe that does
 * not change the decision doubles the interval, up to
 * COMPRESS_PROBE_MAX: a probe in the losing mode costs time.
 */
#define COMPRESS_PROBE_EVERY 8
#define COMPRESS_PROBE_MAX 64
/* Batches per measuring window; a probe (or the first look at the
 * compressor) is shorter: it only has to measure. */
#define COMPRESS_WINDOW_BATCHES 8
#define COMPRESS_PROBE_BATCHES 2

/*
 * The mode of the next window: the decision, or its opposite when a probe
 * is due (windows: windows spent in the current mode since the last
 * switch or probe).
 */
bool compress_next_window(const struct compress_rates *r, bool current,
			  unsigned int windows, unsigned int every);
/* The probe interval after a probe that changed the decision or not. */
unsigned int compress_probe_interval(unsigned int every, bool changed);

#endif
