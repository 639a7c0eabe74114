/*
 * Following a migration to its outcome without ever waiting on a
 * process that is gone. godwit migrate waits for events; this pings the
 * peer when it is quiet (so a dead or hung peer is noticed), and when
 * godwitd itself goes away mid-migration it finds the VM process on its
 * own control socket (the VMM does not depend on the daemon), or, if
 * that is gone too, reads how it ended from its exit file.
 */
#ifndef GODWIT_CLI_FOLLOW_H
#define GODWIT_CLI_FOLLOW_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <godwit/client.h>
#include <godwit/migrate.h>

/* Silence longer than this gets a ping; the ping gets as long again. */
#define FOLLOW_PING_MS 15000

/* Where the VM is when godwitd is not (godwitd's migrate answer). */
struct follow_vm {
	char qmp[PATH_MAX]; /* its control socket, "" if unknown */
	char exit_file[PATH_MAX]; /* its exit file, "" if unknown */
};

/* Fill w from godwitd's answer to migrate (its qmp and exit file). */
void follow_vm_from(struct follow_vm *w,
		    const struct godwit_migrate_started *st);

/*
 * The next event on c (*ev_out, caller frees it with godwit_event_free),
 * or -ETIMEDOUT once CLOCK_MONOTONIC passes until (ns; 0: no limit). A
 * quiet peer is pinged (query-version); one that does not answer is
 * -EHOSTDOWN; other errors (-ECONNRESET...) mean it is gone.
 */
int follow_next_event_until(struct godwit_conn *c, uint64_t until,
			    struct godwit_event **ev_out);

/*
 * godwitd went away: connect to the VM process. 0 with *c_out, and
 * *ended true with its query-migrate answer in *final_out if the
 * migration has ended already (else follow *c_out's events); -errno
 * when the VM process cannot be reached (it has ended).
 */
int follow_reconnect(const struct follow_vm *w, struct godwit_conn **c_out,
		     struct godwit_migration *final_out, bool *ended);

/*
 * How the VM process ended, from its exit file ("STATUS KIND REASON"):
 * 0 with kind and reason, or -errno when there is no such file.
 */
int follow_exit_file(const struct follow_vm *w, char *kind, size_t klen,
		     char *reason, size_t rlen);

#endif
