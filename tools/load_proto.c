/*
 * load_proto.c: the KServe v2 bodies `caravel load` makes and reads (see
 * load_proto.h). Untrusted input here is a server's answer: every member
 * is checked for its type before use, and sizes are bounded before any
 * multiplication can overflow.
 */
#include "load_proto.h"

#include "core/core.h"
#include "drive_stats.h"
#include "ir/tensor.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the server ------------------------------------------------------ */

cv_status cv_load_parse_url(const char *url, char *base, size_t len, cv_err_t *err)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "--url must be http://HOST[:PORT], not '%s'", url);
    const char *host = url + sizeof scheme - 1;
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '/') n--;
    bool bad = n == 0 || host[0] == ':';
    for (size_t i = 0; i < n && !bad; i++) {
        char c = host[i];
        /* Host names, IPv4 and bracketed IPv6 addresses, and a port. */
        bad = !(isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_');
    }
    const char *colon = NULL, *bracket = NULL;
    for (size_t i = 0; i < n; i++) {
        if (host[i] == ':') colon = host + i;
        if (host[i] == ']') bracket = host + i;
    }
    if (!bad && colon && (!bracket || colon > bracket)) {
        /* A port: decimal, 1 to 65535. */
        size_t digits = n - (size_t)(colon - host) - 1;
        long port = 0;
        bad = digits == 0 || digits > 5;
        for (size_t i = 1; i <= digits && !bad; i++) {
            bad = !isdigit((unsigned char)colon[i]);
            port = port * 10 + (colon[i] - '0');
        }
        bad = bad || port < 1 || port > 65535;
    }
    if (bad)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "--url must be http://HOST[:PORT] (no path), not '%s'", url);
    if (sizeof scheme - 1 + n + 1 > len)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "--url '%s' is too long", url);
    memcpy(base, url, sizeof scheme - 1 + n);
    base[sizeof scheme - 1 + n] = '\0';
    return CV_STATUS_OK;
}

/* ---- model metadata ---------------------------------------------------- */

size_t cv_load_dtype_size(const char *datatype)
{
    static const struct {
        const char *name;
        size_t size;
    } types[] = {
        {"BOOL", 1},  {"UINT8", 1}, {"INT8", 1},  {"UINT16", 2}, {"INT16", 2}, {"FP16", 2}, {"BF16", 2},
        {"UINT32", 4}, {"INT32", 4}, {"FP32", 4}, {"UINT64", 8}, {"INT64", 8}, {"FP64", 8},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(types); i++)
        if (!strcmp(datatype, types[i].name)) return types[i].size;
    return 0;
}

void cv_load_model_free(cv_load_model_t *m)
{
    for (int i = 0; i < m->ninputs; i++) cv_free(m->inputs[i].name);
    cv_free(m->inputs);
    cv_free(m->name);
    memset(m, 0, sizeof(*m));
}

/* One metadata input into *in (its name allocated). */
static cv_status parse_input(const json_t *j, int index, int64_t rows, cv_load_input_t *in, cv_err_t *err)
{
    const json_t *name = json_object_get(j, "name"), *dt = json_object_get(j, "datatype"),
                 *shape = json_object_get(j, "shape");
    if (!json_is_object(j) || !json_is_string(name) || !json_is_string(dt) || !json_is_array(shape))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "input %d of the metadata needs a \"name\", a \"datatype\" and a \"shape\"", index);
    const char *n = json_string_value(name), *d = json_string_value(dt);
    if (!strcmp(d, "BYTES"))
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "input '%s' is BYTES, which caravel load does not make", n);
    in->elem_size = cv_load_dtype_size(d);
    if (in->elem_size == 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "input '%s' has an unknown datatype '%.16s'", n, d);
    snprintf(in->datatype, sizeof in->datatype, "%s", d);
    size_t rank = json_array_size(shape);
    if (rank > CV_LOAD_MAX_DIMS)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "input '%s' has %zu dimensions (at most %d)", n, rank,
                         CV_LOAD_MAX_DIMS);
    in->rank = (int)rank;
    size_t elements = 1;
    for (size_t k = 0; k < rank; k++) {
        const json_t *dim = json_array_get(shape, k);
        json_int_t v = json_is_integer(dim) ? json_integer_value(dim) : -2;
        if (v < -1)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "input '%s': dimension %zu of its shape is not an integer >= -1", n, k);
        in->shape[k] = v != -1 ? (int64_t)v : k == 0 ? rows : 1;
        /* Bounded before multiplying, so that the product cannot wrap. */
        if (in->shape[k] > 0 && elements > CV_LOAD_MAX_BODY / (size_t)in->shape[k])
            return cv_errorf(err, CV_STATUS_UNSUPPORTED, "input '%s' is larger than %zu bytes", n,
                             CV_LOAD_MAX_BODY);
        elements *= (size_t)in->shape[k];
    }
    if (elements > CV_LOAD_MAX_BODY / in->elem_size)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "input '%s' is larger than %zu bytes", n, CV_LOAD_MAX_BODY);
    in->bytes = elements * in->elem_size;
    in->name = cv_strdup(n);
    if (!in->name) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the metadata");
    return CV_STATUS_OK;
}

