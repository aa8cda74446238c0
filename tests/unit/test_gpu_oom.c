/*
 * test_gpu_oom.c: the out-of-memory loops of test_oom.c on the CUDA
 * backend: failing the Nth host allocation, and failing the Nth device (or
 * pinned host) allocation, through loading two tenants, planning, a wave
 * and a solo run. Needs a GPU: exits 77 (skipped) with the reason when there
 * is none or the build has no CUDA backend.
 */
#ifdef CARAVEL_WITH_CUDA
#define OOM_ON_CUDA
#include "test_oom.c"

#include "backend/backend.h"

static void test_host_oom_loop_cuda(void **state)
{
    if (!have_repo()) skip();
    long failures = oom_loop(CV_DEVICE_CUDA, FAULT_HOST);
    printf("host allocation failures survived on CUDA: %ld\n", failures);
    assert_true(failures > 100);
}

static void test_device_oom_loop_cuda(void **state)
{
    if (!have_repo()) skip();
    long failures = oom_loop(CV_DEVICE_CUDA, FAULT_DEVICE);
    printf("device allocation failures survived on CUDA: %ld\n", failures);
    assert_true(failures >= 3); /* two tenants' constants and the wave's buffer at least */
}

int main(void)
{
    cv_err_t err;
    cv_backend_t *probe;
    if (cv_backend_cuda_create(0, &probe, &err) != CV_STATUS_OK) {
        printf("skipped: no GPU for the CUDA backend: %s\n", err.msg);
        return 77;
    }
    probe->iface->destroy(probe);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_oom_loop_cuda),
        cmocka_unit_test(test_device_oom_loop_cuda),
    };
    return cmocka_run_group_tests(tests, find_repo, NULL);
}

#else /* !CARAVEL_WITH_CUDA */

#include <stdio.h>

int main(void)
{
    printf("skipped: this build has no CUDA backend (nvcc was not found)\n");
    return 77;
}
#endif
