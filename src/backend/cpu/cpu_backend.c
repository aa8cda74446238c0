/*
 * cpu_backend.c: the CPU backend. Memory is host memory; a step runs its
 * op's CPU kernel once for the whole wave, or, when the step reads weights,
 * once per run of slices that read the same weights (on their rows, with
 * their weights: tenants that share a layer run it as one model at the
 * run's rows, one GEMM over all of them; distinct tenants, once per slice).
 * A tenant's weights are the host data of its graph, which the runtime's
 * weight store holds once for every tenant that has them.
 * The backend owns the thread pool its kernels split their work over
 * (src/core/threads.h); OpenBLAS itself runs on one thread.
 */
#include "backend/backend.h"
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <string.h>

typedef struct cpu_backend {
    cv_backend_t base;
    cv_cpu_ctx_t ctx;
} cpu_backend_t;

/* Buffers start on a cache line (the plan places values at multiples of
 * 64 bytes in them), so that blocks of a tensor that kernels split over
 * threads at 64-byte multiples share no line. The pointer cv_malloc
 * returned sits just before the aligned one. */
#define CPU_ALIGN 64

static cv_status cpu_alloc(cv_backend_t *b, size_t bytes, void **out, cv_err_t *err)
{
    char *raw = cv_malloc(bytes + CPU_ALIGN + sizeof(void *));
    if (!raw) {
        *out = NULL;
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of host memory (%zu bytes)", bytes);
    }
    uintptr_t at = ((uintptr_t)raw + sizeof(void *) + CPU_ALIGN - 1) & ~(uintptr_t)(CPU_ALIGN - 1);
    ((void **)at)[-1] = raw;
    *out = (void *)at;
    return CV_STATUS_OK;
}

static void cpu_free(cv_backend_t *b, void *ptr)
{
    if (ptr) cv_free(((void **)ptr)[-1]);
}

static cv_status cpu_copy(cv_backend_t *b, void *dst, const void *src, size_t bytes, cv_err_t *err)
{
    if (bytes) memcpy(dst, src, bytes);
    return CV_STATUS_OK;
}

static cv_status cpu_tenant_upload(cv_backend_t *b, const cv_graph_t *g, cv_precision_t precision,
                                   void *const *stored, void ***constants, cv_err_t *err)
{
    CV_ASSERT(precision == CV_PRECISION_FP32);
    void **table = cv_calloc((size_t)g->nvalues + 1, sizeof(void *));
    if (!table) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for constants");
    for (int v = 0; v < g->nvalues; v++)
        if (g->values[v].constant) table[v] = g->values[v].constant->data;
    *constants = table;
    return CV_STATUS_OK;
}

static void cpu_tenant_release(cv_backend_t *b, const cv_graph_t *g, void **constants)
{
    cv_free(constants);
}

static cv_status cpu_step_run(cv_backend_t *b, const cv_step_run_t *run, cv_err_t *err)
{
    cpu_backend_t *cpu = (cpu_backend_t *)b;
    const cv_op_def_t *def = cv_op_def(run->node->op);
    cv_op_args_t args = {.node = run->node, .inputs = run->inputs, .ninputs = run->ninputs,
                         .outputs = run->outputs, .noutputs = run->noutputs, .cpu = &cpu->ctx};
    if (cv_op_outputs_empty(&args)) return CV_STATUS_OK; /* however large the outer dims */
    bool weighted = run->plan->steps[run->step].weighted;
    if (!weighted || run->nslices == 1) return def->cpu(&args, err);

    /* Weighted step of a multi-slice wave: one kernel call per run of
     * slices with the same weights (the whole wave when they all share). */
    const cv_wave_slice_t *last = &run->slices[run->nslices - 1];
    if (run->slices[0].row0 == 0 && last->row0 + last->rows == cv_step_total_rows(run) &&
        cv_step_shared_run(run, 0) == run->nslices) {
        args.inputs = run->inputs; /* slice 0's weights, everyone's */
        return def->cpu(&args, err);
    }
    cv_step_views_t views;
    cv_status st = cv_step_views_init(&views, run, err);
    for (int s = 0; s < run->nslices && st == CV_STATUS_OK;) {
        int end = cv_step_shared_run(run, s);
        cv_step_run_views(run, s, end, &views);
        args.inputs = views.in_ptrs;
        args.outputs = views.out_ptrs;
        st = def->cpu(&args, err);
        s = end;
    }
    cv_step_views_free(&views);
    return st;
}

static void cpu_destroy(cv_backend_t *b)
{
    cpu_backend_t *cpu = (cpu_backend_t *)b;
    cv_cpu_ctx_release(&cpu->ctx);
    cv_pool_destroy(cpu->ctx.pool);
    cv_free(cpu);
}

static const cv_backend_i cpu_iface = {
    /* .name           = */ "cpu",
    /* .host_memory    = */ true,
    /* .alloc          = */ cpu_alloc,
    /* .free           = */ cpu_free,
    /* .host_alloc     = */ NULL,
    /* .host_free      = */ NULL,
    /* .upload         = */ cpu_copy,
    /* .download       = */ cpu_copy,
    /* .copy_many      = */ NULL,
    /* .tenant_upload  = */ cpu_tenant_upload,
    /* .tenant_release = */ cpu_tenant_release,
    /* .weight_upload  = */ NULL,
    /* .weight_release = */ NULL,
    /* .step_run       = */ cpu_step_run,
    /* .synchronize    = */ NULL,
    /* .wave_begin     = */ NULL,
    /* .wave_end       = */ NULL,
    /* .forget         = */ NULL,
    /* .bind           = */ NULL,
    /* .step_mark      = */ NULL,
    /* .step_times     = */ NULL,
    /* .stats          = */ NULL,
    /* .device_info    = */ NULL,
    /* .destroy        = */ cpu_destroy,
    /* .half_only_weights = */ NULL,
    /* .tenant_identity = */ NULL,
};

cv_status cv_backend_cpu_create(int threads, cv_backend_t **out, cv_err_t *err)
{
    cpu_backend_t *cpu = cv_calloc(1, sizeof(*cpu));
    if (!cpu) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory creating the CPU backend");
    cpu->base.iface = &cpu_iface;
    cpu->base.context = cpu;
    cpu->ctx.threads = threads > 0 ? threads : openblas_get_num_procs();
    if (cpu->ctx.threads < 1) cpu->ctx.threads = 1;
    /* Kernels split their GEMMs over the pool into single-threaded OpenBLAS
     * calls: at these sizes that scales better than OpenBLAS's own threads,
     * whose spinning also collapses when another process holds a core. */
    openblas_set_num_threads(1);
    if (cpu->ctx.threads > 1) {
        cv_status st = cv_pool_create(cpu->ctx.threads, &cpu->ctx.pool, err);
        if (st != CV_STATUS_OK) {
            cv_free(cpu);
            return st;
        }
    }
    *out = &cpu->base;
    return CV_STATUS_OK;
}

cv_cpu_ctx_t *cv_backend_cpu_ctx(cv_backend_t *b)
{
    CV_ASSERT(b->iface == &cpu_iface);
    return &((cpu_backend_t *)b)->ctx;
}
