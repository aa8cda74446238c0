/*
 * onnx_canon.c: rewrites nodes of older opsets into the newest form, so that
 * shape inference and kernels know one form of each operator.
 *
 * Attributes that later opsets turned into inputs become constant inputs
 * (INT64 vectors, or scalars of the data's float type), named
 * "<output 0>__<attribute>" and marked is_weight = false: they are structure,
 * equal across the tenants of a family. The converted attribute is removed,
 * so nothing ever sees both forms:
 *   Slice < 10           starts, ends, [axes]      -> inputs 1, 2, [3]
 *   Split < 13           [split]                   -> input 1
 *   Squeeze/Unsqueeze<13 axes                      -> input 1
 *   ReduceSum < 13,
 *   ReduceMean < 18      [axes]                    -> input 1
 *   Clip < 11            min, max (default -inf, +inf) -> scalar inputs 1, 2
 *   Pad < 11             pads, value (default 0)   -> inputs 1, 2; mode stays
 * Attributes that no longer mean anything at inference are dropped
 * (Dropout's ratio and is_test, BatchNormalization's spatial, is_test and
 * consumed_inputs). The training outputs of BatchNormalization and Dropout's
 * mask are omitted by the loader when nothing reads them (they never become
 * values).
 */
#include "onnx/onnx_loader.h"

#include "ir/infer.h"

#include <math.h>
#include <string.h>

static int attr_index(const cv_node_t *n, const char *name)
{
    for (int i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return i;
    return -1;
}

static void drop_attr(cv_node_t *n, const char *name)
{
    int i = attr_index(n, name);
    if (i < 0) return;
    cv_attr_free(&n->attrs[i]);
    memmove(&n->attrs[i], &n->attrs[i + 1], sizeof(cv_attr_t) * (size_t)(n->nattrs - i - 1));
    n->nattrs--;
}

/* The attribute `name` as a list of ints, or NULL (with *count 0) when the
 * node lacks it; INVALID_ARGUMENT when it has another type. */
static cv_status attr_ints(const cv_node_t *n, const char *name, const int64_t **ints, int *count,
                           cv_err_t *err)
{
    *ints = NULL;
    *count = 0;
    const cv_attr_t *a = cv_node_attr(n, name);
    if (!a) return CV_STATUS_OK;
    if (a->type != CV_ATTR_INTS)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "attribute '%s' must be a list of ints",
                         name);
    *ints = a->ints;
    *count = a->n;
    return CV_STATUS_OK;
}

static cv_status attr_float(const cv_node_t *n, const char *name, float dflt, float *out,
                            cv_err_t *err)
{
    *out = dflt;
    const cv_attr_t *a = cv_node_attr(n, name);
    if (!a) return CV_STATUS_OK;
    if (a->type == CV_ATTR_FLOAT)
        *out = a->f;
    else if (a->type == CV_ATTR_INT)
        *out = (float)a->i;
    else
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "attribute '%s' must be a float", name);
    return CV_STATUS_OK;
}

/* A name no value of g has yet: "<base>__<suffix>", then "..._2", ... */
static char *unique_name(const cv_graph_t *g, int node, const cv_onnx_names_t *values,
                         const char *suffix)
{
    const cv_node_t *n = &g->nodes[node];
    char fallback[32];
    const char *base;
    if (n->noutputs > 0 && n->outputs[0] >= 0) {
        base = g->values[n->outputs[0]].name;
    } else if (n->name[0]) {
        base = n->name;
    } else {
        snprintf(fallback, sizeof fallback, "node%d", node);
        base = fallback;
    }
    size_t len = strlen(base) + strlen(suffix) + 32;
    char *name = cv_malloc(len);
    if (!name) return NULL;
    snprintf(name, len, "%s__%s", base, suffix);
    for (int k = 2; cv_onnx_names_find(values, name) >= 0; k++)
        snprintf(name, len, "%s__%s_%d", base, suffix, k);
    return name;
}

/* Sets input `slot` of the node, growing its input list with omitted (-1)
 * inputs as needed. */
static cv_status set_input(cv_node_t *n, int slot, int value)
{
    if (slot >= n->ninputs) {
        int *fresh = cv_realloc(n->inputs, sizeof(int) * (size_t)(slot + 1));
        if (!fresh) return CV_STATUS_OUT_OF_MEMORY;
        for (int i = n->ninputs; i <= slot; i++) fresh[i] = -1;
        n->inputs = fresh;
        n->ninputs = slot + 1;
    }
    n->inputs[slot] = value;
    return CV_STATUS_OK;
}

