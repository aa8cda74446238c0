/*
 * exec.c: running a plan over a wave (see exec.h).
 *
 * The executor owns one buffer on the backend, grown to the largest wave it
 * has run: the plan's arena, then (on a device backend) room for the wave's
 * inputs and for the constants every tenant of the family shares: the
 * plan-time constants and the graph's constants that are no weights
 * (indices, shapes: structure, equal in a family by its hash). Steps read
 * those from here rather than from slice 0's tenant, so that nothing a
 * wave reads of a tenant is outside its weights (the super-kernel cache
 * keys a graph by the wave's shape, never its members). They are uploaded
 * when a plan is placed in the buffer after another one (or in a new
 * buffer), not every wave. On a host-memory backend (the CPU) the caller's
 * input tensors and the constants are used in place.
 */
#include "exec/exec.h"

#include <string.h>

#define REGION_ALIGN 256

/* One step's tensors as the backend receives them, in one block sized for
 * the widest step run so far (a node may have any number of inputs and
 * outputs: Concat of 49 tensors, Split into 20). */
typedef struct step_io {
    cv_tensor_t *in, *out;
    const cv_tensor_t **in_ptrs;
    cv_tensor_t **out_ptrs;
    bool *batched, *out_batched;
    void *block;
    int nin, nout; /* room for this many */
} step_io_t;

struct cv_executor {
    cv_backend_t *backend;
    void *buffer;
    size_t buffer_bytes;
    void **plan_consts; /* per value, where shared constants are this wave, or NULL */
    int plan_consts_cap;
    uint64_t placed;    /* serial of the plan whose shared constants the buffer holds; 0: none */
    void **input_ptrs; /* per graph input, where the wave's input is */
    int input_ptrs_cap;
    step_io_t io;
    cv_copy_t *copies; /* a wave's uploads, then its downloads (copy_batch) */
    int copies_cap;
    uint64_t last_launch_ns, last_inputs_ns, last_begin_ns;
    bool last_first; /* the last wave paid its shape's one-off costs */
    bool profile;
    double *profile_ms;      /* per step of the last profiled wave */
    uint64_t *profile_ns;    /* host marks, for backends without step_mark */
    int profile_cap, profile_steps;
};

void cv_exec_set_profile(cv_executor_t *ex, bool on) { ex->profile = on; }

const double *cv_exec_step_profile(const cv_executor_t *ex, int *n)
{
    *n = ex->profile_steps;
    return ex->profile_steps ? ex->profile_ms : NULL;
}

/* Room for a profile of n steps. */
static cv_status profile_reserve(cv_executor_t *ex, int n, cv_err_t *err)
{
    if (n + 1 <= ex->profile_cap) return CV_STATUS_OK;
    double *ms = cv_realloc(ex->profile_ms, sizeof(double) * (size_t)(n + 1));
    if (ms) ex->profile_ms = ms;
    uint64_t *ns = ms ? cv_realloc(ex->profile_ns, sizeof(uint64_t) * (size_t)(n + 1)) : NULL;
    if (!ns) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the step profile");
    ex->profile_ns = ns;
    ex->profile_cap = n + 1;
    return CV_STATUS_OK;
}

/* Marks the wave's progress before step 0 (k = 0) and after each step. */
static cv_status profile_mark(cv_executor_t *ex, int k, cv_err_t *err)
{
    const cv_backend_i *be = ex->backend->iface;
    if (be->step_mark) return be->step_mark(ex->backend, k, err);
    ex->profile_ns[k] = cv_clock_ns();
    return CV_STATUS_OK;
}

uint64_t cv_exec_last_launch_ns(const cv_executor_t *ex) { return ex->last_launch_ns; }
uint64_t cv_exec_last_inputs_ns(const cv_executor_t *ex) { return ex->last_inputs_ns; }
uint64_t cv_exec_last_begin_ns(const cv_executor_t *ex) { return ex->last_begin_ns; }

bool cv_exec_last_wave_first(const cv_executor_t *ex) { return ex->last_first; }

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
    if (ex->buffer) ex->backend->iface->free(ex->backend, ex->buffer);
    cv_free(ex->plan_consts);
    cv_free(ex->input_ptrs);
    cv_free(ex->io.block);
    cv_free(ex->profile_ms);
    cv_free(ex->profile_ns);
    cv_free(ex->copies);
    cv_free(ex);
}

