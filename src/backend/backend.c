/*
 * backend.c: what every backend needs to run a weighted step one slice at a
 * time: views of a slice's rows of the wave's stacked tensors, with that
 * slice's tenant's weights in place of slice 0's.
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

void cv_step_slice_views(const cv_step_run_t *run, int s, cv_step_views_t *v)
{
    const cv_wave_slice_t *slice = &run->slices[s];
    const cv_graph_t *g = run->graph;
    int64_t total = cv_step_total_rows(run);
    for (int i = 0; i < run->ninputs; i++) {
        const cv_tensor_t *t = run->inputs[i];
        int value = run->node->inputs[i];
        v->in_ptrs[i] = t;
        if (!t) continue;
        if (g->values[value].constant && g->values[value].is_weight) {
            v->in_views[i] = *t;
            v->in_views[i].data = slice->constants[value];
            v->in_ptrs[i] = &v->in_views[i];
        } else if (run->batched[i]) {
            v->in_views[i] = cv_row_view(t, slice->row0, slice->rows, total);
            v->in_ptrs[i] = &v->in_views[i];
        }
    }
    for (int o = 0; o < run->noutputs; o++) {
        v->out_ptrs[o] = run->outputs[o];
        if (!run->outputs[o] || !run->out_batched[o]) continue;
        v->out_views[o] = cv_row_view(run->outputs[o], slice->row0, slice->rows, total);
        v->out_ptrs[o] = &v->out_views[o];
    }
}
