/*
 * infer_nn.c: shape and dtype inference of the neural-network ops: Conv,
 * BatchNormalization, Gemm, MatMul, the pools, LRN, LayerNormalization,
 * Softmax and LogSoftmax.
 *
 * Each function checks what the ONNX spec requires (ranks, channel counts,
 * attribute lengths and values) and refuses with CV_STATUS_UNSUPPORTED the
 * dtypes the kernels of src/backend/cpu/cpu_conv.c and cpu_nn.c do not
 * compute (constant folding runs those kernels on whatever is accepted
 * here): FP32 everywhere, FP64 for Conv, Gemm and MatMul.
 *
 * Spatial ops (Conv and the windowed pools) take 1 to 3 spatial dims. A dim
 * that is not known (< 0) yields an unknown output dim rather than an error.
 */
#include "ir/infer.h"

#include <string.h>

#define NN_MAX_SPATIAL 3

static const char *op_name(const cv_op_args_t *args)
{
    return args->node ? cv_op_name(args->node->op) : "op";
}

/* UNSUPPORTED naming the op and dtype unless `dt` is FP32 (or FP64 when
 * `allow_fp64`). */
static cv_status check_dtype(const cv_op_args_t *args, const char *what, cv_dtype_t dt,
                             bool allow_fp64, cv_err_t *err)
{
    if (dt == CV_DTYPE_FP32 || (allow_fp64 && dt == CV_DTYPE_FP64)) return CV_STATUS_OK;
    return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s on %s (%s) is not supported%s", op_name(args),
                     cv_dtype_name(dt), what,
                     allow_fp64 ? "; FP32 or FP64 expected" : "; FP32 expected");
}

static cv_status check_same_dtype(const cv_op_args_t *args, int i, const char *what, cv_err_t *err)
{
    cv_dtype_t a = args->inputs[0]->dtype, b = args->inputs[i]->dtype;
    if (a == b) return CV_STATUS_OK;
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s is %s but input 0 is %s", what,
                     cv_dtype_name(b), cv_dtype_name(a));
}

static const cv_tensor_t *opt_input(const cv_op_args_t *args, int i)
{
    return i < args->ninputs ? args->inputs[i] : NULL;
}

static cv_tensor_t *opt_output(const cv_op_args_t *args, int i)
{
    return i < args->noutputs ? args->outputs[i] : NULL;
}

static cv_status set_output(const cv_op_args_t *args, int i, cv_dtype_t dtype,
                            const cv_shape_t *shape, cv_err_t *err)
{
    cv_tensor_t *out = opt_output(args, i);
    if (!out) {
        if (i == 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s needs output 0", op_name(args));
        return CV_STATUS_OK;
    }
    out->dtype = dtype;
    out->shape = *shape;
    return CV_STATUS_OK;
}

static const char *shape_str(const cv_shape_t *s, char *buf, size_t len)
{
    return cv_shape_str(s, buf, len);
}

/* ---- windows: Conv, MaxPool, AveragePool -------------------------------- */

typedef enum auto_pad {
    AUTO_PAD_NOTSET,
    AUTO_PAD_SAME_UPPER,
    AUTO_PAD_SAME_LOWER,
    AUTO_PAD_VALID,
} auto_pad_t;

/* A sliding window over the spatial dims, as the attributes describe it. */
typedef struct window {
    int nd;
    int64_t kernel[NN_MAX_SPATIAL];
    int64_t stride[NN_MAX_SPATIAL];
    int64_t dilation[NN_MAX_SPATIAL];
    int64_t pads[2 * NN_MAX_SPATIAL]; /* begins, then ends (NOTSET only) */
    auto_pad_t auto_pad;
    bool ceil_mode;
} window_t;

static cv_status read_auto_pad(const cv_node_t *node, auto_pad_t *out, cv_err_t *err)
{
    const char *s = cv_node_attr_string(node, "auto_pad", "NOTSET");
    if (strcmp(s, "NOTSET") == 0 || s[0] == '\0')
        *out = AUTO_PAD_NOTSET;
    else if (strcmp(s, "SAME_UPPER") == 0)
        *out = AUTO_PAD_SAME_UPPER;
    else if (strcmp(s, "SAME_LOWER") == 0)
        *out = AUTO_PAD_SAME_LOWER;
    else if (strcmp(s, "VALID") == 0)
        *out = AUTO_PAD_VALID;
    else
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", s);
    return CV_STATUS_OK;
}

/* Reads an ints attribute of exactly `per_dim` * nd entries, each >= `min`,
 * into out[]; absent leaves out[] at its defaults. */
static cv_status read_ints(const cv_node_t *node, const char *name, int nd, int per_dim,
                           int64_t min, int64_t *out, cv_err_t *err)
{
    int n;
    const int64_t *v = cv_node_attr_ints(node, name, &n);
    if (!v) return CV_STATUS_OK;
    if (n != nd * per_dim)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s has %d entries but %d are expected for %d spatial dims", name, n,
                         nd * per_dim, nd);
    for (int i = 0; i < n; i++) {
        if (v[i] < min)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s[%d] is %lld, must be >= %lld",
                             name, i, (long long)v[i], (long long)min);
        out[i] = v[i];
    }
    return CV_STATUS_OK;
}

