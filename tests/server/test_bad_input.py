#!/usr/bin/env python3
"""test_bad_input.py: `caravel serve` against bad input and overload, over
raw HTTP (http.client and sockets), so that every malformed request is
sent exactly as written.

Usage: PYTHON test_bad_input.py CARAVEL WORK_DIR

Each case checks the status code of PROTOCOL.md and an {"error": ...} JSON
body: malformed JSON, wrong shape, datatype, value or byte count, unknown
model, version, input or output, bad Inference-Header-Content-Length, a body
over the limit, unknown paths (404), wrong verbs (405), deadlines that
cannot be met (503), the control token (401, 403). Then the connection
cases: an error leaves a keep-alive connection usable, chunked bodies,
clients that disconnect mid-upload or before their answer. The server must
still answer correctly afterwards and exit 0 on SIGTERM (under `make asan`
that also means nothing leaked).
"""
import http.client
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib  # noqa: E402

serverlib.require_modules("numpy", "onnx", "onnxruntime")

MAX_BODY = 200000
TOKEN = "s3cret-token"


def mlp_json(values=None, shape=(1, 64), datatype="FP32", name="input", **extra):
    values = values if values is not None else [0.25] * (shape[0] * shape[1] if len(shape) == 2 else 64)
    doc = {"inputs": [{"name": name, "shape": list(shape), "datatype": datatype, "data": values}]}
    doc.update(extra)
    return json.dumps(doc).encode()


def binary_request(inputs, outputs=None, **extra):
    """(body, header length) of a binary request: inputs are (name, shape,
    datatype, raw bytes, declared size or None for the real one)."""
    header = {"inputs": [{"name": n, "shape": list(s), "datatype": d,
                          "parameters": {"binary_data_size": len(raw) if size is None else size}}
                         for n, s, d, raw, size in inputs]}
    if outputs is not None:
        header["outputs"] = outputs
    header.update(extra)
    head = json.dumps(header).encode()
    return head + b"".join(raw for _, _, _, raw, _ in inputs), len(head)


def main():
    caravel, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    repo = serverlib.make_repo(work)
    checks = serverlib.Checks()
    server = serverlib.Server(caravel, repo, "--max-body-bytes", str(MAX_BODY), "--control-token", TOKEN,
                              "--load-model", "mlp-a", "--load-model", "cnn-a", "--load-model", "alltypes",
                              "--load-model", "versioned", log=os.path.join(work, "server.log"))
    try:
        return run_checks(checks, server)
    finally:
        server.kill()


