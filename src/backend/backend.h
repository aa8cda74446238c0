/*
 * backend.h: the interface every backend (CPU, CUDA) fills in: memory, the
 * tenants' constants on the device, and running one step of a wave.
 *
 * A backend is a struct of function pointers (cv_backend_i) plus the
 * backend's own context. The executor (src/exec) is the only caller; it
 * walks a plan and hands each step to step_run with the wave's tensors
 * already resolved to device pointers.
 */
#ifndef CV_BACKEND_H
#define CV_BACKEND_H

#include "plan/plan.h"

typedef struct cv_backend cv_backend_t;

/* One slice of a wave as a backend sees it: a run of rows and the tenant's
 * constants (device pointers, indexed by value). */
typedef struct cv_wave_slice {
    int64_t row0, rows;        /* rows [row0, row0 + rows) of the wave */
    void *const *constants;    /* per graph value: the tenant's data, or NULL */
    /* What the backend's tenant_identity said of these constants at upload
     * (serial 0: not given, and the backend reads it from the constants):
     * a device backend's super-kernel cache asks it of every slice on
     * every wave, and the slices are in the lane's cache already, where
     * each tenant's table is a line of its own that the requests' inputs
     * have pushed out since its last wave. */
    uint64_t serial;
    bool may_share;
} cv_wave_slice_t;

/* One step to run: the node, its inputs and outputs for the whole wave
 * (device data), and the slices, for steps that read weights.
 *
 * For an unweighted step, inputs[i] holds the wave's tensor (a constant
 * that is no weight is identical for the whole family: on a device backend
 * the executor's copy, on the host slice 0's tenant's). For a weighted
 * step, inputs[i] for a weight is slice 0's; the backend takes each slice's
 * own from slices[s].constants[node->inputs[i]]. `batched[i]` says whether
 * input i is stacked along dim 0 (so a slice is a run of its rows);
 * `out_batched[o]` the same for outputs. */
typedef struct cv_step_run {
    const cv_graph_t *graph;
    const cv_plan_t *plan;
    int step;
    const cv_node_t *node;
    const cv_tensor_t *const *inputs;
    int ninputs;
    cv_tensor_t *const *outputs;
    int noutputs;
    const bool *batched;
    const bool *out_batched;
    const cv_wave_slice_t *slices;
    int nslices;
    cv_precision_t precision; /* of every tenant of the wave (one family) */
} cv_step_run_t;

/* Counters a backend keeps (zero where they do not apply). */
typedef struct cv_backend_stats {
    long fallback_steps;   /* steps run on the host for want of a device kernel */
    long graph_hits;       /* waves replayed from the super-kernel cache, whatever their tenants */
    long graph_rebinds;    /* of those, with other tenants than the graph's last launch:
                              only the tables it reads rewritten */
    long graph_refreshes;  /* same wave shape, other tenants, a graph bound to its
                              tenants: re-captured and updated */
    long graph_misses;     /* wave shapes captured and instantiated anew */
    double last_wave_device_ms; /* device time of the last wave (event-timed), or 0 */
    double graph_rebind_us_total; /* host time of all rebinds (tables rewritten and queued) */
    double graph_launch_us_total; /* host time of the graph launches of all hits (cudaGraphLaunch) */
    /* The last wave's: its rebind's and its graph launch's host time (us);
     * 0 where it had none. Samples for medians: a mean is swayed by a
     * few first launches (lazy module loading, a graph's first upload). */
    double last_wave_rebind_us, last_wave_graph_launch_us;
    double last_wave_lookup_us; /* the last wave's cache lookup (its shape and members) */
    /* The largest graph captured: its nodes, and of them kernels (a graph
     * launch's host time grows with them). */
    long graph_nodes_max, graph_kernel_nodes_max;
} cv_backend_stats_t;

/* One host <-> device copy of a batch (copy_many). */
typedef struct cv_copy {
    void *dst;
    const void *src;
    size_t bytes;
} cv_copy_t;

