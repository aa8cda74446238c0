/*
 * testutil.h: helpers shared by the cmocka unit tests.
 */
#ifndef CV_TESTUTIL_H
#define CV_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "caravel.h"

/* A scratch folder for this test binary (created on first use). */
const char *cv_test_tmpdir(void);
/* True when ../shared (the shared data folder) is present. */
int cv_test_have_shared(void);
/* Fills a tensor with deterministic pseudo-random values in [-1, 1). */
void cv_test_fill_random(cv_tensor_t *t, uint64_t seed);
/* Max |a-b| over two FP32 tensors of equal shape. */
double cv_test_max_abs_diff(const cv_tensor_t *a, const cv_tensor_t *b);

/* The demo model repository (tools/make_demo_repo.py: cnn-a/b/c, one
 * family of small CNNs, and mlp-a/b, one of MLPs), from $CARAVEL_DEMO_REPO
 * when set, else made once into this test's scratch folder with the
 * project's Python. NULL when that Python lacks onnx and onnxruntime (the
 * caller skips, and this has printed why). */
const char *cv_test_demo_repo(void);

#endif
