/*
 * Where a verb about a domain goes (the rule `godwit --help` states):
 *  - a domain argument containing '/' is a VM control socket: used
 *    directly, daemon or not;
 *  - else, when godwitd answers on its socket, through the daemon, which
 *    knows domains by name, id or uuid;
 *  - else (no daemon) straight to RUN/vm/NAME.qmp, as `godwit run`
 *    names its socket.
 */
#ifndef GODWIT_CLI_ROUTE_H
#define GODWIT_CLI_ROUTE_H

#include <stdbool.h>

#include <json-c/json.h>

#include <godwit/vmctl.h>

struct rpc_client;

struct route {
	bool daemon; /* c talks to godwitd; else to the VM itself */
	struct rpc_client *c;
	const char *dom; /* the domain argument */
	char err[VMCTL_ERR_MAX];
};

/*
 * Open the way to dom for verb. need_daemon: the verb exists only in the
 * daemon (then no daemon is an error). Prints one error line and returns
 * CLI_FAIL on failure; 0 otherwise.
 */
int route_open(struct route *r, const char *verb, const char *dom,
	       bool need_daemon);
void route_close(struct route *r);

/*
 * Run command on the route's peer; prints "godwit: VERB DOM: error" and
 * returns CLI_FAIL on failure. *ret_out (may be NULL) gets the result.
 */
int route_call(struct route *r, const char *verb, const char *command,
	       struct json_object *args, struct json_object **ret_out);

/* {"domain": dom} plus nothing else: the daemon's usual arguments. */
struct json_object *route_dom_args(const struct route *r);

/*
 * The whole round for a verb without options: open the way to dom, run
 * daemon_cmd with route_dom_args or vm_cmd without arguments, waiting up
 * to timeout_ms for the answer, and close. Returns as route_call.
 */
int route_dom_call(const char *verb, const char *dom, const char *daemon_cmd,
		   const char *vm_cmd, int timeout_ms,
		   struct json_object **ret_out);

/*
 * Check argv of a verb that takes just DOMAIN (argv[0] is the verb).
 * Returns -1 when argv[1] is the domain; else the exit status, after
 * -h/--help printed the usage line and help (if not NULL) on stdout, or
 * a wrong count the usage line on stderr.
 */
int route_dom_argv(int argc, char **argv, const char *help);

/* Is a daemon answering? Opens *c_out when it is (close it). */
bool route_daemon_up(struct rpc_client **c_out);

#endif
