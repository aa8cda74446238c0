#!/usr/bin/env python3
"""test_load.py: `caravel load` against a real `caravel serve` on the demo
repository (tools/make_demo_repo.py), briefly, closed and open loop.

Usage: PYTHON test_load.py CARAVEL WORK_DIR

Checks: each run exits 0 and appends its CSV row under one header; every
request is accounted for, on both sides: in each row sent = 200 + 503 +
other statuses + no answer + bad responses + unfinished and arrivals =
sent + unsent, over the whole run sent = 200 + 503 + other + no answer,
and the server's own statistics count exactly the 200s load saw; a server
made to refuse (queue bound 1) gets its 503s counted apart, never as
errors; --models-from-server finds every READY model. Then the failures:
an unknown model and an unreachable server give one clear line and exit
status 1. The server must exit 0 on SIGTERM afterwards.
"""
import csv
import json
import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib  # noqa: E402

serverlib.require_modules("numpy", "onnx", "onnxruntime")

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_MODELS = ("cnn-a", "cnn-b", "cnn-c", "mlp-a", "mlp-b")


def make_demo_repo(work):
    repo = os.path.join(work, "demo-repo")
    generator = os.path.join(HERE, "..", "..", "tools", "make_demo_repo.py")
    subprocess.run([sys.executable, generator, repo], check=True, stdout=subprocess.DEVNULL)
    return repo


def refusing_repo(work, demo):
    """The demo's mlp-a with a queue of one request, so that a closed loop
    of several outstanding requests gets 503s."""
    repo = os.path.join(work, "refusing-repo")
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(os.path.join(repo, "mlp-a", "1"))
    shutil.copy(os.path.join(demo, "mlp-a", "1", "model.onnx"), os.path.join(repo, "mlp-a", "1", "model.onnx"))
    with open(os.path.join(repo, "mlp-a", "config.json"), "w") as f:
        json.dump({"max_batch_size": 8, "queue_bound": 1}, f)
    return repo


def run_load(caravel, url, *args, open_files=None):
    """(exit status, stdout, stderr) of `caravel load --url URL ARGS`."""
    p = subprocess.run([caravel, "load", "--url", url, "--quiet"] + list(args), capture_output=True, text=True,
                       timeout=300, preexec_fn=serverlib.soft_open_files(open_files) if open_files else None)
    return p.returncode, p.stdout, p.stderr


def read_rows(path):
    with open(path) as f:
        lines = f.read().splitlines()
    headers = sum(1 for ln in lines if ln.startswith("label,"))
    return headers, list(csv.DictReader(lines))


def accounted(row):
    """None when every request of the row is accounted for, else why not."""
    n = {k: int(v) for k, v in row.items() if k in (
        "arrivals", "sent", "completed", "rejected_503", "http_errors", "no_answer", "bad_responses", "unfinished",
        "unsent", "total_sent", "total_200", "total_503", "total_other_status", "total_no_answer")}
    ended = (n["completed"] + n["rejected_503"] + n["http_errors"] + n["no_answer"] + n["bad_responses"] +
             n["unfinished"])
    if n["sent"] != ended:
        return "sent %d, but %d ended: %s" % (n["sent"], ended, n)
    if n["arrivals"] != n["sent"] + n["unsent"]:
        return "arrivals %d != sent + unsent: %s" % (n["arrivals"], n)
    total = n["total_200"] + n["total_503"] + n["total_other_status"] + n["total_no_answer"]
    if n["total_sent"] != total:
        return "whole run: sent %d, answered %d: %s" % (n["total_sent"], total, n)
    return None


