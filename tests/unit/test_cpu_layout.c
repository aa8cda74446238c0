/*
 * test_cpu_layout.c: shape inference and CPU kernels of the layout, shape
 * and reduction operators (src/ir/infer_layout.c,
 * src/backend/cpu/cpu_layout.c), driven through cv_op_args_t as the
 * executor drives them: inference first, then the kernel on outputs of the
 * inferred shapes. Results are checked against hand-computed values or
 * naive reference loops written here.
 */
#include "testutil.h"

#include "backend/cpu/cpu.h"
#include "ir/infer.h"

#include <math.h>
#include <string.h>

/* ---- harness ------------------------------------------------------------ */

#define MAX_IO 8

typedef struct op_case {
    cv_node_t node;
    cv_attr_t attrs[8];
    cv_tensor_t in[MAX_IO];
    bool runtime[MAX_IO]; /* not a constant: infer sees no data */
    bool present[MAX_IO];
    int nin;
    cv_tensor_t out[MAX_IO];
    bool out_present[MAX_IO];
    int nout;
    cv_cpu_ctx_t cpu;
    cv_err_t err;
} op_case_t;

static void case_init(op_case_t *c, cv_op_t op, int nout)
{
    memset(c, 0, sizeof(*c));
    c->node.op = op;
    c->node.opset = 18;
    c->node.name = (char *)"";
    c->node.attrs = c->attrs;
    c->nout = nout;
    for (int i = 0; i < nout; i++) c->out_present[i] = true;
    c->cpu.threads = 1;
}

static cv_attr_t *add_attr(op_case_t *c, const char *name, cv_attr_type_t type)
{
    cv_attr_t *a = &c->attrs[c->node.nattrs++];
    memset(a, 0, sizeof(*a));
    a->name = (char *)name;
    a->type = type;
    return a;
}

static void attr_int(op_case_t *c, const char *name, int64_t v)
{
    add_attr(c, name, CV_ATTR_INT)->i = v;
}

static void attr_ints(op_case_t *c, const char *name, const int64_t *v, int n)
{
    cv_attr_t *a = add_attr(c, name, CV_ATTR_INTS);
    a->ints = (int64_t *)v;
    a->n = n;
}

static void attr_string(op_case_t *c, const char *name, const char *s)
{
    add_attr(c, name, CV_ATTR_STRING)->s = (char *)s;
}

static void attr_tensor(op_case_t *c, const char *name, cv_tensor_t *t)
{
    add_attr(c, name, CV_ATTR_TENSOR)->tensor = t;
}

static cv_shape_t shape_of(int ndim, const int64_t *dims)
{
    cv_shape_t s = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) s.dims[i] = dims[i];
    return s;
}

/* Appends input i: dtype x dims, filled from data (NULL = zeros). */
static cv_tensor_t *add_input(op_case_t *c, cv_dtype_t dtype, int ndim, const int64_t *dims,
                              const void *data)
{
    int i = c->nin++;
    cv_shape_t s = shape_of(ndim, dims);
    assert_int_equal(cv_tensor_alloc(&c->in[i], dtype, &s), CV_STATUS_OK);
    if (data) memcpy(c->in[i].data, data, cv_tensor_nbytes(&c->in[i]));
    c->present[i] = true;
    return &c->in[i];
}

static void add_absent(op_case_t *c) { c->present[c->nin++] = false; }

static cv_tensor_t *add_i64(op_case_t *c, int n, const int64_t *v)
{
    int64_t d = n;
    return add_input(c, CV_DTYPE_INT64, 1, &d, v);
}

static cv_tensor_t *add_f32(op_case_t *c, int ndim, const int64_t *dims, const float *v)
{
    return add_input(c, CV_DTYPE_FP32, ndim, dims, v);
}

/* Input of FP32 with values 0, 1, 2, ... */
static cv_tensor_t *add_iota(op_case_t *c, int ndim, const int64_t *dims)
{
    cv_tensor_t *t = add_f32(c, ndim, dims, NULL);
    float *p = t->data;
    for (int64_t i = 0; i < cv_shape_numel(&t->shape); i++) p[i] = (float)i;
    return t;
}

/* The functions of this file's ops, named directly: the op table refers to
 * them weakly, which would not pull them out of the static library. */
typedef struct layout_fns {
    cv_infer_fn infer;
    cv_kernel_fn cpu;
} layout_fns_t;

static layout_fns_t fns_of(cv_op_t op)
{
    switch (op) {
#define LAYOUT_FNS(id, stem)                                                             \
    case CV_OP_##id: return (layout_fns_t){cv_infer_##stem, cv_cpu_##stem};
        LAYOUT_FNS(RESHAPE, reshape)
        LAYOUT_FNS(FLATTEN, flatten)
        LAYOUT_FNS(TRANSPOSE, transpose)
        LAYOUT_FNS(CONCAT, concat)
        LAYOUT_FNS(SPLIT, split)
        LAYOUT_FNS(SLICE, slice)
        LAYOUT_FNS(SQUEEZE, squeeze)
        LAYOUT_FNS(UNSQUEEZE, unsqueeze)
        LAYOUT_FNS(GATHER, gather)
        LAYOUT_FNS(SHAPE, shape)
        LAYOUT_FNS(CONSTANT, constant)
        LAYOUT_FNS(CONSTANT_OF_SHAPE, constant_of_shape)
        LAYOUT_FNS(IDENTITY, identity)
        LAYOUT_FNS(DROPOUT, dropout)
        LAYOUT_FNS(EXPAND, expand)
        LAYOUT_FNS(TILE, tile)
        LAYOUT_FNS(RANGE, range)
        LAYOUT_FNS(PAD, pad)
        LAYOUT_FNS(REDUCE_MEAN, reduce_mean)
        LAYOUT_FNS(REDUCE_SUM, reduce_sum)
#undef LAYOUT_FNS
    default: fail_msg("op %d is not a layout op", (int)op);
    }
    return (layout_fns_t){NULL, NULL};
}

