/*
 * runtime_internal.h: what the files of src/runtime share: the runtime, its
 * tenants and families, requests and lanes. The public API (caravel.h) sees
 * only opaque handles; this is the one place their insides are defined.
 *
 * Threads (DESIGN.md "Threads"): callers of the API (any thread) submit
 * under the runtime's lock; one scheduler thread polls the scheduler
 * (src/sched) and hands each wave to its lane; each lane has a worker that
 * runs its waves (on CUDA, on its own stream) and answers their requests; an
 * answer thread calls back requests answered in the queue (expired,
 * cancelled, unloaded). No lock is held while a wave runs or a callback is
 * called. Lock order: rt->mu, then a family's mu.
 */
#ifndef CV_RUNTIME_INTERNAL_H
#define CV_RUNTIME_INTERNAL_H

#include "backend/cpu/cpu.h"
#include "exec/exec.h"
#include "runtime/weights.h"
#include "sched/sched.h"

#include <pthread.h>
#include <stdatomic.h>

/* Plans kept per family: one per wave width the scheduler forms (up to
 * max_wave_rows) plus a few shapes cv_wave_run asks for. */
#define PLAN_CACHE_SIZE 80
#define HOST_SAMPLES 1024

typedef struct plan_entry {
    cv_plan_t *plan;
    uint64_t last_used;
    int users; /* waves running it now: never evicted while > 0 */
} plan_entry_t;

/* Tenants whose graphs are identical up to weight values (and precision):
 * they share plans and can share waves. */
typedef struct cv_family {
    uint64_t hash;
    pthread_mutex_t mu;             /* the plan cache and the representative */
    /* One member's graph: plans read its structure. When that member is
     * unloaded while others stay, the family keeps it (a reference to the
     * tenant) until no plan is in use, then plans anew from another. */
    cv_tenant_t *representative;
    cv_tenant_t *next_representative;
    bool change_representative;
    int ntenants;
    plan_entry_t plans[PLAN_CACHE_SIZE];
    uint64_t clock;
    cv_sched_group_t *group;
    bool profiled;                  /* its latency model has been measured */
    /* Some of its tenants share weights (the weight store), next to each
     * other in share_rank order: waves put their slices in that order, so
     * that slices that share a step are one run. Under rt->mu. */
    bool shares;
    struct cv_family *next;
} cv_family_t;

struct cv_tenant {
    char *name;
    cv_runtime_t *rt;
    cv_graph_t *graph;
    cv_family_t *family;
    void **constants; /* backend pointers, per value */
    /* The backend's identity of those (tenant_identity; 0, false without
     * one), which each wave's slice of the tenant carries. */
    uint64_t constants_serial;
    bool constants_may_share;
    cv_tenant_weights_t weights; /* its entries in the runtime's weight store */
    int share_rank;   /* its place in its family by what it shares; under rt->mu */
    cv_tenant_config_t config;
    cv_account_t account;
    cv_sched_tenant_t *sched;
    /* Input shapes beyond the batch axis fixed, so that requests can be
     * made by rows (cv_request_create). */
    bool by_rows;
    /* References: the runtime's list while loaded, each request, and the
     * family while it plans from this tenant's graph. */
    atomic_int refs;
    bool unloaded;
    /* Requests destroyed, kept for reuse (their buffers are pinned memory
     * on CUDA, slow to allocate); under rt->mu. */
    cv_request_t *pool;
    int pooled;
    atomic_size_t request_bytes; /* request buffers held, pooled or not */
    cv_tenant_t *next;
};

/* A wave's slice of `rows` rows from row0 for tenant t: its constants
 * and what the backend said of them (cv_wave_slice_t). */
static inline cv_wave_slice_t cv_tenant_slice(const cv_tenant_t *t, int64_t row0, int64_t rows)
{
    return (cv_wave_slice_t){.row0 = row0,
                             .rows = rows,
                             .constants = t->constants,
                             .serial = t->constants_serial,
                             .may_share = t->constants_may_share};
}

