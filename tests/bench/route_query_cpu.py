#!/usr/bin/env python3
"""CPU per `POST /api/route` by the length and shape of the citizen's query: what one
address's long queries cost everyone else on the thread.

    cargo build --release -p egov-gateway
    tests/bench/route_query_cpu.py [requests_per_round=500] [binary=target/release/egov-gateway]

Starts `egov-gateway demo --calm` on free loopback ports (the routing LLM is off in the demo:
this is the local ranker, the redactor and the injection detector), then, in three
interleaved rounds, sends each query `requests_per_round` times, one connection each, from
changing loopback source addresses (so no per-address limit refuses them), and reads the
gateway process's own CPU time (utime + stime, /proc/<pid>/stat) around each round. Prints
CPU per request and the latency p50/p99 of each kind of query (the median of the rounds),
and each one's CPU as a ratio to the short query's, measured in the same run.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHORT = "pasport dyali sala"
MIXED = (
    "salam, bghit njded la carte nationale dyali 7it sala, w bghit n3ref chno khassni mn "
    "wra9i, je voudrais aussi savoir le délai et le prix, merci beaucoup. "
    "السلام عليكم بغيت نجدد البطاقة الوطنية ديالي حيت سالات وبغيت نعرف شنو خاصني من وراق "
) * 10
QUERIES = {
    "short (18 chars)": SHORT,
    "1,000 chars, Darija/French/Arabic": MIXED[:1000],
    "1,000 chars, `12345 a ` repeated": ("12345 a " * 200)[:1000],
    "1,000 chars, one word": "a" * 1000,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "target/release/egov-gateway")
    ports = [free_port() for _ in range(5)]
    portal, admin = ports[0], ports[1]
    args = [binary, "demo", "--calm",
            "--listen", f"127.0.0.1:{ports[0]}", "--admin-listen", f"127.0.0.1:{ports[1]}",
            "--metrics-listen", f"127.0.0.1:{ports[2]}", "--estate-listen", f"127.0.0.1:{ports[3]}",
            "--idp-listen", f"127.0.0.1:{ports[4]}"]
    gateway = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                c = http.client.HTTPConnection("127.0.0.1", admin, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            sys.exit("the demo did not become ready")
        rounds = {name: [] for name in QUERIES}
        sent = 0
        for _ in range(3):
            for name, query in QUERIES.items():
                body = json.dumps({"query": query})
                before, latencies = cpu_seconds(gateway.pid), []
                for _ in range(n):
                    source = f"127.0.{sent // 200 % 250 + 1}.{sent % 200 + 1}"
                    sent += 1
                    conn = http.client.HTTPConnection("127.0.0.1", portal, timeout=30,
                                                      source_address=(source, 0))
                    started = time.perf_counter()
                    conn.request("POST", "/api/route", body, {
                        "Content-Type": "application/json",
                        "Origin": f"http://127.0.0.1:{portal}",
                    })
                    answer = conn.getresponse()
                    answer.read()
                    latencies.append(time.perf_counter() - started)
                    conn.close()
                    if answer.status != 200:
                        sys.exit(f"{name}: {answer.status}")
                latencies.sort()
                rounds[name].append((
                    (cpu_seconds(gateway.pid) - before) / n * 1000,
                    latencies[len(latencies) // 2] * 1000,
                    latencies[int(len(latencies) * 0.99)] * 1000,
                ))
        median = {name: [sorted(r[i] for r in v)[1] for i in range(3)] for name, v in rounds.items()}
        short_cpu = median["short (18 chars)"][0] or 1e-9
        print(f"{'query':36s} {'CPU/request':>12s} {'ratio':>6s} {'p50':>8s} {'p99':>8s}")
        for name, (cpu, p50, p99) in median.items():
            print(f"{name:36s} {cpu:9.3f} ms {cpu / short_cpu:6.1f} {p50:6.2f} ms {p99:6.2f} ms")
        print(f"({n} requests a query a round, three interleaved rounds, the median round)")
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)


if __name__ == "__main__":
    main()
