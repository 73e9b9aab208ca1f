#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that breaks the connections through it, for the
network-fault runs (tests/chaos/netfault.sh): clients dial LISTEN, the
proxy dials TARGET for each, and bytes go both ways until a fault says
otherwise.

  fault_proxy.py LISTEN_PORT TARGET_HOST:PORT [--cut_every SECS]
                 [--stall_at SECS --stall_for SECS] [--delay_ms MS] [--log FILE]

  --cut_every SECS   every SECS seconds, close every open connection in the
                     middle of whatever it is carrying (mid-frame, as a
                     crashed switch or a reset NAT entry would)
  --stall_at/--stall_for
                     at SECS after start, stop forwarding (both ways, every
                     connection, new ones too) for --stall_for seconds: a
                     peer that hangs
  --delay_ms MS      hold every chunk MS ms before forwarding it: a slow peer

Prints one line per fault to --log (default stderr).
"""
import argparse
import asyncio
import sys
import time


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("listen_port", type=int)
    p.add_argument("target")
    p.add_argument("--cut_every", type=float, default=0)
    p.add_argument("--stall_at", type=float, default=-1)
    p.add_argument("--stall_for", type=float, default=0)
    p.add_argument("--delay_ms", type=float, default=0)
    p.add_argument("--log", default="")
    a = p.parse_args()
    log = open(a.log, "a", buffering=1) if a.log else sys.stderr
    host, port = a.target.rsplit(":", 1)
    start = time.monotonic()
    conns = set()
    stats = {"connections": 0, "cuts": 0}

    def say(msg):
        print(f"{time.monotonic() - start:7.2f} s: {msg}", file=log)

    async def stalled():
        t = time.monotonic() - start
        if a.stall_at >= 0 and a.stall_at <= t < a.stall_at + a.stall_for:
            await asyncio.sleep(a.stall_at + a.stall_for - t)

    async def pump(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await stalled()
                if a.delay_ms:
                    await asyncio.sleep(a.delay_ms / 1000)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(cr, cw):
        await stalled()
        try:
            tr, tw = await asyncio.open_connection(host, int(port))
        except OSError as e:
            say(f"cannot reach {a.target}: {e}")
            cw.close()
            return
        stats["connections"] += 1
        pair = (cw, tw)
        conns.add(pair)
        try:
            await asyncio.gather(pump(cr, tw), pump(tr, cw))
        finally:
            conns.discard(pair)

    async def cutter():
        while True:
            await asyncio.sleep(a.cut_every)
            n = 0
            for cw, tw in list(conns):
                for w in (cw, tw):
                    t = w.transport
                    if t is not None:
                        t.abort()  # RST, whatever was in flight
                n += 1
            conns.clear()
            stats["cuts"] += n
            say(f"cut {n} connections")

    server = await asyncio.start_server(handle, "127.0.0.1", a.listen_port)
    if a.stall_at >= 0:
        asyncio.get_running_loop().call_later(a.stall_at, say, f"stalling every connection for {a.stall_for} s")
    tasks = [asyncio.create_task(cutter())] if a.cut_every > 0 else []
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
