/*
 * driver.c: the threads that drive the scheduler (see runtime_internal.h):
 *
 *   scheduler  polls the scheduler whenever something happens (a submission,
 *              a wave done, a cancellation) or its next wake-up time comes,
 *              and hands each wave it forms to that wave's lane;
 *   lanes      one worker per lane runs the lane's waves on its own backend
 *              (on CUDA its own stream, so that waves of several lanes
 *              overlap: the next wave uploads while another computes) and
 *              answers the wave's requests;
 *   answer     calls back requests answered in the queue (expired,
 *              cancelled, unloaded, shut down), so that no callback runs on
 *              the scheduler thread.
 *
 * Also here: the profile of a new family's wave times, the latency model's
 * first data.
 */
#include "runtime/runtime_internal.h"

#include <string.h>
#include <time.h>

/* Lanes started per poll at most; the scheduler polls again at once when
 * it started that many. */
#define LAUNCH_BATCH 64

static void wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t when_ns)
{
    if (when_ns == UINT64_MAX) {
        pthread_cond_wait(cv, mu);
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(when_ns / 1000000000ull), .tv_nsec = (long)(when_ns % 1000000000ull)};
    pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- the scheduler thread ---------------------------------------------------- */

void cv_driver_answer(cv_runtime_t *rt, cv_sched_list_t *answered)
{
    if (!answered->count) return;
    uint64_t now = cv_clock_ns();
    cv_sched_req_t *r;
    while ((r = cv_sched_list_pop(answered))) {
        cv_request_answer_unrun((cv_request_t *)r, now);
        cv_sched_list_push(&rt->to_answer, r);
    }
    pthread_cond_signal(&rt->answer_cv);
    pthread_cond_broadcast(&rt->answered);
}

/* True on a thread while it runs a claimed wave: a callback there that
 * submits again must not nest another. */
static _Thread_local bool running_here;

/* Whether `here` (NULL: none) may run on the submitting thread in the wave
 * just formed on `slane`: asked for, a CPU device (on CUDA the lane's
 * worker only waits for the GPU, and the wave would run on another thread's
 * device and stream), a wave the latency model has measured and predicts
 * within the bound, and `here` one of its requests. */
static bool runs_here(const cv_runtime_t *rt, const cv_request_t *here, const cv_sched_lane_t *slane)
{
    if (!here || here->run_here_us <= 0 || rt->config.device != CV_DEVICE_CPU || running_here) return false;
    if (((const cv_lane_t *)slane->impl)->delivering) return false;
    const cv_sched_wave_t *w = &slane->wave;
    if (w->predicted_ns == 0 || (double)w->predicted_ns > here->run_here_us * 1e3) return false;
    for (int i = 0; i < w->nreqs; i++)
        if (w->reqs[i] == &here->sched) return true;
    return false;
}

/* Polls the scheduler until it has launched all it would (rt->mu held):
 * answers what expired, hands formed waves to their lanes, except the
 * wave that `here` may run on the submitting thread (runs_here): that
 * lane is claimed, left unsignalled, and returned in *claimed. Returns
 * when the next pass is due. */
static uint64_t schedule_pass(cv_runtime_t *rt, const cv_request_t *here, cv_lane_t **claimed)
{
    cv_sched_lane_t *launch[LAUNCH_BATCH];
    uint64_t wake;
    int n;
    do {
        cv_sched_list_t answered = {0};
        uint64_t start = cv_clock_ns();
        n = 0;
        cv_sched_poll(rt->sched, start, &answered, launch, LAUNCH_BATCH, &n, &wake);
        uint64_t polled = cv_clock_ns();
        cv_driver_answer(rt, &answered);
        for (int i = 0; i < n; i++) {
            cv_lane_t *lane = launch[i]->impl;
            lane->has_wave = true;
            if (claimed && !*claimed && runs_here(rt, here, launch[i])) {
                lane->claimed = true;
                *claimed = lane;
            } else {
                pthread_cond_signal(&lane->go);
            }
        }
        /* The decision (the poll) and the handing of its waves to the
         * lanes (answers, wake-ups: system calls), timed apart. */
        if (n) {
            rt->form_us[rt->nform % HOST_SAMPLES] = (double)(polled - start) / 1e3;
            rt->handoff_us[rt->nform++ % HOST_SAMPLES] = (double)(cv_clock_ns() - polled) / 1e3;
        }
    } while (n == LAUNCH_BATCH);
    return wake;
}

static void *scheduler_main(void *arg)
{
    cv_runtime_t *rt = arg;
    cv_thread_name("cv-sched");
    pthread_mutex_lock(&rt->mu);
    while (!rt->stopping) {
        rt->dirty = false;
        uint64_t wake = schedule_pass(rt, NULL, NULL);
        if (rt->dirty) continue;
        rt->sched_sleeps_until = wake;
        wait_until(&rt->wake, &rt->mu, wake);
    }
    pthread_mutex_unlock(&rt->mu);
    return NULL;
}

static void lane_run(cv_runtime_t *rt, cv_lane_t *lane);

/* The pass after a submit or a wave's end; `claimed` as schedule_pass. */
static void schedule_inline(cv_runtime_t *rt, const cv_request_t *here, cv_lane_t **claimed)
{
    uint64_t wake = rt->stopping || !rt->threads_started ? 0 : schedule_pass(rt, here, claimed);
    if (wake < rt->sched_sleeps_until) {
        rt->dirty = true;
        pthread_cond_signal(&rt->wake);
    }
}

void cv_driver_schedule(cv_runtime_t *rt)
{
    schedule_inline(rt, NULL, NULL);
}

void cv_driver_schedule_submitted(cv_runtime_t *rt, cv_request_t *req)
{
    cv_lane_t *claimed = NULL;
    schedule_inline(rt, req, &claimed);
    if (!claimed) return;
    running_here = true;
    lane_run(rt, claimed);
    running_here = false;
    claimed->claimed = false;
    /* The pass at the wave's end may have given the lane its next wave
     * while it was claimed: its worker takes it from here. Unload waits
     * for no claim before it frees the lane. */
    if (claimed->has_wave || claimed->sched->replace) pthread_cond_signal(&claimed->go);
    pthread_cond_broadcast(&rt->answered);
}

static void *answer_main(void *arg)
{
    cv_runtime_t *rt = arg;
    cv_thread_name("cv-answer");
    pthread_mutex_lock(&rt->mu);
    for (;;) {
        cv_sched_req_t *r = cv_sched_list_pop(&rt->to_answer);
        if (!r) {
            if (rt->stopping && !rt->threads_started) break;
            pthread_cond_wait(&rt->answer_cv, &rt->mu);
            continue;
        }
        rt->answering++;
        pthread_mutex_unlock(&rt->mu);
        cv_request_deliver((cv_request_t *)r);
        pthread_mutex_lock(&rt->mu);
        rt->answering--;
        pthread_cond_broadcast(&rt->answered);
    }
    pthread_mutex_unlock(&rt->mu);
    return NULL;
}

/* ---- lanes ------------------------------------------------------------------------ */

/* Runs one formed wave on the lane: the family's plan for its rows, each
 * request a slice (its rows, its tenant's constants, its buffers). */
static cv_status run_wave(cv_runtime_t *rt, cv_lane_t *lane, cv_request_t *const *reqs, int n,
                          cv_wave_slice_t *slices, const cv_tensor_t **ins, cv_tensor_t **outs, cv_err_t *err)
{
    cv_tenant_t *t0 = reqs[0]->tenant;
    cv_family_t *f = t0->family;
    const cv_graph_t *g = t0->graph;
    int64_t row = 0;
    for (int i = 0; i < n; i++) {
        slices[i] = cv_tenant_slice(reqs[i]->tenant, row, reqs[i]->rows);
        ins[i] = reqs[i]->inputs;
        outs[i] = reqs[i]->outputs;
        row += reqs[i]->rows;
    }
    cv_shape_t shapes[g->ninputs + 1];
    for (int i = 0; i < g->ninputs; i++) {
        shapes[i] = reqs[0]->inputs[i].shape;
        if (g->batched) shapes[i].dims[0] = row;
    }
    cv_plan_t *plan;
    cv_status st = cv_family_plan_acquire(rt, f, shapes, n == 1 ? reqs[0]->inputs : NULL, &plan, err);
    if (st != CV_STATUS_OK) return st;
    st = cv_exec_wave(lane->exec, plan, slices, n, t0->config.precision, ins, outs, err);
    cv_family_plan_release(f, plan);
    return st;
}

static void renew(cv_lane_t *lane);

/* Runs the lane's wave, counts it, forms the next waves and calls the
 * wave's requests back with no lock held. rt->mu held on entry and on
 * return, dropped while the wave runs and while callbacks run. On the
 * lane's worker, or on a submitting thread that claimed the lane. */
static void lane_run(cv_runtime_t *rt, cv_lane_t *lane)
{
    cv_request_t **reqs = lane->reqs;
    const cv_sched_wave_t *w = &lane->sched->wave;
    int n = w->nreqs, ntenants = w->ntenants;
    for (int i = 0; i < n; i++) reqs[i] = (cv_request_t *)w->reqs[i];
    if (n > 1) cv_family_order_requests(reqs[0]->tenant->family, reqs, n);
    pthread_mutex_unlock(&rt->mu);

    cv_err_t err = {{0}};
    uint64_t start = cv_clock_ns();
    cv_status st = run_wave(rt, lane, reqs, n, lane->slices, lane->ins, lane->outs, &err);
    uint64_t end = cv_clock_ns();
    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < n; i++) {
        cv_request_t *r = reqs[i];
        r->launched_ns = start;
        r->answered_ns = end;
        r->wave_tenants = ntenants;
        r->status = st;
        if (st != CV_STATUS_OK) r->err = err;
        r->sched.outcome = st == CV_STATUS_OK ? CV_OUTCOME_COMPLETED : CV_OUTCOME_FAILED;
        bool met = st == CV_STATUS_OK && end <= r->sched.deadline_ns;
        cv_sched_count(&r->sched, r->sched.outcome, met, ntenants, (double)(r->sched.waved_ns - r->sched.arrival_ns) / 1e6,
                       (double)(end - start) / 1e6, (double)(end - r->sched.arrival_ns) / 1e6);
    }
    if (st != CV_STATUS_OK) cv_log(CV_LOG_WARN, "a wave of %d requests failed: %s", n, err.msg);
    else {
        cv_host_times_t times;
        cv_driver_host_times(lane->exec, lane->backend, &times);
        cv_driver_note_host_times(rt, &times);
        lane->stats = times.backend;
    }
    /* A wave that captured its shape's graph (or sized the capture)
     * took many times what the shape takes: kept out of the latency
     * model, whose estimate of that width would otherwise refuse
     * feasible requests (503s) until enough waves of it came by. */
    bool representative = st == CV_STATUS_OK && !cv_exec_last_wave_first(lane->exec);
    cv_sched_wave_done(rt->sched, lane->sched, end, representative ? (double)(end - start) : 0);
    lane->has_wave = false;
    atomic_fetch_add(&rt->waves, 1);
    rt->answering++; /* drained only once these are called back too */
    /* The next waves, this lane's among them, are formed here rather
     * than after waking the scheduler thread: under load a lane goes
     * from one wave to the next without a thread wake-up. */
    cv_driver_schedule(rt);
    lane->delivering = true;
    pthread_mutex_unlock(&rt->mu);
    /* Callbacks run here with no lock held. */
    for (int i = 0; i < n; i++) cv_request_deliver(reqs[i]);
    pthread_mutex_lock(&rt->mu);
    lane->delivering = false;
    rt->answering--;
    pthread_cond_broadcast(&rt->answered);
}

