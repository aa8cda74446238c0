/*
 * weights.c: the runtime's weight store (see weights.h): interning a
 * tenant's weights by content, the host and device copies each entry keeps,
 * giving them back, and what each tenant is charged for them.
 */
#include "runtime/weights.h"

#include <string.h>

#define INITIAL_BUCKETS 256
/* Comparing with an entry whose host copy is gone downloads it in pieces
 * of this size. */
#define COMPARE_CHUNK ((size_t)4 << 20)

void cv_weights_init(cv_weight_store_t *s, bool sharing)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->account.name = "weights";
    s->hash = cv_weights_hash;
    s->sharing = sharing;
}

void cv_weights_destroy(cv_weight_store_t *s)
{
    /* Every tenant gave its entries back before the runtime goes. */
    CV_ASSERT(s->count == 0);
    cv_account_t *previous = cv_account_use(&s->account);
    cv_free(s->buckets);
    cv_account_use(previous);
    pthread_mutex_destroy(&s->mu);
}

void cv_weights_set_hash(cv_weight_store_t *s, cv_weight_hash_fn hash)
{
    CV_ASSERT(s->count == 0);
    s->hash = hash ? hash : cv_weights_hash;
}

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* Four independent lanes over 8-byte words (so that the multiplications
 * overlap), a word at a time for the tail, then a final mix: several GB/s,
 * which keeps hashing a ResNet-50 (100 MB) to tens of milliseconds. It
 * need not be cryptographic: a match is always confirmed byte by byte. */
uint64_t cv_weights_hash(const void *data, size_t bytes)
{
    const uint64_t k = 0x9FB21C651E98DF25ull; /* odd: multiplying by it is a bijection */
    const unsigned char *p = data;
    uint64_t lane[4] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull, 0x082EFA98EC4E6C89ull};
    size_t i = 0;
    for (; i + 32 <= bytes; i += 32)
        for (int l = 0; l < 4; l++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * (size_t)l, sizeof w);
            lane[l] = rotl(lane[l] ^ w, 27) * k;
        }
    uint64_t h = (uint64_t)bytes * k;
    for (int l = 0; l < 4; l++) h = rotl(h ^ lane[l], 31) * k;
    for (; i < bytes; i += 8) {
        uint64_t w = 0;
        memcpy(&w, p + i, bytes - i < 8 ? bytes - i : 8);
        h = rotl(h ^ w, 31) * k;
    }
    h ^= h >> 32;
    h *= k;
    h ^= h >> 29;
    return h;
}

/* ---- the table ------------------------------------------------------------------- */

static size_t bucket_of(const cv_weight_store_t *s, uint64_t hash) { return (size_t)(hash & (s->nbuckets - 1)); }

/* Room for one more entry; a table that cannot grow keeps its chains
 * longer (still correct). Under the store's account and mutex. */
static void reserve(cv_weight_store_t *s)
{
    if (s->nbuckets && s->count < s->nbuckets) return;
    size_t n = s->nbuckets ? 2 * s->nbuckets : INITIAL_BUCKETS;
    cv_weight_t **fresh = cv_calloc(n, sizeof(*fresh));
    if (!fresh) return;
    for (size_t b = 0; b < s->nbuckets; b++)
        for (cv_weight_t *e = s->buckets[b], *next; e; e = next) {
            next = e->next;
            size_t at = (size_t)(e->hash & (n - 1));
            e->next = fresh[at];
            fresh[at] = e;
        }
    cv_free(s->buckets);
    s->buckets = fresh;
    s->nbuckets = n;
}

static void unlink_entry(cv_weight_store_t *s, cv_weight_t *e)
{
    cv_weight_t **link = &s->buckets[bucket_of(s, e->hash)];
    while (*link != e) link = &(*link)->next;
    *link = e->next;
    s->count--;
}

/* Reads n bytes at `at` of an entry's device copy into dst. */
static cv_status download(cv_backend_t *b, const cv_weight_t *e, size_t at, void *dst, size_t n, cv_err_t *err)
{
    cv_status st = b->iface->download(b, dst, (const char *)e->device + at, n, err);
    if (st == CV_STATUS_OK && b->iface->synchronize) st = b->iface->synchronize(b, err);
    return st;
}

