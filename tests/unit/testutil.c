/*
 * testutil.c: helpers shared by the cmocka unit tests.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cv_test_tmpdir(void)
{
    static char dir[512];
    if (!dir[0]) {
        mkdir(CARAVEL_TEST_TMP, 0755);
        snprintf(dir, sizeof dir, "%s/%d", CARAVEL_TEST_TMP, (int)getpid());
        mkdir(dir, 0755);
    }
    return dir;
}

int cv_test_have_shared(void)
{
    struct stat st;
    return stat(CARAVEL_SHARED_DIR "/models", &st) == 0;
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
