/*
 * cmd_check.c: `caravel check`: runs models in the ONNX backend-test layout
 * and compares every output with its reference. One line per test, then a
 * summary line; exit status 0 only when no test failed.
 *
 * A test is a folder with model.onnx and test_data_set_N/{input,output}_K.pb,
 * or a file X.onnx with X_output_K.pb beside it (the "light" models, whose
 * inputs are zeros unless X_input_K.pb exists).
 */
#include "cli.h"

#include "core/core.h"

#include <dirent.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct check_options {
    double rtol, atol;
    bool verbose;
    cv_precision_t precision;
} check_options_t;

typedef struct tally {
    int passed, failed, skipped;
} tally_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel check [--device cpu|cuda] [--precision P] [--rtol R] [--atol A]\n"
            "                     [--threads T] [--verbose] PATH...\n"
            "\n"
            "Runs ONNX backend tests and compares outputs with their references.\n"
            "PATH is a folder holding model.onnx and test_data_set_N/input_K.pb,\n"
            "output_K.pb, or a file X.onnx with X_output_K.pb beside it. Other files\n"
            "are ignored. Prints PASS, FAIL or SKIP (with the reason) per test, then\n"
            "'N passed, N failed, N skipped'. Exit status 0 only if none failed.\n"
            "\n"
            "Floats pass when max|got - ref| <= rtol * max|ref| + atol; integers and\n"
            "booleans must be equal.\n"
            "  --rtol R     relative tolerance (default 1e-4)\n"
            "  --atol A     absolute tolerance (default 1e-6)\n"
            "  --precision P  fp32 (default), tf32, fp16 or bf16 (not fp32: cuda only)\n"
            "  --verbose    one line per test data set too\n");
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of test_data_set_* folders in dir; returns how many. */
static int list_data_sets(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    int n = 0, cap = 0;
    char **names = NULL;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_data_set_", 14) != 0) continue;
        if (CV_GROW(names, n, cap) != CV_STATUS_OK) break;
        names[n] = cv_strdup(e->d_name);
        if (names[n]) n++;
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof(char *), compare_names);
    *out = names;
    return n;
}

typedef enum outcome { OUTCOME_PASS, OUTCOME_FAIL, OUTCOME_SKIP } outcome_t;

/* Runs one data set: inputs from files named by in_fmt (or zeros when
 * in_fmt is NULL), references from out_fmt (printf formats taking K). */
static outcome_t run_data_set(cv_runtime_t *rt, cv_tenant_t *tenant, const char *in_fmt,
                              const char *out_fmt, const check_options_t *opt, cv_compare_t *worst,
                              char *why, size_t why_len)
{
    int nin = cv_tenant_num_inputs(tenant), nout = cv_tenant_num_outputs(tenant);
    cv_tensor_t in[32] = {{0}}, out[16] = {{0}}, ref = {0};
    int nread = 0;
    bool have_out = false;
    outcome_t result = OUTCOME_FAIL;
    cv_err_t err = {{0}};
    char path[1024];
    if (nin > 32 || nout > 16) {
        snprintf(why, why_len, "too many inputs or outputs (%d, %d)", nin, nout);
        return OUTCOME_SKIP;
    }
    for (; nread < nin; nread++) {
        if (in_fmt) {
            snprintf(path, sizeof path, in_fmt, nread);
            if (cv_tensor_read_pb(path, &in[nread], &err) != CV_STATUS_OK) {
                snprintf(why, why_len, "%s", err.msg);
                goto done;
            }
        } else {
            cv_shape_t s = cv_tenant_input_shape(tenant, nread);
            for (int d = 0; d < s.ndim; d++)
                if (s.dims[d] < 0) s.dims[d] = 1;
            if (cv_tensor_alloc(&in[nread], cv_tenant_input_dtype(tenant, nread), &s) != CV_STATUS_OK) {
                snprintf(why, why_len, "out of memory for a zero input");
                goto done;
            }
        }
    }
    if (in_fmt) {
        snprintf(path, sizeof path, in_fmt, nin);
        if (file_exists(path)) {
            snprintf(why, why_len, "the data set has more input files than the model's %d inputs", nin);
            goto done;
        }
    }
    cv_status st = cv_infer(rt, tenant, in, out, &err);
    if (st != CV_STATUS_OK) {
        snprintf(why, why_len, "%s", err.msg);
        result = st == CV_STATUS_UNSUPPORTED ? OUTCOME_SKIP : OUTCOME_FAIL;
        goto done;
    }
    have_out = true;
    result = OUTCOME_PASS;
    for (int o = 0; o < nout; o++) {
        snprintf(path, sizeof path, out_fmt, o);
        if (!file_exists(path)) continue; /* optional outputs without a reference */
        if (cv_tensor_read_pb(path, &ref, &err) != CV_STATUS_OK) {
            snprintf(why, why_len, "%s", err.msg);
            result = OUTCOME_FAIL;
            break;
        }
        cv_compare_t c;
        cv_cli_compare(&out[o], &ref, opt->rtol, opt->atol, &c);
        cv_tensor_free(&ref);
        if (c.max_abs > worst->max_abs) worst->max_abs = c.max_abs;
        if (c.max_rel > worst->max_rel) worst->max_rel = c.max_rel;
        if (!c.pass) {
            snprintf(why, why_len, "output %d '%s': %s (max abs err %.3g, max rel err %.3g)", o,
                     cv_tenant_output_name(tenant, o), c.why, c.max_abs, c.max_rel);
            result = OUTCOME_FAIL;
            break;
        }
    }
done:
    for (int i = 0; i < nread; i++) cv_tensor_free(&in[i]);
    if (have_out)
        for (int o = 0; o < nout; o++) cv_tensor_free(&out[o]);
    return result;
}