/* Whether a device keeps the entry as its half copy alone (no FP32 bytes
 * to compare with or to restore a host copy from). */
static bool device_half_only(const cv_weight_t *e) { return e->device_half && e->device == e->device_half; }

/* Whether the entry holds exactly these bytes: from its host copy, or
 * downloaded from the device in pieces where the host copy is gone (an
 * entry kept as its half copy alone: the bytes converted to half, which
 * is all that its tenants read). A download that fails (or no room for
 * the piece) counts as different: the tensor is then stored apart, which
 * is only less memory saved. */
static bool same_bytes(cv_backend_t *b, const cv_weight_t *e, const void *data, size_t bytes)
{
    if (e->host.data) return memcmp(e->host.data, data, bytes) == 0;
    /* Compared in device bytes: FP32 as it is, or its half conversion. */
    bool half = device_half_only(e);
    size_t elements = bytes / sizeof(float), device_bytes = half ? elements * 2 : bytes;
    size_t piece = device_bytes < COMPARE_CHUNK ? device_bytes : COMPARE_CHUNK;
    char *scratch = cv_malloc(piece ? piece : 1);
    uint16_t *converted = half ? cv_malloc(piece ? piece : 1) : NULL;
    if (!scratch || (half && !converted)) {
        cv_free(scratch);
        cv_free(converted);
        return false;
    }
    bool same = true;
    for (size_t at = 0; at < device_bytes && same; at += piece) {
        size_t n = device_bytes - at < piece ? device_bytes - at : piece;
        cv_err_t err;
        if (download(b, e, at, scratch, n, &err) != CV_STATUS_OK) {
            cv_log(CV_LOG_WARN, "weights: comparing a tensor with the device's copy failed (%s); storing it apart",
                   err.msg);
            same = false;
        } else if (half) {
            cv_backend_to_half((const float *)data + at / 2, (int64_t)(n / 2), e->half, converted);
            same = memcmp(scratch, converted, n) == 0;
        } else {
            same = memcmp(scratch, (const char *)data + at, n) == 0;
        }
    }
    cv_free(scratch);
    cv_free(converted);
    return same;
}

/* The entry equal to constant c (content, dtype, shape, half), or NULL.
 * Entries come and go only under the runtime's load_mu, which the caller
 * holds, so the chain is walked without the store's mutex (a comparison
 * may download). */
static cv_weight_t *find(cv_weight_store_t *s, cv_backend_t *b, uint64_t hash, const cv_tensor_t *c,
                         cv_precision_t half, bool half_only)
{
    if (!s->nbuckets) return NULL;
    size_t bytes = cv_tensor_nbytes(c);
    for (cv_weight_t *e = s->buckets[bucket_of(s, hash)]; e; e = e->next) {
        if (e->hash != hash || e->host.dtype != c->dtype || e->half != half || e->half_only_asked != half_only ||
            !cv_shape_equal(&e->host.shape, &c->shape))
            continue;
        if (same_bytes(b, e, c->data, bytes)) return e;
    }
    return NULL;
}

/* A new entry holding constant c's data (taken over from the graph) and
 * its device copy. */
static cv_status make_entry(cv_weight_store_t *s, cv_backend_t *b, uint64_t hash, cv_tensor_t *c,
                            cv_precision_t half, bool half_only, cv_weight_t **out, cv_err_t *err)
{
    cv_account_t *previous = cv_account_use(&s->account);
    cv_weight_t *e = cv_calloc(1, sizeof(*e));
    cv_status st = e ? CV_STATUS_OK : cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory storing a weight");
    if (st == CV_STATUS_OK && b->iface->weight_upload)
        st = b->iface->weight_upload(b, c, half, half_only, &e->block, &e->device, &e->device_half,
                                     &e->device_bytes, err);
    if (st != CV_STATUS_OK) {
        cv_free(e);
        cv_account_use(previous);
        return st;
    }
    e->host = *c;
    e->host_bytes = cv_tensor_nbytes(c);
    if (!b->iface->weight_upload) e->device = c->data; /* a host backend reads the host copy */
    e->half = half;
    e->half_only_asked = half_only;
    cv_account_transfer(c->data, &s->account);
    pthread_mutex_lock(&s->mu);
    e->serial = ++s->serials;
    /* Unshared entries are never searched: spread them by serial. */
    e->hash = s->sharing ? hash : e->serial * 0x9E3779B97F4A7C15ull;
    reserve(s);
    size_t at = bucket_of(s, e->hash);
    e->next = s->buckets[at];
    s->buckets[at] = e;
    s->count++;
    pthread_mutex_unlock(&s->mu);
    cv_account_use(previous);
    *out = e;
    return CV_STATUS_OK;
}

