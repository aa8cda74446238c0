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
 *
 * Opset 6 (the oldest the loader reads) differs from opset 7 in broadcasting:
 *   Add, Sub, Mul, Div, Pow, Equal < 7: broadcast = 0 wants equal shapes and
 *       broadcast = 1 broadcasts B to A with B's dims aligned to A's from
 *       `axis` (at the end when absent; -1 too, as Caffe2, the reference
 *       backend of those opsets, reads it). Both attributes are dropped;
 *       where `axis` does not already align B at the end, B gets
 *       rank(A) - axis - rank(B) trailing 1s, so numpy broadcasting gives
 *       the same result: a constant B is replaced by a reshaped copy, a
 *       computed B is read through an inserted Unsqueeze.
 *   PRelu < 7: a 1-D slope of size C applies per channel (dim 1 of X); it
 *       gets rank(X) - 2 trailing 1s the same way.
 *   Gemm < 7: `broadcast` (numpy broadcasting of C from opset 7) is dropped.
 *   BatchNormalization, Dropout < 7: `is_test` is dropped (Caravel only
 *       infers). AveragePool < 7 excluded padding from the average, which is
 *       opset 7's default (count_include_pad = 0).
 * Those rewrites need ranks the file may not state; cv_onnx_canon_t keeps
 * what is known, and a rewrite that needs an unknown rank is refused
 * (UNSUPPORTED) rather than guessed.
 */
#include "onnx/onnx_internal.h"

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

/* ---- ranks known before shape inference -------------------------------- */

cv_status cv_onnx_canon_set_rank(cv_onnx_canon_t *c, int v, int rank)
{
    CV_ASSERT(v >= 0);
    if (v >= c->ranks_cap) {
        int cap = CV_MAX(v + 1, c->ranks_cap * 2);
        int *fresh = cv_realloc(c->ranks, sizeof(int) * (size_t)cap);
        if (!fresh) return CV_STATUS_OUT_OF_MEMORY;
        c->ranks = fresh;
        c->ranks_cap = cap;
    }
    for (; c->nranks <= v; c->nranks++) c->ranks[c->nranks] = -1;
    c->ranks[v] = rank;
    return CV_STATUS_OK;
}

void cv_onnx_canon_free(cv_onnx_canon_t *c)
{
    cv_free(c->ranks);
    c->ranks = NULL;
    c->nranks = c->ranks_cap = 0;
}

static int rank_of(const cv_graph_t *g, const cv_onnx_canon_t *c, int v)
{
    if (v < 0) return -1;
    if (g->values[v].constant) return g->values[v].constant->shape.ndim;
    return v < c->nranks ? c->ranks[v] : -1;
}

/* The tensor of value v when the file fixes it: an initializer, or the
 * `value` of the Constant node that outputs it (not folded yet at load). */
static const cv_tensor_t *known_tensor(const cv_graph_t *g, int v)
{
    if (v < 0) return NULL;
    const cv_value_t *val = &g->values[v];
    if (val->constant) return val->constant;
    if (val->producer < 0 || g->nodes[val->producer].op != CV_OP_CONSTANT) return NULL;
    const cv_attr_t *a = cv_node_attr(&g->nodes[val->producer], "value");
    return a && a->type == CV_ATTR_TENSOR ? a->tensor : NULL;
}

/* True when v is known to hold exactly one element (a scalar, [1], [1,1], ...):
 * such an operand broadcasts alike under opset 6's rules and numpy's. */
static bool is_one_element(const cv_graph_t *g, const cv_onnx_canon_t *c, int v)
{
    const cv_tensor_t *t = known_tensor(g, v);
    const cv_shape_t *shape = t ? &t->shape : NULL;
    /* a declared shape is stored with the rank; a rank found from a
     * producer leaves the shape empty (ndim 0), which reads as unknown here
     * unless the rank is 0 itself */
    if (!shape && rank_of(g, c, v) >= 0 && g->values[v].shape.ndim == rank_of(g, c, v))
        shape = &g->values[v].shape;
    if (!shape) return false;
    for (int i = 0; i < shape->ndim; i++)
        if (shape->dims[i] != 1) return false;
    return true;
}

/* Length of a 1-D constant (axes, a shape), or -1. */
static int known_length(const cv_graph_t *g, const cv_node_t *n, int slot)
{
    const cv_tensor_t *t = slot < n->ninputs ? known_tensor(g, n->inputs[slot]) : NULL;
    if (!t || t->shape.ndim != 1 || t->shape.dims[0] > CV_MAX_DIMS) return -1;
    return (int)t->shape.dims[0];
}

