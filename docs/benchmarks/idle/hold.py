#!/usr/bin/env python3
"""Holds idle connections against a server on 127.0.0.1 for docs/benchmarks/idle.sh.

    hold.py MODE PORT N SECONDS STATUSFILE

MODE is `h1` (plain HTTP/1.1), `h1tls` (HTTP/1.1 over TLS, ALPN http/1.1)
or `h2tls` (HTTP/2 over TLS, ALPN h2). Each of the N connections sends one
GET for /idle.txt, reads the whole answer and then sits idle. STATUSFILE
gets "ready OPEN FAILED" once all are open; the holder then waits for a
line "check" in STATUSFILE.cmd (or SECONDS), sends a second GET on every
connection still open, writes "checked OK OPEN", and exits. The second
GET shows that an idle connection is still served. Bounded by SECONDS.
"""
import asyncio
import os
import ssl
import struct
import sys

HOST = "127.0.0.1"
PATH = b"/idle.txt"


async def h1_get(r, w):
    w.write(b"GET " + PATH + b" HTTP/1.1\r\nHost: bench\r\n\r\n")
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    await r.readexactly(n)
    return head.startswith(b"HTTP/1.1 200")


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(index, value):
    # Literal header field without indexing, name from the static table
    # (RFC 7541 §6.2.2), value not Huffman-coded (length < 127).
    return bytes([index]) + bytes([len(value)]) + value


class H2:
    """The least of an HTTP/2 client (RFC 9113): one GET per call, in turn."""

    def __init__(self):
        self.next_stream = 1

    async def start(self, r, w):
        w.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
        await w.drain()

    async def get(self, r, w):
        sid = self.next_stream
        self.next_stream += 2
        block = (b"\x82\x87" + hpack_literal(4, PATH) + hpack_literal(1, b"bench"))
        w.write(frame(1, 0x5, sid, block))  # HEADERS, END_STREAM | END_HEADERS
        await w.drain()
        status_ok = False
        while True:
            head = await r.readexactly(9)
            length = int.from_bytes(head[:3], "big")
            kind, flags = head[3], head[4]
            stream = struct.unpack(">I", head[5:])[0] & 0x7FFFFFFF
            payload = await r.readexactly(length)
            if kind == 4 and not flags & 1:  # SETTINGS: acknowledge
                w.write(frame(4, 1, 0))
            elif kind == 6 and not flags & 1:  # PING: answer
                w.write(frame(6, 1, 0, payload))
            elif kind == 7:  # GOAWAY
                return False
            elif stream == sid and kind == 1:
                # ":status: 200" is static index 8: 0x88 first in the block.
                status_ok = payload[:1] == b"\x88"
                if flags & 1:
                    break
            elif stream == sid and kind == 0:
                if length:
                    w.write(frame(8, 0, 0, struct.pack(">I", length)))  # connection WINDOW_UPDATE
                if flags & 1:
                    break
            elif stream == sid and kind == 3:  # RST_STREAM
                return False
        await w.drain()
        return status_ok


async def open_one(mode, port, ctx, sem, held):
    async with sem:
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(HOST, port, ssl=ctx, limit=1 << 16), 30)
            h2 = None
            if mode == "h2tls":
                h2 = H2()
                await h2.start(r, w)
                ok = await asyncio.wait_for(h2.get(r, w), 30)
            else:
                ok = await asyncio.wait_for(h1_get(r, w), 30)
            if not ok:
                w.close()
                return False
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, ssl.SSLError):
            return False
    held.append((r, w, h2))
    return True


async def check_one(mode, conn, sem):
    r, w, h2 = conn
    async with sem:
        try:
            if mode == "h2tls":
                return await asyncio.wait_for(h2.get(r, w), 30)
            return await asyncio.wait_for(h1_get(r, w), 30)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, ssl.SSLError):
            return False


async def main():
    mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seconds, status = float(sys.argv[4]), sys.argv[5]
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    ctx = None
    if mode != "h1":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"] if mode == "h2tls" else ["http/1.1"])
    held = []
    sem = asyncio.Semaphore(100)
    results = await asyncio.wait_for(
        asyncio.gather(*(open_one(mode, port, ctx, sem, held) for _ in range(n))),
        timeout=max(1.0, end - loop.time()),
    )
    with open(status, "a") as f:
        f.write(f"ready {len(held)} {results.count(False)}\n")
    while loop.time() < end - 35:
        try:
            with open(status + ".cmd") as f:
                if "check" in f.read():
                    break
        except FileNotFoundError:
            pass
        await asyncio.sleep(0.2)
    oks = await asyncio.gather(*(check_one(mode, c, sem) for c in held))
    with open(status, "a") as f:
        f.write(f"checked {oks.count(True)} {len(held)}\n")
    for _, w, _ in held:
        w.close()


asyncio.run(main())
