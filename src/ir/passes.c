/*
 * passes.c: constant folding, Conv+BatchNorm(+activation) folding, dead-node
 * removal and the family hash (see passes.h).
 */
#include "ir/passes.h"

#include "ir/infer.h"

#include <math.h>
#include <string.h>

bool cv_ir_is_graph_output(const cv_graph_t *g, int v)
{
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == v) return true;
    return false;
}

int cv_ir_consumers(const cv_graph_t *g, int v)
{
    int count = 0;
    for (int n = 0; n < g->nnodes; n++) {
        if (g->nodes[n].dead) continue;
        for (int i = 0; i < g->nodes[n].ninputs; i++)
            if (g->nodes[n].inputs[i] == v) count++;
    }
    return count;
}

/* The live node that reads v (when exactly one does), else -1. */
static int sole_consumer(const cv_graph_t *g, int v)
{
    int found = -1;
    for (int n = 0; n < g->nnodes; n++) {
        if (g->nodes[n].dead) continue;
        for (int i = 0; i < g->nodes[n].ninputs; i++) {
            if (g->nodes[n].inputs[i] != v) continue;
            if (found >= 0) return -1;
            found = n;
        }
    }
    return found;
}

cv_status cv_ir_eval_node(const cv_graph_t *g, int node, const cv_tensor_t *const *inputs,
                          cv_tensor_t **outputs, cv_cpu_ctx_t *cpu, cv_err_t *err)
{
    const cv_node_t *n = &g->nodes[node];
    const cv_op_def_t *def = cv_op_def(n->op);
    char label[160];
    cv_node_label(g, node, label, sizeof label);
    if (!def->infer || !def->cpu)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s: %s: operator %s has no CPU kernel",
                         g->path, label, def->onnx_name);
    cv_tensor_t *shells = cv_calloc((size_t)n->noutputs + 1, sizeof(cv_tensor_t));
    cv_tensor_t **out_ptrs = cv_calloc((size_t)n->noutputs + 1, sizeof(cv_tensor_t *));
    if (!shells || !out_ptrs) {
        cv_free(shells);
        cv_free(out_ptrs);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: %s: out of memory", g->path, label);
    }
    for (int i = 0; i < n->noutputs; i++) {
        outputs[i] = NULL;
        out_ptrs[i] = n->outputs[i] >= 0 ? &shells[i] : NULL;
    }
    cv_op_args_t args = {.node = n, .inputs = inputs, .ninputs = n->ninputs,
                         .outputs = out_ptrs, .noutputs = n->noutputs, .cpu = cpu};
    cv_status st = cv_infer_node(&args, err);
    if (st != CV_STATUS_OK) {
        cv_err_prefix(err, "%s: %s", g->path, label);
        goto fail;
    }
    for (int i = 0; i < n->noutputs; i++) {
        if (!out_ptrs[i]) continue;
        outputs[i] = cv_tensor_new(shells[i].dtype, &shells[i].shape);
        if (!outputs[i]) {
            st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: %s: out of memory for output %d",
                           g->path, label, i);
            goto fail;
        }
        out_ptrs[i] = outputs[i];
    }
    st = cv_op_outputs_empty(&args) ? CV_STATUS_OK : def->cpu(&args, err);
    if (st != CV_STATUS_OK) {
        cv_err_prefix(err, "%s: %s", g->path, label);
        goto fail;
    }
    cv_free(shells);
    cv_free(out_ptrs);
    return CV_STATUS_OK;
fail:
    for (int i = 0; i < n->noutputs; i++) {
        cv_tensor_destroy(outputs[i]);
        outputs[i] = NULL;
    }
    cv_free(shells);
    cv_free(out_ptrs);
    return st;
}

