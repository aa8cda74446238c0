/*
 * sched.h: the scheduler: per-tenant queues, deadlines, admission, fair
 * shares, the latency model, lanes, and the four policies that form waves
 * (DESIGN.md "One plan, four policies", "Deadlines and the latency model",
 * "Isolation").
 *
 * The scheduler is a state machine with no threads, no clock and no device
 * of its own: every call takes `now` (nanoseconds on whatever clock the
 * caller keeps) and the caller serialises calls (the runtime holds its lock
 * around them). That is what lets the tests drive it with a fake clock and
 * simulated wave times, and the runtime drive it with the monotonic clock,
 * a scheduler thread and real lanes, through the same code.
 *
 * Words:
 *   group   the scheduler's view of a family: its tenants, its latency model
 *           (wave time by rows), its counters, and its lanes under spacetime
 *   lane    where one wave at a time runs: on a device, a stream and an
 *           executor (the runtime attaches those through `impl`). Lanes per
 *           policy: exclusive and time one for the runtime, space one per
 *           tenant, spacetime `waves_in_flight` per group
 *   wave    requests of one group chosen for one lane; the runtime runs it
 *           and reports its time (cv_sched_wave_done)
 *
 * A request's life: submit (admitted, or rejected at once: queue full or
 * infeasible) -> queued -> either chosen for a wave -> done, or answered in
 * the queue (expired, cancelled, unloaded, shutdown). Every request leaves
 * the scheduler exactly once, through cv_sched_poll's `answered` list, a
 * wave, or the list cv_sched_remove_tenant / cv_sched_flush returns.
 */
#ifndef CV_SCHED_H
#define CV_SCHED_H

#include "core/core.h"

#include <stdint.h>

#define CV_SCHED_NO_DEADLINE UINT64_MAX

typedef struct cv_sched cv_sched_t;
typedef struct cv_sched_group cv_sched_group_t;
typedef struct cv_sched_tenant cv_sched_tenant_t;
typedef struct cv_sched_lane cv_sched_lane_t;

typedef enum cv_sched_state {
    CV_SCHED_NEW = 0,  /* not submitted (or answered and not resubmitted) */
    CV_SCHED_QUEUED,
    CV_SCHED_IN_WAVE,
    CV_SCHED_ANSWERED, /* answered by the scheduler, or its wave done */
} cv_sched_state_t;

/* The scheduler's part of a request; the runtime's cv_request embeds it
 * first. What a wave's decision reads and writes of a request comes first,
 * within one line where the request starts one (the runtime allocates
 * them so): the submitting thread wrote it last, so each line it spans is
 * a miss from another core's cache, or from memory once the requests'
 * inputs have passed through the caches, and fewer lines are fewer misses
 * (policy_spacetime.c asks for them all before it reads any). */
typedef struct cv_sched_req {
    cv_sched_tenant_t *tenant;
    struct cv_sched_req *prev, *next; /* the tenant's queue, or an answered list */
    int64_t rows;
    uint64_t deadline_ns;  /* CV_SCHED_NO_DEADLINE when none */
    uint64_t waved_ns;     /* when chosen for a wave */
    int priority;
    cv_sched_state_t state;
    bool probe;            /* admitted into an idle family without the latency
                              model's say: expires only once its deadline has
                              passed (see cv_sched_submit) */
    uint64_t arrival_ns;
    uint64_t seq;          /* submission order */
    cv_outcome_t outcome;  /* set when answered in the queue or rejected */
} cv_sched_req_t;

/* A list of requests linked through next (answered requests). */
typedef struct cv_sched_list {
    cv_sched_req_t *head, *tail;
    int count;
} cv_sched_list_t;

void cv_sched_list_push(cv_sched_list_t *list, cv_sched_req_t *req);
cv_sched_req_t *cv_sched_list_pop(cv_sched_list_t *list);

/* A wave: requests of one group for one lane, in slice order. */
typedef struct cv_sched_wave {
    cv_sched_group_t *group;
    cv_sched_req_t **reqs;
    int nreqs;
    int ntenants;          /* distinct tenants (wave width, for counters) */
    int64_t rows;
    uint64_t formed_ns;
    uint64_t predicted_ns; /* the latency model's time for it (0: unknown) */
    uint64_t stamp;        /* this wave's number, to count its tenants once */
} cv_sched_wave_t;

