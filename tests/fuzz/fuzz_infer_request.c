/*
 * fuzz_infer_request.c: the fuzz target of the server's request decoder
 * (src/server/codec.c). One input is an inference request body as a client
 * sends it, with the two headers that frame it, fed to the decoder in
 * pieces the way libmicrohttpd hands them over; when it decodes, the
 * response encoder turns the written inputs back into a response.
 *
 * Input layout (so that the fuzzer controls the framing too):
 *   byte 0     bit 0: an Inference-Header-Content-Length header is sent
 *              bit 1: Content-Length is known (else: chunked)
 *              bit 2: the model without a batch axis (else the batched one)
 *              bits 3-7: the size of the pieces (1 << (bits % 17) bytes)
 *   bytes 1-2  the header length (little endian), or, with bit 0 and
 *              byte 1 = 'x', the raw text of bytes 2.. up to a ';' as the
 *              header's value (to reach its parser)
 *   the rest   the body
 * Two model signatures stand for served models: a batched one with an
 * input of every JSON-able kind and a BF16 one, and one without a batch
 * axis. The input tensors are allocated as the server's request would be.
 *
 * An input fails on a sanitizer report, a CV_ASSERT, a response that is
 * not valid JSON, binary parts that do not add up, or a leak: every
 * allocation (jansson's too) is counted in an account that must be back
 * to zero afterwards.
 *
 * Built like the other targets (tests/fuzz/CMakeLists.txt on the fuzz
 * branch): with replay.c for `make test` (which replays
 * tests/fuzz/corpus/infer_request/ and tests/fuzz/crashes/infer_request/),
 * and with libFuzzer by `make fuzz`. It links caravel_server. By hand,
 * before that branch is merged (the codec needs nothing of the runtime):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     tests/fuzz/fuzz_infer_request.c src/server/codec.c src/repo/signature.c \
 *     src/core/alloc.c src/core/status.c src/core/log.c src/ir/tensor.c \
 *     -ljansson -lm -lpthread -o fuzz_infer_request
 *   ./fuzz_infer_request -dict=tests/fuzz/infer_request.dict CORPUS_DIR
 */
#include "core/core.h"
#include "server/codec.h"

#include <jansson.h>
#include <string.h>

#define FUZZ_MEMORY_BYTES ((size_t)64 << 20)
#define FUZZ_MAX_BODY ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cv_io_desc_t batched_inputs[] = {
    {"a", CV_DTYPE_FP32, {2, {-1, 3}}},   {"b", CV_DTYPE_INT64, {2, {-1, 2}}},
    {"c", CV_DTYPE_BOOL, {2, {-1, 1}}},   {"d", CV_DTYPE_FP16, {3, {-1, 1, 2}}},
    {"e", CV_DTYPE_UINT64, {2, {-1, 1}}}, {"f", CV_DTYPE_BF16, {2, {-1, 2}}},
    {"g", CV_DTYPE_INT8, {2, {-1, 2}}},   {"h", CV_DTYPE_FP64, {2, {-1, 1}}},
};
static cv_io_desc_t fixed_inputs[] = {
    {"x", CV_DTYPE_UINT8, {2, {2, 2}}},
    {"y", CV_DTYPE_FP32, {1, {3}}},
};

/* Outputs mirror the inputs (the encoder is handed the inputs back). */
static const cv_model_sig_t batched_sig = {8, 8, batched_inputs, batched_inputs, true, true, 4};
static const cv_model_sig_t fixed_sig = {2, 2, fixed_inputs, fixed_inputs, false, true, 1};

typedef struct fuzz_request {
    const cv_model_sig_t *sig;
    cv_tensor_t tensors[8];
    int made;
} fuzz_request_t;

/* What cv_request_create does for the decoder: zeroed inputs of the
 * declared rows. */
static cv_status make_inputs(void *user, const cv_infer_header_t *h, cv_tensor_t **inputs, cv_err_t *err)
{
    fuzz_request_t *r = user;
    CV_ASSERT(r->made == 0); /* asked once */
    CV_ASSERT(h->rows >= 1 && h->rows <= r->sig->max_rows);
    for (int i = 0; i < r->sig->ninputs; i++) {
        cv_shape_t s = r->sig->inputs[i].shape;
        if (r->sig->batched) s.dims[0] = h->rows;
        if (cv_tensor_alloc(&r->tensors[i], r->sig->inputs[i].dtype, &s) != CV_STATUS_OK)
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory");
        r->made++;
        inputs[i] = &r->tensors[i];
    }
    return CV_STATUS_OK;
}

