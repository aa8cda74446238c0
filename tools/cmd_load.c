/*
 * cmd_load.c: `caravel load`: the HTTP load generator. It drives a running
 * `caravel serve` (or any KServe v2 server) the way clients do, with the
 * binary tensor extension over HTTP/1.1 keep-alive connections, and
 * reports what a client sees: throughput, latency percentiles, SLO
 * attainment, and every answer by HTTP status (503, the server's
 * refusals, apart).
 *
 * Two kinds of load, as `caravel drive` has them (the same seeded arrival
 * sequence, percentiles and sweeps: drive_stats.h):
 *   open loop (--rate, --rates)   Poisson arrivals across the models; an
 *       arrival takes an idle connection of at most --connections, or
 *       waits for one (then its latency, counted from its arrival, says
 *       so, and the wait is reported);
 *   closed loop (--concurrency)   C requests outstanding, each on its own
 *       connection; an answer sends the next at once.
 *
 * One thread drives everything: a libcurl multi handle in its socket
 * interface (curl_multi_socket_action) on an epoll set, waiting with a
 * nanosecond timeout (epoll_pwait2, timer slack 1 us) until the earliest
 * of the next arrival, libcurl's own timeout and the progress tick. So an
 * arrival is sent when it is due, to the microsecond rather than to
 * epoll_wait's millisecond, without a timer to re-arm per arrival (a
 * timerfd costs a costly syscall each time on a VM), and the work per
 * event is that socket's alone, whatever the number of connections. How
 * late each sending was is measured and reported, as drive reports its
 * submitter's.
 *
 * Each model's request is made once, before the load, from its metadata
 * (GET /v2/models/{m}: -1 dimensions become 1, data deterministic from the
 * seed) and sent as it is by every request of that model; every 200 answer
 * is checked (load_proto.c): the outputs' binary sizes must add up.
 *
 * What it does not do: HTTPS, gRPC, BYTES inputs, or compare outputs with
 * references (the server's tests do).
 */
#include "cli.h"
#include "drive_stats.h"
#include "load_proto.h"

#include "core/core.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_MODELS 256
#define MAX_LOADS 64
#define URL_LEN 512
#define MAX_CONNECTIONS 100000
/* Open-loop arrivals waiting for a connection at most; more are not sent
 * (counted as unsent: the generator could not offer them). */
#define MAX_BACKLOG (1 << 20)
/* A response body larger than this is abandoned as a bad response. */
#define MAX_RESPONSE ((size_t)256 << 20)
/* A closed-loop slot whose request got no HTTP answer waits this long
 * before sending again, so that a vanished server is not hammered. */
#define RETRY_NS (10 * 1000000ull)
/* Statuses counted one by one; anything else lands in the last bucket. */
#define STATUS_BUCKETS 600

typedef enum load_mode {
    LOAD_POISSON = 0, /* open loop */
    LOAD_CLOSED,
} load_mode_t;

typedef struct load_opts {
    char url[URL_LEN];
    const char *models[MAX_MODELS];
    int nmodels;
    bool from_server;
    double weights[MAX_MODELS];
    int nweights;
    load_mode_t mode;
    double loads[MAX_LOADS]; /* rates (requests/s) or concurrencies */
    int nloads;
    long connections, seed, rows;
    double slo_ms, duration_s, warmup_s, drain_s;
    const char *csv, *label;
    bool quiet;
} load_opts_t;

/* A model and its one request. */
typedef struct load_model {
    cv_load_model_t meta;
    char *infer_url;
    cv_load_body_t body;
    struct curl_slist *headers;
} load_model_t;

/* One connection's worth of client: an easy handle doing one transfer at
 * a time (HTTP/1.1 keep-alive: a connection carries one request at once). */
typedef struct load_slot {
    CURL *easy;
    int model;
    uint64_t arrival_ns; /* when the request arrived (open) or was sent (closed) */
    uint64_t retry_ns;   /* closed loop: send again no earlier (0: not waiting) */
    bool measured;       /* it arrived inside the measured window */
    bool busy;
    long header_len;     /* Inference-Header-Content-Length; -1 absent, -2 malformed */
    char *buf;           /* the response body */
    size_t len, cap;
    bool too_big;
    struct load_slot *next_idle;
    char errbuf[CURL_ERROR_SIZE];
} load_slot_t;

/* Arrivals waiting for an idle connection, oldest first (a ring). */
typedef struct load_backlog {
    uint64_t *at;
    int *model;
    bool *measured;
    size_t head, count, cap;
} load_backlog_t;

/* What one load (one rate or concurrency) counts. "Measured" counters are
 * of the arrivals inside the window [w0, w1); totals of the whole run,
 * warm-up included (what the server's counters see). */
typedef struct load_run {
    double load;
    uint64_t start_ns, w0_ns, w1_ns;
    cv_drive_rng_t rng;
    double next_arrival_s; /* open loop: the next arrival, seconds after start */
    int next_model;
    bool arrivals_done;    /* open loop: the window is over; closed: send no more */
    /* measured */
    long arrivals, sent, ok, bad, rejected, http_errors, transport, unfinished, unsent, met, waited;
    long window_completed; /* 200s answered inside the window */
    long statuses[STATUS_BUCKETS];
    double *latency; /* ms, of measured valid 200s */
    size_t nlatency, latency_cap;
    double *lag;     /* ms, sending - arrival, of measured requests */
    size_t nlag, lag_cap;
    bool out_of_memory;
    uint64_t last_send_ns; /* the last measured sending */
    /* the whole run */
    long total_sent, total_200, total_503, total_other, total_no_answer;
    /* the last second, for the progress line */
    double *recent;
    size_t nrecent, recent_cap;
    char first_error[256]; /* the first non-503 failure, for the report */
} load_run_t;

typedef struct load_ctx {
    const load_opts_t *o;
    CURLM *multi;
    int epfd;
    bool have_pwait2;          /* false once epoll_pwait2 said ENOSYS */
    uint64_t curl_deadline_ns; /* libcurl wants a timeout call then (0: none) */
    load_slot_t *slots;
    int nslots, busy, retrying;
    load_slot_t *idle;
    load_model_t *models;
    int nmodels;
    double *cumulative; /* running sums of the models' weights */
    load_backlog_t backlog;
    load_run_t *run;
} load_ctx_t;

