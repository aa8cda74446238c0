/*
 * test_codec.c: the server's request decoder and response encoder
 * (src/server/codec.c) without HTTP: bodies fed in pieces of every size,
 * every datatype from JSON and binary, each refusal with its status and
 * message, and responses byte for byte.
 */
#include "testutil.h"

#include "core/core.h"
#include "server/codec.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static cv_io_desc_t inputs[] = {
    {"a", CV_DTYPE_FP32, {2, {-1, 3}}},   {"b", CV_DTYPE_INT64, {2, {-1, 2}}},
    {"c", CV_DTYPE_BOOL, {2, {-1, 1}}},   {"d", CV_DTYPE_FP16, {2, {-1, 2}}},
    {"e", CV_DTYPE_UINT64, {2, {-1, 1}}}, {"f", CV_DTYPE_BF16, {2, {-1, 2}}},
};
static const cv_model_sig_t sig = {6, 6, inputs, inputs, true, true, 4};

typedef struct request {
    cv_tensor_t tensors[6];
    int made;
    int64_t rows;
} request_t;

static cv_status make_inputs(void *user, const cv_infer_header_t *h, cv_tensor_t **out, cv_err_t *err)
{
    request_t *r = user;
    r->rows = h->rows;
    for (int i = 0; i < sig.ninputs; i++) {
        cv_shape_t s = sig.inputs[i].shape;
        s.dims[0] = h->rows;
        assert_int_equal(cv_tensor_alloc(&r->tensors[i], sig.inputs[i].dtype, &s), CV_STATUS_OK);
        r->made++;
        out[i] = &r->tensors[i];
    }
    return CV_STATUS_OK;
}

static void request_free(request_t *r)
{
    for (int i = 0; i < r->made; i++) cv_tensor_free(&r->tensors[i]);
    r->made = 0;
}

/* Decodes `body` fed in pieces of `piece` bytes; returns the status and
 * fills err. header: the Inference-Header-Content-Length value or NULL. */
static cv_status decode(const char *body, size_t len, const char *header, bool known_length, size_t piece,
                        request_t *r, cv_infer_body_t *b, cv_err_t *err)
{
    memset(r, 0, sizeof(*r));
    cv_infer_body_init(b, &sig, header, known_length ? len : CV_CODEC_UNKNOWN, 1 << 20, make_inputs, r, err);
    for (size_t at = 0; at < len; at += piece) cv_infer_body_feed(b, body + at, CV_MIN(piece, len - at), err);
    return cv_infer_body_finish(b, err);
}

static const char *json_inputs =
    "{\"id\":\"r1\",\"parameters\":{\"priority\":3,\"timeout\":1500,\"binary_data_output\":false},"
    "\"inputs\":["
    "{\"name\":\"a\",\"shape\":[2,3],\"datatype\":\"FP32\",\"data\":[[0.5,-1,2],[3,4.25,1e-3]]},"
    "{\"name\":\"b\",\"shape\":[2,2],\"datatype\":\"INT64\",\"data\":[1,-9223372036854775807,3,4]},"
    "{\"name\":\"c\",\"shape\":[2,1],\"datatype\":\"BOOL\",\"data\":[true,false]},"
    "{\"name\":\"d\",\"shape\":[2,2],\"datatype\":\"FP16\",\"data\":[0.5,-2,65504,0]},"
    "{\"name\":\"e\",\"shape\":[2,1],\"datatype\":\"UINT64\",\"data\":[18446744073709551615,7]},"
    "{\"name\":\"f\",\"shape\":[2,2],\"datatype\":\"BF16\",\"parameters\":{\"binary_data_size\":8}}"
    "],\"outputs\":[{\"name\":\"e\"},{\"name\":\"a\",\"parameters\":{\"binary_data\":true}}]}";

static void check_json_values(const request_t *r)
{
    const float *a = r->tensors[0].data;
    assert_true(a[0] == 0.5f && a[1] == -1.0f && a[4] == 4.25f && a[5] == 1e-3f);
    const int64_t *b = r->tensors[1].data;
    assert_true(b[1] == -9223372036854775807LL && b[3] == 4);
    const uint8_t *c = r->tensors[2].data;
    assert_true(c[0] == 1 && c[1] == 0);
    const uint16_t *d = r->tensors[3].data;
    assert_true(cv_fp16_to_fp32(d[0]) == 0.5f && cv_fp16_to_fp32(d[2]) == 65504.0f);
    const uint64_t *e = r->tensors[4].data;
    assert_true(e[0] == UINT64_MAX && e[1] == 7);
}

