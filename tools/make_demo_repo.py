#!/usr/bin/env python3
"""make_demo_repo.py: writes the demo model repository that `make demo` serves.

Usage: .venv/bin/python3 tools/make_demo_repo.py [REPO]   (default: demo-repo)

Layout (Triton's): REPO/<tenant>/config.json and REPO/<tenant>/1/model.onnx,
with test_data_set_0/ (batch 1) and test_data_set_1/ (batch 3) beside each
model.onnx, so that `caravel check REPO/*/1` checks every tenant.

Two families, built with onnx.helper at opset 17 and a symbolic batch dim N:
  cnn-a, cnn-b, cnn-c  a small CNN on [N,3,32,32] (Conv+BN+Relu, depthwise
                       conv, 1x1 conv, residual Add, MaxPool, GAP, Gemm)
  mlp-a, mlp-b         an MLP on [N,64] (MatMul+Add+Relu, Gemm, Softmax)
Tenants of one family share the graph and differ only in weights, which is
what makes them one family for Caravel's structural hash.

Reference outputs come from onnxruntime on the CPU, single-threaded so that
its reduction order, and hence every output byte, is the same on each run.
Everything is seeded: two runs write byte-identical files. This is a tool for
reference data, not part of the library; it does not touch files outside REPO.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# The IR version that matches opset 17 (what exporters of that opset write),
# rather than the newest this onnx package knows.
IR_VERSION = 8
BATCHES = (1, 3)  # test_data_set_0, test_data_set_1

# tenant name -> (family, weight seed)
TENANTS = (
    ("cnn-a", "cnn", 1),
    ("cnn-b", "cnn", 2),
    ("cnn-c", "cnn", 3),
    ("mlp-a", "mlp", 11),
    ("mlp-b", "mlp", 12),
)


def he(rng, shape, fan_in):
    """He-normal weights: keeps activations O(1) through the Relus."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def small(rng, shape, scale=0.1):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def init(name, array):
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def cnn_graph(rng):
    """[N,3,32,32] -> logits [N,10]. BatchNormalization has random statistics
    so that folding it into the Conv is actually exercised."""
    c = 16
    inits = [
        init("stem.weight", he(rng, (c, 3, 3, 3), 3 * 9)),
        init("stem.bias", small(rng, (c,))),
        init("bn.scale", rng.uniform(0.5, 1.5, c).astype(np.float32)),
        init("bn.bias", small(rng, (c,))),
        init("bn.mean", small(rng, (c,))),
        init("bn.var", rng.uniform(0.5, 2.0, c).astype(np.float32)),
        init("dw.weight", he(rng, (c, 1, 3, 3), 9)),
        init("dw.bias", small(rng, (c,))),
        init("pw.weight", he(rng, (c, c, 1, 1), c)),
        init("pw.bias", small(rng, (c,))),
        init("fc.weight", he(rng, (10, c), c)),
        init("fc.bias", small(rng, (10,))),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "stem.weight", "stem.bias"], ["stem"],
                         name="stem_conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization",
                         ["stem", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["stem_bn"],
                         name="stem_bn", epsilon=1e-5),
        helper.make_node("Relu", ["stem_bn"], ["stem_relu"], name="stem_relu"),
        helper.make_node("Conv", ["stem_relu", "dw.weight", "dw.bias"], ["dw"],
                         name="dw_conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=c),
        helper.make_node("Relu", ["dw"], ["dw_relu"], name="dw_relu"),
        helper.make_node("Conv", ["dw_relu", "pw.weight", "pw.bias"], ["pw"],
                         name="pw_conv", kernel_shape=[1, 1]),
        helper.make_node("Add", ["stem_relu", "pw"], ["residual"], name="residual_add"),
        helper.make_node("MaxPool", ["residual"], ["pool"], name="max_pool",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["pool"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["output"],
                         name="fc", transB=1),
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])]
    return helper.make_graph(nodes, "cnn", inputs, outputs, inits), (3, 32, 32)


def mlp_graph(rng):
    """[N,64] -> class probabilities [N,10]."""
    inits = [
        init("fc1.weight", he(rng, (64, 128), 64)),  # MatMul: [in, out]
        init("fc1.bias", small(rng, (128,))),
        init("fc2.weight", he(rng, (10, 128), 128)),  # Gemm transB: [out, in]
        init("fc2.bias", small(rng, (10,))),
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "fc1.weight"], ["fc1"], name="fc1_matmul"),
        helper.make_node("Add", ["fc1", "fc1.bias"], ["fc1_biased"], name="fc1_bias"),
        helper.make_node("Relu", ["fc1_biased"], ["fc1_relu"], name="fc1_relu"),
        helper.make_node("Gemm", ["fc1_relu", "fc2.weight", "fc2.bias"], ["logits"],
                         name="fc2", transB=1),
        helper.make_node("Softmax", ["logits"], ["output"], name="softmax", axis=-1),
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])]
    return helper.make_graph(nodes, "mlp", inputs, outputs, inits), (64,)


FAMILIES = {"cnn": cnn_graph, "mlp": mlp_graph}


def make_model(family, seed):
    graph, row_shape = FAMILIES[family](np.random.default_rng(seed))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="caravel-make_demo_repo", ir_version=IR_VERSION)
    onnx.checker.check_model(model, full_check=True)
    return model, row_shape


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_tenant(repo, name, family, seed):
    model, row_shape = make_model(family, seed)
    model_bytes = model.SerializeToString(deterministic=True)
    version_dir = os.path.join(repo, name, "1")
    write_bytes(os.path.join(version_dir, "model.onnx"), model_bytes)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    output_names = [o.name for o in session.get_outputs()]

    # Inputs use their own seed stream so that changing the weights of a
    # family does not change its test inputs.
    data_rng = np.random.default_rng(1000 + seed)
    for index, batch in enumerate(BATCHES):
        x = data_rng.standard_normal((batch,) + row_shape).astype(np.float32)
        outputs = session.run(output_names, {input_name: x})
        data_dir = os.path.join(version_dir, "test_data_set_%d" % index)
        write_bytes(os.path.join(data_dir, "input_0.pb"),
                    numpy_helper.from_array(x, input_name).SerializeToString())
        for k, (out_name, y) in enumerate(zip(output_names, outputs)):
            write_bytes(os.path.join(data_dir, "output_%d.pb" % k),
                        numpy_helper.from_array(y, out_name).SerializeToString())

    config = {"name": name, "platform": "onnxruntime_onnx", "max_batch_size": 8}
    write_bytes(os.path.join(repo, name, "config.json"),
                (json.dumps(config, indent=2) + "\n").encode())
    weights = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print("%-6s family %s, seed %2d, %2d nodes, %5d weights: %s/1/model.onnx + 2 test data sets"
          % (name, family, seed, len(model.graph.node), weights, name))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", default="demo-repo",
                        help="folder to write the repository into (default: demo-repo)")
    args = parser.parse_args()
    for name, family, seed in TENANTS:
        write_tenant(args.repo, name, family, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
