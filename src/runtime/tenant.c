/*
 * tenant.c: loading a tenant (ONNX -> IR -> load-time passes -> its
 * weights interned in the runtime's weight store, shared with the tenants
 * that have the same tensors -> its constants on the backend -> its family
 * and the scheduler, and a new family's profile), unloading (its queued
 * requests answered, its waves finished, its weights given back), and what
 * the API tells of a tenant (its memory: own and shared).
 */
#include "ir/passes.h"
#include "onnx/onnx_loader.h"
#include "runtime/runtime_internal.h"

#include <stdlib.h>
#include <string.h>

void cv_tenant_ref(cv_tenant_t *t) { atomic_fetch_add(&t->refs, 1); }

void cv_tenant_unref(cv_tenant_t *t)
{
    if (atomic_fetch_sub(&t->refs, 1) != 1) return;
    cv_graph_destroy(t->graph);
    cv_free(t->name);
    cv_free(t);
}

/* Whether requests can be made by rows: every input's dims are fixed but
 * the batch axis (all of them, without one). */
static bool fixed_beyond_rows(const cv_graph_t *g)
{
    for (int i = 0; i < g->ninputs; i++) {
        const cv_shape_t *s = &g->values[g->inputs[i]].shape;
        for (int d = g->batched ? 1 : 0; d < s->ndim; d++)
            if (s->dims[d] < 0) return false;
    }
    return true;
}

/* The defaults of a tenant's config, checked. */
static cv_status settle_config(cv_runtime_t *rt, const char *name, const cv_graph_t *g, cv_tenant_config_t *c,
                               cv_err_t *err)
{
    if (c->precision != CV_PRECISION_FP32 && rt->config.device == CV_DEVICE_CPU)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "tenant '%s': the CPU backend runs FP32 only (TF32, FP16, BF16 need CUDA)", name);
    if (c->slo_ms < 0 || c->share < 0 || c->max_rows < 0 || c->queue_bound < 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "tenant '%s': slo_ms, share, max_rows and queue_bound must not be negative", name);
    int64_t widest = rt->config.max_wave_rows;
    if (c->max_rows > widest)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "tenant '%s': max_rows %lld is more than the runtime's widest wave (%lld rows)", name,
                         (long long)c->max_rows, (long long)widest);
    if (!c->max_rows) c->max_rows = widest;
    if (!g->batched) c->max_rows = 1; /* no batch axis: one whole input per request */
    return CV_STATUS_OK;
}

/* The family of a prepared graph at a precision: one wave runs one
 * precision, so precision is part of it. */
static uint64_t family_hash(const cv_graph_t *g, cv_precision_t precision)
{
    return cv_ir_family_hash(g) ^ ((uint64_t)precision * 0x9E3779B97F4A7C15ull);
}

/* Puts t in its family (a new one for a new structural hash, with its
 * scheduling group and, under spacetime, its lanes) and in the scheduler.
 * Under rt->mu. *fresh tells whether the family is new. */
static cv_status join_family(cv_runtime_t *rt, cv_tenant_t *t, bool *fresh, cv_err_t *err)
{
    uint64_t hash = family_hash(t->graph, t->config.precision);
    cv_family_t *f = rt->families;
    while (f && f->hash != hash) f = f->next;
    *fresh = !f;
    if (!f) {
        f = cv_calloc(1, sizeof(*f));
        if (!f) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a family");
        pthread_mutex_init(&f->mu, NULL);
        f->hash = hash;
        f->representative = t;
        cv_tenant_ref(t);
        cv_status st = cv_sched_group_add(rt->sched, f, &f->group, err);
        if (st != CV_STATUS_OK) {
            cv_tenant_unref(t);
            pthread_mutex_destroy(&f->mu);
            cv_free(f);
            return st;
        }
        f->next = rt->families;
        rt->families = f;
    }
    t->family = f;
    f->ntenants++;
    rt->lanes_pending = true; /* the family's or the tenant's, if the policy makes any */
    return cv_sched_tenant_add(rt->sched, f->group, &t->config, t->config.max_rows, t, &t->sched, err);
}

