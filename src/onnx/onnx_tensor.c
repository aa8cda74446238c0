/*
 * onnx_tensor.c: ONNX TensorProto <-> cv_tensor_t, shared by the model
 * loader (initializers, tensor attributes) and by the test-data files
 * (test_data_set_N/input_K.pb), plus the pieces every protobuf read needs:
 * the counted allocator for protobuf-c and whole-file reads.
 *
 * Little-endian hosts only: raw_data is little-endian by the ONNX spec and
 * is copied as is.
 */
#include "onnx/onnx_internal.h"

#include "onnx.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "raw_data is little-endian and copied unconverted");

/* ---- allocator ----------------------------------------------------------- */

static void *pb_alloc(void *allocator_data, size_t size)
{
    cv_onnx_allocator_t *alloc = allocator_data;
    void *p = cv_malloc(size);
    if (!p) alloc->failed = true;
    return p;
}

static void pb_free(void *allocator_data, void *ptr)
{
    cv_free(ptr);
}

void cv_onnx_allocator_init(cv_onnx_allocator_t *alloc)
{
    alloc->base.alloc = pb_alloc;
    alloc->base.free = pb_free;
    alloc->base.allocator_data = alloc;
    alloc->failed = false;
}

/* ---- files --------------------------------------------------------------- */

static cv_status open_error(const char *path, int errnum, cv_err_t *err)
{
    cv_status status =
        errnum == ENOENT || errnum == ENOTDIR ? CV_STATUS_NOT_FOUND : CV_STATUS_INVALID_ARGUMENT;
    return cv_errorf(err, status, "%s: cannot open (%s)", path, strerror(errnum));
}

/* Reads exactly `len` bytes at `offset` of an open descriptor. */
static bool read_exact(int fd, void *buf, size_t len, off_t offset)
{
    char *p = buf;
    while (len > 0) {
        ssize_t got = pread(fd, p, len, offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        len -= (size_t)got;
        offset += got;
    }
    return true;
}

cv_status cv_onnx_read_file(const char *path, void **data, size_t *len, cv_err_t *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return open_error(path, errno, err);
    cv_status status = CV_STATUS_OK;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: not a regular file", path);
        goto done;
    }
    if (st.st_size == 0) {
        status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: file is empty", path);
        goto done;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        status = cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s: file is too large", path);
        goto done;
    }
    *data = cv_malloc((size_t)st.st_size);
    if (!*data) {
        status = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory reading %lld bytes",
                           path, (long long)st.st_size);
        goto done;
    }
    if (!read_exact(fd, *data, (size_t)st.st_size, 0)) {
        status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: read failed (%s)", path,
                           strerror(errno ? errno : EIO));
        cv_free(*data);
        *data = NULL;
        goto done;
    }
    *len = (size_t)st.st_size;
done:
    close(fd);
    return status;
}

/* ---- nesting guard ----------------------------------------------------- */

static bool read_varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *pos < end; shift += 7) {
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

cv_status cv_onnx_check_nesting(const ProtobufCMessageDescriptor *desc, const void *data,
                                size_t len, const char *path, cv_err_t *err)
{
    typedef struct level {
        const ProtobufCMessageDescriptor *desc;
        size_t end; /* where this message's bytes end */
    } level_t;
    level_t stack[CV_ONNX_MAX_NESTING + 1];
    const uint8_t *p = data;
    size_t pos = 0;
    int depth = 0;
    stack[0] = (level_t){desc, len};
    for (;;) {
        while (depth >= 0 && pos == stack[depth].end) depth--;
        if (depth < 0) return CV_STATUS_OK;
        uint64_t tag, n;
        if (!read_varint(p, stack[depth].end, &pos, &tag) || (tag >> 3) == 0) goto malformed;
        switch (tag & 7) {
        case 0: /* varint */
            if (!read_varint(p, stack[depth].end, &pos, &n)) goto malformed;
            break;
        case 1: /* 64-bit */
        case 5: /* 32-bit */
            n = (tag & 7) == 1 ? 8 : 4;
            if (stack[depth].end - pos < n) goto malformed;
            pos += n;
            break;
        case 2: { /* length-delimited: a message descends, anything else is skipped */
            if (!read_varint(p, stack[depth].end, &pos, &n) || n > stack[depth].end - pos)
                goto malformed;
            const ProtobufCFieldDescriptor *field =
                tag >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(stack[depth].desc,
                                                              (unsigned)(tag >> 3))
                    : NULL;
            if (field && field->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth == CV_ONNX_MAX_NESTING)
                    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                     "%s: messages nest more than %d deep", path,
                                     CV_ONNX_MAX_NESTING);
                depth++;
                stack[depth] = (level_t){field->descriptor, pos + n};
            } else {
                pos += n;
            }
            break;
        }
        default: goto malformed; /* groups are not in ONNX, nor anything else */
        }
    }
