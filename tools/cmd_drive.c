/*
 * cmd_drive.c: `caravel drive`: a load generator that drives the
 * asynchronous API (cv_submit with a callback) as clients of a server
 * would, and measures what each scheduling policy makes of the load:
 * throughput, latency percentiles, SLO attainment, the share of requests
 * served fused with other tenants, and what was turned away.
 *
 * Two kinds of load:
 *   open loop (--rate, --rates)   Poisson arrivals at a given rate across
 *       the tenants (uniform or weighted), from one submitter thread that
 *       sleeps until each arrival's time (absolute, on CLOCK_MONOTONIC), so
 *       that arrivals do not wait for answers; the sequence is seeded and
 *       the same for every policy;
 *   closed loop (--concurrency)   C requests outstanding: each answer's
 *       callback submits the next request at once.
 * Request objects are made ahead and reused (a free list per tenant that
 * callbacks refill), their inputs written once with deterministic data, so
 * that neither allocation nor input filling sits between an arrival and its
 * cv_submit. They are destroyed only at the end.
 *
 * Each policy runs in a fresh runtime with the tenants loaded anew; the
 * loads of a sweep (--rates) run one after another in that runtime, each
 * with its own warm-up, measured window and drain (loading many large
 * tenants per load would cost more than the runs), or each in its own
 * runtime too with --fresh.
 *
 * A list of tenant counts (--tenants 1,2,4,...) grows one runtime per
 * policy: it loads tenants up to the first count, runs the loads over
 * them, loads more up to the next count, and so on, so that a sweep over
 * tenant counts loads each tenant once per policy. With --until-full a
 * load that runs out of memory (or host memory below a reserve, or a time
 * limit on loading) ends the growth instead of the command: the tenants
 * loaded so far run the loads once more, and the point where it stopped is
 * reported (the memory wall).
 *
 * A closed loop keeps C requests outstanding over all tenants, each next
 * request of a tenant drawn at random, or with --per-tenant C per tenant,
 * each answer followed by the next request of the same tenant (the paper's
 * clients: one per tenant, queues kept full).
 *
 * What it does not do: HTTP (it drives the library directly), check outputs
 * (`caravel wave` and the tests do), or time the device (`caravel bench`).
 */
#include "cli.h"
#include "drive_stats.h"

#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_MODELS 256
#define MAX_LOADS 64
#define MAX_COUNTS 64
#define MAX_POLICIES 16
#define MAX_WEIGHTS 256
/* The progress line's p99 is over this many of the latest answers. */
#define PROGRESS_WINDOW 65536

typedef enum drive_mode {
    DRIVE_POISSON = 0, /* open loop */
    DRIVE_CLOSED,
} drive_mode_t;

typedef struct drive_opts {
    const char *models[MAX_MODELS];
    int nmodels;
    long tenants; /* the most tenants loaded: the last of counts[] */
    long counts[MAX_COUNTS]; /* tenant counts to run at, ascending */
    int ncounts;
    long rows, threads, seed;
    cv_device_t device;
    cv_precision_t precision;
    cv_policy_t policies[MAX_POLICIES];
    int npolicies;
    double slo_ms;
    drive_mode_t mode;
    double loads[MAX_LOADS]; /* rates (requests/s) or concurrencies */
    int nloads;
    double weights[MAX_WEIGHTS];
    int nweights;
    double duration_s, warmup_s, drain_s;
    double sweep_stop; /* skip a policy's higher loads once attainment is below it (0: never) */
    long max_wave_rows, waves_in_flight, queue_bound, max_outstanding;
    const char *csv, *label, *tenant_csv, *wall_csv;
    bool quiet;
    bool fresh; /* a fresh runtime for every load, not only every policy */
    bool per_tenant; /* closed loop: the concurrency is per tenant */
    bool until_full; /* a load out of memory ends the growth (--tenants list) */
    bool no_sharing; /* every tenant its own copy of every weight */
    double load_seconds; /* until_full: stop growing after this much loading (0: no limit) */
    long host_reserve_mb; /* until_full: stop growing below this much MemAvailable */
} drive_opts_t;

/* One reusable request object. */
typedef struct drive_slot {
    cv_request_t *req;
    int tenant;
    bool measured; /* it arrived inside the measured window */
    struct drive_ctx *ctx;
    struct drive_slot *next_free;
} drive_slot_t;

/* Counters read from the runtime at the start of the measured window and
 * after the drain; the difference is the window's. */
typedef struct drive_snapshot {
    long completed, fused; /* tenants' counters summed */
    long ran, waves;       /* families' counters summed */
    long widths[CV_WAVE_HISTOGRAM];
} drive_snapshot_t;

/* One load of one policy. Fields under ctx->mu unless marked. */
typedef struct drive_run {
    struct drive_ctx *ctx;
    double load;
    uint64_t start_ns, w0_ns, w1_ns; /* the run's start, the measured window [w0, w1) */
    cv_drive_rng_t rng;              /* the submitter's; closed loop: under mu */
    long submitted;                  /* every arrival, warm-up included (progress) */
    long completed;                  /* every completion (progress) */
    long window_completed;           /* completions answered inside the window */
    long arrivals;                   /* arrivals inside the window: the measured ones */
    long outcomes[CV_OUTCOME_COUNT]; /* measured arrivals by how they ended */
    long dropped;                    /* measured arrivals with no request object free */
    long met;                        /* measured arrivals completed within the deadline */
    long created;                    /* request objects made while it ran */
    long *owed;                      /* closed loop: per tenant, submissions to retry next tick */
    bool stop;                       /* closed loop: submit no more */
    double *latency;                 /* total_ms of measured completions */
    int *latency_tenant;             /* and whose each was */
    size_t nlatency, latency_cap;
    long *tenant_arrivals, *tenant_met; /* measured arrivals and those met, per tenant */
    bool out_of_memory;
    bool failed;                     /* a library error stopped it: err, failed_st */
    cv_status failed_st;
    cv_err_t err;
    /* The submitter's own. */
    double *lag;                     /* open loop: submit time - arrival time (ms) */
    size_t nlag, lag_cap;
    uint64_t last_submit_ns;
    atomic_bool submitter_done;
    drive_snapshot_t before, after;
} drive_run_t;

/* One policy's runtime and its tenants, for all the loads of a sweep. */
typedef struct drive_ctx {
    const drive_opts_t *o;
    cv_policy_t policy;
    cv_runtime_t *rt;
    cv_tenant_t **tenants;
    long loaded;      /* tenants loaded so far (tenants[0..loaded)) */
    long active;      /* the first `active` of them take the load */
    double load_s;    /* seconds spent loading them */
    int *family_reps; /* one tenant per family */
    int nfamilies;
    double *cumulative; /* running sums of the tenants' arrival weights */
    pthread_mutex_t mu;
    drive_slot_t **free;  /* per tenant */
    int *tenant_slots;    /* objects made per tenant */
    drive_slot_t **slots; /* every object made, for the end */
    int nslots, slots_cap;
    drive_run_t *run;     /* the run in progress, or NULL */
} drive_ctx_t;

/* What one run measured. */
/* One tenant's part of a run. */
typedef struct drive_tenant_result {
    long arrivals, completed;
    double mean, p50, p99, attainment;
} drive_tenant_result_t;

