/* Saving, collecting and applying machine state records. */
#include "migration/vmstate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/log.h"
#include "common/why.h"
#include "migration/recio.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/* Records every vCPU must have, as bits of (1 << type). */
#define VCPU_RECORDS                                           \
	((1u << REC_VCPU_REGS) | (1u << REC_VCPU_SREGS) |      \
	 (1u << REC_VCPU_XSAVE) | (1u << REC_VCPU_XCRS) |      \
	 (1u << REC_VCPU_MSRS) | (1u << REC_VCPU_LAPIC) |      \
	 (1u << REC_VCPU_EVENTS) | (1u << REC_VCPU_MP_STATE) | \
	 (1u << REC_VCPU_DEBUGREGS))

static int put_vcpu(struct stream *s, uint32_t type, uint32_t vcpu,
		    uint32_t arg, const void *data, size_t len)
{
	struct rec_vcpu_hdr h = { .vcpu = vcpu, .arg = arg };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, len } };

	return rec_write(s, type, iov, 2);
}

static int save_msrs(struct stream *s, unsigned int i,
		     const struct x86_vcpu_state *st)
{
	struct rec_msr *m = calloc(st->nmsrs ? st->nmsrs : 1, sizeof(*m));
	uint32_t k;
	int rc;

	if (!m)
		return stream_set_error(s, -ENOMEM);
	for (k = 0; k < st->nmsrs; k++)
		m[k] = (struct rec_msr){ .index = st->msrs[k].index,
					 .value = st->msrs[k].data };
	rc = put_vcpu(s, REC_VCPU_MSRS, i, st->nmsrs, m,
		      st->nmsrs * sizeof(*m));
	free(m);
	return rc;
}

static int save_vcpu(struct stream *s, struct vcpu *vcpu)
{
	struct x86_vcpu_state st;
	unsigned int i = vcpu->index;
	int rc;

	rc = x86_vcpu_state_get(vcpu, &st);
	if (rc)
		return stream_set_error(s, rc);
	put_vcpu(s, REC_VCPU_REGS, i, 0, &st.regs, sizeof(st.regs));
	put_vcpu(s, REC_VCPU_SREGS, i, 0, &st.sregs, sizeof(st.sregs));
	put_vcpu(s, REC_VCPU_XSAVE, i, st.xsave_size, st.xsave, st.xsave_size);
	put_vcpu(s, REC_VCPU_XCRS, i, 0, &st.xcrs, sizeof(st.xcrs));
	save_msrs(s, i, &st);
	put_vcpu(s, REC_VCPU_LAPIC, i, 0, &st.lapic, sizeof(st.lapic));
	put_vcpu(s, REC_VCPU_EVENTS, i, 0, &st.events, sizeof(st.events));
	put_vcpu(s, REC_VCPU_MP_STATE, i, st.mp_state.mp_state, NULL, 0);
	put_vcpu(s, REC_VCPU_DEBUGREGS, i, 0, &st.dregs, sizeof(st.dregs));
	x86_vcpu_state_free(&st);
	return s->error;
}

static int save_machine(struct vm *vm, struct stream *s)
{
	struct rec_clock clock = {
		.guest_tsc = vm->pause.tsc_guest,
		.kvmclock_ns = vm->pause.kvmclock_ns,
	};
	struct x86_vm_state st;
	struct rec_irqchip chip;
	int khz, rc;
	unsigned int i;

	khz = ioctl(vm->fd, KVM_GET_TSC_KHZ, 0);
	clock.tsc_khz = khz > 0 ? khz : 0;
	rec_write_buf(s, REC_CLOCK, &clock, sizeof(clock));
	rc = x86_vm_state_get(vm, &st);
	if (rc)
		return stream_set_error(s, rc);
	for (i = 0; i < IRQCHIP_COUNT; i++) {
		chip = (struct rec_irqchip){ .chip_id = i };
		memcpy(chip.chip, &st.chip[i].chip, sizeof(chip.chip));
		rec_write_buf(s, REC_IRQCHIP, &chip, sizeof(chip));
	}
	return rec_write_buf(s, REC_PIT, &st.pit, sizeof(st.pit));
}

/* One DEVICE record per device, in list order, through its descriptor. */
int vmstate_save_devices(struct dev_registry *devs, struct stream *s)
{
	uint8_t state[DEVICE_STATE_MAX];
	struct rec_device d;
	unsigned int i;

	for (i = 0; i < devs->nr; i++) {
		struct dev_entry *e = &devs->devs[i];
		const struct dev_type *t = e->type;
		struct iovec iov[2] = { { &d, sizeof(d) },
					{ state, t->state_size } };

		memset(&d, 0, sizeof(d));
		memcpy(d.id, e->id, DEVICE_ID_LEN);
		d.version = t->state_version;
		d.length = t->state_size;
		memset(state, 0, t->state_size);
		t->save(e->dev, state);
		rec_write(s, REC_DEVICE, iov, 2);
	}
	return s->error;
}

