/*
 * The QMP session (src/qmp.c) and the command table without a VM
 * (src/qmp_commands.c): framing, negotiation, errors, ids, limits, garbage.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/control.h"
#include "kvmrun/qmp.h"
#include "testlib.h"

static struct qmp_session s;
static char out[1 << 20];
static size_t out_len, out_at;	/* written, and read by next_line */
static unsigned dispatched;

static void out_write(void *opaque, const char *buf, size_t len)
{
	(void)opaque;
	ck_assert_uint_le(out_len + len, sizeof(out));
	memcpy(out + out_len, buf, len);
	out_len += len;
}

/* A fake table: "echo" returns its arguments, "fail" an error, "enoent" a missing file. */
static int fake_dispatch(void *opaque, const char *name, struct json_object *args,
			 struct json_object **ret, char *desc, size_t desclen)
{
	(void)opaque;
	dispatched++;
	if (!strcmp(name, "echo")) {
		*ret = json_object_get(args);
		return 0;
	}
	if (!strcmp(name, "fail")) {
		snprintf(desc, desclen, "it failed");
		return -EIO;
	}
	if (!strcmp(name, "quiet-fail"))
		return -EPERM;
	return -ENOENT;
}

static void setup(void)
{
	out_len = out_at = 0;
	dispatched = 0;
	ck_assert_int_eq(qmp_session_init(&s, out_write, NULL, fake_dispatch, NULL), 0);
}

static void teardown(void)
{
	qmp_session_destroy(&s);
}

/* The next line of output, parsed (the caller puts it); every line ends in \r\n. */
static struct json_object *next_line(void)
{
	char *nl;
	struct json_object *o;

	if (out_at == out_len)
		return NULL;
	nl = memchr(out + out_at, '\n', out_len - out_at);
	ck_assert_ptr_nonnull(nl);
	ck_assert_int_eq(nl[-1], '\r');
	*nl = 0;
	o = json_tokener_parse(out + out_at);
	*nl = '\n';
	ck_assert_ptr_nonnull(o);
	out_at = (size_t)(nl - out) + 1;
	return o;
}

static void drain(void)
{
	struct json_object *o;

	while ((o = next_line()))
		json_object_put(o);
	out_len = out_at = 0;
}

static int feed(const char *text)
{
	return qmp_session_feed(&s, text, strlen(text));
}