/* Reads strides, dilations, pads, auto_pad (and ceil_mode when `pool`);
 * w->nd and w->kernel are set by the caller. */
static cv_status read_window(const cv_node_t *node, bool pool, window_t *w, cv_err_t *err)
{
    for (int i = 0; i < w->nd; i++) {
        w->stride[i] = 1;
        w->dilation[i] = 1;
        w->pads[i] = w->pads[w->nd + i] = 0;
    }
    cv_status st = read_auto_pad(node, &w->auto_pad, err);
    if (st == CV_STATUS_OK) st = read_ints(node, "strides", w->nd, 1, 1, w->stride, err);
    if (st == CV_STATUS_OK) st = read_ints(node, "dilations", w->nd, 1, 1, w->dilation, err);
    if (st == CV_STATUS_OK) st = read_ints(node, "pads", w->nd, 2, 0, w->pads, err);
    if (st != CV_STATUS_OK) return st;
    w->ceil_mode = false;
    if (pool) {
        int64_t c = cv_node_attr_int(node, "ceil_mode", 0);
        if (c != 0 && c != 1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "ceil_mode is %lld, must be 0 or 1",
                             (long long)c);
        w->ceil_mode = c == 1;
    }
    return CV_STATUS_OK;
}

/* The dilated kernel along spatial dim i, (kernel - 1) x dilation + 1.
 * Attributes are the file's: a dilation near 2^63 must not overflow it
 * (kernel and dilation are >= 1 by now). */
static cv_status window_span(const window_t *w, int i, int64_t *span, cv_err_t *err)
{
    if (__builtin_mul_overflow(w->kernel[i] - 1, w->dilation[i], span) ||
        __builtin_add_overflow(*span, 1, span))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "kernel %lld with dilation %lld along spatial dim %d is too large",
                         (long long)w->kernel[i], (long long)w->dilation[i], i);
    return CV_STATUS_OK;
}

/* Output size along spatial dim i for input size `in` (< 0: unknown). The
 * ceil_mode rule is ONNX's (and PyTorch's): a last window that would start
 * in the end padding is dropped. */
