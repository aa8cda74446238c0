/*
 * registry.c: the (model, version) records of a server and their tenants:
 * loading a model's versions from the repository onto the devices
 * (placement.h chooses which), unloading them, finding the one a request
 * names and the replica it goes to, and the index of what the repository
 * holds. registry.h explains why records exist and how they are locked.
 *
 * Locks: reg->mu guards the list, every record's state, replicas and
 * reason, and the devices' placed bytes; a state change also holds the
 * record's write lock, so that whoever holds its read lock (making or
 * submitting a request) sees a stable state. reg->load_mu serialises loads
 * and unloads, which run without reg->mu held (they take long), so the
 * placed bytes placement reads cannot change under it.
 */
#include "repo/registry.h"

#include "core/core.h"
#include "repo/repo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Longest device name ("cuda:15", "cpu:3"), with room to spare. */
#define DEVICE_NAME_MAX 32

typedef struct reg_device {
    cv_runtime_t *rt;
    char name[DEVICE_NAME_MAX];
    size_t budget;   /* CV_PLACE_UNLIMITED: none */
    size_t placed;   /* bytes charged for its replicas; under mu */
    int replicas;    /* under mu */
} reg_device_t;

struct cv_registry {
    char *repo;
    pthread_mutex_t mu;
    pthread_mutex_t load_mu;
    cv_served_t *records; /* every record, any state */
    int ndevices;
    reg_device_t devices[CV_PLACE_MAX_DEVICES];
};

const char *cv_served_state_name(cv_served_state_t state)
{
    switch (state) {
    case CV_SERVED_LOADING: return "LOADING";
    case CV_SERVED_READY: return "READY";
    case CV_SERVED_UNLOADING: return "UNLOADING";
    case CV_SERVED_UNAVAILABLE: return "UNAVAILABLE";
    }
    return "UNAVAILABLE";
}

/* ---- signatures ---------------------------------------------------------- */

/* A shape with every variable dim written -1 (the runtime may use other
 * negative values for symbolic dims). */
static cv_shape_t normalized(cv_shape_t s)
{
    for (int d = 0; d < s.ndim; d++)
        if (s.dims[d] < 0) s.dims[d] = -1;
    return s;
}

cv_status cv_model_sig_from_tenant(const cv_tenant_t *t, cv_model_sig_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    int nin = cv_tenant_num_inputs(t), nout = cv_tenant_num_outputs(t);
    out->inputs = cv_calloc((size_t)nin + 1, sizeof(cv_io_desc_t));
    out->outputs = cv_calloc((size_t)nout + 1, sizeof(cv_io_desc_t));
    if (!out->inputs || !out->outputs) goto oom;
    out->batched = nin > 0;
    out->by_rows = true;
    for (int i = 0; i < nin; i++, out->ninputs++) {
        cv_io_desc_t *d = &out->inputs[i];
        d->dtype = cv_tenant_input_dtype(t, i);
        d->shape = normalized(cv_tenant_input_shape(t, i));
        if (!(d->name = cv_strdup(cv_tenant_input_name(t, i)))) goto oom;
        if (d->shape.ndim < 1 || d->shape.dims[0] >= 0) out->batched = false;
    }
    /* The runtime's rule (cv_request_create): requests go by rows only
     * when every dim but the batch axis is fixed. */
    for (int i = 0; i < nin; i++)
        for (int d = out->batched ? 1 : 0; d < out->inputs[i].shape.ndim; d++)
            if (out->inputs[i].shape.dims[d] < 0) out->by_rows = false;
    for (int o = 0; o < nout; o++, out->noutputs++) {
        cv_io_desc_t *d = &out->outputs[o];
        d->dtype = cv_tenant_output_dtype(t, o);
        d->shape = normalized(cv_tenant_output_shape(t, o));
        if (!(d->name = cv_strdup(cv_tenant_output_name(t, o)))) goto oom;
    }
    out->max_rows = out->batched ? cv_tenant_config(t)->max_rows : 1;
    return CV_STATUS_OK;
oom:
    cv_model_sig_free(out);
    return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for tenant '%s'", cv_tenant_name(t));
}

/* ---- latency rings --------------------------------------------------------- */

void cv_latency_ring_init(cv_latency_ring_t *r)
{
    pthread_mutex_init(&r->mu, NULL);
    r->noted = 0;
}

void cv_latency_ring_destroy(cv_latency_ring_t *r) { pthread_mutex_destroy(&r->mu); }

