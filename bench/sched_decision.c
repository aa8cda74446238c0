/*
 * sched_decision.c: a CPU microbenchmark of the scheduler's decision for
 * one wave: the time of the cv_sched_poll that forms it (what `caravel
 * drive` prints as "decision X us", driver.c's form_us), with no device,
 * no runtime and no model.
 *
 * Closed loop, as under `caravel drive` with the spacetime policy (max
 * 64 rows a wave, 2 lanes): a submitting thread (on another core, as the
 * runtime's client threads are) takes the lock the runtime would hold and
 * submits one 1-row request with a 50 ms deadline for each active tenant,
 * in a random order, then hands over; the scheduling thread takes the
 * lock, times the poll that forms the wave, and reports the wave done
 * after a simulated time (which refines the latency model, as every real
 * wave does). The scheduler's clock is simulated too (submissions 1 us
 * apart, waves of 0.2 ms plus 5 us a row); only the poll is timed, on the
 * monotonic clock. The requests are written by the submitter, so the
 * decision pays the cross-core cache misses it pays in production. Setups:
 *   64 tenants of one family, all active, one request queued each (as
 *     `caravel drive --concurrency 64`);
 *   1000 tenants of one family, 64 of them (spread out) active;
 *   64 tenants with 64 requests queued each, of which each wave takes one
 *     (as `caravel drive --concurrency 64 --per-tenant`);
 * each also with the submissions on the scheduling thread (`same thread`):
 * the decision's own work, without the misses.
 *
 * `--cold MB`: with each round the submitter also writes MB of "inputs",
 * an image a request, as clients do (64 ResNet-50 or MobileNetV2 images
 * are 38 MB). Once that passes the last-level cache (the development VM
 * reports 480 MB of it: --cold 640 there), the decision finds every line
 * in memory, as it does on the H100's host under load, where 64-tenant
 * decisions took 9-12 us against 3 here without it. Slow (a memset of MB
 * a wave): use a few hundred waves. Under `valgrind --tool=cachegrind`
 * with a simulated last level smaller than MB, the misses per wave of
 * cv_sched_poll, spacetime_form and cv_sched_take count the lines a
 * decision reads cold, a figure the VM's noise does not blur.
 *
 * It measures only the scheduler (src/sched); it does not check what the
 * scheduler decides (tests/unit/test_sched.c does), beyond every wave
 * holding one request of each active tenant.
 *
 * `cmake --build build` builds it (CMakeLists.txt); run:
 *   build/sched_decision [--waves N] [--tenants N [--depth D] [--local]] [--cold MB]
 * (every setup, 20000 waves each, by default; with --tenants, that one;
 * SCHED_DECISION_CPUS="a,b" picks the two threads' cores, 0 and 1 by
 * default.)
 */
#define _GNU_SOURCE /* pthread_setaffinity_np */
#include "sched/sched.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACTIVE 64
#define SLO_NS 50000000ull
/* Rounds of requests in the ring beyond those queued: a request is
 * rewritten by the submitter a few waves after the scheduler last saw it,
 * as freed requests are reused by the runtime's pool. */
#define RING 8
/* The runtime's request is far larger than its scheduler part; spacing the
 * benchmark's alike keeps each on lines of its own. */
#define REQUEST_BYTES 1024

typedef union bench_request {
    cv_sched_req_t s;
    char pad[REQUEST_BYTES];
} bench_request_t;

typedef struct bench {
    cv_sched_t *s;
    cv_sched_group_t *g;
    cv_sched_tenant_t **tenants;
    int ntenants;
    cv_sched_tenant_t *active[ACTIVE];
    int depth;             /* requests queued per active tenant when a wave forms */
    uint64_t clock;        /* the scheduler's, simulated (ns) */
    long rounds;           /* submitted */
    bench_request_t *ring; /* [depth + RING][ACTIVE] */
    int waves;
    uint64_t seed;         /* the submission order's */
    bool local;            /* submit on the scheduling thread: no cross-core misses */
    pthread_mutex_t mu;    /* the runtime's rt->mu */
    pthread_cond_t cv;
    int turn;              /* 0: the submitter's, 1: the scheduler's */
    double *poll_us;
    /* --cold MB: the submitter writes this much (the requests' inputs, as
     * clients write them: 64 ResNet-50 or MobileNetV2 images are 38 MB)
     * with each round, so that the scheduler's lines are no longer in the
     * caches the decision reads them from */
    char *inputs;
    size_t input_bytes;
} bench_t;

static uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A wave of w rows on the simulated device (ns): 0.2 ms plus 5 us per
 * row, short enough that a queue 64 deep still meets a 50 ms deadline. */
static double wave_ns(int64_t rows) { return 2e5 + 5e3 * (double)rows; }

/* The submitter's and the scheduler's cores: 0 and 1, or
 * SCHED_DECISION_CPUS="a,b" (on a host with SMT, two cores, not two
 * threads of one). */
static void pin(int which)
{
    int cpus[2] = {0, 1};
    const char *env = getenv("SCHED_DECISION_CPUS");
    if (env) sscanf(env, "%d,%d", &cpus[0], &cpus[1]);
    int cpu = cpus[which];
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort: one core also works */
}

static void wait_turn(bench_t *b, int turn)
{
    while (b->turn != turn) pthread_cond_wait(&b->cv, &b->mu);
}

static void pass_turn(bench_t *b, int turn)
{
    b->turn = turn;
    pthread_cond_signal(&b->cv);
}

/* One request for each active tenant, in a new random order each round
 * (closed-loop clients resubmit as their answers reach them), each written
 * whole (as the runtime writes its requests) and submitted 1 us after the
 * one before; b->mu held. */
static void submit_round(bench_t *b)
{
    bench_request_t *round = &b->ring[(size_t)(b->rounds++ % (b->depth + RING)) * ACTIVE];
    int order[ACTIVE];
    for (int i = 0; i < ACTIVE; i++) order[i] = i;
    for (int i = ACTIVE - 1; i > 0; i--) {
        b->seed = b->seed * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((b->seed >> 33) % (uint64_t)(i + 1)), tmp = order[i];
        order[i] = order[k];
        order[k] = tmp;
    }
    for (int i = 0; i < ACTIVE; i++) {
        bench_request_t *r = &round[i];
        uint64_t now = b->clock += 1000;
        memset(r, 0, sizeof(*r));
        r->s = (cv_sched_req_t){.tenant = b->active[order[i]], .rows = 1, .deadline_ns = now + SLO_NS};
        cv_err_t err;
        if (cv_sched_submit(b->s, &r->s, now, &err) != CV_STATUS_OK) {
            fprintf(stderr, "submit refused: %s\n", err.msg);
            exit(1);
        }
    }
    /* One image a request, written apart: a memset of all at once would
     * be large enough for the C library to bypass the caches. */
    size_t each = b->input_bytes / ACTIVE;
    for (int i = 0; i < ACTIVE && each; i++) memset(b->inputs + (size_t)i * each, (int)(b->rounds & 0xff), each);
}

