/*
 * mutate_onnx_model.c: a structure-aware mutator for fuzz_onnx_model, linked
 * only into its libFuzzer build (`make fuzz`).
 *
 * libFuzzer's own mutations flip bytes; in a protobuf most flips break the
 * wire format or a length, and the loader refuses the file before shape
 * inference or a kernel sees it. Half of the time this mutator instead
 * parses the model (protobuf-c, as the loader does), changes one thing a
 * hostile or broken exporter could write - an attribute, a dim, a value of
 * a shape or axes initializer, an element type, an operator, a wire between
 * nodes - and serializes it again, so that the model still parses and the
 * change reaches the IR. The other half, and whenever the bytes do not
 * parse or the result would be too long, it leaves the input to libFuzzer.
 *
 * What it deliberately does not do: keep models valid. Producing what the
 * library must refuse, in every combination, is the point.
 */
#include "onnx/onnx_internal.h"

#include "onnx.pb-c.h"

#include <stdlib.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t next(rng_t *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

/* A random index below n (n > 0). */
static size_t pick(rng_t *r, size_t n)
{
    return (size_t)(next(r) % n);
}

/* Integers that find edges: small dims and axes, negatives, zero, and the
 * values that overflow products and sums. */
static int64_t interesting_int(rng_t *r)
{
    static const int64_t values[] = {
        0, 1, 2, 3, 4, 5, 7, 8, 16, 64, 255, 256, 1000, -1, -2, -3, -4, -8, -1000,
        INT32_MAX, INT32_MIN, (int64_t)1 << 31, (int64_t)1 << 32, (int64_t)1 << 40,
        (int64_t)1 << 62, INT64_MAX, INT64_MIN, INT64_MAX / 2, -(INT64_MAX / 2),
    };
    if (next(r) % 3 == 0) return (int64_t)pick(r, 10) - 3;
    return values[pick(r, CV_ARRAY_LEN(values))];
}

static float interesting_float(rng_t *r)
{
    static const float values[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 1e-30f, 1e30f, -1e30f,
                                   3.4e38f, __builtin_inff(), -__builtin_inff(), __builtin_nanf("")};
    return values[pick(r, CV_ARRAY_LEN(values))];
}

/* ONNX element types, the ones Caravel refuses included. */
static int32_t interesting_dtype(rng_t *r)
{
    return (int32_t)pick(r, 27);
}

/* Replaces a protobuf-c string (allocated with malloc by the default
 * allocator, or the shared empty default, which is not freed). */
static void set_string(char **field, const char *value)
{
    char *copy = strdup(value);
    if (!copy) return;
    if (*field && *field != protobuf_c_empty_string) free(*field);
    *field = copy;
}

/* Some element of an int64 array, or of INT64/INT32 raw data. */
static void mutate_tensor(rng_t *r, Onnx__TensorProto *t)
{
    switch (pick(r, 4)) {
    case 0: /* a dim */
        if (t->n_dims) t->dims[pick(r, t->n_dims)] = interesting_int(r);
        return;
    case 1: /* the element type */
        t->has_data_type = 1;
        t->data_type = interesting_dtype(r);
        return;
    default: break;
    }
    if (t->n_int64_data) {
        t->int64_data[pick(r, t->n_int64_data)] = interesting_int(r);
    } else if (t->n_int32_data) {
        t->int32_data[pick(r, t->n_int32_data)] = (int32_t)interesting_int(r);
    } else if (t->n_float_data) {
        t->float_data[pick(r, t->n_float_data)] = interesting_float(r);
    } else if (t->has_raw_data && t->raw_data.len >= 8 && t->data_type == CV_DTYPE_INT64) {
        int64_t v = interesting_int(r);
        memcpy(t->raw_data.data + 8 * pick(r, t->raw_data.len / 8), &v, 8);
    } else if (t->has_raw_data && t->raw_data.len >= 4 && t->data_type == CV_DTYPE_INT32) {
        int32_t v = (int32_t)interesting_int(r);
        memcpy(t->raw_data.data + 4 * pick(r, t->raw_data.len / 4), &v, 4);
    } else if (t->has_raw_data && t->raw_data.len >= 4 && t->data_type == CV_DTYPE_FP32) {
        float v = interesting_float(r);
        memcpy(t->raw_data.data + 4 * pick(r, t->raw_data.len / 4), &v, 4);
    }
}

