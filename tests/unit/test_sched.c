/*
 * test_sched.c: the scheduler (src/sched) under a fake clock. A discrete-
 * event simulation drives it as the runtime would: requests arrive at
 * random (Poisson per tenant), some are cancelled, tenants are unloaded,
 * each wave the scheduler forms runs for a simulated time (a fixed cost
 * plus a cost per row, with jitter) on its lane, and the clock jumps from
 * event to event. Over many seeds and every policy it checks:
 *
 *   - every request is answered exactly once (completed in a wave, or
 *     answered in the queue, or refused at submit and never seen again);
 *   - no request runs after its deadline could be met (expired ones never
 *     run), and requests that cannot be met are refused at once;
 *   - time: each wave takes the queued request with the earliest deadline;
 *   - spacetime: waves fuse tenants, and a tenant flooding the runtime
 *     does not push the others past their SLO;
 *   - unloading a tenant answers its queued requests;
 *   - the counts the scheduler keeps as queues change (per family: what is
 *     queued, which tenants have a queue, what is in waves, bounds on the
 *     queued deadlines and rows) equal the same counts made afresh from
 *     the queues, after every call that changes a queue or a wave.
 *
 * Label `sched`; no device, no threads, no data.
 */
#include "testutil.h"

#include "sched/sched.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MS 1000000ull

/* ---- the latency model ------------------------------------------------------- */

static void test_latency_model(void **state)
{
    cv_latency_t m;
    assert_int_equal(cv_latency_init(&m, 64), CV_STATUS_OK);
    assert_true(cv_latency_predict(&m, 8) == 0); /* nothing known */
    cv_latency_observe(&m, 1, 1000);
    cv_latency_observe(&m, 4, 1600);
    cv_latency_observe(&m, 8, 2400);
    assert_true(fabs(cv_latency_predict(&m, 1) - 1000) < 1e-9);
    assert_true(fabs(cv_latency_predict(&m, 2) - 1200) < 1e-9);   /* between 1 and 4 */
    assert_true(fabs(cv_latency_predict(&m, 6) - 2000) < 1e-9);   /* between 4 and 8 */
    assert_true(fabs(cv_latency_predict(&m, 16) - 4000) < 1e-9);  /* 200 per row past 8 */
    assert_true(fabs(cv_latency_predict(&m, 100) - 20800) < 1e-9); /* past the model's width too */
    /* Waves refine their width, weighted towards the recent. */
    for (int i = 0; i < 100; i++) cv_latency_observe(&m, 4, 3200);
    assert_true(fabs(cv_latency_predict(&m, 4) - 3200) < 1);
    cv_latency_free(&m);

    assert_int_equal(cv_latency_init(&m, 8), CV_STATUS_OK);
    cv_latency_observe(&m, 4, 4000);
    assert_true(fabs(cv_latency_predict(&m, 1) - 4000) < 1e-9); /* nothing narrower is faster */
    assert_true(fabs(cv_latency_predict(&m, 8) - 8000) < 1e-9); /* per row of the one width */
    /* The widest width measured: past it by the time per row of the two widest. */
    cv_latency_observe(&m, 8, 6000);
    assert_true(fabs(cv_latency_predict(&m, 8) - 6000) < 1e-9);
    assert_true(fabs(cv_latency_predict(&m, 12) - 8000) < 1e-9);
    cv_latency_free(&m);
}

/* The model's rule written plainly (a search per width), for the table
 * the model rebuilds in one pass. */
static double reference_predict(const double *ns, int max_rows, int64_t r)
{
    int widest = max_rows, below;
    while (widest >= 1 && ns[widest] <= 0) widest--;
    if (widest < 1) return 0;
    for (below = widest - 1; below >= 1 && ns[below] <= 0; below--) {}
    double per_row = below >= 1 ? (ns[widest] - ns[below]) / (widest - below) : ns[widest] / widest;
    if (per_row < 0) per_row = 0;
    if (r < 1) r = 1;
    if (r > widest) return ns[widest] + per_row * (double)(r - widest);
    int64_t lo = r, hi = r;
    while (lo >= 1 && ns[lo] <= 0) lo--;
    while (ns[hi] <= 0) hi++;
    if (lo < 1) return ns[hi];
    if (lo == hi) return ns[lo];
    return ns[lo] + (ns[hi] - ns[lo]) * (double)(r - lo) / (double)(hi - lo);
}

static void test_latency_table_matches_rule(void **state)
{
    uint64_t seed = 99;
    for (int round = 0; round < 200; round++) {
        int max_rows = 1 + (int)(seed % 300);
        cv_latency_t m;
        assert_int_equal(cv_latency_init(&m, max_rows), CV_STATUS_OK);
        double ns[301] = {0};
        int observations = (int)(seed / 7 % 40);
        for (int k = 0; k < observations; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            int64_t rows = 1 + (int64_t)((seed >> 33) % (uint64_t)max_rows);
            double t = 1000.0 + (double)((seed >> 20) % 100000);
            cv_latency_observe(&m, rows, t);
            ns[rows] = m.ns[rows]; /* the smoothing is the model's; the table is checked */
            double most = 0; /* the longest prediction up to r rows: what cv_latency_ceiling answers */
            for (int64_t r = 0; r <= max_rows + 5; r++) {
                double want = reference_predict(ns, max_rows, r), got = cv_latency_predict(&m, r);
                if (fabs(want - got) > 1e-6 * (1 + fabs(want)))
                    fail_msg("max_rows %d, %d observations, %lld rows: predicted %.6f, the rule says %.6f", max_rows,
                             k + 1, (long long)r, got, want);
                if (got > most) most = got;
                /* Exactly: the scheduler's test that nothing can expire leans on it. */
                if (cv_latency_ceiling(&m, r) != most || cv_latency_ceiling(&m, r) < got)
                    fail_msg("max_rows %d, %d observations, %lld rows: ceiling %.6f, the most predicted %.6f", max_rows,
                             k + 1, (long long)r, cv_latency_ceiling(&m, r), most);
            }
        }
        cv_latency_free(&m);
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    }
}

/* ---- the simulation ------------------------------------------------------------ */

#define MAX_TENANTS 160
#define MAX_REQUESTS 20000

typedef struct sim_request {
    cv_sched_req_t s; /* first: the scheduler's pointers are ours */
    int id;
    int answers;       /* how many times it was answered */
    bool refused;      /* refused at submit */
    bool ran;
    uint64_t done_ns;
    cv_outcome_t outcome;
} sim_request_t;

