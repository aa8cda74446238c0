/*
 * fuse.c: load-time fusions that need the shapes only a plan knows.
 *
 * The residual Add: Conv -> Add(conv_out, r) [-> Relu/Clip] becomes one
 * Conv that adds r in the epilogue it already runs for bias and activation
 * (ResNet's 16 blocks, MobileNetV2's 10 projections): two passes over the
 * activation (the Add, then the Relu) and two steps go. Add broadcasts and
 * the IR's shapes of intermediate values are mostly unknown, so the fusion
 * is decided on a plan: r must have exactly the Conv output's shape. A
 * batched graph is probed at one row, and fused only when its plan is
 * stackable (every activation grows with the rows alike, so equal at one
 * row is equal at any); an unbatched graph only when its input shapes are
 * all known and none is read for its values (so that its one plan is all
 * there is). Any doubt leaves the graph as it is: unfused is always right.
 */
#include "plan/plan.h"

#include "ir/passes.h"

#include <string.h>

/* The Add reading conv output y, when it is y's only reader. */
static int sole_add(const cv_graph_t *g, int y)
{
    if (cv_ir_consumers(g, y) != 1 || cv_ir_is_graph_output(g, y)) return -1;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const cv_node_t *n = &g->nodes[ni];
        if (n->dead) continue;
        for (int i = 0; i < n->ninputs; i++)
            if (n->inputs[i] == y) return n->op == CV_OP_ADD && n->ninputs == 2 && n->noutputs == 1 ? ni : -1;
    }
    return -1;
}

/* A Conv that may take a residual: FP32, no activation yet (a Relu right
 * after it was folded already and must stay before any Add), ONNX arity. */
static bool conv_candidate(const cv_graph_t *g, const cv_node_t *n)
{
    return !n->dead && n->op == CV_OP_CONV && !n->fused_residual && n->activation == CV_ACTIVATION_NONE &&
           n->ninputs >= 2 && n->ninputs <= 3 && n->noutputs == 1 && n->outputs[0] >= 0;
}

/* The residual operand of `add` for the Conv at node index ci writing y,
 * or -1: the other operand, an activation produced before the Conv. */
static int residual_of(const cv_graph_t *g, const cv_node_t *add, int y, int ci)
{
    int r = add->inputs[0] == y ? add->inputs[1] : add->inputs[0];
    if (r < 0 || r == y || add->outputs[0] < 0) return -1;
    if (g->values[r].constant) return -1;
    return g->values[r].producer < ci ? r : -1;
}

static bool any_candidate(const cv_graph_t *g)
{
    for (int ci = 0; ci < g->nnodes; ci++) {
        const cv_node_t *n = &g->nodes[ci];
        if (!conv_candidate(g, n)) continue;
        int ai = sole_add(g, n->outputs[0]);
        if (ai >= 0 && residual_of(g, &g->nodes[ai], n->outputs[0], ci) >= 0) return true;
    }
    return false;
}

/* The input shapes of the probe plan; false when the graph's plans may
 * differ in ways one probe cannot tell. */
static bool probe_shapes(const cv_graph_t *g, cv_shape_t *shapes)
{
    for (int i = 0; i < g->ninputs; i++) {
        const cv_value_t *v = &g->values[g->inputs[i]];
        shapes[i] = v->shape;
        if (v->dtype != CV_DTYPE_FP32 && v->dtype != CV_DTYPE_FP16 && v->dtype != CV_DTYPE_FP64) return false;
        for (int d = 0; d < shapes[i].ndim; d++) {
            if (d == 0 && g->batched) shapes[i].dims[0] = 1;
            else if (shapes[i].dims[d] < 0) return false;
        }
    }
    return g->ninputs > 0;
}

static bool same_activation(const cv_plan_value_t *a, const cv_plan_value_t *b)
{
    bool computed = (a->storage == CV_STORAGE_ARENA || a->storage == CV_STORAGE_INPUT) &&
                    (b->storage == CV_STORAGE_ARENA || b->storage == CV_STORAGE_INPUT);
    return computed && a->dtype == CV_DTYPE_FP32 && b->dtype == CV_DTYPE_FP32 && cv_shape_equal(&a->shape, &b->shape);
}

/* Conv ci takes residual r in place of the Add ai that read its output. */
static cv_status fuse_one(cv_graph_t *g, int ci, int ai, int r, cv_err_t *err)
{
    cv_node_t *c = &g->nodes[ci], *add = &g->nodes[ai];
    int *grown = cv_realloc(c->inputs, sizeof(int) * 4);
    if (!grown) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory fusing a residual Add", g->path);
    c->inputs = grown;
    if (c->ninputs < 3) c->inputs[2] = -1; /* no bias */
    c->inputs[3] = r;
    c->ninputs = 4;
    c->fused_residual = true;
    g->values[c->outputs[0]].producer = -1; /* the Conv's own output is gone */
    c->outputs[0] = add->outputs[0];
    g->values[add->outputs[0]].producer = ci;
    add->dead = true;
    return CV_STATUS_OK;
}

cv_status cv_plan_fuse_residuals(cv_graph_t *g, cv_cpu_ctx_t *cpu, cv_err_t *err)
{
    if (!any_candidate(g)) return CV_STATUS_OK;
    cv_shape_t shapes[g->ninputs + 1];
    if (!probe_shapes(g, shapes)) return CV_STATUS_OK;
    cv_plan_t *plan;
    cv_err_t ignored;
    /* A graph that cannot be planned is reported when it is used, with
     * the shapes it is used with; here it just stays unfused. */
    cv_status st = cv_plan_build(g, shapes, NULL, cpu, &plan, &ignored);
    if (st == CV_STATUS_OUT_OF_MEMORY) return cv_errorf(err, st, "%s", ignored.msg);
    if (st != CV_STATUS_OK) return CV_STATUS_OK;
    if (g->batched && !plan->stackable) {
        cv_plan_destroy(plan);
        return CV_STATUS_OK;
    }
    /* Decide every fusion on the probe first: the plan reads the graph. */
    int *residual = cv_malloc(sizeof(int) * (size_t)(g->nnodes + 1));
    int *add_of = cv_malloc(sizeof(int) * (size_t)(g->nnodes + 1));
    if (!residual || !add_of) {
        cv_free(residual);
        cv_free(add_of);
        cv_plan_destroy(plan);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory fusing residual Adds", g->path);
    }
    for (int ci = 0; ci < g->nnodes; ci++) {
        const cv_node_t *n = &g->nodes[ci];
        residual[ci] = add_of[ci] = -1;
        if (!conv_candidate(g, n)) continue;
        int y = n->outputs[0], ai = sole_add(g, y);
        if (ai < 0) continue;
        int r = residual_of(g, &g->nodes[ai], y, ci);
        if (r < 0 || !same_activation(&plan->values[y], &plan->values[r])) continue;
        if (!same_activation(&plan->values[y], &plan->values[g->nodes[ai].outputs[0]])) continue;
        residual[ci] = r;
        add_of[ci] = ai;
    }
    cv_plan_destroy(plan);
    st = CV_STATUS_OK;
    for (int ci = 0; ci < g->nnodes && st == CV_STATUS_OK; ci++) {
        /* An Add both of whose operands are Convs is claimed by the later
         * one only (the earlier one's residual would be produced after it). */
        if (residual[ci] >= 0 && !g->nodes[add_of[ci]].dead) st = fuse_one(g, ci, add_of[ci], residual[ci], err);
    }
    cv_free(residual);
    cv_free(add_of);
    if (st == CV_STATUS_OK) cv_ir_fold_activations(g); /* the Relu after the Add */
    return st;
}
