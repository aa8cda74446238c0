/*
 * threads.h: a small persistent thread pool for splitting one CPU kernel
 * over a few cores.
 *
 * A pool of T threads is the calling thread plus T-1 workers (pthreads)
 * started once. cv_pool_run hands out the tasks [0, ntasks), the caller
 * taking tasks too, and returns when every task has finished. Each thread
 * starts on its own contiguous share of the tasks, in order, and then takes
 * what is left of the others' shares: claiming dynamically is what keeps a
 * run from collapsing when another process holds one of the cores, as a
 * thread that is not scheduled simply takes fewer tasks.
 *
 * Synchronisation is tuned for tasks of about 50-500 us, one run per kernel:
 * between runs workers spin briefly on the job counter (so the next kernel
 * starts without a wake-up), then sleep on a condition variable so that an
 * idle pool never burns a shared core; the caller likewise spins briefly for
 * stragglers, then blocks.
 *
 * Not here: priorities, futures, or runs from several threads at once. A
 * pool belongs to one CPU context, which one thread uses at a time; a run
 * started from inside a task (nested use) runs its tasks inline on the
 * calling thread.
 */
#ifndef CV_CORE_THREADS_H
#define CV_CORE_THREADS_H

#include "core/core.h"

typedef struct cv_pool cv_pool_t;

/* Names the calling thread (at most 15 characters) for top, perf and gdb;
 * a thread otherwise inherits its creator's name (a lane started from an
 * HTTP thread would read "MHD-worker"). */
void cv_thread_name(const char *name);

/* One task: `task` in [0, ntasks); `thread` in [0, cv_pool_threads(pool))
 * names the thread running it (0 = the caller), so that a task may use a
 * per-thread slice of scratch memory. No two tasks run at once with the
 * same `thread`. */
typedef void (*cv_pool_fn)(void *ctx, int64_t task, int thread);

/* Starts threads - 1 workers (threads >= 1). Returns CV_STATUS_OUT_OF_MEMORY,
 * or CV_STATUS_INTERNAL when a thread cannot be started; nothing is left
 * running on failure. */
cv_status cv_pool_create(int threads, cv_pool_t **out, cv_err_t *err);
/* Stops and joins the workers; NULL is a no-op. Not during a run. */
void cv_pool_destroy(cv_pool_t *pool);

/* Threads that take part in a run, the caller included; 1 for NULL. */
int cv_pool_threads(const cv_pool_t *pool);

/* Runs fn(ctx, t, thread) once for every t in [0, ntasks) and returns when
 * all have returned. pool NULL, a pool of one thread, a single task and a
 * nested call (from inside a task of this pool) run the tasks in order on
 * the calling thread. Effects of every task are visible to the caller on
 * return. */
void cv_pool_run(cv_pool_t *pool, int64_t ntasks, cv_pool_fn fn, void *ctx);

/* Splits [0, n) into ntasks near-equal ranges whose starts are multiples of
 * `align` (except the end, n): task t gets [*begin, *end), possibly empty. */
void cv_pool_range(int64_t n, int64_t ntasks, int64_t align, int64_t t, int64_t *begin,
                   int64_t *end);

#endif /* CV_CORE_THREADS_H */