/* JSON data and a binary BF16 input, in pieces of 1, 2, 7 and 4096 bytes,
 * with a known and an unknown Content-Length. */
static void test_mixed_body_any_pieces(void **state)
{
    size_t hlen = strlen(json_inputs);
    char body[4096];
    memcpy(body, json_inputs, hlen);
    const uint16_t bf16[4] = {0x3f80, 0xc000, 0x4040, 0x0000}; /* 1, -2, 3, 0 */
    memcpy(body + hlen, bf16, sizeof bf16);
    char header[16];
    snprintf(header, sizeof header, "%zu", hlen);
    const size_t pieces[] = {1, 2, 7, 4096};
    for (size_t p = 0; p < 4; p++)
        for (int known = 0; known < 2; known++) {
            request_t r;
            cv_infer_body_t b;
            cv_err_t err;
            assert_int_equal(decode(body, hlen + 8, header, known, pieces[p], &r, &b, &err), CV_STATUS_OK);
            assert_int_equal(r.rows, 2);
            assert_string_equal(b.header.id, "r1");
            assert_true(b.header.has_priority && b.header.priority == 3);
            assert_true(b.header.has_timeout && b.header.timeout_us == 1500);
            assert_int_equal(b.header.noutputs, 2);
            assert_int_equal(b.header.outputs[0].index, 4);
            assert_false(b.header.outputs[0].binary);
            assert_true(b.header.outputs[1].binary);
            check_json_values(&r);
            assert_memory_equal(r.tensors[5].data, bf16, sizeof bf16);
            cv_infer_body_free(&b);
            request_free(&r);
        }
}

/* One status and message fragment per malformed body. */
static void test_refusals(void **state)
{
    struct {
        const char *body, *header;
        cv_status status;
        const char *says;
    } cases[] = {
        {"", NULL, CV_STATUS_INVALID_ARGUMENT, "malformed JSON"},
        {"{\"inputs\":[", NULL, CV_STATUS_INVALID_ARGUMENT, "malformed JSON"},
        {"[]", NULL, CV_STATUS_INVALID_ARGUMENT, "JSON object"},
        {"{}", NULL, CV_STATUS_INVALID_ARGUMENT, "\"inputs\""},
        {"{\"inputs\":[{\"name\":\"zz\"}]}", NULL, CV_STATUS_INVALID_ARGUMENT, "unknown input 'zz'"},
        {"{\"inputs\":[{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP64\",\"data\":[1,2,3]}]}", NULL,
         CV_STATUS_INVALID_ARGUMENT, "datatype FP64, the model takes FP32"},
        {"{\"inputs\":[{\"name\":\"a\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}", NULL,
         CV_STATUS_INVALID_ARGUMENT, "shape [1,4], the model takes [-1,3]"},
        {"{\"inputs\":[{\"name\":\"a\",\"shape\":[5,3],\"datatype\":\"FP32\",\"data\":[1]}]}", NULL,
         CV_STATUS_INVALID_ARGUMENT, "max_batch_size 4"},
        {"{\"inputs\":[{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}", NULL,
         CV_STATUS_INVALID_ARGUMENT, "input 'b' is missing"},
        {"{\"inputs\":[{\"name\":\"f\",\"shape\":[1,2],\"datatype\":\"BF16\",\"data\":[1,2]}]}", NULL,
         CV_STATUS_INVALID_ARGUMENT, "BF16 travels only as binary"},
        {"{\"inputs\":[{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":12}}]}",
         NULL, CV_STATUS_INVALID_ARGUMENT, "no Inference-Header-Content-Length"},
        {"{\"inputs\":[]}", "x12", CV_STATUS_INVALID_ARGUMENT, "not an integer"},
        {"{\"inputs\":[]}", "-1", CV_STATUS_INVALID_ARGUMENT, "not an integer"},
        {"{\"inputs\":[]}", "999", CV_STATUS_INVALID_ARGUMENT, "[0, Content-Length]"},
        {"{\"inputs\":[]}", "5", CV_STATUS_INVALID_ARGUMENT, "malformed JSON"},
        {"{\"inputs\":[],\"parameters\":{\"priority\":-1}}", NULL, CV_STATUS_INVALID_ARGUMENT, "unsigned integer"},
        {"{\"inputs\":[],\"outputs\":[{\"name\":\"q\"}]}", NULL, CV_STATUS_INVALID_ARGUMENT, "input 'a' is missing"},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        request_t r;
        cv_infer_body_t b;
        cv_err_t err = {{0}};
        cv_status st = decode(cases[k].body, strlen(cases[k].body), cases[k].header, true, 3, &r, &b, &err);
        if (st != cases[k].status || !strstr(err.msg, cases[k].says))
            fail_msg("case %zu (%s): status %s, message '%s'; expected %s with '%s'", k, cases[k].body,
                     cv_status_str(st), err.msg, cv_status_str(cases[k].status), cases[k].says);
        assert_int_equal(r.made, 0);
        cv_infer_body_free(&b);
    }
}

