/*
 * runtime.c: a runtime: one backend, the executor that runs waves on it, and
 * the tenants loaded into it (tenant.c); waves themselves are in wave.c.
 */
#include "runtime/runtime_internal.h"

#include <string.h>

cv_status cv_runtime_create(const cv_runtime_config_t *config, cv_runtime_t **out, cv_err_t *err)
{
    cv_runtime_t *rt = cv_calloc(1, sizeof(*rt));
    if (!rt) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory creating a runtime");
    rt->config = *config;
    cv_status st;
    if (config->device == CV_DEVICE_CPU) {
        st = cv_backend_cpu_create(config->threads, &rt->backend, err);
    } else {
#ifdef CARAVEL_WITH_CUDA
        st = cv_backend_cuda_create(0, &rt->backend, err);
#else
        st = cv_errorf(err, CV_STATUS_UNAVAILABLE,
                       "the CUDA backend is not part of this build (device 'cuda')");
#endif
    }
    if (st == CV_STATUS_OK) st = cv_exec_create(rt->backend, &rt->exec, err);
    if (st != CV_STATUS_OK) {
        cv_runtime_destroy(rt);
        return st;
    }
    rt->fold_cpu.threads = config->threads;
    *out = rt;
    return CV_STATUS_OK;
}

void cv_runtime_destroy(cv_runtime_t *rt)
{
    if (!rt) return;
    while (rt->tenants) cv_tenant_unload(rt, rt->tenants);
    cv_exec_destroy(rt->exec);
    if (rt->backend) rt->backend->iface->destroy(rt->backend);
    cv_cpu_ctx_release(&rt->fold_cpu);
    cv_free(rt);
}

cv_status cv_runtime_stats(cv_runtime_t *rt, cv_runtime_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->waves = rt->waves;
    if (rt->backend->iface->stats) {
        cv_backend_stats_t b = {0};
        rt->backend->iface->stats(rt->backend, &b);
        out->fallback_steps = b.fallback_steps;
        out->graph_hits = b.graph_hits;
        out->graph_refreshes = b.graph_refreshes;
        out->graph_misses = b.graph_misses;
        out->last_wave_device_ms = b.last_wave_device_ms;
    }
    return CV_STATUS_OK;
}
