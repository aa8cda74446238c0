#!/usr/bin/env python3
"""test_nginx_cluster.py: three `caravel serve` processes behind nginx on
loopback, configured by `caravel nginx-conf` from `caravel families`,
the deployment of docs/DEPLOY.md (issue 12, item 2).

Usage: PYTHON test_nginx_cluster.py CARAVEL WORK_DIR

Checks, in order:
  - `caravel families` gives the demo's two families (cnn-a/b/c, mlp-a/b),
    and every server reports the same family hash for each model;
  - routing: requests for each model through nginx are served (the
    servers' own counters, from /v2/caravel/status) by the server that
    nginx's consistent hash of the family key picks, computed here from
    nginx's ketama ring (crc32 points, 160 per server); so each family's
    models all land on one server, the two families on different ones;
  - `caravel load --models-from-server` through nginx, closed loop: every
    request answered 200, the servers counted exactly those requests, each
    family's on its server;
  - the server of the cnn family stopped (SIGTERM) in the middle of a load
    run: still every request 200, and nginx's access log shows requests
    that failed on it (refused connection, closed keep-alive connection,
    503 while it stops) answered 200 by the next server; it exits 0;
  - with it down, a load run: every request 200, the cnn family served by
    the next server on the ring, the mlp family still on its own server
    (unaffected); nginx logged the server as temporarily disabled;
  - the stopped server restarted on its port: once it is ready and the
    fail_timeout has passed, its family routes back to it, the other stays
    put, and a last load run is all 200 on the owners.

Ports are picked so that the two families hash to different servers (the
ring depends on the servers' addresses), otherwise "the other family is
unaffected" would not be tested. nginx runs in the foreground with its own
prefix, configuration, pid and logs in WORK_DIR. Every process it starts
dies with it (PR_SET_PDEATHSIG), and is stopped on every way out.

Skips (exit 77) when nginx is not installed (scripts/setup.sh installs
Debian's) or the Python environment lacks what the demo repository
generator needs.
"""
import bisect
import csv
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import serverlib  # noqa: E402

FAIL_TIMEOUT_S = 2
CNN = ("cnn-a", "cnn-b", "cnn-c")
MLP = ("mlp-a", "mlp-b")


def find_nginx():
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]:
        p = os.path.join(d, "nginx")
        if d and os.access(p, os.X_OK):
            return p
    return None


NGINX = find_nginx()
if NGINX is None:
    serverlib.skip("nginx is not installed (Debian's nginx package; scripts/setup.sh installs it)")
serverlib.require_modules("numpy", "onnx", "onnxruntime")

_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """In the child: SIGKILL when the test dies, however it dies (ctest's
    timeout kills without a chance to clean up)."""
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --- nginx's consistent hash (ngx_http_upstream_hash_module.c) -------------
# Each server gets 160 points (weight 1): crc32 of "HOST\0PORT" followed by
# the previous point's 4 bytes (little-endian), chained from 0. A key goes
# to the first point at or after crc32(key), wrapping; a server that is
# down is skipped for the next point.

def ketama_ring(servers):
    points = []
    for s in servers:
        host, port = s.rsplit(":", 1)
        base = host.encode() + b"\0" + port.encode()
        prev = 0
        for _ in range(160):
            prev = zlib.crc32(base + struct.pack("<I", prev)) & 0xFFFFFFFF
            points.append((prev, s))
    points.sort()
    return points


def ketama_pick(servers, key, down=()):
    points = ketama_ring(servers)
    hashes = [h for h, _ in points]
    i = bisect.bisect_left(hashes, zlib.crc32(key.encode()) & 0xFFFFFFFF)
    for k in range(len(points)):
        s = points[(i + k) % len(points)][1]
        if s not in down:
            return s
    return None


# --- processes ---------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_request(port, method, path, body=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_ready(port, seconds):
    """True once GET /v2/health/ready answers 200 on the port."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if http_request(port, "GET", "/v2/health/ready", timeout=2)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


class Server:
    """One `caravel serve` on a fixed port (it must come back on the same
    one after a restart: nginx knows it by address)."""

    def __init__(self, caravel, repo, port, log_path):
        self.caravel, self.repo, self.port, self.log_path = caravel, repo, port, log_path
        self.address = "127.0.0.1:%d" % port
        self.proc = None

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.caravel, "serve", "--model-repository", self.repo, "--device", "cpu",
                                      "--threads", "1", "--http-port", str(self.port), "--metrics-port", "-1"],
                                     stdout=log, stderr=log, preexec_fn=die_with_parent)
        log.close()
        if not wait_ready(self.port, 60):
            raise RuntimeError("caravel serve on port %d did not become ready: %s" % (self.port, self.log_tail()))

    def stop(self, timeout=30):
        """SIGTERM; the exit status (None when it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_tail(self):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-15:])

    def completed(self):
        """{model: completed requests} of the server's READY tenants, from
        its own status document."""
        status, body = http_request(self.port, "GET", "/v2/caravel/status")
        if status != 200:
            raise RuntimeError("status document of %s: HTTP %d" % (self.address, status))
        return {t["model"]: t["completed"] for t in json.loads(body)["tenants"] if t["state"] == "READY"}

    def families(self):
        status, body = http_request(self.port, "GET", "/v2/caravel/status")
        return {t["model"]: t["family"] for t in json.loads(body)["tenants"] if t["state"] == "READY"}