void cv_latency_ring_note(cv_latency_ring_t *r, double ms)
{
    pthread_mutex_lock(&r->mu);
    r->ms[r->noted % CV_LATENCY_RING] = ms;
    r->noted++;
    pthread_mutex_unlock(&r->mu);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cv_latency_ring_percentiles(cv_latency_ring_t *r, const double *q, int nq, double *out)
{
    /* Copied out under the lock and sorted outside it, so a page refresh
     * never holds up the requests that note their latencies. */
    double sorted[CV_LATENCY_RING];
    pthread_mutex_lock(&r->mu);
    int n = (int)CV_MIN(r->noted, (long)CV_LATENCY_RING);
    memcpy(sorted, r->ms, (size_t)n * sizeof(double));
    pthread_mutex_unlock(&r->mu);
    qsort(sorted, (size_t)n, sizeof(double), compare_double);
    for (int i = 0; i < nq; i++) {
        if (n == 0) {
            out[i] = 0;
            continue;
        }
        /* Nearest rank, ceil(q n) - 1, with a guard against q n landing a
         * hair above an integer (0.99 * 100 = 99.00000000000001). */
        double rank = ceil(q[i] * (double)n - 1e-9);
        int k = rank < 1 ? 0 : (int)rank - 1;
        out[i] = sorted[k < n ? k : n - 1];
    }
    return n;
}

/* ---- records -------------------------------------------------------------- */

static cv_served_t *record_new(cv_registry_t *reg, const char *model, int64_t version)
{
    cv_served_t *s = cv_calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->model = cv_strdup(model);
    size_t len = strlen(model) + 24;
    s->tenant_name = cv_malloc(len);
    if (!s->model || !s->tenant_name) {
        cv_free(s->model);
        cv_free(s->tenant_name);
        cv_free(s);
        return NULL;
    }
    s->version = version;
    snprintf(s->version_str, sizeof s->version_str, "%lld", (long long)version);
    snprintf(s->tenant_name, len, "%s/%lld", model, (long long)version);
    s->state = CV_SERVED_LOADING;
    s->registry = reg;
    pthread_rwlock_init(&s->lock, NULL);
    atomic_init(&s->refs, 1);
    atomic_init(&s->rows, 0);
    atomic_init(&s->last_inference_ms, 0);
    atomic_init(&s->invalid, 0);
    cv_latency_ring_init(&s->latency);
    return s;
}

void cv_served_release(cv_served_t *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    cv_model_sig_free(&s->sig);
    pthread_rwlock_destroy(&s->lock);
    cv_latency_ring_destroy(&s->latency);
    cv_free(s->model);
    cv_free(s->tenant_name);
    cv_free(s);
}

/* Forgets a record's replicas (their tenants unloaded, or never made
 * READY) and credits their devices. Under reg->mu. */
static void drop_replicas(cv_registry_t *reg, cv_served_t *s)
{
    for (int k = 0; k < s->nreplicas; k++) {
        reg_device_t *d = &reg->devices[s->replicas[k].device];
        CV_ASSERT(d->placed >= s->replicas[k].bytes && d->replicas > 0);
        d->placed -= s->replicas[k].bytes;
        d->replicas--;
    }
    s->nreplicas = 0;
}

/* Sets a record's state (and reason) under reg->mu and its write lock. */
static void set_state(cv_registry_t *reg, cv_served_t *s, cv_served_state_t state, const char *reason)
{
    pthread_mutex_lock(&reg->mu);
    pthread_rwlock_wrlock(&s->lock);
    s->state = state;
    snprintf(s->reason, sizeof s->reason, "%s", reason ? reason : "");
    if (state != CV_SERVED_READY && state != CV_SERVED_UNLOADING) drop_replicas(reg, s);
    pthread_rwlock_unlock(&s->lock);
    pthread_mutex_unlock(&reg->mu);
}

/* Takes every record of `model` out of the list (under reg->mu). */
static cv_served_t *detach_model(cv_registry_t *reg, const char *model)
{
    cv_served_t *taken = NULL, **link = &reg->records;
    while (*link) {
        cv_served_t *s = *link;
        if (!strcmp(s->model, model)) {
            *link = s->next;
            s->next = taken;
            taken = s;
        } else {
            link = &s->next;
        }
    }
    return taken;
}

/* Unloads the tenants of the READY records of `model` (every model when
 * NULL) and returns how many. Under load_mu, which every change to the
 * list holds, so the list is walked without reg->mu. The records stay in
 * the list, UNAVAILABLE ("unloaded"). */
static int unload_model(cv_registry_t *reg, const char *model)
{
    int n = 0;
    for (cv_served_t *s = reg->records; s; s = s->next) {
        if (model && strcmp(s->model, model) != 0) continue;
        pthread_mutex_lock(&reg->mu);
        pthread_rwlock_wrlock(&s->lock);
        bool ready = s->state == CV_SERVED_READY;
        if (ready) s->state = CV_SERVED_UNLOADING;
        pthread_rwlock_unlock(&s->lock);
        pthread_mutex_unlock(&reg->mu);
        if (!ready) continue;
        /* No request of it is made or submitted from here on (both check
         * the state under the read lock), as cv_tenant_unload asks. The
         * replicas stay listed (and charged) until every one is gone. */
        for (int k = 0; k < s->nreplicas; k++)
            cv_tenant_unload(reg->devices[s->replicas[k].device].rt, s->replicas[k].tenant);
        set_state(reg, s, CV_SERVED_UNAVAILABLE, "unloaded");
        cv_log(CV_LOG_INFO, "unloaded %s", s->tenant_name);
        n++;
    }
    return n;
}

static void release_list(cv_served_t *list)
{
    while (list) {
        cv_served_t *next = list->next;
        list->next = NULL;
        cv_served_release(list);
        list = next;
    }
}

/* ---- the registry ------------------------------------------------------- */

cv_status cv_registry_create_devices(const cv_registry_device_t *devices, int n, const char *repo,
                                     cv_registry_t **out, cv_err_t *err)
{
    *out = NULL;
    if (n < 1 || n > CV_PLACE_MAX_DEVICES)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "a registry serves 1 to %d devices, not %d",
                         CV_PLACE_MAX_DEVICES, n);
    for (int i = 0; i < n; i++) {
        if (!devices[i].rt || !devices[i].name || !devices[i].name[0] || strlen(devices[i].name) >= DEVICE_NAME_MAX)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "device %d: a runtime and a name of 1 to %d "
                             "characters are needed", i, DEVICE_NAME_MAX - 1);
        for (int j = 0; j < i; j++)
            if (!strcmp(devices[i].name, devices[j].name) || devices[i].rt == devices[j].rt)
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "device '%s' is listed twice", devices[i].name);
    }
    cv_registry_t *reg = cv_calloc(1, sizeof(*reg));
    if (!reg || !(reg->repo = cv_strdup(repo))) {
        cv_free(reg);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the model registry");
    }
    reg->ndevices = n;
    for (int i = 0; i < n; i++) {
        reg_device_t *d = &reg->devices[i];
        d->rt = devices[i].rt;
        snprintf(d->name, sizeof d->name, "%s", devices[i].name);
        d->budget = devices[i].budget_bytes ? devices[i].budget_bytes : CV_PLACE_UNLIMITED;
    }
    pthread_mutex_init(&reg->mu, NULL);
    pthread_mutex_init(&reg->load_mu, NULL);
    *out = reg;
    return CV_STATUS_OK;
}