cv_status cv_ir_fold_constants(cv_graph_t *g, cv_cpu_ctx_t *cpu, cv_err_t *err)
{
    for (int ni = 0; ni < g->nnodes; ni++) {
        cv_node_t *n = &g->nodes[ni];
        if (n->dead) continue;
        bool all_constant = true;
        for (int i = 0; i < n->ninputs && all_constant; i++)
            if (n->inputs[i] >= 0 && !g->values[n->inputs[i]].constant) all_constant = false;
        if (!all_constant) continue;

        const cv_tensor_t **inputs = cv_calloc((size_t)n->ninputs + 1, sizeof(cv_tensor_t *));
        cv_tensor_t **outputs = cv_calloc((size_t)n->noutputs + 1, sizeof(cv_tensor_t *));
        cv_status st = CV_STATUS_OK;
        if (!inputs || !outputs) {
            char label[160];
            st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: %s: out of memory folding constants", g->path,
                           cv_node_label(g, ni, label, sizeof label));
        }
        for (int i = 0; i < n->ninputs && st == CV_STATUS_OK; i++)
            inputs[i] = n->inputs[i] >= 0 ? g->values[n->inputs[i]].constant : NULL;
        if (st == CV_STATUS_OK) st = cv_ir_eval_node(g, ni, inputs, outputs, cpu, err);
        cv_free(inputs);
        if (st != CV_STATUS_OK) {
            cv_free(outputs);
            return st;
        }
        for (int i = 0; i < n->noutputs; i++) {
            if (n->outputs[i] < 0) continue;
            cv_value_t *v = &g->values[n->outputs[i]];
            v->constant = outputs[i];
            v->dtype = outputs[i]->dtype;
            v->shape = outputs[i]->shape;
            /* Float constants are weights (they may differ between tenants
             * of a family); integer constants are structure (shapes, axes). */
            v->is_weight = cv_dtype_is_float(v->dtype);
            v->producer = -1;
        }
        cv_free(outputs);
        n->dead = true;
    }
    return CV_STATUS_OK;
}

static bool is_fp32_constant(const cv_graph_t *g, int v)
{
    return v >= 0 && g->values[v].constant && g->values[v].constant->dtype == CV_DTYPE_FP32;
}

/* Folds BatchNormalization node `bn` into Conv node `conv` (whose only
 * consumer it is). Returns OK without change when the pattern does not
 * apply exactly (non-constant parameters, shapes off). */
static cv_status fold_one_batchnorm(cv_graph_t *g, int conv, int bn, cv_err_t *err)
{
    cv_node_t *c = &g->nodes[conv], *b = &g->nodes[bn];
    /* Outputs a file omits read -1: nothing to fold through. */
    if (b->ninputs < 5 || c->outputs[0] < 0 || b->noutputs < 1 || b->outputs[0] < 0 ||
        b->inputs[0] != c->outputs[0])
        return CV_STATUS_OK;
    for (int i = 1; i < 5; i++)
        if (!is_fp32_constant(g, b->inputs[i])) return CV_STATUS_OK;
    for (int i = 1; i < b->noutputs; i++) /* training outputs in use: leave it */
        if (b->outputs[i] >= 0 && cv_ir_consumers(g, b->outputs[i]) > 0) return CV_STATUS_OK;
    if (c->ninputs < 2 || !is_fp32_constant(g, c->inputs[1])) return CV_STATUS_OK;
    bool has_bias = c->ninputs >= 3 && c->inputs[2] >= 0;
    if (has_bias && !is_fp32_constant(g, c->inputs[2])) return CV_STATUS_OK;

    const cv_tensor_t *w = g->values[c->inputs[1]].constant;
    int64_t m = w->shape.dims[0];
    const cv_tensor_t *scale = g->values[b->inputs[1]].constant,
                      *shift = g->values[b->inputs[2]].constant,
                      *mean = g->values[b->inputs[3]].constant,
                      *var = g->values[b->inputs[4]].constant;
    const cv_tensor_t *bias = has_bias ? g->values[c->inputs[2]].constant : NULL;
    if (cv_shape_numel(&scale->shape) != m || cv_shape_numel(&shift->shape) != m ||
        cv_shape_numel(&mean->shape) != m || cv_shape_numel(&var->shape) != m ||
        (bias && cv_shape_numel(&bias->shape) != m))
        return CV_STATUS_OK;
    double eps = cv_node_attr_float(b, "epsilon", 1e-5f);

    cv_tensor_t *w2 = cv_tensor_clone(w);
    cv_shape_t bshape = {.ndim = 1, .dims = {m}};
    cv_tensor_t *b2 = cv_tensor_new(CV_DTYPE_FP32, &bshape);
    if (!w2 || !b2) {
        cv_tensor_destroy(w2);
        cv_tensor_destroy(b2);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory folding BatchNorm",
                         g->path);
    }
    int64_t per_out = cv_shape_numel(&w->shape) / m;
    float *wd = w2->data, *bd = b2->data;
    for (int64_t o = 0; o < m; o++) {
        double s = ((const float *)scale->data)[o] /
                   sqrt((double)((const float *)var->data)[o] + eps);
        for (int64_t k = 0; k < per_out; k++) wd[o * per_out + k] = (float)(wd[o * per_out + k] * s);
        double b0 = bias ? ((const float *)bias->data)[o] : 0.0;
        bd[o] = (float)((b0 - ((const float *)mean->data)[o]) * s + ((const float *)shift->data)[o]);
    }

    char name[512];
    snprintf(name, sizeof name, "%s__bnfold_w", g->values[c->inputs[1]].name);
    int wv = cv_graph_add_constant(g, name, w2, true);
    if (wv < 0) {
        cv_tensor_destroy(w2);
        cv_tensor_destroy(b2);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory folding BatchNorm", g->path);
    }
    snprintf(name, sizeof name, "%s__bnfold_b", g->values[b->outputs[0]].name);
    int bv = cv_graph_add_constant(g, name, b2, true);
    if (bv < 0) {
        cv_tensor_destroy(b2);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory folding BatchNorm", g->path);
    }
    /* cv_graph_add_constant may have moved the node array's values; node
     * pointers stay valid (nodes live in their own array). */
    if (c->ninputs < 3) {
        int *grown = cv_realloc(c->inputs, sizeof(int) * 3);
        if (!grown) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", g->path);
        c->inputs = grown;
        c->ninputs = 3;
    }
    c->inputs[1] = wv;
    c->inputs[2] = bv;
    c->outputs[0] = b->outputs[0];
    g->values[b->outputs[0]].producer = conv;
    b->dead = true;
    return CV_STATUS_OK;
}