/* The rank of output `o` of node n (in canonical form) as far as it follows
 * from its inputs' ranks and its constant inputs and attributes; -1 when
 * that is not enough. Shape inference checks the node later: a wrong input
 * can only make this guess wrong for a node that inference then refuses. */
static int output_rank(const cv_graph_t *g, const cv_onnx_canon_t *c, const cv_node_t *n, int o)
{
    int r0 = n->ninputs > 0 ? rank_of(g, c, n->inputs[0]) : -1;
    switch (n->op) {
    case CV_OP_GEMM:
    case CV_OP_FLATTEN: return 2;
    case CV_OP_SHAPE:
    case CV_OP_RANGE: return 1;
    case CV_OP_CONSTANT: {
        const cv_attr_t *a = cv_node_attr(n, "value");
        if (a && a->type == CV_ATTR_TENSOR && a->tensor) return a->tensor->shape.ndim;
        if (cv_node_attr(n, "value_float") || cv_node_attr(n, "value_int")) return 0;
        if (cv_node_attr(n, "value_floats") || cv_node_attr(n, "value_ints")) return 1;
        return -1;
    }
    case CV_OP_BATCH_NORMALIZATION: return o == 0 ? r0 : 1;
    case CV_OP_CONV:
    case CV_OP_MAX_POOL:
    case CV_OP_AVERAGE_POOL:
    case CV_OP_GLOBAL_AVERAGE_POOL:
    case CV_OP_GLOBAL_MAX_POOL:
    case CV_OP_LRN:
    case CV_OP_LAYER_NORMALIZATION:
    case CV_OP_SOFTMAX:
    case CV_OP_LOG_SOFTMAX:
    case CV_OP_RELU:
    case CV_OP_LEAKY_RELU:
    case CV_OP_PRELU:
    case CV_OP_ELU:
    case CV_OP_SELU:
    case CV_OP_CLIP:
    case CV_OP_SIGMOID:
    case CV_OP_HARD_SIGMOID:
    case CV_OP_HARD_SWISH:
    case CV_OP_TANH:
    case CV_OP_ERF:
    case CV_OP_GELU:
    case CV_OP_SOFTPLUS:
    case CV_OP_SQRT:
    case CV_OP_EXP:
    case CV_OP_LOG:
    case CV_OP_NEG:
    case CV_OP_ABS:
    case CV_OP_CAST:
    case CV_OP_TRANSPOSE:
    case CV_OP_CONCAT:
    case CV_OP_SPLIT:
    case CV_OP_SLICE:
    case CV_OP_IDENTITY:
    case CV_OP_DROPOUT:
    case CV_OP_TILE:
    case CV_OP_PAD: return r0;
    case CV_OP_ADD:
    case CV_OP_SUB:
    case CV_OP_MUL:
    case CV_OP_DIV:
    case CV_OP_POW:
    case CV_OP_MIN:
    case CV_OP_MAX:
    case CV_OP_SUM:
    case CV_OP_MEAN:
    case CV_OP_EQUAL:
    case CV_OP_WHERE: {
        int r = -1;
        for (int i = 0; i < n->ninputs; i++) {
            int ri = rank_of(g, c, n->inputs[i]);
            if (ri < 0) return -1;
            r = CV_MAX(r, ri);
        }
        return r;
    }
    case CV_OP_MATMUL: {
        int r1 = n->ninputs > 1 ? rank_of(g, c, n->inputs[1]) : -1;
        if (r0 < 1 || r1 < 1) return -1;
        if (r0 == 1 || r1 == 1) return r0 + r1 - 2;
        return CV_MAX(r0, r1);
    }
    case CV_OP_GATHER: {
        int r1 = n->ninputs > 1 ? rank_of(g, c, n->inputs[1]) : -1;
        return r0 >= 1 && r1 >= 0 ? r0 - 1 + r1 : -1;
    }
    case CV_OP_RESHAPE:
    case CV_OP_CONSTANT_OF_SHAPE: return known_length(g, n, n->op == CV_OP_RESHAPE ? 1 : 0);
    case CV_OP_EXPAND: {
        int len = known_length(g, n, 1);
        return r0 >= 0 && len >= 0 ? CV_MAX(r0, len) : -1;
    }
    case CV_OP_SQUEEZE:
    case CV_OP_UNSQUEEZE: {
        int len = known_length(g, n, 1);
        if (r0 < 0 || len < 0) return -1;
        return n->op == CV_OP_SQUEEZE ? r0 - len : r0 + len;
    }
    case CV_OP_REDUCE_MEAN:
    case CV_OP_REDUCE_SUM: {
        if (r0 < 0 || cv_node_attr_int(n, "keepdims", 1)) return r0;
        bool has_axes = n->ninputs > 1 && n->inputs[1] >= 0;
        if (!has_axes) return cv_node_attr_int(n, "noop_with_empty_axes", 0) ? r0 : 0;
        int len = known_length(g, n, 1);
        return len >= 0 ? r0 - len : -1;
    }
    default: return -1;
    }
}