cv_status cv_registry_create(cv_runtime_t *rt, const char *repo, cv_registry_t **out, cv_err_t *err)
{
    cv_device_info_t info;
    char name[DEVICE_NAME_MAX] = "cpu";
    if (cv_runtime_device_info(rt, &info, NULL) == CV_STATUS_OK && info.device == CV_DEVICE_CUDA)
        snprintf(name, sizeof name, "cuda:%d", info.index);
    cv_registry_device_t device = {.rt = rt, .name = name};
    return cv_registry_create_devices(&device, 1, repo, out, err);
}

void cv_registry_destroy(cv_registry_t *reg)
{
    if (!reg) return;
    pthread_mutex_lock(&reg->load_mu);
    unload_model(reg, NULL);
    pthread_mutex_lock(&reg->mu);
    cv_served_t *all = reg->records;
    reg->records = NULL;
    pthread_mutex_unlock(&reg->mu);
    release_list(all);
    pthread_mutex_unlock(&reg->load_mu);
    pthread_mutex_destroy(&reg->mu);
    pthread_mutex_destroy(&reg->load_mu);
    cv_free(reg->repo);
    cv_free(reg);
}

const char *cv_registry_repo(const cv_registry_t *reg) { return reg->repo; }
int cv_registry_devices(const cv_registry_t *reg) { return reg->ndevices; }

cv_runtime_t *cv_registry_device_runtime(const cv_registry_t *reg, int device)
{
    CV_ASSERT(device >= 0 && device < reg->ndevices);
    return reg->devices[device].rt;
}

const char *cv_registry_device_name(const cv_registry_t *reg, int device)
{
    CV_ASSERT(device >= 0 && device < reg->ndevices);
    return reg->devices[device].name;
}

/* The device's free memory as it reports it, for placement: a GPU's
 * (every process's use counts), CV_PLACE_UNLIMITED for a CPU device. */
static size_t reported_free(const cv_device_info_t *info, bool has_info)
{
    return has_info && info->total_bytes > 0 ? info->free_bytes : CV_PLACE_UNLIMITED;
}

void cv_registry_device_usage(cv_registry_t *reg, int device, cv_registry_usage_t *out)
{
    CV_ASSERT(device >= 0 && device < reg->ndevices);
    memset(out, 0, sizeof(*out));
    reg_device_t *d = &reg->devices[device];
    /* The driver is asked outside reg->mu: it may take a while. */
    out->has_info = cv_runtime_device_info(d->rt, &out->info, NULL) == CV_STATUS_OK;
    pthread_mutex_lock(&reg->mu);
    cv_place_device_t p = {.budget = d->budget, .resident = d->placed,
                           .reported_free = reported_free(&out->info, out->has_info)};
    out->budget = d->budget;
    out->placed = d->placed;
    out->replicas = d->replicas;
    pthread_mutex_unlock(&reg->mu);
    out->free = cv_place_free(&p);
}

