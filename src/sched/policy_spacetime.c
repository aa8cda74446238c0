/*
 * policy_spacetime.c: waves across the tenants of one family (the paper's
 * space-time super-kernels), formed for each free lane of the family.
 *
 * When: a free lane launches at once when its wave would be full
 * (max_wave_rows), when no other wave of the family is in flight (idle: waiting
 * only adds latency), when waiting for the wave in flight would make the
 * earliest queued deadline unreachable, or when the wave in flight is about
 * to end, so that the next one's uploads overlap its last kernels
 * (pipelining). Otherwise it waits, and the queue grows into a wider wave.
 *
 * Who: weighted fair shares. Rows go one request at a time to the tenant
 * whose rows in this wave, divided by its share, are fewest (ties: earliest
 * deadline at the head, then the tenant after the last one served first),
 * within a tenant in queue order. A tenant sending far past its share gets
 * its share of each wave; the rest of its requests wait, expire or are
 * refused at the door, and do not push the others past their deadlines.
 */
#include "sched/sched.h"

/* How early the next wave is launched before the one in flight ends, as a
 * fraction of its own predicted time: enough for its tables and inputs to
 * go up while the device finishes the other. */
#define PIPELINE_LEAD 0.25

static int64_t queued_rows(const cv_sched_group_t *g)
{
    int64_t rows = 0;
    for (int i = 0; i < g->ntenants; i++) rows += g->tenants[i]->queued_rows;
    return rows;
}

/* The earliest deadline at the head of a queue of the group. */
static uint64_t first_deadline(const cv_sched_group_t *g)
{
    uint64_t d = CV_SCHED_NO_DEADLINE;
    for (int i = 0; i < g->ntenants; i++)
        for (const cv_sched_req_t *r = g->tenants[i]->head; r; r = r->next) {
            if (r->prev && r->prev->priority == r->priority) continue;
            if (r->deadline_ns < d) d = r->deadline_ns;
        }
    return d;
}

/* The earliest predicted end of another wave of the group in flight, or 0. */
static uint64_t in_flight_end(const cv_sched_group_t *g, const cv_sched_lane_t *self)
{
    uint64_t end = 0;
    for (int i = 0; i < g->nlanes; i++) {
        const cv_sched_lane_t *l = g->lanes[i];
        if (l == self || !l->busy) continue;
        if (!end || l->busy_until_ns < end) end = l->busy_until_ns;
    }
    return end;
}

/* A tenant's place in the choice of who gets the next row: fewest rows in
 * this wave per unit of its share, then the earliest deadline at the head
 * of its queue, then the first after the round-robin cursor. */
typedef struct pick {
    double load;
    uint64_t deadline;
    int order;  /* (tenant - rr) mod ntenants */
    int tenant;
} pick_t;

static bool pick_before(const pick_t *a, const pick_t *b)
{
    if (a->load != b->load) return a->load < b->load;
    if (a->deadline != b->deadline) return a->deadline < b->deadline;
    return a->order < b->order;
}

/* Restores the heap below slot i (a min-heap by pick_before). */
static void sift_down(pick_t *heap, int n, int i)
{
    for (;;) {
        int least = i, l = 2 * i + 1, r = l + 1;
        if (l < n && pick_before(&heap[l], &heap[least])) least = l;
        if (r < n && pick_before(&heap[r], &heap[least])) least = r;
        if (least == i) return;
        pick_t tmp = heap[i];
        heap[i] = heap[least];
        heap[least] = tmp;
        i = least;
    }
}

/* Fills the lane's wave one request at a time, each to the tenant that
 * comes first by pick_before: a heap of the tenants with queued requests,
 * so that a wave of W rows over N tenants costs O(W log N), not O(W N) (a
 * wave of 64 over 64 tenants is formed on every lane's turn). A tenant
 * whose head no longer fits leaves for good: the wave only grows. */