/* The runtime's part of a lane (sched.h): where its waves run. */
typedef struct cv_lane {
    cv_runtime_t *rt;
    cv_sched_lane_t *sched;
    cv_backend_t *backend;  /* its own: on CUDA, its own stream */
    cv_executor_t *exec;
    pthread_t worker;
    bool started;
    pthread_cond_t go;      /* under rt->mu: a wave for it, or stop */
    bool has_wave, stop;
    /* Its wave runs on the thread that submitted it (cv_request_set_run_here),
     * not on `worker`, which leaves it alone; under rt->mu. */
    bool claimed;
    /* Its last wave's requests are being called back (from `reqs`, no lock
     * held): not to be claimed meanwhile. Under rt->mu. */
    bool delivering;
    /* A wave's requests, slices and tensors, [max_wave_rows] each: used by
     * whichever thread runs the lane's wave. */
    cv_request_t **reqs;
    cv_wave_slice_t *slices;
    const cv_tensor_t **ins;
    cv_tensor_t **outs;
    /* Its backend's counters as its last wave left them, taken on the
     * thread that ran it; under rt->mu. cv_runtime_stats reads these, never
     * the backend, whose counters that thread updates without a lock. */
    cv_backend_stats_t stats;
} cv_lane_t;

struct cv_request {
    cv_sched_req_t sched;   /* the scheduler's part */
    cv_runtime_t *rt;
    cv_tenant_t *tenant;
    int64_t rows;
    cv_tensor_t *inputs;    /* graph inputs, then graph outputs, in `block` */
    cv_tensor_t *outputs;
    int ninputs, noutputs;
    void *block;            /* the request buffer (pinned on CUDA) */
    size_t block_bytes;
    double timeout_ms;
    int priority;
    bool priority_set;
    double run_here_us; /* cv_request_set_run_here; 0: never */
    cv_request_done_fn done;
    void *user;
    /* The answer. */
    cv_status status;
    cv_err_t err;
    atomic_bool answered;
    int wave_tenants;
    uint64_t launched_ns, answered_ns;
    cv_request_t *pool_next;
};

struct cv_runtime {
    cv_runtime_config_t config;
    cv_backend_t *backend;    /* uploads tenants' constants; runs cv_wave_run */
    cv_executor_t *exec;      /* cv_wave_run's and the profiler's */
    pthread_mutex_t exec_mu;  /* one wave at a time on `exec` */
    cv_cpu_ctx_t fold_cpu;    /* constant folding runs on the CPU whatever the device */
    pthread_mutex_t load_mu;  /* loads and unloads, one at a time */
    cv_weight_store_t weights; /* every tenant's weights, each tensor once */

    pthread_mutex_t mu;       /* everything below, and the scheduler */
    pthread_cond_t wake;      /* the scheduler thread: something happened */
    pthread_cond_t answered;  /* waiters: a request was answered, or a wave ended */
    pthread_cond_t answer_cv; /* the answer thread: requests to call back */
    cv_sched_t *sched;
    cv_family_t *families;
    cv_tenant_t *tenants;
    bool dirty;               /* an event since the scheduler's last poll */
    uint64_t sched_sleeps_until; /* when the scheduler thread, waiting, runs its next pass
                                  * (UINT64_MAX: when woken); stale while it runs */
    bool lanes_pending;       /* lanes without backends: made at the next submit */
    bool stopping;
    cv_sched_list_t to_answer; /* answered in the queue, to call back */
    int answering;            /* threads calling requests back (answer thread, lanes) */
    pthread_t sched_thread, answer_thread;
    bool threads_started;
    atomic_long waves;
    _Atomic double last_wave_flops; /* of the last cv_wave_run (plan->flops) */
    long lanes_made;
    long lanes_replaced;
    /* Host time per wave, the last HOST_SAMPLES of each (us): the
     * scheduler's poll that formed waves and its handing them to their
     * lanes (same index), a lane's launch of one, and the launch's placing
     * of the inputs (same index as launch_us). */
    double form_us[HOST_SAMPLES], handoff_us[HOST_SAMPLES], launch_us[HOST_SAMPLES], inputs_us[HOST_SAMPLES],
        cache_us[HOST_SAMPLES];
    long nform, nlaunch;
    /* Of the waves that had one: a rebind's and a graph launch's (us). */
    double rebind_us[HOST_SAMPLES], graph_launch_us[HOST_SAMPLES], lookup_us[HOST_SAMPLES];
    long nrebind, ngraph_launch, nlookup;
    /* The step profile of the last profiled cv_wave_run (under exec_mu). */
    cv_step_profile_t *profile;
    int profile_steps, profile_cap;
};

/* ---- wave.c --------------------------------------------------------------- */

/* The family's plan for these input shapes (built on first use), held for
 * a wave until cv_family_plan_release. `inputs` as for cv_plan_build. */
