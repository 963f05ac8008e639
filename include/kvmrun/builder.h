/* The machine builder (src/builder.c): the devices, then what the guest is told, then the kernel. */
#ifndef KVMRUN_BUILDER_H
#define KVMRUN_BUILDER_H

#include "kvmrun/device.h"

struct vm;
struct boot_entry;

/* Creates every device the configuration asks for into vm->devices (threads not started). */
int builder_create_devices(struct vm *vm);
/* Gathers the machine description from the device list. */
int builder_describe(struct vm *vm, struct machine_desc *m);
/*
 * The whole machine on a created VM: devices, their description, the kernel
 * and boot data (ACPI and command line derived from the devices), then the
 * vCPUs.  0 or -errno after one logged line.
 */
int builder_build(struct vm *vm);

#endif