static void mutate_attribute(rng_t *r, Onnx__AttributeProto *a)
{
    if (a->n_ints && next(r) % 4 == 0) { /* one entry more or fewer */
        size_t n = next(r) & 1 ? a->n_ints + 1 : a->n_ints - 1;
        int64_t *grown = realloc(a->ints, sizeof(int64_t) * (n ? n : 1));
        if (!grown) return;
        a->ints = grown;
        if (n > a->n_ints) grown[a->n_ints] = interesting_int(r);
        a->n_ints = n;
        return;
    }
    if (a->n_ints) {
        a->ints[pick(r, a->n_ints)] = interesting_int(r);
    } else if (a->has_i) {
        a->i = interesting_int(r);
    } else if (a->has_f) {
        a->f = interesting_float(r);
    } else if (a->n_floats) {
        a->floats[pick(r, a->n_floats)] = interesting_float(r);
    } else if (a->t) {
        mutate_tensor(r, a->t);
    } else if (a->has_s && a->s.len) {
        a->s.data[pick(r, a->s.len)] = (uint8_t)next(r);
    }
}

/* A declared type: its element type or one of its dims. */
static void mutate_value_info(rng_t *r, Onnx__ValueInfoProto *vi)
{
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) return;
    Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    if (!tt) return;
    if (next(r) % 4 == 0 || !tt->shape || !tt->shape->n_dim) {
        tt->has_elem_type = 1;
        tt->elem_type = interesting_dtype(r);
        return;
    }
    Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[pick(r, tt->shape->n_dim)];
    if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
        if (d->dim_param && d->dim_param != protobuf_c_empty_string) free(d->dim_param);
    }
    d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    d->dim_value = interesting_int(r);
}

/* Any value name of the graph: inputs, initializers, node outputs. */
static const char *some_name(rng_t *r, const Onnx__GraphProto *gp)
{
    size_t n = gp->n_input + gp->n_initializer + gp->n_node;
    if (!n) return NULL;
    size_t k = pick(r, n);
    if (k < gp->n_input) return gp->input[k]->name;
    k -= gp->n_input;
    if (k < gp->n_initializer) return gp->initializer[k]->name;
    k -= gp->n_initializer;
    const Onnx__NodeProto *np = gp->node[k];
    return np->n_output ? np->output[pick(r, np->n_output)] : NULL;
}

/* Appends an attribute the node may not have: a name ops read, as an int
 * or a list of ints (the types most attributes have). */
static void add_attribute(rng_t *r, Onnx__NodeProto *np)
{
    static const char *const names[] = {
        "axis", "axes", "perm", "pads", "strides", "kernel_shape", "dilations", "group",
        "keepdims", "transA", "transB", "auto_pad", "ceil_mode", "count_include_pad", "start",
        "end", "split", "num_outputs", "size", "to", "storage_order", "noop_with_empty_axes",
        "allowzero", "broadcast", "epsilon", "alpha", "beta", "value", "mode", "approximate"};
    Onnx__AttributeProto **grown =
        realloc(np->attribute, sizeof(*grown) * (np->n_attribute + 1));
    if (!grown) return;
    np->attribute = grown;
    Onnx__AttributeProto *a = malloc(sizeof(*a));
    if (!a) return;
    onnx__attribute_proto__init(a);
    a->name = strdup(names[pick(r, CV_ARRAY_LEN(names))]);
    if (!a->name) {
        free(a);
        return;
    }
    a->has_type = 1;
    if (next(r) & 1) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = interesting_int(r);
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        a->n_ints = 1 + pick(r, 4);
        a->ints = malloc(sizeof(int64_t) * a->n_ints);
        if (!a->ints) a->n_ints = 0;
        for (size_t i = 0; i < a->n_ints; i++) a->ints[i] = interesting_int(r);
    }
    grown[np->n_attribute++] = a;
}