typedef struct sim_tenant {
    cv_sched_tenant_t *t;
    cv_sched_group_t *g;
    double rate_per_ms; /* Poisson arrivals */
    double slo_ms;
    uint64_t next_arrival;
    bool unloaded;
    int submitted, completed, slo_met;
    long waves; /* waves it had a request in, counted here */
} sim_tenant_t;

typedef struct sim {
    cv_sched_t *s;
    cv_policy_t policy;
    uint64_t now, seed;
    sim_tenant_t tenants[MAX_TENANTS];
    int ntenants;
    sim_request_t *reqs;
    int nreqs;
    cv_sched_group_t *groups[4];
    int ngroups;
    /* a simulated wave per lane: its end */
    cv_sched_lane_t *running[256];
    uint64_t ends[256];
    int nrunning;
    double fixed_ms, per_row_ms, jitter;
    /* One device for every lane: waves that overlap share it evenly (each
     * of k runs at 1/k speed), as a GPU's streams share its SMs; work[] is
     * each running wave's device time left. Off: lanes run side by side at
     * full speed, as independent devices. */
    bool shared_device;
    double work[256];
    int waves, fused_waves;
    long edf_violations, late_starts;
    /* Probability, each step of run(), that a family's latency model
     * jumps (the device slowed down or sped up): the model then disagrees
     * with the waves that run until they have pulled it back. */
    double jump_p;
    long jumps;
} sim_t;

static double rnd(sim_t *m)
{
    m->seed = m->seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(m->seed >> 11) / (double)(1ull << 53);
}

static uint64_t exp_gap(sim_t *m, double rate_per_ms)
{
    double u = rnd(m);
    if (u < 1e-12) u = 1e-12;
    return (uint64_t)(-log(u) / rate_per_ms * (double)MS);
}

static double wave_ms(const sim_t *m, int64_t rows) { return m->fixed_ms + m->per_row_ms * (double)rows; }

/* The scheduler's running counts against the same made afresh from its
 * queues and waves. */
static void check_counters(const sim_t *m)
{
    int queued = 0, in_flight = 0;
    for (const cv_sched_group_t *g = m->s->groups; g; g = g->next) {
        int g_queued = 0, g_in_flight = 0, queued_tenants = 0;
        double queued_share = 0;
        int64_t g_rows = 0, min_rows = INT64_MAX, max_rows = 0;
        uint64_t earliest = CV_SCHED_NO_DEADLINE;
        for (int i = 0; i < g->ntenants; i++) {
            const cv_sched_tenant_t *t = g->tenants[i];
            assert_int_equal(t->index, i);
            assert_ptr_equal(t->group, g);
            int t_queued = 0;
            int64_t t_rows = 0;
            for (const cv_sched_req_t *r = t->head; r; r = r->next) {
                assert_int_equal(r->state, CV_SCHED_QUEUED);
                assert_ptr_equal(r->tenant, t);
                t_queued++;
                t_rows += r->rows;
                if (r->deadline_ns < earliest) earliest = r->deadline_ns;
                if (r->rows < min_rows) min_rows = r->rows;
                if (r->rows > max_rows) max_rows = r->rows;
            }
            assert_int_equal(t->queued, t_queued);
            assert_int_equal(t->queued_rows, t_rows);
            /* the last run's priority, kept on the tenant */
            if (t->tail) assert_int_equal(t->tail_priority, t->tail->priority);
            bool bit = (g->has_queued[i / 64] >> (i % 64)) & 1;
            if (bit != (t_queued > 0))
                fail_msg("tenant %d of %d: queued %d, its bit %d", i, g->ntenants, t_queued, (int)bit);
            queued_tenants += t_queued > 0;
            if (t_queued > 0) queued_share += t->share;
            g_queued += t_queued;
            g_rows += t_rows;
            g_in_flight += t->in_flight;
        }
        /* No bit past the last tenant (a removal moved the others down). */
        for (int i = g->ntenants; i < (g->ntenants + 63) / 64 * 64; i++)
            assert_false((g->has_queued[i / 64] >> (i % 64)) & 1);
        assert_int_equal(g->queued_tenants, queued_tenants);
        /* kept by additions and subtractions: rounding apart, the sum */
        if (fabs(g->queued_share - queued_share) > 1e-9 * (1 + queued_share))
            fail_msg("queued share %.17g, its tenants' %.17g", g->queued_share, queued_share);
        if (!queued_tenants) assert_true(g->queued_share == 0.0);
        assert_int_equal(g->queued, g_queued);
        assert_int_equal(g->queued_rows, g_rows);
        assert_int_equal(g->in_flight, g_in_flight);
        /* The bounds: none earlier, none narrower or wider; reset once
         * nothing is queued. */
        assert_true(g->deadline_floor <= earliest);
        assert_true(g->rows_floor <= min_rows);
        assert_true(g->rows_ceiling >= max_rows);
        if (g_queued == 0) {
            assert_true(g->deadline_floor == CV_SCHED_NO_DEADLINE);
            assert_true(g->rows_floor == INT64_MAX);
            assert_int_equal(g->rows_ceiling, 0);
        }
        queued += g_queued;
        in_flight += g_in_flight;
    }
    assert_int_equal(m->s->queued, queued);
    assert_int_equal(m->s->in_flight, in_flight);
}

static void sim_init(sim_t *m, cv_policy_t policy, uint64_t seed, int groups)
{
    memset(m, 0, sizeof(*m));
    m->policy = policy;
    m->seed = seed;
    m->now = 1000 * MS;
    m->fixed_ms = 2.0;
    m->per_row_ms = 0.25;
    m->jitter = 0.1;
    cv_sched_config_t c = {.policy = policy, .max_wave_rows = 32, .waves_in_flight = 2, .straggler_factor = 3};
    cv_err_t err;
    assert_int_equal(cv_sched_create(&c, &m->s, &err), CV_STATUS_OK);
    m->reqs = calloc(MAX_REQUESTS, sizeof(sim_request_t));
    assert_non_null(m->reqs);
    for (int i = 0; i < groups; i++) {
        assert_int_equal(cv_sched_group_add(m->s, NULL, &m->groups[i], &err), CV_STATUS_OK);
        /* The model knows the cost (as a profile at load would tell it). */
        for (int r = 1; r <= 32; r *= 2) cv_latency_observe(&m->groups[i]->latency, r, wave_ms(m, r) * MS);
    }
    m->ngroups = groups;
}

