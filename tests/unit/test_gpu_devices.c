/*
 * test_gpu_devices.c: what placement and the metrics read of a GPU
 * (cv_runtime_device_info: name, the UUID Triton's gpu_uuid label uses,
 * memory) on every GPU the process sees, and a registry over all of them:
 * each device's usage bounded by the driver's free memory, a model placed
 * on one and charged its device bytes, answering. The placement rules
 * themselves are tested without GPUs (tests/cluster/test_placement.c).
 * Needs a GPU: exits 77 (skipped) with the reason when there is none or
 * the build has no CUDA backend.
 */
#include "testutil.h"

#include "core/core.h"
#include "repo/registry.h"

#include <ctype.h>
#include <string.h>

static void test_device_info(void **state)
{
    int count = cv_cuda_device_count();
    assert_true(count >= 1);
    for (int i = 0; i < count && i < CV_PLACE_MAX_DEVICES; i++) {
        cv_runtime_config_t config = {.device = CV_DEVICE_CUDA, .device_index = i, .no_profile = true};
        cv_runtime_t *rt;
        cv_err_t err;
        assert_int_equal(cv_runtime_create(&config, &rt, &err), CV_STATUS_OK);
        cv_device_info_t info;
        assert_int_equal(cv_runtime_device_info(rt, &info, &err), CV_STATUS_OK);
        printf("cuda:%d: %s %s, %zu of %zu bytes free\n", i, info.name, info.uuid, info.free_bytes, info.total_bytes);
        assert_int_equal(info.device, CV_DEVICE_CUDA);
        assert_int_equal(info.index, i);
        assert_true(info.name[0]);
        /* GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */
        assert_int_equal(strlen(info.uuid), 40);
        assert_memory_equal(info.uuid, "GPU-", 4);
        for (int k = 4; k < 40; k++)
            assert_true(k == 12 || k == 17 || k == 22 || k == 27 ? info.uuid[k] == '-' : isxdigit((unsigned char)info.uuid[k]));
        assert_true(info.total_bytes > 0 && info.free_bytes > 0 && info.free_bytes <= info.total_bytes);
        cv_runtime_destroy(rt);
    }
}

static void test_registry_on_gpus(void **state)
{
    int n = CV_MIN(cv_cuda_device_count(), 4);
    cv_runtime_t *rts[4];
    cv_registry_device_t devs[4];
    char names[4][16];
    const char *demo = cv_test_demo_repo();
    for (int i = 0; i < n; i++) {
        cv_runtime_config_t config = {.device = CV_DEVICE_CUDA, .device_index = i, .no_profile = true};
        cv_err_t err;
        assert_int_equal(cv_runtime_create(&config, &rts[i], &err), CV_STATUS_OK);
        snprintf(names[i], sizeof names[i], "cuda:%d", i);
        devs[i] = (cv_registry_device_t){.rt = rts[i], .name = names[i]};
    }
    cv_registry_t *reg;
    cv_err_t err;
    assert_int_equal(cv_registry_create_devices(devs, n, demo ? demo : "/nonexistent", &reg, &err), CV_STATUS_OK);
    for (int i = 0; i < n; i++) {
        cv_registry_usage_t u;
        cv_registry_device_usage(reg, i, &u);
        /* No budget: the driver's free memory is the limit. */
        assert_true(u.has_info && u.budget == CV_PLACE_UNLIMITED && u.free == u.info.free_bytes && u.placed == 0);
    }
    if (demo) {
        assert_int_equal(cv_registry_load(reg, "mlp-a", &err), CV_STATUS_OK);
        cv_served_t *s;
        assert_int_equal(cv_registry_acquire(reg, "mlp-a", -1, &s, &err), CV_STATUS_OK);
        cv_replica_stats_t reps[CV_PLACE_MAX_DEVICES];
        assert_int_equal(cv_served_replica_stats(s, reps), 1);
        /* Charged what it holds on the GPU. */
        assert_true(reps[0].bytes > 0 && reps[0].bytes == reps[0].device_bytes);
        cv_registry_usage_t u;
        cv_registry_device_usage(reg, reps[0].device, &u);
        assert_int_equal(u.placed, reps[0].bytes);
        cv_request_t *req;
        assert_int_equal(cv_served_request_create(s, 1, &req, &err), CV_STATUS_OK);
        assert_ptr_equal(cv_request_runtime(req), rts[reps[0].device]);
        assert_int_equal(cv_served_submit(s, req, NULL, NULL, &err), CV_STATUS_OK);
        assert_int_equal(cv_request_wait(req, &err), CV_STATUS_OK);
        cv_request_destroy(req);
        cv_served_release(s);
    } else {
        printf("no demo repository: placement of a model on a GPU not tried\n");
    }
    cv_registry_destroy(reg);
    for (int i = 0; i < n; i++) cv_runtime_destroy(rts[i]);
}

int main(void)
{
    int skip = cv_test_gpu_skip();
    if (skip) return skip;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_info),
        cmocka_unit_test(test_registry_on_gpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