cv_status cv_load_parse_metadata(const char *json, size_t len, int64_t rows, cv_load_model_t *out, cv_err_t *err)
{
    CV_ASSERT(rows >= 1);
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the metadata is not JSON: %s", jerr.text);
    cv_status st = CV_STATUS_OK;
    const json_t *name = json_object_get(root, "name"), *inputs = json_object_get(root, "inputs"),
                 *outputs = json_object_get(root, "outputs");
    if (!json_is_object(root) || !json_is_string(name) || !json_is_array(inputs)) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the metadata needs a \"name\" and an \"inputs\" array");
        goto done;
    }
    size_t n = json_array_size(inputs);
    if (n == 0 || n > CV_LOAD_MAX_TENSORS) {
        st = cv_errorf(err, CV_STATUS_UNSUPPORTED, "the model has %zu inputs (1 to %d are served)", n,
                       CV_LOAD_MAX_TENSORS);
        goto done;
    }
    out->name = cv_strdup(json_string_value(name));
    out->inputs = cv_calloc(n, sizeof(*out->inputs));
    if (!out->name || !out->inputs) {
        st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the metadata");
        goto done;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        st = parse_input(json_array_get(inputs, i), (int)i, rows, &out->inputs[i], err);
        if (st != CV_STATUS_OK) goto done;
        out->ninputs++;
        total += out->inputs[i].bytes;
        if (total > CV_LOAD_MAX_BODY) {
            st = cv_errorf(err, CV_STATUS_UNSUPPORTED, "the inputs are larger than %zu bytes together",
                           CV_LOAD_MAX_BODY);
            goto done;
        }
    }
    out->noutputs = json_is_array(outputs) ? (int)json_array_size(outputs) : 0;
done:
    json_decref(root);
    if (st != CV_STATUS_OK) cv_load_model_free(out);
    return st;
}

/* ---- the request ------------------------------------------------------- */

void cv_load_body_free(cv_load_body_t *b)
{
    cv_free(b->data);
    memset(b, 0, sizeof(*b));
}

/* Writes `bytes` of input data at p: floats uniform in [-0.5, 0.5), every
 * other type zero. */
static void fill_input(const cv_load_input_t *in, cv_drive_rng_t *rng, char *p)
{
    size_t n = in->bytes / in->elem_size;
    memset(p, 0, in->bytes);
    for (size_t e = 0; e < n; e++) {
        float v = (float)cv_drive_rng_uniform(rng) - 0.5f;
        if (!strcmp(in->datatype, "FP32")) {
            memcpy(p + e * 4, &v, 4);
        } else if (!strcmp(in->datatype, "FP64")) {
            double d = v;
            memcpy(p + e * 8, &d, 8);
        } else if (!strcmp(in->datatype, "FP16") || !strcmp(in->datatype, "BF16")) {
            uint16_t h = in->datatype[0] == 'F' ? cv_fp32_to_fp16(v) : cv_fp32_to_bf16(v);
            memcpy(p + e * 2, &h, 2);
        } else {
            return;
        }
    }
}

/* The JSON header of the request: jansson escapes the names. */
static char *request_header(const cv_load_model_t *m)
{
    json_t *root = json_object(), *inputs = json_array();
    /* Any failed step (out of memory) fails the whole: a request missing
     * an input would only be refused by the server. */
    bool ok = root && inputs && json_object_set(root, "inputs", inputs) == 0;
    for (int i = 0; i < m->ninputs && ok; i++) {
        const cv_load_input_t *in = &m->inputs[i];
        json_t *shape = json_array();
        for (int k = 0; k < in->rank && shape; k++)
            if (json_array_append_new(shape, json_integer(in->shape[k])) != 0) {
                json_decref(shape);
                shape = NULL;
            }
        json_t *j = shape ? json_pack("{s:s, s:o, s:s, s:{s:I}}", "name", in->name, "shape", shape, "datatype",
                                      in->datatype, "parameters", "binary_data_size", (json_int_t)in->bytes)
                          : NULL;
        ok = json_array_append_new(inputs, j) == 0;
    }
    ok = ok && json_object_set_new(root, "parameters", json_pack("{s:b}", "binary_data_output", 1)) == 0;
    /* Compact: every request carries it. */
    char *text = ok ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(inputs);
    json_decref(root);
    return text;
}

