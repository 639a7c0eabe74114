/*
 * The registry's per-domain state file (STATE/domains/UUID/state): one
 * small JSON object saying which domain this is, which VMM process runs
 * it and where its sockets and exit file are, so that a restarted
 * godwitd can find and re-adopt it. Pure: text in, struct out and back,
 * unit-tested; the registry does the file I/O.
 */
#ifndef GODWIT_DAEMON_STATEFILE_H
#define GODWIT_DAEMON_STATEFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/net.h"
#include "config/domain_config.h"

/* Largest state file accepted. */
#define STATE_FILE_MAX (64 * 1024)
#define STATE_VERSION 1

/* How a domain came to this host. */
enum dom_origin {
	ORIGIN_CREATE, /* create, or a restart of a created domain */
	ORIGIN_RESTORE, /* restore from a save file */
	ORIGIN_MIGRATION, /* received by the relocation server */
};

/* The registry's words for a domain's state. */
enum rec_state {
	REC_STARTING, /* VMM spawned, not answering yet */
	REC_RUNNING, /* VMM answering */
	REC_SHUTDOWN, /* preserved after a power-off */
	REC_CRASHED, /* preserved after a crash */
	REC_DYING, /* being destroyed */
	REC_INCOMING, /* an arrival not yet identified */
};

struct dom_record {
	unsigned int domid; /* 0: none yet (arrivals) */
	char name[DOMAIN_NAME_MAX + 1]; /* "" until known */
	char uuid[DOMAIN_UUID_STR_LEN + 1]; /* "" until known */
	enum rec_state state;
	enum dom_origin origin;
	int pid; /* VMM process; 0 when none */
	char qmp[PATH_MAX]; /* its control socket */
	char exit_file[PATH_MAX];
	char console[PATH_MAX]; /* pty path, "" if none */
	char peer[NET_HOST_MAX + 8]; /* migration source, or restore file */
	uint64_t created; /* seconds since the epoch */
	char reason[256]; /* how the VMM last ended, "" if it did not */
	/* An incoming migration: its arrival id (0: none, a VMM that cannot
	 * be asked) and the file its VMM writes the outcome to. */
	uint64_t arrival_id;
	char outcome_file[PATH_MAX];
	/* A restore to resume once identified (restore without -p). */
	bool resume;
	/* Guest RAM in bytes, known before the VMM answers (arrivals). */
	uint64_t mem_bytes;
	/*
	 * Where the record belongs when it is not where it lies: an arrival
	 * being registered writes its new record in its incoming directory,
	 * then moves it here (a rename), so a record always exists.
	 */
	char home[PATH_MAX];
	char dir[PATH_MAX]; /* not stored: the directory the file is in */
};

const char *state_rec_state_name(enum rec_state s);
const char *state_origin_name(enum dom_origin o);

/* The state file text of r (new string, caller frees); -ENOMEM. */
int state_format(const struct dom_record *r, char **text_out) __must_check;

/*
 * Parse a state file. Unknown members are ignored (newer daemons may add
 * some); missing required ones (version, state, origin, qmp, exit-file)
 * and bad values are refused with -EINVAL and one line in why. r_out's
 * dir is left empty.
 */
int state_parse(const char *text, size_t len, struct dom_record *r_out,
		char *why, size_t whylen) __must_check;

#endif
