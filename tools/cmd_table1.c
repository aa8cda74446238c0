/*
 * cmd_table1.c: `caravel table1`, the paper's Table 1 on this GPU (issue
 * 11): R independent FP32 GEMMs in the paper's three shapes, run one after
 * another, on R streams, as one batched launch (space-time), as one grouped
 * launch and batched in TF32 (src/backend/cuda/cuda_gemm_ways.cu), with the
 * speedup of space-time over the better of time and space and its geomean
 * over R = 2..120, as the paper reports it.
 */
#include "cli.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef CARAVEL_WITH_CUDA
#include "backend/cuda/cuda_gemm_ways.h"
#endif

typedef struct shape {
    const char *name, *what;
    int m, n, k;
} shape_t;

static const shape_t SHAPES[] = {
    {"matvec", "RNN matrix-vector 512x1x512", 512, 1, 512},
    {"conv2_2", "ResNet-18 conv2_2 as im2col 256x128x1152", 256, 128, 1152},
    {"square", "square 256x256x256", 256, 256, 256},
};

#define MAX_RS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel table1 [--shapes matvec,conv2_2,square] [--r R1,R2,...]\n"
            "                      [--reps N] [--device-index D] [--csv FILE]\n"
            "\n"
            "The paper's Table 1 on this GPU: R independent FP32 GEMMs (each its own A,\n"
            "B and C, as R tenants' layers) run five ways, device time by CUDA events\n"
            "(median of N repetitions after 3 of warm-up):\n"
            "  time-only        R cublasSgemm one after another on one stream\n"
            "  space-only       R cublasSgemm on R streams\n"
            "  space-time       one cublasSgemmBatched-style launch (the super-kernel)\n"
            "  grouped          one cublasGemmGroupedBatchedEx, R groups of one\n"
            "  space-time TF32  the batched launch on TF32 tensor cores\n"
            "and the speedup of space-time over the better of time-only and space-only,\n"
            "with its geomean over R = 2..120 per shape (the paper's summary). Needs a\n"
            "build with the CUDA backend and a GPU. A progress line per point goes to\n"
            "stderr.\n"
            "\n"
            "options:\n"
            "  --shapes LIST    of matvec (512x1x512), conv2_2 (256x128x1152), square\n"
            "                   (256x256x256); default all three\n"
            "  --r LIST         problem counts (default 1,2,4,8,16,32,48,64,80,96,120)\n"
            "  --reps N         timed repetitions per way (default 30)\n"
            "  --device-index D the GPU (default 0)\n"
            "  --csv FILE       append rows: shape,m,n,k,R,way,ms,tflops\n");
}

static bool parse_shapes(const char *v, bool *use)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    memset(use, 0, sizeof(bool) * CV_ARRAY_LEN(SHAPES));
    bool any = false;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t s = 0;
        while (s < CV_ARRAY_LEN(SHAPES) && strcmp(SHAPES[s].name, tok)) s++;
        if (s == CV_ARRAY_LEN(SHAPES)) {
            fprintf(stderr, "caravel table1: unknown shape '%s' (matvec, conv2_2, square)\n", tok);
            return false;
        }
        use[s] = any = true;
    }
    if (!any) fprintf(stderr, "caravel table1: --shapes needs at least one shape\n");
    return any;
}

