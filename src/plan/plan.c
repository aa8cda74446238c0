/*
 * plan.c: shape inference at known input shapes, plan-time folding, steps,
 * stackability and the activation arena (see plan.h).
 */
#include "plan/plan.h"

#include "ir/infer.h"
#include "ir/passes.h"

#include <stdatomic.h>
#include <string.h>

#define ARENA_ALIGN 64

bool cv_plan_is_view_op(cv_op_t op)
{
    return op == CV_OP_RESHAPE || op == CV_OP_FLATTEN || op == CV_OP_SQUEEZE ||
           op == CV_OP_UNSQUEEZE || op == CV_OP_IDENTITY || op == CV_OP_DROPOUT;
}

const char *cv_step_kind_name(cv_step_kind_t kind)
{
    switch (kind) {
    case CV_STEP_CONV_SPATIAL: return "conv kxk";
    case CV_STEP_CONV_POINTWISE: return "conv 1x1";
    case CV_STEP_CONV_DEPTHWISE: return "conv depthwise";
    case CV_STEP_GEMM: return "gemm";
    case CV_STEP_LAYOUT: return "layout and copies";
    case CV_STEP_ELEMENTWISE: return "elementwise";
    case CV_STEP_POOLING: return "pooling";
    case CV_STEP_REDUCTION: return "reduction and norm";
    }
    return "unknown";
}

cv_step_kind_t cv_plan_step_kind(const cv_plan_t *plan, int s)
{
    const cv_node_t *n = &plan->graph->nodes[plan->steps[s].node];
    switch (n->op) {
    case CV_OP_CONV: {
        const cv_shape_t *w = n->ninputs > 1 && n->inputs[1] >= 0 ? &plan->values[n->inputs[1]].shape : NULL;
        int64_t group = cv_node_attr_int(n, "group", 1), taps = 1;
        for (int d = 2; w && d < w->ndim; d++) taps *= w->dims[d];
        if (group > 1 && w && w->dims[1] == 1 && w->dims[0] == group) return CV_STEP_CONV_DEPTHWISE;
        return taps == 1 ? CV_STEP_CONV_POINTWISE : CV_STEP_CONV_SPATIAL;
    }
    case CV_OP_GEMM:
    case CV_OP_MATMUL: return CV_STEP_GEMM;
    case CV_OP_MAX_POOL:
    case CV_OP_AVERAGE_POOL:
    case CV_OP_GLOBAL_AVERAGE_POOL:
    case CV_OP_GLOBAL_MAX_POOL: return CV_STEP_POOLING;
    case CV_OP_BATCH_NORMALIZATION:
    case CV_OP_LRN:
    case CV_OP_LAYER_NORMALIZATION:
    case CV_OP_SOFTMAX:
    case CV_OP_LOG_SOFTMAX:
    case CV_OP_REDUCE_MEAN:
    case CV_OP_REDUCE_SUM: return CV_STEP_REDUCTION;
    case CV_OP_RESHAPE: case CV_OP_FLATTEN: case CV_OP_TRANSPOSE: case CV_OP_CONCAT: case CV_OP_SPLIT:
    case CV_OP_SLICE: case CV_OP_SQUEEZE: case CV_OP_UNSQUEEZE: case CV_OP_GATHER: case CV_OP_SHAPE:
    case CV_OP_CONSTANT: case CV_OP_CONSTANT_OF_SHAPE: case CV_OP_IDENTITY: case CV_OP_DROPOUT:
    case CV_OP_EXPAND: case CV_OP_TILE: case CV_OP_RANGE: case CV_OP_PAD: case CV_OP_CAST:
        return CV_STEP_LAYOUT;
    default: return CV_STEP_ELEMENTWISE;
    }
}

double cv_plan_step_flops(const cv_plan_t *plan, int s)
{
    const cv_node_t *n = &plan->graph->nodes[plan->steps[s].node];
    if (n->ninputs < 2 || n->inputs[0] < 0 || n->inputs[1] < 0 || n->noutputs < 1 || n->outputs[0] < 0) return 0;
    const cv_shape_t *a = &plan->values[n->inputs[0]].shape, *b = &plan->values[n->inputs[1]].shape;
    double outputs = (double)cv_shape_numel(&plan->values[n->outputs[0]].shape), inner = 0;
    switch (n->op) {
    case CV_OP_CONV: {
        /* W is [M, C/group, k1, k2, ...]: one output reads C/group x taps. */
        if (b->ndim < 2) return 0;
        inner = (double)b->dims[1];
        for (int d = 2; d < b->ndim; d++) inner *= (double)b->dims[d];
        break;
    }
    case CV_OP_GEMM:
        if (a->ndim != 2) return 0;
        inner = (double)a->dims[cv_node_attr_int(n, "transA", 0) ? 0 : 1];
        break;
    case CV_OP_MATMUL:
        if (a->ndim < 1) return 0;
        inner = (double)a->dims[a->ndim - 1];
        break;
    default: return 0;
    }
    return 2 * outputs * inner;
}

