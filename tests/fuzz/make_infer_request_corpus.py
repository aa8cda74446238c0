#!/usr/bin/env python3
"""make_infer_request_corpus.py: writes the seed corpus of fuzz_infer_request
(tests/fuzz/corpus/infer_request/): request bodies framed as that target
reads them (see the layout in fuzz_infer_request.c), valid and not, JSON and
binary, for its two model signatures. Deterministic; rerun it when the
layout or the signatures change.

Usage: python3 tests/fuzz/make_infer_request_corpus.py
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "infer_request")


def framed(flags, body, header_len=0):
    return bytes([flags]) + struct.pack("<H", header_len) + body


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    rows = 2
    inputs = [
        {"name": "a", "shape": [rows, 3], "datatype": "FP32", "data": [[1.5, -2, 3e-3], [4, 5, 6]]},
        {"name": "b", "shape": [rows, 2], "datatype": "INT64", "data": [1, -2, 3, 9223372036854775807]},
        {"name": "c", "shape": [rows, 1], "datatype": "BOOL", "data": [True, False]},
        {"name": "d", "shape": [rows, 1, 2], "datatype": "FP16", "data": [0.5, 1, 2, 65504]},
        {"name": "e", "shape": [rows, 1], "datatype": "UINT64", "data": [18446744073709551615, 0]},
        {"name": "f", "shape": [rows, 2], "datatype": "BF16", "parameters": {"binary_data_size": 8}},
        {"name": "g", "shape": [rows, 2], "datatype": "INT8", "parameters": {"binary_data_size": 4}},
        {"name": "h", "shape": [rows, 1], "datatype": "FP64", "data": [1e300, -0.0]},
    ]
    head = json.dumps({"id": "seed", "inputs": inputs, "parameters": {"priority": 2, "timeout": 5000},
                       "outputs": [{"name": "a"}, {"name": "f", "parameters": {"binary_data": True}},
                                   {"name": "e", "parameters": {"binary_data": False}}]}).encode()
    raw = bytes(range(8)) + bytes([1, 2, 255, 128])
    seeds["batched-mixed"] = framed(0b011, head + raw, len(head))
    seeds["batched-mixed-chunked-1byte"] = framed(0b001, head + raw, len(head))
    seeds["batched-header-text"] = bytes([0b011, ord("x")]) + str(len(head)).encode() + b";" + head + raw
    seeds["batched-header-bad"] = bytes([0b011, ord("x")]) + b"-12;" + head + raw
    sizes = (24, 32, 2, 8, 16, 8, 4, 16)  # the bytes of each input at 2 rows
    all_binary = json.dumps({"inputs": [{"name": i["name"], "shape": i["shape"], "datatype": i["datatype"],
                                         "parameters": {"binary_data_size": n}} for i, n in zip(inputs, sizes)],
                             "parameters": {"binary_data_output": True}}).encode()
    seeds["batched-all-binary"] = framed(0b10011, all_binary + bytes(110), len(all_binary))
    fixed = json.dumps({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "UINT8", "data": [[1, 2], [3, 255]]},
                                   {"name": "y", "shape": [3], "datatype": "FP32", "data": [1, 2.5, -3]}]}).encode()
    seeds["fixed-json"] = framed(0b110, fixed)
    seeds["fixed-json-header-zero"] = framed(0b111, fixed, 0)
    seeds["malformed"] = framed(0b010, b'{"inputs": [{"name": "x", "shape": [2,')
    seeds["wrong-shape"] = framed(0b110, fixed.replace(b"[2, 2]", b"[2, 3]"))
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    main()
