/*
 * caravel.h: the public C API of Caravel, a multi-tenant DNN inference
 * library. Many tenants' ONNX models share one device; tenants of one
 * family (identical graphs, different weights) run together in waves.
 *
 * Everything here is an opaque handle or a plain value type. Every call that
 * can fail returns a cv_status and, where a message helps, writes one line
 * naming what is wrong into a caller-supplied cv_err_t.
 */
#ifndef CARAVEL_H
#define CARAVEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- statuses ---------------------------------------------------------- */

typedef enum cv_status {
    CV_STATUS_OK = 0,
    CV_STATUS_INVALID_ARGUMENT, /* bad file, bad request, bad shape or dtype */
    CV_STATUS_NOT_FOUND,        /* no such file, tenant, input or output */
    CV_STATUS_UNSUPPORTED,      /* valid, but not implemented here */
    CV_STATUS_OUT_OF_MEMORY,    /* a host or device allocation failed */
    CV_STATUS_UNAVAILABLE,      /* queue full, deadline infeasible, no device */
    CV_STATUS_INTERNAL,         /* a library or driver call failed */
} cv_status;

const char *cv_status_str(cv_status status);

/* A one-line message for the user, set by the call that failed. */
#define CV_ERR_LEN 512
typedef struct cv_err {
    char msg[CV_ERR_LEN];
} cv_err_t;

/* ---- element types: values equal ONNX TensorProto.DataType ------------ */

typedef enum cv_dtype {
    CV_DTYPE_UNDEFINED = 0,
    CV_DTYPE_FP32 = 1,
    CV_DTYPE_UINT8 = 2,
    CV_DTYPE_INT8 = 3,
    CV_DTYPE_UINT16 = 4,
    CV_DTYPE_INT16 = 5,
    CV_DTYPE_INT32 = 6,
    CV_DTYPE_INT64 = 7,
    CV_DTYPE_STRING = 8, /* recognised only to be refused by name */
    CV_DTYPE_BOOL = 9,
    CV_DTYPE_FP16 = 10,
    CV_DTYPE_FP64 = 11,
    CV_DTYPE_UINT32 = 12,
    CV_DTYPE_UINT64 = 13,
    CV_DTYPE_BF16 = 16,
} cv_dtype_t;

const char *cv_dtype_name(cv_dtype_t dtype);
/* Bytes per element; 0 for a dtype Caravel does not store. */
size_t cv_dtype_size(cv_dtype_t dtype);

/* ---- tensors ----------------------------------------------------------- */

#define CV_MAX_DIMS 8

typedef struct cv_shape {
    int ndim;
    int64_t dims[CV_MAX_DIMS];
} cv_shape_t;

/* A dense, row-major tensor in host or device memory. `data` is owned by
 * whoever allocated it: cv_tensor_alloc'd tensors are freed by
 * cv_tensor_free; views (see cv_tensor_view) are never freed. */
typedef struct cv_tensor {
    cv_dtype_t dtype;
    cv_shape_t shape;
    void *data;
} cv_tensor_t;

int64_t cv_shape_numel(const cv_shape_t *shape);
bool cv_shape_equal(const cv_shape_t *a, const cv_shape_t *b);
/* Writes "[1,3,224,224]" into buf; returns buf. */
char *cv_shape_str(const cv_shape_t *shape, char *buf, size_t len);
size_t cv_tensor_nbytes(const cv_tensor_t *t);
/* Allocates zeroed host storage for dtype x shape. */
cv_status cv_tensor_alloc(cv_tensor_t *t, cv_dtype_t dtype, const cv_shape_t *shape);
void cv_tensor_free(cv_tensor_t *t);

/* Reads one serialized ONNX TensorProto (an input_K.pb / output_K.pb file). */
cv_status cv_tensor_read_pb(const char *path, cv_tensor_t *out, cv_err_t *err);
/* Writes t as a serialized ONNX TensorProto named `name`. */
cv_status cv_tensor_write_pb(const char *path, const char *name, const cv_tensor_t *t,
                             cv_err_t *err);

