/*
 * onnx_loader.c: a serialized ONNX ModelProto into a cv_graph_t.
 *
 * The order of work: parse (protobuf-c, counted allocator) -> opset ->
 * initializers -> graph inputs -> a topological order of the nodes (which
 * also finds dangling inputs, values produced twice and cycles) -> nodes and
 * their attributes -> graph outputs and declared types -> canonical form
 * (onnx_canon.c, which may insert nodes; they are moved into place last).
 * Any failure stops the load; the graph built so far and the parsed model
 * are freed at one place (load_parsed), so nothing leaks.
 *
 * Names are looked up through a hash map rather than cv_graph_find_value,
 * whose linear scan would make hostile files with many nodes quadratic.
 */
#include "onnx/onnx_internal.h"

#include "ir/infer.h"
#include "onnx.pb-c.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>

/* ---- name -> index map ------------------------------------------------------ */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int cv_onnx_names_find(const cv_onnx_names_t *m, const char *key)
{
    if (!m->cap) return -1;
    for (size_t i = hash_name(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return -1;
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
    }
}

static void map_place(const char **keys, int *vals, size_t cap, const char *key, int val)
{
    size_t i = hash_name(key) & (cap - 1);
    while (keys[i]) i = (i + 1) & (cap - 1);
    keys[i] = key;
    vals[i] = val;
}

cv_status cv_onnx_names_put(cv_onnx_names_t *m, const char *key, int val)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        const char **keys = cv_calloc(cap, sizeof(*keys));
        int *vals = cv_malloc(cap * sizeof(*vals));
        if (!keys || !vals) {
            cv_free(keys);
            cv_free(vals);
            return CV_STATUS_OUT_OF_MEMORY;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) map_place(keys, vals, cap, m->keys[i], m->vals[i]);
        cv_free(m->keys);
        cv_free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    map_place(m->keys, m->vals, m->cap, key, val);
    m->count++;
    return CV_STATUS_OK;
}