def successes(server):
    """The server's count of successful inferences over every model."""
    status, _, body = server.request("GET", "/v2/models/stats")
    if status != 200:
        raise RuntimeError("GET /v2/models/stats answered %d" % status)
    return sum(m["inference_stats"]["success"]["count"] for m in json.loads(body)["model_stats"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    caravel, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    demo = make_demo_repo(work)
    checks = serverlib.Checks()
    server = serverlib.Server(caravel, demo, log=os.path.join(work, "server.log"))
    try:
        run_checks(checks, caravel, server, work)
    finally:
        server.kill()
    if hard_open_files() >= MANY + 512:
        crowded = serverlib.Server(caravel, demo, log=os.path.join(work, "crowded.log"), open_files=1024)
        try:
            run_many_connections(checks, caravel, crowded, work)
        finally:
            crowded.kill()
    else:
        print("SKIP many connections: the hard open-file limit (%d) is below %d" % (hard_open_files(), MANY + 512))
    # Waves on the worker only: a wave run on the HTTP thread (--run-here-us)
    # is answered before the next request is read, so the queue of one
    # would never hold a second.
    refusing = serverlib.Server(caravel, refusing_repo(work, demo), "--run-here-us", "0",
                                log=os.path.join(work, "refusing.log"))
    try:
        run_refusals(checks, caravel, refusing, work)
    finally:
        refusing.kill()
    return checks.finish()


def run_checks(checks, caravel, server, work):
    url = "http://" + server.url
    path = os.path.join(work, "load.csv")
    if os.path.exists(path):
        os.remove(path)
    before = successes(server)
    rc, out, err = run_load(caravel, url, "--models-from-server", "--concurrency", "4", "--duration", "1",
                            "--warmup", "0.3", "--csv", path)
    checks.check("closed loop over --models-from-server: exit 0", rc == 0, err + out)
    checks.check("--models-from-server: every READY model", all(m in out.splitlines()[0] for m in DEMO_MODELS)
                 and "5 models" in out, out.splitlines()[:1])
    rc, out, err = run_load(caravel, url, "--model", "mlp-a", "--model", "cnn-a", "--weights", "3,1", "--rates",
                            "50,100", "--slo", "1000", "--duration", "1", "--warmup", "0.2", "--csv", path)
    checks.check("open-loop sweep: exit 0", rc == 0, err + out)
    checks.check("open-loop sweep: the sweep's summary", "sweep: highest rate" in out, out)

    headers, rows = read_rows(path)
    checks.check("one CSV header", headers == 1, headers)
    checks.check("one CSV row per run", len(rows) == 3, rows)
    modes = [(r["mode"], r["rate"], r["concurrency"]) for r in rows]
    checks.check("rows say their load", modes == [("closed", "", "4"), ("poisson", "50", ""), ("poisson", "100", "")],
                 modes)
    for i, row in enumerate(rows):
        checks.check("row %d: every request accounted for" % i, accounted(row) is None, accounted(row))
        checks.check("row %d: requests completed, no errors" % i,
                     int(row["completed"]) > 0 and int(row["http_errors"]) == 0 and int(row["no_answer"]) == 0
                     and int(row["bad_responses"]) == 0 and int(row["total_other_status"]) == 0, row)
    # Each 200 load saw is one success the server counted, no more.
    served = successes(server) - before
    seen = sum(int(r["total_200"]) for r in rows)
    checks.check("the server counted as many successes as load saw 200s", served == seen,
                 "server %d, load %d" % (served, seen))

    # A bad model name: one line, exit 1, before any load.
    rc, out, err = run_load(caravel, url, "--model", "mlp-a", "--model", "no-such-model", "--rate", "10")
    checks.check("an unknown model: exit 1 with one line naming it",
                 rc == 1 and len(err.strip().splitlines()) == 1 and "no-such-model" in err and "400" in err
                 and out == "", "%d %r %r" % (rc, err, out))
    rc, out, err = run_load(caravel, "http://127.0.0.1:%d" % free_port(), "--model", "mlp-a", "--rate", "10")
    checks.check("an unreachable server: exit 1 with one line",
                 rc == 1 and len(err.strip().splitlines()) == 1 and "connect" in err.lower(), "%d %r" % (rc, err))

    rc = server.stop()
    checks.check("the server exits 0 on SIGTERM", rc == 0, "%s; %s" % (rc, server.stderr_tail()))


# More connections at once than the usual soft open-file limit (1024) and
# libmicrohttpd's default connection limit (FD_SETSIZE - 4) allow.
MANY = 1200


def hard_open_files():
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard if hard != resource.RLIM_INFINITY else 1 << 20


def run_many_connections(checks, caravel, server, work):
    """MANY requests outstanding, each on its own connection, from a load
    generator and to a server both started with a soft limit of 1024 open
    files: both raise it, and every request is answered."""
    path = os.path.join(work, "many.csv")
    if os.path.exists(path):
        os.remove(path)
    rc, out, err = run_load(caravel, "http://" + server.url, "--models-from-server", "--concurrency", str(MANY),
                            "--duration", "1", "--warmup", "0.5", "--drain", "30", "--csv", path, open_files=1024)
    checks.check("%d connections: exit 0" % MANY, rc == 0, err + out)
    _, rows = read_rows(path)
    row = rows[0] if rows else {}
    checks.check("%d connections: every request accounted for" % MANY, rows and accounted(row) is None,
                 rows and accounted(row))
    checks.check("%d connections: every request answered, none lost" % MANY,
                 rows and int(row["total_no_answer"]) == 0 and int(row["http_errors"]) == 0
                 and int(row["unfinished"]) == 0 and int(row["total_200"]) >= MANY, row)
    rc = server.stop()
    checks.check("the crowded server exits 0 on SIGTERM", rc == 0, "%s; %s" % (rc, server.stderr_tail()))


def run_refusals(checks, caravel, server, work):
    """Eight outstanding requests on a queue of one: the server refuses
    some with 503, which load counts apart from errors."""
    path = os.path.join(work, "refusals.csv")
    if os.path.exists(path):
        os.remove(path)
    rc, out, err = run_load(caravel, "http://" + server.url, "--model", "mlp-a", "--concurrency", "8", "--duration",
                            "1", "--warmup", "0.2", "--csv", path)
    checks.check("refusing server: exit 0", rc == 0, err + out)
    _, rows = read_rows(path)
    row = rows[0] if rows else {}
    checks.check("refusing server: every request accounted for", rows and accounted(row) is None,
                 rows and accounted(row))
    checks.check("refusing server: 503s counted, no other errors",
                 rows and int(row["rejected_503"]) > 0 and int(row["completed"]) > 0 and int(row["http_errors"]) == 0
                 and int(row["total_other_status"]) == 0, row)
    checks.check("refusing server: the report names them refusals", "503" in out and "refused by the server" in out,
                 out)
    rc = server.stop()
    checks.check("the refusing server exits 0 on SIGTERM", rc == 0, "%s; %s" % (rc, server.stderr_tail()))


if __name__ == "__main__":
    sys.exit(main())
