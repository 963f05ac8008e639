/*
 * The machine builder: from the validated configuration, every device of the
 * VM is created into vm->devices in the order of the machine table below,
 * with the platform resources it needs (ports, MMIO windows, IRQs, PCI
 * slots) allocated here and nowhere else.  What the guest is told about the
 * machine (ACPI tables, the kernel command line) is then derived from that
 * list through the devices' describe ops: nothing is predicted.
 *
 * Adding a device kind: its file under devices/ or virtio/ with a
 * vm_device_ops, one line in machine[] and an add function here that turns
 * the configuration into the device's plain parameters.
 */
#include <ctype.h>
#include <linux/virtio_ids.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmrun/boot.h"
#include "kvmrun/builder.h"
#include "kvmrun/devices.h"
#include "kvmrun/edu.h"
#include "kvmrun/host_file.h"
#include "kvmrun/ioapic.h"
#include "kvmrun/log.h"
#include "kvmrun/vfio_pci.h"
#include "kvmrun/virtio_devices.h"
#include "kvmrun/virtio_slot.h"
#include "kvmrun/vm.h"
#include "kvmrun/vtd.h"

/* Plugs a device into the list; on failure the list has already destroyed it. */
static int add(struct vm *vm, const struct vm_device_ops *ops, void *dev, const char *name)
{
	int r = device_list_add(&vm->devices, ops, dev, name);

	if (r)
		log_err("%s: %s", name, strerror(-r));
	return r;
}

static int add_pio(struct vm *vm, uint64_t base, uint64_t len, bus_io_fn fn, void *dev,
		   const char *name)
{
	int r = bus_register(&vm->pio, base, len, fn, dev, name);

	if (r)
		log_err("%s: ports 0x%llx-0x%llx: %s", name, (unsigned long long)base,
			(unsigned long long)(base + len - 1), strerror(-r));
	return r;
}

/* The VM's output on fd (owned when above stderr), set up on first use. */
static int output(struct vm *vm, unsigned which, int fd, const char *name, struct out_sink **out)
{
	struct vm_output *o = &vm->out[which];
	int r;

	if (!o->used) {
		r = out_sink_init(&o->sink, fd, SINK_CAPACITY, name);
		if (r) {
			if (fd > STDERR_FILENO)
				close(fd);
			log_err("%s output: %s", name, strerror(-r));
			return r;
		}
		o->fd = fd;
		o->used = true;
	}
	*out = &o->sink;
	return 0;
}

/* Where the UART writes: stdout, a file (or terminal, or FIFO with a reader), or nowhere. */
static int serial_output(struct vm *vm, struct out_sink **out)
{
	const struct vm_config *cfg = vm->cfg;
	struct stat st;
	int fd;

	*out = NULL;
	switch (cfg->serial) {
	case SERIAL_STDIO:
		return output(vm, VM_OUT_STDOUT, STDOUT_FILENO, "stdout", out);
	case SERIAL_FILE:
		/*
		 * A FIFO nobody reads fails (ENXIO) instead of blocking.  A restored
		 * or migrated guest goes on where its output left off: appended.
		 */
		fd = host_file_open(cfg->serial_path, O_WRONLY | O_CREAT |
				    (cfg->cmd == CMD_RESTORE || cfg->incoming ? O_APPEND : O_TRUNC), 0644,
				    HOST_FILE_REG | HOST_FILE_CHR | HOST_FILE_FIFO, &st);
		if (fd == EFTYPE_HOST) {
			log_err("--serial file:%s: is %s, not a file, terminal or FIFO",
				cfg->serial_path, host_file_type(st.st_mode));
			return -EINVAL;
		}
		if (fd == -ENXIO) {
			log_err("--serial file:%s: no process reads this FIFO", cfg->serial_path);
			return fd;
		}
		if (fd < 0) {
			log_err("--serial file:%s: %s", cfg->serial_path, strerror(-fd));
			return fd;
		}
		return output(vm, VM_OUT_SERIAL_FILE, fd, "serial file", out);
	case SERIAL_NONE:
		break;
	}
	return 0;
}

