/*
 * scan.c: what a model repository holds on disk (models, their versions,
 * the path of a version's model.onnx), and the checks that keep a name
 * from the network from naming anything outside the repository.
 */
#include "repo/repo.h"

#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool cv_repo_name_valid(const char *name)
{
    if (!name || !name[0] || name[0] == '.') return false;
    size_t n = 0;
    for (const char *c = name; *c; c++, n++) {
        if (n >= CV_REPO_NAME_MAX) return false;
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                  *c == '_' || *c == '.' || *c == '-';
        if (!ok) return false;
    }
    return true;
}

bool cv_repo_version_parse(const char *s, int64_t *out)
{
    if (!s || !s[0]) return false;
    if (s[0] == '0' && s[1]) return false; /* one spelling per version: "1", never "01" */
    int64_t v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9') return false;
        v = v * 10 + (*c - '0');
        if (v > CV_REPO_VERSION_MAX) return false;
    }
    *out = v;
    return true;
}

void cv_repo_names_free(cv_repo_names_t *list)
{
    for (int i = 0; i < list->count; i++) cv_free(list->names[i]);
    cv_free(list->names);
    list->names = NULL;
    list->count = 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

cv_status cv_repo_list_models(const char *repo, cv_repo_names_t *out, cv_err_t *err)
{
    out->names = NULL;
    out->count = 0;
    DIR *dir = opendir(repo);
    if (!dir) return cv_errorf(err, CV_STATUS_NOT_FOUND, "model repository %s: %s", repo, strerror(errno));
    int cap = 0;
    cv_status st = CV_STATUS_OK;
    char path[4096];
    for (struct dirent *e; (e = readdir(dir));) {
        if (!cv_repo_name_valid(e->d_name)) continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", repo, e->d_name) >= sizeof path || !is_dir(path)) continue;
        char *name = cv_strdup(e->d_name);
        if (!name || cv_grow((void **)&out->names, sizeof(char *), out->count, &cap) != CV_STATUS_OK) {
            cv_free(name);
            st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory listing %s", repo);
            break;
        }
        out->names[out->count++] = name;
    }
    closedir(dir);
    if (st != CV_STATUS_OK) {
        cv_repo_names_free(out);
        return st;
    }
    if (out->count) qsort(out->names, (size_t)out->count, sizeof(char *), compare_names);
    return CV_STATUS_OK;
}

static int compare_versions(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

cv_status cv_repo_list_versions(const char *repo, const char *model, int64_t **out, int *count, cv_err_t *err)
{
    *out = NULL;
    *count = 0;
    if (!cv_repo_name_valid(model)) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "invalid model name");
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", repo, model) >= sizeof path)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "model '%s': its path is too long", model);
    DIR *dir = opendir(path);
    if (!dir) return cv_errorf(err, CV_STATUS_NOT_FOUND, "no model '%s' in the repository %s", model, repo);
    int cap = 0;
    cv_status st = CV_STATUS_OK;
    for (struct dirent *e; (e = readdir(dir));) {
        int64_t v;
        if (!cv_repo_version_parse(e->d_name, &v)) continue;
        char file[4096];
        if (cv_repo_model_path(repo, model, v, file, sizeof file, NULL) != CV_STATUS_OK || !is_file(file)) continue;
        if (cv_grow((void **)out, sizeof(int64_t), *count, &cap) != CV_STATUS_OK) {
            st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory listing %s", path);
            break;
        }
        (*out)[(*count)++] = v;
    }
    closedir(dir);
    if (st != CV_STATUS_OK) {
        cv_free(*out);
        *out = NULL;
        *count = 0;
        return st;
    }
    if (*count) qsort(*out, (size_t)*count, sizeof(int64_t), compare_versions);
    return CV_STATUS_OK;
}

cv_status cv_repo_model_path(const char *repo, const char *model, int64_t version, char *buf, size_t len,
                             cv_err_t *err)
{
    if (!cv_repo_name_valid(model)) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "invalid model name");
    int n = snprintf(buf, len, "%s/%s/%lld/model.onnx", repo, model, (long long)version);
    if (n < 0 || (size_t)n >= len)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "model '%s': its path is too long", model);
    return CV_STATUS_OK;
}
