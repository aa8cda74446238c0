/*
 * live.c: the live view of `caravel serve`: the status document
 * (GET /v2/caravel/status, JSON) and the status page that renders it
 * (GET /, live.html embedded at build time).
 *
 * Two steps, so the document can be tested without a server: a snapshot
 * (cv_live_gather) reads the public counters once, through the registry
 * (each tenant's replicas and each family's cv_request_stats on each
 * device, memory, placement, the latency ring the server fills) and each
 * device's cv_runtime_stats; the document
 * (cv_live_document) is a pure function of the snapshot. Nothing is kept
 * between requests: rates (requests per second) are the page's business,
 * from two documents a second apart.
 *
 * Not here: history. The page shows now; Prometheus and the Grafana
 * dashboard of docs/ keep the past.
 */
#include "server/internal.h"

#include "core/core.h"
#include "repo/repo.h"
#include "server/server.h"

#include <string.h>

/* Each width bucket's representative number of tenants, for the mean
 * width: exact for 1 and 2, the middle of the others, the lower bound for
 * the open one. */
static const double width_mid[CV_WAVE_HISTOGRAM] = {1, 2, 3.5, 6.5, 12.5, 24.5, 48.5, 65};

double cv_live_mean_wave_width(const long widths[CV_WAVE_HISTOGRAM])
{
    double waves = 0, tenants = 0;
    for (int w = 0; w < CV_WAVE_HISTOGRAM; w++) {
        waves += (double)widths[w];
        tenants += (double)widths[w] * width_mid[w];
    }
    return waves > 0 ? tenants / waves : 0;
}

long cv_live_answered(const cv_request_stats_t *st)
{
    long n = 0;
    for (int o = CV_OUTCOME_COMPLETED; o < CV_OUTCOME_COUNT; o++) n += st->outcomes[o];
    return n;
}

/* ---- the snapshot ----------------------------------------------------------- */

/* The slot of the family on a device in the snapshot, added when new. */
static int family_slot(cv_live_snapshot_t *snap, uint64_t hash, const char *device, int *cap)
{
    for (int f = 0; f < snap->nfamilies; f++)
        if (snap->families[f].hash == hash && snap->families[f].device == device) return f;
    if (CV_GROW(snap->families, snap->nfamilies, *cap) != CV_STATUS_OK) return -1;
    cv_live_family_t *fam = &snap->families[snap->nfamilies];
    memset(fam, 0, sizeof(*fam));
    fam->hash = hash;
    fam->device = device;
    return snap->nfamilies++;
}

/* Adds one device's runtime counters to the whole server's. */
static void runtime_add(cv_runtime_stats_t *all, const cv_runtime_stats_t *r)
{
    all->waves += r->waves;
    all->fallback_steps += r->fallback_steps;
    all->graph_hits += r->graph_hits;
    all->graph_refreshes += r->graph_refreshes;
    all->graph_misses += r->graph_misses;
    all->stragglers += r->stragglers;
    all->lanes += r->lanes;
    all->lanes_replaced += r->lanes_replaced;
    all->queued += r->queued;
    all->in_flight += r->in_flight;
    all->tenants += r->tenants;
    /* Not additive: the slowest device's, which is what a page watches. */
    all->last_wave_device_ms = CV_MAX(all->last_wave_device_ms, r->last_wave_device_ms);
    all->form_us_median = CV_MAX(all->form_us_median, r->form_us_median);
    all->launch_us_median = CV_MAX(all->launch_us_median, r->launch_us_median);
}