void cv_onnx_names_free(cv_onnx_names_t *m)
{
    cv_free(m->keys);
    cv_free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* ---- loader state and messages --------------------------------------------- */

typedef struct loader {
    const char *path;     /* names the model in messages */
    const char *base_dir; /* external data; may be NULL */
    const Onnx__GraphProto *gp;
    cv_graph_t *g;
    cv_onnx_names_t values;    /* name -> value index of g */
    cv_onnx_names_t producers; /* name -> index in gp->node of the node that outputs it */
    cv_onnx_names_t consumed;  /* names read by a node or listed as graph outputs */
    int *order;                /* gp->node indices in topological order */
    int *onnx_index;           /* g node index -> gp->node index, for messages */
    cv_onnx_canon_t canon;     /* ranks known at load, for opset 6's rewrites */
    int *inserted_before;      /* per node canonicalisation appended: the node it precedes */
    int ninserted, inserted_cap;
} loader_t;

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static cv_status oom(cv_err_t *err)
{
    return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
}

/* "<path>: node 'conv1' (Conv, node 3): <message>" */
static void prefix_node(const loader_t *ld, int k, cv_err_t *err)
{
    const Onnx__NodeProto *np = ld->gp->node[k];
    const char *name = str_or_empty(np->name), *op = np->op_type ? np->op_type : "?";
    if (name[0])
        cv_err_prefix(err, "%s: node '%s' (%s, node %d)", ld->path, name, op, k);
    else
        cv_err_prefix(err, "%s: node %d (%s)", ld->path, k, op);
}

/* The file is untrusted: names in it may hold newlines; keep messages one line. */
static void one_line(cv_err_t *err)
{
    if (!err) return;
    for (char *p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

/* ---- declared types ----------------------------------------------------------- */

static const char *type_kind(const Onnx__TypeProto *tp)
{
    switch (tp->value_case) {
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: return "a sequence";
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: return "a map";
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: return "an optional";
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: return "a sparse tensor";
    default: return "of no known type";
    }
}

/* A declared shape whose known non-zero dims multiply past this many
 * elements cannot be a tensor (2^62 bytes at 8 bytes an element): refused
 * here, so that byte counts made from it (the plan's arena, the wave's
 * inputs) cannot overflow. Shape inference bounds the shapes it makes alike
 * (infer_layout.c). */
#define DECLARED_MAX_ELEMS (INT64_MAX / 16)

/* Reads a declared tensor type. *has_shape is false when no shape is given.
 * An element type of 0 reads CV_DTYPE_UNDEFINED (the caller decides). */
static cv_status declared_type(const Onnx__TypeProto *tp, const char *what, cv_dtype_t *dtype,
                               cv_shape_t *shape, bool *has_shape, cv_err_t *err)
{
    *dtype = CV_DTYPE_UNDEFINED;
    memset(shape, 0, sizeof(*shape));
    *has_shape = false;
    if (!tp) return CV_STATUS_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s is %s, not a tensor", what, type_kind(tp));
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != 0) {
        cv_status status = cv_onnx_dtype(tt->elem_type, what, dtype, err);
        if (status != CV_STATUS_OK) return status;
    }
    if (!tt->shape) return CV_STATUS_OK;
    if (tt->shape->n_dim > CV_MAX_DIMS)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s has rank %zu; Caravel handles at most %d",
                         what, tt->shape->n_dim, CV_MAX_DIMS);
    shape->ndim = (int)tt->shape->n_dim;
    for (int i = 0; i < shape->ndim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        /* dim_value 0 is a real empty axis; dim_param or nothing is unknown */
        bool known = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                     d->dim_value >= 0;
        shape->dims[i] = known ? d->dim_value : -1;
    }
    int64_t elems = 1;
    for (int i = 0; i < shape->ndim; i++) {
        if (shape->dims[i] <= 0) continue;
        if (__builtin_mul_overflow(elems, shape->dims[i], &elems) || elems > DECLARED_MAX_ELEMS) {
            char dims[160];
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s is declared %s, too large for a tensor (its dims multiply past 2^59)",
                             what, cv_shape_str(shape, dims, sizeof dims));
        }
    }
    *has_shape = true;
    return CV_STATUS_OK;
}

/* Copies a declared type (value_info, graph outputs) onto value idx when a
 * node computes it (constants and runtime inputs keep what they have), and
 * notes its rank for canonicalisation (the table covers every value by now). */
static void apply_declared(loader_t *ld, int idx, cv_dtype_t dtype, const cv_shape_t *shape,
                           bool has_shape)
{
    cv_value_t *v = &ld->g->values[idx];
    if (v->constant || v->producer < 0) return;
    if (dtype != CV_DTYPE_UNDEFINED) v->dtype = dtype;
    if (!has_shape) return;
    v->shape = *shape;
    CV_ASSERT(idx < ld->canon.nranks);
    ld->canon.ranks[idx] = shape->ndim;
}

/* ---- graph-level steps ---------------------------------------------------------- */

static cv_status read_opset(const loader_t *ld, const Onnx__ModelProto *model, cv_err_t *err)
{
    int64_t opset = -1;
    for (size_t i = 0; i < model->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = model->opset_import[i];
        const char *domain = str_or_empty(o->domain);
        if ((domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0) && o->has_version)
            opset = o->version;
    }
    if (opset < 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s: declares no opset for the default ONNX domain", ld->path);
    if (opset < CV_ONNX_MIN_OPSET)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "%s: opset %" PRId64 " is older than %d, the oldest Caravel reads",
                         ld->path, opset, CV_ONNX_MIN_OPSET);
    if (opset > INT_MAX)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: opset %" PRId64 " is out of range",
                         ld->path, opset);
    ld->g->opset = (int)opset;
    return CV_STATUS_OK;
}

