/*
 * test_onnx_loader.c: the ONNX loader and the TensorProto files.
 *
 * Models are built here, in C, with the test kit's ONNX builders
 * (onnxmodel.h) and written to this test's scratch folder, so every case
 * (valid, canonicalised, malformed) is explicit and needs no data.
 * Each refusal checks the status and that the message names what is at
 * fault. An out-of-memory loop fails the Nth allocation for N = 1, 2, ...
 * and checks that every attempt fails cleanly and leaks nothing. Opset 6's
 * broadcasting rewrites are checked both on the graph and on the numbers
 * the rewritten node computes. The last test loads the real models of
 * ../shared/models when they are there.
 *
 * The builders allocate with the C library (not cv_malloc), from an arena
 * freed after each test (cv_test_onnx_teardown), so that
 * cv_alloc_live_bytes() counts only what the loader holds.
 */
#include "onnxmodel.h"

#include "backend/cpu/cpu.h"
#include "ir/passes.h"
#include "onnx/onnx_loader.h"

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- models ----------------------------------------------------------------- */

/* x[N,3] -> Relu -> y[N,3] */
static Onnx__ModelProto *relu_model(int64_t opset)
{
    Onnx__ModelProto *m = cv_test_onnx_model(opset);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(-1, 3));
    cv_test_onnx_node(m, "Relu", "relu1", CV_TEST_NAMES("x"), CV_TEST_NAMES("y"));
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(-1, 3));
    return m;
}

/* Loads a model expected to be refused: checks the status, that every
 * needle is in the message, that no graph comes back and nothing leaks. */
static void expect_refusal(const Onnx__ModelProto *m, const char *file, cv_status want,
                           const char *const *needles)
{
    const char *path = cv_test_onnx_write(m, file);
    size_t live = cv_alloc_live_bytes();
    cv_graph_t *g = (cv_graph_t *)&g;
    cv_err_t err = {{0}};
    cv_status status = cv_onnx_load(path, &g, &err);
    if (status != want)
        fail_msg("%s: status %s, want %s (%s)", file, cv_status_str(status), cv_status_str(want),
                 err.msg);
    assert_null(g);
    assert_non_null(strstr(err.msg, file));
    for (; *needles; needles++)
        if (!strstr(err.msg, *needles)) fail_msg("'%s' not in: %s", *needles, err.msg);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(cv_alloc_live_bytes(), live);
}

static cv_graph_t *load_ok(const Onnx__ModelProto *m, const char *file)
{
    const char *path = cv_test_onnx_write(m, file);
    cv_graph_t *g = NULL;
    cv_err_t err = {{0}};
    cv_status status = cv_onnx_load(path, &g, &err);
    if (status != CV_STATUS_OK) fail_msg("%s: %s", file, err.msg);
    assert_non_null(g);
    return g;
}

static const cv_value_t *value(const cv_graph_t *g, const char *name)
{
    int idx = cv_graph_find_value(g, name);
    if (idx < 0) fail_msg("no value '%s'", name);
    return &g->values[idx];
}

/* ---- valid models ---------------------------------------------------------- */

static void test_relu_model(void **state)
{
    size_t live = cv_alloc_live_bytes();
    cv_graph_t *g = load_ok(relu_model(13), "relu.onnx");
    assert_int_equal(g->opset, 13);
    assert_int_equal(g->ninputs, 1);
    assert_int_equal(g->noutputs, 1);
    const cv_value_t *x = &g->values[g->inputs[0]], *y = &g->values[g->outputs[0]];
    assert_string_equal(x->name, "x");
    assert_string_equal(y->name, "y");
    assert_int_equal(x->dtype, CV_DTYPE_FP32);
    assert_int_equal(x->shape.ndim, 2);
    assert_int_equal(x->shape.dims[0], -1);
    assert_int_equal(x->shape.dims[1], 3);
    assert_null(x->constant);
    assert_int_equal(x->producer, -1);
    assert_int_equal(y->dtype, CV_DTYPE_FP32);
    assert_int_equal(y->shape.dims[0], -1);
    assert_int_equal(y->shape.dims[1], 3);
    assert_true(g->batched);
    assert_int_equal(g->nnodes, 1);
    const cv_node_t *n = &g->nodes[0];
    assert_int_equal(n->op, CV_OP_RELU);
    assert_string_equal(n->name, "relu1");
    assert_int_equal(n->opset, 13);
    assert_int_equal(n->ninputs, 1);
    assert_int_equal(n->inputs[0], g->inputs[0]);
    assert_int_equal(n->noutputs, 1);
    assert_int_equal(n->outputs[0], g->outputs[0]);
    assert_int_equal(y->producer, 0);
    assert_string_equal(g->path, cv_test_tmp_path("relu.onnx"));
    cv_graph_destroy(g);
    assert_int_equal(cv_alloc_live_bytes(), live);

    /* a fixed dim 0 is no batch axis; "ai.onnx" names the default domain */
    Onnx__ModelProto *m = cv_test_onnx_model(17);
    m->opset_import[0]->domain = cv_test_onnx_str("ai.onnx");
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(2, 3));
    cv_test_onnx_input(m, "z", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, CV_TEST_DIMS(0));
    cv_test_onnx_node(m, "Relu", "", CV_TEST_NAMES("x"), CV_TEST_NAMES("y"));
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(2, 3));
    g = load_ok(m, "fixed.onnx");
    assert_int_equal(g->opset, 17);
    assert_false(g->batched);
    assert_int_equal(value(g, "z")->shape.dims[0], 0); /* an empty axis stays 0 */
    cv_graph_destroy(g);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* y = Reshape(Add(x, w), shape): w FP32 from raw_data, b FP32 from
 * float_data, shape INT64 from int64_data; w also listed among the graph
 * inputs, as older exporters do. */
static void test_initializers(void **state)
{
    size_t live = cv_alloc_live_bytes();
    Onnx__ModelProto *m = cv_test_onnx_model(13);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(-1, 3));
    cv_test_onnx_input(m, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(2, 3));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("w", 2, CV_TEST_DIMS(2, 3), 6, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("b", 1, CV_TEST_DIMS(3), 3, false));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_i64("shape", 1, CV_TEST_DIMS(2), CV_TEST_DIMS(3, -1), 2));
    cv_test_onnx_node(m, "Add", "add", CV_TEST_NAMES("x", "w"), CV_TEST_NAMES("s"));
    cv_test_onnx_node(m, "Add", "add2", CV_TEST_NAMES("s", "b"), CV_TEST_NAMES("t"));
    cv_test_onnx_node(m, "Reshape", "reshape", CV_TEST_NAMES("t", "shape"), CV_TEST_NAMES("y"));
    m->graph->value_info[m->graph->n_value_info++] =
        cv_test_onnx_value_info("s", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(2, 3));
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(3, -1));
    cv_graph_t *g = load_ok(m, "inits.onnx");

    assert_int_equal(g->ninputs, 1); /* w is a constant, not a runtime input */
    assert_string_equal(g->values[g->inputs[0]].name, "x");
    assert_true(g->batched);
    const cv_value_t *w = value(g, "w"), *b = value(g, "b"), *shape = value(g, "shape");
    assert_non_null(w->constant);
    assert_true(w->is_weight);
    assert_int_equal(w->dtype, CV_DTYPE_FP32);
    assert_int_equal(w->shape.ndim, 2);
    assert_int_equal(w->shape.dims[1], 3);
    for (int i = 0; i < 6; i++)
        assert_float_equal(((float *)w->constant->data)[i], 0.5f * (float)(i + 1) - 2.0f, 0);
    assert_true(b->is_weight);
    assert_float_equal(((float *)b->constant->data)[2], -0.5f, 0);
    assert_false(shape->is_weight);
    assert_int_equal(shape->dtype, CV_DTYPE_INT64);
    assert_int_equal(((int64_t *)shape->constant->data)[0], 3);
    assert_int_equal(((int64_t *)shape->constant->data)[1], -1);
    assert_int_equal(value(g, "s")->shape.dims[0], 2);          /* from value_info */
    assert_int_equal(value(g, "t")->dtype, CV_DTYPE_UNDEFINED); /* nothing declared */
    assert_int_equal(g->nodes[2].inputs[1], cv_graph_find_value(g, "shape"));
    cv_graph_destroy(g);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* Every dtype from its typed field, and from raw_data. */