/* The one reply line: its error class (or "return"), and its desc into desc. */
static const char *reply_kind(char *desc, size_t len, struct json_object **id_out)
{
	static char kind[64];
	struct json_object *o = next_line(), *v, *c;

	ck_assert_ptr_nonnull(o);
	kind[0] = desc[0] = 0;
	if (id_out)
		*id_out = json_object_object_get_ex(o, "id", &v) ? json_object_get(v) : NULL;
	if (json_object_object_get_ex(o, "return", &v)) {
		snprintf(kind, sizeof(kind), "return");
		snprintf(desc, len, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	} else {
		ck_assert(json_object_object_get_ex(o, "error", &v));
		ck_assert(json_object_object_get_ex(v, "class", &c));
		snprintf(kind, sizeof(kind), "%s", json_object_get_string(c));
		ck_assert(json_object_object_get_ex(v, "desc", &c));
		snprintf(desc, len, "%s", json_object_get_string(c));
	}
	json_object_put(o);
	return kind;
}

static void negotiate(void)
{
	char d[256];

	qmp_session_greet(&s);
	drain();
	ck_assert_int_eq(feed("{\"execute\": \"qmp_capabilities\"}\n"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "return");
	ck_assert_str_eq(d, "{}");
	drain();
}

START_TEST(greeting_and_negotiation)
{
	struct json_object *g, *q, *v;
	char d[256];

	qmp_session_greet(&s);
	g = next_line();
	ck_assert(json_object_object_get_ex(g, "QMP", &q));
	ck_assert(json_object_object_get_ex(q, "version", &v));
	ck_assert(json_object_object_get_ex(q, "capabilities", &v));
	ck_assert(json_object_is_type(v, json_type_array));
	json_object_put(g);
	/* Commands before negotiation: CommandNotFound, nothing run. */
	ck_assert_int_eq(feed("{\"execute\": \"echo\"}"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "CommandNotFound");
	ck_assert_ptr_nonnull(strstr(d, "qmp_capabilities"));
	ck_assert_uint_eq(dispatched, 0);
	ck_assert(!s.negotiated);
	/* A capability that is not offered. */
	ck_assert_int_eq(feed("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");
	ck_assert(!s.negotiated);
	ck_assert_int_eq(feed("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}}"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "return");
	ck_assert(s.negotiated);
	ck_assert_int_eq(feed("{\"execute\": \"qmp_capabilities\"}"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "CommandNotFound");
}
END_TEST

START_TEST(ids_are_echoed)
{
	struct json_object *id;
	char d[256];

	negotiate();
	ck_assert_int_eq(feed("{\"execute\": \"echo\", \"arguments\": {\"a\": [1, 2]}, "
			      "\"id\": {\"x\": \"y\"}}\r\n"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), &id), "return");
	ck_assert_str_eq(d, "{\"a\":[1,2]}");
	ck_assert_str_eq(json_object_to_json_string_ext(id, JSON_C_TO_STRING_PLAIN), "{\"x\":\"y\"}");
	json_object_put(id);
	ck_assert_int_eq(feed("{\"execute\": \"fail\", \"id\": 7}"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), &id), "GenericError");
	ck_assert_str_eq(d, "it failed");
	ck_assert_int_eq(json_object_get_int(id), 7);
	json_object_put(id);
	ck_assert_int_eq(feed("{\"id\": \"abc\", \"execute\": \"nope\"}"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), &id), "CommandNotFound");
	ck_assert_str_eq(d, "The command nope has not been found");
	ck_assert_str_eq(json_object_get_string(id), "abc");
	json_object_put(id);
	/* No desc from the command: strerror. */
	ck_assert_int_eq(feed("{\"execute\": \"quiet-fail\"}"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), &id), "GenericError");
	ck_assert_str_eq(d, "Operation not permitted");
	ck_assert_ptr_null(id);
}
END_TEST

START_TEST(framing_split_and_batched)
{
	const char *req = "{\"execute\": \"echo\", \"arguments\": {\"k\": \"v\"}, \"id\": 1}";
	char d[256];

	negotiate();
	/* One byte at a time. */
	for (const char *p = req; *p; p++)
		ck_assert_int_eq(qmp_session_feed(&s, p, 1), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "return");
	ck_assert_str_eq(d, "{\"k\":\"v\"}");
	/* Three in one read, blank lines between them. */
	ck_assert_int_eq(feed("{\"execute\": \"echo\"}\n\n\r\n{\"execute\": \"echo\"} "
			      "{\"execute\": \"echo\", \"arguments\": {\"n\": 3}}\n"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "return");
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "return");
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "return");
	ck_assert_str_eq(d, "{\"n\":3}");
	ck_assert_uint_eq(dispatched, 4);
}
END_TEST

START_TEST(malformed_requests)
{
	static const struct {
		const char *in, *desc;
	} cases[] = {
		{ "[1, 2]", "QMP input must be a JSON object" },
		{ "\"execute\"\n", "QMP input must be a JSON object" },
		{ "{}", "QMP input lacks member 'execute'" },
		{ "{\"execute\": 1}", "QMP input member 'execute' must be a string" },
		{ "{\"execute\": \"echo\", \"arguments\": []}",
		  "QMP input member 'arguments' must be an object" },
		{ "{\"execute\": \"echo\", \"extra\": 1}", "QMP input member 'extra' is unexpected" },
	};
	char d[256];

	negotiate();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(feed(cases[i].in), 0);
		ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");
		ck_assert_str_eq(d, cases[i].desc);
	}
	ck_assert_uint_eq(dispatched, 0);
}
END_TEST

