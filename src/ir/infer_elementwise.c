/*
 * infer_elementwise.c: shape and dtype inference of the elementwise ops
 * (activations, unary math, broadcasting arithmetic, comparisons, Where,
 * Cast).
 *
 * Each function checks what the ONNX spec requires (dtypes that must agree,
 * shapes that must broadcast, attribute values) and also refuses, with
 * CV_STATUS_UNSUPPORTED, the dtypes the CPU kernels of
 * src/backend/cpu/cpu_elementwise.c do not compute: constant folding runs
 * those kernels on whatever inference accepts, so the two files must agree.
 */
#include "ir/infer.h"

#include <string.h>

/* The dtypes a kernel family handles. */
typedef enum dtype_class {
    CLASS_FLOAT,       /* FP32, FP64, FP16, BF16 */
    CLASS_FLOAT_SINT,  /* floats and signed integers */
    CLASS_NUMERIC,     /* floats and all integers */
    CLASS_NUMERIC_BOOL /* numeric and BOOL */
} dtype_class_t;

static bool dtype_is_signed_int(cv_dtype_t dt)
{
    return dt == CV_DTYPE_INT8 || dt == CV_DTYPE_INT16 || dt == CV_DTYPE_INT32 ||
           dt == CV_DTYPE_INT64;
}

static bool dtype_in_class(cv_dtype_t dt, dtype_class_t cls)
{
    switch (cls) {
    case CLASS_FLOAT: return cv_dtype_is_float(dt);
    case CLASS_FLOAT_SINT: return cv_dtype_is_float(dt) || dtype_is_signed_int(dt);
    case CLASS_NUMERIC: return cv_dtype_is_numeric(dt);
    case CLASS_NUMERIC_BOOL: return cv_dtype_is_numeric(dt) || dt == CV_DTYPE_BOOL;
    }
    return false;
}

static const char *op_name(const cv_op_args_t *args)
{
    return args->node ? cv_op_name(args->node->op) : "op";
}

/* UNSUPPORTED naming op and dtype when input `i` is outside `cls`. */
static cv_status check_dtype(const cv_op_args_t *args, int i, dtype_class_t cls, cv_err_t *err)
{
    cv_dtype_t dt = args->inputs[i]->dtype;
    if (dtype_in_class(dt, cls)) return CV_STATUS_OK;
    return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s on %s (input %d) is not supported",
                     op_name(args), cv_dtype_name(dt), i);
}

/* INVALID_ARGUMENT naming both dtypes when input `i` differs from input 0. */
static cv_status check_same_dtype(const cv_op_args_t *args, int first, int i, cv_err_t *err)
{
    cv_dtype_t a = args->inputs[first]->dtype, b = args->inputs[i]->dtype;
    if (a == b) return CV_STATUS_OK;
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                     "%s needs inputs of one dtype: input %d is %s, input %d is %s", op_name(args),
                     first, cv_dtype_name(a), i, cv_dtype_name(b));
}

static cv_status set_output(const cv_op_args_t *args, cv_dtype_t dtype, const cv_shape_t *shape,
                            cv_err_t *err)
{
    if (args->noutputs < 1 || !args->outputs[0])
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s needs output 0", op_name(args));
    args->outputs[0]->dtype = dtype;
    args->outputs[0]->shape = *shape;
    return CV_STATUS_OK;
}

/* One input of a dtype in `cls`; the output has its dtype and shape. */
static cv_status infer_unary(const cv_op_args_t *args, dtype_class_t cls, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st == CV_STATUS_OK) st = check_dtype(args, 0, cls, err);
    if (st != CV_STATUS_OK) return st;
    return set_output(args, args->inputs[0]->dtype, &args->inputs[0]->shape, err);
}

/* Inputs [first, first+count) all present, of one dtype in `cls`,
 * broadcasting together into *shape. */
