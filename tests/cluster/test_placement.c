/*
 * test_placement.c: several devices in one process, without GPUs (label
 * cluster). First the rules of src/repo/placement.h on made-up devices:
 * the most free device, ties by load and index, a family kept on its
 * device, a full device skipped, budgets and a device's own free memory,
 * the fits-nowhere message, excluded devices, the replica a request goes
 * to. Then the registry over several logical CPU devices (a runtime each)
 * and the demo repository: families placed together, a family split only
 * when its device is full, a model that fits nowhere failing with the
 * sizes while the others load, replicas on distinct devices with requests
 * spread evenly, correct answers on every device, and a device's bytes
 * given back on unload.
 */
#include "testutil.h"

#include "core/core.h"
#include "repo/placement.h"
#include "repo/registry.h"

#include <stdlib.h>
#include <string.h>

/* ---- the rules ------------------------------------------------------------- */

static cv_place_device_t dev(const char *name, size_t budget, size_t resident)
{
    return (cv_place_device_t){.name = name, .budget = budget, .resident = resident,
                               .reported_free = CV_PLACE_UNLIMITED};
}

static void test_most_free(void **state)
{
    cv_place_device_t d[3] = {dev("cpu:0", 1000, 600), dev("cpu:1", 1000, 100), dev("cpu:2", 1000, 300)};
    int order[3];
    cv_err_t err;
    assert_int_equal(cv_place_rank(d, 3, 200, order, &err), 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    /* Only those it fits, in the same order. */
    assert_int_equal(cv_place_rank(d, 3, 650, order, &err), 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    /* Equal free bytes: the least loaded, then the lowest index. */
    cv_place_device_t e[3] = {dev("a", 1000, 0), dev("b", 1000, 0), dev("c", 1000, 0)};
    e[0].load = 5;
    e[2].load = 1;
    assert_int_equal(cv_place_rank(e, 3, 10, order, &err), 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    e[1].load = 1;
    assert_int_equal(cv_place_rank(e, 3, 10, order, &err), 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
}

static void test_family_first(void **state)
{
    /* cpu:0 holds two of the family, cpu:2 one: both before the emptier
     * cpu:1, most members first. */
    cv_place_device_t d[3] = {dev("cpu:0", 1000, 800), dev("cpu:1", 1000, 0), dev("cpu:2", 1000, 500)};
    d[0].family_members = 2;
    d[2].family_members = 1;
    int order[3];
    cv_err_t err;
    assert_int_equal(cv_place_rank(d, 3, 100, order, &err), 3);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 1);
    /* The family's device is full: the tenant goes where it fits, the most
     * free device first. */
    assert_int_equal(cv_place_rank(d, 3, 300, order, &err), 2);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 1);
    assert_int_equal(cv_place_rank(d, 3, 600, order, &err), 1);
    assert_int_equal(order[0], 1);
}

static void test_limits(void **state)
{
    cv_place_device_t d = dev("cuda:0", CV_PLACE_UNLIMITED, 123);
    assert_true(cv_place_free(&d) == CV_PLACE_UNLIMITED);
    /* A GPU without a budget: its own free memory. */
    d.reported_free = 5000;
    assert_int_equal(cv_place_free(&d), 5000);
    /* A budget under what the device has free: the budget's room. */
    d.budget = 1000;
    assert_int_equal(cv_place_free(&d), 877);
    /* Other processes took the memory: the device's word wins. */
    d.reported_free = 400;
    assert_int_equal(cv_place_free(&d), 400);
    /* Over its budget (a budget smaller than what was loaded): none. */
    d.resident = 1500;
    assert_int_equal(cv_place_free(&d), 0);
    int order[1];
    assert_int_equal(cv_place_rank(&d, 1, 1, order, NULL), 0); /* no message asked for */
    /* Exactly full fits. */
    cv_place_device_t e = dev("cpu:0", 1000, 400);
    assert_int_equal(cv_place_rank(&e, 1, 600, order, NULL), 1);
    assert_int_equal(cv_place_rank(&e, 1, 601, order, NULL), 0);
}

static void test_fits_nowhere(void **state)
{
    cv_place_device_t d[3] = {dev("cpu:0", 2 << 20, 1 << 20), dev("cpu:1", 2 << 20, 0), dev("cuda:0", CV_PLACE_UNLIMITED, 0)};
    d[2].reported_free = 512 << 10;
    int order[3];
    cv_err_t err;
    memset(&err, 0, sizeof err);
    assert_int_equal(cv_place_rank(d, 3, 3 << 20, order, &err), 0);
    assert_string_equal(err.msg, "needs 3.0 MiB and fits on no device (cpu:0: 1.0 MiB free of 2.0 MiB; cpu:1: "
                                 "2.0 MiB free of 2.0 MiB; cuda:0: 512.0 KiB free)");
    /* Excluded devices are never chosen, and said to be no candidate. */
    d[1].excluded = true;
    assert_int_equal(cv_place_rank(d, 3, 100, order, &err), 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);
    d[0].excluded = d[2].excluded = true;
    assert_int_equal(cv_place_rank(d, 3, 100, order, &err), 0);
    assert_non_null(strstr(err.msg, "cpu:1: not a candidate"));
    /* Sixteen devices with long names: cut to one line, never overflowing. */
    cv_place_device_t many[CV_PLACE_MAX_DEVICES];
    char names[CV_PLACE_MAX_DEVICES][40];
    for (int i = 0; i < CV_PLACE_MAX_DEVICES; i++) {
        snprintf(names[i], sizeof names[i], "a-rather-long-device-name-%d", i);
        many[i] = dev(names[i], 1000, 999);
    }
    int order16[CV_PLACE_MAX_DEVICES];
    assert_int_equal(cv_place_rank(many, CV_PLACE_MAX_DEVICES, 2, order16, &err), 0);
    assert_true(strlen(err.msg) < CV_ERR_LEN);
    assert_non_null(strstr(err.msg, "needs 2 B and fits on no device (a-rather-long-device-name-0: 1 B free"));
}

static void test_bytes_str(void **state)
{
    char buf[32];
    assert_string_equal(cv_place_bytes_str(0, buf, sizeof buf), "0 B");
    assert_string_equal(cv_place_bytes_str(1023, buf, sizeof buf), "1023 B");
    assert_string_equal(cv_place_bytes_str(1536, buf, sizeof buf), "1.5 KiB");
    assert_string_equal(cv_place_bytes_str((size_t)3 << 30, buf, sizeof buf), "3.0 GiB");
    assert_string_equal(cv_place_bytes_str(CV_PLACE_UNLIMITED, buf, sizeof buf), "unlimited");
}

static void test_pick_replica(void **state)
{
    /* The least loaded whatever the turn. */
    long load[3] = {4, 1, 2};
    for (unsigned turn = 0; turn < 6; turn++) assert_int_equal(cv_place_pick_replica(load, 3, turn), 1);
    /* Equal loads: round robin, each replica as often as the others. */
    long equal[3] = {2, 2, 2};
    int picked[3] = {0};
    for (unsigned turn = 0; turn < 300; turn++) picked[cv_place_pick_replica(equal, 3, turn)]++;
    assert_true(picked[0] == 100 && picked[1] == 100 && picked[2] == 100);
    /* Ties among the least loaded only. */
    long two[3] = {0, 3, 0};
    int counts[3] = {0};
    for (unsigned turn = 0; turn < 10; turn++) counts[cv_place_pick_replica(two, 3, turn)]++;
    assert_true(counts[1] == 0 && counts[0] >= 4 && counts[2] >= 3);
    long one[1] = {7};
    assert_int_equal(cv_place_pick_replica(one, 1, 12345), 0);
    /* Turns past UINT_MAX wrap without a bias to index 0 beyond one turn. */
    assert_int_equal(cv_place_pick_replica(equal, 3, 4294967295u), (int)(4294967295u % 3));
}

/* ---- the registry over several CPU devices --------------------------------- */

typedef struct fleet {
    int n;
    cv_runtime_t *rts[4];
    cv_registry_t *reg;
} fleet_t;

static char repo[1024];
static const char *demo;

/* The scratch repository: the demo's models, and `hot` (mlp-a's model,
 * so of the MLP family) with {"replicas": 2}. NULL without the demo. */
static const char *make_repo(void)
{
    if (!(demo = cv_test_demo_repo())) return NULL;
    snprintf(repo, sizeof repo, "%s/placement-repo", cv_test_tmpdir());
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s/hot' && for m in cnn-a cnn-b cnn-c mlp-a mlp-b; do ln -s '%s/'$m '%s/'$m; "
             "done && ln -s '%s/mlp-a/1' '%s/hot/1' && echo '{\"replicas\": 2}' > '%s/hot/config.json'",
             repo, repo, demo, repo, demo, repo, repo);
    assert_int_equal(system(cmd), 0);
    return repo;
}

/* n logical CPU devices "cpu:0".., each with `budget` bytes (0: none). */
static void fleet_up(fleet_t *f, int n, size_t budget)
{
    memset(f, 0, sizeof(*f));
    f->n = n;
    cv_registry_device_t devs[4];
    static const char *const names[4] = {"cpu:0", "cpu:1", "cpu:2", "cpu:3"};
    for (int i = 0; i < n; i++) {
        f->rts[i] = cv_test_runtime_create(CV_DEVICE_CPU, 1);
        devs[i] = (cv_registry_device_t){.rt = f->rts[i], .name = names[i], .budget_bytes = budget};
    }
    cv_err_t err;
    assert_int_equal(cv_registry_create_devices(devs, n, repo, &f->reg, &err), CV_STATUS_OK);
}

static void fleet_down(fleet_t *f)
{
    cv_registry_destroy(f->reg);
    for (int i = 0; i < f->n; i++) cv_runtime_destroy(f->rts[i]);
}

/* The bytes placement charges for a model of the demo (its weights). */
static size_t weight_bytes(cv_runtime_t *rt, const char *model)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s/1/model.onnx", demo, model);
    cv_tenant_config_t config = {0};
    cv_model_probe_t probe;
    cv_err_t err;
    assert_int_equal(cv_model_probe(rt, path, &config, &probe, &err), CV_STATUS_OK);
    assert_true(probe.weight_bytes > 0);
    return probe.weight_bytes;
}

