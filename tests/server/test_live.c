/*
 * test_live.c: the live view's data (src/server/live.c and the latency
 * ring of src/repo/registry.c) without HTTP: the ring's percentiles as it
 * wraps and under threads, the mean wave width, the status document of a
 * snapshot made by hand (every field and ratio, a model that failed with
 * a hostile reason), the document under failing allocations, and a
 * snapshot gathered from a real registry and runtime (CPU) after requests.
 * The page itself is tested in a browser (test_status_page.py).
 */
#include "testutil.h"

#include "core/core.h"
#include "repo/registry.h"
#include "server/internal.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void test_latency_ring(void **state)
{
    cv_latency_ring_t r;
    cv_latency_ring_init(&r);
    const double q[3] = {0.5, 0.99, 1.0};
    double p[3] = {-1, -1, -1};
    assert_int_equal(cv_latency_ring_percentiles(&r, q, 3, p), 0);
    assert_true(p[0] == 0 && p[1] == 0 && p[2] == 0);
    /* 1..100 noted in a scrambled order: nearest rank. */
    for (int i = 0; i < 100; i++) cv_latency_ring_note(&r, (double)((i * 37) % 100 + 1));
    assert_int_equal(cv_latency_ring_percentiles(&r, q, 3, p), 100);
    assert_true(p[0] == 50 && p[1] == 99 && p[2] == 100);
    /* Past the ring's size only the last CV_LATENCY_RING count. */
    for (int i = 101; i <= 2000; i++) cv_latency_ring_note(&r, (double)i);
    assert_int_equal(cv_latency_ring_percentiles(&r, q, 3, p), CV_LATENCY_RING);
    double first = 2000 - CV_LATENCY_RING + 1;
    assert_true(p[0] == first + 511);  /* ceil(0.5 * 1024) - 1 */
    assert_true(p[1] == first + 1013); /* ceil(0.99 * 1024) - 1 */
    assert_true(p[2] == 2000);
    cv_latency_ring_destroy(&r);
}

typedef struct noter {
    cv_latency_ring_t *ring;
    double value;
} noter_t;

static void *note_main(void *arg)
{
    noter_t *n = arg;
    for (int i = 0; i < 20000; i++) cv_latency_ring_note(n->ring, n->value);
    return NULL;
}

/* HTTP threads note while the page reads: nothing torn, nothing lost. */
static void test_latency_ring_threads(void **state)
{
    cv_latency_ring_t r;
    cv_latency_ring_init(&r);
    pthread_t threads[4];
    noter_t noters[4];
    for (int i = 0; i < 4; i++) {
        noters[i] = (noter_t){&r, (double)(i + 1)};
        pthread_create(&threads[i], NULL, note_main, &noters[i]);
    }
    const double q[2] = {0, 1};
    double p[2];
    for (int k = 0; k < 200; k++) {
        int n = cv_latency_ring_percentiles(&r, q, 2, p);
        assert_true(n == 0 || (p[0] >= 1 && p[1] <= 4));
    }
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    assert_int_equal(r.noted, 80000);
    assert_int_equal(cv_latency_ring_percentiles(&r, q, 2, p), CV_LATENCY_RING);
    cv_latency_ring_destroy(&r);
}

static void test_mean_wave_width(void **state)
{
    long none[CV_WAVE_HISTOGRAM] = {0}, ones[CV_WAVE_HISTOGRAM] = {10}, mixed[CV_WAVE_HISTOGRAM] = {1, 1},
         buckets[CV_WAVE_HISTOGRAM] = {0, 0, 2, 0, 0, 0, 0, 2};
    assert_true(cv_live_mean_wave_width(none) == 0);
    assert_true(cv_live_mean_wave_width(ones) == 1);
    assert_true(cv_live_mean_wave_width(mixed) == 1.5);
    assert_true(cv_live_mean_wave_width(buckets) == (3.5 * 2 + 65 * 2) / 4);
}

/* Two devices: cuda:0 (a GPU without a budget) and cuda:1 (a budget). */
static cv_live_device_t hand_devices[2];