malformed:
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: not an ONNX model (protobuf parse failed)",
                     path);
}

/* ---- dtypes -------------------------------------------------------------- */

/* Names of the ONNX element types Caravel does not store, for messages. */
static const char *foreign_dtype_name(int32_t onnx_type)
{
    switch (onnx_type) {
    case 14: return "COMPLEX64";
    case 15: return "COMPLEX128";
    case 17: return "FLOAT8E4M3FN";
    case 18: return "FLOAT8E4M3FNUZ";
    case 19: return "FLOAT8E5M2";
    case 20: return "FLOAT8E5M2FNUZ";
    case 21: return "UINT4";
    case 22: return "INT4";
    case 23: return "FLOAT4E2M1";
    case 24: return "FLOAT8E8M0";
    case 25: return "UINT2";
    case 26: return "INT2";
    default: return NULL;
    }
}

cv_status cv_onnx_dtype(int32_t onnx_type, const char *what, cv_dtype_t *out, cv_err_t *err)
{
    *out = CV_DTYPE_UNDEFINED;
    if (onnx_type == CV_DTYPE_UNDEFINED)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s has no element type", what);
    switch (onnx_type) {
    case CV_DTYPE_FP32:
    case CV_DTYPE_UINT8:
    case CV_DTYPE_INT8:
    case CV_DTYPE_UINT16:
    case CV_DTYPE_INT16:
    case CV_DTYPE_INT32:
    case CV_DTYPE_INT64:
    case CV_DTYPE_BOOL:
    case CV_DTYPE_FP16:
    case CV_DTYPE_FP64:
    case CV_DTYPE_UINT32:
    case CV_DTYPE_UINT64:
    case CV_DTYPE_BF16: *out = (cv_dtype_t)onnx_type; return CV_STATUS_OK;
    case CV_DTYPE_STRING:
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "dtype STRING of %s is not supported", what);
    default: break;
    }
    const char *name = foreign_dtype_name(onnx_type);
    if (name)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "dtype %s of %s is not supported", name, what);
    return cv_errorf(err, CV_STATUS_UNSUPPORTED, "dtype %" PRId32 " of %s is not supported",
                     onnx_type, what);
}

/* ---- TensorProto -> cv_tensor_t ------------------------------------------ */

static cv_status count_mismatch(const char *what, uint64_t have, const cv_shape_t *shape,
                                int64_t need, cv_err_t *err)
{
    char dims[160];
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                     "%s has %" PRIu64 " values but its dims %s need %" PRId64, what, have,
                     cv_shape_str(shape, dims, sizeof dims), need);
}

/* Parses a non-negative decimal ("offset", "length" of external data). */
static bool parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s) return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* A location must stay inside base_dir: relative, no "..", no empty path. */
static bool location_is_safe(const char *loc)
{
    if (!loc[0] || loc[0] == '/') return false;
    const char *p = loc;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        if (!end) break;
        p = end + 1;
    }
    return true;
}

/* Reads the external data described by pb->external_data into `out`, which
 * it allocates (dtype x shape, nbytes) once the file is known to hold it. */