cv_status cv_family_plan_acquire(cv_runtime_t *rt, cv_family_t *f, const cv_shape_t *shapes,
                                 const cv_tensor_t *inputs, cv_plan_t **out, cv_err_t *err);
void cv_family_plan_release(cv_family_t *f, cv_plan_t *plan);
/* Drops every cached plan; none may be in use. */
void cv_family_drop_plans(cv_runtime_t *rt, cv_family_t *f);

/* ---- tenant.c ------------------------------------------------------------- */

void cv_tenant_ref(cv_tenant_t *t);
void cv_tenant_unref(cv_tenant_t *t);
/* Puts reqs[0..n) (or a wave's slices) in the order of their tenants'
 * share_rank, stably, when their family shares weights: slices that share
 * a step then follow each other. Under rt->mu. */
void cv_family_order_requests(const cv_family_t *f, cv_request_t **reqs, int n);

/* ---- request.c ------------------------------------------------------------ */

/* Records the answer of a request that never ran (rejected, expired,
 * cancelled, unloaded, shut down) from its scheduler outcome. */
void cv_request_answer_unrun(cv_request_t *req, uint64_t now);
/* Marks the request answered and calls it back, or wakes its waiter: the
 * last the runtime does with it (the caller may destroy it from then on).
 * No lock held. */
void cv_request_deliver(cv_request_t *req);
/* Frees the pooled requests of a tenant (its buffers). */
void cv_request_pool_free(cv_tenant_t *t);

/* ---- driver.c ------------------------------------------------------------- */

/* Starts the scheduler and answer threads. */
cv_status cv_driver_start(cv_runtime_t *rt, cv_err_t *err);
/* Stops them, after answering everything queued (SHUTDOWN) and waiting
 * for the waves in flight. */
void cv_driver_stop(cv_runtime_t *rt);
/* Gives every lane of the scheduler without a runtime part one (backend,
 * executor, worker). Under rt->mu. */
cv_status cv_driver_attach_lanes(cv_runtime_t *rt, cv_err_t *err);
/* A wave's host times (us): the executor's launch, its inputs and cache
 * parts; the backend's lookup, rebind and graph launch (0: none). */
typedef struct cv_host_times {
    double launch_us, inputs_us, cache_us, lookup_us, rebind_us, graph_launch_us;
    cv_backend_stats_t backend; /* the backend's counters after the wave */
} cv_host_times_t;
/* Reads them after a wave, on the thread that ran it (no lock). */
void cv_driver_host_times(const cv_executor_t *exec, cv_backend_t *backend, cv_host_times_t *out);
/* Keeps them in the runtime's samples for cv_runtime_stats' medians: the
 * lanes' waves and cv_wave_run's. With rt->mu held (never inside exec_mu:
 * a plan's eviction takes exec_mu under rt->mu). */
void cv_driver_note_host_times(cv_runtime_t *rt, const cv_host_times_t *t);
/* Stops and frees the runtime part of these lanes (idle); then the
 * scheduler may free them. Called without rt->mu. */
void cv_driver_detach_lanes(cv_runtime_t *rt, cv_sched_lane_t *const *lanes, int n);
/* Hands requests answered in the queue to the answer thread. Under rt->mu. */
void cv_driver_answer(cv_runtime_t *rt, cv_sched_list_t *answered);

/* One scheduling pass on the caller's thread, rt->mu held, after a submit
 * or a wave's end: a request whose wave can start now goes to its lane, and
 * a lane to its next wave, without a detour through the scheduler thread
 * (a thread wake-up, tens of microseconds on a busy host), which is woken
 * only where this pass wants another before the scheduler's own next one. */
void cv_driver_schedule(cv_runtime_t *rt);
/* cv_submit's pass: as cv_driver_schedule, and where `req` may run on the
 * submitting thread (cv_request_set_run_here: a CPU device, its wave
 * launched by this pass on an idle lane, predicted to take at most the
 * bound), runs that wave here before returning (rt->mu dropped meanwhile,
 * held again on return): its requests are called back on this thread, so
 * `req` may be answered, even destroyed, when this returns. */
void cv_driver_schedule_submitted(cv_runtime_t *rt, cv_request_t *req);
/* Measures the family's wave times at widths 1, 2, 4, ... (the latency
 * model's first data), with tenant t, on the runtime's own executor. */
cv_status cv_driver_profile(cv_runtime_t *rt, cv_tenant_t *t, cv_err_t *err);

#endif /* CV_RUNTIME_INTERNAL_H */
