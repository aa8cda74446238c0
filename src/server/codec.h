/*
 * codec.h: the KServe v2 inference request and response, as bytes on the
 * wire and as tensors in request buffers. Nothing here knows HTTP or the
 * runtime: the decoder is fed a body in pieces and asks its caller for the
 * input tensors to write (the server hands it a request's buffers; the
 * fuzz target, malloc'd ones), and the encoder reads output tensors.
 *
 * A request body is a JSON header, optionally followed by binary tensor
 * data (the binary tensor extension): Inference-Header-Content-Length
 * gives the JSON's length, and each input with a "binary_data_size"
 * parameter takes that many bytes of the rest, in the JSON's order. The
 * decoder keeps only the JSON in memory: once it is complete and checked
 * against the model's signature, it asks for the inputs, writes the JSON
 * "data" of each into its tensor, and copies each later piece of binary
 * data straight to its place in its tensor. So a tensor is copied once on
 * its way from the socket to the request buffer.
 *
 * Also here: the JSON string builder every server module writes with, the
 * protocol's datatype names, and the {"error": ...} body.
 */
#ifndef CV_SERVER_CODEC_H
#define CV_SERVER_CODEC_H

#include "caravel.h"
#include "repo/registry.h"

#include <jansson.h>

/* ---- a growable string ------------------------------------------------ */

/* A string being built. Appending after a failed allocation does nothing
 * and leaves `failed` set, so a writer checks once at the end. */
typedef struct cv_sbuf {
    char *data;
    size_t len, cap;
    bool failed;
} cv_sbuf_t;

