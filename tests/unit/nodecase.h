/*
 * nodecase.h: a one-node graph with host data, the unit of the backend
 * differential tests (test_backend_ops.c, test_gpu_kernels.c): the node's
 * run-time inputs (host tensors), its constants (values of the graph, some
 * of them weights, which differ between tenants), its attributes, and the
 * tolerance its results are held to. The reference is the op's CPU kernel
 * (cv_op_def(op)->cpu) run on host tensors after the op's inference.
 *
 * Building order: cv_test_node_new, then the inputs in order
 * (cv_test_node_input / _const / _absent), then cv_test_node_add (the node
 * and its outputs), then attributes. A case owns its graph and the host
 * tensors it was given; cv_test_node_free releases them.
 * Not here: running the node on a backend (each test does, its own way).
 */
#ifndef CV_TEST_NODECASE_H
#define CV_TEST_NODECASE_H

#include "graphs.h"

#define CV_TEST_NODE_MAX_IN 8
#define CV_TEST_NODE_MAX_OUT 4

typedef struct cv_test_node {
    const char *label; /* for messages; borrowed */
    cv_op_t op;
    cv_graph_t *g;
    int nin, nout, node;
    int values[CV_TEST_NODE_MAX_IN];           /* graph value of each input, -1 when absent */
    cv_tensor_t *runtime[CV_TEST_NODE_MAX_IN]; /* host data of run-time inputs (owned) */
    double rel, abs_tol; /* results within abs_tol + rel * |reference| */
} cv_test_node_t;

/* An empty case of `op` at `opset`, held to 1e-5 relative plus 1e-6. */
void cv_test_node_new(cv_test_node_t *nc, cv_op_t op, int opset, const char *label);
/* A run-time input (an activation, a graph input); takes t. */
void cv_test_node_input(cv_test_node_t *nc, cv_tensor_t *t);
/* A constant input; a weight differs between tenants. Takes t. */
void cv_test_node_const(cv_test_node_t *nc, cv_tensor_t *t, bool weight);
/* An omitted optional input. */
void cv_test_node_absent(cv_test_node_t *nc);
/* Adds the node, with `nout` outputs, once every input is in. */
void cv_test_node_add(cv_test_node_t *nc, int nout);
void cv_test_node_int(cv_test_node_t *nc, const char *name, int64_t v);
void cv_test_node_float(cv_test_node_t *nc, const char *name, float v);
void cv_test_node_string(cv_test_node_t *nc, const char *name, const char *s);
void cv_test_node_ints(cv_test_node_t *nc, const char *name, const int64_t *v, int n);
/* Exact results: for ops that only move or select values. */
void cv_test_node_exact(cv_test_node_t *nc);
/* 1e-5 relative plus 1e-5: transcendental functions, sums in another order. */
void cv_test_node_loose(cv_test_node_t *nc);
void cv_test_node_free(cv_test_node_t *nc);

/* Whether input i is a constant of the graph, and a weight. */
bool cv_test_node_is_const(const cv_test_node_t *nc, int i);
bool cv_test_node_is_weight(const cv_test_node_t *nc, int i);
/* The host tensors of the inputs (NULL where absent): run-time data, or the
 * graph's constants (the first tenant's). */
void cv_test_node_host_inputs(const cv_test_node_t *nc, const cv_tensor_t **ins);
/* Infers the outputs of the node on `ins` and allocates them in outs[0..nout). */
void cv_test_node_infer(const cv_test_node_t *nc, const cv_tensor_t *const *ins, cv_tensor_t *outs);
/* The op's CPU kernel on `ins` into outs (allocated by cv_test_node_infer). */
void cv_test_node_cpu(const cv_test_node_t *nc, const cv_tensor_t *const *ins, cv_tensor_t *outs);

#endif