/* Garbage is answered once per line and the rest of the line skipped; the session goes on. */
START_TEST(garbage_then_a_request)
{
	char d[256];

	negotiate();
	ck_assert_int_eq(feed("hello there {\"execute\": \"echo\"}\n"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");
	ck_assert_ptr_nonnull(strstr(d, "JSON parse error"));
	ck_assert_ptr_null(next_line());
	ck_assert_int_eq(feed("{\"execute\": \"echo\", \"arguments\": {\"a\": 1,}}\n"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");
	ck_assert_int_eq(feed("{\"execute\": \"echo\", \"arguments\": {\"s\": \"\xff\xfe\"}}\n"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");
	ck_assert_ptr_nonnull(strstr(d, "utf-8"));
	ck_assert_int_eq(qmp_session_feed(&s, "{\"a\0\"}\n", 8), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");
	/* A raw newline inside a string ends that line's garbage, not the next line. */
	ck_assert_int_eq(feed("{\"execute\": \"ec\nho\"}\n{\"execute\": \"echo\", \"id\": 2}\n"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");	/* ho"} */
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "return");
	ck_assert_uint_eq(dispatched, 1);
	ck_assert(!s.closed);
}
END_TEST

START_TEST(nesting_limit)
{
	char req[256], d[256];
	size_t n = 0;

	negotiate();
	n += (size_t)snprintf(req, sizeof(req), "{\"execute\": \"echo\", \"arguments\": {\"a\": ");
	for (int i = 0; i < QMP_MAX_DEPTH; i++)
		req[n++] = '[';
	for (int i = 0; i < QMP_MAX_DEPTH; i++)
		req[n++] = ']';
	snprintf(req + n, sizeof(req) - n, "}}\n");
	ck_assert_int_eq(feed(req), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");
	ck_assert_ptr_nonnull(strstr(d, "nesting too deep"));
	ck_assert_int_eq(feed("{\"execute\": \"echo\", \"arguments\": {\"a\": [[[1]]]}}\n"), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "return");
}
END_TEST

/* A request longer than the limit is answered and ends the session, fed whole or in pieces. */
START_TEST(huge_request_closes)
{
	size_t len = 1 << 20;
	char *big = malloc(len + 1), d[256];

	ck_assert_ptr_nonnull(big);
	negotiate();
	memset(big, 'a', len);
	memcpy(big, "{\"execute\": \"echo\", \"arguments\": {\"s\": \"", 40);
	big[len] = 0;
	ck_assert_int_eq(qmp_session_feed(&s, big, len), -EPROTO);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");
	ck_assert_ptr_nonnull(strstr(d, "longer than 65536"));
	ck_assert_ptr_null(next_line());
	ck_assert(s.closed);
	ck_assert_int_eq(feed("{\"execute\": \"echo\"}\n"), -EPROTO);
	ck_assert_ptr_null(next_line());
	ck_assert_uint_eq(dispatched, 0);

	/* A 1 MiB line of garbage, 4 KiB per read, after a new session. */
	qmp_session_destroy(&s);
	setup();
	negotiate();
	memset(big, 'x', len);
	size_t off = 0;
	int r = 0;

	while (off < len && !r) {
		r = qmp_session_feed(&s, big + off, 4096);
		off += 4096;
	}
	ck_assert_int_eq(r, -EPROTO);
	ck_assert_uint_le(off, QMP_MAX_REQUEST + 8192);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");	/* parse error */
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "GenericError");	/* too long */
	ck_assert_ptr_nonnull(strstr(d, "longer than"));
	free(big);
}
END_TEST

/* Just under the limit is fine. */
START_TEST(large_request_under_limit)
{
	size_t len = QMP_MAX_REQUEST - 100;
	char *big = malloc(len + 1), d[256];

	ck_assert_ptr_nonnull(big);
	negotiate();
	memset(big, 'a', len);
	memcpy(big, "{\"execute\": \"echo\", \"arguments\": {\"s\": \"", 40);
	memcpy(big + len - 4, "\"}}\n", 4);
	big[len] = 0;
	ck_assert_int_eq(qmp_session_feed(&s, big, len), 0);
	ck_assert_str_eq(reply_kind(d, sizeof(d), NULL), "return");
	ck_assert(!s.closed);
	free(big);
}
END_TEST

START_TEST(event_lines)
{
	struct timespec ts = { 1700000000, 123456789 };
	struct json_object *o, *v, *t;
	size_t len;
	char *line = qmp_event_line("STOP", NULL, &ts, &len);

	ck_assert_ptr_nonnull(line);
	ck_assert_uint_eq(strlen(line), len);
	ck_assert_str_eq(line + len - 2, "\r\n");
	o = json_tokener_parse(line);
	ck_assert(json_object_object_get_ex(o, "event", &v));
	ck_assert_str_eq(json_object_get_string(v), "STOP");
	ck_assert(!json_object_object_get_ex(o, "data", &v));
	ck_assert(json_object_object_get_ex(o, "timestamp", &t));
	ck_assert(json_object_object_get_ex(t, "seconds", &v));
	ck_assert_int_eq(json_object_get_int64(v), 1700000000);
	ck_assert(json_object_object_get_ex(t, "microseconds", &v));
	ck_assert_int_eq(json_object_get_int64(v), 123456);
	json_object_put(o);
	free(line);

	line = qmp_event_line("SHUTDOWN", "{\"guest\": true, \"reason\": \"guest-shutdown\"}", &ts,
			      &len);
	o = json_tokener_parse(line);
	ck_assert(json_object_object_get_ex(o, "data", &v));
	ck_assert(json_object_object_get_ex(v, "reason", &t));
	ck_assert_str_eq(json_object_get_string(t), "guest-shutdown");
	json_object_put(o);
	free(line);
	/* Data that is not an object is left out. */
	line = qmp_event_line("RESET", "[1", &ts, &len);
	ck_assert_ptr_null(strstr(line, "data"));
	free(line);
}
END_TEST

/* The real command table with no VM: arguments checked as QEMU does, VM commands refused. */
START_TEST(commands_without_vm)
{
	struct json_object *ret = NULL, *args = json_object_new_object(), *v;
	char d[QMP_DESC_MAX];

	d[0] = 0;
	ck_assert_int_eq(qmp_commands_dispatch(NULL, "query-status", args, &ret, d, sizeof(d)), 0);
	ck_assert(json_object_object_get_ex(ret, "status", &v));
	ck_assert_str_eq(json_object_get_string(v), "prelaunch");
	ck_assert(json_object_object_get_ex(ret, "running", &v));
	ck_assert(!json_object_get_boolean(v));
	json_object_put(ret);
	ret = NULL;
	ck_assert_int_eq(qmp_commands_dispatch(NULL, "query-commands", args, &ret, d, sizeof(d)), 0);
	ck_assert_uint_ge(json_object_array_length(ret), 14);
	json_object_put(ret);
	ret = NULL;
	ck_assert_int_eq(qmp_commands_dispatch(NULL, "stop", args, &ret, d, sizeof(d)), -ESRCH);
	ck_assert_ptr_nonnull(strstr(d, "no VM is running"));
	ck_assert_int_eq(qmp_commands_dispatch(NULL, "frobnicate", args, &ret, d, sizeof(d)), -ENOENT);

	json_object_object_add(args, "bogus", json_object_new_int(1));
	ck_assert_int_eq(qmp_commands_dispatch(NULL, "quit", args, &ret, d, sizeof(d)), -EINVAL);
	ck_assert_str_eq(d, "Parameter 'bogus' is unexpected");
	json_object_put(args);

	args = json_object_new_object();
	ck_assert_int_eq(qmp_commands_dispatch(NULL, "snapshot-save", args, &ret, d, sizeof(d)),
			 -EINVAL);
	ck_assert_str_eq(d, "Parameter 'path' is missing");
	json_object_object_add(args, "path", json_object_new_int(3));
	ck_assert_int_eq(qmp_commands_dispatch(NULL, "snapshot-save", args, &ret, d, sizeof(d)),
			 -EINVAL);
	ck_assert_str_eq(d, "Invalid parameter type for 'path', expected: string");
	json_object_put(args);
	ck_assert_ptr_null(ret);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("qmp");
	TCase *tc = tcase_create("session");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, greeting_and_negotiation);
	tcase_add_test(tc, ids_are_echoed);
	tcase_add_test(tc, framing_split_and_batched);
	tcase_add_test(tc, malformed_requests);
	tcase_add_test(tc, garbage_then_a_request);
	tcase_add_test(tc, nesting_limit);
	tcase_add_test(tc, huge_request_closes);
	tcase_add_test(tc, large_request_under_limit);
	tcase_add_test(tc, event_lines);
	tcase_add_test(tc, commands_without_vm);
	suite_add_tcase(su, tc);
	return testlib_run(su);
}
