/* Client library: the godwitd control socket. */
#include <godwit/gwdctl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "rpc/client.h"

/* A daemon that does not greet within this is reported, not waited for. */
#define GWDCTL_CONNECT_TIMEOUT_MS 5000

const char *gwdctl_run_dir(void)
{
	return godwit_run_dir();
}

int gwdctl_socket_path(char *buf, size_t len)
{
	return str_printf(buf, len, "%s/%s", gwdctl_run_dir(),
			  GWDCTL_SOCK_NAME);
}

bool gwdctl_is_absent(int rc)
{
	return rc == -ENOENT || rc == -ECONNREFUSED || rc == -ENOTDIR;
}

int gwdctl_open(struct rpc_client **client_out, char *err, size_t errlen)
{
	char path[4096];
	int rc;

	rc = gwdctl_socket_path(path, sizeof(path));
	if (rc) {
		snprintf(err, errlen, "the run directory name is too long");
		return rc;
	}
	rc = rpc_client_connect(path, GWDCTL_CONNECT_TIMEOUT_MS, client_out);
	if (gwdctl_is_absent(rc))
		snprintf(err, errlen,
			 "no godwitd is running (nothing answers on %s)", path);
	else if (rc)
		snprintf(err, errlen, "cannot talk to godwitd on %s: %s", path,
			 strerror(-rc));
	return rc;
}
