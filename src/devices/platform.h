/*
 * The small fixed devices of the godwit x86 platform: the debug-exit port
 * (0xf4, as QEMU's isa-debug-exit: the value written becomes the exit
 * status), ACPI hardware-reduced sleep control and reset registers
 * (what the FADT points at), and the i8042 reset line (port 0x64, 0xfe)
 * that Linux falls back to. They have no state worth saving.
 */
#ifndef GODWIT_DEVICES_PLATFORM_H
#define GODWIT_DEVICES_PLATFORM_H

#include "common/compiler.h"

struct vm;

int platform_attach(struct vm *vm) __must_check;

#endif
