/* A QMP session over a byte stream (see qmp.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/config.h"
#include "kvmrun/qmp.h"

#define JSON_OUT_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

int qmp_session_init(struct qmp_session *s, qmp_write_fn write, void *write_opaque,
		     qmp_dispatch_fn dispatch, void *dispatch_opaque)
{
	memset(s, 0, sizeof(*s));
	s->tok = json_tokener_new_ex(QMP_MAX_DEPTH);
	if (!s->tok)
		return -ENOMEM;
	/* Strict JSON, several requests in one read, UTF-8 only. */
	json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
			       JSON_TOKENER_VALIDATE_UTF8);
	s->write = write;
	s->write_opaque = write_opaque;
	s->dispatch = dispatch;
	s->dispatch_opaque = dispatch_opaque;
	return 0;
}

void qmp_session_destroy(struct qmp_session *s)
{
	if (s->tok)
		json_tokener_free(s->tok);
	s->tok = NULL;
}

/* Writes obj as one line and drops the caller's reference. */
static void send_obj(struct qmp_session *s, struct json_object *obj)
{
	size_t len;
	const char *text;

	if (!obj)
		return;		/* ENOMEM: nothing sensible to say */
	text = json_object_to_json_string_length(obj, JSON_OUT_FLAGS, &len);
	if (text) {
		s->write(s->write_opaque, text, len);
		s->write(s->write_opaque, "\r\n", 2);
	}
	json_object_put(obj);
}

/* {"QMP": {"version": {"qemu": {major, minor, micro}, "package"}, "capabilities": []}} */
void qmp_session_greet(struct qmp_session *s)
{
	struct json_object *qmp = json_object_new_object(), *ver = json_object_new_object();
	struct json_object *nums = json_object_new_object(), *greeting = json_object_new_object();
	int major = 0, minor = 0, micro = 0;

	if (!qmp || !ver || !nums || !greeting) {
		json_object_put(qmp);
		json_object_put(ver);
		json_object_put(nums);
		json_object_put(greeting);
		return;
	}
	/* kvmrun's own version where QEMU puts its own; "package" says whose it is. */
	sscanf(KVMRUN_VERSION, "%d.%d.%d", &major, &minor, &micro);
	json_object_object_add(nums, "major", json_object_new_int(major));
	json_object_object_add(nums, "minor", json_object_new_int(minor));
	json_object_object_add(nums, "micro", json_object_new_int(micro));
	json_object_object_add(ver, "qemu", nums);
	json_object_object_add(ver, "package", json_object_new_string("kvmrun " KVMRUN_VERSION));
	json_object_object_add(qmp, "version", ver);
	json_object_object_add(qmp, "capabilities", json_object_new_array());
	json_object_object_add(greeting, "QMP", qmp);
	send_obj(s, greeting);
}

/* {"error": {"class": cls, "desc": desc}, "id": id} */
static void send_error(struct qmp_session *s, const char *cls, const char *desc,
		       struct json_object *id)
{
	struct json_object *reply = json_object_new_object(), *err = json_object_new_object();

	if (!reply || !err) {
		json_object_put(reply);
		json_object_put(err);
		return;
	}
	json_object_object_add(err, "class", json_object_new_string(cls));
	json_object_object_add(err, "desc", json_object_new_string(desc));
	json_object_object_add(reply, "error", err);
	if (id)
		json_object_object_add(reply, "id", json_object_get(id));
	send_obj(s, reply);
}

static void send_return(struct qmp_session *s, struct json_object *ret, struct json_object *id)
{
	struct json_object *reply = json_object_new_object();

	if (!ret)
		ret = json_object_new_object();
	if (!reply || !ret) {
		json_object_put(reply);
		json_object_put(ret);
		return;
	}
	json_object_object_add(reply, "return", ret);
	if (id)
		json_object_object_add(reply, "id", json_object_get(id));
	send_obj(s, reply);
}

static const char *type_name(enum json_type t)
{
	switch (t) {
	case json_type_null: return "null";
	case json_type_boolean: return "boolean";
	case json_type_double: return "number";
	case json_type_int: return "integer";
	case json_type_object: return "object";
	case json_type_array: return "array";
	case json_type_string: return "string";
	}
	return "value";
}

int qmp_check_args(struct json_object *args, const struct qmp_arg *spec, char *desc,
		   size_t desclen)
{
	json_object_object_foreach(args, key, val) {
		const struct qmp_arg *a = spec;

		(void)val;
		while (a->name && strcmp(a->name, key))
			a++;
		if (!a->name) {
			snprintf(desc, desclen, "Parameter '%.64s' is unexpected", key);
			return -EINVAL;
		}
	}
	for (const struct qmp_arg *a = spec; a->name; a++) {
		struct json_object *v;

		if (!json_object_object_get_ex(args, a->name, &v)) {
			if (a->required) {
				snprintf(desc, desclen, "Parameter '%s' is missing", a->name);
				return -EINVAL;
			}
			continue;
		}
		if (!json_object_is_type(v, a->type)) {
			snprintf(desc, desclen, "Invalid parameter type for '%s', expected: %s",
				 a->name, type_name(a->type));
			return -EINVAL;
		}
	}
	return 0;
}

