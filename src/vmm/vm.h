/*
 * A VM: KVM VM fd, guest RAM, I/O buses, vCPUs and their pause barrier.
 *
 * Threads: each vCPU has its own thread running KVM_RUN; everything else
 * (control socket, save, migration) runs on other threads and reaches the
 * vCPUs only through vm_pause()/vm_resume() or a stop request. vCPU state
 * may be read or written only while all vCPUs are parked.
 */
#ifndef GODWIT_VMM_VM_H
#define GODWIT_VMM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "vmm/bus.h"
#include "vmm/kvm.h"
#include "vmm/memory.h"

#define VM_MAX_VCPUS 255 /* xAPIC IDs in the MADT */
#define VM_NAME_MAX 64

/* Why the guest stopped; each has its own exit status (see vm_stop_status). */
enum vm_stop_reason {
	VM_STOP_NONE,
	VM_STOP_DEBUG_EXIT, /* guest wrote the debug-exit port */
	VM_STOP_POWEROFF, /* ACPI S5 */
	VM_STOP_RESET, /* ACPI reset register or KVM system event */
	VM_STOP_TRIPLE_FAULT, /* KVM_EXIT_SHUTDOWN */
	VM_STOP_INTERNAL, /* KVM could not run the guest */
	VM_STOP_HOST, /* the host ended it (quit, signal, saved) */
};

/* Exit statuses of `godwit run` for stops other than the debug-exit port. */
#define VM_STATUS_POWEROFF 0
#define VM_STATUS_RESET 120
#define VM_STATUS_TRIPLE_FAULT 121
#define VM_STATUS_INTERNAL 122

struct vcpu;

/*
 * What devices do when the VM stops and starts running (the device
 * registry's quiesce and resume). paused() runs once every vCPU is parked
 * for the first (outermost) pause; resuming() runs before the vCPUs are
 * let go by the last resume. Both run on the pausing thread with
 * pause.lock held: they must not pause, resume or stop the VM.
 */
struct vm_pause_hooks {
	void (*paused)(void *opaque);
	void (*resuming)(void *opaque);
	void *opaque;
};

struct vm_pause {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* parked vCPUs wait here */
	pthread_cond_t parked; /* pausers wait here for every vCPU to park */
	unsigned int requests; /* nested pause requests */
	unsigned int nr_parked;
	unsigned int nr_threads; /* vCPU threads alive */
	bool stopping; /* guest ended: park for good */
	bool quit; /* threads must exit */
	/* Guest TSC frozen at pause time (see vm_pause()). */
	bool tsc_frozen;
	uint64_t tsc_guest;
	uint64_t kvmclock_ns;
	struct vm_pause_hooks hooks; /* zero: none */
	bool devices_quiet; /* hooks.paused ran, hooks.resuming not yet */
};

/*
 * A virtio-mmio window for the firmware tables: what the DSDT describes
 * as a LNRO0005 device (src/vmm/x86/acpi.c).
 */
#define VM_MAX_VIRTIO_MMIO 32
struct vm_virtio_mmio {
	uint64_t base;
	uint32_t size;
	uint32_t gsi; /* level-triggered, active-high */
};

struct vm_config {
	char name[VM_NAME_MAX];
	uint64_t mem_bytes;
	unsigned int nr_vcpus;
	char cpu_model[32];
	enum mem_backing backing;
};

struct vm {
	struct vm_config config;
	struct kvm kvm;
	int fd;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	struct kvm_cpuid2 *cpuid; /* the VM's CPUID, before per-vCPU ids */
	uint32_t cpuid_digest; /* machine identity: feature digest */
	char cpu_vendor[13];
	bool tsc_offset_ctrl; /* KVM_VCPU_TSC_OFFSET available */
	uint32_t *save_msrs; /* MSRs saved per vCPU (msr_save_list) */
	unsigned int nr_save_msrs;
	unsigned int dring_entries; /* per-vCPU dirty ring; 0: bitmap */
	struct vm_pause pause;
	struct vm_virtio_mmio virtio_mmio[VM_MAX_VIRTIO_MMIO];
	unsigned int nr_virtio_mmio;

	pthread_mutex_t stop_lock;
	enum vm_stop_reason stop_reason;
	int stop_status;
	int stop_eventfd; /* readable once the guest stopped */
	char stop_message[160];
};

/* Create the VM, its RAM, irqchip, PIT and vCPUs (not yet running). */
int vm_create(struct vm *vm, const struct vm_config *config) __must_check;
/* Stop vCPU threads (if running) and free everything. Idempotent. */
void vm_destroy(struct vm *vm);
/*
 * Start one thread per vCPU; with paused, they park before running.
 * Guest time starts from vm->pause.tsc_guest/kvmclock_ns if a restore
 * set them (pause.tsc_frozen), else from where KVM has it.
 */
int vm_start(struct vm *vm, bool paused) __must_check;

/*
 * Park every vCPU and wait until each has stopped; nests. While paused
 * the guest's TSC and kvmclock stand still, so guest time does not jump
 * across a pause, a save or a migration.
 */
int vm_pause(struct vm *vm) __must_check;
int vm_resume(struct vm *vm) __must_check;
/*
 * A pause that does not wait: every vCPU parks at its next chance, one
 * blocked where no signal reaches it (a guest page fault that waits for
 * its page, migration/uffd.h) once it gets its page. Devices and guest
 * time go on (no quiesce, no freeze). Undone by vm_resume(); nests with
 * vm_pause().
 */
void vm_pause_request(struct vm *vm);
bool vm_is_paused(struct vm *vm);
/*
 * Install the device hooks before vm_start(), with the devices already
 * quiesced: the VM's first resume (vm_start(), or the resume after a
 * paused start) is what lets them run, after a restore loaded them.
 */
void vm_set_pause_hooks(struct vm *vm, const struct vm_pause_hooks *hooks);

/*
 * Called from any thread when the guest ends: the first call wins, vCPUs
 * park for good and stop_eventfd becomes readable.
 */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status,
		     const char *fmt, ...) __printf(4, 5);
bool vm_stopped(struct vm *vm, enum vm_stop_reason *reason_out,
		int *status_out);

/* Drive an interrupt line (GSI) of the in-kernel PIC/IOAPIC. */
int vm_irq_line(struct vm *vm, unsigned int gsi, int level) __must_check;

/* List a virtio-mmio window for the ACPI tables a boot writes. */
int vm_add_virtio_mmio(struct vm *vm, uint64_t base, uint32_t size,
		       uint32_t gsi) __must_check;

/*
 * KVM_IOEVENTFD: a guest write of len bytes (1, 2, 4 or 8) of value
 * datamatch to the MMIO address gpa signals fd inside KVM, with no exit
 * to user space. assign false removes it again.
 */
int vm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned int len,
		 uint64_t datamatch, int fd, bool assign) __must_check;

#endif
