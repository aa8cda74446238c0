/*
 * testutil.c: the base of the test kit (see testutil.h).
 */
#include "testutil.h"

#include "backend/backend.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Under the build tree (CARAVEL_TEST_TMP, or that variable at run time);
 * where the build tree is not there (GPU tests run from the bundle on
 * another machine), under $TMPDIR or /tmp. */
const char *cv_test_tmpdir(void)
{
    static char dir[512];
    if (!dir[0]) {
        const char *base = getenv("CARAVEL_TEST_TMP");
        if (!base || !*base) base = CARAVEL_TEST_TMP;
        if (mkdir(base, 0755) != 0 && errno != EEXIST) {
            const char *tmp = getenv("TMPDIR");
            static char fallback[256];
            snprintf(fallback, sizeof fallback, "%s/caravel-test", tmp && *tmp ? tmp : "/tmp");
            base = fallback;
            mkdir(base, 0755);
        }
        snprintf(dir, sizeof dir, "%s/%d", base, (int)getpid());
        mkdir(dir, 0755);
    }
    return dir;
}

const char *cv_test_tmp_path(const char *file)
{
    static char paths[8][1024];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 1024, "%s/%s", cv_test_tmpdir(), file);
    return p;
}

void cv_test_write_file(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

const char *cv_test_shared_dir(void)
{
    const char *e = getenv("CARAVEL_SHARED_DIR");
    return e && *e ? e : CARAVEL_SHARED_DIR;
}

int cv_test_have_shared(void)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/models", cv_test_shared_dir());
    return stat(path, &st) == 0;
}

const char *cv_test_model_path(const char *model)
{
    static char paths[8][1024];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 1024, "%s/models/%s/model.onnx", cv_test_shared_dir(), model);
    return p;
}

void cv_test_require_model(const char *model)
{
    const char *path = cv_test_model_path(model);
    struct stat st;
    if (stat(path, &st) == 0) return;
    printf("skipped: %s is absent\n", path);
    skip();
}