static void *submitter(void *arg)
{
    bench_t *b = arg;
    pin(0);
    pthread_mutex_lock(&b->mu);
    for (int wave = 0; wave < b->waves; wave++) {
        wait_turn(b, 0);
        submit_round(b);
        pass_turn(b, 1);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void *scheduler(void *arg)
{
    bench_t *b = arg;
    pin(1);
    pthread_mutex_lock(&b->mu);
    for (int wave = 0; wave < b->waves; wave++) {
        wait_turn(b, 1);
        if (b->local) submit_round(b);
        cv_sched_list_t answered = {0};
        cv_sched_lane_t *launch[8];
        int n;
        uint64_t wake;
        uint64_t start = clock_ns();
        /* One wave per pass: with queues deep enough for two, the other
         * lane would take a second one. */
        cv_sched_poll(b->s, b->clock, &answered, launch, 1, &n, &wake);
        uint64_t end = clock_ns();
        if (n != 1 || launch[0]->wave.nreqs != ACTIVE || answered.count) {
            fprintf(stderr, "wave %d: %d waves, %d requests, %d answered\n", wave, n, n ? launch[0]->wave.nreqs : 0,
                    answered.count);
            exit(1);
        }
        b->poll_us[wave] = (double)(end - start) / 1e3;
        /* The wave runs on the simulated device; the next round's
         * requests come as it ends. */
        double ns = wave_ns(launch[0]->wave.rows) * (1.0 + 0.1 * ((double)(wave % 7) / 6.0 - 0.5));
        b->clock += (uint64_t)ns;
        cv_sched_wave_done(b->s, launch[0], b->clock, ns);
        pass_turn(b, b->local ? 1 : 0);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run(int ntenants, int depth, int waves, bool local, int cold_mb)
{
    bench_t b = {.ntenants = ntenants, .waves = waves, .seed = 1, .local = local, .depth = depth, .clock = 1000000000000ull,
                 .input_bytes = (size_t)cold_mb << 20};
    cv_sched_config_t c = {.policy = CV_POLICY_SPACETIME, .max_wave_rows = 64, .waves_in_flight = 2,
                           .straggler_factor = 3};
    cv_err_t err;
    if (cv_sched_create(&c, &b.s, &err) != CV_STATUS_OK || cv_sched_group_add(b.s, NULL, &b.g, &err) != CV_STATUS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    /* The profile taken at load. */
    for (int r = 1; r <= 64; r *= 2) cv_latency_observe(&b.g->latency, r, wave_ns(r));
    b.tenants = calloc((size_t)ntenants, sizeof(*b.tenants));
    b.ring = aligned_alloc(64, sizeof(bench_request_t) * (size_t)(depth + RING) * ACTIVE);
    b.poll_us = calloc((size_t)waves, sizeof(double));
    b.inputs = b.input_bytes ? malloc(b.input_bytes) : NULL;
    if (!b.tenants || !b.ring || !b.poll_us || (b.input_bytes && !b.inputs)) exit(1);
    cv_tenant_config_t tc = {.slo_ms = 50, .share = 1, .queue_bound = 1024};
    for (int i = 0; i < ntenants; i++)
        if (cv_sched_tenant_add(b.s, b.g, &tc, 64, NULL, &b.tenants[i], &err) != CV_STATUS_OK) exit(1);
    for (int i = 0; i < ACTIVE; i++) b.active[i] = b.tenants[(size_t)i * (size_t)ntenants / ACTIVE];
    /* The queues' depth before the first wave: each wave takes one request
     * of each tenant (its fair share), each round brings one. */
    for (int k = 1; k < depth; k++) submit_round(&b);
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    pthread_t sub, sch;
    if (local) {
        b.turn = 1;
        pthread_create(&sch, NULL, scheduler, &b);
    } else {
        pthread_create(&sub, NULL, submitter, &b);
        pthread_create(&sch, NULL, scheduler, &b);
        pthread_join(sub, NULL);
    }
    pthread_join(sch, NULL);

    int skip = waves / 10; /* warm-up */
    double *t = b.poll_us + skip;
    int n = waves - skip;
    qsort(t, (size_t)n, sizeof(double), by_value);
    printf("%4d tenants, %d active, %2d queued each, %s%s: decision median %.2f us, p90 %.2f us, p99 %.2f us (%d waves)\n",
           ntenants, ACTIVE, depth, local ? "same thread" : "cross-core ", cold_mb ? ", cold" : "", t[n / 2],
           t[n * 9 / 10], t[n * 99 / 100], n);

    for (int i = 0; i < ntenants; i++) {
        cv_sched_list_t answered = {0};
        cv_sched_tenant_remove(b.s, b.tenants[i], &answered);
    }
    cv_sched_group_remove(b.s, b.g);
    cv_sched_destroy(b.s);
    free(b.tenants);
    free(b.ring);
    free(b.poll_us);
    free(b.inputs);
}

int main(int argc, char **argv)
{
    int waves = 20000, tenants = 0, depth = 1;
    int cold_mb = 0;
    bool local = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--waves") && i + 1 < argc) waves = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tenants") && i + 1 < argc) tenants = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--depth") && i + 1 < argc) depth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--local")) local = true;
        else if (!strcmp(argv[i], "--cold") && i + 1 < argc) cold_mb = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--waves N] [--tenants N [--depth D] [--local]] [--cold MB]\n", argv[0]);
            return 2;
        }
    }
    if (waves < 10) waves = 10;
    if (depth < 1) depth = 1;
    if (tenants) { /* one setup */
        run(tenants < ACTIVE ? ACTIVE : tenants, depth, waves, local, cold_mb);
        return 0;
    }
    for (int same = 0; same <= 1; same++) {
        run(64, 1, waves, same, cold_mb);
        run(1000, 1, waves, same, cold_mb);
        run(64, 64, waves, same, cold_mb);
    }
    return 0;
}
