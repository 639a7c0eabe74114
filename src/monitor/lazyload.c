/*
 * Lazy restore in the VMM (godwit restore --lazy): the glue around
 * migration/lazy.c. The restore pass indexes the save file's page
 * batches instead of loading them; once the state is in, the lazy
 * thread serves guest RAM from the file and this reports how it ended:
 * a log line when every region is in, or, when a batch fails its checks,
 * the VM stopped with one line (it never runs on memory the file did not
 * vouch for).
 */
#include "monitor/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

struct lazy_note {
	struct monitor *m;
	int rc;
	char why[300];
};

static void lazy_on_loop(struct evloop *loop, void *opaque)
{
	struct lazy_note *n = opaque;
	struct monitor *m = n->m;
	struct lazy_restore *lz = &m->incoming.lazy;

	if (!n->rc)
		log_info(
			"vm %s: lazy restore complete: %llu MiB from %s in %.1f ms after running (%llu faults)",
			m->cfg.name,
			(unsigned long long)(lz->data_pages * PAGE_SIZE >> 20),
			m->incoming_name, (lz->done_ns - lz->start_ns) / 1e6,
			(unsigned long long)lz->faults);
	free(n);
}

/* On the lazy thread. A failure stops the VM at once, from here. */
static void lazy_done(void *opaque, int rc, const char *why)
{
	struct monitor *m = opaque;
	struct lazy_note *n;

	if (rc) {
		log_err("restore %s: %s; the VM stopped (its memory would be wrong)",
			m->incoming_name, why);
		vm_request_stop(
			&m->vm, VM_STOP_INTERNAL, VM_STATUS_INTERNAL,
			"restore %s: %s: the VM stopped (its memory would be wrong)",
			m->incoming_name, why);
		return;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return;
	n->m = m;
	if (evloop_call(m->loop, lazy_on_loop, n))
		free(n);
}

static const struct lazy_ops lazy_ops = { .done = lazy_done };

int monitor_lazy_prepare(struct monitor *m)
{
	struct incoming *in = &m->incoming;

	if (!m->opts->lazy || in->migration)
		return 0;
	/*
	 * Headers and pfn lists only: no read-ahead into page data, neither
	 * ours nor the kernel's (the file was opened for a front-to-back
	 * read).
	 */
	stream_set_readahead(&in->stream, 16 * 1024);
	posix_fadvise(in->fd, 0, 0, POSIX_FADV_RANDOM);
	in->lazy_on = true;
	return lazy_init(&in->lazy, mem_nr_pages(&m->vm.mem), in->hdr.version);
}

int monitor_lazy_start(struct monitor *m)
{
	struct incoming *in = &m->incoming;
	char why[256];
	int fd, rc;

	if (!in->lazy_on)
		return 0;
	/*
	 * The stream closes when the restore is over: the thread keeps its
	 * own open file (its own read-ahead: it reads front to back).
	 */
	snprintf(why, sizeof(why), "/proc/self/fd/%d", in->fd);
	fd = open(why, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = dup(in->fd);
	if (fd < 0)
		return -errno;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	in->lazy_fd = fd;
	rc = lazy_start(&in->lazy, &m->vm, fd, m->incoming_name, &lazy_ops, m,
			why, sizeof(why));
	if (rc)
		log_err("restore %s: %s", m->incoming_name, why);
	else
		log_info(
			"vm %s: running from %s lazily: %llu MiB to load as it is touched",
			m->cfg.name, m->incoming_name,
			(unsigned long long)(in->lazy.data_pages * PAGE_SIZE >>
					     20));
	return rc;
}

void monitor_lazy_stop(struct monitor *m)
{
	struct incoming *in = &m->incoming;

	if (!in->lazy_on)
		return;
	lazy_destroy(&in->lazy);
	if (in->lazy_fd >= 0)
		close(in->lazy_fd);
	in->lazy_fd = -1;
	in->lazy_on = false;
}

bool monitor_memory_incomplete(struct monitor *m)
{
	struct incoming *in = &m->incoming;

	return (in->lazy_on && !lazy_complete(&in->lazy)) ||
	       (in->pc_started && postcopy_dst_state(&in->pc) != PCS_DONE);
}
