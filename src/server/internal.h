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
/* The repository index: [{"name","version","state","reason"}, ...]. */
void cv_doc_repository_index(cv_sbuf_t *b, const cv_registry_row_t *rows, int n);

/* A request's priority parameter p >= 1 (1 first) as the runtime's
 * priority (higher first): above every priority a config.json can give,
 * so a request with one runs before the model's requests without one. */
int cv_server_priority(int64_t p);

/* What the server itself counts, for the metrics. */
typedef struct cv_server_gauges {
    long calls;   /* HTTP requests in progress (both ports, this scrape included) */
    long pending; /* inference requests with the runtime, not answered yet */
} cv_server_gauges_t;

/* The Prometheus text exposition (version 0.0.4) of the runtime's and
 * every READY model's counters, and the server's gauges. */
void cv_metrics_render(cv_sbuf_t *b, cv_runtime_t *rt, cv_registry_t *reg, const cv_server_gauges_t *g);

#endif /* CV_SERVER_INTERNAL_H */
