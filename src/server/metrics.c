/*
 * metrics.c: the metrics port's Prometheus text (exposition format 0.0.4):
 * Triton's per-model series under their names (labels model, version), so
 * that dashboards made for Triton work, and Caravel's own under caravel_:
 * outcomes of every request (each cv_outcome_t, rejections included), wave
 * widths, the fused share, SLO attainment, memory per tenant, and the
 * runtime's waves, super-kernel cache and host time per wave.
 *
 * Every value is read from the public counters (cv_tenant_stats through the
 * registry, cv_runtime_stats) at scrape time; nothing is kept here.
 */
#include "server/internal.h"

#include "core/core.h"

#include <string.h>

/* One READY model's numbers, read once per scrape. */
typedef struct sample {
    const cv_served_t *s;
    cv_request_stats_t st;
    size_t host_bytes, device_bytes;
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
    family(b, "caravel_model_info", "gauge", "1 per loaded (model, version): its tenant and family");
    for (int i = 0; i < n; i++) {
        char label[512];
        snprintf(label, sizeof label, "tenant=\"%s\",family=\"%016llx\"", xs[i].s->tenant_name,
                 (unsigned long long)xs[i].s->family_hash);
        series(b, "caravel_model_info", &xs[i], label, 1);
    }
}

static void render_runtime(cv_sbuf_t *b, cv_runtime_t *rt)
{
    cv_runtime_stats_t r;
    if (cv_runtime_stats(rt, &r) != CV_STATUS_OK) return;
    struct {
        const char *name, *type, *help;
        double value;
    } rows[] = {
        {"caravel_waves_total", "counter", "Waves run to completion", (double)r.waves},
        {"caravel_graph_cache_hits_total", "counter", "Waves replayed from the super-kernel (CUDA graph) cache",
         (double)r.graph_hits},
        {"caravel_graph_cache_rebinds_total", "counter",
         "Cache hits with other tenants than the graph's last wave (its tables rewritten)", (double)r.graph_rebinds},
        {"caravel_graph_cache_misses_total", "counter", "Wave shapes captured anew", (double)r.graph_misses},
        {"caravel_graph_cache_refreshes_total", "counter", "Cached wave shapes re-captured for other tenants",
         (double)r.graph_refreshes},
        {"caravel_fallback_steps_total", "counter", "Steps a device backend ran on the host for want of a kernel",
         (double)r.fallback_steps},
        {"caravel_stragglers_total", "counter", "Waves slower than the straggler factor times their prediction",
         (double)r.stragglers},
        {"caravel_lanes", "gauge", "Execution lanes (stream and executor) made so far", (double)r.lanes},
        {"caravel_lanes_replaced_total", "counter", "Lanes given a new stream for straggling", (double)r.lanes_replaced},
        {"caravel_wave_form_us_median", "gauge", "Host time of the scheduler's decision per wave, median of the last 1024 (us)",
         r.form_us_median},
        {"caravel_wave_launch_us_median", "gauge", "Host time of a lane's launch of a wave, median of the last 1024 (us)",
         r.launch_us_median},
        {"caravel_last_wave_device_ms", "gauge", "Device time of the last wave (CUDA events; 0 on the CPU)",
         r.last_wave_device_ms},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(rows); i++) {
        family(b, rows[i].name, rows[i].type, rows[i].help);
        cv_sbuf_printf(b, "%s %.17g\n", rows[i].name, rows[i].value);
    }
}

void cv_metrics_render(cv_sbuf_t *b, cv_runtime_t *rt, cv_registry_t *reg, const cv_server_gauges_t *g)
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
            xs[k].s = list[i];
            /* One unloaded since the listing is left out. */
            if (cv_served_stats(list[i], &xs[k].st, &xs[k].host_bytes, &xs[k].device_bytes)) k++;
        }
        render_models(b, xs, k);
        render_runtime(b, rt);
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