int vmstate_save(struct vm *vm, struct dev_registry *devs, struct stream *s)
{
	unsigned int i;

	if (!vm->pause.tsc_frozen)
		return stream_set_error(s, -EINVAL); /* VM not paused */
	save_machine(vm, s);
	for (i = 0; i < vm->nr_vcpus && !s->error; i++)
		save_vcpu(s, &vm->vcpus[i]);
	return vmstate_save_devices(devs, s);
}

int vmstate_rx_init(struct vmstate_rx *rx, unsigned int nr_vcpus)
{
	memset(rx, 0, sizeof(*rx));
	rx->nr_vcpus = nr_vcpus;
	rx->vcpus = calloc(nr_vcpus, sizeof(*rx->vcpus));
	rx->have = calloc(nr_vcpus, sizeof(*rx->have));
	rx->vcpu_off =
		calloc(nr_vcpus * VMSTATE_VCPU_TYPES, sizeof(*rx->vcpu_off));
	if (!rx->vcpus || !rx->have || !rx->vcpu_off) {
		vmstate_rx_free(rx);
		return -ENOMEM;
	}
	return 0;
}

void vmstate_rx_free(struct vmstate_rx *rx)
{
	unsigned int i;

	for (i = 0; rx->vcpus && i < rx->nr_vcpus; i++)
		x86_vcpu_state_free(&rx->vcpus[i]);
	free(rx->vcpus);
	free(rx->have);
	free(rx->vcpu_off);
	rx->vcpus = NULL;
	rx->have = NULL;
	rx->vcpu_off = NULL;
	for (i = 0; i < DEVREG_MAX; i++) {
		free(rx->dev_state[i]);
		rx->dev_state[i] = NULL;
	}
}

static int rx_msrs(struct x86_vcpu_state *st, const struct rec_vcpu_msrs *m)
{
	uint32_t k;

	st->msrs = calloc(m->h.arg, sizeof(*st->msrs));
	if (!st->msrs)
		return -ENOMEM;
	st->nmsrs = m->h.arg;
	for (k = 0; k < m->h.arg; k++) {
		st->msrs[k].index = m->msr[k].index;
		st->msrs[k].data = m->msr[k].value;
	}
	return 0;
}

static int rx_vcpu(struct vmstate_rx *rx, uint32_t type, const void *body,
		   uint64_t offset, char *why, size_t whylen)
{
	const struct rec_vcpu_hdr *h = body;
	const uint8_t *data = (const uint8_t *)body + sizeof(*h);
	struct x86_vcpu_state *st = &rx->vcpus[h->vcpu];

	if (rx->have[h->vcpu] & (1u << type))
		return why_set(why, whylen, -EINVAL,
			       "second %s record for vCPU %u",
			       rec_type_name(type), h->vcpu);
	rx->have[h->vcpu] |= 1u << type;
	rx->vcpu_off[h->vcpu * VMSTATE_VCPU_TYPES + type] = offset;
	switch (type) {
	case REC_VCPU_REGS:
		memcpy(&st->regs, data, sizeof(st->regs));
		return 0;
	case REC_VCPU_SREGS:
		memcpy(&st->sregs, data, sizeof(st->sregs));
		return 0;
	case REC_VCPU_XSAVE:
		st->xsave = malloc(h->arg);
		if (!st->xsave)
			return -ENOMEM;
		memcpy(st->xsave, data, h->arg);
		st->xsave_size = h->arg;
		return 0;
	case REC_VCPU_XCRS:
		memcpy(&st->xcrs, data, sizeof(st->xcrs));
		return 0;
	case REC_VCPU_MSRS:
		return rx_msrs(st, body);
	case REC_VCPU_LAPIC:
		memcpy(&st->lapic, data, sizeof(st->lapic));
		return 0;
	case REC_VCPU_EVENTS:
		memcpy(&st->events, data, sizeof(st->events));
		return 0;
	case REC_VCPU_MP_STATE:
		st->mp_state.mp_state = h->arg;
		return 0;
	default: /* REC_VCPU_DEBUGREGS */
		memcpy(&st->dregs, data, sizeof(st->dregs));
		return 0;
	}
}

