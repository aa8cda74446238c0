/*
 * test_repo.c: the model repository (src/repo): names that cannot climb
 * out of it, version folders, config.json, and the registry over a real
 * runtime (CPU): versions as tenants, the latest version, the index,
 * unloading while other threads make and submit requests of the model.
 */
#include "testutil.h"

#include "core/core.h"
#include "repo/registry.h"
#include "repo/repo.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_names(void **state)
{
    const char *good[] = {"a", "cnn-a", "A_b.c-1", "1", "x..y"};
    for (size_t i = 0; i < CV_ARRAY_LEN(good); i++)
        if (!cv_repo_name_valid(good[i])) fail_msg("'%s' should be a valid name", good[i]);
    char long_name[CV_REPO_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    const char *bad[] = {"", ".", "..", ".hidden", "a/b", "../etc", "a b", "a%2F", "a\\b", "\xc3\xbc", long_name, NULL};
    for (size_t i = 0; bad[i]; i++)
        if (cv_repo_name_valid(bad[i])) fail_msg("'%s' should be refused", bad[i]);
    assert_false(cv_repo_name_valid(NULL));
    long_name[CV_REPO_NAME_MAX] = 0;
    assert_true(cv_repo_name_valid(long_name));

    int64_t v;
    assert_true(cv_repo_version_parse("1", &v) && v == 1);
    assert_true(cv_repo_version_parse("0", &v) && v == 0);
    assert_true(cv_repo_version_parse("999999999999", &v) && v == 999999999999LL);
    const char *bad_versions[] = {"", "01", "-1", "+1", "1a", " 1", "9999999999999", "1.0"};
    for (size_t i = 0; i < CV_ARRAY_LEN(bad_versions); i++)
        if (cv_repo_version_parse(bad_versions[i], &v)) fail_msg("version '%s' should be refused", bad_versions[i]);
}

/* The tenant part of a config.json (the replicas are test_config's). */
static cv_status parse(const char *text, cv_tenant_config_t *c, cv_err_t *err)
{
    cv_repo_config_t config;
    cv_status st = cv_repo_config_parse(text, strlen(text), "m", "m/config.json", &config, err);
    *c = config.tenant;
    return st;
}

static void test_config(void **state)
{
    cv_tenant_config_t c;
    cv_err_t err;
    assert_int_equal(parse("{\"slo_ms\": 25.5, \"precision\": \"fp16\", \"max_rows\": 8, \"share\": 2, "
                           "\"priority\": -3, \"queue_bound\": 16, \"name\": \"m\", \"platform\": \"onnxruntime_onnx\"}",
                           &c, &err),
                     CV_STATUS_OK);
    assert_true(c.slo_ms == 25.5 && c.precision == CV_PRECISION_FP16 && c.max_rows == 8 && c.share == 2 &&
                c.priority == -3 && c.queue_bound == 16);
    assert_int_equal(parse("{\"max_batch_size\": 4}", &c, &err), CV_STATUS_OK);
    assert_int_equal(c.max_rows, 4);
    assert_int_equal(parse("{\"max_batch_size\": 4, \"max_rows\": 2}", &c, &err), CV_STATUS_OK);
    assert_int_equal(c.max_rows, 2);
    cv_repo_config_t rc;
    assert_int_equal(cv_repo_config_parse("{}", 2, "m", "m/config.json", &rc, &err), CV_STATUS_OK);
    assert_int_equal(rc.replicas, 1);
    assert_int_equal(cv_repo_config_parse("{\"replicas\": 3}", 15, "m", "m/config.json", &rc, &err), CV_STATUS_OK);
    assert_int_equal(rc.replicas, 3);
    assert_int_equal(parse("{}", &c, &err), CV_STATUS_OK);
    assert_true(c.slo_ms == 0 && c.max_rows == 0 && c.precision == CV_PRECISION_FP32);
    struct {
        const char *text, *says;
    } bad[] = {
        {"{\"slo_msec\": 5}", "unknown key \"slo_msec\""},
        {"{\"precision\": \"fp8\"}", "\"precision\" must be"},
        {"{\"slo_ms\": -1}", "\"slo_ms\" must be"},
        {"{\"max_rows\": 1.5}", "\"max_rows\" must be"},
        {"{\"queue_bound\": \"9\"}", "\"queue_bound\" must be"},
        {"{\"name\": \"other\"}", "folder name 'm'"},
        {"{\"platform\": \"tensorrt_plan\"}", "\"platform\" must be"},
        {"[1]", "a JSON object"},
        {"{\"share\": 1,}", "not valid JSON"},
        {"{\"share\": 1, \"share\": 2}", "not valid JSON"},
        {"{\"replicas\": 0}", "\"replicas\" must be"},
        {"{\"replicas\": 1.5}", "\"replicas\" must be"},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        cv_status st = parse(bad[i].text, &c, &err);
        if (st != CV_STATUS_INVALID_ARGUMENT || !strstr(err.msg, bad[i].says) || !strstr(err.msg, "m/config.json"))
            fail_msg("%s: %s '%s', expected '%s'", bad[i].text, cv_status_str(st), err.msg, bad[i].says);
    }
}

/* A repository in the scratch folder: m/1 = demo cnn-a, m/2 = demo cnn-b
 * (max_batch_size 4), bad/1 = cnn-a with a refused config, and folders
 * the scan must skip. NULL (test skipped) without the demo repository. */
static const char *make_repo(void)
{
    const char *demo = cv_test_demo_repo();
    if (!demo) return NULL;
    static char repo[1024];
    snprintf(repo, sizeof repo, "%s/registry-repo", cv_test_tmpdir());
    static char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s/m' '%s/bad' '%s/.hidden/1' '%s/m/01' '%s/m/x' && "
             "ln -s '%s/cnn-a/1' '%s/m/1' && ln -s '%s/cnn-b/1' '%s/m/2' && ln -s '%s/cnn-a/1' '%s/bad/1' && "
             "echo '{\"max_batch_size\": 4}' > '%s/m/config.json' && echo '{\"max_rowz\": 4}' > '%s/bad/config.json'",
             repo, repo, repo, repo, repo, repo, demo, repo, demo, repo, demo, repo, repo, repo);
    assert_int_equal(system(cmd), 0);
    return repo;
}