cv_runtime_t *cv_test_runtime_create(cv_device_t device, int threads)
{
    cv_runtime_t *rt;
    cv_err_t err;
    /* No profile at load: the tests count waves and graph captures. */
    cv_runtime_config_t config = {.device = device, .threads = threads, .no_profile = true};
    if (cv_runtime_create(&config, &rt, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    return rt;
}

cv_tenant_t *cv_test_load_model(cv_runtime_t *rt, const char *name, const char *model, cv_precision_t precision)
{
    cv_tenant_t *t;
    cv_err_t err;
    if (cv_tenant_load(rt, name, cv_test_model_path(model), precision, &t, &err) != CV_STATUS_OK)
        fail_msg("%s", err.msg);
    return t;
}

cv_tensor_t cv_test_read_model_pb(const char *model, int set, const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/test_data_set_%d/%s", cv_test_shared_dir(), model, set, file);
    cv_tensor_t t;
    cv_err_t err;
    if (cv_tensor_read_pb(path, &t, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    return t;
}

void cv_test_fill_random(cv_tensor_t *t, uint64_t seed)
{
    uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
    int64_t n = cv_shape_numel(&t->shape);
    float *p = t->data;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
}

cv_tensor_t *cv_test_tensor(cv_dtype_t dtype, cv_shape_t shape, const void *values)
{
    cv_tensor_t *t = cv_tensor_new(dtype, &shape);
    assert_non_null(t);
    if (values) memcpy(t->data, values, cv_tensor_nbytes(t));
    return t;
}

cv_tensor_t *cv_test_random(cv_shape_t shape, uint64_t seed, float scale, float offset)
{
    cv_tensor_t *t = cv_test_tensor(CV_DTYPE_FP32, shape, NULL);
    cv_test_fill_random(t, seed);
    float *p = t->data;
    for (int64_t i = 0; i < cv_shape_numel(&shape); i++) p[i] = p[i] * scale + offset;
    return t;
}

cv_tensor_t *cv_test_uniform(cv_shape_t shape, uint64_t seed) { return cv_test_random(shape, seed, 1.0f, 0.0f); }

cv_tensor_t *cv_test_positive(cv_shape_t shape, uint64_t seed) { return cv_test_random(shape, seed, 1.0f, 1.1f); }

cv_tensor_t *cv_test_scalar_f32(float v) { return cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SCALAR, &v); }

cv_tensor_t *cv_test_i64s(cv_shape_t shape, const int64_t *v) { return cv_test_tensor(CV_DTYPE_INT64, shape, v); }

cv_tensor_t *cv_test_levels(cv_shape_t shape, uint64_t seed)
{
    cv_tensor_t *t = cv_test_uniform(shape, seed);
    float *p = t->data;
    for (int64_t i = 0; i < cv_shape_numel(&shape); i++) p[i] = roundf(p[i] * 2.0f);
    return t;
}

cv_tensor_t *cv_test_bools(cv_shape_t shape, uint64_t seed)
{
    cv_tensor_t *f = cv_test_uniform(shape, seed);
    cv_tensor_t *t = cv_test_tensor(CV_DTYPE_BOOL, shape, NULL);
    for (int64_t i = 0; i < cv_shape_numel(&shape); i++) ((uint8_t *)t->data)[i] = ((float *)f->data)[i] > 0.0f;
    cv_tensor_destroy(f);
    return t;
}

cv_tensor_t *cv_test_ints(cv_dtype_t dtype, cv_shape_t shape, uint64_t seed, int64_t range)
{
    cv_tensor_t *f = cv_test_uniform(shape, seed);
    cv_tensor_t *t = cv_test_tensor(dtype, shape, NULL);
    for (int64_t i = 0; i < cv_shape_numel(&shape); i++)
        cv_tensor_set_i64(t, i, (int64_t)lrintf(((float *)f->data)[i] * (float)range));
    cv_tensor_destroy(f);
    return t;
}

cv_tensor_t cv_test_rows_copy(const cv_tensor_t *t, int64_t row0, int64_t rows)
{
    assert_true(t->shape.ndim >= 1 && row0 + rows <= t->shape.dims[0]);
    cv_tensor_t r;
    cv_shape_t s = t->shape;
    s.dims[0] = rows;
    assert_int_equal(cv_tensor_alloc(&r, t->dtype, &s), CV_STATUS_OK);
    size_t row_bytes = t->shape.dims[0] ? cv_tensor_nbytes(t) / (size_t)t->shape.dims[0] : 0;
    if (rows) memcpy(r.data, (const char *)t->data + row_bytes * (size_t)row0, row_bytes * (size_t)rows);
    return r;
}

double cv_test_max_abs_diff(const cv_tensor_t *a, const cv_tensor_t *b)
{
    int64_t n = cv_shape_numel(&a->shape);
    const float *pa = a->data, *pb = b->data;
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)pa[i] - (double)pb[i]));
    return m;
}

const char *cv_test_demo_repo(void)
{
    static char repo[1024];
    static int state; /* 0 unknown, 1 ready, -1 unavailable */
    if (state == 0) {
        const char *given = getenv("CARAVEL_DEMO_REPO");
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "'%s' -c 'import onnx, onnxruntime' 2>/dev/null", CARAVEL_PYTHON);
        if (given && given[0]) {
            snprintf(repo, sizeof repo, "%s", given);
            state = 1;
        } else if (system(cmd) != 0) {
            state = -1;
        } else {
            snprintf(repo, sizeof repo, "%s/demo-repo", cv_test_tmpdir());
            snprintf(cmd, sizeof cmd, "'%s' '%s/tools/make_demo_repo.py' '%s' >/dev/null", CARAVEL_PYTHON,
                     CARAVEL_SOURCE_DIR, repo);
            state = system(cmd) == 0 ? 1 : -1;
        }
    }
    if (state > 0) return repo;
    printf("SKIP: no demo repository: %s cannot import onnx and onnxruntime (scripts/setup.sh makes .venv)\n",
           CARAVEL_PYTHON);
    return NULL;
}