static void test_initializer_dtypes(void **state)
{
    size_t live = cv_alloc_live_bytes();
    Onnx__ModelProto *m = cv_test_onnx_model(13);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, CV_TEST_DIMS(2));
    cv_test_onnx_node(m, "Relu", "", CV_TEST_NAMES("x"), CV_TEST_NAMES("y"));
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, CV_TEST_DIMS(2));
    static const int32_t via_int32[] = {
        ONNX__TENSOR_PROTO__DATA_TYPE__INT32,   ONNX__TENSOR_PROTO__DATA_TYPE__INT16,
        ONNX__TENSOR_PROTO__DATA_TYPE__INT8,    ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
        ONNX__TENSOR_PROTO__DATA_TYPE__UINT16,  ONNX__TENSOR_PROTO__DATA_TYPE__BOOL,
        ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16};
    char name[32];
    for (size_t i = 0; i < CV_ARRAY_LEN(via_int32); i++) {
        snprintf(name, sizeof name, "i32_%d", via_int32[i]);
        Onnx__TensorProto *t = cv_test_onnx_tensor(name, via_int32[i], 1, CV_TEST_DIMS(2));
        t->int32_data = cv_test_onnx_alloc(2 * sizeof(int32_t));
        bool half = via_int32[i] == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ||
                    via_int32[i] == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
        t->int32_data[0] = half ? 0x3c00 : -3; /* fp16 1.0 */
        t->int32_data[1] = half ? 0xc000 : 7;  /* fp16 -2.0 */
        if (via_int32[i] == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16) {
            t->int32_data[0] = 0x3f80; /* bf16 1.0 */
            t->int32_data[1] = 0xc000; /* bf16 -2.0 */
        }
        t->n_int32_data = 2;
        cv_test_onnx_initializer(m, t);
    }
    Onnx__TensorProto *u32 = cv_test_onnx_tensor("u32", ONNX__TENSOR_PROTO__DATA_TYPE__UINT32, 1, CV_TEST_DIMS(2));
    Onnx__TensorProto *u64 = cv_test_onnx_tensor("u64", ONNX__TENSOR_PROTO__DATA_TYPE__UINT64, 1, CV_TEST_DIMS(2));
    static uint64_t uvals[2] = {4000000000u, 18000000000000000000u};
    u32->uint64_data = u64->uint64_data = uvals;
    u32->n_uint64_data = u64->n_uint64_data = 2;
    cv_test_onnx_initializer(m, u32);
    cv_test_onnx_initializer(m, u64);
    Onnx__TensorProto *f64 = cv_test_onnx_tensor("f64", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 1, CV_TEST_DIMS(2));
    static double dvals[2] = {0.25, -1e300};
    f64->double_data = dvals;
    f64->n_double_data = 2;
    cv_test_onnx_initializer(m, f64);
    Onnx__TensorProto *rawb =
        cv_test_onnx_tensor("raw_bool", ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, 1, CV_TEST_DIMS(3));
    cv_test_onnx_tensor_raw(rawb, "\x00\x01\x05", 3);
    cv_test_onnx_initializer(m, rawb);
    Onnx__TensorProto *raw16 = cv_test_onnx_tensor("raw_i16", ONNX__TENSOR_PROTO__DATA_TYPE__INT16, 0, NULL);
    cv_test_onnx_tensor_raw(raw16, "\xfe\xff", 2); /* a scalar, little-endian -2 */
    cv_test_onnx_initializer(m, raw16);

    cv_graph_t *g = load_ok(m, "dtypes.onnx");
    const cv_value_t *v = value(g, "i32_6");
    assert_int_equal(v->dtype, CV_DTYPE_INT32);
    assert_int_equal(((int32_t *)v->constant->data)[0], -3);
    assert_false(v->is_weight);
    assert_int_equal(((int16_t *)value(g, "i32_5")->constant->data)[1], 7);
    assert_int_equal(((int8_t *)value(g, "i32_3")->constant->data)[0], -3);
    assert_int_equal(((uint8_t *)value(g, "i32_2")->constant->data)[1], 7);
    assert_int_equal(((uint16_t *)value(g, "i32_4")->constant->data)[1], 7);
    v = value(g, "i32_9");
    assert_int_equal(v->dtype, CV_DTYPE_BOOL);
    assert_int_equal(((uint8_t *)v->constant->data)[0], 1);
    assert_false(v->is_weight);
    v = value(g, "i32_10");
    assert_int_equal(v->dtype, CV_DTYPE_FP16);
    assert_true(v->is_weight);
    assert_float_equal(cv_tensor_get_f64(v->constant, 0), 1.0, 0);
    assert_float_equal(cv_tensor_get_f64(v->constant, 1), -2.0, 0);
    v = value(g, "i32_16");
    assert_int_equal(v->dtype, CV_DTYPE_BF16);
    assert_true(v->is_weight);
    assert_float_equal(cv_tensor_get_f64(v->constant, 1), -2.0, 0);
    assert_int_equal(((uint32_t *)value(g, "u32")->constant->data)[0], 4000000000u);
    assert_true(((uint64_t *)value(g, "u64")->constant->data)[1] == 18000000000000000000u);
    v = value(g, "f64");
    assert_true(v->is_weight);
    assert_float_equal(((double *)v->constant->data)[1], -1e300, 0);
    v = value(g, "raw_bool");
    assert_memory_equal(v->constant->data, "\x00\x01\x01", 3);
    v = value(g, "raw_i16");
    assert_int_equal(v->shape.ndim, 0);
    assert_int_equal(((int16_t *)v->constant->data)[0], -2);
    cv_graph_destroy(g);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* Attributes of every supported type, a Constant node, and nodes listed out
 * of order (the loader sorts them). */