/* ---- runtime, tenants, inference -------------------------------------- */

typedef enum cv_device {
    CV_DEVICE_CPU = 0,
    CV_DEVICE_CUDA = 1,
} cv_device_t;

typedef enum cv_precision {
    CV_PRECISION_FP32 = 0, /* strict FP32 */
    CV_PRECISION_TF32,
    CV_PRECISION_FP16,
    CV_PRECISION_BF16,
} cv_precision_t;

typedef struct cv_runtime cv_runtime_t;
typedef struct cv_tenant cv_tenant_t;

/* How requests of many tenants share the device (DESIGN.md, "One plan, four
 * policies"). Every policy runs the same plans with the same kernels; a
 * policy only decides which requests form a wave and where it runs. */
typedef enum cv_policy {
    /* Waves across the tenants of one family (fused: one launch per step for
     * all of them); their width and members chosen from deadlines, fair
     * shares and the latency model; several waves of a family in flight,
     * families side by side. The default. */
    CV_POLICY_SPACETIME = 0,
    /* One wave at a time, of one tenant: its queued requests batched
     * (dynamic batching); tenants served oldest request first. */
    CV_POLICY_EXCLUSIVE,
    /* One wave at a time, of one request: earliest deadline first, round
     * robin among tenants with equal deadlines (time multiplexing). */
    CV_POLICY_TIME,
    /* A stream and a worker per tenant: each tenant's queued requests
     * batched into its own waves, which overlap on the device (explicit
     * space multiplexing). */
    CV_POLICY_SPACE,
} cv_policy_t;

const char *cv_policy_name(cv_policy_t policy);
/* Parses "spacetime", "exclusive", "time" or "space"; false otherwise. */
bool cv_policy_parse(const char *name, cv_policy_t *out);

typedef struct cv_runtime_config {
    cv_device_t device;
    int threads;          /* CPU threads for kernels; 0 = all cores */
    int device_index;     /* the GPU (cuda:N) for CV_DEVICE_CUDA */
    cv_policy_t policy;
    int max_wave_rows;    /* rows of the widest wave the scheduler forms; 0 = 64 */
    int waves_in_flight;  /* spacetime: waves of one family at once; 0 = 2 on
                             CUDA (one uploads while one computes), 1 on the CPU */
    double straggler_factor; /* a wave slower than this times its prediction
                                is counted and logged as a straggler; 0 = 3 */
    bool no_profile;      /* skip profiling wave times at load (tests, tools
                             that only run cv_wave_run); the latency model then
                             learns from the first waves */
    bool step_profile;    /* cv_wave_run and cv_infer run their steps one by
                             one (no CUDA graph) and keep each step's device
                             time: cv_runtime_step_profile */
    bool no_fusion;       /* load tenants without the fusions that need a
                             plan's shapes (a residual Add folded into the
                             Conv before it): for A/B measurements and tests */
    bool no_weight_sharing; /* every tenant keeps its own copy of every weight
                             (nothing hashed, nothing shared): for A/B
                             measurements; by default identical weight tensors
                             of tenants are stored once (cv_tenant_memory) */
} cv_runtime_config_t;

cv_status cv_runtime_create(const cv_runtime_config_t *config, cv_runtime_t **out,
                            cv_err_t *err);
/* Stops taking requests, answers every queued one (CV_STATUS_UNAVAILABLE,
 * outcome CV_OUTCOME_SHUTDOWN), lets the waves in flight finish (their
 * requests complete normally), then frees everything. Not from a callback. */
