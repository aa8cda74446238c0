/*
 * cmd_bench.c: `caravel bench`: the throughput of one wave of R tenants of
 * one family (the paper's space-time super-kernels), measured as the median
 * of repeated waves after warm-up, with rotating inputs.
 *
 * Tenants come from model files (one per tenant, distinct weights); with
 * fewer files than tenants the files are reused in turn (then say so: the
 * tenants are copies). Each tenant sends `rows` rows per wave.
 *
 * Two times per wave: wall (cv_wave_run as the caller sees it: uploads,
 * launches, downloads) and, on CUDA, device time (events around the wave's
 * launches, from cv_runtime_stats), with the super-kernel cache's counters.
 * Each as the median and the 99th percentile over the timed waves, with the
 * wave's floating-point operations (cv_runtime_stats.last_wave_flops) and
 * the rate they imply. Then the tenants' memory (issue 14: tenants that
 * share layers store them once): per tenant, own and shared, the weights
 * the runtime stores, what the device's used memory grew by while loading,
 * and the load time that hashing the weights took.
 */
#include "cli.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 256
#define INPUT_SETS 4

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel bench --model M.onnx [--model M2.onnx ...] [--tenants R]\n"
            "                     [--rows N] [--waves W] [--warmup K] [--precision P]\n"
            "                     [--device cpu|cuda] [--threads T] [--graphs on|off]\n"
            "                     [--csv LABEL]\n"
            "\n"
            "Loads R tenants (one per --model file, files reused in turn when fewer\n"
            "than R are given), then times W waves of all R tenants with N rows each,\n"
            "after K warm-up waves, rotating among %d input sets. Prints the median\n"
            "and minimum wave time and the implied inferences per second; on CUDA\n"
            "also the median device time of a wave and the CUDA-graph cache counters.\n"
            "\n"
            "  --tenants R      tenants loaded (default: the number of --model)\n"
            "  --members M      tenants per wave, drawn at random among the R for every\n"
            "                   wave, in a random order (M = R: all R, shuffled; default:\n"
            "                   all R, the same order every wave): how waves of other\n"
            "                   members fare against the super-kernel cache\n"
            "  --rows N[,N2,..] rows per tenant per wave (default 1); a list gives tenant t\n"
            "                   the (t mod length)-th entry: waves of slices of several\n"
            "                   heights, as the scheduler forms them (not with --members)\n"
            "  --waves W        timed waves (default 20)\n"
            "  --warmup K       warm-up waves (default 3)\n"
            "  --precision P    fp32 (default), tf32, fp16 or bf16\n"
            "  --graphs on|off  CUDA: the super-kernel (CUDA-graph) cache, on by default\n"
            "                   (the same as CARAVEL_CUDA_GRAPHS=0 in the environment)\n"
            "  --csv LABEL      also print one CSV line: LABEL,R,N,median_ms,min_ms,inf_per_s,\n"
            "                   device_median_ms,device_inf_per_s,p99_ms,device_p99_ms,\n"
            "                   gflop_per_wave (device: 0 on the CPU; p99: nearest rank over\n"
            "                   the W waves; gflop: 2 per multiply-add of Conv, Gemm, MatMul)\n"
            "  --profile        run each wave's steps one by one (no CUDA graph) and print\n"
            "                   the median time of each kind of step (conv kxk, conv 1x1,\n"
            "                   depthwise, gemm, layout, elementwise, pooling, reductions)\n"
            "                   and of the slowest steps; with --csv, CSV lines too\n"
            "                   (LABEL,profile,kind,ms,share)\n"
            "  --top K          steps listed by --profile (default 12)\n"
            "  --no-fusion      load the tenants without the fusions decided on a plan (a\n"
            "                   residual Add folded into the Conv before it), to measure\n"
            "                   what they gain\n"
            "  --no-sharing     every tenant keeps its own copy of every weight (by default\n"
            "                   identical weight tensors of tenants are stored once and the\n"
            "                   steps that read them run as one batch), to measure what\n"
            "                   sharing gains\n"
            "  --memory-csv     with --csv, add to its line: weight_tensors,shared_tensors,\n"
            "                   device_weight_bytes,device_bytes_per_tenant,\n"
            "                   device_shared_per_tenant,device_used_growth,host_bytes_per_tenant,\n"
            "                   hash_ms_per_tenant,load_s (device used: what the device's\n"
            "                   used memory grew by while the tenants loaded; per tenant:\n"
            "                   means of cv_tenant_memory)\n",
            INPUT_SETS);
}