static void test_scan(void **state)
{
    const char *repo = make_repo();
    if (!repo) skip();
    cv_repo_names_t models;
    cv_err_t err;
    assert_int_equal(cv_repo_list_models(repo, &models, &err), CV_STATUS_OK);
    assert_int_equal(models.count, 2);
    assert_string_equal(models.names[0], "bad");
    assert_string_equal(models.names[1], "m");
    cv_repo_names_free(&models);
    int64_t *versions;
    int n;
    assert_int_equal(cv_repo_list_versions(repo, "m", &versions, &n, &err), CV_STATUS_OK);
    assert_int_equal(n, 2); /* "01" and "x" are not versions */
    assert_true(versions[0] == 1 && versions[1] == 2);
    cv_free(versions);
    assert_int_equal(cv_repo_list_versions(repo, "..", &versions, &n, &err), CV_STATUS_INVALID_ARGUMENT);
    assert_int_equal(cv_repo_list_versions(repo, "none", &versions, &n, &err), CV_STATUS_NOT_FOUND);
    assert_int_equal(cv_repo_list_models("/nonexistent-caravel-repo", &models, &err), CV_STATUS_NOT_FOUND);
}

static void test_registry(void **state)
{
    const char *repo = make_repo();
    if (!repo) skip();
    cv_runtime_t *rt = cv_test_runtime_create(CV_DEVICE_CPU, 1);
    cv_registry_t *reg;
    cv_err_t err;
    assert_int_equal(cv_registry_create(rt, repo, &reg, &err), CV_STATUS_OK);
    assert_int_equal(cv_registry_load_all(reg, &err), CV_STATUS_INVALID_ARGUMENT); /* bad's config */
    assert_non_null(strstr(err.msg, "max_rowz"));

    cv_served_t *s;
    assert_int_equal(cv_registry_acquire(reg, "m", -1, &s, &err), CV_STATUS_OK);
    assert_int_equal(s->version, 2);
    assert_string_equal(s->tenant_name, "m/2");
    assert_non_null(cv_tenant_find(rt, "m/2"));
    assert_true(s->sig.batched && s->sig.by_rows && s->sig.max_rows == 4);
    assert_int_equal(s->sig.ninputs, 1);
    assert_int_equal(s->sig.inputs[0].shape.dims[0], -1);
    cv_served_release(s);
    cv_served_t *one;
    assert_int_equal(cv_registry_acquire(reg, "m", 1, &one, &err), CV_STATUS_OK);
    assert_int_equal(one->version, 1);
    assert_int_equal(cv_registry_acquire(reg, "m", 3, &s, &err), CV_STATUS_NOT_FOUND);
    assert_int_equal(cv_registry_acquire(reg, "nope", -1, &s, &err), CV_STATUS_NOT_FOUND);
    assert_non_null(strstr(err.msg, "not known"));
    assert_int_equal(cv_registry_acquire(reg, "bad", -1, &s, &err), CV_STATUS_NOT_FOUND);

    cv_registry_row_t *rows;
    int n;
    assert_int_equal(cv_registry_index(reg, false, &rows, &n, &err), CV_STATUS_OK);
    assert_int_equal(n, 3);
    assert_true(!strcmp(rows[0].model, "bad") && rows[0].state == CV_SERVED_UNAVAILABLE &&
                strstr(rows[0].reason, "max_rowz"));
    assert_true(!strcmp(rows[1].model, "m") && rows[1].version == 1 && rows[1].state == CV_SERVED_READY);
    cv_free(rows);

    /* A request made through a record, then the model unloaded: the
     * record a caller holds stays readable, refuses new requests, and the
     * request made before can still be destroyed. */
    cv_request_t *req;
    assert_int_equal(cv_served_request_create(one, 1, &req, &err), CV_STATUS_OK);
    assert_int_equal(cv_registry_unload(reg, "m", &err), CV_STATUS_OK);
    assert_null(cv_tenant_find(rt, "m/1"));
    assert_int_equal(cv_registry_acquire(reg, "m", -1, &s, &err), CV_STATUS_NOT_FOUND);
    cv_request_t *late;
    assert_int_equal(cv_served_request_create(one, 1, &late, &err), CV_STATUS_UNAVAILABLE);
    assert_int_equal(cv_served_submit(one, req, NULL, NULL, &err), CV_STATUS_UNAVAILABLE);
    assert_string_equal(one->sig.inputs[0].name, "input");
    cv_request_destroy(req);
    cv_served_release(one);
    assert_int_equal(cv_registry_index(reg, true, &rows, &n, &err), CV_STATUS_OK);
    assert_int_equal(n, 0);
    cv_free(rows);
    assert_int_equal(cv_registry_unload(reg, "m", &err), CV_STATUS_OK); /* nothing loaded: fine */
    assert_int_equal(cv_registry_unload(reg, "none", &err), CV_STATUS_NOT_FOUND);
    assert_int_equal(cv_registry_load(reg, "../m", &err), CV_STATUS_INVALID_ARGUMENT);
    cv_registry_destroy(reg);
    cv_runtime_destroy(rt);
}

