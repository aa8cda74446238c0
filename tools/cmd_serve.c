/*
 * cmd_serve.c: `caravel serve`: serves a model repository over the KServe
 * v2 / Open Inference Protocol (HTTP) with Prometheus metrics beside it,
 * until SIGINT or SIGTERM, then finishes what is in flight and exits 0.
 * On one device or several (--device cuda:all, cuda:0,1, or logical CPU
 * devices cpu:0-3): a runtime, hence a scheduler, per device, and the
 * registry places each model on one of them (src/repo/placement.h).
 * The server itself is src/server (server.h), the repository src/repo.
 */
#include "cli.h"

#include "core/core.h"
#include "repo/placement.h"
#include "repo/registry.h"
#include "repo/repo.h"
#include "server/server.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LOAD_MODELS 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel serve --model-repository DIR [options]\n"
            "\n"
            "Serves the models of DIR (<model>/<version>/model.onnx, optional\n"
            "<model>/config.json) over the KServe v2 HTTP protocol (Triton's clients\n"
            "and perf_analyzer work), with Prometheus metrics on a second port. Each\n"
            "(model, version) is a tenant named <model>/<version>. Stops on SIGINT or\n"
            "SIGTERM after answering the requests in flight. A live status page is at\n"
            "http://ADDR:PORT/ (its JSON at /v2/caravel/status).\n"
            "\n"
            "  --model-repository DIR  the repository (required)\n"
            "  --load-model NAME       load only this model at startup (repeatable;\n"
            "                          default: every model of the repository)\n"
            "  --policy P              spacetime (default), exclusive, time or space\n"
            "  --device D              cpu (default), cuda, cuda:N, several GPUs: cuda:all,\n"
            "                          cuda:0,1 or cuda:0-3; or logical CPU devices,\n"
            "                          cpu:0,1 or cpu:0-3 (to try placement without GPUs).\n"
            "                          Several: a scheduler per device; each model goes\n"
            "                          to its family's device if it fits there, else to\n"
            "                          the one with the most free memory (config.json\n"
            "                          \"replicas\": N puts a copy on N devices, requests\n"
            "                          going to the least loaded); one that fits nowhere\n"
            "                          fails to load, the others serve\n"
            "  --device-memory SIZE    what each device's models may take, bytes or with\n"
            "                          K, M or G (powers of 1024): a budget on a GPU (its\n"
            "                          free memory limits it anyway), the only limit on\n"
            "                          a CPU device (default: none)\n"
            "  --threads T             CPU threads for kernels, per device (default: all\n"
            "                          cores, shared out between logical CPU devices)\n"
            "  --max-wave-rows R       rows of the widest wave (default 64)\n"
            "  --http-port N           protocol port (default 8000; 0: any free port)\n"
            "  --metrics-port N        metrics port (default 8002; 0: any; -1: none)\n"
            "  --bind ADDR             address to listen on (default 127.0.0.1)\n"
            "  --http-threads N        HTTP threads (default 2); requests waiting for\n"
            "                          the device hold none\n"
            "  --max-connections N     open HTTP connections at most (default 4096; the\n"
            "                          open-file limit is raised to match where allowed)\n"
            "  --run-here-us N         on a CPU device, run an inference whose wave can\n"
            "                          start at once and is predicted within N us on the\n"
            "                          HTTP thread that received it, not handed to a\n"
            "                          worker (default 200; 0: never)\n"
            "  --control-token TOKEN   load/unload need 'Authorization: Bearer TOKEN'\n"
            "  --max-body-bytes N      largest request body (default 67108864)\n"
            "  --log-level L           error, warn, info (default) or debug\n"
            "\n"
            "Prints 'listening on http://ADDR:PORT' and 'metrics on http://ADDR:PORT/metrics'\n"
            "once it serves.\n");
}

/* What --device asks for: a kind and the devices' indices (a GPU's
 * number; a logical CPU device's name only). */
typedef struct device_list {
    cv_device_t kind;
    bool all;     /* cuda:all: every GPU, counted once the option is read */
    bool plain;   /* "cpu" alone: one device, named "cpu" as before */
    int n;
    int index[CV_PLACE_MAX_DEVICES];
} device_list_t;

/* Parses LIST of "N", "A-B" items separated by commas, each index in
 * [0, 63], none twice, at most CV_PLACE_MAX_DEVICES in all. */
