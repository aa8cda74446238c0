/*
 * policy_space.c: explicit space multiplexing. Each tenant has its own lane
 * (a stream and a worker on a device); a free lane takes its tenant's
 * queued requests that fit (dynamic batching), and the waves of different
 * tenants overlap on the device. No fusion across tenants: the paper's
 * space-only baseline with streams.
 */
#include "sched/sched.h"

static bool space_form(cv_sched_t *s, cv_sched_lane_t *lane, uint64_t now, uint64_t *wake)
{
    cv_sched_tenant_t *t = lane->tenant;
    if (!t || !t->head) return false;
    cv_sched_take_batch(s, lane, t, now);
    return true;
}

static uint64_t space_estimate(cv_sched_t *s, cv_sched_tenant_t *t, int64_t rows, int priority,
                               uint64_t deadline, uint64_t now)
{
    return cv_sched_lane_free_at(t->lane, now) + (uint64_t)cv_sched_batched_ns(s, t, rows, priority);
}

const cv_policy_i cv_policy_space = {
    /* .name     = */ "space",
    /* .form     = */ space_form,
    /* .estimate = */ space_estimate,
};
