/*
 * registry.h: what a server has loaded from its model repository, onto one
 * device or several. Each (model, version) is one record here: its state
 * (LOADING, READY, UNLOADING, UNAVAILABLE with a reason), its signature as
 * clients see it, the counters the server keeps beside the runtime's, and
 * its replicas: a tenant named "<model>/<version>" (a stable name: logs, the
 * runtime's messages and stats all use it) on the runtime of each device
 * that holds a copy, usually one.
 *
 * Devices: one runtime each (so one scheduler each), given at creation and
 * configured alike (policy, rows, fusion). Where a tenant goes is
 * placement.h's rule (its family's device first, else the one with the most
 * free bytes, within each device's budget); a model whose config asks for
 * replicas gets a copy on that many devices, and each request goes to the
 * least loaded copy.
 *
 * Why records and not just cv_tenant_find: a tenant's graph, names and
 * shapes are freed when it is unloaded, while an HTTP request that looked
 * it up may still be decoding its body or sending its answer. A record is
 * reference-counted and keeps its own copy of the signature, so a request
 * holding one never touches a freed tenant; and the runtime's rule that no
 * request of a tenant is made or submitted while it is being unloaded is
 * kept here, with a reader-writer lock per record (cv_served_request_create
 * and cv_served_submit read-lock it; unloading write-locks it to leave
 * READY, then unloads outside the lock).
 *
 * Loading and unloading block (ONNX parsing, profiling wave times, waiting
 * for waves in flight): callers run them on a thread of their own, never on
 * an HTTP thread or in a request's callback.
 */
#ifndef CV_REPO_REGISTRY_H
#define CV_REPO_REGISTRY_H

#include "caravel.h"
#include "repo/placement.h"

#include <pthread.h>
#include <stdatomic.h>

/* An input or output as clients see it. */
typedef struct cv_io_desc {
    char *name;
    cv_dtype_t dtype;
    cv_shape_t shape; /* -1 for the batch axis and any other variable dim */
} cv_io_desc_t;

/* A served model's inputs and outputs, copied from its tenant at load. */
typedef struct cv_model_sig {
    int ninputs, noutputs;
    cv_io_desc_t *inputs, *outputs;
    bool batched;     /* dim 0 of every input is the batch (rows) axis */
    bool by_rows;     /* requests can be made: every other input dim is fixed */
    int64_t max_rows; /* largest request in rows (1 without a batch axis) */
} cv_model_sig_t;

/* Copies t's signature (names, dtypes, shapes, its config's max_rows). */
cv_status cv_model_sig_from_tenant(const cv_tenant_t *t, cv_model_sig_t *out, cv_err_t *err);
void cv_model_sig_free(cv_model_sig_t *sig);
/* The index of the input / output named `name`, or -1. */
int cv_model_sig_input(const cv_model_sig_t *sig, const char *name);
int cv_model_sig_output(const cv_model_sig_t *sig, const char *name);

typedef enum cv_served_state {
    CV_SERVED_LOADING = 0,
    CV_SERVED_READY,
    CV_SERVED_UNLOADING,
    CV_SERVED_UNAVAILABLE, /* failed to load, or unloaded; `reason` says which */
} cv_served_state_t;
/* "LOADING", "READY", "UNLOADING", "UNAVAILABLE": the repository index's words. */
const char *cv_served_state_name(cv_served_state_t state);

typedef struct cv_registry cv_registry_t;

/* The total latencies (cv_request_timings().total_ms) of a model's last
 * CV_LATENCY_RING completed requests, for the status page's percentiles:
 * the runtime keeps sums only, and a ring is enough for "how is it doing
 * now" without a histogram's bucket choice. Thread-safe. */
#define CV_LATENCY_RING 1024
typedef struct cv_latency_ring {
    pthread_mutex_t mu;
    double ms[CV_LATENCY_RING];
    long noted; /* samples ever noted; the ring holds the last min(noted, CV_LATENCY_RING) */
} cv_latency_ring_t;

void cv_latency_ring_init(cv_latency_ring_t *r);
void cv_latency_ring_destroy(cv_latency_ring_t *r);
void cv_latency_ring_note(cv_latency_ring_t *r, double ms);
/* Nearest-rank percentiles of the samples held: out[i] for q[i] in [0, 1]
 * (0.99 is p99). Returns how many samples they are over; with none, every
 * out[i] is 0. */