/* Two families: f1 = {a/1, b/1}, f2 = {c/2} on cuda:1; d/1 failed to
 * load. a/1 has a replica on each device, b/1 is on cuda:0, c/2 on cuda:1. */
static void hand_snapshot(cv_live_snapshot_t *snap, cv_live_tenant_t *t, cv_live_family_t *f)
{
    memset(snap, 0, sizeof(*snap));
    memset(t, 0, 4 * sizeof(*t));
    memset(f, 0, 2 * sizeof(*f));
    snprintf(snap->server.policy, sizeof snap->server.policy, "spacetime");
    snprintf(snap->server.device, sizeof snap->server.device, "cuda:1");
    snap->server.uptime_s = 12.5;
    snap->server.time_ms = 1700000000123LL;
    snap->server.gauges = (cv_server_gauges_t){.calls = 3, .pending = 2};
    snap->has_runtime = true;
    snap->runtime = (cv_runtime_stats_t){.waves = 40, .graph_hits = 30, .graph_misses = 2, .graph_refreshes = 5,
                                         .stragglers = 1, .lanes = 4, .form_us_median = 2.5, .launch_us_median = 17};
    const char *names[3][3] = {{"a/1", "a", "1"}, {"b/1", "b", "1"}, {"c/2", "c", "2"}};
    for (int i = 0; i < 3; i++) {
        t[i].tenant = names[i][0];
        t[i].model = names[i][1];
        t[i].version = names[i][2];
        t[i].version_num = i == 2 ? 2 : 1;
        t[i].state = "READY";
        t[i].ready = true;
        t[i].family = i < 2 ? 0xf1 : 0xabcdef0123456789ULL;
        t[i].config = (cv_tenant_config_t){.slo_ms = 50, .share = i == 1 ? 2 : 0, .max_rows = 8};
    }
    /* a/1: 10 completed (4 fused, 8 within the SLO), 1 queue full, 1
     * expired: attainment 8 / 12, fused share 4 / 10. */
    cv_request_stats_t *a = &t[0].stats;
    a->submitted = 11;
    a->outcomes[CV_OUTCOME_COMPLETED] = 10;
    a->outcomes[CV_OUTCOME_QUEUE_FULL] = 1;
    a->outcomes[CV_OUTCOME_EXPIRED] = 1;
    a->fused = 4;
    a->slo_met = 8;
    a->waves = 8;
    a->wave_widths[0] = 6;
    a->wave_widths[1] = 2;
    a->queued = 2;
    a->in_flight = 1;
    a->total_ms_sum = 25;
    t[0].invalid = 3;
    t[0].rows = 12;
    t[0].host_bytes = 4096;
    t[0].device_bytes = (size_t)5 << 30;
    t[0].latency_samples = 10;
    t[0].p50_ms = 2;
    t[0].p99_ms = 7.5;
    t[3] = (cv_live_tenant_t){.model = "d", .version = "1", .version_num = 1, .state = "UNAVAILABLE",
                              .reason = "model 'd' version 1: \"bad\" file \xff"};
    f[0].hash = 0xf1;
    f[0].has_stats = true;
    f[0].stats = *a;
    f[0].stats.outcomes[CV_OUTCOME_COMPLETED] = 20;
    f[0].stats.fused = 15;
    f[1].hash = 0xabcdef0123456789ULL; /* no stats: every member left while gathering */
    f[1].device = "cuda:1";
    t[0].nreplicas = 2;
    t[0].replicas[0] = (cv_live_replica_t){.device = "cuda:0", .bytes = 1000, .completed = 6, .queued = 2};
    t[0].replicas[1] = (cv_live_replica_t){.device = "cuda:1", .bytes = 1000, .completed = 4, .in_flight = 1};
    t[1].nreplicas = 1;
    t[1].replicas[0] = (cv_live_replica_t){.device = "cuda:0", .bytes = 500};
    t[2].nreplicas = 1;
    t[2].replicas[0] = (cv_live_replica_t){.device = "cuda:1", .bytes = 700};
    memset(hand_devices, 0, sizeof hand_devices);
    cv_live_device_t *g0 = &hand_devices[0], *g1 = &hand_devices[1];
    g0->name = "cuda:0";
    g0->usage = (cv_registry_usage_t){.budget = CV_PLACE_UNLIMITED, .placed = 1500, .free = (size_t)60 << 30,
                                      .replicas = 2, .has_info = true};
    g0->usage.info = (cv_device_info_t){.device = CV_DEVICE_CUDA, .index = 0, .name = "NVIDIA H100",
                                        .uuid = "GPU-0000", .free_bytes = (size_t)60 << 30,
                                        .total_bytes = (size_t)80 << 30};
    g0->runtime = (cv_runtime_stats_t){.waves = 30, .queued = 2};
    g1->name = "cuda:1";
    g1->usage = (cv_registry_usage_t){.budget = 4000, .placed = 1700, .free = 2300, .replicas = 2};
    g1->runtime = (cv_runtime_stats_t){.waves = 10, .in_flight = 1};
    snap->devices = hand_devices;
    snap->ndevices = 2;
    snap->tenants = t;
    snap->ntenants = 4;
    snap->families = f;
    snap->nfamilies = 2;
}

