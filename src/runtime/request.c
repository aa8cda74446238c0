/*
 * request.c: requests and their buffers, submission, cancellation, waiting,
 * and the answer a caller reads (see "requests" in caravel.h).
 *
 * A request's inputs and outputs live in one buffer the backend hands out
 * (pinned host memory on CUDA), laid out when the request is made, so that
 * a caller writes an input once and a wave uploads it from there and
 * downloads the outputs straight back. Destroyed requests are kept per
 * tenant for reuse, since pinned memory is slow to allocate.
 */
#include "runtime/runtime_internal.h"

#include <string.h>

#define REQUEST_ALIGN 64
#define POOL_MAX 256

static size_t align_up(size_t n) { return (n + REQUEST_ALIGN - 1) / REQUEST_ALIGN * REQUEST_ALIGN; }

static void host_free(cv_runtime_t *rt, void *p)
{
    if (rt->backend->iface->host_free) rt->backend->iface->host_free(rt->backend, p);
    else cv_free(p);
}

static cv_status host_alloc(cv_runtime_t *rt, size_t bytes, void **out, cv_err_t *err)
{
    if (rt->backend->iface->host_alloc) return rt->backend->iface->host_alloc(rt->backend, bytes, out, err);
    *out = cv_malloc(bytes ? bytes : 1);
    if (!*out) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory: %zu bytes for a request buffer", bytes);
    return CV_STATUS_OK;
}

static void request_free(cv_request_t *req)
{
    cv_tenant_t *t = req->tenant;
    atomic_fetch_sub(&t->request_bytes, req->block_bytes);
    host_free(req->rt, req->block);
    cv_free(req);
    cv_tenant_unref(t);
}

void cv_request_pool_free(cv_tenant_t *t)
{
    pthread_mutex_lock(&t->rt->mu);
    cv_request_t *pool = t->pool;
    t->pool = NULL;
    t->pooled = 0;
    pthread_mutex_unlock(&t->rt->mu);
    while (pool) {
        cv_request_t *next = pool->pool_next;
        request_free(pool);
        pool = next;
    }
}

/* Input shapes of a request of `rows` rows: as declared, dim 0 = rows. */
static void request_shapes(const cv_tenant_t *t, int64_t rows, cv_shape_t *shapes)
{
    const cv_graph_t *g = t->graph;
    for (int i = 0; i < g->ninputs; i++) {
        shapes[i] = g->values[g->inputs[i]].shape;
        if (g->batched) shapes[i].dims[0] = rows;
    }
}

/* The request's tensors over its buffer: inputs, then outputs, each
 * aligned. Returns the bytes the layout needs (with block NULL: only that). */
static size_t lay_out(cv_request_t *req, const cv_shape_t *in_shapes, const cv_plan_t *plan, char *block)
{
    const cv_graph_t *g = req->tenant->graph;
    size_t at = 0;
    for (int i = 0; i < g->ninputs; i++) {
        cv_tensor_t t = {g->values[g->inputs[i]].dtype, in_shapes[i], block ? block + at : NULL};
        if (block) req->inputs[i] = t;
        at += align_up(cv_tensor_nbytes(&t));
    }
    for (int o = 0; o < g->noutputs; o++) {
        const cv_plan_value_t *pv = &plan->values[g->outputs[o]];
        cv_shape_t shape = pv->shape;
        /* A batched output's rows are the request's; another is whole. */
        if (pv->batched) shape.dims[0] = shape.dims[0] / plan->rows * req->rows;
        cv_tensor_t t = {pv->dtype, shape, block ? block + at : NULL};
        if (block) req->outputs[o] = t;
        at += align_up(cv_tensor_nbytes(&t));
    }
    return at;
}

static cv_request_t *pool_take(cv_tenant_t *t, size_t bytes)
{
    pthread_mutex_lock(&t->rt->mu);
    cv_request_t **link = &t->pool, *found = NULL;
    for (; *link; link = &(*link)->pool_next)
        if ((*link)->block_bytes >= bytes) {
            found = *link;
            *link = found->pool_next;
            t->pooled--;
            break;
        }
    pthread_mutex_unlock(&t->rt->mu);
    return found;
}