static void report(tally_t *t, outcome_t r, const char *name, const cv_compare_t *worst, const char *why)
{
    switch (r) {
    case OUTCOME_PASS:
        t->passed++;
        printf("PASS %s (max abs err %.3g, max rel err %.3g)\n", name, worst->max_abs, worst->max_rel);
        break;
    case OUTCOME_FAIL:
        t->failed++;
        printf("FAIL %s: %s\n", name, why);
        break;
    case OUTCOME_SKIP:
        t->skipped++;
        printf("SKIP %s: %s\n", name, why);
        break;
    }
    fflush(stdout);
}

static void check_path(cv_runtime_t *rt, const char *path, const check_options_t *opt, tally_t *tally)
{
    struct stat st;
    char model[1024], name[512], why[CV_ERR_LEN + 128] = "";
    char in_fmt[1100], out_fmt[1100];
    cv_compare_t worst = {0};
    bool is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    size_t len = strlen(path);
    if (!is_dir && (len < 5 || strcmp(path + len - 5, ".onnx") != 0)) return; /* README, .pb */

    char copy[1024];
    snprintf(copy, sizeof copy, "%s", path);
    while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/') copy[strlen(copy) - 1] = '\0';
    snprintf(name, sizeof name, "%s", basename(copy));
    if (strspn(name, "0123456789") == strlen(name)) {
        /* A Triton version folder (<repo>/<model>/1): name it model/1. */
        char parent[1024];
        snprintf(parent, sizeof parent, "%s", copy);
        snprintf(name, sizeof name, "%.250s/%.250s", basename(dirname(parent)), basename(copy));
    }
    if (is_dir) {
        snprintf(model, sizeof model, "%s/model.onnx", path);
        if (!file_exists(model)) {
            report(tally, OUTCOME_SKIP, name, &worst, "no model.onnx in this folder");
            return;
        }
    } else {
        snprintf(model, sizeof model, "%s", path);
        name[strlen(name) - 5] = '\0';
    }

    cv_tenant_t *tenant;
    cv_err_t err = {{0}};
    cv_status load = cv_tenant_load(rt, name, model, opt->precision, &tenant, &err);
    if (load != CV_STATUS_OK) {
        report(tally, load == CV_STATUS_UNSUPPORTED ? OUTCOME_SKIP : OUTCOME_FAIL, name, &worst, err.msg);
        return;
    }
    outcome_t result = OUTCOME_PASS;
    if (is_dir) {
        char **sets = NULL;
        int nsets = list_data_sets(path, &sets);
        if (nsets == 0) {
            result = OUTCOME_SKIP;
            snprintf(why, sizeof why, "no test_data_set_N folder");
        }
        for (int s = 0; s < nsets; s++) {
            if (result == OUTCOME_PASS) {
                cv_compare_t one = {0};
                snprintf(in_fmt, sizeof in_fmt, "%s/%s/input_%%d.pb", path, sets[s]);
                snprintf(out_fmt, sizeof out_fmt, "%s/%s/output_%%d.pb", path, sets[s]);
                result = run_data_set(rt, tenant, in_fmt, out_fmt, opt, &one, why, sizeof why);
                worst.max_abs = one.max_abs > worst.max_abs ? one.max_abs : worst.max_abs;
                worst.max_rel = one.max_rel > worst.max_rel ? one.max_rel : worst.max_rel;
                if (opt->verbose)
                    printf("  %s %s: max abs err %.3g, max rel err %.3g\n", name, sets[s], one.max_abs, one.max_rel);
            }
            cv_free(sets[s]);
        }
        cv_free(sets);
    } else {
        char stem[1024];
        snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), path);
        snprintf(in_fmt, sizeof in_fmt, "%s_input_%%d.pb", stem);
        snprintf(out_fmt, sizeof out_fmt, "%s_output_%%d.pb", stem);
        char probe[1200];
        snprintf(probe, sizeof probe, in_fmt, 0);
        bool have_inputs = file_exists(probe);
        snprintf(probe, sizeof probe, out_fmt, 0);
        if (!file_exists(probe)) {
            result = OUTCOME_SKIP;
            snprintf(why, sizeof why, "no reference output file (%.400s)", probe);
        } else {
            result = run_data_set(rt, tenant, have_inputs ? in_fmt : NULL, out_fmt, opt, &worst, why,
                                  sizeof why);
        }
    }
    cv_tenant_unload(rt, tenant);
    report(tally, result, name, &worst, why);
}

