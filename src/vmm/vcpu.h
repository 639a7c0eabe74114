/* One vCPU: its KVM fd, kvm_run mapping and thread (the KVM_RUN loop). */
#ifndef GODWIT_VMM_VCPU_H
#define GODWIT_VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "common/compiler.h"

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int index; /* also its APIC ID */
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	bool parked; /* under vm->pause.lock */
};

int vcpu_create(struct vm *vm, unsigned int index,
		struct vcpu *vcpu) __must_check;
void vcpu_destroy(struct vcpu *vcpu);
int vcpu_start_thread(struct vcpu *vcpu) __must_check;
/* Install the no-op signal handler used to kick vCPUs out of KVM_RUN. */
int vcpu_signal_init(void) __must_check;
void vcpu_kick(struct vcpu *vcpu);

#endif
