/*
 * fuzz_tensor_pb.c: the fuzz target of the test-data reader. One input is
 * the bytes of a serialized ONNX TensorProto (an input_K.pb / output_K.pb
 * file, or a tensor a client sends), read by cv_tensor_read_pb_buffer, the
 * one code path behind cv_tensor_read_pb.
 *
 * Built like fuzz_onnx_model.c (see there and tests/fuzz/CMakeLists.txt):
 * with libFuzzer by `make fuzz`, and with replay.c for `make test`, which
 * replays the .pb files of ../shared (tests/fuzz/seeds/tensor_pb.txt),
 * tests/fuzz/corpus/tensor_pb/ and tests/fuzz/crashes/tensor_pb/.
 *
 * External data is read from cv_fuzz_data_dir. An input fails on a
 * sanitizer report, a CV_ASSERT, a leak (its allocation account is not back
 * to zero), or a tensor that is not what the contract says: storable dtype,
 * known dims, and every byte of its data readable. A quarter of the inputs
 * are read again with an allocation failing part way.
 */
#include "onnx/onnx_loader.h"

#include "fuzz_data_dir.h"

#include <string.h>

/* Every allocation of one input; past it the reader reports OUT_OF_MEMORY
 * (a file whose dims claim gigabytes it does not hold is refused before
 * allocating, so this rarely matters). */
#define FUZZ_MEMORY_BYTES ((size_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One read of the input under its own account; `pass` names it in the
 * leak report. */
static void one_pass(const uint8_t *data, size_t size, const char *pass)
{
    cv_account_t account = {.name = "fuzz", .limit_bytes = FUZZ_MEMORY_BYTES};
    cv_account_t *previous = cv_account_use(&account);
    cv_tensor_t t;
    cv_err_t err;
    if (cv_tensor_read_pb_buffer(data, size, "fuzz.pb", cv_fuzz_data_dir(), &t, &err) ==
        CV_STATUS_OK) {
        CV_ASSERT(cv_dtype_size(t.dtype) > 0 && t.dtype != CV_DTYPE_STRING);
        CV_ASSERT(t.shape.ndim >= 0 && t.shape.ndim <= CV_MAX_DIMS);
        for (int d = 0; d < t.shape.ndim; d++) CV_ASSERT(t.shape.dims[d] >= 0);
        CV_ASSERT(t.data);
        /* Reading every byte lets AddressSanitizer check the allocation
         * matches the shape; the sum keeps the loop from being dropped. */
        size_t n = cv_tensor_nbytes(&t);
        unsigned sum = 0;
        for (size_t i = 0; i < n; i++) sum += ((const unsigned char *)t.data)[i];
        if (t.dtype == CV_DTYPE_BOOL) CV_ASSERT(sum <= n); /* stored as 0/1 */
        cv_tensor_free(&t);
    } else {
        CV_ASSERT(t.data == NULL); /* nothing to free on failure */
    }
    cv_account_use(previous);
    if (account.live_bytes != 0) {
        fprintf(stderr, "fuzz_tensor_pb: leak: %zu bytes still allocated after the %s pass\n",
                account.live_bytes, pass);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_pass(data, size, "normal");
    /* A quarter of the inputs again with the n-th allocation failing (n in
     * [1, 8]: a read makes few), chosen by an FNV-1a hash so replays agree. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
    if (h % 4 == 0) {
        cv_alloc_fail_after(1 + (long)((h >> 8) % 8));
        one_pass(data, size, "out-of-memory");
        cv_alloc_fail_after(0);
    }
    return 0;
}
