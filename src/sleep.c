/*
 * S3, suspend to RAM: the guest writes SLP_TYP S3 with SLP_EN to PM1a_CNT,
 * every vCPU parks (the writer right after its OUT) and the devices hold
 * still, RAM stays.  An RTC alarm with RTC_EN wakes the machine: WAK_STS is
 * set and the vCPUs start over as firmware would leave them, the BSP in real
 * mode at the FACS's firmware waking vector.  The RTC's alarm and update
 * interrupts ride on the same host timer while the machine runs.
 */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "kvmrun/acpi.h"
#include "kvmrun/devices.h"
#include "kvmrun/log.h"
#include "kvmrun/vm.h"

#define REAL_MODE_END	0x100000u	/* segment:offset reaches no further */

static void emit(struct vm *vm, const char *event)
{
	if (vm->events.emit)
		vm->events.emit(vm->events.opaque, event, NULL);
}

static void poke(int efd)
{
	uint64_t one = 1;

	if (efd >= 0 && write(efd, &one, sizeof(one)) < 0) {
		/* Saturated: a wake-up is pending anyway. */
	}
}

void vm_sleep_requested(void *opaque)
{
	struct vm *vm = opaque;

	/* As a snapshot request: every vCPU, the writer included, parks once its exit completed. */
	atomic_store(&vm->pause_req, true);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	poke(vm->sleep_efd);
}

void vm_rtc_changed(void *opaque)
{
	struct vm *vm = opaque;

	poke(vm->rtc_efd);
}

void vm_sleep_enter(struct vm *vm)
{
	uint64_t v;
	int r;

	if (read(vm->sleep_efd, &v, sizeof(v)) < 0)
		return;
	r = vm_pause(vm);
	if (r) {
		if (r != -ESHUTDOWN)
			log_err("S3: cannot park the vCPUs: %s", strerror(-r));
		return;
	}
	atomic_store(&vm->asleep, true);
	log_info("the guest sleeps (S3) until an RTC alarm it enabled");
	emit(vm, "SUSPEND");
}

static void wake(struct vm *vm)
{
	uint32_t vector = 0;
	uint64_t x_vector = 0;
	int r;

	if (acpi_facs_waking_vector(&vm->mem, &vector, &x_vector)) {
		log_err("S3 wake: the ACPI tables in guest memory were overwritten: no waking vector");
		vm_stop_request(&vm->stop, STOP_ERROR, EXIT_VMM_ERROR);
		return;
	}
	if (x_vector)
		log_warn("S3 wake: X_Firmware_Waking_Vector 0x%llx ignored: kvmrun resumes in real mode "
			 "at 0x%x", (unsigned long long)x_vector, vector);
	/* As firmware does: no vector real mode can reach, no resume, but a reset. */
	if (!vector || vector >= REAL_MODE_END) {
		log_warn("S3 wake: firmware waking vector 0x%x is not in real mode's first MiB: "
			 "the machine resets", vector);
		atomic_store(&vm->asleep, false);
		vm_stop_request(&vm->stop, STOP_RESET, EXIT_GUEST_OFF);
		return;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		r = vcpu_setup_wake_regs(&vm->vcpus[i], vector, i == 0);
		if (r) {
			log_err("S3 wake: vcpu%u: %s", i, strerror(-r));
			vm_stop_request(&vm->stop, STOP_ERROR, EXIT_VMM_ERROR);
			return;
		}
	}
	acpi_pm_woke(vm->acpi_pm);
	atomic_store(&vm->asleep, false);
	log_info("the guest wakes from S3 at 0x%x", vector);
	r = vm_resume(vm);
	if (r && r != -ESHUTDOWN)
		log_err("S3 wake: cannot resume: %s", strerror(-r));
	emit(vm, "WAKEUP");
}

void vm_rtc_event(struct vm *vm, bool fired)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	int64_t next;
	uint64_t v;

	if (!vm->rtc || vm->rtc_tfd < 0)
		return;
	if (read(fired ? vm->rtc_tfd : vm->rtc_efd, &v, sizeof(v)) < 0 && fired)
		return;		/* re-armed since it fired: nothing is due */
	if (fired && rtc_cmos_tick(vm->rtc) && vm->acpi_pm && acpi_pm_rtc_alarm(vm->acpi_pm) &&
	    atomic_load(&vm->asleep))
		wake(vm);
	next = rtc_cmos_next_event(vm->rtc);
	if (next != INT64_MAX) {
		its.it_value.tv_sec = next / 1000000000;
		its.it_value.tv_nsec = next % 1000000000;
		/* A time of 0 would disarm the timer: an event due at the epoch is due now. */
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(vm->rtc_tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_warn("RTC timer: %s; its alarms are late", strerror(errno));
}
