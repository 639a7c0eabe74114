/*
 * Building a VM from a stream. The header comes first: it carries the
 * domain config the VM is created from (with the command line's serial
 * choice on top). Once the VM exists its identity is checked against the
 * header, and only then are pages and state loaded. Any failure leaves
 * nothing running: the VM is torn down and the process exits 1.
 */
#include "toolstack/monitor/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "migration/restore.h"

static int fail(struct monitor *m, const struct rec_error *err)
{
	char msg[512];

	restore_describe(err, msg, sizeof(msg));
	log_err("restore %s: %s", m->opts->restore_name, msg);
	return -EINVAL;
}

int monitor_restore_prepare(struct monitor *m)
{
	const struct monitor_opts *o = m->opts;
	struct incoming *in = &m->restore;
	struct config_diag diag;
	struct rec_error err;
	int rc;

	in->fd = o->restore_fd;
	rc = stream_open_fd(&in->stream, in->fd, true);
	if (rc)
		return rc;
	in->stream_open = true;
	if (restore_read_header(&in->stream, &in->hdr, &in->config, &err))
		return fail(m, &err);
	rc = domain_config_parse(o->restore_name, in->config,
				 in->hdr.config_len, NULL, 0, &m->cfg, &diag);
	if (rc) {
		log_err("restore %s: domain config in the stream header: %s",
			o->restore_name, diag.error);
		return rc;
	}
	/* The console belongs to this host, not to the saved machine. */
	m->cfg.serial = o->serial_set ? o->serial : DOMAIN_SERIAL_STDIO;
	strcpy(m->cfg.serial_path, o->serial_set ? o->serial_path : "");
	return 0;
}

int monitor_restore_load(struct monitor *m)
{
	struct incoming *in = &m->restore;
	struct restore_result res;
	struct rec_error err = { .offset = 0, .type = REC_ERR_STREAM_HEADER };

	if (restore_check_identity(&m->vm, &in->hdr, err.why,
				   sizeof(err.why)))
		return fail(m, &err);
	if (restore_vm(&in->stream, &m->vm, &m->devs, &in->hdr, &res, &err))
		return fail(m, &err);
	log_info("vm %s: restored %llu pages (%llu MiB of stream) in %llu ms",
		 m->cfg.name, (unsigned long long)res.pages,
		 (unsigned long long)(res.bytes >> 20),
		 (unsigned long long)(res.duration_ns / NSEC_PER_MSEC));
	return 0;
}

void monitor_restore_finish(struct monitor *m)
{
	struct incoming *in = &m->restore;

	if (in->stream_open)
		stream_close(&in->stream);
	in->stream_open = false;
	free(in->config);
	in->config = NULL;
}
