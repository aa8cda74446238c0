/*
 * placement.c: the rules of placement.h: which devices a tenant fits, in
 * which order to try them, and which replica a request goes to. Pure
 * functions of their arguments.
 */
#include "repo/placement.h"

#include "core/core.h"

#include <stdio.h>
#include <string.h>

size_t cv_place_free(const cv_place_device_t *d)
{
    size_t room = CV_PLACE_UNLIMITED;
    if (d->budget != CV_PLACE_UNLIMITED) room = d->resident < d->budget ? d->budget - d->resident : 0;
    return CV_MIN(room, d->reported_free);
}

char *cv_place_bytes_str(size_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes == CV_PLACE_UNLIMITED) {
        snprintf(buf, len, "unlimited");
        return buf;
    }
    if (bytes < 1024) {
        snprintf(buf, len, "%zu B", bytes);
        return buf;
    }
    double v = (double)bytes / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < CV_ARRAY_LEN(units)) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

/* True when device a is a better home than b (rules 2 and 3). */
static bool better(const cv_place_device_t *devs, int a, int b)
{
    const cv_place_device_t *x = &devs[a], *y = &devs[b];
    if (x->family_members != y->family_members) return x->family_members > y->family_members;
    size_t fx = cv_place_free(x), fy = cv_place_free(y);
    if (fx != fy) return fx > fy;
    if (x->load != y->load) return x->load < y->load;
    return a < b;
}

/* The message for a tenant that fits nowhere. */
static void fits_nowhere(const cv_place_device_t *devs, int n, size_t bytes, cv_err_t *err)
{
    char need[32], free_s[32], budget_s[32];
    char line[CV_ERR_LEN];
    size_t at = 0;
    at += (size_t)snprintf(line, sizeof line, "needs %s and fits on no device (",
                           cv_place_bytes_str(bytes, need, sizeof need));
    for (int i = 0; i < n && at < sizeof line; i++) {
        const cv_place_device_t *d = &devs[i];
        const char *sep = i ? "; " : "";
        if (d->excluded)
            at += (size_t)snprintf(line + at, sizeof line - at, "%s%s: not a candidate", sep, d->name);
        else if (d->budget == CV_PLACE_UNLIMITED)
            at += (size_t)snprintf(line + at, sizeof line - at, "%s%s: %s free", sep, d->name,
                                   cv_place_bytes_str(cv_place_free(d), free_s, sizeof free_s));
        else
            at += (size_t)snprintf(line + at, sizeof line - at, "%s%s: %s free of %s", sep, d->name,
                                   cv_place_bytes_str(cv_place_free(d), free_s, sizeof free_s),
                                   cv_place_bytes_str(d->budget, budget_s, sizeof budget_s));
    }
    if (at < sizeof line) snprintf(line + at, sizeof line - at, ")");
    cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s", line);
}

int cv_place_rank(const cv_place_device_t *devs, int n, size_t bytes, int *order, cv_err_t *err)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (devs[i].excluded || bytes > cv_place_free(&devs[i])) continue;
        /* Insertion: a handful of devices. */
        int at = k++;
        while (at > 0 && better(devs, i, order[at - 1])) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = i;
    }
    if (k == 0 && err) fits_nowhere(devs, n, bytes, err);
    return k;
}

int cv_place_pick_replica(const long *load, int n, unsigned turn)
{
    CV_ASSERT(n >= 1);
    int best = -1;
    for (int j = 0; j < n; j++) {
        int i = (int)((turn + (unsigned)j) % (unsigned)n);
        if (best < 0 || load[i] < load[best]) best = i;
    }
    return best;
}
