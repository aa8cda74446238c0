/*
 * limits.c: the process limits a server or a load generator raises for
 * itself. Each HTTP connection is a file descriptor, and the usual soft
 * limit (1024) would stop either near a thousand clients while the hard
 * limit allows far more.
 */
#include "core/core.h"

#include <sys/resource.h>

int cv_open_files_for(int wanted, int other_files)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return wanted;
    rlim_t need = (rlim_t)wanted + (rlim_t)other_files;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        struct rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) return wanted;
    long fit = (long)rl.rlim_cur - other_files;
    return fit < 0 ? 0 : (int)fit;
}