static cv_status window_out_dim(const window_t *w, int i, int64_t in, int64_t *out, cv_err_t *err)
{
    if (in < 0) {
        *out = -1;
        return CV_STATUS_OK;
    }
    /* Attributes are the file's: a pad or stride near 2^63 must not
     * overflow the arithmetic (stride >= 1, pads >= 0). */
    int64_t span, s = w->stride[i];
    cv_status st = window_span(w, i, &span, err);
    if (st != CV_STATUS_OK) return st;
    int64_t o;
    if (w->auto_pad == AUTO_PAD_SAME_UPPER || w->auto_pad == AUTO_PAD_SAME_LOWER) {
        o = in / s + (in % s != 0);
    } else {
        int64_t pb = 0, pe = 0, padded;
        if (w->auto_pad == AUTO_PAD_NOTSET) {
            pb = w->pads[i];
            pe = w->pads[w->nd + i];
        }
        if (__builtin_add_overflow(in, pb, &padded) || __builtin_add_overflow(padded, pe, &padded))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "pads %lld and %lld of spatial dim %d (size %lld) are too large",
                             (long long)pb, (long long)pe, i, (long long)in);
        int64_t room = padded - span;
        if (room < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "spatial dim %d has size %lld (%lld with padding), smaller than the "
                             "dilated kernel (%lld)",
                             i, (long long)in, (long long)padded, (long long)span);
        o = room / s + 1;
        int64_t start;
        if (w->ceil_mode && room % s != 0) {
            o++;
            if (__builtin_mul_overflow(o - 1, s, &start) || start >= in + pb) o--;
        }
    }
    *out = o;
    return CV_STATUS_OK;
}

/* Checks X is [N, C, spatial...] with 1..3 spatial dims. */
static cv_status check_spatial_rank(const cv_op_args_t *args, const cv_tensor_t *x, cv_err_t *err)
{
    int r = x->shape.ndim;
    if (r < 3)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "X has rank %d; %s needs [N, C, spatial...] (rank >= 3)", r,
                         op_name(args));
    if (r - 2 > NN_MAX_SPATIAL)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "%s with %d spatial dims is not supported (at most %d)", op_name(args),
                         r - 2, NN_MAX_SPATIAL);
    return CV_STATUS_OK;
}

/* ---- Conv ---------------------------------------------------------------- */

cv_status cv_infer_conv(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0], *w = args->inputs[1], *b = opt_input(args, 2);
    if ((st = check_dtype(args, "X", x->dtype, true, err)) != CV_STATUS_OK) return st;
    if ((st = check_same_dtype(args, 1, "W", err)) != CV_STATUS_OK) return st;
    if (b && (st = check_same_dtype(args, 2, "B", err)) != CV_STATUS_OK) return st;
    if ((st = check_spatial_rank(args, x, err)) != CV_STATUS_OK) return st;
    int r = x->shape.ndim, nd = r - 2;
    char sx[96], sw[96];
    if (w->shape.ndim != r)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "W has shape %s but X has shape %s; W must have rank %d",
                         shape_str(&w->shape, sw, sizeof sw), shape_str(&x->shape, sx, sizeof sx),
                         r);
    int64_t group = cv_node_attr_int(args->node, "group", 1);
    if (group < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "group is %lld, must be >= 1",
                         (long long)group);
    int64_t c = x->shape.dims[1], m = w->shape.dims[0], cg = w->shape.dims[1], need = 0;
    /* a hostile group (2^62) must not overflow the product */
    if (c >= 0 && cg >= 0 && __builtin_mul_overflow(cg, group, &need))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "group is %lld; W's %lld input channels per group times it cannot be "
                         "X's %lld channels",
                         (long long)group, (long long)cg, (long long)c);
    if (c >= 0 && cg >= 0 && need != c) {
        if (group == 1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "W has %lld input channels but X has %lld channels", (long long)cg,
                             (long long)c);
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "W has %lld input channels per group but X has %lld channels "
                         "(group %lld needs %lld)",
                         (long long)cg, (long long)c, (long long)group, (long long)need);
    }
    if (m >= 0 && m % group != 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "W has %lld output channels, not a multiple of group %lld", (long long)m,
                         (long long)group);
    if (b) {
        if (b->shape.ndim != 1 || (m >= 0 && b->shape.dims[0] >= 0 && b->shape.dims[0] != m))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "B has shape %s but W has %lld output channels; B must be [%lld]",
                             shape_str(&b->shape, sx, sizeof sx), (long long)m, (long long)m);
    }

    window_t win = {.nd = nd};
    for (int i = 0; i < nd; i++) win.kernel[i] = w->shape.dims[2 + i];
    int nk;
    const int64_t *ks = cv_node_attr_ints(args->node, "kernel_shape", &nk);
    if (ks) {
        if (nk != nd)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "kernel_shape has %d entries but X has %d spatial dims", nk, nd);
        for (int i = 0; i < nd; i++)
            if (win.kernel[i] >= 0 && ks[i] != win.kernel[i])
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "kernel_shape[%d] is %lld but W has shape %s", i, (long long)ks[i],
                                 shape_str(&w->shape, sw, sizeof sw));
    }
    for (int i = 0; i < nd; i++)
        if (win.kernel[i] < 1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "W has shape %s; its spatial dims must be known and >= 1",
                             shape_str(&w->shape, sw, sizeof sw));
    if ((st = read_window(args->node, false, &win, err)) != CV_STATUS_OK) return st;

    cv_shape_t y = {.ndim = r};
    y.dims[0] = x->shape.dims[0];
    y.dims[1] = m;
    for (int i = 0; i < nd; i++) {
        st = window_out_dim(&win, i, x->shape.dims[2 + i], &y.dims[2 + i], err);
        if (st != CV_STATUS_OK) return st;
    }
    if (args->node->fused_residual) {
        /* Set by cv_plan_fuse_residuals only where its probe plan found the
         * shapes equal; a plan that disagrees is a fusion bug, reported. */
        const cv_tensor_t *res = opt_input(args, 3);
        if (!res || res->dtype != x->dtype || !cv_shape_equal(&res->shape, &y))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "the residual fused into this Conv does not have its output's shape %s",
                             shape_str(&y, sx, sizeof sx));
    }
    return set_output(args, 0, x->dtype, &y, err);
}

