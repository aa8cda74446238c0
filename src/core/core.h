/*
 * core.h: what every module of Caravel uses: asserts for bugs, error
 * messages for users, and the counted allocator.
 *
 * Bugs trip CV_ASSERT (always on, never compiled out). Resource failures and
 * bad input return a cv_status with a one-line message set by cv_errorf.
 */
#ifndef CV_CORE_H
#define CV_CORE_H

#include "caravel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define CV_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) cv_assert_fail(#cond, __FILE__, __LINE__);                          \
    } while (0)

#ifdef __cplusplus
[[noreturn]] void cv_assert_fail(const char *expr, const char *file, int line);
#else
_Noreturn void cv_assert_fail(const char *expr, const char *file, int line);
#endif

/* Sets err->msg (when err is not NULL) and returns status, so that failure
 * paths read `return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "...", ...);`. */
cv_status cv_errorf(cv_err_t *err, cv_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "<prefix>: <old message>". */
void cv_err_prefix(cv_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Marks the few small functions of src/backend's geometry headers that both
 * the CPU kernels and CUDA kernels call (nvcc compiles them for the device
 * too; a C compiler ignores the mark). */
#ifdef __CUDACC__
#define CV_HOST_DEVICE __host__ __device__
#else
#define CV_HOST_DEVICE
#endif

#define CV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CV_MAX(a, b) ((a) > (b) ? (a) : (b))
#define CV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- counted allocation ------------------------------------------------
 * Every host allocation of the library goes through these. Each block is
 * charged to the current account (per thread; the default account when none
 * is set), so that a tenant's memory can be reported and bounded. A test can
 * make the Nth allocation from now fail, to exercise every failure path. */

/* The counts are updated with atomic builtins (several threads may share
 * an account); read them with cv_account_live_bytes and friends. */
typedef struct cv_account {
    const char *name;
    size_t live_bytes;
    size_t peak_bytes;
    size_t limit_bytes; /* 0 = no limit; an allocation past it fails */
    size_t device_bytes; /* device memory backends charged to it */
} cv_account_t;

void *cv_malloc(size_t bytes);
void *cv_calloc(size_t count, size_t size);
void *cv_realloc(void *ptr, size_t bytes);
void cv_free(void *ptr);
/* As cv_calloc, the block starting a cache line: for state that other
 * threads write and a hot path reads cold, whose fields are laid out to
 * fill as few lines as they can. Freed by cv_free; never reallocated. */
void *cv_calloc_lines(size_t count, size_t size);
#define CV_CACHE_LINE 64
char *cv_strdup(const char *s);

/* Makes `account` the one charged by this thread's allocations; returns the
 * previous one, to be restored. NULL selects the default account. */
cv_account_t *cv_account_use(cv_account_t *account);
size_t cv_account_live_bytes(const cv_account_t *account);
size_t cv_account_device_bytes(const cv_account_t *account);
/* Charges (delta > 0) or credits device memory to this thread's account. */
void cv_account_charge_device(long long delta);
/* Moves a block of cv_malloc's from the account it was charged to onto
 * `to`, which its cv_free will then credit: for memory that outlives the
 * account that allocated it (a tenant's weight that the runtime's store
 * keeps for every tenant that has it). */
void cv_account_transfer(void *ptr, cv_account_t *to);
/* Bytes live across all accounts, and the default account itself. */
size_t cv_alloc_live_bytes(void);
cv_account_t *cv_account_default(void);

/* Fault injection: the n-th allocation from now (1 = the next) fails, and
 * every one after it until the next call. n = 0 turns failures off. */
void cv_alloc_fail_after(long n);
/* Allocations that were made to fail since the last cv_alloc_fail_after. */
long cv_alloc_failures(void);
/* The same for device memory (and pinned host memory), which backends
 * allocate themselves: each asks cv_alloc_device_injected_failure() first
 * and fails that allocation, as if the driver had, when it returns true. */
void cv_alloc_device_fail_after(long n);
long cv_alloc_device_failures(void);
bool cv_alloc_device_injected_failure(void);

/* Growable array helper: makes room for one more element in *arr. */
#define CV_GROW(arr, count, cap)                                                         \
    cv_grow((void **)&(arr), sizeof(*(arr)), (count), &(cap))
cv_status cv_grow(void **arr, size_t elem, int count, int *cap);

/* ---- logging ------------------------------------------------------------ */
typedef enum cv_log_level {
    CV_LOG_ERROR = 0,
    CV_LOG_WARN,
    CV_LOG_INFO,
    CV_LOG_DEBUG,
} cv_log_level_t;

void cv_log_set_level(cv_log_level_t level);
void cv_log(cv_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- process limits ------------------------------------------------------ */
/* Raises the soft open-file limit (towards the hard one) so that `wanted`
 * descriptors fit beside `other_files` the process needs besides; returns
 * how many of the wanted fit (wanted when all do). */
int cv_open_files_for(int wanted, int other_files);

/* ---- clock ------------------------------------------------------------- */
/* Monotonic time in nanoseconds. */
uint64_t cv_clock_ns(void);

#endif /* CV_CORE_H */