/* Records the ranks of node's outputs that the file did not declare. */
static cv_status note_output_ranks(cv_graph_t *g, int node, cv_onnx_canon_t *c)
{
    const cv_node_t *n = &g->nodes[node];
    for (int o = 0; o < n->noutputs; o++) {
        int v = n->outputs[o];
        if (v < 0 || rank_of(g, c, v) >= 0) continue;
        int r = output_rank(g, c, n, o);
        if (r < 0 || r > CV_MAX_DIMS) continue;
        if (cv_onnx_canon_set_rank(c, v, r) != CV_STATUS_OK) return CV_STATUS_OUT_OF_MEMORY;
    }
    return CV_STATUS_OK;
}

/* ---- opset 6 broadcasting ----------------------------------------------- */

/* Makes input `slot` of the node (of rank `rank`) read a version of itself
 * with `count` trailing 1s. A constant is replaced by a reshaped copy (the
 * original may have other readers), with the same is_weight; a computed
 * value goes through a new Unsqueeze, appended to g (the caller moves it
 * before the node), named "<output 0>__aligned" like its output. */
static cv_status append_unit_dims(cv_graph_t *g, int node, cv_onnx_canon_t *c, int slot, int rank,
                                  int count, cv_err_t *err)
{
    if (count == 0) return CV_STATUS_OK;
    CV_ASSERT(count > 0 && rank >= 0 && rank + count <= CV_MAX_DIMS);
    int v = g->nodes[node].inputs[slot];
    const cv_value_t *src = &g->values[v];
    if (src->constant) {
        cv_shape_t shape = src->constant->shape;
        for (int i = 0; i < count; i++) shape.dims[shape.ndim++] = 1;
        cv_tensor_t *t = cv_tensor_new(src->constant->dtype, &shape);
        if (t && cv_tensor_nbytes(t)) memcpy(t->data, src->constant->data, cv_tensor_nbytes(t));
        char *name = t ? unique_name(g, node, c->values, "aligned") : NULL;
        int idx = name ? cv_graph_add_constant(g, name, t, src->is_weight) : -1;
        cv_free(name);
        if (idx < 0) {
            cv_tensor_destroy(t);
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
        }
        if (cv_onnx_names_put(c->values, g->values[idx].name, idx) != CV_STATUS_OK)
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
        g->nodes[node].inputs[slot] = idx;
        return CV_STATUS_OK;
    }

    int64_t axes[CV_MAX_DIMS];
    for (int i = 0; i < count; i++) axes[i] = rank + i;
    cv_shape_t axes_shape = {.ndim = 1, .dims = {count}};
    cv_tensor_t *t = cv_tensor_new(CV_DTYPE_INT64, &axes_shape);
    if (t) memcpy(t->data, axes, sizeof(int64_t) * (size_t)count);
    char *axes_name = t ? unique_name(g, node, c->values, "aligned_axes") : NULL;
    int axes_idx = axes_name ? cv_graph_add_constant(g, axes_name, t, false) : -1;
    cv_free(axes_name);
    if (axes_idx < 0) {
        cv_tensor_destroy(t);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    if (cv_onnx_names_put(c->values, g->values[axes_idx].name, axes_idx) != CV_STATUS_OK)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    char *name = unique_name(g, node, c->values, "aligned");
    int out = name ? cv_graph_add_value(g, name) : -1;
    cv_free(name);
    if (out < 0 || cv_onnx_names_put(c->values, g->values[out].name, out) != CV_STATUS_OK)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    int inputs[2] = {v, axes_idx};
    if (cv_graph_add_node(g, g->values[out].name, CV_OP_UNSQUEEZE, inputs, 2, &out, 1) < 0 ||
        cv_onnx_canon_set_rank(c, out, rank + count) != CV_STATUS_OK)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    g->nodes[node].inputs[slot] = out;
    return CV_STATUS_OK;
}

static cv_status int_attr(const cv_node_t *n, const char *name, cv_err_t *err)
{
    const cv_attr_t *a = cv_node_attr(n, name);
    if (!a || a->type == CV_ATTR_INT) return CV_STATUS_OK;
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "attribute '%s' must be an int", name);
}