static void test_attributes_and_order(void **state)
{
    size_t live = cv_alloc_live_bytes();
    Onnx__ModelProto *m = cv_test_onnx_model(13);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, CV_TEST_DIMS(-1, 1, 4, 4));
    Onnx__NodeProto *relu = cv_test_onnx_node(m, "Relu", "late", CV_TEST_NAMES("c"), CV_TEST_NAMES("y"));
    Onnx__NodeProto *conv = cv_test_onnx_node(m, "Conv", "conv", CV_TEST_NAMES("x", "k"), CV_TEST_NAMES("c"));
    cv_test_onnx_attr_ints(conv, "pads", CV_TEST_DIMS(1, 1, 1, 1), 4);
    cv_test_onnx_attr_int(conv, "group", 1);
    Onnx__AttributeProto *s =
        cv_test_onnx_attr(conv, "auto_pad", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    s->has_s = 1;
    s->s.data = (uint8_t *)cv_test_onnx_str("NOTSET");
    s->s.len = 6;
    Onnx__NodeProto *k = cv_test_onnx_node(m, "Constant", "kconst", CV_TEST_NAMES(NULL), CV_TEST_NAMES("k"));
    Onnx__AttributeProto *t = cv_test_onnx_attr(k, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    t->t = cv_test_onnx_tensor_f32("", 4, CV_TEST_DIMS(1, 1, 3, 3), 9, true);
    Onnx__AttributeProto *fl =
        cv_test_onnx_attr(relu, "floats", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    static float fv[2] = {1.5f, -2.5f};
    fl->floats = fv;
    fl->n_floats = 2;
    cv_test_onnx_attr_float(relu, "alpha", 0.25f);
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, CV_TEST_DIMS(-1, 1, 4, 4));
    cv_graph_t *g = load_ok(m, "attrs.onnx");

    assert_int_equal(g->nnodes, 3);
    assert_int_equal(g->nodes[0].op, CV_OP_CONSTANT);
    assert_int_equal(g->nodes[1].op, CV_OP_CONV);
    assert_int_equal(g->nodes[2].op, CV_OP_RELU);
    assert_int_equal(value(g, "k")->producer, 0);
    assert_int_equal(value(g, "y")->producer, 2);
    const cv_node_t *c = &g->nodes[1];
    int n;
    const int64_t *pads = cv_node_attr_ints(c, "pads", &n);
    assert_int_equal(n, 4);
    assert_int_equal(pads[3], 1);
    assert_int_equal(cv_node_attr_int(c, "group", 0), 1);
    assert_string_equal(cv_node_attr_string(c, "auto_pad", ""), "NOTSET");
    const cv_attr_t *value_attr = cv_node_attr(&g->nodes[0], "value");
    assert_non_null(value_attr);
    assert_int_equal(value_attr->type, CV_ATTR_TENSOR);
    assert_int_equal(value_attr->tensor->shape.dims[3], 3);
    assert_float_equal(((float *)value_attr->tensor->data)[8], 2.5f, 0);
    const float *f = cv_node_attr_floats(&g->nodes[2], "floats", &n);
    assert_int_equal(n, 2);
    assert_float_equal(f[1], -2.5f, 0);
    assert_float_equal(cv_node_attr_float(&g->nodes[2], "alpha", 0), 0.25f, 0);
    cv_graph_destroy(g);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* ---- canonical form -------------------------------------------------------- */

static const int64_t *const_ints(const cv_graph_t *g, int v, int64_t count)
{
    assert_true(v >= 0);
    const cv_value_t *val = &g->values[v];
    assert_non_null(val->constant);
    assert_false(val->is_weight);
    assert_int_equal(val->dtype, CV_DTYPE_INT64);
    assert_int_equal(val->shape.ndim, 1);
    assert_int_equal(val->shape.dims[0], count);
    return val->constant->data;
}

static float const_scalar(const cv_graph_t *g, int v)
{
    assert_true(v >= 0);
    const cv_value_t *val = &g->values[v];
    assert_non_null(val->constant);
    assert_false(val->is_weight);
    assert_int_equal(val->dtype, CV_DTYPE_FP32);
    assert_int_equal(val->shape.ndim, 0);
    return ((float *)val->constant->data)[0];
}

static void test_canonical_form(void **state)
{
    size_t live = cv_alloc_live_bytes();
    Onnx__ModelProto *m = cv_test_onnx_model(9);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, CV_TEST_DIMS(-1, 4, 6));
    Onnx__NodeProto *n = cv_test_onnx_node(m, "Slice", "slice", CV_TEST_NAMES("x"), CV_TEST_NAMES("s"));
    cv_test_onnx_attr_ints(n, "starts", CV_TEST_DIMS(1, 0), 2);
    cv_test_onnx_attr_ints(n, "ends", CV_TEST_DIMS(3, 4), 2);
    cv_test_onnx_attr_ints(n, "axes", CV_TEST_DIMS(1, 2), 2);
    n = cv_test_onnx_node(m, "Split", "split", CV_TEST_NAMES("s"), CV_TEST_NAMES("p0", "p1"));
    cv_test_onnx_attr_int(n, "axis", 2);
    cv_test_onnx_attr_ints(n, "split", CV_TEST_DIMS(1, 3), 2);
    n = cv_test_onnx_node(m, "Unsqueeze", "unsq", CV_TEST_NAMES("p1"), CV_TEST_NAMES("u"));
    cv_test_onnx_attr_ints(n, "axes", CV_TEST_DIMS(0), 1);
    n = cv_test_onnx_node(m, "Squeeze", "sq", CV_TEST_NAMES("u"), CV_TEST_NAMES("q"));
    cv_test_onnx_attr_ints(n, "axes", CV_TEST_DIMS(0), 1);
    n = cv_test_onnx_node(m, "ReduceSum", "rsum", CV_TEST_NAMES("q"), CV_TEST_NAMES("r"));
    cv_test_onnx_attr_ints(n, "axes", CV_TEST_DIMS(-1), 1);
    cv_test_onnx_attr_int(n, "keepdims", 1);
    n = cv_test_onnx_node(m, "ReduceMean", "rmean", CV_TEST_NAMES("r"), CV_TEST_NAMES("rm"));
    n = cv_test_onnx_node(m, "Clip", "clip", CV_TEST_NAMES("rm"), CV_TEST_NAMES("cl"));
    cv_test_onnx_attr_float(n, "min", 0.5f);
    n = cv_test_onnx_node(m, "Pad", "pad", CV_TEST_NAMES("cl"), CV_TEST_NAMES("pd"));
    cv_test_onnx_attr_ints(n, "pads", CV_TEST_DIMS(0, 1, 0, 0, 1, 0), 6);
    cv_test_onnx_attr_float(n, "value", 2.0f);
    Onnx__AttributeProto *mode = cv_test_onnx_attr(n, "mode", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    mode->has_s = 1;
    mode->s.data = (uint8_t *)cv_test_onnx_str("constant");
    mode->s.len = 8;
    n = cv_test_onnx_node(m, "Dropout", "drop", CV_TEST_NAMES("pd"), CV_TEST_NAMES("d", "mask"));
    cv_test_onnx_attr_float(n, "ratio", 0.3f);
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("scale", 1, CV_TEST_DIMS(2), 2, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("bias", 1, CV_TEST_DIMS(2), 2, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("mean", 1, CV_TEST_DIMS(2), 2, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("var", 1, CV_TEST_DIMS(2), 2, true));
    n = cv_test_onnx_node(m, "BatchNormalization", "bn", CV_TEST_NAMES("d", "scale", "bias", "mean", "var"),
                 CV_TEST_NAMES("bnout", "run_mean", "run_var"));
    cv_test_onnx_attr_int(n, "spatial", 1);
    cv_test_onnx_attr_float(n, "epsilon", 1e-3f);
    n = cv_test_onnx_node(m, "Clip", "clip2", CV_TEST_NAMES("bnout"), CV_TEST_NAMES("y"));
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, CV_TEST_DIMS(-1, 3, 3));
    /* a value whose name the generated ones must avoid */
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_i64("s__starts", 1, CV_TEST_DIMS(1), CV_TEST_DIMS(0), 1));
    cv_graph_t *g = load_ok(m, "canon.onnx");

    const cv_node_t *slice = &g->nodes[0];
    assert_int_equal(slice->op, CV_OP_SLICE);
    assert_int_equal(slice->ninputs, 4);
    assert_int_equal(slice->nattrs, 0);
    assert_int_equal(const_ints(g, slice->inputs[1], 2)[0], 1);
    assert_string_equal(g->values[slice->inputs[1]].name, "s__starts_2");
    assert_int_equal(const_ints(g, slice->inputs[2], 2)[1], 4);
    assert_string_equal(g->values[slice->inputs[2]].name, "s__ends");
    assert_int_equal(const_ints(g, slice->inputs[3], 2)[0], 1);

    const cv_node_t *split = &g->nodes[1];
    assert_int_equal(split->ninputs, 2);
    assert_int_equal(const_ints(g, split->inputs[1], 2)[1], 3);
    assert_null(cv_node_attr(split, "split"));
    assert_int_equal(cv_node_attr_int(split, "axis", 0), 2);
    assert_int_equal(split->noutputs, 2);

    for (int i = 2; i <= 4; i++) { /* Unsqueeze, Squeeze, ReduceSum: axes -> input 1 */
        assert_int_equal(g->nodes[i].ninputs, 2);
        assert_null(cv_node_attr(&g->nodes[i], "axes"));
    }
    assert_int_equal(const_ints(g, g->nodes[4].inputs[1], 1)[0], -1);
    assert_int_equal(cv_node_attr_int(&g->nodes[4], "keepdims", 0), 1);
    assert_int_equal(g->nodes[5].ninputs, 1); /* ReduceMean without axes: all */

    const cv_node_t *clip = &g->nodes[6];
    assert_int_equal(clip->ninputs, 3);
    assert_int_equal(clip->nattrs, 0);
    assert_float_equal(const_scalar(g, clip->inputs[1]), 0.5f, 0);
    assert_true(isinf(const_scalar(g, clip->inputs[2])) && const_scalar(g, clip->inputs[2]) > 0);
    const cv_node_t *clip2 = &g->nodes[10];
    assert_true(isinf(const_scalar(g, clip2->inputs[1])) && const_scalar(g, clip2->inputs[1]) < 0);

    const cv_node_t *pad = &g->nodes[7];
    assert_int_equal(pad->ninputs, 3);
    assert_int_equal(const_ints(g, pad->inputs[1], 6)[4], 1);
    assert_float_equal(const_scalar(g, pad->inputs[2]), 2.0f, 0);
    assert_null(cv_node_attr(pad, "pads"));
    assert_null(cv_node_attr(pad, "value"));
    assert_string_equal(cv_node_attr_string(pad, "mode", ""), "constant");

    const cv_node_t *drop = &g->nodes[8];
    assert_int_equal(drop->nattrs, 0);
    assert_int_equal(drop->noutputs, 1); /* the unread mask is omitted */
    assert_int_equal(cv_graph_find_value(g, "mask"), -1);

    const cv_node_t *bn = &g->nodes[9];
    assert_int_equal(bn->noutputs, 1);
    assert_null(cv_node_attr(bn, "spatial"));
    assert_float_equal(cv_node_attr_float(bn, "epsilon", 0), 1e-3f, 0);
    assert_int_equal(cv_graph_find_value(g, "run_mean"), -1);
    assert_int_equal(cv_graph_find_value(g, "run_var"), -1);
    for (int i = 0; i < g->nnodes; i++) assert_int_equal(g->nodes[i].opset, 9);
    cv_graph_destroy(g);

    /* at the newest opsets nothing changes */
    m = cv_test_onnx_model(18);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, CV_TEST_DIMS(4));
    cv_test_onnx_node(m, "Clip", "clip", CV_TEST_NAMES("x"), CV_TEST_NAMES("y"));
    cv_test_onnx_node(m, "Dropout", "drop", CV_TEST_NAMES("y"), CV_TEST_NAMES("z", "mask"));
    cv_test_onnx_output(m, "z", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, CV_TEST_DIMS(4));
    cv_test_onnx_output(m, "mask", ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, 1, CV_TEST_DIMS(4));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("scale", 1, CV_TEST_DIMS(4), 4, true));
    cv_test_onnx_node(m, "BatchNormalization", "bn", CV_TEST_NAMES("z", "scale", "scale", "scale", "scale"),
             CV_TEST_NAMES("bn", "", "var_out"));
    cv_test_onnx_node(m, "Relu", "reads_var", CV_TEST_NAMES("var_out"), CV_TEST_NAMES("r"));
    cv_test_onnx_output(m, "r", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, CV_TEST_DIMS(4));
    g = load_ok(m, "canon18.onnx");
    assert_int_equal(g->nodes[0].ninputs, 1);
    assert_int_equal(g->nodes[1].noutputs, 2); /* the mask is a graph output */
    const cv_node_t *bn18 = &g->nodes[2];
    assert_int_equal(bn18->noutputs, 3); /* a read training output stays */
    assert_int_equal(bn18->outputs[1], -1);
    assert_int_equal(bn18->outputs[2], cv_graph_find_value(g, "var_out"));
    assert_int_equal(cv_graph_find_value(g, "bn"), bn18->outputs[0]);
    cv_graph_destroy(g);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* Loads `path` with the 1st, 2nd, ... allocation failing until a load
 * succeeds: each failure must be OUT_OF_MEMORY naming `file`, with no graph
 * and no leak. Returns the graph of the load that succeeded; *failures =
 * the loads that failed. */
static cv_graph_t *load_under_oom(const char *path, const char *file, int *failures)
{
    size_t live = cv_alloc_live_bytes();
    *failures = 0;
    for (long n = 1;; n++) {
        cv_alloc_fail_after(n);
        cv_graph_t *g = NULL;
        cv_err_t err = {{0}};
        cv_status status = cv_onnx_load(path, &g, &err);
        long injected = cv_alloc_failures();
        cv_alloc_fail_after(0);
        if (status == CV_STATUS_OK) {
            assert_int_equal(injected, 0);
            return g;
        }
        if (status != CV_STATUS_OUT_OF_MEMORY)
            fail_msg("allocation %ld failing gave %s: %s", n, cv_status_str(status), err.msg);
        assert_null(g);
        assert_non_null(strstr(err.msg, file));
        if (cv_alloc_live_bytes() != live) fail_msg("allocation %ld failing leaked", n);
        (*failures)++;
        assert_true(n < 100000);
    }
}

/* ---- opset 6 ------------------------------------------------------------------- */

/* a[N,3,4,5] + b[3] with axis 1, times Relu(bx)[3,4] with axis 1, PRelu with
 * the per-channel slope b, then ops whose legacy attributes change nothing. */
static Onnx__ModelProto *legacy_model(void)
{
    Onnx__ModelProto *m = cv_test_onnx_model(6);
    cv_test_onnx_input(m, "a", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, CV_TEST_DIMS(-1, 3, 4, 5));
    cv_test_onnx_input(m, "bx", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(3, 4));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("b", 1, CV_TEST_DIMS(3), 3, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("d", 1, CV_TEST_DIMS(5), 5, false));
    cv_test_onnx_node(m, "Relu", "relu", CV_TEST_NAMES("bx"), CV_TEST_NAMES("rb"));
    Onnx__NodeProto *n = cv_test_onnx_node(m, "Add", "add", CV_TEST_NAMES("a", "b"), CV_TEST_NAMES("s"));
    cv_test_onnx_attr_int(n, "broadcast", 1);
    cv_test_onnx_attr_int(n, "axis", 1);
    n = cv_test_onnx_node(m, "Mul", "mul", CV_TEST_NAMES("s", "rb"), CV_TEST_NAMES("m"));
    cv_test_onnx_attr_int(n, "broadcast", 1);
    cv_test_onnx_attr_int(n, "axis", 1);
    cv_test_onnx_node(m, "PRelu", "prelu", CV_TEST_NAMES("m", "b"), CV_TEST_NAMES("p"));
    n = cv_test_onnx_node(m, "Sub", "sub", CV_TEST_NAMES("p", "d"), CV_TEST_NAMES("q")); /* suffix alignment */
    cv_test_onnx_attr_int(n, "broadcast", 1);
    n = cv_test_onnx_node(m, "Pow", "pow", CV_TEST_NAMES("q", "d"), CV_TEST_NAMES("y")); /* -1: suffix, as Caffe2 reads it */
    cv_test_onnx_attr_int(n, "broadcast", 1);
    cv_test_onnx_attr_int(n, "axis", -1);
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, CV_TEST_DIMS(-1, 3, 4, 5));
    return m;
}