/* What a wave of the super-kernel cache was (wave_begin). */
typedef enum cv_wave_kind {
    CV_WAVE_STEPS,    /* steps launched one by one, as every wave of its shape is */
    CV_WAVE_REPLAYED, /* a cached graph replayed */
    CV_WAVE_FIRST,    /* steps, paying its shape's one-off costs (sizing, capture) */
} cv_wave_kind_t;

typedef struct cv_backend_i {
    const char *name;
    /* True when buffers are host memory: the executor then hands the
     * caller's tensors to steps directly instead of uploading them. */
    bool host_memory;
    /* Device memory. alloc returns CV_STATUS_OUT_OF_MEMORY on failure. */
    cv_status (*alloc)(cv_backend_t *b, size_t bytes, void **out, cv_err_t *err);
    void (*free)(cv_backend_t *b, void *ptr);
    /* Optional: host memory that uploads and downloads read and write at
     * full speed (pinned on CUDA), for request buffers; NULL: cv_malloc. */
    cv_status (*host_alloc)(cv_backend_t *b, size_t bytes, void **out, cv_err_t *err);
    void (*host_free)(cv_backend_t *b, void *ptr);
    /* Host <-> device copies (the CPU backend: memcpy). They may return
     * before the copy is done: the host memory must stay valid, and a
     * download's result is there, only after `synchronize`. */
    cv_status (*upload)(cv_backend_t *b, void *dst, const void *src, size_t bytes, cv_err_t *err);
    cv_status (*download)(cv_backend_t *b, void *dst, const void *src, size_t bytes, cv_err_t *err);
    /* Optional: n uploads (to_device) or downloads as one operation, each
     * with upload's or download's semantics (a wave's slices' inputs, or
     * outputs); NULL: the executor makes them one by one. */
    cv_status (*copy_many)(cv_backend_t *b, const cv_copy_t *copies, int n, bool to_device, cv_err_t *err);
    /* Makes the device copy of every constant of g; constants[v] receives
     * the device pointer of value v (NULL for non-constants). Weights are
     * converted to `precision` where it is FP16 or BF16. The CPU backend
     * points at the host data. `stored` (NULL: none) holds 2 * nvalues
     * entries: where the weight store keeps weight v already ([v], and
     * [nvalues + v] its half copy, or NULL), shared with other tenants; the
     * backend points at those and copies only the other constants (whose
     * host data it then reads: a stored weight's may be gone). Freed by
     * tenant_release, which leaves the stored copies alone. */
    cv_status (*tenant_upload)(cv_backend_t *b, const cv_graph_t *g, cv_precision_t precision,
                               void *const *stored, void ***constants, cv_err_t *err);
    void (*tenant_release)(cv_backend_t *b, const cv_graph_t *g, void **constants);
    /* Optional (NULL on host-memory backends, whose copy of a weight is the
     * host data): the device copy of one weight tensor of the weight store,
     * which tenants that have it share: its bytes and, where `half` is
     * FP16 or BF16, a copy converted to it (what GEMM-like steps read).
     * *device and *device_half (NULL without) receive where they are,
     * *block and *bytes what weight_release frees; the bytes are charged to
     * the calling thread's account (cv_account_charge_device).
     * `half_only` (cv_backend_half_only_weights) allows the backend to keep
     * the half copy alone; where it does, *device == *device_half.
     * OUT_OF_MEMORY when the device is full. */
    cv_status (*weight_upload)(cv_backend_t *b, const cv_tensor_t *t, cv_precision_t half, bool half_only,
                               void **block, void **device, void **device_half, size_t *bytes, cv_err_t *err);
    void (*weight_release)(cv_backend_t *b, void *block, size_t bytes);
    /* Runs one step of a wave. */
    cv_status (*step_run)(cv_backend_t *b, const cv_step_run_t *run, cv_err_t *err);
    /* Waits for all launched work. Optional: NULL when work is synchronous. */
    cv_status (*synchronize)(cv_backend_t *b, cv_err_t *err);
    /* Optional: the super-kernel cache. wave_begin is called once the wave's
     * inputs are in place in `buffer` (the executor's device buffer, which
     * holds the arena, inputs, plan constants and structural constants),
     * with everything that determines the wave's launches. When it replays a
     * cached graph of this wave it sets *kind to CV_WAVE_REPLAYED and the
     * executor skips the steps; otherwise the executor runs the steps and
     * then calls wave_end with their status (the backend may capture in
     * between), and *kind says whether this wave pays its shape's one-off
     * costs (CV_WAVE_FIRST: the eager run that sizes a capture, the capture)
     * or is what every wave of it costs (CV_WAVE_STEPS). */
    cv_status (*wave_begin)(cv_backend_t *b, const cv_plan_t *plan, const cv_wave_slice_t *slices,
                            int nslices, cv_precision_t precision, const void *buffer,
                            cv_wave_kind_t *kind, cv_err_t *err);
    cv_status (*wave_end)(cv_backend_t *b, cv_status steps, cv_err_t *err);
    /* Optional: memory or a plan (any pointer the backend may have kept as
     * a key) is about to be freed: drop what the backend holds with it (the
     * super-kernel cache's graphs and their regions). Not while a wave of
     * this backend is in progress. */
    void (*forget)(cv_backend_t *b, const void *ptr);
    /* Optional: makes the calling thread use this backend's device (CUDA
     * keeps a current device per thread, and waves run on several). */
    cv_status (*bind)(cv_backend_t *b, cv_err_t *err);
    /* Optional: the step profile. step_mark(b, k) marks the device's
     * progress on the wave's work (k = 0 before the first step, k = s + 1
     * after step s), asynchronously where the device is; step_times, once
     * the backend has synchronised, writes the time between marks k and
     * k + 1 into ms[k] for k < n. NULL: the executor times steps on the host
     * (correct for backends whose steps run synchronously). */
    cv_status (*step_mark)(cv_backend_t *b, int k, cv_err_t *err);
    cv_status (*step_times)(cv_backend_t *b, double *ms, int n, cv_err_t *err);
    /* Optional: counters. */
    void (*stats)(cv_backend_t *b, cv_backend_stats_t *out);
    /* Optional: the device's name, UUID and memory now (device, index,
     * name, uuid, free_bytes, total_bytes of *out); NULL: a host backend
     * (the runtime says "cpu", without memory of its own). */
    cv_status (*device_info)(cv_backend_t *b, cv_device_info_t *out, cv_err_t *err);
    void (*destroy)(cv_backend_t *b);
    /* Optional (last: backends that leave it out end their initializer
     * before it): whether FP16/BF16 tenants keep only the half copy of the
     * weights that allow it (cv_backend_half_only_weights); NULL: never. */
    bool (*half_only_weights)(cv_backend_t *b);
    /* Optional (after half_only_weights, for the same reason): what a
     * wave's slice may carry of a tenant's uploaded constants
     * (cv_wave_slice_t.serial, never 0 and never reused in the process,
     * and may_share: whether any constant is the weight store's); NULL:
     * the backend needs neither. */
    void (*tenant_identity)(cv_backend_t *b, const cv_graph_t *g, void *const *constants, uint64_t *serial,
                            bool *may_share);
} cv_backend_i;