static cv_status load_initializers(loader_t *ld, cv_err_t *err)
{
    const Onnx__GraphProto *gp = ld->gp;
    if (gp->n_sparse_initializer > 0) {
        const Onnx__SparseTensorProto *sp = gp->sparse_initializer[0];
        const char *name = sp->values ? str_or_empty(sp->values->name) : "";
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s: sparse initializer '%s' is not supported",
                         ld->path, name);
    }
    char what[CV_ERR_LEN / 2];
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *pb = gp->initializer[i];
        const char *name = str_or_empty(pb->name);
        if (!name[0])
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: initializer %zu has no name",
                             ld->path, i);
        if (cv_onnx_names_find(&ld->values, name) >= 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s: initializer '%s' is defined twice", ld->path, name);
        snprintf(what, sizeof what, "initializer '%s'", name);
        cv_tensor_t *t = cv_malloc(sizeof(*t));
        if (!t) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
        cv_status status = cv_onnx_tensor_from_pb(pb, what, ld->base_dir, t, err);
        if (status != CV_STATUS_OK) {
            cv_free(t);
            cv_err_prefix(err, "%s", ld->path);
            return status;
        }
        int idx = cv_graph_add_constant(ld->g, name, t, cv_dtype_is_float(t->dtype));
        if (idx < 0) {
            cv_tensor_destroy(t);
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
        }
        if (cv_onnx_names_put(&ld->values, ld->g->values[idx].name, idx) != CV_STATUS_OK)
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
    }
    return CV_STATUS_OK;
}

static cv_status load_inputs(loader_t *ld, cv_err_t *err)
{
    const Onnx__GraphProto *gp = ld->gp;
    cv_graph_t *g = ld->g;
    g->inputs = cv_malloc(sizeof(int) * (gp->n_input ? gp->n_input : 1));
    if (!g->inputs) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
    char what[CV_ERR_LEN / 2];
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = str_or_empty(vi->name);
        if (!name[0])
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: graph input %zu has no name",
                             ld->path, i);
        int existing = cv_onnx_names_find(&ld->values, name);
        if (existing >= 0) {
            /* older exporters list initializers among the inputs */
            if (g->values[existing].constant) continue;
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s: graph input '%s' is listed twice", ld->path, name);
        }
        snprintf(what, sizeof what, "input '%s'", name);
        cv_dtype_t dtype;
        cv_shape_t shape;
        bool has_shape;
        cv_status status = declared_type(vi->type, what, &dtype, &shape, &has_shape, err);
        if (status != CV_STATUS_OK) {
            cv_err_prefix(err, "%s", ld->path);
            return status;
        }
        if (dtype == CV_DTYPE_UNDEFINED)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s: input '%s' declares no element type", ld->path, name);
        if (!has_shape)
            return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                             "%s: input '%s' declares no shape; Caravel needs its rank", ld->path,
                             name);
        int idx = cv_graph_add_value(g, name);
        if (idx < 0 || cv_onnx_names_put(&ld->values, g->values[idx].name, idx) != CV_STATUS_OK)
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
        g->values[idx].dtype = dtype;
        g->values[idx].shape = shape;
        g->inputs[g->ninputs++] = idx;
    }
    return CV_STATUS_OK;
}

/* Adds `name` to the set of names something reads. */
static cv_status mark_consumed(loader_t *ld, const char *name)
{
    if (!name || !name[0] || cv_onnx_names_find(&ld->consumed, name) >= 0) return CV_STATUS_OK;
    return cv_onnx_names_put(&ld->consumed, name, 0);
}

/* Maps every node output to its node, refusing a value defined twice, and
 * collects the names that nodes and graph outputs read. */