static void free_plan_constants(cv_plan_value_t *values, int n)
{
    for (int i = 0; i < n; i++) {
        cv_tensor_destroy(values[i].plan_constant);
        values[i].plan_constant = NULL;
    }
}

/* Shape(x) with its start/end attributes, from x's known shape. */
static cv_status fold_shape(const cv_node_t *n, const cv_shape_t *in, cv_tensor_t **out)
{
    int64_t r = in->ndim;
    int64_t start = cv_node_attr_int(n, "start", 0), end = cv_node_attr_int(n, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = CV_MAX(0, CV_MIN(start, r));
    end = CV_MAX(start, CV_MIN(end, r));
    cv_shape_t s = {.ndim = 1, .dims = {end - start}};
    *out = cv_tensor_new(CV_DTYPE_INT64, &s);
    if (!*out) return CV_STATUS_OUT_OF_MEMORY;
    for (int64_t i = start; i < end; i++) ((int64_t *)(*out)->data)[i - start] = in->dims[i];
    return CV_STATUS_OK;
}

/* What shape inference and folding see of one node's inputs and outputs,
 * sized for the graph's widest node. */
typedef struct node_io {
    cv_tensor_t *shells, *out_shells;
    const cv_tensor_t **in_ptrs;
    cv_tensor_t **out_ptrs, **outs;
} node_io_t;

static void node_io_free(node_io_t *io)
{
    cv_free(io->shells);
    cv_free(io->out_shells);
    cv_free(io->in_ptrs);
    cv_free(io->out_ptrs);
    cv_free(io->outs);
}

static bool node_io_init(node_io_t *io, const cv_graph_t *g)
{
    int nin = 0, nout = 0;
    cv_graph_max_arity(g, &nin, &nout);
    *io = (node_io_t){
        .shells = cv_calloc((size_t)nin + 1, sizeof(cv_tensor_t)),
        .out_shells = cv_calloc((size_t)nout + 1, sizeof(cv_tensor_t)),
        .in_ptrs = cv_calloc((size_t)nin + 1, sizeof(cv_tensor_t *)),
        .out_ptrs = cv_calloc((size_t)nout + 1, sizeof(cv_tensor_t *)),
        .outs = cv_calloc((size_t)nout + 1, sizeof(cv_tensor_t *)),
    };
    return io->shells && io->out_shells && io->in_ptrs && io->out_ptrs && io->outs;
}

/* Infers (or folds) every node in order, given the graph inputs' values. */
static cv_status infer_nodes(const cv_graph_t *g, cv_cpu_ctx_t *cpu, cv_plan_value_t *values,
                             bool *folded, node_io_t *io, cv_err_t *err)
{
    for (int ni = 0; ni < g->nnodes; ni++) {
        const cv_node_t *n = &g->nodes[ni];
        folded[ni] = false;
        if (n->dead) continue;
        char label[160];
        cv_tensor_t *shells = io->shells;
        const cv_tensor_t **in_ptrs = io->in_ptrs;
        bool all_constant = true, reads_weight = false;
        for (int i = 0; i < n->ninputs; i++) {
            int v = n->inputs[i];
            if (v < 0) {
                in_ptrs[i] = NULL;
                continue;
            }
            if (values[v].storage == CV_STORAGE_NONE)
                return cv_errorf(err, CV_STATUS_INTERNAL, "%s: %s: input '%s' is not computed yet",
                                 g->path, cv_node_label(g, ni, label, sizeof label), g->values[v].name);
            shells[i].dtype = values[v].dtype;
            shells[i].shape = values[v].shape;
            shells[i].data = NULL;
            if (values[v].storage == CV_STORAGE_CONSTANT) {
                shells[i].data = g->values[v].constant->data;
                if (g->values[v].is_weight) reads_weight = true;
            } else if (values[v].storage == CV_STORAGE_PLAN_CONSTANT) {
                shells[i].data = values[v].plan_constant->data;
            } else if (values[v].known_data) {
                shells[i].data = (void *)values[v].known_data;
            } else {
                all_constant = false;
            }
            in_ptrs[i] = &shells[i];
        }

        if (n->op == CV_OP_SHAPE && n->ninputs >= 1 && n->inputs[0] >= 0 && n->outputs[0] >= 0) {
            cv_plan_value_t *o = &values[n->outputs[0]];
            if (fold_shape(n, &shells[0].shape, &o->plan_constant) != CV_STATUS_OK)
                return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", g->path);
            o->storage = CV_STORAGE_PLAN_CONSTANT;
            o->dtype = CV_DTYPE_INT64;
            o->shape = o->plan_constant->shape;
            folded[ni] = true;
            continue;
        }
        /* Folding a node that reads a weight would make a per-tenant value
         * out of a family-wide plan: such a node runs as a step instead. */
        if (all_constant && !reads_weight) {
            cv_tensor_t **outs = io->outs;
            cv_status st = cv_ir_eval_node(g, ni, in_ptrs, outs, cpu, err);
            if (st != CV_STATUS_OK) return st;
            for (int o = 0; o < n->noutputs; o++) {
                if (n->outputs[o] < 0) continue;
                cv_plan_value_t *pv = &values[n->outputs[o]];
                pv->storage = CV_STORAGE_PLAN_CONSTANT;
                pv->plan_constant = outs[o];
                pv->dtype = outs[o]->dtype;
                pv->shape = outs[o]->shape;
            }
            folded[ni] = true;
            continue;
        }

        const cv_op_def_t *def = cv_op_def(n->op);
        if (!def->infer || !def->cpu)
            return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s: %s: operator %s has no CPU kernel",
                             g->path, cv_node_label(g, ni, label, sizeof label), def->onnx_name);
        cv_tensor_t *out_shells = io->out_shells;
        cv_tensor_t **out_ptrs = io->out_ptrs;
        memset(out_shells, 0, sizeof(cv_tensor_t) * (size_t)n->noutputs);
        for (int o = 0; o < n->noutputs; o++) out_ptrs[o] = n->outputs[o] >= 0 ? &out_shells[o] : NULL;
        cv_op_args_t args = {.node = n, .inputs = in_ptrs, .ninputs = n->ninputs,
                             .outputs = out_ptrs, .noutputs = n->noutputs, .cpu = cpu};
        cv_status st = cv_infer_node(&args, err);
        if (st != CV_STATUS_OK) {
            cv_err_prefix(err, "%s: %s", g->path, cv_node_label(g, ni, label, sizeof label));
            return st;
        }
        for (int o = 0; o < n->noutputs; o++) {
            if (n->outputs[o] < 0) continue;
            cv_plan_value_t *pv = &values[n->outputs[o]];
            pv->dtype = out_shells[o].dtype;
            pv->shape = out_shells[o].shape;
            pv->storage = CV_STORAGE_ARENA;
            for (int d = 0; d < pv->shape.ndim; d++) {
                if (pv->shape.dims[d] >= 0) continue;
                char shape[96];
                return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                                 "%s: %s: the shape of output '%s' is not known at plan time (%s)", g->path,
                                 cv_node_label(g, ni, label, sizeof label), g->values[n->outputs[o]].name,
                                 cv_shape_str(&pv->shape, shape, sizeof shape));
            }
        }
        if (cv_plan_is_view_op(n->op) && n->outputs[0] >= 0) {
            cv_storage_t src = values[n->inputs[0]].storage;
            if (src == CV_STORAGE_ARENA || src == CV_STORAGE_INPUT) {
                int root = n->inputs[0];
                while (values[root].alias_of >= 0) root = values[root].alias_of;
                values[n->outputs[0]].alias_of = root;
            }
        }
    }
    return CV_STATUS_OK;
}

