/*
 * infer.c: helpers shared by the shape-inference functions.
 */
#include "ir/infer.h"

/* Elements past which a shape cannot be a tensor (see cv_infer_node). */
#define INFER_MAX_ELEMS (INT64_MAX / 16)

cv_status cv_infer_node(const cv_op_args_t *args, cv_err_t *err)
{
    /* Output 0 is required by every op Caravel has, and kernels write it. */
    if (args->noutputs < 1 || !args->outputs[0])
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "the node has no output 0, which %s always produces",
                         cv_op_name(args->node->op));
    cv_status st = cv_op_def(args->node->op)->infer(args, err);
    if (st != CV_STATUS_OK) return st;
    for (int o = 0; o < args->noutputs; o++) {
        const cv_tensor_t *t = args->outputs[o];
        if (!t) continue;
        /* an output the op does not define (Sqrt given three) gets no type */
        if (t->dtype == CV_DTYPE_UNDEFINED)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "output %d is not one %s defines (the node lists %d)", o,
                             cv_op_name(args->node->op), args->noutputs);
        /* zero dims are skipped: an empty tensor must not hide huge dims */
        int64_t elems = 1;
        for (int d = 0; d < t->shape.ndim; d++) {
            if (t->shape.dims[d] <= 0) continue;
            if (__builtin_mul_overflow(elems, t->shape.dims[d], &elems) || elems > INFER_MAX_ELEMS) {
                char s[160];
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "output %d would have shape %s, too large for a tensor (its dims "
                                 "multiply past 2^59)",
                                 o, cv_shape_str(&t->shape, s, sizeof s));
            }
        }
    }
    return CV_STATUS_OK;
}

cv_status cv_broadcast_shapes(const cv_shape_t *a, const cv_shape_t *b, cv_shape_t *out,
                              cv_err_t *err)
{
    int nd = CV_MAX(a->ndim, b->ndim);
    cv_shape_t r = {.ndim = nd};
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1)
            r.dims[i] = da;
        else if (da == 1)
            r.dims[i] = db;
        else {
            char sa[128], sb[128];
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "shapes %s and %s do not broadcast", cv_shape_str(a, sa, sizeof sa),
                             cv_shape_str(b, sb, sizeof sb));
        }
    }
    *out = r;
    return CV_STATUS_OK;
}

cv_status cv_normalize_axis(int64_t axis, int ndim, int *out, cv_err_t *err)
{
    int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "axis %lld is out of range for rank %d",
                         (long long)axis, ndim);
    *out = (int)a;
    return CV_STATUS_OK;
}

cv_status cv_const_ints(const cv_tensor_t *t, const char *what, int64_t *out, int max, int *n,
                        cv_err_t *err)
{
    if (!t->data)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "%s must be a constant (computed shapes are not supported)", what);
    if (t->dtype != CV_DTYPE_INT64 && t->dtype != CV_DTYPE_INT32)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s must be INT64, not %s", what,
                         cv_dtype_name(t->dtype));
    int64_t count = cv_shape_numel(&t->shape);
    if (count > max)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s has %lld entries, at most %d allowed",
                         what, (long long)count, max);
    for (int64_t i = 0; i < count; i++) out[i] = cv_tensor_get_i64(t, i);
    *n = (int)count;
    return CV_STATUS_OK;
}

cv_status cv_infer_require_inputs(const cv_op_args_t *args, int min, cv_err_t *err)
{
    if (args->ninputs < min)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "needs %d inputs, has %d", min,
                         args->ninputs);
    for (int i = 0; i < min; i++)
        if (!args->inputs[i])
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input %d is required", i);
    return CV_STATUS_OK;
}
