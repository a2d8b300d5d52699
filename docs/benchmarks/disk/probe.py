#!/usr/bin/env python3
"""Starts one cdn-edge node over a filled disk cache and times its restart,
for docs/benchmarks/disk_restart.sh:

  probe.py --expect N --object /obj/7.css --timeout 300 -- BIN serve ARGS...

Measured from the exec (monotonic clock), loopback only:
  listen_ms  the "listening on http://ADDR" line on stderr
  health_ms  first 200 from /healthz
  hit_ms     first 200 for --object (a hit from disk: the origin is dead)
  index_ms   /metrics shows cdn_edge_disk_cache_objects >= N
  keys_ms    the "disk cache keys read" log line, when the node logs
             "disk cache index rebuilt" (the background rebuild)
Then prints one line of JSON with those, the disk cache bytes counted by
the node, and its RSS. The node is this script's child; it is stopped by
its PID (SIGTERM, then SIGKILL) on every exit path. Every wait is bounded by
--timeout.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

LISTEN = re.compile(r"listening on http://(127\.0\.0\.1:\d+)")


def get(addr, path, timeout=2.0):
    host, port = addr.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--object", required=True)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--log", required=True, help="where the node's stderr goes")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    # Stopped by the script (Ctrl-C, timeout): still stop the node first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd

    log = open(a.log, "w")
    t0 = time.monotonic()
    node = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = t0 + a.timeout
    ms = lambda: round((time.monotonic() - t0) * 1000, 1)
    out = {"pid": node.pid}
    found = threading.Event()
    keys = threading.Event()
    rebuilt = threading.Event()
    addr_box = []

    def pump():  # copies stderr to the log, noting the listening line
        for line in node.stderr:
            log.write(line)
            log.flush()
            m = LISTEN.search(line)
            if m and not addr_box:
                addr_box.append((m.group(1), ms()))
                found.set()
            if "disk cache index rebuilt" in line:
                rebuilt.set()
            if "disk cache keys read" in line and not keys.is_set():
                out["keys_ms"] = ms()
                keys.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not found.wait(timeout=a.timeout):
            raise SystemExit("node never printed its listening line (see %s)" % a.log)
        addr, out["listen_ms"] = addr_box[0]

        def poll(what, check):
            while time.monotonic() < deadline:
                if node.poll() is not None:
                    raise SystemExit(f"node exited ({node.returncode}) waiting for {what}")
                try:
                    if check():
                        return ms()
                except (OSError, http.client.HTTPException):
                    pass
                time.sleep(0.002)
            raise SystemExit(f"timed out waiting for {what}")

        out["health_ms"] = poll("/healthz", lambda: get(addr, "/healthz")[0] == 200)

        def hit():
            status, headers, body = get(addr, a.object)
            if status == 200:
                out["hit_cache_status"] = headers.get("cache-status", "")
                out["hit_bytes"] = len(body)
                return True
            return False

        out["hit_ms"] = poll(a.object, hit)

        def indexed():
            n = metric(get(addr, "/metrics")[2].decode(), "cdn_edge_disk_cache_objects")
            return n is not None and n >= a.expect

        out["index_ms"] = poll("the full index", indexed)
        text = get(addr, "/metrics")[2].decode()
        out["objects"] = metric(text, "cdn_edge_disk_cache_objects")
        out["counted_bytes"] = metric(text, "cdn_edge_disk_cache_bytes")
        out["rss_kb"] = rss_kb(node.pid)
        # A node that logs its rebuild (the new code) then reads every key.
        if rebuilt.wait(timeout=2.0):
            if not keys.wait(timeout=max(0.0, deadline - time.monotonic())):
                raise SystemExit("timed out waiting for the key pass")
            out["rss_after_keys_kb"] = rss_kb(node.pid)
    finally:
        if node.poll() is None:
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait(timeout=10)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
