/*
 * policy_exclusive.c: one wave at a time on the runtime's one lane, of one
 * tenant: all its queued requests that fit (dynamic batching). The tenant
 * whose first request was submitted earliest goes next, so tenants take
 * turns. The paper's exclusive access, made multi-tenant the way a batching
 * server without fusion would.
 */
#include "sched/sched.h"

static bool exclusive_form(cv_sched_t *s, cv_sched_lane_t *lane, uint64_t now, uint64_t *wake)
{
    cv_sched_tenant_t *next = NULL;
    for (cv_sched_group_t *g = s->groups; g; g = g->next)
        for (int i = cv_sched_next_queued(g, 0); i < g->ntenants; i = cv_sched_next_queued(g, i + 1)) {
            cv_sched_tenant_t *t = g->tenants[i];
            if (!next || t->head->arrival_ns < next->head->arrival_ns ||
                (t->head->arrival_ns == next->head->arrival_ns && t->head->seq < next->head->seq))
                next = t;
        }
    if (!next) return false;
    cv_sched_take_batch(s, lane, next, now);
    return true;
}

static uint64_t exclusive_estimate(cv_sched_t *s, cv_sched_tenant_t *t, int64_t rows, int priority,
                                   uint64_t deadline, uint64_t now)
{
    /* Every other tenant with work queued gets a turn first (one wave),
     * then t's own queue and this request, in waves of its own. */
    double ns = 0;
    int64_t max_rows = s->config.max_wave_rows;
    for (cv_sched_group_t *g = s->groups; g; g = g->next)
        for (int i = cv_sched_next_queued(g, 0); i < g->ntenants; i = cv_sched_next_queued(g, i + 1)) {
            cv_sched_tenant_t *o = g->tenants[i];
            if (o == t) continue;
            ns += cv_sched_predict(g, o->queued_rows < max_rows ? o->queued_rows : max_rows);
        }
    ns += cv_sched_batched_ns(s, t, rows, priority);
    return cv_sched_lane_free_at(s->global_lane, now) + (uint64_t)ns;
}

const cv_policy_i cv_policy_exclusive = {
    /* .name     = */ "exclusive",
    /* .form     = */ exclusive_form,
    /* .estimate = */ exclusive_estimate,
};