struct cv_sched_lane {
    int id;
    cv_sched_group_t *group;   /* spacetime: the group it serves */
    cv_sched_tenant_t *tenant; /* space: the tenant it serves */
    bool busy;
    uint64_t busy_until_ns;    /* predicted end of its wave */
    cv_sched_wave_t wave;      /* while busy */
    int slow_streak;           /* consecutive stragglers */
    bool replace;              /* space: persistently slow, to be replaced; no
                                  waves until the runtime clears it */
    void *impl;                /* the runtime's: executor, stream, worker */
    cv_sched_lane_t *next;
};

/* The latency model: a wave's time by its rows, profiled at load and
 * refined online (exponentially weighted). Between measured widths it
 * interpolates; past the widest measured it extrapolates by the time per
 * row of the two widest. 0 means nothing is known yet. */
typedef struct cv_latency {
    int max_rows;
    double *ns;      /* [max_rows + 1]; 0 = not measured */
    /* What predict answers for 0..max_rows rows, rebuilt from `ns` by each
     * observation: the scheduler asks for every queued request on every
     * pass, a wave's end comes once a wave. */
    double *predicted;
    /* [max_rows + 1]: the longest predicted time of any width up to r (the
     * model need not grow with the width: measurements are noisy), rebuilt
     * with `predicted`: what any request of at most r rows may need. */
    double *ceiling;
    double per_row;  /* past max_rows: the time per row beyond the widest */
    uint64_t version; /* counts observations: predictions may have changed */
} cv_latency_t;

cv_status cv_latency_init(cv_latency_t *m, int max_rows);
void cv_latency_free(cv_latency_t *m);
void cv_latency_observe(cv_latency_t *m, int64_t rows, double ns);
double cv_latency_predict(const cv_latency_t *m, int64_t rows);
/* The most cv_latency_predict answers for any width from 1 to `rows`. */
double cv_latency_ceiling(const cv_latency_t *m, int64_t rows);

typedef struct cv_sched_config {
    cv_policy_t policy;
    int max_wave_rows;
    int waves_in_flight;      /* spacetime lanes per group */
    double straggler_factor;
} cv_sched_config_t;

struct cv_sched_group {
    cv_sched_t *sched;
    cv_sched_tenant_t **tenants;
    int ntenants, tenants_cap;
    /* Kept by every change of a queue and of a wave, so that a decision
     * costs what is queued, not what the family has loaded (a family may
     * hold a thousand tenants, most of them idle):
     * has_queued  bit i (word i / 64): tenants[i] has requests queued; a
     *             pass over these (cv_sched_next_queued) visits them in
     *             the order a pass over every tenant would, so that sums
     *             and ties come out the same
     * queued_tenants  the bits set
     * queued_share    the sum of those tenants' shares, added and taken
     *                 away as they come and go (within rounding of the sum
     *                 in tenant order; exactly 0 when none is queued)
     * queued, queued_rows, in_flight  the sums of its tenants' */
    uint64_t *has_queued;
    int has_queued_words;      /* allocated */
    int queued_tenants;
    double queued_share;
    int queued;
    int64_t queued_rows;
    int in_flight;
    /* Bounds on what is queued: no queued request has an earlier deadline
     * (CV_SCHED_NO_DEADLINE: none has one), fewer rows or more rows.
     * Submissions move them out, a group with nothing queued resets them,
     * and the pass that walks every queue makes the deadline exact again.
     * With them a pass knows, without looking at a queue, when nothing of
     * the group can expire now, and a wave's choice when nothing more can
     * go in. */
    uint64_t deadline_floor;
    int64_t rows_floor, rows_ceiling; /* INT64_MAX and 0 when nothing is queued */
    cv_latency_t latency;
    cv_request_stats_t stats;
    cv_sched_lane_t **lanes;   /* spacetime */
    int nlanes;
    int rr;                    /* round-robin cursor among tenants */
    uint64_t observed_ns;      /* when its last wave finished (0: none yet) */
    uint64_t latency_seen;     /* latency.version when expiry_at was last computed */
    bool single;               /* its waves hold one request: the plan
                                  cannot stack rows of several */
    void *impl;                /* the runtime's family */
    cv_sched_group_t *next;
};

