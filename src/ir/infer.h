/*
 * infer.h: helpers shared by the shape-inference functions of all ops.
 */
#ifndef CV_IR_INFER_H
#define CV_IR_INFER_H

#include "ir/graph.h"

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