static cv_status run_infer(op_case_t *c)
{
    cv_tensor_t shadow[MAX_IO];
    const cv_tensor_t *ins[MAX_IO];
    cv_tensor_t *outs[MAX_IO];
    for (int i = 0; i < c->nin; i++) {
        shadow[i] = c->in[i];
        if (c->runtime[i]) shadow[i].data = NULL;
        ins[i] = c->present[i] ? &shadow[i] : NULL;
    }
    for (int i = 0; i < c->nout; i++) outs[i] = c->out_present[i] ? &c->out[i] : NULL;
    cv_op_args_t args = {&c->node, ins, c->nin, outs, c->nout, NULL};
    return fns_of(c->node.op).infer(&args, &c->err);
}

static cv_status run_kernel(op_case_t *c)
{
    const cv_tensor_t *ins[MAX_IO];
    cv_tensor_t *outs[MAX_IO];
    for (int i = 0; i < c->nin; i++) ins[i] = c->present[i] ? &c->in[i] : NULL;
    for (int i = 0; i < c->nout; i++) outs[i] = c->out_present[i] ? &c->out[i] : NULL;
    cv_op_args_t args = {&c->node, ins, c->nin, outs, c->nout, &c->cpu};
    return fns_of(c->node.op).cpu(&args, &c->err);
}

/* Infers, allocates the outputs, runs the kernel. */
static cv_status run(op_case_t *c)
{
    cv_status st = run_infer(c);
    if (st != CV_STATUS_OK) return st;
    for (int i = 0; i < c->nout; i++) {
        if (!c->out_present[i]) continue;
        cv_shape_t s = c->out[i].shape;
        assert_int_equal(cv_tensor_alloc(&c->out[i], c->out[i].dtype, &s), CV_STATUS_OK);
    }
    return run_kernel(c);
}

static void case_free(op_case_t *c)
{
    for (int i = 0; i < c->nin; i++) cv_tensor_free(&c->in[i]);
    for (int i = 0; i < c->nout; i++) cv_tensor_free(&c->out[i]);
    cv_cpu_ctx_release(&c->cpu);
}

static void expect_shape(const cv_tensor_t *t, int ndim, const int64_t *dims)
{
    assert_int_equal(t->shape.ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(t->shape.dims[i], dims[i]);
}

static void expect_f32(const cv_tensor_t *t, const float *want, int64_t n)
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

static void expect_i64(const cv_tensor_t *t, const int64_t *want, int64_t n)
{
    assert_int_equal(cv_shape_numel(&t->shape), n);
    for (int64_t i = 0; i < n; i++) assert_int_equal(cv_tensor_get_i64(t, i), want[i]);
}

static void expect_error(op_case_t *c, cv_status want_status, const char *want_msg)
{
    cv_status st = run(c);
    if (st != want_status || !strstr(c->err.msg, want_msg))
        fail_msg("expected %s '%s', got %s '%s'", cv_status_str(want_status), want_msg,
                 cv_status_str(st), c->err.msg);
}

/* Row-major offset of multi-index idx in shape s. */
static int64_t offset_of(const cv_shape_t *s, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < s->ndim; i++) off = off * s->dims[i] + idx[i];
    return off;
}

static void index_of(const cv_shape_t *s, int64_t off, int64_t *idx)
{
    for (int i = s->ndim - 1; i >= 0; i--) {
        idx[i] = off % s->dims[i];
        off /= s->dims[i];
    }
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze -------------------------------- */

static void test_reshape(void **state)
{
    (void)state;
    op_case_t c;
    const int64_t xd[] = {2, 3, 4};

    case_init(&c, CV_OP_RESHAPE, 1);
    add_iota(&c, 3, xd);
    add_i64(&c, 2, (const int64_t[]){0, -1});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){2, 12});
    for (int i = 0; i < 24; i++) assert_float_equal(((float *)c.out[0].data)[i], i, 0);
    /* the planner may alias a view's output with its input */
    assert_int_equal(cv_cpu_reshape(
                         &(cv_op_args_t){&c.node, (const cv_tensor_t *[]){&c.in[0], &c.in[1]}, 2,
                                         (cv_tensor_t *[]){&c.in[0]}, 1, &c.cpu},
                         &c.err),
                     CV_STATUS_OK);
    assert_float_equal(((float *)c.in[0].data)[23], 23, 0);
    case_free(&c);

    /* without allowzero, 0 copies the input dim */
    case_init(&c, CV_OP_RESHAPE, 1);
    add_iota(&c, 3, xd);
    add_i64(&c, 3, (const int64_t[]){4, 0, -1});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 3, (const int64_t[]){4, 3, 2});
    case_free(&c);

    /* allowzero: 0 is a real zero */
    case_init(&c, CV_OP_RESHAPE, 1);
    attr_int(&c, "allowzero", 1);
    add_f32(&c, 3, (const int64_t[]){0, 3, 4}, NULL);
    add_i64(&c, 3, (const int64_t[]){3, 4, 0});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 3, (const int64_t[]){3, 4, 0});
    case_free(&c);

    case_init(&c, CV_OP_RESHAPE, 1);
    add_iota(&c, 3, xd);
    add_i64(&c, 2, (const int64_t[]){5, -1});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT,
                 "Reshape cannot turn [2,3,4] (24 elements) into [5,-1]");
    case_free(&c);

    case_init(&c, CV_OP_RESHAPE, 1);
    add_iota(&c, 3, xd);
    add_i64(&c, 2, (const int64_t[]){-1, -1});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "more than one -1");
    case_free(&c);

    case_init(&c, CV_OP_RESHAPE, 1);
    add_iota(&c, 3, xd);
    add_i64(&c, 2, (const int64_t[]){6, 4});
    c.runtime[1] = true;
    expect_error(&c, CV_STATUS_UNSUPPORTED, "must be a constant");
    case_free(&c);
}

static void test_flatten(void **state)
{
    (void)state;
    const int64_t xd[] = {2, 3, 4, 5};
    const struct {
        int64_t axis;
        int64_t rows, cols;
    } cases[] = {{0, 1, 120}, {1, 2, 60}, {3, 24, 5}, {4, 120, 1}, {-1, 24, 5}, {-4, 1, 120}};
    for (size_t i = 0; i < CV_ARRAY_LEN(cases); i++) {
        op_case_t c;
        case_init(&c, CV_OP_FLATTEN, 1);
        attr_int(&c, "axis", cases[i].axis);
        add_iota(&c, 4, xd);
        assert_int_equal(run(&c), CV_STATUS_OK);
        expect_shape(&c.out[0], 2, (const int64_t[]){cases[i].rows, cases[i].cols});
        assert_memory_equal(c.out[0].data, c.in[0].data, 120 * sizeof(float));
        case_free(&c);
    }
    op_case_t c;
    case_init(&c, CV_OP_FLATTEN, 1);
    add_iota(&c, 4, xd);
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){2, 60});
    case_free(&c);

    case_init(&c, CV_OP_FLATTEN, 1);
    attr_int(&c, "axis", 5);
    add_iota(&c, 4, xd);
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "Flatten axis 5 is out of range for rank 4");
    case_free(&c);
}

