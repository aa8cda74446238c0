/*
 * sched.c: queues, admission, expiry, lanes and the bookkeeping of waves
 * (see sched.h); the policies that choose waves are in policy_*.c.
 */
#include "sched/sched.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define DEFAULT_QUEUE_BOUND 1024
/* A family idle this long after its last wave admits a request its model
 * would refuse, as a probe (1 s). */
#define PROBE_STALE_NS 1000000000ull
/* A straggler is late by at least this much too (1 ms). */
#define STRAGGLER_MIN_NS 1e6

void cv_sched_list_push(cv_sched_list_t *list, cv_sched_req_t *req)
{
    req->next = NULL;
    req->prev = list->tail;
    if (list->tail) list->tail->next = req;
    else list->head = req;
    list->tail = req;
    list->count++;
}

cv_sched_req_t *cv_sched_list_pop(cv_sched_list_t *list)
{
    cv_sched_req_t *req = list->head;
    if (!req) return NULL;
    list->head = req->next;
    if (!list->head) list->tail = NULL;
    list->count--;
    req->next = req->prev = NULL;
    return req;
}

static const cv_policy_i *policy_of(cv_policy_t p)
{
    switch (p) {
    case CV_POLICY_SPACETIME: return &cv_policy_spacetime;
    case CV_POLICY_EXCLUSIVE: return &cv_policy_exclusive;
    case CV_POLICY_TIME: return &cv_policy_time;
    case CV_POLICY_SPACE: return &cv_policy_space;
    }
    return NULL;
}

/* ---- lanes ----------------------------------------------------------------- */

static cv_sched_lane_t *lane_new(cv_sched_t *s)
{
    cv_sched_lane_t *lane = cv_calloc(1, sizeof(*lane));
    if (!lane) return NULL;
    lane->wave.reqs = cv_calloc((size_t)s->config.max_wave_rows, sizeof(cv_sched_req_t *));
    if (!lane->wave.reqs) {
        cv_free(lane);
        return NULL;
    }
    lane->id = s->nlanes++;
    lane->next = s->lanes;
    s->lanes = lane;
    return lane;
}

static void lane_free(cv_sched_t *s, cv_sched_lane_t *lane)
{
    CV_ASSERT(!lane->busy);
    cv_sched_lane_t **link = &s->lanes;
    while (*link != lane) link = &(*link)->next;
    *link = lane->next;
    cv_free(lane->wave.reqs);
    cv_free(lane);
}

uint64_t cv_sched_lane_free_at(const cv_sched_lane_t *lane, uint64_t now)
{
    return lane->busy && lane->busy_until_ns > now ? lane->busy_until_ns : now;
}

/* ---- the scheduler --------------------------------------------------------- */

cv_status cv_sched_create(const cv_sched_config_t *config, cv_sched_t **out, cv_err_t *err)
{
    const cv_policy_i *policy = policy_of(config->policy);
    if (!policy) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "unknown scheduling policy %d", (int)config->policy);
    if (config->max_wave_rows < 1 || config->waves_in_flight < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "a wave needs at least one row and one lane");
    cv_sched_t *s = cv_calloc(1, sizeof(*s));
    if (!s) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory creating the scheduler");
    s->config = *config;
    s->policy = policy;
    s->expiry_at = UINT64_MAX;
    if (config->policy == CV_POLICY_EXCLUSIVE || config->policy == CV_POLICY_TIME) {
        s->global_lane = lane_new(s);
        if (!s->global_lane) {
            cv_free(s);
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory creating the scheduler");
        }
    }
    *out = s;
    return CV_STATUS_OK;
}

void cv_sched_destroy(cv_sched_t *s)
{
    if (!s) return;
    CV_ASSERT(!s->groups && s->queued == 0 && s->in_flight == 0);
    while (s->lanes) lane_free(s, s->lanes);
    cv_free(s);
}

