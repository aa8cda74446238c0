/*
 * codec.c: KServe v2 inference requests from the wire into tensors, and
 * output tensors back onto the wire (JSON and the binary tensor
 * extension); see codec.h for the contract and the one-copy rule.
 *
 * Everything here reads untrusted bytes: each check names the input and
 * what was expected, nothing asserts on network data, and nothing is read
 * or written past a tensor's bytes (shapes are checked against the model's
 * signature before any tensor is asked for). tests/fuzz/fuzz_infer_request.c
 * feeds it random bodies.
 */
#include "server/codec.h"

#include "core/core.h"
#include "ir/tensor.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

/* ---- cv_sbuf ---------------------------------------------------------- */

static bool sbuf_reserve(cv_sbuf_t *b, size_t more)
{
    if (b->failed) return false;
    if (b->len + more + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *fresh = cv_realloc(b->data, cap);
    if (!fresh) {
        b->failed = true;
        return false;
    }
    b->data = fresh;
    b->cap = cap;
    return true;
}

void cv_sbuf_append(cv_sbuf_t *b, const char *bytes, size_t len)
{
    if (!sbuf_reserve(b, len)) return;
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
    b->data[b->len] = 0;
}

void cv_sbuf_puts(cv_sbuf_t *b, const char *s) { cv_sbuf_append(b, s, strlen(s)); }

void cv_sbuf_printf(cv_sbuf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        cv_sbuf_append(b, small, (size_t)n);
        return;
    }
    if (!sbuf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cv_sbuf_json_string(cv_sbuf_t *b, const char *s)
{
    cv_sbuf_append(b, "\"", 1);
    const char *run = s;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        const char *esc = NULL;
        char hex[8];
        switch (*c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (*c < 0x20) {
                snprintf(hex, sizeof hex, "\\u%04x", *c);
                esc = hex;
            }
        }
        if (!esc) continue;
        cv_sbuf_append(b, run, (size_t)((const char *)c - run));
        cv_sbuf_puts(b, esc);
        run = (const char *)c + 1;
    }
    cv_sbuf_puts(b, run);
    cv_sbuf_append(b, "\"", 1);
}

char *cv_sbuf_take(cv_sbuf_t *b, size_t *len)
{
    if (!b->failed && !b->data) sbuf_reserve(b, 0);
    if (b->failed) {
        cv_sbuf_free(b);
        return NULL;
    }
    char *s = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void cv_sbuf_free(cv_sbuf_t *b)
{
    cv_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- datatypes ------------------------------------------------------------ */

static const cv_dtype_t served_dtypes[] = {
    CV_DTYPE_BOOL,  CV_DTYPE_UINT8,  CV_DTYPE_UINT16, CV_DTYPE_UINT32, CV_DTYPE_UINT64,
    CV_DTYPE_INT8,  CV_DTYPE_INT16,  CV_DTYPE_INT32,  CV_DTYPE_INT64,  CV_DTYPE_FP16,
    CV_DTYPE_FP32,  CV_DTYPE_FP64,   CV_DTYPE_BF16,
};

const char *cv_codec_dtype_name(cv_dtype_t dtype)
{
    return dtype == CV_DTYPE_STRING ? "BYTES" : cv_dtype_name(dtype);
}

cv_dtype_t cv_codec_dtype_parse(const char *name)
{
    for (size_t i = 0; i < CV_ARRAY_LEN(served_dtypes); i++)
        if (!strcmp(name, cv_dtype_name(served_dtypes[i]))) return served_dtypes[i];
    return CV_DTYPE_UNDEFINED;
}

const char *cv_codec_config_type(cv_dtype_t dtype)
{
    switch (dtype) {
    case CV_DTYPE_BOOL: return "TYPE_BOOL";
    case CV_DTYPE_UINT8: return "TYPE_UINT8";
    case CV_DTYPE_UINT16: return "TYPE_UINT16";
    case CV_DTYPE_UINT32: return "TYPE_UINT32";
    case CV_DTYPE_UINT64: return "TYPE_UINT64";
    case CV_DTYPE_INT8: return "TYPE_INT8";
    case CV_DTYPE_INT16: return "TYPE_INT16";
    case CV_DTYPE_INT32: return "TYPE_INT32";
    case CV_DTYPE_INT64: return "TYPE_INT64";
    case CV_DTYPE_FP16: return "TYPE_FP16";
    case CV_DTYPE_FP32: return "TYPE_FP32";
    case CV_DTYPE_FP64: return "TYPE_FP64";
    case CV_DTYPE_BF16: return "TYPE_BF16";
    case CV_DTYPE_STRING: return "TYPE_STRING";
    case CV_DTYPE_UNDEFINED: break;
    }
    return "TYPE_INVALID";
}

char *cv_codec_error_body(const char *msg, size_t *len)
{
    cv_sbuf_t b = {0};
    cv_sbuf_puts(&b, "{\"error\":");
    cv_sbuf_json_string(&b, msg);
    cv_sbuf_puts(&b, "}");
    return cv_sbuf_take(&b, len);
}

/* ---- request header -------------------------------------------------------- */

static char *shape_text(const cv_shape_t *s, char *buf, size_t len) { return cv_shape_str(s, buf, len); }

/* Elements and bytes of dtype x shape; false on overflow. */
static bool tensor_bytes(cv_dtype_t dtype, const cv_shape_t *s, size_t *numel, size_t *bytes)
{
    size_t n = 1;
    for (int d = 0; d < s->ndim; d++)
        if (s->dims[d] < 0 || __builtin_mul_overflow(n, (size_t)s->dims[d], &n)) return false;
    size_t b;
    if (__builtin_mul_overflow(n, cv_dtype_size(dtype), &b)) return false;
    *numel = n;
    *bytes = b;
    return true;
}

void cv_infer_header_free(cv_infer_header_t *h)
{
    json_decref(h->root);
    cv_free(h->outputs);
    cv_free(h->segments);
    cv_free(h->data);
    memset(h, 0, sizeof(*h));
}

/* Reads an unsigned integer parameter (JSON integer >= 0). */
static cv_status uint_parameter(const json_t *v, const char *name, int64_t *out, cv_err_t *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "parameter '%s' must be an unsigned integer", name);
    *out = (int64_t)json_integer_value(v);
    return CV_STATUS_OK;
}

static cv_status decode_parameters(const json_t *params, cv_infer_header_t *h, bool *binary_output, cv_err_t *err)
{
    if (!params) return CV_STATUS_OK;
    if (!json_is_object(params))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "\"parameters\" must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        int64_t n = 0;
        if (!strcmp(key, "priority")) {
            if (uint_parameter(v, key, &n, err) != CV_STATUS_OK) return CV_STATUS_INVALID_ARGUMENT;
            h->has_priority = n > 0;
            h->priority = n;
        } else if (!strcmp(key, "timeout")) {
            if (uint_parameter(v, key, &n, err) != CV_STATUS_OK) return CV_STATUS_INVALID_ARGUMENT;
            h->has_timeout = n > 0;
            h->timeout_us = n;
        } else if (!strcmp(key, "binary_data_output")) {
            if (!json_is_boolean(v))
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "parameter 'binary_data_output' must be a boolean");
            *binary_output = json_is_true(v);
        }
        /* Other parameters have no meaning here; the protocol lets a
         * server ignore them. */
    }
    return CV_STATUS_OK;
}