static cv_status infer_broadcast_inputs(const cv_op_args_t *args, int first, int count,
                                        dtype_class_t cls, cv_shape_t *shape, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, first + count, err);
    if (st != CV_STATUS_OK) return st;
    if ((st = check_dtype(args, first, cls, err)) != CV_STATUS_OK) return st;
    *shape = args->inputs[first]->shape;
    for (int i = first + 1; i < first + count; i++) {
        if ((st = check_same_dtype(args, first, i, err)) != CV_STATUS_OK) return st;
        cv_shape_t joined;
        st = cv_broadcast_shapes(shape, &args->inputs[i]->shape, &joined, err);
        if (st != CV_STATUS_OK) return st;
        *shape = joined;
    }
    return CV_STATUS_OK;
}

static cv_status infer_binary(const cv_op_args_t *args, dtype_class_t cls, cv_err_t *err)
{
    cv_shape_t shape;
    cv_status st = infer_broadcast_inputs(args, 0, 2, cls, &shape, err);
    if (st != CV_STATUS_OK) return st;
    return set_output(args, args->inputs[0]->dtype, &shape, err);
}

/* Min, Max, Sum, Mean: 1..N inputs. */
static cv_status infer_variadic(const cv_op_args_t *args, dtype_class_t cls, cv_err_t *err)
{
    if (args->ninputs < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s needs at least one input",
                         op_name(args));
    cv_shape_t shape;
    cv_status st = infer_broadcast_inputs(args, 0, args->ninputs, cls, &shape, err);
    if (st != CV_STATUS_OK) return st;
    return set_output(args, args->inputs[0]->dtype, &shape, err);
}

/* ---- activations and unary math ------------------------------------------ */

cv_status cv_infer_relu(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT_SINT, err);
}

