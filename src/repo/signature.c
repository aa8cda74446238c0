/*
 * signature.c: a served model's inputs and outputs as clients see them
 * (cv_model_sig_t, registry.h): looking them up by name and freeing them.
 * Apart from the registry (which fills them from a tenant) so that the
 * request codec, and its fuzz target, need nothing of the runtime.
 */
#include "repo/registry.h"

#include "core/core.h"

#include <string.h>

void cv_model_sig_free(cv_model_sig_t *sig)
{
    for (int i = 0; i < sig->ninputs; i++) cv_free(sig->inputs[i].name);
    for (int o = 0; o < sig->noutputs; o++) cv_free(sig->outputs[o].name);
    cv_free(sig->inputs);
    cv_free(sig->outputs);
    memset(sig, 0, sizeof(*sig));
}

int cv_model_sig_input(const cv_model_sig_t *sig, const char *name)
{
    for (int i = 0; i < sig->ninputs; i++)
        if (!strcmp(sig->inputs[i].name, name)) return i;
    return -1;
}

int cv_model_sig_output(const cv_model_sig_t *sig, const char *name)
{
    for (int o = 0; o < sig->noutputs; o++)
        if (!strcmp(sig->outputs[o].name, name)) return o;
    return -1;
}