static void test_squeeze_unsqueeze(void **state)
{
    (void)state;
    op_case_t c;
    const int64_t xd[] = {1, 3, 1, 5};

    case_init(&c, CV_OP_SQUEEZE, 1);
    add_iota(&c, 4, xd);
    add_i64(&c, 2, (const int64_t[]){-2, 0});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){3, 5});
    assert_memory_equal(c.out[0].data, c.in[0].data, 15 * sizeof(float));
    case_free(&c);

    case_init(&c, CV_OP_SQUEEZE, 1); /* no axes: every 1-dim */
    add_iota(&c, 4, xd);
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){3, 5});
    case_free(&c);

    case_init(&c, CV_OP_SQUEEZE, 1);
    add_iota(&c, 4, xd);
    add_i64(&c, 1, (const int64_t[]){1});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "Squeeze axis 1 of [1,3,1,5] has size 3");
    case_free(&c);

    /* axes refer to the output rank, in any order, negative allowed */
    case_init(&c, CV_OP_UNSQUEEZE, 1);
    add_iota(&c, 2, (const int64_t[]){3, 4});
    add_i64(&c, 3, (const int64_t[]){-1, 0, 3});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 5, (const int64_t[]){1, 3, 4, 1, 1});
    assert_memory_equal(c.out[0].data, c.in[0].data, 12 * sizeof(float));
    case_free(&c);

    case_init(&c, CV_OP_UNSQUEEZE, 1);
    add_iota(&c, 2, (const int64_t[]){3, 4});
    add_i64(&c, 2, (const int64_t[]){2, 0});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 4, (const int64_t[]){1, 3, 1, 4});
    case_free(&c);

    case_init(&c, CV_OP_UNSQUEEZE, 1);
    add_iota(&c, 2, (const int64_t[]){3, 4});
    add_i64(&c, 2, (const int64_t[]){1, -3});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "repeats axis 1");
    case_free(&c);
}

/* ---- Transpose ----------------------------------------------------------- */

/* Runs Transpose of `x` with perm and checks against a naive loop. */
static void check_transpose(cv_dtype_t dtype, int ndim, const int64_t *dims, const int64_t *perm)
{
    op_case_t c;
    case_init(&c, CV_OP_TRANSPOSE, 1);
    if (perm) attr_ints(&c, "perm", perm, ndim);
    cv_tensor_t *x = add_input(&c, dtype, ndim, dims, NULL);
    int64_t n = cv_shape_numel(&x->shape);
    size_t es = cv_dtype_size(dtype);
    for (int64_t i = 0; i < n; i++) /* distinct bytes per element */
        for (size_t b = 0; b < es; b++) ((uint8_t *)x->data)[i * (int64_t)es + (int64_t)b] =
                                            (uint8_t)(i * 7 + (int64_t)b * 131);
    assert_int_equal(run(&c), CV_STATUS_OK);
    const cv_tensor_t *y = &c.out[0];
    int64_t p[CV_MAX_DIMS];
    for (int i = 0; i < ndim; i++) p[i] = perm ? perm[i] : ndim - 1 - i;
    for (int i = 0; i < ndim; i++) assert_int_equal(y->shape.dims[i], dims[p[i]]);
    int64_t yi[CV_MAX_DIMS], xi[CV_MAX_DIMS];
    for (int64_t o = 0; o < n; o++) {
        index_of(&y->shape, o, yi);
        for (int i = 0; i < ndim; i++) xi[p[i]] = yi[i];
        int64_t src = offset_of(&x->shape, xi);
        if (memcmp((const uint8_t *)y->data + o * (int64_t)es,
                   (const uint8_t *)x->data + src * (int64_t)es, es) != 0)
            fail_msg("transpose mismatch at output element %lld", (long long)o);
    }
    case_free(&c);
}

static void test_transpose(void **state)
{
    (void)state;
    static const int64_t perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                        {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const int64_t d3[] = {2, 3, 4};
    for (int i = 0; i < 6; i++) check_transpose(CV_DTYPE_FP32, 3, d3, perms[i]);
    check_transpose(CV_DTYPE_FP32, 3, d3, NULL);
    /* tiled path, every element size, odd extents */
    const int64_t d2[] = {37, 45};
    const int64_t p2[] = {1, 0};
    check_transpose(CV_DTYPE_INT8, 2, d2, p2);
    check_transpose(CV_DTYPE_FP16, 2, d2, p2);
    check_transpose(CV_DTYPE_FP32, 2, d2, p2);
    check_transpose(CV_DTYPE_INT64, 2, d2, p2);
    const int64_t d4[] = {2, 3, 40, 50};
    const int64_t nchw_nhwc[] = {0, 2, 3, 1}, nhwc_nchw[] = {0, 3, 1, 2};
    check_transpose(CV_DTYPE_FP32, 4, d4, nchw_nhwc);
    check_transpose(CV_DTYPE_FP32, 4, d4, nhwc_nchw);
    /* channel shuffle: inner blocks stay contiguous */
    const int64_t d5[] = {1, 2, 3, 4, 5};
    const int64_t shuffle[] = {0, 2, 1, 3, 4};
    check_transpose(CV_DTYPE_BOOL, 5, d5, shuffle);
    check_transpose(CV_DTYPE_FP32, 5, d5, shuffle);

    op_case_t c;
    case_init(&c, CV_OP_TRANSPOSE, 1);
    attr_ints(&c, "perm", (const int64_t[]){0, 0, 1}, 3);
    add_iota(&c, 3, d3);
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "perm [0,0,1] is not a permutation of 3 axes");
    case_free(&c);
}

