/*
 * kernel_trace.c: device time per kernel of any CUDA program, for the GPU
 * machine, which has no Nsight Systems (issue 9: which kernels of a wave
 * cost what). A shared library the CUDA driver loads into the program
 * when CUDA_INJECTION64_PATH names it; it asks CUPTI for a record of every
 * kernel (those that CUDA graphs launch included) and, when the program
 * exits, writes the kernels summed by name, the costliest first:
 *
 *   CUDA_INJECTION64_PATH=libkernel_trace.so KERNEL_TRACE_OUT=trace.csv \
 *     caravel bench --device cuda ...
 *
 * trace.csv: name,launches,total_us,mean_us,share (names as the compiler
 * mangled them). KERNEL_TRACE_OUT unset: standard error. Records of
 * kernels that ran before KERNEL_TRACE_SKIP launches (default 0) are left
 * out, so that loading and warm-up can be kept apart by count.
 */
#include <cupti.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFFER_BYTES (8u << 20)
#define TABLE_SIZE 4096 /* distinct kernel names; a power of two */

typedef struct kernel_sum {
    char *name;
    uint64_t launches, ns;
} kernel_sum_t;

static kernel_sum_t table[TABLE_SIZE];
static uint64_t seen, skip, dropped_records, total_ns;
static int distinct;

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void add(const char *name, uint64_t ns)
{
    if (!name) name = "(unnamed)";
    if (seen++ < skip) return;
    uint64_t i = hash_name(name) & (TABLE_SIZE - 1);
    for (int probes = 0; probes < TABLE_SIZE; probes++, i = (i + 1) & (TABLE_SIZE - 1)) {
        if (!table[i].name) {
            if (!(table[i].name = strdup(name))) return;
            distinct++;
        } else if (strcmp(table[i].name, name)) {
            continue;
        }
        table[i].launches++;
        table[i].ns += ns;
        total_ns += ns;
        return;
    }
}

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
    *buffer = aligned_alloc(8, BUFFER_BYTES);
    *size = *buffer ? BUFFER_BYTES : 0;
    *max_records = 0;
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size, size_t valid)
{
    (void)ctx;
    (void)stream;
    (void)size;
    CUpti_Activity *record = NULL;
    while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
        if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || record->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
            const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)record;
            add(k->name, k->end > k->start ? k->end - k->start : 0);
        }
    }
    size_t dropped = 0;
    if (cuptiActivityGetNumDroppedRecords(ctx, stream, &dropped) == CUPTI_SUCCESS) dropped_records += dropped;
    free(buffer);
}

static int by_time(const void *a, const void *b)
{
    const kernel_sum_t *x = a, *y = b;
    return (x->ns < y->ns) - (x->ns > y->ns);
}

static void report(void)
{
    cuptiActivityFlushAll(1);
    kernel_sum_t *rows = calloc((size_t)distinct + 1, sizeof *rows);
    if (!rows) return;
    int n = 0;
    for (int i = 0; i < TABLE_SIZE; i++)
        if (table[i].name) rows[n++] = table[i];
    qsort(rows, (size_t)n, sizeof *rows, by_time);
    const char *path = getenv("KERNEL_TRACE_OUT");
    FILE *f = path && *path ? fopen(path, "w") : stderr;
    if (!f) {
        fprintf(stderr, "kernel_trace: cannot write '%s'\n", path);
        f = stderr;
    }
    fprintf(f, "name,launches,total_us,mean_us,share\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "\"%s\",%llu,%.1f,%.2f,%.4f\n", rows[i].name, (unsigned long long)rows[i].launches,
                rows[i].ns / 1e3, rows[i].ns / 1e3 / (double)rows[i].launches,
                total_ns ? (double)rows[i].ns / (double)total_ns : 0.0);
    fprintf(f, "\"(all kernels)\",%llu,%.1f,,1\n", (unsigned long long)(seen > skip ? seen - skip : 0),
            total_ns / 1e3);
    if (dropped_records) fprintf(stderr, "kernel_trace: CUPTI dropped %zu records\n", (size_t)dropped_records);
    if (f != stderr) fclose(f);
    free(rows);
}

/* Called by the CUDA driver when it loads this library
 * (CUDA_INJECTION64_PATH), before the program's first CUDA call returns. */
int InitializeInjection(void)
{
    const char *s = getenv("KERNEL_TRACE_SKIP");
    skip = s && *s ? strtoull(s, NULL, 10) : 0;
    if (cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS ||
        cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) {
        fprintf(stderr, "kernel_trace: CUPTI refused to trace kernels; no trace\n");
        return 1;
    }
    atexit(report);
    return 1;
}
