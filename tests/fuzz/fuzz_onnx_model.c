/*
 * fuzz_onnx_model.c: the fuzz target of the model path. One input is the
 * bytes of an ONNX file; it goes the way a tenant's model goes:
 * cv_onnx_load_buffer (external data read from cv_fuzz_data_dir) ->
 * cv_ir_prepare (constant and BatchNorm folding) -> cv_plan_fuse_residuals
 * (a probe plan, residual Adds folded into Convs) -> cv_plan_build at one
 * row and, for a batched graph, at two (shape
 * inference, plan-time folding, stacking) -> when the model is small, one
 * run of each plan on the CPU backend (the two-row plan as a wave of two
 * slices when it is stackable), with deterministic input values.
 *
 * Built two ways (tests/fuzz/CMakeLists.txt): by `make fuzz` with clang and
 * -fsanitize=fuzzer,address,undefined (scripts/fuzz.sh runs it), and with
 * the ordinary compiler next to replay.c, which `make test` uses to replay
 * the seeds in ../shared (tests/fuzz/seeds/onnx_model.txt),
 * tests/fuzz/corpus/onnx_model/ and every input in tests/fuzz/crashes/onnx_model/.
 *
 * An input fails when a sanitizer reports, when it trips a CV_ASSERT (those
 * guard the project's own invariants; no model may reach one), when the
 * plan breaks its own invariants (check_plan), or when it leaks: everything
 * runs under its own allocation account, which must be back to zero at the
 * end. A quarter of the inputs (chosen by a hash, so replays agree) run a
 * second time with an allocation failing part way (cv_alloc_fail_after),
 * which reaches the out-of-memory paths of every stage.
 *
 * What it deliberately does not do: make the library safe. The caps below
 * (nodes, memory, work of a run) only keep one input from taking seconds,
 * so that the fuzzer explores rather than waits on huge legitimate shapes;
 * the library must be safe without them (a model past the memory cap fails
 * with CV_STATUS_OUT_OF_MEMORY, a path worth fuzzing too).
 */
#include "backend/backend.h"
#include "exec/exec.h"
#include "backend/cpu/cpu.h"
#include "ir/passes.h"
#include "onnx/onnx_loader.h"

#include "fuzz_data_dir.h"

#include <stdlib.h>
#include <string.h>

/* Larger graphs are loaded but not prepared: folding and planning walk the
 * graph a few times per node. The largest seed (densenet121) has 1746. */
#define FUZZ_MAX_NODES 2000
/* Every allocation of one input; past it the library reports OUT_OF_MEMORY. */
#define FUZZ_MEMORY_BYTES ((size_t)64 << 20)
/* A plan runs only when its arena, inputs and outputs fit in this... */
#define FUZZ_RUN_BYTES ((size_t)4 << 20)
/* ...and its steps touch about this many elements at most (see step_work). */
#define FUZZ_RUN_WORK 5e7

/* CARAVEL_FUZZ_VERBOSE=1 in the environment: one line per stage an input
 * reaches, with the library's message when it refuses the input there. */
static void trace(const char *stage, cv_status st, const cv_err_t *err)
{
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("CARAVEL_FUZZ_VERBOSE") != NULL;
    if (!verbose) return;
    if (st == CV_STATUS_OK)
        fprintf(stderr, "fuzz: %s: ok\n", stage);
    else
        fprintf(stderr, "fuzz: %s: %s: %s\n", stage, cv_status_str(st), err ? err->msg : "");
}

/* Bytes of dtype x shape, or SIZE_MAX when it overflows or is not storable. */
static size_t shape_bytes(cv_dtype_t dtype, const cv_shape_t *shape)
{
    size_t n = cv_dtype_size(dtype);
    if (n == 0 || shape->ndim < 0 || shape->ndim > CV_MAX_DIMS) return SIZE_MAX;
    for (int d = 0; d < shape->ndim; d++) {
        if (shape->dims[d] < 0) return SIZE_MAX;
        if (shape->dims[d] > 0 && n > SIZE_MAX / 2 / (size_t)shape->dims[d]) return SIZE_MAX;
        n *= (size_t)shape->dims[d];
    }
    return n;
}

static double numel_of(const cv_plan_t *plan, int v)
{
    if (v < 0) return 0;
    double n = 1;
    for (int d = 0; d < plan->values[v].shape.ndim; d++) n *= (double)plan->values[v].shape.dims[d];
    return n;
}