static sim_tenant_t *sim_tenant(sim_t *m, int group, double rate_per_ms, double slo_ms, double share,
                                int queue_bound)
{
    sim_tenant_t *st = &m->tenants[m->ntenants++];
    cv_tenant_config_t c = {.slo_ms = slo_ms, .share = share, .queue_bound = queue_bound};
    cv_err_t err;
    assert_int_equal(cv_sched_tenant_add(m->s, m->groups[group], &c, 4, st, &st->t, &err), CV_STATUS_OK);
    st->g = m->groups[group];
    st->rate_per_ms = rate_per_ms;
    st->slo_ms = slo_ms;
    st->next_arrival = m->now + exp_gap(m, rate_per_ms);
    return st;
}

static void answer(sim_t *m, sim_request_t *r, cv_outcome_t outcome)
{
    r->answers++;
    r->outcome = outcome;
    r->done_ns = m->now;
    sim_tenant_t *st = (sim_tenant_t *)r->s.tenant->impl;
    if (outcome == CV_OUTCOME_COMPLETED) {
        st->completed++;
        if (r->s.deadline_ns == CV_SCHED_NO_DEADLINE || m->now <= r->s.deadline_ns) st->slo_met++;
    }
}

static void drain_answered(sim_t *m, cv_sched_list_t *answered)
{
    cv_sched_req_t *r;
    while ((r = cv_sched_list_pop(answered))) {
        sim_request_t *sr = (sim_request_t *)r;
        assert_int_not_equal(r->outcome, CV_OUTCOME_COMPLETED);
        assert_false(sr->ran);
        answer(m, sr, r->outcome);
    }
}

/* Checks a launched wave, then lets it run for its simulated time. */
static void launch(sim_t *m, cv_sched_lane_t *lane)
{
    cv_sched_wave_t *w = &lane->wave;
    assert_true(w->nreqs > 0 && w->rows <= m->s->config.max_wave_rows);
    for (int i = 0; i < w->nreqs; i++) {
        sim_request_t *r = (sim_request_t *)w->reqs[i];
        assert_int_equal(r->answers, 0);
        assert_false(r->ran);
        assert_ptr_equal(w->reqs[i]->tenant->group, w->group);
        r->ran = true;
        /* Nothing starts that can no longer finish by its deadline (but a
         * probe, which runs to correct the model). */
        if (r->s.deadline_ns != CV_SCHED_NO_DEADLINE && !r->s.probe &&
            (double)m->now + cv_sched_predict(w->group, r->s.rows) > (double)r->s.deadline_ns)
            m->late_starts++;
    }
    if (m->policy == CV_POLICY_TIME) {
        /* Earliest deadline first: nothing queued has an earlier one. */
        assert_int_equal(w->nreqs, 1);
        uint64_t d = w->reqs[0]->deadline_ns;
        for (int k = 0; k < m->ntenants; k++)
            for (cv_sched_req_t *q = m->tenants[k].unloaded ? NULL : m->tenants[k].t->head; q; q = q->next)
                if (q->deadline_ns < d) m->edf_violations++;
    }
    if (m->policy == CV_POLICY_EXCLUSIVE || m->policy == CV_POLICY_SPACE)
        for (int i = 1; i < w->nreqs; i++) assert_ptr_equal(w->reqs[i]->tenant, w->reqs[0]->tenant);
    /* The wave's tenants, each once, to check the scheduler's counts. */
    int tenants = 0;
    for (int i = 0; i < w->nreqs; i++) {
        bool first = true;
        for (int k = 0; k < i && first; k++) first = w->reqs[k]->tenant != w->reqs[i]->tenant;
        if (!first) continue;
        tenants++;
        ((sim_tenant_t *)w->reqs[i]->tenant->impl)->waves++;
    }
    assert_int_equal(w->ntenants, tenants);
    m->waves++;
    m->fused_waves += w->ntenants > 1;
    double ms = wave_ms(m, w->rows) * (1.0 + m->jitter * (rnd(m) - 0.5));
    m->running[m->nrunning] = lane;
    m->work[m->nrunning] = ms * (double)MS;
    m->ends[m->nrunning++] = m->now + (uint64_t)(ms * (double)MS);
    if (m->shared_device)
        for (int i = 0; i < m->nrunning; i++) m->ends[i] = m->now + (uint64_t)(m->work[i] * m->nrunning);
}

/* Moves the clock to t, the running waves' work with it. */
static void advance(sim_t *m, uint64_t t)
{
    if (m->shared_device && m->nrunning > 0) {
        double done = (double)(t - m->now) / m->nrunning;
        for (int i = 0; i < m->nrunning; i++) m->work[i] = m->work[i] > done ? m->work[i] - done : 0;
    }
    m->now = t;
}

static void poll(sim_t *m, uint64_t *wake)
{
    cv_sched_list_t answered = {0};
    cv_sched_lane_t *lanes[64];
    int n;
    cv_sched_poll(m->s, m->now, &answered, lanes, 64, &n, wake);
    check_counters(m);
    drain_answered(m, &answered);
    for (int i = 0; i < n; i++) launch(m, lanes[i]);
}

static void finish_waves(sim_t *m)
{
    for (int i = 0; i < m->nrunning;) {
        if (m->ends[i] > m->now) {
            i++;
            continue;
        }
        cv_sched_lane_t *lane = m->running[i];
        cv_sched_wave_t *w = &lane->wave;
        for (int k = 0; k < w->nreqs; k++) answer(m, (sim_request_t *)w->reqs[k], CV_OUTCOME_COMPLETED);
        uint64_t started = w->formed_ns;
        cv_sched_wave_done(m->s, lane, m->now, (double)(m->now - started));
        check_counters(m);
        m->running[i] = m->running[m->nrunning - 1];
        m->ends[i] = m->ends[m->nrunning - 1];
        m->work[i] = m->work[m->nrunning - 1];
        m->nrunning--;
    }
    if (m->shared_device)
        for (int i = 0; i < m->nrunning; i++) m->ends[i] = m->now + (uint64_t)(m->work[i] * m->nrunning);
}

