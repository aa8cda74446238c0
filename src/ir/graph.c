/*
 * graph.c: building and querying the IR graph.
 */
#include "ir/graph.h"

#include <string.h>

cv_graph_t *cv_graph_create(const char *path)
{
    cv_graph_t *g = cv_calloc(1, sizeof(*g));
    if (!g) return NULL;
    g->path = cv_strdup(path ? path : "");
    if (!g->path) {
        cv_free(g);
        return NULL;
    }
    return g;
}

void cv_attr_free(cv_attr_t *attr)
{
    cv_free(attr->name);
    cv_free(attr->s);
    cv_free(attr->ints);
    cv_free(attr->floats);
    cv_tensor_destroy(attr->tensor);
    memset(attr, 0, sizeof(*attr));
}

void cv_graph_destroy(cv_graph_t *g)
{
    if (!g) return;
    for (int i = 0; i < g->nvalues; i++) {
        cv_free(g->values[i].name);
        if (g->values[i].borrowed && g->values[i].constant) g->values[i].constant->data = NULL;
        cv_tensor_destroy(g->values[i].constant);
    }
    for (int i = 0; i < g->nnodes; i++) {
        cv_node_t *n = &g->nodes[i];
        cv_free(n->name);
        cv_free(n->inputs);
        cv_free(n->outputs);
        for (int a = 0; a < n->nattrs; a++) cv_attr_free(&n->attrs[a]);
        cv_free(n->attrs);
    }
    cv_free(g->values);
    cv_free(g->nodes);
    cv_free(g->inputs);
    cv_free(g->outputs);
    cv_free(g->path);
    cv_free(g);
}

int cv_graph_find_value(const cv_graph_t *g, const char *name)
{
    for (int i = 0; i < g->nvalues; i++)
        if (strcmp(g->values[i].name, name) == 0) return i;
    return -1;
}

int cv_graph_add_value(cv_graph_t *g, const char *name)
{
    if (CV_GROW(g->values, g->nvalues, g->values_cap) != CV_STATUS_OK) return -1;
    cv_value_t *v = &g->values[g->nvalues];
    memset(v, 0, sizeof(*v));
    v->name = cv_strdup(name);
    if (!v->name) return -1;
    v->producer = -1;
    return g->nvalues++;
}

int cv_graph_add_constant(cv_graph_t *g, const char *name, cv_tensor_t *t, bool is_weight)
{
    int idx = cv_graph_add_value(g, name);
    if (idx < 0) return -1;
    cv_value_t *v = &g->values[idx];
    v->constant = t;
    v->dtype = t->dtype;
    v->shape = t->shape;
    v->is_weight = is_weight;
    return idx;
}

static int *copy_ints(const int *src, int n)
{
    int *dst = cv_malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (dst && n) memcpy(dst, src, sizeof(int) * (size_t)n);
    return dst;
}

int cv_graph_add_node(cv_graph_t *g, const char *name, cv_op_t op, const int *inputs,
                      int ninputs, const int *outputs, int noutputs)
{
    if (CV_GROW(g->nodes, g->nnodes, g->nodes_cap) != CV_STATUS_OK) return -1;
    cv_node_t *n = &g->nodes[g->nnodes];
    memset(n, 0, sizeof(*n));
    n->op = op;
    n->opset = g->opset;
    n->name = cv_strdup(name ? name : "");
    n->inputs = copy_ints(inputs, ninputs);
    n->outputs = copy_ints(outputs, noutputs);
    if (!n->name || !n->inputs || !n->outputs) {
        cv_free(n->name);
        cv_free(n->inputs);
        cv_free(n->outputs);
        return -1;
    }
    n->ninputs = ninputs;
    n->noutputs = noutputs;
    for (int i = 0; i < noutputs; i++)
        if (outputs[i] >= 0) g->values[outputs[i]].producer = g->nnodes;
    return g->nnodes++;
}