cv_status cv_sched_group_add(cv_sched_t *s, void *impl, cv_sched_group_t **out, cv_err_t *err)
{
    cv_sched_group_t *g = cv_calloc(1, sizeof(*g));
    if (!g || cv_latency_init(&g->latency, s->config.max_wave_rows) != CV_STATUS_OK) goto oom;
    g->sched = s;
    g->impl = impl;
    g->deadline_floor = CV_SCHED_NO_DEADLINE;
    g->rows_floor = INT64_MAX;
    if (s->config.policy == CV_POLICY_SPACETIME) {
        g->lanes = cv_calloc((size_t)s->config.waves_in_flight, sizeof(*g->lanes));
        if (!g->lanes) goto oom;
        for (; g->nlanes < s->config.waves_in_flight; g->nlanes++) {
            cv_sched_lane_t *lane = lane_new(s);
            if (!lane) goto oom;
            lane->group = g;
            g->lanes[g->nlanes] = lane;
        }
    }
    g->next = s->groups;
    s->groups = g;
    *out = g;
    return CV_STATUS_OK;
oom:
    if (g) {
        for (int i = 0; i < g->nlanes; i++) lane_free(s, g->lanes[i]);
        cv_free(g->lanes);
        cv_latency_free(&g->latency);
        cv_free(g);
    }
    return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a family's scheduling state");
}

void cv_sched_group_remove(cv_sched_t *s, cv_sched_group_t *g)
{
    CV_ASSERT(g->ntenants == 0);
    cv_sched_group_t **link = &s->groups;
    while (*link != g) link = &(*link)->next;
    *link = g->next;
    for (int i = 0; i < g->nlanes; i++) lane_free(s, g->lanes[i]);
    cv_free(g->lanes);
    cv_free(g->tenants);
    cv_free(g->has_queued);
    cv_latency_free(&g->latency);
    cv_free(g);
}

cv_status cv_sched_tenant_add(cv_sched_t *s, cv_sched_group_t *g, const cv_tenant_config_t *config,
                              int64_t max_rows, void *impl, cv_sched_tenant_t **out, cv_err_t *err)
{
    cv_sched_tenant_t *t = cv_calloc_lines(1, sizeof(*t));
    if (!t || CV_GROW(g->tenants, g->ntenants, g->tenants_cap) != CV_STATUS_OK) goto oom;
    if (g->ntenants % 64 == 0) { /* its bit starts a word */
        if (CV_GROW(g->has_queued, g->ntenants / 64, g->has_queued_words) != CV_STATUS_OK) goto oom;
        g->has_queued[g->ntenants / 64] = 0;
    }
    if (s->config.policy == CV_POLICY_SPACE) {
        t->lane = lane_new(s);
        if (!t->lane) goto oom;
        t->lane->tenant = t;
    }
    t->group = g;
    t->impl = impl;
    t->share = config->share > 0 ? config->share : 1.0;
    t->queue_bound = config->queue_bound > 0 ? config->queue_bound : DEFAULT_QUEUE_BOUND;
    t->max_rows = max_rows;
    t->index = g->ntenants;
    g->tenants[g->ntenants++] = t;
    *out = t;
    return CV_STATUS_OK;
oom:
    cv_free(t);
    return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a tenant's scheduling state");
}

/* What a wave's decision touches of a tenant and of a request, each in
 * one line (sched.h). */
_Static_assert(offsetof(cv_sched_tenant_t, tail_priority) + sizeof(int) <= CV_CACHE_LINE,
               "a tenant's decision fields fill one line");
_Static_assert(offsetof(cv_sched_req_t, probe) + sizeof(bool) <= CV_CACHE_LINE,
               "a request's decision fields fill one line");

static void unlink_queued(cv_sched_t *s, cv_sched_req_t *req)
{
    cv_sched_tenant_t *t = req->tenant;
    if (req->prev) req->prev->next = req->next;
    else t->head = req->next;
    if (req->next) {
        req->next->prev = req->prev;
    } else {
        t->tail = req->prev;
        if (t->tail) t->tail_priority = t->tail->priority; /* a line this has just written */
    }
    req->prev = req->next = NULL;
    cv_sched_group_t *g = t->group;
    if (--t->queued == 0) {
        g->has_queued[t->index / 64] &= ~(1ull << (t->index % 64));
        /* exactly 0 whenever nothing is queued: no rounding carried over */
        g->queued_share = --g->queued_tenants ? g->queued_share - t->share : 0.0;
    }
    t->queued_rows -= req->rows;
    g->queued_rows -= req->rows;
    if (--g->queued == 0) {
        g->deadline_floor = CV_SCHED_NO_DEADLINE;
        g->rows_floor = INT64_MAX;
        g->rows_ceiling = 0;
    }
    s->queued--;
}

static void answer_queued(cv_sched_t *s, cv_sched_req_t *req, cv_outcome_t why, cv_sched_list_t *answered)
{
    unlink_queued(s, req);
    req->state = CV_SCHED_ANSWERED;
    req->outcome = why;
    cv_sched_list_push(answered, req);
}