static void *lane_main(void *arg)
{
    cv_lane_t *lane = arg;
    cv_runtime_t *rt = lane->rt;
    cv_thread_name("cv-lane");
    pthread_mutex_lock(&rt->mu);
    for (;;) {
        while ((!lane->has_wave || lane->claimed) && !lane->stop) {
            if (lane->sched->replace && !lane->claimed) {
                renew(lane);
                cv_driver_schedule(rt); /* its tenant's queue waited for the new stream */
            } else {
                pthread_cond_wait(&lane->go, &rt->mu);
            }
        }
        if (lane->stop) break;
        lane_run(rt, lane);
    }
    pthread_mutex_unlock(&rt->mu);
    return NULL;
}

static cv_status lane_backend(cv_runtime_t *rt, cv_backend_t **backend, cv_executor_t **exec, cv_err_t *err);

/* A lane whose waves keep straggling (space): a fresh backend, on CUDA a
 * fresh stream, replaces its own. Under rt->mu, on the lane's worker,
 * between its waves: the scheduler gives a lane marked `replace` no wave
 * until this clears the mark. */
static void renew(cv_lane_t *lane)
{
    cv_runtime_t *rt = lane->rt;
    cv_backend_t *backend;
    cv_executor_t *exec;
    cv_err_t err;
    if (lane_backend(rt, &backend, &exec, &err) != CV_STATUS_OK) {
        cv_log(CV_LOG_WARN, "sched: lane %d keeps straggling, and its replacement failed: %s", lane->sched->id,
               err.msg);
    } else {
        cv_exec_destroy(lane->exec);
        lane->backend->iface->destroy(lane->backend);
        lane->backend = backend;
        lane->exec = exec;
        rt->lanes_replaced++;
        cv_log(CV_LOG_WARN, "sched: lane %d kept straggling; it runs on a new backend from now (on CUDA a new stream)", lane->sched->id);
    }
    lane->sched->replace = false;
    lane->sched->slow_streak = 0;
}

