"""Hostile HTTP/3 clients (aioquic, an HTTP/3 stack independent of the
node's): N connections, M requests each for a large file, never reading a
byte of the bodies. aioquic still acknowledges packets, up to its
flow-control windows (1 MiB per connection, 256 KiB per stream). Prints
"ready N" once every connection has sent its requests, then holds them for
T seconds.

    stall.py PORT PATH N M T CA_PEM"""
import asyncio, sys
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.quic.configuration import QuicConfiguration

class Client(QuicConnectionProtocol):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.h3 = H3Connection(self._quic)
    def quic_event_received(self, event):
        for _ in self.h3.handle_event(event):
            pass
    def ask(self, path):
        sid = self._quic.get_next_available_stream_id()
        self.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
            (b":authority", b"localhost"), (b":path", path.encode())], end_stream=True)
        self.transmit()

async def one(port, path, m, hold, ready):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name="localhost",
                            max_data=1 << 20, max_stream_data=256 << 10)
    cfg.load_verify_locations(sys.argv[6])
    async with connect("127.0.0.1", port, configuration=cfg, create_protocol=Client) as c:
        for _ in range(m):
            c.ask(path)
        ready.append(1)
        await asyncio.sleep(hold)

async def main(port, path, n, m, hold):
    ready = []
    tasks = [asyncio.create_task(one(port, path, m, hold, ready)) for _ in range(n)]
    while len(ready) < n:
        await asyncio.sleep(0.2)
    print("ready", n, flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)

asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
