/*
 * tenant.c: loading a tenant (ONNX -> IR -> load-time passes -> its
 * constants on the backend), grouping tenants into families by structural
 * hash, unloading, and what the API tells of a tenant.
 */
#include "ir/passes.h"
#include "onnx/onnx_loader.h"
#include "runtime/runtime_internal.h"

void cv_family_drop_plans(cv_family_t *f)
{
    for (int i = 0; i < PLAN_CACHE_SIZE; i++) {
        cv_plan_destroy(f->plans[i].plan);
        f->plans[i].plan = NULL;
    }
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
        cv_family_drop_plans(f);
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
        cv_family_drop_plans(f);
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