/* ---- pools --------------------------------------------------------------- */

static cv_status infer_pool(const cv_op_args_t *args, bool is_max, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = check_dtype(args, "X", x->dtype, false, err)) != CV_STATUS_OK) return st;
    if ((st = check_spatial_rank(args, x, err)) != CV_STATUS_OK) return st;
    int r = x->shape.ndim, nd = r - 2;
    window_t win = {.nd = nd};
    int nk;
    const int64_t *ks = cv_node_attr_ints(args->node, "kernel_shape", &nk);
    if (!ks) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "kernel_shape is required");
    if (nk != nd)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "kernel_shape has %d entries but X has %d spatial dims", nk, nd);
    for (int i = 0; i < nd; i++) {
        if (ks[i] < 1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "kernel_shape[%d] is %lld, must be >= 1", i, (long long)ks[i]);
        win.kernel[i] = ks[i];
    }
    if ((st = read_window(args->node, true, &win, err)) != CV_STATUS_OK) return st;
    if (is_max) {
        int64_t order = cv_node_attr_int(args->node, "storage_order", 0);
        if (order != 0 && order != 1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "storage_order is %lld, must be 0 or 1", (long long)order);
    } else {
        int64_t cip = cv_node_attr_int(args->node, "count_include_pad", 0);
        if (cip != 0 && cip != 1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "count_include_pad is %lld, must be 0 or 1", (long long)cip);
    }
    for (int i = 0; i < nd; i++) {
        int64_t span;
        if ((st = window_span(&win, i, &span, err)) != CV_STATUS_OK) return st;
        if (win.auto_pad == AUTO_PAD_NOTSET && (win.pads[i] >= span || win.pads[nd + i] >= span))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "pads along spatial dim %d (%lld, %lld) must be smaller than the "
                             "dilated kernel (%lld)",
                             i, (long long)win.pads[i], (long long)win.pads[nd + i],
                             (long long)span);
    }

    cv_shape_t y = x->shape;
    for (int i = 0; i < nd; i++) {
        st = window_out_dim(&win, i, x->shape.dims[2 + i], &y.dims[2 + i], err);
        if (st != CV_STATUS_OK) return st;
    }
    if ((st = set_output(args, 0, x->dtype, &y, err)) != CV_STATUS_OK) return st;
    if (is_max) return set_output(args, 1, CV_DTYPE_INT64, &y, err);
    if (opt_output(args, 1))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "AveragePool has a single output");
    return CV_STATUS_OK;
}