/* Fills dtype/shape/storage of every value for these input shapes, folding
 * what becomes constant. Marks steps in `folded[node]`. */
static cv_status infer_values(const cv_graph_t *g, const cv_shape_t *input_shapes,
                              cv_tensor_t *const *input_values, cv_cpu_ctx_t *cpu,
                              cv_plan_value_t *values, bool *folded, cv_err_t *err)
{
    for (int v = 0; v < g->nvalues; v++) {
        values[v].alias_of = -1;
        values[v].input_index = -1;
        if (g->values[v].constant) {
            values[v].storage = CV_STORAGE_CONSTANT;
            values[v].dtype = g->values[v].constant->dtype;
            values[v].shape = g->values[v].constant->shape;
        }
    }
    for (int i = 0; i < g->ninputs; i++) {
        int v = g->inputs[i];
        const cv_value_t *decl = &g->values[v];
        const cv_shape_t *s = &input_shapes[i];
        char got[128], want[128];
        if (decl->shape.ndim != s->ndim && decl->shape.ndim > 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "input '%s' has shape %s but the model declares %s", decl->name,
                             cv_shape_str(s, got, sizeof got), cv_shape_str(&decl->shape, want, sizeof want));
        for (int d = 0; d < decl->shape.ndim; d++)
            if (decl->shape.dims[d] > 0 && decl->shape.dims[d] != s->dims[d])
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "input '%s' has shape %s but the model declares %s (dim %d)",
                                 decl->name, cv_shape_str(s, got, sizeof got),
                                 cv_shape_str(&decl->shape, want, sizeof want), d);
        values[v].storage = CV_STORAGE_INPUT;
        values[v].dtype = decl->dtype;
        values[v].shape = *s;
        values[v].input_index = i;
        values[v].known_data = input_values && input_values[i] ? input_values[i]->data : NULL;
    }

    node_io_t io;
    cv_status st;
    if (node_io_init(&io, g)) st = infer_nodes(g, cpu, values, folded, &io, err);
    else st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory building a plan", g->path);
    node_io_free(&io);
    return st;
}

