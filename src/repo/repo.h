/*
 * repo.h: the model repository on disk: which models and versions it holds,
 * how each model is configured, and which names are safe to turn into
 * paths. The registry of what is loaded from it is registry.h.
 *
 * Layout (Triton's):
 *   <repo>/<model>/config.json          optional, see cv_repo_config_parse
 *   <repo>/<model>/<version>/model.onnx one or more decimal version folders
 *
 * A model name comes from the network (URLs of the repository and inference
 * endpoints), so every function that turns a name into a path checks it
 * first with cv_repo_name_valid: one path segment, nothing that climbs out
 * of the repository.
 *
 * What it deliberately does not do: load anything into a runtime (that is
 * the registry), or read Triton's config.pbtxt.
 */
#ifndef CV_REPO_H
#define CV_REPO_H

#include "caravel.h"

/* Longest model name accepted. */
#define CV_REPO_NAME_MAX 128
/* Largest version number accepted (fits the digits of a path segment and
 * an int64 with room to spare). */
#define CV_REPO_VERSION_MAX 999999999999LL

/* True for a model name that is one path segment of [A-Za-z0-9_.-], at
 * most CV_REPO_NAME_MAX bytes, not starting with '.' (so neither "." nor
 * ".." nor a hidden folder). */
bool cv_repo_name_valid(const char *name);

/* Parses a version path segment or URL part: decimal digits only (no sign,
 * no spaces, no leading zero but in "0"), at most CV_REPO_VERSION_MAX.
 * False otherwise. */
bool cv_repo_version_parse(const char *s, int64_t *out);

/* A list of names, owned (cv_repo_names_free). */
typedef struct cv_repo_names {
    char **names;
    int count;
} cv_repo_names_t;
void cv_repo_names_free(cv_repo_names_t *list);

/* The models of the repository: its folders with a valid name, sorted.
 * NOT_FOUND when `repo` is not a readable folder; OUT_OF_MEMORY. */
cv_status cv_repo_list_models(const char *repo, cv_repo_names_t *out, cv_err_t *err);

/* The versions of `model` (folders with a decimal name holding a
 * model.onnx), ascending, in a new array (*out, free with cv_free).
 * INVALID_ARGUMENT for an invalid name, NOT_FOUND when the model's folder
 * is absent; a model without versions gives *count = 0 and OK. */
cv_status cv_repo_list_versions(const char *repo, const char *model, int64_t **out, int *count,
                                cv_err_t *err);

/* Writes "<repo>/<model>/<version>/model.onnx" into buf (len bytes);
 * INVALID_ARGUMENT when the name is invalid or the path does not fit. */
cv_status cv_repo_model_path(const char *repo, const char *model, int64_t version, char *buf, size_t len,
                             cv_err_t *err);

/* A model's configuration: its tenants' config, and how many devices serve
 * it. */
typedef struct cv_repo_config {
    cv_tenant_config_t tenant;
    /* Replicas: the model loaded on this many devices of a server with
     * several, requests balanced between them (src/repo/placement.h); 1
     * by default. More than the server's devices serve on all of them. */
    int replicas;
} cv_repo_config_t;

/* Parses a model's config.json (`text`, `len` bytes) into its config,
 * defaults where a key is absent. `where` names the file in messages.
 * Keys (all optional):
 *   slo_ms        number >= 0     latency objective (0: none)
 *   precision     "fp32" | "tf32" | "fp16" | "bf16"
 *   max_rows      integer >= 0    largest request in rows (0: the runtime's widest wave)
 *   max_batch_size integer >= 0   Triton's name for max_rows (used when max_rows is absent)
 *   share         number >= 0     weight in the fair share of each wave (0: 1)
 *   priority      integer         default priority of its requests (higher first)
 *   queue_bound   integer >= 0    requests queued at most (0: 1024)
 *   replicas      integer >= 1    devices that each hold a copy (1)
 *   name          string          must equal the model's folder name
 *   platform      string          must be "onnxruntime_onnx"
 *   backend       string          must be "onnxruntime"
 * Any other key is refused, so that a misspelt one is not silently ignored.
 * INVALID_ARGUMENT with one line naming the file and the key at fault. */
cv_status cv_repo_config_parse(const char *text, size_t len, const char *model, const char *where,
                               cv_repo_config_t *out, cv_err_t *err);

/* Reads <repo>/<model>/config.json when it exists (defaults when it does
 * not) through cv_repo_config_parse. */
cv_status cv_repo_config_read(const char *repo, const char *model, cv_repo_config_t *out, cv_err_t *err);

/* Parses "fp32", "tf32", "fp16" or "bf16"; false otherwise. */
bool cv_repo_precision_parse(const char *s, cv_precision_t *out);
const char *cv_repo_precision_name(cv_precision_t p);

#endif /* CV_REPO_H */
