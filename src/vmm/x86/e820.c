/*
 * Guest e820 memory map, derived from the RAM regions of struct guest_mem
 * and the fixed holes of layout.h. Pure computation: no KVM, no writes into
 * guest RAM (the loaders place the table where their protocol wants it).
 */
#include "vmm/x86/e820.h"

#include <errno.h>

#include "vmm/x86/layout.h"

struct e820_builder {
	struct e820_entry *table;
	unsigned int max;
	unsigned int nr;
};

static int e820_add(struct e820_builder *b, uint64_t addr, uint64_t size,
		    uint32_t type)
{
	if (b->nr == b->max)
		return -ENOSPC;
	b->table[b->nr++] = (struct e820_entry){
		.addr = addr,
		.size = size,
		.type = type,
	};
	return 0;
}

/*
 * mem_plan() puts low RAM at GPA 0 and any rest at 4 GiB; anything else
 * would make the fixed map below lie about where RAM is.
 */
static bool e820_layout_is_known(const struct guest_mem *mem)
{
	const struct mem_region *low = &mem->regions[0];
	const struct mem_region *high = &mem->regions[1];

	if (mem->nr_regions < 1 || mem->nr_regions > 2)
		return false;
	if (low->gpa != 0 || low->size <= LAYOUT_HIGH_MEM ||
	    low->size > LAYOUT_MMIO_HOLE)
		return false;
	return mem->nr_regions == 1 ||
	       (high->gpa == LAYOUT_MMIO_HOLE_END && high->size > 0);
}

int e820_build(const struct guest_mem *mem, struct e820_entry *table,
	       unsigned int max, unsigned int *nr_out)
{
	struct e820_builder b = { .table = table, .max = max };
	const struct mem_region *low = &mem->regions[0];
	int rc;

	*nr_out = 0;
	if (!e820_layout_is_known(mem))
		return -EINVAL;
	rc = e820_add(&b, 0, LAYOUT_EBDA, E820_RAM);
	if (!rc)
		rc = e820_add(&b, LAYOUT_EBDA, LAYOUT_HIGH_MEM - LAYOUT_EBDA,
			      E820_RESERVED);
	if (!rc)
		rc = e820_add(&b, LAYOUT_HIGH_MEM, low->size - LAYOUT_HIGH_MEM,
			      E820_RAM);
	if (!rc && mem->nr_regions == 2)
		rc = e820_add(&b, mem->regions[1].gpa, mem->regions[1].size,
			      E820_RAM);
	if (rc)
		return rc;
	*nr_out = b.nr;
	return 0;
}