static bool is_activation(const cv_plan_value_t *v)
{
    return v->storage == CV_STORAGE_INPUT || v->storage == CV_STORAGE_ARENA;
}

/* Ops whose shapes stay stacked along dim 0 but whose arithmetic still
 * mixes rows (or slices' row runs): a reason, or NULL when row-local. */
static const char *mixes_rows(const cv_graph_t *g, const cv_plan_value_t *values, const cv_node_t *n)
{
    const cv_plan_value_t *x = n->ninputs > 0 && n->inputs[0] >= 0 ? &values[n->inputs[0]] : NULL;
    if (!x || !x->batched) return NULL;
    int rank = x->shape.ndim;
    int64_t axis;
    switch (n->op) {
    case CV_OP_CONCAT:
    case CV_OP_SPLIT:
    case CV_OP_GATHER:
        axis = cv_node_attr_int(n, "axis", 0);
        if (axis == 0 || axis == -rank) return "works along the batch axis";
        return NULL;
    case CV_OP_SOFTMAX:
    case CV_OP_LOG_SOFTMAX:
        axis = cv_node_attr_int(n, "axis", n->opset < 13 ? 1 : -1);
        if (axis == 0 || axis == -rank) return "normalises across the batch axis";
        return NULL;
    case CV_OP_LAYER_NORMALIZATION:
        axis = cv_node_attr_int(n, "axis", -1);
        if (axis == 0 || axis == -rank) return "normalises across the batch axis";
        return NULL;
    case CV_OP_TILE: {
        const cv_plan_value_t *rep = n->ninputs > 1 && n->inputs[1] >= 0 ? &values[n->inputs[1]] : NULL;
        const cv_tensor_t *t = rep ? (rep->plan_constant ? rep->plan_constant : g->values[n->inputs[1]].constant) : NULL;
        if (t && cv_tensor_get_i64(t, 0) != 1) return "repeats the batch axis";
        return NULL;
    }
    case CV_OP_MAX_POOL:
        /* Indices count positions in the whole input, the batch axis too:
         * a slice's would depend on the rows before it. */
        if (n->noutputs > 1 && n->outputs[1] >= 0) return "returns indices that count across the batch axis";
        return NULL;
    case CV_OP_SQUEEZE:
        /* Without axes every axis of extent 1 goes, the batch axis of a
         * one-row slice too: alone it would lose an axis it keeps in a wave. */
        if (n->ninputs < 2 || n->inputs[1] < 0) return "squeezes every axis of extent 1, the batch axis of a one-row slice too";
        return NULL;
    case CV_OP_TRANSPOSE: {
        int np;
        const int64_t *perm = cv_node_attr_ints(n, "perm", &np);
        if (!perm || perm[0] != 0) return "moves the batch axis";
        return NULL;
    }
    case CV_OP_GEMM:
        if (cv_node_attr_int(n, "transA", 0)) return "transposes the batched operand";
        /* fallthrough */
    case CV_OP_MATMUL:
        if (n->ninputs > 1 && n->inputs[1] >= 0 && values[n->inputs[1]].batched &&
            !(n->op == CV_OP_MATMUL && rank >= 3 && values[n->inputs[1]].shape.ndim == rank))
            return "multiplies two batched operands";
        return NULL;
    default:
        return NULL;
    }
}

/* Compares the values at `rows` and `rows + 1` rows to find which are
 * stacked along dim 0; sets plan->stackable and the reason when not. */
