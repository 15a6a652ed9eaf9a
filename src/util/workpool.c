/*
 * The worker-thread pool of util/workpool.h: one mutex guards the queue of
 * jobs to run and the list of finished ones; workers sleep on a condition
 * variable; each finished job adds one to an eventfd, which the owner's
 * event loop polls, and workpool_collect() resets it while taking the
 * whole finished list at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/workpool.h"

struct workpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct workpool_job *q_head, *q_tail;       /* to run */
	struct workpool_job *done_head, *done_tail; /* finished, not collected */
	bool stopping;
	int efd;
	size_t outstanding, max_jobs; /* the owner's thread alone changes these */
	unsigned nthreads;            /* started */
	pthread_t *threads;
};

static void push(struct workpool_job **head, struct workpool_job **tail, struct workpool_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void *worker(void *arg)
{
	struct workpool *wp = arg;
	const uint64_t one = 1;

	pthread_mutex_lock(&wp->mu);
	for (;;) {
		struct workpool_job *j;

		while (!wp->q_head && !wp->stopping)
			pthread_cond_wait(&wp->cv, &wp->mu);
		if (wp->stopping)
			break;
		j = wp->q_head;
		wp->q_head = j->next;
		if (!wp->q_head)
			wp->q_tail = NULL;
		pthread_mutex_unlock(&wp->mu);
		j->run(j);
		pthread_mutex_lock(&wp->mu);
		push(&wp->done_head, &wp->done_tail, j);
		/* Cannot fail short of 2^64 - 1 unread completions. */
		while (write(wp->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&wp->mu);
	return NULL;
}

struct workpool *workpool_new(unsigned nthreads, size_t max_jobs)
{
	struct workpool *wp = nthreads ? calloc(1, sizeof(*wp)) : NULL;

	if (!wp)
		return NULL;
	wp->efd = -1;
	wp->max_jobs = max_jobs;
	if (pthread_mutex_init(&wp->mu, NULL) != 0) {
		free(wp);
		return NULL;
	}
	if (pthread_cond_init(&wp->cv, NULL) != 0) {
		pthread_mutex_destroy(&wp->mu);
		free(wp);
		return NULL;
	}
	wp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	wp->threads = calloc(nthreads, sizeof(*wp->threads));
	if (wp->efd < 0 || !wp->threads)
		goto fail;
	for (; wp->nthreads < nthreads; wp->nthreads++)
		if (pthread_create(&wp->threads[wp->nthreads], NULL, worker, wp) != 0)
			goto fail;
	return wp;
fail:
	if (wp)
		workpool_free(wp, NULL, NULL);
	return NULL;
}

void workpool_free(struct workpool *wp, void (*discard)(struct workpool_job *job, void *arg),
                   void *arg)
{
	struct workpool_job *lists[2];

	if (!wp)
		return;
	pthread_mutex_lock(&wp->mu);
	wp->stopping = true;
	pthread_cond_broadcast(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	for (unsigned i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	lists[0] = wp->done_head;
	lists[1] = wp->q_head;
	for (size_t i = 0; i < 2; i++)
		for (struct workpool_job *j = lists[i], *n; j; j = n) {
			n = j->next;
			if (discard)
				discard(j, arg);
		}
	if (wp->efd >= 0)
		close(wp->efd);
	free(wp->threads);
	pthread_cond_destroy(&wp->cv);
	pthread_mutex_destroy(&wp->mu);
	free(wp);
}

int workpool_submit(struct workpool *wp, struct workpool_job *job)
{
	if (wp->outstanding >= wp->max_jobs)
		return -1;
	wp->outstanding++;
	pthread_mutex_lock(&wp->mu);
	push(&wp->q_head, &wp->q_tail, job);
	pthread_cond_signal(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	return 0;
}

int workpool_fd(const struct workpool *wp)
{
	return wp->efd;
}

size_t workpool_collect(struct workpool *wp, void (*done)(struct workpool_job *job, void *arg),
                        void *arg)
{
	struct workpool_job *j;
	uint64_t v;
	size_t n = 0;

	pthread_mutex_lock(&wp->mu);
	j = wp->done_head;
	wp->done_head = wp->done_tail = NULL;
	/* Reset under the lock: a job finishing later writes again. */
	(void)!read(wp->efd, &v, sizeof(v));
	pthread_mutex_unlock(&wp->mu);
	while (j) {
		struct workpool_job *next = j->next;

		wp->outstanding--;
		n++;
		done(j, arg);
		j = next;
	}
	return n;
}

size_t workpool_outstanding(const struct workpool *wp)
{
	return wp->outstanding;
}

unsigned workpool_threads(const struct workpool *wp)
{
	return wp->nthreads;
}
