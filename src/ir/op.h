/*
 * op.h: the operators Caravel knows, and the two functions each one has:
 * shape inference (IR, src/ir/infer_*.c) and a CPU kernel
 * (src/backend/cpu/cpu_*.c). Constant folding runs the CPU kernel, so every
 * operator folds.
 *
 * An operator is one line of CV_OP_LIST: enum suffix, ONNX op_type, and the
 * stem of its functions, cv_infer_<stem> and cv_cpu_<stem>.
 */
#ifndef CV_IR_OP_H
#define CV_IR_OP_H

#include "caravel.h"

#define CV_OP_LIST(X)                                                                    \
    /* neural-network ops: src/ir/infer_nn.c, src/backend/cpu/cpu_nn.c */                \
    X(CONV, "Conv", conv)                                                                \
    X(BATCH_NORMALIZATION, "BatchNormalization", batch_normalization)                   \
    X(GEMM, "Gemm", gemm)                                                                \
    X(MATMUL, "MatMul", matmul)                                                          \
    X(MAX_POOL, "MaxPool", max_pool)                                                     \
    X(AVERAGE_POOL, "AveragePool", average_pool)                                         \
    X(GLOBAL_AVERAGE_POOL, "GlobalAveragePool", global_average_pool)                     \
    X(GLOBAL_MAX_POOL, "GlobalMaxPool", global_max_pool)                                 \
    X(LRN, "LRN", lrn)                                                                   \
    X(LAYER_NORMALIZATION, "LayerNormalization", layer_normalization)                   \
    X(SOFTMAX, "Softmax", softmax)                                                       \
    X(LOG_SOFTMAX, "LogSoftmax", log_softmax)                                            \
    /* elementwise ops: src/ir/infer_elementwise.c, src/backend/cpu/cpu_elementwise.c */ \
    X(RELU, "Relu", relu)                                                                \
    X(LEAKY_RELU, "LeakyRelu", leaky_relu)                                               \
    X(PRELU, "PRelu", prelu)                                                             \
    X(ELU, "Elu", elu)                                                                   \
    X(SELU, "Selu", selu)                                                                \
    X(CLIP, "Clip", clip)                                                                \
    X(SIGMOID, "Sigmoid", sigmoid)                                                       \
    X(HARD_SIGMOID, "HardSigmoid", hard_sigmoid)                                         \
    X(HARD_SWISH, "HardSwish", hard_swish)                                               \
    X(TANH, "Tanh", tanh)                                                                \
    X(ERF, "Erf", erf)                                                                   \
    X(GELU, "Gelu", gelu)                                                                \
    X(SOFTPLUS, "Softplus", softplus)                                                    \
    X(SQRT, "Sqrt", sqrt)                                                                \
    X(EXP, "Exp", exp)                                                                   \
    X(LOG, "Log", log)                                                                   \
    X(NEG, "Neg", neg)                                                                   \
    X(ABS, "Abs", abs)                                                                   \
    X(ADD, "Add", add)                                                                   \
    X(SUB, "Sub", sub)                                                                   \
    X(MUL, "Mul", mul)                                                                   \
    X(DIV, "Div", div)                                                                   \
    X(POW, "Pow", pow)                                                                   \
    X(MIN, "Min", min)                                                                   \
    X(MAX, "Max", max)                                                                   \
    X(SUM, "Sum", sum)                                                                   \
    X(MEAN, "Mean", mean)                                                                \
    X(EQUAL, "Equal", equal)                                                             \
    X(WHERE, "Where", where)                                                             \
    X(CAST, "Cast", cast)                                                                \
    /* layout and shape ops: src/ir/infer_layout.c, src/backend/cpu/cpu_layout.c */     \
    X(RESHAPE, "Reshape", reshape)                                                       \
    X(FLATTEN, "Flatten", flatten)                                                       \
    X(TRANSPOSE, "Transpose", transpose)                                                 \
    X(CONCAT, "Concat", concat)                                                          \
    X(SPLIT, "Split", split)                                                             \
    X(SLICE, "Slice", slice)                                                             \
    X(SQUEEZE, "Squeeze", squeeze)                                                       \
    X(UNSQUEEZE, "Unsqueeze", unsqueeze)                                                 \
    X(GATHER, "Gather", gather)                                                          \
    X(SHAPE, "Shape", shape)                                                             \
    X(CONSTANT, "Constant", constant)                                                    \
    X(CONSTANT_OF_SHAPE, "ConstantOfShape", constant_of_shape)                           \
    X(IDENTITY, "Identity", identity)                                                    \
    X(DROPOUT, "Dropout", dropout)                                                       \
    X(EXPAND, "Expand", expand)                                                          \
    X(TILE, "Tile", tile)                                                                \
    X(RANGE, "Range", range)                                                             \
    X(PAD, "Pad", pad)                                                                   \
    X(REDUCE_MEAN, "ReduceMean", reduce_mean)                                            \
    X(REDUCE_SUM, "ReduceSum", reduce_sum)

