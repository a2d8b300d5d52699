#!/usr/bin/env python3
"""A failing origin for docs/benchmarks/attack_herd.sh (standard library only).

usage: origin.py DELAY_SECONDS HANG_SECONDS

Listens on 127.0.0.1 (a free port, printed as "port N" on stdout once it is
bound) and fails by path prefix, counting every request per path:

  /hang-*  never answers: holds the connection until the client closes it
           (at most HANG_SECONDS), like an origin that accepted and froze.
  /busy-*  waits DELAY_SECONDS, then 503 "busy" with Retry-After: 30.
  /cut-*   waits DELAY_SECONDS, then a 200 with "Cache-Control: public,
           max-age=3600" and Content-Length: 100000, sends 1000 bytes of the
           body and closes: a truncated body.
  else     200 "ok" (for probes).

GET /_count?path=/busy-x.js answers that path's count (not delayed, not
counted).
"""
import select
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

delay, hang = float(sys.argv[1]), float(sys.argv[2])
counts = Counter()
lock = threading.Lock()
CUT_LENGTH, CUT_SENT = 100_000, 1_000


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body, headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_count":
            path = parse_qs(url.query).get("path", [""])[0]
            with lock:
                n = counts[path]
            return self.answer(200, b"%d\n" % n)
        with lock:
            counts[url.path] += 1
        self.close_connection = True
        if url.path.startswith("/hang-"):
            # Until the client gives up (EOF) or HANG_SECONDS pass.
            select.select([self.connection], [], [], hang)
            return
        if url.path.startswith("/busy-"):
            time.sleep(delay)
            return self.answer(503, b"busy\n", [("Retry-After", "30")])
        if url.path.startswith("/cut-"):
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/javascript")
            self.send_header("Cache-Control", "public, max-age=3600")
            self.send_header("Content-Length", str(CUT_LENGTH))
            self.end_headers()
            self.wfile.write(b"x" * CUT_SENT)
            return
        self.answer(200, b"ok\n", [("Cache-Control", "no-store")])


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096


server = Server(("127.0.0.1", 0), Handler)
print("port %d" % server.server_address[1], flush=True)
server.serve_forever()