#define MAX_ROW_LIST 64

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The step profiles of the timed waves: steps[] of the first, and each
 * step's time in every wave (ms[step * waves + wave]). */
typedef struct profile {
    cv_step_profile_t *steps;
    int nsteps;
    double *ms;
} profile_t;

static bool keep_steps(cv_runtime_t *rt, profile_t *p, long wave, long waves)
{
    int n = cv_runtime_step_profile(rt, NULL, 0);
    if (!p->steps) {
        p->steps = cv_calloc((size_t)n + 1, sizeof(*p->steps));
        p->ms = cv_calloc((size_t)(n * waves) + 1, sizeof(double));
        if (!p->steps || !p->ms) return false;
        p->nsteps = cv_runtime_step_profile(rt, p->steps, n);
    }
    cv_step_profile_t one[n + 1];
    cv_runtime_step_profile(rt, one, n);
    for (int s = 0; s < n && s < p->nsteps; s++) p->ms[s * waves + wave] = one[s].ms;
    return true;
}

/* The q-quantile by nearest rank of n sorted values. */
static double quantile_sorted(const double *v, long n, double q)
{
    long k = (long)ceil(q * (double)n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static double median_of(double *v, long n)
{
    qsort(v, (size_t)n, sizeof(double), compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct step_rank {
    int step;
    double ms;
} step_rank_t;

static int slower_first(const void *a, const void *b)
{
    double x = ((const step_rank_t *)a)->ms, y = ((const step_rank_t *)b)->ms;
    return (x < y) - (x > y);
}

/* Medians per step over the waves, summed by kind; then the slowest steps. */
static void print_profile(profile_t *p, long waves, long top, const char *csv)
{
    double by_kind[CV_STEP_KIND_COUNT] = {0}, total = 0;
    int count[CV_STEP_KIND_COUNT] = {0};
    step_rank_t rank[p->nsteps + 1];
    for (int s = 0; s < p->nsteps; s++) {
        double m = median_of(&p->ms[s * waves], waves);
        by_kind[p->steps[s].kind] += m;
        count[p->steps[s].kind]++;
        total += m;
        rank[s] = (step_rank_t){s, m};
    }
    printf("profile: %d steps, %.3f ms a wave (medians over %ld waves, steps one by one)\n", p->nsteps, total, waves);
    printf("  %-20s %6s %10s %7s\n", "kind", "steps", "ms", "share");
    for (int k = 0; k < CV_STEP_KIND_COUNT; k++) {
        if (!count[k]) continue;
        double share = total > 0 ? 100 * by_kind[k] / total : 0;
        printf("  %-20s %6d %10.3f %6.1f%%\n", cv_step_kind_name((cv_step_kind_t)k), count[k], by_kind[k], share);
        if (csv) printf("%s,profile,%s,%.4f,%.4f\n", csv, cv_step_kind_name((cv_step_kind_t)k), by_kind[k], share);
    }
    qsort(rank, (size_t)p->nsteps, sizeof(*rank), slower_first);
    printf("  slowest steps:\n");
    for (int i = 0; i < p->nsteps && i < top; i++) {
        const cv_step_profile_t *st = &p->steps[rank[i].step];
        printf("  %10.3f ms  %-20s %s\n", rank[i].ms, cv_step_kind_name(st->kind), st->node);
    }
}

/* The tenants' memory once loaded (cv_tenant_memory, cv_runtime_stats). */
typedef struct bench_memory {
    cv_runtime_stats_t stats;
    double device_per_tenant, device_shared_per_tenant, host_per_tenant, host_shared_per_tenant;
    double hash_ms_per_tenant, hash_ms_max, load_s;
    long long device_growth; /* the device's used memory after loading less before; -1: unknown */
} bench_memory_t;

static void measure_memory(cv_runtime_t *rt, cv_tenant_t *const *ts, long n, const cv_device_info_t *before,
                           double load_s, bench_memory_t *m)
{
    memset(m, 0, sizeof(*m));
    cv_runtime_stats(rt, &m->stats);
    for (long t = 0; t < n; t++) {
        cv_tenant_memory_t tm;
        cv_tenant_memory(ts[t], &tm);
        m->device_per_tenant += (double)(tm.device_own + tm.device_shared) / (double)n;
        m->device_shared_per_tenant += (double)tm.device_shared / (double)n;
        m->host_per_tenant += (double)(tm.host_own + tm.host_shared) / (double)n;
        m->host_shared_per_tenant += (double)tm.host_shared / (double)n;
        m->hash_ms_per_tenant += tm.hash_ms / (double)n;
        if (tm.hash_ms > m->hash_ms_max) m->hash_ms_max = tm.hash_ms;
    }
    m->load_s = load_s;
    cv_device_info_t after;
    m->device_growth = -1;
    if (before && before->total_bytes && cv_runtime_device_info(rt, &after, NULL) == CV_STATUS_OK)
        m->device_growth = (long long)(before->free_bytes - after.free_bytes);
}

static void print_memory(const bench_memory_t *m, long n, bool device)
{
    const double mib = 1024.0 * 1024.0;
    const cv_runtime_stats_t *s = &m->stats;
    printf("bench: memory: %ld tenants, %ld weight tensors stored (%ld read by several tenants), %.1f MiB on the "
           "host, %.1f MiB on the device; storing shared tensors once saves %.1f MiB\n",
           n, s->weight_tensors, s->shared_weight_tensors, (double)s->weight_host_bytes / mib,
           (double)s->weight_device_bytes / mib, (double)s->weight_saved_bytes / mib);
    printf("bench: memory per tenant: host %.2f MiB (%.2f MiB its part of shared weights)", m->host_per_tenant / mib,
           m->host_shared_per_tenant / mib);
    if (device)
        printf(", device %.2f MiB (%.2f MiB shared part)", m->device_per_tenant / mib,
               m->device_shared_per_tenant / mib);
    if (m->device_growth >= 0) printf("; the device's used memory grew by %.1f MiB", (double)m->device_growth / mib);
    printf("\nbench: loading took %.2f s; hashing and comparing weights %.2f ms per tenant (at most %.2f ms)\n",
           m->load_s, m->hash_ms_per_tenant, m->hash_ms_max);
}

int cv_cmd_bench(int argc, char **argv)
{
    const char *models[MAX_MODELS];
    int nmodels = 0;
    long tenants = 0, members = 0, waves = 20, warmup = 3, threads = 0;
    long row_list[MAX_ROW_LIST] = {1};
    int nrows = 1;
    const char *rows_arg = "1";
    cv_precision_t precision = CV_PRECISION_FP32;
    cv_device_t device = CV_DEVICE_CPU;
    const char *csv = NULL;
    bool graphs = true, profile = false, no_fusion = false, no_sharing = false, memory_csv = false;
    long top = 12;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--profile")) {
            profile = true;
            continue;
        }
        if (!strcmp(a, "--no-fusion")) {
            no_fusion = true;
            continue;
        }
        if (!strcmp(a, "--no-sharing")) {
            no_sharing = true;
            continue;
        }
        if (!strcmp(a, "--memory-csv")) {
            memory_csv = true;
            continue;
        }
        const char *v = cv_cli_option_value("caravel bench", argc, argv, &i);
        if (!v) return 2;
        if (!strcmp(a, "--model")) {
            if (nmodels == MAX_MODELS) {
                fprintf(stderr, "caravel bench: at most %d --model files\n", MAX_MODELS);
                return 2;
            }
            models[nmodels++] = v;
        } else if (!strcmp(a, "--tenants")) {
            if (!cv_cli_parse_int("--tenants", v, 1, &tenants)) return 2;
        } else if (!strcmp(a, "--top")) {
            if (!cv_cli_parse_int("--top", v, 1, &top)) return 2;
        } else if (!strcmp(a, "--members")) {
            if (!cv_cli_parse_int("--members", v, 1, &members)) return 2;
        } else if (!strcmp(a, "--rows")) {
            if (!cv_cli_parse_int_list("--rows", v, 1, row_list, MAX_ROW_LIST, &nrows)) return 2;
            rows_arg = v;
        } else if (!strcmp(a, "--waves")) {
            if (!cv_cli_parse_int("--waves", v, 1, &waves)) return 2;
        } else if (!strcmp(a, "--warmup")) {
            if (!cv_cli_parse_int("--warmup", v, 0, &warmup)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!cv_cli_parse_int("--threads", v, 1, &threads)) return 2;
        } else if (!strcmp(a, "--precision")) {
            if (!cv_cli_parse_precision(v, &precision)) return 2;
        } else if (!strcmp(a, "--device")) {
            if (!cv_cli_parse_device(v, &device)) return 2;
        } else if (!strcmp(a, "--graphs")) {
            if (strcmp(v, "on") && strcmp(v, "off")) {
                fprintf(stderr, "caravel bench: --graphs takes on or off, not '%s'\n", v);
                return 2;
            }
            graphs = !strcmp(v, "on");
        } else if (!strcmp(a, "--csv")) {
            csv = v;
        } else {
            fprintf(stderr, "caravel bench: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (nmodels == 0) {
        fprintf(stderr, "caravel bench: give at least one --model (see --help)\n");
        return 2;
    }
    if (tenants == 0) tenants = nmodels;
    /* Members are drawn for every wave whenever --members is given. */
    bool drawn = members > 0;
    if (members == 0) members = tenants;
    if (members > tenants) {
        fprintf(stderr, "caravel bench: --members %ld is more than the %ld tenants\n", members, tenants);
        return 2;
    }
    if (nrows > 1 && drawn) {
        fprintf(stderr, "caravel bench: --rows with a list needs every tenant in every wave (no --members)\n");
        return 2;
    }

    int rc = 1;
    cv_err_t err = {{0}};
    cv_runtime_t *rt = NULL;
    profile_t prof = {0};
    cv_tenant_t **ts = cv_calloc((size_t)tenants, sizeof(*ts));
    cv_tensor_t *inputs = cv_calloc((size_t)tenants * INPUT_SETS, sizeof(cv_tensor_t));
    cv_tensor_t *outputs = cv_calloc((size_t)tenants * 16, sizeof(cv_tensor_t));
    cv_slice_io_t *slices = cv_calloc((size_t)tenants, sizeof(*slices));
    long *order = cv_calloc((size_t)tenants, sizeof(*order));
    double *times = cv_calloc((size_t)waves, sizeof(double));
    double *device_times = cv_calloc((size_t)waves, sizeof(double));
    long loaded = 0;
    if (!ts || !inputs || !outputs || !slices || !order || !times || !device_times) {
        fprintf(stderr, "caravel bench: out of memory\n");
        goto done;
    }
    /* The CUDA backend reads it when the runtime makes it. */
    if (!graphs) setenv("CARAVEL_CUDA_GRAPHS", "0", 1);
    cv_runtime_config_t config = {.device = device, .threads = (int)threads, .no_profile = true,
                                  .step_profile = profile, .no_fusion = no_fusion,
                                  .no_weight_sharing = no_sharing};
    if (cv_runtime_create(&config, &rt, &err) != CV_STATUS_OK) goto fail;
    cv_device_info_t info_before;
    bool has_before = cv_runtime_device_info(rt, &info_before, NULL) == CV_STATUS_OK;
    uint64_t load_start = cv_clock_ns();
    for (; loaded < tenants; loaded++) {
        char name[32];
        snprintf(name, sizeof name, "tenant%ld", loaded);
        if (cv_tenant_load(rt, name, models[loaded % nmodels], precision, &ts[loaded], &err) != CV_STATUS_OK)
            goto fail;
        if (cv_tenant_num_inputs(ts[loaded]) != 1 || cv_tenant_input_dtype(ts[loaded], 0) != CV_DTYPE_FP32 ||
            cv_tenant_num_outputs(ts[loaded]) > 16) {
            fprintf(stderr, "caravel bench: %s: bench needs one FP32 input and at most 16 outputs\n",
                    models[loaded % nmodels]);
            loaded++;
            goto done;
        }
        cv_shape_t s = cv_tenant_input_shape(ts[loaded], 0);
        for (int d = 0; d < s.ndim; d++)
            if (s.dims[d] < 0) s.dims[d] = d == 0 ? row_list[loaded % nrows] : 1;
        for (int k = 0; k < INPUT_SETS; k++) {
            cv_tensor_t *t = &inputs[loaded * INPUT_SETS + k];
            if (cv_tensor_alloc(t, CV_DTYPE_FP32, &s) != CV_STATUS_OK) {
                fprintf(stderr, "caravel bench: out of memory for inputs\n");
                goto done;
            }
            float *p = t->data;
            uint64_t x = (uint64_t)(loaded * INPUT_SETS + k) * 2654435761u + 1;
            for (int64_t e = 0; e < cv_shape_numel(&s); e++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                p[e] = (float)((double)(x >> 40) / (double)(1ull << 24)) - 0.5f;
            }
        }
    }
    double load_s = (double)(cv_clock_ns() - load_start) / 1e9;
    if (nmodels < tenants)
        fprintf(stderr, "caravel bench: note: %d model files for %ld tenants: tenants reuse files in turn%s\n",
                nmodels, tenants, no_sharing ? "" : " (and share every weight: see --no-sharing)");
    bench_memory_t mem;
    measure_memory(rt, ts, tenants, has_before ? &info_before : NULL, load_s, &mem);

    uint64_t draw = 0x9E3779B97F4A7C15ull;
    for (long w = -warmup; w < waves; w++) {
        int set = (int)((w + warmup) % INPUT_SETS);
        for (long t = 0; t < tenants; t++) order[t] = t;
        /* A fresh draw of members for every wave (a partial shuffle). */
        for (long t = 0; drawn && t < members; t++) {
            draw = draw * 6364136223846793005ull + 1442695040888963407ull;
            long pick = t + (long)((draw >> 33) % (uint64_t)(tenants - t)), keep = order[t];
            order[t] = order[pick];
            order[pick] = keep;
        }
        for (long m = 0; m < members; m++) {
            long t = order[m];
            slices[m] = (cv_slice_io_t){.tenant = ts[t], .inputs = &inputs[t * INPUT_SETS + set],
                                        .outputs = &outputs[m * 16]};
        }
        uint64_t t0 = cv_clock_ns();
        if (cv_wave_run(rt, slices, (int)members, &err) != CV_STATUS_OK) goto fail;
        uint64_t t1 = cv_clock_ns();
        if (w >= 0) {
            cv_runtime_stats_t st;
            times[w] = (double)(t1 - t0) / 1e6;
            device_times[w] = cv_runtime_stats(rt, &st) == CV_STATUS_OK ? st.last_wave_device_ms : 0;
            if (profile && !keep_steps(rt, &prof, w, waves)) {
                fprintf(stderr, "caravel bench: out of memory for the profile\n");
                goto done;
            }
        }
        for (long m = 0; m < members; m++)
            for (int o = 0; o < cv_tenant_num_outputs(slices[m].tenant); o++) cv_tensor_free(&outputs[m * 16 + o]);
    }
    qsort(times, (size_t)waves, sizeof(double), compare_double);
    qsort(device_times, (size_t)waves, sizeof(double), compare_double);
    double median = times[waves / 2], best = times[0];
    long wave_rows = 0;
    for (long t = 0; t < members; t++) wave_rows += row_list[t % nrows];
    double per_s = (double)wave_rows / (median / 1e3);
    double device_median = device_times[waves / 2];
    double device_per_s = device_median > 0 ? (double)wave_rows / (device_median / 1e3) : 0;
    double p99 = quantile_sorted(times, waves, 0.99), device_p99 = quantile_sorted(device_times, waves, 0.99);
    cv_runtime_stats_t st;
    cv_runtime_stats(rt, &st);
    double gflop = st.last_wave_flops / 1e9;
    printf("bench: %ld tenants%s x %s rows (%ld a wave), %s, %s: wave median %.3f ms, min %.3f ms over %ld waves, "
           "%.1f inferences/s\n",
           members, drawn ? " (drawn at random for each wave)" : "", rows_arg, wave_rows,
           device == CV_DEVICE_CUDA ? "cuda" : "cpu",
           precision == CV_PRECISION_FP32 ? "fp32" : precision == CV_PRECISION_TF32 ? "tf32"
           : precision == CV_PRECISION_FP16 ? "fp16" : "bf16",
           median, best, waves, per_s);
    printf("bench: wave p99 %.3f ms; %.3f GFLOP a wave (Conv, Gemm, MatMul): %.3f TFLOP/s over the median wave\n",
           p99, gflop, gflop / median);
    if (device == CV_DEVICE_CUDA && device_median > 0)
        printf("bench: device p99 %.3f ms; %.2f TFLOP/s at the median device time\n", device_p99,
               gflop / device_median);
    if (device == CV_DEVICE_CUDA && !profile)
        printf("bench: device time per wave: median %.3f ms (%.1f inferences/s); CUDA graphs %s: %ld hits "
               "(%ld with other members), %ld refreshes, %ld misses, the largest of %ld nodes (%ld kernels); "
               "%ld steps on the host\n",
               device_median, device_per_s, graphs ? "on" : "off", st.graph_hits, st.graph_rebinds,
               st.graph_refreshes, st.graph_misses, st.graph_nodes_max, st.graph_kernel_nodes_max,
               st.fallback_steps);
    /* The host's part of a wave without load beside it (issue 8's 20 us
     * for a 64-tenant wave): the floor that the loaded figures of caravel
     * drive are compared with. Includes the warm-up waves. */
    if (device == CV_DEVICE_CUDA && !profile)
        printf("bench: host time per wave (medians): launch %.1f us, of it placing the inputs %.1f us and the "
               "super-kernel cache %.1f us (lookup %.1f us, rebind %.1f us, graph launch %.1f us)\n",
               st.launch_us_median, st.inputs_us_median, st.cache_us_median, st.graph_lookup_us_median,
               st.graph_rebind_us_median, st.graph_launch_us_median);
    print_memory(&mem, tenants, device == CV_DEVICE_CUDA);
    if (csv) {
        /* N: rows per tenant; a list is written with ';' between entries. */
        char rows_field[128];
        snprintf(rows_field, sizeof rows_field, "%s", rows_arg);
        for (char *c = rows_field; *c; c++)
            if (*c == ',') *c = ';';
        printf("%s,%ld,%s,%.4f,%.4f,%.1f,%.4f,%.1f,%.4f,%.4f,%.6f", csv, members, rows_field, median, best, per_s,
               device_median, device_per_s, p99, device_p99, gflop);
        if (memory_csv)
            printf(",%ld,%ld,%zu,%.0f,%.0f,%lld,%.0f,%.3f,%.2f", mem.stats.weight_tensors,
                   mem.stats.shared_weight_tensors, mem.stats.weight_device_bytes, mem.device_per_tenant,
                   mem.device_shared_per_tenant, mem.device_growth, mem.host_per_tenant, mem.hash_ms_per_tenant,
                   mem.load_s);
        printf("\n");
    }
    if (profile) print_profile(&prof, waves, top, csv);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "caravel bench: %s\n", err.msg);
done:
    if (inputs)
        for (long k = 0; k < tenants * INPUT_SETS; k++) cv_tensor_free(&inputs[k]);
    cv_runtime_destroy(rt);
    cv_free(ts);
    cv_free(inputs);
    cv_free(outputs);
    cv_free(slices);
    cv_free(order);
    cv_free(times);
    cv_free(device_times);
    cv_free(prof.steps);
    cv_free(prof.ms);
    return rc;
}