/* ---- Concat, Split -------------------------------------------------------- */

static void test_concat(void **state)
{
    (void)state;
    op_case_t c;
    case_init(&c, CV_OP_CONCAT, 1);
    attr_int(&c, "axis", -1);
    add_f32(&c, 2, (const int64_t[]){2, 2}, (const float[]){1, 2, 3, 4});
    add_f32(&c, 2, (const int64_t[]){2, 0}, NULL);
    add_f32(&c, 2, (const int64_t[]){2, 3}, (const float[]){5, 6, 7, 8, 9, 10});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){2, 5});
    expect_f32(&c.out[0], (const float[]){1, 2, 5, 6, 7, 3, 4, 8, 9, 10}, 10);
    case_free(&c);

    case_init(&c, CV_OP_CONCAT, 1);
    attr_int(&c, "axis", -2);
    add_input(&c, CV_DTYPE_INT64, 2, (const int64_t[]){1, 2}, (const int64_t[]){1, 2});
    add_input(&c, CV_DTYPE_INT64, 2, (const int64_t[]){2, 2}, (const int64_t[]){3, 4, 5, 6});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){3, 2});
    expect_i64(&c.out[0], (const int64_t[]){1, 2, 3, 4, 5, 6}, 6);
    case_free(&c);

    case_init(&c, CV_OP_CONCAT, 1);
    attr_int(&c, "axis", 1);
    add_f32(&c, 3, (const int64_t[]){2, 3, 4}, NULL);
    add_f32(&c, 3, (const int64_t[]){2, 3, 5}, NULL);
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "Concat inputs 0 and 1 differ in dim 2 (4 vs 5)");
    case_free(&c);
}

static void test_split(void **state)
{
    (void)state;
    op_case_t c;
    /* opset 18 num_outputs that does not divide: the last chunk is smaller */
    case_init(&c, CV_OP_SPLIT, 4);
    attr_int(&c, "num_outputs", 4);
    add_iota(&c, 1, (const int64_t[]){7});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_f32(&c.out[0], (const float[]){0, 1}, 2);
    expect_f32(&c.out[1], (const float[]){2, 3}, 2);
    expect_f32(&c.out[2], (const float[]){4, 5}, 2);
    expect_f32(&c.out[3], (const float[]){6}, 1);
    case_free(&c);

    /* explicit split with a zero-size part, negative axis */
    case_init(&c, CV_OP_SPLIT, 3);
    attr_int(&c, "axis", -1);
    add_iota(&c, 2, (const int64_t[]){2, 5});
    add_i64(&c, 3, (const int64_t[]){2, 0, 3});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[1], 2, (const int64_t[]){2, 0});
    expect_f32(&c.out[0], (const float[]){0, 1, 5, 6}, 4);
    expect_f32(&c.out[2], (const float[]){2, 3, 4, 7, 8, 9}, 6);
    case_free(&c);

    /* equal split, an omitted middle output still takes its part */
    case_init(&c, CV_OP_SPLIT, 3);
    add_iota(&c, 2, (const int64_t[]){6, 1});
    c.out_present[1] = false;
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_f32(&c.out[0], (const float[]){0, 1}, 2);
    expect_f32(&c.out[2], (const float[]){4, 5}, 2);
    case_free(&c);

    case_init(&c, CV_OP_SPLIT, 4);
    add_iota(&c, 1, (const int64_t[]){6});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "cannot divide dim 0 of size 6 into 4");
    case_free(&c);

    case_init(&c, CV_OP_SPLIT, 2);
    add_iota(&c, 1, (const int64_t[]){6});
    add_i64(&c, 2, (const int64_t[]){2, 3});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "sums to 5");
    case_free(&c);
}

/* ---- Slice ---------------------------------------------------------------- */

/* Naive slice of one axis: the source index of output position o. */
static int64_t slice_src(int64_t d, int64_t start, int64_t step, int64_t o)
{
    if (start < 0) start += d;
    start = step > 0 ? CV_MAX(0, CV_MIN(start, d)) : CV_MAX(-1, CV_MIN(start, d - 1));
    return start + o * step;
}

static void check_slice(cv_dtype_t index_dtype, const int64_t *starts, const int64_t *ends,
                        const int64_t *axes, const int64_t *steps, int n,
                        const int64_t *want_dims)
{
    const int64_t xd[] = {6, 5, 4};
    op_case_t c;
    case_init(&c, CV_OP_SLICE, 1);
    add_iota(&c, 3, xd);
    const int64_t *lists[] = {starts, ends, axes, steps};
    for (int k = 0; k < 4; k++) {
        if (!lists[k]) {
            if (k == 2 && steps) add_absent(&c);
            continue;
        }
        int64_t nn = n;
        cv_tensor_t *t = add_input(&c, index_dtype, 1, &nn, NULL);
        for (int i = 0; i < n; i++) cv_tensor_set_i64(t, i, lists[k][i]);
    }
    assert_int_equal(run(&c), CV_STATUS_OK);
    const cv_tensor_t *y = &c.out[0];
    expect_shape(y, 3, want_dims);
    int64_t start[3] = {0, 0, 0}, step[3] = {1, 1, 1};
    for (int i = 0; i < n; i++) {
        int64_t a = axes ? (axes[i] < 0 ? axes[i] + 3 : axes[i]) : i;
        start[a] = starts[i];
        step[a] = steps ? steps[i] : 1;
    }
    int64_t yi[3], xi[3];
    for (int64_t o = 0; o < cv_shape_numel(&y->shape); o++) {
        index_of(&y->shape, o, yi);
        for (int a = 0; a < 3; a++) xi[a] = slice_src(xd[a], start[a], step[a], yi[a]);
        assert_float_equal(((float *)y->data)[o], (float)offset_of(&c.in[0].shape, xi), 0);
    }
    case_free(&c);
}

