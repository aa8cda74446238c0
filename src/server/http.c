/*
 * http.c: the server's libmicrohttpd glue: the two daemons (the protocol
 * port, the metrics port), routing of PROTOCOL.md's endpoints, the life of
 * one HTTP request (a "call"), the control thread that loads and unloads
 * models, and shutdown.
 *
 * The life of an inference call, never blocking an HTTP thread:
 *   1. headers: route, find the model (a registry reference), start the
 *      body decoder (codec.h) with Content-Length and
 *      Inference-Header-Content-Length;
 *   2. body pieces: fed to the decoder, which, once the JSON header is in,
 *      makes the request (cv_request_create: its buffers are the
 *      runtime's, pinned on CUDA) and writes every later binary byte
 *      straight into its input tensors;
 *   3. end of body: cv_submit with on_answered, then suspend the
 *      connection (unless the answer came first);
 *   4. on_answered (a runtime thread) marks the call answered and resumes
 *      the connection; nothing else;
 *   5. the HTTP thread is called again: it encodes the outputs (binary ones
 *      are sent from the request's own buffers with an iovec response,
 *      which destroys the request when it is freed).
 * Errors found while a body is still arriving are kept and answered once
 * it has been read (libmicrohttpd answers only then), so the connection
 * stays usable.
 *
 * Suspend/resume: MHD_resume_connection may be called from any thread (the
 * daemons run with MHD_ALLOW_SUSPEND_RESUME, so an inter-thread channel
 * wakes them); resuming a connection that is not suspended is undefined,
 * so a call's `mu` orders the two: the HTTP thread suspends only if the
 * answer has not come, under `mu`, and the answerer resumes only what was
 * suspended, deciding under `mu` and calling libmicrohttpd after.
 *
 * A client that disconnects costs nothing more: a call still uploading is
 * freed with its unsubmitted request; a submitted one runs, and its answer
 * is dropped when libmicrohttpd finds the socket closed after the resume.
 */
#include "server/server.h"

#include "core/core.h"
#include "repo/repo.h"
#include "server/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Per-connection memory libmicrohttpd reads into: headers, and the body
 * pieces handed to the access handler. libmicrohttpd zeroes all of it
 * before each request of a keep-alive connection, so it costs every
 * request; smaller pools cost large bodies more (more, smaller pieces).
 * docs/SERVING.md has the measurement behind 256 KB. */
#define CONNECTION_MEMORY (256 * 1024)
/* Binary answers up to this size go out as one buffer (respond_infer_answer). */
#define SMALL_ANSWER_BYTES (64 * 1024)

typedef enum route_kind {
    ROUTE_NONE = 0,
    ROUTE_LIVE,
    ROUTE_READY,
    ROUTE_SERVER_METADATA,
    ROUTE_MODEL_METADATA,
    ROUTE_MODEL_READY,
    ROUTE_INFER,
    ROUTE_CONFIG,
    ROUTE_STATS,
    ROUTE_INDEX,
    ROUTE_LOAD,
    ROUTE_UNLOAD,
    ROUTE_METRICS,
    ROUTE_PAGE,   /* the status page */
    ROUTE_STATUS, /* its JSON */
} route_kind_t;

typedef struct route {
    route_kind_t kind;
    const char *method; /* the one verb it answers */
    char model[CV_REPO_NAME_MAX + 1];
    bool has_model;
    bool bad_model;   /* the model segment is not a valid name */
    int64_t version;  /* -1: none given */
    bool bad_version;
} route_t;

struct cv_server {
    cv_registry_t *reg; /* and, through it, the runtime of each device */
    cv_server_options_t opt;
    char *control_token;
    char *bind;
    struct MHD_Daemon *http, *metrics;
    int http_port, metrics_port;
    uint64_t started_ns;     /* cv_clock_ns at start, for the uptime */
    cv_live_server_t live;   /* the status document's server part, but the clocks and gauges */

    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;
    bool stopping;
    long pending; /* submitted calls whose answer has not come */
    long active;  /* calls alive */

    pthread_t control;
    bool control_running, control_stop;
    struct cv_call *jobs, *jobs_tail;
    pthread_cond_t control_cv;
};

/* One HTTP request. */
typedef struct cv_call {
    cv_server_t *srv;
    struct MHD_Connection *conn;
    route_t route;
    bool metrics_port;

    /* an answer decided before the body was read: sent once it has been */
    unsigned error_code;
    char *error_msg;

    size_t content_length; /* CV_CODEC_UNKNOWN when not given */
    size_t received;
    cv_sbuf_t body;        /* non-inference bodies (small JSON) */

    /* inference */
    cv_served_t *served;
    bool body_started;
    cv_infer_body_t decoder;
    cv_request_t *req;
    bool submitted;

    /* parking: suspended until answered (inference, load, unload) */
    pthread_mutex_t mu;
    bool parked, answered, orphaned;

    /* load / unload */
    bool queued;
    cv_status job_status;
    cv_err_t job_err;
    struct cv_call *next_job;
} cv_call_t;

/* ---- small helpers ---------------------------------------------------------- */