/* What one run measured, as printed and written to the CSV. */
typedef struct load_result {
    double offered_per_s, completed_per_s, p50, p99, p999, attainment;
    double lag_p50_ms, lag_p99_ms, lag_max_ms;
    bool behind;
} load_result_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel load (--model NAME [--model NAME ...] | --models-from-server)\n"
            "                    (--rate R | --rates R1,R2,... | --concurrency C[,C2,...])\n"
            "                    [--url http://127.0.0.1:8000] [--connections N] [--slo MS]\n"
            "                    [--duration S] [--warmup S] [--csv FILE] [other options]\n"
            "\n"
            "Loads a running KServe v2 server (`caravel serve`, Triton, ...) over HTTP/1.1\n"
            "keep-alive connections with the binary tensor extension, and reports what\n"
            "its clients see: throughput, latency percentiles, SLO attainment and the\n"
            "answers by HTTP status (503, the server's refusals, apart). Each model's\n"
            "request is made once from its metadata (GET /v2/models/NAME; a leading -1\n"
            "becomes --rows, other -1 dimensions 1; floating inputs uniform in\n"
            "[-0.5, 0.5) from the seed, others 0)\n"
            "and every 200 answer is checked. A progress line goes to stderr about once\n"
            "a second, results to stdout.\n"
            "\n"
            "load (one of):\n"
            "  --rate R          open loop: Poisson arrivals, R requests/s over all models\n"
            "                    (exponential gaps; models uniform, or see --weights)\n"
            "  --rates R1,R2,..  a sweep: one open-loop run per rate, then the highest rate\n"
            "                    at which SLO attainment is still >= 99%% and >= 99.9%%\n"
            "  --concurrency C   closed loop: C requests outstanding, each on its own\n"
            "                    connection; an answer sends the next (a list sweeps)\n"
            "models (one of):\n"
            "  --model NAME      a model to load (repeatable)\n"
            "  --models-from-server  every model the repository index lists READY\n"
            "options:\n"
            "  --url URL         the server, http://HOST[:PORT] (default http://127.0.0.1:8000)\n"
            "  --weights W1,..   relative arrival rates of the models, reused in turn\n"
            "                    (default: uniform)\n"
            "  --connections N   keep-alive connections at most (open loop: default 256; an\n"
            "                    arrival takes an idle one or waits for one; closed loop:\n"
            "                    the concurrency, and at least it)\n"
            "  --rows N          rows per request: the size of a leading -1 dimension (the\n"
            "                    batch axis) in every model's inputs (default 1)\n"
            "  --slo MS          latency objective (default: none; then attainment is the\n"
            "                    share of arrivals answered 200)\n"
            "  --duration S      measured seconds per run (default 10)\n"
            "  --warmup S        seconds of load before the measured window (default 2)\n"
            "  --drain S         after the window, wait at most S seconds for answers, then\n"
            "                    abandon the rest (default 10; counted unfinished)\n"
            "  --seed N          arrival sequence and input data seed (default 1)\n"
            "  --csv FILE        append one row per run (with a header when FILE is new)\n"
            "  --label L         the CSV's first column (default: the URL)\n"
            "  --quiet           no progress line on stderr\n"
            "\n"
            "Latency runs from a request's arrival (open loop; waiting for a connection\n"
            "included) or its sending (closed loop) to its whole answer, over the measured\n"
            "arrivals answered 200 with a valid body. SLO attainment is those answered\n"
            "within the SLO over all measured arrivals (refusals, errors and the\n"
            "unfinished are misses). Every measured arrival is accounted for: sent =\n"
            "200 + 503 + other statuses + no answer + bad responses + unfinished, and\n"
            "arrivals = sent + unsent; the command fails when they do not add up.\n"
            "Exit status: 0 after the runs, 1 when the server cannot be used (unreachable,\n"
            "an unknown model), 2 for bad options.\n"
            "\n"
            "CSV columns: label,url,models,mode,rate,concurrency,connections,rows,slo_ms,\n"
            "duration_s,offered_per_s,completed_per_s,p50_ms,p99_ms,p999_ms,attainment,\n"
            "arrivals,sent,completed,rejected_503,http_errors,no_answer,bad_responses,\n"
            "unfinished,unsent,waited_for_connection,submit_lag_p50_ms,submit_lag_p99_ms,\n"
            "total_sent,total_200,total_503,total_other_status,total_no_answer (total_*:\n"
            "the whole run, warm-up and drain included, as the server counts them)\n");
}

/* ---- options --------------------------------------------------------------------- */

static bool parse_seconds(const char *option, const char *s, bool zero_ok, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0 || (!zero_ok && v == 0) || v > 1e6) {
        fprintf(stderr, "caravel load: %s needs a number of seconds %s, not '%s'\n", option,
                zero_ok ? ">= 0" : "> 0", s);
        return false;
    }
    *out = v;
    return true;
}