static bool parse_index_list(const char *whole, const char *list, device_list_t *out)
{
    char buf[256];
    if (strlen(list) >= sizeof buf || !list[0]) {
        fprintf(stderr, "caravel serve: --device '%s': expected a list of device numbers after ':'\n", whole);
        return false;
    }
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *end;
        errno = 0;
        long lo = strtol(item, &end, 10), hi = lo;
        bool ok = end != item && !errno && item[0] >= '0' && item[0] <= '9';
        if (ok && *end == '-') {
            char *from = end + 1;
            hi = strtol(from, &end, 10);
            ok = end != from && !errno && from[0] >= '0' && from[0] <= '9';
        }
        if (!ok || *end || lo > hi || hi > 63) {
            fprintf(stderr, "caravel serve: --device '%s': '%s' is not a device number in [0, 63] nor a range "
                            "A-B of them\n", whole, item);
            return false;
        }
        for (long i = lo; i <= hi; i++) {
            for (int k = 0; k < out->n; k++)
                if (out->index[k] == i) {
                    fprintf(stderr, "caravel serve: --device '%s' names device %ld twice\n", whole, i);
                    return false;
                }
            if (out->n == CV_PLACE_MAX_DEVICES) {
                fprintf(stderr, "caravel serve: --device '%s': at most %d devices\n", whole, CV_PLACE_MAX_DEVICES);
                return false;
            }
            out->index[out->n++] = (int)i;
        }
    }
    return true;
}

/* "cpu", "cpu:LIST", "cuda", "cuda:all" or "cuda:LIST". */
static bool parse_device(const char *s, device_list_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!strcmp(s, "cpu")) {
        out->kind = CV_DEVICE_CPU;
        out->plain = true;
        out->n = 1;
        return true;
    }
    if (!strncmp(s, "cpu:", 4)) {
        out->kind = CV_DEVICE_CPU;
        return parse_index_list(s, s + 4, out);
    }
    if (!strcmp(s, "cuda")) {
        out->kind = CV_DEVICE_CUDA;
        out->n = 1;
        return true;
    }
    if (!strcmp(s, "cuda:all")) {
        out->kind = CV_DEVICE_CUDA;
        out->all = true;
        return true;
    }
    if (!strncmp(s, "cuda:", 5)) {
        out->kind = CV_DEVICE_CUDA;
        return parse_index_list(s, s + 5, out);
    }
    fprintf(stderr, "caravel serve: --device must be cpu, cpu:LIST, cuda, cuda:all or cuda:LIST (LIST: 0,1 or "
                    "0-3), not '%s'\n", s);
    return false;
}

/* SIZE: bytes, or a number with K, M or G (powers of 1024; "KiB", "MB"
 * and the like are read the same), above 0. */
static bool parse_size(const char *option, const char *s, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double scale = 1;
    if (end != s) {
        switch (*end) {
        case 'k': case 'K': scale = 1024.0; end++; break;
        case 'm': case 'M': scale = 1024.0 * 1024; end++; break;
        case 'g': case 'G': scale = 1024.0 * 1024 * 1024; end++; break;
        default: break;
        }
        if (scale > 1 && *end == 'i') end++;
        if (scale > 1 && (*end == 'B' || *end == 'b')) end++;
    }
    if (end == s || *end || errno || !(v > 0) || v * scale >= 9.0e18 || s[0] < '0' || s[0] > '9') {
        fprintf(stderr, "caravel serve: %s needs a size above 0 (bytes, or with K, M or G), not '%s'\n", option, s);
        return false;
    }
    *out = (size_t)(v * scale);
    if (*out == 0) *out = 1;
    return true;
}

/* An integer option in [min, max]; prints one line and returns false
 * otherwise. */
static bool parse_bounded(const char *option, const char *s, long min, long max, long *out)
{
    if (!cv_cli_parse_int(option, s, min, out)) return false;
    if (*out <= max) return true;
    fprintf(stderr, "caravel serve: %s must be at most %ld, not '%s'\n", option, max, s);
    return false;
}

static sem_t stop_sem;
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    if (!stop_signal) stop_signal = sig;
    sem_post(&stop_sem);
}

static bool is_loopback(const char *bind)
{
    return !strcmp(bind, "localhost") || !strncmp(bind, "127.", 4) || !strcmp(bind, "::1");
}

