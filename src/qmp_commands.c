/*
 * The QMP commands kvmrun answers.  QEMU's names and shapes where QEMU has
 * the command; kvmrun's own are named for what they do (snapshot-save
 * takes a directory, not QEMU's job/tag/vmstate arguments).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kvmrun/clock.h"
#include "kvmrun/config.h"
#include "kvmrun/control.h"
#include "kvmrun/devices.h"
#include "kvmrun/migrate.h"
#include "kvmrun/qmp.h"
#include "kvmrun/snapshot.h"
#include "kvmrun/virtio_slot.h"
#include "kvmrun/vm.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

typedef int (*qmp_cmd_fn)(struct vm *vm, struct json_object *args, struct json_object **ret,
			  char *desc, size_t desclen);

static void add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

static void add_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

/* The error line for an -errno from the VM. */
static int vm_error(int r, const char *what, char *desc, size_t desclen)
{
	if (r == -ESHUTDOWN)
		snprintf(desc, desclen, "%s: the VM is shutting down", what);
	else if (r == -EBUSY)
		snprintf(desc, desclen, "%s: a snapshot or a migration holds the VM paused; "
			 "try again when it is done", what);
	else if (r == -ENOSYS)
		snprintf(desc, desclen, "%s: not supported by this kvmrun yet", what);
	else
		snprintf(desc, desclen, "%s: %s", what, strerror(-r));
	return r;
}

static int cmd_query_status(struct vm *vm, struct json_object *args, struct json_object **ret,
			    char *desc, size_t desclen)
{
	const char *status = "prelaunch";	/* between two boots: no VM */
	bool running = false;

	(void)args;
	(void)desc;
	(void)desclen;
	if (vm && vm_stop_requested(&vm->stop)) {
		status = "shutdown";
	} else if (vm && atomic_load(&vm->asleep)) {
		status = "suspended";	/* QEMU's name for S3 */
	} else if (vm && vm_is_paused(vm)) {
		struct migrate_status ms;

		vm_migrate_query(vm, &ms);
		status = ms.state == MIGRATE_COMPLETED ? "postmigrate" : "paused";
	} else if (vm) {
		status = "running";
		running = true;
	}
	*ret = json_object_new_object();
	if (!*ret)
		return -ENOMEM;
	add_bool(*ret, "running", running);
	add_bool(*ret, "singlestep", false);
	add_str(*ret, "status", status);
	return 0;
}

static int cmd_stop(struct vm *vm, struct json_object *args, struct json_object **ret,
		    char *desc, size_t desclen)
{
	int r = vm_pause(vm);

	(void)args;
	(void)ret;
	return r ? vm_error(r, "stop", desc, desclen) : 0;
}

static int cmd_cont(struct vm *vm, struct json_object *args, struct json_object **ret,
		    char *desc, size_t desclen)
{
	int r = vm_resume(vm);

	(void)args;
	(void)ret;
	if (r == -EBUSY && atomic_load(&vm->asleep)) {
		snprintf(desc, desclen, "cont: the guest is asleep (S3): an RTC alarm it enabled wakes it");
		return r;
	}
	return r ? vm_error(r, "cont", desc, desclen) : 0;
}

static int cmd_system_reset(struct vm *vm, struct json_object *args, struct json_object **ret,
			    char *desc, size_t desclen)
{
	(void)args;
	(void)ret;
	(void)desc;
	(void)desclen;
	/* kvmrun's reset policy: the run ends, or --reboot restart boots again. */
	vm_stop_request(&vm->stop, STOP_RESET, EXIT_GUEST_OFF);
	return 0;
}

static int cmd_system_powerdown(struct vm *vm, struct json_object *args,
				struct json_object **ret, char *desc, size_t desclen)
{
	(void)args;
	(void)ret;
	for (unsigned i = 0; i < vm->devices.nr; i++)
		if (vm->devices.v[i].ops == &acpi_pm_device_ops) {
			acpi_pm_power_button(vm->devices.v[i].dev);
			if (vm->events.emit)
				vm->events.emit(vm->events.opaque, "POWERDOWN", NULL);
			return 0;
		}
	snprintf(desc, desclen, "system_powerdown: this machine has no ACPI power button");
	return -ENODEV;
}

static int cmd_quit(struct vm *vm, struct json_object *args, struct json_object **ret,
		    char *desc, size_t desclen)
{
	(void)args;
	(void)ret;
	(void)desc;
	(void)desclen;
	vm_stop_request(&vm->stop, STOP_USER, EXIT_GUEST_OFF);
	return 0;
}

static int cmd_query_cpus_fast(struct vm *vm, struct json_object *args,
			       struct json_object **ret, char *desc, size_t desclen)
{
	(void)args;
	(void)desc;
	(void)desclen;
	*ret = json_object_new_array();
	if (!*ret)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct json_object *cpu = json_object_new_object(), *props = json_object_new_object();

