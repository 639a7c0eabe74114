/* vprobe.elf: what ring 0 hands ring 3 (fill=MIB: the pages to touch). */
#ifndef VPROBE_H
#define VPROBE_H

#include "kernel.h"

#define VPROBE_EXTENTS 16

struct vprobe_fill {
	struct extent ext[VPROBE_EXTENTS];
	unsigned int nr;
};

extern struct vprobe_fill vprobe_fill;

#endif
