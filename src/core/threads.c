/*
 * threads.c: the thread pool of threads.h.
 *
 * Claiming: a job's tasks are cut into one contiguous home range per
 * thread, each with its own claim counter. A thread takes the tasks of its
 * own range first, in order, then those left in the others' ranges. Home
 * ranges keep neighbouring tasks, whose outputs may share a cache line at
 * their border, on one thread, and give each thread the same part of every
 * kernel's output, so that a kernel split like its producer finds much of
 * its input in its own cache. Taking the others' tasks is what keeps a
 * thread that starts late, or is preempted, from holding the run back.
 *
 * One job at a time: the caller publishes (fn, ctx, ntasks) and resets the
 * counters under the mutex, bumps the epoch, and then claims tasks like any
 * worker. A worker joins a job under the mutex by counting itself in
 * `active` and making its first claim there; it claims the rest without the
 * lock and leaves (active--) once every counter is exhausted. The caller
 * returns once it has found every counter exhausted (every task is taken)
 * and `active` is zero (every taken task is done). Because a worker counts
 * itself before its first claim, and both are sequentially consistent, a
 * worker whose claim succeeds is always seen by the caller's final check:
 * the caller never returns, and so never publishes the next job, under a
 * worker still running this one; and a worker's first claim, made under
 * the mutex, is never one of a later job's tasks.
 *
 * Waiting: a worker spins on the epoch for up to WORKER_SPIN_NS after its
 * last job, then sleeps on `wake`; the caller spins for up to
 * CALLER_SPIN_NS for stragglers, then sleeps on `done`. Waking a sleeping
 * thread costs tens of microseconds on a virtual machine, so the spins
 * cover the gaps between the kernels of one inference. Where the pool has
 * more threads than it has CPUs, the spins yield as they go, so that the
 * thread they wait for, which may share their core, gets to run; otherwise
 * they do not, as yielding would hand the core to another process's busy
 * thread for a whole time slice while our tasks wait.
 *
 * Placement: a worker that finds itself on the caller's CPU moves away
 * (leave_caller_cpu), as the scheduler can leave two busy threads on one
 * core for a long time. When another process holds a worker's core, the
 * worker gets descheduled in the middle of a task for a whole time slice of
 * that process; the waiting caller notices (the worker's CPU time stops
 * growing), moves the worker onto its own CPU and sleeps, so that the task
 * finishes within a wake-up rather than a time slice
 * (rescue_stalled_workers). Together these keep two threads at least as
 * fast as one when a core is busy.
 */
#define _GNU_SOURCE /* sched_getcpu, CPU_SET, sched_setaffinity */
#include "core/threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker watches for the next job before it sleeps: long
 * enough to bridge the single-threaded steps between two split kernels,
 * short enough that a pool between inferences leaves the cores alone. */
#define WORKER_SPIN_NS 500000
/* How long the caller, out of tasks, spins for the workers' last ones. */
#define CALLER_SPIN_NS 200000
/* Checks of the awaited word between two looks at the clock. */
#define SPIN_CHECKS 32
/* How often the waiting caller looks for workers descheduled mid-task. */
#define RESCUE_CHECK_NS 50000
#define CACHE_LINE 64

typedef struct worker {
    cv_pool_t *pool;
    int index; /* 1..threads-1; the caller is 0 */
    pthread_t thread;
    _Atomic pid_t tid;  /* set by the worker when it starts; 0 before */
    clockid_t clock;    /* its CPU-time clock */
    bool has_clock;
    _Atomic bool in_job; /* between joining a job and leaving it */
    uint64_t cpu_mark;  /* its CPU time at the caller's last look */
} worker_t;

/* A thread's home range of the current job: tasks [next, end) are left. */
typedef struct claim {
    _Atomic int64_t next;
    int64_t end; /* written under mu with the job */
    char pad[CACHE_LINE - sizeof(int64_t) * 2];
} claim_t;