static void test_slice(void **state)
{
    (void)state;
    /* plain, default axes and steps */
    check_slice(CV_DTYPE_INT64, (const int64_t[]){1, 0}, (const int64_t[]){3, 5}, NULL, NULL, 2,
                (const int64_t[]){2, 5, 4});
    /* negative steps over every axis, ends clamped */
    check_slice(CV_DTYPE_INT64, (const int64_t[]){20, 10, 4}, (const int64_t[]){0, 0, 1},
                (const int64_t[]){0, 1, 2}, (const int64_t[]){-1, -3, -2}, 3,
                (const int64_t[]){5, 2, 1});
    /* reverse the whole axis */
    check_slice(CV_DTYPE_INT64, (const int64_t[]){-1}, (const int64_t[]){INT64_MIN},
                (const int64_t[]){-1}, (const int64_t[]){-1}, 1, (const int64_t[]){6, 5, 4});
    /* INT32 indices, negative axes, out-of-range start and end */
    check_slice(CV_DTYPE_INT32, (const int64_t[]){-100, 1}, (const int64_t[]){1000, -1},
                (const int64_t[]){-2, -3}, (const int64_t[]){2, 1}, 2,
                (const int64_t[]){4, 3, 4});
    /* start beyond the end: empty */
    check_slice(CV_DTYPE_INT64, (const int64_t[]){10}, (const int64_t[]){1000},
                (const int64_t[]){1}, NULL, 1, (const int64_t[]){6, 0, 4});

    op_case_t c;
    case_init(&c, CV_OP_SLICE, 1);
    add_iota(&c, 1, (const int64_t[]){4});
    add_i64(&c, 1, (const int64_t[]){0});
    add_i64(&c, 1, (const int64_t[]){4});
    add_absent(&c);
    add_i64(&c, 1, (const int64_t[]){0});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "step for axis 0 is 0");
    case_free(&c);

    case_init(&c, CV_OP_SLICE, 1);
    add_iota(&c, 1, (const int64_t[]){4});
    add_i64(&c, 1, (const int64_t[]){0});
    add_i64(&c, 1, (const int64_t[]){4});
    c.runtime[1] = true;
    expect_error(&c, CV_STATUS_UNSUPPORTED, "Slice's starts must be a constant");
    case_free(&c);
}

/* ---- Gather, Shape -------------------------------------------------------- */

static void test_gather(void **state)
{
    (void)state;
    op_case_t c;
    /* axis 1 with 2-D, negative indices */
    case_init(&c, CV_OP_GATHER, 1);
    attr_int(&c, "axis", 1);
    add_iota(&c, 2, (const int64_t[]){3, 4});
    add_input(&c, CV_DTYPE_INT32, 2, (const int64_t[]){2, 2}, (const int32_t[]){0, -1, 2, -4});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 3, (const int64_t[]){3, 2, 2});
    expect_f32(&c.out[0], (const float[]){0, 3, 2, 0, 4, 7, 6, 4, 8, 11, 10, 8}, 12);
    case_free(&c);

    /* axis 0, INT64 data, scalar index */
    case_init(&c, CV_OP_GATHER, 1);
    add_input(&c, CV_DTYPE_INT64, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 2, 3, 4, 5, 6});
    add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){-2});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 1, (const int64_t[]){2});
    expect_i64(&c.out[0], (const int64_t[]){3, 4}, 2);
    case_free(&c);

    case_init(&c, CV_OP_GATHER, 1);
    add_iota(&c, 1, (const int64_t[]){5});
    add_i64(&c, 2, (const int64_t[]){1, 7});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT,
                 "Gather index 7 is out of range for dim 0 of size 5");
    case_free(&c);

    case_init(&c, CV_OP_GATHER, 1);
    add_iota(&c, 1, (const int64_t[]){5});
    add_f32(&c, 1, (const int64_t[]){1}, (const float[]){1});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "indices must be INT64 or INT32");
    case_free(&c);
}

static void test_shape(void **state)
{
    (void)state;
    const int64_t xd[] = {3, 4, 5};
    const struct {
        bool has_start, has_end;
        int64_t start, end;
        int n;
        int64_t want[3];
    } cases[] = {
        {false, false, 0, 0, 3, {3, 4, 5}}, {true, false, 1, 0, 2, {4, 5}},
        {false, true, 0, -1, 2, {3, 4}},    {true, true, -2, -1, 1, {4}},
        {true, true, 2, 1, 0, {0}},         {true, true, -10, 10, 3, {3, 4, 5}},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(cases); i++) {
        op_case_t c;
        case_init(&c, CV_OP_SHAPE, 1);
        if (cases[i].has_start) attr_int(&c, "start", cases[i].start);
        if (cases[i].has_end) attr_int(&c, "end", cases[i].end);
        add_iota(&c, 3, xd);
        assert_int_equal(run(&c), CV_STATUS_OK);
        assert_int_equal(c.out[0].dtype, CV_DTYPE_INT64);
        expect_shape(&c.out[0], 1, (const int64_t[]){cases[i].n});
        expect_i64(&c.out[0], cases[i].want, cases[i].n);
        case_free(&c);
    }
}

/* ---- Constant, ConstantOfShape, Identity, Dropout, Range ----------------- */

static void test_constant(void **state)
{
    (void)state;
    op_case_t c;
    const float fv[] = {1.5f, -2.0f};
    case_init(&c, CV_OP_CONSTANT, 1);
    add_attr(&c, "value_floats", CV_ATTR_FLOATS)->floats = (float *)fv;
    c.attrs[0].n = 2;
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 1, (const int64_t[]){2});
    expect_f32(&c.out[0], fv, 2);
    case_free(&c);

    case_init(&c, CV_OP_CONSTANT, 1);
    attr_int(&c, "value_int", -7);
    assert_int_equal(run(&c), CV_STATUS_OK);
    assert_int_equal(c.out[0].dtype, CV_DTYPE_INT64);
    assert_int_equal(c.out[0].shape.ndim, 0);
    expect_i64(&c.out[0], (const int64_t[]){-7}, 1);
    case_free(&c);

    cv_tensor_t value;
    cv_shape_t vs = {.ndim = 2, .dims = {2, 2}};
    assert_int_equal(cv_tensor_alloc(&value, CV_DTYPE_INT32, &vs), CV_STATUS_OK);
    memcpy(value.data, (const int32_t[]){1, 2, 3, 4}, 16);
    case_init(&c, CV_OP_CONSTANT, 1);
    attr_tensor(&c, "value", &value);
    assert_int_equal(run(&c), CV_STATUS_OK);
    assert_int_equal(c.out[0].dtype, CV_DTYPE_INT32);
    expect_shape(&c.out[0], 2, vs.dims);
    expect_i64(&c.out[0], (const int64_t[]){1, 2, 3, 4}, 4);
    case_free(&c);
    cv_tensor_free(&value);

    case_init(&c, CV_OP_CONSTANT, 1);
    attr_string(&c, "value_string", "hello");
    expect_error(&c, CV_STATUS_UNSUPPORTED, "value_string is not supported");
    case_free(&c);
}

