#!/usr/bin/env python3
"""mps_peer_csv.py: the paper's process-level peers as CSV rows, for figures
3 and 4 (bench/gpu/run.sh stages fig3 and fig4).

It runs the worker of ../shared/anchors/mps_peer.py unchanged (N processes,
each one tenant of ARCH with its own random weights at batch 1, replayed as
a CUDA graph in a closed loop for SECONDS after a barrier) and writes what
that anchor prints (throughput, mean and p99 latency over all requests, the
slowest process's mean over the fastest's) plus each process's own numbers,
which the anchor folds into one ratio and figure 4 needs one by one.

Whether the processes run under MPS or time-sliced is the caller's doing:
MODE only labels the rows; run.sh starts the MPS control daemon around the
`mps` runs and makes sure it is stopped for the `timesliced` ones.

A tool that makes reference data on the GPU machine (PyTorch), not shipped
code.

Usage: mps_peer_csv.py ANCHOR_DIR MODE ARCH PREC N1,N2,... SECONDS SUMMARY_CSV PROCESS_CSV
  SUMMARY_CSV gets   system,model,precision,tenants,throughput_per_s,mean_ms,p50_ms,p99_ms,tenant_spread
  PROCESS_CSV gets   system,model,precision,tenants,tenant,completed,mean_ms,p50_ms,p99_ms
(rows appended; a header when the file is new). A count whose processes do
not all report within their time is skipped with the reason on stderr.
"""
import multiprocessing as mp
import os
import queue
import signal
import statistics
import sys
import time


def percentile(sorted_values, q):
    """Nearest rank, as caravel drive computes it."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, int(-(-q * len(sorted_values) // 1)) - 1))
    return sorted_values[k]


def append(path, header, rows):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a") as f:
        if new:
            f.write(header + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")


def run(worker, n, arch, prec, secs, deadline_s):
    """One count: n processes; each process's latencies (seconds) by index,
    or None when they did not all report in time."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n)
    q = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(i, arch, prec, secs, barrier, q), daemon=True) for i in range(n)]
    for p in procs:
        p.start()
    results = {}
    end = time.monotonic() + deadline_s
    try:
        while len(results) < n:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                idx, lat = q.get(timeout=min(left, 5.0))
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and q.empty():
                    break
                continue
            results[idx] = lat
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=10)
    return results if len(results) == n else None


def main():
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    anchor_dir, mode, arch, prec = sys.argv[1:5]
    counts = [int(v) for v in sys.argv[5].split(",")]
    secs = float(sys.argv[6])
    summary_csv, process_csv = sys.argv[7], sys.argv[8]
    # A SIGTERM (timeout) ends the daemonic workers through the normal exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.path.insert(0, anchor_dir)
    from mps_peer import worker  # the anchor's own worker

    for n in counts:
        started = time.monotonic()
        # Start-up (imports, cuDNN autotuning, graph capture) grows with n
        # on a host of few cores; the measured window is secs.
        res = run(worker, n, arch, prec, secs, deadline_s=60 + 4 * n + secs)
        if res is None:
            print(f"mps_peer_csv: {mode} {arch} {prec} N={n}: not every process reported; skipped", file=sys.stderr,
                  flush=True)
            continue
        everything = sorted(x for lat in res.values() for x in lat)
        means = {i: statistics.mean(lat) for i, lat in res.items() if lat}
        spread = max(means.values()) / min(means.values()) if len(means) >= 2 else 0.0
        thr = len(everything) / secs
        mean_ms = statistics.mean(everything) * 1e3 if everything else 0.0
        append(summary_csv, "system,model,precision,tenants,throughput_per_s,mean_ms,p50_ms,p99_ms,tenant_spread",
               [(mode, arch, prec, n, "%.1f" % thr, "%.3f" % mean_ms, "%.3f" % (percentile(everything, 0.5) * 1e3),
                 "%.3f" % (percentile(everything, 0.99) * 1e3), "%.4f" % spread)])
        rows = []
        for i in sorted(res):
            lat = sorted(res[i])
            rows.append((mode, arch, prec, n, i, len(lat), "%.3f" % (statistics.mean(lat) * 1e3 if lat else 0),
                         "%.3f" % (percentile(lat, 0.5) * 1e3), "%.3f" % (percentile(lat, 0.99) * 1e3)))
        append(process_csv, "system,model,precision,tenants,tenant,completed,mean_ms,p50_ms,p99_ms", rows)
        print(f"mps_peer_csv: {mode} {arch} {prec} N={n}: {thr:.0f} inf/s, mean {mean_ms:.2f} ms, "
              f"p99 {percentile(everything, 0.99) * 1e3:.2f} ms, slowest/fastest {spread:.3f} "
              f"({time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
