/*
 * infer_layout.c: shape and dtype inference for the layout, shape and
 * reduction operators (Reshape ... ReduceSum in op.h).
 *
 * These operators move bytes, so every dtype Caravel stores is accepted
 * (STRING is refused by name); only the reductions need numbers. Inputs that
 * decide an output shape (Reshape's shape, Slice's starts, Pad's pads, ...)
 * must be constants: they are read with cv_const_ints, which answers
 * UNSUPPORTED for a computed one. Values that only the kernel needs (Gather's
 * indices, Pad's constant_value) may be computed at run time, so the kernel
 * checks them. The matching kernels are in src/backend/cpu/cpu_layout.c.
 */
#include "ir/infer.h"

#include <math.h>
#include <string.h>

/* Output tensors stay well clear of byte counts that overflow int64. */
#define LAYOUT_MAX_ELEMS (INT64_MAX / 16)

/* ---- helpers ------------------------------------------------------------ */

static const cv_tensor_t *in_at(const cv_op_args_t *args, int i)
{
    return i < args->ninputs ? args->inputs[i] : NULL;
}

static cv_tensor_t *out_at(const cv_op_args_t *args, int i)
{
    return i < args->noutputs ? args->outputs[i] : NULL;
}

static void set_out(const cv_op_args_t *args, int i, cv_dtype_t dtype, const cv_shape_t *shape)
{
    cv_tensor_t *o = out_at(args, i);
    if (!o) return;
    o->dtype = dtype;
    o->shape = *shape;
}

/* "[a,b,c]" of n int64 values, for messages. */
static const char *ints_s(const int64_t *v, int n, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? "," : "", (long long)v[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

/* Byte-moving ops accept every stored dtype. */
static cv_status require_stored(const char *op, const cv_tensor_t *t, cv_err_t *err)
{
    if (cv_dtype_size(t->dtype) == 0)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s on %s is not supported", op,
                         cv_dtype_name(t->dtype));
    return CV_STATUS_OK;
}

/* Checks that a shape made from constant data has no negative dims and a
 * sane element count; `what` names it. The product of the non-zero dims is
 * bounded too: an empty tensor of [544,136,9851624184872961,0] would still
 * overflow every count that multiplies its dims left to right
 * (cv_shape_numel, strides, outer sizes in kernels). */
static cv_status check_made_shape(const cv_shape_t *s, const char *what, cv_err_t *err)
{
    int64_t n = 1;
    char buf[160];
    for (int i = 0; i < s->ndim; i++) {
        if (s->dims[i] < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s %s has a negative dim", what,
                             cv_shape_str(s, buf, sizeof buf));
    }
    for (int i = 0; i < s->ndim; i++) {
        if (s->dims[i] == 0) continue;
        if (__builtin_mul_overflow(n, s->dims[i], &n) || n > LAYOUT_MAX_ELEMS)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s %s is too large (its non-zero dims multiply past 2^59)", what,
                             cv_shape_str(s, buf, sizeof buf));
    }
    return CV_STATUS_OK;
}

/* Reads constant axes (up to CV_MAX_DIMS) and normalises them against
 * `rank`, rejecting repeats. */
static cv_status read_axes(const cv_tensor_t *t, const char *what, int rank, int *axes, int *n,
                           cv_err_t *err)
{
    int64_t raw[CV_MAX_DIMS];
    cv_status st = cv_const_ints(t, what, raw, CV_MAX_DIMS, n, err);
    if (st != CV_STATUS_OK) return st;
    for (int i = 0; i < *n; i++) {
        if (raw[i] < -rank || raw[i] >= rank)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s entry %lld is out of range for rank %d", what,
                             (long long)raw[i], rank);
        axes[i] = (int)(raw[i] < 0 ? raw[i] + rank : raw[i]);
        for (int j = 0; j < i; j++)
            if (axes[j] == axes[i])
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s repeats axis %d", what,
                                 axes[i]);
    }
    return CV_STATUS_OK;
}