static long long now_epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The HTTP status of a library status, as PROTOCOL.md maps them. */
static unsigned http_code_of(cv_status st)
{
    switch (st) {
    case CV_STATUS_OK: return MHD_HTTP_OK;
    case CV_STATUS_INVALID_ARGUMENT: return MHD_HTTP_BAD_REQUEST;
    case CV_STATUS_NOT_FOUND: return MHD_HTTP_NOT_FOUND;
    case CV_STATUS_UNSUPPORTED: return MHD_HTTP_NOT_IMPLEMENTED;
    case CV_STATUS_OUT_OF_MEMORY: /* transient: worth a retry */
    case CV_STATUS_UNAVAILABLE: return MHD_HTTP_SERVICE_UNAVAILABLE;
    case CV_STATUS_INTERNAL: break;
    }
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* Constant-time comparison, so the token is not guessed by timing. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

/* ---- responses -------------------------------------------------------------- */

static enum MHD_Result send_response(cv_call_t *call, unsigned code, struct MHD_Response *r, const char *type)
{
    if (!r) return MHD_NO; /* out of memory: close the connection */
    if (type) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    pthread_mutex_lock(&call->srv->mu);
    bool stopping = call->srv->stopping;
    pthread_mutex_unlock(&call->srv->mu);
    /* While stopping, clients are told to go elsewhere for the next one. */
    if (stopping) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(call->conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends `len` bytes of `text` (cv_malloc'd, taken). */
static enum MHD_Result send_text(cv_call_t *call, unsigned code, char *text, size_t len, const char *type)
{
    if (!text) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, text, cv_free);
    if (!r) cv_free(text);
    return send_response(call, code, r, type);
}

static enum MHD_Result send_sbuf(cv_call_t *call, unsigned code, cv_sbuf_t *b, const char *type)
{
    size_t len = 0;
    char *text = cv_sbuf_take(b, &len);
    if (!text) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        return send_response(call, MHD_HTTP_SERVICE_UNAVAILABLE,
                             MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT),
                             "application/json");
    }
    return send_text(call, code, text, len, type);
}

static enum MHD_Result send_error(cv_call_t *call, unsigned code, const char *msg)
{
    size_t len = 0;
    char *body = cv_codec_error_body(msg, &len);
    if (!body) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        return send_response(call, MHD_HTTP_SERVICE_UNAVAILABLE,
                             MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT),
                             "application/json");
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, cv_free);
    if (!r) {
        cv_free(body);
        return MHD_NO;
    }
    if (code == MHD_HTTP_UNAUTHORIZED) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED && call->route.method)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, call->route.method);
    return send_response(call, code, r, "application/json");
}

static enum MHD_Result send_empty(cv_call_t *call, unsigned code)
{
    return send_response(call, code, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT), NULL);
}

/* Keeps the first error of a call, to be sent when its body has been read. */
static void defer_error(cv_call_t *call, unsigned code, const char *msg)
{
    if (call->error_code) return;
    call->error_code = code;
    call->error_msg = cv_strdup(msg);
}

/* ---- routing ---------------------------------------------------------------- */

/* Splits url into at most `max` segments (after the leading '/'); false
 * when there are more or one is too long. */
static int split_path(const char *url, char segs[][CV_REPO_NAME_MAX + 2], int max)
{
    if (url[0] != '/') return -1;
    const char *p = url + 1;
    int n = 0;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == max || len > CV_REPO_NAME_MAX + 1) return -1;
        memcpy(segs[n], p, len);
        segs[n][len] = 0;
        n++;
        if (!end) break;
        p = end + 1;
    }
    return n;
}

static void set_model(route_t *r, const char *seg)
{
    r->has_model = true;
    size_t len = strlen(seg);
    if (cv_repo_name_valid(seg) && len < sizeof r->model) memcpy(r->model, seg, len + 1);
    else r->bad_model = true;
}

/* Routes the protocol port's paths (PROTOCOL.md's table). */
static route_t route_protocol(const char *url)
{
    route_t r = {.kind = ROUTE_NONE, .version = -1};
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
        r.kind = ROUTE_PAGE;
        r.method = MHD_HTTP_METHOD_GET;
        return r;
    }
    char segs[8][CV_REPO_NAME_MAX + 2];
    int n = split_path(url, segs, 8);
    if (n < 1 || strcmp(segs[0], "v2") != 0) return r;
    /* Caravel's own, under a segment no protocol path uses. */
    if (n == 3 && !strcmp(segs[1], "caravel") && !strcmp(segs[2], "status")) {
        r.kind = ROUTE_STATUS;
        r.method = MHD_HTTP_METHOD_GET;
        return r;
    }
    if (n == 1 || (n == 2 && !segs[1][0])) {
        r.kind = ROUTE_SERVER_METADATA;
        r.method = MHD_HTTP_METHOD_GET;
        return r;
    }
    if (n == 3 && !strcmp(segs[1], "health")) {
        if (!strcmp(segs[2], "live")) r.kind = ROUTE_LIVE;
        else if (!strcmp(segs[2], "ready")) r.kind = ROUTE_READY;
        r.method = MHD_HTTP_METHOD_GET;
        return r;
    }
    if (!strcmp(segs[1], "repository")) {
        r.method = MHD_HTTP_METHOD_POST;
        if (n == 3 && !strcmp(segs[2], "index")) r.kind = ROUTE_INDEX;
        if (n == 5 && !strcmp(segs[2], "models") && (!strcmp(segs[4], "load") || !strcmp(segs[4], "unload"))) {
            r.kind = !strcmp(segs[4], "load") ? ROUTE_LOAD : ROUTE_UNLOAD;
            set_model(&r, segs[3]);
        }
        return r;
    }
    if (strcmp(segs[1], "models") != 0) return r;
    if (n == 3 && !strcmp(segs[2], "stats")) {
        r.kind = ROUTE_STATS;
        r.method = MHD_HTTP_METHOD_GET;
        return r;
    }
    if (n < 3) return r;
    /* v2/models/{m}[/versions/{v}][/action] */
    int at = 3;
    if (n >= 5 && !strcmp(segs[3], "versions")) {
        if (!cv_repo_version_parse(segs[4], &r.version)) r.bad_version = true;
        at = 5;
    }
    if (n == at) r.kind = ROUTE_MODEL_METADATA;
    else if (n == at + 1 && !strcmp(segs[at], "ready")) r.kind = ROUTE_MODEL_READY;
    else if (n == at + 1 && !strcmp(segs[at], "infer")) r.kind = ROUTE_INFER;
    else if (n == at + 1 && !strcmp(segs[at], "config")) r.kind = ROUTE_CONFIG;
    else if (n == at + 1 && !strcmp(segs[at], "stats")) r.kind = ROUTE_STATS;
    else return r;
    r.method = r.kind == ROUTE_INFER ? MHD_HTTP_METHOD_POST : MHD_HTTP_METHOD_GET;
    set_model(&r, segs[2]);
    return r;
}