void cv_sched_tenant_drain(cv_sched_t *s, cv_sched_tenant_t *t, cv_outcome_t why, cv_sched_list_t *answered)
{
    while (t->head) answer_queued(s, t->head, why, answered);
}

void cv_sched_tenant_remove(cv_sched_t *s, cv_sched_tenant_t *t, cv_sched_list_t *answered)
{
    CV_ASSERT(t->in_flight == 0);
    cv_sched_tenant_drain(s, t, CV_OUTCOME_UNLOADED, answered);
    cv_sched_group_t *g = t->group;
    int i = t->index;
    memmove(&g->tenants[i], &g->tenants[i + 1], sizeof(*g->tenants) * (size_t)(g->ntenants - i - 1));
    g->ntenants--;
    /* The tenants after it move down a place, and their bits with them. */
    for (int k = 0; k < (g->ntenants + 64) / 64; k++) g->has_queued[k] = 0;
    for (int k = 0; k < g->ntenants; k++) {
        g->tenants[k]->index = k;
        if (g->tenants[k]->queued) g->has_queued[k / 64] |= 1ull << (k % 64);
    }
    if (g->rr >= g->ntenants) g->rr = 0;
    if (t->lane) lane_free(s, t->lane);
    cv_free(t);
}

/* Queue order: priority (higher first), then deadline, then submission. */
static bool before(const cv_sched_req_t *a, const cv_sched_req_t *b)
{
    if (a->priority != b->priority) return a->priority > b->priority;
    if (a->deadline_ns != b->deadline_ns) return a->deadline_ns < b->deadline_ns;
    return a->seq < b->seq;
}

static void enqueue(cv_sched_t *s, cv_sched_req_t *req)
{
    cv_sched_tenant_t *t = req->tenant;
    /* From the tail: a new request usually goes last. */
    cv_sched_req_t *after = t->tail;
    while (after && before(req, after)) after = after->prev;
    req->prev = after;
    req->next = after ? after->next : t->head;
    if (req->next) {
        req->next->prev = req;
    } else {
        t->tail = req;
        t->tail_priority = req->priority;
    }
    if (after) after->next = req;
    else t->head = req;
    cv_sched_group_t *g = t->group;
    if (t->queued++ == 0) {
        g->has_queued[t->index / 64] |= 1ull << (t->index % 64);
        g->queued_tenants++;
        g->queued_share += t->share;
    }
    t->queued_rows += req->rows;
    g->queued++;
    g->queued_rows += req->rows;
    if (req->deadline_ns < g->deadline_floor) g->deadline_floor = req->deadline_ns;
    if (req->rows < g->rows_floor) g->rows_floor = req->rows;
    if (req->rows > g->rows_ceiling) g->rows_ceiling = req->rows;
    s->queued++;
    req->state = CV_SCHED_QUEUED;
}

/* When a queued request could no longer finish by its deadline: the
 * moment a pass must look at it (expire answers it then, or later for a
 * probe, which never waits for its model). */
static uint64_t expiry_of(const cv_sched_req_t *r, uint64_t now)
{
    /* As expire() judges it: a probe needs no time, or one whose model
     * says it is already late would have every pass wake the next
     * nanosecond until a lane takes it. */
    double need = r->probe ? 0 : cv_sched_predict(r->tenant->group, r->rows);
    double at = (double)r->deadline_ns - need;
    return at <= (double)now ? now + 1 : (uint64_t)at + 1;
}

/* Nothing of the group queued or in a wave. */
static bool group_idle(const cv_sched_group_t *g) { return g->queued == 0 && g->in_flight == 0; }