cv_status cv_live_gather(cv_registry_t *reg, cv_live_snapshot_t *snap, cv_err_t *err)
{
    cv_live_snapshot_t keep = *snap; /* the caller's server fields */
    memset(snap, 0, sizeof(*snap));
    snap->server = keep.server;
    cv_status st;
    int ndevices = cv_registry_devices(reg);
    snap->devices = cv_calloc((size_t)ndevices + 1, sizeof(*snap->devices));
    if (!snap->devices) goto oom;
    snap->has_runtime = true;
    for (int d = 0; d < ndevices; d++) {
        cv_live_device_t *dev = &snap->devices[snap->ndevices++];
        dev->name = cv_registry_device_name(reg, d);
        cv_registry_device_usage(reg, d, &dev->usage);
        cv_runtime_stats(cv_registry_device_runtime(reg, d), &dev->runtime);
        runtime_add(&snap->runtime, &dev->runtime);
    }

    st = cv_registry_ready(reg, NULL, &snap->ready, &snap->nready, err);
    if (st != CV_STATUS_OK) goto fail;
    st = cv_registry_index(reg, false, &snap->rows, &snap->nrows, err);
    if (st != CV_STATUS_OK) goto fail;
    /* READY records first (sorted by model and version), then the index's
     * others: loading, unloading, failed, or on disk and not loaded. */
    snap->tenants = cv_calloc((size_t)(snap->nready + snap->nrows) + 1, sizeof(*snap->tenants));
    if (!snap->tenants) goto oom;
    int family_cap = 0;
    for (int i = 0; i < snap->nready; i++) {
        cv_served_t *s = snap->ready[i];
        cv_live_tenant_t *t = &snap->tenants[snap->ntenants];
        cv_replica_stats_t reps[CV_PLACE_MAX_DEVICES];
        int nreps = cv_served_replica_stats(s, reps);
        /* One unloaded since the listing is left to the index rows below. */
        if (nreps == 0) continue;
        for (int k = 0; k < nreps; k++) {
            cv_request_stats_add(&t->stats, &reps[k].tenant);
            t->host_bytes += reps[k].host_bytes;
            t->device_bytes += reps[k].device_bytes;
            t->host_shared_bytes += reps[k].host_shared_bytes;
            t->device_shared_bytes += reps[k].device_shared_bytes;
            t->replicas[k] = (cv_live_replica_t){.device = cv_registry_device_name(reg, reps[k].device),
                                                 .bytes = reps[k].bytes,
                                                 .completed = reps[k].tenant.outcomes[CV_OUTCOME_COMPLETED],
                                                 .queued = reps[k].tenant.queued,
                                                 .in_flight = reps[k].tenant.in_flight};
        }
        t->nreplicas = nreps;
        t->model = s->model;
        t->version = s->version_str;
        t->version_num = s->version;
        t->tenant = s->tenant_name;
        t->state = cv_served_state_name(CV_SERVED_READY);
        t->ready = true;
        t->family = s->family_hash;
        t->config = s->config;
        t->rows = atomic_load(&s->rows);
        t->invalid = atomic_load(&s->invalid);
        t->last_inference_ms = atomic_load(&s->last_inference_ms);
        static const double q[2] = {0.50, 0.99};
        double p[2];
        t->latency_samples = cv_latency_ring_percentiles(&s->latency, q, 2, p);
        t->p50_ms = p[0];
        t->p99_ms = p[1];
        snap->ntenants++;
        for (int k = 0; k < nreps; k++) {
            int f = family_slot(snap, s->family_hash, t->replicas[k].device, &family_cap);
            if (f < 0) goto oom;
            cv_live_family_t *fam = &snap->families[f];
            /* The family's counters on that device, from its first member
             * there still READY. */
            if (!fam->has_stats) {
                fam->stats = reps[k].family;
                fam->has_stats = true;
            }
        }
    }
    for (int r = 0; r < snap->nrows; r++) {
        const cv_registry_row_t *row = &snap->rows[r];
        bool listed = false;
        for (int i = 0; i < snap->ntenants && !listed; i++) {
            const cv_live_tenant_t *t = &snap->tenants[i];
            listed = t->ready && t->version_num == row->version && !strcmp(t->model, row->model);
        }
        if (listed) continue;
        cv_live_tenant_t *t = &snap->tenants[snap->ntenants++];
        t->model = row->model;
        snprintf(t->version_buf, sizeof t->version_buf, "%lld", (long long)row->version);
        t->version = t->version_buf;
        t->version_num = row->version;
        t->state = cv_served_state_name(row->state);
        t->reason = row->reason;
    }
    return CV_STATUS_OK;
oom:
    st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the status document");
fail:
    cv_live_release(snap);
    return st;
}

