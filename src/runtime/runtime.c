/*
 * runtime.c: a runtime: its main backend (tenants' constants, cv_wave_run),
 * the scheduler and the threads that drive it (driver.c), its tenants
 * (tenant.c) and requests (request.c); and its counters.
 */
#include "runtime/runtime_internal.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_WAVE_ROWS 64
#define DEFAULT_STRAGGLER_FACTOR 3.0

const char *cv_policy_name(cv_policy_t policy)
{
    switch (policy) {
    case CV_POLICY_SPACETIME: return "spacetime";
    case CV_POLICY_EXCLUSIVE: return "exclusive";
    case CV_POLICY_TIME: return "time";
    case CV_POLICY_SPACE: return "space";
    }
    return "unknown";
}

bool cv_policy_parse(const char *name, cv_policy_t *out)
{
    static const cv_policy_t all[] = {CV_POLICY_SPACETIME, CV_POLICY_EXCLUSIVE, CV_POLICY_TIME, CV_POLICY_SPACE};
    for (size_t i = 0; i < CV_ARRAY_LEN(all); i++)
        if (!strcmp(name, cv_policy_name(all[i]))) {
            *out = all[i];
            return true;
        }
    return false;
}

/* The config with its defaults filled in, checked. */
static cv_status settle_config(const cv_runtime_config_t *in, cv_runtime_config_t *c, cv_err_t *err)
{
    *c = *in;
    if (c->threads < 0 || c->max_wave_rows < 0 || c->waves_in_flight < 0 || c->straggler_factor < 0 ||
        c->device_index < 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "runtime config: threads, device_index, max_wave_rows, waves_in_flight and "
                         "straggler_factor must not be negative");
    if (c->policy != CV_POLICY_SPACETIME && c->policy != CV_POLICY_EXCLUSIVE && c->policy != CV_POLICY_TIME &&
        c->policy != CV_POLICY_SPACE)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "runtime config: unknown policy %d", (int)c->policy);
    if (!c->max_wave_rows) c->max_wave_rows = DEFAULT_MAX_WAVE_ROWS;
    if (!c->waves_in_flight) c->waves_in_flight = c->device == CV_DEVICE_CPU ? 1 : 2;
    if (c->straggler_factor == 0) c->straggler_factor = DEFAULT_STRAGGLER_FACTOR;
    return CV_STATUS_OK;
}

static void init_sync(cv_runtime_t *rt)
{
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    /* Wake-ups are computed on cv_clock_ns's clock. */
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_mutex_init(&rt->mu, NULL);
    pthread_mutex_init(&rt->exec_mu, NULL);
    pthread_mutex_init(&rt->load_mu, NULL);
    pthread_cond_init(&rt->wake, &monotonic);
    pthread_cond_init(&rt->answered, NULL);
    pthread_cond_init(&rt->answer_cv, NULL);
    pthread_condattr_destroy(&monotonic);
}

cv_status cv_runtime_create(const cv_runtime_config_t *config, cv_runtime_t **out, cv_err_t *err)
{
    cv_runtime_t *rt = cv_calloc(1, sizeof(*rt));
    if (!rt) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory creating a runtime");
    init_sync(rt);
    cv_status st = settle_config(config, &rt->config, err);
    cv_weights_init(&rt->weights, !rt->config.no_weight_sharing);
    if (st == CV_STATUS_OK) {
        if (rt->config.device == CV_DEVICE_CPU) {
            st = cv_backend_cpu_create(rt->config.threads, &rt->backend, err);
        } else {
#ifdef CARAVEL_WITH_CUDA
            st = cv_backend_cuda_create(rt->config.device_index, &rt->backend, err);
#else
            st = cv_errorf(err, CV_STATUS_UNAVAILABLE,
                           "the CUDA backend is not part of this build (device 'cuda')");
#endif
        }
    }
    if (st == CV_STATUS_OK) st = cv_exec_create(rt->backend, &rt->exec, err);
    if (st == CV_STATUS_OK) cv_exec_set_profile(rt->exec, rt->config.step_profile);
    cv_sched_config_t sc = {.policy = rt->config.policy,
                            .max_wave_rows = rt->config.max_wave_rows,
                            .waves_in_flight = rt->config.waves_in_flight,
                            .straggler_factor = rt->config.straggler_factor};
    if (st == CV_STATUS_OK) st = cv_sched_create(&sc, &rt->sched, err);
    rt->lanes_pending = true;
    if (st == CV_STATUS_OK) st = cv_driver_start(rt, err);
    if (st != CV_STATUS_OK) {
        cv_runtime_destroy(rt);
        return st;
    }
    rt->fold_cpu.threads = rt->config.threads;
    *out = rt;
    return CV_STATUS_OK;
}

