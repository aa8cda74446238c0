/*
 * documents.c: the JSON bodies of the KServe v2 endpoints other than
 * inference: server metadata (/v2), model metadata, Triton's model
 * configuration (what perf_analyzer reads), statistics and the repository
 * index. Shapes and names are PROTOCOL.md's; every counter the clients
 * assert on is present even where Caravel has nothing to count.
 */
#include "server/internal.h"

#include "repo/repo.h"
#include "server/server.h"

#include <string.h>

/* Only what is implemented: schedule_policy because the priority and
 * timeout parameters are honoured. */
const char *const cv_server_extensions[] = {"binary_tensor_data", "model_configuration", "model_repository",
                                            "statistics", "schedule_policy", NULL};

int cv_server_priority(int64_t p)
{
    if (p > 1000000) p = 1000000;
    return 2000000 - (int)p;
}

void cv_doc_server_metadata(cv_sbuf_t *b)
{
    cv_sbuf_printf(b, "{\"name\":\"%s\",\"version\":\"%s\",\"extensions\":[", CV_SERVER_NAME, CV_SERVER_VERSION);
    for (int i = 0; cv_server_extensions[i]; i++) cv_sbuf_printf(b, i ? ",\"%s\"" : "\"%s\"", cv_server_extensions[i]);
    cv_sbuf_puts(b, "]}");
}

static void put_dims(cv_sbuf_t *b, const cv_shape_t *s, int from)
{
    cv_sbuf_append(b, "[", 1);
    for (int d = from; d < s->ndim; d++) cv_sbuf_printf(b, d > from ? ",%lld" : "%lld", (long long)s->dims[d]);
    cv_sbuf_append(b, "]", 1);
}

static void put_tensors(cv_sbuf_t *b, const cv_io_desc_t *list, int n)
{
    cv_sbuf_append(b, "[", 1);
    for (int i = 0; i < n; i++) {
        cv_sbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        cv_sbuf_json_string(b, list[i].name);
        cv_sbuf_printf(b, ",\"datatype\":\"%s\",\"shape\":", cv_codec_dtype_name(list[i].dtype));
        put_dims(b, &list[i].shape, 0);
        cv_sbuf_append(b, "}", 1);
    }
    cv_sbuf_append(b, "]", 1);
}

void cv_doc_model_metadata(cv_sbuf_t *b, const cv_served_t *s, cv_served_t *const *versions, int nversions)
{
    cv_sbuf_puts(b, "{\"name\":");
    cv_sbuf_json_string(b, s->model);
    cv_sbuf_puts(b, ",\"versions\":[");
    for (int i = 0; i < nversions; i++) cv_sbuf_printf(b, i ? ",\"%s\"" : "\"%s\"", versions[i]->version_str);
    cv_sbuf_puts(b, "],\"platform\":\"onnxruntime_onnx\",\"inputs\":");
    put_tensors(b, s->sig.inputs, s->sig.ninputs);
    cv_sbuf_puts(b, ",\"outputs\":");
    put_tensors(b, s->sig.outputs, s->sig.noutputs);
    cv_sbuf_append(b, "}", 1);
}

static void put_config_tensors(cv_sbuf_t *b, const cv_io_desc_t *list, int n, bool batched)
{
    cv_sbuf_append(b, "[", 1);
    for (int i = 0; i < n; i++) {
        cv_sbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        cv_sbuf_json_string(b, list[i].name);
        cv_sbuf_printf(b, ",\"data_type\":\"%s\",\"dims\":", cv_codec_config_type(list[i].dtype));
        /* Triton's dims leave the batch axis out when max_batch_size > 0. */
        put_dims(b, &list[i].shape, batched && list[i].shape.ndim > 0 ? 1 : 0);
        cv_sbuf_append(b, "}", 1);
    }
    cv_sbuf_append(b, "]", 1);
}

