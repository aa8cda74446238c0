/*
 * tensor.c: element types, shapes, host tensors and strides (see tensor.h
 * and the tensor part of caravel.h).
 */
#include "ir/tensor.h"

#include <math.h>
#include <string.h>

const char *cv_dtype_name(cv_dtype_t dtype)
{
    switch (dtype) {
    case CV_DTYPE_FP32: return "FP32";
    case CV_DTYPE_UINT8: return "UINT8";
    case CV_DTYPE_INT8: return "INT8";
    case CV_DTYPE_UINT16: return "UINT16";
    case CV_DTYPE_INT16: return "INT16";
    case CV_DTYPE_INT32: return "INT32";
    case CV_DTYPE_INT64: return "INT64";
    case CV_DTYPE_STRING: return "STRING";
    case CV_DTYPE_BOOL: return "BOOL";
    case CV_DTYPE_FP16: return "FP16";
    case CV_DTYPE_FP64: return "FP64";
    case CV_DTYPE_UINT32: return "UINT32";
    case CV_DTYPE_UINT64: return "UINT64";
    case CV_DTYPE_BF16: return "BF16";
    case CV_DTYPE_UNDEFINED: break;
    }
    return "UNDEFINED";
}

size_t cv_dtype_size(cv_dtype_t dtype)
{
    switch (dtype) {
    case CV_DTYPE_BOOL:
    case CV_DTYPE_UINT8:
    case CV_DTYPE_INT8: return 1;
    case CV_DTYPE_UINT16:
    case CV_DTYPE_INT16:
    case CV_DTYPE_FP16:
    case CV_DTYPE_BF16: return 2;
    case CV_DTYPE_FP32:
    case CV_DTYPE_INT32:
    case CV_DTYPE_UINT32: return 4;
    case CV_DTYPE_FP64:
    case CV_DTYPE_INT64:
    case CV_DTYPE_UINT64: return 8;
    case CV_DTYPE_STRING:
    case CV_DTYPE_UNDEFINED: break;
    }
    return 0;
}

int64_t cv_shape_numel(const cv_shape_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < shape->ndim; i++) n *= shape->dims[i];
    return n;
}

bool cv_shape_equal(const cv_shape_t *a, const cv_shape_t *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

char *cv_shape_str(const cv_shape_t *shape, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < shape->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? "," : "",
                                 (long long)shape->dims[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

size_t cv_tensor_nbytes(const cv_tensor_t *t)
{
    return (size_t)cv_shape_numel(&t->shape) * cv_dtype_size(t->dtype);
}

cv_status cv_tensor_alloc(cv_tensor_t *t, cv_dtype_t dtype, const cv_shape_t *shape)
{
    t->dtype = dtype;
    t->shape = *shape;
    size_t bytes = cv_tensor_nbytes(t);
    /* A zero-element tensor still gets a valid pointer. */
    t->data = cv_calloc(1, bytes ? bytes : 1);
    return t->data ? CV_STATUS_OK : CV_STATUS_OUT_OF_MEMORY;
}

void cv_tensor_free(cv_tensor_t *t)
{
    if (!t) return;
    cv_free(t->data);
    t->data = NULL;
}

cv_tensor_t *cv_tensor_new(cv_dtype_t dtype, const cv_shape_t *shape)
{
    cv_tensor_t *t = cv_malloc(sizeof(*t));
    if (!t) return NULL;
    if (cv_tensor_alloc(t, dtype, shape) != CV_STATUS_OK) {
        cv_free(t);
        return NULL;
    }
    return t;
}

cv_tensor_t *cv_tensor_clone(const cv_tensor_t *src)
{
    cv_tensor_t *t = cv_tensor_new(src->dtype, &src->shape);
    if (t) memcpy(t->data, src->data, cv_tensor_nbytes(src));
    return t;
}

void cv_tensor_destroy(cv_tensor_t *t)
{
    if (!t) return;
    cv_tensor_free(t);
    cv_free(t);
}

float cv_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

uint16_t cv_fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0);
    if (absx >= 0x477ff000u) return sign | 0x7c00; /* rounds to inf */
    if (absx < 0x38800000u) {                      /* subnormal or zero in fp16 */
        /* value * 2^24 rounded to nearest even gives the fp16 mantissa */
        float v;
        memcpy(&v, &absx, sizeof(v));
        float scaled = v * 16777216.0f;
        return sign | (uint16_t)lrintf(scaled);
    }
    uint32_t mant = absx & 0x7fffff;
    uint32_t exp = (absx >> 23) - 127 + 15;
    uint32_t half = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

float cv_bf16_to_fp32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

uint16_t cv_fp32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* nan */
    uint32_t rounding = 0x7fff + ((x >> 16) & 1);
    return (uint16_t)((x + rounding) >> 16);
}

double cv_tensor_get_f64(const cv_tensor_t *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case CV_DTYPE_FP32: return ((const float *)d)[i];
    case CV_DTYPE_FP64: return ((const double *)d)[i];
    case CV_DTYPE_FP16: return cv_fp16_to_fp32(((const uint16_t *)d)[i]);
    case CV_DTYPE_BF16: return cv_bf16_to_fp32(((const uint16_t *)d)[i]);
    case CV_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case CV_DTYPE_INT8: return ((const int8_t *)d)[i];
    case CV_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case CV_DTYPE_INT16: return ((const int16_t *)d)[i];
    case CV_DTYPE_INT32: return ((const int32_t *)d)[i];
    case CV_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case CV_DTYPE_INT64: return (double)((const int64_t *)d)[i];
    case CV_DTYPE_UINT64: return (double)((const uint64_t *)d)[i];
    case CV_DTYPE_BOOL: return ((const uint8_t *)d)[i] ? 1.0 : 0.0;
    default: CV_ASSERT(!"numeric dtype");
    }
    return 0;
}