cv_status cv_infer_max_pool(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_pool(args, true, err);
}

cv_status cv_infer_average_pool(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_pool(args, false, err);
}

static cv_status infer_global_pool(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = check_dtype(args, "X", x->dtype, false, err)) != CV_STATUS_OK) return st;
    if (x->shape.ndim < 3)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "X has rank %d; %s needs [N, C, spatial...] (rank >= 3)", x->shape.ndim,
                         op_name(args));
    cv_shape_t y = x->shape;
    for (int i = 2; i < y.ndim; i++) y.dims[i] = 1;
    return set_output(args, 0, x->dtype, &y, err);
}

cv_status cv_infer_global_average_pool(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_global_pool(args, err);
}

cv_status cv_infer_global_max_pool(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_global_pool(args, err);
}

/* ---- BatchNormalization -------------------------------------------------- */

cv_status cv_infer_batch_normalization(const cv_op_args_t *args, cv_err_t *err)
{
    static const char *const names[] = {"X", "scale", "B", "input_mean", "input_var"};
    cv_status st = cv_infer_require_inputs(args, 5, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = check_dtype(args, "X", x->dtype, false, err)) != CV_STATUS_OK) return st;
    if (x->shape.ndim < 2)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "X has rank %d; BatchNormalization needs [N, C, ...] (rank >= 2)",
                         x->shape.ndim);
    if (cv_node_attr_int(args->node, "training_mode", 0) != 0)
        return cv_errorf(
            err, CV_STATUS_UNSUPPORTED,
            "BatchNormalization with training_mode=1 is not supported (inference only)");
    /* Opsets 7-8: spatial=0 gives every element of [C, D1, ...] its own
     * statistics. */
    bool per_element = args->node->opset < 9 && cv_node_attr_int(args->node, "spatial", 1) == 0;
    cv_shape_t channel = {.ndim = 1, .dims = {x->shape.dims[1]}};
    if (per_element) {
        channel.ndim = x->shape.ndim - 1;
        memcpy(channel.dims, x->shape.dims + 1, sizeof(int64_t) * (size_t)channel.ndim);
    }
    int64_t want = cv_shape_numel(&channel);
    bool known = true;
    for (int i = 0; i < channel.ndim; i++) known = known && channel.dims[i] >= 0;
    for (int i = 1; i < 5; i++) {
        const cv_tensor_t *p = args->inputs[i];
        if (p->dtype != x->dtype)
            return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                             "%s is %s but X is %s; mixed dtypes are not supported", names[i],
                             cv_dtype_name(p->dtype), cv_dtype_name(x->dtype));
        if (known && cv_shape_numel(&p->shape) != want) {
            char sp[96], sc[96];
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s has shape %s but X has %lld channels; %s expected", names[i],
                             shape_str(&p->shape, sp, sizeof sp), (long long)want,
                             shape_str(&channel, sc, sizeof sc));
        }
    }
    if ((st = set_output(args, 0, x->dtype, &x->shape, err)) != CV_STATUS_OK) return st;
    for (int i = 1; i < args->noutputs && i < 5; i++)
        if ((st = set_output(args, i, x->dtype, &args->inputs[3]->shape, err)) != CV_STATUS_OK)
            return st;
    return CV_STATUS_OK;
}

/* ---- Gemm, MatMul ------------------------------------------------------- */

