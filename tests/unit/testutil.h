/*
 * testutil.h: the base of the test kit every cmocka unit test links
 * (tests/CMakeLists.txt compiles testutil.c and the kit's other files into
 * each test): scratch folders, the shared data folder, seeded tensors and
 * the comparisons tests make of tensors.
 *
 * The rest of the kit builds on this file:
 *   opcase.h    one operator run by hand: inference, then its CPU kernel
 *   graphs.h    IR graphs built in C, plans, waves on a backend
 *   nodecase.h  a one-node graph with host data, for backend differentials
 *   onnxmodel.h ONNX models built in C and written to files
 *
 * Every helper of the kit is named cv_test_*; helpers that can fail fail the
 * running cmocka test (fail_msg) with what went wrong rather than return a
 * status, so that tests read as a list of steps.
 */
#ifndef CV_TESTUTIL_H
#define CV_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "caravel.h"
#include "ir/graph.h"

/* A shape from its dims: CV_TEST_SHAPE(2, 3) is [2,3]. */
#define CV_TEST_SHAPE(...)                                                               \
    ((cv_shape_t){.ndim = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),     \
                  .dims = {__VA_ARGS__}})
/* The shape of a scalar (rank 0, one element). */
#define CV_TEST_SCALAR ((cv_shape_t){.ndim = 0})

/* A scratch folder for this test binary (created on first use). */
const char *cv_test_tmpdir(void);
/* <scratch folder>/<file>; the string stays valid for the next 7 calls. */
const char *cv_test_tmp_path(const char *file);
/* Writes bytes to path (fails the test when it cannot). */
void cv_test_write_file(const char *path, const void *bytes, size_t len);
/* The shared data folder: $CARAVEL_SHARED_DIR when set (the GPU machine
 * gets a copy elsewhere), else the one beside the checkout. */
const char *cv_test_shared_dir(void);
/* True when the shared data folder holds models/. */
int cv_test_have_shared(void);
/* The shared folder's models/<model>/model.onnx (valid for the next 7 calls). */
const char *cv_test_model_path(const char *model);
/* Skips the running test, saying so, when that model is absent. */
void cv_test_require_model(const char *model);
/* A runtime on `device` with `threads` CPU threads; fails the test when it
 * cannot be made. */
cv_runtime_t *cv_test_runtime_create(cv_device_t device, int threads);
/* Loads that model into rt as a tenant called `name`; fails the test when
 * it cannot. */
cv_tenant_t *cv_test_load_model(cv_runtime_t *rt, const char *name, const char *model, cv_precision_t precision);
/* Reads models/<model>/test_data_set_<set>/<file> of the shared folder;
 * fails the test when it cannot. The caller frees it (cv_tensor_free). */
cv_tensor_t cv_test_read_model_pb(const char *model, int set, const char *file);

/* Fills an FP32 tensor with deterministic pseudo-random values in [-1, 1). */
void cv_test_fill_random(cv_tensor_t *t, uint64_t seed);
/* A new host tensor (cv_tensor_new; free with cv_tensor_destroy) holding
 * `values` (NULL: zeros). */
cv_tensor_t *cv_test_tensor(cv_dtype_t dtype, cv_shape_t shape, const void *values);
/* Seeded host tensors for cases (cv_tensor_new; cv_tensor_destroy frees
 * them). FP32 uniform in [offset - scale, offset + scale): */
cv_tensor_t *cv_test_random(cv_shape_t shape, uint64_t seed, float scale, float offset);
/* ... in [-1, 1): */
cv_tensor_t *cv_test_uniform(cv_shape_t shape, uint64_t seed);
/* ... in [0.1, 2.1): for Sqrt, Log, Pow bases, divisors, variances: */
cv_tensor_t *cv_test_positive(cv_shape_t shape, uint64_t seed);
/* An FP32 scalar. */
cv_tensor_t *cv_test_scalar_f32(float v);
/* INT64 x shape holding v. */
cv_tensor_t *cv_test_i64s(cv_shape_t shape, const int64_t *v);
/* FP32 from a few levels (integers in [-2, 2]), so that Equal finds equal pairs. */
cv_tensor_t *cv_test_levels(cv_shape_t shape, uint64_t seed);
/* BOOL, about half true. */
cv_tensor_t *cv_test_bools(cv_shape_t shape, uint64_t seed);
/* An integer dtype, values in [-range, range]. */
cv_tensor_t *cv_test_ints(cv_dtype_t dtype, cv_shape_t shape, uint64_t seed, int64_t range);

/* A copy of rows [row0, row0 + rows) of a tensor stacked along dim 0 (any
 * dtype); the caller frees it with cv_tensor_free. */
cv_tensor_t cv_test_rows_copy(const cv_tensor_t *t, int64_t row0, int64_t rows);

/* Max |a-b| over two FP32 tensors of equal shape. */
double cv_test_max_abs_diff(const cv_tensor_t *a, const cv_tensor_t *b);
/* max |a - ref| / max |ref| over two FP32 tensors, which must have one
 * shape (1 stands for max |ref| when ref is all zeros). */
double cv_test_rel_diff(const cv_tensor_t *a, const cv_tensor_t *ref);
/* `got` against a reference computed another way: same dtype and shape;
 * floats (FP32, FP16, FP64) within abs_tol + rel * |ref| (NaN matches NaN,
 * infinities must be equal; rel = abs_tol = 0 asks for equality); every
 * other dtype bit for bit. Fails the test naming `what`, the element and
 * both values. */
void cv_test_compare(const char *what, const cv_tensor_t *got, const cv_tensor_t *ref, double rel,
                     double abs_tol);
/* The same check without failing: false, with the first difference in
 * why (as cv_test_compare words it, after `what`), when they disagree. */
bool cv_test_agree(const char *what, const cv_tensor_t *got, const cv_tensor_t *ref, double rel, double abs_tol,
                   char *why, size_t why_len);

/* Whether this build has the CUDA backend and a GPU it can use; when not,
 * why holds the reason (for a test's "skipped: ..." line). */
bool cv_test_cuda_available(cv_err_t *why);
/* For a GPU test's main: 0 when the CUDA backend can run; otherwise prints
 * "skipped: <why>" and returns 77, the exit status CTest reads as skipped. */
int cv_test_gpu_skip(void);

/* The demo model repository (tools/make_demo_repo.py: cnn-a/b/c, one
 * family of small CNNs, and mlp-a/b, one of MLPs), from $CARAVEL_DEMO_REPO
 * when set, else made once into this test's scratch folder with the
 * project's Python. NULL when that Python lacks onnx and onnxruntime (the
 * caller skips, and this has printed why). */
const char *cv_test_demo_repo(void);

#endif