/* Checks one input's declared shape against the model's and settles the
 * request's rows from it. */
static cv_status check_shape(const cv_model_sig_t *sig, int index, const cv_shape_t *shape, cv_infer_header_t *h,
                             cv_err_t *err)
{
    const cv_io_desc_t *in = &sig->inputs[index];
    char got[128], want[128];
    bool ok = shape->ndim == in->shape.ndim;
    for (int d = sig->batched ? 1 : 0; ok && d < shape->ndim; d++) ok = shape->dims[d] == in->shape.dims[d];
    if (!ok)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s': shape %s, the model takes %s", in->name,
                         shape_text(shape, got, sizeof got), shape_text(&in->shape, want, sizeof want));
    int64_t rows = sig->batched ? shape->dims[0] : 1;
    if (rows < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s': shape %s has no rows", in->name,
                         shape_text(shape, got, sizeof got));
    if (rows > sig->max_rows)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "input '%s': %lld rows, more than the model takes in one request (max_batch_size %lld)",
                         in->name, (long long)rows, (long long)sig->max_rows);
    if (h->rows && rows != h->rows)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "input '%s': %lld rows, but another input has %lld (the batch axis must agree)", in->name,
                         (long long)rows, (long long)h->rows);
    h->rows = rows;
    return CV_STATUS_OK;
}

