/* Routing a domain verb to godwitd or to a VM's control socket. */
#include "toolstack/cli/route.h"

#include <stdio.h>
#include <string.h>

#include "toolstack/cli/cli.h"
#include <godwit/gwdctl.h>
#include "rpc/client.h"

bool route_daemon_up(struct rpc_client **c_out)
{
	char err[VMCTL_ERR_MAX];
	int rc;

	*c_out = NULL;
	rc = gwdctl_open(c_out, err, sizeof(err));
	return rc == 0;
}

int route_open(struct route *r, const char *verb, const char *dom,
	       bool need_daemon)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->dom = dom;
	if (!strchr(dom, '/')) {
		rc = gwdctl_open(&r->c, r->err, sizeof(r->err));
		if (rc == 0) {
			r->daemon = true;
			return 0;
		}
		if (need_daemon || !gwdctl_is_absent(rc)) {
			fprintf(stderr, "godwit: %s %s: %s\n", verb, dom,
				r->err);
			return CLI_FAIL;
		}
	}
	if (vmctl_open(dom, &r->c, r->err, sizeof(r->err))) {
		fprintf(stderr, "godwit: %s %s: %s\n", verb, dom, r->err);
		return CLI_FAIL;
	}
	return 0;
}

void route_close(struct route *r)
{
	rpc_client_close(r->c);
	r->c = NULL;
}

int route_call(struct route *r, const char *verb, const char *command,
	       struct json_object *args, struct json_object **ret_out)
{
	int rc = r->daemon ? gwdctl_execute(r->c, command, args, ret_out,
					    r->err, sizeof(r->err)) :
			     vmctl_execute(r->c, command, args, ret_out, r->err,
					   sizeof(r->err));

	if (rc) {
		fprintf(stderr, "godwit: %s %s: %s\n", verb, r->dom, r->err);
		return CLI_FAIL;
	}
	return 0;
}

struct json_object *route_dom_args(const struct route *r)
{
	struct json_object *a = json_object_new_object();

	json_object_object_add(a, "domain", json_object_new_string(r->dom));
	return a;
}

int route_dom_call(const char *verb, const char *dom, const char *daemon_cmd,
		   const char *vm_cmd, int timeout_ms,
		   struct json_object **ret_out)
{
	struct json_object *args;
	struct route r;
	int rc;

	if (route_open(&r, verb, dom, false))
		return CLI_FAIL;
	rpc_client_set_timeout(r.c, timeout_ms);
	args = r.daemon ? route_dom_args(&r) : NULL;
	rc = route_call(&r, verb, r.daemon ? daemon_cmd : vm_cmd, args,
			ret_out);
	json_object_put(args);
	route_close(&r);
	return rc;
}

int route_dom_argv(int argc, char **argv, const char *help)
{
	if (argc == 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: godwit %s DOMAIN\n%s", argv[0],
		       help ? help : "");
		return CLI_OK;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: godwit %s DOMAIN\n", argv[0]);
		return CLI_USAGE;
	}
	return -1;
}
