/*
 * Restore: read and validate a stream into a freshly created VM. The
 * caller reads the header first (it holds the config the VM is built
 * from), builds the VM, checks identity, then hands the rest over. On any
 * failure the VM must be discarded: its memory may be half written.
 */
#ifndef GODWIT_MIGRATION_RESTORE_H
#define GODWIT_MIGRATION_RESTORE_H

#include <stdint.h>

#include "common/compiler.h"
#include "devices/registry.h"
#include "migration/recio.h"

struct vm;

struct restore_result {
	uint64_t pages;
	uint64_t records;
	uint64_t bytes;
	uint64_t duration_ns;
};

/* Read and check the header; *config_out is NUL-terminated (free()). */
int restore_read_header(struct stream *s, struct stream_header *h,
			char **config_out, struct rec_error *err) __must_check;
/* Does the VM we built match the machine the stream came from? */
int restore_check_identity(const struct vm *vm, const struct stream_header *h,
			   char *why, size_t whylen) __must_check;
struct vmstate_rx;
struct guest_mem;

/*
 * Every record up to and including END, without KVM: pages go into mem,
 * state into rx, and END checks that rx is complete. The fuzz target's
 * entry point; restore_vm() is this plus applying rx.
 */
int restore_records(struct stream *s, struct guest_mem *mem,
		    struct dev_registry *devs, const struct stream_header *h,
		    struct vmstate_rx *rx, struct restore_result *res,
		    struct rec_error *err) __must_check;
/* Every record up to and including END; state applied at END. */
int restore_vm(struct stream *s, struct vm *vm, struct dev_registry *devs,
	       const struct stream_header *h, struct restore_result *res,
	       struct rec_error *err) __must_check;
/* "record TYPE at offset N: why" or "header at offset N: why". */
void restore_describe(const struct rec_error *err, char *buf, size_t len);

#endif