/* About how many elements a step touches: its operands, plus the
 * multiply-adds of the ops whose work grows faster than their operands. */
static double step_work(const cv_plan_t *plan, const cv_node_t *n)
{
    double work = 0;
    for (int i = 0; i < n->ninputs; i++) work += numel_of(plan, n->inputs[i]);
    for (int o = 0; o < n->noutputs; o++) work += numel_of(plan, n->outputs[o]);
    double out = n->noutputs > 0 ? numel_of(plan, n->outputs[0]) : 0;
    const cv_shape_t *a = n->ninputs > 0 && n->inputs[0] >= 0 ? &plan->values[n->inputs[0]].shape : NULL;
    const cv_shape_t *b = n->ninputs > 1 && n->inputs[1] >= 0 ? &plan->values[n->inputs[1]].shape : NULL;
    int nk = 0;
    const int64_t *k;
    switch (n->op) {
    case CV_OP_CONV: /* each output: one filter's Cin/group x kernel */
        if (b && b->ndim > 0 && b->dims[0] > 0) work += out * numel_of(plan, n->inputs[1]) / (double)b->dims[0];
        break;
    case CV_OP_GEMM:
    case CV_OP_MATMUL: /* each output: K products */
        if (a && a->ndim > 0) work += out * (double)a->dims[n->op == CV_OP_GEMM && cv_node_attr_int(n, "transA", 0) ? 0 : a->ndim - 1];
        break;
    case CV_OP_MAX_POOL:
    case CV_OP_AVERAGE_POOL:
        k = cv_node_attr_ints(n, "kernel_shape", &nk);
        for (int i = 0; i < nk; i++) out *= (double)k[i];
        work += out;
        break;
    case CV_OP_LRN: work += out * (double)cv_node_attr_int(n, "size", 1); break;
    default: break;
    }
    return work;
}

/* The plan's own invariants, checked before any run (a run would only
 * find a violation by corrupting memory): every activation lies inside the
 * arena, and a view never holds more bytes than the value it views. */
static void check_plan(const cv_plan_t *plan)
{
    const cv_graph_t *g = plan->graph;
    for (int v = 0; v < g->nvalues; v++) {
        const cv_plan_value_t *pv = &plan->values[v];
        size_t bytes = shape_bytes(pv->dtype, &pv->shape);
        if (pv->alias_of >= 0) {
            const cv_plan_value_t *root = &plan->values[pv->alias_of];
            if (bytes > shape_bytes(root->dtype, &root->shape)) {
                fprintf(stderr, "fuzz_onnx_model: plan: view '%s' is larger than '%s'\n",
                        g->values[v].name, g->values[pv->alias_of].name);
                abort();
            }
            continue;
        }
        if (pv->storage != CV_STORAGE_ARENA) continue;
        if (bytes == SIZE_MAX || pv->offset > plan->arena_bytes ||
            bytes > plan->arena_bytes - pv->offset) {
            fprintf(stderr,
                    "fuzz_onnx_model: plan: '%s' (%zu bytes at %zu) is not inside the arena of "
                    "%zu bytes\n",
                    g->values[v].name, bytes, pv->offset, plan->arena_bytes);
            abort();
        }
    }
}

/* Whether running `plan` stays within the caps. */
static bool small_enough_to_run(const cv_plan_t *plan)
{
    const cv_graph_t *g = plan->graph;
    size_t bytes = plan->arena_bytes;
    for (int i = 0; i < g->ninputs; i++) {
        size_t n = shape_bytes(plan->values[g->inputs[i]].dtype, &plan->input_shapes[i]);
        if (n > FUZZ_RUN_BYTES) return false;
        bytes += n;
    }
    for (int o = 0; o < g->noutputs; o++) {
        size_t n = shape_bytes(plan->values[g->outputs[o]].dtype, &plan->values[g->outputs[o]].shape);
        if (n > FUZZ_RUN_BYTES) return false;
        bytes += n;
    }
    if (bytes > FUZZ_RUN_BYTES) return false;
    double work = 0;
    for (int s = 0; s < plan->nsteps; s++) work += step_work(plan, &g->nodes[plan->steps[s].node]);
    return work <= FUZZ_RUN_WORK;
}

/* The shapes of one request of `rows` rows: declared dims, `rows` for the
 * batch axis, 1 for any other symbolic dim. */
