/*
 * testutil.c: helpers shared by the cmocka unit tests.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
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
