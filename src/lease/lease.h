/*
 * Leases: a VM holds a lease on every resource it must own alone (each
 * writable disk, each named lease of its config) exactly while its vCPUs
 * may run, so a disk is never written by two running VMs, on one host
 * or on several that share storage (docs/godwit.cfg.5, LEASES).
 *
 * One interface, engines behind it: add a resource, acquire it
 * (optionally "only if the generation is still N"), release it, inquire
 * who holds it. Every acquire bumps the resource's generation; its state
 * `<engine>:<resource>:<generation>` travels in a save stream and a
 * migration (LEASE records), and whoever runs the VM next acquires with
 * it, so a lease taken by anyone in between stops the VM from running.
 *
 * Engines: `file` (file.c, the embedded default: a lease file per
 * resource, OFD-locked by the VMM process while it holds the lease, so
 * a crashed VMM lets go with no daemon involved). lock_manager "none"
 * is a set without an engine: every call succeeds and holds nothing.
 *
 * Not thread-safe: one thread at a time per set (the monitor's loop
 * thread, or a job's thread while the loop leaves the VM to it).
 */
#ifndef GODWIT_LEASE_LEASE_H
#define GODWIT_LEASE_LEASE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "format/stream_format.h"

#define LEASE_DIR_DEFAULT "/var/lib/godwit/leases"
#define LEASE_SET_MAX 32 /* leases of one VM: disks and named ones */
#define LEASE_LABEL_MAX 48
#define LEASE_WHY_MAX 512

/* Who takes a lease: written into the lease record for others to see. */
struct lease_owner {
	char host[LEASE_HOST_LEN];
	uint8_t uuid[16]; /* the VM's */
	uint32_t pid;
};

/* Who holds (or last held) a lease, as lease_inquire() found it. */
struct lease_holder {
	bool held; /* held now */
	bool known; /* the fields below were read (a record exists) */
	uint64_t generation;
	struct lease_owner owner;
};

struct lease {
	char label[LEASE_LABEL_MAX]; /* for messages: "disk xvda" */
	char resource[LEASE_RESOURCE_LEN]; /* NUL-terminated */
	uint64_t generation; /* held now, or last held (0: never) */
	bool held;
	int fd; /* the engine's handle while held, else -1 */
};

struct lease_set;

/* An engine: every member set, called on the set's thread. */
struct lease_engine {
	const char *name; /* as lock_manager spells it */
	/*
	 * Take l, bumping its generation into l->generation. expect: only
	 * if the resource's generation is still l->generation. Refused
	 * (-EBUSY held by another, -ESTALE generation moved, -EUCLEAN a
	 * damaged record, other -errno) with one line in why naming l's
	 * label, its resource and the holder.
	 */
	int (*acquire)(struct lease_set *s, struct lease *l, bool expect,
		       char *why, size_t whylen);
	/*
	 * Make what acquire recorded durable (it survives the host's
	 * crash); only then is l taken. May run on any thread, one per
	 * lease at a time: the leases of a set sync in parallel, so their
	 * flushes overlap. 0 or -errno with why; the caller releases l.
	 */
	int (*sync)(struct lease_set *s, struct lease *l, char *why,
		    size_t whylen);
	/* Let go of a held l (its generation stays). Cannot fail. */
	void (*release)(struct lease_set *s, struct lease *l);
	/* Who holds or last held l's resource; 0 or -errno with why. */
	int (*inquire)(struct lease_set *s, const struct lease *l,
		       struct lease_holder *out, char *why, size_t whylen);
};

struct lease_set {
	const struct lease_engine *engine; /* NULL: "none", nothing held */
	char dir[PATH_MAX]; /* file engine: the lease directory */
	struct lease_owner owner;
	unsigned int nr;
	struct lease l[LEASE_SET_MAX];
};

/*
 * The engine lock_manager names: "file"; "none" gives NULL; "sanlock"
 * is known but refused ("sanlock engine not built yet"). -EINVAL or
 * -ENOTSUP with why.
 */
int lease_engine_find(const char *name, const struct lease_engine **out,
		      char *why, size_t whylen) __must_check;
/* An empty set for engine (NULL: none) and dir ("" = the default). */
void lease_set_init(struct lease_set *s, const struct lease_engine *engine,
		    const char *dir, const struct lease_owner *owner);
/* Our host name, pid and the VM's uuid. */
void lease_owner_self(struct lease_owner *o, const uint8_t uuid[16]);
/*
 * Add a lease on resource (a canonical path, or a name), not held yet.
 * -E2BIG (too many), -ENAMETOOLONG, -EINVAL (not printable), -EEXIST
 * (another lease of the set has that resource), with why.
 */
int lease_add(struct lease_set *s, const char *label, const char *resource,
	      char *why, size_t whylen) __must_check;
/*
 * What resource a disk image is: its canonical path (realpath), or the
 * path as given when it does not resolve (a volume a script activates).
 */
int lease_resource_of_path(const char *path, char *out,
			   size_t len) __must_check;
struct lease *lease_find(struct lease_set *s, const char *resource);

int lease_acquire(struct lease_set *s, struct lease *l, bool expect, char *why,
		  size_t whylen) __must_check;
void lease_release(struct lease_set *s, struct lease *l);
int lease_inquire(struct lease_set *s, const struct lease *l,
		  struct lease_holder *out, char *why,
		  size_t whylen) __must_check;
/*
 * Every lease of the set not held yet, in order, with expect for those
 * that have a generation (held or recorded before); on failure the ones
 * this call took are released again and why names the one refused.
 */
int lease_acquire_all(struct lease_set *s, bool expect, char *why,
		      size_t whylen) __must_check;
void lease_release_all(struct lease_set *s);
/* Any lease held? */
bool lease_any_held(const struct lease_set *s);
/* "VM UUID (pid P on host H, generation G)", or "another process". */
void lease_holder_text(const struct lease_holder *h, char *buf, size_t len);
/* "<engine>:<resource>:<generation>" of l; -ENOSPC if it does not fit. */
int lease_state(const struct lease_set *s, const struct lease *l, char *buf,
		size_t len) __must_check;

extern const struct lease_engine lease_file_engine;

#endif
