#!/usr/bin/env python3
"""test_nginx_conf.py: `caravel nginx-conf` without nginx or servers: the
files it writes from a fixed family map, checked against what is computed
here independently.

Usage: PYTHON test_nginx_conf.py CARAVEL WORK_DIR

Checks:
  - with fixed --server addresses (IPv4, a name, IPv6 in brackets):
    placement.tsv agrees with nginx's ketama ring computed here (zlib's
    crc32, one sorted ring of every server's 160 points, the first point
    at or after the key's hash); caravel.conf and nginx.conf are the
    templates of deploy/nginx/ with the placeholders filled as documented
    (so the templates compiled into the command are the checkout's);
    servers lists the addresses; the summary on stdout counts each
    server's families and models;
  - --spread-ports: distinct ports in --port-range, never --listen's,
    placement.tsv agreeing with the ring of the chosen servers, and the
    families spread evenly (16 families on 4 servers: 4 each);
  - bad arguments (no --out, a bad map line, a --server that is not
    HOST:PORT, a --server given twice, ...): exit 2, one line on stderr,
    nothing written.

The standard library only; nothing to skip for.
"""
import bisect
import os
import shutil
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import serverlib  # noqa: E402

# nginx's ring (ngx_http_upstream_hash_module, `hash ... consistent`),
# written here as nginx keeps it: one sorted list of every server's points.
def ring_of(servers):
    points = []
    for s in servers:
        host, port = s.rsplit(":", 1)
        base, prev = host.encode() + b"\0" + port.encode(), 0
        for _ in range(160):
            prev = zlib.crc32(base + struct.pack("<I", prev)) & 0xFFFFFFFF
            points.append((prev, s))
    points.sort(key=lambda p: p[0])
    return points


def owner(ring, key):
    i = bisect.bisect_left([p for p, _ in ring], zlib.crc32(key.encode()) & 0xFFFFFFFF)
    return ring[i % len(ring)][1]


def read_placement(path):
    with open(path) as f:
        lines = f.read().splitlines()
    rows = [line.split("\t") for line in lines[1:]]
    return lines[0], {r[0]: (int(r[1]), r[2]) for r in rows}


def fill(template, values):
    with open(os.path.join(ROOT, "deploy", "nginx", template)) as f:
        text = f.read()
    for name, value in values:
        text = text.replace("@%s@" % name, value)
    return text


def run(caravel, *args):
    return subprocess.run([caravel, "nginx-conf"] + list(args), capture_output=True, text=True)


MAP = """# model -> family key (hand-made for the test)
cnn-a 5211984622724f9a;
cnn-b 5211984622724f9a;

mlp-a d94366da80ca4392;
a.long-model_name.v2   0123456789abcdef;
mlp-b d94366da80ca4392;
solo fedcba9876543210;
"""
MODELS = [("cnn-a", "5211984622724f9a"), ("cnn-b", "5211984622724f9a"), ("mlp-a", "d94366da80ca4392"),
          ("a.long-model_name.v2", "0123456789abcdef"), ("mlp-b", "d94366da80ca4392"),
          ("solo", "fedcba9876543210")]
SERVERS = ["127.0.0.1:8001", "127.0.0.1:8002", "node-b.example:9000", "[::1]:8003"]


def check_fixed(checks, caravel, work, map_path):
    out = os.path.join(work, "fixed")
    args = ["--out", out, "--families", map_path, "--listen", "127.0.0.1:8080", "--fail-timeout", "3s",
            "--max-fails", "2", "--read-timeout", "500ms", "--worker-processes", "auto"]
    p = run(caravel, *sum((["--server", s] for s in SERVERS), args))
    if not checks.check("fixed servers: exit 0", p.returncode == 0, p.stderr):
        return
    ring = ring_of(SERVERS)
    keys = sorted(set(k for _, k in MODELS))
    header, placed = read_placement(os.path.join(out, "placement.tsv"))
    want = {k: (sum(1 for _, m in MODELS if m == k), owner(ring, k)) for k in keys}
    checks.check("fixed servers: placement.tsv's header", header == "family\tmodels\tserver", header)
    checks.check("fixed servers: placement.tsv agrees with nginx's ring computed here", placed == want,
                 "%s, wanted %s" % (placed, want))
    width = max(len(m) for m, _ in MODELS)
    caravel_conf = fill("caravel.conf.template", [
        ("family_map", "\n".join("    %-*s %s;" % (width, m, k) for m, k in MODELS)),
        ("servers", "\n".join("    server %s max_fails=2 fail_timeout=3s;" % s for s in SERVERS)),
        ("listen", "127.0.0.1:8080"), ("max_fails", "2"), ("fail_timeout", "3s"),
        ("connect_timeout", "2s"), ("read_timeout", "500ms"), ("access_log", "access.log caravel")])
    with open(os.path.join(out, "caravel.conf")) as f:
        got = f.read()
    checks.check("fixed servers: caravel.conf is the checkout's template, filled", got == caravel_conf,
                 "differs from the template filled here (a stale build?)")
    with open(os.path.join(out, "nginx.conf")) as f:
        got = f.read()
    checks.check("fixed servers: nginx.conf is the checkout's template, filled",
                 got == fill("nginx.conf.template", [("worker_processes", "auto")]))
    with open(os.path.join(out, "servers")) as f:
        checks.check("fixed servers: servers lists the addresses in order",
                     f.read() == "".join(s + "\n" for s in SERVERS))
    checks.check("fixed servers: tmp/ for nginx's temporary files", os.path.isdir(os.path.join(out, "tmp")))
    summary = ["wrote %s/nginx.conf and %s/caravel.conf: 4 servers, 6 models in 4 families" % (out, out),
               "while all are up (%s/placement.tsv):" % out]
    for s in SERVERS:
        mine = [k for k in keys if want[k][1] == s]
        n = sum(want[k][0] for k in mine)
        summary.append("  %s: %d %s, %d %s" % (s, len(mine), "family" if len(mine) == 1 else "families",
                                               n, "model" if n == 1 else "models"))
    checks.check("fixed servers: the summary on stdout", p.stdout.splitlines() == summary, p.stdout)