/* Returns 0 when parsed (or --help: *help), else the exit status. */
static int parse_options(int argc, char **argv, load_opts_t *o, bool *help)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->url, sizeof o->url, "http://127.0.0.1:8000");
    o->seed = 1;
    o->rows = 1;
    o->duration_s = 10;
    o->warmup_s = 2;
    o->drain_s = 10;
    bool have_rate = false, have_concurrency = false;
    *help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            o->quiet = true;
            continue;
        }
        if (!strcmp(a, "--models-from-server")) {
            o->from_server = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "caravel load: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
        const char *v = cv_cli_option_value("caravel load", argc, argv, &i);
        if (!v) return 2;
        if (!strcmp(a, "--model")) {
            if (o->nmodels == MAX_MODELS) {
                fprintf(stderr, "caravel load: at most %d --model names\n", MAX_MODELS);
                return 2;
            }
            if (!*v) {
                fprintf(stderr, "caravel load: --model needs a model name, not ''\n");
                return 2;
            }
            o->models[o->nmodels++] = v;
        } else if (!strcmp(a, "--url")) {
            cv_err_t err;
            if (cv_load_parse_url(v, o->url, sizeof o->url, &err) != CV_STATUS_OK) {
                fprintf(stderr, "caravel load: %s\n", err.msg);
                return 2;
            }
        } else if (!strcmp(a, "--rate") || !strcmp(a, "--rates")) {
            bool list = !strcmp(a, "--rates");
            if (!cv_drive_parse_list(v, 0, false, o->loads, list ? MAX_LOADS : 1, &o->nloads)) {
                fprintf(stderr, "caravel load: %s needs %s requests/s > 0, not '%s'\n", a,
                        list ? "a comma list of up to 64" : "one number of", v);
                return 2;
            }
            have_rate = true;
            o->mode = LOAD_POISSON;
        } else if (!strcmp(a, "--concurrency")) {
            bool whole = cv_drive_parse_list(v, 1, true, o->loads, MAX_LOADS, &o->nloads);
            for (int k = 0; whole && k < o->nloads; k++)
                whole = o->loads[k] == floor(o->loads[k]) && o->loads[k] <= MAX_CONNECTIONS;
            if (!whole) {
                fprintf(stderr, "caravel load: --concurrency needs integers from 1 to %d (a comma list of up "
                                "to 64), not '%s'\n", MAX_CONNECTIONS, v);
                return 2;
            }
            have_concurrency = true;
            o->mode = LOAD_CLOSED;
        } else if (!strcmp(a, "--weights")) {
            double sum = 0;
            bool ok = cv_drive_parse_list(v, 0, true, o->weights, MAX_MODELS, &o->nweights);
            for (int k = 0; ok && k < o->nweights; k++) sum += o->weights[k];
            if (!ok || sum <= 0) {
                fprintf(stderr, "caravel load: --weights needs a comma list of numbers >= 0, not all 0, "
                                "not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--connections")) {
            if (!cv_cli_parse_int("--connections", v, 1, &o->connections)) return 2;
            if (o->connections > MAX_CONNECTIONS) {
                fprintf(stderr, "caravel load: --connections must be at most %d, not '%s'\n", MAX_CONNECTIONS, v);
                return 2;
            }
        } else if (!strcmp(a, "--slo")) {
            int n;
            if (!cv_drive_parse_list(v, 0, false, &o->slo_ms, 1, &n)) {
                fprintf(stderr, "caravel load: --slo needs milliseconds > 0, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--seed")) {
            if (!cv_cli_parse_int("--seed", v, 0, &o->seed)) return 2;
        } else if (!strcmp(a, "--rows")) {
            if (!cv_cli_parse_int("--rows", v, 1, &o->rows)) return 2;
            if (o->rows > 1000000) {
                fprintf(stderr, "caravel load: --rows must be at most 1000000, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--duration")) {
            if (!parse_seconds("--duration", v, false, &o->duration_s)) return 2;
        } else if (!strcmp(a, "--warmup")) {
            if (!parse_seconds("--warmup", v, true, &o->warmup_s)) return 2;
        } else if (!strcmp(a, "--drain")) {
            if (!parse_seconds("--drain", v, true, &o->drain_s)) return 2;
        } else if (!strcmp(a, "--csv")) {
            o->csv = v;
        } else if (!strcmp(a, "--label")) {
            o->label = v;
        } else {
            fprintf(stderr, "caravel load: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (o->nmodels == 0 && !o->from_server) {
        fprintf(stderr, "caravel load: give the models: --model NAME (repeatable) or --models-from-server "
                        "(see --help)\n");
        return 2;
    }
    if (o->nmodels > 0 && o->from_server) {
        fprintf(stderr, "caravel load: --model and --models-from-server exclude each other\n");
        return 2;
    }
    if (have_rate && have_concurrency) {
        fprintf(stderr, "caravel load: --rate/--rates (open loop) and --concurrency (closed loop) exclude "
                        "each other\n");
        return 2;
    }
    if (!have_rate && !have_concurrency) {
        fprintf(stderr, "caravel load: give the load: --rate R, --rates R1,R2,... or --concurrency C "
                        "(see --help)\n");
        return 2;
    }
    if (o->mode == LOAD_CLOSED) {
        double most = 0;
        for (int k = 0; k < o->nloads; k++) most = fmax(most, o->loads[k]);
        if (o->connections && o->connections < (long)most) {
            fprintf(stderr, "caravel load: --connections %ld is below --concurrency %g: each outstanding "
                            "request needs its own connection\n", o->connections, most);
            return 2;
        }
        if (!o->connections) o->connections = (long)most;
    } else if (!o->connections) {
        o->connections = 256;
    }
    /* Each connection is a descriptor: past the usual soft limit of 1024,
     * raise it, or say at once that the load cannot be made. */
    int fit = cv_open_files_for((int)o->connections, 64);
    if (fit < o->connections) {
        fprintf(stderr, "caravel load: %ld connections need %ld open files, and the open-file limit (ulimit -n) "
                        "allows %d: raise it or lower the load\n", o->connections, o->connections + 64, fit + 64);
        return 2;
    }
    double sum = 0;
    for (int m = 0; o->nweights && m < o->nmodels; m++) sum += o->weights[m % o->nweights];
    if (o->nweights && o->nmodels && sum <= 0) {
        fprintf(stderr, "caravel load: --weights gives every one of the %d models weight 0\n", o->nmodels);
        return 2;
    }
    if (!o->label) o->label = o->url;
    return 0;
}

/* ---- plain requests (setup) ------------------------------------------------------ */

typedef struct load_buf {
    char *data;
    size_t len, cap;
    bool failed;
} load_buf_t;

/* libcurl's write callback: appends to a growing buffer; returning less
 * than given makes libcurl abandon the transfer. */
static size_t buf_write(char *data, size_t size, size_t n, void *user)
{
    load_buf_t *b = user;
    size_t bytes = size * n;
    if (b->len + bytes + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + bytes + 1) cap *= 2;
        char *grown = cap <= MAX_RESPONSE ? cv_realloc(b->data, cap) : NULL;
        if (!grown) {
            b->failed = true;
            return 0;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, bytes);
    b->len += bytes;
    b->data[b->len] = '\0';
    return bytes;
}

/* One blocking request (metadata, the index): its status in *status and
 * body in *out (cv_free out->data). A failure to get any answer is an
 * error naming the URL and libcurl's reason. */
static cv_status http_call(const char *url, const char *post_body, long *status, load_buf_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    CURL *easy = curl_easy_init();
    if (!easy) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "cannot make a libcurl handle");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    if (post_body) curl_easy_setopt(easy, CURLOPT_POSTFIELDS, post_body);
    CURLcode rc = curl_easy_perform(easy);
    cv_status st = CV_STATUS_OK;
    if (rc != CURLE_OK) {
        st = cv_errorf(err, CV_STATUS_UNAVAILABLE, "%s %s: %s", post_body ? "POST" : "GET", url,
                       errbuf[0] ? errbuf : curl_easy_strerror(rc));
        cv_free(out->data);
        memset(out, 0, sizeof(*out));
    } else {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
    }
    curl_easy_cleanup(easy);
    return st;
}

/* The model names of --models-from-server: the READY ones of the index. */
static cv_status models_from_server(const load_opts_t *o, char ***names, int *n, cv_err_t *err)
{
    char url[URL_LEN + 64];
    snprintf(url, sizeof url, "%s/v2/repository/index", o->url);
    long status = 0;
    load_buf_t b;
    cv_status st = http_call(url, "{\"ready\":true}", &status, &b, err);
    if (st != CV_STATUS_OK) return st;
    if (status != 200) {
        char msg[200];
        cv_load_error_message(b.data ? b.data : "", b.len, msg, sizeof msg);
        st = cv_errorf(err, CV_STATUS_UNAVAILABLE, "POST %s answered %ld: %s", url, status, msg);
    } else {
        st = cv_load_parse_index(b.data ? b.data : "", b.len, names, n, err);
        if (st == CV_STATUS_OK && *n == 0) {
            cv_load_names_free(*names, *n);
            st = cv_errorf(err, CV_STATUS_UNAVAILABLE, "the repository index of %s lists no READY model", o->url);
        }
    }
    cv_free(b.data);
    return st;
}

/* Fetches model `name`'s metadata and makes its request. */
static cv_status model_prepare(const load_opts_t *o, const char *name, int index, load_model_t *m, cv_err_t *err)
{
    memset(m, 0, sizeof(*m));
    char *escaped = curl_easy_escape(NULL, name, 0);
    if (!escaped) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    size_t len = strlen(o->url) + strlen(escaped) + 32;
    char *meta_url = cv_malloc(len);
    m->infer_url = cv_malloc(len);
    if (!meta_url || !m->infer_url) {
        curl_free(escaped);
        cv_free(meta_url);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    snprintf(meta_url, len, "%s/v2/models/%s", o->url, escaped);
    snprintf(m->infer_url, len, "%s/v2/models/%s/infer", o->url, escaped);
    curl_free(escaped);
    long status = 0;
    load_buf_t b;
    cv_status st = http_call(meta_url, NULL, &status, &b, err);
    if (st == CV_STATUS_OK && status != 200) {
        char msg[200];
        cv_load_error_message(b.data ? b.data : "", b.len, msg, sizeof msg);
        st = cv_errorf(err, CV_STATUS_NOT_FOUND, "model '%s': GET %s answered %ld: %s", name, meta_url, status, msg);
    } else if (st == CV_STATUS_OK) {
        st = cv_load_parse_metadata(b.data ? b.data : "", b.len, o->rows, &m->meta, err);
        if (st != CV_STATUS_OK) cv_err_prefix(err, "model '%s': ", name);
    }
    cv_free(b.data);
    cv_free(meta_url);
    if (st != CV_STATUS_OK) return st;
    /* Models differ in their data, runs of one seed do not. */
    st = cv_load_build_body(&m->meta, (uint64_t)o->seed * 1000003u + (uint64_t)index, &m->body, err);
    if (st != CV_STATUS_OK) return st;
    char header[96];
    snprintf(header, sizeof header, "Inference-Header-Content-Length: %zu", m->body.header_len);
    struct curl_slist *h = curl_slist_append(NULL, header);
    /* libcurl would otherwise ask large bodies for "100 Continue" first:
     * a round trip more than the protocol's clients pay. */
    if (h) h = curl_slist_append(h, "Expect:") ? h : (curl_slist_free_all(h), NULL);
    if (h) h = curl_slist_append(h, "Content-Type: application/octet-stream") ? h : (curl_slist_free_all(h), NULL);
    if (!h) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    m->headers = h;
    return CV_STATUS_OK;
}

static void model_free(load_model_t *m)
{
    cv_load_model_free(&m->meta);
    cv_load_body_free(&m->body);
    curl_slist_free_all(m->headers);
    cv_free(m->infer_url);
}

/* ---- the event loop: epoll and libcurl's socket interface ---------------------------- */

/* libcurl tells which sockets to watch for what. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *user, void *socketp)
{
    load_ctx_t *c = user;
    if (what == CURL_POLL_REMOVE) {
        /* The socket may be closed already, which removed it from the set. */
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    if (what & CURL_POLL_IN) ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT) ev.events |= EPOLLOUT;
    /* libcurl keeps a pointer per socket until it says REMOVE: non-NULL
     * marks a socket already in the set, so each change is one call. */
    if (socketp) {
        epoll_ctl(c->epfd, EPOLL_CTL_MOD, fd, &ev);
    } else {
        epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev);
        curl_multi_assign(c->multi, fd, c);
    }
    return 0;
}

/* libcurl asks for a call after timeout_ms (-1: no timer). */
static int on_timer(CURLM *multi, long timeout_ms, void *user)
{
    load_ctx_t *c = user;
    c->curl_deadline_ns = timeout_ms < 0 ? 0 : cv_clock_ns() + (uint64_t)timeout_ms * 1000000ull;
    /* 0 is a valid deadline ("now"); keep it distinct from "none". */
    if (timeout_ms >= 0 && c->curl_deadline_ns == 0) c->curl_deadline_ns = 1;
    return 0;
}

static size_t slot_write(char *data, size_t size, size_t n, void *user)
{
    load_slot_t *s = user;
    size_t bytes = size * n;
    if (s->len + bytes > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + bytes) cap *= 2;
        char *grown = cap <= MAX_RESPONSE ? cv_realloc(s->buf, cap) : NULL;
        if (!grown) {
            s->too_big = true;
            return 0;
        }
        s->buf = grown;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, bytes);
    s->len += bytes;
    return bytes;
}

