/*
 * opcase.c: one operator run by hand (see opcase.h).
 */
#include "opcase.h"

#include <math.h>
#include <string.h>

void cv_test_case_init(cv_test_case_t *c, cv_op_t op, int nout)
{
    assert_true(nout <= CV_TEST_MAX_IO);
    memset(c, 0, sizeof(*c));
    c->node.op = op;
    c->node.opset = 18;
    c->node.name = (char *)"";
    c->node.attrs = c->attrs;
    c->nout = nout;
    for (int i = 0; i < nout; i++) c->out_present[i] = true;
    c->cpu.threads = 1;
}

void cv_test_case_free(cv_test_case_t *c)
{
    for (int i = 0; i < c->nin; i++)
        if (c->present[i]) cv_tensor_free(&c->in[i]);
    for (int i = 0; i < c->nout; i++) cv_tensor_free(&c->out[i]);
    cv_cpu_ctx_release(&c->cpu);
}

/* ---- attributes ---------------------------------------------------------- */

static cv_attr_t *add_attr(cv_test_case_t *c, const char *name, cv_attr_type_t type)
{
    assert_true(c->node.nattrs < CV_TEST_MAX_ATTRS);
    cv_attr_t *a = &c->attrs[c->node.nattrs++];
    memset(a, 0, sizeof(*a));
    a->name = (char *)name;
    a->type = type;
    return a;
}

void cv_test_attr_int(cv_test_case_t *c, const char *name, int64_t v)
{
    add_attr(c, name, CV_ATTR_INT)->i = v;
}

void cv_test_attr_float(cv_test_case_t *c, const char *name, float v)
{
    add_attr(c, name, CV_ATTR_FLOAT)->f = v;
}

void cv_test_attr_ints(cv_test_case_t *c, const char *name, const int64_t *v, int n)
{
    cv_attr_t *a = add_attr(c, name, CV_ATTR_INTS);
    a->ints = (int64_t *)v;
    a->n = n;
}

void cv_test_attr_floats(cv_test_case_t *c, const char *name, const float *v, int n)
{
    cv_attr_t *a = add_attr(c, name, CV_ATTR_FLOATS);
    a->floats = (float *)v;
    a->n = n;
}

void cv_test_attr_string(cv_test_case_t *c, const char *name, const char *s)
{
    add_attr(c, name, CV_ATTR_STRING)->s = (char *)s;
}

void cv_test_attr_tensor(cv_test_case_t *c, const char *name, cv_tensor_t *t)
{
    add_attr(c, name, CV_ATTR_TENSOR)->tensor = t;
}

/* ---- inputs ---------------------------------------------------------------- */

cv_tensor_t *cv_test_add_input(cv_test_case_t *c, cv_dtype_t dtype, int ndim, const int64_t *dims,
                               const void *data)
{
    assert_true(c->nin < CV_TEST_MAX_IO);
    int i = c->nin++;
    cv_shape_t s = {.ndim = ndim};
    for (int d = 0; d < ndim; d++) s.dims[d] = dims[d];
    assert_int_equal(cv_tensor_alloc(&c->in[i], dtype, &s), CV_STATUS_OK);
    if (data) memcpy(c->in[i].data, data, cv_tensor_nbytes(&c->in[i]));
    c->present[i] = true;
    return &c->in[i];
}

cv_tensor_t *cv_test_add_random(cv_test_case_t *c, cv_dtype_t dtype, int ndim, const int64_t *dims,
                                uint64_t seed)
{
    cv_tensor_t *t = cv_test_add_input(c, dtype, ndim, dims, NULL);
    if (dtype == CV_DTYPE_FP32) {
        cv_test_fill_random(t, seed);
    } else if (dtype == CV_DTYPE_FP64) {
        /* The FP32 sequence, widened: FP32 and FP64 cases see one input. */
        cv_tensor_t tmp;
        assert_int_equal(cv_tensor_alloc(&tmp, CV_DTYPE_FP32, &t->shape), CV_STATUS_OK);
        cv_test_fill_random(&tmp, seed);
        for (int64_t k = 0; k < cv_shape_numel(&t->shape); k++)
            ((double *)t->data)[k] = ((float *)tmp.data)[k];
        cv_tensor_free(&tmp);
    }
    return t;
}

cv_tensor_t *cv_test_add_f32(cv_test_case_t *c, int ndim, const int64_t *dims, const float *v)
{
    return cv_test_add_input(c, CV_DTYPE_FP32, ndim, dims, v);
}

cv_tensor_t *cv_test_add_i64(cv_test_case_t *c, int n, const int64_t *v)
{
    int64_t d = n;
    return cv_test_add_input(c, CV_DTYPE_INT64, 1, &d, v);
}

cv_tensor_t *cv_test_add_iota(cv_test_case_t *c, int ndim, const int64_t *dims)
{
    cv_tensor_t *t = cv_test_add_f32(c, ndim, dims, NULL);
    float *p = t->data;
    for (int64_t i = 0; i < cv_shape_numel(&t->shape); i++) p[i] = (float)i;
    return t;
}

void cv_test_add_absent(cv_test_case_t *c)
{
    assert_true(c->nin < CV_TEST_MAX_IO);
    c->present[c->nin++] = false;
}

/* ---- running ----------------------------------------------------------------- */