static void test_constant_of_shape(void **state)
{
    (void)state;
    op_case_t c;
    case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1); /* default: FP32 zeros */
    add_i64(&c, 2, (const int64_t[]){2, 3});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){2, 3});
    expect_f32(&c.out[0], (const float[]){0, 0, 0, 0, 0, 0}, 6);
    case_free(&c);

    cv_tensor_t value;
    cv_shape_t one = {.ndim = 1, .dims = {1}};
    assert_int_equal(cv_tensor_alloc(&value, CV_DTYPE_INT32, &one), CV_STATUS_OK);
    *(int32_t *)value.data = -5;
    case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1);
    attr_tensor(&c, "value", &value);
    add_i64(&c, 3, (const int64_t[]){2, 1, 2});
    assert_int_equal(run(&c), CV_STATUS_OK);
    assert_int_equal(c.out[0].dtype, CV_DTYPE_INT32);
    expect_i64(&c.out[0], (const int64_t[]){-5, -5, -5, -5}, 4);
    case_free(&c);

    case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1); /* zero-size dim */
    attr_tensor(&c, "value", &value);
    add_i64(&c, 1, (const int64_t[]){0});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 1, (const int64_t[]){0});
    case_free(&c);
    cv_tensor_free(&value);

    cv_tensor_t fvalue;
    assert_int_equal(cv_tensor_alloc(&fvalue, CV_DTYPE_FP32, &one), CV_STATUS_OK);
    *(float *)fvalue.data = 1.25f;
    case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1);
    attr_tensor(&c, "value", &fvalue);
    add_i64(&c, 1, (const int64_t[]){3});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_f32(&c.out[0], (const float[]){1.25f, 1.25f, 1.25f}, 3);
    case_free(&c);
    cv_tensor_free(&fvalue);

    case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1);
    add_i64(&c, 2, (const int64_t[]){2, -1});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "has a negative dim");
    case_free(&c);
}

static void test_identity_dropout(void **state)
{
    (void)state;
    op_case_t c;
    case_init(&c, CV_OP_IDENTITY, 1);
    add_input(&c, CV_DTYPE_INT64, 1, (const int64_t[]){3}, (const int64_t[]){7, 8, 9});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_i64(&c.out[0], (const int64_t[]){7, 8, 9}, 3);
    case_free(&c);

    case_init(&c, CV_OP_DROPOUT, 2);
    add_f32(&c, 1, (const int64_t[]){3}, (const float[]){1, -2, 3});
    add_f32(&c, 0, NULL, (const float[]){0.5f});
    c.runtime[1] = true; /* the ratio need not be a constant */
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_f32(&c.out[0], (const float[]){1, -2, 3}, 3);
    assert_int_equal(c.out[1].dtype, CV_DTYPE_BOOL);
    assert_memory_equal(c.out[1].data, ((const uint8_t[]){1, 1, 1}), 3);
    case_free(&c);

    case_init(&c, CV_OP_DROPOUT, 1);
    add_f32(&c, 1, (const int64_t[]){3}, (const float[]){1, -2, 3});
    add_absent(&c);
    add_input(&c, CV_DTYPE_BOOL, 0, NULL, (const uint8_t[]){1});
    expect_error(&c, CV_STATUS_UNSUPPORTED, "training mode is not supported");
    case_free(&c);
}

static void test_range(void **state)
{
    (void)state;
    op_case_t c;
    case_init(&c, CV_OP_RANGE, 1);
    add_f32(&c, 0, NULL, (const float[]){1});
    add_f32(&c, 0, NULL, (const float[]){5.5f});
    add_f32(&c, 0, NULL, (const float[]){1.5f});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 1, (const int64_t[]){3});
    expect_f32(&c.out[0], (const float[]){1, 2.5f, 4}, 3);
    case_free(&c);

    case_init(&c, CV_OP_RANGE, 1);
    add_input(&c, CV_DTYPE_INT32, 0, NULL, (const int32_t[]){10});
    add_input(&c, CV_DTYPE_INT32, 0, NULL, (const int32_t[]){4});
    add_input(&c, CV_DTYPE_INT32, 0, NULL, (const int32_t[]){-3});
    assert_int_equal(run(&c), CV_STATUS_OK);
    assert_int_equal(c.out[0].dtype, CV_DTYPE_INT32);
    expect_i64(&c.out[0], (const int64_t[]){10, 7}, 2);
    case_free(&c);

    case_init(&c, CV_OP_RANGE, 1); /* empty when the delta points away */
    add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){0});
    add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){5});
    add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){-1});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 1, (const int64_t[]){0});
    case_free(&c);

    case_init(&c, CV_OP_RANGE, 1);
    add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){0});
    add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){5});
    add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){0});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "delta is 0");
    case_free(&c);

    case_init(&c, CV_OP_RANGE, 1);
    add_f32(&c, 0, NULL, (const float[]){1});
    add_f32(&c, 0, NULL, (const float[]){5});
    add_f32(&c, 0, NULL, (const float[]){1});
    c.runtime[1] = true;
    expect_error(&c, CV_STATUS_UNSUPPORTED, "limit must be a constant");
    case_free(&c);
}

/* ---- Expand, Tile --------------------------------------------------------- */

static void test_expand(void **state)
{
    (void)state;
    op_case_t c;
    case_init(&c, CV_OP_EXPAND, 1);
    add_f32(&c, 2, (const int64_t[]){3, 1}, (const float[]){1, 2, 3});
    add_i64(&c, 3, (const int64_t[]){2, 1, 2});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 3, (const int64_t[]){2, 3, 2});
    expect_f32(&c.out[0], (const float[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, 12);
    case_free(&c);

    /* the shape may be smaller than the input: bidirectional */
    case_init(&c, CV_OP_EXPAND, 1);
    add_input(&c, CV_DTYPE_INT16, 2, (const int64_t[]){1, 3}, (const int16_t[]){4, 5, 6});
    add_i64(&c, 1, (const int64_t[]){1});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){1, 3});
    expect_i64(&c.out[0], (const int64_t[]){4, 5, 6}, 3);
    case_free(&c);

    case_init(&c, CV_OP_EXPAND, 1);
    add_f32(&c, 1, (const int64_t[]){3}, (const float[]){1, 2, 3});
    add_i64(&c, 1, (const int64_t[]){4});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "do not broadcast");
    case_free(&c);
}