struct cv_pool {
    int nthreads;
    worker_t *workers;
    int nstarted;
    claim_t *claims; /* nthreads, each on its own cache line */
    void *claims_block;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers wait here for a job (or stop) */
    pthread_cond_t done; /* the caller waits here for the last workers */
    int sleepers;        /* workers waiting on `wake`; under mu */

    /* The job; written under mu, and only while no worker is in a job. */
    cv_pool_fn fn;
    void *ctx;
    int64_t ntasks;
    int caller_cpu; /* where the caller posted it from, or -1 */

    cpu_set_t allowed; /* the CPUs the pool's creator could run on */
    int nallowed;
    bool yield_in_spin; /* more threads than CPUs: spins yield the CPU */

    /* Hot atomics, each on its own cache line. */
    char pad0[CACHE_LINE];
    _Atomic uint64_t epoch; /* bumped per job and at stop */
    char pad1[CACHE_LINE];
    _Atomic int active; /* workers in the current job */
    char pad2[CACHE_LINE];
    _Atomic bool caller_waiting; /* the caller sleeps on `done` */
    _Atomic bool stop;
    _Atomic bool running; /* a run is in progress (misuse check) */
};

/* The pool whose task this thread is running, and the thread's index in
 * it, for nested runs. */
static _Thread_local const cv_pool_t *tl_pool;
static _Thread_local int tl_thread;

static void run_inline(int64_t ntasks, cv_pool_fn fn, void *ctx, int thread)
{
    for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, thread);
}

/* The next task for thread `me`: from its home range, else from the first
 * other range with tasks left; -1 when every range is exhausted. */
static int64_t claim_task(cv_pool_t *pool, int me)
{
    for (int k = 0; k < pool->nthreads; k++) {
        claim_t *c = &pool->claims[(me + k) % pool->nthreads];
        if (atomic_load(&c->next) >= c->end) continue;
        int64_t t = atomic_fetch_add(&c->next, 1);
        if (t < c->end) return t;
    }
    return -1;
}

/* Spins until `*word` differs from `seen` or `ns` have passed; true when it
 * changed. */
static bool spin_while_equal(const cv_pool_t *pool, _Atomic uint64_t *word, uint64_t seen,
                             uint64_t ns)
{
    uint64_t start = cv_clock_ns();
    for (;;) {
        for (int i = 0; i < SPIN_CHECKS; i++) {
            if (atomic_load_explicit(word, memory_order_acquire) != seen) return true;
            CPU_RELAX();
        }
        if (pool->yield_in_spin) sched_yield();
        if (cv_clock_ns() - start > ns) return false;
    }
}

/* A worker woken on the caller's CPU would only take tasks when the caller
 * is descheduled: the scheduler places a woken thread next to its waker at
 * times and, both threads being busy, may not separate them for many
 * milliseconds. The worker then moves itself off that CPU, to any other the
 * pool may use; where the caller goes next is up to the scheduler. */
static void leave_caller_cpu(const cv_pool_t *pool, int caller_cpu)
{
    if (caller_cpu < 0 || pool->nallowed < 2 || sched_getcpu() != caller_cpu) return;
    cpu_set_t others = pool->allowed;
    CPU_CLR(caller_cpu, &others);
    if (CPU_COUNT(&others) > 0) sched_setaffinity(0, sizeof(others), &others);
}

/* Leaving a job: the caller may be asleep waiting for the last worker. */
static void leave_job(cv_pool_t *pool, worker_t *w)
{
    atomic_store(&w->in_job, false);
    atomic_fetch_sub(&pool->active, 1);
    if (atomic_load(&pool->caller_waiting)) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->mu);
    }
}