static cv_status decode_input(const json_t *item, const cv_model_sig_t *sig, bool binary_follows,
                              cv_infer_header_t *h, cv_err_t *err)
{
    if (!json_is_object(item))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "each of \"inputs\" must be a JSON object");
    const json_t *name = json_object_get(item, "name"), *datatype = json_object_get(item, "datatype");
    const json_t *shape = json_object_get(item, "shape"), *data = json_object_get(item, "data");
    const json_t *params = json_object_get(item, "parameters");
    if (!json_is_string(name)) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "an input has no \"name\" string");
    const char *n = json_string_value(name);
    int index = cv_model_sig_input(sig, n);
    if (index < 0) {
        cv_sbuf_t known = {0};
        for (int i = 0; i < sig->ninputs; i++) {
            if (i) cv_sbuf_puts(&known, ", ");
            cv_sbuf_puts(&known, sig->inputs[i].name);
        }
        cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "unknown input '%.128s' (the model's inputs: %.256s)", n,
                  known.data && !known.failed ? known.data : "none");
        cv_sbuf_free(&known);
        return CV_STATUS_INVALID_ARGUMENT;
    }
    const cv_io_desc_t *in = &sig->inputs[index];
    bool twice = h->data[index] != NULL;
    for (int k = 0; k < h->nsegments; k++) twice |= h->segments[k].input == index;
    if (twice) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s' is given twice", in->name);
    if (!json_is_string(datatype))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s' has no \"datatype\" string", in->name);
    cv_dtype_t dtype = cv_codec_dtype_parse(json_string_value(datatype));
    if (dtype == CV_DTYPE_UNDEFINED && strcmp(json_string_value(datatype), "BYTES") != 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s': unknown datatype '%.32s'", in->name,
                         json_string_value(datatype));
    if (dtype != in->dtype)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s': datatype %.32s, the model takes %s", in->name,
                         json_string_value(datatype), cv_codec_dtype_name(in->dtype));
    if (!json_is_array(shape) || json_array_size(shape) > CV_MAX_DIMS)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s': \"shape\" must be an array of at most %d integers",
                         in->name, CV_MAX_DIMS);
    cv_shape_t s = {.ndim = (int)json_array_size(shape)};
    for (int d = 0; d < s.ndim; d++) {
        const json_t *dim = json_array_get(shape, (size_t)d);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s': \"shape\" must hold integers >= 0",
                             in->name);
        s.dims[d] = json_integer_value(dim);
    }
    cv_status st = check_shape(sig, index, &s, h, err);
    if (st != CV_STATUS_OK) return st;

    const json_t *binary_size = NULL;
    if (params) {
        if (!json_is_object(params))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s': \"parameters\" must be a JSON object",
                             in->name);
        binary_size = json_object_get(params, "binary_data_size");
    }
    size_t numel, bytes;
    if (!tensor_bytes(dtype, &s, &numel, &bytes))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s': too large", in->name);
    if (binary_size) {
        if (data)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "input '%s' has both \"data\" and a binary_data_size parameter", in->name);
        if (!binary_follows)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "input '%s' has a binary_data_size parameter, but the request has no binary data "
                             "(no Inference-Header-Content-Length header)",
                             in->name);
        if (!json_is_integer(binary_size) || json_integer_value(binary_size) < 0 ||
            (unsigned long long)json_integer_value(binary_size) != (unsigned long long)bytes)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "input '%s': binary_data_size must be %zu (%zu %s values), not %s", in->name, bytes, numel,
                             cv_codec_dtype_name(dtype), json_is_integer(binary_size) ? "that" : "a non-integer");
        cv_infer_segment_t *grown = cv_realloc(h->segments, sizeof(*grown) * (size_t)(h->nsegments + 1));
        if (!grown) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory decoding the request");
        h->segments = grown;
        h->segments[h->nsegments++] = (cv_infer_segment_t){.input = index, .bytes = bytes};
        h->binary_bytes += bytes;
        return CV_STATUS_OK;
    }
    if (!json_is_array(data))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "input '%s' needs \"data\" (an array) or a binary_data_size parameter", in->name);
    if (dtype == CV_DTYPE_BF16)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "input '%s': BF16 travels only as binary data (the binary tensor extension)", in->name);
    h->data[index] = (json_t *)data;
    return CV_STATUS_OK;
}

static cv_status decode_outputs(const json_t *outputs, const cv_model_sig_t *sig, bool binary_output,
                                cv_infer_header_t *h, cv_err_t *err)
{
    if (!outputs) {
        h->outputs = cv_calloc((size_t)sig->noutputs + 1, sizeof(*h->outputs));
        if (!h->outputs) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory decoding the request");
        for (int o = 0; o < sig->noutputs; o++) h->outputs[o] = (cv_infer_output_t){o, binary_output};
        h->noutputs = sig->noutputs;
        return CV_STATUS_OK;
    }
    if (!json_is_array(outputs))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "\"outputs\" must be an array");
    size_t n = json_array_size(outputs);
    if (n > (size_t)sig->noutputs)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%zu outputs asked for, the model has %d", n,
                         sig->noutputs);
    h->outputs = cv_calloc(n + 1, sizeof(*h->outputs));
    if (!h->outputs) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory decoding the request");
    for (size_t k = 0; k < n; k++) {
        const json_t *item = json_array_get(outputs, k);
        const json_t *name = json_is_object(item) ? json_object_get(item, "name") : NULL;
        if (!json_is_string(name))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "each of \"outputs\" must be an object with a \"name\"");
        int index = cv_model_sig_output(sig, json_string_value(name));
        if (index < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "unknown output '%.128s'", json_string_value(name));
        for (int j = 0; j < h->noutputs; j++)
            if (h->outputs[j].index == index)
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "output '%s' is asked for twice",
                                 sig->outputs[index].name);
        bool binary = binary_output;
        const json_t *params = json_object_get(item, "parameters");
        if (params) {
            if (!json_is_object(params))
                return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "output '%s': \"parameters\" must be a JSON object",
                                 sig->outputs[index].name);
            const json_t *b = json_object_get(params, "binary_data");
            if (b) {
                if (!json_is_boolean(b))
                    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                                     "output '%s': parameter binary_data must be a boolean", sig->outputs[index].name);
                binary = json_is_true(b);
            }
            const json_t *c = json_object_get(params, "classification");
            if (c && !(json_is_integer(c) && json_integer_value(c) == 0))
                return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                                 "output '%s': classification outputs are not supported", sig->outputs[index].name);
        }
        h->outputs[h->noutputs++] = (cv_infer_output_t){index, binary};
    }
    return CV_STATUS_OK;
}