cv_status cv_ir_fold_batchnorm(cv_graph_t *g, cv_err_t *err)
{
    for (int ni = 0; ni < g->nnodes; ni++) {
        if (g->nodes[ni].dead || g->nodes[ni].op != CV_OP_CONV) continue;
        int y = g->nodes[ni].outputs[0];
        if (y < 0 || cv_ir_is_graph_output(g, y)) continue;
        int next = sole_consumer(g, y);
        if (next < 0 || g->nodes[next].op != CV_OP_BATCH_NORMALIZATION) continue;
        cv_status st = fold_one_batchnorm(g, ni, next, err);
        if (st != CV_STATUS_OK) return st;
    }
    return CV_STATUS_OK;
}

/* A Clip whose bounds are absent or FP32 constants: its bounds. */
static bool constant_clip_bounds(const cv_graph_t *g, const cv_node_t *clip, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    for (int i = 1; i < clip->ninputs && i < 3; i++) {
        int v = clip->inputs[i];
        if (v < 0) continue;
        if (!is_fp32_constant(g, v) || cv_shape_numel(&g->values[v].shape) != 1) return false;
        float bound = ((const float *)g->values[v].constant->data)[0];
        if (i == 1) *lo = bound;
        else *hi = bound;
    }
    return true;
}

void cv_ir_fold_activations(cv_graph_t *g)
{
    for (int ni = 0; ni < g->nnodes; ni++) {
        cv_node_t *n = &g->nodes[ni];
        if (n->dead || (n->op != CV_OP_CONV && n->op != CV_OP_GEMM)) continue;
        if (n->activation != CV_ACTIVATION_NONE) continue;
        int y = n->outputs[0];
        if (y < 0) continue; /* an omitted output: nothing reads it */
        if (g->values[y].dtype != CV_DTYPE_FP32 && g->values[y].dtype != CV_DTYPE_UNDEFINED) continue;
        if (cv_ir_is_graph_output(g, y)) continue;
        int next = sole_consumer(g, y);
        if (next < 0) continue;
        cv_node_t *a = &g->nodes[next];
        if (a->ninputs < 1 || a->inputs[0] != y || a->noutputs < 1 || a->outputs[0] < 0) continue;
        if (a->op == CV_OP_RELU) {
            n->activation = CV_ACTIVATION_RELU;
        } else if (a->op == CV_OP_CLIP) {
            float lo, hi;
            if (!constant_clip_bounds(g, a, &lo, &hi)) continue;
            n->activation = CV_ACTIVATION_CLIP;
            n->clip_min = lo;
            n->clip_max = hi;
        } else {
            continue;
        }
        n->outputs[0] = a->outputs[0];
        g->values[a->outputs[0]].producer = ni;
        a->dead = true;
    }
}

