/*
 * `kvmrun ctl SOCKET COMMAND [KEY=VALUE...]`: a QMP client for one command,
 * so that nobody needs socat.  Values are integers, true/false, or strings;
 * `snapshot DIR` is short for `snapshot-save path=DIR`; `events` prints
 * every event until the VM ends.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kvmrun/control.h"

#define LINE_MAX_BYTES	(4 * 1024 * 1024)
#define JSON_OUT	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char usage[] = "usage: kvmrun ctl SOCKET COMMAND [KEY=VALUE...] (or SOCKET events, "
			    "SOCKET snapshot DIR)";

struct conn {
	int fd;
	char *buf;
	size_t len;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("kvmrun: ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* The next line from the server as JSON; NULL at its end (*eof) or on garbage. */
static struct json_object *next_msg(struct conn *c, bool *eof)
{
	*eof = false;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl) {
			struct json_object *o;
			size_t n = (size_t)(nl - c->buf) + 1;

			*nl = 0;
			o = json_tokener_parse(c->buf);
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			if (o)
				return o;
			continue;
		}
		if (c->len == LINE_MAX_BYTES) {
			*eof = true;	/* not a QMP server */
			return NULL;
		}
		ssize_t r = read(c->fd, c->buf + c->len, LINE_MAX_BYTES - c->len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*eof = true;
			return NULL;
		}
		c->len += (size_t)r;
	}
}

static int send_msg(struct conn *c, struct json_object *o)
{
	size_t len;
	const char *t = json_object_to_json_string_length(o, JSON_OUT, &len);

	while (len) {
		ssize_t n = send(c->fd, t, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		t += n;
		len -= (size_t)n;
	}
	return send(c->fd, "\n", 1, MSG_NOSIGNAL) == 1 ? 0 : -EPIPE;
}

/* Waits for the reply to the request just sent; events before it are skipped (printed if echo). */
static int reply(struct conn *c, struct json_object **ret, bool echo_events)
{
	for (;;) {
		struct json_object *m, *v;
		bool eof;

		m = next_msg(c, &eof);
		if (!m)
			return fail("the connection closed before the reply");
		if (json_object_object_get_ex(m, "return", &v)) {
			*ret = json_object_get(v);
			json_object_put(m);
			return 0;
		}
		if (json_object_object_get_ex(m, "error", &v)) {
			struct json_object *d;
			const char *desc = json_object_object_get_ex(v, "desc", &d) ?
					   json_object_get_string(d) : "error without description";

			fail("%s", desc);
			json_object_put(m);
			return 1;
		}
		if (echo_events && json_object_object_get_ex(m, "event", &v)) {
			puts(json_object_to_json_string_ext(m, JSON_OUT));
			fflush(stdout);
		}
		json_object_put(m);
	}
}

/* KEY=VALUE: an integer, true/false, else a string. */
static struct json_object *value(const char *s)
{
	char *end;
	long long v;

	if (!strcmp(s, "true") || !strcmp(s, "false"))
		return json_object_new_boolean(s[0] == 't');
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s && !*end && !errno && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return json_object_new_int64(v);
	return json_object_new_string(s);
}

static int build_request(int argc, char **argv, struct json_object **req)
{
	const char *cmd = argv[1];
	struct json_object *args = json_object_new_object();

	*req = json_object_new_object();
	if (!*req || !args) {
		json_object_put(args);
		return fail("out of memory");
	}
	if (!strcmp(cmd, "snapshot")) {
		if (argc < 3 || strchr(argv[2], '=')) {
			json_object_put(args);
			return fail("snapshot DIR: missing DIR");
		}
		cmd = "snapshot-save";
		json_object_object_add(args, "path", json_object_new_string(argv[2]));
		argc--;
		argv++;
	}
	for (int i = 2; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		char key[128];

		if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(key)) {
			json_object_put(args);
			return fail("'%s': expected KEY=VALUE", argv[i]);
		}
		memcpy(key, argv[i], (size_t)(eq - argv[i]));
		key[eq - argv[i]] = 0;
		json_object_object_add(args, key, value(eq + 1));
	}
	json_object_object_add(*req, "execute", json_object_new_string(cmd));
	json_object_object_add(*req, "arguments", args);
	json_object_object_add(*req, "id", json_object_new_int(1));
	return 0;
}

int ctl_main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct conn c = { .fd = -1 };
	struct json_object *req = NULL, *neg, *ret = NULL, *m;
	bool events, eof;
	int status = 1, r;

	if (argc < 2)
		return fail("%s", usage);
	events = !strcmp(argv[1], "events");
	if (events && argc > 2)
		return fail("events takes no arguments");
	if (strlen(argv[0]) >= sizeof(sa.sun_path))
		return fail("%s: socket path too long", argv[0]);
	if (!events && build_request(argc, argv, &req)) {
		json_object_put(req);
		return 1;
	}
	strcpy(sa.sun_path, argv[0]);
	c.buf = malloc(LINE_MAX_BYTES);
	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!c.buf || c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fail("%s: %s", argv[0], strerror(errno));
		goto out;
	}
	m = next_msg(&c, &eof);
	if (!m || !json_object_object_get_ex(m, "QMP", NULL)) {
		json_object_put(m);
		fail("%s: no QMP greeting", argv[0]);
		goto out;
	}
	json_object_put(m);
	neg = json_tokener_parse("{\"execute\": \"qmp_capabilities\"}");
	r = neg ? send_msg(&c, neg) : -ENOMEM;
	json_object_put(neg);
	if (r) {
		fail("%s: %s", argv[0], strerror(-r));
		goto out;
	}
	if (reply(&c, &ret, false))
		goto out;
	json_object_put(ret);
	ret = NULL;
	if (events) {
		/* Until the server closes: the VM ended. */
		while ((m = next_msg(&c, &eof))) {
			if (json_object_object_get_ex(m, "event", NULL)) {
				puts(json_object_to_json_string_ext(m, JSON_OUT));
				fflush(stdout);
			}
			json_object_put(m);
		}
		status = 0;
		goto out;
	}
	r = send_msg(&c, req);
	if (r) {
		fail("%s: %s", argv[0], strerror(-r));
		goto out;
	}
	if (reply(&c, &ret, false))
		goto out;
	puts(json_object_to_json_string_ext(ret, JSON_OUT));
	status = 0;
out:
	json_object_put(ret);
	json_object_put(req);
	if (c.fd >= 0)
		close(c.fd);
	free(c.buf);
	return status;
}
