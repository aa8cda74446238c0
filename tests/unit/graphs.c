/*
 * graphs.c: IR graphs built in C, plans, tenants and waves (see graphs.h).
 */
#include "graphs.h"

#include "ir/passes.h"

#include <stdio.h>
#include <string.h>

cv_graph_t *cv_test_graph_new(const char *path, int opset, bool batched)
{
    cv_graph_t *g = cv_graph_create(path);
    assert_non_null(g);
    g->opset = opset;
    g->batched = batched;
    return g;
}

/* ---- values ------------------------------------------------------------------ */

static void append(int **list, int *n, int v)
{
    int *grown = cv_realloc(*list, sizeof(int) * (size_t)(*n + 1));
    assert_non_null(grown);
    *list = grown;
    grown[(*n)++] = v;
}

int cv_test_graph_input(cv_graph_t *g, const char *name, cv_dtype_t dtype, cv_shape_t shape)
{
    int v = cv_graph_add_value(g, name);
    assert_true(v >= 0);
    if (g->batched && shape.ndim > 0) shape.dims[0] = -1;
    g->values[v].dtype = dtype;
    g->values[v].shape = shape;
    append(&g->inputs, &g->ninputs, v);
    return v;
}

int cv_test_graph_const(cv_graph_t *g, const char *name, cv_tensor_t *t, bool weight)
{
    int v = cv_graph_add_constant(g, name, t, weight);
    assert_true(v >= 0);
    return v;
}

int cv_test_graph_weight(cv_graph_t *g, const char *name, cv_shape_t shape, uint64_t seed)
{
    cv_tensor_t *t = cv_test_tensor(CV_DTYPE_FP32, shape, NULL);
    cv_test_fill_random(t, seed);
    return cv_test_graph_const(g, name, t, true);
}

int cv_test_graph_const_ints(cv_graph_t *g, const char *name, const int64_t *v, int n)
{
    return cv_test_graph_const(g, name, cv_test_tensor(CV_DTYPE_INT64, CV_TEST_SHAPE(n), v), false);
}

int cv_test_graph_const_scalar(cv_graph_t *g, const char *name, float v)
{
    return cv_test_graph_const(g, name, cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SCALAR, &v), false);
}

void cv_test_graph_output(cv_graph_t *g, int v)
{
    assert_true(v >= 0 && v < g->nvalues);
    append(&g->outputs, &g->noutputs, v);
}

/* ---- nodes ---------------------------------------------------------------------- */

int cv_test_graph_node(cv_graph_t *g, cv_op_t op, const int *in, int nin, const char *name)
{
    int out = cv_graph_add_value(g, name);
    assert_true(out >= 0);
    int n = cv_graph_add_node(g, name, op, in, nin, &out, 1);
    assert_true(n >= 0);
    return n;
}

int cv_test_graph_out(const cv_graph_t *g, int n) { return g->nodes[n].outputs[0]; }

static void add_attr(cv_graph_t *g, int n, cv_attr_t *a)
{
    assert_non_null(a->name);
    assert_int_equal(cv_node_add_attr(&g->nodes[n], a), CV_STATUS_OK);
}

int cv_test_graph_conv(cv_graph_t *g, const char *name, int x, int64_t m, int64_t c, int64_t k, int64_t stride,
                       int64_t group, bool bias, uint64_t seed)
{
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s_w", name);
    snprintf(bn, sizeof bn, "%s_b", name);
    int w = cv_test_graph_weight(g, wn, CV_TEST_SHAPE(m, c / group, k, k), seed);
    int in[3] = {x, w, bias ? cv_test_graph_weight(g, bn, CV_TEST_SHAPE(m), seed + 1) : -1};
    int n = cv_test_graph_node(g, CV_OP_CONV, in, bias ? 3 : 2, name);
    int64_t p = k / 2;
    cv_test_graph_attr_ints(g, n, "pads", (int64_t[]){p, p, p, p}, 4);
    cv_test_graph_attr_ints(g, n, "strides", (int64_t[]){stride, stride}, 2);
    if (group != 1) cv_test_graph_attr_int(g, n, "group", group);
    return n;
}

void cv_test_graph_attr_int(cv_graph_t *g, int n, const char *name, int64_t v)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_INT, .i = v};
    add_attr(g, n, &a);
}

void cv_test_graph_attr_float(cv_graph_t *g, int n, const char *name, float v)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_FLOAT, .f = v};
    add_attr(g, n, &a);
}