static void request_shapes(const cv_graph_t *g, int64_t rows, cv_shape_t *shapes)
{
    for (int i = 0; i < g->ninputs; i++) {
        shapes[i] = g->values[g->inputs[i]].shape;
        for (int d = 0; d < shapes[i].ndim; d++)
            if (shapes[i].dims[d] < 0) shapes[i].dims[d] = 1;
        if (g->batched && shapes[i].ndim > 0) shapes[i].dims[0] = rows;
    }
}

/* Allocates one row's inputs (shapes[i]) with fixed values: small floats
 * in [-1, 1], integers 0, 1, 2 (valid indices and dims often enough), and
 * alternating booleans. False (nothing allocated) when they are too big or
 * of a dtype that cannot be stored. */
static bool make_inputs(const cv_graph_t *g, const cv_shape_t *shapes, cv_tensor_t *inputs)
{
    size_t total = 0;
    for (int i = 0; i < g->ninputs; i++) {
        size_t n = shape_bytes(g->values[g->inputs[i]].dtype, &shapes[i]);
        if (n > FUZZ_RUN_BYTES || (total += n) > FUZZ_RUN_BYTES) return false;
    }
    for (int i = 0; i < g->ninputs; i++) {
        cv_tensor_t *t = &inputs[i];
        if (cv_tensor_alloc(t, g->values[g->inputs[i]].dtype, &shapes[i]) != CV_STATUS_OK) {
            for (int k = 0; k < i; k++) cv_tensor_free(&inputs[k]);
            return false;
        }
        int64_t numel = cv_shape_numel(&shapes[i]);
        bool is_float = t->dtype == CV_DTYPE_FP32 || t->dtype == CV_DTYPE_FP64 ||
                        t->dtype == CV_DTYPE_FP16 || t->dtype == CV_DTYPE_BF16;
        for (int64_t e = 0; e < numel; e++) {
            if (is_float)
                cv_tensor_set_f64(t, e, (double)((e * 37) % 17 - 8) / 8.0);
            else
                cv_tensor_set_i64(t, e, t->dtype == CV_DTYPE_BOOL ? e & 1 : e % 3);
        }
    }
    return true;
}

/* Runs `plan` as a wave of `nslices` slices, each of them the same tenant
 * (constants) with the same one-row `inputs`. Errors are fine: a model may
 * be refused at any step; only crashes and leaks are failures. */
static void run_plan(cv_executor_t *ex, const cv_plan_t *plan, void **constants, int nslices,
                     const cv_tensor_t *inputs)
{
    const cv_graph_t *g = plan->graph;
    cv_wave_slice_t slices[2];
    const cv_tensor_t *slice_inputs[2];
    cv_tensor_t *slice_outputs[2] = {NULL, NULL};
    cv_err_t err;
    CV_ASSERT(nslices >= 1 && nslices <= 2);
    bool ok = true;
    int64_t rows = plan->rows / nslices;
    for (int s = 0; s < nslices; s++) {
        slices[s] = (cv_wave_slice_t){.row0 = s * rows, .rows = rows, .constants = constants};
        slice_inputs[s] = inputs;
        slice_outputs[s] = cv_calloc((size_t)g->noutputs + 1, sizeof(cv_tensor_t));
        if (!slice_outputs[s]) ok = false;
        for (int o = 0; ok && o < g->noutputs; o++) {
            const cv_plan_value_t *pv = &plan->values[g->outputs[o]];
            cv_shape_t shape = pv->shape;
            if (pv->batched) shape.dims[0] = shape.dims[0] / plan->rows * rows;
            if (cv_tensor_alloc(&slice_outputs[s][o], pv->dtype, &shape) != CV_STATUS_OK) ok = false;
        }
    }
    if (ok)
        trace(nslices == 1 ? "run" : "run of two slices",
              cv_exec_wave(ex, plan, slices, nslices, CV_PRECISION_FP32, slice_inputs,
                           (cv_tensor_t *const *)slice_outputs, &err),
              &err);
    else
        trace("run", CV_STATUS_OUT_OF_MEMORY, NULL);
    for (int s = 0; s < nslices; s++) {
        for (int o = 0; slice_outputs[s] && o < g->noutputs; o++) cv_tensor_free(&slice_outputs[s][o]);
        cv_free(slice_outputs[s]);
    }
}

/* Plans g at `rows` rows and runs the plan when it is small enough: as one
 * slice, and at two rows also as two stacked slices of one row. */
