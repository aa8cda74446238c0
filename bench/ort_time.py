#!/usr/bin/env python3
"""ort_time.py: times one model under onnxruntime (CPU), the peer of
`caravel run --repeat N --threads T` in bench/cpu_vs_onnxruntime.sh.

Usage: .venv/bin/python3 bench/ort_time.py --model M.onnx --input in.pb
           [--input in2.pb ...] [--repeat 50] [--threads 2]

Same protocol as caravel: one warm-up run, then N timed runs of the whole
InferenceSession.run call; prints the outputs and the timing in caravel
run's format, so that one parser reads both:
  output 'NAME' FP32 [1,1000]: v0 v1 ... (first 8 values)
  time: median X.XXX ms, min Y.YYY ms over N runs
Session: CPU provider, intra_op_num_threads=T, sequential execution, graph
optimisations at onnxruntime's default level (what users get).
"""
import argparse
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

DTYPE_NAMES = {np.dtype(np.float32): "FP32", np.dtype(np.float16): "FP16",
               np.dtype(np.float64): "FP64", np.dtype(np.int64): "INT64",
               np.dtype(np.int32): "INT32", np.dtype(np.int8): "INT8",
               np.dtype(np.uint8): "UINT8", np.dtype(np.bool_): "BOOL"}


def load_inputs(session, paths):
    """Binds each input file to the model input of the same name, or by
    position when the file's tensor is unnamed."""
    model_inputs = [i.name for i in session.get_inputs()]
    if len(paths) > len(model_inputs):
        raise ValueError("%d inputs given, the model has %d" % (len(paths), len(model_inputs)))
    feeds = {}
    for k, path in enumerate(paths):
        tensor = onnx.load_tensor(path)
        name = tensor.name if tensor.name in model_inputs else model_inputs[k]
        feeds[name] = numpy_helper.to_array(tensor)
    return feeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", action="append", required=True)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.repeat < 1 or args.threads < 1:
        print("ort_time: --repeat and --threads must be at least 1", file=sys.stderr)
        return 1

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
        feeds = load_inputs(session, args.input)
    except Exception as e:  # onnxruntime raises its own types; one line is enough
        print("ort_time: %s" % str(e).splitlines()[0], file=sys.stderr)
        return 1

    outputs = session.run(None, feeds)  # warm-up
    times_ms = []
    for _ in range(args.repeat):
        start = time.perf_counter_ns()
        session.run(None, feeds)
        times_ms.append((time.perf_counter_ns() - start) / 1e6)

    for meta, y in zip(session.get_outputs(), outputs):
        shape = "[" + ",".join(str(d) for d in y.shape) + "]"
        values = " ".join("%g" % v for v in y.reshape(-1)[:8])
        print("output '%s' %s %s: %s" % (meta.name, DTYPE_NAMES.get(y.dtype, str(y.dtype)),
                                         shape, values))
    print("time: median %.3f ms, min %.3f ms over %d runs"
          % (statistics.median(times_ms), min(times_ms), args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
