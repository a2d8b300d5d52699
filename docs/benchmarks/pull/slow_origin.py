#!/usr/bin/env python3
"""The slow part of the origin for docs/benchmarks/pull.sh, scenario (b).

usage: slow_origin.py ROOT DELAY_SECONDS

Listens on 127.0.0.1 (a free port, printed as "port N" on stdout once it is
bound). The origin nginx proxies /storm-* here; every GET sleeps DELAY_SECONDS
before answering with the file ROOT/<path> (200) or 404, so that a miss storm
against a cache overlaps one slow origin fetch. It counts requests per path;
GET /_count?path=/storm-x.css answers that count (not delayed, not counted).
No Cache-Control: the origin nginx adds it to everything it serves.
"""
import os
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

root, delay = os.path.abspath(sys.argv[1]), float(sys.argv[2])
counts = Counter()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def answer(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_count":
            path = parse_qs(url.query).get("path", [""])[0]
            with lock:
                n = counts[path]
            return self.answer(200, b"%d\n" % n, "text/plain")
        with lock:
            counts[url.path] += 1
        time.sleep(delay)
        file = os.path.normpath(os.path.join(root, url.path.lstrip("/")))
        if not file.startswith(root + os.sep) or not os.path.isfile(file):
            return self.answer(404, b"not found\n", "text/plain")
        with open(file, "rb") as f:
            body = f.read()
        ctype = "text/css" if file.endswith(".css") else "application/octet-stream"
        self.answer(200, body, ctype)

    do_HEAD = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


server = Server(("127.0.0.1", 0), Handler)
print("port %d" % server.server_address[1], flush=True)
server.serve_forever()