static cv_status map_producers(loader_t *ld, cv_err_t *err)
{
    const Onnx__GraphProto *gp = ld->gp;
    for (size_t i = 0; i < gp->n_output; i++)
        if (mark_consumed(ld, gp->output[i]->name) != CV_STATUS_OK)
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
    for (size_t k = 0; k < gp->n_node; k++) {
        const Onnx__NodeProto *np = gp->node[k];
        for (size_t i = 0; i < np->n_input; i++) {
            if (mark_consumed(ld, np->input[i]) != CV_STATUS_OK) {
                cv_status status = oom(err);
                prefix_node(ld, (int)k, err);
                return status;
            }
        }
        for (size_t o = 0; o < np->n_output; o++) {
            const char *name = str_or_empty(np->output[o]);
            if (!name[0]) continue;
            cv_status status = CV_STATUS_OK;
            int v = cv_onnx_names_find(&ld->values, name),
                other = cv_onnx_names_find(&ld->producers, name);
            if (v >= 0)
                status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "output '%s' is also %s", name,
                                   ld->g->values[v].constant ? "an initializer" : "a graph input");
            else if (other >= 0)
                status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                   "output '%s' is also produced by node %d (%s)", name, other,
                                   str_or_empty(gp->node[other]->op_type));
            else if (cv_onnx_names_put(&ld->producers, name, (int)k) != CV_STATUS_OK)
                status = oom(err);
            if (status != CV_STATUS_OK) {
                prefix_node(ld, (int)k, err);
                return status;
            }
        }
    }
    return CV_STATUS_OK;
}

/* Orders the nodes so that each comes after the producers of its inputs: a
 * depth-first walk over inputs, iterative so that long chains cannot
 * overflow the stack. A file that is already sorted keeps its order. */
static cv_status sort_nodes(loader_t *ld, cv_err_t *err)
{
    const Onnx__GraphProto *gp = ld->gp;
    int n = (int)gp->n_node;
    typedef struct frame {
        int node;
        size_t next_input;
    } frame_t;
    enum { UNSEEN = 0, ACTIVE, DONE };
    unsigned char *state = cv_calloc((size_t)n + 1, 1);
    frame_t *stack = cv_malloc(sizeof(frame_t) * ((size_t)n + 1));
    ld->order = cv_malloc(sizeof(int) * ((size_t)n + 1));
    cv_status status = CV_STATUS_OK;
    if (!state || !stack || !ld->order) {
        status = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
        goto done;
    }
    int norder = 0;
    for (int s = 0; s < n; s++) {
        if (state[s] != UNSEEN) continue;
        int sp = 0;
        stack[sp++] = (frame_t){s, 0};
        state[s] = ACTIVE;
        while (sp > 0) {
            frame_t *top = &stack[sp - 1];
            const Onnx__NodeProto *np = gp->node[top->node];
            if (top->next_input == np->n_input) {
                state[top->node] = DONE;
                ld->order[norder++] = top->node;
                sp--;
                continue;
            }
            const char *name = str_or_empty(np->input[top->next_input++]);
            if (!name[0] || cv_onnx_names_find(&ld->values, name) >= 0) continue;
            int p = cv_onnx_names_find(&ld->producers, name);
            if (p < 0)
                status =
                    cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                              "input '%s' is not produced by any node, input or initializer", name);
            else if (state[p] == ACTIVE)
                status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                   "input '%s' depends on this node's own output (a cycle)", name);
            if (status != CV_STATUS_OK) {
                prefix_node(ld, top->node, err);
                goto done;
            }
            if (state[p] == UNSEEN) {
                state[p] = ACTIVE;
                stack[sp++] = (frame_t){p, 0};
            }
        }
    }
    CV_ASSERT(norder == n);
done:
    cv_free(state);
    cv_free(stack);
    return status;
}

/* ---- nodes ------------------------------------------------------------------ */

static const char *attr_type_name(int type)
{
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "GRAPH";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS: return "GRAPHS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR: return "SPARSE_TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS: return "SPARSE_TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO: return "TYPE_PROTO";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS: return "TYPE_PROTOS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "STRINGS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return "TENSORS";
    default: return "UNDEFINED";
    }
}

/* Files from before IR version 2 carry no attribute type: read it from the
 * field that is set. */
