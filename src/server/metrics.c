/*
 * metrics.c: the metrics port's Prometheus text (exposition format 0.0.4):
 * Triton's per-model series under their names (labels model, version;
 * summed over a model's replicas), so that dashboards made for Triton work,
 * and Triton's GPU memory series (label gpu_uuid) for each CUDA device; and
 * Caravel's own under caravel_: outcomes of every request (each
 * cv_outcome_t, rejections included), wave widths, the fused share, SLO
 * attainment, memory per tenant, where each model is placed (label device,
 * per replica), each device's budget, placed bytes and load, and each
 * device's runtime: waves, super-kernel cache, host time per wave (label
 * device).
 *
 * Every value is read from the public counters (cv_tenant_stats through the
 * registry, cv_runtime_stats) at scrape time; nothing is kept here.
 */
#include "server/internal.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

/* One READY model's numbers, read once per scrape. */
typedef struct sample {
    const cv_served_t *s;
    cv_request_stats_t st; /* summed over its replicas */
    size_t host_bytes, device_bytes, host_shared_bytes, device_shared_bytes;
    cv_replica_stats_t replicas[CV_PLACE_MAX_DEVICES];
    int nreplicas;
} sample_t;

static void family(cv_sbuf_t *b, const char *name, const char *type, const char *help)
{
    cv_sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{model="m",version="v"[,extra]} value */
static void series(cv_sbuf_t *b, const char *name, const sample_t *x, const char *extra, double value)
{
    /* Model names are [A-Za-z0-9_.-] (cv_repo_name_valid): nothing to escape. */
    cv_sbuf_printf(b, "%s{model=\"%s\",version=\"%s\"%s%s} %.17g\n", name, x->s->model, x->s->version_str,
                   extra ? "," : "", extra ? extra : "", value);
}

static long answered_after_submit(const cv_request_stats_t *st)
{
    long n = 0;
    for (int o = CV_OUTCOME_COMPLETED; o < CV_OUTCOME_COUNT; o++)
        if (o != CV_OUTCOME_QUEUE_FULL && o != CV_OUTCOME_INFEASIBLE) n += st->outcomes[o];
    return n;
}

const char *const cv_wave_width_labels[CV_WAVE_HISTOGRAM] = {"1", "2", "3-4", "5-8", "9-16", "17-32", "33-64", "65+"};

static void render_models(cv_sbuf_t *b, const sample_t *xs, int n)
{
    family(b, "nv_inference_request_success", "counter", "Number of successful inference requests, all batch sizes");
    for (int i = 0; i < n; i++) series(b, "nv_inference_request_success", &xs[i], NULL, (double)xs[i].st.outcomes[CV_OUTCOME_COMPLETED]);

    family(b, "nv_inference_request_failure", "counter", "Number of failed inference requests, all batch sizes");
    for (int i = 0; i < n; i++) {
        const long *oc = xs[i].st.outcomes;
        series(b, "nv_inference_request_failure", &xs[i], "reason=\"REJECTED\"",
               (double)(oc[CV_OUTCOME_QUEUE_FULL] + oc[CV_OUTCOME_INFEASIBLE] + oc[CV_OUTCOME_EXPIRED]));
        series(b, "nv_inference_request_failure", &xs[i], "reason=\"CANCELED\"", (double)oc[CV_OUTCOME_CANCELLED]);
        series(b, "nv_inference_request_failure", &xs[i], "reason=\"BACKEND\"", (double)oc[CV_OUTCOME_FAILED]);
        series(b, "nv_inference_request_failure", &xs[i], "reason=\"OTHER\"",
               (double)(oc[CV_OUTCOME_UNLOADED] + oc[CV_OUTCOME_SHUTDOWN] + atomic_load(&xs[i].s->invalid)));
    }

    family(b, "nv_inference_count", "counter", "Number of inferences performed (rows of completed requests)");
    for (int i = 0; i < n; i++) series(b, "nv_inference_count", &xs[i], NULL, (double)atomic_load(&xs[i].s->rows));

    family(b, "nv_inference_exec_count", "counter", "Number of model executions performed (waves that served the model)");
    for (int i = 0; i < n; i++) series(b, "nv_inference_exec_count", &xs[i], NULL, (double)xs[i].st.waves);

    family(b, "nv_inference_pending_request_count", "gauge", "Instantaneous number of requests queued or in a wave");
    for (int i = 0; i < n; i++) {
        long pending = xs[i].st.submitted - answered_after_submit(&xs[i].st);
        series(b, "nv_inference_pending_request_count", &xs[i], NULL, (double)(pending > 0 ? pending : 0));
    }

    family(b, "nv_inference_request_duration_us", "counter", "Cumulative inference request duration in microseconds");
    for (int i = 0; i < n; i++) series(b, "nv_inference_request_duration_us", &xs[i], NULL, xs[i].st.total_ms_sum * 1e3);
    family(b, "nv_inference_queue_duration_us", "counter", "Cumulative inference queuing duration in microseconds");
    for (int i = 0; i < n; i++) series(b, "nv_inference_queue_duration_us", &xs[i], NULL, xs[i].st.queued_ms_sum * 1e3);
    family(b, "nv_inference_compute_infer_duration_us", "counter",
           "Cumulative compute inference duration in microseconds (a wave's launch to its outputs)");
    for (int i = 0; i < n; i++)
        series(b, "nv_inference_compute_infer_duration_us", &xs[i], NULL, xs[i].st.computed_ms_sum * 1e3);

    family(b, "caravel_requests_total", "counter",
           "Requests answered, by outcome (rejections at submit: queue_full, infeasible; invalid: refused by the "
           "server before reaching the runtime)");
    for (int i = 0; i < n; i++) {
        for (int oc = CV_OUTCOME_COMPLETED; oc < CV_OUTCOME_COUNT; oc++) {
            char label[48];
            snprintf(label, sizeof label, "outcome=\"%s\"", cv_outcome_name((cv_outcome_t)oc));
            series(b, "caravel_requests_total", &xs[i], label, (double)xs[i].st.outcomes[oc]);
        }
        series(b, "caravel_requests_total", &xs[i], "outcome=\"invalid\"", (double)atomic_load(&xs[i].s->invalid));
    }

    family(b, "caravel_waves_by_width_total", "counter",
           "Waves that served the model, by their width in tenants (fused waves are wider than 1)");
    for (int i = 0; i < n; i++)
        for (int w = 0; w < CV_WAVE_HISTOGRAM; w++) {
            char label[32];
            snprintf(label, sizeof label, "tenants=\"%s\"", cv_wave_width_labels[w]);
            series(b, "caravel_waves_by_width_total", &xs[i], label, (double)xs[i].st.wave_widths[w]);
        }

    family(b, "caravel_fused_requests_total", "counter", "Requests completed in a wave of more than one tenant");
    for (int i = 0; i < n; i++) series(b, "caravel_fused_requests_total", &xs[i], NULL, (double)xs[i].st.fused);
    family(b, "caravel_fused_share", "gauge", "Fused requests over completed requests (0 before any)");
    for (int i = 0; i < n; i++) {
        long done = xs[i].st.outcomes[CV_OUTCOME_COMPLETED];
        series(b, "caravel_fused_share", &xs[i], NULL, done ? (double)xs[i].st.fused / (double)done : 0.0);
    }
    family(b, "caravel_slo_met_total", "counter", "Requests completed within their deadline");
    for (int i = 0; i < n; i++) series(b, "caravel_slo_met_total", &xs[i], NULL, (double)xs[i].st.slo_met);
    /* Refusals at submission are misses too, as the status page and
     * `caravel drive` count them: a policy must not look good by refusing. */
    family(b, "caravel_slo_attainment", "gauge",
           "Requests completed within their deadline over every request answered, refusals at submission "
           "included (1 before any)");
    for (int i = 0; i < n; i++) {
        const cv_request_stats_t *st = &xs[i].st;
        long answered = answered_after_submit(st) + st->outcomes[CV_OUTCOME_QUEUE_FULL] +
                        st->outcomes[CV_OUTCOME_INFEASIBLE];
        series(b, "caravel_slo_attainment", &xs[i], NULL, answered ? (double)st->slo_met / (double)answered : 1.0);
    }
    family(b, "caravel_tenant_host_bytes", "gauge", "Host memory the tenant holds (graph, weights, request buffers)");
    for (int i = 0; i < n; i++) series(b, "caravel_tenant_host_bytes", &xs[i], NULL, (double)xs[i].host_bytes);
    family(b, "caravel_tenant_device_bytes", "gauge", "Device memory the tenant's weights take (0 on the CPU)");
    for (int i = 0; i < n; i++) series(b, "caravel_tenant_device_bytes", &xs[i], NULL, (double)xs[i].device_bytes);
    family(b, "caravel_tenant_host_shared_bytes", "gauge",
           "Of caravel_tenant_host_bytes, the tenant's part of weight tensors it shares with other tenants "
           "(each stored once, its bytes split among them)");
    for (int i = 0; i < n; i++)
        series(b, "caravel_tenant_host_shared_bytes", &xs[i], NULL, (double)xs[i].host_shared_bytes);
    family(b, "caravel_tenant_device_shared_bytes", "gauge",
           "Of caravel_tenant_device_bytes, the tenant's part of weight tensors it shares with other tenants");
    for (int i = 0; i < n; i++)
        series(b, "caravel_tenant_device_shared_bytes", &xs[i], NULL, (double)xs[i].device_shared_bytes);
    family(b, "caravel_model_info", "gauge", "1 per loaded (model, version): its tenant and family");
    for (int i = 0; i < n; i++) {
        char label[512];
        snprintf(label, sizeof label, "tenant=\"%s\",family=\"%016llx\"", xs[i].s->tenant_name,
                 (unsigned long long)xs[i].s->family_hash);
        series(b, "caravel_model_info", &xs[i], label, 1);
    }
}

/* Where each model is placed: one series per replica, label device. */
static void render_replicas(cv_sbuf_t *b, const cv_registry_t *reg, const sample_t *xs, int n)
{
    struct {
        const char *name, *type, *help;
    } fams[] = {
        {"caravel_replica_info", "gauge", "1 per replica of a loaded (model, version): the device that holds it"},
        {"caravel_replica_requests_completed_total", "counter", "Requests the replica completed"},
        {"caravel_replica_pending_requests", "gauge", "Requests queued or in a wave on the replica now"},
        {"caravel_replica_placed_bytes", "gauge", "Bytes the replica is charged against its device's budget"},
    };
    for (size_t f = 0; f < CV_ARRAY_LEN(fams); f++) {
        family(b, fams[f].name, fams[f].type, fams[f].help);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < xs[i].nreplicas; k++) {
                const cv_replica_stats_t *r = &xs[i].replicas[k];
                char label[64];
                snprintf(label, sizeof label, "device=\"%s\"", cv_registry_device_name(reg, r->device));
                double v = f == 0   ? 1
                           : f == 1 ? (double)r->tenant.outcomes[CV_OUTCOME_COMPLETED]
                           : f == 2 ? (double)(r->tenant.queued + r->tenant.in_flight)
                                    : (double)r->bytes;
                series(b, fams[f].name, &xs[i], label, v);
            }
    }
}

