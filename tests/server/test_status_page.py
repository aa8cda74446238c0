#!/usr/bin/env python3
"""test_status_page.py: the live view of `caravel serve` in a real browser,
and the Grafana dashboard against a real scrape.

Usage: PYTHON test_status_page.py CARAVEL WORK_DIR

On the demo repository (tools/make_demo_repo.py, with SLOs added), CPU:
  - GET / and /index.html: the page, as HTML, with a Content-Security-Policy
    that allows nothing from elsewhere, and nothing in it that points
    elsewhere; GET /v2/caravel/status: the document's shape;
  - docs/grafana-caravel.json: well-formed, and every metric name its
    queries use is a metric family of the server's /metrics;
  - headless Chromium (--dump-dom after the page's script has run): every
    tenant and family is on the page; under load (binary inference from
    threads) a second dump shows the counters grown and latencies filled;
    a screenshot under load is saved as WORK_DIR/status-page.png (also to
    $CARAVEL_STATUS_SCREENSHOT when set: how docs/status-page.png is made).

Without Chromium (chromium, chromium-browser or google-chrome on PATH, or
$CARAVEL_CHROMIUM) the browser part is skipped: exit 77 with the reason if
everything else passed. Exit 77 also when onnx/onnxruntime are missing.
"""
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib  # noqa: E402

serverlib.require_modules("onnx", "onnxruntime", "numpy")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
GRAFANA = os.path.join(ROOT, "docs", "grafana-caravel.json")
DEMO = {"cnn-a": [1, 3, 32, 32], "cnn-b": [1, 3, 32, 32], "cnn-c": [1, 3, 32, 32], "mlp-a": [1, 64], "mlp-b": [1, 64]}
SLO_MS = {"cnn": 25, "mlp": 10}
SCREEN = (1000, 700)


def make_demo_repo(work):
    """The demo repository with an SLO per family, so the page has one to show."""
    repo = os.path.join(work, "demo-repo")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_demo_repo.py"), repo], check=True,
                   stdout=subprocess.DEVNULL)
    for model in DEMO:
        path = os.path.join(repo, model, "config.json")
        with open(path) as f:
            config = json.load(f)
        config["slo_ms"] = SLO_MS[model.split("-")[0]]
        with open(path, "w") as f:
            json.dump(config, f)
    return repo


