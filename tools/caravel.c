/*
 * caravel.c: the `caravel` command: dispatches to its subcommands.
 */
#include "cli.h"

#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel COMMAND [options]\n"
            "\n"
            "Multi-tenant DNN inference: ONNX models of many tenants on one device.\n"
            "\n"
            "commands:\n"
            "  run     run one inference of an ONNX model on inputs from .pb files\n"
            "  check   run ONNX backend-test folders and compare with their references\n"
            "  wave    run several tenants of one family as one wave and compare each\n"
            "          with the same tenant run alone\n"
            "  bench   time waves of R tenants of one family (throughput)\n"
            "  compare how far TF32, FP16 or BF16 move a model's outputs from FP32\n"
            "  drive   load the asynchronous API (open-loop Poisson or closed-loop) and\n"
            "          report per policy throughput, latency, SLO attainment, fusion\n"
            "  serve   serve a model repository over the KServe v2 HTTP protocol\n"
            "  load    load a KServe v2 server over HTTP (open-loop Poisson or closed-loop)\n"
            "          and report throughput, latency, SLO attainment, answers by status\n"
            "  families the family of each model of a repository, as an nginx map (to\n"
            "          route each family to one server of several: docs/DEPLOY.md)\n"
            "  nginx-conf the nginx configuration in front of several servers, a family\n"
            "          to a server (from that map: docs/DEPLOY.md)\n"
            "  table1  the paper's Table 1 on this GPU: R independent GEMMs run one after\n"
            "          another, on R streams, as one batched launch (and grouped, TF32)\n"
            "\n"
            "`caravel COMMAND --help` describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "run")) return cv_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "check")) return cv_cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "wave")) return cv_cmd_wave(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cv_cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "compare")) return cv_cmd_compare(argc - 1, argv + 1);
    if (!strcmp(cmd, "drive")) return cv_cmd_drive(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cv_cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "load")) return cv_cmd_load(argc - 1, argv + 1);
    if (!strcmp(cmd, "families")) return cv_cmd_families(argc - 1, argv + 1);
    if (!strcmp(cmd, "nginx-conf")) return cv_cmd_nginx_conf(argc - 1, argv + 1);
    if (!strcmp(cmd, "table1")) return cv_cmd_table1(argc - 1, argv + 1);
    fprintf(stderr, "caravel: unknown command '%s' (try caravel --help)\n", cmd);
    return 2;
}
