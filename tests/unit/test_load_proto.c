/*
 * test_load_proto.c: the pure half of `caravel load` (tools/load_proto.c)
 * on bytes written by hand: the --url option, model metadata as Caravel
 * and Triton write it (a -1 batch axis becomes the rows asked for; BYTES, unknown
 * datatypes, bad and huge shapes refused), the request body (its JSON
 * header read back, its data deterministic and in range), the
 * Inference-Header-Content-Length header line, responses of the binary
 * extension (valid ones, JSON ones, and each way sizes can disagree), the
 * repository index (READY models, each once) and error bodies.
 */
#include "testutil.h"

#include "load_proto.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static void test_url(void **state)
{
    char base[64];
    cv_err_t err;
    assert_int_equal(cv_load_parse_url("http://127.0.0.1:8000", base, sizeof base, &err), CV_STATUS_OK);
    assert_string_equal(base, "http://127.0.0.1:8000");
    assert_int_equal(cv_load_parse_url("http://localhost:8000/", base, sizeof base, &err), CV_STATUS_OK);
    assert_string_equal(base, "http://localhost:8000");
    assert_int_equal(cv_load_parse_url("http://example.com", base, sizeof base, &err), CV_STATUS_OK);
    assert_int_equal(cv_load_parse_url("http://[::1]:8000", base, sizeof base, &err), CV_STATUS_OK);
    assert_string_equal(base, "http://[::1]:8000");
    static const char *bad[] = {
        "https://127.0.0.1:8000", "127.0.0.1:8000", "http://", "http:///", "http://host:0",
        "http://host:65536",      "http://host:",   "http://host:80a", "http://host/v2", "http://host:8000/x",
        "http://:8000",           "http://a b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cv_load_parse_url(bad[i], base, sizeof base, &err) == CV_STATUS_OK) fail_msg("accepted '%s'", bad[i]);
        assert_non_null(strstr(err.msg, "--url"));
    }
    char tiny[12];
    assert_int_not_equal(cv_load_parse_url("http://127.0.0.1:8000", tiny, sizeof tiny, &err), CV_STATUS_OK);
}

static void test_dtype_sizes(void **state)
{
    assert_int_equal(cv_load_dtype_size("FP32"), 4);
    assert_int_equal(cv_load_dtype_size("BF16"), 2);
    assert_int_equal(cv_load_dtype_size("INT64"), 8);
    assert_int_equal(cv_load_dtype_size("BOOL"), 1);
    assert_int_equal(cv_load_dtype_size("BYTES"), 0);
    assert_int_equal(cv_load_dtype_size("fp32"), 0);
}

/* What `caravel serve` answers for the demo's mlp-a. */
static const char mlp_metadata[] =
    "{\"name\":\"mlp-a\",\"versions\":[\"1\"],\"platform\":\"onnxruntime_onnx\","
    "\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[-1,64]}],"
    "\"outputs\":[{\"name\":\"output\",\"datatype\":\"FP32\",\"shape\":[-1,10]}]}";