static struct irq_line isa_irq(struct vm *vm, unsigned gsi)
{
	return (struct irq_line){ vm->irq.ops->set_line, vm->irq.ctx, gsi };
}

/* ---- platform devices ---- */

/*
 * --irqchip split: the IOAPIC comes first, delivering through the KVM ops;
 * every device after it gets its front, whose lines are the IOAPIC's pins.
 */
static int add_ioapic(struct vm *vm, unsigned i, const char *name)
{
	struct ioapic *io = calloc(1, sizeof(*io));
	int r;

	(void)i;
	if (!io)
		return -ENOMEM;
	ioapic_init(io, vm->irq, vm->irq);
	r = add(vm, &ioapic_device_ops, io, name);
	if (r)
		return r;
	vm->ioapic = io;
	vm->irq = ioapic_front(io);
	r = bus_register(&vm->mmio, IOAPIC_BASE, IOAPIC_MMIO_LEN, ioapic_mmio, io, name);
	if (r)
		log_err("%s: MMIO at 0x%llx: %s", name, IOAPIC_BASE, strerror(-r));
	return r;
}

static unsigned nr_ioapics(const struct vm_config *cfg)
{
	return cfg->irqchip == IRQCHIP_SPLIT;
}

/* Plugs a platform device (NULL: allocation failed) into the list and its ports into the bus. */
static int add_on_ports(struct vm *vm, const struct vm_device_ops *ops, void *dev,
			const char *name, uint64_t base, uint64_t len, bus_io_fn io)
{
	int r;

	if (!dev)
		return -ENOMEM;
	r = add(vm, ops, dev, name);
	return r ? r : add_pio(vm, base, len, io, dev, name);
}

static int add_serial(struct vm *vm, unsigned i, const char *name)
{
	struct serial8250 *s;
	struct out_sink *out;
	int r;

	(void)i;
	r = serial_output(vm, &out);
	if (r)
		return r;
	s = calloc(1, sizeof(*s));
	if (s)
		serial8250_init(s, out, isa_irq(vm, COM1_IRQ), vm_console_rx_space, &vm->rx_efd);
	r = add_on_ports(vm, &serial8250_device_ops, s, name, COM1_BASE, SERIAL_NR_REGS,
			 serial8250_io);
	if (!r)
		vm->serial = s;
	return r;
}

static int add_i8042(struct vm *vm, unsigned i, const char *name)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	int r;

	(void)i;
	if (k)
		i8042_init(k, &vm->stop, isa_irq(vm, I8042_KBD_IRQ), isa_irq(vm, I8042_AUX_IRQ));
	r = add_on_ports(vm, &i8042_device_ops, k, name, I8042_DATA_PORT, 1, i8042_data_io);
	return r ? r : add_pio(vm, I8042_CMD_PORT, 1, i8042_cmd_io, k, name);
}

static int add_debug_exit(struct vm *vm, unsigned i, const char *name)
{
	struct debug_exit *d = calloc(1, sizeof(*d));

	(void)i;
	if (d)
		debug_exit_init(d, &vm->stop);
	return add_on_ports(vm, &debug_exit_device_ops, d, name, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN,
			    debug_exit_io);
}

static int add_post(struct vm *vm, unsigned i, const char *name)
{
	(void)i;
	return add_on_ports(vm, &post_port_device_ops, calloc(1, sizeof(struct post_port)), name,
			    POST_PORT, 1, ignore_io);
}

static int add_snapshot_port(struct vm *vm, unsigned i, const char *name)
{
	struct snapshot_port *p = calloc(1, sizeof(*p));

	(void)i;
	if (!p)
		return -ENOMEM;
	snapshot_port_init(p, vm->cfg->snapshot_dir ? vm_snapshot_requested : NULL, vm);
	vm->snapshot_port = p;
	return add_on_ports(vm, &snapshot_port_device_ops, p, name, SNAPSHOT_PORT, 1,
			    snapshot_port_io);
}

