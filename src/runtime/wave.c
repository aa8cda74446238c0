/*
 * wave.c: the family's plans (an LRU cache per family, shared by every
 * lane), and running a wave that the caller forms itself (cv_wave_run,
 * cv_infer: checking the slices' inputs, their outputs, the runtime's own
 * executor). Scheduled waves run in driver.c.
 */
#include "runtime/runtime_internal.h"

#include <string.h>

/* Destroys a plan nobody runs, after the runtime's own backend has let go
 * of what it keyed on it (captured graphs). Lanes' backends keep at most
 * their cache's bound of such entries; their families' lanes go with them. */
static void destroy_plan(cv_runtime_t *rt, cv_plan_t *plan)
{
    if (!plan) return;
    if (rt->backend->iface->forget) {
        pthread_mutex_lock(&rt->exec_mu);
        rt->backend->iface->forget(rt->backend, plan);
        pthread_mutex_unlock(&rt->exec_mu);
    }
    cv_plan_destroy(plan);
}

void cv_family_drop_plans(cv_runtime_t *rt, cv_family_t *f)
{
    for (int i = 0; i < PLAN_CACHE_SIZE; i++) {
        CV_ASSERT(f->plans[i].users == 0);
        destroy_plan(rt, f->plans[i].plan);
        f->plans[i].plan = NULL;
    }
}

/* Plans read the representative's graph: once none is in use, the family
 * plans from the member chosen when the representative was unloaded. */
static void change_representative(cv_runtime_t *rt, cv_family_t *f, cv_tenant_t **release)
{
    for (int i = 0; i < PLAN_CACHE_SIZE; i++)
        if (f->plans[i].users) return;
    cv_family_drop_plans(rt, f);
    *release = f->representative;
    f->representative = f->next_representative;
    f->next_representative = NULL;
    f->change_representative = false;
}

cv_status cv_family_plan_acquire(cv_runtime_t *rt, cv_family_t *f, const cv_shape_t *shapes,
                                 const cv_tensor_t *inputs, cv_plan_t **out, cv_err_t *err)
{
    cv_tenant_t *released = NULL;
    pthread_mutex_lock(&f->mu);
    if (f->change_representative) change_representative(rt, f, &released);
    const cv_graph_t *g = f->representative->graph;
    int victim = -1;
    cv_status st = CV_STATUS_OK;
    for (int i = 0; i < PLAN_CACHE_SIZE; i++) {
        plan_entry_t *e = &f->plans[i];
        if (e->plan && cv_plan_matches(e->plan, shapes, inputs)) {
            e->last_used = ++f->clock;
            e->users++;
            *out = e->plan;
            goto done;
        }
        /* The least recently used plan that no wave runs makes room. */
        if (e->users) continue;
        if (victim < 0 || !e->plan || (f->plans[victim].plan && e->last_used < f->plans[victim].last_used))
            victim = i;
    }
    if (victim < 0) {
        st = cv_errorf(err, CV_STATUS_UNAVAILABLE, "%s: every cached plan of the family is in use", g->path);
        goto done;
    }
    cv_plan_t *plan;
    /* Plans are built under the family's lock: a second wave of the same
     * shape waits for this one instead of building it again. Folding runs
     * on a context of its own, for it may run beside another family's. */
    cv_cpu_ctx_t fold = {.threads = 1};
    st = cv_plan_build(g, shapes, inputs, &fold, &plan, err);
    cv_cpu_ctx_release(&fold);
    if (st != CV_STATUS_OK) goto done;
    destroy_plan(rt, f->plans[victim].plan);
    f->plans[victim] = (plan_entry_t){.plan = plan, .last_used = ++f->clock, .users = 1};
    *out = plan;
done:
    pthread_mutex_unlock(&f->mu);
    if (released) cv_tenant_unref(released);
    return st;
}

void cv_family_plan_release(cv_family_t *f, cv_plan_t *plan)
{
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < PLAN_CACHE_SIZE; i++)
        if (f->plans[i].plan == plan) {
            CV_ASSERT(f->plans[i].users > 0);
            f->plans[i].users--;
        }
    pthread_mutex_unlock(&f->mu);
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
    const cv_graph_t *g = slices[0].tenant->graph;
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
    const cv_graph_t *g = slices[0].tenant->graph;
    cv_shape_t *shapes = cv_malloc(sizeof(cv_shape_t) * (size_t)(g->ninputs + 1));
    if (!shapes) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory planning a wave");
    for (int i = 0; i < g->ninputs; i++) {
        shapes[i] = slices[0].inputs[i].shape;
        if (g->batched) shapes[i].dims[0] = total_rows;
    }
    cv_status st = cv_family_plan_acquire(rt, f, shapes, nslices == 1 ? slices[0].inputs : NULL, plan, err);
    cv_free(shapes);
    if (st == CV_STATUS_OK && nslices > 1 && !(*plan)->stackable) {
        st = cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s: waves of several tenants are not possible: %s",
                       g->path, (*plan)->not_stackable_why);
        cv_family_plan_release(f, *plan);
    }
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

/* Keeps the executor's step profile of the wave just run, with what each
 * step is. Under exec_mu. */