static void plan_and_run(const cv_graph_t *g, int64_t rows, cv_cpu_ctx_t *cpu)
{
    cv_shape_t *shapes = cv_malloc(sizeof(cv_shape_t) * (size_t)(g->ninputs + 1));
    cv_tensor_t *inputs = cv_calloc((size_t)g->ninputs + 1, sizeof(cv_tensor_t));
    cv_plan_t *plan = NULL;
    cv_backend_t *backend = NULL;
    cv_executor_t *ex = NULL;
    void **constants = NULL;
    bool have_inputs = false;
    cv_err_t err;
    if (!shapes || !inputs) goto done;

    /* Inputs of one row: the values an unbatched plan may read (a shape fed
     * as an input), and each slice's inputs of a run. */
    request_shapes(g, 1, shapes);
    have_inputs = make_inputs(g, shapes, inputs);
    request_shapes(g, rows, shapes);
    cv_status st = cv_plan_build(g, shapes, rows == 1 && have_inputs ? inputs : NULL, cpu, &plan, &err);
    trace(rows == 1 ? "plan at one row" : "plan at two rows", st, &err);
    if (st != CV_STATUS_OK) goto done;
    check_plan(plan);
    int nslices = rows == 1 ? 1 : plan->stackable ? 2 : 0;
    if (!have_inputs || nslices == 0 || !small_enough_to_run(plan)) {
        trace("run skipped (too big, or not stackable)", CV_STATUS_OK, NULL);
        goto done;
    }
    st = cv_backend_cpu_create(1, &backend, &err);
    if (st == CV_STATUS_OK) st = cv_exec_create(backend, &ex, &err);
    if (st == CV_STATUS_OK)
        st = backend->iface->tenant_upload(backend, g, CV_PRECISION_FP32, NULL, &constants, &err);
    trace("backend", st, &err);
    if (st == CV_STATUS_OK) run_plan(ex, plan, constants, nslices, inputs);
done:
    if (constants) backend->iface->tenant_release(backend, g, constants);
    cv_exec_destroy(ex);
    if (backend) backend->iface->destroy(backend);
    cv_plan_destroy(plan);
    for (int i = 0; have_inputs && i < g->ninputs; i++) cv_tensor_free(&inputs[i]);
    cv_free(inputs);
    cv_free(shapes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One pass of the input through the whole path, under its own account;
 * `pass` names it in the leak report. */
static void one_pass(const uint8_t *data, size_t size, const char *pass)
{
    cv_account_t account = {.name = "fuzz", .limit_bytes = FUZZ_MEMORY_BYTES};
    cv_account_t *previous = cv_account_use(&account);
    cv_cpu_ctx_t cpu = {.threads = 1};
    cv_graph_t *g = NULL;
    cv_err_t err;
    cv_status st = cv_onnx_load_buffer(data, size, "fuzz.onnx", cv_fuzz_data_dir(), &g, &err);
    trace("load", st, &err);
    if (st == CV_STATUS_OK && g->nnodes > FUZZ_MAX_NODES) {
        trace("too many nodes to go on", CV_STATUS_OK, NULL);
        st = CV_STATUS_UNSUPPORTED;
    }
    if (st == CV_STATUS_OK) {
        st = cv_ir_prepare(g, &cpu, &err);
        trace("prepare", st, &err);
    }
    if (st == CV_STATUS_OK) {
        st = cv_plan_fuse_residuals(g, &cpu, &err);
        trace("fuse", st, &err);
    }
    if (st == CV_STATUS_OK) {
        plan_and_run(g, 1, &cpu);
        if (g->batched) plan_and_run(g, 2, &cpu);
    }
    cv_graph_destroy(g);
    cv_cpu_ctx_release(&cpu);
    cv_account_use(previous);
    if (account.live_bytes != 0) {
        fprintf(stderr, "fuzz_onnx_model: leak: %zu bytes still allocated after the %s pass\n",
                account.live_bytes, pass);
        abort();
    }
}

/* FNV-1a: decides, the same way in every replay, which inputs also take
 * an out-of-memory pass and where it fails. */
static uint64_t input_hash(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_pass(data, size, "normal");
    /* A quarter of the inputs again with the n-th allocation failing, and
     * every one after it: each failure path must return a status and free
     * what it made (n log-uniform in [1, 4096]: parsing alone takes
     * hundreds). */
    uint64_t h = input_hash(data, size);
    if (h % 4 == 0) {
        long n = 1 + (long)((h >> 8) % ((uint64_t)1 << (1 + (h >> 40) % 12)));
        cv_alloc_fail_after(n);
        one_pass(data, size, "out-of-memory");
        cv_alloc_fail_after(0);
    }
    return 0;
}
