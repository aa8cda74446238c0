/*
 * backend.c: what every backend needs to run a weighted step one slice (or
 * one run of slices that share the step's weights) at a time: views of the
 * slices' rows of the wave's stacked tensors, with their tenant's weights in
 * place of slice 0's; and which weights a device keeps half copies of.
 */
#include "backend/backend.h"

cv_tensor_t cv_row_view(const cv_tensor_t *t, int64_t row0, int64_t rows, int64_t total)
{
    cv_tensor_t v = *t;
    int64_t per_row = t->shape.dims[0] / total;
    int64_t row_elems = cv_shape_numel(&t->shape) / (t->shape.dims[0] ? t->shape.dims[0] : 1);
    v.shape.dims[0] = per_row * rows;
    v.data = (char *)t->data + (size_t)(row0 * per_row * row_elems) * cv_dtype_size(t->dtype);
    return v;
}

int64_t cv_step_total_rows(const cv_step_run_t *run)
{
    if (run->plan) return run->plan->rows;
    int64_t total = 0;
    for (int s = 0; s < run->nslices; s++)
        total = CV_MAX(total, run->slices[s].row0 + run->slices[s].rows);
    return total;
}

cv_status cv_step_views_init(cv_step_views_t *v, const cv_step_run_t *run, cv_err_t *err)
{
    size_t nin = (size_t)run->ninputs, nout = (size_t)run->noutputs;
    v->in_views = cv_calloc(nin + 1, sizeof(cv_tensor_t));
    v->out_views = cv_calloc(nout + 1, sizeof(cv_tensor_t));
    v->in_ptrs = cv_calloc(nin + 1, sizeof(cv_tensor_t *));
    v->out_ptrs = cv_calloc(nout + 1, sizeof(cv_tensor_t *));
    if (v->in_views && v->out_views && v->in_ptrs && v->out_ptrs) return CV_STATUS_OK;
    return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the views of a step's slices");
}

void cv_step_views_free(cv_step_views_t *v)
{
    cv_free(v->in_views);
    cv_free(v->out_views);
    cv_free(v->in_ptrs);
    cv_free(v->out_ptrs);
    *v = (cv_step_views_t){0};
}

void cv_backend_half_weights(const cv_graph_t *g, bool *needs_half)
{
    for (int ni = 0; ni < g->nnodes; ni++) {
        const cv_node_t *n = &g->nodes[ni];
        if (n->dead || n->ninputs < 2) continue;
        if (n->op != CV_OP_CONV && n->op != CV_OP_GEMM && n->op != CV_OP_MATMUL) continue;
        int v = n->inputs[1];
        if (v >= 0 && g->values[v].constant && g->values[v].constant->dtype == CV_DTYPE_FP32) needs_half[v] = true;
    }
}

/* FP16 eight floats at a time with the F16C instruction (IEEE round to
 * nearest even, as cv_fp32_to_fp16); a block holding a NaN goes through
 * the scalar conversion, whose NaN is the canonical one (the instruction
 * keeps a payload). Loading converts every weight of an FP16 tenant:
 * 25.6 million for a ResNet-50, 62 ms one by one on the development VM. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_F16C_PATH 1
__attribute__((target("avx,f16c"))) static void to_fp16_f16c(const float *f, int64_t n, uint16_t *out)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(f + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) {
            for (int k = 0; k < 8; k++) out[i + k] = cv_fp32_to_fp16(f[i + k]);
            continue;
        }
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; i++) out[i] = cv_fp32_to_fp16(f[i]);
}
#endif

bool cv_backend_to_half_vectorized(void)
{
#ifdef HAVE_F16C_PATH
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
#else
    return false;
#endif
}

void cv_backend_to_half_scalar(const float *f, int64_t n, cv_precision_t precision, uint16_t *out)
{
    if (precision == CV_PRECISION_FP16)
        for (int64_t i = 0; i < n; i++) out[i] = cv_fp32_to_fp16(f[i]);
    else
        for (int64_t i = 0; i < n; i++) out[i] = cv_fp32_to_bf16(f[i]);
}

void cv_backend_to_half(const float *f, int64_t n, cv_precision_t precision, uint16_t *out)
{
#ifdef HAVE_F16C_PATH
    if (precision == CV_PRECISION_FP16 && cv_backend_to_half_vectorized()) {
        to_fp16_f16c(f, n, out);
        return;
    }
#endif
    cv_backend_to_half_scalar(f, n, precision, out);
}

/* Whether node n reads its input 1 through a half path only: a Conv of
 * one group (not 1 channel to 1, which the CUDA backend's depthwise
 * kernel takes, in FP32), a Gemm, a MatMul with a B of at most 2 dims. */
static bool reads_half_only(const cv_graph_t *g, const cv_node_t *n)
{
    int v = n->inputs[1];
    const cv_shape_t *w = &g->values[v].constant->shape;
    switch (n->op) {
    case CV_OP_CONV:
        return cv_node_attr_int(n, "group", 1) == 1 && !(w->ndim >= 2 && w->dims[0] == 1 && w->dims[1] == 1);
    case CV_OP_GEMM: return true;
    case CV_OP_MATMUL: return w->ndim <= 2;
    default: return false;
    }
}

