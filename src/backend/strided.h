/*
 * strided.h: the shared first step of every strided copy (Transpose,
 * Concat, Split, Slice, Expand, Tile, Pad) on every backend: describe the
 * region as extents with destination and source strides, then drop extent-1
 * axes and merge axes that are contiguous on both sides, so that the copy
 * loop or kernel runs over as few and as long runs as possible.
 */
#ifndef CV_BACKEND_STRIDED_H
#define CV_BACKEND_STRIDED_H

#ifdef __cplusplus
extern "C" {
#endif

#include "core/core.h"

/* Tile views each axis as (repeat, extent), so walks have up to twice the
 * rank of a tensor. */
#define CV_WALK_MAX (2 * CV_MAX_DIMS)

/* Runs the statement EACH(T) with T the unsigned integer type of `es`
 * bytes (1, 2, 4 or 8): the one dispatch every element-moving loop makes
 * (they move bytes, whatever the dtype); another size is a bug. */
#define CV_FOR_ELEMENT_SIZE(es, EACH)                                                    \
    do {                                                                                 \
        switch (es) {                                                                    \
        case 1: EACH(uint8_t); break;                                                    \
        case 2: EACH(uint16_t); break;                                                   \
        case 4: EACH(uint32_t); break;                                                   \
        case 8: EACH(uint64_t); break;                                                   \
        default: CV_ASSERT(!"element size");                                             \
        }                                                                                \
    } while (0)

typedef struct cv_walk {
    int n;
    int64_t dims[CV_WALK_MAX];
    int64_t ds[CV_WALK_MAX]; /* destination strides, in elements */
    int64_t ss[CV_WALK_MAX]; /* source strides, in elements (may be 0 or negative) */
} cv_walk_t;

/* Drops extent-1 axes and merges each axis into its outer neighbour when
 * both strides are contiguous across them. False when the region is empty. */
bool cv_walk_simplify(cv_walk_t *w, int ndim, const int64_t *dims, const int64_t *ds,
                      const int64_t *ss);

#ifdef __cplusplus
}
#endif
#endif /* CV_BACKEND_STRIDED_H */