/* Adds a constant tensor `t` (ownership taken; NULL: its allocation failed)
 * as input `slot` of the node. */
static cv_status add_const_input(cv_graph_t *g, int node, cv_onnx_names_t *values, int slot,
                                 const char *suffix, cv_tensor_t *t, cv_err_t *err)
{
    char *name = t ? unique_name(g, node, values, suffix) : NULL;
    int idx = name ? cv_graph_add_constant(g, name, t, false) : -1;
    cv_free(name);
    if (idx < 0) {
        cv_tensor_destroy(t);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    if (cv_onnx_names_put(values, g->values[idx].name, idx) != CV_STATUS_OK ||
        set_input(&g->nodes[node], slot, idx) != CV_STATUS_OK)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    return CV_STATUS_OK;
}

static cv_status add_ints_input(cv_graph_t *g, int node, cv_onnx_names_t *values, int slot,
                                const char *suffix, const int64_t *vals, int count, cv_err_t *err)
{
    cv_shape_t shape = {.ndim = 1, .dims = {count}};
    cv_tensor_t *t = cv_tensor_new(CV_DTYPE_INT64, &shape);
    if (t && count) memcpy(t->data, vals, sizeof(int64_t) * (size_t)count);
    return add_const_input(g, node, values, slot, suffix, t, err);
}

/* A scalar of the data's float type (FP32 when it is not known yet). */
static cv_status add_scalar_input(cv_graph_t *g, int node, cv_onnx_names_t *values, int slot,
                                  const char *suffix, double value, cv_err_t *err)
{
    const cv_node_t *n = &g->nodes[node];
    cv_dtype_t dtype = CV_DTYPE_FP32;
    if (n->ninputs > 0 && n->inputs[0] >= 0 && cv_dtype_is_float(g->values[n->inputs[0]].dtype))
        dtype = g->values[n->inputs[0]].dtype;
    cv_shape_t scalar = {.ndim = 0};
    cv_tensor_t *t = cv_tensor_new(dtype, &scalar);
    if (t) cv_tensor_set_f64(t, 0, value);
    return add_const_input(g, node, values, slot, suffix, t, err);
}

/* Before opset `since`, the node had only its data input. */
static cv_status require_one_input(const cv_node_t *n, int since, cv_err_t *err)
{
    if (n->ninputs == 1) return CV_STATUS_OK;
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                     "before opset %d this operator takes 1 input, not %d", since, n->ninputs);
}

/* Moves INTS attribute `attr` to input `slot` (when present, or always when
 * `required`). */
static cv_status ints_attr_to_input(cv_graph_t *g, int node, cv_onnx_names_t *values,
                                    const char *attr, int slot, bool required, int since,
                                    cv_err_t *err)
{
    const int64_t *vals;
    int count;
    cv_status status = attr_ints(&g->nodes[node], attr, &vals, &count, err);
    if (status != CV_STATUS_OK) return status;
    if (!cv_node_attr(&g->nodes[node], attr)) {
        if (!required) return CV_STATUS_OK;
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "attribute '%s' is required before opset %d", attr, since);
    }
    status = add_ints_input(g, node, values, slot, attr, vals, count, err);
    if (status == CV_STATUS_OK) drop_attr(&g->nodes[node], attr);
    return status;
}

static cv_status canon_slice(cv_graph_t *g, int node, cv_onnx_names_t *values, cv_err_t *err)
{
    cv_status status = require_one_input(&g->nodes[node], 10, err);
    if (status == CV_STATUS_OK)
        status = ints_attr_to_input(g, node, values, "starts", 1, true, 10, err);
    if (status == CV_STATUS_OK)
        status = ints_attr_to_input(g, node, values, "ends", 2, true, 10, err);
    if (status == CV_STATUS_OK)
        status = ints_attr_to_input(g, node, values, "axes", 3, false, 10, err);
    return status;
}

static cv_status canon_axes(cv_graph_t *g, int node, cv_onnx_names_t *values, bool required,
                            int since, cv_err_t *err)
{
    cv_status status = require_one_input(&g->nodes[node], since, err);
    if (status != CV_STATUS_OK) return status;
    return ints_attr_to_input(g, node, values, "axes", 1, required, since, err);
}