/* Input `slot` of node is a constant copy of b reshaped to [3,1,1]. */
static void assert_aligned_b(const cv_graph_t *g, const cv_node_t *n, int slot)
{
    const cv_value_t *b = value(g, "b"), *aligned = &g->values[n->inputs[slot]];
    assert_int_not_equal(n->inputs[slot], cv_graph_find_value(g, "b"));
    assert_non_null(aligned->constant);
    assert_true(aligned->is_weight); /* it differs between tenants as b does */
    assert_int_equal(aligned->shape.ndim, 3);
    assert_int_equal(aligned->constant->shape.ndim, 3);
    assert_int_equal(aligned->shape.dims[0], 3);
    assert_int_equal(aligned->shape.dims[1], 1);
    assert_int_equal(aligned->shape.dims[2], 1);
    assert_memory_equal(aligned->constant->data, b->constant->data, 3 * sizeof(float));
}

static void test_opset6(void **state)
{
    size_t live = cv_alloc_live_bytes();
    cv_graph_t *g = load_ok(legacy_model(), "legacy.onnx");
    assert_int_equal(g->opset, 6);
    /* the Unsqueeze that aligns Relu(bx) comes just before Mul */
    const cv_op_t want[] = {CV_OP_RELU,  CV_OP_ADD, CV_OP_UNSQUEEZE, CV_OP_MUL,
                            CV_OP_PRELU, CV_OP_SUB, CV_OP_POW};
    assert_int_equal(g->nnodes, 7);
    for (int i = 0; i < g->nnodes; i++) {
        const cv_node_t *n = &g->nodes[i];
        assert_int_equal(n->op, want[i]);
        assert_null(cv_node_attr(n, "broadcast"));
        assert_null(cv_node_attr(n, "axis"));
        for (int o = 0; o < n->noutputs; o++)
            assert_int_equal(g->values[n->outputs[o]].producer, i);
        for (int k = 0; k < n->ninputs; k++) /* still topologically ordered */
            assert_true(g->values[n->inputs[k]].producer < i);
    }
    const cv_value_t *b = value(g, "b");
    assert_int_equal(b->shape.ndim, 1); /* the original is left alone */
    assert_aligned_b(g, &g->nodes[1], 1);
    assert_aligned_b(g, &g->nodes[4], 1); /* per-channel slope of a rank-4 X */

    const cv_node_t *unsq = &g->nodes[2], *mul = &g->nodes[3];
    assert_int_equal(unsq->ninputs, 2);
    assert_int_equal(unsq->inputs[0], cv_graph_find_value(g, "rb"));
    assert_int_equal(const_ints(g, unsq->inputs[1], 1)[0], 2); /* [3,4] -> [3,4,1] */
    assert_int_equal(unsq->noutputs, 1);
    assert_int_equal(mul->inputs[1], unsq->outputs[0]);
    assert_string_equal(g->values[unsq->outputs[0]].name, "m__aligned");
    assert_int_equal(mul->inputs[0], cv_graph_find_value(g, "s"));
    for (int i = 5; i <= 6; i++) /* suffix alignment: inputs unchanged */
        assert_int_equal(g->nodes[i].inputs[1], cv_graph_find_value(g, "d"));

    /* the rewritten Add computes what opset 6 meant: a[n,c,h,w] + b[c] */
    cv_shape_t shape = {.ndim = 4, .dims = {2, 3, 4, 5}};
    cv_tensor_t a;
    assert_int_equal(cv_tensor_alloc(&a, CV_DTYPE_FP32, &shape), CV_STATUS_OK);
    cv_test_fill_random(&a, 7);
    const cv_tensor_t *ins[2] = {&a, g->values[g->nodes[1].inputs[1]].constant};
    cv_tensor_t *outs[1];
    cv_cpu_ctx_t cpu = {.threads = 1};
    cv_err_t err = {{0}};
    if (cv_ir_eval_node(g, 1, ins, outs, &cpu, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    assert_true(cv_shape_equal(&outs[0]->shape, &shape));
    const float *pa = a.data, *pb = b->constant->data, *py = outs[0]->data;
    for (int i = 0; i < 2 * 3 * 4 * 5; i++)
        assert_float_equal(py[i], pa[i] + pb[(i / 20) % 3], 0);
    cv_tensor_destroy(outs[0]);
    cv_tensor_free(&a);
    cv_cpu_ctx_release(&cpu);
    cv_graph_destroy(g);

    /* Gemm's broadcast and is_test are dropped; a one-element B and a
     * shared slope need no alignment; broadcast = 0 ignores axis */
    Onnx__ModelProto *m = cv_test_onnx_model(6);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(-1, 3));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("w", 2, CV_TEST_DIMS(3, 4), 12, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("c", 1, CV_TEST_DIMS(4), 4, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("one", 2, CV_TEST_DIMS(1, 1), 1, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("slope", 1, CV_TEST_DIMS(1), 1, true));
    Onnx__NodeProto *n = cv_test_onnx_node(m, "Gemm", "gemm", CV_TEST_NAMES("x", "w", "c"), CV_TEST_NAMES("gm"));
    cv_test_onnx_attr_int(n, "broadcast", 1);
    cv_test_onnx_attr_int(n, "transB", 0);
    n = cv_test_onnx_node(m, "Dropout", "drop", CV_TEST_NAMES("gm"), CV_TEST_NAMES("dr"));
    cv_test_onnx_attr_int(n, "is_test", 1);
    n = cv_test_onnx_node(m, "Mul", "scale", CV_TEST_NAMES("dr", "one"), CV_TEST_NAMES("sc"));
    cv_test_onnx_attr_int(n, "broadcast", 1);
    cv_test_onnx_attr_int(n, "axis", 0);
    n = cv_test_onnx_node(m, "Add", "same", CV_TEST_NAMES("sc", "sc"), CV_TEST_NAMES("sm"));
    cv_test_onnx_attr_int(n, "broadcast", 0);
    cv_test_onnx_attr_int(n, "axis", 0);
    cv_test_onnx_node(m, "Unsqueeze", "unsq", CV_TEST_NAMES("sm"), CV_TEST_NAMES("u"));
    cv_test_onnx_attr_ints(m->graph->node[m->graph->n_node - 1], "axes", CV_TEST_DIMS(2, 3), 2);
    cv_test_onnx_node(m, "PRelu", "prelu", CV_TEST_NAMES("u", "slope"), CV_TEST_NAMES("pr"));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("scale", 1, CV_TEST_DIMS(4), 4, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("bias", 1, CV_TEST_DIMS(4), 4, true));
    n = cv_test_onnx_node(m, "BatchNormalization", "bn", CV_TEST_NAMES("pr", "scale", "bias", "scale", "scale"),
                 CV_TEST_NAMES("y"));
    cv_test_onnx_attr_int(n, "is_test", 1);
    cv_test_onnx_attr_float(n, "momentum", 0.9f);
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, CV_TEST_DIMS(-1, 4, 1, 1));
    g = load_ok(m, "legacy_attrs.onnx");
    assert_int_equal(g->nnodes, 7);
    const cv_node_t *gemm = &g->nodes[0];
    assert_null(cv_node_attr(gemm, "broadcast"));
    assert_int_equal(cv_node_attr_int(gemm, "transB", 1), 0);
    assert_int_equal(g->nodes[1].nattrs, 0);
    assert_int_equal(g->nodes[2].nattrs, 0);
    assert_int_equal(g->nodes[2].inputs[1], cv_graph_find_value(g, "one"));
    assert_int_equal(g->nodes[3].nattrs, 0);
    assert_int_equal(g->nodes[3].inputs[1], cv_graph_find_value(g, "sc"));
    assert_int_equal(g->nodes[5].inputs[1], cv_graph_find_value(g, "slope"));
    assert_null(cv_node_attr(&g->nodes[6], "is_test"));
    assert_float_equal(cv_node_attr_float(&g->nodes[6], "momentum", 0), 0.9f, 0);
    cv_graph_destroy(g);

    /* ranks the file does not state are not guessed */
    m = cv_test_onnx_model(6);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(2, 12));
    cv_test_onnx_input(m, "like", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, CV_TEST_DIMS(2, 3, 4));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("b", 1, CV_TEST_DIMS(3), 3, true));
    cv_test_onnx_node(m, "Shape", "shape", CV_TEST_NAMES("like"), CV_TEST_NAMES("sh"));
    cv_test_onnx_node(m, "Reshape", "reshape", CV_TEST_NAMES("x", "sh"), CV_TEST_NAMES("r"));
    n = cv_test_onnx_node(m, "Add", "add", CV_TEST_NAMES("r", "b"), CV_TEST_NAMES("y"));
    cv_test_onnx_attr_int(n, "broadcast", 1);
    cv_test_onnx_attr_int(n, "axis", 1);
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, CV_TEST_DIMS(2, 3, 4));
    expect_refusal(m, "unknown_rank.onnx", CV_STATUS_UNSUPPORTED,
                   CV_TEST_NAMES("node 'add' (Add, node 2)",
                     "attribute 'axis' = 1 (opset 6 broadcasting) needs the rank of input A "
                     "'r', which the model does not declare"));
    m->graph->node[2]->op_type = cv_test_onnx_str("PRelu");
    m->graph->node[2]->name = cv_test_onnx_str("prelu");
    m->graph->node[2]->n_attribute = 0;
    expect_refusal(m, "prelu_rank.onnx", CV_STATUS_UNSUPPORTED,
                   CV_TEST_NAMES("node 'prelu' (PRelu, node 2)", "input X 'r' has no declared rank"));

    m = cv_test_onnx_model(6);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, CV_TEST_DIMS(2, 3, 4));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("b", 2, CV_TEST_DIMS(4, 2), 8, true));
    n = cv_test_onnx_node(m, "Div", "div", CV_TEST_NAMES("x", "b"), CV_TEST_NAMES("y"));
    cv_test_onnx_attr_int(n, "broadcast", 1);
    cv_test_onnx_attr_int(n, "axis", 2);
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, CV_TEST_DIMS(2, 3, 4));
    expect_refusal(m, "bad_axis.onnx", CV_STATUS_INVALID_ARGUMENT,
                   CV_TEST_NAMES("node 'div' (Div, node 0)", "attribute 'axis' = 2 does not place input B "
                                                 "(rank 2) inside input A (rank 3)"));

    /* every allocation of the rewrites can fail cleanly */
    const char *path = cv_test_onnx_write(legacy_model(), "legacy_oom.onnx");
    int failures;
    g = load_under_oom(path, "legacy_oom.onnx", &failures);
    assert_int_equal(g->nnodes, 7);
    assert_int_equal(g->nodes[2].op, CV_OP_UNSQUEEZE);
    assert_true(failures > 30);
    cv_graph_destroy(g);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* ---- refusals ---------------------------------------------------------------- */

