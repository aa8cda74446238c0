/*
 * fuzz_data_dir.c: see fuzz_data_dir.h.
 */
#include "fuzz_data_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[512];
static char file[600];

static void remove_dir(void)
{
    unlink(file);
    rmdir(dir);
}

const char *cv_fuzz_data_dir(void)
{
    static int made = -1;
    if (made >= 0) return made ? dir : NULL;
    made = 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/caravel-fuzz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) return NULL;
    snprintf(file, sizeof file, "%s/weights.bin", dir);
    FILE *f = fopen(file, "wb");
    if (!f) {
        rmdir(dir);
        return NULL;
    }
    for (int i = 0; i < 4096; i++) fputc(i & 0xff, f);
    if (fclose(f) != 0) {
        remove_dir();
        return NULL;
    }
    atexit(remove_dir);
    made = 1;
    return dir;
}