static cv_status ensure_buffer(cv_executor_t *ex, size_t bytes, cv_err_t *err)
{
    if (bytes <= ex->buffer_bytes && ex->buffer) return CV_STATUS_OK;
    if (ex->buffer) ex->backend->iface->free(ex->backend, ex->buffer);
    ex->buffer = NULL;
    ex->buffer_bytes = 0;
    ex->placed = 0;
    cv_status st = ex->backend->iface->alloc(ex->backend, bytes, &ex->buffer, err);
    if (st != CV_STATUS_OK) return st;
    ex->buffer_bytes = bytes;
    return CV_STATUS_OK;
}

static size_t align_up(size_t n) { return (n + REGION_ALIGN - 1) / REGION_ALIGN * REGION_ALIGN; }

/* Where each value's bytes are for one wave. */
typedef struct placement {
    const cv_plan_t *plan;
    char *arena;
    void **inputs;       /* per graph input */
    void **plan_consts;  /* per value, copies of shared constants (NULL: none) */
    const cv_wave_slice_t *slice0;
} placement_t;

static void *value_data(const placement_t *p, int v)
{
    const cv_plan_value_t *pv = &p->plan->values[v];
    int root = pv->alias_of >= 0 ? pv->alias_of : v;
    const cv_plan_value_t *rv = &p->plan->values[root];
    switch (rv->storage) {
    case CV_STORAGE_INPUT: return p->inputs[rv->input_index];
    case CV_STORAGE_ARENA: return p->arena + rv->offset;
    case CV_STORAGE_CONSTANT: return p->plan_consts[root] ? p->plan_consts[root] : p->slice0->constants[root];
    case CV_STORAGE_PLAN_CONSTANT: return p->plan_consts[root];
    case CV_STORAGE_NONE: break;
    }
    CV_ASSERT(!"value has storage");
    return NULL;
}

/* The host tensor of value v when every tenant of the family has the same
 * (a plan-time constant, or a graph constant that is no weight), else
 * NULL. Views (alias_of) read their root's. */
static const cv_tensor_t *shared_constant(const cv_plan_t *plan, int v)
{
    const cv_plan_value_t *pv = &plan->values[v];
    if (pv->storage == CV_STORAGE_PLAN_CONSTANT) return pv->plan_constant;
    const cv_value_t *val = &plan->graph->values[v];
    if (pv->storage == CV_STORAGE_CONSTANT && pv->alias_of < 0 && val->constant && !val->is_weight)
        return val->constant;
    return NULL;
}

/* Lays out the buffer: arena, inputs, shared constants. On a host-memory
 * backend running one slice, the caller's input tensors are used in place;
 * otherwise each slice's inputs are copied (uploaded) to their rows of the
 * wave's input region, so no stacked copy is ever made on the host. */
/* Room for n copies in ex->copies. */
static cv_status copies_reserve(cv_executor_t *ex, int n, cv_err_t *err)
{
    if (n <= ex->copies_cap) return CV_STATUS_OK;
    cv_copy_t *grown = cv_realloc(ex->copies, sizeof(*grown) * (size_t)n);
    if (!grown) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a wave's copy list");
    ex->copies = grown;
    ex->copies_cap = n;
    return CV_STATUS_OK;
}

/* The first n of ex->copies, as one batch where the backend takes one
 * (copy_many), else one by one. */
static cv_status copy_batch(cv_executor_t *ex, int n, bool to_device, cv_err_t *err)
{
    const cv_backend_i *be = ex->backend->iface;
    if (n == 0) return CV_STATUS_OK;
    if (be->copy_many) return be->copy_many(ex->backend, ex->copies, n, to_device, err);
    for (int k = 0; k < n; k++) {
        const cv_copy_t *c = &ex->copies[k];
        cv_status st = to_device ? be->upload(ex->backend, c->dst, c->src, c->bytes, err)
                                 : be->download(ex->backend, c->dst, c->src, c->bytes, err);
        if (st != CV_STATUS_OK) return st;
    }
    return CV_STATUS_OK;
}

