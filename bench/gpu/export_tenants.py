#!/usr/bin/env python3
"""export_tenants.py: makes R tenants of one torchvision architecture for the
GPU benchmarks: exports the model once to ONNX (classic exporter, opset 17,
dynamic batch axis), then writes R copies whose float weights are
perturbed with a per-tenant seed, so that every tenant has distinct weights
(fine-tuned copies of one architecture: one family).

Runs where PyTorch and torchvision are (the GPU machine); a tool that makes
benchmark data, not shipped code.

Usage: export_tenants.py ARCH R OUT_DIR    (writes OUT_DIR/tenant_000.onnx ...)
"""
import os
import sys

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper


def export(arch, path):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)().eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, x, path, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      dynamo=False)


def main():
    arch, tenants, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, "base.onnx")
    export(arch, base)
    model = onnx.load(base)
    originals = [numpy_helper.to_array(t) for t in model.graph.initializer]
    for r in range(tenants):
        rng = np.random.default_rng(1000 + r)
        for k, init in enumerate(model.graph.initializer):
            w = originals[k]
            if w.dtype == np.float32:
                noisy = w * (1.0 + 0.05 * rng.standard_normal(w.shape).astype(np.float32))
                init.CopyFrom(numpy_helper.from_array(noisy.astype(np.float32), init.name))
        onnx.save(model, os.path.join(out, "tenant_%03d.onnx" % r))
    print("export_tenants: %s x %d tenants in %s" % (arch, tenants, out), flush=True)


if __name__ == "__main__":
    main()
