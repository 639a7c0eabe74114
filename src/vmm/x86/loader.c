/*
 * Boot a fresh VM: build the ACPI tables (which the kernel finds through
 * hvm_start_info or boot_params), load the kernel by its format, and set
 * the boot vCPU's registers. Application processors stay in KVM's
 * wait-for-SIPI state until the guest starts them.
 */
#include "vmm/x86/loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/x86/acpi.h"
#include "vmm/x86/bzimage.h"
#include "vmm/x86/cpu.h"
#include "vmm/x86/pvh.h"

#define KERNEL_MAX_BYTES (512ULL * MIB)

static int read_input(const char *what, const char *path, uint64_t max,
		      void **buf, size_t *len)
{
	int rc = file_read_all(path, max, buf, len);

	if (rc == -EFBIG)
		log_err("%s %s: larger than %llu MiB", what, path,
			(unsigned long long)(max >> 20));
	else if (rc)
		log_err("%s %s: %s", what, path, strerror(-rc));
	return rc;
}

static int load_pvh(struct vm *vm, const struct boot_config *cfg, const void *k,
		    size_t klen, const void *initrd, size_t ilen, uint64_t rsdp,
		    struct boot_entry *entry)
{
	struct pvh_image img;
	char why[256];
	int rc;

	rc = pvh_elf_load(&vm->mem, k, klen, &img, why, sizeof(why));
	if (!rc)
		rc = pvh_setup(&vm->mem, &img, cfg->cmdline, initrd, ilen, rsdp,
			       entry, why, sizeof(why));
	if (rc)
		log_err("kernel %s: %s", cfg->kernel, why);
	return rc;
}

/* The tables describe the vCPUs and the virtio-mmio windows devices made. */
static void boot_acpi_config(const struct vm *vm, struct acpi_config *acpi)
{
	unsigned int i;

	*acpi = (struct acpi_config){ .nr_vcpus = vm->nr_vcpus };
	acpi->nr_virtio_mmio = MIN(vm->nr_virtio_mmio, ACPI_MAX_VIRTIO_MMIO);
	for (i = 0; i < acpi->nr_virtio_mmio; i++)
		acpi->virtio_mmio[i] = (struct acpi_virtio_mmio){
			.base = vm->virtio_mmio[i].base,
			.size = vm->virtio_mmio[i].size,
			.gsi = vm->virtio_mmio[i].gsi,
		};
}

int boot_load(struct vm *vm, const struct boot_config *cfg)
{
	struct acpi_config acpi;
	struct boot_entry entry;
	void *kernel = NULL, *initrd = NULL;
	size_t klen = 0, ilen = 0;
	uint64_t rsdp;
	int rc;

	rc = read_input("kernel", cfg->kernel, KERNEL_MAX_BYTES, &kernel,
			&klen);
	if (rc)
		goto out;
	if (cfg->initrd) {
		rc = read_input("initrd", cfg->initrd, vm->mem.size, &initrd,
				&ilen);
		if (rc)
			goto out;
	}
	boot_acpi_config(vm, &acpi);
	rc = acpi_build(&vm->mem, &acpi, &rsdp);
	if (rc) {
		log_err("cannot build ACPI tables: %s", strerror(-rc));
		goto out;
	}
	if (pvh_elf_probe(kernel, klen)) {
		rc = load_pvh(vm, cfg, kernel, klen, initrd, ilen, rsdp,
			      &entry);
	} else if (bzimage_probe(kernel, klen)) {
		/* bzimage_load() names the problem in its own log line. */
		rc = bzimage_load(&vm->mem, kernel, klen, cfg->cmdline, initrd,
				  ilen, rsdp, &entry);
	} else {
		log_err("kernel %s: neither an ELF file nor a bzImage",
			cfg->kernel);
		rc = -ENOEXEC;
	}
	if (rc)
		goto out;
	rc = x86_vcpu_set_boot(&vm->vcpus[0], &entry);
	if (rc)
		log_err("cannot set boot registers: %s", strerror(-rc));
out:
	free(kernel);
	free(initrd);
	return rc;
}