void cv_backend_half_only_weights(const cv_graph_t *g, bool *half_only)
{
    cv_backend_half_weights(g, half_only);
    for (int ni = 0; ni < g->nnodes; ni++) {
        const cv_node_t *n = &g->nodes[ni];
        if (n->dead) continue;
        for (int i = 0; i < n->ninputs; i++) {
            int v = n->inputs[i];
            if (v < 0 || !half_only[v]) continue;
            if (i != 1 || !reads_half_only(g, n)) half_only[v] = false;
        }
    }
    for (int o = 0; o < g->noutputs; o++)
        if (g->outputs[o] >= 0) half_only[g->outputs[o]] = false;
}

cv_status cv_backend_constants_bytes(const cv_graph_t *g, cv_precision_t precision, bool half_only, size_t *bytes)
{
    bool half = precision == CV_PRECISION_FP16 || precision == CV_PRECISION_BF16;
    int nv = g->nvalues;
    bool *needs_half = cv_calloc((size_t)nv + 1, sizeof(bool));
    bool *only = cv_calloc((size_t)nv + 1, sizeof(bool));
    bool *host_read = cv_calloc((size_t)nv + 1, sizeof(bool));
    cv_status st = needs_half && only && host_read ? CV_STATUS_OK : CV_STATUS_OUT_OF_MEMORY;
    if (st == CV_STATUS_OK && half) {
        cv_backend_half_weights(g, needs_half);
        if (half_only) {
            st = cv_graph_host_read_weights(g, host_read);
            cv_backend_half_only_weights(g, only);
        }
    }
    *bytes = 0;
    for (int v = 0; v < nv && st == CV_STATUS_OK; v++) {
        const cv_tensor_t *c = g->values[v].constant;
        if (!c) continue;
        bool half_alone = half && half_only && only[v] && !host_read[v];
        if (!half_alone) *bytes += cv_tensor_nbytes(c);
        if (needs_half[v]) *bytes += sizeof(uint16_t) * (size_t)cv_shape_numel(&c->shape);
    }
    cv_free(needs_half);
    cv_free(only);
    cv_free(host_read);
    return st;
}

static bool is_weight_input(const cv_step_run_t *run, int i)
{
    int v = run->node->inputs[i];
    return v >= 0 && run->inputs[i] && run->graph->values[v].constant && run->graph->values[v].is_weight;
}

bool cv_step_slices_share(const cv_step_run_t *run, int a, int b)
{
    void *const *ca = run->slices[a].constants, *const *cb = run->slices[b].constants;
    if (ca == cb) return true;
    for (int i = 0; i < run->ninputs; i++) {
        if (!is_weight_input(run, i)) continue;
        int v = run->node->inputs[i];
        if (ca[v] != cb[v]) return false;
    }
    return true;
}

int cv_step_shared_run(const cv_step_run_t *run, int s0)
{
    int s1 = s0 + 1;
    while (s1 < run->nslices && run->slices[s1].row0 == run->slices[s1 - 1].row0 + run->slices[s1 - 1].rows &&
           cv_step_slices_share(run, s0, s1))
        s1++;
    return s1;
}

void cv_step_run_views(const cv_step_run_t *run, int s0, int s1, cv_step_views_t *v)
{
    CV_ASSERT(s0 >= 0 && s0 < s1 && s1 <= run->nslices);
    const cv_wave_slice_t *first = &run->slices[s0], *last = &run->slices[s1 - 1];
    int64_t row0 = first->row0, rows = last->row0 + last->rows - first->row0;
    const cv_graph_t *g = run->graph;
    int64_t total = cv_step_total_rows(run);
    for (int i = 0; i < run->ninputs; i++) {
        const cv_tensor_t *t = run->inputs[i];
        int value = run->node->inputs[i];
        v->in_ptrs[i] = t;
        if (!t) continue;
        if (g->values[value].constant && g->values[value].is_weight) {
            v->in_views[i] = *t;
            v->in_views[i].data = first->constants[value];
            v->in_ptrs[i] = &v->in_views[i];
        } else if (run->batched[i]) {
            v->in_views[i] = cv_row_view(t, row0, rows, total);
            v->in_ptrs[i] = &v->in_views[i];
        }
    }
    for (int o = 0; o < run->noutputs; o++) {
        v->out_ptrs[o] = run->outputs[o];
        if (!run->outputs[o] || !run->out_batched[o]) continue;
        v->out_views[o] = cv_row_view(run->outputs[o], row0, rows, total);
        v->out_ptrs[o] = &v->out_views[o];
    }
}

void cv_step_slice_views(const cv_step_run_t *run, int s, cv_step_views_t *v) { cv_step_run_views(run, s, s + 1, v); }
