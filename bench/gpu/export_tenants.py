#!/usr/bin/env python3
"""export_tenants.py: makes R tenants of one torchvision architecture for the
GPU benchmarks: exports the model once to ONNX (classic exporter, opset 17,
dynamic batch axis), then writes R copies whose float weights are
perturbed with a per-tenant seed, so that every tenant has distinct weights
(fine-tuned copies of one architecture: one family).

With --classes C the classifier head has C outputs instead of
torchvision's default (1000): tenants fine-tuned for another task, a family
of their own (Caravel's family covers weight shapes), at the same cost but
for the last Gemm. Their perturbations are seeded by (C, tenant), so that
no tenant of one head shares a tensor with a tenant of another.

Runs where PyTorch and torchvision are (the GPU machine); a tool that makes
benchmark data, not shipped code.

Usage: export_tenants.py ARCH R OUT_DIR [--classes C]   (writes OUT_DIR/tenant_000.onnx ...)
"""
import argparse
import os

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper


def export(arch, path, classes):
    torch.manual_seed(0)
    kwargs = {} if classes is None else {"num_classes": classes}
    model = getattr(torchvision.models, arch)(**kwargs).eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, x, path, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      dynamo=False)


def main():
    ap = argparse.ArgumentParser(description="R tenants of a torchvision model, distinct weights")
    ap.add_argument("arch")
    ap.add_argument("tenants", type=int)
    ap.add_argument("out")
    ap.add_argument("--classes", type=int, help="outputs of the classifier head (default: torchvision's)")
    args = ap.parse_args()
    arch, tenants, out, classes = args.arch, args.tenants, args.out, args.classes
    if classes == 1000:
        classes = None  # torchvision's default: the same files as without the option
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, "base.onnx")
    export(arch, base, classes)
    model = onnx.load(base)
    originals = [numpy_helper.to_array(t) for t in model.graph.initializer]
    for r in range(tenants):
        rng = np.random.default_rng(1000 + r if classes is None else [classes, 1000 + r])
        for k, init in enumerate(model.graph.initializer):
            w = originals[k]
            if w.dtype == np.float32:
                noisy = w * (1.0 + 0.05 * rng.standard_normal(w.shape).astype(np.float32))
                init.CopyFrom(numpy_helper.from_array(noisy.astype(np.float32), init.name))
        onnx.save(model, os.path.join(out, "tenant_%03d.onnx" % r))
    print("export_tenants: %s x %d tenants%s in %s" % (
        arch, tenants, "" if classes is None else " with %d classes" % classes, out), flush=True)


if __name__ == "__main__":
    main()
