/*
 * test_gpu_sched_runtime.c: the asynchronous runtime's tests of
 * test_sched_runtime.c on the CUDA backend: every policy matches each
 * tenant alone, exactly-once answers under cancellations, unloads and
 * shutdown, refusals at once, waits, and waves of changing members over
 * the lanes' super-kernel caches (rebinds, never refreshes); then the
 * policies, stress and members again with a wave's copies as one kernel
 * (CARAVEL_COPY_KERNEL=on), with the lanes' blocking wait
 * (CARAVEL_WAIT=block), and with graphs launched from the device
 * (CARAVEL_GRAPH_LAUNCH=device). Needs a GPU:
 * exits 77 (skipped) with the reason when there is none or the build has
 * no CUDA backend.
 */
#ifdef CARAVEL_WITH_CUDA
#define SCHED_ON_CUDA
#include "test_sched_runtime.c"

/* The tests that exercise lanes, waves and members, once more with the
 * environment switch `var` set to `value` (read by each fresh backend). */
static int again_with(const char *var, const char *value)
{
    setenv(var, value, 1);
    const struct CMUnitTest again[] = {
        cmocka_unit_test(test_spacetime_matches_alone),
        cmocka_unit_test(test_space_matches_alone),
        cmocka_unit_test(test_exactly_once_stress),
        cmocka_unit_test(test_spacetime_changing_members),
    };
    char name[96];
    snprintf(name, sizeof name, "%s=%s", var, value);
    int failed = cmocka_run_group_tests_name(name, again, find_repo, NULL);
    unsetenv(var);
    return failed;
}

int main(void)
{
    if (cv_test_gpu_skip()) return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spacetime_matches_alone),
        cmocka_unit_test(test_exclusive_matches_alone),
        cmocka_unit_test(test_time_matches_alone),
        cmocka_unit_test(test_space_matches_alone),
        cmocka_unit_test(test_exactly_once_stress),
        cmocka_unit_test(test_shutdown_answers_all),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_spacetime_changing_members),
        cmocka_unit_test(test_run_here),
        cmocka_unit_test(test_space_lane_replaced),
    };
    int failed = cmocka_run_group_tests(tests, find_repo, NULL);
    /* A wave's uploads and downloads as one kernel each (cuda_copy.cu; the
     * request buffers are pinned blocks it reads). */
    failed += again_with("CARAVEL_COPY_KERNEL", "on");
    /* The lanes waiting for their waves asleep on a blocking-sync event
     * instead of spinning. */
    failed += again_with("CARAVEL_WAIT", "block");
    /* The lanes' graphs launched from the device: waves of changing
     * members on several lanes at once, each tail-launched by its
     * launcher graph. */
    failed += again_with("CARAVEL_GRAPH_LAUNCH", "device");
    return failed;
}

#else /* !CARAVEL_WITH_CUDA */

#include <stdio.h>

int main(void)
{
    printf("skipped: this build has no CUDA backend (nvcc was not found)\n");
    return 77;
}
#endif