static route_t route_metrics(const char *url)
{
    route_t r = {.kind = ROUTE_NONE, .version = -1};
    if (!strcmp(url, "/metrics")) {
        r.kind = ROUTE_METRICS;
        r.method = MHD_HTTP_METHOD_GET;
    }
    return r;
}

/* ---- calls ------------------------------------------------------------------ */

static cv_call_t *call_new(cv_server_t *srv, struct MHD_Connection *conn, bool metrics_port)
{
    cv_call_t *call = cv_calloc(1, sizeof(*call));
    if (!call) return NULL;
    call->srv = srv;
    call->conn = conn;
    call->metrics_port = metrics_port;
    call->content_length = CV_CODEC_UNKNOWN;
    pthread_mutex_init(&call->mu, NULL);
    pthread_mutex_lock(&srv->mu);
    srv->active++;
    pthread_mutex_unlock(&srv->mu);
    return call;
}

static void call_free(cv_call_t *call)
{
    cv_server_t *srv = call->srv;
    if (call->body_started) cv_infer_body_free(&call->decoder);
    if (call->req) cv_request_destroy(call->req); /* never submitted, or answered */
    cv_served_release(call->served);
    cv_sbuf_free(&call->body);
    cv_free(call->error_msg);
    pthread_mutex_destroy(&call->mu);
    cv_free(call);
    pthread_mutex_lock(&srv->mu);
    srv->active--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

/* Suspends the call's connection unless its answer has come already;
 * true when suspended. From the access handler only. */
static bool call_park(cv_call_t *call)
{
    pthread_mutex_lock(&call->mu);
    bool park = !call->answered;
    if (park) {
        MHD_suspend_connection(call->conn);
        call->parked = true;
    }
    pthread_mutex_unlock(&call->mu);
    return park;
}

/* Marks the call answered and resumes its connection if it was suspended.
 * Any thread. The call may be freed as soon as this returns (even before:
 * callers read what they need first). Returns false when the call was
 * orphaned (its connection went away while parked): the caller then owns
 * and frees it. */
static bool call_wake(cv_call_t *call)
{
    pthread_mutex_lock(&call->mu);
    call->answered = true;
    bool resume = call->parked, orphaned = call->orphaned;
    call->parked = false;
    struct MHD_Connection *conn = call->conn;
    pthread_mutex_unlock(&call->mu);
    if (orphaned) return false;
    if (resume) MHD_resume_connection(conn);
    return true;
}

/* The runtime's callback for a submitted inference call (a runtime
 * thread): wake the call, nothing more. */
static void on_answered(cv_request_t *req, void *user)
{
    cv_call_t *call = user;
    cv_server_t *srv = call->srv;
    if (!call_wake(call)) call_free(call);
    pthread_mutex_lock(&srv->mu);
    srv->pending--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

/* ---- the control thread: loads and unloads ---------------------------------- */

static void *control_main(void *arg)
{
    cv_server_t *srv = arg;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        while (!srv->jobs && !srv->control_stop) pthread_cond_wait(&srv->control_cv, &srv->mu);
        cv_call_t *job = srv->jobs;
        if (!job) break;
        srv->jobs = job->next_job;
        if (!srv->jobs) srv->jobs_tail = NULL;
        bool stop = srv->control_stop;
        pthread_mutex_unlock(&srv->mu);
        if (stop) {
            job->job_status = cv_errorf(&job->job_err, CV_STATUS_UNAVAILABLE, "the server is shutting down");
        } else if (job->route.kind == ROUTE_LOAD) {
            job->job_status = cv_registry_load(srv->reg, job->route.model, &job->job_err);
        } else {
            job->job_status = cv_registry_unload(srv->reg, job->route.model, &job->job_err);
        }
        if (!call_wake(job)) call_free(job);
        pthread_mutex_lock(&srv->mu);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* ---- the access handler ------------------------------------------------------ */

static cv_status make_inputs(void *user, const cv_infer_header_t *h, cv_tensor_t **inputs, cv_err_t *err)
{
    cv_call_t *call = user;
    cv_status st = cv_served_request_create(call->served, h->rows, &call->req, err);
    if (st != CV_STATUS_OK) return st;
    for (int i = 0; i < call->served->sig.ninputs; i++) inputs[i] = cv_request_input(call->req, i);
    return CV_STATUS_OK;
}

/* Starts a call once its headers are in: routing, checks that need no
 * body, and the inference decoder. Errors are deferred (defer_error). */
static void call_begin(cv_call_t *call, const char *url, const char *method)
{
    cv_server_t *srv = call->srv;
    call->route = call->metrics_port ? route_metrics(url) : route_protocol(url);
    route_t *r = &call->route;
    const char *cl = MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) cv_codec_parse_size(cl, &call->content_length);
    if (r->kind == ROUTE_NONE) {
        defer_error(call, MHD_HTTP_NOT_FOUND, "Not Found");
        return;
    }
    bool head = !strcmp(method, MHD_HTTP_METHOD_HEAD) && !strcmp(r->method, MHD_HTTP_METHOD_GET);
    if (strcmp(method, r->method) != 0 && !head) {
        char msg[96];
        snprintf(msg, sizeof msg, "Method Not Allowed: %.16s here takes %s", method, r->method);
        defer_error(call, MHD_HTTP_METHOD_NOT_ALLOWED, msg);
        return;
    }
    if (call->content_length != CV_CODEC_UNKNOWN && call->content_length > srv->opt.max_body_bytes) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request body (%zu bytes) is over the limit of %zu bytes", call->content_length,
                 srv->opt.max_body_bytes);
        defer_error(call, MHD_HTTP_BAD_REQUEST, msg);
        return;
    }
    if (r->bad_model) {
        defer_error(call, MHD_HTTP_BAD_REQUEST,
                    "invalid model name: one path segment of letters, digits, '_', '.', '-' is expected");
        return;
    }
    if (r->bad_version) {
        defer_error(call, MHD_HTTP_BAD_REQUEST, "invalid model version: a decimal number is expected");
        return;
    }
    if (r->kind == ROUTE_LOAD || r->kind == ROUTE_UNLOAD) {
        if (srv->control_token) {
            const char *auth = MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
            if (!auth) {
                defer_error(call, MHD_HTTP_UNAUTHORIZED,
                            "loading and unloading models need 'Authorization: Bearer <control token>'");
                return;
            }
            if (strncmp(auth, "Bearer ", 7) != 0 || !same_secret(auth + 7, srv->control_token)) {
                defer_error(call, MHD_HTTP_FORBIDDEN, "the control token is wrong");
                return;
            }
        }
    }
    if (r->kind != ROUTE_INFER) return;
    pthread_mutex_lock(&srv->mu);
    bool stopping = srv->stopping;
    pthread_mutex_unlock(&srv->mu);
    if (stopping) {
        defer_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down");
        return;
    }
    cv_err_t err;
    if (cv_registry_acquire(srv->reg, r->model, r->version, &call->served, &err) != CV_STATUS_OK) {
        defer_error(call, MHD_HTTP_BAD_REQUEST, err.msg);
        return;
    }
    const char *header_len =
        MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    call->body_started = true;
    /* A failure here (a bad header length) is kept by the decoder and
     * reported when the body has been read. */
    cv_infer_body_init(&call->decoder, &call->served->sig, header_len, call->content_length,
                       srv->opt.max_body_bytes, make_inputs, call, &err);
}

