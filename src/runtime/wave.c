/*
 * wave.c: running a wave of tenants of one family (cv_wave_run, cv_infer):
 * checking the slices' inputs, the family's plan for the wave's rows (an LRU
 * cache per family), the slices' outputs, and the executor.
 */
#include "runtime/runtime_internal.h"

#include <string.h>

/* The family's plan for these input shapes, built on first use; the least
 * recently used plan makes room when the cache is full. */
static cv_status family_plan(cv_runtime_t *rt, cv_family_t *f, const cv_shape_t *shapes,
                             const cv_tensor_t *inputs, cv_plan_t **out, cv_err_t *err)
{
    const cv_graph_t *g = f->representative;
    int victim = 0;
    for (int i = 0; i < PLAN_CACHE_SIZE; i++) {
        cv_plan_t *p = f->plans[i].plan;
        if (!p) {
            victim = i;
            continue;
        }
        if (cv_plan_matches(p, shapes, inputs)) {
            f->plans[i].last_used = ++f->clock;
            *out = p;
            return CV_STATUS_OK;
        }
        if (f->plans[victim].plan && f->plans[i].last_used < f->plans[victim].last_used) victim = i;
    }
    cv_plan_t *plan;
    cv_status st = cv_plan_build(g, shapes, inputs, &rt->fold_cpu, &plan, err);
    if (st != CV_STATUS_OK) return st;
    cv_plan_destroy(f->plans[victim].plan);
    f->plans[victim].plan = plan;
    f->plans[victim].last_used = ++f->clock;
    *out = plan;
    return CV_STATUS_OK;
}

/* Checks one slice's inputs against its tenant's declared inputs. */
static cv_status check_slice_inputs(const cv_tenant_t *t, const cv_tensor_t *inputs, cv_err_t *err)
{
    const cv_graph_t *g = t->graph;
    for (int i = 0; i < g->ninputs; i++) {
        const cv_value_t *decl = &g->values[g->inputs[i]];
        const cv_tensor_t *x = &inputs[i];
        char got[128], want[128];
        if (x->dtype != decl->dtype)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "tenant '%s': input '%s' is %s but the model expects %s", t->name,
                             decl->name, cv_dtype_name(x->dtype), cv_dtype_name(decl->dtype));
        bool ok = decl->shape.ndim == 0 || decl->shape.ndim == x->shape.ndim;
        for (int d = 0; ok && d < decl->shape.ndim; d++)
            if (decl->shape.dims[d] > 0 && decl->shape.dims[d] != x->shape.dims[d]) ok = false;
        if (g->batched && (x->shape.ndim < 1 || x->shape.dims[0] < 1)) ok = false;
        if (g->batched && x->shape.dims[0] != inputs[0].shape.dims[0]) ok = false;
        if (!ok)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "tenant '%s': input '%s' has shape %s but the model expects %s%s",
                             t->name, decl->name, cv_shape_str(&x->shape, got, sizeof got),
                             cv_shape_str(&decl->shape, want, sizeof want),
                             g->batched ? " (-1: any size, dim 0 = rows, the same for every input)" : "");
    }
    return CV_STATUS_OK;
}

/* Checks that the slices can form one wave (one family, inputs as the
 * model declares, equal beyond the batch axis) and counts its rows. */
static cv_status check_wave(const cv_slice_io_t *slices, int nslices, int64_t *total_rows, cv_err_t *err)
{
    if (nslices < 1) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "a wave needs at least one slice");
    cv_family_t *f = slices[0].tenant->family;
    const cv_graph_t *g = f->representative;
    *total_rows = 0;
    for (int s = 0; s < nslices; s++) {
        cv_tenant_t *t = slices[s].tenant;
        if (t->family != f)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "tenants '%s' and '%s' are of different families and cannot share a wave",
                             slices[0].tenant->name, t->name);
        cv_status st = check_slice_inputs(t, slices[s].inputs, err);
        if (st != CV_STATUS_OK) return st;
        for (int i = 0; s > 0 && i < g->ninputs; i++) {
            cv_shape_t a = slices[0].inputs[i].shape, b = slices[s].inputs[i].shape;
            a.dims[0] = b.dims[0] = 0;
            if (!cv_shape_equal(&a, &b))
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "slices 0 and %d of the wave differ in the shape of input '%s' beyond the batch axis",
                                 s, g->values[g->inputs[i]].name);
        }
        *total_rows += g->batched && g->ninputs ? slices[s].inputs[0].shape.dims[0] : 1;
    }
    if (nslices > 1 && !g->batched)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "tenant '%s': the model's inputs have no batch axis, so its waves hold one slice",
                         slices[0].tenant->name);
    return CV_STATUS_OK;
}

