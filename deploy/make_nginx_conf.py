#!/usr/bin/env python3
"""make_nginx_conf.py: writes the nginx configuration that puts several
`caravel serve` processes behind one address, routing each model family to
one server (deploy/nginx/*.template; docs/DEPLOY.md explains it).

Usage:
    caravel families --model-repository REPO > families.map
    deploy/make_nginx_conf.py --out DIR --families families.map \\
        --server 127.0.0.1:8001 --server 127.0.0.1:8002 --server 127.0.0.1:8003 \\
        [--listen 127.0.0.1:8080] [--fail-timeout 10s] [--max-fails 1]
    nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off;'

Writes DIR/caravel.conf (the http-level part: the model -> family map, the
upstreams, the server block; usable alone in /etc/nginx/conf.d/) and
DIR/nginx.conf (a standalone main configuration that includes it, with its
pid, logs and temporary files under DIR). The standard library only.

The map lines are checked (a model name, then a 16-digit hex key), so
nothing but a map entry can reach nginx's configuration from the file.
"""
import argparse
import os
import re
import sys

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
    ap.add_argument("--server", action="append", required=True, metavar="HOST:PORT",
                    help="a caravel server's protocol address (repeatable, in any order: the hash ring "
                         "depends on the addresses, not their order)")
    ap.add_argument("--listen", default="127.0.0.1:8080", help="nginx's address (default 127.0.0.1:8080)")
    ap.add_argument("--max-fails", type=int, default=1,
                    help="failed attempts within --fail-timeout that take a server out (default 1)")
    ap.add_argument("--fail-timeout", default="10s",
                    help="how long a failed server is skipped, and the window of --max-fails (default 10s)")
    ap.add_argument("--connect-timeout", default="2s", help="proxy_connect_timeout (default 2s)")
    ap.add_argument("--read-timeout", default="60s", help="proxy_read_timeout (default 60s)")
    ap.add_argument("--access-log", default="access.log",
                    help="access log path (default access.log, under nginx's -p prefix)")
    ap.add_argument("--worker-processes", default="1", help="nginx worker processes (default 1; or auto)")
    args = ap.parse_args()

    for s in args.server:
        if not ADDRESS.match(s):
            fail("--server %r is not HOST:PORT" % s)
    if len(set(args.server)) != len(args.server):
        fail("a --server is given twice")
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
        "access_log": args.access_log,
    })
    nginx_conf = fill("nginx.conf.template", {"worker_processes": args.worker_processes})

    os.makedirs(os.path.join(args.out, "tmp"), exist_ok=True)
    with open(os.path.join(args.out, "caravel.conf"), "w") as f:
        f.write(caravel_conf)
    with open(os.path.join(args.out, "nginx.conf"), "w") as f:
        f.write(nginx_conf)
    print("wrote %s and %s: %d servers, %d models in %d families" % (
        os.path.join(args.out, "nginx.conf"), os.path.join(args.out, "caravel.conf"), len(args.server),
        len(entries), len(set(key for _, key in entries))))


if __name__ == "__main__":
    main()
