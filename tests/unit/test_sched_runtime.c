/*
 * test_sched_runtime.c: the asynchronous runtime on the CPU backend, with
 * its real threads (scheduler, lane workers, answers): requests submitted
 * from several threads get exactly what each tenant gets alone, every
 * request is answered exactly once through random cancellations, unloads
 * and shutdown, refusals come at once, and the counters add up. Under
 * `make tsan` this runs with ThreadSanitizer.
 *
 * Timing-dependent rules (deadlines, EDF, fairness) are checked under a
 * fake clock in test_sched.c; here the clock is real, so the checks are
 * those that hold whatever the timing.
 *
 * Models: the demo repository (two families); skipped with the reason
 * when the project's Python cannot make it.
 *
 * test_gpu_sched_runtime.c includes this file with SCHED_ON_CUDA: the same
 * tests on the CUDA backend (a stream per lane, pinned request buffers),
 * where waves of changing members also check the lanes' super-kernel
 * caches (rebinds, never refreshes), and cv_request_set_run_here is
 * ignored (the lanes' workers run every wave).
 */
#include "testutil.h"

#include "core/core.h"
#include "runtime/runtime_internal.h" /* the latency model, to make stragglers */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SCHED_ON_CUDA
#define DEVICE CV_DEVICE_CUDA
/* Batched GEMMs of a wave and the GEMM of one request may round apart. */
#define ALONE_TOLERANCE 1e-4
#else
#define DEVICE CV_DEVICE_CPU
#define ALONE_TOLERANCE 1e-5
#endif

static const char *repo;

static const char *const TENANTS[] = {"cnn-a", "cnn-b", "cnn-c", "mlp-a", "mlp-b"};
#define NTENANTS 5

typedef struct fixture {
    cv_runtime_t *rt;
    cv_tenant_t *t[NTENANTS];
} fixture_t;

static int find_repo(void **state)
{
    repo = cv_test_demo_repo();
    return 0;
}

static void load(fixture_t *f, int i, const char *as)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s/1/model.onnx", repo, TENANTS[i]);
    cv_err_t err;
    if (cv_tenant_load(f->rt, as ? as : TENANTS[i], path, CV_PRECISION_FP32, &f->t[i], &err) != CV_STATUS_OK)
        fail_msg("%s", err.msg);
}