class Nginx:
    def __init__(self, conf_dir):
        self.dir = conf_dir
        self.proc = None

    def start(self, port):
        self.out = open(os.path.join(self.dir, "nginx.out"), "w")
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"),
                                      "-e", os.path.join(self.dir, "error.log"), "-g", "daemon off;"],
                                     stdout=self.out, stderr=self.out, preexec_fn=die_with_parent)
        if not wait_ready(port, 15):
            raise RuntimeError("nginx on port %d is not ready: %s" % (port, self.error_log()[-2000:]))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish the requests in flight
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def retried_from(self, address):
        """The access log's model requests that went to `address` first and
        then to another server (upstream=A, B)."""
        with open(os.path.join(self.dir, "access.log")) as f:
            return [line.rstrip() for line in f if "/v2/models/" in line and "upstream=%s, " % address in line]

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()
        except OSError:
            return ""


# --- requests ----------------------------------------------------------------

def infer_body(port, model):
    """A JSON inference body for one row of the model, from its metadata."""
    status, body = http_request(port, "GET", "/v2/models/%s" % model)
    if status != 200:
        raise RuntimeError("metadata of %s: HTTP %d %s" % (model, status, body[:200]))
    inputs = []
    for i in json.loads(body)["inputs"]:
        shape = [1 if d < 0 else d for d in i["shape"]]
        n = 1
        for d in shape:
            n *= d
        inputs.append({"name": i["name"], "shape": shape, "datatype": i["datatype"], "data": [0.25] * n})
    return json.dumps({"inputs": inputs}).encode()


def send_each(port, bodies, count):
    """count inferences of each model through nginx; {model: [statuses]}."""
    out = {}
    for model, body in bodies.items():
        out[model] = [http_request(port, "POST", "/v2/models/%s/infer" % model, body)[0] for _ in range(count)]
    return out


def snapshot(servers):
    return {s.address: s.completed() for s in servers}


def deltas(before, after):
    """{address: {model: completed since before}} over the servers of after."""
    return {a: {m: n - before.get(a, {}).get(m, 0) for m, n in counts.items()} for a, counts in after.items()}


def where_served(d, models):
    """{model: {address: n}} of the servers that served each model (n > 0)."""
    return {m: {a: c[m] for a, c in d.items() if c.get(m, 0) > 0} for m in models}


def run_load(caravel, port, csv_path, label, seconds, concurrency=4):
    """`caravel load` through nginx, closed loop; (exit status, its CSV
    row as ints where numeric, stderr)."""
    p = subprocess.run([caravel, "load", "--url", "http://127.0.0.1:%d" % port, "--models-from-server",
                        "--concurrency", str(concurrency), "--duration", str(seconds), "--warmup", "0.5",
                        "--drain", "10", "--csv", csv_path, "--label", label, "--quiet"],
                       capture_output=True, text=True, timeout=120, preexec_fn=die_with_parent)
    row = None
    if os.path.exists(csv_path):
        with open(csv_path) as f:
            rows = [r for r in csv.DictReader(f) if r["label"] == label]
        if rows:
            row = {}
            for k, v in rows[-1].items():
                try:
                    row[k] = int(v)
                except ValueError:
                    row[k] = v
    return p.returncode, row, p.stderr + p.stdout


def all_200(rc, row, output):
    """None when the load run exited 0 and every request it sent (warm-up
    and drain included) was answered 200; else why not."""
    if rc != 0 or row is None:
        return "caravel load exit %d: %s" % (rc, output[-1500:])
    bad = {k: row[k] for k in ("total_503", "total_other_status", "total_no_answer", "bad_responses", "unfinished")
           if row[k] != 0}
    if row["total_sent"] == 0 or row["total_200"] != row["total_sent"] or bad:
        return "sent %d, 200 %d, not 200: %s" % (row["total_sent"], row["total_200"], bad)
    return None


