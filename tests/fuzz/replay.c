/*
 * replay.c: a main() for a fuzz target built without libFuzzer. It runs the
 * target's LLVMFuzzerTestOneInput once over every input it is given, so
 * that `make test` replays the seeds, the committed corpus and every crash
 * ever found with the ordinary compiler (and `make asan` under the
 * sanitizers). A crash, a sanitizer report or a leak the target detects
 * fails the test; an input the library refuses with a status does not.
 *
 *   fuzz_replay_<target> [--shared DIR --seeds LIST] PATH...
 *
 * LIST is a file of globs relative to DIR (tests/fuzz/seeds/<target>.txt:
 * one a line, '#' starts a comment). When DIR is absent the seeds are
 * skipped with a printed reason; when it is present every glob must match,
 * so that a moved data set is noticed rather than silently not replayed.
 * A PATH is a file, or a folder whose files are all replayed (recursively;
 * names starting with '.' are skipped, so an empty folder can hold a
 * .gitkeep). Each input's path is printed before it runs, so that the log
 * of a failed test ends at the input that failed.
 *
 * What it deliberately does not do: fuzz, or compare outputs; a run of the
 * real fuzzer is `make fuzz` (scripts/fuzz.sh).
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long replayed;

/* Reads `path` whole; NULL (with a message) when it cannot. */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    bool failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        fprintf(stderr, "replay: %s: cannot read it\n", path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int replay_file(const char *path)
{
    size_t len = 0;
    uint8_t *data = read_all(path, &len);
    if (!data) return 1;
    printf("replay: %s\n", path);
    fflush(stdout);
    /* libFuzzer hands the target a buffer of exactly `len` bytes; so does
     * this (a shrunk copy), so that AddressSanitizer sees reads past it. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        return 1;
    }
    memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    replayed++;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or every file below a folder, in name order. */
static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) return replay_file(path);
    DIR *dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int failed = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof(*names));
            if (!grown) {
                failed = 1;
                break;
            }
            names = grown;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) {
            failed = 1;
            break;
        }
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(dir);
    if (n) qsort(names, n, sizeof(*names), compare_names);
    for (size_t i = 0; i < n; i++) {
        if (!failed) failed = replay_path(names[i]);
        free(names[i]);
    }
    free(names);
    if (failed) fprintf(stderr, "replay: %s: could not replay all of it\n", path);
    return failed;
}

/* Replays every file matched by the globs of `list` below `shared`. */
static int replay_seeds(const char *shared, const char *list)
{
    struct stat st;
    if (stat(shared, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("replay: seeds skipped: the shared data folder %s is absent\n", shared);
        return 0;
    }
    FILE *f = fopen(list, "r");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", list, strerror(errno));
        return 1;
    }
    char line[1024];
    int failed = 0;
    while (!failed && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        char pattern[2048];
        snprintf(pattern, sizeof pattern, "%s/%s", shared, line);
        /* A part of the shared data that is not there at all (a partial
         * copy of ../shared) is skipped like a missing ../shared; a part
         * that is there but matches nothing is an error. */
        char top[2048];
        snprintf(top, sizeof top, "%s/%.*s", shared, (int)strcspn(line, "/"), line);
        if (stat(top, &st) != 0) {
            printf("replay: seeds %s skipped: %s is absent\n", line, top);
            continue;
        }
        glob_t g;
        if (glob(pattern, 0, NULL, &g) != 0) {
            fprintf(stderr, "replay: %s (from %s) matches nothing\n", pattern, list);
            failed = 1;
            continue;
        }
        for (size_t i = 0; i < g.gl_pathc && !failed; i++) failed = replay_file(g.gl_pathv[i]);
        globfree(&g);
    }
    fclose(f);
    return failed;
}

int main(int argc, char **argv)
{
    const char *shared = NULL, *list = NULL;
    int failed = 0, first = 1;
    while (first < argc && strncmp(argv[first], "--", 2) == 0 && first + 1 < argc) {
        if (strcmp(argv[first], "--shared") == 0) {
            shared = argv[first + 1];
        } else if (strcmp(argv[first], "--seeds") == 0) {
            list = argv[first + 1];
        } else {
            break;
        }
        first += 2;
    }
    if (first == argc && !list) {
        fprintf(stderr, "usage: %s [--shared DIR --seeds LIST] PATH...\n", argv[0]);
        return 2;
    }
    if (list) failed = replay_seeds(shared ? shared : ".", list);
    for (int i = first; i < argc && !failed; i++) failed = replay_path(argv[i]);
    printf("replay: %ld inputs replayed%s\n", replayed, failed ? ", then an input could not be read" : "");
    return failed;
}
