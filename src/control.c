/* The control socket's server (control.h): one thread, poll() over the listener and clients. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/control.h"
#include "kvmrun/log.h"
#include "kvmrun/qmp.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/vm.h"

#define READ_CHUNK	4096

struct control_server;

struct control_client {
	struct control_server *srv;
	int fd;				/* -1: a free slot */
	struct qmp_session qmp;
	char *out;			/* CONTROL_OUT_MAX bytes */
	size_t out_len;
	bool events;			/* negotiated: gets events */
	bool overflow;			/* did not read: dropped */
	bool closing;			/* the session ended: dropped once its output is sent */
};

struct control_server {
	int lfd, wake_efd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	pthread_t thread;
	bool started;
	atomic_bool stopping;
	pthread_mutex_t lock;		/* the clients' output buffers and events flags */
	pthread_mutex_t vm_lock;	/* target; held while a command runs */
	struct qmp_target target;
	struct control_client clients[CONTROL_MAX_CLIENTS];
};

static void wake(struct control_server *s)
{
	uint64_t one = 1;

	if (write(s->wake_efd, &one, sizeof(one)) < 0) {
		/* A saturated counter is a wake-up already pending. */
	}
}

/* Queues bytes for a client; called with s->lock held.  Full: the client is dropped. */
static void queue_locked(struct control_client *c, const char *buf, size_t len)
{
	if (c->fd < 0 || c->overflow)
		return;
	if (len > CONTROL_OUT_MAX - c->out_len) {
		c->overflow = true;
		return;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
}

/* qmp_write_fn: replies, on the control thread. */
static void session_write(void *opaque, const char *buf, size_t len)
{
	struct control_client *c = opaque;

	pthread_mutex_lock(&c->srv->lock);
	queue_locked(c, buf, len);
	pthread_mutex_unlock(&c->srv->lock);
}

/* vm_events.emit: any thread; never blocks on a client. */
static void control_emit(void *opaque, const char *event, const char *data_json)
{
	struct control_server *s = opaque;
	struct timespec now;
	size_t len;
	char *line;

	clock_gettime(CLOCK_REALTIME, &now);
	line = qmp_event_line(event, data_json, &now, &len);
	if (!line)
		return;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0 && s->clients[i].events)
			queue_locked(&s->clients[i], line, len);
	pthread_mutex_unlock(&s->lock);
	free(line);
	wake(s);
}

static void client_close(struct control_server *s, struct control_client *c)
{
	pthread_mutex_lock(&s->lock);
	close(c->fd);
	c->fd = -1;
	c->events = false;
	free(c->out);
	c->out = NULL;
	c->out_len = 0;
	pthread_mutex_unlock(&s->lock);
	qmp_session_destroy(&c->qmp);
}

/* Sends what the client takes now.  0, or -errno when it is gone. */
static int client_flush(struct control_server *s, struct control_client *c)
{
	int r = 0;

	pthread_mutex_lock(&s->lock);
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				r = -errno;
			break;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void client_accept(struct control_server *s)
{
	static const char busy[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": "
				   "\"too many clients\"}}\r\n";
	struct control_client *c = NULL;
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS && !c; i++)
		if (s->clients[i].fd < 0)
			c = &s->clients[i];
	if (!c) {
		if (send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* It is being turned away anyway. */
		}
		close(fd);
		return;
	}
	c->srv = s;
	c->out = malloc(CONTROL_OUT_MAX);
	if (!c->out || qmp_session_init(&c->qmp, session_write, c, qmp_commands_dispatch, NULL)) {
		free(c->out);
		c->out = NULL;
		close(fd);
		return;
	}
	pthread_mutex_lock(&s->lock);
	c->fd = fd;
	c->out_len = 0;
	c->overflow = c->closing = c->events = false;
	pthread_mutex_unlock(&s->lock);
	qmp_session_greet(&c->qmp);
}

/* Reads what the client sent and runs its requests against the attached VM. */
static void client_read(struct control_server *s, struct control_client *c)
{
	char buf[READ_CHUNK];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	int r;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(s, c);	/* gone, also in the middle of a request */
		return;
	}
	pthread_mutex_lock(&s->vm_lock);
	c->qmp.dispatch_opaque = &s->target;
	r = qmp_session_feed(&c->qmp, buf, (size_t)n);
	pthread_mutex_unlock(&s->vm_lock);
	pthread_mutex_lock(&s->lock);
	c->events = c->qmp.negotiated;
	pthread_mutex_unlock(&s->lock);
	if (r)
		c->closing = true;
}

/* Closes the listener and removes the socket this run made (another run may have replaced it). */
static void remove_socket(struct control_server *s)
{
	struct stat st;

	if (s->lfd < 0)
		return;
	close(s->lfd);
	s->lfd = -1;
	if (!stat(s->path, &st) && st.st_dev == s->dev && st.st_ino == s->ino)
		unlinkat(AT_FDCWD, s->path, 0);
}