cv_status cv_infer_leaky_relu(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_elu(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_selu(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_sigmoid(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_hard_sigmoid(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_hard_swish(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_tanh(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_erf(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_gelu(const cv_op_args_t *args, cv_err_t *err)
{
    const char *approx = args->node ? cv_node_attr_string(args->node, "approximate", "none")
                                    : "none";
    if (strcmp(approx, "none") != 0 && strcmp(approx, "tanh") != 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "attribute approximate is \"%s\", expected \"none\" or \"tanh\"", approx);
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_softplus(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_sqrt(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_exp(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_log(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT, err);
}

cv_status cv_infer_neg(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_FLOAT_SINT, err);
}

cv_status cv_infer_abs(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_unary(args, CLASS_NUMERIC, err);
}

/* Clip(x, [min], [max]): the bounds are optional scalars of x's dtype. */
cv_status cv_infer_clip(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = infer_unary(args, CLASS_NUMERIC, err);
    if (st != CV_STATUS_OK) return st;
    static const char *const names[] = {"x", "min", "max"};
    for (int i = 1; i < args->ninputs && i < 3; i++) {
        const cv_tensor_t *bound = args->inputs[i];
        if (!bound) continue;
        if (bound->dtype != args->inputs[0]->dtype)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "input %s is %s, expected the dtype of x (%s)", names[i],
                             cv_dtype_name(bound->dtype), cv_dtype_name(args->inputs[0]->dtype));
        if (cv_shape_numel(&bound->shape) != 1) {
            char buf[128];
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "input %s has shape %s, expected a scalar", names[i],
                             cv_shape_str(&bound->shape, buf, sizeof buf));
        }
    }
    if (args->ninputs > 3)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Clip takes at most 3 inputs, has %d",
                         args->ninputs);
    return CV_STATUS_OK;
}

/* PRelu(X, slope): slope broadcasts to X (unidirectionally). */
cv_status cv_infer_prelu(const cv_op_args_t *args, cv_err_t *err)
{
    cv_shape_t shape;
    cv_status st = infer_broadcast_inputs(args, 0, 2, CLASS_NUMERIC, &shape, err);
    if (st != CV_STATUS_OK) return st;
    if (!cv_shape_equal(&shape, &args->inputs[0]->shape)) {
        char sx[128], ss[128];
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "slope of shape %s does not broadcast to X of shape %s",
                         cv_shape_str(&args->inputs[1]->shape, ss, sizeof ss),
                         cv_shape_str(&args->inputs[0]->shape, sx, sizeof sx));
    }
    return set_output(args, args->inputs[0]->dtype, &shape, err);
}

/* ---- broadcasting arithmetic ------------------------------------------- */

cv_status cv_infer_add(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_binary(args, CLASS_NUMERIC, err);
}

cv_status cv_infer_sub(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_binary(args, CLASS_NUMERIC, err);
}

cv_status cv_infer_mul(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_binary(args, CLASS_NUMERIC, err);
}

cv_status cv_infer_div(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_binary(args, CLASS_NUMERIC, err);
}

/* Pow(X, Y): Y may have another numeric dtype; Z has X's. */
cv_status cv_infer_pow(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st == CV_STATUS_OK) st = check_dtype(args, 0, CLASS_NUMERIC, err);
    if (st == CV_STATUS_OK) st = check_dtype(args, 1, CLASS_NUMERIC, err);
    if (st != CV_STATUS_OK) return st;
    cv_shape_t shape;
    st = cv_broadcast_shapes(&args->inputs[0]->shape, &args->inputs[1]->shape, &shape, err);
    if (st != CV_STATUS_OK) return st;
    return set_output(args, args->inputs[0]->dtype, &shape, err);
}

cv_status cv_infer_min(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_variadic(args, CLASS_NUMERIC, err);
}

cv_status cv_infer_max(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_variadic(args, CLASS_NUMERIC, err);
}

cv_status cv_infer_sum(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_variadic(args, CLASS_NUMERIC, err);
}

/* The spec defines Mean for floats only (an integer mean would round). */
cv_status cv_infer_mean(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_variadic(args, CLASS_FLOAT, err);
}

/* ---- comparison, selection, conversion ---------------------------------- */

cv_status cv_infer_equal(const cv_op_args_t *args, cv_err_t *err)
{
    cv_shape_t shape;
    cv_status st = infer_broadcast_inputs(args, 0, 2, CLASS_NUMERIC_BOOL, &shape, err);
    if (st != CV_STATUS_OK) return st;
    return set_output(args, CV_DTYPE_BOOL, &shape, err);
}

/* Where(condition BOOL, X, Y): all three broadcast together. */
cv_status cv_infer_where(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 3, err);
    if (st != CV_STATUS_OK) return st;
    if (args->inputs[0]->dtype != CV_DTYPE_BOOL)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input condition is %s, expected BOOL",
                         cv_dtype_name(args->inputs[0]->dtype));
    cv_shape_t shape;
    st = infer_broadcast_inputs(args, 1, 2, CLASS_NUMERIC_BOOL, &shape, err);
    if (st != CV_STATUS_OK) return st;
    cv_shape_t joined;
    st = cv_broadcast_shapes(&args->inputs[0]->shape, &shape, &joined, err);
    if (st != CV_STATUS_OK) return st;
    return set_output(args, args->inputs[1]->dtype, &joined, err);
}

/* Cast(input) with attribute `to`: any pair of the stored dtypes. */
cv_status cv_infer_cast(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_attr_t *to_attr = args->node ? cv_node_attr(args->node, "to") : NULL;
    if (!to_attr || to_attr->type != CV_ATTR_INT)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "attribute to (the target dtype, an int) is required");
    int64_t to = to_attr->i;
    bool known = to == CV_DTYPE_STRING ||
                 (to > 0 && to <= CV_DTYPE_BF16 && cv_dtype_size((cv_dtype_t)to) > 0);
    if (!known)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "attribute to is %lld, not a dtype Caravel stores", (long long)to);
    cv_dtype_t out = (cv_dtype_t)to;
    if (out == CV_DTYPE_STRING)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "Cast to STRING is not supported");
    cv_dtype_t in = args->inputs[0]->dtype;
    if (!dtype_in_class(in, CLASS_NUMERIC_BOOL))
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "Cast from %s is not supported",
                         cv_dtype_name(in));
    return set_output(args, out, &args->inputs[0]->shape, err);
}
