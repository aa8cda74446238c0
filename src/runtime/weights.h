/*
 * weights.h: the runtime's weight store (DESIGN.md, "Shared layers").
 *
 * Fine-tuned copies of one architecture share most of their weights (a
 * frozen backbone, a new head). Every weight of every tenant is interned
 * here at load, by its content after the load-time passes (BatchNorm
 * folded into the Conv before it) and by the precision of its device copy:
 * tensors equal in dtype, shape, half precision and every byte are one
 * entry, stored once on the host and once on the device, reference-counted
 * by the tenants that have it and freed with the last of them. A tenant's
 * graph borrows the entry's host data (cv_value_t.borrowed) and its
 * constants table points at the entry's device copy, so tenants that share
 * a tensor read it at one address: that is how a wave's step tells that
 * its slices share weights and runs them as one (backend.h,
 * cv_step_shared_run; the CUDA GEMMs and graph cache).
 *
 * Identity is a 64-bit content hash (cv_weights_hash, or one a test
 * injects) and, on a hash match, a comparison of every byte (downloaded
 * from the device where the host copy is gone): two tensors are never
 * shared on a hash alone. Hashing costs load time only, reported per
 * tenant (hash_ms).
 *
 * Memory: the entries are charged to the store's own account (they outlive
 * the tenant that loaded them); a tenant is charged each entry's bytes
 * divided by the number of its tenants (cv_weights_memory), so the tenants'
 * shares add up to what the device holds. On a device backend an entry
 * keeps its host copy only while a tenant's graph reads it on the host
 * (cv_graph_host_read_weights: not the Conv/Gemm/MatMul weights).
 *
 * Threads: interning and releasing run under the runtime's load_mu (one at
 * a time); the store's mutex guards the table and the counts, which the
 * memory queries read from any thread.
 */
#ifndef CV_RUNTIME_WEIGHTS_H
#define CV_RUNTIME_WEIGHTS_H

#include "backend/backend.h"

#include <pthread.h>

typedef uint64_t (*cv_weight_hash_fn)(const void *data, size_t bytes);

/* One stored tensor. */
typedef struct cv_weight {
    uint64_t hash;
    uint64_t serial;        /* never reused: orders tenants by what they share */
    cv_tensor_t host;       /* dtype, shape; data NULL once no graph reads it
                               on a device backend */
    cv_precision_t half;    /* FP16/BF16: the device keeps a copy in it; FP32: none */
    bool half_only_asked;   /* the half copy alone was allowed (part of the identity) */
    void *block;            /* the device allocation (weight_release frees it) */
    void *device, *device_half; /* where tenants read it (host data on the CPU); equal
                                   where the device keeps the half copy alone */
    size_t host_bytes, device_bytes;
    int tenants;            /* tenants that hold it */
    int host_readers;       /* of those, tenants whose graph reads its host data */
    uint64_t mark;          /* the last intern that took it (counts a tenant once) */
    int slot;               /* its index in that intern's tw->entries */
    struct cv_weight *next; /* hash chain */
} cv_weight_t;

typedef struct cv_weight_store {
    pthread_mutex_t mu;
    cv_account_t account;   /* the entries' host and device memory */
    cv_weight_t **buckets;
    size_t nbuckets, count;
    cv_weight_hash_fn hash;
    bool sharing;           /* false: no hashing, every tensor an entry of its own */
    uint64_t serials, interns;
    long shared;            /* entries held by more than one tenant */
} cv_weight_store_t;

/* A tenant's part: which entry each of its weights is. */
typedef struct cv_tenant_weights {
    cv_weight_t **of_value;   /* per graph value, or NULL (not a stored weight) */
    void **stored;            /* 2 * nvalues: [v] device copy, [nv + v] half copy
                                 (tenant_upload's `stored`) */
    cv_weight_t **entries;    /* the distinct entries it holds */
    bool *host_reader;        /* per entry: its graph reads the host data */
    int nentries;
    uint64_t *key;            /* entry serials of its weights in node order */
    int nkey;
    double hash_ms;           /* hashing and comparing its weights at load */
    size_t loaded_host, loaded_device; /* bytes of the entries its load added */
} cv_tenant_weights_t;

/* What a tenant is charged (cv_tenant_memory's weights part). */
typedef struct cv_weights_memory {
    size_t host_own, host_shared, device_own, device_shared;
    size_t shared_whole_device, shared_whole_host; /* the shared tensors' whole bytes */
    int weights, shared_weights; /* distinct tensors it holds; of those, held by others too */
} cv_weights_memory_t;

/* A store; `sharing` false stores every tensor apart (no hashing). */
void cv_weights_init(cv_weight_store_t *s, bool sharing);
/* Frees the store, which must be empty (every tenant released). */
void cv_weights_destroy(cv_weight_store_t *s);
/* The content hash the store uses unless a test injects another. */
uint64_t cv_weights_hash(const void *data, size_t bytes);
/* For tests: the hash function (NULL: cv_weights_hash). Only while empty. */
void cv_weights_set_hash(cv_weight_store_t *s, cv_weight_hash_fn hash);

/* Interns every weight of g (prepared: folded, fused) for a tenant of
 * `precision` on backend b: an equal entry is taken (g's copy freed, its
 * value borrowing the entry's data), or a new entry takes g's copy (the
 * device copy made by b->iface->weight_upload). On a device backend, g's
 * weights that no host code reads (cv_graph_host_read_weights) are left
 * without host data, and an entry that no tenant reads on the host keeps
 * none. Fills tw, whose `stored` table then goes to tenant_upload. On
 * failure what was taken stays in tw: release it with cv_weights_release.
 * The caller's account is charged nothing for the entries. */
cv_status cv_weights_intern(cv_weight_store_t *s, cv_backend_t *b, cv_graph_t *g, cv_precision_t precision,
                            cv_tenant_weights_t *tw, cv_err_t *err);
/* Gives the tenant's entries back (each freed, host and device, with its
 * last tenant). g (NULL: gone already) stops borrowing: its weights' data
 * become NULL, except, when `keep_graph` (a family still plans from it),
 * those planning reads (cv_graph_host_read_weights), which get copies of
 * their own charged to the calling thread's account (left NULL when that
 * allocation fails: planning then treats them as unknown). */
void cv_weights_release(cv_weight_store_t *s, cv_backend_t *b, cv_graph_t *g, cv_tenant_weights_t *tw,
                        bool keep_graph);
/* The tenant's bytes of stored tensors: each entry's bytes divided among
 * its tenants, own when it has no other. */
void cv_weights_memory(cv_weight_store_t *s, const cv_tenant_weights_t *tw, cv_weights_memory_t *out);
/* The store's totals: entries, their host and device bytes, how many are
 * shared, and the bytes that sharing saves (an entry's bytes times its
 * tenants beyond the first). */
void cv_weights_totals(cv_weight_store_t *s, long *entries, long *shared, size_t *host_bytes,
                       size_t *device_bytes, size_t *saved_bytes);
/* Orders two tenants' weights for waves (lexicographically by the serials
 * of their entries in node order): tenants that share the first k layers
 * are then next to each other for every k, so that a wave's slices that
 * share a step are one run (cv_step_shared_run). <0, 0 or >0. Also says,
 * through *share, whether they have any tensor in common at one place. */
int cv_weights_compare(const cv_tenant_weights_t *a, const cv_tenant_weights_t *b, bool *share);

#endif /* CV_RUNTIME_WEIGHTS_H */