/* A piece of the body. */
static void call_upload(cv_call_t *call, const char *data, size_t len)
{
    call->received += len;
    if (call->error_code) return; /* read and dropped */
    if (call->body_started) {
        cv_err_t err;
        cv_infer_body_feed(&call->decoder, data, len, &err);
        return;
    }
    if (call->received > call->srv->opt.max_body_bytes) {
        char msg[96];
        snprintf(msg, sizeof msg, "the request body is over the limit of %zu bytes", call->srv->opt.max_body_bytes);
        cv_sbuf_free(&call->body);
        defer_error(call, MHD_HTTP_BAD_REQUEST, msg);
        return;
    }
    /* Only the repository's POSTs read their (small JSON) bodies. */
    if (call->route.kind == ROUTE_INDEX || call->route.kind == ROUTE_LOAD || call->route.kind == ROUTE_UNLOAD)
        cv_sbuf_append(&call->body, data, len);
}

/* Parses a small JSON body: NULL for an empty one; a deferred 400 for a
 * malformed one (*bad set). */
static json_t *call_json_body(cv_call_t *call, bool *bad)
{
    *bad = false;
    if (call->body.failed) {
        *bad = true;
        return NULL;
    }
    if (!call->body.len) return NULL;
    json_error_t jerr;
    json_t *root = json_loadb(call->body.data, call->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        char msg[256];
        snprintf(msg, sizeof msg, "malformed JSON in the request%s%s", root ? ": expected an object" : ": ",
                 root ? "" : jerr.text);
        json_decref(root);
        *bad = true;
        send_error(call, MHD_HTTP_BAD_REQUEST, msg);
        return NULL;
    }
    return root;
}

/* What a binary response owns: its JSON header and the request whose
 * output buffers it sends from. */
typedef struct binary_owner {
    char *json;
    cv_request_t *req;
} binary_owner_t;

static void binary_owner_free(void *cls)
{
    binary_owner_t *owner = cls;
    cv_free(owner->json);
    cv_request_destroy(owner->req);
    cv_free(owner);
}

static enum MHD_Result send_binary(cv_call_t *call, struct MHD_Response *r, const char *header_len)
{
    MHD_add_response_header(r, "Inference-Header-Content-Length", header_len);
    return send_response(call, MHD_HTTP_OK, r, "application/octet-stream");
}

static enum MHD_Result respond_infer_answer(cv_call_t *call)
{
    cv_served_t *s = call->served;
    cv_err_t err;
    cv_status st = cv_request_status(call->req, &err);
    if (st != CV_STATUS_OK) return send_error(call, http_code_of(st), err.msg);
    int nout = s->sig.noutputs;
    const cv_tensor_t *outputs[nout + 1];
    for (int o = 0; o < nout; o++) outputs[o] = cv_request_output(call->req, o);
    cv_infer_response_t resp;
    st = cv_infer_encode(&call->decoder.header, &s->sig, s->model, s->version_str, outputs, &resp, &err);
    if (st != CV_STATUS_OK) return send_error(call, http_code_of(st), err.msg);
    atomic_fetch_add(&s->rows, cv_request_rows(call->req));
    atomic_store(&s->last_inference_ms, now_epoch_ms());
    /* Here, on an HTTP thread, rather than in on_answered: the runtime's
     * threads only wake calls. */
    cv_latency_ring_note(&s->latency, cv_request_timings(call->req).total_ms);
    if (resp.nparts == 0) return send_text(call, MHD_HTTP_OK, resp.json, resp.json_len, "application/json");

