/*
 * placement.h: which device a tenant goes to when a server runs several
 * (`caravel serve --device cuda:all`, or logical CPU devices `cpu:0,1`:
 * one runtime, hence one scheduler, per device), and which replica of a
 * model a request goes to. Pure logic over numbers the registry gathers
 * (registry.c): no threads, no locks, no runtimes, so that every rule is
 * unit-tested on made-up devices (tests/cluster/test_placement.c).
 *
 * The rules (docs/SERVING.md, "Several devices"):
 *   1. A tenant of `bytes` fits a device when bytes <= its free bytes: its
 *      budget less what its tenants hold, and never more than the device
 *      itself reports free.
 *   2. A family stays together: devices that already hold tenants of the
 *      tenant's family come first (most members first), because tenants
 *      share waves only on one device.
 *   3. Then the device with the most free bytes, then the least loaded
 *      (requests queued or in flight), then the lowest index.
 *   4. A device marked excluded (it holds this model already, so a second
 *      replica would not add a scheduler; or a load there just failed) is
 *      never chosen.
 * Nothing fits: a one-line message naming the bytes and each device's free
 * bytes, for the repository index and the log.
 *
 * Replicas (the same model on several devices): a request goes to the
 * replica with the fewest requests queued or in flight, ties broken round
 * robin, so that equal replicas share a steady load evenly.
 *
 * Not here: moving a loaded tenant (nothing is ever migrated; a family
 * split by a full device stays split until its members are reloaded).
 */
#ifndef CV_REPO_PLACEMENT_H
#define CV_REPO_PLACEMENT_H

#include "caravel.h"

/* Devices of one server at most: an 8-GPU host with room to spare, and
 * enough logical CPU devices for tests. */
#define CV_PLACE_MAX_DEVICES 16
/* A budget or a reported free size that sets no limit. */
#define CV_PLACE_UNLIMITED SIZE_MAX

/* One device as placement sees it at one moment. */
typedef struct cv_place_device {
    const char *name;      /* "cpu:0", "cuda:1": for messages */
    size_t budget;         /* bytes its tenants may hold; CV_PLACE_UNLIMITED: no budget */
    size_t resident;       /* bytes its tenants hold now */
    size_t reported_free;  /* free memory the device reports now (every
                              process's use counts); CV_PLACE_UNLIMITED: none reported */
    long load;             /* requests queued or in flight on it now */
    int family_members;    /* tenants of the family being placed already on it */
    bool excluded;         /* never chosen (holds the model already, or failed it) */
} cv_place_device_t;

/* The bytes a device can still take: min(budget - resident, reported_free)
 * (0 when resident is over the budget); CV_PLACE_UNLIMITED when neither
 * limits it. */
size_t cv_place_free(const cv_place_device_t *d);

/* Ranks the devices that `bytes` fit and that are not excluded, best first
 * (rules 2 and 3), into order[] (room for n); returns how many. With none,
 * returns 0 and writes into err (when not NULL) one line: "needs <bytes>
 * and fits on no device (cpu:0: 12.0 KiB free of 64.0 KiB; cpu:1: holds it
 * already; ...)", for the caller to prefix with the model's name. */
int cv_place_rank(const cv_place_device_t *devs, int n, size_t bytes, int *order, cv_err_t *err);

/* The replica a request goes to, of n >= 1 with these loads (requests
 * queued or in flight): the least loaded; among equals, the first at or
 * after index turn % n (the caller advances turn for each request). */
int cv_place_pick_replica(const long *load, int n, unsigned turn);

/* Writes "512 B", "12.0 KiB", "1.5 MiB", "3.0 GiB" or "unlimited" into
 * buf; returns buf. */
char *cv_place_bytes_str(size_t bytes, char *buf, size_t len);

#endif /* CV_REPO_PLACEMENT_H */