/* The devices of (model, version 1) in the index, "cpu:0,cpu:1", or the
 * state's name when it has none. */
static const char *placed(fleet_t *f, const char *model, char *buf, size_t len)
{
    cv_registry_row_t *rows;
    int n;
    cv_err_t err;
    assert_int_equal(cv_registry_index(f->reg, false, &rows, &n, &err), CV_STATUS_OK);
    snprintf(buf, len, "absent");
    for (int i = 0; i < n; i++) {
        if (strcmp(rows[i].model, model) != 0) continue;
        if (rows[i].ndevices == 0) snprintf(buf, len, "%s", cv_served_state_name(rows[i].state));
        size_t at = 0;
        for (int k = 0; k < rows[i].ndevices && at < len; k++)
            at += (size_t)snprintf(buf + at, len - at, "%s%s", k ? "," : "",
                                   cv_registry_device_name(f->reg, rows[i].devices[k]));
    }
    cv_free(rows);
    return buf;
}

static void expect_placed(fleet_t *f, const char *model, const char *devices)
{
    char buf[256];
    if (strcmp(placed(f, model, buf, sizeof buf), devices) != 0)
        fail_msg("%s: placed on %s, expected %s", model, buf, devices);
}

/* One request of `model` through its record with the demo's reference
 * input of `source` (the demo model it was made from), checked against
 * the reference output; returns the device index it ran on. */