/* CPU threads of a lane's backend: the whole budget where one wave runs at
 * a time, one thread per lane under space (a worker per tenant). */
static int lane_threads(const cv_runtime_t *rt)
{
    return rt->config.policy == CV_POLICY_SPACE ? 1 : rt->config.threads;
}

static void lane_free(cv_lane_t *lane)
{
    cv_exec_destroy(lane->exec);
    if (lane->backend) lane->backend->iface->destroy(lane->backend);
    pthread_cond_destroy(&lane->go);
    cv_free(lane->reqs);
    cv_free(lane->slices);
    cv_free(lane->ins);
    cv_free(lane->outs);
    cv_free(lane);
}

static cv_status lane_backend(cv_runtime_t *rt, cv_backend_t **backend, cv_executor_t **exec, cv_err_t *err)
{
    cv_status st;
    *backend = NULL;
    *exec = NULL;
    if (rt->config.device == CV_DEVICE_CPU) {
        st = cv_backend_cpu_create(lane_threads(rt), backend, err);
    } else {
#ifdef CARAVEL_WITH_CUDA
        st = cv_backend_cuda_create(rt->config.device_index, backend, err);
#else
        st = cv_errorf(err, CV_STATUS_UNAVAILABLE, "the CUDA backend is not part of this build");
#endif
    }
    if (st == CV_STATUS_OK) st = cv_exec_create(*backend, exec, err);
    if (st != CV_STATUS_OK && *backend) {
        (*backend)->iface->destroy(*backend);
        *backend = NULL;
    }
    return st;
}

