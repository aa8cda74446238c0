/*
 * onnx_loader.h: ONNX files into the IR. The loader parses a ModelProto with
 * the C that protobuf-c generates at build time from the system onnx.proto
 * (no hand-written decoding), checks it, and builds a cv_graph_t in the
 * canonical (newest-opset) form that shape inference and kernels expect.
 *
 * Model files are untrusted input: every failure, however malformed the
 * bytes, is a status plus one line naming the file, the node (name, op and
 * index in the file) where one is at fault, and the reason. Every protobuf-c
 * allocation goes through cv_malloc, so fault injection reaches the parser.
 *
 * What it deliberately does not do: shape inference, constant folding or
 * any optimisation; those are IR passes that run on the graph it returns.
 */
#ifndef CV_ONNX_LOADER_H
#define CV_ONNX_LOADER_H

#include "ir/graph.h"

#include <protobuf-c/protobuf-c.h>

/* The oldest default-domain opset the loader reads. Opset 6's differences
 * from opset 7 (legacy broadcasting of Add/Sub/Mul/Div/Pow/Equal through the
 * `broadcast` and `axis` attributes, Gemm's `broadcast`, per-channel PRelu
 * slopes, `is_test`) are canonicalised by onnx_canon.c; older opsets differ
 * in more ways (consumed_inputs, Reshape's shape attribute, ...) and are
 * refused. */
#define CV_ONNX_MIN_OPSET 6

/* Loads the ONNX model at `path`. External data files are read relative to
 * the folder of `path`.
 * On success *out is a new graph (the caller destroys it with
 * cv_graph_destroy) with:
 *   - g->opset = the default-domain ("" or "ai.onnx") opset; each node's
 *     opset the same;
 *   - one value per name the model uses; initializers are constants
 *     (is_weight true for float dtypes, false for integer/bool structure);
 *     graph inputs with an initializer of the same name are constants too;
 *   - g->inputs = the remaining (runtime) graph inputs, g->outputs = the
 *     graph outputs, in model order; declared dtypes and shapes of inputs,
 *     outputs and value_info copied (a symbolic or missing dim reads -1; a
 *     declared 0 is a real empty axis and stays 0);
 *     g->batched when every runtime input (at least one) has a symbolic dim 0;
 *   - nodes in topological order (sorted when the file is not), in canonical
 *     form: attributes that later opsets made inputs are constant inputs
 *     (see onnx_canon.c); training-only outputs (BatchNormalization's
 *     statistics, Dropout's mask) that nothing reads are omitted (-1, and
 *     trailing ones dropped from noutputs). Opset 6 graphs may gain nodes
 *     the file does not have: an Unsqueeze that aligns a computed operand
 *     for numpy broadcasting, placed just before the node that reads it.
 * On failure *out is NULL, nothing is leaked, and err holds one line:
 * "<path>: <reason>" or "<path>: node '<name>' (<op>, node <k>): <reason>"
 * (k counts nodes in file order), with status
 *   NOT_FOUND (no such file, or a missing external data file),
 *   INVALID_ARGUMENT (not ONNX, truncated, inconsistent graph or tensors),
 *   UNSUPPORTED (valid ONNX Caravel does not run: an unknown operator, a
 *   custom domain, an opset older than CV_ONNX_MIN_OPSET, STRING tensors,
 *   graph-valued attributes), OUT_OF_MEMORY. */
cv_status cv_onnx_load(const char *path, cv_graph_t **out, cv_err_t *err);

/* Like cv_onnx_load, from a serialized ModelProto in memory (the fuzzing
 * entry point). `path` only names the model in messages (NULL reads
 * "<buffer>"); `base_dir` is the folder external data files are read from
 * (NULL: a model with external data is refused). `data` is not kept. */
cv_status cv_onnx_load_buffer(const void *data, size_t len, const char *path, const char *base_dir,
                              cv_graph_t **out, cv_err_t *err);

/* Like cv_tensor_read_pb (caravel.h), from one serialized TensorProto in
 * memory (the fuzzing entry point of the test-data reader; the file version
 * reads the file and calls this). `path` only names the tensor in messages
 * (NULL reads "<buffer>"); `base_dir` is the folder external data is read
 * from (NULL: a tensor with external data is refused). `data` is not kept.
 * On success *out is a host tensor (cv_tensor_free); on failure *out is
 * zeroed, nothing is leaked, and err holds one line starting with `path`:
 * INVALID_ARGUMENT (not a TensorProto, counts that do not match the dims),
 * UNSUPPORTED (STRING and other dtypes Caravel does not store, rank above
 * CV_MAX_DIMS, segments), NOT_FOUND (missing external data), OUT_OF_MEMORY. */
cv_status cv_tensor_read_pb_buffer(const void *data, size_t len, const char *path,
                                  const char *base_dir, cv_tensor_t *out, cv_err_t *err);

/* ---- shared inside src/onnx/ --------------------------------------------- */

struct Onnx__TensorProto;

/* A protobuf-c allocator over cv_malloc/cv_free. protobuf-c reports both bad
 * bytes and a failed allocation as a NULL message; `failed` tells them apart. */
typedef struct cv_onnx_allocator {
    ProtobufCAllocator base; /* pass &base to protobuf-c */
    bool failed;             /* an allocation failed since init */
} cv_onnx_allocator_t;

void cv_onnx_allocator_init(cv_onnx_allocator_t *alloc);

