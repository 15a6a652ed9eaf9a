/*
 * A small pool of worker threads for CPU-bound work that must not hold up
 * an event loop (the IKE engine's key exchanges): a bounded queue of jobs,
 * N threads that run them, and the finished jobs handed back to the one
 * thread that owns the pool, which learns of them through a file
 * descriptor it polls (an eventfd) and collects them there.
 *
 * A job is a struct the caller embeds struct workpool_job in. Its run
 * function runs on a worker thread and must touch nothing but the job
 * (copies of its inputs, room for its outputs); everything else happens on
 * the owner's thread, before submit and after collect. The pool owns a job
 * from workpool_submit() until workpool_collect() or workpool_free() gives
 * it back.
 */
#ifndef RIKE_UTIL_WORKPOOL_H
#define RIKE_UTIL_WORKPOOL_H

#include <stddef.h>

#include "util/compiler.h"

struct workpool_job {
	struct workpool_job *next; /* the pool's */
	void (*run)(struct workpool_job *job);
};

struct workpool;

/* nthreads >= 1 threads; at most max_jobs submitted and not yet collected.
 * NULL when threads or the eventfd cannot be made. */
struct workpool *workpool_new(unsigned nthreads, size_t max_jobs);
/* Stops and joins the threads (a job being run is finished first), then
 * hands every job not collected to discard (on the caller's thread). */
void workpool_free(struct workpool *wp, void (*discard)(struct workpool_job *job, void *arg),
                   void *arg);
/* Queue job; -1 when max_jobs are out (the caller drops or counts). */
int workpool_submit(struct workpool *wp, struct workpool_job *job) WUR;
/* Readable while finished jobs wait for workpool_collect(). */
int workpool_fd(const struct workpool *wp);
/* Hand every finished job to done, in the order they finished; their number. */
size_t workpool_collect(struct workpool *wp, void (*done)(struct workpool_job *job, void *arg),
                        void *arg);
/* Jobs submitted and not yet collected. */
size_t workpool_outstanding(const struct workpool *wp);
unsigned workpool_threads(const struct workpool *wp);

#endif