static size_t slot_header(char *line, size_t size, size_t n, void *user)
{
    load_slot_t *s = user;
    size_t bytes = size * n;
    /* A status line starts a response (after an interim one, a new one). */
    if (bytes >= 5 && !strncmp(line, "HTTP/", 5)) s->header_len = -1;
    long v;
    if (cv_load_header_length(line, bytes, &v)) s->header_len = v;
    return bytes;
}

/* Waits for socket events until `wake` at the latest (both ns on
 * CLOCK_MONOTONIC). Kernels before 5.11 lack epoll_pwait2 (ENOSYS); then
 * epoll_wait's milliseconds, rounded up, have to do. */
static int wait_events(load_ctx_t *c, struct epoll_event *events, int max, uint64_t now, uint64_t wake)
{
    uint64_t ns = wake > now ? wake - now : 0;
    if (c->have_pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
        int n = epoll_pwait2(c->epfd, events, max, &ts, NULL);
        if (n >= 0 || errno != ENOSYS) return n;
        c->have_pwait2 = false;
    }
    return epoll_wait(c->epfd, events, max, (int)((ns + 999999) / 1000000));
}

static void ctx_destroy(load_ctx_t *c)
{
    for (int i = 0; i < c->nslots; i++) {
        if (c->slots[i].busy) curl_multi_remove_handle(c->multi, c->slots[i].easy);
        curl_easy_cleanup(c->slots[i].easy);
        cv_free(c->slots[i].buf);
    }
    if (c->multi) curl_multi_cleanup(c->multi);
    if (c->epfd >= 0) close(c->epfd);
    for (int m = 0; m < c->nmodels; m++) model_free(&c->models[m]);
    cv_free(c->models);
    cv_free(c->slots);
    cv_free(c->cumulative);
    cv_free(c->backlog.at);
    cv_free(c->backlog.model);
    cv_free(c->backlog.measured);
}