cv_status cv_sched_submit(cv_sched_t *s, cv_sched_req_t *req, uint64_t now, cv_err_t *err)
{
    cv_sched_tenant_t *t = req->tenant;
    req->arrival_ns = now;
    req->seq = s->seq++;
    req->outcome = CV_OUTCOME_PENDING;
    req->waved_ns = 0;
    if (t->queued >= t->queue_bound) {
        req->outcome = CV_OUTCOME_QUEUE_FULL;
        return cv_errorf(err, CV_STATUS_UNAVAILABLE, "the queue is full (%d requests queued)", t->queued);
    }
    /* Where nothing of the tenant's family is queued or running and no wave
     * of it has finished for a while, the only ground for a refusal is the
     * latency model itself, which learns only from waves: one that grew
     * during an overload would refuse everything from then on and never
     * learn otherwise. Such a request goes in as a probe, and its wave tells
     * the model what a wave takes now. (A model with only its profile from
     * load, no wave yet, is trusted.) */
    bool idle = group_idle(t->group) && t->group->observed_ns &&
                now - t->group->observed_ns > PROBE_STALE_NS;
    if (req->deadline_ns != CV_SCHED_NO_DEADLINE && !idle) {
        uint64_t finish = s->policy->estimate(s, t, req->rows, req->priority, req->deadline_ns, now);
        if (finish > req->deadline_ns) {
            req->outcome = CV_OUTCOME_INFEASIBLE;
            return cv_errorf(err, CV_STATUS_UNAVAILABLE,
                             "the deadline cannot be met: %.3f ms from now, estimated finish in %.3f ms",
                             (double)(req->deadline_ns - now) / 1e6, (double)(finish - now) / 1e6);
        }
    }
    req->probe = idle;
    enqueue(s, req);
    if (req->deadline_ns != CV_SCHED_NO_DEADLINE) {
        uint64_t when = expiry_of(req, now);
        if (when < s->expiry_at) s->expiry_at = when;
    }
    return CV_STATUS_OK;
}

bool cv_sched_cancel(cv_sched_t *s, cv_sched_req_t *req, cv_sched_list_t *answered)
{
    if (req->state != CV_SCHED_QUEUED) return false;
    answer_queued(s, req, CV_OUTCOME_CANCELLED, answered);
    return true;
}

void cv_sched_flush(cv_sched_t *s, cv_outcome_t why, cv_sched_list_t *answered)
{
    for (cv_sched_group_t *g = s->groups; g; g = g->next)
        for (int i = cv_sched_next_queued(g, 0); i < g->ntenants; i = cv_sched_next_queued(g, i + 1))
            while (g->tenants[i]->head) answer_queued(s, g->tenants[i]->head, why, answered);
}

double cv_sched_predict(const cv_sched_group_t *g, int64_t rows) { return cv_latency_predict(&g->latency, rows); }

/* Requests that cannot finish by their deadline even if they ran alone now
 * leave the queue: they are answered EXPIRED and never run. Within one
 * priority the queue is in deadline order, so the rest of a run of equal
 * priority is skipped once a request's deadline leaves room for the
 * tenant's largest request. */
static void expire(cv_sched_t *s, cv_sched_tenant_t *t, uint64_t now, cv_sched_list_t *answered)
{
    double widest = (double)now + cv_sched_predict(t->group, t->max_rows);
    cv_sched_req_t *req = t->head;
    while (req) {
        cv_sched_req_t *next = req->next;
        double need = req->probe ? 0 : cv_sched_predict(t->group, req->rows);
        if (req->deadline_ns != CV_SCHED_NO_DEADLINE && (double)now + need > (double)req->deadline_ns) {
            answer_queued(s, req, CV_OUTCOME_EXPIRED, answered);
        } else if (req->deadline_ns == CV_SCHED_NO_DEADLINE || widest <= (double)req->deadline_ns) {
            /* The last run (the tail's priority) ends the queue: done
             * without walking it. */
            if (req->priority == t->tail_priority) break;
            while (next && next->priority == req->priority) next = next->next;
        }
        req = next;
    }
}

void cv_sched_take(cv_sched_t *s, cv_sched_lane_t *lane, cv_sched_req_t *req, uint64_t now, bool first_of_tenant)
{
    cv_sched_wave_t *w = &lane->wave;
    CV_ASSERT(w->nreqs < s->config.max_wave_rows && req->state == CV_SCHED_QUEUED);
    cv_sched_tenant_t *t = req->tenant;
    w->ntenants += first_of_tenant;
    unlink_queued(s, req);
    req->state = CV_SCHED_IN_WAVE;
    req->waved_ns = now;
    w->reqs[w->nreqs++] = req;
    w->rows += req->rows;
    w->group = t->group;
    t->in_flight++;
    t->group->in_flight++;
    s->in_flight++;
}

void cv_sched_take_batch(cv_sched_t *s, cv_sched_lane_t *lane, cv_sched_tenant_t *t, uint64_t now)
{
    cv_sched_req_t *req = t->head;
    for (bool first = true; req && cv_sched_fits(s, lane, t->group, req->rows); first = false) {
        cv_sched_req_t *next = req->next;
        cv_sched_take(s, lane, req, now, first);
        req = next;
    }
}

