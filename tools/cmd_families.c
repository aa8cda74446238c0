/*
 * cmd_families.c: `caravel families`: which family each model of a
 * repository belongs to, as an nginx `map` (model name -> family key) or a
 * table. A deployment of several servers behind nginx (deploy/, docs/
 * DEPLOY.md) hashes requests by this key, so that all the models of one
 * family land on one server and fuse there.
 *
 * The key is the family hash the server itself reports (the model
 * config's "family" parameter, the status document's "family"): the
 * models are loaded exactly as `caravel serve` loads them (the registry,
 * each model's config.json, the same device), and each tenant's
 * cv_tenant_family_hash is read back, so the hashing is never re-implemented
 * and cannot drift from the server's. The hash covers the graph and the
 * precision, so the device must be one that can load the precisions the
 * repository asks for (a model in FP16 loads on CUDA only).
 *
 * What it deliberately does not do: talk to a running server, or key by
 * version. A URL without a version means the highest version, and nginx
 * routes by model name, so each model maps to the family of its highest
 * version loaded.
 */
#include "cli.h"

#include "core/core.h"
#include "repo/registry.h"
#include "repo/repo.h"

#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel families --model-repository DIR [--format nginx|tsv]\n"
            "                        [--device cpu|cuda] [--load-model NAME ...]\n"
            "\n"
            "Loads the models of DIR as `caravel serve` would (each model's config.json,\n"
            "the same device) and prints the family of each model's highest version:\n"
            "the structural hash the server reports, which is the same for the tenants\n"
            "that fuse into one wave. With --format nginx (the default) the lines are\n"
            "the body of an nginx map from model name to family key\n"
            "(`cnn-a 29220c51fdf677aa;`, `caravel nginx-conf` includes it); with\n"
            "--format tsv, `model<TAB>version<TAB>family` with a header.\n"
            "\n"
            "  --model-repository DIR  the repository (required)\n"
            "  --format F              nginx (default) or tsv\n"
            "  --device D              cpu (default) or cuda: where the models load (the\n"
            "                          family depends on the precision, which the CPU\n"
            "                          runs in FP32 only)\n"
            "  --load-model NAME       only this model (repeatable; default: every model)\n"
            "\n"
            "A model that fails to load is named on stderr with the reason and left out\n"
            "of the map (nginx then hashes its requests by the model name); the exit\n"
            "status is then 1, so that a script notices.\n");
}

#define MAX_MODELS 256

int cv_cmd_families(int argc, char **argv)
{
    const char *repo = NULL, *format = "nginx";
    const char *only[MAX_MODELS];
    int nonly = 0;
    cv_device_t device = CV_DEVICE_CPU;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char *v = cv_cli_option_value("caravel families", argc, argv, &i);
        if (!v) return 2;
        if (!strcmp(a, "--model-repository")) repo = v;
        else if (!strcmp(a, "--format")) {
            if (strcmp(v, "nginx") != 0 && strcmp(v, "tsv") != 0) {
                fprintf(stderr, "caravel families: --format must be nginx or tsv, not '%s'\n", v);
                return 2;
            }
            format = v;
        } else if (!strcmp(a, "--device")) {
            if (!cv_cli_parse_device(v, &device)) return 2;
        } else if (!strcmp(a, "--load-model")) {
            if (nonly == MAX_MODELS) {
                fprintf(stderr, "caravel families: at most %d --load-model\n", MAX_MODELS);
                return 2;
            }
            if (!cv_repo_name_valid(v)) {
                fprintf(stderr, "caravel families: --load-model '%s' is not a model name\n", v);
                return 2;
            }
            only[nonly++] = v;
        } else {
            fprintf(stderr, "caravel families: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!repo) {
        fprintf(stderr, "caravel families: --model-repository is required (see --help)\n");
        return 2;
    }
    /* The registry reports each failed load itself; the loads' progress
     * would only be noise between the map's lines and the errors. */
    cv_log_set_level(CV_LOG_WARN);

    int rc = 1;
    bool all_loaded = true;
    cv_err_t err = {{0}};
    cv_runtime_t *rt = NULL;
    cv_registry_t *reg = NULL;
    cv_served_t **ready = NULL;
    int nready = 0;
    cv_repo_names_t models = {0};
    /* No profiling: nothing runs here, only the families are read. */
    cv_runtime_config_t config = {.device = device, .threads = 1, .no_profile = true};
    if (cv_repo_list_models(repo, &models, &err) != CV_STATUS_OK) goto fail;
    if (!cv_cli_models_listed("families", repo, &models, only, nonly)) {
        rc = 2;
        goto done;
    }
    if (cv_runtime_create(&config, &rt, &err) != CV_STATUS_OK) goto fail;
    if (cv_registry_create(rt, repo, &reg, &err) != CV_STATUS_OK) goto fail;
    /* A failed load is not fatal here (the servers serve the others), but
     * it is named: the registry logs each failed version with its reason,
     * and one line after the map lists the models left out. */
    if (nonly == 0) {
        all_loaded = cv_registry_load_all(reg, &err) == CV_STATUS_OK;
    } else {
        for (int i = 0; i < nonly; i++) all_loaded &= cv_registry_load(reg, only[i], &err) == CV_STATUS_OK;
    }
    if (cv_registry_ready(reg, NULL, &ready, &nready, &err) != CV_STATUS_OK) goto fail;

    if (!strcmp(format, "nginx"))
        printf("# model -> family key, from `caravel families` over %s (device %s)\n", repo,
               device == CV_DEVICE_CPU ? "cpu" : "cuda");
    else
        printf("model\tversion\tfamily\n");
    /* Sorted by model and version: the last record of a model is its
     * highest version, the one a URL without a version reaches. */
    for (int i = 0; i < nready; i++) {
        const cv_served_t *s = ready[i];
        if (i + 1 < nready && !strcmp(ready[i + 1]->model, s->model)) continue;
        if (!strcmp(format, "nginx"))
            printf("%s %016llx;\n", s->model, (unsigned long long)s->family_hash);
        else
            printf("%s\t%s\t%016llx\n", s->model, s->version_str, (unsigned long long)s->family_hash);
    }
    fflush(stdout);
    if (!all_loaded) {
        /* The models of the request with no READY version: the map lacks them. */
        fprintf(stderr, "caravel families: left out of the map (they did not load):");
        for (int m = 0; m < models.count; m++) {
            bool asked = nonly == 0, mapped = false;
            for (int i = 0; i < nonly; i++) asked |= !strcmp(only[i], models.names[m]);
            for (int i = 0; i < nready; i++) mapped |= !strcmp(ready[i]->model, models.names[m]);
            if (asked && !mapped) fprintf(stderr, " %s", models.names[m]);
        }
        fprintf(stderr, "\n");
    }
    rc = all_loaded ? 0 : 1;
    goto done;
fail:
    fprintf(stderr, "caravel families: %s\n", err.msg);
done:
    for (int i = 0; i < nready; i++) cv_served_release(ready[i]);
    cv_free(ready);
    cv_registry_destroy(reg);
    cv_runtime_destroy(rt);
    cv_repo_names_free(&models);
    return rc;
}
