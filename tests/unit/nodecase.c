/*
 * nodecase.c: a one-node graph with host data (see nodecase.h).
 */
#include "nodecase.h"

#include <stdio.h>
#include <string.h>

void cv_test_node_new(cv_test_node_t *nc, cv_op_t op, int opset, const char *label)
{
    memset(nc, 0, sizeof *nc);
    nc->label = label;
    nc->op = op;
    nc->g = cv_test_graph_new(label, opset, false);
    nc->node = -1;
    nc->rel = 1e-5;
    nc->abs_tol = 1e-6;
}

void cv_test_node_input(cv_test_node_t *nc, cv_tensor_t *t)
{
    assert_true(nc->nin < CV_TEST_NODE_MAX_IN && nc->node < 0);
    char name[32];
    snprintf(name, sizeof name, "in%d", nc->nin);
    nc->values[nc->nin] = cv_test_graph_input(nc->g, name, t->dtype, t->shape);
    nc->runtime[nc->nin++] = t;
}

void cv_test_node_const(cv_test_node_t *nc, cv_tensor_t *t, bool weight)
{
    assert_true(nc->nin < CV_TEST_NODE_MAX_IN && nc->node < 0);
    char name[32];
    snprintf(name, sizeof name, "const%d", nc->nin);
    nc->values[nc->nin++] = cv_test_graph_const(nc->g, name, t, weight);
}

void cv_test_node_absent(cv_test_node_t *nc)
{
    assert_true(nc->nin < CV_TEST_NODE_MAX_IN && nc->node < 0);
    nc->values[nc->nin++] = -1;
}

void cv_test_node_add(cv_test_node_t *nc, int nout)
{
    assert_true(nout <= CV_TEST_NODE_MAX_OUT && nc->node < 0);
    int outs[CV_TEST_NODE_MAX_OUT];
    for (int o = 0; o < nout; o++) {
        char name[32];
        snprintf(name, sizeof name, "out%d", o);
        outs[o] = cv_graph_add_value(nc->g, name);
        assert_true(outs[o] >= 0);
    }
    nc->node = cv_graph_add_node(nc->g, nc->label, nc->op, nc->values, nc->nin, outs, nout);
    assert_true(nc->node >= 0);
    nc->nout = nout;
}

void cv_test_node_int(cv_test_node_t *nc, const char *name, int64_t v)
{
    assert_true(nc->node >= 0);
    cv_test_graph_attr_int(nc->g, nc->node, name, v);
}

void cv_test_node_float(cv_test_node_t *nc, const char *name, float v)
{
    assert_true(nc->node >= 0);
    cv_test_graph_attr_float(nc->g, nc->node, name, v);
}

void cv_test_node_string(cv_test_node_t *nc, const char *name, const char *s)
{
    assert_true(nc->node >= 0);
    cv_test_graph_attr_string(nc->g, nc->node, name, s);
}

void cv_test_node_ints(cv_test_node_t *nc, const char *name, const int64_t *v, int n)
{
    assert_true(nc->node >= 0 && n > 0);
    cv_test_graph_attr_ints(nc->g, nc->node, name, v, n);
}

void cv_test_node_exact(cv_test_node_t *nc) { nc->rel = nc->abs_tol = 0.0; }

void cv_test_node_loose(cv_test_node_t *nc) { nc->rel = nc->abs_tol = 1e-5; }

void cv_test_node_free(cv_test_node_t *nc)
{
    for (int i = 0; i < nc->nin; i++)
        if (nc->runtime[i]) cv_tensor_destroy(nc->runtime[i]);
    cv_graph_destroy(nc->g);
    memset(nc, 0, sizeof *nc);
}

bool cv_test_node_is_const(const cv_test_node_t *nc, int i)
{
    return nc->values[i] >= 0 && nc->g->values[nc->values[i]].constant;
}

bool cv_test_node_is_weight(const cv_test_node_t *nc, int i)
{
    return cv_test_node_is_const(nc, i) && nc->g->values[nc->values[i]].is_weight;
}

void cv_test_node_host_inputs(const cv_test_node_t *nc, const cv_tensor_t **ins)
{
    for (int i = 0; i < nc->nin; i++) {
        int v = nc->values[i];
        ins[i] = v < 0 ? NULL : cv_test_node_is_const(nc, i) ? nc->g->values[v].constant : nc->runtime[i];
    }
}

void cv_test_node_infer(const cv_test_node_t *nc, const cv_tensor_t *const *ins, cv_tensor_t *outs)
{
    /* Inference sees the data of constants only, as the planner shows it. */
    cv_tensor_t shells[CV_TEST_NODE_MAX_IN];
    const cv_tensor_t *sp[CV_TEST_NODE_MAX_IN];
    cv_tensor_t *op[CV_TEST_NODE_MAX_OUT];
    for (int i = 0; i < nc->nin; i++) {
        sp[i] = NULL;
        if (!ins[i]) continue;
        shells[i] = *ins[i];
        if (!cv_test_node_is_const(nc, i)) shells[i].data = NULL;
        sp[i] = &shells[i];
    }
    memset(outs, 0, sizeof(cv_tensor_t) * (size_t)nc->nout);
    for (int o = 0; o < nc->nout; o++) op[o] = &outs[o];
    cv_op_args_t args = {.node = &nc->g->nodes[nc->node], .inputs = sp, .ninputs = nc->nin,
                         .outputs = op, .noutputs = nc->nout};
    cv_err_t err = {{0}};
    cv_status st = cv_op_def(nc->op)->infer(&args, &err);
    if (st != CV_STATUS_OK) fail_msg("%s: infer: %s", nc->label, err.msg);
    for (int o = 0; o < nc->nout; o++) {
        cv_shape_t shape = outs[o].shape;
        assert_int_equal(cv_tensor_alloc(&outs[o], outs[o].dtype, &shape), CV_STATUS_OK);
    }
}

void cv_test_node_cpu(const cv_test_node_t *nc, const cv_tensor_t *const *ins, cv_tensor_t *outs)
{
    cv_tensor_t *op[CV_TEST_NODE_MAX_OUT];
    for (int o = 0; o < nc->nout; o++) op[o] = &outs[o];
    cv_cpu_ctx_t ctx = {.threads = 1};
    cv_op_args_t args = {.node = &nc->g->nodes[nc->node], .inputs = ins, .ninputs = nc->nin,
                         .outputs = op, .noutputs = nc->nout, .cpu = &ctx};
    cv_err_t err = {{0}};
    cv_status st = cv_op_def(nc->op)->cpu(&args, &err);
    cv_cpu_ctx_release(&ctx);
    if (st != CV_STATUS_OK) fail_msg("%s: CPU kernel: %s", nc->label, err.msg);
}
