/*
 * cmd_wave.c: `caravel wave`: loads several tenants of one family, runs
 * each alone and then all of them as one wave (rows stacked, one step per
 * node for the whole wave), and checks that every tenant gets from the wave
 * what it gets alone.
 */
#include "cli.h"

#include "core/core.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TENANTS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel wave --model A.onnx --model B.onnx ... [--rows R1,R2,...]\n"
            "                    [--seed S] [--threads T] [--device cpu]\n"
            "\n"
            "Runs each tenant alone, then all tenants as one wave, on seeded random\n"
            "inputs, and compares each tenant's wave output with its solo output.\n"
            "The models must be one family (identical graphs, different weights) with\n"
            "a symbolic batch axis. Exit status 0 when every tenant matches.\n"
            "\n"
            "  --model M.onnx   a tenant (repeat; up to %d)\n"
            "  --rows LIST      rows per tenant, comma-separated (default 1 each; a\n"
            "                   shorter list repeats its last value)\n"
            "  --seed S         seed of the random inputs (default 1)\n",
            MAX_TENANTS);
}

static void fill_random(cv_tensor_t *t, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    int64_t n = cv_shape_numel(&t->shape);
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u = (double)(s >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
        if (t->dtype == CV_DTYPE_FP32) ((float *)t->data)[i] = (float)u;
    }
}

int cv_cmd_wave(int argc, char **argv)
{
    const char *models[MAX_TENANTS];
    long rows_list[MAX_TENANTS];
    int nmodels = 0, nrows = 0;
    long seed = 1, threads = 0;
    cv_device_t device = CV_DEVICE_CPU;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char *v = cv_cli_option_value("caravel wave", argc, argv, &i);
        if (!v) return 2;
        if (!strcmp(a, "--model")) {
            if (nmodels == MAX_TENANTS) {
                fprintf(stderr, "caravel wave: at most %d tenants\n", MAX_TENANTS);
                return 2;
            }
            models[nmodels++] = v;
        } else if (!strcmp(a, "--rows")) {
            char buf[1024];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                if (nrows == MAX_TENANTS || !cv_cli_parse_int("--rows", tok, 1, &rows_list[nrows]))
                    return 2;
                nrows++;
            }
        } else if (!strcmp(a, "--seed")) {
            if (!cv_cli_parse_int("--seed", v, 0, &seed)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!cv_cli_parse_int("--threads", v, 1, &threads)) return 2;
        } else if (!strcmp(a, "--device")) {
            if (!cv_cli_parse_device(v, &device)) return 2;
        } else {
            fprintf(stderr, "caravel wave: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (nmodels == 0) {
        fprintf(stderr, "caravel wave: give at least one --model (see --help)\n");
        return 2;
    }

    int rc = 1;
    cv_err_t err = {{0}};
    cv_runtime_t *rt = NULL;
    cv_tenant_t *tenants[MAX_TENANTS];
    cv_tensor_t inputs[MAX_TENANTS][8], solo[MAX_TENANTS][8], waved[MAX_TENANTS][8];
    cv_slice_io_t slices[MAX_TENANTS];
    int nloaded = 0, ninputs_done = 0, nsolo = 0;
    bool waved_done = false;
    memset(inputs, 0, sizeof inputs);
    cv_runtime_config_t config = {.device = device, .threads = (int)threads, .no_profile = true};
    if (cv_runtime_create(&config, &rt, &err) != CV_STATUS_OK) goto fail;
    for (; nloaded < nmodels; nloaded++) {
        char name[32];
        snprintf(name, sizeof name, "tenant%d", nloaded);
        if (cv_tenant_load(rt, name, models[nloaded], CV_PRECISION_FP32, &tenants[nloaded], &err) != CV_STATUS_OK)
            goto fail;
        if (cv_tenant_family_hash(tenants[nloaded]) != cv_tenant_family_hash(tenants[0])) {
            fprintf(stderr, "caravel wave: %s is not of the family of %s (graphs differ beyond weights)\n",
                    models[nloaded], models[0]);
            nloaded++;
            goto done;
        }
        if (cv_tenant_num_inputs(tenants[nloaded]) > 8 || cv_tenant_num_outputs(tenants[nloaded]) > 8) {
            fprintf(stderr, "caravel wave: %s has more than 8 inputs or outputs\n", models[nloaded]);
            nloaded++;
            goto done;
        }
    }
    int nin = cv_tenant_num_inputs(tenants[0]), nout = cv_tenant_num_outputs(tenants[0]);
    for (; ninputs_done < nmodels; ninputs_done++) {
        int t = ninputs_done;
        long rows = nrows ? rows_list[t < nrows ? t : nrows - 1] : 1;
        for (int i = 0; i < nin; i++) {
            cv_shape_t s = cv_tenant_input_shape(tenants[t], i);
            for (int d = 0; d < s.ndim; d++)
                if (s.dims[d] < 0) s.dims[d] = d == 0 ? rows : 1;
            if (cv_tenant_input_dtype(tenants[t], i) != CV_DTYPE_FP32) {
                fprintf(stderr, "caravel wave: input '%s' is %s; wave makes FP32 inputs only\n",
                        cv_tenant_input_name(tenants[t], i), cv_dtype_name(cv_tenant_input_dtype(tenants[t], i)));
                goto done;
            }
            if (cv_tensor_alloc(&inputs[t][i], CV_DTYPE_FP32, &s) != CV_STATUS_OK) {
                fprintf(stderr, "caravel wave: out of memory\n");
                goto done;
            }
            fill_random(&inputs[t][i], (uint64_t)seed * 1000 + (uint64_t)t * 10 + (uint64_t)i);
        }
    }
    uint64_t t0 = cv_clock_ns();
    for (; nsolo < nmodels; nsolo++)
        if (cv_infer(rt, tenants[nsolo], inputs[nsolo], solo[nsolo], &err) != CV_STATUS_OK) goto fail;
    uint64_t t1 = cv_clock_ns();
    for (int t = 0; t < nmodels; t++)
        slices[t] = (cv_slice_io_t){.tenant = tenants[t], .inputs = inputs[t], .outputs = waved[t]};
    if (cv_wave_run(rt, slices, nmodels, &err) != CV_STATUS_OK) goto fail;
    uint64_t t2 = cv_clock_ns();
    waved_done = true;

    rc = 0;
    for (int t = 0; t < nmodels; t++) {
        for (int o = 0; o < nout; o++) {
            cv_compare_t c;
            cv_cli_compare(&waved[t][o], &solo[t][o], 1e-5, 1e-7, &c);
            printf("%s tenant %d (%s) output '%s': max abs diff %.3g vs alone\n", c.pass ? "MATCH" : "DIFFER",
                   t, models[t], cv_tenant_output_name(tenants[t], o), c.max_abs);
            if (!c.pass) rc = 1;
        }
    }
    printf("%d tenants: alone one after another %.3f ms, as one wave %.3f ms\n", nmodels,
           (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);
    goto done;
fail:
    fprintf(stderr, "caravel wave: %s\n", err.msg);
done:
    for (int t = 0; t < nsolo; t++)
        for (int o = 0; o < cv_tenant_num_outputs(tenants[t]); o++) cv_tensor_free(&solo[t][o]);
    if (waved_done)
        for (int t = 0; t < nmodels; t++)
            for (int o = 0; o < cv_tenant_num_outputs(tenants[t]); o++) cv_tensor_free(&waved[t][o]);
    for (int t = 0; t < ninputs_done; t++)
        for (int i = 0; i < 8; i++) cv_tensor_free(&inputs[t][i]);
    cv_runtime_destroy(rt);
    return rc;
}
