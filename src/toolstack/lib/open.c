/*
 * Where godwit's sockets are, and opening a connection to godwitd, to a
 * VM, or to a domain by the rule the godwit command follows (client.h).
 */
#include "toolstack/lib/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

#define DAEMON_SOCK_NAME "godwitd.sock"

const char *godwit_run_dir(void)
{
	return util_run_dir();
}

int godwit_daemon_socket_path(char *buf, size_t len)
{
	return str_printf(buf, len, "%s/%s", util_run_dir(), DAEMON_SOCK_NAME);
}

int godwit_vm_socket_path(const char *vm, char *buf, size_t len)
{
	if (strchr(vm, '/'))
		return str_printf(buf, len, "%s", vm);
	return util_vm_socket(util_run_dir(), vm, buf, len);
}

bool godwit_error_is_absent(int rc)
{
	return rc == -ENOENT || rc == -ECONNREFUSED || rc == -ENOTDIR;
}

int godwit_open_daemon(struct godwit_conn **conn_out, char *err, size_t errlen)
{
	char path[GODWIT_PATH_MAX];
	int rc;

	*conn_out = NULL;
	rc = godwit_daemon_socket_path(path, sizeof(path));
	if (rc) {
		snprintf(err, errlen, "the run directory name is too long");
		return rc;
	}
	rc = lib_conn_open(path, true, conn_out);
	if (godwit_error_is_absent(rc))
		snprintf(err, errlen,
			 "no godwitd is running (nothing answers on %s)", path);
	else if (rc)
		snprintf(err, errlen, "cannot talk to godwitd on %s: %s", path,
			 strerror(-rc));
	return rc;
}

int godwit_open_vm(const char *vm, struct godwit_conn **conn_out, char *err,
		   size_t errlen)
{
	char path[GODWIT_PATH_MAX];
	int rc;

	*conn_out = NULL;
	rc = godwit_vm_socket_path(vm, path, sizeof(path));
	if (rc) {
		snprintf(err, errlen, "VM name '%s' is too long", vm);
		return rc;
	}
	rc = lib_conn_open(path, false, conn_out);
	if (godwit_error_is_absent(rc))
		snprintf(err, errlen,
			 "no VM '%s' is running (nothing answers on %s)", vm,
			 path);
	else if (rc)
		snprintf(err, errlen, "cannot talk to VM '%s' on %s: %s", vm,
			 path, strerror(-rc));
	return rc;
}

int godwit_open_domain(const char *dom, bool need_daemon,
		       struct godwit_conn **conn_out, char *err, size_t errlen)
{
	int rc;

	*conn_out = NULL;
	if (!strchr(dom, '/')) {
		rc = godwit_open_daemon(conn_out, err, errlen);
		if (!rc || need_daemon || !godwit_error_is_absent(rc))
			return rc;
	}
	return godwit_open_vm(dom, conn_out, err, errlen);
}