void cv_live_release(cv_live_snapshot_t *snap)
{
    for (int i = 0; i < snap->nready; i++) cv_served_release(snap->ready[i]);
    cv_free(snap->ready);
    cv_free(snap->rows);
    cv_free(snap->tenants);
    cv_free(snap->families);
    cv_free(snap->devices);
    snap->devices = NULL;
    snap->ndevices = 0;
    snap->ready = NULL;
    snap->rows = NULL;
    snap->tenants = NULL;
    snap->families = NULL;
    snap->nready = snap->nrows = snap->ntenants = snap->nfamilies = 0;
}

/* ---- the document -------------------------------------------------------------- */

/* Sets o[key] = v, taking v; a NULL v (out of memory) or a failed set
 * clears *ok, so a builder checks once at the end. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, key, v) != 0) *ok = false;
}

static void append(json_t *a, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(a, v) != 0) *ok = false;
}

static json_t *ratio(long num, long den, double none)
{
    return json_real(den > 0 ? (double)num / (double)den : none);
}

static json_t *widths_array(const long widths[CV_WAVE_HISTOGRAM], bool *ok)
{
    json_t *a = json_array();
    if (!a) {
        *ok = false;
        return NULL;
    }
    for (int w = 0; w < CV_WAVE_HISTOGRAM; w++) append(a, json_integer(widths[w]), ok);
    return a;
}

/* What tenants and families both have, from their cv_request_stats. SLO
 * attainment is over every answered request, rejections at submit
 * included (so refusing work does not look good), 1 before any. */
static void put_counts(json_t *o, const cv_request_stats_t *st, bool *ok)
{
    long done = st->outcomes[CV_OUTCOME_COMPLETED], answered = cv_live_answered(st);
    put(o, "submitted", json_integer(st->submitted), ok);
    put(o, "completed", json_integer(done), ok);
    put(o, "rejected", json_integer(st->outcomes[CV_OUTCOME_QUEUE_FULL] + st->outcomes[CV_OUTCOME_INFEASIBLE]), ok);
    put(o, "fused", json_integer(st->fused), ok);
    put(o, "fused_share", ratio(st->fused, done, 0), ok);
    put(o, "slo_met", json_integer(st->slo_met), ok);
    put(o, "slo_attainment", ratio(st->slo_met, answered, 1), ok);
    put(o, "waves", json_integer(st->waves), ok);
    put(o, "wave_widths", widths_array(st->wave_widths, ok), ok);
    put(o, "mean_wave_width", json_real(cv_live_mean_wave_width(st->wave_widths)), ok);
    put(o, "requests_per_wave", ratio(done, st->waves, 0), ok);
    put(o, "queued", json_integer(st->queued), ok);
    put(o, "in_flight", json_integer(st->in_flight), ok);
}

static json_t *family_hex(uint64_t hash)
{
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hash);
    return json_string(hex);
}