static double real_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) fail_msg("'%s' is not a number", key);
    return json_number_value(v);
}

static void test_document(void **state)
{
    cv_live_snapshot_t snap;
    cv_live_tenant_t t[4];
    cv_live_family_t f[2];
    hand_snapshot(&snap, t, f);
    size_t len = 0;
    char *text = cv_live_document_text(&snap, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_null(strchr(text, '\n')); /* compact */
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) fail_msg("not JSON: %s: %s", jerr.text, text);
    cv_free(text);

    json_t *server = json_object_get(doc, "server");
    assert_string_equal(json_string_value(json_object_get(server, "name")), "caravel");
    assert_string_equal(json_string_value(json_object_get(server, "policy")), "spacetime");
    assert_string_equal(json_string_value(json_object_get(server, "device")), "cuda:1");
    assert_true(real_of(server, "uptime_s") == 12.5);
    assert_true(real_of(server, "time_ms") == 1700000000123.0);
    assert_true(real_of(server, "http_requests_waiting") == 2);
    json_t *runtime = json_object_get(doc, "runtime");
    assert_true(real_of(runtime, "waves") == 40 && real_of(runtime, "graph_hits") == 30 &&
                real_of(runtime, "graph_misses") == 2 && real_of(runtime, "graph_refreshes") == 5 &&
                real_of(runtime, "stragglers") == 1 && real_of(runtime, "lanes") == 4 &&
                real_of(runtime, "form_us_median") == 2.5 && real_of(runtime, "launch_us_median") == 17);
    json_t *labels = json_object_get(doc, "wave_width_labels");
    assert_int_equal(json_array_size(labels), CV_WAVE_HISTOGRAM);
    assert_string_equal(json_string_value(json_array_get(labels, 2)), "3-4");

    json_t *families = json_object_get(doc, "families");
    assert_int_equal(json_array_size(families), 2);
    json_t *f1 = json_array_get(families, 0), *f2 = json_array_get(families, 1);
    assert_string_equal(json_string_value(json_object_get(f1, "family")), "00000000000000f1");
    json_t *members = json_object_get(f1, "tenants");
    assert_int_equal(json_array_size(members), 2);
    assert_string_equal(json_string_value(json_array_get(members, 1)), "b/1");
    assert_true(real_of(f1, "completed") == 20 && real_of(f1, "fused_share") == 0.75);
    assert_true(fabs(real_of(f1, "mean_wave_width") - 1.25) < 1e-9); /* 6 of 1, 2 of 2 */
    assert_true(real_of(f1, "requests_per_wave") == 2.5);
    assert_int_equal(json_array_size(json_object_get(f1, "wave_widths")), CV_WAVE_HISTOGRAM);
    assert_null(json_object_get(f1, "device")); /* not said: its members anywhere */
    assert_string_equal(json_string_value(json_object_get(f2, "family")), "abcdef0123456789");
    assert_string_equal(json_string_value(json_object_get(f2, "device")), "cuda:1");
    assert_true(real_of(f2, "completed") == 0 && real_of(f2, "slo_attainment") == 1);
    assert_int_equal(json_array_size(json_object_get(f2, "tenants")), 1);

    json_t *tenants = json_object_get(doc, "tenants");
    assert_int_equal(json_array_size(tenants), 4);
    json_t *a = json_array_get(tenants, 0);
    assert_string_equal(json_string_value(json_object_get(a, "tenant")), "a/1");
    assert_string_equal(json_string_value(json_object_get(a, "state")), "READY");
    assert_string_equal(json_string_value(json_object_get(a, "precision")), "fp32");
    assert_true(real_of(a, "slo_ms") == 50 && real_of(a, "share") == 1); /* share 0 means 1 */
    assert_true(real_of(a, "submitted") == 11 && real_of(a, "completed") == 10 && real_of(a, "rejected") == 1);
    assert_true(fabs(real_of(a, "slo_attainment") - 8.0 / 12.0) < 1e-5); /* six digits in the text */
    assert_true(real_of(a, "fused_share") == 0.4);
    assert_true(real_of(a, "queued") == 2 && real_of(a, "in_flight") == 1 && real_of(a, "rows") == 12);
    assert_true(real_of(a, "host_bytes") == 4096 && real_of(a, "device_bytes") == (double)((size_t)5 << 30));
    json_t *outcomes = json_object_get(a, "outcomes");
    assert_true(real_of(outcomes, "completed") == 10 && real_of(outcomes, "queue_full") == 1 &&
                real_of(outcomes, "expired") == 1 && real_of(outcomes, "invalid") == 3 &&
                real_of(outcomes, "shutdown") == 0);
    assert_null(json_object_get(outcomes, "pending"));
    json_t *lat = json_object_get(a, "latency_ms");
    assert_true(real_of(lat, "samples") == 10 && real_of(lat, "p50") == 2 && real_of(lat, "p99") == 7.5 &&
                real_of(lat, "mean") == 2.5);
    /* Where it is placed: the first replica's device, and each replica. */
    assert_string_equal(json_string_value(json_object_get(a, "device")), "cuda:0");
    json_t *reps = json_object_get(a, "replicas");
    assert_int_equal(json_array_size(reps), 2);
    json_t *r1 = json_array_get(reps, 1);
    assert_string_equal(json_string_value(json_object_get(r1, "device")), "cuda:1");
    assert_true(real_of(r1, "completed") == 4 && real_of(r1, "in_flight") == 1 && real_of(r1, "placed_bytes") == 1000);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tenants, 2), "device")), "cuda:1");
    json_t *devices = json_object_get(doc, "devices");
    assert_int_equal(json_array_size(devices), 2);
    json_t *d0 = json_array_get(devices, 0), *d1 = json_array_get(devices, 1);
    assert_string_equal(json_string_value(json_object_get(d0, "name")), "cuda:0");
    assert_string_equal(json_string_value(json_object_get(d0, "kind")), "cuda");
    assert_string_equal(json_string_value(json_object_get(d0, "uuid")), "GPU-0000");
    assert_true(real_of(d0, "memory_total_bytes") == (double)((size_t)80 << 30) &&
                real_of(d0, "memory_used_bytes") == (double)((size_t)20 << 30));
    assert_true(json_is_null(json_object_get(d0, "budget_bytes")) && real_of(d0, "tenants") == 2 &&
                real_of(d0, "queued") == 2);
    assert_true(real_of(json_object_get(d0, "runtime"), "waves") == 30);
    assert_string_equal(json_string_value(json_object_get(d1, "kind")), "cpu"); /* no driver's word on it */
    assert_null(json_object_get(d1, "uuid"));
    assert_true(real_of(d1, "budget_bytes") == 4000 && real_of(d1, "free_bytes") == 2300 &&
                real_of(d1, "placed_bytes") == 1700 && real_of(d1, "in_flight") == 1);
    assert_true(real_of(json_array_get(tenants, 1), "share") == 2);
    assert_true(real_of(json_array_get(tenants, 1), "slo_attainment") == 1); /* nothing answered */
    /* The failed model: its state and reason only, the reason replaced as
     * it is not UTF-8. */
    json_t *d = json_array_get(tenants, 3);
    assert_string_equal(json_string_value(json_object_get(d, "tenant")), "d/1");
    assert_string_equal(json_string_value(json_object_get(d, "state")), "UNAVAILABLE");
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "(not valid UTF-8)");
    assert_null(json_object_get(d, "completed"));
    json_decref(doc);

    /* A UTF-8 reason with quotes comes through as it is; no runtime: null. */
    t[3].reason = "model 'd': \"bad\" file";
    snap.has_runtime = false;
    doc = cv_live_document(&snap);
    assert_non_null(doc);
    assert_true(json_is_null(json_object_get(doc, "runtime")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(doc, "tenants"), 3), "reason")),
                        t[3].reason);
    json_decref(doc);
}