static void test_metadata(void **state)
{
    cv_load_model_t m;
    cv_err_t err;
    assert_int_equal(cv_load_parse_metadata(mlp_metadata, strlen(mlp_metadata), 1, &m, &err), CV_STATUS_OK);
    assert_string_equal(m.name, "mlp-a");
    assert_int_equal(m.ninputs, 1);
    assert_int_equal(m.noutputs, 1);
    assert_string_equal(m.inputs[0].name, "input");
    assert_string_equal(m.inputs[0].datatype, "FP32");
    assert_int_equal(m.inputs[0].rank, 2);
    assert_true(m.inputs[0].shape[0] == 1 && m.inputs[0].shape[1] == 64);
    assert_int_equal(m.inputs[0].bytes, 64 * 4);
    cv_load_model_free(&m);

    /* Several inputs of several types; a scalar; a zero-size one. */
    static const char multi[] =
        "{\"name\":\"m\",\"inputs\":[{\"name\":\"a\",\"datatype\":\"INT64\",\"shape\":[-1,-1,3]},"
        "{\"name\":\"b\",\"datatype\":\"FP16\",\"shape\":[2]},{\"name\":\"c\",\"datatype\":\"BOOL\",\"shape\":[]},"
        "{\"name\":\"d\",\"datatype\":\"FP32\",\"shape\":[0,5]}],\"outputs\":[]}";
    assert_int_equal(cv_load_parse_metadata(multi, strlen(multi), 1, &m, &err), CV_STATUS_OK);
    assert_int_equal(m.ninputs, 4);
    assert_int_equal(m.inputs[0].bytes, 3 * 8);
    assert_int_equal(m.inputs[1].bytes, 2 * 2);
    assert_int_equal(m.inputs[2].bytes, 1);
    assert_int_equal(m.inputs[2].rank, 0);
    assert_int_equal(m.inputs[3].bytes, 0);
    cv_load_model_free(&m);

    /* Rows: only a leading -1 is the batch axis. */
    assert_int_equal(cv_load_parse_metadata(multi, strlen(multi), 4, &m, &err), CV_STATUS_OK);
    assert_true(m.inputs[0].shape[0] == 4 && m.inputs[0].shape[1] == 1 && m.inputs[0].shape[2] == 3);
    assert_int_equal(m.inputs[0].bytes, 4 * 3 * 8);
    assert_int_equal(m.inputs[1].bytes, 2 * 2);
    cv_load_model_free(&m);
    /* Rows that would make the body too large are refused like a shape. */
    assert_int_not_equal(cv_load_parse_metadata(mlp_metadata, strlen(mlp_metadata), 1 << 20, &m, &err), CV_STATUS_OK);
    assert_non_null(strstr(err.msg, "larger than"));

    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"not json", "not JSON"},
        {"[]", "\"name\""},
        {"{\"name\":\"m\",\"inputs\":[]}", "0 inputs"},
        {"{\"name\":\"m\"}", "\"inputs\""},
        {"{\"name\":\"m\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"BYTES\",\"shape\":[1]}]}", "BYTES"},
        {"{\"name\":\"m\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP8\",\"shape\":[1]}]}", "FP8"},
        {"{\"name\":\"m\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP32\",\"shape\":[1,-2]}]}", "dimension 1"},
        {"{\"name\":\"m\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP32\",\"shape\":[1,\"x\"]}]}", "dimension 1"},
        {"{\"name\":\"m\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP32\"}]}", "\"shape\""},
        {"{\"name\":\"m\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
         "1,1]}]}", "17 dimensions"},
        /* Products that would wrap 64 bits, and one just over the body limit. */
        {"{\"name\":\"m\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP32\",\"shape\":[4294967296,4294967296]}]}",
         "larger than"},
        {"{\"name\":\"m\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP32\",\"shape\":[16777217]}]}", "larger than"},
        {"{\"name\":\"m\",\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[10000000]},"
         "{\"name\":\"b\",\"datatype\":\"FP32\",\"shape\":[10000000]}]}", "together"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cv_load_parse_metadata(bad[i].json, strlen(bad[i].json), 1, &m, &err) == CV_STATUS_OK)
            fail_msg("accepted %s", bad[i].json);
        if (!strstr(err.msg, bad[i].needle)) fail_msg("%s: message '%s' lacks '%s'", bad[i].json, err.msg, bad[i].needle);
        assert_null(m.inputs); /* nothing left to free */
    }
}

static void test_build_body(void **state)
{
    static const char meta[] =
        "{\"name\":\"m\",\"inputs\":[{\"name\":\"x \\\"quoted\\\"\",\"datatype\":\"FP32\",\"shape\":[-1,8]},"
        "{\"name\":\"ids\",\"datatype\":\"INT64\",\"shape\":[-1,2]},{\"name\":\"h\",\"datatype\":\"FP16\","
        "\"shape\":[3]}]}";
    cv_load_model_t m;
    cv_err_t err;
    assert_int_equal(cv_load_parse_metadata(meta, strlen(meta), 1, &m, &err), CV_STATUS_OK);
    cv_load_body_t b, again, other;
    assert_int_equal(cv_load_build_body(&m, 7, &b, &err), CV_STATUS_OK);
    assert_int_equal(b.len, b.header_len + 8 * 4 + 2 * 8 + 3 * 2);

    /* The header reads back as the protocol's request. */
    json_t *root = json_loadb(b.data, b.header_len, 0, NULL);
    assert_non_null(root);
    json_t *inputs = json_object_get(root, "inputs");
    assert_int_equal(json_array_size(inputs), 3);
    json_t *x = json_array_get(inputs, 0);
    assert_string_equal(json_string_value(json_object_get(x, "name")), "x \"quoted\"");
    assert_string_equal(json_string_value(json_object_get(x, "datatype")), "FP32");
    json_t *shape = json_object_get(x, "shape");
    assert_int_equal(json_array_size(shape), 2);
    assert_int_equal(json_integer_value(json_array_get(shape, 0)), 1);
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), 8);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(x, "parameters"), "binary_data_size")), 32);
    assert_null(json_object_get(x, "data"));
    assert_true(json_is_true(json_object_get(json_object_get(root, "parameters"), "binary_data_output")));
    json_decref(root);

    /* Floats in [-0.5, 0.5), not all equal; integers zero. */
    float f[8];
    memcpy(f, b.data + b.header_len, sizeof f);
    bool varied = false;
    for (int i = 0; i < 8; i++) {
        assert_true(f[i] >= -0.5f && f[i] < 0.5f);
        varied |= f[i] != f[0];
    }
    assert_true(varied);
    int64_t ids[2];
    memcpy(ids, b.data + b.header_len + 32, sizeof ids);
    assert_true(ids[0] == 0 && ids[1] == 0);
    uint16_t h[3];
    memcpy(h, b.data + b.header_len + 48, sizeof h);
    assert_true(h[0] != 0 || h[1] != 0 || h[2] != 0);

    /* The same seed, the same bytes; another seed, other data. */
    assert_int_equal(cv_load_build_body(&m, 7, &again, &err), CV_STATUS_OK);
    assert_int_equal(cv_load_build_body(&m, 8, &other, &err), CV_STATUS_OK);
    assert_true(again.len == b.len && !memcmp(again.data, b.data, b.len));
    assert_true(other.len == b.len && memcmp(other.data, b.data, b.len) != 0);
    cv_load_body_free(&b);
    cv_load_body_free(&again);
    cv_load_body_free(&other);
    cv_load_model_free(&m);
}