static json_t *tenant_doc(const cv_live_tenant_t *t, bool *ok)
{
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    /* Model names are checked (cv_repo_name_valid), so they are ASCII; a
     * reason may quote a file's bytes, which jansson refuses unless UTF-8. */
    put(o, "tenant", t->tenant ? json_string(t->tenant) : json_sprintf("%s/%s", t->model, t->version), ok);
    put(o, "model", json_string(t->model), ok);
    put(o, "version", json_string(t->version), ok);
    put(o, "state", json_string(t->state), ok);
    if (!t->ready) {
        json_t *reason = json_string(t->reason ? t->reason : "");
        put(o, "reason", reason ? reason : json_string("(not valid UTF-8)"), ok);
        return o;
    }
    put(o, "family", family_hex(t->family), ok);
    if (t->nreplicas > 0) {
        put(o, "device", json_string(t->replicas[0].device), ok);
        json_t *reps = json_array();
        for (int k = 0; reps && k < t->nreplicas; k++) {
            const cv_live_replica_t *r = &t->replicas[k];
            append(reps,
                   json_pack("{s:s,s:I,s:I,s:I,s:I}", "device", r->device, "placed_bytes", (json_int_t)r->bytes,
                             "completed", (json_int_t)r->completed, "queued", (json_int_t)r->queued, "in_flight",
                             (json_int_t)r->in_flight),
                   ok);
        }
        put(o, "replicas", reps, ok);
    }
    const cv_tenant_config_t *c = &t->config;
    put(o, "slo_ms", json_real(c->slo_ms), ok);
    put(o, "precision", json_string(cv_repo_precision_name(c->precision)), ok);
    put(o, "share", json_real(c->share > 0 ? c->share : 1.0), ok);
    put(o, "priority", json_integer(c->priority), ok);
    put(o, "max_rows", json_integer(c->max_rows), ok);
    put_counts(o, &t->stats, ok);
    put(o, "rows", json_integer(t->rows), ok);
    json_t *outcomes = json_object();
    if (outcomes)
        for (int oc = CV_OUTCOME_COMPLETED; oc < CV_OUTCOME_COUNT; oc++)
            put(outcomes, cv_outcome_name((cv_outcome_t)oc), json_integer(t->stats.outcomes[oc]), ok);
    if (outcomes) put(outcomes, "invalid", json_integer(t->invalid), ok);
    put(o, "outcomes", outcomes, ok);
    json_t *lat = json_object();
    if (lat) {
        long done = t->stats.outcomes[CV_OUTCOME_COMPLETED];
        put(lat, "samples", json_integer(t->latency_samples), ok);
        put(lat, "p50", json_real(t->p50_ms), ok);
        put(lat, "p99", json_real(t->p99_ms), ok);
        put(lat, "mean", json_real(done > 0 ? t->stats.total_ms_sum / (double)done : 0), ok);
    }
    put(o, "latency_ms", lat, ok);
    put(o, "host_bytes", json_integer((json_int_t)t->host_bytes), ok);
    put(o, "device_bytes", json_integer((json_int_t)t->device_bytes), ok);
    put(o, "host_shared_bytes", json_integer((json_int_t)t->host_shared_bytes), ok);
    put(o, "device_shared_bytes", json_integer((json_int_t)t->device_shared_bytes), ok);
    put(o, "last_inference_ms", json_integer(t->last_inference_ms), ok);
    return o;
}

static json_t *family_doc(const cv_live_snapshot_t *snap, const cv_live_family_t *fam, bool *ok)
{
    json_t *o = json_object(), *members = json_array();
    if (!o || !members) {
        json_decref(o);
        json_decref(members);
        *ok = false;
        return NULL;
    }
    put(o, "family", family_hex(fam->hash), ok);
    if (fam->device) put(o, "device", json_string(fam->device), ok);
    for (int i = 0; i < snap->ntenants; i++) {
        const cv_live_tenant_t *t = &snap->tenants[i];
        if (!t->ready || t->family != fam->hash) continue;
        bool here = !fam->device;
        for (int k = 0; k < t->nreplicas && !here; k++) here = !strcmp(t->replicas[k].device, fam->device);
        if (here) append(members, json_string(t->tenant), ok);
    }
    put(o, "tenants", members, ok);
    cv_request_stats_t none;
    memset(&none, 0, sizeof none);
    put_counts(o, fam->has_stats ? &fam->stats : &none, ok);
    return o;
}

static json_t *runtime_doc(const cv_runtime_stats_t *r, bool *ok)
{
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    put(o, "waves", json_integer(r->waves), ok);
    put(o, "graph_hits", json_integer(r->graph_hits), ok);
    put(o, "graph_rebinds", json_integer(r->graph_rebinds), ok);
    put(o, "graph_misses", json_integer(r->graph_misses), ok);
    put(o, "graph_refreshes", json_integer(r->graph_refreshes), ok);
    put(o, "fallback_steps", json_integer(r->fallback_steps), ok);
    put(o, "stragglers", json_integer(r->stragglers), ok);
    put(o, "lanes", json_integer(r->lanes), ok);
    put(o, "lanes_replaced", json_integer(r->lanes_replaced), ok);
    put(o, "form_us_median", json_real(r->form_us_median), ok);
    put(o, "launch_us_median", json_real(r->launch_us_median), ok);
    put(o, "last_wave_device_ms", json_real(r->last_wave_device_ms), ok);
    return o;
}