static cv_status keep_profile(cv_runtime_t *rt, const cv_plan_t *plan, cv_err_t *err)
{
    int n;
    const double *ms = cv_exec_step_profile(rt->exec, &n);
    if (n > rt->profile_cap) {
        cv_step_profile_t *grown = cv_realloc(rt->profile, sizeof(*grown) * (size_t)n);
        if (!grown) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the step profile");
        rt->profile = grown;
        rt->profile_cap = n;
    }
    for (int s = 0; s < n; s++) {
        cv_step_profile_t *p = &rt->profile[s];
        const cv_node_t *node = &plan->graph->nodes[plan->steps[s].node];
        p->kind = cv_plan_step_kind(plan, s);
        p->op = cv_op_name(node->op);
        cv_node_label(plan->graph, plan->steps[s].node, p->node, sizeof p->node);
        p->ms = ms[s];
        p->flops = cv_plan_step_flops(plan, s);
    }
    rt->profile_steps = n;
    return CV_STATUS_OK;
}

/* Puts the wave's slices (their table entries, inputs and outputs alike)
 * in their tenants' share_rank order when the family shares weights, as
 * scheduled waves are (cv_family_order_requests): slices that share a step
 * then run it as one. Rows follow the new order; each slice's outputs stay
 * the caller's slice's. */
static void order_wave(cv_runtime_t *rt, const cv_family_t *f, const cv_slice_io_t *slices, cv_wave_slice_t *wave,
                       const cv_tensor_t **ins, cv_tensor_t **outs, int nslices)
{
    int rank[nslices];
    pthread_mutex_lock(&rt->mu);
    bool shares = f->shares;
    for (int s = 0; s < nslices; s++) rank[s] = slices[s].tenant->share_rank;
    pthread_mutex_unlock(&rt->mu);
    if (!shares) return;
    for (int i = 1; i < nslices; i++) { /* insertion sort: stable */
        cv_wave_slice_t w = wave[i];
        const cv_tensor_t *in = ins[i];
        cv_tensor_t *out = outs[i];
        int r = rank[i], j = i;
        for (; j > 0 && rank[j - 1] > r; j--) {
            wave[j] = wave[j - 1];
            ins[j] = ins[j - 1];
            outs[j] = outs[j - 1];
            rank[j] = rank[j - 1];
        }
        wave[j] = w;
        ins[j] = in;
        outs[j] = out;
        rank[j] = r;
    }
    int64_t row = 0;
    for (int s = 0; s < nslices; s++) {
        wave[s].row0 = row;
        row += wave[s].rows;
    }
}

cv_status cv_wave_run(cv_runtime_t *rt, cv_slice_io_t *slices, int nslices, cv_err_t *err)
{
    int64_t total_rows = 0;
    cv_status st = check_wave(slices, nslices, &total_rows, err);
    cv_plan_t *plan = NULL;
    if (st == CV_STATUS_OK) st = wave_plan(rt, slices, nslices, total_rows, &plan, err);
    if (st != CV_STATUS_OK) return st;
    const cv_graph_t *g = plan->graph;
    cv_family_t *f = slices[0].tenant->family;

    /* The wave's slice table and each slice's tensors, in one block. */
    size_t bytes = (sizeof(cv_wave_slice_t) + 2 * sizeof(void *)) * (size_t)nslices;
    cv_wave_slice_t *wave = cv_malloc(bytes);
    if (!wave) {
        cv_family_plan_release(f, plan);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory forming a wave");
    }
    const cv_tensor_t **ins = (const cv_tensor_t **)(wave + nslices);
    cv_tensor_t **outs = (cv_tensor_t **)(ins + nslices);
    int64_t row = 0;
    for (int s = 0; s < nslices; s++) {
        int64_t rows = g->batched && g->ninputs ? slices[s].inputs[0].shape.dims[0] : 1;
        wave[s] = cv_tenant_slice(slices[s].tenant, row, rows);
        ins[s] = slices[s].inputs;
        outs[s] = slices[s].outputs;
        row += rows;
    }
    st = alloc_outputs(plan, wave, slices, nslices, err);
    if (st == CV_STATUS_OK && nslices > 1) order_wave(rt, f, slices, wave, ins, outs, nslices);
    if (st == CV_STATUS_OK) {
        pthread_mutex_lock(&rt->exec_mu);
        st = cv_exec_wave(rt->exec, plan, wave, nslices, slices[0].tenant->config.precision, ins, outs, err);
        cv_host_times_t times = {0};
        if (st == CV_STATUS_OK) {
            rt->waves++;
            atomic_store(&rt->last_wave_flops, plan->flops);
            cv_driver_host_times(rt->exec, rt->backend, &times);
        }
        if (st == CV_STATUS_OK && rt->config.step_profile) st = keep_profile(rt, plan, err);
        pthread_mutex_unlock(&rt->exec_mu);
        if (st == CV_STATUS_OK) {
            pthread_mutex_lock(&rt->mu);
            cv_driver_note_host_times(rt, &times);
            pthread_mutex_unlock(&rt->mu);
        }
        if (st != CV_STATUS_OK)
            for (int s = 0; s < nslices; s++)
                for (int o = 0; o < g->noutputs; o++) cv_tensor_free(&slices[s].outputs[o]);
    }
    cv_family_plan_release(f, plan);
    cv_free(wave);
    return st;
}

cv_status cv_infer(cv_runtime_t *rt, cv_tenant_t *tenant, const cv_tensor_t *inputs,
                   cv_tensor_t *outputs, cv_err_t *err)
{
    cv_slice_io_t slice = {.tenant = tenant, .inputs = inputs, .outputs = outputs};
    return cv_wave_run(rt, &slice, 1, err);
}