cv_status cv_load_build_body(const cv_load_model_t *m, uint64_t seed, cv_load_body_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    char *header = request_header(m);
    if (!header) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a request header");
    size_t hlen = strlen(header), total = hlen;
    for (int i = 0; i < m->ninputs; i++) total += m->inputs[i].bytes;
    out->data = cv_malloc(total ? total : 1);
    if (!out->data) {
        free(header); /* jansson's allocator */
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a %zu-byte request body", total);
    }
    memcpy(out->data, header, hlen);
    free(header);
    cv_drive_rng_t rng;
    cv_drive_rng_seed(&rng, seed);
    size_t at = hlen;
    for (int i = 0; i < m->ninputs; i++) {
        fill_input(&m->inputs[i], &rng, out->data + at);
        at += m->inputs[i].bytes;
    }
    out->len = total;
    out->header_len = hlen;
    return CV_STATUS_OK;
}

/* ---- the response ------------------------------------------------------ */

bool cv_load_header_length(const char *line, size_t len, long *out)
{
    static const char name[] = "inference-header-content-length:";
    size_t n = sizeof name - 1;
    if (len < n || strncasecmp(line, name, n) != 0) return false;
    size_t i = n;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    size_t end = len;
    while (end > i && (line[end - 1] == '\r' || line[end - 1] == '\n' || line[end - 1] == ' ' ||
                       line[end - 1] == '\t'))
        end--;
    long v = 0;
    bool ok = end > i && end - i <= 15;
    for (size_t k = i; k < end && ok; k++) {
        ok = isdigit((unsigned char)line[k]);
        v = v * 10 + (line[k] - '0');
    }
    *out = ok ? v : -2;
    return true;
}

/* Leaves of a JSON data array (nested arrays flattened); -1 when something
 * other than numbers and booleans sits in it, or it nests too deep. */
static long count_leaves(const json_t *j, int depth)
{
    if (!json_is_array(j)) return json_is_number(j) || json_is_boolean(j) ? 1 : -1;
    if (depth > CV_LOAD_MAX_DIMS) return -1;
    long n = 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        long k = count_leaves(json_array_get(j, i), depth + 1);
        if (k < 0) return -1;
        n += k;
    }
    return n;
}

/* Checks one output of a response; adds its binary bytes to *binary. */
static cv_status check_output(const json_t *o, size_t index, size_t *binary, cv_err_t *err)
{
    const json_t *name = json_object_get(o, "name"), *dt = json_object_get(o, "datatype"),
                 *shape = json_object_get(o, "shape");
    if (!json_is_object(o) || !json_is_string(name) || !json_is_string(dt) || !json_is_array(shape))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "output %zu of the response needs a \"name\", a \"datatype\" and a \"shape\"", index);
    const char *n = json_string_value(name);
    size_t size = cv_load_dtype_size(json_string_value(dt));
    if (size == 0)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "output '%s' has the datatype '%.16s'", n,
                         json_string_value(dt));
    size_t elements = 1;
    if (json_array_size(shape) > CV_LOAD_MAX_DIMS)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "output '%s' has more than %d dimensions", n,
                         CV_LOAD_MAX_DIMS);
    for (size_t k = 0; k < json_array_size(shape); k++) {
        const json_t *dim = json_array_get(shape, k);
        json_int_t v = json_is_integer(dim) ? json_integer_value(dim) : -1;
        if (v < 0 || (v > 0 && elements > ((size_t)1 << 40) / (size_t)v))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "output '%s': dimension %zu is not a size", n, k);
        elements *= (size_t)v;
    }
    const json_t *params = json_object_get(o, "parameters");
    const json_t *bds = json_is_object(params) ? json_object_get(params, "binary_data_size") : NULL;
    if (bds) {
        if (!json_is_integer(bds) || json_integer_value(bds) < 0 ||
            (size_t)json_integer_value(bds) != elements * size)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "output '%s': binary_data_size is not %zu (%zu elements of %zu bytes)", n,
                             elements * size, elements, size);
        *binary += elements * size;
        return CV_STATUS_OK;
    }
    long leaves = count_leaves(json_object_get(o, "data"), 0);
    if (leaves < 0 || (size_t)leaves != elements)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "output '%s' has neither a binary_data_size nor \"data\" of %zu values", n, elements);
    return CV_STATUS_OK;
}