static cv_status canon_legacy_broadcast(cv_graph_t *g, int node, cv_onnx_canon_t *c,
                                        cv_err_t *err)
{
    cv_node_t *n = &g->nodes[node];
    cv_status status = int_attr(n, "broadcast", err);
    if (status == CV_STATUS_OK) status = int_attr(n, "axis", err);
    if (status != CV_STATUS_OK) return status;
    bool aligned = cv_node_attr_int(n, "broadcast", 0) != 0 && cv_node_attr(n, "axis");
    int64_t axis = cv_node_attr_int(n, "axis", -1);
    drop_attr(n, "broadcast");
    drop_attr(n, "axis");
    /* equal shapes, or B aligned at the end: numpy broadcasting already agrees */
    if (!aligned || axis == -1) return CV_STATUS_OK;
    if (n->ninputs != 2 || n->inputs[0] < 0 || n->inputs[1] < 0) return CV_STATUS_OK;
    int a = n->inputs[0], b = n->inputs[1];
    if (is_one_element(g, c, b)) return CV_STATUS_OK;
    int ra = rank_of(g, c, a), rb = rank_of(g, c, b);
    if (ra < 0 || rb < 0)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "attribute 'axis' = %lld (opset 6 broadcasting) needs the rank of input "
                         "%s '%s', which the model does not declare",
                         (long long)axis, ra < 0 ? "A" : "B", g->values[ra < 0 ? a : b].name);
    if (axis < 0 || axis > ra - rb) /* not axis + rb: the file's axis may be 2^63 - 1 */
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "attribute 'axis' = %lld does not place input B (rank %d) inside input A "
                         "(rank %d)",
                         (long long)axis, rb, ra);
    return append_unit_dims(g, node, c, 1, rb, (int)(ra - axis - rb), err);
}

static cv_status canon_legacy_prelu(cv_graph_t *g, int node, cv_onnx_canon_t *c, cv_err_t *err)
{
    const cv_node_t *n = &g->nodes[node];
    if (n->ninputs != 2 || n->inputs[0] < 0 || n->inputs[1] < 0) return CV_STATUS_OK;
    int x = n->inputs[0], slope = n->inputs[1];
    if (is_one_element(g, c, slope)) return CV_STATUS_OK; /* shared by all channels */
    int rx = rank_of(g, c, x), rs = rank_of(g, c, slope);
    /* a slope of any other rank, or X of rank <= 2, broadcasts as numpy does */
    if (rs > 1 || (rx >= 0 && rx <= 2)) return CV_STATUS_OK;
    if (rx < 0 || rs < 0)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "input %s '%s' has no declared rank, which a per-channel slope before "
                         "opset 7 needs",
                         rx < 0 ? "X" : "slope", g->values[rx < 0 ? x : slope].name);
    if (rs == 0) return CV_STATUS_OK;
    return append_unit_dims(g, node, c, 1, 1, rx - 2, err);
}

bool cv_onnx_output_is_training_only(cv_op_t op, int index)
{
    return index >= 1 && (op == CV_OP_BATCH_NORMALIZATION || op == CV_OP_DROPOUT);
}

static cv_status canon_node(cv_graph_t *g, int node, cv_onnx_canon_t *c, cv_err_t *err)
{
    cv_node_t *n = &g->nodes[node];
    cv_onnx_names_t *values = c->values;
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
    case CV_OP_ADD:
    case CV_OP_SUB:
    case CV_OP_MUL:
    case CV_OP_DIV:
    case CV_OP_POW:
    case CV_OP_EQUAL: return opset < 7 ? canon_legacy_broadcast(g, node, c, err) : CV_STATUS_OK;
    case CV_OP_PRELU: return opset < 7 ? canon_legacy_prelu(g, node, c, err) : CV_STATUS_OK;
    case CV_OP_GEMM:
        if (opset < 7) drop_attr(n, "broadcast");
        return CV_STATUS_OK;
    default: return CV_STATUS_OK;
    }
}

cv_status cv_onnx_canonicalize_node(cv_graph_t *g, int node, cv_onnx_canon_t *c, cv_err_t *err)
{
    cv_status status = canon_node(g, node, c, err);
    /* only opset 6's rewrites read ranks */
    if (status == CV_STATUS_OK && g->nodes[node].opset < 7 &&
        note_output_ranks(g, node, c) != CV_STATUS_OK)
        status = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    return status;
}