static cv_status infer_same(const cv_op_args_t *args, const char *op, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored(op, x, err)) != CV_STATUS_OK) return st;
    set_out(args, 0, x->dtype, &x->shape);
    return CV_STATUS_OK;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout ------------ */

cv_status cv_infer_reshape(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Reshape", x, err)) != CV_STATUS_OK) return st;
    int64_t req[CV_MAX_DIMS];
    int n;
    if ((st = cv_const_ints(args->inputs[1], "Reshape's shape input", req, CV_MAX_DIMS, &n,
                            err)) != CV_STATUS_OK)
        return st;
    bool allowzero = cv_node_attr_int(args->node, "allowzero", 0) != 0;
    char sx[160], sr[160];
    int64_t total = cv_shape_numel(&x->shape);
    cv_shape_t out = {.ndim = n};
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        int64_t d = req[i];
        if (d == -1) {
            if (infer_at >= 0)
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "Reshape's shape %s has more than one -1",
                                 ints_s(req, n, sr, sizeof sr));
            infer_at = i;
            continue;
        }
        if (d < -1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Reshape's shape %s has the invalid dim %lld",
                             ints_s(req, n, sr, sizeof sr), (long long)d);
        if (d == 0 && !allowzero) {
            if (i >= x->shape.ndim)
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "Reshape's shape %s copies dim %d (0) but the input %s has "
                                 "rank %d",
                                 ints_s(req, n, sr, sizeof sr), i,
                                 cv_shape_str(&x->shape, sx, sizeof sx), x->shape.ndim);
            d = x->shape.dims[i];
        }
        out.dims[i] = d;
        if (__builtin_mul_overflow(known, d, &known) || known > LAYOUT_MAX_ELEMS) known = -1;
    }
    bool ok = known >= 0;
    if (ok && infer_at >= 0) {
        if (allowzero && known == 0) {
            ok = false; /* allowzero forbids 0 with -1: the -1 is undetermined */
        } else if (known == 0) {
            ok = total == 0;
            out.dims[infer_at] = 0;
        } else {
            ok = total % known == 0;
            out.dims[infer_at] = total / known;
        }
    } else if (ok) {
        ok = known == total;
    }
    if (!ok)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Reshape cannot turn %s (%lld elements) into %s",
                         cv_shape_str(&x->shape, sx, sizeof sx), (long long)total,
                         ints_s(req, n, sr, sizeof sr));
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_flatten(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Flatten", x, err)) != CV_STATUS_OK) return st;
    int r = x->shape.ndim;
    int64_t axis = cv_node_attr_int(args->node, "axis", 1);
    if (axis < -r || axis > r)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Flatten axis %lld is out of range for rank %d (allowed %d..%d)",
                         (long long)axis, r, -r, r);
    if (axis < 0) axis += r;
    cv_shape_t out = {.ndim = 2, .dims = {1, 1}};
    for (int i = 0; i < r; i++) out.dims[i < axis ? 0 : 1] *= x->shape.dims[i];
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_squeeze(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Squeeze", x, err)) != CV_STATUS_OK) return st;
    int r = x->shape.ndim;
    bool drop[CV_MAX_DIMS] = {false};
    const cv_tensor_t *axes_t = in_at(args, 1);
    int axes[CV_MAX_DIMS], n = 0;
    if (axes_t && (st = read_axes(axes_t, "Squeeze's axes", r, axes, &n, err)) != CV_STATUS_OK)
        return st;
    if (n > 0) {
        for (int i = 0; i < n; i++) {
            if (x->shape.dims[axes[i]] != 1) {
                char sx[160];
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "Squeeze axis %d of %s has size %lld, not 1", axes[i],
                                 cv_shape_str(&x->shape, sx, sizeof sx),
                                 (long long)x->shape.dims[axes[i]]);
            }
            drop[axes[i]] = true;
        }
    } else { /* no axes, or an empty list: every 1-dim */
        for (int i = 0; i < r; i++) drop[i] = x->shape.dims[i] == 1;
    }
    cv_shape_t out = {.ndim = 0};
    for (int i = 0; i < r; i++)
        if (!drop[i]) out.dims[out.ndim++] = x->shape.dims[i];
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_unsqueeze(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Unsqueeze", x, err)) != CV_STATUS_OK) return st;
    const cv_tensor_t *axes_t = in_at(args, 1);
    if (!axes_t)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Unsqueeze needs its axes input");
    int64_t raw[CV_MAX_DIMS];
    int n;
    if ((st = cv_const_ints(axes_t, "Unsqueeze's axes", raw, CV_MAX_DIMS, &n, err)) !=
        CV_STATUS_OK)
        return st;
    int r = x->shape.ndim + n;
    if (r > CV_MAX_DIMS)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "Unsqueeze output rank %d exceeds the limit of %d", r, CV_MAX_DIMS);
    int axes[CV_MAX_DIMS];
    if ((st = read_axes(axes_t, "Unsqueeze's axes", r, axes, &n, err)) != CV_STATUS_OK)
        return st;
    bool inserted[CV_MAX_DIMS] = {false};
    for (int i = 0; i < n; i++) inserted[axes[i]] = true;
    cv_shape_t out = {.ndim = r};
    for (int i = 0, j = 0; i < r; i++) out.dims[i] = inserted[i] ? 1 : x->shape.dims[j++];
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_identity(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_same(args, "Identity", err);
}

