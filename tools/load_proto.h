/*
 * load_proto.h: the pure, testable half of `caravel load` (cmd_load.c):
 * what it sends and reads of the KServe v2 protocol, kept apart from
 * sockets and libcurl so that a unit test (tests/unit/test_load_proto.c)
 * can feed it bytes:
 *   - the server URL option;
 *   - a model's metadata (GET /v2/models/{m}) as the input specs a request
 *     is made from (a leading -1, the batch axis, becomes the rows asked
 *     for, any other -1 becomes 1);
 *   - the request body, made once per model: a JSON header naming every
 *     input with a binary_data_size and asking for binary outputs, then
 *     the inputs' bytes (deterministic, from a seed);
 *   - the Inference-Header-Content-Length response header and the
 *     response body of the binary tensor extension, checked: every output
 *     has a datatype and shape, and its bytes add up to the binary section;
 *   - the repository index (POST /v2/repository/index): the READY models;
 *   - the {"error": ...} body of a failure.
 * JSON is read and written with jansson. Nothing here opens a socket,
 * reads a clock or keeps state between calls.
 */
#ifndef CV_LOAD_PROTO_H
#define CV_LOAD_PROTO_H

#include "caravel.h"

#include <stddef.h>
#include <stdint.h>

/* Dimensions per tensor and tensors per model that a request may carry;
 * a model with more is refused with a message (no server has sent one). */
#define CV_LOAD_MAX_DIMS 16
#define CV_LOAD_MAX_TENSORS 256
/* The largest body `caravel load` makes (Triton's default body limit). */
#define CV_LOAD_MAX_BODY ((size_t)64 << 20)

/* ---- the server ------------------------------------------------------ */

/* Checks a server URL, "http://HOST[:PORT]" with an optional trailing
 * slash (no path, no query: the protocol's paths are appended to it), and
 * writes it without the slash into base[len]. HTTPS is refused: the
 * generator measures the server, not TLS. */
cv_status cv_load_parse_url(const char *url, char *base, size_t len, cv_err_t *err);

/* ---- model metadata ---------------------------------------------------- */

/* One input of a model as a request carries it. */
typedef struct cv_load_input {
    char *name;          /* owned */
    char datatype[8];    /* the protocol's name: "FP32", "INT64", ... */
    size_t elem_size;    /* bytes per element */
    int rank;
    int64_t shape[CV_LOAD_MAX_DIMS]; /* -1 already replaced */
    size_t bytes;        /* elements x elem_size */
} cv_load_input_t;

typedef struct cv_load_model {
    char *name;  /* owned; the metadata's "name" */
    cv_load_input_t *inputs; /* owned, ninputs of them */
    int ninputs;
    int noutputs;
} cv_load_model_t;

/* Bytes per element of a protocol datatype; 0 for BYTES (length-prefixed,
 * which the generator does not make) and for an unknown name. */
size_t cv_load_dtype_size(const char *datatype);

/* Parses a model metadata body ({"name", "inputs": [{"name", "datatype",
 * "shape"}], "outputs": [...]}) into *out, which the caller frees with
 * cv_load_model_free. A -1 first dimension (the batch axis, as servers
 * report it) becomes `rows` (>= 1), any other -1 becomes 1.
 * Fails with a message naming the input for: invalid JSON, a missing or
 * mistyped member, no inputs, BYTES or an unknown datatype, a dimension
 * below -1, more than CV_LOAD_MAX_DIMS dimensions or CV_LOAD_MAX_TENSORS
 * tensors, or inputs larger than CV_LOAD_MAX_BODY together. *out is left
 * empty (nothing to free) on failure. */
cv_status cv_load_parse_metadata(const char *json, size_t len, int64_t rows, cv_load_model_t *out, cv_err_t *err);
void cv_load_model_free(cv_load_model_t *m);

/* ---- the request ------------------------------------------------------- */

/* A request body: `header_len` bytes of JSON, then the binary section.
 * Made once per model and sent as it is by every request of the model. */
typedef struct cv_load_body {
    char *data; /* owned */
    size_t len;
    size_t header_len; /* the Inference-Header-Content-Length value */
} cv_load_body_t;

/* Makes the infer request body of model m: every input, in metadata order,
 * with its shape, datatype and "parameters": {"binary_data_size": bytes},
 * and "parameters": {"binary_data_output": true} on the request (all
 * outputs as binary). Input data is deterministic from `seed`: floating
 * inputs (FP32, FP64, FP16, BF16) uniform in [-0.5, 0.5), integer and BOOL
 * inputs zero (random integers could be out-of-range indices). Fails only
 * when out of memory. */
cv_status cv_load_build_body(const cv_load_model_t *m, uint64_t seed, cv_load_body_t *out, cv_err_t *err);
void cv_load_body_free(cv_load_body_t *b);

/* ---- the response ------------------------------------------------------ */

/* When the header line (as libcurl hands it over, "Name: value\r\n") is
 * Inference-Header-Content-Length, whatever the case of its name: true,
 * with its value in *out, or -2 when the value is not a non-negative
 * integer (the response is then malformed). False for any other line. */
bool cv_load_header_length(const char *line, size_t len, long *out);

/* What a valid infer response held. */
typedef struct cv_load_response {
    int noutputs;
    size_t binary_bytes; /* the binary section's size */
} cv_load_response_t;

/* Checks a 200 infer response: header_len is the
 * Inference-Header-Content-Length value, or -1 when the header was absent
 * (then the whole body is JSON). Valid when header_len is in [0, len], the
 * JSON header parses, "model_name" (if expect_model is not NULL) is that
 * model, "outputs" is a non-empty array whose every output has a name, a
 * known datatype and a shape of non-negative integers, and either
 * "parameters": {"binary_data_size": n} with n = its elements x element
 * size, or "data" holding its number of elements (flat or nested); and the
 * binary sizes add up to len - header_len exactly. Else the status and
 * the first thing wrong in err. */
cv_status cv_load_parse_response(const char *body, size_t len, long header_len, const char *expect_model,
                                 cv_load_response_t *out, cv_err_t *err);

/* ---- the repository and errors ----------------------------------------- */

/* Parses a repository index ([{"name","version","state",...}]) into the
 * names of the models with a READY version, each once, in the order of
 * their first READY entry: *names (cv_free each and the array, or
 * cv_load_names_free) and *n. An empty list is not an error here. */
cv_status cv_load_parse_index(const char *json, size_t len, char ***names, int *n, cv_err_t *err);
void cv_load_names_free(char **names, int n);

/* The message of an {"error": "..."} body in buf (cut to fit), or the
 * start of the body itself, printable characters only, when it is not
 * one: what a failure line shows of the server's answer. */
void cv_load_error_message(const char *body, size_t len, char *buf, size_t buflen);

#endif