static int infer_checked(fleet_t *f, const char *model, const char *source)
{
    char path[2048];
    cv_err_t err;
    cv_tensor_t in, ref;
    snprintf(path, sizeof path, "%s/%s/1/test_data_set_0/input_0.pb", demo, source);
    assert_int_equal(cv_tensor_read_pb(path, &in, &err), CV_STATUS_OK);
    snprintf(path, sizeof path, "%s/%s/1/test_data_set_0/output_0.pb", demo, source);
    assert_int_equal(cv_tensor_read_pb(path, &ref, &err), CV_STATUS_OK);
    cv_served_t *s;
    assert_int_equal(cv_registry_acquire(f->reg, model, -1, &s, &err), CV_STATUS_OK);
    cv_request_t *req;
    assert_int_equal(cv_served_request_create(s, in.shape.dims[0], &req, &err), CV_STATUS_OK);
    cv_tensor_t *x = cv_request_input(req, 0);
    assert_int_equal(cv_tensor_nbytes(x), cv_tensor_nbytes(&in));
    memcpy(x->data, in.data, cv_tensor_nbytes(&in));
    int device = -1;
    for (int i = 0; i < f->n; i++)
        if (cv_request_runtime(req) == f->rts[i]) device = i;
    assert_true(device >= 0);
    assert_int_equal(cv_served_submit(s, req, NULL, NULL, &err), CV_STATUS_OK);
    if (cv_request_wait(req, &err) != CV_STATUS_OK) fail_msg("%s: %s", model, err.msg);
    cv_test_compare(model, cv_request_output(req, 0), &ref, 1e-4, 1e-6);
    cv_request_destroy(req);
    cv_served_release(s);
    cv_tensor_free(&in);
    cv_tensor_free(&ref);
    return device;
}