typedef struct drive_result {
    double offered_per_s, completed_per_s;
    double mean, p50, p99, p999;
    drive_tenant_result_t *tenants; /* per active tenant (cv_free it) */
    double tenant_spread; /* slowest / fastest tenant mean latency (0: fewer than two measured) */
    double attainment, fused_share, mean_wave_requests;
    long arrivals, completed, queue_full, infeasible, expired, failed, unfinished, dropped, waves;
    long widths[CV_WAVE_HISTOGRAM];
    double lag_p99_ms, lag_max_ms;
    bool behind;
    /* Host time per scheduled wave, medians over the runtime's last 1024
     * waves (cv_runtime_stats): the scheduler's decision and a lane's launch. */
    double form_us, handoff_us, launch_us, inputs_us, cache_us, rebind_us, graph_launch_us, lookup_us;
    long graph_nodes, graph_kernels; /* the largest graph captured */
} drive_result_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel drive --model M.onnx [--model M2.onnx ...] [--tenants R[,R2,...]]\n"
            "                     (--rate R | --rates R1,R2,... | --concurrency C[,C2,...])\n"
            "                     [--policy P] [--slo MS] [--duration S] [--warmup S]\n"
            "                     [--device cpu|cuda] [--threads T] [--precision P]\n"
            "                     [--csv FILE] [other options]\n"
            "\n"
            "Drives the asynchronous API (cv_submit) with R tenants (one per --model\n"
            "file, files reused in turn when fewer than R are given) and reports per\n"
            "policy: throughput, latency percentiles, SLO attainment, the share of\n"
            "requests served fused with other tenants, and rejections. A progress\n"
            "line goes to stderr about once a second, results to stdout.\n"
            "\n"
            "load (one of):\n"
            "  --rate R          open loop: Poisson arrivals, R requests/s over all tenants\n"
            "                    (exponential gaps; tenants uniform, or see --weights)\n"
            "  --rates R1,R2,..  a sweep: one open-loop run per rate per policy, then per\n"
            "                    policy the highest rate at which SLO attainment is still\n"
            "                    >= 99%% and >= 99.9%% (at that rate and every lower one)\n"
            "  --concurrency C   closed loop: C requests outstanding; each answer's callback\n"
            "                    submits the next (a list C1,C2,... sweeps)\n"
            "  --per-tenant      closed loop: C outstanding per tenant, each answer followed\n"
            "                    by the next request of the same tenant (default: C over all\n"
            "                    tenants, each next one of a tenant drawn at random)\n"
            "options:\n"
            "  --policy P        spacetime (default), exclusive, time, space, a comma list,\n"
            "                    or all: each in turn, each in a fresh runtime, with the\n"
            "                    same seeded arrival sequence\n"
            "  --slo MS          every tenant's latency objective (default: none; then every\n"
            "                    completed request meets it)\n"
            "  --duration S      measured seconds per run (default 10)\n"
            "  --warmup S        seconds of load before the measured window (default 2)\n"
            "  --drain S         after the last arrival, wait at most S seconds for answers,\n"
            "                    then cancel what is still queued (default 5; it counts\n"
            "                    as unfinished: a miss)\n"
            "  --tenants R       tenants (default: the number of --model files); a list\n"
            "                    R1,R2,... (ascending) runs every load at each count in turn,\n"
            "                    loading the tenants each count adds into the same runtime\n"
            "  --until-full      with a --tenants list: a tenant load that runs out of memory\n"
            "                    (or MemAvailable below --host-reserve-mb, or loading past\n"
            "                    --load-seconds) ends the growth, not the command: the tenants\n"
            "                    loaded run the loads once more and the wall is reported\n"
            "  --host-reserve-mb N  --until-full: host memory to leave (default 4096)\n"
            "  --load-seconds S  --until-full: loading time per policy at most (default: none)\n"
            "  --weights W1,..   relative arrival rates of the tenants, reused in turn\n"
            "                    (default: uniform)\n"
            "  --rows N          rows per request (default 1)\n"
            "  --sweep-stop A    in a sweep, once a policy's SLO attainment falls below A\n"
            "                    (a fraction, such as 0.5), skip its higher loads: they\n"
            "                    would only miss more (default: run every load)\n"
            "  --no-sharing      every tenant keeps its own copy of every weight: by default\n"
            "                    identical weight tensors (tenants loaded from one file, a\n"
            "                    shared backbone) are stored once\n"
            "  --fresh           a fresh runtime (tenants loaded anew) for every load of a\n"
            "                    sweep too, so that the aftermath of one load (queues, a\n"
            "                    latency model taught by overload) cannot touch the next;\n"
            "                    by default a policy's loads share its runtime\n"
            "  --seed N          arrival sequence seed (default 1)\n"
            "  --device D        cpu (default) or cuda; --threads T: CPU threads\n"
            "  --precision P     fp32 (default), tf32, fp16 or bf16\n"
            "  --max-wave-rows N   rows of the widest wave (default: the library's, 64)\n"
            "  --waves-in-flight N spacetime: waves of a family at once (default: the\n"
            "                    library's, 2 on CUDA, 1 on the CPU)\n"
            "  --queue-bound N   requests queued per tenant at most (default: the library's)\n"
            "  --max-outstanding N  request objects at most (default 4096): an open-loop\n"
            "                    arrival finding none free is dropped (a miss), which says\n"
            "                    the runtime holds more than the test can keep\n"
            "  --csv FILE        append one row per run (with a header when FILE is new)\n"
            "  --tenant-csv FILE append one row per tenant per run: label,policy,device,\n"
            "                    precision,tenants,mode,rate,concurrency,per_tenant,tenant,\n"
            "                    arrivals,completed,mean_ms,p50_ms,p99_ms,attainment\n"
            "  --wall-csv FILE   append one row per policy on how its tenants' growth ended:\n"
            "                    label,policy,device,precision,tenants_loaded,device_bytes,\n"
            "                    host_bytes,load_s,stopped_by (list: the list ran out;\n"
            "                    out_of_memory: a load failed; host_reserve; load_seconds;\n"
            "                    run: request objects ran out of memory),message\n"
            "  --label L         the CSV's first column (default: the first model's path)\n"
            "  --quiet           no progress line or notes on stderr\n"
            "\n"
            "Measured over the window [warm-up, warm-up + duration): latency is\n"
            "cv_request_timings().total_ms (submit to answer) of requests that arrived in\n"
            "it and completed; SLO attainment is those completed within their deadline\n"
            "over all that arrived in it (rejections, expiries, failures, drops and\n"
            "unfinished count as misses); completed/s counts answers inside the window;\n"
            "fused share is fused / completed and waves the families' waves, from the\n"
            "runtime's counters over the window and the drain. offered/s is the\n"
            "measured arrivals over the time the submitter took to send them: below the\n"
            "rate when it fell behind, which is then said.\n"
            "\n"
            "CSV columns: label,policy,device,precision,tenants,rows,mode,rate,concurrency,\n"
            "slo_ms,duration_s,max_wave_rows,waves_in_flight (0: the library's default),\n"
            "offered_per_s,completed_per_s,p50_ms,p99_ms,p999_ms,attainment,fused_share,\n"
            "arrivals,completed,rejected_queue_full,rejected_infeasible,expired,failed,\n"
            "unfinished,dropped,waves,mean_wave_requests,submit_lag_p99_ms,form_us_median,\n"
            "launch_us_median (host time per wave: the scheduler's decision and a lane's\n"
            "launch, medians over the runtime's last 1024 waves),mean_ms,per_tenant (1:\n"
            "--per-tenant),tenant_spread (the slowest tenant's mean latency over the\n"
            "fastest's; 0 with fewer than two tenants measured),inputs_us_median (of the\n"
            "launch, the part placing the wave's inputs),cache_us_median (of the launch,\n"
            "the super-kernel cache's part: lookup, a rebind's tables, the graph launch),\n"
            "rebind_us_median (host time of a rebind: a cached graph's tables pointed at\n"
            "other members),graph_launch_us_median (host time of a cached graph's launch),\n"
            "lookup_us_median (host time of the cache's lookup of a wave)\n");
}

/* ---- options --------------------------------------------------------------------- */