typedef enum cv_op {
#define CV_OP_ENUM(id, onnx, stem) CV_OP_##id,
    CV_OP_LIST(CV_OP_ENUM)
#undef CV_OP_ENUM
    CV_OP_COUNT
} cv_op_t;

struct cv_node;
struct cv_cpu_ctx;

/* What shape inference and a kernel see of one node.
 *
 * For inference: inputs carry dtype and shape; an input's data is non-NULL
 * exactly when that input is a constant (so Reshape can read its shape
 * input). Omitted optional inputs are NULL. The function fills dtype and
 * shape of every non-NULL output and leaves data alone.
 *
 * For a kernel: every non-NULL input and output has data (host memory for
 * the CPU backend) and the shapes inference produced. Outputs never alias
 * inputs, except for the view ops the plan marks (Reshape, Flatten,
 * Squeeze, Unsqueeze, Identity, Dropout), whose kernels must then copy only
 * when the pointers differ. */
typedef struct cv_op_args {
    const struct cv_node *node;
    const cv_tensor_t *const *inputs;
    int ninputs;
    cv_tensor_t *const *outputs;
    int noutputs;
    struct cv_cpu_ctx *cpu; /* kernels only: threads and scratch memory */
} cv_op_args_t;

/* Both return CV_STATUS_OK, or a status with err set to a message naming
 * the input or attribute at fault and what was expected (the caller
 * prefixes the node's label and the file). */
typedef cv_status (*cv_infer_fn)(const cv_op_args_t *args, cv_err_t *err);
typedef cv_status (*cv_kernel_fn)(const cv_op_args_t *args, cv_err_t *err);

typedef struct cv_op_def {
    const char *onnx_name;
    cv_infer_fn infer;
    cv_kernel_fn cpu;
} cv_op_def_t;

/* True when every output args lists is empty (or absent): a kernel then
 * has nothing to compute and is not run. Kernels loop over outer dims,
 * which an empty tensor can make huge ([2^40,5,0,4] would spin for hours
 * in LRN), so constant folding and the backends check this first. */
bool cv_op_outputs_empty(const cv_op_args_t *args);

/* The table, indexed by cv_op_t. */
const cv_op_def_t *cv_op_def(cv_op_t op);
/* The op with this ONNX op_type (default domain); false when unknown. */
bool cv_op_from_name(const char *onnx_name, cv_op_t *out);
const char *cv_op_name(cv_op_t op);

/* Declarations of every op's functions. */
#define CV_OP_DECL(id, onnx, stem)                                                       \
    cv_status cv_infer_##stem(const cv_op_args_t *args, cv_err_t *err);                 \
    cv_status cv_cpu_##stem(const cv_op_args_t *args, cv_err_t *err);
CV_OP_LIST(CV_OP_DECL)
#undef CV_OP_DECL

#endif /* CV_IR_OP_H */