static int attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) return a->type;
    if (a->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (a->sparse_tensor) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR;
    if (a->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (a->n_tensors) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS;
    if (a->n_graphs) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS;
    if (a->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

/* Converts one attribute; on failure *out holds nothing. */
static cv_status convert_attr(const loader_t *ld, const Onnx__AttributeProto *a, cv_attr_t *out,
                              cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    const char *name = str_or_empty(a->name);
    if (!name[0]) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "an attribute has no name");
    int type = attr_type(a);
    cv_status status = CV_STATUS_OK;
    out->name = cv_strdup(name);
    if (!out->name) return oom(err);
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        out->type = CV_ATTR_INT;
        out->i = a->i;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        out->type = CV_ATTR_FLOAT;
        out->f = a->f;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
        out->type = CV_ATTR_STRING;
        size_t len = a->has_s ? a->s.len : 0;
        out->s = cv_malloc(len + 1);
        if (!out->s) {
            status = oom(err);
            break;
        }
        if (len) memcpy(out->s, a->s.data, len);
        out->s[len] = '\0';
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: {
        bool ints = type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        size_t n = ints ? a->n_ints : a->n_floats;
        if (n > INT_MAX / 8) {
            status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "attribute '%s' is too long", name);
            break;
        }
        out->type = ints ? CV_ATTR_INTS : CV_ATTR_FLOATS;
        out->n = (int)n;
        /* never NULL, even when empty, so that an empty list reads as present */
        size_t bytes = n * (ints ? sizeof(int64_t) : sizeof(float));
        void *copy = cv_malloc(bytes ? bytes : 1);
        if (!copy) {
            status = oom(err);
            break;
        }
        if (bytes) memcpy(copy, ints ? (const void *)a->ints : (const void *)a->floats, bytes);
        if (ints)
            out->ints = copy;
        else
            out->floats = copy;
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        out->type = CV_ATTR_TENSOR;
        if (!a->t) {
            status =
                cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "attribute '%s' holds no tensor", name);
            break;
        }
        out->tensor = cv_malloc(sizeof(cv_tensor_t));
        if (!out->tensor) {
            status = oom(err);
            break;
        }
        char what[CV_ERR_LEN / 2];
        snprintf(what, sizeof what, "attribute '%s'", name);
        status = cv_onnx_tensor_from_pb(a->t, what, ld->base_dir, out->tensor, err);
        if (status != CV_STATUS_OK) {
            cv_free(out->tensor);
            out->tensor = NULL;
        }
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED:
        status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "attribute '%s' has no type", name);
        break;
    default:
        status = cv_errorf(err, CV_STATUS_UNSUPPORTED,
                           "attribute '%s' is of type %s, which Caravel does not support", name,
                           attr_type_name(type));
        break;
    }
    if (status != CV_STATUS_OK) cv_attr_free(out);
    return status;
}

/* Adds gp->node[k] to the graph (its inputs exist: sort_nodes made sure). */
static cv_status load_node(loader_t *ld, int k, cv_err_t *err)
{
    const Onnx__NodeProto *np = ld->gp->node[k];
    cv_graph_t *g = ld->g;
    const char *op_type = str_or_empty(np->op_type), *domain = str_or_empty(np->domain);
    if (!op_type[0]) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "node has no op_type");
    if (domain[0] && strcmp(domain, "ai.onnx") != 0)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "operator %s of domain '%s' is not supported (only the default ONNX "
                         "domain is)",
                         op_type, domain);
    cv_op_t op;
    if (!cv_op_from_name(op_type, &op))
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "operator %s is not supported", op_type);
    if (np->n_input > INT_MAX / 8 || np->n_output > INT_MAX / 8 || np->n_attribute > INT_MAX / 8)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "node has too many inputs or outputs");

    cv_status status = CV_STATUS_OK;
    int *inputs = cv_malloc(sizeof(int) * (np->n_input + 1));
    int *outputs = cv_malloc(sizeof(int) * (np->n_output + 1));
    if (!inputs || !outputs) {
        status = oom(err);
        goto done;
    }
    for (size_t i = 0; i < np->n_input; i++) {
        const char *name = str_or_empty(np->input[i]);
        inputs[i] = name[0] ? cv_onnx_names_find(&ld->values, name) : -1;
        CV_ASSERT(!name[0] || inputs[i] >= 0);
    }
    int noutputs = (int)np->n_output;
    for (int o = 0; o < noutputs; o++) {
        const char *name = str_or_empty(np->output[o]);
        outputs[o] = -1;
        if (!name[0]) continue;
        /* an unread training output never becomes a value */
        if (cv_onnx_output_is_training_only(op, o) && cv_onnx_names_find(&ld->consumed, name) < 0)
            continue;
        int idx = cv_graph_add_value(g, name);
        if (idx < 0 || cv_onnx_names_put(&ld->values, g->values[idx].name, idx) != CV_STATUS_OK) {
            status = oom(err);
            goto done;
        }
        outputs[o] = idx;
    }
    while (noutputs > 1 && outputs[noutputs - 1] < 0) noutputs--; /* trailing omitted */
    int node = cv_graph_add_node(g, np->name, op, inputs, (int)np->n_input, outputs, noutputs);
    if (node < 0) {
        status = oom(err);
        goto done;
    }
    ld->onnx_index[node] = k;
    for (size_t a = 0; a < np->n_attribute; a++) {
        cv_attr_t attr;
        status = convert_attr(ld, np->attribute[a], &attr, err);
        if (status != CV_STATUS_OK) goto done;
        if (cv_node_attr(&g->nodes[node], attr.name)) {
            status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "attribute '%s' appears twice",
                               attr.name);
            cv_attr_free(&attr);
            goto done;
        }
        status = cv_node_add_attr(&g->nodes[node], &attr);
        if (status != CV_STATUS_OK) {
            cv_attr_free(&attr);
            status = oom(err);
            goto done;
        }
    }