struct cv_backend {
    const cv_backend_i *iface;
    void *context;
};

/* The weights a device keeps a half copy of for an FP16 or BF16 tenant:
 * FP32 constants that a GEMM-like step (Conv, Gemm, MatMul) reads as its
 * second input; marks them in needs_half (nvalues entries). */
void cv_backend_half_weights(const cv_graph_t *g, bool *needs_half);
/* Converts n FP32 values to FP16 or BF16 (`precision`; round to nearest
 * even): a weight's half copy as a device keeps it. */
void cv_backend_to_half(const float *f, int64_t n, cv_precision_t precision, uint16_t *out);
/* The same one value at a time, and whether cv_backend_to_half converts
 * FP16 eight at a time with the CPU's F16C instructions (x86-64 with AVX
 * and F16C): the reference and the switch its test needs. */
void cv_backend_to_half_scalar(const float *f, int64_t n, cv_precision_t precision, uint16_t *out);
bool cv_backend_to_half_vectorized(void);
/* Of those, the ones whose FP32 copy no device path reads for such a
 * tenant, so that a device may keep the half copy only (issue 9, item 7):
 * every reader is a Conv of one group (a grouped or depthwise Conv reads
 * FP32), a Gemm, or a MatMul whose B has at most 2 dims (a batched B is
 * converted from FP32), always as input 1; and the value is no graph
 * output. What the host reads (cv_graph_host_read_weights) the caller
 * leaves out itself. Marks half_only (nvalues entries). */
