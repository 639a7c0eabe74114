/*
 * Where a verb about a domain goes (the rule `godwit --help` states,
 * godwit_open_domain() in the client library applies it):
 *  - a domain argument containing '/' is a VM control socket: used
 *    directly, daemon or not;
 *  - else, when godwitd answers on its socket, through the daemon, which
 *    knows domains by name, id or uuid;
 *  - else (no daemon) straight to RUN/vm/NAME.qmp, as `godwit run`
 *    names its socket.
 * Everything the CLI does over a socket goes through the client library
 * (include/godwit/): it is the library's first user.
 */
#ifndef GODWIT_CLI_ROUTE_H
#define GODWIT_CLI_ROUTE_H

#include <stdbool.h>

#include <godwit/client.h>

/* How long a verb waits for an answer unless it says otherwise. */
#define ROUTE_TIMEOUT_MS 30000

struct route {
	struct godwit_conn *c;
	const char *dom; /* the domain argument */
	char err[GODWIT_ERROR_MAX];
};

/*
 * Open the way to dom for verb. need_daemon: the verb exists only in the
 * daemon (then no daemon is an error). Prints one error line and returns
 * CLI_FAIL on failure; 0 otherwise.
 */
int route_open(struct route *r, const char *verb, const char *dom,
	       bool need_daemon);
void route_close(struct route *r);
/* Does the route go through godwitd? */
bool route_is_daemon(const struct route *r);

/*
 * Wait for res, a command started on r (started: what starting it
 * returned, its reason in r->err). Prints "godwit: VERB DOM: error" and
 * returns CLI_FAIL if it failed; 0 with res->ret the answer (release res
 * either way).
 */
int route_wait(struct route *r, const char *verb, int started,
	       struct godwit_result *res);

/*
 * Check argv of a verb that takes just DOMAIN (argv[0] is the verb).
 * Returns -1 when argv[1] is the domain; else the exit status, after
 * -h/--help printed the usage line and help (if not NULL) on stdout, or
 * a wrong count the usage line on stderr.
 */
int route_dom_argv(int argc, char **argv, const char *help);

#endif