static void check_response(const cv_infer_header_t *h, const fuzz_request_t *r)
{
    const cv_tensor_t *outputs[8];
    for (int i = 0; i < r->sig->ninputs; i++) outputs[i] = &r->tensors[i];
    cv_infer_response_t resp;
    cv_err_t err;
    if (cv_infer_encode(h, r->sig, "model", "1", outputs, &resp, &err) != CV_STATUS_OK) return;
    json_error_t jerr;
    /* NaN and Infinity are what the clients accept for non-finite floats;
     * jansson does not, so they are replaced before checking the rest. */
    for (size_t i = 0; i + 2 < resp.json_len; i++) {
        if (!memcmp(resp.json + i, "NaN", 3)) memcpy(resp.json + i, "0  ", 3);
        if (i + 8 <= resp.json_len && !memcmp(resp.json + i, "Infinity", 8)) memcpy(resp.json + i, "1       ", 8);
    }
    /* As reals: a UINT64 above 2^63-1 is valid JSON that jansson's
     * integers cannot hold. */
    json_t *doc = json_loadb(resp.json, resp.json_len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!doc) {
        fprintf(stderr, "fuzz_infer_request: the response is not JSON (%s): %.*s\n", jerr.text, (int)resp.json_len,
                resp.json);
        abort();
    }
    size_t declared = 0, parts = 0;
    json_t *outs = json_object_get(doc, "outputs");
    CV_ASSERT(json_is_array(outs) && (int)json_array_size(outs) == h->noutputs);
    size_t i;
    json_t *o;
    json_array_foreach(outs, i, o)
    {
        json_t *size = json_object_get(json_object_get(o, "parameters"), "binary_data_size");
        if (size) declared += (size_t)json_number_value(size);
    }
    for (int k = 0; k < resp.nparts; k++) parts += resp.parts[k].bytes;
    CV_ASSERT(declared == parts);
    json_decref(doc);
    cv_infer_response_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    cv_account_t account = {.name = "fuzz", .limit_bytes = FUZZ_MEMORY_BYTES};
    cv_account_t *previous = cv_account_use(&account);
    json_set_alloc_funcs(cv_malloc, cv_free);

    uint8_t flags = data[0];
    char header_value[32];
    const char *header = NULL;
    const uint8_t *body = data + 3;
    size_t body_len = size - 3;
    if (flags & 1) {
        if (data[1] == 'x') {
            /* Raw header text: bytes 2.. up to ';'. */
            size_t n = 0;
            while (2 + n < size && data[2 + n] != ';' && n + 1 < sizeof header_value) {
                header_value[n] = data[2 + n] ? (char)data[2 + n] : '0';
                n++;
            }
            header_value[n] = 0;
            body = data + 2 + n + (2 + n < size);
            body_len = size - (size_t)(body - data);
        } else {
            snprintf(header_value, sizeof header_value, "%u", (unsigned)(data[1] | data[2] << 8));
        }
        header = header_value;
    }
    size_t content_length = (flags & 2) ? body_len : CV_CODEC_UNKNOWN;
    size_t piece = (size_t)1 << ((flags >> 3) % 17);

    fuzz_request_t req = {.sig = (flags & 4) ? &fixed_sig : &batched_sig};
    cv_infer_body_t b;
    cv_err_t err;
    cv_status st = cv_infer_body_init(&b, req.sig, header, content_length, FUZZ_MAX_BODY, make_inputs, &req, &err);
    for (size_t at = 0; at < body_len; at += piece) {
        size_t n = body_len - at < piece ? body_len - at : piece;
        cv_status fed = cv_infer_body_feed(&b, body + at, n, &err);
        /* The first failure sticks. */
        if (st != CV_STATUS_OK) CV_ASSERT(fed == st);
        st = fed;
    }
    st = cv_infer_body_finish(&b, &err);
    if (st == CV_STATUS_OK) {
        CV_ASSERT(req.made == req.sig->ninputs);
        check_response(&b.header, &req);
    } else {
        CV_ASSERT(err.msg[0] != 0); /* every failure says why */
    }
    cv_infer_body_free(&b);
    for (int i = 0; i < req.made; i++) cv_tensor_free(&req.tensors[i]);

    json_set_alloc_funcs(malloc, free);
    cv_account_use(previous);
    if (account.live_bytes != 0) {
        fprintf(stderr, "fuzz_infer_request: leak: %zu bytes still allocated after the input\n", account.live_bytes);
        abort();
    }
    return 0;
}