cv_status cv_request_create(cv_runtime_t *rt, cv_tenant_t *t, int64_t rows, cv_request_t **out, cv_err_t *err)
{
    const cv_graph_t *g = t->graph;
    if (t->unloaded) return cv_errorf(err, CV_STATUS_NOT_FOUND, "tenant '%s' is unloaded", t->name);
    if (!t->by_rows)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "tenant '%s': an input has symbolic dimensions beyond the batch axis, so requests "
                         "cannot be made by rows (use cv_wave_run)", t->name);
    if (rows < 1 || rows > t->config.max_rows)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "tenant '%s': a request of %lld rows (it takes 1 to %lld)",
                         t->name, (long long)rows, (long long)t->config.max_rows);
    cv_shape_t shapes[g->ninputs + 1];
    request_shapes(t, rows, shapes);
    /* Output shapes come from the family's plan for a wave of these rows. */
    cv_plan_t *plan;
    cv_status st = cv_family_plan_acquire(rt, t->family, shapes, NULL, &plan, err);
    if (st != CV_STATUS_OK) return st;
    cv_request_t probe = {.tenant = t, .rows = rows};
    size_t bytes = lay_out(&probe, shapes, plan, NULL);

    cv_request_t *req = pool_take(t, bytes);
    if (!req) {
        size_t tensors = sizeof(cv_tensor_t) * (size_t)(g->ninputs + g->noutputs + 1);
        /* From a line's start: the scheduler's part of it (first) is read
         * by a wave's decision as one line. */
        req = cv_calloc_lines(1, sizeof(*req) + tensors);
        void *block = NULL;
        st = req ? host_alloc(rt, bytes, &block, err)
                 : cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a request");
        if (st != CV_STATUS_OK) {
            cv_free(req);
            cv_family_plan_release(t->family, plan);
            return st;
        }
        req->rt = rt;
        req->tenant = t;
        req->block = block;
        req->block_bytes = bytes;
        req->inputs = (cv_tensor_t *)(req + 1);
        req->outputs = req->inputs + g->ninputs;
        req->ninputs = g->ninputs;
        req->noutputs = g->noutputs;
        atomic_fetch_add(&t->request_bytes, bytes);
        cv_tenant_ref(t);
    }
    req->rows = rows;
    lay_out(req, shapes, plan, req->block);
    cv_family_plan_release(t->family, plan);
    for (int i = 0; i < req->ninputs; i++) memset(req->inputs[i].data, 0, cv_tensor_nbytes(&req->inputs[i]));
    req->sched = (cv_sched_req_t){.tenant = t->sched, .rows = rows, .state = CV_SCHED_NEW};
    req->timeout_ms = 0;
    req->priority = 0;
    req->priority_set = false;
    req->run_here_us = 0;
    req->done = NULL;
    req->user = NULL;
    req->status = CV_STATUS_OK;
    req->err.msg[0] = 0;
    atomic_store(&req->answered, false);
    req->wave_tenants = 0;
    req->launched_ns = req->answered_ns = 0;
    req->pool_next = NULL;
    *out = req;
    return CV_STATUS_OK;
}

void cv_request_destroy(cv_request_t *req)
{
    if (!req) return;
    CV_ASSERT(req->sched.state != CV_SCHED_QUEUED && req->sched.state != CV_SCHED_IN_WAVE);
    cv_tenant_t *t = req->tenant;
    pthread_mutex_lock(&req->rt->mu);
    bool keep = !t->unloaded && t->pooled < POOL_MAX;
    if (keep) {
        req->pool_next = t->pool;
        t->pool = req;
        t->pooled++;
    }
    pthread_mutex_unlock(&req->rt->mu);
    if (!keep) request_free(req);
}

cv_tenant_t *cv_request_tenant(const cv_request_t *req) { return req->tenant; }
cv_runtime_t *cv_request_runtime(const cv_request_t *req) { return req->rt; }
int64_t cv_request_rows(const cv_request_t *req) { return req->rows; }

cv_tensor_t *cv_request_input(cv_request_t *req, int i)
{
    CV_ASSERT(i >= 0 && i < req->ninputs);
    return &req->inputs[i];
}

const cv_tensor_t *cv_request_output(const cv_request_t *req, int i)
{
    CV_ASSERT(i >= 0 && i < req->noutputs);
    return &req->outputs[i];
}