		if (!cpu || !props) {
			json_object_put(cpu);
			json_object_put(props);
			return -ENOMEM;
		}
		add_int(cpu, "cpu-index", i);
		/* Set once by the vCPU thread when it starts (0 before). */
		add_int(cpu, "thread-id", __atomic_load_n(&vm->vcpus[i].tid, __ATOMIC_ACQUIRE));
		add_str(cpu, "target", "x86_64");
		add_int(props, "socket-id", 0);
		add_int(props, "core-id", i);
		add_int(props, "thread-id", 0);
		json_object_object_add(cpu, "props", props);
		json_object_array_add(*ret, cpu);
	}
	return 0;
}

static int cmd_query_version(struct vm *vm, struct json_object *args, struct json_object **ret,
			     char *desc, size_t desclen)
{
	struct json_object *nums = json_object_new_object();
	int major = 0, minor = 0, micro = 0;

	(void)vm;
	(void)args;
	(void)desc;
	(void)desclen;
	*ret = json_object_new_object();
	if (!*ret || !nums) {
		json_object_put(nums);
		return -ENOMEM;
	}
	sscanf(KVMRUN_VERSION, "%d.%d.%d", &major, &minor, &micro);
	add_int(nums, "major", major);
	add_int(nums, "minor", minor);
	add_int(nums, "micro", micro);
	json_object_object_add(*ret, "qemu", nums);
	add_str(*ret, "package", "kvmrun " KVMRUN_VERSION);
	return 0;
}

static int cmd_query_commands(struct vm *vm, struct json_object *args, struct json_object **ret,
			      char *desc, size_t desclen);

static int cmd_snapshot_save(struct vm *vm, struct json_object *args, struct json_object **ret,
			     char *desc, size_t desclen)
{
	struct json_object *path, *paused;
	bool stay_paused = false;
	int r;

	(void)ret;
	json_object_object_get_ex(args, "path", &path);
	if (json_object_object_get_ex(args, "stay-paused", &paused))
		stay_paused = json_object_get_boolean(paused);
	if (!json_object_get_string_len(path)) {
		snprintf(desc, desclen, "snapshot-save: 'path' is empty");
		return -EINVAL;
	}
	r = vm_snapshot_save(vm, json_object_get_string(path), stay_paused, desc, desclen);
	if (r && !desc[0])
		vm_error(r, "snapshot-save", desc, desclen);
	return r;
}

static int cmd_migrate(struct vm *vm, struct json_object *args, struct json_object **ret,
		       char *desc, size_t desclen)
{
	struct json_object *uri;
	const char *u;
	int r;

	(void)ret;
	json_object_object_get_ex(args, "uri", &uri);
	u = json_object_get_string(uri);
	if (strncmp(u, "unix:", 5) && strncmp(u, "tcp:", 4)) {
		snprintf(desc, desclen, "migrate: uri '%.64s': expected unix:PATH or tcp:HOST:PORT",
			 u);
		return -EINVAL;
	}
	r = vm_migrate_start(vm, u, desc, desclen);
	if (r == -EBUSY && !desc[0])
		snprintf(desc, desclen, "migrate: a migration is already in progress");
	else if (r && !desc[0])
		vm_error(r, "migrate", desc, desclen);
	return r;
}

static int cmd_migrate_cancel(struct vm *vm, struct json_object *args, struct json_object **ret,
			      char *desc, size_t desclen)
{
	(void)args;
	(void)ret;
	(void)desc;
	(void)desclen;
	vm_migrate_cancel(vm);
	return 0;
}

static int cmd_migrate_set_parameters(struct vm *vm, struct json_object *args,
				      struct json_object **ret, char *desc, size_t desclen)
{
	struct json_object *v;
	int64_t ms;

	(void)ret;
	if (!json_object_object_get_ex(args, "downtime-limit", &v))
		return 0;
	ms = json_object_get_int64(v);
	if (ms <= 0 || ms > 2000000 || vm_migrate_set_downtime(vm, (uint64_t)ms)) {
		snprintf(desc, desclen, "Parameter 'downtime-limit' expects an integer in the "
			 "range of 1 to 2000000 milliseconds");
		return -EINVAL;
	}
	return 0;
}