/* One parsed request: checked as QEMU checks it, then run. */
static void handle(struct qmp_session *s, struct json_object *req)
{
	struct json_object *id = NULL, *exec = NULL, *args = NULL, *ret = NULL;
	char desc[QMP_DESC_MAX] = "";
	const char *name;
	int r;

	if (!json_object_is_type(req, json_type_object)) {
		send_error(s, "GenericError", "QMP input must be a JSON object", NULL);
		return;
	}
	json_object_object_get_ex(req, "id", &id);
	json_object_object_foreach(req, key, val) {
		(void)val;
		if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
			snprintf(desc, sizeof(desc), "QMP input member '%.64s' is unexpected", key);
			send_error(s, "GenericError", desc, id);
			return;
		}
	}
	if (!json_object_object_get_ex(req, "execute", &exec)) {
		send_error(s, "GenericError", "QMP input lacks member 'execute'", id);
		return;
	}
	if (!json_object_is_type(exec, json_type_string)) {
		send_error(s, "GenericError", "QMP input member 'execute' must be a string", id);
		return;
	}
	if (json_object_object_get_ex(req, "arguments", &args) &&
	    !json_object_is_type(args, json_type_object)) {
		send_error(s, "GenericError", "QMP input member 'arguments' must be an object", id);
		return;
	}
	name = json_object_get_string(exec);
	if (!s->negotiated) {
		if (strcmp(name, "qmp_capabilities")) {
			send_error(s, "CommandNotFound",
				   "Expecting capabilities negotiation with 'qmp_capabilities'", id);
			return;
		}
		/* No capabilities are offered, so "enable" may only be empty. */
		struct json_object *en;

		if (args && json_object_object_get_ex(args, "enable", &en) &&
		    !(json_object_is_type(en, json_type_array) && !json_object_array_length(en))) {
			send_error(s, "GenericError", "Capability negotiation: no capabilities "
				   "are offered; 'enable' must be an empty list", id);
			return;
		}
		s->negotiated = true;
		send_return(s, NULL, id);
		return;
	}
	if (!strcmp(name, "qmp_capabilities")) {
		send_error(s, "CommandNotFound",
			   "Capabilities negotiation is already complete, command ignored", id);
		return;
	}
	if (!args) {
		args = json_object_new_object();
		if (!args)
			return;
		json_object_object_add(req, "arguments", args);	/* freed with req */
	}
	r = s->dispatch(s->dispatch_opaque, name, args, &ret, desc, sizeof(desc));
	if (r == -ENOENT) {
		snprintf(desc, sizeof(desc), "The command %.64s has not been found", name);
		send_error(s, "CommandNotFound", desc, id);
	} else if (r) {
		json_object_put(ret);
		send_error(s, "GenericError", desc[0] ? desc : strerror(-r), id);
	} else {
		send_return(s, ret, id);
	}
}

int qmp_session_feed(struct qmp_session *s, const void *buf, size_t len)
{
	const char *p = buf;

	while (len && !s->closed) {
		size_t n, chunk;

		if (s->skipping) {
			const char *nl = memchr(p, '\n', len);

			n = nl ? (size_t)(nl - p) + 1 : len;
			s->line_bytes += n;
			if (nl) {
				s->skipping = false;
				s->line_bytes = 0;
			}
		} else if (!s->line_bytes && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
			n = 1;		/* between requests: blank lines are not a request */
		} else {
			struct json_object *obj;
			enum json_tokener_error e;

			chunk = len > QMP_MAX_REQUEST ? QMP_MAX_REQUEST : len;
			obj = json_tokener_parse_ex(s->tok, p, (int)chunk);
			e = json_tokener_get_error(s->tok);
			n = json_tokener_get_parse_end(s->tok);
			if (obj) {
				s->line_bytes = 0;
				handle(s, obj);
				json_object_put(obj);
			} else if (e == json_tokener_continue) {
				n = chunk;	/* all of it is in the tokener's state */
				s->line_bytes += n;
			} else {
				char desc[QMP_DESC_MAX];

				snprintf(desc, sizeof(desc), "JSON parse error, %s",
					 json_tokener_error_desc(e));
				send_error(s, "GenericError", desc, NULL);
				json_tokener_reset(s->tok);
				/* The rest of its line is the same garbage: skipped from here. */
				s->skipping = true;
				s->line_bytes += n;
			}
			if (n > chunk)
				n = chunk;
		}
		if (s->line_bytes > QMP_MAX_REQUEST) {
			char desc[QMP_DESC_MAX];

			snprintf(desc, sizeof(desc), "request longer than %d bytes: closing",
				 QMP_MAX_REQUEST);
			send_error(s, "GenericError", desc, NULL);
			s->closed = true;
		}
		p += n;
		len -= n;
	}
	return s->closed ? -EPROTO : 0;
}

char *qmp_event_line(const char *event, const char *data_json, const struct timespec *when,
		     size_t *len)
{
	struct json_object *ev = json_object_new_object(), *ts = json_object_new_object();
	struct json_object *data = data_json ? json_tokener_parse(data_json) : NULL;
	const char *text;
	char *line = NULL;
	size_t n;

	if (data && !json_object_is_type(data, json_type_object)) {
		json_object_put(data);
		data = NULL;
	}
	if (!ev || !ts) {
		json_object_put(ev);
		json_object_put(ts);
		json_object_put(data);
		return NULL;
	}
	json_object_object_add(ev, "event", json_object_new_string(event));
	if (data)
		json_object_object_add(ev, "data", data);
	json_object_object_add(ts, "seconds", json_object_new_int64((int64_t)when->tv_sec));
	json_object_object_add(ts, "microseconds", json_object_new_int64(when->tv_nsec / 1000));
	json_object_object_add(ev, "timestamp", ts);
	text = json_object_to_json_string_length(ev, JSON_OUT_FLAGS, &n);
	if (text) {
		line = malloc(n + 3);
		if (line) {
			memcpy(line, text, n);
			memcpy(line + n, "\r\n", 3);
			*len = n + 2;
		}
	}
	json_object_put(ev);
	return line;
}
