#!/usr/bin/env python3
"""gap_model.py: writes an ONNX model of one ResNet-sized image in and
almost no work: GlobalAveragePool over [N, 3, 224, 224]. Under `caravel
drive` with many tenants on the CPU its waves cost little compute, but
every request's input is the 602 KB a ResNet-50 or MobileNetV2 client
writes, so that the scheduler's decision meets the caches the H100's host
gives it under load (docs/DESIGN-NOTES.md, "A decision under load reads
cold lines").

usage: bench/gap_model.py OUT.onnx     (needs the `onnx` package)
then:  build/caravel drive --model OUT.onnx --tenants 64 --concurrency 192 \\
           --duration 3 --warmup 1
"""
import sys

import onnx
from onnx import TensorProto, helper


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 1, 1])
    graph = helper.make_graph([helper.make_node("GlobalAveragePool", ["x"], ["y"])], "gap", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
