/*
 * status.c: status names, user messages, and the assert that stops on bugs.
 */
#include "core/core.h"

#include <string.h>

const char *cv_status_str(cv_status status)
{
    switch (status) {
    case CV_STATUS_OK: return "ok";
    case CV_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case CV_STATUS_NOT_FOUND: return "not found";
    case CV_STATUS_UNSUPPORTED: return "unsupported";
    case CV_STATUS_OUT_OF_MEMORY: return "out of memory";
    case CV_STATUS_UNAVAILABLE: return "unavailable";
    case CV_STATUS_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void cv_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "caravel: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

cv_status cv_errorf(cv_err_t *err, cv_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return status;
}

void cv_err_prefix(cv_err_t *err, const char *fmt, ...)
{
    if (!err) return;
    char line[2 * CV_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, CV_ERR_LEN, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : CV_MIN((size_t)n, (size_t)CV_ERR_LEN - 1);
    memcpy(line + used, ": ", 2);
    used += 2;
    size_t old = strnlen(err->msg, CV_ERR_LEN - 1);
    memcpy(line + used, err->msg, old);
    used += old;
    used = CV_MIN(used, (size_t)CV_ERR_LEN - 1);
    memcpy(err->msg, line, used);
    err->msg[used] = '\0';
}