def run_checks(checks, server):
    def expect(name, method, path, code, body=None, headers=None, port=None):
        status, hdrs, data = server.request(method, path, body=body, headers=headers, port=port)
        msg = serverlib.error_body(data) if code >= 400 else None
        ok = status == code and (code < 400 or (msg is not None and hdrs.get("content-type", "").startswith(
            "application/json")))
        checks.check(name, ok, "HTTP %d %r" % (status, data[:200]))
        return msg or ""

    infer = "/v2/models/mlp-a/infer"
    good = mlp_json()
    expect("good request (baseline)", "POST", infer, 200, good)

    # Malformed bodies.
    expect("malformed JSON", "POST", infer, 400, b'{"inputs": [')
    expect("empty body", "POST", infer, 400, b"")
    expect("JSON that is not an object", "POST", infer, 400, b"[1,2,3]")
    expect("no inputs", "POST", infer, 400, b'{"outputs": []}')
    expect("inputs not an array", "POST", infer, 400, b'{"inputs": {"name": "input"}}')
    expect("input without a name", "POST", infer, 400,
           b'{"inputs": [{"shape": [1,64], "datatype": "FP32", "data": [1]}]}')
    expect("id not a string", "POST", infer, 400, mlp_json(id=5))
    expect("duplicate keys", "POST", infer, 400, b'{"inputs": [], "inputs": []}')
    expect("wrong shape", "POST", infer, 400, mlp_json(shape=(1, 63), values=[0.0] * 63))
    expect("wrong rank", "POST", infer, 400, mlp_json(shape=(64,), values=[0.0] * 64))
    expect("zero rows", "POST", infer, 400, mlp_json(shape=(0, 64), values=[]))
    expect("negative dim", "POST", infer, 400, mlp_json(shape=(-1, 64)))
    m = expect("rows over max_batch_size", "POST", infer, 400, mlp_json(shape=(9, 64), values=[0.0] * 9 * 64))
    checks.check("rows over max_batch_size: says why", "max_batch_size" in m, m)
    m = expect("wrong datatype", "POST", infer, 400, mlp_json(datatype="FP64"))
    checks.check("wrong datatype: names both", "FP64" in m and "FP32" in m, m)
    expect("unknown datatype", "POST", infer, 400, mlp_json(datatype="FLOAT"))
    expect("BYTES datatype", "POST", infer, 400, mlp_json(datatype="BYTES", values=["a"] * 64))
    m = expect("unknown input", "POST", infer, 400, mlp_json(name="image"))
    checks.check("unknown input: lists the model's", "input" in m and "image" in m, m)
    expect("missing input", "POST", "/v2/models/alltypes/infer", 400,
           json.dumps({"inputs": [{"name": "x_FP32", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).encode())
    expect("input given twice", "POST", infer, 400,
           json.dumps({"inputs": [json.loads(good)["inputs"][0]] * 2}).encode())
    expect("too few values", "POST", infer, 400, mlp_json(values=[0.5] * 63))
    expect("too many values", "POST", infer, 400, mlp_json(values=[0.5] * 65))
    expect("a string value", "POST", infer, 400, mlp_json(values=["x"] * 64))
    expect("nested deeper than the shape", "POST", infer, 400, mlp_json(values=[[[0.5] * 64]]))
    expect("nested data (as deep as the shape) is fine", "POST", infer, 200, mlp_json(values=[[0.5] * 64]))
    ins = [{"name": "x_" + t, "shape": [1, 4], "datatype": t,
            "data": [300] * 4 if t == "INT8" else ([True] * 4 if t == "BOOL" else [1] * 4)}
           for t in ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
                     "FP32", "FP64")]
    ins.append({"name": "x_BF16", "shape": [1, 4], "datatype": "BF16", "parameters": {"binary_data_size": 8}})
    head = json.dumps({"inputs": ins}).encode()
    m = expect("integer out of its type's range", "POST", "/v2/models/alltypes/infer", 400, head + b"\0" * 8,
               {"Inference-Header-Content-Length": str(len(head))})
    checks.check("integer out of range: says so", "range" in m, m)
    expect("BF16 as JSON", "POST", "/v2/models/alltypes/infer", 400, json.dumps({"inputs": [
        {"name": "x_BF16", "shape": [1, 4], "datatype": "BF16", "data": [1.0] * 4}]}).encode())
    expect("unknown output", "POST", infer, 400, mlp_json(outputs=[{"name": "logits"}]))
    expect("classification output", "POST", infer, 501,
           mlp_json(outputs=[{"name": "output", "parameters": {"classification": 3}}]))
    expect("binary_data not a boolean", "POST", infer, 400,
           mlp_json(outputs=[{"name": "output", "parameters": {"binary_data": "yes"}}]))
    expect("priority not an integer", "POST", infer, 400, mlp_json(parameters={"priority": "high"}))
    expect("negative timeout", "POST", infer, 400, mlp_json(parameters={"timeout": -5}))
    expect("priority 1 is honoured", "POST", infer, 200, mlp_json(parameters={"priority": 1}))
    m = expect("a deadline that cannot be met: 503", "POST", infer, 503, mlp_json(parameters={"timeout": 1}))
    checks.check("a deadline that cannot be met: says why", "deadline" in m, m)

    # Models, versions, paths, verbs.
    expect("unknown model", "POST", "/v2/models/nope/infer", 400, good)
    expect("unknown model metadata", "GET", "/v2/models/nope", 400)
    expect("unknown model ready", "GET", "/v2/models/nope/ready", 400)
    expect("model not loaded", "POST", "/v2/models/mlp-b/infer", 400, good)
    expect("unknown version", "POST", "/v2/models/mlp-a/versions/7/infer", 400, good)
    expect("bad version", "POST", "/v2/models/mlp-a/versions/x1/infer", 400, good)
    expect("bad model name", "POST", "/v2/models/a%20b/infer", 400, good)
    expect("model name climbing out", "POST", "/v2/repository/models/..%2F..%2Fetc/load", 404,
           headers={"Authorization": "Bearer " + TOKEN})
    expect("dot-dot model name", "POST", "/v2/repository/models/../load", 400,
           headers={"Authorization": "Bearer " + TOKEN})
    expect("unknown path", "GET", "/v2/nothing", 404)
    expect("unknown path outside v2", "GET", "/nothing", 404)  # "/" is the status page
    expect("unknown model action", "GET", "/v2/models/mlp-a/explain", 404)
    expect("GET on infer", "GET", infer, 405)
    expect("POST on live", "POST", "/v2/health/live", 405, b"")
    expect("DELETE on metadata", "DELETE", "/v2/models/mlp-a", 405)
    status, hdrs, _ = server.request("GET", infer)
    checks.check("405 says what is allowed", hdrs.get("allow") == "POST", hdrs)
    expect("metrics: unknown path", "GET", "/v2", 404, port=server.metrics_port)
    expect("metrics: wrong verb", "POST", "/metrics", 405, b"", port=server.metrics_port)

    # The binary extension.
    x = struct.pack("<64f", *([0.5] * 64))
    body, hlen = binary_request([("input", (1, 64), "FP32", x, None)])
    status, hdrs, data = server.request("POST", infer, body, {"Inference-Header-Content-Length": str(hlen)})
    checks.check("binary request (baseline)", status == 200, (status, data[:200]))
    for bad in ("abc", "-1", "1e3", str(len(body) + 1), " 12", ""):
        expect("Inference-Header-Content-Length %r" % bad, "POST", infer, 400, body,
               {"Inference-Header-Content-Length": bad})
    expect("header length inside the JSON", "POST", infer, 400, body,
           {"Inference-Header-Content-Length": str(hlen - 5)})
    wrong, whlen = binary_request([("input", (1, 64), "FP32", x, 255)])
    expect("binary_data_size not the tensor's bytes", "POST", infer, 400, wrong,
           {"Inference-Header-Content-Length": str(whlen)})
    short, shlen = binary_request([("input", (1, 64), "FP32", x[:100], 256)])
    expect("fewer binary bytes than declared", "POST", infer, 400, short,
           {"Inference-Header-Content-Length": str(shlen)})
    expect("more binary bytes than declared", "POST", infer, 400, body + b"\0" * 8,
           {"Inference-Header-Content-Length": str(hlen)})
    expect("binary_data_size without the header", "POST", infer, 400, body[:hlen])
    expect("both data and binary_data_size", "POST", infer, 400, json.dumps({"inputs": [
        {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64,
         "parameters": {"binary_data_size": 256}}]}).encode() + x, {"Inference-Header-Content-Length": str(
             len(json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64,
                                         "parameters": {"binary_data_size": 256}}]})))})
    expect("header length 0: the body is JSON", "POST", infer, 200, good, {"Inference-Header-Content-Length": "0"})
    status, hdrs, data = server.request("POST", infer, body, {"Inference-Header-Content-Length": str(hlen)})
    ok = status == 200 and hdrs.get("content-type") == "application/json" and json.loads(data)["outputs"][0]["data"]
    checks.check("binary in, JSON out", ok, (status, hdrs, data[:100]))
    bbody, bhlen = binary_request([("input", (1, 64), "FP32", x, None)], parameters={"binary_data_output": True})
    status, hdrs, data = server.request("POST", infer, bbody, {"Inference-Header-Content-Length": str(bhlen)})
    rh = int(hdrs.get("inference-header-content-length", "-1"))
    ok = (status == 200 and hdrs.get("content-type") == "application/octet-stream" and 0 < rh < len(data)
          and json.loads(data[:rh])["outputs"][0]["parameters"]["binary_data_size"] == len(data) - rh == 40)
    checks.check("binary out: header length, octet-stream, sizes", ok, (status, hdrs, data[:100]))

    # A body over the limit, declared or chunked.
    big = mlp_json(values=[0.5] * (MAX_BODY // 4))
    m = expect("body over the limit", "POST", infer, 400, big)
    checks.check("body over the limit: says so", "limit" in m, m)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", infer, body=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]),
                 headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    r = conn.getresponse()
    data = r.read()
    checks.check("chunked body over the limit", r.status == 400 and serverlib.error_body(data), (r.status, data[:100]))
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", infer, body=iter([good[:100], good[100:]]), headers={"Transfer-Encoding": "chunked"},
                 encode_chunked=True)
    r = conn.getresponse()
    checks.check("chunked body", r.status == 200, (r.status, r.read()[:100]))
    conn.close()

    # The control token.
    expect("load without a token: 401", "POST", "/v2/repository/models/mlp-b/load", 401, b"")
    expect("load with a wrong token: 403", "POST", "/v2/repository/models/mlp-b/load", 403, b"",
           {"Authorization": "Bearer nope"})
    expect("unload without a token: 401", "POST", "/v2/repository/models/mlp-a/unload", 401, b"")
    expect("load with the token", "POST", "/v2/repository/models/mlp-b/load", 200, b"{}",
           {"Authorization": "Bearer " + TOKEN})
    expect("the loaded model infers", "POST", "/v2/models/mlp-b/infer", 200, good)
    expect("unload with the token", "POST", "/v2/repository/models/mlp-b/unload", 200,
           b'{"parameters":{"unload_dependents":false}}', {"Authorization": "Bearer " + TOKEN})
    expect("load of an unknown model", "POST", "/v2/repository/models/nothing/load", 400, b"",
           {"Authorization": "Bearer " + TOKEN})
    expect("load with a config override", "POST", "/v2/repository/models/mlp-b/load", 400,
           b'{"parameters":{"config":"{}"}}', {"Authorization": "Bearer " + TOKEN})
    expect("load with a malformed body", "POST", "/v2/repository/models/mlp-b/load", 400, b"{",
           {"Authorization": "Bearer " + TOKEN})
    expect("index with a bad body", "POST", "/v2/repository/index", 400, b'{"ready": 3}')
    status, _, data = server.request("POST", "/v2/repository/index", b'{"ready": true}')
    names = {e["name"] for e in json.loads(data)} if status == 200 else set()
    checks.check("index of ready models only", names == {"mlp-a", "cnn-a", "alltypes", "versioned"}, names)

    # Connections: an error keeps a keep-alive connection usable.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    codes = [server.request("POST", infer, b, conn=conn)[0] for b in (b"{bad", good, mlp_json(datatype="INT8"), good)]
    checks.check("errors keep the connection alive", codes == [400, 200, 400, 200], codes)
    conn.close()

    # Clients that go away: mid-upload, mid-header, and before the answer.
    for cut in (10, hlen + 7, len(body) - 1):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nInference-Header-Content-Length: %d\r\n\r\n"
                   % (infer, len(body), hlen)).encode() + body[:cut])
        s.close()
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (infer, len(good))).encode() + good)
        s.close()
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"GARBAGE\r\n\r\n")
    s.settimeout(10)
    try:
        reply = s.recv(100)
    except OSError:
        reply = b""
    s.close()
    checks.check("a request line that is not HTTP", reply.startswith(b"HTTP/1.1 400") or reply == b"", reply)
    time.sleep(0.5)
    expect("still serving after clients went away", "POST", infer, 200, good)

    status, _, data = server.request("GET", "/metrics", port=server.metrics_port)
    text = data.decode()
    line = [ln for ln in text.splitlines() if ln.startswith('caravel_requests_total{model="mlp-a",version="1",outcome="invalid"}')]
    checks.check("refused requests are counted", line and float(line[0].split()[-1]) > 20, line)
    line = [ln for ln in text.splitlines()
            if ln.startswith('nv_inference_request_failure{model="mlp-a",version="1",reason="REJECTED"}')]
    checks.check("the 503 is counted as REJECTED", line and float(line[0].split()[-1]) >= 1, line)
    pending = [ln for ln in text.splitlines() if ln.startswith("nv_inference_pending_request_count")]
    checks.check("nothing pending", pending and all(ln.endswith(" 0") for ln in pending), pending)
    # A call ends just after its answer is sent, so the count is polled.
    deadline = time.time() + 10
    while True:
        _, _, data = server.request("GET", "/metrics", port=server.metrics_port)
        busy = [ln for ln in data.decode().splitlines() if ln.startswith("caravel_http_requests_in_progress ")]
        if busy == ["caravel_http_requests_in_progress 1"] or time.time() > deadline:
            break
        time.sleep(0.05)
    checks.check("clients that went away hold nothing (only the scrape is in progress)",
                 busy == ["caravel_http_requests_in_progress 1"], busy)

    rc = server.stop()
    checks.check("exit status 0 on SIGTERM", rc == 0, "%s; %s" % (rc, server.stderr_tail()))
    tail = server.stderr_tail()
    checks.check("no connection left busy at shutdown", "still busy" not in tail, tail)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
