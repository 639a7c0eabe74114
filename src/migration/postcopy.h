/*
 * Post-copy: the VM moves before all of its memory has. The source
 * pauses it, sends the machine state and a POSTCOPY record naming the
 * 2 MiB regions the destination does not have current (those dirtied
 * since it last sent them), and hands the VM over as always
 * (handover.c). The destination resumes it at once; a page the guest
 * touches in a missing region blocks that vCPU until the region arrives
 * (uffd.h). For that the destination opens two connections to the
 * source: on the "faults" one it asks for regions the guest is waiting
 * for, which jump the queue, while the source streams every other
 * missing region on the "pages" one. Once it has them all it says
 * COMPLETE; only then does the source let go of its copy.
 *
 *   source                                        destination
 *     | pause; POSTCOPY (map, port), state, END --> |
 *     | <-------------------------------- RECEIVED  |
 *     | YOURS ------------------------------------> | connects twice (HELLO
 *     |                                              |  pages, HELLO faults),
 *     | <--------------------------------- CONFIRMED | resumes the VM
 *     | REGION, REGION, ... DONE  ---- (pages) ----> | places regions
 *     | <------- REQUEST r ----------- (faults) ---- | guest waits on r
 *     | REGION r --------------------- (faults) ---> | wakes it
 *     | <------- COMPLETE ------------ (faults) ---- | has every region
 *     | BYE ----------------------------------------> |
 *     | ends: "migrated"                              |
 *
 * From YOURS on the VM exists only as the union of both hosts. "Never
 * twice" holds as before: the source never resumes after YOURS (unless
 * the destination says DISCARDED, which it only can before it resumed),
 * the destination never runs before it. If a connection breaks, the
 * destination pauses the VM and both sides wait: `godwit migrate-recover`
 * on the destination connects again (HELLO with the map of what is
 * still missing) and it carries on. If either host dies in this window
 * the VM is lost: the destination's RAM is incomplete, the source's
 * state is stale. godwit(1) says so next to --postcopy.
 */
#ifndef GODWIT_MIGRATION_POSTCOPY_H
#define GODWIT_MIGRATION_POSTCOPY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/bitmap.h"
#include "common/compiler.h"
#include "format/postcopy.h"
#include "migration/transport/stream.h"
#include "migration/uffd.h"

struct vm;

/* What a stream's POSTCOPY record said (the destination's plan). */
struct postcopy_plan {
	bool present;
	uint16_t port;
	uint64_t nr_regions, pending;
	struct bitmap regions; /* to fetch */
};

/* From a POSTCOPY body that rec_body_check() accepted. */
int postcopy_plan_read(struct postcopy_plan *p, const void *body,
		       uint32_t len) __must_check;
void postcopy_plan_destroy(struct postcopy_plan *p);

/* ---- source ---- */

struct postcopy_src {
	int lfd; /* listening for the destination's connections; -1 */
	uint16_t port;
	struct guest_mem *mem; /* the paused VM's RAM: read only */
	uint8_t stream_id[STREAM_ID_LEN];
	uint64_t nr_regions;
	struct bitmap pending; /* regions the destination fetches */
	unsigned int stall_ms;
	uint64_t rate_bps; /* the pages connection's limit (--bandwidth) */
	int cancel_fd; /* raised: stop serving (the VM is lost) */
	/* figures, atomic: regions sent on either connection, requests */
	uint64_t sent, requests;
	uint64_t *sent_map; /* regions sent, atomic words */
	/* the pages connection's sender thread */
	pthread_t pager;
	bool pager_on;
	struct stream page_s;
	uint8_t *page_map; /* the map its HELLO asked for */
};

/*
 * Listen for the destination on the local address of the migration
 * socket sock (the address the destination sees us at), any port.
 */
int postcopy_src_listen(struct postcopy_src *ps, struct guest_mem *mem,
			int sock, char *why, size_t whylen) __must_check;
/*
 * The switch, VM paused: the regions holding a page dirty (a RAM-order
 * page bitmap) become pending; the POSTCOPY record goes on s.
 */
int postcopy_src_switch(struct postcopy_src *ps, struct stream *s,
			const struct bitmap *dirty_pages) __must_check;
/*
 * After YOURS: serve the destination until it says COMPLETE (0), across
 * broken connections, or until cancel_fd (-ECANCELED: the VM is lost).
 */
int postcopy_src_serve(struct postcopy_src *ps, char *why,
		       size_t whylen) __must_check;
void postcopy_src_destroy(struct postcopy_src *ps);

/* ---- destination ---- */

enum postcopy_state {
	PCS_ACTIVE, /* connected, fetching */
	PCS_PAUSED, /* a connection broke: VM paused, waiting */
	PCS_DONE, /* every region here; the source let go */
	PCS_STOPPED, /* the VM ended here first */
};

struct postcopy_dst;

/* What the destination's thread reports, on its own thread. */
struct postcopy_dst_ops {
	/* The state changed (why: one line for PAUSED). */
	void (*state)(void *opaque, enum postcopy_state st, const char *why);
	/* A recover attempt is over: 0 (running again) or -errno, why. */
	void (*recovered)(void *opaque, int rc, const char *why);
};

struct postcopy_dst {
	struct vm *vm;
	const struct postcopy_plan *plan;
	uint8_t stream_id[STREAM_ID_LEN];
	char host[256]; /* the source */
	uint16_t port;
	unsigned int stall_ms;
	struct uffd_ram ram;
	struct stream fault_s, page_s;
	bool connected, page_done;
	struct bitmap requested;
	uint8_t *buf; /* one region */
	int ctl_fd; /* eventfd: a recover or stop request is waiting */
	pthread_mutex_t lock; /* the request fields below */
	bool want_stop, want_recover;
	char recover_host[256];
	uint16_t recover_port;
	char recover_why[256]; /* outcome of the last recover attempt */
	int recover_rc;
	pthread_t thread;
	bool thread_on;
	enum postcopy_state state; /* atomic */
	const struct postcopy_dst_ops *ops;
	void *opaque;
	/* figures, atomic */
	uint64_t faults, streamed, fetched, start_ns, done_ns;
	unsigned int cut_after; /* tests: break after this many regions */
};

/*
 * After YOURS, before the vCPUs run: userfaultfd on guest RAM, the
 * missing regions dropped, both connections to the source opened (at
 * host, the source's address of the migration socket, and the plan's
 * port). -errno with why: the VM cannot run here.
 */
int postcopy_dst_start(struct postcopy_dst *d, struct vm *vm,
		       const struct postcopy_plan *plan,
		       const uint8_t stream_id[STREAM_ID_LEN], const char *host,
		       unsigned int stall_ms,
		       const struct postcopy_dst_ops *ops, void *opaque,
		       char *why, size_t whylen) __must_check;
/*
 * Ask the thread to reconnect a paused post-copy (host NULL, port 0:
 * where it was); ops->recovered() tells how it went. 0, or -errno if
 * there is no post-copy to recover.
 */
int postcopy_dst_recover(struct postcopy_dst *d, const char *host,
			 uint16_t port) __must_check;
/* The VM ends here: stop the thread (telling the source it may let go). */
void postcopy_dst_stop(struct postcopy_dst *d);
enum postcopy_state postcopy_dst_state(struct postcopy_dst *d);
const char *postcopy_state_name(enum postcopy_state st);

#endif