static void decide_stacking(cv_plan_t *plan, const cv_plan_value_t *more, int64_t rows)
{
    const cv_graph_t *g = plan->graph;
    plan->stackable = true;
    for (int v = 0; v < g->nvalues; v++) {
        cv_plan_value_t *a = &plan->values[v];
        const cv_plan_value_t *b = &more[v];
        if (!is_activation(a)) continue;
        bool same = cv_shape_equal(&a->shape, &b->shape);
        bool stacked = a->shape.ndim >= 1 && a->shape.ndim == b->shape.ndim &&
                       a->shape.dims[0] * (rows + 1) == b->shape.dims[0] * rows;
        for (int d = 1; stacked && d < a->shape.ndim; d++)
            if (a->shape.dims[d] != b->shape.dims[d]) stacked = false;
        if (!same && stacked) {
            a->batched = true;
            continue;
        }
        if (plan->stackable) {
            char sa[96];
            plan->stackable = false;
            snprintf(plan->not_stackable_why, sizeof plan->not_stackable_why,
                     "value '%s' (shape %s) %s", g->values[v].name, cv_shape_str(&a->shape, sa, sizeof sa),
                     same ? "does not grow with the batch" : "does not keep rows along the batch axis");
        }
    }
    for (int s = 0; s < plan->nsteps && plan->stackable; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        const char *why = mixes_rows(g, plan->values, n);
        if (why) {
            char label[160];
            plan->stackable = false;
            snprintf(plan->not_stackable_why, sizeof plan->not_stackable_why, "%s %s",
                     cv_node_label(g, plan->steps[s].node, label, sizeof label), why);
        }
    }
}

typedef struct live_block {
    size_t offset, bytes;
    int last_use;
} live_block_t;

/* First-fit placement of every arena value, freeing each after its last
 * use. Views share their root's bytes and extend its life. */
static cv_status assign_arena(cv_plan_t *plan, cv_err_t *err)
{
    const cv_graph_t *g = plan->graph;
    int nv = g->nvalues;
    int *last_use = cv_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    live_block_t *live = cv_malloc(sizeof(live_block_t) * (size_t)(nv ? nv : 1));
    if (!last_use || !live) {
        cv_free(last_use);
        cv_free(live);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory planning the arena");
    }
    for (int v = 0; v < nv; v++) last_use[v] = -1;
    for (int s = 0; s < plan->nsteps; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        for (int i = 0; i < n->ninputs; i++) {
            int v = n->inputs[i];
            if (v < 0) continue;
            int root = plan->values[v].alias_of >= 0 ? plan->values[v].alias_of : v;
            last_use[root] = CV_MAX(last_use[root], s);
        }
        for (int o = 0; o < n->noutputs; o++) { /* outputs nobody reads still need room */
            int v = n->outputs[o];
            if (v < 0) continue;
            int root = plan->values[v].alias_of >= 0 ? plan->values[v].alias_of : v;
            last_use[root] = CV_MAX(last_use[root], s);
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        int v = g->outputs[i];
        int root = plan->values[v].alias_of >= 0 ? plan->values[v].alias_of : v;
        last_use[root] = plan->nsteps;
    }

    int nlive = 0;
    size_t top = 0;
    for (int s = 0; s < plan->nsteps; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        for (int o = 0; o < n->noutputs; o++) {
            int v = n->outputs[o];
            if (v < 0) continue;
            cv_plan_value_t *pv = &plan->values[v];
            if (pv->storage != CV_STORAGE_ARENA || pv->alias_of >= 0) continue;
            size_t bytes = (size_t)cv_shape_numel(&pv->shape) * cv_dtype_size(pv->dtype);
            bytes = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
            if (!bytes) bytes = ARENA_ALIGN;
            /* live[] is kept sorted by offset: find the first gap that fits. */
            size_t at = 0;
            int pos = 0;
            for (; pos < nlive; pos++) {
                if (live[pos].offset >= at + bytes) break;
                at = CV_MAX(at, live[pos].offset + live[pos].bytes);
            }
            memmove(&live[pos + 1], &live[pos], sizeof(live_block_t) * (size_t)(nlive - pos));
            live[pos] = (live_block_t){at, bytes, last_use[v]};
            nlive++;
            pv->offset = at;
            top = CV_MAX(top, at + bytes);
        }
        int kept = 0;
        for (int b = 0; b < nlive; b++)
            if (live[b].last_use > s) live[kept++] = live[b];
        nlive = kept;
    }
    for (int v = 0; v < nv; v++)
        if (plan->values[v].alias_of >= 0) plan->values[v].offset = plan->values[plan->values[v].alias_of].offset;
    plan->arena_bytes = top;
    cv_free(last_use);
    cv_free(live);
    return CV_STATUS_OK;
}

/* Graph outputs must match what the model declares, where it declares. */
static cv_status check_outputs(const cv_plan_t *plan, cv_err_t *err)
{
    const cv_graph_t *g = plan->graph;
    for (int i = 0; i < g->noutputs; i++) {
        int v = g->outputs[i];
        const cv_value_t *decl = &g->values[v];
        const cv_plan_value_t *pv = &plan->values[v];
        if (pv->storage == CV_STORAGE_NONE)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: output '%s' is never computed",
                             g->path, decl->name);
        if (decl->dtype != CV_DTYPE_UNDEFINED && decl->dtype != pv->dtype)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s: output '%s' is declared %s but computes %s", g->path, decl->name,
                             cv_dtype_name(decl->dtype), cv_dtype_name(pv->dtype));
        if (decl->shape.ndim != pv->shape.ndim || decl->shape.ndim == 0) continue;
        for (int d = 0; d < decl->shape.ndim; d++) {
            if (decl->shape.dims[d] > 0 && decl->shape.dims[d] != pv->shape.dims[d] &&
                !(d == 0 && pv->batched)) {
                char a[96], b[96];
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "%s: output '%s' is declared %s but computes %s", g->path,
                                 decl->name, cv_shape_str(&decl->shape, a, sizeof a),
                                 cv_shape_str(&pv->shape, b, sizeof b));
            }
        }
    }
    return CV_STATUS_OK;
}

