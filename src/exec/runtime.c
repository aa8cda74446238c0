/*
 * runtime.c: the public API of caravel.h: a runtime (one backend), tenants
 * loaded from ONNX and grouped into families by structural hash, and waves
 * that run several tenants of one family at once.
 *
 * Not thread-safe yet: one caller at a time per runtime. The scheduler
 * (src/sched, a later issue) will own a runtime from its own thread.
 */
#include "exec/exec.h"
#include "ir/infer.h"
#include "ir/passes.h"
#include "onnx/onnx_loader.h"

#include <string.h>


#define PLAN_CACHE_SIZE 16

typedef struct plan_entry {
    cv_plan_t *plan;
    uint64_t last_used;
} plan_entry_t;

typedef struct cv_family {
    uint64_t hash;
    const cv_graph_t *representative; /* one member's graph: plans read its structure */
    int ntenants;
    plan_entry_t plans[PLAN_CACHE_SIZE];
    uint64_t clock;
    struct cv_family *next;
} cv_family_t;

struct cv_tenant {
    char *name;
    cv_graph_t *graph;
    cv_family_t *family;
    void **constants; /* backend pointers, per value */
    cv_precision_t precision;
    cv_account_t account;
    cv_tenant_t *next;
};

struct cv_runtime {
    cv_runtime_config_t config;
    cv_backend_t *backend;
    cv_executor_t *exec;
    cv_cpu_ctx_t fold_cpu; /* constant folding runs on the CPU whatever the device */
    cv_family_t *families;
    cv_tenant_t *tenants;
    long waves;
};

cv_status cv_runtime_create(const cv_runtime_config_t *config, cv_runtime_t **out, cv_err_t *err)
{
    cv_runtime_t *rt = cv_calloc(1, sizeof(*rt));
    if (!rt) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory creating a runtime");
    rt->config = *config;
    cv_status st;
    if (config->device == CV_DEVICE_CPU) {
        st = cv_backend_cpu_create(config->threads, &rt->backend, err);
    } else {
#ifdef CARAVEL_WITH_CUDA
        st = cv_backend_cuda_create(0, &rt->backend, err);
#else
        st = cv_errorf(err, CV_STATUS_UNAVAILABLE,
                       "the CUDA backend is not part of this build (device 'cuda')");
#endif
    }
    if (st == CV_STATUS_OK) st = cv_exec_create(rt->backend, &rt->exec, err);
    if (st != CV_STATUS_OK) {
        cv_runtime_destroy(rt);
        return st;
    }
    rt->fold_cpu.threads = config->threads;
    *out = rt;
    return CV_STATUS_OK;
}

static void family_drop_plans(cv_family_t *f)
{
    for (int i = 0; i < PLAN_CACHE_SIZE; i++) {
        cv_plan_destroy(f->plans[i].plan);
        f->plans[i].plan = NULL;
    }
}

void cv_runtime_destroy(cv_runtime_t *rt)
{
    if (!rt) return;
    while (rt->tenants) cv_tenant_unload(rt, rt->tenants);
    cv_exec_destroy(rt->exec);
    if (rt->backend) rt->backend->iface->destroy(rt->backend);
    cv_cpu_ctx_release(&rt->fold_cpu);
    cv_free(rt);
}

static cv_status join_family(cv_runtime_t *rt, cv_tenant_t *t, cv_err_t *err)
{
    /* Precision is part of the family: one wave runs one precision. */
    uint64_t hash = cv_ir_family_hash(t->graph) ^ ((uint64_t)t->precision * 0x9E3779B97F4A7C15ull);
    for (cv_family_t *f = rt->families; f; f = f->next) {
        if (f->hash == hash) {
            t->family = f;
            f->ntenants++;
            return CV_STATUS_OK;
        }
    }
    cv_family_t *f = cv_calloc(1, sizeof(*f));
    if (!f) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a family");
    f->hash = hash;
    f->representative = t->graph;
    f->ntenants = 1;
    f->next = rt->families;
    rt->families = f;
    t->family = f;
    return CV_STATUS_OK;
}

