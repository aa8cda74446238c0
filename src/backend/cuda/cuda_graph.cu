/*
 * cuda_graph.cu: the super-kernel cache (DESIGN.md): waves replayed as CUDA
 * graphs, and the device time of every wave.
 *
 * A wave's shape is its key: the plan (its address and a fingerprint of
 * what it was built for), the precision, the rows of each slice and the
 * executor's buffer. A shape lives through these states:
 *   first wave    runs eagerly: it sizes the workspace and shows how much
 *                 staging the wave takes and whether a step runs on the host
 *                 (such a shape is never captured: host steps synchronise);
 *   second wave   is captured (stream capture, thread-local mode) into a
 *                 graph, instantiated and launched: a miss;
 *   same tenants  (the same constants tables per slice): the executable
 *                 graph is launched and the executor skips the steps: a hit;
 *   other tenants are captured again and the executable graph updated in
 *                 place (cudaGraphExecUpdate), or instantiated anew when the
 *                 update is refused: a refresh.
 * At most GRAPH_CACHE_SIZE shapes are kept; the least recently used goes.
 *
 * What a graph reads must stay where it was while the graph may replay:
 *   - per-step tables staged while capturing go to the shape's own pinned
 *     region, never to the shared staging ring. Their copies are taken out
 *     of the captured graph (DESIGN.md: one copy of the wave's tables comes
 *     first): the region goes to its device twin in one copy before the
 *     launch that follows a capture, and replays of the same tenants find
 *     the tables there;
 *   - the executor's buffer is part of the key, and freeing it drops the
 *     shape; a regrown workspace or a released tenant drops the graphs
 *     captured with it (cv_cuda_graph_forget); cuBLAS works in a fixed
 *     workspace set at the backend's creation.
 *
 * Nothing executes while a stream captures, and nothing may synchronise it.
 * The workspace, the staging allocator and the host fallback ask first and
 * give the capture up instead (cv_cuda_graph_abort); any failure of a step
 * under capture does too. Every captured step is journaled (a copy of its
 * cv_step_run_t and tensors), so giving up ends the capture, discards it and
 * runs the journal eagerly: the wave's results never depend on the capture
 * having worked. A shape given up MAX_ABORTS times stays eager.
 *
 * Device time: an event pair around each wave's work on the stream, read
 * when the executor synchronises: around the launch of a captured or
 * replayed graph, around the steps of an eager wave (where it includes the
 * gaps in which the device waits for launches, and any host step).
 *
 * Not here: several streams, graphs shared between executors or backends.
 * CARAVEL_CUDA_GRAPHS=0 in the environment turns the cache off (events stay).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"

#define GRAPH_CACHE_SIZE 64
#define STAGE_ALIGN 256
#define MAX_ABORTS 3

typedef enum wave_mode {
    WAVE_IDLE = 0, /* between waves, or a replayed wave */
    WAVE_EAGER,    /* steps launch as they come */
    WAVE_CAPTURE,  /* cuda->stream is capturing the steps */
} wave_mode_t;

typedef struct graph_entry {
    bool used;
    /* the key */
    const cv_plan_t *plan;
    uint64_t fingerprint;
    cv_precision_t precision;
    int nslices;
    int64_t *rows;            /* per slice */
    const void *buffer;
    uint64_t last_used;
    /* what eager waves of this shape showed */
    long eager_runs;
    size_t stage_need, workspace_need;
    int aborts;
    bool uncapturable;
    /* the captured wave, when exec is not NULL */
    cudaGraphExec_t exec;
    void *const **tenants;    /* per slice: the constants table it was captured with */
    const void *workspace;    /* cuda->workspace it was captured with */
    char *pinned, *pinned_device;
    size_t pinned_bytes, pinned_used;
} graph_entry_t;

/* One captured step: the run, its tensors and flags in the pools from
 * slot `at` (inputs, then outputs). */
typedef struct journal_step {
    cv_step_run_t run;
    int at;
} journal_step_t;