/* Refusals found while writing the inputs: counts, kinds, ranges, binary
 * byte counts (the request was made; the caller frees it). */
static void test_refusals_after_inputs(void **state)
{
    const char *prefix = "{\"inputs\":[{\"name\":\"b\",\"shape\":[1,2],\"datatype\":\"INT64\",\"data\":[1,2]},"
                         "{\"name\":\"c\",\"shape\":[1,1],\"datatype\":\"BOOL\",\"data\":[true]},"
                         "{\"name\":\"d\",\"shape\":[1,2],\"datatype\":\"FP16\",\"data\":[1,2]},"
                         "{\"name\":\"e\",\"shape\":[1,1],\"datatype\":\"UINT64\",\"data\":[1]},"
                         "{\"name\":\"f\",\"shape\":[1,2],\"datatype\":\"BF16\",\"parameters\":{\"binary_data_size\":4}},";
    struct {
        const char *a;
        size_t binary;
        const char *says;
    } cases[] = {
        {"{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2]}]}", 4, "2 values"},
        {"{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}", 4, "more values"},
        {"{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,\"2\",3]}]}", 4, "not a number"},
        {"{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[[[1,2,3]]]}]}", 4, "nested deeper"},
        {"{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}", 3, "ended inside its binary"},
        {"{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}", 6, "more binary data"},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        char body[2048];
        int n = snprintf(body, sizeof body, "%s%s", prefix, cases[k].a);
        char header[16];
        snprintf(header, sizeof header, "%d", n);
        memset(body + n, 0, cases[k].binary);
        request_t r;
        cv_infer_body_t b;
        cv_err_t err = {{0}};
        /* Unknown length, so that the byte count is checked at the end. */
        cv_status st = decode(body, (size_t)n + cases[k].binary, header, false, 5, &r, &b, &err);
        if (st != CV_STATUS_INVALID_ARGUMENT || !strstr(err.msg, cases[k].says))
            fail_msg("case %zu: status %s, message '%s'; expected '%s'", k, cv_status_str(st), err.msg, cases[k].says);
        cv_infer_body_free(&b);
        request_free(&r);
    }
    /* An integer out of its type's range. */
    static cv_io_desc_t small[] = {{"i", CV_DTYPE_INT8, {1, {-1}}}};
    const cv_model_sig_t s8 = {1, 1, small, small, true, true, 4};
    cv_infer_header_t h;
    cv_err_t err;
    const char *body = "{\"inputs\":[{\"name\":\"i\",\"shape\":[2],\"datatype\":\"INT8\",\"data\":[127,128]}]}";
    assert_int_equal(cv_infer_header_decode(body, strlen(body), &s8, false, &h, &err), CV_STATUS_OK);
    cv_tensor_t t;
    assert_int_equal(cv_tensor_alloc(&t, CV_DTYPE_INT8, &(cv_shape_t){1, {2}}), CV_STATUS_OK);
    cv_tensor_t *tp = &t;
    assert_int_equal(cv_infer_fill_json(&h, &s8, &tp, &err), CV_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "out of INT8's range"));
    cv_tensor_free(&t);
    cv_infer_header_free(&h);
}

/* A body larger than the limit: by its Content-Length, or as it arrives. */
static void test_body_limit(void **state)
{
    cv_infer_body_t b;
    cv_err_t err;
    request_t r = {0};
    assert_int_equal(cv_infer_body_init(&b, &sig, NULL, 100, 50, make_inputs, &r, &err), CV_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "over the limit"));
    cv_infer_body_free(&b);
    char junk[64] = {0};
    assert_int_equal(cv_infer_body_init(&b, &sig, NULL, CV_CODEC_UNKNOWN, 50, make_inputs, &r, &err), CV_STATUS_OK);
    assert_int_equal(cv_infer_body_feed(&b, junk, 40, &err), CV_STATUS_OK);
    assert_int_equal(cv_infer_body_feed(&b, junk, 40, &err), CV_STATUS_INVALID_ARGUMENT);
    assert_int_equal(cv_infer_body_finish(&b, &err), CV_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "over the limit"));
    cv_infer_body_free(&b);
}