void cv_runtime_destroy(cv_runtime_t *rt)
{
    if (!rt) return;
    cv_driver_stop(rt);
    while (rt->tenants) cv_tenant_unload(rt, rt->tenants);
    if (rt->sched) {
        cv_sched_lane_t *lanes[8];
        int n = 0;
        for (cv_sched_lane_t *l = rt->sched->lanes; l && n < 8; l = l->next) lanes[n++] = l;
        cv_driver_detach_lanes(rt, lanes, n);
        cv_sched_destroy(rt->sched);
    }
    cv_exec_destroy(rt->exec);
    /* Every tenant gave its weights back; the backend that held them goes next. */
    cv_weights_destroy(&rt->weights);
    if (rt->backend) rt->backend->iface->destroy(rt->backend);
    cv_cpu_ctx_release(&rt->fold_cpu);
    cv_free(rt->profile);
    pthread_cond_destroy(&rt->wake);
    pthread_cond_destroy(&rt->answered);
    pthread_cond_destroy(&rt->answer_cv);
    pthread_mutex_destroy(&rt->mu);
    pthread_mutex_destroy(&rt->exec_mu);
    pthread_mutex_destroy(&rt->load_mu);
    cv_free(rt);
}

bool cv_runtime_drain(cv_runtime_t *rt, double timeout_ms)
{
    uint64_t until = timeout_ms < 0 ? UINT64_MAX : cv_clock_ns() + (uint64_t)(timeout_ms * 1e6);
    pthread_mutex_lock(&rt->mu);
    bool drained;
    for (;;) {
        drained = rt->sched->queued == 0 && rt->sched->in_flight == 0 && !rt->to_answer.count && !rt->answering;
        if (drained || cv_clock_ns() >= until) break;
        /* `answered` is broadcast after each wave and each answered request;
         * a bounded wait guards against missing one while polling time. */
        uint64_t now = cv_clock_ns(), step = now + 10 * 1000000ull;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait_ns = (step < until ? step : until) - now;
        ts.tv_sec += (time_t)(wait_ns / 1000000000ull);
        ts.tv_nsec += (long)(wait_ns % 1000000000ull);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&rt->answered, &rt->mu, &ts);
    }
    pthread_mutex_unlock(&rt->mu);
    return drained;
}

