#!/usr/bin/env python3
"""make_nginx_conf.py: writes the nginx configuration that puts several
`caravel serve` processes behind one address, routing each model family to
one server (deploy/nginx/*.template; docs/DEPLOY.md explains it).

Usage:
    caravel families --model-repository REPO > families.map
    deploy/make_nginx_conf.py --out DIR --families families.map \\
        --server 127.0.0.1:8001 --server 127.0.0.1:8002 --server 127.0.0.1:8003 \\
        [--listen 127.0.0.1:8080] [--fail-timeout 10s] [--max-fails 1]
    deploy/make_nginx_conf.py --out DIR --families families.map --spread-ports 127.0.0.1:3 ...
    nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off;'

Writes DIR/caravel.conf (the http-level part: the model -> family map, the
upstreams, the server block; usable alone in /etc/nginx/conf.d/) and
DIR/nginx.conf (a standalone main configuration that includes it, with its
pid, logs and temporary files under DIR). The standard library only.

It also says where each family goes while every server is up, computed
as nginx's consistent hash does it (the ketama ring of
ngx_http_upstream_hash_module: 160 points a server, crc32 of "HOST\0PORT"
chained with the previous point; a key goes to the first point at or
after crc32(key)): a summary line per server on stdout, and
DIR/placement.tsv (family, models, server). Which server a family gets
depends on the servers' addresses only, so with few families two can
share a server while another gets none. On one host, --spread-ports
HOST:N chooses N free ports for the servers (in --port-range) that spread
the families as evenly as possible instead of taking --server addresses;
the ones chosen are in DIR/servers (one HOST:PORT a line, the servers to
start there) and on stdout.

The map lines are checked (a model name, then a 16-digit hex key), so
nothing but a map entry can reach nginx's configuration from the file.
"""
import argparse
import bisect
import collections
import os
import random
import re
import socket
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MAP_LINE = re.compile(r"^([A-Za-z0-9_-][A-Za-z0-9_.-]{0,127})\s+([0-9a-f]{16});$")
ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")
DURATION = re.compile(r"^[0-9]+(ms|s|m)?$")


def fail(message):
    print("make_nginx_conf.py: " + message, file=sys.stderr)
    sys.exit(2)


def read_family_map(path):
    """The `model key;` lines of a `caravel families` map (comments and
    blank lines skipped), checked."""
    entries = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        fail("cannot read the family map: %s" % e)
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = MAP_LINE.match(line)
        if not m:
            fail("%s:%d: not a map line 'MODEL FAMILY_KEY;' from `caravel families`: %r" % (path, number, line))
        entries.append((m.group(1), m.group(2)))
    if not entries:
        fail("%s: no models in the family map (did `caravel families` load any?)" % path)
    return entries


def ketama_points(address):
    """The sorted points of one server on nginx's consistent-hash ring:
    160 (weight 1), each the crc32 of "HOST\\0PORT" followed by the previous
    point's 4 bytes (little-endian), chained from 0."""
    host, port = address.rsplit(":", 1)
    base = host.encode() + b"\0" + port.encode()
    points, prev = [], 0
    for _ in range(160):
        prev = zlib.crc32(base + struct.pack("<I", prev)) & 0xFFFFFFFF
        points.append(prev)
    points.sort()
    return points


def ketama_owner(points_by_server, key_hash):
    """The server whose point comes first at or after key_hash, wrapping
    round the ring: of each server's first such point, the nearest."""
    best, best_distance = None, None
    for server, points in points_by_server:
        i = bisect.bisect_left(points, key_hash)
        distance = points[i] - key_hash if i < len(points) else points[0] + (1 << 32) - key_hash
        if best is None or distance < best_distance:
            best, best_distance = server, distance
    return best


def placement(servers, keys):
    """{family key: server} while every server is up."""
    ring = [(s, ketama_points(s)) for s in servers]
    return {k: ketama_owner(ring, zlib.crc32(k.encode()) & 0xFFFFFFFF) for k in keys}


def spread_score(owners, servers):
    """What --spread-ports minimizes: families on the busiest server, then
    how many servers carry that many."""
    counts = collections.Counter(owners.values())
    most = max(counts.get(s, 0) for s in servers)
    return most, sum(1 for s in servers if counts.get(s, 0) == most)


def port_is_free(host, port):
    with socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET) as sock:
        try:
            sock.bind((host.strip("[]"), port))
            return True
        except OSError:
            return False