done:
    cv_free(inputs);
    cv_free(outputs);
    return status;
}

static cv_status load_outputs(loader_t *ld, cv_err_t *err)
{
    const Onnx__GraphProto *gp = ld->gp;
    cv_graph_t *g = ld->g;
    g->outputs = cv_malloc(sizeof(int) * (gp->n_output ? gp->n_output : 1));
    if (!g->outputs) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
    char what[CV_ERR_LEN / 2];
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        const char *name = str_or_empty(vi->name);
        if (!name[0])
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: graph output %zu has no name",
                             ld->path, i);
        int idx = cv_onnx_names_find(&ld->values, name);
        if (idx < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s: graph output '%s' is not produced by any node, input or "
                             "initializer",
                             ld->path, name);
        for (int j = 0; j < g->noutputs; j++)
            if (g->outputs[j] == idx)
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "%s: graph output '%s' is listed twice", ld->path, name);
        snprintf(what, sizeof what, "output '%s'", name);
        cv_dtype_t dtype;
        cv_shape_t shape;
        bool has_shape;
        cv_status status = declared_type(vi->type, what, &dtype, &shape, &has_shape, err);
        if (status != CV_STATUS_OK) {
            cv_err_prefix(err, "%s", ld->path);
            return status;
        }
        apply_declared(ld, idx, dtype, &shape, has_shape);
        g->outputs[g->noutputs++] = idx;
    }
    return CV_STATUS_OK;
}

/* value_info is a hint: entries Caravel cannot use are skipped, not refused. */
static void load_value_info(loader_t *ld)
{
    const Onnx__GraphProto *gp = ld->gp;
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        int idx = cv_onnx_names_find(&ld->values, str_or_empty(vi->name));
        if (idx < 0) continue;
        cv_dtype_t dtype;
        cv_shape_t shape;
        bool has_shape;
        cv_err_t ignored;
        if (declared_type(vi->type, "value", &dtype, &shape, &has_shape, &ignored) == CV_STATUS_OK)
            apply_declared(ld, idx, dtype, &shape, has_shape);
    }
}

/* Sizes the rank table to every value the file names and fills in the
 * ranks of the runtime inputs; declared ones follow (apply_declared). */
static cv_status init_ranks(loader_t *ld, cv_err_t *err)
{
    cv_graph_t *g = ld->g;
    ld->canon.values = &ld->values;
    if (g->nvalues > 0 && cv_onnx_canon_set_rank(&ld->canon, g->nvalues - 1, -1) != CV_STATUS_OK)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
    for (int i = 0; i < g->ninputs; i++)
        ld->canon.ranks[g->inputs[i]] = g->values[g->inputs[i]].shape.ndim;
    return CV_STATUS_OK;
}