/* Three devices, each with room for one MLP and three CNNs. */
static void test_families_together(void **state)
{
    if (!make_repo()) skip();
    cv_runtime_t *probe_rt = cv_test_runtime_create(CV_DEVICE_CPU, 1);
    size_t cnn = weight_bytes(probe_rt, "cnn-a"), mlp = weight_bytes(probe_rt, "mlp-a");
    cv_runtime_destroy(probe_rt);
    assert_true(mlp > 3 * cnn); /* so that the CNNs left room cannot take an MLP */
    fleet_t f;
    fleet_up(&f, 3, mlp + 3 * cnn);
    cv_err_t err;
    /* All empty: the lowest index. Then the family's device, though the
     * others are emptier. */
    assert_int_equal(cv_registry_load(f.reg, "cnn-a", &err), CV_STATUS_OK);
    assert_int_equal(cv_registry_load(f.reg, "cnn-b", &err), CV_STATUS_OK);
    expect_placed(&f, "cnn-a", "cpu:0");
    expect_placed(&f, "cnn-b", "cpu:0");
    /* A new family: the most free device (cpu:1 and cpu:2 tie: cpu:1). */
    assert_int_equal(cv_registry_load(f.reg, "mlp-a", &err), CV_STATUS_OK);
    expect_placed(&f, "mlp-a", "cpu:1");
    /* Its device is full for a second MLP: the family is split, onto the
     * device with the most free bytes. */
    assert_int_equal(cv_registry_load(f.reg, "mlp-b", &err), CV_STATUS_OK);
    expect_placed(&f, "mlp-b", "cpu:2");
    assert_int_equal(cv_registry_load(f.reg, "cnn-c", &err), CV_STATUS_OK);
    expect_placed(&f, "cnn-c", "cpu:0");
    /* hot asks for two replicas; only cpu:0 has room for an MLP now: it
     * serves from that one, the second left out. */
    assert_int_equal(cv_registry_load(f.reg, "hot", &err), CV_STATUS_OK);
    expect_placed(&f, "hot", "cpu:0");

    cv_registry_usage_t u;
    cv_registry_device_usage(f.reg, 0, &u);
    assert_int_equal(u.placed, 3 * cnn + mlp);
    assert_int_equal(u.free, 0);
    assert_int_equal(u.replicas, 4);
    assert_int_equal(u.budget, mlp + 3 * cnn);
    cv_registry_device_usage(f.reg, 1, &u);
    assert_int_equal(u.placed, mlp);
    assert_int_equal(u.replicas, 1);
    /* Each device's scheduler answers its own tenants, correctly. */
    assert_int_equal(infer_checked(&f, "cnn-b", "cnn-b"), 0);
    assert_int_equal(infer_checked(&f, "mlp-a", "mlp-a"), 1);
    assert_int_equal(infer_checked(&f, "mlp-b", "mlp-b"), 2);
    assert_int_equal(infer_checked(&f, "hot", "mlp-a"), 0);
    cv_runtime_stats_t rs;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cv_runtime_stats(f.rts[i], &rs), CV_STATUS_OK);
        assert_true(rs.waves >= 1);
    }
    assert_int_equal(rs.tenants, 1);

    /* Unloading gives the bytes back; a reload lands on the emptiest. */
    assert_int_equal(cv_registry_unload(f.reg, "mlp-a", &err), CV_STATUS_OK);
    cv_registry_device_usage(f.reg, 1, &u);
    assert_true(u.placed == 0 && u.replicas == 0);
    expect_placed(&f, "mlp-a", "UNAVAILABLE");
    assert_int_equal(cv_registry_load(f.reg, "mlp-a", &err), CV_STATUS_OK);
    /* Its family's devices (cpu:0 with hot, cpu:2 with mlp-b) have no
     * room for it: the emptied cpu:1 takes it back. */
    expect_placed(&f, "mlp-a", "cpu:1");
    fleet_down(&f);
}

