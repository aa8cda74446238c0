/*
 * opcase.h: one operator run by hand, the way the executor runs it: a node
 * with attributes and host input tensors, shape inference
 * (cv_op_def(op)->infer) first, then the op's CPU kernel
 * (cv_op_def(op)->cpu) on outputs of the inferred shapes. The tests of
 * inference and of the CPU kernels (test_cpu_*.c, test_threads.c) are made
 * of these cases.
 *
 * A case lives on the caller's stack. It owns its inputs and outputs
 * (cv_test_case_free frees them); attribute names, strings, int arrays and
 * tensors are borrowed and must outlive the case (literals, caller arrays).
 * Not here: graphs, plans and backends (graphs.h, nodecase.h).
 */
#ifndef CV_TEST_OPCASE_H
#define CV_TEST_OPCASE_H

#include "testutil.h"

#include "backend/cpu/cpu.h"

#define CV_TEST_MAX_IO 8
#define CV_TEST_MAX_ATTRS 16

typedef struct cv_test_case {
    cv_node_t node;
    cv_attr_t attrs[CV_TEST_MAX_ATTRS];
    cv_tensor_t in[CV_TEST_MAX_IO];
    bool present[CV_TEST_MAX_IO]; /* false: an omitted optional input */
    bool runtime[CV_TEST_MAX_IO]; /* not a constant: inference sees no data */
    int nin;
    cv_tensor_t out[CV_TEST_MAX_IO];
    bool out_present[CV_TEST_MAX_IO]; /* false: an omitted optional output */
    int nout;
    cv_cpu_ctx_t cpu; /* one thread, no pool */
    cv_err_t err;     /* the message of the last run */
} cv_test_case_t;

/* An empty case of `op` at opset 18 with `nout` outputs. */
void cv_test_case_init(cv_test_case_t *c, cv_op_t op, int nout);
void cv_test_case_free(cv_test_case_t *c);

/* ---- attributes (appended to the node, borrowed) ------------------------ */
void cv_test_attr_int(cv_test_case_t *c, const char *name, int64_t v);
void cv_test_attr_float(cv_test_case_t *c, const char *name, float v);
void cv_test_attr_ints(cv_test_case_t *c, const char *name, const int64_t *v, int n);
void cv_test_attr_floats(cv_test_case_t *c, const char *name, const float *v, int n);
void cv_test_attr_string(cv_test_case_t *c, const char *name, const char *s);
void cv_test_attr_tensor(cv_test_case_t *c, const char *name, cv_tensor_t *t);

/* ---- inputs (appended in order; each returns the case's tensor) --------- */
/* dtype x dims, holding `data` (NULL: zeros). */
cv_tensor_t *cv_test_add_input(cv_test_case_t *c, cv_dtype_t dtype, int ndim, const int64_t *dims,
                               const void *data);
/* dtype x dims of pseudo-random values in [-1, 1) from `seed` (FP32 and
 * FP64; other dtypes are zeroed). */
cv_tensor_t *cv_test_add_random(cv_test_case_t *c, cv_dtype_t dtype, int ndim, const int64_t *dims,
                                uint64_t seed);
/* FP32 x dims holding v (NULL: zeros). */
cv_tensor_t *cv_test_add_f32(cv_test_case_t *c, int ndim, const int64_t *dims, const float *v);
/* A 1-D INT64 tensor of n values. */
cv_tensor_t *cv_test_add_i64(cv_test_case_t *c, int n, const int64_t *v);
/* FP32 x dims holding 0, 1, 2, ... */
cv_tensor_t *cv_test_add_iota(cv_test_case_t *c, int ndim, const int64_t *dims);
/* An omitted optional input. */
void cv_test_add_absent(cv_test_case_t *c);

/* ---- running --------------------------------------------------------------- */
/* Shape inference alone: fills the outputs' dtype and shape (no data). */
cv_status cv_test_run_infer(cv_test_case_t *c);
/* The CPU kernel alone, on outputs the caller allocated. */
cv_status cv_test_run_kernel(cv_test_case_t *c);
/* Inference, then outputs allocated (floats filled with NaN, so that an
 * element the kernel forgets shows), then the kernel. Returns the first
 * failure's status; c->err holds its message. */
cv_status cv_test_run(cv_test_case_t *c);
/* cv_test_run, failing the test with the message unless it succeeds. */
void cv_test_run_ok(cv_test_case_t *c);
/* cv_test_run must fail with `status` and a message containing `msg`. */
void cv_test_expect_error(cv_test_case_t *c, cv_status status, const char *msg);
/* The same for inference alone (the kernel never runs). */
void cv_test_expect_infer_error(cv_test_case_t *c, cv_status status, const char *msg);

/* Runs `op` (opset, attrs) once on `ins` into one output: inference, then
 * `out` is allocated (the caller frees it with cv_tensor_free, also after
 * a failed kernel) and the kernel runs. For tests that keep their tensors
 * outside a case. */
cv_status cv_test_op_run(cv_op_t op, int opset, const cv_attr_t *attrs, int nattrs,
                         const cv_tensor_t *const *ins, int nin, cv_tensor_t *out, cv_err_t *err);

/* ---- checking outputs ------------------------------------------------------- */
void cv_test_expect_shape(const cv_tensor_t *t, int ndim, const int64_t *dims);
/* FP32 values within 1e-5 (NaN wants NaN). */
void cv_test_expect_f32(const cv_tensor_t *t, const float *want, int64_t n);
/* Any integer (or bool) dtype, read as int64. */
void cv_test_expect_i64(const cv_tensor_t *t, const int64_t *want, int64_t n);
/* FP32 or FP64 against a double reference within rel * max(1, |want|). */
void cv_test_expect_close(const cv_tensor_t *got, const double *want, int64_t n, double rel);

#endif