static void free_family(cv_runtime_t *rt, cv_family_t *f)
{
    cv_family_t **link = &rt->families;
    while (*link != f) link = &(*link)->next;
    *link = f->next;
    cv_family_drop_plans(rt, f);
    cv_sched_group_remove(rt->sched, f->group);
    if (f->next_representative) cv_tenant_unref(f->next_representative);
    cv_tenant_unref(f->representative);
    pthread_mutex_destroy(&f->mu);
    cv_free(f);
}

/* The lanes that go with t: its own under space, its family's under
 * spacetime when it is the last member. Under rt->mu. */
static int lanes_of(const cv_tenant_t *t, cv_sched_lane_t **out)
{
    int n = 0;
    if (t->sched->lane) out[n++] = t->sched->lane;
    if (t->family->ntenants == 1)
        for (int i = 0; i < t->family->group->nlanes; i++) out[n++] = t->family->group->lanes[i];
    return n;
}

/* Takes t out of the scheduler and its family; the family goes with its
 * last member. Under rt->mu, with t's lanes detached and nothing of t in
 * flight. */
static void leave_family(cv_runtime_t *rt, cv_tenant_t *t)
{
    cv_family_t *f = t->family;
    cv_sched_list_t answered = {0};
    if (t->sched) cv_sched_tenant_remove(rt->sched, t->sched, &answered);
    cv_driver_answer(rt, &answered);
    t->sched = NULL;
    if (--f->ntenants == 0) {
        free_family(rt, f);
        return;
    }
    if (f->representative == t && !f->next_representative) {
        /* Plans read this graph: the family keeps it until none is in use
         * (cv_family_plan_acquire), then plans from another member. */
        for (cv_tenant_t *o = rt->tenants; o; o = o->next)
            if (o->family == f && o != t && !o->unloaded) {
                f->next_representative = o;
                cv_tenant_ref(o);
                break;
            }
        f->change_representative = f->next_representative != NULL;
    }
}

static int by_weights(const void *a, const void *b)
{
    const cv_tenant_t *x = *(cv_tenant_t *const *)a, *y = *(cv_tenant_t *const *)b;
    bool share;
    int order = cv_weights_compare(&x->weights, &y->weights, &share);
    return order ? order : (x->share_rank > y->share_rank) - (x->share_rank < y->share_rank);
}

/* Orders the family's loaded tenants by what they share (weights.h,
 * cv_weights_compare) into share_rank, and notes whether any two next to
 * each other share a tensor (else waves keep the scheduler's order: the
 * order would make no run longer). Under rt->mu. */
static void rank_family(cv_runtime_t *rt, cv_family_t *f)
{
    int n = 0;
    for (cv_tenant_t *t = rt->tenants; t; t = t->next) n += t->family == f;
    f->shares = false;
    cv_tenant_t **members = n > 1 ? cv_malloc(sizeof(*members) * (size_t)n) : NULL;
    if (!members) return; /* one tenant, or no room: waves as formed */
    n = 0;
    for (cv_tenant_t *t = rt->tenants; t; t = t->next)
        if (t->family == f) members[n++] = t;
    qsort(members, (size_t)n, sizeof(*members), by_weights);
    for (int i = 0; i < n; i++) {
        bool share = false;
        if (i > 0) cv_weights_compare(&members[i - 1]->weights, &members[i]->weights, &share);
        f->shares = f->shares || share;
        members[i]->share_rank = i;
    }
    cv_free(members);
}

void cv_family_order_requests(const cv_family_t *f, cv_request_t **reqs, int n)
{
    if (!f->shares) return;
    /* Insertion sort: stable, and waves are a few dozen requests. */
    for (int i = 1; i < n; i++) {
        cv_request_t *r = reqs[i];
        int j = i;
        while (j > 0 && reqs[j - 1]->tenant->share_rank > r->tenant->share_rank) {
            reqs[j] = reqs[j - 1];
            j--;
        }
        reqs[j] = r;
    }
}

/* Releases what t holds on the device and in the weight store (a tensor
 * other tenants still have stays) and, unless its family still plans from
 * it, its graph. */
static void release_model(cv_runtime_t *rt, cv_tenant_t *t, bool keep_graph)
{
    /* Under the tenant's account, which the backend credits. */
    cv_account_t *previous = cv_account_use(&t->account);
    if (t->constants) rt->backend->iface->tenant_release(rt->backend, t->graph, t->constants);
    t->constants = NULL;
    t->constants_serial = 0;
    cv_weights_release(&rt->weights, rt->backend, t->graph, &t->weights, keep_graph);
    cv_account_use(previous);
    if (!keep_graph) {
        cv_graph_destroy(t->graph);
        t->graph = NULL;
    }
}

