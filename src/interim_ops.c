/* INTERIM (branch lead only, replaced by the devices' own ops at merge). */
#include <stdlib.h>
#include <unistd.h>
#include "kvmrun/devices.h"
#include "kvmrun/pci.h"
static void d_serial(void *p) { struct serial8250 *s = p; if (s->out_fd > 2) close(s->out_fd); serial8250_destroy(s); free(s); }
static void d_i8042(void *p) { i8042_destroy(p); free(p); }
static void d_free(void *p) { free(p); }
static void d_pm(void *p) { acpi_pm_destroy(p); free(p); }
static void d_rtc(void *p) { rtc_cmos_destroy(p); free(p); }
static void d_pci(void *p) { pci_bus_destroy(p); free(p); }
static int pci_describe(void *p, struct machine_desc *m) { (void)p; m->pci_host = true; return 0; }
const struct vm_device_ops serial8250_device_ops = { .kind = "serial8250", .state_version = 1, .destroy = d_serial };
const struct vm_device_ops i8042_device_ops = { .kind = "i8042", .state_version = 1, .destroy = d_i8042 };
const struct vm_device_ops debug_exit_device_ops = { .kind = "debug-exit", .state_version = 1, .destroy = d_free };
const struct vm_device_ops post_port_device_ops = { .kind = "post-port", .state_version = 1, .destroy = d_free };
const struct vm_device_ops acpi_pm_device_ops = { .kind = "acpi-pm", .state_version = 1, .destroy = d_pm };
const struct vm_device_ops rtc_cmos_device_ops = { .kind = "rtc-cmos", .state_version = 1, .destroy = d_rtc };
const struct vm_device_ops pci_host_device_ops = { .kind = "pci-host", .state_version = 1, .describe = pci_describe, .destroy = d_pci };
