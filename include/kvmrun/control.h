/*
 * The control socket (`kvmrun run --api PATH`): a UNIX stream socket that
 * speaks QMP (qmp.h) to several clients at once, served by one control
 * thread.  The server outlives a VM: under --reboot restart each boot's VM
 * is attached and detached in turn.  A client that sends garbage or does
 * not read what it is sent is answered or dropped; the VM never waits for
 * a client.
 */
#ifndef KVMRUN_CONTROL_H
#define KVMRUN_CONTROL_H

#include "kvmrun/migrate.h"
#include <json-c/json.h>
#include <stddef.h>

#define CONTROL_MAX_CLIENTS	16
#define CONTROL_OUT_MAX		(256 * 1024)	/* unread replies and events per client */

struct vm;
struct control_server;

/*
 * Creates the socket at path, mode 0600.  An existing socket nobody
 * listens on (stale) is replaced; any other existing file is refused.
 * Call before any thread exists (umask is process-wide).  0, or -errno
 * with one line in err.
 */
int control_open(struct control_server **out, const char *path, char *err, size_t errlen);
/* Starts the control thread (after sandbox_setup: it enters its own filter).  0 or -errno. */
int control_start(struct control_server *s);
/* The VM commands act on, and whose events go to the clients (sets vm->events). */
void control_attach(struct control_server *s, struct vm *vm);
/* Waits for a command running on the VM to finish; then no command or event touches it. */
void control_detach(struct control_server *s);
/* Ends the thread, flushes what clients can take at once, closes them, removes the socket. */
void control_close(struct control_server *s);

/*
 * What commands act on: the VM, or none (between boots, after the guest
 * moved away, in tests); then commands that need one fail, except
 * query-migrate, which reports how the last VM's migration ended.
 */
struct qmp_target {
	struct vm *vm;
	struct migrate_status last_migration;	/* state MIGRATE_NONE: none */
};

/* The command table (src/qmp_commands.c), a qmp_dispatch_fn on a struct qmp_target (or NULL). */
int qmp_commands_dispatch(void *target, const char *name, struct json_object *args,
			  struct json_object **ret, char *desc, size_t desclen);

/* `kvmrun ctl SOCKET COMMAND [KEY=VALUE...]` (src/ctl.c): argv after "ctl"; the exit status. */
int ctl_main(int argc, char **argv);

#endif