cv_status cv_tenant_load_config(cv_runtime_t *rt, const char *name, const char *onnx_path,
                                const cv_tenant_config_t *config, cv_tenant_t **out, cv_err_t *err)
{
    if (!name || !name[0]) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "a tenant needs a name");
    pthread_mutex_lock(&rt->load_mu);
    if (cv_tenant_find(rt, name)) {
        pthread_mutex_unlock(&rt->load_mu);
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "a tenant named '%s' is loaded already", name);
    }
    cv_tenant_t *t = cv_calloc(1, sizeof(*t));
    if (!t) {
        pthread_mutex_unlock(&rt->load_mu);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory loading tenant '%s'", name);
    }
    atomic_init(&t->refs, 1);
    atomic_init(&t->request_bytes, 0);
    t->rt = rt;
    t->config = *config;
    t->account.name = t->name = cv_strdup(name);
    cv_account_t *previous = cv_account_use(&t->account);
    cv_status st = t->name ? CV_STATUS_OK : cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    if (st == CV_STATUS_OK) st = cv_onnx_load(onnx_path, &t->graph, err);
    if (st == CV_STATUS_OK) st = settle_config(rt, name, t->graph, &t->config, err);
    if (st == CV_STATUS_OK) st = cv_ir_prepare(t->graph, &rt->fold_cpu, err);
    if (st == CV_STATUS_OK && !rt->config.no_fusion) st = cv_plan_fuse_residuals(t->graph, &rt->fold_cpu, err);
    /* Its weights by content: those another tenant has are that tenant's
     * copy from now on; on a device the host keeps only what host code
     * reads. Then the constants table, pointing at the stored copies. */
    if (st == CV_STATUS_OK)
        st = cv_weights_intern(&rt->weights, rt->backend, t->graph, t->config.precision, &t->weights, err);
    if (st == CV_STATUS_OK)
        st = rt->backend->iface->tenant_upload(rt->backend, t->graph, t->config.precision,
                                               (void *const *)t->weights.stored, &t->constants, err);
    if (st == CV_STATUS_OK && rt->backend->iface->tenant_identity)
        rt->backend->iface->tenant_identity(rt->backend, t->graph, t->constants, &t->constants_serial,
                                            &t->constants_may_share);
    cv_account_use(previous);
    if (st == CV_STATUS_OK) t->by_rows = fixed_beyond_rows(t->graph);

    bool fresh = false;
    if (st == CV_STATUS_OK) {
        pthread_mutex_lock(&rt->mu);
        st = join_family(rt, t, &fresh, err);
        pthread_mutex_unlock(&rt->mu);
    }
    if (st == CV_STATUS_OK && fresh) {
        /* Whether the family's waves may hold several requests, from its
         * plan for two rows; then, unless told not to, its wave times. */
        cv_shape_t shapes[t->graph->ninputs + 1];
        for (int i = 0; i < t->graph->ninputs; i++) {
            shapes[i] = t->graph->values[t->graph->inputs[i]].shape;
            if (t->graph->batched) shapes[i].dims[0] = 2;
        }
        cv_plan_t *plan;
        if (t->by_rows && t->graph->batched &&
            cv_family_plan_acquire(rt, t->family, shapes, NULL, &plan, err) == CV_STATUS_OK) {
            t->family->group->single = !plan->stackable;
            cv_family_plan_release(t->family, plan);
        } else {
            t->family->group->single = true;
        }
        /* Only batched graphs: the plan of one without a batch axis may
         * depend on its inputs' values, which a profile does not have. */
        if (t->by_rows && t->graph->batched && !rt->config.no_profile) st = cv_driver_profile(rt, t, err);
    }
    if (st != CV_STATUS_OK) {
        if (t->family) {
            pthread_mutex_lock(&rt->mu);
            int n = 0;
            cv_sched_lane_t *lanes[rt->config.waves_in_flight + 2];
            if (t->sched) n = lanes_of(t, lanes);
            pthread_mutex_unlock(&rt->mu);
            cv_driver_detach_lanes(rt, lanes, n);
            pthread_mutex_lock(&rt->mu);
            t->unloaded = true;
            leave_family(rt, t);
            pthread_mutex_unlock(&rt->mu);
        }
        /* A failed tenant is nobody's representative but a family's of its
         * own, which went with it. */
        release_model(rt, t, false);
        pthread_mutex_unlock(&rt->load_mu);
        cv_tenant_unref(t);
        return st;
    }
    pthread_mutex_lock(&rt->mu);
    t->next = rt->tenants;
    rt->tenants = t;
    rank_family(rt, t->family);
    pthread_mutex_unlock(&rt->mu);
    pthread_mutex_unlock(&rt->load_mu);
    if (t->weights.nentries) {
        cv_tenant_memory_t m;
        cv_tenant_memory(t, &m);
        bool host = rt->backend->iface->host_memory;
        cv_log(CV_LOG_INFO, "tenant '%s': %d weight tensors, %d shared with other tenants (%zu of their %zu bytes "
                            "charged to it), hashed and compared in %.1f ms",
               name, m.weights, m.shared_weights, host ? m.host_shared : m.device_shared, m.shared_tensor_bytes,
               m.hash_ms);
    }
    *out = t;
    return CV_STATUS_OK;
}