static cv_status place(cv_executor_t *ex, const cv_plan_t *plan, const cv_tensor_t *const *slice_inputs,
                       int nslices, placement_t *p, cv_err_t *err)
{
    const cv_graph_t *g = plan->graph;
    const cv_backend_i *be = ex->backend->iface;
    bool in_place = be->host_memory && nslices == 1;
    size_t bytes = align_up(plan->arena_bytes ? plan->arena_bytes : 1);
    size_t input_at = bytes;
    if (!in_place)
        for (int i = 0; i < g->ninputs; i++) {
            cv_tensor_t whole = {plan->values[g->inputs[i]].dtype, plan->input_shapes[i], NULL};
            bytes += align_up(cv_tensor_nbytes(&whole) + 1);
        }
    if (!be->host_memory)
        for (int v = 0; v < g->nvalues; v++) {
            const cv_tensor_t *c = shared_constant(plan, v);
            if (c) bytes += align_up(cv_tensor_nbytes(c) + 1);
        }
    cv_status st = ensure_buffer(ex, bytes, err);
    if (st == CV_STATUS_OK && !in_place) st = copies_reserve(ex, g->ninputs * nslices, err);
    if (st != CV_STATUS_OK) return st;
    int ncopies = 0;
    p->plan = plan;
    p->arena = ex->buffer;
    size_t at = input_at;
    for (int i = 0; i < g->ninputs; i++) {
        if (in_place) {
            p->inputs[i] = slice_inputs[0][i].data;
            continue;
        }
        p->inputs[i] = (char *)ex->buffer + at;
        cv_tensor_t whole = {plan->values[g->inputs[i]].dtype, plan->input_shapes[i], NULL};
        size_t total = cv_tensor_nbytes(&whole), done = 0;
        for (int s = 0; s < nslices; s++) {
            size_t n = cv_tensor_nbytes(&slice_inputs[s][i]);
            CV_ASSERT(done + n <= total);
            ex->copies[ncopies++] = (cv_copy_t){(char *)p->inputs[i] + done, slice_inputs[s][i].data, n};
            done += n;
        }
        CV_ASSERT(done == total);
        at += align_up(total + 1);
    }
    /* Every slice's every input, in one batch. */
    if ((st = copy_batch(ex, ncopies, true, err)) != CV_STATUS_OK) return st;
    /* The buffer may hold this plan's shared constants already. A failed
     * upload leaves it unknown. */
    bool upload = plan->serial == 0 || ex->placed != plan->serial;
    ex->placed = 0;
    for (int v = 0; v < g->nvalues; v++) {
        const cv_tensor_t *c = shared_constant(plan, v);
        p->plan_consts[v] = NULL;
        if (!c) continue;
        if (be->host_memory) {
            /* Only plan-time ones: a tenant's own are in place already. */
            if (plan->values[v].storage == CV_STORAGE_PLAN_CONSTANT) p->plan_consts[v] = c->data;
            continue;
        }
        p->plan_consts[v] = (char *)ex->buffer + at;
        if (upload) st = be->upload(ex->backend, p->plan_consts[v], c->data, cv_tensor_nbytes(c), err);
        if (st != CV_STATUS_OK) return st;
        at += align_up(cv_tensor_nbytes(c) + 1);
    }
    ex->placed = plan->serial;
    return CV_STATUS_OK;
}

/* Hands each slice its rows of every output (its whole tensor where an
 * output does not grow with the rows: a constant, each tenant's own). */