void cv_test_graph_attr_ints(cv_graph_t *g, int n, const char *name, const int64_t *v, int count)
{
    if (count == 0) return;
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_INTS, .n = count};
    a.ints = cv_malloc(sizeof(int64_t) * (size_t)count);
    assert_non_null(a.ints);
    memcpy(a.ints, v, sizeof(int64_t) * (size_t)count);
    add_attr(g, n, &a);
}

void cv_test_graph_attr_floats(cv_graph_t *g, int n, const char *name, const float *v, int count)
{
    if (count == 0) return;
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_FLOATS, .n = count};
    a.floats = cv_malloc(sizeof(float) * (size_t)count);
    assert_non_null(a.floats);
    memcpy(a.floats, v, sizeof(float) * (size_t)count);
    add_attr(g, n, &a);
}

void cv_test_graph_attr_string(cv_graph_t *g, int n, const char *name, const char *s)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_STRING, .s = cv_strdup(s)};
    assert_non_null(a.s);
    add_attr(g, n, &a);
}

void cv_test_graph_attr_tensor(cv_graph_t *g, int n, const char *name, const cv_tensor_t *t)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_TENSOR, .tensor = cv_tensor_clone(t)};
    assert_non_null(a.tensor);
    add_attr(g, n, &a);
}

/* ---- tenants of one family ------------------------------------------------------- */

static void *copy_bytes(const void *src, size_t bytes)
{
    void *dst = cv_malloc(bytes ? bytes : 1);
    assert_non_null(dst);
    if (bytes) memcpy(dst, src, bytes);
    return dst;
}

static cv_attr_t attr_copy(const cv_attr_t *a)
{
    cv_attr_t c = *a;
    c.name = copy_bytes(a->name, strlen(a->name) + 1);
    if (a->s) c.s = copy_bytes(a->s, strlen(a->s) + 1);
    if (a->ints) c.ints = copy_bytes(a->ints, sizeof(int64_t) * (size_t)a->n);
    if (a->floats) c.floats = copy_bytes(a->floats, sizeof(float) * (size_t)a->n);
    if (a->tensor) {
        c.tensor = cv_tensor_clone(a->tensor);
        assert_non_null(c.tensor);
    }
    return c;
}

cv_graph_t *cv_test_graph_clone(const cv_graph_t *g)
{
    cv_graph_t *c = cv_test_graph_new(g->path, g->opset, g->batched);
    for (int v = 0; v < g->nvalues; v++) {
        const cv_value_t *src = &g->values[v];
        int copy;
        if (src->constant) {
            cv_tensor_t *t = cv_tensor_clone(src->constant);
            assert_non_null(t);
            copy = cv_test_graph_const(c, src->name, t, src->is_weight);
        } else {
            copy = cv_graph_add_value(c, src->name);
        }
        assert_int_equal(copy, v);
        c->values[v].dtype = src->dtype;
        c->values[v].shape = src->shape;
    }
    for (int n = 0; n < g->nnodes; n++) {
        const cv_node_t *src = &g->nodes[n];
        assert_int_equal(cv_graph_add_node(c, src->name, src->op, src->inputs, src->ninputs, src->outputs,
                                           src->noutputs), n);
        cv_node_t *dst = &c->nodes[n];
        dst->opset = src->opset;
        dst->activation = src->activation;
        dst->clip_min = src->clip_min;
        dst->fused_residual = src->fused_residual;
        dst->clip_max = src->clip_max;
        dst->dead = src->dead;
        for (int a = 0; a < src->nattrs; a++) {
            cv_attr_t copy = attr_copy(&src->attrs[a]);
            assert_int_equal(cv_node_add_attr(dst, &copy), CV_STATUS_OK);
        }
    }
    for (int v = 0; v < g->nvalues; v++) c->values[v].producer = g->values[v].producer;
    for (int i = 0; i < g->ninputs; i++) append(&c->inputs, &c->ninputs, g->inputs[i]);
    for (int o = 0; o < g->noutputs; o++) append(&c->outputs, &c->noutputs, g->outputs[o]);
    return c;
}

