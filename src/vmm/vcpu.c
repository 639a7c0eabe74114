/*
 * vCPU threads. Each runs a straight KVM_RUN loop: park when a pause or
 * stop is pending, run, dispatch the exit. A pauser sets immediate_exit
 * and sends SIGUSR1: the signal breaks a running KVM_RUN, and
 * immediate_exit covers the window before the thread enters it. Either
 * way the next KVM_RUN completes any half-done I/O exit first (KVM's
 * rule before state can be read) and returns -EINTR without running more
 * guest code.
 *
 * A throttled vCPU (a migration slowing a guest that dirties memory
 * faster than it can be sent) sleeps in this loop, before KVM_RUN, in
 * proportion to the time it ran; a per-thread timer sends the same
 * signal every slice so that KVM_RUN returns to be throttled. A pause
 * ends such a sleep at once.
 */
#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vmm/vm.h"
#include "vmm/x86/cpu.h"

#define SIG_VCPU_KICK SIGUSR1

static void vcpu_kick_handler(int sig)
{
	/* Only here to make KVM_RUN return -EINTR. */
}

int vcpu_signal_init(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must come back with -EINTR. */
	if (sigaction(SIG_VCPU_KICK, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vm *vm, unsigned int index, struct vcpu *vcpu)
{
	int rc;

	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->run = MAP_FAILED;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, index);
	if (vcpu->fd < 0) {
		rc = -errno;
		log_err("cannot create vCPU %u: %s", index, strerror(errno));
		return rc;
	}
	vcpu->run_size = vm->kvm.vcpu_mmap_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED)
		return -errno;
	rc = dring_vcpu_init(vm, vcpu);
	if (rc) {
		log_err("cannot map the dirty ring of vCPU %u: %s", index,
			strerror(-rc));
		return rc;
	}
	return x86_vcpu_init(vcpu);
}

void vcpu_destroy(struct vcpu *vcpu)
{
	dring_vcpu_destroy(vcpu);
	if (vcpu->run && vcpu->run != MAP_FAILED)
		munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->fd = -1;
}

void vcpu_kick(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, SIG_VCPU_KICK);
}

/* Park while a pause or stop is pending; true when the thread must exit. */
static bool vcpu_park(struct vcpu *vcpu)
{
	struct vm_pause *p = &vcpu->vm->pause;
	bool quit;

	pthread_mutex_lock(&p->lock);
	if (p->requests || p->stopping || p->quit) {
		vcpu->parked = true;
		p->nr_parked++;
		pthread_cond_broadcast(&p->parked);
		while ((p->requests || p->stopping) && !p->quit)
			pthread_cond_wait(&p->wake, &p->lock);
		p->nr_parked--;
		vcpu->parked = false;
	}
	quit = p->quit;
	pthread_mutex_unlock(&p->lock);
	return quit;
}

static void vcpu_exit_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint32_t i;

	for (i = 0; i < run->io.count; i++) {
		bus_access(&vcpu->vm->pio, run->io.port, data, run->io.size,
			   is_write);
		data += run->io.size;
	}
}

static void vcpu_exit_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data,
		   run->mmio.len, run->mmio.is_write);
}

static void vcpu_exit_system_event(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vm, VM_STOP_POWEROFF, VM_STATUS_POWEROFF,
				"guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vm, VM_STOP_RESET, VM_STATUS_RESET,
				"guest requested a reset");
		break;
	default:
		vm_request_stop(vm, VM_STOP_INTERNAL, VM_STATUS_INTERNAL,
				"guest crashed (system event %u on vCPU %u)",
				vcpu->run->system_event.type, vcpu->index);
	}
}

static void vcpu_exit_internal(struct vcpu *vcpu, const char *what,
			       uint64_t code)
{
	uint64_t rip = 0;

	x86_vcpu_get_rip(vcpu, &rip);
	vm_request_stop(vcpu->vm, VM_STOP_INTERNAL, VM_STATUS_INTERNAL,
			"KVM cannot run vCPU %u: %s 0x%llx at rip 0x%llx",
			vcpu->index, what, (unsigned long long)code,
			(unsigned long long)rip);
}

static void vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint64_t rip = 0;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_exit_io(vcpu);
		break;
	case KVM_EXIT_MMIO:
		vcpu_exit_mmio(vcpu);
		break;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		break;
	case KVM_EXIT_SHUTDOWN:
		x86_vcpu_get_rip(vcpu, &rip);
		vm_request_stop(vcpu->vm, VM_STOP_TRIPLE_FAULT,
				VM_STATUS_TRIPLE_FAULT,
				"guest triple fault on vCPU %u at rip 0x%llx",
				vcpu->index, (unsigned long long)rip);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_exit_system_event(vcpu);
		break;
	case KVM_EXIT_DIRTY_RING_FULL:
		/* Our ring is full: empty it ourselves and go on. */
		dring_harvest(vcpu->vm, vcpu);
		if (dring_reset(vcpu->vm))
			vcpu_exit_internal(
				vcpu, "dirty ring reset failed, errno", errno);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_exit_internal(vcpu, "internal error, suberror",
				   run->internal.suberror);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_exit_internal(
			vcpu, "entry failure, reason",
			run->fail_entry.hardware_entry_failure_reason);
		break;
	default:
		vcpu_exit_internal(vcpu, "unexpected exit reason",
				   run->exit_reason);
	}
}