static cv_status lane_new(cv_runtime_t *rt, cv_sched_lane_t *slane, cv_err_t *err)
{
    cv_lane_t *lane = cv_calloc(1, sizeof(*lane));
    if (!lane) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a lane");
    lane->rt = rt;
    lane->sched = slane;
    pthread_cond_init(&lane->go, NULL);
    size_t max = (size_t)rt->config.max_wave_rows;
    lane->reqs = cv_calloc(max, sizeof(*lane->reqs));
    lane->slices = cv_calloc(max, sizeof(*lane->slices));
    lane->ins = cv_calloc(max, sizeof(*lane->ins));
    lane->outs = cv_calloc(max, sizeof(*lane->outs));
    cv_status st = lane->reqs && lane->slices && lane->ins && lane->outs
                       ? lane_backend(rt, &lane->backend, &lane->exec, err)
                       : cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a lane's tables");
    if (st == CV_STATUS_OK && pthread_create(&lane->worker, NULL, lane_main, lane) != 0)
        st = cv_errorf(err, CV_STATUS_INTERNAL, "cannot start a lane's worker thread");
    if (st != CV_STATUS_OK) {
        lane_free(lane);
        return st;
    }
    lane->started = true;
    slane->impl = lane;
    rt->lanes_made++;
    return CV_STATUS_OK;
}