/* A budget no MLP fits: the MLPs fail with the sizes, the CNNs serve. */
static void test_fits_nowhere_registry(void **state)
{
    if (!make_repo()) skip();
    cv_runtime_t *probe_rt = cv_test_runtime_create(CV_DEVICE_CPU, 1);
    size_t cnn = weight_bytes(probe_rt, "cnn-a"), mlp = weight_bytes(probe_rt, "mlp-a");
    cv_runtime_destroy(probe_rt);
    fleet_t f;
    fleet_up(&f, 2, mlp - cnn);
    cv_err_t err;
    assert_int_equal(cv_registry_load_all(f.reg, &err), CV_STATUS_OUT_OF_MEMORY);
    char need[32], budget[32], expected[CV_ERR_LEN];
    snprintf(expected, sizeof expected, "model 'hot' version 1: needs %s and fits on no device (cpu:0: ",
             cv_place_bytes_str(mlp, need, sizeof need));
    if (!strstr(err.msg, expected)) fail_msg("'%s' does not start with '%s'", err.msg, expected);
    snprintf(expected, sizeof expected, "free of %s;", cv_place_bytes_str(mlp - cnn, budget, sizeof budget));
    assert_non_null(strstr(err.msg, expected));
    expect_placed(&f, "cnn-a", "cpu:0");
    expect_placed(&f, "cnn-c", "cpu:0");
    expect_placed(&f, "mlp-a", "UNAVAILABLE");
    expect_placed(&f, "mlp-b", "UNAVAILABLE");
    /* The index says why. */
    cv_registry_row_t *rows;
    int n;
    assert_int_equal(cv_registry_index(f.reg, false, &rows, &n, &err), CV_STATUS_OK);
    bool said = false;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].model, "mlp-b"))
            said = strstr(rows[i].reason, "model 'mlp-b' version 1: needs") && strstr(rows[i].reason, "fits on no device");
    cv_free(rows);
    assert_true(said);
    cv_registry_usage_t u;
    cv_registry_device_usage(f.reg, 0, &u);
    assert_int_equal(u.placed, 3 * cnn);
    assert_int_equal(u.free, mlp - 4 * cnn);
    cv_registry_device_usage(f.reg, 1, &u);
    assert_int_equal(u.placed, 0);
    assert_int_equal(infer_checked(&f, "cnn-c", "cnn-c"), 0);
    fleet_down(&f);
}

/* Replicas on distinct devices, requests spread evenly between them, each
 * answer right; more replicas than devices serve on every device. */
static void test_replicas(void **state)
{
    if (!make_repo()) skip();
    fleet_t f;
    fleet_up(&f, 2, 0);
    cv_err_t err;
    assert_int_equal(cv_registry_load(f.reg, "hot", &err), CV_STATUS_OK);
    expect_placed(&f, "hot", "cpu:0,cpu:1");
    int on[2] = {0, 0};
    for (int i = 0; i < 12; i++) on[infer_checked(&f, "hot", "mlp-a")]++;
    assert_int_equal(on[0], 6);
    assert_int_equal(on[1], 6);
    cv_served_t *s;
    assert_int_equal(cv_registry_acquire(f.reg, "hot", -1, &s, &err), CV_STATUS_OK);
    cv_replica_stats_t reps[CV_PLACE_MAX_DEVICES];
    assert_int_equal(cv_served_replica_stats(s, reps), 2);
    assert_int_equal(reps[0].tenant.outcomes[CV_OUTCOME_COMPLETED], 6);
    assert_int_equal(reps[1].tenant.outcomes[CV_OUTCOME_COMPLETED], 6);
    cv_request_stats_t sum;
    assert_true(cv_served_stats(s, &sum, NULL, NULL));
    assert_int_equal(sum.outcomes[CV_OUTCOME_COMPLETED], 12);
    cv_served_release(s);
    /* The MLP family now lives on both: mlp-a joins the first. */
    assert_int_equal(cv_registry_load(f.reg, "mlp-a", &err), CV_STATUS_OK);
    expect_placed(&f, "mlp-a", "cpu:0");
    /* Three replicas asked of two devices: one on each. */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "echo '{\"replicas\": 3}' > '%s/hot/config.json'", repo);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cv_registry_load(f.reg, "hot", &err), CV_STATUS_OK); /* a reload */
    expect_placed(&f, "hot", "cpu:0,cpu:1"); /* mlp-a's device first */
    assert_int_equal(cv_registry_unload(f.reg, "hot", &err), CV_STATUS_OK);
    assert_int_equal(cv_registry_unload(f.reg, "mlp-a", &err), CV_STATUS_OK);
    for (int i = 0; i < 2; i++) {
        cv_registry_usage_t u;
        cv_registry_device_usage(f.reg, i, &u);
        assert_true(u.placed == 0 && u.replicas == 0 && u.free == CV_PLACE_UNLIMITED);
        /* A CPU device: no memory of its own to report. */
        assert_true(u.has_info && u.info.device == CV_DEVICE_CPU && u.info.total_bytes == 0);
        assert_string_equal(u.info.name, "cpu");
    }
    fleet_down(&f);
}

