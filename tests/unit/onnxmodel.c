/*
 * onnxmodel.c: ONNX models built in C (see onnxmodel.h).
 */
#include "onnxmodel.h"

#include <stdlib.h>
#include <string.h>

/* ---- the arena ---------------------------------------------------------------- */

#define ARENA_MAX 4096
static void *arena[ARENA_MAX];
static int arena_count;

void *cv_test_onnx_alloc(size_t bytes)
{
    assert_true(arena_count < ARENA_MAX);
    void *p = calloc(1, bytes ? bytes : 1);
    assert_non_null(p);
    arena[arena_count++] = p;
    return p;
}

char *cv_test_onnx_str(const char *s)
{
    char *p = cv_test_onnx_alloc(strlen(s) + 1);
    strcpy(p, s);
    return p;
}

int cv_test_onnx_teardown(void **state)
{
    for (int i = 0; i < arena_count; i++) free(arena[i]);
    arena_count = 0;
    return 0;
}

/* ---- models ------------------------------------------------------------------------ */

Onnx__ModelProto *cv_test_onnx_model(int64_t opset)
{
    Onnx__ModelProto *m = cv_test_onnx_alloc(sizeof(*m));
    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = 8;
    Onnx__OperatorSetIdProto *o = cv_test_onnx_alloc(sizeof(*o));
    onnx__operator_set_id_proto__init(o);
    o->domain = cv_test_onnx_str("");
    o->has_version = 1;
    o->version = opset;
    m->opset_import = cv_test_onnx_alloc(sizeof(void *) * CV_TEST_ONNX_CAP);
    m->opset_import[m->n_opset_import++] = o;
    Onnx__GraphProto *g = cv_test_onnx_alloc(sizeof(*g));
    onnx__graph_proto__init(g);
    g->name = cv_test_onnx_str("test");
    g->node = cv_test_onnx_alloc(sizeof(void *) * CV_TEST_ONNX_CAP);
    g->initializer = cv_test_onnx_alloc(sizeof(void *) * CV_TEST_ONNX_CAP);
    g->input = cv_test_onnx_alloc(sizeof(void *) * CV_TEST_ONNX_CAP);
    g->output = cv_test_onnx_alloc(sizeof(void *) * CV_TEST_ONNX_CAP);
    g->value_info = cv_test_onnx_alloc(sizeof(void *) * CV_TEST_ONNX_CAP);
    m->graph = g;
    return m;
}

Onnx__ValueInfoProto *cv_test_onnx_value_info(const char *name, int32_t elem, int ndim, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = cv_test_onnx_alloc(sizeof(*vi));
    onnx__value_info_proto__init(vi);
    vi->name = cv_test_onnx_str(name);
    Onnx__TypeProto *tp = cv_test_onnx_alloc(sizeof(*tp));
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = cv_test_onnx_alloc(sizeof(*tt));
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    Onnx__TensorShapeProto *sp = cv_test_onnx_alloc(sizeof(*sp));
    onnx__tensor_shape_proto__init(sp);
    sp->dim = cv_test_onnx_alloc(sizeof(void *) * (size_t)(ndim + 1));
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = cv_test_onnx_alloc(sizeof(*d));
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = cv_test_onnx_str("N");
        }
        sp->dim[sp->n_dim++] = d;
    }
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

void cv_test_onnx_input(Onnx__ModelProto *m, const char *name, int32_t elem, int ndim, const int64_t *dims)
{
    assert_true(m->graph->n_input < CV_TEST_ONNX_CAP);
    m->graph->input[m->graph->n_input++] = cv_test_onnx_value_info(name, elem, ndim, dims);
}

void cv_test_onnx_output(Onnx__ModelProto *m, const char *name, int32_t elem, int ndim, const int64_t *dims)
{
    assert_true(m->graph->n_output < CV_TEST_ONNX_CAP);
    m->graph->output[m->graph->n_output++] = cv_test_onnx_value_info(name, elem, ndim, dims);
}

