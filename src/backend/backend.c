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

void cv_step_slice_views(const cv_step_run_t *run, int s, cv_tensor_t *in_views,
                         const cv_tensor_t **in_ptrs, cv_tensor_t *out_views, cv_tensor_t **out_ptrs)
{
    const cv_wave_slice_t *slice = &run->slices[s];
    const cv_graph_t *g = run->graph;
    int64_t total = cv_step_total_rows(run);
    for (int i = 0; i < run->ninputs; i++) {
        const cv_tensor_t *t = run->inputs[i];
        int v = run->node->inputs[i];
        in_ptrs[i] = t;
        if (!t) continue;
        if (g->values[v].constant && g->values[v].is_weight) {
            in_views[i] = *t;
            in_views[i].data = slice->constants[v];
            in_ptrs[i] = &in_views[i];
        } else if (run->batched[i]) {
            in_views[i] = cv_row_view(t, slice->row0, slice->rows, total);
            in_ptrs[i] = &in_views[i];
        }
    }
    for (int o = 0; o < run->noutputs; o++) {
        out_ptrs[o] = run->outputs[o];
        if (!run->outputs[o] || !run->out_batched[o]) continue;
        out_views[o] = cv_row_view(run->outputs[o], slice->row0, slice->rows, total);
        out_ptrs[o] = &out_views[o];
    }
}