void cv_backend_half_only_weights(const cv_graph_t *g, bool *half_only);
/* The bytes of g's constants on a device for a tenant of `precision`,
 * without alignment: every constant's own bytes, plus a half copy of each
 * weight cv_backend_half_weights marks where precision is FP16 or BF16,
 * less the FP32 copy of those a device may keep in half alone where
 * `half_only` (cv_backend_half_only_weights, less what the host reads).
 * What the CUDA backend's tenant_upload allocates, for estimates made
 * before a load (cv_model_probe). OUT_OF_MEMORY is its only failure. */
cv_status cv_backend_constants_bytes(const cv_graph_t *g, cv_precision_t precision, bool half_only, size_t *bytes);

/* ---- helpers for running a weighted step one slice at a time ---------- */

/* Rows [row0, row0 + rows) of a tensor stacked along dim 0 of a wave of
 * `total` rows (dim 0 holds total * k entries; the view holds rows * k). */
cv_tensor_t cv_row_view(const cv_tensor_t *t, int64_t row0, int64_t rows, int64_t total);
/* The wave's rows: the plan's, or the slices' extent when there is no plan. */
int64_t cv_step_total_rows(const cv_step_run_t *run);
/* Room for the views of one step's slices, sized for the step's arity (a
 * node may have any number of inputs and outputs: Concat of 49 tensors,
 * Split into 20). */
typedef struct cv_step_views {
    cv_tensor_t *in_views, *out_views;
    const cv_tensor_t **in_ptrs;
    cv_tensor_t **out_ptrs;
} cv_step_views_t;

/* Allocates views for `run`'s arity; OUT_OF_MEMORY with a message when the
 * allocation fails. Freed by cv_step_views_free (also after a failure). */
cv_status cv_step_views_init(cv_step_views_t *v, const cv_step_run_t *run, cv_err_t *err);
void cv_step_views_free(cv_step_views_t *v);
/* The step as slice s alone sees it: v->in_ptrs/out_ptrs point at the
 * slice's rows of every batched input and output and at its tenant's
 * weights (v->in_views/out_views hold the views). */
void cv_step_slice_views(const cv_step_run_t *run, int s, cv_step_views_t *v);

/* Shared layers (DESIGN.md): tenants that have a weight tensor in common
 * hold one copy of it (the runtime's weight store), so slices that read
 * the same weights read them at the same address. Whether slices a and b
 * read every weight input of the step at one address. */
bool cv_step_slices_share(const cv_step_run_t *run, int a, int b);
/* The end of the run of slices from s0 that run as one: each shares s0's
 * weights (cv_step_slices_share) and its rows follow the previous one's.
 * For distinct tenants that is s0 + 1, found with one comparison. */
int cv_step_shared_run(const cv_step_run_t *run, int s0);
/* The step as slices [s0, s1) see it as one (cv_step_shared_run): their
 * rows, s0's weights; as cv_step_slice_views otherwise. */
void cv_step_run_views(const cv_step_run_t *run, int s0, int s1, cv_step_views_t *v);

/* The CPU backend: kernels of src/backend/cpu, GEMM through OpenBLAS. */
cv_status cv_backend_cpu_create(int threads, cv_backend_t **out, cv_err_t *err);
/* The CPU backend's kernel context (for constant folding at load). */
cv_cpu_ctx_t *cv_backend_cpu_ctx(cv_backend_t *b);

#ifdef CARAVEL_WITH_CUDA
/* The CUDA backend on GPU `device` (src/backend/cuda). UNAVAILABLE with a
 * message when there is no usable GPU. */
cv_status cv_backend_cuda_create(int device, cv_backend_t **out, cv_err_t *err);
/* GPUs the driver lists (cudaGetDeviceCount); 0 when it lists none or fails. */
int cv_backend_cuda_device_count(void);
#endif

#endif /* CV_BACKEND_H */