static void expect_file_refusal(const char *file, const void *bytes, size_t len, cv_status want,
                                const char *needle)
{
    const char *path = cv_test_tmp_path(file);
    cv_test_write_file(path, bytes, len);
    size_t live = cv_alloc_live_bytes();
    cv_graph_t *g = NULL;
    cv_err_t err = {{0}};
    cv_status status = cv_onnx_load(path, &g, &err);
    if (status != want) fail_msg("%s: got %s (%s)", file, cv_status_str(status), err.msg);
    assert_null(g);
    assert_non_null(strstr(err.msg, file));
    if (!strstr(err.msg, needle)) fail_msg("'%s' not in: %s", needle, err.msg);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

static void test_bad_files(void **state)
{
    expect_file_refusal("empty.onnx", "", 0, CV_STATUS_INVALID_ARGUMENT, "file is empty");

    cv_graph_t *g = NULL;
    cv_err_t err = {{0}};
    assert_int_equal(cv_onnx_load(cv_test_tmp_path("absent.onnx"), &g, &err), CV_STATUS_NOT_FOUND);
    assert_non_null(strstr(err.msg, "absent.onnx"));
    assert_int_equal(cv_onnx_load(cv_test_tmpdir(), &g, &err), CV_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "not a regular file"));

    /* a model with 4 KB of weights, cut in half: the cut falls in raw_data */
    Onnx__ModelProto *m = relu_model(13);
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("w", 1, CV_TEST_DIMS(1024), 1024, true));
    size_t len;
    uint8_t *buf = cv_test_onnx_pack(m, &len);
    expect_file_refusal("truncated.onnx", buf, len / 2, CV_STATUS_INVALID_ARGUMENT,
                        "not an ONNX model (protobuf parse failed)");

    /* every shorter prefix is refused too, without a leak */
    Onnx__ModelProto *small = relu_model(13);
    uint8_t *sbuf = cv_test_onnx_pack(small, &len);
    for (size_t cut = 0; cut < len; cut++) {
        size_t live = cv_alloc_live_bytes();
        assert_int_not_equal(cv_onnx_load_buffer(sbuf, cut, "prefix.onnx", NULL, &g, &err),
                             CV_STATUS_OK);
        assert_null(g);
        assert_non_null(strstr(err.msg, "prefix.onnx"));
        assert_int_equal(cv_alloc_live_bytes(), live);
    }

    uint8_t noise[1000];
    uint64_t s = 42;
    for (size_t i = 0; i < sizeof noise; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        noise[i] = (uint8_t)(s >> 56);
    }
    expect_file_refusal("random.onnx", noise, sizeof noise, CV_STATUS_INVALID_ARGUMENT,
                        "not an ONNX model");

    /* a TensorProto is not a model */
    Onnx__TensorProto *t = cv_test_onnx_tensor_f32("t", 1, CV_TEST_DIMS(4), 4, true);
    size_t tlen = onnx__tensor_proto__get_packed_size(t);
    uint8_t *tbuf = cv_test_onnx_alloc(tlen);
    onnx__tensor_proto__pack(t, tbuf);
    expect_file_refusal("tensor.onnx", tbuf, tlen, CV_STATUS_INVALID_ARGUMENT, "not an ONNX model");

    /* a model without a graph */
    Onnx__ModelProto *nograph = relu_model(13);
    nograph->graph = NULL;
    buf = cv_test_onnx_pack(nograph, &len);
    expect_file_refusal("nograph.onnx", buf, len, CV_STATUS_INVALID_ARGUMENT, "no graph");
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_header(uint8_t *p, int field, uint64_t len)
{
    uint64_t v = (uint64_t)field << 3 | 2;
    for (int twice = 0; twice < 2; twice++, v = len) {
        while (v >= 0x80) {
            *p++ = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        *p++ = (uint8_t)v;
    }
    return p;
}

/* Graphs nested 100000 deep through GRAPH attributes (about 1.2 MB): protobuf-c
 * would recurse once per level and overflow the stack; the loader refuses. */
static void test_deep_nesting(void **state)
{
    enum { DEPTH = 100000 };
    /* sizes, innermost first: graph{node{attribute{g: graph}}} */
    uint64_t *graph = cv_test_onnx_alloc(sizeof(uint64_t) * (DEPTH + 1));
    uint64_t *node = cv_test_onnx_alloc(sizeof(uint64_t) * (DEPTH + 1));
    uint64_t *attr = cv_test_onnx_alloc(sizeof(uint64_t) * (DEPTH + 1));
    graph[0] = 0;
    for (int i = 1; i <= DEPTH; i++) {
        attr[i] = 1 + varint_size(graph[i - 1]) + graph[i - 1];
        node[i] = 1 + varint_size(attr[i]) + attr[i];
        graph[i] = 1 + varint_size(node[i]) + node[i];
    }
    size_t len = 1 + varint_size(graph[DEPTH]) + graph[DEPTH];
    uint8_t *buf = cv_test_onnx_alloc(len), *p = buf;
    p = put_header(p, 7, graph[DEPTH]); /* ModelProto.graph */
    for (int i = DEPTH; i >= 1; i--) {
        p = put_header(p, 1, node[i]);      /* GraphProto.node */
        p = put_header(p, 5, attr[i]);      /* NodeProto.attribute */
        p = put_header(p, 6, graph[i - 1]); /* AttributeProto.g */
    }
    assert_int_equal((size_t)(p - buf), len);
    size_t live = cv_alloc_live_bytes();
    cv_graph_t *g = NULL;
    cv_err_t err = {{0}};
    assert_int_equal(cv_onnx_load_buffer(buf, len, "deep.onnx", NULL, &g, &err),
                     CV_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "deep.onnx: messages nest more than 64 deep"));
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* Random edits of a valid model: whatever the bytes, a status, one line, no
 * leak. */
static void test_mutated_models(void **state)
{
    Onnx__ModelProto *m = relu_model(11);
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_i64("axes", 1, CV_TEST_DIMS(1), CV_TEST_DIMS(0), 1));
    Onnx__NodeProto *n = cv_test_onnx_node(m, "Slice", "sl", CV_TEST_NAMES("y"), CV_TEST_NAMES("z"));
    cv_test_onnx_attr_ints(n, "starts", CV_TEST_DIMS(0), 1);
    cv_test_onnx_output(m, "z", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(-1, 3));
    size_t len;
    uint8_t *orig = cv_test_onnx_pack(m, &len);
    uint8_t *buf = cv_test_onnx_alloc(len);
    uint64_t s = 7;
    int loaded = 0;
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(buf, orig, len);
        for (int e = 0; e < 1 + trial % 4; e++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            buf[(s >> 33) % len] = (uint8_t)(s >> 20);
        }
        size_t live = cv_alloc_live_bytes();
        cv_graph_t *g = NULL;
        cv_err_t err = {{0}};
        cv_status status = cv_onnx_load_buffer(buf, len, "mutant.onnx", NULL, &g, &err);
        if (status == CV_STATUS_OK) {
            loaded++;
            cv_graph_destroy(g);
        } else {
            assert_null(g);
            assert_non_null(strstr(err.msg, "mutant.onnx"));
            assert_null(strchr(err.msg, '\n'));
        }
        assert_int_equal(cv_alloc_live_bytes(), live);
    }
    assert_true(loaded < 3000);
}