Onnx__NodeProto *cv_test_onnx_node(Onnx__ModelProto *m, const char *op, const char *name,
                                   const char *const *inputs, const char *const *outputs)
{
    assert_true(m->graph->n_node < CV_TEST_ONNX_CAP);
    Onnx__NodeProto *n = cv_test_onnx_alloc(sizeof(*n));
    onnx__node_proto__init(n);
    n->op_type = cv_test_onnx_str(op);
    n->name = cv_test_onnx_str(name);
    n->input = cv_test_onnx_alloc(sizeof(char *) * CV_TEST_ONNX_CAP);
    n->output = cv_test_onnx_alloc(sizeof(char *) * CV_TEST_ONNX_CAP);
    n->attribute = cv_test_onnx_alloc(sizeof(void *) * CV_TEST_ONNX_CAP);
    for (; *inputs; inputs++) n->input[n->n_input++] = cv_test_onnx_str(*inputs);
    for (; *outputs; outputs++) n->output[n->n_output++] = cv_test_onnx_str(*outputs);
    m->graph->node[m->graph->n_node++] = n;
    return n;
}

Onnx__AttributeProto *cv_test_onnx_attr(Onnx__NodeProto *n, const char *name,
                                        Onnx__AttributeProto__AttributeType type)
{
    assert_true(n->n_attribute < CV_TEST_ONNX_CAP);
    Onnx__AttributeProto *a = cv_test_onnx_alloc(sizeof(*a));
    onnx__attribute_proto__init(a);
    a->name = cv_test_onnx_str(name);
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

void cv_test_onnx_attr_ints(Onnx__NodeProto *n, const char *name, const int64_t *v, size_t count)
{
    Onnx__AttributeProto *a = cv_test_onnx_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->ints = cv_test_onnx_alloc(sizeof(int64_t) * (count + 1));
    memcpy(a->ints, v, sizeof(int64_t) * count);
    a->n_ints = count;
}

void cv_test_onnx_attr_int(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = cv_test_onnx_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

void cv_test_onnx_attr_float(Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = cv_test_onnx_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

/* ---- tensors -------------------------------------------------------------------------- */

Onnx__TensorProto *cv_test_onnx_tensor(const char *name, int32_t dtype, int ndim, const int64_t *dims)
{
    Onnx__TensorProto *t = cv_test_onnx_alloc(sizeof(*t));
    onnx__tensor_proto__init(t);
    t->name = cv_test_onnx_str(name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->dims = cv_test_onnx_alloc(sizeof(int64_t) * (size_t)(ndim + 1));
    if (ndim) memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->n_dims = (size_t)ndim;
    return t;
}

void cv_test_onnx_tensor_raw(Onnx__TensorProto *t, const void *bytes, size_t len)
{
    t->has_raw_data = 1;
    t->raw_data.data = cv_test_onnx_alloc(len);
    memcpy(t->raw_data.data, bytes, len);
    t->raw_data.len = len;
}

Onnx__TensorProto *cv_test_onnx_tensor_f32(const char *name, int ndim, const int64_t *dims, size_t count,
                                           bool raw)
{
    Onnx__TensorProto *t = cv_test_onnx_tensor(name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims);
    float *v = cv_test_onnx_alloc(sizeof(float) * (count + 1));
    for (size_t i = 0; i < count; i++) v[i] = 0.5f * (float)(i + 1) - 2.0f;
    if (raw) {
        cv_test_onnx_tensor_raw(t, v, sizeof(float) * count);
    } else {
        t->float_data = v;
        t->n_float_data = count;
    }
    return t;
}

Onnx__TensorProto *cv_test_onnx_tensor_i64(const char *name, int ndim, const int64_t *dims,
                                           const int64_t *vals, size_t count)
{
    Onnx__TensorProto *t = cv_test_onnx_tensor(name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, ndim, dims);
    t->int64_data = cv_test_onnx_alloc(sizeof(int64_t) * (count + 1));
    memcpy(t->int64_data, vals, sizeof(int64_t) * count);
    t->n_int64_data = count;
    return t;
}

void cv_test_onnx_initializer(Onnx__ModelProto *m, Onnx__TensorProto *t)
{
    assert_true(m->graph->n_initializer < CV_TEST_ONNX_CAP);
    m->graph->initializer[m->graph->n_initializer++] = t;
}

/* ---- files ---------------------------------------------------------------------------------- */

uint8_t *cv_test_onnx_pack(const Onnx__ModelProto *m, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = cv_test_onnx_alloc(*len);
    assert_int_equal(onnx__model_proto__pack(m, buf), *len);
    return buf;
}

const char *cv_test_onnx_write(const Onnx__ModelProto *m, const char *file)
{
    size_t len;
    uint8_t *buf = cv_test_onnx_pack(m, &len);
    const char *path = cv_test_tmp_path(file);
    cv_test_write_file(path, buf, len);
    return path;
}
