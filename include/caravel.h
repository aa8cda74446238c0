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

typedef struct cv_runtime_config {
    cv_device_t device;
    int threads; /* CPU threads for kernels; 0 = all cores */
} cv_runtime_config_t;

cv_status cv_runtime_create(const cv_runtime_config_t *config, cv_runtime_t **out,
                            cv_err_t *err);
void cv_runtime_destroy(cv_runtime_t *rt);

/* Loads an ONNX file as a tenant named `name`. Tenants whose graphs are
 * identical up to weight values join one family and can share waves. */
cv_status cv_tenant_load(cv_runtime_t *rt, const char *name, const char *onnx_path,
                         cv_precision_t precision, cv_tenant_t **out, cv_err_t *err);
void cv_tenant_unload(cv_runtime_t *rt, cv_tenant_t *tenant);

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
/* Host bytes this tenant holds (its graph and weights), for accounting. */
size_t cv_tenant_bytes(const cv_tenant_t *tenant);
/* Device bytes its weights take on a device backend (0 on the CPU). */
size_t cv_tenant_device_bytes(const cv_tenant_t *tenant);

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

/* Counters of a runtime since it was created. */
typedef struct cv_runtime_stats {
    long waves;           /* waves run to completion (cv_wave_run, cv_infer) */
    long fallback_steps;  /* steps a device backend ran on the host for want of a kernel */
    long graph_hits;      /* waves replayed from the CUDA-graph (super-kernel) cache */
    long graph_refreshes; /* cached wave shapes re-captured for other tenants */
    long graph_misses;    /* wave shapes captured anew */
    double last_wave_device_ms; /* device time of the last wave (CUDA events), or 0 */
} cv_runtime_stats_t;

cv_status cv_runtime_stats(cv_runtime_t *rt, cv_runtime_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* CARAVEL_H */