/* The bytes a placement decision starts from: what cv_model_probe finds
 * the weights take (after folding), which is what a tenant holds on a
 * device; the file's size when the probe could not read the model (the
 * load then fails with the reason). */
static size_t estimate_bytes(const char *path, const cv_model_probe_t *probe, bool probed)
{
    if (probed) return probe->weight_bytes;
    struct stat sb;
    return stat(path, &sb) == 0 && sb.st_size > 0 ? (size_t)sb.st_size : 0;
}

/* Places one more replica of LOADING record s (the replicas it has are
 * excluded) and loads it there: the devices in placement.h's order, the
 * next one when a device runs out of memory while loading or the loaded
 * tenant turns out larger than the device's free bytes. Under load_mu.
 * OUT_OF_MEMORY with placement's line when it fits nowhere; the load's
 * status for a model that cannot load at all. */
static cv_status place_replica(cv_registry_t *reg, cv_served_t *s, const char *path, const cv_repo_config_t *config,
                               uint64_t family, size_t estimate, cv_err_t *err)
{
    int n = reg->ndevices;
    cv_place_device_t devs[CV_PLACE_MAX_DEVICES];
    memset(devs, 0, sizeof devs);
    for (int i = 0; i < n; i++) {
        reg_device_t *d = &reg->devices[i];
        cv_device_info_t info;
        bool has_info = cv_runtime_device_info(d->rt, &info, NULL) == CV_STATUS_OK;
        cv_runtime_stats_t rs;
        cv_runtime_stats(d->rt, &rs);
        devs[i].name = d->name;
        devs[i].budget = d->budget;
        devs[i].reported_free = reported_free(&info, has_info);
        devs[i].load = rs.queued + rs.in_flight;
    }
    pthread_mutex_lock(&reg->mu);
    for (int i = 0; i < n; i++) devs[i].resident = reg->devices[i].placed;
    for (int k = 0; k < s->nreplicas; k++) devs[s->replicas[k].device].excluded = true;
    for (cv_served_t *o = reg->records; o; o = o->next)
        if ((o->state == CV_SERVED_READY || o->state == CV_SERVED_UNLOADING) && o->family_hash == family)
            for (int k = 0; k < o->nreplicas; k++) devs[o->replicas[k].device].family_members++;
    pthread_mutex_unlock(&reg->mu);

    int order[CV_PLACE_MAX_DEVICES];
    int ncandidates = cv_place_rank(devs, n, estimate, order, err);
    if (ncandidates == 0) return CV_STATUS_OUT_OF_MEMORY;
    cv_status st = CV_STATUS_OUT_OF_MEMORY;
    for (int c = 0; c < ncandidates; c++) {
        int i = order[c];
        reg_device_t *d = &reg->devices[i];
        cv_tenant_t *t = NULL;
        st = cv_tenant_load_config(d->rt, s->tenant_name, path, &config->tenant, &t, err);
        if (st == CV_STATUS_OUT_OF_MEMORY) {
            cv_log(CV_LOG_WARN, "%s: no room on %s (%s); trying the next device", s->tenant_name, d->name, err->msg);
            continue;
        }
        if (st != CV_STATUS_OK) return st; /* the model itself: it fails everywhere alike */
        cv_device_info_t info;
        bool on_gpu = cv_runtime_device_info(d->rt, &info, NULL) == CV_STATUS_OK && info.total_bytes > 0;
        /* What the load took on the device: its own constants and the
         * weight tensors no tenant there had (a tenant that shares a
         * backbone costs its head), not its share of what it reads. */
        cv_tenant_memory_t mem;
        cv_tenant_memory(t, &mem);
        size_t bytes = on_gpu ? mem.loaded_device_bytes : estimate;
        size_t room = cv_place_free(&devs[i]);
        if (bytes > room) {
            char need[32], have[32];
            cv_tenant_unload(d->rt, t);
            st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "needs %s once loaded on %s, which has %s free",
                           cv_place_bytes_str(bytes, need, sizeof need), d->name,
                           cv_place_bytes_str(room, have, sizeof have));
            cv_log(CV_LOG_WARN, "%s: %s; trying the next device", s->tenant_name, err->msg);
            continue;
        }
        /* Charged now, so that the next replica's (or model's) placement
         * sees it, though the record is READY only once all are placed. */
        pthread_mutex_lock(&reg->mu);
        s->replicas[s->nreplicas++] = (cv_replica_t){.tenant = t, .device = i, .bytes = bytes};
        d->placed += bytes;
        d->replicas++;
        pthread_mutex_unlock(&reg->mu);
        return CV_STATUS_OK;
    }
    return st;
}

/* Unloads the replicas of a record that never became READY. Under load_mu. */
static void unload_replicas(cv_registry_t *reg, cv_served_t *s)
{
    for (int k = 0; k < s->nreplicas; k++)
        cv_tenant_unload(reg->devices[s->replicas[k].device].rt, s->replicas[k].tenant);
    pthread_mutex_lock(&reg->mu);
    drop_replicas(reg, s);
    pthread_mutex_unlock(&reg->mu);
}