void cv_driver_host_times(const cv_executor_t *exec, cv_backend_t *backend, cv_host_times_t *out)
{
    memset(out, 0, sizeof(*out));
    out->inputs_us = (double)cv_exec_last_inputs_ns(exec) / 1e3;
    out->cache_us = (double)cv_exec_last_begin_ns(exec) / 1e3;
    out->launch_us = (double)cv_exec_last_launch_ns(exec) / 1e3;
    if (!backend->iface->stats) return;
    backend->iface->stats(backend, &out->backend);
    out->rebind_us = out->backend.last_wave_rebind_us;
    out->graph_launch_us = out->backend.last_wave_graph_launch_us;
    out->lookup_us = out->backend.last_wave_lookup_us;
}

void cv_driver_note_host_times(cv_runtime_t *rt, const cv_host_times_t *t)
{
    rt->inputs_us[rt->nlaunch % HOST_SAMPLES] = t->inputs_us;
    rt->cache_us[rt->nlaunch % HOST_SAMPLES] = t->cache_us;
    rt->launch_us[rt->nlaunch++ % HOST_SAMPLES] = t->launch_us;
    if (t->rebind_us > 0) rt->rebind_us[rt->nrebind++ % HOST_SAMPLES] = t->rebind_us;
    if (t->graph_launch_us > 0) rt->graph_launch_us[rt->ngraph_launch++ % HOST_SAMPLES] = t->graph_launch_us;
    if (t->lookup_us > 0) rt->lookup_us[rt->nlookup++ % HOST_SAMPLES] = t->lookup_us;
}

cv_status cv_driver_attach_lanes(cv_runtime_t *rt, cv_err_t *err)
{
    for (cv_sched_lane_t *l = rt->sched->lanes; l; l = l->next) {
        if (l->impl) continue;
        cv_status st = lane_new(rt, l, err);
        if (st != CV_STATUS_OK) return st;
    }
    return CV_STATUS_OK;
}

void cv_driver_detach_lanes(cv_runtime_t *rt, cv_sched_lane_t *const *lanes, int n)
{
    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < n; i++) {
        cv_lane_t *lane = lanes[i]->impl;
        if (!lane) continue;
        while (lane->claimed) pthread_cond_wait(&rt->answered, &rt->mu);
        CV_ASSERT(!lane->has_wave);
        lane->stop = true;
        pthread_cond_signal(&lane->go);
    }
    pthread_mutex_unlock(&rt->mu);
    for (int i = 0; i < n; i++) {
        cv_lane_t *lane = lanes[i]->impl;
        if (!lane) continue;
        pthread_join(lane->worker, NULL);
        lanes[i]->impl = NULL;
        lane_free(lane);
    }
}

/* ---- start and stop ------------------------------------------------------------- */

cv_status cv_driver_start(cv_runtime_t *rt, cv_err_t *err)
{
    if (pthread_create(&rt->answer_thread, NULL, answer_main, rt) != 0)
        return cv_errorf(err, CV_STATUS_INTERNAL, "cannot start the runtime's answer thread");
    if (pthread_create(&rt->sched_thread, NULL, scheduler_main, rt) != 0) {
        pthread_mutex_lock(&rt->mu);
        rt->stopping = true;
        pthread_cond_signal(&rt->answer_cv);
        pthread_mutex_unlock(&rt->mu);
        pthread_join(rt->answer_thread, NULL);
        return cv_errorf(err, CV_STATUS_INTERNAL, "cannot start the runtime's scheduler thread");
    }
    rt->threads_started = true;
    return CV_STATUS_OK;
}