void cv_runtime_destroy(cv_runtime_t *rt);
/* What a runtime's device is, and its memory now. */
typedef struct cv_device_info {
    cv_device_t device;
    int index;              /* the GPU (cuda:N); 0 on the CPU */
    char name[96];          /* "NVIDIA H100 80GB HBM3"; "cpu" */
    char uuid[48];          /* "GPU-8c1b2f3e-...", as nvidia-smi and Triton's
                               gpu_uuid label write it; "" on the CPU */
    size_t free_bytes;      /* device memory free now (cudaMemGetInfo): every
                               process's use counts; 0 on the CPU */
    size_t total_bytes;     /* 0 on the CPU, which has no memory of its own */
} cv_device_info_t;
/* Fills out; INTERNAL when the driver cannot be asked. */
cv_status cv_runtime_device_info(cv_runtime_t *rt, cv_device_info_t *out, cv_err_t *err);
/* The number of CUDA GPUs this process sees: 0 without any, or in a build
 * without the CUDA backend. */
int cv_cuda_device_count(void);

/* Waits until no request is queued or in flight, or `timeout_ms` passes
 * (< 0: no limit); true when drained. Requests submitted meanwhile count. */
bool cv_runtime_drain(cv_runtime_t *rt, double timeout_ms);

/* What a tenant is served with. Zero means the default. */
typedef struct cv_tenant_config {
    cv_precision_t precision;
    double slo_ms;       /* latency objective: a request's deadline is its
                            arrival plus this (or its shorter timeout); 0 = none */
    int64_t max_rows;    /* the largest request, in rows; 0 = the runtime's
                            max_wave_rows */
    double share;        /* weight in the fair share of each wave; 0 = 1 */
    int priority;        /* default priority of its requests (higher first) */
    int queue_bound;     /* requests queued at most; more are rejected; 0 = 1024 */
} cv_tenant_config_t;

/* What placing a model on one of several runtimes needs before loading it
 * (src/repo/placement.h): the family it will join and how many bytes its
 * weights take. */
typedef struct cv_model_probe {
    uint64_t family_hash; /* what cv_tenant_family_hash will read once it is
                             loaded on rt with this config */
    size_t weight_bytes;  /* its constants after load-time folding, in the
                             dtype they are stored in (FP32 weights of an
                             FP16 or BF16 tenant count twice: CUDA keeps a
                             half copy beside them, 1.5x, rounded up), as if
                             it shared none with the tenants loaded (a probe
                             does not look: an upper bound) */
} cv_model_probe_t;
/* Reads the ONNX file and runs the load-time passes on the host, as
 * cv_tenant_load_config would on rt (whose configuration, no_fusion for
 * one, changes the family), and loads nothing. Thread-safe; costs a parse
 * of the file. Errors as cv_tenant_load_config's for a bad file. */
cv_status cv_model_probe(cv_runtime_t *rt, const char *onnx_path, const cv_tenant_config_t *config,
                         cv_model_probe_t *out, cv_err_t *err);

/* Loads an ONNX file as a tenant named `name` (unique in the runtime).
 * Tenants whose graphs are identical up to weight values (and of one
 * precision) join one family and can share waves. The first tenant of a
 * family profiles its wave times (see cv_runtime_config.no_profile).
 * Thread-safe; the tenant serves requests once this returns. */
cv_status cv_tenant_load_config(cv_runtime_t *rt, const char *name, const char *onnx_path,
                                const cv_tenant_config_t *config, cv_tenant_t **out, cv_err_t *err);
/* cv_tenant_load_config with defaults but the precision. */
cv_status cv_tenant_load(cv_runtime_t *rt, const char *name, const char *onnx_path,
                         cv_precision_t precision, cv_tenant_t **out, cv_err_t *err);
/* Answers the tenant's queued requests (CV_STATUS_UNAVAILABLE, outcome
 * CV_OUTCOME_UNLOADED), waits for its waves in flight, and frees it.
 * Requests of it not yet submitted must be destroyed before or after, and
 * none submitted meanwhile. Not from a callback. */
void cv_tenant_unload(cv_runtime_t *rt, cv_tenant_t *tenant);
/* The loaded tenant named `name`, or NULL. */
cv_tenant_t *cv_tenant_find(cv_runtime_t *rt, const char *name);