struct cv_cuda_graphs {
    bool enabled;
    graph_entry_t entries[GRAPH_CACHE_SIZE];
    uint64_t clock;
    /* the wave in progress */
    wave_mode_t mode;
    graph_entry_t *cur;         /* its shape; NULL when uncached */
    const cv_wave_slice_t *slices;
    bool gave_up;               /* a hook asked to give the capture up */
    const char *why;
    long fallbacks_at_begin;
    size_t stage_bytes, workspace_bytes;
    cv_cuda_dispatch_fn dispatch;
    /* the journal */
    journal_step_t *steps;
    int nsteps, steps_cap;
    cv_tensor_t *tensors;
    cv_tensor_t **ptrs;         /* filled when the journal is replayed */
    bool *present, *batched;
    int nslots, slots_cap;
    /* device time */
    cudaEvent_t start, stop;
    bool timed;
    /* the step profile: an event per mark, made as needed */
    cudaEvent_t *marks;
    int nmarks;
    double last_ms;
    long hits, refreshes, misses, aborts;
};

typedef struct cv_cuda_graphs graphs_t;

static size_t stage_align(size_t n) { return (n + STAGE_ALIGN - 1) / STAGE_ALIGN * STAGE_ALIGN; }

static long fallback_total(const cv_cuda_t *cuda)
{
    long n = 0;
    for (int op = 0; op < CV_OP_COUNT; op++) n += cuda->fallbacks[op];
    return n;
}

/* ---- entries ---------------------------------------------------------------- */

static void drop_exec(graph_entry_t *e)
{
    if (!e->exec) return;
    cudaGraphExecDestroy(e->exec);
    cudaGetLastError();
    e->exec = NULL;
    e->workspace = NULL;
}

static void drop_region(graph_entry_t *e)
{
    if (e->pinned) cudaFreeHost(e->pinned);
    if (e->pinned_device) cudaFree(e->pinned_device);
    cudaGetLastError();
    e->pinned = e->pinned_device = NULL;
    e->pinned_bytes = e->pinned_used = 0;
}

static void evict(graph_entry_t *e)
{
    drop_exec(e);
    drop_region(e);
    cv_free(e->rows);
    memset(e, 0, sizeof(*e));
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* What the plan was built for, so that another plan at a freed plan's
 * address (the family's plan cache evicts) never matches an old shape. */
static uint64_t plan_fingerprint(const cv_plan_t *plan)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, &plan->graph, sizeof plan->graph);
    h = fnv(h, &plan->rows, sizeof plan->rows);
    h = fnv(h, &plan->nsteps, sizeof plan->nsteps);
    h = fnv(h, &plan->arena_bytes, sizeof plan->arena_bytes);
    h = fnv(h, &plan->ninputs, sizeof plan->ninputs);
    for (int i = 0; i < plan->ninputs && plan->input_shapes; i++) {
        const cv_shape_t *s = &plan->input_shapes[i];
        h = fnv(h, &s->ndim, sizeof s->ndim);
        h = fnv(h, s->dims, sizeof(int64_t) * (size_t)s->ndim);
        const cv_tensor_t *known = plan->input_values ? plan->input_values[i] : NULL;
        if (known && known->data) h = fnv(h, known->data, cv_tensor_nbytes(known));
    }
    for (int s = 0; s < plan->nsteps; s++) h = fnv(h, &plan->steps[s].node, sizeof plan->steps[s].node);
    return h;
}

/* The entry of this shape, made (evicting the least recently used) when
 * new; NULL when out of memory: the wave then runs uncached. */
static graph_entry_t *entry_for(graphs_t *G, const cv_plan_t *plan, cv_precision_t precision,
                                const cv_wave_slice_t *slices, int nslices, const void *buffer)
{
    uint64_t fp = plan_fingerprint(plan);
    graph_entry_t *victim = NULL;
    for (int i = 0; i < GRAPH_CACHE_SIZE; i++) {
        graph_entry_t *e = &G->entries[i];
        if (!e->used) {
            if (!victim || victim->used) victim = e;
            continue;
        }
        if (!victim || (victim->used && e->last_used < victim->last_used)) victim = e;
        if (e->plan != plan || e->fingerprint != fp || e->precision != precision || e->nslices != nslices ||
            e->buffer != buffer)
            continue;
        int s = 0;
        while (s < nslices && e->rows[s] == slices[s].rows) s++;
        if (s < nslices) continue;
        e->last_used = ++G->clock;
        return e;
    }
    evict(victim);
    /* rows and tenants in one block */
    char *block = (char *)cv_malloc(((size_t)nslices) * (sizeof(int64_t) + sizeof(void *)));
    if (!block) return NULL;
    graph_entry_t *e = victim;
    e->used = true;
    e->plan = plan;
    e->fingerprint = fp;
    e->precision = precision;
    e->nslices = nslices;
    e->rows = (int64_t *)block;
    e->tenants = (void *const **)(block + sizeof(int64_t) * (size_t)nslices);
    for (int s = 0; s < nslices; s++) e->rows[s] = slices[s].rows;
    e->buffer = buffer;
    e->last_used = ++G->clock;
    return e;
}

