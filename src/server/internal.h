/*
 * internal.h: what the server's files share (see server.h for the map):
 * the JSON documents of documents.c and the Prometheus text of metrics.c,
 * each written into a cv_sbuf (codec.h) for http.c to send.
 */
#ifndef CV_SERVER_INTERNAL_H
#define CV_SERVER_INTERNAL_H

#include "repo/registry.h"
#include "server/codec.h"

/* The extensions the server implements, as /v2 advertises them. */
extern const char *const cv_server_extensions[];

/* {"name","version","extensions"}. */
void cv_doc_server_metadata(cv_sbuf_t *b);
/* Model metadata of s: name, versions (`versions`, READY ones), platform,
 * inputs and outputs with a leading -1 for the batch axis. */
void cv_doc_model_metadata(cv_sbuf_t *b, const cv_served_t *s, cv_served_t *const *versions, int nversions);
/* Triton's model configuration, as perf_analyzer reads it. */
void cv_doc_model_config(cv_sbuf_t *b, const cv_served_t *s);
/* {"model_stats":[...]} of the records, every counter present. */
void cv_doc_model_stats(cv_sbuf_t *b, cv_served_t *const *list, int n);
/* The repository index: [{"name","version","state","reason"}, ...], and
 * for a READY (or UNLOADING) one "device" (where it was placed first) and
 * "devices" (every replica's), with reg's names for them. */
void cv_doc_repository_index(cv_sbuf_t *b, const cv_registry_t *reg, const cv_registry_row_t *rows, int n);

/* A request's priority parameter p >= 1 (1 first) as the runtime's
 * priority (higher first): above every priority a config.json can give,
 * so a request with one runs before the model's requests without one. */
int cv_server_priority(int64_t p);

/* What the server itself counts, for the metrics. */
typedef struct cv_server_gauges {
    long calls;   /* HTTP requests in progress (both ports, this scrape included) */
    long pending; /* inference requests with the runtime, not answered yet */
} cv_server_gauges_t;

/* The wave-width buckets' names ("1", "2", "3-4", ..., "65+"), for the
 * metrics' labels and the status document. */
extern const char *const cv_wave_width_labels[CV_WAVE_HISTOGRAM];

/* The Prometheus text exposition (version 0.0.4) of every READY model's
 * counters, each device's and its runtime's, and the server's gauges. */
void cv_metrics_render(cv_sbuf_t *b, cv_registry_t *reg, const cv_server_gauges_t *g);

/* ---- the live view (live.c) ---------------------------------------------- */

/* What the server knows of itself, for the status document. */
typedef struct cv_live_server {
    char policy[16];  /* cv_policy_name of the runtime's */
    char device[32];  /* "cpu", "cuda:0" */
    double uptime_s;
    long long time_ms; /* now, ms since the epoch (the page's clock may differ) */
    cv_server_gauges_t gauges;
} cv_live_server_t;

/* One replica of a READY (model, version): where it is and its share of
 * the requests. */
typedef struct cv_live_replica {
    const char *device; /* the registry's name of its device */
    size_t bytes;       /* charged against the device's budget */
    long completed, queued, in_flight;
} cv_live_replica_t;

/* One (model, version): READY ones with every counter (summed over their
 * replicas), the others with their state and reason only. Strings are
 * borrowed from the snapshot's records, index rows and registry. */
typedef struct cv_live_tenant {
    const char *tenant, *model, *version, *state, *reason;
    int64_t version_num;
    char version_buf[24];
    bool ready;
    uint64_t family;
    cv_tenant_config_t config;
    cv_request_stats_t stats;
    size_t host_bytes, device_bytes;
    size_t host_shared_bytes, device_shared_bytes; /* of those, its part of shared weights */
    long long rows, invalid, last_inference_ms;
    int latency_samples; /* completed requests p50_ms and p99_ms are over (the last CV_LATENCY_RING) */
    double p50_ms, p99_ms;
    int nreplicas; /* READY ones: at least one, the first placed first */
    cv_live_replica_t replicas[CV_PLACE_MAX_DEVICES];
} cv_live_tenant_t;

/* A family on one device: tenants share waves only there, so a family
 * spread over several devices (replicas, or a device that was full) is
 * one entry per device. */
typedef struct cv_live_family {
    uint64_t hash;
    const char *device; /* NULL: not said (its members anywhere) */
    bool has_stats; /* false when every member left READY while gathering */
    cv_request_stats_t stats;
} cv_live_family_t;

/* One device: what placement sees and its runtime's counters. */
typedef struct cv_live_device {
    const char *name;
    cv_registry_usage_t usage;
    cv_runtime_stats_t runtime;
} cv_live_device_t;

typedef struct cv_live_snapshot {
    cv_live_server_t server; /* the caller's */
    bool has_runtime;
    cv_runtime_stats_t runtime; /* every device's together: counts summed,
                                   medians and the last wave's time the
                                   largest of them */
    cv_live_device_t *devices;
    int ndevices;
    cv_live_tenant_t *tenants; /* READY ones first, by model and version; then the others */
    int ntenants;
    cv_live_family_t *families; /* in the order of their first READY member */
    int nfamilies;
    /* what the strings are borrowed from */
    cv_served_t **ready;
    int nready;
    cv_registry_row_t *rows;
    int nrows;
} cv_live_snapshot_t;

/* Reads every device's and every model's counters into snap, all but
 * snap->server (the caller's). cv_live_release frees it, also after a
 * failure. OUT_OF_MEMORY. */
cv_status cv_live_gather(cv_registry_t *reg, cv_live_snapshot_t *snap, cv_err_t *err);
void cv_live_release(cv_live_snapshot_t *snap);
/* The status document of a snapshot (docs/SERVING.md, "The status page"),
 * or NULL when out of memory. A pure function of snap, for the tests. */
json_t *cv_live_document(const cv_live_snapshot_t *snap);
/* The same as compact JSON text (cv_free), or NULL. */
char *cv_live_document_text(const cv_live_snapshot_t *snap, size_t *len);
/* The mean width (tenants) of waves from their histogram: bucket 1 and 2
 * exact, the others at their middle, 65+ at 65; 0 without waves. */
double cv_live_mean_wave_width(const long widths[CV_WAVE_HISTOGRAM]);
/* Requests answered, every outcome (rejections at submit included). */
long cv_live_answered(const cv_request_stats_t *st);

/* The status page (src/server/live.html), embedded at build time. */
extern const unsigned char cv_live_page[];
extern const size_t cv_live_page_len;

#endif /* CV_SERVER_INTERNAL_H */