/* Each device: what placement sees, its load, and Triton's GPU memory
 * series for a CUDA device. */
static void render_devices(cv_sbuf_t *b, cv_registry_t *reg)
{
    int n = cv_registry_devices(reg);
    cv_registry_usage_t use[CV_PLACE_MAX_DEVICES];
    cv_runtime_stats_t rs[CV_PLACE_MAX_DEVICES];
    for (int d = 0; d < n; d++) {
        cv_registry_device_usage(reg, d, &use[d]);
        cv_runtime_stats(cv_registry_device_runtime(reg, d), &rs[d]);
    }
    /* One gauge per row, one series per device; NAN: the device has none
     * (no budget, nothing limiting its free bytes). */
    static const struct {
        const char *name, *help;
    } rows[] = {
        {"caravel_device_budget_bytes", "Bytes the device's tenants may hold (--device-memory; absent without a budget)"},
        {"caravel_device_placed_bytes", "Bytes charged for the replicas placed on the device"},
        {"caravel_device_free_bytes", "Bytes placement can still give the device (absent where nothing limits it)"},
        {"caravel_device_tenants", "Tenants (replicas) on the device"},
        {"caravel_device_queued_requests", "Requests queued on the device's scheduler"},
        {"caravel_device_in_flight_requests", "Requests in waves running on the device"},
    };
    double values[CV_PLACE_MAX_DEVICES][CV_ARRAY_LEN(rows)];
    for (int d = 0; d < n; d++) {
        double *v = values[d];
        v[0] = use[d].budget == CV_PLACE_UNLIMITED ? NAN : (double)use[d].budget;
        v[1] = (double)use[d].placed;
        v[2] = use[d].free == CV_PLACE_UNLIMITED ? NAN : (double)use[d].free;
        v[3] = use[d].replicas;
        v[4] = (double)rs[d].queued;
        v[5] = (double)rs[d].in_flight;
    }
    for (size_t i = 0; i < CV_ARRAY_LEN(rows); i++) {
        family(b, rows[i].name, "gauge", rows[i].help);
        for (int d = 0; d < n; d++)
            if (!isnan(values[d][i]))
                cv_sbuf_printf(b, "%s{device=\"%s\"} %.17g\n", rows[i].name, cv_registry_device_name(reg, d),
                               values[d][i]);
    }
    bool gpus = false;
    for (int d = 0; d < n; d++) gpus |= use[d].has_info && use[d].info.total_bytes > 0 && use[d].info.uuid[0];
    if (!gpus) return;
    /* Triton's, under its names and its label: plain decimals. */
    family(b, "nv_gpu_memory_total_bytes", "gauge", "GPU total memory, in bytes");
    for (int d = 0; d < n; d++)
        if (use[d].has_info && use[d].info.total_bytes > 0 && use[d].info.uuid[0])
            cv_sbuf_printf(b, "nv_gpu_memory_total_bytes{gpu_uuid=\"%s\"} %zu\n", use[d].info.uuid,
                           use[d].info.total_bytes);
    family(b, "nv_gpu_memory_used_bytes", "gauge", "GPU used memory, in bytes (every process's)");
    for (int d = 0; d < n; d++)
        if (use[d].has_info && use[d].info.total_bytes > 0 && use[d].info.uuid[0])
            cv_sbuf_printf(b, "nv_gpu_memory_used_bytes{gpu_uuid=\"%s\"} %zu\n", use[d].info.uuid,
                           use[d].info.total_bytes - use[d].info.free_bytes);
}

