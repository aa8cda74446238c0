#!/usr/bin/env python3
"""test_multidevice.py: one `caravel serve` on two logical CPU devices
(--device cpu:0,1, a runtime and a scheduler each, 1 MiB each), the
several-GPUs-in-one-process mode of issue 12 tested without GPUs.

Usage: PYTHON test_multidevice.py CARAVEL WORK_DIR

The repository: the demo's (cnn-a/b/c, one family; mlp-a/b, another),
`hot` (mlp-a's model, so of the MLP family, with {"replicas": 2}) and
`big` (a MatMul with 2 MiB of weights, more than either device holds).
Loaded in name order, the placement rules (src/repo/placement.h) give:
  big          fits nowhere: UNAVAILABLE, the reason naming its size and
               each device's free bytes; the server serves the others
  cnn-a        cpu:0 (both empty: the lowest index)
  cnn-b, cnn-c cpu:0 (their family's device, though cpu:1 is emptier)
  hot          cpu:1 (a new family: the most free device), then cpu:0
  mlp-a, mlp-b cpu:1 (the family is on both; cpu:1 has more room)

Checks: that placement in the repository index ("device", "devices"), the
status document (tenants, families per device, devices with budget and
placed bytes; the page, in headless Chromium where there is one) and the
metrics (label device: replicas, devices, each runtime's waves; the
Triton per-model series still one per model);
inference right (against onnxruntime's references) for every model, so on
both devices; requests of hot spread evenly between its replicas;
concurrent requests of tenants on both devices all answered right, each
device's scheduler running waves; statistics summed over replicas; unload
gives a device its bytes back and a load places the model again; bad
--device values refused; SIGTERM ends it with exit 0.

Exit 77 when tritonclient, onnx or onnxruntime is missing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import serverlib  # noqa: E402
from serverlib import close, read_pb  # noqa: E402

serverlib.require_modules("numpy", "onnx", "onnxruntime", "tritonclient.http")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

BUDGET = "1M"
DEMO = ("cnn-a", "cnn-b", "cnn-c", "mlp-a", "mlp-b")
# Where each model goes (see above); hot's replicas in the order placed.
EXPECTED = {"cnn-a": ["cpu:0"], "cnn-b": ["cpu:0"], "cnn-c": ["cpu:0"], "hot": ["cpu:1", "cpu:0"],
            "mlp-a": ["cpu:1"], "mlp-b": ["cpu:1"]}
# The demo model whose reference data each model answers like.
SOURCE = {m: m for m in DEMO}
SOURCE["hot"] = "mlp-a"




def make_repo(work):
    repo = os.path.join(work, "repo")
    if os.path.exists(repo):
        shutil.rmtree(repo)
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_demo_repo.py"), repo], check=True,
                   stdout=subprocess.DEVNULL)
    shutil.copytree(os.path.join(repo, "mlp-a", "1"), os.path.join(repo, "hot", "1"))
    with open(os.path.join(repo, "hot", "config.json"), "w") as f:
        json.dump({"replicas": 2}, f)
    # big: y = x W, W [512, 1024] FP32 = 2 MiB of weights.
    w = numpy_helper.from_array(np.full((512, 1024), 0.001, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "big",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 512])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1024])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    os.makedirs(os.path.join(repo, "big", "1"))
    onnx.save(model, os.path.join(repo, "big", "1", "model.onnx"))
    return repo


def metrics(server):
    """{(name, frozenset of label items): value} of a scrape."""
    status, _, body = server.request("GET", "/metrics", port=server.metrics_port)
    assert status == 200, status
    out = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_]+)(?:\{(.*)\})? (\S+)', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def series(scrape, name, **labels):
    """The value of name{labels...} (exactly those labels), or None."""
    return scrape.get((name, frozenset(labels.items())))


def status_doc(server):
    status, _, body = server.request("GET", "/v2/caravel/status")
    assert status == 200, status
    return json.loads(body)


def infer(client, model, x):
    i = httpclient.InferInput("input", list(x.shape), "FP32")
    i.set_data_from_numpy(x, binary_data=True)
    return client.infer(model, [i], outputs=[httpclient.InferRequestedOutput("output", binary_data=True)]) \
        .as_numpy("output")


def reference(repo, model, s):
    data = os.path.join(repo, SOURCE[model], "1", "test_data_set_%d" % s)
    return read_pb(os.path.join(data, "input_0.pb")), read_pb(os.path.join(data, "output_0.pb"))


def check_placement(c, server, client):
    index = {e["name"]: e for e in client.get_model_repository_index()}
    for model, devices in EXPECTED.items():
        e = index.get(model, {})
        c("index: %s READY on %s" % (model, ",".join(devices)), e.get("state") == "READY"
          and e.get("devices") == devices and e.get("device") == devices[0], e)
    big = index.get("big", {})
    reason = big.get("reason", "")
    c("index: big fits nowhere, the reason naming the sizes", big.get("state") == "UNAVAILABLE"
      and "model 'big' version 1: needs 2.0 MiB and fits on no device (cpu:0: " in reason
      and "free of 1.0 MiB; cpu:1: " in reason and "device" not in big, big)
    c("health: ready with every device up", client.is_server_ready())
    c("big: not ready, the others are", not client.is_model_ready("big")
      and all(client.is_model_ready(m) for m in EXPECTED))

    doc = status_doc(server)
    c("status: the --device given", doc["server"]["device"] == "cpu:0,1", doc["server"])
    devices = {d["name"]: d for d in doc.get("devices", [])}
    c("status: two devices of 1 MiB", sorted(devices) == ["cpu:0", "cpu:1"] and all(
        d["budget_bytes"] == 1 << 20 and d["kind"] == "cpu" and d["placed_bytes"] + d["free_bytes"] == 1 << 20
        for d in devices.values()), devices)
    c("status: tenants per device", devices["cpu:0"]["tenants"] == 4 and devices["cpu:1"]["tenants"] == 3, devices)
    tenants = {t["model"]: t for t in doc["tenants"]}
    c("status: each tenant's devices", all(tenants[m].get("device") == d[0] and
                                           [r["device"] for r in tenants[m]["replicas"]] == d
                                           for m, d in EXPECTED.items()),
      {m: tenants[m].get("replicas") for m in EXPECTED})
    c("status: big's reason", tenants["big"]["state"] == "UNAVAILABLE" and "fits on no device" in tenants["big"]["reason"])
    fams = sorted((f["device"], sorted(f["tenants"])) for f in doc["families"])
    c("status: families per device (the MLPs' on both, by hot's replicas)", fams == [
        ("cpu:0", ["cnn-a/1", "cnn-b/1", "cnn-c/1"]), ("cpu:0", ["hot/1"]),
        ("cpu:1", ["hot/1", "mlp-a/1", "mlp-b/1"])], fams)

    m = metrics(server)
    for model, devs in EXPECTED.items():
        c("metrics: %s placed on %s" % (model, ",".join(devs)), all(
            series(m, "caravel_replica_info", model=model, version="1", device=d) == 1 for d in devs)
          and sum(1 for (name, labels) in m if name == "caravel_replica_info" and ("model", model) in labels)
          == len(devs))
    c("metrics: device budgets and tenants", all(
        series(m, "caravel_device_budget_bytes", device=d) == 1 << 20 for d in ("cpu:0", "cpu:1"))
      and series(m, "caravel_device_tenants", device="cpu:0") == 4
      and series(m, "caravel_device_tenants", device="cpu:1") == 3)
    c("metrics: a Triton series is still one per model", series(m, "nv_inference_count", model="hot", version="1")
      is not None and series(m, "nv_inference_count", model="big", version="1") is None)


def check_inference(c, server, client, repo):
    for model in EXPECTED:
        for s in (0, 1):
            x, ref = reference(repo, model, s)
            why = close(infer(client, model, x), ref)
            c("infer %s set %d (on %s)" % (model, s, ",".join(EXPECTED[model])), why is None, why)


def check_replicas(c, server, client, repo):
    before = metrics(server)
    done0 = {d: series(before, "caravel_replica_requests_completed_total", model="hot", version="1", device=d)
             for d in ("cpu:0", "cpu:1")}
    x, ref = reference(repo, "hot", 0)
    wrong = [close(infer(client, "hot", x), ref) for _ in range(20)]
    c("hot: 20 answers right", not any(wrong), [w for w in wrong if w][:3])
    after = metrics(server)
    grew = {d: series(after, "caravel_replica_requests_completed_total", model="hot", version="1", device=d) - done0[d]
            for d in done0}
    # One after another: nothing queued, so round robin, exactly even.
    c("hot: requests spread evenly between its replicas", grew == {"cpu:0": 10, "cpu:1": 10}, grew)
    st = client.get_inference_statistics("hot")["model_stats"][0]
    total = sum(series(after, "caravel_replica_requests_completed_total", model="hot", version="1", device=d)
                for d in done0)
    c("stats: summed over the replicas", st["inference_stats"]["success"]["count"] == total
      and series(after, "nv_inference_request_success", model="hot", version="1") == total, (st, total))


def check_concurrent(c, server, client, repo):
    """Requests of tenants on both devices at once: all answered right, and
    both devices' schedulers ran waves."""
    before = metrics(server)
    errors, answered = [], [0]
    lock = threading.Lock()

    def worker(models, n):
        own = httpclient.InferenceServerClient(server.url)
        for i in range(n):
            model = models[i % len(models)]
            x, ref = reference(repo, model, i % 2)
            try:
                why = close(infer(own, model, x), ref)
            except Exception as e:  # an answer that is not one
                why = repr(e)
            with lock:
                answered[0] += 1
                if why:
                    errors.append((model, why))

    threads = [threading.Thread(target=worker, args=(models, 30)) for models in
               (("cnn-a", "cnn-b"), ("cnn-c", "hot"), ("mlp-a", "mlp-b"), ("mlp-b", "cnn-a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c("concurrent: 120 requests on both devices answered right", answered[0] == 120 and not errors, errors[:5])
    after = metrics(server)
    waves = {d: series(after, "caravel_waves_total", device=d) - series(before, "caravel_waves_total", device=d)
             for d in ("cpu:0", "cpu:1")}
    c("concurrent: each device's scheduler ran waves", all(w > 0 for w in waves.values()), waves)
    pending = [series(after, "caravel_device_queued_requests", device=d) for d in ("cpu:0", "cpu:1")]
    c("concurrent: nothing left queued", pending == [0, 0], pending)


def check_unload_load(c, server, client):
    def placed(device):
        return {d["name"]: d for d in status_doc(server)["devices"]}[device]["placed_bytes"]

    before = placed("cpu:1")
    client.unload_model("mlp-a")
    after = placed("cpu:1")
    c("unload: its device gets the bytes back", 0 < after < before, (before, after))
    client.load_model("mlp-a")
    e = {e["name"]: e for e in client.get_model_repository_index()}.get("mlp-a", {})
    c("load: placed again with its family", e.get("state") == "READY" and e.get("devices") == ["cpu:1"]
      and placed("cpu:1") == before, e)


def check_page(c, server, work):
    """The status page in headless Chromium (test_status_page.py's), when
    there is one: each tenant's devices in its row."""
    import test_status_page as page  # tests/server: the browser and the page's parser
    chromium = page.find_chromium()
    if not chromium:
        print("note: no Chromium; the page's placement column is not rendered here")
        return
    dumped = page.parse_page(page.Browser(chromium, work).dom("http://127.0.0.1:%d/" % server.port))
    shown = {name: row.get("placement") for name, row in dumped.tenants.items()}
    c("page: each tenant's devices", all(shown.get(m + "/1") == ", ".join(d) for m, d in EXPECTED.items()), shown)


def check_bad_devices(c, caravel, repo):
    for device, says in (("cpu:0,0", "twice"), ("cpu:", "list of device numbers"), ("cuda:2-1", "not a device"),
                         ("cpu:x", "not a device"), ("gpu:0", "--device must be")):
        r = subprocess.run([caravel, "serve", "--model-repository", repo, "--device", device], capture_output=True,
                           text=True, timeout=60)
        c("--device %s refused" % device, r.returncode == 2 and says in r.stderr and r.stderr.count("\n") == 1,
          (r.returncode, r.stderr))
    r = subprocess.run([caravel, "serve", "--model-repository", repo, "--device-memory", "12Q"], capture_output=True,
                       text=True, timeout=60)
    c("--device-memory 12Q refused", r.returncode == 2 and "--device-memory" in r.stderr, (r.returncode, r.stderr))


def main():
    caravel, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    repo = make_repo(work)
    checks = serverlib.Checks()
    c = checks.check
    check_bad_devices(c, caravel, repo)
    server = serverlib.Server(caravel, repo, "--device", "cpu:0,1", "--device-memory", BUDGET,
                              log=os.path.join(work, "server.log"))
    try:
        c("listening line names both devices", "devices cpu:0,cpu:1" in "".join(server.lines), server.lines)
        client = httpclient.InferenceServerClient(server.url)
        checks.run("placement", check_placement, c, server, client)
        checks.run("inference", check_inference, c, server, client, repo)
        checks.run("replicas", check_replicas, c, server, client, repo)
        checks.run("concurrent", check_concurrent, c, server, client, repo)
        checks.run("unload and load", check_unload_load, c, server, client)
        checks.run("status page", check_page, c, server, work)
        c("server: SIGTERM ends it with exit 0", server.stop() == 0, server.stderr_tail())
    finally:
        server.kill()
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