struct cv_sched_tenant {
    /* First, in one cache line (the tenant starts one: cv_calloc_lines),
     * what a wave's decision reads and writes of each tenant it serves:
     * the submitting threads wrote the queue's fields last, and between
     * waves the requests' inputs pass through the caches, so the decision
     * finds this line in another core's cache or in memory; a second line
     * a tenant would be a second miss each. The queue is ordered by
     * priority (higher first), then deadline, then submission order. */
    cv_sched_group_t *group;
    cv_sched_req_t *head, *tail;
    int64_t queued_rows;
    double share;
    int64_t max_rows;
    int queued;
    int index;                 /* its place in group->tenants */
    int in_flight;             /* requests of it in waves now */
    int tail_priority;         /* tail->priority while queued: whether a request
                                  is in the queue's last run, without the
                                  tail's line */
    /* The rest: at submission, at a wave's end, at load. */
    uint64_t stats_stamp;      /* the last wave in its stats (count_wave, at the wave's end) */
    int queue_bound;
    cv_sched_lane_t *lane;     /* space */
    cv_request_stats_t stats;
    void *impl;                /* the runtime's tenant */
};

struct cv_sched {
    cv_sched_config_t config;
    const struct cv_policy_i *policy;
    cv_sched_group_t *groups;
    cv_sched_lane_t *lanes;    /* every lane, newest first */
    cv_sched_lane_t *global_lane; /* exclusive, time */
    int nlanes;
    uint64_t seq;
    uint64_t waves_formed;     /* numbers waves as they start forming */
    /* No queued request can expire before this (UINT64_MAX: none): the
     * earliest deadline less its predicted wave, from the last pass that
     * looked at every queue, lowered by each submission since. A pass
     * before it (and before any latency model changed) skips the walk
     * over every tenant's queue: between waves, a submit's pass costs
     * O(families), not O(tenants). */
    uint64_t expiry_at;
    int queued;                /* requests queued, all tenants */
    int in_flight;             /* requests in waves */
    int tenant_rr;             /* time: round robin among equal deadlines */
    long stragglers;
};

/* ---- the scheduler ------------------------------------------------------ */

cv_status cv_sched_create(const cv_sched_config_t *config, cv_sched_t **out, cv_err_t *err);
/* Every tenant must have been removed, no lane busy. */
void cv_sched_destroy(cv_sched_t *s);

/* A group (family) with no tenants yet; under spacetime it gets its lanes.
 * Its latency model spans 1..max_wave_rows rows. */
cv_status cv_sched_group_add(cv_sched_t *s, void *impl, cv_sched_group_t **out, cv_err_t *err);
/* A group without tenants and busy lanes goes. */
void cv_sched_group_remove(cv_sched_t *s, cv_sched_group_t *g);

/* A tenant of group g (under space it gets its lane). */
cv_status cv_sched_tenant_add(cv_sched_t *s, cv_sched_group_t *g, const cv_tenant_config_t *config,
                              int64_t max_rows, void *impl, cv_sched_tenant_t **out, cv_err_t *err);
/* Answers the tenant's queued requests (outcome `why`, to `answered`). */
void cv_sched_tenant_drain(cv_sched_t *s, cv_sched_tenant_t *t, cv_outcome_t why, cv_sched_list_t *answered);
/* Takes the tenant out: its queued requests go to `answered` with outcome
 * UNLOADED. Its waves in flight must have finished (t->in_flight == 0). */
void cv_sched_tenant_remove(cv_sched_t *s, cv_sched_tenant_t *t, cv_sched_list_t *answered);

/* Admits a request (req->tenant, rows, priority, deadline set; arrival is
 * now): OK, queued; or UNAVAILABLE with req->outcome QUEUE_FULL or
 * INFEASIBLE and a message, and it is the caller's again. */
cv_status cv_sched_submit(cv_sched_t *s, cv_sched_req_t *req, uint64_t now, cv_err_t *err);
/* Takes a queued request out (CANCELLED, to `answered`); false otherwise. */
bool cv_sched_cancel(cv_sched_t *s, cv_sched_req_t *req, cv_sched_list_t *answered);

/* One round at time `now`: requests that can no longer meet their deadline
 * leave the queues (EXPIRED, to `answered`); then each free lane gets a
 * wave where the policy forms one (the lanes are appended to `launch`, at
 * most `max_launch`; each busy from now with lane->wave set). *wake is when
 * to poll again with nothing else happening (UINT64_MAX: not before an
 * event: a submission, a wave done). */
void cv_sched_poll(cv_sched_t *s, uint64_t now, cv_sched_list_t *answered, cv_sched_lane_t **launch,
                   int max_launch, int *nlaunch, uint64_t *wake);

/* The lane's wave finished after `elapsed_ns` (launch to done): its requests
 * leave the scheduler (the caller answers them), the latency model learns,
 * stragglers are counted. The lane is free again. */
void cv_sched_wave_done(cv_sched_t *s, cv_sched_lane_t *lane, uint64_t now, double elapsed_ns);