def check_spread(checks, caravel, work):
    map_path = os.path.join(work, "sixteen.map")
    keys = ["%016x" % (zlib.crc32(b"family %d" % i) * 0x100000001 & 0xFFFFFFFFFFFFFFFF) for i in range(16)]
    with open(map_path, "w") as f:
        f.write("".join("m%d-%d %s;\n" % (i, j, k) for i, k in enumerate(keys) for j in range(2)))
    out = os.path.join(work, "spread")
    p = run(caravel, "--out", out, "--families", map_path, "--spread-ports", "127.0.0.1:4",
            "--port-range", "41000-41999", "--listen", "41500")
    if not checks.check("--spread-ports: exit 0", p.returncode == 0, p.stderr):
        return
    with open(os.path.join(out, "servers")) as f:
        servers = f.read().splitlines()
    ports = [int(s.rsplit(":", 1)[1]) for s in servers if s.startswith("127.0.0.1:")]
    checks.check("--spread-ports: 4 distinct ports in the range, not --listen's",
                 len(ports) == 4 and len(set(ports)) == 4 and all(41000 <= q <= 41999 and q != 41500 for q in ports),
                 servers)
    checks.check("--spread-ports: the first line names them",
                 p.stdout.startswith("spread-ports: %s (" % " ".join(servers)), p.stdout)
    _, placed = read_placement(os.path.join(out, "placement.tsv"))
    ring = ring_of(servers)
    checks.check("--spread-ports: placement.tsv agrees with the ring of the chosen servers",
                 placed == {k: (2, owner(ring, k)) for k in keys}, placed)
    per_server = [sum(1 for _, s in placed.values() if s == a) for a in servers]
    checks.check("--spread-ports: 16 families spread 4 a server", per_server == [4, 4, 4, 4], per_server)


def check_bad_arguments(checks, caravel, work, map_path):
    bad_map = os.path.join(work, "bad.map")
    with open(bad_map, "w") as f:
        f.write("cnn-a 5211984622724f9a;\ncnn-b 5211984622724F9A;\n")
    out = os.path.join(work, "bad-out")
    ok = ["--out", out, "--families", map_path]
    cases = [
        ("no --out", ["--families", map_path, "--server", SERVERS[0]], "--out"),
        ("no --families", ["--out", out, "--server", SERVERS[0]], "--families"),
        ("no server", ok, "--server"),
        ("a bad map line", ["--out", out, "--families", bad_map, "--server", SERVERS[0]], "bad.map:2:"),
        ("a missing map", ["--out", out, "--families", os.path.join(work, "nothing.map"), "--server", SERVERS[0]],
         "family map"),
        ("--server not HOST:PORT", ok + ["--server", "127.0.0.1"], "HOST:PORT"),
        ("--server with a space", ok + ["--server", "a b:80"], "HOST:PORT"),
        ("--server given twice", ok + ["--server", SERVERS[0], "--server", SERVERS[0]], "twice"),
        ("--server and --spread-ports", ok + ["--server", SERVERS[0], "--spread-ports", "127.0.0.1:2"], "either"),
        ("--spread-ports N 0", ok + ["--spread-ports", "127.0.0.1:0"], "--spread-ports"),
        ("--port-range too narrow", ok + ["--spread-ports", "127.0.0.1:3", "--port-range", "100-104"], "narrow"),
        ("--fail-timeout not a duration", ok + ["--server", SERVERS[0], "--fail-timeout", "10h"], "duration"),
        ("--max-fails 0", ok + ["--server", SERVERS[0], "--max-fails", "0"], "--max-fails"),
        ("--access-log with ';'", ok + ["--server", SERVERS[0], "--access-log", "a;b"], "--access-log"),
        ("--access-log bringing a placeholder", ok + ["--server", SERVERS[0], "--access-log", "@listen@"],
         "@listen@"),
        ("an unknown option", ok + ["--server", SERVERS[0], "--bogus", "1"], "--bogus"),
        ("an option without its value", ok + ["--server"], "needs a value"),
    ]
    for name, args, says in cases:
        shutil.rmtree(out, ignore_errors=True)
        p = run(caravel, *args)
        lines = p.stderr.splitlines()
        checks.check("bad arguments: %s: exit 2, one line naming it, nothing written" % name,
                     p.returncode == 2 and len(lines) == 1 and lines[0].startswith("caravel") and says in lines[0]
                     and not os.path.exists(out), "exit %d, stderr %r" % (p.returncode, p.stderr))
    p = run(caravel, "--help")
    checks.check("--help: exit 0, the usage on stdout",
                 p.returncode == 0 and p.stdout.startswith("usage: caravel nginx-conf"), p.returncode)


def main():
    caravel, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    map_path = os.path.join(work, "families.map")
    with open(map_path, "w") as f:
        f.write(MAP)
    checks = serverlib.Checks()
    check_fixed(checks, caravel, work, map_path)
    check_spread(checks, caravel, work)
    check_bad_arguments(checks, caravel, work, map_path)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