/* Gives an entry that another tenant's load left without a host copy one
 * again, from the device, for a graph that reads it on the host (small
 * tensors: scales, slopes). */
static cv_status restore_host(cv_weight_store_t *s, cv_backend_t *b, cv_weight_t *e, cv_err_t *err)
{
    cv_account_t *previous = cv_account_use(&s->account);
    char *data = cv_malloc(e->host_bytes + 1);
    cv_account_use(previous);
    if (!data) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a weight's host copy");
    cv_status st = download(b, e, 0, data, e->host_bytes, err);
    if (st != CV_STATUS_OK) {
        cv_free(data);
        return st;
    }
    pthread_mutex_lock(&s->mu);
    e->host.data = data;
    pthread_mutex_unlock(&s->mu);
    return CV_STATUS_OK;
}

/* Records that tw's tenant holds e (once however many of its values it
 * is); returns its slot in tw->entries. Under the store's mutex. */
static int hold(cv_weight_store_t *s, cv_tenant_weights_t *tw, cv_weight_t *e)
{
    if (e->mark == s->interns) return e->slot;
    e->mark = s->interns;
    e->slot = tw->nentries;
    tw->entries[tw->nentries] = e;
    tw->host_reader[tw->nentries++] = false;
    if (++e->tenants == 2) s->shared++;
    return e->slot;
}

static cv_status tenant_tables(cv_tenant_weights_t *tw, const cv_graph_t *g, cv_err_t *err)
{
    size_t nv = (size_t)g->nvalues;
    memset(tw, 0, sizeof(*tw));
    tw->of_value = cv_calloc(nv + 1, sizeof(*tw->of_value));
    tw->stored = cv_calloc(2 * nv + 1, sizeof(*tw->stored));
    tw->entries = cv_calloc(nv + 1, sizeof(*tw->entries));
    tw->host_reader = cv_calloc(nv + 1, sizeof(*tw->host_reader));
    if (tw->of_value && tw->stored && tw->entries && tw->host_reader) return CV_STATUS_OK;
    return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the weight tables of %s", g->path);
}

/* tw->key: the entries of g's weights as its live nodes read them. */
static cv_status make_key(cv_tenant_weights_t *tw, const cv_graph_t *g, cv_err_t *err)
{
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        n = 0;
        for (int ni = 0; ni < g->nnodes; ni++) {
            const cv_node_t *node = &g->nodes[ni];
            if (node->dead) continue;
            for (int i = 0; i < node->ninputs; i++) {
                int v = node->inputs[i];
                if (v < 0 || !tw->of_value[v]) continue;
                if (pass) tw->key[n] = tw->of_value[v]->serial;
                n++;
            }
        }
        if (!pass && !(tw->key = cv_calloc((size_t)n + 1, sizeof(*tw->key))))
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the weight key of %s", g->path);
    }
    tw->nkey = n;
    return CV_STATUS_OK;
}

/* Frees an entry's host copy (its bytes were moved onto the store's
 * account, which cv_free credits). Under the store's mutex. */
static void drop_host(cv_weight_t *e)
{
    cv_free(e->host.data);
    e->host.data = NULL;
}