cv_status cv_tenant_load(cv_runtime_t *rt, const char *name, const char *onnx_path,
                         cv_precision_t precision, cv_tenant_t **out, cv_err_t *err)
{
    if (precision != CV_PRECISION_FP32 && rt->config.device == CV_DEVICE_CPU)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "tenant '%s': the CPU backend runs FP32 only (TF32, FP16, BF16 need CUDA)", name);
    cv_tenant_t *t = cv_calloc(1, sizeof(*t));
    if (!t) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory loading tenant '%s'", name);
    t->account.name = t->name = cv_strdup(name);
    t->precision = precision;
    cv_account_t *previous = cv_account_use(&t->account);
    cv_status st = t->name ? CV_STATUS_OK : cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    if (st == CV_STATUS_OK) st = cv_onnx_load(onnx_path, &t->graph, err);
    if (st == CV_STATUS_OK) st = cv_ir_prepare(t->graph, &rt->fold_cpu, err);
    if (st == CV_STATUS_OK) st = rt->backend->iface->tenant_upload(rt->backend, t->graph, precision,
                                                                         &t->constants, err);
    if (st == CV_STATUS_OK) st = join_family(rt, t, err);
    if (st != CV_STATUS_OK && t->constants) rt->backend->iface->tenant_release(rt->backend, t->graph, t->constants);
    cv_account_use(previous);
    if (st != CV_STATUS_OK) {
        cv_graph_destroy(t->graph);
        cv_free(t->name);
        cv_free(t);
        return st;
    }
    t->next = rt->tenants;
    rt->tenants = t;
    *out = t;
    return CV_STATUS_OK;
}

void cv_tenant_unload(cv_runtime_t *rt, cv_tenant_t *t)
{
    cv_tenant_t **link = &rt->tenants;
    while (*link && *link != t) link = &(*link)->next;
    CV_ASSERT(*link == t);
    *link = t->next;

    cv_family_t *f = t->family;
    f->ntenants--;
    if (f->representative == t->graph) {
        /* Plans read the representative's structure: rebuild from another
         * member when needed. */
        family_drop_plans(f);
        f->representative = NULL;
        for (cv_tenant_t *o = rt->tenants; o; o = o->next)
            if (o->family == f) {
                f->representative = o->graph;
                break;
            }
    }
    if (f->ntenants == 0) {
        cv_family_t **fl = &rt->families;
        while (*fl != f) fl = &(*fl)->next;
        *fl = f->next;
        family_drop_plans(f);
        cv_free(f);
    }
    /* Released under the tenant's account, which the backend credits. */
    cv_account_t *previous = cv_account_use(&t->account);
    rt->backend->iface->tenant_release(rt->backend, t->graph, t->constants);
    cv_account_use(previous);
    cv_graph_destroy(t->graph);
    cv_free(t->name);
    cv_free(t);
}

const char *cv_tenant_name(const cv_tenant_t *t) { return t->name; }
uint64_t cv_tenant_family_hash(const cv_tenant_t *t) { return t->family->hash; }
int cv_tenant_num_inputs(const cv_tenant_t *t) { return t->graph->ninputs; }
int cv_tenant_num_outputs(const cv_tenant_t *t) { return t->graph->noutputs; }
size_t cv_tenant_bytes(const cv_tenant_t *t) { return t->account.live_bytes; }
size_t cv_tenant_device_bytes(const cv_tenant_t *t) { return t->account.device_bytes; }

const char *cv_tenant_input_name(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->ninputs);
    return t->graph->values[t->graph->inputs[i]].name;
}

const char *cv_tenant_output_name(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->noutputs);
    return t->graph->values[t->graph->outputs[i]].name;
}

cv_dtype_t cv_tenant_input_dtype(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->ninputs);
    return t->graph->values[t->graph->inputs[i]].dtype;
}

cv_dtype_t cv_tenant_output_dtype(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->noutputs);
    return t->graph->values[t->graph->outputs[i]].dtype;
}

cv_shape_t cv_tenant_input_shape(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->ninputs);
    return t->graph->values[t->graph->inputs[i]].shape;
}

cv_shape_t cv_tenant_output_shape(const cv_tenant_t *t, int i)
{
    CV_ASSERT(i >= 0 && i < t->graph->noutputs);
    cv_shape_t s = t->graph->values[t->graph->outputs[i]].shape;
    if (t->graph->batched && s.ndim > 0) s.dims[0] = -1;
    return s;
}

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

cv_status cv_runtime_stats(cv_runtime_t *rt, cv_runtime_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->waves = rt->waves;
    if (rt->backend->iface->stats) {
        cv_backend_stats_t b = {0};
        rt->backend->iface->stats(rt->backend, &b);
        out->fallback_steps = b.fallback_steps;
        out->graph_hits = b.graph_hits;
        out->graph_refreshes = b.graph_refreshes;
        out->graph_misses = b.graph_misses;
        out->last_wave_device_ms = b.last_wave_device_ms;
    }
    return CV_STATUS_OK;
}
