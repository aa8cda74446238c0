/*
 * cmd_run.c: `caravel run`: one inference of one model on inputs read from
 * TensorProto files; prints the outputs, optionally writes output 0 and
 * times repeated runs.
 */
#include "cli.h"

#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel run --model M.onnx --input in.pb [--input in2.pb ...]\n"
            "                   [--output out.pb] [--repeat N] [--threads T] [--device cpu]\n"
            "\n"
            "Runs one inference. Inputs are serialized ONNX TensorProto files, one per\n"
            "model input, in the model's input order. Prints each output's dtype, shape\n"
            "and first values.\n"
            "\n"
            "  --model M.onnx   the ONNX model\n"
            "  --input F.pb     an input tensor (repeat for each model input)\n"
            "  --output F.pb    write output 0 to this file\n"
            "  --repeat N       after one warm-up run, time N runs; prints median and min\n"
            "  --threads T      CPU threads (default: all cores)\n"
            "  --device D       cpu (default) or cuda\n");
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cv_cmd_run(int argc, char **argv)
{
    const char *model = NULL, *output_path = NULL;
    const char *inputs[32];
    int ninputs = 0;
    long repeat = 0, threads = 0;
    cv_device_t device = CV_DEVICE_CPU;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char *v = cv_cli_option_value("caravel run", argc, argv, &i);
        if (!v) return 2;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--input")) {
            if (ninputs == 32) {
                fprintf(stderr, "caravel run: at most 32 inputs\n");
                return 2;
            }
            inputs[ninputs++] = v;
        } else if (!strcmp(a, "--output")) output_path = v;
        else if (!strcmp(a, "--repeat")) {
            if (!cv_cli_parse_int("--repeat", v, 1, &repeat)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!cv_cli_parse_int("--threads", v, 1, &threads)) return 2;
        } else if (!strcmp(a, "--device")) {
            if (!cv_cli_parse_device(v, &device)) return 2;
        } else {
            fprintf(stderr, "caravel run: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "caravel run: --model is required (see --help)\n");
        return 2;
    }

    int rc = 1;
    cv_err_t err = {{0}};
    cv_runtime_t *rt = NULL;
    cv_tenant_t *tenant = NULL;
    cv_tensor_t in[32] = {{0}}, out[16] = {{0}};
    int nread = 0, nout = 0;
    double *times = NULL;
    cv_runtime_config_t config = {.device = device, .threads = (int)threads, .no_profile = true};
    if (cv_runtime_create(&config, &rt, &err) != CV_STATUS_OK) goto fail;
    if (cv_tenant_load(rt, "model", model, CV_PRECISION_FP32, &tenant, &err) != CV_STATUS_OK) goto fail;
    if (ninputs != cv_tenant_num_inputs(tenant)) {
        fprintf(stderr, "caravel run: %s has %d inputs but %d --input files were given\n", model,
                cv_tenant_num_inputs(tenant), ninputs);
        goto done;
    }
    for (; nread < ninputs; nread++)
        if (cv_tensor_read_pb(inputs[nread], &in[nread], &err) != CV_STATUS_OK) goto fail;
    nout = cv_tenant_num_outputs(tenant);
    if (cv_infer(rt, tenant, in, out, &err) != CV_STATUS_OK) {
        nout = 0;
        goto fail;
    }
    for (int o = 0; o < nout; o++) cv_cli_print_tensor(stdout, "output", cv_tenant_output_name(tenant, o), &out[o], 8);
    if (output_path &&
        cv_tensor_write_pb(output_path, cv_tenant_output_name(tenant, 0), &out[0], &err) != CV_STATUS_OK)
        goto fail;
    if (repeat > 0) {
        times = cv_malloc(sizeof(double) * (size_t)repeat);
        if (!times) {
            fprintf(stderr, "caravel run: out of memory\n");
            goto done;
        }
        for (long r = 0; r < repeat; r++) {
            cv_tensor_t again[16];
            uint64_t t0 = cv_clock_ns();
            if (cv_infer(rt, tenant, in, again, &err) != CV_STATUS_OK) goto fail;
            times[r] = (double)(cv_clock_ns() - t0) / 1e6;
            for (int o = 0; o < nout; o++) cv_tensor_free(&again[o]);
        }
        qsort(times, (size_t)repeat, sizeof(double), compare_double);
        printf("time: median %.3f ms, min %.3f ms over %ld runs\n", times[repeat / 2], times[0], repeat);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "caravel run: %s\n", err.msg);
done:
    cv_free(times);
    for (int i = 0; i < nread; i++) cv_tensor_free(&in[i]);
    for (int o = 0; o < nout; o++) cv_tensor_free(&out[o]);
    cv_runtime_destroy(rt);
    return rc;
}
