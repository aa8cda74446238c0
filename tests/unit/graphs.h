/*
 * graphs.h: IR graphs (cv_graph_t) built in C for tests, their plans, the
 * tenants' constants on a backend, and waves run through the executor
 * (cv_exec_wave). test_wave.c, test_gpu_wave.c, test_gpu_graph.c and the
 * backend harness (test_backend_ops.c, through nodecase.h) build on it.
 *
 * A graph belongs to the caller (cv_graph_destroy); the builders append to
 * it and return the index of the value or node they added. Attribute
 * setters copy what they are given. Failures (out of memory, a plan that
 * does not build, a wave that fails) fail the running test.
 * Not here: ONNX files (onnxmodel.h).
 */
#ifndef CV_TEST_GRAPHS_H
#define CV_TEST_GRAPHS_H

#include "testutil.h"

#include "backend/backend.h"
#include "backend/cpu/cpu.h"
#include "exec/exec.h"

/* An empty graph read from `path` (for messages) at `opset`; when
 * `batched`, dim 0 of every input is the symbolic batch axis. */
cv_graph_t *cv_test_graph_new(const char *path, int opset, bool batched);

/* ---- values ---------------------------------------------------------------- */
/* A run-time input of dtype x shape (dim 0 declared -1 in a batched graph),
 * appended to the graph's inputs. */
int cv_test_graph_input(cv_graph_t *g, const char *name, cv_dtype_t dtype, cv_shape_t shape);
/* A constant holding t (ownership taken); a weight differs between the
 * tenants of a family. */
int cv_test_graph_const(cv_graph_t *g, const char *name, cv_tensor_t *t, bool weight);
/* A weight of FP32 x shape, pseudo-random in [-1, 1) from `seed`. */
int cv_test_graph_weight(cv_graph_t *g, const char *name, cv_shape_t shape, uint64_t seed);
/* A 1-D INT64 constant of n values (not a weight). */
int cv_test_graph_const_ints(cv_graph_t *g, const char *name, const int64_t *v, int n);
/* An FP32 scalar constant (not a weight). */
int cv_test_graph_const_scalar(cv_graph_t *g, const char *name, float v);
/* Appends value v to the graph's outputs. */
void cv_test_graph_output(cv_graph_t *g, int v);

/* ---- nodes -------------------------------------------------------------------- */
/* A node of `op` on values in[0..nin) (-1: an omitted input) with one
 * output, a new value called `name` as the node is; returns the node. */
int cv_test_graph_node(cv_graph_t *g, cv_op_t op, const int *in, int nin, const char *name);
/* Output 0 of node n. */
int cv_test_graph_out(const cv_graph_t *g, int n);
/* A 2-D Conv of x: m output channels from c, a k x k kernel with its own
 * weights (`name`_w, and `name`_b where bias) drawn from seed, `stride`,
 * `group` groups, padding k / 2 on every side; returns the node. */
int cv_test_graph_conv(cv_graph_t *g, const char *name, int x, int64_t m, int64_t c, int64_t k, int64_t stride,
                       int64_t group, bool bias, uint64_t seed);
void cv_test_graph_attr_int(cv_graph_t *g, int n, const char *name, int64_t v);
void cv_test_graph_attr_float(cv_graph_t *g, int n, const char *name, float v);
/* Sets nothing when count is 0 (an attribute left at its default). */
void cv_test_graph_attr_ints(cv_graph_t *g, int n, const char *name, const int64_t *v, int count);
void cv_test_graph_attr_floats(cv_graph_t *g, int n, const char *name, const float *v, int count);
void cv_test_graph_attr_string(cv_graph_t *g, int n, const char *name, const char *s);
/* A copy of t (taken by the attribute). */
void cv_test_graph_attr_tensor(cv_graph_t *g, int n, const char *name, const cv_tensor_t *t);

/* ---- tenants of one family ------------------------------------------------- */
/* A deep copy of g (values, constants, nodes, attributes, inputs, outputs). */
cv_graph_t *cv_test_graph_clone(const cv_graph_t *g);
/* Makes g another tenant of its family: every floating-point weight w
 * becomes w * (1 + t / 2) + t / 8, a change that keeps positive weights
 * (variances, divisors) positive and bounds in their order. Integer
 * weights stay: they may be shapes or indices. */
void cv_test_graph_vary_weights(cv_graph_t *g, int t);

/* ---- preparing, planning, running ------------------------------------------- */
/* cv_ir_prepare (inference, folding, Conv+BN+activation fusion). */
void cv_test_graph_prepare(cv_graph_t *g, cv_cpu_ctx_t *cpu);
/* The plan of g for these input shapes (one per graph input). */
cv_plan_t *cv_test_plan(const cv_graph_t *g, const cv_shape_t *shapes, cv_cpu_ctx_t *cpu);
/* The plan of a batched graph of one input for `rows` rows. */
cv_plan_t *cv_test_plan_rows(const cv_graph_t *g, int64_t rows, cv_cpu_ctx_t *cpu);

/* A backend's copy of g's constants (tenant_upload), released with
 * cv_test_tenant_release. */
void **cv_test_tenant_upload(cv_backend_t *be, const cv_graph_t *g, cv_precision_t precision);
void cv_test_tenant_release(cv_backend_t *be, const cv_graph_t *g, void **constants);

/* Runs `plan` as one wave of `nslices` slices on ex's backend: slice s has
 * rows[s] rows and its tenant's constants tables[s]. inputs: one host
 * tensor per graph input with the slices' rows stacked along dim 0 (in a
 * graph without a batch axis, nslices is 1 and inputs are whole). outputs:
 * one per graph output, allocated here with the plan's shapes (the caller
 * frees them); each slice fills its rows of the batched ones. */
void cv_test_wave_run(cv_executor_t *ex, const cv_plan_t *plan, void **const *tables, const int64_t *rows,
                      int nslices, cv_precision_t precision, const cv_tensor_t *inputs, cv_tensor_t *outputs);

#endif
