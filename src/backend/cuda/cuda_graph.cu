/*
 * cuda_graph.cu: the super-kernel cache (DESIGN.md): waves replayed as CUDA
 * graphs whoever their members are, and the device time of every wave.
 *
 * A wave's shape is its key: the plan (its address and a fingerprint of
 * what it was built for), the precision, the rows of each slice, the
 * executor's buffer and the wave's grouping: for each step whose launches
 * depend on which slices share a weight (a Gemm or MatMul reads one GEMM
 * problem per run of slices with one B: cv_cuda_step_group_weight), a bit
 * per slice telling whether it reads the previous slice's copy, another
 * tenant's (shared layers, DESIGN.md); never the tenants. Tenants that share a layer have
 * one copy of it (the runtime's weight store), so the bits compare
 * addresses. Within a shape, which tenants fill it changes the tables
 * only; a wave whose sharing differs where launches depend on it is
 * another shape. Every other step reads a weight pointer per row or slice
 * from a table, so its launches are the same however slices share. A
 * shape lives through these states:
 *   first wave    runs eagerly: it sizes the workspace and shows how much
 *                 staging the wave takes and whether a step runs on the host
 *                 (such a shape is never captured: host steps synchronise);
 *   second wave   is captured (stream capture, thread-local mode) into a
 *                 graph, instantiated and launched: a miss;
 *   later waves   launch the executable graph and the executor skips the
 *                 steps: a hit, whatever the members. With the members of
 *                 the graph's last launch, nothing else; with other ones
 *                 (a rebind), the words of the shape's region that point
 *                 into a tenant's constants are rewritten for the new
 *                 members before the launch: no capture, no
 *                 cudaGraphExecUpdate. A small kernel does it on the
 *                 device (the capture's list of such words went there
 *                 once; the launch's parameters carry each slice's tenant
 *                 table), so the host's part is a pointer per slice and
 *                 one launch, whatever the number of words (thousands for
 *                 64 ResNet-50 tenants: rewriting them on the host and
 *                 copying the region took 23-41 us a wave on the H100).
 *                 That kernel is the graph's first node, whose parameters
 *                 never change: it reads the slices' tables from mapped
 *                 host memory that the host writes before the launch (a
 *                 pointer per slice, no call into the driver, whose lock
 *                 the lane shares with the runtime's other threads; the
 *                 node reads the tables over the bus once a block). On
 *                 the H100 a 64-tenant rebind so took 0.6-0.7 us against
 *                 6-15 with the node's parameters set per rebind
 *                 (cudaGraphExecKernelNodeSetParams: CARAVEL_REBIND=node)
 *                 and more as a launch of its own (CARAVEL_REBIND=kernel).
 *                 Waves wider than the kernel's parameters hold rebind
 *                 on the host: the words rewritten there, the region
 *                 sent in one copy.
 * At most GRAPH_CACHE_SIZE shapes are kept; the least recently used goes.
 *
 * Why a graph does not depend on its members: in a wave of a cacheable
 * shape (cv_cuda_members_indirect), the eager wave that sizes a capture
 * and the capture itself alike, every step reads a tenant's weights
 * through tables staged in the shape's pinned region (cuBLAS pointer
 * arrays, per-row weight and bias tables, the kernels' members arrays:
 * cuda_ops.cuh), never as a kernel parameter or a cuBLAS argument, and
 * writes each such word with cv_cuda_stage_member. Under capture that notes
 * a patch (region offset, slice, constants entry, byte offset), and a
 * rebind replays the patches against the new members' tables (their
 * device copies, cv_cuda_tenant_device_table, for the kernel). Structural
 * constants (integer tensors, identical in a family) are the executor's
 * copy in its buffer (exec.c), so nothing else of a tenant is read.
 * Slices are matched by their constants tables' serials (cuda_internal.h),
 * never by addresses, which a released tenant's successor may get.
 *
 * A step that still passes a tenant's pointer another way (a weight read
 * by value: a per-slice copy, an op without a members table) is caught:
 * cv_cuda_graph_step counts the weight inputs each captured step reads
 * through cv_cuda_stage_member, and a weight read otherwise (or a call of
 * cv_cuda_graph_bind) binds the graph to its members. A bound graph is
 * replayed only with the members it was captured with; other members
 * capture it again and update the executable graph in place
 * (cudaGraphExecUpdate), or instantiate it anew when the update is
 * refused: a refresh. Graphs of the models Caravel serves are not bound.
 *
 * What a graph reads must stay where it was while the graph may replay:
 *   - per-step tables staged while capturing go to the shape's own pinned
 *     region, never to the shared staging ring. Their copies are taken out
 *     of the captured graph (DESIGN.md: one copy of the wave's tables comes
 *     first): the region goes to its device twin in one copy before the
 *     launch that follows a capture or a host rebind, and replays with the
 *     same members find the tables there (a kernel rebind rewrites them in
 *     stream order). The host region is rewritten (by a capture or a host
 *     rebind) only once every earlier launch has completed (the stop event
 *     after each wave): the executor synchronises every wave, so this never
 *     waits today, and a caller that pipelines waves on one backend stays
 *     correct;
 *   - the executor's buffer is part of the key, and freeing it drops the
 *     shape; a regrown workspace or a freed plan drops the graphs captured
 *     with it (cv_cuda_graph_forget); cuBLAS works in a fixed workspace set
 *     at the backend's creation.
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
 * replayed graph (a rebind's copy included), around the steps of an eager
 * wave (where it includes the gaps in which the device waits for launches,
 * and any host step).
 *
 * Not here: several streams, graphs shared between executors or backends,
 * moving a wave's input and output rows inside the graph (the executor
 * copies them per slice, outside it). CARAVEL_CUDA_GRAPHS=0 in the
 * environment turns the cache off (events stay).
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
    uint64_t *grouping;       /* the wave's grouping bits (grouping_of) */
    int grouping_words;
    const void *buffer;
    uint64_t last_used;
    /* what eager waves of this shape showed */
    long eager_runs;
    size_t stage_need, workspace_need;
    int aborts;
    bool uncapturable;
    /* the captured wave, when exec is not NULL */
    cudaGraphExec_t exec;
    bool bound;               /* replays with the members it was captured with only */
    uint64_t *members;        /* per slice: the tenant serial the region's words are for; 0: none */
    const void *workspace;    /* cuda->workspace it was captured with */
    char *pinned, *pinned_device;
    size_t pinned_bytes, pinned_used;
    /* the region's words that point into a tenant's constants */
    struct member_patch *patches;
    int npatches, patches_cap;
    /* their device copy, for rebind_on_device; NULL: rebinds on the host */
    struct member_patch *patches_device;
    /* The graph exec was made from (kept: a node's parameters are set in
     * the exec by the graph's node) and its rebind node (CV_CUDA_REBIND_NODE;
     * NULL: none, rebinds take another way). */
    cudaGraph_t graph;
    cudaGraphNode_t rebind_node;
    /* CV_CUDA_REBIND_MAPPED: the node reads the slices' tables from
     * tables_host (mapped; tables_device its device address), kept while
     * the entry lives; rebind_mapped: the exec's node is that kind. */
    void *const **tables_host, *const **tables_device;
    bool rebind_mapped;
    /* CARAVEL_GRAPH_LAUNCH=device: exec was instantiated for device launch
     * and uploaded, and this one-node graph launches it from the device
     * (cuda_graph_launch.cu); NULL: exec is launched from the host. */
    cudaGraphExec_t launcher;
    struct cv_cuda_graphs *owner; /* the cache it is an entry of */
} graph_entry_t;