static void *control_thread(void *arg)
{
	struct control_server *s = arg;
	struct pollfd pfd[2 + CONTROL_MAX_CLIENTS];
	struct control_client *who[2 + CONTROL_MAX_CLIENTS];

	pthread_setname_np(pthread_self(), "control");
	if (sandbox_enter(SANDBOX_CONTROL, "control")) {
		remove_socket(s);	/* clients get "connection refused", not silence */
		return NULL;
	}
	while (!atomic_load(&s->stopping)) {
		nfds_t n = 2;

		pfd[0] = (struct pollfd){ s->wake_efd, POLLIN, 0 };
		pfd[1] = (struct pollfd){ s->lfd, POLLIN, 0 };
		pthread_mutex_lock(&s->lock);
		for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			struct control_client *c = &s->clients[i];

			if (c->fd < 0)
				continue;
			who[n] = c;
			pfd[n++] = (struct pollfd){ c->fd, (short)((c->closing ? 0 : POLLIN) |
						    (c->out_len ? POLLOUT : 0)), 0 };
		}
		pthread_mutex_unlock(&s->lock);
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("control socket: poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			uint64_t v;

			if (read(s->wake_efd, &v, sizeof(v)) < 0) {
				/* Nothing pending after all. */
			}
		}
		if (pfd[1].revents & POLLIN)
			client_accept(s);
		for (nfds_t i = 2; i < n; i++) {
			struct control_client *c = who[i];

			if (pfd[i].revents & POLLIN)
				client_read(s, c);
			else if (pfd[i].revents & (POLLHUP | POLLERR))
				client_close(s, c);
		}
		/* Replies and events, including those queued by other threads meanwhile. */
		for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			struct control_client *c = &s->clients[i];

			if (c->fd < 0)
				continue;
			if (c->overflow) {
				log_info("control socket: a client that does not read was dropped");
				client_close(s, c);
			} else if (client_flush(s, c) || (c->closing && !c->out_len)) {
				client_close(s, c);
			}
		}
	}
	/* Here, not in control_close: the main thread's filter has no unlink. */
	remove_socket(s);
	return NULL;
}

int control_open(struct control_server **out, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control_server *s;
	struct stat st;
	mode_t old;
	int r;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "--api %.64s...: a socket path is at most %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "--api %s: exists and is not a socket: not replacing it",
				 path);
			return -EEXIST;
		}
		/* A socket nobody answers on is left over from a run that ended: replaced. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0) {
			r = -errno;
			snprintf(err, errlen, "--api %s: socket: %s", path, strerror(-r));
			return r;
		}
		r = connect(probe, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
		close(probe);
		if (!r) {
			snprintf(err, errlen, "--api %s: another process is listening there", path);
			return -EADDRINUSE;
		}
		if (r != -ECONNREFUSED) {
			snprintf(err, errlen, "--api %s: %s", path, strerror(-r));
			return r;
		}
		if (unlink(path) && errno != ENOENT) {
			r = -errno;
			snprintf(err, errlen, "--api %s: removing the stale socket: %s", path,
				 strerror(-r));
			return r;
		}
	} else if (errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "--api %s: %s", path, strerror(-r));
		return r;
	}

	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "--api %s: out of memory", path);
		return -ENOMEM;
	}
	s->wake_efd = -1;
	strcpy(s->path, path);
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->vm_lock, NULL);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		r = -errno;
		snprintf(err, errlen, "--api %s: socket: %s", path, strerror(-r));
		goto fail;
	}
	/* Only this user may connect: the socket is created 0600. */
	old = umask(0177);
	r = bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!r && !stat(path, &st)) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	if (!r && listen(s->lfd, CONTROL_MAX_CLIENTS))
		r = -errno;
	if (r) {
		snprintf(err, errlen, "--api %s: %s", path, strerror(-r));
		goto fail;
	}
	s->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_efd < 0) {
		r = -errno;
		snprintf(err, errlen, "--api %s: eventfd: %s", path, strerror(-r));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	control_close(s);
	return r;
}

int control_start(struct control_server *s)
{
	int r = pthread_create(&s->thread, NULL, control_thread, s);

	if (r)
		return -r;
	s->started = true;
	return 0;
}

void control_attach(struct control_server *s, struct vm *vm)
{
	pthread_mutex_lock(&s->vm_lock);
	s->target.vm = vm;
	s->target.last_migration.state = MIGRATE_NONE;
	vm->events = (struct vm_events){ control_emit, s };
	pthread_mutex_unlock(&s->vm_lock);
}

void control_detach(struct control_server *s)
{
	/*
	 * The VM's own events (a SHUTDOWN during teardown) may still come: the
	 * server outlives every VM, so vm->events stays.
	 */
	pthread_mutex_lock(&s->vm_lock);
	/* A source whose guest moved away still answers query-migrate until it exits. */
	if (s->target.vm)
		vm_migrate_query(s->target.vm, &s->target.last_migration);
	s->target.vm = NULL;
	pthread_mutex_unlock(&s->vm_lock);
}

void control_close(struct control_server *s)
{
	if (!s)
		return;
	if (s->started) {
		atomic_store(&s->stopping, true);
		wake(s);
		pthread_join(s->thread, NULL);
	}
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0) {
			client_flush(s, &s->clients[i]);	/* what it takes at once: a quit's reply */
			client_close(s, &s->clients[i]);
		}
	remove_socket(s);
	if (s->wake_efd >= 0)
		close(s->wake_efd);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->vm_lock);
	free(s);
}