static cv_status read_external(const Onnx__TensorProto *pb, const char *what, const char *base_dir,
                               cv_dtype_t dtype, const cv_shape_t *shape, size_t nbytes,
                               cv_tensor_t *out, cv_err_t *err)
{
    int64_t numel = cv_shape_numel(shape);
    const char *location = NULL, *offset_s = NULL, *length_s = NULL;
    for (size_t i = 0; i < pb->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = pb->external_data[i];
        if (!e->key) continue;
        if (strcmp(e->key, "location") == 0)
            location = e->value;
        else if (strcmp(e->key, "offset") == 0)
            offset_s = e->value;
        else if (strcmp(e->key, "length") == 0)
            length_s = e->value;
    }
    if (!location || !location[0])
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s has external data without a 'location'", what);
    if (!location_is_safe(location))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s: external data location '%s' must be a relative path without '..'",
                         what, location);
    if (!base_dir)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s has external data ('%s') but no folder to read it from", what,
                         location);
    uint64_t offset = 0, length = nbytes;
    if (offset_s && !parse_size(offset_s, &offset))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s: external data offset '%s' is not a byte count", what, offset_s);
    if (length_s && !parse_size(length_s, &length))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s: external data length '%s' is not a byte count", what, length_s);
    size_t esize = cv_dtype_size(dtype);
    if (length != nbytes) {
        if (length % esize != 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s: external data length %" PRIu64
                             " is not a multiple of the element size %zu",
                             what, length, esize);
        return count_mismatch(what, length / esize, shape, numel, err);
    }
    if (offset > (uint64_t)INT64_MAX - length)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s: external data offset %" PRIu64 " is out of range", what, offset);

    size_t plen = strlen(base_dir) + strlen(location) + 2;
    char *full = cv_malloc(plen);
    if (!full) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
    snprintf(full, plen, "%s/%s", base_dir, location);
    cv_status status = CV_STATUS_OK;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int errnum = errno;
        status = cv_errorf(err,
                           errnum == ENOENT || errnum == ENOTDIR ? CV_STATUS_NOT_FOUND
                                                                 : CV_STATUS_INVALID_ARGUMENT,
                           "%s: cannot open its external data file '%s' (%s)", what, full,
                           strerror(errnum));
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                           "%s: external data '%s' is not a regular file", what, full);
        goto done;
    }
    if ((uint64_t)st.st_size < offset + length) {
        status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                           "%s: external data file '%s' is too short: %" PRIu64
                           " bytes needed at offset %" PRIu64 ", the file has %lld",
                           what, full, length, offset, (long long)st.st_size);
        goto done;
    }
    if (cv_tensor_alloc(out, dtype, shape) != CV_STATUS_OK) {
        memset(out, 0, sizeof(*out));
        status = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for %s (%zu bytes)", what,
                           nbytes);
        goto done;
    }
    if (nbytes > 0 && !read_exact(fd, out->data, nbytes, (off_t)offset)) {
        status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                           "%s: reading external data file '%s' failed", what, full);
        cv_tensor_free(out);
    }
done:
    if (fd >= 0) close(fd);
    cv_free(full);
    return status;
}

/* How many values the typed field that carries `dtype` holds. */
static uint64_t typed_count(const Onnx__TensorProto *pb, cv_dtype_t dtype)
{
    switch (dtype) {
    case CV_DTYPE_FP32: return pb->n_float_data;
    case CV_DTYPE_INT64: return pb->n_int64_data;
    case CV_DTYPE_FP64: return pb->n_double_data;
    case CV_DTYPE_UINT32:
    case CV_DTYPE_UINT64: return pb->n_uint64_data;
    /* every type narrower than 32 bits, and INT32, ride in int32_data */
    default: return pb->n_int32_data;
    }
}

/* Copies the typed field into t (its count equals t's element count). */
static void copy_typed(const Onnx__TensorProto *pb, cv_tensor_t *t, int64_t numel)
{
    void *d = t->data;
    switch (t->dtype) {
    case CV_DTYPE_FP32: memcpy(d, pb->float_data, sizeof(float) * (size_t)numel); return;
    case CV_DTYPE_INT64: memcpy(d, pb->int64_data, sizeof(int64_t) * (size_t)numel); return;
    case CV_DTYPE_FP64: memcpy(d, pb->double_data, sizeof(double) * (size_t)numel); return;
    case CV_DTYPE_UINT64: memcpy(d, pb->uint64_data, sizeof(uint64_t) * (size_t)numel); return;
    case CV_DTYPE_UINT32:
        for (int64_t i = 0; i < numel; i++) ((uint32_t *)d)[i] = (uint32_t)pb->uint64_data[i];
        return;
    default: break;
    }
    for (int64_t i = 0; i < numel; i++) {
        int32_t v = pb->int32_data[i];
        switch (t->dtype) {
        case CV_DTYPE_INT32: ((int32_t *)d)[i] = v; break;
        case CV_DTYPE_INT16: ((int16_t *)d)[i] = (int16_t)v; break;
        case CV_DTYPE_INT8: ((int8_t *)d)[i] = (int8_t)v; break;
        case CV_DTYPE_UINT8: ((uint8_t *)d)[i] = (uint8_t)v; break;
        case CV_DTYPE_BOOL: ((uint8_t *)d)[i] = v != 0; break;
        /* FP16, BF16 and UINT16: their 16 bits */
        default: ((uint16_t *)d)[i] = (uint16_t)v; break;
        }
    }
}