void cv_test_graph_vary_weights(cv_graph_t *g, int t)
{
    for (int v = 0; v < g->nvalues; v++) {
        cv_tensor_t *w = g->values[v].constant;
        if (!w || !g->values[v].is_weight) continue;
        if (w->dtype != CV_DTYPE_FP32 && w->dtype != CV_DTYPE_FP64) continue;
        for (int64_t i = 0; i < cv_shape_numel(&w->shape); i++)
            cv_tensor_set_f64(w, i, cv_tensor_get_f64(w, i) * (1.0 + 0.5 * t) + 0.125 * t);
    }
}

/* ---- preparing, planning, running ----------------------------------------------- */

void cv_test_graph_prepare(cv_graph_t *g, cv_cpu_ctx_t *cpu)
{
    cv_err_t err;
    if (cv_ir_prepare(g, cpu, &err) != CV_STATUS_OK) fail_msg("prepare: %s", err.msg);
}

cv_plan_t *cv_test_plan(const cv_graph_t *g, const cv_shape_t *shapes, cv_cpu_ctx_t *cpu)
{
    cv_plan_t *plan;
    cv_err_t err;
    if (cv_plan_build(g, shapes, NULL, cpu, &plan, &err) != CV_STATUS_OK) fail_msg("plan: %s", err.msg);
    return plan;
}

cv_plan_t *cv_test_plan_rows(const cv_graph_t *g, int64_t rows, cv_cpu_ctx_t *cpu)
{
    assert_int_equal(g->ninputs, 1);
    cv_shape_t s = g->values[g->inputs[0]].shape;
    s.dims[0] = rows;
    return cv_test_plan(g, &s, cpu);
}

void **cv_test_tenant_upload(cv_backend_t *be, const cv_graph_t *g, cv_precision_t precision)
{
    void **table;
    cv_err_t err;
    if (be->iface->tenant_upload(be, g, precision, NULL, &table, &err) != CV_STATUS_OK)
        fail_msg("%s upload: %s", be->iface->name, err.msg);
    return table;
}

void cv_test_tenant_release(cv_backend_t *be, const cv_graph_t *g, void **constants)
{
    be->iface->tenant_release(be, g, constants);
}

#define MAX_WAVE_SLICES 128
#define MAX_WAVE_IO 8

void cv_test_wave_run(cv_executor_t *ex, const cv_plan_t *plan, void **const *tables, const int64_t *rows,
                      int nslices, cv_precision_t precision, const cv_tensor_t *inputs, cv_tensor_t *outputs)
{
    const cv_graph_t *g = plan->graph;
    assert_true(nslices >= 1 && nslices <= MAX_WAVE_SLICES);
    assert_true(g->ninputs <= MAX_WAVE_IO && g->noutputs <= MAX_WAVE_IO);
    cv_wave_slice_t slices[MAX_WAVE_SLICES];
    cv_tensor_t in_views[MAX_WAVE_SLICES][MAX_WAVE_IO], out_views[MAX_WAVE_SLICES][MAX_WAVE_IO];
    const cv_tensor_t *ins[MAX_WAVE_SLICES];
    cv_tensor_t *outs[MAX_WAVE_SLICES];
    int64_t total = 0;
    for (int s = 0; s < nslices; s++) {
        slices[s] = (cv_wave_slice_t){.row0 = total, .rows = rows[s], .constants = tables[s]};
        total += rows[s];
    }
    for (int o = 0; o < g->noutputs; o++) {
        const cv_plan_value_t *pv = &plan->values[g->outputs[o]];
        assert_int_equal(cv_tensor_alloc(&outputs[o], pv->dtype, &pv->shape), CV_STATUS_OK);
    }
    /* Each slice sees its rows of the stacked tensors, as a caller that
     * holds one request per slice would hand them. */
    for (int s = 0; s < nslices; s++) {
        for (int i = 0; i < g->ninputs; i++)
            in_views[s][i] = nslices == 1 ? inputs[i] : cv_row_view(&inputs[i], slices[s].row0, rows[s], total);
        for (int o = 0; o < g->noutputs; o++) {
            bool stacked = nslices > 1 && plan->values[g->outputs[o]].batched;
            out_views[s][o] = stacked ? cv_row_view(&outputs[o], slices[s].row0, rows[s], total) : outputs[o];
        }
        ins[s] = in_views[s];
        outs[s] = out_views[s];
    }
    cv_err_t err;
    cv_status st = cv_exec_wave(ex, plan, slices, nslices, precision, ins, outs, &err);
    if (st != CV_STATUS_OK) fail_msg("wave of %d slices: %s: %s", nslices, cv_status_str(st), err.msg);
}