static void test_header_length(void **state)
{
    long v = 0;
    const char line[] = "Inference-Header-Content-Length: 123\r\n";
    assert_true(cv_load_header_length(line, strlen(line), &v));
    assert_int_equal(v, 123);
    const char lower[] = "inference-header-content-length:0\r\n";
    assert_true(cv_load_header_length(lower, strlen(lower), &v));
    assert_int_equal(v, 0);
    const char bad[] = "Inference-Header-Content-Length: 12x\r\n";
    assert_true(cv_load_header_length(bad, strlen(bad), &v));
    assert_int_equal(v, -2);
    const char empty[] = "Inference-Header-Content-Length: \r\n";
    assert_true(cv_load_header_length(empty, strlen(empty), &v));
    assert_int_equal(v, -2);
    const char negative[] = "Inference-Header-Content-Length: -1\r\n";
    assert_true(cv_load_header_length(negative, strlen(negative), &v));
    assert_int_equal(v, -2);
    const char other[] = "Content-Length: 123\r\n";
    assert_false(cv_load_header_length(other, strlen(other), &v));
    assert_false(cv_load_header_length("Inference", 9, &v));
}

/* A response: JSON header (its length in *header_len) then `binary` bytes. */
static char *response(const char *json, size_t binary, size_t *len, long *header_len)
{
    size_t n = strlen(json);
    char *body = test_malloc(n + binary + 1);
    memcpy(body, json, n);
    memset(body + n, 0x3f, binary);
    *len = n + binary;
    *header_len = (long)n;
    return body;
}