    /* Small answers are copied behind the JSON header into one buffer:
     * libmicrohttpd then sends the HTTP headers and the body in one
     * sendmsg, where an iovec response costs a second send (and the client
     * a second wake-up) for a copy of a few KB saved. */
    size_t total = resp.json_len;
    for (int k = 0; k < resp.nparts; k++) total += resp.parts[k].bytes;
    if (total <= SMALL_ANSWER_BYTES) {
        char *body = cv_malloc(total ? total : 1);
        if (body) {
            memcpy(body, resp.json, resp.json_len);
            size_t at = resp.json_len;
            for (int k = 0; k < resp.nparts; k++) {
                memcpy(body + at, resp.parts[k].data, resp.parts[k].bytes);
                at += resp.parts[k].bytes;
            }
            char header_len[24];
            snprintf(header_len, sizeof header_len, "%zu", resp.json_len);
            cv_infer_response_free(&resp);
            struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(total, body, cv_free);
            if (!r) {
                cv_free(body);
                return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory encoding the response");
            }
            return send_binary(call, r, header_len);
        }
    }
    /* Binary outputs go from the request's own buffers: the response owns
     * the request until libmicrohttpd frees it. */
    struct MHD_IoVec iov[CV_CODEC_MAX_PARTS + 1];
    iov[0].iov_base = resp.json;
    iov[0].iov_len = resp.json_len;
    for (int k = 0; k < resp.nparts; k++) {
        iov[k + 1].iov_base = resp.parts[k].data;
        iov[k + 1].iov_len = resp.parts[k].bytes;
    }
    binary_owner_t *owner = cv_malloc(sizeof(*owner));
    struct MHD_Response *r = owner ? MHD_create_response_from_iovec(iov, (unsigned)resp.nparts + 1, binary_owner_free, owner)
                                   : NULL;
    if (!r) { /* libmicrohttpd calls no free callback when it fails */
        cv_free(owner);
        cv_infer_response_free(&resp);
        return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory encoding the response");
    }
    owner->json = resp.json;
    owner->req = call->req;
    call->req = NULL;
    char header_len[24];
    snprintf(header_len, sizeof header_len, "%zu", resp.json_len);
    return send_binary(call, r, header_len);
}

static enum MHD_Result respond(cv_call_t *call);