int cv_cmd_check(int argc, char **argv)
{
    check_options_t opt = {.rtol = 1e-4, .atol = 1e-6};
    cv_device_t device = CV_DEVICE_CPU;
    long threads = 0;
    int first_path = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--verbose")) {
            opt.verbose = true;
            continue;
        }
        if (a[0] != '-') {
            first_path = i;
            break;
        }
        const char *v = cv_cli_option_value("caravel check", argc, argv, &i);
        if (!v) return 2;
        char *end;
        if (!strcmp(a, "--device")) {
            if (!cv_cli_parse_device(v, &device)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!cv_cli_parse_int("--threads", v, 1, &threads)) return 2;
        } else if (!strcmp(a, "--precision")) {
            if (!cv_cli_parse_precision(v, &opt.precision)) return 2;
        } else if (!strcmp(a, "--rtol") || !strcmp(a, "--atol")) {
            double x = strtod(v, &end);
            if (end == v || *end || x < 0) {
                fprintf(stderr, "caravel check: %s needs a number >= 0, not '%s'\n", a, v);
                return 2;
            }
            if (!strcmp(a, "--rtol")) opt.rtol = x;
            else opt.atol = x;
        } else {
            fprintf(stderr, "caravel check: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (first_path >= argc) {
        fprintf(stderr, "caravel check: no PATH given (see --help)\n");
        return 2;
    }
    cv_runtime_t *rt;
    cv_err_t err = {{0}};
    cv_runtime_config_t config = {.device = device, .threads = (int)threads, .no_profile = true};
    if (cv_runtime_create(&config, &rt, &err) != CV_STATUS_OK) {
        fprintf(stderr, "caravel check: %s\n", err.msg);
        return 1;
    }
    tally_t tally = {0};
    for (int i = first_path; i < argc; i++) check_path(rt, argv[i], &opt, &tally);
    cv_runtime_destroy(rt);
    printf("%d passed, %d failed, %d skipped\n", tally.passed, tally.failed, tally.skipped);
    return tally.failed ? 1 : 0;
}
