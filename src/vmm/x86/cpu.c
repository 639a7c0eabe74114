/*
 * x86 VM and vCPU setup: the in-kernel irqchip and PIT, per-vCPU CPUID,
 * the MSRs a firmware would have set, LAPIC virtual-wire wiring, FPU
 * defaults, boot registers, and guest time control.
 */
#include "vmm/x86/cpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/x86/bzimage.h"
#include "vmm/x86/cpuid.h"
#include "vmm/x86/layout.h"
#include "vmm/x86/msr.h"

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7
#define APIC_LVT_MASKED (1u << 16)

#define IOAPIC_PINS 24
#define PIC_PINS 16

/*
 * Interrupt routing as on a PC and as the MADT says: ISA IRQ n goes to
 * PIC pin n and I/O APIC pin n, except the timer (IRQ 0), which the MADT's
 * interrupt source override sends to I/O APIC pin 2. KVM's default routes
 * GSI 0 to pin 0, which would contradict our own tables.
 */
static int x86_irq_routing(struct vm *vm)
{
	/* struct kvm_irq_routing with room for our entries. */
	struct {
		uint32_t nr;
		uint32_t flags;
		struct kvm_irq_routing_entry e[PIC_PINS + IOAPIC_PINS];
	} r;
	unsigned int i, n = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < PIC_PINS; i++, n++) {
		r.e[n].gsi = i;
		r.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		r.e[n].u.irqchip.irqchip = i < 8 ? KVM_IRQCHIP_PIC_MASTER :
						   KVM_IRQCHIP_PIC_SLAVE;
		r.e[n].u.irqchip.pin = i % 8;
	}
	for (i = 0; i < IOAPIC_PINS; i++) {
		if (i == 2)
			continue; /* pin 2 belongs to GSI 0 */
		r.e[n].gsi = i;
		r.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		r.e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		r.e[n].u.irqchip.pin = i ? i : 2;
		n++;
	}
	_Static_assert(offsetof(__typeof__(r), e) ==
			       offsetof(struct kvm_irq_routing, entries),
		       "routing layout");
	r.nr = n;
	if (ioctl(vm->fd, KVM_SET_GSI_ROUTING, &r) < 0) {
		rc = -errno;
		log_err("cannot set interrupt routing: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int x86_vm_init(struct vm *vm)
{
	uint64_t ident = LAYOUT_IDENTITY_MAP;
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int rc;

	/* Intel VMX needs these pages for real mode; harmless elsewhere. */
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, LAYOUT_TSS) < 0)
		log_debug("KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (kvm_check_cap(&vm->kvm, KVM_CAP_SET_IDENTITY_MAP_ADDR) &&
	    ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		rc = -errno;
		log_err("cannot create the in-kernel irqchip: %s",
			strerror(-rc));
		return rc;
	}
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0) {
		rc = -errno;
		log_err("cannot create the in-kernel PIT: %s", strerror(-rc));
		return rc;
	}
	return x86_irq_routing(vm);
}

static int x86_vcpu_set_cpuid(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct kvm_cpuid2 *c;
	int rc = 0;

	c = cpuid_copy(vm->cpuid);
	if (!c)
		return -ENOMEM;
	cpuid_set_vcpu(c, vcpu->index, vm->nr_vcpus);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0) {
		rc = -errno;
		log_err("vCPU %u: KVM_SET_CPUID2: %s", vcpu->index,
			strerror(errno));
	}
	free(c);
	return rc;
}

/* Virtual wire: the BSP takes PIC interrupts on LINT0; NMIs on LINT1. */
static int x86_vcpu_set_lint(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	uint32_t lvt0, lvt1 = APIC_MODE_NMI << 8;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	lvt0 = vcpu->index == 0 ? APIC_MODE_EXTINT << 8 : APIC_LVT_MASKED;
	memcpy(&lapic.regs[APIC_LVT0], &lvt0, 4);
	memcpy(&lapic.regs[APIC_LVT1], &lvt1, 4);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

static int x86_vcpu_set_fpu(struct vcpu *vcpu)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	return ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

int x86_vcpu_init(struct vcpu *vcpu)
{
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL,
		.attr = KVM_VCPU_TSC_OFFSET,
	};
	int rc;

	rc = x86_vcpu_set_cpuid(vcpu);
	if (!rc)
		rc = msr_set_boot(vcpu->fd);
	if (!rc)
		rc = x86_vcpu_set_lint(vcpu);
	if (!rc)
		rc = x86_vcpu_set_fpu(vcpu);
	if (rc) {
		log_err("vCPU %u setup failed: %s", vcpu->index, strerror(-rc));
		return rc;
	}
	if (vcpu->index == 0)
		vcpu->vm->tsc_offset_ctrl =
			ioctl(vcpu->fd, KVM_HAS_DEVICE_ATTR, &attr) == 0;
	return 0;
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type,
		     bool code64)
{
	*s = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = sel,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = code64 ? 0 : 1,
		.s = 1,
		.l = code64 ? 1 : 0,
		.g = 1,
	};
}

/* PVH: 32-bit flat protected mode, paging off, a busy 32-bit TSS. */
static void sregs_pvh32(struct kvm_sregs *s)
{
	seg_flat(&s->cs, 0x10, 0xb, false);
	seg_flat(&s->ds, 0x18, 0x3, false);
	s->es = s->fs = s->gs = s->ss = s->ds;
	s->tr = (struct kvm_segment){
		.selector = 0x20, .limit = 0x67, .type = 0xb, .present = 1
	};
	s->ldt = (struct kvm_segment){ .type = 0x2,
				       .present = 1,
				       .unusable = 1 };
	s->cr0 = 0x11; /* PE | ET */
	s->cr3 = 0;
	s->cr4 = 0;
	s->efer = 0;
}

/* Linux 64-bit entry: long mode on the identity map bzimage_load() built. */
static void sregs_linux64(struct kvm_sregs *s)
{
	seg_flat(&s->cs, BZIMAGE_BOOT_CS, 0xb, true);
	seg_flat(&s->ds, BZIMAGE_BOOT_DS, 0x3, false);
	s->es = s->fs = s->gs = s->ss = s->ds;
	s->tr = (struct kvm_segment){
		.selector = 0x20, .limit = 0x67, .type = 0xb, .present = 1
	};
	s->gdt.base = LAYOUT_BOOT_GDT;
	s->gdt.limit = BZIMAGE_GDT_ENTRIES * 8 - 1;
	s->cr0 = 0x80050033; /* PG | AM | WP | NE | ET | MP | PE */
	s->cr3 = LAYOUT_BOOT_PML4;
	s->cr4 = 0x20; /* PAE */
	s->efer = 0x500; /* LME | LMA */
}

int x86_vcpu_set_boot(struct vcpu *vcpu, const struct boot_entry *entry)
{
	struct kvm_regs regs = { .rflags = 0x2, .rip = entry->rip };
	struct kvm_sregs sregs;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	if (entry->mode == BOOT_PVH32) {
		sregs_pvh32(&sregs);
		regs.rbx = entry->arg;
	} else {
		sregs_linux64(&sregs);
		regs.rsi = entry->arg;
	}
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

int x86_vcpu_get_rip(struct vcpu *vcpu, uint64_t *rip_out)
{
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		return -errno;
	*rip_out = regs.rip;
	return 0;
}