/* Inference, once the body has been read (or again after the resume). */
static enum MHD_Result respond_infer(cv_call_t *call)
{
    cv_server_t *srv = call->srv;
    if (call->submitted) return respond_infer_answer(call);
    cv_err_t err;
    cv_status st = cv_infer_body_finish(&call->decoder, &err);
    if (st != CV_STATUS_OK) {
        if (st == CV_STATUS_INVALID_ARGUMENT) atomic_fetch_add(&call->served->invalid, 1);
        return send_error(call, http_code_of(st), err.msg);
    }
    const cv_infer_header_t *h = &call->decoder.header;
    if (h->has_priority) cv_request_set_priority(call->req, cv_server_priority(h->priority));
    if (h->has_timeout) cv_request_set_timeout(call->req, (double)h->timeout_us / 1000.0);
    /* A small CPU wave may run right here: then it is answered when
     * cv_served_submit returns, and answered below without a suspend and
     * resume (two thread wake-ups, more than such a wave's whole time). */
    if (srv->opt.run_here_us > 0) cv_request_set_run_here(call->req, srv->opt.run_here_us);
    pthread_mutex_lock(&srv->mu);
    bool stopping = srv->stopping;
    if (!stopping) srv->pending++;
    pthread_mutex_unlock(&srv->mu);
    if (stopping) return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down");
    st = cv_served_submit(call->served, call->req, on_answered, call, &err);
    if (st != CV_STATUS_OK) {
        pthread_mutex_lock(&srv->mu);
        srv->pending--;
        pthread_cond_broadcast(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
        return send_error(call, http_code_of(st), err.msg);
    }
    call->submitted = true;
    if (call_park(call)) return MHD_YES;
    return respond_infer_answer(call);
}

static enum MHD_Result respond_model_document(cv_call_t *call)
{
    cv_server_t *srv = call->srv;
    route_t *r = &call->route;
    cv_err_t err;
    cv_served_t *s = NULL;
    if (r->kind == ROUTE_STATS && !r->has_model) {
        cv_served_t **list;
        int n;
        if (cv_registry_ready(srv->reg, NULL, &list, &n, &err) != CV_STATUS_OK)
            return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
        cv_sbuf_t b = {0};
        cv_doc_model_stats(&b, list, n);
        for (int i = 0; i < n; i++) cv_served_release(list[i]);
        cv_free(list);
        return send_sbuf(call, MHD_HTTP_OK, &b, "application/json");
    }
    if (cv_registry_acquire(srv->reg, r->model, r->version, &s, &err) != CV_STATUS_OK) {
        /* Model ready: not ready is 400 with an error body. */
        return send_error(call, MHD_HTTP_BAD_REQUEST, err.msg);
    }
    cv_sbuf_t b = {0};
    enum MHD_Result ret;
    if (r->kind == ROUTE_MODEL_READY) {
        cv_sbuf_free(&b);
        cv_served_release(s);
        return send_empty(call, MHD_HTTP_OK);
    }
    if (r->kind == ROUTE_CONFIG) {
        cv_doc_model_config(&b, s);
    } else if (r->kind == ROUTE_STATS) {
        cv_served_t **list = &s;
        int n = 1;
        bool all_versions = r->version < 0;
        if (all_versions && cv_registry_ready(srv->reg, r->model, &list, &n, &err) != CV_STATUS_OK) {
            cv_served_release(s);
            return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
        }
        cv_doc_model_stats(&b, list, n);
        if (all_versions) {
            for (int i = 0; i < n; i++) cv_served_release(list[i]);
            cv_free(list);
        }
    } else {
        cv_served_t **list = &s;
        int n = 1;
        bool all_versions = r->version < 0;
        if (all_versions && cv_registry_ready(srv->reg, r->model, &list, &n, &err) != CV_STATUS_OK) {
            cv_served_release(s);
            return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
        }
        cv_doc_model_metadata(&b, s, list, n);
        if (all_versions) {
            for (int i = 0; i < n; i++) cv_served_release(list[i]);
            cv_free(list);
        }
    }
    cv_served_release(s);
    ret = send_sbuf(call, MHD_HTTP_OK, &b, "application/json");
    return ret;
}

static enum MHD_Result respond_index(cv_call_t *call)
{
    bool bad;
    json_t *body = call_json_body(call, &bad);
    if (bad) return call->body.failed ? send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory") : MHD_YES;
    bool ready_only = false;
    if (body) {
        json_t *ready = json_object_get(body, "ready");
        if (ready && !json_is_boolean(ready)) {
            json_decref(body);
            return send_error(call, MHD_HTTP_BAD_REQUEST, "\"ready\" must be a boolean");
        }
        ready_only = json_is_true(ready);
        json_decref(body);
    }
    cv_registry_row_t *rows;
    int n;
    cv_err_t err;
    if (cv_registry_index(call->srv->reg, ready_only, &rows, &n, &err) != CV_STATUS_OK)
        return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
    cv_sbuf_t b = {0};
    cv_doc_repository_index(&b, call->srv->reg, rows, n);
    cv_free(rows);
    return send_sbuf(call, MHD_HTTP_OK, &b, "application/json");
}

/* Load or unload: queued for the control thread, the connection suspended
 * until it is done. */
static enum MHD_Result respond_control(cv_call_t *call)
{
    cv_server_t *srv = call->srv;
    if (call->queued) {
        if (call->job_status == CV_STATUS_OK) return send_empty(call, MHD_HTTP_OK);
        /* Triton answers a failed load or unload 400, whatever the cause. */
        unsigned code = call->job_status == CV_STATUS_UNAVAILABLE || call->job_status == CV_STATUS_OUT_OF_MEMORY
                            ? MHD_HTTP_SERVICE_UNAVAILABLE
                            : MHD_HTTP_BAD_REQUEST;
        return send_error(call, code, call->job_err.msg);
    }
    bool bad;
    json_t *body = call_json_body(call, &bad);
    if (bad) return call->body.failed ? send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory") : MHD_YES;
    if (body && call->route.kind == ROUTE_LOAD) {
        json_t *params = json_object_get(body, "parameters");
        if (params && (!json_is_object(params) || json_object_size(params) > 0)) {
            json_decref(body);
            return send_error(call, MHD_HTTP_BAD_REQUEST,
                              "loading with parameters (a config or files override) is not supported: the model "
                              "is loaded from the repository");
        }
    }
    json_decref(body);
    pthread_mutex_lock(&srv->mu);
    bool refused = srv->stopping || !srv->control_running;
    if (!refused) {
        call->queued = true;
        if (srv->jobs_tail) srv->jobs_tail->next_job = call;
        else srv->jobs = call;
        srv->jobs_tail = call;
        pthread_cond_signal(&srv->control_cv);
    }
    pthread_mutex_unlock(&srv->mu);
    if (refused) return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down");
    /* Suspended outside srv->mu (libmicrohttpd takes its own locks); a job
     * done already is answered at once, as an inference is. */
    if (call_park(call)) return MHD_YES;
    return respond_control(call);
}

/* The status page: one HTML file with its CSS and script inline, which
 * the policy below holds to (nothing from elsewhere, fetches to this
 * server only). */
static enum MHD_Result respond_page(cv_call_t *call)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(cv_live_page_len, (void *)cv_live_page, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                            "frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return send_response(call, MHD_HTTP_OK, r, "text/html; charset=utf-8");
}

/* The status document, read fresh from the counters. */
static enum MHD_Result respond_status(cv_call_t *call)
{
    cv_server_t *srv = call->srv;
    cv_live_snapshot_t snap;
    memset(&snap, 0, sizeof snap);
    snap.server = srv->live;
    snap.server.uptime_s = (double)(cv_clock_ns() - srv->started_ns) / 1e9;
    snap.server.time_ms = now_epoch_ms();
    pthread_mutex_lock(&srv->mu);
    snap.server.gauges = (cv_server_gauges_t){.calls = srv->active, .pending = srv->pending};
    pthread_mutex_unlock(&srv->mu);
    cv_err_t err;
    if (cv_live_gather(srv->reg, &snap, &err) != CV_STATUS_OK)
        return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
    size_t len = 0;
    char *text = cv_live_document_text(&snap, &len);
    cv_live_release(&snap);
    if (!text) return send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory for the status document");
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, text, cv_free);
    if (!r) {
        cv_free(text);
        return MHD_NO;
    }
    /* A page polls it every second: no cache may answer for the server. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return send_response(call, MHD_HTTP_OK, r, "application/json");
}

/* Answers a call whose body has been read. */
static enum MHD_Result respond(cv_call_t *call)
{
    cv_server_t *srv = call->srv;
    if (call->error_code) {
        if (call->served && call->error_code == MHD_HTTP_BAD_REQUEST) atomic_fetch_add(&call->served->invalid, 1);
        return send_error(call, call->error_code, call->error_msg ? call->error_msg : "out of memory");
    }
    switch (call->route.kind) {
    case ROUTE_LIVE: return send_empty(call, MHD_HTTP_OK);
    case ROUTE_READY: {
        pthread_mutex_lock(&srv->mu);
        bool stopping = srv->stopping;
        pthread_mutex_unlock(&srv->mu);
        return stopping ? send_error(call, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down")
                        : send_empty(call, MHD_HTTP_OK);
    }
    case ROUTE_SERVER_METADATA: {
        cv_sbuf_t b = {0};
        cv_doc_server_metadata(&b);
        return send_sbuf(call, MHD_HTTP_OK, &b, "application/json");
    }
    case ROUTE_MODEL_METADATA:
    case ROUTE_MODEL_READY:
    case ROUTE_CONFIG:
    case ROUTE_STATS: return respond_model_document(call);
    case ROUTE_INFER: return respond_infer(call);
    case ROUTE_INDEX: return respond_index(call);
    case ROUTE_LOAD:
    case ROUTE_UNLOAD: return respond_control(call);
    case ROUTE_METRICS: {
        cv_sbuf_t b = {0};
        pthread_mutex_lock(&srv->mu);
        cv_server_gauges_t gauges = {.calls = srv->active, .pending = srv->pending};
        pthread_mutex_unlock(&srv->mu);
        cv_metrics_render(&b, srv->reg, &gauges);
        return send_sbuf(call, MHD_HTTP_OK, &b, "text/plain; version=0.0.4; charset=utf-8");
    }
    case ROUTE_PAGE: return respond_page(call);
    case ROUTE_STATUS: return respond_status(call);
    case ROUTE_NONE: break;
    }
    return send_error(call, MHD_HTTP_NOT_FOUND, "Not Found");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls, bool metrics_port)
{
    cv_server_t *srv = cls;
    cv_call_t *call = *con_cls;
    if (!call) {
        call = call_new(srv, conn, metrics_port);
        if (!call) return MHD_NO; /* out of memory: drop the connection */
        *con_cls = call;
        call_begin(call, url, method);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        call_upload(call, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return respond(call);
}

static enum MHD_Result on_protocol_request(void *cls, struct MHD_Connection *conn, const char *url,
                                           const char *method, const char *version, const char *upload_data,
                                           size_t *upload_data_size, void **con_cls)
{
    return on_request(cls, conn, url, method, version, upload_data, upload_data_size, con_cls, false);
}

static enum MHD_Result on_metrics_request(void *cls, struct MHD_Connection *conn, const char *url,
                                          const char *method, const char *version, const char *upload_data,
                                          size_t *upload_data_size, void **con_cls)
{
    return on_request(cls, conn, url, method, version, upload_data, upload_data_size, con_cls, true);
}

/* libmicrohttpd is done with a request (answered, or the client went
 * away): free its call. A call whose request is still with the runtime
 * cannot be freed here (the callback will come): it is orphaned, its
 * request cancelled if still queued, and freed by the callback. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    cv_call_t *call = *con_cls;
    *con_cls = NULL;
    if (!call) return;
    pthread_mutex_lock(&call->mu);
    bool waiting = (call->submitted || call->queued) && !call->answered;
    if (waiting) {
        call->orphaned = true;
        /* Under call->mu, so the callback (which takes it, and which a
         * cancellation only queues for the runtime's answer thread) cannot
         * free the request first. */
        if (call->submitted) cv_request_cancel(cv_request_runtime(call->req), call->req);
    }
    pthread_mutex_unlock(&call->mu);
    if (!waiting) call_free(call);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = 0;
    cv_log(CV_LOG_DEBUG, "http: %s", line);
}

/* ---- the daemons -------------------------------------------------------------- */

typedef union address {
    struct sockaddr sa;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
} address_t;

static cv_status parse_bind(const char *bind, int port, address_t *out, bool *ipv6, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!strcmp(bind, "localhost")) bind = "127.0.0.1";
    if (inet_pton(AF_INET, bind, &out->v4.sin_addr) == 1) {
        out->v4.sin_family = AF_INET;
        out->v4.sin_port = htons((uint16_t)port);
        *ipv6 = false;
        return CV_STATUS_OK;
    }
    if (inet_pton(AF_INET6, bind, &out->v6.sin6_addr) == 1) {
        out->v6.sin6_family = AF_INET6;
        out->v6.sin6_port = htons((uint16_t)port);
        *ipv6 = true;
        return CV_STATUS_OK;
    }
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "--bind '%s' is not an IPv4 or IPv6 address", bind);
}