cv_status cv_infer_gemm(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *a = args->inputs[0], *b = args->inputs[1], *c = opt_input(args, 2);
    if ((st = check_dtype(args, "A", a->dtype, true, err)) != CV_STATUS_OK) return st;
    if ((st = check_same_dtype(args, 1, "B", err)) != CV_STATUS_OK) return st;
    if (c && (st = check_same_dtype(args, 2, "C", err)) != CV_STATUS_OK) return st;
    char s1[96], s2[96];
    if (a->shape.ndim != 2)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "A has shape %s; Gemm needs a matrix",
                         shape_str(&a->shape, s1, sizeof s1));
    if (b->shape.ndim != 2)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "B has shape %s; Gemm needs a matrix",
                         shape_str(&b->shape, s1, sizeof s1));
    bool ta = cv_node_attr_int(args->node, "transA", 0) != 0;
    bool tb = cv_node_attr_int(args->node, "transB", 0) != 0;
    int64_t m = a->shape.dims[ta ? 1 : 0], ka = a->shape.dims[ta ? 0 : 1];
    int64_t kb = b->shape.dims[tb ? 1 : 0], n = b->shape.dims[tb ? 0 : 1];
    if (ka >= 0 && kb >= 0 && ka != kb)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "A%s has shape %s and B%s has shape %s: inner dims %lld and %lld differ",
                         ta ? " (transposed)" : "", shape_str(&a->shape, s1, sizeof s1),
                         tb ? " (transposed)" : "", shape_str(&b->shape, s2, sizeof s2),
                         (long long)ka, (long long)kb);
    cv_shape_t y = {.ndim = 2, .dims = {m, n}};
    if (c) {
        /* C broadcasts unidirectionally to [M, N]. */
        bool ok = c->shape.ndim <= 2;
        for (int i = 0; ok && i < c->shape.ndim; i++) {
            int64_t d = c->shape.dims[i], want = y.dims[2 - c->shape.ndim + i];
            ok = d == 1 || d == want || d < 0 || want < 0;
        }
        if (!ok)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "C has shape %s, which does not broadcast to [%lld,%lld]",
                             shape_str(&c->shape, s1, sizeof s1), (long long)m, (long long)n);
    }
    return set_output(args, 0, a->dtype, &y, err);
}

cv_status cv_infer_matmul(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *a = args->inputs[0], *b = args->inputs[1];
    if ((st = check_dtype(args, "A", a->dtype, true, err)) != CV_STATUS_OK) return st;
    if ((st = check_same_dtype(args, 1, "B", err)) != CV_STATUS_OK) return st;
    int ra = a->shape.ndim, rb = b->shape.ndim;
    if (ra < 1 || rb < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "MatMul needs inputs of rank >= 1; A has rank %d, B rank %d", ra, rb);
    char s1[96], s2[96];
    int64_t ka = a->shape.dims[ra - 1], kb = b->shape.dims[rb == 1 ? 0 : rb - 2];
    if (ka >= 0 && kb >= 0 && ka != kb)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "A has shape %s and B has shape %s: A's %lld columns do not match B's "
                         "%lld rows",
                         shape_str(&a->shape, s1, sizeof s1), shape_str(&b->shape, s2, sizeof s2),
                         (long long)ka, (long long)kb);
    cv_shape_t ba = {.ndim = ra > 2 ? ra - 2 : 0}, bb = {.ndim = rb > 2 ? rb - 2 : 0}, batch;
    memcpy(ba.dims, a->shape.dims, sizeof(int64_t) * (size_t)ba.ndim);
    memcpy(bb.dims, b->shape.dims, sizeof(int64_t) * (size_t)bb.ndim);
    if (cv_broadcast_shapes(&ba, &bb, &batch, err) != CV_STATUS_OK)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "A has shape %s and B has shape %s: batch dims do not broadcast",
                         shape_str(&a->shape, s1, sizeof s1), shape_str(&b->shape, s2, sizeof s2));
    cv_shape_t y = batch;
    if (ra >= 2) y.dims[y.ndim++] = a->shape.dims[ra - 2];
    if (rb >= 2) y.dims[y.ndim++] = b->shape.dims[rb - 1];
    return set_output(args, 0, a->dtype, &y, err);
}