static cv_status canon_clip(cv_graph_t *g, int node, cv_onnx_names_t *values, cv_err_t *err)
{
    cv_node_t *n = &g->nodes[node];
    float lo, hi;
    cv_status status = require_one_input(n, 11, err);
    if (status == CV_STATUS_OK) status = attr_float(n, "min", -INFINITY, &lo, err);
    if (status == CV_STATUS_OK) status = attr_float(n, "max", INFINITY, &hi, err);
    if (status == CV_STATUS_OK) status = add_scalar_input(g, node, values, 1, "min", lo, err);
    if (status == CV_STATUS_OK) status = add_scalar_input(g, node, values, 2, "max", hi, err);
    if (status != CV_STATUS_OK) return status;
    drop_attr(&g->nodes[node], "min");
    drop_attr(&g->nodes[node], "max");
    return CV_STATUS_OK;
}

static cv_status canon_pad(cv_graph_t *g, int node, cv_onnx_names_t *values, cv_err_t *err)
{
    float value;
    cv_status status = require_one_input(&g->nodes[node], 11, err);
    if (status == CV_STATUS_OK) status = attr_float(&g->nodes[node], "value", 0.0f, &value, err);
    if (status == CV_STATUS_OK)
        status = ints_attr_to_input(g, node, values, "pads", 1, true, 11, err);
    if (status == CV_STATUS_OK) status = add_scalar_input(g, node, values, 2, "value", value, err);
    if (status == CV_STATUS_OK) drop_attr(&g->nodes[node], "value");
    return status;
}

static cv_status canon_batch_norm(cv_graph_t *g, int node, cv_err_t *err)
{
    cv_node_t *n = &g->nodes[node];
    /* spatial = 0 (opsets 7-8) normalises per activation, with statistics of
     * shape C x D1 x ...; with 1-D statistics it is the same as spatial = 1. */
    if (cv_node_attr_int(n, "spatial", 1) == 0) {
        for (int i = 1; i < n->ninputs && i < 5; i++) {
            const cv_value_t *v = n->inputs[i] >= 0 ? &g->values[n->inputs[i]] : NULL;
            if (!v || !v->constant || v->shape.ndim != 1)
                return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                                 "attribute 'spatial' = 0 with statistics that are not "
                                 "constant 1-D tensors is not supported");
        }
    }
    drop_attr(n, "spatial");
    drop_attr(n, "is_test");
    drop_attr(n, "consumed_inputs");
    return CV_STATUS_OK;
}

bool cv_onnx_output_is_training_only(cv_op_t op, int index)
{
    return index >= 1 && (op == CV_OP_BATCH_NORMALIZATION || op == CV_OP_DROPOUT);
}

cv_status cv_onnx_canonicalize_node(cv_graph_t *g, int node, cv_onnx_names_t *values, cv_err_t *err)
{
    cv_node_t *n = &g->nodes[node];
    int opset = n->opset;
    switch (n->op) {
    case CV_OP_SLICE: return opset < 10 ? canon_slice(g, node, values, err) : CV_STATUS_OK;
    case CV_OP_SPLIT:
        if (opset >= 13) return CV_STATUS_OK;
        if (cv_node_attr(n, "split")) {
            cv_status status = require_one_input(n, 13, err);
            if (status != CV_STATUS_OK) return status;
        }
        return ints_attr_to_input(g, node, values, "split", 1, false, 13, err);
    case CV_OP_SQUEEZE:
        return opset < 13 ? canon_axes(g, node, values, false, 13, err) : CV_STATUS_OK;
    case CV_OP_UNSQUEEZE:
        return opset < 13 ? canon_axes(g, node, values, true, 13, err) : CV_STATUS_OK;
    case CV_OP_REDUCE_SUM:
        return opset < 13 ? canon_axes(g, node, values, false, 13, err) : CV_STATUS_OK;
    case CV_OP_REDUCE_MEAN:
        return opset < 18 ? canon_axes(g, node, values, false, 18, err) : CV_STATUS_OK;
    case CV_OP_CLIP: return opset < 11 ? canon_clip(g, node, values, err) : CV_STATUS_OK;
    case CV_OP_PAD: return opset < 11 ? canon_pad(g, node, values, err) : CV_STATUS_OK;
    case CV_OP_DROPOUT:
        if (opset < 12) {
            drop_attr(n, "ratio");
            drop_attr(n, "is_test");
        }
        return CV_STATUS_OK;
    case CV_OP_BATCH_NORMALIZATION: return canon_batch_norm(g, node, err);
    default: return CV_STATUS_OK;
    }
}