/* The multi handle, the event set and one slot per connection. */
static cv_status ctx_create(load_ctx_t *c, const load_opts_t *o, cv_err_t *err)
{
    memset(c, 0, sizeof(*c));
    c->o = o;
    c->have_pwait2 = true;
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd < 0) return cv_errorf(err, CV_STATUS_INTERNAL, "cannot make the event set: %s", strerror(errno));
    /* The thread's timeouts may otherwise end up to 50 us late (the
     * default slack), which is most of a gap at a few thousand arrivals/s. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    c->multi = curl_multi_init();
    c->slots = cv_calloc((size_t)o->connections, sizeof(*c->slots));
    if (!c->multi || !c->slots) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the connections");
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* At most one connection per slot, all kept open between requests. */
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, o->connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, o->connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, o->connections);
    for (long i = 0; i < o->connections; i++) {
        load_slot_t *s = &c->slots[i];
        s->easy = curl_easy_init();
        if (!s->easy) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the connections");
        c->nslots++;
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, slot_write);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, slot_header);
        curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
        /* No proxy: libcurl would otherwise read the proxy variables of the
         * environment again for every request (a load generator talks to
         * the server directly). */
        curl_easy_setopt(s->easy, CURLOPT_PROXY, "");
        s->model = -1;
        s->next_idle = c->idle;
        c->idle = s;
    }
    return CV_STATUS_OK;
}

/* ---- requests and answers ------------------------------------------------------- */

static bool record(double **arr, size_t *n, size_t *cap, double v)
{
    if (*n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 4096;
        double *grown = cv_realloc(*arr, grown_cap * sizeof(double));
        if (!grown) return false;
        *arr = grown;
        *cap = grown_cap;
    }
    (*arr)[(*n)++] = v;
    return true;
}

static void finish_transfer(load_ctx_t *c, load_slot_t *s, CURLcode rc, uint64_t now);

/* Sends model m's request on slot s (idle) for an arrival at `arrival`. */
static void slot_send(load_ctx_t *c, load_slot_t *s, int m, uint64_t arrival, bool measured, uint64_t now)
{
    load_run_t *r = c->run;
    const load_model_t *model = &c->models[m];
    /* The same model as this slot's last request: libcurl keeps the
     * options of a handle between transfers, and setting them again would
     * copy and parse the URL again. */
    if (s->model != m) {
        curl_easy_setopt(s->easy, CURLOPT_URL, model->infer_url);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, model->body.data);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)model->body.len);
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, model->headers);
    }
    s->model = m;
    s->arrival_ns = arrival;
    s->measured = measured;
    s->header_len = -1;
    s->len = 0;
    s->too_big = false;
    s->errbuf[0] = '\0';
    s->busy = true;
    c->busy++;
    r->total_sent++;
    if (measured) {
        r->sent++;
        if (!record(&r->lag, &r->nlag, &r->lag_cap, (double)(now - arrival) / 1e6)) r->out_of_memory = true;
        r->last_send_ns = now;
    }
    /* Refused (out of memory): it ends at once, unanswered. */
    if (curl_multi_add_handle(c->multi, s->easy) != CURLM_OK) finish_transfer(c, s, CURLE_OUT_OF_MEMORY, now);
}

/* A slot no longer busy goes back to the idle list. */
static void slot_release(load_ctx_t *c, load_slot_t *s)
{
    s->next_idle = c->idle;
    c->idle = s;
}

static int pick_model(load_ctx_t *c, load_run_t *r) { return cv_drive_pick(&r->rng, c->cumulative, c->nmodels); }

static void note_error(load_run_t *r, const load_model_t *m, const char *what)
{
    if (!r->first_error[0]) snprintf(r->first_error, sizeof r->first_error, "%.60s: %.180s", m->meta.name, what);
}

/* A transfer is over: counts its answer, then frees the slot or, in the
 * closed loop, sends the next request on it. */
static void finish_transfer(load_ctx_t *c, load_slot_t *s, CURLcode rc, uint64_t now)
{
    load_run_t *r = c->run;
    const load_model_t *m = &c->models[s->model];
    s->busy = false;
    c->busy--;
    long status = 0;
    bool answered = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && s->too_big);
    if (answered) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (!answered || status == 0) {
        r->total_no_answer++;
        if (s->measured) {
            r->transport++;
            r->statuses[0]++;
        }
        char msg[CURL_ERROR_SIZE + 32];
        snprintf(msg, sizeof msg, "no answer: %s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
        note_error(r, m, msg);
    } else {
        if (status == 200) r->total_200++;
        else if (status == 503) r->total_503++;
        else r->total_other++;
        if (s->measured) r->statuses[status > 0 && status < STATUS_BUCKETS ? status : STATUS_BUCKETS - 1]++;
        if (status == 200) {
            cv_err_t err;
            cv_load_response_t resp;
            cv_status st = s->too_big ? cv_errorf(&err, CV_STATUS_INVALID_ARGUMENT, "a response body over %zu bytes",
                                                  MAX_RESPONSE)
                                      : cv_load_parse_response(s->buf, s->len, s->header_len, m->meta.name, &resp, &err);
            if (st != CV_STATUS_OK) {
                if (s->measured) r->bad++;
                note_error(r, m, err.msg);
            } else {
                double ms = (double)(now - s->arrival_ns) / 1e6;
                if (now >= r->w0_ns && now < r->w1_ns) r->window_completed++;
                if (!record(&r->recent, &r->nrecent, &r->recent_cap, ms)) r->out_of_memory = true;
                if (s->measured) {
                    r->ok++;
                    r->met += c->o->slo_ms <= 0 || ms <= c->o->slo_ms;
                    if (!record(&r->latency, &r->nlatency, &r->latency_cap, ms)) r->out_of_memory = true;
                }
            }
        } else if (status == 503) {
            if (s->measured) r->rejected++;
        } else {
            if (s->measured) r->http_errors++;
            char msg[256], text[200];
            cv_load_error_message(s->buf ? s->buf : "", s->len, text, sizeof text);
            snprintf(msg, sizeof msg, "HTTP %ld: %s", status, text);
            note_error(r, m, msg);
        }
    }
    if (c->o->mode == LOAD_CLOSED && now < r->w1_ns) {
        bool measured = now >= r->w0_ns && now < r->w1_ns;
        if (!answered || status == 0) {
            /* Sent again after a pause, counted as an arrival then. */
            s->retry_ns = now + RETRY_NS;
            c->retrying++;
            return;
        }
        r->arrivals += measured;
        slot_send(c, s, pick_model(c, r), now, measured, now);
        return;
    }
    slot_release(c, s);
}

/* Every finished transfer libcurl reports. */
static void reap(load_ctx_t *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *slot = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &slot);
        curl_multi_remove_handle(c->multi, easy);
        finish_transfer(c, (load_slot_t *)slot, rc, cv_clock_ns());
    }
}

/* ---- arrivals --------------------------------------------------------------------- */