cv_status cv_model_probe(cv_runtime_t *rt, const char *onnx_path, const cv_tenant_config_t *config,
                         cv_model_probe_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    cv_graph_t *g = NULL;
    /* The same passes as a load, so that the hash is the one the tenant
     * will have; under load_mu, which guards fold_cpu. */
    pthread_mutex_lock(&rt->load_mu);
    cv_status st = cv_onnx_load(onnx_path, &g, err);
    if (st == CV_STATUS_OK) st = cv_ir_prepare(g, &rt->fold_cpu, err);
    if (st == CV_STATUS_OK && !rt->config.no_fusion) st = cv_plan_fuse_residuals(g, &rt->fold_cpu, err);
    pthread_mutex_unlock(&rt->load_mu);
    if (st == CV_STATUS_OK) {
        out->family_hash = family_hash(g, config->precision);
        /* As the device will keep them: half copies, and only those where
         * the backend keeps the FP32 copy of no weight that allows it (an
         * FP16 ResNet-50: 51 MB, not the 150 of both copies). */
        const cv_backend_i *be = rt->backend->iface;
        bool half_only = be->half_only_weights && be->half_only_weights(rt->backend);
        if (cv_backend_constants_bytes(g, config->precision, half_only, &out->weight_bytes) != CV_STATUS_OK)
            st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory sizing the weights of %s", onnx_path);
    }
    cv_graph_destroy(g);
    return st;
}

cv_status cv_tenant_load(cv_runtime_t *rt, const char *name, const char *onnx_path,
                         cv_precision_t precision, cv_tenant_t **out, cv_err_t *err)
{
    cv_tenant_config_t config = {.precision = precision};
    return cv_tenant_load_config(rt, name, onnx_path, &config, out, err);
}

void cv_tenant_unload(cv_runtime_t *rt, cv_tenant_t *t)
{
    pthread_mutex_lock(&rt->load_mu);
    pthread_mutex_lock(&rt->mu);
    cv_tenant_t **link = &rt->tenants;
    while (*link && *link != t) link = &(*link)->next;
    CV_ASSERT(*link == t);
    *link = t->next;
    t->unloaded = true;
    /* Its queued requests are answered; its waves in flight finish. */
    cv_sched_list_t answered = {0};
    cv_sched_tenant_drain(rt->sched, t->sched, CV_OUTCOME_UNLOADED, &answered);
    cv_driver_answer(rt, &answered);
    while (t->sched->in_flight > 0) pthread_cond_wait(&rt->answered, &rt->mu);
    cv_sched_lane_t *lanes[rt->config.waves_in_flight + 2];
    int n = lanes_of(t, lanes);
    pthread_mutex_unlock(&rt->mu);
    cv_driver_detach_lanes(rt, lanes, n);
    pthread_mutex_lock(&rt->mu);
    cv_family_t *f = t->family;
    bool last = f->ntenants == 1;
    leave_family(rt, t);
    if (!last) rank_family(rt, f);
    bool keep_graph = !last && (f->representative == t);
    pthread_mutex_unlock(&rt->mu);
    release_model(rt, t, keep_graph);
    cv_request_pool_free(t);
    pthread_mutex_unlock(&rt->load_mu);
    cv_tenant_unref(t);
}