/* ---- LRN, LayerNormalization ------------------------------------------- */

cv_status cv_infer_lrn(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = check_dtype(args, "X", x->dtype, false, err)) != CV_STATUS_OK) return st;
    if (x->shape.ndim < 2)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "X has rank %d; LRN needs [N, C, ...] (rank >= 2)", x->shape.ndim);
    if (!cv_node_attr(args->node, "size"))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "size is required");
    int64_t size = cv_node_attr_int(args->node, "size", 0);
    if (size < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "size is %lld, must be >= 1",
                         (long long)size);
    return set_output(args, 0, x->dtype, &x->shape, err);
}

cv_status cv_infer_layer_normalization(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 2, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0], *b = opt_input(args, 2);
    if ((st = check_dtype(args, "X", x->dtype, false, err)) != CV_STATUS_OK) return st;
    if ((st = check_same_dtype(args, 1, "Scale", err)) != CV_STATUS_OK) return st;
    if (b && (st = check_same_dtype(args, 2, "B", err)) != CV_STATUS_OK) return st;
    int r = x->shape.ndim, axis;
    if (r < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "X is a scalar; LayerNormalization needs rank >= 1");
    st = cv_normalize_axis(cv_node_attr_int(args->node, "axis", -1), r, &axis, err);
    if (st != CV_STATUS_OK) return st;
    cv_shape_t norm = {.ndim = r - axis};
    memcpy(norm.dims, x->shape.dims + axis, sizeof(int64_t) * (size_t)norm.ndim);
    for (int i = 1; i < 3; i++) {
        const cv_tensor_t *p = opt_input(args, i);
        if (!p) continue;
        cv_shape_t joined;
        bool ok = p->shape.ndim <= norm.ndim &&
                  cv_broadcast_shapes(&norm, &p->shape, &joined, NULL) == CV_STATUS_OK &&
                  cv_shape_equal(&joined, &norm);
        if (!ok) {
            char sp[96], sn[96];
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s has shape %s, which does not broadcast to the normalized shape %s "
                             "(X's dims from axis %d)",
                             i == 1 ? "Scale" : "B", shape_str(&p->shape, sp, sizeof sp),
                             shape_str(&norm, sn, sizeof sn), axis);
        }
    }
    if ((st = set_output(args, 0, x->dtype, &x->shape, err)) != CV_STATUS_OK) return st;
    cv_shape_t reduced = x->shape;
    for (int i = axis; i < r; i++) reduced.dims[i] = 1;
    if ((st = set_output(args, 1, x->dtype, &reduced, err)) != CV_STATUS_OK) return st;
    return set_output(args, 2, x->dtype, &reduced, err);
}

/* ---- Softmax, LogSoftmax ----------------------------------------------- */

static cv_status infer_softmax(const cv_op_args_t *args, cv_err_t *err)
{
    cv_status st = cv_infer_require_inputs(args, 1, err);
    if (st != CV_STATUS_OK) return st;
    const cv_tensor_t *x = args->inputs[0];
    if ((st = check_dtype(args, "input", x->dtype, false, err)) != CV_STATUS_OK) return st;
    int r = x->shape.ndim, axis;
    if (r < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input is a scalar; %s needs rank >= 1",
                         op_name(args));
    /* Before opset 13 the axis (default 1) is where the input is cut into
     * 2-D; from 13 on it is the one axis normalized over (default -1). */
    int64_t dflt = args->node->opset < 13 ? 1 : -1;
    st = cv_normalize_axis(cv_node_attr_int(args->node, "axis", dflt), r, &axis, err);
    if (st != CV_STATUS_OK) return st;
    return set_output(args, 0, x->dtype, &x->shape, err);
}

cv_status cv_infer_softmax(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_softmax(args, err);
}

cv_status cv_infer_log_softmax(const cv_op_args_t *args, cv_err_t *err)
{
    return infer_softmax(args, err);
}