static bool backlog_push(load_backlog_t *b, uint64_t at, int model, bool measured)
{
    if (b->count == b->cap) {
        if (b->cap >= MAX_BACKLOG) return false;
        size_t cap = b->cap ? b->cap * 2 : 1024;
        uint64_t *a = cv_malloc(cap * sizeof(*a));
        int *m = cv_malloc(cap * sizeof(*m));
        bool *ms = cv_malloc(cap * sizeof(*ms));
        if (!a || !m || !ms) {
            cv_free(a);
            cv_free(m);
            cv_free(ms);
            return false;
        }
        /* Unrolled oldest first into the new arrays. */
        for (size_t i = 0; i < b->count; i++) {
            size_t k = (b->head + i) % b->cap;
            a[i] = b->at[k];
            m[i] = b->model[k];
            ms[i] = b->measured[k];
        }
        cv_free(b->at);
        cv_free(b->model);
        cv_free(b->measured);
        b->at = a;
        b->model = m;
        b->measured = ms;
        b->head = 0;
        b->cap = cap;
    }
    size_t k = (b->head + b->count) % b->cap;
    b->at[k] = at;
    b->model[k] = model;
    b->measured[k] = measured;
    b->count++;
    return true;
}

/* Open loop: every arrival due by `now` goes to an idle connection, or
 * waits in the backlog for one. */
static void admit_arrivals(load_ctx_t *c, uint64_t now)
{
    load_run_t *r = c->run;
    while (!r->arrivals_done) {
        uint64_t at = r->start_ns + (uint64_t)(r->next_arrival_s * 1e9);
        if (at >= r->w1_ns) {
            r->arrivals_done = true;
            break;
        }
        if (at > now) break;
        bool measured = at >= r->w0_ns;
        r->arrivals += measured;
        int m = r->next_model;
        if (c->idle && c->backlog.count == 0) {
            load_slot_t *s = c->idle;
            c->idle = s->next_idle;
            slot_send(c, s, m, at, measured, now);
        } else {
            r->waited += measured;
            if (!backlog_push(&c->backlog, at, m, measured)) r->unsent += measured;
        }
        r->next_arrival_s += cv_drive_exp_gap(&r->rng, r->load);
        r->next_model = pick_model(c, r);
    }
    /* The waiting ones, oldest first, on whatever became idle. */
    load_backlog_t *b = &c->backlog;
    while (b->count && c->idle) {
        load_slot_t *s = c->idle;
        c->idle = s->next_idle;
        slot_send(c, s, b->model[b->head], b->at[b->head], b->measured[b->head], now);
        b->head = (b->head + 1) % b->cap;
        b->count--;
    }
}

/* Closed loop: slots that waited after a failed send go again. */
static void retry_closed(load_ctx_t *c, uint64_t now, uint64_t *next)
{
    load_run_t *r = c->run;
    for (int i = 0; i < c->nslots && c->retrying; i++) {
        load_slot_t *s = &c->slots[i];
        if (!s->retry_ns) continue;
        if (r->arrivals_done) {
            /* Not sent again: the slot is idle. */
            s->retry_ns = 0;
            c->retrying--;
            s->next_idle = c->idle;
            c->idle = s;
            continue;
        }
        if (s->retry_ns > now) {
            if (s->retry_ns < *next) *next = s->retry_ns;
            continue;
        }
        s->retry_ns = 0;
        c->retrying--;
        bool measured = now >= r->w0_ns && now < r->w1_ns;
        r->arrivals += measured;
        slot_send(c, s, pick_model(c, r), now, measured, now);
    }
}

/* ---- progress and results --------------------------------------------------------- */

static void load_label(const load_opts_t *o, double load, char *buf, size_t len)
{
    if (o->mode == LOAD_POISSON) snprintf(buf, len, "poisson %g/s", load);
    else snprintf(buf, len, "closed loop %g outstanding", load);
}

/* One line on stderr: the run so far and the last second's p99 (sorting
 * the second's samples only, so the line costs little at any rate). */