cv_status cv_infer_dropout(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = infer_same(args, "Dropout", err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *training = in_at(args, 2);
    if (training) {
        if (!training->data)
            return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                             "Dropout's training_mode must be a constant (only inference is "
                             "supported)");
        if (cv_shape_numel(&training->shape) != 1 || cv_dtype_size(training->dtype) == 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Dropout's training_mode must be one BOOL");
        if (cv_tensor_get_i64(training, 0) != 0)
            return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                             "Dropout in training mode is not supported");
    }
    const cv_tensor_t *x = args->inputs[0];
    /* The mask became BOOL in opset 10; before, it had the input's type. */
    cv_dtype_t mask = args->node && args->node->opset > 0 && args->node->opset < 10
                          ? x->dtype
                          : CV_DTYPE_BOOL;
    set_out(args, 1, mask, &x->shape);
    return CV_STATUS_OK;
}

/* ---- Transpose, Concat, Split, Slice, Gather ---------------------------- */

cv_status cv_infer_transpose(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Transpose", x, err)) != CV_STATUS_OK) return st;
    int r = x->shape.ndim, n;
    const int64_t *perm = cv_node_attr_ints(args->node, "perm", &n);
    cv_shape_t out = {.ndim = r};
    if (!perm) {
        for (int i = 0; i < r; i++) out.dims[i] = x->shape.dims[r - 1 - i];
        set_out(args, 0, x->dtype, &out);
        return CV_STATUS_OK;
    }
    bool seen[CV_MAX_DIMS] = {false};
    bool ok = n == r;
    for (int i = 0; ok && i < n; i++) {
        ok = perm[i] >= 0 && perm[i] < r && !seen[perm[i]];
        if (ok) seen[perm[i]] = true;
    }
    if (!ok) {
        char sp[160];
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "perm %s is not a permutation of %d axes",
                         ints_s(perm, CV_MIN(n, 32), sp, sizeof sp), r);
    }
    for (int i = 0; i < r; i++) out.dims[i] = x->shape.dims[perm[i]];
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_concat(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, CV_MAX(args->ninputs, 1), err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x0 = args->inputs[0];
    if ((st = require_stored("Concat", x0, err)) != CV_STATUS_OK) return st;
    int r = x0->shape.ndim, axis;
    if (r == 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Concat inputs must have rank >= 1");
    int64_t axis_attr = cv_node_attr_int(args->node, "axis", INT64_MIN);
    if (axis_attr == INT64_MIN)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Concat needs the attribute axis");
    if ((st = cv_normalize_axis(axis_attr, r, &axis, err)) != CV_STATUS_OK) return st;
    cv_shape_t out = x0->shape;
    for (int i = 1; i < args->ninputs; i++) {
        const cv_tensor_t *x = args->inputs[i];
        if (x->dtype != x0->dtype)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Concat inputs 0 and %d differ in dtype (%s vs %s)", i,
                             cv_dtype_name(x0->dtype), cv_dtype_name(x->dtype));
        if (x->shape.ndim != r)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Concat inputs 0 and %d differ in rank (%d vs %d)", i, r,
                             x->shape.ndim);
        for (int d = 0; d < r; d++) {
            if (d != axis && x->shape.dims[d] != x0->shape.dims[d])
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "Concat inputs 0 and %d differ in dim %d (%lld vs %lld)", i, d,
                                 (long long)x0->shape.dims[d], (long long)x->shape.dims[d]);
        }
        out.dims[axis] += x->shape.dims[axis];
    }
    set_out(args, 0, x0->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_split(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Split", x, err)) != CV_STATUS_OK) return st;
    int axis, nout = args->noutputs;
    if ((st = cv_normalize_axis(cv_node_attr_int(args->node, "axis", 0), x->shape.ndim, &axis,
                                err)) != CV_STATUS_OK)
        return st;
    if (nout < 1) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Split has no outputs");
    int64_t dim = x->shape.dims[axis];
    int64_t *sizes = cv_malloc(sizeof(int64_t) * (size_t)nout);
    if (!sizes) return CV_STATUS_OUT_OF_MEMORY;
    const cv_tensor_t *split_t = in_at(args, 1);
    int64_t num_outputs = cv_node_attr_int(args->node, "num_outputs", 0);
    if (split_t) {
        int n;
        st = cv_const_ints(split_t, "Split's split input", sizes, nout, &n, err);
        if (st == CV_STATUS_OK && n != nout)
            st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                           "Split's split has %d entries for %d outputs", n, nout);
        int64_t sum = 0;
        for (int i = 0; st == CV_STATUS_OK && i < n; i++) {
            if (sizes[i] < 0 || sizes[i] > dim)
                st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                               "Split's split entry %d is %lld, outside 0..%lld", i,
                               (long long)sizes[i], (long long)dim);
            sum += sizes[i];
        }
        if (st == CV_STATUS_OK && sum != dim)
            st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                           "Split's split sums to %lld, but dim %d has size %lld",
                           (long long)sum, axis, (long long)dim);
    } else if (num_outputs > 0 && num_outputs != nout) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                       "Split's num_outputs %lld differs from its %d outputs",
                       (long long)num_outputs, nout);
    } else if (num_outputs > 0) {
        /* Opset 18: chunks of ceil(dim / n), the last ones smaller. */
        int64_t chunk = (dim + nout - 1) / nout, left = dim;
        for (int i = 0; i < nout; i++) {
            sizes[i] = CV_MIN(chunk, left);
            left -= sizes[i];
        }
    } else if (dim % nout != 0) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                       "Split cannot divide dim %d of size %lld into %d equal parts", axis,
                       (long long)dim, nout);
    } else {
        for (int i = 0; i < nout; i++) sizes[i] = dim / nout;
    }
    if (st == CV_STATUS_OK) {
        for (int i = 0; i < nout; i++) {
            cv_shape_t s = x->shape;
            s.dims[axis] = sizes[i];
            set_out(args, i, x->dtype, &s);
        }
    }
    cv_free(sizes);
    return st;
}