static int rx_device(struct vmstate_rx *rx, struct dev_registry *devs,
		     const struct rec_device *d, uint64_t offset, char *why,
		     size_t whylen)
{
	struct dev_entry *e = devreg_find(devs, d->id);
	const struct dev_type *t;
	struct dev_env env;
	unsigned int i;

	if (!e)
		return why_set(why, whylen, -EINVAL,
			       "device '%s' does not exist in this VM", d->id);
	i = e - devs->devs;
	t = e->type;
	if (rx->have_dev[i])
		return why_set(why, whylen, -EINVAL,
			       "second DEVICE record for '%s'", d->id);
	if (d->version != t->state_version || d->length != t->state_size)
		return why_set(
			why, whylen, -EINVAL,
			"device '%s' state version %u (%u bytes) is not supported (expected version %u, %u bytes)",
			d->id, d->version, d->length, t->state_version,
			t->state_size);
	env = devreg_env(devs, e);
	if (t->check(&env, d->state, why, whylen)) {
		char detail[200];

		snprintf(detail, sizeof(detail), "%s", why);
		return why_set(why, whylen, -EINVAL, "device '%s': %s", d->id,
			       detail);
	}
	rx->dev_state[i] = malloc(d->length);
	if (!rx->dev_state[i])
		return -ENOMEM;
	rx->dev_off[i] = offset;
	memcpy(rx->dev_state[i], d->state, d->length);
	rx->have_dev[i] = true;
	return 0;
}

static int rx_machine(struct vmstate_rx *rx, uint32_t type, const void *body,
		      uint64_t offset, char *why, size_t whylen)
{
	const struct rec_irqchip *c = body;

	switch (type) {
	case REC_IRQCHIP:
		if (rx->have_chips & (1u << c->chip_id))
			return why_set(why, whylen, -EINVAL,
				       "second IRQCHIP record for chip %u",
				       c->chip_id);
		rx->have_chips |= 1u << c->chip_id;
		rx->chip_off[c->chip_id] = offset;
		rx->vm.chip[c->chip_id].chip_id = c->chip_id;
		memcpy(&rx->vm.chip[c->chip_id].chip, c->chip, sizeof(c->chip));
		return 0;
	case REC_PIT:
		if (rx->have_pit)
			return why_set(why, whylen, -EINVAL,
				       "second PIT record");
		rx->have_pit = true;
		rx->pit_off = offset;
		memcpy(&rx->vm.pit, body, sizeof(rx->vm.pit));
		return 0;
	default: /* REC_CLOCK */
		if (rx->have_clock)
			return why_set(why, whylen, -EINVAL,
				       "second CLOCK record");
		rx->have_clock = true;
		rx->clock_off = offset;
		memcpy(&rx->clock, body, sizeof(rx->clock));
		return 0;
	}
}

int vmstate_rx_add(struct vmstate_rx *rx, struct dev_registry *devs,
		   uint32_t type, const void *body, uint32_t len,
		   uint64_t offset, char *why, size_t whylen)
{
	switch (type) {
	case REC_IRQCHIP:
	case REC_PIT:
	case REC_CLOCK:
		return rx_machine(rx, type, body, offset, why, whylen);
	case REC_DEVICE:
		return rx_device(rx, devs, body, offset, why, whylen);
	default:
		return rx_vcpu(rx, type, body, offset, why, whylen);
	}
}

int vmstate_rx_complete(const struct vmstate_rx *rx,
			const struct dev_registry *devs, char *why,
			size_t whylen)
{
	unsigned int i;
	uint32_t missing;

	for (i = 0; i < rx->nr_vcpus; i++) {
		missing = VCPU_RECORDS & ~rx->have[i];
		if (missing)
			return why_set(why, whylen, -EINVAL,
				       "no %s record for vCPU %u",
				       rec_type_name(__builtin_ctz(missing)),
				       i);
	}
	if (rx->have_chips != (1u << IRQCHIP_COUNT) - 1)
		return why_set(why, whylen, -EINVAL,
			       "no IRQCHIP record for chip %d",
			       __builtin_ctz(~rx->have_chips));
	if (!rx->have_pit)
		return why_set(why, whylen, -EINVAL, "no PIT record");
	if (!rx->have_clock)
		return why_set(why, whylen, -EINVAL, "no CLOCK record");
	for (i = 0; i < devs->nr; i++)
		if (!rx->have_dev[i] && !devs->devs[i].may_be_absent)
			return why_set(why, whylen, -EINVAL,
				       "no DEVICE record for '%s'",
				       devs->devs[i].id);
	return 0;
}