def find_chromium():
    given = os.environ.get("CARAVEL_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """Headless Chromium, one process per call, a profile of its own."""

    def __init__(self, exe, work):
        self.exe = exe
        self.work = work
        self.calls = 0

    def run(self, url, *args):
        self.calls += 1
        profile = os.path.join(self.work, "chromium-profile-%d" % self.calls)
        # The page polls every second; a virtual-time budget lets its
        # timers and fetches run before the DOM is dumped or the shot taken.
        cmd = [self.exe, "--headless=new", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
               "--no-first-run", "--no-default-browser-check", "--no-proxy-server", "--hide-scrollbars",
               "--user-data-dir=" + profile, "--virtual-time-budget=4000"] + list(args) + [url]
        env = dict(os.environ, HOME=self.work)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180, env=env)
        shutil.rmtree(profile, ignore_errors=True)
        if r.returncode != 0:
            raise RuntimeError("chromium exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")[-2000:]))
        return r.stdout.decode(errors="replace")

    def dom(self, url):
        return self.run(url, "--dump-dom")

    def screenshot(self, url, path):
        self.run(url, "--screenshot=" + path, "--window-size=%d,%d" % SCREEN)


class PageParser(html.parser.HTMLParser):
    """The tables of a dumped page: rows by data-tenant / data-family, cells
    by data-field, as text; and the text of elements with an id."""

    def __init__(self):
        super().__init__()
        self.tenants, self.families, self.ids = {}, {}, {}
        self.row = self.field = self.id = None
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-tenant" in a:
            self.row = self.tenants.setdefault(a["data-tenant"], {})
        elif tag == "tr" and "data-family" in a:
            self.row = self.families.setdefault(a["data-family"], {})
        elif tag == "td" and self.row is not None and "data-field" in a:
            self.field, self.text = a["data-field"], []
        elif "id" in a and self.field is None:
            self.id, self.text = a["id"], []

    def handle_endtag(self, tag):
        if tag == "td" and self.field is not None:
            self.row[self.field] = "".join(self.text).strip()
            self.field = None
        elif tag == "tr":
            self.row = None
        elif self.id is not None and self.field is None:
            self.ids[self.id] = "".join(self.text).strip()
            self.id = None

    def handle_data(self, data):
        self.text.append(data)


def parse_page(text):
    p = PageParser()
    p.feed(text)
    return p


def number(text):
    return int(text.replace(",", "")) if text and re.fullmatch(r"[\d,]+", text) else None


class Load:
    """Binary inference requests to every demo tenant from two threads each,
    one keep-alive connection a thread, until stopped."""

    def __init__(self, port):
        self.port = port
        self.stop_flag = threading.Event()
        self.errors, self.done = [], 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.worker, args=(m,), daemon=True) for m in DEMO for _ in range(2)]

    def start(self):
        for t in self.threads:
            t.start()

    def worker(self, model):
        import http.client
        shape = DEMO[model]
        n = 1
        for d in shape:
            n *= d
        raw = struct.pack("<%df" % n, *([0.25] * n))
        header = json.dumps({"inputs": [{"name": "input", "shape": shape, "datatype": "FP32",
                                         "parameters": {"binary_data_size": len(raw)}}],
                             "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self.stop_flag.is_set():
            try:
                conn.request("POST", "/v2/models/%s/infer" % model, body=header + raw,
                             headers={"Inference-Header-Content-Length": str(len(header))})
                r = conn.getresponse()
                r.read()
                # 503 is an SLO doing its work under this load; anything else is wrong.
                if r.status not in (200, 503):
                    with self.lock:
                        self.errors.append("%s: HTTP %d" % (model, r.status))
                with self.lock:
                    self.done += 1
            except Exception as e:  # recorded, the test fails on it
                with self.lock:
                    self.errors.append("%s: %s" % (model, e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.close()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=60)


def status_doc(server):
    status, headers, body = server.request("GET", "/v2/caravel/status")
    if status != 200:
        raise RuntimeError("GET /v2/caravel/status: HTTP %d %r" % (status, body[:200]))
    return headers, json.loads(body)


def check_page_served(c, server):
    status, headers, body = server.request("GET", "/")
    text = body.decode("utf-8", errors="replace")
    c("GET / is the page", status == 200 and headers.get("content-type", "").startswith("text/html")
      and "<title>Caravel</title>" in text and "v2/caravel/status" in text, (status, headers.get("content-type")))
    csp = headers.get("content-security-policy", "")
    c("the page's policy allows nothing from elsewhere", "default-src 'none'" in csp and "connect-src 'self'" in csp, csp)
    # Links, scripts, styles, images: nothing with a scheme or a //host.
    outside = re.findall(r'(?:src|href|action)\s*=\s*["\']?\s*(?:[a-z]+:|//)|@import|url\(\s*["\']?(?:[a-z]+:|//)', text, re.I)
    c("nothing in the page points elsewhere", not outside, outside)
    status2, _, body2 = server.request("GET", "/index.html")
    c("GET /index.html is the same page", status2 == 200 and body2 == body)
    status3, headers3, _ = server.request("POST", "/")
    c("POST / is refused (405, Allow: GET)", status3 == 405 and headers3.get("allow") == "GET", (status3, headers3))
    status4, _, _ = server.request("GET", "/status.html")
    c("other paths are still 404", status4 == 404, status4)


def check_document(c, server):
    headers, doc = status_doc(server)
    c("status: JSON, not cached", headers.get("content-type") == "application/json"
      and headers.get("cache-control") == "no-store", headers)
    s = doc.get("server", {})
    c("status: server", s.get("name") == "caravel" and s.get("policy") == "spacetime" and s.get("device") == "cpu"
      and s.get("uptime_s", -1) >= 0 and s.get("time_ms", 0) > 1.6e12, s)
    r = doc.get("runtime") or {}
    c("status: runtime", all(k in r for k in ("waves", "graph_hits", "graph_misses", "graph_refreshes", "stragglers",
                                              "lanes", "form_us_median", "launch_us_median")), r)
    tenants = {t["tenant"]: t for t in doc.get("tenants", [])}
    c("status: every demo tenant, READY", sorted(tenants) == sorted(m + "/1" for m in DEMO)
      and all(t["state"] == "READY" for t in tenants.values()), sorted(tenants))
    fams = doc.get("families", [])
    c("status: two families, the CNNs and the MLPs",
      sorted(sorted(f["tenants"]) for f in fams) == [["cnn-a/1", "cnn-b/1", "cnn-c/1"], ["mlp-a/1", "mlp-b/1"]],
      [f.get("tenants") for f in fams])
    t = tenants.get("cnn-a/1", {})
    keys = ("model", "version", "family", "slo_ms", "submitted", "completed", "outcomes", "slo_attainment",
            "fused_share", "latency_ms", "queued", "in_flight", "host_bytes", "device_bytes", "wave_widths")
    c("status: a tenant's fields", all(k in t for k in keys) and t.get("slo_ms") == 25
      and set(t["outcomes"]) >= {"completed", "queue_full", "infeasible", "expired", "invalid"},
      [k for k in keys if k not in t])
    # One device: every tenant and family placed on it, and its row.
    c("status: placement on the one device", all(t.get("device") == "cpu" and [r["device"] for r in t["replicas"]]
                                                 == ["cpu"] for t in tenants.values())
      and all(f.get("device") == "cpu" for f in fams), [(t.get("device"), t.get("replicas")) for t in tenants.values()])
    devices = doc.get("devices", [])
    c("status: the device's row", len(devices) == 1 and devices[0].get("name") == "cpu"
      and devices[0].get("kind") == "cpu" and devices[0].get("tenants") == len(DEMO)
      and devices[0].get("budget_bytes") is None and devices[0].get("free_bytes") is None
      and devices[0].get("placed_bytes", 0) > 0 and "waves" in devices[0].get("runtime", {}), devices)


def check_grafana(c, server):
    """docs/grafana-caravel.json: JSON, Prometheus through a variable, and every
    metric name a query uses is a family of a live scrape."""
    try:
        with open(GRAFANA) as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        c("grafana: well-formed JSON", False, e)
        return
    c("grafana: well-formed JSON", isinstance(dash, dict) and dash.get("panels"))
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    c("grafana: the Prometheus datasource is a variable", ds.get("type") == "datasource" and ds.get("query") == "prometheus", ds)
    queries, panel_sources = [], []
    for p in dash["panels"]:
        if p.get("type") == "row":
            continue
        panel_sources.append((p.get("datasource") or {}).get("uid"))
        queries += [t.get("expr", "") for t in p.get("targets", [])]
    queries += [v.get("definition", "") for v in variables.values()]
    c("grafana: every panel reads ${datasource}", panel_sources and all(u == "${datasource}" for u in panel_sources),
      panel_sources)
    used = set()
    for q in queries:
        used.update(re.findall(r"\b((?:nv_inference|caravel)_[a-z_]+)\b", q))
    status, _, body = server.request("GET", "/metrics", port=server.metrics_port)
    exported = set(re.findall(r"^# TYPE (\S+) ", body.decode(), re.M))
    c("grafana: queries use the exported metrics", len(used) >= 20, sorted(used))
    c("grafana: every metric it queries is exported", status == 200 and used <= exported, sorted(used - exported))
    wanted = {"nv_inference_request_success", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
              "caravel_slo_met_total", "caravel_fused_requests_total", "caravel_waves_by_width_total",
              "caravel_requests_total", "caravel_tenant_device_bytes", "caravel_tenant_host_bytes"}
    c("grafana: rate, latency, queue, SLO, fused, widths, rejections, memory", wanted <= used, sorted(wanted - used))


def check_browser(c, server, browser, work):
    url = "http://127.0.0.1:%d/" % server.port
    before = parse_page(browser.dom(url))
    c("browser: the page ran and reads live", before.ids.get("state") == "live", before.ids)
    c("browser: every tenant on the page", sorted(before.tenants) == sorted(m + "/1" for m in DEMO),
      sorted(before.tenants))
    c("browser: both families on the page", len(before.families) == 2, sorted(before.families))
    c("browser: the server line", "policy spacetime" in before.ids.get("server", "")
      and "device cpu" in before.ids.get("server", ""), before.ids.get("server"))
    c("browser: each tenant's device", all(row.get("placement") == "cpu" for row in before.tenants.values()),
      {k: v.get("placement") for k, v in before.tenants.items()})

    load = Load(server.port)
    load.start()
    try:
        # Under load, until the document says every tenant has completed more.
        _, doc0 = status_doc(server)
        done0 = {t["tenant"]: t["completed"] for t in doc0["tenants"]}
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.5)
            _, doc = status_doc(server)
            if all(t["completed"] > done0[t["tenant"]] + 5 for t in doc["tenants"]):
                break
        shot = os.path.join(work, "status-page.png")
        browser.screenshot(url, shot)
        after = parse_page(browser.dom(url))
    finally:
        load.stop()
    c("load: answered, no errors", load.done > 0 and not load.errors, load.errors[:5])

    grew = {}
    for name, row in after.tenants.items():
        old = number(before.tenants.get(name, {}).get("completed"))
        new = number(row.get("completed"))
        grew[name] = (old, new)
    c("browser: counters grew under load", len(grew) == len(DEMO) and all(
        o is not None and n is not None and n > o for o, n in grew.values()), grew)
    c("browser: latencies shown under load", all(row.get("p99", "").endswith(" ms") for row in after.tenants.values()),
      {k: v.get("p99") for k, v in after.tenants.items()})
    c("browser: families' completed grew", all(number(r.get("completed")) for r in after.families.values()),
      after.families)
    c("browser: updated time shown", re.fullmatch(r"\d\d:\d\d:\d\d", after.ids.get("updated", "")), after.ids.get("updated"))

    ok = os.path.exists(shot)
    size = None
    if ok:
        with open(shot, "rb") as f:
            head = f.read(24)
        ok = head[:8] == b"\x89PNG\r\n\x1a\n"
        size = struct.unpack(">II", head[16:24]) if ok else None
    c("browser: screenshot under load, %dx%d PNG" % SCREEN, ok and size == SCREEN, size)
    target = os.environ.get("CARAVEL_STATUS_SCREENSHOT")
    if ok and target:
        shutil.copyfile(shot, target)
        print("screenshot copied to %s" % target)


def main():
    caravel, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    repo = make_demo_repo(work)
    checks = serverlib.Checks()
    server = serverlib.Server(caravel, repo, log=os.path.join(work, "server.log"))
    chromium = find_chromium()
    try:
        c = checks.check
        checks.run("page served", check_page_served, c, server)
        checks.run("status document", check_document, c, server)
        checks.run("grafana dashboard", check_grafana, c, server)
        if chromium:
            checks.run("browser", check_browser, c, server, Browser(chromium, work), work)
        c("server: SIGTERM ends it with exit 0", server.stop() == 0, server.stderr_tail())
    finally:
        server.kill()
    rc = checks.finish()
    if rc == 0 and not chromium:
        serverlib.skip("no Chromium (chromium, chromium-browser or google-chrome on PATH, or $CARAVEL_CHROMIUM): "
                       "the page was served and its document and the Grafana dashboard checked, but not rendered; "
                       "scripts/setup.sh installs Debian's chromium")
    return rc


if __name__ == "__main__":
    sys.exit(main())