/* The family's plan for a wave of `total_rows` shaped like slice 0. */
static cv_status wave_plan(cv_runtime_t *rt, const cv_slice_io_t *slices, int nslices, int64_t total_rows,
                           cv_plan_t **plan, cv_err_t *err)
{
    cv_family_t *f = slices[0].tenant->family;
    const cv_graph_t *g = f->representative;
    cv_shape_t *shapes = cv_malloc(sizeof(cv_shape_t) * (size_t)(g->ninputs + 1));
    if (!shapes) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory planning a wave");
    for (int i = 0; i < g->ninputs; i++) {
        shapes[i] = slices[0].inputs[i].shape;
        if (g->batched) shapes[i].dims[0] = total_rows;
    }
    cv_status st = family_plan(rt, f, shapes, nslices == 1 ? slices[0].inputs : NULL, plan, err);
    cv_free(shapes);
    if (st == CV_STATUS_OK && nslices > 1 && !(*plan)->stackable)
        st = cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s: waves of several tenants are not possible: %s",
                       g->path, (*plan)->not_stackable_why);
    return st;
}

/* Allocates each slice's outputs: its rows of a batched output, the whole
 * tensor of one that does not grow with the rows. On failure nothing is
 * left allocated. */
static cv_status alloc_outputs(const cv_plan_t *plan, const cv_wave_slice_t *wave, cv_slice_io_t *slices,
                               int nslices, cv_err_t *err)
{
    const cv_graph_t *g = plan->graph;
    for (int s = 0; s < nslices; s++) {
        for (int o = 0; o < g->noutputs; o++) {
            const cv_plan_value_t *pv = &plan->values[g->outputs[o]];
            cv_shape_t shape = pv->shape;
            if (pv->batched) shape.dims[0] = shape.dims[0] / plan->rows * wave[s].rows;
            if (cv_tensor_alloc(&slices[s].outputs[o], pv->dtype, &shape) == CV_STATUS_OK) continue;
            for (int k = 0; k < o; k++) cv_tensor_free(&slices[s].outputs[k]);
            for (int r = 0; r < s; r++)
                for (int k = 0; k < g->noutputs; k++) cv_tensor_free(&slices[r].outputs[k]);
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the wave's outputs");
        }
    }
    return CV_STATUS_OK;
}

cv_status cv_wave_run(cv_runtime_t *rt, cv_slice_io_t *slices, int nslices, cv_err_t *err)
{
    int64_t total_rows = 0;
    cv_status st = check_wave(slices, nslices, &total_rows, err);
    cv_plan_t *plan = NULL;
    if (st == CV_STATUS_OK) st = wave_plan(rt, slices, nslices, total_rows, &plan, err);
    if (st != CV_STATUS_OK) return st;
    const cv_graph_t *g = plan->graph;

    /* The wave's slice table and each slice's tensors, in one block. */
    size_t bytes = (sizeof(cv_wave_slice_t) + 2 * sizeof(void *)) * (size_t)nslices;
    cv_wave_slice_t *wave = cv_malloc(bytes);
    if (!wave) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory forming a wave");
    const cv_tensor_t **ins = (const cv_tensor_t **)(wave + nslices);
    cv_tensor_t **outs = (cv_tensor_t **)(ins + nslices);
    int64_t row = 0;
    for (int s = 0; s < nslices; s++) {
        int64_t rows = g->batched && g->ninputs ? slices[s].inputs[0].shape.dims[0] : 1;
        wave[s] = (cv_wave_slice_t){.row0 = row, .rows = rows, .constants = slices[s].tenant->constants};
        ins[s] = slices[s].inputs;
        outs[s] = slices[s].outputs;
        row += rows;
    }
    st = alloc_outputs(plan, wave, slices, nslices, err);
    if (st == CV_STATUS_OK) {
        st = cv_exec_wave(rt->exec, plan, wave, nslices, slices[0].tenant->precision, ins, outs, err);
        if (st == CV_STATUS_OK) rt->waves++;
        else
            for (int s = 0; s < nslices; s++)
                for (int o = 0; o < g->noutputs; o++) cv_tensor_free(&slices[s].outputs[o]);
    }
    cv_free(wave);
    return st;
}

cv_status cv_infer(cv_runtime_t *rt, cv_tenant_t *tenant, const cv_tensor_t *inputs,
                   cv_tensor_t *outputs, cv_err_t *err)
{
    cv_slice_io_t slice = {.tenant = tenant, .inputs = inputs, .outputs = outputs};
    return cv_wave_run(rt, &slice, 1, err);
}