static void test_tile(void **state)
{
    (void)state;
    op_case_t c;
    const int64_t xd[] = {2, 3, 2};
    const int64_t reps[] = {2, 1, 3};
    case_init(&c, CV_OP_TILE, 1);
    add_iota(&c, 3, xd);
    add_i64(&c, 3, reps);
    assert_int_equal(run(&c), CV_STATUS_OK);
    const cv_tensor_t *y = &c.out[0];
    expect_shape(y, 3, (const int64_t[]){4, 3, 6});
    int64_t yi[3], xi[3];
    for (int64_t o = 0; o < 72; o++) {
        index_of(&y->shape, o, yi);
        for (int a = 0; a < 3; a++) xi[a] = yi[a] % xd[a];
        assert_float_equal(((float *)y->data)[o], (float)offset_of(&c.in[0].shape, xi), 0);
    }
    case_free(&c);

    case_init(&c, CV_OP_TILE, 1);
    add_iota(&c, 3, xd);
    add_i64(&c, 2, reps);
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "repeats has 2 entries for an input of rank 3");
    case_free(&c);
}

/* ---- Pad ------------------------------------------------------------------ */

static void run_pad(const char *mode, const int64_t *pads, int npads, const float *value,
                    const int64_t *axes, int naxes, int ndim, const int64_t *dims,
                    const int64_t *want_dims, const float *want)
{
    op_case_t c;
    case_init(&c, CV_OP_PAD, 1);
    if (mode) attr_string(&c, "mode", mode);
    cv_tensor_t *x = add_iota(&c, ndim, dims);
    for (int64_t i = 0; i < cv_shape_numel(&x->shape); i++) ((float *)x->data)[i] += 1;
    add_i64(&c, npads, pads);
    if (value)
        add_f32(&c, 0, NULL, value);
    else if (axes)
        add_absent(&c);
    if (axes) add_i64(&c, naxes, axes);
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], ndim, want_dims);
    expect_f32(&c.out[0], want, cv_shape_numel(&c.out[0].shape));
    case_free(&c);
}

static void test_pad(void **state)
{
    (void)state;
    /* x = [[1,2,3],[4,5,6]] */
    const int64_t d2[] = {2, 3};
    run_pad(NULL, (const int64_t[]){0, 1, 1, 0}, 4, (const float[]){9}, NULL, 0, 2, d2,
            (const int64_t[]){3, 4},
            (const float[]){9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9});
    /* negative pads crop */
    run_pad("constant", (const int64_t[]){-1, 1, 0, -1}, 4, NULL, NULL, 0, 2, d2,
            (const int64_t[]){1, 3}, (const float[]){0, 4, 5});
    /* axes input, negative axis */
    run_pad("constant", (const int64_t[]){2, 1}, 2, (const float[]){-1}, (const int64_t[]){-1},
            1, 2, d2, (const int64_t[]){2, 6},
            (const float[]){-1, -1, 1, 2, 3, -1, -1, -1, 4, 5, 6, -1});
    /* x = [1,2,3,4] */
    const int64_t d1[] = {4};
    run_pad("reflect", (const int64_t[]){2, 3}, 2, NULL, NULL, 0, 1, d1, (const int64_t[]){9},
            (const float[]){3, 2, 1, 2, 3, 4, 3, 2, 1});
    run_pad("edge", (const int64_t[]){2, 1}, 2, NULL, NULL, 0, 1, d1, (const int64_t[]){7},
            (const float[]){1, 1, 1, 2, 3, 4, 4});
    run_pad("wrap", (const int64_t[]){2, 1}, 2, NULL, NULL, 0, 1, d1, (const int64_t[]){7},
            (const float[]){3, 4, 1, 2, 3, 4, 1});
    /* crop one end, pad the other: the kept part is padded */
    run_pad("edge", (const int64_t[]){-1, 2}, 2, NULL, NULL, 0, 1, d1, (const int64_t[]){5},
            (const float[]){2, 3, 4, 4, 4});
    run_pad("reflect", (const int64_t[]){1, 1, 1, 1}, 4, NULL, NULL, 0, 2, d2,
            (const int64_t[]){4, 5},
            (const float[]){5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2});

    op_case_t c;
    case_init(&c, CV_OP_PAD, 1);
    add_iota(&c, 2, d2);
    add_i64(&c, 3, (const int64_t[]){1, 1, 1});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "pads has 3 entries, expected 4");
    case_free(&c);

    case_init(&c, CV_OP_PAD, 1);
    add_iota(&c, 2, d2);
    add_i64(&c, 4, (const int64_t[]){0, -4, 0, 0});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "do not fit dim 1 of size 3");
    case_free(&c);
}

/* ---- ReduceMean, ReduceSum ------------------------------------------------ */

/* Naive reduction of x (dims xd, rank 3) over the axes flagged in `red`. */
static void naive_reduce(const float *x, const int64_t *xd, const bool *red, bool mean,
                         double *out, int64_t *nout)
{
    cv_shape_t xs = shape_of(3, xd), os = {.ndim = 3};
    for (int a = 0; a < 3; a++) os.dims[a] = red[a] ? 1 : xd[a];
    *nout = cv_shape_numel(&os);
    int64_t count = cv_shape_numel(&xs) / *nout;
    for (int64_t i = 0; i < *nout; i++) out[i] = 0;
    int64_t xi[3];
    for (int64_t i = 0; i < cv_shape_numel(&xs); i++) {
        index_of(&xs, i, xi);
        for (int a = 0; a < 3; a++)
            if (red[a]) xi[a] = 0;
        out[offset_of(&os, xi)] += x[i];
    }
    if (mean)
        for (int64_t i = 0; i < *nout; i++) out[i] /= (double)count;
}

