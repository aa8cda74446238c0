/*
 * log.c: leveled logging to stderr, and the monotonic clock.
 */
#include "core/core.h"

#include <time.h>

static cv_log_level_t log_level = CV_LOG_WARN;

void cv_log_set_level(cv_log_level_t level) { log_level = level; }

void cv_log(cv_log_level_t level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (level > log_level) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "caravel %s: ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint64_t cv_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