/* The runtime's series: each device's runtime is one series of each,
 * label device. */
static const struct {
    const char *name, *type, *help;
} runtime_series[] = {
    {"caravel_waves_total", "counter", "Waves run to completion"},
    {"caravel_graph_cache_hits_total", "counter", "Waves replayed from the super-kernel (CUDA graph) cache"},
    {"caravel_graph_cache_rebinds_total", "counter",
     "Cache hits with other tenants than the graph's last wave (its tables rewritten)"},
    {"caravel_graph_cache_misses_total", "counter", "Wave shapes captured anew"},
    {"caravel_graph_cache_refreshes_total", "counter", "Cached wave shapes re-captured for other tenants"},
    {"caravel_fallback_steps_total", "counter", "Steps a device backend ran on the host for want of a kernel"},
    {"caravel_stragglers_total", "counter", "Waves slower than the straggler factor times their prediction"},
    {"caravel_lanes", "gauge", "Execution lanes (stream and executor) made so far"},
    {"caravel_lanes_replaced_total", "counter", "Lanes given a new stream for straggling"},
    {"caravel_wave_form_us_median", "gauge",
     "Host time of the scheduler's decision per wave, median of the last 1024 (us)"},
    {"caravel_wave_launch_us_median", "gauge", "Host time of a lane's launch of a wave, median of the last 1024 (us)"},
    {"caravel_last_wave_device_ms", "gauge", "Device time of the last wave (CUDA events; 0 on the CPU)"},
};

