#!/usr/bin/env python3
"""export_zoo.py: exports torchvision classifiers the way users bring them
(the classic TorchScript exporter and the dynamo exporter, opsets 17 to 20,
dynamic batch axis) into the ONNX backend-test layout, with float64 PyTorch
references, so that `caravel check` can run them. Random weights with
randomised BatchNorm statistics, as ../shared/models were made.

Runs where PyTorch and torchvision are (the GPU machine); a tool that makes
reference data, not shipped code.

Usage: export_zoo.py OUT_DIR [ARCH:EXPORTER:OPSET ...]
"""
import os
import sys
import time
import traceback

import numpy as np
import torch
import torchvision
from onnx import numpy_helper

DEFAULT = [
    "resnet18:classic:17", "mobilenet_v3_small:classic:17", "efficientnet_b0:classic:18",
    "shufflenet_v2_x0_5:classic:19", "densenet121:classic:20", "googlenet:classic:17",
    "regnet_y_400mf:classic:18", "mnasnet0_5:classic:20", "convnext_tiny:classic:17",
    "densenet201:classic:17",  # Concat of up to 49 tensors in one node
    "resnet18:dynamo:18", "mobilenet_v3_small:dynamo:20", "efficientnet_b0:dynamo:18",
    "convnext_tiny:dynamo:20", "shufflenet_v2_x0_5:dynamo:18",
]


def build(arch):
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if arch == "googlenet" else {}
    model = getattr(torchvision.models, arch)(**kwargs).eval()
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():  # randomised BN statistics, like ../shared/models
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return model


def export(model, path, exporter, opset):
    x = torch.randn(1, 3, 224, 224)
    if exporter == "classic":
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                          dynamo=False)
    else:
        batch = torch.export.Dim("N", min=1, max=64)
        torch.onnx.export(model, (x,), path, opset_version=opset, input_names=["input"],
                          output_names=["logits"], dynamic_shapes={"x": {0: batch}}, dynamo=True,
                          external_data=False)


def main():
    out = sys.argv[1]
    specs = sys.argv[2:] or DEFAULT
    for spec in specs:
        arch, exporter, opset = spec.split(":")
        name = "%s-%s%s" % (arch, exporter, opset)
        folder = os.path.join(out, name)
        os.makedirs(os.path.join(folder, "test_data_set_0"), exist_ok=True)
        t0 = time.time()
        try:
            model = build(arch)
            export(model, os.path.join(folder, "model.onnx"), exporter, int(opset))
            x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
            with torch.no_grad():
                ref = model.double()(x.double()).float().numpy()
            for kind, arr in (("input", x.numpy()), ("output", ref)):
                t = numpy_helper.from_array(np.ascontiguousarray(arr), kind)
                with open(os.path.join(folder, "test_data_set_0", kind + "_0.pb"), "wb") as f:
                    f.write(t.SerializeToString())
            print("export_zoo: %s in %.1f s" % (name, time.time() - t0), flush=True)
        except Exception as e:  # report and go on: one exporter failing is data
            print("export_zoo: %s FAILED to export: %s" % (name, repr(e)[:300]), flush=True)
            traceback.print_exc(limit=1)
            os.system("rm -rf '%s'" % folder)


if __name__ == "__main__":
    main()