/* Answers every queued request (outcome `why`, to `answered`): shutdown. */
void cv_sched_flush(cv_sched_t *s, cv_outcome_t why, cv_sched_list_t *answered);

/* Counts an answered request in its tenant's and group's counters: its
 * outcome; for a completed one also whether it met its deadline, its times
 * and whether its wave held other tenants (`wave_tenants` > 1: fused). */
void cv_sched_count(cv_sched_req_t *req, cv_outcome_t outcome, bool slo_met, int wave_tenants,
                    double queued_ms, double computed_ms, double total_ms);

/* ---- policies (src/sched/policy_*.c) ------------------------------------
 * A policy forms waves for free lanes and estimates, for admission, when a
 * new request would finish. Both read the scheduler's state and change
 * nothing but the wave they fill (cv_sched_take moves requests in). */
typedef struct cv_policy_i {
    const char *name;
    /* Fills lane->wave (through cv_sched_take) and returns true to launch
     * it now; or returns false, lowering *wake to when it should be asked
     * again (leave it for "on the next event"). */
    bool (*form)(cv_sched_t *s, cv_sched_lane_t *lane, uint64_t now, uint64_t *wake);
    /* When a request of t with `rows` rows, this priority and deadline,
     * submitted now, would finish (estimated; now when nothing is known). */
    uint64_t (*estimate)(cv_sched_t *s, cv_sched_tenant_t *t, int64_t rows, int priority,
                         uint64_t deadline, uint64_t now);
} cv_policy_i;

extern const cv_policy_i cv_policy_spacetime;
extern const cv_policy_i cv_policy_exclusive;
extern const cv_policy_i cv_policy_time;
extern const cv_policy_i cv_policy_space;

/* ---- helpers the policies share ----------------------------------------- */

/* The index of the first tenant of g at i or after with requests queued,
 * or g->ntenants when none. The tenants with queued requests, in the
 * order of g->tenants:
 *   for (int i = cv_sched_next_queued(g, 0); i < g->ntenants; i = cv_sched_next_queued(g, i + 1))
 * The loop may empty the queue of the tenant at i (expire, take): the
 * next call reads the bits afresh. */
static inline int cv_sched_next_queued(const cv_sched_group_t *g, int i)
{
    if (i >= g->ntenants) return g->ntenants;
    int word = i >> 6, words = (g->ntenants + 63) >> 6;
    uint64_t bits = g->has_queued[word] & (~0ull << (i & 63));
    while (!bits) {
        if (++word >= words) return g->ntenants;
        bits = g->has_queued[word];
    }
    return word * 64 + __builtin_ctzll(bits);
}

/* Whether the lane's wave can take a request of `rows` rows of group g:
 * it fits in max_wave_rows and g does not hold its waves to one request.
 * (Inline, the group at hand: a wave's decision asks once per request.) */
static inline bool cv_sched_fits(const cv_sched_t *s, const cv_sched_lane_t *lane, const cv_sched_group_t *g,
                                 int64_t rows)
{
    if (lane->wave.nreqs > 0 && g->single) return false;
    return lane->wave.rows + rows <= s->config.max_wave_rows;
}
/* Moves a queued request into the lane's wave (in slice order).
 * `first_of_tenant`: the wave holds no other request of its tenant yet
 * (the caller knows, and a mark on the tenant would be a line more for
 * the decision to write). */
void cv_sched_take(cv_sched_t *s, cv_sched_lane_t *lane, cv_sched_req_t *req, uint64_t now, bool first_of_tenant);
/* The latency model's time for a wave of `rows` rows of group g (ns). */
double cv_sched_predict(const cv_sched_group_t *g, int64_t rows);
/* When the lane could start a new wave: now when free, else its predicted end. */
uint64_t cv_sched_lane_free_at(const cv_sched_lane_t *lane, uint64_t now);
/* Batches t's queued requests, in queue order, into the lane's wave while
 * they fit in max_wave_rows (dynamic batching of one tenant). */
void cv_sched_take_batch(cv_sched_t *s, cv_sched_lane_t *lane, cv_sched_tenant_t *t, uint64_t now);
/* Time for t's queued rows ahead of a request of this priority, plus
 * `rows`, served in waves of up to max_wave_rows rows of t alone. */
double cv_sched_batched_ns(const cv_sched_t *s, const cv_sched_tenant_t *t, int64_t rows, int priority);
/* Rows of t's queued requests of at least `priority` (those a new request
 * of that priority waits behind). */
int64_t cv_sched_rows_ahead(const cv_sched_tenant_t *t, int priority);

#endif /* CV_SCHED_H */
