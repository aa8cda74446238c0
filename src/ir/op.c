/*
 * op.c: the operator table, built from CV_OP_LIST.
 */
#include "ir/op.h"

#include "core/core.h"

#include <string.h>

static const cv_op_def_t op_table[CV_OP_COUNT] = {
#define CV_OP_ROW(id, onnx, stem) [CV_OP_##id] = {onnx, cv_infer_##stem, cv_cpu_##stem},
    CV_OP_LIST(CV_OP_ROW)
#undef CV_OP_ROW
};

const cv_op_def_t *cv_op_def(cv_op_t op)
{
    CV_ASSERT(op >= 0 && op < CV_OP_COUNT);
    return &op_table[op];
}

const char *cv_op_name(cv_op_t op) { return cv_op_def(op)->onnx_name; }

bool cv_op_outputs_empty(const cv_op_args_t *args)
{
    for (int o = 0; o < args->noutputs; o++)
        if (args->outputs[o] && cv_shape_numel(&args->outputs[o]->shape) != 0) return false;
    return true;
}

bool cv_op_from_name(const char *onnx_name, cv_op_t *out)
{
    for (int i = 0; i < CV_OP_COUNT; i++) {
        if (strcmp(op_table[i].onnx_name, onnx_name) == 0) {
            *out = (cv_op_t)i;
            return true;
        }
    }
    return false;
}