cv_status cv_node_add_attr(cv_node_t *node, const cv_attr_t *attr)
{
    cv_attr_t *fresh = cv_realloc(node->attrs, sizeof(cv_attr_t) * (size_t)(node->nattrs + 1));
    if (!fresh) return CV_STATUS_OUT_OF_MEMORY;
    node->attrs = fresh;
    node->attrs[node->nattrs++] = *attr;
    return CV_STATUS_OK;
}

void cv_graph_max_arity(const cv_graph_t *g, int *max_inputs, int *max_outputs)
{
    *max_inputs = *max_outputs = 0;
    for (int n = 0; n < g->nnodes; n++) {
        *max_inputs = CV_MAX(*max_inputs, g->nodes[n].ninputs);
        *max_outputs = CV_MAX(*max_outputs, g->nodes[n].noutputs);
    }
}

cv_status cv_graph_host_read_weights(const cv_graph_t *g, bool *read)
{
    /* sole[v]: 1 while every reader of v seen is a Conv, Gemm or MatMul
     * taking it as its weight or bias; 2 once another reader shows up. */
    unsigned char *sole = cv_calloc((size_t)g->nvalues + 1, 1);
    if (!sole) return CV_STATUS_OUT_OF_MEMORY;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const cv_node_t *n = &g->nodes[ni];
        if (n->dead) continue;
        bool gemm_like = n->op == CV_OP_CONV || n->op == CV_OP_GEMM || n->op == CV_OP_MATMUL;
        for (int i = 0; i < n->ninputs; i++) {
            int v = n->inputs[i];
            if (v < 0) continue;
            if (gemm_like && (i == 1 || i == 2) && sole[v] == 0) sole[v] = 1;
            else if (!gemm_like || (i != 1 && i != 2)) sole[v] = 2;
        }
    }
    for (int o = 0; o < g->noutputs; o++) sole[g->outputs[o]] = 2;
    for (int v = 0; v < g->nvalues; v++)
        read[v] = g->values[v].constant && g->values[v].is_weight && sole[v] != 1;
    cv_free(sole);
    return CV_STATUS_OK;
}

const char *cv_node_label(const cv_graph_t *g, int node, char *buf, size_t len)
{
    const cv_node_t *n = &g->nodes[node];
    if (n->name && n->name[0])
        snprintf(buf, len, "%s '%s' (node %d)", cv_op_name(n->op), n->name, node);
    else
        snprintf(buf, len, "%s (node %d)", cv_op_name(n->op), node);
    return buf;
}

const cv_attr_t *cv_node_attr(const cv_node_t *node, const char *name)
{
    for (int i = 0; i < node->nattrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0) return &node->attrs[i];
    return NULL;
}

int64_t cv_node_attr_int(const cv_node_t *node, const char *name, int64_t dflt)
{
    const cv_attr_t *a = cv_node_attr(node, name);
    if (!a) return dflt;
    if (a->type == CV_ATTR_INT) return a->i;
    if (a->type == CV_ATTR_FLOAT) return (int64_t)a->f;
    return dflt;
}

float cv_node_attr_float(const cv_node_t *node, const char *name, float dflt)
{
    const cv_attr_t *a = cv_node_attr(node, name);
    if (!a) return dflt;
    if (a->type == CV_ATTR_FLOAT) return a->f;
    if (a->type == CV_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *cv_node_attr_string(const cv_node_t *node, const char *name, const char *dflt)
{
    const cv_attr_t *a = cv_node_attr(node, name);
    return a && a->type == CV_ATTR_STRING ? a->s : dflt;
}

const int64_t *cv_node_attr_ints(const cv_node_t *node, const char *name, int *n)
{
    const cv_attr_t *a = cv_node_attr(node, name);
    if (!a || a->type != CV_ATTR_INTS) {
        *n = 0;
        return NULL;
    }
    *n = a->n;
    return a->ints;
}

const float *cv_node_attr_floats(const cv_node_t *node, const char *name, int *n)
{
    const cv_attr_t *a = cv_node_attr(node, name);
    if (!a || a->type != CV_ATTR_FLOATS) {
        *n = 0;
        return NULL;
    }
    *n = a->n;
    return a->floats;
}
