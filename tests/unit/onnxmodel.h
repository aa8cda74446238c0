/*
 * onnxmodel.h: ONNX models built in C with the structs protobuf-c
 * generates from onnx.proto, packed and written to a test's scratch folder,
 * so that every model a test loads (valid, canonicalised, malformed) is
 * explicit and needs no data files. test_onnx_loader.c and
 * test_cli_errors.c build their models here.
 *
 * Everything the builders make (structs, strings, arrays, packed bytes)
 * comes from an arena of C-library allocations, not cv_malloc, so that
 * cv_alloc_live_bytes() counts only what the library under test holds;
 * cv_test_onnx_teardown frees the arena (use it as a cmocka teardown).
 * Repeated fields have room for CV_TEST_ONNX_CAP entries; tests may edit
 * the structs directly between building and writing.
 */
#ifndef CV_TEST_ONNXMODEL_H
#define CV_TEST_ONNXMODEL_H

#include "testutil.h"

#include "onnx.pb-c.h"

#define CV_TEST_ONNX_CAP 32

/* A NULL-terminated list of names, for cv_test_onnx_node. */
#define CV_TEST_NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
/* A dims array in place. */
#define CV_TEST_DIMS(...) ((const int64_t[]){__VA_ARGS__})

/* ---- the arena ---------------------------------------------------------------- */
/* Zeroed bytes that live until the next cv_test_onnx_teardown. */
void *cv_test_onnx_alloc(size_t bytes);
char *cv_test_onnx_str(const char *s);
/* Frees the arena; a cmocka setup/teardown (returns 0). */
int cv_test_onnx_teardown(void **state);

/* ---- models ------------------------------------------------------------------------ */
/* An empty model: IR version 8, the default domain at `opset`, a graph
 * named "test". */
Onnx__ModelProto *cv_test_onnx_model(int64_t opset);
/* A tensor type; dims < 0 become the symbolic dim "N". */
Onnx__ValueInfoProto *cv_test_onnx_value_info(const char *name, int32_t elem, int ndim, const int64_t *dims);
void cv_test_onnx_input(Onnx__ModelProto *m, const char *name, int32_t elem, int ndim, const int64_t *dims);
void cv_test_onnx_output(Onnx__ModelProto *m, const char *name, int32_t elem, int ndim, const int64_t *dims);
/* inputs and outputs: CV_TEST_NAMES(...) lists ("" = omitted). */
Onnx__NodeProto *cv_test_onnx_node(Onnx__ModelProto *m, const char *op, const char *name,
                                   const char *const *inputs, const char *const *outputs);
Onnx__AttributeProto *cv_test_onnx_attr(Onnx__NodeProto *n, const char *name,
                                        Onnx__AttributeProto__AttributeType type);
void cv_test_onnx_attr_ints(Onnx__NodeProto *n, const char *name, const int64_t *v, size_t count);
void cv_test_onnx_attr_int(Onnx__NodeProto *n, const char *name, int64_t v);
void cv_test_onnx_attr_float(Onnx__NodeProto *n, const char *name, float v);

/* ---- tensors ------------------------------------------------------------------------ */
/* A TensorProto of dtype x dims with no data yet. */
Onnx__TensorProto *cv_test_onnx_tensor(const char *name, int32_t dtype, int ndim, const int64_t *dims);
void cv_test_onnx_tensor_raw(Onnx__TensorProto *t, const void *bytes, size_t len);
/* An FP32 tensor of `count` values 0.5 * (i + 1) - 2, in raw_data or float_data. */
Onnx__TensorProto *cv_test_onnx_tensor_f32(const char *name, int ndim, const int64_t *dims, size_t count,
                                           bool raw);
Onnx__TensorProto *cv_test_onnx_tensor_i64(const char *name, int ndim, const int64_t *dims,
                                           const int64_t *vals, size_t count);
void cv_test_onnx_initializer(Onnx__ModelProto *m, Onnx__TensorProto *t);

/* ---- files ------------------------------------------------------------------------------ */
/* The model's bytes (in the arena). */
uint8_t *cv_test_onnx_pack(const Onnx__ModelProto *m, size_t *len);
/* Writes the model to `file` in the scratch folder; returns the path (valid
 * for the next 7 calls of cv_test_tmp_path). */
const char *cv_test_onnx_write(const Onnx__ModelProto *m, const char *file);

#endif
