#!/usr/bin/env python3
"""make_test_repo.py: the model repository the server tests serve.

Usage: PYTHON tests/server/make_test_repo.py REPO

REPO gets the demo repository (tools/make_demo_repo.py: cnn-a, cnn-b, cnn-c,
mlp-a, mlp-b, each with onnxruntime's reference outputs in
test_data_set_0 (batch 1) and test_data_set_1 (batch 3)), and beside it:
  versioned   version 1 is mlp-a's model, version 2 mlp-b's (so a version
              in the URL, or none for the latest, picks which answers)
  alltypes    one input per datatype the protocol carries (x_BOOL, x_UINT8,
              ..., x_BF16, each [N,4]) and y_<type> = Concat(x, x) ([N,8])
  fixed       no batch axis: x FP32 [2,3] -> y = Concat(x, x, axis 0) [4,3]
  wide        x FP32 [N,20000] -> y = Relu(x): 80 KB a row, an answer
              past the server's one-buffer size (sent from the request's
              own buffers)
  broken      a model.onnx that is not ONNX (fails to load)
  badconfig   mlp-a's model with a config.json key that does not exist
Everything is deterministic. It writes nothing outside REPO.
"""
import json
import os
import shutil
import subprocess
import sys

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "..", "tools", "make_demo_repo.py")

TYPES = {
    "BOOL": TensorProto.BOOL, "UINT8": TensorProto.UINT8, "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32, "UINT64": TensorProto.UINT64, "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16, "INT32": TensorProto.INT32, "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16, "FP32": TensorProto.FLOAT, "FP64": TensorProto.DOUBLE,
    "BF16": TensorProto.BFLOAT16,
}


def save(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))


def config(repo, name, cfg):
    with open(os.path.join(repo, name, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def make_model(nodes, inputs, outputs):
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def main():
    repo = sys.argv[1]
    if os.path.exists(repo):
        shutil.rmtree(repo)
    subprocess.run([sys.executable, DEMO, repo], check=True, stdout=subprocess.DEVNULL)

    for version, source in (("1", "mlp-a"), ("2", "mlp-b")):
        shutil.copytree(os.path.join(repo, source, "1"), os.path.join(repo, "versioned", version))
    config(repo, "versioned", {"max_batch_size": 8})

    nodes, inputs, outputs = [], [], []
    for name, t in TYPES.items():
        nodes.append(helper.make_node("Concat", ["x_" + name, "x_" + name], ["y_" + name], axis=1))
        inputs.append(helper.make_tensor_value_info("x_" + name, t, ["N", 4]))
        outputs.append(helper.make_tensor_value_info("y_" + name, t, ["N", 8]))
    save(make_model(nodes, inputs, outputs), os.path.join(repo, "alltypes", "1", "model.onnx"))
    config(repo, "alltypes", {"max_rows": 4})

    node = helper.make_node("Concat", ["x", "x"], ["y"], axis=0)
    save(make_model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])]),
         os.path.join(repo, "fixed", "1", "model.onnx"))

    node = helper.make_node("Relu", ["x"], ["y"])
    save(make_model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 20000])],
                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 20000])]),
         os.path.join(repo, "wide", "1", "model.onnx"))

    os.makedirs(os.path.join(repo, "broken", "1"))
    with open(os.path.join(repo, "broken", "1", "model.onnx"), "wb") as f:
        f.write(b"this is not an ONNX model")

    shutil.copytree(os.path.join(repo, "mlp-a", "1"), os.path.join(repo, "badconfig", "1"))
    config(repo, "badconfig", {"slo_msec": 5})
    return 0


if __name__ == "__main__":
    sys.exit(main())