static cv_status deliver_outputs(cv_executor_t *ex, const placement_t *p, const cv_wave_slice_t *slices,
                                 int nslices, cv_tensor_t *const *slice_outputs, cv_err_t *err)
{
    const cv_plan_t *plan = p->plan;
    const cv_graph_t *g = plan->graph;
    cv_status st = copies_reserve(ex, g->noutputs * nslices, err);
    if (st != CV_STATUS_OK) return st;
    int ncopies = 0;
    for (int o = 0; o < g->noutputs; o++) {
        int v = g->outputs[o];
        const cv_plan_value_t *pv = &plan->values[v];
        int root = pv->alias_of >= 0 ? pv->alias_of : v;
        size_t done = 0;
        for (int s = 0; s < nslices; s++) {
            cv_tensor_t *dst = &slice_outputs[s][o];
            size_t n = cv_tensor_nbytes(dst);
            if (pv->storage == CV_STORAGE_PLAN_CONSTANT) {
                memcpy(dst->data, pv->plan_constant->data, n);
            } else if (plan->values[root].storage == CV_STORAGE_CONSTANT) {
                ex->copies[ncopies++] = (cv_copy_t){dst->data, slices[s].constants[root], n};
            } else {
                ex->copies[ncopies++] = (cv_copy_t){dst->data, (char *)value_data(p, v) + done, n};
                done += pv->batched ? n : 0;
            }
        }
    }
    /* Every slice's every output, in one batch. */
    return copy_batch(ex, ncopies, false, err);
}

/* Grows *arr (of *cap elements of `elem` bytes) to at least n elements. */
static bool grow_to(void **arr, int *cap, int n, size_t elem)
{
    if (n <= *cap) return true;
    void *fresh = cv_realloc(*arr, elem * (size_t)n);
    if (!fresh) return false;
    *arr = fresh;
    *cap = n;
    return true;
}

static cv_status step_io_reserve(step_io_t *io, int nin, int nout)
{
    if (nin <= io->nin && nout <= io->nout) return CV_STATUS_OK;
    nin = CV_MAX(nin, io->nin);
    nout = CV_MAX(nout, io->nout);
    /* Tensors, then pointers, then flags: each part stays aligned. */
    size_t tensors = sizeof(cv_tensor_t) * (size_t)(nin + nout);
    size_t ptrs = sizeof(void *) * (size_t)(nin + nout);
    char *block = cv_malloc(tensors + ptrs + sizeof(bool) * (size_t)(nin + nout));
    if (!block) return CV_STATUS_OUT_OF_MEMORY;
    cv_free(io->block);
    io->block = block;
    io->in = (cv_tensor_t *)block;
    io->out = io->in + nin;
    io->in_ptrs = (const cv_tensor_t **)(block + tensors);
    io->out_ptrs = (cv_tensor_t **)(io->in_ptrs + nin);
    io->batched = (bool *)(block + tensors + ptrs);
    io->out_batched = io->batched + nin;
    io->nin = nin;
    io->nout = nout;
    return CV_STATUS_OK;
}

/* Makes room for this plan's per-value table, inputs and widest step. */
static cv_status grow_tables(cv_executor_t *ex, const cv_plan_t *plan, cv_err_t *err)
{
    const cv_graph_t *g = plan->graph;
    if (!grow_to((void **)&ex->plan_consts, &ex->plan_consts_cap, g->nvalues + 1, sizeof(void *)) ||
        !grow_to((void **)&ex->input_ptrs, &ex->input_ptrs_cap, g->ninputs + 1, sizeof(void *)) ||
        step_io_reserve(&ex->io, plan->max_step_inputs, plan->max_step_outputs) != CV_STATUS_OK)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory running a wave");
    return CV_STATUS_OK;
}

