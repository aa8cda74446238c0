/*
 * layout_geometry.h: the geometry of the layout ops that copy elements
 * around (Transpose, Concat, Split, Slice, Expand, Tile, Pad), read once
 * per step on the host from shapes, attributes and constant inputs, with
 * ONNX's rules and argument checks, for the CPU kernels
 * (src/backend/cpu/cpu_layout.c) and the CUDA kernels
 * (src/backend/cuda/cuda_layout.cu) alike. Each result is a small plain
 * struct: the copy regions (extents, element strides and offsets) that a
 * strided copy (src/backend/strided.h) walks, and for Pad the per-axis
 * runs its gather reads, so that a kernel never reads perm, starts, pads
 * or repeats itself.
 *
 * Also the axes a ReduceMean or ReduceSum reduces (the reductions are
 * with the layout ops on the CPU, src/backend/cpu/cpu_layout.c; on CUDA
 * they are in cuda_nn.cu).
 *
 * Inputs that shape the work (Slice's starts/ends/axes/steps, Split's
 * split, Tile's repeats, Pad's pads/axes, the reductions' axes) are passed as host tensors of
 * INT64 or INT32, NULL where the node omits them; the CUDA backend passes
 * the plan's or graph's host copy and runs the step on the host when there
 * is none. Arguments a model can get wrong come back as
 * CV_STATUS_INVALID_ARGUMENT with a message naming the input or attribute;
 * an output shape that disagrees with the geometry is a bug (shape
 * inference, src/ir/infer_layout.c, computed it from the same inputs).
 *
 * Not here: moving elements (the backends), inference of output shapes.
 */
#ifndef CV_BACKEND_LAYOUT_GEOMETRY_H
#define CV_BACKEND_LAYOUT_GEOMETRY_H