cv_status cv_test_run_infer(cv_test_case_t *c)
{
    cv_tensor_t shadow[CV_TEST_MAX_IO];
    const cv_tensor_t *ins[CV_TEST_MAX_IO];
    cv_tensor_t *outs[CV_TEST_MAX_IO];
    for (int i = 0; i < c->nin; i++) {
        shadow[i] = c->in[i];
        if (c->runtime[i]) shadow[i].data = NULL;
        ins[i] = c->present[i] ? &shadow[i] : NULL;
    }
    for (int i = 0; i < c->nout; i++) outs[i] = c->out_present[i] ? &c->out[i] : NULL;
    cv_op_args_t args = {&c->node, ins, c->nin, outs, c->nout, NULL};
    c->err.msg[0] = 0;
    return cv_op_def(c->node.op)->infer(&args, &c->err);
}

cv_status cv_test_run_kernel(cv_test_case_t *c)
{
    const cv_tensor_t *ins[CV_TEST_MAX_IO];
    cv_tensor_t *outs[CV_TEST_MAX_IO];
    for (int i = 0; i < c->nin; i++) ins[i] = c->present[i] ? &c->in[i] : NULL;
    for (int i = 0; i < c->nout; i++) outs[i] = c->out_present[i] ? &c->out[i] : NULL;
    cv_op_args_t args = {&c->node, ins, c->nin, outs, c->nout, &c->cpu};
    c->err.msg[0] = 0;
    return cv_op_def(c->node.op)->cpu(&args, &c->err);
}

/* Outputs allocated for their inferred shapes, floats poisoned with NaN. */
static void alloc_outputs(cv_tensor_t *outs, const bool *present, int n)
{
    for (int i = 0; i < n; i++) {
        if (present && !present[i]) continue;
        cv_shape_t s = outs[i].shape;
        assert_int_equal(cv_tensor_alloc(&outs[i], outs[i].dtype, &s), CV_STATUS_OK);
        if (outs[i].dtype == CV_DTYPE_FP32 || outs[i].dtype == CV_DTYPE_FP64)
            memset(outs[i].data, 0xff, cv_tensor_nbytes(&outs[i]));
    }
}

cv_status cv_test_run(cv_test_case_t *c)
{
    cv_status st = cv_test_run_infer(c);
    if (st != CV_STATUS_OK) return st;
    alloc_outputs(c->out, c->out_present, c->nout);
    return cv_test_run_kernel(c);
}

void cv_test_run_ok(cv_test_case_t *c)
{
    cv_status st = cv_test_run(c);
    if (st != CV_STATUS_OK) fail_msg("%s: %s", cv_status_str(st), c->err.msg);
}

static void expect_status(const cv_test_case_t *c, cv_status got, cv_status want, const char *msg)
{
    if (got != want || !strstr(c->err.msg, msg))
        fail_msg("expected %s '%s', got %s '%s'", cv_status_str(want), msg, cv_status_str(got), c->err.msg);
}

void cv_test_expect_error(cv_test_case_t *c, cv_status status, const char *msg)
{
    expect_status(c, cv_test_run(c), status, msg);
}

void cv_test_expect_infer_error(cv_test_case_t *c, cv_status status, const char *msg)
{
    expect_status(c, cv_test_run_infer(c), status, msg);
}

cv_status cv_test_op_run(cv_op_t op, int opset, const cv_attr_t *attrs, int nattrs,
                         const cv_tensor_t *const *ins, int nin, cv_tensor_t *out, cv_err_t *err)
{
    cv_node_t node = {.name = (char *)"", .op = op, .opset = opset, .attrs = (cv_attr_t *)attrs,
                      .nattrs = nattrs};
    memset(out, 0, sizeof *out);
    cv_tensor_t *outs[1] = {out};
    cv_op_args_t args = {.node = &node, .inputs = ins, .ninputs = nin, .outputs = outs, .noutputs = 1};
    err->msg[0] = 0;
    cv_status st = cv_op_def(op)->infer(&args, err);
    if (st != CV_STATUS_OK) return st;
    cv_shape_t shape = out->shape;
    assert_int_equal(cv_tensor_alloc(out, out->dtype, &shape), CV_STATUS_OK);
    cv_cpu_ctx_t ctx = {.threads = 1};
    args.cpu = &ctx;
    st = cv_op_def(op)->cpu(&args, err);
    cv_cpu_ctx_release(&ctx);
    return st;
}

/* ---- checking outputs ---------------------------------------------------------- */

void cv_test_expect_shape(const cv_tensor_t *t, int ndim, const int64_t *dims)
{
    assert_int_equal(t->shape.ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(t->shape.dims[i], dims[i]);
}

void cv_test_expect_f32(const cv_tensor_t *t, const float *want, int64_t n)
{
    assert_int_equal(t->dtype, CV_DTYPE_FP32);
    assert_int_equal(cv_shape_numel(&t->shape), n);
    const float *p = t->data;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(want[i]))
            assert_true(isnan(p[i]));
        else
            assert_float_equal(p[i], want[i], 1e-5);
    }
}

void cv_test_expect_i64(const cv_tensor_t *t, const int64_t *want, int64_t n)
{
    assert_int_equal(cv_shape_numel(&t->shape), n);
    for (int64_t i = 0; i < n; i++) assert_int_equal(cv_tensor_get_i64(t, i), want[i]);
}

void cv_test_expect_close(const cv_tensor_t *got, const double *want, int64_t n, double rel)
{
    assert_int_equal(cv_shape_numel(&got->shape), n);
    for (int64_t i = 0; i < n; i++) {
        double g = cv_tensor_get_f64(got, i), w = want[i];
        double tol = rel * fmax(1.0, fabs(w));
        if (!(fabs(g - w) <= tol))
            fail_msg("element %lld: got %.9g, want %.9g (tolerance %.3g)", (long long)i, g, w, tol);
    }
}