int cv_cmd_table1(int argc, char **argv)
{
    long rs[MAX_RS] = {1, 2, 4, 8, 16, 32, 48, 64, 80, 96, 120}, reps = 30, device = 0;
    int nrs = 11;
    bool use[CV_ARRAY_LEN(SHAPES)] = {true, true, true};
    const char *csv_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char *v = cv_cli_option_value("caravel table1", argc, argv, &i);
        if (!v) return 2;
        if (!strcmp(a, "--r")) {
            if (!cv_cli_parse_int_list("--r", v, 1, rs, MAX_RS, &nrs)) return 2;
        } else if (!strcmp(a, "--shapes")) {
            if (!parse_shapes(v, use)) return 2;
        } else if (!strcmp(a, "--reps")) {
            if (!cv_cli_parse_int("--reps", v, 1, &reps)) return 2;
        } else if (!strcmp(a, "--device-index")) {
            if (!cv_cli_parse_int("--device-index", v, 0, &device)) return 2;
        } else if (!strcmp(a, "--csv")) {
            csv_path = v;
        } else {
            fprintf(stderr, "caravel table1: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    for (int i = 0; i < nrs; i++)
        if (rs[i] > 4096) {
            fprintf(stderr, "caravel table1: --r %ld is more than 4096 problems\n", rs[i]);
            return 2;
        }
#ifndef CARAVEL_WITH_CUDA
    (void)device;
    (void)reps;
    (void)csv_path;
    fprintf(stderr, "caravel table1: this build has no CUDA backend (nvcc was not found at build time)\n");
    return 1;
#else
    FILE *csv = NULL;
    if (csv_path) {
        csv = fopen(csv_path, "a");
        if (!csv) {
            fprintf(stderr, "caravel table1: cannot open '%s' to append rows\n", csv_path);
            return 1;
        }
        fseek(csv, 0, SEEK_END);
        if (ftell(csv) == 0) fputs("shape,m,n,k,R,way,ms,tflops\n", csv);
    }
    int rc = 0;
    for (size_t s = 0; s < CV_ARRAY_LEN(SHAPES) && rc == 0; s++) {
        if (!use[s]) continue;
        const shape_t *sh = &SHAPES[s];
        printf("%s: %s, FP32, median device ms of one repetition (all R problems); TFLOP/s of space-time\n",
               sh->name, sh->what);
        printf("%5s %11s %11s %11s %11s %11s %9s %9s\n", "R", "time-only", "space-only", "space-time", "grouped",
               "st-TF32", "ST TF/s", "ST gain");
        double log_sum = 0;
        int counted = 0;
        for (int i = 0; i < nrs; i++) {
            fprintf(stderr, "caravel table1: %s R = %ld ...\n", sh->name, rs[i]);
            double ms[CV_GEMM_WAYS];
            cv_err_t err = {{0}};
            if (cv_cuda_gemm_ways((int)device, sh->m, sh->n, sh->k, (int)rs[i], (int)reps, ms, &err) != CV_STATUS_OK) {
                fprintf(stderr, "caravel table1: %s R = %ld: %s\n", sh->name, rs[i], err.msg);
                rc = 1;
                break;
            }
            double flops = 2.0 * sh->m * sh->n * (double)sh->k * (double)rs[i];
            double best_other = fmin(ms[CV_GEMM_TIME], ms[CV_GEMM_SPACE]);
            double gain = best_other / ms[CV_GEMM_SPACETIME];
            printf("%5ld %11.4f %11.4f %11.4f %11.4f %11.4f %9.2f %8.2fx\n", rs[i], ms[CV_GEMM_TIME],
                   ms[CV_GEMM_SPACE], ms[CV_GEMM_SPACETIME], ms[CV_GEMM_GROUPED], ms[CV_GEMM_SPACETIME_TF32],
                   flops / (ms[CV_GEMM_SPACETIME] * 1e9), gain);
            if (rs[i] >= 2 && rs[i] <= 120 && isfinite(gain) && gain > 0) {
                log_sum += log(gain);
                counted++;
            }
            for (int w = 0; csv && w < CV_GEMM_WAYS; w++)
                fprintf(csv, "%s,%d,%d,%d,%ld,%s,%.5f,%.3f\n", sh->name, sh->m, sh->n, sh->k, rs[i],
                        cv_gemm_way_name((cv_gemm_way_t)w), ms[w], flops / (ms[w] * 1e9));
            fflush(stdout);
        }
        if (counted)
            printf("%s: space-time over the better of time-only and space-only, geomean over %d values of R in "
                   "2..120: %.2fx\n\n",
                   sh->name, counted, exp(log_sum / counted));
    }
    if (csv) fclose(csv);
    return rc;
#endif
}
