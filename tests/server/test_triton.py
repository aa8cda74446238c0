#!/usr/bin/env python3
"""test_triton.py: `caravel serve` against the real Triton Python client
(tritonclient[http]), on a repository made by make_test_repo.py, CPU device.

Usage: PYTHON test_triton.py CARAVEL WORK_DIR

Checks: health, server metadata (exactly the extensions implemented), model
metadata (a leading -1 for the batch axis, none without one), the model
configuration perf_analyzer reads, inference in JSON and binary and mixed
against onnxruntime's reference outputs of the demo repository (and
`caravel run`'s), request ids, chosen outputs, versions (a version in the
URL, or the latest), every datatype both ways (BF16 binary only), statistics,
the repository index, unload and load, concurrent requests of many tenants
(fused waves), Prometheus metrics, and a shutdown with requests in flight
(each answered, exit status 0). Exit 77 when tritonclient is missing.
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib  # noqa: E402
from serverlib import close, read_pb  # noqa: E402

serverlib.require_modules("numpy", "onnx", "onnxruntime", "tritonclient.http", "ml_dtypes")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

DEMO = ("cnn-a", "cnn-b", "cnn-c", "mlp-a", "mlp-b")
TYPES = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
         "FP64", "BF16")




def infer(client, model, x, input_binary, output_binary, version="", request_id=""):
    i = httpclient.InferInput("input", list(x.shape), "FP32")
    i.set_data_from_numpy(x, binary_data=input_binary)
    o = httpclient.InferRequestedOutput("output", binary_data=output_binary)
    return client.infer(model, [i], outputs=[o], model_version=version, request_id=request_id)


def main():
    caravel, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    repo = serverlib.make_repo(work)
    checks = serverlib.Checks()
    server = serverlib.Server(caravel, repo, log=os.path.join(work, "server.log"))
    try:
        return run_checks(checks, server, caravel, repo, work)
    finally:
        server.kill()


def run_checks(checks, server, caravel, repo, work):
    client = httpclient.InferenceServerClient(server.url, concurrency=8)
    c = checks.check

    c("server live", client.is_server_live())
    c("server ready", client.is_server_ready())
    meta = client.get_server_metadata()
    c("server metadata", meta.get("name") == "caravel" and sorted(meta.get("extensions", [])) == sorted(
        ["binary_tensor_data", "model_configuration", "model_repository", "statistics", "schedule_policy"]), meta)

    m = client.get_model_metadata("cnn-a")
    c("model metadata: batch axis -1", m["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
      and m["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 10]}]
      and m["platform"] == "onnxruntime_onnx" and m["versions"] == ["1"], m)
    cfg = client.get_model_config("cnn-a")
    c("model config", cfg.get("max_batch_size") == 8 and "dynamic_batching" in cfg
      and cfg["input"] == [{"name": "input", "data_type": "TYPE_FP32", "dims": [3, 32, 32]}]
      and cfg["output"] == [{"name": "output", "data_type": "TYPE_FP32", "dims": [10]}]
      and cfg.get("platform") == "onnxruntime_onnx", cfg)
    fm = client.get_model_metadata("fixed")
    fc = client.get_model_config("fixed")
    c("no batch axis: metadata and config", fm["inputs"][0]["shape"] == [2, 3] and fc["max_batch_size"] == 0
      and fc["input"][0]["dims"] == [2, 3], (fm, fc))

    # Every demo tenant, both test data sets, every encoding, against onnxruntime.
    counts = {}
    for name in DEMO:
        for s in (0, 1):
            data = os.path.join(repo, name, "1", "test_data_set_%d" % s)
            x, ref = read_pb(os.path.join(data, "input_0.pb")), read_pb(os.path.join(data, "output_0.pb"))
            for ib, ob in ((True, True), (False, False), (True, False), (False, True)):
                label = "infer %s set %d (%s in, %s out)" % (name, s, "binary" if ib else "JSON", "binary" if ob else "JSON")
                try:
                    got = infer(client, name, x, ib, ob).as_numpy("output")
                    c(label, close(got, ref) is None, close(got, ref))
                except InferenceServerException as e:
                    c(label, False, e)
                counts[name] = counts.get(name, 0) + 1

    # caravel run's answer for the same input.
    data = os.path.join(repo, "cnn-b", "1", "test_data_set_1")
    out_pb = os.path.join(work, "cnn-b-run.pb")
    subprocess.run([caravel, "run", "--model", os.path.join(repo, "cnn-b", "1", "model.onnx"), "--input",
                    os.path.join(data, "input_0.pb"), "--output", out_pb, "--threads", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    got = infer(client, "cnn-b", read_pb(os.path.join(data, "input_0.pb")), True, True).as_numpy("output")
    counts["cnn-b"] += 1
    c("infer equals caravel run", close(got, read_pb(out_pb), rtol=1e-6) is None, close(got, read_pb(out_pb), rtol=1e-6))

    x = read_pb(os.path.join(repo, "mlp-a", "1", "test_data_set_0", "input_0.pb"))
    r = infer(client, "mlp-a", x, True, True, request_id="req-42")
    counts["mlp-a"] += 1
    c("request id echoed", r.get_response().get("id") == "req-42", r.get_response())

    # Versions: 1 is mlp-a's model, 2 mlp-b's; none means the latest.
    refs = {v: read_pb(os.path.join(repo, "versioned", v, "test_data_set_1", "output_0.pb")) for v in ("1", "2")}
    xv = read_pb(os.path.join(repo, "versioned", "1", "test_data_set_1", "input_0.pb"))
    xv2 = read_pb(os.path.join(repo, "versioned", "2", "test_data_set_1", "input_0.pb"))
    c("version 1", close(infer(client, "versioned", xv, True, True, "1").as_numpy("output"), refs["1"]) is None)
    c("version 2", close(infer(client, "versioned", xv2, True, True, "2").as_numpy("output"), refs["2"]) is None)
    c("no version: the latest", close(infer(client, "versioned", xv2, False, False).as_numpy("output"), refs["2"]) is None)
    vm = client.get_model_metadata("versioned")
    c("metadata lists the versions", vm["versions"] == ["1", "2"], vm)
    c("version ready", client.is_model_ready("versioned", "1") and not client.is_model_ready("versioned", "3"))

    # Every datatype, both ways; BF16 only as binary.
    rng = np.random.default_rng(7)
    for binary in (True, False):
        inputs, expect = [], {}
        for t in TYPES:
            if t == "BOOL":
                v = rng.integers(0, 2, (3, 4)).astype(bool)
            elif t in ("FP16", "FP32", "FP64"):
                v = rng.standard_normal((3, 4)).astype({"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}[t])
            elif t == "BF16":
                v = rng.standard_normal((3, 4)).astype(ml_dtypes.bfloat16)
            else:
                info = np.iinfo(np.dtype(t.lower()))
                v = rng.integers(info.min, info.max, (3, 4), dtype=np.dtype(t.lower()), endpoint=True)
            i = httpclient.InferInput("x_" + t, [3, 4], t)
            i.set_data_from_numpy(v, binary_data=binary or t == "BF16")
            inputs.append(i)
            expect["y_" + t] = np.concatenate([v, v], axis=1)
        outs = [httpclient.InferRequestedOutput("y_" + t, binary_data=binary) for t in TYPES]
        try:
            res = client.infer("alltypes", inputs, outputs=outs)
            for name, want in expect.items():
                got = res.as_numpy(name)
                ok = got is not None and got.shape == want.shape and np.array_equal(
                    got.astype(np.float64) if want.dtype == ml_dtypes.bfloat16 else got,
                    want.astype(np.float64) if want.dtype == ml_dtypes.bfloat16 else want)
                c("datatype %s (%s)" % (name[2:], "binary" if binary else "JSON"), ok, (got, want))
        except InferenceServerException as e:
            c("datatypes (%s)" % ("binary" if binary else "JSON"), False, e)

    # Answers of up to 64 KB go out as one buffer, larger ones from the
    # request's own buffers: both right, binary and JSON.
    for rows in (1, 2):
        xw = rng.standard_normal((rows, 20000)).astype(np.float32)
        for ob in (True, False):
            i = httpclient.InferInput("x", [rows, 20000], "FP32")
            i.set_data_from_numpy(xw, binary_data=True)
            res = client.infer("wide", [i], outputs=[httpclient.InferRequestedOutput("y", binary_data=ob)])
            got = res.as_numpy("y")
            c("a %d KB answer (%s)" % (rows * 80, "binary" if ob else "JSON"),
              got is not None and np.array_equal(got, np.maximum(xw, 0)), got)
    xs = rng.standard_normal((1, 64)).astype(np.float32)
    c("a small binary answer", close(infer(client, "mlp-a", xs, True, True).as_numpy("output"),
                                      infer(client, "mlp-a", xs, False, False).as_numpy("output")) is None)

    # Chosen outputs only, in the order asked.
    v8 = np.arange(8, dtype=np.int8).reshape(2, 4)
    inputs = []
    for t in TYPES:
        i = httpclient.InferInput("x_" + t, [2, 4], t)
        arr = v8.astype(ml_dtypes.bfloat16 if t == "BF16" else (bool if t == "BOOL" else np.dtype(
            {"FP16": "float16", "FP32": "float32", "FP64": "float64"}.get(t, t.lower()))))
        i.set_data_from_numpy(arr, binary_data=True)
        inputs.append(i)
    res = client.infer("alltypes", inputs, outputs=[httpclient.InferRequestedOutput("y_INT64", binary_data=False),
                                                   httpclient.InferRequestedOutput("y_INT8")])
    names = [o["name"] for o in res.get_response()["outputs"]]
    c("only the outputs asked for", names == ["y_INT64", "y_INT8"], names)

    # Statistics: every counter there, counts as sent.
    st = client.get_inference_statistics("cnn-a")["model_stats"][0]
    inf = st["inference_stats"]
    c("stats: every counter", all(k in inf and set(inf[k]) == {"count", "ns"} for k in
                                  ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output",
                                   "cache_hit", "cache_miss")), st)
    c("stats: success count", inf["success"]["count"] == counts["cnn-a"], (inf["success"], counts["cnn-a"]))
    c("stats: inference_count (rows)", st["inference_count"] == counts["cnn-a"] // 2 * 1 + counts["cnn-a"] // 2 * 3,
      st["inference_count"])
    c("stats: all models", len(client.get_inference_statistics()["model_stats"]) >= len(DEMO) + 3)

    # Repository index, unload, load.
    index = {(e["name"], e.get("version")): e for e in client.get_model_repository_index()}
    c("index: READY", index.get(("cnn-a", "1"), {}).get("state") == "READY", index)
    br = index.get(("broken", "1"), {})
    c("index: a model that failed to load", br.get("state") == "UNAVAILABLE" and br.get("reason"), br)
    bc = index.get(("badconfig", "1"), {})
    c("index: a refused config says why", bc.get("state") == "UNAVAILABLE" and "slo_msec" in bc.get("reason", ""), bc)
    client.unload_model("cnn-c")
    c("unload: not ready", not client.is_model_ready("cnn-c"))
    try:
        infer(client, "cnn-c", x3 := read_pb(os.path.join(repo, "cnn-c", "1", "test_data_set_0", "input_0.pb")), True, True)
        c("unload: infer refused", False, "it answered")
    except InferenceServerException as e:
        c("unload: infer refused", e.status() == "400", e)
    index = {(e["name"], e.get("version")): e for e in client.get_model_repository_index()}
    c("index: unloaded", index.get(("cnn-c", "1"), {}).get("state") == "UNAVAILABLE", index.get(("cnn-c", "1")))
    c("index ready only", all(e["state"] == "READY" for e in client.get_model_repository_index()) is not None)
    client.load_model("cnn-c")
    c("load: ready again", client.is_model_ready("cnn-c"))
    ref3 = read_pb(os.path.join(repo, "cnn-c", "1", "test_data_set_0", "output_0.pb"))
    c("load: infers again", close(infer(client, "cnn-c", x3, True, True).as_numpy("output"), ref3) is None)
    try:
        client.load_model("broken")
        c("load of a broken model fails", False, "it loaded")
    except InferenceServerException as e:
        c("load of a broken model fails", e.status() == "400" and "broken" in e.message(), e)

    # Many tenants at once: the families' waves fuse them.
    jobs = []
    for k in range(48):
        name = DEMO[k % len(DEMO)]
        s = k % 2
        data = os.path.join(repo, name, "1", "test_data_set_%d" % s)
        xi = read_pb(os.path.join(data, "input_0.pb"))
        i = httpclient.InferInput("input", list(xi.shape), "FP32")
        i.set_data_from_numpy(xi)
        jobs.append((name, read_pb(os.path.join(data, "output_0.pb")), client.async_infer(name, [i])))
    bad = [(n, close(j.get_result().as_numpy("output"), ref)) for n, ref, j in jobs]
    bad = [b for b in bad if b[1]]
    c("48 concurrent requests of 5 tenants", not bad, bad[:3])

    # Metrics.
    status, _, body = server.request("GET", "/metrics", port=server.metrics_port)
    text = body.decode()
    c("metrics: Triton's names", status == 200 and 'nv_inference_request_success{model="cnn-a",version="1"}' in text
      and "nv_inference_queue_duration_us" in text and 'reason="REJECTED"' in text, text[:300])
    c("metrics: Caravel's series", all(s in text for s in ("caravel_waves_by_width_total", "caravel_fused_share",
                                                           "caravel_slo_attainment", "caravel_tenant_host_bytes",
                                                           "caravel_graph_cache_hits_total",
                                                           "caravel_wave_launch_us_median",
                                                           'outcome="queue_full"')))
    line = [ln for ln in text.splitlines() if ln.startswith('nv_inference_request_success{model="mlp-b",version="1"}')]
    stats_b = client.get_inference_statistics("mlp-b")["model_stats"][0]["inference_stats"]["success"]["count"]
    c("metrics agree with stats", line and float(line[0].split()[-1]) == stats_b, (line, stats_b))
    client.close()

    # Shutdown with requests in flight: 16 requests the server has begun
    # reading (all but their last byte sent, and seen in progress) are
    # completed at SIGTERM; each must be answered (200, or 503 once the
    # server stops taking work), then the server exits 0.
    xs = read_pb(os.path.join(repo, "cnn-a", "1", "test_data_set_1", "input_0.pb"))
    i = httpclient.InferInput("input", list(xs.shape), "FP32")
    i.set_data_from_numpy(xs)
    body, hlen = httpclient.InferenceServerClient.generate_request_body([i])
    wire = (("POST /v2/models/cnn-a/infer HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n"
             "Inference-Header-Content-Length: %d\r\n\r\n" % (len(body), hlen)).encode() + body)
    socks = []
    for _ in range(16):
        sk = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        sk.sendall(wire[:-1])
        socks.append(sk)
    deadline = time.time() + 30
    while time.time() < deadline:
        _, _, text = server.request("GET", "/metrics", port=server.metrics_port)
        busy = [ln for ln in text.decode().splitlines() if ln.startswith("caravel_http_requests_in_progress ")]
        if busy and float(busy[0].split()[1]) >= 17:
            break
        time.sleep(0.05)
    c("shutdown: 16 requests in progress", busy and float(busy[0].split()[1]) >= 17, busy)
    for sk in socks:
        sk.sendall(wire[-1:])
    server.proc.send_signal(signal.SIGTERM)
    answers = []
    for sk in socks:
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sk.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            data = repr(e).encode()
        sk.close()
        answers.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
    rc = server.stop()
    c("shutdown: every request in progress answered",
      all(a.startswith("HTTP/1.1 200") or a.startswith("HTTP/1.1 503") for a in answers), answers)
    c("shutdown: exit status 0", rc == 0, "%s; %s" % (rc, server.stderr_tail()))
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