int cv_latency_ring_percentiles(cv_latency_ring_t *r, const double *q, int nq, double *out);

/* One copy of a served model: its tenant on one device's runtime. */
typedef struct cv_replica {
    cv_tenant_t *tenant;
    int device;   /* index of the registry's device */
    size_t bytes; /* charged against the device's budget: the tenant's device
                     bytes on a GPU, its weights' bytes (cv_model_probe) on a
                     CPU device, whose budget is a logical one; with one
                     device and no budget (no placement to decide, so no
                     probe) the model file's size */
} cv_replica_t;

/* One (model, version). Fields above `state` are fixed once the record is
 * READY and may be read by whoever holds a reference; `state`, `replicas`
 * and `reason` belong to the registry. */
typedef struct cv_served {
    char *model;
    int64_t version;
    char version_str[24];
    char *tenant_name;         /* "<model>/<version>" */
    cv_model_sig_t sig;        /* filled when it becomes READY */
    cv_tenant_config_t config; /* as the runtime settled it */
    uint64_t family_hash;
    /* Counters the runtime does not keep: rows of completed requests (the
     * protocol's inference_count), the wall-clock time of the last one (ms
     * since the epoch), and requests refused before reaching the runtime
     * (bad input for this model). */
    atomic_llong rows, last_inference_ms, invalid;
    cv_latency_ring_t latency; /* of its completed requests, noted by the server */

    /* the registry's */
    cv_served_state_t state;
    char reason[CV_ERR_LEN];
    cv_replica_t replicas[CV_PLACE_MAX_DEVICES]; /* READY and UNLOADING: at least one */
    int nreplicas;
    atomic_uint turn; /* round robin among equally loaded replicas */
    pthread_rwlock_t lock;
    atomic_int refs;
    cv_registry_t *registry;
    struct cv_served *next;
} cv_served_t;

/* A device a registry places tenants on. */
typedef struct cv_registry_device {
    cv_runtime_t *rt;    /* outlives the registry */
    const char *name;    /* "cuda:0", "cpu:1": the index, the status page,
                            the metrics' device label (copied) */
    size_t budget_bytes; /* what its tenants may hold; 0: no budget of its
                            own (a GPU's free memory limits it, a CPU
                            device nothing) */
} cv_registry_device_t;

/* A registry over the repository folder `repo` and n devices (1 to
 * CV_PLACE_MAX_DEVICES, distinct names). INVALID_ARGUMENT for a bad
 * list, OUT_OF_MEMORY. */
cv_status cv_registry_create_devices(const cv_registry_device_t *devices, int n, const char *repo,
                                     cv_registry_t **out, cv_err_t *err);
/* A registry over one runtime rt, without a budget, its device named as
 * cv_runtime_device_info says ("cpu", "cuda:N"). */
cv_status cv_registry_create(cv_runtime_t *rt, const char *repo, cv_registry_t **out, cv_err_t *err);
/* Unloads every loaded model and frees the registry. Records still held
 * (cv_served_release) stay valid until released. Not while loads run. */
void cv_registry_destroy(cv_registry_t *reg);
const char *cv_registry_repo(const cv_registry_t *reg);

/* The devices, as given at creation (index 0 to cv_registry_devices - 1). */
int cv_registry_devices(const cv_registry_t *reg);
cv_runtime_t *cv_registry_device_runtime(const cv_registry_t *reg, int device);
const char *cv_registry_device_name(const cv_registry_t *reg, int device);

/* Where a device stands now. */
typedef struct cv_registry_usage {
    size_t budget;   /* CV_PLACE_UNLIMITED: none of its own */
    size_t placed;   /* bytes charged for the replicas on it */
    size_t free;     /* what placement would see now (cv_place_free);
                        CV_PLACE_UNLIMITED: nothing limits it */
    int replicas;    /* replicas (tenants) placed on it */
    cv_device_info_t info; /* the runtime's own (memory of a GPU) */
    bool has_info;   /* false when the driver could not be asked */
} cv_registry_usage_t;
void cv_registry_device_usage(cv_registry_t *reg, int device, cv_registry_usage_t *out);