static bool same_tenants(const graph_entry_t *e, const cv_wave_slice_t *slices)
{
    for (int s = 0; s < e->nslices; s++)
        if (e->tenants[s] != slices[s].constants) return false;
    return true;
}

/* The shape's own staging of at least `need` bytes; false when it cannot
 * be had (the wave then runs eagerly). A new region orphans the graph
 * captured with the old one. */
static bool ensure_region(graph_entry_t *e, size_t need)
{
    need = CV_MAX(stage_align(need), (size_t)STAGE_ALIGN);
    if (e->pinned_bytes >= need) return true;
    drop_exec(e);
    drop_region(e);
    if (cv_cuda_malloc_host((void **)&e->pinned, need) != cudaSuccess) {
        cudaGetLastError();
        e->pinned = NULL;
        return false;
    }
    if (cv_cuda_malloc((void **)&e->pinned_device, need) != cudaSuccess) {
        cudaGetLastError();
        e->pinned_device = NULL;
        drop_region(e);
        return false;
    }
    e->pinned_bytes = need;
    return true;
}

/* ---- the journal -------------------------------------------------------------- */

static cv_status journal_add(graphs_t *G, const cv_step_run_t *run)
{
    if (G->nsteps == G->steps_cap) {
        int cap = G->steps_cap ? 2 * G->steps_cap : 64;
        journal_step_t *p = (journal_step_t *)cv_realloc(G->steps, sizeof(*p) * (size_t)cap);
        if (!p) return CV_STATUS_OUT_OF_MEMORY;
        G->steps = p;
        G->steps_cap = cap;
    }
    int need = run->ninputs + run->noutputs;
    if (G->nslots + need > G->slots_cap) {
        int cap = CV_MAX(G->slots_cap ? 2 * G->slots_cap : 256, G->nslots + need);
        cv_tensor_t *t = (cv_tensor_t *)cv_realloc(G->tensors, sizeof(cv_tensor_t) * (size_t)cap);
        if (t) G->tensors = t;
        cv_tensor_t **p = t ? (cv_tensor_t **)cv_realloc(G->ptrs, sizeof(cv_tensor_t *) * (size_t)cap) : NULL;
        if (p) G->ptrs = p;
        bool *pr = p ? (bool *)cv_realloc(G->present, (size_t)cap) : NULL;
        if (pr) G->present = pr;
        bool *ba = pr ? (bool *)cv_realloc(G->batched, (size_t)cap) : NULL;
        if (!ba) return CV_STATUS_OUT_OF_MEMORY;
        G->batched = ba;
        G->slots_cap = cap;
    }
    journal_step_t *j = &G->steps[G->nsteps++];
    j->run = *run;
    j->at = G->nslots;
    for (int i = 0; i < need; i++) {
        bool in = i < run->ninputs;
        const cv_tensor_t *t = in ? run->inputs[i] : run->outputs[i - run->ninputs];
        int k = G->nslots++;
        G->present[k] = t != NULL;
        if (t) G->tensors[k] = *t;
        G->batched[k] = in ? run->batched[i] : run->out_batched[i - run->ninputs];
    }
    return CV_STATUS_OK;
}

/* Runs every journaled step eagerly, in order. */
static cv_status journal_replay(cv_cuda_t *cuda, cv_err_t *err)
{
    graphs_t *G = cuda->graphs;
    for (int k = 0; k < G->nslots; k++) G->ptrs[k] = G->present[k] ? &G->tensors[k] : NULL;
    for (int i = 0; i < G->nsteps; i++) {
        journal_step_t *j = &G->steps[i];
        cv_step_run_t run = j->run;
        run.inputs = (const cv_tensor_t *const *)(G->ptrs + j->at);
        run.outputs = G->ptrs + j->at + run.ninputs;
        run.batched = G->batched + j->at;
        run.out_batched = G->batched + j->at + run.ninputs;
        cv_status st = G->dispatch(cuda, &run, err);
        if (st != CV_STATUS_OK) return st;
    }
    return CV_STATUS_OK;
}

