/* Reading and (in a fixed order) writing x86 vCPU and irqchip state. */
#include "vmm/x86/vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/x86/cpu.h"
#include "vmm/x86/msr.h"

/* Issue one KVM ioctl; on failure record its name and errno, goto err. */
#define TRY_IOCTL(fd, req, arg)                \
	do {                                   \
		if (ioctl(fd, req, arg) < 0) { \
			rc = -errno;           \
			what = #req;           \
			goto err;              \
		}                              \
	} while (0)

uint32_t x86_xsave_size(struct vm *vm)
{
	int n = kvm_check_cap(&vm->kvm, KVM_CAP_XSAVE2);

	return n > (int)sizeof(struct kvm_xsave) ? (uint32_t)n :
						   sizeof(struct kvm_xsave);
}

static int get_msrs(struct vcpu *vcpu, struct x86_vcpu_state *st)
{
	struct vm *vm = vcpu->vm;
	struct kvm_msrs *m;
	uint32_t i;
	int r;

	m = calloc(1, sizeof(*m) + vm->nr_save_msrs * sizeof(m->entries[0]));
	if (!m)
		return -ENOMEM;
	m->nmsrs = vm->nr_save_msrs;
	for (i = 0; i < m->nmsrs; i++)
		m->entries[i].index = vm->save_msrs[i];
	r = ioctl(vcpu->fd, KVM_GET_MSRS, m);
	if (r < 0 || (uint32_t)r != m->nmsrs) {
		log_err("vCPU %u: cannot read MSR 0x%x", vcpu->index,
			r >= 0 ? m->entries[r].index : 0);
		free(m);
		return r < 0 ? -errno : -EIO;
	}
	st->msrs = malloc(m->nmsrs * sizeof(m->entries[0]) + 1);
	if (!st->msrs) {
		free(m);
		return -ENOMEM;
	}
	memcpy(st->msrs, m->entries, m->nmsrs * sizeof(m->entries[0]));
	st->nmsrs = m->nmsrs;
	free(m);
	return 0;
}

static int get_xsave(struct vcpu *vcpu, struct x86_vcpu_state *st)
{
	uint32_t size = x86_xsave_size(vcpu->vm);
	unsigned long req = size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 :
							      KVM_GET_XSAVE;

	st->xsave = calloc(1, size);
	if (!st->xsave)
		return -ENOMEM;
	st->xsave_size = size;
	return ioctl(vcpu->fd, req, st->xsave) < 0 ? -errno : 0;
}

int x86_vcpu_state_get(struct vcpu *vcpu, struct x86_vcpu_state *st)
{
	const char *what = "state";
	int fd = vcpu->fd, rc;

	memset(st, 0, sizeof(*st));
	TRY_IOCTL(fd, KVM_GET_REGS, &st->regs);
	TRY_IOCTL(fd, KVM_GET_SREGS, &st->sregs);
	TRY_IOCTL(fd, KVM_GET_XCRS, &st->xcrs);
	TRY_IOCTL(fd, KVM_GET_LAPIC, &st->lapic);
	TRY_IOCTL(fd, KVM_GET_VCPU_EVENTS, &st->events);
	TRY_IOCTL(fd, KVM_GET_MP_STATE, &st->mp_state);
	TRY_IOCTL(fd, KVM_GET_DEBUGREGS, &st->dregs);
	what = "XSAVE";
	rc = get_xsave(vcpu, st);
	if (rc)
		goto err;
	what = "MSRs";
	rc = get_msrs(vcpu, st);
	if (rc)
		goto err;
	return 0;
err:
	log_err("vCPU %u: cannot read %s: %s", vcpu->index, what,
		strerror(-rc));
	x86_vcpu_state_free(st);
	return rc;
}

void x86_vcpu_state_free(struct x86_vcpu_state *st)
{
	free(st->xsave);
	st->xsave = NULL;
	free(st->msrs);
	st->msrs = NULL;
}

static int set_xsave(struct vcpu *vcpu, const struct x86_vcpu_state *st)
{
	uint32_t size = x86_xsave_size(vcpu->vm);
	uint8_t *buf;
	int rc = 0;

	buf = calloc(1, size);
	if (!buf)
		return -ENOMEM;
	/* Zero-extend a smaller area; a larger one must end in zeros. */
	memcpy(buf, st->xsave, MIN(size, st->xsave_size));
	for (uint32_t i = size; i < st->xsave_size; i++)
		if (st->xsave[i])
			rc = -EOPNOTSUPP;
	if (!rc && ioctl(vcpu->fd, KVM_SET_XSAVE, buf) < 0)
		rc = -errno;
	free(buf);
	return rc;
}

