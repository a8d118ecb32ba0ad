"""A client that reconnects politely: N connections to HOST:PORT from 127.0.0.1, each read
until the server closes it, then closed. Run after a flood has got 127.0.0.1 penalized, it
shows what each refused connection leaves in the kernel on the server's side
(`ss -Htan state time-wait '( sport = :PORT )' | wc -l`): a server that closes first keeps a
TIME_WAIT entry for a minute, unless it resets the connection.

    python3 tests/bench/reconnect.py HOST PORT N
"""

import socket
import sys

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
closed = 0
for _ in range(n):
    try:
        with socket.create_connection((host, port), source_address=("127.0.0.1", 0)) as s:
            s.settimeout(2)
            while s.recv(4096):
                pass
    except OSError:
        pass
    closed += 1
print(f"connections={n} closed={closed}")