cv_status cv_load_parse_response(const char *body, size_t len, long header_len, const char *expect_model,
                                 cv_load_response_t *out, cv_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (header_len < -1 || (header_len >= 0 && (size_t)header_len > len))
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Inference-Header-Content-Length %ld is not in [0, %zu] (the body)", header_len, len);
    size_t json_len = header_len >= 0 ? (size_t)header_len : len;
    json_error_t jerr;
    json_t *root = json_loadb(body, json_len, 0, &jerr);
    if (!root) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the response header is not JSON: %s", jerr.text);
    cv_status st = CV_STATUS_OK;
    const json_t *outputs = json_object_get(root, "outputs"), *model = json_object_get(root, "model_name");
    if (!json_is_object(root) || !json_is_array(outputs) || json_array_size(outputs) == 0) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the response has no \"outputs\"");
        goto done;
    }
    if (expect_model && json_is_string(model) && strcmp(json_string_value(model), expect_model) != 0) {
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the response is of model '%.64s', not '%.64s'",
                       json_string_value(model), expect_model);
        goto done;
    }
    size_t binary = 0;
    for (size_t i = 0; i < json_array_size(outputs) && st == CV_STATUS_OK; i++)
        st = check_output(json_array_get(outputs, i), i, &binary, err);
    if (st == CV_STATUS_OK && binary != len - json_len)
        st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                       "the outputs' binary_data_size add up to %zu bytes, but %zu follow the JSON", binary,
                       len - json_len);
    if (st == CV_STATUS_OK) {
        out->noutputs = (int)json_array_size(outputs);
        out->binary_bytes = binary;
    }
done:
    json_decref(root);
    return st;
}

/* ---- the repository and errors ----------------------------------------- */

void cv_load_names_free(char **names, int n)
{
    for (int i = 0; i < n; i++) cv_free(names[i]);
    cv_free(names);
}

cv_status cv_load_parse_index(const char *json, size_t len, char ***names, int *n, cv_err_t *err)
{
    *names = NULL;
    *n = 0;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the repository index is not JSON: %s", jerr.text);
    if (!json_is_array(root)) {
        json_decref(root);
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "the repository index is not an array");
    }
    size_t count = json_array_size(root);
    char **list = cv_calloc(count ? count : 1, sizeof(*list));
    int got = 0;
    cv_status st = list ? CV_STATUS_OK : cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the index");
    for (size_t i = 0; i < count && st == CV_STATUS_OK; i++) {
        const json_t *e = json_array_get(root, i), *name = json_object_get(e, "name"),
                     *state = json_object_get(e, "state");
        if (!json_is_string(name)) {
            st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "entry %zu of the repository index has no \"name\"", i);
            break;
        }
        if (!json_is_string(state) || strcmp(json_string_value(state), "READY") != 0) continue;
        bool seen = false;
        for (int k = 0; k < got && !seen; k++) seen = !strcmp(list[k], json_string_value(name));
        if (seen) continue;
        if (!(list[got] = cv_strdup(json_string_value(name))))
            st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the index");
        else got++;
    }
    json_decref(root);
    if (st != CV_STATUS_OK) {
        if (list) cv_load_names_free(list, got);
        return st;
    }
    *names = list;
    *n = got;
    return CV_STATUS_OK;
}

void cv_load_error_message(const char *body, size_t len, char *buf, size_t buflen)
{
    if (buflen == 0) return;
    json_t *root = json_loadb(body, len, 0, NULL);
    const json_t *e = json_object_get(root, "error");
    const char *text = json_is_string(e) ? json_string_value(e) : body;
    size_t n = json_is_string(e) ? strlen(text) : len;
    size_t k = 0;
    /* One line, printable: it ends up in a terminal or a log. */
    for (size_t i = 0; i < n && k + 1 < buflen; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        if (c >= 0x20 && c < 0x7f) buf[k++] = (char)c;
    }
    buf[k] = '\0';
    json_decref(root);
}