/* A size that may be unlimited: null then. */
static json_t *bytes_or_null(size_t bytes)
{
    return bytes == CV_PLACE_UNLIMITED ? json_null() : json_integer((json_int_t)bytes);
}

static json_t *device_doc(const cv_live_device_t *d, bool *ok)
{
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    const cv_registry_usage_t *u = &d->usage;
    bool gpu = u->has_info && u->info.device == CV_DEVICE_CUDA;
    put(o, "name", json_string(d->name), ok);
    put(o, "kind", json_string(gpu ? "cuda" : "cpu"), ok);
    if (gpu) {
        put(o, "gpu", json_string(u->info.name), ok);
        put(o, "uuid", json_string(u->info.uuid), ok);
        put(o, "memory_total_bytes", json_integer((json_int_t)u->info.total_bytes), ok);
        put(o, "memory_used_bytes", json_integer((json_int_t)(u->info.total_bytes - u->info.free_bytes)), ok);
    }
    put(o, "budget_bytes", bytes_or_null(u->budget), ok);
    put(o, "placed_bytes", json_integer((json_int_t)u->placed), ok);
    put(o, "free_bytes", bytes_or_null(u->free), ok);
    put(o, "tenants", json_integer(u->replicas), ok);
    put(o, "queued", json_integer(d->runtime.queued), ok);
    put(o, "in_flight", json_integer(d->runtime.in_flight), ok);
    put(o, "runtime", runtime_doc(&d->runtime, ok), ok);
    return o;
}

json_t *cv_live_document(const cv_live_snapshot_t *snap)
{
    bool ok = true;
    json_t *doc = json_object();
    if (!doc) return NULL;
    const cv_live_server_t *sv = &snap->server;
    json_t *server = json_object();
    if (server) {
        put(server, "name", json_string(CV_SERVER_NAME), &ok);
        put(server, "version", json_string(CV_SERVER_VERSION), &ok);
        put(server, "policy", json_string(sv->policy[0] ? sv->policy : "unknown"), &ok);
        put(server, "device", json_string(sv->device[0] ? sv->device : "unknown"), &ok);
        put(server, "uptime_s", json_real(sv->uptime_s), &ok);
        put(server, "time_ms", json_integer(sv->time_ms), &ok);
        put(server, "http_requests_in_progress", json_integer(sv->gauges.calls), &ok);
        put(server, "http_requests_waiting", json_integer(sv->gauges.pending), &ok);
    }
    put(doc, "server", server, &ok);
    put(doc, "runtime", snap->has_runtime ? runtime_doc(&snap->runtime, &ok) : json_null(), &ok);
    json_t *devices = json_array();
    for (int d = 0; devices && d < snap->ndevices; d++) append(devices, device_doc(&snap->devices[d], &ok), &ok);
    put(doc, "devices", devices, &ok);
    json_t *labels = json_array();
    for (int w = 0; labels && w < CV_WAVE_HISTOGRAM; w++) append(labels, json_string(cv_wave_width_labels[w]), &ok);
    put(doc, "wave_width_labels", labels, &ok);
    json_t *families = json_array();
    for (int f = 0; families && f < snap->nfamilies; f++)
        append(families, family_doc(snap, &snap->families[f], &ok), &ok);
    put(doc, "families", families, &ok);
    json_t *tenants = json_array();
    for (int i = 0; tenants && i < snap->ntenants; i++) append(tenants, tenant_doc(&snap->tenants[i], &ok), &ok);
    put(doc, "tenants", tenants, &ok);
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

char *cv_live_document_text(const cv_live_snapshot_t *snap, size_t *len)
{
    json_t *doc = cv_live_document(snap);
    if (!doc) return NULL;
    /* Six significant digits: 0.6, not 0.59999999999999998. Written into a
     * cv_malloc'd buffer (the server's responses are freed with cv_free),
     * whatever allocator jansson was given. */
    size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(6);
    size_t n = json_dumpb(doc, NULL, 0, flags);
    char *text = n ? cv_malloc(n + 1) : NULL;
    if (text) {
        json_dumpb(doc, text, n, flags);
        text[n] = 0;
        *len = n;
    }
    json_decref(doc);
    return text;
}