/* Loads every version of `model` found on disk, with its config.json,
 * after unloading the versions loaded now (a reload). Blocks. Each version
 * is placed on a device (and its replicas on others) as placement.h says.
 * OK when every version loaded; otherwise the first failure (the others
 * still load; each failed version is UNAVAILABLE with its reason; one that
 * fits on no device is OUT_OF_MEMORY, "... needs 3.0 MiB and fits on no
 * device (cpu:0: 1.2 MiB free of 2.0 MiB; ...)"). A replica beyond the
 * first that fits nowhere is left out with a warning in the log; the
 * model serves from the others.
 * INVALID_ARGUMENT for a bad name or config, NOT_FOUND for a model the
 * repository lacks or without versions. */
cv_status cv_registry_load(cv_registry_t *reg, const char *model, cv_err_t *err);
/* cv_registry_load for every model of the repository; the first failure
 * is returned, every model is tried. */
cv_status cv_registry_load_all(cv_registry_t *reg, cv_err_t *err);
/* Unloads every loaded version of `model` (their queued requests are
 * answered UNLOADED, waves in flight finish). Blocks. OK also when nothing
 * was loaded; NOT_FOUND when the model is neither loaded nor on disk. */
cv_status cv_registry_unload(cv_registry_t *reg, const char *model, cv_err_t *err);

/* The READY record of (model, version), version < 0 meaning the highest
 * READY version, with a reference the caller releases. NOT_FOUND (with a
 * message for the client) when there is none. */
cv_status cv_registry_acquire(cv_registry_t *reg, const char *model, int64_t version, cv_served_t **out,
                              cv_err_t *err);
void cv_served_release(cv_served_t *s);

/* Every READY record (of `model` only, when not NULL), sorted by model and
 * version, each acquired: release each, then cv_free the array. */
cv_status cv_registry_ready(cv_registry_t *reg, const char *model, cv_served_t ***out, int *count, cv_err_t *err);

/* One row of the repository index. */
typedef struct cv_registry_row {
    char model[CV_ERR_LEN / 2];
    int64_t version;
    cv_served_state_t state;
    char reason[CV_ERR_LEN];
    /* READY and UNLOADING: the devices of its replicas, first placed first */
    int ndevices;
    int devices[CV_PLACE_MAX_DEVICES];
} cv_registry_row_t;
/* The repository index: every version on disk or known to the registry,
 * sorted by model and version (versions on disk never loaded read
 * UNAVAILABLE, "not loaded"); only READY ones when ready_only. The array
 * is the caller's (cv_free). */
cv_status cv_registry_index(cv_registry_t *reg, bool ready_only, cv_registry_row_t **out, int *count,
                            cv_err_t *err);

/* cv_request_create for a READY record, on the replica with the fewest
 * requests queued or in flight (round robin among equals); UNAVAILABLE
 * once it is being unloaded. The request may be written, destroyed, and
 * (if the record is still READY) submitted afterwards. */
cv_status cv_served_request_create(cv_served_t *s, int64_t rows, cv_request_t **out, cv_err_t *err);
/* cv_submit, on the runtime of the replica the request was made for, for
 * a READY record; UNAVAILABLE (done never called) once it is being
 * unloaded. */
cv_status cv_served_submit(cv_served_t *s, cv_request_t *req, cv_request_done_fn done, void *user, cv_err_t *err);
/* cv_tenant_stats and the tenant's memory, summed over the replicas, for a
 * READY record; false when it is not READY (nothing written). */
bool cv_served_stats(cv_served_t *s, cv_request_stats_t *stats, size_t *host_bytes, size_t *device_bytes);

/* One replica of a READY record, as the status page and metrics show it. */
typedef struct cv_replica_stats {
    int device;
    size_t bytes;               /* charged against the device's budget */
    size_t host_bytes, device_bytes;
    /* Of those, its part of the weight tensors it shares with other
     * tenants (cv_tenant_memory). */
    size_t host_shared_bytes, device_shared_bytes;
    cv_request_stats_t tenant;  /* cv_tenant_stats */
    cv_request_stats_t family;  /* cv_family_stats: its family on that device */
} cv_replica_stats_t;
/* Writes the replicas of a READY record into out (room for
 * CV_PLACE_MAX_DEVICES) and returns how many; 0 when it is not READY. */
int cv_served_replica_stats(cv_served_t *s, cv_replica_stats_t *out);

/* Adds the counters of b to a (sums; "now" gauges add too). */
void cv_request_stats_add(cv_request_stats_t *a, const cv_request_stats_t *b);

#endif /* CV_REPO_REGISTRY_H */
