/*
 * What happens when a VMM ends, as pure functions: reading its exit file
 * ("STATUS KIND REASON", written by the VMM at exit) and deciding, from
 * the domain's on_poweroff/on_reboot/on_crash actions (xl's), whether
 * the domain goes, restarts or stays listed. A restart guard keeps a
 * guest that dies at once from restarting for ever. The daemon side
 * (lifecycle_run.c) carries the decision out.
 */
#ifndef GODWIT_DAEMON_LIFECYCLE_H
#define GODWIT_DAEMON_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "config/domain_config.h"

/* Restart times remembered per domain; the guard looks at a window. */
#define LIFE_RESTARTS_KEPT 16
#define LIFE_RESTART_WINDOW_NS (60ULL * 1000000000ULL)

/* How a VMM ended: the exit file's KIND, or what we saw without one. */
enum life_end {
	END_POWEROFF, /* guest powered off */
	END_RESET, /* guest rebooted */
	END_CRASH, /* triple fault, KVM failure */
	END_EXIT, /* guest wrote the debug-exit port */
	END_HOST, /* the host ended it: quit, a signal to the VMM */
	END_SAVED, /* saved to a file and ended */
	END_MIGRATED, /* moved to another host */
	END_ERROR, /* the VM never started */
	END_KILLED, /* no exit file: the VMM was killed or vanished */
};

struct life_exit {
	enum life_end end;
	int status; /* exit status; the signal for END_KILLED, or 0 */
	char reason[480]; /* one line: an exit file's has at most 511 bytes */
};

const char *life_end_name(enum life_end end);

/*
 * Parse an exit file's text: "STATUS KIND REASON\n". -EINVAL when it is
 * not one (unknown KIND, no number, binary, longer than a line).
 */
int life_parse_exit(const char *text, size_t len,
		    struct life_exit *out) __must_check;

enum life_verdict {
	LIFE_DESTROY, /* forget the domain */
	LIFE_RESTART, /* start it again from its config */
	LIFE_PRESERVE, /* keep it listed, shut down or crashed */
	LIFE_RENAME_RESTART, /* keep the old one renamed, start anew */
};

struct life_decision {
	enum life_verdict verdict;
	/* "on_poweroff", "on_reboot", "on_crash", or NULL when the end is
	 * not the guest's (saved, migrated, host, error). */
	const char *trigger;
	enum domain_action action; /* the configured action (trigger set) */
	bool crashed; /* preserve as crashed rather than shut down */
	bool no_coredump; /* a coredump-* action: not supported, said so */
	bool loop_guard; /* a restart was refused by the restart guard */
};

/*
 * Decide for an end e of a domain configured by cfg. restarts holds the
 * CLOCK_MONOTONIC times of its nr latest restarts; more than max within
 * LIFE_RESTART_WINDOW_NS before now_ns turn a restart into preserve.
 */
void life_decide(const struct life_exit *e, const struct domain_config *cfg,
		 const uint64_t *restarts, unsigned int nr, unsigned int max,
		 uint64_t now_ns, struct life_decision *out);

/* Remember a restart at now_ns (the oldest is forgotten when full). */
void life_note_restart(uint64_t *restarts, unsigned int *nr, uint64_t now_ns);

#endif