/* The document with the Nth allocation failing, N = 1, 2, ... until it is
 * made: NULL each time before, nothing leaked. */
static void test_document_out_of_memory(void **state)
{
    cv_live_snapshot_t snap;
    cv_live_tenant_t t[4];
    cv_live_family_t f[2];
    hand_snapshot(&snap, t, f);
    t[3].reason = "bad";
    json_set_alloc_funcs(cv_malloc, cv_free);
    size_t before = cv_alloc_live_bytes();
    char *text = NULL;
    long n = 1;
    for (; n < 100000 && !text; n++) {
        cv_alloc_fail_after(n);
        size_t len;
        text = cv_live_document_text(&snap, &len);
        cv_alloc_fail_after(0);
        if (!text) assert_int_equal(cv_alloc_live_bytes(), before);
    }
    assert_non_null(text);
    assert_true(n > 100); /* every object, array, string and number allocates */
    cv_free(text);
    assert_int_equal(cv_alloc_live_bytes(), before);
    json_set_alloc_funcs(malloc, free);
}

typedef struct answer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} answer_t;

static void on_done(cv_request_t *req, void *user)
{
    answer_t *a = user;
    pthread_mutex_lock(&a->mu);
    a->done++;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Requests of `model` through its record, answered, latencies noted as
 * the server notes them. */
static void run_requests(cv_registry_t *reg, const char *model, int count)
{
    cv_served_t *s;
    cv_err_t err;
    assert_int_equal(cv_registry_acquire(reg, model, -1, &s, &err), CV_STATUS_OK);
    answer_t a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    for (int i = 0; i < count; i++) {
        cv_request_t *req;
        assert_int_equal(cv_served_request_create(s, 1, &req, &err), CV_STATUS_OK);
        cv_tensor_t *in = cv_request_input(req, 0);
        memset(in->data, 0, cv_tensor_nbytes(in));
        assert_int_equal(cv_served_submit(s, req, on_done, &a, &err), CV_STATUS_OK);
        pthread_mutex_lock(&a.mu);
        while (a.done <= i) pthread_cond_wait(&a.cv, &a.mu);
        pthread_mutex_unlock(&a.mu);
        assert_int_equal(cv_request_status(req, &err), CV_STATUS_OK);
        cv_latency_ring_note(&s->latency, cv_request_timings(req).total_ms);
        cv_request_destroy(req);
    }
    cv_served_release(s);
}

static const cv_live_tenant_t *find_tenant(const cv_live_snapshot_t *snap, const char *model)
{
    for (int i = 0; i < snap->ntenants; i++)
        if (!strcmp(snap->tenants[i].model, model)) return &snap->tenants[i];
    fail_msg("no tenant of model '%s' in the snapshot", model);
    return NULL;
}

/* A registry over the demo repository with three of its five models
 * loaded: the READY ones with their counters, the others "not loaded",
 * families grouped by hash. */
static void test_gather(void **state)
{
    const char *demo = cv_test_demo_repo();
    if (!demo) skip();
    cv_runtime_t *rt = cv_test_runtime_create(CV_DEVICE_CPU, 1);
    cv_registry_t *reg;
    cv_err_t err;
    assert_int_equal(cv_registry_create(rt, demo, &reg, &err), CV_STATUS_OK);
    const char *load[] = {"cnn-a", "cnn-b", "mlp-a"};
    for (size_t i = 0; i < CV_ARRAY_LEN(load); i++) assert_int_equal(cv_registry_load(reg, load[i], &err), CV_STATUS_OK);
    run_requests(reg, "cnn-a", 5);
    run_requests(reg, "mlp-a", 3);

    cv_live_snapshot_t snap;
    memset(&snap, 0, sizeof snap);
    snprintf(snap.server.policy, sizeof snap.server.policy, "time");
    assert_int_equal(cv_live_gather(reg, &snap, &err), CV_STATUS_OK);
    assert_string_equal(snap.server.policy, "time"); /* the caller's part is kept */
    assert_true(snap.has_runtime && snap.runtime.waves >= 8);
    assert_int_equal(snap.ntenants, 5);
    for (int i = 0; i < 3; i++) assert_true(snap.tenants[i].ready); /* READY first */
    const cv_live_tenant_t *a = find_tenant(&snap, "cnn-a"), *m = find_tenant(&snap, "mlp-a"),
                           *c = find_tenant(&snap, "cnn-c");
    assert_string_equal(a->tenant, "cnn-a/1");
    assert_int_equal(a->stats.outcomes[CV_OUTCOME_COMPLETED], 5);
    assert_int_equal(a->latency_samples, 5);
    assert_true(a->p50_ms > 0 && a->p99_ms >= a->p50_ms);
    assert_true(a->host_bytes > 0);
    assert_int_equal(m->latency_samples, 3);
    assert_false(c->ready);
    assert_string_equal(c->state, "UNAVAILABLE");
    assert_string_equal(c->reason, "not loaded");
    assert_int_equal(snap.nfamilies, 2);
    /* One device, named after the runtime's: everything is on it. */
    assert_int_equal(snap.ndevices, 1);
    assert_string_equal(snap.devices[0].name, "cpu");
    assert_int_equal(snap.devices[0].usage.replicas, 3);
    assert_true(snap.devices[0].usage.budget == CV_PLACE_UNLIMITED && snap.devices[0].usage.placed > 0);
    assert_true(snap.devices[0].runtime.waves == snap.runtime.waves && snap.runtime.tenants == 3);
    assert_int_equal(a->nreplicas, 1);
    assert_string_equal(a->replicas[0].device, "cpu");
    assert_int_equal(a->replicas[0].completed, 5);
    const cv_live_family_t *cnn = snap.families[0].hash == a->family ? &snap.families[0] : &snap.families[1];
    assert_string_equal(cnn->device, "cpu");
    assert_true(cnn->hash == a->family && cnn->has_stats);
    assert_int_equal(cnn->stats.outcomes[CV_OUTCOME_COMPLETED], 5);

    json_t *doc = cv_live_document(&snap);
    assert_non_null(doc);
    json_t *fam = json_array_get(json_object_get(doc, "families"), cnn == &snap.families[0] ? 0 : 1);
    assert_int_equal(json_array_size(json_object_get(fam, "tenants")), 2); /* cnn-a/1, cnn-b/1 */
    json_decref(doc);
    cv_live_release(&snap);
    assert_null(snap.tenants);

    /* Unloaded: its record leaves the READY list and shows unloaded. */
    assert_int_equal(cv_registry_unload(reg, "mlp-a", &err), CV_STATUS_OK);
    assert_int_equal(cv_live_gather(reg, &snap, &err), CV_STATUS_OK);
    assert_string_equal(find_tenant(&snap, "mlp-a")->reason, "unloaded");
    assert_int_equal(snap.nfamilies, 1);
    cv_live_release(&snap);
    cv_registry_destroy(reg);
    cv_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latency_ring),  cmocka_unit_test(test_latency_ring_threads),
        cmocka_unit_test(test_mean_wave_width), cmocka_unit_test(test_document),
        cmocka_unit_test(test_document_out_of_memory), cmocka_unit_test(test_gather),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
