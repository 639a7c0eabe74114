/*
 * The pause barrier: vm_pause() kicks every vCPU out of KVM_RUN and waits
 * until each thread is parked; vm_resume() lets them go. Pauses nest, so
 * a user's `stop` and a save's own pause compose. The first pause freezes
 * guest time (TSC and kvmclock), the last resume restarts it where it
 * stood, so a guest sees no jump across a pause, save or migration.
 * Devices follow the same outermost pause and resume through the hooks
 * (quiesce, then resume: vm.h), so nothing writes guest RAM while the VM
 * is paused, and a save or the final copy of a migration sees all of it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/x86/cpu.h"

static void pause_wait_parked(struct vm *vm)
{
	struct vm_pause *p = &vm->pause;

	while (p->nr_parked < p->nr_threads)
		pthread_cond_wait(&p->parked, &p->lock);
}

int vm_pause(struct vm *vm)
{
	struct vm_pause *p = &vm->pause;
	unsigned int i;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	if (p->requests++ == 0) {
		for (i = 0; i < vm->nr_vcpus; i++)
			vcpu_kick(&vm->vcpus[i]);
	}
	pause_wait_parked(vm);
	if (!p->devices_quiet && p->hooks.paused) {
		p->hooks.paused(p->hooks.opaque);
		p->devices_quiet = true;
	}
	if (!p->tsc_frozen && !p->stopping) {
		rc = x86_time_freeze(vm, &p->tsc_guest);
		if (rc == 0)
			p->tsc_frozen = true;
	}
	pthread_mutex_unlock(&p->lock);
	if (rc)
		log_err("cannot freeze guest time: %s", strerror(-rc));
	return rc;
}

void vm_pause_request(struct vm *vm)
{
	struct vm_pause *p = &vm->pause;
	unsigned int i;

	pthread_mutex_lock(&p->lock);
	if (p->requests++ == 0) {
		for (i = 0; i < vm->nr_vcpus; i++)
			vcpu_kick(&vm->vcpus[i]);
	}
	pthread_mutex_unlock(&p->lock);
}

int vm_resume(struct vm *vm)
{
	struct vm_pause *p = &vm->pause;
	unsigned int i;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	if (!p->requests) {
		pthread_mutex_unlock(&p->lock);
		return -EINVAL;
	}
	if (--p->requests == 0) {
		if (p->devices_quiet && p->hooks.resuming)
			p->hooks.resuming(p->hooks.opaque);
		p->devices_quiet = false;
		if (p->tsc_frozen) {
			rc = x86_time_thaw(vm, p->tsc_guest);
			p->tsc_frozen = false;
		}
		for (i = 0; i < vm->nr_vcpus; i++)
			__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 0,
					 __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	if (rc)
		log_err("cannot restart guest time: %s", strerror(-rc));
	return rc;
}

void vm_set_pause_hooks(struct vm *vm, const struct vm_pause_hooks *hooks)
{
	pthread_mutex_lock(&vm->pause.lock);
	vm->pause.hooks = *hooks;
	vm->pause.devices_quiet = true;
	pthread_mutex_unlock(&vm->pause.lock);
}

bool vm_is_paused(struct vm *vm)
{
	bool paused;

	pthread_mutex_lock(&vm->pause.lock);
	paused = vm->pause.requests > 0;
	pthread_mutex_unlock(&vm->pause.lock);
	return paused;
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status,
		     const char *fmt, ...)
{
	struct vm_pause *p = &vm->pause;
	uint64_t one = 1;
	unsigned int i;
	bool first;
	va_list ap;

	pthread_mutex_lock(&vm->stop_lock);
	first = vm->stop_reason == VM_STOP_NONE;
	if (first) {
		vm->stop_reason = reason;
		vm->stop_status = status;
		va_start(ap, fmt);
		vsnprintf(vm->stop_message, sizeof(vm->stop_message), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&vm->stop_lock);
	if (!first)
		return;

	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_unlock(&p->lock);
	if (write(vm->stop_eventfd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow with one write per VM. */
	}
}

bool vm_stopped(struct vm *vm, enum vm_stop_reason *reason_out, int *status_out)
{
	bool stopped;

	pthread_mutex_lock(&vm->stop_lock);
	stopped = vm->stop_reason != VM_STOP_NONE;
	if (reason_out)
		*reason_out = vm->stop_reason;
	if (status_out)
		*status_out = vm->stop_status;
	pthread_mutex_unlock(&vm->stop_lock);
	return stopped;
}
