/*
 * runtime_internal.h: what the files of src/runtime share: the runtime, its
 * tenants and their families. The public API (include/caravel.h) sees only
 * opaque handles; this is the one place their insides are defined.
 *
 * Not thread-safe yet: one caller at a time per runtime.
 */
#ifndef CV_RUNTIME_INTERNAL_H
#define CV_RUNTIME_INTERNAL_H

#include "backend/cpu/cpu.h"
#include "exec/exec.h"

#define PLAN_CACHE_SIZE 16

typedef struct plan_entry {
    cv_plan_t *plan;
    uint64_t last_used;
} plan_entry_t;

/* Tenants whose graphs are identical up to weight values (and precision):
 * they share plans and can share waves. */
typedef struct cv_family {
    uint64_t hash;
    const cv_graph_t *representative; /* one member's graph: plans read its structure */
    int ntenants;
    plan_entry_t plans[PLAN_CACHE_SIZE];
    uint64_t clock;
    struct cv_family *next;
} cv_family_t;

struct cv_tenant {
    char *name;
    cv_graph_t *graph;
    cv_family_t *family;
    void **constants; /* backend pointers, per value */
    cv_precision_t precision;
    cv_account_t account;
    cv_tenant_t *next;
};

struct cv_runtime {
    cv_runtime_config_t config;
    cv_backend_t *backend;
    cv_executor_t *exec;
    cv_cpu_ctx_t fold_cpu; /* constant folding runs on the CPU whatever the device */
    cv_family_t *families;
    cv_tenant_t *tenants;
    long waves;
};

/* Drops the family's cached plans (they read its representative's graph). */
void cv_family_drop_plans(cv_family_t *f);

#endif /* CV_RUNTIME_INTERNAL_H */
