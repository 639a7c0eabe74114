/* Routing a domain verb to godwitd or to a VM's control socket. */
#include "toolstack/cli/route.h"

#include <stdio.h>
#include <string.h>

#include "toolstack/cli/cli.h"

int route_open(struct route *r, const char *verb, const char *dom,
	       bool need_daemon)
{
	memset(r, 0, sizeof(*r));
	r->dom = dom;
	if (!godwit_open_domain(dom, need_daemon, &r->c, r->err,
				sizeof(r->err)))
		return 0;
	fprintf(stderr, "godwit: %s %s: %s\n", verb, dom, r->err);
	return CLI_FAIL;
}

void route_close(struct route *r)
{
	godwit_conn_close(r->c);
	r->c = NULL;
}

bool route_is_daemon(const struct route *r)
{
	return godwit_conn_is_daemon(r->c);
}

int route_wait(struct route *r, const char *verb, int started,
	       struct godwit_result *res)
{
	if (started) {
		fprintf(stderr, "godwit: %s %s: %s\n", verb, r->dom,
			r->err[0] ? r->err : strerror(-started));
		return CLI_FAIL;
	}
	if (!godwit_result_wait(r->c, res))
		return 0;
	fprintf(stderr, "godwit: %s %s: %s\n", verb, r->dom, res->error);
	return CLI_FAIL;
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