void cv_request_set_timeout(cv_request_t *req, double timeout_ms) { req->timeout_ms = timeout_ms; }

void cv_request_set_priority(cv_request_t *req, int priority)
{
    req->priority = priority;
    req->priority_set = true;
}

void cv_request_set_run_here(cv_request_t *req, double max_us)
{
    req->run_here_us = max_us > 0 ? max_us : 0;
}

/* The request's deadline: arrival plus the tenant's SLO or its own shorter
 * timeout; none without either. */
static uint64_t deadline_of(const cv_request_t *req, uint64_t now)
{
    double ms = req->tenant->config.slo_ms;
    if (req->timeout_ms > 0 && (ms <= 0 || req->timeout_ms < ms)) ms = req->timeout_ms;
    return ms > 0 ? now + (uint64_t)(ms * 1e6) : CV_SCHED_NO_DEADLINE;
}

static const char *outcome_message(cv_outcome_t outcome)
{
    switch (outcome) {
    case CV_OUTCOME_EXPIRED: return "its deadline passed while it was queued; it was not run";
    case CV_OUTCOME_CANCELLED: return "cancelled while queued; it was not run";
    case CV_OUTCOME_UNLOADED: return "its tenant was unloaded while it was queued";
    case CV_OUTCOME_SHUTDOWN: return "the runtime stopped while it was queued";
    case CV_OUTCOME_QUEUE_FULL: return "rejected: the tenant's queue is full";
    case CV_OUTCOME_INFEASIBLE: return "rejected: its deadline cannot be met";
    default: return "not answered";
    }
}

static void record_rejection(cv_request_t *req, cv_status st, const cv_err_t *err)
{
    req->status = st;
    req->err = *err;
    req->sched.state = CV_SCHED_NEW;
    atomic_store(&req->answered, true);
}

cv_status cv_submit(cv_runtime_t *rt, cv_request_t *req, cv_request_done_fn done, void *user, cv_err_t *err)
{
    if (req->rt != rt)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the request belongs to another runtime");
    cv_tenant_t *t = req->tenant;
    pthread_mutex_lock(&rt->mu);
    cv_status st = CV_STATUS_OK;
    if (req->sched.state == CV_SCHED_QUEUED || req->sched.state == CV_SCHED_IN_WAVE) {
        pthread_mutex_unlock(&rt->mu);
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "tenant '%s': the request is already pending", t->name);
    }
    uint64_t now = cv_clock_ns();
    req->sched.priority = req->priority_set ? req->priority : t->config.priority;
    req->sched.rows = req->rows;
    req->sched.deadline_ns = deadline_of(req, now);
    req->done = done;
    req->user = user;
    req->status = CV_STATUS_OK;
    req->err.msg[0] = 0;
    req->wave_tenants = 0;
    req->launched_ns = req->answered_ns = 0;
    atomic_store(&req->answered, false);
    if (rt->stopping || t->unloaded) {
        req->sched.outcome = rt->stopping ? CV_OUTCOME_SHUTDOWN : CV_OUTCOME_UNLOADED;
        st = cv_errorf(err, CV_STATUS_UNAVAILABLE, "tenant '%s': %s", t->name,
                       rt->stopping ? "the runtime is stopping" : "the tenant is unloaded");
    } else {
        /* Lanes get their backends and workers with the first request, so
         * that a runtime that only runs cv_wave_run (the tools) has none. */
        if (rt->lanes_pending) {
            st = cv_driver_attach_lanes(rt, err);
            if (st == CV_STATUS_OK) rt->lanes_pending = false;
            else req->sched.outcome = CV_OUTCOME_FAILED;
        }
        if (st == CV_STATUS_OK) st = cv_sched_submit(rt->sched, &req->sched, now, err);
        if (st != CV_STATUS_OK) cv_err_prefix(err, "tenant '%s'", t->name);
    }
    if (st != CV_STATUS_OK) {
        if (!t->unloaded) cv_sched_count(&req->sched, req->sched.outcome, false, 0, 0, 0, 0);
        record_rejection(req, st, err);
        pthread_mutex_unlock(&rt->mu);
        return st;
    }
    t->sched->stats.submitted++;
    t->sched->group->stats.submitted++;
    /* May answer req, and its callback free it: not touched after. */
    cv_driver_schedule_submitted(rt, req);
    pthread_mutex_unlock(&rt->mu);
    return CV_STATUS_OK;
}