int cv_runtime_step_profile(cv_runtime_t *rt, cv_step_profile_t *out, int max)
{
    pthread_mutex_lock(&rt->exec_mu);
    int n = rt->profile_steps;
    if (out && n > 0 && max > 0) memcpy(out, rt->profile, sizeof(*out) * (size_t)(n < max ? n : max));
    pthread_mutex_unlock(&rt->exec_mu);
    return n;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of the last min(n, HOST_SAMPLES) samples of a ring. */
static double median(const double *ring, long n)
{
    long k = n < HOST_SAMPLES ? n : HOST_SAMPLES;
    if (!k) return 0;
    double sorted[HOST_SAMPLES];
    memcpy(sorted, ring, sizeof(double) * (size_t)k);
    qsort(sorted, (size_t)k, sizeof(double), compare_double);
    return k % 2 ? sorted[k / 2] : (sorted[k / 2 - 1] + sorted[k / 2]) / 2;
}

cv_status cv_runtime_stats(cv_runtime_t *rt, cv_runtime_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->waves = atomic_load(&rt->waves);
    out->last_wave_flops = atomic_load(&rt->last_wave_flops);
    if (rt->backend->iface->stats) {
        /* The runtime's own backend runs cv_wave_run's waves under exec_mu:
         * read its counters between them. */
        cv_backend_stats_t b = {0};
        pthread_mutex_lock(&rt->exec_mu);
        rt->backend->iface->stats(rt->backend, &b);
        pthread_mutex_unlock(&rt->exec_mu);
        out->fallback_steps = b.fallback_steps;
        out->graph_hits = b.graph_hits;
        out->graph_rebinds = b.graph_rebinds;
        out->graph_refreshes = b.graph_refreshes;
        out->graph_misses = b.graph_misses;
        out->graph_nodes_max = b.graph_nodes_max;
        out->graph_kernel_nodes_max = b.graph_kernel_nodes_max;
        out->last_wave_device_ms = b.last_wave_device_ms;
    }

    pthread_mutex_lock(&rt->mu);
    cv_weights_totals(&rt->weights, &out->weight_tensors, &out->shared_weight_tensors, &out->weight_host_bytes,
                      &out->weight_device_bytes, &out->weight_saved_bytes);
    out->queued = rt->sched->queued;
    out->in_flight = rt->sched->in_flight;
    for (cv_tenant_t *t = rt->tenants; t; t = t->next) out->tenants++;
    out->stragglers = rt->sched->stragglers;
    out->lanes = rt->lanes_made;
    out->lanes_replaced = rt->lanes_replaced;
    out->form_us_median = median(rt->form_us, rt->nform);
    out->handoff_us_median = median(rt->handoff_us, rt->nform);
    out->launch_us_median = median(rt->launch_us, rt->nlaunch);
    out->inputs_us_median = median(rt->inputs_us, rt->nlaunch);
    out->cache_us_median = median(rt->cache_us, rt->nlaunch);
    out->graph_rebind_us_median = median(rt->rebind_us, rt->nrebind);
    out->graph_launch_us_median = median(rt->graph_launch_us, rt->ngraph_launch);
    out->graph_lookup_us_median = median(rt->lookup_us, rt->nlookup);
    /* The lanes' backends run the scheduled waves: their counters too. */
    for (cv_sched_lane_t *l = rt->sched->lanes; l; l = l->next) {
        cv_lane_t *lane = l->impl;
        if (!lane) continue;
        cv_backend_stats_t b = lane->stats;
        out->fallback_steps += b.fallback_steps;
        out->graph_hits += b.graph_hits;
        out->graph_rebinds += b.graph_rebinds;
        out->graph_refreshes += b.graph_refreshes;
        out->graph_misses += b.graph_misses;
        out->graph_nodes_max = CV_MAX(out->graph_nodes_max, b.graph_nodes_max);
        out->graph_kernel_nodes_max = CV_MAX(out->graph_kernel_nodes_max, b.graph_kernel_nodes_max);
    }
    pthread_mutex_unlock(&rt->mu);
    return CV_STATUS_OK;
}

cv_status cv_runtime_device_info(cv_runtime_t *rt, cv_device_info_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    out->device = rt->config.device;
    if (!rt->backend->iface->device_info) {
        snprintf(out->name, sizeof out->name, "cpu");
        return CV_STATUS_OK;
    }
    return rt->backend->iface->device_info(rt->backend, out, err);
}

int cv_cuda_device_count(void)
{
#ifdef CARAVEL_WITH_CUDA
    return cv_backend_cuda_device_count();
#else
    return 0;
#endif
}