static int add_acpi_pm(struct vm *vm, unsigned i, const char *name)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int r;

	(void)i;
	if (pm) {
		acpi_pm_init(pm, &vm->stop);
		acpi_pm_set_sci(pm, isa_irq(vm, ACPI_SCI_IRQ));
		acpi_pm_set_sleep(pm, vm_sleep_requested, vm);
	}
	r = add_on_ports(vm, &acpi_pm_device_ops, pm, name, ACPI_PM_BASE, ACPI_PM_LEN, acpi_pm_io);
	if (!r)
		vm->acpi_pm = pm;
	return r;
}

static int add_rtc(struct vm *vm, unsigned i, const char *name)
{
	struct rtc_cmos *rtc = calloc(1, sizeof(*rtc));
	int r;

	(void)i;
	if (rtc) {
		rtc_cmos_init(rtc, NULL);
		rtc_cmos_connect(rtc, isa_irq(vm, RTC_IRQ), vm_rtc_changed, vm);
	}
	r = add_on_ports(vm, &rtc_cmos_device_ops, rtc, name, RTC_PORT, RTC_NR_PORTS, rtc_cmos_io);
	if (!r)
		vm->rtc = rtc;
	return r;
}

static int add_fw_cfg(struct vm *vm, unsigned i, const char *name)
{
	struct fw_cfg *c = calloc(1, sizeof(*c));

	(void)i;
	if (c)
		fw_cfg_init(c, (uint16_t)vm->cfg->cpus, vm->cfg->mem_size);
	return add_on_ports(vm, &fw_cfg_device_ops, c, name, FW_CFG_PORT, FW_CFG_NR_PORTS, fw_cfg_io);
}

static int add_pm_timer(struct vm *vm, unsigned i, const char *name)
{
	struct pm_timer *t = calloc(1, sizeof(*t));

	(void)i;
	if (t)
		pm_timer_init(t, NULL);
	return add_on_ports(vm, &pm_timer_device_ops, t, name, ACPI_PM_TMR, ACPI_PM_TMR_LEN,
			    pm_timer_io);
}

/*
 * pc-testdev's flush port: taking the page's access away and back makes the
 * kernel drop KVM's mapping of it, so the guest's next touch faults it in.
 * Another host thread touching that page in between would fault too; the
 * window is two system calls on a page the test guest owns.
 */
#define TESTDEV_PAGE	4096u	/* the x86 page the guest names */

static void flush_guest_page(void *opaque, uint64_t gpa)
{
	struct vm *vm = opaque;
	void *p = guest_mem_ptr(&vm->mem, gpa & ~(uint64_t)(TESTDEV_PAGE - 1), TESTDEV_PAGE);

	if (p && !mprotect(p, TESTDEV_PAGE, PROT_NONE))
		mprotect(p, TESTDEV_PAGE, PROT_READ | PROT_WRITE);
}

static int add_pc_testdev(struct vm *vm, unsigned i, const char *name)
{
	struct pc_testdev *d = calloc(1, sizeof(*d));
	struct irq_line irq[PC_TESTDEV_NR_IRQS];
	int r;

	(void)i;
	if (!d)
		return -ENOMEM;
	for (unsigned n = 0; n < PC_TESTDEV_NR_IRQS; n++)
		irq[n] = isa_irq(vm, n);
	pc_testdev_init(d, irq, flush_guest_page, vm);
	r = add_on_ports(vm, &pc_testdev_device_ops, d, name, PC_TESTDEV_PORT, 4,
			 pc_testdev_scratch_io);
	if (!r)
		r = add_pio(vm, PC_TESTDEV_FLUSH_PORT, 4, pc_testdev_flush_io, d, name);
	if (!r)
		r = add_pio(vm, PC_TESTDEV_BYTE_PORT, 4, pc_testdev_scratch_io, d, name);
	if (!r)
		r = add_pio(vm, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_NR_IRQS, pc_testdev_irq_io, d, name);
	if (!r)
		r = bus_register(&vm->mmio, PC_TESTDEV_MMIO, PC_TESTDEV_MMIO_LEN, pc_testdev_mmio, d,
				 name);
	return r;
}

static unsigned nr_pc_testdevs(const struct vm_config *cfg)
{
	return cfg->pc_testdev;
}