bool cv_request_cancel(cv_runtime_t *rt, cv_request_t *req)
{
    pthread_mutex_lock(&rt->mu);
    cv_sched_list_t answered = {0};
    bool cancelled = cv_sched_cancel(rt->sched, &req->sched, &answered);
    if (cancelled) cv_driver_answer(rt, &answered);
    pthread_mutex_unlock(&rt->mu);
    return cancelled;
}

void cv_request_answer_unrun(cv_request_t *req, uint64_t now)
{
    cv_outcome_t outcome = req->sched.outcome;
    req->status = CV_STATUS_UNAVAILABLE;
    cv_errorf(&req->err, CV_STATUS_UNAVAILABLE, "tenant '%s': %s", req->tenant->name, outcome_message(outcome));
    req->answered_ns = now;
    cv_sched_count(&req->sched, outcome, false, 0, 0, 0, (double)(now - req->sched.arrival_ns) / 1e6);
}

void cv_request_deliver(cv_request_t *req)
{
    /* Answered only here, at the very end: a waiter may destroy the
     * request as soon as it sees it answered, and a callback may too. */
    if (req->done) {
        atomic_store(&req->answered, true);
        req->done(req, req->user);
        return;
    }
    cv_runtime_t *rt = req->rt;
    pthread_mutex_lock(&rt->mu);
    atomic_store(&req->answered, true);
    pthread_cond_broadcast(&rt->answered);
    pthread_mutex_unlock(&rt->mu);
}

cv_status cv_request_wait(cv_request_t *req, cv_err_t *err)
{
    cv_runtime_t *rt = req->rt;
    pthread_mutex_lock(&rt->mu);
    while (!atomic_load(&req->answered)) pthread_cond_wait(&rt->answered, &rt->mu);
    pthread_mutex_unlock(&rt->mu);
    return cv_request_status(req, err);
}

cv_status cv_request_status(const cv_request_t *req, cv_err_t *err)
{
    if (!atomic_load(&req->answered))
        return cv_errorf(err, CV_STATUS_UNAVAILABLE, "tenant '%s': the request is not answered yet", req->tenant->name);
    if (req->status != CV_STATUS_OK && err) *err = req->err;
    return req->status;
}

cv_outcome_t cv_request_outcome(const cv_request_t *req)
{
    return atomic_load(&req->answered) ? req->sched.outcome : CV_OUTCOME_PENDING;
}

bool cv_request_slo_met(const cv_request_t *req)
{
    return cv_request_outcome(req) == CV_OUTCOME_COMPLETED && req->answered_ns <= req->sched.deadline_ns;
}

cv_request_timings_t cv_request_timings(const cv_request_t *req)
{
    cv_request_timings_t t = {0};
    if (!atomic_load(&req->answered) || !req->answered_ns) return t;
    uint64_t arrival = req->sched.arrival_ns;
    t.total_ms = (double)(req->answered_ns - arrival) / 1e6;
    if (!req->launched_ns) return t;
    t.queued_ms = (double)(req->sched.waved_ns - arrival) / 1e6;
    t.waved_ms = (double)(req->launched_ns - req->sched.waved_ns) / 1e6;
    t.computed_ms = (double)(req->answered_ns - req->launched_ns) / 1e6;
    return t;
}

const char *cv_outcome_name(cv_outcome_t outcome)
{
    switch (outcome) {
    case CV_OUTCOME_PENDING: return "pending";
    case CV_OUTCOME_COMPLETED: return "completed";
    case CV_OUTCOME_FAILED: return "failed";
    case CV_OUTCOME_QUEUE_FULL: return "queue_full";
    case CV_OUTCOME_INFEASIBLE: return "infeasible";
    case CV_OUTCOME_EXPIRED: return "expired";
    case CV_OUTCOME_CANCELLED: return "cancelled";
    case CV_OUTCOME_UNLOADED: return "unloaded";
    case CV_OUTCOME_SHUTDOWN: return "shutdown";
    }
    return "unknown";
}