/* A word of a shape's region that holds (char *)constants[index] + offset
 * of the tenant of slice `slice`. */
typedef struct member_patch {
    size_t at;     /* byte offset in the region */
    size_t offset;
    int slice, index;
} member_patch_t;

/* One captured step: the run, its tensors and flags in the pools from
 * slot `at` (inputs, then outputs). */
typedef struct journal_step {
    cv_step_run_t run;
    int at;
} journal_step_t;

struct cv_cuda_graphs {
    bool enabled;
    graph_entry_t entries[GRAPH_CACHE_SIZE];
    graph_entry_t *last_found; /* entry_for's last answer (it may have been evicted since) */
    uint64_t clock;
    /* the wave in progress */
    wave_mode_t mode;
    graph_entry_t *cur;         /* its shape; NULL when uncached */
    const cv_wave_slice_t *slices;
    const cv_graph_t *graph;    /* its plan's */
    bool indirect;              /* cv_cuda_members_indirect */
    bool gave_up;               /* a hook asked to give the capture up */
    const char *why;
    bool bound;                 /* the capture binds its graph to the members */
    uint64_t routed;            /* inputs of the captured step read through the tables */
    int abort_at;               /* cv_cuda_graph_abort_at */
    long fallbacks_at_begin;
    size_t stage_bytes, workspace_bytes;
    cv_cuda_dispatch_fn dispatch;
    /* the grouping of the wave in progress (grouping_of) */
    uint64_t *grouping;
    int grouping_words, grouping_cap;
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
    long hits, rebinds, refreshes, misses, aborts;
    long nodes_max, kernel_nodes_max; /* the largest graph captured */
    uint64_t rebind_ns; /* host time of every rebind */
    uint64_t launch_ns; /* host time of every hit's cudaGraphLaunch */
    uint64_t last_rebind_ns, last_launch_ns; /* the last wave's; 0: none */
    uint64_t last_lookup_ns; /* the last wave's: its shape found (grouping, entry, members) */
    /* how graphs captured from now on rebind (CARAVEL_REBIND; tests:
     * cv_cuda_graph_rebind_mode); for tests, check every rebind on the
     * device against the host's words */
    cv_cuda_rebind_way_t rebind_way;
    bool check_rebinds;
    long device_rebinds, rebind_mismatches;
    /* A graph launched since the stream last synchronised
     * (cv_cuda_graph_synchronized): its rebind node may not have read its
     * mapped tables yet. */
    bool pending;
    /* CARAVEL_GRAPH_LAUNCH=device (tests: cv_cuda_graph_launch_mode):
     * graphs captured from now on launched from the device where the
     * driver takes them (their rebind the mapped node's); waves so
     * launched, and captures it refused (they launch from the host). */
    bool device_launch;
    long device_launches, device_launch_refused;
    /* The word the launchers write a device-side refusal into (mapped
     * host memory, made with the first launcher; its device address). */
    int *launch_error, *launch_error_device;
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
    /* A launcher launched but not yet run would tail-launch a destroyed
     * graph: wait for the backend's last wave first. (The executor
     * synchronises every wave, so nothing is pending here today; this
     * keeps a pipelining caller safe too.) */
    if (e->launcher && e->owner && e->owner->pending) {
        cudaEventSynchronize(e->owner->stop);
        cudaGetLastError();
    }
    if (e->launcher) cudaGraphExecDestroy(e->launcher);
    e->launcher = NULL;
    if (e->graph) cudaGraphDestroy(e->graph);
    e->graph = NULL;
    e->rebind_node = NULL;
    e->rebind_mapped = false;
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

static void drop_patches_device(graph_entry_t *e)
{
    if (e->patches_device) cudaFree(e->patches_device);
    cudaGetLastError();
    e->patches_device = NULL;
}

static void drop_tables(graph_entry_t *e)
{
    if (e->tables_host) cudaFreeHost((void *)e->tables_host);
    cudaGetLastError();
    e->tables_host = e->tables_device = NULL;
}

static void evict(graph_entry_t *e)
{
    drop_exec(e);
    drop_region(e);
    drop_patches_device(e);
    drop_tables(e);
    cv_free(e->rows);
    cv_free(e->grouping);
    cv_free(e->patches);
    memset(e, 0, sizeof(*e));
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* What the plan was built for, so that another plan at a freed plan's
 * address (the family's plan cache evicts) never matches an old shape: its
 * serial, where cv_plan_build gave it one. */
static uint64_t plan_fingerprint(const cv_plan_t *plan)
{
    /* cv_plan_build numbers every plan it makes, never twice in a process,
     * and a plan does not change once built: its serial says it all, and
     * costs nothing (this runs on every wave). The hash is for a plan made
     * some other way. */
    if (plan->serial) return plan->serial;
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, &plan->serial, sizeof plan->serial);
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

/* Writes the wave's grouping into G->grouping (G->grouping_words words):
 * for each step of the plan that groups slices by a weight
 * (cv_cuda_step_group_weight), in step order, bit s - 1 of its run of
 * nslices - 1 bits set when slice s reads slice s - 1's copy and is
 * another tenant's (cv_cuda_same_tenant: a tenant's second request is never
 * grouped with its first, so which tenants sent two does not matter). A
 * grouping with no bit set has no words, however it was found, so that
 * it is one key. False when out of memory. */
/* A slice's tenant serial and whether it may share a weight: from the
 * slice where the runtime put them (its tenant's, cv_wave_slice_t), else
 * from the tenant's table (a line of its own, cold by the next wave). */
static uint64_t slice_serial(const cv_wave_slice_t *s, const cv_graph_t *g)
{
    return s->serial ? s->serial : cv_cuda_tenant_serial(s->constants, g);
}
static bool slice_may_share(const cv_wave_slice_t *s, const cv_graph_t *g)
{
    return s->serial ? s->may_share : cv_cuda_tenant_may_share(s->constants, g);
}
/* Asks for the table lines slice_serial and slice_may_share would read,
 * all at once, where the slices do not carry them. */
static void prefetch_identities(const cv_wave_slice_t *slices, int nslices, const cv_graph_t *g)
{
    for (int s = 0; s < nslices; s++)
        if (!slices[s].serial) __builtin_prefetch(&slices[s].constants[2 * g->nvalues + 2]);
}
/* The same for the tenants' device tables, which a rebind reads: all
 * asked for before the first is read, so that the misses overlap. */
static void prefetch_tables(const cv_wave_slice_t *slices, int nslices, const cv_graph_t *g)
{
    for (int s = 0; s < nslices; s++) __builtin_prefetch(&slices[s].constants[2 * g->nvalues + 3]);
}

static bool grouping_of(graphs_t *G, const cv_plan_t *plan, const cv_wave_slice_t *slices, int nslices)
{
    const cv_graph_t *g = plan->graph;
    G->grouping_words = 0;
    if (nslices < 2) return true;
    /* Tenants whose every weight is their own read no copy of another's:
     * a wave of only such tenants groups nothing, and knowing that costs
     * a flag a slice (carried by the slice, or beside the serial that
     * same_members reads next) instead of a word of each tenant's table
     * per weighted step, most of them cache misses (3-6 us for 64 tenants
     * under load). */
    prefetch_identities(slices, nslices, g);
    bool any = false;
    for (int s = 0; s < nslices && !any; s++) any = slice_may_share(&slices[s], g);
    if (!any) return true;
    int64_t bit = 0;
    bool set = false;
    for (int k = 0; k < plan->nsteps; k++) {
        if (!plan->steps[k].weighted) continue;
        int v = cv_cuda_step_group_weight(g, &g->nodes[plan->steps[k].node]);
        if (v < 0) continue;
        int64_t words = (bit + nslices - 1 + 63) / 64;
        if (words > G->grouping_cap) {
            int cap = (int)CV_MAX(words, 2 * (int64_t)G->grouping_cap);
            uint64_t *grown = (uint64_t *)cv_realloc(G->grouping, sizeof(uint64_t) * (size_t)cap);
            if (!grown) return false;
            G->grouping = grown;
            G->grouping_cap = cap;
        }
        for (int64_t w = G->grouping_words; w < words; w++) G->grouping[w] = 0;
        G->grouping_words = (int)words;
        for (int s = 1; s < nslices; s++, bit++)
            if (slices[s].constants[v] == slices[s - 1].constants[v] && !cv_cuda_same_tenant(&slices[s], &slices[s - 1])) {
                G->grouping[bit / 64] |= UINT64_C(1) << (bit % 64);
                set = true;
            }
    }
    /* No bit set: the same key as the shortcut's, no words. */
    if (!set) G->grouping_words = 0;
    return true;
}

/* Whether e is the entry of this shape (G->grouping its grouping). */
static bool entry_is(const graph_entry_t *e, const graphs_t *G, const cv_plan_t *plan, uint64_t fp,
                     cv_precision_t precision, const cv_wave_slice_t *slices, int nslices, const void *buffer)
{
    if (!e->used || e->plan != plan || e->fingerprint != fp || e->precision != precision || e->nslices != nslices ||
        e->buffer != buffer)
        return false;
    int s = 0;
    while (s < nslices && e->rows[s] == slices[s].rows) s++;
    if (s < nslices) return false;
    return e->grouping_words == G->grouping_words &&
           (!G->grouping_words || !memcmp(e->grouping, G->grouping, sizeof(uint64_t) * (size_t)G->grouping_words));
}

/* The entry of this shape (G->grouping its grouping), made (evicting the
 * least recently used) when new; NULL when out of memory: the wave then
 * runs uncached. The last entry found is asked first: a lane's waves
 * mostly have one shape, and the walk over every entry reads a line of
 * each (most of them unused), lines the requests' inputs have pushed out
 * of the caches since the lane's last wave. */
static graph_entry_t *entry_for(graphs_t *G, const cv_plan_t *plan, cv_precision_t precision,
                                const cv_wave_slice_t *slices, int nslices, const void *buffer)
{
    uint64_t fp = plan_fingerprint(plan);
    graph_entry_t *e = G->last_found;
    if (e && entry_is(e, G, plan, fp, precision, slices, nslices, buffer)) {
        e->last_used = ++G->clock;
        return e;
    }
    graph_entry_t *victim = NULL;
    for (int i = 0; i < GRAPH_CACHE_SIZE; i++) {
        e = &G->entries[i];
        if (!e->used) {
            if (!victim || victim->used) victim = e;
            continue;
        }
        if (!victim || (victim->used && e->last_used < victim->last_used)) victim = e;
        if (!entry_is(e, G, plan, fp, precision, slices, nslices, buffer)) continue;
        e->last_used = ++G->clock;
        G->last_found = e;
        return e;
    }
    evict(victim);
    /* rows and members in one block, the grouping in another */
    char *block = (char *)cv_calloc((size_t)nslices, sizeof(int64_t) + sizeof(uint64_t));
    uint64_t *grouping = G->grouping_words ? (uint64_t *)cv_malloc(sizeof(uint64_t) * (size_t)G->grouping_words)
                                           : NULL;
    if (!block || (G->grouping_words && !grouping)) {
        cv_free(block);
        cv_free(grouping);
        return NULL;
    }
    if (grouping) memcpy(grouping, G->grouping, sizeof(uint64_t) * (size_t)G->grouping_words);
    e = victim;
    e->owner = G;
    e->grouping = grouping;
    e->grouping_words = G->grouping_words;
    e->used = true;
    e->plan = plan;
    e->fingerprint = fp;
    e->precision = precision;
    e->nslices = nslices;
    e->rows = (int64_t *)block;
    e->members = (uint64_t *)(block + sizeof(int64_t) * (size_t)nslices);
    for (int s = 0; s < nslices; s++) e->rows[s] = slices[s].rows;
    e->buffer = buffer;
    e->last_used = ++G->clock;
    G->last_found = e;
    return e;
}

/* Whether the region's words point at these slices' tenants, by their
 * serials: the slices carry them where the runtime made them (no line of
 * the tenants' read); otherwise each is in its tenant's table, a line of
 * its own that the lane's thread has usually not touched since the
 * tenant's last wave, and those are asked for all at once first, so that
 * the misses overlap instead of coming one after another. */
static bool same_members(const graph_entry_t *e, const cv_wave_slice_t *slices, const cv_graph_t *g)
{
    prefetch_identities(slices, e->nslices, g);
    for (int s = 0; s < e->nslices; s++)
        if (e->members[s] != slice_serial(&slices[s], g)) return false;
    return true;
}

static void note_members(graph_entry_t *e, const cv_wave_slice_t *slices, const cv_graph_t *g)
{
    for (int s = 0; s < e->nslices; s++) e->members[s] = slice_serial(&slices[s], g);
}

/* Waits until every launch so far has completed, so that a region's host
 * words may be rewritten: the copy before a launch reads them, and so
 * would a copy node that strip_table_copies could not take out. The stop
 * event is recorded after every wave, a launched graph's included. A
 * no-op once the executor has synchronised, as it does after every wave. */
static cudaError_t region_writable(graphs_t *G) { return cudaEventSynchronize(G->stop); }

/* Sends the region to its device twin, ahead of the graph on the stream. */
static cudaError_t region_copy(cv_cuda_t *cuda, graph_entry_t *e)
{
    if (!e->pinned_used) return cudaSuccess;
    return cudaMemcpyAsync(e->pinned_device, e->pinned, e->pinned_used, cudaMemcpyHostToDevice, cuda->stream);
}

/* Launches a shape's graph on the stream. */
static cudaError_t launch(cv_cuda_t *cuda, graph_entry_t *e)
{
    graphs_t *G = cuda->graphs;
    G->pending = true;
    if (!e->launcher) return cudaGraphLaunch(e->exec, cuda->stream);
    G->device_launches++;
    return cudaGraphLaunch(e->launcher, cuda->stream);
}

/* Instantiates a captured graph for device launch, uploads it and makes
 * its launcher (e->launcher); false, with nothing kept and the error
 * cleared, where the driver refuses any of it (a node kind device graphs
 * may not hold): the caller instantiates it for the host. */
static bool instantiate_for_device(cv_cuda_t *cuda, graph_entry_t *e, cudaGraph_t graph)
{
    graphs_t *G = cuda->graphs;
    cudaError_t ce = cudaSuccess;
    if (!G->launch_error) {
        ce = cudaHostAlloc((void **)&G->launch_error, sizeof(int), cudaHostAllocMapped | cudaHostAllocPortable);
        if (ce == cudaSuccess) {
            *(volatile int *)G->launch_error = 0;
            ce = cudaHostGetDevicePointer((void **)&G->launch_error_device, G->launch_error, 0);
            if (ce != cudaSuccess) {
                cudaFreeHost(G->launch_error);
                G->launch_error = NULL;
            }
        } else {
            G->launch_error = NULL;
        }
    }
    if (ce == cudaSuccess) ce = cudaGraphInstantiateWithFlags(&e->exec, graph, cudaGraphInstantiateFlagDeviceLaunch);
    if (ce == cudaSuccess) ce = cudaGraphUpload(e->exec, cuda->stream);
    if (ce == cudaSuccess) ce = cv_cuda_graph_launcher_make(e->exec, G->launch_error_device, &e->launcher);
    if (ce == cudaSuccess) return true;
    /* What the graph holds, for the log: device graphs take kernels,
     * memsets and copies of device (or mapped) memory only. */
    size_t count = 0;
    int kinds[4] = {0, 0, 0, 0}; /* kernels, copies, memsets, other */
    cudaGraphNode_t *nodes = NULL;
    if (cudaGraphGetNodes(graph, NULL, &count) == cudaSuccess && count &&
        (nodes = (cudaGraphNode_t *)cv_calloc(count, sizeof *nodes)) &&
        cudaGraphGetNodes(graph, nodes, &count) == cudaSuccess)
        for (size_t i = 0; i < count; i++) {
            cudaGraphNodeType t = cudaGraphNodeTypeEmpty;
            cudaGraphNodeGetType(nodes[i], &t);
            kinds[t == cudaGraphNodeTypeKernel ? 0 : t == cudaGraphNodeTypeMemcpy ? 1 : t == cudaGraphNodeTypeMemset ? 2 : 3]++;
        }
    cv_free(nodes);
    cv_log(CV_LOG_INFO,
           "cuda: a captured wave cannot be launched from the device (%s; %d kernel, %d copy, %d memset, %d other "
           "nodes); launching it from the host",
           cudaGetErrorString(ce), kinds[0], kinds[1], kinds[2], kinds[3]);
    cudaGetLastError();
    if (e->exec) cudaGraphExecDestroy(e->exec);
    e->exec = NULL;
    e->launcher = NULL;
    cuda->graphs->device_launch_refused++;
    return false;
}

/* The word a patch writes for these slices: the address `offset` bytes
 * into the constant of the slice's tenant. */
static const void *patch_word(const member_patch_t *p, const cv_wave_slice_t *slices)
{
    const char *base = (const char *)slices[p->slice].constants[p->index];
    CV_ASSERT(base);
    return base + p->offset;
}

/* Points the region's member words at these slices' tenants on the host
 * and sends the whole region to the device: the reference for
 * rebind_on_device, and the way for a shape whose patches are not on the
 * device. */
static cudaError_t rebind_on_host(cv_cuda_t *cuda, graph_entry_t *e, const cv_wave_slice_t *slices)
{
    cudaError_t ce = region_writable(cuda->graphs);
    if (ce != cudaSuccess) return ce;
    for (int i = 0; i < e->npatches; i++) {
        const void *word = patch_word(&e->patches[i], slices);
        memcpy(e->pinned + e->patches[i].at, &word, sizeof word);
    }
    return region_copy(cuda, e);
}

/* The rebind kernel's slices: each one's tenant's device table
 * (cv_cuda_tenant_device_table), by value in the launch's parameters, so
 * that nothing of a rebind waits for an earlier launch; in the smallest
 * of three sizes that holds the wave (a launch's cost grows with its
 * parameters). 4 KB of parameters hold a little over 500; wider waves
 * rebind on the host. */
#define REBIND_SLICES 448
template <int N> struct rebind_tables {
    void *const *table[N];
};

/* One thread a patch: the word at `at` of the region's device twin gets
 * the address of the patch's constant in its slice's tenant's table. */
template <int N>
__global__ void rebind_kernel(const member_patch_t *__restrict__ patches, int n, char *region, rebind_tables<N> t)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    member_patch_t p = patches[i];
    const char *base = (const char *)t.table[p.slice][p.index];
    *(const char **)(region + p.at) = base + p.offset;
}

#define REBIND_THREADS 256

/* The kernel's parameter of these slices: each one's tenant's table. */
template <int N>
static rebind_tables<N> tables_of(const graph_entry_t *e, const cv_wave_slice_t *slices, const cv_graph_t *g)
{
    rebind_tables<N> t;
    prefetch_tables(slices, e->nslices, g);
    for (int s = 0; s < e->nslices; s++) t.table[s] = cv_cuda_tenant_device_table(slices[s].constants, g);
    return t;
}

template <int N>
static cudaError_t launch_rebind(cv_cuda_t *cuda, graph_entry_t *e, const cv_wave_slice_t *slices, const cv_graph_t *g)
{
    rebind_kernel<N><<<(e->npatches + REBIND_THREADS - 1) / REBIND_THREADS, REBIND_THREADS, 0, cuda->stream>>>(
        e->patches_device, e->npatches, e->pinned_device, tables_of<N>(e, slices, g));
    return cudaGetLastError();
}

/* The rebind kernel as the graph's first node: its parameters for these
 * slices, given to a new node of `add_to` (*node set), or set in the
 * executable graph (add_to NULL): then a rebind is no launch of its own,
 * only the graph's. */
template <int N>
static cudaError_t rebind_node_params(graph_entry_t *e, const cv_wave_slice_t *slices, const cv_graph_t *g,
                                      cudaGraph_t add_to, cudaGraphNode_t *node)
{
    rebind_tables<N> t = tables_of<N>(e, slices, g);
    void *args[] = {&e->patches_device, &e->npatches, &e->pinned_device, &t};
    cudaKernelNodeParams p = {};
    p.func = (void *)rebind_kernel<N>;
    p.gridDim = dim3((unsigned)(e->npatches + REBIND_THREADS - 1) / REBIND_THREADS);
    p.blockDim = dim3(REBIND_THREADS);
    p.kernelParams = args;
    if (add_to) return cudaGraphAddKernelNode(node, add_to, NULL, 0, &p);
    return cudaGraphExecKernelNodeSetParams(e->exec, e->rebind_node, &p);
}

static cudaError_t rebind_node_set(graph_entry_t *e, const cv_wave_slice_t *slices, const cv_graph_t *g,
                                   cudaGraph_t add_to, cudaGraphNode_t *node)
{
    return e->nslices <= 16   ? rebind_node_params<16>(e, slices, g, add_to, node)
           : e->nslices <= 64 ? rebind_node_params<64>(e, slices, g, add_to, node)
                              : rebind_node_params<REBIND_SLICES>(e, slices, g, add_to, node);
}

/* CV_CUDA_REBIND_MAPPED's node: the same words, the slices' tables read
 * from mapped host memory, each block taking them into shared memory
 * first so that the bus carries them once a block, not once a patch.
 * Read as volatile: the host rewrites them between launches. */
#define MAPPED_SLICES 4096

__global__ void rebind_mapped_kernel(const member_patch_t *__restrict__ patches, int n, char *region,
                                     const unsigned long long *tables, int nslices)
{
    extern __shared__ unsigned long long rebind_shared[];
    const volatile unsigned long long *from = tables;
    for (int s = threadIdx.x; s < nslices; s += blockDim.x) rebind_shared[s] = from[s];
    __syncthreads();
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    member_patch_t p = patches[i];
    void *const *table = (void *const *)rebind_shared[p.slice];
    const char *base = (const char *)table[p.index];
    *(const char **)(region + p.at) = base + p.offset;
}

/* The tables the mapped node reads next: these slices' tenants'. */
static void tables_write(graph_entry_t *e, const cv_wave_slice_t *slices, const cv_graph_t *g)
{
    prefetch_tables(slices, e->nslices, g);
    for (int s = 0; s < e->nslices; s++) e->tables_host[s] = cv_cuda_tenant_device_table(slices[s].constants, g);
}

/* The mapped node, added to a captured graph; its parameters never
 * change. The entry's tables are made on its first capture and written
 * with the capture's members. */
static cudaError_t rebind_mapped_add(graph_entry_t *e, const cv_wave_slice_t *slices, const cv_graph_t *g,
                                     cudaGraph_t add_to, cudaGraphNode_t *node)
{
    if (e->nslices > MAPPED_SLICES) return cudaErrorInvalidValue;
    if (!e->tables_host) {
        void *host = NULL, *device = NULL;
        size_t bytes = sizeof(void *) * (size_t)e->nslices;
        cudaError_t ce = cv_alloc_device_injected_failure() ? cudaErrorMemoryAllocation
                                                            : cudaHostAlloc(&host, bytes, cudaHostAllocMapped);
        if (ce == cudaSuccess) ce = cudaHostGetDevicePointer(&device, host, 0);
        if (ce != cudaSuccess) {
            if (host) cudaFreeHost(host);
            return ce;
        }
        e->tables_host = (void *const **)host;
        e->tables_device = (void *const **)device;
    }
    tables_write(e, slices, g);
    int nslices = e->nslices;
    void *args[] = {&e->patches_device, &e->npatches, &e->pinned_device, &e->tables_device, &nslices};
    cudaKernelNodeParams p = {};
    p.func = (void *)rebind_mapped_kernel;
    p.gridDim = dim3((unsigned)(e->npatches + REBIND_THREADS - 1) / REBIND_THREADS);
    p.blockDim = dim3(REBIND_THREADS);
    p.sharedMemBytes = (unsigned)(sizeof(void *) * (size_t)nslices);
    p.kernelParams = args;
    return cudaGraphAddKernelNode(node, add_to, NULL, 0, &p);
}

/* A graph's nodes (or its roots only), in a block the caller frees; NULL
 * with *n = 0 when there are none or on failure (*e set). */
static cudaGraphNode_t *graph_nodes(cudaGraph_t graph, bool roots, size_t *n, cudaError_t *e)
{
    *n = 0;
    *e = roots ? cudaGraphGetRootNodes(graph, NULL, n) : cudaGraphGetNodes(graph, NULL, n);
    if (*e != cudaSuccess || *n == 0) return NULL;
    cudaGraphNode_t *list = (cudaGraphNode_t *)cv_malloc(sizeof(cudaGraphNode_t) * *n);
    if (!list) {
        *e = cudaErrorMemoryAllocation;
        *n = 0;
        return NULL;
    }
    *e = roots ? cudaGraphGetRootNodes(graph, list, n) : cudaGraphGetNodes(graph, list, n);
    return list;
}

/* Puts the rebind node (the mapped one where asked) before every root of
 * a captured graph, with the capture's members (its first launch rewrites
 * the words with what they hold). On failure the graph is as it was and
 * *node NULL. */
static cudaError_t add_rebind_node(graph_entry_t *e, cudaGraph_t graph, const cv_wave_slice_t *slices,
                                   const cv_graph_t *g, bool mapped, cudaGraphNode_t *node)
{
    *node = NULL;
    size_t n;
    cudaError_t ce;
    cudaGraphNode_t *roots = graph_nodes(graph, true, &n, &ce);
    if (ce != cudaSuccess || n == 0) {
        cv_free(roots);
        return ce;
    }
    ce = mapped ? rebind_mapped_add(e, slices, g, graph, node) : rebind_node_set(e, slices, g, graph, node);
    for (size_t i = 0; i < n && ce == cudaSuccess; i++) ce = cudaGraphAddDependencies(graph, node, &roots[i], NULL, 1);
    cv_free(roots);
    if (ce != cudaSuccess && *node) {
        cudaGraphDestroyNode(*node);
        *node = NULL;
    }
    return ce;
}

/* Compares the region's device words with what the host would write
 * (cv_cuda_graph_rebind_mode's check); counts the words that differ. */
static cudaError_t check_rebind(cv_cuda_t *cuda, graph_entry_t *e, const cv_wave_slice_t *slices)
{
    cudaError_t ce = cudaStreamSynchronize(cuda->stream);
    char *copy = ce == cudaSuccess ? (char *)cv_malloc(e->pinned_used) : NULL;
    if (ce == cudaSuccess && !copy) ce = cudaErrorMemoryAllocation;
    if (ce == cudaSuccess) ce = cudaMemcpy(copy, e->pinned_device, e->pinned_used, cudaMemcpyDeviceToHost);
    for (int i = 0; i < e->npatches && ce == cudaSuccess; i++) {
        const void *want = patch_word(&e->patches[i], slices), *got;
        memcpy(&got, copy + e->patches[i].at, sizeof got);
        if (got != want) cuda->graphs->rebind_mismatches++;
    }
    cv_free(copy);
    return ce;
}

/* The same on the device: one small launch, whatever the number of
 * words; the host writes a pointer per slice into its parameters and
 * never waits for an earlier launch. The region's host words keep the
 * capture's members (a host rebind rewrites every member word). */
static cudaError_t rebind_on_device(cv_cuda_t *cuda, graph_entry_t *e, const cv_wave_slice_t *slices,
                                    const cv_graph_t *g)
{
    cudaError_t ce = e->nslices <= 16   ? launch_rebind<16>(cuda, e, slices, g)
                     : e->nslices <= 64 ? launch_rebind<64>(cuda, e, slices, g)
                                        : launch_rebind<REBIND_SLICES>(cuda, e, slices, g);
    graphs_t *G = cuda->graphs;
    if (ce == cudaSuccess) G->device_rebinds++;
    if (ce == cudaSuccess && G->check_rebinds) ce = check_rebind(cuda, e, slices);
    return ce;
}

/* Points the graph's tables at these slices' tenants: what a graph needs
 * to serve other members. */
static cudaError_t rebind(cv_cuda_t *cuda, graph_entry_t *e, const cv_wave_slice_t *slices, const cv_graph_t *g)
{
    graphs_t *G = cuda->graphs;
    /* Unknown until the rebind is queued: a failure leaves the next wave
     * to rebind again. */
    memset(e->members, 0, sizeof(uint64_t) * (size_t)e->nslices);
    cudaError_t ce;
    if (e->rebind_mapped) {
        /* A launch whose node has not run yet would read the new tables:
         * none, unless a caller pipelines waves on this backend (the
         * executor synchronises each). */
        ce = G->pending ? cudaEventSynchronize(G->stop) : cudaSuccess;
        if (ce == cudaSuccess) {
            G->pending = false;
            tables_write(e, slices, g);
            G->device_rebinds++;
        }
    } else if (e->rebind_node) {
        /* Every launch of this graph runs the node: no other way may
         * rewrite the words, which the node would overwrite again. */
        ce = rebind_node_set(e, slices, g, NULL, NULL);
        if (ce == cudaSuccess) G->device_rebinds++;
    } else if (e->patches_device && e->nslices <= REBIND_SLICES && G->rebind_way == CV_CUDA_REBIND_KERNEL) {
        ce = rebind_on_device(cuda, e, slices, g);
    } else {
        ce = rebind_on_host(cuda, e, slices);
    }
    if (ce == cudaSuccess) note_members(e, slices, g);
    return ce;
}

/* After a capture: the patches go to the device once, for the rebinds of
 * the graph's later waves. Without them (out of memory, a wave too wide
 * for the kernel: its parameters, or the mapped node's shared memory)
 * rebinds run on the host. */
static void upload_patches(graph_entry_t *e, int widest, cudaStream_t stream)
{
    drop_patches_device(e);
    if (!e->npatches || e->nslices > widest) return;
    size_t bytes = sizeof(member_patch_t) * (size_t)e->npatches;
    /* From pageable memory: the call returns once the bytes are staged;
     * the stream orders them before any rebind. */
    if (cv_cuda_malloc((void **)&e->patches_device, bytes) != cudaSuccess ||
        cudaMemcpyAsync(e->patches_device, e->patches, bytes, cudaMemcpyHostToDevice, stream) != cudaSuccess)
        drop_patches_device(e);
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

/* Bit i: input i of the step is a tenant's weight (inputs from 63 on all
 * set bit 63, which no table routes: such a step binds its graph). */
static uint64_t weight_inputs(const cv_step_run_t *run)
{
    uint64_t m = 0;
    for (int i = 0; i < run->ninputs; i++) {
        int v = run->node->inputs[i];
        if (!run->inputs[i] || v < 0) continue;
        const cv_value_t *val = &run->graph->values[v];
        if (val->constant && val->is_weight) m |= i < 63 ? UINT64_C(1) << i : UINT64_C(1) << 63;
    }
    return m;
}

extern "C" cv_status cv_cuda_graph_step(cv_cuda_t *cuda, const cv_step_run_t *run, cv_cuda_dispatch_fn dispatch,
                                        cv_err_t *err)
{
    graphs_t *G = cuda->graphs;
    G->dispatch = dispatch;
    G->routed = 0;
    bool journaled = journal_add(G, run) == CV_STATUS_OK;
    if (journaled && G->abort_at == G->nsteps - 1) {
        G->abort_at = -1;
        cv_cuda_graph_abort(cuda, "a test asked for it", NULL);
    }
    cv_status st = CV_STATUS_OK;
    if (journaled && !G->gave_up) {
        st = dispatch(cuda, run, err);
        if (st == CV_STATUS_OK && !G->gave_up) {
            /* A weight this step read other than through the tables. */
            if ((weight_inputs(run) & ~G->routed) && !G->bound) {
                G->bound = true;
                cv_log(CV_LOG_DEBUG, "cuda: a captured wave is bound to its members (%s reads a tenant's weight "
                                     "by value)", cv_op_name(run->node->op));
            }
            return CV_STATUS_OK;
        }
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
        if (e->exec && e->workspace == ptr) drop_exec(e);
    }
}

extern "C" bool cv_cuda_members_indirect(const cv_cuda_t *cuda) { return cuda->graphs && cuda->graphs->indirect; }

extern "C" void cv_cuda_stage_member(cv_cuda_t *cuda, const cv_step_run_t *run, const void **slot, int s, int value,
                                     bool half, size_t offset)
{
    CV_ASSERT(s >= 0 && s < run->nslices && value >= 0 && value < run->graph->nvalues);
    int index = half ? run->graph->nvalues + value : value;
    const char *base = (const char *)run->slices[s].constants[index];
    CV_ASSERT(base);
    *slot = base + offset;
    graphs_t *G = cuda->graphs;
    if (!G || G->mode != WAVE_CAPTURE || G->gave_up) return;
    graph_entry_t *e = G->cur;
    const char *word = (const char *)slot;
    CV_ASSERT(e && word >= e->pinned && word + sizeof(void *) <= e->pinned + e->pinned_used);
    ptrdiff_t slice = &run->slices[s] - G->slices;
    CV_ASSERT(slice >= 0 && slice < e->nslices);
    if (e->npatches == e->patches_cap) {
        int cap = e->patches_cap ? 2 * e->patches_cap : 256;
        member_patch_t *grown = (member_patch_t *)cv_realloc(e->patches, sizeof(member_patch_t) * (size_t)cap);
        if (!grown) {
            cv_cuda_graph_abort(cuda, "out of memory noting the members' words", NULL);
            return;
        }
        e->patches = grown;
        e->patches_cap = cap;
    }
    e->patches[e->npatches++] = (member_patch_t){(size_t)(word - e->pinned), offset, (int)slice, index};
    for (int i = 0; i < run->ninputs && i < 63; i++)
        if (run->node->inputs[i] == value) G->routed |= UINT64_C(1) << i;
}

extern "C" void cv_cuda_graph_bind(cv_cuda_t *cuda, const char *why)
{
    graphs_t *G = cuda->graphs;
    if (!G || G->mode != WAVE_CAPTURE || G->bound) return;
    G->bound = true;
    cv_log(CV_LOG_DEBUG, "cuda: a captured wave is bound to its members (%s)", why);
}

extern "C" void cv_cuda_graph_abort_at(cv_cuda_t *cuda, int step)
{
    if (cuda->graphs) cuda->graphs->abort_at = step;
}

extern "C" void cv_cuda_graph_synchronized(cv_cuda_t *cuda)
{
    graphs_t *G = cuda->graphs;
    if (!G) return;
    G->pending = false;
    if (!G->timed) return;
    float ms = 0;
    if (cudaEventElapsedTime(&ms, G->start, G->stop) == cudaSuccess) G->last_ms = ms;
    cudaGetLastError();
    G->timed = false;
}

extern "C" cudaError_t cv_cuda_graph_take_launch_error(cv_cuda_t *cuda)
{
    graphs_t *G = cuda->graphs;
    if (!G || !G->launch_error) return cudaSuccess;
    int e = *(volatile int *)G->launch_error;
    if (e) *(volatile int *)G->launch_error = 0;
    return (cudaError_t)e;
}

extern "C" long cv_cuda_graph_aborts(const cv_cuda_t *cuda) { return cuda->graphs ? cuda->graphs->aborts : 0; }

extern "C" void cv_cuda_graph_launch_mode(cv_cuda_t *cuda, bool on_device)
{
    if (cuda->graphs) cuda->graphs->device_launch = on_device;
}

extern "C" void cv_cuda_graph_launch_counts(const cv_cuda_t *cuda, long *on_device, long *refused)
{
    *on_device = cuda->graphs ? cuda->graphs->device_launches : 0;
    *refused = cuda->graphs ? cuda->graphs->device_launch_refused : 0;
}

extern "C" void cv_cuda_graph_rebind_mode(cv_cuda_t *cuda, cv_cuda_rebind_way_t way, bool check)
{
    if (!cuda->graphs) return;
    cuda->graphs->rebind_way = way;
    cuda->graphs->check_rebinds = check;
}

extern "C" void cv_cuda_graph_rebind_counts(const cv_cuda_t *cuda, long *on_device, long *mismatches)
{
    *on_device = cuda->graphs ? cuda->graphs->device_rebinds : 0;
    *mismatches = cuda->graphs ? cuda->graphs->rebind_mismatches : 0;
}

/* ---- waves -------------------------------------------------------------------- */

extern "C" cv_status cv_cuda_wave_begin(cv_backend_t *b, const cv_plan_t *plan, const cv_wave_slice_t *slices,
                                        int nslices, cv_precision_t precision, const void *buffer, cv_wave_kind_t *kind,
                                        cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    graphs_t *G = cuda->graphs;
    CV_ASSERT(G->mode != WAVE_CAPTURE);
    *kind = CV_WAVE_STEPS;
    G->timed = false;
    G->mode = WAVE_IDLE;
    CV_CUDA_CHECK(cudaEventRecord(G->start, cuda->stream), err);
    G->mode = WAVE_EAGER;
    G->cur = NULL;
    G->slices = slices;
    G->graph = plan->graph;
    G->indirect = false;
    G->gave_up = false;
    G->why = NULL;
    G->bound = false;
    G->nsteps = G->nslots = 0;
    G->stage_bytes = G->workspace_bytes = 0;
    G->fallbacks_at_begin = fallback_total(cuda);
    G->last_rebind_ns = G->last_launch_ns = G->last_lookup_ns = 0;
    if (!G->enabled) return CV_STATUS_OK;

    uint64_t looking = cv_clock_ns();
    graph_entry_t *e = G->cur = grouping_of(G, plan, slices, nslices)
                                    ? entry_for(G, plan, precision, slices, nslices, buffer)
                                    : NULL;
    if (!e) return CV_STATUS_OK;
    if (e->exec && e->workspace != cuda->workspace) drop_exec(e);
    bool members = e->exec && same_members(e, slices, plan->graph);
    G->last_lookup_ns = cv_clock_ns() - looking;
    if (e->exec && (members || !e->bound)) {
        uint64_t rebinding = cv_clock_ns();
        cudaError_t ce = members ? cudaSuccess : rebind(cuda, e, slices, plan->graph);
        uint64_t launching = cv_clock_ns();
        if (!members) {
            G->last_rebind_ns = launching - rebinding;
            G->rebind_ns += G->last_rebind_ns;
        }
        if (ce == cudaSuccess) ce = launch(cuda, e);
        G->last_launch_ns = cv_clock_ns() - launching;
        G->launch_ns += G->last_launch_ns;
        /* A node rebinds as the graph runs: checked after it. */
        if (ce == cudaSuccess && !members && e->rebind_node && G->check_rebinds) ce = check_rebind(cuda, e, slices);
        if (ce == cudaSuccess) ce = cudaEventRecord(G->stop, cuda->stream);
        G->mode = WAVE_IDLE;
        G->cur = NULL;
        if (ce != cudaSuccess)
            return cv_cuda_status(ce, members ? "cudaGraphLaunch (a cached wave)" : "a cached wave with other members",
                                  __FILE__, __LINE__, err);
        G->hits++;
        if (!members) G->rebinds++;
        G->timed = true;
        *kind = CV_WAVE_REPLAYED;
        return CV_STATUS_OK;
    }
    if (e->uncapturable) return CV_STATUS_OK;
    /* This shape's first waves: the eager one that sizes the capture, the
     * capture (and a bound graph's re-capture). */
    *kind = CV_WAVE_FIRST;
    /* From the wave that sizes the capture on, steps stage what a capture
     * stages: tenants' weights through tables. */
    G->indirect = true;
    /* Capture only what an eager wave showed to fit: the workspace it
     * grew, no host steps. */
    if (e->eager_runs == 0 || e->workspace_need > cuda->workspace_bytes) return CV_STATUS_OK;
    if (!ensure_region(e, e->stage_need)) return CV_STATUS_OK;
    /* The capture rewrites the region's host words. */
    if (region_writable(G) != cudaSuccess) {
        cudaGetLastError();
        return CV_STATUS_OK;
    }
    e->pinned_used = 0;
    e->npatches = 0;
    drop_patches_device(e);
    if (cudaStreamBeginCapture(cuda->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        return CV_STATUS_OK;
    }
    G->mode = WAVE_CAPTURE;
    return CV_STATUS_OK;
}

/* Notes the size of a graph just captured, when the largest so far (the
 * stats' graph_nodes_max): nothing fails for want of it. */
static void count_nodes(graphs_t *G, cudaGraph_t graph)
{
    size_t n;
    cudaError_t ce;
    cudaGraphNode_t *nodes = graph_nodes(graph, false, &n, &ce);
    long kernels = 0;
    for (size_t i = 0; i < n && ce == cudaSuccess; i++) {
        cudaGraphNodeType type;
        ce = cudaGraphNodeGetType(nodes[i], &type);
        kernels += ce == cudaSuccess && type == cudaGraphNodeTypeKernel;
    }
    cv_free(nodes);
    if (ce != cudaSuccess) {
        cudaGetLastError();
        return;
    }
    G->nodes_max = CV_MAX(G->nodes_max, (long)n);
    G->kernel_nodes_max = CV_MAX(G->kernel_nodes_max, kernels);
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
    size_t n;
    cudaError_t ce;
    cudaGraphNode_t *nodes = graph_nodes(graph, false, &n, &ce);
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
 * graph and launches it (bound: cv_cuda_graph_bind was called). Where that
 * fails, the journal runs eagerly. */
static cv_status finish_capture(cv_cuda_t *cuda, graph_entry_t *e, bool bound, cv_err_t *err)
{
    graphs_t *G = cuda->graphs;
    cudaGraph_t graph = NULL;
    cudaError_t ce = cudaStreamEndCapture(cuda->stream, &graph);
    const char *failed = ce != cudaSuccess || !graph ? "cudaStreamEndCapture" : NULL;
    if (!failed && strip_table_copies(graph, e) != cudaSuccess) failed = "taking the table copies out of the graph";
    /* The patches go to the device once, for the later waves' rebinds on
     * the device; under CV_CUDA_REBIND_NODE the rebind kernel becomes the
     * graph's first node (without it, rebinds take the kernel's launch). */
    cudaGraphNode_t node = NULL;
    bool mapped = G->rebind_way == CV_CUDA_REBIND_MAPPED;
    if (!failed && !bound && G->rebind_way != CV_CUDA_REBIND_HOST) {
        upload_patches(e, mapped ? MAPPED_SLICES : REBIND_SLICES, cuda->stream);
        bool as_node = G->rebind_way == CV_CUDA_REBIND_NODE || mapped;
        if (as_node && e->patches_device &&
            add_rebind_node(e, graph, G->slices, G->graph, mapped, &node) != cudaSuccess) {
            cudaGetLastError();
            cv_log(CV_LOG_INFO, "cuda: the rebind node could not be added to a captured graph; rebinding on the host");
        }
    }
    bool refresh = e->exec != NULL;
    /* A device-launched graph would have to be uploaded again after an
     * update: it is made anew instead (a bound graph's refresh only). */
    if (!failed && refresh && e->launcher) drop_exec(e);
    if (!failed && e->exec) {
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate(e->exec, graph, &info) != cudaSuccess) {
            cudaGetLastError();
            drop_exec(e);
        }
    }
    /* From the device only where nothing of the graph changes between
     * launches: the mapped rebind node (or no member words at all), never a
     * bound graph (refreshed by update). */
    bool device = G->device_launch && !bound && (node ? mapped : e->npatches == 0);
    if (!failed && !e->exec && !(device && instantiate_for_device(cuda, e, graph)) &&
        cudaGraphInstantiate(&e->exec, graph, 0) != cudaSuccess) {
        e->exec = NULL;
        failed = "cudaGraphInstantiate";
    }
    if (!failed) {
        /* Kept while exec lives: the rebind node's handle is its node. */
        if (e->graph) cudaGraphDestroy(e->graph);
        e->graph = graph;
        e->rebind_node = node;
        e->rebind_mapped = node && mapped;
        graph = NULL;
    }
    if (graph) cudaGraphDestroy(graph);
    /* The wave's device time starts here: capturing ran nothing. Then the
     * tables the steps staged, in one copy, and the graph. */
    if (!failed && (cudaEventRecord(G->start, cuda->stream) != cudaSuccess || region_copy(cuda, e) != cudaSuccess ||
                    launch(cuda, e) != cudaSuccess))
        failed = "cudaGraphLaunch";
    if (failed) {
        cudaGetLastError();
        drop_exec(e);
        drop_patches_device(e);
        e->uncapturable = true;
        G->aborts++;
        cv_log(CV_LOG_INFO, "cuda: %s failed for a captured wave; running it eagerly, and that shape from now on",
               failed);
        return journal_replay(cuda, err);
    }
    note_members(e, G->slices, G->graph);
    count_nodes(G, e->graph);
    e->bound = bound;
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
    bool bound = G->bound;
    G->mode = WAVE_IDLE;
    G->cur = NULL;
    G->indirect = false;
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
        st = finish_capture(cuda, e, bound, err);
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
    out->graph_rebinds = G->rebinds;
    out->graph_refreshes = G->refreshes;
    out->graph_misses = G->misses;
    out->last_wave_device_ms = G->last_ms;
    out->graph_rebind_us_total = (double)G->rebind_ns / 1e3;
    out->graph_launch_us_total = (double)G->launch_ns / 1e3;
    out->last_wave_rebind_us = (double)G->last_rebind_ns / 1e3;
    out->last_wave_graph_launch_us = (double)G->last_launch_ns / 1e3;
    out->last_wave_lookup_us = (double)G->last_lookup_ns / 1e3;
    out->graph_nodes_max = G->nodes_max;
    out->graph_kernel_nodes_max = G->kernel_nodes_max;
}

/* ---- life ----------------------------------------------------------------------- */

extern "C" cv_status cv_cuda_graphs_create(cv_cuda_t *cuda, cv_err_t *err)
{
    graphs_t *G = (graphs_t *)cv_calloc(1, sizeof(*G));
    if (!G) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the CUDA graph cache");
    const char *env = getenv("CARAVEL_CUDA_GRAPHS");
    G->enabled = !(env && (!strcmp(env, "0") || !strcmp(env, "off")));
    G->abort_at = -1;
    /* How graphs rebind: CARAVEL_REBIND=mapped (the default: the rebind
     * kernel as the graph's first node reading the members' tables from
     * mapped host memory, measured the fastest), node (its parameters set
     * in the executable graph) or kernel (its launch of its own before the
     * graph's). */
    const char *way = getenv("CARAVEL_REBIND");
    G->rebind_way = CV_CUDA_REBIND_MAPPED;
    if (way && !strcmp(way, "kernel")) G->rebind_way = CV_CUDA_REBIND_KERNEL;
    else if (way && !strcmp(way, "node")) G->rebind_way = CV_CUDA_REBIND_NODE;
    else if (way && *way && strcmp(way, "mapped")) {
        cv_free(G);
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "CARAVEL_REBIND must be node, kernel or mapped, not '%.40s'",
                         way);
    }
    /* How a captured wave is launched: CARAVEL_GRAPH_LAUNCH=host (the
     * default) or device (cuda_graph_launch.cu). */
    const char *launch_env = getenv("CARAVEL_GRAPH_LAUNCH");
    G->device_launch = launch_env && !strcmp(launch_env, "device");
    if (launch_env && *launch_env && strcmp(launch_env, "device") && strcmp(launch_env, "host")) {
        cv_free(G);
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "CARAVEL_GRAPH_LAUNCH must be host or device, not '%.40s'",
                         launch_env);
    }
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
    if (G->launch_error) cudaFreeHost(G->launch_error);
    cudaEventDestroy(G->start);
    cudaEventDestroy(G->stop);
    for (int i = 0; i < G->nmarks; i++) cudaEventDestroy(G->marks[i]);
    cv_free(G->marks);
    cudaGetLastError();
    cv_free(G->grouping);
    cv_free(G->steps);
    cv_free(G->tensors);
    cv_free(G->ptrs);
    cv_free(G->present);
    cv_free(G->batched);
    cv_free(G);
    cuda->graphs = NULL;
}