static void test_bad_graphs(void **state)
{
    Onnx__ModelProto *m = relu_model(13);
    m->graph->node[0]->op_type = cv_test_onnx_str("Foo");
    expect_refusal(m, "unknown_op.onnx", CV_STATUS_UNSUPPORTED,
                   CV_TEST_NAMES("operator Foo is not supported", "node 'relu1' (Foo, node 0)"));

    m = relu_model(13);
    m->graph->node[0]->domain = cv_test_onnx_str("com.microsoft");
    expect_refusal(m, "domain.onnx", CV_STATUS_UNSUPPORTED, CV_TEST_NAMES("com.microsoft", "Relu"));

    m = relu_model(13);
    Onnx__AttributeProto *a =
        cv_test_onnx_attr(m->graph->node[0], "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    a->g = cv_test_onnx_alloc(sizeof(Onnx__GraphProto));
    onnx__graph_proto__init(a->g);
    expect_refusal(m, "graph_attr.onnx", CV_STATUS_UNSUPPORTED,
                   CV_TEST_NAMES("attribute 'body'", "GRAPH", "relu1"));

    m = relu_model(13);
    cv_test_onnx_attr_int(m->graph->node[0], "alpha", 1);
    cv_test_onnx_attr_int(m->graph->node[0], "alpha", 2);
    expect_refusal(m, "dup_attr.onnx", CV_STATUS_INVALID_ARGUMENT,
                   CV_TEST_NAMES("attribute 'alpha' appears twice"));

    m = relu_model(13);
    Onnx__TensorProto *str = cv_test_onnx_tensor("names", ONNX__TENSOR_PROTO__DATA_TYPE__STRING, 1, CV_TEST_DIMS(1));
    cv_test_onnx_initializer(m, str);
    expect_refusal(m, "string.onnx", CV_STATUS_UNSUPPORTED,
                   CV_TEST_NAMES("dtype STRING of initializer 'names' is not supported"));

    m = relu_model(13);
    cv_test_onnx_initializer(m, cv_test_onnx_tensor("c64", 14, 1, CV_TEST_DIMS(1)));
    expect_refusal(m, "complex.onnx", CV_STATUS_UNSUPPORTED, CV_TEST_NAMES("COMPLEX64", "'c64'"));

    m = relu_model(13);
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("w", 2, CV_TEST_DIMS(3, 4), 10, false));
    expect_refusal(m, "count.onnx", CV_STATUS_INVALID_ARGUMENT,
                   CV_TEST_NAMES("initializer 'w' has 10 values but its dims [3,4] need 12"));

    m = relu_model(13);
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("w", 2, CV_TEST_DIMS(3, 4), 10, true));
    expect_refusal(m, "rawcount.onnx", CV_STATUS_INVALID_ARGUMENT,
                   CV_TEST_NAMES("initializer 'w' has 10 values but its dims [3,4] need 12"));

    m = relu_model(13);
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("huge", 3, CV_TEST_DIMS(1 << 30, 1 << 30, 1 << 30), 1, true));
    expect_refusal(m, "huge.onnx", CV_STATUS_INVALID_ARGUMENT, CV_TEST_NAMES("'huge'"));

    m = relu_model(13);
    cv_test_onnx_node(m, "Add", "add", CV_TEST_NAMES("y", "ghost"), CV_TEST_NAMES("z"));
    expect_refusal(m, "dangling.onnx", CV_STATUS_INVALID_ARGUMENT,
                   CV_TEST_NAMES("node 'add' (Add, node 1)",
                     "input 'ghost' is not produced by any node, input or initializer"));

    m = relu_model(13);
    cv_test_onnx_output(m, "z", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL);
    expect_refusal(m, "no_output.onnx", CV_STATUS_INVALID_ARGUMENT,
                   CV_TEST_NAMES("graph output 'z' is not produced by any node, input or initializer"));

    m = relu_model(13);
    cv_test_onnx_node(m, "Relu", "again", CV_TEST_NAMES("x"), CV_TEST_NAMES("y"));
    expect_refusal(m, "twice.onnx", CV_STATUS_INVALID_ARGUMENT,
                   CV_TEST_NAMES("output 'y' is also produced", "again"));

    m = relu_model(13);
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("y", 1, CV_TEST_DIMS(1), 1, true));
    expect_refusal(m, "shadow.onnx", CV_STATUS_INVALID_ARGUMENT,
                   CV_TEST_NAMES("output 'y' is also an initializer"));

    m = relu_model(13);
    cv_test_onnx_node(m, "Relu", "loop_a", CV_TEST_NAMES("b"), CV_TEST_NAMES("a"));
    cv_test_onnx_node(m, "Relu", "loop_b", CV_TEST_NAMES("a"), CV_TEST_NAMES("b"));
    expect_refusal(m, "cycle.onnx", CV_STATUS_INVALID_ARGUMENT, CV_TEST_NAMES("cycle"));

    expect_refusal(relu_model(5), "opset5.onnx", CV_STATUS_UNSUPPORTED,
                   CV_TEST_NAMES("opset 5 is older than 6, the oldest Caravel reads"));

    m = relu_model(13);
    m->opset_import[0]->domain = cv_test_onnx_str("ai.onnx.ml");
    expect_refusal(m, "no_opset.onnx", CV_STATUS_INVALID_ARGUMENT, CV_TEST_NAMES("no opset"));

    m = relu_model(9);
    Onnx__NodeProto *n = cv_test_onnx_node(m, "Slice", "sl", CV_TEST_NAMES("y"), CV_TEST_NAMES("z"));
    cv_test_onnx_attr_ints(n, "ends", CV_TEST_DIMS(1), 1);
    cv_test_onnx_output(m, "z", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL);
    expect_refusal(
        m, "slice_attrs.onnx", CV_STATUS_INVALID_ARGUMENT,
        CV_TEST_NAMES("node 'sl' (Slice, node 1)", "attribute 'starts' is required before opset 10"));

    m = relu_model(13);
    Onnx__TypeProto *seq = cv_test_onnx_alloc(sizeof(*seq));
    onnx__type_proto__init(seq);
    seq->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    seq->sequence_type = cv_test_onnx_alloc(sizeof(Onnx__TypeProto__Sequence));
    onnx__type_proto__sequence__init(seq->sequence_type);
    m->graph->input[0]->type = seq;
    expect_refusal(m, "sequence.onnx", CV_STATUS_UNSUPPORTED, CV_TEST_NAMES("input 'x' is a sequence"));

    m = relu_model(13);
    m->graph->input[0]->type->tensor_type->shape = NULL;
    expect_refusal(m, "no_shape.onnx", CV_STATUS_UNSUPPORTED, CV_TEST_NAMES("input 'x' declares no shape"));

    /* names from the file cannot break the one-line message */
    m = relu_model(13);
    m->graph->node[0]->op_type = cv_test_onnx_str("Bad\nOp");
    expect_refusal(m, "newline.onnx", CV_STATUS_UNSUPPORTED, CV_TEST_NAMES("Bad Op"));
}