/* jansson's integers are int64: a UINT64 value above 2^63-1 would fail
 * the whole request. Such literals are rewritten as strings marked with
 * BIG_INTEGER (which put_value reads back for UINT64 inputs; anywhere else
 * a string is refused as it would be), and the text parsed again. Only
 * done after a parse failed on one, so ordinary requests pay nothing. */
#define BIG_INTEGER "\x01u64:"
static json_t *load_with_big_integers(const char *json, size_t len, json_error_t *jerr)
{
    cv_sbuf_t b = {0};
    size_t i = 0, run = 0;
    while (i < len) {
        char ch = json[i];
        if (ch == '"') { /* skip a string, escapes included */
            for (i++; i < len && json[i] != '"'; i++)
                if (json[i] == '\\') i++;
            i++;
            continue;
        }
        bool starts = (ch >= '0' && ch <= '9') && (i == 0 || !strchr("0123456789.eE+-", json[i - 1]));
        if (!starts) {
            i++;
            continue;
        }
        size_t end = i;
        while (end < len && json[end] >= '0' && json[end] <= '9') end++;
        bool integer = end == len || !strchr(".eE", json[end]);
        bool big = integer && (end - i > 19 || (end - i == 19 && memcmp(json + i, "9223372036854775807", 19) > 0));
        if (big && end - i <= 20) {
            cv_sbuf_append(&b, json + run, i - run);
            cv_sbuf_puts(&b, "\"\\u0001u64:");
            cv_sbuf_append(&b, json + i, end - i);
            cv_sbuf_puts(&b, "\"");
            run = end;
        }
        i = end;
    }
    cv_sbuf_append(&b, json + run, len - run);
    size_t n = 0;
    char *text = cv_sbuf_take(&b, &n);
    if (!text) return NULL;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, jerr);
    cv_free(text);
    return root;
}

cv_status cv_infer_header_decode(const char *json, size_t len, const cv_model_sig_t *sig, bool binary_follows,
                                 cv_infer_header_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!sig->by_rows)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "the model has inputs with variable dims beyond the batch axis, which the server cannot "
                         "make requests of");
    json_error_t jerr;
    out->root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!out->root && strstr(jerr.text, "too big integer")) out->root = load_with_big_integers(json, len, &jerr);
    if (!out->root)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "malformed JSON in the request (line %d, column %d: %s)",
                         jerr.line, jerr.column, jerr.text);
    cv_status st = CV_STATUS_OK;
    bool binary_output = false;
    out->data = cv_calloc((size_t)sig->ninputs + 1, sizeof(json_t *));
    if (!out->data) {
        st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory decoding the request");
        goto fail;
    }
    if (!json_is_object(out->root)) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the request must be a JSON object");
        goto fail;
    }
    const json_t *id = json_object_get(out->root, "id");
    if (id && !json_is_string(id)) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "\"id\" must be a string");
        goto fail;
    }
    out->id = id ? json_string_value(id) : NULL;
    st = decode_parameters(json_object_get(out->root, "parameters"), out, &binary_output, err);
    if (st != CV_STATUS_OK) goto fail;

    const json_t *inputs = json_object_get(out->root, "inputs");
    if (!json_is_array(inputs)) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the request needs an \"inputs\" array");
        goto fail;
    }
    size_t n = json_array_size(inputs);
    if (n > (size_t)sig->ninputs) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%zu inputs given, the model takes %d", n, sig->ninputs);
        goto fail;
    }
    for (size_t k = 0; k < n && st == CV_STATUS_OK; k++)
        st = decode_input(json_array_get(inputs, k), sig, binary_follows, out, err);
    if (st != CV_STATUS_OK) goto fail;
    for (int i = 0; i < sig->ninputs; i++) {
        bool given = out->data[i] != NULL;
        for (int k = 0; k < out->nsegments; k++) given |= out->segments[k].input == i;
        if (!given) {
            st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s' is missing", sig->inputs[i].name);
            goto fail;
        }
    }
    if (!out->rows) out->rows = 1; /* a model without inputs */
    st = decode_outputs(json_object_get(out->root, "outputs"), sig, binary_output, out, err);
    if (st != CV_STATUS_OK) goto fail;
    return CV_STATUS_OK;
fail:
    cv_infer_header_free(out);
    return st;
}