/* Canonicalisation appends the nodes it inserts to g; each belongs just
 * before the node it was made for (inserted_before, in node order). One pass
 * from the back moves every node to its place, so that hostile files with
 * many insertions stay linear, and the producers are renumbered. */
static cv_status place_inserted(loader_t *ld, int norig, cv_err_t *err)
{
    cv_graph_t *g = ld->g;
    int extra = g->nnodes - norig;
    CV_ASSERT(extra == ld->ninserted);
    if (extra == 0) return CV_STATUS_OK;
    cv_node_t *moved = cv_malloc(sizeof(cv_node_t) * (size_t)extra);
    if (!moved) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
    memcpy(moved, &g->nodes[norig], sizeof(cv_node_t) * (size_t)extra);
    /* moved[0..left) are still to place: each precedes node i or an earlier one */
    int left = extra;
    for (int i = norig - 1; i >= 0; i--) {
        g->nodes[i + left] = g->nodes[i];
        while (left > 0 && ld->inserted_before[left - 1] == i) {
            left--;
            g->nodes[i + left] = moved[left];
        }
    }
    CV_ASSERT(left == 0);
    cv_free(moved);
    for (int i = 0; i < g->nnodes; i++)
        for (int o = 0; o < g->nodes[i].noutputs; o++)
            if (g->nodes[i].outputs[o] >= 0) g->values[g->nodes[i].outputs[o]].producer = i;
    return CV_STATUS_OK;
}

static cv_status canonicalize(loader_t *ld, cv_err_t *err)
{
    cv_graph_t *g = ld->g;
    int norig = g->nnodes;
    for (int n = 0; n < norig; n++) {
        int before = g->nnodes;
        cv_status status = cv_onnx_canonicalize_node(g, n, &ld->canon, err);
        if (status != CV_STATUS_OK) {
            prefix_node(ld, ld->onnx_index[n], err);
            return status;
        }
        for (int k = before; k < g->nnodes; k++) {
            if (CV_GROW(ld->inserted_before, ld->ninserted, ld->inserted_cap) != CV_STATUS_OK)
                return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
            ld->inserted_before[ld->ninserted++] = n;
        }
    }
    return place_inserted(ld, norig, err);
}

static bool is_batched(const cv_graph_t *g)
{
    if (g->ninputs == 0) return false;
    for (int i = 0; i < g->ninputs; i++) {
        const cv_value_t *v = &g->values[g->inputs[i]];
        if (v->shape.ndim < 1 || v->shape.dims[0] >= 0) return false;
    }
    return true;
}

static cv_status load_graph(loader_t *ld, const Onnx__ModelProto *model, cv_err_t *err)
{
    if (!model->graph)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: not an ONNX model (it has no graph)",
                         ld->path);
    ld->gp = model->graph;
    const Onnx__GraphProto *gp = ld->gp;
    cv_status status = read_opset(ld, model, err);
    if (status != CV_STATUS_OK) return status;
    /* node and value indices are ints */
    if (gp->n_node > INT_MAX / 16 || gp->n_initializer > INT_MAX / 16 ||
        gp->n_input > INT_MAX / 16 || gp->n_output > INT_MAX / 16)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s: graph is too large", ld->path);

    if ((status = load_initializers(ld, err)) != CV_STATUS_OK) return status;
    if ((status = load_inputs(ld, err)) != CV_STATUS_OK) return status;
    if ((status = map_producers(ld, err)) != CV_STATUS_OK) return status;
    if ((status = sort_nodes(ld, err)) != CV_STATUS_OK) return status;
    ld->onnx_index = cv_malloc(sizeof(int) * (gp->n_node + 1));
    if (!ld->onnx_index)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", ld->path);
    for (size_t i = 0; i < gp->n_node; i++) {
        int k = ld->order[i];
        status = load_node(ld, k, err);
        if (status != CV_STATUS_OK) {
            prefix_node(ld, k, err);
            return status;
        }
    }
    if ((status = init_ranks(ld, err)) != CV_STATUS_OK) return status;
    if ((status = load_outputs(ld, err)) != CV_STATUS_OK) return status;
    load_value_info(ld);
    if ((status = canonicalize(ld, err)) != CV_STATUS_OK) return status;
    ld->g->batched = is_batched(ld->g);
    return CV_STATUS_OK;
}

