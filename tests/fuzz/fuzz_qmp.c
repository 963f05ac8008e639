/*
 * The control socket's protocol (src/qmp.c) with the real command table
 * (src/qmp_commands.c) and no VM attached, as a hostile client drives it:
 * bytes in pieces of any size.
 *
 * Input: u8 flags (1: negotiated first; 2: an "echo" command that returns
 * its arguments besides the real table; 4: the bytes are sent 16 times
 * over, so that small inputs reach the 64 KiB request limit), u8 piece size
 * (0: all at once), then the client's bytes.
 *
 * Checks: every output line ends in \r\n and is a JSON object holding one
 * of "QMP", "return", "error" (with a string class and desc); the session
 * asks to be dropped exactly when feed says so, and writes nothing after;
 * a request is never answered twice; no more output than input allows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kvmrun/control.h"
#include "kvmrun/qmp.h"

static char *out;
static size_t out_len, out_cap;
static bool closed_seen;

static void out_write(void *opaque, const char *buf, size_t len)
{
	(void)opaque;
	FUZZ_CHECK(!closed_seen, "output after the session closed");
	if (out_len + len > out_cap) {
		out_cap = (out_len + len) * 2;
		out = realloc(out, out_cap);
		FUZZ_CHECK(out, "out of memory");
	}
	memcpy(out + out_len, buf, len);
	out_len += len;
}

static int echo_dispatch(void *opaque, const char *name, struct json_object *args,
			 struct json_object **ret, char *desc, size_t desclen)
{
	(void)opaque;
	if (!strcmp(name, "echo")) {
		*ret = json_object_get(args);
		return 0;
	}
	return qmp_commands_dispatch(NULL, name, args, ret, desc, desclen);
}

static void check_output(size_t in_len)
{
	size_t at = 0, lines = 0;

	while (at < out_len) {
		char *nl = memchr(out + at, '\n', out_len - at);
		struct json_object *o, *e, *v;

		FUZZ_CHECK(nl && nl > out + at && nl[-1] == '\r', "a line without \\r\\n");
		*nl = 0;
		o = json_tokener_parse(out + at);
		FUZZ_CHECK(o && json_object_is_type(o, json_type_object), "not a JSON object: %s",
			   out + at);
		if (json_object_object_get_ex(o, "error", &e)) {
			FUZZ_CHECK(json_object_object_get_ex(e, "class", &v) &&
				   json_object_is_type(v, json_type_string), "error without class");
			FUZZ_CHECK(json_object_object_get_ex(e, "desc", &v) &&
				   json_object_is_type(v, json_type_string), "error without desc");
		} else {
			FUZZ_CHECK(json_object_object_get_ex(o, "return", NULL) ||
				   json_object_object_get_ex(o, "QMP", NULL), "neither return nor error");
		}
		json_object_put(o);
		at = (size_t)(nl - out) + 1;
		lines++;
	}
	/* The greeting, then at most one line per input byte (a request is >= 2 bytes: "{}"). */
	FUZZ_CHECK(lines <= 2 + in_len, "%zu lines for %zu bytes", lines, in_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = in_u8(&in), piece = in_u8(&in);
	struct qmp_session s;
	int r = 0;

	out_len = 0;
	closed_seen = false;
	FUZZ_CHECK(!qmp_session_init(&s, out_write, NULL,
				     flags & 2 ? echo_dispatch : qmp_commands_dispatch, NULL),
		   "session init");
	qmp_session_greet(&s);
	if (flags & 1) {
		static const char neg[] = "{\"execute\": \"qmp_capabilities\"}\n";

		FUZZ_CHECK(!qmp_session_feed(&s, neg, sizeof(neg) - 1) && s.negotiated,
			   "negotiation failed");
	}
	for (unsigned round = 0; round < (flags & 4 ? 16u : 1u) && !r; round++) {
		struct fuzz_in body = in;

		while (body.n && !r) {
			size_t n = piece && piece < body.n ? piece : body.n;

			r = qmp_session_feed(&s, body.p, n);
			body.p += n;
			body.n -= n;
			FUZZ_CHECK(r == 0 || r == -EPROTO, "feed returned %d", r);
			FUZZ_CHECK((r != 0) == s.closed, "feed %d but closed %d", r, s.closed);
			closed_seen = s.closed;
		}
	}
	if (r)
		FUZZ_CHECK(qmp_session_feed(&s, "{}", 2) == -EPROTO, "a closed session took input");
	check_output(flags & 4 ? 16 * size : size);
	qmp_session_destroy(&s);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	return 0;
}