/* query-migrate's answer in QEMU's shape. */
static int migrate_answer(const struct migrate_status *s, struct json_object **ret)
{
	const struct migrate_status st = *s;
	struct json_object *ram;

	*ret = json_object_new_object();
	if (!*ret)
		return -ENOMEM;
	/* QEMU answers {} before any migration. */
	if (st.state == MIGRATE_NONE)
		return 0;
	ram = json_object_new_object();
	if (!ram)
		return -ENOMEM;
	add_str(*ret, "status", migrate_state_name(st.state));
	add_int(*ret, "total-time", (int64_t)st.total_ms);
	if (st.state == MIGRATE_COMPLETED)
		add_int(*ret, "downtime", (int64_t)st.downtime_ms);
	add_int(ram, "transferred", (int64_t)st.transferred_bytes);
	add_int(ram, "remaining", (int64_t)st.remaining_bytes);
	add_int(ram, "total", (int64_t)st.total_bytes);
	add_int(ram, "normal", (int64_t)st.pages_sent);
	add_int(ram, "dirty-sync-count", (int64_t)st.iterations);
	if (st.dirty_tracking[0])
		add_str(ram, "dirty-tracking", st.dirty_tracking);
	if (st.ring_full_waits)
		add_int(ram, "dirty-ring-full", (int64_t)st.ring_full_waits);
	json_object_object_add(*ret, "ram", ram);
	if (st.state == MIGRATE_FAILED && st.error[0])
		add_str(*ret, "error-desc", st.error);
	return 0;
}

static int cmd_query_migrate(struct vm *vm, struct json_object *args, struct json_object **ret,
			     char *desc, size_t desclen)
{
	struct migrate_status st;

	(void)args;
	(void)desc;
	(void)desclen;
	vm_migrate_query(vm, &st);
	return migrate_answer(&st, ret);
}


/* ---- rate limits (virtio/throttle.c) ---- */

static const char *ops_name(const struct virtio_device *d)
{
	return d->device_id == 1 ? "pps" : "iops";	/* VIRTIO_ID_NET: frames; disks: requests */
}

static int cmd_set_rate_limit(struct vm *vm, struct json_object *args, struct json_object **ret,
			      char *desc, size_t desclen)
{
	const char *name = json_object_get_string(json_object_object_get(args, "device"));
	struct vm_device *vd = device_list_find(&vm->devices, name);
	struct virtio_device *d = vd ? virtio_slot_device(vd) : NULL;
	struct virtio_throttle *t;
	struct rate_limit_params p;
	struct json_object *v;
	char key[16];

	(void)ret;
	if (!d || !d->ops->throttle) {
		snprintf(desc, desclen, "set-rate-limit: no device '%s' with a rate limit "
			 "(virtio-blkN, virtio-net0; query-rate-limits lists them)", name);
		return -ENODEV;
	}
	pthread_mutex_lock(&d->lock);
	t = d->ops->throttle(d);
	p = t->params;
	pthread_mutex_unlock(&d->lock);
	/* Only the fields given change; 0 lifts a limit. */
	for (int i = 0; i < 4; i++) {
		static const char *const suffix[] = { "", "-burst" };
		uint64_t *field[] = { &p.ops, &p.ops_burst, &p.bytes, &p.bytes_burst };

		snprintf(key, sizeof(key), "%s%s", i < 2 ? ops_name(d) : "bps", suffix[i % 2]);
		if (!json_object_object_get_ex(args, key, &v))
			continue;
		if (json_object_get_int64(v) < 0 || json_object_get_int64(v) > (1LL << 40)) {
			snprintf(desc, desclen, "set-rate-limit: %s must be 0 to 2^40", key);
			return -EINVAL;
		}
		*field[i] = (uint64_t)json_object_get_int64(v);
	}
	if (json_object_object_get_ex(args, d->device_id == 1 ? "iops" : "pps", &v)) {
		snprintf(desc, desclen, "set-rate-limit: %s counts %s", name,
			 d->device_id == 1 ? "frames: pps" : "requests: iops");
		return -EINVAL;
	}
	pthread_mutex_lock(&d->lock);
	virtio_throttle_set(d, t, &p);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int cmd_query_rate_limits(struct vm *vm, struct json_object *args, struct json_object **ret,
				 char *desc, size_t desclen)
{
	uint64_t now = clock_now_ns();

	(void)args;
	(void)desc;
	(void)desclen;
	*ret = json_object_new_array();
	if (!*ret)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->devices.nr; i++) {
		struct virtio_device *d = virtio_slot_device(&vm->devices.v[i]);
		struct json_object *o;
		struct virtio_throttle *t;

		if (!d || !d->ops->throttle)
			continue;
		o = json_object_new_object();
		if (!o)
			return -ENOMEM;
		pthread_mutex_lock(&d->lock);
		t = d->ops->throttle(d);
		add_str(o, "device", vm->devices.v[i].name);
		add_int(o, ops_name(d), (int64_t)t->params.ops);
		add_int(o, "bps", (int64_t)t->params.bytes);
		add_int(o, "throttled-ms", (int64_t)(rate_limiter_throttled_ns(&t->rl, now) / 1000000));
		add_int(o, "waits", (int64_t)t->rl.throttle_events);
		pthread_mutex_unlock(&d->lock);
		json_object_array_add(*ret, o);
	}
	return 0;
}