/* Builds the graph of a parsed model and frees the model (whatever happens:
 * the caller keeps nothing of it). */
static cv_status load_parsed(Onnx__ModelProto *model, cv_onnx_allocator_t *alloc, const char *path,
                             const char *base_dir, cv_graph_t **out, cv_err_t *err)
{
    loader_t ld = {.path = path, .base_dir = base_dir};
    cv_status status = CV_STATUS_OK;
    ld.g = cv_graph_create(path);
    if (!ld.g)
        status = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    else
        status = load_graph(&ld, model, err);
    onnx__model_proto__free_unpacked(model, &alloc->base);
    cv_onnx_names_free(&ld.values);
    cv_onnx_names_free(&ld.producers);
    cv_onnx_names_free(&ld.consumed);
    cv_free(ld.order);
    cv_free(ld.onnx_index);
    cv_onnx_canon_free(&ld.canon);
    cv_free(ld.inserted_before);
    if (status == CV_STATUS_OK) {
        *out = ld.g;
    } else {
        cv_graph_destroy(ld.g);
        one_line(err);
    }
    return status;
}

/* Parses a ModelProto; NULL with err set when it cannot. */
static Onnx__ModelProto *parse_model(const void *data, size_t len, const char *path,
                                     cv_onnx_allocator_t *alloc, cv_status *status, cv_err_t *err)
{
    if (len == 0) {
        *status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: file is empty", path);
        return NULL;
    }
    *status = cv_onnx_check_nesting(&onnx__model_proto__descriptor, data, len, path, err);
    if (*status != CV_STATUS_OK) return NULL;
    Onnx__ModelProto *model = onnx__model_proto__unpack(&alloc->base, len, data);
    if (!model)
        *status = alloc->failed ? cv_errorf(err, CV_STATUS_OUT_OF_MEMORY,
                                            "%s: out of memory parsing it", path)
                                : cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                            "%s: not an ONNX model (protobuf parse failed)", path);
    return model;
}

cv_status cv_onnx_load_buffer(const void *data, size_t len, const char *path, const char *base_dir,
                              cv_graph_t **out, cv_err_t *err)
{
    *out = NULL;
    CV_ASSERT(data || len == 0);
    if (!path) path = "<buffer>";
    cv_onnx_allocator_t alloc;
    cv_onnx_allocator_init(&alloc);
    cv_status status = CV_STATUS_OK;
    Onnx__ModelProto *model = parse_model(data, len, path, &alloc, &status, err);
    if (!model) {
        one_line(err);
        return status;
    }
    return load_parsed(model, &alloc, path, base_dir, out, err);
}

cv_status cv_onnx_load(const char *path, cv_graph_t **out, cv_err_t *err)
{
    *out = NULL;
    void *data = NULL;
    size_t len = 0;
    char *dir = NULL;
    cv_onnx_allocator_t alloc;
    cv_onnx_allocator_init(&alloc);
    cv_status status = cv_onnx_read_file(path, &data, &len, err);
    if (status != CV_STATUS_OK) goto done;
    dir = cv_onnx_dir_of(path);
    if (!dir) {
        status = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    Onnx__ModelProto *model = parse_model(data, len, path, &alloc, &status, err);
    /* protobuf-c copied what it needs: drop the file before building the graph */
    cv_free(data);
    data = NULL;
    if (model) status = load_parsed(model, &alloc, path, dir, out, err);
done:
    cv_free(data);
    cv_free(dir);
    if (status != CV_STATUS_OK) one_line(err);
    return status;
}
