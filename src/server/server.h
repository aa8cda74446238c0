/*
 * server.h: Caravel's HTTP server: the KServe v2 / Open Inference Protocol
 * on one port and Prometheus metrics on another, in front of the registry
 * of what it has loaded from a model repository onto one device's runtime
 * or several (a request goes to the runtime of its model's replica).
 *
 * The server's files:
 *   http.c       libmicrohttpd glue: daemons, routing, the life of an
 *                inference call (decode into the request's buffers, submit,
 *                suspend; the runtime's callback resumes), the control
 *                thread that loads and unloads, shutdown
 *   codec.c      inference requests and responses: JSON and binary tensors
 *   documents.c  the other JSON bodies: server and model metadata, model
 *                config, statistics, the repository index
 *   metrics.c    the Prometheus text of the metrics port
 *   live.c       the live view: the status document (/v2/caravel/status)
 *                and the status page (/, live.html embedded at build time)
 *
 * Threads: libmicrohttpd's pool decodes requests and encodes answers and
 * never waits for the device (a call waiting for its answer is a suspended
 * connection, holding no thread); the runtime's threads only flag an
 * answer and resume its connection; one control thread runs loads and
 * unloads, which block.
 */
#ifndef CV_SERVER_H
#define CV_SERVER_H

#include "caravel.h"
#include "repo/registry.h"

#define CV_SERVER_NAME "caravel"
#define CV_SERVER_VERSION "0.1.0"
#define CV_SERVER_DEFAULT_MAX_BODY ((size_t)64 << 20)
#define CV_SERVER_DEFAULT_MAX_CONNECTIONS 4096
#define CV_SERVER_DEFAULT_RUN_HERE_US 200

typedef struct cv_server_options {
    const char *bind;       /* address to listen on (IPv4 or IPv6 literal); NULL = 127.0.0.1 */
    int http_port;          /* 0: any free port (see cv_server_http_port) */
    int metrics_port;       /* 0: any free port; -1: no metrics port */
    int http_threads;       /* libmicrohttpd's pool; 0 = 2 */
    const char *control_token; /* when set, load and unload need "Authorization: Bearer <it>" */
    size_t max_body_bytes;  /* largest request body; 0 = CV_SERVER_DEFAULT_MAX_BODY */
    int connection_timeout_s; /* idle keep-alive connections are closed after it; 0 = 300 */
    int max_connections;    /* open HTTP connections at most (more wait in the listen
                               backlog); 0 = CV_SERVER_DEFAULT_MAX_CONNECTIONS */
    /* On a CPU device, an inference whose wave can start at once and that
     * the latency model predicts within this many microseconds runs on the
     * HTTP thread that received it (cv_request_set_run_here): no hand-over
     * to a worker thread and back. 0 = CV_SERVER_DEFAULT_RUN_HERE_US; -1 =
     * never. */
    int run_here_us;
    /* What the status page says the runtimes run with ("spacetime", and the
     * --device given: "cuda:0", "cuda:all", "cpu:0,1"): the public API does
     * not tell a runtime's configuration, so the caller that made them
     * does. NULL reads "unknown". */
    const char *policy;
    const char *device;
} cv_server_options_t;

typedef struct cv_server cv_server_t;

/* Starts listening. reg (and its devices' runtimes) outlive the server.
 * INVALID_ARGUMENT for a bad address, UNAVAILABLE when a port cannot be
 * bound, INTERNAL. */
cv_status cv_server_start(const cv_server_options_t *options, cv_registry_t *reg, cv_server_t **out, cv_err_t *err);
/* The ports actually bound (useful with port 0); -1 for none. */
int cv_server_http_port(const cv_server_t *s);
int cv_server_metrics_port(const cv_server_t *s);

/* Stops the server: no new connections; requests that arrive on open
 * connections are answered 503; a load or unload under way finishes and
 * queued ones are answered 503; every submitted request is answered (the
 * runtimes are drained) and its answer sent (connections still busy 5 s
 * later are cut); then the daemons stop and everything is freed. The
 * runtime and registry are left to the caller. */
void cv_server_stop(cv_server_t *s);

#endif /* CV_SERVER_H */