static void submit(sim_t *m, sim_tenant_t *st)
{
    assert_true(m->nreqs < MAX_REQUESTS);
    sim_request_t *r = &m->reqs[m->nreqs];
    r->id = m->nreqs++;
    r->s.tenant = st->t;
    r->s.rows = 1 + (rnd(m) < 0.1); /* mostly one row, some two */
    r->s.priority = 0;
    r->s.deadline_ns = st->slo_ms > 0 ? m->now + (uint64_t)(st->slo_ms * (double)MS) : CV_SCHED_NO_DEADLINE;
    cv_err_t err;
    cv_status s = cv_sched_submit(m->s, &r->s, m->now, &err);
    check_counters(m);
    st->submitted++;
    if (s != CV_STATUS_OK) {
        assert_int_equal(s, CV_STATUS_UNAVAILABLE);
        assert_true(r->s.outcome == CV_OUTCOME_QUEUE_FULL || r->s.outcome == CV_OUTCOME_INFEASIBLE);
        assert_true(strlen(err.msg) > 0);
        r->refused = true;
        r->outcome = r->s.outcome;
    }
}

/* Runs until `until`: arrivals, cancellations (probability per arrival),
 * and the waves the scheduler forms. */
static void run(sim_t *m, uint64_t until, double cancel_p)
{
    uint64_t wake = 0;
    while (m->now < until) {
        finish_waves(m);
        for (int k = 0; k < m->ntenants; k++) {
            sim_tenant_t *st = &m->tenants[k];
            while (!st->unloaded && st->rate_per_ms > 0 && st->next_arrival <= m->now) {
                submit(m, st);
                st->next_arrival += exp_gap(m, st->rate_per_ms);
                if (rnd(m) < cancel_p && m->nreqs > 1) {
                    sim_request_t *victim = &m->reqs[(int)(rnd(m) * (m->nreqs - 1))];
                    cv_sched_list_t answered = {0};
                    bool was_queued = victim->s.state == CV_SCHED_QUEUED;
                    assert_int_equal(cv_sched_cancel(m->s, &victim->s, &answered), was_queued);
                    check_counters(m);
                    drain_answered(m, &answered);
                }
            }
        }
        if (m->jump_p > 0 && rnd(m) < m->jump_p) {
            cv_sched_group_t *g = m->groups[(int)(rnd(m) * m->ngroups)];
            double factor = rnd(m) < 0.5 ? 0.5 : 2 + 3 * rnd(m); /* 0.5: waves run long, not stragglers */
            for (int k = 0; k < 8; k++)
                for (int r = 1; r <= m->s->config.max_wave_rows; r *= 2)
                    cv_latency_observe(&g->latency, r, wave_ms(m, r) * factor * (double)MS);
            m->jumps++;
        }
        poll(m, &wake);
        /* Next event: an arrival, a wave's end, or the scheduler's wake. */
        uint64_t next = until;
        for (int k = 0; k < m->ntenants; k++)
            if (!m->tenants[k].unloaded && m->tenants[k].rate_per_ms > 0 && m->tenants[k].next_arrival < next)
                next = m->tenants[k].next_arrival;
        for (int i = 0; i < m->nrunning; i++)
            if (m->ends[i] < next) next = m->ends[i];
        if (wake < next) next = wake;
        advance(m, next > m->now ? next : m->now + 1);
    }
}

/* Stops arrivals and lets everything finish. */
static void settle(sim_t *m)
{
    for (int k = 0; k < m->ntenants; k++) m->tenants[k].rate_per_ms = 0;
    for (int guard = 0; (m->s->queued > 0 || m->nrunning > 0) && guard < 1000000; guard++) run(m, m->now + MS, 0);
    assert_int_equal(m->s->queued, 0);
    assert_int_equal(m->nrunning, 0);
}

static void unload(sim_t *m, sim_tenant_t *st)
{
    /* As the runtime does: answer the queue, let its waves finish, remove. */
    cv_sched_list_t answered = {0};
    cv_sched_tenant_drain(m->s, st->t, CV_OUTCOME_UNLOADED, &answered);
    check_counters(m);
    int queued = answered.count;
    drain_answered(m, &answered);
    for (int guard = 0; st->t->in_flight > 0 && guard < 100000; guard++) {
        uint64_t next = UINT64_MAX;
        for (int i = 0; i < m->nrunning; i++)
            if (m->ends[i] < next) next = m->ends[i];
        advance(m, next);
        finish_waves(m);
        uint64_t wake;
        poll(m, &wake);
    }
    assert_int_equal(st->t->in_flight, 0);
    cv_sched_tenant_remove(m->s, st->t, &answered);
    assert_int_equal(answered.count, 0); /* drained before */
    st->unloaded = true;
    check_counters(m);
    (void)queued;
}

static void check_exactly_once(const sim_t *m)
{
    for (int i = 0; i < m->nreqs; i++) {
        const sim_request_t *r = &m->reqs[i];
        if (r->refused) {
            assert_int_equal(r->answers, 0);
            assert_false(r->ran);
        } else {
            if (r->answers != 1) fail_msg("request %d answered %d times (outcome %s)", i, r->answers, cv_outcome_name(r->outcome));
            assert_int_equal(r->ran, r->outcome == CV_OUTCOME_COMPLETED);
        }
    }
}

static void sim_free(sim_t *m)
{
    for (int k = 0; k < m->ntenants; k++)
        if (!m->tenants[k].unloaded) {
            cv_sched_list_t answered = {0};
            cv_sched_tenant_remove(m->s, m->tenants[k].t, &answered);
            assert_int_equal(answered.count, 0);
        }
    for (int i = 0; i < m->ngroups; i++) cv_sched_group_remove(m->s, m->groups[i]);
    cv_sched_destroy(m->s);
    free(m->reqs);
}

static const cv_policy_t POLICIES[] = {CV_POLICY_SPACETIME, CV_POLICY_EXCLUSIVE, CV_POLICY_TIME, CV_POLICY_SPACE};

/* Random arrivals, cancellations and unloads over many seeds: every
 * request answered exactly once, none run past hope, EDF under time. */
static void test_invariants_random(void **state)
{
    for (size_t p = 0; p < CV_ARRAY_LEN(POLICIES); p++) {
        for (uint64_t seed = 1; seed <= 40; seed++) {
            sim_t m;
            sim_init(&m, POLICIES[p], seed, 2);
            m.jump_p = seed % 2 ? 0.01 : 0;
            sim_tenant_t *ts[8];
            for (int k = 0; k < 8; k++)
                ts[k] = sim_tenant(&m, k % 2, 0.05 + 0.5 * rnd(&m), k == 7 ? 0 : 20 + 80 * rnd(&m), 1 + (k % 3),
                                   4 + (int)(60 * rnd(&m)));
            run(&m, m.now + 300 * MS, 0.05);
            unload(&m, ts[(int)(rnd(&m) * 8)]);
            run(&m, m.now + 200 * MS, 0.05);
            settle(&m);
            check_exactly_once(&m);
            assert_int_equal(m.late_starts, 0);
            assert_int_equal(m.edf_violations, 0);
            assert_true(m.waves > 0);
            for (int k = 0; k < 8; k++)
                if (!ts[k]->unloaded) assert_int_equal(ts[k]->t->stats.waves, ts[k]->waves);
            sim_free(&m);
        }
    }
}