#ifdef __cplusplus
extern "C" {
#endif

#include "backend/strided.h"
#include "ir/graph.h"

/* One strided copy from a source tensor into a destination tensor: n axes
 * of extent dims, walked with destination strides ds and source strides ss
 * (in elements; a source stride may be 0 or negative), starting at element
 * dst_at of the destination and src_at of the source. */
typedef struct cv_copy_region {
    int n;
    int64_t dims[CV_WALK_MAX], ds[CV_WALK_MAX], ss[CV_WALK_MAX];
    int64_t dst_at, src_at;
} cv_copy_region_t;

/* ---- Transpose -------------------------------------------------------- */

typedef struct cv_transpose_geometry {
    cv_shape_t out;        /* Y's shape */
    cv_copy_region_t copy; /* X into Y */
} cv_transpose_geometry_t;

/* Transpose of X (shape x) by the node's perm (default: the axes
 * reversed). INVALID_ARGUMENT when perm is not a permutation of X's axes. */
cv_status cv_transpose_geometry(const cv_node_t *node, const cv_shape_t *x,
                                cv_transpose_geometry_t *g, cv_err_t *err);

/* ---- Concat ------------------------------------------------------------- */

typedef struct cv_concat_geometry {
    cv_shape_t out;            /* Y's shape, from inference */
    int axis;                  /* normalized */
    int64_t at;                /* where the next input goes along the axis */
    int64_t ys[CV_MAX_DIMS];   /* Y's strides */
} cv_concat_geometry_t;

/* Concat into Y (shape y) along the node's axis. INVALID_ARGUMENT when
 * the axis is out of range for Y. */
cv_status cv_concat_geometry(const cv_node_t *node, const cv_shape_t *y, cv_concat_geometry_t *g,
                             cv_err_t *err);

/* The copy of the next input (shape x: Y's but along the axis) into Y, in
 * input order. */
void cv_concat_next(cv_concat_geometry_t *g, const cv_shape_t *x, cv_copy_region_t *copy);

/* ---- Slice ------------------------------------------------------------ */

typedef struct cv_slice_geometry {
    cv_shape_t out;             /* Y's shape: elements taken per axis */
    int64_t start[CV_MAX_DIMS]; /* per axis of X, first index taken (0 where not sliced) */
    int64_t step[CV_MAX_DIMS];  /* per axis of X (1 where not sliced) */
    cv_copy_region_t copy;      /* X into Y (src_at 0 when Y is empty) */
} cv_slice_geometry_t;

/* Slice of X (shape x) by starts and ends (required), axes and steps
 * (NULL: 0..n-1 and all 1), with ONNX's rules: negative starts and ends
 * count from the end of the axis; for a positive step both are clamped to
 * [0, dim], for a negative step to [-1, dim - 1] (so INT64_MAX/INT64_MIN
 * mean "to the end" in either direction, and a start before the first
 * element takes nothing, as numpy and ONNX's reference do). INVALID_ARGUMENT
 * when starts, ends, axes or steps differ in length, starts has more
 * entries than X has axes (without axes), an axis is out of range or
 * repeated, or a step is 0. */
cv_status cv_slice_geometry(const cv_shape_t *x, const cv_tensor_t *starts, const cv_tensor_t *ends,
                            const cv_tensor_t *axes, const cv_tensor_t *steps,
                            cv_slice_geometry_t *g, cv_err_t *err);

/* ---- Split ------------------------------------------------------------ */

typedef struct cv_split_geometry {
    int axis;                 /* normalized */
    int noutputs;
    int64_t dim;              /* X's extent along the axis */
    int64_t chunk;            /* each output's extent without `split` (the last ones cut to dim) */
    const cv_tensor_t *split; /* the split input, or NULL; the caller keeps it alive */
    cv_shape_t x;             /* X's shape */
    int next;                 /* the output cv_split_next describes next */
    int64_t at;               /* where it starts along the axis */
} cv_split_geometry_t;

/* Split of X (shape x) into `noutputs` parts along the node's axis: by the
 * split input (entries >= 0 summing to the axis's extent, one per output),
 * else by the attribute num_outputs (opset 18: parts of ceil(dim / n), the
 * last ones smaller, possibly empty), else into equal parts.
 * INVALID_ARGUMENT when the axis is out of range, split and num_outputs
 * are both given, split has the wrong length or entries, num_outputs
 * differs from the node's outputs, or equal parts do not divide the axis. */
cv_status cv_split_geometry(const cv_node_t *node, const cv_shape_t *x, const cv_tensor_t *split,
                            int noutputs, cv_split_geometry_t *g, cv_err_t *err);

/* Extent of output i along the axis; outputs start where the previous
 * ones end (an omitted output still takes its part). */
int64_t cv_split_size(const cv_split_geometry_t *g, int i);

/* The copy of X into the next output, in output order, whose shape is y
 * (NULL for an omitted output: it still takes its part, and there is
 * nothing to copy). Returns whether *copy was filled. */
bool cv_split_next(cv_split_geometry_t *g, const cv_shape_t *y, cv_copy_region_t *copy);

/* ---- Expand ----------------------------------------------------------- */

/* The copy of X (shape x) into Y (shape y, X broadcast to it by
 * inference). */
void cv_expand_copy(const cv_shape_t *x, const cv_shape_t *y, cv_copy_region_t *copy);

/* ---- Tile ------------------------------------------------------------- */

typedef struct cv_tile_geometry {
    cv_shape_t out; /* Y's shape */
    /* X into Y: axis a of Y walked as (repeat, position), so 2 * rank
     * axes, X's stride 0 along a repeat. */
    cv_copy_region_t copy;
} cv_tile_geometry_t;

/* Tile of X (shape x) by `repeats` (required, one entry >= 0 per axis).
 * INVALID_ARGUMENT when repeats has the wrong length, a negative entry,
 * or the output would be too large. */
cv_status cv_tile_geometry(const cv_shape_t *x, const cv_tensor_t *repeats, cv_tile_geometry_t *g,
                           cv_err_t *err);

/* ---- Gather ----------------------------------------------------------- */

/* X as [outer, d, inner] around the axis; Y as [outer, nidx, inner]. */
typedef struct cv_gather_geometry {
    int axis; /* normalized */
    int64_t outer, d, inner, nidx;
} cv_gather_geometry_t;

/* Gather of X (shape x) along the node's axis by `indices` (its shape and
 * dtype only) whose values are in `values` on the host, or NULL when they
 * are only on the device (computed at run time). INVALID_ARGUMENT when X
 * is a scalar, the axis is out of range, the indices are not INT64 or
 * INT32, or a host value is outside [-d, d - 1]. */
cv_status cv_gather_geometry(const cv_node_t *node, const cv_shape_t *x, const cv_tensor_t *indices,
                             const cv_tensor_t *values, cv_gather_geometry_t *g, cv_err_t *err);

/* ---- ReduceMean, ReduceSum ------------------------------------------- */

/* Which axes of X (shape x) the node reduces: reduced[a] for each of X's
 * axes, from `axes` (host INT64/INT32; NULL or empty: every axis, or none
 * when the attribute noop_with_empty_axes is set, and then *noop: Y is X).
 * INVALID_ARGUMENT when an axis is out of range or repeated. */
cv_status cv_reduce_axes(const cv_node_t *node, const cv_shape_t *x, const cv_tensor_t *axes,
                         bool *reduced, bool *noop, cv_err_t *err);

/* ---- Pad -------------------------------------------------------------- */

typedef enum cv_pad_mode {
    CV_PAD_MODE_CONSTANT,
    CV_PAD_MODE_REFLECT,
    CV_PAD_MODE_EDGE,
    CV_PAD_MODE_WRAP,
} cv_pad_mode_t;

/* Per axis: Y's extent, where the kept run of X starts in Y (pb), the
 * first index of X kept (lo: negative pads crop before positive pads pad)
 * and how many are kept, and X's stride. Passed by value to CUDA kernels. */
typedef struct cv_pad_geometry {
    int ndim;
    cv_pad_mode_t mode;
    bool has_value; /* constant_value is given (one element of X's dtype); else the fill is 0 */
    bool empty;     /* some axis keeps nothing of X: every element of Y is the fill */
    int64_t out[CV_MAX_DIMS], pb[CV_MAX_DIMS], lo[CV_MAX_DIMS], kept[CV_MAX_DIMS];
    int64_t xs[CV_MAX_DIMS];
} cv_pad_geometry_t;

/* Pad of X by the node's mode and `pads` (required: begins then ends, 2
 * per padded axis, negative ones crop), `axes` (opset 18; NULL: every
 * axis) and `value` (constant_value; NULL or empty: 0). Only x's and
 * value's shapes and dtypes are read (their data may be device memory).
 * INVALID_ARGUMENT when the mode is unknown, pads has other than 2 entries
 * per axis, an axis is out of range or repeated, the value is more than
 * one element or of another dtype than X, an axis would get a negative
 * extent, or reflect/edge/wrap would pad an axis that keeps nothing. */
cv_status cv_pad_geometry(const cv_node_t *node, const cv_tensor_t *x, const cv_tensor_t *pads,
                          const cv_tensor_t *value, const cv_tensor_t *axes, cv_pad_geometry_t *g,
                          cv_err_t *err);

/* Index in [0, kept) of the kept run that position j of an axis (counted
 * from the run's start, outside [0, kept)) takes in the reflect, edge and
 * wrap modes; kept >= 1. */
static inline CV_HOST_DEVICE int64_t cv_pad_fold(cv_pad_mode_t mode, int64_t j, int64_t kept)
{
    if (mode == CV_PAD_MODE_EDGE) return j < 0 ? 0 : kept - 1;
    if (mode == CV_PAD_MODE_WRAP) {
        j %= kept;
        return j < 0 ? j + kept : j;
    }
    if (kept == 1) return 0; /* reflect of one element */
    int64_t period = 2 * (kept - 1);
    j %= period;
    if (j < 0) j += period;
    return j >= kept ? period - j : j;
}

#ifdef __cplusplus
}
#endif
#endif /* CV_BACKEND_LAYOUT_GEOMETRY_H */