int64_t cv_sched_rows_ahead(const cv_sched_tenant_t *t, int priority)
{
    /* The queue runs from the highest priority down: when its last is at
     * least `priority`, every request is ahead, and the tenant's count
     * says how many rows without a walk over requests that other threads
     * wrote (a cache miss each, under the runtime's lock, per submit). */
    if (!t->tail) return 0;
    if (t->tail_priority >= priority) return t->queued_rows;
    int64_t ahead = 0;
    for (const cv_sched_req_t *r = t->head; r && r->priority >= priority; r = r->next) ahead += r->rows;
    return ahead;
}

double cv_sched_batched_ns(const cv_sched_t *s, const cv_sched_tenant_t *t, int64_t rows, int priority)
{
    int64_t ahead = rows + cv_sched_rows_ahead(t, priority);
    int64_t w = s->config.max_wave_rows;
    int64_t full = (ahead - 1) / w, rest = ahead - full * w;
    return (double)full * cv_sched_predict(t->group, w) + cv_sched_predict(t->group, rest);
}

static void count_wave(const cv_sched_wave_t *w);

static void lane_launch(cv_sched_lane_t *lane, uint64_t now)
{
    cv_sched_wave_t *w = &lane->wave;
    w->formed_ns = now;
    w->predicted_ns = (uint64_t)cv_sched_predict(w->group, w->rows);
    lane->busy = true;
    lane->busy_until_ns = now + w->predicted_ns;
}

void cv_sched_poll(cv_sched_t *s, uint64_t now, cv_sched_list_t *answered, cv_sched_lane_t **launch,
                   int max_launch, int *nlaunch, uint64_t *wake)
{
    *nlaunch = 0;
    *wake = UINT64_MAX;
    /* Every queue is walked only when something may expire now, or a
     * latency model changed since the walk that set expiry_at (each wave
     * refines its family's: most passes that form a wave walk). A group
     * whose earliest deadline leaves room for the longest any of its
     * queued requests may need has nothing to expire, and its queues are
     * not looked at: expire() would answer nothing there. */
    bool walk = now >= s->expiry_at;
    for (cv_sched_group_t *g = s->groups; g && !walk; g = g->next) walk = g->latency.version != g->latency_seen;
    if (walk)
        for (cv_sched_group_t *g = s->groups; g; g = g->next) {
            if ((double)now + cv_latency_ceiling(&g->latency, g->rows_ceiling) <= (double)g->deadline_floor) continue;
            for (int i = cv_sched_next_queued(g, 0); i < g->ntenants; i = cv_sched_next_queued(g, i + 1))
                expire(s, g->tenants[i], now, answered);
        }
    for (cv_sched_lane_t *lane = s->lanes; lane && *nlaunch < max_launch; lane = lane->next) {
        /* A lane marked for replacement gets no wave until the runtime has
         * replaced its stream (it clears the mark): never one formed for
         * the old stream and run on the new. */
        if (lane->busy || lane->replace) continue;
        memset(lane->wave.reqs, 0, sizeof(*lane->wave.reqs) * (size_t)lane->wave.nreqs);
        cv_sched_req_t **reqs = lane->wave.reqs;
        lane->wave = (cv_sched_wave_t){.reqs = reqs, .stamp = ++s->waves_formed};
        if (!s->policy->form(s, lane, now, wake)) {
            CV_ASSERT(lane->wave.nreqs == 0);
            continue;
        }
        CV_ASSERT(lane->wave.nreqs > 0);
        lane_launch(lane, now);
        launch[(*nlaunch)++] = lane;
    }
    /* What is still queued: poll again when the first of it would expire.
     * Within a priority run deadlines only grow, and no request needs more
     * than the tenant's widest: once a deadline less that cannot come
     * before the earliest found so far, the rest of its run cannot either.
     * The walk comes to the head of every run, the earliest deadline of
     * its run: the group's deadline_floor becomes exact again, and stays
     * useful while its queues never empty. */
    if (!walk) {
        if (s->expiry_at < *wake) *wake = s->expiry_at;
        return;
    }
    uint64_t first = UINT64_MAX;
    for (cv_sched_group_t *g = s->groups; g; g = g->next) {
        g->latency_seen = g->latency.version;
        if (g->queued == 0) continue;
        uint64_t earliest = CV_SCHED_NO_DEADLINE;
        for (int i = cv_sched_next_queued(g, 0); i < g->ntenants; i = cv_sched_next_queued(g, i + 1)) {
            cv_sched_tenant_t *t = g->tenants[i];
            double widest = cv_sched_predict(g, t->max_rows);
            for (cv_sched_req_t *r = t->head; r;) {
                if ((!r->prev || r->prev->priority != r->priority) && r->deadline_ns < earliest) earliest = r->deadline_ns;
                if (r->deadline_ns == CV_SCHED_NO_DEADLINE || (double)r->deadline_ns - widest >= (double)first) {
                    if (r->priority == t->tail_priority) break;
                    int priority = r->priority;
                    while (r && r->priority == priority) r = r->next;
                    continue;
                }
                uint64_t when = expiry_of(r, now);
                if (when < first) first = when;
                r = r->next;
            }
        }
        g->deadline_floor = earliest;
    }
    s->expiry_at = first;
    if (first < *wake) *wake = first;
}