cv_status cv_weights_intern(cv_weight_store_t *s, cv_backend_t *b, cv_graph_t *g, cv_precision_t precision,
                            cv_tenant_weights_t *tw, cv_err_t *err)
{
    int nv = g->nvalues;
    bool device = !b->iface->host_memory;
    /* Comparisons download from b's device: this thread must be on it. */
    cv_status st = b->iface->bind ? b->iface->bind(b, err) : CV_STATUS_OK;
    if (st != CV_STATUS_OK) {
        memset(tw, 0, sizeof(*tw));
        return st;
    }
    st = tenant_tables(tw, g, err);
    /* needs_half: the FP16/BF16 copies a device keeps (part of an entry's
     * identity); read: what this graph reads on the host once a device
     * holds its weights; half_only: those of needs_half whose FP32 copy no
     * device path reads (cv_backend_half_only_weights) nor the host: the
     * backend may keep the half copy alone (also part of the identity). */
    bool *needs_half = st == CV_STATUS_OK ? cv_calloc(3 * (size_t)nv + 1, sizeof(bool)) : NULL;
    bool *read = needs_half ? needs_half + nv : NULL;
    bool *half_only = needs_half ? needs_half + 2 * nv : NULL;
    if (st == CV_STATUS_OK && !needs_half)
        st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory interning the weights of %s", g->path);
    if (st == CV_STATUS_OK && device && cv_graph_host_read_weights(g, read) != CV_STATUS_OK)
        st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory interning the weights of %s", g->path);
    if (st != CV_STATUS_OK) {
        cv_free(needs_half);
        return st;
    }
    if (device && (precision == CV_PRECISION_FP16 || precision == CV_PRECISION_BF16)) {
        cv_backend_half_weights(g, needs_half);
        cv_backend_half_only_weights(g, half_only);
        for (int v = 0; v < nv; v++) half_only[v] = half_only[v] && !read[v];
    }
    pthread_mutex_lock(&s->mu);
    s->interns++;
    pthread_mutex_unlock(&s->mu);
    uint64_t hashing_ns = 0;
    for (int v = 0; v < nv && st == CV_STATUS_OK; v++) {
        cv_value_t *val = &g->values[v];
        cv_tensor_t *c = val->constant;
        if (!c || !val->is_weight || val->borrowed || !c->data) continue;
        cv_precision_t half = needs_half[v] ? precision : CV_PRECISION_FP32;
        uint64_t hash = 0;
        cv_weight_t *e = NULL;
        if (s->sharing) {
            uint64_t t0 = cv_clock_ns();
            hash = s->hash(c->data, cv_tensor_nbytes(c));
            e = find(s, b, hash, c, half, half_only[v]);
            hashing_ns += cv_clock_ns() - t0;
        }
        if (e) {
            if (device && read[v] && !e->host.data) st = restore_host(s, b, e, err);
            if (st != CV_STATUS_OK) break;
            cv_tensor_free(c); /* the tenant's copy: the entry has these bytes */
        } else {
            st = make_entry(s, b, hash, c, half, half_only[v], &e, err);
            if (st != CV_STATUS_OK) break;
            tw->loaded_host += e->host_bytes;
            tw->loaded_device += e->device_bytes;
        }
        /* On a device only what host code reads keeps a host pointer. */
        c->data = !device || read[v] ? e->host.data : NULL;
        val->borrowed = true;
        tw->of_value[v] = e;
        tw->stored[v] = e->device;
        tw->stored[nv + v] = e->device_half;
        pthread_mutex_lock(&s->mu);
        int slot = hold(s, tw, e);
        if (device && read[v] && !tw->host_reader[slot]) {
            tw->host_reader[slot] = true;
            e->host_readers++;
        }
        pthread_mutex_unlock(&s->mu);
    }
    cv_free(needs_half);
    /* Host copies that no tenant's graph reads: the device has them. */
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < tw->nentries && device; i++)
        if (!tw->entries[i]->host_readers && tw->entries[i]->host.data) drop_host(tw->entries[i]);
    pthread_mutex_unlock(&s->mu);
    if (st == CV_STATUS_OK) st = make_key(tw, g, err);
    tw->hash_ms = (double)hashing_ns / 1e6;
    return st;
}

