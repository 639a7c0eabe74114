/*
 * Guest notifications that bypass user space: KVM_IOEVENTFD turns a
 * guest's MMIO write (a virtqueue kick) into an eventfd signal inside
 * KVM, and KVM_IRQFD turns an eventfd write into an interrupt, with a
 * resample eventfd for level-triggered lines (see irqline.h). A device's
 * I/O thread waits on the first kind and writes the second, so queue
 * work never runs on, or stops, a vCPU thread.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/irqline.h"
#include "vmm/vm.h"

int vm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned int len,
		 uint64_t datamatch, int fd, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = gpa,
		.len = len,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if ((len != 1 && len != 2 && len != 4 && len != 8) || fd < 0)
		return -EINVAL;
	return ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static int irqfd_ioctl(struct irq_line *l, uint32_t flags)
{
	struct kvm_irqfd f = {
		.fd = (uint32_t)l->irqfd,
		.gsi = l->gsi,
		.flags = flags,
		.resamplefd = (uint32_t)l->resample_fd,
	};

	return ioctl(l->vm->fd, KVM_IRQFD, &f) < 0 ? -errno : 0;
}

int irqline_init(struct irq_line *l, struct vm *vm, unsigned int gsi)
{
	int rc;

	*l = (struct irq_line){
		.vm = vm, .gsi = gsi, .irqfd = -1, .resample_fd = -1
	};
	l->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->irqfd < 0 || l->resample_fd < 0) {
		rc = -errno;
		irqline_destroy(l);
		return rc;
	}
	if (!vm)
		return 0;
	rc = irqfd_ioctl(l, KVM_IRQFD_FLAG_RESAMPLE);
	if (rc) {
		log_err("GSI %u: KVM_IRQFD with resampling (Linux 3.13 and later): %s",
			gsi, strerror(-rc));
		irqline_destroy(l);
		return rc;
	}
	l->kvm_irqfd = true;
	return 0;
}

void irqline_destroy(struct irq_line *l)
{
	/* A closed VM fd took the irqfd with it. */
	if (l->kvm_irqfd && l->vm->fd >= 0 &&
	    irqfd_ioctl(l, KVM_IRQFD_FLAG_DEASSIGN))
		log_debug("GSI %u: cannot remove the irqfd", l->gsi);
	l->kvm_irqfd = false;
	if (l->irqfd >= 0)
		close(l->irqfd);
	if (l->resample_fd >= 0)
		close(l->resample_fd);
	l->irqfd = l->resample_fd = -1;
}

void irqline_set(struct irq_line *l, int level)
{
	uint64_t one = 1;

	/* An eventfd counter cannot overflow at one write per event. */
	if (level && l->irqfd >= 0 && write(l->irqfd, &one, sizeof(one)) < 0)
		log_debug("GSI %u: irqfd write: %s", l->gsi, strerror(errno));
}

void irqline_resampled(struct irq_line *l, bool pending)
{
	uint64_t n;

	if (l->resample_fd < 0)
		return;
	if (read(l->resample_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("GSI %u: resample read: %s", l->gsi, strerror(errno));
	if (pending)
		irqline_set(l, 1);
}
