/*
 * infer.h: helpers shared by the shape-inference functions of all ops.
 */
#ifndef CV_IR_INFER_H
#define CV_IR_INFER_H

#include "ir/graph.h"

/* Runs the shape inference of args->node's op, with the checks every op
 * shares, each an INVALID_ARGUMENT naming the output: output 0 must be
 * there (no op has it optional; kernels write it), every output the node
 * lists must be one the op defines (inference gave it a dtype), and no
 * output may have known non-zero dims that multiply past 2^59 elements
 * (2^62 bytes at 8 an element). Any op can be driven there by a model (Conv pads of
 * 2^60, broadcasting [2^40,1] with [1,2^40]), and the byte counts made from
 * such a shape later (cv_shape_numel, the plan's arena) would overflow.
 * Constant folding and plans call this rather than cv_op_def(op)->infer. */
cv_status cv_infer_node(const cv_op_args_t *args, cv_err_t *err);

/* numpy broadcasting of two shapes; INVALID_ARGUMENT with a message naming
 * both shapes when they do not broadcast. */
cv_status cv_broadcast_shapes(const cv_shape_t *a, const cv_shape_t *b, cv_shape_t *out,
                              cv_err_t *err);
/* Maps a possibly negative axis into [0, ndim); INVALID_ARGUMENT when out of range. */
cv_status cv_normalize_axis(int64_t axis, int ndim, int *out, cv_err_t *err);
/* Reads a constant integer tensor (INT64 or INT32) of at most `max` elements
 * into out[]; *n = its element count. INVALID_ARGUMENT when `t` has no data
 * (not a constant: `what` names it in the message) or is too long. */
cv_status cv_const_ints(const cv_tensor_t *t, const char *what, int64_t *out, int max, int *n,
                        cv_err_t *err);
/* Checks args->ninputs >= min and that inputs[0..min) are present. */
cv_status cv_infer_require_inputs(const cv_op_args_t *args, int min, cv_err_t *err);

#endif /* CV_IR_INFER_H */