/* Families of many tenants (more than one word of has_queued), most idle,
 * tenants unloaded now and then (those after each move down a place),
 * latency models that jump: the counts stay right (check_counters, after
 * every call), and still nothing runs past hope. */
static void test_many_tenants_counted(void **state)
{
    for (size_t p = 0; p < CV_ARRAY_LEN(POLICIES); p++) {
        if (POLICIES[p] == CV_POLICY_SPACE) continue; /* a lane per tenant: the same counts, many lanes */
        for (uint64_t seed = 1; seed <= 4; seed++) {
            sim_t m;
            sim_init(&m, POLICIES[p], seed, 2);
            m.jump_p = 0.02;
            sim_tenant_t *ts[150];
            for (int k = 0; k < 150; k++) {
                bool busy = rnd(&m) < 0.2;
                ts[k] = sim_tenant(&m, k % 2, busy ? 0.2 + rnd(&m) : 0.002, rnd(&m) < 0.1 ? 0 : 20 + 80 * rnd(&m),
                                   0.5 + 2 * rnd(&m), 2 + (int)(20 * rnd(&m)));
            }
            for (int round = 0; round < 6; round++) {
                run(&m, m.now + 60 * MS, 0.1);
                sim_tenant_t *victim = ts[(int)(rnd(&m) * 150)];
                if (!victim->unloaded) unload(&m, victim);
            }
            settle(&m);
            check_exactly_once(&m);
            check_counters(&m);
            assert_int_equal(m.late_starts, 0);
            assert_int_equal(m.edf_violations, 0);
            assert_true(m.jumps > 0 && m.waves > 0);
            sim_free(&m);
        }
    }
}

/* Adding a tenant fails cleanly for want of memory (the Nth allocation
 * fails, N = 1, 2, ... until the add goes through): the family is as it
 * was, its counts right, and nothing leaks; across the tenant whose bit
 * starts has_queued's second word, with requests queued on either side. */
static void test_tenant_add_out_of_memory(void **state)
{
    size_t live = cv_alloc_live_bytes();
    sim_t m;
    sim_init(&m, CV_POLICY_SPACE, 19, 1); /* space: an add makes a lane too */
    cv_sched_group_t *g = m.groups[0];
    for (int k = 0; k < 70; k++) {
        sim_tenant_t *st = &m.tenants[m.ntenants];
        cv_tenant_config_t c = {.share = 1, .queue_bound = 10};
        cv_err_t err;
        cv_status status;
        for (long nth = 1;; nth++) {
            cv_alloc_fail_after(nth);
            status = cv_sched_tenant_add(m.s, g, &c, 4, st, &st->t, &err);
            cv_alloc_fail_after(0);
            if (status == CV_STATUS_OK) break;
            assert_int_equal(status, CV_STATUS_OUT_OF_MEMORY);
            assert_int_equal(g->ntenants, k);
            check_counters(&m);
        }
        m.ntenants++;
        st->g = g;
        st->slo_ms = 0;
        if (k % 3 == 0) submit(&m, st);
    }
    assert_int_equal(g->ntenants, 70);
    assert_int_equal(g->queued_tenants, 24);
    settle(&m);
    check_exactly_once(&m);
    sim_free(&m);
    assert_int_equal(cv_alloc_live_bytes(), live);
}

/* A deadline shorter than the model's time for one request alone is
 * refused at submit, under every policy; with no deadline nothing is. */
static void test_infeasible_refused(void **state)
{
    for (size_t p = 0; p < CV_ARRAY_LEN(POLICIES); p++) {
        sim_t m;
        sim_init(&m, POLICIES[p], 7, 1);
        sim_tenant_t *tight = sim_tenant(&m, 0, 0.2, 1.0, 1, 1000);  /* a wave takes >= 2.25 ms */
        sim_tenant_t *loose = sim_tenant(&m, 0, 0.2, 0, 1, 1000);
        run(&m, m.now + 100 * MS, 0);
        settle(&m);
        check_exactly_once(&m);
        int refused = 0;
        for (int i = 0; i < m.nreqs; i++) {
            sim_request_t *r = &m.reqs[i];
            if (r->s.tenant == tight->t) {
                assert_true(r->refused);
                assert_int_equal(r->outcome, CV_OUTCOME_INFEASIBLE);
                refused++;
            } else {
                assert_false(r->refused);
                assert_int_equal(r->outcome, CV_OUTCOME_COMPLETED);
            }
        }
        assert_int_equal(refused, tight->submitted);
        assert_true(loose->completed == loose->submitted && loose->completed > 0);
        sim_free(&m);
    }
}

/* Overload: requests that wait past hope leave the queue (EXPIRED) and
 * never run; what runs, runs in time. */
static void test_expired_never_run(void **state)
{
    for (size_t p = 0; p < CV_ARRAY_LEN(POLICIES); p++) {
        sim_t m;
        sim_init(&m, POLICIES[p], 11, 1);
        for (int k = 0; k < 6; k++) sim_tenant(&m, 0, 3.0, 15, 1, 1000);
        run(&m, m.now + 200 * MS, 0);
        settle(&m);
        check_exactly_once(&m);
        if (m.late_starts) fail_msg("%s: %ld requests started too late", cv_policy_name(POLICIES[p]), m.late_starts);
        int expired = 0;
        for (int i = 0; i < m.nreqs; i++) {
            expired += m.reqs[i].outcome == CV_OUTCOME_EXPIRED;
            if (m.reqs[i].outcome == CV_OUTCOME_EXPIRED) assert_false(m.reqs[i].ran);
        }
        /* 18 requests per ms against at most ~10 per ms of capacity. */
        assert_true(expired + m.reqs[0].refused > 0 || POLICIES[p] == CV_POLICY_SPACETIME);
        sim_free(&m);
    }
}