static void fixture_init(fixture_t *f, cv_policy_t policy, bool profile)
{
    memset(f, 0, sizeof(*f));
    cv_runtime_config_t c = {.device = DEVICE, .threads = 2, .policy = policy, .no_profile = !profile};
    cv_err_t err;
    if (cv_runtime_create(&c, &f->rt, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    for (int i = 0; i < NTENANTS; i++) load(f, i, NULL);
}

/* Fills a request's inputs from a seed. */
static void fill(cv_request_t *req, uint64_t seed)
{
    cv_test_fill_random(cv_request_input(req, 0), seed);
}

/* What tenant t gives alone for `rows` rows of inputs from `seed`. */
static cv_tensor_t alone(fixture_t *f, cv_tenant_t *t, int64_t rows, uint64_t seed)
{
    cv_shape_t s = cv_tenant_input_shape(t, 0);
    s.dims[0] = rows;
    cv_tensor_t x, y;
    assert_int_equal(cv_tensor_alloc(&x, CV_DTYPE_FP32, &s), CV_STATUS_OK);
    cv_test_fill_random(&x, seed);
    cv_err_t err;
    if (cv_infer(f->rt, t, &x, &y, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    cv_tensor_free(&x);
    return y;
}

/* ---- answers counted per request -------------------------------------------- */

#define MAX_SUBMITS 4096

typedef struct tracked {
    cv_request_t *req;
    int tenant;
    int64_t rows;
    uint64_t seed;
    atomic_int answers;
    cv_outcome_t outcome;
    bool submitted;
} tracked_t;

static void count_answer(cv_request_t *req, void *user)
{
    tracked_t *t = user;
    t->outcome = cv_request_outcome(req);
    atomic_fetch_add(&t->answers, 1);
}

/* Every policy: a burst of requests of random tenants and rows from two
 * threads; each equals its tenant alone; the counters add up; spacetime
 * fuses tenants. */
static void run_matches_alone(cv_policy_t policy)
{
    if (!repo) skip();
    fixture_t f;
    fixture_init(&f, policy, true);
    enum { N = 120 };
    tracked_t *tr = calloc(N, sizeof(*tr));
    assert_non_null(tr);
    uint64_t rng = 12345;
    for (int i = 0; i < N; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        tr[i].tenant = (int)((rng >> 33) % NTENANTS);
        tr[i].rows = 1 + (int64_t)((rng >> 40) % 3 == 0);
        tr[i].seed = 1000 + (uint64_t)i;
        cv_err_t err;
        if (cv_request_create(f.rt, f.t[tr[i].tenant], tr[i].rows, &tr[i].req, &err) != CV_STATUS_OK)
            fail_msg("%s", err.msg);
        fill(tr[i].req, tr[i].seed);
    }
    for (int i = 0; i < N; i++) {
        cv_err_t err;
        if (cv_submit(f.rt, tr[i].req, count_answer, &tr[i], &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    }
    assert_true(cv_runtime_drain(f.rt, 60000));
    for (int i = 0; i < N; i++) {
        assert_int_equal(atomic_load(&tr[i].answers), 1);
        cv_err_t err;
        if (cv_request_status(tr[i].req, &err) != CV_STATUS_OK) fail_msg("request %d: %s", i, err.msg);
        assert_int_equal(tr[i].outcome, CV_OUTCOME_COMPLETED);
        cv_tensor_t want = alone(&f, f.t[tr[i].tenant], tr[i].rows, tr[i].seed);
        const cv_tensor_t *got = cv_request_output(tr[i].req, 0);
        assert_true(cv_shape_equal(&got->shape, &want.shape));
        double diff = cv_test_max_abs_diff(got, &want);
        if (diff > ALONE_TOLERANCE) fail_msg("%s: request %d of %s differs from it alone by %g", cv_policy_name(policy), i,
                                  TENANTS[tr[i].tenant], diff);
        cv_tensor_free(&want);
        cv_request_timings_t tm = cv_request_timings(tr[i].req);
        assert_true(tm.total_ms >= tm.computed_ms && tm.computed_ms > 0 && tm.queued_ms >= 0);
        cv_request_destroy(tr[i].req);
    }
    long completed = 0, fused = 0;
    for (int k = 0; k < NTENANTS; k++) {
        cv_request_stats_t st;
        assert_int_equal(cv_tenant_stats(f.rt, f.t[k], &st), CV_STATUS_OK);
        assert_int_equal(st.submitted, st.outcomes[CV_OUTCOME_COMPLETED]);
        assert_int_equal(st.slo_met, st.outcomes[CV_OUTCOME_COMPLETED]); /* no SLO: always met */
        assert_int_equal(st.queued, 0); /* drained */
        assert_int_equal(st.in_flight, 0);
        completed += st.outcomes[CV_OUTCOME_COMPLETED];
        fused += st.fused;
        if (policy != CV_POLICY_SPACETIME) assert_int_equal(st.fused, 0);
    }
    assert_int_equal(completed, N);
    if (policy == CV_POLICY_SPACETIME) assert_true(fused > 0);
    cv_runtime_stats_t rs;
    assert_int_equal(cv_runtime_stats(f.rt, &rs), CV_STATUS_OK);
    assert_true(rs.lanes >= 1);
    assert_true(rs.form_us_median > 0 && rs.handoff_us_median > 0 && rs.launch_us_median > 0);
    assert_true(rs.inputs_us_median >= 0 && rs.inputs_us_median <= rs.launch_us_median);
    assert_true(rs.cache_us_median >= 0 && rs.cache_us_median <= rs.launch_us_median);
    free(tr);
    cv_runtime_destroy(f.rt);
}

static void test_spacetime_matches_alone(void **state) { run_matches_alone(CV_POLICY_SPACETIME); }
static void test_exclusive_matches_alone(void **state) { run_matches_alone(CV_POLICY_EXCLUSIVE); }
static void test_time_matches_alone(void **state) { run_matches_alone(CV_POLICY_TIME); }
static void test_space_matches_alone(void **state) { run_matches_alone(CV_POLICY_SPACE); }

/* ---- exactly once under cancellations, unloads and shutdown ------------------ */

typedef struct stress {
    fixture_t *f;
    tracked_t *tr;
    atomic_int next;
    int per_thread;
    uint64_t seed;
} stress_t;

static void *submitter(void *arg)
{
    stress_t *s = arg;
    uint64_t rng = s->seed;
    for (int k = 0; k < s->per_thread; k++) {
        int i = atomic_fetch_add(&s->next, 1);
        tracked_t *t = &s->tr[i];
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        t->tenant = (int)((rng >> 33) % 4); /* mlp-b (4) belongs to the unloader */
        t->rows = 1;
        cv_err_t err;
        if (cv_request_create(s->f->rt, s->f->t[t->tenant], 1, &t->req, &err) != CV_STATUS_OK) continue;
        fill(t->req, (uint64_t)i);
        t->submitted = cv_submit(s->f->rt, t->req, count_answer, t, &err) == CV_STATUS_OK;
        if (t->submitted && (rng >> 20) % 5 == 0) cv_request_cancel(s->f->rt, t->req);
    }
    return NULL;
}

/* Submits to its own tenant and unloads and reloads it meanwhile. */
static void *unloader(void *arg)
{
    stress_t *s = arg;
    for (int round = 0; round < 5; round++) {
        for (int k = 0; k < 20; k++) {
            int i = atomic_fetch_add(&s->next, 1);
            tracked_t *t = &s->tr[i];
            t->tenant = 4;
            cv_err_t err;
            if (cv_request_create(s->f->rt, s->f->t[4], 1, &t->req, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
            t->submitted = cv_submit(s->f->rt, t->req, count_answer, t, &err) == CV_STATUS_OK;
        }
        cv_tenant_unload(s->f->rt, s->f->t[4]);
        load(s->f, 4, NULL);
    }
    return NULL;
}

static void test_exactly_once_stress(void **state)
{
    if (!repo) skip();
    cv_policy_t policies[] = {CV_POLICY_SPACETIME, CV_POLICY_SPACE, CV_POLICY_TIME};
    for (size_t p = 0; p < CV_ARRAY_LEN(policies); p++) {
        fixture_t f;
        fixture_init(&f, policies[p], false);
        stress_t s = {.f = &f, .per_thread = 150, .seed = 99 + p};
        s.tr = calloc(MAX_SUBMITS, sizeof(tracked_t));
        assert_non_null(s.tr);
        pthread_t th[4];
        for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, submitter, &s);
        pthread_create(&th[3], NULL, unloader, &s);
        for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
        assert_true(cv_runtime_drain(f.rt, 60000));
        int n = atomic_load(&s.next), completed = 0, cancelled = 0, unloaded = 0;
        for (int i = 0; i < n; i++) {
            tracked_t *t = &s.tr[i];
            if (!t->req) continue;
            int answers = atomic_load(&t->answers);
            if (t->submitted != (answers == 1) || answers > 1)
                fail_msg("%s: request %d submitted=%d answered %d times", cv_policy_name(policies[p]), i,
                         t->submitted, answers);
            completed += t->outcome == CV_OUTCOME_COMPLETED;
            cancelled += t->outcome == CV_OUTCOME_CANCELLED;
            unloaded += t->outcome == CV_OUTCOME_UNLOADED;
            cv_request_destroy(t->req);
        }
        assert_true(completed > 0);
        printf("%s: %d requests, %d completed, %d cancelled, %d answered by unload\n", cv_policy_name(policies[p]),
               n, completed, cancelled, unloaded);
        free(s.tr);
        cv_runtime_destroy(f.rt);
    }
}

/* Destroying the runtime answers what is queued (SHUTDOWN) and lets what
 * runs finish: every request answered once; callbacks may destroy. */
static atomic_int shutdown_answers, shutdown_completed;

static void answer_and_destroy(cv_request_t *req, void *user)
{
    cv_outcome_t o = cv_request_outcome(req);
    assert_true(o == CV_OUTCOME_COMPLETED || o == CV_OUTCOME_SHUTDOWN);
    atomic_fetch_add(&shutdown_completed, o == CV_OUTCOME_COMPLETED);
    atomic_fetch_add(&shutdown_answers, 1);
    cv_request_destroy(req);
}

static void test_shutdown_answers_all(void **state)
{
    if (!repo) skip();
    fixture_t f;
    fixture_init(&f, CV_POLICY_EXCLUSIVE, false);
    atomic_store(&shutdown_answers, 0);
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        cv_request_t *req;
        cv_err_t err;
        assert_int_equal(cv_request_create(f.rt, f.t[i % 3], 1, &req, &err), CV_STATUS_OK);
        assert_int_equal(cv_submit(f.rt, req, answer_and_destroy, NULL, &err), CV_STATUS_OK);
    }
    cv_runtime_destroy(f.rt);
    assert_int_equal(atomic_load(&shutdown_answers), N);
    printf("shutdown: %d of %d completed before it\n", atomic_load(&shutdown_completed), N);
}

/* Refusals come at once and leave the request to the caller. */
static void test_refusals(void **state)
{
    if (!repo) skip();
    fixture_t f;
    fixture_init(&f, CV_POLICY_SPACETIME, true);
    cv_err_t err;
    cv_request_t *req;
    /* Bad requests. */
    assert_int_equal(cv_request_create(f.rt, f.t[0], 0, &req, &err), CV_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "rows"));
    assert_int_equal(cv_request_create(f.rt, f.t[0], 65, &req, &err), CV_STATUS_INVALID_ARGUMENT);
    /* An SLO the profiled model says no wave meets. */
    char path[700];
    snprintf(path, sizeof path, "%s/cnn-a/1/model.onnx", repo);
    cv_tenant_config_t tight = {.slo_ms = 1e-6};
    cv_tenant_t *t;
    if (cv_tenant_load_config(f.rt, "tight", path, &tight, &t, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    assert_int_equal(cv_request_create(f.rt, t, 1, &req, &err), CV_STATUS_OK);
    assert_int_equal(cv_submit(f.rt, req, NULL, NULL, &err), CV_STATUS_UNAVAILABLE);
    assert_int_equal(cv_request_outcome(req), CV_OUTCOME_INFEASIBLE);
    assert_non_null(strstr(err.msg, "deadline"));
    /* It is the caller's again: submit it elsewhere is refused, destroy is fine. */
    cv_request_destroy(req);
    cv_request_stats_t st;
    assert_int_equal(cv_tenant_stats(f.rt, t, &st), CV_STATUS_OK);
    assert_int_equal(st.outcomes[CV_OUTCOME_INFEASIBLE], 1);
    assert_int_equal(st.submitted, 0);
    /* A name loaded twice. */
    assert_int_equal(cv_tenant_load(f.rt, "tight", path, CV_PRECISION_FP32, &t, &err), CV_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "tight"));
    /* A pending request submitted again. */
    assert_int_equal(cv_request_create(f.rt, f.t[3], 1, &req, &err), CV_STATUS_OK);
    assert_int_equal(cv_submit(f.rt, req, NULL, NULL, &err), CV_STATUS_OK);
    cv_status again = cv_submit(f.rt, req, NULL, NULL, &err);
    assert_true(again == CV_STATUS_INVALID_ARGUMENT || again == CV_STATUS_OK); /* OK only once answered */
    if (again == CV_STATUS_INVALID_ARGUMENT) assert_non_null(strstr(err.msg, "pending"));
    assert_int_equal(cv_request_wait(req, &err), CV_STATUS_OK);
    cv_request_destroy(req);
    assert_non_null(cv_tenant_find(f.rt, "mlp-a"));
    assert_null(cv_tenant_find(f.rt, "nobody"));
    cv_runtime_destroy(f.rt);
}

/* Waiting without a callback; the outputs are the tenant's alone. */
static void test_wait(void **state)
{
    if (!repo) skip();
    fixture_t f;
    fixture_init(&f, CV_POLICY_SPACETIME, false);
    cv_request_t *reqs[8];
    cv_err_t err;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(cv_request_create(f.rt, f.t[i % 3], 2, &reqs[i], &err), CV_STATUS_OK);
        fill(reqs[i], 500 + (uint64_t)i);
        cv_request_set_timeout(reqs[i], 60000);
        cv_request_set_priority(reqs[i], i % 2);
        assert_int_equal(cv_submit(f.rt, reqs[i], NULL, NULL, &err), CV_STATUS_OK);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(cv_request_wait(reqs[i], &err), CV_STATUS_OK);
        assert_true(cv_request_slo_met(reqs[i]));
        cv_tensor_t want = alone(&f, f.t[i % 3], 2, 500 + (uint64_t)i);
        assert_true(cv_test_max_abs_diff(cv_request_output(reqs[i], 0), &want) <= ALONE_TOLERANCE);
        cv_tensor_free(&want);
        cv_request_destroy(reqs[i]);
    }
    cv_runtime_destroy(f.rt);
}

/* ---- waves of changing members ------------------------------------------------ */

/* Spacetime, rounds of two single-row requests for two of the three cnn
 * tenants, drawn at random each round and answered before the next: the
 * family's lanes run waves of one or two slices whose members change from
 * wave to wave, two lanes on CUDA with their waves overlapping. Every
 * answer equals its tenant alone; on CUDA the lanes' super-kernel caches
 * (one per lane) serve the changing members by rewriting their graphs'
 * tables (rebinds), never by capturing again (refreshes). */
static void test_spacetime_changing_members(void **state)
{
    if (!repo) skip();
    fixture_t f;
    fixture_init(&f, CV_POLICY_SPACETIME, false);
    enum { ROUNDS = 150, SEEDS = 4, CNNS = 3 };
    cv_tensor_t want[CNNS][SEEDS];
    for (int k = 0; k < CNNS; k++)
        for (int j = 0; j < SEEDS; j++) want[k][j] = alone(&f, f.t[k], 1, 900 + (uint64_t)j);
    cv_runtime_stats_t before, after;
    assert_int_equal(cv_runtime_stats(f.rt, &before), CV_STATUS_OK);
    uint64_t rng = 4242;
    for (int r = 0; r < ROUNDS; r++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int first = (int)((rng >> 33) % CNNS);
        int picks[2] = {first, (first + 1 + (int)((rng >> 40) % (CNNS - 1))) % CNNS};
        int seeds[2] = {r % SEEDS, (r + 1) % SEEDS};
        cv_request_t *reqs[2];
        cv_err_t err;
        for (int i = 0; i < 2; i++) {
            if (cv_request_create(f.rt, f.t[picks[i]], 1, &reqs[i], &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
            fill(reqs[i], 900 + (uint64_t)seeds[i]);
        }
        for (int i = 0; i < 2; i++)
            if (cv_submit(f.rt, reqs[i], NULL, NULL, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
        for (int i = 0; i < 2; i++) {
            if (cv_request_wait(reqs[i], &err) != CV_STATUS_OK) fail_msg("round %d: %s", r, err.msg);
            double diff = cv_test_max_abs_diff(cv_request_output(reqs[i], 0), &want[picks[i]][seeds[i]]);
            if (diff > ALONE_TOLERANCE)
                fail_msg("round %d: the request of %s differs from it alone by %g", r, TENANTS[picks[i]], diff);
            cv_request_destroy(reqs[i]);
        }
    }
    assert_int_equal(cv_runtime_stats(f.rt, &after), CV_STATUS_OK);
    long hits = after.graph_hits - before.graph_hits, rebinds = after.graph_rebinds - before.graph_rebinds;
    long refreshes = after.graph_refreshes - before.graph_refreshes, misses = after.graph_misses - before.graph_misses;
    printf("changing members: %ld waves on %ld lanes; graphs: %ld misses, %ld hits (%ld with other members), "
           "%ld refreshes\n", after.waves - before.waves, after.lanes, misses, hits, rebinds, refreshes);
#ifdef SCHED_ON_CUDA
    /* Few waves are not hits: per lane and shape (one slice, two) the
     * eager one and the capture, again after the lane's buffer or
     * workspace grows for two rows. */
    assert_int_equal(refreshes, 0);
    assert_true(hits >= after.waves - before.waves - 20);
    assert_true(rebinds > 0);
    /* Timed, and within the launches that contain them. */
    assert_true(after.graph_rebind_us_median > 0 && after.cache_us_median > 0 && after.graph_launch_us_median > 0 &&
                after.graph_lookup_us_median > 0);
    assert_true(after.cache_us_median <= after.launch_us_median);
#else
    /* no cache on the CPU */
    assert_true(after.graph_rebind_us_median == 0 && after.cache_us_median == 0 && after.graph_launch_us_median == 0 &&
                after.graph_lookup_us_median == 0);
#endif
    for (int k = 0; k < CNNS; k++)
        for (int j = 0; j < SEEDS; j++) cv_tensor_free(&want[k][j]);
    cv_runtime_destroy(f.rt);
}

/* ---- waves run on the submitting thread ----------------------------------------- */

typedef struct here {
    pthread_t submitter;
    atomic_int answers;
    atomic_bool on_submitter;
    /* A request the callback submits, asking to run here too: it must not
     * nest in this callback, which already runs on the submitting thread. */
    fixture_t *f;
    struct here *inner;
    cv_request_t *inner_req;
} here_t;

static void here_answer(cv_request_t *req, void *user)
{
    here_t *h = user;
    atomic_store(&h->on_submitter, pthread_equal(pthread_self(), h->submitter) != 0);
    if (h->inner) {
        h->inner->submitter = h->submitter;
        cv_err_t err;
        if (cv_submit(h->f->rt, h->inner_req, here_answer, h->inner, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    }
    atomic_fetch_add(&h->answers, 1);
}

/* cv_request_set_run_here. On the CPU an idle runtime runs the wave of a
 * request predicted within the bound on the submitting thread: it is
 * answered, equal to its tenant alone, when cv_submit returns, its
 * callback called on this thread; a callback that submits again does not
 * nest a second such wave; a bound below the wave's predicted time leaves
 * it to the lane's worker. On CUDA the worker always runs it. */
static void test_run_here(void **state)
{
    if (!repo) skip();
    fixture_t f;
    fixture_init(&f, CV_POLICY_SPACETIME, true); /* profiled: the model predicts from the first wave */
    const int tenants[] = {3, 0};               /* mlp-a, cnn-a */
    for (size_t k = 0; k < CV_ARRAY_LEN(tenants); k++) {
        int t = tenants[k];
        cv_err_t err;
        cv_request_t *req;
        assert_int_equal(cv_request_create(f.rt, f.t[t], 1, &req, &err), CV_STATUS_OK);
        fill(req, 77 + (uint64_t)k);
        cv_request_set_run_here(req, 1e6);
        here_t h = {.submitter = pthread_self()};
        assert_int_equal(cv_submit(f.rt, req, here_answer, &h, &err), CV_STATUS_OK);
#ifdef SCHED_ON_CUDA
        assert_int_equal(cv_request_wait(req, &err), CV_STATUS_OK);
        assert_false(atomic_load(&h.on_submitter));
#else
        if (atomic_load(&h.answers) != 1) fail_msg("%s: not answered when cv_submit returned", TENANTS[t]);
        assert_true(atomic_load(&h.on_submitter));
#endif
        assert_int_equal(cv_request_status(req, &err), CV_STATUS_OK);
        cv_tensor_t want = alone(&f, f.t[t], 1, 77 + (uint64_t)k);
        assert_true(cv_test_max_abs_diff(cv_request_output(req, 0), &want) <= ALONE_TOLERANCE);
        cv_tensor_free(&want);

        /* A bound no wave meets: the worker runs it. */
        cv_request_set_run_here(req, 1e-3);
        here_t slow = {.submitter = pthread_self()};
        assert_int_equal(cv_submit(f.rt, req, here_answer, &slow, &err), CV_STATUS_OK);
        assert_int_equal(cv_request_wait(req, &err), CV_STATUS_OK);
        assert_int_equal(atomic_load(&slow.answers), 1);
        assert_false(atomic_load(&slow.on_submitter));

        /* Not nested: the callback's own submission goes to a worker. */
        cv_request_t *inner_req;
        assert_int_equal(cv_request_create(f.rt, f.t[t], 1, &inner_req, &err), CV_STATUS_OK);
        cv_request_set_run_here(inner_req, 1e6);
        here_t inner = {0};
        here_t outer = {.submitter = pthread_self(), .f = &f, .inner = &inner, .inner_req = inner_req};
        cv_request_set_run_here(req, 1e6);
        assert_int_equal(cv_submit(f.rt, req, here_answer, &outer, &err), CV_STATUS_OK);
        assert_int_equal(cv_request_wait(req, &err), CV_STATUS_OK);
        assert_int_equal(cv_request_wait(inner_req, &err), CV_STATUS_OK);
        assert_int_equal(atomic_load(&inner.answers), 1);
        assert_false(atomic_load(&inner.on_submitter));
        cv_request_destroy(inner_req);
        cv_request_destroy(req);
    }
    /* The lanes that ran on this thread are freed with their tenants. */
    cv_tenant_unload(f.rt, f.t[3]);
    cv_runtime_destroy(f.rt);
}

/* ---- a straggling lane replaced ---------------------------------------------------- */

/* Space: a lane whose waves keep straggling gets a new backend (on CUDA a
 * new stream) between its waves, and its tenant's requests go on being
 * answered, equal to it alone. Every wave straggles here because the
 * latency model is taught, through the runtime's internals, that a wave
 * takes about a microsecond before each request; MobileNetV2's waves take
 * milliseconds, past the scheduler's minimum for a straggler (on CUDA with
 * 16 rows a request, and more of them: a new stream's first two waves of a
 * shape size and capture its graph, and those do not count). */
#ifdef SCHED_ON_CUDA
enum { STRAGGLE_ROWS = 16, STRAGGLE_REQUESTS = 12 };
#else
enum { STRAGGLE_ROWS = 1, STRAGGLE_REQUESTS = 6 };
#endif
static void test_space_lane_replaced(void **state)
{
    cv_test_require_model("mobilenet_v2-seed1");
    cv_runtime_config_t c = {.device = DEVICE, .threads = 2, .policy = CV_POLICY_SPACE, .no_profile = true};
    cv_runtime_t *rt;
    cv_err_t err;
    if (cv_runtime_create(&c, &rt, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    cv_tenant_t *t = cv_test_load_model(rt, "mobilenet", "mobilenet_v2-seed1", CV_PRECISION_FP32);
    cv_shape_t s = cv_tenant_input_shape(t, 0);
    s.dims[0] = STRAGGLE_ROWS;
    cv_tensor_t x, want;
    assert_int_equal(cv_tensor_alloc(&x, CV_DTYPE_FP32, &s), CV_STATUS_OK);
    cv_test_fill_random(&x, 31);
    if (cv_infer(rt, t, &x, &want, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    cv_tensor_free(&x);
    for (int k = 0; k < STRAGGLE_REQUESTS; k++) {
        pthread_mutex_lock(&rt->mu);
        for (int i = 0; i < 40; i++) cv_latency_observe(&t->sched->group->latency, STRAGGLE_ROWS, 1000);
        pthread_mutex_unlock(&rt->mu);
        cv_request_t *req;
        assert_int_equal(cv_request_create(rt, t, STRAGGLE_ROWS, &req, &err), CV_STATUS_OK);
        fill(req, 31);
        assert_int_equal(cv_submit(rt, req, NULL, NULL, &err), CV_STATUS_OK);
        if (cv_request_wait(req, &err) != CV_STATUS_OK) fail_msg("request %d: %s", k, err.msg);
        double diff = cv_test_max_abs_diff(cv_request_output(req, 0), &want);
        if (diff > ALONE_TOLERANCE) fail_msg("request %d differs from the tenant alone by %g", k, diff);
        cv_request_destroy(req);
    }
    cv_runtime_stats_t rs;
    assert_int_equal(cv_runtime_stats(rt, &rs), CV_STATUS_OK);
    printf("straggling lane: %ld stragglers, %ld lanes replaced\n", rs.stragglers, rs.lanes_replaced);
    assert_true(rs.stragglers >= 3);
    assert_true(rs.lanes_replaced >= 1);
    cv_tensor_free(&want);
    cv_runtime_destroy(rt);
}

#ifndef SCHED_ON_CUDA
int main(void)
{
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
    return cmocka_run_group_tests(tests, find_repo, NULL);
}
#endif