void cv_sbuf_append(cv_sbuf_t *b, const char *bytes, size_t len);
void cv_sbuf_puts(cv_sbuf_t *b, const char *s);
void cv_sbuf_printf(cv_sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included. */
void cv_sbuf_json_string(cv_sbuf_t *b, const char *s);
/* Hands the string (NUL-terminated, cv_free) to the caller; NULL when an
 * allocation failed (the buffer is freed either way). */
char *cv_sbuf_take(cv_sbuf_t *b, size_t *len);
void cv_sbuf_free(cv_sbuf_t *b);

/* ---- datatypes ----------------------------------------------------------- */

/* The protocol's name of a dtype ("FP32", "BOOL", ...). */
const char *cv_codec_dtype_name(cv_dtype_t dtype);
/* The dtype of a protocol name; CV_DTYPE_UNDEFINED for an unknown one or
 * BYTES (which no Caravel model takes). */
cv_dtype_t cv_codec_dtype_parse(const char *name);
/* Triton's model-config name of a dtype ("TYPE_FP32", ...). */
const char *cv_codec_config_type(cv_dtype_t dtype);

/* {"error": msg}, for every failure (cv_free). NULL when out of memory. */
char *cv_codec_error_body(const char *msg, size_t *len);

/* ---- requests -------------------------------------------------------- */

/* Where each binary input's bytes go, in the order they arrive. */
typedef struct cv_infer_segment {
    int input;    /* model input index */
    size_t bytes;
} cv_infer_segment_t;

/* An output the client asked for (all of them, in model order, when it
 * named none). */
typedef struct cv_infer_output {
    int index;   /* model output index */
    bool binary; /* answer it as binary data */
} cv_infer_output_t;

/* A decoded, checked request header. */
typedef struct cv_infer_header {
    json_t *root;       /* the parsed JSON (owned) */
    const char *id;     /* the request's "id" (in root), or NULL */
    int64_t rows;       /* rows of the request (1 without a batch axis) */
    bool has_priority;  /* parameters.priority, >= 1 (1 highest) */
    int64_t priority;
    bool has_timeout;   /* parameters.timeout, microseconds, >= 1 */
    int64_t timeout_us;
    int noutputs;       /* outputs to answer, in the order to answer them */
    cv_infer_output_t *outputs;
    int nsegments;      /* binary inputs in arrival order */
    cv_infer_segment_t *segments;
    size_t binary_bytes;   /* their total */
    json_t **data;         /* per model input: its JSON "data", or NULL when binary */
} cv_infer_header_t;

/* Parses and checks a request's JSON header against `sig`: inputs by
 * name, each once, datatype equal to the model's, shape of the model's
 * with the same rows in every input (1 to sig->max_rows), binary sizes
 * equal to the tensor's bytes, known outputs, and the parameters priority,
 * timeout and binary_data_output. `binary_follows` tells whether a binary
 * section may follow (no binary_data_size otherwise). INVALID_ARGUMENT
 * with one line for the client; UNSUPPORTED for what the protocol allows
 * but Caravel does not serve (classification outputs, a model whose
 * requests cannot go by rows); OUT_OF_MEMORY. On failure nothing is left
 * to free. */
cv_status cv_infer_header_decode(const char *json, size_t len, const cv_model_sig_t *sig, bool binary_follows,
                                 cv_infer_header_t *out, cv_err_t *err);
void cv_infer_header_free(cv_infer_header_t *h);

/* Writes each JSON-encoded input's "data" (flat or nested, row-major)
 * into its tensor (inputs[i] is model input i, with the shape the header
 * declared). INVALID_ARGUMENT for a wrong count, a value of the wrong kind
 * or out of the dtype's range, or BF16 in JSON. */
cv_status cv_infer_fill_json(const cv_infer_header_t *h, const cv_model_sig_t *sig, cv_tensor_t *const *inputs,
                             cv_err_t *err);

/* Asked once per request by the body decoder, when the header is decoded:
 * the tensors to write, one per model input (of the shapes the header
 * declared), which stay the caller's. */
typedef cv_status (*cv_infer_inputs_fn)(void *user, const cv_infer_header_t *h, cv_tensor_t **inputs,
                                        cv_err_t *err);

#define CV_CODEC_UNKNOWN SIZE_MAX

/* A request body on its way in. */
typedef struct cv_infer_body {
    const cv_model_sig_t *sig;
    size_t header_len;     /* bytes of JSON; CV_CODEC_UNKNOWN: the whole body */
    size_t content_length; /* CV_CODEC_UNKNOWN when not given (chunked) */
    size_t max_bytes;
    cv_infer_inputs_fn make_inputs;
    void *user;
    char *json;
    size_t json_len, json_cap;
    size_t received; /* body bytes seen */
    bool decoded;
    cv_infer_header_t header;
    cv_tensor_t **inputs; /* from make_inputs, per model input */
    int segment;          /* the binary segment being written */
    size_t segment_at;    /* bytes of it written */
    cv_status failed;     /* sticky: the first failure */
    cv_err_t err;
} cv_infer_body_t;

/* Starts decoding a body for a model of signature `sig`. header_length is
 * the raw Inference-Header-Content-Length value (NULL when absent; "0"
 * means the whole body is JSON, as the C++ client sends it),
 * content_length the body's length or CV_CODEC_UNKNOWN, max_bytes the
 * largest body accepted. INVALID_ARGUMENT for a header length that is not
 * an integer in [0, content_length], or a body over max_bytes; then the
 * body is still to be fed and finished (nothing more is decoded). */
cv_status cv_infer_body_init(cv_infer_body_t *b, const cv_model_sig_t *sig, const char *header_length,
                             size_t content_length, size_t max_bytes, cv_infer_inputs_fn make_inputs, void *user,
                             cv_err_t *err);
/* Feeds the next `len` bytes of the body. After a failure the rest is
 * counted and dropped, and the failure returned again. */
cv_status cv_infer_body_feed(cv_infer_body_t *b, const void *data, size_t len, cv_err_t *err);
/* Ends the body: OK when the header was decoded and every input written
 * in full; otherwise the (first) failure. */
cv_status cv_infer_body_finish(cv_infer_body_t *b, cv_err_t *err);
void cv_infer_body_free(cv_infer_body_t *b);

/* ---- responses ------------------------------------------------------------ */

#define CV_CODEC_MAX_PARTS 64

/* A response: the JSON (the whole body, or the header before the binary
 * parts), and the binary outputs, which point into the output tensors. */
typedef struct cv_infer_response {
    char *json;
    size_t json_len;
    int nparts;
    struct {
        const void *data;
        size_t bytes;
    } parts[CV_CODEC_MAX_PARTS];
} cv_infer_response_t;

/* Encodes the outputs the header asks for (outputs[i] is model output i,
 * as the runtime filled it). `version` is the version's string. BF16
 * outputs go as binary even when asked for JSON (JSON cannot carry them;
 * the clients read binary outputs whatever they asked). UNSUPPORTED for
 * more binary outputs than CV_CODEC_MAX_PARTS; OUT_OF_MEMORY. */
cv_status cv_infer_encode(const cv_infer_header_t *h, const cv_model_sig_t *sig, const char *model,
                          const char *version, const cv_tensor_t *const *outputs, cv_infer_response_t *out,
                          cv_err_t *err);
void cv_infer_response_free(cv_infer_response_t *r);

/* Parses a byte count from an HTTP header (Content-Length,
 * Inference-Header-Content-Length): decimal digits only, no sign, no
 * overflow; false otherwise. */
bool cv_codec_parse_size(const char *s, size_t *out);

#endif /* CV_SERVER_CODEC_H */