cv_status cv_exec_wave(cv_executor_t *ex, const cv_plan_t *plan, const cv_wave_slice_t *slices,
                       int nslices, cv_precision_t precision, const cv_tensor_t *const *slice_inputs,
                       cv_tensor_t *const *slice_outputs, cv_err_t *err)
{
    const cv_graph_t *g = plan->graph;
    const cv_backend_i *be = ex->backend->iface;
    uint64_t start = cv_clock_ns();
    CV_ASSERT(nslices >= 1);
    CV_ASSERT(nslices == 1 || plan->stackable);
    cv_status st = be->bind ? be->bind(ex->backend, err) : CV_STATUS_OK;
    if (st == CV_STATUS_OK) st = grow_tables(ex, plan, err);
    if (st != CV_STATUS_OK) return st;
    placement_t p = {.inputs = ex->input_ptrs, .plan_consts = ex->plan_consts, .slice0 = &slices[0]};
    uint64_t placing = cv_clock_ns();
    st = place(ex, plan, slice_inputs, nslices, &p, err);
    ex->last_inputs_ns = cv_clock_ns() - placing;

    cv_wave_kind_t kind = CV_WAVE_STEPS;
    bool replayed = false, began = false, profiling = ex->profile;
    ex->last_first = false;
    ex->profile_steps = 0;
    if (st == CV_STATUS_OK && profiling) st = profile_reserve(ex, plan->nsteps, err);
    if (st == CV_STATUS_OK && profiling) st = profile_mark(ex, 0, err);
    /* A profiled wave runs its steps one by one: no graph to replay. */
    ex->last_begin_ns = 0;
    if (st == CV_STATUS_OK && be->wave_begin && !profiling) {
        uint64_t beginning = cv_clock_ns();
        st = be->wave_begin(ex->backend, plan, slices, nslices, precision, ex->buffer, &kind, err);
        began = st == CV_STATUS_OK;
        replayed = began && kind == CV_WAVE_REPLAYED;
        ex->last_first = began && kind == CV_WAVE_FIRST;
        ex->last_begin_ns = cv_clock_ns() - beginning;
    }
    cv_tensor_t *in_tensors = ex->io.in, *out_tensors = ex->io.out;
    const cv_tensor_t **in_ptrs = ex->io.in_ptrs;
    cv_tensor_t **out_ptrs = ex->io.out_ptrs;
    bool *batched = ex->io.batched, *out_batched = ex->io.out_batched;
    for (int s = 0; s < plan->nsteps && st == CV_STATUS_OK && !replayed; s++) {
        const cv_node_t *n = &g->nodes[plan->steps[s].node];
        CV_ASSERT(n->ninputs <= plan->max_step_inputs && n->noutputs <= plan->max_step_outputs);
        for (int i = 0; i < n->ninputs; i++) {
            int v = n->inputs[i];
            in_ptrs[i] = NULL;
            batched[i] = false;
            if (v < 0) continue;
            in_tensors[i] = (cv_tensor_t){plan->values[v].dtype, plan->values[v].shape, value_data(&p, v)};
            in_ptrs[i] = &in_tensors[i];
            batched[i] = plan->values[v].batched;
        }
        for (int o = 0; o < n->noutputs; o++) {
            int v = n->outputs[o];
            out_ptrs[o] = NULL;
            out_batched[o] = false;
            if (v < 0) continue;
            out_tensors[o] = (cv_tensor_t){plan->values[v].dtype, plan->values[v].shape, value_data(&p, v)};
            out_ptrs[o] = &out_tensors[o];
            out_batched[o] = plan->values[v].batched;
        }
        cv_step_run_t run = {.graph = g, .plan = plan, .step = s, .node = n,
                             .inputs = in_ptrs, .ninputs = n->ninputs,
                             .outputs = out_ptrs, .noutputs = n->noutputs,
                             .batched = batched, .out_batched = out_batched,
                             .slices = slices, .nslices = nslices, .precision = precision};
        st = be->step_run(ex->backend, &run, err);
        if (st != CV_STATUS_OK) {
            char label[160];
            cv_err_prefix(err, "%s: %s", g->path, cv_node_label(g, plan->steps[s].node, label, sizeof label));
        }
        if (st == CV_STATUS_OK && profiling) st = profile_mark(ex, s + 1, err);
    }
    if (began && !replayed) {
        cv_status end = be->wave_end(ex->backend, st, err);
        if (st == CV_STATUS_OK) st = end;
    }
    ex->last_launch_ns = cv_clock_ns() - start;
    if (st == CV_STATUS_OK && be->synchronize) st = be->synchronize(ex->backend, err);
    if (st == CV_STATUS_OK && profiling) {
        if (be->step_times) {
            st = be->step_times(ex->backend, ex->profile_ms, plan->nsteps, err);
        } else {
            for (int k = 0; k < plan->nsteps; k++)
                ex->profile_ms[k] = (double)(ex->profile_ns[k + 1] - ex->profile_ns[k]) / 1e6;
        }
        if (st == CV_STATUS_OK) ex->profile_steps = plan->nsteps;
    }
    if (st == CV_STATUS_OK) st = deliver_outputs(ex, &p, slices, nslices, slice_outputs, err);
    if (st == CV_STATUS_OK && be->synchronize) st = be->synchronize(ex->backend, err);
    return st;
}
