/*
 * A migration's pages over several connections (CONNECTIONS, extra
 * connections: docs/stream-format.md). The main connection carries the
 * stream as always; each extra connection carries a share of every
 * round's pages, framed and chained on its own, ending each share with
 * a ROUND record and the last one with END.
 *
 * Source (multiconn_tx): after the header, write CONNECTIONS and open
 * the extra connections (through the caller's connect function: this
 * layer knows no addresses). Each part of a round is split by chunk:
 * chunk c goes to connection c mod count; the extra connections' shares
 * go out on one thread each while the caller sends its own (chunks
 * multiconn_tx_mine() says) and listens to the destination between
 * them; multiconn_tx_join() waits for them all. Then the caller ends
 * the round on every connection (multiconn_tx_round()), or after the
 * final copy ends the extra streams (multiconn_tx_finish()).
 *
 * Destination (multiconn_rx): the QUERY server's thread hands every
 * connection that starts with a hello to a conn_inbox; at CONNECTIONS
 * the restore takes count - 1 of them, checks their hellos and reads
 * each on a thread of its own, writing pages into guest RAM. The round
 * barrier: no reader goes past its ROUND r before every connection's
 * ROUND r was read with everything before it applied; main END waits
 * for every extra END. A failed connection stops them all and wakes
 * the main reader by shutting its socket's reading side.
 */
#ifndef GODWIT_MIGRATION_MULTICONN_H
#define GODWIT_MIGRATION_MULTICONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/bitmap.h"
#include "common/compiler.h"
#include "format/record.h"
#include "migration/compress.h"
#include "migration/pages.h"
#include "migration/recio.h"
#include "vmm/memory.h"

/* Opens one more connection to the destination: 0 and *fd_out, or -errno. */
typedef int (*multiconn_connect_fn)(void *opaque, int *fd_out);

/* ---- source ---- */

struct conn_tx {
	struct multiconn_tx *mc;
	unsigned int index;
	struct stream s;
	bool open;
	pthread_t thread;
	bool running;
	struct page_stats ps; /* this part */
	uint64_t pages_round; /* this round */
};

struct multiconn_tx {
	unsigned int count; /* 0 or 1: one connection, nothing to do */
	struct conn_tx x[CONN_MAX]; /* [1..count-1] */
	bool failed; /* atomic: one failed, the others stop at once */
	/* the part being sent */
	struct guest_mem *mem;
	const struct bitmap *which;
	unsigned int flags;
	uint64_t step, first, last;
};

/*
 * Write CONNECTIONS on s (whose header is h), open count - 1 extra
 * connections with connect(opaque), send their hellos; their streams
 * take s's stall timeout and cancel fd, compress as mode says, and
 * share s's rate limit with it. On failure s carries the error.
 */
int multiconn_tx_open(struct multiconn_tx *mc, struct stream *s,
		      const struct stream_header *h, unsigned int count,
		      enum compress_mode mode, multiconn_connect_fn connect,
		      void *opaque) __must_check;
/*
 * Start sending the extra connections' chunks of [first, last) (page
 * indexes, which NULL: every page with data) in chunks of step pages.
 */
int multiconn_tx_begin(struct multiconn_tx *mc, struct stream *s,
		       struct guest_mem *mem, const struct bitmap *which,
		       unsigned int flags, uint64_t first, uint64_t last,
		       uint64_t step) __must_check;
/*
 * Is chunk (page index / step) the main connection's to send? After an
 * extra connection failed, none is: the part ends at once.
 */
bool multiconn_tx_mine(const struct multiconn_tx *mc, uint64_t chunk);
/* Wait for the extra shares; their stats add to ps, an error to s. */
int multiconn_tx_join(struct multiconn_tx *mc, struct stream *s,
		      struct page_stats *ps) __must_check;
/* End round on every extra connection (a ROUND record each). */
int multiconn_tx_round(struct multiconn_tx *mc, struct stream *s,
		       uint32_t round) __must_check;
/* After the final copy: END on every extra connection. */
int multiconn_tx_finish(struct multiconn_tx *mc, struct stream *s) __must_check;
/* Close the extra connections; bytes they carried, counters into n. */
uint64_t multiconn_tx_close(struct multiconn_tx *mc,
			    struct compress_counters *n);

/* ---- destination ---- */

/* Connections that began with a hello, waiting for the restore. */
struct conn_inbox;

struct conn_inbox *conn_inbox_new(void);
void conn_inbox_free(struct conn_inbox *in);
/*
 * The QUERY server offers each new connection: true if it began with a
 * hello (the inbox keeps it), false if not (the caller keeps it). Waits
 * at most a second for the first bytes.
 */
bool conn_inbox_offer(struct conn_inbox *in, int fd);

struct conn_rx {
	struct multiconn_rx *mc;
	unsigned int index;
	struct stream s;
	bool open;
	struct page_rx prx;
	struct rec_error err;
	pthread_t thread;
	bool running;
	uint32_t rounds; /* ROUND records passed: the next one's number */
	bool ended; /* its END checked out */
	uint64_t pages;
};

struct multiconn_rx {
	/* set by multiconn_rx_init */
	struct conn_inbox *inbox;
	unsigned int stall_ms;
	int cancel_fd; /* -1: none */
	struct stream *main; /* its fd's reading side is shut on failure */
	/* set at CONNECTIONS */
	unsigned int count;
	struct guest_mem *mem;
	struct rec_limits lim;
	struct conn_rx x[CONN_MAX];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t main_rounds;
	bool failed;
	char why[400]; /* the first failure, one line */
};

void multiconn_rx_init(struct multiconn_rx *mc, struct conn_inbox *inbox,
		       struct stream *main, unsigned int stall_ms,
		       int cancel_fd);
/*
 * CONNECTIONS said count: take and check the extra connections, start
 * reading them into mem. -errno with why.
 */
int multiconn_rx_start(struct multiconn_rx *mc, const struct stream_header *h,
		       unsigned int count, struct guest_mem *mem,
		       const struct rec_limits *lim, char *why,
		       size_t whylen) __must_check;
/* The main connection read ROUND round: wait at the barrier. */
int multiconn_rx_round(struct multiconn_rx *mc, uint32_t round, char *why,
		       size_t whylen) __must_check;
/* The main connection read END: every extra must have ended well. */
int multiconn_rx_finish(struct multiconn_rx *mc, char *why,
			size_t whylen) __must_check;
/*
 * Read extra connection x (its hello checked, its stream framed from
 * it) up to its END on the calling thread: what each reader thread does,
 * and the fuzz target's entry. 0, or -errno with x->err.
 */
int multiconn_rx_read(struct conn_rx *x) __must_check;
/* Why it failed, if an extra connection did ("" if none did). */
const char *multiconn_rx_failure(struct multiconn_rx *mc);
/* Pages, data pages, compressed batches and bytes the extras carried. */
void multiconn_rx_totals(struct multiconn_rx *mc, uint64_t *pages,
			 uint64_t *data_pages, uint64_t *zstd_batches,
			 uint64_t *zstd_bytes, uint64_t *bytes);
/* Stop the readers and close the connections; idempotent. */
void multiconn_rx_destroy(struct multiconn_rx *mc);

#endif
