/* One vCPU: its KVM fd, kvm_run mapping and thread (the KVM_RUN loop). */
#ifndef GODWIT_VMM_VCPU_H
#define GODWIT_VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/compiler.h"
#include "vmm/dirtyring.h"

struct vm;

/* The throttle's time slice, and the highest share of it slept. */
#define VCPU_THROTTLE_SLICE_NS 10000000ULL
#define VCPU_THROTTLE_MAX 99

struct vcpu {
	struct vm *vm;
	unsigned int index; /* also its APIC ID */
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	bool parked; /* under vm->pause.lock */
	struct dring ring; /* dirty ring, if the VM has them */
	/*
	 * Throttle: the percentage of its time the vCPU thread sleeps
	 * instead of running the guest (0..VCPU_THROTTLE_MAX; atomic, set
	 * by vcpu_set_throttle). The rest is for the vCPU thread only.
	 */
	unsigned int throttle_pct;
	uint64_t throttled_ns; /* slept so far; atomic */
	timer_t slice_timer; /* kicks KVM_RUN every slice while throttled */
	bool slice_timer_ok, slice_timer_armed;
	uint64_t ran_since_ns; /* last wake from a throttle sleep */
};

int vcpu_create(struct vm *vm, unsigned int index,
		struct vcpu *vcpu) __must_check;
void vcpu_destroy(struct vcpu *vcpu);
int vcpu_start_thread(struct vcpu *vcpu) __must_check;
/* Install the no-op signal handler used to kick vCPUs out of KVM_RUN. */
int vcpu_signal_init(void) __must_check;
void vcpu_kick(struct vcpu *vcpu);
/*
 * Throttle vcpu to pct percent (0: off; capped at VCPU_THROTTLE_MAX):
 * its thread then sleeps, between runs, pct/(100-pct) of the time it ran,
 * and a timer takes it out of KVM_RUN every VCPU_THROTTLE_SLICE_NS so it
 * cannot run on unthrottled. Any thread.
 */
void vcpu_set_throttle(struct vcpu *vcpu, unsigned int pct);
unsigned int vcpu_throttle(const struct vcpu *vcpu);

#endif
