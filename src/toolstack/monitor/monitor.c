/*
 * Monitor main loop. Start-up is a straight line (VM, devices, kernel,
 * console, signals, vCPUs); then one event loop thread waits for the
 * guest to end, a signal, console input or control commands, while the
 * vCPU threads run the guest. Teardown undoes start-up in reverse.
 */
#include "toolstack/monitor/monitor.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "devices/platform.h"
#include "devices/serial.h"
#include "toolstack/monitor/console.h"
#include "vmm/x86/layout.h"
#include "vmm/x86/loader.h"

struct monitor {
	const struct monitor_opts *opts;
	struct vm vm;
	struct serial serial;
	struct console console;
	struct evloop *loop;
	int signal_fd;
	int status;
};

static void monitor_serial_irq(void *opaque, int level)
{
	struct monitor *m = opaque;

	if (vm_irq_line(&m->vm, PORT_SERIAL0_IRQ, level))
		log_debug("serial IRQ line: failed");
}

static void monitor_on_stop(struct evloop *loop, int fd, uint32_t events,
			    void *opaque)
{
	struct monitor *m = opaque;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
		return;
	vm_stopped(&m->vm, NULL, &m->status);
	log_info("vm %s: %s", m->vm.config.name, m->vm.stop_message);
	evloop_stop(loop);
}

static void monitor_on_signal(struct evloop *loop, int fd, uint32_t events,
			      void *opaque)
{
	struct monitor *m = opaque;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	vm_request_stop(&m->vm, VM_STOP_HOST, 0, "terminated by signal %u",
			si.ssi_signo);
}

static void monitor_on_escape(void *opaque)
{
	struct monitor *m = opaque;

	vm_request_stop(&m->vm, VM_STOP_HOST, 0, "console escape (^]) ended the VM");
}

/* SIGINT/SIGTERM/SIGHUP arrive through a signalfd on the loop thread. */
static int monitor_signals(struct monitor *m)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Blocked before vCPU threads exist, so they inherit the mask. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	signal(SIGPIPE, SIG_IGN);
	m->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->signal_fd < 0)
		return -errno;
	return evloop_add_fd(m->loop, m->signal_fd, EVLOOP_IN,
			     monitor_on_signal, m);
}

static int monitor_devices(struct monitor *m)
{
	const struct monitor_opts *o = m->opts;
	int rc;

	rc = console_open_output(&m->console, o->serial, o->serial_path);
	if (rc)
		return rc;
	serial_init(&m->serial, m->console.out_fd, monitor_serial_irq, m);
	rc = serial_attach(&m->serial, &m->vm);
	if (!rc)
		rc = platform_attach(&m->vm);
	if (rc)
		log_err("cannot attach devices: %s", strerror(-rc));
	return rc;
}

static int monitor_start(struct monitor *m)
{
	const struct monitor_opts *o = m->opts;
	struct boot_config boot = {
		.kernel = o->kernel,
		.initrd = o->initrd[0] ? o->initrd : NULL,
		.cmdline = o->cmdline,
	};
	int rc;

	rc = evloop_new(&m->loop);
	if (rc)
		return rc;
	rc = monitor_signals(m);
	if (rc)
		return rc;
	rc = vm_create(&m->vm, &o->vm);
	if (rc)
		return rc;
	rc = monitor_devices(m);
	if (rc)
		return rc;
	rc = boot_load(&m->vm, &boot);
	if (rc)
		return rc;
	rc = evloop_add_fd(m->loop, m->vm.stop_eventfd, EVLOOP_IN,
			   monitor_on_stop, m);
	if (rc)
		return rc;
	if (o->serial == SERIAL_STDIO) {
		m->console.on_escape = monitor_on_escape;
		m->console.opaque = m;
		rc = console_start_input(&m->console, m->loop, &m->serial);
		if (rc)
			return rc;
	}
	rc = vm_start(&m->vm, o->paused);
	if (rc)
		log_err("cannot start vCPUs: %s", strerror(-rc));
	return rc;
}

static void monitor_teardown(struct monitor *m)
{
	console_close(&m->console);
	vm_destroy(&m->vm);
	serial_destroy(&m->serial);
	if (m->signal_fd >= 0)
		close(m->signal_fd);
	evloop_free(m->loop);
}

int monitor_run(const struct monitor_opts *opts)
{
	struct monitor m = { .opts = opts, .signal_fd = -1, .status = 1 };
	int rc;

	m.vm.fd = -1;
	m.vm.stop_eventfd = -1;
	m.vm.kvm.fd = -1;
	m.vm.mem.memfd = -1;
	m.console.in_fd = m.console.out_fd = -1;
	log_set_prefix("godwit");
	rc = monitor_start(&m);
	if (rc == 0) {
		rc = evloop_run(m.loop);
		if (rc)
			log_err("event loop failed: %s", strerror(-rc));
	} else {
		m.status = 1;
	}
	monitor_teardown(&m);
	return m.status;
}