/* Series `i` of runtime_series from r. */
static double runtime_value(const cv_runtime_stats_t *r, size_t i)
{
    switch (i) {
    case 0: return (double)r->waves;
    case 1: return (double)r->graph_hits;
    case 2: return (double)r->graph_rebinds;
    case 3: return (double)r->graph_misses;
    case 4: return (double)r->graph_refreshes;
    case 5: return (double)r->fallback_steps;
    case 6: return (double)r->stragglers;
    case 7: return (double)r->lanes;
    case 8: return (double)r->lanes_replaced;
    case 9: return r->form_us_median;
    case 10: return r->launch_us_median;
    case 11: return r->last_wave_device_ms;
    }
    CV_ASSERT(!"a runtime series without a value");
    return 0;
}

static void render_runtimes(cv_sbuf_t *b, cv_registry_t *reg)
{
    int n = cv_registry_devices(reg);
    cv_runtime_stats_t rs[CV_PLACE_MAX_DEVICES];
    for (int d = 0; d < n; d++) cv_runtime_stats(cv_registry_device_runtime(reg, d), &rs[d]);
    for (size_t i = 0; i < CV_ARRAY_LEN(runtime_series); i++) {
        family(b, runtime_series[i].name, runtime_series[i].type, runtime_series[i].help);
        for (int d = 0; d < n; d++)
            cv_sbuf_printf(b, "%s{device=\"%s\"} %.17g\n", runtime_series[i].name, cv_registry_device_name(reg, d),
                           runtime_value(&rs[d], i));
    }
}

