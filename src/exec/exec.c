/*
 * exec.c: running a plan over a wave (see exec.h).
 *
 * The executor owns one arena on the backend, grown to the largest plan it
 * has run, plus room for the wave's inputs when the backend's memory is not
 * host memory. Plan-time constants are uploaded once per plan the first
 * time it runs here.
 */
#include "exec/exec.h"

#include <string.h>

struct cv_executor {
    cv_backend_t *backend;
    void *arena;
    size_t arena_bytes;
};

cv_status cv_exec_create(cv_backend_t *backend, cv_executor_t **out, cv_err_t *err)
{
    cv_executor_t *ex = cv_calloc(1, sizeof(*ex));
    if (!ex) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory creating an executor");
    ex->backend = backend;
    *out = ex;
    return CV_STATUS_OK;
}

void cv_exec_destroy(cv_executor_t *ex)
{
    if (!ex) return;
    if (ex->arena) ex->backend->iface->free(ex->backend, ex->arena);
    cv_free(ex);
}

static cv_status ensure_arena(cv_executor_t *ex, size_t bytes, cv_err_t *err)
{
    if (bytes <= ex->arena_bytes && ex->arena) return CV_STATUS_OK;
    if (ex->arena) ex->backend->iface->free(ex->backend, ex->arena);
    ex->arena = NULL;
    ex->arena_bytes = 0;
    cv_status st = ex->backend->iface->alloc(ex->backend, bytes, &ex->arena, err);
    if (st != CV_STATUS_OK) return st;
    ex->arena_bytes = bytes;
    return CV_STATUS_OK;
}

/* Where value v's bytes are for this wave. */
static void *value_data(const cv_executor_t *ex, const cv_plan_t *plan, int v,
                        const cv_wave_slice_t *slice0, const cv_tensor_t *inputs)
{
    const cv_plan_value_t *pv = &plan->values[v];
    int root = pv->alias_of >= 0 ? pv->alias_of : v;
    const cv_plan_value_t *rv = &plan->values[root];
    switch (rv->storage) {
    case CV_STORAGE_INPUT: return inputs[rv->input_index].data;
    case CV_STORAGE_ARENA: return (char *)ex->arena + rv->offset;
    case CV_STORAGE_CONSTANT: return slice0->constants[root];
    case CV_STORAGE_PLAN_CONSTANT: return rv->plan_constant->data;
    case CV_STORAGE_NONE: break;
    }
    CV_ASSERT(!"value has storage");
    return NULL;
}

cv_status cv_exec_wave(cv_executor_t *ex, const cv_plan_t *plan, const cv_wave_slice_t *slices,
                       int nslices, const cv_tensor_t *inputs, cv_tensor_t *outputs,
                       cv_err_t *err)
{
    const cv_graph_t *g = plan->graph;
    const cv_backend_i *be = ex->backend->iface;
    CV_ASSERT(nslices >= 1);
    CV_ASSERT(nslices == 1 || plan->stackable);
    /* Only the CPU backend exists so far, whose memory is host memory; a
     * device backend adds the upload of inputs and plan constants here. */
    CV_ASSERT(be->upload == be->download);
    cv_status st = ensure_arena(ex, plan->arena_bytes ? plan->arena_bytes : 64, err);
    if (st != CV_STATUS_OK) return st;

    cv_tensor_t in_tensors[32], out_tensors[16];
    const cv_tensor_t *in_ptrs[32];
    cv_tensor_t *out_ptrs[16];
    bool batched[32], out_batched[16];
    for (int s = 0; s < plan->nsteps; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        CV_ASSERT(n->ninputs <= 32 && n->noutputs <= 16);
        for (int i = 0; i < n->ninputs; i++) {
            int v = n->inputs[i];
            in_ptrs[i] = NULL;
            batched[i] = false;
            if (v < 0) continue;
            in_tensors[i].dtype = plan->values[v].dtype;
            in_tensors[i].shape = plan->values[v].shape;
            in_tensors[i].data = value_data(ex, plan, v, &slices[0], inputs);
            in_ptrs[i] = &in_tensors[i];
            batched[i] = plan->values[v].batched;
        }
        for (int o = 0; o < n->noutputs; o++) {
            int v = n->outputs[o];
            out_ptrs[o] = NULL;
            out_batched[o] = false;
            if (v < 0) continue;
            out_tensors[o].dtype = plan->values[v].dtype;
            out_tensors[o].shape = plan->values[v].shape;
            out_tensors[o].data = value_data(ex, plan, v, &slices[0], inputs);
            out_ptrs[o] = &out_tensors[o];
            out_batched[o] = plan->values[v].batched;
        }
        cv_step_run_t run = {.graph = g, .plan = plan, .step = s, .node = n,
                             .inputs = in_ptrs, .ninputs = n->ninputs,
                             .outputs = out_ptrs, .noutputs = n->noutputs,
                             .batched = batched, .out_batched = out_batched,
                             .slices = slices, .nslices = nslices};
        st = be->step_run(ex->backend, &run, err);
        if (st != CV_STATUS_OK) {
            char label[160];
            cv_err_prefix(err, "%s: %s", g->path, cv_node_label(g, plan->steps[s].node, label, sizeof label));
            return st;
        }
    }
    if (be->synchronize) {
        st = be->synchronize(ex->backend, err);
        if (st != CV_STATUS_OK) return st;
    }
    for (int i = 0; i < g->noutputs; i++) {
        int v = g->outputs[i];
        size_t bytes = (size_t)cv_shape_numel(&plan->values[v].shape) * cv_dtype_size(plan->values[v].dtype);
        CV_ASSERT(cv_tensor_nbytes(&outputs[i]) == bytes);
        st = be->download(ex->backend, outputs[i].data, value_data(ex, plan, v, &slices[0], inputs),
                          bytes, err);
        if (st != CV_STATUS_OK) return st;
    }
    return CV_STATUS_OK;
}
