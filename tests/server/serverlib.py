"""serverlib.py: what the server tests share: starting `caravel serve` on
free loopback ports with a test repository, stopping it (SIGTERM, which must
end it with exit status 0), raw HTTP requests, and a small check list that
prints one line per check and a closing 'N passed, N failed' line.

A test script exits 0 when every check passed, 1 otherwise, and 77 (CTest's
skip) with a printed reason when what it needs is missing.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

SKIP = 77


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def require_modules(*names):
    """Skips the test (exit 77) when a module cannot be imported."""
    for name in names:
        try:
            __import__(name)
        except ImportError as e:
            skip("%s cannot import %s (%s); scripts/setup.sh installs it into .venv" % (sys.executable, name, e))


def make_repo(work):
    """Writes the test repository into WORK/repo (tests/server/make_test_repo.py)."""
    repo = os.path.join(work, "repo")
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "make_test_repo.py"), repo], check=True)
    return repo


def read_pb(path):
    """The tensor of a TensorProto file (a model's test data) as numpy."""
    from onnx import TensorProto, numpy_helper
    with open(path, "rb") as f:
        t = TensorProto()
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def close(got, ref, rtol=1e-4, atol=1e-6):
    """caravel check's rule: max |got - ref| <= rtol * max |ref| + atol.
    None when it holds, else why not (got may be None: no output)."""
    import numpy as np
    if got is None or got.shape != ref.shape or got.dtype != ref.dtype:
        return "got %s, expected %s %s" % (None if got is None else (got.dtype, got.shape), ref.dtype, ref.shape)
    if not ref.size:
        return None
    err = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64))))
    bound = rtol * float(np.max(np.abs(ref))) + atol
    return None if err <= bound else "max abs error %g > %g" % (err, bound)


def soft_open_files(n):
    """A preexec_fn that sets the child's soft open-file limit to n."""
    def apply():
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return apply


class Server:
    """`caravel serve` on free loopback ports (port 0, the bound ones read
    from its first lines)."""

    def __init__(self, caravel, repo, *args, log=None, open_files=None):
        """open_files: the server's soft open-file limit (ulimit -n) as it
        starts, as a user's shell may leave it."""
        self.log_path = log
        self.log = open(log, "w") if log else subprocess.DEVNULL
        cmd = [caravel, "serve", "--model-repository", repo, "--http-port", "0", "--metrics-port", "0",
               "--device", "cpu", "--threads", "1"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     preexec_fn=soft_open_files(open_files) if open_files else None)
        self.port = self.metrics_port = None
        self.lines = []
        deadline = time.time() + 120
        while time.time() < deadline and (self.port is None or self.metrics_port is None):
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if line.startswith("listening on http://"):
                self.port = int(line.split()[2].rsplit(":", 1)[1])
            if line.startswith("metrics on http://"):
                self.metrics_port = int(line.split()[2].rsplit(":", 1)[1].split("/")[0])
            if "--metrics-port" in args and self.port is not None:
                break
        if self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("caravel serve did not start: %s%s" % ("".join(self.lines), self.stderr_tail()))
        # The rest of stdout is drained so that the server never blocks on it.
        self.rest = []
        self.reader = threading.Thread(target=lambda: self.rest.extend(self.proc.stdout), daemon=True)
        self.reader.start()
        self.url = "127.0.0.1:%d" % self.port

    def stderr_tail(self):
        if not self.log_path:
            return ""
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return "".join(f.readlines()[-30:])

    def stop(self, timeout=60):
        """SIGTERM, then the exit status (None when it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.reader.join(timeout=5)
        if self.log is not subprocess.DEVNULL:
            self.log.close()
        return rc

    def kill(self):
        """Ends a server a failed test left running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def request(self, method, path, body=None, headers=None, port=None, conn=None):
        """One request; returns (status, headers dict (lower-case), body bytes).
        With conn, on that (kept-alive) connection."""
        own = conn is None
        if own:
            conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                conn.close()


class Checks:
    """A list of named checks; each prints PASS/FAIL with a detail."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS %s" % name)
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + str(detail)) if detail != "" else ""))
        sys.stdout.flush()
        return ok

    def run(self, name, fn, *args):
        """Runs fn(*args) as one check: an exception fails it."""
        try:
            result = fn(*args)
        except Exception as e:  # a failed check, whatever went wrong
            return self.check(name, False, "%s: %s" % (type(e).__name__, e))
        if result is None or result is True:
            return self.check(name, True)
        return self.check(name, False, result)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.failed == 0 else 1


def error_body(body):
    """The message of an {"error": ...} body, or None when it is not one."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"]:
        return doc["error"]
    return None