static void fill_fair(cv_sched_t *s, cv_sched_lane_t *lane, cv_sched_group_t *g, uint64_t now)
{
    int n = g->ntenants, size = 0;
    if (n == 0) return;
    pick_t heap[n];
    for (int k = 0; k < n; k++) {
        int i = (g->rr + k) % n;
        const cv_sched_req_t *head = g->tenants[i]->head;
        if (head) heap[size++] = (pick_t){.load = 0, .deadline = head->deadline_ns, .order = k, .tenant = i};
    }
    for (int i = size / 2 - 1; i >= 0; i--) sift_down(heap, size, i);
    int64_t taken[n];
    for (int i = 0; i < n; i++) taken[i] = 0;
    while (size > 0) {
        cv_sched_tenant_t *t = g->tenants[heap[0].tenant];
        if (!cv_sched_fits(s, lane, t->head)) {
            heap[0] = heap[--size];
            sift_down(heap, size, 0);
            continue;
        }
        taken[heap[0].tenant] += t->head->rows;
        cv_sched_take(s, lane, t->head, now);
        if (!t->head) {
            heap[0] = heap[--size];
        } else {
            heap[0].load = (double)taken[heap[0].tenant] / t->share;
            heap[0].deadline = t->head->deadline_ns;
        }
        sift_down(heap, size, 0);
    }
    /* The next wave starts its ties after the first tenant served here. */
    if (lane->wave.nreqs > 0) {
        for (int i = 0; i < n; i++)
            if (g->tenants[i] == lane->wave.reqs[0]->tenant) g->rr = (i + 1) % n;
    }
}

static bool spacetime_form(cv_sched_t *s, cv_sched_lane_t *lane, uint64_t now, uint64_t *wake)
{
    cv_sched_group_t *g = lane->group;
    int64_t rows = queued_rows(g);
    if (rows == 0) return false;
    int64_t width = rows < s->config.max_wave_rows ? rows : s->config.max_wave_rows;
    uint64_t other_end = in_flight_end(g, lane);
    bool launch = width == s->config.max_wave_rows || other_end == 0;
    if (!launch) {
        double t_wave = cv_sched_predict(g, width);
        uint64_t lead = (uint64_t)(PIPELINE_LEAD * t_wave);
        uint64_t pipeline_at = other_end > lead ? other_end - lead : 0;
        /* Waiting until then must still meet the earliest deadline. */
        uint64_t deadline = first_deadline(g);
        uint64_t latest = deadline == CV_SCHED_NO_DEADLINE ? UINT64_MAX
                          : (double)deadline > t_wave ? deadline - (uint64_t)t_wave
                                                      : 0;
        uint64_t at = pipeline_at < latest ? pipeline_at : latest;
        if (now >= at) launch = true;
        else if (at < *wake) *wake = at;
    }
    if (!launch) return false;
    fill_fair(s, lane, g, now);
    return lane->wave.nreqs > 0;
}

static uint64_t spacetime_estimate(cv_sched_t *s, cv_sched_tenant_t *t, int64_t rows, int priority,
                                   uint64_t deadline, uint64_t now)
{
    cv_sched_group_t *g = t->group;
    uint64_t start = UINT64_MAX;
    for (int i = 0; i < g->nlanes; i++) {
        uint64_t at = cv_sched_lane_free_at(g->lanes[i], now);
        if (at < start) start = at;
    }
    if (start == UINT64_MAX) start = now;
    double shares = t->queued ? 0 : t->share;
    for (int i = 0; i < g->ntenants; i++)
        if (g->tenants[i]->queued) shares += g->tenants[i]->share;
    int64_t max_rows = s->config.max_wave_rows;
    int64_t per_wave = (int64_t)((double)max_rows * t->share / shares);
    if (per_wave < rows) per_wave = rows;
    int64_t ahead = rows;
    for (const cv_sched_req_t *r = t->head; r && r->priority >= priority; r = r->next) ahead += r->rows;
    int64_t waves = (ahead + per_wave - 1) / per_wave;
    int64_t width = queued_rows(g) + rows;
    if (width > max_rows) width = max_rows;
    return start + (uint64_t)((double)waves * cv_sched_predict(g, width));
}

const cv_policy_i cv_policy_spacetime = {
    /* .name     = */ "spacetime",
    /* .form     = */ spacetime_form,
    /* .estimate = */ spacetime_estimate,
};
