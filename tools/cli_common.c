/*
 * cli_common.c: option parsing, printing and comparing tensors for the
 * `caravel` subcommands.
 */
#include "cli.h"

#include "ir/infer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool cv_cli_parse_device(const char *s, cv_device_t *out)
{
    if (!strcmp(s, "cpu")) *out = CV_DEVICE_CPU;
    else if (!strcmp(s, "cuda")) *out = CV_DEVICE_CUDA;
    else {
        fprintf(stderr, "caravel: --device must be cpu or cuda, not '%s'\n", s);
        return false;
    }
    return true;
}

bool cv_cli_parse_precision(const char *s, cv_precision_t *out)
{
    static const char *names[] = {"fp32", "tf32", "fp16", "bf16"};
    for (int p = 0; p < 4; p++)
        if (!strcmp(s, names[p])) {
            *out = (cv_precision_t)p;
            return true;
        }
    fprintf(stderr, "caravel: --precision must be fp32, tf32, fp16 or bf16, not '%s'\n", s);
    return false;
}

const char *cv_cli_precision_name(cv_precision_t p)
{
    static const char *names[] = {"fp32", "tf32", "fp16", "bf16"};
    return names[p];
}

const char *cv_cli_option_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value (see --help)\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool cv_cli_parse_int(const char *option, const char *s, long min, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min) {
        fprintf(stderr, "caravel: %s needs an integer >= %ld, not '%s'\n", option, min, s);
        return false;
    }
    *out = v;
    return true;
}

bool cv_cli_parse_int_list(const char *option, const char *s, long min, long *out, int max, int *n)
{
    char buf[1024];
    if (strlen(s) >= sizeof buf) {
        fprintf(stderr, "caravel: %s '%.40s...' is too long\n", option, s);
        return false;
    }
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == max) {
            fprintf(stderr, "caravel: %s has more than %d entries\n", option, max);
            return false;
        }
        if (!cv_cli_parse_int(option, tok, min, &out[*n])) return false;
        (*n)++;
    }
    if (*n == 0) {
        fprintf(stderr, "caravel: %s needs a number or a list of numbers, not '%s'\n", option, s);
        return false;
    }
    return true;
}

bool cv_cli_models_listed(const char *cmd, const char *repo, const cv_repo_names_t *models,
                          const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (int m = 0; m < models->count; m++) found |= !strcmp(models->names[m], names[i]);
        if (!found) {
            fprintf(stderr, "caravel %s: --load-model '%s': no such model in %s\n", cmd, names[i], repo);
            return false;
        }
    }
    return true;
}

void cv_cli_print_tensor(FILE *f, const char *what, const char *name, const cv_tensor_t *t, int count)
{
    char shape[128];
    fprintf(f, "%s '%s' %s %s:", what, name, cv_dtype_name(t->dtype),
            cv_shape_str(&t->shape, shape, sizeof shape));
    int64_t n = cv_shape_numel(&t->shape);
    for (int64_t i = 0; i < n && i < count; i++) {
        if (cv_dtype_is_float(t->dtype))
            fprintf(f, " %.6g", cv_tensor_get_f64(t, i));
        else
            fprintf(f, " %lld", (long long)cv_tensor_get_i64(t, i));
    }
    if (n > count) fprintf(f, " ...");
    fputc('\n', f);
}

void cv_cli_compare(const cv_tensor_t *got, const cv_tensor_t *ref, double rtol, double atol,
                    cv_compare_t *out)
{
    memset(out, 0, sizeof(*out));
    char a[128], b[128];
    if (got->dtype != ref->dtype) {
        snprintf(out->why, sizeof out->why, "dtype %s, expected %s", cv_dtype_name(got->dtype),
                 cv_dtype_name(ref->dtype));
        return;
    }
    if (!cv_shape_equal(&got->shape, &ref->shape)) {
        snprintf(out->why, sizeof out->why, "shape %s, expected %s",
                 cv_shape_str(&got->shape, a, sizeof a), cv_shape_str(&ref->shape, b, sizeof b));
        return;
    }
    int64_t n = cv_shape_numel(&ref->shape);
    bool is_float = cv_dtype_is_float(ref->dtype);
    double max_ref = 0;
    int64_t mismatched_nan = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!is_float) {
            int64_t x = cv_tensor_get_i64(got, i), y = cv_tensor_get_i64(ref, i);
            double d = x > y ? (double)(x - y) : (double)(y - x);
            out->max_abs = fmax(out->max_abs, d);
            max_ref = fmax(max_ref, fabs((double)y));
            continue;
        }
        double x = cv_tensor_get_f64(got, i), y = cv_tensor_get_f64(ref, i);
        if (isnan(x) || isnan(y)) {
            if (isnan(x) != isnan(y) && mismatched_nan < 0) mismatched_nan = i;
            continue;
        }
        if (isinf(x) || isinf(y)) {
            if (x != y && mismatched_nan < 0) mismatched_nan = i;
            continue;
        }
        out->max_abs = fmax(out->max_abs, fabs(x - y));
        max_ref = fmax(max_ref, fabs(y));
    }
    out->max_rel = max_ref > 0 ? out->max_abs / max_ref : out->max_abs;
    if (mismatched_nan >= 0) {
        snprintf(out->why, sizeof out->why, "element %lld: got %g, expected %g", (long long)mismatched_nan,
                 cv_tensor_get_f64(got, mismatched_nan), cv_tensor_get_f64(ref, mismatched_nan));
        return;
    }
    out->pass = is_float ? out->max_abs <= rtol * max_ref + atol : out->max_abs == 0;
    if (!out->pass) snprintf(out->why, sizeof out->why, "values differ");
}
