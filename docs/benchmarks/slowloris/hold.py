#!/usr/bin/env python3
"""Holds bad connections against a server on 127.0.0.1 for docs/benchmarks/slowloris.sh.

    hold.py PORT IDLE SLOW INTERVAL SECONDS STATUSFILE

IDLE keep-alive connections each send one GET for /idle.txt, read the
answer and then sit idle. SLOW connections (slowloris) each send a request
line and then one header byte every INTERVAL seconds, never ending the head;
one the server closes is opened again. STATUSFILE gets a line once the idle
connections are all open ("idle-ready N") and, every second, the counts
("open idle=N slow=M reconnects=R"). Exits after SECONDS (bounded in time).
"""
import asyncio
import sys

HOST = "127.0.0.1"


async def idle_conn(port, sem, held):
    async with sem:
        try:
            r, w = await asyncio.open_connection(HOST, port)
            w.write(b"GET /idle.txt HTTP/1.1\r\nHost: bench\r\n\r\n")
            await w.drain()
            head = await r.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            await r.readexactly(n)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
    held.append((r, w))


async def slow_conn(port, interval, stats, stop):
    trickle = b"X-Slowloris-Header: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    while not stop.is_set():
        try:
            r, w = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(interval)
            continue
        stats["slow"] += 1
        try:
            w.write(b"GET /idle.txt HTTP/1.1\r\nHost: bench\r\n")
            await w.drain()
            i = 0
            while not stop.is_set():
                # A read that ends means the server closed (or answered 408).
                try:
                    await asyncio.wait_for(r.read(4096), timeout=interval)
                    break
                except asyncio.TimeoutError:
                    pass
                w.write(trickle[i % len(trickle):i % len(trickle) + 1])
                await w.drain()
                i += 1
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            stats["slow"] -= 1
            w.close()
        if not stop.is_set():
            stats["reconnects"] += 1


async def main():
    port, idle, slow = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    interval, seconds, status = float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    held = []
    sem = asyncio.Semaphore(200)
    await asyncio.wait_for(
        asyncio.gather(*(idle_conn(port, sem, held) for _ in range(idle))),
        timeout=max(1.0, end - loop.time()),
    )
    with open(status, "a") as f:
        f.write(f"idle-ready {len(held)}\n")
    stats = {"slow": 0, "reconnects": 0}
    stop = asyncio.Event()
    tasks = [asyncio.create_task(slow_conn(port, interval, stats, stop)) for _ in range(slow)]
    while loop.time() < end:
        alive = sum(1 for r, _ in held if not r.at_eof())
        with open(status, "a") as f:
            f.write(f"open idle={alive} slow={stats['slow']} reconnects={stats['reconnects']}\n")
        await asyncio.sleep(1)
    stop.set()
    for t in tasks:
        t.cancel()
    for _, w in held:
        w.close()


asyncio.run(main())