int cv_cmd_serve(int argc, char **argv)
{
    const char *repo = NULL, *bind = "127.0.0.1", *token = NULL;
    const char *load[MAX_LOAD_MODELS], *device_arg = "cpu";
    int nload = 0;
    long http_port = 8000, metrics_port = 8002, threads = 0, http_threads = 2, max_wave_rows = 0;
    long max_body = (long)CV_SERVER_DEFAULT_MAX_BODY, max_connections = CV_SERVER_DEFAULT_MAX_CONNECTIONS;
    long run_here_us = CV_SERVER_DEFAULT_RUN_HERE_US;
    size_t device_memory = 0;
    cv_policy_t policy = CV_POLICY_SPACETIME;
    device_list_t devices = {.kind = CV_DEVICE_CPU, .plain = true, .n = 1};
    cv_log_level_t level = CV_LOG_INFO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char *v = cv_cli_option_value("caravel serve", argc, argv, &i);
        if (!v) return 2;
        bool ok = true;
        if (!strcmp(a, "--model-repository")) repo = v;
        else if (!strcmp(a, "--load-model")) {
            if (nload == MAX_LOAD_MODELS) {
                fprintf(stderr, "caravel serve: at most %d --load-model\n", MAX_LOAD_MODELS);
                return 2;
            }
            if (!cv_repo_name_valid(v)) {
                fprintf(stderr, "caravel serve: --load-model '%s' is not a model name (one path segment of "
                                "letters, digits, '_', '.', '-')\n", v);
                return 2;
            }
            load[nload++] = v;
        } else if (!strcmp(a, "--policy")) {
            if (!cv_policy_parse(v, &policy)) {
                fprintf(stderr, "caravel serve: --policy must be spacetime, exclusive, time or space, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--device")) {
            ok = parse_device(v, &devices);
            device_arg = v;
        } else if (!strcmp(a, "--device-memory")) ok = parse_size(a, v, &device_memory);
        else if (!strcmp(a, "--threads")) ok = cv_cli_parse_int(a, v, 1, &threads);
        else if (!strcmp(a, "--max-wave-rows")) ok = cv_cli_parse_int(a, v, 1, &max_wave_rows);
        else if (!strcmp(a, "--http-port")) ok = parse_bounded(a, v, 0, 65535, &http_port);
        else if (!strcmp(a, "--metrics-port")) ok = parse_bounded(a, v, -1, 65535, &metrics_port);
        else if (!strcmp(a, "--bind")) bind = v;
        else if (!strcmp(a, "--http-threads")) ok = parse_bounded(a, v, 1, 256, &http_threads);
        else if (!strcmp(a, "--max-connections")) ok = parse_bounded(a, v, 16, 1000000, &max_connections);
        else if (!strcmp(a, "--run-here-us")) ok = parse_bounded(a, v, 0, 1000000, &run_here_us);
        else if (!strcmp(a, "--control-token")) token = v;
        else if (!strcmp(a, "--max-body-bytes")) ok = cv_cli_parse_int(a, v, 1, &max_body);
        else if (!strcmp(a, "--log-level")) {
            static const char *names[] = {"error", "warn", "info", "debug"};
            ok = false;
            for (int l = 0; l < 4; l++)
                if (!strcmp(v, names[l])) {
                    level = (cv_log_level_t)l;
                    ok = true;
                }
            if (!ok) fprintf(stderr, "caravel serve: --log-level must be error, warn, info or debug\n");
        } else {
            fprintf(stderr, "caravel serve: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (!ok) return 2; /* the parser said why */
    }
    if (!repo) {
        fprintf(stderr, "caravel serve: --model-repository is required (see --help)\n");
        return 2;
    }
    if (!is_loopback(bind) && !token)
        fprintf(stderr, "caravel serve: warning: listening on %s without --control-token: anyone who can reach "
                        "it can load and unload models\n", bind);
    cv_log_set_level(level);

    /* SIGINT and SIGTERM post a semaphore (all a handler may safely do)
     * that this thread waits on. A handler rather than a blocked mask and
     * sigwait: threads that libraries start before main (OpenBLAS's) do
     * not block the signals, and one of them would take the default
     * action, killing the process. A second signal while stopping is
     * only noted. */
    sem_init(&stop_sem, 0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    cv_err_t err = {{0}};
    cv_runtime_t *rts[CV_PLACE_MAX_DEVICES] = {0};
    char names[CV_PLACE_MAX_DEVICES][24];
    cv_registry_device_t regdevs[CV_PLACE_MAX_DEVICES];
    cv_registry_t *reg = NULL;
    cv_server_t *srv = NULL;
    cv_repo_names_t models = {0};
    if (cv_repo_list_models(repo, &models, &err) != CV_STATUS_OK) goto fail;
    if (!cv_cli_models_listed("serve", repo, &models, load, nload)) {
        rc = 2;
        goto done;
    }
    if (devices.all) {
        int count = cv_cuda_device_count();
        if (count == 0) {
            cv_errorf(&err, CV_STATUS_UNAVAILABLE,
                      "--device cuda:all: no CUDA GPU found (none visible, or a build without the CUDA backend)");
            goto fail;
        }
        devices.n = CV_MIN(count, CV_PLACE_MAX_DEVICES);
        for (int i = 0; i < devices.n; i++) devices.index[i] = i;
    }
    /* Logical CPU devices share the cores unless told otherwise, so that
     * cpu:0-3 does not run four pools of every core against each other. */
    long per_device_threads = threads;
    if (devices.kind == CV_DEVICE_CPU && !threads && devices.n > 1) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        per_device_threads = CV_MAX(1, (cores > 0 ? cores : 1) / devices.n);
    }
    for (int i = 0; i < devices.n; i++) {
        cv_runtime_config_t rc_config = {.device = devices.kind,
                                         .device_index = devices.kind == CV_DEVICE_CUDA ? devices.index[i] : 0,
                                         .threads = (int)per_device_threads,
                                         .policy = policy,
                                         .max_wave_rows = (int)max_wave_rows};
        if (devices.plain) snprintf(names[i], sizeof names[i], "cpu");
        else snprintf(names[i], sizeof names[i], "%s:%d", devices.kind == CV_DEVICE_CUDA ? "cuda" : "cpu",
                      devices.index[i]);
        if (cv_runtime_create(&rc_config, &rts[i], &err) != CV_STATUS_OK) {
            cv_err_prefix(&err, "device %s", names[i]);
            goto fail;
        }
        regdevs[i] = (cv_registry_device_t){.rt = rts[i], .name = names[i], .budget_bytes = device_memory};
    }
    if (cv_registry_create_devices(regdevs, devices.n, repo, &reg, &err) != CV_STATUS_OK) goto fail;
    /* A model that fails to load is reported and left UNAVAILABLE (the
     * repository index says why); the others are served. */
    if (nload == 0) {
        if (cv_registry_load_all(reg, &err) != CV_STATUS_OK)
            fprintf(stderr, "caravel serve: not every model loaded (see above); serving the others\n");
    } else {
        for (int i = 0; i < nload; i++)
            if (cv_registry_load(reg, load[i], &err) != CV_STATUS_OK)
                fprintf(stderr, "caravel serve: %s\n", err.msg);
    }
    char device_names[CV_PLACE_MAX_DEVICES * 26] = "";
    for (int i = 0, at = 0; i < devices.n; i++)
        at += snprintf(device_names + at, sizeof device_names - (size_t)at, "%s%s", i ? "," : "", names[i]);
    cv_server_options_t options = {.bind = bind,
                                   .policy = cv_policy_name(policy),
                                   .device = devices.n > 1 ? device_arg : names[0],
                                   .http_port = (int)http_port,
                                   .metrics_port = (int)metrics_port,
                                   .http_threads = (int)http_threads,
                                   .max_connections = (int)max_connections,
                                   .run_here_us = run_here_us ? (int)run_here_us : -1,
                                   .control_token = token,
                                   .max_body_bytes = (size_t)max_body};
    if (cv_server_start(&options, reg, &srv, &err) != CV_STATUS_OK) goto fail;
    const char *open_bracket = strchr(bind, ':') ? "[" : "", *close_bracket = strchr(bind, ':') ? "]" : "";
    printf("listening on http://%s%s%s:%d (policy %s, device%s %s)\n", open_bracket, bind, close_bracket,
           cv_server_http_port(srv), cv_policy_name(policy), devices.n > 1 ? "s" : "", device_names);
    if (cv_server_metrics_port(srv) >= 0)
        printf("metrics on http://%s%s%s:%d/metrics\n", open_bracket, bind, close_bracket,
               cv_server_metrics_port(srv));
    fflush(stdout);

    while (sem_wait(&stop_sem) != 0) continue; /* EINTR */
    printf("caravel serve: %s: finishing the requests in flight\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    fflush(stdout);
    cv_server_stop(srv);
    srv = NULL;
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "caravel serve: %s\n", err.msg);
done:
    cv_server_stop(srv);
    cv_registry_destroy(reg);
    for (int i = 0; i < CV_PLACE_MAX_DEVICES; i++) cv_runtime_destroy(rts[i]);
    cv_repo_names_free(&models);
    if (rc == 0) printf("caravel serve: stopped\n");
    return rc;
}