int64_t cv_tensor_get_i64(const cv_tensor_t *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case CV_DTYPE_INT64: return ((const int64_t *)d)[i];
    case CV_DTYPE_UINT64: return (int64_t)((const uint64_t *)d)[i];
    case CV_DTYPE_INT32: return ((const int32_t *)d)[i];
    case CV_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case CV_DTYPE_INT16: return ((const int16_t *)d)[i];
    case CV_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case CV_DTYPE_INT8: return ((const int8_t *)d)[i];
    case CV_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case CV_DTYPE_BOOL: return ((const uint8_t *)d)[i] != 0;
    default: return (int64_t)cv_tensor_get_f64(t, i);
    }
}

void cv_tensor_set_f64(cv_tensor_t *t, int64_t i, double v)
{
    void *d = t->data;
    switch (t->dtype) {
    case CV_DTYPE_FP32: ((float *)d)[i] = (float)v; break;
    case CV_DTYPE_FP64: ((double *)d)[i] = v; break;
    case CV_DTYPE_FP16: ((uint16_t *)d)[i] = cv_fp32_to_fp16((float)v); break;
    case CV_DTYPE_BF16: ((uint16_t *)d)[i] = cv_fp32_to_bf16((float)v); break;
    case CV_DTYPE_BOOL: ((uint8_t *)d)[i] = v != 0.0; break;
    default: cv_tensor_set_i64(t, i, (int64_t)v); break;
    }
}

void cv_tensor_set_i64(cv_tensor_t *t, int64_t i, int64_t v)
{
    void *d = t->data;
    switch (t->dtype) {
    case CV_DTYPE_INT64: ((int64_t *)d)[i] = v; break;
    case CV_DTYPE_UINT64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    case CV_DTYPE_INT32: ((int32_t *)d)[i] = (int32_t)v; break;
    case CV_DTYPE_UINT32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case CV_DTYPE_INT16: ((int16_t *)d)[i] = (int16_t)v; break;
    case CV_DTYPE_UINT16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case CV_DTYPE_INT8: ((int8_t *)d)[i] = (int8_t)v; break;
    case CV_DTYPE_UINT8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case CV_DTYPE_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    default: cv_tensor_set_f64(t, i, (double)v); break;
    }
}

bool cv_dtype_is_float(cv_dtype_t dtype)
{
    return dtype == CV_DTYPE_FP32 || dtype == CV_DTYPE_FP16 || dtype == CV_DTYPE_BF16 ||
           dtype == CV_DTYPE_FP64;
}

bool cv_dtype_is_numeric(cv_dtype_t dtype)
{
    return dtype != CV_DTYPE_BOOL && dtype != CV_DTYPE_STRING && dtype != CV_DTYPE_UNDEFINED &&
           cv_dtype_size(dtype) > 0;
}

void cv_shape_strides(const cv_shape_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = shape->ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape->dims[i];
    }
}

void cv_broadcast_strides(const cv_shape_t *in, const cv_shape_t *out, int64_t *strides)
{
    int64_t own[CV_MAX_DIMS];
    cv_shape_strides(in, own);
    int pad = out->ndim - in->ndim;
    for (int i = 0; i < out->ndim; i++) {
        int j = i - pad;
        strides[i] = (j < 0 || in->dims[j] == 1) ? 0 : own[j];
    }
}
