/*
 * tensor.h: what the IR, the planner and both backends know about tensors
 * beyond the public cv_tensor_t: heap tensors, element access of any dtype,
 * half-precision conversions, dtype classes, and row-major strides.
 * Implemented in src/ir/tensor.c.
 */
#ifndef CV_IR_TENSOR_H
#define CV_IR_TENSOR_H

#include "core/core.h"

cv_tensor_t *cv_tensor_new(cv_dtype_t dtype, const cv_shape_t *shape); /* NULL on OOM */
cv_tensor_t *cv_tensor_clone(const cv_tensor_t *t);                     /* NULL on OOM */
void cv_tensor_destroy(cv_tensor_t *t); /* frees data and the struct */
/* Reads element i of any numeric tensor as double / int64. */
double cv_tensor_get_f64(const cv_tensor_t *t, int64_t i);
int64_t cv_tensor_get_i64(const cv_tensor_t *t, int64_t i);
void cv_tensor_set_f64(cv_tensor_t *t, int64_t i, double v);
void cv_tensor_set_i64(cv_tensor_t *t, int64_t i, int64_t v);
/* Half-precision conversions (round to nearest even). */
float cv_fp16_to_fp32(uint16_t h);
uint16_t cv_fp32_to_fp16(float f);
float cv_bf16_to_fp32(uint16_t h);
uint16_t cv_fp32_to_bf16(float f);


/* True for FP32, FP16, BF16, FP64. */
bool cv_dtype_is_float(cv_dtype_t dtype);
/* True for every numeric dtype (integers, floats), false for BOOL/STRING. */
bool cv_dtype_is_numeric(cv_dtype_t dtype);

/* Row-major strides of `shape` in elements. */
void cv_shape_strides(const cv_shape_t *shape, int64_t *strides);
/* Strides of `in` broadcast against `out` (same rank after left-padding
 * with 1s): 0 where `in` has extent 1. */
void cv_broadcast_strides(const cv_shape_t *in, const cv_shape_t *out, int64_t *strides);

#endif /* CV_IR_TENSOR_H */