def main():
    caravel, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # nginx's workers run as nobody when it starts as root: they must reach
    # the temporary folders under WORK_DIR.
    os.chmod(work, 0o755)
    checks = serverlib.Checks()
    started = time.time()

    repo = os.path.join(work, "demo-repo")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_demo_repo.py"), repo], check=True,
                   stdout=subprocess.DEVNULL)

    # The map from `caravel families`, as a deployment makes it.
    map_path = os.path.join(work, "families.map")
    with open(map_path, "w") as f:
        p = subprocess.run([caravel, "families", "--model-repository", repo], stdout=f, stderr=subprocess.PIPE,
                           text=True)
    if not checks.check("caravel families exits 0", p.returncode == 0, p.stderr):
        return checks.finish()
    family = {}
    with open(map_path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                model, key = line.split()
                family[model] = key.rstrip(";")
    cnn_key, mlp_key = family.get("cnn-a"), family.get("mlp-a")
    ok = (set(family) == set(CNN + MLP) and all(family[m] == cnn_key for m in CNN)
          and all(family[m] == mlp_key for m in MLP) and cnn_key != mlp_key)
    if not checks.check("two families: cnn-a/b/c share a key, mlp-a/b another", ok, family):
        return checks.finish()

    # Ports with the two families on different servers.
    for _ in range(200):
        ports = set()
        while len(ports) < 4:
            ports.add(free_port())
        nginx_port, *server_ports = sorted(ports)
        addresses = ["127.0.0.1:%d" % p for p in server_ports]
        if ketama_pick(addresses, cnn_key) != ketama_pick(addresses, mlp_key):
            break
    cnn_owner, mlp_owner = ketama_pick(addresses, cnn_key), ketama_pick(addresses, mlp_key)
    cnn_fallback = ketama_pick(addresses, cnn_key, down=(cnn_owner,))
    print("servers %s, nginx on %d; predicted: cnn -> %s (then %s), mlp -> %s" % (
        ", ".join(addresses), nginx_port, cnn_owner, cnn_fallback, mlp_owner))
    if not checks.check("ports found with the families on different servers", cnn_owner != mlp_owner):
        return checks.finish()

    servers = [Server(caravel, repo, p, os.path.join(work, "server-%d.log" % p)) for p in server_ports]
    by_address = {s.address: s for s in servers}
    nginx = Nginx(os.path.join(work, "nginx"))

    def stop_everything(*_):
        nginx.stop()
        for s in servers:
            s.stop(timeout=15)

    def on_signal(sig, _frame):
        stop_everything()
        sys.exit(128 + sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    csv_path = os.path.join(work, "load.csv")
    try:
        for s in servers:
            s.start()
        gen = subprocess.run([caravel, "nginx-conf", "--out", nginx.dir,
                              "--families", map_path, "--listen", "127.0.0.1:%d" % nginx_port,
                              "--fail-timeout", "%ds" % FAIL_TIMEOUT_S] +
                             sum((["--server", a] for a in addresses), []), capture_output=True, text=True)
        if not checks.check("caravel nginx-conf writes the configuration", gen.returncode == 0, gen.stderr):
            return checks.finish()
        # The generator's own account of the ring against this test's.
        with open(os.path.join(nginx.dir, "placement.tsv")) as f:
            placed = {row["family"]: row["server"] for row in csv.DictReader(f, delimiter="\t")}
        checks.check("caravel nginx-conf's placement.tsv agrees with the ring computed here",
                     placed == {cnn_key: cnn_owner, mlp_key: mlp_owner}, placed)
        nginx.start(nginx_port)

        reported = {s.address: s.families() for s in servers}
        checks.check("every server reports the map's family for every model",
                     all(r == family for r in reported.values()), reported)

        # 1. Routing: each model on the server the hash picks.
        bodies = {m: infer_body(nginx_port, m) for m in CNN + MLP}
        before = snapshot(servers)
        statuses = send_each(nginx_port, bodies, 4)
        served = where_served(deltas(before, snapshot(servers)), CNN + MLP)
        checks.check("routing: every inference through nginx answered 200",
                     all(s == 200 for v in statuses.values() for s in v), statuses)
        want = {m: {cnn_owner if m in CNN else mlp_owner: 4} for m in CNN + MLP}
        checks.check("routing: each model served 4 times, only by the server its family hashes to",
                     served == want, "served %s, wanted %s" % (served, want))
        checks.check("routing: cnn-a/b/c on one server, mlp-a/b on another",
                     len({a for m in CNN for a in served[m]}) == 1 and len({a for m in MLP for a in served[m]}) == 1
                     and {a for m in CNN for a in served[m]} != {a for m in MLP for a in served[m]}, served)

        # 2. Load with every server up.
        before = snapshot(servers)
        rc, row, out = run_load(caravel, nginx_port, csv_path, "all-up", 3)
        d = deltas(before, snapshot(servers))
        checks.run("load, all up: every request answered 200", all_200, rc, row, out)
        if row:
            counted = sum(sum(c.values()) for c in d.values())
            checks.check("load, all up: the servers completed exactly the requests load sent",
                          counted == row["total_200"], "servers %d, load's 200s %d" % (counted, row["total_200"]))
        served = where_served(d, CNN + MLP)
        checks.check("load, all up: each model served only by its family's server",
                     all(set(served[m]) == {cnn_owner if m in CNN else mlp_owner} for m in CNN + MLP), served)

        # 3a. The cnn family's server stopped in the middle of a load run.
        victim = by_address[cnn_owner]
        result = {}
        loader = threading.Thread(target=lambda: result.update(
            zip(("rc", "row", "out"), run_load(caravel, nginx_port, csv_path, "stop-during", 4))))
        loader.start()
        time.sleep(2.0)
        victim_rc = victim.stop()
        loader.join()
        checks.check("the cnn family's server exits 0 on SIGTERM under load", victim_rc == 0,
                     "exit %s: %s" % (victim_rc, victim.log_tail()))
        checks.run("load while it stops: every request answered 200", all_200, result.get("rc"), result.get("row"),
                   result.get("out", ""))
        retried = nginx.retried_from(cnn_owner)
        checks.check("load while it stops: requests that failed on it were answered 200 by the next server "
                     "(nginx's access log: %d)" % len(retried), len(retried) > 0 and
                     all(line.split('" ', 1)[1].startswith("200 ") for line in retried), retried[:3])

        # 3b. With it down.
        alive = [s for s in servers if s is not victim]
        before = snapshot(alive)
        rc, row, out = run_load(caravel, nginx_port, csv_path, "one-down", 3)
        d = deltas(before, snapshot(alive))
        checks.run("load, one down: every request answered 200", all_200, rc, row, out)
        if row:
            counted = sum(sum(c.values()) for c in d.values())
            checks.check("load, one down: the live servers completed exactly the requests load sent",
                         counted == row["total_200"], "servers %d, load's 200s %d" % (counted, row["total_200"]))
        served = where_served(d, CNN + MLP)
        checks.check("load, one down: the cnn family moved to the next server on the ring (%s)" % cnn_fallback,
                     all(set(served[m]) == {cnn_fallback} for m in CNN), served)
        checks.check("load, one down: the mlp family unaffected, still on %s" % mlp_owner,
                     all(set(served[m]) == {mlp_owner} for m in MLP), served)
        log = nginx.error_log()
        checks.check("nginx's passive check took the stopped server out",
                     "upstream server temporarily disabled" in log and cnn_owner in log, log[-1500:])

        # 4. Restarted on its port: once ready and past fail_timeout, back.
        # nginx tries a server again once fail_timeout has passed since its
        # last failure; on a busy machine that can be later than the restart
        # plus fail_timeout (each worker keeps its own count), so the
        # routing is asked again until it is back or three fail_timeouts
        # have passed.
        victim.start()
        time.sleep(FAIL_TIMEOUT_S + 0.5)
        deadline = time.time() + 3 * FAIL_TIMEOUT_S
        while True:
            before = snapshot(servers)
            statuses = send_each(nginx_port, bodies, 4)
            served = where_served(deltas(before, snapshot(servers)), CNN + MLP)
            if served == want or time.time() > deadline:
                break
            time.sleep(0.5)
        checks.check("restarted: every inference answered 200",
                     all(s == 200 for v in statuses.values() for s in v), statuses)
        checks.check("restarted: the cnn family back on %s, mlp still on %s" % (cnn_owner, mlp_owner),
                     served == want, "served %s, wanted %s" % (served, want))
        before = snapshot(servers)
        rc, row, out = run_load(caravel, nginx_port, csv_path, "restarted", 2)
        d = deltas(before, snapshot(servers))
        checks.run("load, restarted: every request answered 200", all_200, rc, row, out)
        served = where_served(d, CNN + MLP)
        checks.check("load, restarted: each model served only by its family's server",
                     all(set(served[m]) == {cnn_owner if m in CNN else mlp_owner} for m in CNN + MLP), served)

        # Model control does not go through nginx (it would reach one server).
        status, body = http_request(nginx_port, "POST", "/v2/repository/models/cnn-a/unload")
        checks.check("nginx refuses load/unload with 403 and a reason",
                     status == 403 and serverlib.error_body(body) is not None, "%d %s" % (status, body[:200]))

        nginx.stop()
        for s in servers:
            rc = s.stop()
            checks.check("server %s exits 0 on SIGTERM" % s.address, rc == 0, "exit %s: %s" % (rc, s.log_tail()))
    except Exception as e:  # a failed step: one failure with what went wrong, then clean up
        checks.check("the cluster test ran to its end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        stop_everything()
    print("took %.1f s" % (time.time() - started))
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