/* Ends the capture in progress and throws it away; the wave goes on
 * eagerly. The shape's graph is dropped too: the capture overwrote the
 * tables in its region. */
static void give_up(cv_cuda_t *cuda, const char *why)
{
    graphs_t *G = cuda->graphs;
    cudaGraph_t graph = NULL;
    cudaStreamEndCapture(cuda->stream, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    G->mode = WAVE_EAGER;
    G->aborts++;
    /* The eager run stages everything again. */
    G->stage_bytes = 0;
    if (G->cur) {
        drop_exec(G->cur);
        G->cur->aborts++;
    }
    cv_log(CV_LOG_DEBUG, "cuda: capture of a wave given up (%s); running it eagerly", why);
}

/* ---- hooks of the backend ----------------------------------------------------- */

extern "C" bool cv_cuda_graph_capturing(const cv_cuda_t *cuda)
{
    return cuda->graphs && cuda->graphs->mode == WAVE_CAPTURE;
}

extern "C" cv_status cv_cuda_graph_abort(cv_cuda_t *cuda, const char *why, cv_err_t *err)
{
    graphs_t *G = cuda->graphs;
    G->gave_up = true;
    G->why = why;
    return cv_errorf(err, CV_STATUS_UNAVAILABLE, "CUDA graph capture given up: %s", why);
}

extern "C" cv_status cv_cuda_graph_step(cv_cuda_t *cuda, const cv_step_run_t *run, cv_cuda_dispatch_fn dispatch,
                                        cv_err_t *err)
{
    graphs_t *G = cuda->graphs;
    G->dispatch = dispatch;
    bool journaled = journal_add(G, run) == CV_STATUS_OK;
    cv_status st = CV_STATUS_OK;
    if (journaled) {
        st = dispatch(cuda, run, err);
        if (st == CV_STATUS_OK && !G->gave_up) return CV_STATUS_OK;
    }
    give_up(cuda, !journaled ? "out of memory for the journal"
                  : G->gave_up ? G->why
                               : "a step failed under capture");
    st = journal_replay(cuda, err);
    if (st == CV_STATUS_OK && !journaled) st = dispatch(cuda, run, err);
    return st;
}

extern "C" cv_status cv_cuda_graph_stage(cv_cuda_t *cuda, size_t bytes, void **host, void **device, cv_err_t *err)
{
    graphs_t *G = cuda->graphs;
    graph_entry_t *e = G->cur;
    size_t need = stage_align(bytes ? bytes : 1);
    G->stage_bytes += need;
    if (!e || e->pinned_used + need > e->pinned_bytes)
        return cv_cuda_graph_abort(cuda, "the wave's staging region is full", err);
    *host = e->pinned + e->pinned_used;
    *device = e->pinned_device + e->pinned_used;
    e->pinned_used += need;
    return CV_STATUS_OK;
}

extern "C" void cv_cuda_graph_note(cv_cuda_t *cuda, size_t stage_bytes, size_t workspace_bytes)
{
    graphs_t *G = cuda->graphs;
    if (!G) return;
    G->stage_bytes += stage_bytes;
    G->workspace_bytes = CV_MAX(G->workspace_bytes, workspace_bytes);
}

extern "C" void cv_cuda_graph_forget(cv_cuda_t *cuda, const void *ptr)
{
    graphs_t *G = cuda->graphs;
    if (!G || !ptr) return;
    for (int i = 0; i < GRAPH_CACHE_SIZE; i++) {
        graph_entry_t *e = &G->entries[i];
        if (!e->used) continue;
        if (e->buffer == ptr || (const void *)e->plan == ptr) {
            CV_ASSERT(e != G->cur);
            evict(e);
            continue;
        }
        if (!e->exec) continue;
        bool stale = e->workspace == ptr;
        for (int s = 0; s < e->nslices && !stale; s++) stale = (const void *)e->tenants[s] == ptr;
        if (stale) drop_exec(e);
    }
}

extern "C" void cv_cuda_graph_synchronized(cv_cuda_t *cuda)
{
    graphs_t *G = cuda->graphs;
    if (!G || !G->timed) return;
    float ms = 0;
    if (cudaEventElapsedTime(&ms, G->start, G->stop) == cudaSuccess) G->last_ms = ms;
    cudaGetLastError();
    G->timed = false;
}

extern "C" long cv_cuda_graph_aborts(const cv_cuda_t *cuda) { return cuda->graphs ? cuda->graphs->aborts : 0; }

/* ---- waves -------------------------------------------------------------------- */

extern "C" cv_status cv_cuda_wave_begin(cv_backend_t *b, const cv_plan_t *plan, const cv_wave_slice_t *slices,
                                        int nslices, cv_precision_t precision, const void *buffer, bool *replayed,
                                        cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    graphs_t *G = cuda->graphs;
    CV_ASSERT(G->mode != WAVE_CAPTURE);
    *replayed = false;
    G->timed = false;
    G->mode = WAVE_IDLE;
    CV_CUDA_CHECK(cudaEventRecord(G->start, cuda->stream), err);
    G->mode = WAVE_EAGER;
    G->cur = NULL;
    G->slices = slices;
    G->gave_up = false;
    G->why = NULL;
    G->nsteps = G->nslots = 0;
    G->stage_bytes = G->workspace_bytes = 0;
    G->fallbacks_at_begin = fallback_total(cuda);
    if (!G->enabled) return CV_STATUS_OK;

    graph_entry_t *e = G->cur = entry_for(G, plan, precision, slices, nslices, buffer);
    if (!e) return CV_STATUS_OK;
    if (e->exec && e->workspace != cuda->workspace) drop_exec(e);
    if (e->exec && same_tenants(e, slices)) {
        cudaError_t ce = cudaGraphLaunch(e->exec, cuda->stream);
        if (ce == cudaSuccess) ce = cudaEventRecord(G->stop, cuda->stream);
        G->mode = WAVE_IDLE;
        G->cur = NULL;
        if (ce != cudaSuccess) return cv_cuda_status(ce, "cudaGraphLaunch (a cached wave)", __FILE__, __LINE__, err);
        G->hits++;
        G->timed = true;
        *replayed = true;
        return CV_STATUS_OK;
    }
    /* Capture only what an eager wave showed to fit: the workspace it
     * grew, no host steps. */
    if (e->uncapturable || e->eager_runs == 0 || e->workspace_need > cuda->workspace_bytes) return CV_STATUS_OK;
    if (!ensure_region(e, e->stage_need)) return CV_STATUS_OK;
    e->pinned_used = 0;
    if (cudaStreamBeginCapture(cuda->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        return CV_STATUS_OK;
    }
    G->mode = WAVE_CAPTURE;
    return CV_STATUS_OK;
}

/* Dependencies of a graph node (or its dependents), in a block the caller
 * frees; NULL with *n = 0 when there are none or on failure (*e set). */
static cudaGraphNode_t *node_edges(cudaGraphNode_t node, bool dependents, size_t *n, cudaError_t *e)
{
    *n = 0;
    *e = dependents ? cudaGraphNodeGetDependentNodes(node, NULL, NULL, n)
                    : cudaGraphNodeGetDependencies(node, NULL, NULL, n);
    if (*e != cudaSuccess || *n == 0) return NULL;
    cudaGraphNode_t *list = (cudaGraphNode_t *)cv_malloc(sizeof(cudaGraphNode_t) * *n);
    if (!list) {
        *e = cudaErrorMemoryAllocation;
        *n = 0;
        return NULL;
    }
    *e = dependents ? cudaGraphNodeGetDependentNodes(node, list, NULL, n)
                    : cudaGraphNodeGetDependencies(node, list, NULL, n);
    return list;
}

/* Makes what depended on `node` depend on what it depended on, so that it
 * can go without changing the order of the rest. */
static cudaError_t bypass(cudaGraph_t graph, cudaGraphNode_t node)
{
    size_t nd = 0, nt = 0;
    cudaError_t e;
    cudaGraphNode_t *deps = node_edges(node, false, &nd, &e);
    cudaGraphNode_t *after = e == cudaSuccess ? node_edges(node, true, &nt, &e) : NULL;
    for (size_t t = 0; t < nt && e == cudaSuccess; t++) {
        size_t nk;
        cudaGraphNode_t *known = node_edges(after[t], false, &nk, &e);
        for (size_t d = 0; d < nd && e == cudaSuccess; d++) {
            bool present = false;
            for (size_t k = 0; k < nk; k++) present = present || known[k] == deps[d];
            if (!present) e = cudaGraphAddDependencies(graph, &deps[d], &after[t], NULL, 1);
        }
        cv_free(known);
    }
    cv_free(deps);
    cv_free(after);
    return e;
}

/* Takes the copies of the shape's staged tables (memcpy nodes reading its
 * pinned region) out of a captured graph. A node it cannot read stays (its
 * copy is then merely repeated); failing to take one out fails. */
static cudaError_t strip_table_copies(cudaGraph_t graph, const graph_entry_t *e)
{
    size_t n = 0;
    cudaError_t ce = cudaGraphGetNodes(graph, NULL, &n);
    if (ce != cudaSuccess || n == 0) return ce;
    cudaGraphNode_t *nodes = (cudaGraphNode_t *)cv_malloc(sizeof(cudaGraphNode_t) * n);
    if (!nodes) return cudaErrorMemoryAllocation;
    ce = cudaGraphGetNodes(graph, nodes, &n);
    const char *lo = e->pinned, *hi = e->pinned + e->pinned_bytes;
    for (size_t i = 0; i < n && ce == cudaSuccess; i++) {
        cudaGraphNodeType type;
        cudaMemcpy3DParms p;
        memset(&p, 0, sizeof p);
        if (cudaGraphNodeGetType(nodes[i], &type) != cudaSuccess || type != cudaGraphNodeTypeMemcpy ||
            cudaGraphMemcpyNodeGetParams(nodes[i], &p) != cudaSuccess) {
            cudaGetLastError();
            continue;
        }
        const char *src = (const char *)p.srcPtr.ptr;
        if (p.srcArray || !src || src < lo || src >= hi) continue;
        ce = bypass(graph, nodes[i]);
        if (ce == cudaSuccess) ce = cudaGraphDestroyNode(nodes[i]);
    }
    cv_free(nodes);
    return ce;
}

/* Ends a capture whose steps all launched: instantiates (or updates) the
 * graph and launches it. Where that fails, the journal runs eagerly. */
static cv_status finish_capture(cv_cuda_t *cuda, graph_entry_t *e, cv_err_t *err)
{
    graphs_t *G = cuda->graphs;
    cudaGraph_t graph = NULL;
    cudaError_t ce = cudaStreamEndCapture(cuda->stream, &graph);
    const char *failed = ce != cudaSuccess || !graph ? "cudaStreamEndCapture" : NULL;
    if (!failed && strip_table_copies(graph, e) != cudaSuccess) failed = "taking the table copies out of the graph";
    bool refresh = e->exec != NULL;
    if (!failed && refresh) {
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate(e->exec, graph, &info) != cudaSuccess) {
            cudaGetLastError();
            drop_exec(e);
        }
    }
    if (!failed && !e->exec && cudaGraphInstantiate(&e->exec, graph, 0) != cudaSuccess) {
        e->exec = NULL;
        failed = "cudaGraphInstantiate";
    }
    if (graph) cudaGraphDestroy(graph);
    /* The wave's device time starts here: capturing ran nothing. Then the
     * tables the steps staged, in one copy, and the graph. */
    if (!failed && (cudaEventRecord(G->start, cuda->stream) != cudaSuccess ||
                    (e->pinned_used && cudaMemcpyAsync(e->pinned_device, e->pinned, e->pinned_used,
                                                       cudaMemcpyHostToDevice, cuda->stream) != cudaSuccess) ||
                    cudaGraphLaunch(e->exec, cuda->stream) != cudaSuccess))
        failed = "cudaGraphLaunch";
    if (failed) {
        cudaGetLastError();
        drop_exec(e);
        e->uncapturable = true;
        G->aborts++;
        cv_log(CV_LOG_INFO, "cuda: %s failed for a captured wave; running it eagerly, and that shape from now on",
               failed);
        return journal_replay(cuda, err);
    }
    for (int s = 0; s < e->nslices; s++) e->tenants[s] = G->slices[s].constants;
    e->workspace = cuda->workspace;
    if (refresh) G->refreshes++;
    else G->misses++;
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_wave_end(cv_backend_t *b, cv_status steps, cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    graphs_t *G = cuda->graphs;
    graph_entry_t *e = G->cur;
    wave_mode_t mode = G->mode;
    G->mode = WAVE_IDLE;
    G->cur = NULL;
    if (mode == WAVE_CAPTURE && steps != CV_STATUS_OK) {
        /* Steps that fail under capture give it up (cv_cuda_graph_step);
         * this is only for a caller that stops on its own. */
        cudaGraph_t graph = NULL;
        cudaStreamEndCapture(cuda->stream, &graph);
        if (graph) cudaGraphDestroy(graph);
        cudaGetLastError();
        drop_exec(e);
        return steps;
    }
    if (steps != CV_STATUS_OK) return steps;
    cv_status st = CV_STATUS_OK;
    if (mode == WAVE_CAPTURE) {
        st = finish_capture(cuda, e, err);
    } else if (e) {
        e->eager_runs++;
        e->stage_need = CV_MAX(e->stage_need, G->stage_bytes);
        e->workspace_need = CV_MAX(e->workspace_need, G->workspace_bytes);
        if (fallback_total(cuda) != G->fallbacks_at_begin || e->aborts >= MAX_ABORTS) e->uncapturable = true;
    }
    if (st != CV_STATUS_OK) return st;
    CV_CUDA_CHECK(cudaEventRecord(G->stop, cuda->stream), err);
    G->timed = true;
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_step_mark(cv_backend_t *b, int k, cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    graphs_t *G = cuda->graphs;
    if (k >= G->nmarks) {
        int n = CV_MAX(k + 1, 2 * G->nmarks);
        cudaEvent_t *grown = (cudaEvent_t *)cv_realloc(G->marks, sizeof(cudaEvent_t) * (size_t)n);
        if (!grown) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the step profile's events");
        G->marks = grown;
        for (; G->nmarks < n; G->nmarks++) {
            cudaError_t e = cudaEventCreate(&G->marks[G->nmarks]);
            if (e != cudaSuccess) return cv_cuda_status(e, "cudaEventCreate (step profile)", __FILE__, __LINE__, err);
        }
    }
    CV_CUDA_CHECK(cudaEventRecord(G->marks[k], cuda->stream), err);
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_step_times(cv_backend_t *b, double *ms, int n, cv_err_t *err)
{
    graphs_t *G = ((cv_cuda_t *)b)->graphs;
    if (n + 1 > G->nmarks) return cv_errorf(err, CV_STATUS_INTERNAL, "the step profile has %d marks, not %d", G->nmarks, n + 1);
    for (int k = 0; k < n; k++) {
        float t = 0;
        CV_CUDA_CHECK(cudaEventElapsedTime(&t, G->marks[k], G->marks[k + 1]), err);
        ms[k] = t;
    }
    return CV_STATUS_OK;
}

extern "C" void cv_cuda_stats(cv_backend_t *b, cv_backend_stats_t *out)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    graphs_t *G = cuda->graphs;
    memset(out, 0, sizeof(*out));
    out->fallback_steps = fallback_total(cuda);
    if (!G) return;
    out->graph_hits = G->hits;
    out->graph_refreshes = G->refreshes;
    out->graph_misses = G->misses;
    out->last_wave_device_ms = G->last_ms;
}

/* ---- life ----------------------------------------------------------------------- */

extern "C" cv_status cv_cuda_graphs_create(cv_cuda_t *cuda, cv_err_t *err)
{
    graphs_t *G = (graphs_t *)cv_calloc(1, sizeof(*G));
    if (!G) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the CUDA graph cache");
    const char *env = getenv("CARAVEL_CUDA_GRAPHS");
    G->enabled = !(env && (!strcmp(env, "0") || !strcmp(env, "off")));
    cudaError_t e = cudaEventCreate(&G->start);
    if (e == cudaSuccess) {
        e = cudaEventCreate(&G->stop);
        if (e != cudaSuccess) cudaEventDestroy(G->start);
    }
    if (e != cudaSuccess) {
        cv_free(G);
        return cv_cuda_status(e, "cudaEventCreate (wave timing)", __FILE__, __LINE__, err);
    }
    cuda->graphs = G;
    return CV_STATUS_OK;
}

extern "C" void cv_cuda_graphs_destroy(cv_cuda_t *cuda)
{
    graphs_t *G = cuda->graphs;
    if (!G) return;
    for (int i = 0; i < GRAPH_CACHE_SIZE; i++)
        if (G->entries[i].used) evict(&G->entries[i]);
    cudaEventDestroy(G->start);
    cudaEventDestroy(G->stop);
    for (int i = 0; i < G->nmarks; i++) cudaEventDestroy(G->marks[i]);
    cv_free(G->marks);
    cudaGetLastError();
    cv_free(G->steps);
    cv_free(G->tensors);
    cv_free(G->ptrs);
    cv_free(G->present);
    cv_free(G->batched);
    cv_free(G);
    cuda->graphs = NULL;
}