void cv_plan_destroy(cv_plan_t *plan)
{
    if (!plan) return;
    if (plan->values) free_plan_constants(plan->values, plan->graph->nvalues);
    cv_free(plan->values);
    cv_free(plan->steps);
    cv_free(plan->input_shapes);
    if (plan->input_values)
        for (int i = 0; i < plan->ninputs; i++) cv_tensor_destroy(plan->input_values[i]);
    cv_free(plan->input_values);
    cv_free(plan);
}

/* Small integer inputs and scalars of unbatched graphs: shape vectors,
 * axes, Range bounds fed at run time. Their values shape the plan. */
static bool is_value_input(const cv_graph_t *g, const cv_tensor_t *t)
{
    if (g->batched) return false;
    int64_t n = cv_shape_numel(&t->shape);
    return ((t->dtype == CV_DTYPE_INT64 || t->dtype == CV_DTYPE_INT32) && n <= 64) ||
           (t->shape.ndim == 0 && cv_dtype_size(t->dtype) > 0);
}

bool cv_plan_matches(const cv_plan_t *plan, const cv_shape_t *input_shapes, const cv_tensor_t *inputs)
{
    for (int i = 0; i < plan->ninputs; i++) {
        if (!cv_shape_equal(&plan->input_shapes[i], &input_shapes[i])) return false;
        const cv_tensor_t *known = plan->input_values[i];
        if (!known) continue;
        if (!inputs || inputs[i].dtype != known->dtype ||
            memcmp(inputs[i].data, known->data, cv_tensor_nbytes(known)) != 0)
            return false;
    }
    return true;
}

/* Whether node n's data X (input 0) and output Y (output 0) are there,
 * FP32 and 4-D: planes of a 2-D step. */
static bool planes_2d(const cv_plan_t *plan, const cv_node_t *n)
{
    if (n->ninputs < 1 || n->noutputs < 1 || n->inputs[0] < 0 || n->outputs[0] < 0) return false;
    const cv_plan_value_t *x = &plan->values[n->inputs[0]], *y = &plan->values[n->outputs[0]];
    return x->dtype == CV_DTYPE_FP32 && x->shape.ndim == 4 && y->dtype == CV_DTYPE_FP32 && y->shape.ndim == 4;
}

/* A 2-D convolution of FP32 data: the kind of step a device backend runs
 * on half activations as well as FP32 ones (its X, its fused residual and
 * its output). */
static bool conv_2d(const cv_plan_t *plan, const cv_node_t *n)
{
    return n->op == CV_OP_CONV && n->ninputs >= 2 && planes_2d(plan, n);
}

/* A 2-D MaxPool of FP32 without the Indices output: the CUDA kernel reads
 * and writes half activations too (cuda_pool.cu). */
static bool max_pool_2d(const cv_plan_t *plan, const cv_node_t *n)
{
    return n->op == CV_OP_MAX_POOL && !(n->noutputs > 1 && n->outputs[1] >= 0) && planes_2d(plan, n);
}

/* Which activations a wave of FP16 or BF16 tenants may keep in half
 * between steps (half_ok): those a 2-D Conv or MaxPool writes into the
 * arena and only 2-D Convs (as their data or their fused residual) and
 * MaxPools (as their data) read; no view of them, no graph output. In a
 * ResNet or a MobileNet that is nearly every activation: the convolutions
 * then read and write half the bytes, and a 1x1 convolution reads its
 * input as the GEMM operand with no conversion. Those a MaxPool touches
 * are marked too (half_by_pool). Where a backend does not keep them in
 * half they stay FP32: the flag is permission, not layout. */