/* ---- throttle ---- */

void vcpu_set_throttle(struct vcpu *vcpu, unsigned int pct)
{
	pct = MIN(pct, (unsigned int)VCPU_THROTTLE_MAX);
	if (__atomic_exchange_n(&vcpu->throttle_pct, pct, __ATOMIC_SEQ_CST) ==
	    pct)
		return;
	/* Out of KVM_RUN once, to arm its slice timer (no immediate_exit). */
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, SIG_VCPU_KICK);
}

unsigned int vcpu_throttle(const struct vcpu *vcpu)
{
	return __atomic_load_n(&vcpu->throttle_pct, __ATOMIC_RELAXED);
}

/* A timer of this thread's own, sending the kick signal every slice. */
static void slice_timer_create(struct vcpu *vcpu)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID,
				.sigev_signo = SIG_VCPU_KICK };

	sev._sigev_un._tid =
		gettid(); /* glibc < 2.41: no sigev_notify_thread_id */
	vcpu->slice_timer_ok =
		timer_create(CLOCK_MONOTONIC, &sev, &vcpu->slice_timer) == 0;
	if (!vcpu->slice_timer_ok)
		log_warn(
			"vCPU %u: no throttle timer (%s): a throttled vCPU sleeps only when it leaves the guest",
			vcpu->index, strerror(errno));
}

static void slice_timer_arm(struct vcpu *vcpu, bool on)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	if (!vcpu->slice_timer_ok || vcpu->slice_timer_armed == on)
		return;
	if (on)
		its.it_value.tv_nsec = its.it_interval.tv_nsec =
			VCPU_THROTTLE_SLICE_NS;
	if (!timer_settime(vcpu->slice_timer, 0, &its, NULL))
		vcpu->slice_timer_armed = on;
}

static bool pause_pending(struct vcpu *vcpu)
{
	struct vm_pause *p = &vcpu->vm->pause;

	return __atomic_load_n(&p->requests, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&p->stopping, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&p->quit, __ATOMIC_RELAXED);
}

/* Sleep ns unless a pause comes or the throttle is lifted meanwhile. */
static void throttle_sleep(struct vcpu *vcpu, uint64_t ns)
{
	uint64_t until = time_mono_ns() + ns;
	struct timespec ts = { until / NSEC_PER_SEC, until % NSEC_PER_SEC };

	while (!pause_pending(vcpu) && vcpu_throttle(vcpu) &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
		       EINTR)
		;
}

/* Before KVM_RUN: pay for the time run since the last sleep. */
static void vcpu_throttle_point(struct vcpu *vcpu)
{
	unsigned int pct = vcpu_throttle(vcpu);
	uint64_t now = time_mono_ns(), ran, sleep;

	slice_timer_arm(vcpu, pct > 0);
	if (!pct || !vcpu->ran_since_ns) {
		vcpu->ran_since_ns = now;
		return;
	}
	ran = now - vcpu->ran_since_ns;
	if (ran < VCPU_THROTTLE_SLICE_NS)
		return;
	sleep = MIN(ran, 10 * VCPU_THROTTLE_SLICE_NS) * pct / (100 - pct);
	throttle_sleep(vcpu, sleep);
	vcpu->ran_since_ns = time_mono_ns();
	__atomic_fetch_add(&vcpu->throttled_ns, vcpu->ran_since_ns - now,
			   __ATOMIC_RELAXED);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t set;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	slice_timer_create(vcpu);

	while (!vcpu_park(vcpu)) {
		vcpu_throttle_point(vcpu);
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vcpu_exit_internal(vcpu, "KVM_RUN failed, errno",
					   errno);
			continue;
		}
		vcpu_handle_exit(vcpu);
	}

	if (vcpu->slice_timer_ok)
		timer_delete(vcpu->slice_timer);
	pthread_mutex_lock(&vcpu->vm->pause.lock);
	vcpu->vm->pause.nr_threads--;
	pthread_cond_broadcast(&vcpu->vm->pause.parked);
	pthread_mutex_unlock(&vcpu->vm->pause.lock);
	return NULL;
}

int vcpu_start_thread(struct vcpu *vcpu)
{
	int r;

	pthread_mutex_lock(&vcpu->vm->pause.lock);
	vcpu->vm->pause.nr_threads++;
	pthread_mutex_unlock(&vcpu->vm->pause.lock);
	r = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (r) {
		pthread_mutex_lock(&vcpu->vm->pause.lock);
		vcpu->vm->pause.nr_threads--;
		pthread_mutex_unlock(&vcpu->vm->pause.lock);
		return -r;
	}
	vcpu->thread_started = true;
	return 0;
}