void cv_driver_stop(cv_runtime_t *rt)
{
    if (!rt->threads_started) return;
    pthread_mutex_lock(&rt->mu);
    rt->stopping = true;
    cv_sched_list_t answered = {0};
    cv_sched_flush(rt->sched, CV_OUTCOME_SHUTDOWN, &answered);
    cv_driver_answer(rt, &answered);
    pthread_cond_signal(&rt->wake);
    while (rt->sched->in_flight > 0) pthread_cond_wait(&rt->answered, &rt->mu);
    pthread_mutex_unlock(&rt->mu);
    pthread_join(rt->sched_thread, NULL);
    /* The answer thread calls back what is left, then ends. */
    pthread_mutex_lock(&rt->mu);
    rt->threads_started = false;
    pthread_cond_signal(&rt->answer_cv);
    pthread_mutex_unlock(&rt->mu);
    pthread_join(rt->answer_thread, NULL);
}

/* ---- the profile of a new family ------------------------------------------------ */

cv_status cv_driver_profile(cv_runtime_t *rt, cv_tenant_t *t, cv_err_t *err)
{
    const cv_graph_t *g = t->graph;
    bool cpu = rt->config.device == CV_DEVICE_CPU;
    /* On the CPU a wave's time grows with its rows from the first: a few
     * widths are enough, the model extrapolates. */
    int64_t widest = t->family->group->single ? 1 : t->config.max_rows;
    if (cpu && widest > 4) widest = 4;
    int runs = cpu ? 1 : 3;
    cv_tensor_t *inputs = cv_calloc((size_t)g->ninputs + 1, sizeof(cv_tensor_t));
    cv_slice_io_t *slices = cv_calloc((size_t)widest, sizeof(cv_slice_io_t));
    cv_tensor_t *outputs = cv_calloc((size_t)(widest * (g->noutputs + 1)), sizeof(cv_tensor_t));
    cv_status st = inputs && slices && outputs ? CV_STATUS_OK
                                               : cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory profiling");
    for (int i = 0; i < g->ninputs && st == CV_STATUS_OK; i++) {
        cv_shape_t s = g->values[g->inputs[i]].shape;
        if (g->batched) s.dims[0] = 1;
        if (cv_tensor_alloc(&inputs[i], g->values[g->inputs[i]].dtype, &s) != CV_STATUS_OK)
            st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for its inputs");
    }
    /* A warm-up first: the first wave of a family pays for its plan. */
    for (int64_t w = 1; w <= widest && st == CV_STATUS_OK; w = w * 2 > widest && w < widest ? widest : w * 2) {
        for (int64_t s = 0; s < w; s++)
            slices[s] = (cv_slice_io_t){.tenant = t, .inputs = inputs, .outputs = outputs + s * (g->noutputs + 1)};
        double best = 0;
        for (int r = 0; r < runs + (w == 1) && st == CV_STATUS_OK; r++) {
            uint64_t start = cv_clock_ns();
            st = cv_wave_run(rt, slices, (int)w, err);
            double ns = (double)(cv_clock_ns() - start);
            for (int64_t s = 0; s < w && st == CV_STATUS_OK; s++)
                for (int o = 0; o < g->noutputs; o++) cv_tensor_free(&slices[s].outputs[o]);
            if (st == CV_STATUS_OK && (best == 0 || ns < best)) best = ns;
        }
        if (st != CV_STATUS_OK) break;
        pthread_mutex_lock(&rt->mu);
        cv_latency_observe(&t->family->group->latency, w, best);
        pthread_mutex_unlock(&rt->mu);
    }
    if (st != CV_STATUS_OK) cv_err_prefix(err, "tenant '%s': profiling its wave times", t->name);
    for (int i = 0; inputs && i < g->ninputs; i++) cv_tensor_free(&inputs[i]);
    cv_free(inputs);
    cv_free(slices);
    cv_free(outputs);
    return st;
}