/* BOOL bytes as read (raw or external data): any non-zero byte is true;
 * Caravel stores 0/1, which kernels (Cast, Equal) rely on. */
static void store_bools(cv_tensor_t *t)
{
    uint8_t *p = t->data;
    int64_t numel = cv_shape_numel(&t->shape);
    for (int64_t i = 0; i < numel; i++) p[i] = p[i] != 0;
}

cv_status cv_onnx_tensor_from_pb(const Onnx__TensorProto *pb, const char *what,
                                 const char *base_dir, cv_tensor_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    cv_dtype_t dtype;
    cv_status status = cv_onnx_dtype(pb->has_data_type ? pb->data_type : 0, what, &dtype, err);
    if (status != CV_STATUS_OK) return status;
    if (pb->n_dims > CV_MAX_DIMS)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s has rank %zu; Caravel handles at most %d",
                         what, pb->n_dims, CV_MAX_DIMS);
    if (pb->segment)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s is segmented, which is not supported",
                         what);
    cv_shape_t shape = {.ndim = (int)pb->n_dims};
    size_t esize = cv_dtype_size(dtype);
    int64_t numel = 1;
    for (size_t i = 0; i < pb->n_dims; i++) {
        int64_t d = pb->dims[i];
        if (d < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s has a negative dim (%" PRId64 ")",
                             what, d);
        shape.dims[i] = d;
        /* bound numel so that numel * esize fits in size_t and int64 */
        if (d > 0 && numel > (int64_t)(CV_MIN((uint64_t)INT64_MAX, (uint64_t)SIZE_MAX) / esize) / d)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s is too large", what);
        numel *= d;
    }
    size_t nbytes = (size_t)numel * esize;
    bool external =
        pb->has_data_location && pb->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;

    if (external) {
        cv_status st = read_external(pb, what, base_dir, dtype, &shape, nbytes, out, err);
        if (st == CV_STATUS_OK && dtype == CV_DTYPE_BOOL) store_bools(out);
        return st;
    }

    /* Count the values before allocating, so that dims that claim more than
     * the file holds fail without trying to allocate it. */
    uint64_t have;
    if (pb->has_raw_data) {
        if (pb->raw_data.len % esize != 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "raw_data of %s has %zu bytes, not a multiple of %zu (%s)", what,
                             pb->raw_data.len, esize, cv_dtype_name(dtype));
        have = pb->raw_data.len / esize;
    } else {
        have = typed_count(pb, dtype);
    }
    if (have != (uint64_t)numel) return count_mismatch(what, have, &shape, numel, err);

    if (cv_tensor_alloc(out, dtype, &shape) != CV_STATUS_OK) {
        memset(out, 0, sizeof(*out));
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for %s (%zu bytes)", what,
                         nbytes);
    }
    if (!pb->has_raw_data) {
        /* an empty tensor's typed field is NULL, which memcpy may not see */
        if (numel > 0) copy_typed(pb, out, numel);
    } else if (nbytes > 0) {
        memcpy(out->data, pb->raw_data.data, nbytes);
        if (dtype == CV_DTYPE_BOOL) store_bools(out);
    }
    return CV_STATUS_OK;
}

/* ---- test-data files ------------------------------------------------------ */

char *cv_onnx_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return cv_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = cv_malloc(n + 1);
    if (!dir) return NULL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return dir;
}