/* A full queue refuses at once. */
static void test_queue_bound(void **state)
{
    sim_t m;
    sim_init(&m, CV_POLICY_EXCLUSIVE, 3, 1);
    sim_tenant_t *st = sim_tenant(&m, 0, 0, 0, 1, 3);
    for (int i = 0; i < 6; i++) submit(&m, st);
    int full = 0;
    for (int i = 0; i < m.nreqs; i++) full += m.reqs[i].outcome == CV_OUTCOME_QUEUE_FULL;
    assert_int_equal(full, 3);
    settle(&m);
    check_exactly_once(&m);
    sim_free(&m);
}

/* Priorities order a tenant's queue: higher first, then deadline. */
static void test_priority_order(void **state)
{
    sim_t m;
    sim_init(&m, CV_POLICY_TIME, 5, 1);
    sim_tenant_t *st = sim_tenant(&m, 0, 0, 0, 1, 100);
    int prio[] = {0, 5, 1, 5, 0};
    cv_err_t err;
    for (int i = 0; i < 5; i++) {
        sim_request_t *r = &m.reqs[m.nreqs++];
        r->id = i;
        r->s = (cv_sched_req_t){.tenant = st->t, .rows = 1, .priority = prio[i], .deadline_ns = CV_SCHED_NO_DEADLINE};
        assert_int_equal(cv_sched_submit(m.s, &r->s, m.now, &err), CV_STATUS_OK);
    }
    int order[5], n = 0;
    for (cv_sched_req_t *q = st->t->head; q; q = q->next) order[n++] = ((sim_request_t *)q)->id;
    int want[] = {1, 3, 2, 0, 4};
    assert_int_equal(n, 5);
    assert_memory_equal(order, want, sizeof want);
    settle(&m);
    check_exactly_once(&m);
    sim_free(&m);
}

/* Spacetime's wave formation (a heap of tenants) takes the requests the
 * plain rule takes, in its order: each next request from the tenant with
 * the fewest rows in the wave per unit of share, ties to the earliest
 * deadline at its head, then to the first from the round-robin cursor; a
 * request that does not fit is passed over. Random tenants (up to more
 * than a word of has_queued), shares, deadlines, priorities, rows and
 * round-robin cursor; on every third seed deadlines up to 20 s away, more
 * than 2^32 ns apart (fill_fair's heap for every tenant rather than its
 * sorted run). The rule is written out here as a scan over every tenant
 * for every request. */
static void test_spacetime_fill_matches_rule(void **state)
{
    for (uint64_t seed = 1; seed <= 90; seed++) {
        sim_t m;
        sim_init(&m, CV_POLICY_SPACETIME, seed, 1);
        int n = 2 + (int)(rnd(&m) * (seed % 2 ? 40 : 120));
        double slos[] = {0, 100, 200, 400, 10000, 20000};
        int nslos = seed % 3 == 0 ? 6 : 4;
        for (int i = 0; i < n; i++)
            sim_tenant(&m, 0, 0, slos[(int)(rnd(&m) * nslos)], 0.5 + 3 * rnd(&m), 100);
        /* Every fifth seed some requests of no rows (the runtime sends
         * none; the scheduler takes them): a tenant served one stays at
         * load 0, and is weighed against the run. Few in all: a wave holds
         * at most max_wave_rows requests however few their rows. */
        bool empty_rows = seed % 5 == 4;
        for (int i = 0; i < n && !(empty_rows && m.nreqs >= m.s->config.max_wave_rows); i++) {
            int k = (int)(rnd(&m) * 7);
            for (int j = 0; j < k && !(empty_rows && m.nreqs >= m.s->config.max_wave_rows); j++) {
                sim_request_t *r = &m.reqs[m.nreqs];
                r->id = m.nreqs++;
                sim_tenant_t *st = &m.tenants[i];
                uint64_t slo = (uint64_t)(st->slo_ms * (1 + rnd(&m)) * (double)MS);
                int64_t rows = empty_rows && rnd(&m) < 0.3 ? 0 : 1 + (int64_t)(rnd(&m) * 3);
                r->s = (cv_sched_req_t){.tenant = st->t, .rows = rows, .priority = rnd(&m) < 0.2,
                                        .deadline_ns = slo ? m.now + slo : CV_SCHED_NO_DEADLINE};
                cv_err_t err;
                if (cv_sched_submit(m.s, &r->s, m.now, &err) != CV_STATUS_OK) { /* many tenants: some infeasible */
                    assert_int_equal(r->s.outcome, CV_OUTCOME_INFEASIBLE);
                    r->refused = true;
                    r->outcome = r->s.outcome;
                }
            }
        }
        /* The rule, over copies of the queues. */
        cv_sched_group_t *g = m.groups[0];
        g->rr = (int)(rnd(&m) * n);
        const cv_sched_req_t *head[MAX_TENANTS];
        int64_t taken[MAX_TENANTS] = {0}, rows = 0;
        for (int i = 0; i < n; i++) head[i] = g->tenants[i]->head;
        const cv_sched_req_t *want[64];
        int nwant = 0;
        for (;;) {
            int best = -1;
            for (int k = 0; k < n; k++) {
                int i = (g->rr + k) % n;
                if (!head[i] || rows + head[i]->rows > m.s->config.max_wave_rows) continue;
                double load = (double)taken[i] / g->tenants[i]->share;
                double best_load = best < 0 ? 0 : (double)taken[best] / g->tenants[best]->share;
                if (best < 0 || load < best_load || (load == best_load && head[i]->deadline_ns < head[best]->deadline_ns))
                    best = i;
            }
            if (best < 0) break;
            want[nwant++] = head[best];
            taken[best] += head[best]->rows;
            rows += head[best]->rows;
            head[best] = head[best]->next;
        }
        cv_sched_list_t answered = {0};
        cv_sched_lane_t *launched[8];
        int nlaunched;
        uint64_t wake;
        cv_sched_poll(m.s, m.now, &answered, launched, 8, &nlaunched, &wake);
        assert_int_equal(answered.count, 0);
        if (nwant == 0) {
            assert_int_equal(nlaunched, 0);
        } else {
            assert_true(nlaunched >= 1);
            const cv_sched_wave_t *w = &launched[0]->wave;
            if (w->nreqs != nwant) fail_msg("seed %llu: %d requests in the wave, the rule takes %d", (unsigned long long)seed, w->nreqs, nwant);
            for (int i = 0; i < nwant; i++)
                if (w->reqs[i] != want[i]) fail_msg("seed %llu: request %d of the wave differs from the rule's", (unsigned long long)seed, i);
        }
        for (int i = 0; i < nlaunched; i++) launch(&m, launched[i]);
        settle(&m);
        check_exactly_once(&m);
        sim_free(&m);
    }
}