/* The response, byte for byte: shortest floats, JSON and binary outputs,
 * the id, BF16 forced to binary, non-finite floats. */
static void test_encode(void **state)
{
    static cv_io_desc_t outs[] = {{"y", CV_DTYPE_FP32, {2, {-1, 3}}}, {"z", CV_DTYPE_BF16, {2, {-1, 1}}},
                                  {"w", CV_DTYPE_INT16, {2, {-1, 2}}}};
    const cv_model_sig_t osig = {0, 3, NULL, outs, true, true, 4};
    float y[3] = {0.1f, -2.5f, NAN};
    uint16_t z[1] = {0x3f80};
    int16_t w[2] = {-32768, 7};
    cv_tensor_t ty = {CV_DTYPE_FP32, {2, {1, 3}}, y}, tz = {CV_DTYPE_BF16, {2, {1, 1}}, z},
                tw = {CV_DTYPE_INT16, {2, {1, 2}}, w};
    const cv_tensor_t *outputs[] = {&ty, &tz, &tw};
    cv_infer_output_t asked[] = {{2, false}, {0, false}, {1, false}};
    cv_infer_header_t h = {.id = "q\"1", .noutputs = 3, .outputs = asked};
    cv_infer_response_t resp;
    cv_err_t err;
    assert_int_equal(cv_infer_encode(&h, &osig, "m", "3", outputs, &resp, &err), CV_STATUS_OK);
    assert_string_equal(resp.json,
                        "{\"model_name\":\"m\",\"model_version\":\"3\",\"id\":\"q\\\"1\",\"outputs\":["
                        "{\"name\":\"w\",\"datatype\":\"INT16\",\"shape\":[1,2],\"data\":[-32768,7]},"
                        "{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1,3],\"data\":[0.1,-2.5,NaN]},"
                        "{\"name\":\"z\",\"datatype\":\"BF16\",\"shape\":[1,1],\"parameters\":{\"binary_data_size\":2}}]}");
    assert_int_equal(resp.nparts, 1);
    assert_ptr_equal(resp.parts[0].data, z);
    assert_int_equal(resp.parts[0].bytes, 2);
    cv_infer_response_free(&resp);

    /* Every float32 reads back as itself. */
    float vals[] = {1.0f / 3, 16777217.0f, 1e-45f, 3.4028235e38f, -0.0f, 123456.789f};
    cv_tensor_t tv = {CV_DTYPE_FP32, {2, {1, 6}}, vals};
    static cv_io_desc_t one[] = {{"v", CV_DTYPE_FP32, {2, {-1, 6}}}};
    const cv_model_sig_t vsig = {0, 1, NULL, one, true, true, 4};
    const cv_tensor_t *vo[] = {&tv};
    cv_infer_output_t all[] = {{0, false}};
    cv_infer_header_t hv = {.noutputs = 1, .outputs = all};
    assert_int_equal(cv_infer_encode(&hv, &vsig, "m", "1", vo, &resp, &err), CV_STATUS_OK);
    json_t *doc = json_loads(resp.json, 0, NULL);
    assert_non_null(doc);
    json_t *data = json_object_get(json_array_get(json_object_get(doc, "outputs"), 0), "data");
    for (int i = 0; i < 6; i++) assert_true((float)json_number_value(json_array_get(data, (size_t)i)) == vals[i]);
    json_decref(doc);
    cv_infer_response_free(&resp);
}

static void test_error_body_and_names(void **state)
{
    size_t len;
    char *body = cv_codec_error_body("bad \"x\"\n\x01", &len);
    json_t *doc = json_loads(body, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "error")), "bad \"x\"\n\x01");
    assert_int_equal(len, strlen(body));
    json_decref(doc);
    cv_free(body);
    const char *names[] = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
                           "INT32", "INT64", "FP16", "FP32", "FP64", "BF16"};
    for (size_t i = 0; i < CV_ARRAY_LEN(names); i++) {
        cv_dtype_t d = cv_codec_dtype_parse(names[i]);
        assert_int_not_equal(d, CV_DTYPE_UNDEFINED);
        assert_string_equal(cv_codec_dtype_name(d), names[i]);
        assert_string_equal(cv_codec_config_type(d) + 5, names[i]);
    }
    assert_int_equal(cv_codec_dtype_parse("BYTES"), CV_DTYPE_UNDEFINED);
    assert_int_equal(cv_codec_dtype_parse("fp32"), CV_DTYPE_UNDEFINED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_body_any_pieces), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_refusals_after_inputs), cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_encode),                cmocka_unit_test(test_error_body_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