void cv_ir_remove_dead(cv_graph_t *g)
{
    bool *needed = cv_calloc((size_t)g->nvalues + 1, sizeof(bool));
    if (!needed) return; /* a missed optimisation, not an error */
    for (int i = 0; i < g->noutputs; i++) needed[g->outputs[i]] = true;
    for (int ni = g->nnodes - 1; ni >= 0; ni--) {
        cv_node_t *n = &g->nodes[ni];
        if (n->dead) continue;
        bool live = false;
        for (int o = 0; o < n->noutputs; o++)
            if (n->outputs[o] >= 0 && needed[n->outputs[o]]) live = true;
        if (!live) {
            n->dead = true;
            continue;
        }
        for (int i = 0; i < n->ninputs; i++)
            if (n->inputs[i] >= 0) needed[n->inputs[i]] = true;
    }
    /* Constants nothing reads any more (weights replaced by folding) are
     * released, so a tenant holds only what it runs with. */
    for (int v = 0; v < g->nvalues; v++) {
        if (!needed[v] && g->values[v].constant) {
            cv_tensor_destroy(g->values[v].constant);
            g->values[v].constant = NULL;
            g->values[v].dtype = CV_DTYPE_UNDEFINED;
        }
    }
    cv_free(needed);
}

cv_status cv_ir_prepare(cv_graph_t *g, cv_cpu_ctx_t *cpu, cv_err_t *err)
{
    cv_status st = cv_ir_fold_constants(g, cpu, err);
    if (st != CV_STATUS_OK) return st;
    st = cv_ir_fold_batchnorm(g, err);
    if (st != CV_STATUS_OK) return st;
    cv_ir_fold_activations(g);
    cv_ir_remove_dead(g);
    return CV_STATUS_OK;
}

/* ---- family hash: FNV-1a over a canonical walk of the graph ------------ */

static void hash_bytes(uint64_t *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        *h ^= p[i];
        *h *= 1099511628211ull;
    }
}

static void hash_i64(uint64_t *h, int64_t v) { hash_bytes(h, &v, sizeof v); }

static void hash_shape(uint64_t *h, const cv_shape_t *s)
{
    hash_i64(h, s->ndim);
    for (int i = 0; i < s->ndim; i++) hash_i64(h, s->dims[i]);
}

static void hash_tensor(uint64_t *h, const cv_tensor_t *t, bool with_values)
{
    hash_i64(h, t->dtype);
    hash_shape(h, &t->shape);
    if (with_values) hash_bytes(h, t->data, cv_tensor_nbytes(t));
}

uint64_t cv_ir_family_hash(const cv_graph_t *g)
{
    uint64_t h = 1469598103934665603ull;
    hash_i64(&h, g->opset);
    hash_i64(&h, g->batched);
    hash_i64(&h, g->nvalues);
    for (int i = 0; i < g->ninputs; i++) {
        hash_i64(&h, g->inputs[i]);
        hash_i64(&h, g->values[g->inputs[i]].dtype);
        hash_shape(&h, &g->values[g->inputs[i]].shape);
    }
    for (int i = 0; i < g->noutputs; i++) hash_i64(&h, g->outputs[i]);
    for (int v = 0; v < g->nvalues; v++) {
        const cv_value_t *val = &g->values[v];
        if (!val->constant) continue;
        hash_i64(&h, v);
        hash_i64(&h, val->is_weight);
        hash_tensor(&h, val->constant, !val->is_weight);
    }
    for (int ni = 0; ni < g->nnodes; ni++) {
        const cv_node_t *n = &g->nodes[ni];
        if (n->dead) continue;
        hash_i64(&h, ni);
        hash_i64(&h, n->op);
        hash_i64(&h, n->activation);
        hash_i64(&h, n->fused_residual);
        hash_bytes(&h, &n->clip_min, sizeof n->clip_min);
        hash_bytes(&h, &n->clip_max, sizeof n->clip_max);
        for (int i = 0; i < n->ninputs; i++) hash_i64(&h, n->inputs[i]);
        hash_i64(&h, -2);
        for (int i = 0; i < n->noutputs; i++) hash_i64(&h, n->outputs[i]);
        for (int a = 0; a < n->nattrs; a++) {
            const cv_attr_t *at = &n->attrs[a];
            hash_bytes(&h, at->name, strlen(at->name));
            hash_i64(&h, at->type);
            hash_i64(&h, at->i);
            hash_bytes(&h, &at->f, sizeof at->f);
            if (at->s) hash_bytes(&h, at->s, strlen(at->s));
            if (at->ints) hash_bytes(&h, at->ints, sizeof(int64_t) * (size_t)at->n);
            if (at->floats) hash_bytes(&h, at->floats, sizeof(float) * (size_t)at->n);
            if (at->tensor) hash_tensor(&h, at->tensor, true);
        }
    }
    return h;
}