/* A latency model that grows makes a queued request expire at the next
 * pass, though the pass before it found nothing due until later: passes
 * skip the walk over every queue until the earliest expiry, and a changed
 * model must end that. */
static void test_model_change_expires(void **state)
{
    sim_t m;
    sim_init(&m, CV_POLICY_TIME, 21, 1);
    sim_tenant_t *st = sim_tenant(&m, 0, 0, 10, 1, 100);
    uint64_t wake;
    submit(&m, st);
    poll(&m, &wake); /* the first runs */
    assert_int_equal(m.nrunning, 1);
    submit(&m, st);
    poll(&m, &wake); /* the second waits behind it */
    sim_request_t *queued = &m.reqs[1];
    assert_false(queued->refused);
    assert_int_equal(queued->answers, 0);
    assert_true(wake > m.now + MS); /* nothing to expire for a while */
    /* Waves now take 40 ms (the device slowed down): 10 ms cannot be met. */
    for (int i = 0; i < 40; i++)
        for (int r = 1; r <= 2; r++) cv_latency_observe(&m.groups[0]->latency, r, 40.0 * MS);
    m.now += 1;
    poll(&m, &wake);
    assert_int_equal(queued->answers, 1);
    assert_int_equal(queued->outcome, CV_OUTCOME_EXPIRED);
    settle(&m);
    check_exactly_once(&m);
    sim_free(&m);
}

/* Spacetime fuses: under load, waves hold several tenants; one tenant
 * sending far past its share does not push the others past their SLO. */
static void test_flooding_tenant_isolated(void **state)
{
    for (uint64_t seed = 1; seed <= 10; seed++) {
        sim_t m;
        sim_init(&m, CV_POLICY_SPACETIME, seed, 1);
        sim_tenant_t *normal[8];
        for (int k = 0; k < 8; k++) normal[k] = sim_tenant(&m, 0, 0.4, 30, 1, 64);
        sim_tenant_t *flood = sim_tenant(&m, 0, 10.0, 30, 1, 64); /* ~3x the others together */
        run(&m, m.now + 500 * MS, 0);
        settle(&m);
        check_exactly_once(&m);
        int submitted = 0, met = 0;
        for (int k = 0; k < 8; k++) {
            submitted += normal[k]->submitted;
            met += normal[k]->slo_met;
        }
        double attainment = (double)met / submitted;
        if (attainment < 0.99)
            fail_msg("seed %llu: the others met their SLO for %.4f of %d requests (flooder %d of %d)",
                     (unsigned long long)seed, attainment, submitted, flood->slo_met, flood->submitted);
        assert_true(flood->submitted > 2 * submitted);
        assert_true(m.fused_waves > m.waves / 2);
        sim_free(&m);
    }
}

/* Unloading a tenant answers every request it has queued. */
static void test_unload_answers_queue(void **state)
{
    sim_t m;
    sim_init(&m, CV_POLICY_SPACETIME, 9, 1);
    sim_tenant_t *a = sim_tenant(&m, 0, 0, 0, 1, 100);
    sim_tenant_t *b = sim_tenant(&m, 0, 0, 0, 1, 100);
    for (int i = 0; i < 40; i++) submit(&m, i % 2 ? a : b);
    uint64_t wake;
    poll(&m, &wake); /* one wave goes, the rest waits */
    int queued_a = a->t->queued;
    assert_true(queued_a > 0);
    unload(&m, a);
    int unloaded = 0;
    for (int i = 0; i < m.nreqs; i++) unloaded += m.reqs[i].outcome == CV_OUTCOME_UNLOADED;
    assert_int_equal(unloaded, queued_a);
    settle(&m);
    check_exactly_once(&m);
    sim_free(&m);
}

/* Waves far slower than predicted are stragglers; under space a lane
 * that keeps straggling is marked for a new stream. */
static void test_stragglers(void **state)
{
    sim_t m;
    sim_init(&m, CV_POLICY_SPACE, 13, 1);
    sim_tenant_t *st = sim_tenant(&m, 0, 0, 0, 1, 100);
    cv_sched_lane_t *lane = st->t->lane;
    for (int k = 0; k < 3; k++) {
        submit(&m, st);
        cv_sched_list_t answered = {0};
        cv_sched_lane_t *lanes[4];
        int n;
        uint64_t wake;
        cv_sched_poll(m.s, m.now, &answered, lanes, 4, &n, &wake);
        assert_int_equal(n, 1);
        assert_ptr_equal(lanes[0], lane);
        assert_false(lane->replace);
        double predicted = (double)lane->wave.predicted_ns;
        assert_true(predicted > 0);
        m.now += (uint64_t)(10 * predicted);
        for (int i = 0; i < lane->wave.nreqs; i++) {
            ((sim_request_t *)lane->wave.reqs[i])->ran = true;
            answer(&m, (sim_request_t *)lane->wave.reqs[i], CV_OUTCOME_COMPLETED);
        }
        cv_sched_wave_done(m.s, lane, m.now, 10 * predicted);
    }
    assert_int_equal(m.s->stragglers, 3);
    assert_true(lane->replace);
    /* Marked, the lane gets no wave until the runtime replaced its stream. */
    submit(&m, st);
    cv_sched_list_t answered = {0};
    cv_sched_lane_t *lanes[4];
    int n;
    uint64_t wake;
    cv_sched_poll(m.s, m.now, &answered, lanes, 4, &n, &wake);
    assert_int_equal(n, 0);
    lane->replace = false; /* as the runtime's renew does */
    cv_sched_poll(m.s, m.now, &answered, lanes, 4, &n, &wake);
    assert_int_equal(n, 1);
    launch(&m, lanes[0]);
    settle(&m);
    check_exactly_once(&m);
    sim_free(&m);
}

/* The acceptance in miniature: 32 tenants of one family on one
 * device whose wave of w rows takes 1 + 0.4 w ms (about a ResNet-50 on an
 * H100), waves of up to 64 rows, SLO 50 ms, Poisson arrivals at 70% of the
 * device's capacity: spacetime meets the SLO for at least 99.9% of all
 * arrivals (refusals count as misses), and does better than exclusive,
 * time and space at the same load. */