/* The record that carried the part of the state KVM refused. */
static uint32_t part_record(enum x86_state_part part)
{
	static const uint32_t types[] = {
		[X86_STATE_REGS] = REC_VCPU_REGS,
		[X86_STATE_SREGS] = REC_VCPU_SREGS,
		[X86_STATE_XSAVE] = REC_VCPU_XSAVE,
		[X86_STATE_XCRS] = REC_VCPU_XCRS,
		[X86_STATE_DEBUGREGS] = REC_VCPU_DEBUGREGS,
		[X86_STATE_LAPIC] = REC_VCPU_LAPIC,
		[X86_STATE_TSC] = REC_CLOCK,
		[X86_STATE_MSRS] = REC_VCPU_MSRS,
		[X86_STATE_MP_STATE] = REC_VCPU_MP_STATE,
		[X86_STATE_EVENTS] = REC_VCPU_EVENTS,
		[X86_STATE_IRQCHIP] = REC_IRQCHIP,
		[X86_STATE_PIT] = REC_PIT,
	};

	return types[part];
}

/* One line for err: which record, which vCPU, what KVM said. */
static int vcpu_refused(const struct vmstate_rx *rx, unsigned int vcpu,
			const struct x86_state_error *f, struct rec_error *err)
{
	err->type = part_record(f->part);
	err->offset =
		err->type == REC_CLOCK ?
			rx->clock_off :
			rx->vcpu_off[vcpu * VMSTATE_VCPU_TYPES + err->type];
	if (f->part == X86_STATE_MSRS && f->have_index)
		snprintf(err->why, sizeof(err->why),
			 "vCPU %u: KVM refused MSR 0x%x = 0x%llx", vcpu,
			 f->index, (unsigned long long)f->value);
	else if (f->part == X86_STATE_XSAVE && f->rc == -EOPNOTSUPP)
		snprintf(
			err->why, sizeof(err->why),
			"vCPU %u: the XSAVE area holds state beyond this host's XSAVE size",
			vcpu);
	else
		snprintf(err->why, sizeof(err->why),
			 "vCPU %u: KVM refused the %s state: %s", vcpu,
			 f->part == X86_STATE_TSC ? "TSC" : "saved",
			 strerror(-f->rc));
	return f->rc;
}

static int vm_refused(const struct vmstate_rx *rx,
		      const struct x86_state_error *f, struct rec_error *err)
{
	err->type = part_record(f->part);
	err->offset = f->part == X86_STATE_IRQCHIP ? rx->chip_off[f->index] :
						     rx->pit_off;
	if (f->part == X86_STATE_IRQCHIP)
		snprintf(err->why, sizeof(err->why),
			 "chip %u: KVM refused the saved state: %s", f->index,
			 strerror(-f->rc));
	else
		snprintf(err->why, sizeof(err->why),
			 "KVM refused the saved state: %s", strerror(-f->rc));
	return f->rc;
}

int vmstate_apply_devices(struct vmstate_rx *rx, struct dev_registry *devs,
			  struct rec_error *err)
{
	unsigned int i;
	int rc;

	for (i = 0; i < devs->nr; i++) {
		struct dev_entry *e = &devs->devs[i];

		if (!rx->have_dev[i])
			continue; /* may_be_absent: keeps its initial state */
		rc = e->type->load(e->dev, rx->dev_state[i]);
		if (rc) {
			err->type = REC_DEVICE;
			err->offset = rx->dev_off[i];
			snprintf(
				err->why, sizeof(err->why),
				"device '%s': the device refused the saved state: %s",
				e->id, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int vmstate_rx_apply(struct vmstate_rx *rx, struct vm *vm,
		     struct dev_registry *devs, struct rec_error *err)
{
	struct x86_state_error f;
	unsigned int i;
	int rc;

	for (i = 0; i < vm->nr_vcpus; i++) {
		rc = x86_vcpu_state_set(&vm->vcpus[i], &rx->vcpus[i],
					rx->clock.guest_tsc, &f);
		if (rc)
			return vcpu_refused(rx, i, &f, err);
	}
	rc = x86_vm_state_set(vm, &rx->vm, &f);
	if (rc)
		return vm_refused(rx, &f, err);
	rc = vmstate_apply_devices(rx, devs, err);
	if (rc)
		return rc;
	/* vm_start() sets TSC and kvmclock from here just before running. */
	vm->pause.tsc_guest = rx->clock.guest_tsc;
	vm->pause.kvmclock_ns = rx->clock.kvmclock_ns;
	vm->pause.tsc_frozen = true;
	return 0;
}
