#!/usr/bin/env python3
"""HTTP client helpers for docs/benchmarks/pull.sh (standard library only).

  client.py warm HOST:PORT PATHS_FILE ROOT
      On one keep-alive connection: GET every path twice with
      "Accept-Encoding: gzip, br" (fills the cache), then once with no
      Accept-Encoding and checks the body is byte-for-byte ROOT/<path>.
      Prints "requests N encodings br=..,gzip=..,identity=.." (what the
      second "gzip, br" request got). Exits 1 on any non-200 or wrong body.

  client.py storm HOST:PORT PATH CLIENTS EXPECTED_FILE
      CLIENTS threads each open a connection, wait on a barrier, then all
      GET PATH at once (no Accept-Encoding). Prints
      "ok N fail N wall_s S p50_s S max_s S codes CODE=N,..." where ok counts
      200s whose body equals EXPECTED_FILE and wall_s runs from the barrier
      to the last answer.

  client.py wave HOST:PORT URLS_FILE CLIENTS
      A wave of distinct URLs (cold misses): CLIENTS threads, each on its own
      keep-alive connection, take the URLs of URLS_FILE from one queue and
      GET each exactly once with "Accept-Encoding: gzip, br". Prints
      "requests N ok N wall_s S rps R codes CODE=N,..." (ok = 200s).
"""
import http.client
import statistics
import sys
import threading
import time
from collections import Counter


def connect(addr, timeout):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def warm(addr, paths_file, root):
    paths = [p for p in open(paths_file).read().split("\n") if p]
    conn = connect(addr, 30)
    enc = Counter()
    n = 0

    def get(path, headers):
        nonlocal conn, n
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        n += 1
        if r.status != 200:
            sys.exit("warm %s%s: HTTP %d" % (addr, path, r.status))
        if r.will_close:
            conn.close()
            conn = connect(addr, 30)
        return r, body

    for rnd in (1, 2):
        for p in paths:
            r, _ = get(p, {"Accept-Encoding": "gzip, br"})
            if rnd == 2:
                enc[r.getheader("Content-Encoding") or "identity"] += 1
    for p in paths:
        _, body = get(p, {})
        want = open(root + p, "rb").read()
        if body != want:
            sys.exit("warm %s%s: body differs from the origin's file (%d vs %d bytes)"
                     % (addr, p, len(body), len(want)))
    print("requests %d encodings %s" % (n, ",".join("%s=%d" % kv for kv in sorted(enc.items()))))


def storm(addr, path, clients, expected_file):
    want = open(expected_file, "rb").read()
    barrier = threading.Barrier(clients)
    results = [None] * clients

    def one(i):
        start = time.monotonic()
        conn = None
        try:
            conn = connect(addr, 30)
            conn.connect()
        except Exception as e:  # still take part in the barrier
            results[i] = ("connect:" + type(e).__name__, start, time.monotonic(), False)
            conn = None
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        if conn is None:
            return
        start = time.monotonic()
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            results[i] = (str(r.status), start, time.monotonic(), r.status == 200 and body == want)
        except Exception as e:
            results[i] = ("error:" + type(e).__name__, start, time.monotonic(), False)
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = sum(1 for r in results if r[3])
    t0 = min(r[1] for r in results)
    wall = max(r[2] for r in results) - t0
    lat = [r[2] - r[1] for r in results]
    codes = Counter(r[0] for r in results)
    print("ok %d fail %d wall_s %.3f p50_s %.3f max_s %.3f codes %s" % (
        ok, clients - ok, wall, statistics.median(lat), max(lat),
        ",".join("%s=%d" % kv for kv in sorted(codes.items()))))


def wave(addr, urls_file, clients):
    import queue
    urls = [u for u in open(urls_file).read().split("\n") if u]
    q = queue.Queue()
    for u in urls:
        q.put(u)
    codes = Counter()
    lock = threading.Lock()

    def one():
        conn = connect(addr, 60)
        while True:
            try:
                u = q.get_nowait()
            except queue.Empty:
                break
            try:
                conn.request("GET", u, headers={"Accept-Encoding": "gzip, br"})
                r = conn.getresponse()
                r.read()
                code = str(r.status)
                if r.will_close:
                    conn.close()
                    conn = connect(addr, 60)
            except Exception as e:
                code = "error:" + type(e).__name__
                conn.close()
                conn = connect(addr, 60)
            with lock:
                codes[code] += 1
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    n = sum(codes.values())
    print("requests %d ok %d wall_s %.3f rps %.1f codes %s" % (
        n, codes["200"], wall, n / wall if wall else 0.0,
        ",".join("%s=%d" % kv for kv in sorted(codes.items()))))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "warm" and len(sys.argv) == 5:
        warm(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "storm" and len(sys.argv) == 6:
        storm(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif cmd == "wave" and len(sys.argv) == 5:
        wave(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
