/*
 * plan.h: a family's compiled form for one set of input shapes (in
 * particular, one wave width: the total rows of all slices).
 *
 * Building a plan runs shape inference over the (already folded) graph,
 * folds what became constant once shapes are known (Shape -> Gather ->
 * Concat -> Reshape chains that exporters emit around the batch axis),
 * lists the steps to run, decides where each activation lives in one arena
 * (liveness-based reuse; view ops share their input's bytes), and checks
 * whether rows of different slices stay apart through every step, which is
 * what lets a wave stack several tenants along the batch axis.
 *
 * A plan reads the graph it was built from only for structure; weights
 * come from each slice's own tenant at run time, and constants that are no
 * weights (structure, equal in a family) from the graph itself.
 */
#ifndef CV_PLAN_H
#define CV_PLAN_H

#include "ir/graph.h"

/* Constant folding runs CPU kernels in this context (backend/cpu/cpu.h). */
typedef struct cv_cpu_ctx cv_cpu_ctx_t;

typedef enum cv_storage {
    CV_STORAGE_NONE = 0,  /* not used by this plan */
    CV_STORAGE_INPUT,     /* a graph input: the wave's stacked input buffer */
    CV_STORAGE_ARENA,     /* an activation at arena + offset */
    CV_STORAGE_CONSTANT,  /* a tenant constant (each slice's own) */
    CV_STORAGE_PLAN_CONSTANT, /* folded at plan time from shapes; shared */
} cv_storage_t;

typedef struct cv_plan_value {
    cv_dtype_t dtype;
    cv_shape_t shape;      /* for the plan's total rows */
    cv_storage_t storage;
    size_t offset;         /* CV_STORAGE_ARENA: byte offset in the arena */
    int alias_of;          /* view of another value's bytes, or -1 */
    int input_index;       /* CV_STORAGE_INPUT: which graph input */
    cv_tensor_t *plan_constant; /* CV_STORAGE_PLAN_CONSTANT */
    const void *known_data; /* an input whose values the plan was built for */
    bool batched;          /* dim 0 grows with the rows: slices are row runs */
    /* May be kept in FP16/BF16 between steps of a reduced-precision wave
     * (plan.c, mark_half_values): only 2-D Convs and MaxPools write and
     * read it. */
    bool half_ok;
    /* ...and a MaxPool writes or reads it: a backend may keep these FP32
     * while it keeps the others half (cuda: cv_cuda_t.half_pools). */
    bool half_by_pool;
    /* May be stored channels innermost, [N, H, W, C], by a backend that
     * keeps small planes so (plan.c, mark_channels_inner): a half_ok
     * value no MaxPool touches, written by a 2-D Conv of one group and
     * read only by such Convs, as data or as the fused residual; a Conv's
     * output only where its residual is marked too. The flag is
     * permission: a backend picks the values it keeps so by their shape
     * alone (a Conv's output and its residual have one shape), so that
     * the producer and every reader of a value agree. */
    bool channels_inner_ok;
} cv_plan_value_t;

typedef struct cv_plan_step {
    int node;
    bool weighted; /* reads a weight: runs once per slice with its tenant's */
} cv_plan_step_t;

typedef struct cv_plan {
    const cv_graph_t *graph;
    /* Never reused in the process (0: a plan not made by cv_plan_build):
     * the executor knows by it whose constants its buffer holds. */
    uint64_t serial;
    int64_t rows;          /* total rows (dim 0 of the inputs) when batched */
    cv_shape_t *input_shapes; /* the shapes this plan was built for */
    /* Values of small integer inputs of unbatched graphs (shape vectors,
     * axes fed at run time), which the plan depends on; NULL elsewhere. */
    cv_tensor_t **input_values;
    int ninputs;
    cv_plan_value_t *values; /* one per graph value */
    cv_plan_step_t *steps;
    int nsteps;
    int max_step_inputs, max_step_outputs; /* the widest step's arity */
    size_t arena_bytes;
    double flops;          /* the wave's floating-point operations: the sum
                              of cv_plan_step_flops over its steps */
    /* Whether a wave may hold several slices; when false, why not. */
    bool stackable;
    char not_stackable_why[CV_ERR_LEN + 128];
} cv_plan_t;

/* Builds the plan of graph g for the given input shapes (one per graph
 * input). `inputs` (may be NULL) gives the host tensors of a first request:
 * in a graph without a batch axis, the values of small integer inputs are
 * read at plan time (a Reshape's shape fed as an input) and the plan holds
 * for those values only (see cv_plan_matches). INVALID_ARGUMENT when shapes
 * do not fit the graph, UNSUPPORTED when the graph needs what Caravel lacks;
 * err names the node and the reason. */
cv_status cv_plan_build(const cv_graph_t *g, const cv_shape_t *input_shapes,
                        const cv_tensor_t *inputs, cv_cpu_ctx_t *cpu, cv_plan_t **out,
                        cv_err_t *err);
/* Whether `plan` serves a wave with these input shapes and values. */
bool cv_plan_matches(const cv_plan_t *plan, const cv_shape_t *input_shapes,
                     const cv_tensor_t *inputs);
void cv_plan_destroy(cv_plan_t *plan);

/* Load-time fusions decided on a probe plan (src/plan/fuse.c): a residual
 * Add after a Conv (and the Relu/Clip after it) folds into the Conv
 * (node->fused_residual). Leaves the graph as it was wherever the probe
 * cannot prove the fusion exact; OUT_OF_MEMORY is the only failure. Runs
 * after cv_ir_prepare, before the graph's family hash is taken. */
cv_status cv_plan_fuse_residuals(cv_graph_t *g, cv_cpu_ctx_t *cpu, cv_err_t *err);

/* What step s does (for the step profile), from its op and geometry. */
cv_step_kind_t cv_plan_step_kind(const cv_plan_t *plan, int s);

/* Floating-point operations of step s over the plan's rows, counted the
 * usual way for CNNs: 2 per multiply-add of a Conv (input channels per
 * group x kernel taps per output element), Gemm or MatMul (the inner
 * dimension per output element); 0 for every other step, whose work is
 * memory traffic (biases, activations, pooling, layout). */
double cv_plan_step_flops(const cv_plan_t *plan, int s);

/* True for ops whose output 0 can share input 0's bytes (Reshape, ...). */
bool cv_plan_is_view_op(cv_op_t op);

#endif /* CV_PLAN_H */