static double attainment_at(cv_policy_t policy, double load, uint64_t seed, double *fused)
{
    sim_t m;
    sim_init(&m, policy, seed, 0);
    cv_sched_destroy(m.s);
    cv_sched_config_t c = {.policy = policy, .max_wave_rows = 64, .waves_in_flight = 2, .straggler_factor = 3};
    cv_err_t err;
    assert_int_equal(cv_sched_create(&c, &m.s, &err), CV_STATUS_OK);
    m.fixed_ms = 1.0;
    m.per_row_ms = 0.4;
    m.shared_device = true;
    assert_int_equal(cv_sched_group_add(m.s, NULL, &m.groups[0], &err), CV_STATUS_OK);
    m.ngroups = 1;
    for (int r = 1; r <= 64; r *= 2) cv_latency_observe(&m.groups[0]->latency, r, wave_ms(&m, r) * MS);
    double capacity_per_ms = 64.0 / wave_ms(&m, 64);
    sim_tenant_t *ts[32];
    for (int k = 0; k < 32; k++) ts[k] = sim_tenant(&m, 0, load * capacity_per_ms / 32, 50, 1, 1024);
    for (int k = 0; k < 32; k++) ts[k]->t->max_rows = 2;
    run(&m, m.now + 1000 * MS, 0);
    settle(&m);
    check_exactly_once(&m);
    int submitted = 0, met = 0;
    for (int k = 0; k < 32; k++) {
        submitted += ts[k]->submitted;
        met += ts[k]->slo_met;
    }
    *fused = m.waves ? (double)m.fused_waves / m.waves : 0;
    sim_free(&m);
    return (double)met / submitted;
}

static void test_spacetime_at_70_percent(void **state)
{
    for (uint64_t seed = 1; seed <= 2; seed++) {
        double fused, others[3], other_fused;
        double st = attainment_at(CV_POLICY_SPACETIME, 0.7, seed, &fused);
        const cv_policy_t rest[] = {CV_POLICY_EXCLUSIVE, CV_POLICY_TIME, CV_POLICY_SPACE};
        for (int p = 0; p < 3; p++) others[p] = attainment_at(rest[p], 0.7, seed, &other_fused);
        printf("  seed %llu at 70%%: spacetime %.4f (fused waves %.2f), exclusive %.4f, time %.4f, space %.4f\n",
               (unsigned long long)seed, st, fused, others[0], others[1], others[2]);
        if (st < 0.999) fail_msg("spacetime met the SLO for %.4f of arrivals at 70%% load", st);
        for (int p = 0; p < 3; p++) assert_true(st >= others[p]);
    }
}

/* A model that grew during an overload would refuse everything once the
 * family is idle and never learn otherwise: after a second without waves a
 * request goes in as a probe, and its wave brings the model back. */
static void test_probe_after_overload(void **state)
{
    sim_t m;
    sim_init(&m, CV_POLICY_SPACETIME, 17, 1);
    sim_tenant_t *st = sim_tenant(&m, 0, 0, 0, 1, 100);
    st->slo_ms = 10; /* a wave of 1 row takes 2.25 ms */
    submit(&m, st);
    settle(&m); /* one real wave: the model has seen one */
    /* An overload made every width look 100 ms long. */
    for (int k = 0; k < 50; k++)
        for (int r = 1; r <= 32; r++) cv_latency_observe(&m.groups[0]->latency, r, 100.0 * MS);
    submit(&m, st);
    assert_true(m.reqs[m.nreqs - 1].refused); /* just after its last wave: trusted, refused */
    m.now += 2000 * MS;                       /* idle for two seconds */
    submit(&m, st);
    sim_request_t *probe = &m.reqs[m.nreqs - 1];
    assert_false(probe->refused);
    assert_true(probe->s.probe);
    settle(&m);
    assert_int_equal(probe->outcome, CV_OUTCOME_COMPLETED);
    /* The probe's wave pulled the model down for width 1. */
    assert_true(cv_sched_predict(m.groups[0], 1) < 100.0 * MS);
    check_exactly_once(&m);
    sim_free(&m);
}

/* A probe that must wait (time multiplexing: another family's wave holds
 * the one lane) waits until its deadline, as expire() judges it, not
 * until its grown model says it is late: a pass that found it late would
 * have the scheduler wake again the next nanosecond, a busy loop for as
 * long as the other wave runs. */
static void test_waiting_probe_sleeps(void **state)
{
    sim_t m;
    sim_init(&m, CV_POLICY_TIME, 23, 2);
    sim_tenant_t *a = sim_tenant(&m, 0, 0, 0, 1, 100);
    sim_tenant_t *b = sim_tenant(&m, 1, 0, 0, 1, 100);
    a->slo_ms = 10;
    submit(&m, a);
    settle(&m); /* a's family has seen a wave */
    for (int k = 0; k < 50; k++)
        for (int r = 1; r <= 32; r++) cv_latency_observe(&m.groups[0]->latency, r, 100.0 * MS);
    m.now += 2000 * MS; /* idle: a's next request goes in as a probe */
    submit(&m, b);      /* no deadline: b's wave takes the lane */
    uint64_t wake;
    poll(&m, &wake);
    assert_int_equal(m.nrunning, 1);
    submit(&m, a);
    sim_request_t *probe = &m.reqs[m.nreqs - 1];
    assert_false(probe->refused);
    assert_true(probe->s.probe);
    poll(&m, &wake); /* the lane is busy: the probe waits */
    assert_int_equal(probe->s.state, CV_SCHED_QUEUED);
    assert_true(wake > m.now + MS);
    assert_true(wake <= probe->s.deadline_ns + 1);
    settle(&m);
    assert_int_equal(probe->outcome, CV_OUTCOME_COMPLETED);
    check_exactly_once(&m);
    sim_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latency_model),
        cmocka_unit_test(test_latency_table_matches_rule),
        cmocka_unit_test(test_invariants_random),
        cmocka_unit_test(test_many_tenants_counted),
        cmocka_unit_test(test_tenant_add_out_of_memory),
        cmocka_unit_test(test_infeasible_refused),
        cmocka_unit_test(test_expired_never_run),
        cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_spacetime_fill_matches_rule),
        cmocka_unit_test(test_model_change_expires),
        cmocka_unit_test(test_flooding_tenant_isolated),
        cmocka_unit_test(test_unload_answers_queue),
        cmocka_unit_test(test_stragglers),
        cmocka_unit_test(test_probe_after_overload),
        cmocka_unit_test(test_waiting_probe_sleeps),
        cmocka_unit_test(test_spacetime_at_70_percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
