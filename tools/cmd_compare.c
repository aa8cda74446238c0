/*
 * cmd_compare.c: `caravel compare`: how far a reduced precision (TF32, FP16,
 * BF16) moves a model's outputs from FP32: the relative error of output 0
 * and top-1 agreement over seeded random inputs, run as one batch.
 */
#include "cli.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel compare --model M.onnx --precision P [--samples N] [--seed S]\n"
            "                       [--device cuda|cpu] [--threads T]\n"
            "\n"
            "Runs the model in FP32 and in precision P on N seeded random inputs (one\n"
            "batch of N rows; the model needs a batch axis and one FP32 input) and\n"
            "prints the largest relative error of output 0 per row (max|p - fp32| /\n"
            "max|fp32|) and how many rows keep the FP32 top-1 class.\n"
            "  --samples N   rows (default 100)\n"
            "  --seed S      input seed (default 1)\n");
}

int cv_cmd_compare(int argc, char **argv)
{
    const char *model = NULL;
    long samples = 100, seed = 1, threads = 0;
    cv_precision_t precision = CV_PRECISION_TF32;
    cv_device_t device = CV_DEVICE_CUDA;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char *v = cv_cli_option_value("caravel compare", argc, argv, &i);
        if (!v) return 2;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--precision")) {
            if (!cv_cli_parse_precision(v, &precision)) return 2;
        } else if (!strcmp(a, "--samples")) {
            if (!cv_cli_parse_int("--samples", v, 1, &samples)) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!cv_cli_parse_int("--seed", v, 0, &seed)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!cv_cli_parse_int("--threads", v, 1, &threads)) return 2;
        } else if (!strcmp(a, "--device")) {
            if (!cv_cli_parse_device(v, &device)) return 2;
        } else {
            fprintf(stderr, "caravel compare: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "caravel compare: --model is required (see --help)\n");
        return 2;
    }
    int rc = 1;
    cv_err_t err = {{0}};
    cv_runtime_t *rt = NULL;
    cv_tenant_t *ref, *low;
    cv_tensor_t in = {0}, out_ref[16], out_low[16];
    bool have_ref = false, have_low = false;
    cv_runtime_config_t config = {.device = device, .threads = (int)threads, .no_profile = true};
    if (cv_runtime_create(&config, &rt, &err) != CV_STATUS_OK) goto fail;
    if (cv_tenant_load(rt, "fp32", model, CV_PRECISION_FP32, &ref, &err) != CV_STATUS_OK) goto fail;
    if (cv_tenant_load(rt, "low", model, precision, &low, &err) != CV_STATUS_OK) goto fail;
    if (cv_tenant_num_inputs(ref) != 1 || cv_tenant_input_dtype(ref, 0) != CV_DTYPE_FP32 ||
        cv_tenant_num_outputs(ref) > 16) {
        fprintf(stderr, "caravel compare: %s: compare needs one FP32 input\n", model);
        goto done;
    }
    cv_shape_t s = cv_tenant_input_shape(ref, 0);
    for (int d = 0; d < s.ndim; d++)
        if (s.dims[d] < 0) s.dims[d] = d == 0 ? samples : 1;
    if (cv_tensor_alloc(&in, CV_DTYPE_FP32, &s) != CV_STATUS_OK) {
        fprintf(stderr, "caravel compare: out of memory\n");
        goto done;
    }
    uint64_t x = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 7;
    for (int64_t e = 0; e < cv_shape_numel(&s); e++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        /* Roughly normalised image values. */
        ((float *)in.data)[e] = (float)((double)(x >> 40) / (double)(1ull << 24)) * 4.0f - 2.0f;
    }
    if (cv_infer(rt, ref, &in, out_ref, &err) != CV_STATUS_OK) goto fail;
    have_ref = true;
    if (cv_infer(rt, low, &in, out_low, &err) != CV_STATUS_OK) goto fail;
    have_low = true;
    const cv_tensor_t *a = &out_ref[0], *b = &out_low[0];
    if (a->dtype != CV_DTYPE_FP32 || a->shape.dims[0] != samples) {
        fprintf(stderr, "caravel compare: output 0 is not FP32 with one row per sample\n");
        goto done;
    }
    int64_t per_row = cv_shape_numel(&a->shape) / samples;
    long agree = 0;
    double worst = 0;
    for (long r = 0; r < samples; r++) {
        const float *pa = (const float *)a->data + r * per_row, *pb = (const float *)b->data + r * per_row;
        int64_t best_a = 0, best_b = 0;
        double scale = 0, diff = 0;
        for (int64_t k = 0; k < per_row; k++) {
            if (pa[k] > pa[best_a]) best_a = k;
            if (pb[k] > pb[best_b]) best_b = k;
            scale = fmax(scale, fabs(pa[k]));
            diff = fmax(diff, fabs((double)pa[k] - pb[k]));
        }
        agree += best_a == best_b;
        worst = fmax(worst, scale > 0 ? diff / scale : diff);
    }
    printf("compare: %s fp32 vs %s over %ld inputs: top-1 agreement %ld/%ld, max rel err %.3g\n", model,
           cv_cli_precision_name(precision), samples, agree, samples, worst);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "caravel compare: %s\n", err.msg);
done:
    cv_tensor_free(&in);
    for (int o = 0; have_ref && o < cv_tenant_num_outputs(ref); o++) cv_tensor_free(&out_ref[o]);
    for (int o = 0; have_low && o < cv_tenant_num_outputs(low); o++) cv_tensor_free(&out_low[o]);
    cv_runtime_destroy(rt);
    return rc;
}