static int add_pci_testdev(struct vm *vm, unsigned i, const char *name)
{
	struct pci_testdev *d;
	int r;

	(void)i;
	if (!vm->pci) {
		log_err("--pci-testdev needs the PCI bus: drop --transport mmio");
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	pci_testdev_init(d);
	r = add(vm, &pci_testdev_device_ops, d, name);
	if (r)
		return r;
	r = pci_bus_add(vm->pci, &d->fn);
	return r < 0 ? r : 0;
}

static unsigned nr_pci_testdevs(const struct vm_config *cfg)
{
	return cfg->pci_testdev;
}

/*
 * The VT-d unit comes first: with interrupt remapping every device built
 * after it gets its MSI routes through the unit's wrapper of vm->irq.
 */
static int add_iommu(struct vm *vm, unsigned i, const char *name)
{
	struct vtd *v = calloc(1, sizeof(*v));
	int r;

	(void)i;
	if (!v)
		return -ENOMEM;
	vtd_init(v, &vm->mem, vm->irq, vm->cfg->iommu_ir != IOMMU_IR_OFF);
	v->dmar_intremap = vm->cfg->iommu_ir == IOMMU_IR_ON;
	r = add(vm, &vtd_device_ops, v, name);
	if (!r)
		r = bus_register(&vm->mmio, VTD_BASE, VTD_SIZE, vtd_mmio, v, name);
	if (r)
		return r;
	if (v->intremap)
		vm->irq = vtd_irq(v);
	log_info("%s: VT-d unit at 0x%llx, interrupt remapping %s", name, VTD_BASE,
		 vm->cfg->iommu_ir == IOMMU_IR_ON ? "on" :
		 vm->cfg->iommu_ir == IOMMU_IR_MSI ? "on (MSIs only)" : "off");
	return 0;
}

static unsigned nr_iommus(const struct vm_config *cfg)
{
	return cfg->iommu;
}

static int add_edu(struct vm *vm, unsigned i, const char *name)
{
	struct vm_device *io = device_list_find(&vm->devices, "iommu0");
	struct edu *d;
	int r;

	(void)i;
	if (!vm->pci) {
		log_err("--edu needs the PCI bus: drop --transport mmio");
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	r = edu_init(d, &vm->mem, io ? io->dev : NULL, vm->irq);
	if (r) {
		free(d);
		log_err("%s: %s", name, strerror(-r));
		return r;
	}
	r = add(vm, &edu_device_ops, d, name);
	if (r)
		return r;
	r = pci_bus_add(vm->pci, &d->fn);
	if (r >= 0)
		log_info("%s at PCI 00:%02x.0, BAR 0x%llx%s", name, (unsigned)r,
			 (unsigned long long)d->fn.bar_decoded[0], io ? ", DMA through VT-d" : "");
	return r < 0 ? r : 0;
}

static unsigned nr_edus(const struct vm_config *cfg)
{
	return cfg->edu;
}

/* The host bridge and its window: every VM with --transport pci has them, devices or not. */
static int add_pci_host(struct vm *vm, unsigned i, const char *name)
{
	struct pci_bus *bus = malloc(sizeof(*bus));
	int r;

	(void)i;
	if (!bus)
		return -ENOMEM;
	pci_bus_init(bus);
	pci_bus_set_window64(bus, pci_window64_base(&vm->mem), PCI_WINDOW64_SIZE);
	r = add(vm, &pci_host_device_ops, bus, name);
	if (r)
		return r;
	vm->pci = bus;
	r = add_pio(vm, PCI_CONFIG_ADDRESS, PCI_CONFIG_PORTS, pci_config_io, bus, name);
	if (!r)
		r = add_pio(vm, PCI_IO_WINDOW_BASE, PCI_IO_WINDOW_SIZE, pci_io_window_io, bus, name);
	if (!r)
		r = bus_register(&vm->mmio, PCI_WINDOW_BASE, PCI_WINDOW_SIZE, pci_window_io, bus,
				 "pci-window");
	if (!r)
		r = bus_register(&vm->mmio, bus->window64_base, bus->window64_size, pci_window64_io,
				 bus, "pci-window64");
	if (!r)
		r = bus_register(&vm->mmio, PCI_ECAM_BASE, PCI_ECAM_SIZE, pci_ecam_io, bus, "pci-ecam");
	if (!r)
		log_info("PCI windows 0x%llx-0x%llx and 0x%llx-0x%llx, ECAM at 0x%llx",
			 PCI_WINDOW_BASE, PCI_WINDOW_BASE + PCI_WINDOW_SIZE - 1,
			 (unsigned long long)bus->window64_base,
			 (unsigned long long)(bus->window64_base + bus->window64_size - 1),
			 PCI_ECAM_BASE);
	if (r)
		log_err("PCI host bridge: %s", strerror(-r));
	return r;
}

/* 0xCF9: inside the PCI host's configuration ports when there is one, else a port of its own. */
static int add_reset_control(struct vm *vm, unsigned i, const char *name)
{
	struct reset_control *rc = calloc(1, sizeof(*rc));
	int r;

	(void)i;
	if (!rc)
		return -ENOMEM;
	reset_control_init(rc, &vm->stop);
	r = add(vm, &reset_control_device_ops, rc, name);
	if (r)
		return r;
	if (vm->pci) {
		pci_bus_chain_cf9(vm->pci, reset_control_io, rc);
		return 0;
	}
	return add_pio(vm, RESET_CONTROL_PORT, 1, reset_control_io, rc, name);
}

/* ---- virtio devices: the device type in a slot, then the transport ---- */

typedef int (*virtio_type_init)(struct vm *vm, struct virtio_device *d, unsigned i);

static int add_virtio(struct vm *vm, unsigned i, const char *name, virtio_type_init init)
{
	struct virtio_slot *s = virtio_slot_alloc();
	bool pci = vm->cfg->transport == TRANSPORT_PCI;
	int r;

	if (!s)
		return -ENOMEM;
	r = init(vm, &s->dev, i);
	if (r) {
		free(s);
		return r;
	}
	s->initialised = true;
	r = add(vm, pci ? &virtio_pci_slot_ops : &virtio_mmio_slot_ops, s, name);
	if (r)
		return r;
	if (pci) {
		r = virtio_slot_attach_pci(s, vm->pci, vm->irq);
		if (r >= 0)
			log_info("%s at PCI 00:%02x.0, BAR 0x%llx, %u MSI-X vectors", name,
				 (unsigned)r, (unsigned long long)s->pci.pci.bar_decoded[0],
				 s->pci.nr_vectors);
		return r < 0 ? r : 0;
	}
	if (vm->next_mmio_slot >= VIRTIO_MMIO_MAX) {
		log_err("too many virtio devices: at most %d with --transport mmio", VIRTIO_MMIO_MAX);
		return -EINVAL;
	}
	unsigned slot = vm->next_mmio_slot++;
	uint64_t base = VIRTIO_MMIO_BASE + (uint64_t)slot * VIRTIO_MMIO_SIZE;

	/* ISA IRQs nothing else uses, in this order (virtio_mmio.h). */
	r = virtio_slot_attach_mmio(s, &vm->mmio, base, virtio_mmio_irqs[slot], vm->irq);
	if (!r)
		log_info("%s at 0x%llx, IRQ %u", name, (unsigned long long)base, virtio_mmio_irqs[slot]);
	return r;
}

static int blk_init(struct vm *vm, struct virtio_device *d, unsigned i)
{
	const struct disk_config *dc = &vm->cfg->disks[i];

	if (dc->vhost_user) {
		struct vhost_user_dev_config c = {
			.device_id = VIRTIO_ID_BLOCK, .socket = dc->path,
			.num_queues = dc->num_queues,
		};

		return virtio_vhost_user_init(d, &c, &vm->mem);
	}
	return virtio_blk_init(d, dc, &vm->mem);
}

static int fs_init(struct vm *vm, struct virtio_device *d, unsigned i)
{
	const struct fs_config *fc = &vm->cfg->fs[i];
	struct vhost_user_dev_config c = {
		.device_id = VIRTIO_ID_FS, .socket = fc->socket, .tag = fc->tag,
		.num_queues = fc->num_queues, .queue_size = fc->queue_size,
	};

	return virtio_vhost_user_init(d, &c, &vm->mem);
}

static int rng_init(struct vm *vm, struct virtio_device *d, unsigned i)
{
	(void)i;
	return virtio_rng_init(d, &vm->mem);
}

static int net_init(struct vm *vm, struct virtio_device *d, unsigned i)
{
	(void)i;
	return virtio_net_init(d, &vm->cfg->net, &vm->mem);
}

static int vconsole_init(struct vm *vm, struct virtio_device *d, unsigned i)
{
	struct out_sink *out;
	int r;

	(void)i;
	r = output(vm, VM_OUT_STDOUT, STDOUT_FILENO, "stdout", &out);
	if (!r)
		r = virtio_console_init(d, out, vm_console_rx_space, &vm->rx_efd, &vm->mem);
	if (!r)
		vm->vconsole = d;
	return r;
}

static int add_blk(struct vm *vm, unsigned i, const char *name)
{
	return add_virtio(vm, i, name, blk_init);
}

static int add_fs(struct vm *vm, unsigned i, const char *name)
{
	return add_virtio(vm, i, name, fs_init);
}

static int add_rng(struct vm *vm, unsigned i, const char *name)
{
	return add_virtio(vm, i, name, rng_init);
}

static int add_net(struct vm *vm, unsigned i, const char *name)
{
	return add_virtio(vm, i, name, net_init);
}

static int add_console(struct vm *vm, unsigned i, const char *name)
{
	return add_virtio(vm, i, name, vconsole_init);
}

/* ---- passed-through PCI functions ---- */

static int add_vfio(struct vm *vm, unsigned i, const char *name)
{
	struct vfio_spec spec;
	struct vfio_target t;
	struct vfio_dev dev;
	struct vfio_pci *v;
	char err[768];
	int r;

	/* One IOMMU context for all of them, held by the devices: vfio0's, once it exists. */
	struct vm_device *first = i ? device_list_find(&vm->devices, "vfio0") : NULL;
	struct vfio_iommu *io = first ? vfio_dev_iommu(&((struct vfio_pci *)first->dev)->dev) : NULL;

	if (io)
		vfio_iommu_get(io);
	else if (!(io = vfio_iommu_new(NULL, "/dev")))
		return -ENOMEM;
	r = vfio_parse_spec(vm->cfg->vfio[i], &spec, err, sizeof(err));
	if (!r)
		r = vfio_resolve(spec.device, "/sys", &t, err, sizeof(err));
	if (!r)
		r = vfio_host_open(io, &t, vm->mem.total, &dev, err, sizeof(err));
	vfio_iommu_put(io);
	if (r) {
		log_err("%s", err);
		return r;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		dev.ops->close(dev.h);
		return -ENOMEM;
	}
	/* Guest RAM is DMA-mapped here, before any vCPU exists. */
	r = vfio_pci_init(v, dev, &vm->mem, vm->irq, kvm_memslots_ops_for(&vm->memslots), name);
	if (!r && spec.rom)
		r = vfio_pci_expose_rom(v);
	if (r) {
		vfio_pci_destroy(v);
		free(v);
		return r;
	}
	r = add(vm, &vfio_pci_device_ops, v, name);
	if (r)
		return r;
	r = vfio_pci_attach(v, vm->pci);
	if (r >= 0)
		log_info("%s: %s at PCI 00:%02x.0 via %s", name, t.addr, (unsigned)r,
			 vfio_iface_name(dev.iface));
	return r < 0 ? r : 0;
}

/* ---- the machine ---- */

static unsigned one(const struct vm_config *cfg)
{
	(void)cfg;
	return 1;
}

static unsigned nr_pci_hosts(const struct vm_config *cfg)
{
	return cfg->transport == TRANSPORT_PCI;
}

static unsigned nr_disks(const struct vm_config *cfg)
{
	return cfg->nr_disks;
}

static unsigned nr_fs(const struct vm_config *cfg)
{
	return cfg->nr_fs;
}

static unsigned nr_rngs(const struct vm_config *cfg)
{
	return cfg->rng;
}

static unsigned nr_nets(const struct vm_config *cfg)
{
	return cfg->has_net;
}

static unsigned nr_vfio(const struct vm_config *cfg)
{
	return cfg->nr_vfio;
}

static unsigned nr_consoles(const struct vm_config *cfg)
{
	return cfg->virtio_console;
}

/* Every device kind, in the order devices are created, placed and described. */
static const struct machine_part {
	const char *name;		/* instances are name0, name1, ... */
	unsigned (*count)(const struct vm_config *cfg);
	int (*add)(struct vm *vm, unsigned i, const char *name);
} machine[] = {
	/* The VT-d unit first: the IOAPIC's messages and the devices' go through its wrapper. */
	{ "iommu", nr_iommus, add_iommu },
	{ "ioapic", nr_ioapics, add_ioapic },	/* then every other device's lines go to it */
	{ "serial", one, add_serial },
	{ "i8042", one, add_i8042 },
	{ "debug-exit", one, add_debug_exit },
	{ "post", one, add_post },
	{ "snapshot-port", one, add_snapshot_port },
	{ "acpi-pm", one, add_acpi_pm },
	{ "rtc", one, add_rtc },
	{ "pci-host", nr_pci_hosts, add_pci_host },
	{ "reset-control", one, add_reset_control },	/* after the PCI host: it may sit in its ports */
	{ "virtio-blk", nr_disks, add_blk },
	{ "virtio-rng", nr_rngs, add_rng },
	{ "virtio-net", nr_nets, add_net },
	{ "virtio-console", nr_consoles, add_console },
	{ "virtio-fs", nr_fs, add_fs },	/* last virtio: adding it moves no earlier device */
	/* Fixed ports and addresses, after every placed device: they move none of them. */
	{ "fw-cfg", one, add_fw_cfg },
	{ "pm-timer", one, add_pm_timer },
	{ "pc-testdev", nr_pc_testdevs, add_pc_testdev },
	{ "pci-testdev", nr_pci_testdevs, add_pci_testdev },	/* the last PCI slot: moves none */
	{ "edu", nr_edus, add_edu },	/* after it: an edu moves no earlier function */
	{ "vfio", nr_vfio, add_vfio },	/* last of all: adding it moves no other device */
};

/* "serial0", "virtio-blk1"; a kind whose name ends in a digit gets a dash: "i8042-0". */
static void instance_name(char *buf, size_t len, const char *kind, unsigned i)
{
	size_t n = strlen(kind);
	bool digit = n && isdigit((unsigned char)kind[n - 1]);

	snprintf(buf, len, "%s%s%u", kind, digit ? "-" : "", i);
}

int builder_create_devices(struct vm *vm)
{
	for (size_t p = 0; p < sizeof(machine) / sizeof(machine[0]); p++) {
		unsigned n = machine[p].count(vm->cfg);

		for (unsigned i = 0; i < n; i++) {
			char name[DEVICE_NAME_MAX];
			int r;

			instance_name(name, sizeof(name), machine[p].name, i);
			r = machine[p].add(vm, i, name);
			if (r)
				return r;
		}
	}
	for (unsigned i = 0; i < vm->devices.nr; i++)
		log_debug("device %s: %s", vm->devices.v[i].name, vm->devices.v[i].ops->kind);
	return 0;
}

int builder_describe(struct vm *vm, struct machine_desc *m)
{
	int r;

	memset(m, 0, sizeof(*m));
	r = device_list_describe(&vm->devices, m);
	if (r)
		log_err("machine description: %s", strerror(-r));
	return r;
}

int builder_build(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct machine_desc desc;
	struct boot_entry entry;
	int r;

	r = builder_create_devices(vm);
	if (!r)
		r = builder_describe(vm, &desc);
	if (!r)
		r = boot_load(cfg, &vm->mem, vm->pvm, &desc, &entry);
	if (r)
		return r;
	log_info("booting %s via %s at 0x%llx, %u vCPU(s), %llu MiB", cfg->kernel,
		 entry.protocol, (unsigned long long)entry.rip, cfg->cpus,
		 (unsigned long long)(cfg->mem_size >> 20));
	return vm_create_vcpus(vm, &entry);
}