cv_status cv_infer_slice(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 3, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Slice", x, err)) != CV_STATUS_OK) return st;
    int r = x->shape.ndim;
    int64_t starts[CV_MAX_DIMS], ends[CV_MAX_DIMS], steps[CV_MAX_DIMS];
    int axes[CV_MAX_DIMS];
    int n, ne, na, ns;
    if ((st = cv_const_ints(args->inputs[1], "Slice's starts", starts, CV_MAX_DIMS, &n, err)) !=
            CV_STATUS_OK ||
        (st = cv_const_ints(args->inputs[2], "Slice's ends", ends, CV_MAX_DIMS, &ne, err)) !=
            CV_STATUS_OK)
        return st;
    if (ne != n)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Slice's starts has %d entries but ends has %d", n, ne);
    const cv_tensor_t *axes_t = in_at(args, 3), *steps_t = in_at(args, 4);
    if (axes_t) {
        if ((st = read_axes(axes_t, "Slice's axes", r, axes, &na, err)) != CV_STATUS_OK)
            return st;
        if (na != n)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Slice's axes has %d entries but starts has %d", na, n);
    } else {
        if (n > r)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Slice's starts has %d entries for rank %d", n, r);
        for (int i = 0; i < n; i++) axes[i] = i;
    }
    if (steps_t) {
        if ((st = cv_const_ints(steps_t, "Slice's steps", steps, CV_MAX_DIMS, &ns, err)) !=
            CV_STATUS_OK)
            return st;
        if (ns != n)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Slice's steps has %d entries but starts has %d", ns, n);
    } else {
        for (int i = 0; i < n; i++) steps[i] = 1;
    }
    cv_shape_t out = x->shape;
    for (int i = 0; i < n; i++) {
        int64_t d = x->shape.dims[axes[i]], s = starts[i], e = ends[i], step = steps[i];
        if (step == 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Slice's step for axis %d is 0",
                             axes[i]);
        if (s < 0) s += d;
        if (e < 0) e += d;
        int64_t len;
        if (step > 0) {
            s = CV_MAX(0, CV_MIN(s, d));
            e = CV_MAX(0, CV_MIN(e, d));
            len = e > s ? 1 + (e - s - 1) / step : 0;
        } else {
            s = CV_MAX(-1, CV_MIN(s, d - 1));
            e = CV_MAX(-1, CV_MIN(e, d - 1));
            int64_t mag = step == INT64_MIN ? INT64_MAX : -step;
            len = s > e ? 1 + (s - e - 1) / mag : 0;
        }
        out.dims[axes[i]] = len;
    }
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_gather(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0], *idx = args->inputs[1];
    if ((st = require_stored("Gather", x, err)) != CV_STATUS_OK) return st;
    if (idx->dtype != CV_DTYPE_INT64 && idx->dtype != CV_DTYPE_INT32)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Gather's indices must be INT64 or INT32, not %s",
                         cv_dtype_name(idx->dtype));
    int r = x->shape.ndim, axis;
    if (r == 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Gather's data must have rank >= 1");
    if ((st = cv_normalize_axis(cv_node_attr_int(args->node, "axis", 0), r, &axis, err)) !=
        CV_STATUS_OK)
        return st;
    int q = idx->shape.ndim, ro = r - 1 + q;
    if (ro > CV_MAX_DIMS)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "Gather output rank %d exceeds the limit of %d", ro, CV_MAX_DIMS);
    if (x->shape.dims[axis] == 0 && cv_shape_numel(&idx->shape) > 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Gather has indices but dim %d of the data is empty", axis);
    cv_shape_t out = {.ndim = ro};
    int o = 0;
    for (int i = 0; i < axis; i++) out.dims[o++] = x->shape.dims[i];
    for (int i = 0; i < q; i++) out.dims[o++] = idx->shape.dims[i];
    for (int i = axis + 1; i < r; i++) out.dims[o++] = x->shape.dims[i];
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

/* ---- Shape, Constant, ConstantOfShape, Range ---------------------------- */

cv_status cv_infer_shape(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    int r = args->inputs[0]->shape.ndim;
    int64_t start = cv_node_attr_int(args->node, "start", 0);
    int64_t end = cv_node_attr_int(args->node, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = CV_MAX(0, CV_MIN(start, r));
    end = CV_MAX(0, CV_MIN(end, r));
    cv_shape_t out = {.ndim = 1, .dims = {CV_MAX(0, end - start)}};
    set_out(args, 0, CV_DTYPE_INT64, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_constant(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_node_t *node = args->node;
    static const char *const refused[] = {"sparse_value", "value_string", "value_strings"};
    for (size_t i = 0; i < CV_ARRAY_LEN(refused); i++)
        if (cv_node_attr(node, refused[i]))
            return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                             "Constant with attribute %s is not supported", refused[i]);
    const cv_attr_t *a;
    cv_shape_t shape = {.ndim = 0};
    if ((a = cv_node_attr(node, "value")) && a->type == CV_ATTR_TENSOR && a->tensor) {
        cv_status st = require_stored("Constant", a->tensor, err);
        if (st != CV_STATUS_OK) return st;
        set_out(args, 0, a->tensor->dtype, &a->tensor->shape);
        return CV_STATUS_OK;
    }
    if ((a = cv_node_attr(node, "value_float")) && a->type == CV_ATTR_FLOAT) {
        set_out(args, 0, CV_DTYPE_FP32, &shape);
        return CV_STATUS_OK;
    }
    if ((a = cv_node_attr(node, "value_int")) && a->type == CV_ATTR_INT) {
        set_out(args, 0, CV_DTYPE_INT64, &shape);
        return CV_STATUS_OK;
    }
    shape.ndim = 1;
    if ((a = cv_node_attr(node, "value_floats")) && a->type == CV_ATTR_FLOATS) {
        shape.dims[0] = a->n;
        set_out(args, 0, CV_DTYPE_FP32, &shape);
        return CV_STATUS_OK;
    }
    if ((a = cv_node_attr(node, "value_ints")) && a->type == CV_ATTR_INTS) {
        shape.dims[0] = a->n;
        set_out(args, 0, CV_DTYPE_INT64, &shape);
        return CV_STATUS_OK;
    }
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                     "Constant needs one of the attributes value, value_float, value_floats, "
                     "value_int, value_ints");
}

cv_status cv_infer_constant_of_shape(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    int64_t dims[CV_MAX_DIMS];
    int n;
    if ((st = cv_const_ints(args->inputs[0], "ConstantOfShape's shape input", dims, CV_MAX_DIMS,
                            &n, err)) != CV_STATUS_OK)
        return st;
    cv_dtype_t dtype = CV_DTYPE_FP32;
    const cv_attr_t *a = cv_node_attr(args->node, "value");
    if (a) {
        if (a->type != CV_ATTR_TENSOR || !a->tensor || cv_shape_numel(&a->tensor->shape) != 1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "ConstantOfShape's value must be a tensor of one element");
        if ((st = require_stored("ConstantOfShape", a->tensor, err)) != CV_STATUS_OK) return st;
        dtype = a->tensor->dtype;
    }
    cv_shape_t out = {.ndim = n};
    memcpy(out.dims, dims, sizeof(int64_t) * (size_t)n);
    if ((st = check_made_shape(&out, "ConstantOfShape's shape", err)) != CV_STATUS_OK) return st;
    set_out(args, 0, dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_range(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 3, err);
    if (st != CV_STATUS_OK) return st;
    static const char *const names[] = {"start", "limit", "delta"};
    cv_dtype_t dtype = args->inputs[0]->dtype;
    for (int i = 0; i < 3; i++) {
        const cv_tensor_t *t = args->inputs[i];
        if (t->dtype != dtype)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Range's %s is %s but start is %s", names[i],
                             cv_dtype_name(t->dtype), cv_dtype_name(dtype));
        if (!cv_dtype_is_numeric(dtype))
            return cv_errorf(err, CV_STATUS_UNSUPPORTED, "Range on %s is not supported",
                             cv_dtype_name(dtype));
        if (cv_shape_numel(&t->shape) != 1 || t->shape.ndim > 1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Range's %s must be a scalar",
                             names[i]);
        if (!t->data)
            return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                             "Range's %s must be a constant (computed shapes are not supported)",
                             names[i]);
    }
    int64_t len;
    if (cv_dtype_is_float(dtype)) {
        double start = cv_tensor_get_f64(args->inputs[0], 0);
        double limit = cv_tensor_get_f64(args->inputs[1], 0);
        double delta = cv_tensor_get_f64(args->inputs[2], 0);
        if (delta == 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Range's delta is 0");
        double n = ceil((limit - start) / delta);
        if (!(n < (double)LAYOUT_MAX_ELEMS) && !(n <= 0))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Range from %g to %g by %g has no finite length", start, limit,
                             delta);
        len = n > 0 ? (int64_t)n : 0;
    } else {
        __int128 start = cv_tensor_get_i64(args->inputs[0], 0);
        __int128 limit = cv_tensor_get_i64(args->inputs[1], 0);
        __int128 delta = cv_tensor_get_i64(args->inputs[2], 0);
        if (delta == 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Range's delta is 0");
        __int128 diff = limit - start, n;
        if ((diff > 0) != (delta > 0) || diff == 0)
            n = 0;
        else if (delta > 0)
            n = (diff + delta - 1) / delta;
        else
            n = (diff + delta + 1) / delta;
        if (n > LAYOUT_MAX_ELEMS)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Range is too long");
        len = (int64_t)n;
    }
    cv_shape_t out = {.ndim = 1, .dims = {len}};
    set_out(args, 0, dtype, &out);
    return CV_STATUS_OK;
}

/* ---- Expand, Tile, Pad -------------------------------------------------- */

cv_status cv_infer_expand(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Expand", x, err)) != CV_STATUS_OK) return st;
    int64_t dims[CV_MAX_DIMS];
    int n;
    if ((st = cv_const_ints(args->inputs[1], "Expand's shape input", dims, CV_MAX_DIMS, &n,
                            err)) != CV_STATUS_OK)
        return st;
    cv_shape_t want = {.ndim = n}, out;
    memcpy(want.dims, dims, sizeof(int64_t) * (size_t)n);
    if ((st = check_made_shape(&want, "Expand's shape", err)) != CV_STATUS_OK) return st;
    if ((st = cv_broadcast_shapes(&x->shape, &want, &out, err)) != CV_STATUS_OK) return st;
    if ((st = check_made_shape(&out, "Expand's output", err)) != CV_STATUS_OK) return st;
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_tile(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Tile", x, err)) != CV_STATUS_OK) return st;
    int64_t reps[CV_MAX_DIMS];
    int n;
    if ((st = cv_const_ints(args->inputs[1], "Tile's repeats", reps, CV_MAX_DIMS, &n, err)) !=
        CV_STATUS_OK)
        return st;
    if (n != x->shape.ndim)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Tile's repeats has %d entries for an input of rank %d", n,
                         x->shape.ndim);
    cv_shape_t out = x->shape;
    for (int i = 0; i < n; i++) {
        if (reps[i] < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Tile's repeats entry %d is %lld",
                             i, (long long)reps[i]);
        if (__builtin_mul_overflow(out.dims[i], reps[i], &out.dims[i]))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Tile's output is too large");
    }
    if ((st = check_made_shape(&out, "Tile's output", err)) != CV_STATUS_OK) return st;
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_pad(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = require_stored("Pad", x, err)) != CV_STATUS_OK) return st;
    const char *mode = cv_node_attr_string(args->node, "mode", "constant");
    bool constant = strcmp(mode, "constant") == 0;
    if (!constant && strcmp(mode, "reflect") != 0 && strcmp(mode, "edge") != 0 &&
        strcmp(mode, "wrap") != 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Pad mode '%s' is not one of constant, reflect, edge, wrap", mode);
    int r = x->shape.ndim, axes[CV_MAX_DIMS], na = r, np;
    int64_t pads[2 * CV_MAX_DIMS];
    if ((st = cv_const_ints(args->inputs[1], "Pad's pads", pads, 2 * CV_MAX_DIMS, &np, err)) !=
        CV_STATUS_OK)
        return st;
    const cv_tensor_t *value = in_at(args, 2), *axes_t = in_at(args, 3);
    if (axes_t) {
        if ((st = read_axes(axes_t, "Pad's axes", r, axes, &na, err)) != CV_STATUS_OK) return st;
    } else {
        for (int i = 0; i < r; i++) axes[i] = i;
    }
    if (np != 2 * na)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Pad's pads has %d entries, expected %d (2 per axis)", np, 2 * na);
    if (value && cv_shape_numel(&value->shape) > 0 && value->dtype != x->dtype)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Pad's constant_value is %s but the data is %s",
                         cv_dtype_name(value->dtype), cv_dtype_name(x->dtype));
    if (value && cv_shape_numel(&value->shape) > 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Pad's constant_value must be one element");
    cv_shape_t out = x->shape;
    for (int i = 0; i < na; i++) {
        int a = axes[i];
        int64_t d = x->shape.dims[a], pb = pads[i], pe = pads[na + i];
        if (__builtin_add_overflow(d, pb, &out.dims[a]) ||
            __builtin_add_overflow(out.dims[a], pe, &out.dims[a]) || out.dims[a] < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Pad's pads %lld and %lld do not fit dim %d of size %lld",
                             (long long)pb, (long long)pe, a, (long long)d);
        int64_t kept = d - CV_MAX(0, -pb) - CV_MAX(0, -pe);
        if (!constant && kept <= 0 && (pb > 0 || pe > 0))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Pad mode '%s' cannot pad dim %d, which has no elements", mode, a);
    }
    if ((st = check_made_shape(&out, "Pad's output", err)) != CV_STATUS_OK) return st;
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

/* ---- ReduceMean, ReduceSum ---------------------------------------------- */

static cv_status infer_reduce(const cv_op_args_t *args, const char *op, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if (!cv_dtype_is_numeric(x->dtype))
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s on %s is not supported", op,
                         cv_dtype_name(x->dtype));
    int r = x->shape.ndim, axes[CV_MAX_DIMS], n = 0;
    char what[64];
    snprintf(what, sizeof what, "%s's axes", op);
    const cv_tensor_t *axes_t = in_at(args, 1);
    if (axes_t && (st = read_axes(axes_t, what, r, axes, &n, err)) != CV_STATUS_OK) return st;
    bool keepdims = cv_node_attr_int(args->node, "keepdims", 1) != 0;
    bool noop = cv_node_attr_int(args->node, "noop_with_empty_axes", 0) != 0;
    if (n == 0 && noop) {
        set_out(args, 0, x->dtype, &x->shape);
        return CV_STATUS_OK;
    }
    bool reduced[CV_MAX_DIMS] = {false};
    for (int i = 0; i < r; i++) reduced[i] = n == 0;
    for (int i = 0; i < n; i++) reduced[axes[i]] = true;
    cv_shape_t out = {.ndim = 0};
    for (int i = 0; i < r; i++) {
        if (!reduced[i])
            out.dims[out.ndim++] = x->shape.dims[i];
        else if (keepdims)
            out.dims[out.ndim++] = 1;
    }
    set_out(args, 0, x->dtype, &out);
    return CV_STATUS_OK;
}

cv_status cv_infer_reduce_mean(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_reduce(args, "ReduceMean", err);
}

cv_status cv_infer_reduce_sum(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_reduce(args, "ReduceSum", err);
}