/* ---- JSON data into tensors ------------------------------------------------ */

typedef struct fill {
    const char *name;
    cv_tensor_t *t;
    size_t numel, at;
    int max_depth;
    cv_err_t *err;
} fill_t;

static cv_status put_value(fill_t *f, const json_t *v)
{
    if (f->at >= f->numel)
        return cv_errorf(f->err, CV_STATUS_INVALID_ARGUMENT, "input '%s': more values in \"data\" than its shape holds (%zu)",
                         f->name, f->numel);
    void *p = (char *)f->t->data + f->at * cv_dtype_size(f->t->dtype);
    cv_dtype_t dt = f->t->dtype;
    if (dt == CV_DTYPE_FP32 || dt == CV_DTYPE_FP64 || dt == CV_DTYPE_FP16) {
        if (!json_is_number(v))
            return cv_errorf(f->err, CV_STATUS_INVALID_ARGUMENT, "input '%s': value %zu is not a number", f->name, f->at);
        double d = json_number_value(v);
        if (dt == CV_DTYPE_FP32) *(float *)p = (float)d;
        else if (dt == CV_DTYPE_FP64) *(double *)p = d;
        else *(uint16_t *)p = cv_fp32_to_fp16((float)d);
    } else if (dt == CV_DTYPE_BOOL) {
        if (!json_is_boolean(v))
            return cv_errorf(f->err, CV_STATUS_INVALID_ARGUMENT, "input '%s': value %zu is not true or false", f->name,
                             f->at);
        *(uint8_t *)p = json_is_true(v) ? 1 : 0;
    } else if (dt == CV_DTYPE_UINT64 && json_is_string(v) &&
               !strncmp(json_string_value(v), BIG_INTEGER, strlen(BIG_INTEGER))) {
        const char *digits = json_string_value(v) + strlen(BIG_INTEGER);
        char *end;
        errno = 0;
        unsigned long long u = strtoull(digits, &end, 10);
        if (errno || *end || !*digits)
            return cv_errorf(f->err, CV_STATUS_INVALID_ARGUMENT, "input '%s': value %zu is out of UINT64's range",
                             f->name, f->at);
        *(uint64_t *)p = u;
    } else {
        if (!json_is_integer(v))
            return cv_errorf(f->err, CV_STATUS_INVALID_ARGUMENT, "input '%s': value %zu is not an integer", f->name,
                             f->at);
        long long i = json_integer_value(v);
        long long lo = 0, hi = 0;
        switch (dt) {
        case CV_DTYPE_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
        case CV_DTYPE_INT16: lo = INT16_MIN, hi = INT16_MAX; break;
        case CV_DTYPE_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
        case CV_DTYPE_INT64: lo = INT64_MIN, hi = INT64_MAX; break;
        case CV_DTYPE_UINT8: hi = UINT8_MAX; break;
        case CV_DTYPE_UINT16: hi = UINT16_MAX; break;
        case CV_DTYPE_UINT32: hi = UINT32_MAX; break;
        case CV_DTYPE_UINT64: hi = INT64_MAX; break; /* JSON integers here stop at 2^63-1 */
        default:
            return cv_errorf(f->err, CV_STATUS_INVALID_ARGUMENT, "input '%s': %s cannot travel as JSON", f->name,
                             cv_codec_dtype_name(dt));
        }
        if (i < lo || i > hi)
            return cv_errorf(f->err, CV_STATUS_INVALID_ARGUMENT, "input '%s': value %zu (%lld) is out of %s's range",
                             f->name, f->at, i, cv_codec_dtype_name(dt));
        switch (dt) {
        case CV_DTYPE_INT8: *(int8_t *)p = (int8_t)i; break;
        case CV_DTYPE_INT16: *(int16_t *)p = (int16_t)i; break;
        case CV_DTYPE_INT32: *(int32_t *)p = (int32_t)i; break;
        case CV_DTYPE_INT64: *(int64_t *)p = (int64_t)i; break;
        case CV_DTYPE_UINT8: *(uint8_t *)p = (uint8_t)i; break;
        case CV_DTYPE_UINT16: *(uint16_t *)p = (uint16_t)i; break;
        case CV_DTYPE_UINT32: *(uint32_t *)p = (uint32_t)i; break;
        default: *(uint64_t *)p = (uint64_t)i; break;
        }
    }
    f->at++;
    return CV_STATUS_OK;
}

/* Walks "data" depth first; nesting deeper than the tensor's rank is
 * refused (it also bounds the recursion). */
static cv_status put_values(fill_t *f, const json_t *v, int depth)
{
    if (!json_is_array(v)) return put_value(f, v);
    if (depth >= f->max_depth)
        return cv_errorf(f->err, CV_STATUS_INVALID_ARGUMENT, "input '%s': \"data\" is nested deeper than its shape",
                         f->name);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        cv_status st = put_values(f, item, depth + 1);
        if (st != CV_STATUS_OK) return st;
    }
    return CV_STATUS_OK;
}