void cv_weights_release(cv_weight_store_t *s, cv_backend_t *b, cv_graph_t *g, cv_tenant_weights_t *tw,
                        bool keep_graph)
{
    bool device = !b->iface->host_memory;
    if (g && tw->of_value) {
        bool *read = keep_graph ? cv_calloc((size_t)g->nvalues + 1, sizeof(bool)) : NULL;
        if (read && cv_graph_host_read_weights(g, read) != CV_STATUS_OK) {
            cv_free(read);
            read = NULL;
        }
        for (int v = 0; v < g->nvalues; v++) {
            cv_value_t *val = &g->values[v];
            if (!tw->of_value[v] || !val->borrowed) continue;
            const void *data = val->constant->data;
            val->constant->data = NULL;
            val->borrowed = false;
            /* A graph that plans on: its own copy of what planning reads. */
            if (read && read[v] && data) {
                size_t n = cv_tensor_nbytes(val->constant);
                void *copy = cv_malloc(n + 1);
                if (copy) memcpy(copy, data, n);
                val->constant->data = copy;
            }
        }
        cv_free(read);
    }
    cv_weight_t *dead = NULL;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < tw->nentries; i++) {
        cv_weight_t *e = tw->entries[i];
        if (tw->host_reader[i]) e->host_readers--;
        if (--e->tenants == 1) s->shared--;
        if (e->tenants == 0) {
            unlink_entry(s, e);
            e->next = dead;
            dead = e;
        } else if (device && !e->host_readers && e->host.data) {
            drop_host(e);
        }
    }
    /* Under the mutex: a memory query of this tenant sees all or none. */
    cv_free(tw->of_value);
    cv_free(tw->stored);
    cv_free(tw->entries);
    cv_free(tw->host_reader);
    cv_free(tw->key);
    tw->of_value = NULL;
    tw->stored = NULL;
    tw->entries = NULL;
    tw->host_reader = NULL;
    tw->key = NULL;
    tw->nentries = tw->nkey = 0;
    pthread_mutex_unlock(&s->mu);
    cv_account_t *previous = cv_account_use(&s->account);
    for (cv_weight_t *e = dead, *next; e; e = next) {
        next = e->next;
        cv_free(e->host.data);
        if (e->block) b->iface->weight_release(b, e->block, e->device_bytes);
        cv_free(e);
    }
    cv_account_use(previous);
}

void cv_weights_memory(cv_weight_store_t *s, const cv_tenant_weights_t *tw, cv_weights_memory_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < tw->nentries; i++) {
        const cv_weight_t *e = tw->entries[i];
        size_t host = e->host.data ? e->host_bytes : 0;
        out->weights++;
        if (e->tenants > 1) {
            out->shared_weights++;
            out->host_shared += host / (size_t)e->tenants;
            out->device_shared += e->device_bytes / (size_t)e->tenants;
            out->shared_whole_host += host;
            out->shared_whole_device += e->device_bytes;
        } else {
            out->host_own += host;
            out->device_own += e->device_bytes;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void cv_weights_totals(cv_weight_store_t *s, long *entries, long *shared, size_t *host_bytes,
                       size_t *device_bytes, size_t *saved_bytes)
{
    *entries = *shared = 0;
    *host_bytes = *device_bytes = *saved_bytes = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t k = 0; k < s->nbuckets; k++)
        for (const cv_weight_t *e = s->buckets[k]; e; e = e->next) {
            (*entries)++;
            if (e->tenants > 1) (*shared)++;
            *host_bytes += e->host.data ? e->host_bytes : 0;
            *device_bytes += e->device_bytes;
            /* What each further tenant would have stored: its host copy on
             * a host backend, its device copy on a device. */
            *saved_bytes += (size_t)(e->tenants - 1) * (e->block ? e->device_bytes : e->host_bytes);
        }
    pthread_mutex_unlock(&s->mu);
}

int cv_weights_compare(const cv_tenant_weights_t *a, const cv_tenant_weights_t *b, bool *share)
{
    int n = a->nkey < b->nkey ? a->nkey : b->nkey, order = 0;
    *share = false;
    for (int i = 0; i < n; i++) {
        if (a->key[i] == b->key[i]) *share = true;
        else if (!order) order = a->key[i] < b->key[i] ? -1 : 1;
        if (order && *share) break;
    }
    if (!order) order = (a->nkey > b->nkey) - (a->nkey < b->nkey);
    return order;
}