/* Loads one version into a LOADING record, on as many devices as its
 * replicas ask (at most one each); the record ends READY or UNAVAILABLE
 * with the reason. */
static cv_status load_version(cv_registry_t *reg, cv_served_t *s, const cv_repo_config_t *config, cv_err_t *err)
{
    char path[4096];
    cv_model_probe_t probe = {0};
    bool probed = false;
    cv_status st = cv_repo_model_path(reg->repo, s->model, s->version, path, sizeof path, err);
    /* Its family and size before it goes anywhere: a family's tenants
     * share waves only on one device, and a budget is kept before a load,
     * not after. With a single device and no budget there is no choice to
     * make, and no second parse to pay for. */
    if (st == CV_STATUS_OK && (reg->ndevices > 1 || reg->devices[0].budget != CV_PLACE_UNLIMITED)) {
        st = cv_model_probe(reg->devices[0].rt, path, &config->tenant, &probe, err);
        probed = st == CV_STATUS_OK;
    }
    int want = CV_MIN(config->replicas > 0 ? config->replicas : 1, reg->ndevices);
    if (st == CV_STATUS_OK)
        st = place_replica(reg, s, path, config, probe.family_hash, estimate_bytes(path, &probe, probed), err);
    if (st == CV_STATUS_OK) st = cv_model_sig_from_tenant(s->replicas[0].tenant, &s->sig, err);
    if (st != CV_STATUS_OK) {
        unload_replicas(reg, s);
        cv_err_prefix(err, "model '%s' version %lld", s->model, (long long)s->version);
        set_state(reg, s, CV_SERVED_UNAVAILABLE, err->msg);
        cv_log(CV_LOG_ERROR, "%s", err->msg);
        return st;
    }
    /* The family as loaded. The probe's equals it when the devices'
     * runtimes are configured alike, as registry.h asks; if not, the
     * placement of this one may have missed its family, which is worth a
     * line but not the server. */
    uint64_t family = cv_tenant_family_hash(s->replicas[0].tenant);
    if (probed && family != probe.family_hash)
        cv_log(CV_LOG_WARN, "%s: its family on %s differs from the one probed on %s (runtimes configured apart?)",
               s->tenant_name, reg->devices[s->replicas[0].device].name, reg->devices[0].name);
    s->config = *cv_tenant_config(s->replicas[0].tenant);
    s->family_hash = family;
    for (int r = 1; r < want; r++) {
        cv_err_t one;
        if (place_replica(reg, s, path, config, family, estimate_bytes(path, &probe, probed), &one) != CV_STATUS_OK) {
            cv_log(CV_LOG_WARN, "model '%s' version %lld: serving %d of its %d replicas: replica %d %s", s->model,
                   (long long)s->version, r, want, r + 1, one.msg);
            break;
        }
    }
    pthread_mutex_lock(&reg->mu);
    pthread_rwlock_wrlock(&s->lock);
    s->state = CV_SERVED_READY;
    s->reason[0] = 0;
    pthread_rwlock_unlock(&s->lock);
    pthread_mutex_unlock(&reg->mu);
    char where[CV_PLACE_MAX_DEVICES * (DEVICE_NAME_MAX + 2)];
    size_t at = 0;
    where[0] = 0;
    for (int k = 0; k < s->nreplicas && at < sizeof where; k++)
        at += (size_t)snprintf(where + at, sizeof where - at, "%s%s", k ? ", " : "",
                               reg->devices[s->replicas[k].device].name);
    cv_log(CV_LOG_INFO, "loaded %s (%s) on %s", s->tenant_name, path, where);
    return CV_STATUS_OK;
}

static void record_failure_versions(cv_registry_t *reg, const char *model, const int64_t *versions, int n,
                                    const char *reason)
{
    for (int i = 0; i < n; i++) {
        cv_served_t *s = record_new(reg, model, versions[i]);
        if (!s) return; /* the index then lists it "not loaded" */
        s->state = CV_SERVED_UNAVAILABLE;
        snprintf(s->reason, sizeof s->reason, "%s", reason);
        pthread_mutex_lock(&reg->mu);
        s->next = reg->records;
        reg->records = s;
        pthread_mutex_unlock(&reg->mu);
    }
}

/* A model whose config is refused: unless a version of it serves, each
 * version on disk reads UNAVAILABLE with the reason in the index. Under
 * load_mu. */
static void record_failure(cv_registry_t *reg, const char *model, const int64_t *versions, int nversions,
                           const char *reason)
{
    bool serving = false;
    pthread_mutex_lock(&reg->mu);
    for (cv_served_t *s = reg->records; s; s = s->next) serving |= !strcmp(s->model, model) && s->state == CV_SERVED_READY;
    cv_served_t *old = serving ? NULL : detach_model(reg, model);
    pthread_mutex_unlock(&reg->mu);
    release_list(old);
    if (serving) return;
    if (!versions) {
        /* The config failed before the versions were listed. */
        int64_t *listed = NULL;
        int n = 0;
        if (cv_repo_list_versions(reg->repo, model, &listed, &n, NULL) == CV_STATUS_OK)
            record_failure_versions(reg, model, listed, n, reason);
        cv_free(listed);
        return;
    }
    record_failure_versions(reg, model, versions, nversions, reason);
}

