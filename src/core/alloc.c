/*
 * alloc.c: the counted allocator. Each block carries a small header with its
 * size and the account it was charged to, so that freeing credits the right
 * account even from another thread.
 */
#include "core/core.h"

#include <stdatomic.h>
#include <string.h>

typedef struct block_header {
    size_t bytes;
    cv_account_t *account;
} block_header_t;

/* Keep user pointers 16-byte aligned, as malloc's are. */
#define HEADER_BYTES 16
_Static_assert(sizeof(block_header_t) <= HEADER_BYTES, "header fits its slot");
/* A block of cv_calloc_lines starts a cache line: its user pointer is
 * CV_CACHE_LINE past what the C library gave, the header just before it,
 * and its `bytes` carries this bit so that cv_free knows where the block
 * began. */
#define LINES_BIT ((size_t)1 << (sizeof(size_t) * 8 - 1))
_Static_assert(HEADER_BYTES <= CV_CACHE_LINE, "a header fits before a line-aligned block");

static size_t block_bytes(const block_header_t *h) { return h->bytes & ~LINES_BIT; }

static cv_account_t default_account = {.name = "default"};
static _Thread_local cv_account_t *current_account;
static atomic_size_t live_total;
/* Fault injection, for host and for device allocations: a countdown
 * (> 0: allocations left before failing; it stays at 1 once reached, so
 * every later one fails too) and the failures made since it was set. */
typedef struct fault {
    atomic_long countdown;
    atomic_long failures;
} fault_t;
static fault_t host_fault, device_fault;

cv_account_t *cv_account_default(void) { return &default_account; }

static cv_account_t *charged_account(void)
{
    return current_account ? current_account : &default_account;
}

cv_account_t *cv_account_use(cv_account_t *account)
{
    cv_account_t *previous = current_account;
    current_account = account;
    return previous;
}

void cv_account_charge_device(long long delta)
{
    cv_account_t *account = charged_account();
    size_t was = __atomic_fetch_add(&account->device_bytes, (size_t)delta, __ATOMIC_RELAXED);
    CV_ASSERT(delta >= 0 || was >= (size_t)-delta);
}

size_t cv_account_live_bytes(const cv_account_t *a) { return __atomic_load_n(&a->live_bytes, __ATOMIC_RELAXED); }
size_t cv_account_device_bytes(const cv_account_t *a) { return __atomic_load_n(&a->device_bytes, __ATOMIC_RELAXED); }

size_t cv_alloc_live_bytes(void) { return atomic_load(&live_total); }

static void fault_set(fault_t *f, long n)
{
    atomic_store(&f->countdown, n);
    atomic_store(&f->failures, 0);
}

static bool fault_hit(fault_t *f)
{
    long left = atomic_load(&f->countdown);
    if (left <= 0) return false;
    if (left == 1) {
        atomic_fetch_add(&f->failures, 1);
        return true;
    }
    atomic_fetch_sub(&f->countdown, 1);
    return false;
}

void cv_alloc_fail_after(long n) { fault_set(&host_fault, n); }
long cv_alloc_failures(void) { return atomic_load(&host_fault.failures); }
void cv_alloc_device_fail_after(long n) { fault_set(&device_fault, n); }
long cv_alloc_device_failures(void) { return atomic_load(&device_fault.failures); }
bool cv_alloc_device_injected_failure(void) { return fault_hit(&device_fault); }

static void *finish(block_header_t *h, size_t bytes, cv_account_t *account)
{
    h->bytes = bytes;
    h->account = account;
    /* Several threads share an account (the default one, a tenant's while
     * its waves run on lanes): relaxed atomics, counts for reporting and
     * limits. */
    size_t live = __atomic_add_fetch(&account->live_bytes, bytes, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&account->peak_bytes, __ATOMIC_RELAXED);
    while (live > peak &&
           !__atomic_compare_exchange_n(&account->peak_bytes, &peak, live, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    atomic_fetch_add(&live_total, bytes);
    return (char *)h + HEADER_BYTES;
}

/* Whether this thread's account may take `bytes` more (fault injection
 * and the account's limit). */
static bool admit(const cv_account_t *account, size_t bytes)
{
    if (fault_hit(&host_fault)) return false;
    if (account->limit_bytes &&
        __atomic_load_n(&account->live_bytes, __ATOMIC_RELAXED) + bytes > account->limit_bytes)
        return false;
    return bytes <= (SIZE_MAX >> 1) - CV_CACHE_LINE;
}

void *cv_malloc(size_t bytes)
{
    cv_account_t *account = charged_account();
    if (!admit(account, bytes)) return NULL;
    block_header_t *h = malloc(HEADER_BYTES + bytes);
    if (!h) return NULL;
    return finish(h, bytes, account);
}

void *cv_calloc_lines(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) return NULL;
    size_t bytes = count * size;
    cv_account_t *account = charged_account();
    if (!admit(account, bytes)) return NULL;
    char *base = aligned_alloc(CV_CACHE_LINE, CV_CACHE_LINE + (bytes + CV_CACHE_LINE - 1) / CV_CACHE_LINE * CV_CACHE_LINE);
    if (!base) return NULL;
    block_header_t *h = (block_header_t *)(base + CV_CACHE_LINE - HEADER_BYTES);
    char *user = finish(h, bytes, account);
    h->bytes |= LINES_BIT;
    memset(user, 0, bytes);
    return user;
}

void *cv_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = cv_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void cv_free(void *ptr)
{
    if (!ptr) return;
    block_header_t *h = (block_header_t *)((char *)ptr - HEADER_BYTES);
    size_t bytes = block_bytes(h);
    __atomic_sub_fetch(&h->account->live_bytes, bytes, __ATOMIC_RELAXED);
    atomic_fetch_sub(&live_total, bytes);
    free(h->bytes & LINES_BIT ? (void *)((char *)ptr - CV_CACHE_LINE) : (void *)h);
}

void cv_account_transfer(void *ptr, cv_account_t *to)
{
    if (!ptr) return;
    block_header_t *h = (block_header_t *)((char *)ptr - HEADER_BYTES);
    if (!to) to = &default_account;
    if (h->account == to) return;
    size_t bytes = block_bytes(h);
    __atomic_sub_fetch(&h->account->live_bytes, bytes, __ATOMIC_RELAXED);
    size_t live = __atomic_add_fetch(&to->live_bytes, bytes, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&to->peak_bytes, __ATOMIC_RELAXED);
    while (live > peak &&
           !__atomic_compare_exchange_n(&to->peak_bytes, &peak, live, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    h->account = to;
}

void *cv_realloc(void *ptr, size_t bytes)
{
    if (!ptr) return cv_malloc(bytes);
    block_header_t *old = (block_header_t *)((char *)ptr - HEADER_BYTES);
    CV_ASSERT(!(old->bytes & LINES_BIT)); /* cv_calloc_lines' blocks keep their size */
    void *fresh = cv_malloc(bytes);
    if (!fresh) return NULL;
    memcpy(fresh, ptr, CV_MIN(old->bytes, bytes));
    cv_free(ptr);
    return fresh;
}

char *cv_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = cv_malloc(n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

cv_status cv_grow(void **arr, size_t elem, int count, int *cap)
{
    if (count < *cap) return CV_STATUS_OK;
    int fresh_cap = *cap ? *cap * 2 : 8;
    void *fresh = cv_realloc(*arr, (size_t)fresh_cap * elem);
    if (!fresh) return CV_STATUS_OUT_OF_MEMORY;
    *arr = fresh;
    *cap = fresh_cap;
    return CV_STATUS_OK;
}