const char *cv_tenant_name(const cv_tenant_t *tenant);
/* Structural hash of the tenant's family (equal for tenants of one family). */
uint64_t cv_tenant_family_hash(const cv_tenant_t *tenant);
int cv_tenant_num_inputs(const cv_tenant_t *tenant);
int cv_tenant_num_outputs(const cv_tenant_t *tenant);
/* Name, dtype and shape of input/output i; a batch dimension reads -1. */
const char *cv_tenant_input_name(const cv_tenant_t *tenant, int i);
const char *cv_tenant_output_name(const cv_tenant_t *tenant, int i);
cv_dtype_t cv_tenant_input_dtype(const cv_tenant_t *tenant, int i);
cv_dtype_t cv_tenant_output_dtype(const cv_tenant_t *tenant, int i);
cv_shape_t cv_tenant_input_shape(const cv_tenant_t *tenant, int i);
cv_shape_t cv_tenant_output_shape(const cv_tenant_t *tenant, int i);
/* A tenant's memory. Weight tensors that several tenants have (identical
 * after load-time folding and at one precision: a shared backbone) are
 * stored once, and each of their tenants is charged its part: the
 * tensor's bytes divided by the number of tenants that have it. So the
 * tenants' bytes add up to what the runtime holds. */
typedef struct cv_tenant_memory {
    size_t host_own;      /* its graph, tables, request buffers, and the weights
                             only it has (host copies: on a device backend only
                             those host code reads) */
    size_t host_shared;   /* its part of the weights it shares with others */
    size_t device_own;    /* device: its constants and the weights only it has */
    size_t device_shared; /* its part of the shared weights on the device */
    int weights;          /* distinct weight tensors it reads */
    int shared_weights;   /* of those, read by other tenants too */
    size_t shared_tensor_bytes; /* those shared tensors' whole bytes (device's on
                                   a device backend, host's on the CPU) */
    size_t loaded_host_bytes;   /* host bytes of the weight tensors its load
                                   stored (those no loaded tenant had) */
    size_t loaded_device_bytes; /* device bytes its load took: its own constants
                                   and the weight tensors no loaded tenant had
                                   (what placing it on a device costs) */
    double hash_ms;       /* hashing its weights and comparing them with the
                             stored ones at load (0 without sharing) */
} cv_tenant_memory_t;
void cv_tenant_memory(const cv_tenant_t *tenant, cv_tenant_memory_t *out);
/* Host bytes this tenant holds, its shared part included: host_own +
 * host_shared of cv_tenant_memory. */
size_t cv_tenant_bytes(const cv_tenant_t *tenant);
/* Device bytes on a device backend (0 on the CPU): device_own +
 * device_shared of cv_tenant_memory. */
size_t cv_tenant_device_bytes(const cv_tenant_t *tenant);
const cv_tenant_config_t *cv_tenant_config(const cv_tenant_t *tenant);

/* One tenant's part of a wave: its inputs (one tensor per model input, in
 * model order, host memory) and the outputs it receives. Outputs are
 * allocated by the call (cv_tensor_alloc) and freed by the caller. */
typedef struct cv_slice_io {
    cv_tenant_t *tenant;
    const cv_tensor_t *inputs;
    cv_tensor_t *outputs;
} cv_slice_io_t;

/* Runs one wave: all slices must be tenants of one family. Rows of every
 * slice are stacked along the batch axis and each step runs once for the
 * wave (weighted steps use each slice's own weights). A wave of one slice
 * is ordinary inference. */
cv_status cv_wave_run(cv_runtime_t *rt, cv_slice_io_t *slices, int nslices, cv_err_t *err);

/* Convenience: a wave of one slice. */
cv_status cv_infer(cv_runtime_t *rt, cv_tenant_t *tenant, const cv_tensor_t *inputs,
                   cv_tensor_t *outputs, cv_err_t *err);