cv_tenant_t *cv_tenant_find(cv_runtime_t *rt, const char *name)
{
    pthread_mutex_lock(&rt->mu);
    cv_tenant_t *t = rt->tenants;
    while (t && strcmp(t->name, name) != 0) t = t->next;
    pthread_mutex_unlock(&rt->mu);
    return t;
}

const cv_tenant_config_t *cv_tenant_config(const cv_tenant_t *t) { return &t->config; }

cv_status cv_tenant_stats(cv_runtime_t *rt, const cv_tenant_t *t, cv_request_stats_t *out)
{
    pthread_mutex_lock(&rt->mu);
    *out = t->sched->stats;
    out->queued = t->sched->queued;
    out->in_flight = t->sched->in_flight;
    pthread_mutex_unlock(&rt->mu);
    return CV_STATUS_OK;
}

cv_status cv_family_stats(cv_runtime_t *rt, const cv_tenant_t *t, cv_request_stats_t *out)
{
    pthread_mutex_lock(&rt->mu);
    const cv_sched_group_t *g = t->family->group;
    *out = g->stats;
    out->queued = out->in_flight = 0;
    for (int i = 0; i < g->ntenants; i++) {
        out->queued += g->tenants[i]->queued;
        out->in_flight += g->tenants[i]->in_flight;
    }
    pthread_mutex_unlock(&rt->mu);
    return CV_STATUS_OK;
}

const char *cv_tenant_name(const cv_tenant_t *t) { return t->name; }
uint64_t cv_tenant_family_hash(const cv_tenant_t *t) { return t->family->hash; }
int cv_tenant_num_inputs(const cv_tenant_t *t) { return t->graph->ninputs; }
int cv_tenant_num_outputs(const cv_tenant_t *t) { return t->graph->noutputs; }
void cv_tenant_memory(const cv_tenant_t *t, cv_tenant_memory_t *out)
{
    cv_weights_memory_t w;
    cv_weights_memory(&t->rt->weights, &t->weights, &w);
    memset(out, 0, sizeof(*out));
    out->host_own = cv_account_live_bytes(&t->account) + atomic_load(&t->request_bytes) + w.host_own;
    out->host_shared = w.host_shared;
    out->device_own = cv_account_device_bytes(&t->account) + w.device_own;
    out->device_shared = w.device_shared;
    out->weights = w.weights;
    out->shared_weights = w.shared_weights;
    out->shared_tensor_bytes = t->rt->backend->iface->host_memory ? w.shared_whole_host : w.shared_whole_device;
    out->loaded_host_bytes = t->weights.loaded_host;
    out->loaded_device_bytes = t->weights.loaded_device + cv_account_device_bytes(&t->account);
    out->hash_ms = t->weights.hash_ms;
}

size_t cv_tenant_bytes(const cv_tenant_t *t)
{
    cv_tenant_memory_t m;
    cv_tenant_memory(t, &m);
    return m.host_own + m.host_shared;
}

size_t cv_tenant_device_bytes(const cv_tenant_t *t)
{
    cv_tenant_memory_t m;
    cv_tenant_memory(t, &m);
    return m.device_own + m.device_shared;
}

const char *cv_tenant_input_name(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->ninputs);
    return t->graph->values[t->graph->inputs[i]].name;
}

const char *cv_tenant_output_name(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->noutputs);
    return t->graph->values[t->graph->outputs[i]].name;
}

cv_dtype_t cv_tenant_input_dtype(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->ninputs);
    return t->graph->values[t->graph->inputs[i]].dtype;
}

cv_dtype_t cv_tenant_output_dtype(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->noutputs);
    return t->graph->values[t->graph->outputs[i]].dtype;
}

cv_shape_t cv_tenant_input_shape(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->ninputs);
    return t->graph->values[t->graph->inputs[i]].shape;
}

cv_shape_t cv_tenant_output_shape(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->noutputs);
    cv_shape_t s = t->graph->values[t->graph->outputs[i]].shape;
    if (t->graph->batched && s.ndim > 0) s.dims[0] = -1;
    return s;
}

