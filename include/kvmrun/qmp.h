/*
 * One QMP session, without sockets: bytes from a client go in through
 * qmp_session_feed, replies come out through a write callback.  The framing
 * is QEMU's (docs/interop/qmp-spec): a greeting, capabilities negotiation
 * with "qmp_capabilities", then {"execute": NAME, "arguments": {...},
 * "id": ANY} answered by {"return": ...} or {"error": {"class", "desc"}}
 * with the id echoed; events are {"event", "data", "timestamp"}.  Lines
 * end in "\r\n" as QEMU's do.
 *
 * The client is hostile: JSON is parsed by json-c's incremental tokener
 * with a nesting limit; a parse error is answered and the rest of its line
 * skipped; a request (or a line of garbage) longer than QMP_MAX_REQUEST
 * is answered and ends the session.
 */
#ifndef KVMRUN_QMP_H
#define KVMRUN_QMP_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define QMP_MAX_REQUEST	(64 * 1024)
#define QMP_MAX_DEPTH	16
#define QMP_DESC_MAX	256

/*
 * Runs command name with args (a JSON object, possibly empty).  Returns 0
 * and sets *ret (NULL: {}), -ENOENT for an unknown command (the session
 * answers CommandNotFound), or another -errno with one line in desc
 * (GenericError; an empty desc becomes strerror).
 */
typedef int (*qmp_dispatch_fn)(void *opaque, const char *name, struct json_object *args,
			       struct json_object **ret, char *desc, size_t desclen);
typedef void (*qmp_write_fn)(void *opaque, const char *buf, size_t len);

struct qmp_session {
	struct json_tokener *tok;
	qmp_write_fn write;
	void *write_opaque;
	qmp_dispatch_fn dispatch;
	void *dispatch_opaque;
	size_t line_bytes;	/* of the request being read, or of the garbage being skipped */
	bool skipping;		/* after a parse error: until the next newline */
	bool negotiated;	/* qmp_capabilities done: commands and events */
	bool closed;		/* the session asked to be dropped */
};

/* 0 or -ENOMEM.  Writes nothing: call qmp_session_greet. */
int qmp_session_init(struct qmp_session *s, qmp_write_fn write, void *write_opaque,
		     qmp_dispatch_fn dispatch, void *dispatch_opaque);
void qmp_session_destroy(struct qmp_session *s);
/* The greeting: {"QMP": {"version": ..., "capabilities": []}}. */
void qmp_session_greet(struct qmp_session *s);
/*
 * Takes len bytes from the client; runs and answers every complete
 * request.  0, or -EPROTO once the session must be dropped (the error has
 * been written; later calls do nothing).
 */
int qmp_session_feed(struct qmp_session *s, const void *buf, size_t len);

/*
 * An event line: {"event": event, "data": <data_json>, "timestamp":
 * {"seconds", "microseconds"}} + "\r\n" (no "data" when data_json is NULL
 * or not a JSON object).  Malloc'ed, its length in *len; NULL on ENOMEM.
 */
char *qmp_event_line(const char *event, const char *data_json, const struct timespec *when,
		     size_t *len);

/* An argument a command takes. */
struct qmp_arg {
	const char *name;
	enum json_type type;
	bool required;
};

/*
 * Checks args against spec (ended by a NULL name) as QEMU does: an
 * unexpected, missing or mistyped member is -EINVAL with QEMU's wording in
 * desc.
 */
int qmp_check_args(struct json_object *args, const struct qmp_arg *spec, char *desc,
		   size_t desclen);

#endif