void cv_sched_wave_done(cv_sched_t *s, cv_sched_lane_t *lane, uint64_t now, double elapsed_ns)
{
    cv_sched_wave_t *w = &lane->wave;
    CV_ASSERT(lane->busy);
    count_wave(w);
    for (int i = 0; i < w->nreqs; i++) {
        w->reqs[i]->state = CV_SCHED_ANSWERED;
        w->reqs[i]->tenant->in_flight--;
    }
    s->in_flight -= w->nreqs;
    w->group->in_flight -= w->nreqs;
    /* Stragglers: far slower than predicted, from a model that had data,
     * and by more than the jitter of sub-millisecond waves. */
    bool slow = w->predicted_ns > 0 && elapsed_ns > s->config.straggler_factor * (double)w->predicted_ns &&
                elapsed_ns - (double)w->predicted_ns > STRAGGLER_MIN_NS;
    if (slow && s->stragglers++ % 100 == 0)
        cv_log(CV_LOG_WARN, "sched: a wave of %lld rows took %.3f ms, predicted %.3f ms (straggler %ld, lane %d)",
               (long long)w->rows, elapsed_ns / 1e6, (double)w->predicted_ns / 1e6, s->stragglers, lane->id);
    lane->slow_streak = slow ? lane->slow_streak + 1 : 0;
    if (lane->slow_streak >= 3 && s->config.policy == CV_POLICY_SPACE) lane->replace = true;
    if (elapsed_ns > 0) cv_latency_observe(&w->group->latency, w->rows, elapsed_ns);
    w->group->observed_ns = now;
    lane->busy = false;
    lane->busy_until_ns = now;
}

static int width_bin(int tenants)
{
    int bin = 0;
    for (int span = 1; span < tenants && bin < CV_WAVE_HISTOGRAM - 1; span *= 2) bin++;
    return bin;
}

static void count_into(cv_request_stats_t *st, cv_outcome_t outcome, bool slo_met, int wave_tenants,
                       double queued_ms, double computed_ms, double total_ms)
{
    st->outcomes[outcome]++;
    if (outcome != CV_OUTCOME_COMPLETED) return;
    st->slo_met += slo_met;
    st->fused += wave_tenants > 1;
    st->queued_ms_sum += queued_ms;
    st->computed_ms_sum += computed_ms;
    st->total_ms_sum += total_ms;
}

void cv_sched_count(cv_sched_req_t *req, cv_outcome_t outcome, bool slo_met, int wave_tenants,
                    double queued_ms, double computed_ms, double total_ms)
{
    count_into(&req->tenant->stats, outcome, slo_met, wave_tenants, queued_ms, computed_ms, total_ms);
    count_into(&req->tenant->group->stats, outcome, slo_met, wave_tenants, queued_ms, computed_ms, total_ms);
}

/* A wave in the counters of its group and of each of its tenants, at its
 * end rather than at its launch: the counters share lines with what the
 * submitting threads and the answers write, and the decision, which has a
 * wave to launch, should not wait for them (a line from another core
 * each). */
static void count_wave(const cv_sched_wave_t *w)
{
    int bin = width_bin(w->ntenants);
    w->group->stats.waves++;
    w->group->stats.wave_widths[bin]++;
    for (int i = 0; i < w->nreqs; i++) {
        cv_sched_tenant_t *t = w->reqs[i]->tenant;
        if (t->stats_stamp == w->stamp) continue; /* counted at its first request */
        t->stats_stamp = w->stamp;
        t->stats.waves++;
        t->stats.wave_widths[bin]++;
    }
}