static void test_reduce(void **state)
{
    (void)state;
    const int64_t xd[] = {3, 4, 5};
    /* every subset of axes, both ops, both keepdims, FP32 and FP64 */
    for (int mask = 0; mask < 8; mask++) {
        for (int op = 0; op < 2; op++) {
            for (int keep = 0; keep < 2; keep++) {
                for (int dt = 0; dt < 2; dt++) {
                    bool red[3];
                    int64_t axes[3];
                    int n = 0;
                    for (int a = 0; a < 3; a++) {
                        red[a] = mask == 0 || (mask >> a & 1);
                        if (mask >> a & 1) axes[n++] = a - (a == 2 ? 3 : 0);
                    }
                    op_case_t c;
                    case_init(&c, op ? CV_OP_REDUCE_MEAN : CV_OP_REDUCE_SUM, 1);
                    attr_int(&c, "keepdims", keep);
                    cv_tensor_t *x = add_f32(&c, 3, xd, NULL);
                    cv_test_fill_random(x, (uint64_t)(mask * 4 + op));
                    float xf[60];
                    memcpy(xf, x->data, sizeof xf);
                    if (dt == 1) { /* the same values as FP64 */
                        cv_tensor_t d;
                        assert_int_equal(cv_tensor_alloc(&d, CV_DTYPE_FP64, &x->shape),
                                         CV_STATUS_OK);
                        for (int i = 0; i < 60; i++) ((double *)d.data)[i] = xf[i];
                        cv_tensor_free(x);
                        *x = d;
                    }
                    if (n) add_i64(&c, n, axes);
                    assert_int_equal(run(&c), CV_STATUS_OK);
                    double want[60];
                    int64_t nout;
                    naive_reduce(xf, xd, red, op == 1, want, &nout);
                    const cv_tensor_t *y = &c.out[0];
                    int rank = 0;
                    for (int a = 0; a < 3; a++) rank += keep || !red[a];
                    assert_int_equal(y->shape.ndim, rank);
                    assert_int_equal(cv_shape_numel(&y->shape), nout);
                    for (int64_t i = 0; i < nout; i++)
                        assert_float_equal(cv_tensor_get_f64(y, i), want[i], 1e-4);
                    case_free(&c);
                }
            }
        }
    }

    op_case_t c;
    /* integer mean truncates */
    case_init(&c, CV_OP_REDUCE_MEAN, 1);
    attr_int(&c, "keepdims", 0);
    add_input(&c, CV_DTYPE_INT32, 2, (const int64_t[]){2, 3}, (const int32_t[]){1, 2, 4, 5, 7, 9});
    add_i64(&c, 1, (const int64_t[]){1});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 1, (const int64_t[]){2});
    expect_i64(&c.out[0], (const int64_t[]){2, 7}, 2);
    case_free(&c);

    /* empty axes with noop_with_empty_axes: identity */
    case_init(&c, CV_OP_REDUCE_SUM, 1);
    attr_int(&c, "noop_with_empty_axes", 1);
    add_f32(&c, 2, (const int64_t[]){2, 2}, (const float[]){1, 2, 3, 4});
    add_i64(&c, 0, NULL);
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){2, 2});
    expect_f32(&c.out[0], (const float[]){1, 2, 3, 4}, 4);
    case_free(&c);

    /* empty axes without it: everything, keepdims */
    case_init(&c, CV_OP_REDUCE_SUM, 1);
    add_f32(&c, 2, (const int64_t[]){2, 2}, (const float[]){1, 2, 3, 4});
    add_i64(&c, 0, NULL);
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_shape(&c.out[0], 2, (const int64_t[]){1, 1});
    expect_f32(&c.out[0], (const float[]){10}, 1);
    case_free(&c);

    /* a reduced axis of size 0: sum 0, mean NaN */
    case_init(&c, CV_OP_REDUCE_MEAN, 1);
    add_f32(&c, 2, (const int64_t[]){2, 0}, NULL);
    add_i64(&c, 1, (const int64_t[]){1});
    assert_int_equal(run(&c), CV_STATUS_OK);
    expect_f32(&c.out[0], (const float[]){NAN, NAN}, 2);
    case_free(&c);

    case_init(&c, CV_OP_REDUCE_SUM, 1);
    add_input(&c, CV_DTYPE_BOOL, 1, (const int64_t[]){2}, (const uint8_t[]){1, 0});
    expect_error(&c, CV_STATUS_UNSUPPORTED, "ReduceSum on BOOL is not supported");
    case_free(&c);

    case_init(&c, CV_OP_REDUCE_SUM, 1);
    add_f32(&c, 2, (const int64_t[]){2, 2}, NULL);
    add_i64(&c, 1, (const int64_t[]){2});
    expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "out of range for rank 2");
    case_free(&c);
}

/* ---- allocation failures ---------------------------------------------------- */

static void test_out_of_memory(void **state)
{
    (void)state;
    /* Split's inference and reflect Pad's kernel allocate: failing it must
     * report OUT_OF_MEMORY and leak nothing. */
    size_t before = cv_alloc_live_bytes();
    op_case_t c;
    case_init(&c, CV_OP_SPLIT, 2);
    add_iota(&c, 1, (const int64_t[]){4});
    cv_alloc_fail_after(1);
    assert_int_equal(run_infer(&c), CV_STATUS_OUT_OF_MEMORY);
    cv_alloc_fail_after(0);
    case_free(&c);

    case_init(&c, CV_OP_PAD, 1);
    attr_string(&c, "mode", "reflect");
    add_iota(&c, 1, (const int64_t[]){4});
    add_i64(&c, 2, (const int64_t[]){1, 1});
    assert_int_equal(run_infer(&c), CV_STATUS_OK);
    cv_shape_t s = c.out[0].shape;
    assert_int_equal(cv_tensor_alloc(&c.out[0], CV_DTYPE_FP32, &s), CV_STATUS_OK);
    cv_alloc_fail_after(1);
    assert_int_equal(run_kernel(&c), CV_STATUS_OUT_OF_MEMORY);
    cv_alloc_fail_after(0);
    case_free(&c);
    assert_int_equal(cv_alloc_live_bytes(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_squeeze_unsqueeze),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_constant_of_shape),
        cmocka_unit_test(test_identity_dropout),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_tile),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