cv_status cv_registry_load(cv_registry_t *reg, const char *model, cv_err_t *err)
{
    if (!cv_repo_name_valid(model))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "invalid model name: one path segment of letters, digits, '_', '.', '-' is expected");
    pthread_mutex_lock(&reg->load_mu);
    cv_repo_config_t config;
    int64_t *versions = NULL;
    int nversions = 0;
    cv_status st = cv_repo_config_read(reg->repo, model, &config, err);
    if (st == CV_STATUS_OK) st = cv_repo_list_versions(reg->repo, model, &versions, &nversions, err);
    if (st == CV_STATUS_OK && nversions == 0)
        st = cv_errorf(err, CV_STATUS_NOT_FOUND, "model '%s' has no version folder with a model.onnx", model);
    if (st != CV_STATUS_OK) {
        /* What is loaded now stays loaded: a broken config or an emptied
         * folder does not take a serving model down. */
        if (st != CV_STATUS_NOT_FOUND) record_failure(reg, model, versions, nversions, err ? err->msg : "");
        pthread_mutex_unlock(&reg->load_mu);
        cv_free(versions);
        return st;
    }
    /* A reload: the versions loaded now go first (tenant names are unique). */
    unload_model(reg, model);
    pthread_mutex_lock(&reg->mu);
    cv_served_t *old = detach_model(reg, model);
    pthread_mutex_unlock(&reg->mu);
    release_list(old);

    cv_served_t **fresh = cv_calloc((size_t)nversions, sizeof(*fresh));
    for (int i = 0; fresh && i < nversions; i++)
        if (!(fresh[i] = record_new(reg, model, versions[i]))) break;
    bool made = fresh && fresh[nversions - 1];
    cv_free(versions);
    if (!made) {
        for (int i = 0; fresh && i < nversions; i++) cv_served_release(fresh[i]);
        cv_free(fresh);
        pthread_mutex_unlock(&reg->load_mu);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory loading model '%s'", model);
    }
    /* In the list while LOADING, for the index. */
    pthread_mutex_lock(&reg->mu);
    for (int i = 0; i < nversions; i++) {
        fresh[i]->next = reg->records;
        reg->records = fresh[i];
    }
    pthread_mutex_unlock(&reg->mu);
    cv_err_t one;
    for (int i = 0; i < nversions; i++) {
        cv_status version_st = load_version(reg, fresh[i], &config, &one);
        if (version_st != CV_STATUS_OK && st == CV_STATUS_OK) {
            st = version_st;
            if (err) *err = one;
        }
    }
    cv_free(fresh);
    pthread_mutex_unlock(&reg->load_mu);
    return st;
}

cv_status cv_registry_load_all(cv_registry_t *reg, cv_err_t *err)
{
    cv_repo_names_t models;
    cv_status st = cv_repo_list_models(reg->repo, &models, err);
    if (st != CV_STATUS_OK) return st;
    cv_err_t one;
    for (int i = 0; i < models.count; i++) {
        cv_status model_st = cv_registry_load(reg, models.names[i], &one);
        if (model_st != CV_STATUS_OK && st == CV_STATUS_OK) {
            st = model_st;
            if (err) *err = one;
        }
    }
    cv_repo_names_free(&models);
    return st;
}

cv_status cv_registry_unload(cv_registry_t *reg, const char *model, cv_err_t *err)
{
    if (!cv_repo_name_valid(model))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "invalid model name: one path segment of letters, digits, '_', '.', '-' is expected");
    pthread_mutex_lock(&reg->load_mu);
    bool known = false;
    pthread_mutex_lock(&reg->mu);
    for (cv_served_t *s = reg->records; s; s = s->next) known |= !strcmp(s->model, model);
    pthread_mutex_unlock(&reg->mu);
    cv_status st = CV_STATUS_OK;
    if (!known) {
        int64_t *versions = NULL;
        int n = 0;
        st = cv_repo_list_versions(reg->repo, model, &versions, &n, err);
        cv_free(versions);
        if (st == CV_STATUS_NOT_FOUND)
            st = cv_errorf(err, CV_STATUS_NOT_FOUND, "no model '%s' is loaded or in the repository", model);
    }
    unload_model(reg, model);
    pthread_mutex_unlock(&reg->load_mu);
    return st;
}