/* protobuf-c unpacks nested messages by recursion without a limit, so a
 * small hostile file that nests graphs 100000 deep overflows the stack.
 * This walks the tags and lengths only (the generated descriptor of `desc`
 * says which fields are messages) and refuses nesting deeper than
 * CV_ONNX_MAX_NESTING before protobuf-c sees the bytes: INVALID_ARGUMENT,
 * "<path>: messages nest more than 64 deep", or, when the wire format is
 * broken, "<path>: not an ONNX model (protobuf parse failed)". */
#define CV_ONNX_MAX_NESTING 64
cv_status cv_onnx_check_nesting(const ProtobufCMessageDescriptor *desc, const void *data,
                                size_t len, const char *path, cv_err_t *err);

/* Reads the whole of `path` into cv_malloc'd memory (*data, *len; the
 * caller frees *data). NOT_FOUND when it cannot be opened, INVALID_ARGUMENT
 * when it is not a regular file or is empty; messages start with the path. */
cv_status cv_onnx_read_file(const char *path, void **data, size_t *len, cv_err_t *err);

/* The folder of `path` ("." when it has none; "/" for "/x"), cv_malloc'd;
 * NULL out of memory. External data is read relative to it. */
char *cv_onnx_dir_of(const char *path);

/* The Caravel dtype of ONNX element type `onnx_type`. UNSUPPORTED for STRING,
 * complex, 8-bit and 4-bit floats and other types Caravel does not store
 * ("dtype STRING of <what> is not supported"); INVALID_ARGUMENT for
 * UNDEFINED ("<what> has no element type"). */
cv_status cv_onnx_dtype(int32_t onnx_type, const char *what, cv_dtype_t *out, cv_err_t *err);

/* Converts a TensorProto into a host tensor allocated like cv_tensor_alloc
 * (free with cv_tensor_free). `what` names it in messages ("initializer
 * 'w'", "tensor 'x'"). Data comes from raw_data (little-endian), the typed
 * field of its dtype, or an external file below `base_dir` (NULL refuses
 * external data). The element count must match the dims exactly.
 * INVALID_ARGUMENT / UNSUPPORTED / NOT_FOUND / OUT_OF_MEMORY with a message
 * that names `what` (and is not prefixed by any file). */
cv_status cv_onnx_tensor_from_pb(const struct Onnx__TensorProto *pb, const char *what,
                                 const char *base_dir, cv_tensor_t *out, cv_err_t *err);

/* Names of one graph -> an index (value or node), hashed: the loader looks up
 * every name, and a linear scan would make hostile files quadratic. Keys are
 * borrowed and must outlive the map. */
typedef struct cv_onnx_names {
    const char **keys;
    int *vals;
    size_t cap; /* a power of two, or 0 */
    size_t count;
} cv_onnx_names_t;

/* The index stored for `name`, or -1. */
int cv_onnx_names_find(const cv_onnx_names_t *names, const char *name);
/* Adds a name that is not in the map yet; OUT_OF_MEMORY leaves it unchanged. */
cv_status cv_onnx_names_put(cv_onnx_names_t *names, const char *name, int index);
void cv_onnx_names_free(cv_onnx_names_t *names);

/* What canonicalisation keeps while it walks the nodes of one graph in
 * topological order. Opset 6's broadcasting rules depend on the ranks of the
 * operands, which the loader knows before any shape inference only for some
 * values: constants, graph inputs, values whose type the file declares
 * (value_info, graph outputs), and the outputs of nodes canonicalised so far
 * whose rank follows from their inputs' ranks and constant attributes. */
typedef struct cv_onnx_canon {
    cv_onnx_names_t *values; /* name -> value index of g; new values are added */
    int *ranks;              /* per value index below nranks: rank, or -1 unknown */
    int nranks, ranks_cap;
} cv_onnx_canon_t;

/* Records that value v of g has `rank` (grows the table; values it did not
 * cover yet read -1). OUT_OF_MEMORY when it cannot grow. */
cv_status cv_onnx_canon_set_rank(cv_onnx_canon_t *c, int v, int rank);
/* Frees the rank table (not `values`, which the caller owns). */
void cv_onnx_canon_free(cv_onnx_canon_t *c);

/* Rewrites node `node` of g into canonical form for its opset: attributes
 * that later opsets made inputs become constant inputs named
 * "<output 0>__<attribute>" (made unique; each is added to c->values),
 * attributes that no longer mean anything at inference are dropped, and
 * opset-6 broadcasting is turned into numpy broadcasting (see onnx_canon.c).
 * Nodes must be canonicalised in topological order, each once: the ranks
 * the node's outputs are known to have are recorded in c for the nodes
 * after it. The rewrite may append nodes to g (an Unsqueeze) that read only
 * values available to `node` and must run before it: the caller moves them
 * there (values' `producer` then needs updating). The message names the
 * attribute or input at fault; the caller prefixes the node and the file. */
cv_status cv_onnx_canonicalize_node(cv_graph_t *g, int node, cv_onnx_canon_t *c, cv_err_t *err);

/* True when output `index` of `op` only matters for training (the running
 * statistics of BatchNormalization, Dropout's mask): the loader omits it
 * when no node and no graph output reads it. */
bool cv_onnx_output_is_training_only(cv_op_t op, int index);

#endif /* CV_ONNX_LOADER_H */