static void mark_half_values(cv_plan_t *plan)
{
    const cv_graph_t *g = plan->graph;
    for (int s = 0; s < plan->nsteps; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        if (!conv_2d(plan, n) && !max_pool_2d(plan, n)) continue;
        cv_plan_value_t *y = &plan->values[n->outputs[0]];
        if (y->storage == CV_STORAGE_ARENA && y->alias_of < 0) y->half_ok = true;
    }
    for (int s = 0; s < plan->nsteps; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        bool conv = conv_2d(plan, n), pool = max_pool_2d(plan, n);
        for (int i = 0; i < n->ninputs; i++) {
            int v = n->inputs[i];
            if (v < 0) continue;
            bool as_data = (conv && (i == 0 || (i == 3 && n->fused_residual))) || (pool && i == 0);
            if (!as_data) plan->values[v].half_ok = false;
        }
    }
    for (int v = 0; v < g->nvalues; v++)
        if (plan->values[v].alias_of >= 0) plan->values[plan->values[v].alias_of].half_ok = false;
    for (int i = 0; i < g->noutputs; i++) plan->values[g->outputs[i]].half_ok = false;
    for (int s = 0; s < plan->nsteps; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        if (!max_pool_2d(plan, n)) continue;
        cv_plan_value_t *x = &plan->values[n->inputs[0]], *y = &plan->values[n->outputs[0]];
        x->half_by_pool = x->half_ok;
        y->half_by_pool = y->half_ok;
    }
}

/* A 2-D Conv of one group whose window has at most 768 taps and whose
 * strides, dilations and pads stay below 2^20: what a backend that
 * stores activations channels innermost computes from them (a CUDA block
 * stages one output pixel's window of 8 channels or more in 48 KB of
 * shared memory, 768 taps of 8 floats and their padding, and places its
 * taps in 32 bits: cuda_gemm.cu's im2col_nhwc_kernel). */
static bool conv_one_group(const cv_plan_t *plan, const cv_node_t *n)
{
    if (!conv_2d(plan, n) || cv_node_attr_int(n, "group", 1) != 1) return false;
    const char *names[3] = {"strides", "dilations", "pads"};
    for (int a = 0; a < 3; a++) {
        int count = 0;
        const int64_t *v = cv_node_attr_ints(n, names[a], &count);
        for (int i = 0; v && i < count; i++)
            if (v[i] < 0 || v[i] >= ((int64_t)1 << 20)) return false;
    }
    const cv_plan_value_t *w = &plan->values[n->inputs[1]];
    return w->shape.ndim == 4 && w->shape.dims[2] * w->shape.dims[3] <= 768;
}

/* Which activations may be stored channels innermost
 * (channels_inner_ok): see plan.h. In a ResNet: every activation of a
 * stage but those a MaxPool or the final pool reads (the block outputs
 * and the values inside the blocks); in a MobileNetV2: the block outputs
 * (the expansions feed depthwise Convs, which are of many groups). A
 * Conv's output is marked only where its fused residual is, so that a
 * backend writes an output channels innermost only from a residual laid
 * out alike; the reverse (a residual channels innermost, the output in
 * planes, as a stage's last block) stays allowed. */
static void mark_channels_inner(cv_plan_t *plan)
{
    const cv_graph_t *g = plan->graph;
    for (int s = 0; s < plan->nsteps; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        if (!conv_one_group(plan, n)) continue;
        cv_plan_value_t *y = &plan->values[n->outputs[0]];
        y->channels_inner_ok = y->half_ok && !y->half_by_pool;
    }
    for (int s = 0; s < plan->nsteps; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        bool conv = conv_one_group(plan, n);
        for (int i = 0; i < n->ninputs; i++) {
            int v = n->inputs[i];
            if (v < 0) continue;
            bool as_data = conv && (i == 0 || (i == 3 && n->fused_residual));
            if (!as_data) plan->values[v].channels_inner_ok = false;
        }
    }
    /* An output follows its residual (chains of residual blocks: until
     * nothing changes). */
    for (bool changed = true; changed;) {
        changed = false;
        for (int s = 0; s < plan->nsteps; s++) {
            const cv_node_t *n = &g->nodes[plan->steps[s].node];
            if (!n->fused_residual || n->ninputs < 4 || n->inputs[3] < 0) continue;
            cv_plan_value_t *y = &plan->values[n->outputs[0]], *r = &plan->values[n->inputs[3]];
            if (y->channels_inner_ok && (!r->channels_inner_ok || !cv_shape_equal(&y->shape, &r->shape))) {
                y->channels_inner_ok = false;
                changed = true;
            }
        }
    }
}