/* The probe tells the family the load will give, for each kind of model
 * of the demo. */
static void test_probe_matches_load(void **state)
{
    if (!make_repo()) skip();
    cv_runtime_t *rt = cv_test_runtime_create(CV_DEVICE_CPU, 1);
    const char *models[] = {"cnn-a", "cnn-b", "mlp-a"};
    for (size_t i = 0; i < CV_ARRAY_LEN(models); i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s/1/model.onnx", demo, models[i]);
        cv_tenant_config_t config = {0};
        cv_model_probe_t probe;
        cv_err_t err;
        assert_int_equal(cv_model_probe(rt, path, &config, &probe, &err), CV_STATUS_OK);
        cv_tenant_t *t;
        assert_int_equal(cv_tenant_load_config(rt, models[i], path, &config, &t, &err), CV_STATUS_OK);
        assert_true(probe.family_hash == cv_tenant_family_hash(t));
        /* Weights are most of a tenant's host bytes, never more. */
        assert_true(probe.weight_bytes <= cv_tenant_bytes(t));
    }
    cv_err_t err;
    cv_model_probe_t probe;
    cv_tenant_config_t config = {0};
    assert_int_equal(cv_model_probe(rt, "/nonexistent/model.onnx", &config, &probe, &err), CV_STATUS_NOT_FOUND);
    cv_runtime_destroy(rt);
}

/* Bad device lists are refused with a reason. */
static void test_bad_devices(void **state)
{
    cv_runtime_t *rt = cv_test_runtime_create(CV_DEVICE_CPU, 1);
    cv_registry_t *reg;
    cv_err_t err;
    cv_registry_device_t two[2] = {{.rt = rt, .name = "cpu:0"}, {.rt = rt, .name = "cpu:1"}};
    assert_int_equal(cv_registry_create_devices(two, 2, "/tmp", &reg, &err), CV_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "listed twice"));
    assert_int_equal(cv_registry_create_devices(two, 0, "/tmp", &reg, &err), CV_STATUS_INVALID_ARGUMENT);
    two[0].name = "";
    assert_int_equal(cv_registry_create_devices(two, 1, "/tmp", &reg, &err), CV_STATUS_INVALID_ARGUMENT);
    /* One runtime, named from its device. */
    assert_int_equal(cv_registry_create(rt, "/tmp", &reg, &err), CV_STATUS_OK);
    assert_int_equal(cv_registry_devices(reg), 1);
    assert_string_equal(cv_registry_device_name(reg, 0), "cpu");
    cv_registry_destroy(reg);
    cv_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_most_free),        cmocka_unit_test(test_family_first),
        cmocka_unit_test(test_limits),           cmocka_unit_test(test_fits_nowhere),
        cmocka_unit_test(test_bytes_str),        cmocka_unit_test(test_pick_replica),
        cmocka_unit_test(test_families_together), cmocka_unit_test(test_fits_nowhere_registry),
        cmocka_unit_test(test_replicas),         cmocka_unit_test(test_probe_matches_load),
        cmocka_unit_test(test_bad_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
