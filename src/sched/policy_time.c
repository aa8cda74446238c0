/*
 * policy_time.c: time multiplexing. One wave at a time on the runtime's one
 * lane, each of a single request: the queued request with the earliest
 * deadline (each tenant's queue offers its first, which its priorities
 * order), tenants with equal deadlines served in turn. No batching and no
 * fusion: the paper's time-only baseline, with a deadline-aware order.
 */
#include "sched/sched.h"

/* The tenants in one fixed order (groups, then members), for turns. */
static int tenant_count(const cv_sched_t *s)
{
    int n = 0;
    for (const cv_sched_group_t *g = s->groups; g; g = g->next) n += g->ntenants;
    return n;
}

static bool time_form(cv_sched_t *s, cv_sched_lane_t *lane, uint64_t now, uint64_t *wake)
{
    int n = tenant_count(s);
    if (n == 0) return false;
    cv_sched_tenant_t *best = NULL;
    int best_turn = 0, first = 0; /* first: the group's first tenant in the fixed order */
    for (cv_sched_group_t *g = s->groups; g; first += g->ntenants, g = g->next)
        for (int i = cv_sched_next_queued(g, 0); i < g->ntenants; i = cv_sched_next_queued(g, i + 1)) {
            cv_sched_tenant_t *t = g->tenants[i];
            /* Turns count from the tenant after the one served last. */
            int turn = (first + i - s->tenant_rr + n) % n;
            if (!best || t->head->deadline_ns < best->head->deadline_ns ||
                (t->head->deadline_ns == best->head->deadline_ns && turn < best_turn)) {
                best = t;
                best_turn = turn;
            }
        }
    if (!best) return false;
    s->tenant_rr = (s->tenant_rr + best_turn + 1) % n;
    cv_sched_take(s, lane, best->head, now, true);
    return true;
}

static uint64_t time_estimate(cv_sched_t *s, cv_sched_tenant_t *t, int64_t rows, int priority,
                              uint64_t deadline, uint64_t now)
{
    /* Everything queued with an earlier or equal deadline runs first, one
     * request per wave. */
    double ns = cv_sched_predict(t->group, rows);
    for (cv_sched_group_t *g = s->groups; g; g = g->next)
        for (int i = cv_sched_next_queued(g, 0); i < g->ntenants; i = cv_sched_next_queued(g, i + 1))
            for (const cv_sched_req_t *r = g->tenants[i]->head; r; r = r->next)
                if (r->deadline_ns <= deadline) ns += cv_sched_predict(g, r->rows);
    return cv_sched_lane_free_at(s->global_lane, now) + (uint64_t)ns;
}

const cv_policy_i cv_policy_time = {
    /* .name     = */ "time",
    /* .form     = */ time_form,
    /* .estimate = */ time_estimate,
};
