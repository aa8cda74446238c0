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

#endif /* CV_ONNX_LOADER_H */
