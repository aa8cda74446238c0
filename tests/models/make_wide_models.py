#!/usr/bin/env python3
"""make_wide_models.py: models whose nodes have many inputs or outputs.

Usage: .venv/bin/python3 tests/models/make_wide_models.py OUT_DIR

Real exports have wide nodes: torchvision's DenseNet-201 concatenates up to
49 tensors in one Concat, and a Split into 20 parts is an ordinary model.
Caravel once capped a node at 32 inputs and 16 outputs and aborted past
that; these models guard against any such cap coming back. Each is written
in the ONNX backend-test layout (OUT_DIR/<name>/model.onnx and
test_data_set_{0,1}/ with batch 1 and 3, references from onnxruntime), and
two tenants of each (seed 1 and 2: same graph, other weights) so that a
wave of both can be checked against each alone:

  split20     Split into 20 equal parts along channels, each part through
              its own 1x1 Conv, then Sum of the 20 (a 20-input Sum)
  concat49    49 branches (each a weighted Mul of the input), one Concat of
              49 tensors along channels, then a Conv
  concat300   300 Relu branches into one Concat, then ReduceMean: far past
              any plausible fixed cap

Seeded: two runs write byte-identical files. A tool for test data only.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
BATCHES = (1, 3)


def batch_input(name, channels, hw):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", channels, hw, hw])


def output(name, rank):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N"] + [None] * (rank - 1))


def split20(rng):
    parts, c, hw = 20, 40, 6
    per = c // parts
    nodes = [helper.make_node("Split", ["x", "split"], [f"p{i}" for i in range(parts)], axis=1)]
    inits = [numpy_helper.from_array(np.full(parts, per, np.int64), "split")]
    for i in range(parts):
        w = (rng.standard_normal((4, per, 1, 1)) * 0.5).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("Conv", [f"p{i}", f"w{i}"], [f"c{i}"]))
    nodes.append(helper.make_node("Sum", [f"c{i}" for i in range(parts)], ["y"]))
    graph = helper.make_graph(nodes, "split20", [batch_input("x", c, hw)], [output("y", 4)], inits)
    return graph, (c, hw)


def concat49(rng):
    branches, c, hw = 49, 3, 5
    nodes, inits = [], []
    for i in range(branches):
        s = rng.standard_normal((1, c, 1, 1)).astype(np.float32)
        inits.append(numpy_helper.from_array(s, f"s{i}"))
        nodes.append(helper.make_node("Mul", ["x", f"s{i}"], [f"b{i}"]))
    nodes.append(helper.make_node("Concat", [f"b{i}" for i in range(branches)], ["cat"], axis=1))
    w = (rng.standard_normal((8, branches * c, 3, 3)) * 0.05).astype(np.float32)
    inits.append(numpy_helper.from_array(w, "w"))
    nodes.append(helper.make_node("Conv", ["cat", "w"], ["y"], pads=[1, 1, 1, 1]))
    graph = helper.make_graph(nodes, "concat49", [batch_input("x", c, hw)], [output("y", 4)], inits)
    return graph, (c, hw)


def concat300(rng):
    branches, c, hw = 300, 2, 3
    nodes, inits = [], []
    for i in range(branches):
        b = rng.standard_normal((1, c, 1, 1)).astype(np.float32)
        inits.append(numpy_helper.from_array(b, f"b{i}"))
        nodes.append(helper.make_node("Add", ["x", f"b{i}"], [f"a{i}"]))
        nodes.append(helper.make_node("Relu", [f"a{i}"], [f"r{i}"]))
    nodes.append(helper.make_node("Concat", [f"r{i}" for i in range(branches)], ["cat"], axis=1))
    nodes.append(helper.make_node("ReduceMean", ["cat"], ["y"], axes=[2, 3], keepdims=0))
    graph = helper.make_graph(nodes, "concat300", [batch_input("x", c, hw)], [output("y", 2)], inits)
    return graph, (c, hw)


def write_tensor(path, array, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(array, name).SerializeToString())


def write_model(folder, graph, dims, seed):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    onnx.save(model, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1000 + seed)
    c, hw = dims
    for k, batch in enumerate(BATCHES):
        data = os.path.join(folder, f"test_data_set_{k}")
        os.makedirs(data, exist_ok=True)
        x = rng.standard_normal((batch, c, hw, hw)).astype(np.float32)
        (y,) = session.run(None, {"x": x})
        write_tensor(os.path.join(data, "input_0.pb"), x, "x")
        write_tensor(os.path.join(data, "output_0.pb"), y, "y")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_wide_models.py OUT_DIR")
    out = sys.argv[1]
    for name, build in (("split20", split20), ("concat49", concat49), ("concat300", concat300)):
        for seed in (1, 2):
            graph, dims = build(np.random.default_rng(seed))
            write_model(os.path.join(out, f"{name}-seed{seed}"), graph, dims, seed)


if __name__ == "__main__":
    main()