/* What a step of a plan does, for the step profile. */
typedef enum cv_step_kind {
    CV_STEP_CONV_SPATIAL = 0, /* a convolution with a k x k (k > 1) kernel, not depthwise */
    CV_STEP_CONV_POINTWISE,   /* a 1x1 convolution */
    CV_STEP_CONV_DEPTHWISE,   /* a convolution with one group per channel */
    CV_STEP_GEMM,             /* Gemm, MatMul */
    CV_STEP_LAYOUT,           /* reshapes, copies, concatenation, slices, casts, padding */
    CV_STEP_ELEMENTWISE,      /* arithmetic and activations */
    CV_STEP_POOLING,
    CV_STEP_REDUCTION,        /* reductions, softmax, normalisation */
} cv_step_kind_t;
#define CV_STEP_KIND_COUNT (CV_STEP_REDUCTION + 1)
const char *cv_step_kind_name(cv_step_kind_t kind);

typedef struct cv_step_profile {
    cv_step_kind_t kind;
    const char *op;     /* ONNX op_type */
    char node[64];      /* the node's name (cut to fit), or its op and index */
    double ms;          /* device time (CUDA events; host time on the CPU) */
    double flops;       /* floating-point operations over the wave: 2 per
                           multiply-add of a Conv, Gemm or MatMul; 0 for
                           other steps */
} cv_step_profile_t;

/* The steps of the last wave cv_wave_run or cv_infer ran with step_profile
 * on: writes up to `max` into out and returns how many the wave had (0
 * when none was profiled). */
int cv_runtime_step_profile(cv_runtime_t *rt, cv_step_profile_t *out, int max);

/* ---- requests: the asynchronous API ---------------------------------------
 * A request is one inference call: a tenant, its inputs of n >= 1 rows, and
 * a deadline. The runtime hands out request buffers (pinned host memory on
 * CUDA): the caller writes each input once, submits, and reads the outputs
 * from the same request when it is answered. Every call here is
 * thread-safe; a request is used by one caller at a time. */

typedef struct cv_request cv_request_t;

/* How a request ended. */
typedef enum cv_outcome {
    CV_OUTCOME_PENDING = 0,       /* not answered yet */
    CV_OUTCOME_COMPLETED,         /* ran; outputs are there */
    CV_OUTCOME_FAILED,            /* its wave failed (status and message say why) */
    CV_OUTCOME_QUEUE_FULL,        /* rejected at submit: the tenant's queue is full */
    CV_OUTCOME_INFEASIBLE,        /* rejected at submit: its deadline cannot be met */
    CV_OUTCOME_EXPIRED,           /* its deadline passed in the queue; never ran */
    CV_OUTCOME_CANCELLED,         /* cancelled while queued; never ran */
    CV_OUTCOME_UNLOADED,          /* its tenant was unloaded while it was queued */
    CV_OUTCOME_SHUTDOWN,          /* the runtime stopped while it was queued */
} cv_outcome_t;
#define CV_OUTCOME_COUNT (CV_OUTCOME_SHUTDOWN + 1)
const char *cv_outcome_name(cv_outcome_t outcome);

/* A request of tenant t with `rows` rows: its inputs (the model's inputs,
 * dim 0 = rows, other dims as declared) are allocated and zeroed, ready to
 * be written through cv_request_input; its outputs are allocated too.
 * INVALID_ARGUMENT when rows < 1 or above the tenant's max_rows (or above 1
 * for a model without a batch axis), UNSUPPORTED for inputs with symbolic
 * dims beyond the batch axis, OUT_OF_MEMORY. */
cv_status cv_request_create(cv_runtime_t *rt, cv_tenant_t *t, int64_t rows, cv_request_t **out,
                            cv_err_t *err);