cv_status cv_infer_fill_json(const cv_infer_header_t *h, const cv_model_sig_t *sig, cv_tensor_t *const *inputs,
                             cv_err_t *err)
{
    for (int i = 0; i < sig->ninputs; i++) {
        if (!h->data[i]) continue;
        cv_tensor_t *t = inputs[i];
        fill_t f = {.name = sig->inputs[i].name, .t = t, .err = err};
        f.numel = (size_t)cv_shape_numel(&t->shape);
        f.max_depth = t->shape.ndim > 1 ? t->shape.ndim : 1;
        cv_status st = put_values(&f, h->data[i], 0);
        if (st != CV_STATUS_OK) return st;
        if (f.at != f.numel)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s': %zu values in \"data\", its shape holds %zu",
                             f.name, f.at, f.numel);
    }
    return CV_STATUS_OK;
}

/* ---- the body decoder ------------------------------------------------------- */

static cv_status body_fail(cv_infer_body_t *b, cv_status st, const cv_err_t *err)
{
    if (b->failed == CV_STATUS_OK) {
        b->failed = st;
        b->err = *err;
    }
    return b->failed;
}

static cv_status body_failf(cv_infer_body_t *b, cv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cv_status body_failf(cv_infer_body_t *b, cv_status st, const char *fmt, ...)
{
    cv_err_t e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    return body_fail(b, st, &e);
}

static cv_status body_result(cv_infer_body_t *b, cv_err_t *err)
{
    if (b->failed != CV_STATUS_OK && err) *err = b->err;
    return b->failed;
}

bool cv_codec_parse_size(const char *s, size_t *out)
{
    if (!s || !*s) return false;
    size_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        if (v > (SIZE_MAX - 9) / 10) return false;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return true;
}

cv_status cv_infer_body_init(cv_infer_body_t *b, const cv_model_sig_t *sig, const char *header_length,
                             size_t content_length, size_t max_bytes, cv_infer_inputs_fn make_inputs, void *user,
                             cv_err_t *err)
{
    memset(b, 0, sizeof(*b));
    b->sig = sig;
    b->content_length = content_length;
    b->max_bytes = max_bytes;
    b->make_inputs = make_inputs;
    b->user = user;
    b->header_len = CV_CODEC_UNKNOWN;
    if (content_length != CV_CODEC_UNKNOWN && content_length > max_bytes)
        body_failf(b, CV_STATUS_INVALID_ARGUMENT, "the request body (%zu bytes) is over the limit of %zu bytes",
                   content_length, max_bytes);
    if (header_length) {
        size_t v;
        if (!cv_codec_parse_size(header_length, &v) || (content_length != CV_CODEC_UNKNOWN && v > content_length) ||
            v > max_bytes) {
            cv_err_t e;
            cv_errorf(&e, CV_STATUS_INVALID_ARGUMENT,
                      "Inference-Header-Content-Length '%.32s' is not an integer in [0, Content-Length]",
                      header_length);
            body_fail(b, CV_STATUS_INVALID_ARGUMENT, &e);
        } else if (v > 0) {
            b->header_len = v; /* 0: the whole body is JSON */
        }
    }
    return body_result(b, err);
}

/* The header is complete: decode it, get the inputs, write the JSON data. */
static cv_status body_decode(cv_infer_body_t *b)
{
    cv_err_t e;
    bool binary_follows = b->header_len != CV_CODEC_UNKNOWN;
    cv_status st = cv_infer_header_decode(b->json ? b->json : "", b->json_len, b->sig, binary_follows, &b->header, &e);
    if (st != CV_STATUS_OK) return body_fail(b, st, &e);
    b->decoded = true;
    if (b->content_length != CV_CODEC_UNKNOWN && binary_follows &&
        b->content_length - b->header_len != b->header.binary_bytes)
        return body_failf(b, CV_STATUS_INVALID_ARGUMENT,
                          "the body holds %zu bytes of binary data after its JSON header, the inputs declare %zu",
                          b->content_length - b->header_len, b->header.binary_bytes);
    b->inputs = cv_calloc((size_t)b->sig->ninputs + 1, sizeof(cv_tensor_t *));
    if (!b->inputs) return body_failf(b, CV_STATUS_OUT_OF_MEMORY, "out of memory decoding the request");
    st = b->make_inputs(b->user, &b->header, b->inputs, &e);
    if (st != CV_STATUS_OK) return body_fail(b, st, &e);
    /* The tensors must be what the header declared, so that the binary
     * data cannot run past them. */
    for (int k = 0; k < b->header.nsegments; k++) {
        const cv_tensor_t *t = b->inputs[b->header.segments[k].input];
        if (!t || !t->data || t->dtype != b->sig->inputs[b->header.segments[k].input].dtype ||
            cv_tensor_nbytes(t) != b->header.segments[k].bytes)
            return body_failf(b, CV_STATUS_INTERNAL, "input '%s': the request buffer does not match its %zu bytes",
                              b->sig->inputs[b->header.segments[k].input].name, b->header.segments[k].bytes);
    }
    for (int i = 0; i < b->sig->ninputs; i++) {
        const cv_tensor_t *t = b->inputs[i];
        if (b->header.data[i] && (!t || !t->data || t->dtype != b->sig->inputs[i].dtype))
            return body_failf(b, CV_STATUS_INTERNAL, "input '%s': no request buffer", b->sig->inputs[i].name);
    }
    st = cv_infer_fill_json(&b->header, b->sig, b->inputs, &e);
    if (st != CV_STATUS_OK) return body_fail(b, st, &e);
    while (b->segment < b->header.nsegments && b->header.segments[b->segment].bytes == 0) b->segment++;
    return CV_STATUS_OK;
}

cv_status cv_infer_body_feed(cv_infer_body_t *b, const void *data, size_t len, cv_err_t *err)
{
    const char *p = data;
    if (len > SIZE_MAX - b->received) b->received = SIZE_MAX;
    else b->received += len;
    if (b->failed != CV_STATUS_OK) return body_result(b, err);
    if (b->received > b->max_bytes) {
        body_failf(b, CV_STATUS_INVALID_ARGUMENT, "the request body is over the limit of %zu bytes", b->max_bytes);
        return body_result(b, err);
    }
    while (len > 0 && b->failed == CV_STATUS_OK) {
        if (!b->decoded) {
            size_t want = b->header_len == CV_CODEC_UNKNOWN ? len : CV_MIN(len, b->header_len - b->json_len);
            if (b->json_len + want + 1 > b->json_cap) {
                size_t cap = b->json_cap ? b->json_cap : 4096;
                while (cap < b->json_len + want + 1) cap *= 2;
                char *fresh = cv_realloc(b->json, cap);
                if (!fresh) {
                    body_failf(b, CV_STATUS_OUT_OF_MEMORY, "out of memory reading the request");
                    break;
                }
                b->json = fresh;
                b->json_cap = cap;
            }
            memcpy(b->json + b->json_len, p, want);
            b->json_len += want;
            b->json[b->json_len] = 0;
            p += want;
            len -= want;
            if (b->header_len != CV_CODEC_UNKNOWN && b->json_len == b->header_len) body_decode(b);
            continue;
        }
        if (b->segment >= b->header.nsegments) {
            body_failf(b, CV_STATUS_INVALID_ARGUMENT, "the body holds more binary data than the inputs declare (%zu bytes)",
                       b->header.binary_bytes);
            break;
        }
        const cv_infer_segment_t *seg = &b->header.segments[b->segment];
        size_t n = CV_MIN(len, seg->bytes - b->segment_at);
        memcpy((char *)b->inputs[seg->input]->data + b->segment_at, p, n);
        b->segment_at += n;
        p += n;
        len -= n;
        if (b->segment_at == seg->bytes) {
            b->segment++;
            b->segment_at = 0;
            while (b->segment < b->header.nsegments && b->header.segments[b->segment].bytes == 0) b->segment++;
        }
    }
    return body_result(b, err);
}

cv_status cv_infer_body_finish(cv_infer_body_t *b, cv_err_t *err)
{
    if (b->failed == CV_STATUS_OK && !b->decoded) {
        if (b->header_len == CV_CODEC_UNKNOWN)
            body_decode(b);
        else
            body_failf(b, CV_STATUS_INVALID_ARGUMENT, "the body ended inside its JSON header (%zu of %zu bytes)",
                       b->json_len, b->header_len);
    }
    if (b->failed == CV_STATUS_OK && b->segment < b->header.nsegments) {
        size_t got = b->segment_at;
        for (int k = 0; k < b->segment; k++) got += b->header.segments[k].bytes;
        body_failf(b, CV_STATUS_INVALID_ARGUMENT, "the body ended inside its binary data (%zu of %zu bytes)", got,
                   b->header.binary_bytes);
    }
    return body_result(b, err);
}

void cv_infer_body_free(cv_infer_body_t *b)
{
    cv_infer_header_free(&b->header);
    cv_free(b->inputs);
    cv_free(b->json);
    b->inputs = NULL;
    b->json = NULL;
}

/* ---- responses -------------------------------------------------------------- */

/* The shortest decimal that reads back as the same float (or double). */
static void put_real(cv_sbuf_t *b, double v, bool single)
{
    if (isnan(v)) {
        cv_sbuf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        cv_sbuf_puts(b, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    char s[40];
    for (int p = single ? 6 : 15; p <= (single ? 9 : 17); p++) {
        snprintf(s, sizeof s, "%.*g", p, v);
        if (single ? strtof(s, NULL) == (float)v : strtod(s, NULL) == v) break;
    }
    cv_sbuf_puts(b, s);
}

static void put_data(cv_sbuf_t *b, const cv_tensor_t *t)
{
    size_t n = (size_t)cv_shape_numel(&t->shape);
    const void *d = t->data;
    cv_sbuf_append(b, "[", 1);
    for (size_t i = 0; i < n && !b->failed; i++) {
        if (i) cv_sbuf_append(b, ",", 1);
        switch (t->dtype) {
        case CV_DTYPE_FP32: put_real(b, ((const float *)d)[i], true); break;
        case CV_DTYPE_FP64: put_real(b, ((const double *)d)[i], false); break;
        case CV_DTYPE_FP16: put_real(b, cv_fp16_to_fp32(((const uint16_t *)d)[i]), true); break;
        case CV_DTYPE_BOOL: cv_sbuf_puts(b, ((const uint8_t *)d)[i] ? "true" : "false"); break;
        case CV_DTYPE_INT8: cv_sbuf_printf(b, "%d", ((const int8_t *)d)[i]); break;
        case CV_DTYPE_INT16: cv_sbuf_printf(b, "%d", ((const int16_t *)d)[i]); break;
        case CV_DTYPE_INT32: cv_sbuf_printf(b, "%d", ((const int32_t *)d)[i]); break;
        case CV_DTYPE_INT64: cv_sbuf_printf(b, "%lld", (long long)((const int64_t *)d)[i]); break;
        case CV_DTYPE_UINT8: cv_sbuf_printf(b, "%u", ((const uint8_t *)d)[i]); break;
        case CV_DTYPE_UINT16: cv_sbuf_printf(b, "%u", ((const uint16_t *)d)[i]); break;
        case CV_DTYPE_UINT32: cv_sbuf_printf(b, "%u", ((const uint32_t *)d)[i]); break;
        case CV_DTYPE_UINT64: cv_sbuf_printf(b, "%llu", (unsigned long long)((const uint64_t *)d)[i]); break;
        default: cv_sbuf_puts(b, "null"); break; /* not reached: such outputs go binary */
        }
    }
    cv_sbuf_append(b, "]", 1);
}

void cv_infer_response_free(cv_infer_response_t *r)
{
    cv_free(r->json);
    memset(r, 0, sizeof(*r));
}

cv_status cv_infer_encode(const cv_infer_header_t *h, const cv_model_sig_t *sig, const char *model,
                          const char *version, const cv_tensor_t *const *outputs, cv_infer_response_t *out,
                          cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    cv_sbuf_t b = {0};
    cv_sbuf_puts(&b, "{\"model_name\":");
    cv_sbuf_json_string(&b, model);
    cv_sbuf_puts(&b, ",\"model_version\":");
    cv_sbuf_json_string(&b, version);
    if (h->id) {
        cv_sbuf_puts(&b, ",\"id\":");
        cv_sbuf_json_string(&b, h->id);
    }
    cv_sbuf_puts(&b, ",\"outputs\":[");
    for (int k = 0; k < h->noutputs; k++) {
        int o = h->outputs[k].index;
        const cv_tensor_t *t = outputs[o];
        /* Only what JSON can carry goes as JSON. */
        bool binary = h->outputs[k].binary || t->dtype == CV_DTYPE_BF16 || t->dtype == CV_DTYPE_STRING ||
                      t->dtype == CV_DTYPE_UNDEFINED;
        if (k) cv_sbuf_append(&b, ",", 1);
        cv_sbuf_puts(&b, "{\"name\":");
        cv_sbuf_json_string(&b, sig->outputs[o].name);
        cv_sbuf_printf(&b, ",\"datatype\":\"%s\",\"shape\":[", cv_codec_dtype_name(t->dtype));
        for (int d = 0; d < t->shape.ndim; d++) cv_sbuf_printf(&b, d ? ",%lld" : "%lld", (long long)t->shape.dims[d]);
        cv_sbuf_append(&b, "]", 1);
        if (binary) {
            if (out->nparts == CV_CODEC_MAX_PARTS) {
                cv_sbuf_free(&b);
                return cv_errorf(err, CV_STATUS_UNSUPPORTED, "more than %d binary outputs in one response",
                                 CV_CODEC_MAX_PARTS);
            }
            size_t bytes = cv_tensor_nbytes(t);
            cv_sbuf_printf(&b, ",\"parameters\":{\"binary_data_size\":%zu}}", bytes);
            out->parts[out->nparts].data = t->data;
            out->parts[out->nparts].bytes = bytes;
            out->nparts++;
        } else {
            /* No "parameters" on a JSON output: the C++ client would then
             * look for binary_data_size in it. */
            cv_sbuf_puts(&b, ",\"data\":");
            put_data(&b, t);
            cv_sbuf_append(&b, "}", 1);
        }
    }
    cv_sbuf_puts(&b, "]}");
    out->json = cv_sbuf_take(&b, &out->json_len);
    if (!out->json) {
        out->nparts = 0;
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory encoding the response");
    }
    return CV_STATUS_OK;
}
