/*
 * The threaded engine: reads and writes run on a pool of I/O threads, so that
 * with O_DIRECT (where every request waits for the disk) a queue's requests
 * are in flight together.  They start in submission order and finish in any
 * order; finished requests wait on a list, announced by an eventfd, until
 * the owner's thread collects them (block_complete), so that done callbacks
 * never run on an I/O thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/block.h"
#include "kvmrun/log.h"
#include "kvmrun/sandbox.h"

struct threads {
	struct block_engine e;
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	struct block_req *pending, **pending_tail, *done;
	unsigned busy;			/* requests an I/O thread holds */
	bool stop;
	pthread_t *threads;
	uint8_t **bounce;		/* one per I/O thread, and the owner's */
	unsigned nr_threads, nr_bounce, next_bounce;
	char thread_name[48];		/* for the seccomp report */
};

static void *io_thread(void *arg)
{
	struct threads *t = arg;
	uint64_t one = 1;
	uint8_t *bounce;

	pthread_mutex_lock(&t->lock);
	bounce = t->bounce[t->next_bounce++];
	pthread_mutex_unlock(&t->lock);
	if (sandbox_enter(SANDBOX_DEVICE, t->thread_name)) {
		log_err("%s: an I/O thread stops", t->e.disk->name);
		return NULL;
	}
	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->stop && !t->pending)
			pthread_cond_wait(&t->work, &t->lock);
		if (t->stop)
			break;
		struct block_req *req = t->pending;

		t->pending = req->next;
		if (!t->pending)
			t->pending_tail = &t->pending;
		t->busy++;
		pthread_mutex_unlock(&t->lock);
		req->result = block_disk_run(t->e.disk, req, bounce);
		pthread_mutex_lock(&t->lock);
		req->next = t->done;
		t->done = req;
		if (!--t->busy)
			pthread_cond_broadcast(&t->idle);
		if (write(t->e.event_fd, &one, sizeof(one)) < 0)
			log_debug("%s: completion eventfd: %s", t->e.disk->name, strerror(errno));
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void threads_submit(struct block_engine *e, struct block_req *req, unsigned flags)
{
	struct threads *t = (struct threads *)e;

	e->inflight++;
	/* A lone request runs right here: the hand-over would only add two wake-ups. */
	if ((req->op != BLOCK_OP_READ && req->op != BLOCK_OP_WRITE) ||
	    (!(flags & BLOCK_SUBMIT_MORE) && e->inflight == 1)) {
		req->result = block_disk_run(e->disk, req, e->bounce);
		e->inflight--;
		req->done(req, req->result);
		return;
	}
	pthread_mutex_lock(&t->lock);
	req->next = NULL;
	*t->pending_tail = req;
	t->pending_tail = &req->next;
	pthread_cond_signal(&t->work);
	pthread_mutex_unlock(&t->lock);
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

static void complete_list(struct block_engine *e, struct block_req *list, bool cancelled)
{
	while (list) {
		struct block_req *req = list;

		list = req->next;
		e->inflight--;
		req->done(req, cancelled ? -ECANCELED : req->result);
	}
}

static void threads_complete(struct block_engine *e)
{
	struct threads *t = (struct threads *)e;
	struct block_req *done;

	drain(e->event_fd);
	pthread_mutex_lock(&t->lock);
	done = t->done;
	t->done = NULL;
	pthread_mutex_unlock(&t->lock);
	complete_list(e, done, false);
}

/* Every request runs to its end; the engine stopping (teardown) is the only way out. */
static void threads_drain(struct block_engine *e)
{
	struct threads *t = (struct threads *)e;

	pthread_mutex_lock(&t->lock);
	while (!t->stop && (t->busy || t->pending))
		pthread_cond_wait(&t->idle, &t->lock);
	pthread_mutex_unlock(&t->lock);
	threads_complete(e);
}

/* Requests on the disk cannot be called back: wait for them, and drop those not started. */
static void threads_cancel(struct block_engine *e)
{
	struct threads *t = (struct threads *)e;
	struct block_req *pending, *done;

	pthread_mutex_lock(&t->lock);
	while (t->busy)
		pthread_cond_wait(&t->idle, &t->lock);
	pending = t->pending;
	done = t->done;
	t->pending = t->done = NULL;
	t->pending_tail = &t->pending;
	pthread_mutex_unlock(&t->lock);
	drain(e->event_fd);
	complete_list(e, pending, true);
	complete_list(e, done, false);
}

static void threads_destroy(struct block_engine *e)
{
	struct threads *t = (struct threads *)e;

	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->work);
	pthread_mutex_unlock(&t->lock);
	for (unsigned i = 0; i < t->nr_threads; i++)
		pthread_join(t->threads[i], NULL);
	if (e->event_fd >= 0)
		close(e->event_fd);
	pthread_cond_destroy(&t->work);
	pthread_cond_destroy(&t->idle);
	pthread_mutex_destroy(&t->lock);
	for (unsigned i = 0; i < t->nr_bounce; i++)
		free(t->bounce[i]);
	free(t->bounce);
	free(t->threads);
	free(t);
}

static const struct block_engine_ops threads_ops = {
	.submit = threads_submit,
	.complete = threads_complete,
	.cancel = threads_cancel,
	.drain = threads_drain,
	.destroy = threads_destroy,
};

int block_engine_threads_create(struct block_disk *disk, unsigned nr_threads,
				struct block_engine **out)
{
	struct threads *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->e.ops = &threads_ops;
	t->e.disk = disk;
	t->pending_tail = &t->pending;
	snprintf(t->thread_name, sizeof(t->thread_name), "%s-io", disk->name);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->work, NULL);
	pthread_cond_init(&t->idle, NULL);
	t->threads = calloc(nr_threads ? nr_threads : 1, sizeof(*t->threads));
	/* Bounce buffers: one per I/O thread, the last for requests run on the owner's thread. */
	t->bounce = calloc(nr_threads + 1, sizeof(*t->bounce));
	t->e.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!t->threads || !t->bounce || t->e.event_fd < 0) {
		r = t->threads && t->bounce ? -errno : -ENOMEM;
		goto fail;
	}
	for (t->nr_bounce = 0; t->nr_bounce < nr_threads + 1; t->nr_bounce++)
		if (!(t->bounce[t->nr_bounce] = block_bounce_alloc())) {
			r = -ENOMEM;
			goto fail;
		}
	t->e.bounce = t->bounce[nr_threads];
	for (; t->nr_threads < nr_threads; t->nr_threads++) {
		r = pthread_create(&t->threads[t->nr_threads], NULL, io_thread, t);
		if (r) {
			r = -r;
			goto fail;
		}
	}
	*out = &t->e;
	return 0;
fail:
	log_err("%s: cannot start its I/O threads: %s", disk->name, strerror(-r));
	threads_destroy(&t->e);
	return r;
}
