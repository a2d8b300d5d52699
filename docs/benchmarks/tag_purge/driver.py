#!/usr/bin/env python3
"""docs/benchmarks/tag_purge.sh's client: keep-alive HTTP/1.1 on loopback.

  driver.py warm    PORT PREFIX N THREADS        GET PREFIX0.css .. PREFIX{N-1}.css
  driver.py cached  PORT PREFIX N THREADS        only-if-cached GETs: prints "hits misses"
  driver.py purge   PORT TOKEN BODY              POST /_purge: prints "ms answer"
  driver.py wave    PORT PREFIX K CLIENTS        CLIENTS threads, each GETs the K objects
                                                 in order, all started at once: prints
                                                 "requests non200"
"""
import http.client
import json
import sys
import threading
import time


def conn(port):
    return http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)


def get_all(port, paths, headers, out):
    c = conn(port)
    for p in paths:
        c.request("GET", p, headers=headers)
        r = c.getresponse()
        r.read()
        out.append(r.status)
    c.close()


def run_threads(port, paths, threads, headers):
    chunks = [paths[i::threads] for i in range(threads)]
    results = [[] for _ in chunks]
    ts = [threading.Thread(target=get_all, args=(port, ch, headers, res))
          for ch, res in zip(chunks, results)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return [s for res in results for s in res]


def main():
    cmd = sys.argv[1]
    if cmd in ("warm", "cached"):
        port, prefix, n, threads = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        paths = [f"{prefix}{i}.css" for i in range(n)]
        headers = {"Cache-Control": "only-if-cached"} if cmd == "cached" else {}
        statuses = run_threads(port, paths, threads, headers)
        if cmd == "warm":
            bad = sum(1 for s in statuses if s != 200)
            if bad:
                sys.exit(f"warm: {bad} answers not 200")
        else:
            hits = sum(1 for s in statuses if s == 200)
            print(hits, len(statuses) - hits)
    elif cmd == "purge":
        port, token, body = sys.argv[2], sys.argv[3], sys.argv[4]
        c = conn(port)
        t0 = time.monotonic()
        c.request("POST", "/_purge", body=body,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = c.getresponse()
        text = r.read().decode()
        ms = (time.monotonic() - t0) * 1000
        if r.status != 200:
            sys.exit(f"purge: {r.status} {text}")
        print(f"{ms:.1f}", json.dumps(json.loads(text)["purged"]))
    elif cmd == "wave":
        port, prefix, k, clients = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        paths = [f"{prefix}{i}.css" for i in range(k)]
        start = threading.Barrier(clients)
        results = [[] for _ in range(clients)]

        def client(out):
            c = conn(port)
            c.connect()
            start.wait()
            for p in paths:
                c.request("GET", p)
                r = c.getresponse()
                r.read()
                out.append(r.status)
            c.close()

        ts = [threading.Thread(target=client, args=(res,)) for res in results]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        statuses = [s for res in results for s in res]
        print(len(statuses), sum(1 for s in statuses if s != 200))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
