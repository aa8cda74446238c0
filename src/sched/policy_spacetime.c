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

#include <string.h>

/* How early the next wave is launched before the one in flight ends, as a
 * fraction of its own predicted time: enough for its tables and inputs to
 * go up while the device finishes the other. */
#define PIPELINE_LEAD 0.25

/* The earliest deadline at the head of a queue of the group. */
static uint64_t first_deadline(const cv_sched_group_t *g)
{
    uint64_t d = CV_SCHED_NO_DEADLINE;
    for (int i = cv_sched_next_queued(g, 0); i < g->ntenants; i = cv_sched_next_queued(g, i + 1))
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
 * of its queue, then the first after the round-robin cursor. No two
 * tenants have the same order: the choice is a strict total order, and
 * any correct heap over it takes the same requests in the same order. */
typedef struct pick {
    double load;
    uint64_t deadline;
    int order;     /* (tenant - rr) mod ntenants */
    int tenant;    /* its index in the group */
    int taken;     /* its rows in this wave (at most max_wave_rows) */
    bool served;   /* it has a request in this wave (one of no rows counts) */
} pick_t;

/* Written without branches: the heap's comparisons follow deadlines that
 * no branch predictor can guess. */
static inline bool pick_before(const pick_t *a, const pick_t *b)
{
    return (a->load < b->load) |
           ((a->load == b->load) & ((a->deadline < b->deadline) | ((a->deadline == b->deadline) & (a->order < b->order))));
}

/* Restores the heap below slot i (a min-heap by pick_before). */
static void sift_down(pick_t *heap, int n, int i)
{
    pick_t moving = heap[i];
    for (int child = 2 * i + 1; child < n; child = 2 * i + 1) {
        if (child + 1 < n) child += pick_before(&heap[child + 1], &heap[child]);
        if (!pick_before(&heap[child], &moving)) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = moving;
}

/* Makes heap[0..n) a heap. */
static void heapify(pick_t *heap, int n)
{
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(heap, n, i);
}

/* Adds an entry to a heap of *n. */
static void push(pick_t *heap, int *n, pick_t entry)
{
    int i = (*n)++;
    while (i > 0 && pick_before(&entry, &heap[(i - 1) / 2])) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = entry;
}

/* Takes the root out of a heap of *n. The hole goes down to a leaf along
 * the earlier child, the last entry fills it and climbs back (Floyd's
 * way): the last entry mostly belongs near the bottom, so this costs about
 * half the comparisons of sifting it down from the top. */
static void pop_root(pick_t *heap, int *n)
{
    int size = --*n, i = 0;
    if (size == 0) return;
    pick_t last = heap[size];
    for (int child = 1; child < size; child = 2 * i + 1) {
        if (child + 1 < size) child += pick_before(&heap[child + 1], &heap[child]);
        heap[i] = heap[child];
        i = child;
    }
    while (i > 0 && pick_before(&last, &heap[(i - 1) / 2])) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = last;
}

/* Puts keys[a] and keys[b] in order, without a branch. */
static inline void order_pair(uint64_t *keys, int a, int b)
{
    uint64_t x = keys[a], y = keys[b];
    keys[a] = x < y ? x : y;
    keys[b] = x < y ? y : x;
}

/* Sorts v[0..8) by the optimal network of 19 exchanges in 6 layers
 * (Knuth, TAOCP 5.3.4), the pairs of a layer independent of each other;
 * spelled out, so that the eight keys stay in registers. */
static inline void sort8(uint64_t *v)
{
    order_pair(v, 0, 2);
    order_pair(v, 1, 3);
    order_pair(v, 4, 6);
    order_pair(v, 5, 7);

    order_pair(v, 0, 4);
    order_pair(v, 1, 5);
    order_pair(v, 2, 6);
    order_pair(v, 3, 7);

    order_pair(v, 0, 1);
    order_pair(v, 2, 3);
    order_pair(v, 4, 5);
    order_pair(v, 6, 7);

    order_pair(v, 2, 4);
    order_pair(v, 3, 5);

    order_pair(v, 1, 4);
    order_pair(v, 3, 6);

    order_pair(v, 1, 2);
    order_pair(v, 3, 4);
    order_pair(v, 5, 6);
}

/* Merges the sorted runs from[lo, mid) and from[mid, hi) into to[lo, hi).
 * Runs of one length are merged from both ends at once (the smallest from
 * the front, the largest from the back: two chains of dependent steps that
 * overlap; in w steps neither end can run past its runs); others one end
 * at a time. Neither way branches on the keys. */
static void merge_runs(const uint64_t *from, uint64_t *to, int lo, int mid, int hi)
{
    if (mid - lo == hi - mid) {
        const uint64_t *a = from + lo, *b = from + mid, *a_last = from + mid - 1, *b_last = from + hi - 1;
        uint64_t *front = to + lo, *back = to + hi - 1;
        for (int k = lo; k < mid; k++) {
            bool right = *b < *a;
            *front++ = right ? *b : *a;
            a += !right;
            b += right;
            bool left = *a_last > *b_last;
            *back-- = left ? *a_last : *b_last;
            a_last -= left;
            b_last -= !left;
        }
        return;
    }
    int i = lo, j = mid, k = lo;
    while (i < mid && j < hi) {
        bool right = from[j] < from[i];
        to[k++] = right ? from[j] : from[i];
        i += !right;
        j += right;
    }
    while (i < mid) to[k++] = from[i++];
    while (j < hi) to[k++] = from[j++];
}

/* Sorts keys[0..n) ascending (spare: room for n more): blocks of 8 by
 * sort8, the rest by insertion, then the runs merged pairwise. A wave's decision sorts its tenants so, and their
 * deadlines come in no order a branch predictor could guess. */
static void sort_keys(uint64_t *keys, uint64_t *spare, int n)
{
    int lo = 0;
    for (; lo + 8 <= n; lo += 8) {
        sort8(keys + lo);
    }
    for (int i = lo + 1; i < n; i++) {
        uint64_t key = keys[i];
        int j = i;
        for (; j > lo && keys[j - 1] > key; j--) keys[j] = keys[j - 1];
        keys[j] = key;
    }
    uint64_t *from = keys, *to = spare;
    for (int width = 8; width < n; width *= 2) {
        for (lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            merge_runs(from, to, lo, mid, hi);
        }
        uint64_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != keys) memcpy(keys, from, sizeof(*keys) * (size_t)n);
}

/* Asks for a line that is about to be written, in the state a write
 * needs, so that the decision's misses (on lines the submitting threads
 * wrote) overlap instead of coming one after another, and a write does
 * not cost a second trip. (x86's PREFETCHW: a no-op on the few Intel
 * cores before Broadwell that lack it.) */
static inline void prefetch_write(const void *p)
{
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* A key of fill_fair's sorted run holds a deadline less the earliest in
 * its upper 32 bits, the tenant's order in the lower: this in the upper
 * bits stands for no deadline, after every real one. */
#define RUN_NO_DEADLINE UINT32_MAX

/* Fills the lane's wave one request at a time, each to the tenant that
 * comes first by pick_before; a tenant whose head no longer fits leaves
 * for good (the wave only grows).
 *
 * Before anything is taken every tenant's load is 0: the choice among
 * them is by deadline, then order, and they are sorted so once, as one
 * 64-bit key each (the deadline less the earliest, above the order)
 * where the deadlines span less than 2^32 ns (4.3 s). A tenant served
 * with more still queued goes into a heap with its new load, which is
 * where the rest of its turns come from. Each request goes to the first
 * of the run's next and the heap's root: the first of all that are left,
 * as one heap over every tenant would choose, at a sort's cost (a wave of
 * one request per tenant needs no heap at all). Where the deadlines span
 * more, every tenant starts in the heap. */
static void fill_fair(cv_sched_t *s, cv_sched_lane_t *lane, cv_sched_group_t *g, uint64_t now)
{
    int n = g->ntenants, count = g->queued_tenants;
    if (count == 0) return;
    int index[count];
    uint64_t keys[count], spare[count];
    pick_t heap[count];
    /* What the decision reads and writes of every tenant and of its head
     * (a line each: the fields sched.h puts first, in blocks that start a
     * line), asked for at once before any is read. */
    int k = 0;
    for (int word = 0; word * 64 < n; word++)
        for (uint64_t bits = g->has_queued[word]; bits; bits &= bits - 1) {
            int i = word * 64 + __builtin_ctzll(bits);
            prefetch_write(g->tenants[i]);
            index[k++] = i;
        }
    for (k = 0; k < count; k++) prefetch_write(g->tenants[index[k]]->head);
    uint64_t base = CV_SCHED_NO_DEADLINE, last = 0;
    for (k = 0; k < count; k++) {
        const cv_sched_req_t *head = g->tenants[index[k]]->head;
        /* Taking the head writes the next (its prev), which becomes the
         * head that the walk after the waves reads. */
        if (head->next) prefetch_write(head->next);
        uint64_t d = head->deadline_ns;
        keys[k] = d;
        if (d < base) base = d;
        if (d != CV_SCHED_NO_DEADLINE && d > last) last = d;
    }
    int nrun = 0, size = 0;
    if (base == CV_SCHED_NO_DEADLINE || last - base < RUN_NO_DEADLINE) {
        for (k = 0; k < count; k++) {
            int order = index[k] - g->rr;
            if (order < 0) order += n;
            uint64_t delta = keys[k] == CV_SCHED_NO_DEADLINE ? RUN_NO_DEADLINE : keys[k] - base;
            keys[k] = delta << 32 | (uint32_t)order;
        }
        sort_keys(keys, spare, count);
        nrun = count;
    } else {
        for (k = 0; k < count; k++) {
            int order = index[k] - g->rr;
            if (order < 0) order += n;
            heap[size++] = (pick_t){.load = 0, .deadline = keys[k], .order = order, .tenant = index[k]};
        }
        heapify(heap, size);
    }
    /* Tenants served from the run with more queued wait in heap[0..size),
     * not yet a heap, their deadlines not yet read. While each waits with
     * a load above 0 the run's next (load 0) comes before all of them;
     * only when one must be weighed by its deadline do they become a heap.
     * A wave that fills from the run never pays for one, nor reads the
     * heads that replace the ones it took (a miss each). */
    bool heaped = nrun == 0, all_loaded = true;
    int next = 0;
    while (next < nrun || size > 0) {
        /* No request queued has fewer rows than g->rows_floor: where the
         * wave cannot take that many more (or holds the one request of a
         * single group), the rest of the choice would only pass every
         * tenant over. */
        if (g->queued == 0 || !cv_sched_fits(s, lane, g, g->rows_floor)) break;
        bool from_run = next < nrun;
        pick_t first = {0};
        if (from_run) {
            uint64_t delta = keys[next] >> 32;
            first.deadline = delta == RUN_NO_DEADLINE ? CV_SCHED_NO_DEADLINE : base + delta;
            first.order = (int)(keys[next] & UINT32_MAX);
            first.tenant = first.order + g->rr < n ? first.order + g->rr : first.order + g->rr - n;
        }
        if (size > 0 && !heaped && (!from_run || !all_loaded)) {
            for (k = 0; k < size; k++) heap[k].deadline = g->tenants[heap[k].tenant]->head->deadline_ns;
            heapify(heap, size);
            heaped = true;
        }
        if (from_run && size > 0 && heaped) from_run = pick_before(&first, &heap[0]);
        if (!from_run) first = heap[0];
        cv_sched_tenant_t *t = g->tenants[first.tenant];
        if (!cv_sched_fits(s, lane, g, t->head->rows)) {
            if (from_run) next++;
            else pop_root(heap, &size);
            continue;
        }
        first.taken += (int)t->head->rows;
        cv_sched_take(s, lane, t->head, now, !first.served);
        first.served = true;
        if (from_run) next++;
        if (t->head) {
            first.load = (double)first.taken / t->share;
            if (!from_run) {
                first.deadline = t->head->deadline_ns;
                heap[0] = first;
                sift_down(heap, size, 0);
            } else if (heaped) {
                first.deadline = t->head->deadline_ns;
                push(heap, &size, first);
            } else {
                heap[size++] = first;
                all_loaded &= first.load > 0;
            }
        } else if (!from_run) {
            pop_root(heap, &size);
        }
    }
    /* The next wave starts its ties after the first tenant served here. */
    if (lane->wave.nreqs > 0) g->rr = (lane->wave.reqs[0]->tenant->index + 1) % n;
}

static bool spacetime_form(cv_sched_t *s, cv_sched_lane_t *lane, uint64_t now, uint64_t *wake)
{
    cv_sched_group_t *g = lane->group;
    int64_t rows = g->queued_rows;
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
    /* the shares of the tenants queued, this one among them */
    double shares = (t->queued ? 0 : t->share) + g->queued_share;
    int64_t max_rows = s->config.max_wave_rows;
    int64_t per_wave = (int64_t)((double)max_rows * t->share / shares);
    if (per_wave < rows) per_wave = rows;
    int64_t ahead = rows + cv_sched_rows_ahead(t, priority);
    int64_t waves = (ahead + per_wave - 1) / per_wave;
    int64_t width = g->queued_rows + rows;
    if (width > max_rows) width = max_rows;
    return start + (uint64_t)((double)waves * cv_sched_predict(g, width));
}

const cv_policy_i cv_policy_spacetime = {
    /* .name     = */ "spacetime",
    /* .form     = */ spacetime_form,
    /* .estimate = */ spacetime_estimate,
};
