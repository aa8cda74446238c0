#!/usr/bin/env python3
"""export_tenants.py: makes R tenants of one torchvision architecture for the
GPU benchmarks: exports the model once to ONNX (classic exporter, opset 17,
dynamic batch axis), then writes R copies whose float weights are
perturbed with a per-tenant seed (fine-tuned copies of one architecture:
one family).

--vary says which weights a tenant has of its own; the others stay the
export's, byte for byte, in every tenant, as a frozen backbone does:
  all         every float weight (the default): fully distinct tenants
  head        the classifier only: tenants that share the backbone
  last-stage  the classifier and the last stage (ResNet-50's layer4,
              MobileNetV2's last inverted residual block and final 1x1
              conv): tenants that share all but those
A weight belongs to a part by the nodes that read it: the classic exporter
names nodes by module path ("/layer4/layer4.0/conv1/Conv", "/fc/Gemm"),
and BatchNorm folded into a Conv at export stays with that Conv.

With --classes C the classifier head has C outputs instead of
torchvision's default (1000): tenants fine-tuned for another task, a family
of their own (Caravel's family covers weight shapes), at the same cost but
for the last Gemm. Their perturbations are seeded by (C, tenant), so that
no tenant of one head shares a tensor with a tenant of another.

Runs where PyTorch and torchvision are (the GPU machine); a tool that makes
benchmark data, not shipped code.

Usage: export_tenants.py ARCH R OUT_DIR [--classes C] [--vary all|head|last-stage]
       (writes OUT_DIR/tenant_000.onnx ...)
"""
import argparse
import os

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper

# Module-path prefixes of each architecture's parts (node names of the
# classic exporter).
PARTS = {
    "resnet50": {"head": ["/fc/"], "last-stage": ["/fc/", "/layer4/"]},
    "mobilenet_v2": {"head": ["/classifier/"],
                     "last-stage": ["/classifier/", "/features/features.17/", "/features/features.18/"]},
}


def export(arch, path, classes):
    torch.manual_seed(0)
    kwargs = {} if classes is None else {"num_classes": classes}
    model = getattr(torchvision.models, arch)(**kwargs).eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, x, path, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      dynamo=False)


def own_weights(model, arch, vary):
    """Names of the initializers each tenant has of its own."""
    floats = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    if vary == "all":
        return floats
    prefixes = PARTS.get(arch, {}).get(vary)
    if not prefixes:
        raise SystemExit("export_tenants: --vary %s: the parts of %s are not known (known: %s)"
                         % (vary, arch, ", ".join(sorted(PARTS))))
    own = set()
    for node in model.graph.node:
        if any(node.name.startswith(p) for p in prefixes):
            own.update(i for i in node.input if i in floats)
    # Every prefix must have found its weights, or the export's naming changed.
    for p in prefixes:
        if not any(n.name.startswith(p) and any(i in floats for i in n.input) for n in model.graph.node):
            raise SystemExit("export_tenants: no weight read by a node under %s in the %s export" % (p, arch))
    return own


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("arch")
    ap.add_argument("tenants", type=int)
    ap.add_argument("out")
    ap.add_argument("--classes", type=int, help="outputs of the classifier head (default: torchvision's)")
    ap.add_argument("--vary", choices=["all", "head", "last-stage"], default="all")
    args = ap.parse_args()
    classes = None if args.classes == 1000 else args.classes  # 1000: torchvision's default, the same files
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, "base.onnx")
    export(args.arch, base, classes)
    model = onnx.load(base)
    own = own_weights(model, args.arch, args.vary)
    originals = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer if t.name in own}
    total = sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    mine = sum(int(originals[n].size) for n in originals)
    for r in range(args.tenants):
        rng = np.random.default_rng(1000 + r if classes is None else [classes, 1000 + r])
        for init in model.graph.initializer:
            if init.name not in own:
                continue
            w = originals[init.name]
            noisy = w * (1.0 + 0.05 * rng.standard_normal(w.shape).astype(np.float32))
            init.CopyFrom(numpy_helper.from_array(noisy.astype(np.float32), init.name))
        onnx.save(model, os.path.join(args.out, "tenant_%03d.onnx" % r))
    print("export_tenants: %s x %d tenants%s in %s, own weights: %s (%d of %d floats, %.1f%%)"
          % (args.arch, args.tenants, "" if classes is None else " with %d classes" % classes, args.out, args.vary,
             mine, total, 100.0 * mine / max(total, 1)), flush=True)


if __name__ == "__main__":
    main()
