/*
 * graph.h: Caravel's intermediate representation of one model.
 *
 * A graph is a list of values (every tensor an ONNX graph names) and a list
 * of nodes in topological order. A value is either a constant (an
 * initializer, a Constant node's output, or the result of constant folding:
 * `constant` is set and holds host data) or an activation computed at run
 * time. Every tenant owns its own graph; tenants of one family have graphs
 * that are identical up to constant values, so plans refer to values and
 * nodes by index and are shared by the whole family.
 *
 * Nodes are kept in their canonical (newest-opset) form: the loader turns
 * attributes that later opsets made inputs (Slice starts, Squeeze axes, Clip
 * min/max, Pad pads, Split split, Reduce axes, ...) into constant inputs, so
 * that shape inference and kernels know one form. `opset` keeps the version
 * the model declared, for the few semantics that changed (Softmax's axis).
 */
#ifndef CV_IR_GRAPH_H
#define CV_IR_GRAPH_H

#include "core/core.h"
#include "ir/op.h"
#include "ir/tensor.h"

typedef enum cv_attr_type {
    CV_ATTR_INT,
    CV_ATTR_FLOAT,
    CV_ATTR_STRING,
    CV_ATTR_INTS,
    CV_ATTR_FLOATS,
    CV_ATTR_TENSOR,
} cv_attr_type_t;

typedef struct cv_attr {
    char *name;
    cv_attr_type_t type;
    int64_t i;
    float f;
    char *s;          /* NUL-terminated */
    int64_t *ints;    /* n entries */
    float *floats;    /* n entries */
    int n;
    cv_tensor_t *tensor;
} cv_attr_t;

/* An activation fused into the producing step (Conv+BN+Relu folding). */
typedef enum cv_activation {
    CV_ACTIVATION_NONE = 0,
    CV_ACTIVATION_RELU,
    CV_ACTIVATION_CLIP, /* min(max(x, clip_min), clip_max) */
} cv_activation_t;

typedef struct cv_node {
    char *name;     /* may be "" in ONNX; errors then name the op and index */
    cv_op_t op;
    int opset;      /* the model's version of the default domain */
    int *inputs;    /* value indices; -1 for an omitted optional input */
    int ninputs;
    int *outputs;   /* value indices; -1 for an omitted optional output */
    int noutputs;
    cv_attr_t *attrs;
    int nattrs;
    cv_activation_t activation; /* fused activation applied to output 0 */
    float clip_min, clip_max;
    /* Conv only: inputs[3] (same shape and dtype as output 0) is added to
     * the convolution and its bias, before the activation; a residual Add
     * folded in at load (cv_plan_fuse_residuals, src/plan/fuse.c). */
    bool fused_residual;
    bool dead;      /* removed by a pass; skipped everywhere */
} cv_node_t;

typedef struct cv_value {
    char *name;
    cv_dtype_t dtype;     /* CV_DTYPE_UNDEFINED until known */
    cv_shape_t shape;     /* as declared or inferred; dims < 0 are unknown */
    cv_tensor_t *constant; /* host data when the value is a constant */
    bool is_weight;       /* a constant that comes from the model's weights:
                             differs between tenants of a family */
    bool borrowed;        /* constant->data is not the graph's but the
                             runtime's weight store's (one copy for every
                             tenant that has this tensor, src/runtime/
                             weights.c), or NULL: the graph never frees it */
    int producer;         /* node index, or -1 for inputs and constants */
} cv_value_t;

typedef struct cv_graph {
    char *path;           /* the file it came from, for messages */
    cv_value_t *values;
    int nvalues, values_cap;
    cv_node_t *nodes;
    int nnodes, nodes_cap;
    int *inputs;          /* value indices of the graph's runtime inputs */
    int ninputs;
    int *outputs;         /* value indices of the graph's outputs */
    int noutputs;
    int opset;
    bool batched;         /* dim 0 of every input is a symbolic batch axis */
} cv_graph_t;

cv_graph_t *cv_graph_create(const char *path);
void cv_graph_destroy(cv_graph_t *g);

/* Finds a value by name; -1 when absent. */
int cv_graph_find_value(const cv_graph_t *g, const char *name);
/* Adds a value (name copied); returns its index, or -1 out of memory. */
int cv_graph_add_value(cv_graph_t *g, const char *name);
/* Adds a node; the arrays are copied. Returns its index, or -1 out of memory. */
int cv_graph_add_node(cv_graph_t *g, const char *name, cv_op_t op, const int *inputs,
                      int ninputs, const int *outputs, int noutputs);
/* Appends an attribute to a node (takes ownership of attr's pointers). */
cv_status cv_node_add_attr(cv_node_t *node, const cv_attr_t *attr);
/* Adds a constant value holding `t` (ownership taken); returns its index or -1. */
int cv_graph_add_constant(cv_graph_t *g, const char *name, cv_tensor_t *t, bool is_weight);

/* The most inputs and the most outputs any node of g has (0 when none). */
void cv_graph_max_arity(const cv_graph_t *g, int *max_inputs, int *max_outputs);

/* Marks in read[v] (nvalues entries) the weights whose host data is read
 * once a device backend holds its own copy of the tenant's constants:
 * every weight but those that only Conv, Gemm and MatMul read, as their
 * weight or bias (inputs 1 and 2), and that are no graph output. Planning
 * never reads the unmarked ones (a step that reads a weight is never
 * folded); what it reads on the host (shapes, Clip bounds, Resize scales,
 * a Mul's factor) is marked. So a tenant on a device keeps only the
 * marked ones on the host (issue 9, the memory wall). OUT_OF_MEMORY is the
 * only failure. */
cv_status cv_graph_host_read_weights(const cv_graph_t *g, bool *read);

/* "Conv 'conv1' (node 3)" for messages; writes into buf. */
const char *cv_node_label(const cv_graph_t *g, int node, char *buf, size_t len);

/* ---- attribute access (defaults when absent) --------------------------- */
const cv_attr_t *cv_node_attr(const cv_node_t *node, const char *name);
int64_t cv_node_attr_int(const cv_node_t *node, const char *name, int64_t dflt);
float cv_node_attr_float(const cv_node_t *node, const char *name, float dflt);
const char *cv_node_attr_string(const cv_node_t *node, const char *name, const char *dflt);
/* Returns the ints and sets *n, or NULL with *n = 0 when absent. */
const int64_t *cv_node_attr_ints(const cv_node_t *node, const char *name, int *n);
const float *cv_node_attr_floats(const cv_node_t *node, const char *name, int *n);

void cv_attr_free(cv_attr_t *attr);

#endif /* CV_IR_GRAPH_H */