static void progress(load_ctx_t *c, uint64_t now, bool last)
{
    load_run_t *r = c->run;
    if (c->o->quiet) return;
    cv_drive_sort(r->recent, r->nrecent);
    char what[64], p99[32] = "-", line[320];
    load_label(c->o, r->load, what, sizeof what);
    if (r->nrecent) snprintf(p99, sizeof p99, "%.2f ms", cv_drive_percentile(r->recent, r->nrecent, 0.99));
    double elapsed = now > r->start_ns ? (double)(now - r->start_ns) / 1e9 : 0;
    snprintf(line, sizeof line,
             "load %s: %.0f s%s: sent %ld, 200 %ld, 503 %ld, other %ld, no answer %ld; in flight %d, waiting %zu; "
             "p99 (last s) %s",
             what, elapsed, now < r->w0_ns ? " (warm-up)" : now >= r->w1_ns ? " (drain)" : "", r->total_sent,
             r->total_200, r->total_503, r->total_other, r->total_no_answer, c->busy, c->backlog.count, p99);
    r->nrecent = 0;
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\r%s\033[K%s", line, last ? "\n" : "");
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void finish(const load_ctx_t *c, load_run_t *r, load_result_t *res)
{
    const load_opts_t *o = c->o;
    memset(res, 0, sizeof(*res));
    double span = o->duration_s;
    if (o->mode == LOAD_POISSON && r->last_send_ns > r->w0_ns)
        span = fmax(span, (double)(r->last_send_ns - r->w0_ns) / 1e9);
    res->offered_per_s = (double)r->sent / span;
    res->completed_per_s = (double)r->window_completed / o->duration_s;
    cv_drive_sort(r->latency, r->nlatency);
    res->p50 = cv_drive_percentile(r->latency, r->nlatency, 0.50);
    res->p99 = cv_drive_percentile(r->latency, r->nlatency, 0.99);
    res->p999 = cv_drive_percentile(r->latency, r->nlatency, 0.999);
    res->attainment = cv_drive_attainment(r->met, r->arrivals);
    cv_drive_sort(r->lag, r->nlag);
    res->lag_p50_ms = cv_drive_percentile(r->lag, r->nlag, 0.50);
    res->lag_p99_ms = cv_drive_percentile(r->lag, r->nlag, 0.99);
    res->lag_max_ms = r->nlag ? r->lag[r->nlag - 1] : 0;
    res->behind = o->mode == LOAD_POISSON && (res->lag_p99_ms > 2.0 || span > o->duration_s * 1.01);
}

/* ---- one run ---------------------------------------------------------------------- */

/* Runs one load on the context's connections and fills *r (counters) and
 * *res. Fails only when the event loop itself fails (err). */
static cv_status run_load(load_ctx_t *c, double load, load_run_t *r, load_result_t *res, cv_err_t *err)
{
    const load_opts_t *o = c->o;
    memset(r, 0, sizeof(*r));
    r->load = load;
    cv_drive_rng_seed(&r->rng, (uint64_t)o->seed);
    r->start_ns = cv_clock_ns() + 1000000ull;
    r->w0_ns = r->start_ns + (uint64_t)(o->warmup_s * 1e9);
    r->w1_ns = r->w0_ns + (uint64_t)(o->duration_s * 1e9);
    uint64_t drain_end = r->w1_ns + (uint64_t)(o->drain_s * 1e9);
    c->run = r;
    if (o->mode == LOAD_POISSON) {
        r->next_arrival_s = cv_drive_exp_gap(&r->rng, load);
        r->next_model = pick_model(c, r);
    }
    bool started = o->mode == LOAD_POISSON;
    uint64_t next_progress = r->start_ns + 1000000000ull;
    cv_status st = CV_STATUS_OK;
    struct epoll_event events[64];
    for (;;) {
        uint64_t now = cv_clock_ns();
        if (c->curl_deadline_ns && now >= c->curl_deadline_ns) {
            int running;
            c->curl_deadline_ns = 0;
            curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
            reap(c);
        }
        if (!started && now >= r->start_ns) {
            /* The closed loop's first C requests, one per connection. */
            started = true;
            bool measured = o->warmup_s == 0;
            for (long i = 0; i < (long)load && c->idle; i++) {
                load_slot_t *s = c->idle;
                c->idle = s->next_idle;
                r->arrivals += measured;
                slot_send(c, s, pick_model(c, r), now, measured, now);
            }
        }
        if (o->mode == LOAD_CLOSED && started && now >= r->w1_ns) r->arrivals_done = true;
        uint64_t wake = next_progress;
        if (o->mode == LOAD_POISSON) {
            admit_arrivals(c, now);
            if (!r->arrivals_done) {
                uint64_t at = r->start_ns + (uint64_t)(r->next_arrival_s * 1e9);
                if (at < wake) wake = at;
            }
        } else {
            if (c->retrying) retry_closed(c, now, &wake);
            if (!started && r->start_ns < wake) wake = r->start_ns;
            if (!r->arrivals_done && r->w1_ns < wake) wake = r->w1_ns;
        }
        if (now >= next_progress) {
            progress(c, now, false);
            next_progress += 1000000000ull;
            if (next_progress < wake) wake = next_progress;
        }
        bool idle_now = r->arrivals_done && c->busy == 0 && c->backlog.count == 0 && c->retrying == 0;
        if (idle_now) break;
        if (now >= drain_end && r->arrivals_done) break;
        if (r->arrivals_done && drain_end < wake) wake = drain_end;
        if (c->curl_deadline_ns && c->curl_deadline_ns < wake) wake = c->curl_deadline_ns;
        int n = wait_events(c, events, (int)CV_ARRAY_LEN(events), now, wake);
        if (n < 0 && errno != EINTR) {
            st = cv_errorf(err, CV_STATUS_INTERNAL, "waiting for events: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            int flags = 0;
            if (events[i].events & EPOLLIN) flags |= CURL_CSELECT_IN;
            if (events[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
            if (events[i].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
            int running;
            curl_multi_socket_action(c->multi, events[i].data.fd, flags, &running);
        }
        reap(c);
    }
    /* The drain ran out: what is in flight is abandoned (unfinished), what
     * still waits for a connection was never sent. */
    for (int i = 0; i < c->nslots; i++) {
        load_slot_t *s = &c->slots[i];
        if (!s->busy) continue;
        curl_multi_remove_handle(c->multi, s->easy);
        r->total_no_answer++;
        if (s->measured) r->unfinished++;
        s->busy = false;
        c->busy--;
        slot_release(c, s);
    }
    for (; c->backlog.count; c->backlog.count--) {
        r->unsent += c->backlog.measured[c->backlog.head];
        c->backlog.head = (c->backlog.head + 1) % c->backlog.cap;
    }
    for (int i = 0; i < c->nslots; i++)
        if (c->slots[i].retry_ns) {
            c->slots[i].retry_ns = 0;
            c->slots[i].next_idle = c->idle;
            c->idle = &c->slots[i];
        }
    c->retrying = 0;
    progress(c, cv_clock_ns(), true);
    c->run = NULL;
    if (st != CV_STATUS_OK) return st;
    if (r->out_of_memory) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the latency samples");
    finish(c, r, res);
    /* Every measured arrival is sent or not, and every one sent has one
     * end; a difference is a bug in the accounting worth stopping for. */
    long ended = r->ok + r->bad + r->rejected + r->http_errors + r->transport + r->unfinished;
    if (r->sent != ended || r->arrivals != r->sent + r->unsent)
        return cv_errorf(err, CV_STATUS_INTERNAL, "%ld arrivals, %ld sent, %ld unsent, but %ld ended", r->arrivals,
                         r->sent, r->unsent, ended);
    return CV_STATUS_OK;
}

/* ---- output ----------------------------------------------------------------------- */

static void print_result(const load_ctx_t *c, const load_run_t *r, const load_result_t *res)
{
    const load_opts_t *o = c->o;
    char what[64], slo[48];
    load_label(o, r->load, what, sizeof what);
    if (o->slo_ms > 0) snprintf(slo, sizeof slo, "SLO %g ms met by", o->slo_ms);
    else snprintf(slo, sizeof slo, "no SLO; answered 200 to");
    printf("%s: offered %.1f/s, completed %.1f/s\n", what, res->offered_per_s, res->completed_per_s);
    printf("  latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms; %s %.2f%% of %ld arrivals\n", res->p50, res->p99,
           res->p999, slo, 100 * res->attainment, r->arrivals);
    printf("  sent %ld: 200 %ld, 503 %ld (refused by the server), other status %ld, no answer %ld, "
           "bad response %ld, unfinished %ld; unsent %ld\n",
           r->sent, r->ok, r->rejected, r->http_errors, r->transport, r->bad, r->unfinished, r->unsent);
    if (r->http_errors) {
        printf("  other statuses:");
        for (int k = 1; k < STATUS_BUCKETS; k++)
            if (r->statuses[k] && k != 200 && k != 503) printf(" %d x%ld", k, r->statuses[k]);
        printf("\n");
    }
    if (r->first_error[0]) printf("  first error: %s\n", r->first_error);
    /* A closed loop sends when an answer comes: it cannot be late. */
    if (o->mode == LOAD_POISSON)
        printf("  submission lag p50 %.3f ms, p99 %.3f ms, max %.3f ms; %ld arrivals waited for a connection "
               "(%ld connections)\n",
               res->lag_p50_ms, res->lag_p99_ms, res->lag_max_ms, r->waited, o->connections);
    printf("  whole run (warm-up and drain included): sent %ld, 200 %ld, 503 %ld, other status %ld, no answer %ld\n",
           r->total_sent, r->total_200, r->total_503, r->total_other, r->total_no_answer);
    if (res->behind)
        printf("  note: requests were sent late (p99 %.2f ms, at most %.2f ms after their arrival; offered "
               "%.1f/s of %g/s): %s\n",
               res->lag_p99_ms, res->lag_max_ms, res->offered_per_s, r->load,
               r->waited ? "arrivals waited for a connection (raise --connections)" : "the generator fell behind");
    fflush(stdout);
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const load_ctx_t *c, const load_run_t *r, const load_result_t *res)
{
    const load_opts_t *o = c->o;
    csv_field(f, o->label);
    fputc(',', f);
    csv_field(f, o->url);
    fprintf(f, ",%d,%s,", c->nmodels, o->mode == LOAD_POISSON ? "poisson" : "closed");
    if (o->mode == LOAD_POISSON) fprintf(f, "%g,,", r->load);
    else fprintf(f, ",%g,", r->load);
    fprintf(f, "%ld,%ld,%g,%g,%.2f,%.2f,%.3f,%.3f,%.3f,%.5f,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%.3f,%.3f,%ld,%ld,%ld,"
               "%ld,%ld\n",
            o->connections, o->rows, o->slo_ms, o->duration_s, res->offered_per_s, res->completed_per_s, res->p50, res->p99,
            res->p999, res->attainment, r->arrivals, r->sent, r->ok, r->rejected, r->http_errors, r->transport, r->bad,
            r->unfinished, r->unsent, r->waited, res->lag_p50_ms, res->lag_p99_ms, r->total_sent, r->total_200,
            r->total_503, r->total_other, r->total_no_answer);
    fflush(f);
}

static FILE *csv_open(const char *path)
{
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "caravel load: cannot open '%s' to append CSV rows: %s\n", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    if (ftell(f) == 0)
        fputs("label,url,models,mode,rate,concurrency,connections,rows,slo_ms,duration_s,offered_per_s,completed_per_s,"
              "p50_ms,p99_ms,p999_ms,attainment,arrivals,sent,completed,rejected_503,http_errors,no_answer,"
              "bad_responses,unfinished,unsent,waited_for_connection,submit_lag_p50_ms,submit_lag_p99_ms,total_sent,"
              "total_200,total_503,total_other_status,total_no_answer\n",
              f);
    return f;
}

static void print_sweep(const load_opts_t *o, const cv_drive_point_t *points, int n)
{
    const char *unit = o->mode == LOAD_POISSON ? "/s" : " outstanding";
    printf("sweep: highest %s with SLO attainment (at it and every lower one)",
           o->mode == LOAD_POISSON ? "rate" : "concurrency");
    static const double targets[] = {0.99, 0.999};
    for (size_t k = 0; k < CV_ARRAY_LEN(targets); k++) {
        int i = cv_drive_highest_meeting(points, n, targets[k]);
        if (i < 0) printf("%s >= %g%%: none", k ? "," : "", 100 * targets[k]);
        else printf("%s >= %g%%: %g%s", k ? "," : "", 100 * targets[k], points[i].load, unit);
    }
    printf("\n");
}

/* ---- the command ------------------------------------------------------------------ */

/* The models (names from the options or the server), their requests, and
 * their weights. */
static cv_status models_prepare(load_ctx_t *c, const load_opts_t *o, cv_err_t *err)
{
    int n = o->nmodels;
    char **fetched = NULL;
    if (o->from_server) {
        cv_status st = models_from_server(o, &fetched, &n, err);
        if (st != CV_STATUS_OK) return st;
    }
    c->models = cv_calloc((size_t)n, sizeof(*c->models));
    c->cumulative = cv_calloc((size_t)n, sizeof(*c->cumulative));
    cv_status st = c->models && c->cumulative ? CV_STATUS_OK
                                              : cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for %d models", n);
    double sum = 0;
    for (int m = 0; m < n && st == CV_STATUS_OK; m++) {
        st = model_prepare(o, fetched ? fetched[m] : o->models[m], m, &c->models[m], err);
        c->nmodels++; /* freed by ctx_destroy whatever happened */
        c->cumulative[m] = sum += o->nweights ? o->weights[m % o->nweights] : 1;
    }
    if (st == CV_STATUS_OK && sum <= 0)
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "--weights gives every one of the %d models weight 0", n);
    if (fetched) cv_load_names_free(fetched, n);
    return st;
}

int cv_cmd_load(int argc, char **argv)
{
    load_opts_t *o = cv_calloc(1, sizeof(*o));
    if (!o) {
        fprintf(stderr, "caravel load: out of memory\n");
        return 1;
    }
    bool help;
    int rc = parse_options(argc, argv, o, &help);
    if (rc || help) {
        if (help) usage(stdout);
        cv_free(o);
        return rc;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "caravel load: libcurl failed to initialize\n");
        cv_free(o);
        return 1;
    }
    load_ctx_t c;
    cv_err_t err = {{0}};
    FILE *csv = NULL;
    cv_drive_point_t *points = cv_calloc((size_t)o->nloads, sizeof(*points));
    load_run_t *r = cv_calloc(1, sizeof(*r));
    cv_status st = ctx_create(&c, o, &err);
    if (st == CV_STATUS_OK && (!points || !r)) st = cv_errorf(&err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    if (st == CV_STATUS_OK) st = models_prepare(&c, o, &err);
    if (st == CV_STATUS_OK && o->csv && !(csv = csv_open(o->csv))) rc = 1;
    if (st == CV_STATUS_OK && !rc) {
        char slo[32] = "none";
        if (o->slo_ms > 0) snprintf(slo, sizeof slo, "%g ms", o->slo_ms);
        printf("load: %d model%s at %s (", c.nmodels, c.nmodels == 1 ? "" : "s", o->url);
        for (int m = 0; m < c.nmodels; m++)
            printf("%s%s %zu B", m ? ", " : "", c.models[m].meta.name, c.models[m].body.len);
        printf("), binary tensors, %ld row%s per request, up to %ld connections, SLO %s, %g s measured after %g s "
               "warm-up, seed %ld\n",
               o->rows, o->rows == 1 ? "" : "s", o->connections, slo, o->duration_s, o->warmup_s, o->seed);
        fflush(stdout);
        int npoints = 0;
        for (int l = 0; l < o->nloads && st == CV_STATUS_OK; l++) {
            load_result_t res;
            st = run_load(&c, o->loads[l], r, &res, &err);
            if (st == CV_STATUS_OK) {
                print_result(&c, r, &res);
                if (csv) csv_row(csv, &c, r, &res);
                points[npoints++] = (cv_drive_point_t){o->loads[l], res.attainment};
            }
            cv_free(r->latency);
            cv_free(r->lag);
            cv_free(r->recent);
        }
        if (st == CV_STATUS_OK && o->nloads > 1) print_sweep(o, points, npoints);
    }
    if (st != CV_STATUS_OK) {
        fprintf(stderr, "caravel load: %s\n", err.msg);
        rc = 1;
    }
    if (csv) fclose(csv);
    ctx_destroy(&c);
    cv_free(points);
    cv_free(r);
    cv_free(o);
    curl_global_cleanup();
    return rc;
}