static _Atomic uint64_t plan_serials;

cv_status cv_plan_build(const cv_graph_t *g, const cv_shape_t *input_shapes,
                        const cv_tensor_t *inputs, cv_cpu_ctx_t *cpu, cv_plan_t **out,
                        cv_err_t *err)
{
    cv_status st = CV_STATUS_OUT_OF_MEMORY;
    cv_plan_value_t *more = NULL;
    cv_shape_t *more_shapes = NULL;
    bool *folded = cv_calloc((size_t)g->nnodes + 1, sizeof(bool));
    cv_plan_t *plan = cv_calloc(1, sizeof(*plan));
    if (!plan || !folded) goto oom;
    plan->graph = g;
    plan->serial = atomic_fetch_add(&plan_serials, 1) + 1;
    plan->ninputs = g->ninputs;
    plan->values = cv_calloc((size_t)g->nvalues + 1, sizeof(cv_plan_value_t));
    plan->steps = cv_calloc((size_t)g->nnodes + 1, sizeof(cv_plan_step_t));
    plan->input_shapes = cv_malloc(sizeof(cv_shape_t) * (size_t)(g->ninputs + 1));
    plan->input_values = cv_calloc((size_t)g->ninputs + 1, sizeof(cv_tensor_t *));
    if (!plan->values || !plan->steps || !plan->input_shapes || !plan->input_values) goto oom;
    for (int i = 0; inputs && i < g->ninputs; i++) {
        if (!is_value_input(g, &inputs[i])) continue;
        plan->input_values[i] = cv_tensor_clone(&inputs[i]);
        if (!plan->input_values[i]) goto oom;
    }
    if (g->ninputs) memcpy(plan->input_shapes, input_shapes, sizeof(cv_shape_t) * (size_t)g->ninputs);
    plan->rows = g->batched ? input_shapes[0].dims[0] : 1;

    st = infer_values(g, input_shapes, plan->input_values, cpu, plan->values, folded, err);
    if (st != CV_STATUS_OK) goto fail;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const cv_node_t *n = &g->nodes[ni];
        if (n->dead || folded[ni]) continue;
        cv_plan_step_t *step = &plan->steps[plan->nsteps++];
        step->node = ni;
        plan->max_step_inputs = CV_MAX(plan->max_step_inputs, n->ninputs);
        plan->max_step_outputs = CV_MAX(plan->max_step_outputs, n->noutputs);
        for (int i = 0; i < n->ninputs; i++)
            if (n->inputs[i] >= 0 && g->values[n->inputs[i]].constant && g->values[n->inputs[i]].is_weight)
                step->weighted = true;
    }

    if (g->batched) {
        /* Infer once more with one row more: what grows is stacked. */
        more = cv_calloc((size_t)g->nvalues + 1, sizeof(cv_plan_value_t));
        more_shapes = cv_malloc(sizeof(cv_shape_t) * (size_t)g->ninputs);
        if (!more || !more_shapes) goto oom;
        for (int i = 0; i < g->ninputs; i++) {
            more_shapes[i] = input_shapes[i];
            more_shapes[i].dims[0] = input_shapes[i].dims[0] + 1;
        }
        cv_err_t ignored;
        if (infer_values(g, more_shapes, NULL, cpu, more, folded, &ignored) == CV_STATUS_OK) {
            decide_stacking(plan, more, plan->rows);
        } else {
            plan->stackable = false;
            snprintf(plan->not_stackable_why, sizeof plan->not_stackable_why,
                     "the graph does not accept another batch size: %s", ignored.msg);
        }
        /* infer_values rewrote folded[] identically: same graph, same ops. */
    } else {
        snprintf(plan->not_stackable_why, sizeof plan->not_stackable_why,
                 "the model's inputs have no symbolic batch axis");
    }

    st = check_outputs(plan, err);
    if (st != CV_STATUS_OK) goto fail;
    for (int s = 0; s < plan->nsteps; s++) plan->flops += cv_plan_step_flops(plan, s);
    st = assign_arena(plan, err);
    if (st != CV_STATUS_OK) goto fail;
    mark_half_values(plan);
    mark_channels_inner(plan);
    if (more) free_plan_constants(more, g->nvalues);
    cv_free(more);
    cv_free(more_shapes);
    cv_free(folded);
    *out = plan;
    return CV_STATUS_OK;
oom:
    st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory building a plan", g->path);
fail:
    if (more) free_plan_constants(more, g->nvalues);
    cv_free(more);
    cv_free(more_shapes);
    cv_free(folded);
    cv_plan_destroy(plan);
    return st;
}