static struct MHD_Daemon *start_daemon(cv_server_t *srv, int port, int threads, MHD_AccessHandlerCallback handler,
                                       int *bound, cv_err_t *err)
{
    address_t addr;
    bool ipv6 = false;
    cv_status st = parse_bind(srv->bind, port, &addr, &ipv6, err);
    if (st != CV_STATUS_OK) return NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    /* poll, not epoll: with epoll, libmicrohttpd 0.9.75 can miss that a
     * client closed its socket right after sending part of a body (the
     * connection then lingers until its timeout); with poll it is closed
     * at once. */
    flags |= MHD_USE_POLL;
    if (ipv6) flags |= MHD_USE_IPv6;
    struct MHD_OptionItem options[] = {
        /* First, so that libmicrohttpd's messages about the others come here too. */
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, srv},
        {MHD_OPTION_SOCK_ADDR, 0, &addr.sa},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, srv->opt.connection_timeout_s, NULL},
        /* libmicrohttpd's own default is FD_SETSIZE - 4 (about 1020), even
         * with poll. */
        {MHD_OPTION_CONNECTION_LIMIT, srv->opt.max_connections, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        /* Last, so that a single thread leaves it out. */
        {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, srv, MHD_OPTION_ARRAY,
                                            options, MHD_OPTION_END);
    if (!d) {
        cv_errorf(err, CV_STATUS_UNAVAILABLE, "cannot listen on %s port %d (in use, or not an address of this host?)",
                  srv->bind, port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound = info ? info->port : port;
    return d;
}

static void server_free(cv_server_t *srv)
{
    if (srv->http) MHD_stop_daemon(srv->http);
    if (srv->metrics) MHD_stop_daemon(srv->metrics);
    if (srv->control_running) {
        pthread_mutex_lock(&srv->mu);
        srv->control_stop = true;
        pthread_cond_signal(&srv->control_cv);
        pthread_mutex_unlock(&srv->mu);
        pthread_join(srv->control, NULL);
    }
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    pthread_cond_destroy(&srv->control_cv);
    cv_free(srv->control_token);
    cv_free(srv->bind);
    cv_free(srv);
}

cv_status cv_server_start(const cv_server_options_t *options, cv_registry_t *reg, cv_server_t **out, cv_err_t *err)
{
    *out = NULL;
    cv_server_t *srv = cv_calloc(1, sizeof(*srv));
    if (!srv) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory starting the server");
    srv->reg = reg;
    srv->opt = *options;
    srv->http_port = srv->metrics_port = -1;
    srv->started_ns = cv_clock_ns();
    snprintf(srv->live.policy, sizeof srv->live.policy, "%s", options->policy ? options->policy : "");
    snprintf(srv->live.device, sizeof srv->live.device, "%s", options->device ? options->device : "");
    if (!srv->opt.max_body_bytes) srv->opt.max_body_bytes = CV_SERVER_DEFAULT_MAX_BODY;
    if (srv->opt.http_threads <= 0) srv->opt.http_threads = 2;
    if (srv->opt.connection_timeout_s <= 0) srv->opt.connection_timeout_s = 300;
    if (srv->opt.run_here_us == 0) srv->opt.run_here_us = CV_SERVER_DEFAULT_RUN_HERE_US;
    if (srv->opt.max_connections <= 0) srv->opt.max_connections = CV_SERVER_DEFAULT_MAX_CONNECTIONS;
    /* Room besides the connections for the process's other files (models,
     * the metrics port, libraries). */
    int fit = cv_open_files_for(srv->opt.max_connections, 256);
    if (fit < 16) fit = 16;
    if (fit < srv->opt.max_connections) {
        cv_log(CV_LOG_WARN, "serve: at most %d HTTP connections, not %d: the open-file limit (ulimit -n) allows no "
                            "more", fit, srv->opt.max_connections);
        srv->opt.max_connections = fit;
    }
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    pthread_cond_init(&srv->control_cv, NULL);
    srv->bind = cv_strdup(options->bind ? options->bind : "127.0.0.1");
    if (options->control_token && options->control_token[0]) srv->control_token = cv_strdup(options->control_token);
    if (!srv->bind || (options->control_token && options->control_token[0] && !srv->control_token)) {
        server_free(srv);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory starting the server");
    }
    if (pthread_create(&srv->control, NULL, control_main, srv) != 0) {
        server_free(srv);
        return cv_errorf(err, CV_STATUS_INTERNAL, "cannot start the server's control thread");
    }
    srv->control_running = true;
    srv->http = start_daemon(srv, options->http_port, srv->opt.http_threads, on_protocol_request, &srv->http_port, err);
    if (!srv->http) {
        server_free(srv);
        return CV_STATUS_UNAVAILABLE;
    }
    if (options->metrics_port >= 0) {
        srv->metrics = start_daemon(srv, options->metrics_port, 1, on_metrics_request, &srv->metrics_port, err);
        if (!srv->metrics) {
            server_free(srv);
            return CV_STATUS_UNAVAILABLE;
        }
    }
    *out = srv;
    return CV_STATUS_OK;
}

int cv_server_http_port(const cv_server_t *s) { return s->http_port; }
int cv_server_metrics_port(const cv_server_t *s) { return s->metrics_port; }

/* Waits on srv->cv until `done` holds or `timeout_ms` passes (< 0: no
 * limit); under srv->mu. */
static bool wait_for(cv_server_t *srv, bool (*done)(const cv_server_t *), double timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms >= 0) {
        long long ns = until.tv_nsec + (long long)(timeout_ms * 1e6);
        until.tv_sec += (time_t)(ns / 1000000000LL);
        until.tv_nsec = (long)(ns % 1000000000LL);
    }
    while (!done(srv)) {
        if (timeout_ms < 0) pthread_cond_wait(&srv->cv, &srv->mu);
        else if (pthread_cond_timedwait(&srv->cv, &srv->mu, &until) == ETIMEDOUT) return done(srv);
    }
    return true;
}

static bool nothing_pending(const cv_server_t *srv) { return srv->pending == 0; }
static bool nothing_active(const cv_server_t *srv) { return srv->active == 0; }

void cv_server_stop(cv_server_t *srv)
{
    if (!srv) return;
    /* 1. No new connections; new requests on open ones are answered 503. */
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    srv->control_stop = true;
    pthread_cond_signal(&srv->control_cv);
    pthread_mutex_unlock(&srv->mu);
    MHD_socket http_fd = MHD_quiesce_daemon(srv->http);
    MHD_socket metrics_fd = srv->metrics ? MHD_quiesce_daemon(srv->metrics) : MHD_INVALID_SOCKET;
    /* 2. Loads and unloads: the one running finishes, the queued ones are
     * answered 503. */
    pthread_join(srv->control, NULL);
    srv->control_running = false;
    /* 3. Every submitted request answered (each device's runtime runs
     * what is queued), so no connection stays suspended. */
    for (int d = 0; d < cv_registry_devices(srv->reg); d++) cv_runtime_drain(cv_registry_device_runtime(srv->reg, d), -1);
    pthread_mutex_lock(&srv->mu);
    wait_for(srv, nothing_pending, -1);
    /* 4. Their answers sent; a client that does not read its answer, or a
     * body still arriving, is cut after a while. */
    if (!wait_for(srv, nothing_active, 5000))
        cv_log(CV_LOG_WARN, "server: %ld connection(s) still busy after 5 s; closing them", srv->active);
    pthread_mutex_unlock(&srv->mu);
    MHD_stop_daemon(srv->http);
    srv->http = NULL;
    if (srv->metrics) MHD_stop_daemon(srv->metrics);
    srv->metrics = NULL;
    if (http_fd != MHD_INVALID_SOCKET) close(http_fd);
    if (metrics_fd != MHD_INVALID_SOCKET) close(metrics_fd);
    server_free(srv);
}
