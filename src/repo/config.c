/*
 * config.c: a model's config.json (its tenant config: SLO, precision,
 * largest request, share, priority, queue bound; and its replicas on a
 * server of several devices), parsed with jansson and
 * checked key by key, so that a typo is an error rather than a default.
 * The keys are listed in repo.h (cv_repo_config_parse).
 */
#include "repo/repo.h"

#include "core/core.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

/* Largest config.json read: it holds a handful of numbers. */
#define CONFIG_MAX_BYTES (1 << 20)

static const char *const precision_names[] = {"fp32", "tf32", "fp16", "bf16"};

bool cv_repo_precision_parse(const char *s, cv_precision_t *out)
{
    for (int p = 0; p < 4; p++)
        if (!strcmp(s, precision_names[p])) {
            *out = (cv_precision_t)p;
            return true;
        }
    return false;
}

const char *cv_repo_precision_name(cv_precision_t p)
{
    return (unsigned)p < 4 ? precision_names[p] : "unknown";
}

/* A non-negative number (integer or real) into *out. */
static bool number_at_least_zero(const json_t *v, double *out)
{
    if (!json_is_number(v)) return false;
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0) return false;
    *out = d;
    return true;
}

/* An integer in [lo, hi] into *out. */
static bool integer_in(const json_t *v, long long lo, long long hi, long long *out)
{
    if (!json_is_integer(v)) return false;
    long long i = json_integer_value(v);
    if (i < lo || i > hi) return false;
    *out = i;
    return true;
}

static bool string_is(const json_t *v, const char *expected)
{
    return json_is_string(v) && !strcmp(json_string_value(v), expected);
}

cv_status cv_repo_config_parse(const char *text, size_t len, const char *model, const char *where,
                               cv_repo_config_t *config, cv_err_t *err)
{
    memset(config, 0, sizeof(*config));
    config->replicas = 1;
    cv_tenant_config_t *out = &config->tenant;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: not valid JSON (line %d: %s)", where, jerr.line,
                         jerr.text);
    cv_status st = CV_STATUS_OK;
    if (!json_is_object(root)) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: expected a JSON object", where);
        goto done;
    }
    bool have_max_rows = false;
    long long max_batch_size = 0, i;
    double d;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        const char *expected = NULL;
        if (!strcmp(key, "slo_ms")) {
            if (number_at_least_zero(v, &d)) out->slo_ms = d;
            else expected = "a number >= 0 (milliseconds)";
        } else if (!strcmp(key, "precision")) {
            if (!json_is_string(v) || !cv_repo_precision_parse(json_string_value(v), &out->precision))
                expected = "\"fp32\", \"tf32\", \"fp16\" or \"bf16\"";
        } else if (!strcmp(key, "max_rows")) {
            if (integer_in(v, 0, INT32_MAX, &i)) {
                out->max_rows = i;
                have_max_rows = true;
            } else {
                expected = "an integer >= 0";
            }
        } else if (!strcmp(key, "max_batch_size")) {
            if (!integer_in(v, 0, INT32_MAX, &max_batch_size)) expected = "an integer >= 0";
        } else if (!strcmp(key, "share")) {
            if (number_at_least_zero(v, &d)) out->share = d;
            else expected = "a number >= 0";
        } else if (!strcmp(key, "priority")) {
            if (integer_in(v, -1000000, 1000000, &i)) out->priority = (int)i;
            else expected = "an integer in [-1000000, 1000000]";
        } else if (!strcmp(key, "queue_bound")) {
            if (integer_in(v, 0, 1 << 24, &i)) out->queue_bound = (int)i;
            else expected = "an integer in [0, 16777216]";
        } else if (!strcmp(key, "replicas")) {
            if (integer_in(v, 1, 1024, &i)) config->replicas = (int)i;
            else expected = "an integer in [1, 1024] (devices that each hold a copy)";
        } else if (!strcmp(key, "name")) {
            if (!string_is(v, model)) {
                st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: \"name\" must be the model's folder name '%s'",
                               where, model);
                goto done;
            }
        } else if (!strcmp(key, "platform")) {
            if (!string_is(v, "onnxruntime_onnx")) expected = "\"onnxruntime_onnx\" (Caravel serves ONNX models)";
        } else if (!strcmp(key, "backend")) {
            if (!string_is(v, "onnxruntime")) expected = "\"onnxruntime\" (Caravel serves ONNX models)";
        } else {
            st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                           "%s: unknown key \"%s\" (known: slo_ms, precision, max_rows, max_batch_size, share, "
                           "priority, queue_bound, replicas, name, platform, backend)",
                           where, key);
            goto done;
        }
        if (expected) {
            st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: \"%s\" must be %s", where, key, expected);
            goto done;
        }
    }
    if (!have_max_rows) out->max_rows = max_batch_size;
done:
    json_decref(root);
    return st;
}

cv_status cv_repo_config_read(const char *repo, const char *model, cv_repo_config_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    out->replicas = 1;
    if (!cv_repo_name_valid(model)) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "invalid model name");
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s/config.json", repo, model) >= sizeof path)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "model '%s': its path is too long", model);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return CV_STATUS_OK; /* no config: defaults */
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: %s", path, strerror(errno));
    }
    char *text = cv_malloc(CONFIG_MAX_BYTES + 1);
    if (!text) {
        fclose(f);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory reading %s", path);
    }
    size_t n = fread(text, 1, CONFIG_MAX_BYTES + 1, f);
    bool failed = ferror(f);
    fclose(f);
    cv_status st;
    if (failed) st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: cannot read it", path);
    else if (n > CONFIG_MAX_BYTES) st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: larger than 1 MiB", path);
    else st = cv_repo_config_parse(text, n, model, path, out, err);
    cv_free(text);
    return st;
}
