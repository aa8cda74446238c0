/*
 * cmd_serve.c: `caravel serve`: serves a model repository over the KServe
 * v2 / Open Inference Protocol (HTTP) with Prometheus metrics beside it,
 * until SIGINT or SIGTERM, then finishes what is in flight and exits 0.
 * The server itself is src/server (server.h), the repository src/repo.
 */
#include "cli.h"

#include "core/core.h"
#include "repo/registry.h"
#include "repo/repo.h"
#include "server/server.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

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
            "  --device D              cpu (default), cuda or cuda:N\n"
            "  --threads T             CPU threads for kernels (default: all cores)\n"
            "  --max-wave-rows R       rows of the widest wave (default 64)\n"
            "  --http-port N           protocol port (default 8000; 0: any free port)\n"
            "  --metrics-port N        metrics port (default 8002; 0: any; -1: none)\n"
            "  --bind ADDR             address to listen on (default 127.0.0.1)\n"
            "  --http-threads N        HTTP threads (default 2); requests waiting for\n"
            "                          the device hold none\n"
            "  --control-token TOKEN   load/unload need 'Authorization: Bearer TOKEN'\n"
            "  --max-body-bytes N      largest request body (default 67108864)\n"
            "  --log-level L           error, warn, info (default) or debug\n"
            "\n"
            "Prints 'listening on http://ADDR:PORT' and 'metrics on http://ADDR:PORT/metrics'\n"
            "once it serves.\n");
}

/* "cpu", "cuda" or "cuda:N". */
static bool parse_device(const char *s, cv_device_t *device, int *index)
{
    *index = 0;
    if (!strcmp(s, "cpu")) {
        *device = CV_DEVICE_CPU;
        return true;
    }
    if (!strncmp(s, "cuda", 4) && (s[4] == 0 || s[4] == ':')) {
        *device = CV_DEVICE_CUDA;
        if (!s[4]) return true;
        long n;
        if (cv_cli_parse_int("--device cuda:N", s + 5, 0, &n) && n <= 64) {
            *index = (int)n;
            return true;
        }
        return false;
    }
    fprintf(stderr, "caravel serve: --device must be cpu, cuda or cuda:N, not '%s'\n", s);
    return false;
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
    const char *load[MAX_LOAD_MODELS];
    int nload = 0, device_index = 0;
    long http_port = 8000, metrics_port = 8002, threads = 0, http_threads = 2, max_wave_rows = 0;
    long max_body = (long)CV_SERVER_DEFAULT_MAX_BODY;
    cv_policy_t policy = CV_POLICY_SPACETIME;
    cv_device_t device = CV_DEVICE_CPU;
    cv_log_level_t level = CV_LOG_INFO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "caravel serve: %s needs a value (see --help)\n", a);
            return 2;
        }
        const char *v = argv[++i];
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
        } else if (!strcmp(a, "--device")) ok = parse_device(v, &device, &device_index);
        else if (!strcmp(a, "--threads")) ok = cv_cli_parse_int(a, v, 1, &threads);
        else if (!strcmp(a, "--max-wave-rows")) ok = cv_cli_parse_int(a, v, 1, &max_wave_rows);
        else if (!strcmp(a, "--http-port")) ok = parse_bounded(a, v, 0, 65535, &http_port);
        else if (!strcmp(a, "--metrics-port")) ok = parse_bounded(a, v, -1, 65535, &metrics_port);
        else if (!strcmp(a, "--bind")) bind = v;
        else if (!strcmp(a, "--http-threads")) ok = parse_bounded(a, v, 1, 256, &http_threads);
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
    cv_runtime_t *rt = NULL;
    cv_registry_t *reg = NULL;
    cv_server_t *srv = NULL;
    cv_runtime_config_t rc_config = {.device = device,
                                     .device_index = device_index,
                                     .threads = (int)threads,
                                     .policy = policy,
                                     .max_wave_rows = (int)max_wave_rows};
    cv_repo_names_t models = {0};
    if (cv_repo_list_models(repo, &models, &err) != CV_STATUS_OK) goto fail;
    if (!cv_cli_models_listed("serve", repo, &models, load, nload)) {
        rc = 2;
        goto done;
    }
    if (cv_runtime_create(&rc_config, &rt, &err) != CV_STATUS_OK) goto fail;
    if (cv_registry_create(rt, repo, &reg, &err) != CV_STATUS_OK) goto fail;
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
    char device_name[32];
    if (device == CV_DEVICE_CPU) snprintf(device_name, sizeof device_name, "cpu");
    else snprintf(device_name, sizeof device_name, "cuda:%d", device_index);
    cv_server_options_t options = {.bind = bind,
                                   .policy = cv_policy_name(policy),
                                   .device = device_name,
                                   .http_port = (int)http_port,
                                   .metrics_port = (int)metrics_port,
                                   .http_threads = (int)http_threads,
                                   .control_token = token,
                                   .max_body_bytes = (size_t)max_body};
    if (cv_server_start(&options, rt, reg, &srv, &err) != CV_STATUS_OK) goto fail;
    const char *open_bracket = strchr(bind, ':') ? "[" : "", *close_bracket = strchr(bind, ':') ? "]" : "";
    printf("listening on http://%s%s%s:%d (policy %s, device %s)\n", open_bracket, bind, close_bracket,
           cv_server_http_port(srv), cv_policy_name(policy), device == CV_DEVICE_CPU ? "cpu" : "cuda");
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
    cv_runtime_destroy(rt);
    cv_repo_names_free(&models);
    if (rc == 0) printf("caravel serve: stopped\n");
    return rc;
}