static void test_response(void **state)
{
    cv_load_response_t r;
    cv_err_t err;
    size_t len;
    long hl;
    /* What `caravel serve` answers: one binary FP32 [1,10] output. */
    const char *ok = "{\"model_name\":\"mlp-a\",\"model_version\":\"1\",\"outputs\":[{\"name\":\"output\","
                     "\"datatype\":\"FP32\",\"shape\":[1,10],\"parameters\":{\"binary_data_size\":40}}]}";
    char *body = response(ok, 40, &len, &hl);
    assert_int_equal(cv_load_parse_response(body, len, hl, "mlp-a", &r, &err), CV_STATUS_OK);
    assert_int_equal(r.noutputs, 1);
    assert_int_equal(r.binary_bytes, 40);
    /* Another model's answer, one byte short, one byte too many, no header. */
    assert_int_not_equal(cv_load_parse_response(body, len, hl, "mlp-b", &r, &err), CV_STATUS_OK);
    assert_non_null(strstr(err.msg, "mlp-b"));
    assert_int_not_equal(cv_load_parse_response(body, len - 1, hl, "mlp-a", &r, &err), CV_STATUS_OK);
    assert_non_null(strstr(err.msg, "add up to 40"));
    assert_int_not_equal(cv_load_parse_response(body, len, hl - 1, "mlp-a", &r, &err), CV_STATUS_OK);
    assert_int_not_equal(cv_load_parse_response(body, len, -1, NULL, &r, &err), CV_STATUS_OK);
    assert_int_not_equal(cv_load_parse_response(body, len, (long)len + 1, NULL, &r, &err), CV_STATUS_OK);
    assert_non_null(strstr(err.msg, "Inference-Header-Content-Length"));
    assert_int_not_equal(cv_load_parse_response(body, len, -2, NULL, &r, &err), CV_STATUS_OK);
    test_free(body);

    /* Two outputs, one binary and one JSON (nested data); no header at
     * all means the whole body is JSON. */
    const char *mixed = "{\"outputs\":[{\"name\":\"a\",\"datatype\":\"INT64\",\"shape\":[2,2],"
                        "\"data\":[[1,2],[3,4]]},{\"name\":\"b\",\"datatype\":\"FP16\",\"shape\":[3],"
                        "\"parameters\":{\"binary_data_size\":6}}]}";
    body = response(mixed, 6, &len, &hl);
    assert_int_equal(cv_load_parse_response(body, len, hl, NULL, &r, &err), CV_STATUS_OK);
    assert_int_equal(r.noutputs, 2);
    assert_int_equal(r.binary_bytes, 6);
    test_free(body);
    const char *json_only = "{\"outputs\":[{\"name\":\"a\",\"datatype\":\"BOOL\",\"shape\":[3],"
                            "\"data\":[true,false,true]}]}";
    assert_int_equal(cv_load_parse_response(json_only, strlen(json_only), -1, NULL, &r, &err), CV_STATUS_OK);
    assert_int_equal(r.binary_bytes, 0);

    static const struct {
        const char *json;
        size_t binary;
        const char *needle;
    } bad[] = {
        {"{\"error\":\"boom\"}", 0, "\"outputs\""},
        {"{\"outputs\":[]}", 0, "\"outputs\""},
        {"{\"outputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[2],"
         "\"parameters\":{\"binary_data_size\":4}}]}", 4, "binary_data_size is not 8"},
        {"{\"outputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[2],\"data\":[1]}]}", 0, "2 values"},
        {"{\"outputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[2],\"data\":[1,\"x\"]}]}", 0, "2 values"},
        {"{\"outputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[-1],\"data\":[]}]}", 0, "dimension 0"},
        {"{\"outputs\":[{\"name\":\"a\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"s\"]}]}", 0, "BYTES"},
        {"{\"outputs\":[{\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}", 0, "\"name\""},
        {"{\"outputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[1099511627776,1099511627776],"
         "\"data\":[]}]}", 0, "dimension 1"},
        {"{\"outputs\":", 0, "not JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body = response(bad[i].json, bad[i].binary, &len, &hl);
        cv_status st = cv_load_parse_response(body, len, hl, NULL, &r, &err);
        test_free(body);
        if (st == CV_STATUS_OK) fail_msg("accepted %s", bad[i].json);
        if (!strstr(err.msg, bad[i].needle)) fail_msg("%s: message '%s' lacks '%s'", bad[i].json, err.msg, bad[i].needle);
    }
}

static void test_index(void **state)
{
    static const char index[] =
        "[{\"name\":\"cnn-a\",\"version\":\"1\",\"state\":\"READY\",\"reason\":\"\"},"
        "{\"name\":\"broken\",\"version\":\"1\",\"state\":\"UNAVAILABLE\",\"reason\":\"bad\"},"
        "{\"name\":\"cnn-a\",\"version\":\"2\",\"state\":\"READY\"},"
        "{\"name\":\"mlp-a\",\"state\":\"READY\"},{\"name\":\"nostate\"}]";
    char **names;
    int n;
    cv_err_t err;
    assert_int_equal(cv_load_parse_index(index, strlen(index), &names, &n, &err), CV_STATUS_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "cnn-a");
    assert_string_equal(names[1], "mlp-a");
    cv_load_names_free(names, n);
    assert_int_equal(cv_load_parse_index("[]", 2, &names, &n, &err), CV_STATUS_OK);
    assert_int_equal(n, 0);
    cv_load_names_free(names, n);
    assert_int_not_equal(cv_load_parse_index("{}", 2, &names, &n, &err), CV_STATUS_OK);
    assert_int_not_equal(cv_load_parse_index("[{\"state\":\"READY\"}]", 19, &names, &n, &err), CV_STATUS_OK);
    assert_non_null(strstr(err.msg, "entry 0"));
    assert_int_not_equal(cv_load_parse_index("[", 1, &names, &n, &err), CV_STATUS_OK);
}

static void test_error_message(void **state)
{
    char buf[32];
    const char e[] = "{\"error\":\"unknown model 'x'\"}";
    cv_load_error_message(e, strlen(e), buf, sizeof buf);
    assert_string_equal(buf, "unknown model 'x'");
    /* Not JSON: the body itself, one printable line, cut to fit. */
    const char html[] = "<html>\r\nBad\tGateway\x01</html> and much more text after it";
    cv_load_error_message(html, strlen(html), buf, sizeof buf);
    assert_string_equal(buf, "<html>  Bad Gateway</html> and ");
    cv_load_error_message("", 0, buf, sizeof buf);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),         cmocka_unit_test(test_dtype_sizes), cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_build_body),  cmocka_unit_test(test_header_length),
        cmocka_unit_test(test_response),    cmocka_unit_test(test_index),       cmocka_unit_test(test_error_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