typedef struct churn {
    cv_registry_t *reg;
    atomic_bool stop;
    atomic_long completed, refused, unexpected;
} churn_t;

/* A request's answer, signalled from its callback. (Not cv_request_wait:
 * it can return while a request answered unrun is still on the runtime's
 * answer list, so destroying it then is a use after free; see the
 * server's report.) */
typedef struct answer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} answer_t;

static void on_done(cv_request_t *req, void *user)
{
    answer_t *a = user;
    pthread_mutex_lock(&a->mu);
    a->done = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Acquire, make, write, submit, wait: what an HTTP call does, in a loop,
 * while the main thread unloads and reloads the model. */
static void *client_main(void *arg)
{
    churn_t *c = arg;
    answer_t a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    while (!atomic_load(&c->stop)) {
        cv_served_t *s;
        cv_err_t err;
        if (cv_registry_acquire(c->reg, "m", -1, &s, &err) != CV_STATUS_OK) {
            atomic_fetch_add(&c->refused, 1);
            continue;
        }
        cv_request_t *req;
        cv_status st = cv_served_request_create(s, 2, &req, &err);
        if (st == CV_STATUS_OK) {
            cv_tensor_t *in = cv_request_input(req, 0);
            memset(in->data, 0, cv_tensor_nbytes(in));
            a.done = false;
            st = cv_served_submit(s, req, on_done, &a, &err);
            if (st == CV_STATUS_OK) {
                pthread_mutex_lock(&a.mu);
                while (!a.done) pthread_cond_wait(&a.cv, &a.mu);
                pthread_mutex_unlock(&a.mu);
                st = cv_request_status(req, &err);
            }
            cv_request_destroy(req);
        }
        if (st == CV_STATUS_OK) atomic_fetch_add(&c->completed, 1);
        else if (st == CV_STATUS_UNAVAILABLE) atomic_fetch_add(&c->refused, 1);
        else {
            fprintf(stderr, "unexpected %s: %s\n", cv_status_str(st), err.msg);
            atomic_fetch_add(&c->unexpected, 1);
        }
        cv_served_release(s);
    }
    return NULL;
}

static void test_unload_under_load(void **state)
{
    const char *repo = make_repo();
    if (!repo) skip();
    cv_runtime_t *rt = cv_test_runtime_create(CV_DEVICE_CPU, 1);
    churn_t c = {0};
    cv_err_t err;
    assert_int_equal(cv_registry_create(rt, repo, &c.reg, &err), CV_STATUS_OK);
    assert_int_equal(cv_registry_load(c.reg, "m", &err), CV_STATUS_OK);
    pthread_t clients[3];
    for (int i = 0; i < 3; i++) pthread_create(&clients[i], NULL, client_main, &c);
    for (int round = 0; round < 4; round++) {
        usleep(20000);
        assert_int_equal(cv_registry_unload(c.reg, "m", &err), CV_STATUS_OK);
        usleep(5000);
        assert_int_equal(cv_registry_load(c.reg, "m", &err), CV_STATUS_OK);
    }
    usleep(20000);
    atomic_store(&c.stop, true);
    for (int i = 0; i < 3; i++) pthread_join(clients[i], NULL);
    assert_true(atomic_load(&c.completed) > 0);
    assert_int_equal(atomic_load(&c.unexpected), 0);
    cv_registry_destroy(c.reg);
    cv_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),    cmocka_unit_test(test_config),
        cmocka_unit_test(test_scan),     cmocka_unit_test(test_registry),
        cmocka_unit_test(test_unload_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