void cv_metrics_render(cv_sbuf_t *b, cv_registry_t *reg, const cv_server_gauges_t *g)
{
    cv_served_t **list = NULL;
    int n = 0;
    if (cv_registry_ready(reg, NULL, &list, &n, NULL) != CV_STATUS_OK) {
        b->failed = true;
        return;
    }
    sample_t *xs = cv_calloc((size_t)n + 1, sizeof(*xs));
    if (!xs) {
        b->failed = true;
    } else {
        int k = 0;
        for (int i = 0; i < n; i++) {
            sample_t *x = &xs[k];
            x->s = list[i];
            x->nreplicas = cv_served_replica_stats(list[i], x->replicas);
            /* One unloaded since the listing is left out. */
            if (x->nreplicas == 0) continue;
            for (int r = 0; r < x->nreplicas; r++) {
                cv_request_stats_add(&x->st, &x->replicas[r].tenant);
                x->host_bytes += x->replicas[r].host_bytes;
                x->device_bytes += x->replicas[r].device_bytes;
                x->host_shared_bytes += x->replicas[r].host_shared_bytes;
                x->device_shared_bytes += x->replicas[r].device_shared_bytes;
            }
            k++;
        }
        render_models(b, xs, k);
        render_replicas(b, reg, xs, k);
        render_devices(b, reg);
        render_runtimes(b, reg);
        family(b, "caravel_http_requests_in_progress", "gauge",
               "HTTP requests being read, waiting for the runtime or being answered (this scrape included)");
        cv_sbuf_printf(b, "caravel_http_requests_in_progress %ld\n", g->calls);
        family(b, "caravel_http_requests_waiting", "gauge",
               "Inference requests submitted to the runtime and not answered yet (their connections suspended)");
        cv_sbuf_printf(b, "caravel_http_requests_waiting %ld\n", g->pending);
    }
    cv_free(xs);
    for (int i = 0; i < n; i++) cv_served_release(list[i]);
    cv_free(list);
}