static const struct qmp_arg no_args[] = { { NULL, json_type_null, false } };
static const struct qmp_arg rate_limit_args[] = {
	{ "device", json_type_string, true },
	{ "iops", json_type_int, false },
	{ "pps", json_type_int, false },
	{ "bps", json_type_int, false },
	{ "iops-burst", json_type_int, false },
	{ "pps-burst", json_type_int, false },
	{ "bps-burst", json_type_int, false },
	{ NULL, json_type_null, false },
};
static const struct qmp_arg snapshot_args[] = {
	{ "path", json_type_string, true },
	{ "stay-paused", json_type_boolean, false },
	{ NULL, json_type_null, false },
};
static const struct qmp_arg migrate_args[] = {
	{ "uri", json_type_string, true },
	{ NULL, json_type_null, false },
};
static const struct qmp_arg migrate_param_args[] = {
	{ "downtime-limit", json_type_int, false },
	{ NULL, json_type_null, false },
};

static const struct qmp_command {
	const char *name;
	qmp_cmd_fn fn;
	const struct qmp_arg *args;
	bool needs_vm;
} commands[] = {
	{ "query-status", cmd_query_status, no_args, false },
	{ "stop", cmd_stop, no_args, true },
	{ "cont", cmd_cont, no_args, true },
	{ "system_reset", cmd_system_reset, no_args, true },
	{ "system_powerdown", cmd_system_powerdown, no_args, true },
	{ "quit", cmd_quit, no_args, true },
	{ "query-cpus-fast", cmd_query_cpus_fast, no_args, true },
	{ "query-version", cmd_query_version, no_args, false },
	{ "query-commands", cmd_query_commands, no_args, false },
	{ "snapshot-save", cmd_snapshot_save, snapshot_args, true },
	{ "migrate", cmd_migrate, migrate_args, true },
	{ "migrate_cancel", cmd_migrate_cancel, no_args, true },
	{ "migrate-set-parameters", cmd_migrate_set_parameters, migrate_param_args, true },
	{ "query-migrate", cmd_query_migrate, no_args, true },
	{ "set-rate-limit", cmd_set_rate_limit, rate_limit_args, true },
	{ "query-rate-limits", cmd_query_rate_limits, no_args, true },
};

static int cmd_query_commands(struct vm *vm, struct json_object *args, struct json_object **ret,
			      char *desc, size_t desclen)
{
	(void)vm;
	(void)args;
	(void)desc;
	(void)desclen;
	*ret = json_object_new_array();
	if (!*ret)
		return -ENOMEM;
	for (size_t i = 0; i <= ARRAY_SIZE(commands); i++) {
		struct json_object *c = json_object_new_object();

		if (!c)
			return -ENOMEM;
		add_str(c, "name", i < ARRAY_SIZE(commands) ? commands[i].name : "qmp_capabilities");
		json_object_array_add(*ret, c);
	}
	return 0;
}

int qmp_commands_dispatch(void *opaque, const char *name, struct json_object *args,
			  struct json_object **ret, char *desc, size_t desclen)
{
	struct qmp_target *t = opaque;
	struct vm *vm = t ? t->vm : NULL;

	if (!vm && t && t->last_migration.state != MIGRATE_NONE) {
		if (!strcmp(name, "query-migrate"))
			return migrate_answer(&t->last_migration, ret);
		if (!strcmp(name, "query-status") && t->last_migration.state == MIGRATE_COMPLETED) {
			*ret = json_object_new_object();
			if (!*ret)
				return -ENOMEM;
			json_object_object_add(*ret, "running", json_object_new_boolean(0));
			json_object_object_add(*ret, "singlestep", json_object_new_boolean(0));
			json_object_object_add(*ret, "status", json_object_new_string("postmigrate"));
			return 0;
		}
	}

	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct qmp_command *c = &commands[i];
		int r;

		if (strcmp(c->name, name))
			continue;
		r = qmp_check_args(args, c->args, desc, desclen);
		if (r)
			return r;
		if (c->needs_vm && !vm) {
			snprintf(desc, desclen, "%s: no VM is running (between two boots)", name);
			return -ESRCH;
		}
		r = c->fn(vm, args, ret, desc, desclen);
		if (r && !desc[0])
			vm_error(r, name, desc, desclen);
		/* -ENOENT means "no such command" to the session: a missing file is an I/O error here. */
		return r == -ENOENT ? -EIO : r;
	}
	return -ENOENT;
}
