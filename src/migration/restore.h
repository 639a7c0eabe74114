/*
 * Restore: read and validate a stream into a freshly created VM. The
 * caller reads the header first (it holds the config the VM is built
 * from), builds the VM, checks identity, then hands the rest over. On any
 * failure the VM must be discarded: its memory may be half written.
 *
 * godwit inspect runs the same reader without a VM (restore_check_stream),
 * so that it accepts exactly the streams restore accepts, but for what
 * only this host can judge (its CPU, KVM's view of the state).
 */
#ifndef GODWIT_MIGRATION_RESTORE_H
#define GODWIT_MIGRATION_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/registry.h"
#include "migration/recio.h"

struct vm;
struct vmstate_rx;
struct postcopy_plan;
struct lazy_restore;
struct guest_mem;

#define RESTORE_NR_TYPES (REC_DEVICE + 1) /* the mandatory record types */

struct restore_result {
	uint64_t pages; /* page entries, with data or ZERO */
	uint64_t pages_data; /* of which with data */
	uint64_t records; /* END included */
	uint64_t count[RESTORE_NR_TYPES]; /* per mandatory record type */
	uint64_t optional; /* optional records (ROUND, SAVE_INFO, ...) */
	uint64_t rounds; /* ROUND records */
	uint64_t bytes;
	uint64_t duration_ns;
};

/* Where the records of a stream go. */
struct restore_target {
	struct guest_mem *mem; /* its layout bounds the pfns; pages land in it */
	bool check_only; /* validate pages without writing them into mem */
	struct dev_registry *devs; /* the devices DEVICE records are for */
	struct vmstate_rx *rx; /* collects the machine state */
	/* A POSTCOPY record goes here; NULL: refused (not a live target). */
	struct postcopy_plan *postcopy;
	/* Lazy restore: page batches are indexed here, not loaded. */
	struct lazy_restore *lazy;
};

/* Read and check the header; *config_out is NUL-terminated (free()). */
int restore_read_header(struct stream *s, struct stream_header *h,
			char **config_out, struct rec_error *err) __must_check;
/*
 * Does the machine the config describes (mem_bytes of RAM, nr_vcpus)
 * match the header's? The header and its config must agree.
 */
int restore_check_machine(const struct stream_header *h, uint64_t mem_bytes,
			  uint32_t nr_vcpus, char *why,
			  size_t whylen) __must_check;
/* Does the VM we built match the machine the stream came from? */
int restore_check_identity(const struct vm *vm, const struct stream_header *h,
			   char *why, size_t whylen) __must_check;

/*
 * Every record up to and including END, without KVM: pages go into
 * t->mem, state into t->rx, and END checks that the stream is whole and
 * rx complete. The fuzz target's entry point; restore_vm() is this plus
 * applying rx.
 */
int restore_records(struct stream *s, const struct stream_header *h,
		    const struct restore_target *t, struct restore_result *res,
		    struct rec_error *err) __must_check;
/* The same checks with no VM and no guest RAM (godwit inspect). */
int restore_check_stream(struct stream *s, const struct stream_header *h,
			 struct dev_registry *devs, struct restore_result *res,
			 struct rec_error *err) __must_check;
/*
 * Every record up to and including END; state applied at END. A
 * POSTCOPY record fills postcopy (NULL: refused). With lazy, page
 * batches are indexed there instead of loaded (a save file only).
 */
int restore_vm(struct stream *s, struct vm *vm, struct dev_registry *devs,
	       const struct stream_header *h, struct postcopy_plan *postcopy,
	       struct lazy_restore *lazy, struct restore_result *res,
	       struct rec_error *err) __must_check;
/* "record TYPE at offset N: why" or "header at offset N: why". */
void restore_describe(const struct rec_error *err, char *buf, size_t len);

#endif