void cv_thread_name(const char *name)
{
    pthread_setname_np(pthread_self(), name);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    cv_thread_name("cv-pool");
    cv_pool_t *pool = w->pool;
    tl_pool = pool;
    tl_thread = w->index;
    atomic_store(&w->tid, gettid());
    uint64_t seen = 0;
    for (;;) {
        if (!spin_while_equal(pool, &pool->epoch, seen, WORKER_SPIN_NS)) {
            pthread_mutex_lock(&pool->mu);
            while (atomic_load(&pool->epoch) == seen) {
                pool->sleepers++;
                pthread_cond_wait(&pool->wake, &pool->mu);
                pool->sleepers--;
            }
            pthread_mutex_unlock(&pool->mu);
        }
        pthread_mutex_lock(&pool->mu);
        if (atomic_load(&pool->stop)) {
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        seen = atomic_load(&pool->epoch);
        cv_pool_fn fn = pool->fn;
        void *ctx = pool->ctx;
        int caller_cpu = pool->caller_cpu;
        atomic_store(&w->in_job, true);
        atomic_fetch_add(&pool->active, 1);
        int64_t t = claim_task(pool, w->index);
        pthread_mutex_unlock(&pool->mu);
        if (t >= 0) leave_caller_cpu(pool, caller_cpu);
        for (; t >= 0; t = claim_task(pool, w->index)) fn(ctx, t, w->index);
        leave_job(pool, w);
    }
}

static uint64_t thread_cpu_ns(const worker_t *w)
{
    struct timespec ts;
    if (!w->has_clock || clock_gettime(w->clock, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Looks at the workers still in the job every RESCUE_CHECK_NS: one that
 * ran for less than a quarter of that time is descheduled in the middle of
 * a task (another process holds its core), and the caller would wait for a
 * whole time slice of that process. It is moved to the caller's CPU, which
 * the caller then leaves free by sleeping. True when one was moved. */
static bool rescue_stalled_workers(cv_pool_t *pool, bool first_look, uint64_t interval)
{
    bool moved = false;
    for (int i = 0; i < pool->nstarted; i++) {
        worker_t *w = &pool->workers[i];
        if (!atomic_load(&w->in_job)) continue;
        uint64_t cpu = thread_cpu_ns(w);
        pid_t tid = atomic_load(&w->tid);
        if (!first_look && cpu != 0 && tid != 0 && cpu - w->cpu_mark < interval / 4) {
            cpu_set_t here;
            CPU_ZERO(&here);
            CPU_SET(pool->caller_cpu, &here);
            moved |= sched_setaffinity(tid, sizeof(here), &here) == 0;
        }
        w->cpu_mark = cpu;
    }
    return moved;
}

/* The caller, every task claimed, waits for those the workers hold:
 * spinning for up to CALLER_SPIN_NS (and rescuing stalled workers, where it
 * knows its CPU), then sleeping. */
static void wait_for_workers(cv_pool_t *pool)
{
    uint64_t start = cv_clock_ns(), next_look = start + RESCUE_CHECK_NS;
    bool first_look = true;
    int spins = 0;
    while (atomic_load(&pool->active) != 0) {
        CPU_RELAX();
        if (++spins % SPIN_CHECKS != 0) continue;
        if (pool->yield_in_spin) sched_yield();
        uint64_t now = cv_clock_ns();
        if (now - start > CALLER_SPIN_NS) break;
        if (pool->caller_cpu >= 0 && now >= next_look) {
            if (rescue_stalled_workers(pool, first_look, now - next_look + RESCUE_CHECK_NS)) break;
            first_look = false;
            next_look = now + RESCUE_CHECK_NS;
        }
    }
    if (atomic_load(&pool->active) == 0) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->caller_waiting, true);
    while (atomic_load(&pool->active) != 0) pthread_cond_wait(&pool->done, &pool->mu);
    atomic_store(&pool->caller_waiting, false);
    pthread_mutex_unlock(&pool->mu);
}

static void stop_workers(cv_pool_t *pool)
{
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, true);
    atomic_fetch_add(&pool->epoch, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->nstarted; i++) pthread_join(pool->workers[i].thread, NULL);
    pool->nstarted = 0;
}

cv_status cv_pool_create(int threads, cv_pool_t **out, cv_err_t *err)
{
    CV_ASSERT(threads >= 1);
    *out = NULL;
    cv_pool_t *pool = cv_calloc(1, sizeof(*pool));
    worker_t *workers = threads > 1 ? cv_calloc((size_t)threads - 1, sizeof(*workers)) : NULL;
    void *claims = cv_calloc((size_t)threads + 1, sizeof(claim_t));
    if (!pool || (threads > 1 && !workers) || !claims) {
        cv_free(pool);
        cv_free(workers);
        cv_free(claims);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a pool of %d threads",
                         threads);
    }
    pool->nthreads = threads;
    pool->workers = workers;
    /* One spare claim_t of room, so that the counters start on a line. */
    pool->claims_block = claims;
    pool->claims = (claim_t *)(((uintptr_t)claims + CACHE_LINE - 1) & ~(uintptr_t)(CACHE_LINE - 1));
    for (int i = 0; i < threads; i++) atomic_init(&pool->claims[i].next, 0);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->epoch, 0);
    atomic_init(&pool->active, 0);
    atomic_init(&pool->caller_waiting, false);
    atomic_init(&pool->stop, false);
    atomic_init(&pool->running, false);
    pool->caller_cpu = -1;
    if (sched_getaffinity(0, sizeof(pool->allowed), &pool->allowed) == 0)
        pool->nallowed = CPU_COUNT(&pool->allowed);
    pool->yield_in_spin = pool->nallowed < threads;
    for (int i = 0; i < threads - 1; i++) {
        workers[i].pool = pool;
        workers[i].index = i + 1;
        int rc = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (rc != 0) {
            cv_pool_destroy(pool);
            return cv_errorf(err, CV_STATUS_INTERNAL,
                             "cannot start CPU worker thread %d of %d (error %d)", i + 1,
                             threads - 1, rc);
        }
        workers[i].has_clock = pthread_getcpuclockid(workers[i].thread, &workers[i].clock) == 0;
        pool->nstarted++;
    }
    *out = pool;
    return CV_STATUS_OK;
}