def spread_ports(host, n, keys, low, high, tries, avoid):
    """N addresses HOST:PORT, ports free in [low, high] and not in avoid,
    whose ring spreads the family keys evenly: ceil(F/N) families at most
    a server, on as few servers as F allows. A local search: from random
    ports, one server at a time (one of the busiest, or any) moves to a
    random port, kept unless the spread gets worse, until it is even or
    `tries` moves are spent (then the best found). (addresses, moves)."""
    rng = random.Random()  # not seeded: concurrent runs on one host should not race for the same ports
    f = len(keys)
    most = -(-f // n)
    ideal = (most, f - n * (most - 1))  # the fewest servers that can carry `most`
    hashes = [zlib.crc32(k.encode()) & 0xFFFFFFFF for k in keys]
    cache, busy = {}, set(avoid)

    def address(p):
        a = "%s:%d" % (host, p)
        if a not in cache:
            cache[a] = ketama_points(a)
        return a

    def score_of(ports):
        ring = [(address(p), cache[address(p)]) for p in ports]
        owners = {k: ketama_owner(ring, h) for k, h in zip(keys, hashes)}
        return spread_score(owners, [a for a, _ in ring]), owners

    def fresh(taken):
        for _ in range(1000):
            p = rng.randint(low, high)
            if p not in taken and p not in busy:
                return p
        fail("--spread-ports: no free port left in %d-%d" % (low, high))

    ports = []
    while len(ports) < n:
        ports.append(fresh(set(ports)))
    score, owners = score_of(ports)
    moves = 0
    while True:
        while score > ideal and moves < tries:
            moves += 1
            counts = collections.Counter(owners.values())
            top = max(counts.values())
            busiest = [i for i, p in enumerate(ports) if counts.get(address(p), 0) == top]
            i = rng.choice(busiest) if rng.random() < 0.5 else rng.randrange(n)
            candidate = list(ports)
            candidate[i] = fresh(set(ports))
            s2, o2 = score_of(candidate)
            if s2 <= score:
                ports, score, owners = candidate, s2, o2
        taken = [i for i, p in enumerate(ports) if not port_is_free(host, p)]
        if not taken:
            break
        for i in taken:  # bound by someone else: move on from there
            busy.add(ports[i])
            ports[i] = fresh(set(ports))
        score, owners = score_of(ports)
        tries = max(tries, moves + 1000)
    return [address(p) for p in ports], moves


def fill(template_name, values):
    with open(os.path.join(HERE, "nginx", template_name)) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("@%s@" % key, value)
    left = re.findall(r"@[a-z_]+@", text)
    if left:
        fail("%s: placeholders without a value: %s" % (template_name, ", ".join(sorted(set(left)))))
    return text


def main():
    ap = argparse.ArgumentParser(description="nginx in front of several caravel servers, a family to a server")
    ap.add_argument("--out", required=True, help="folder to write nginx.conf and caravel.conf into")
    ap.add_argument("--families", required=True, help="the output of `caravel families` (nginx format)")
    ap.add_argument("--server", action="append", metavar="HOST:PORT",
                    help="a caravel server's protocol address (repeatable, in any order: the hash ring "
                         "depends on the addresses, not their order)")
    ap.add_argument("--spread-ports", metavar="HOST:N",
                    help="instead of --server: N servers on HOST, at free ports chosen so that the families "
                         "spread over them as evenly as the ring allows (written to DIR/servers)")
    ap.add_argument("--port-range", default="20000-39999", metavar="LOW-HIGH",
                    help="where --spread-ports looks (default 20000-39999)")
    ap.add_argument("--tries", type=int, default=100000,
                    help="ports --spread-ports tries at most (default 100000)")
    ap.add_argument("--listen", default="127.0.0.1:8080", help="nginx's address (default 127.0.0.1:8080)")
    ap.add_argument("--max-fails", type=int, default=1,
                    help="failed attempts within --fail-timeout that take a server out (default 1)")
    ap.add_argument("--fail-timeout", default="10s",
                    help="how long a failed server is skipped, and the window of --max-fails (default 10s)")
    ap.add_argument("--connect-timeout", default="2s", help="proxy_connect_timeout (default 2s)")
    ap.add_argument("--read-timeout", default="60s", help="proxy_read_timeout (default 60s)")
    ap.add_argument("--access-log", default="access.log",
                    help="access log path (default access.log, under nginx's -p prefix), or off")
    ap.add_argument("--worker-processes", default="1", help="nginx worker processes (default 1; or auto)")
    args = ap.parse_args()

    if bool(args.server) == bool(args.spread_ports):
        fail("give either --server (repeatable) or --spread-ports HOST:N")
    for s in args.server or []:
        if not ADDRESS.match(s):
            fail("--server %r is not HOST:PORT" % s)
    if args.server and len(set(args.server)) != len(args.server):
        fail("a --server is given twice")
    spread = None
    if args.spread_ports:
        m = re.match(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,3})$", args.spread_ports)
        r = re.match(r"^([0-9]{1,5})-([0-9]{1,5})$", args.port_range)
        if not m or int(m.group(2)) < 1:
            fail("--spread-ports %r is not HOST:N with N >= 1" % args.spread_ports)
        if not r or not 1 <= int(r.group(1)) <= int(r.group(2)) <= 65535:
            fail("--port-range %r is not LOW-HIGH within 1-65535" % args.port_range)
        if int(r.group(2)) - int(r.group(1)) + 1 < 2 * int(m.group(2)):
            fail("--port-range %s is too narrow for %s servers" % (args.port_range, m.group(2)))
        if args.tries < 1:
            fail("--tries must be at least 1")
        spread = (m.group(1), int(m.group(2)), int(r.group(1)), int(r.group(2)))
    if not ADDRESS.match(args.listen) and not re.match(r"^[0-9]{1,5}$", args.listen):
        fail("--listen %r is not HOST:PORT or PORT" % args.listen)
    for name in ("fail_timeout", "connect_timeout", "read_timeout"):
        if not DURATION.match(getattr(args, name)):
            fail("--%s %r is not a duration like 10s or 500ms" % (name.replace("_", "-"), getattr(args, name)))
    if args.max_fails < 1:
        fail("--max-fails must be at least 1 (0 would turn the passive health check off)")
    if not re.match(r"^([0-9]+|auto)$", args.worker_processes):
        fail("--worker-processes must be a number or auto")
    if re.search(r"[\s;{}'\"]", args.access_log):
        fail("--access-log must be a plain path")

    entries = read_family_map(args.families)
    keys = sorted(set(key for _, key in entries))
    if spread:
        host, n, low, high = spread
        listen = args.listen.rsplit(":", 1)
        avoid = {int(listen[-1])} if listen[-1].isdigit() else set()
        args.server, draws = spread_ports(host, n, keys, low, high, args.tries, avoid)
        print("spread-ports: %s (%d ports tried)" % (" ".join(args.server), draws))
    width = max(len(model) for model, _ in entries)
    family_map = "\n".join("    %-*s %s;" % (width, model, key) for model, key in entries)
    servers = "\n".join("    server %s max_fails=%d fail_timeout=%s;" % (s, args.max_fails, args.fail_timeout)
                        for s in args.server)
    caravel_conf = fill("caravel.conf.template", {
        "family_map": family_map,
        "servers": servers,
        "listen": args.listen,
        "max_fails": str(args.max_fails),
        "fail_timeout": args.fail_timeout,
        "connect_timeout": args.connect_timeout,
        "read_timeout": args.read_timeout,
        "access_log": "off" if args.access_log == "off" else args.access_log + " caravel",
    })
    nginx_conf = fill("nginx.conf.template", {"worker_processes": args.worker_processes})

    os.makedirs(os.path.join(args.out, "tmp"), exist_ok=True)
    with open(os.path.join(args.out, "caravel.conf"), "w") as f:
        f.write(caravel_conf)
    with open(os.path.join(args.out, "nginx.conf"), "w") as f:
        f.write(nginx_conf)
    owners = placement(args.server, keys)
    models = collections.Counter(key for _, key in entries)
    with open(os.path.join(args.out, "placement.tsv"), "w") as f:
        f.write("family\tmodels\tserver\n")
        for k in keys:
            f.write("%s\t%d\t%s\n" % (k, models[k], owners[k]))
    with open(os.path.join(args.out, "servers"), "w") as f:
        f.write("".join(s + "\n" for s in args.server))
    print("wrote %s and %s: %d servers, %d models in %d families" % (
        os.path.join(args.out, "nginx.conf"), os.path.join(args.out, "caravel.conf"), len(args.server),
        len(entries), len(keys)))
    print("while all are up (%s):" % os.path.join(args.out, "placement.tsv"))
    for s in args.server:
        mine = [k for k in keys if owners[k] == s]
        n = sum(models[k] for k in mine)
        print("  %s: %d %s, %d %s" % (s, len(mine), "family" if len(mine) == 1 else "families",
                                      n, "model" if n == 1 else "models"))


if __name__ == "__main__":
    main()