/* KVM_SET_MSRS stops at the first MSR it refuses: fail names it. */
static int set_msrs(struct vcpu *vcpu, const struct x86_vcpu_state *st,
		    struct x86_state_error *fail)
{
	struct kvm_msrs *m;
	int r, rc = 0;

	m = calloc(1, sizeof(*m) + st->nmsrs * sizeof(m->entries[0]));
	if (!m)
		return -ENOMEM;
	m->nmsrs = st->nmsrs;
	memcpy(m->entries, st->msrs, st->nmsrs * sizeof(m->entries[0]));
	r = ioctl(vcpu->fd, KVM_SET_MSRS, m);
	if (r < 0 || (uint32_t)r != m->nmsrs) {
		rc = r < 0 ? -errno : -EINVAL;
		fail->have_index = r >= 0;
		fail->index = r >= 0 ? m->entries[r].index : 0;
		fail->value = r >= 0 ? m->entries[r].data : 0;
	}
	free(m);
	return rc;
}

/* Set one part; on failure record which in fail. */
#define SET_PART(p, call)         \
	do {                      \
		fail->part = (p); \
		rc = (call);      \
		if (rc)           \
			goto err; \
	} while (0)

static int set_ioctl(int fd, unsigned long req, const void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

int x86_vcpu_state_set(struct vcpu *vcpu, const struct x86_vcpu_state *st,
		       uint64_t tsc, struct x86_state_error *fail)
{
	struct kvm_vcpu_events ev = st->events;
	int fd = vcpu->fd, rc;

	memset(fail, 0, sizeof(*fail));
	SET_PART(X86_STATE_REGS, set_ioctl(fd, KVM_SET_REGS, &st->regs));
	SET_PART(X86_STATE_SREGS, set_ioctl(fd, KVM_SET_SREGS, &st->sregs));
	SET_PART(X86_STATE_XSAVE, set_xsave(vcpu, st));
	SET_PART(X86_STATE_XCRS, set_ioctl(fd, KVM_SET_XCRS, &st->xcrs));
	SET_PART(X86_STATE_DEBUGREGS,
		 set_ioctl(fd, KVM_SET_DEBUGREGS, &st->dregs));
	SET_PART(X86_STATE_LAPIC, set_ioctl(fd, KVM_SET_LAPIC, &st->lapic));
	SET_PART(X86_STATE_TSC, x86_tsc_set_one(vcpu, tsc));
	SET_PART(X86_STATE_MSRS, set_msrs(vcpu, st, fail));
	SET_PART(X86_STATE_MP_STATE,
		 set_ioctl(fd, KVM_SET_MP_STATE, &st->mp_state));
	/* Tell KVM which optional event fields are meaningful. */
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING |
		    KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	SET_PART(X86_STATE_EVENTS, set_ioctl(fd, KVM_SET_VCPU_EVENTS, &ev));
	return 0;
err:
	fail->rc = rc;
	return rc;
}

int x86_vm_state_get(struct vm *vm, struct x86_vm_state *st)
{
	const char *what = "state";
	unsigned int i;
	int rc;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < 3; i++) {
		st->chip[i].chip_id = i;
		TRY_IOCTL(vm->fd, KVM_GET_IRQCHIP, &st->chip[i]);
	}
	TRY_IOCTL(vm->fd, KVM_GET_PIT2, &st->pit);
	return 0;
err:
	log_err("cannot read VM %s: %s", what, strerror(-rc));
	return rc;
}

int x86_vm_state_set(struct vm *vm, const struct x86_vm_state *st,
		     struct x86_state_error *fail)
{
	unsigned int i;
	int rc;

	memset(fail, 0, sizeof(*fail));
	fail->have_index = true;
	for (i = 0; i < 3; i++) {
		fail->index = i;
		SET_PART(X86_STATE_IRQCHIP,
			 set_ioctl(vm->fd, KVM_SET_IRQCHIP, &st->chip[i]));
	}
	fail->have_index = false;
	SET_PART(X86_STATE_PIT, set_ioctl(vm->fd, KVM_SET_PIT2, &st->pit));
	return 0;
err:
	fail->rc = rc;
	return rc;
}
