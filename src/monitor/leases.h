/*
 * The VM's leases in the VMM process (src/lease/): one per writable
 * disk (its image's canonical path) and one per named lease of the
 * config, held exactly while the vCPUs may run:
 *
 *   start (not paused)          acquire (fresh)
 *   pause (stop, save, the      release; the generations go into the
 *     migration's final pause)    stream's LEASE records
 *   cont, a failed save or      acquire "only if the generation is
 *     migration, restore, the     still" the one released or recorded;
 *     destination after YOURS     refused: the VM stays paused
 *   end (any)                   released by closing (and by the kernel
 *                                 if the process dies)
 *
 * Called on the loop thread, and on a save or migration thread while
 * that job owns the VM's pause (the loop then leaves the leases alone).
 */
#ifndef GODWIT_MONITOR_LEASES_H
#define GODWIT_MONITOR_LEASES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"
#include "lease/lease.h"
#include "migration/leaserec.h"

struct monitor;
struct rpc_reply;

struct monitor_leases {
	struct lease_set set;
	bool ready; /* set up (monitor_leases_setup) */
};

/*
 * The leases of m->cfg on the engine it (or the host) names. Unless a
 * migration arrives (its source still holds them), a lease someone else
 * holds is refused now, with one line naming the disk and the holder.
 */
int monitor_leases_setup(struct monitor *m, char *why,
			 size_t whylen) __must_check;
/*
 * Before the vCPUs run: every lease, "only if the generation is still"
 * the one last held or recorded (none yet: any). why names the refusal.
 */
int monitor_leases_acquire(struct monitor *m, char *why,
			   size_t whylen) __must_check;
/* After the vCPUs paused (or ended): let go of every lease. */
void monitor_leases_release(struct monitor *m);
/*
 * The user's stop and cont (qmp.c): released after the pause; acquired
 * before the resume, refused into reply (-errno). While a save or a
 * migration owns the VM's pause, the job decides and these do nothing.
 */
void monitor_leases_paused(struct monitor *m);
int monitor_leases_resume(struct monitor *m, struct rpc_reply *reply);
/*
 * On the loop thread, a save gives the VM back: true if its pause may
 * be undone (leases acquired, or the user's pause keeps it paused);
 * false if a lease was refused: the save's pause becomes the user's.
 */
bool monitor_leases_back(struct monitor *m);
/* The generations released, for the stream's LEASE records. */
void monitor_leases_records(struct monitor *m, struct leaserec_set *out);
/*
 * The stream's LEASE records: the generations to acquire with. A lease
 * of this VM the stream does not carry (while it carries others) is
 * refused; a stream without any (written where leases were off) gives
 * no generation to check.
 */
int monitor_leases_recorded(struct monitor *m, const struct leaserec_set *in,
			    char *why, size_t whylen) __must_check;

#endif