/* Appends an input (a variadic op's operand, an optional input given). */
static void add_input(rng_t *r, const Onnx__GraphProto *gp, Onnx__NodeProto *np)
{
    const char *name = some_name(r, gp);
    char *copy = name ? strdup(name) : NULL;
    char **grown = copy ? realloc(np->input, sizeof(*grown) * (np->n_input + 1)) : NULL;
    if (!grown) {
        free(copy);
        return;
    }
    np->input = grown;
    grown[np->n_input++] = copy;
}

static void mutate_node(rng_t *r, Onnx__GraphProto *gp, Onnx__NodeProto *np)
{
    const char *name;
    switch (pick(r, 8)) {
    case 6: add_attribute(r, np); return;
    case 7: add_input(r, gp, np); return;
    case 0: /* another operator, attributes and inputs as they are */
        set_string(&np->op_type, cv_op_name((cv_op_t)pick(r, CV_OP_COUNT)));
        return;
    case 1: /* an input wired to another value (cycles included) */
        name = some_name(r, gp);
        if (np->n_input && name) set_string(&np->input[pick(r, np->n_input)], name);
        return;
    case 2: /* an input left out, as optional inputs are ("") */
        if (np->n_input) set_string(&np->input[pick(r, np->n_input)], "");
        return;
    case 3: /* an input or output fewer */
        if (next(r) & 1 && np->n_input) free(np->input[--np->n_input]);
        else if (np->n_output > 1) free(np->output[--np->n_output]);
        return;
    default:
        if (np->n_attribute) mutate_attribute(r, np->attribute[pick(r, np->n_attribute)]);
        return;
    }
}

/* One change somewhere in the graph. */
static void mutate_graph(rng_t *r, Onnx__GraphProto *gp)
{
    for (int tries = 0; tries < 4; tries++) {
        switch (pick(r, 4)) {
        case 0:
            if (!gp->n_node) continue;
            mutate_node(r, gp, gp->node[pick(r, gp->n_node)]);
            return;
        case 1:
            if (!gp->n_initializer) continue;
            mutate_tensor(r, gp->initializer[pick(r, gp->n_initializer)]);
            return;
        case 2:
            if (!gp->n_input) continue;
            mutate_value_info(r, gp->input[pick(r, gp->n_input)]);
            return;
        default:
            if (!gp->n_output) continue;
            mutate_value_info(r, gp->output[pick(r, gp->n_output)]);
            return;
        }
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    rng_t r = {.s = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1};
    if (next(&r) & 1) return LLVMFuzzerMutate(data, size, max_size);
    /* the loader's guard: protobuf-c would recurse without limit */
    cv_err_t err;
    if (size == 0 || cv_onnx_check_nesting(&onnx__model_proto__descriptor, data, size, "", &err) !=
                         CV_STATUS_OK)
        return LLVMFuzzerMutate(data, size, max_size);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    if (!m || !m->graph) {
        if (m) onnx__model_proto__free_unpacked(m, NULL);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    int changes = 1 + (int)pick(&r, 3);
    for (int i = 0; i < changes; i++) {
        if (m->n_opset_import && next(&r) % 16 == 0) {
            Onnx__OperatorSetIdProto *o = m->opset_import[0];
            o->has_version = 1;
            o->version = 5 + (int64_t)pick(&r, 18);
        } else {
            mutate_graph(&r, m->graph);
        }
    }
    size_t packed = onnx__model_proto__get_packed_size(m);
    if (packed > max_size) {
        onnx__model_proto__free_unpacked(m, NULL);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    onnx__model_proto__pack(m, data);
    onnx__model_proto__free_unpacked(m, NULL);
    return packed;
}