void cv_pool_destroy(cv_pool_t *pool)
{
    if (!pool) return;
    CV_ASSERT(!atomic_load(&pool->running));
    stop_workers(pool);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mu);
    cv_free(pool->claims_block);
    cv_free(pool->workers);
    cv_free(pool);
}

int cv_pool_threads(const cv_pool_t *pool)
{
    return pool ? pool->nthreads : 1;
}

void cv_pool_run(cv_pool_t *pool, int64_t ntasks, cv_pool_fn fn, void *ctx)
{
    if (ntasks <= 0) return;
    if (pool && tl_pool == pool) {
        run_inline(ntasks, fn, ctx, tl_thread);
        return;
    }
    if (!pool || pool->nthreads == 1 || ntasks == 1) {
        run_inline(ntasks, fn, ctx, 0);
        return;
    }
    /* A pool serves one CPU context, which one thread uses at a time. */
    CV_ASSERT(!atomic_exchange(&pool->running, true));

    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->ntasks = ntasks;
    pool->caller_cpu = pool->nallowed >= pool->nthreads ? sched_getcpu() : -1;
    for (int i = 0; i < pool->nthreads; i++) {
        int64_t begin, end;
        cv_pool_range(ntasks, pool->nthreads, 1, i, &begin, &end);
        pool->claims[i].end = end;
        atomic_store(&pool->claims[i].next, begin);
    }
    atomic_fetch_add(&pool->epoch, 1);
    if (pool->sleepers > 0) pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);

    const cv_pool_t *outer = tl_pool;
    int outer_thread = tl_thread;
    tl_pool = pool;
    tl_thread = 0;
    for (int64_t t = claim_task(pool, 0); t >= 0; t = claim_task(pool, 0)) fn(ctx, t, 0);
    tl_pool = outer;
    tl_thread = outer_thread;

    wait_for_workers(pool);
    atomic_store(&pool->running, false);
}

void cv_pool_range(int64_t n, int64_t ntasks, int64_t align, int64_t t, int64_t *begin,
                   int64_t *end)
{
    CV_ASSERT(ntasks >= 1 && align >= 1 && t >= 0 && t < ntasks);
    int64_t units = (n + align - 1) / align;
    int64_t b = units * t / ntasks * align, e = units * (t + 1) / ntasks * align;
    *begin = CV_MIN(b, n);
    *end = CV_MIN(e, n);
}