cv_status cv_tensor_read_pb_buffer(const void *data, size_t len, const char *path,
                                  const char *base_dir, cv_tensor_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    CV_ASSERT(data || len == 0);
    if (!path) path = "<buffer>";
    char *what = NULL;
    Onnx__TensorProto *pb = NULL;
    cv_onnx_allocator_t alloc;
    cv_onnx_allocator_init(&alloc);
    cv_status status = CV_STATUS_OK;

    pb = onnx__tensor_proto__unpack(&alloc.base, len, data);
    if (!pb) {
        status = alloc.failed
                     ? cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory parsing it", path)
                     : cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                 "%s: not a serialized TensorProto (protobuf parse failed)", path);
        goto done;
    }
    if (!pb->has_data_type) {
        status = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                           "%s: not a serialized TensorProto (it has no data_type)", path);
        goto done;
    }
    const char *name = pb->name ? pb->name : "";
    size_t wlen = strlen(name) + 16;
    what = cv_malloc(wlen);
    if (!what) {
        status = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    snprintf(what, wlen, "tensor '%s'", name);
    status = cv_onnx_tensor_from_pb(pb, what, base_dir, out, err);
    if (status != CV_STATUS_OK) cv_err_prefix(err, "%s", path);
done:
    if (pb) onnx__tensor_proto__free_unpacked(pb, &alloc.base);
    cv_free(what);
    return status;
}

cv_status cv_tensor_read_pb(const char *path, cv_tensor_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    void *data = NULL;
    size_t len = 0;
    char *dir = NULL;
    cv_status status = cv_onnx_read_file(path, &data, &len, err);
    if (status != CV_STATUS_OK) goto done;
    dir = cv_onnx_dir_of(path);
    if (!dir) {
        status = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    status = cv_tensor_read_pb_buffer(data, len, path, dir, out, err);
done:
    cv_free(data);
    cv_free(dir);
    return status;
}

cv_status cv_tensor_write_pb(const char *path, const char *name, const cv_tensor_t *t,
                             cv_err_t *err)
{
    if (t->dtype == CV_DTYPE_STRING)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s: dtype STRING is not supported", path);
    if (cv_dtype_size(t->dtype) == 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: tensor has no valid dtype (%d)",
                         path, (int)t->dtype);
    if (t->shape.ndim < 0 || t->shape.ndim > CV_MAX_DIMS)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: tensor rank %d is out of range",
                         path, t->shape.ndim);
    for (int i = 0; i < t->shape.ndim; i++)
        if (t->shape.dims[i] < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s: tensor dim %d is %lld; a stored tensor has known dims", path, i,
                             (long long)t->shape.dims[i]);
    size_t nbytes = cv_tensor_nbytes(t);
    if (nbytes > 0 && !t->data)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s: tensor has no data", path);

    Onnx__TensorProto pb = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[CV_MAX_DIMS];
    for (int i = 0; i < t->shape.ndim; i++) dims[i] = t->shape.dims[i];
    pb.n_dims = (size_t)t->shape.ndim;
    pb.dims = dims;
    pb.has_data_type = 1;
    pb.data_type = (int32_t)t->dtype;
    pb.name = (char *)(name ? name : "");
    pb.has_raw_data = 1;
    pb.raw_data.len = nbytes;
    pb.raw_data.data = (uint8_t *)t->data;

    size_t size = onnx__tensor_proto__get_packed_size(&pb);
    uint8_t *buf = cv_malloc(size ? size : 1);
    if (!buf) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    onnx__tensor_proto__pack(&pb, buf);

    cv_status status = CV_STATUS_OK;
    FILE *f = fopen(path, "wb");
    if (!f) {
        int errnum = errno;
        status = cv_errorf(err,
                           errnum == ENOENT || errnum == ENOTDIR ? CV_STATUS_NOT_FOUND
                                                                 : CV_STATUS_INVALID_ARGUMENT,
                           "%s: cannot create (%s)", path, strerror(errnum));
    } else {
        bool ok = fwrite(buf, 1, size, f) == size;
        ok = (fclose(f) == 0) && ok;
        if (!ok)
            status = cv_errorf(err, CV_STATUS_INTERNAL, "%s: write failed (%s)", path,
                               strerror(errno ? errno : EIO));
    }
    cv_free(buf);
    return status;
}