/* ---- external data ------------------------------------------------------------ */

static void set_external(Onnx__TensorProto *t, const char *location, const char *offset)
{
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->external_data = cv_test_onnx_alloc(sizeof(void *) * 3);
    const char *keys[2] = {"location", "offset"}, *vals[2] = {location, offset};
    for (int i = 0; i < 2 && vals[i]; i++) {
        Onnx__StringStringEntryProto *e = cv_test_onnx_alloc(sizeof(*e));
        onnx__string_string_entry_proto__init(e);
        e->key = cv_test_onnx_str(keys[i]);
        e->value = cv_test_onnx_str(vals[i]);
        t->external_data[t->n_external_data++] = e;
    }
}

static Onnx__ModelProto *external_model(const char *location, const char *offset)
{
    Onnx__ModelProto *m = relu_model(13);
    Onnx__TensorProto *w = cv_test_onnx_tensor("w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(2, 3));
    set_external(w, location, offset);
    cv_test_onnx_initializer(m, w);
    return m;
}

static void test_external_data(void **state)
{
    size_t live = cv_alloc_live_bytes();
    /* 8 bytes of padding, then the 6 floats */
    float blob[8] = {0, 0, 1, 2, 3, 4, 5, 6};
    cv_test_write_file(cv_test_tmp_path("weights.bin"), blob, sizeof blob);
    cv_graph_t *g = load_ok(external_model("weights.bin", "8"), "external.onnx");
    const cv_value_t *w = value(g, "w");
    assert_true(w->is_weight);
    for (int i = 0; i < 6; i++)
        assert_float_equal(((float *)w->constant->data)[i], (float)(i + 1), 0);
    cv_graph_destroy(g);
    assert_int_equal(cv_alloc_live_bytes(), live);

    expect_refusal(external_model("../weights.bin", NULL), "ext_dotdot.onnx",
                   CV_STATUS_INVALID_ARGUMENT, CV_TEST_NAMES("'../weights.bin'", "relative"));
    expect_refusal(external_model("/etc/passwd", NULL), "ext_abs.onnx", CV_STATUS_INVALID_ARGUMENT,
                   CV_TEST_NAMES("'/etc/passwd'", "relative"));
    expect_refusal(external_model("missing.bin", NULL), "ext_missing.onnx", CV_STATUS_NOT_FOUND,
                   CV_TEST_NAMES("initializer 'w'", "missing.bin"));
    expect_refusal(external_model("weights.bin", "16"), "ext_short.onnx",
                   CV_STATUS_INVALID_ARGUMENT, CV_TEST_NAMES("initializer 'w'", "too short"));
    expect_refusal(external_model("weights.bin", "x1"), "ext_offset.onnx",
                   CV_STATUS_INVALID_ARGUMENT, CV_TEST_NAMES("offset 'x1'"));

    /* from memory with no folder, external data cannot be read */
    size_t len;
    uint8_t *buf = cv_test_onnx_pack(external_model("weights.bin", NULL), &len);
    cv_err_t err = {{0}};
    assert_int_equal(cv_onnx_load_buffer(buf, len, NULL, NULL, &g, &err),
                     CV_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "<buffer>"));
    assert_non_null(strstr(err.msg, "no folder"));
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* ---- out of memory ---------------------------------------------------------------- */

static Onnx__ModelProto *rich_model(void)
{
    Onnx__ModelProto *m = cv_test_onnx_model(9);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, CV_TEST_DIMS(-1, 1, 4, 4));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("k", 4, CV_TEST_DIMS(2, 1, 3, 3), 18, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_i64("shape", 1, CV_TEST_DIMS(2), CV_TEST_DIMS(0, -1), 2));
    Onnx__NodeProto *n = cv_test_onnx_node(m, "Conv", "conv", CV_TEST_NAMES("x", "k"), CV_TEST_NAMES("c"));
    cv_test_onnx_attr_ints(n, "pads", CV_TEST_DIMS(1, 1, 1, 1), 4);
    n = cv_test_onnx_node(m, "Clip", "clip", CV_TEST_NAMES("c"), CV_TEST_NAMES("r"));
    cv_test_onnx_attr_float(n, "max", 6.0f);
    n = cv_test_onnx_node(m, "Slice", "slice", CV_TEST_NAMES("r"), CV_TEST_NAMES("s"));
    cv_test_onnx_attr_ints(n, "starts", CV_TEST_DIMS(1), 1);
    cv_test_onnx_attr_ints(n, "ends", CV_TEST_DIMS(3), 1);
    cv_test_onnx_attr_ints(n, "axes", CV_TEST_DIMS(2), 1);
    n = cv_test_onnx_node(m, "Constant", "one", CV_TEST_NAMES(NULL), CV_TEST_NAMES("one"));
    cv_test_onnx_attr(n, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t =
        cv_test_onnx_tensor_f32("", 0, NULL, 1, false);
    cv_test_onnx_node(m, "Add", "add", CV_TEST_NAMES("s", "one"), CV_TEST_NAMES("a"));
    cv_test_onnx_node(m, "Reshape", "flat", CV_TEST_NAMES("a", "shape"), CV_TEST_NAMES("y"));
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(-1, 16));
    return m;
}