static bool parse_seconds(const char *option, const char *s, bool zero_ok, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0 || (!zero_ok && v == 0) || v > 1e6) {
        fprintf(stderr, "caravel drive: %s needs a number of seconds %s, not '%s'\n", option,
                zero_ok ? ">= 0" : "> 0", s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_policies(const char *s, drive_opts_t *o)
{
    if (!strcmp(s, "all")) {
        static const cv_policy_t all[] = {CV_POLICY_SPACETIME, CV_POLICY_EXCLUSIVE, CV_POLICY_TIME, CV_POLICY_SPACE};
        memcpy(o->policies, all, sizeof all);
        o->npolicies = (int)CV_ARRAY_LEN(all);
        return true;
    }
    o->npolicies = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[32];
        cv_policy_t policy;
        if (len == 0 || len >= sizeof name || o->npolicies == MAX_POLICIES) goto bad;
        memcpy(name, p, len);
        name[len] = '\0';
        if (!cv_policy_parse(name, &policy)) goto bad;
        o->policies[o->npolicies++] = policy;
        if (!comma) return true;
        p = comma + 1;
    }
bad:
    fprintf(stderr, "caravel drive: --policy takes spacetime, exclusive, time, space, a comma list of them "
                    "or all, not '%s'\n", s);
    return false;
}

/* Returns 0 when parsed, else the exit status (0 is also --help: *help). */
static int parse_options(int argc, char **argv, drive_opts_t *o, bool *help)
{
    memset(o, 0, sizeof(*o));
    o->rows = 1;
    o->seed = 1;
    o->device = CV_DEVICE_CPU;
    o->precision = CV_PRECISION_FP32;
    o->policies[0] = CV_POLICY_SPACETIME;
    o->npolicies = 1;
    o->duration_s = 10;
    o->warmup_s = 2;
    o->drain_s = 5;
    o->max_outstanding = 4096;
    o->host_reserve_mb = 4096;
    bool have_rate = false, have_concurrency = false;
    *help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            return 0;
        }
        if (!strcmp(a, "--quiet") || !strcmp(a, "--fresh") || !strcmp(a, "--per-tenant") ||
            !strcmp(a, "--until-full") || !strcmp(a, "--no-sharing")) {
            if (a[2] == 'q') o->quiet = true;
            else if (a[2] == 'f') o->fresh = true;
            else if (a[2] == 'p') o->per_tenant = true;
            else if (a[2] == 'n') o->no_sharing = true;
            else o->until_full = true;
            continue;
        }
        const char *v = cv_cli_option_value("caravel drive", argc, argv, &i);
        if (!v) return 2;
        if (!strcmp(a, "--model")) {
            if (o->nmodels == MAX_MODELS) {
                fprintf(stderr, "caravel drive: at most %d --model files\n", MAX_MODELS);
                return 2;
            }
            o->models[o->nmodels++] = v;
        } else if (!strcmp(a, "--tenants")) {
            if (!cv_cli_parse_int_list("--tenants", v, 1, o->counts, MAX_COUNTS, &o->ncounts)) return 2;
            for (int k = 1; k < o->ncounts; k++)
                if (o->counts[k] <= o->counts[k - 1]) {
                    fprintf(stderr, "caravel drive: --tenants needs ascending counts, not '%s'\n", v);
                    return 2;
                }
        } else if (!strcmp(a, "--host-reserve-mb")) {
            if (!cv_cli_parse_int("--host-reserve-mb", v, 0, &o->host_reserve_mb)) return 2;
        } else if (!strcmp(a, "--load-seconds")) {
            if (!parse_seconds("--load-seconds", v, false, &o->load_seconds)) return 2;
        } else if (!strcmp(a, "--rows")) {
            if (!cv_cli_parse_int("--rows", v, 1, &o->rows)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!cv_cli_parse_int("--threads", v, 1, &o->threads)) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!cv_cli_parse_int("--seed", v, 0, &o->seed)) return 2;
        } else if (!strcmp(a, "--max-wave-rows")) {
            if (!cv_cli_parse_int("--max-wave-rows", v, 1, &o->max_wave_rows)) return 2;
        } else if (!strcmp(a, "--waves-in-flight")) {
            if (!cv_cli_parse_int("--waves-in-flight", v, 1, &o->waves_in_flight)) return 2;
        } else if (!strcmp(a, "--queue-bound")) {
            if (!cv_cli_parse_int("--queue-bound", v, 1, &o->queue_bound)) return 2;
        } else if (!strcmp(a, "--max-outstanding")) {
            if (!cv_cli_parse_int("--max-outstanding", v, 1, &o->max_outstanding)) return 2;
        } else if (!strcmp(a, "--device")) {
            if (!cv_cli_parse_device(v, &o->device)) return 2;
        } else if (!strcmp(a, "--precision")) {
            if (!cv_cli_parse_precision(v, &o->precision)) return 2;
        } else if (!strcmp(a, "--policy")) {
            if (!parse_policies(v, o)) return 2;
        } else if (!strcmp(a, "--slo")) {
            int n;
            if (!cv_drive_parse_list(v, 0, false, &o->slo_ms, 1, &n)) {
                fprintf(stderr, "caravel drive: --slo needs milliseconds > 0, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--rate") || !strcmp(a, "--rates")) {
            bool list = !strcmp(a, "--rates");
            if (!cv_drive_parse_list(v, 0, false, o->loads, list ? MAX_LOADS : 1, &o->nloads)) {
                fprintf(stderr, "caravel drive: %s needs %s requests/s > 0, not '%s'\n", a,
                        list ? "a comma list of up to 64" : "one number of", v);
                return 2;
            }
            have_rate = true;
            o->mode = DRIVE_POISSON;
        } else if (!strcmp(a, "--concurrency")) {
            bool whole = cv_drive_parse_list(v, 1, true, o->loads, MAX_LOADS, &o->nloads);
            for (int k = 0; whole && k < o->nloads; k++) whole = o->loads[k] == floor(o->loads[k]) && o->loads[k] <= 1e6;
            if (!whole) {
                fprintf(stderr, "caravel drive: --concurrency needs integers >= 1 (a comma list of up to 64), "
                                "not '%s'\n", v);
                return 2;
            }
            have_concurrency = true;
            o->mode = DRIVE_CLOSED;
        } else if (!strcmp(a, "--weights")) {
            double sum = 0;
            bool ok = cv_drive_parse_list(v, 0, true, o->weights, MAX_WEIGHTS, &o->nweights);
            for (int k = 0; ok && k < o->nweights; k++) sum += o->weights[k];
            if (!ok || sum <= 0) {
                fprintf(stderr, "caravel drive: --weights needs a comma list of numbers >= 0, not all 0, "
                                "not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--sweep-stop")) {
            int n;
            if (!cv_drive_parse_list(v, 0, false, &o->sweep_stop, 1, &n) || o->sweep_stop > 1) {
                fprintf(stderr, "caravel drive: --sweep-stop needs an attainment in (0, 1], not '%s'\n", v);
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
        } else if (!strcmp(a, "--tenant-csv")) {
            o->tenant_csv = v;
        } else if (!strcmp(a, "--wall-csv")) {
            o->wall_csv = v;
        } else if (!strcmp(a, "--label")) {
            o->label = v;
        } else {
            fprintf(stderr, "caravel drive: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (o->nmodels == 0) {
        fprintf(stderr, "caravel drive: give at least one --model (see --help)\n");
        return 2;
    }
    if (have_rate && have_concurrency) {
        fprintf(stderr, "caravel drive: --rate/--rates (open loop) and --concurrency (closed loop) exclude "
                        "each other\n");
        return 2;
    }
    if (!have_rate && !have_concurrency) {
        fprintf(stderr, "caravel drive: give the load: --rate R, --rates R1,R2,... or --concurrency C "
                        "(see --help)\n");
        return 2;
    }
    if (o->ncounts == 0) o->counts[o->ncounts++] = o->nmodels;
    o->tenants = o->counts[o->ncounts - 1];
    if (o->per_tenant && o->mode != DRIVE_CLOSED) {
        fprintf(stderr, "caravel drive: --per-tenant is for a closed loop (--concurrency)\n");
        return 2;
    }
    if (o->until_full && o->fresh) {
        fprintf(stderr, "caravel drive: --until-full grows one runtime per policy; --fresh would reload it for "
                        "every load\n");
        return 2;
    }
    if (o->max_wave_rows && o->rows > o->max_wave_rows) {
        fprintf(stderr, "caravel drive: --rows %ld is more than --max-wave-rows %ld\n", o->rows, o->max_wave_rows);
        return 2;
    }
    double sum = 0;
    for (long t = 0, k = 0; o->nweights && t < o->tenants; t++) {
        sum += o->weights[t % o->nweights];
        if (t + 1 < o->counts[k]) continue;
        if (sum <= 0) {
            fprintf(stderr, "caravel drive: --weights gives every one of the %ld tenants weight 0\n", t + 1);
            return 2;
        }
        k++;
    }
    if (!o->label) o->label = o->models[0];
    return 0;
}

/* ---- request objects ------------------------------------------------------------- */

/* Writes the request's FP32 inputs with values in [-0.5, 0.5) from a seed,
 * once per object; other dtypes keep the zeros cv_request_create wrote
 * (random integers could be out-of-range indices). */
static void fill_inputs(cv_request_t *req, uint64_t seed)
{
    int n = cv_tenant_num_inputs(cv_request_tenant(req));
    cv_drive_rng_t rng;
    cv_drive_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        cv_tensor_t *t = cv_request_input(req, i);
        if (t->dtype != CV_DTYPE_FP32) continue;
        float *p = t->data;
        for (int64_t e = 0; e < cv_shape_numel(&t->shape); e++) p[e] = (float)cv_drive_rng_uniform(&rng) - 0.5f;
    }
}

/* A new request object of tenant t in *out (not yet registered: slot_add). */
static cv_status slot_new(drive_ctx_t *c, int t, uint64_t seed, drive_slot_t **out, cv_err_t *err)
{
    drive_slot_t *s = cv_calloc(1, sizeof(*s));
    if (!s) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a request object");
    cv_status st = cv_request_create(c->rt, c->tenants[t], c->o->rows, &s->req, err);
    if (st != CV_STATUS_OK) {
        cv_free(s);
        return st;
    }
    fill_inputs(s->req, seed);
    s->tenant = t;
    s->ctx = c;
    *out = s;
    return CV_STATUS_OK;
}

/* Registers a new object (mu held); false when out of memory (then it is
 * destroyed). */
static bool slot_add(drive_ctx_t *c, drive_slot_t *s)
{
    if (CV_GROW(c->slots, c->nslots, c->slots_cap) != CV_STATUS_OK) {
        cv_request_destroy(s->req);
        cv_free(s);
        return false;
    }
    c->slots[c->nslots++] = s;
    c->tenant_slots[s->tenant]++;
    return true;
}

static drive_slot_t *pop_free(drive_ctx_t *c, int t)
{
    drive_slot_t *s = c->free[t];
    if (s) c->free[t] = s->next_free;
    return s;
}

static void push_free(drive_ctx_t *c, drive_slot_t *s)
{
    s->next_free = c->free[s->tenant];
    c->free[s->tenant] = s;
}

/* Makes tenant t's objects up to `want` before a run (mu not held). */
static cv_status slots_prepare(drive_ctx_t *c, int t, int want, cv_err_t *err)
{
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool enough = c->tenant_slots[t] >= want || c->nslots >= c->o->max_outstanding;
        int seq = c->nslots;
        pthread_mutex_unlock(&c->mu);
        if (enough) return CV_STATUS_OK;
        drive_slot_t *s;
        cv_status st = slot_new(c, t, (uint64_t)seq * 7919 + 1, &s, err);
        if (st != CV_STATUS_OK) return st;
        pthread_mutex_lock(&c->mu);
        bool added = slot_add(c, s);
        if (added) push_free(c, s);
        pthread_mutex_unlock(&c->mu);
        if (!added) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the request objects");
    }
}

/* ---- answers and submissions ----------------------------------------------------- */

static void record_latency(drive_run_t *r, double ms, int tenant)
{
    if (r->nlatency == r->latency_cap) {
        size_t cap = r->latency_cap ? r->latency_cap * 2 : 4096;
        double *grown = cv_realloc(r->latency, cap * sizeof(double));
        if (grown) r->latency = grown;
        int *grown_tenant = grown ? cv_realloc(r->latency_tenant, cap * sizeof(int)) : NULL;
        if (grown_tenant) r->latency_tenant = grown_tenant;
        if (!grown || !grown_tenant) {
            r->out_of_memory = true;
            return;
        }
        r->latency_cap = cap;
    }
    r->latency_tenant[r->nlatency] = tenant;
    r->latency[r->nlatency++] = ms;
}

/* A submission refused at once (mu held): counted by its outcome; the
 * object is free again. Anything but UNAVAILABLE is a misuse: it stops the
 * run with the message. */
static void on_refused(drive_run_t *r, drive_slot_t *s, cv_status st, const cv_err_t *err)
{
    drive_ctx_t *c = r->ctx;
    if (st != CV_STATUS_UNAVAILABLE && !r->failed) {
        r->failed = true;
        r->failed_st = st;
        r->err = *err;
        r->stop = true;
    }
    if (s->measured) r->outcomes[cv_request_outcome(s->req) == CV_OUTCOME_PENDING ? CV_OUTCOME_FAILED
                                                                                    : cv_request_outcome(s->req)]++;
    push_free(c, s);
}

static void on_answer(cv_request_t *req, void *user);

/* Closed loop: submits the next request (mu held), of tenant t, or of one
 * drawn at random when t < 0; a refusal is owed to the submitter's next
 * tick, so that a runtime refusing everything is not hammered from its own
 * callbacks. */
static void closed_submit(drive_run_t *r, int t)
{
    drive_ctx_t *c = r->ctx;
    if (t < 0) t = cv_drive_pick(&r->rng, c->cumulative, (int)c->active);
    drive_slot_t *s = pop_free(c, t);
    if (!s) {
        /* Rare: the objects made ahead are per tenant, the draw is not. */
        cv_err_t err;
        cv_status made_st = slot_new(c, t, (uint64_t)c->nslots * 7919 + 1, &s, &err);
        bool made = made_st == CV_STATUS_OK;
        if (!made || !slot_add(c, s)) {
            if (!r->failed) {
                r->failed = true;
                r->failed_st = made ? CV_STATUS_OUT_OF_MEMORY : made_st;
                if (made) cv_errorf(&r->err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the request objects");
                else r->err = err;
            }
            r->stop = true;
            return;
        }
        r->created++;
    }
    uint64_t now = cv_clock_ns();
    s->measured = now >= r->w0_ns && now < r->w1_ns;
    r->submitted++;
    r->arrivals += s->measured;
    r->tenant_arrivals[t] += s->measured;
    cv_err_t err;
    cv_status st = cv_submit(c->rt, s->req, on_answer, s, &err);
    if (st != CV_STATUS_OK) {
        on_refused(r, s, st, &err);
        r->owed[t]++;
    }
}

/* The callback of every submitted request, on a runtime thread. */
static void on_answer(cv_request_t *req, void *user)
{
    drive_slot_t *s = user;
    drive_ctx_t *c = s->ctx;
    uint64_t now = cv_clock_ns();
    cv_outcome_t outcome = cv_request_outcome(req);
    double total_ms = cv_request_timings(req).total_ms;
    bool met = cv_request_slo_met(req);
    pthread_mutex_lock(&c->mu);
    drive_run_t *r = c->run;
    if (r) {
        if (outcome == CV_OUTCOME_COMPLETED) {
            r->completed++;
            r->window_completed += now >= r->w0_ns && now < r->w1_ns;
        }
        if (s->measured) {
            r->outcomes[outcome]++;
            if (outcome == CV_OUTCOME_COMPLETED) record_latency(r, total_ms, s->tenant);
            r->met += met;
            r->tenant_met[s->tenant] += met;
        }
    }
    /* The next one first, so that it is never this very request: the API
     * lets a callback submit other requests, not its own again. */
    if (r && c->o->mode == DRIVE_CLOSED && !r->stop) closed_submit(r, c->o->per_tenant ? s->tenant : -1);
    push_free(c, s);
    pthread_mutex_unlock(&c->mu);
}

static void sleep_until(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void record_lag(drive_run_t *r, double ms)
{
    if (r->nlag == r->lag_cap) {
        size_t cap = r->lag_cap ? r->lag_cap * 2 : 4096;
        double *grown = cv_realloc(r->lag, cap * sizeof(double));
        if (!grown) return; /* lag is a diagnostic: fewer samples will do */
        r->lag = grown;
        r->lag_cap = cap;
    }
    r->lag[r->nlag++] = ms;
}

/* Open loop: sleeps until each arrival and submits it, its request object
 * taken from the free list before the sleep. */
static void open_loop(drive_run_t *r)
{
    drive_ctx_t *c = r->ctx;
    const drive_opts_t *o = c->o;
    double at_s = 0;
    for (;;) {
        at_s += cv_drive_exp_gap(&r->rng, r->load);
        int t = cv_drive_pick(&r->rng, c->cumulative, (int)c->active);
        uint64_t at = r->start_ns + (uint64_t)(at_s * 1e9);
        if (at >= r->w1_ns) break;
        pthread_mutex_lock(&c->mu);
        drive_slot_t *s = pop_free(c, t);
        bool room = c->nslots < o->max_outstanding;
        int seq = c->nslots;
        bool stop = r->failed;
        pthread_mutex_unlock(&c->mu);
        if (stop) break;
        if (!s && room) {
            cv_err_t err;
            cv_status made_st = slot_new(c, t, (uint64_t)seq * 7919 + 1, &s, &err);
            bool made = made_st == CV_STATUS_OK;
            pthread_mutex_lock(&c->mu);
            if (!made || !slot_add(c, s)) {
                r->failed = true;
                r->failed_st = made ? CV_STATUS_OUT_OF_MEMORY : made_st;
                if (made) cv_errorf(&r->err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the request objects");
                else r->err = err;
                pthread_mutex_unlock(&c->mu);
                break;
            }
            r->created++;
            pthread_mutex_unlock(&c->mu);
        }
        sleep_until(at);
        uint64_t now = cv_clock_ns();
        bool measured = at >= r->w0_ns;
        pthread_mutex_lock(&c->mu);
        r->submitted++;
        r->arrivals += measured;
        r->tenant_arrivals[t] += measured;
        if (!s) r->dropped += measured;
        else s->measured = measured;
        pthread_mutex_unlock(&c->mu);
        if (!s) continue;
        if (measured) {
            record_lag(r, (double)(now - at) / 1e6);
            r->last_submit_ns = now;
        }
        cv_err_t err;
        cv_status st = cv_submit(c->rt, s->req, on_answer, s, &err);
        if (st != CV_STATUS_OK) {
            pthread_mutex_lock(&c->mu);
            on_refused(r, s, st, &err);
            pthread_mutex_unlock(&c->mu);
        }
    }
}

/* Closed loop: the first C submissions (C per tenant with --per-tenant),
 * then every millisecond those owed after refusals, until the window ends. */
static void closed_loop(drive_run_t *r)
{
    drive_ctx_t *c = r->ctx;
    bool per_tenant = c->o->per_tenant;
    sleep_until(r->start_ns);
    pthread_mutex_lock(&c->mu);
    if (per_tenant)
        for (long i = 0; i < (long)r->load; i++)
            for (int t = 0; t < (int)c->active && !r->stop; t++) closed_submit(r, t);
    else
        for (long i = 0; i < (long)r->load && !r->stop; i++) closed_submit(r, -1);
    pthread_mutex_unlock(&c->mu);
    for (uint64_t tick = r->start_ns + 1000000; tick < r->w1_ns; tick += 1000000) {
        sleep_until(tick);
        pthread_mutex_lock(&c->mu);
        for (int t = 0; t < (int)c->active && !r->stop; t++) {
            long owed = r->owed[t];
            r->owed[t] = 0;
            for (long i = 0; i < owed && !r->stop; i++) closed_submit(r, per_tenant ? t : -1);
        }
        bool stop = r->stop;
        pthread_mutex_unlock(&c->mu);
        if (stop) break;
    }
    sleep_until(r->w1_ns);
    pthread_mutex_lock(&c->mu);
    r->stop = true;
    pthread_mutex_unlock(&c->mu);
}

static void *submitter_main(void *arg)
{
    drive_run_t *r = arg;
    if (r->ctx->o->mode == DRIVE_POISSON) open_loop(r);
    else closed_loop(r);
    atomic_store(&r->submitter_done, true);
    return NULL;
}

/* ---- counters and progress ------------------------------------------------------- */

static void snapshot(drive_ctx_t *c, drive_snapshot_t *out)
{
    memset(out, 0, sizeof(*out));
    for (long t = 0; t < c->loaded; t++) {
        cv_request_stats_t st;
        if (cv_tenant_stats(c->rt, c->tenants[t], &st) != CV_STATUS_OK) continue;
        out->completed += st.outcomes[CV_OUTCOME_COMPLETED];
        out->fused += st.fused;
    }
    for (int f = 0; f < c->nfamilies; f++) {
        cv_request_stats_t st;
        if (cv_family_stats(c->rt, c->tenants[c->family_reps[f]], &st) != CV_STATUS_OK) continue;
        out->ran += st.outcomes[CV_OUTCOME_COMPLETED] + st.outcomes[CV_OUTCOME_FAILED];
        out->waves += st.waves;
        for (int b = 0; b < CV_WAVE_HISTOGRAM; b++) out->widths[b] += st.wave_widths[b];
    }
}

static const char *policy_label(const drive_ctx_t *c) { return cv_policy_name(c->policy); }

static void load_label(const drive_opts_t *o, double load, char *buf, size_t len)
{
    if (o->mode == DRIVE_POISSON) snprintf(buf, len, "poisson %g/s", load);
    else snprintf(buf, len, "closed loop %g outstanding", load);
}

/* One progress line on stderr: rewritten in place on a terminal, a line
 * per call otherwise (logs). */
static void progress(drive_run_t *r, double **scratch, size_t *scratch_cap, bool last)
{
    drive_ctx_t *c = r->ctx;
    if (c->o->quiet) return;
    uint64_t now = cv_clock_ns();
    pthread_mutex_lock(&c->mu);
    long submitted = r->submitted, completed = r->completed, met = r->met, answered = r->dropped;
    for (int k = 0; k < CV_OUTCOME_COUNT; k++) answered += r->outcomes[k];
    /* The latest PROGRESS_WINDOW answers: the line says how the run goes
     * now, and copying and ordering every sample each second would compete
     * with the runtime being measured (millions of them on a fast model). */
    size_t n = r->nlatency < PROGRESS_WINDOW ? r->nlatency : PROGRESS_WINDOW;
    if (n > *scratch_cap) {
        double *grown = cv_realloc(*scratch, n * 2 * sizeof(double));
        if (grown) {
            *scratch = grown;
            *scratch_cap = n * 2;
        }
    }
    if (n > *scratch_cap) n = *scratch_cap;
    if (n) memcpy(*scratch, r->latency + (r->nlatency - n), n * sizeof(double));
    pthread_mutex_unlock(&c->mu);
    char what[64], line[256];
    load_label(c->o, r->load, what, sizeof what);
    double elapsed = now > r->start_ns ? (double)(now - r->start_ns) / 1e9 : 0;
    char p99[32] = "-", attained[32] = "-";
    if (n) snprintf(p99, sizeof p99, "%.2f ms", cv_drive_select(*scratch, n, 0.99));
    if (answered) snprintf(attained, sizeof attained, "%.2f%%", 100.0 * (double)met / (double)answered);
    if (now < r->w0_ns)
        snprintf(line, sizeof line, "drive %s, %s: %.0f s, warming up: submitted %ld, completed %ld",
                 policy_label(c), what, elapsed, submitted, completed);
    else
        snprintf(line, sizeof line, "drive %s, %s: %.0f s: submitted %ld, completed %ld, p99 %s, attainment %s",
                 policy_label(c), what, elapsed, submitted, completed, p99, attained);
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\r%s\033[K%s", line, last ? "\n" : "");
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* ---- one run ---------------------------------------------------------------------- */

static double tenant_weight(const drive_opts_t *o, long t) { return o->nweights ? o->weights[t % o->nweights] : 1; }

/* Request objects each tenant should have before a run, so that arrivals
 * seldom find none: its expected requests outstanding (its rate x the SLO
 * or 100 ms, whichever is longer; its part of the concurrency in a closed
 * loop) with room to spare. */
static int slots_wanted(const drive_ctx_t *c, double load, long t)
{
    const drive_opts_t *o = c->o;
    double share = tenant_weight(o, t) / c->cumulative[c->active - 1];
    double expected = o->mode == DRIVE_POISSON ? load * share * fmax(o->slo_ms / 1e3, 0.1) : load * share;
    double want = ceil(2 * expected) + 4;
    if (o->mode == DRIVE_CLOSED && want > load) want = load;
    /* Its C outstanding and the one its callback submits before it frees
     * the answered one. */
    if (o->per_tenant) want = load + 1;
    return want > (double)o->max_outstanding ? (int)o->max_outstanding : (int)want;
}

/* Each active tenant's latency numbers and attainment into res->tenants
 * (left NULL when out of memory: the run's own numbers do not need it),
 * and the spread of their means. Before the run's samples are sorted. */
static void finish_tenants(drive_run_t *r, drive_result_t *res)
{
    long n = r->ctx->active;
    size_t total = r->nlatency;
    drive_tenant_result_t *tr = cv_calloc((size_t)n, sizeof(*tr));
    size_t *start = cv_calloc((size_t)n + 1, sizeof(size_t));
    double *grouped = cv_malloc((total + 1) * sizeof(double));
    if (!tr || !start || !grouped) {
        cv_free(tr);
        cv_free(start);
        cv_free(grouped);
        return;
    }
    /* A counting sort by tenant, then each tenant's samples sorted. */
    for (size_t i = 0; i < total; i++) start[r->latency_tenant[i] + 1]++;
    for (long t = 0; t < n; t++) start[t + 1] += start[t];
    size_t *fill = cv_calloc((size_t)n + 1, sizeof(size_t));
    if (!fill) {
        cv_free(tr);
        cv_free(start);
        cv_free(grouped);
        return;
    }
    for (size_t i = 0; i < total; i++) {
        int t = r->latency_tenant[i];
        grouped[start[t] + fill[t]++] = r->latency[i];
    }
    double slowest = 0, fastest = 0;
    int measured = 0;
    for (long t = 0; t < n; t++) {
        double *v = grouped + start[t];
        size_t k = start[t + 1] - start[t];
        double sum = 0;
        for (size_t i = 0; i < k; i++) sum += v[i];
        cv_drive_sort(v, k);
        tr[t] = (drive_tenant_result_t){.arrivals = r->tenant_arrivals[t], .completed = (long)k,
                                        .mean = k ? sum / (double)k : 0, .p50 = cv_drive_percentile(v, k, 0.50),
                                        .p99 = cv_drive_percentile(v, k, 0.99),
                                        .attainment = cv_drive_attainment(r->tenant_met[t], r->tenant_arrivals[t])};
        if (!k) continue;
        if (!measured++ || tr[t].mean > slowest) slowest = tr[t].mean;
        if (measured == 1 || tr[t].mean < fastest) fastest = tr[t].mean;
    }
    res->tenants = tr;
    res->tenant_spread = measured >= 2 && fastest > 0 ? slowest / fastest : 0;
    cv_free(fill);
    cv_free(start);
    cv_free(grouped);
}

static void finish(drive_run_t *r, drive_result_t *res)
{
    const drive_opts_t *o = r->ctx->o;
    memset(res, 0, sizeof(*res));
    finish_tenants(r, res);
    double sum = 0;
    for (size_t i = 0; i < r->nlatency; i++) sum += r->latency[i];
    res->mean = r->nlatency ? sum / (double)r->nlatency : 0;
    res->arrivals = r->arrivals;
    res->completed = r->outcomes[CV_OUTCOME_COMPLETED];
    res->queue_full = r->outcomes[CV_OUTCOME_QUEUE_FULL];
    res->infeasible = r->outcomes[CV_OUTCOME_INFEASIBLE];
    res->expired = r->outcomes[CV_OUTCOME_EXPIRED];
    res->failed = r->outcomes[CV_OUTCOME_FAILED] + r->outcomes[CV_OUTCOME_UNLOADED] + r->outcomes[CV_OUTCOME_SHUTDOWN];
    res->unfinished = r->outcomes[CV_OUTCOME_CANCELLED];
    res->dropped = r->dropped;
    double span = o->duration_s;
    if (o->mode == DRIVE_POISSON && r->last_submit_ns > r->w0_ns)
        span = fmax(span, (double)(r->last_submit_ns - r->w0_ns) / 1e9);
    res->offered_per_s = (double)r->arrivals / span;
    res->completed_per_s = (double)r->window_completed / o->duration_s;
    cv_drive_sort(r->latency, r->nlatency);
    res->p50 = cv_drive_percentile(r->latency, r->nlatency, 0.50);
    res->p99 = cv_drive_percentile(r->latency, r->nlatency, 0.99);
    res->p999 = cv_drive_percentile(r->latency, r->nlatency, 0.999);
    res->attainment = cv_drive_attainment(r->met, r->arrivals);
    res->fused_share = cv_drive_ratio(r->after.fused - r->before.fused, r->after.completed - r->before.completed);
    res->waves = r->after.waves - r->before.waves;
    res->mean_wave_requests = cv_drive_ratio(r->after.ran - r->before.ran, res->waves);
    for (int b = 0; b < CV_WAVE_HISTOGRAM; b++) res->widths[b] = r->after.widths[b] - r->before.widths[b];
    cv_drive_sort(r->lag, r->nlag);
    res->lag_p99_ms = cv_drive_percentile(r->lag, r->nlag, 0.99);
    res->lag_max_ms = r->nlag ? r->lag[r->nlag - 1] : 0;
    /* Behind: a late submission delays the arrival it stands for by more
     * than a scheduler would notice, or the sending took longer than the
     * window. */
    res->behind = o->mode == DRIVE_POISSON && (res->lag_p99_ms > 2.0 || span > o->duration_s * 1.01);
    cv_runtime_stats_t rs;
    if (cv_runtime_stats(r->ctx->rt, &rs) == CV_STATUS_OK) {
        res->form_us = rs.form_us_median;
        res->handoff_us = rs.handoff_us_median;
        res->launch_us = rs.launch_us_median;
        res->inputs_us = rs.inputs_us_median;
        res->cache_us = rs.cache_us_median;
        res->rebind_us = rs.graph_rebind_us_median;
        res->graph_launch_us = rs.graph_launch_us_median;
        res->lookup_us = rs.graph_lookup_us_median;
        res->graph_nodes = rs.graph_nodes_max;
        res->graph_kernels = rs.graph_kernel_nodes_max;
    }
}

static void run_free(drive_run_t *r)
{
    cv_free(r->latency);
    cv_free(r->latency_tenant);
    cv_free(r->lag);
    cv_free(r->owed);
    cv_free(r->tenant_arrivals);
    cv_free(r->tenant_met);
    cv_free(r);
}

/* Runs one load on the context's runtime (its active tenants) and fills
 * res (res->tenants is the caller's to free). Library errors: the status,
 * with the message in err. */
static cv_status run_load(drive_ctx_t *c, double load, drive_result_t *res, cv_err_t *err)
{
    const drive_opts_t *o = c->o;
    memset(res, 0, sizeof(*res));
    for (long t = 0; t < c->active; t++) {
        cv_status st = slots_prepare(c, (int)t, slots_wanted(c, load, t), err);
        if (st != CV_STATUS_OK) return st;
    }
    drive_run_t *r = cv_calloc(1, sizeof(*r));
    if (r) {
        r->owed = cv_calloc((size_t)c->active, sizeof(long));
        r->tenant_arrivals = cv_calloc((size_t)c->active, sizeof(long));
        r->tenant_met = cv_calloc((size_t)c->active, sizeof(long));
    }
    if (!r || !r->owed || !r->tenant_arrivals || !r->tenant_met) {
        if (r) run_free(r);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a run");
    }
    r->ctx = c;
    r->load = load;
    cv_drive_rng_seed(&r->rng, (uint64_t)o->seed);
    atomic_init(&r->submitter_done, false);
    if (o->mode == DRIVE_POISSON) {
        size_t expected = (size_t)(load * o->duration_s * 1.2) + 1024;
        r->latency = cv_malloc(expected * sizeof(double));
        r->latency_tenant = r->latency ? cv_malloc(expected * sizeof(int)) : NULL;
        r->latency_cap = r->latency_tenant ? expected : 0;
    }
    /* A little lead so that the submitter is asleep before the first arrival. */
    r->start_ns = cv_clock_ns() + 20 * 1000000ull;
    r->w0_ns = r->start_ns + (uint64_t)(o->warmup_s * 1e9);
    r->w1_ns = r->w0_ns + (uint64_t)(o->duration_s * 1e9);
    bool snapped = false;
    if (o->warmup_s == 0) {
        snapshot(c, &r->before);
        snapped = true;
    }
    pthread_mutex_lock(&c->mu);
    c->run = r;
    pthread_mutex_unlock(&c->mu);
    pthread_t submitter;
    if (pthread_create(&submitter, NULL, submitter_main, r) != 0) {
        pthread_mutex_lock(&c->mu);
        c->run = NULL;
        pthread_mutex_unlock(&c->mu);
        run_free(r);
        return cv_errorf(err, CV_STATUS_INTERNAL, "cannot start the submitter thread");
    }
    double *scratch = NULL;
    size_t scratch_cap = 0;
    uint64_t next_progress = r->start_ns + 1000000000ull;
    while (!atomic_load(&r->submitter_done)) {
        uint64_t wake = next_progress;
        if (!snapped && r->w0_ns < wake) wake = r->w0_ns;
        /* Past the window only a late submitter is left: check on it often. */
        if (cv_clock_ns() >= r->w1_ns) wake = cv_clock_ns() + 10 * 1000000ull;
        else if (r->w1_ns < wake) wake = r->w1_ns;
        sleep_until(wake);
        uint64_t now = cv_clock_ns();
        if (!snapped && now >= r->w0_ns) {
            snapshot(c, &r->before);
            snapped = true;
        }
        if (now >= next_progress) {
            progress(r, &scratch, &scratch_cap, false);
            next_progress += 1000000000ull;
        }
    }
    pthread_join(submitter, NULL);
    /* What is still queued after the drain is cut off, so that a policy
     * that fell far behind does not hold the run for minutes. */
    if (!cv_runtime_drain(c->rt, o->drain_s * 1e3)) {
        for (int i = 0; i < c->nslots; i++) cv_request_cancel(c->rt, c->slots[i]->req);
        cv_runtime_drain(c->rt, -1);
    }
    snapshot(c, &r->after);
    progress(r, &scratch, &scratch_cap, true);
    cv_free(scratch);
    pthread_mutex_lock(&c->mu);
    c->run = NULL;
    pthread_mutex_unlock(&c->mu);

    cv_status st = CV_STATUS_OK;
    /* Its own status: out of memory (a lane's backend that does not fit,
     * say) is the memory wall to --until-full, not a failure. */
    if (r->failed) st = cv_errorf(err, r->failed_st, "%s", r->err.msg);
    else if (r->out_of_memory) st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the latency samples");
    if (st == CV_STATUS_OK) {
        finish(r, res);
        long accounted = r->dropped;
        for (int k = 0; k < CV_OUTCOME_COUNT; k++) accounted += r->outcomes[k];
        /* Every measured arrival is answered exactly once (the runtime's
         * contract); a difference is a bug worth shouting about. */
        if (accounted != r->arrivals)
            st = cv_errorf(err, CV_STATUS_INTERNAL, "%ld measured arrivals but %ld answers", r->arrivals, accounted);
        /* Made in the open loop's sleep before an arrival, they may have
         * made it late; in a closed loop they only cost a callback time. */
        if (r->created && o->mode == DRIVE_POISSON && !o->quiet)
            fprintf(stderr, "caravel drive: note: %ld request objects were made during the run (more outstanding "
                            "than prepared)\n", r->created);
    }
    if (st != CV_STATUS_OK) {
        cv_free(res->tenants);
        res->tenants = NULL;
    }
    run_free(r);
    return st;
}

/* ---- a policy's runtime ----------------------------------------------------------- */

static void ctx_destroy(drive_ctx_t *c)
{
    /* Every object is answered by now (runs drain); requests go before
     * their runtime. */
    for (int i = 0; i < c->nslots; i++) {
        cv_request_destroy(c->slots[i]->req);
        cv_free(c->slots[i]);
    }
    cv_runtime_destroy(c->rt);
    pthread_mutex_destroy(&c->mu);
    cv_free(c->slots);
    cv_free(c->tenants);
    cv_free(c->family_reps);
    cv_free(c->cumulative);
    cv_free(c->free);
    cv_free(c->tenant_slots);
}

/* A policy's runtime, with room for o->tenants tenants and none loaded
 * yet (ctx_grow loads them). */
static cv_status ctx_create(drive_ctx_t *c, const drive_opts_t *o, cv_policy_t policy, cv_err_t *err)
{
    memset(c, 0, sizeof(*c));
    c->o = o;
    c->policy = policy;
    pthread_mutex_init(&c->mu, NULL);
    size_t n = (size_t)o->tenants;
    c->tenants = cv_calloc(n, sizeof(*c->tenants));
    c->family_reps = cv_calloc(n, sizeof(*c->family_reps));
    c->cumulative = cv_calloc(n, sizeof(*c->cumulative));
    c->free = cv_calloc(n, sizeof(*c->free));
    c->tenant_slots = cv_calloc(n, sizeof(*c->tenant_slots));
    if (!c->tenants || !c->family_reps || !c->cumulative || !c->free || !c->tenant_slots)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for %ld tenants", o->tenants);
    double sum = 0;
    for (size_t t = 0; t < n; t++) c->cumulative[t] = sum += tenant_weight(o, (long)t);
    cv_runtime_config_t config = {.device = o->device,
                                  .threads = (int)o->threads,
                                  .policy = policy,
                                  .max_wave_rows = (int)o->max_wave_rows,
                                  .waves_in_flight = (int)o->waves_in_flight,
                                  .no_weight_sharing = o->no_sharing};
    return cv_runtime_create(&config, &c->rt, err);
}

/* Host memory available (MemAvailable of /proc/meminfo) in MB, or -1 when
 * it cannot be read. */
static long host_available_mb(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (kb < 0 && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %ld kB", &kb) != 1) kb = -1;
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

static void loaded_bytes(const drive_ctx_t *c, size_t *device, size_t *host)
{
    *device = *host = 0;
    for (long t = 0; t < c->loaded; t++) {
        *device += cv_tenant_device_bytes(c->tenants[t]);
        *host += cv_tenant_bytes(c->tenants[t]);
    }
}

/* Why a growth stopped short of its count (--until-full), else GROW_OK. */
typedef enum grow_stop {
    GROW_OK = 0,
    GROW_OUT_OF_MEMORY,
    GROW_HOST_RESERVE,
    GROW_LOAD_SECONDS,
} grow_stop_t;

/* Loads tenants until `want` are loaded. A library error: its status, with
 * the message in err; under --until-full an out-of-memory load, host
 * memory below the reserve or the loading time spent stop it early with
 * CV_STATUS_OK and the reason in *stop (the message in err). A progress
 * line about once a second while it loads. */
static cv_status ctx_grow(drive_ctx_t *c, long want, grow_stop_t *stop, cv_err_t *err)
{
    const drive_opts_t *o = c->o;
    cv_tenant_config_t tc = {.precision = o->precision, .slo_ms = o->slo_ms, .queue_bound = (int)o->queue_bound};
    *stop = GROW_OK;
    uint64_t start = cv_clock_ns(), next_progress = start + 1000000000ull;
    long first = c->loaded;
    while (c->loaded < want) {
        /* The first tenant always loads: a wall before it says nothing. */
        if (o->until_full && c->loaded > 0) {
            long available = host_available_mb();
            if (available >= 0 && available < o->host_reserve_mb) {
                *stop = GROW_HOST_RESERVE;
                cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "host memory available %ld MB, below the reserve of %ld MB",
                          available, o->host_reserve_mb);
                break;
            }
            if (o->load_seconds > 0 && c->load_s + (double)(cv_clock_ns() - start) / 1e9 >= o->load_seconds) {
                *stop = GROW_LOAD_SECONDS;
                cv_errorf(err, CV_STATUS_OK, "loading took %.0f s (--load-seconds %g)",
                          c->load_s + (double)(cv_clock_ns() - start) / 1e9, o->load_seconds);
                break;
            }
        }
        long t = c->loaded;
        char name[32];
        snprintf(name, sizeof name, "tenant%ld", t);
        const char *path = o->models[t % o->nmodels];
        cv_status st = cv_tenant_load_config(c->rt, name, path, &tc, &c->tenants[t], err);
        if (st == CV_STATUS_OUT_OF_MEMORY && o->until_full && t > 0) {
            *stop = GROW_OUT_OF_MEMORY;
            break;
        }
        if (st != CV_STATUS_OK) {
            c->load_s += (double)(cv_clock_ns() - start) / 1e9;
            return st;
        }
        c->loaded++;
        uint64_t hash = cv_tenant_family_hash(c->tenants[t]);
        bool known = false;
        for (int f = 0; f < c->nfamilies && !known; f++) known = cv_tenant_family_hash(c->tenants[c->family_reps[f]]) == hash;
        if (!known) c->family_reps[c->nfamilies++] = (int)t;
        uint64_t now = cv_clock_ns();
        if (!o->quiet && now >= next_progress) {
            size_t device, host;
            loaded_bytes(c, &device, &host);
            fprintf(stderr, "drive %s: loading: %ld of %ld tenants, %.2f GB on the device, %.2f GB on the host, "
                            "%.0f s\n", cv_policy_name(c->policy), c->loaded, want, (double)device / 1e9,
                    (double)host / 1e9, (double)(now - start) / 1e9);
            next_progress = now + 1000000000ull;
        }
    }
    double took = (double)(cv_clock_ns() - start) / 1e9;
    c->load_s += took;
    if (!o->quiet && c->loaded > first)
        fprintf(stderr, "caravel drive: %s: loaded %ld tenants (%d %s) in %.1f s\n", cv_policy_name(c->policy),
                c->loaded - first, c->nfamilies, c->nfamilies == 1 ? "family" : "families", took);
    return CV_STATUS_OK;
}

/* ---- output ----------------------------------------------------------------------- */

static void print_result(const drive_ctx_t *c, double load, const drive_result_t *res)
{
    const drive_opts_t *o = c->o;
    char what[64], slo[48];
    load_label(o, load, what, sizeof what);
    /* Without an SLO every completion meets it: attainment is completion. */
    if (o->slo_ms > 0) snprintf(slo, sizeof slo, "SLO %g ms met by", o->slo_ms);
    else snprintf(slo, sizeof slo, "no SLO; completed");
    printf("%s, %ld tenants, %s: offered %.1f/s, completed %.1f/s\n", cv_policy_name(c->policy), c->active, what,
           res->offered_per_s, res->completed_per_s);
    printf("  latency mean %.2f ms, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms; %s %.2f%% of %ld arrivals\n", res->mean,
           res->p50, res->p99, res->p999, slo, 100 * res->attainment, res->arrivals);
    if (res->tenant_spread > 0) {
        double lo = 0, hi = 0;
        for (long t = 0, seen = 0; t < c->active; t++) {
            if (!res->tenants[t].completed) continue;
            if (!seen++ || res->tenants[t].mean < lo) lo = res->tenants[t].mean;
            if (seen == 1 || res->tenants[t].mean > hi) hi = res->tenants[t].mean;
        }
        printf("  per tenant: mean latency %.2f to %.2f ms (slowest / fastest %.3f)\n", lo, hi, res->tenant_spread);
    }
    /* A closed loop keeps `kept` requests outstanding, so by Little's law
     * completed/s x mean latency is about `kept`. Well short of it, some
     * requests waited past the window (sent before it, or answered after
     * the drain): the mean and percentiles then leave out the longest
     * waits, and the tenants without an answer in the window say whose. */
    if (o->mode == DRIVE_CLOSED && res->completed_per_s > 0) {
        double kept = o->per_tenant ? load * (double)c->active : load;
        double in_flight = res->completed_per_s * res->mean / 1e3;
        if (in_flight < 0.8 * kept) {
            long silent = 0;
            for (long t = 0; t < c->active && res->tenants; t++) silent += res->tenants[t].completed == 0;
            printf("  note: completed/s x mean latency = %.0f in flight of %.0f kept outstanding: the longest "
                   "waits fell outside the window and are not in these figures (Little's law puts the mean at "
                   "%.2f ms); %ld tenants had no measured answer\n",
                   in_flight, kept, 1e3 * kept / res->completed_per_s, silent);
        }
    }
    printf("  fused %.1f%% of completed; %ld waves, %.2f requests each; widths (tenants)", 100 * res->fused_share,
           res->waves, res->mean_wave_requests);
    static const char *bins[CV_WAVE_HISTOGRAM] = {"1", "2", "3-4", "5-8", "9-16", "17-32", "33-64", "65+"};
    for (int b = 0; b < CV_WAVE_HISTOGRAM; b++)
        if (res->widths[b]) printf(" %s:%ld", bins[b], res->widths[b]);
    printf("\n  rejected %ld (queue full %ld, infeasible %ld), expired %ld, failed %ld, unfinished %ld, "
           "dropped %ld\n",
           res->queue_full + res->infeasible, res->queue_full, res->infeasible, res->expired, res->failed,
           res->unfinished, res->dropped);
    printf("  host time per wave (medians over the last 1024): decision %.1f us (then handing it to its lane "
           "%.1f us), launch %.1f us (placing the inputs %.1f us of it, the super-kernel cache %.1f us)",
           res->form_us, res->handoff_us, res->launch_us, res->inputs_us, res->cache_us);
    if (res->rebind_us > 0) printf("; a rebind %.1f us (median)", res->rebind_us);
    if (res->graph_launch_us > 0)
        printf("; a graph launch %.1f us (median; the largest graph %ld nodes, %ld of them kernels)",
               res->graph_launch_us, res->graph_nodes, res->graph_kernels);
    if (res->lookup_us > 0) printf("; the cache's lookup %.1f us (median)", res->lookup_us);
    printf("\n");
    if (res->behind)
        printf("  note: the submitter fell behind: submissions lagged their arrival times by %.2f ms (p99), "
               "%.2f ms at most; offered %.1f/s of %g/s\n",
               res->lag_p99_ms, res->lag_max_ms, res->offered_per_s, load);
    if (res->dropped)
        printf("  note: %ld arrivals found no request object free (--max-outstanding %ld)\n", res->dropped,
               o->max_outstanding);
    fflush(stdout);
}

/* The label as one CSV field (quoted when it needs to be). */
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

static void csv_row(FILE *f, const drive_ctx_t *c, double load, const drive_result_t *res)
{
    const drive_opts_t *o = c->o;
    csv_field(f, o->label);
    fprintf(f, ",%s,%s,%s,%ld,%ld,%s,", cv_policy_name(c->policy), o->device == CV_DEVICE_CUDA ? "cuda" : "cpu",
            cv_cli_precision_name(o->precision), c->active, o->rows, o->mode == DRIVE_POISSON ? "poisson" : "closed");
    if (o->mode == DRIVE_POISSON) fprintf(f, "%g,,", load);
    else fprintf(f, ",%g,", load);
    fprintf(f, "%g,%g,%ld,%ld,%.2f,%.2f,%.3f,%.3f,%.3f,%.5f,%.4f,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%.3f,%.3f,"
               "%.2f,%.2f,%.3f,%d,%.4f,%.2f,%.2f,%.2f,%.2f,%.2f\n",
            o->slo_ms, o->duration_s, o->max_wave_rows, o->waves_in_flight, res->offered_per_s,
            res->completed_per_s, res->p50, res->p99, res->p999, res->attainment, res->fused_share, res->arrivals,
            res->completed, res->queue_full, res->infeasible, res->expired, res->failed, res->unfinished,
            res->dropped, res->waves, res->mean_wave_requests, res->lag_p99_ms, res->form_us, res->launch_us, res->mean,
            o->per_tenant, res->tenant_spread, res->inputs_us, res->cache_us, res->rebind_us, res->graph_launch_us,
            res->lookup_us);
    fflush(f);
}

/* One row per active tenant of a run (--tenant-csv). */
static void tenant_csv_rows(FILE *f, const drive_ctx_t *c, double load, const drive_result_t *res)
{
    const drive_opts_t *o = c->o;
    if (!res->tenants) return;
    for (long t = 0; t < c->active; t++) {
        const drive_tenant_result_t *tr = &res->tenants[t];
        csv_field(f, o->label);
        fprintf(f, ",%s,%s,%s,%ld,%s,", cv_policy_name(c->policy), o->device == CV_DEVICE_CUDA ? "cuda" : "cpu",
                cv_cli_precision_name(o->precision), c->active, o->mode == DRIVE_POISSON ? "poisson" : "closed");
        if (o->mode == DRIVE_POISSON) fprintf(f, "%g,,", load);
        else fprintf(f, ",%g,", load);
        fprintf(f, "%d,%ld,%ld,%ld,%.3f,%.3f,%.3f,%.5f\n", o->per_tenant, t, tr->arrivals, tr->completed, tr->mean,
                tr->p50, tr->p99, tr->attainment);
    }
    fflush(f);
}

static const char *const stop_names[] = {"list", "out_of_memory", "host_reserve", "load_seconds", "run"};

/* How a policy's growth ended (--wall-csv): `stop` indexes stop_names. */
static void wall_csv_row(FILE *f, const drive_ctx_t *c, int stop, const char *message)
{
    const drive_opts_t *o = c->o;
    size_t device, host;
    loaded_bytes(c, &device, &host);
    csv_field(f, o->label);
    fprintf(f, ",%s,%s,%s,%ld,%zu,%zu,%.2f,%s,", cv_policy_name(c->policy), o->device == CV_DEVICE_CUDA ? "cuda" : "cpu",
            cv_cli_precision_name(o->precision), c->loaded, device, host, c->load_s, stop_names[stop]);
    csv_field(f, message);
    fputc('\n', f);
    fflush(f);
}

/* Opens path to append rows, writing the header when it is new. */
static FILE *csv_open(const char *path, const char *header)
{
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "caravel drive: cannot open '%s' to append CSV rows: %s\n", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    if (ftell(f) == 0) fputs(header, f);
    return f;
}

static const char run_header[] =
    "label,policy,device,precision,tenants,rows,mode,rate,concurrency,slo_ms,duration_s,max_wave_rows,"
    "waves_in_flight,offered_per_s,completed_per_s,p50_ms,p99_ms,p999_ms,attainment,fused_share,arrivals,"
    "completed,rejected_queue_full,rejected_infeasible,expired,failed,unfinished,dropped,waves,"
    "mean_wave_requests,submit_lag_p99_ms,form_us_median,launch_us_median,mean_ms,per_tenant,tenant_spread,"
    "inputs_us_median,cache_us_median,rebind_us_median,graph_launch_us_median,lookup_us_median\n";
static const char tenant_header[] = "label,policy,device,precision,tenants,mode,rate,concurrency,per_tenant,tenant,"
                                    "arrivals,completed,mean_ms,p50_ms,p99_ms,attainment\n";
static const char wall_header[] =
    "label,policy,device,precision,tenants_loaded,device_bytes,host_bytes,load_s,stopped_by,message\n";

/* Per policy, the highest load of the sweep meeting 99% and 99.9%, at
 * each tenant count (points of count k, policy p: npoints[k * npolicies +
 * p] at points + (k * npolicies + p) * nloads). */
static void print_sweep(const drive_opts_t *o, const long *reached, const cv_drive_point_t *points,
                        const int *npoints)
{
    const char *unit = o->mode == DRIVE_POISSON ? "/s" : " outstanding";
    for (int k = 0; k < o->ncounts; k++) {
        printf("sweep: highest %s with SLO attainment >= 99%% and >= 99.9%% (at it and every lower one)",
               o->mode == DRIVE_POISSON ? "rate" : "concurrency");
        if (o->ncounts > 1) printf(", %ld tenants", o->counts[k]);
        printf(":\n");
        for (int p = 0; p < o->npolicies; p++) {
            size_t at = (size_t)k * (size_t)o->npolicies + (size_t)p;
            const cv_drive_point_t *pts = points + at * (size_t)o->nloads;
            printf("  %-10s", cv_policy_name(o->policies[p]));
            if (npoints[at] == 0) {
                printf("  not run (%ld tenants loaded)\n", reached[p]);
                continue;
            }
            static const double targets[] = {0.99, 0.999};
            for (size_t q = 0; q < CV_ARRAY_LEN(targets); q++) {
                int i = cv_drive_highest_meeting(pts, npoints[at], targets[q]);
                if (i < 0) printf("  %5.1f%%: none", 100 * targets[q]);
                else printf("  %5.1f%%: %g%s", 100 * targets[q], pts[i].load, unit);
            }
            printf("\n");
        }
    }
}

/* The files the command appends to (each NULL when not asked for). */
typedef struct drive_outputs {
    FILE *csv, *tenant_csv, *wall_csv;
} drive_outputs_t;

/* Every load at c's active tenants: results printed and written; the
 * sweep's points into pts (*npts of them). Library errors: the status with
 * the message in err. */
static cv_status run_loads(drive_ctx_t *c, const drive_outputs_t *out, cv_drive_point_t *pts, int *npts,
                           cv_err_t *err)
{
    const drive_opts_t *o = c->o;
    bool stopped = false;
    double stopped_at = 0;
    cv_status st = CV_STATUS_OK;
    for (int l = 0; l < o->nloads && st == CV_STATUS_OK; l++) {
        char what[64];
        load_label(o, o->loads[l], what, sizeof what);
        if (stopped && o->loads[l] >= stopped_at) {
            printf("%s, %ld tenants, %s: skipped (attainment fell below %g at %g)\n", cv_policy_name(c->policy),
                   c->active, what, o->sweep_stop, stopped_at);
            continue;
        }
        if (o->fresh && *npts > 0) {
            cv_policy_t policy = c->policy;
            long active = c->active;
            grow_stop_t stop;
            ctx_destroy(c);
            st = ctx_create(c, o, policy, err);
            if (st == CV_STATUS_OK) st = ctx_grow(c, active, &stop, err);
            if (st != CV_STATUS_OK) break;
            c->active = active;
        }
        drive_result_t res;
        st = run_load(c, o->loads[l], &res, err);
        if (st != CV_STATUS_OK) break;
        print_result(c, o->loads[l], &res);
        if (out->csv) csv_row(out->csv, c, o->loads[l], &res);
        if (out->tenant_csv) tenant_csv_rows(out->tenant_csv, c, o->loads[l], &res);
        cv_free(res.tenants);
        pts[(*npts)++] = (cv_drive_point_t){o->loads[l], res.attainment};
        /* NaN (nothing measured) does not stop a sweep: it says nothing. */
        if (o->sweep_stop > 0 && res.attainment < o->sweep_stop && (!stopped || o->loads[l] < stopped_at)) {
            stopped = true;
            stopped_at = o->loads[l];
        }
    }
    return st;
}

/* One policy: its runtime grown through the tenant counts, the loads run
 * at each; *reached: the tenants it had loaded at the end. 0 when it ran,
 * 1 when a library error stopped it (said on stderr). */
static int run_policy(const drive_opts_t *o, int p, const drive_outputs_t *out, cv_drive_point_t *points,
                      int *npoints, long *reached)
{
    drive_ctx_t c;
    cv_err_t err = {{0}};
    int stop = 0; /* stop_names[] */
    char message[CV_ERR_LEN] = "";
    cv_status st = ctx_create(&c, o, o->policies[p], &err);
    for (int k = 0; k < o->ncounts && st == CV_STATUS_OK && !stop; k++) {
        grow_stop_t grow;
        st = ctx_grow(&c, o->counts[k], &grow, &err);
        if (st != CV_STATUS_OK) break;
        if (grow != GROW_OK) {
            stop = (int)grow;
            snprintf(message, sizeof message, "%s", err.msg);
            printf("%s: growth stopped at %ld tenants (%s): %s\n", cv_policy_name(c.policy), c.loaded,
                   stop_names[stop], message);
            /* The tenants loaded take the loads once more, unless the last
             * count ran with as many. */
            if (c.loaded == 0 || (k > 0 && c.loaded == o->counts[k - 1])) break;
        }
        c.active = c.loaded;
        size_t at = (size_t)k * (size_t)o->npolicies + (size_t)p;
        st = run_loads(&c, out, points + at * (size_t)o->nloads, &npoints[at], &err);
        if (st == CV_STATUS_OUT_OF_MEMORY && o->until_full) {
            stop = 4; /* run */
            snprintf(message, sizeof message, "%s", err.msg);
            printf("%s: a run at %ld tenants ran out of memory: %s\n", cv_policy_name(c.policy), c.active, message);
            st = CV_STATUS_OK;
        }
    }
    int rc = 0;
    if (st != CV_STATUS_OK) {
        fprintf(stderr, "caravel drive: %s: %s\n", cv_policy_name(o->policies[p]), err.msg);
        rc = 1;
    } else if (out->wall_csv) {
        wall_csv_row(out->wall_csv, &c, stop, message);
    }
    *reached = c.loaded;
    ctx_destroy(&c);
    return rc;
}

int cv_cmd_drive(int argc, char **argv)
{
    drive_opts_t *o = cv_calloc(1, sizeof(*o));
    if (!o) {
        fprintf(stderr, "caravel drive: out of memory\n");
        return 1;
    }
    bool help;
    int rc = parse_options(argc, argv, o, &help);
    if (rc || help) {
        if (help) usage(stdout);
        cv_free(o);
        return rc;
    }
    drive_outputs_t out = {0};
    size_t cells = (size_t)o->ncounts * (size_t)o->npolicies;
    cv_drive_point_t *points = cv_calloc(cells * (size_t)o->nloads, sizeof(*points));
    int *npoints = cv_calloc(cells, sizeof(*npoints));
    long *reached = cv_calloc((size_t)o->npolicies, sizeof(*reached));
    if (!points || !npoints || !reached) {
        fprintf(stderr, "caravel drive: out of memory\n");
        rc = 1;
        goto done;
    }
    if ((o->csv && !(out.csv = csv_open(o->csv, run_header))) ||
        (o->tenant_csv && !(out.tenant_csv = csv_open(o->tenant_csv, tenant_header))) ||
        (o->wall_csv && !(out.wall_csv = csv_open(o->wall_csv, wall_header)))) {
        rc = 1;
        goto done;
    }
    if (o->nmodels < o->tenants && !o->quiet)
        fprintf(stderr, "caravel drive: note: %d model files for %ld tenants: tenants reuse files in turn\n",
                o->nmodels, o->tenants);
    char slo[32] = "none", counts[256] = "";
    if (o->slo_ms > 0) snprintf(slo, sizeof slo, "%g ms", o->slo_ms);
    for (int k = 0, used = 0; k < o->ncounts && used < (int)sizeof counts; k++)
        used += snprintf(counts + used, sizeof counts - (size_t)used, "%s%ld", k ? "," : "", o->counts[k]);
    printf("drive: %s tenants%s, %s, %s, %ld row%s per request, SLO %s, %g s measured after %g s warm-up, "
           "seed %ld\n",
           counts, o->until_full ? " (until memory runs out)" : "", o->device == CV_DEVICE_CUDA ? "cuda" : "cpu",
           cv_cli_precision_name(o->precision), o->rows, o->rows == 1 ? "" : "s", slo, o->duration_s, o->warmup_s,
           o->seed);
    for (int p = 0; p < o->npolicies && !rc; p++) rc = run_policy(o, p, &out, points, npoints, &reached[p]);
    if (!rc && o->nloads > 1) print_sweep(o, reached, points, npoints);
done:
    if (out.csv) fclose(out.csv);
    if (out.tenant_csv) fclose(out.tenant_csv);
    if (out.wall_csv) fclose(out.wall_csv);
    cv_free(points);
    cv_free(npoints);
    cv_free(reached);
    cv_free(o);
    return rc;
}