double cv_test_rel_diff(const cv_tensor_t *a, const cv_tensor_t *ref)
{
    assert_true(cv_shape_equal(&a->shape, &ref->shape));
    double scale = 0;
    int64_t n = cv_shape_numel(&ref->shape);
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(((const float *)ref->data)[i]));
    return cv_test_max_abs_diff(a, ref) / (scale > 0 ? scale : 1);
}

static bool is_float(cv_dtype_t dtype)
{
    return dtype == CV_DTYPE_FP32 || dtype == CV_DTYPE_FP16 || dtype == CV_DTYPE_BF16 ||
           dtype == CV_DTYPE_FP64;
}

static double elem_f64(const cv_tensor_t *t, int64_t i)
{
    if (t->dtype == CV_DTYPE_FP16) return cv_fp16_to_fp32(((const uint16_t *)t->data)[i]);
    if (t->dtype == CV_DTYPE_BF16) return cv_bf16_to_fp32(((const uint16_t *)t->data)[i]);
    return cv_tensor_get_f64(t, i);
}

bool cv_test_agree(const char *what, const cv_tensor_t *got, const cv_tensor_t *ref, double rel, double abs_tol,
                   char *why, size_t why_len)
{
    char sg[96], sr[96];
    if (got->dtype != ref->dtype || !cv_shape_equal(&got->shape, &ref->shape)) {
        snprintf(why, why_len, "%s: output is %s %s, the reference %s %s", what, cv_dtype_name(got->dtype),
                 cv_shape_str(&got->shape, sg, sizeof sg), cv_dtype_name(ref->dtype),
                 cv_shape_str(&ref->shape, sr, sizeof sr));
        return false;
    }
    int64_t n = cv_shape_numel(&ref->shape);
    size_t es = cv_dtype_size(ref->dtype);
    for (int64_t i = 0; i < n; i++) {
        if (!is_float(ref->dtype)) {
            if (memcmp((const char *)got->data + i * (int64_t)es, (const char *)ref->data + i * (int64_t)es, es)) {
                snprintf(why, why_len, "%s: element %lld: got %lld, reference %lld", what, (long long)i,
                         (long long)cv_tensor_get_i64(got, i), (long long)cv_tensor_get_i64(ref, i));
                return false;
            }
            continue;
        }
        double a = elem_f64(got, i), b = elem_f64(ref, i);
        if (isnan(a) && isnan(b)) continue;
        bool ok = isinf(b) || isinf(a) ? a == b : fabs(a - b) <= abs_tol + rel * fabs(b);
        if (!ok) {
            snprintf(why, why_len, "%s: element %lld of %lld: got %.9g, reference %.9g (diff %.3g)", what,
                     (long long)i, (long long)n, a, b, fabs(a - b));
            return false;
        }
    }
    return true;
}

void cv_test_compare(const char *what, const cv_tensor_t *got, const cv_tensor_t *ref, double rel,
                     double abs_tol)
{
    char why[1024];
    if (!cv_test_agree(what, got, ref, rel, abs_tol, why, sizeof why)) fail_msg("%s", why);
}

bool cv_test_cuda_available(cv_err_t *why)
{
#ifdef CARAVEL_WITH_CUDA
    cv_backend_t *probe;
    if (cv_backend_cuda_create(0, &probe, why) != CV_STATUS_OK) return false;
    probe->iface->destroy(probe);
    return true;
#else
    snprintf(why->msg, sizeof why->msg, "this build has no CUDA backend (nvcc was not found)");
    return false;
#endif
}

int cv_test_gpu_skip(void)
{
    cv_err_t why;
    if (cv_test_cuda_available(&why)) return 0;
    printf("skipped: %s\n", why.msg);
    return 77;
}