/* Frees (or recycles) a request that is not pending. */
void cv_request_destroy(cv_request_t *req);
cv_tenant_t *cv_request_tenant(const cv_request_t *req);
/* The runtime it was made by (the one to submit or cancel it on). */
cv_runtime_t *cv_request_runtime(const cv_request_t *req);
int64_t cv_request_rows(const cv_request_t *req);
/* Input i (model order), to be written before cv_submit. */
cv_tensor_t *cv_request_input(cv_request_t *req, int i);
/* Output i once the request completed. */
const cv_tensor_t *cv_request_output(const cv_request_t *req, int i);
/* A deadline shorter than the tenant's SLO: arrival + timeout_ms (<= 0: none). */
void cv_request_set_timeout(cv_request_t *req, double timeout_ms);
/* Orders requests within the tenant: higher first (default: the tenant's). */
void cv_request_set_priority(cv_request_t *req, int priority);
/* Lets cv_submit run the request's wave on the calling thread, on a CPU
 * device, when the wave starts at once on an idle lane and the latency
 * model predicts it within max_us (<= 0: never, the default): no hand-over
 * to the lane's worker and back, two thread wake-ups that cost more than
 * a small model's whole wave. Its `done` (and those of the wave's other
 * requests) is then called on this thread before cv_submit returns; a
 * `done` that submits again does not nest another such wave. For callers
 * that can afford to block for max_us, as an HTTP thread can for a small
 * bound. Ignored on CUDA, where the worker only waits for the GPU. */
void cv_request_set_run_here(cv_request_t *req, double max_us);

/* Called once per submitted request, from a runtime thread, when it is
 * answered (completed, failed, expired, cancelled, unloaded, shut down).
 * It may read the request and destroy it (then must not touch it again),
 * submit other requests, but must not unload tenants or destroy the runtime. */
typedef void (*cv_request_done_fn)(cv_request_t *req, void *user);

/* Submits a request. OK: the runtime owns it until `done` (may be NULL) is
 * called exactly once; cv_request_wait also tells when. Any other status:
 * rejected at once, `done` is never called and the request is the caller's
 * again: UNAVAILABLE with outcome QUEUE_FULL or INFEASIBLE (a deadline the
 * queue and the latency model say cannot be met), INVALID_ARGUMENT for a
 * request already pending or of another runtime. Fills err with one line. */
cv_status cv_submit(cv_runtime_t *rt, cv_request_t *req, cv_request_done_fn done, void *user,
                    cv_err_t *err);
/* Cancels a queued request: it is answered (UNAVAILABLE, CANCELLED) and
 * never runs. False when it is already in a wave or answered. */
bool cv_request_cancel(cv_runtime_t *rt, cv_request_t *req);
/* Blocks until the request is answered (returns at once when it is); then
 * as cv_request_status. Not for a request whose `done` destroys it. */
cv_status cv_request_wait(cv_request_t *req, cv_err_t *err);
/* The answer: OK when completed; otherwise the status, with the message in
 * err. PENDING requests read UNAVAILABLE ("not answered yet"). */
cv_status cv_request_status(const cv_request_t *req, cv_err_t *err);
cv_outcome_t cv_request_outcome(const cv_request_t *req);
/* True when it completed within its deadline (always, without one). */
bool cv_request_slo_met(const cv_request_t *req);

/* Where a request's time went, in milliseconds. */
typedef struct cv_request_timings {
    double queued_ms;   /* submitted -> chosen for a wave */
    double waved_ms;    /* chosen -> its wave launched (tables, inputs) */
    double computed_ms; /* launched -> its wave done, outputs delivered */
    double total_ms;    /* submitted -> answered */
} cv_request_timings_t;
cv_request_timings_t cv_request_timings(const cv_request_t *req);

/* ---- counters --------------------------------------------------------- */

#define CV_WAVE_HISTOGRAM 8 /* wave widths (tenants): 1, 2, 3-4, 5-8, 9-16, 17-32, 33-64, 65+ */

