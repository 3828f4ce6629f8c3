#!/usr/bin/env python3
"""Hostile load against a minkms node, for measuring what it costs (SECURITY.md, Denial of service).

    admin/flood.py idle HOST:PORT --connections 4000 --from 127.0.0.2-127.0.0.9 --seconds 60
        holds that many TLS connections that send nothing (half offering h2, half http/1.1),
        reopening each one the server closes, and prints how many were open each second.
    admin/flood.py unauth HOST:PORT --requests 10000 --concurrency 32 --body-mib 4
        sends that many KMS requests without a client certificate, each with a body of that
        size, and prints the status codes it got.

Only for your own nodes on loopback or a test network: this is a denial-of-service tool.
"""

import argparse
import asyncio
import collections
import ipaddress
import ssl
import sys
import time


def context(alpn):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    return ctx


def addresses(spec):
    first, _, last = spec.partition("-")
    first = ipaddress.ip_address(first)
    last = ipaddress.ip_address(last) if last else first
    return [str(ipaddress.ip_address(i)) for i in range(int(first), int(last) + 1)]


async def hold(host, port, source, alpn, stats, stop):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context(alpn), server_hostname="localhost",
                local_addr=(source, 0))
        except OSError:
            stats["failed"] += 1
            await asyncio.sleep(0.05)
            continue
        stats["open"] += 1
        stats["opened"] += 1
        try:
            while not stop.is_set():
                if not await reader.read(4096):
                    break
        except (OSError, ssl.SSLError):
            pass
        stats["open"] -= 1
        stats["closed by server"] += 1
        writer.close()


async def idle(args):
    host, port = args.server.rsplit(":", 1)
    sources = addresses(args.sources)
    stats = collections.Counter()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(hold(host, int(port), sources[i % len(sources)],
                                 "h2" if i % 2 else "http/1.1", stats, stop))
        for i in range(args.connections)
    ]
    started = time.monotonic()
    while time.monotonic() - started < args.seconds:
        await asyncio.sleep(1)
        print(f"{time.monotonic() - started:5.0f} s  open {stats['open']:5}  opened "
              f"{stats['opened']:6}  closed by server {stats['closed by server']:6}  "
              f"failed {stats['failed']}", flush=True)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def unauth_worker(host, port, path, body, queue, stats):
    while True:
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context("http/1.1"), server_hostname="localhost")
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
                    f"Content-Type: application/octet-stream\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            writer.write(head)
            try:
                writer.write(body)
                await writer.drain()
            except (OSError, ssl.SSLError):
                pass  # answered and closed before the body was taken
            line = await reader.readline()
            stats[line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "no answer"] += 1
            writer.close()
        except (OSError, ssl.SSLError) as e:
            stats[type(e).__name__] += 1


async def unauth(args):
    host, port = args.server.rsplit(":", 1)
    body = b"\x00" * (args.body_mib << 20)
    queue = asyncio.Queue()
    for _ in range(args.requests):
        queue.put_nowait(None)
    stats = collections.Counter()
    started = time.monotonic()
    await asyncio.gather(*[
        unauth_worker(host, int(port), args.path, body, queue, stats)
        for _ in range(args.concurrency)
    ])
    took = time.monotonic() - started
    print(f"{args.requests} requests in {took:.1f} s: {dict(stats)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("idle")
    p.add_argument("server")
    p.add_argument("--connections", type=int, default=4000)
    p.add_argument("--from", dest="sources", default="127.0.0.2-127.0.0.9")
    p.add_argument("--seconds", type=float, default=60)
    p = sub.add_parser("unauth")
    p.add_argument("server")
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--body-mib", type=int, default=4)
    p.add_argument("--path", default="/v1/kms/tenant")
    args = parser.parse_args()
    asyncio.run(idle(args) if args.mode == "idle" else unauth(args))


if __name__ == "__main__":
    sys.exit(main())
