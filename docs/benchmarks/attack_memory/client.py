#!/usr/bin/env python3
"""Attack clients for docs/benchmarks/attack_memory.sh (standard library only).

  client.py misses HOST:PORT PATH N
      N threads, each on its own connection, wait on a barrier and then GET
      PATH?bust=I (I = 0..N-1: N distinct cache keys of one object) and read
      the whole body. Prints "ok N fail N bytes B wall_s S" (ok = 200s read
      whole, as long as their Content-Length says).

  client.py stall HOST:PORT PATH N SECONDS
      N connections with a 4 KiB receive buffer each send GET PATH and
      never read a byte; they are held SECONDS, then closed. Prints
      "held N refused N" (refused: could not connect or send).
"""
import socket
import sys
import threading
import time


def split(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def misses(addr, path, n):
    host, port = split(addr)
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        try:
            s = socket.create_connection((host, port), timeout=120)
            barrier.wait(timeout=60)
            s.sendall(("GET %s?bust=%d HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                       % (path, i)).encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            head, _, rest = buf.partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1]) if head else 0
            length = None
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            got = len(rest)
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
            s.close()
            whole = length is None or got == length
            results[i] = (status == 200 and whole, got)
        except (OSError, ValueError, threading.BrokenBarrierError):
            results[i] = (False, 0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    ok = sum(1 for r in results if r and r[0])
    total = sum(r[1] for r in results if r)
    print("ok %d fail %d bytes %d wall_s %.2f" % (ok, n - ok, total, wall))


def stall(addr, path, n, seconds):
    host, port = split(addr)
    held, refused = [], 0
    for i in range(n):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect((host, port))
            s.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode())
            held.append(s)
        except OSError:
            refused += 1
    print("held %d refused %d" % (len(held), refused), flush=True)
    time.sleep(seconds)
    for s in held:
        s.close()


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "misses" and len(sys.argv) == 5:
        misses(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "stall" and len(sys.argv) == 6:
        stall(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