/* Counters of requests since load (a tenant) or since the family formed. */
typedef struct cv_request_stats {
    long submitted;          /* accepted by cv_submit */
    long outcomes[CV_OUTCOME_COUNT]; /* answered, by outcome (rejections at
                                        submit included, PENDING unused) */
    long fused;              /* completed in a wave of more than one tenant */
    long slo_met;            /* completed within their deadline */
    long waves;              /* waves that served them */
    long wave_widths[CV_WAVE_HISTOGRAM]; /* those waves by number of tenants */
    long queued;             /* now: requests waiting in the queue(s) */
    long in_flight;          /* now: requests in waves that run */
    double queued_ms_sum;    /* sums over completed requests */
    double computed_ms_sum;
    double total_ms_sum;
} cv_request_stats_t;

cv_status cv_tenant_stats(cv_runtime_t *rt, const cv_tenant_t *tenant, cv_request_stats_t *out);
/* The same counters for the tenant's whole family. */
cv_status cv_family_stats(cv_runtime_t *rt, const cv_tenant_t *tenant, cv_request_stats_t *out);

/* Counters of a runtime since it was created. */
typedef struct cv_runtime_stats {
    long waves;           /* waves run to completion (scheduled, cv_wave_run, cv_infer) */
    long fallback_steps;  /* steps a device backend ran on the host for want of a kernel */
    long graph_hits;      /* waves replayed from the CUDA-graph (super-kernel) cache */
    long graph_rebinds;   /* of those, with other tenants than the graph's last wave
                             (the tables it reads rewritten, nothing captured) */
    long graph_refreshes; /* cached wave shapes re-captured for other tenants (only
                             graphs that read a weight other than through tables) */
    long graph_misses;    /* wave shapes captured anew */
    /* The largest CUDA graph captured so far: its nodes, and of them
     * kernels (the host time of a graph's launch grows with them; 0 on the
     * CPU). */
    long graph_nodes_max, graph_kernel_nodes_max;
    double last_wave_device_ms; /* device time of the last wave (CUDA events), or 0 */
    double last_wave_flops; /* floating-point operations of the last cv_wave_run or
                               cv_infer wave (2 per multiply-add of its Conv, Gemm
                               and MatMul steps; scheduled waves not counted), or 0 */
    long stragglers;      /* scheduled waves slower than straggler_factor x predicted */
    long lanes;           /* execution lanes (stream + executor) made so far */
    long lanes_replaced;  /* lanes given a new stream for straggling (space) */
    /* Host time per scheduled wave, medians over the last 1024 (us): the
     * scheduler's decision (a poll that formed waves), a lane's launch of a
     * wave (inputs, tables, the graph or the steps, until it waits), and of
     * that launch the part that placed the wave's inputs (on CUDA: enqueued
     * their copies to the device) and the super-kernel cache's part (on
     * CUDA: finding the wave's graph, refreshing its tables for other
     * members, launching it; 0 on the CPU). */
    double form_us_median, launch_us_median, inputs_us_median, cache_us_median;
    /* Median host time of a rebind of the scheduled waves that had one
     * (us): a cached graph's tables pointed at other members; and of
     * launching a cached graph (cudaGraphLaunch, on every hit). Over the
     * last 1024 of each; 0 on the CPU. */
    double graph_rebind_us_median, graph_launch_us_median;
    /* Median host time of the cache's lookup of a wave (its shape, and
     * whether its members changed; us; 0 on the CPU). */
    double graph_lookup_us_median;
    /* Median host time, after a decision, of handing its waves to their
     * lanes (answering what expired, waking each lane's worker; us; not in
     * form_us_median). */
    double handoff_us_median;
    long queued;          /* now: requests waiting in its queues */
    long in_flight;       /* now: requests in waves that run */
    int tenants;          /* now: tenants loaded */
    /* Now: the stored weight tensors (each identical tensor once), how many
     * of them more than one tenant reads, their host and device bytes, and
     * the bytes that storing them once saves (each further tenant's copy). */
    long weight_tensors, shared_weight_tensors;
    size_t weight_host_bytes, weight_device_bytes, weight_saved_bytes;
} cv_runtime_stats_t;

cv_status cv_runtime_stats(cv_runtime_t *rt, cv_runtime_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* CARAVEL_H */
