/*
 * passes.h: the transformations a tenant's graph goes through once, at load,
 * before its family's plans are built:
 *
 *   fold constants   nodes whose inputs are all constants are evaluated on
 *                    the CPU (Constant nodes, weight transforms, shape
 *                    arithmetic on fixed shapes); their outputs become
 *                    constants
 *   fold BatchNorm   Conv -> BatchNormalization becomes one Conv with scaled
 *                    weights and bias; a following Relu or Clip (constant
 *                    bounds) becomes the Conv's fused activation, and so
 *                    does a Relu/Clip after Gemm
 *   remove dead      nodes whose outputs reach no graph output
 *
 * and the family hash: equal for graphs that are identical up to weight
 * values, so their tenants can share plans and waves.
 *
 * Every pass keeps value and node indices stable (removed nodes are marked
 * dead, never deleted), so that two tenants of one family still have
 * matching indices after the passes.
 */
#ifndef CV_IR_PASSES_H
#define CV_IR_PASSES_H

#include "ir/graph.h"

/* Constant folding runs CPU kernels in this context (backend/cpu/cpu.h). */
typedef struct cv_cpu_ctx cv_cpu_ctx_t;

/* Runs every pass above, in order. Messages name the file and node. */
cv_status cv_ir_prepare(cv_graph_t *g, cv_cpu_ctx_t *cpu, cv_err_t *err);

cv_status cv_ir_fold_constants(cv_graph_t *g, cv_cpu_ctx_t *cpu, cv_err_t *err);
cv_status cv_ir_fold_batchnorm(cv_graph_t *g, cv_err_t *err);
void cv_ir_fold_activations(cv_graph_t *g);
void cv_ir_remove_dead(cv_graph_t *g);

/* Runs one node's shape inference and CPU kernel on `inputs` (all with
 * data), allocating its outputs (cv_tensor_new) into outputs[]. Used by
 * constant folding here and at plan time. On failure nothing is left
 * allocated and err names the node. */
cv_status cv_ir_eval_node(const cv_graph_t *g, int node, const cv_tensor_t *const *inputs,
                          cv_tensor_t **outputs, cv_cpu_ctx_t *cpu, cv_err_t *err);

/* Structural hash: ops, attributes, topology, dtypes and shapes of every
 * value, and the values of non-weight constants (shapes, axes); not the
 * values of weights. */
uint64_t cv_ir_family_hash(const cv_graph_t *g);

/* Number of live nodes that read value v, and whether v is a graph output. */
int cv_ir_consumers(const cv_graph_t *g, int v);
bool cv_ir_is_graph_output(const cv_graph_t *g, int v);

#endif /* CV_IR_PASSES_H */