static void test_out_of_memory(void **state)
{
    const char *path = cv_test_onnx_write(rich_model(), "oom.onnx");
    size_t live = cv_alloc_live_bytes();
    int failures;
    cv_graph_t *g = load_under_oom(path, "oom.onnx", &failures);
    assert_int_equal(g->nnodes, 6);
    assert_int_equal(g->nodes[2].ninputs, 4);
    cv_graph_destroy(g);
    assert_int_equal(cv_alloc_live_bytes(), live);
    assert_true(failures > 20);

    /* the same for a TensorProto file */
    cv_tensor_t t;
    cv_err_t err;
    float v[3] = {1, 2, 3};
    cv_tensor_t src = {.dtype = CV_DTYPE_FP32, .shape = {.ndim = 1, .dims = {3}}, .data = v};
    const char *pb = cv_test_tmp_path("oom.pb");
    assert_int_equal(cv_tensor_write_pb(pb, "v", &src, &err), CV_STATUS_OK);
    for (long n = 1;; n++) {
        cv_alloc_fail_after(n);
        cv_status status = cv_tensor_read_pb(pb, &t, &err);
        cv_alloc_fail_after(0);
        if (status == CV_STATUS_OK) {
            assert_float_equal(((float *)t.data)[2], 3.0f, 0);
            cv_tensor_free(&t);
            break;
        }
        assert_int_equal(status, CV_STATUS_OUT_OF_MEMORY);
        assert_null(t.data);
        assert_int_equal(cv_alloc_live_bytes(), live);
    }
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* ---- TensorProto files ---------------------------------------------------------------- */

static void round_trip(cv_dtype_t dtype, const void *data, int ndim, const int64_t *dims)
{
    cv_tensor_t t = {.dtype = dtype, .shape = {.ndim = ndim}, .data = (void *)data};
    for (int i = 0; i < ndim; i++) t.shape.dims[i] = dims[i];
    char file[64];
    snprintf(file, sizeof file, "rt_%s.pb", cv_dtype_name(dtype));
    const char *path = cv_test_tmp_path(file);
    cv_err_t err = {{0}};
    size_t live = cv_alloc_live_bytes();
    assert_int_equal(cv_tensor_write_pb(path, "input_0", &t, &err), CV_STATUS_OK);
    cv_tensor_t back;
    if (cv_tensor_read_pb(path, &back, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    assert_int_equal(back.dtype, dtype);
    assert_true(cv_shape_equal(&back.shape, &t.shape));
    assert_memory_equal(back.data, data, cv_tensor_nbytes(&t));
    cv_tensor_free(&back);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

static void expect_pb_refusal(const char *file, const void *bytes, size_t len, cv_status want,
                              const char *needle)
{
    const char *path = cv_test_tmp_path(file);
    if (bytes) cv_test_write_file(path, bytes, len);
    cv_tensor_t t;
    cv_err_t err = {{0}};
    size_t live = cv_alloc_live_bytes();
    cv_status status = cv_tensor_read_pb(path, &t, &err);
    if (status != want) fail_msg("%s: got %s (%s)", file, cv_status_str(status), err.msg);
    assert_null(t.data);
    assert_non_null(strstr(err.msg, file));
    if (!strstr(err.msg, needle)) fail_msg("'%s' not in: %s", needle, err.msg);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

static uint8_t *pack_tensor(const Onnx__TensorProto *t, size_t *len)
{
    *len = onnx__tensor_proto__get_packed_size(t);
    uint8_t *buf = cv_test_onnx_alloc(*len);
    onnx__tensor_proto__pack(t, buf);
    return buf;
}

static void test_tensor_files(void **state)
{
    float f32[6] = {1.5f, -2.0f, 0.0f, 3.25f, -1e30f, 7.0f};
    round_trip(CV_DTYPE_FP32, f32, 2, CV_TEST_DIMS(2, 3));
    int64_t i64[3] = {INT64_MIN, -1, INT64_MAX};
    round_trip(CV_DTYPE_INT64, i64, 1, CV_TEST_DIMS(3));
    uint16_t f16[4] = {cv_fp32_to_fp16(1.0f), cv_fp32_to_fp16(-0.5f), 0x7c00, 0x0001};
    round_trip(CV_DTYPE_FP16, f16, 3, CV_TEST_DIMS(2, 1, 2));
    uint8_t b[5] = {1, 0, 0, 1, 1};
    round_trip(CV_DTYPE_BOOL, b, 1, CV_TEST_DIMS(5));
    double f64 = -0.125;
    round_trip(CV_DTYPE_FP64, &f64, 0, NULL);     /* a scalar */
    round_trip(CV_DTYPE_UINT8, b, 2, CV_TEST_DIMS(5, 0)); /* no elements */

    /* typed fields as the ONNX test data writes them */
    Onnx__TensorProto *t = cv_test_onnx_tensor("typed", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 1, CV_TEST_DIMS(2));
    static int32_t halves[2] = {0x3c00, 0xbc00};
    t->int32_data = halves;
    t->n_int32_data = 2;
    size_t len;
    uint8_t *buf = pack_tensor(t, &len);
    const char *path = cv_test_tmp_path("typed.pb");
    cv_test_write_file(path, buf, len);
    cv_tensor_t back;
    cv_err_t err = {{0}};
    assert_int_equal(cv_tensor_read_pb(path, &back, &err), CV_STATUS_OK);
    assert_int_equal(back.dtype, CV_DTYPE_FP16);
    assert_float_equal(cv_tensor_get_f64(&back, 1), -1.0, 0);
    cv_tensor_free(&back);

    expect_pb_refusal("absent.pb", NULL, 0, CV_STATUS_NOT_FOUND, "cannot open");
    expect_pb_refusal("empty.pb", "", 0, CV_STATUS_INVALID_ARGUMENT, "file is empty");
    expect_pb_refusal("corrupt.pb", "\x0a\xff\xff\xff", 4, CV_STATUS_INVALID_ARGUMENT,
                      "not a serialized TensorProto");
    buf = pack_tensor(cv_test_onnx_tensor("s", ONNX__TENSOR_PROTO__DATA_TYPE__STRING, 1, CV_TEST_DIMS(1)), &len);
    expect_pb_refusal("string.pb", buf, len, CV_STATUS_UNSUPPORTED,
                      "dtype STRING of tensor 's' is not supported");
    buf = pack_tensor(cv_test_onnx_tensor_f32("c", 2, CV_TEST_DIMS(2, 2), 3, false), &len);
    expect_pb_refusal("count.pb", buf, len, CV_STATUS_INVALID_ARGUMENT,
                      "tensor 'c' has 3 values but its dims [2,2] need 4");
    /* a model is not a tensor */
    buf = cv_test_onnx_pack(relu_model(13), &len);
    expect_pb_refusal("model.pb", buf, len, CV_STATUS_INVALID_ARGUMENT,
                      "not a serialized TensorProto");

    cv_tensor_t s = {.dtype = CV_DTYPE_STRING, .shape = {.ndim = 1, .dims = {1}}, .data = b};
    assert_int_equal(cv_tensor_write_pb(cv_test_tmp_path("s.pb"), "s", &s, &err), CV_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "STRING"));
    cv_tensor_t ok = {.dtype = CV_DTYPE_FP32, .shape = {.ndim = 1, .dims = {1}}, .data = f32};
    assert_int_equal(cv_tensor_write_pb("/nonexistent-dir/x.pb", "x", &ok, &err),
                     CV_STATUS_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.pb"));
}

/* ---- real models ------------------------------------------------------------------------ */

static void test_shared_models(void **state)
{
    if (!cv_test_have_shared()) {
        printf("SKIP: %s/models is absent\n", CARAVEL_SHARED_DIR);
        skip();
    }
    glob_t gl;
    assert_int_equal(glob(CARAVEL_SHARED_DIR "/models/*/model.onnx", 0, NULL, &gl), 0);
    assert_true(gl.gl_pathc > 0);
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        size_t live = cv_alloc_live_bytes();
        cv_graph_t *g = NULL;
        cv_err_t err = {{0}};
        if (cv_onnx_load(gl.gl_pathv[i], &g, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
        /* torchvision classifiers: one image input with a dynamic batch */
        assert_int_equal(g->ninputs, 1);
        assert_int_equal(g->noutputs, 1);
        assert_true(g->batched);
        const cv_value_t *x = &g->values[g->inputs[0]];
        assert_int_equal(x->dtype, CV_DTYPE_FP32);
        assert_int_equal(x->shape.ndim, 4);
        assert_int_equal(x->shape.dims[1], 3);
        assert_true(g->nnodes > 10);
        int weights = 0;
        for (int v = 0; v < g->nvalues; v++) weights += g->values[v].is_weight;
        assert_true(weights > 10);
        cv_graph_destroy(g);
        assert_int_equal(cv_alloc_live_bytes(), live);
    }
    globfree(&gl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_relu_model, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_initializers, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_initializer_dtypes, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_attributes_and_order, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_canonical_form, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_opset6, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_bad_files, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_deep_nesting, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_mutated_models, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_bad_graphs, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_external_data, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_out_of_memory, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_tensor_files, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_shared_models, cv_test_onnx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