cv_status cv_registry_acquire(cv_registry_t *reg, const char *model, int64_t version, cv_served_t **out,
                              cv_err_t *err)
{
    *out = NULL;
    pthread_mutex_lock(&reg->mu);
    cv_served_t *best = NULL;
    bool known = false;
    for (cv_served_t *s = reg->records; s; s = s->next) {
        if (strcmp(s->model, model) != 0) continue;
        known = true;
        if (s->state != CV_SERVED_READY) continue;
        if (version >= 0 ? s->version == version : (!best || s->version > best->version)) best = s;
    }
    if (best) atomic_fetch_add(&best->refs, 1);
    pthread_mutex_unlock(&reg->mu);
    if (best) {
        *out = best;
        return CV_STATUS_OK;
    }
    if (version >= 0)
        return cv_errorf(err, CV_STATUS_NOT_FOUND, "model '%s' version %lld is not %s", model, (long long)version,
                         known ? "ready" : "known (see the repository index)");
    return cv_errorf(err, CV_STATUS_NOT_FOUND, "model '%s' is not %s", model,
                     known ? "ready" : "known (see the repository index)");
}

static int compare_records(const void *a, const void *b)
{
    const cv_served_t *x = *(cv_served_t *const *)a, *y = *(cv_served_t *const *)b;
    int c = strcmp(x->model, y->model);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

cv_status cv_registry_ready(cv_registry_t *reg, const char *model, cv_served_t ***out, int *count, cv_err_t *err)
{
    *out = NULL;
    *count = 0;
    pthread_mutex_lock(&reg->mu);
    int n = 0;
    for (cv_served_t *s = reg->records; s; s = s->next)
        n += s->state == CV_SERVED_READY && (!model || !strcmp(s->model, model));
    cv_served_t **list = cv_calloc((size_t)n + 1, sizeof(*list));
    if (!list) {
        pthread_mutex_unlock(&reg->mu);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory listing models");
    }
    int k = 0;
    for (cv_served_t *s = reg->records; s; s = s->next)
        if (s->state == CV_SERVED_READY && (!model || !strcmp(s->model, model))) {
            atomic_fetch_add(&s->refs, 1);
            list[k++] = s;
        }
    pthread_mutex_unlock(&reg->mu);
    if (k) qsort(list, (size_t)k, sizeof(*list), compare_records);
    *out = list;
    *count = k;
    return CV_STATUS_OK;
}

static int compare_rows(const void *a, const void *b)
{
    const cv_registry_row_t *x = a, *y = b;
    int c = strcmp(x->model, y->model);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

/* Appends a row unless (model, version) is there already; `s`, when
 * given, lends its replicas' devices. */
static cv_status add_row(cv_registry_row_t **rows, int *n, int *cap, const char *model, int64_t version,
                         cv_served_state_t state, const char *reason, const cv_served_t *s)
{
    for (int i = 0; i < *n; i++)
        if ((*rows)[i].version == version && !strcmp((*rows)[i].model, model)) return CV_STATUS_OK;
    if (cv_grow((void **)rows, sizeof(**rows), *n, cap) != CV_STATUS_OK) return CV_STATUS_OUT_OF_MEMORY;
    cv_registry_row_t *r = &(*rows)[(*n)++];
    memset(r, 0, sizeof(*r));
    snprintf(r->model, sizeof r->model, "%s", model);
    r->version = version;
    r->state = state;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    if (s && (state == CV_SERVED_READY || state == CV_SERVED_UNLOADING))
        for (int k = 0; k < s->nreplicas; k++) r->devices[r->ndevices++] = s->replicas[k].device;
    return CV_STATUS_OK;
}

cv_status cv_registry_index(cv_registry_t *reg, bool ready_only, cv_registry_row_t **out, int *count, cv_err_t *err)
{
    *out = NULL;
    *count = 0;
    cv_registry_row_t *rows = NULL;
    int n = 0, cap = 0;
    cv_status st = CV_STATUS_OK;
    pthread_mutex_lock(&reg->mu);
    for (cv_served_t *s = reg->records; s && st == CV_STATUS_OK; s = s->next)
        if (!ready_only || s->state == CV_SERVED_READY)
            st = add_row(&rows, &n, &cap, s->model, s->version, s->state, s->reason, s);
    pthread_mutex_unlock(&reg->mu);
    if (st == CV_STATUS_OK && !ready_only) {
        /* Versions on disk the registry has never loaded. A repository
         * that cannot be read lists what is loaded only. */
        cv_repo_names_t models;
        if (cv_repo_list_models(reg->repo, &models, NULL) == CV_STATUS_OK) {
            for (int m = 0; m < models.count && st == CV_STATUS_OK; m++) {
                int64_t *versions = NULL;
                int nv = 0;
                if (cv_repo_list_versions(reg->repo, models.names[m], &versions, &nv, NULL) != CV_STATUS_OK) continue;
                for (int v = 0; v < nv && st == CV_STATUS_OK; v++)
                    st = add_row(&rows, &n, &cap, models.names[m], versions[v], CV_SERVED_UNAVAILABLE, "not loaded",
                                 NULL);
                cv_free(versions);
            }
            cv_repo_names_free(&models);
        }
    }
    if (st != CV_STATUS_OK) {
        cv_free(rows);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the repository index");
    }
    if (n) qsort(rows, (size_t)n, sizeof(*rows), compare_rows);
    *out = rows;
    *count = n;
    return CV_STATUS_OK;
}

/* ---- requests through a record ---------------------------------------- */

static cv_status not_ready(const cv_served_t *s, cv_err_t *err)
{
    return cv_errorf(err, CV_STATUS_UNAVAILABLE, "model '%s' version %s is %s", s->model, s->version_str,
                     s->state == CV_SERVED_UNLOADING ? "being unloaded" : "not loaded any more");
}

/* The replica the next request goes to. Under s's read lock, READY. */
static const cv_replica_t *pick_replica(cv_served_t *s)
{
    if (s->nreplicas == 1) return &s->replicas[0];
    long load[CV_PLACE_MAX_DEVICES];
    for (int k = 0; k < s->nreplicas; k++) {
        cv_request_stats_t st;
        cv_tenant_stats(s->registry->devices[s->replicas[k].device].rt, s->replicas[k].tenant, &st);
        load[k] = st.queued + st.in_flight;
    }
    unsigned turn = atomic_fetch_add(&s->turn, 1);
    return &s->replicas[cv_place_pick_replica(load, s->nreplicas, turn)];
}

cv_status cv_served_request_create(cv_served_t *s, int64_t rows, cv_request_t **out, cv_err_t *err)
{
    pthread_rwlock_rdlock(&s->lock);
    cv_status st;
    if (s->state == CV_SERVED_READY) {
        const cv_replica_t *r = pick_replica(s);
        st = cv_request_create(s->registry->devices[r->device].rt, r->tenant, rows, out, err);
    } else {
        st = not_ready(s, err);
    }
    pthread_rwlock_unlock(&s->lock);
    return st;
}

cv_status cv_served_submit(cv_served_t *s, cv_request_t *req, cv_request_done_fn done, void *user, cv_err_t *err)
{
    pthread_rwlock_rdlock(&s->lock);
    cv_status st;
    if (s->state == CV_SERVED_READY) {
        bool ours = false;
        for (int k = 0; k < s->nreplicas; k++) ours |= s->replicas[k].tenant == cv_request_tenant(req);
        st = ours ? cv_submit(cv_request_runtime(req), req, done, user, err)
                  : cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "a request of another model than '%s' version %s",
                              s->model, s->version_str);
    } else {
        st = not_ready(s, err);
    }
    pthread_rwlock_unlock(&s->lock);
    return st;
}

void cv_request_stats_add(cv_request_stats_t *a, const cv_request_stats_t *b)
{
    a->submitted += b->submitted;
    for (int o = 0; o < CV_OUTCOME_COUNT; o++) a->outcomes[o] += b->outcomes[o];
    a->fused += b->fused;
    a->slo_met += b->slo_met;
    a->waves += b->waves;
    for (int w = 0; w < CV_WAVE_HISTOGRAM; w++) a->wave_widths[w] += b->wave_widths[w];
    a->queued += b->queued;
    a->in_flight += b->in_flight;
    a->queued_ms_sum += b->queued_ms_sum;
    a->computed_ms_sum += b->computed_ms_sum;
    a->total_ms_sum += b->total_ms_sum;
}

int cv_served_replica_stats(cv_served_t *s, cv_replica_stats_t *out)
{
    pthread_rwlock_rdlock(&s->lock);
    int n = s->state == CV_SERVED_READY ? s->nreplicas : 0;
    for (int k = 0; k < n; k++) {
        const cv_replica_t *r = &s->replicas[k];
        cv_runtime_t *rt = s->registry->devices[r->device].rt;
        cv_replica_stats_t *o = &out[k];
        o->device = r->device;
        o->bytes = r->bytes;
        cv_tenant_memory_t mem;
        cv_tenant_memory(r->tenant, &mem);
        o->host_bytes = mem.host_own + mem.host_shared;
        o->device_bytes = mem.device_own + mem.device_shared;
        o->host_shared_bytes = mem.host_shared;
        o->device_shared_bytes = mem.device_shared;
        cv_tenant_stats(rt, r->tenant, &o->tenant);
        cv_family_stats(rt, r->tenant, &o->family);
    }
    pthread_rwlock_unlock(&s->lock);
    return n;
}

bool cv_served_stats(cv_served_t *s, cv_request_stats_t *stats, size_t *host_bytes, size_t *device_bytes)
{
    cv_replica_stats_t replicas[CV_PLACE_MAX_DEVICES];
    int n = cv_served_replica_stats(s, replicas);
    if (n == 0) return false;
    memset(stats, 0, sizeof(*stats));
    if (host_bytes) *host_bytes = 0;
    if (device_bytes) *device_bytes = 0;
    for (int k = 0; k < n; k++) {
        cv_request_stats_add(stats, &replicas[k].tenant);
        if (host_bytes) *host_bytes += replicas[k].host_bytes;
        if (device_bytes) *device_bytes += replicas[k].device_bytes;
    }
    return true;
}