void cv_doc_model_config(cv_sbuf_t *b, const cv_served_t *s)
{
    const cv_model_sig_t *sig = &s->sig;
    cv_sbuf_puts(b, "{\"name\":");
    cv_sbuf_json_string(b, s->model);
    cv_sbuf_printf(b, ",\"platform\":\"onnxruntime_onnx\",\"backend\":\"onnxruntime\",\"max_batch_size\":%lld",
                   sig->batched ? (long long)sig->max_rows : 0LL);
    cv_sbuf_puts(b, ",\"input\":");
    put_config_tensors(b, sig->inputs, sig->ninputs, sig->batched);
    cv_sbuf_puts(b, ",\"output\":");
    /* An output is batched when the model is (its dim 0 follows the rows). */
    put_config_tensors(b, sig->outputs, sig->noutputs, sig->batched);
    cv_sbuf_puts(b, ",\"dynamic_batching\":{}");
    /* Caravel's own settings, in Triton's way of carrying custom ones. */
    const cv_tenant_config_t *c = &s->config;
    cv_sbuf_printf(b,
                   ",\"parameters\":{\"tenant\":{\"string_value\":\"%s\"},\"family\":{\"string_value\":\"%016llx\"},"
                   "\"slo_ms\":{\"string_value\":\"%g\"},\"precision\":{\"string_value\":\"%s\"},"
                   "\"share\":{\"string_value\":\"%g\"},\"priority\":{\"string_value\":\"%d\"},"
                   "\"queue_bound\":{\"string_value\":\"%d\"}}}",
                   s->tenant_name, (unsigned long long)s->family_hash, c->slo_ms, cv_repo_precision_name(c->precision),
                   c->share ? c->share : 1.0, c->priority, c->queue_bound ? c->queue_bound : 1024);
}

static void put_stat(cv_sbuf_t *b, const char *name, long long count, double ns, bool first)
{
    cv_sbuf_printf(b, "%s\"%s\":{\"count\":%lld,\"ns\":%.0f}", first ? "" : ",", name, count, ns > 0 ? ns : 0.0);
}

void cv_doc_model_stats(cv_sbuf_t *b, cv_served_t *const *list, int n)
{
    cv_sbuf_puts(b, "{\"model_stats\":[");
    for (int i = 0; i < n; i++) {
        cv_served_t *s = list[i];
        cv_request_stats_t st;
        memset(&st, 0, sizeof st);
        cv_served_stats(s, &st, NULL, NULL);
        long long done = st.outcomes[CV_OUTCOME_COMPLETED], failed = atomic_load(&s->invalid);
        for (int o = CV_OUTCOME_FAILED; o < CV_OUTCOME_COUNT; o++) failed += st.outcomes[o];
        /* The runtime times a completed request as queued (submitted to
         * chosen for a wave), waved (tables and inputs) and computed; the
         * protocol's compute_input is the waved part. */
        double total = st.total_ms_sum * 1e6, queued = st.queued_ms_sum * 1e6, computed = st.computed_ms_sum * 1e6;
        double input = total - queued - computed;
        cv_sbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        cv_sbuf_json_string(b, s->model);
        cv_sbuf_printf(b, ",\"version\":\"%s\",\"last_inference\":%lld,\"inference_count\":%lld,"
                          "\"execution_count\":%ld,\"inference_stats\":{",
                       s->version_str, (long long)atomic_load(&s->last_inference_ms), (long long)atomic_load(&s->rows),
                       st.waves);
        put_stat(b, "success", done, total, true);
        put_stat(b, "fail", failed, 0, false);
        put_stat(b, "queue", done, queued, false);
        put_stat(b, "compute_input", done, input, false);
        put_stat(b, "compute_infer", done, computed, false);
        put_stat(b, "compute_output", done, 0, false);
        put_stat(b, "cache_hit", 0, 0, false);
        put_stat(b, "cache_miss", 0, 0, false);
        cv_sbuf_puts(b, "},\"batch_stats\":[],\"memory_usage\":[]}");
    }
    cv_sbuf_puts(b, "]}");
}

void cv_doc_repository_index(cv_sbuf_t *b, const cv_registry_t *reg, const cv_registry_row_t *rows, int n)
{
    cv_sbuf_append(b, "[", 1);
    for (int i = 0; i < n; i++) {
        cv_sbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        cv_sbuf_json_string(b, rows[i].model);
        cv_sbuf_printf(b, ",\"version\":\"%lld\",\"state\":\"%s\",\"reason\":", (long long)rows[i].version,
                       cv_served_state_name(rows[i].state));
        cv_sbuf_json_string(b, rows[i].reason);
        /* Caravel's addition, which Triton's clients pass through: where
         * it is placed (its replicas' devices, the first placed first). */
        if (rows[i].ndevices > 0) {
            cv_sbuf_puts(b, ",\"device\":");
            cv_sbuf_json_string(b, cv_registry_device_name(reg, rows[i].devices[0]));
            cv_sbuf_puts(b, ",\"devices\":[");
            for (int k = 0; k < rows[i].ndevices; k++) {
                if (k) cv_sbuf_append(b, ",", 1);
                cv_sbuf_json_string(b, cv_registry_device_name(reg, rows[i].devices[k]));
            }
            cv_sbuf_append(b, "]", 1);
        }
        cv_sbuf_append(b, "}", 1);
    }
    cv_sbuf_append(b, "]", 1);
}
