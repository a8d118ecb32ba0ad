"""Holds many idle keep-alive connections to a proxy, for its memory to be read meanwhile.

    python3 idle_connections.py PORT PATH HOST COUNT READY_FILE DONE_FILE

Opens COUNT connections to 127.0.0.1:PORT, sends one GET of PATH (with Host: HOST) on each and
reads the whole answer, so every connection has served a request and now waits, idle, for
the next (what a browser's keep-alive connections do between clicks). Then writes the number
of connections that got a 200 to READY_FILE and waits until DONE_FILE exists; before leaving,
sends a second request on every connection and prints how many were still open and answered.
"""

import asyncio
import os
import sys


async def request(reader, writer, path, host):
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return status


async def open_one(port, path, host, conns, limit):
    async with limit:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if await request(reader, writer, path, host) == 200:
                conns.append((reader, writer))
            else:
                writer.close()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass


async def main():
    port, path, host, count, ready, done = sys.argv[1:7]
    count = int(count)
    conns = []
    # At most 200 connections being opened at once (the listener's backlog).
    limit = asyncio.Semaphore(200)
    await asyncio.gather(*(open_one(int(port), path, host, conns, limit) for _ in range(count)))
    with open(ready, "w") as f:
        f.write(str(len(conns)))
    while not os.path.exists(done):
        await asyncio.sleep(0.2)

    async def again(reader, writer):
        try:
            return await request(reader, writer, path, host) == 200
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return False

    limit = asyncio.Semaphore(200)

    async def bounded(c):
        async with limit:
            return await again(*c)

    alive = sum(await asyncio.gather(*(bounded(c) for c in conns)))
    print(f"{alive} of {len(conns)} idle connections still served a second request")
    for _, writer in conns:
        writer.close()


asyncio.run(main())
